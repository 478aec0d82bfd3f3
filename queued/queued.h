/*
 * queued: the spool and its scheduler (role queue), and local delivery
 * into Maildir (role mda).
 */

#ifndef BOXD_QUEUED_H
#define BOXD_QUEUED_H

#include <sys/tree.h>

#include "common.h"

/*
 * A spool file, version 2 (all integers big-endian, as msg.c writes them):
 *
 *	header	 "BOXQ", u32 version, u32 envelope length
 *	envelope envelope_marshal()
 *	body	 the message as smtp received it
 *	trailer	 "BOXT", u64 message id, u64 body length,
 *		 u32 CRC-32 of header and envelope, u32 CRC-32 of the body
 *
 * Queue writes the header, the envelope and the trailer through its own
 * descriptor; smtp gets a separate one opened O_WRONLY|O_APPEND, so all
 * it can do is add body bytes at the end (and the commit checks that
 * the file has exactly the length smtp claims).  The commit writes the
 * trailer and flushes it.  A file without a trailer was never
 * acknowledged; the id (which no client sees before its 250) keeps a
 * body from passing its own last bytes off as one.  Every load checks
 * the structure, both CRCs and the content of the envelope
 * (envelope_check()); a file that fails is moved to corrupt/.
 *
 * Version 1 (boxd 0.1) had a 24-byte trailer with the body CRC alone.
 * Such files are still loaded, with every check but the envelope CRC, so
 * that mail queued before an upgrade is delivered.
 */
#define SPOOL_MAGIC	    "BOXQ"
#define SPOOL_TRAILER_MAGIC "BOXT"
#define SPOOL_VERSION	    2
#define SPOOL_HDR_FIXED	    12
#define SPOOL_TRAILER	    28
#define SPOOL_TRAILER_V1    24
#define SPOOL_ENVELOPE_MAX  (4 * 1024 * 1024)

#define SPOOL_QUEUE   "spool"	/* received and committed */
#define SPOOL_CORRUPT "corrupt" /* unreadable, kept for the admin */
#define SPOOL_FAILED  "failed"	/* given up on, kept until bounces */

/* ---------------------------------------------------------------- queue_fs.c
 */
struct spool {
	int queuefd; /* directory fd inside the jail */
};

/* a spool file just created */
struct spool_file {
	int fd;	      /* queue's, read-write */
	int appendfd; /* smtp's: O_WRONLY|O_APPEND, a description of its own */
	uint64_t body_offset;
	uint32_t hdr_crc; /* of header and envelope */
};

/* a message being committed */
struct spool_commit {
	uint64_t msgid;
	int fd;
	uint64_t body_offset;
	uint64_t body_size;
	uint32_t hdr_crc;
	uint32_t body_crc;
	int ok; /* out */
};

/* where a committed message's body is */
struct spool_msg {
	uint64_t body_offset;
	uint64_t body_size;
	uint32_t version;
};

/* spool_load() could not give a message out */
#define SPOOL_TEMP (-1) /* cannot read it now (errno): try again later */
#define SPOOL_BAD  (-2) /* its content is bad: for corrupt/ */
#define SPOOL_GONE (-3) /* no such file */

void spool_open(struct spool *);
void spool_name(uint64_t msgid, char *buf, size_t len);
/*
 * Create spool/ID with its header and envelope written; 0, or -1 with
 * nothing left behind (no file, no descriptor).
 */
int spool_create(struct spool *, uint64_t msgid, const struct envelope *,
    struct spool_file *);
/*
 * Commit a batch: each file gets its trailer, then one flush covers them
 * all (data and directory entries).  ok says how each fared; a failed
 * one is removed.
 */
void spool_commit_batch(struct spool *, struct spool_commit *, size_t n);
void spool_remove(struct spool *, uint64_t msgid);
/* a committed message, read-only, for its first delivery (-1: errno) */
int spool_open_message(struct spool *, uint64_t msgid);
/*
 * Open a committed message read-only and check all of it: structure,
 * both CRCs, the envelope's content.  The fd, or SPOOL_TEMP, SPOOL_BAD
 * or SPOOL_GONE, with the reason in why.
 */
int spool_load(struct spool *, uint64_t msgid, struct envelope *,
    struct spool_msg *, char *why, size_t);
/* move spool/ID into dir, saying why (NULL: the caller did) */
void spool_move(struct spool *, uint64_t msgid, const char *dir, const char *);
/*
 * Start-up: remove what was never committed, set aside in corrupt/ what
 * fails spool_load()'s checks, and call fn for every other committed
 * message (those that cannot be read now included: the delivery retries
 * them).
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
