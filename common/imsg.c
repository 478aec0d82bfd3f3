/*
 * imsg: length-framed messages over a socketpair, with fd passing.  Every
 * message is bounded by the buffer's maxsize before anything is allocated
 * for it.
 */

#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common.h"

void
imsgbuf_init(struct imsgbuf *ibuf, int fd, size_t maxsize)
{
	memset(ibuf, 0, sizeof(*ibuf));
	ibuf->fd = fd;
	ibuf->maxsize = maxsize;
	TAILQ_INIT(&ibuf->outq);
}

static void
imsg_out_free(struct imsgbuf *ibuf, struct imsg_out *out)
{
	if (ibuf->wipe)
		freezero(out->buf, out->len);
	else
		free(out->buf);
	free(out);
}

static void
imsgbuf_discard_output(struct imsgbuf *ibuf)
{
	struct imsg_out *out;

	while ((out = TAILQ_FIRST(&ibuf->outq)) != NULL) {
		TAILQ_REMOVE(&ibuf->outq, out, entry);
		if (out->fd != -1)
			close(out->fd);
		imsg_out_free(ibuf, out);
	}
	ibuf->outlen = 0;
}

void
imsgbuf_clear(struct imsgbuf *ibuf)
{
	int i;

	imsgbuf_discard_output(ibuf);
	for (i = 0; i < ibuf->nfds; i++)
		close(ibuf->fds[i].fd);
	ibuf->nfds = 0;
	if (ibuf->wipe && ibuf->rbuf != NULL)
		freezero(ibuf->rbuf, ibuf->rcap);
	else
		free(ibuf->rbuf);
	ibuf->rbuf = NULL;
	ibuf->rpos = ibuf->rlen = ibuf->rcap = 0;
	ibuf->roff = 0;
}

/* the channel is out of step with its peer: say why, for the log */
static int __attribute__((format(printf, 2, 3)))
imsgbuf_bad(struct imsgbuf *ibuf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ibuf->error, sizeof(ibuf->error), fmt, ap);
	va_end(ap);
	errno = EBADMSG;
	return -1;
}

static int
imsgbuf_syserr(struct imsgbuf *ibuf)
{
	int saved_errno = errno;

	strlcpy(ibuf->error, strerror(saved_errno), sizeof(ibuf->error));
	errno = saved_errno;
	return -1;
}

static void
imsg_decode_hdr(const uint8_t *p, struct imsg_hdr *hdr)
{
	struct msg_reader r;

	msg_reader_init(&r, p, IMSG_HDR_SIZE);
	msg_get_u32(&r, &hdr->type);
	msg_get_u32(&r, &hdr->len);
	msg_get_u32(&r, &hdr->flags);
	msg_get_u32(&r, &hdr->peerid);
}

/*
 * The bytes read are kept even when it fails: an error here means fds
 * were lost, and the caller must give up the channel, not read on.
 */
