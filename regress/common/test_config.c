/*
 * boxd.conf(5) parser: valid files, every error, hostile input, and the
 * print and marshal round trips.
 */

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "test.h"

#define ERRSZ	512

static const char design_example[] =
    "hostname \"mail.example.org\"\n"
    "storage \"/var/lib/boxd\"\n"
    "control socket \"/run/boxd/control.sock\" group \"boxadmin\"\n"
    "tls cert \"/etc/boxd/fullchain.pem\" key \"/etc/boxd/privkey.pem\"\n"
    "\n"
    "listen on 0.0.0.0 port 25  smtp           # MX: STARTTLS, no AUTH\n"
    "listen on ::      port 25  smtp\n"
    "listen on 0.0.0.0 port 587 submission     # STARTTLS, AUTH\n"
    "listen on 0.0.0.0 port 465 submissions    # implicit TLS, AUTH\n"
    "listen on 0.0.0.0 port 143 imap           # STARTTLS\n"
    "listen on 0.0.0.0 port 993 imaps\n"
    "listen on 0.0.0.0 port 110 pop3           # STLS\n"
    "listen on 0.0.0.0 port 995 pop3s\n"
    "\n"
    "max-message-size 50M\n"
    "queue retry 5m max-retry 4h expire 5d     # backoff doubles\n"
    "resolver 127.0.0.1 port 53                # optional\n"
    "relay via \"smtp+tls://user@smarthost.example:587\" "
    "auth \"/etc/boxd/relay.secret\"  # optional\n"
    "mta port 25                               # remote delivery port\n"
    "limit auth-failures 10 per 5m             # per client IP\n"
    "limit connections 20\n"
    "limit sessions 4000                       # all SMTP sessions\n"
    "limit recipients 1000                     # per transaction\n"
    "log level info                            # or debug\n";

static int	parse_str(struct boxd_config *, const char *, char *);
static int	parse_ok(const char *, struct boxd_config *);
static int	error_is(const char *, const char *);
static int	print_roundtrip(const struct boxd_config *);
static void	listeners_text(char *, size_t, int);
static int	listeners_ok(int, struct boxd_config *);
static int	long_line_ok(size_t);
static uint32_t	random_u32(void);
static uint32_t	random_duration(void);
static void	random_text(char *, size_t, const char *);
static void	random_config(struct boxd_config *);
static void	test_random_configs(void);
static int	marshal_roundtrip(const struct boxd_config *);
static void	test_defaults(void);
static void	test_design_example(void);
static void	test_directives(void);
static void	test_lexer(void);
static void	test_units(void);
static void	test_errors(void);
static void	test_hostile(void);
static void	test_files(void);
static void	test_print(void);
static void	test_marshal(void);

static int
parse_str(struct boxd_config *c, const char *text, char *err)
{
	return config_parse_buffer(c, "t.conf", text, strlen(text), err,
	    ERRSZ);
}

static int
parse_ok(const char *text, struct boxd_config *c)
{
	char	 err[ERRSZ];

	if (parse_str(c, text, err) == -1) {
		printf("# unexpected error: %s\n", err);
		return 0;
	}
	return 1;
}

/* parsing text fails with exactly this message */
static int
error_is(const char *text, const char *want)
{
	struct boxd_config	*c;
	char			 err[ERRSZ];
	int			 rv;

	c = xcalloc(1, sizeof(*c));
	rv = parse_str(c, text, err);
	free(c);
	if (rv != -1) {
		printf("# parsed, expected: %s\n", want);
		return 0;
	}
	if (strcmp(err, want) != 0) {
		printf("# got \"%s\", expected \"%s\"\n", err, want);
		return 0;
	}
	return 1;
}

static int
print_roundtrip(const struct boxd_config *c)
{
	struct boxd_config	*again;
	char			 err[ERRSZ];
	char			*text;
	int			 ok;

	if ((text = config_print(c)) == NULL)
		return 0;
	again = xcalloc(1, sizeof(*again));
	ok = parse_str(again, text, err) == 0 && config_equal(c, again);
	if (!ok)
		printf("# round trip failed (%s) on:\n%s", err, text);
	free(text);
	free(again);
	return ok;
}

static int
marshal_roundtrip(const struct boxd_config *c)
{
	struct boxd_config	*again;
	struct msg_writer	 w;
	struct msg_reader	 r;
	int			 ok;

	again = xcalloc(1, sizeof(*again));
	msg_writer_init(&w);
	config_marshal(c, &w);
	msg_reader_init(&r, w.buf, w.len);
	ok = w.error == 0 && config_unmarshal(again, &r) == 0 &&
	    config_equal(c, again) && strcmp(c->path, again->path) == 0;
	msg_writer_free(&w);
	free(again);
	return ok;
}

/* n listen lines on distinct ports */
static void
listeners_text(char *buf, size_t bufsz, int n)
{
	char	 line[64];
	int	 i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		snprintf(line, sizeof(line),
		    "listen on 127.0.0.1 port %d smtp\n", 1000 + i);
		strlcat(buf, line, bufsz);
	}
}

static int
listeners_ok(int n, struct boxd_config *c)
{
	char	 buf[4096];

	listeners_text(buf, sizeof(buf), n);
	return parse_ok(buf, c);
}

/* a directive padded with blanks to len bytes, then a newline */
static int
long_line_ok(size_t len)
{
	struct boxd_config	 c;
	char			 buf[8192];

	memset(buf, ' ', sizeof(buf));
	memcpy(buf, "mta port 24", 11);
	buf[len] = '\n';
	return config_parse_buffer(&c, "t.conf", buf, len + 1, NULL, 0) == 0 &&
	    c.mta_port == 24;
}

static void
test_defaults(void)
{
	struct boxd_config	 c;
	struct boxd_config	 d;
	char			 host[256];

	config_defaults(&c);
	CHECK("defaults storage", strcmp(c.storage, BOXD_STORAGE) == 0);
	CHECK("defaults control", strcmp(c.control_socket, BOXD_CONTROL) == 0);
	CHECK("defaults no tls", c.tls_cert[0] == '\0' && c.tls_key[0] == '\0');
	CHECK("defaults no listeners", c.nlisteners == 0);
	CHECK("defaults size", c.max_message_size == 50 * 1024 * 1024);
	CHECK("defaults queue", c.queue_retry == 300 &&
	    c.queue_max_retry == 4 * 3600 && c.queue_expire == 5 * 86400);
	CHECK("defaults resolver", c.resolver_addr[0] == '\0' &&
	    c.resolver_port == 53);
	CHECK("defaults relay", c.relay_url[0] == '\0' &&
	    c.relay_secret[0] == '\0');
	CHECK("defaults mta port", c.mta_port == 25);
	CHECK("defaults limits", c.limit_auth_failures == 10 &&
	    c.limit_auth_period == 300 && c.limit_connections == 20);
	CHECK("defaults sessions from the fd limit", c.limit_sessions == 0);
	CHECK("defaults recipients", c.limit_recipients == 1000);
	CHECK("defaults imap connections", c.limit_imap_connections == 20 &&
	    c.limit_imap_per_user == 50);
	CHECK("defaults no control group", c.control_group[0] == '\0');
	CHECK("defaults timeouts", c.timeout_command == 300 &&
	    c.timeout_data == 600);
	CHECK("defaults log level", c.log_level == LOG_LEVEL_INFO);
	CHECK("defaults hostname set", c.hostname[0] != '\0');
	if (gethostname(host, sizeof(host)) == 0 &&
	    strcmp(c.hostname, "localhost") != 0)
		CHECK("defaults hostname is gethostname",
		    strcmp(c.hostname, host) == 0);
	CHECK("empty file is defaults", parse_ok("", &d) &&
	    config_equal(&c, &d));
	CHECK("empty file path", strcmp(d.path, "t.conf") == 0);
	CHECK("comments only is defaults",
	    parse_ok("# nothing\n\n   \t# more\n", &d) &&
	    config_equal(&c, &d));
}

