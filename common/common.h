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
/* ---------------------------------------------------------------- sasl.c */
/* a decoded SASL PLAIN message, at most; longer ones are refused */
#define SASL_PLAIN_MAX 2048
/*
 * SASL PLAIN's response, base64: 0, -1 malformed or too long, -2 another
 * user's authzid (pass wiped then).
 */
int sasl_plain_decode(const char *b64, size_t, char *user, size_t usersz,
    char *pass, size_t passsz);

#endif

#define BOXD_VERSION "0.2"
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
void log_set_syslog_path(const char *path);
int log_syslog_fd(void);
void log_sandboxed(void);
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
	int wipe; /* a secret: every buffer let go is zeroed first */
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
	/*
	 * Secrets pass here: zero every byte once released (on an imsgev,
	 * the payload too once its handler returns).
	 */
	int wipe;
	/* no fd may come this way: one that does is closed, and it fails */
	int nofds;
};

void imsgbuf_init(struct imsgbuf *, int fd, size_t maxsize);
/* frees both queues and closes every fd in them */
void imsgbuf_clear(struct imsgbuf *);
/*
 * 1 bytes read, 0 EOF, -1 error (errno set; EAGAIN is not an error).
 * EBADMSG: fds were lost (MSG_CTRUNC, too many), or came under nofds;
 * the channel is unusable.
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
 * client): then it is logged and the channel closed.  An untrusted peer
 * passes no fds (nofds): one that comes is such an error.  on_close hears of
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

/* ---------------------------------------------------------------- ctl_msg.c */
/*
 * The control protocol's payloads: one encoder and one decoder for each,
 * used by boxctl, control, auth and the roles that count for status.
 * A decoder takes a whole payload and refuses short input, bytes left
 * over, embedded NULs and counts larger than what follows; -1 on refusal
 * (or ENOMEM), the struct then empty.
 */
#define CTL_PROTOCOL_VERSION 1
#define CTL_VERSION_MAX	     32 /* a build's version string, NUL included */

/* IMSG_CTL_HELLO */
struct ctl_hello {
	uint32_t protocol;
	char version[CTL_VERSION_MAX];
};

/* a request: the fields its type has, the others NULL or 0 */
struct ctl_request {
	uint32_t type;	   /* IMSG_CTL_* */
	char *name;	   /* a domain or an address; "" for all */
	char *password;	   /* USER_ADD, USER_PASSWD */
	uint64_t quota;	   /* USER_QUOTA */
	uint32_t ntargets; /* ALIAS_ADD */
	char **targets;
	char *selector; /* DKIM_RETIRE */
};

/* IMSG_CTL_LINE: n key/value pairs */
struct ctl_row {
	uint32_t n;
	char **key;
	char **value;
};

/* IMSG_STATS, summed over the roles that count */
enum ctl_counter {
	CTL_SESSIONS,
	CTL_RECEIVED,
	CTL_DELIVERED,
	CTL_QUEUED,
	CTL_IMAP_SESSIONS, /* IMAP and POP3 sessions open now */
	CTL_COUNTERS
};

/* IMSG_PARENT_PROC */
struct ctl_proc {
	char role[32];
	uint32_t pid;
	char user[64];
	uint64_t started; /* seconds since the epoch */
};

void ctl_hello_encode(struct msg_writer *);
int ctl_hello_decode(struct ctl_hello *, const void *, size_t);
/* 1 if type is a request boxctl may send */
int ctl_request_type(uint32_t);
void ctl_request_encode(struct msg_writer *, const struct ctl_request *);
int
ctl_request_decode(struct ctl_request *, uint32_t type, const void *, size_t);
/* frees and wipes every string: a request may hold a password */
void ctl_request_clear(struct ctl_request *);
/* key, value, key, value, ..., NULL */
void ctl_row_encode(struct msg_writer *, ...) __attribute__((sentinel));
int ctl_row_decode(struct ctl_row *, const void *, size_t);
/* the value of key, NULL if the row has none */
const char *ctl_row_get(const struct ctl_row *, const char *key);
void ctl_row_clear(struct ctl_row *);
void ctl_fail_encode(struct msg_writer *, const char *why);
/* why is malloc'd; the caller frees */
int ctl_fail_decode(char **why, const void *, size_t);
int ctl_empty_decode(const void *, size_t);
const char *ctl_counter_name(enum ctl_counter);
void ctl_stats_encode(struct msg_writer *, const uint64_t[CTL_COUNTERS]);
int ctl_stats_decode(uint64_t[CTL_COUNTERS], const void *, size_t);
void ctl_proc_encode(struct msg_writer *, const struct ctl_proc *);
int ctl_proc_decode(struct ctl_proc *, const void *, size_t);

/* ------------------------------------------- the roles: boxd/role.c */
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
	LISTEN_POP3,
	LISTEN_POP3S,
};

#define CONFIG_LISTEN_MAX 32
#define CONFIG_GROUP_MAX  33 /* a group name, NUL included */
/* RFC 5321 4.5.3.1.8: a server accepts at least 100 recipients */
#define CONFIG_RECIPIENTS_MIN 100
#define CONFIG_RESOLVER_PORT  53

struct listen_conf {
	char addr[64]; /* as written: 0.0.0.0, ::, ... */
	uint16_t port;
	enum listen_kind kind;
};

/*
 * The settings, in the order boxd -nv prints them.  This list makes the
 * struct's fields, their defaults, config_print(), config_marshal(),
 * config_unmarshal() and config_equal(); the parser and config_check()
 * are written by hand.  A new setting is a line here, its case in the
 * parser and its lines in boxd.conf(5).
 *
 * X(field, kind, string size, default, words printed before the value,
 * how it is printed): STR is a quoted string, WORD one printed bare,
 * SIZE bytes, TIME seconds, NUM a count, PORT a port, LOG a log level,
 * LISTEN the listeners (n##field of them).  LINE starts a directive,
 * MORE goes on with the one before; _OPT prints a value only when it is
 * set (not "" or 0), and an unset LINE_OPT drops its MOREs too.
 */
