/*
 * Maildir names, shared by the roles that write and read mailboxes (mda
 * now, imap next): the unique names mda gives new messages, the ":2,"
 * info with the flags, and the Maildir++ folder directories.  Every name
 * read from disk is attacker-influenced (any local program, or a mail
 * client through IMAP, can create one): whatever does not parse cleanly
 * is refused, never half-used.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common.h"

/* the standard flags in ASCII order, bit i for letter i */
static const char maildir_std_flags[] = "DFPRST";
#define MAILDIR_KEYWORD_SHIFT 6

/* no NUL, no '/', no control octet, well-formed UTF-8 above ASCII */
static int
maildir_text_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		if (p[i] == '\0' || p[i] == '/' || p[i] < 0x20 || p[i] == 0x7f)
			return 0;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_seqlen(p + i)) == 0 || n > len - i)
			return 0;
		i += n;
	}
	return 1;
}

int
maildir_name_valid(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= MAILDIR_NAME_MAX && name[0] != '.' &&
	    maildir_text_valid(name, len);
}

/*
 * The host part of a unique name, with / and : encoded as the spec says,
 * cut to fit: as earlier releases made it, so names do not change.
 */
static void
maildir_host(const char *hostname, char *buf, size_t len)
{
	size_t o = 0;

	memset(buf, 0, len);
	for (; *hostname != '\0' && o + 5 < len; hostname++) {
		if (*hostname == '/')
			o += (size_t)snprintf(buf + o, len - o, "\\057");
		else if (*hostname == ':')
			o += (size_t)snprintf(buf + o, len - o, "\\072");
		else
			buf[o++] = *hostname;
	}
	/*
	 * A UTF-8 name cut inside a character loses that character; a
	 * control octet (no configured name has one) ends the name.
	 */
	while (o > 0 && !maildir_text_valid(buf, o))
		o--;
	buf[o] = '\0';
}

int
maildir_unique_prefix(char *buf, size_t len, uint64_t msgid, uint32_t idx)
{
	int n;

	n = snprintf(buf, len, "%llu.Q%016llxR%u.",
	    (unsigned long long)(msgid >> 32), (unsigned long long)msgid, idx);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
maildir_unique_name(char *buf, size_t len, uint64_t msgid, uint32_t idx,
    const char *hostname, uint64_t size)
{
	char prefix[MAILDIR_PREFIX_MAX], host[128];
	int n;

	if (maildir_unique_prefix(prefix, sizeof(prefix), msgid, idx) == -1)
		return -1;
	maildir_host(hostname, host, sizeof(host));
	n = snprintf(
	    buf, len, "%s%s,S=%llu", prefix, host, (unsigned long long)size);
	if (n < 0 || (size_t)n >= len || !maildir_name_valid(buf))
		return -1;
	return 0;
}

int
maildir_name_has_prefix(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0 &&
	    maildir_name_valid(name);
}

/* the bit of one flag letter, 0 if it is none */
static uint32_t
maildir_flag_bit(char c)
{
	const char *p;

	if (c >= 'a' && c <= 'z')
		return 1U << (MAILDIR_KEYWORD_SHIFT + (c - 'a'));
	if (c != '\0' && (p = strchr(maildir_std_flags, c)) != NULL)
		return 1U << (p - maildir_std_flags);
	return 0;
}

int
maildir_name_parse(const char *name, size_t *baselen, uint32_t *flags)
{
	const char *info, *p;
	uint32_t bit, found = 0;

	*flags = 0;
	*baselen = 0;
	if (!maildir_name_valid(name))
		return -1;
	if ((info = strchr(name, ':')) == NULL) {
		*baselen = strlen(name);
		return 0;
	}
	/* only the one info of today's spec, only once, after a base */
	if (info == name || strncmp(info, ":2,", 3) != 0)
		return -1;
	for (p = info + 3; *p != '\0'; p++) {
		if ((bit = maildir_flag_bit(*p)) == 0)
			return -1;
		found |= bit;
	}
	*flags = found;
	*baselen = (size_t)(info - name);
	return 0;
}

int
maildir_flags_build(uint32_t flags, char *buf, size_t len)
{
	size_t o = 0, i;
	char c;

	for (i = 0; i < 32; i++) {
		if (!(flags & (1U << i)))
			continue;
		c = i < MAILDIR_KEYWORD_SHIFT
		    ? maildir_std_flags[i]
		    : (char)('a' + (i - MAILDIR_KEYWORD_SHIFT));
		if (o + 1 >= len)
			return -1;
		buf[o++] = c;
	}
	if (o >= len)
		return -1;
	buf[o] = '\0';
	return 0;
}

int
maildir_name_build(
    char *buf, size_t len, const char *base, size_t baselen, uint32_t flags)
{
	char letters[33];
	int n;

	if (baselen == 0 || baselen > MAILDIR_NAME_MAX || base[0] == '.' ||
	    memchr(base, ':', baselen) != NULL ||
	    !maildir_text_valid(base, baselen))
		return -1;
	if (maildir_flags_build(flags, letters, sizeof(letters)) == -1)
		return -1;
	n = snprintf(buf, len, "%.*s:2,%s", (int)baselen, base, letters);
	if (n < 0 || (size_t)n >= len || !maildir_name_valid(buf))
		return -1;
	return 0;
}

/* a folder name: components between dots, none empty, no '/' */
static int
maildir_folder_valid(const char *folder)
{
	size_t len = strlen(folder);

	if (len == 0 || len >= MAILDIR_NAME_MAX || folder[0] == '.' ||
	    folder[len - 1] == '.' || strstr(folder, "..") != NULL)
		return 0;
	return maildir_text_valid(folder, len);
}

int
maildir_folder_dir(const char *folder, char *dir, size_t len)
{
	int n;

	if (strcasecmp(folder, MAILDIR_INBOX) == 0)
		n = snprintf(dir, len, ".");
	else if (!maildir_folder_valid(folder))
		return -1;
	else
		n = snprintf(dir, len, ".%s", folder);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
maildir_dir_folder(const char *dir, char *folder, size_t len)
{
	int n;

	if (strcmp(dir, ".") == 0)
		n = snprintf(folder, len, "%s", MAILDIR_INBOX);
	else if (dir[0] != '.' || !maildir_folder_valid(dir + 1) ||
	    strcasecmp(dir + 1, MAILDIR_INBOX) == 0)
		/* ".INBOX" would be a second INBOX */
		return -1;
	else
		n = snprintf(folder, len, "%s", dir + 1);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}
