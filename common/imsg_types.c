/*
 * The names of the imsg types, for log lines, from the list that makes
 * the enum (imsg_types.h).
 */

#include <stdio.h>

#include "common.h"

/* a type in the wrong group would get a number of the other's range */
#define IMSG_CHECK(name)                                  \
	_Static_assert(IMSG_##name >= IMSG_INTERNAL_BASE, \
	    "IMSG_" #name " is boxd's own: list it before the CTL types");
#define IMSG_CHECK_CTL(name, n)                                     \
	_Static_assert((n) > IMSG_NONE && (n) < IMSG_INTERNAL_BASE, \
	    "IMSG_" #name ": boxctl's types are numbered below 0x100");
IMSG_TYPES(IMSG_CHECK, IMSG_CHECK_CTL)

/* a number given twice is a duplicate case: the build stops there */
#define IMSG_CASE(name)   \
	case IMSG_##name: \
		return #name;
#define IMSG_CASE_CTL(name, n) IMSG_CASE(name)

static const char *
imsg_type_lookup(uint32_t type)
{
	switch (type) {
		IMSG_TYPES(IMSG_CASE, IMSG_CASE_CTL)
	}
	return NULL;
}

const char *
imsg_type_name(uint32_t type)
{
	/* a few, so that one log line may name two unknown types */
	static char unknown[4][sizeof("unknown(4294967295)")];
	static unsigned int next;
	const char *name;
	char *buf;

	if ((name = imsg_type_lookup(type)) != NULL)
		return name;
	buf = unknown[next++ % 4];
	snprintf(buf, sizeof(unknown[0]), "unknown(%u)", type);
	return buf;
}

int
imsg_type_known(uint32_t type)
{
	return imsg_type_lookup(type) != NULL;
}
