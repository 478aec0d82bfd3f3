/*
 * queued: the spool and its scheduler (role queue), and local delivery
 * into Maildir (role mda).
 */

#ifndef BOXD_QUEUED_H
#define BOXD_QUEUED_H

#include <sys/tree.h>

#include "common.h"

/*
 * A spool file, version 3 (all integers big-endian, as msg.c writes them):
 *
 *	header	 "BOXQ", u32 version, u32 envelope length
 *	envelope envelope_marshal()
 *	body	 the message as smtp received it
 *	prepend	 headers the queue adds at commit, emitted before the body
 *	trailer	 "BOXT", u64 message id, u64 body length, u32 prepend length,
 *		 u32 CRC-32 of header and envelope, u32 CRC-32 of the body,
 *		 u32 CRC-32 of the prepended headers
 *
 * Queue writes the header, the envelope, the prepended headers and the
 * trailer through its own descriptor; smtp gets a separate one opened
 * O_WRONLY|O_APPEND, so all it can do is add body bytes at the end (and
 * the commit checks that the file has exactly the length smtp claims).
 * The commit writes the prepended headers and the trailer in one write
 * and flushes them.  A file without a trailer was never acknowledged;
 * the id (which no client sees before its 250) keeps a body from passing
 * its own last bytes off as one.  Every load checks the structure, the
 * CRCs and the content of the envelope (envelope_check(), at most
 * ENVELOPE_RCPT_MAX recipients, refused before anything is allocated for
 * them); a file that fails is moved to corrupt/, and so is anything but
 * a regular file (opened without blocking: a FIFO is refused, not
 * waited on); one there is no memory for now is retried.  A recipient
 * whose mailbox name is bad (which only a hand-made file can hold) fails
 * alone, permanently.
 *
 * Headers added after the body is in (a DKIM-Signature over the body as
 * committed) are the prepended headers: the body is streamed into the
 * file before anything can be computed over it, so what comes from it
 * goes after it, covered by a CRC of its own, and mda (and mta) write it
 * out before the body.  Nothing adds any yet: its length is 0.
 *
 * Version 2 (the format before per-recipient state) had a 28-byte
 * trailer without the prepended headers, version 1 (boxd 0.1) a 24-byte
 * trailer with the body CRC alone.  Both are still loaded, version 1 without
 *the envelope CRC, so that mail queued before an upgrade is delivered.
 *
 * Per-recipient state: ID.state beside ID, written only when a delivery
 * attempt ends with a recipient still pending or failed, so that a
 * commit (every recipient pending, none tried: the state a missing file
 * means) costs no second write, and a message delivered at its first
 * attempt never has one:
 *
 *	"BOXS", u32 version, u64 message id, u32 n,
 *	n x (u32 status, u32 attempts, u64 next attempt (Unix seconds),
 *	     str last reply), u32 CRC-32 of all that precedes
 *
 * It is a file of its own, replaced whole (ID.state.tmp, a flush, the
 * rename, a flush before the queue acts on what it says), rather than
 * records inside the message file: the message stays write-once after
 * its commit, read through a read-only descriptor by mda, and covered
 * by CRCs that never change, and a torn update leaves the old state or
 * the new one, never a mix.  A state that cannot be written or flushed
 * is not acted on: the message waits, neither tried nor given up on,
 * until it can be.  A state file that does not check out is
 * set aside in corrupt/ and every recipient counts as pending again:
 * mail is never lost for it, and a local recipient delivered before is
 * recognised by its Maildir name (maildir_delivered(): new/ and cur/,
 * whatever the host name), not delivered twice.  The message
 * file goes first when a message is done (removed or moved to failed/,
 * its state with it), so a crash leaves at worst an orphaned state,
 * which the start-up removes.
 */
#define SPOOL_MAGIC	    "BOXQ"
#define SPOOL_TRAILER_MAGIC "BOXT"
#define SPOOL_VERSION	    3
#define SPOOL_HDR_FIXED	    12
#define SPOOL_TRAILER	    36
#define SPOOL_TRAILER_V2    28
#define SPOOL_TRAILER_V1    24
#define SPOOL_ENVELOPE_MAX  (4 * 1024 * 1024)
#define SPOOL_PREPEND_MAX   (64 * 1024)

