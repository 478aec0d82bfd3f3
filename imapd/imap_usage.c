/*
 * boxctl user list's usage columns.  auth keeps the users but must not
 * read mail; imap, jailed where the Maildirs are, reads each user's
 * maildirsize (quota.c) for control, a batch of users at a time.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "boxd.h"
#include "imapd.h"

static int imap_usage_root = -1;

void
imap_usage_init(int rootfd)
{
	imap_usage_root = rootfd;
}

/* a user mda has never delivered to, nor logged in, has no Maildir yet */
static void
imap_usage_get(const char *mailbox, struct ctl_usage *u)
{
	struct quota_usage q;
	int fd;

	memset(u, 0, sizeof(*u));
	if ((fd = openat(imap_usage_root, mailbox,
		 O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT) {
			log_warn("%s: usage", mailbox);
			u->status = CTL_USAGE_UNKNOWN;
		}
		return;
	}
	/* a recount may rewrite a stale file, as at delivery and login */
	if (quota_get(fd, &q) == -1) {
		log_warnx("%s: cannot read the quota usage", mailbox);
		u->status = CTL_USAGE_UNKNOWN;
	} else {
		u->bytes = q.bytes;
		u->messages = q.messages;
	}
	close(fd);
}

void
imap_usage_request(struct imsg *imsg)
{
	static struct ctl_usage_req req;
	static struct ctl_usage_reply rep;
	struct msg_writer w;
	uint32_t i;

	if (ctl_usage_req_decode(&req, imsg->data, imsg->datalen) == -1)
		child_bad_imsg(imsg, "usage request");
	memset(&rep, 0, sizeof(rep));
	rep.reqid = req.reqid;
	rep.n = req.n;
	for (i = 0; i < req.n; i++)
		imap_usage_get(req.mailbox[i], &rep.usage[i]);
	msg_writer_init(&w);
	ctl_usage_reply_encode(&w, &rep);
	child_send(PROC_CONTROL, IMSG_IMAP_USAGE, imsg->hdr.peerid, -1, &w);
}
