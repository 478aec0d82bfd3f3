/*
 * msg.c and imsg.c: marshalling round trips and refusals, then imsgbufs
 * over a socketpair: framing, fd passing, malformed headers, partial
 * messages and partial writes, lost and stray fds; then imsgev in a
 * forked process, to see which errors kill it and what it says.
 */

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common.h"
#include "test.h"

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* an imsg header as the wire carries it */
static void
raw_header(uint8_t *p, uint32_t type, uint32_t len, uint32_t flags,
    uint32_t peerid)
{
	put_be32(p, type);
	put_be32(p + 4, len);
	put_be32(p + 8, flags);
	put_be32(p + 12, peerid);
}

/* a number no type has */
#define UNKNOWN_TYPE 0xfff0

static int
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static void
test_msg_round_trip(void)
{
	struct msg_writer w;
	struct msg_reader r;
	uint8_t		 u8;
	uint32_t	 u32;
	uint64_t	 u64;
	char		 data[4], str[32], *dup;

	msg_writer_init(&w);
	msg_put_u8(&w, 0xab);
	msg_put_u32(&w, 0x01020304);
	msg_put_u64(&w, 0x1122334455667788ULL);
	msg_put_data(&w, "wxyz", 4);
	msg_put_str(&w, "hello");
	msg_put_str(&w, "");
	msg_put_str(&w, "dup me");
	CHECK("msg writer ok", w.error == 0 &&
	    w.len == 1 + 4 + 8 + 4 + 9 + 4 + 10);
	CHECK("msg u32 big-endian", w.len > 5 && w.buf[1] == 1 &&
	    w.buf[2] == 2 && w.buf[3] == 3 && w.buf[4] == 4);

	msg_reader_init(&r, w.buf, w.len);
	CHECK("msg get u8", msg_get_u8(&r, &u8) == 0 && u8 == 0xab);
	CHECK("msg get u32", msg_get_u32(&r, &u32) == 0 &&
	    u32 == 0x01020304);
	CHECK("msg get u64", msg_get_u64(&r, &u64) == 0 &&
	    u64 == 0x1122334455667788ULL);
	CHECK("msg get data", msg_get_data(&r, data, 4) == 0 &&
	    memcmp(data, "wxyz", 4) == 0);
	CHECK("msg get str", msg_get_str(&r, str, sizeof(str)) == 0 &&
	    strcmp(str, "hello") == 0);
	CHECK("msg get empty str", msg_get_str(&r, str, sizeof(str)) == 0 &&
	    str[0] == '\0');
	CHECK("msg get strdup", msg_get_strdup(&r, &dup, 100) == 0 &&
	    dup != NULL && strcmp(dup, "dup me") == 0);
	free(dup);
	CHECK("msg end", msg_get_end(&r) == 0);
	CHECK("msg read past end", msg_get_u8(&r, &u8) == -1);
	CHECK("msg end after failure", msg_get_end(&r) == -1);
	msg_writer_free(&w);
	CHECK("msg writer freed", w.buf == NULL && w.len == 0);

	/* an empty writer reads back as nothing */
	msg_writer_init(&w);
	msg_reader_init(&r, w.buf, w.len);
	CHECK("msg empty end", msg_get_end(&r) == 0);
	msg_reader_init(&r, NULL, 100);
	CHECK("msg NULL reader", msg_get_u8(&r, &u8) == -1);
	msg_writer_free(&w);

	/* values at the edges */
	msg_writer_init(&w);
	msg_put_u32(&w, UINT32_MAX);
	msg_put_u64(&w, UINT64_MAX);
	msg_put_u64(&w, 0);
	msg_reader_init(&r, w.buf, w.len);
	CHECK("msg u32 max", msg_get_u32(&r, &u32) == 0 &&
	    u32 == UINT32_MAX);
	CHECK("msg u64 max", msg_get_u64(&r, &u64) == 0 &&
	    u64 == UINT64_MAX);
	CHECK("msg u64 zero", msg_get_u64(&r, &u64) == 0 && u64 == 0 &&
	    msg_get_end(&r) == 0);
	msg_writer_free(&w);
}

static void
test_msg_refusals(void)
{
	struct msg_writer w;
	struct msg_reader r;
	static const uint8_t three[3] = { 1, 2, 3 };
	static const uint8_t five[5] = { 0, 0, 0, 1, 9 };
	static const uint8_t huge[8] = { 0xff, 0xff, 0xff, 0xff, 'a', 'b',
	    'c', 'd' };
	static const uint8_t nul[7] = { 0, 0, 0, 3, 'a', 0, 'b' };
	static const uint8_t nul_end[7] = { 0, 0, 0, 3, 'a', 'b', 0 };
	static const uint8_t over[9] = { 0, 0, 0, 100, 'a', 'b', 'c', 'd',
	    'e' };
	uint8_t		 u8;
	uint32_t	 u32;
	uint64_t	 u64;
	char		 str[4], *dup;

	msg_reader_init(&r, three, sizeof(three));
	CHECK("msg short u32", msg_get_u32(&r, &u32) == -1);
	CHECK("msg error sticks", msg_get_u8(&r, &u8) == -1);
	msg_reader_init(&r, three, sizeof(three));
	CHECK("msg short u64", msg_get_u64(&r, &u64) == -1);
	msg_reader_init(&r, three, sizeof(three));
	CHECK("msg short data", msg_get_data(&r, str, 4) == -1);

	msg_reader_init(&r, five, sizeof(five));
	CHECK("msg trailing read", msg_get_u32(&r, &u32) == 0 && u32 == 1);
	CHECK("msg trailing byte", msg_get_end(&r) == -1);

	msg_reader_init(&r, five, sizeof(five));
	CHECK("msg str 1", msg_get_str(&r, str, sizeof(str)) == 0 &&
	    strcmp(str, "\x09") == 0 && msg_get_end(&r) == 0);

	msg_reader_init(&r, huge, sizeof(huge));
	CHECK("msg str length past end", msg_get_str(&r, str,
	    sizeof(str)) == -1);
	msg_reader_init(&r, huge, sizeof(huge));
	CHECK("msg strdup length past end", msg_get_strdup(&r, &dup,
	    SIZE_MAX) == -1 && dup == NULL);
	msg_reader_init(&r, over, sizeof(over));
	CHECK("msg str claims 100", msg_get_str(&r, str, sizeof(str)) == -1);

	msg_reader_init(&r, nul, sizeof(nul));
	CHECK("msg str embedded NUL", msg_get_str(&r, str, sizeof(str)) ==
	    -1);
	msg_reader_init(&r, nul_end, sizeof(nul_end));
	CHECK("msg str trailing NUL", msg_get_str(&r, str, sizeof(str)) ==
	    -1);
	msg_reader_init(&r, nul, sizeof(nul));
	CHECK("msg strdup embedded NUL", msg_get_strdup(&r, &dup, 100) ==
	    -1 && dup == NULL);

	msg_writer_init(&w);
	msg_put_str(&w, "abcd");
	msg_reader_init(&r, w.buf, w.len);
	CHECK("msg str too long", msg_get_str(&r, str, sizeof(str)) == -1);
	msg_reader_init(&r, w.buf, w.len);
	CHECK("msg str zero buffer", msg_get_str(&r, str, 0) == -1);
	msg_reader_init(&r, w.buf, w.len);
	CHECK("msg strdup over max", msg_get_strdup(&r, &dup, 3) == -1 &&
	    dup == NULL);
	msg_reader_init(&r, w.buf, w.len);
	CHECK("msg strdup at max", msg_get_strdup(&r, &dup, 4) == 0 &&
	    strcmp(dup, "abcd") == 0);
	free(dup);
	msg_writer_free(&w);

	msg_writer_init(&w);
	msg_put_str(&w, "abc");
	msg_reader_init(&r, w.buf, w.len);
	CHECK("msg str fits", msg_get_str(&r, str, sizeof(str)) == 0 &&
	    strcmp(str, "abc") == 0);
	msg_writer_free(&w);

	/* a writer refuses absurd sizes and then stays failed */
	msg_writer_init(&w);
	msg_put_data(&w, "x", SIZE_MAX);
	CHECK("msg writer huge", w.error != 0);
	msg_put_u8(&w, 1);
	CHECK("msg writer error sticks", w.error != 0 && w.len == 0);
	msg_writer_free(&w);
}

