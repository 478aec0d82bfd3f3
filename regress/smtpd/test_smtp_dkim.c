/*
 * smtp_dkim.c: signer's table arrives whole and replaces the one before,
 * lookups find a domain whatever its case, a signature reaches the
 * session code's callback, and anything malformed from signer (another
 * boxd process) is fatal: a child process tries each and must die.
 */

#include <sys/wait.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "boxd.h"
#include "smtpd.h"
#include "test.h"

static void
deliver(uint32_t type, struct msg_writer *w)
{
	struct imsg imsg;

	memset(&imsg, 0, sizeof(imsg));
	imsg.hdr.type = type;
	imsg.fd = -1;
	if (w != NULL) {
		imsg.data = w->buf;
		imsg.datalen = w->len;
	}
	smtp_dispatch_signer(NULL, &imsg);
	if (w != NULL)
		msg_writer_free(w);
}

static void
domain(const char *d, const char *rsa, const char *ed)
{
	struct msg_writer w;

	msg_writer_init(&w);
	msg_put_str(&w, d);
	msg_put_str(&w, rsa);
	msg_put_str(&w, ed);
	deliver(IMSG_SIGNER_DOMAIN, &w);
}

static uint64_t got_reqid;
static uint32_t got_status;
static size_t got_len;
static unsigned char got_sig[DKIM_SIG_MAX];

static void
signed_cb(uint64_t reqid, uint32_t status, const unsigned char *sig,
    size_t len)
{
	got_reqid = reqid;
	got_status = status;
	got_len = len;
	memcpy(got_sig, sig, len);
}

static void
test_table(void)
{
	const struct smtp_dkim_domain *d;

	CHECK("empty", smtp_dkim_lookup("example.org") == NULL);
	deliver(IMSG_SIGNER_TABLE, NULL);
	domain("example.org", "b20261208r", "b20261208e");
	domain("only-ed.test", "", "b20251101e");
	domain("a.test", "b20240101r02", "b20240101e02");
	/* nothing changes until the end of the table */
	CHECK("not before the end", smtp_dkim_lookup("example.org") == NULL);
	deliver(IMSG_SIGNER_TABLE_END, NULL);
	d = smtp_dkim_lookup("Example.ORG");
	CHECK("lookup", d != NULL && strcmp(d->rsa, "b20261208r") == 0 &&
		strcmp(d->ed25519, "b20261208e") == 0);
	d = smtp_dkim_lookup("only-ed.test");
	CHECK("lookup one algorithm", d != NULL && d->rsa[0] == '\0' &&
		strcmp(d->ed25519, "b20251101e") == 0);
	CHECK("lookup sorted", smtp_dkim_lookup("a.test") != NULL);
	CHECK("lookup none", smtp_dkim_lookup("example.net") == NULL &&
		smtp_dkim_lookup("") == NULL);
	/* a new table replaces the old one whole */
	deliver(IMSG_SIGNER_TABLE, NULL);
	domain("example.org", "b20261209r", "b20261209e");
	deliver(IMSG_SIGNER_TABLE_END, NULL);
	d = smtp_dkim_lookup("example.org");
	CHECK("replaced", d != NULL && strcmp(d->rsa, "b20261209r") == 0 &&
		smtp_dkim_lookup("a.test") == NULL);
	deliver(IMSG_SIGNER_TABLE, NULL);
	deliver(IMSG_SIGNER_TABLE_END, NULL);
	CHECK("emptied", smtp_dkim_lookup("example.org") == NULL);
}

