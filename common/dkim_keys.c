/*
 * The names of DKIM keys: the selectors boxd makes, and the key files
 * under STORAGE/dkim.  The parent names what it creates, the signer
 * tells which pair signs, boxctl dns lists them: one set of rules here.
 */

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common.h"

/* "b" YYYYMMDD, the algorithm's letter, a sequence of two digits or none */
#define SELECTOR_DATE_LEN 8

int
dkim_selector_valid(const char *s)
{
	size_t i;

	if (s[0] == '\0' || s[0] == '-')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= DKIM_SELECTOR_MAX - 1)
			return 0;
		if (!isascii((unsigned char)s[i]) ||
		    (!isalnum((unsigned char)s[i]) && s[i] != '-'))
			return 0;
	}
	return s[i - 1] != '-';
}

static int
date_valid(uint32_t date)
{
	uint32_t y = date / 10000, m = date / 100 % 100, d = date % 100;
	static const uint8_t days[12] = {
	    31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	/* February 29th in any year: the name need not be a calendar */
	return y >= 2000 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 &&
	    d <= days[m - 1];
}

static int
digits(const char *s, size_t n, uint32_t *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (uint32_t)(s[i] - '0');
	}
	return 0;
}

int
dkim_selector_parse(const char *s, struct dkim_pair *pair, enum dkim_alg *alg)
{
	size_t len = strnlen(s, DKIM_SELECTOR_MAX);
	uint32_t date, seq = 1;
	const char *letter = s + 1 + SELECTOR_DATE_LEN;

	if ((len != 10 && len != 12) || s[0] != 'b' ||
	    digits(s + 1, SELECTOR_DATE_LEN, &date) == -1 || !date_valid(date))
		return -1;
	if (*letter == 'r')
		*alg = DKIM_RSA_SHA256;
	else if (*letter == 'e')
		*alg = DKIM_ED25519_SHA256;
	else
		return -1;
	/* one name for each pair: the first has no "01" */
	if (len == 12 && (digits(letter + 1, 2, &seq) == -1 || seq < 2))
		return -1;
	pair->date = date;
	pair->seq = seq;
	return 0;
}

int
dkim_selector_make(
    const struct dkim_pair *pair, enum dkim_alg alg, char *buf, size_t bufsz)
{
	char seq[4] = "";
	int n;

	if (!date_valid(pair->date) || pair->seq < 1 ||
	    pair->seq > DKIM_PAIR_SEQ_MAX)
		return -1;
	if (pair->seq > 1)
		snprintf(seq, sizeof(seq), "%02u", pair->seq);
	n = snprintf(buf, bufsz, "b%08u%c%s", pair->date,
	    alg == DKIM_RSA_SHA256 ? 'r' : 'e', seq);
	return n < 0 || (size_t)n >= bufsz ? -1 : 0;
}

int
dkim_pair_cmp(const struct dkim_pair *a, const struct dkim_pair *b)
{
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

int
dkim_pair_next(
    const struct dkim_pair *newest, time_t now, struct dkim_pair *next)
{
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL)
		return -1;
	next->date = (uint32_t)(tm.tm_year + 1900) * 10000 +
	    (uint32_t)(tm.tm_mon + 1) * 100 + (uint32_t)tm.tm_mday;
	next->seq = 1;
	if (!date_valid(next->date))
		return -1;
	if (newest != NULL && newest->date >= next->date) {
		if (newest->seq >= DKIM_PAIR_SEQ_MAX)
			return -1;
		next->date = newest->date;
		next->seq = newest->seq + 1;
	}
	return 0;
}

int
dkim_key_file_name(
    const char *domain, const char *selector, char *buf, size_t bufsz)
{
	int n;

	if (!domain_valid(domain, 0) || !dkim_selector_valid(selector))
		return -1;
	n = snprintf(buf, bufsz, "%s.%s%s", domain, selector, DKIM_KEY_SUFFIX);
	return n < 0 || (size_t)n >= bufsz ? -1 : 0;
}

int
dkim_key_file_parse(const char *name, char *domain, size_t domainsz,
    char *selector, size_t selectorsz)
{
	size_t len = strnlen(name, DKIM_KEY_FILE_MAX + 1);
	size_t suffix = sizeof(DKIM_KEY_SUFFIX) - 1, dot;

	if (len > DKIM_KEY_FILE_MAX || len <= suffix ||
	    strcmp(name + len - suffix, DKIM_KEY_SUFFIX) != 0)
		return -1;
	len -= suffix;
	/* the selector is one label: the domain is all before its dot */
	for (dot = len; dot > 0 && name[dot - 1] != '.'; dot--)
		;
	if (dot < 2 || dot - 1 >= domainsz || len - dot >= selectorsz)
		return -1;
	memcpy(domain, name, dot - 1);
	domain[dot - 1] = '\0';
	memcpy(selector, name + dot, len - dot);
	selector[len - dot] = '\0';
	if (!domain_valid(domain, 0) || !dkim_selector_valid(selector))
		return -1;
	return 0;
}