int
imsgbuf_read(struct imsgbuf *ibuf)
{
	struct msghdr mh;
	struct cmsghdr *cmsg;
	struct iovec iov;
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * IMSG_MAX_FDS)];
	} cmsgbuf;
	struct imsg_fd *f;
	uint8_t *p;
	uint64_t from;
	ssize_t n;
	size_t want, i, nfd;
	int fd, got = 0, lost = 0;

	want = ibuf->maxsize + IMSG_HDR_SIZE;
	if (ibuf->rcap < want) {
		if ((p = realloc(ibuf->rbuf, want)) == NULL)
			return imsgbuf_syserr(ibuf);
		ibuf->rbuf = p;
		ibuf->rcap = want;
	}
	/* what was taken goes, once per read rather than once per message */
	if (ibuf->rpos > 0) {
		ibuf->rlen -= ibuf->rpos;
		memmove(ibuf->rbuf, ibuf->rbuf + ibuf->rpos, ibuf->rlen);
		/* the moved bytes' old copy */
		if (ibuf->wipe)
			explicit_bzero(ibuf->rbuf + ibuf->rlen, ibuf->rpos);
		ibuf->roff += ibuf->rpos;
		ibuf->rpos = 0;
	}
	if (ibuf->rlen == ibuf->rcap)
		return imsgbuf_bad(ibuf, "input buffer full");
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = ibuf->rbuf + ibuf->rlen;
	iov.iov_len = ibuf->rcap - ibuf->rlen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cmsgbuf.buf;
	mh.msg_controllen = sizeof(cmsgbuf.buf);
	do {
		n = recvmsg(ibuf->fd, &mh, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -1;
		return imsgbuf_syserr(ibuf);
	}
	from = ibuf->roff + ibuf->rlen;
	ibuf->rlen += (size_t)n;
	for (cmsg = CMSG_FIRSTHDR(&mh); cmsg != NULL;
	     cmsg = CMSG_NXTHDR(&mh, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfd; i++) {
			got++;
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			if (ibuf->nofds || ibuf->nfds == IMSG_MAX_FDS) {
				close(fd);
				lost++;
				continue;
			}
			f = &ibuf->fds[ibuf->nfds++];
			f->fd = fd;
			f->from = from;
			f->to = from + (size_t)n;
		}
	}
	if (ibuf->nofds && got > 0)
		return imsgbuf_bad(ibuf,
		    "file descriptors on a channel that takes none: %d closed",
		    got);
	/* the kernel closed what did not fit, or what it could not install */
	if ((mh.msg_flags & MSG_CTRUNC) && got == IMSG_MAX_FDS)
		return imsgbuf_bad(ibuf,
		    "control message truncated (more than %d file descriptors)",
		    IMSG_MAX_FDS);
	if (mh.msg_flags & MSG_CTRUNC)
		return imsgbuf_bad(ibuf,
		    "control message truncated (out of file descriptors?)");
	if (lost > 0)
		return imsgbuf_bad(ibuf,
		    "more than %d file descriptors waiting, %d closed",
		    IMSG_MAX_FDS, lost);
	return n == 0 ? 0 : 1;
}

int
imsgbuf_get(struct imsgbuf *ibuf, struct imsg *imsg)
{
	struct imsg_hdr hdr;
	const uint8_t *p;
	uint64_t start;
	size_t datalen, avail;

	if (ibuf->rbuf == NULL)
		return 0;
	p = ibuf->rbuf + ibuf->rpos;
	avail = ibuf->rlen - ibuf->rpos;
	if (avail < IMSG_HDR_SIZE)
		return 0;
	imsg_decode_hdr(p, &hdr);
	if (hdr.len < IMSG_HDR_SIZE || hdr.len > ibuf->maxsize)
		return imsgbuf_bad(ibuf, "%s: length %u out of range",
		    imsg_type_name(hdr.type), hdr.len);
	if (!imsg_type_known(hdr.type))
		return imsgbuf_bad(ibuf, "unknown type %u", hdr.type);
	if ((hdr.flags & ~IMSG_FLAG_FD) != 0)
		return imsgbuf_bad(ibuf, "%s: unknown flags %#x",
		    imsg_type_name(hdr.type), hdr.flags);
	/*
	 * The kernel hands an fd over with the first octet of the sendmsg
	 * that carried it, and imsgbuf_flush starts every such sendmsg
	 * with the message the fd belongs to: so a message's fd came in
	 * the read that brought its first octet, and an fd whose read is
	 * behind us belonged to a message that did not claim it.
	 */
	start = ibuf->roff + ibuf->rpos;
	if (ibuf->nfds > 0 && ibuf->fds[0].to <= start)
		return imsgbuf_bad(
		    ibuf, "a file descriptor came with no message for it");
	if ((hdr.flags & IMSG_FLAG_FD) &&
	    (ibuf->nfds == 0 || ibuf->fds[0].from > start))
		return imsgbuf_bad(ibuf,
		    "%s: its file descriptor did not come with it",
		    imsg_type_name(hdr.type));
	if (avail < hdr.len)
		return 0;
	memset(imsg, 0, sizeof(*imsg));
	imsg->hdr = hdr;
	imsg->fd = -1;
	datalen = hdr.len - IMSG_HDR_SIZE;
	if (datalen > 0) {
		if ((imsg->data = malloc(datalen)) == NULL)
			return imsgbuf_syserr(ibuf);
		memcpy(imsg->data, p + IMSG_HDR_SIZE, datalen);
	}
	if (ibuf->wipe)
		explicit_bzero(ibuf->rbuf + ibuf->rpos, hdr.len);
	/* only now that nothing can fail: the fd belongs to this message */
	if (hdr.flags & IMSG_FLAG_FD) {
		imsg->fd = ibuf->fds[0].fd;
		memmove(ibuf->fds, ibuf->fds + 1,
		    sizeof(ibuf->fds[0]) * (size_t)(ibuf->nfds - 1));
		ibuf->nfds--;
	}
	imsg->datalen = datalen;
	ibuf->rpos += hdr.len;
	return 1;
}