#define SPOOL_STATE_MAGIC   "BOXS"
#define SPOOL_STATE_VERSION 1
#define SPOOL_STATE_SUFFIX  ".state"
#define SPOOL_STATE_TMP	    ".state.tmp"

/*
 * Recipients in one delivery job at most: its report, 12 octets and a
 * reply for each, fits one imsg with replies cut to 19 octets or more.
 */
#define MDA_RCPT_MAX 8192

#define SPOOL_QUEUE   "spool"	/* received and committed */
#define SPOOL_CORRUPT "corrupt" /* unreadable, kept for the admin */
#define SPOOL_FAILED  "failed"	/* given up on, kept until bounces */

/* ---------------------------------------------------------------- queue_rcpt.c
 */
/* a recipient's delivery, as the queue keeps it and ID.state stores it */
enum rcpt_status {
	RCPT_PENDING,
	RCPT_DELIVERED,
	RCPT_FAILED,
};

#define RCPT_REPLY_MAX 256 /* the last reply kept, NUL included */

struct rcpt_state {
	uint32_t status; /* RCPT_* */
	uint32_t attempts;
	uint64_t next_try; /* Unix seconds; 0: at once */
	char reply[RCPT_REPLY_MAX];
	int inflight; /* not stored: handed to mda (or to auth's check) */
	int gone;     /* not stored: auth's check found no user for it */
	int remote;   /* not stored: no mailbox, mta's to deliver */
};

/* the retry schedule of one message */
struct rcpt_policy {
	uint64_t received; /* Unix seconds: expiry counts from it */
	uint32_t retry;	   /* the first delay, doubling */
	uint32_t max_retry;
	uint32_t expire;
};

/* where a message's recipients stand together */
enum rcpt_outcome {
	RCPT_SOME_PENDING,
	RCPT_ALL_DELIVERED,
	RCPT_SOME_FAILED, /* none pending, at least one failed */
};

/* seconds before the next attempt after the given number of them */
uint64_t rcpt_retry_delay(uint32_t attempts, const struct rcpt_policy *);
/*
 * The result of an attempt (an MDA_* status and its reply) for one
 * recipient whose attempts were counted when it was handed out.  A
 * temporary failure gets its next attempt, or fails when the message
 * has expired.  Returns the new status.
 */
uint32_t rcpt_result(struct rcpt_state *, uint32_t mda_status,
    const char *reply, uint64_t now, const struct rcpt_policy *);
/*
 * Seconds to wait for an attempt due at next: 0 to max-retry, so that
 * no time read from disk, nor a clock set back, puts it further off
 */
uint64_t rcpt_wait(uint64_t next, uint64_t now, const struct rcpt_policy *);
/* no pending recipient's next attempt more than max-retry from now */
void rcpt_clamp(
    struct rcpt_state *, uint32_t n, uint64_t now, const struct rcpt_policy *);
/*
 * When a message counts as received, for its expiry: the time in its id,
 * unless that is in the future (a clock set back, a hand-made file):
 * then now, or it would never expire.
 */
uint64_t rcpt_received(uint64_t id_time, uint64_t now);
enum rcpt_outcome rcpt_outcome(const struct rcpt_state *, uint32_t n);
/* pending, not out, and its time has come; never a remote one */
int rcpt_due(const struct rcpt_state *, uint64_t now);
/* the earliest next attempt of a pending local recipient not out; 0 if none */
uint64_t rcpt_next_try(const struct rcpt_state *, uint32_t n);
/* ID.state's bytes, and back: 0, or -1 with why (the caller's n) */
void spool_state_marshal(
    struct msg_writer *, uint64_t msgid, const struct rcpt_state *, uint32_t n);
int spool_state_unmarshal(const void *, size_t, uint64_t msgid,
    struct rcpt_state *, uint32_t n, char *why, size_t);
