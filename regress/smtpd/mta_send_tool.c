/*
 * mta_send_tool [-8sStu] [-a user:pass] [-C cafile] [-E envid] [-H name]
 *     [-N notify] [-n count] [-O] [-P headers] [-R full|hdrs]
 *     [-r encrypt|verify] [-T ms] ADDR[,ADDR...] PORT SENDER RCPT...
 *     < message
 *
 * One smtpd/mta_session.c session on a libevent loop, for
 * regress/e2e/test_mta_session.py.  The message (LF line ends) is read
 * from stdin into a temporary file laid out as a spool file is: other
 * octets first, the body, then the prepended headers (-P FILE), then
 * more; the session gets a read-only descriptor and the offsets, as mta
 * will.  It is sent count times (-n) on one session, then QUIT.  Prints
 *
 *	message I
 *	rcpt ADDR delivered|temp|perm CODE TEXT
 *	tls none | tls VERSION CIPHER verified|unverified WHY
 *	session PEER esmtp 0|1 ext 0xEXT messages N
 *
 * after each message.  -t offers STARTTLS's client context (the system
 * trust store, or -C's), -T sets every timeout, -8 and -u mark the
 * envelope 8BITMIME and SMTPUTF8, -N (e.g. "FAILURE,DELAY" or NEVER),
 * -O (ORCPT rfc822;RCPT), -R and -E the DSN parameters, -H the SNI name
 * (and the name the certificate must carry), -r the TLS policy (implies
 * -t), -a the AUTH credentials.
 * -s runs the session under mta's seccomp filter, -S too but naming a
 * refused call.  Exit 0 if every recipient of every message was
 * delivered, 2 if not, 1 on a usage or setup error.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "smtpd.h"

#define TOOL_ADDRS_MAX 8

static struct event_base *base;
static struct mta_session *session;
static struct mta_message msg;
static struct envelope env;
static int count = 1, sent, result;
static char outbuf[BUFSIZ];

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mta_send_tool [-8sStu] [-a user:pass] [-C cafile] "
	    "[-E envid] [-H name]\n\t[-N notify] [-n count] [-O] "
	    "[-P headers] [-R full|hdrs]\n\t[-r encrypt|verify] [-T ms] "
	    "ADDR[,ADDR...] PORT SENDER RCPT... < message\n");
	exit(1);
}

static const char *
status_name(enum mta_rcpt_status st)
{
	switch (st) {
	case MTA_RCPT_DELIVERED:
		return "delivered";
	case MTA_RCPT_TEMPFAIL:
		return "temp";
	case MTA_RCPT_PERMFAIL:
		return "perm";
	default:
		return "pending";
	}
}

static void
sent_cb(struct mta_session *s, const struct mta_rcpt_result *r, size_t n,
    void *arg)
{
	const struct mta_session_info *info = mta_session_info(s);
	size_t i;

	printf("message %d\n", sent);
	for (i = 0; i < n; i++) {
		printf("rcpt %s %s %d %s\n", env.rcpt[i].addr,
		    status_name(r[i].status), r[i].code, r[i].text);
		if (r[i].status != MTA_RCPT_DELIVERED)
			result = 2;
	}
	if (info->tls)
		printf("tls %s %s %s\n", info->tls_info,
		    info->tls_verified ? "verified" : "unverified",
		    info->tls_why);
	else
		printf("tls none\n");
	printf("session %s esmtp %d ext 0x%x messages %u\n", info->peer,
	    info->esmtp, info->ext, info->messages);
	if (++sent < count) {
		if (mta_session_send(s, &msg, sent_cb, NULL) == -1)
			fatalx("mta_session_send");
		return;
	}
	mta_session_quit(s);
}

/* all of fd into out; its length */
static uint64_t
copy_fd(int in, int out)
{
	char buf[65536];
	uint64_t total = 0;
	ssize_t n;

	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, n) != n)
			fatal("write");
		total += (uint64_t)n;
	}
	if (n == -1)
		fatal("read");
	return total;
}

