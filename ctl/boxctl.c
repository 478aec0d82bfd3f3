/*
 * boxctl: the administration client.  One command per run: it sends one
 * request over the control socket, prints the rows that come back (text
 * for people, JSON lines with -j) and exits 0 on OK, 1 on FAIL.
 */

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <readpassphrase.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define BOXCTL_TIMEOUT	   120 /* seconds without an answer */
#define BOXCTL_STATUS_ROWS 64  /* processes and counters */
#define BOXCTL_SHOW_MAX	   200 /* untrusted text quoted in errors */

enum output {
	OUTPUT_NONE,
	OUTPUT_DOMAINS,
	OUTPUT_USERS,
	OUTPUT_ALIASES,
	OUTPUT_STATUS,
	OUTPUT_DNS,
	OUTPUT_QUEUE,
};

struct request {
	struct ctl_request ctl; /* its strings are argv's, or ours */
	struct msg_writer w;	/* ctl, encoded */
	enum output output;
};

static int opt_json;
static struct ctl_row status_rows[BOXCTL_STATUS_ROWS];
static size_t status_nrows;

static void usage(void) __attribute__((noreturn));
static const char *show(const char *);
static void print_clean(const char *);
static void check_domain(const char *);
static void check_address(const char *);
static void check_alias(const char *);
static void check_queue_id(const char *);
static char *read_password(int);
static void parse_command(struct request *, int, char **);
static int connect_control(const char *);
static void receive(struct imsgbuf *, struct imsg *, const char *);
static void send_imsg(struct imsgbuf *, uint32_t, struct msg_writer *);
static void fail(struct imsg *) __attribute__((noreturn));
static void hello(struct imsgbuf *);
static void run(int, struct request *);
static void print_row(const struct ctl_row *, enum output);
static void print_json(const struct ctl_row *);
static void print_status(void);
static void print_policy(const char *, const char *);

static void
usage(void)
{
	fprintf(stderr,
	    "usage: boxctl [-j] [-f config | -s socket] command "
	    "[argument ...]\n"
	    "commands:\n"
	    "    status\n"
	    "    domain add | del DOMAIN\n"
	    "    domain list\n"
	    "    user add ADDRESS [--password-stdin]\n"
	    "    user del ADDRESS\n"
	    "    user list [DOMAIN]\n"
	    "    user passwd ADDRESS [--password-stdin]\n"
	    "    user quota ADDRESS SIZE\n"
	    "    user disable | enable ADDRESS\n"
	    "    alias add ADDRESS TARGET[,TARGET ...]\n"
	    "    alias del ADDRESS\n"
	    "    alias list [DOMAIN]\n"
	    "    dns DOMAIN\n"
	    "    dkim rotate DOMAIN\n"
	    "    dkim retire DOMAIN SELECTOR\n"
	    "    queue list\n"
	    "    queue show | remove ID\n"
	    "    queue flush [ID]\n"
	    "    reload\n");
	exit(1);
}

/* untrusted text fit for a terminal: control characters become '?' */
static const char *
show(const char *s)
{
	static char buf[BOXCTL_SHOW_MAX + 4];
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (*p != '\0' && i < BOXCTL_SHOW_MAX) {
		if ((n = text_safe_len(p)) == 0 || i + n > BOXCTL_SHOW_MAX) {
			buf[i++] = '?';
			p++;
			continue;
		}
		memcpy(buf + i, p, n);
		i += n;
		p += n;
	}
	if (*p != '\0')
		strlcpy(buf + i, "...", sizeof(buf) - i);
	else
		buf[i] = '\0';
	return buf;
}

/* a value in full: control characters (C0, DEL, C1) and bad UTF-8 as '?' */
static void
print_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	while (*p != '\0') {
		if ((n = text_safe_len(p)) == 0) {
			putchar('?');
			p++;
			continue;
		}
		fwrite(p, 1, n, stdout);
		p += n;
	}
}

static void
check_domain(const char *domain)
{
	if (!domain_valid(domain, 1))
		errx(1, "invalid domain name: %s", show(domain));
}

static void
check_address(const char *address)
{
	struct mailaddr addr;

	if (mailaddr_parse(&addr, address, 1) == -1)
		errx(1, "invalid address: %s", show(address));
}

