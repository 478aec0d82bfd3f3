/*
 * libcommon: what every boxd process and boxctl share.
 */

#ifndef BOXD_COMMON_H
#define BOXD_COMMON_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imsg_types.h"

/* libbsd leaves it out; <sys/tree.h>'s RB_GENERATE_STATIC needs it */
#ifndef __unused
#define __unused __attribute__((__unused__))
/* ---------------------------------------------------------------- maildir.c */
/*
 * A Maildir file name is a base and an optional info ":2,FLAGS".  Names
 * read from disk are refused (-1) unless clean: 1 to MAILDIR_NAME_MAX
 * octets, no leading '.', no '/', no control octet, well-formed UTF-8.
 */
#define MAILDIR_NAME_MAX 255
#define MAILDIR_INBOX	 "INBOX"

/* the standard flags; keyword letters a-z are bits 6-31 */
#define MAILDIR_FLAG_DRAFT	0x01 /* D */
#define MAILDIR_FLAG_FLAGGED	0x02 /* F */
#define MAILDIR_FLAG_PASSED	0x04 /* P */
#define MAILDIR_FLAG_REPLIED	0x08 /* R */
#define MAILDIR_FLAG_SEEN	0x10 /* S */
#define MAILDIR_FLAG_TRASHED	0x20 /* T */
#define MAILDIR_FLAG_KEYWORD(c) (1U << (6 + ((c) - 'a')))

int maildir_name_valid(const char *);
/*
 * The name mda gives a message: TIME.QIDRn.HOST,S=SIZE, from the queue
 * id and the recipient's index, so that a retry finds an earlier
 * delivery.  0, or -1 if it does not fit buf.
 */
int maildir_unique_name(char *buf, size_t len, uint64_t msgid, uint32_t idx,
    const char *hostname, uint64_t size);
/*
 * Split a name into its base (the first baselen octets) and its flags
 * (0 without an info).  Flags may come in any order, repeated; any info
 * but ":2," and any letter but DFPRST and a-z is refused.
 */
int maildir_name_parse(const char *name, size_t *baselen, uint32_t *flags);
/* the flag letters in ASCII order, as the spec wants them */
int maildir_flags_build(uint32_t flags, char *buf, size_t len);
/* base (baselen octets, no ':') with ":2," and the sorted flags */
int maildir_name_build(
    char *buf, size_t len, const char *base, size_t baselen, uint32_t flags);
/*
 * Maildir++ folders: INBOX (any case) is the Maildir itself, ".";
 * folder A.B (dot the hierarchy separator) is the directory ".A.B".
 * Empty components, '/', control octets, malformed UTF-8 and ".INBOX"
 * (a second INBOX) are refused.
 */
int maildir_folder_dir(const char *folder, char *dir, size_t len);
int maildir_dir_folder(const char *dir, char *folder, size_t len);

#endif

#define BOXD_VERSION "0.1"
#define BOXD_CONF    "/etc/boxd/boxd.conf"
#define BOXD_STORAGE "/var/lib/boxd"
#define BOXD_CONTROL "/run/boxd/control.sock"

/* RFC 5321 4.5.3.1 limits, the domain one as a C buffer */
#define SMTP_LINE_MAX	   1000 /* octets, CRLF included */
#define SMTP_LOCALPART_MAX 64
#define SMTP_DOMAIN_MAX	   255
#define SMTP_PATH_MAX	   256
/*
 * A whole SMTP session lasts at most this many times (timeout command +
 * timeout data); the queue keeps an unfinished reception a little longer.
 */
#define SMTP_SESSION_LIFETIME 4

/* ---------------------------------------------------------------- log.c */
void log_init(int foreground, int level, const char *ident);
int log_syslog(void);
void log_setlevel(int level);
int log_getlevel(void);
void log_procname(const char *name);
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
/* called by fatal() before exit, so a child can tell the parent why */
void log_set_fatal_hook(void (*)(const char *));

#define LOG_LEVEL_INFO	0
#define LOG_LEVEL_DEBUG 1

/* ---------------------------------------------------------------- msg.c */
/* Typed marshalling: writers grow a buffer, readers refuse short input. */
struct msg_writer {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int error;
};

