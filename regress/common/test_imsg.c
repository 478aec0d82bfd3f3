/*
 * msg.c and imsg.c: marshalling round trips and refusals, then imsgbufs
 * over a socketpair: framing, fd passing, malformed headers, partial
 * messages and partial writes.
 */

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

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
		fd = b.fds[0];
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

/* write raw bytes to one end; get on the other; 1, 0 or -1 as returned */
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
	raw_header(msg, IMSG_TYPE_MAX, IMSG_HDR_SIZE, 0, 0);
	CHECK("raw type max", raw_get(1024, msg, sizeof(msg), &e) == -1 &&
	    e == EBADMSG);
	raw_header(msg, UINT32_MAX, IMSG_HDR_SIZE, 0, 0);
	CHECK("raw type 4G", raw_get(1024, msg, sizeof(msg), &e) == -1 &&
	    e == EBADMSG);
	raw_header(msg, IMSG_CTL_LINE, IMSG_HDR_SIZE, 0x2, 0);
	CHECK("raw unknown flag", raw_get(1024, msg, sizeof(msg), &e) ==
	    -1 && e == EBADMSG);
	raw_header(msg, IMSG_CTL_LINE, IMSG_HDR_SIZE, 0x80000000, 0);
	CHECK("raw high flag", raw_get(1024, msg, sizeof(msg), &e) == -1 &&
	    e == EBADMSG);
	raw_header(msg, IMSG_CTL_LINE, IMSG_HDR_SIZE, IMSG_FLAG_FD, 0);
	CHECK("raw fd flag without fd", raw_get(1024, msg, sizeof(msg),
	    &e) == -1 && e == EBADMSG);
	/* a bad header is refused before the body has arrived */
	raw_header(msg, IMSG_CTL_LINE, 1000, 0x4, 0);
	CHECK("raw bad flags early", raw_get(1024, msg, IMSG_HDR_SIZE,
	    &e) == -1 && e == EBADMSG);
	raw_header(msg, IMSG_CTL_LINE, 2000, 0, 0);
	CHECK("raw too long early", raw_get(1024, msg, IMSG_HDR_SIZE,
	    &e) == -1 && e == EBADMSG);
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

int
main(void)
{
	test_msg_round_trip();
	test_msg_refusals();
	test_imsg_round_trip();
	test_imsg_sizes();
	test_imsg_fd();
	test_imsg_malformed();
	test_imsg_partial();
	TEST_EXIT();
}