/* an address, or "@domain" for a catch-all */
static void
check_alias(const char *address)
{
	if (address[0] == '@')
		check_domain(address + 1);
	else
		check_address(address);
}

/* a queue id as boxctl queue list shows it: 16 hex digits */
static void
check_queue_id(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		if (!isxdigit((unsigned char)id[i]))
			break;
	if (i != 16 || id[i] != '\0')
		errx(1,
		    "invalid message id: %s (16 hex digits, as boxctl "
		    "queue list shows)",
		    show(id));
}

/*
 * A password from the terminal (asked twice) or one line of stdin, never
 * from the command line.  The caller wipes it.
 */
static char *
read_password(int from_stdin)
{
	static char pw[BOXCTL_PASSWORD_MAX + 2];
	char again[sizeof(pw)], c;
	size_t len = 0;
	ssize_t n;

	if (from_stdin) {
		/* byte by byte: no stdio buffer keeps a copy */
		for (;;) {
			if ((n = read(STDIN_FILENO, &c, 1)) == -1) {
				if (errno == EINTR)
					continue;
				err(1, "stdin");
			}
			if (n == 0 || c == '\n')
				break;
			if (c == '\0' || len >= sizeof(pw) - 1) {
				explicit_bzero(pw, sizeof(pw));
				errx(1,
				    c == '\0'
					? "password contains a NUL"
					: "password too long: at most %d bytes",
				    BOXCTL_PASSWORD_MAX);
			}
			pw[len++] = c;
		}
		pw[len] = '\0';
		if (n == 0 && len == 0)
			errx(1, "no password on stdin");
	} else {
		if (!isatty(STDIN_FILENO))
			errx(1,
			    "no terminal to ask for the password; use "
			    "--password-stdin");
		if (readpassphrase(
			"Password: ", pw, sizeof(pw), RPP_REQUIRE_TTY) == NULL)
			err(1, "readpassphrase");
		if (readpassphrase("Password again: ", again, sizeof(again),
			RPP_REQUIRE_TTY) == NULL) {
			explicit_bzero(pw, sizeof(pw));
			err(1, "readpassphrase");
		}
		n = strcmp(pw, again) != 0;
		explicit_bzero(again, sizeof(again));
		if (n) {
			explicit_bzero(pw, sizeof(pw));
			errx(1, "the passwords do not match");
		}
		len = strlen(pw);
	}
	if (len > BOXCTL_PASSWORD_MAX) {
		explicit_bzero(pw, sizeof(pw));
		errx(1, "password too long: at most %d bytes",
		    BOXCTL_PASSWORD_MAX);
	}
	if (len < BOXCTL_PASSWORD_MIN) {
		explicit_bzero(pw, sizeof(pw));
		errx(1, "password too short: at least %d characters",
		    BOXCTL_PASSWORD_MIN);
	}
	return pw;
}

/* "user add ADDR [--password-stdin]": the address, the flag anywhere */
static const char *
address_and_password_flag(int argc, char **argv, int *from_stdin)
{
	const char *address = NULL;
	int i;

	*from_stdin = 0;
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--password-stdin") == 0)
			*from_stdin = 1;
		else if (address == NULL && argv[i][0] != '-')
			address = argv[i];
		else
			usage();
	}
	if (address == NULL)
		usage();
	return address;
}

static void
parse_alias_add(struct request *req, int argc, char **argv)
{
	char *list, *item, *p, *end, **targets = NULL;
	uint32_t n = 0;
	int i;

	if (argc < 2)
		usage();
	check_alias(argv[0]);
	for (i = 1; i < argc; i++) {
		if ((list = strdup(argv[i])) == NULL)
			err(1, NULL);
		for (p = list; (item = strsep(&p, ",")) != NULL;) {
			while (*item == ' ' || *item == '\t')
				item++;
			end = item + strlen(item);
			while (
			    end > item && (end[-1] == ' ' || end[-1] == '\t'))
				*--end = '\0';
			if (*item == '\0')
				errx(1, "empty target in %s", show(argv[i]));
			check_address(item);
			if ((targets = reallocarray(targets, (size_t)n + 1,
				 sizeof(*targets))) == NULL ||
			    (targets[n] = strdup(item)) == NULL)
				err(1, NULL);
			n++;
		}
		free(list);
	}
	req->ctl.name = argv[0];
	req->ctl.targets = targets;
	req->ctl.ntargets = n;
}

