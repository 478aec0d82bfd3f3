/*
 * The logged-in user and the selected mailbox of an IMAP session, and the
 * commands that work on folders: SELECT, EXAMINE, CLOSE, UNSELECT,
 * EXPUNGE, CHECK, CREATE, DELETE, RENAME, (UN)SUBSCRIBE, LIST, LSUB,
 * STATUS, APPEND, COPY, MOVE and the QUOTA commands.  FETCH and STORE are
 * imap_fetch.c's, SEARCH, SORT and THREAD imap_query.c's.
 */

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "boxd.h"
#include "imapd.h"

/* ranges in one sequence set, before anything is allocated for it */
#define IMAP_SEQSET_RANGES_MAX 16384
/*
 * Messages in one APPEND (MULTIAPPEND, RFC 3502): each holds a file open
 * until the command ends, and the role counts a few descriptors a session.
 */
#define IMAP_APPEND_MAX 16
/* patterns in one LIST (RFC 5258) */
#define IMAP_LIST_PATTERNS_MAX 32

/* one message of an APPEND, its literal streamed into the store's file */
struct imap_append_msg {
	struct mail_append *ma; /* NULL: refused, the literal discarded */
	uint64_t size;
	char err[128];
	int binary; /* a literal8, or a NUL or bare CR was seen in it */
	int cr;	    /* its last octet so far was a CR */
};

struct imap_append {
	char folder[FOLDER_NAME_MAX + 1];
	struct imap_append_msg msgs[IMAP_APPEND_MAX];
	size_t n;
	uint64_t left; /* of the literal being read */
};

static int imap_mbox_root = -1;

/* the storage's mail directory, where the role is jailed */
void
imap_mbox_init(int rootfd)
{
	imap_mbox_root = rootfd;
}

