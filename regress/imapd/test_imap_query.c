/*
 * imapd/imap_query.c over a real Maildir: the answers of SEARCH, SORT and
 * THREAD as the client reads them, the header cache answering when the
 * files are gone, a long search done in slices on the event loop, and a
 * session that goes in the middle of one.
 */

#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "boxd.h"
#include "store_test.h"
#include "test.h"

#define BOX "example.test/carol"

static struct child test_child;

static void
cb_expunge(void *arg, uint32_t seq, uint32_t uid)
{
}

static void
cb_flags(void *arg, uint32_t seq, const struct mail_msg *m)
{
}

static void
cb_exists(void *arg, uint32_t count, uint32_t recent)
{
}

static const struct mailbox_view_ops ops = {
    .expunge = cb_expunge, .flags = cb_flags, .exists = cb_exists};

/* a selected session whose output stays in s->out */
struct test_session {
	struct imap_session s;
	struct imap_user user;
	struct imap_mbox mbox;
	int fds[2];
};

static int
session_open(struct test_session *t, struct mail_user *u)
{
	char err[128];

	memset(t, 0, sizeof(*t));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, t->fds) == -1)
		return -1;
	t->s.bev = bufferevent_socket_new(
	    test_child.base, t->fds[0], BEV_OPT_CLOSE_ON_FREE);
	if (t->s.bev == NULL)
		return -1;
	bufferevent_disable(t->s.bev, EV_READ | EV_WRITE);
	/* an output of its own, which the loop never sends */
	t->s.out = evbuffer_new();
	t->s.cmd = evbuffer_new();
	t->s.state = IMAP_SELECTED;
	strlcpy(t->user.mailbox, BOX, sizeof(t->user.mailbox));
	t->user.mu = u;
	t->s.user = &t->user;
	t->mbox.view =
	    mailbox_view_open(u, "INBOX", 0, &ops, t, err, sizeof(err));
	if (t->mbox.view == NULL) {
		printf("# %s\n", err);
		return -1;
	}
	strlcpy(t->mbox.name, "INBOX", sizeof(t->mbox.name));
	t->s.mbox = &t->mbox;
	return 0;
}

static void
session_close(struct test_session *t)
{
	imap_cmd_cleanup(&t->s);
	mailbox_view_close(t->mbox.view);
	free(t->mbox.saved);
	evbuffer_free(t->s.cmd);
	evbuffer_free(t->s.out);
	bufferevent_free(t->s.bev);
	close(t->fds[1]);
}

/* runs one command, on the event loop until it is done; its output */
static const char *
run(struct test_session *t, const char *line)
{
	static char out[65536];
	struct imap_command cmd;
	char err[128];
	size_t n;
	int rv;

	evbuffer_drain(t->s.out, evbuffer_get_length(t->s.out));
	memset(&cmd, 0, sizeof(cmd));
	if (imap_command_parse(&cmd, line, strlen(line), err, sizeof(err)) ==
	    -1) {
		snprintf(out, sizeof(out), "parse: %s", err);
		imap_command_free(&cmd);
		return out;
	}
	strlcpy(t->s.tag, cmd.tag, sizeof(t->s.tag));
	if (strcmp(cmd.name, "SEARCH") == 0)
		imap_cmd_search(&t->s, &cmd);
	else if (strcmp(cmd.name, "SORT") == 0)
		imap_cmd_sort(&t->s, &cmd);
	else
		imap_cmd_thread(&t->s, &cmd);
	imap_command_free(&cmd);
	if (!t->s.busy)
		imap_cmd_cleanup(&t->s);
	while (t->s.busy)
		if ((rv = event_base_loop(test_child.base, EVLOOP_ONCE)) != 0)
			break;
	n = evbuffer_get_length(t->s.out);
	if (n >= sizeof(out))
		n = sizeof(out) - 1;
	evbuffer_copyout(t->s.out, out, n);
	out[n] = '\0';
	return out;
}

