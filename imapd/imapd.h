/*
 * imapd: the imap role, IMAP4rev1 + IMAP4rev2 and POP3 sessions over the
 * users' Maildirs (DESIGN.md: IMAP, POP3, storage root).
 */

#ifndef BOXD_IMAPD_H
#define BOXD_IMAPD_H

#include "common.h"

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

/* ----------------------------------------------------------------
 * imap_seqset.c
 */

/* ---------------------------------------------------------------- imap_utf7.c
 */

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
	FOLDER_ERR_INUSE,     /* [INUSE]: a special-use already given */
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
