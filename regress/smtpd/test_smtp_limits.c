/*
 * envelope.c: the envelope size smtp budgets against the imsg limit.
 * (What the per-client limit counts is in regress/common/test_listener.c.)
 */

#include <stdio.h>
#include <string.h>

#include "smtpd.h"
#include "test.h"

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
	test_envelope_size();
	TEST_EXIT();
}
