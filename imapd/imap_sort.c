/*
 * SORT (RFC 5256, with DISPLAYFROM and DISPLAYTO of RFC 5957): every
 * message's keys are read once through the accessor and folded, then the
 * messages sorted on them; and RFC 5256's base subject, which THREAD uses
 * too.  Strings compare as folded UTF-8 octets (search_fold()), a superset
 * of i;ascii-casemap.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

union sort_value {
	int64_t num;
	uint64_t unum;
	char *str;
};

struct sort_entry {
	uint32_t seq, id;
	union sort_value *keys; /* one per criterion */
};

static const struct {
	const char *name;
	enum sort_key key;
} sort_keys[] = {
    {"ARRIVAL", SORT_ARRIVAL},
    {"CC", SORT_CC},
    {"DATE", SORT_DATE},
    {"FROM", SORT_FROM},
    {"SIZE", SORT_SIZE},
    {"SUBJECT", SORT_SUBJECT},
    {"TO", SORT_TO},
    {"DISPLAYFROM", SORT_DISPLAYFROM},
    {"DISPLAYTO", SORT_DISPLAYTO},
};

/* ---------------------------------------------------------------- base subject
 */

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* subj-blob: "[" *BLOBCHAR "]" *WSP at s; its length, or 0 */
static size_t
blob_len(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || s[0] != '[')
		return 0;
	for (i = 1; i < len && s[i] != ']'; i++)
		if (s[i] == '[')
			return 0;
	if (i == len)
		return 0;
	for (i++; i < len && is_wsp(s[i]); i++)
		;
	return i;
}

/* subj-refwd: ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"; length or 0 */
static size_t
refwd_len(const char *s, size_t len)
{
	size_t i;

	if (len >= 2 && strncasecmp(s, "re", 2) == 0)
		i = 2;
	else if (len >= 3 && strncasecmp(s, "fwd", 3) == 0)
		i = 3;
	else if (len >= 2 && strncasecmp(s, "fw", 2) == 0)
		i = 2;
	else
		return 0;
	while (i < len && is_wsp(s[i]))
		i++;
	i += blob_len(s + i, len - i);
	if (i < len && s[i] == ':')
		return i + 1;
	return 0;
}

/* subj-leader: (*subj-blob subj-refwd) / WSP; length or 0 */
static size_t
leader_len(const char *s, size_t len)
{
	size_t i = 0, b, r;

	if (len > 0 && is_wsp(s[0]))
		return 1;
	for (;;) {
		if ((r = refwd_len(s + i, len - i)) > 0)
			return i + r;
		if ((b = blob_len(s + i, len - i)) == 0)
			return 0;
		i += b;
	}
}

static int
has_nonwsp(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!is_wsp(s[i]))
			return 1;
	return 0;
}

char *
sort_base_subject(const char *subject, size_t len, int *reply)
{
	char *buf, *s, *out;
	size_t i, n = 0, skip;
	int changed;

	*reply = 0;
	if ((buf = malloc(len + 1)) == NULL)
		return NULL;
	/* (1) white space of every kind to one space */
	for (i = 0; i < len; i++) {
		char c = subject[i];

		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && n > 0 && buf[n - 1] == ' ')
			continue;
		buf[n++] = c;
	}
	s = buf;
	for (;;) {
		/* (2) trailers: "(fwd)" and white space */
		for (;;) {
			if (n > 0 && is_wsp(s[n - 1]))
				n--;
			else if (n >= 5 &&
			    strncasecmp(s + n - 5, "(fwd)", 5) == 0) {
				n -= 5;
				*reply = 1;
			} else
				break;
		}
		/* (3) to (5): leaders and blobs */
		do {
			changed = 0;
			while ((skip = leader_len(s, n)) > 0) {
				if (!is_wsp(s[0]))
					*reply = 1;
				s += skip;
				n -= skip;
				changed = 1;
			}
			skip = blob_len(s, n);
			if (skip > 0 && has_nonwsp(s + skip, n - skip)) {
				s += skip;
				n -= skip;
				changed = 1;
			}
		} while (changed);
		/* (6) "[fwd: ... ]" */
		if (n >= 6 && strncasecmp(s, "[fwd:", 5) == 0 &&
		    s[n - 1] == ']') {
			s += 5;
			n -= 6;
			*reply = 1;
			continue;
		}
		break;
	}
	if ((out = malloc(n + 1)) == NULL) {
		free(buf);
		return NULL;
	}
	n = search_fold(s, n, out);
	out[n] = '\0';
	free(buf);
	return out;
}