/* a connected pair of imsgbufs, both ends nonblocking */
static int
pair_open(struct imsgbuf *a, struct imsgbuf *b, size_t maxsize)
{
	int	 sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return -1;
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		return -1;
	imsgbuf_init(a, sv[0], maxsize);
	imsgbuf_init(b, sv[1], maxsize);
	return 0;
}

static void
pair_close(struct imsgbuf *a, struct imsgbuf *b)
{
	imsgbuf_clear(a);
	imsgbuf_clear(b);
	close(a->fd);
	close(b->fd);
}

/* read and get until one imsg arrives or nothing more can come */
static int
receive(struct imsgbuf *ibuf, struct imsg *imsg)
{
	int	 i, n;

	for (i = 0; i < 1000; i++) {
		if ((n = imsgbuf_get(ibuf, imsg)) != 0)
			return n;
		n = imsgbuf_read(ibuf);
		if (n == 0)
			return 0;
		if (n == -1 && errno != EAGAIN)
			return -1;
		if (n == -1)
			return 0;
	}
	return 0;
}

static void
test_imsg_round_trip(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	int		 ok;

	if (pair_open(&a, &b, IMSG_MAX_SIZE) == -1) {
		CHECK("imsg socketpair", 0);
		return;
	}
	CHECK("imsg compose", imsgbuf_compose(&a, IMSG_CONF_END, 7, -1,
	    "hello", 5) == 0 && a.outlen == IMSG_HDR_SIZE + 5);
	CHECK("imsg get before read", imsgbuf_get(&b, &imsg) == 0);
	CHECK("imsg flush", imsgbuf_flush(&a) == 1 && a.outlen == 0 &&
	    TAILQ_EMPTY(&a.outq));
	CHECK("imsg read", imsgbuf_read(&b) == 1);
	ok = imsgbuf_get(&b, &imsg) == 1;
	CHECK("imsg get", ok);
	if (ok) {
		CHECK("imsg type", imsg.hdr.type == IMSG_CONF_END);
		CHECK("imsg peerid", imsg.hdr.peerid == 7);
		CHECK("imsg len", imsg.hdr.len == IMSG_HDR_SIZE + 5);
		CHECK("imsg flags", imsg.hdr.flags == 0);
		CHECK("imsg no fd", imsg.fd == -1);
		CHECK("imsg data", imsg.datalen == 5 &&
		    memcmp(imsg.data, "hello", 5) == 0);
		imsg_free(&imsg);
		CHECK("imsg freed", imsg.data == NULL && imsg.fd == -1);
	}
	CHECK("imsg nothing more", imsgbuf_get(&b, &imsg) == 0);
	CHECK("imsg read EAGAIN", imsgbuf_read(&b) == -1 && errno == EAGAIN);

	/* several in one flush, an empty one among them, in order */
	imsgbuf_compose(&a, IMSG_STATS_REQ, 1, -1, NULL, 0);
	imsgbuf_compose(&a, IMSG_CTL_LINE, 2, -1, "two", 3);
	imsgbuf_compose(&a, IMSG_CTL_OK, 3, -1, "", 0);
	CHECK("imsg flush three", imsgbuf_flush(&a) == 1);
	ok = receive(&b, &imsg) == 1 && imsg.hdr.type == IMSG_STATS_REQ &&
	    imsg.hdr.peerid == 1 && imsg.datalen == 0 && imsg.data == NULL;
	CHECK("imsg first of three", ok);
	imsg_free(&imsg);
	ok = receive(&b, &imsg) == 1 && imsg.hdr.type == IMSG_CTL_LINE &&
	    imsg.datalen == 3 && memcmp(imsg.data, "two", 3) == 0;
	CHECK("imsg second of three", ok);
	imsg_free(&imsg);
	ok = receive(&b, &imsg) == 1 && imsg.hdr.type == IMSG_CTL_OK &&
	    imsg.hdr.peerid == 3 && imsg.datalen == 0;
	CHECK("imsg third of three", ok);
	imsg_free(&imsg);

	/* the other direction, on the same pair */
	imsgbuf_compose(&b, IMSG_PROC_READY, 0, -1, NULL, 0);
	imsgbuf_flush(&b);
	CHECK("imsg reverse", receive(&a, &imsg) == 1 &&
	    imsg.hdr.type == IMSG_PROC_READY);
	imsg_free(&imsg);

	/* EOF */
	close(a.fd);
	a.fd = -1;
	CHECK("imsg EOF", imsgbuf_read(&b) == 0);
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(b.fd);
}

