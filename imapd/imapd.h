/*
 * imapd: the imap role, IMAP4rev1 + IMAP4rev2 and POP3 sessions over the
 * users' Maildirs (DESIGN.md: IMAP, POP3, storage root).
 */

#ifndef BOXD_IMAPD_H
#define BOXD_IMAPD_H

#include <sys/tree.h>

#include <netinet/in.h>

#include "common.h"

struct bufferevent;
struct evbuffer;
struct event;

/* ---------------------------------------------------------------- imap_parse.c
 */

enum imap_arg_type {
	IMAP_ARG_ATOM,	 /* atoms, numbers, NIL, flags, BODY[...]<...> */
	IMAP_ARG_STRING, /* quoted string or literal */
	IMAP_ARG_LIST,	 /* ( ... ) */
};

/* a parsed argument; every pointer points into the command's arena */
struct imap_arg {
	enum imap_arg_type type;
	int literal;	 /* STRING: 0 quoted, 1 {n}, 2 ~{n} (literal8) */
	const char *str; /* ATOM, STRING: NUL-terminated copy */
	size_t len;	 /* octets in str, without the NUL (may hold NULs) */
	struct imap_arg *list; /* LIST: its elements */
	size_t nlist;
};

/* one command's text, literal payloads not counted */
#define IMAP_LINE_MAX  65536
#define IMAP_ARGS_MAX  8192 /* arguments in one command, every level */
#define IMAP_DEPTH_MAX 32   /* nesting of parenthesised lists */
#define IMAP_TAG_MAX   64

struct imap_command {
	char tag[IMAP_TAG_MAX + 1]; /* "*" until parsed */
	char name[32];		    /* upper-cased; "UID FETCH" is "FETCH" */
	int uid;		    /* 1 after "UID" */
	struct imap_arg *args;	    /* top-level arguments after the name */
	size_t nargs;
	void *arena; /* every arg and string, one block, ~ the input's size */
};

/*
 * Framing, for the session reading lines: does this line (without its
 * CRLF) end with a literal marker {n}, {n+}, ~{n} or ~{n+}?  1 and the
 * fields set; 0 no; -1 a malformed marker ({abc}, a number past 2^63-1).
 */
int imap_line_literal(
    const char *line, size_t len, uint64_t *size, int *nonsync, int *binary);
/*
 * One whole command: its lines joined with their CRLFs, each literal's
 * payload right after the CRLF of the line announcing it, the final CRLF
 * removed.  0, or -1 and a short reason in err (cmd->tag is the tag when
 * it was readable, else "*").  cmd is overwritten: free a parsed one
 * first.  imap_command_free() is safe after either result.
 */
int imap_command_parse(struct imap_command *, const char *buf, size_t len,
    char *err, size_t errsz);
void imap_command_free(struct imap_command *);
/*
 * The tag a line starts with, to answer a command refused before it is
 * whole (too long, a literal too big): its length, or -1 and "*" in tag.
 */
int imap_line_tag(const char *line, size_t len, char *tag, size_t tagsz);
/* ATOM equal to upper, ASCII case-insensitively: 1 or 0 */
int imap_arg_is_atom(const struct imap_arg *, const char *upper);
int imap_arg_is_nil(const struct imap_arg *);
/* astring (atom of ASTRING-CHARs or string, not literal8): str or NULL */
const char *imap_arg_astring(const struct imap_arg *);
/* list-mailbox of LIST and LSUB (astring, or an atom with % and *) */
const char *imap_arg_list_mailbox(const struct imap_arg *);
/* an atom of digits: 0 and *out set (number, 0 included), or -1 */
int imap_arg_number(const struct imap_arg *, uint32_t *);
/* the same up to 2^63-1, mod-sequences */
int imap_arg_number64(const struct imap_arg *, uint64_t *);

/* ----------------------------------------------------------------
 * imap_seqset.c
 */

struct imap_range {
	uint32_t lo, hi;
};

struct imap_seqset {
	struct imap_range *r;
	size_t n;
	int dollar; /* "$" of RFC 5182: the saved search result, n is 0 */
};

/*
 * "1:3,5,7:*"; '*' is kept as UINT32_MAX.  At most max ranges, counted
 * before allocating.  0 or -1.
 */
int imap_seqset_parse(const char *, struct imap_seqset *, size_t max);
/* '*' becomes star (0 in an empty mailbox), ranges sorted and merged */
void imap_seqset_resolve(struct imap_seqset *, uint32_t star);
/* after imap_seqset_resolve(); 1 or 0 in O(log n) */
int imap_seqset_contains(const struct imap_seqset *, uint32_t);
void imap_seqset_free(struct imap_seqset *);
/* ascending numbers written compactly, "1:3,5" (COPYUID, ESEARCH); 0 or -1 */
int imap_seqset_write(struct evbuffer *, const uint32_t *sorted, size_t n);

/* ---------------------------------------------------------------- imap_utf7.c
 */

/*
 * Modified UTF-7 of mailbox names (RFC 3501 5.1.3) from and to UTF-8, into
 * out; every non-canonical or malformed input and a result that does not
 * fit outsz (NUL included) are refused.  0 or -1.
 */
int imap_utf7_to_utf8(const char *, char *out, size_t outsz);
int imap_utf8_to_utf7(const char *, char *out, size_t outsz);
/* the valid UTF-8 sequence at s (n octets left): its length and *cp, or 0 */
size_t imap_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* ----------------------------------------------------------------
 * imap_string.c
 */

/*
 * A string as a quoted string when every octet may be in one (no CR, LF or
 * NUL, 8-bit only as valid UTF-8 and when utf8 is set, not long), else as
 * a literal; NULL writes NIL.  0 or -1 (out of memory).
 */
int imap_write_string(struct evbuffer *, const char *, size_t, int utf8);
int imap_write_nstring(struct evbuffer *, const char *, size_t, int utf8);
/* an atom when it can be one (mailbox names), else a string */
int imap_write_astring(struct evbuffer *, const char *, size_t, int utf8);

/* ---------------------------------------------------------------- index.c
 */
/*
 * A folder's index, a cache of what its Maildir holds (see index.c for
 * the format): boxd.index, a checksummed snapshot rewritten whole, and
 * boxd.log, checksummed records appended since.  Nothing read from
 * either is trusted: a file that fails any check is discarded and the
 * folder rebuilt from the Maildir (and dovecot-uidlist).
 */
#define INDEX_FILE  "boxd.index"
#define INDEX_LOG   "boxd.log"
#define INDEX_CACHE "boxd.cache"

/* one message as the index keeps it; name is the file's base name */
struct mail_msg {
	uint32_t uid;
	uint32_t flags; /* MAILDIR_FLAG_*, keyword letters as bits 6-31 */
	uint64_t modseq;
	uint64_t size;	       /* RFC822.SIZE, 0 not known yet */
	int64_t internal_date; /* seconds, 0 not known yet */
	uint32_t name_off;     /* in the names arena: the whole file name */
	uint16_t name_len;
	uint16_t base_len; /* its base: the octets before ":2," */
	uint8_t in_new;	   /* in new/ rather than cur/ */
	uint8_t recent;	   /* not yet seen by any session */
	uint8_t expunged;  /* gone; dropped at the next index_compact() */
	uint8_t dirty;	   /* flags not yet in the name: see mailbox.c */
};

