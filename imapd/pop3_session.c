/*
 * POP3 (RFC 1939, 2449 CAPA, 2595 STLS, 5034 SASL PLAIN) on the user's
 * INBOX, in the same session frame as IMAP.  The maildrop is what INBOX
 * holds at login; deletions wait for QUIT, and messages retrieved are
 * marked \Seen then too.  UIDL is Dovecot's default, the UID and the
 * UIDVALIDITY in hex, so a fetcher that kept messages across a move from
 * Dovecot does not fetch them again.
 */

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "boxd.h"
#include "imapd.h"

#define POP3_LINE_MAX 255	  /* RFC 2449 4: commands */
#define POP3_CHUNK    (64 * 1024) /* RETR writes this much a turn */

enum pop3_phase {
	POP3_AUTHORIZATION,
	POP3_TRANSACTION,
};

/* a RETR or TOP under way: the file, mapped, sent line by line */
struct pop3_retr {
	char *map;
	size_t len, off;
	int in_body;
	uint64_t body_lines; /* TOP: lines of the body still to send */
	int top;
	int bol; /* at the start of a line */
};

struct pop3_state {
	enum pop3_phase phase;
	char user[AUTH_LOGIN_USER_MAX + 1]; /* USER's, until PASS */
	int have_user;
	struct mailbox_view *view;
	uint32_t count; /* messages at login: the maildrop */
	uint32_t *uids; /* theirs, by message number - 1 */
	uint32_t uidvalidity;
	uint8_t *deleted;
	uint8_t *retrieved;
	struct pop3_retr retr;
	int holds_maildrop;
};

/* the maildrops held now, by user: one POP3 session each (RFC 1939 8) */
struct pop3_lock {
	SLIST_ENTRY(pop3_lock) entry;
	char address[SMTP_PATH_MAX];
};

static SLIST_HEAD(, pop3_lock) pop3_locks = SLIST_HEAD_INITIALIZER(pop3_locks);

static int
pop3_lock(const char *address)
{
	struct pop3_lock *l;

	SLIST_FOREACH(l, &pop3_locks, entry)
		if (strcmp(l->address, address) == 0)
			return -1;
	l = xcalloc(1, sizeof(*l));
	strlcpy(l->address, address, sizeof(l->address));
	SLIST_INSERT_HEAD(&pop3_locks, l, entry);
	return 0;
}

static void
pop3_unlock(const char *address)
{
	struct pop3_lock *l;

	SLIST_FOREACH(l, &pop3_locks, entry)
		if (strcmp(l->address, address) == 0) {
			SLIST_REMOVE(&pop3_locks, l, pop3_lock, entry);
			free(l);
			return;
		}
}

/* POP3 hears nothing of what others do to the mailbox meanwhile */
static void
pop3_view_expunge(void *arg, uint32_t seq, uint32_t uid)
{
}

static void
pop3_view_flags(void *arg, uint32_t seq, const struct mail_msg *m)
{
}

static void
pop3_view_exists(void *arg, uint32_t count, uint32_t recent)
{
}

static void
pop3_view_lost(void *arg)
{
	struct imap_session *s = arg;

	log_info("%s: too far behind its mailbox, closed", s->addr);
	imap_reply(s,
	    "-ERR [SYS/TEMP] The mailbox changed too much, log in "
	    "again");
	imap_close(s);
}

static const struct mailbox_view_ops pop3_view_ops = {
    .expunge = pop3_view_expunge,
    .flags = pop3_view_flags,
    .exists = pop3_view_exists,
    .lost = pop3_view_lost,
};

static struct pop3_state *
pop3_state(struct imap_session *s)
{
	if (s->pop == NULL)
		s->pop = xcalloc(1, sizeof(*s->pop));
	return s->pop;
}

static void
pop3_retr_end(struct imap_session *s)
{
	struct pop3_retr *r = &s->pop->retr;

	if (r->map != NULL && r->len > 0)
		munmap(r->map, r->len);
	memset(r, 0, sizeof(*r));
}

/* the session ends: its state goes, its deletions with it (no QUIT) */
void
pop3_session_free(struct imap_session *s)
{
	struct pop3_state *p = s->pop;

	if (p == NULL)
		return;
	pop3_retr_end(s);
	if (p->view != NULL)
		mailbox_view_close(p->view);
	if (p->holds_maildrop && s->user != NULL)
		pop3_unlock(s->user->address);
	free(p->uids);
	free(p->deleted);
	free(p->retrieved);
	explicit_bzero(p->user, sizeof(p->user));
	free(p);
	s->pop = NULL;
}

