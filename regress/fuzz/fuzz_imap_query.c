/*
 * SEARCH, SORT and THREAD as a session runs them, on arbitrary octets:
 * the input's first line is a command after "a " (say "UID SEARCH
 * CHARSET KOI8-R SUBJECT x" or "THREAD REFERENCES UTF-8 ALL"), the rest
 * a message, delivered to a real Maildir beside a few fixed ones before
 * the command runs.  Every command must end in one tagged answer.
 */

#include <sys/socket.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "boxd.h"
#include "imapd.h"

#define BOX	    "fuzz.test/query"
#define MESSAGE_MAX (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const fixed[] = {
    "From: =?utf-8?q?Andr=C3=A9?= <a@a.test>\r\nSubject: Re: hello\r\n"
    "Date: 1 Jan 2020 00:00:00 +0000\r\nMessage-ID: <1@a>\r\n\r\nbody\r\n",
    "From: b@b.test\r\nTo: a@a.test\r\nSubject: hello\r\n"
    "References: <1@a>\r\nMessage-ID: <2@b>\r\n\r\n=E9t=E9\r\n",
    "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--x--\r\n",
};

static struct child fuzz_child;
static struct imap_session session;
static struct imap_user user;
static struct imap_mbox mbox;
static char root[64], maildir[256], last[512];
static unsigned int counter;

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

static void
put(const char *path, const void *data, size_t len)
{
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		abort();
	if (len > 0 && write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return remove(path) == -1 ? -1 : 0;
}

/* the Maildir goes with the fuzzer */
static void
cleanup(void)
{
	(void)nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
setup(void)
{
	static const char *const sub[] = {"", "/cur", "/new", "/tmp"};
	struct mail_user *u;
	char path[512], err[128];
	size_t i;
	int rootfd, fds[2];

	if ((fuzz_child.base = event_base_new()) == NULL)
		abort();
	child = &fuzz_child;
	snprintf(root, sizeof(root), "/tmp/boxd-fuzz-query.XXXXXX");
	if (mkdtemp(root) == NULL)
		abort();
	atexit(cleanup);
	snprintf(maildir, sizeof(maildir), "%s/%s", root, BOX);
	if (mkdir_p(maildir, 0700) == -1)
		abort();
	for (i = 1; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", maildir, sub[i]);
		if (mkdir(path, 0700) == -1)
			abort();
	}
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		snprintf(path, sizeof(path), "%s/cur/100%zu.M1P1.fuzz:2,S",
		    maildir, i);
		put(path, fixed[i], strlen(fixed[i]));
	}
	mailbox_init(NULL, NULL);
	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY)) == -1 ||
	    (u = mail_user_get(rootfd, BOX, 0)) == NULL)
		abort();
	/* a connection that is never read: a long search ends in a read */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == -1 ||
	    (session.bev = bufferevent_socket_new(
		 fuzz_child.base, fds[0], BEV_OPT_CLOSE_ON_FREE)) == NULL)
		abort();
	session.out = evbuffer_new();
	session.cmd = evbuffer_new();
	session.state = IMAP_SELECTED;
	strlcpy(user.mailbox, BOX, sizeof(user.mailbox));
	user.mu = u;
	session.user = &user;
	mbox.view =
	    mailbox_view_open(u, "INBOX", 0, &ops, NULL, err, sizeof(err));
	if (mbox.view == NULL || session.out == NULL || session.cmd == NULL)
		abort();
	strlcpy(mbox.name, "INBOX", sizeof(mbox.name));
	session.mbox = &mbox;
}

/* the one message of this input, in place of the last one */
static void
deliver(const uint8_t *data, size_t size)
{
	if (last[0] != '\0')
		unlink(last);
	snprintf(last, sizeof(last), "%s/cur/%u.M2P1.fuzz:2,", maildir,
	    2000000 + ++counter);
	put(last, data, size);
	mailbox_view_sync(mbox.view);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_command cmd;
	const uint8_t *nl;
	size_t linelen, n;
	char *line, err[128];
	const char *out, *tagged;

	if (session.out == NULL)
		setup();
	if ((nl = memchr(data, '\n', size)) == NULL)
		nl = data + size;
	linelen = nl - data;
	if (linelen > IMAP_LINE_MAX || size - linelen > MESSAGE_MAX)
		return 0;
	deliver(nl < data + size ? nl + 1 : nl,
	    size - linelen - (nl < data + size));
	if ((line = malloc(linelen + 2)) == NULL)
		return 0;
	memcpy(line, "a ", 2);
	memcpy(line + 2, data, linelen);
	memset(&cmd, 0, sizeof(cmd));
	if (imap_command_parse(&cmd, line, linelen + 2, err, sizeof(err)) ==
	    0) {
		strlcpy(session.tag, cmd.tag, sizeof(session.tag));
		if (strcmp(cmd.name, "SEARCH") == 0)
			imap_cmd_search(&session, &cmd);
		else if (strcmp(cmd.name, "SORT") == 0)
			imap_cmd_sort(&session, &cmd);
		else if (strcmp(cmd.name, "THREAD") == 0)
			imap_cmd_thread(&session, &cmd);
		else {
			imap_command_free(&cmd);
			free(line);
			return 0;
		}
		if (!session.busy)
			imap_cmd_cleanup(&session);
		while (session.busy)
			if (event_base_loop(fuzz_child.base, EVLOOP_ONCE) != 0)
				abort();
		/* one tagged answer, the last line */
		n = evbuffer_get_length(session.out);
		if (evbuffer_add(session.out, "", 1) == -1)
			abort();
		out = (const char *)evbuffer_pullup(session.out, -1);
		if (n < 2 || out[n - 2] != '\r' || out[n - 1] != '\n')
			abort();
		tagged = out;
		while ((nl = (const uint8_t *)memmem(
			    tagged, out + n - tagged, "\r\n", 2)) != NULL &&
		    (const char *)nl + 2 < out + n)
			tagged = (const char *)nl + 2;
		if (strncmp(tagged, "a OK ", 5) != 0 &&
		    strncmp(tagged, "a NO ", 5) != 0 &&
		    strncmp(tagged, "a BAD ", 6) != 0)
			abort();
		evbuffer_drain(session.out, evbuffer_get_length(session.out));
	}
	imap_command_free(&cmd);
	free(line);
	return 0;
}
