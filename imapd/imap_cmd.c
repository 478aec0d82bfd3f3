/*
 * IMAP commands: the table that says which command runs in which state,
 * and the commands of the session itself (CAPABILITY, NOOP, LOGOUT,
 * STARTTLS, LOGIN, AUTHENTICATE, ENABLE, ID, NAMESPACE, IDLE).  The
 * mailbox commands live in imap_mbox.c, FETCH and STORE in imap_fetch.c.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "boxd.h"
#include "imapd.h"

#define S_NOTAUTH  (1U << IMAP_NOTAUTH)
#define S_AUTH	   (1U << IMAP_AUTH)
#define S_SELECTED (1U << IMAP_SELECTED)
#define S_ANY	   (S_NOTAUTH | S_AUTH | S_SELECTED)
#define S_LOGGEDIN (S_AUTH | S_SELECTED)

struct imap_cmd_def {
	const char *name;
	uint32_t states;
	int uid; /* may follow UID */
	void (*run)(struct imap_session *, struct imap_command *);
};

static void cmd_capability(struct imap_session *, struct imap_command *);
static void cmd_noop(struct imap_session *, struct imap_command *);
static void cmd_logout(struct imap_session *, struct imap_command *);
static void cmd_starttls(struct imap_session *, struct imap_command *);
static void cmd_login(struct imap_session *, struct imap_command *);
static void cmd_authenticate(struct imap_session *, struct imap_command *);
static void cmd_enable(struct imap_session *, struct imap_command *);
static void cmd_id(struct imap_session *, struct imap_command *);
static void cmd_namespace(struct imap_session *, struct imap_command *);
static void cmd_idle(struct imap_session *, struct imap_command *);

/* clang-format off */
static const struct imap_cmd_def imap_cmds[] = {
	{ "CAPABILITY",	  S_ANY,      0, cmd_capability },
	{ "NOOP",	  S_ANY,      0, cmd_noop },
	{ "LOGOUT",	  S_ANY,      0, cmd_logout },
	{ "STARTTLS",	  S_NOTAUTH,  0, cmd_starttls },
	{ "LOGIN",	  S_NOTAUTH,  0, cmd_login },
	{ "AUTHENTICATE", S_NOTAUTH,  0, cmd_authenticate },
	{ "ID",		  S_ANY,      0, cmd_id },
	{ "ENABLE",	  S_LOGGEDIN, 0, cmd_enable },
	{ "NAMESPACE",	  S_LOGGEDIN, 0, cmd_namespace },
	{ "IDLE",	  S_LOGGEDIN, 0, cmd_idle },
	{ "SELECT",	  S_LOGGEDIN, 0, imap_cmd_select },
	{ "EXAMINE",	  S_LOGGEDIN, 0, imap_cmd_select },
	{ "CREATE",	  S_LOGGEDIN, 0, imap_cmd_create },
	{ "DELETE",	  S_LOGGEDIN, 0, imap_cmd_delete },
	{ "RENAME",	  S_LOGGEDIN, 0, imap_cmd_rename },
	{ "SUBSCRIBE",	  S_LOGGEDIN, 0, imap_cmd_subscribe },
	{ "UNSUBSCRIBE",  S_LOGGEDIN, 0, imap_cmd_unsubscribe },
	{ "LIST",	  S_LOGGEDIN, 0, imap_cmd_list },
	{ "LSUB",	  S_LOGGEDIN, 0, imap_cmd_lsub },
	{ "STATUS",	  S_LOGGEDIN, 0, imap_cmd_status },
	{ "APPEND",	  S_LOGGEDIN, 0, imap_cmd_append },
	{ "GETQUOTA",	  S_LOGGEDIN, 0, imap_cmd_getquota },
	{ "GETQUOTAROOT", S_LOGGEDIN, 0, imap_cmd_getquotaroot },
	{ "SETQUOTA",	  S_LOGGEDIN, 0, imap_cmd_setquota },
	{ "CHECK",	  S_SELECTED, 0, imap_cmd_check },
	{ "CLOSE",	  S_SELECTED, 0, imap_cmd_close },
	{ "UNSELECT",	  S_SELECTED, 0, imap_cmd_unselect },
	{ "EXPUNGE",	  S_SELECTED, 1, imap_cmd_expunge },
	{ "SEARCH",	  S_SELECTED, 1, imap_cmd_search },
	{ "FETCH",	  S_SELECTED, 1, imap_cmd_fetch },
	{ "STORE",	  S_SELECTED, 1, imap_cmd_store },
	{ "COPY",	  S_SELECTED, 1, imap_cmd_copy },
	{ "MOVE",	  S_SELECTED, 1, imap_cmd_move },
	{ "SORT",	  S_SELECTED, 1, imap_cmd_sort },
	{ "THREAD",	  S_SELECTED, 1, imap_cmd_thread },
};
/* clang-format on */
#define IMAP_NCMDS (sizeof(imap_cmds) / sizeof(imap_cmds[0]))