/* expunged UIDs first..last, at modseq (for QRESYNC's VANISHED) */
struct mail_uid_range {
	uint32_t first, last;
	uint64_t modseq;
};

struct index_state {
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	int64_t new_mtime, cur_mtime; /* ns, as seen at the last scan */
	uint64_t vanished_floor;      /* expunges below this modseq forgotten */
	uint32_t log_gen;	      /* which boxd.log the snapshot precedes */
	struct mail_msg *msgs;	      /* by ascending uid */
	size_t nmsgs, msgs_cap;
	char *names; /* the arena of file names */
	size_t names_len, names_cap;
	struct mail_uid_range *vanished;
	size_t nvanished, vanished_cap;
	int dirty; /* a message read from disk was dirty */
};

void index_state_init(struct index_state *);
void index_state_free(struct index_state *);
/* add a name to the arena: its offset, or -1 (ENOMEM, or arena full) */
int64_t index_name_add(struct index_state *, const char *, size_t);
static inline const char *
mail_msg_name(const struct index_state *st, const struct mail_msg *m)
{
	return st->names + m->name_off;
}
/* room for n messages in all, allocated at once: 0, -1 ENOMEM */
int index_msgs_reserve(struct index_state *, size_t n);
/* a record appended at the end (uid above all others): 0, -1 ENOMEM */
int index_msg_append(struct index_state *, const struct mail_msg *);
/* the message of that uid, or NULL (binary search) */
struct mail_msg *index_msg_find(const struct index_state *, uint32_t uid);
/* drop the expunged messages, and arena octets no one points at */
int index_compact(struct index_state *);
/* remember uid expunged at modseq; trims the oldest beyond a bound */
int index_vanished_add(struct index_state *, uint32_t uid, uint64_t modseq);
/*
 * A snapshot from octets: 0, or -1 if anything is wrong in it (the
 * state is then left empty).  The fuzz target calls it on any octets.
 */
int index_parse(struct index_state *, const void *, size_t);
/* the checksum that ends a snapshot, over the octets before it */
uint32_t index_checksum(const void *, size_t);
/* the snapshot of st as octets (malloc'd *buf): 0, -1 ENOMEM */
int index_serialize(const struct index_state *, void **buf, size_t *len);
/* read dirfd's boxd.index (0), or -1 if missing or bad (logged) */
int index_read(int dirfd, struct index_state *);
/*
 * The UIDVALIDITY a damaged snapshot still shows (0 none): a rebuild
 * must not give the same one to different UIDs.
 */
uint32_t index_peek_uidvalidity(int dirfd);
/* write it: temporary file, fdatasync, rename, directory fsync */
int index_write(int dirfd, const struct index_state *);

/* a whole regular file of at most max octets, NUL-terminated: 0, -1 */
int
index_slurp(int dirfd, const char *name, void **buf, size_t *len, size_t max);
/* replace name with octets: temporary file, fdatasync, rename, fsync */
int index_replace_file(int dirfd, const char *name, const void *, size_t);

/* boxd.log records: what changed since the snapshot */
enum index_log_type {
	INDEX_LOG_NEW = 1, /* a uid given to a base name */
	INDEX_LOG_FLAGS,   /* flags and modseq of a uid; name as it is now
			      (the flags may be ahead of the name's) */
	INDEX_LOG_EXPUNGE, /* a uid gone at modseq */
	INDEX_LOG_INFO,	   /* size and internal date learnt */
};
/* append one record (m, its name in st's arena) to a buffer */
int index_log_put(struct msg_writer *, enum index_log_type,
    const struct index_state *, const struct mail_msg *);
/*
 * Replay a log's octets over st, which must be the snapshot of that log
 * generation; stops quietly at a torn or corrupt record (and says how
 * many octets were good in *goodlen).  0, or -1 if the log is of another
 * generation or st cannot be grown.
 */
int
index_log_replay(struct index_state *, const void *, size_t, size_t *goodlen);
/* the octets a new, empty log of st->log_gen starts with */
void index_log_header(struct msg_writer *, uint32_t gen);

/* ---------------------------------------------------------------- uidlist.c
 */
/*
 * Dovecot's files in a Maildir folder, read so that a Maildir moved over
 * from Dovecot keeps its UIDs and keywords.  dovecot-uidlist: version 1
 * ("1 UIDVALIDITY UIDNEXT") or 3 ("3 V<uidvalidity> N<uidnext> ...",
 * then "UID [extensions] :BASENAME").  dovecot-keywords: "N NAME" lines,
 * N = 0 the letter 'a'.
 */
#define UIDLIST_FILE	 "dovecot-uidlist"
#define KEYWORDS_FILE	 "dovecot-keywords"
#define KEYWORDS_MAX	 26 /* Maildir's letters a-z */
#define KEYWORD_NAME_MAX 128

struct uidlist_entry {
	uint32_t uid;
	uint32_t base_off; /* in the uidlist's own arena */
	uint16_t base_len;
};

struct uidlist {
	uint32_t uidvalidity, uidnext;
	struct uidlist_entry *ents; /* by ascending uid */
	size_t nents;
	char *names; /* the bases, NUL-terminated */
	size_t names_len;
};

/*
 * Parse a uidlist's octets: 0, or -1 if its header is bad (the file is
 * then of no use).  Lines that do not parse, or break the UID order,
 * are skipped.
 */
int uidlist_parse(struct uidlist *, const char *, size_t);
/* read dirfd's dovecot-uidlist: 0, -1 missing or useless */
int uidlist_read(int dirfd, struct uidlist *);
void uidlist_free(struct uidlist *);

/* the keyword names of a folder, index i is the letter 'a' + i */
struct keywords {
	char *name[KEYWORDS_MAX]; /* NULL: letter unused */
};
/* parse dovecot-keywords octets; bad lines skipped, never fails */
void keywords_parse(struct keywords *, const char *, size_t);
int keywords_read(int dirfd, struct keywords *); /* 0, or -1 none */
/* write it whole (temporary file and rename): 0, -1 */
int keywords_write(int dirfd, const struct keywords *);
void keywords_free(struct keywords *);
/* a name a client may use as a keyword: an IMAP atom, not a \flag */
int keyword_name_valid(const char *);

/* ---------------------------------------------------------------- mailbox.c
 */
/*
 * The mail store as the sessions see it.  A mail_user is one logged-in
 * user's Maildir (shared by all that user's sessions); a mailbox is one
 * open folder, shared by every session that has it selected; a
 * mailbox_view is one session's selection of it, with its own sequence
 * numbers: what others change reaches a view only when it syncs, in the
 * order it happened.
 *
 * IMAP flags are Maildir's: \Draft D, \Flagged F, \Answered R, \Seen S,
 * \Deleted T; keywords are the bits of letters a-z (MAILDIR_FLAG_KEYWORD),
 * named per folder by mailbox_keyword().  \Recent is per view.
 */