static void
test_imsg_sizes(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	uint8_t		*big;
	size_t		 i, biglen = IMSG_MAX_SIZE - IMSG_HDR_SIZE;
	int		 n, flushed, ok;

	if ((big = malloc(biglen)) == NULL || pair_open(&a, &b, 1024) == -1) {
		CHECK("imsg sizes setup", 0);
		free(big);
		return;
	}
	errno = 0;
	CHECK("imsg compose over max", imsgbuf_compose(&a, IMSG_CTL_LINE, 0,
	    -1, "x", 1024 - IMSG_HDR_SIZE + 1) == -1 && errno == EMSGSIZE &&
	    TAILQ_EMPTY(&a.outq));
	for (i = 0; i < biglen; i++)
		big[i] = (uint8_t)(i * 7);
	CHECK("imsg compose at max", imsgbuf_compose(&a, IMSG_CTL_LINE, 0,
	    -1, big, 1024 - IMSG_HDR_SIZE) == 0 && imsgbuf_flush(&a) == 1);
	ok = receive(&b, &imsg) == 1 && imsg.datalen == 1024 - IMSG_HDR_SIZE &&
	    memcmp(imsg.data, big, imsg.datalen) == 0;
	CHECK("imsg receive at max", ok);
	imsg_free(&imsg);
	pair_close(&a, &b);

	/*
	 * The largest message there is, through a socket buffer smaller
	 * than it: flush returns 0 and resumes where it stopped.
	 */
	if (pair_open(&a, &b, IMSG_MAX_SIZE) == -1)
		return;
	n = 4096;
	setsockopt(a.fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof(n));
	setsockopt(b.fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
	imsgbuf_compose(&a, IMSG_CONF_START, 1, -1, "first", 5);
	CHECK("imsg compose largest", imsgbuf_compose(&a, IMSG_CONF_START, 2,
	    -1, big, biglen) == 0);
	imsgbuf_compose(&a, IMSG_CONF_END, 3, -1, "last", 4);
	flushed = 0;
	ok = 0;
	for (i = 0; i < 100000 && ok < 3; i++) {
		n = imsgbuf_flush(&a);
		if (n == -1)
			break;
		if (n == 0)
			flushed = 1;	/* it had to stop at least once */
		if (imsgbuf_read(&b) == -1 && errno != EAGAIN)
			break;
		while (imsgbuf_get(&b, &imsg) == 1) {
			if (ok == 0 && imsg.hdr.peerid == 1 &&
			    imsg.datalen == 5)
				ok = 1;
			else if (ok == 1 && imsg.hdr.peerid == 2 &&
			    imsg.datalen == biglen &&
			    memcmp(imsg.data, big, biglen) == 0)
				ok = 2;
			else if (ok == 2 && imsg.hdr.peerid == 3 &&
			    imsg.datalen == 4)
				ok = 3;
			else
				ok = -100;
			imsg_free(&imsg);
		}
	}
	CHECK("imsg partial writes", flushed);
	CHECK("imsg largest round trip", ok == 3 && a.outlen == 0);
	pair_close(&a, &b);

	/* a boxctl-sized buffer refuses what is fine between daemons */
	if (pair_open(&a, &b, IMSG_MAX_SIZE) == -1)
		return;
	imsgbuf_clear(&b);
	imsgbuf_init(&b, b.fd, IMSG_CTL_MAX_SIZE);
	imsgbuf_compose(&a, IMSG_CTL_LINE, 0, -1, big, IMSG_CTL_MAX_SIZE);
	for (i = 0; i < 100 && imsgbuf_flush(&a) == 0; i++)
		(void)imsgbuf_read(&b);
	(void)imsgbuf_read(&b);
	errno = 0;
	CHECK("imsg ctl over max", imsgbuf_get(&b, &imsg) == -1 &&
	    errno == EBADMSG);
	pair_close(&a, &b);
	free(big);
}

static void
test_imsg_fd(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	static uint8_t	 big[64 * 1024];
	char		 buf[8];
	size_t		 i;
	int		 p[2], q[2], ok, fd, n, got;

	if (pair_open(&a, &b, IMSG_MAX_SIZE) == -1 || pipe(p) == -1 ||
	    pipe(q) == -1)
		return;
	/* the read end of a pipe goes over; the write end stays here */
	CHECK("imsg compose fd", imsgbuf_compose(&a, IMSG_QUEUE_CREATE_OK,
	    9, p[0], "id", 2) == 0);
	CHECK("imsg flush fd", imsgbuf_flush(&a) == 1);
	CHECK("imsg sent fd closed", !fd_is_open(p[0]));
	ok = receive(&b, &imsg) == 1;
	CHECK("imsg get fd", ok);
	if (ok) {
		CHECK("imsg fd flag", imsg.hdr.flags == IMSG_FLAG_FD &&
		    imsg.fd != -1 && imsg.datalen == 2 &&
		    memcmp(imsg.data, "id", 2) == 0);
		CHECK("imsg fd cloexec", (fcntl(imsg.fd, F_GETFD) &
		    FD_CLOEXEC) != 0);
		CHECK("imsg fd works", write(p[1], "ping", 4) == 4 &&
		    read(imsg.fd, buf, sizeof(buf)) == 4 &&
		    memcmp(buf, "ping", 4) == 0);
		fd = imsg.fd;
		imsg_free(&imsg);
		CHECK("imsg_free closes fd", !fd_is_open(fd) &&
		    imsg.fd == -1);
	}
	close(p[1]);

	/* fds stay with their own messages among others */
	imsgbuf_compose(&a, IMSG_CTL_LINE, 1, -1, "a", 1);
	imsgbuf_compose(&a, IMSG_MDA_DELIVER, 2, q[0], "b", 1);
	imsgbuf_compose(&a, IMSG_CTL_LINE, 3, -1, "c", 1);
	CHECK("imsg flush mixed", imsgbuf_flush(&a) == 1);
	ok = receive(&b, &imsg) == 1 && imsg.hdr.peerid == 1 &&
	    imsg.fd == -1;
	CHECK("imsg mixed first", ok);
	imsg_free(&imsg);
	ok = receive(&b, &imsg) == 1 && imsg.hdr.peerid == 2 &&
	    imsg.fd != -1;
	CHECK("imsg mixed second", ok);
	if (ok)
		CHECK("imsg mixed fd works", write(q[1], "pong", 4) == 4 &&
		    read(imsg.fd, buf, sizeof(buf)) == 4 &&
		    memcmp(buf, "pong", 4) == 0);
	imsg_free(&imsg);
	ok = receive(&b, &imsg) == 1 && imsg.hdr.peerid == 3 &&
	    imsg.fd == -1;
	CHECK("imsg mixed third", ok);
	imsg_free(&imsg);
	close(q[1]);

	/* an fd read but never claimed is closed by imsgbuf_clear */
	if (pipe(p) == -1)
		return;
	imsgbuf_compose(&a, IMSG_MDA_DELIVER, 0, p[0], NULL, 0);
	imsgbuf_flush(&a);
	ok = imsgbuf_read(&b) == 1 && b.nfds == 1;
	CHECK("imsg fd queued", ok);
	if (ok) {
		fd = b.fds[0].fd;
		imsgbuf_clear(&b);
		CHECK("imsg clear closes fd", !fd_is_open(fd) && b.nfds == 0);
	}
	close(p[1]);
	pair_close(&a, &b);

	/* an fd on a message that takes many writes arrives with it */
	if (pair_open(&a, &b, IMSG_MAX_SIZE) == -1 || pipe(p) == -1)
		return;
	n = 4096;
	setsockopt(a.fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof(n));
	setsockopt(b.fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
	memset(big, 'f', sizeof(big));
	imsgbuf_compose(&a, IMSG_MDA_DELIVER, 5, p[0], big, sizeof(big));
	imsgbuf_compose(&a, IMSG_CTL_LINE, 6, -1, "after", 5);
	got = 0;
	for (i = 0; i < 100000 && got < 2; i++) {
		if (imsgbuf_flush(&a) == -1 ||
		    (imsgbuf_read(&b) == -1 && errno != EAGAIN))
			break;
		while ((n = imsgbuf_get(&b, &imsg)) == 1) {
			if (got == 0 && imsg.hdr.peerid == 5 &&
			    imsg.fd != -1 && imsg.datalen == sizeof(big) &&
			    write(p[1], "big", 3) == 3 &&
			    read(imsg.fd, buf, sizeof(buf)) == 3)
				got = 1;
			else if (got == 1 && imsg.hdr.peerid == 6 &&
			    imsg.fd == -1)
				got = 2;
			else
				got = -100;
			imsg_free(&imsg);
		}
		if (n == -1)
			break;
	}
	CHECK("imsg fd with partial writes", got == 2 && b.nfds == 0);
	close(p[1]);
	pair_close(&a, &b);

	/* a queued fd not yet sent is closed by imsgbuf_clear */
	if (pair_open(&a, &b, IMSG_MAX_SIZE) == -1 || pipe(p) == -1)
		return;
	imsgbuf_compose(&a, IMSG_MDA_DELIVER, 0, p[0], NULL, 0);
	imsgbuf_clear(&a);
	CHECK("imsg clear closes unsent fd", !fd_is_open(p[0]));
	close(p[1]);
	pair_close(&a, &b);
}

static char raw_error[sizeof(((struct imsgbuf *)0)->error)];

/*
 * Write raw bytes to one end; get on the other; 1, 0 or -1 as returned,
 * the reason for a -1 in raw_error.
 */
static int
raw_get(size_t maxsize, const uint8_t *bytes, size_t len, int *err)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	int		 n;

	if (pair_open(&a, &b, maxsize) == -1)
		return -2;
	if (write(a.fd, bytes, len) != (ssize_t)len) {
		pair_close(&a, &b);
		return -2;
	}
	(void)imsgbuf_read(&b);
	errno = 0;
	n = imsgbuf_get(&b, &imsg);
	*err = errno;
	strlcpy(raw_error, n == -1 ? b.error : "", sizeof(raw_error));
	if (n == 1)
		imsg_free(&imsg);
	pair_close(&a, &b);
	return n;
}

static void
test_imsg_malformed(void)
{
	uint8_t	 msg[IMSG_HDR_SIZE + 8];
	int	 e;

	memset(msg, 'd', sizeof(msg));
	raw_header(msg, IMSG_CTL_LINE, IMSG_HDR_SIZE + 8, 0, 0);
	CHECK("raw well-formed", raw_get(1024, msg, sizeof(msg), &e) == 1);

	raw_header(msg, IMSG_CTL_LINE, 1025, 0, 0);
	CHECK("raw len > maxsize", raw_get(1024, msg, sizeof(msg), &e) ==
	    -1 && e == EBADMSG);
	CHECK("raw len > maxsize says why", strstr(raw_error,
	    "length 1025 out of range") != NULL);
	raw_header(msg, IMSG_CTL_LINE, UINT32_MAX, 0, 0);
	CHECK("raw len 4G", raw_get(1024, msg, sizeof(msg), &e) == -1 &&
	    e == EBADMSG);
	raw_header(msg, IMSG_CTL_LINE, IMSG_HDR_SIZE - 1, 0, 0);
	CHECK("raw len < 16", raw_get(1024, msg, sizeof(msg), &e) == -1 &&
	    e == EBADMSG);
	raw_header(msg, IMSG_CTL_LINE, 0, 0, 0);
	CHECK("raw len 0", raw_get(1024, msg, sizeof(msg), &e) == -1 &&
	    e == EBADMSG);
	raw_header(msg, IMSG_NONE, IMSG_HDR_SIZE, 0, 0);
	CHECK("raw type none", raw_get(1024, msg, sizeof(msg), &e) == -1 &&
	    e == EBADMSG);
	raw_header(msg, UNKNOWN_TYPE, IMSG_HDR_SIZE, 0, 0);
	CHECK("raw type unknown", raw_get(1024, msg, sizeof(msg), &e) == -1 &&
	    e == EBADMSG);
	CHECK("raw type unknown says why", strstr(raw_error,
	    "unknown type 65520") != NULL);
	/* between boxctl's fixed numbers and boxd's own */
	raw_header(msg, IMSG_INTERNAL_BASE - 1, IMSG_HDR_SIZE, 0, 0);
	CHECK("raw type below the internal ones", raw_get(1024, msg,
	    sizeof(msg), &e) == -1 && e == EBADMSG);
	raw_header(msg, IMSG_CTL_LINE, IMSG_HDR_SIZE, 0x2, 0);
	raw_get(1024, msg, sizeof(msg), &e);
	CHECK("raw error names the type", strstr(raw_error,
	    "CTL_LINE: unknown flags") != NULL);
	raw_header(msg, UINT32_MAX, IMSG_HDR_SIZE, 0, 0);
	CHECK("raw type 4G", raw_get(1024, msg, sizeof(msg), &e) == -1 &&
	    e == EBADMSG);
	raw_header(msg, IMSG_CTL_LINE, IMSG_HDR_SIZE, 0x2, 0);
	CHECK("raw unknown flag", raw_get(1024, msg, sizeof(msg), &e) ==
	    -1 && e == EBADMSG);
	CHECK("raw unknown flag says why", strstr(raw_error,
	    "unknown flags 0x2") != NULL);
	raw_header(msg, IMSG_CTL_LINE, IMSG_HDR_SIZE, 0x80000000, 0);
	CHECK("raw high flag", raw_get(1024, msg, sizeof(msg), &e) == -1 &&
	    e == EBADMSG);
	raw_header(msg, IMSG_CTL_LINE, IMSG_HDR_SIZE, IMSG_FLAG_FD, 0);
	CHECK("raw fd flag without fd", raw_get(1024, msg, sizeof(msg),
	    &e) == -1 && e == EBADMSG);
	CHECK("raw fd flag without fd says why", strstr(raw_error,
	    "file descriptor did not come") != NULL);
	/* a bad header is refused before the body has arrived */
	raw_header(msg, IMSG_CTL_LINE, 1000, 0x4, 0);
	CHECK("raw bad flags early", raw_get(1024, msg, IMSG_HDR_SIZE,
	    &e) == -1 && e == EBADMSG);
	raw_header(msg, IMSG_CTL_LINE, 2000, 0, 0);
	CHECK("raw too long early", raw_get(1024, msg, IMSG_HDR_SIZE,
	    &e) == -1 && e == EBADMSG);
}

/* garbage: whatever it is, a refusal says why, and nothing after it counts */
static void
test_imsg_garbage(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	uint8_t		 junk[256];
	uint32_t	 x = 2463534242u;
	size_t		 i;
	int		 round, n, ok = 1, refused = 0;

	for (round = 0; round < 200; round++) {
		if (pair_open(&a, &b, 1024) == -1)
			return;
		for (i = 0; i < sizeof(junk); i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			junk[i] = (uint8_t)x;
		}
		if (write(a.fd, junk, sizeof(junk)) != (ssize_t)sizeof(junk) ||
		    imsgbuf_read(&b) != 1)
			ok = 0;
		while ((n = imsgbuf_get(&b, &imsg)) == 1)
			imsg_free(&imsg);
		if (n == -1) {
			refused++;
			if (errno != EBADMSG || b.error[0] == '\0')
				ok = 0;
		}
		pair_close(&a, &b);
	}
	CHECK("imsg garbage refused with a reason", ok && refused == 200);

	/* a good message, then garbage: the first is had, then a refusal */
	if (pair_open(&a, &b, 1024) == -1)
		return;
	imsgbuf_compose(&a, IMSG_CTL_LINE, 1, -1, "good", 4);
	imsgbuf_flush(&a);
	memset(junk, 0xff, sizeof(junk));
	ok = write(a.fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk);
	ok = ok && receive(&b, &imsg) == 1 && imsg.hdr.peerid == 1;
	if (ok)
		imsg_free(&imsg);
	CHECK("imsg good before garbage", ok);
	CHECK("imsg garbage after good", imsgbuf_get(&b, &imsg) == -1 &&
	    errno == EBADMSG && imsgbuf_get(&b, &imsg) == -1);
	pair_close(&a, &b);
}

/* bytes with fds in one sendmsg, as a peer other than imsgbuf may send */
static int
send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cmsg;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int) * 32)];
	} cmsgbuf;

	if (nfds > 32)
		return -1;
	memset(&mh, 0, sizeof(mh));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &mh, 0) == (ssize_t)len ? 0 : -1;
}