/* a capability, and when it is offered */
struct imap_capability {
	const char *name;
	int when; /* CAP_* */
};

#define CAP_ALWAYS    0
#define CAP_PRETLS    1 /* plaintext, before STARTTLS */
#define CAP_PRELOGIN  2 /* not logged in, with TLS */
#define CAP_LOGGEDIN  3
#define CAP_NOTLOGGED 4 /* not logged in, TLS or not */

/* clang-format off */
static const struct imap_capability imap_caps[] = {
	{ "IMAP4rev1",		CAP_ALWAYS },
	{ "IMAP4rev2",		CAP_ALWAYS },
	{ "STARTTLS",		CAP_PRETLS },
	{ "LOGINDISABLED",	CAP_PRETLS },
	{ "AUTH=PLAIN",		CAP_PRELOGIN },
	{ "SASL-IR",		CAP_NOTLOGGED },
	{ "LITERAL+",		CAP_ALWAYS },
	{ "ID",			CAP_ALWAYS },
	{ "ENABLE",		CAP_ALWAYS },
	{ "IDLE",		CAP_ALWAYS },
	{ "NAMESPACE",		CAP_LOGGEDIN },
	{ "UIDPLUS",		CAP_LOGGEDIN },
	{ "MOVE",		CAP_LOGGEDIN },
	{ "UNSELECT",		CAP_LOGGEDIN },
	{ "CHILDREN",		CAP_LOGGEDIN },
	{ "LIST-EXTENDED",	CAP_LOGGEDIN },
	{ "LIST-STATUS",	CAP_LOGGEDIN },
	{ "SPECIAL-USE",	CAP_LOGGEDIN },
	{ "CREATE-SPECIAL-USE",	CAP_LOGGEDIN },
	{ "CONDSTORE",		CAP_LOGGEDIN },
	{ "QRESYNC",		CAP_LOGGEDIN },
	{ "QUOTA",		CAP_LOGGEDIN },
	{ "QUOTA=RES-STORAGE",	CAP_LOGGEDIN },
	{ "QUOTA=RES-MESSAGE",	CAP_LOGGEDIN },
	{ "STATUS=SIZE",	CAP_LOGGEDIN },
	{ "UTF8=ACCEPT",	CAP_LOGGEDIN },
	{ "ESEARCH",		CAP_LOGGEDIN },
	{ "SEARCHRES",		CAP_LOGGEDIN },
	{ "WITHIN",		CAP_LOGGEDIN },
	{ "SORT",		CAP_LOGGEDIN },
	{ "SORT=DISPLAY",	CAP_LOGGEDIN },
	{ "THREAD=ORDEREDSUBJECT", CAP_LOGGEDIN },
	{ "THREAD=REFERENCES",	CAP_LOGGEDIN },
	{ "BINARY",		CAP_LOGGEDIN },
};
/* clang-format on */
#define IMAP_NCAPS (sizeof(imap_caps) / sizeof(imap_caps[0]))