/* the command's output is want; what it was when not */
static int
answers(struct test_session *t, const char *line, const char *want)
{
	const char *got = run(t, line);

	if (strcmp(got, want) == 0)
		return 1;
	printf("# %s\n# got: %s", line, got);
	return 0;
}

static void
message(int i, const char *subject, const char *from, const char *body)
{
	char name[64], text[8192];

	snprintf(name, sizeof(name), "%d.M%dP1.test:2,", 1600000000 + i, i);
	snprintf(text, sizeof(text),
	    "From: %s\r\nTo: carol@example.test\r\nSubject: %s\r\n"
	    "Message-ID: <m%d@test>\r\nDate: %d Jan 2021 10:00:00 +0000\r\n"
	    "\r\n%s",
	    from, subject, i, 1 + i % 28, body);
	store_file(BOX, "cur", name, text);
}

static void
unlink_all(void)
{
	char cmd[PATH_MAX * 3];

	snprintf(cmd, sizeof(cmd), "rm -f %s/*", store_path("%s/cur", BOX));
	if (system(cmd) != 0)
		printf("# rm failed\n");
}

static void
test_answers(struct mail_user *u)
{
	struct test_session t;

	CHECK("session", session_open(&t, u) == 0);
	CHECK("search",
	    answers(&t, "a SEARCH SUBJECT apple",
		"* SEARCH 1 3\r\na OK SEARCH completed\r\n"));
	CHECK("uid search",
	    answers(&t, "b UID SEARCH NOT SUBJECT apple",
		"* SEARCH 2 4\r\nb OK UID SEARCH completed\r\n"));
	CHECK("esearch",
	    answers(&t, "c SEARCH RETURN (MIN MAX COUNT ALL) ALL",
		"* ESEARCH (TAG \"c\") MIN 1 MAX 4 COUNT 4 ALL 1:4\r\n"
		"c OK SEARCH completed\r\n"));
	CHECK("esearch empty",
	    answers(&t, "d SEARCH RETURN (MIN COUNT) SUBJECT nope",
		"* ESEARCH (TAG \"d\") COUNT 0\r\nd OK SEARCH completed\r\n"));
	CHECK("save alone",
	    answers(&t, "e SEARCH RETURN (SAVE) FROM banana",
		"e OK SEARCH completed\r\n"));
	CHECK("saved uids",
	    t.mbox.nsaved == 2 && t.mbox.saved[0] == 2 && t.mbox.saved[1] == 4);
	CHECK("dollar",
	    answers(&t, "f SEARCH $ SUBJECT cherry",
		"* SEARCH 4\r\nf OK SEARCH completed\r\n"));
	CHECK("bad save empties",
	    strncmp(run(&t, "g SEARCH RETURN (SAVE) NOSUCHKEY"), "g BAD", 5) ==
		    0 &&
		t.mbox.nsaved == 0);
	CHECK("badcharset",
	    answers(&t, "h SEARCH CHARSET X-NO-SUCH ALL",
		"h NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n"));
	CHECK("sort",
	    answers(&t, "i SORT (REVERSE SUBJECT) UTF-8 ALL",
		"* SORT 4 2 1 3\r\ni OK SORT completed\r\n"));
	CHECK("thread",
	    answers(&t, "j THREAD ORDEREDSUBJECT UTF-8 ALL",
		"* THREAD (1 3)(2)(4)\r\nj OK THREAD completed\r\n"));
	CHECK("thread empty",
	    answers(&t, "k THREAD REFERENCES UTF-8 SUBJECT nope",
		"* THREAD\r\nk OK THREAD completed\r\n"));
	t.s.rev2 = 1;
	CHECK("rev2",
	    answers(&t, "l UID SEARCH SUBJECT apple",
		"* ESEARCH (TAG \"l\") UID ALL 1,3\r\n"
		"l OK UID SEARCH completed\r\n"));
	t.s.rev2 = 0;

	/* the files gone behind the store's back: the cache still answers */
	unlink_all();
	CHECK("cached subject",
	    answers(&t, "m SEARCH SUBJECT apple",
		"* SEARCH 1 3\r\nm OK SEARCH completed\r\n"));
	CHECK("cached from",
	    answers(&t, "n SORT (FROM) UTF-8 ALL",
		"* SORT 1 2 3 4\r\nn OK SORT completed\r\n"));
	CHECK("bodies are not cached",
	    answers(&t, "o SEARCH BODY pie",
		"* SEARCH\r\no OK SEARCH completed\r\n"));
	session_close(&t);
}

