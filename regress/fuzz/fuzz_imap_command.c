/*
 * The IMAP command parser on arbitrary octets, and what it hands on: the
 * literal framing of every line, the tree of arguments (checked, written
 * back with imap_write_string() and parsed again to the same tree),
 * sequence sets against a plain model, and modified UTF-7 both ways.
 * Inputs are copied to buffers of exactly their size, so a read past the
 * end is an ASan report.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "imapd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* every argument well formed; returns how many there are, lists included */
static size_t
check_args(const struct imap_arg *a, size_t n, int depth)
{
	size_t i, total = n;

	if (depth > IMAP_DEPTH_MAX)
		abort();
	for (i = 0; i < n; i++) {
		switch (a[i].type) {
		case IMAP_ARG_ATOM:
		case IMAP_ARG_STRING:
			if (a[i].str == NULL || a[i].str[a[i].len] != '\0' ||
			    a[i].list != NULL || a[i].nlist != 0)
				abort();
			if (a[i].type == IMAP_ARG_ATOM &&
			    (a[i].len == 0 || a[i].literal != 0 ||
			    strlen(a[i].str) != a[i].len))
				abort();
			if (a[i].literal != 2 &&
			    memchr(a[i].str, '\0', a[i].len) != NULL)
				abort();
			break;
		case IMAP_ARG_LIST:
			if (a[i].str != NULL || (a[i].nlist > 0 &&
			    a[i].list == NULL))
				abort();
			total += check_args(a[i].list, a[i].nlist, depth + 1);
			break;
		default:
			abort();
		}
	}
	return total;
}

static void
write_args(struct evbuffer *b, const struct imap_arg *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			evbuffer_add(b, " ", 1);
		if (a[i].type == IMAP_ARG_LIST) {
			evbuffer_add(b, "(", 1);
			write_args(b, a[i].list, a[i].nlist);
			evbuffer_add(b, ")", 1);
		} else if (a[i].type == IMAP_ARG_ATOM)
			evbuffer_add(b, a[i].str, a[i].len);
		else if (a[i].literal == 2) {
			evbuffer_add_printf(b, "~{%zu}\r\n", a[i].len);
			evbuffer_add(b, a[i].str, a[i].len);
		} else
			imap_write_string(b, a[i].str, a[i].len, 1);
	}
}

static int
same_args(const struct imap_arg *a, const struct imap_arg *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (a[i].type != b[i].type)
			return 0;
		if (a[i].type == IMAP_ARG_LIST) {
			if (a[i].nlist != b[i].nlist ||
			    !same_args(a[i].list, b[i].list, a[i].nlist))
				return 0;
		} else if (a[i].len != b[i].len ||
		    memcmp(a[i].str, b[i].str, a[i].len) != 0 ||
		    (a[i].literal == 2) != (b[i].literal == 2))
			return 0;
	}
	return 1;
}

static void
reparse(const struct imap_command *cmd)
{
	struct imap_command again;
	struct evbuffer *b;
	char err[64], *buf;
	size_t len;

	if ((b = evbuffer_new()) == NULL)
		abort();
	evbuffer_add_printf(b, "%s %s%s%s", cmd->tag, cmd->uid ? "UID " : "",
	    cmd->name, cmd->nargs > 0 ? " " : "");
	write_args(b, cmd->args, cmd->nargs);
	len = evbuffer_get_length(b);
	if ((buf = malloc(len)) == NULL)
		abort();
	evbuffer_remove(b, buf, len);
	evbuffer_free(b);
	memset(&again, 0, sizeof(again));
	if (imap_command_parse(&again, buf, len, err, sizeof(err)) == -1) {
		/* quoting and literal headers may push it past the limit */
		if (strcmp(err, "command too long") != 0)
			abort();
	} else if (strcmp(again.tag, cmd->tag) != 0 ||
	    strcmp(again.name, cmd->name) != 0 || again.uid != cmd->uid ||
	    again.nargs != cmd->nargs ||
	    !same_args(cmd->args, again.args, cmd->nargs))
		abort();
	imap_command_free(&again);
	free(buf);
}