static void
parse_command(struct request *req, int argc, char **argv)
{
	const char *cmd, *sub, *address;
	char *pw = NULL;
	uint64_t quota;
	int from_stdin;

	memset(req, 0, sizeof(*req));
	msg_writer_init(&req->w);
	req->output = OUTPUT_NONE;
	cmd = argv[0];
	sub = argc > 1 ? argv[1] : "";
	if ((strcmp(cmd, "status") == 0 || strcmp(cmd, "reload") == 0) &&
	    argc != 1)
		usage();
	argc -= 2;
	argv += 2;

	if (strcmp(cmd, "status") == 0) {
		req->ctl.type = IMSG_CTL_STATUS;
		req->output = OUTPUT_STATUS;
	} else if (strcmp(cmd, "reload") == 0) {
		req->ctl.type = IMSG_CTL_RELOAD;
	} else if (strcmp(cmd, "domain") == 0) {
		if (strcmp(sub, "list") == 0 && argc == 0) {
			req->ctl.type = IMSG_CTL_DOMAIN_LIST;
			req->output = OUTPUT_DOMAINS;
			goto encode;
		}
		if (argc != 1)
			usage();
		if (strcmp(sub, "add") == 0)
			req->ctl.type = IMSG_CTL_DOMAIN_ADD;
		else if (strcmp(sub, "del") == 0)
			req->ctl.type = IMSG_CTL_DOMAIN_DEL;
		else
			usage();
		check_domain(argv[0]);
		req->ctl.name = argv[0];
	} else if (strcmp(cmd, "user") == 0) {
		if (strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0) {
			req->ctl.type = strcmp(sub, "add") == 0
			    ? IMSG_CTL_USER_ADD
			    : IMSG_CTL_USER_PASSWD;
			address =
			    address_and_password_flag(argc, argv, &from_stdin);
			check_address(address);
			pw = read_password(from_stdin);
			req->ctl.name = (char *)address;
			req->ctl.password = pw;
		} else if (strcmp(sub, "list") == 0) {
			if (argc > 1)
				usage();
			if (argc == 1)
				check_domain(argv[0]);
			req->ctl.type = IMSG_CTL_USER_LIST;
			req->output = OUTPUT_USERS;
			req->ctl.name = argc == 1 ? argv[0] : "";
		} else if (strcmp(sub, "quota") == 0) {
			if (argc != 2)
				usage();
			check_address(argv[0]);
			if (strcmp(argv[1], "none") == 0)
				quota = 0;
			else if (parse_size(argv[1], &quota) == -1)
				errx(1,
				    "invalid size: %s (a number of bytes, "
				    "with K, M or G, or none)",
				    show(argv[1]));
			req->ctl.type = IMSG_CTL_USER_QUOTA;
			req->ctl.name = argv[0];
			req->ctl.quota = quota;
		} else {
			if (argc != 1)
				usage();
			if (strcmp(sub, "del") == 0)
				req->ctl.type = IMSG_CTL_USER_DEL;
			else if (strcmp(sub, "disable") == 0)
				req->ctl.type = IMSG_CTL_USER_DISABLE;
			else if (strcmp(sub, "enable") == 0)
				req->ctl.type = IMSG_CTL_USER_ENABLE;
			else
				usage();
			check_address(argv[0]);
			req->ctl.name = argv[0];
		}
	} else if (strcmp(cmd, "alias") == 0) {
		if (strcmp(sub, "add") == 0) {
			req->ctl.type = IMSG_CTL_ALIAS_ADD;
			parse_alias_add(req, argc, argv);
		} else if (strcmp(sub, "del") == 0) {
			if (argc != 1)
				usage();
			check_alias(argv[0]);
			req->ctl.type = IMSG_CTL_ALIAS_DEL;
			req->ctl.name = argv[0];
		} else if (strcmp(sub, "list") == 0) {
			if (argc > 1)
				usage();
			if (argc == 1)
				check_domain(argv[0]);
			req->ctl.type = IMSG_CTL_ALIAS_LIST;
			req->output = OUTPUT_ALIASES;
			req->ctl.name = argc == 1 ? argv[0] : "";
		} else
			usage();
	} else if (strcmp(cmd, "dns") == 0) {
		/* "dns DOMAIN": the domain is where a subcommand would be */
		if (argc != 0)
			usage();
		check_domain(sub);
		req->ctl.type = IMSG_CTL_DNS;
		req->output = OUTPUT_DNS;
		req->ctl.name = (char *)sub;
	} else if (strcmp(cmd, "dkim") == 0) {
		if (strcmp(sub, "rotate") == 0 && argc == 1)
			req->ctl.type = IMSG_CTL_DKIM_ROTATE;
		else if (strcmp(sub, "retire") == 0 && argc == 2) {
			if (!dkim_selector_valid(argv[1]))
				errx(1, "invalid selector: %s", show(argv[1]));
			req->ctl.type = IMSG_CTL_DKIM_RETIRE;
			req->ctl.selector = argv[1];
		} else
			usage();
		check_domain(argv[0]);
		req->ctl.name = argv[0];
	} else if (strcmp(cmd, "queue") == 0) {
		req->output = OUTPUT_QUEUE;
		if (strcmp(sub, "list") == 0 && argc == 0)
			req->ctl.type = IMSG_CTL_QUEUE_LIST;
		else if (strcmp(sub, "flush") == 0 && argc <= 1) {
			req->ctl.type = IMSG_CTL_QUEUE_FLUSH;
			req->ctl.name = argc == 1 ? argv[0] : "";
		} else if (strcmp(sub, "show") == 0 && argc == 1)
			req->ctl.type = IMSG_CTL_QUEUE_SHOW;
		else if (strcmp(sub, "remove") == 0 && argc == 1)
			req->ctl.type = IMSG_CTL_QUEUE_REMOVE;
		else
			usage();
		if (argc == 1) {
			check_queue_id(argv[0]);
			req->ctl.name = argv[0];
		}
	} else {
		fprintf(stderr, "boxctl: unknown command: %s\n", show(cmd));
		usage();
	}
encode:
	ctl_request_encode(&req->w, &req->ctl);
	if (pw != NULL)
		explicit_bzero(pw, strlen(pw));
	req->ctl.password = NULL;
	if (req->w.error)
		errx(1, "out of memory");
	if (req->w.len + IMSG_HDR_SIZE > IMSG_CTL_MAX_SIZE)
		errx(1, "request too large");
}

