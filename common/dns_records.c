/*
 * The DNS records a domain of boxd publishes (boxctl dns), as zone-file
 * lines: MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, the client SRV records
 * of RFC 6186 and RFC 8314, and the autoconfig/autodiscover hints.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static const struct {
	const char *name; /* the SRV owner's first labels */
	enum listen_kind kind;
} dns_services[DNS_SERVICES] = {
    [DNS_SUBMISSIONS] = {"_submissions._tcp", LISTEN_SUBMISSIONS},
    [DNS_SUBMISSION] = {"_submission._tcp", LISTEN_SUBMISSION},
    [DNS_IMAPS] = {"_imaps._tcp", LISTEN_IMAPS},
    [DNS_IMAP] = {"_imap._tcp", LISTEN_IMAP},
    [DNS_POP3S] = {"_pop3s._tcp", LISTEN_POP3S},
    [DNS_POP3] = {"_pop3._tcp", LISTEN_POP3},
};

void
dns_zone_ports(struct dns_zone *z, const struct boxd_config *c)
{
	size_t i;
	int s;

	for (s = 0; s < DNS_SERVICES; s++) {
		z->ports[s] = 0;
		for (i = 0; i < c->nlisteners; i++)
			if (c->listeners[i].kind == dns_services[s].kind) {
				z->ports[s] = c->listeners[i].port;
				break;
			}
	}
}

int
dns_txt_quote(const char *text, char *out, size_t outsz)
{
	size_t len = strlen(text), i, o = 0, chunk = 0;

	if (outsz == 0)
		return -1;
	for (i = 0; i == 0 || i < len; i++) {
		/* a new string: after a full one, and at the start */
		if (i == 0 || chunk == DNS_TXT_CHUNK) {
			if (i > 0) {
				if (o + 2 >= outsz)
					return -1;
				out[o++] = '"';
				out[o++] = ' ';
			}
			if (o + 1 >= outsz)
				return -1;
			out[o++] = '"';
			chunk = 0;
		}
		if (len == 0)
			break;
		if (text[i] == '"' || text[i] == '\\') {
			if (o + 1 >= outsz)
				return -1;
			out[o++] = '\\';
		}
		if (o + 1 >= outsz)
			return -1;
		out[o++] = text[i];
		chunk++;
	}
	if (o + 2 > outsz)
		return -1;
	out[o++] = '"';
	out[o] = '\0';
	return 0;
}

int
dns_record_line(const struct dns_record *r, char *buf, size_t bufsz)
{
	int n;

	n = snprintf(
	    buf, bufsz, "%s %d IN %s %s", r->name, DNS_TTL, r->type, r->value);
	return n < 0 || (size_t)n >= bufsz ? -1 : 0;
}

/* name: the labels before the domain ("" for the domain itself) */
static int
dns_name(struct dns_record *r, const struct dns_zone *z, const char *labels)
{
	int n;

	n = snprintf(r->name, sizeof(r->name), "%s%s%s.", labels,
	    labels[0] != '\0' ? "." : "", z->domain);
	return n < 0 || (size_t)n >= sizeof(r->name) ? -1 : 0;
}

