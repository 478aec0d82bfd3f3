/*
 * queued: the spool and its scheduler (role queue), and local delivery
 * into Maildir (role mda).
 */

#ifndef BOXD_QUEUED_H
#define BOXD_QUEUED_H

#include <sys/tree.h>

#include "common.h"

/* the spool file: magic, version, envelope length, envelope, body */
#define SPOOL_MAGIC		"BOXQ"
#define SPOOL_VERSION		1
#define SPOOL_HDR_FIXED		12
#define SPOOL_ENVELOPE_MAX	(4 * 1024 * 1024)

#define SPOOL_INCOMING		"incoming"	/* being received */
#define SPOOL_QUEUE		"spool"		/* committed */
#define SPOOL_CORRUPT		"corrupt"	/* unreadable, kept for the admin */
#define SPOOL_FAILED		"failed"	/* given up on, kept until bounces */

/* ---------------------------------------------------------------- queue_fs.c */
struct spool {
	int		 incomingfd;	/* directory fds inside the jail */
	int		 queuefd;
};

void	spool_open(struct spool *);
void	spool_name(uint64_t msgid, char *buf, size_t len);
/* create incoming/ID with its header written; the fd is left at the body */
int	spool_create(struct spool *, uint64_t msgid, const struct envelope *,
	    uint64_t *body_offset);
/*
 * Make a batch of incoming files durable and move them into spool/: one
 * flush for data, renames, one for the directory.  fds are the files,
 * sizes what each must hold; ok[i] says how each fared.
 */
void	spool_commit_batch(struct spool *, const uint64_t *msgids,
	    const int *fds, const uint64_t *sizes, size_t n, int *ok);
void	spool_abort(struct spool *, uint64_t msgid);
void	spool_remove(struct spool *, uint64_t msgid);
/* open a committed message read-only and check its header */
int	spool_load(struct spool *, uint64_t msgid, struct envelope *,
	    uint64_t *body_offset);
void	spool_move(struct spool *, uint64_t msgid, const char *dir);
/* remove what was never committed; call fn for every committed id */
void	spool_recover(struct spool *, void (*fn)(uint64_t, void *), void *);

/* ---------------------------------------------------------------- maildir.c */
/*
 * Write one message into DOMAIN/USER/tmp/ under the mail root; the name
 * is derived from msgid and the recipient index, so a retry finds what
 * an earlier try delivered.  Returns the open tmp file (the caller
 * flushes and closes it), MAILDIR_DONE_BEFORE, or -1 on error (errno).
 */
#define MAILDIR_DONE_BEFORE	(-2)
struct maildir_delivery {
	char		 mailbox[ENVELOPE_MAILBOX_MAX];
	char		 name[256];	/* the file name in tmp/ and new/ */
};

int	maildir_write(int rootfd, const char *mailbox, uint64_t msgid,
	    uint32_t idx, const char *hostname, const char *sender,
	    int spoolfd, uint64_t body_offset, struct maildir_delivery *);
/* rename tmp/NAME to new/NAME */
int	maildir_publish(int rootfd, const struct maildir_delivery *);

#endif