struct event_base;
struct mail_user;
struct mailbox;
struct mailbox_view;
struct mail_append;

#define MAIL_FLAGS_STD                                                     \
	(MAILDIR_FLAG_DRAFT | MAILDIR_FLAG_FLAGGED | MAILDIR_FLAG_PASSED | \
	    MAILDIR_FLAG_REPLIED | MAILDIR_FLAG_SEEN | MAILDIR_FLAG_TRASHED)
#define MAIL_FLAG_DELETED MAILDIR_FLAG_TRASHED

/*
 * Set once by the imap role: its root, the storage's mail directory (the
 * chroot), against which every mailbox path "DOMAIN/USER" is opened.
 */
struct mail_user *
mail_user_get(int rootfd, const char *mailbox, uint64_t quota);
void mail_user_put(struct mail_user *);
/*
 * The folder the user's last APPEND left open is closed (its index
 * written): before a DELETE or RENAME changes folder directories.
 */
void mail_user_release(struct mail_user *);
/* the quota given, and what the user's folders hold now (octets) */
uint64_t mail_user_quota(struct mail_user *);
uint64_t mail_user_usage(struct mail_user *);

/* what a view hears during mailbox_view_sync(), in the order it happened */
struct mailbox_view_ops {
	/* seq is the message's number before it goes; later ones move down */
	void (*expunge)(void *arg, uint32_t seq, uint32_t uid);
	/* another session (or writer) changed its flags or modseq */
	void (*flags)(void *arg, uint32_t seq, const struct mail_msg *);
	/* new messages: the count and recent count after them */
	void (*exists)(void *arg, uint32_t count, uint32_t recent);
	/*
	 * The view fell so far behind (MAILBOX_EVENTS_MAX news not heard)
	 * that the mailbox stopped keeping its news: it is of no more use
	 * but to close.  Called from another session's change.
	 */
	void (*lost)(void *arg);
};
#define MAILBOX_EVENTS_MAX (1 << 20) /* news kept for views, 16 octets each */

/*
 * Select a folder (UTF-8 name; "INBOX" any case).  readonly: EXAMINE
 * (no \Recent claimed, no new/ to cur/ moves).  NULL with err set if the
 * folder does not exist or cannot be read.
 */
struct mailbox_view *
mailbox_view_open(struct mail_user *, const char *folder, int readonly,
    const struct mailbox_view_ops *, void *arg, char *err, size_t errsz);
void mailbox_view_close(struct mailbox_view *);
/* tell the view's callbacks what others did since its last sync */
void mailbox_view_sync(struct mailbox_view *);
/* 1 if others did something the view has not heard of yet */
int mailbox_view_pending(struct mailbox_view *);
/*
 * IDLE: called (once, then it must be set again) when the mailbox
 * changes; NULL cancels.  The callback runs from the event loop.
 */
void mailbox_view_watch(struct mailbox_view *, void (*)(void *), void *arg);

uint32_t mailbox_view_count(struct mailbox_view *);
uint32_t mailbox_view_recent(struct mailbox_view *);
/* seq of the first message without \Seen, 0 none */
uint32_t mailbox_view_unseen_first(struct mailbox_view *);
uint32_t mailbox_view_uidvalidity(struct mailbox_view *);
uint32_t mailbox_view_uidnext(struct mailbox_view *);
uint64_t mailbox_view_highestmodseq(struct mailbox_view *);
int mailbox_view_readonly(struct mailbox_view *);
/*
 * Message seq (1..count): NULL if it was expunged by another session
 * (the view still counts it until it syncs) or seq is out of range.
 * The pointer is valid until the next mailbox call.
 */
const struct mail_msg *mailbox_view_msg(struct mailbox_view *, uint32_t seq);
uint32_t mailbox_view_uid(struct mailbox_view *, uint32_t seq); /* 0 none */
uint32_t mailbox_view_seq(struct mailbox_view *, uint32_t uid); /* 0 none */
/* the seq of the first uid >= uid (for UID ranges), count+1 if none */
uint32_t mailbox_view_seq_ceil(struct mailbox_view *, uint32_t uid);
int mailbox_view_is_recent(struct mailbox_view *, uint32_t seq);
/* RFC822.SIZE and INTERNALDATE, read from the file once and cached */
int mailbox_msg_size(struct mailbox_view *, uint32_t seq, uint64_t *);
int mailbox_msg_date(struct mailbox_view *, uint32_t seq, int64_t *);

/*
 * The folder's keywords: the index (0-25) of name, creating it (and
 * writing dovecot-keywords) if create; -1 unknown, or no letter left.
 * Keyword i is the flag bit MAILDIR_FLAG_KEYWORD('a' + i).
 */
int mailbox_keyword(struct mailbox_view *, const char *, int create);
const char *mailbox_keyword_name(struct mailbox_view *, int); /* or NULL */

enum mailbox_store_op { STORE_SET, STORE_ADD, STORE_REMOVE };
/*
 * STORE on one message (flags include keyword bits).  0 done (or
 * nothing to change); 1 refused by UNCHANGEDSINCE (its modseq is above;
 * 0 means no such test); -1 message gone or rename failed.  The
 * session answers its own FETCH; other views hear it at their sync.
 * The index changes now, the file's name soon after (see mailbox.c).
 */
int mailbox_store(struct mailbox_view *, uint32_t seq, enum mailbox_store_op,
    uint32_t flags, uint64_t unchangedsince);
/*
 * EXPUNGE: every \Deleted message, or (UID EXPUNGE) only those whose
 * uid is in the ranges uids[0..n) (first..last each; NULL: all).  The
 * view's expunge callback fires for each, as IMAP wants it.  0, -1.
 */
int
mailbox_expunge(struct mailbox_view *, const struct mail_uid_range *, size_t n);
/* the message file, opened for reading: fd or -1 */
int mailbox_msg_open(struct mailbox_view *, uint32_t seq);

/*
 * ENVELOPE / BODYSTRUCTURE (IMAP syntax), computed once from the file
 * by the function the role sets, then kept in the mailbox's cache.
 * 0 with *text (valid until the next mailbox call), -1 if it cannot be.
 */
enum mailbox_cached {
	CACHED_ENVELOPE,
	CACHED_BODYSTRUCTURE,
	CACHED_BODY,
	CACHED_MAX
};
typedef int (*mailbox_compute_fn)(int fd, int what, char **text, size_t *len);
void mailbox_set_compute(mailbox_compute_fn);
int mailbox_msg_cached(struct mailbox_view *, uint32_t seq, int what,
    const char **text, size_t *len);

/*
 * APPEND (the folder need not be selected): write the message into
 * mailbox_append_fd(), then commit: fsync, rename into cur/ with flags,
 * a UID made durable before it is returned.  keywords by name: the
 * target folder's own letters are found (or made).
 */
