/*
 * boxd.conf(5): a hand-written line lexer and a table of directives.
 * The parent parses the file once; the children get the result as a
 * marshalled struct, which they check again before trusting it.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define CONFIG_FILE_MAX	 (1024 * 1024) /* bytes */
#define CONFIG_LINE_MAX	 4096	       /* bytes, newline excluded */
#define CONFIG_WORDS_MAX 16	       /* per line */
#define CONFIG_SHOW_MAX	 48	       /* of a word, in a message */

/*
 * Paths are shorter than PATH_MAX so that the longest printed directive,
 * tls with two paths all of quotes and backslashes, fits in one line.
 */
#define CONFIG_PATH_LEN 1000 /* bytes */

#define SIZE_MIN_BYTES 1024

/* one entry of CONFIG_FIELDS (common.h), as the generic code sees it */
enum config_kind {
	CONFIG_KIND_STR,
	CONFIG_KIND_WORD,
	CONFIG_KIND_SIZE,
	CONFIG_KIND_TIME,
	CONFIG_KIND_NUM,
	CONFIG_KIND_PORT,
	CONFIG_KIND_LOG,
	CONFIG_KIND_LISTEN,
};

enum config_how {
	CONFIG_PRINT_LINE,
	CONFIG_PRINT_LINE_OPT,
	CONFIG_PRINT_MORE,
	CONFIG_PRINT_MORE_OPT,
};

struct config_field {
	enum config_kind kind;
	size_t offset;
	size_t size; /* of the member */
	const char *words;
	enum config_how how;
};

/* what one line lexes to: NUL-terminated words in one buffer */
struct config_line {
	char buf[CONFIG_LINE_MAX + CONFIG_WORDS_MAX + 1];
	size_t used;
	const char *words[CONFIG_WORDS_MAX];
	size_t nwords;
	size_t next; /* the parser's cursor */
};

struct config_parser {
	struct boxd_config *conf;
	const char *name;
	size_t lineno;
	char *err;
	size_t errsz;
	uint32_t seen; /* CONFIG_DIR_* bits */
	size_t listen_line[CONFIG_LISTEN_MAX];
	size_t queue_line;
	struct config_line line;
};

struct config_directive {
	const char *word;
	const char *second; /* a keyword that must follow */
	int repeatable;
	int (*parse)(struct config_parser *);
};

