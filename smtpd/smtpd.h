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
	int auth; /* the client authenticated (RFC 3848) */
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
/* ---------------------------------------------------------------- smtp_auth.c
 */
/*
 * AUTH LOGIN's answer, one base64 field (a user name or a password):
 * decoded into out, NUL-terminated; -1 (out wiped) if it is malformed,
 * empty, holds a NUL or does not fit.
 */
int smtp_auth_login_decode(const char *b64, size_t, char *out, size_t outsz);

/* the header section of a submitted message, kept for its From: */
#define SMTP_HEADERS_MAX (128 * 1024)

struct smtp_headers {
	char *buf;
	size_t len;
	size_t cap;
	int last_lf;  /* the last octet fed was an LF */
	int done;     /* the empty line that ends it was seen */
	int overflow; /* longer than SMTP_HEADERS_MAX (or no memory) */
};

/* the addresses of every From: field, each once */
struct smtp_from {
	char *addr[AUTH_SENDER_MAX];
	size_t n;
};

#define SMTP_FROM_OK	   0
#define SMTP_FROM_NONE	   1 /* no From: field, or one without an address */
#define SMTP_FROM_BAD	   2 /* an entry that is no address; too many */
#define SMTP_FROM_TOO_LONG 3 /* the header section past SMTP_HEADERS_MAX */
#define SMTP_FROM_NOMEM	   4

/* the message as stored (LF line ends), in pieces as they come */
void smtp_headers_feed(struct smtp_headers *, const void *, size_t);
void smtp_headers_reset(struct smtp_headers *);
/* the From: addresses into f (smtp_from_clear() it): SMTP_FROM_* */
int smtp_headers_from(const struct smtp_headers *, struct smtp_from *f);
void smtp_from_clear(struct smtp_from *);
/* a From: value that is a strict mailbox-list (no groups, nothing after
 * an address, no '@' in a display name): 0, else -1 */
int smtp_from_strict(const char *, size_t);

/* ---------------------------------------------------------------- smtp_reply.c
 */
/*
 * The client side of RFC 5321 4.2: a server's replies, parsed as the
 * octets come.  A reply line may be longer than RFC 5321's 512 octets up
 * to SMTP_REPLY_LINE_MAX (CRLF included); a reply has at most
 * SMTP_REPLY_LINES_MAX lines.  Anything else is a protocol error.
 */
#define SMTP_REPLY_LINE_MAX  4096
#define SMTP_REPLY_LINES_MAX 100
#define SMTP_REPLY_ESC_MAX   12 /* "5.123.123", NUL included */

enum smtp_reply_status {
	SMTP_REPLY_MORE,  /* all octets taken, the reply is not whole yet */
	SMTP_REPLY_DONE,  /* a whole reply is in the parser's reply */
	SMTP_REPLY_ERROR, /* the peer broke the protocol; see error */
};

enum smtp_reply_error {
	SMTP_REPLY_ERR_NONE,
	SMTP_REPLY_ERR_SYNTAX,	       /* no code, or no SP or '-' after it */
	SMTP_REPLY_ERR_CODE,	       /* a code outside 200-559 */
	SMTP_REPLY_ERR_CODE_CHANGED,   /* a line with another code */
	SMTP_REPLY_ERR_BARE_LF,	       /* an LF without its CR */
	SMTP_REPLY_ERR_BARE_CR,	       /* a CR without its LF */
	SMTP_REPLY_ERR_NUL,	       /* a NUL octet */
	SMTP_REPLY_ERR_LINE_TOO_LONG,  /* over SMTP_REPLY_LINE_MAX */
	SMTP_REPLY_ERR_TOO_MANY_LINES, /* over SMTP_REPLY_LINES_MAX */
	SMTP_REPLY_ERR_NOMEM,
};

