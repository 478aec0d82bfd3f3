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
#define IMAP_INPUT_MAX	  (64 * 1024)  /* read ahead of the commands */
#define IMAP_OUTPUT_MAX	  (256 * 1024) /* unread replies: input waits */
#define IMAP_OUTPUT_LOW	  (64 * 1024)  /* a long command goes on below it */
#define IMAP_LITERAL_MAX  (64 * 1024)  /* a literal, but APPEND's message */
#define IMAP_LITERALS_MAX 64	       /* literals in one command */
#define IMAP_MAX_ERRORS	  20	       /* bad commands in a row: BYE */
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
void imap_cmd_auth_done(
    struct imap_session *, const struct auth_login_result *);
void imap_cmd_idle_wake(struct imap_session *);
int imap_idle_input(struct imap_session *, struct evbuffer *);

/* ----------------------------------------------------------------
 * imap_mbox.c
 */
/* the rows imap_cmd.c's tables take from here */
#define IMAP_MBOX_COMMANDS
#define IMAP_MBOX_CAPABILITIES
/* logged in: NULL, or why not (the text of a "NO") */
const char *imap_session_login(
    struct imap_session *, const struct auth_login_result *);
void imap_session_logout_user(struct imap_session *);
void imap_mbox_sync(struct imap_session *, int expunges_ok);
void imap_mbox_condstore(struct imap_session *);
int imap_append_literal(struct imap_session *);
int imap_append_input(struct imap_session *, struct evbuffer *, size_t);
void imap_append_cleanup(struct imap_session *);
void imap_cmd_resume(struct imap_session *);

/* ----------------------------------------------------------------
 * pop3_session.c
 */
void pop3_greeting(struct imap_session *);
void pop3_command(struct imap_session *, const char *, size_t);
void pop3_auth_done(struct imap_session *, const struct auth_login_result *);

/* ---------------------------------------------------------------- imap.c
 */
void imap_stat_session_start(struct imap_session *);
void imap_stat_session_end(struct imap_session *);

#endif