void
pop3_greeting(struct imap_session *s)
{
	pop3_state(s);
	imap_reply(s, "+OK %s POP3 ready", child->conf.hostname);
}

static int
pop3_tls_required(struct imap_session *s)
{
	if (s->tls)
		return 0;
	imap_reply(s,
	    "-ERR [AUTH] Plaintext authentication is not allowed "
	    "before STLS");
	return -1;
}

static void
pop3_capa(struct imap_session *s)
{
	imap_reply(s, "+OK Capability list follows");
	imap_reply(s, "TOP");
	imap_reply(s, "UIDL");
	imap_reply(s, "RESP-CODES");
	imap_reply(s, "AUTH-RESP-CODE");
	imap_reply(s, "PIPELINING");
	if (s->pop->phase == POP3_AUTHORIZATION) {
		if (s->tls) {
			imap_reply(s, "USER");
			imap_reply(s, "SASL PLAIN");
		} else if (s->kind == LISTEN_POP3 &&
		    tls_server_available(&child->tls))
			imap_reply(s, "STLS");
	}
	imap_reply(s, "IMPLEMENTATION boxd");
	imap_reply(s, ".");
}

void
pop3_auth_done(struct imap_session *s, const struct auth_login_result *res)
{
	struct pop3_state *p = s->pop;
	const char *why;
	char err[128];
	uint32_t n;

	switch (res->status) {
	case AUTH_LOGIN_OK:
		break;
	case AUTH_LOGIN_LIMITED:
		imap_reply(s,
		    "-ERR [SYS/TEMP] Too many failed logins, try "
		    "again later");
		return;
	case AUTH_LOGIN_TEMPFAIL:
		imap_reply(s,
		    "-ERR [SYS/TEMP] Temporary failure, try again "
		    "later");
		return;
	case AUTH_LOGIN_DISABLED:
		imap_reply(s, "-ERR [AUTH] Account disabled");
		return;
	default:
		imap_reply(s, "-ERR [AUTH] Authentication failed");
		if (++s->errors >= IMAP_MAX_ERRORS)
			imap_close(s);
		return;
	}
	if ((why = imap_session_login(s, res)) != NULL) {
		imap_reply(s, "-ERR [SYS/TEMP] %s", why);
		return;
	}
	if (pop3_lock(s->user->address) == -1) {
		imap_session_logout_user(s);
		s->state = IMAP_NOTAUTH;
		imap_reply(s,
		    "-ERR [IN-USE] The maildrop is in use by "
		    "another POP3 session");
		return;
	}
	p->holds_maildrop = 1;
	if ((p->view = mailbox_view_open(s->user->mu, "INBOX", 0,
		 &pop3_view_ops, s, err, sizeof(err))) == NULL) {
		pop3_unlock(s->user->address);
		p->holds_maildrop = 0;
		imap_session_logout_user(s);
		s->state = IMAP_NOTAUTH;
		imap_reply(s, "-ERR [SYS/TEMP] %s", err);
		return;
	}
	p->count = mailbox_view_count(p->view);
	p->uids = xcalloc(p->count + 1, sizeof(*p->uids));
	for (n = 1; n <= p->count; n++)
		p->uids[n - 1] = mailbox_view_uid(p->view, n);
	p->uidvalidity = mailbox_view_uidvalidity(p->view);
	p->deleted = xcalloc(p->count + 1, 1);
	p->retrieved = xcalloc(p->count + 1, 1);
	p->phase = POP3_TRANSACTION;
	imap_reply(s, "+OK Logged in, %" PRIu32 " messages", p->count);
}

/*
 * The view's sequence number of maildrop message n: the view hears what
 * others do (so that the mailbox keeps no news for it), the maildrop
 * stays as it was at login.  0 if another session expunged it since.
 */
static uint32_t
pop3_seq(struct imap_session *s, uint32_t n)
{
	return mailbox_view_seq(s->pop->view, s->pop->uids[n - 1]);
}