struct msg_reader {
	const uint8_t *p;
	size_t left;
	int error;
};

void msg_writer_init(struct msg_writer *);
void msg_writer_free(struct msg_writer *);
void msg_put_u8(struct msg_writer *, uint8_t);
void msg_put_u32(struct msg_writer *, uint32_t);
void msg_put_u64(struct msg_writer *, uint64_t);
void msg_put_data(struct msg_writer *, const void *, size_t);
void msg_put_str(struct msg_writer *, const char *);

void msg_reader_init(struct msg_reader *, const void *, size_t);
int msg_get_u8(struct msg_reader *, uint8_t *);
int msg_get_u32(struct msg_reader *, uint32_t *);
int msg_get_u64(struct msg_reader *, uint64_t *);
int msg_get_data(struct msg_reader *, void *, size_t);
/* a str into a buffer of that size, NUL-terminated; embedded NUL refused */
int msg_get_str(struct msg_reader *, char *, size_t);
/* a str of any length, malloc'd; the caller frees */
int msg_get_strdup(struct msg_reader *, char **, size_t);
/* 0 if every byte was consumed and nothing failed, else -1 */
int msg_get_end(struct msg_reader *);

/* ---------------------------------------------------------------- imsg.c */
#define IMSG_HDR_SIZE	  16
#define IMSG_MAX_SIZE	  (256 * 1024) /* header included */
#define IMSG_CTL_MAX_SIZE (16 * 1024)  /* from boxctl clients */
#define IMSG_FLAG_FD	  0x1
#define IMSG_MAX_FDS	  16 /* received and not yet claimed */

struct imsg_hdr {
	uint32_t type;
	uint32_t len; /* header included */
	uint32_t flags;
	uint32_t peerid;
};

struct imsg {
	struct imsg_hdr hdr;
	int fd; /* -1 if none */
	void *data;
	size_t datalen;
};

struct imsg_out {
	TAILQ_ENTRY(imsg_out) entry;
	uint8_t *buf;
	size_t len;
	size_t off;
	int fd;
};

/* an fd and the stream octets [from, to) of the read that brought it */
struct imsg_fd {
	int fd;
	uint64_t from;
	uint64_t to;
};

struct imsgbuf {
	int fd;
	size_t maxsize;
	uint8_t *rbuf;
	size_t rpos; /* the next message starts here */
	size_t rlen; /* bytes in rbuf, from 0 */
	size_t rcap;
	uint64_t roff; /* stream offset of rbuf[0] */
	struct imsg_fd fds[IMSG_MAX_FDS];
	int nfds;
	TAILQ_HEAD(, imsg_out) outq;
	size_t outlen;
	char error[128]; /* why the last call returned -1 */
	int wipe;	 /* secrets pass here: zero every byte once released */
};

void imsgbuf_init(struct imsgbuf *, int fd, size_t maxsize);
/* frees both queues and closes every fd in them */
void imsgbuf_clear(struct imsgbuf *);
/*
 * 1 bytes read, 0 EOF, -1 error (errno set; EAGAIN is not an error).
 * EBADMSG: fds were lost (MSG_CTRUNC, too many); the channel is unusable.
 */
int imsgbuf_read(struct imsgbuf *);
/*
 * 1 got one, 0 need more, -1 malformed (EBADMSG: bad header, or an fd
 * that is not where its message is; the channel is unusable) or ENOMEM.
 */
int imsgbuf_get(struct imsgbuf *, struct imsg *);
void imsg_free(struct imsg *);
int imsgbuf_compose(struct imsgbuf *, uint32_t type, uint32_t peerid, int fd,
    const void *, size_t);
/* 1 all written, 0 more to write, -1 error */
int imsgbuf_flush(struct imsgbuf *);

/*
 * imsgev: an imsgbuf on a libevent loop.  A read, framing or write error
 * is fatal, naming the peer, unless the peer is untrusted (a boxctl
 * client): then it is logged and the channel closed.  on_close hears of
 * the peer hanging up (and of errors from an untrusted one); without it
 * that is fatal too.
 */
struct event_base;
struct imsgev;
typedef void (*imsgev_handler)(struct imsgev *, struct imsg *);

