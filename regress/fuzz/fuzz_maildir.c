/*
 * common/maildir.c's parsers on arbitrary octets: Maildir file names with
 * their ":2," flags, folder names and folder directories, and hosts in a
 * unique name.  Nothing may read out of bounds; what parses builds back
 * to a name that parses to the same, in canonical (sorted) form; what
 * a folder maps to maps back to it.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_name(const char *s)
{
	char built[MAILDIR_NAME_MAX + 1], again[MAILDIR_NAME_MAX + 1];
	size_t baselen, baselen2;
	uint32_t flags, flags2;

	if (maildir_name_parse(s, &baselen, &flags) == -1) {
		if (maildir_name_valid(s) && strchr(s, ':') == NULL)
			abort(); /* a valid name without info always parses */
		return;
	}
	if (!maildir_name_valid(s) || baselen == 0 || baselen > strlen(s) ||
	    memchr(s, ':', baselen) != NULL)
		abort();
	if (maildir_name_build(built, sizeof(built), s, baselen, flags) == -1)
		return; /* the sorted info may not fit 255 octets */
	if (maildir_name_parse(built, &baselen2, &flags2) == -1 ||
	    baselen2 != baselen || flags2 != flags ||
	    memcmp(built, s, baselen) != 0)
		abort();
	/* canonical: building again changes nothing */
	if (maildir_name_build(again, sizeof(again), built, baselen2,
		flags2) == -1 ||
	    strcmp(again, built) != 0)
		abort();
}

static void
check_folder(const char *s)
{
	char dir[MAILDIR_NAME_MAX + 1], folder[MAILDIR_NAME_MAX + 1];
	char dir2[MAILDIR_NAME_MAX + 1];

	if (maildir_folder_dir(s, dir, sizeof(dir)) == 0) {
		if (dir[0] != '.' || strchr(dir, '/') != NULL ||
		    strstr(dir, "..") != NULL)
			abort();
		if (maildir_dir_folder(dir, folder, sizeof(folder)) == -1)
			abort();
		if (strcmp(dir, ".") == 0 ? strcmp(folder, "INBOX") != 0
					  : strcmp(folder, s) != 0)
			abort();
	}
	if (maildir_dir_folder(s, folder, sizeof(folder)) == 0) {
		if (maildir_folder_dir(folder, dir2, sizeof(dir2)) == -1 ||
		    strcmp(dir2, s) != 0)
			abort();
	}
}

static void
check_unique(const char *host, size_t len)
{
	char name[MAILDIR_NAME_MAX + 1], prefix[MAILDIR_PREFIX_MAX];
	size_t baselen;
	uint32_t flags;

	if (maildir_unique_name(name, sizeof(name), 0x65a1b2c3deadbeefULL,
		(uint32_t)len, host, len) == -1)
		return;
	if (maildir_name_parse(name, &baselen, &flags) == -1 || flags != 0 ||
	    baselen != strlen(name))
		abort();
	/* whatever the host, a retry finds the name by its prefix */
	if (maildir_unique_prefix(prefix, sizeof(prefix),
		0x65a1b2c3deadbeefULL, (uint32_t)len) == -1 ||
	    !maildir_name_has_prefix(name, prefix))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, letters[40];
	uint32_t flags = 0;
	size_t i;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	check_name(s);
	check_folder(s);
	check_unique(s, size);
	for (i = 0; i < size && i < 4; i++)
		flags = flags << 8 | data[i];
	if (maildir_flags_build(flags, letters, sizeof(letters)) == -1 ||
	    strlen(letters) != (size_t)__builtin_popcount(flags))
		abort();
	free(s);
	return 0;
}