/* a message number of the maildrop, not deleted: n, or 0 (answered) */
static uint32_t
pop3_msgno(struct imap_session *s, const char *arg)
{
	struct pop3_state *p = s->pop;
	const char *errstr;
	uint32_t n;

	n = (uint32_t)strtonum(arg, 1, UINT32_MAX, &errstr);
	if (errstr != NULL || n > p->count) {
		imap_reply(s, "-ERR No such message");
		return 0;
	}
	if (p->deleted[n]) {
		imap_reply(s, "-ERR Message %" PRIu32 " is deleted", n);
		return 0;
	}
	return n;
}

static uint64_t
pop3_size(struct imap_session *s, uint32_t n)
{
	uint64_t size = 0;
	uint32_t seq;

	if ((seq = pop3_seq(s, n)) == 0 ||
	    mailbox_msg_size(s->pop->view, seq, &size) == -1)
		return 0;
	return size;
}

static void
pop3_stat(struct imap_session *s)
{
	struct pop3_state *p = s->pop;
	uint64_t total = 0;
	uint32_t n, count = 0;

	for (n = 1; n <= p->count; n++)
		if (!p->deleted[n]) {
			count++;
			total += pop3_size(s, n);
		}
	imap_reply(s, "+OK %" PRIu32 " %" PRIu64, count, total);
}

static void
pop3_list(struct imap_session *s, const char *arg, int uidl)
{
	struct pop3_state *p = s->pop;
	uint32_t n;

	if (arg != NULL) {
		if ((n = pop3_msgno(s, arg)) == 0)
			return;
		if (uidl)
			imap_reply(s, "+OK %" PRIu32 " %08" PRIX32 "%08" PRIX32,
			    n, p->uids[n - 1], p->uidvalidity);
		else
			imap_reply(
			    s, "+OK %" PRIu32 " %" PRIu64, n, pop3_size(s, n));
		return;
	}
	imap_reply(s, "+OK Listing follows");
	for (n = 1; n <= p->count && !s->closing; n++) {
		if (p->deleted[n])
			continue;
		if (uidl)
			imap_reply(s, "%" PRIu32 " %08" PRIX32 "%08" PRIX32, n,
			    p->uids[n - 1], p->uidvalidity);
		else
			imap_reply(
			    s, "%" PRIu32 " %" PRIu64, n, pop3_size(s, n));
	}
	imap_reply(s, ".");
}

/*
 * The next piece of a RETR or TOP: CRLF line ends (a bare LF becomes
 * CRLF), a leading dot doubled, while the client reads what it was sent.
 */
static void
pop3_retr_resume(struct imap_session *s)
{
	struct pop3_retr *r = &s->pop->retr;
	const char *p, *nl;
	size_t budget = POP3_CHUNK, n;

	while (r->off < r->len && budget > 0 &&
	    evbuffer_get_length(s->out) < IMAP_OUTPUT_MAX) {
		if (r->top && r->in_body && r->body_lines == 0)
			break;
		p = r->map + r->off;
		if (r->bol && p[0] == '.')
			evbuffer_add(s->out, ".", 1);
		nl = memchr(p, '\n', r->len - r->off);
		n = nl != NULL ? (size_t)(nl - p) : r->len - r->off;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (!r->in_body && n == 0 && r->bol)
			r->in_body = 1;
		else if (r->top && r->in_body)
			r->body_lines--;
		evbuffer_add(s->out, p, n);
		evbuffer_add(s->out, "\r\n", 2);
		r->off = nl != NULL ? (size_t)(nl - r->map) + 1 : r->len;
		r->bol = 1;
		budget = budget > n ? budget - n : 0;
	}
	if (r->off < r->len && !(r->top && r->in_body && r->body_lines == 0))
		return;
	evbuffer_add(s->out, ".\r\n", 3);
	pop3_retr_end(s);
	imap_cmd_job_done(s);
}

static void
pop3_retr_free(struct imap_session *s)
{
	if (s->pop != NULL)
		pop3_retr_end(s);
}

