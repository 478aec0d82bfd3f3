/*
 * The route logic on hostile DNS answers: the input is a series of MX
 * rdata, each with a one-octet length before it, as libunbound would hand
 * them over.  Each is parsed (in a buffer of exactly its size), the
 * best kept, the set put in order, and every promise checked: valid lower-case
 * names, best preference first, no host twice, the bound kept.  The whole input
 * also goes through the name, literal and address functions.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_name(const char *name)
{
	const char *s;

	if (strcmp(name, ".") == 0)
		return;
	if (!mta_hostname_valid(name))
		abort();
	for (s = name; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			abort();
}

static void
check_order(struct mta_mx *mx, size_t n)
{
	size_t i, j;

	if (n > MTA_ROUTE_HOSTS_MAX)
		abort();
	for (i = 0; i < n; i++) {
		if (strcmp(mx[i].host, ".") == 0)
			abort();
		check_name(mx[i].host);
		if (i > 0 && mx[i].preference < mx[i - 1].preference)
			abort();
		for (j = 0; j < i; j++)
			if (strcmp(mx[i].host, mx[j].host) == 0)
				abort();
	}
}

static void
whole_input(const uint8_t *data, size_t size)
{
	struct mta_route *r;
	char name[MTA_HOST_MAX], *text;
	int n;

	n = mta_dname_text(data, size, name, sizeof(name));
	if (n != -1) {
		if (n < 1 || (size_t)n > size)
			abort();
		check_name(name);
	}
	if ((text = malloc(size + 1)) == NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	(void)mta_hostname_valid(text);
	if ((r = calloc(1, sizeof(*r))) != NULL) {
		if (mta_route_literal(r, text) == 1 &&
		    (r->nhosts != 1 || r->hosts[0].naddrs != 1))
			abort();
		if (size >= 1) {
			memset(r, 0, sizeof(*r));
			mta_route_add_addr(&r->hosts[0],
			    data[0] & 1 ? AF_INET6 : AF_INET, data + 1,
			    size - 1);
			r->nhosts = 1;
			mta_route_finish(r);
			if ((r->status == MTA_ROUTE_OK) != (r->nhosts == 1))
				abort();
		}
		free(r);
	}
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mta_mx mx[MTA_ROUTE_MX_MAX], one;
	size_t off = 0, n = 0, len;
	enum mta_mx_result res;
	uint8_t *rdata;

	whole_input(data, size);
	while (off < size) {
		len = data[off++];
		if (len > size - off)
			len = size - off;
		if ((rdata = malloc(len == 0 ? 1 : len)) == NULL)
			return 0;
		memcpy(rdata, data + off, len);
		off += len;
		if (mta_mx_parse(rdata, len, &one) == 0) {
			check_name(one.host);
			mta_mx_add(mx, &n, &one);
			if (n > MTA_ROUTE_MX_MAX)
				abort();
		}
		free(rdata);
	}
	mta_mx_shuffle(mx, n);
	res = mta_mx_order(mx, &n);
	if (res == MTA_MX_HOSTS ? n == 0 : n != 0)
		abort();
	check_order(mx, n);
	return 0;
}