static void
fuzz_command(const uint8_t *data, size_t size)
{
	struct imap_command cmd;
	char err[64], *buf;
	size_t i, start;
	uint64_t lsize;
	int nonsync, binary;

	if ((buf = malloc(size == 0 ? 1 : size)) == NULL)
		abort();
	if (size > 0)
		memcpy(buf, data, size);
	/* the framing of every line, as the session would ask */
	for (start = 0, i = 0; i + 1 < size; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n') {
			if (imap_line_literal(buf + start, i - start, &lsize,
			    &nonsync, &binary) == 1 && lsize > INT64_MAX)
				abort();
			start = i + 2;
		}
	imap_line_literal(buf, size, &lsize, &nonsync, &binary);

	memset(&cmd, 0, sizeof(cmd));
	if (imap_command_parse(&cmd, buf, size, err, sizeof(err)) == 0) {
		if (cmd.name[0] == '\0' || cmd.tag[0] == '\0' ||
		    strcmp(cmd.tag, "*") == 0 ||
		    check_args(cmd.args, cmd.nargs, 0) > IMAP_ARGS_MAX)
			abort();
		reparse(&cmd);
	} else if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
		abort();
	imap_command_free(&cmd);
	free(buf);
}

/* is v in the parsed (unresolved) ranges, '*' read as star? */
static int
model_contains(const struct imap_range *r, size_t n, uint32_t star,
    uint32_t v)
{
	uint32_t lo, hi, t;
	size_t i;

	for (i = 0; i < n; i++) {
		lo = r[i].lo == UINT32_MAX ? star : r[i].lo;
		hi = r[i].hi == UINT32_MAX ? star : r[i].hi;
		if (lo > hi) {
			t = lo;
			lo = hi;
			hi = t;
		}
		if (v >= lo && v <= hi)
			return 1;
	}
	return 0;
}

static void
fuzz_seqset(const char *s, uint32_t star)
{
	struct imap_seqset set, back;
	struct imap_range *copy;
	struct evbuffer *b;
	uint32_t v, members[200];
	size_t n = 0, i, len;
	char *text;

	if (imap_seqset_parse(s, &set, 64) == -1) {
		if (set.r != NULL || set.n != 0)
			abort();
		return;
	}
	if (set.dollar) {
		if (set.n != 0 || strcmp(s, "$") != 0)
			abort();
		return;
	}
	if (set.n == 0 || set.n > 64 ||
	    (copy = reallocarray(NULL, set.n, sizeof(*copy))) == NULL)
		abort();
	memcpy(copy, set.r, set.n * sizeof(*copy));
	n = set.n;
	imap_seqset_resolve(&set, star);
	for (i = 1; i < set.n; i++)
		if (set.r[i].lo <= set.r[i - 1].hi ||
		    set.r[i].lo - set.r[i - 1].hi < 2)
			abort();
	for (v = 0; v < 200; v++)
		if (imap_seqset_contains(&set, v) !=
		    model_contains(copy, n, star, v))
			abort();
	for (i = 0; i < n; i++) {
		v = copy[i].lo == UINT32_MAX ? star : copy[i].lo;
		if (!imap_seqset_contains(&set, v))
			abort();
	}
	free(copy);

	/* what it holds below 200, written compactly and read back */
	for (n = 0, v = 1; v < 200; v++)
		if (imap_seqset_contains(&set, v))
			members[n++] = v;
	imap_seqset_free(&set);
	if (n == 0)
		return;
	if ((b = evbuffer_new()) == NULL || imap_seqset_write(b, members, n))
		abort();
	len = evbuffer_get_length(b);
	if ((text = malloc(len + 1)) == NULL)
		abort();
	evbuffer_remove(b, text, len);
	text[len] = '\0';
	evbuffer_free(b);
	if (imap_seqset_parse(text, &back, n) == -1)
		abort();
	imap_seqset_resolve(&back, 0);
	for (i = 0, v = 1; v < 200; v++)
		if (imap_seqset_contains(&back, v) !=
		    (i < n && members[i] == v ? (i++, 1) : 0))
			abort();
	imap_seqset_free(&back);
	free(text);
}

static void
fuzz_utf7(const char *s)
{
	char a[512], b[512];

	if (imap_utf7_to_utf8(s, a, sizeof(a)) == 0) {
		/* one spelling only: encoding it again gives the input */
		if (imap_utf8_to_utf7(a, b, sizeof(b)) == -1 ||
		    strcmp(b, s) != 0)
			abort();
	}
	if (imap_utf8_to_utf7(s, a, sizeof(a)) == 0) {
		if (imap_utf7_to_utf8(a, b, sizeof(b)) == -1 ||
		    strcmp(b, s) != 0)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	uint32_t star = 0;

	fuzz_command(data, size);
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (size > 0)
		star = data[0] % 64;
	fuzz_seqset(size > 0 ? s + 1 : s, star);
	if (size <= 300)
		fuzz_utf7(s);
	free(s);
	return 0;
}