/* ---------------------------------------------------------------- keys */

struct first_value {
	char *str;
	int failed;
};

static int
first_value_cb(void *arg, const char *text, size_t len)
{
	struct first_value *v = arg;

	if ((v->str = malloc(len + 1)) == NULL) {
		v->failed = 1;
		return 1;
	}
	memcpy(v->str, text, len);
	v->str[len] = '\0';
	return 1;
}

/* the first value of a header, or "" when none; NULL out of memory */
static char *
first_header(const struct search_msg_ops *ops, void *msg, const char *name)
{
	struct first_value v = {NULL, 0};

	if (ops->header(msg, name, first_value_cb, &v) == -1 || v.failed) {
		free(v.str);
		v.str = NULL;
		if (v.failed)
			return NULL;
	}
	if (v.str == NULL)
		return strdup("");
	return v.str;
}

static char *
folded(const char *s, size_t len)
{
	char *out;

	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	len = search_fold(s, len, out);
	out[len] = '\0';
	return out;
}

static char *
address_key(
    const struct search_msg_ops *ops, void *msg, const char *field, int display)
{
	struct search_address a;
	char *spec, *out;

	if (ops->address(msg, field, &a) != 0)
		return strdup("");
	if (!display)
		return folded(a.mailbox, strlen(a.mailbox));
	if (a.name[0] != '\0')
		return folded(a.name, strlen(a.name));
	if (a.host[0] == '\0')
		return folded(a.mailbox, strlen(a.mailbox));
	if (asprintf(&spec, "%s@%s", a.mailbox, a.host) == -1)
		return NULL;
	out = folded(spec, strlen(spec));
	free(spec);
	return out;
}

static int64_t
sent_date(const struct search_msg_ops *ops, void *msg)
{
	int64_t when;
	int tzoff;

	if (ops->sent_date(msg, &when, &tzoff) == 0)
		return when;
	return ops->internal_date(msg, &tzoff);
}

static int
sort_key_get(enum sort_key key, const struct search_msg_ops *ops, void *msg,
    union sort_value *v)
{
	char *subject;
	int tzoff, reply;

	switch (key) {
	case SORT_ARRIVAL:
		v->num = ops->internal_date(msg, &tzoff);
		return 0;
	case SORT_DATE:
		v->num = sent_date(ops, msg);
		return 0;
	case SORT_SIZE:
		v->unum = ops->size(msg);
		return 0;
	case SORT_SUBJECT:
		if ((subject = first_header(ops, msg, "Subject")) == NULL)
			return -1;
		v->str = sort_base_subject(subject, strlen(subject), &reply);
		free(subject);
		break;
	case SORT_CC:
		v->str = address_key(ops, msg, "Cc", 0);
		break;
	case SORT_FROM:
		v->str = address_key(ops, msg, "From", 0);
		break;
	case SORT_TO:
		v->str = address_key(ops, msg, "To", 0);
		break;
	case SORT_DISPLAYFROM:
		v->str = address_key(ops, msg, "From", 1);
		break;
	case SORT_DISPLAYTO:
		v->str = address_key(ops, msg, "To", 1);
		break;
	}
	return v->str == NULL ? -1 : 0;
}

static int
key_is_string(enum sort_key key)
{
	return key != SORT_ARRIVAL && key != SORT_DATE && key != SORT_SIZE;
}

/* ---------------------------------------------------------------- sorting */

/*
 * Folded keys in the order of i;ascii-casemap (RFC 4790 9.2), which maps
 * a-z to A-Z: "[x]" and "_" sort after the letters, not before.
 */
static int
casemap_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;
	unsigned int cx, cy;

	for (;; x++, y++) {
		cx = *x >= 'a' && *x <= 'z' ? *x - 'a' + 'A' : *x;
		cy = *y >= 'a' && *y <= 'z' ? *y - 'a' + 'A' : *y;
		if (cx != cy)
			return cx < cy ? -1 : 1;
		if (cx == '\0')
			return 0;
	}
}