#define CONFIG_FIELDS(X)                                                       \
	X(hostname, STR, SMTP_DOMAIN_MAX + 1, "", "hostname", LINE)            \
	X(storage, STR, PATH_MAX, BOXD_STORAGE, "storage", LINE)               \
	X(control_socket, STR, PATH_MAX, BOXD_CONTROL, "control socket", LINE) \
	X(control_group, STR, CONFIG_GROUP_MAX, "", "group", MORE_OPT)         \
	X(tls_cert, STR, PATH_MAX, "", "tls cert", LINE_OPT)                   \
	X(tls_key, STR, PATH_MAX, "", "key", MORE)                             \
	X(listeners, LISTEN, CONFIG_LISTEN_MAX, 0, "listen on", LINE)          \
	X(max_message_size, SIZE, 0, 50 * 1024 * 1024, "max-message-size",     \
	    LINE)                                                              \
	X(queue_retry, TIME, 0, 5 * 60, "queue retry", LINE)                   \
	X(queue_max_retry, TIME, 0, 4 * 60 * 60, "max-retry", MORE)            \
	X(queue_expire, TIME, 0, 5 * 24 * 60 * 60, "expire", MORE)             \
	X(resolver_addr, WORD, 64, "", "resolver", LINE_OPT)                   \
	X(resolver_port, PORT, 0, CONFIG_RESOLVER_PORT, "port", MORE)          \
	X(relay_url, STR, 512, "", "relay via", LINE_OPT)                      \
	X(relay_secret, STR, PATH_MAX, "", "auth", MORE_OPT)                   \
	X(mta_port, PORT, 0, 25, "mta port", LINE)                             \
	X(limit_auth_failures, NUM, 0, 10, "limit auth-failures", LINE)        \
	X(limit_auth_period, TIME, 0, 5 * 60, "per", MORE)                     \
	X(limit_connections, NUM, 0, 20, "limit connections", LINE)            \
	X(limit_sessions, NUM, 0, 0, "limit sessions", LINE_OPT)               \
	X(limit_imap_connections, NUM, 0, 20, "limit imap-connections", LINE)  \
	X(limit_imap_per_user, NUM, 0, 50, "per-user", MORE)                   \
	X(limit_recipients, NUM, 0, 1000, "limit recipients", LINE)            \
	X(timeout_command, TIME, 0, 5 * 60, "timeout command", LINE)           \
	X(timeout_data, TIME, 0, 10 * 60, "data", MORE)                        \
	X(log_level, LOG, 0, LOG_LEVEL_INFO, "log level", LINE)

#define CONFIG_MEMBER_STR(f, size)  char f[size];
#define CONFIG_MEMBER_WORD(f, size) char f[size];
#define CONFIG_MEMBER_SIZE(f, size) uint64_t f;
#define CONFIG_MEMBER_TIME(f, size) uint32_t f;
#define CONFIG_MEMBER_NUM(f, size)  uint32_t f;
#define CONFIG_MEMBER_PORT(f, size) uint16_t f;
#define CONFIG_MEMBER_LOG(f, size)  int f;
#define CONFIG_MEMBER_LISTEN(f, size) \
	struct listen_conf f[size];   \
	size_t n##f;
#define CONFIG_MEMBER(f, kind, size, def, words, how) \
	CONFIG_MEMBER_##kind(f, size)

/*
 * What the fields mean beyond their kind: control_group "" is root and
 * boxd's user alone; tls_cert "" is no TLS; resolver_addr "" is
 * /etc/resolv.conf; relay_url "" is MX delivery; limit_connections is per
 * client IP; limit_sessions 0 is derived from RLIMIT_NOFILE;
 * limit_recipients is per transaction; limit_imap_connections is IMAP and
 * POP3 sessions per client IP, limit_imap_per_user per logged-in user.
 */