static int
connect_control(const char *path)
{
	struct sockaddr_un sun;
	struct timeval tv = {BOXCTL_TIMEOUT, 0};
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		errx(1, "%s: socket path too long", show(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == EACCES)
			errx(1,
			    "%s: %s (boxctl needs root or membership of the "
			    "control socket's group)",
			    path, strerror(errno));
		err(1, "%s", path);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1)
		err(1, "SO_RCVTIMEO");
	return fd;
}

/* ---------------------------------------------------------------- rows */

/* ---------------------------------------------------------------- json */

static void
json_string(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, n;

	putchar('"');
	for (i = 0; i < len; i++) {
		if (p[i] == '"' || p[i] == '\\')
			printf("\\%c", p[i]);
		else if (p[i] == '\n')
			fputs("\\n", stdout);
		else if (p[i] == '\t')
			fputs("\\t", stdout);
		else if (p[i] < 0x20 || p[i] == 0x7f)
			printf("\\u%04x", p[i]);
		else if (p[i] < 0x80)
			putchar(p[i]);
		else if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 &&
		    p[i + 1] < 0xa0) {
			/* a C1 control: escaped, as C0's are */
			printf("\\u%04x", p[i + 1]);
			i++;
		} else if ((n = utf8_seqlen(p + i)) > 0 && i + n <= len) {
			fwrite(p + i, 1, n, stdout);
			i += n - 1;
		} else
			fputs("\\ufffd", stdout);
	}
	putchar('"');
}

static int
all_digits(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return i > 0 && i < 20;
}

static int
key_is(const char *key, const char *const *names)
{
	for (; *names != NULL; names++)
		if (strcmp(key, *names) == 0)
			return 1;
	return 0;
}