struct mail_append *mailbox_append_begin(
    struct mail_user *, const char *folder, char *err, size_t errsz);
int mailbox_append_fd(struct mail_append *);
int mailbox_append_commit(struct mail_append *, uint32_t flags,
    const char *const *keywords, size_t nkeywords, int64_t internal_date,
    uint32_t *uidvalidity, uint32_t *uid, char *err, size_t errsz);
void mailbox_append_abort(struct mail_append *);

/*
 * COPY / MOVE of the view's messages seqs[0..n) to folder: linked (or
 * copied) with flags and keywords kept; *src and *dst (malloc'd, *n
 * entries) give COPYUID.  MOVE then expunges the sources; the view
 * hears of it at its next mailbox_view_sync(), which the session calls
 * after its OK [COPYUID] (RFC 6851 wants that order).  0, or -1 with err.
 */
int mailbox_copy(struct mailbox_view *, const uint32_t *seqs, size_t nseqs,
    const char *folder, int move, uint32_t *uidvalidity, uint32_t **src,
    uint32_t **dst, size_t *n, char *err, size_t errsz);

struct mailbox_status {
	uint32_t messages, recent, uidnext, uidvalidity, unseen, deleted;
	uint64_t size, highestmodseq;
};
/*
 * STATUS without selecting (uses the open mailbox if there is one).
 * size: RFC822.SIZE where known, else the ",S=" a name states.
 */
int mailbox_status(struct mail_user *, const char *folder,
    struct mailbox_status *, char *err, size_t errsz);

/*
 * QRESYNC: uids expunged after modseq, as ranges (malloc'd); 0, or 1
 * if that memory was trimmed (the answer then holds every uid below
 * UIDNEXT that is not in the mailbox), -1 ENOMEM.
 */
int mailbox_view_vanished_since(struct mailbox_view *, uint64_t modseq,
    struct mail_uid_range **out, size_t *n);
/* mda delivered to the Maildir "DOMAIN/USER": rescan its INBOX soon */
void mailbox_notify_delivery(const char *mailbox);
/*
 * The event base the rescans and inotify run on (the role's; NULL: none,
 * changes are then seen at each sync), and the path of the root the
 * users' fds are opened from, for inotify, which wants paths ("/" in the
 * chroot; NULL: no inotify, every sync rescans).
 */
void mailbox_init(struct event_base *, const char *rootpath);
/*
 * STORE renames files after its reply, on the event base (without one,
 * at once); this does every rename still to come, as the process stops.
 */
void mailbox_flush_all(void);

/* ---------------------------------------------------------------- folder.c
 */

/*
 * The folder tree of one user, over the Maildir's dirfd (chroot-relative
 * "DOMAIN/USER").  Names are UTF-8 with '.' as the hierarchy separator;
 * on disk a folder is ".NAME" in modified UTF-7 (RFC 3501 5.1.3), as
 * Dovecot's default Maildir++ layout stores it.  INBOX (any case, also
 * as the first component of a longer name) is the Maildir itself.
 */
#define FOLDER_SEP	     '.'
#define FOLDER_NAME_MAX	     512   /* octets of a UTF-8 name */
#define FOLDER_PATTERN_MAX   512   /* octets of reference + pattern */
#define FOLDER_WILDCARDS_MAX 16	   /* '*' and '%' in one pattern */
#define FOLDER_COUNT_MAX     10000 /* folders one user may have */
#define FOLDER_DEPTH_MAX     32	   /* levels of one name */

/* folder attributes (LIST) and special uses (RFC 6154), one bitmask */
#define FOLDER_NOSELECT	     0x0001
#define FOLDER_NONEXISTENT   0x0002
#define FOLDER_NOINFERIORS   0x0004
#define FOLDER_HASCHILDREN   0x0008
#define FOLDER_HASNOCHILDREN 0x0010
#define FOLDER_SUBSCRIBED    0x0020
#define FOLDER_MARKED	     0x0040
#define FOLDER_UNMARKED	     0x0080
#define FOLDER_DRAFTS	     0x0100
#define FOLDER_SENT	     0x0200
#define FOLDER_TRASH	     0x0400
#define FOLDER_JUNK	     0x0800
#define FOLDER_ARCHIVE	     0x1000
#define FOLDER_SPECIAL_MASK  0x1f00
/* RECURSIVEMATCH: a child matching the selection is subscribed */
#define FOLDER_CHILDINFO_SUBSCRIBED 0x10000

/* LIST options: selection (RFC 5258, RFC 6154), return, and LSUB */
#define FOLDER_SEL_SUBSCRIBED	  0x0001
#define FOLDER_SEL_REMOTE	  0x0002
#define FOLDER_SEL_RECURSIVEMATCH 0x0004
#define FOLDER_SEL_SPECIALUSE	  0x0008
#define FOLDER_RET_CHILDREN	  0x0010
#define FOLDER_RET_SUBSCRIBED	  0x0020
#define FOLDER_RET_SPECIALUSE	  0x0040
#define FOLDER_LSUB		  0x0080

/* why a folder call failed: the response code of its NO */
enum folder_err {
	FOLDER_OK = 0,
	FOLDER_ERR_CANNOT,	  /* [CANNOT]: a name boxd does not allow */
	FOLDER_ERR_NONEXISTENT,	  /* [NONEXISTENT] */
	FOLDER_ERR_ALREADYEXISTS, /* [ALREADYEXISTS] */
	FOLDER_ERR_LIMIT,     /* [LIMIT]: too many folders, pattern too big */
	FOLDER_ERR_USEATTR,   /* [USEATTR]: that use is another folder's */
	FOLDER_ERR_SERVERBUG, /* [SERVERBUG]: the disk said no */
};

/*
 * One LIST/LSUB answer: name in UTF-8, attrs FOLDER_* (only those the
 * options asked for, and the base ones RFC 5258 always wants).  A
 * non-zero return stops the listing and is folder_list()'s return.
 */
typedef int (*folder_list_cb)(const char *name, unsigned int attrs, void *);

/* the response code text of an error ("NONEXISTENT"), NULL for FOLDER_OK */
const char *folder_err_code(enum folder_err);
/* FOLDER_OK if name may be created; else *why says why, for the NO */
enum folder_err folder_name_check(const char *name, const char **why);
/*
 * The folder's directory relative to the Maildir ("." for INBOX,
 * ".Entw&APw-rfe" for "Entwürfe"); -1 for a name that is not valid.
 */
int folder_dir(const char *name, char *dir, size_t len);
/* the UTF-8 name of a directory of the Maildir, -1 if it is no folder */
int folder_dir_name(const char *dir, char *name, size_t len);
/*
 * LIST, LSUB and LIST-EXTENDED: every folder whose name ref + pattern
 * matches, for each pattern, once, in a stable order.  -1 with *why on
 * a pattern too long or with too many wildcards, or a disk error.
 */