struct imsgev {
	struct imsgbuf ibuf;
	struct event *ev;
	short events;
	int closed;
	int untrusted;
	imsgev_handler handler;
	void (*on_close)(struct imsgev *);
	void *arg;
	int peer; /* PROC_* on the other end */
	const char *name;
};

void imsgev_init(struct imsgev *, struct event_base *, int fd, size_t maxsize,
    imsgev_handler, void *arg);
void imsgev_clear(struct imsgev *);
int imsgev_compose(struct imsgev *, uint32_t type, uint32_t peerid, int fd,
    const void *, size_t);
int imsgev_compose_msg(struct imsgev *, uint32_t type, uint32_t peerid, int fd,
    struct msg_writer *);

/* ---------------------------------------------------------------- proc.c */
enum proc_type {
	PROC_PARENT,
	PROC_CONTROL,
	PROC_SMTP,
	PROC_AUTH,
	PROC_QUEUE,
	PROC_MDA,
	PROC_MTA,
	PROC_SIGNER,
	PROC_IMAP,
	PROC_COUNT
};

const char *proc_name(enum proc_type);
int proc_from_name(const char *);
const char *proc_user(enum proc_type);
/* 1 if the two roles have a channel */
int proc_linked(enum proc_type, enum proc_type);
/* where a child finds its channel to a peer after exec */
#define PROC_FD_BASE  3
#define proc_fd(peer) (PROC_FD_BASE + (peer))

/* ---------------------------------------------------------------- config.c */
enum listen_kind {
	LISTEN_SMTP,
	LISTEN_SUBMISSION,
	LISTEN_SUBMISSIONS,
	LISTEN_IMAP,
	LISTEN_IMAPS,
};

#define CONFIG_LISTEN_MAX 32
#define CONFIG_GROUP_MAX  33 /* a group name, NUL included */
/* RFC 5321 4.5.3.1.8: a server accepts at least 100 recipients */
#define CONFIG_RECIPIENTS_MIN 100

struct listen_conf {
	char addr[64]; /* as written: 0.0.0.0, ::, ... */
	uint16_t port;
	enum listen_kind kind;
};

struct boxd_config {
	char path[PATH_MAX]; /* the file it came from */
	char hostname[SMTP_DOMAIN_MAX + 1];
	char storage[PATH_MAX];
	char control_socket[PATH_MAX];
	char control_group[CONFIG_GROUP_MAX]; /* "" : root and boxd's user */
	char tls_cert[PATH_MAX];	      /* "" if none */
	char tls_key[PATH_MAX];
	struct listen_conf listeners[CONFIG_LISTEN_MAX];
	size_t nlisteners;
	uint64_t max_message_size; /* bytes */
	uint32_t queue_retry;	   /* seconds */
	uint32_t queue_max_retry;
	uint32_t queue_expire;
	char resolver_addr[64]; /* "" : /etc/resolv.conf */
	uint16_t resolver_port;
	char relay_url[512]; /* "" : MX delivery */
	char relay_secret[PATH_MAX];
	uint16_t mta_port;
	uint32_t limit_auth_failures;
	uint32_t limit_auth_period; /* seconds */
	uint32_t limit_connections; /* per client IP */
	uint32_t limit_sessions;    /* 0: derived from RLIMIT_NOFILE */
	uint32_t limit_recipients;  /* per transaction */
	uint32_t timeout_command;   /* seconds */
	uint32_t timeout_data;
	int log_level; /* LOG_LEVEL_* */
};

/* defaults for every field */
void config_defaults(struct boxd_config *);
/*
 * Parse a file.  On error, returns -1 with "FILE:LINE: message" in err.
 */
int
config_parse(struct boxd_config *, const char *path, char *err, size_t errsz);
/* the same, on a buffer (for tests and fuzzing) */
int config_parse_buffer(struct boxd_config *, const char *name, const char *buf,
    size_t len, char *err, size_t errsz);
/* normalized text that re-parses to the same config; malloc'd */
char *config_print(const struct boxd_config *);
void config_marshal(const struct boxd_config *, struct msg_writer *);
int config_unmarshal(struct boxd_config *, struct msg_reader *);
const char *listen_kind_name(enum listen_kind);
/* "50M" -> bytes; "5m" -> seconds; -1 on error */
int parse_size(const char *, uint64_t *);
int parse_duration(const char *, uint32_t *);