struct smtp_reply {
	int code;			     /* 200-559 */
	char enhanced[SMTP_REPLY_ESC_MAX];   /* RFC 3463, "" if none */
	uint32_t nlines;		     /* at least 1 */
	uint32_t line[SMTP_REPLY_LINES_MAX]; /* offsets into text */
	char *text; /* each line after its code and separator, NUL-ended;
		     * octets outside printable ASCII and HT are '?' */
	size_t textlen;
	size_t textsize;
};

struct smtp_reply_parser {
	struct smtp_reply reply;
	enum smtp_reply_error error;
	int done; /* reply is whole: the next octets start another */
	int cr;	  /* the last octet was a CR */
	size_t linelen;
	char buf[SMTP_REPLY_LINE_MAX];
};

/* the SMTP extensions an EHLO reply offers (RFC 5321 4.1.1.1) */
#define SMTP_EXT_PIPELINING	     0x0001 /* RFC 2920 */
#define SMTP_EXT_SIZE		     0x0002 /* RFC 1870 */
#define SMTP_EXT_8BITMIME	     0x0004 /* RFC 6152 */
#define SMTP_EXT_SMTPUTF8	     0x0008 /* RFC 6531 */
#define SMTP_EXT_STARTTLS	     0x0010 /* RFC 3207 */
#define SMTP_EXT_AUTH		     0x0020 /* RFC 4954 */
#define SMTP_EXT_DSN		     0x0040 /* RFC 3461 */
#define SMTP_EXT_CHUNKING	     0x0080 /* RFC 3030 */
#define SMTP_EXT_ENHANCEDSTATUSCODES 0x0100 /* RFC 2034 */
#define SMTP_EXT_BINARYMIME	     0x0200 /* RFC 3030 */

#define SMTP_AUTH_PLAIN	   0x01
#define SMTP_AUTH_LOGIN	   0x02
#define SMTP_AUTH_CRAM_MD5 0x04
#define SMTP_AUTH_XOAUTH2  0x08

struct smtp_ehlo {
	uint32_t ext;	   /* SMTP_EXT_* */
	uint64_t size_max; /* SIZE's limit; 0 if it states none */
	uint32_t auth;	   /* SMTP_AUTH_* among the AUTH mechanisms */
};

void smtp_reply_parser_init(struct smtp_reply_parser *);
void smtp_reply_parser_free(struct smtp_reply_parser *);
/*
 * Octets from the server, split anywhere.  *used is set to how many were
 * taken: all of len with SMTP_REPLY_MORE; up to the end of the reply with
 * SMTP_REPLY_DONE (the rest starts the next reply: feed it again), the
 * reply being the parser's until the next call.  An error stays: every
 * later call returns SMTP_REPLY_ERROR.
 */
enum smtp_reply_status smtp_reply_feed(
    struct smtp_reply_parser *, const void *, size_t len, size_t *used);
const char *smtp_reply_strerror(enum smtp_reply_error);
/* line i's text, without code and separator; "" past the last */
const char *smtp_reply_line(const struct smtp_reply *, uint32_t i);
/*
 * The reply on one line for logs and bounces: "550 5.1.1 text", the
 * lines joined by spaces, truncated to fit; its length.
 */
size_t smtp_reply_format(const struct smtp_reply *, char *buf, size_t);
/* the extensions of a 250 reply to EHLO; -1 if the reply is not one */
int smtp_reply_ehlo(const struct smtp_reply *, struct smtp_ehlo *);

/* ---------------------------------------------------------------- mta_route.c
 */
/*
 * Where mail for a domain goes: its MX hosts in preference order, each
 * with its addresses (IPv6 first).  The pure part of the lookup, apart
 * from the DNS that feeds it (mta_dns.c).
 */
#define MTA_ROUTE_HOSTS_MAX	   16 /* MX hosts tried for one domain */
#define MTA_ROUTE_ADDRS_PER_FAMILY 4  /* of each host, per IP version */
#define MTA_ROUTE_ADDRS_MAX	   (2 * MTA_ROUTE_ADDRS_PER_FAMILY)
#define MTA_ROUTE_MX_MAX	   64 /* MX records kept, the best */
#define MTA_HOST_MAX		   (SMTP_DOMAIN_MAX + 1) /* NUL included */
#define MTA_ROUTE_ERROR_MAX	   256