#define LARGE 3000

static void
test_slices(struct mail_user *u)
{
	struct test_session t;
	struct imap_command cmd;
	char line[8192], err[128], expect[256], *got;
	int i, fds = test_open_fds();

	for (i = 1; i <= LARGE; i++)
		message(i + 100, i % 1000 == 0 ? "thousand" : "other",
		    "x@x.test",
		    i == LARGE ? "the very last\r\n"
			       : "a body of some words to search\r\n");
	CHECK("session", session_open(&t, u) == 0);
	/* three hundred text keys make every message dear: it goes in slices */
	strlcpy(line, "a SEARCH", sizeof(line));
	for (i = 0; i < 300; i++)
		strlcat(line, " NOT TEXT nowhere", sizeof(line));
	strlcat(line, " TEXT very", sizeof(line));
	snprintf(expect, sizeof(expect),
	    "* SEARCH %d\r\na OK SEARCH completed\r\n", LARGE);
	memset(&cmd, 0, sizeof(cmd));
	CHECK("parse",
	    imap_command_parse(&cmd, line, strlen(line), err, sizeof(err)) ==
		0);
	strlcpy(t.s.tag, cmd.tag, sizeof(t.s.tag));
	imap_cmd_search(&t.s, &cmd);
	imap_command_free(&cmd);
	CHECK("sliced", t.s.busy == 1);
	while (t.s.busy)
		if (event_base_loop(test_child.base, EVLOOP_ONCE) != 0)
			break;
	evbuffer_add(t.s.out, "", 1);
	got = (char *)evbuffer_pullup(t.s.out, -1);
	if (strcmp(got, expect) != 0)
		printf("# got: %s", got);
	CHECK("sliced answer", strcmp(got, expect) == 0);
	CHECK("warm",
	    answers(&t, "b SEARCH SUBJECT thousand",
		"* SEARCH 1000 2000 3000\r\n"
		"b OK SEARCH completed\r\n"));

	/* a session that goes in the middle of a long search */
	memset(&cmd, 0, sizeof(cmd));
	line[0] = 'c';
	CHECK("parse again",
	    imap_command_parse(&cmd, line, strlen(line), err, sizeof(err)) ==
		0);
	strlcpy(t.s.tag, cmd.tag, sizeof(t.s.tag));
	imap_cmd_search(&t.s, &cmd);
	imap_command_free(&cmd);
	CHECK("busy again", t.s.busy == 1);
	session_close(&t);
	CHECK("no fd left", fds == -1 || test_open_fds() == fds);
	CHECK("loop quiet",
	    event_base_loop(test_child.base, EVLOOP_NONBLOCK) == 1);
}

int
main(void)
{
	struct mail_user *u;

	/* the shared helpers this test has no use for */
	(void)store_deliver;
	(void)store_exists;
	(void)store_read;
	(void)store_write;
	if ((test_child.base = event_base_new()) == NULL)
		return 1;
	child = &test_child;
	mailbox_init(NULL, NULL);
	store_setup();
	store_maildir(BOX);
	message(1, "apple pie", "Anna <anna@a.test>", "pie\r\n");
	message(2, "banana split", "Bert <bert@banana.test>", "split\r\n");
	message(3, "Re: apple pie", "Cleo <cleo@c.test>", "more pie\r\n");
	message(4, "cherry", "Dan <dan@banana.test>", "red\r\n");
	CHECK("user", (u = mail_user_get(store_rootfd, BOX, 0)) != NULL);
	test_answers(u);
	test_slices(u);
	mail_user_put(u);
	store_teardown();
	TEST_EXIT();
}
