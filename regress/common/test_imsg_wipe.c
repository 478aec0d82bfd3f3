/*
 * imsg.c with the wipe flag: no copy of a secret stays in an imsgbuf's
 * buffers once the message is taken or sent.  Without the flag the same
 * steps leave copies behind, which shows the checks can see them.
 */

#include <sys/socket.h>

#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common.h"
#include "test.h"

/* the first longer than the second, so the append after the move does
 * not overwrite the moved half's old copy */
#define SECRET_A "first-secret-correct-horse-battery-staple-and-a-long-tail"
#define SECRET_B "second-secret-tr0ub4dor"
#define SPLIT_B	 (IMSG_HDR_SIZE + 4 + 10) /* ten bytes of it come first */

/*
 * Freed memory cannot be inspected, so this program provides the
 * freezero() that imsg.c calls and notes whether a buffer it was given
 * held a secret: the flag must send every such buffer through it.
 */
static int freezero_saw_secret;

static int
holds_n(const void *buf, size_t len, const char *secret, size_t n)
{
	return memmem(buf, len, secret, n) != NULL;
}

static int
holds(const void *buf, size_t len, const char *secret)
{
	return holds_n(buf, len, secret, strlen(secret));
}

void
freezero(void *p, size_t len)
{
	if (p == NULL)
		return;
	if (holds_n(p, len, SECRET_A, 10) || holds_n(p, len, SECRET_B, 10))
		freezero_saw_secret = 1;
	explicit_bzero(p, len);
	free(p);
}

static void
message(struct msg_writer *w, uint32_t type, const char *secret)
{
	msg_writer_init(w);
	msg_put_u32(w, type);
	msg_put_u32(w, (uint32_t)(IMSG_HDR_SIZE + 4 + strlen(secret)));
	msg_put_u32(w, 0);
	msg_put_u32(w, 0);
	msg_put_str(w, secret);
}

static int
rbuf_holds(const struct imsgbuf *ibuf, const char *secret)
{
	return ibuf->rbuf != NULL && holds(ibuf->rbuf, ibuf->rcap, secret);
}

/*
 * A whole message and half of the next arrive in one read; the rest of
 * the second comes later, so the read that follows moves the half to the
 * front of the buffer.
 */
static void
test_read(int wipe)
{
	struct imsgbuf ibuf;
	struct imsg imsg;
	struct msg_writer a, b;
	const char *name;
	int sv[2], n;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		CHECK("socketpair", 0);
		return;
	}
	message(&a, IMSG_CTL_USER_ADD, SECRET_A);
	message(&b, IMSG_CTL_USER_PASSWD, SECRET_B);
	imsgbuf_init(&ibuf, sv[1], IMSG_CTL_MAX_SIZE);
	ibuf.wipe = wipe;

	n = write(sv[0], a.buf, a.len) == (ssize_t)a.len &&
	    write(sv[0], b.buf, SPLIT_B) == SPLIT_B;
	CHECK(wipe ? "wipe: first write" : "keep: first write", n);
	CHECK(wipe ? "wipe: first read" : "keep: first read",
	    imsgbuf_read(&ibuf) == 1);
	n = imsgbuf_get(&ibuf, &imsg);
	CHECK(wipe ? "wipe: first message" : "keep: first message",
	    n == 1 && imsg.datalen == 4 + strlen(SECRET_A));
	if (n == 1) {
		explicit_bzero(imsg.data, imsg.datalen);
		imsg_free(&imsg);
	}
	CHECK(wipe ? "wipe: second not yet whole"
		   : "keep: second not yet whole",
	    imsgbuf_get(&ibuf, &imsg) == 0);
	name = wipe ? "wipe: taken message gone from rbuf"
		    : "keep: taken message stays in rbuf";
	CHECK(name, rbuf_holds(&ibuf, SECRET_A) == !wipe);

	n = write(sv[0], b.buf + SPLIT_B, b.len - SPLIT_B) ==
	    (ssize_t)(b.len - SPLIT_B);
	CHECK(wipe ? "wipe: second write" : "keep: second write", n);
	CHECK(wipe ? "wipe: second read" : "keep: second read",
	    imsgbuf_read(&ibuf) == 1);
	n = imsgbuf_get(&ibuf, &imsg);
	CHECK(wipe ? "wipe: second message" : "keep: second message",
	    n == 1 && imsg.datalen == 4 + strlen(SECRET_B));
	if (n == 1) {
		explicit_bzero(imsg.data, imsg.datalen);
		imsg_free(&imsg);
	}
	/* the half that was moved left its old copy behind, unless wiped */
	name = wipe ? "wipe: nothing of the second left in rbuf"
		    : "keep: the second's moved half stays in rbuf";
	CHECK(name, holds_n(ibuf.rbuf, ibuf.rcap, SECRET_B, 10) == !wipe);
	if (wipe)
		CHECK("wipe: first still gone", !rbuf_holds(&ibuf, SECRET_A));

	freezero_saw_secret = 0;
	imsgbuf_clear(&ibuf);
	msg_writer_free(&a);
	msg_writer_free(&b);
	close(sv[0]);
	close(sv[1]);
}