const char *
imap_capabilities(struct imap_session *s)
{
	static char buf[1024];
	size_t i;
	int when, ok;

	buf[0] = '\0';
	for (i = 0; i < IMAP_NCAPS; i++) {
		when = imap_caps[i].when;
		switch (when) {
		case CAP_PRETLS:
			ok = !s->tls && s->state == IMAP_NOTAUTH &&
			    tls_server_available(&child->tls);
			if (!tls_server_available(&child->tls) &&
			    strcmp(imap_caps[i].name, "LOGINDISABLED") == 0)
				ok = !s->tls;
			break;
		case CAP_PRELOGIN:
			ok = s->tls && s->state == IMAP_NOTAUTH;
			break;
		case CAP_NOTLOGGED:
			ok = s->state == IMAP_NOTAUTH;
			break;
		case CAP_LOGGEDIN:
			ok = s->state != IMAP_NOTAUTH;
			break;
		default:
			ok = 1;
		}
		if (!ok)
			continue;
		if (buf[0] != '\0')
			strlcat(buf, " ", sizeof(buf));
		strlcat(buf, imap_caps[i].name, sizeof(buf));
	}
	return buf;
}

static const struct imap_cmd_def *
imap_cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < IMAP_NCMDS; i++)
		if (strcmp(imap_cmds[i].name, name) == 0)
			return &imap_cmds[i];
	return NULL;
}

void
imap_cmd_dispatch(struct imap_session *s, const char *buf, size_t len)
{
	const struct imap_cmd_def *def;
	struct imap_command cmd;
	char err[128];

	memset(&cmd, 0, sizeof(cmd));
	if (imap_command_parse(&cmd, buf, len, err, sizeof(err)) == -1) {
		strlcpy(s->tag, cmd.tag, sizeof(s->tag));
		imap_command_free(&cmd);
		imap_cmd_cleanup(s);
		imap_command_done(s);
		imap_reply(s, "%s BAD %s", s->tag[0] ? s->tag : "*", err);
		imap_cmd_error(s);
		return;
	}
	strlcpy(s->tag, cmd.tag, sizeof(s->tag));
	if ((def = imap_cmd_find(cmd.name)) == NULL || (cmd.uid && !def->uid)) {
		imap_tagged(s, "BAD", "Unknown command");
		imap_cmd_error(s);
	} else if ((def->states & (1U << s->state)) == 0) {
		imap_tagged(s, "BAD", "%s",
		    s->state == IMAP_NOTAUTH	? "Log in first"
			: s->state == IMAP_AUTH ? "Select a mailbox first"
						: "Not allowed now");
	} else {
		s->errors = 0;
		def->run(s, &cmd);
	}
	imap_command_free(&cmd);
	/* a command that goes on (IDLE, AUTHENTICATE, a long FETCH) keeps
	 * its tag; the others are done */
	if (!s->idling && !s->sasl && !s->busy && !s->waiting)
		imap_cmd_cleanup(s);
	imap_command_done(s);
}

void
imap_cmd_error(struct imap_session *s)
{
	if (++s->errors >= IMAP_MAX_ERRORS)
		imap_bye(s, "Too many errors");
}

/* what an announced literal may hold: the message for APPEND */
uint64_t
imap_cmd_literal_limit(struct imap_session *s, uint64_t size)
{
	size_t held;

	if (s->state != IMAP_NOTAUTH && imap_append_literal(s) == 1) {
		imap_append_size(s, size);
		return child->conf.max_message_size;
	}
	/*
	 * Before login all of a command's literals share one bound: else a
	 * client without a password holds megabytes per connection.
	 */
	if (s->state == IMAP_NOTAUTH) {
		held = evbuffer_get_length(s->cmd) - s->cmd_text;
		return held < IMAP_LITERAL_MAX ? IMAP_LITERAL_MAX - held : 0;
	}
	return IMAP_LITERAL_MAX;
}