int folder_list(int dirfd, const char *ref, const char *const *patterns,
    size_t npatterns, unsigned int opts, folder_list_cb cb, void *arg,
    const char **why);
/* 1 if name matches ref + pattern as LIST matches it, 0 if not, -1 if bad */
int
folder_pattern_matches(const char *ref, const char *pattern, const char *name);
/* the attributes of one existing folder, -1 if it does not exist */
int folder_attrs(int dirfd, const char *name, unsigned int *attrs);
/*
 * CREATE, with the parents it needs (RFC 3501 6.3.3) and special, a
 * FOLDER_SPECIAL_MASK subset from CREATE-SPECIAL-USE (RFC 6154).
 */
enum folder_err folder_create(
    int dirfd, const char *name, unsigned int special, const char **why);
/*
 * DELETE: the folder's directory goes; children stay, their parent then
 * listed \Noselect (Maildir++ keeps each folder apart, as Dovecot does).
 */
enum folder_err folder_delete(int dirfd, const char *name, const char **why);
/*
 * RENAME with its children; INBOX's messages move to the new folder and
 * INBOX stays, empty (RFC 3501 6.3.5).
 */
enum folder_err
folder_rename(int dirfd, const char *from, const char *to, const char **why);
/* SUBSCRIBE (on 1) and UNSUBSCRIBE (on 0), in the "subscriptions" file */
enum folder_err
folder_subscribe(int dirfd, const char *name, int on, const char **why);
/*
 * At login: Drafts, Sent, Trash, Junk and Archive, each created and
 * subscribed unless a folder already has that use (or one of the names
 * Dovecot installs use for it); done once per Maildir.
 */
int folder_ensure_special(int dirfd);
/* "\Sent" to FOLDER_SENT (case-insensitive), 0 if none */
unsigned int folder_special_parse(const char *atom);
/* the attribute words of attrs ("\HasNoChildren \Sent"), -1 if too long */
int folder_attrs_format(unsigned int attrs, char *buf, size_t len);

/* ---------------------------------------------------------------- mime_imap.c
 */
/*
 * IMAP views of a parsed message (common/mime.c): ENVELOPE, BODY and
 * BODYSTRUCTURE text, and the octets of a FETCH section.  utf8: strings
 * may carry 8-bit UTF-8 (UTF8=ACCEPT enabled); else they become literals.
 */
struct evbuffer;

/* ENVELOPE (RFC 3501 7.4.2) of the message whose header is part's */
int imap_envelope_write(struct evbuffer *, const struct mime_message *,
    const struct mime_part *, int utf8);
/* BODY (extended 0) or BODYSTRUCTURE (extended 1) of part; 0 or -1 */
int imap_bodystructure_write(struct evbuffer *, const struct mime_message *,
    const struct mime_part *, int extended, int utf8);

/*
 * What the mailbox cache keeps per message, computed from its file (fd,
 * mapped for the call only) into a malloc'ed string, of its CRLF form
 * when it has bare line ends (mime_crlf()).  Strings with 8-bit octets
 * are literals, right for every client.  0, or -1 (unreadable, out of
 * memory).
 */
enum imap_view {
	IMAP_VIEW_ENVELOPE,
	IMAP_VIEW_BODY,
	IMAP_VIEW_BODYSTRUCTURE,
};
int imap_message_view(int fd, enum imap_view, char **text, size_t *len);

enum imap_section_text {
	IMAP_SECTION_BODY,		/* "" or "1.2": the whole (part) */
	IMAP_SECTION_HEADER,		/* HEADER */
	IMAP_SECTION_HEADER_FIELDS,	/* HEADER.FIELDS (...) */
	IMAP_SECTION_HEADER_FIELDS_NOT, /* HEADER.FIELDS.NOT (...) */
	IMAP_SECTION_TEXT,		/* TEXT */
	IMAP_SECTION_MIME,		/* MIME, only after a part number */
};

#define IMAP_SECTION_FIELDS_MAX 256 /* header names in one HEADER.FIELDS */

/* what is between the brackets of BODY[...] or BINARY[...] */
struct imap_section {
	uint32_t part[MIME_DEPTH_MAX + 1]; /* "1.2.3" */
	size_t npart;
	enum imap_section_text text;
	char **fields; /* HEADER.FIELDS: the names, as given */
	size_t nfields;
};

/*
 * Parse a section spec ("", "HEADER", "1.2.MIME", "HEADER.FIELDS (A B)",
 * any case); binary: BINARY allows only part numbers.  0, or -1 (BAD).
 */
int imap_section_parse(
    struct imap_section *, const char *spec, size_t len, int binary);
void imap_section_free(struct imap_section *);
/*
 * The section's octets (RFC 3501 6.4.5) appended to out: HEADER.FIELDS
 * yields the matching fields and a blank line; a part that does not
 * exist yields nothing.  0 or -1 out of memory.
 */
int imap_section_write(struct evbuffer *, const struct mime_message *,
    const struct imap_section *);
/*
 * BINARY[section] (RFC 3516): the part's body, transfer encoding undone.
 * 0; 1 if the encoding is unknown (NO [UNKNOWN-CTE]); -1 out of memory.
 * BINARY.SIZE is the length of what it writes.
 */
int imap_section_binary(struct evbuffer *, const struct mime_message *,
    const struct imap_section *);

/* ---------------------------------------------------------------
 * imap_binary.c
 */
/*
 * A message APPENDed with binary content (RFC 3516 4.3) is stored as
 * text: each leaf part whose body is binary (Content-Transfer-Encoding
 * binary, or a NUL or a bare CR in it) and not base64 or quoted-printable
 * already becomes base64 in CRLF lines with its Content-Transfer-Encoding
 * field replaced; every other octet is kept.  1 with the new form
 * appended to out, 0 when no part needed it (out untouched), -1 when out
 * of memory.
 */
int imap_binary_recode(const char *msg, size_t len, struct evbuffer *out);
/* base64 of src in lines of 76, CRLF between them; 0 or -1 */
int imap_base64_lines(struct evbuffer *out, const unsigned char *, size_t);

/* ----------------------------------------------------------------
 * imap_search.c
 */

#define SEARCH_KEYS_MAX	  1000 /* search keys in one program */
#define SEARCH_DEPTH_MAX  50   /* nesting of NOT, OR and ( ) */
#define SEARCH_STRING_MAX 1024 /* octets of one search string */
#define SEARCH_RANGES_MAX 4096 /* ranges of one sequence set */

/* the system flags of a message as search_msg_ops.flags() gives them */
#define SEARCH_FLAG_SEEN     0x01
#define SEARCH_FLAG_ANSWERED 0x02
#define SEARCH_FLAG_FLAGGED  0x04
#define SEARCH_FLAG_DELETED  0x08
#define SEARCH_FLAG_DRAFT    0x10
#define SEARCH_FLAG_RECENT   0x20