/* ---------------------------------------------------------------- address.c */
struct mailaddr {
	char local[SMTP_LOCALPART_MAX + 1]; /* as given (quoted form kept) */
	char domain[SMTP_DOMAIN_MAX + 1];   /* lower-cased */
};

/*
 * An RFC 5321 Mailbox (local@domain, with RFC 6531 UTF-8 when utf8 is set).
 * Domain literals are refused.  0 ok, -1 invalid.
 */
int mailaddr_parse(struct mailaddr *, const char *, int utf8);
/* "local@domain" into buf; -1 if it does not fit */
int mailaddr_format(const struct mailaddr *, char *, size_t);
/* an RFC 5321 Domain (dot-atoms of letters, digits, hyphens; or UTF-8) */
int domain_valid(const char *, int utf8);
/* lower-case ASCII in place */
void lowercase(char *);
/*
 * The length of the well-formed UTF-8 sequence at p (no overlongs, no
 * surrogates), 0 if there is none; a NUL stops it, nothing past is read.
 */
size_t utf8_seqlen(const unsigned char *);
/* a single path component safe for the file system (no /, no leading .) */
int path_component_valid(const char *);

/* ---------------------------------------------------------------- sandbox.c */
/*
 * The role's seccomp allowlist, installed once it has set up (libraries
 * loaded, files opened, privileges dropped); with debug set a forbidden
 * call is named on stderr and the process exits 3 instead of being killed.
 */
void sandbox_set_debug(int);
void sandbox_init(enum proc_type);

/* ---------------------------------------------------------------- privsep.c */
/*
 * Drop to the role's user (when root): chroot to dir (if not NULL),
 * setgroups/setresgid/setresuid, then no_new_privs.
 */
void privsep_drop(enum proc_type, const char *chroot_dir);
/* 1 if running as root */
int privsep_is_root(void);

/* ---------------------------------------------------------------- tls.c */
struct bufferevent;
struct event_base;

/* load the TLS libraries (before chroot); fatal if they are missing */
void tls_load(void);
/* a server context (an SSL_CTX) from PEM text, or NULL with err set */
void *tls_server_ctx(
    const char *cert_pem, const char *key_pem, char *err, size_t errsz);
void tls_ctx_free(void *);
/* a bufferevent that accepts TLS on fd; owns and closes fd */
struct bufferevent *
tls_accept_bufferevent(struct event_base *, int fd, void *ctx);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" of a TLS bufferevent */
void tls_info(struct bufferevent *, char *, size_t);

/* ---------------------------------------------------------------- crc32.c */
/* start with 0; feed the pieces in order */
uint32_t crc32_update(uint32_t crc, const void *, size_t);

/* ---------------------------------------------------------------- util.c */
int mkdir_p(const char *path, mode_t mode);
ssize_t write_all(int fd, const void *, size_t);
uint64_t now_ms(void);
char *xstrdup(const char *);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);

/* ---------------------------------------------------------------- envelope.c
 */
#define ENVELOPE_MAILBOX_MAX (SMTP_DOMAIN_MAX + SMTP_LOCALPART_MAX + 2)

/* one local delivery: the address the client gave, the Maildir it maps to */
struct envelope_rcpt {
	char addr[SMTP_PATH_MAX];
	char mailbox[ENVELOPE_MAILBOX_MAX]; /* "domain/user" */
	uint32_t dsn_notify;		    /* DSN_NOTIFY_* */
	char orcpt[SMTP_PATH_MAX];
};

#define DSN_NOTIFY_NEVER   0x1
#define DSN_NOTIFY_SUCCESS 0x2
#define DSN_NOTIFY_FAILURE 0x4
#define DSN_NOTIFY_DELAY   0x8
#define DSN_NOTIFY_MASK	   0xf

#define ENVELOPE_8BITMIME     0x1
#define ENVELOPE_SMTPUTF8     0x2
#define ENVELOPE_DSN_RET_HDRS 0x4
#define ENVELOPE_DSN_RET_FULL 0x8
#define ENVELOPE_FLAGS	      0xf /* every flag above */