struct boxd_config {
	char path[PATH_MAX]; /* the file it came from */
	CONFIG_FIELDS(CONFIG_MEMBER)
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
/* 1 if both hold the same settings, wherever they came from (path) */
int config_equal(const struct boxd_config *, const struct boxd_config *);
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
/*
 * The length of the character at p if a terminal shows it as text:
 * printable ASCII, or well-formed UTF-8 but the C1 controls (U+0080 to
 * U+009F, which terminals obey as ESC sequences); 0 for anything else.
 */
size_t text_safe_len(const unsigned char *);
/* a single path component safe for the file system (no /, no leading .) */
int path_component_valid(const char *);

/* ---------------------------------------------------------------- sandbox.c */
/*
 * The role's seccomp allowlist, installed once it has set up (libraries
 * loaded, files opened, privileges dropped); with debug set a forbidden
 * call is named on stderr and the process exits 3 instead of being killed.
 */
struct sandbox_profile;
void sandbox_set_debug(int);
void sandbox_init(const struct sandbox_profile *);
/* each role's, named by its row in boxd/role.c */
extern const struct sandbox_profile sandbox_profile_control;
extern const struct sandbox_profile sandbox_profile_smtp;
extern const struct sandbox_profile sandbox_profile_auth;
extern const struct sandbox_profile sandbox_profile_queue;
extern const struct sandbox_profile sandbox_profile_mda;
extern const struct sandbox_profile sandbox_profile_mta;
extern const struct sandbox_profile sandbox_profile_signer;
extern const struct sandbox_profile sandbox_profile_imap;

/* ---------------------------------------------------------------- privsep.c */
/*
 * Drop to user (when root): chroot to dir (if not NULL),
 * setgroups/setresgid/setresuid, then no_new_privs.
 */
void privsep_drop(const char *user, const char *chroot_dir);
/* 1 if running as root */
int privsep_is_root(void);

/* ---------------------------------------------------------------- tls.c */
struct bufferevent;
struct event_base;

/* load the TLS libraries (before chroot); fatal if they are missing */
void tls_load(void);
/* a server context (an SSL_CTX) from PEM text, or NULL with err set */
void *tls_server_ctx_new(
    const char *cert_pem, const char *key_pem, char *err, size_t errsz);
/*
 * A client context: the system's trust store (read now, whole), or cafile
 * instead if not NULL.  A certificate that does not verify does not stop
 * the handshake (opportunistic TLS); tls_verified() tells afterwards.
 */
void *tls_client_ctx(const char *cafile, char *err, size_t errsz);
void tls_ctx_free(void *);
/* a bufferevent that accepts TLS on fd; owns and closes fd (not if NULL) */
struct bufferevent *
tls_accept_bufferevent(struct event_base *, int fd, void *ctx);
/*
 * A bufferevent that starts TLS as a client on the connected (or
 * connecting) fd, sending host as SNI and checking the certificate
 * against it if not NULL; owns and closes fd (not if NULL).
 */
struct bufferevent *tls_connect_bufferevent(
    struct event_base *, int fd, void *ctx, const char *host);
/* after the handshake: 1 if the peer's certificate verified; why, if not */
int tls_verified(struct bufferevent *, char *why, size_t);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" of a TLS bufferevent */
void tls_info(struct bufferevent *, char *, size_t);

/* ---------------------------------------------------------------- tls_server.c
 */
/*
 * A server's TLS context, made when the first client asks for TLS: until
 * then a role holds only the PEM text the parent sent.
 */
struct tls_server {
	void *ctx;	/* NULL until first use */
	char *cert_pem; /* NULL once used, or if none is configured */
	char *key_pem;
	const char *cert_path; /* in log lines; must outlive the object */
	const char *key_path;
};

void tls_server_init(
    struct tls_server *, const char *cert_path, const char *key_path);
/* the certificate and key of an IMSG_CONF_TLS; -1 if malformed */
int tls_server_set_pem(struct tls_server *, struct msg_reader *);
/* 1 if a certificate is configured */
int tls_server_available(const struct tls_server *);
/* the context, made on first use; NULL (logged, once) if it cannot be */
void *tls_server_ctx(struct tls_server *);
/* new PEM text: a context in use is replaced now, else on first use */
int tls_server_reload(struct tls_server *, struct msg_reader *);
/* wipe and free the PEM text (a role that serves no TLS, at start) */
void tls_server_forget(struct tls_server *);

/* ---------------------------------------------------------------- db.c */
/*
 * A transactional Berkeley DB environment and its databases (btrees),
 * for the roles that keep tables or indexes.  At most one transaction is
 * open at a time; the calls below work in it (or, outside one, each on
 * its own).  Every call that can fail returns -1 and leaves a message for
 * people in db_error().
 */
#define DBENV_ERR_MAX 512

struct db_env;
struct db_file;

struct db_env_conf {
	const char *name; /* in log lines: "table" */
	uint32_t cache_size;
	uint32_t log_file_max;
	uint32_t checkpoint_kb;	  /* after a commit that wrote */
	const char *const *files; /* NULL-terminated */
};

/* cb returns -1 to stop the scan (and sets the error) */
typedef int (*db_scan_cb)(
    struct db_env *, const char *key, const void *data, size_t len, void *);

/* load libdb (before chroot); fatal if it is missing */
void db_load(void);
/*
 * Open (create, recover) the environment in home and conf->files in it,
 * into files[]; NULL with err set if it cannot.
 */
struct db_env *db_env_open(const char *home, const struct db_env_conf *,
    struct db_file **files, char *err, size_t errsz);
/* aborts an open transaction, checkpoints, closes the files too */
void db_env_close(struct db_env *);
const char *db_error(struct db_env *);
int db_seterr(struct db_env *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
/* 1 if the environment needs recovery: nothing more will work */
int db_broken(struct db_env *);
int db_begin(struct db_env *);
/* write: the log is on disk when this returns 0 */
int db_commit(struct db_env *, int write);
void db_abort(struct db_env *);
/* 1 found (*data malloc'd), 0 not found, -1 error */
int db_get(struct db_env *, struct db_file *, const char *key, void **data,
    size_t *len);
int db_exists(struct db_env *, struct db_file *, const char *key);
/* w's buffer, wiped and freed; 1 stored, 0 the key exists and !replace */
int db_put(struct db_env *, struct db_file *, const char *key,
    struct msg_writer *w, int replace);
/* 1 deleted, 0 not there */
int db_del(struct db_env *, struct db_file *, const char *key);
/* every record in key order */
int db_scan(struct db_env *, struct db_file *, db_scan_cb, void *);

/* ---------------------------------------------------------------- listener.c
 */
/*
 * The accept loop of a role serving listeners: sessions are counted per
 * client address and in all, a connection over either limit is refused,
 * and accept() running out of descriptors rests every listener a second.
 */
#define LISTENER_KEY_MAX 50 /* INET6_ADDRSTRLEN and "/64" */

struct listener_set;
/* the sessions from one client address */
struct listener_client;

enum listener_refusal {
	LISTENER_FULL,	      /* the sessions of the role, in all */
	LISTENER_CLIENT_FULL, /* the sessions of this client address */
};

struct listener_ops {
	/* a new session on fd; it owns fd and its count in c */
	void (*accept)(void *arg, int fd, const struct sockaddr *,
	    enum listen_kind, struct listener_client *c);
	/* the line a refused connection gets before the close; NULL: none */
	const char *(*refusal)(enum listen_kind, enum listener_refusal);
	/* the limits now (a reload may change them); sessions 0: the most
	 * the descriptor limit allows */
	void (*limits)(void *arg, uint32_t *sessions, uint32_t *per_client);
	unsigned int session_fds;	/* descriptors one session may hold */
	const char *sessions_directive; /* named when the cap is lowered */
};

/*
 * Raises RLIMIT_NOFILE to its hard limit (call before the sandbox) and
 * derives the session cap from it.
 */
struct listener_set *listener_set_new(struct event_base *,
    const struct listener_ops *, void *arg, size_t nlisteners);
/* closes the listeners; every session must have ended */
void listener_set_free(struct listener_set *);
/* a listening fd the parent passed; the set owns it */
void listener_add(struct listener_set *, int fd, enum listen_kind);
/* the sessions counted now, and the most there may be */
uint32_t listener_sessions(struct listener_set *);
uint32_t listener_session_cap(struct listener_set *);
/* count a session from sa; NULL if its address is at its limit */
struct listener_client *
listener_client_add(struct listener_set *, const struct sockaddr *);
uint32_t listener_client_count(const struct listener_client *);
/* a session ended */
void listener_client_del(struct listener_client *);
/* the client's address as text; an IPv4-mapped IPv6 one as IPv4 */
void listener_addr_text(const struct sockaddr *, char *, size_t);
/*
 * What the per-client limit counts: the address, but an IPv6 one by its
 * /64 ("2001:db8:1:2::/64"); an IPv4-mapped one as the IPv4 address.
 */
void listener_client_key(const struct sockaddr *, char *, size_t);

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
/*
 * RLIMIT_NOFILE's soft limit raised to the hard one (before the sandbox,
 * which forbids setrlimit): the descriptors the process may now have.
 */
uint32_t fd_limit_raise(void);

/* ---------------------------------------------------------------- envelope.c
 */
#define ENVELOPE_MAILBOX_MAX (SMTP_DOMAIN_MAX + SMTP_LOCALPART_MAX + 2)
/*
 * Mailboxes one envelope may have: smtp refuses the RCPT that would go
 * past it, limit recipients cannot be set higher, and what is read back
 * (from the spool, from an imsg) with more is refused before anything
 * is allocated for it.
 */
#define ENVELOPE_RCPT_MAX 8192

/*
 * One delivery: the address the client gave, the Maildir it maps to, or
 * no mailbox ("") for a remote recipient, which mta delivers.
 */
struct envelope_rcpt {
	char addr[SMTP_PATH_MAX];
	char mailbox[ENVELOPE_MAILBOX_MAX]; /* "domain/user"; "" remote */
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
/* 0, or -1: errno EINVAL malformed, ENOMEM no memory for it */
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
 * Its first part, TIME.QIDRn. (the dot included, so that R1 is not the
 * start of R10): what no host name change, size or flags alter, and so
 * what a retry looks for in new/ and cur/.  0, or -1 if it does not fit.
 */
#define MAILDIR_PREFIX_MAX 48
int maildir_unique_prefix(char *buf, size_t len, uint64_t msgid, uint32_t idx);
/* 1 if name is a valid name starting with that prefix */
int maildir_name_has_prefix(const char *name, const char *prefix);
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

/* ---------------------------------------------------------------- auth_msg.c
 */
/*
 * A login, from a role that serves users (imap now, smtp's AUTH later) to
 * auth, and its answer (IMSG_AUTH_LOGIN, IMSG_AUTH_LOGIN_RESULT).  The user
 * and password are the client's text: any octets but NUL, up to the bounds
 * below; a role refuses longer text itself (as a failed login) before it
 * encodes, for the encoder fails on it (w->error).  The request's writer
 * wipes (the encoder sets w->wipe); the channel carrying it must have
 * ibuf.wipe set on both ends.  Decoders take a whole payload and refuse
 * short input, bytes left over, embedded NULs, a string past its bound, an
 * unknown service or status, and an OK without a valid mailbox; -1 then,
 * the struct wiped.
 */
#define AUTH_LOGIN_USER_MAX	SMTP_PATH_MAX /* octets, no NUL */
#define AUTH_LOGIN_PASSWORD_MAX 1024	      /* octets, no NUL */
#define AUTH_LOGIN_ADDR_MAX	64	      /* numeric IP text, NUL in */

struct auth_login {
	uint64_t reqid;
	uint32_t service; /* AUTH_SERVICE_* */
	char user[AUTH_LOGIN_USER_MAX + 1];
	char password[AUTH_LOGIN_PASSWORD_MAX + 1];
	char client_addr[AUTH_LOGIN_ADDR_MAX]; /* "192.0.2.1", "2001:db8::1" */
};

struct auth_login_result {
	uint64_t reqid;
	uint32_t status;		    /* AUTH_LOGIN_* */
	char user[SMTP_PATH_MAX];	    /* normalized; "" unless OK */
	char mailbox[ENVELOPE_MAILBOX_MAX]; /* "domain/user"; "" unless OK */
	uint64_t quota;			    /* bytes, 0: none */
};

void auth_login_encode(struct msg_writer *, const struct auth_login *);
/*
 * The request for a client's user and password, encoded into w; text too
 * long to be anyone's goes as no user at all, a failure auth counts.
 */
void auth_login_make(struct msg_writer *, uint64_t reqid, uint32_t service,
    const char *user, const char *password, const char *client_addr);
int auth_login_decode(struct auth_login *, const void *, size_t);
/* wipes the password and everything else */
void auth_login_clear(struct auth_login *);
void
auth_login_result_encode(struct msg_writer *, const struct auth_login_result *);
int auth_login_result_decode(struct auth_login_result *, const void *, size_t);

/* ---------------------------------------------------------------- base64.c */
/*
 * Strict base64, as SASL sends it: octets decoded into out, or -1 for
 * anything malformed or too long for outsz.
 */
int base64_decode_buf(const char *, size_t, unsigned char *out, size_t outsz);
/* one digit of the RFC 4648 alphabet: its value, or -1 */
int base64_value(unsigned char);

/* ---------------------------------------------------------------- mime.c */
/*
 * A message held in memory (mmap'ed; never copied) parsed into a tree of
 * parts.  Offsets are into the message.  Strings belong to the part,
 * NUL-terminated; type, subtype, encoding, disposition and parameter
 * names are lowercased.  Every count is bounded before anything is
 * allocated; past a bound the rest of that part is an opaque body and
 * MIME_TRUNCATED is set: never an error, never a lost message.
 */
#define MIME_PARTS_MAX	  1000	      /* parts of one message */
#define MIME_DEPTH_MAX	  32	      /* multipart and message/rfc822 nesting */
#define MIME_PARAMS_MAX	  64	      /* parameters of one header field */
#define MIME_FIELDS_MAX	  2000	      /* fields of one header block */
#define MIME_FIELD_MAX	  (64 * 1024) /* octets of one field, folded */
#define MIME_BOUNDARY_MAX 200	      /* octets of a boundary */

#define MIME_TRUNCATED 0x01 /* a bound was reached */

struct evbuffer;

struct mime_param {
	char *name;  /* lowercase, RFC 2231 '*N' and '*' suffixes removed */
	char *value; /* unquoted; RFC 2231 continuations joined, UTF-8 */
};

struct mime_params {
	struct mime_param *v;
	size_t n;
};

struct mime_part {
	struct mime_part *parent;
	/* multipart: its first part; message/rfc822: the embedded message */
	struct mime_part *child;
	struct mime_part *next; /* the next part of the same multipart */
	size_t nchild;
	size_t hdr_off, hdr_len; /* the header with the blank line ending it */
	size_t body_off, body_len;
	size_t
	    body_lines; /* line ends in the body, +1 for an unended last line */
	char *type,
	    *subtype; /* defaults text/plain (message/rfc822 in a digest) */
	struct mime_params params;
	char *id, *description, *encoding, *md5, *language, *location;
	char *disposition; /* the disposition type; NULL if none */
	struct mime_params dparams;
	int explicit_type; /* a valid Content-Type was given */
};

struct mime_message {
	const char *msg;
	size_t len;
	struct mime_part *root;
	size_t nparts;
	int flags; /* MIME_TRUNCATED */
};

/* NULL only when out of memory; any octets parse */
struct mime_message *mime_parse(const char *msg, size_t len);
/*
 * The top header as mime_parse() sees it, from a prefix of the message
 * (CRLF form) that ends after a line end, or the whole message (whole
 * set): its length, the blank line ending it included, in *hdr_len.  1
 * when the rest of the message cannot change it, 0 when more is needed.
 */
int mime_header_extent(const char *msg, size_t len, int whole, size_t *hdr_len);
void mime_free(struct mime_message *);
/* a parameter's value (name lowercase) or NULL */
const char *mime_param_get(const struct mime_params *, const char *name);
/* is the part multipart/ (has parts) or message/rfc822 (has a message) */
int mime_part_is_multipart(const struct mime_part *);
int mime_part_is_message(const struct mime_part *);
/*
 * The body with its Content-Transfer-Encoding undone, appended to out:
 * base64 (junk skipped, padding optional), quoted-printable (soft breaks,
 * bad escapes kept as they are), anything else as it is.  0, 1 when the
 * encoding is unknown (the octets were appended as they are), -1 when out
 * of memory.
 */
int mime_part_decode(const struct mime_message *, const struct mime_part *,
    struct evbuffer *out);
/* a text part's decoded body converted from its charset to UTF-8; 0 or -1 */
int mime_part_text(const struct mime_message *, const struct mime_part *,
    struct evbuffer *out);
/*
 * What SEARCH BODY looks in: every text part, embedded messages' too, in
 * UTF-8, each followed by a line end.  0 or -1.
 */
int mime_message_text(const struct mime_message *, struct evbuffer *out);
/*
 * IMAP shows messages with CRLF line ends; a file with bare LFs (or CRs)
 * is read through its CRLF form, so that sizes, line counts and sections
 * agree.  mime_crlf_needed() says whether msg has a bare LF or CR;
 * mime_crlf() appends the CRLF form to out, 0 or -1.
 */
int mime_crlf_needed(const char *msg, size_t len);
int mime_crlf(const char *msg, size_t len, struct evbuffer *out);
int mime_base64_decode(const char *, size_t, struct evbuffer *out);
int mime_qp_decode(const char *, size_t, struct evbuffer *out);

/* ---------------------------------------------------------- mime_header.c */
/*
 * Header fields of a header block (hdr, len: a part's hdr_off/hdr_len or
 * any text); a line without a colon is skipped, as are fields past
 * MIME_FIELDS_MAX.  Bare LF line ends are accepted everywhere.
 */
struct mime_field {
	const char *name; /* the name as written, namelen octets */
	size_t namelen;
	const char *value; /* after the colon, folded as written, no line end */
	size_t valuelen;
	const char *raw; /* the whole field with its line end(s) */
	size_t rawlen;
};

/* the next field at or after *pos (start at 0): 1, or 0 at the end */
int
mime_header_next(const char *hdr, size_t len, size_t *pos, struct mime_field *);
/* the first field named name, case-insensitive: 1, or 0 if none */
int mime_header_get(
    const char *hdr, size_t len, const char *name, struct mime_field *);
/*
 * A value unfolded (line ends dropped), leading and trailing white space
 * trimmed, NUL-terminated and malloc'ed; NULL when out of memory.
 */
char *mime_header_unfold(const char *value, size_t len);
/*
 * The same, with RFC 2047 encoded words decoded (B and Q, any charset
 * charset.c knows; adjacent words joined; malformed ones left as they
 * are) and raw 8-bit text taken as UTF-8 if valid, else windows-1252:
 * UTF-8, malloc'ed; NULL when out of memory.
 */
char *mime_header_decode(const char *value, size_t len);
/* the same, appended to out; 0 or -1 */
int mime_header_decode_buf(struct evbuffer *out, const char *, size_t);
/*
 * A structured value "token; a=b; c*=utf-8''%E2%82%AC": the token
 * lowercased in *first (malloc'ed, NULL if empty) and at most
 * MIME_PARAMS_MAX parameters, RFC 2231 decoded.  0 or -1 out of memory.
 */
int mime_params_parse(
    const char *value, size_t len, char **first, struct mime_params *);
void mime_params_free(struct mime_params *);
/*
 * RFC 5322 date, obsolete forms too (no day name, no seconds, two- and
 * three-digit years, named and military zones, comments): seconds since
 * the epoch (UTC), the zone in minutes east in *tzoff if not NULL; -1
 * when hopeless.
 */
int64_t mime_date_parse(const char *, size_t, int *tzoff);

#define MIME_ADDRESSES_MAX 1000 /* entries of one address list */
/*
 * One entry of an address list, in IMAP ENVELOPE terms: a mailbox has
 * mailbox and host; a group start has host NULL and the group's name in
 * mailbox; a group end has both NULL.  Strings are malloc'ed, NULL when
 * absent.
 */
struct mime_address {
	char *name;    /* display name; RFC 2047 decoded if asked */
	char *adl;     /* obsolete route "@a,@b" */
	char *mailbox; /* local part, unquoted */
	char *host;
};

struct mime_addresses {
	struct mime_address *v;
	size_t n;
};

/*
 * An address list (groups, comments, quoted local parts, routes); broken
 * entries are kept as well as they can be.  decode: display names RFC
 * 2047 decoded to UTF-8 (else raw, as ENVELOPE wants).  0, -1 out of
 * memory.
 */
int
mime_address_parse(const char *, size_t, int decode, struct mime_addresses *);
void mime_addresses_free(struct mime_addresses *);

/* -------------------------------------------------------------- charset.c */
/*
 * Conversion to UTF-8.  The imap role runs chrooted without gconv
 * modules: charset_init() opens an iconv handle for every supported
 * charset before the chroot, kept for the life of the process.
 */
/* 0, or -1 if iconv is unusable (then only the built-in charsets work) */
int charset_init(void);
/* the canonical lowercase name of a charset or alias; NULL if unknown */
const char *charset_canonical(const char *name);
/*
 * len octets of in, in charset name, appended to out as UTF-8; malformed
 * input becomes U+FFFD.  0; 1 if the charset is unknown (the octets were
 * appended as UTF-8 if valid, else as windows-1252); -1 out of memory.
 */
int charset_to_utf8(
    const char *name, const char *in, size_t len, struct evbuffer *out);
/* 1 if len octets are well-formed UTF-8 */
int charset_utf8_valid(const char *, size_t);

/* ---------------------------------------------------------------- quota.c */

/*
 * A user's quota usage, Maildir++ "maildirsize" over the Maildir's dirfd:
 * plain functions free of IMAP state, so that mda links them too.  A
 * limit of 0 is no limit.
 */
#define QUOTA_FOLDERS_MAX 20000 /* directories a recount looks into */

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

/* ----------------------------------------------------------------
 * ctl_msg.c: usage
 *
 * boxctl user list's usage columns: control asks imap, which may read the
 * Maildirs, for a batch of users' maildirsize at a time
 * (IMSG_IMAP_USAGE_REQ, IMSG_IMAP_USAGE), in the order asked.
 */
#define CTL_USAGE_BATCH 128 /* mailboxes in one request */

/* IMSG_IMAP_USAGE status of one mailbox */
enum ctl_usage_status {
	CTL_USAGE_OK,	   /* bytes and messages; 0 if no Maildir yet */
	CTL_USAGE_UNKNOWN, /* the Maildir could not be read */
};

struct ctl_usage_req {
	uint64_t reqid;
	uint32_t n;
	char mailbox[CTL_USAGE_BATCH][ENVELOPE_MAILBOX_MAX];
};

struct ctl_usage {
	uint32_t status; /* CTL_USAGE_* */
	uint64_t bytes;
	uint64_t messages;
};

struct ctl_usage_reply {
	uint64_t reqid;
	uint32_t n;
	struct ctl_usage usage[CTL_USAGE_BATCH];
};

/* a row as it came, and more pairs after it (key, value, ..., NULL) */
void ctl_row_encode_more(struct msg_writer *, const struct ctl_row *, ...)
    __attribute__((sentinel));
void ctl_usage_req_encode(struct msg_writer *, const struct ctl_usage_req *);
/* refuses more than CTL_USAGE_BATCH, and a mailbox not "domain/user" */
int ctl_usage_req_decode(struct ctl_usage_req *, const void *, size_t);
void
ctl_usage_reply_encode(struct msg_writer *, const struct ctl_usage_reply *);
/* refuses more than CTL_USAGE_BATCH, and an unknown status */
int ctl_usage_reply_decode(struct ctl_usage_reply *, const void *, size_t);

/* ----------------------------------------------------------------- dkim.c */
/*
 * DKIM (RFC 6376, RFC 8463).  The process that holds the message
 * canonicalises and hashes it and builds the DKIM-Signature template;
 * only the 32-octet digest crosses to signer, which signs it with its
 * key; the signature goes back into the template, ready to prepend.
 * libcrypto is loaded by dkim_load() (before a role chroots).  Every
 * size is bounded before anything is allocated; hostile input gets -1
 * and a reason in err, never a crash.
 */
#define DKIM_DIGEST_LEN	      32	   /* SHA-256 */
#define DKIM_HEADERS_MAX      1000	   /* fields in a header block */
#define DKIM_HEADER_LEN_MAX   (64 * 1024)  /* one field, folds included */
#define DKIM_HEADER_BLOCK_MAX (256 * 1024) /* the whole header block */
#define DKIM_SIGN_NAMES_MAX   128	   /* names in h= */
#define DKIM_NAME_MAX	      64	   /* one header field name */
#define DKIM_SELECTOR_MAX     64	   /* s=, as a C string buffer */
#define DKIM_SIG_MAX	      1024	   /* signature octets (RSA 8192) */
#define DKIM_FIELD_MAX	      8192	   /* a DKIM-Signature we write */
/* the finished field: the template, b= in base64 with its folds, CRLF */
#define DKIM_SIGNED_FIELD_MAX (DKIM_FIELD_MAX + DKIM_SIG_MAX * 2)
#define DKIM_PUBKEY_MAX	      2048 /* p= in base64, C string */

enum dkim_alg {
	DKIM_RSA_SHA256,
	DKIM_ED25519_SHA256,
};

enum dkim_canon {
	DKIM_RELAXED,
	DKIM_SIMPLE,
};

/* "rsa-sha256" / "ed25519-sha256" */
const char *dkim_alg_name(enum dkim_alg);
/* 0, or -1 if the name is unknown */
int dkim_alg_parse(const char *, enum dkim_alg *);

/* dlopen()s libcrypto; fatal if it cannot */
void dkim_load(void);

/* --- body: canonicalised and hashed as it streams past, any chunking */
struct dkim_body {
	void *md; /* EVP_MD_CTX */
	enum dkim_canon canon;
	uint64_t limit;	      /* octets hashed at most (l=), else UINT64_MAX */
	uint64_t length;      /* canonical octets so far */
	uint64_t empty_lines; /* withheld until a non-empty line follows */
	int cr;		      /* the last octet was a CR */
	int wsp;	      /* a WSP run is pending (relaxed) */
	int content;	      /* the current line has content */
	size_t fill;
	unsigned char buf[4096];
};

/* 0, -1 out of memory */
int dkim_body_init(struct dkim_body *, enum dkim_canon, uint64_t limit);
/* the body as it is on the wire, CRLF lines, dot-unstuffed; 0 or -1 */
int dkim_body_update(struct dkim_body *, const void *, size_t);
/* bh and the canonical length (all of it, even past the limit); frees */
int dkim_body_final(
    struct dkim_body *, unsigned char bh[DKIM_DIGEST_LEN], uint64_t *len);
/* frees what init took, if final was not reached */
void dkim_body_free(struct dkim_body *);

/* --- the header block */
struct dkim_header {
	const char *field; /* "Name: value" as it was, folds and all */
	size_t len;	   /* without the CRLF that ends it */
	size_t namelen;	   /* the name, before the colon (no WSP) */
};

struct dkim_headers {
	struct dkim_header *v; /* point into the block parsed */
	size_t n;
};

/*
 * Splits a header block (CRLF lines up to the empty line or the end) into
 * fields.  Refuses a line without a colon, NUL, a bare CR or LF, a field
 * over DKIM_HEADER_LEN_MAX, over DKIM_HEADERS_MAX fields; *bodyoff is
 * where the body starts (len if there is none).  0 or -1 with err.
 */
int dkim_headers_parse(struct dkim_headers *, const char *, size_t len,
    size_t *bodyoff, char *err, size_t errsz);
void dkim_headers_free(struct dkim_headers *);

/*
 * One field canonicalised ("name:value\r\n", relaxed), into out of at
 * least len + 3 octets; its length, or -1.
 */
ssize_t
dkim_header_relaxed(const char *field, size_t len, char *out, size_t outsz);

/*
 * The h= list to sign for a header block: each field of RFC 6376 5.4.1's
 * set, every instance, taken bottom-up, then "from" once more so no From
 * can be added.  idx[i] is the field signed as names[i] (SIZE_MAX for the
 * oversigned one).  The count, or -1 with err (no From, too many).
 */
int dkim_select_headers(const struct dkim_headers *,
    char names[DKIM_SIGN_NAMES_MAX][DKIM_NAME_MAX],
    size_t idx[DKIM_SIGN_NAMES_MAX], char *err, size_t errsz);

/* --- a whole message as it streams past: header block kept, body hashed */
struct dkim_message {
	char *head; /* the header block, its CRLFs included */
	size_t headlen, headsz;
	int state; /* how much of CRLF CRLF has been seen */
	int inbody;
	struct dkim_body body;
	struct dkim_headers headers;	   /* after final */
	unsigned char bh[DKIM_DIGEST_LEN]; /* after final */
	uint64_t bodylen;
};

/* relaxed body; 0 or -1 out of memory */
int dkim_message_init(struct dkim_message *);
/* -1 with err if the header block grows past DKIM_HEADER_BLOCK_MAX */
int dkim_message_update(
    struct dkim_message *, const void *, size_t, char *err, size_t errsz);
/* parses the header block and finishes bh; 0 or -1 with err */
int dkim_message_final(struct dkim_message *, char *err, size_t errsz);
void dkim_message_free(struct dkim_message *);

/* --- signing, in the process with the message */
struct dkim_sign_request {
	enum dkim_alg alg;
	const char *domain;   /* d= */
	const char *selector; /* s= */
	int64_t time;	      /* t= */
};

struct dkim_template {
	char field[DKIM_FIELD_MAX]; /* "DKIM-Signature: ...; b=" */
	size_t len;
	unsigned char digest[DKIM_DIGEST_LEN]; /* what signer signs */
};

/*
 * The DKIM-Signature template (v=1; a=; c=relaxed/relaxed; d=; s=; t=;
 * h=; bh=; b=) for a parsed header block and its body hash, and the
 * digest of the signed fields and the template.  0 or -1 with err.
 */
int dkim_sign_prepare(const struct dkim_sign_request *,
    const struct dkim_headers *, const unsigned char bh[DKIM_DIGEST_LEN],
    struct dkim_template *, char *err, size_t errsz);
/*
 * The finished field: the template with b= in base64, folded at 78
 * columns with CRLF TAB, CRLF at the end, NUL-terminated in out
 * (DKIM_SIGNED_FIELD_MAX is always enough).  Its length, or -1.
 */
ssize_t dkim_sign_finish(const struct dkim_template *, const unsigned char *sig,
    size_t siglen, char *out, size_t outsz);

/* --- keys and the signer's side */
struct dkim_key;

/* a PKCS#8 (or traditional) PEM private key; NULL with err */
struct dkim_key *
dkim_key_from_pem(const char *, size_t, char *err, size_t errsz);
/* the public key of a DNS p= (base64) for alg; NULL with err */
struct dkim_key *
dkim_key_from_dns(enum dkim_alg, const char *p, char *err, size_t errsz);
enum dkim_alg dkim_key_alg(const struct dkim_key *);
void dkim_key_free(struct dkim_key *);
/* a new rsa-2048 or ed25519 key as PKCS#8 PEM, malloc'ed: freezero it */
int dkim_key_generate(enum dkim_alg, char **pem, size_t *len);
/*
 * The DNS p= value: RSA the base64 SubjectPublicKeyInfo, ed25519 the
 * base64 of the raw 32 octets.  0, -1 if psz is too small.
 */
int dkim_key_public(const struct dkim_key *, char *p, size_t psz);
/* RSA PKCS#1 v1.5 over SHA-256, or Ed25519 over the digest; 0 or -1 */
int dkim_sign_digest(const struct dkim_key *,
    const unsigned char digest[DKIM_DIGEST_LEN], unsigned char *sig,
    size_t *siglen, size_t sigsz);
/* 1 valid, 0 not */
int dkim_verify_digest(const struct dkim_key *,
    const unsigned char digest[DKIM_DIGEST_LEN], const unsigned char *sig,
    size_t siglen);

/* --- verifying: a DKIM-Signature's tags */
struct dkim_signature {
	enum dkim_alg alg;
	enum dkim_canon hcanon, bcanon;
	char domain[SMTP_DOMAIN_MAX + 1];		/* d= */
	char selector[DKIM_SELECTOR_MAX];		/* s= */
	char names[DKIM_SIGN_NAMES_MAX][DKIM_NAME_MAX]; /* h=, lowercase */
	size_t nnames;
	unsigned char bh[DKIM_DIGEST_LEN];
	unsigned char b[DKIM_SIG_MAX];
	size_t blen;
	uint64_t l;	   /* UINT64_MAX if absent */
	int64_t t, x;	   /* -1 if absent */
	size_t boff, bend; /* b='s value within the field */
};

/* a whole "DKIM-Signature: ..." field; 0 or -1 with err */
int dkim_signature_parse(struct dkim_signature *, const char *field, size_t len,
    char *err, size_t errsz);

/* a DKIM key record (RFC 6376 3.6.1): the TXT strings of it, joined */
struct dkim_key_record {
	enum dkim_alg alg;	 /* k=: rsa (the default) or ed25519 */
	char p[DKIM_PUBKEY_MAX]; /* base64, FWS taken out; "" if revoked */
	int testing;		 /* t=y */
	int strict;		 /* t=s: i= must be in d= itself */
};

/*
 * Refuses v= other than DKIM1 or not first, a k= other than rsa and
 * ed25519, h= without sha256, s= without email or *, a missing p=, a
 * tag twice.  0 or -1 with err.
 */
int dkim_key_record_parse(
    struct dkim_key_record *, const char *, size_t, char *err, size_t errsz);

/*
 * The digest a verifier checks b= against: the fields of h= taken
 * bottom-up, then signature field sigidx with b= emptied, in the
 * signature's header canonicalisation.  0 or -1 with err.
 */
int dkim_verify_prepare(const struct dkim_headers *, size_t sigidx,
    const struct dkim_signature *, unsigned char digest[DKIM_DIGEST_LEN],
    char *err, size_t errsz);

/* ---------------------------------------------------------- dkim_keys.c */
/*
 * The DKIM key files, STORAGE/dkim/DOMAIN.SELECTOR.key (PKCS#8 PEM), and
 * the selectors boxd makes: "b", the UTC date, "r" (rsa) or "e"
 * (ed25519), and for a day's later pairs a sequence 02..99:
 * b20261208r, b20261208e, b20261208r02, b20261208e02.  The two keys of a
 * pair differ only in that letter; within an algorithm the names sort by
 * age.  A selector of another form (a key put there by hand) is loaded
 * and published, but never signs.
 */
#define DKIM_KEYS_DIR	  "dkim"
#define DKIM_KEY_SUFFIX	  ".key"
#define DKIM_PAIR_SEQ_MAX 99
#define DKIM_KEY_FILE_MAX (SMTP_DOMAIN_MAX + DKIM_SELECTOR_MAX + 8)

/* a selector pair boxd made */
struct dkim_pair {
	uint32_t date; /* YYYYMMDD */
	uint32_t seq;  /* 1 for the day's first pair */
};

/* one label of letters, digits and '-': fit for a file name and DNS */
int dkim_selector_valid(const char *);
/* 0 with the pair and algorithm of a selector boxd made; -1 for any other */
int dkim_selector_parse(const char *, struct dkim_pair *, enum dkim_alg *);
/* the selector of pair for alg; -1 if the pair is not one boxd makes */
int dkim_selector_make(const struct dkim_pair *, enum dkim_alg, char *, size_t);
/* <0, 0, >0: a older than, the same as, newer than b */
int dkim_pair_cmp(const struct dkim_pair *, const struct dkim_pair *);
/*
 * The pair a rotation at now makes: the day's first, or the one after
 * newest (NULL: none yet) if that is of the same day or later (a clock
 * set back).  -1 once a day has had DKIM_PAIR_SEQ_MAX.
 */
int
dkim_pair_next(const struct dkim_pair *newest, time_t now, struct dkim_pair *);
/* "DOMAIN.SELECTOR.key"; -1 if it does not fit or either is invalid */
int
dkim_key_file_name(const char *domain, const char *selector, char *, size_t);
/* the domain and selector of a key file's name; -1 if it is no such name */
int dkim_key_file_parse(const char *name, char *domain, size_t domainsz,
    char *selector, size_t selectorsz);

/* -------------------------------------------------------- dns_records.c */
/*
 * boxctl dns: the records a domain publishes, as zone-file lines.  The
 * control process fills a dns_zone from the configuration and the
 * signer's public keys and formats every record here.
 */
#define DNS_TTL		 3600
#define DNS_TXT_CHUNK	 255 /* octets in one TXT character-string */
#define DNS_OWNER_MAX	 (SMTP_DOMAIN_MAX + 32)
#define DNS_VALUE_MAX	 4096
#define DNS_POLICY_MAX	 512
#define DNS_MTA_STS_MODE "testing"
#define DNS_MTA_STS_AGE	 604800 /* max_age: a week */

/* the client services of RFC 6186 and RFC 8314, in the order printed */
enum dns_service {
	DNS_SUBMISSIONS,
	DNS_SUBMISSION,
	DNS_IMAPS,
	DNS_IMAP,
	DNS_POP3S,
	DNS_POP3,
	DNS_SERVICES
};

struct dns_zone {
	const char *domain;
	const char *hostname;	      /* the MX and every service's host */
	uint16_t ports[DNS_SERVICES]; /* 0: no listener, "not offered" */
};

struct dns_record {
	char name[DNS_OWNER_MAX]; /* "_dmarc.example.org." */
	const char *type;	  /* "MX", "TXT", "SRV", "CNAME" */
	char value[DNS_VALUE_MAX];
};

/* the ports of the configuration's listeners (the first of each kind) */
void dns_zone_ports(struct dns_zone *, const struct boxd_config *);
/*
 * text as TXT character-strings: each quoted, at most 255 octets, '"' and
 * '\' escaped, separated by a space; -1 if out is too small
 */
int dns_txt_quote(const char *text, char *out, size_t outsz);
/* "NAME TTL IN TYPE VALUE"; -1 if it does not fit */
int dns_record_line(const struct dns_record *, char *, size_t);
/*
 * The records before the DKIM keys (MX, SPF), the DKIM record of one
 * selector (p= as dkim_key_public() makes it), and those after it
 * (DMARC, MTA-STS, TLS-RPT, the SRV records, autoconfig and
 * autodiscover).  Each calls cb once a record; -1 if one does not fit.
 */
typedef void (*dns_record_cb)(const struct dns_record *, void *);
int dns_zone_head(const struct dns_zone *, dns_record_cb, void *);
int dns_zone_dkim(const struct dns_zone *, const char *selector, enum dkim_alg,
    const char *p, dns_record_cb, void *);
int dns_zone_tail(const struct dns_zone *, dns_record_cb, void *);
/* the MTA-STS policy file, served at https://mta-sts.DOMAIN/.well-known/ */
int dns_mta_sts_policy(const struct dns_zone *, char *, size_t);
/* ---------------------------------------------------------------- sasl.c */
/* a decoded SASL PLAIN message, at most; longer ones are refused */
#define SASL_PLAIN_MAX 2048
/*
 * SASL PLAIN's response, base64: 0, -1 malformed or too long, -2 another
 * user's authzid (pass wiped then).
 */
int sasl_plain_decode(const char *b64, size_t, char *user, size_t usersz,
    char *pass, size_t passsz);

/* ---------------------------------------------------------------- session.c
 */
/*
 * The parent's messages to a role that serves listeners: the socket of
 * one of conf's listeners, served by set from now on, and the TLS
 * certificate (again at each reload).  NULL if taken in, else what is
 * wrong with the message.
 */
const char *session_parent_imsg(struct listener_set *,
    const struct boxd_config *, struct tls_server *, struct imsg *);
/*
 * A session's bufferevent on fd: TLS accepted under tls's context, or
 * plain if tls is NULL; input read at most input_max ahead, both ways
 * enabled.  NULL on failure, fd then still open.
 */
struct bufferevent *
session_bufferevent(struct event_base *, int fd, struct tls_server *tls,
    size_t input_max, void (*readcb)(struct bufferevent *, void *),
    void (*writecb)(struct bufferevent *, void *),
    void (*eventcb)(struct bufferevent *, short, void *), void *arg);
struct event;
/* ev's timer set to go off ms from now */
void timer_add_ms(struct event *, uint64_t ms);

/* ---------------------------------------------------------------- ascii.c */
/* 1 for an ASCII letter or digit */
int ascii_alnum(unsigned char);
/* a hex digit's value (either case), or -1 */
int ascii_hex_value(unsigned char);

/* ---------------------------------------------------------------- message.c
 */
/*
 * The length of msg's header with the blank line that ends it (CRLF or
 * LF); all of msg if it has none.
 */
size_t message_header_len(const char *msg, size_t len);
/* the end of the line at i of s: the index after its LF, or len */
size_t message_line_end(const char *s, size_t len, size_t i);

/* ---------------------------------------------------------------- date.c */
/* days since 1970-01-01 of a civil date (proleptic Gregorian), m 1..12 */
int64_t days_from_civil(int64_t y, int m, int d);

#endif