struct mta_mx {
	uint16_t preference;
	uint32_t order; /* a random tiebreak between equal preferences */
	char host[MTA_HOST_MAX]; /* lower-cased, no trailing dot; "." null */
};

enum mta_mx_result {
	MTA_MX_HOSTS,	/* the hosts to try */
	MTA_MX_NULL,	/* RFC 7505: the domain accepts no mail */
	MTA_MX_INVALID, /* records, but no usable host name */
};

enum mta_route_status {
	MTA_ROUTE_OK,
	MTA_ROUTE_TEMPFAIL, /* try again later: 4.x.x */
	MTA_ROUTE_PERMFAIL, /* bounce: 5.x.x */
};

struct mta_route_host {
	char name[MTA_HOST_MAX];
	uint16_t preference;
	uint32_t naddrs;
	struct sockaddr_storage addrs[MTA_ROUTE_ADDRS_MAX];
	/* what the lookups said, while they run */
	uint32_t nv6, nv4;
	int tempfail; /* an address lookup failed for now */
};

struct mta_route {
	char domain[MTA_HOST_MAX];
	enum mta_route_status status;
	char enhanced[SMTP_REPLY_ESC_MAX]; /* "4.4.3", "5.1.10", ... */
	char error[MTA_ROUTE_ERROR_MAX];
	int implicit_mx; /* no MX: the domain itself (RFC 5321 5.1) */
	uint32_t nhosts;
	struct mta_route_host hosts[MTA_ROUTE_HOSTS_MAX];
};

/*
 * A domain name in DNS wire format (uncompressed, as libunbound hands
 * rdata over) to text: lower-cased, no trailing dot, "." for the root.
 * Only letters, digits, '-' and '_' in labels.  Its wire length, or -1.
 */
int mta_dname_text(const uint8_t *, size_t, char *, size_t);
/* an MX record's rdata: 0, or -1 if malformed */
int mta_mx_parse(const uint8_t *, size_t, struct mta_mx *);
/* a host or domain name as text, by the rules of mta_dname_text() */
int mta_hostname_valid(const char *);
/*
 * The MX records of a domain into the order to try them: preference,
 * equal ones shuffled by their order field, duplicates and null targets
 * dropped, at most MTA_ROUTE_HOSTS_MAX kept; *n is updated.
 */
enum mta_mx_result mta_mx_order(struct mta_mx *, size_t *n);
/*
 * one MX record into mx (n of them so far): while there is room it is
 * added; then it takes the place of the one with the worst preference,
 * if it is better, so that the best MTA_ROUTE_MX_MAX of any number stay
 */
void mta_mx_add(struct mta_mx *, size_t *n, const struct mta_mx *);
/* mark the mx records' order fields at random, for mta_mx_order() */
void mta_mx_shuffle(struct mta_mx *, size_t n);
/* a route fails, once: status and enhanced code and text */
void
mta_route_fail(struct mta_route *, enum mta_route_status, const char *enhanced,
    const char *fmt, ...) __attribute__((__format__(printf, 4, 5)));
/* a host's A (4 octets) or AAAA (16) rdata: 0, or -1 if malformed */
int mta_route_add_addr(struct mta_route_host *, int af, const void *, size_t);
/*
 * The lookups are done: hosts without addresses go, their addresses are
 * put in order (IPv6 first), and a route left empty fails, for now if a
 * lookup failed for now, else for good.
 */
void mta_route_finish(struct mta_route *);
/* an address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]"): 1, 0 if the
 * domain is none, -1 if malformed; the route gets the address */
int mta_route_literal(struct mta_route *, const char *domain);

/* ---------------------------------------------------------------- mta_dns.c
 */