static int config_error(struct config_parser *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
static void config_show(char *, size_t, const char *);
static int config_lex(struct config_parser *, const char *, size_t);
static int config_line(struct config_parser *, const char *, size_t);
static const char *config_word(struct config_parser *);
static int config_more(struct config_parser *);
static int config_keyword(struct config_parser *, const char *);
static int config_end(struct config_parser *);
static int config_string(struct config_parser *, const char *, char *, size_t);
static int config_path(struct config_parser *, const char *, char *, size_t);
static int config_port(struct config_parser *, uint16_t *);
static int config_count(struct config_parser *, const char *, uint32_t *);
static int config_duration(struct config_parser *, const char *, uint32_t *);
static int config_finish(struct config_parser *);

static int parse_hostname(struct config_parser *);
static int parse_storage(struct config_parser *);
static int parse_control(struct config_parser *);
static int parse_tls(struct config_parser *);
static int parse_listen(struct config_parser *);
static int parse_max_message_size(struct config_parser *);
static int parse_queue(struct config_parser *);
static int parse_resolver(struct config_parser *);
static int parse_relay(struct config_parser *);
static int parse_mta(struct config_parser *);
static int parse_limit_auth(struct config_parser *);
static int parse_limit_connections(struct config_parser *);
static int parse_limit_sessions(struct config_parser *);
static int parse_limit_imap(struct config_parser *);
static int parse_limit_recipients(struct config_parser *);
static int parse_timeout(struct config_parser *);
static int parse_log(struct config_parser *);

static int text_valid(const char *);
static int hostname_valid(const char *);
static int path_valid(const char *);
static int socket_path_valid(const char *);
static int group_name_valid(const char *);
static int ip_valid(const char *);
static int listen_addr_valid(const char *);
static int listen_same(const struct listen_conf *, const struct listen_conf *);
static int listen_needs_tls(enum listen_kind);
static int relay_url_valid(const char *);
static int config_check(const struct boxd_config *);
static void print_string(FILE *, const char *);
static void print_size(FILE *, uint64_t);
static void print_duration(FILE *, uint32_t);
static int get_port(struct msg_reader *, uint16_t *);
static const void *
config_field_ptr(const struct boxd_config *, const struct config_field *);
static int
config_field_set(const struct boxd_config *, const struct config_field *);
static void config_print_value(
    FILE *, const struct boxd_config *, const struct config_field *);
static void config_print_listeners(
    FILE *, const struct boxd_config *, const struct config_field *);
static void config_marshal_field(struct msg_writer *,
    const struct boxd_config *, const struct config_field *);
static int config_unmarshal_field(
    struct msg_reader *, struct boxd_config *, const struct config_field *);
static int config_field_equal(const struct boxd_config *,
    const struct boxd_config *, const struct config_field *);

#define CONFIG_FIELD(f, kind, size, def, words, how)          \
	{CONFIG_KIND_##kind, offsetof(struct boxd_config, f), \
	    sizeof(((struct boxd_config *)NULL)->f), words,   \
	    CONFIG_PRINT_##how},
static const struct config_field config_fields[] = {
    CONFIG_FIELDS(CONFIG_FIELD)};
#define CONFIG_NFIELDS (sizeof(config_fields) / sizeof(config_fields[0]))

static const struct config_directive config_directives[] = {
    {"hostname", NULL, 0, parse_hostname},
    {"storage", NULL, 0, parse_storage},
    {"control", "socket", 0, parse_control},
    {"tls", NULL, 0, parse_tls},
    {"listen", "on", 1, parse_listen},
    {"max-message-size", NULL, 0, parse_max_message_size},
    {"queue", NULL, 0, parse_queue},
    {"resolver", NULL, 0, parse_resolver},
    {"relay", "via", 0, parse_relay},
    {"mta", "port", 0, parse_mta},
    {"limit", "auth-failures", 0, parse_limit_auth},
    {"limit", "connections", 0, parse_limit_connections},
    {"limit", "sessions", 0, parse_limit_sessions},
    {"limit", "imap-connections", 0, parse_limit_imap},
    {"limit", "recipients", 0, parse_limit_recipients},
    {"timeout", NULL, 0, parse_timeout},
    {"log", "level", 0, parse_log},
};
#define CONFIG_NDIRECTIVES \
	(sizeof(config_directives) / sizeof(config_directives[0]))

static const char *const listen_kind_names[] = {
    [LISTEN_SMTP] = "smtp",
    [LISTEN_SUBMISSION] = "submission",
    [LISTEN_SUBMISSIONS] = "submissions",
    [LISTEN_IMAP] = "imap",
    [LISTEN_IMAPS] = "imaps",
    [LISTEN_POP3] = "pop3",
    [LISTEN_POP3S] = "pop3s",
};
#define LISTEN_NKINDS (sizeof(listen_kind_names) / sizeof(listen_kind_names[0]))

const char *
listen_kind_name(enum listen_kind kind)
{
	if ((size_t)kind >= LISTEN_NKINDS)
		return "unknown";
	return listen_kind_names[kind];
}

int
parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, unit = 1;
	const char *p;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	switch (*p) {
	case '\0':
		break;
	case 'K':
	case 'k':
		unit = 1024;
		break;
	case 'M':
	case 'm':
		unit = 1024 * 1024;
		break;
	case 'G':
	case 'g':
		unit = 1024 * 1024 * 1024;
		break;
	default:
		return -1;
	}
	if (*p != '\0' && p[1] != '\0')
		return -1;
	if (v > UINT64_MAX / unit)
		return -1;
	*out = v * unit;
	return 0;
}

int
parse_duration(const char *s, uint32_t *out)
{
	uint64_t v = 0, unit = 1;
	const char *p;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	switch (*p) {
	case '\0':
	case 's':
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 60 * 60;
		break;
	case 'd':
		unit = 24 * 60 * 60;
		break;
	default:
		return -1;
	}
	if (*p != '\0' && p[1] != '\0')
		return -1;
	if (v == 0 || v > UINT32_MAX / unit)
		return -1;
	*out = (uint32_t)(v * unit);
	return 0;
}

/* a default of CONFIG_FIELDS, as a statement on c */
#define CONFIG_DEFAULT_STR(f, def)    strlcpy(c->f, def, sizeof(c->f));
#define CONFIG_DEFAULT_WORD(f, def)   strlcpy(c->f, def, sizeof(c->f));
#define CONFIG_DEFAULT_SIZE(f, def)   c->f = (def);
#define CONFIG_DEFAULT_TIME(f, def)   c->f = (def);
#define CONFIG_DEFAULT_NUM(f, def)    c->f = (def);
#define CONFIG_DEFAULT_PORT(f, def)   c->f = (def);
#define CONFIG_DEFAULT_LOG(f, def)    c->f = (def);
#define CONFIG_DEFAULT_LISTEN(f, def) /* none */
#define CONFIG_DEFAULT(f, kind, size, def, words, how) \
	CONFIG_DEFAULT_##kind(f, def)

void
config_defaults(struct boxd_config *c)
{
	char host[SMTP_DOMAIN_MAX + 2];

	memset(c, 0, sizeof(*c));
	CONFIG_FIELDS(CONFIG_DEFAULT)
	/* the one default that is not a constant */
	memset(host, 0, sizeof(host));
	if (gethostname(host, sizeof(host) - 1) == -1 || !hostname_valid(host))
		strlcpy(host, "localhost", sizeof(host));
	strlcpy(c->hostname, host, sizeof(c->hostname));
}

/* ------------------------------------------------------------ validation */

/* printable: no control characters, so that config_print can quote it */
static int
text_valid(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static int
hostname_valid(const char *s)
{
	size_t len = strlen(s), label = 0, i;
	char ch;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return 0;
	for (i = 0; i <= len; i++) {
		ch = s[i];
		if (ch == '.' || ch == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (ch == '-' && label == 0)
			return 0;
		if (!(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') &&
		    !(ch >= '0' && ch <= '9') && ch != '-')
			return 0;
		label++;
	}
	return 1;
}

static int
path_valid(const char *s)
{
	return s[0] == '/' && strlen(s) <= CONFIG_PATH_LEN && text_valid(s);
}

static int
socket_path_valid(const char *s)
{
	struct sockaddr_un sun;

	return path_valid(s) && strlen(s) < sizeof(sun.sun_path);
}

/* a POSIX portable user or group name, as useradd/groupadd take them */
static int
group_name_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= CONFIG_GROUP_MAX || s[0] == '-' ||
	    (s[0] >= '0' && s[0] <= '9'))
		return 0;
	return strspn(s,
		   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789_-.") == len;
}

static int
ip_valid(const char *s)
{
	struct in6_addr in6;
	struct in_addr in4;

	if (strlen(s) >= sizeof(((struct listen_conf *)NULL)->addr))
		return 0;
	return inet_pton(AF_INET, s, &in4) == 1 ||
	    inet_pton(AF_INET6, s, &in6) == 1;
}

static int
listen_addr_valid(const char *s)
{
	return strcmp(s, "localhost") == 0 || ip_valid(s);
}

/* would the two listeners bind the same socket? */
static int
listen_same(const struct listen_conf *a, const struct listen_conf *b)
{
	const struct listen_conf *lo;
	struct in6_addr a6, b6;
	struct in_addr a4, b4;
	const char *other;

	if (a->port != b->port)
		return 0;
	if (strcmp(a->addr, "localhost") == 0 ||
	    strcmp(b->addr, "localhost") == 0) {
		lo = strcmp(a->addr, "localhost") == 0 ? a : b;
		other = lo == a ? b->addr : a->addr;
		if (strcmp(other, "localhost") == 0)
			return 1;
		if (inet_pton(AF_INET, other, &a4) == 1)
			return a4.s_addr == htonl(INADDR_LOOPBACK);
		if (inet_pton(AF_INET6, other, &a6) == 1)
			return IN6_IS_ADDR_LOOPBACK(&a6);
		return 0;
	}
	if (inet_pton(AF_INET, a->addr, &a4) == 1 &&
	    inet_pton(AF_INET, b->addr, &b4) == 1)
		return a4.s_addr == b4.s_addr;
	if (inet_pton(AF_INET6, a->addr, &a6) == 1 &&
	    inet_pton(AF_INET6, b->addr, &b6) == 1)
		return memcmp(&a6, &b6, sizeof(a6)) == 0;
	return 0;
}

static int
listen_needs_tls(enum listen_kind kind)
{
	return kind == LISTEN_SUBMISSIONS || kind == LISTEN_IMAPS ||
	    kind == LISTEN_POP3S;
}

static int
relay_url_valid(const char *s)
{
	static const char *const schemes[] = {
	    "smtp://", "smtp+tls://", "smtps://"};
	size_t i, len;

	if (strlen(s) >= sizeof(((struct boxd_config *)NULL)->relay_url) ||
	    !text_valid(s))
		return 0;
	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		len = strlen(schemes[i]);
		if (strncmp(s, schemes[i], len) == 0)
			return s[len] != '\0' && strchr(s + len, ' ') == NULL;
	}
	return 0;
}

/* everything the parser promises about a config, for one that came in */
static int
config_check(const struct boxd_config *c)
{
	size_t i, j;
	int tls;

	if (!hostname_valid(c->hostname) || !path_valid(c->storage) ||
	    !socket_path_valid(c->control_socket) ||
	    (c->control_group[0] != '\0' &&
		!group_name_valid(c->control_group)))
		return -1;
	if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0'))
		return -1;
	tls = c->tls_cert[0] != '\0';
	if (tls && (!path_valid(c->tls_cert) || !path_valid(c->tls_key)))
		return -1;
	if (c->nlisteners > CONFIG_LISTEN_MAX)
		return -1;
	for (i = 0; i < c->nlisteners; i++) {
		if (!listen_addr_valid(c->listeners[i].addr) ||
		    c->listeners[i].port == 0 ||
		    (size_t)c->listeners[i].kind >= LISTEN_NKINDS)
			return -1;
		if (listen_needs_tls(c->listeners[i].kind) && !tls)
			return -1;
		for (j = 0; j < i; j++)
			if (listen_same(&c->listeners[i], &c->listeners[j]))
				return -1;
	}
	if (c->max_message_size < SIZE_MIN_BYTES)
		return -1;
	if (c->queue_retry == 0 || c->queue_retry > c->queue_max_retry ||
	    c->queue_max_retry > c->queue_expire)
		return -1;
	if (c->resolver_addr[0] == '\0') {
		if (c->resolver_port != CONFIG_RESOLVER_PORT)
			return -1;
	} else if (!ip_valid(c->resolver_addr) || c->resolver_port == 0)
		return -1;
	if (c->relay_url[0] == '\0') {
		if (c->relay_secret[0] != '\0')
			return -1;
	} else if (!relay_url_valid(c->relay_url) ||
	    (c->relay_secret[0] != '\0' && !path_valid(c->relay_secret)))
		return -1;
	if (c->mta_port == 0 || c->limit_auth_failures == 0 ||
	    c->limit_auth_period == 0 || c->limit_connections == 0 ||
	    c->limit_imap_connections == 0 || c->limit_imap_per_user == 0 ||
	    c->limit_recipients < CONFIG_RECIPIENTS_MIN ||
	    c->limit_recipients > ENVELOPE_RCPT_MAX ||
	    c->timeout_command == 0 || c->timeout_data == 0)
		return -1;
	if (c->log_level != LOG_LEVEL_INFO && c->log_level != LOG_LEVEL_DEBUG)
		return -1;
	return 0;
}

/* ------------------------------------------------------------ lexer */

static int
config_error(struct config_parser *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->errsz > 0) {
		if (p->lineno > 0)
			snprintf(p->err, p->errsz, "%s:%zu: %s", p->name,
			    p->lineno, msg);
		else
			snprintf(p->err, p->errsz, "%s: %s", p->name, msg);
	}
	return -1;
}

/* a word as it may appear in a message: quoted, cut if long */
static void
config_show(char *dst, size_t dstsz, const char *word)
{
	if (strlen(word) > CONFIG_SHOW_MAX)
		snprintf(dst, dstsz, "\"%.*s...\"", CONFIG_SHOW_MAX, word);
	else
		snprintf(dst, dstsz, "\"%s\"", word);
}

static int
config_lex(struct config_parser *p, const char *s, size_t len)
{
	struct config_line *l = &p->line;
	const char *end = s + len;
	unsigned char ch;

	l->used = 0;
	l->nwords = 0;
	l->next = 0;
	while (s < end) {
		ch = (unsigned char)*s;
		if (ch == ' ' || ch == '\t') {
			s++;
			continue;
		}
		if (ch == '#')
			break;
		if (l->nwords == CONFIG_WORDS_MAX)
			return config_error(p, "too many words on line");
		l->words[l->nwords++] = l->buf + l->used;
		if (ch == '"') {
			for (s++;; s++) {
				if (s == end)
					return config_error(
					    p, "unterminated string");
				ch = (unsigned char)*s;
				if (ch == '"')
					break;
				if (ch == '\\') {
					if (++s == end)
						return config_error(
						    p, "unterminated string");
					ch = (unsigned char)*s;
					if (ch != '"' && ch != '\\')
						return config_error(p,
						    "invalid escape in string"
						    " (only \\\" and \\\\)");
				} else if (ch < 0x20 || ch == 0x7f)
					return config_error(p,
					    "invalid character 0x%02x in "
					    "string",
					    ch);
				if (l->used + 1 >= sizeof(l->buf))
					return config_error(
					    p, "string too long");
				l->buf[l->used++] = (char)ch;
			}
			s++;
			if (s < end && *s != ' ' && *s != '\t' && *s != '#')
				return config_error(
				    p, "expected blank after string");
		} else {
			for (; s < end; s++) {
				ch = (unsigned char)*s;
				if (ch == ' ' || ch == '\t' || ch == '#')
					break;
				if (ch == '"')
					return config_error(
					    p, "unexpected '\"' inside a word");
				if (ch < 0x20 || ch == 0x7f)
					return config_error(
					    p, "invalid character 0x%02x", ch);
				if (l->used + 1 >= sizeof(l->buf))
					return config_error(
					    p, "string too long");
				l->buf[l->used++] = (char)ch;
			}
		}
		if (l->used >= sizeof(l->buf))
			return config_error(p, "string too long");
		l->buf[l->used++] = '\0';
	}
	return 0;
}

static const char *
config_word(struct config_parser *p)
{
	if (p->line.next == p->line.nwords)
		return NULL;
	return p->line.words[p->line.next++];
}

static int
config_more(struct config_parser *p)
{
	return p->line.next < p->line.nwords;
}

/* the next word must be this keyword */
static int
config_keyword(struct config_parser *p, const char *kw)
{
	const char *w;
	char show[CONFIG_SHOW_MAX + 8];

	if ((w = config_word(p)) == NULL)
		return config_error(p, "expected \"%s\"", kw);
	if (strcmp(w, kw) != 0) {
		config_show(show, sizeof(show), w);
		return config_error(p, "expected \"%s\", got %s", kw, show);
	}
	return 0;
}

/* nothing may follow a complete directive */
static int
config_end(struct config_parser *p)
{
	const char *w;
	char show[CONFIG_SHOW_MAX + 8];

	if ((w = config_word(p)) == NULL)
		return 0;
	config_show(show, sizeof(show), w);
	return config_error(p, "unexpected %s", show);
}

/* the next word, a string of what, into dst */
static int
config_string(
    struct config_parser *p, const char *what, char *dst, size_t dstsz)
{
	const char *w;

	if ((w = config_word(p)) == NULL)
		return config_error(p, "expected %s", what);
	if (strlcpy(dst, w, dstsz) >= dstsz)
		return config_error(p, "string too long");
	return 0;
}

static int
config_path(struct config_parser *p, const char *what, char *dst, size_t dstsz)
{
	if (config_string(p, what, dst, dstsz) == -1)
		return -1;
	if (dst[0] != '/')
		return config_error(p, "%s must be an absolute path", what);
	if (strlen(dst) > CONFIG_PATH_LEN)
		return config_error(
		    p, "%s too long (at most %d bytes)", what, CONFIG_PATH_LEN);
	return 0;
}

static int
config_port(struct config_parser *p, uint16_t *port)
{
	const char *w, *errstr;
	char show[CONFIG_SHOW_MAX + 8];
	long long v;

	if ((w = config_word(p)) == NULL || w[0] < '0' || w[0] > '9')
		return config_error(p, "expected port number");
	v = strtonum(w, 1, 65535, &errstr);
	if (errstr != NULL || strspn(w, "0123456789") != strlen(w)) {
		config_show(show, sizeof(show), w);
		return config_error(p, "invalid port %s", show);
	}
	*port = (uint16_t)v;
	return 0;
}

static int
config_count(struct config_parser *p, const char *what, uint32_t *out)
{
	const char *w, *errstr;
	char show[CONFIG_SHOW_MAX + 8];
	long long v;

	if ((w = config_word(p)) == NULL)
		return config_error(p, "expected %s", what);
	config_show(show, sizeof(show), w);
	if (strspn(w, "0123456789") != strlen(w) || w[0] == '\0')
		return config_error(p, "invalid number %s", show);
	v = strtonum(w, 1, UINT32_MAX, &errstr);
	if (errstr != NULL)
		return config_error(p, "%s %s is %s", what, show, errstr);
	*out = (uint32_t)v;
	return 0;
}

static int
config_duration(struct config_parser *p, const char *what, uint32_t *out)
{
	const char *w;
	char show[CONFIG_SHOW_MAX + 8];

	if ((w = config_word(p)) == NULL)
		return config_error(p, "expected %s", what);
	if (parse_duration(w, out) == -1) {
		config_show(show, sizeof(show), w);
		return config_error(p, "invalid time %s", show);
	}
	return 0;
}

/* ------------------------------------------------------------ directives */

static int
parse_hostname(struct config_parser *p)
{
	struct boxd_config *c = p->conf;
	char show[CONFIG_SHOW_MAX + 8];

	if (config_string(p, "host name", c->hostname, sizeof(c->hostname)) ==
	    -1)
		return -1;
	if (!hostname_valid(c->hostname)) {
		config_show(show, sizeof(show), c->hostname);
		return config_error(p, "invalid host name %s", show);
	}
	return config_end(p);
}

static int
parse_storage(struct config_parser *p)
{
	if (config_path(p, "storage path", p->conf->storage,
		sizeof(p->conf->storage)) == -1)
		return -1;
	return config_end(p);
}

static int
parse_control(struct config_parser *p)
{
	struct sockaddr_un sun;

	if (config_path(p, "control socket path", p->conf->control_socket,
		sizeof(p->conf->control_socket)) == -1)
		return -1;
	if (strlen(p->conf->control_socket) >= sizeof(sun.sun_path))
		return config_error(p,
		    "control socket path too long "
		    "(at most %zu bytes)",
		    sizeof(sun.sun_path) - 1);
	if (!config_more(p))
		return 0;
	if (config_keyword(p, "group") == -1 ||
	    config_string(p, "group name", p->conf->control_group,
		sizeof(p->conf->control_group)) == -1)
		return -1;
	if (!group_name_valid(p->conf->control_group))
		return config_error(p,
		    "invalid group name (letters, digits, '_', '-' and '.', "
		    "not starting with '-' or a digit)");
	return config_end(p);
}

static int
parse_tls(struct config_parser *p)
{
	struct boxd_config *c = p->conf;
	const char *w;
	char show[CONFIG_SHOW_MAX + 8];

	while ((w = config_word(p)) != NULL) {
		if (strcmp(w, "cert") == 0) {
			if (c->tls_cert[0] != '\0')
				return config_error(p, "duplicate tls cert");
			if (config_path(p, "certificate path", c->tls_cert,
				sizeof(c->tls_cert)) == -1)
				return -1;
		} else if (strcmp(w, "key") == 0) {
			if (c->tls_key[0] != '\0')
				return config_error(p, "duplicate tls key");
			if (config_path(p, "key path", c->tls_key,
				sizeof(c->tls_key)) == -1)
				return -1;
		} else {
			config_show(show, sizeof(show), w);
			return config_error(p,
			    "expected \"cert\" or \"key\", "
			    "got %s",
			    show);
		}
	}
	if (c->tls_cert[0] == '\0')
		return config_error(p, "tls: missing cert");
	if (c->tls_key[0] == '\0')
		return config_error(p, "tls: missing key");
	return 0;
}

static int
parse_listen(struct config_parser *p)
{
	struct boxd_config *c = p->conf;
	struct listen_conf l;
	const char *w;
	char show[CONFIG_SHOW_MAX + 8];
	size_t i;

	memset(&l, 0, sizeof(l));
	if (c->nlisteners == CONFIG_LISTEN_MAX)
		return config_error(
		    p, "too many listeners (at most %d)", CONFIG_LISTEN_MAX);
	if ((w = config_word(p)) == NULL)
		return config_error(p, "expected address");
	if (!listen_addr_valid(w)) {
		config_show(show, sizeof(show), w);
		return config_error(p,
		    "invalid listen address %s (an IP "
		    "address or localhost)",
		    show);
	}
	strlcpy(l.addr, w, sizeof(l.addr));
	if (config_keyword(p, "port") == -1 || config_port(p, &l.port) == -1)
		return -1;
	if ((w = config_word(p)) == NULL)
		return config_error(p,
		    "expected listener kind (smtp, submission, "
		    "submissions, imap, imaps, pop3 or pop3s)");
	for (i = 0; i < LISTEN_NKINDS; i++)
		if (strcmp(w, listen_kind_names[i]) == 0)
			break;
	if (i == LISTEN_NKINDS) {
		config_show(show, sizeof(show), w);
		return config_error(p, "unknown listener kind %s", show);
	}
	l.kind = (enum listen_kind)i;
	if (config_end(p) == -1)
		return -1;
	for (i = 0; i < c->nlisteners; i++)
		if (listen_same(&c->listeners[i], &l))
			return config_error(p,
			    "duplicate listener %s port %u "
			    "(line %zu)",
			    l.addr, l.port, p->listen_line[i]);
	/* memcpy keeps the zeroed padding: callers memcmp listeners */
	p->listen_line[c->nlisteners] = p->lineno;
	memcpy(&c->listeners[c->nlisteners++], &l, sizeof(l));
	return 0;
}

static int
parse_max_message_size(struct config_parser *p)
{
	const char *w;
	char show[CONFIG_SHOW_MAX + 8];
	uint64_t v;

	if ((w = config_word(p)) == NULL)
		return config_error(p, "expected size");
	config_show(show, sizeof(show), w);
	if (parse_size(w, &v) == -1)
		return config_error(p, "invalid size %s", show);
	if (v < SIZE_MIN_BYTES)
		return config_error(p, "max-message-size %s is below 1K", show);
	p->conf->max_message_size = v;
	return config_end(p);
}

static int
parse_queue(struct config_parser *p)
{
	struct boxd_config *c = p->conf;
	const char *w;
	char show[CONFIG_SHOW_MAX + 8];
	int retry = 0, max_retry = 0, expire = 0;

	while ((w = config_word(p)) != NULL) {
		if (strcmp(w, "retry") == 0 && !retry) {
			retry = 1;
			if (config_duration(p, "retry time", &c->queue_retry) ==
			    -1)
				return -1;
		} else if (strcmp(w, "max-retry") == 0 && !max_retry) {
			max_retry = 1;
			if (config_duration(
				p, "max-retry time", &c->queue_max_retry) == -1)
				return -1;
		} else if (strcmp(w, "expire") == 0 && !expire) {
			expire = 1;
			if (config_duration(
				p, "expire time", &c->queue_expire) == -1)
				return -1;
		} else {
			config_show(show, sizeof(show), w);
			if (strcmp(w, "retry") == 0 ||
			    strcmp(w, "max-retry") == 0 ||
			    strcmp(w, "expire") == 0)
				return config_error(p, "duplicate queue %s", w);
			return config_error(p,
			    "expected retry, max-retry or "
			    "expire, got %s",
			    show);
		}
	}
	if (!retry && !max_retry && !expire)
		return config_error(p, "expected retry, max-retry or expire");
	p->queue_line = p->lineno;
	return 0;
}

static int
parse_resolver(struct config_parser *p)
{
	struct boxd_config *c = p->conf;
	const char *w;
	char show[CONFIG_SHOW_MAX + 8];

	if ((w = config_word(p)) == NULL)
		return config_error(p, "expected resolver address");
	if (!ip_valid(w)) {
		config_show(show, sizeof(show), w);
		return config_error(p,
		    "invalid resolver address %s (an IP "
		    "address)",
		    show);
	}
	strlcpy(c->resolver_addr, w, sizeof(c->resolver_addr));
	if (!config_more(p))
		return 0;
	if (config_keyword(p, "port") == -1 ||
	    config_port(p, &c->resolver_port) == -1)
		return -1;
	return config_end(p);
}

static int
parse_relay(struct config_parser *p)
{
	struct boxd_config *c = p->conf;

	if (config_string(p, "relay URL", c->relay_url, sizeof(c->relay_url)) ==
	    -1)
		return -1;
	if (!relay_url_valid(c->relay_url))
		return config_error(p,
		    "invalid relay URL (smtp://, "
		    "smtp+tls:// or smtps://, then user@host:port)");
	if (!config_more(p))
		return 0;
	if (config_keyword(p, "auth") == -1 ||
	    config_path(p, "relay secret path", c->relay_secret,
		sizeof(c->relay_secret)) == -1)
		return -1;
	return config_end(p);
}

static int
parse_mta(struct config_parser *p)
{
	if (config_port(p, &p->conf->mta_port) == -1)
		return -1;
	return config_end(p);
}

static int
parse_limit_auth(struct config_parser *p)
{
	struct boxd_config *c = p->conf;

	if (config_count(p, "failure count", &c->limit_auth_failures) == -1 ||
	    config_keyword(p, "per") == -1 ||
	    config_duration(p, "period", &c->limit_auth_period) == -1)
		return -1;
	return config_end(p);
}

static int
parse_limit_connections(struct config_parser *p)
{
	if (config_count(p, "connection count", &p->conf->limit_connections) ==
	    -1)
		return -1;
	return config_end(p);
}

static int
parse_limit_sessions(struct config_parser *p)
{
	if (config_count(p, "session count", &p->conf->limit_sessions) == -1)
		return -1;
	return config_end(p);
}

/* the per-user count is optional: "limit imap-connections 10" keeps it */
static int
parse_limit_imap(struct config_parser *p)
{
	struct boxd_config *c = p->conf;

	if (config_count(p, "connection count", &c->limit_imap_connections) ==
	    -1)
		return -1;
	if (!config_more(p))
		return 0;
	if (config_keyword(p, "per-user") == -1 ||
	    config_count(
		p, "per-user connection count", &c->limit_imap_per_user) == -1)
		return -1;
	return config_end(p);
}

static int
parse_limit_recipients(struct config_parser *p)
{
	if (config_count(p, "recipient count", &p->conf->limit_recipients) ==
	    -1)
		return -1;
	if (p->conf->limit_recipients < CONFIG_RECIPIENTS_MIN)
		return config_error(p,
		    "limit recipients must be at least %d (RFC 5321 "
		    "4.5.3.1.8)",
		    CONFIG_RECIPIENTS_MIN);
	if (p->conf->limit_recipients > ENVELOPE_RCPT_MAX)
		return config_error(p, "limit recipients must be at most %d",
		    ENVELOPE_RCPT_MAX);
	return config_end(p);
}

static int
parse_timeout(struct config_parser *p)
{
	struct boxd_config *c = p->conf;
	const char *w;
	char show[CONFIG_SHOW_MAX + 8];
	int command = 0, data = 0;

	while ((w = config_word(p)) != NULL) {
		if (strcmp(w, "command") == 0 && !command) {
			command = 1;
			if (config_duration(p, "command timeout",
				&c->timeout_command) == -1)
				return -1;
		} else if (strcmp(w, "data") == 0 && !data) {
			data = 1;
			if (config_duration(
				p, "data timeout", &c->timeout_data) == -1)
				return -1;
		} else {
			config_show(show, sizeof(show), w);
			if (strcmp(w, "command") == 0 || strcmp(w, "data") == 0)
				return config_error(
				    p, "duplicate timeout %s", w);
			return config_error(p,
			    "expected command or data, "
			    "got %s",
			    show);
		}
	}
	if (!command && !data)
		return config_error(p, "expected command or data");
	return 0;
}

static int
parse_log(struct config_parser *p)
{
	const char *w;
	char show[CONFIG_SHOW_MAX + 8];

	if ((w = config_word(p)) == NULL)
		return config_error(p, "expected info or debug");
	if (strcmp(w, "info") == 0)
		p->conf->log_level = LOG_LEVEL_INFO;
	else if (strcmp(w, "debug") == 0)
		p->conf->log_level = LOG_LEVEL_DEBUG;
	else {
		config_show(show, sizeof(show), w);
		return config_error(
		    p, "unknown log level %s (info or debug)", show);
	}
	return config_end(p);
}

/* ------------------------------------------------------------ parser */

static int
config_line(struct config_parser *p, const char *s, size_t len)
{
	const struct config_directive *d;
	const char *w, *second;
	char show[CONFIG_SHOW_MAX + 8];
	char want[128];
	size_t i, first = CONFIG_NDIRECTIVES;

	if (len > CONFIG_LINE_MAX)
		return config_error(
		    p, "line too long (more than %d bytes)", CONFIG_LINE_MAX);
	if (memchr(s, '\0', len) != NULL)
		return config_error(p, "NUL byte in line");
	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (config_lex(p, s, len) == -1)
		return -1;
	if ((w = config_word(p)) == NULL)
		return 0;
	second =
	    p->line.next < p->line.nwords ? p->line.words[p->line.next] : NULL;
	want[0] = '\0';
	for (i = 0; i < CONFIG_NDIRECTIVES; i++) {
		d = &config_directives[i];
		if (strcmp(w, d->word) != 0)
			continue;
		if (first == CONFIG_NDIRECTIVES)
			first = i;
		if (d->second == NULL ||
		    (second != NULL && strcmp(second, d->second) == 0))
			break;
		if (want[0] != '\0')
			strlcat(want, " or ", sizeof(want));
		strlcat(want, "\"", sizeof(want));
		strlcat(want, d->second, sizeof(want));
		strlcat(want, "\"", sizeof(want));
	}
	if (i == CONFIG_NDIRECTIVES) {
		if (first == CONFIG_NDIRECTIVES) {
			config_show(show, sizeof(show), w);
			return config_error(p, "unknown directive %s", show);
		}
		return config_error(p, "expected %s after \"%s\"", want, w);
	}
	d = &config_directives[i];
	if (d->second != NULL)
		p->line.next++;
	if (!d->repeatable) {
		if (p->seen & (1U << i))
			return config_error(p, "duplicate %s%s%s", d->word,
			    d->second != NULL ? " " : "",
			    d->second != NULL ? d->second : "");
		p->seen |= 1U << i;
	}
	return d->parse(p);
}

/* what can only be judged once the whole file is read */
static int
config_finish(struct config_parser *p)
{
	struct boxd_config *c = p->conf;
	size_t i;

	for (i = 0; i < c->nlisteners; i++) {
		if (listen_needs_tls(c->listeners[i].kind) &&
		    c->tls_cert[0] == '\0') {
			p->lineno = p->listen_line[i];
			return config_error(p,
			    "%s listener requires a tls "
			    "directive",
			    listen_kind_name(c->listeners[i].kind));
		}
	}
	p->lineno = p->queue_line;
	if (c->queue_retry > c->queue_max_retry)
		return config_error(p,
		    "queue retry must not exceed "
		    "max-retry");
	if (c->queue_max_retry > c->queue_expire)
		return config_error(p,
		    "queue max-retry must not exceed "
		    "expire");
	return 0;
}

int
config_parse_buffer(struct boxd_config *c, const char *name, const char *buf,
    size_t len, char *err, size_t errsz)
{
	struct config_parser *p;
	const char *s, *end, *nl;
	int rv = -1;

	if (errsz > 0)
		err[0] = '\0';
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->conf = calloc(1, sizeof(*p->conf))) == NULL) {
		if (errsz > 0)
			snprintf(err, errsz, "%s: %s", name, strerror(errno));
		free(p);
		return -1;
	}
	p->name = name;
	p->err = err;
	p->errsz = errsz;
	config_defaults(p->conf);
	if (strlcpy(p->conf->path, name, sizeof(p->conf->path)) >=
	    sizeof(p->conf->path)) {
		config_error(p, "file name too long");
		goto done;
	}
	if (len > CONFIG_FILE_MAX) {
		config_error(p, "file too large (more than 1 MiB)");
		goto done;
	}
	s = buf;
	end = buf + len;
	while (s < end) {
		p->lineno++;
		nl = memchr(s, '\n', (size_t)(end - s));
		if (config_line(p, s, (size_t)((nl ? nl : end) - s)) == -1)
			goto done;
		s = nl ? nl + 1 : end;
	}
	if (config_finish(p) == -1)
		goto done;
	memcpy(c, p->conf, sizeof(*c));
	rv = 0;
