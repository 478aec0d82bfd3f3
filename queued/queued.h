/*
 * queued: the spool and its scheduler (role queue), and local delivery
 * into Maildir (role mda).
 */

#ifndef BOXD_QUEUED_H
#define BOXD_QUEUED_H

#include <sys/tree.h>

#include "common.h"

/*
 * A spool file: "BOXQ", u32 version, u32 envelope length, the envelope,
 * the body, then the commit trailer: "BOXT", u64 message id, u64 body
 * length, u32 CRC-32 of the body.  A file without a trailer was never
 * acknowledged; the id (which no client sees before its 250) keeps a
 * body from passing its own last bytes off as one.
 */
#define SPOOL_MAGIC	    "BOXQ"
#define SPOOL_TRAILER_MAGIC "BOXT"
#define SPOOL_VERSION	    1
#define SPOOL_HDR_FIXED	    12
#define SPOOL_TRAILER	    24
#define SPOOL_ENVELOPE_MAX  (4 * 1024 * 1024)

#define SPOOL_QUEUE   "spool"	/* received and committed */
#define SPOOL_CORRUPT "corrupt" /* unreadable, kept for the admin */
#define SPOOL_FAILED  "failed"	/* given up on, kept until bounces */

/* ---------------------------------------------------------------- queue_fs.c
 */
struct spool {
	int queuefd; /* directory fd inside the jail */
};

/* a message being committed */
struct spool_commit {
	uint64_t msgid;
	int fd;
	uint64_t body_offset;
	uint64_t body_size;
	uint32_t crc;
	int ok; /* out */
};

void spool_open(struct spool *);
void spool_name(uint64_t msgid, char *buf, size_t len);
/* create spool/ID with its header written; the fd is left at the body */
int spool_create(struct spool *, uint64_t msgid, const struct envelope *,
    uint64_t *body_offset);
/*
 * Commit a batch: each file gets its trailer, then one flush covers them
 * all (data and directory entries).  ok says how each fared; a failed
 * one is removed.
 */
void spool_commit_batch(struct spool *, struct spool_commit *, size_t n);
void spool_remove(struct spool *, uint64_t msgid);
/* open a committed message read-only and check its header */
int spool_load(struct spool *, uint64_t msgid, struct envelope *,
    uint64_t *body_offset, uint64_t *body_size);
void spool_move(struct spool *, uint64_t msgid, const char *dir);
/*
 * Start-up: remove what was never committed, set aside what cannot be
 * read, and call fn for every committed message.
 */
void spool_recover(struct spool *, void (*fn)(uint64_t, void *), void *);

/* ---------------------------------------------------------------- maildir.c */
/*
 * Write one message into DOMAIN/USER/tmp/ under the mail root; the name
 * is derived from msgid and the recipient index, so a retry finds what
 * an earlier try delivered.  Returns the open tmp file (the caller
 * flushes and closes it), MAILDIR_DONE_BEFORE, or -1 on error (errno).
 */
#define MAILDIR_DONE_BEFORE (-2)
struct maildir_delivery {
	char mailbox[ENVELOPE_MAILBOX_MAX];
	char name[256]; /* the file name in tmp/ and new/ */
};

int maildir_write(int rootfd, const char *mailbox, uint64_t msgid, uint32_t idx,
    const char *hostname, const char *sender, int spoolfd, uint64_t body_offset,
    uint64_t body_size, struct maildir_delivery *);
/* rename tmp/NAME to new/NAME */
int maildir_publish(int rootfd, const struct maildir_delivery *);

#endif
