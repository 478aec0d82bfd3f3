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