static int
entry_cmp(const void *a, const void *b, void *arg)
{
	const struct sort_program *prog = arg;
	const struct sort_entry *x = a, *y = b;
	size_t i;
	int c;

	for (i = 0; i < prog->n; i++) {
		switch (prog->crit[i].key) {
		case SORT_ARRIVAL:
		case SORT_DATE:
			c = (x->keys[i].num > y->keys[i].num) -
			    (x->keys[i].num < y->keys[i].num);
			break;
		case SORT_SIZE:
			c = (x->keys[i].unum > y->keys[i].unum) -
			    (x->keys[i].unum < y->keys[i].unum);
			break;
		default:
			c = casemap_cmp(x->keys[i].str, y->keys[i].str);
			break;
		}
		if (c != 0)
			return prog->crit[i].reverse ? -c : c;
	}
	/* ties by sequence number, REVERSE or not */
	return (x->seq > y->seq) - (x->seq < y->seq);
}

int
sort_parse(struct sort_program *prog, const struct imap_arg *list, char *err,
    size_t errsz)
{
	size_t i, j;
	int reverse = 0;

	memset(prog, 0, sizeof(*prog));
	if (list->type != IMAP_ARG_LIST || list->nlist == 0) {
		(void)strlcpy(err, "SORT wants a list of criteria", errsz);
		return -1;
	}
	for (i = 0; i < list->nlist; i++) {
		if (imap_arg_is_atom(&list->list[i], "REVERSE")) {
			if (reverse) {
				(void)strlcpy(err, "REVERSE twice", errsz);
				return -1;
			}
			reverse = 1;
			continue;
		}
		for (j = 0; j < NITEMS(sort_keys); j++)
			if (imap_arg_is_atom(&list->list[i], sort_keys[j].name))
				break;
		if (j == NITEMS(sort_keys)) {
			(void)strlcpy(err, "unknown sort criterion", errsz);
			return -1;
		}
		if (prog->n == SORT_CRITERIA_MAX) {
			(void)strlcpy(err, "too many sort criteria", errsz);
			return -1;
		}
		prog->crit[prog->n].key = sort_keys[j].key;
		prog->crit[prog->n].reverse = reverse;
		prog->n++;
		reverse = 0;
	}
	if (reverse) {
		(void)strlcpy(err, "REVERSE without a criterion", errsz);
		return -1;
	}
	return 0;
}

int
sort_run(const struct sort_program *prog, const struct search_msg_ops *ops,
    void *const *msgs, size_t n, int uid, uint32_t *ids)
{
	struct sort_entry *entries;
	union sort_value *keys;
	size_t i, j, k = prog->n, done = 0;
	int rv = -1;

	if (n == 0)
		return 0;
	if ((entries = reallocarray(NULL, n, sizeof(*entries))) == NULL)
		return -1;
	if (k > 0 && n > SIZE_MAX / k) {
		free(entries);
		return -1;
	}
	if ((keys = calloc(n * k + 1, sizeof(*keys))) == NULL) {
		free(entries);
		return -1;
	}
	for (i = 0; i < n; i++, done++) {
		entries[i].seq = ops->seq(msgs[i]);
		entries[i].id = uid ? ops->uid(msgs[i]) : entries[i].seq;
		entries[i].keys = keys + i * k;
		for (j = 0; j < k; j++)
			if (sort_key_get(prog->crit[j].key, ops, msgs[i],
				&entries[i].keys[j]) == -1)
				goto out;
	}
	qsort_r(entries, n, sizeof(*entries), entry_cmp, (void *)prog);
	for (i = 0; i < n; i++)
		ids[i] = entries[i].id;
	rv = 0;
out:
	/* a failed entry's string keys are NULL past the failure: calloc */
	for (i = 0; i <= done && i < n; i++)
		for (j = 0; j < k; j++)
			if (key_is_string(prog->crit[j].key))
				free(keys[i * k + j].str);
	free(keys);
	free(entries);
	return rv;
}