static int dns_value(struct dns_record *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
dns_value(struct dns_record *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->value, sizeof(r->value), fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= sizeof(r->value) ? -1 : 0;
}

/* a TXT record of one text */
static int
dns_txt(const struct dns_zone *z, const char *labels, const char *text,
    dns_record_cb cb, void *arg)
{
	struct dns_record r;

	if (dns_name(&r, z, labels) == -1 ||
	    dns_txt_quote(text, r.value, sizeof(r.value)) == -1)
		return -1;
	r.type = "TXT";
	cb(&r, arg);
	return 0;
}

int
dns_zone_head(const struct dns_zone *z, dns_record_cb cb, void *arg)
{
	struct dns_record r;

	if (dns_name(&r, z, "") == -1 ||
	    dns_value(&r, "10 %s.", z->hostname) == -1)
		return -1;
	r.type = "MX";
	cb(&r, arg);
	return dns_txt(z, "", "v=spf1 mx -all", cb, arg);
}

int
dns_zone_dkim(const struct dns_zone *z, const char *selector, enum dkim_alg alg,
    const char *p, dns_record_cb cb, void *arg)
{
	char labels[DKIM_SELECTOR_MAX + 16], text[DNS_VALUE_MAX];
	int n;

	if (!dkim_selector_valid(selector))
		return -1;
	snprintf(labels, sizeof(labels), "%s._domainkey", selector);
	n = snprintf(text, sizeof(text), "v=DKIM1; k=%s; p=%s",
	    alg == DKIM_RSA_SHA256 ? "rsa" : "ed25519", p);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -1;
	return dns_txt(z, labels, text, cb, arg);
}

int
dns_mta_sts_policy(const struct dns_zone *z, char *buf, size_t bufsz)
{
	int n;

	n = snprintf(buf, bufsz,
	    "version: STSv1\nmode: %s\nmx: %s\nmax_age: %d\n", DNS_MTA_STS_MODE,
	    z->hostname, DNS_MTA_STS_AGE);
	return n < 0 || (size_t)n >= bufsz ? -1 : 0;
}

static int
dns_srv(const struct dns_zone *z, const char *labels, uint16_t port,
    dns_record_cb cb, void *arg)
{
	struct dns_record r;

	if (dns_name(&r, z, labels) == -1)
		return -1;
	r.type = "SRV";
	/* RFC 2782: target "." says the service is not offered here */
	if (port == 0)
		strlcpy(r.value, "0 0 0 .", sizeof(r.value));
	else if (dns_value(&r, "0 1 %u %s.", port, z->hostname) == -1)
		return -1;
	cb(&r, arg);
	return 0;
}

static int
dns_cname(
    const struct dns_zone *z, const char *labels, dns_record_cb cb, void *arg)
{
	struct dns_record r;

	if (dns_name(&r, z, labels) == -1 ||
	    dns_value(&r, "%s.", z->hostname) == -1)
		return -1;
	r.type = "CNAME";
	cb(&r, arg);
	return 0;
}

int
dns_zone_tail(const struct dns_zone *z, dns_record_cb cb, void *arg)
{
	char text[DNS_VALUE_MAX], policy[DNS_POLICY_MAX];
	int s;

	if (snprintf(text, sizeof(text),
		"v=DMARC1; p=quarantine; rua=mailto:postmaster@%s",
		z->domain) >= (int)sizeof(text) ||
	    dns_txt(z, "_dmarc", text, cb, arg) == -1)
		return -1;
	/* the id changes whenever the policy does: receivers fetch it anew */
	if (dns_mta_sts_policy(z, policy, sizeof(policy)) == -1)
		return -1;
	snprintf(text, sizeof(text), "v=STSv1; id=%08x",
	    crc32_update(0, policy, strlen(policy)));
	if (dns_txt(z, "_mta-sts", text, cb, arg) == -1 ||
	    dns_cname(z, "mta-sts", cb, arg) == -1)
		return -1;
	if (snprintf(text, sizeof(text), "v=TLSRPTv1; rua=mailto:postmaster@%s",
		z->domain) >= (int)sizeof(text) ||
	    dns_txt(z, "_smtp._tls", text, cb, arg) == -1)
		return -1;
	for (s = 0; s < DNS_SERVICES; s++)
		if (dns_srv(z, dns_services[s].name, z->ports[s], cb, arg) ==
		    -1)
			return -1;
	if (dns_cname(z, "autoconfig", cb, arg) == -1 ||
	    dns_cname(z, "autodiscover", cb, arg) == -1 ||
	    dns_srv(z, "_autodiscover._tcp", 443, cb, arg) == -1)
		return -1;
	return 0;
}