static void
pop3_retr(struct imap_session *s, const char *arg, const char *lines)
{
	struct pop3_state *p = s->pop;
	struct pop3_retr *r = &p->retr;
	const char *errstr;
	struct stat st;
	uint32_t n, seq;
	int fd;

	if ((n = pop3_msgno(s, arg)) == 0)
		return;
	memset(r, 0, sizeof(*r));
	if (lines != NULL) {
		r->top = 1;
		r->body_lines =
		    (uint64_t)strtonum(lines, 0, INT64_MAX, &errstr);
		if (errstr != NULL) {
			imap_reply(s, "-ERR Bad line count");
			return;
		}
	}
	if ((seq = pop3_seq(s, n)) == 0 ||
	    (fd = mailbox_msg_open(p->view, seq)) == -1) {
		imap_reply(
		    s, "-ERR [SYS/TEMP] Message %" PRIu32 " cannot be read", n);
		return;
	}
	if (fstat(fd, &st) == -1 ||
	    (st.st_size > 0 &&
		(r->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
		     fd, 0)) == MAP_FAILED)) {
		r->map = NULL;
		close(fd);
		imap_reply(
		    s, "-ERR [SYS/TEMP] Message %" PRIu32 " cannot be read", n);
		return;
	}
	close(fd);
	r->len = (size_t)st.st_size;
	r->bol = 1;
	if (!r->top) {
		p->retrieved[n] = 1;
		imap_reply(s, "+OK %" PRIu64 " octets", pop3_size(s, n));
	} else
		imap_reply(s, "+OK Top of message follows");
	s->busy = 1;
	s->resume = pop3_retr_resume;
	s->job_free = pop3_retr_free;
	pop3_retr_resume(s);
}

/* QUIT in TRANSACTION: the deletions, and \Seen for what was retrieved */
static void
pop3_update(struct imap_session *s)
{
	struct pop3_state *p = s->pop;
	struct mail_uid_range *r;
	size_t nr = 0;
	uint32_t n, uid, seq;
	int failed = 0;

	r = xreallocarray(NULL, p->count + 1, sizeof(*r));
	mailbox_view_sync(p->view);
	for (n = 1; n <= p->count; n++) {
		if ((seq = pop3_seq(s, n)) == 0 ||
		    mailbox_view_msg(p->view, seq) == NULL)
			continue;
		if (p->deleted[n]) {
			if (mailbox_store(p->view, seq, STORE_ADD,
				MAIL_FLAG_DELETED, 0) != 0) {
				failed = 1;
				continue;
			}
			uid = p->uids[n - 1];
			r[nr].first = r[nr].last = uid;
			r[nr].modseq = 0;
			nr++;
		} else if (p->retrieved[n])
			mailbox_store(
			    p->view, seq, STORE_ADD, MAILDIR_FLAG_SEEN, 0);
	}
	if (nr > 0 && mailbox_expunge(p->view, r, nr) == -1)
		failed = 1;
	free(r);
	if (failed)
		imap_reply(s,
		    "-ERR [SYS/TEMP] Some deleted messages were not "
		    "removed");
	else
		imap_reply(s, "+OK Logging out");
}

/* the SASL PLAIN response of AUTH, on its line or after "+ " */
static void
pop3_auth_plain(struct imap_session *s, const char *b64)
{
	char user[AUTH_LOGIN_USER_MAX + 1], pass[AUTH_LOGIN_PASSWORD_MAX + 1];
	int rv;

	if (strcmp(b64, "*") == 0) {
		imap_reply(s, "-ERR Authentication cancelled");
		return;
	}
	rv = sasl_plain_decode(
	    b64, strlen(b64), user, sizeof(user), pass, sizeof(pass));
	if (rv == -1)
		imap_reply(s, "-ERR Malformed PLAIN response");
	else if (rv == -2)
		imap_reply(s, "-ERR [AUTH] Cannot log in as another user");
	else
		imap_auth_request(s, user, pass, AUTH_SERVICE_POP3);
	explicit_bzero(pass, sizeof(pass));
}

static void
pop3_authorization(
    struct imap_session *s, const char *verb, const char *arg, char *line)
{
	struct pop3_state *p = s->pop;