/* the lowest free fd: every one below it is taken */
static int
lowest_free_fd(void)
{
	int	 fd;

	if ((fd = open("/dev/null", O_RDONLY)) != -1)
		close(fd);
	return fd;
}

/* fds the kernel could not hand over, or imsgbuf could not keep */
static void
test_imsg_lost_fds(void)
{
	struct imsgbuf	 a, b;
	struct rlimit	 rl, low;
	int		 p[2], many[20], i, n, base;

	base = test_open_fds();
	CHECK("imsg fd count", base > 0);

	/* out of fds: the kernel drops what it cannot install */
	if (pair_open(&a, &b, IMSG_MAX_SIZE) == -1 || pipe(p) == -1 ||
	    getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		CHECK("imsg lost fds setup", 0);
		return;
	}
	imsgbuf_compose(&a, IMSG_MDA_DELIVER, 0, p[0], "x", 1);
	imsgbuf_flush(&a);
	low = rl;
	low.rlim_cur = (rlim_t)lowest_free_fd();
	if (setrlimit(RLIMIT_NOFILE, &low) == -1)
		CHECK("imsg lower RLIMIT_NOFILE", 0);
	errno = 0;
	n = imsgbuf_read(&b);
	setrlimit(RLIMIT_NOFILE, &rl);
	CHECK("imsg out of fds is an error", n == -1 && errno == EBADMSG &&
	    strstr(b.error, "control message truncated (out of file "
	    "descriptors?)") != NULL);
	CHECK("imsg out of fds keeps the bytes", b.rlen == IMSG_HDR_SIZE + 1 &&
	    b.nfds == 0);
	close(p[1]);
	pair_close(&a, &b);
	CHECK("imsg out of fds leaks nothing", test_open_fds() == base);

	/* sixteen fds wait for their messages; a seventeenth is too many */
	if (pair_open(&a, &b, IMSG_MAX_SIZE) == -1)
		return;
	for (i = 0; i < 17; i++)
		many[i] = open("/dev/null", O_RDONLY);
	CHECK("imsg sixteen fds", send_fds(a.fd, "a", 1, many, 16) == 0 &&
	    imsgbuf_read(&b) == 1 && b.nfds == IMSG_MAX_FDS);
	CHECK("imsg seventeenth fd", send_fds(a.fd, "b", 1, many + 16,
	    1) == 0 && imsgbuf_read(&b) == -1 && errno == EBADMSG &&
	    strstr(b.error, "more than 16 file descriptors") != NULL &&
	    b.rlen == 2);
	for (i = 0; i < 17; i++)
		close(many[i]);
	CHECK("imsg seventeenth fd closed", test_open_fds() == base + 2 + 16);
	pair_close(&a, &b);
	CHECK("imsg sixteen fds closed on clear", test_open_fds() == base);

	/* more in one message than the control buffer holds */
	if (pair_open(&a, &b, IMSG_MAX_SIZE) == -1)
		return;
	for (i = 0; i < 20; i++)
		many[i] = open("/dev/null", O_RDONLY);
	CHECK("imsg twenty fds truncated", send_fds(a.fd, "c", 1, many,
	    20) == 0 && imsgbuf_read(&b) == -1 && errno == EBADMSG &&
	    strstr(b.error, "control message truncated (more than 16 file "
	    "descriptors)") != NULL);
	for (i = 0; i < 20; i++)
		close(many[i]);
	pair_close(&a, &b);
	CHECK("imsg twenty fds leak nothing", test_open_fds() == base);
}

