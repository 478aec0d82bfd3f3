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

/* ---------------------------------------------------------------- smtp_body.c
 */
/* what a finished body is: accepted, or why not, most telling reason first */
enum smtp_body_status {
	SMTP_BODY_OK,
	SMTP_BODY_BARE_CRLF,	 /* a CR or an LF outside a CRLF */
	SMTP_BODY_LINE_TOO_LONG, /* a line of more than SMTP_LINE_MAX */
	SMTP_BODY_TOO_BIG,	 /* past the size limit */
	SMTP_BODY_WRITE_ERROR,	 /* the writer failed */
};

/* where the message goes: 0, or -1 if it could not be written */
typedef int (*smtp_body_writer)(void *arg, const void *, size_t);

/* how the message came, for its Received header */
struct smtp_received {
	const char *hostname; /* ours */
	int esmtp;	      /* the client said EHLO */
	const char *tls;      /* "version cipher", NULL in the clear */
	time_t time;
};

/* room for a Received header with every field at its limit */
#define SMTP_RECEIVED_MAX 2048

/*
 * One mail transaction, apart from the session that carries it: the
 * envelope, and the body as DATA or BDAT brings it.  All zero is the
 * state between transactions.
 */
struct smtp_transaction {
	int active; /* MAIL was accepted */
	struct envelope env;
	size_t env_size;	      /* the create imsg, marshalled */
	uint32_t nrcpt_cmds;	      /* accepted RCPTs */
	struct envelope_rcpt pending; /* the RCPT auth is looking at */
	uint64_t msgid;
	int bdat; /* the body comes in BDAT chunks */

	/* the body as stored: LF line ends, unstuffed, Received first */
	uint64_t max_size;
	smtp_body_writer write;
	void *write_arg;
	uint8_t *buf; /* what the writer has not had yet */
	size_t buflen;
	uint64_t size;
	uint32_t crc;
	unsigned int errors; /* 1 << SMTP_BODY_* */

	/* the line being read */
	size_t linelen; /* octets so far: a stuffing dot and CRs count */
	int cr;		/* the last of them is a CR */
	int line_bare;	/* a CR inside it that no LF follows */
	int dotted;	/* DATA: it began with a dot, dropped */
	int prev_crlf;	/* DATA: the line before it ended in CRLF */

	/* the BDAT chunk being read */
	uint64_t chunk_size;
	uint64_t chunk_left;
	int chunk_last;
	int chunk_discard; /* read it, keep nothing */
	int chunk_failed;  /* discarding: the queue had no spool file */
};

/* back to all zero, freeing what the transaction holds */
void smtp_transaction_reset(struct smtp_transaction *);
/*
 * The Received header of the message into buf, LF-terminated lines; its
 * length, or 0 if it does not fit (SMTP_RECEIVED_MAX always does).
 */
size_t smtp_received_header(const struct smtp_transaction *,
    const struct smtp_received *, char *buf, size_t);
/* the body starts, Received header first, written through write */
void smtp_body_begin(struct smtp_transaction *, uint64_t max_size,
    smtp_body_writer write, void *arg, const struct smtp_received *);
/*
 * DATA octets: how many it took.  *done is set once the CRLF.CRLF that
 * ends the DATA is taken; what follows it is not the body's.
 */
size_t
smtp_body_data(struct smtp_transaction *, const void *, size_t, int *done);
/* a BDAT chunk of size octets comes next */
void smtp_body_chunk_begin(struct smtp_transaction *, uint64_t size, int last);
/* octets of that chunk: how many it took, at most what it has left */
size_t smtp_body_chunk(struct smtp_transaction *, const void *, size_t);
/* the body is in: the rest goes to the writer; accepted or why not */
enum smtp_body_status smtp_body_finish(struct smtp_transaction *);

/* ----------------------------------------------------------- smtp_dkim.c */
/*
 * The signer's table, kept here so that a session builds its
 * DKIM-Signature templates without asking, and the signing round trip:
 * only the digests go to signer, the signatures come back.
 */
struct smtp_dkim_domain {
	char domain[SMTP_DOMAIN_MAX + 1];
	char rsa[DKIM_SELECTOR_MAX];	 /* "": none */
	char ed25519[DKIM_SELECTOR_MAX]; /* "": none */
};

enum smtp_dkim_status {
	SMTP_DKIM_SIGNED,
	SMTP_DKIM_FAILED, /* signer could not: a temporary failure */
};

/* fields: the DKIM-Signature fields to prepend, CRLF-terminated */
typedef void (*smtp_dkim_done_cb)(
    void *arg, enum smtp_dkim_status, const char *fields, size_t len);

struct smtp_dkim_job;

/* smtp_main() routes signer's messages here */
void smtp_dispatch_signer(struct imsgev *, struct imsg *);
/* the selectors that sign for domain now; NULL if it has neither */
const struct smtp_dkim_domain *smtp_dkim_lookup(const char *domain);
/*
 * Sign a message from domain, dkim_message_final() done: one
 * DKIM-Signature with each key that signs for the domain.  1 and *job:
 * done comes later, never from within; 0: the domain has no key, there
 * is nothing to do; -1 with err: the message cannot be signed (no From
 * field, ...).
 */
int smtp_dkim_start(const char *domain, const struct dkim_message *,
    int64_t now, smtp_dkim_done_cb, void *arg, struct smtp_dkim_job **,
    char *err, size_t errsz);
/* the session has gone: its done is never called */
void smtp_dkim_cancel(struct smtp_dkim_job *);

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