/*
 * DNS for mta through libunbound, on the role's libevent loop: the
 * library (loaded with dlopen() by mta_dns_new(), before the jail)
 * resolves in a thread of its own and hands answers over a pipe the
 * loop watches, so no lookup blocks the loop.
 */
struct mta_dns;
struct mta_route_query;

/* the route is the callback's until it returns; the query is gone */
typedef void (*mta_route_cb)(const struct mta_route *, void *arg);

/*
 * A resolver: the given one (an IP address; port 53 if 0), or
 * /etc/resolv.conf's and /etc/hosts if resolver is "".  Names under
 * .test go to it too.  NULL and err on failure.  Called before the
 * role's chroot and seccomp filter: it loads the library, reads those
 * files and starts the resolver thread, which then needs only UDP and
 * TCP sockets (bind() included: a random source port) and a few
 * socket options of the filter.
 */
struct mta_dns *mta_dns_new(struct event_base *, const char *resolver,
    uint16_t port, char *err, size_t errsz);
/* cancels every lookup still running */
void mta_dns_free(struct mta_dns *);
/*
 * Where mail for domain goes.  cb is called once, from the loop, never
 * from within this call: the route, or why there is none (a timeout
 * after timeout_ms is a temporary failure).  NULL if out of memory.
 */
struct mta_route_query *mta_route_lookup(struct mta_dns *, const char *domain,
    int timeout_ms, mta_route_cb, void *arg);
/* the query goes, its callback never called */
void mta_route_cancel(struct mta_route_query *);

/* ----------------------------------------------------------------
 * mta_session.c
 */
/*
 * The client side of one SMTP connection: a message (or several, one
 * after the other, RSET between) to the addresses of one route, tried in
 * order.  A failure before MAIL (no connection, a timeout, a greeting or
 * EHLO refused, a broken protocol) moves on to the next address; with
 * none left every recipient fails for now.  STARTTLS is opportunistic:
 * when the peer offers it the session uses it, without checking the
 * certificate; if the STARTTLS reply or the handshake fails, the same
 * address is tried once more in the clear (as Postfix's "may" level
 * does), since a peer that cannot do TLS is still a peer (MTA_TLS_ENCRYPT
 * and VERIFY never do that).  After MAIL a failure is the transaction's:
 * the recipients still open fail for now.  Only a 2xx to the final dot
 * delivers.  A message sent on a connection kept from the last one
 * starts over on a fresh connection if the kept one turns out dead
 * before its MAIL.  The caller sets SIGPIPE to be ignored.
 */
#define MTA_RESULT_MAX	   512 /* a recipient's reply, one line */
#define MTA_TLS_INFO_MAX   128
#define MTA_PIPELINE_AHEAD 100 /* RCPTs sent before their replies */

enum mta_rcpt_status {
	MTA_RCPT_PENDING,   /* no answer yet (never seen by the caller) */
	MTA_RCPT_DELIVERED, /* 2xx to the final dot */
	MTA_RCPT_TEMPFAIL,  /* 4xx, or no peer could take it now */
	MTA_RCPT_PERMFAIL,  /* 5xx, or the message cannot go to this peer */
};

struct mta_rcpt_result {
	enum mta_rcpt_status status;
	int code; /* the peer's reply code, 0 if the session decided */
	char enhanced[SMTP_REPLY_ESC_MAX];
	/* smtp_reply_format()'s line, or "4.4.1 why" of the session's own */
	char text[MTA_RESULT_MAX];
};

/* milliseconds; RFC 5321 4.5.3.2's defaults from mta_timeouts_default() */
struct mta_timeouts {
	int connect;	/* the TCP connection (and the TLS handshake) */
	int greeting;	/* 5 min */
	int command;	/* EHLO, HELO, STARTTLS, RSET, QUIT: 5 min */
	int mail;	/* 5 min */
	int rcpt;	/* 5 min */
	int data_init;	/* DATA's 354: 2 min */
	int data_block; /* the peer taking more of the body: 3 min */
	int data_end;	/* the reply to the final dot: 10 min */
};