/* the largest ID.state n recipients can have */
size_t spool_state_size_max(uint32_t n);

/* ---------------------------------------------------------------- retry.c */
/* the `queue retry R max-retry M expire E` directive, in seconds */
struct retry_schedule {
	uint32_t retry;
	uint32_t max_retry;
	uint32_t expire;
};

/*
 * Seconds from the attempts-th attempt (1 for the first) to the next: R
 * doubled attempts - 1 times, moved by up to 10% either way by rnd (a
 * uniform random number: arc4random(), or fixed in tests), then capped
 * at M, so that no wait is ever longer than max-retry.  At least 1.
 */
uint64_t
retry_delay(const struct retry_schedule *, uint32_t attempts, uint32_t rnd);
/*
 * When the attempt after the attempts-th is due, in Unix seconds: the
 * delay from now, but no later than the expiry (received + E), so that
 * the last attempt comes as the message expires; 0 if it has expired.
 */
uint64_t retry_next(const struct retry_schedule *, uint32_t attempts,
    uint64_t received, uint64_t now, uint32_t rnd);
/* 1 if a message received then has expired by now */
int
retry_expired(const struct retry_schedule *, uint64_t received, uint64_t now);

/* ---------------------------------------------------------------- mda.c */
/*
 * The octets of reply each of n recipients gets in mda's report, so that
 * the report fits one imsg: RCPT_REPLY_MAX - 1 at most, 19 or more for
 * up to MDA_RCPT_MAX recipients (mda refuses a job of more), 0 past what
 * fits at all.
 */
size_t mda_reply_room(uint32_t n);

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
	const void *prepend; /* headers to put before the body, or NULL */
	uint32_t prepend_len;
	int ok; /* out */
};