/* a new user's Maildir exists before mda has delivered anything */
static int
imap_user_maildir(const char *mailbox)
{
	static const char *const subdirs[] = {"", "/cur", "/new", "/tmp"};
	char path[ENVELOPE_MAILBOX_MAX + 8], domain[ENVELOPE_MAILBOX_MAX];
	const char *slash;
	size_t i;
	int fd;

	if ((fd = openat(imap_mbox_root, mailbox,
		 O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1)
		return fd;
	if (errno != ENOENT || (slash = strchr(mailbox, '/')) == NULL)
		return -1;
	snprintf(
	    domain, sizeof(domain), "%.*s", (int)(slash - mailbox), mailbox);
	if (mkdirat(imap_mbox_root, domain, 0700) == -1 && errno != EEXIST)
		return -1;
	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", mailbox, subdirs[i]);
		if (mkdirat(imap_mbox_root, path, 0700) == -1 &&
		    errno != EEXIST)
			return -1;
	}
	return openat(
	    imap_mbox_root, mailbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* boxctl user quota: the limit goes where mda looks for it */
void
imap_mbox_quota_set(const char *mailbox, uint64_t quota)
{
	int fd;

	if ((fd = imap_user_maildir(mailbox)) == -1) {
		log_warn("%s: cannot record the quota", mailbox);
		return;
	}
	if (quota_set_limit(fd, quota, 0) == -1)
		log_warnx("%s: cannot record the quota", mailbox);
	close(fd);
}

const char *
imap_session_login(struct imap_session *s, const struct auth_login_result *res)
{
	struct imap_user *u;

	if (imap_user_session_add(res->user) == -1) {
		log_info("%s: %s has too many sessions", s->addr, res->user);
		return "[LIMIT] Too many sessions for this user";
	}
	u = xcalloc(1, sizeof(*u));
	strlcpy(u->address, res->user, sizeof(u->address));
	strlcpy(u->mailbox, res->mailbox, sizeof(u->mailbox));
	u->quota = res->quota;
	if ((u->dirfd = imap_user_maildir(u->mailbox)) == -1 ||
	    (u->mu = mail_user_get(imap_mbox_root, u->mailbox, u->quota)) ==
		NULL) {
		log_warn(
		    "%s: %s: cannot open the Maildir", s->addr, u->mailbox);
		if (u->dirfd != -1)
			close(u->dirfd);
		imap_user_session_del(u->address);
		free(u);
		return "[SERVERBUG] Cannot open the mailbox";
	}
	if (folder_ensure_special(u->dirfd) == -1)
		log_warnx("%s: %s: cannot create the special folders", s->addr,
		    u->mailbox);
	if (quota_set_limit(u->dirfd, u->quota, 0) == -1)
		log_warnx(
		    "%s: %s: cannot record the quota", s->addr, u->mailbox);
	s->user = u;
	s->state = IMAP_AUTH;
	log_info("%s: %s logged in (%s)", s->addr, u->address,
	    s->pop3 ? "pop3" : "imap");
	return NULL;
}

static void
imap_mbox_free(struct imap_session *s)
{
	if (s->mbox == NULL)
		return;
	mailbox_view_watch(s->mbox->view, NULL, NULL);
	mailbox_view_close(s->mbox->view);
	free(s->mbox->saved);
	free(s->mbox);
	s->mbox = NULL;
	if (s->state == IMAP_SELECTED)
		s->state = IMAP_AUTH;
}

void
imap_session_logout_user(struct imap_session *s)
{
	imap_mbox_free(s);
	if (s->user == NULL)
		return;
	mail_user_put(s->user->mu);
	close(s->user->dirfd);
	imap_user_session_del(s->user->address);
	free(s->user);
	s->user = NULL;
}

/*
 * The first CONDSTORE enabling command while a mailbox is selected tells
 * its HIGHESTMODSEQ, which the SELECT did not (RFC 7162 3.1).
 */
void
imap_mbox_condstore(struct imap_session *s)
{
	if (!s->condstore && s->mbox != NULL)
		imap_reply(s, "* OK [HIGHESTMODSEQ %" PRIu64 "] Highest",
		    mailbox_view_highestmodseq(s->mbox->view));
	s->condstore = 1;
}

/* ---------------------------------------------------------------- names */

int
imap_mbox_name_arg(
    struct imap_session *s, const struct imap_arg *arg, char *name, size_t len)
{
	const char *str;

	if ((str = imap_arg_astring(arg)) == NULL || strlen(str) != arg->len) {
		imap_tagged(s, "BAD", "Bad mailbox name");
		return -1;
	}
	if (strcasecmp(str, "INBOX") == 0) {
		strlcpy(name, "INBOX", len);
		return 0;
	}
	if (s->utf8) {
		if (!charset_utf8_valid(str, arg->len) ||
		    strlcpy(name, str, len) >= len) {
			imap_tagged(s, "NO", "[CANNOT] Bad mailbox name");
			return -1;
		}
	} else if (imap_utf7_to_utf8(str, name, len) == -1) {
		imap_tagged(s, "NO",
		    "[CANNOT] Mailbox name is not valid modified UTF-7");
		return -1;
	}
	/* "INBOX.x" names the child of INBOX, whatever the case */
	if (strncasecmp(name, "INBOX.", 6) == 0)
		memcpy(name, "INBOX", 5);
	return 0;
}

void
imap_mbox_name_write(
    struct imap_session *s, struct evbuffer *out, const char *name)
{
	char utf7[FOLDER_NAME_MAX * 3];

	if (!s->utf8 && imap_utf8_to_utf7(name, utf7, sizeof(utf7)) == 0)
		name = utf7;
	imap_write_astring(out, name, strlen(name), s->utf8);
}

/* ---------------------------------------------------------------- flags */

/* clang-format off */
static const struct {
	const char *name;
	uint32_t flag;
} imap_system_flags[] = {
	{ "\\Answered",	MAILDIR_FLAG_REPLIED },
	{ "\\Flagged",	MAILDIR_FLAG_FLAGGED },
	{ "\\Deleted",	MAIL_FLAG_DELETED },
	{ "\\Seen",	MAILDIR_FLAG_SEEN },
	{ "\\Draft",	MAILDIR_FLAG_DRAFT },
	/* Maildir's P: what Dovecot shows as $Forwarded */
	{ "$Forwarded",	MAILDIR_FLAG_PASSED },
};
/* clang-format on */
#define IMAP_NSYSTEM_FLAGS \
	(sizeof(imap_system_flags) / sizeof(imap_system_flags[0]))

static void
imap_flag_list_write(struct imap_session *s, struct evbuffer *out,
    uint32_t flags, int recent, int all_keywords, int star)
{
	const char *name;
	size_t i;
	int sp = 0, k;

	evbuffer_add(out, "(", 1);
	for (i = 0; i < IMAP_NSYSTEM_FLAGS; i++)
		if (flags & imap_system_flags[i].flag) {
			evbuffer_add_printf(out, "%s%s", sp ? " " : "",
			    imap_system_flags[i].name);
			sp = 1;
		}
	for (k = 0; k < KEYWORDS_MAX; k++) {
		if (!all_keywords && !(flags & MAILDIR_FLAG_KEYWORD('a' + k)))
			continue;
		if ((name = mailbox_keyword_name(s->mbox->view, k)) == NULL)
			continue;
		evbuffer_add_printf(out, "%s%s", sp ? " " : "", name);
		sp = 1;
	}
	if (recent) {
		evbuffer_add_printf(out, "%s\\Recent", sp ? " " : "");
		sp = 1;
	}
	if (star)
		evbuffer_add_printf(out, "%s\\*", sp ? " " : "");
	evbuffer_add(out, ")", 1);
}

void
imap_mbox_flags_write(
    struct imap_session *s, struct evbuffer *out, const struct mail_msg *m)
{
	uint32_t seq = mailbox_view_seq(s->mbox->view, m->uid);

	imap_flag_list_write(s, out, m->flags,
	    !s->rev2 && seq != 0 && mailbox_view_is_recent(s->mbox->view, seq),
	    0, 0);
}

/* FLAGS and PERMANENTFLAGS of the selected mailbox, its keywords noted */
static void
imap_mbox_flags_tell(struct imap_session *s)
{
	struct imap_mbox *mb = s->mbox;
	int k;

	mb->keywords_told = 0;
	mb->keywords_renamed = mailbox_keywords_renamed(mb->view);
	for (k = 0; k < KEYWORDS_MAX; k++)
		if (mailbox_keyword_name(mb->view, k) != NULL)
			mb->keywords_told |= 1U << k;
	if (s->closing)
		return;
	imap_printf(s, "* FLAGS ");
	imap_flag_list_write(s, s->out, MAIL_FLAGS_STD, 0, 1, 0);
	imap_reply(s, "%s", "");
	imap_printf(s, "* OK [PERMANENTFLAGS ");
	if (mb->readonly)
		imap_printf(s, "()");
	else
		imap_flag_list_write(s, s->out, MAIL_FLAGS_STD, 0, 1, 1);
	imap_reply(s, "] Flags permitted");
}

/*
 * A keyword new to the mailbox (this session's STORE or APPEND, or
 * another's, or another writer's new name for a letter) is told in FLAGS
 * before any FETCH has it (RFC 3501 7.2.6).
 */
static void
imap_mbox_keywords_tell(struct imap_session *s)
{
	int k;

	if (s->mbox->keywords_renamed !=
	    mailbox_keywords_renamed(s->mbox->view)) {
		imap_mbox_flags_tell(s);
		return;
	}

	for (k = 0; k < KEYWORDS_MAX; k++)
		if (!(s->mbox->keywords_told & (1U << k)) &&
		    mailbox_keyword_name(s->mbox->view, k) != NULL) {
			imap_mbox_flags_tell(s);
			return;
		}
}

static int
imap_flag_parse(struct imap_session *s, const struct imap_arg *a, int create,
    uint32_t *flags)
{
	size_t i;
	int k;

	if (a->type != IMAP_ARG_ATOM)
		return -1;
	for (i = 0; i < IMAP_NSYSTEM_FLAGS; i++)
		if (strcasecmp(a->str, imap_system_flags[i].name) == 0) {
			*flags |= imap_system_flags[i].flag;
			return 0;
		}
	if (a->str[0] == '\\') {
		/* \Recent is the server's to set */
		if (strcasecmp(a->str, "\\Recent") == 0)
			return 0;
		return -1;
	}
	if (!keyword_name_valid(a->str))
		return -1;
	if ((k = mailbox_keyword(s->mbox->view, a->str, create)) == -1)
		return create ? -2 : 0;
	*flags |= MAILDIR_FLAG_KEYWORD('a' + k);
	return 0;
}

int
imap_mbox_flags_arg(struct imap_session *s, const struct imap_arg *arg,
    int create, uint32_t *flags)
{
	const struct imap_arg *v;
	size_t n, i;
	int rv;

	*flags = 0;
	if (arg->type == IMAP_ARG_LIST) {
		v = arg->list;
		n = arg->nlist;
	} else {
		v = arg;
		n = 1;
	}
	for (i = 0; i < n; i++) {
		if ((rv = imap_flag_parse(s, &v[i], create, flags)) == -1) {
			imap_tagged(s, "BAD", "Invalid flag");
			return -1;
		}
		if (rv == -2) {
			imap_tagged(s, "NO",
			    "[LIMIT] No room for another keyword in this "
			    "mailbox");
			return -1;
		}
	}
	if (create)
		imap_mbox_keywords_tell(s);
	return 0;
}

/* ---------------------------------------------------------------- sets */

int
imap_mbox_seqs(struct imap_session *s, const char *set, int uid,
    uint32_t **seqs, size_t *n)
{
	struct mailbox_view *v = s->mbox->view;
	struct imap_seqset ss;
	uint32_t count = mailbox_view_count(v), *out = NULL, seq, u, star;
	size_t i, nout = 0, cap = 0;

	*seqs = NULL;
	*n = 0;
	if (imap_seqset_parse(set, &ss, IMAP_SEQSET_RANGES_MAX) == -1) {
		imap_tagged(s, "BAD", "Invalid sequence set");
		return -1;
	}
	if (ss.dollar) {
		for (i = 0; i < s->mbox->nsaved; i++) {
			if ((seq = mailbox_view_seq(v, s->mbox->saved[i])) == 0)
				continue;
			if (nout == cap) {
				cap = cap ? cap * 2 : 64;
				out = xreallocarray(out, cap, sizeof(*out));
			}
			out[nout++] = seq;
		}
		imap_seqset_free(&ss);
		*seqs = out;
		*n = nout;
		return 0;
	}
	if (uid)
		star = count > 0 ? mailbox_view_uid(v, count) : 0;
	else
		star = count;
	imap_seqset_resolve(&ss, star);
	for (i = 0; i < ss.n; i++) {
		if (uid) {
			seq = mailbox_view_seq_ceil(v, ss.r[i].lo);
			for (; seq <= count; seq++) {
				if ((u = mailbox_view_uid(v, seq)) > ss.r[i].hi)
					break;
				if (nout == cap) {
					cap = cap ? cap * 2 : 64;
					out = xreallocarray(
					    out, cap, sizeof(*out));
				}
				out[nout++] = seq;
			}
			continue;
		}
		/* numbers past the end name nothing, as * does when empty */
		for (seq = ss.r[i].lo > 0 ? ss.r[i].lo : 1;
		     seq <= ss.r[i].hi && seq <= count; seq++) {
			if (nout == cap) {
				cap = cap ? cap * 2 : 64;
				out = xreallocarray(out, cap, sizeof(*out));
			}
			out[nout++] = seq;
		}
	}
	imap_seqset_free(&ss);
	*seqs = out;
	*n = nout;
	return 0;
}

/* ---------------------------------------------------------------- news */

/*
 * The UIDs whose flags the current imap_mbox_sync() has told: each is
 * told once, with the flags it has now, however often others changed
 * it since the session last heard.  Else what one sync writes grows
 * with what others do, not with the mailbox.  Syncs do not nest.
 */
static struct {
	int active;
	uint32_t *slot; /* 0: free (no message has UID 0) */
	size_t cap, n;
} imap_told;

/* 1 if uid is new to the set (and now in it), 0 if told already */
static int
imap_told_add(uint32_t uid)
{
	uint32_t *old = imap_told.slot, *slot;
	size_t oldcap = imap_told.cap, cap, i, j;

	if (!imap_told.active)
		return 1;
	if (2 * (imap_told.n + 1) > imap_told.cap) {
		cap = oldcap ? oldcap * 2 : 1024;
		if ((slot = calloc(cap, sizeof(*slot))) == NULL)
			return 1;
		imap_told.slot = slot;
		imap_told.cap = cap;
		for (i = 0; i < oldcap; i++) {
			if (old[i] == 0)
				continue;
			for (j = (old[i] * 2654435761U) & (cap - 1);
			     slot[j] != 0; j = (j + 1) & (cap - 1))
				;
			slot[j] = old[i];
		}
		free(old);
	}
	for (j = (uid * 2654435761U) & (imap_told.cap - 1);
	     imap_told.slot[j] != 0; j = (j + 1) & (imap_told.cap - 1))
		if (imap_told.slot[j] == uid)
			return 0;
	imap_told.slot[j] = uid;
	imap_told.n++;
	return 1;
}

static void
imap_view_expunge(void *arg, uint32_t seq, uint32_t uid)
{
	struct imap_session *s = arg;

	if (s->quiet)
		return;
	if (s->qresync)
		imap_reply(s, "* VANISHED %" PRIu32, uid);
	else
		imap_reply(s, "* %" PRIu32 " EXPUNGE", seq);
}

static void
imap_view_flags(void *arg, uint32_t seq, const struct mail_msg *m)
{
	struct imap_session *s = arg;

	if (s->quiet || !imap_told_add(m->uid))
		return;
	imap_mbox_keywords_tell(s);
	imap_printf(s, "* %" PRIu32 " FETCH (FLAGS ", seq);
	if (!s->closing)
		imap_mbox_flags_write(s, s->out, m);
	if (s->qresync)
		imap_printf(s, " UID %" PRIu32, m->uid);
	if (s->condstore)
		imap_printf(s, " MODSEQ (%" PRIu64 ")", m->modseq);
	imap_reply(s, ")");
}

static void
imap_view_exists(void *arg, uint32_t count, uint32_t recent)
{
	struct imap_session *s = arg;

	if (s->quiet)
		return;
	imap_mbox_keywords_tell(s);
	imap_reply(s, "* %" PRIu32 " EXISTS", count);
	if (!s->rev2)
		imap_reply(s, "* %" PRIu32 " RECENT", recent);
}

static void
imap_view_lost(void *arg)
{
	struct imap_session *s = arg;

	/*
	 * As Dovecot does: a session cannot go on without its mailbox.  It
	 * hears so at once in IDLE, else in answer to its next command,
	 * which a client then reads (a close now could cost it the BYE).
	 */
	if (s->mbox != NULL && mailbox_view_gone(s->mbox->view)) {
		s->mbox->gone = 1;
		if (s->idling)
			imap_mbox_gone_bye(s);
		return;
	}
	log_info("%s: too far behind its mailbox, closed", s->addr);
	imap_bye(s, "Too much changed in the mailbox since you last asked");
}

int
imap_mbox_gone_bye(struct imap_session *s)
{
	if (s->mbox == NULL || !s->mbox->gone || s->closing)
		return 0;
	log_info("%s: mailbox %s deleted or renamed, closed", s->addr,
	    s->mbox->name);
	imap_bye(s, "Selected mailbox was deleted or renamed");
	return 1;
}

static const struct mailbox_view_ops imap_view_ops = {
    .expunge = imap_view_expunge,
    .flags = imap_view_flags,
    .exists = imap_view_exists,
    .lost = imap_view_lost,
};

void
imap_mbox_sync(struct imap_session *s, int expunges_ok)
{
	if (s->mbox == NULL || s->closing)
		return;
	/* news is told in order: it all waits while expunges must */
	if (!expunges_ok)
		return;
	imap_told.active = 1;
	mailbox_view_sync(s->mbox->view);
	free(imap_told.slot);
	memset(&imap_told, 0, sizeof(imap_told));
	/* names another writer gave, before any message is heard with one */
	if (!s->closing && !s->mbox->gone)
		imap_mbox_keywords_tell(s);
}

/* the mailbox changed while the session idles: it hears of it at once */
static void
imap_mbox_changed(void *arg)
{
	struct imap_session *s = arg;

	if (s->mbox == NULL || !s->idling || s->closing)
		return;
	/*
	 * A client that does not read would have the news pile up in its
	 * output: it waits in the mailbox until the output drains, when
	 * imap_write() sets the watch again.
	 */
	if (evbuffer_get_length(s->out) > IMAP_OUTPUT_MAX)
		return;
	imap_mbox_sync(s, 1);
	mailbox_view_watch(s->mbox->view, imap_mbox_changed, s);
}

void
imap_mbox_idle(struct imap_session *s, int on)
{
	if (s->mbox == NULL)
		return;
	if (on)
		mailbox_view_watch(s->mbox->view, imap_mbox_changed, s);
	else
		mailbox_view_watch(s->mbox->view, NULL, NULL);
}

/* ---------------------------------------------------------------- SELECT */

/* QRESYNC's (uidvalidity modseq [known-uids [(seqs uids)]]) */
struct imap_qresync {
	uint32_t uidvalidity;
	uint64_t modseq;
	const char *known_uids;
};

static int
imap_select_params(struct imap_session *s, const struct imap_arg *arg,
    struct imap_qresync *q, int *have_q)
{
	const struct imap_arg *p;
	size_t i;

	*have_q = 0;
	if (arg->type != IMAP_ARG_LIST)
		goto bad;
	for (i = 0; i < arg->nlist; i++) {
		if (imap_arg_is_atom(&arg->list[i], "CONDSTORE")) {
			s->condstore = 1;
			continue;
		}
		if (!imap_arg_is_atom(&arg->list[i], "QRESYNC") ||
		    i + 1 >= arg->nlist)
			goto bad;
		if (!s->qresync) {
			imap_tagged(s, "BAD", "ENABLE QRESYNC first");
			return -1;
		}
		p = &arg->list[++i];
		if (p->type != IMAP_ARG_LIST || p->nlist < 2 || p->nlist > 4 ||
		    imap_arg_number(&p->list[0], &q->uidvalidity) == -1 ||
		    imap_arg_number64(&p->list[1], &q->modseq) == -1)
			goto bad;
		q->known_uids = NULL;
		if (p->nlist >= 3) {
			if (p->list[2].type != IMAP_ARG_ATOM)
				goto bad;
			q->known_uids = p->list[2].str;
		}
		*have_q = 1;
	}
	return 0;
bad:
	imap_tagged(s, "BAD", "Bad SELECT parameters");
	return -1;
}

/* QRESYNC at SELECT: what vanished and what changed since modseq */
static void
imap_select_qresync(struct imap_session *s, const struct imap_qresync *q)
{
	struct mailbox_view *v = s->mbox->view;
	struct mail_uid_range *r = NULL;
	struct imap_seqset known;
	const struct mail_msg *m;
	uint32_t count = mailbox_view_count(v), seq, uid;
	size_t n = 0, i;
	int have_known = 0;

	if (q->uidvalidity != mailbox_view_uidvalidity(v))
		return;
	if (q->known_uids != NULL &&
	    imap_seqset_parse(q->known_uids, &known, IMAP_SEQSET_RANGES_MAX) ==
		0) {
		imap_seqset_resolve(&known, mailbox_view_uidnext(v));
		have_known = 1;
	}
	if (mailbox_view_vanished_since(v, q->modseq, &r, &n) != -1 && n > 0) {
		imap_printf(s, "* VANISHED (EARLIER) ");
		for (i = 0; i < n; i++) {
			if (r[i].first == r[i].last)
				imap_printf(
				    s, "%s%" PRIu32, i ? "," : "", r[i].first);
			else
				imap_printf(s, "%s%" PRIu32 ":%" PRIu32,
				    i ? "," : "", r[i].first, r[i].last);
		}
		imap_reply(s, "%s", "");
	}
	free(r);
	for (seq = 1; seq <= count; seq++) {
		if ((m = mailbox_view_msg(v, seq)) == NULL ||
		    m->modseq <= q->modseq)
			continue;
		uid = m->uid;
		if (have_known && !imap_seqset_contains(&known, uid))
			continue;
		imap_printf(
		    s, "* %" PRIu32 " FETCH (UID %" PRIu32 " FLAGS ", seq, uid);
		imap_mbox_flags_write(s, s->out, m);
		imap_reply(s, " MODSEQ (%" PRIu64 "))", m->modseq);
	}
	if (have_known)
		imap_seqset_free(&known);
}

void
imap_cmd_select(struct imap_session *s, struct imap_command *cmd)
{
	char name[FOLDER_NAME_MAX + 1], err[128];
	struct imap_qresync q;
	struct mailbox_view *v;
	struct imap_mbox *mb;
	struct evbuffer *out = s->out;
	uint32_t unseen;
	int readonly = strcmp(cmd->name, "EXAMINE") == 0, have_q = 0;

	if (cmd->nargs < 1 || cmd->nargs > 2) {
		imap_tagged(s, "BAD", "%s needs a mailbox name", cmd->name);
		return;
	}
	if (imap_mbox_name_arg(s, &cmd->args[0], name, sizeof(name)) == -1)
		return;
	if (cmd->nargs == 2 &&
	    imap_select_params(s, &cmd->args[1], &q, &have_q) == -1)
		return;
	if (s->mbox != NULL) {
		imap_mbox_free(s);
		/* RFC 7162 3.2.11, RFC 9051 7.1: the old one is closed */
		imap_reply(s, "* OK [CLOSED] Previous mailbox closed");
	}
	if ((v = mailbox_view_open(s->user->mu, name, readonly, &imap_view_ops,
		 s, err, sizeof(err))) == NULL) {
		imap_tagged(s, "NO", "%s", err);
		return;
	}
	mb = xcalloc(1, sizeof(*mb));
	mb->view = v;
	mb->readonly = readonly || mailbox_view_readonly(v);
	strlcpy(mb->name, name, sizeof(mb->name));
	s->mbox = mb;
	s->state = IMAP_SELECTED;

	imap_mbox_flags_tell(s);
	imap_reply(s, "* %" PRIu32 " EXISTS", mailbox_view_count(v));
	if (!s->rev2) {
		imap_reply(s, "* %" PRIu32 " RECENT", mailbox_view_recent(v));
		if ((unseen = mailbox_view_unseen_first(v)) != 0)
			imap_reply(s, "* OK [UNSEEN %" PRIu32 "] First unseen",
			    unseen);
	}
	imap_reply(s, "* OK [UIDVALIDITY %" PRIu32 "] UIDs valid",
	    mailbox_view_uidvalidity(v));
	imap_reply(s, "* OK [UIDNEXT %" PRIu32 "] Predicted next UID",
	    mailbox_view_uidnext(v));
	imap_reply(s, "* OK [HIGHESTMODSEQ %" PRIu64 "] Highest",
	    mailbox_view_highestmodseq(v));
	if (s->rev2) {
		imap_printf(s, "* LIST () \".\" ");
		imap_mbox_name_write(s, out, name);
		imap_reply(s, "%s", "");
	}
	if (have_q)
		imap_select_qresync(s, &q);
	imap_tagged(s, "OK", "[%s] %s completed",
	    mb->readonly ? "READ-ONLY" : "READ-WRITE", cmd->name);
}

static int
imap_mbox_noargs(struct imap_session *s, struct imap_command *cmd)
{
	if (cmd->nargs == 0)
		return 0;
	imap_tagged(s, "BAD", "No arguments expected");
	return -1;
}

void
imap_cmd_close(struct imap_session *s, struct imap_command *cmd)
{
	if (imap_mbox_noargs(s, cmd) == -1)
		return;
	/* CLOSE expunges quietly: no EXPUNGE responses (RFC 9051 6.4.1) */
	if (!s->mbox->readonly) {
		mailbox_view_watch(s->mbox->view, NULL, NULL);
		s->quiet = 1;
		if (mailbox_expunge(s->mbox->view, NULL, 0) == -1)
			log_warnx("%s: %s: expunge at CLOSE failed", s->addr,
			    s->mbox->name);
		s->quiet = 0;
	}
	imap_mbox_free(s);
	imap_tagged(s, "OK", "CLOSE completed");
}

void
imap_cmd_unselect(struct imap_session *s, struct imap_command *cmd)
{
	if (imap_mbox_noargs(s, cmd) == -1)
		return;
	imap_mbox_free(s);
	imap_tagged(s, "OK", "UNSELECT completed");
}

void
imap_cmd_check(struct imap_session *s, struct imap_command *cmd)
{
	if (imap_mbox_noargs(s, cmd) == -1)
		return;
	imap_mbox_sync(s, 1);
	imap_tagged(s, "OK", "CHECK completed");
}

/* a UID set as the store's ranges (after the view's '*') */
static int
imap_uid_ranges(struct imap_session *s, const char *set,
    struct mail_uid_range **r, size_t *n)
{
	struct mailbox_view *v = s->mbox->view;
	struct imap_seqset ss;
	uint32_t count = mailbox_view_count(v);
	size_t i;

	if (imap_seqset_parse(set, &ss, IMAP_SEQSET_RANGES_MAX) == -1 ||
	    ss.dollar) {
		if (ss.dollar)
			imap_seqset_free(&ss);
		imap_tagged(s, "BAD", "Invalid UID set");
		return -1;
	}
	imap_seqset_resolve(&ss, count > 0 ? mailbox_view_uid(v, count) : 0);
	*r = xreallocarray(NULL, ss.n > 0 ? ss.n : 1, sizeof(**r));
	for (i = 0; i < ss.n; i++) {
		(*r)[i].first = ss.r[i].lo;
		(*r)[i].last = ss.r[i].hi;
		(*r)[i].modseq = 0;
	}
	*n = ss.n;
	imap_seqset_free(&ss);
	return 0;
}

void
imap_cmd_expunge(struct imap_session *s, struct imap_command *cmd)
{
	struct mail_uid_range *r = NULL;
	size_t n = 0;

	if (s->mbox->readonly) {
		imap_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (cmd->uid) {
		if (cmd->nargs != 1 || cmd->args[0].type != IMAP_ARG_ATOM) {
			imap_tagged(s, "BAD", "UID EXPUNGE needs a UID set");
			return;
		}
		if (imap_uid_ranges(s, cmd->args[0].str, &r, &n) == -1)
			return;
	} else if (imap_mbox_noargs(s, cmd) == -1)
		return;
	/* what others did first, so that the numbers agree */
	imap_mbox_sync(s, 1);
	if (mailbox_expunge(s->mbox->view, r, cmd->uid ? n : 0) == -1) {
		free(r);
		imap_tagged(s, "NO", "[SERVERBUG] Expunge failed");
		return;
	}
	free(r);
	imap_mbox_sync(s, 1);
	imap_tagged(s, "OK", "EXPUNGE completed");
}

/* ---------------------------------------------------------------- folders */

static void
imap_folder_result(
    struct imap_session *s, enum folder_err e, const char *why, const char *ok)
{
	if (e == FOLDER_OK)
		imap_tagged(s, "OK", "%s", ok);
	else
		imap_tagged(s, "NO", "[%s] %s", folder_err_code(e),
		    why != NULL ? why : "Failed");
}

void
imap_cmd_create(struct imap_session *s, struct imap_command *cmd)
{
	char name[FOLDER_NAME_MAX + 1];
	const struct imap_arg *p;
	unsigned int special = 0, one;
	const char *why = NULL;
	size_t len, i;

	if (cmd->nargs < 1 || cmd->nargs > 2) {
		imap_tagged(s, "BAD", "CREATE needs a mailbox name");
		return;
	}
	if (imap_mbox_name_arg(s, &cmd->args[0], name, sizeof(name)) == -1)
		return;
	/* a trailing separator says a parent is meant: the same folder */
	if ((len = strlen(name)) > 1 && name[len - 1] == FOLDER_SEP)
		name[len - 1] = '\0';
	if (cmd->nargs == 2) {
		/* (USE (\Drafts ...)) of RFC 6154 */
		p = &cmd->args[1];
		if (p->type != IMAP_ARG_LIST || p->nlist != 2 ||
		    !imap_arg_is_atom(&p->list[0], "USE") ||
		    p->list[1].type != IMAP_ARG_LIST) {
			imap_tagged(s, "BAD", "Bad CREATE parameters");
			return;
		}
		for (i = 0; i < p->list[1].nlist; i++) {
			if (p->list[1].list[i].type != IMAP_ARG_ATOM ||
			    (one = folder_special_parse(
				 p->list[1].list[i].str)) == 0) {
				imap_tagged(s, "NO",
				    "[USEATTR] Unsupported special use");
				return;
			}
			special |= one;
		}
	}
	if (strcasecmp(name, "INBOX") == 0) {
		imap_tagged(s, "NO", "[ALREADYEXISTS] INBOX always exists");
		return;
	}
	imap_folder_result(s,
	    folder_create(s->user->dirfd, name, special, &why), why,
	    "CREATE completed");
}

void
imap_cmd_delete(struct imap_session *s, struct imap_command *cmd)
{
	char name[FOLDER_NAME_MAX + 1];
	const char *why = NULL;
	enum folder_err err;

	if (cmd->nargs != 1) {
		imap_tagged(s, "BAD", "DELETE needs a mailbox name");
		return;
	}
	if (imap_mbox_name_arg(s, &cmd->args[0], name, sizeof(name)) == -1)
		return;
	if (strcasecmp(name, "INBOX") == 0) {
		imap_tagged(s, "NO", "[CANNOT] INBOX cannot be deleted");
		return;
	}
	if (s->mbox != NULL && strcmp(s->mbox->name, name) == 0) {
		imap_tagged(s, "NO", "[INUSE] Mailbox is selected");
		return;
	}
	mail_user_release(s->user->mu);
	err = folder_delete(s->user->dirfd, name, &why);
	imap_folder_result(s, err, why, "DELETE completed");
	/* the sessions that have it selected are let go */
	mail_user_check_folders(s->user->mu);
}

void
imap_cmd_rename(struct imap_session *s, struct imap_command *cmd)
{
	char from[FOLDER_NAME_MAX + 1], to[FOLDER_NAME_MAX + 1];
	const char *why = NULL;
	enum folder_err err;

	if (cmd->nargs != 2) {
		imap_tagged(s, "BAD", "RENAME needs two mailbox names");
		return;
	}
	if (imap_mbox_name_arg(s, &cmd->args[0], from, sizeof(from)) == -1 ||
	    imap_mbox_name_arg(s, &cmd->args[1], to, sizeof(to)) == -1)
		return;
	mail_user_release(s->user->mu);
	err = folder_rename(s->user->dirfd, from, to, &why);
	imap_folder_result(s, err, why, "RENAME completed");
	/*
	 * Sessions on a folder that moved are let go, this one too after
	 * its OK (as Dovecot does), even when some children moved and
	 * others failed to.
	 */
	mail_user_check_folders(s->user->mu);
}

static void
imap_subscribe(struct imap_session *s, struct imap_command *cmd, int on)
{
	char name[FOLDER_NAME_MAX + 1];
	const char *why = NULL;

	if (cmd->nargs != 1) {
		imap_tagged(s, "BAD", "%s needs a mailbox name", cmd->name);
		return;
	}
	if (imap_mbox_name_arg(s, &cmd->args[0], name, sizeof(name)) == -1)
		return;
	imap_folder_result(s, folder_subscribe(s->user->dirfd, name, on, &why),
	    why, on ? "SUBSCRIBE completed" : "UNSUBSCRIBE completed");
}

void
imap_cmd_subscribe(struct imap_session *s, struct imap_command *cmd)
{
	imap_subscribe(s, cmd, 1);
}

void
imap_cmd_unsubscribe(struct imap_session *s, struct imap_command *cmd)
{
	imap_subscribe(s, cmd, 0);
}

/* STATUS items, as flags */
#define ST_MESSAGES	 0x01
#define ST_RECENT	 0x02
#define ST_UIDNEXT	 0x04
#define ST_UIDVALIDITY	 0x08
#define ST_UNSEEN	 0x10
#define ST_SIZE		 0x20
#define ST_DELETED	 0x40
#define ST_HIGHESTMODSEQ 0x80
#define ST_APPENDLIMIT	 0x100

static int
imap_status_items(const struct imap_arg *list, unsigned int *items)
{
	/* clang-format off */
	static const struct { const char *name; unsigned int bit; } names[] = {
		{ "MESSAGES", ST_MESSAGES }, { "RECENT", ST_RECENT },
		{ "UIDNEXT", ST_UIDNEXT }, { "UIDVALIDITY", ST_UIDVALIDITY },
		{ "UNSEEN", ST_UNSEEN }, { "SIZE", ST_SIZE },
		{ "DELETED", ST_DELETED },
		{ "HIGHESTMODSEQ", ST_HIGHESTMODSEQ },
		{ "APPENDLIMIT", ST_APPENDLIMIT },
	};
	/* clang-format on */
	size_t i, j;

	*items = 0;
	if (list->type != IMAP_ARG_LIST || list->nlist == 0)
		return -1;
	for (i = 0; i < list->nlist; i++) {
		for (j = 0; j < sizeof(names) / sizeof(names[0]); j++)
			if (imap_arg_is_atom(&list->list[i], names[j].name))
				break;
		if (j == sizeof(names) / sizeof(names[0]))
			return -1;
		*items |= names[j].bit;
	}
	return 0;
}

/* "* STATUS name (...)": 0, or -1 with the error in err */
static int
imap_status_write(struct imap_session *s, const char *name, unsigned int items,
    char *err, size_t errsz)
{
	struct mailbox_status st;
	const char *sp = "";

	if (mailbox_status(s->user->mu, name, &st, err, errsz) == -1)
		return -1;
	imap_printf(s, "* STATUS ");
	if (!s->closing)
		imap_mbox_name_write(s, s->out, name);
	imap_printf(s, " (");
#define ST_ITEM(bit, fmt, val)                             \
	do {                                               \
		if (items & (bit)) {                       \
			imap_printf(s, "%s" fmt, sp, val); \
			sp = " ";                          \
		}                                          \
	} while (0)
	ST_ITEM(ST_MESSAGES, "MESSAGES %" PRIu32, st.messages);
	ST_ITEM(ST_RECENT, "RECENT %" PRIu32, st.recent);
	ST_ITEM(ST_UIDNEXT, "UIDNEXT %" PRIu32, st.uidnext);
	ST_ITEM(ST_UIDVALIDITY, "UIDVALIDITY %" PRIu32, st.uidvalidity);
	ST_ITEM(ST_UNSEEN, "UNSEEN %" PRIu32, st.unseen);
	ST_ITEM(ST_SIZE, "SIZE %" PRIu64, st.size);
	ST_ITEM(ST_DELETED, "DELETED %" PRIu32, st.deleted);
	ST_ITEM(ST_HIGHESTMODSEQ, "HIGHESTMODSEQ %" PRIu64, st.highestmodseq);
	ST_ITEM(ST_APPENDLIMIT, "APPENDLIMIT %" PRIu64,
	    child->conf.max_message_size);
#undef ST_ITEM
	imap_reply(s, ")");
	return 0;
}

void
imap_cmd_status(struct imap_session *s, struct imap_command *cmd)
{
	char name[FOLDER_NAME_MAX + 1], err[128];
	unsigned int items;

	if (cmd->nargs != 2) {
		imap_tagged(s, "BAD", "STATUS needs a mailbox and items");
		return;
	}
	if (imap_mbox_name_arg(s, &cmd->args[0], name, sizeof(name)) == -1)
		return;
	if (imap_status_items(&cmd->args[1], &items) == -1) {
		imap_tagged(s, "BAD", "Bad STATUS items");
		return;
	}
	if (imap_status_write(s, name, items, err, sizeof(err)) == -1) {
		imap_tagged(s, "NO", "%s", err);
		return;
	}
	imap_mbox_sync(s, 1);
	imap_tagged(s, "OK", "STATUS completed");
}

struct imap_list_ctx {
	struct imap_session *s;
	int lsub;
	unsigned int status_items; /* LIST-STATUS */
	int childinfo;
};

static int
imap_list_one(const char *name, unsigned int attrs, void *arg)
{
	struct imap_list_ctx *lc = arg;
	struct imap_session *s = lc->s;
	char words[256], err[128];

	if (folder_attrs_format(attrs & ~FOLDER_CHILDINFO_SUBSCRIBED, words,
		sizeof(words)) == -1)
		words[0] = '\0';
	imap_printf(s, "* %s (%s) \".\" ", lc->lsub ? "LSUB" : "LIST", words);
	if (!s->closing)
		imap_mbox_name_write(s, s->out, name);
	if (attrs & FOLDER_CHILDINFO_SUBSCRIBED)
		imap_printf(s, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	imap_reply(s, "%s", "");
	if (lc->status_items != 0 &&
	    !(attrs & (FOLDER_NOSELECT | FOLDER_NONEXISTENT)) &&
	    imap_status_write(s, name, lc->status_items, err, sizeof(err)) ==
		-1)
		log_debug("%s: LIST-STATUS %s: %s", s->addr, name, err);
	return 0;
}

static int
imap_list_options(const struct imap_arg *list, const char *const *names,
    const unsigned int *bits, size_t n, unsigned int *opts)
{
	size_t i, j;

	for (i = 0; i < list->nlist; i++) {
		for (j = 0; j < n; j++)
			if (imap_arg_is_atom(&list->list[i], names[j]))
				break;
		if (j == n)
			return -1;
		*opts |= bits[j];
	}
	return 0;
}

static void
imap_list(struct imap_session *s, struct imap_command *cmd, int lsub)
{
	static const char *const sel_names[] = {
	    "SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"};
	static const unsigned int sel_bits[] = {FOLDER_SEL_SUBSCRIBED,
	    FOLDER_SEL_REMOTE, FOLDER_SEL_RECURSIVEMATCH,
	    FOLDER_SEL_SPECIALUSE};
	static const char *const ret_names[] = {
	    "CHILDREN", "SUBSCRIBED", "SPECIAL-USE"};
	static const unsigned int ret_bits[] = {
	    FOLDER_RET_CHILDREN, FOLDER_RET_SUBSCRIBED, FOLDER_RET_SPECIALUSE};
	char ref[FOLDER_NAME_MAX + 1];
	char pats[IMAP_LIST_PATTERNS_MAX][FOLDER_PATTERN_MAX + 1];
	const char *pp[IMAP_LIST_PATTERNS_MAX], *str, *why = NULL;
	struct imap_list_ctx lc = {s, lsub, 0, 0};
	const struct imap_arg *a = cmd->args, *pat, *ret;
	size_t n = cmd->nargs, npat, np, i, k;
	unsigned int opts = lsub ? FOLDER_LSUB : 0;

	/* LIST (selection) ref pattern(s) RETURN (options) */
	if (!lsub && n > 0 && a[0].type == IMAP_ARG_LIST) {
		if (imap_list_options(&a[0], sel_names, sel_bits, 4, &opts) ==
		    -1)
			goto bad;
		/* RECURSIVEMATCH alone is not allowed (RFC 5258 3) */
		if ((opts & FOLDER_SEL_RECURSIVEMATCH) &&
		    !(opts & (FOLDER_SEL_SUBSCRIBED | FOLDER_SEL_SPECIALUSE)))
			goto bad;
		a++;
		n--;
	}
	if (n < 2)
		goto bad;
	if ((str = imap_arg_astring(&a[0])) == NULL)
		goto bad;
	if (s->utf8 || str[0] == '\0')
		strlcpy(ref, str, sizeof(ref));
	else if (imap_utf7_to_utf8(str, ref, sizeof(ref)) == -1)
		goto bad;
	pat = &a[1];
	if (!lsub && pat->type == IMAP_ARG_LIST) {
		npat = pat->nlist;
		pat = pat->list;
	} else
		npat = 1;
	if (npat == 0 || npat > IMAP_LIST_PATTERNS_MAX)
		goto bad;
	for (i = np = 0; i < npat; i++) {
		if ((str = imap_arg_list_mailbox(&pat[i])) == NULL)
			goto bad;
		if (s->utf8)
			strlcpy(pats[np], str, sizeof(pats[np]));
		else if (imap_utf7_to_utf8(str, pats[np], sizeof(pats[np])) ==
		    -1)
			continue; /* not modified UTF-7: names no folder */
		pp[np] = pats[np];
		np++;
	}
	a += 2;
	n -= 2;
	if (n > 0) {
		if (lsub || n != 2 || !imap_arg_is_atom(&a[0], "RETURN") ||
		    a[1].type != IMAP_ARG_LIST)
			goto bad;
		ret = &a[1];
		for (i = 0; i < ret->nlist; i++) {
			if (imap_arg_is_atom(&ret->list[i], "STATUS") &&
			    i + 1 < ret->nlist) {
				if (imap_status_items(&ret->list[i + 1],
					&lc.status_items) == -1)
					goto bad;
				i++;
				continue;
			}
			for (k = 0; k < 3; k++)
				if (imap_arg_is_atom(
					&ret->list[i], ret_names[k]))
					break;
			if (k == 3)
				goto bad;
			opts |= ret_bits[k];
		}
	}
	/* LIST "" "": the hierarchy separator and the root */
	if (npat == 1 && np == 1 && pats[0][0] == '\0') {
		imap_reply(
		    s, "* %s (\\Noselect) \".\" \"\"", lsub ? "LSUB" : "LIST");
		imap_tagged(s, "OK", "%s completed", cmd->name);
		return;
	}
	if (np > 0 &&
	    folder_list(s->user->dirfd, ref, pp, np, opts, imap_list_one, &lc,
		&why) == -1) {
		imap_tagged(s, "NO", "%s", why != NULL ? why : "LIST failed");
		return;
	}
	imap_mbox_sync(s, 1);
	imap_tagged(s, "OK", "%s completed", cmd->name);
	return;
bad:
	imap_tagged(s, "BAD", "Bad %s arguments", cmd->name);
}

void
imap_cmd_list(struct imap_session *s, struct imap_command *cmd)
{
	imap_list(s, cmd, 0);
}

void
imap_cmd_lsub(struct imap_session *s, struct imap_command *cmd)
{
	imap_list(s, cmd, 1);
}

/* ---------------------------------------------------------------- quota */

static int
imap_quota_write(struct imap_session *s)
{
	struct quota_usage q;

	if (s->user->quota == 0 || quota_get(s->user->dirfd, &q) == -1)
		return -1;
	imap_reply(s,
	    "* QUOTA \"\" (STORAGE %" PRIu64 " %" PRIu64 " MESSAGE %" PRIu64
	    " %" PRIu64 ")",
	    (q.bytes + 1023) / 1024, s->user->quota / 1024, q.messages,
	    q.limit_messages > 0 ? q.limit_messages : UINT32_MAX);
	return 0;
}

void
imap_cmd_getquotaroot(struct imap_session *s, struct imap_command *cmd)
{
	char name[FOLDER_NAME_MAX + 1];

	if (cmd->nargs != 1) {
		imap_tagged(s, "BAD", "GETQUOTAROOT needs a mailbox name");
		return;
	}
	if (imap_mbox_name_arg(s, &cmd->args[0], name, sizeof(name)) == -1)
		return;
	imap_printf(s, "* QUOTAROOT ");
	if (!s->closing)
		imap_mbox_name_write(s, s->out, name);
	imap_reply(s, "%s", s->user->quota > 0 ? " \"\"" : "");
	imap_quota_write(s);
	imap_tagged(s, "OK", "GETQUOTAROOT completed");
}

void
imap_cmd_getquota(struct imap_session *s, struct imap_command *cmd)
{
	const char *root;

	if (cmd->nargs != 1 ||
	    (root = imap_arg_astring(&cmd->args[0])) == NULL) {
		imap_tagged(s, "BAD", "GETQUOTA needs a quota root");
		return;
	}
	if (root[0] != '\0' || imap_quota_write(s) == -1) {
		imap_tagged(s, "NO", "[NONEXISTENT] No such quota root");
		return;
	}
	imap_tagged(s, "OK", "GETQUOTA completed");
}

void
imap_cmd_setquota(struct imap_session *s, struct imap_command *cmd)
{
	imap_tagged(s, "NO", "[NOPERM] Quotas are set with boxctl user quota");
}

/* ---------------------------------------------------------------- APPEND */

/*
 * The command so far (in s->cmd) ends with a literal's announcement: is
 * it APPEND's message?  The mailbox name may be a literal too; every
 * literal after it is a message (flags are a list, the date is quoted).
 * If so, the message goes to a file of the store, not into memory.
 */
int
imap_append_literal(struct imap_session *s)
{
	struct imap_command cmd;
	struct imap_append *ap;
	struct imap_append_msg *am;
	struct evbuffer *nb;
	size_t len, cut, prefix;
	char *buf, err[128];
	int rv = 0, binary = 0;

	if (s->state == IMAP_NOTAUTH || s->user == NULL)
		return 0;
	len = evbuffer_get_length(s->cmd);
	if (len < 2 || (buf = (char *)evbuffer_pullup(s->cmd, -1)) == NULL)
		return 0;
	/* the line's end, then back over the marker to the space before it */
	cut = len - 2;
	while (cut > 0 && buf[cut - 1] != '{')
		cut--;
	if (cut == 0)
		return 0;
	cut--;
	if (cut > 0 && buf[cut - 1] == '~') {
		cut--;
		binary = 1;
	}
	/* RFC 6855 3: the message may come as UTF8 (literal) */
	prefix = cut - 1;
	if (cut > 6 && buf[cut - 1] == '(' &&
	    strncasecmp(buf + cut - 7, " UTF8 ", 6) == 0)
		prefix = cut - 7;
	else if (cut == 0 || buf[cut - 1] != ' ')
		return 0;
	memset(&cmd, 0, sizeof(cmd));
	if (imap_command_parse(&cmd, buf, prefix, err, sizeof(err)) == -1 ||
	    strcmp(cmd.name, "APPEND") != 0 || cmd.uid || cmd.nargs < 1)
		goto done;
	if ((ap = s->append) == NULL) {
		ap = s->append = xcalloc(1, sizeof(*ap));
		if (imap_mbox_name_arg(s, &cmd.args[0], ap->folder,
			sizeof(ap->folder)) == -1) {
			/* answered at the end, when the command is whole */
			ap->folder[0] = '\0';
		}
	}
	if (ap->n == IMAP_APPEND_MAX)
		goto done;
	am = &ap->msgs[ap->n++];
	am->binary = binary;
	if (ap->folder[0] != '\0' &&
	    (am->ma = mailbox_append_begin(
		 s->user->mu, ap->folder, am->err, sizeof(am->err))) == NULL &&
	    am->err[0] == '\0')
		strlcpy(am->err, "[SERVERBUG] Cannot append", sizeof(am->err));
	/* the marker becomes an empty literal: the parse sees the message */
	if ((nb = evbuffer_new()) == NULL) {
		rv = -1;
		goto done;
	}
	evbuffer_add(nb, buf, cut);
	evbuffer_add(nb, "{0}\r\n", 5);
	evbuffer_drain(s->cmd, len);
	evbuffer_add_buffer(s->cmd, nb);
	evbuffer_free(nb);
	s->append_streaming = 1;
	rv = 1;
done:
	imap_command_free(&cmd);
	return rv;
}

/* the size of the message literal just announced, once it is known */
void
imap_append_size(struct imap_session *s, uint64_t size)
{
	struct imap_append *ap = s->append;
	struct imap_append_msg *am;
	uint64_t total = 0;
	size_t i;

	if (ap == NULL || ap->n == 0)
		return;
	am = &ap->msgs[ap->n - 1];
	am->size = size;
	ap->left = size;
	/* over quota: refused now, not once it has filled the disk */
	for (i = 0; i < ap->n; i++)
		total += ap->msgs[i].size;
	if (am->ma != NULL && quota_check(s->user->dirfd, total, ap->n) == 1) {
		mailbox_append_abort(am->ma);
		am->ma = NULL;
		strlcpy(am->err, "[OVERQUOTA] Quota exceeded", sizeof(am->err));
	}
	if (size == 0)
		s->append_streaming = 0;
}

/*
 * Does the message hold a NUL or a bare CR?  Then it is binary, and is
 * stored re-encoded (imap_binary.c).  Looked for as it streams by, so
 * that a text message is not read again.
 */
static void
imap_append_scan(struct imap_append_msg *am, struct evbuffer *in, size_t n)
{
	struct evbuffer_iovec v[16];
	struct evbuffer_ptr ptr;
	const char *p, *cr;
	size_t len, off;
	int i, nv;

	if (evbuffer_ptr_set(in, &ptr, 0, EVBUFFER_PTR_SET) == -1)
		return;
	while (n > 0 && !am->binary) {
		nv = evbuffer_peek(in, n, &ptr, v, 16);
		if (nv <= 0)
			return;
		for (i = 0; i < nv && i < 16 && n > 0 && !am->binary; i++) {
			p = v[i].iov_base;
			len = v[i].iov_len < n ? v[i].iov_len : n;
			n -= len;
			if (evbuffer_ptr_set(in, &ptr, len, EVBUFFER_PTR_ADD) ==
			    -1)
				n = 0;
			if (len == 0)
				continue;
			if ((am->cr && p[0] != '\n') ||
			    memchr(p, '\0', len) != NULL) {
				am->binary = 1;
				break;
			}
			off = 0;
			while (
			    (cr = memchr(p + off, '\r', len - off)) != NULL) {
				off = cr - p + 1;
				if (off < len && p[off] != '\n') {
					am->binary = 1;
					break;
				}
			}
			am->cr = p[len - 1] == '\r';
		}
	}
}

int
imap_append_input(struct imap_session *s, struct evbuffer *in, size_t n)
{
	struct imap_append *ap = s->append;
	struct imap_append_msg *am = &ap->msgs[ap->n - 1];
	size_t left = n;
	int fd, w;

	if (am->ma != NULL && !am->binary)
		imap_append_scan(am, in, n);
	while (am->ma != NULL && left > 0) {
		fd = mailbox_append_fd(am->ma);
		if ((w = evbuffer_write_atmost(in, fd, left)) > 0) {
			left -= (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		log_warn("%s: APPEND write", s->addr);
		strlcpy(am->err,
		    w == -1 && (errno == ENOSPC || errno == EDQUOT)
			? "[OVERQUOTA] No space left"
			: "[SERVERBUG] Cannot write the message",
		    sizeof(am->err));
		mailbox_append_abort(am->ma);
		am->ma = NULL;
	}
	/* a refused message is read and dropped: the client sends it anyway */
	evbuffer_drain(in, left);
	ap->left -= n;
	if (ap->left == 0)
		s->append_streaming = 0;
	return 0;
}

void
imap_append_cleanup(struct imap_session *s)
{
	size_t i;

	if (s->append == NULL)
		return;
	for (i = 0; i < s->append->n; i++)
		if (s->append->msgs[i].ma != NULL)
			mailbox_append_abort(s->append->msgs[i].ma);
	free(s->append);
	s->append = NULL;
	s->append_streaming = 0;
}

/* INTERNALDATE's date-time: "dd-Mon-yyyy hh:mm:ss +zzzz" */
static int
imap_date_time_parse(const char *str, int64_t *when)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;
	char mon[4], sign;
	int day, year, hh, mm, ss, zone, n = 0;
	const char *m;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(str, "%2d-%3s-%4d %2d:%2d:%2d %c%4d%n", &day, mon, &year,
		&hh, &mm, &ss, &sign, &zone, &n) != 8 ||
	    str[n] != '\0' || (sign != '+' && sign != '-'))
		return -1;
	if ((m = strcasestr(months, mon)) == NULL || (m - months) % 3 != 0 ||
	    day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 ||
	    year < 1900 || zone % 100 > 59)
		return -1;
	tm.tm_mday = day;
	tm.tm_mon = (int)(m - months) / 3;
	tm.tm_year = year - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	*when = (int64_t)timegm(&tm) -
	    (sign == '-' ? -1 : 1) * ((zone / 100) * 3600 + (zone % 100) * 60);
	return 0;
}

/* the flags of one APPEND message: 0, or -1 (BAD) */
static int
imap_append_flags(
    const struct imap_arg *list, uint32_t *flags, const char **kw, size_t *nkw)
{
	const struct imap_arg *f;
	size_t i, j;

	*flags = 0;
	*nkw = 0;
	for (i = 0; i < list->nlist; i++) {
		f = &list->list[i];
		if (f->type != IMAP_ARG_ATOM)
			return -1;
		for (j = 0; j < IMAP_NSYSTEM_FLAGS; j++)
			if (strcasecmp(f->str, imap_system_flags[j].name) == 0)
				break;
		if (j < IMAP_NSYSTEM_FLAGS)
			*flags |= imap_system_flags[j].flag;
		else if (strcasecmp(f->str, "\\Recent") == 0)
			continue;
		else if (f->str[0] == '\\' || !keyword_name_valid(f->str))
			return -1;
		else if (kw != NULL && *nkw < KEYWORDS_MAX)
			kw[(*nkw)++] = f->str;
	}
	return 0;
}

/*
 * APPEND's arguments after the mailbox, message by message: [flags]
 * [date-time] literal.  The index of each one's flags (0 none) and its
 * date; -1 if they do not add up to the messages read.
 */
static int
imap_append_args(struct imap_command *cmd, size_t nmsgs, int utf8,
    size_t *flagsat, int64_t *dates)
{
	const struct imap_arg *a = cmd->args, *l;
	uint32_t flags;
	size_t i = 1, m, nkw;

	for (m = 0; m < nmsgs; m++) {
		flagsat[m] = 0;
		dates[m] = 0;
		if (i < cmd->nargs && a[i].type == IMAP_ARG_LIST) {
			if (imap_append_flags(&a[i], &flags, NULL, &nkw) == -1)
				return -1;
			flagsat[m] = i++;
		}
		if (i < cmd->nargs && a[i].type == IMAP_ARG_STRING &&
		    a[i].literal == 0) {
			if (imap_date_time_parse(a[i].str, &dates[m]) == -1)
				return -1;
			i++;
		}
		/* RFC 6855 4: UTF8 (literal), once UTF8=ACCEPT is enabled */
		if (utf8 && i + 1 < cmd->nargs && a[i].type == IMAP_ARG_ATOM &&
		    strcasecmp(a[i].str, "UTF8") == 0 &&
		    a[i + 1].type == IMAP_ARG_LIST && a[i + 1].nlist == 1) {
			l = &a[i + 1].list[0];
			if (l->type != IMAP_ARG_STRING || l->literal == 0)
				return -1;
			i += 2;
			continue;
		}
		if (i >= cmd->nargs || a[i].type != IMAP_ARG_STRING ||
		    a[i].literal == 0)
			return -1;
		i++;
	}
	return i == cmd->nargs ? 0 : -1;
}

/*
 * The NO of an APPEND or COPY to a mailbox that is not there says that a
 * CREATE would make one (RFC 3501 6.3.11, 6.4.7).
 */
static void
imap_mbox_trycreate(
    struct imap_session *s, const char *name, char *err, size_t errsz)
{
	char dir[MAILDIR_NAME_MAX + 2];
	struct stat st;

	if (folder_dir(name, dir, sizeof(dir)) == 0 &&
	    fstatat(s->user->dirfd, dir, &st, AT_SYMLINK_NOFOLLOW) == -1 &&
	    errno == ENOENT)
		strlcpy(err, "[TRYCREATE] No such mailbox", errsz);
}

/*
 * A binary message is written anew with its binary parts in base64, to
 * a second file of the store; the first goes.  0, or -1 with am->err.
 */
static int
imap_append_recode(
    struct imap_session *s, struct imap_append *ap, struct imap_append_msg *am)
{
	struct mail_append *ma;
	struct evbuffer *b;
	struct stat st;
	void *addr;
	int fd, rv, w;

	fd = mailbox_append_fd(am->ma);
	if (fstat(fd, &st) == -1 || st.st_size <= 0 ||
	    (uintmax_t)st.st_size > SIZE_MAX)
		return 0;
	if ((b = evbuffer_new()) == NULL) {
		strlcpy(am->err, "[SERVERBUG] Out of memory", sizeof(am->err));
		return -1;
	}
	if ((addr = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) ==
	    MAP_FAILED) {
		log_warn("%s: APPEND mmap", s->addr);
		evbuffer_free(b);
		strlcpy(am->err, "[SERVERBUG] Cannot read the message",
		    sizeof(am->err));
		return -1;
	}
	rv = imap_binary_recode(addr, st.st_size, b);
	munmap(addr, st.st_size);
	if (rv <= 0) {
		evbuffer_free(b);
		if (rv == 0)
			return 0;
		strlcpy(am->err, "[SERVERBUG] Out of memory", sizeof(am->err));
		return -1;
	}
	if ((ma = mailbox_append_begin(
		 s->user->mu, ap->folder, am->err, sizeof(am->err))) == NULL) {
		evbuffer_free(b);
		if (am->err[0] == '\0')
			strlcpy(am->err, "[SERVERBUG] Cannot append",
			    sizeof(am->err));
		return -1;
	}
	am->size = evbuffer_get_length(b);
	while (evbuffer_get_length(b) > 0) {
		if ((w = evbuffer_write(b, mailbox_append_fd(ma))) > 0 ||
		    (w == -1 && errno == EINTR))
			continue;
		log_warn("%s: APPEND write", s->addr);
		strlcpy(am->err,
		    w == -1 && (errno == ENOSPC || errno == EDQUOT)
			? "[OVERQUOTA] No space left"
			: "[SERVERBUG] Cannot write the message",
		    sizeof(am->err));
		evbuffer_free(b);
		mailbox_append_abort(ma);
		return -1;
	}
	evbuffer_free(b);
	mailbox_append_abort(am->ma);
	am->ma = ma;
	return 0;
}

void
imap_cmd_append(struct imap_session *s, struct imap_command *cmd)
{
	struct imap_append *ap = s->append;
	const char *kw[KEYWORDS_MAX];
	uint32_t flags, uidvalidity = 0, *uids = NULL;
	size_t *flagsat = NULL, i, nkw;
	int64_t *dates = NULL;
	uint64_t total = 0;
	char err[128];

	if (ap == NULL) {
		imap_tagged(s, "BAD", "APPEND needs a mailbox and a message");
		return;
	}
	if (ap->folder[0] == '\0') {
		imap_tagged(s, "NO", "[CANNOT] Bad mailbox name");
		return;
	}
	flagsat = xreallocarray(NULL, ap->n, sizeof(*flagsat));
	dates = xreallocarray(NULL, ap->n, sizeof(*dates));
	uids = xreallocarray(NULL, ap->n, sizeof(*uids));
	/* every message is checked before any is committed */
	if (imap_append_args(cmd, ap->n, s->utf8, flagsat, dates) == -1) {
		imap_tagged(s, "BAD", "Bad APPEND arguments");
		goto out;
	}
	for (i = 0; i < ap->n; i++) {
		if (ap->msgs[i].ma == NULL) {
			imap_mbox_trycreate(s, ap->folder, ap->msgs[i].err,
			    sizeof(ap->msgs[i].err));
			imap_tagged(s, "NO", "%s",
			    ap->msgs[i].err[0] != '\0'
				? ap->msgs[i].err
				: "[TRYCREATE] No such mailbox");
			goto out;
		}
		if ((ap->msgs[i].binary || ap->msgs[i].cr) &&
		    imap_append_recode(s, ap, &ap->msgs[i]) == -1) {
			imap_tagged(s, "NO", "%s", ap->msgs[i].err);
			goto out;
		}
		total += ap->msgs[i].size;
	}
	if (quota_check(s->user->dirfd, total, ap->n) == 1) {
		imap_tagged(s, "NO", "[OVERQUOTA] Quota exceeded");
		goto out;
	}
	for (i = 0; i < ap->n; i++) {
		flags = 0;
		nkw = 0;
		if (flagsat[i] != 0)
			imap_append_flags(
			    &cmd->args[flagsat[i]], &flags, kw, &nkw);
		err[0] = '\0';
		if (mailbox_append_commit(ap->msgs[i].ma, flags, kw, nkw,
			dates[i] != 0 ? dates[i] : (int64_t)time(NULL),
			&uidvalidity, &uids[i], err, sizeof(err)) == -1) {
			ap->msgs[i].ma = NULL;
			imap_tagged(s, "NO", "%s",
			    err[0] != '\0' ? err : "[SERVERBUG] APPEND failed");
			goto out;
		}
		ap->msgs[i].ma = NULL;
	}
	if (quota_add(s->user->dirfd, (int64_t)total, (int64_t)ap->n) == -1)
		log_warnx("%s: quota update failed", s->addr);
	imap_mbox_sync(s, 1);
	imap_printf(s, "%s OK [APPENDUID %" PRIu32 " ", s->tag, uidvalidity);
	if (!s->closing)
		imap_seqset_write(s->out, uids, ap->n);
	imap_reply(s, "] APPEND completed");
out:
	free(flagsat);
	free(dates);
	free(uids);
}

/* ---------------------------------------------------------------- COPY */

static void
imap_copy(struct imap_session *s, struct imap_command *cmd, int move)
{
	char name[FOLDER_NAME_MAX + 1], err[128] = "";
	uint32_t *seqs = NULL, *src = NULL, *dst = NULL, uidvalidity;
	struct evbuffer *held;
	size_t nseqs, n = 0;
	uint64_t total = 0, size;
	size_t i;

	if (cmd->nargs != 2 || cmd->args[0].type != IMAP_ARG_ATOM) {
		imap_tagged(
		    s, "BAD", "%s needs a set and a mailbox", cmd->name);
		return;
	}
	if (move && s->mbox->readonly) {
		imap_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (imap_mbox_name_arg(s, &cmd->args[1], name, sizeof(name)) == -1 ||
	    imap_mbox_seqs(s, cmd->args[0].str, cmd->uid, &seqs, &nseqs) == -1)
		return;
	if (nseqs == 0) {
		free(seqs);
		imap_mbox_sync(s, cmd->uid);
		imap_tagged(s, "OK", "%s completed, nothing to do", cmd->name);
		return;
	}
	for (i = 0; i < nseqs; i++)
		if (mailbox_msg_size(s->mbox->view, seqs[i], &size) == 0)
			total += size;
	/* a MOVE takes no more room: a full user may still clean up */
	if (!move && quota_check(s->user->dirfd, total, nseqs) == 1) {
		free(seqs);
		imap_tagged(s, "NO", "[OVERQUOTA] Quota exceeded");
		return;
	}
	/* MOVE's expunges follow its COPYUID (RFC 6851 4.3): held back */
	held = s->out;
	if (move && (s->out = evbuffer_new()) == NULL) {
		s->out = held;
		free(seqs);
		imap_tagged(s, "NO", "[SERVERBUG] Out of memory");
		return;
	}
	if (mailbox_copy(s->mbox->view, seqs, nseqs, name, move, &uidvalidity,
		&src, &dst, &n, err, sizeof(err)) == -1) {
		if (move) {
			evbuffer_add_buffer(held, s->out);
			evbuffer_free(s->out);
			s->out = held;
		}
		free(seqs);
		imap_mbox_trycreate(s, name, err, sizeof(err));
		imap_tagged(s, "NO", "%s",
		    err[0] != '\0' ? err : "[SERVERBUG] Copy failed");
		return;
	}
	free(seqs);
	if (!move)
		quota_add(s->user->dirfd, (int64_t)total, (int64_t)n);
	if (move) {
		struct evbuffer *expunges = s->out;

		s->out = held;
		if (n > 0) {
			imap_printf(
			    s, "* OK [COPYUID %" PRIu32 " ", uidvalidity);
			imap_seqset_write(s->out, src, n);
			imap_printf(s, " ");
			imap_seqset_write(s->out, dst, n);
			imap_reply(s, "] Moved");
		}
		evbuffer_add_buffer(s->out, expunges);
		evbuffer_free(expunges);
		imap_mbox_sync(s, 1);
		imap_tagged(s, "OK", "MOVE completed");
	} else {
		imap_mbox_sync(s, cmd->uid);
		if (n > 0) {
			imap_printf(s, "%s OK [COPYUID %" PRIu32 " ", s->tag,
			    uidvalidity);
			imap_seqset_write(s->out, src, n);
			imap_printf(s, " ");
			imap_seqset_write(s->out, dst, n);
			imap_reply(s, "] COPY completed");
		} else
			imap_tagged(s, "OK", "COPY completed");
	}
	free(src);
	free(dst);
}

void
imap_cmd_copy(struct imap_session *s, struct imap_command *cmd)
{
	imap_copy(s, cmd, 0);
}

void
imap_cmd_move(struct imap_session *s, struct imap_command *cmd)
{
	imap_copy(s, cmd, 1);
}