static void
test_design_example(void)
{
	struct boxd_config	 c;

	CHECK("design example parses", parse_ok(design_example, &c));
	CHECK("design hostname", strcmp(c.hostname, "mail.example.org") == 0);
	CHECK("design storage", strcmp(c.storage, "/var/lib/boxd") == 0);
	CHECK("design control",
	    strcmp(c.control_socket, "/run/boxd/control.sock") == 0 &&
	    strcmp(c.control_group, "boxadmin") == 0);
	CHECK("design sessions and recipients", c.limit_sessions == 4000 &&
	    c.limit_recipients == 1000 && c.limit_connections == 20);
	CHECK("design tls",
	    strcmp(c.tls_cert, "/etc/boxd/fullchain.pem") == 0 &&
	    strcmp(c.tls_key, "/etc/boxd/privkey.pem") == 0);
	CHECK("design 8 listeners", c.nlisteners == 8);
	CHECK("design listener 0", strcmp(c.listeners[0].addr, "0.0.0.0") == 0
	    && c.listeners[0].port == 25 && c.listeners[0].kind == LISTEN_SMTP);
	CHECK("design listener 1", strcmp(c.listeners[1].addr, "::") == 0 &&
	    c.listeners[1].port == 25 && c.listeners[1].kind == LISTEN_SMTP);
	CHECK("design listener 2", c.listeners[2].port == 587 &&
	    c.listeners[2].kind == LISTEN_SUBMISSION);
	CHECK("design listener 3", c.listeners[3].port == 465 &&
	    c.listeners[3].kind == LISTEN_SUBMISSIONS);
	CHECK("design listener 4", c.listeners[4].port == 143 &&
	    c.listeners[4].kind == LISTEN_IMAP);
	CHECK("design listener 5", c.listeners[5].port == 993 &&
	    c.listeners[5].kind == LISTEN_IMAPS);
	CHECK("design listener 6", c.listeners[6].port == 110 &&
	    c.listeners[6].kind == LISTEN_POP3);
	CHECK("design listener 7", c.listeners[7].port == 995 &&
	    c.listeners[7].kind == LISTEN_POP3S);
	CHECK("design size", c.max_message_size == 50 * 1024 * 1024);
	CHECK("design queue", c.queue_retry == 300 &&
	    c.queue_max_retry == 14400 && c.queue_expire == 432000);
	CHECK("design resolver", strcmp(c.resolver_addr, "127.0.0.1") == 0 &&
	    c.resolver_port == 53);
	CHECK("design relay", strcmp(c.relay_url,
	    "smtp+tls://user@smarthost.example:587") == 0 &&
	    strcmp(c.relay_secret, "/etc/boxd/relay.secret") == 0);
	CHECK("design mta", c.mta_port == 25);
	CHECK("design limit", c.limit_auth_failures == 10 &&
	    c.limit_auth_period == 300);
	CHECK("design log", c.log_level == LOG_LEVEL_INFO);
	CHECK("design print round trip", print_roundtrip(&c));
	CHECK("design marshal round trip", marshal_roundtrip(&c));
	CHECK("listen kind names",
	    strcmp(listen_kind_name(LISTEN_SMTP), "smtp") == 0 &&
	    strcmp(listen_kind_name(LISTEN_SUBMISSION), "submission") == 0 &&
	    strcmp(listen_kind_name(LISTEN_SUBMISSIONS), "submissions") == 0 &&
	    strcmp(listen_kind_name(LISTEN_IMAP), "imap") == 0 &&
	    strcmp(listen_kind_name(LISTEN_IMAPS), "imaps") == 0 &&
	    strcmp(listen_kind_name(LISTEN_POP3), "pop3") == 0 &&
	    strcmp(listen_kind_name(LISTEN_POP3S), "pop3s") == 0 &&
	    strcmp(listen_kind_name((enum listen_kind)99), "unknown") == 0);
}