/*
 * The message as the spool holds it: fd read-only, the prepended headers
 * and the body in LF line ends at their offsets (struct spool_msg); sent
 * in order, as CRLF, dot-stuffed, a chunk at a time as the socket drains.
 */
struct mta_message {
	const struct envelope *env; /* the recipients to send to, and DSN */
	int fd;
	uint64_t prepend_offset;
	uint64_t prepend_size;
	uint64_t body_offset;
	uint64_t body_size;
};

/*
 * STARTTLS: MAY is opportunistic (the internet's MX hosts); ENCRYPT
 * and VERIFY (the certificate against host, e.g. a smarthost) fail an
 * address that does not offer it, or whose handshake fails, and never
 * go on in the clear
 */
enum mta_tls_policy {
	MTA_TLS_MAY,
	MTA_TLS_ENCRYPT,
	MTA_TLS_VERIFY,
};

struct mta_session_params {
	const struct sockaddr_storage *addrs; /* copied */
	size_t naddrs;
	uint16_t port;
	const char *helo; /* our name in EHLO */
	const char *host; /* the peer's name for SNI; NULL if none */
	void *tls_ctx;	  /* tls_client_ctx(); NULL: never STARTTLS */
	enum mta_tls_policy tls;
	/*
	 * AUTH PLAIN or LOGIN (RFC 4954) as the peer offers, after TLS
	 * only; NULL: no AUTH.  Copied, and wiped when the session goes.
	 */
	const char *auth_user;
	const char *auth_pass;
	struct mta_timeouts timeouts;
};

/* what the connection was, for the log and the Received chain */
struct mta_session_info {
	char peer[64]; /* "[addr]:port" of the last try */
	int connected; /* a peer greeted us */
	int esmtp;     /* EHLO was accepted */
	uint32_t ext;  /* its SMTP_EXT_* */
	uint64_t size_max;
	int tls;			 /* STARTTLS succeeded */
	char tls_info[MTA_TLS_INFO_MAX]; /* "TLSv1.3 TLS_AES_..." */
	int tls_verified;		 /* the certificate verified */
	char tls_why[MTA_TLS_INFO_MAX];	 /* why not, or "verified" */
	uint32_t messages;		 /* transactions on this connection */
};

struct mta_session;

/*
 * A message's transaction is over: one result per recipient of its
 * envelope, in its order, the session's until the next send or its end.
 * Called from the loop, never from within a session call; the callback
 * may send again, quit or free the session.
 */
typedef void (*mta_session_cb)(
    struct mta_session *, const struct mta_rcpt_result *, size_t n, void *arg);

void mta_timeouts_default(struct mta_timeouts *);
/*
 * a session, not yet connected; NULL if out of memory, without an
 * address, or with a user and no password (or the other way round)
 */
struct mta_session *
mta_session_new(struct event_base *, const struct mta_session_params *);
/*
 * Send a message: connect first (again from the first address) if the
 * session has no connection, else RSET after the last transaction.  The
 * message's fd and envelope stay the caller's and must last until cb.
 * -1 if a send is already running.
 */
int mta_session_send(struct mta_session *, const struct mta_message *,
    mta_session_cb, void *arg);
/* whether the session has a connection that can take another message */
int mta_session_ready(const struct mta_session *);
const struct mta_session_info *mta_session_info(const struct mta_session *);
/*
 * QUIT, once the session is idle: the session then frees itself when the
 * peer answers, closes or times out.  Frees it at once if unconnected.
 */
void mta_session_quit(struct mta_session *);
/* drop the connection at once, without QUIT; no callback follows */
void mta_session_free(struct mta_session *);

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
void smtp_session_auth_result(const struct auth_login_result *);
void smtp_session_sender_result(uint64_t reqid, uint32_t status);

#endif
