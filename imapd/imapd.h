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

/* ---------------------------------------------------------------- quota.c
 */

/*
 * A user's quota usage, Maildir++ "maildirsize" over the Maildir's dirfd:
 * plain functions free of IMAP state, so that mda links them too.  A
 * limit of 0 is no limit.
 */
struct quota_usage {
	uint64_t bytes;
	uint64_t messages;
	uint64_t limit_bytes;
	uint64_t limit_messages;
};

/* the usage, recalculated from the Maildir when the file is stale */
int quota_get(int dirfd, struct quota_usage *);
/* messages added (positive) or removed (negative) by a writer */
int quota_add(int dirfd, int64_t bytes, int64_t messages);
/* 0 if add_bytes in add_messages fit, 1 if over the limit, -1 on error */
int quota_check(int dirfd, uint64_t add_bytes, uint64_t add_messages);
/* the limit auth gives at login; the file is rewritten if it changed */
int quota_set_limit(int dirfd, uint64_t bytes, uint64_t messages);
/* count every message of every folder again and rewrite the file */
int quota_recalc(int dirfd, struct quota_usage *);

/* ---------------------------------------------------------------- mime_imap.c
 */

/* ----------------------------------------------------------------
 * imap_search.c
 */

/* ---------------------------------------------------------------- imap_sort.c
 */

/* ----------------------------------------------------------------
 * imap_thread.c
 */

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