/* n octets of a literal: into the command, or into APPEND's file */
int
imap_cmd_literal_input(struct imap_session *s, struct evbuffer *in, size_t n)
{
	if (s->append_streaming)
		return imap_append_input(s, in, n);
	if (evbuffer_remove_buffer(in, s->cmd, n) != (int)n) {
		imap_bye(s, "Out of memory");
		return -1;
	}
	return 0;
}

/* what a finished or abandoned command leaves behind */
void
imap_cmd_cleanup(struct imap_session *s)
{
	imap_append_cleanup(s);
	if (s->job_free != NULL)
		s->job_free(s);
	s->job_free = NULL;
	s->resume = NULL;
	s->job = NULL;
	s->sasl = 0;
	s->busy = 0;
	s->idling = 0;
}

void
imap_cmd_resume(struct imap_session *s)
{
	if (s->busy && s->resume != NULL && !s->closing)
		s->resume(s);
}

void
imap_cmd_job_done(struct imap_session *s)
{
	imap_cmd_cleanup(s);
	imap_command_done(s);
	if (!s->closing)
		imap_process(s);
}

/* the untagged news of the selected mailbox, where it may be told */
void
imap_cmd_sync(struct imap_session *s, int expunges_ok)
{
	if (s->state == IMAP_SELECTED)
		imap_mbox_sync(s, expunges_ok);
}

static int
imap_cmd_noargs(struct imap_session *s, struct imap_command *cmd)
{
	if (cmd->nargs == 0)
		return 0;
	imap_tagged(s, "BAD", "No arguments expected");
	return -1;
}

static void
cmd_capability(struct imap_session *s, struct imap_command *cmd)
{
	if (imap_cmd_noargs(s, cmd) == -1)
		return;
	imap_reply(s, "* CAPABILITY %s", imap_capabilities(s));
	imap_tagged(s, "OK", "CAPABILITY completed");
}

static void
cmd_noop(struct imap_session *s, struct imap_command *cmd)
{
	if (imap_cmd_noargs(s, cmd) == -1)
		return;
	imap_cmd_sync(s, 1);
	imap_tagged(s, "OK", "NOOP completed");
}

static void
cmd_logout(struct imap_session *s, struct imap_command *cmd)
{
	if (imap_cmd_noargs(s, cmd) == -1)
		return;
	imap_reply(s, "* BYE Logging out");
	imap_tagged(s, "OK", "LOGOUT completed");
	imap_close(s);
}

static void
cmd_starttls(struct imap_session *s, struct imap_command *cmd)
{
	if (imap_cmd_noargs(s, cmd) == -1)
		return;
	if (s->tls) {
		imap_tagged(s, "BAD", "TLS is already active");
		return;
	}
	if (!tls_server_available(&child->tls) ||
	    tls_server_ctx(&child->tls) == NULL) {
		imap_tagged(s, "NO", "[UNAVAILABLE] TLS is not available");
		return;
	}
	imap_tagged(s, "OK", "Begin TLS negotiation now");
	imap_starttls(s);
}

/* LOGINDISABLED: no password before TLS, whatever the client does */
static int
imap_cmd_login_allowed(struct imap_session *s)
{
	if (s->tls)
		return 1;
	imap_tagged(s, "NO", "[PRIVACYREQUIRED] Use STARTTLS first");
	return 0;
}

static void
imap_cmd_login_start(
    struct imap_session *s, const char *user, const char *password)
{
	imap_auth_request(s, user, password, AUTH_SERVICE_IMAP);
}

static void
cmd_login(struct imap_session *s, struct imap_command *cmd)
{
	const char *user, *password;

	if (!imap_cmd_login_allowed(s))
		return;
	if (cmd->nargs != 2 ||
	    (user = imap_arg_astring(&cmd->args[0])) == NULL ||
	    (password = imap_arg_astring(&cmd->args[1])) == NULL) {
		imap_tagged(s, "BAD", "LOGIN needs a user name and a password");
		return;
	}
	imap_cmd_login_start(s, user, password);
	/* the command's arena is freed next: without the password */
	explicit_bzero((char *)password, strlen(password));
}