/* a partial read then clear: the unfinished message goes through freezero */
static void
test_clear(void)
{
	struct imsgbuf ibuf;
	struct msg_writer a;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		CHECK("socketpair", 0);
		return;
	}
	message(&a, IMSG_CTL_USER_ADD, SECRET_A);
	imsgbuf_init(&ibuf, sv[1], IMSG_CTL_MAX_SIZE);
	ibuf.wipe = 1;
	CHECK("clear: write", write(sv[0], a.buf, a.len - 1) ==
				  (ssize_t)(a.len - 1));
	CHECK("clear: read", imsgbuf_read(&ibuf) == 1);
	freezero_saw_secret = 0;
	imsgbuf_clear(&ibuf);
	CHECK("clear: the unread message was wiped", freezero_saw_secret);
	msg_writer_free(&a);
	close(sv[0]);
	close(sv[1]);
}

/* what goes out: wiped when sent, and when dropped unsent */
static void
test_write(int wipe)
{
	struct imsgbuf ibuf;
	struct msg_writer w;
	char buf[512];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		CHECK("socketpair", 0);
		return;
	}
	imsgbuf_init(&ibuf, sv[0], IMSG_MAX_SIZE);
	ibuf.wipe = wipe;
	msg_writer_init(&w);
	msg_put_str(&w, SECRET_A);
	CHECK(wipe ? "wipe: compose" : "keep: compose",
	    imsgbuf_compose(&ibuf, IMSG_CTL_USER_ADD, 0, -1, w.buf, w.len) ==
		0);
	freezero_saw_secret = 0;
	CHECK(wipe ? "wipe: flush" : "keep: flush", imsgbuf_flush(&ibuf) == 1);
	CHECK(wipe ? "wipe: the sent buffer was wiped"
		   : "keep: the sent buffer was only freed",
	    freezero_saw_secret == wipe);
	CHECK(wipe ? "wipe: it arrived" : "keep: it arrived",
	    read(sv[1], buf, sizeof(buf)) == (ssize_t)(IMSG_HDR_SIZE + w.len));

	imsgbuf_compose(&ibuf, IMSG_CTL_USER_PASSWD, 0, -1, w.buf, w.len);
	freezero_saw_secret = 0;
	imsgbuf_clear(&ibuf);
	CHECK(wipe ? "wipe: the unsent buffer was wiped"
		   : "keep: the unsent buffer was only freed",
	    freezero_saw_secret == wipe);
	explicit_bzero(w.buf, w.len);
	msg_writer_free(&w);
	close(sv[0]);
	close(sv[1]);
}

/* a writer that holds a secret: its old buffer as it grows, then its last */
static void
test_writer(int wipe)
{
	struct msg_writer w;
	char pad[300];

	msg_writer_init(&w);
	w.wipe = wipe;
	msg_put_str(&w, SECRET_A);
	memset(pad, 'x', sizeof(pad));
	freezero_saw_secret = 0;
	msg_put_data(&w, pad, sizeof(pad));
	CHECK(wipe ? "writer wipe: grown" : "writer keep: grown",
	    !w.error && w.len == 4 + strlen(SECRET_A) + sizeof(pad) &&
		holds(w.buf, w.len, SECRET_A));
	CHECK(wipe ? "writer wipe: the outgrown buffer was wiped"
		   : "writer keep: the outgrown buffer was only freed",
	    freezero_saw_secret == wipe);
	freezero_saw_secret = 0;
	if (!wipe)
		explicit_bzero(w.buf, w.len);
	msg_writer_free(&w);
	CHECK(wipe ? "writer wipe: freed wiped" : "writer keep: freed plainly",
	    freezero_saw_secret == wipe);
}

static int handled;

static void
handler(struct imsgev *iev, struct imsg *imsg)
{
	handled = imsg->datalen == 4 + strlen(SECRET_B) &&
	    holds(imsg->data, imsg->datalen, SECRET_B);
}

/* on an imsgev, the payload a handler saw is wiped once it returns */
static void
test_imsgev(int wipe)
{
	struct event_base *base;
	struct imsgev iev;
	struct msg_writer b;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    (base = event_base_new()) == NULL) {
		CHECK("socketpair", 0);
		return;
	}
	memset(&iev, 0, sizeof(iev));
	imsgev_init(&iev, base, sv[1], IMSG_MAX_SIZE, handler, NULL);
	iev.ibuf.wipe = wipe;
	message(&b, IMSG_CONF_TLS, SECRET_B);
	CHECK(wipe ? "imsgev wipe: write" : "imsgev keep: write",
	    write(sv[0], b.buf, b.len) == (ssize_t)b.len);
	handled = 0;
	freezero_saw_secret = 0;
	event_base_loop(base, EVLOOP_ONCE);
	CHECK(wipe ? "imsgev wipe: handled" : "imsgev keep: handled", handled);
	CHECK(wipe ? "imsgev wipe: the payload was wiped"
		   : "imsgev keep: the payload was only freed",
	    freezero_saw_secret == wipe);
	imsgev_clear(&iev);
	event_base_free(base);
	msg_writer_free(&b);
	close(sv[0]);
}

int
main(void)
{
	test_read(0);
	test_read(1);
	test_clear();
	test_write(0);
	test_write(1);
	test_writer(0);
	test_writer(1);
	test_imsgev(0);
	test_imsgev(1);
	TEST_EXIT();
}