/* ESEARCH's RETURN options (RFC 4731, RFC 5182 SAVE) */
#define SEARCH_RETURN_MIN   0x01
#define SEARCH_RETURN_MAX   0x02
#define SEARCH_RETURN_ALL   0x04
#define SEARCH_RETURN_COUNT 0x08
#define SEARCH_RETURN_SAVE  0x10

/* search_parse() flags */
#define SEARCH_PARSE_RETURN  0x01 /* RETURN (...) may come first */
#define SEARCH_PARSE_CHARSET 0x02 /* a charset comes first (SORT, THREAD) */

/* search_parse() results besides 0 */
#define SEARCH_BAD	  -1 /* BAD err */
#define SEARCH_BADCHARSET -2 /* NO [BADCHARSET (UTF-8 US-ASCII)] */

/* one header value or piece of body text; nonzero stops the accessor */
typedef int (*search_text_cb)(void *arg, const char *text, size_t len);

/* the first address of a header, as SORT wants it; "" for what is absent */
struct search_address {
	const char *mailbox; /* local part */
	const char *host;
	const char *name; /* display name, decoded to UTF-8 */
};

/*
 * How the engine reads a message; the session implements it over the
 * store and the MIME code.  msg is the caller's.  Text is UTF-8: encoded
 * words, charsets and transfer encodings already decoded.
 */
struct search_msg_ops {
	uint32_t (*seq)(void *msg);
	uint32_t (*uid)(void *msg);
	uint32_t (*flags)(void *msg); /* SEARCH_FLAG_* */
	/* has the keyword (ASCII case-insensitive): 1 or 0 */
	int (*keyword)(void *msg, const char *name);
	uint64_t (*modseq)(void *msg);
	uint64_t (*size)(void *msg); /* RFC822.SIZE */
	/* seconds since the epoch, *tzoff its zone in minutes east of UTC */
	int64_t (*internal_date)(void *msg, int *tzoff);
	/* the Date: header the same way: 0, or -1 when none or unparseable */
	int (*sent_date)(void *msg, int64_t *when, int *tzoff);
	/*
	 * cb once per header field called name (ASCII case-insensitive), with
	 * its unfolded value after the colon, decoded; name NULL: every field
	 * as "Name: value".  Stops when cb returns nonzero.  0, or -1 when
	 * the message cannot be read (it then matches as if it had no text).
	 * The engine asks for the envelope's fields (Subject, From, Sender,
	 * Reply-To, To, Cc, Bcc, Date, Message-ID, In-Reply-To) and
	 * References most; an accessor caches those.
	 */
	int (*header)(void *msg, const char *name, search_text_cb, void *arg);
	/* the text of every text part, decoded, in pieces; as header() */
	int (*body)(void *msg, search_text_cb, void *arg);
	/* the first address of field (From, To, Cc): 0; 1 none; -1 error */
	int (*address)(void *msg, const char *field, struct search_address *);
};

struct search_node;

struct search_program {
	struct search_node *root;
	size_t nkeys;
	int esearch; /* RETURN was given: answer with ESEARCH */
	int ret;     /* SEARCH_RETURN_*; RETURN () means ALL */
	int modseq;  /* MODSEQ in the program: report the highest one */
	int dollar;  /* $ in the program: needs the saved result */
};

struct search_context {
	const struct search_msg_ops *ops;
	uint32_t nmsgs;	       /* messages in the mailbox, '*' of a set */
	uint32_t uidmax;       /* the highest UID, '*' of a UID set; 0 empty */
	const uint32_t *saved; /* $: the saved result as ascending UIDs */
	size_t nsaved;
	int64_t now; /* OLDER and YOUNGER count back from it */
};

struct search_result {
	uint32_t *ids; /* ascending seqs, or UIDs */
	size_t n;
	uint64_t highest_modseq; /* of the matches, when program->modseq */
};

/*
 * The search program of SEARCH (args after the command name), or of SORT
 * and THREAD (args after the criteria or algorithm, with
 * SEARCH_PARSE_CHARSET).  0, SEARCH_BAD with a reason in err, or
 * SEARCH_BADCHARSET.  search_program_free() is safe after any result.
 */
int search_parse(struct search_program *, const struct imap_arg *args,
    size_t nargs, int flags, char *err, size_t errsz);
void search_program_free(struct search_program *);
/*
 * Evaluates the program on msgs[0..n-1], in sequence order; cheap keys go
 * first, so that text is read only for messages still in question.
 * uid: the result holds UIDs.  0, or -1 out of memory.
 */
int search_run(struct search_program *, const struct search_context *,
    void *const *msgs, size_t n, int uid, struct search_result *);
void search_result_free(struct search_result *);
/* resolves '*' of the program's sets, once, before search_match() */
void search_prepare(struct search_program *, const struct search_context *);
/* does one message match: 1 or 0 */
int search_match(
    const struct search_program *, const struct search_context *, void *msg);
/*
 * Case folding for matching and sorting: ASCII, Latin-1, Latin Extended-A
 * and Additional, Greek and Cyrillic to simple lower case; other octets
 * as they are.  out holds len octets at least (folding never grows text);
 * returns the folded length.
 */
size_t search_fold(const char *in, size_t len, char *out);

/* ---------------------------------------------------------------- imap_sort.c
 */

#define SORT_CRITERIA_MAX 16

enum sort_key {
	SORT_ARRIVAL,
	SORT_CC,
	SORT_DATE,
	SORT_FROM,
	SORT_SIZE,
	SORT_SUBJECT,
	SORT_TO,
	SORT_DISPLAYFROM, /* RFC 5957 */
	SORT_DISPLAYTO,
};

struct sort_criterion {
	enum sort_key key;
	int reverse;
};

struct sort_program {
	struct sort_criterion crit[SORT_CRITERIA_MAX];
	size_t n;
};

/* SORT's parenthesised criteria: 0, or -1 with a reason in err */
int sort_parse(struct sort_program *, const struct imap_arg *list, char *err,
    size_t errsz);
/*
 * Orders msgs[0..n-1] (the matches, in sequence order) and writes their
 * seqs, or UIDs, to ids[0..n-1]; ties go by sequence number.  0, or -1
 * out of memory.
 */
int sort_run(const struct sort_program *, const struct search_msg_ops *,
    void *const *msgs, size_t n, int uid, uint32_t *ids);
/*
 * RFC 5256's base subject of a decoded subject, case-folded, in a new
 * string; *reply set when a Re:, Fw:, Fwd: or [fwd: ...] was taken off.
 * NULL out of memory.
 */
char *sort_base_subject(const char *subject, size_t len, int *reply);

/* ----------------------------------------------------------------
 * imap_thread.c
 */

enum thread_algorithm {
	THREAD_ORDEREDSUBJECT,
	THREAD_REFERENCES,
};

/* THREAD's algorithm argument: 0, or -1 unknown */
int thread_parse_algorithm(const struct imap_arg *, enum thread_algorithm *);
/*
 * Threads msgs[0..n-1] (the matches, in sequence order) by RFC 5256 and
 * writes the threads, "(1 2)(3 (4)(5))", after "* THREAD " to out; seqs,
 * or UIDs.  0, or -1 out of memory.
 */
