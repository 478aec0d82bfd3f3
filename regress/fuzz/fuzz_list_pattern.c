/*
 * imapd/folder.c's LIST matcher and folder names on arbitrary octets:
 * input "PATTERN\0NAME".  The bit-parallel matcher must agree with a
 * plain backtracking one (run only where that one is cheap), and a name
 * that maps to a directory maps back to itself.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* the obvious matcher: '*' anything, '%' anything but the separator */
static int
slow_match(const char *p, const char *n)
{
	if (*p == '\0')
		return *n == '\0';
	if (*p == '*' || *p == '%') {
		for (;;) {
			if (slow_match(p + 1, n))
				return 1;
			if (*n == '\0' || (*p == '%' && *n == FOLDER_SEP))
				return 0;
			n++;
		}
	}
	return *p == *n && slow_match(p + 1, n + 1);
}

static void
check_match(const char *pattern, const char *name)
{
	char canon[64];
	size_t i, wild = 0;
	int rv;

	rv = folder_pattern_matches("", pattern, name);
	if (rv == -1)
		return;
	for (i = 0; pattern[i] != '\0'; i++)
		if (pattern[i] == '*' || pattern[i] == '%')
			wild++;
	/* backtracking is exponential in the wildcards: only small ones */
	if (wild > 6 || strlen(pattern) >= sizeof(canon) || strlen(name) > 40)
		return;
	strlcpy(canon, pattern, sizeof(canon));
	if (strncasecmp(canon, "INBOX", 5) == 0 &&
	    (canon[5] == '\0' || canon[5] == FOLDER_SEP))
		memcpy(canon, "INBOX", 5);
	if (rv != slow_match(canon, name))
		abort();
}

static void
check_name(const char *s)
{
	char dir[MAILDIR_NAME_MAX + 2], back[FOLDER_NAME_MAX + 1];
	const char *why;

	if (folder_dir(s, dir, sizeof(dir)) == -1)
		return;
	if (folder_name_check(s, &why) != FOLDER_OK || dir[0] != '.' ||
	    strchr(dir, '/') != NULL || strlen(dir) > MAILDIR_NAME_MAX)
		abort();
	if (strcmp(dir, ".") != 0 && strncmp(dir, "..", 2) == 0)
		abort();
	if (folder_dir_name(dir, back, sizeof(back)) == -1) {
		/* "inbox.x" maps to ".INBOX.x"; anything else maps back */
		abort();
	}
	if (strncasecmp(s, "INBOX", 5) == 0 && (s[5] == '\0' || s[5] == '.')) {
		if (strncmp(back, "INBOX", 5) != 0 || strcmp(back + 5, s + 5))
			abort();
	} else if (strcmp(back, s) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *name;

	if (size > 4096 || (buf = malloc(size + 2)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = '\0';
	name = buf + strlen(buf) + (strlen(buf) < size ? 1 : 0);
	if (name > buf + size)
		name = buf + size;
	check_match(buf, name);
	check_name(buf);
	check_name(name);
	free(buf);
	return 0;
}
