/*
 * Sequence sets (RFC 3501 9 sequence-set, RFC 5182 "$"): parsed into
 * ranges, resolved against a mailbox into sorted disjoint ones, and the
 * compact form written back for COPYUID and ESEARCH.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "imapd.h"

/* seq-number at *sp: nz-number or '*' (UINT32_MAX) */
static int
parse_number(const char **sp, uint32_t *out)
{
	const char *s = *sp;
	uint64_t n = 0;

	if (*s == '*') {
		*out = UINT32_MAX;
		*sp = s + 1;
		return 0;
	}
	if (*s < '1' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		n = n * 10 + (*s - '0');
		if (n > UINT32_MAX)
			return -1;
	}
	/*
	 * UINT32_MAX stands for '*'; no message has that UID (UIDNEXT
	 * stops there) nor that sequence number, so 4294967295 is taken
	 * as the one below it and means what it says, not '*'.
	 */
	*out = n == UINT32_MAX ? UINT32_MAX - 1 : n;
	*sp = s;
	return 0;
}

int
imap_seqset_parse(const char *s, struct imap_seqset *set, size_t max)
{
	const char *p;
	size_t n = 1, i;

	memset(set, 0, sizeof(*set));
	if (strcmp(s, "$") == 0) {
		set->dollar = 1;
		return 0;
	}
	for (p = s; *p != '\0'; p++)
		if (*p == ',' && ++n > max)
			return -1;
	if (n > max)
		return -1;
	if ((set->r = reallocarray(NULL, n, sizeof(*set->r))) == NULL)
		return -1;
	for (p = s, i = 0; i < n; i++) {
		if (parse_number(&p, &set->r[i].lo) == -1)
			goto bad;
		set->r[i].hi = set->r[i].lo;
		if (*p == ':') {
			p++;
			if (parse_number(&p, &set->r[i].hi) == -1)
				goto bad;
		}
		if (*p != (i + 1 == n ? '\0' : ','))
			goto bad;
		p++;
	}
	set->n = n;
	return 0;

bad:
	imap_seqset_free(set);
	return -1;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct imap_range *ra = a, *rb = b;

	if (ra->lo != rb->lo)
		return ra->lo < rb->lo ? -1 : 1;
	return 0;
}

void
imap_seqset_resolve(struct imap_seqset *set, uint32_t star)
{
	struct imap_range *r;
	size_t i, out;
	uint32_t t;

	for (i = 0; i < set->n; i++) {
		r = &set->r[i];
		if (r->lo == UINT32_MAX)
			r->lo = star;
		if (r->hi == UINT32_MAX)
			r->hi = star;
		if (r->lo > r->hi) {
			t = r->lo;
			r->lo = r->hi;
			r->hi = t;
		}
	}
	if (set->n < 2)
		return;
	qsort(set->r, set->n, sizeof(*set->r), range_cmp);
	for (out = 0, i = 1; i < set->n; i++) {
		/* overlapping or adjacent: one range */
		if (set->r[i].lo <= set->r[out].hi ||
		    set->r[i].lo - set->r[out].hi == 1) {
			if (set->r[i].hi > set->r[out].hi)
				set->r[out].hi = set->r[i].hi;
		} else
			set->r[++out] = set->r[i];
	}
	set->n = out + 1;
}

int
imap_seqset_contains(const struct imap_seqset *set, uint32_t v)
{
	size_t lo = 0, hi = set->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v < set->r[mid].lo)
			hi = mid;
		else if (v > set->r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

void
imap_seqset_free(struct imap_seqset *set)
{
	free(set->r);
	set->r = NULL;
	set->n = 0;
}

int
imap_seqset_write(struct evbuffer *out, const uint32_t *v, size_t n)
{
	size_t i = 0, j;
	int rv;

	while (i < n) {
		/* a run of consecutive numbers, duplicates included */
		for (j = i;
		     j + 1 < n && (v[j + 1] == v[j] || v[j + 1] - v[j] == 1);
		     j++)
			;
		if (v[i] == v[j])
			rv = evbuffer_add_printf(
			    out, "%s%u", i ? "," : "", v[i]);
		else
			rv = evbuffer_add_printf(
			    out, "%s%u:%u", i ? "," : "", v[i], v[j]);
		if (rv == -1)
			return -1;
		i = j + 1;
	}
	return 0;
}