/* numbers as numbers, yes/no as booleans, target lists as arrays */
static void
print_json(const struct ctl_row *row)
{
	static const char *const numbers[] = {"pid", "uptime", "users",
	    "aliases", "quota", "used", "messages", "sessions", "received",
	    "delivered", "queued", "imap_sessions", "attempts", "size", "next",
	    "ttl", NULL};
	static const char *const booleans[] = {"disabled", "signs", NULL};
	static const char *const lists[] = {"targets", NULL};
	const char *v, *comma;
	uint32_t i;

	putchar('{');
	for (i = 0; i < row->n; i++) {
		if (i > 0)
			putchar(',');
		json_string(row->key[i], strlen(row->key[i]));
		putchar(':');
		v = row->value[i];
		if (key_is(row->key[i], numbers) && all_digits(v))
			fputs(v, stdout);
		else if (key_is(row->key[i], booleans) &&
		    (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0))
			fputs(strcmp(v, "yes") == 0 ? "true" : "false", stdout);
		else if (key_is(row->key[i], lists)) {
			putchar('[');
			while (*v != '\0') {
				if ((comma = strchr(v, ',')) == NULL)
					comma = v + strlen(v);
				json_string(v, (size_t)(comma - v));
				v = *comma == ',' ? comma + 1 : comma;
				if (*v != '\0')
					putchar(',');
			}
			putchar(']');
		} else
			json_string(v, strlen(v));
	}
	fputs("}\n", stdout);
}

/* ---------------------------------------------------------------- text */

static void
format_size(char *buf, size_t bufsz, uint64_t v)
{
	static const char units[] = "GMK";
	uint64_t unit;
	int i;

	for (i = 0; i < 3; i++) {
		unit = 1ULL << (10 * (3 - i));
		if (v >= unit && v % unit == 0) {
			snprintf(buf, bufsz, "%llu%c",
			    (unsigned long long)(v / unit), units[i]);
			return;
		}
	}
	snprintf(buf, bufsz, "%llu", (unsigned long long)v);
}

/* a usage: exact units as format_size(), else one decimal (1.5M) */
static void
format_usage(char *buf, size_t bufsz, uint64_t v)
{
	static const char units[] = "GMK";
	uint64_t unit;
	int i;

	for (i = 0; i < 3; i++) {
		unit = 1ULL << (10 * (3 - i));
		if (v < unit)
			continue;
		if (v % unit == 0)
			snprintf(buf, bufsz, "%llu%c",
			    (unsigned long long)(v / unit), units[i]);
		else
			snprintf(buf, bufsz, "%.1f%c", (double)v / (double)unit,
			    units[i]);
		return;
	}
	snprintf(buf, bufsz, "%llu", (unsigned long long)v);
}