static void
test_directives(void)
{
	struct boxd_config	 c;

	CHECK("hostname bare", parse_ok("hostname mx1.Example-1.org\n", &c) &&
	    strcmp(c.hostname, "mx1.Example-1.org") == 0);
	CHECK("hostname single label", parse_ok("hostname localhost", &c) &&
	    strcmp(c.hostname, "localhost") == 0);
	CHECK("storage bare", parse_ok("storage /srv/mail\n", &c) &&
	    strcmp(c.storage, "/srv/mail") == 0);
	CHECK("control socket", parse_ok("control socket /tmp/x.sock", &c) &&
	    strcmp(c.control_socket, "/tmp/x.sock") == 0);
	CHECK("tls key first", parse_ok("tls key /k cert /c\n", &c) &&
	    strcmp(c.tls_cert, "/c") == 0 && strcmp(c.tls_key, "/k") == 0);
	CHECK("listen ipv6", parse_ok("listen on ::1 port 2525 smtp\n"
	    "listen on fe80::1 port 2525 smtp\n", &c) && c.nlisteners == 2 &&
	    c.listeners[0].port == 2525);
	CHECK("listen localhost", parse_ok("listen on localhost port 1 imap\n"
	    "listen on localhost port 65535 submission\n", &c) &&
	    strcmp(c.listeners[0].addr, "localhost") == 0 &&
	    c.listeners[0].port == 1 && c.listeners[1].port == 65535 &&
	    c.listeners[1].kind == LISTEN_SUBMISSION);
	CHECK("listen same addr other port", parse_ok(
	    "listen on 0.0.0.0 port 25 smtp\n"
	    "listen on 0.0.0.0 port 26 smtp\n", &c));
	CHECK("max-message-size", parse_ok("max-message-size 1K", &c) &&
	    c.max_message_size == 1024);
	CHECK("max-message-size bytes", parse_ok("max-message-size 1025", &c)
	    && c.max_message_size == 1025);
	CHECK("max-message-size G", parse_ok("max-message-size 2G", &c) &&
	    c.max_message_size == 2ULL * 1024 * 1024 * 1024);
	CHECK("queue subset", parse_ok("queue expire 10d", &c) &&
	    c.queue_expire == 864000 && c.queue_retry == 300 &&
	    c.queue_max_retry == 14400);
	CHECK("queue any order", parse_ok("queue expire 1d retry 30 "
	    "max-retry 1h", &c) && c.queue_retry == 30 &&
	    c.queue_max_retry == 3600 && c.queue_expire == 86400);
	CHECK("queue equal times", parse_ok("queue retry 1h max-retry 1h "
	    "expire 1h", &c));
	CHECK("resolver default port", parse_ok("resolver ::1", &c) &&
	    strcmp(c.resolver_addr, "::1") == 0 && c.resolver_port == 53);
	CHECK("resolver port", parse_ok("resolver 10.0.0.1 port 5353", &c) &&
	    c.resolver_port == 5353);
	CHECK("relay no auth", parse_ok("relay via smtps://relay.test:465",
	    &c) && strcmp(c.relay_url, "smtps://relay.test:465") == 0 &&
	    c.relay_secret[0] == '\0');
	CHECK("relay smtp", parse_ok("relay via \"smtp://h\" auth /s", &c) &&
	    strcmp(c.relay_url, "smtp://h") == 0 &&
	    strcmp(c.relay_secret, "/s") == 0);
	CHECK("mta port", parse_ok("mta port 2525", &c) && c.mta_port == 2525);
	CHECK("limit auth-failures", parse_ok("limit auth-failures 3 per 1h",
	    &c) && c.limit_auth_failures == 3 && c.limit_auth_period == 3600);
	CHECK("limit connections", parse_ok("limit connections 4294967295",
	    &c) && c.limit_connections == UINT32_MAX);
	CHECK("both limits", parse_ok("limit connections 5\n"
	    "limit auth-failures 1 per 1s\n", &c) &&
	    c.limit_connections == 5 && c.limit_auth_failures == 1 &&
	    c.limit_auth_period == 1);
	CHECK("limit imap-connections", parse_ok(
	    "limit imap-connections 7 per-user 9", &c) &&
	    c.limit_imap_connections == 7 && c.limit_imap_per_user == 9 &&
	    print_roundtrip(&c) && marshal_roundtrip(&c));
	CHECK("limit imap-connections alone keeps per-user", parse_ok(
	    "limit imap-connections 4294967295", &c) &&
	    c.limit_imap_connections == UINT32_MAX &&
	    c.limit_imap_per_user == 50 && print_roundtrip(&c));
	CHECK("limit sessions", parse_ok("limit sessions 10", &c) &&
	    c.limit_sessions == 10 && print_roundtrip(&c));
	CHECK("limit recipients 100", parse_ok("limit recipients 100", &c) &&
	    c.limit_recipients == 100 && print_roundtrip(&c) &&
	    marshal_roundtrip(&c));
	CHECK("limit recipients below 100", error_is("limit recipients 99",
	    "t.conf:1: limit recipients must be at least 100 (RFC 5321 "
	    "4.5.3.1.8)"));
	CHECK("limit recipients 8192", parse_ok("limit recipients 8192", &c) &&
	    c.limit_recipients == ENVELOPE_RCPT_MAX && marshal_roundtrip(&c));
	CHECK("limit recipients above an envelope's",
	    error_is("limit recipients 8193",
	    "t.conf:1: limit recipients must be at most 8192"));
	CHECK("limit sessions 0", error_is("limit sessions 0",
	    "t.conf:1: session count \"0\" is too small"));
	CHECK("control group", parse_ok("control socket /run/c.sock group "
	    "mail-admins", &c) && strcmp(c.control_group, "mail-admins") == 0
	    && print_roundtrip(&c) && marshal_roundtrip(&c));
	CHECK("control group bad", error_is("control socket /run/c.sock "
	    "group \"a b\"", "t.conf:1: invalid group name (letters, digits, "
	    "'_', '-' and '.', not starting with '-' or a digit)"));
	CHECK("control group digit", error_is("control socket /run/c.sock "
	    "group 1x", "t.conf:1: invalid group name (letters, digits, "
	    "'_', '-' and '.', not starting with '-' or a digit)"));
	CHECK("control group missing", error_is("control socket /run/c.sock "
	    "group", "t.conf:1: expected group name"));
	CHECK("control group too long", error_is("control socket /run/c.sock "
	    "group abcdefghijabcdefghijabcdefghijabc",
	    "t.conf:1: string too long"));
	CHECK("control trailing word", error_is("control socket /run/c.sock "
	    "owner x", "t.conf:1: expected \"group\", got \"owner\""));
	CHECK("timeout command", parse_ok("timeout command 30s", &c) &&
	    c.timeout_command == 30 && c.timeout_data == 600);
	CHECK("timeout data command", parse_ok("timeout data 1h command 1m",
	    &c) && c.timeout_command == 60 && c.timeout_data == 3600);
	CHECK("log level debug", parse_ok("log level debug", &c) &&
	    c.log_level == LOG_LEVEL_DEBUG);
	CHECK("log level info", parse_ok("log level info", &c) &&
	    c.log_level == LOG_LEVEL_INFO);
	CHECK("all 32 listeners", listeners_ok(CONFIG_LISTEN_MAX, &c) &&
	    c.nlisteners == CONFIG_LISTEN_MAX);
}

static void
test_lexer(void)
{
	struct boxd_config	 c;

	CHECK("escapes", parse_ok("storage \"/a\\\"b\\\\c\"", &c) &&
	    strcmp(c.storage, "/a\"b\\c") == 0);
	CHECK("spaces and # in string", parse_ok("storage \"/a b#c\" # x",
	    &c) && strcmp(c.storage, "/a b#c") == 0);
	CHECK("tabs", parse_ok("\tmta\tport\t2525\t\n", &c) &&
	    c.mta_port == 2525);
	CHECK("comment right after word", parse_ok("mta port 2525#x", &c) &&
	    c.mta_port == 2525);
	CHECK("crlf", parse_ok("mta port 2525\r\nlog level debug\r\n", &c) &&
	    c.mta_port == 2525 && c.log_level == LOG_LEVEL_DEBUG);
	CHECK("no final newline", parse_ok("mta port 26", &c) &&
	    c.mta_port == 26);
	CHECK("quoted keywords", parse_ok("\"mta\" \"port\" \"27\"", &c) &&
	    c.mta_port == 27);
	CHECK("utf-8 in path", parse_ok("storage \"/var/m\xc3\xa9l\"", &c) &&
	    strcmp(c.storage, "/var/m\xc3\xa9l") == 0);
	CHECK("line of 4096 bytes", long_line_ok(4096));
	CHECK("line of 4097 bytes", !long_line_ok(4097));
}

static void
test_units(void)
{
	uint64_t	 sz;
	uint32_t	 t;

	CHECK("size plain", parse_size("0", &sz) == 0 && sz == 0);
	CHECK("size K", parse_size("3K", &sz) == 0 && sz == 3072);
	CHECK("size k", parse_size("3k", &sz) == 0 && sz == 3072);
	CHECK("size M", parse_size("50M", &sz) == 0 && sz == 52428800);
	CHECK("size max", parse_size("18446744073709551615", &sz) == 0 &&
	    sz == UINT64_MAX);
	CHECK("size overflow", parse_size("18446744073709551616", &sz) == -1);
	CHECK("size G overflow", parse_size("17179869184G", &sz) == -1);
	CHECK("size G max", parse_size("17179869183G", &sz) == 0);
	CHECK("size bad suffix", parse_size("12Q", &sz) == -1);
	CHECK("size two suffixes", parse_size("1KK", &sz) == -1);
	CHECK("size empty", parse_size("", &sz) == -1);
	CHECK("size suffix only", parse_size("K", &sz) == -1);
	CHECK("size sign", parse_size("+1", &sz) == -1 &&
	    parse_size("-1", &sz) == -1 && parse_size(" 1", &sz) == -1);
	CHECK("duration plain", parse_duration("90", &t) == 0 && t == 90);
	CHECK("duration s", parse_duration("90s", &t) == 0 && t == 90);
	CHECK("duration m", parse_duration("5m", &t) == 0 && t == 300);
	CHECK("duration h", parse_duration("4h", &t) == 0 && t == 14400);
	CHECK("duration d", parse_duration("5d", &t) == 0 && t == 432000);
	CHECK("duration zero", parse_duration("0", &t) == -1 &&
	    parse_duration("0d", &t) == -1);
	CHECK("duration max", parse_duration("4294967295", &t) == 0 &&
	    t == UINT32_MAX);
	CHECK("duration overflow", parse_duration("4294967296", &t) == -1 &&
	    parse_duration("49711d", &t) == -1 &&
	    parse_duration("99999999999999999999999s", &t) == -1);
	CHECK("duration 49710d", parse_duration("49710d", &t) == 0);
	CHECK("duration bad", parse_duration("5M", &t) == -1 &&
	    parse_duration("5w", &t) == -1 && parse_duration("m", &t) == -1 &&
	    parse_duration("", &t) == -1 && parse_duration("1h1m", &t) == -1);
}

