/*
 * smtp.c and envelope.c: what the per-client limit counts (IPv6 by /64,
 * IPv4-mapped as IPv4) and the envelope size smtp budgets against the
 * imsg limit.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "smtpd.h"
#include "test.h"

static const char *
key_of(const char *text)
{
	static char key[INET6_ADDRSTRLEN + 8];
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	else
		return "bad test address";
	smtp_client_key((struct sockaddr *)&ss, key, sizeof(key));
	return key;
}

static const char *
text_of(const char *text)
{
	static char out[INET6_ADDRSTRLEN];
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	if (inet_pton(AF_INET6, text, &sin6.sin6_addr) != 1)
		return "bad test address";
	smtp_addr_text((struct sockaddr *)&sin6, out, sizeof(out));
	return out;
}

static void
test_client_key(void)
{
	struct sockaddr_storage ss;
	char key[INET6_ADDRSTRLEN + 8];

	CHECK("ipv4 as itself", strcmp(key_of("192.0.2.1"), "192.0.2.1") == 0);
	CHECK("ipv4 neighbours apart",
	    strcmp(key_of("192.0.2.2"), "192.0.2.1") != 0);
	CHECK("ipv4-mapped as ipv4",
	    strcmp(key_of("::ffff:192.0.2.1"), "192.0.2.1") == 0);
	CHECK("ipv6 by /64",
	    strcmp(key_of("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64") == 0);
	CHECK("ipv6 same /64",
	    strcmp(key_of("2001:db8:1:2:ffff:ffff:ffff:ffff"),
		"2001:db8:1:2::/64") == 0);
	CHECK("ipv6 other /64",
	    strcmp(key_of("2001:db8:1:3::1"), "2001:db8:1:3::/64") == 0);
	CHECK("ipv6 loopback", strcmp(key_of("::1"), "::/64") == 0);
	CHECK("ipv6 long prefix",
	    strcmp(key_of("2001:db8:aaaa:bbbb:cccc::1"),
		"2001:db8:aaaa:bbbb::/64") == 0);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	smtp_client_key((struct sockaddr *)&ss, key, sizeof(key));
	CHECK("other family", strcmp(key, "unknown") == 0);

	CHECK("mapped shown as ipv4",
	    strcmp(text_of("::ffff:10.1.2.3"), "10.1.2.3") == 0);
	CHECK("ipv6 shown whole",
	    strcmp(text_of("2001:db8::1:2"), "2001:db8::1:2") == 0);
}

static int
size_matches(const struct envelope *env)
{
	struct msg_writer w;
	int ok;

	msg_writer_init(&w);
	envelope_marshal(env, &w);
	ok = !w.error && w.len == envelope_marshal_size(env);
	msg_writer_free(&w);
	return ok;
}

static void
test_envelope_size(void)
{
	struct envelope env;
	struct envelope_rcpt rcpt;
	size_t before;
	int i;

	memset(&env, 0, sizeof(env));
	CHECK("empty envelope", size_matches(&env));
	strlcpy(env.sender, "sender@client.test", sizeof(env.sender));
	strlcpy(env.helo, "client.test", sizeof(env.helo));
	strlcpy(env.client_addr, "192.0.2.1", sizeof(env.client_addr));
	strlcpy(env.envid, "QQ314159", sizeof(env.envid));
	CHECK("no deliveries", size_matches(&env));

	memset(&rcpt, 0, sizeof(rcpt));
	strlcpy(rcpt.addr, "list@example.test", sizeof(rcpt.addr));
	strlcpy(rcpt.orcpt, "rfc822;list@example.test", sizeof(rcpt.orcpt));
	for (i = 0; i < 50; i++) {
		snprintf(
		    rcpt.mailbox, sizeof(rcpt.mailbox), "example.test/u%d", i);
		before = envelope_marshal_size(&env);
		envelope_add_rcpt(&env, &rcpt);
		if (envelope_marshal_size(&env) !=
		    before + envelope_rcpt_marshal_size(&rcpt))
			break;
	}
	CHECK("each delivery adds its size", i == 50);
	CHECK("fifty deliveries", size_matches(&env));

	memset(rcpt.addr, 'a', sizeof(rcpt.addr) - 1);
	memset(rcpt.mailbox, 'm', sizeof(rcpt.mailbox) - 1);
	memset(rcpt.orcpt, 'o', sizeof(rcpt.orcpt) - 1);
	envelope_add_rcpt(&env, &rcpt);
	CHECK("longest delivery", size_matches(&env));
	CHECK("longest delivery size",
	    envelope_rcpt_marshal_size(&rcpt) ==
		4 + 255 + 4 + (ENVELOPE_MAILBOX_MAX - 1) + 4 + 4 + 255);
	envelope_clear(&env);
}

int
main(void)
{
	test_client_key();
	test_envelope_size();
	TEST_EXIT();
}