static void
format_uptime(char *buf, size_t bufsz, const char *seconds)
{
	unsigned long long s;
	const char *errstr;

	s = strtonum(seconds, 0, LLONG_MAX, &errstr);
	if (errstr != NULL)
		snprintf(buf, bufsz, "%s", show(seconds));
	else if (s >= 86400)
		snprintf(
		    buf, bufsz, "%llud%02lluh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, bufsz, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, bufsz, "%llum%02llus", s / 60, s % 60);
	else
		snprintf(buf, bufsz, "%llus", s);
}

/* a Unix time as a time from now: "in 4m10s", "now" */
static void
format_next(char *buf, size_t bufsz, const char *when)
{
	const char *errstr;
	long long t;
	char rel[32];

	t = strtonum(when, 0, LLONG_MAX, &errstr);
	if (errstr != NULL) {
		snprintf(buf, bufsz, "%s", show(when));
		return;
	}
	if (t <= (long long)time(NULL)) {
		snprintf(buf, bufsz, "now");
		return;
	}
	snprintf(rel, sizeof(rel), "%lld", t - (long long)time(NULL));
	format_uptime(buf + 3, bufsz - 3, rel);
	memcpy(buf, "in ", 3);
}

/* a field of a row, "" if it has none */
static const char *
row_value(const struct ctl_row *row, const char *key)
{
	const char *v = ctl_row_get(row, key);

	return v != NULL ? v : "";
}

/* a message (queue show), or one recipient of one (queue list and show) */
static void
print_queue_row(const struct ctl_row *row)
{
	static const char *const fields[] = {"sender", "received", "size",
	    "helo", "client", "envid", "ret", NULL};
	const unsigned char *p;
	const char *v, *id;
	char when[64];
	time_t t;
	size_t i, n;

	if ((id = ctl_row_get(row, "id")) == NULL)
		return;
	if ((v = ctl_row_get(row, "header")) != NULL) {
		printf("id %s\n", show(id));
		for (i = 0; fields[i] != NULL; i++) {
			if ((v = ctl_row_get(row, fields[i])) == NULL ||
			    *v == '\0')
				continue;
			if (strcmp(fields[i], "received") == 0 &&
			    (t = (time_t)strtonum(v, 0, LLONG_MAX, NULL)) > 0)
				strftime(when, sizeof(when),
				    "%Y-%m-%d %H:%M:%S %z", localtime(&t));
			else
				strlcpy(when, show(v), sizeof(when));
			printf("%s %s\n", fields[i], when);
		}
		/* the header as it came, indented, each line cleaned */
		printf("\n    ");
		for (p = (const unsigned char *)ctl_row_get(row, "header");
		     *p != '\0'; p += n) {
			n = 1;
			if (*p == '\n')
				printf(p[1] != '\0' ? "\n    " : "\n");
			else if (*p == '\t')
				putchar('\t');
			else if ((n = text_safe_len(p)) == 0) {
				putchar('?');
				n = 1;
			} else
				fwrite(p, 1, n, stdout);
		}
		printf("\n");
		return;
	}
	if ((v = ctl_row_get(row, "error")) != NULL &&
	    ctl_row_get(row, "recipient") == NULL) {
		printf("%s  cannot be read: %s\n", show(id), show(v));
		return;
	}
	printf("%s  ", show(id));
	print_clean(row_value(row, "sender"));
	printf(" -> ");
	print_clean(row_value(row, "recipient"));
	printf("  %s", show(row_value(row, "status")));
	if ((v = ctl_row_get(row, "attempts")) != NULL && strcmp(v, "0") != 0)
		printf("  attempts %s", show(v));
	if ((v = ctl_row_get(row, "next")) != NULL && *v != '\0') {
		format_next(when, sizeof(when), v);
		printf("  next %s", when);
	}
	putchar('\n');
	if ((v = ctl_row_get(row, "error")) != NULL && *v != '\0')
		printf("    %s\n", show(v));
}

static void
print_row(const struct ctl_row *row, enum output output)
{
	const char *v, *errstr;
	char size[32];
	uint64_t quota, used;

	switch (output) {
	case OUTPUT_DOMAINS:
		if ((v = ctl_row_get(row, "domain")) != NULL) {
			print_clean(v);
			putchar('\n');
		}
		break;
	case OUTPUT_USERS:
		if ((v = ctl_row_get(row, "address")) == NULL)
			break;
		print_clean(v);
		/* boxd leaves the usage out when it could not read it */
		if ((v = ctl_row_get(row, "used")) == NULL)
			printf("  used ?");
		else {
			used = strtonum(v, 0, LLONG_MAX, &errstr);
			if (errstr == NULL)
				format_usage(size, sizeof(size), used);
			else
				strlcpy(size, show(v), sizeof(size));
			printf("  used %s", size);
		}
		if ((v = ctl_row_get(row, "messages")) != NULL)
			printf("  messages %s", show(v));
		if ((v = ctl_row_get(row, "quota")) != NULL) {
			quota = strtonum(v, 0, LLONG_MAX, &errstr);
			if (errstr == NULL && quota > 0) {
				format_size(size, sizeof(size), quota);
				printf("  quota %s", size);
			}
		}
		if ((v = ctl_row_get(row, "disabled")) != NULL &&
		    strcmp(v, "yes") == 0)
			printf("  disabled");
		putchar('\n');
		break;
	case OUTPUT_QUEUE:
		print_queue_row(row);
		break;
	case OUTPUT_ALIASES:
		if ((v = ctl_row_get(row, "address")) == NULL)
			break;
		print_clean(v);
		if ((v = ctl_row_get(row, "targets")) != NULL) {
			putchar(' ');
			print_clean(v);
		}
		putchar('\n');
		break;
	case OUTPUT_DNS:
		if ((v = ctl_row_get(row, "record")) != NULL) {
			print_clean(v);
			putchar('\n');
		} else if ((v = ctl_row_get(row, "file")) != NULL)
			print_policy(v, ctl_row_get(row, "text"));
		else if ((v = ctl_row_get(row, "comment")) != NULL) {
			printf("; ");
			print_clean(v);
			putchar('\n');
		}
		break;
	default:
		break;
	}
}

/* a file to serve, as zone-file comments: the lines stay apart */
static void
print_policy(const char *url, const char *text)
{
	printf("; the MTA-STS policy, to serve as ");
	print_clean(url);
	putchar('\n');
	while (text != NULL && *text != '\0') {
		printf(";   ");
		for (; *text != '\0' && *text != '\n'; text++)
			putchar(((unsigned char)*text < 0x20 ||
				    (unsigned char)*text == 0x7f)
				? '?'
				: *text);
		putchar('\n');
		if (*text == '\n')
			text++;
	}
}

/* a table of the processes, then the counters */
static void
print_status(void)
{
	static const char *const cols[] = {"role", "pid", "user", "uptime"};
	static const char *const counters[] = {
	    "sessions", "received", "delivered", "queued", "imap_sessions"};
	static char cell[BOXCTL_STATUS_ROWS][4][BOXCTL_SHOW_MAX + 4];
	const char *v;
	size_t width[3], i, j, n = 0;
	int first = 1;

	for (j = 0; j < 3; j++)
		width[j] = strlen(cols[j]);
	for (i = 0; i < status_nrows; i++) {
		if (ctl_row_get(&status_rows[i], "role") == NULL)
			continue;
		for (j = 0; j < 4; j++) {
			v = ctl_row_get(&status_rows[i], cols[j]);
			if (v == NULL)
				v = "-";
			if (j == 3)
				format_uptime(
				    cell[n][j], sizeof(cell[n][j]), v);
			else
				strlcpy(
				    cell[n][j], show(v), sizeof(cell[n][j]));
			if (j < 3 && strlen(cell[n][j]) > width[j])
				width[j] = strlen(cell[n][j]);
		}
		n++;
	}
	/* the last column unpadded: no trailing blanks */
	printf("%-*s  %-*s  %-*s  %s\n", (int)width[0], cols[0], (int)width[1],
	    cols[1], (int)width[2], cols[2], cols[3]);
	for (i = 0; i < n; i++)
		printf("%-*s  %-*s  %-*s  %s\n", (int)width[0], cell[i][0],
		    (int)width[1], cell[i][1], (int)width[2], cell[i][2],
		    cell[i][3]);
	for (i = 0; i < status_nrows; i++) {
		if (ctl_row_get(&status_rows[i], "sessions") == NULL)
			continue;
		for (j = 0; j < sizeof(counters) / sizeof(counters[0]); j++) {
			if ((v = ctl_row_get(&status_rows[i], counters[j])) ==
			    NULL)
				continue;
			printf("%s%s ", first ? "" : ", ", counters[j]);
			print_clean(v);
			first = 0;
		}
		putchar('\n');
	}
}

/* ---------------------------------------------------------------- main */

/* the next message from boxd; what goes wrong on the way ends boxctl */
static void
receive(struct imsgbuf *ibuf, struct imsg *imsg, const char *eof)
{
	int n;

	for (;;) {
		if ((n = imsgbuf_get(ibuf, imsg)) == -1)
			errx(1, "malformed reply from boxd");
		if (n == 1)
			return;
		if ((n = imsgbuf_read(ibuf)) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				errx(1, "no answer from boxd");
			if (errno == ECONNRESET)
				errx(1, "%s", eof);
			err(1, "read from boxd");
		}
		if (n == 0)
			errx(1, "%s", eof);
	}
}

static void
send_imsg(struct imsgbuf *ibuf, uint32_t type, struct msg_writer *w)
{
	int n;

	if (w->error ||
	    imsgbuf_compose(ibuf, type, 0, -1, w->buf, w->len) == -1)
		err(1, "request");
	if (w->buf != NULL)
		explicit_bzero(w->buf, w->len);
	msg_writer_free(w);
	while ((n = imsgbuf_flush(ibuf)) == 0)
		;
	/* turned away, boxd may have said why before it hung up: read on */
	if (n == -1 && errno != EPIPE && errno != ECONNRESET)
		err(1, "send to boxd");
}

/* the reply that ends a request in failure: print it and go */
static void __attribute__((noreturn)) fail(struct imsg *imsg)
{
	char *why;

	if (ctl_fail_decode(&why, imsg->data, imsg->datalen) == -1)
		errx(1, "malformed reply from boxd");
	fflush(stdout);
	errx(1, "%s", show(why));
}

/*
 * Both sides say which protocol they speak before anything else, and
 * boxctl sends its request only to a boxd that speaks its own.
 */
static void
hello(struct imsgbuf *ibuf)
{
	struct msg_writer w;
	struct imsg imsg;
	struct ctl_hello h;
	char eof[256];

	msg_writer_init(&w);
	ctl_hello_encode(&w);
	send_imsg(ibuf, IMSG_CTL_HELLO, &w);
	/* boxd 0.1 knows no HELLO: it hangs up without a word */
	snprintf(eof, sizeof(eof),
	    "boxd closed the connection without saying which control "
	    "protocol it speaks (boxctl %s speaks %u): use the boxctl of the "
	    "same build",
	    BOXD_VERSION, CTL_PROTOCOL_VERSION);
	receive(ibuf, &imsg, eof);
	switch (imsg.hdr.type) {
	case IMSG_CTL_HELLO:
		if (ctl_hello_decode(&h, imsg.data, imsg.datalen) == -1)
			errx(1, "malformed reply from boxd");
		if (h.protocol != CTL_PROTOCOL_VERSION)
			errx(1,
			    "boxd %s speaks control protocol %u, boxctl %s "
			    "speaks %u: use the boxctl of the same build",
			    h.version, h.protocol, BOXD_VERSION,
			    CTL_PROTOCOL_VERSION);
		break;
	case IMSG_CTL_FAIL:
		fail(&imsg);
	default:
		errx(1, "unexpected reply from boxd (%s)",
		    imsg_type_name(imsg.hdr.type));
	}
	imsg_free(&imsg);
}

static void
run(int fd, struct request *req)
{
	struct imsgbuf ibuf;
	struct imsg imsg;
	struct ctl_row row;

	imsgbuf_init(&ibuf, fd, IMSG_MAX_SIZE);
	ibuf.wipe = 1; /* the request may hold a password */
	hello(&ibuf);
	send_imsg(&ibuf, req->ctl.type, &req->w);

	for (;;) {
		receive(&ibuf, &imsg, "boxd closed the connection");
		switch (imsg.hdr.type) {
		case IMSG_CTL_LINE:
			if (ctl_row_decode(&row, imsg.data, imsg.datalen) == -1)
				errx(1, "malformed reply from boxd");
			if (opt_json)
				print_json(&row);
			else if (req->output == OUTPUT_STATUS &&
			    status_nrows < BOXCTL_STATUS_ROWS) {
				status_rows[status_nrows++] = row;
				break;
			} else
				print_row(&row, req->output);
			ctl_row_clear(&row);
			break;
		case IMSG_CTL_OK:
			if (ctl_empty_decode(imsg.data, imsg.datalen) == -1)
				errx(1, "malformed reply from boxd");
			if (!opt_json && req->output == OUTPUT_STATUS)
				print_status();
			if (fflush(stdout) == EOF || ferror(stdout))
				err(1, "stdout");
			imsg_free(&imsg);
			imsgbuf_clear(&ibuf);
			return;
		case IMSG_CTL_FAIL:
			fail(&imsg);
		default:
			errx(1, "unexpected reply from boxd (%s)",
			    imsg_type_name(imsg.hdr.type));
		}
		imsg_free(&imsg);
	}
}

int
main(int argc, char *argv[])
{
	struct boxd_config conf;
	struct request req;
	const char *socket_path = NULL, *config_path = NULL;
	char errbuf[PATH_MAX + 256];
	int ch, fd;

	while ((ch = getopt(argc, argv, "+f:hjs:")) != -1) {
		switch (ch) {
		case 'f':
			config_path = optarg;
			break;
		case 'j':
			opt_json = 1;
			break;
		case 's':
			socket_path = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || (socket_path != NULL && config_path != NULL))
		usage();

	if (config_path != NULL) {
		if (config_parse(&conf, config_path, errbuf, sizeof(errbuf)) ==
		    -1)
			errx(1, "%s", errbuf);
		socket_path = conf.control_socket;
	} else if (socket_path == NULL)
		socket_path = BOXD_CONTROL;

	/* read the password before connecting: the prompt may take long */
	parse_command(&req, argc, argv);
	fd = connect_control(socket_path);
	run(fd, &req);
	close(fd);
	return 0;
}