struct envelope {
	char sender[SMTP_PATH_MAX]; /* "" : null path */
	char helo[SMTP_DOMAIN_MAX + 1];
	char client_addr[64];
	char envid[101]; /* DSN ENVID */
	uint64_t time;	 /* seconds */
	uint32_t flags;	 /* ENVELOPE_* */
	uint32_t nrcpt;
	struct envelope_rcpt *rcpt; /* nrcpt of them */
};

void envelope_marshal(const struct envelope *, struct msg_writer *);
/* the bytes envelope_marshal() writes, and what one delivery adds to it */
size_t envelope_marshal_size(const struct envelope *);
size_t envelope_rcpt_marshal_size(const struct envelope_rcpt *);
int envelope_unmarshal(struct envelope *, struct msg_reader *);
/* add a delivery, unless that mailbox is already there: 1 added, 0 dup */
int envelope_add_rcpt(struct envelope *, const struct envelope_rcpt *);
void envelope_clear(struct envelope *);
/*
 * What the queue and mda check before they trust an envelope, whether it
 * comes from smtp or back from the spool: every mailbox is "domain/user",
 * two safe path components (never a path out of the mail root); the
 * addresses parse; no field holds a control character (nothing can be
 * injected into a header or a log line).  envelope_check() says why not.
 */
int envelope_mailbox_valid(const char *);
int envelope_sender_valid(const char *);
int envelope_check(const struct envelope *, char *why, size_t);
/*
 * The same but for the mailbox names, for an envelope read back from the
 * spool: there a bad one fails its recipient alone (mda never sees it).
 */
int envelope_check_spooled(const struct envelope *, char *why, size_t);
/* s with every octet outside printable ASCII as '?', cut to fit buf */
const char *envelope_show(const char *s, char *buf, size_t);

/* ---------------------------------------------------------------- maildir.c */
/*
 * A Maildir file name is a base and an optional info ":2,FLAGS".  Names
 * read from disk are refused (-1) unless clean: 1 to MAILDIR_NAME_MAX
 * octets, no leading '.', no '/', no control octet, well-formed UTF-8.
 */
#define MAILDIR_NAME_MAX 255
#define MAILDIR_INBOX	 "INBOX"

/* the standard flags; keyword letters a-z are bits 6-31 */
#define MAILDIR_FLAG_DRAFT	0x01 /* D */
#define MAILDIR_FLAG_FLAGGED	0x02 /* F */
#define MAILDIR_FLAG_PASSED	0x04 /* P */
#define MAILDIR_FLAG_REPLIED	0x08 /* R */
#define MAILDIR_FLAG_SEEN	0x10 /* S */
#define MAILDIR_FLAG_TRASHED	0x20 /* T */
#define MAILDIR_FLAG_KEYWORD(c) (1U << (6 + ((c) - 'a')))

int maildir_name_valid(const char *);
/*
 * The name mda gives a message: TIME.QIDRn.HOST,S=SIZE, from the queue
 * id and the recipient's index, so that a retry finds an earlier
 * delivery.  0, or -1 if it does not fit buf.
 */
int maildir_unique_name(char *buf, size_t len, uint64_t msgid, uint32_t idx,
    const char *hostname, uint64_t size);
/*
 * Split a name into its base (the first baselen octets) and its flags
 * (0 without an info).  Flags may come in any order, repeated; any info
 * but ":2," and any letter but DFPRST and a-z is refused.
 */
int maildir_name_parse(const char *name, size_t *baselen, uint32_t *flags);
/* the flag letters in ASCII order, as the spec wants them */
int maildir_flags_build(uint32_t flags, char *buf, size_t len);
/* base (baselen octets, no ':') with ":2," and the sorted flags */
int maildir_name_build(
    char *buf, size_t len, const char *base, size_t baselen, uint32_t flags);
/*
 * Maildir++ folders: INBOX (any case) is the Maildir itself, ".";
 * folder A.B (dot the hierarchy separator) is the directory ".A.B".
 * Empty components, '/', control octets, malformed UTF-8 and ".INBOX"
 * (a second INBOX) are refused.
 */
int maildir_folder_dir(const char *folder, char *dir, size_t len);
int maildir_dir_folder(const char *dir, char *folder, size_t len);

#endif
