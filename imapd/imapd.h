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