static int
imap_sasl_plain(struct imap_session *s, const char *b64, size_t len)
{
	char user[AUTH_LOGIN_USER_MAX + 1], pass[AUTH_LOGIN_PASSWORD_MAX + 1];
	int rv;

	rv =
	    sasl_plain_decode(b64, len, user, sizeof(user), pass, sizeof(pass));
	if (rv == -2)
		imap_tagged(s, "NO",
		    "[AUTHORIZATIONFAILED] Cannot log in as another user");
	else if (rv == 0)
		imap_cmd_login_start(s, user, pass);
	explicit_bzero(pass, sizeof(pass));
	return rv == -1 ? -1 : 0;
}

static void
cmd_authenticate(struct imap_session *s, struct imap_command *cmd)
{
	const char *mech, *ir;

	if (cmd->nargs < 1 || cmd->nargs > 2 ||
	    (mech = imap_arg_astring(&cmd->args[0])) == NULL) {
		imap_tagged(s, "BAD", "AUTHENTICATE needs a mechanism");
		return;
	}
	if (strcasecmp(mech, "PLAIN") != 0) {
		imap_tagged(s, "NO", "Unsupported authentication mechanism");
		return;
	}
	if (!imap_cmd_login_allowed(s))
		return;
	if (cmd->nargs == 2) {
		if ((ir = imap_arg_astring(&cmd->args[1])) == NULL) {
			imap_tagged(s, "BAD", "Bad initial response");
			return;
		}
		/* "=" is an empty initial response (RFC 4959) */
		if (strcmp(ir, "=") == 0)
			ir = "";
		if (imap_sasl_plain(s, ir, strlen(ir)) == -1)
			imap_tagged(s, "BAD", "Malformed PLAIN response");
		explicit_bzero((char *)ir, strlen(ir));
		return;
	}
	imap_reply(s, "+ ");
	s->sasl = 1;
}

/* the client's answer to AUTHENTICATE's "+": one line, or "*" */
int
imap_cmd_sasl_line(struct imap_session *s, const char *line, size_t len)
{
	s->sasl = 0;
	if (len == 1 && line[0] == '*') {
		imap_tagged(s, "BAD", "Authentication cancelled");
		return 0;
	}
	if (imap_sasl_plain(s, line, len) == -1)
		imap_tagged(s, "BAD", "Malformed PLAIN response");
	return 0;
}