/*
 * A channel that takes no fds (a boxctl client's): a message passes
 * without one; fds that come are closed at once and the read fails.
 */
static void
test_imsg_nofds(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	uint8_t		 msg[IMSG_HDR_SIZE + 4];
	int		 p[2], fds[IMSG_MAX_FDS], i, base, ok;

	if (pair_open(&a, &b, 1024) == -1)
		return;
	b.nofds = 1;
	memset(msg, 'm', sizeof(msg));
	raw_header(msg, IMSG_CTL_STATUS, sizeof(msg), 0, 1);
	ok = write(a.fd, msg, sizeof(msg)) == (ssize_t)sizeof(msg) &&
	    imsgbuf_read(&b) == 1 && imsgbuf_get(&b, &imsg) == 1;
	CHECK("imsg nofds: a message without one", ok);
	if (ok)
		imsg_free(&imsg);
	if (pipe(p) == -1) {
		pair_close(&a, &b);
		return;
	}
	base = test_open_fds();
	for (i = 0; i < IMSG_MAX_FDS; i++)
		fds[i] = p[0];
	errno = 0;
	ok = send_fds(a.fd, msg, sizeof(msg), fds, IMSG_MAX_FDS) == 0 &&
	    imsgbuf_read(&b) == -1 && errno == EBADMSG;
	CHECK("imsg nofds: fds refused", ok &&
	    strstr(b.error, "takes none: 16 closed") != NULL);
	CHECK("imsg nofds: none kept", b.nfds == 0 &&
	    test_open_fds() == base);
	close(p[0]);
	close(p[1]);
	pair_close(&a, &b);
}