/* where a committed message's parts are */
struct spool_msg {
	uint64_t body_offset;
	uint64_t body_size;
	uint64_t prepend_offset;
	uint32_t prepend_size;
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
 * Commit a batch: each file gets its prepended headers and trailer, then
 * one flush covers them all (data and directory entries).  ok says how
 * each fared; a failed one is removed.
 */
void spool_commit_batch(struct spool *, struct spool_commit *, size_t n);
/*
 * Remove spool/ID, then its ID.state if it has one: 0 once the message
 * is gone (a state left behind goes at start-up), -1 logged.
 */
int spool_remove(struct spool *, uint64_t msgid, int state);
/* a committed message, read-only, for its first delivery (-1: errno) */
int spool_open_message(struct spool *, uint64_t msgid);
/*
 * Open a committed message read-only and check all of it: structure,
 * the CRCs, the envelope's content.  The fd, or SPOOL_TEMP, SPOOL_BAD
 * or SPOOL_GONE, with the reason in why.
 */
int spool_load(struct spool *, uint64_t msgid, struct envelope *,
    struct spool_msg *, char *why, size_t);
/*
 * spool_load() without the CRCs of the body and the added headers: for
 * a look at the envelope (boxctl queue), not for a delivery.
 */
int spool_peek(struct spool *, uint64_t msgid, struct envelope *,
    struct spool_msg *, char *why, size_t);
/*
 * spool_load()'s checks on a file already open: 0 with env and m filled
 * in (the caller clears env), or SPOOL_TEMP or SPOOL_BAD with the reason
 * in why and env empty
 */
int spool_verify(int fd, uint64_t msgid, struct envelope *, struct spool_msg *,
    char *why, size_t);
/*
 * Move spool/ID and its state into dir, saying why (NULL: the caller
 * did): 0 once the message is moved (its state follows at start-up if it
 * cannot now), -1 logged.
 */
int spool_move(struct spool *, uint64_t msgid, const char *dir, const char *);
/*
 * A new ID.state for these n recipients, in steps so that a batch costs
 * two flushes: write each as ID.state.tmp, spool_state_flush() them all,
 * spool_state_rename() each into place, then spool_sync().  A file
 * renamed before its data is on disk can be found empty after a crash
 * (XFS, ext4 with noauto_da_alloc).  Each 0, or -1 logged; a failed
 * rename removes the .tmp.
 */
int spool_state_write(
    struct spool *, uint64_t msgid, const struct rcpt_state *, uint32_t n);
int spool_state_flush(struct spool *);
int spool_state_rename(struct spool *, uint64_t msgid);
/* flush what was written and renamed in the spool: 0, or -1 logged */
int spool_sync(struct spool *);
/*
 * Read ID.state for a message of n recipients: 0 with rs filled, or
 * SPOOL_GONE (none: every recipient pending), SPOOL_BAD or SPOOL_TEMP
 * with why.
 */
int spool_state_load(struct spool *, uint64_t msgid, struct rcpt_state *,
    uint32_t n, char *why, size_t);
/* move a state that does not check out to corrupt/ */
void spool_state_set_aside(struct spool *, uint64_t msgid);
/*
 * Start-up: remove what was never committed, set aside in corrupt/ what
 * fails spool_load()'s checks, and call fn for every other committed
 * message (those that cannot be read now included: the delivery retries
 * them).  Then remove unfinished state files, and states without their
 * message (following it into failed/ or corrupt/ if it is there).
 */
void spool_recover(struct spool *, void (*fn)(uint64_t, void *), void *);

/* ---------------------------------------------------------------- bounce.c */
/*
 * A delivery status notification (RFC 3464, RFC 6522, RFC 6533) to a
 * message's sender, about the recipients whose state and NOTIFY call
 * for one: written as a message body in the spool's form (LF line ends).
 */
enum dsn_action { DSN_FAILED, DSN_DELAYED, DSN_DELIVERED };

#define DSN_HEADER_MAX (64 * 1024)   /* the original's header returned */
#define DSN_FULL_MAX   (1024 * 1024) /* RET=FULL up to this, else header */

struct dsn {
	const char *hostname;	     /* Reporting-MTA and MAILER-DAEMON@ */
	const struct envelope *env;  /* the original's */
	const struct rcpt_state *rs; /* its recipients' (NULL: pending) */
	enum dsn_action action;
	uint64_t now;	/* Unix seconds */
	uint64_t until; /* DSN_DELAYED: tried until then */
	uint64_t id;	/* the report's own: its Message-ID, boundary */
};

/* 1 if recipient i is told of in this report */
int dsn_rcpt_wanted(const struct dsn *, uint32_t i);
/* how many are; 0 means no report (never one to the null sender) */
uint32_t dsn_wanted(const struct dsn *);
/*
 * The report, with the original (spoolfd, parts m) returned whole
 * (RET=FULL, up to DSN_FULL_MAX) or its header, written to outfd at
 * *off (advanced); its *size and CRC-32 for the commit.  0, -1 (errno).
 */
int dsn_write(const struct dsn *, int spoolfd, const struct spool_msg *m,
    int outfd, uint64_t *off, uint64_t *size, uint32_t *crc);

/* ---------------------------------------------------------------- maildir.c */
/*
 * Write one message into DOMAIN/USER/tmp/ under the mail root: mda's
 * lines, the prepended headers, the body; the name comes from
 * maildir_unique_name(), so a retry finds what an earlier try delivered.
 * Returns the open tmp file (the caller flushes and closes it), or -1 on
 * error (errno).
 */
struct maildir_delivery {
	char mailbox[ENVELOPE_MAILBOX_MAX];
	char name[MAILDIR_NAME_MAX + 1]; /* the file name in tmp/ and new/ */
};

int maildir_write(int rootfd, const char *mailbox, uint64_t msgid, uint32_t idx,
    const char *hostname, const char *sender, int spoolfd,
    const struct spool_msg *, struct maildir_delivery *);
/*
 * Did an earlier try deliver recipient idx of this message?  A name
 * with its maildir_unique_prefix() in new/ or cur/: 1, 0, or -1 (errno).
 * Only a retry asks: it reads both directories whole.
 */
int maildir_delivered(
    int rootfd, const char *mailbox, uint64_t msgid, uint32_t idx);
/* rename tmp/NAME to new/NAME */
int maildir_publish(int rootfd, const struct maildir_delivery *);

#endif
