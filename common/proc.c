/*
 * The process roles: names, users, and which of them talk to each other.
 */

#include <string.h>

#include "common.h"

static const struct {
	const char *name;
	const char *user;
} procs[PROC_COUNT] = {
    [PROC_PARENT] = {"parent", "root"},
    [PROC_CONTROL] = {"control", "_boxd"},
    [PROC_SMTP] = {"smtp", "_boxsmtp"},
    [PROC_AUTH] = {"auth", "_boxauth"},
    [PROC_QUEUE] = {"queue", "_boxqueue"},
    [PROC_MDA] = {"mda", "_boxmail"},
    [PROC_MTA] = {"mta", "_boxsmtp"},
    [PROC_SIGNER] = {"signer", "_boxsign"},
    [PROC_IMAP] = {"imap", "_boxmail"},
};

/* the channels between children; every child also talks to the parent */
static const enum proc_type links[][2] = {
    {PROC_CONTROL, PROC_SMTP},
    {PROC_CONTROL, PROC_AUTH},
    {PROC_CONTROL, PROC_QUEUE},
    {PROC_SMTP, PROC_AUTH},
    {PROC_SMTP, PROC_QUEUE},
    {PROC_SMTP, PROC_SIGNER},
    {PROC_QUEUE, PROC_MDA},
    {PROC_QUEUE, PROC_MTA},
    {PROC_MTA, PROC_SIGNER},
    {PROC_IMAP, PROC_AUTH},
};

const char *
proc_name(enum proc_type p)
{
	if ((int)p < 0 || p >= PROC_COUNT)
		return "unknown";
	return procs[p].name;
}

int
proc_from_name(const char *name)
{
	int i;

	for (i = 0; i < PROC_COUNT; i++)
		if (strcmp(procs[i].name, name) == 0)
			return i;
	return -1;
}

const char *
proc_user(enum proc_type p)
{
	return procs[p].user;
}

int
proc_linked(enum proc_type a, enum proc_type b)
{
	size_t i;

	if (a == b)
		return 0;
	if (a == PROC_PARENT || b == PROC_PARENT)
		return 1;
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if ((links[i][0] == a && links[i][1] == b) ||
		    (links[i][0] == b && links[i][1] == a))
			return 1;
	return 0;
}