/* one fd per message flagged for it, the fd that came with it */
static void
test_imsg_stray_fds(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	uint8_t		 msg[IMSG_HDR_SIZE + 4];
	char		 buf[8];
	int		 p[3][2], fd, i, n, base, ok, got;

	base = test_open_fds();

	/* its fd before the rest of its bytes */
	if (pair_open(&a, &b, 1024) == -1 || pipe(p[0]) == -1)
		return;
	memset(msg, 'm', sizeof(msg));
	raw_header(msg, IMSG_MDA_DELIVER, sizeof(msg), IMSG_FLAG_FD, 4);
	ok = send_fds(a.fd, msg, 5, &p[0][0], 1) == 0 &&
	    imsgbuf_read(&b) == 1 && imsgbuf_get(&b, &imsg) == 0;
	CHECK("imsg fd ahead of its header waits", ok);
	ok = ok && write(a.fd, msg + 5, sizeof(msg) - 5) ==
	    (ssize_t)(sizeof(msg) - 5) && imsgbuf_read(&b) == 1 &&
	    imsgbuf_get(&b, &imsg) == 1;
	CHECK("imsg fd ahead of its header arrives", ok &&
	    imsg.hdr.peerid == 4 && imsg.fd != -1 &&
	    write(p[0][1], "e", 1) == 1 && read(imsg.fd, buf, 1) == 1);
	if (ok)
		imsg_free(&imsg);
	close(p[0][0]);
	close(p[0][1]);

	/*
	 * A flagged message without its fd, then one with: the later fd
	 * is not the earlier message's.
	 */
	if (pipe(p[0]) == -1)
		return;
	raw_header(msg, IMSG_MDA_DELIVER, sizeof(msg), IMSG_FLAG_FD, 5);
	ok = write(a.fd, msg, sizeof(msg)) == (ssize_t)sizeof(msg) &&
	    imsgbuf_read(&b) == 1;
	raw_header(msg, IMSG_MDA_DELIVER, sizeof(msg), IMSG_FLAG_FD, 6);
	ok = ok && send_fds(a.fd, msg, sizeof(msg), &p[0][0], 1) == 0 &&
	    imsgbuf_read(&b) == 1 && b.nfds == 1;
	errno = 0;
	CHECK("imsg fd of the next message refused", ok &&
	    imsgbuf_get(&b, &imsg) == -1 && errno == EBADMSG &&
	    strstr(b.error, "did not come with it") != NULL);
	close(p[0][0]);
	close(p[0][1]);
	pair_close(&a, &b);

	/* an fd on a message not flagged for it is refused at the next one */
	if (pair_open(&a, &b, 1024) == -1 || pipe(p[0]) == -1)
		return;
	raw_header(msg, IMSG_CTL_LINE, sizeof(msg), 0, 7);
	ok = send_fds(a.fd, msg, sizeof(msg), &p[0][0], 1) == 0 &&
	    imsgbuf_read(&b) == 1;
	raw_header(msg, IMSG_CTL_LINE, sizeof(msg), 0, 8);
	ok = ok && write(a.fd, msg, sizeof(msg)) == (ssize_t)sizeof(msg) &&
	    imsgbuf_read(&b) == 1;
	ok = ok && imsgbuf_get(&b, &imsg) == 1 && imsg.hdr.peerid == 7 &&
	    imsg.fd == -1;
	if (ok)
		imsg_free(&imsg);
	CHECK("imsg unflagged message with fd", ok);
	errno = 0;
	CHECK("imsg unclaimed fd refused", imsgbuf_get(&b, &imsg) == -1 &&
	    errno == EBADMSG && strstr(b.error, "no message for it") !=
	    NULL && b.nfds == 1);
	close(p[0][0]);
	close(p[0][1]);
	pair_close(&a, &b);

	/* a refused message's fd is closed with the buffer */
	if (pair_open(&a, &b, 1024) == -1 || pipe(p[0]) == -1)
		return;
	raw_header(msg, UNKNOWN_TYPE, sizeof(msg), IMSG_FLAG_FD, 0);
	ok = send_fds(a.fd, msg, sizeof(msg), &p[0][0], 1) == 0 &&
	    imsgbuf_read(&b) == 1 && imsgbuf_get(&b, &imsg) == -1 &&
	    b.nfds == 1;
	CHECK("imsg refused message keeps its fd queued", ok);
	close(p[0][0]);
	close(p[0][1]);
	pair_close(&a, &b);
	CHECK("imsg refused message's fd closed on clear", test_open_fds() == base);

	/* three fds among other messages, each with its own */
	if (pair_open(&a, &b, IMSG_MAX_SIZE) == -1)
		return;
	for (i = 0; i < 3; i++) {
		if (pipe(p[i]) == -1)
			return;
		imsgbuf_compose(&a, IMSG_CTL_LINE, 100 + i, -1, "-", 1);
		imsgbuf_compose(&a, IMSG_MDA_DELIVER, i, p[i][0], NULL, 0);
		buf[0] = (char)('0' + i);
		if (write(p[i][1], buf, 1) != 1)
			return;
	}
	CHECK("imsg flush three fds", imsgbuf_flush(&a) == 1);
	got = 0;
	for (i = 0; i < 6; i++) {
		if ((n = receive(&b, &imsg)) != 1)
			break;
		if (imsg.hdr.type == IMSG_MDA_DELIVER) {
			fd = imsg.fd;
			if (fd != -1 && read(fd, buf, 1) == 1 &&
			    buf[0] == (char)('0' + imsg.hdr.peerid))
				got++;
		} else if (imsg.fd != -1)
			got = -100;
		imsg_free(&imsg);
	}
	CHECK("imsg three fds, each its own", got == 3 && b.nfds == 0);
	for (i = 0; i < 3; i++)
		close(p[i][1]);
	pair_close(&a, &b);
	CHECK("imsg stray fds leak nothing", test_open_fds() == base);
}

/*
 * imsgev in a process of its own, on one end of a socketpair to which
 * feed() wrote before it started: how it ends and what it logs.
 */
#define EV_UNTRUSTED	0x1	/* a boxctl client */
#define EV_STARVE	0x2	/* no fd left for one more */
#define EV_SEND		0x4	/* output pending for a peer already gone */