	if (strcasecmp(verb, "STLS") == 0) {
		if (s->tls || s->kind != LISTEN_POP3 ||
		    !tls_server_available(&child->tls) ||
		    tls_server_ctx(&child->tls) == NULL) {
			imap_reply(s, "-ERR TLS is not available here");
			return;
		}
		imap_reply(s, "+OK Begin TLS negotiation");
		imap_starttls(s);
	} else if (strcasecmp(verb, "USER") == 0) {
		if (pop3_tls_required(s) == -1)
			return;
		if (arg == NULL ||
		    strlcpy(p->user, arg, sizeof(p->user)) >= sizeof(p->user)) {
			imap_reply(s, "-ERR Bad user name");
			return;
		}
		p->have_user = 1;
		imap_reply(s, "+OK Send the password");
	} else if (strcasecmp(verb, "PASS") == 0) {
		if (pop3_tls_required(s) == -1)
			return;
		if (!p->have_user || arg == NULL) {
			imap_reply(s, "-ERR USER first");
			return;
		}
		p->have_user = 0;
		/* a password may hold spaces: the rest of the line */
		imap_auth_request(s, p->user, arg, AUTH_SERVICE_POP3);
		explicit_bzero(line, strlen(line));
	} else if (strcasecmp(verb, "AUTH") == 0) {
		if (arg == NULL) {
			imap_reply(s, "+OK Mechanisms follow");
			if (s->tls)
				imap_reply(s, "PLAIN");
			imap_reply(s, ".");
			return;
		}
		if (pop3_tls_required(s) == -1)
			return;
		if (strncasecmp(arg, "PLAIN", 5) != 0 ||
		    (arg[5] != '\0' && arg[5] != ' ')) {
			imap_reply(s, "-ERR Unsupported mechanism");
			return;
		}
		if (arg[5] == ' ')
			pop3_auth_plain(s, arg + 6);
		else {
			imap_reply(s, "+ ");
			s->sasl = 1;
		}
	} else
		imap_reply(s, "-ERR Not allowed before login");
}

static void
pop3_transaction(struct imap_session *s, const char *verb, const char *arg)
{
	struct pop3_state *p = s->pop;
	char *sp, first[16];
	uint32_t n;

	if (strcasecmp(verb, "STAT") == 0)
		pop3_stat(s);
	else if (strcasecmp(verb, "LIST") == 0)
		pop3_list(s, arg, 0);
	else if (strcasecmp(verb, "UIDL") == 0)
		pop3_list(s, arg, 1);
	else if (strcasecmp(verb, "RETR") == 0 && arg != NULL)
		pop3_retr(s, arg, NULL);
	else if (strcasecmp(verb, "TOP") == 0 && arg != NULL &&
	    (sp = strchr(arg, ' ')) != NULL &&
	    (size_t)(sp - arg) < sizeof(first)) {
		memcpy(first, arg, sp - arg);
		first[sp - arg] = '\0';
		pop3_retr(s, first, sp + 1);
	} else if (strcasecmp(verb, "DELE") == 0 && arg != NULL) {
		if ((n = pop3_msgno(s, arg)) == 0)
			return;
		p->deleted[n] = 1;
		imap_reply(s, "+OK Message %" PRIu32 " deleted", n);
	} else if (strcasecmp(verb, "RSET") == 0) {
		memset(p->deleted, 0, p->count + 1);
		imap_reply(s, "+OK");
	} else if (strcasecmp(verb, "NOOP") == 0)
		imap_reply(s, "+OK");
	else
		imap_reply(s, "-ERR Unknown command");
}

void
pop3_command(struct imap_session *s, const char *buf, size_t len)
{
	struct pop3_state *p = pop3_state(s);
	char line[POP3_LINE_MAX + 1], *verb, *arg;

	/* the line without its CRLF; no NUL may hide the rest of it */
	if (len > POP3_LINE_MAX || memchr(buf, '\0', len) != NULL) {
		imap_command_done(s);
		imap_reply(s, "-ERR Line too long");
		if (++s->errors >= IMAP_MAX_ERRORS)
			imap_close(s);
		return;
	}
	memcpy(line, buf, len);
	line[len] = '\0';
	imap_command_done(s);
	if (s->sasl) {
		s->sasl = 0;
		pop3_auth_plain(s, line);
		explicit_bzero(line, sizeof(line));
		return;
	}
	verb = line;
	if ((arg = strchr(line, ' ')) != NULL)
		*arg++ = '\0';
	/* what others did is heard (and ignored): nothing piles up */
	if (p->phase == POP3_TRANSACTION)
		mailbox_view_sync(p->view);
	if (strcasecmp(verb, "CAPA") == 0)
		pop3_capa(s);
	else if (strcasecmp(verb, "QUIT") == 0) {
		if (p->phase == POP3_TRANSACTION)
			pop3_update(s);
		else
			imap_reply(s, "+OK Bye");
		imap_close(s);
	} else if (p->phase == POP3_AUTHORIZATION)
		pop3_authorization(s, verb, arg, line);
	else
		pop3_transaction(s, verb, arg);
	explicit_bzero(line, sizeof(line));
}
