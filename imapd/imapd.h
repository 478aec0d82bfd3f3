/*
 * imapd: the imap role, IMAP4rev1 + IMAP4rev2 and POP3 sessions over the
 * users' Maildirs (DESIGN.md: IMAP, POP3, storage root).
 */

#ifndef BOXD_IMAPD_H
#define BOXD_IMAPD_H

#include "common.h"

struct evbuffer;

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

/* ---------------------------------------------------------------- uidlist.c
 */

/* ---------------------------------------------------------------- mailbox.c
 */

/* ---------------------------------------------------------------- folder.c
 */

/* ---------------------------------------------------------------- mime_imap.c
 */

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

/* ---------------------------------------------------------------- imap_cmd.c
 */

/* ----------------------------------------------------------------
 * pop3_session.c
 */

/* ---------------------------------------------------------------- imap.c
 */

#endif
