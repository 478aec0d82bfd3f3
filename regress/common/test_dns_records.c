/*
 * dns_records.c: TXT text split into 255-octet character-strings (at
 * the boundary exactly, escapes counted as one octet of the string),
 * buffers too small refused, and the records of a zone: their order,
 * the ports of the configuration's listeners, "." for a service without
 * one, and an MTA-STS id that follows the policy.
 */

#include <string.h>

#include "common.h"
#include "test.h"

/* the octets of the quoted strings, unescaped, and how many there were */
static int
unquote(const char *q, char *out, size_t outsz, size_t *nstrings,
    size_t *longest)
{
	size_t o = 0, len;

	*nstrings = 0;
	*longest = 0;
	while (*q != '\0') {
		if (*q != '"')
			return -1;
		q++;
		len = 0;
		while (*q != '"') {
			if (*q == '\0')
				return -1;
			if (*q == '\\')
				q++;
			if (o + 1 >= outsz)
				return -1;
			out[o++] = *q++;
			len++;
		}
		q++;
		(*nstrings)++;
		if (len > *longest)
			*longest = len;
		if (*q == ' ')
			q++;
		else if (*q != '\0')
			return -1;
	}
	out[o] = '\0';
	return 0;
}

static void
test_quote(void)
{
	static char text[2000], q[4096], back[4096];
	size_t n, longest, len;
	int ok;

	CHECK("quote short", dns_txt_quote("v=spf1 mx -all", q, sizeof(q)) ==
		0 && strcmp(q, "\"v=spf1 mx -all\"") == 0);
	CHECK("quote empty",
	    dns_txt_quote("", q, sizeof(q)) == 0 && strcmp(q, "\"\"") == 0);
	CHECK("quote escapes", dns_txt_quote("a\"b\\c", q, sizeof(q)) == 0 &&
		strcmp(q, "\"a\\\"b\\\\c\"") == 0);
	/* at and around the boundary, and several strings */
	ok = 1;
	for (len = 250; len <= 1100; len++) {
		memset(text, 'k', len);
		text[len] = '\0';
		if (dns_txt_quote(text, q, sizeof(q)) == -1 ||
		    unquote(q, back, sizeof(back), &n, &longest) == -1 ||
		    strcmp(back, text) != 0 || longest > DNS_TXT_CHUNK ||
		    n != (len + DNS_TXT_CHUNK - 1) / DNS_TXT_CHUNK)
			ok = 0;
	}
	CHECK("quote splits at 255", ok);
	memset(text, 'k', 255);
	text[255] = '\0';
	CHECK("quote 255 is one string",
	    dns_txt_quote(text, q, sizeof(q)) == 0 &&
		strchr(q + 1, '"') == q + 256 && q[257] == '\0');
	memset(text, 'k', 256);
	text[256] = '\0';
	CHECK("quote 256 is two", dns_txt_quote(text, q, sizeof(q)) == 0 &&
		strcmp(q + 256, "\" \"k\"") == 0);
	/* an escaped quote is one octet of its string, never split from it */
	ok = 1;
	for (len = 1; len < 600; len += 7) {
		memset(text, '"', len);
		text[len] = '\0';
		if (dns_txt_quote(text, q, sizeof(q)) == -1 ||
		    unquote(q, back, sizeof(back), &n, &longest) == -1 ||
		    strcmp(back, text) != 0 || longest > DNS_TXT_CHUNK)
			ok = 0;
	}
	CHECK("quote escapes across the split", ok);
	/* every size of buffer too small is refused, never overrun */
	memset(text, 'k', 600);
	text[600] = '\0';
	ok = 1;
	/* three strings, "..." "..." "...", and the NUL */
	for (len = 0; len < 609; len++) {
		memset(q, 'X', sizeof(q));
		if (dns_txt_quote(text, q, len) != -1 ||
		    (len < sizeof(q) && q[len] != 'X'))
			ok = 0;
	}
	CHECK("quote small buffers refused", ok);
	CHECK("quote exact buffer", dns_txt_quote(text, q, 609) == 0);
}

#define STS_PREFIX "_mta-sts.example.org. 3600 IN TXT \"v=STSv1; id="

struct collect {
	char lines[64][DNS_VALUE_MAX + DNS_OWNER_MAX + 32];
	size_t n;
};

static void
collect(const struct dns_record *r, void *arg)
{
	struct collect *c = arg;

	if (c->n < 64 &&
	    dns_record_line(r, c->lines[c->n], sizeof(c->lines[0])) == 0)
		c->n++;
}

static int
has(const struct collect *c, const char *line)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->lines[i], line) == 0)
			return 1;
	return 0;
}