static void
test_signature(void)
{
	struct msg_writer w;
	unsigned char sig[64];

	memset(sig, 0xab, sizeof(sig));
	smtp_dkim_set_signed_cb(signed_cb);
	msg_writer_init(&w);
	msg_put_u64(&w, 99);
	msg_put_u32(&w, SIGNER_OK);
	msg_put_u32(&w, sizeof(sig));
	msg_put_data(&w, sig, sizeof(sig));
	deliver(IMSG_SIGNER_SIGNATURE, &w);
	CHECK("signature", got_reqid == 99 && got_status == SIGNER_OK &&
		got_len == 64 && memcmp(got_sig, sig, 64) == 0);
	msg_writer_init(&w);
	msg_put_u64(&w, 100);
	msg_put_u32(&w, SIGNER_NOKEY);
	msg_put_u32(&w, 0);
	deliver(IMSG_SIGNER_SIGNATURE, &w);
	CHECK("no key", got_reqid == 100 && got_status == SIGNER_NOKEY &&
		got_len == 0);
}

/* what signer must never send: each kills the process */
enum hostile {
	DOMAIN_OUTSIDE,
	TABLE_TWICE,
	END_ALONE,
	SHORT_DOMAIN,
	LONG_SELECTOR,
	TRAILING,
	SIG_TOO_LONG,
	SIG_OK_EMPTY,
	SIG_SHORT,
	UNKNOWN_TYPE,
	HOSTILE_COUNT
};

static void
hostile(enum hostile h)
{
	struct msg_writer w;
	char big[200];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	msg_writer_init(&w);
	switch (h) {
	case DOMAIN_OUTSIDE:
		domain("example.org", "r", "e");
		break;
	case TABLE_TWICE:
		deliver(IMSG_SIGNER_TABLE, NULL);
		deliver(IMSG_SIGNER_TABLE, NULL);
		break;
	case END_ALONE:
		deliver(IMSG_SIGNER_TABLE_END, NULL);
		break;
	case SHORT_DOMAIN:
		deliver(IMSG_SIGNER_TABLE, NULL);
		msg_put_str(&w, "example.org");
		msg_put_str(&w, "r");
		deliver(IMSG_SIGNER_DOMAIN, &w);
		break;
	case LONG_SELECTOR:
		deliver(IMSG_SIGNER_TABLE, NULL);
		domain("example.org", big, "e");
		break;
	case TRAILING:
		deliver(IMSG_SIGNER_TABLE, NULL);
		msg_put_str(&w, "example.org");
		msg_put_str(&w, "r");
		msg_put_str(&w, "e");
		msg_put_u8(&w, 0);
		deliver(IMSG_SIGNER_DOMAIN, &w);
		break;
	case SIG_TOO_LONG:
		msg_put_u64(&w, 1);
		msg_put_u32(&w, SIGNER_OK);
		msg_put_u32(&w, DKIM_SIG_MAX + 1);
		deliver(IMSG_SIGNER_SIGNATURE, &w);
		break;
	case SIG_OK_EMPTY:
		msg_put_u64(&w, 1);
		msg_put_u32(&w, SIGNER_OK);
		msg_put_u32(&w, 0);
		deliver(IMSG_SIGNER_SIGNATURE, &w);
		break;
	case SIG_SHORT:
		msg_put_u64(&w, 1);
		msg_put_u32(&w, SIGNER_OK);
		msg_put_u32(&w, 64);
		msg_put_data(&w, big, 10);
		deliver(IMSG_SIGNER_SIGNATURE, &w);
		break;
	case UNKNOWN_TYPE:
		deliver(IMSG_STATS, NULL);
		break;
	default:
		break;
	}
	msg_writer_free(&w);
}

static void
test_hostile(void)
{
	pid_t pid;
	int h, status, ok = 1;

	for (h = 0; h < HOSTILE_COUNT; h++) {
		fflush(stdout);
		if ((pid = fork()) == -1) {
			ok = 0;
			break;
		}
		if (pid == 0) {
			/* the log line of the fatal error is expected */
			if (freopen("/dev/null", "w", stderr) == NULL)
				_exit(99);
			smtp_dkim_set_signed_cb(signed_cb);
			hostile(h);
			_exit(0);
		}
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("# hostile %d did not kill\n", h);
			ok = 0;
		}
	}
	CHECK("malformed from signer is fatal", ok);
}

int
main(void)
{
	log_init(1, 0, "test_smtp_dkim");
	test_table();
	test_signature();
	test_hostile();
	TEST_EXIT();
}
