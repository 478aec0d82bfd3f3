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