static void
test_zone(void)
{
	static struct collect c;
	static struct boxd_config conf;
	struct dns_zone z;
	char policy[DNS_POLICY_MAX], p[800], want[1200];
	char id1[64], id2[64];
	size_t i;
	const char *sts;

	config_defaults(&conf);
	conf.nlisteners = 3;
	conf.listeners[0] = (struct listen_conf){"0.0.0.0", 25, LISTEN_SMTP};
	conf.listeners[1] =
	    (struct listen_conf){"0.0.0.0", 10587, LISTEN_SUBMISSION};
	conf.listeners[2] = (struct listen_conf){"::", 993, LISTEN_IMAPS};
	memset(&z, 0, sizeof(z));
	z.domain = "example.org";
	z.hostname = "mail.example.org";
	dns_zone_ports(&z, &conf);
	CHECK("ports", z.ports[DNS_SUBMISSION] == 10587 &&
		z.ports[DNS_IMAPS] == 993 && z.ports[DNS_SUBMISSIONS] == 0 &&
		z.ports[DNS_POP3] == 0);

	CHECK("head", dns_zone_head(&z, collect, &c) == 0 && c.n == 2);
	CHECK("mx",
	    has(&c, "example.org. 3600 IN MX 10 mail.example.org."));
	CHECK("spf", has(&c, "example.org. 3600 IN TXT \"v=spf1 mx -all\""));
	c.n = 0;
	CHECK("dkim ed25519",
	    dns_zone_dkim(&z, "b20261208e", DKIM_ED25519_SHA256,
		"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", collect,
		&c) == 0 &&
		has(&c, "b20261208e._domainkey.example.org. 3600 IN TXT "
			"\"v=DKIM1; k=ed25519; "
			"p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\""));
	/* an RSA p= is longer than one string: split after 255 octets */
	memset(p, 'A', 392);
	p[392] = '\0';
	c.n = 0;
	snprintf(want, sizeof(want),
	    "b20261208r._domainkey.example.org. 3600 IN TXT \"v=DKIM1; "
	    "k=rsa; p=%.*s\" \"%s\"",
	    255 - 18, p, p + 255 - 18);
	CHECK("dkim rsa split",
	    dns_zone_dkim(&z, "b20261208r", DKIM_RSA_SHA256, p, collect, &c) ==
		    0 &&
		has(&c, want));
	CHECK("dkim bad selector", dns_zone_dkim(&z, "a b", DKIM_RSA_SHA256, p,
				       collect, &c) == -1);
	memset(p, 'A', sizeof(p) - 1);
	p[sizeof(p) - 1] = '\0';
	CHECK("dkim long key", dns_zone_dkim(&z, "s", DKIM_RSA_SHA256, p,
				   collect, &c) == 0);

	c.n = 0;
	CHECK("tail", dns_zone_tail(&z, collect, &c) == 0);
	CHECK("dmarc", has(&c, "_dmarc.example.org. 3600 IN TXT \"v=DMARC1; "
			       "p=quarantine; "
			       "rua=mailto:postmaster@example.org\""));
	CHECK("tlsrpt", has(&c, "_smtp._tls.example.org. 3600 IN TXT "
				"\"v=TLSRPTv1; "
				"rua=mailto:postmaster@example.org\""));
	CHECK("srv submission", has(&c, "_submission._tcp.example.org. 3600 IN "
					"SRV 0 1 10587 mail.example.org."));
	CHECK("srv imaps", has(&c, "_imaps._tcp.example.org. 3600 IN SRV 0 1 "
				   "993 mail.example.org."));
	CHECK("srv not offered",
	    has(&c, "_submissions._tcp.example.org. 3600 IN SRV 0 0 0 .") &&
		has(&c, "_imap._tcp.example.org. 3600 IN SRV 0 0 0 .") &&
		has(&c, "_pop3s._tcp.example.org. 3600 IN SRV 0 0 0 .") &&
		has(&c, "_pop3._tcp.example.org. 3600 IN SRV 0 0 0 ."));
	CHECK("autoconfig",
	    has(&c, "autoconfig.example.org. 3600 IN CNAME "
		    "mail.example.org.") &&
		has(&c, "autodiscover.example.org. 3600 IN CNAME "
			"mail.example.org.") &&
		has(&c, "_autodiscover._tcp.example.org. 3600 IN SRV 0 1 443 "
			"mail.example.org."));
	CHECK("mta-sts cname", has(&c, "mta-sts.example.org. 3600 IN CNAME "
				       "mail.example.org."));
	sts = NULL;
	for (i = 0; i < c.n; i++)
		if (strncmp(c.lines[i], STS_PREFIX, strlen(STS_PREFIX)) == 0 &&
		    strlen(c.lines[i]) == strlen(STS_PREFIX) + 9)
			sts = c.lines[i];
	CHECK("mta-sts txt", sts != NULL);
	strlcpy(id1, sts != NULL ? sts : "", sizeof(id1));
	CHECK("policy", dns_mta_sts_policy(&z, policy, sizeof(policy)) == 0 &&
		strcmp(policy, "version: STSv1\nmode: testing\n"
			       "mx: mail.example.org\nmax_age: 604800\n") ==
		    0);
	CHECK("policy small", dns_mta_sts_policy(&z, policy, 20) == -1);
	/* another host, another policy, another id */
	z.hostname = "mx2.example.org";
	c.n = 0;
	dns_zone_tail(&z, collect, &c);
	for (i = 0, sts = NULL; i < c.n; i++)
		if (strncmp(c.lines[i], "_mta-sts.", 9) == 0)
			sts = c.lines[i];
	strlcpy(id2, sts != NULL ? sts : "", sizeof(id2));
	CHECK("mta-sts id follows the policy",
	    sts != NULL && strcmp(id1, id2) != 0);
}

int
main(void)
{
	test_quote();
	test_zone();
	TEST_EXIT();
}