static void
ev_handler(struct imsgev *iev, struct imsg *imsg)
{
	fprintf(stderr, "handled type %u%s\n", imsg->hdr.type,
	    imsg->fd != -1 ? " with fd" : "");
}

static void
ev_closed(struct imsgev *iev)
{
	fprintf(stderr, "closed\n");
	fflush(stderr);
	_exit(0);
}

static void __attribute__((noreturn))
ev_child(int fd, int flags)
{
	struct event_base	*base;
	struct imsgev		 iev;
	struct rlimit		 rl;
	struct pollfd		 pfd;

	log_init(1, LOG_LEVEL_INFO, "test");
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1 ||
	    (base = event_base_new()) == NULL)
		_exit(3);
	memset(&iev, 0, sizeof(iev));
	iev.name = "queue";
	iev.untrusted = (flags & EV_UNTRUSTED) != 0;
	iev.on_close = ev_closed;
	imsgev_init(&iev, base, fd, IMSG_MAX_SIZE, ev_handler, NULL);
	if (flags & EV_STARVE) {
		if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
			_exit(3);
		rl.rlim_cur = (rlim_t)lowest_free_fd();
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			_exit(3);
	}
	if (flags & EV_SEND) {
		/* until the peer has gone for good, then write to it */
		pfd.fd = fd;
		pfd.events = POLLRDHUP;
		if (poll(&pfd, 1, 10000) != 1)
			_exit(3);
		imsgev_compose(&iev, IMSG_CTL_LINE, 0, -1, "late", 4);
	}
	event_base_dispatch(base);
	fprintf(stderr, "loop ended\n");
	_exit(2);
}

static int
ev_run(int flags, void (*feed)(int), int *status, char *out, size_t outsz)
{
	struct pollfd	 pfd;
	size_t		 len = 0;
	ssize_t		 n;
	pid_t		 pid;
	time_t		 deadline;
	int		 sv[2], errp[2];

	out[0] = '\0';
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 || pipe(errp) == -1)
		return -1;
	feed(sv[0]);
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		close(sv[0]);
		close(errp[0]);
		if (dup2(errp[1], STDERR_FILENO) == -1)
			_exit(3);
		close(errp[1]);
		ev_child(sv[1], flags);
	}
	close(sv[0]);
	close(sv[1]);
	close(errp[1]);
	deadline = time(NULL) + 20;
	pfd.fd = errp[0];
	pfd.events = POLLIN;
	for (;;) {
		if (time(NULL) > deadline) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, 1000) < 1)
			continue;
		if ((n = read(errp[0], out + len, outsz - 1 - len)) <= 0)
			break;
		len += (size_t)n;
		out[len] = '\0';
		if (len == outsz - 1)
			break;
	}
	close(errp[0]);
	if (waitpid(pid, status, 0) != pid)
		return -1;
	return 0;
}

static void
feed_garbage(int fd)
{
	uint8_t	 msg[IMSG_HDR_SIZE];

	raw_header(msg, 0xffff, IMSG_HDR_SIZE, 0, 0);
	(void)write(fd, msg, sizeof(msg));
}

static void
feed_good(int fd)
{
	uint8_t	 msg[IMSG_HDR_SIZE];

	raw_header(msg, IMSG_CTL_LINE, IMSG_HDR_SIZE, 0, 0);
	(void)write(fd, msg, sizeof(msg));
}

static void
feed_fd(int fd)
{
	struct imsgbuf	 ibuf;

	imsgbuf_init(&ibuf, fd, IMSG_MAX_SIZE);
	imsgbuf_compose(&ibuf, IMSG_QUEUE_CREATE_OK, 0,
	    open("/dev/null", O_RDONLY), "id", 2);
	imsgbuf_flush(&ibuf);
	imsgbuf_clear(&ibuf);
}

static void
feed_stray_fd(int fd)
{
	uint8_t	 msg[IMSG_HDR_SIZE];
	int	 nul;

	raw_header(msg, IMSG_CTL_LINE, IMSG_HDR_SIZE, 0, 0);
	nul = open("/dev/null", O_RDONLY);
	(void)send_fds(fd, msg, sizeof(msg), &nul, 1);
	close(nul);
	(void)write(fd, msg, sizeof(msg));
}

static int
exited(int status, int code)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

static void
test_imsgev_errors(void)
{
	char	 out[4096];
	int	 st;

	CHECK("imsgev garbage from a daemon is fatal",
	    ev_run(0, feed_garbage, &st, out, sizeof(out)) == 0 &&
	    exited(st, 1) && strstr(out, "fatal: malformed imsg from queue: "
	    "unknown type 65535") != NULL);
	CHECK("imsgev garbage from a client drops it",
	    ev_run(EV_UNTRUSTED, feed_garbage, &st, out, sizeof(out)) == 0 &&
	    exited(st, 0) && strstr(out, "fatal") == NULL &&
	    strstr(out, "malformed imsg from queue: unknown type 65535\n"
	    "closed\n") != NULL);
	CHECK("imsgev lost fd from a daemon is fatal",
	    ev_run(EV_STARVE, feed_fd, &st, out, sizeof(out)) == 0 &&
	    exited(st, 1) && strstr(out, "fatal: imsg from queue: control "
	    "message truncated (out of file descriptors?)") != NULL &&
	    strstr(out, "handled") == NULL);
	CHECK("imsgev lost fd from a client drops it",
	    ev_run(EV_UNTRUSTED | EV_STARVE, feed_fd, &st, out,
	    sizeof(out)) == 0 && exited(st, 0) &&
	    strstr(out, "fatal") == NULL && strstr(out, "imsg from queue: "
	    "control message truncated") != NULL &&
	    strstr(out, "closed\n") != NULL);
	CHECK("imsgev fd received",
	    ev_run(0, feed_fd, &st, out, sizeof(out)) == 0 &&
	    exited(st, 0) && strstr(out, "handled type") != NULL &&
	    strstr(out, "with fd\nclosed\n") != NULL);
	CHECK("imsgev stray fd from a daemon is fatal",
	    ev_run(0, feed_stray_fd, &st, out, sizeof(out)) == 0 &&
	    exited(st, 1) && strstr(out, "fatal: malformed imsg from queue: "
	    "a file descriptor came with no message for it") != NULL);
	/* a peer that hangs up is not an error: its death is the news */
	CHECK("imsgev EOF from a daemon is not fatal",
	    ev_run(0, feed_good, &st, out, sizeof(out)) == 0 &&
	    exited(st, 0) && strstr(out, "fatal") == NULL &&
	    strstr(out, "handled type") != NULL &&
	    strstr(out, "closed\n") != NULL);
	CHECK("imsgev write to a gone peer still reads what it said",
	    ev_run(EV_SEND, feed_good, &st, out, sizeof(out)) == 0 &&
	    exited(st, 0) && strstr(out, "fatal") == NULL &&
	    strstr(out, "handled type") != NULL &&
	    strstr(out, "closed\n") != NULL);
}