done:
	free(p->conf);
	free(p);
	return rv;
}

int
config_parse(struct boxd_config *c, const char *path, char *err, size_t errsz)
{
	FILE *fp;
	char *buf;
	size_t len = 0, n;
	int rv, saved_errno;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* one byte more than the limit, to tell "too large" */
	if ((buf = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		fclose(fp);
		return -1;
	}
	while (len < CONFIG_FILE_MAX + 1) {
		n = fread(buf + len, 1, CONFIG_FILE_MAX + 1 - len, fp);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(fp)) {
		saved_errno = errno;
		snprintf(err, errsz, "%s: %s", path, strerror(saved_errno));
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	rv = config_parse_buffer(c, path, buf, len, err, errsz);
	free(buf);
	return rv;
}

/* ------------------------------------------------------------ printing */

static void
print_string(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}

static void
print_size(FILE *fp, uint64_t v)
{
	static const char units[] = "GMK";
	uint64_t unit = 1024ULL * 1024 * 1024;
	size_t i;

	for (i = 0; i < sizeof(units) - 1; i++, unit /= 1024) {
		if (v != 0 && v % unit == 0) {
			fprintf(fp, "%llu%c", (unsigned long long)(v / unit),
			    units[i]);
			return;
		}
	}
	fprintf(fp, "%llu", (unsigned long long)v);
}

static void
print_duration(FILE *fp, uint32_t v)
{
	static const struct {
		uint32_t seconds;
		char unit;
	} units[] = {
	    {24 * 60 * 60, 'd'},
	    {60 * 60, 'h'},
	    {60, 'm'},
	};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (v != 0 && v % units[i].seconds == 0) {
			fprintf(
			    fp, "%u%c", v / units[i].seconds, units[i].unit);
			return;
		}
	}
	fprintf(fp, "%us", v);
}

/* ------------------------------------------------------------ the fields */

static const void *
config_field_ptr(const struct boxd_config *c, const struct config_field *f)
{
	return (const char *)c + f->offset;
}

/* not "" and not 0: what an _OPT field needs to be printed */
static int
config_field_set(const struct boxd_config *c, const struct config_field *f)
{
	const void *p = config_field_ptr(c, f);

	switch (f->kind) {
	case CONFIG_KIND_STR:
	case CONFIG_KIND_WORD:
		return *(const char *)p != '\0';
	case CONFIG_KIND_SIZE:
		return *(const uint64_t *)p != 0;
	case CONFIG_KIND_TIME:
	case CONFIG_KIND_NUM:
		return *(const uint32_t *)p != 0;
	case CONFIG_KIND_PORT:
		return *(const uint16_t *)p != 0;
	case CONFIG_KIND_LISTEN:
		return c->nlisteners > 0;
	default:
		return 1;
	}
}

static void
config_print_value(
    FILE *fp, const struct boxd_config *c, const struct config_field *f)
{
	const void *p = config_field_ptr(c, f);

	switch (f->kind) {
	case CONFIG_KIND_STR:
		print_string(fp, p);
		break;
	case CONFIG_KIND_WORD:
		fputs(p, fp);
		break;
	case CONFIG_KIND_SIZE:
		print_size(fp, *(const uint64_t *)p);
		break;
	case CONFIG_KIND_TIME:
		print_duration(fp, *(const uint32_t *)p);
		break;
	case CONFIG_KIND_NUM:
		fprintf(fp, "%u", *(const uint32_t *)p);
		break;
	case CONFIG_KIND_PORT:
		fprintf(fp, "%u", *(const uint16_t *)p);
		break;
	case CONFIG_KIND_LOG:
		fputs(
		    *(const int *)p == LOG_LEVEL_DEBUG ? "debug" : "info", fp);
		break;
	case CONFIG_KIND_LISTEN:
		break;
	}
}

/* a line each */
static void
config_print_listeners(
    FILE *fp, const struct boxd_config *c, const struct config_field *f)
{
	size_t i;

	for (i = 0; i < c->nlisteners && i < CONFIG_LISTEN_MAX; i++)
		fprintf(fp, "%s %s port %u %s\n", f->words,
		    c->listeners[i].addr, c->listeners[i].port,
		    listen_kind_name(c->listeners[i].kind));
}

char *
config_print(const struct boxd_config *c)
{
	const struct config_field *f;
	FILE *fp;
	char *out = NULL;
	size_t outlen = 0, i;
	int open_line = 0, skip = 0;

	if ((fp = open_memstream(&out, &outlen)) == NULL)
		return NULL;
	for (i = 0; i < CONFIG_NFIELDS; i++) {
		f = &config_fields[i];
		if (f->how == CONFIG_PRINT_LINE ||
		    f->how == CONFIG_PRINT_LINE_OPT) {
			if (open_line)
				fputc('\n', fp);
			open_line = 0;
			skip = f->how == CONFIG_PRINT_LINE_OPT &&
			    !config_field_set(c, f);
			if (skip)
				continue;
			if (f->kind == CONFIG_KIND_LISTEN) {
				config_print_listeners(fp, c, f);
				continue;
			}
			fprintf(fp, "%s ", f->words);
			open_line = 1;
		} else {
			if (skip ||
			    (f->how == CONFIG_PRINT_MORE_OPT &&
				!config_field_set(c, f)))
				continue;
			fprintf(fp, " %s ", f->words);
		}
		config_print_value(fp, c, f);
	}
	if (open_line)
		fputc('\n', fp);
	if (ferror(fp)) {
		fclose(fp);
		free(out);
		return NULL;
	}
	if (fclose(fp) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* ------------------------------------------------------------ marshalling */

static void
config_marshal_field(struct msg_writer *w, const struct boxd_config *c,
    const struct config_field *f)
{
	const void *p = config_field_ptr(c, f);
	size_t i, n;

	switch (f->kind) {
	case CONFIG_KIND_STR:
	case CONFIG_KIND_WORD:
		msg_put_str(w, p);
		break;
	case CONFIG_KIND_SIZE:
		msg_put_u64(w, *(const uint64_t *)p);
		break;
	case CONFIG_KIND_TIME:
	case CONFIG_KIND_NUM:
		msg_put_u32(w, *(const uint32_t *)p);
		break;
	case CONFIG_KIND_PORT:
		msg_put_u32(w, *(const uint16_t *)p);
		break;
	case CONFIG_KIND_LOG:
		msg_put_u32(w, (uint32_t) * (const int *)p);
		break;
	case CONFIG_KIND_LISTEN:
		n = c->nlisteners < CONFIG_LISTEN_MAX ? c->nlisteners
						      : CONFIG_LISTEN_MAX;
		msg_put_u32(w, (uint32_t)n);
		for (i = 0; i < n; i++) {
			msg_put_str(w, c->listeners[i].addr);
			msg_put_u32(w, c->listeners[i].port);
			msg_put_u32(w, (uint32_t)c->listeners[i].kind);
		}
		break;
	}
}

void
config_marshal(const struct boxd_config *c, struct msg_writer *w)
{
	size_t i;

	msg_put_str(w, c->path);
	for (i = 0; i < CONFIG_NFIELDS; i++)
		config_marshal_field(w, c, &config_fields[i]);
}

static int
get_port(struct msg_reader *r, uint16_t *port)
{
	uint32_t v;

	if (msg_get_u32(r, &v) == -1 || v > UINT16_MAX) {
		r->error = 1;
		return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

static int
config_unmarshal_field(
    struct msg_reader *r, struct boxd_config *c, const struct config_field *f)
{
	void *p = (char *)c + f->offset;
	uint32_t n, v;
	size_t i;

	switch (f->kind) {
	case CONFIG_KIND_STR:
	case CONFIG_KIND_WORD:
		return msg_get_str(r, p, f->size);
	case CONFIG_KIND_SIZE:
		return msg_get_u64(r, p);
	case CONFIG_KIND_TIME:
	case CONFIG_KIND_NUM:
		return msg_get_u32(r, p);
	case CONFIG_KIND_PORT:
		return get_port(r, p);
	case CONFIG_KIND_LOG:
		if (msg_get_u32(r, &v) == -1 || v > LOG_LEVEL_DEBUG)
			return -1;
		*(int *)p = (int)v;
		return 0;
	case CONFIG_KIND_LISTEN:
		if (msg_get_u32(r, &n) == -1 || n > CONFIG_LISTEN_MAX)
			return -1;
		c->nlisteners = n;
		for (i = 0; i < n; i++) {
			if (msg_get_str(r, c->listeners[i].addr,
				sizeof(c->listeners[i].addr)) == -1 ||
			    get_port(r, &c->listeners[i].port) == -1 ||
			    msg_get_u32(r, &v) == -1 || v >= LISTEN_NKINDS)
				return -1;
			c->listeners[i].kind = (enum listen_kind)v;
		}
		return 0;
	}
	return -1;
}

int
config_unmarshal(struct boxd_config *c, struct msg_reader *r)
{
	struct boxd_config *t;
	size_t i;
	int rv = -1;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	if (msg_get_str(r, t->path, sizeof(t->path)) == -1)
		goto done;
	for (i = 0; i < CONFIG_NFIELDS; i++)
		if (config_unmarshal_field(r, t, &config_fields[i]) == -1)
			goto done;
	if (msg_get_end(r) == -1 || config_check(t) == -1)
		goto done;
	memcpy(c, t, sizeof(*c));
	rv = 0;
done:
	if (rv == -1)
		r->error = 1;
	free(t);
	return rv;
}

/* ------------------------------------------------------------ equality */

static int
config_field_equal(const struct boxd_config *a, const struct boxd_config *b,
    const struct config_field *f)
{
	const void *pa = config_field_ptr(a, f), *pb = config_field_ptr(b, f);
	size_t i;

	switch (f->kind) {
	case CONFIG_KIND_STR:
	case CONFIG_KIND_WORD:
		return strncmp(pa, pb, f->size) == 0;
	case CONFIG_KIND_LISTEN:
		if (a->nlisteners != b->nlisteners ||
		    a->nlisteners > CONFIG_LISTEN_MAX)
			return 0;
		for (i = 0; i < a->nlisteners; i++)
			if (strncmp(a->listeners[i].addr, b->listeners[i].addr,
				sizeof(a->listeners[i].addr)) != 0 ||
			    a->listeners[i].port != b->listeners[i].port ||
			    a->listeners[i].kind != b->listeners[i].kind)
				return 0;
		return 1;
	default:
		/* a scalar: the same bits */
		return memcmp(pa, pb, f->size) == 0;
	}
}

int
config_equal(const struct boxd_config *a, const struct boxd_config *b)
{
	size_t i;

	for (i = 0; i < CONFIG_NFIELDS; i++)
		if (!config_field_equal(a, b, &config_fields[i]))
			return 0;
	return 1;
}