int thread_run(enum thread_algorithm, const struct search_msg_ops *,
    void *const *msgs, size_t n, int uid, struct evbuffer *out);

/* ----------------------------------------------------------------
 * imap_session.c
 */
#define IMAP_INPUT_MAX	  (64 * 1024)	   /* read ahead of the commands */
#define IMAP_OUTPUT_MAX	  (256 * 1024)	   /* unread replies: input waits */
#define IMAP_OUTPUT_LOW	  (64 * 1024)	   /* a long command goes on below it */
#define IMAP_LITERAL_MAX  (64 * 1024)	   /* a literal, but APPEND's message */
#define IMAP_LITERALS_MAX 64		   /* literals in one command */
#define IMAP_MAX_ERRORS	  20		   /* bad commands in a row: BYE */
#define IMAP_AUTOLOGOUT	  (30 * 60 * 1000) /* RFC 9051 5.4: >= 30 min */

enum imap_state {
	IMAP_NOTAUTH,
	IMAP_AUTH,
	IMAP_SELECTED,
};

struct imap_session {
	RB_ENTRY(imap_session) entry; /* by reqid while auth answers */
	uint64_t reqid;
	int waiting; /* for auth */
	int fd;
	struct bufferevent *bev;
	struct evbuffer *out;
	enum listen_kind kind;
	int tls;
	int pop3;
	char addr[INET6_ADDRSTRLEN];
	struct listener_client *client;
	enum imap_state state;
	char tag[IMAP_TAG_MAX + 1];
	int errors;

	struct event *timer;
	int timer_on;
	uint64_t expire;

	int closing;
	int tls_pending;
	int processing;
	int out_paused;
	int in_long_line;
	int busy;   /* a command goes on as the output drains */
	int idling; /* in IDLE */
	int sasl;   /* AUTHENTICATE waits for the client's response */
	int quiet;  /* the view's news is not told (CLOSE's expunge) */
	/*
	 * A command that goes on as the output drains (busy): resume runs
	 * when it is below IMAP_OUTPUT_LOW, job_free when it ends or the
	 * session goes.  Its tag stays in tag.
	 */
	void (*resume)(struct imap_session *);
	void (*job_free)(struct imap_session *);
	void *job;

	/* the command being read */
	struct evbuffer *cmd;
	size_t cmd_text; /* its octets but literals */
	uint32_t cmd_literals;
	uint64_t literal_left;
	int append_streaming; /* the literal goes to APPEND's file */

	/* ENABLEd */
	int rev2;
	int utf8;
	int condstore;
	int qresync;

	struct imap_user *user;	    /* logged in */
	struct imap_mbox *mbox;	    /* selected */
	struct imap_append *append; /* APPEND under way */
	struct pop3_state *pop;	    /* a POP3 session's */
};

void imap_session_new(int fd, const struct sockaddr *, enum listen_kind,
    struct listener_client *);