static void
test_imsg_partial(void)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	uint8_t		 msg[IMSG_HDR_SIZE + 100];
	size_t		 i;
	int		 n, ok = 1;

	if (pair_open(&a, &b, 1024) == -1)
		return;
	memset(msg, 'p', sizeof(msg));
	raw_header(msg, IMSG_CTL_LINE, sizeof(msg), 0, 42);
	/* one octet at a time: nothing until the last one */
	for (i = 0; i < sizeof(msg); i++) {
		if (write(a.fd, msg + i, 1) != 1 || imsgbuf_read(&b) != 1) {
			ok = 0;
			break;
		}
		n = imsgbuf_get(&b, &imsg);
		if (i + 1 < sizeof(msg) && n != 0)
			ok = 0;
		if (i + 1 == sizeof(msg)) {
			if (n != 1 || imsg.hdr.peerid != 42 ||
			    imsg.datalen != 100 || memcmp(imsg.data,
			    msg + IMSG_HDR_SIZE, 100) != 0)
				ok = 0;
			if (n == 1)
				imsg_free(&imsg);
		}
	}
	CHECK("imsg partial octets", ok);
	CHECK("imsg partial drained", b.rpos == b.rlen &&
	    imsgbuf_get(&b, &imsg) == 0);

	/* one and a half messages, then the rest */
	raw_header(msg, IMSG_CTL_LINE, sizeof(msg), 0, 1);
	ok = write(a.fd, msg, sizeof(msg)) == (ssize_t)sizeof(msg);
	raw_header(msg, IMSG_CTL_LINE, sizeof(msg), 0, 2);
	ok = ok && write(a.fd, msg, 50) == 50 && imsgbuf_read(&b) == 1;
	ok = ok && imsgbuf_get(&b, &imsg) == 1 && imsg.hdr.peerid == 1;
	if (ok)
		imsg_free(&imsg);
	CHECK("imsg first of one and a half", ok);
	CHECK("imsg half waits", imsgbuf_get(&b, &imsg) == 0);
	ok = write(a.fd, msg + 50, sizeof(msg) - 50) ==
	    (ssize_t)(sizeof(msg) - 50) && imsgbuf_read(&b) == 1 &&
	    imsgbuf_get(&b, &imsg) == 1 && imsg.hdr.peerid == 2 &&
	    imsg.datalen == 100;
	if (ok)
		imsg_free(&imsg);
	CHECK("imsg second half completes", ok);

	/* a header cut short is not an error yet */
	ok = write(a.fd, msg, IMSG_HDR_SIZE - 1) == IMSG_HDR_SIZE - 1 &&
	    imsgbuf_read(&b) == 1 && imsgbuf_get(&b, &imsg) == 0;
	CHECK("imsg short header waits", ok);
	pair_close(&a, &b);
}

/* every type has one name, every number a safe one */
static void
test_imsg_type_names(void)
{
#define COUNT_TYPE(name)	    +1
#define COUNT_CTL_TYPE(name, n) +1
	const size_t	 ntypes = 0 IMSG_TYPES(COUNT_TYPE, COUNT_CTL_TYPE);
	const char	*a, *b, *name, *seen[0x1000];
	char		 want[32];
	uint32_t	 t, internal_end = 0;
	size_t		 known = 0, i;
	int		 ok = 1, unique = 1, ranges = 1;

	CHECK("name of an internal type", strcmp(imsg_type_name(
	    IMSG_QUEUE_COMMIT), "QUEUE_COMMIT") == 0);
	CHECK("name of a control type", strcmp(imsg_type_name(IMSG_CTL_FAIL),
	    "CTL_FAIL") == 0 && strcmp(imsg_type_name(IMSG_CTL_HELLO),
	    "CTL_HELLO") == 0);
	CHECK("name of none", strcmp(imsg_type_name(IMSG_NONE),
	    "unknown(0)") == 0 && !imsg_type_known(IMSG_NONE));
	CHECK("name of an unknown number", strcmp(imsg_type_name(1234),
	    "unknown(1234)") == 0 && !imsg_type_known(1234));
	CHECK("name of the largest number", strcmp(imsg_type_name(UINT32_MAX),
	    "unknown(4294967295)") == 0);
	a = imsg_type_name(100000);
	b = imsg_type_name(100001);
	CHECK("two unknown names in one log line", strcmp(a,
	    "unknown(100000)") == 0 && strcmp(b, "unknown(100001)") == 0);

	/* what boxctl 0.1 numbered so, every later build numbers so too */
	CHECK("control numbers fixed", IMSG_CTL_STATUS == 26 &&
	    IMSG_CTL_DOMAIN_ADD == 27 && IMSG_CTL_USER_ADD == 30 &&
	    IMSG_CTL_ALIAS_ADD == 37 && IMSG_CTL_RELOAD == 40 &&
	    IMSG_CTL_LINE == 41 && IMSG_CTL_OK == 42 && IMSG_CTL_FAIL == 43 &&
	    IMSG_CTL_HELLO == 44);

	for (t = 0; t < 0x1000; t++) {
		name = imsg_type_name(t);
		seen[t] = NULL;
		if (!imsg_type_known(t)) {
			snprintf(want, sizeof(want), "unknown(%u)", t);
			if (strcmp(name, want) != 0)
				ok = 0;
			continue;
		}
		if (strncmp(name, "unknown", 7) == 0 || name[0] == '\0')
			ok = 0;
		for (i = 0; i < t; i++)
			if (seen[i] != NULL && strcmp(seen[i], name) == 0)
				unique = 0;
		seen[t] = name;
		known++;
		/* control types below the base, internal ones dense above */
		if (strncmp(name, "CTL_", 4) == 0) {
			if (t >= IMSG_INTERNAL_BASE)
				ranges = 0;
		} else if (t < IMSG_INTERNAL_BASE ||
		    (t > IMSG_INTERNAL_BASE && !imsg_type_known(t - 1)))
			ranges = 0;
		else
			internal_end = t + 1;
	}
	CHECK("names: unknown ones say their number", ok);
	CHECK("names: one per type", unique);
	CHECK("names: every listed type is known", known == ntypes);
	CHECK("names: control and internal ranges", ranges &&
	    internal_end > IMSG_INTERNAL_BASE);
}

int
main(void)
{
	test_imsg_type_names();
	test_msg_round_trip();
	test_msg_refusals();
	test_imsg_round_trip();
	test_imsg_sizes();
	test_imsg_fd();
	test_imsg_malformed();
	test_imsg_partial();
	test_imsg_garbage();
	test_imsg_lost_fds();
	test_imsg_stray_fds();
	test_imsg_nofds();
	test_imsgev_errors();
	TEST_EXIT();
}
