/*
 * smtpd: the SMTP server sessions (role smtp) and, later, the client that
 * delivers to other servers (role mta).
 */

#ifndef BOXD_SMTPD_H
#define BOXD_SMTPD_H

#include "common.h"

/* ---------------------------------------------------------------- smtp_parse.c
 */
enum smtp_verb {
	SMTP_CMD_HELO,
	SMTP_CMD_EHLO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_BDAT,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_VRFY,
	SMTP_CMD_EXPN,
	SMTP_CMD_HELP,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH,
};

#define SMTP_BODY_7BIT	     0
#define SMTP_BODY_8BITMIME   1
#define SMTP_BODY_BINARYMIME 2

#define SMTP_RET_NONE 0
#define SMTP_RET_FULL 1
#define SMTP_RET_HDRS 2

struct smtp_command {
	enum smtp_verb verb;
	/* HELO/EHLO: the domain or address literal; VRFY/EXPN/HELP/NOOP:
	 * the argument as given; AUTH: the mechanism */
	char arg[SMTP_LINE_MAX];
	/* AUTH: the initial response, "" if none, "=" for an empty one */
	char auth_initial[SMTP_LINE_MAX];
	/* MAIL/RCPT */
	int null_path; /* MAIL FROM:<> */
	struct mailaddr addr;
	int addr_utf8; /* addr has non-ASCII octets */
	/* MAIL parameters (RFC 1870, 6152, 3030, 6531, 3461) */
	int has_size;
	uint64_t size;
	int body; /* SMTP_BODY_* */
	int smtputf8;
	int ret;			/* SMTP_RET_* */
	char envid[101];		/* xtext-decoded */
	char auth_param[SMTP_PATH_MAX]; /* MAIL AUTH=, decoded */
	/* RCPT parameters (RFC 3461) */
	uint32_t notify;	   /* DSN_NOTIFY_*, 0 if absent */
	char orcpt[SMTP_PATH_MAX]; /* "addr-type;xtext-decoded" */
	/* BDAT */
	uint64_t chunk_size;
	int last;
};

/*
 * Parse one command line (without its CRLF).  Returns 0 and fills cmd, or
 * the SMTP reply code to send (500, 501, 502, 504, 553, 555) with the
 * enhanced status code and text in err, e.g. "5.5.4 Invalid parameter".
 * UTF-8 addresses (RFC 6531) parse, with addr_utf8 set; the session
 * refuses them unless the transaction declared SMTPUTF8.
 */
int smtp_parse_command(const char *line, size_t len, struct smtp_command *,
    char *err, size_t errsz);

/* ---------------------------------------------------------------- smtp.c */
uint64_t smtp_new_reqid(void);
void smtp_stat_session(void);

/* ----------------------------------------------------------------
 * smtp_session.c */
struct smtp_session;

/* a session on an accepted fd; it owns fd and the client count */
void smtp_session_new(int fd, const struct sockaddr *, enum listen_kind,
    struct listener_client *);
/* replies from auth and queue, by request id */
void smtp_session_rcpt_result(
    uint64_t reqid, uint32_t status, char **mailboxes, uint32_t n);
void smtp_session_created(uint64_t reqid, uint64_t msgid, int fd);
void smtp_session_create_failed(uint64_t reqid);
void smtp_session_committed(uint64_t reqid, int ok);

#endif