static void
test_errors(void)
{
	char	 buf[8192];

	CHECK("err unknown directive", error_is("\nfoo bar\n",
	    "t.conf:2: unknown directive \"foo\""));
	CHECK("err long word shown cut", error_is(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	    "t.conf:1: unknown directive "
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\""));
	CHECK("err duplicate hostname", error_is("hostname a\nhostname b\n",
	    "t.conf:2: duplicate hostname"));
	CHECK("err duplicate control socket", error_is(
	    "control socket /a\ncontrol socket /b\n",
	    "t.conf:2: duplicate control socket"));
	CHECK("err duplicate limit", error_is("limit connections 1\n"
	    "limit auth-failures 1 per 1m\nlimit connections 2\n",
	    "t.conf:3: duplicate limit connections"));
	CHECK("err duplicate queue", error_is("queue retry 1m\nqueue expire 9d",
	    "t.conf:2: duplicate queue"));
	CHECK("err duplicate log", error_is("log level info\nlog level info",
	    "t.conf:2: duplicate log level"));
	CHECK("err missing hostname", error_is("hostname",
	    "t.conf:1: expected host name"));
	CHECK("err bad hostname", error_is("hostname \"a_b.example\"",
	    "t.conf:1: invalid host name \"a_b.example\""));
	CHECK("err hostname trailing dot", error_is("hostname a.b.",
	    "t.conf:1: invalid host name \"a.b.\""));
	CHECK("err hostname hyphen", error_is("hostname -a.b",
	    "t.conf:1: invalid host name \"-a.b\""));
	CHECK("err hostname empty", error_is("hostname \"\"",
	    "t.conf:1: invalid host name \"\""));
	memset(buf, 0, sizeof(buf));
	strlcpy(buf, "hostname ", sizeof(buf));
	memset(buf + 9, 'a', 256);
	CHECK("err hostname too long", error_is(buf,
	    "t.conf:1: string too long"));
	CHECK("err hostname label too long", error_is("hostname "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b",
	    "t.conf:1: invalid host name "
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\""));
	CHECK("err trailing word", error_is("hostname a b",
	    "t.conf:1: unexpected \"b\""));
	CHECK("err relative storage", error_is("storage var/lib",
	    "t.conf:1: storage path must be an absolute path"));
	memset(buf, 0, sizeof(buf));
	strlcpy(buf, "storage /", sizeof(buf));
	memset(buf + strlen(buf), 'p', 1000);
	CHECK("err path too long", error_is(buf,
	    "t.conf:1: storage path too long (at most 1000 bytes)"));
	CHECK("err control keyword", error_is("control sock /a",
	    "t.conf:1: expected \"socket\" after \"control\""));
	CHECK("err control too long", error_is("control socket /aaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "t.conf:1: control socket path too long (at most 107 bytes)"));
	CHECK("err tls no key", error_is("tls cert /a",
	    "t.conf:1: tls: missing key"));
	CHECK("err tls no cert", error_is("tls key /a",
	    "t.conf:1: tls: missing cert"));
	CHECK("err tls relative", error_is("tls cert a key /b",
	    "t.conf:1: certificate path must be an absolute path"));
	CHECK("err tls junk", error_is("tls cert /a key /b chain /c",
	    "t.conf:1: expected \"cert\" or \"key\", got \"chain\""));
	CHECK("err tls twice", error_is("tls cert /a cert /b",
	    "t.conf:1: duplicate tls cert"));
	CHECK("err tls missing path", error_is("tls cert",
	    "t.conf:1: expected certificate path"));
	CHECK("err listen no on", error_is("listen 0.0.0.0 port 25 smtp",
	    "t.conf:1: expected \"on\" after \"listen\""));
	CHECK("err listen no addr", error_is("listen on",
	    "t.conf:1: expected address"));
	CHECK("err listen bad addr", error_is("listen on 1.2.3 port 25 smtp",
	    "t.conf:1: invalid listen address \"1.2.3\" "
	    "(an IP address or localhost)"));
	CHECK("err listen hostname", error_is(
	    "listen on mail.example port 25 smtp",
	    "t.conf:1: invalid listen address \"mail.example\" "
	    "(an IP address or localhost)"));
	CHECK("err listen no port", error_is("listen on ::1 smtp",
	    "t.conf:1: expected \"port\", got \"smtp\""));
	CHECK("err listen port missing", error_is("listen on ::1 port",
	    "t.conf:1: expected port number"));
	CHECK("err listen port word", error_is("listen on ::1 port smtp",
	    "t.conf:1: expected port number"));
	CHECK("err listen port 0", error_is("listen on ::1 port 0 smtp",
	    "t.conf:1: invalid port \"0\""));
	CHECK("err listen port big", error_is("listen on ::1 port 65536 smtp",
	    "t.conf:1: invalid port \"65536\""));
	CHECK("err listen port huge", error_is(
	    "listen on ::1 port 99999999999999999999999999 smtp",
	    "t.conf:1: invalid port \"99999999999999999999999999\""));
	CHECK("err listen port junk", error_is("listen on ::1 port 25x smtp",
	    "t.conf:1: invalid port \"25x\""));
	CHECK("err listen no kind", error_is("listen on ::1 port 25",
	    "t.conf:1: expected listener kind (smtp, submission, submissions,"
	    " imap, imaps, pop3 or pop3s)"));
	CHECK("err listen bad kind", error_is("listen on ::1 port 25 pop2",
	    "t.conf:1: unknown listener kind \"pop2\""));
	CHECK("err listen trailing", error_is("listen on ::1 port 25 smtp x",
	    "t.conf:1: unexpected \"x\""));
	CHECK("err listen duplicate", error_is(
	    "listen on 0.0.0.0 port 25 smtp\n"
	    "listen on 0.0.0.0 port 25 submission\n",
	    "t.conf:2: duplicate listener 0.0.0.0 port 25 (line 1)"));
	CHECK("err listen duplicate v6 spelling", error_is(
	    "listen on ::1 port 25 smtp\n#\n"
	    "listen on 0:0::0:1 port 25 smtp\n",
	    "t.conf:3: duplicate listener 0:0::0:1 port 25 (line 1)"));
	CHECK("err listen duplicate localhost", error_is(
	    "listen on 127.0.0.1 port 25 smtp\n"
	    "listen on localhost port 25 smtp\n",
	    "t.conf:2: duplicate listener localhost port 25 (line 1)"));
	CHECK("err listen submissions without tls", error_is(
	    "listen on 0.0.0.0 port 25 smtp\n"
	    "listen on 0.0.0.0 port 465 submissions\n",
	    "t.conf:2: submissions listener requires a tls directive"));
	CHECK("err listen imaps without tls", error_is(
	    "listen on 0.0.0.0 port 993 imaps\n",
	    "t.conf:1: imaps listener requires a tls directive"));
	{
		struct boxd_config	 c;

		CHECK("ok tls after listen", parse_ok(
		    "listen on 0.0.0.0 port 993 imaps\n"
		    "tls cert /c key /k\n", &c));
	}
	listeners_text(buf, sizeof(buf), CONFIG_LISTEN_MAX + 1);
	CHECK("err too many listeners", error_is(buf,
	    "t.conf:33: too many listeners (at most 32)"));
	CHECK("err size missing", error_is("max-message-size",
	    "t.conf:1: expected size"));
	CHECK("err size bad", error_is("max-message-size 12Q",
	    "t.conf:1: invalid size \"12Q\""));
	CHECK("err size overflow", error_is(
	    "max-message-size 99999999999999999999G",
	    "t.conf:1: invalid size \"99999999999999999999G\""));
	CHECK("err size small", error_is("max-message-size 1023",
	    "t.conf:1: max-message-size \"1023\" is below 1K"));
	CHECK("err queue empty", error_is("queue",
	    "t.conf:1: expected retry, max-retry or expire"));
	CHECK("err queue bad keyword", error_is("queue retry 1m every 2m",
	    "t.conf:1: expected retry, max-retry or expire, got \"every\""));
	CHECK("err queue keyword twice", error_is("queue retry 1m retry 2m",
	    "t.conf:1: duplicate queue retry"));
	CHECK("err queue missing time", error_is("queue retry",
	    "t.conf:1: expected retry time"));
	CHECK("err queue zero", error_is("queue retry 0",
	    "t.conf:1: invalid time \"0\""));
	CHECK("err queue bad time", error_is("queue expire 5w",
	    "t.conf:1: invalid time \"5w\""));
	CHECK("err queue overflow", error_is("queue expire 50000d",
	    "t.conf:1: invalid time \"50000d\""));
	CHECK("err queue order retry", error_is("\n\nqueue retry 5h\n",
	    "t.conf:3: queue retry must not exceed max-retry"));
	CHECK("err queue order expire", error_is("queue max-retry 6d\n",
	    "t.conf:1: queue max-retry must not exceed expire"));
	CHECK("err resolver missing", error_is("resolver",
	    "t.conf:1: expected resolver address"));
	CHECK("err resolver name", error_is("resolver localhost",
	    "t.conf:1: invalid resolver address \"localhost\" "
	    "(an IP address)"));
	CHECK("err resolver port word", error_is("resolver ::1 prot 53",
	    "t.conf:1: expected \"port\", got \"prot\""));
	CHECK("err resolver port", error_is("resolver ::1 port 70000",
	    "t.conf:1: invalid port \"70000\""));
	CHECK("err resolver trailing", error_is("resolver ::1 port 53 x",
	    "t.conf:1: unexpected \"x\""));
	CHECK("err relay no via", error_is("relay smtp://h",
	    "t.conf:1: expected \"via\" after \"relay\""));
	CHECK("err relay no url", error_is("relay via",
	    "t.conf:1: expected relay URL"));
	CHECK("err relay scheme", error_is("relay via http://h",
	    "t.conf:1: invalid relay URL (smtp://, smtp+tls:// or smtps://, "
	    "then user@host:port)"));
	CHECK("err relay empty host", error_is("relay via smtps://",
	    "t.conf:1: invalid relay URL (smtp://, smtp+tls:// or smtps://, "
	    "then user@host:port)"));
	CHECK("err relay auth missing", error_is("relay via smtp://h auth",
	    "t.conf:1: expected relay secret path"));
	CHECK("err relay auth relative", error_is("relay via smtp://h auth x",
	    "t.conf:1: relay secret path must be an absolute path"));
	CHECK("err relay junk", error_is("relay via smtp://h pass x",
	    "t.conf:1: expected \"auth\", got \"pass\""));
	memset(buf, 0, sizeof(buf));
	strlcpy(buf, "relay via smtp://", sizeof(buf));
	memset(buf + strlen(buf), 'h', 600);
	CHECK("err relay too long", error_is(buf,
	    "t.conf:1: string too long"));
	CHECK("err mta", error_is("mta 25", "t.conf:1: expected \"port\" "
	    "after \"mta\""));
	CHECK("err mta port", error_is("mta port", "t.conf:1: "
	    "expected port number"));
	CHECK("err limit unknown", error_is("limit clients 5",
	    "t.conf:1: expected \"auth-failures\" or \"connections\" or "
	    "\"sessions\" or \"imap-connections\" or \"recipients\" after "
	    "\"limit\""));
	CHECK("err imap-connections zero", error_is("limit imap-connections 0",
	    "t.conf:1: connection count \"0\" is too small"));
	CHECK("err imap-connections per-user zero",
	    error_is("limit imap-connections 5 per-user 0",
	    "t.conf:1: per-user connection count \"0\" is too small"));
	CHECK("err imap-connections per-user missing",
	    error_is("limit imap-connections 5 per-user",
	    "t.conf:1: expected per-user connection count"));
	CHECK("err imap-connections per-ip", error_is(
	    "\n\nlimit imap-connections 5 per-ip 3",
	    "t.conf:3: expected \"per-user\", got \"per-ip\""));
	CHECK("err imap-connections trailing", error_is(
	    "limit imap-connections 5 per-user 3 x",
	    "t.conf:1: unexpected \"x\""));
	CHECK("err imap-connections count", error_is(
	    "limit imap-connections many", "t.conf:1: invalid number \"many\""));
	CHECK("err imap-connections twice", error_is(
	    "limit imap-connections 1\nlimit imap-connections 2",
	    "t.conf:2: duplicate limit imap-connections"));
	CHECK("err limit no per", error_is("limit auth-failures 5 in 5m",
	    "t.conf:1: expected \"per\", got \"in\""));
	CHECK("err limit count", error_is("limit auth-failures x per 5m",
	    "t.conf:1: invalid number \"x\""));
	CHECK("err limit count zero", error_is("limit connections 0",
	    "t.conf:1: connection count \"0\" is too small"));
	CHECK("err limit count big", error_is("limit connections 4294967296",
	    "t.conf:1: connection count \"4294967296\" is too large"));
	CHECK("err limit count missing", error_is("limit connections",
	    "t.conf:1: expected connection count"));
	CHECK("err limit period", error_is("limit auth-failures 5 per",
	    "t.conf:1: expected period"));
	CHECK("err timeout empty", error_is("timeout",
	    "t.conf:1: expected command or data"));
	CHECK("err timeout bad", error_is("timeout idle 5m",
	    "t.conf:1: expected command or data, got \"idle\""));
	CHECK("err timeout twice", error_is("timeout data 5m data 1m",
	    "t.conf:1: duplicate timeout data"));
	CHECK("err timeout value", error_is("timeout data -5m",
	    "t.conf:1: invalid time \"-5m\""));
	CHECK("err log level", error_is("log level verbose",
	    "t.conf:1: unknown log level \"verbose\" (info or debug)"));
	CHECK("err log missing", error_is("log level",
	    "t.conf:1: expected info or debug"));
	CHECK("err unterminated", error_is("storage \"/var/lib\n",
	    "t.conf:1: unterminated string"));
	CHECK("err unterminated escape", error_is("storage \"/var\\",
	    "t.conf:1: unterminated string"));
	CHECK("err bad escape", error_is("storage \"/var\\n\"",
	    "t.conf:1: invalid escape in string (only \\\" and \\\\)"));
	CHECK("err control char in string", error_is("storage \"/a\x01\"",
	    "t.conf:1: invalid character 0x01 in string"));
	CHECK("err control char", error_is("storage /a\x7f",
	    "t.conf:1: invalid character 0x7f"));
	CHECK("err bare cr", error_is("mta port\r25",
	    "t.conf:1: invalid character 0x0d"));
	CHECK("err quote in word", error_is("storage /a\"b\"",
	    "t.conf:1: unexpected '\"' inside a word"));
	CHECK("err word after string", error_is("storage \"/a\"b",
	    "t.conf:1: expected blank after string"));
	CHECK("err too many words", error_is(
	    "a b c d e f g h i j k l m n o p q",
	    "t.conf:1: too many words on line"));
}

static void
test_hostile(void)
{
	struct boxd_config	*c;
	char			 err[ERRSZ];
	char			*buf;
	size_t			 i, j, len;
	int			 ok = 1;

	c = xcalloc(1, sizeof(*c));
	buf = xcalloc(1, 2 * 1024 * 1024);

	CHECK("embedded NUL", config_parse_buffer(c, "t.conf",
	    "mta port 25\nhostname a\0b\n", 25, err, sizeof(err)) == -1 &&
	    strcmp(err, "t.conf:2: NUL byte in line") == 0);
	CHECK("NUL in comment", config_parse_buffer(c, "t.conf",
	    "# x\0y\n", 6, err, sizeof(err)) == -1 &&
	    strcmp(err, "t.conf:1: NUL byte in line") == 0);

	memset(buf, 'x', 5000);
	CHECK("long line", config_parse_buffer(c, "t.conf", buf, 5000, err,
	    sizeof(err)) == -1 &&
	    strcmp(err, "t.conf:1: line too long (more than 4096 bytes)") == 0);
	memcpy(buf, "# ", 2);
	CHECK("long comment line", config_parse_buffer(c, "t.conf", buf, 4097,
	    err, sizeof(err)) == -1 &&
	    strcmp(err, "t.conf:1: line too long (more than 4096 bytes)") == 0);
	buf[0] = '"';
	CHECK("long string", config_parse_buffer(c, "t.conf", buf, 4000,
	    err, sizeof(err)) == -1 &&
	    strcmp(err, "t.conf:1: unterminated string") == 0);

	memset(buf, '\n', 1024 * 1024 + 1);
	CHECK("file over 1 MiB", config_parse_buffer(c, "t.conf", buf,
	    1024 * 1024 + 1, err, sizeof(err)) == -1 &&
	    strcmp(err, "t.conf: file too large (more than 1 MiB)") == 0);
	CHECK("file of 1 MiB newlines", config_parse_buffer(c, "t.conf", buf,
	    1024 * 1024, err, sizeof(err)) == 0);

	for (i = 0; i < 4096; i++)
		buf[i] = i % 2 ? '"' : ' ';
	CHECK("many empty strings", config_parse_buffer(c, "t.conf", buf,
	    4096, err, sizeof(err)) == -1);
	for (i = 0; i < 4096; i++)
		buf[i] = '"';
	CHECK("only quotes", config_parse_buffer(c, "t.conf", buf, 4096,
	    err, sizeof(err)) == -1);
	CHECK("huge number", error_is("mta port "
	    "99999999999999999999999999999999999999999999999999999999999999",
	    "t.conf:1: invalid port "
	    "\"999999999999999999999999999999999999999999999999...\""));

	/* binary garbage: must answer, never crash; keep err terminated */
	srandom(1);
	for (i = 0; i < 3000; i++) {
		len = (size_t)random() % 600;
		for (j = 0; j < len; j++)
			buf[j] = (char)(random() & 0xff);
		err[0] = 'Z';
		if (config_parse_buffer(c, "t.conf", buf, len, err,
		    sizeof(err)) == -1 && memchr(err, '\0', sizeof(err)) ==
		    NULL)
			ok = 0;
	}
	CHECK("binary garbage", ok);

	/* garbage made of the grammar's own words */
	{
		static const char *const words[] = {
			"hostname", "storage", "control", "socket", "tls",
			"cert", "key", "listen", "on", "port", "smtp", "imaps",
			"max-message-size", "queue", "retry", "max-retry",
			"expire", "resolver", "relay", "via", "auth", "mta",
			"limit", "auth-failures", "per", "connections",
			"imap-connections", "per-user",
			"timeout", "command", "data", "log", "level", "debug",
			"\"", "\\", "#", "\n", " ", "\t", "0", "25", "5m",
			"/x", "::", "1.2.3.4", "localhost", "50M", "\r",
			"smtp://h", "\"/a b\"", "4294967296",
		};
		size_t	 n = sizeof(words) / sizeof(words[0]);
		char	*text;

		ok = 1;
		srandom(2);
		for (i = 0; i < 5000; i++) {
			buf[0] = '\0';
			len = 1 + (size_t)random() % 40;
			for (j = 0; j < len; j++) {
				strlcat(buf, words[random() % n], 4096);
				if (random() % 2)
					strlcat(buf, " ", 4096);
			}
			if (parse_str(c, buf, err) == -1)
				continue;
			if ((text = config_print(c)) == NULL ||
			    !print_roundtrip(c) || !marshal_roundtrip(c))
				ok = 0;
			free(text);
		}
		CHECK("word salad", ok);
	}
	free(buf);
	free(c);
}

static void
test_files(void)
{
	struct boxd_config	 c;
	char			 dir[] = "/tmp/test_config.XXXXXX";
	char			 path[PATH_MAX], want[PATH_MAX + 64];
	char			 err[ERRSZ];
	FILE			*fp;
	char			*big;

	if (mkdtemp(dir) == NULL) {
		CHECK("mkdtemp", 0);
		return;
	}
	snprintf(path, sizeof(path), "%s/boxd.conf", dir);
	if ((fp = fopen(path, "w")) == NULL) {
		CHECK("fopen", 0);
		return;
	}
	fputs(design_example, fp);
	fclose(fp);
	CHECK("file parses", config_parse(&c, path, err, sizeof(err)) == 0 &&
	    strcmp(c.path, path) == 0 && c.nlisteners == 8);
	CHECK("file marshal round trip", marshal_roundtrip(&c));

	if ((fp = fopen(path, "w")) == NULL) {
		CHECK("fopen", 0);
		return;
	}
	fputs("hostname a\n\nbogus\n", fp);
	fclose(fp);
	snprintf(want, sizeof(want), "%s:3: unknown directive \"bogus\"",
	    path);
	CHECK("file error has path and line", config_parse(&c, path, err,
	    sizeof(err)) == -1 && strcmp(err, want) == 0);

	big = xcalloc(1, 1024 * 1024 + 10);
	memset(big, '\n', 1024 * 1024 + 10);
	if ((fp = fopen(path, "w")) == NULL) {
		CHECK("fopen", 0);
		return;
	}
	fwrite(big, 1, 1024 * 1024 + 10, fp);
	fclose(fp);
	free(big);
	snprintf(want, sizeof(want), "%s: file too large (more than 1 MiB)",
	    path);
	CHECK("file too large", config_parse(&c, path, err,
	    sizeof(err)) == -1 && strcmp(err, want) == 0);
	unlink(path);

	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	CHECK("file missing", config_parse(&c, path, err, sizeof(err)) == -1 &&
	    strcmp(err, want) == 0);
	snprintf(want, sizeof(want), "%s: %s", dir, strerror(EISDIR));
	CHECK("file is a directory", config_parse(&c, dir, err,
	    sizeof(err)) == -1 && strcmp(err, want) == 0);
	CHECK("small err buffer", config_parse(&c, dir, err, 4) == -1 &&
	    strlen(err) == 3);
	rmdir(dir);
}

static void
test_print(void)
{
	struct boxd_config	 c;
	char			*text;

	config_defaults(&c);
	CHECK("defaults round trip", print_roundtrip(&c));
	text = config_print(&c);
	CHECK("defaults print has every directive", text != NULL &&
	    strstr(text, "max-message-size 50M\n") != NULL &&
	    strstr(text, "queue retry 5m max-retry 4h expire 5d\n") != NULL &&
	    strstr(text, "mta port 25\n") != NULL &&
	    strstr(text, "limit auth-failures 10 per 5m\n") != NULL &&
	    strstr(text, "limit connections 20\n") != NULL &&
	    strstr(text, "limit imap-connections 20 per-user 50\n") != NULL &&
	    strstr(text, "timeout command 5m data 10m\n") != NULL &&
	    strstr(text, "log level info\n") != NULL &&
	    strstr(text, "storage \"/var/lib/boxd\"\n") != NULL &&
	    strstr(text, "control socket \"/run/boxd/control.sock\"\n") !=
	    NULL && strstr(text, "tls") == NULL &&
	    strstr(text, "resolver") == NULL && strstr(text, "relay") == NULL);
	free(text);

	CHECK("odd units parse", parse_ok(
	    "max-message-size 1025\n"
	    "queue retry 61 max-retry 7200 expire 90000\n"
	    "limit auth-failures 1 per 86400\n"
	    "timeout command 3600s data 1441m\n", &c));
	text = config_print(&c);
	CHECK("odd units print", text != NULL &&
	    strstr(text, "max-message-size 1025\n") != NULL &&
	    strstr(text, "queue retry 61s max-retry 2h expire 25h\n") != NULL &&
	    strstr(text, "limit auth-failures 1 per 1d\n") != NULL &&
	    strstr(text, "timeout command 1h data 1441m\n") != NULL);
	free(text);
	CHECK("odd units round trip", print_roundtrip(&c));

	CHECK("strange strings parse", parse_ok(
	    "storage \"/a \\\"b\\\" \\\\ #c\"\n"
	    "control socket \"/\xff\xfe\"\n"
	    "tls cert \"/#\" key /k\n"
	    "relay via \"smtp://u\\\"@h:25\" auth \"/s p\"\n"
	    "resolver 2001:db8::53 port 5353\n"
	    "listen on localhost port 993 imaps\n"
	    "listen on ::ffff:10.0.0.1 port 25 smtp\n"
	    "max-message-size 3G\n"
	    "log level debug\n", &c));
	CHECK("strange strings round trip", print_roundtrip(&c));
	CHECK("strange strings marshal", marshal_roundtrip(&c));

	/* the longest line config_print can write must parse again */
	c.tls_cert[0] = c.tls_key[0] = '/';
	memset(c.tls_cert + 1, '"', 999);
	memset(c.tls_key + 1, '\\', 999);
	c.tls_cert[1000] = c.tls_key[1000] = '\0';
	CHECK("longest paths round trip", print_roundtrip(&c));
	CHECK("longest paths marshal", marshal_roundtrip(&c));
}

static uint32_t
random_u32(void)
{
	return (uint32_t)random() << 16 ^ (uint32_t)random();
}

/* in seconds, often a round number of some unit */
static uint32_t
random_duration(void)
{
	static const uint32_t	 units[] = { 1, 60, 3600, 86400 };
	uint32_t		 unit = units[random() % 4];

	if (random() % 4 == 0)
		return 1 + random_u32() % UINT32_MAX;
	return unit * (1 + random_u32() % (UINT32_MAX / unit));
}

/* prefix, then printable bytes the lexer must quote or escape */
static void
random_text(char *dst, size_t dstsz, const char *prefix)
{
	static const char	 chars[] = "ab/ .#\"\\\t\xc3\xa9-_~";
	size_t			 i, len;

	strlcpy(dst, prefix, dstsz);
	len = strlen(dst) + (size_t)random() % 40;
	for (i = strlen(dst); i < len && i + 1 < dstsz; i++) {
		dst[i] = chars[random() % (sizeof(chars) - 1)];
		if (dst[i] == '\t')
			dst[i] = 'z';
	}
	dst[i] = '\0';
}

/* a config that satisfies everything the parser checks */
static void
random_config(struct boxd_config *c)
{
	static const char *const kinds_addr[] = {
		"0.0.0.0", "::", "127.0.0.1", "::1", "192.0.2.1",
		"2001:db8::25", "::ffff:10.1.2.3", "10.0.0.1",
	};
	uint32_t	 t[3], x;
	size_t		 i;

	config_defaults(c);
	strlcpy(c->path, "random.conf", sizeof(c->path));
	snprintf(c->hostname, sizeof(c->hostname), "h%u.x-%u.example",
	    random_u32(), random_u32() % 100);
	random_text(c->storage, sizeof(c->storage), "/");
	random_text(c->control_socket, 100, "/");
	if (random() % 2) {
		random_text(c->tls_cert, sizeof(c->tls_cert), "/c");
		random_text(c->tls_key, sizeof(c->tls_key), "/k");
	}
	c->nlisteners = (size_t)random() % 9;
	for (i = 0; i < c->nlisteners; i++) {
		strlcpy(c->listeners[i].addr, kinds_addr[random() % 8],
		    sizeof(c->listeners[i].addr));
		c->listeners[i].port = (uint16_t)(1 + i);
		c->listeners[i].kind = (enum listen_kind)(random() % 7);
		if (c->tls_cert[0] == '\0' &&
		    (c->listeners[i].kind == LISTEN_SUBMISSIONS ||
		    c->listeners[i].kind == LISTEN_IMAPS ||
		    c->listeners[i].kind == LISTEN_POP3S))
			c->listeners[i].kind = LISTEN_SMTP;
	}
	switch (random() % 4) {
	case 0:
		c->max_message_size = 1024 + (uint64_t)random_u32() *
		    random_u32();
		break;
	case 1:
		c->max_message_size = (1 + (uint64_t)random_u32()) << 30;
		break;
	default:
		c->max_message_size = (1 + (uint64_t)random_u32()) <<
		    (10 * (random() % 2 + 1));
		break;
	}
	for (i = 0; i < 3; i++)
		t[i] = random_duration();
	/* sort the three */
	for (i = 0; i < 3; i++) {
		if (i < 2 && t[i] > t[i + 1]) {
			x = t[i];
			t[i] = t[i + 1];
			t[i + 1] = x;
			i = (size_t)-1;
		}
	}
	c->queue_retry = t[0];
	c->queue_max_retry = t[1];
	c->queue_expire = t[2];
	if (random() % 2) {
		strlcpy(c->resolver_addr, kinds_addr[random() % 8],
		    sizeof(c->resolver_addr));
		c->resolver_port = (uint16_t)(1 + random() % 65535);
	}
	if (random() % 2) {
		random_text(c->relay_url, 300, "smtp+tls://h");
		for (i = 0; c->relay_url[i] != '\0'; i++)
			if (c->relay_url[i] == ' ')
				c->relay_url[i] = '@';
		if (random() % 2)
			random_text(c->relay_secret, sizeof(c->relay_secret),
			    "/");
	}
	c->mta_port = (uint16_t)(1 + random() % 65535);
	c->limit_auth_failures = 1 + random_u32() % UINT32_MAX;
	c->limit_auth_period = random_duration();
	c->limit_connections = 1 + random_u32() % UINT32_MAX;
	c->limit_imap_connections = 1 + random_u32() % UINT32_MAX;
	c->limit_imap_per_user = 1 + random_u32() % UINT32_MAX;
	c->timeout_command = random_duration();
	c->timeout_data = random_duration();
	c->log_level = random() % 2 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
}

static void
test_random_configs(void)
{
	struct boxd_config	*c;
	int			 i, printed = 1, marshalled = 1;

	c = xcalloc(1, sizeof(*c));
	srandom(3);
	for (i = 0; i < 2000; i++) {
		random_config(c);
		if (!print_roundtrip(c))
			printed = 0;
		if (!marshal_roundtrip(c))
			marshalled = 0;
	}
	CHECK("random configs print round trip", printed);
	CHECK("random configs marshal round trip", marshalled);
	free(c);
}

static void
test_marshal(void)
{
	struct boxd_config	 c, d;
	struct msg_writer	 w;
	struct msg_reader	 r;
	size_t			 i;
	int			 ok = 1;

	parse_ok(design_example, &c);
	msg_writer_init(&w);
	config_marshal(&c, &w);
	CHECK("marshal ok", w.error == 0 && w.len > 0);
	for (i = 0; i < w.len; i++) {
		msg_reader_init(&r, w.buf, i);
		if (config_unmarshal(&d, &r) != -1)
			ok = 0;
	}
	CHECK("every truncation refused", ok);
	msg_put_u8(&w, 0);
	msg_reader_init(&r, w.buf, w.len);
	CHECK("trailing byte refused", config_unmarshal(&d, &r) == -1);
	msg_writer_free(&w);

	/* too many listeners, on the wire */
	c.nlisteners = CONFIG_LISTEN_MAX;
	for (i = 0; i < CONFIG_LISTEN_MAX; i++) {
		snprintf(c.listeners[i].addr, sizeof(c.listeners[i].addr),
		    "10.0.0.%zu", i);
		c.listeners[i].port = 25;
		c.listeners[i].kind = LISTEN_SMTP;
	}
	CHECK("32 listeners marshal", marshal_roundtrip(&c));
	msg_writer_init(&w);
	config_marshal(&c, &w);
	/* nlisteners sits after six strings; find it and bump it */
	{
		const uint8_t	*p = w.buf;
		uint32_t	 len;
		size_t		 off = 0;

		for (i = 0; i < 6; i++) {
			len = (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16 |
			    (uint32_t)p[off + 2] << 8 | p[off + 3];
			off += 4 + len;
		}
		w.buf[off + 3] = CONFIG_LISTEN_MAX + 1;
	}
	msg_reader_init(&r, w.buf, w.len);
	CHECK("33 listeners refused", config_unmarshal(&d, &r) == -1);
	msg_writer_free(&w);

	/* values the parser would never produce */
	parse_ok(design_example, &c);
#define REFUSED(name, stmt) do {					\
	struct boxd_config	 bad = c;				\
									\
	stmt;								\
	msg_writer_init(&w);						\
	config_marshal(&bad, &w);					\
	msg_reader_init(&r, w.buf, w.len);				\
	CHECK(name, config_unmarshal(&d, &r) == -1);			\
	msg_writer_free(&w);						\
} while (0)
	REFUSED("unmarshal bad hostname", strlcpy(bad.hostname, "a b",
	    sizeof(bad.hostname)));
	REFUSED("unmarshal relative storage", strlcpy(bad.storage, "x",
	    sizeof(bad.storage)));
	REFUSED("unmarshal path too long", (memset(bad.storage, 'a',
	    1001), bad.storage[1001] = '\0'));
	REFUSED("unmarshal newline in path", strlcpy(bad.tls_key, "/a\nb",
	    sizeof(bad.tls_key)));
	REFUSED("unmarshal cert without key", bad.tls_key[0] = '\0');
	REFUSED("unmarshal imaps without tls",
	    bad.tls_key[0] = bad.tls_cert[0] = '\0');
	REFUSED("unmarshal bad kind", bad.listeners[0].kind = 7);
	REFUSED("unmarshal port 0", bad.listeners[0].port = 0);
	REFUSED("unmarshal bad addr", strlcpy(bad.listeners[0].addr, "x",
	    sizeof(bad.listeners[0].addr)));
	REFUSED("unmarshal duplicate listener", bad.listeners[1] =
	    bad.listeners[0]);
	REFUSED("unmarshal small size", bad.max_message_size = 10);
	REFUSED("unmarshal retry order", bad.queue_retry = 5 * 86400 + 1);
	REFUSED("unmarshal zero retry", bad.queue_retry = 0);
	REFUSED("unmarshal resolver name", strlcpy(bad.resolver_addr, "dns",
	    sizeof(bad.resolver_addr)));
	REFUSED("unmarshal port without resolver",
	    (bad.resolver_addr[0] = '\0', bad.resolver_port = 54));
	REFUSED("unmarshal secret without relay", bad.relay_url[0] = '\0');
	REFUSED("unmarshal bad relay", strlcpy(bad.relay_url, "ftp://x",
	    sizeof(bad.relay_url)));
	REFUSED("unmarshal zero limit", bad.limit_connections = 0);
	REFUSED("unmarshal zero imap limit", bad.limit_imap_connections = 0);
	REFUSED("unmarshal zero per-user limit", bad.limit_imap_per_user = 0);
	REFUSED("unmarshal zero timeout", bad.timeout_data = 0);
	REFUSED("unmarshal bad log level", bad.log_level = 2);
#undef REFUSED

	msg_reader_init(&r, NULL, 0);
	CHECK("unmarshal empty", config_unmarshal(&d, &r) == -1);
	d = c;
	msg_reader_init(&r, "\0\0\0\1", 4);
	CHECK("unmarshal failure leaves config", config_unmarshal(&d, &r) ==
	    -1 && config_equal(&c, &d));
}

/* config_equal() sees a change to any field of the list, and not the path */
static void
test_equal(void)
{
	struct boxd_config	 c, d;
	int			 ok = 1, n = 0;

	config_defaults(&c);
	d = c;
	strlcpy(d.path, "/elsewhere.conf", sizeof(d.path));
	CHECK("equal: the path is no setting", config_equal(&c, &d));
#define MUTATE_STR(f)	 strlcpy(d.f, c.f[0] == 'x' ? "y" : "x", sizeof(d.f))
#define MUTATE_WORD(f)	 MUTATE_STR(f)
#define MUTATE_SIZE(f)	 d.f++
#define MUTATE_TIME(f)	 d.f++
#define MUTATE_NUM(f)	 d.f++
#define MUTATE_PORT(f)	 d.f++
#define MUTATE_LOG(f)	 d.f++
#define MUTATE_LISTEN(f) d.n##f++
#define MUTATE(f, kind, size, def, words, how) \
	d = c;					\
	MUTATE_##kind(f);			\
	n++;					\
	if (config_equal(&c, &d) || config_equal(&d, &c))	\
		ok = 0;
	CONFIG_FIELDS(MUTATE)
	CHECK("equal: every field counts", ok && n > 20);

	/* a listener's address, port and kind */
	strlcpy(c.listeners[0].addr, "127.0.0.1", sizeof(c.listeners[0].addr));
	c.listeners[0].port = 25;
	c.listeners[0].kind = LISTEN_SMTP;
	c.nlisteners = 1;
	d = c;
	CHECK("equal: same listener", config_equal(&c, &d));
	d.listeners[0].port = 26;
	CHECK("equal: listener port", !config_equal(&c, &d));
	d = c;
	d.listeners[0].kind = LISTEN_SUBMISSION;
	CHECK("equal: listener kind", !config_equal(&c, &d));
	d = c;
	strlcpy(d.listeners[0].addr, "::1", sizeof(d.listeners[0].addr));
	CHECK("equal: listener address", !config_equal(&c, &d));
	/* what lies past the listeners in use does not count */
	d = c;
	d.listeners[1].port = 99;
	CHECK("equal: unused listener slots", config_equal(&c, &d));
	d.nlisteners = c.nlisteners = CONFIG_LISTEN_MAX + 1;
	CHECK("equal: listener count out of range", !config_equal(&c, &d));
}

int
main(void)
{
	test_defaults();
	test_equal();
	test_design_example();
	test_directives();
	test_lexer();
	test_units();
	test_errors();
	test_hostile();
	test_files();
	test_print();
	test_random_configs();
	test_marshal();
	TEST_EXIT();
}