void
imap_cmd_auth_done(struct imap_session *s, const struct auth_login_result *res)
{
	const char *why;

	switch (res->status) {
	case AUTH_LOGIN_OK:
		if ((why = imap_session_login(s, res)) != NULL) {
			imap_tagged(s, "NO", "%s", why);
			break;
		}
		imap_tagged(
		    s, "OK", "[CAPABILITY %s] Logged in", imap_capabilities(s));
		break;
	case AUTH_LOGIN_LIMITED:
		imap_tagged(s, "NO",
		    "[UNAVAILABLE] Too many failed logins, try again later");
		break;
	case AUTH_LOGIN_DISABLED:
		imap_tagged(s, "NO", "[CONTACTADMIN] Account disabled");
		break;
	case AUTH_LOGIN_TEMPFAIL:
		imap_tagged(s, "NO",
		    "[UNAVAILABLE] Temporary failure, "
		    "try again later");
		break;
	default:
		imap_tagged(
		    s, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
		imap_cmd_error(s);
		break;
	}
	imap_cmd_cleanup(s);
	imap_command_done(s);
}

static void
cmd_enable(struct imap_session *s, struct imap_command *cmd)
{
	char enabled[256] = "";
	const char *name;
	size_t i;

	if (cmd->nargs == 0) {
		imap_tagged(s, "BAD", "ENABLE needs capabilities");
		return;
	}
	for (i = 0; i < cmd->nargs; i++) {
		if (cmd->args[i].type != IMAP_ARG_ATOM) {
			imap_tagged(s, "BAD", "Capabilities are atoms");
			return;
		}
		name = cmd->args[i].str;
		if (strcasecmp(name, "IMAP4rev2") == 0 && !s->rev2) {
			s->rev2 = 1;
			strlcat(enabled, " IMAP4rev2", sizeof(enabled));
		} else if (strcasecmp(name, "UTF8=ACCEPT") == 0 && !s->utf8) {
			s->utf8 = 1;
			strlcat(enabled, " UTF8=ACCEPT", sizeof(enabled));
		} else if (strcasecmp(name, "CONDSTORE") == 0 &&
		    !s->condstore) {
			imap_mbox_condstore(s);
			strlcat(enabled, " CONDSTORE", sizeof(enabled));
		} else if (strcasecmp(name, "QRESYNC") == 0 && !s->qresync) {
			s->qresync = 1;
			if (!s->condstore)
				imap_mbox_condstore(s);
			strlcat(enabled, " QRESYNC", sizeof(enabled));
		}
	}
	imap_reply(s, "* ENABLED%s", enabled);
	imap_tagged(s, "OK", "ENABLE completed");
}

static void
cmd_id(struct imap_session *s, struct imap_command *cmd)
{
	if (cmd->nargs != 1 ||
	    (cmd->args[0].type != IMAP_ARG_LIST &&
		!imap_arg_is_nil(&cmd->args[0]))) {
		imap_tagged(s, "BAD", "ID needs a list or NIL");
		return;
	}
	imap_reply(
	    s, "* ID (\"name\" \"boxd\" \"version\" \"%s\")", BOXD_VERSION);
	imap_tagged(s, "OK", "ID completed");
}

static void
cmd_namespace(struct imap_session *s, struct imap_command *cmd)
{
	if (imap_cmd_noargs(s, cmd) == -1)
		return;
	imap_reply(s, "* NAMESPACE ((\"\" \".\")) NIL NIL");
	imap_tagged(s, "OK", "NAMESPACE completed");
}

static void
cmd_idle(struct imap_session *s, struct imap_command *cmd)
{
	if (imap_cmd_noargs(s, cmd) == -1)
		return;
	imap_cmd_sync(s, 1);
	imap_reply(s, "+ idling");
	s->idling = 1;
	imap_mbox_idle(s, 1);
}

/* news while idling goes out at once */
void
imap_cmd_idle_wake(struct imap_session *s)
{
	if (s->idling && !s->closing)
		imap_cmd_sync(s, 1);
}

/* IDLE ends with DONE; anything else is a protocol error */
int
imap_idle_input(struct imap_session *s, struct evbuffer *in)
{
	struct evbuffer_ptr eol;
	size_t eol_len;
	char line[8];
	size_t n;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos == -1) {
		/* the read window stops at IMAP_INPUT_MAX: full is too long */
		if (evbuffer_get_length(in) >= IMAP_INPUT_MAX)
			imap_bye(s, "Line too long");
		return 0;
	}
	n = (size_t)eol.pos < sizeof(line) - 1 ? (size_t)eol.pos
					       : sizeof(line) - 1;
	evbuffer_copyout(in, line, n);
	line[n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	evbuffer_drain(in, eol.pos + eol_len);
	s->idling = 0;
	imap_mbox_idle(s, 0);
	if ((size_t)eol.pos <= 6 && strcasecmp(line, "DONE") == 0) {
		imap_cmd_sync(s, 1);
		imap_tagged(s, "OK", "IDLE terminated");
	} else
		imap_tagged(s, "BAD", "Expected DONE");
	imap_cmd_cleanup(s);
	imap_command_done(s);
	return 1;
}