void imap_printf(struct imap_session *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
/* a line, CRLF added */
void imap_reply(struct imap_session *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
/* "TAG STATUS text" for the current command */
void imap_tagged(struct imap_session *, const char *status, const char *, ...)
    __attribute__((format(printf, 3, 4)));
void imap_close(struct imap_session *);
void imap_bye(struct imap_session *, const char *why);
void imap_starttls(struct imap_session *);
void imap_command_done(struct imap_session *);
void imap_process(struct imap_session *);
void imap_auth_request(struct imap_session *, const char *user,
    const char *password, uint32_t service);
void imap_auth_result(const struct auth_login_result *);

/* ---------------------------------------------------------------- imap_cmd.c
 */
const char *imap_capabilities(struct imap_session *);
void imap_cmd_dispatch(struct imap_session *, const char *, size_t);
void imap_cmd_error(struct imap_session *);
uint64_t imap_cmd_literal_limit(struct imap_session *, uint64_t);
int imap_cmd_literal_input(struct imap_session *, struct evbuffer *, size_t);
void imap_cmd_cleanup(struct imap_session *);
void imap_cmd_sync(struct imap_session *, int expunges_ok);
int imap_cmd_sasl_line(struct imap_session *, const char *, size_t);
void
imap_cmd_auth_done(struct imap_session *, const struct auth_login_result *);
void imap_cmd_idle_wake(struct imap_session *);
int imap_idle_input(struct imap_session *, struct evbuffer *);
/* the output drained below IMAP_OUTPUT_LOW: a long command goes on */
void imap_cmd_resume(struct imap_session *);
/*
 * A long command (busy, resume, job) has queued its tagged reply: its job
 * is freed and the session reads its next command.
 */
void imap_cmd_job_done(struct imap_session *);

/* ----------------------------------------------------------------
 * imap_mbox.c
 */
/* the logged-in user of a session (each session has its own) */
struct imap_user {
	char address[SMTP_PATH_MAX];
	char mailbox[ENVELOPE_MAILBOX_MAX]; /* "DOMAIN/USER" */
	uint64_t quota;
	int dirfd; /* the user's Maildir */
	struct mail_user *mu;
};

/* the selected mailbox of a session */
struct imap_mbox {
	struct mailbox_view *view;
	char name[FOLDER_NAME_MAX + 1]; /* UTF-8 */
	int readonly;
	uint32_t keywords_told; /* keywords its FLAGS had, a bit each */
	/* SEARCHRES (RFC 5182): the saved result, ascending UIDs */
	uint32_t *saved;
	size_t nsaved;
};

/* logged in: NULL, or why not (the text of a "NO") */
const char *
imap_session_login(struct imap_session *, const struct auth_login_result *);
void imap_session_logout_user(struct imap_session *);
/*
 * The untagged news of the selected mailbox (EXISTS, EXPUNGE or
 * VANISHED, FETCH FLAGS); expunges wait when !expunges_ok (during FETCH,
 * STORE and SEARCH by sequence numbers, RFC 9051 7.5.1).
 */
void imap_mbox_sync(struct imap_session *, int expunges_ok);
void imap_mbox_condstore(struct imap_session *);
/* IDLE begins (on) or ends: the mailbox's news then goes out at once */
void imap_mbox_idle(struct imap_session *, int on);
/*
 * A mailbox name argument as a UTF-8 folder name ("INBOX" for any case
 * of it): modified UTF-7 decoded unless UTF8=ACCEPT; 0, or -1 after
 * answering BAD/NO.
 */
int imap_mbox_name_arg(
    struct imap_session *, const struct imap_arg *, char *, size_t);
/* a folder name as the client wants it (mUTF-7 or UTF-8), as an astring */
void
imap_mbox_name_write(struct imap_session *, struct evbuffer *, const char *);
/* the flag list "(\Seen $Label1)" of a message of the selected mailbox */
void imap_mbox_flags_write(
    struct imap_session *, struct evbuffer *, const struct mail_msg *);
/*
 * A flag list argument (STORE, APPEND) into Maildir flag bits; keywords
 * created in the selected mailbox when create.  0, or -1 after BAD/NO.
 */
int imap_mbox_flags_arg(struct imap_session *, const struct imap_arg *,
    int create, uint32_t *flags);
/*
 * A sequence set (uid: of UIDs) of the selected mailbox as the ascending
 * sequence numbers it names; "$" is the saved result.  0, or -1 after
 * BAD.  *seqs is malloc'd.
 */
int imap_mbox_seqs(struct imap_session *, const char *set, int uid,
    uint32_t **seqs, size_t *n);
/* the mail directory of the storage, the role's root */
void imap_mbox_init(int rootfd);
/* a user's quota, from auth: written into the Maildir's maildirsize */
void imap_mbox_quota_set(const char *mailbox, uint64_t quota);
int imap_append_literal(struct imap_session *);
void imap_append_size(struct imap_session *, uint64_t);
int imap_append_input(struct imap_session *, struct evbuffer *, size_t);
void imap_append_cleanup(struct imap_session *);
void imap_cmd_select(struct imap_session *, struct imap_command *);
void imap_cmd_close(struct imap_session *, struct imap_command *);
void imap_cmd_unselect(struct imap_session *, struct imap_command *);
void imap_cmd_expunge(struct imap_session *, struct imap_command *);
void imap_cmd_check(struct imap_session *, struct imap_command *);
void imap_cmd_create(struct imap_session *, struct imap_command *);
void imap_cmd_delete(struct imap_session *, struct imap_command *);
void imap_cmd_rename(struct imap_session *, struct imap_command *);
void imap_cmd_subscribe(struct imap_session *, struct imap_command *);
void imap_cmd_unsubscribe(struct imap_session *, struct imap_command *);
void imap_cmd_list(struct imap_session *, struct imap_command *);
void imap_cmd_lsub(struct imap_session *, struct imap_command *);
void imap_cmd_status(struct imap_session *, struct imap_command *);
void imap_cmd_append(struct imap_session *, struct imap_command *);
void imap_cmd_copy(struct imap_session *, struct imap_command *);
void imap_cmd_move(struct imap_session *, struct imap_command *);
void imap_cmd_getquota(struct imap_session *, struct imap_command *);
void imap_cmd_getquotaroot(struct imap_session *, struct imap_command *);
void imap_cmd_setquota(struct imap_session *, struct imap_command *);

/* ----------------------------------------------------------------
 * imap_fetch.c
 */
/* FETCH and STORE (with UID, CHANGEDSINCE, UNCHANGEDSINCE, VANISHED) */
void imap_cmd_fetch(struct imap_session *, struct imap_command *);
void imap_cmd_store(struct imap_session *, struct imap_command *);

#define FETCH_ATTS_MAX 64 /* data items of one FETCH */

/* the data items of a FETCH that have no section */
#define FETCH_UID	    0x0001
#define FETCH_FLAGS	    0x0002
#define FETCH_INTERNALDATE  0x0004
#define FETCH_RFC822_SIZE   0x0008
#define FETCH_ENVELOPE	    0x0010
#define FETCH_BODY	    0x0020 /* BODY: BODYSTRUCTURE not extensible */
#define FETCH_BODYSTRUCTURE 0x0040
#define FETCH_MODSEQ	    0x0080

enum fetch_section_kind {
	FETCH_SECTION_BODY,	   /* BODY[...], BODY.PEEK[...], RFC822* */
	FETCH_SECTION_BINARY,	   /* BINARY[...], BINARY.PEEK[...] */
	FETCH_SECTION_BINARY_SIZE, /* BINARY.SIZE[...] */
};

/* a data item with a section; RFC822, .HEADER and .TEXT are ones too */
struct fetch_section {
	enum fetch_section_kind kind;
	int peek; /* leaves \Seen alone */
	struct imap_section section;
	char *name; /* in the response, "BODY[HEADER]" ("<o>" not included) */
	int partial;
	uint64_t offset, count; /* <offset.count> */
};

struct fetch_request {
	uint32_t items; /* FETCH_* */
	struct fetch_section *sections;
	size_t nsections;
	int changedsince_set; /* (CHANGEDSINCE n): CONDSTORE */
	uint64_t changedsince;
	int vanished;  /* (CHANGEDSINCE n VANISHED): QRESYNC, UID FETCH */
	int sets_seen; /* a body item without PEEK */
};

/*
 * FETCH's data items (a macro, one item or a list) and its modifiers
 * (NULL, or the list after the items); uid: UID FETCH.  0, or -1 with
 * the reason of a BAD in err.  fetch_request_free() is safe after both.
 */
int fetch_parse(struct fetch_request *, const struct imap_arg *atts,
    const struct imap_arg *mods, int uid, char *err, size_t errsz);
void fetch_request_free(struct fetch_request *);
/* INTERNALDATE, "dd-Mon-yyyy hh:mm:ss +0000" in UTC; 0, or -1 */
int fetch_date_format(int64_t, char *buf, size_t len);

struct store_request {
	enum mailbox_store_op op;
	int silent;
	int unchangedsince_set; /* (UNCHANGEDSINCE n): CONDSTORE */
	uint64_t unchangedsince;
	const struct imap_arg *flags; /* a list, or nflags flags */
	size_t nflags;
	int flags_list; /* flags is one parenthesised list */
};

/* STORE's arguments after the sequence set: 0, or -1 and err */
int store_parse(struct store_request *, const struct imap_arg *args,
    size_t nargs, char *err, size_t errsz);

/* ----------------------------------------------------------------
 * imap_query.c
 */
/* SEARCH (and ESEARCH's RETURN), SORT and THREAD over the selected mailbox */
void imap_cmd_search(struct imap_session *, struct imap_command *);
void imap_cmd_sort(struct imap_session *, struct imap_command *);
void imap_cmd_thread(struct imap_session *, struct imap_command *);

/* ----------------------------------------------------------------
 * pop3_session.c
 */
void pop3_greeting(struct imap_session *);
void pop3_command(struct imap_session *, const char *, size_t);
#define POP3_TIMEOUT (10 * 60 * 1000) /* RFC 1939 3: at least 10 min */
void pop3_auth_done(struct imap_session *, const struct auth_login_result *);
/* the session goes: its maildrop is let go, uncommitted deletions too */
void pop3_session_free(struct imap_session *);

/* ----------------------------------------------------------------
 * imap_usage.c
 */
/* the storage's mail directory, where the role is jailed */
void imap_usage_init(int rootfd);
/* IMSG_IMAP_USAGE_REQ: each user's maildirsize, answered to control */
void imap_usage_request(struct imsg *);

/* ---------------------------------------------------------------- imap.c
 */
void imap_stat_session_start(struct imap_session *);
void imap_stat_session_end(struct imap_session *);
/* a user's sessions (IMAP and POP3) against limit imap-connections'
 * per-user: 0 counted, -1 over the limit */
int imap_user_session_add(const char *address);
void imap_user_session_del(const char *address);

#endif