void
imsg_free(struct imsg *imsg)
{
	free(imsg->data);
	imsg->data = NULL;
	if (imsg->fd != -1)
		close(imsg->fd);
	imsg->fd = -1;
}

int
imsgbuf_compose(struct imsgbuf *ibuf, uint32_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	struct msg_writer w;
	struct imsg_out *out;

	if (len > ibuf->maxsize - IMSG_HDR_SIZE) {
		errno = EMSGSIZE;
		return -1;
	}
	msg_writer_init(&w);
	w.wipe = ibuf->wipe;
	msg_put_u32(&w, type);
	msg_put_u32(&w, (uint32_t)(len + IMSG_HDR_SIZE));
	msg_put_u32(&w, fd == -1 ? 0 : IMSG_FLAG_FD);
	msg_put_u32(&w, peerid);
	msg_put_data(&w, data, len);
	if (w.error || (out = calloc(1, sizeof(*out))) == NULL) {
		msg_writer_free(&w);
		errno = ENOMEM;
		return -1;
	}
	out->buf = w.buf;
	out->len = w.len;
	out->fd = fd;
	TAILQ_INSERT_TAIL(&ibuf->outq, out, entry);
	ibuf->outlen += out->len;
	return 0;
}

/*
 * One sendmsg per fd-carrying message, starting at its first octet (where
 * imsgbuf_get looks for the fd); the rest go out in one writev.
 */
int
imsgbuf_flush(struct imsgbuf *ibuf)
{
	struct iovec iov[64];
	struct msghdr mh;
	struct cmsghdr *cmsg;
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct imsg_out *out, *next;
	ssize_t n;
	size_t left;
	int iovcnt;

	while ((out = TAILQ_FIRST(&ibuf->outq)) != NULL) {
		memset(&mh, 0, sizeof(mh));
		iovcnt = 0;
		for (next = out; next != NULL && iovcnt < 64;
		     next = TAILQ_NEXT(next, entry)) {
			if (next->fd != -1 && next != out)
				break;
			iov[iovcnt].iov_base = next->buf + next->off;
			iov[iovcnt].iov_len = next->len - next->off;
			iovcnt++;
			if (next->fd != -1)
				break;
		}
		mh.msg_iov = iov;
		mh.msg_iovlen = iovcnt;
		if (out->fd != -1) {
			memset(&cmsgbuf, 0, sizeof(cmsgbuf));
			mh.msg_control = cmsgbuf.buf;
			mh.msg_controllen = sizeof(cmsgbuf.buf);
			cmsg = CMSG_FIRSTHDR(&mh);
			cmsg->cmsg_len = CMSG_LEN(sizeof(int));
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			memcpy(CMSG_DATA(cmsg), &out->fd, sizeof(int));
		}
		do {
			n = sendmsg(ibuf->fd, &mh, MSG_NOSIGNAL);
		} while (n == -1 && errno == EINTR);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS)
				return 0;
			return imsgbuf_syserr(ibuf);
		}
		if (out->fd != -1) {
			close(out->fd);
			out->fd = -1;
		}
		left = (size_t)n;
		while (left > 0 && (out = TAILQ_FIRST(&ibuf->outq)) != NULL) {
			if (left < out->len - out->off) {
				out->off += left;
				ibuf->outlen -= left;
				break;
			}
			left -= out->len - out->off;
			ibuf->outlen -= out->len - out->off;
			TAILQ_REMOVE(&ibuf->outq, out, entry);
			imsg_out_free(ibuf, out);
		}
	}
	return 1;
}

static void
imsgev_update(struct imsgev *iev)
{
	short events = EV_READ;

	if (iev->closed)
		return;
	if (!TAILQ_EMPTY(&iev->ibuf.outq))
		events |= EV_WRITE;
	if (events == iev->events)
		return;
	iev->events = events;
	event_del(iev->ev);
	event_assign(iev->ev, event_get_base(iev->ev), iev->ibuf.fd,
	    events | EV_PERSIST, event_get_callback(iev->ev), iev);
	event_add(iev->ev, NULL);
}