/* a spool-like file: junk, body, prepended headers, junk */
static int
build_message(const char *prepend)
{
	char path[] = "/tmp/mta_send_tool.XXXXXX";
	static const char junk[] = "BOXQ\0\0\0\3 not the message\n.\n";
	int wfd, rfd, pfd;

	if ((wfd = mkstemp(path)) == -1 ||
	    (rfd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		fatal("%s", path);
	unlink(path);
	if (write(wfd, junk, sizeof(junk)) != (ssize_t)sizeof(junk))
		fatal("write");
	msg.body_offset = sizeof(junk);
	msg.body_size = copy_fd(STDIN_FILENO, wfd);
	msg.prepend_offset = msg.body_offset + msg.body_size;
	if (prepend != NULL) {
		if ((pfd = open(prepend, O_RDONLY)) == -1)
			fatal("%s", prepend);
		msg.prepend_size = copy_fd(pfd, wfd);
		close(pfd);
	}
	if (write(wfd, junk, sizeof(junk)) != (ssize_t)sizeof(junk))
		fatal("write");
	close(wfd);
	return rfd;
}

static uint32_t
parse_notify(const char *s)
{
	uint32_t n = 0;

	if (strcmp(s, "NEVER") == 0)
		return DSN_NOTIFY_NEVER;
	if (strstr(s, "SUCCESS") != NULL)
		n |= DSN_NOTIFY_SUCCESS;
	if (strstr(s, "FAILURE") != NULL)
		n |= DSN_NOTIFY_FAILURE;
	if (strstr(s, "DELAY") != NULL)
		n |= DSN_NOTIFY_DELAY;
	return n;
}

static size_t
parse_addrs(char *list, struct sockaddr_storage *ss)
{
	char *a;
	size_t n = 0;

	while ((a = strsep(&list, ",")) != NULL) {
		if (n == TOOL_ADDRS_MAX)
			usage();
		memset(&ss[n], 0, sizeof(ss[n]));
		if (inet_pton(AF_INET6, a,
			&((struct sockaddr_in6 *)&ss[n])->sin6_addr) == 1)
			ss[n].ss_family = AF_INET6;
		else if (inet_pton(AF_INET, a,
			     &((struct sockaddr_in *)&ss[n])->sin_addr) == 1)
			ss[n].ss_family = AF_INET;
		else
			usage();
		n++;
	}
	return n;
}

int
main(int argc, char *argv[])
{
	struct sockaddr_storage addrs[TOOL_ADDRS_MAX];
	struct mta_session_params p;
	const char *errstr, *cafile = NULL, *prepend = NULL;
	char err[256], *colon;
	void *ctx = NULL;
	uint32_t notify = 0;
	int ch, ms = 0, tls = 0, sandbox = 0, orcpt = 0, i;

	/* a buffer of its own: stdio would fstat() stdout in the sandbox */
	if (setvbuf(stdout, outbuf, _IOLBF, sizeof(outbuf)) != 0)
		fatalx("setvbuf");
	log_init(1, LOG_LEVEL_DEBUG, "mta_send_tool");
	/* as in the role: a peer gone shows as a write error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	memset(&p, 0, sizeof(p));
	mta_timeouts_default(&p.timeouts);
	while ((ch = getopt(argc, argv, "8a:C:E:H:N:n:OP:R:r:sStT:u")) != -1) {
		switch (ch) {
		case '8':
			env.flags |= ENVELOPE_8BITMIME;
			break;
		case 'a':
			p.auth_user = optarg;
			if ((colon = strchr(optarg, ':')) == NULL)
				usage();
			*colon = '\0';
			p.auth_pass = colon + 1;
			break;
		case 'C':
			cafile = optarg;
			break;
		case 'r':
			tls = 1;
			if (strcmp(optarg, "encrypt") == 0)
				p.tls = MTA_TLS_ENCRYPT;
			else if (strcmp(optarg, "verify") == 0)
				p.tls = MTA_TLS_VERIFY;
			else
				usage();
			break;
		case 'E':
			strlcpy(env.envid, optarg, sizeof(env.envid));
			break;
		case 'H':
			p.host = optarg;
			break;
		case 'N':
			notify = parse_notify(optarg);
			break;
		case 'n':
			count = (int)strtonum(optarg, 1, 100000, &errstr);
			if (errstr != NULL)
				usage();
			break;
		case 'O':
			orcpt = 1;
			break;
		case 'P':
			prepend = optarg;
			break;
		case 'R':
			env.flags |= strcmp(optarg, "full") == 0
			    ? ENVELOPE_DSN_RET_FULL
			    : ENVELOPE_DSN_RET_HDRS;
			break;
		case 's':
			sandbox = 1;
			break;
		case 'S':
			sandbox = 1;
			sandbox_set_debug(1);
			break;
		case 't':
			tls = 1;
			break;
		case 'T':
			ms = (int)strtonum(optarg, 1, 3600000, &errstr);
			if (errstr != NULL)
				usage();
			break;
		case 'u':
			env.flags |= ENVELOPE_SMTPUTF8;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 4)
		usage();
	p.addrs = addrs;
	p.naddrs = parse_addrs(argv[0], addrs);
	p.port = (uint16_t)strtonum(argv[1], 1, 65535, &errstr);
	if (errstr != NULL)
		usage();
	p.helo = "mta.boxd.test";
	if (ms != 0) {
		p.timeouts.connect = p.timeouts.greeting = ms;
		p.timeouts.command = p.timeouts.mail = p.timeouts.rcpt = ms;
		p.timeouts.data_init = p.timeouts.data_block = ms;
		p.timeouts.data_end = ms;
	}
	strlcpy(env.sender, argv[2], sizeof(env.sender));
	env.nrcpt = (uint32_t)(argc - 3);
	if ((env.rcpt = calloc(env.nrcpt, sizeof(*env.rcpt))) == NULL)
		fatal("calloc");
	for (i = 0; i < (int)env.nrcpt; i++) {
		strlcpy(env.rcpt[i].addr, argv[3 + i],
		    sizeof(env.rcpt[i].addr));
		env.rcpt[i].dsn_notify = notify;
		if (orcpt)
			snprintf(env.rcpt[i].orcpt, sizeof(env.rcpt[i].orcpt),
			    "rfc822;%s", argv[3 + i]);
	}
	msg.env = &env;
	msg.fd = build_message(prepend);

	if (tls && (ctx = tls_client_ctx(cafile, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mta_send_tool: %s\n", err);
		return 1;
	}
	p.tls_ctx = ctx;
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if ((session = mta_session_new(base, &p)) == NULL)
		fatalx("mta_session_new");
	if (sandbox)
		sandbox_init(&sandbox_profile_mta);
	if (mta_session_send(session, &msg, sent_cb, NULL) == -1)
		fatalx("mta_session_send");
	if (event_base_dispatch(base) == -1)
		fatalx("event_base_dispatch");
	event_base_free(base);
	tls_ctx_free(ctx);
	free(env.rcpt);
	close(msg.fd);
	return result;
}