static const char *
imsgev_name(const struct imsgev *iev)
{
	return iev->name != NULL ? iev->name : "peer";
}

/* the peer hung up: its death, not our noticing it, is the news */
static void
imsgev_closed(struct imsgev *iev)
{
	event_del(iev->ev);
	iev->closed = 1;
	if (iev->on_close != NULL)
		iev->on_close(iev);
	else
		fatalx("channel to %s closed", imsgev_name(iev));
}

/*
 * The channel lost or garbled something its peer sent, or could not
 * send: between boxd's processes that is a bug or an attack, and going
 * on would leave the peer waiting for what never comes.
 */
static void
imsgev_broken(struct imsgev *iev, const char *what)
{
	if (!iev->untrusted)
		fatalx("%s %s: %s", what, imsgev_name(iev), iev->ibuf.error);
	log_warnx("%s %s: %s", what, imsgev_name(iev), iev->ibuf.error);
	imsgev_closed(iev);
}

static void
imsgev_dispatch(evutil_socket_t fd, short events, void *arg)
{
	struct imsgev *iev = arg;
	struct imsg imsg;
	int n;

	if (events & EV_WRITE) {
		if (imsgbuf_flush(&iev->ibuf) == -1) {
			if (errno != EPIPE && errno != ECONNRESET) {
				imsgev_broken(iev, "imsg to");
				return;
			}
			/* the peer is gone; what it said before going is not */
			imsgbuf_discard_output(&iev->ibuf);
		}
	}
	if (events & EV_READ) {
		n = imsgbuf_read(&iev->ibuf);
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
			if (errno == ECONNRESET) {
				imsgev_closed(iev);
				return;
			}
			imsgev_broken(iev, "imsg from");
			return;
		}
		if (n == 0) {
			imsgev_closed(iev);
			return;
		}
		for (;;) {
			n = imsgbuf_get(&iev->ibuf, &imsg);
			if (n == 0)
				break;
			if (n == -1) {
				imsgev_broken(iev,
				    errno == EBADMSG ? "malformed imsg from"
						     : "imsg from");
				return;
			}
			iev->handler(iev, &imsg);
			/* the handler's copy of a secret is its own to wipe */
			if (iev->ibuf.wipe && imsg.data != NULL) {
				freezero(imsg.data, imsg.datalen);
				imsg.data = NULL;
			}
			imsg_free(&imsg);
			/* the handler may have closed us */
			if (iev->ibuf.fd == -1)
				return;
		}
	}
	imsgev_update(iev);
}

void
imsgev_init(struct imsgev *iev, struct event_base *base, int fd, size_t maxsize,
    imsgev_handler handler, void *arg)
{
	imsgbuf_init(&iev->ibuf, fd, maxsize);
	/* a boxctl client has no business passing descriptors */
	iev->ibuf.nofds = iev->untrusted;
	iev->handler = handler;
	iev->arg = arg;
	iev->events = EV_READ;
	iev->closed = 0;
	iev->ev =
	    event_new(base, fd, EV_READ | EV_PERSIST, imsgev_dispatch, iev);
	if (iev->ev == NULL)
		fatalx("event_new");
	event_add(iev->ev, NULL);
}

void
imsgev_clear(struct imsgev *iev)
{
	if (iev->ev != NULL) {
		event_del(iev->ev);
		event_free(iev->ev);
		iev->ev = NULL;
	}
	imsgbuf_clear(&iev->ibuf);
	if (iev->ibuf.fd != -1)
		close(iev->ibuf.fd);
	iev->ibuf.fd = -1;
	iev->closed = 1;
}

/* to a peer that hung up, nothing goes: it is being stopped anyway */
int
imsgev_compose(struct imsgev *iev, uint32_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	if (iev->closed) {
		if (fd != -1)
			close(fd);
		return 0;
	}
	if (imsgbuf_compose(&iev->ibuf, type, peerid, fd, data, len) == -1)
		return -1;
	imsgev_update(iev);
	return 0;
}

int
imsgev_compose_msg(struct imsgev *iev, uint32_t type, uint32_t peerid, int fd,
    struct msg_writer *w)
{
	int rv;

	if (w->error) {
		errno = ENOMEM;
		rv = -1;
	} else
		rv = imsgev_compose(iev, type, peerid, fd, w->buf, w->len);
	msg_writer_free(w);
	return rv;
}
