/*
 * imapd/mailbox.c over real Maildirs in a temporary directory: UIDs that
 * survive other writers (mda, renames, rm) and restarts, a lost or
 * damaged index rebuilt without losing a flag, Dovecot's uidlist and
 * keywords honoured, and two sessions on one mailbox hearing each
 * other's changes in order with the right sequence numbers.
 */

#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <dirent.h>
#include <event2/event.h>
#include <time.h>

#include "store_test.h"
#include "test.h"

#define BOX "example.test/alice"

/* what a view's callbacks heard, one line each */
struct heard {
	char text[8192];
};

static void
heard_add(struct heard *h, const char *line)
{
	strlcat(h->text, line, sizeof(h->text));
	strlcat(h->text, "\n", sizeof(h->text));
}

static void
cb_expunge(void *arg, uint32_t seq, uint32_t uid)
{
	char line[64];

	snprintf(line, sizeof(line), "expunge %u uid %u", seq, uid);
	heard_add(arg, line);
}

static void
cb_flags(void *arg, uint32_t seq, const struct mail_msg *m)
{
	char line[64];

	snprintf(
	    line, sizeof(line), "flags %u uid %u %#x", seq, m->uid, m->flags);
	heard_add(arg, line);
}

static void
cb_exists(void *arg, uint32_t count, uint32_t recent)
{
	char line[64];

	snprintf(line, sizeof(line), "exists %u recent %u", count, recent);
	heard_add(arg, line);
}

static const struct mailbox_view_ops ops = {
    .expunge = cb_expunge, .flags = cb_flags, .exists = cb_exists};

static struct mailbox_view *
open_view(struct mail_user *u, const char *folder, int ro, struct heard *h)
{
	char err[128];
	struct mailbox_view *v;

	memset(h, 0, sizeof(*h));
	v = mailbox_view_open(u, folder, ro, &ops, h, err, sizeof(err));
	if (v == NULL)
		printf("# open %s: %s\n", folder, err);
	return v;
}

/* the name of the one file in DIR/SUB whose name starts with base */
static int
find_file(
    const char *dir, const char *sub, const char *base, char *out, size_t len)
{
	struct dirent *de;
	DIR *d;
	int found = 0;

	if ((d = opendir(store_path("%s/%s", dir, sub))) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, base, strlen(base)) == 0) {
			strlcpy(out, de->d_name, len);
			found++;
		}
	closedir(d);
	return found == 1;
}

static void
test_deliveries(void)
{
	char n1[256], n2[256], n3[256], n4[256], cur[256], to[PATH_MAX * 2];
	struct mailbox_view *v;
	struct mail_user *u;
	struct heard h;
	uint32_t uidv;

	store_setup();
	store_maildir(BOX);
	store_deliver(BOX, 1, n1, sizeof(n1));
	store_deliver(BOX, 2, n2, sizeof(n2));
	store_deliver(BOX, 3, n3, sizeof(n3));
	u = mail_user_get(store_rootfd, BOX, 0);
	CHECK("user", u != NULL);
	v = open_view(u, "INBOX", 0, &h);
	CHECK("INBOX opens", v != NULL);
	if (v == NULL)
		return;
	CHECK("three messages", mailbox_view_count(v) == 3);
	CHECK("UIDs 1 to 3 in delivery order",
	    mailbox_view_uid(v, 1) == 1 && mailbox_view_uid(v, 3) == 3);
	CHECK("all recent to the first session", mailbox_view_recent(v) == 3);
	CHECK("UIDNEXT 4", mailbox_view_uidnext(v) == 4);
	CHECK("moved to cur/ with :2,",
	    find_file(BOX, "cur", n1, cur, sizeof(cur)) &&
		strstr(cur, ":2,") != NULL && !store_exists(BOX, "new", n1));
	uidv = mailbox_view_uidvalidity(v);

	store_deliver(BOX, 4, n4, sizeof(n4));
	mailbox_view_sync(v);
	CHECK("a delivery is EXISTS 4",
	    strcmp(h.text, "exists 4 recent 4\n") == 0);
	CHECK("with UID 4", mailbox_view_uid(v, 4) == 4);

	/* someone else sets \Seen on message 2 */
	memset(&h, 0, sizeof(h));
	CHECK("msg 2 in cur", find_file(BOX, "cur", n2, cur, sizeof(cur)));
	snprintf(to, sizeof(to), "%s", store_path("%s/cur/%s", BOX, n2));
	strlcat(to, ":2,S", sizeof(to));
	rename(store_path("%s/cur/%s", BOX, cur), to);
	mailbox_view_sync(v);
	CHECK("a rename is a FETCH FLAGS of seq 2, UID kept",
	    strcmp(h.text, "flags 2 uid 2 0x10\n") == 0);
	CHECK("\\Seen",
	    mailbox_view_msg(v, 2) != NULL &&
		mailbox_view_msg(v, 2)->flags == MAILDIR_FLAG_SEEN);

	/* rm of message 1 */
	memset(&h, 0, sizeof(h));
	find_file(BOX, "cur", n1, cur, sizeof(cur));
	unlink(store_path("%s/cur/%s", BOX, cur));
	mailbox_view_sync(v);
	CHECK("rm is EXPUNGE 1", strcmp(h.text, "expunge 1 uid 1\n") == 0);
	CHECK("three left, uid 2 first",
	    mailbox_view_count(v) == 3 && mailbox_view_uid(v, 1) == 2);
	CHECK("seq of uid",
	    mailbox_view_seq(v, 4) == 3 && mailbox_view_seq(v, 1) == 0 &&
		mailbox_view_seq_ceil(v, 3) == 2);
	mailbox_view_close(v);

	/* closed and open again: the same UIDs, no message recent now */
	v = open_view(u, "INBOX", 0, &h);
	CHECK("reopens", v != NULL);
	if (v == NULL)
		return;
	CHECK("same UIDVALIDITY", mailbox_view_uidvalidity(v) == uidv);
	CHECK("same UIDs",
	    mailbox_view_count(v) == 3 && mailbox_view_uid(v, 1) == 2 &&
		mailbox_view_uid(v, 3) == 4);
	CHECK("flags kept", mailbox_view_msg(v, 1)->flags == MAILDIR_FLAG_SEEN);
	CHECK("not recent again", mailbox_view_recent(v) == 0);
	mailbox_view_close(v);

	/* the index deleted: UIDs renumbered under a new UIDVALIDITY */
	unlink(store_path("%s/%s", BOX, INDEX_FILE));
	unlink(store_path("%s/%s", BOX, INDEX_LOG));
	while ((uint32_t)time(NULL) <= uidv)
		usleep(50000); /* until the clock gives a new UIDVALIDITY */
	v = open_view(u, "INBOX", 0, &h);
	CHECK("rebuilt", v != NULL);
	if (v == NULL)
		return;
	CHECK("a new UIDVALIDITY", mailbox_view_uidvalidity(v) != uidv);
	CHECK("no message lost, no flag lost",
	    mailbox_view_count(v) == 3 &&
		mailbox_view_msg(v, 1)->flags == MAILDIR_FLAG_SEEN);
	mailbox_view_close(v);
	mail_user_put(u);
}

static void
test_uidlist(void)
{
	static const char *const names[] = {
	    "1276528487.M364837P9451.kurkku,S=1355,W=1394",
	    "1276528488.M364838P9451.kurkku,S=20,W=21",
	    "1276528489.M364839P9451.kurkku,S=30,W=31",
	    "1276528490.M1P1.kurkku,S=40,W=41", /* not in the uidlist */
	};
	char text[1024], err[128];
	struct mailbox_status stt;
	struct mailbox_view *v;
	struct mail_user *u;
	struct heard h;
	int k;

	store_setup();
	store_maildir(BOX);
	snprintf(text, sizeof(text), "%s:2,Sb", names[0]);
	store_file(BOX, "cur", text, "Subject: a\n\nx\n");
	snprintf(text, sizeof(text), "%s:2,a", names[1]);
	store_file(BOX, "cur", text, "Subject: b\n\nx\n");
	store_file(BOX, "new", names[2], "Subject: c\n\nx\n");
	store_file(BOX, "new", names[3], "Subject: d\n\nx\n");
	snprintf(text, sizeof(text),
	    "3 V1234567890 N400 G3085f01b7f11094c501100008c4a11c1\n"
	    "100 :%s\n"
	    "205 W21 :%s:2,a\n"
	    "300 G0123 M12 :%s\n"
	    "garbage line\n"
	    "250 :out.of.order\n",
	    names[0], names[1], names[2]);
	store_file(BOX, "", "dovecot-uidlist", text);
	store_file(BOX, "", "dovecot-keywords", "0 $Junk\n1 work\n9 \\bad\n");

	u = mail_user_get(store_rootfd, BOX, 0);
	v = open_view(u, "INBOX", 1, &h);
	CHECK("Dovecot Maildir opens", v != NULL);
	if (v == NULL)
		return;
	CHECK("its UIDVALIDITY", mailbox_view_uidvalidity(v) == 1234567890);
	CHECK("its UIDs",
	    mailbox_view_count(v) == 4 && mailbox_view_uid(v, 1) == 100 &&
		mailbox_view_uid(v, 2) == 205 && mailbox_view_uid(v, 3) == 300);
	CHECK("the unknown one after its UIDNEXT",
	    mailbox_view_uid(v, 4) == 400 && mailbox_view_uidnext(v) == 401);
	CHECK("its keywords",
	    mailbox_keyword(v, "$junk", 0) == 0 &&
		mailbox_keyword(v, "work", 0) == 1 &&
		mailbox_keyword_name(v, 9) == NULL);
	CHECK("flags and keyword letters",
	    mailbox_view_msg(v, 1)->flags ==
		(MAILDIR_FLAG_SEEN | MAILDIR_FLAG_KEYWORD('b')));
	CHECK("EXAMINE leaves new/ alone", store_exists(BOX, "new", names[2]));
	mailbox_view_close(v);

	/* our index deleted: the uidlist gives the same UIDs again */
	unlink(store_path("%s/%s", BOX, INDEX_FILE));
	v = open_view(u, "INBOX", 0, &h);
	CHECK("rebuilt from the uidlist",
	    v != NULL && mailbox_view_uidvalidity(v) == 1234567890 &&
		mailbox_view_uid(v, 3) == 300);
	if (v == NULL)
		return;
	k = mailbox_keyword(v, "NewKeyword", 1);
	CHECK("a new keyword takes the next letter", k == 2);
	{
		size_t len;
		char *kw = store_read(
		    store_path("%s/%s", BOX, "dovecot-keywords"), &len);

		CHECK("and is written to dovecot-keywords",
		    kw != NULL &&
			memmem(kw, len, "2 NewKeyword\n", 13) != NULL &&
			memmem(kw, len, "0 $Junk\n", 8) != NULL);
		free(kw);
	}
	CHECK("bad keyword names refused",
	    mailbox_keyword(v, "a b", 1) == -1 &&
		mailbox_keyword(v, "\\Seen", 1) == -1);
	CHECK("STORE a keyword",
	    mailbox_store(v, 4, STORE_ADD, MAILDIR_FLAG_KEYWORD('a' + k), 0) ==
		0);
	CHECK("is the letter c in the name",
	    store_exists(BOX, "cur", "1276528490.M1P1.kurkku,S=40,W=41:2,c"));
	CHECK("W= gives RFC822.SIZE without reading",
	    mailbox_view_msg(v, 2)->size == 21);
	mailbox_view_close(v);
	CHECK("STATUS",
	    mailbox_status(u, "INBOX", &stt, err, sizeof(err)) == 0 &&
		stt.messages == 4 && stt.uidnext == 401 && stt.unseen == 3 &&
		stt.uidvalidity == 1234567890);
	mail_user_put(u);
}

/* the flags of each message, by uid, as text */
static void
flags_text(struct mailbox_view *v, char *buf, size_t len)
{
	char one[32];
	uint32_t i;

	buf[0] = '\0';
	for (i = 1; i <= mailbox_view_count(v); i++) {
		snprintf(one, sizeof(one), "%#x ",
		    mailbox_view_msg(v, i) ? mailbox_view_msg(v, i)->flags
					   : 0xdead);
		strlcat(buf, one, len);
	}
}

/*
 * Every byte of one of the index's files flipped, every length cut, the
 * other file as it was: no crash, no message or flag lost.
 */
static void
damage_file(struct mail_user *u, const char *file, char *const orig[2],
    const size_t len[2], const char *want)
{
	static const char *const files[] = {INDEX_FILE, INDEX_LOG};
	char path[2][PATH_MAX * 2], got[256];
	struct mailbox_view *v;
	struct heard h;
	size_t i, f, k;
	char *buf;
	int bad = 0, runs = 0, saved, null;

	for (k = 0; k < 2; k++)
		strlcpy(path[k], store_path("%s/%s", BOX, files[k]),
		    sizeof(path[k]));
	f = strcmp(file, INDEX_FILE) == 0 ? 0 : 1;
	buf = malloc(len[f] + 1);
	/* each damaged copy is logged: not here */
	fflush(stderr);
	saved = dup(2);
	null = open("/dev/null", O_WRONLY);
	dup2(null, 2);
	close(null);
	for (i = 0; i < len[f] * 2; i++) {
		store_write(path[1 - f], orig[1 - f], len[1 - f]);
		memcpy(buf, orig[f], len[f]);
		if (i < len[f]) {
			buf[i] ^= 0x5a;
			store_write(path[f], buf, len[f]);
		} else
			store_write(path[f], buf, i - len[f]);
		v = open_view(u, "INBOX", 1, &h);
		runs++;
		if (v == NULL) {
			bad++;
			continue;
		}
		flags_text(v, got, sizeof(got));
		if (strcmp(got, want) != 0 && bad++ == 0)
			printf("# %s damaged at %zu: %s\n", file, i, got);
		mailbox_view_close(v);
	}
	dup2(saved, 2);
	close(saved);
	printf("# %s: %d damaged copies opened\n", file, runs);
	CHECK(file, bad == 0);
	free(buf);
}

static void
test_damage(void)
{
	char name[256], want[256], *orig[2];
	struct mailbox_view *v;
	struct mail_user *u;
	struct heard h;
	uint64_t size;
	size_t len[2];
	int i;

	store_setup();
	store_maildir(BOX);
	for (i = 0; i < 5; i++)
		store_deliver(BOX, (uint64_t)i + 1, name, sizeof(name));
	u = mail_user_get(store_rootfd, BOX, 0);
	v = open_view(u, "INBOX", 0, &h);
	if (v == NULL) {
		CHECK("damage: open", 0);
		return;
	}
	mailbox_store(v, 2, STORE_ADD, MAILDIR_FLAG_SEEN, 0);
	mailbox_store(v, 4, STORE_ADD, MAILDIR_FLAG_FLAGGED, 0);
	mailbox_view_close(v);
	/* the log of a snapshot with records in it, as a crash leaves it */
	v = open_view(u, "INBOX", 0, &h);
	mailbox_store(v, 5, STORE_ADD, MAILDIR_FLAG_SEEN, 0);
	mailbox_store(v, 1, STORE_ADD, MAILDIR_FLAG_DRAFT, 0);
	mailbox_msg_size(v, 1, &size);
	CHECK("RFC822.SIZE counts bare LFs as CRLF",
	    size ==
		strlen("Return-Path: <a@example.test>\n") + 1 +
		    strlen("Subject: test 1\r\n\r\nbody\r\n"));
	mailbox_view_sync(v);
	flags_text(v, want, sizeof(want));
	orig[0] = store_read(store_path("%s/%s", BOX, INDEX_FILE), &len[0]);
	orig[1] = store_read(store_path("%s/%s", BOX, INDEX_LOG), &len[1]);
	CHECK("a log with records", orig[1] != NULL && len[1] > 100);
	mailbox_view_close(v);
	if (orig[0] != NULL && orig[1] != NULL) {
		damage_file(u, INDEX_FILE, orig, len, want);
		damage_file(u, INDEX_LOG, orig, len, want);
	}
	free(orig[0]);
	free(orig[1]);
	mail_user_put(u);
}

static void
test_two_views(void)
{
	char name[256], err[128];
	const char *kw[] = {"Important"};
	struct mailbox_view *a, *b;
	struct mail_append *ap;
	struct mail_uid_range *van, r;
	struct mail_user *u;
	struct heard ha, hb;
	uint32_t uidv, uid, seqs[2], *src, *dst;
	uint64_t ms;
	size_t n;
	int i;

	store_setup();
	store_maildir(BOX);
	store_maildir(BOX "/.Archive");
	for (i = 0; i < 4; i++)
		store_deliver(BOX, (uint64_t)i + 1, name, sizeof(name));
	u = mail_user_get(store_rootfd, BOX, 0);
	a = open_view(u, "INBOX", 0, &ha);
	b = open_view(u, "inbox", 0, &hb);
	if (a == NULL || b == NULL) {
		CHECK("two views", 0);
		return;
	}
	CHECK("recent to the first only",
	    mailbox_view_recent(a) == 4 && mailbox_view_recent(b) == 0 &&
		mailbox_view_is_recent(a, 1) && !mailbox_view_is_recent(b, 1));
	ms = mailbox_view_highestmodseq(a);
	CHECK("STORE by A",
	    mailbox_store(a, 3, STORE_ADD, MAILDIR_FLAG_SEEN, 0) == 0);
	CHECK("raises HIGHESTMODSEQ",
	    mailbox_view_highestmodseq(a) > ms &&
		mailbox_view_msg(a, 3)->modseq > ms);
	CHECK("UNCHANGEDSINCE refuses",
	    mailbox_store(a, 3, STORE_ADD, MAILDIR_FLAG_FLAGGED, ms) == 1);
	CHECK("B has news", mailbox_view_pending(b));
	mailbox_store(a, 1, STORE_ADD, MAIL_FLAG_DELETED, 0);
	CHECK("EXPUNGE by A", mailbox_expunge(a, NULL, 0) == 0);
	CHECK("A hears its own EXPUNGE, not its own STORE",
	    strcmp(ha.text, "expunge 1 uid 1\n") == 0);
	mailbox_view_sync(b);
	/* the flags of a message already gone are not worth telling */
	CHECK("B hears both, in order",
	    strcmp(hb.text,
		"flags 3 uid 3 0x10\n"
		"expunge 1 uid 1\n") == 0);
	memset(&ha, 0, sizeof(ha));
	memset(&hb, 0, sizeof(hb));

	ap = mailbox_append_begin(u, "INBOX", err, sizeof(err));
	CHECK("APPEND begins", ap != NULL);
	if (ap == NULL)
		return;
	write(mailbox_append_fd(ap), "Subject: appended\r\n\r\nhi\r\n", 25);
	CHECK("APPEND commits",
	    mailbox_append_commit(ap, MAILDIR_FLAG_SEEN, kw, 1, 1000000000,
		&uidv, &uid, err, sizeof(err)) == 0 &&
		uid == 5 && uidv == mailbox_view_uidvalidity(a));
	mailbox_view_sync(a);
	mailbox_view_sync(b);
	CHECK("A hears the APPEND",
	    strcmp(ha.text, "exists 4 recent 3\n") == 0 ||
		strcmp(ha.text, "exists 4 recent 4\n") == 0);
	CHECK("B too", strncmp(hb.text, "exists 4 ", 9) == 0);
	{
		int64_t date;
		int k = mailbox_keyword(a, "important", 0);

		CHECK("with its flags and keyword",
		    k >= 0 &&
			mailbox_view_msg(b, 4)->flags ==
			    (MAILDIR_FLAG_SEEN |
				MAILDIR_FLAG_KEYWORD('a' + k)));
		CHECK("and its INTERNALDATE",
		    mailbox_msg_date(b, 4, &date) == 0 && date == 1000000000);
	}

	/* B deletes uid 2 and 4; a UID EXPUNGE of 4 leaves 2 */
	memset(&ha, 0, sizeof(ha));
	memset(&hb, 0, sizeof(hb));
	mailbox_store(b, 1, STORE_ADD, MAIL_FLAG_DELETED, 0);
	mailbox_store(b, 2, STORE_ADD, MAIL_FLAG_DELETED, 0);
	ms = mailbox_view_highestmodseq(b);
	r.first = r.last = 3;
	CHECK("UID EXPUNGE", mailbox_expunge(b, &r, 1) == 0);
	CHECK("of that uid only",
	    strcmp(hb.text, "expunge 2 uid 3\n") == 0 &&
		mailbox_view_count(b) == 3);
	CHECK("VANISHED since",
	    mailbox_view_vanished_since(b, ms, &van, &n) == 0 && n == 1 &&
		van[0].first == 3 && van[0].last == 3);
	free(van);
	CHECK("VANISHED from before the index: every UID not here",
	    mailbox_view_vanished_since(b, 1, &van, &n) == 1 && n == 2 &&
		van[0].first == 1 && van[0].last == 1 && van[1].first == 3 &&
		van[1].last == 3);
	free(van);

	/* COPY and MOVE to Archive */
	seqs[0] = 1;
	seqs[1] = 3;
	CHECK("COPY",
	    mailbox_copy(b, seqs, 2, "Archive", 0, &uidv, &src, &dst, &n, err,
		sizeof(err)) == 0 &&
		n == 2 && src[0] == 2 && src[1] == 5 && dst[0] == 1 &&
		dst[1] == 2);
	free(src);
	free(dst);
	memset(&hb, 0, sizeof(hb));
	seqs[0] = 2;
	CHECK("MOVE",
	    mailbox_copy(b, seqs, 1, "Archive", 1, &uidv, &src, &dst, &n, err,
		sizeof(err)) == 0 &&
		n == 1 && src[0] == 4 && dst[0] == 3);
	free(src);
	free(dst);
	CHECK("MOVE's EXPUNGE waits for the sync", hb.text[0] == '\0');
	mailbox_view_sync(b);
	CHECK("then comes", strcmp(hb.text, "expunge 2 uid 4\n") == 0);
	mailbox_view_sync(a);
	{
		struct mailbox_status st;

		CHECK("Archive holds three",
		    mailbox_status(u, "Archive", &st, err, sizeof(err)) == 0 &&
			st.messages == 3 && st.uidnext == 4);
	}
	CHECK("no such folder",
	    mailbox_status(u, "Nope", &(struct mailbox_status){0}, err,
		sizeof(err)) == -1);
	CHECK("no path out of the Maildir",
	    mailbox_append_begin(u, "../../x", err, sizeof(err)) == NULL &&
		mailbox_append_begin(u, "a/b", err, sizeof(err)) == NULL);
	mailbox_view_close(a);
	mailbox_view_close(b);
	mail_user_put(u);
}

static void
test_quota_folders(void)
{
	char err[128], big[512];
	struct mailbox_status st;
	struct mail_append *ap;
	struct mail_user *u;
	uint32_t uidv, uid;

	store_setup();
	store_maildir(BOX);
	store_maildir(BOX "/.Entw&APw-rfe");
	u = mail_user_get(store_rootfd, BOX, 300);
	CHECK("a UTF-8 folder is its modified UTF-7 directory",
	    mailbox_status(u, "Entw\xc3\xbcrfe", &st, err, sizeof(err)) == 0 &&
		st.messages == 0 && st.uidnext == 1);
	memset(big, 'x', sizeof(big));
	ap = mailbox_append_begin(u, "Entw\xc3\xbcrfe", err, sizeof(err));
	if (ap == NULL) {
		CHECK("quota: append", 0);
		return;
	}
	write(mailbox_append_fd(ap), big, 200);
	CHECK("appended",
	    mailbox_append_commit(ap, MAIL_FLAG_DELETED, NULL, 0, 0, &uidv,
		&uid, err, sizeof(err)) == 0);
	CHECK("counted", mail_user_usage(u) == 200);
	{
		struct mailbox_view *v;
		struct heard h;

		v = open_view(u, "Entw\xc3\xbcrfe", 0, &h);
		CHECK("EXPUNGE frees the quota",
		    v != NULL && mailbox_expunge(v, NULL, 0) == 0 &&
			mail_user_usage(u) == 0);
		if (v != NULL)
			mailbox_view_close(v);
	}
	mail_user_put(u);
}

static int computed;

/* a stand-in for imime's views: the first line of the file */
static int
fake_compute(int fd, int what, char **text, size_t *len)
{
	char buf[128], *nl;
	ssize_t n;

	computed++;
	if ((n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return -1;
	buf[n] = '\0';
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
	if (asprintf(text, "%d:%s", what, buf) == -1)
		return -1;
	*len = strlen(*text);
	return 0;
}

static void
test_cache(void)
{
	char name[256];
	struct mailbox_view *v;
	struct mail_user *u;
	struct heard h;
	const char *text;
	size_t len, flen;
	char *file;
	int i, ok = 1;

	store_setup();
	store_maildir(BOX);
	for (i = 0; i < 3; i++)
		store_deliver(BOX, (uint64_t)i + 1, name, sizeof(name));
	mailbox_set_compute(fake_compute);
	u = mail_user_get(store_rootfd, BOX, 0);
	v = open_view(u, "INBOX", 0, &h);
	if (v == NULL) {
		CHECK("cache: open", 0);
		return;
	}
	computed = 0;
	for (i = 1; i <= 3; i++)
		if (mailbox_msg_cached(
			v, (uint32_t)i, CACHED_ENVELOPE, &text, &len) == -1 ||
		    strcmp(text, "0:Return-Path: <a@example.test>") != 0)
			ok = 0;
	CHECK("computed once each", ok && computed == 3);
	mailbox_msg_cached(v, 2, CACHED_BODYSTRUCTURE, &text, &len);
	mailbox_msg_cached(v, 2, CACHED_ENVELOPE, &text, &len);
	CHECK("then from the cache",
	    computed == 4 && strncmp(text, "0:", 2) == 0 && len == 31);
	mailbox_view_close(v);
	v = open_view(u, "INBOX", 0, &h);
	for (i = 1; i <= 3; i++)
		mailbox_msg_cached(
		    v, (uint32_t)i, CACHED_ENVELOPE, &text, &len);
	CHECK("kept across a reopen", computed == 4);
	mailbox_view_close(v);
	/* a damaged record ends the cache there: recomputed, right */
	file = store_read(store_path("%s/%s", BOX, INDEX_CACHE), &flen);
	if (file != NULL && flen > 60) {
		file[flen - 10] ^= 0x40;
		store_write(store_path("%s/%s", BOX, INDEX_CACHE), file, flen);
	}
	free(file);
	v = open_view(u, "INBOX", 0, &h);
	ok = 1;
	for (i = 1; i <= 3; i++)
		if (mailbox_msg_cached(
			v, (uint32_t)i, CACHED_ENVELOPE, &text, &len) == -1 ||
		    strcmp(text, "0:Return-Path: <a@example.test>") != 0)
			ok = 0;
	mailbox_msg_cached(v, 2, CACHED_BODYSTRUCTURE, &text, &len);
	CHECK("a damaged cache recomputed",
	    ok && computed == 5 && strncmp(text, "1:", 2) == 0);
	{
		char err[128];
		struct mail_append *ap;
		uint32_t uidv, uid;
		uint64_t size;

		ap = mailbox_append_begin(u, "INBOX", err, sizeof(err));
		if (ap != NULL)
			write(mailbox_append_fd(ap), "Subject: x\nhi\n", 15);
		CHECK("APPEND computes its ENVELOPE",
		    ap != NULL &&
			mailbox_append_commit(ap, 0, NULL, 0, 0, &uidv, &uid,
			    err, sizeof(err)) == 0 &&
			computed == 6);
		mailbox_view_sync(v);
		CHECK("so FETCH finds it cached, and its size",
		    mailbox_msg_cached(v, 4, CACHED_ENVELOPE, &text, &len) ==
			    0 &&
			computed == 6 && strcmp(text, "0:Subject: x") == 0 &&
			mailbox_view_msg(v, 4)->size == 17 &&
			mailbox_msg_size(v, 4, &size) == 0 && size == 17);
		{
			uint32_t seq = 4, *src, *dst, uidv2;
			struct mailbox_view *av = NULL;
			struct heard ah;
			size_t n;

			store_maildir(BOX "/.Archive");
			CHECK("COPY takes the cached views along",
			    mailbox_copy(v, &seq, 1, "Archive", 0, &uidv2, &src,
				&dst, &n, err, sizeof(err)) == 0 &&
				(av = open_view(u, "Archive", 1, &ah)) !=
				    NULL &&
				mailbox_msg_cached(
				    av, 1, CACHED_ENVELOPE, &text, &len) == 0 &&
				computed == 6 &&
				strcmp(text, "0:Subject: x") == 0 &&
				mailbox_view_msg(av, 1)->size == 17);
			if (n > 0) {
				free(src);
				free(dst);
			}
			if (av != NULL)
				mailbox_view_close(av);
		}
	}
	mailbox_view_close(v);
	mailbox_set_compute(NULL);
	mail_user_put(u);
}

/* one message appended to folder: its UID, or 0 */
static uint32_t
append_one(struct mail_user *u, const char *folder)
{
	char err[128];
	struct mail_append *ap;
	uint32_t uidv, uid;

	if ((ap = mailbox_append_begin(u, folder, err, sizeof(err))) == NULL)
		return 0;
	if (write(mailbox_append_fd(ap), "Subject: a\n\nx\n", 15) != 15) {
		mailbox_append_abort(ap);
		return 0;
	}
	if (mailbox_append_commit(
		ap, 0, NULL, 0, 0, &uidv, &uid, err, sizeof(err)) == -1)
		return 0;
	return uid;
}

/* the folder of the last APPEND stays open; a new one of its name is new */
static void
test_append_held(void)
{
	struct mailbox_status st;
	struct mail_user *u;
	char err[128], from[PATH_MAX];
	int i, ok = 1;

	store_setup();
	store_maildir(BOX);
	store_maildir(BOX "/.Sent");
	u = mail_user_get(store_rootfd, BOX, 0);
	for (i = 1; i <= 20; i++)
		if (append_one(u, "Sent") != (uint32_t)i)
			ok = 0;
	CHECK("held: APPENDs to a folder not selected number on",
	    ok && mailbox_status(u, "Sent", &st, err, sizeof(err)) == 0 &&
		st.messages == 20 && st.uidnext == 21);
	/* moved away behind our back, and made again */
	strlcpy(from, store_path("%s/.Sent", BOX), sizeof(from));
	if (rename(from, store_path("%s/.Old", BOX)) == -1)
		CHECK("held: rename", 0);
	store_maildir(BOX "/.Sent");
	CHECK("held: a folder made again is not the one held",
	    append_one(u, "Sent") == 1 &&
		mailbox_status(u, "Sent", &st, err, sizeof(err)) == 0 &&
		st.messages == 1);
	CHECK("held: the moved one kept its messages",
	    mailbox_status(u, "Old", &st, err, sizeof(err)) == 0 &&
		st.messages == 20 && st.uidnext == 21);
	mail_user_release(u);
	CHECK("held: released, its index written",
	    store_exists(BOX "/.Sent", ".", INDEX_FILE));
	mail_user_put(u);
	u = mail_user_get(store_rootfd, BOX, 0);
	CHECK("held: after the last user, read back",
	    mailbox_status(u, "Old", &st, err, sizeof(err)) == 0 &&
		st.messages == 20 && st.uidnext == 21 &&
		mailbox_status(u, "Sent", &st, err, sizeof(err)) == 0 &&
		st.messages == 1 && st.uidnext == 2);
	mail_user_put(u);
}

static size_t big_len;

/* views of big_len octets of one letter, whatever the message */
static int
big_compute(int fd, int what, char **text, size_t *len)
{
	computed++;
	if ((*text = malloc(big_len)) == NULL)
		return -1;
	memset(*text, 'a' + what, big_len);
	*len = big_len;
	return 0;
}

/* a cache of many windows, records across their ends and beyond one */
static void
test_cache_windows(void)
{
	static const size_t lens[] = {100000, 150000, 1, 70000, 400000, 3,
	    90000, 200000, 60000, 300000};
	const size_t n = sizeof(lens) / sizeof(lens[0]);
	char name[256];
	struct mailbox_view *v;
	struct mail_user *u;
	struct heard h;
	const char *text;
	size_t len, i, j;
	int ok = 1;

	store_setup();
	store_maildir(BOX);
	for (i = 0; i < n; i++)
		store_deliver(BOX, (uint64_t)i + 1, name, sizeof(name));
	mailbox_set_compute(big_compute);
	u = mail_user_get(store_rootfd, BOX, 0);
	if ((v = open_view(u, "INBOX", 0, &h)) == NULL) {
		CHECK("cache windows: open", 0);
		mailbox_set_compute(NULL);
		mail_user_put(u);
		return;
	}
	computed = 0;
	for (i = 0; i < n; i++) {
		big_len = lens[i];
		mailbox_msg_cached(
		    v, (uint32_t)i + 1, CACHED_BODYSTRUCTURE, &text, &len);
	}
	mailbox_view_close(v);
	v = open_view(u, "INBOX", 0, &h);
	big_len = 5;
	for (i = 0; v != NULL && i < n; i++) {
		if (mailbox_msg_cached(v, (uint32_t)i + 1,
			CACHED_BODYSTRUCTURE, &text, &len) == -1 ||
		    len != lens[i]) {
			ok = 0;
			continue;
		}
		for (j = 0; j < len; j++)
			if (text[j] != 'a' + CACHED_BODYSTRUCTURE)
				ok = 0;
	}
	CHECK("a cache of many windows read back whole",
	    v != NULL && ok && computed == (int)n);
	if (v != NULL)
		mailbox_view_close(v);
	mailbox_set_compute(NULL);
	mail_user_put(u);
}

static int watched;

static void
watch_cb(void *arg)
{
	watched++;
	event_base_loopbreak(arg);
}

static void
give_up(int fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* IDLE: a delivery wakes the watcher, through inotify and through mda */
static void
test_watch(void)
{
	struct timeval limit = {10, 0};
	struct event_base *base;
	struct mailbox_view *v;
	struct mail_user *u;
	struct event *timer;
	struct heard h;
	char name[256];

	store_setup();
	store_maildir(BOX);
	base = event_base_new();
	mailbox_init(base, store_root);
	timer = evtimer_new(base, give_up, base);
	u = mail_user_get(store_rootfd, BOX, 0);
	v = open_view(u, "INBOX", 0, &h);
	if (v == NULL) {
		CHECK("watch: open", 0);
		return;
	}
	mailbox_view_watch(v, watch_cb, base);
	store_deliver(BOX, 1, name, sizeof(name));
	evtimer_add(timer, &limit);
	event_base_dispatch(base);
	CHECK("a delivery seen through inotify wakes IDLE", watched == 1);
	mailbox_view_sync(v);
	CHECK("and is EXISTS 1", strcmp(h.text, "exists 1 recent 1\n") == 0);

	/* mda's word alone: inotify's events already read, nothing of ours */
	memset(&h, 0, sizeof(h));
	mailbox_view_watch(v, watch_cb, base);
	store_deliver(BOX, 2, name, sizeof(name));
	mailbox_notify_delivery(BOX);
	evtimer_add(timer, &limit);
	event_base_dispatch(base);
	CHECK("mda's notice wakes it too", watched == 2);
	mailbox_view_sync(v);
	CHECK("EXISTS 2", strcmp(h.text, "exists 2 recent 2\n") == 0);
	mailbox_view_watch(v, NULL, NULL);
	mailbox_view_close(v);
	mail_user_put(u);
	event_free(timer);
	mailbox_init(NULL, store_root);
	event_base_free(base);
}

/*
 * Run the loop (if any) until the name of base_name in cur/ shows the
 * flags want, or 10 s.
 */
static int
wait_renamed(struct event_base *base, const char *base_name, const char *want)
{
	struct timespec t0, t1;
	char name[256];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (find_file(BOX, "cur", base_name, name, sizeof(name)) &&
		    strcmp(strstr(name, ":2,") + 3, want) == 0)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (base == NULL || t1.tv_sec - t0.tv_sec > 10)
			return 0;
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/*
 * STORE's renames come after its reply: the index has the flags at
 * once, the name soon; a crash in between (a child that dies without
 * closing) leaves the flags in the log, and the next open renames; a
 * file renamed meanwhile by someone else wins.
 */
static void
test_lazy_store(void)
{
	char name[3][256], base_name[3][256], to[PATH_MAX * 2];
	struct event_base *base;
	struct mailbox_view *v;
	struct mail_user *u;
	struct heard h;
	pid_t pid;
	int i, status;

	store_setup();
	store_maildir(BOX);
	for (i = 0; i < 3; i++) {
		store_deliver(BOX, (uint64_t)i + 1, name[i], sizeof(name[i]));
		strlcpy(base_name[i], name[i], sizeof(base_name[i]));
	}
	base = event_base_new();
	mailbox_init(base, store_root);
	u = mail_user_get(store_rootfd, BOX, 0);
	if ((v = open_view(u, "INBOX", 0, &h)) == NULL) {
		CHECK("lazy: open", 0);
		goto done;
	}
	CHECK("lazy: STORE answers at once",
	    mailbox_store(v, 1, STORE_ADD, MAILDIR_FLAG_FLAGGED, 0) == 0 &&
		mailbox_view_msg(v, 1)->flags == MAILDIR_FLAG_FLAGGED);
	CHECK("before its rename", wait_renamed(NULL, base_name[0], ""));
	CHECK("which follows on the loop",
	    wait_renamed(base, base_name[0], "F"));
	mailbox_view_sync(v);
	CHECK("and is no change to the view",
	    mailbox_view_msg(v, 1)->flags == MAILDIR_FLAG_FLAGGED &&
		h.text[0] == '\0');
	mailbox_view_close(v);
	mail_user_put(u);

	/* a process that stores and dies before the renames */
	fflush(stdout);
	if ((pid = fork()) == 0) {
		u = mail_user_get(store_rootfd, BOX, 0);
		if ((v = open_view(u, "INBOX", 0, &h)) == NULL)
			_exit(1);
		mailbox_store(v, 2, STORE_ADD, MAILDIR_FLAG_SEEN, 0);
		mailbox_store(v, 3, STORE_ADD, MAILDIR_FLAG_REPLIED, 0);
		mailbox_view_sync(v); /* the log written, as before the OK */
		_exit(wait_renamed(NULL, base_name[1], "") ? 0 : 2);
	}
	CHECK("lazy: died before renaming",
	    waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		WEXITSTATUS(status) == 0);
	/* meanwhile someone renames the third message their own way */
	snprintf(to, sizeof(to), "%s",
	    store_path("%s/cur/%s:2,T", BOX, base_name[2]));
	CHECK("lazy: a foreign rename",
	    rename(store_path("%s/cur/%s:2,", BOX, base_name[2]), to) == 0);
	u = mail_user_get(store_rootfd, BOX, 0);
	if ((v = open_view(u, "INBOX", 0, &h)) == NULL) {
		CHECK("lazy: reopen", 0);
		goto done;
	}
	CHECK("the logged flags are kept",
	    mailbox_view_msg(v, 2)->flags == MAILDIR_FLAG_SEEN);
	CHECK("the other writer's name wins over ours",
	    mailbox_view_msg(v, 3)->flags == MAILDIR_FLAG_TRASHED);
	CHECK("the rename the crash left is done",
	    wait_renamed(base, base_name[1], "S"));
	CHECK("the foreign name is left alone",
	    wait_renamed(base, base_name[2], "T"));
	mailbox_store(v, 1, STORE_REMOVE, MAILDIR_FLAG_FLAGGED, 0);
	mailbox_view_close(v);
	CHECK("the last view out does what is left",
	    find_file(BOX, "cur", base_name[0], name[0], sizeof(name[0])) &&
		strcmp(strstr(name[0], ":2,"), ":2,") == 0);
	mail_user_put(u);
done:
	mailbox_init(NULL, store_root);
	event_base_free(base);
}

static void
cb_lost(void *arg)
{
	heard_add(arg, "lost");
}

/*
 * A view that hears nothing while another makes a million changes is
 * let go (told once), so the mailbox does not keep news without end;
 * the busy view goes on.
 */
static void
test_lagging_view(void)
{
	static const struct mailbox_view_ops lost_ops = {.expunge = cb_expunge,
	    .flags = cb_flags,
	    .exists = cb_exists,
	    .lost = cb_lost};
	char name[256], file[256], err[128];
	struct event_base *base;
	struct mailbox_view *busy, *idle;
	struct mail_user *u;
	struct heard hb, hi;
	long i;

	store_setup();
	store_maildir(BOX);
	store_deliver(BOX, 1, name, sizeof(name));
	/* with a loop the renames wait: a million STOREs take seconds */
	base = event_base_new();
	mailbox_init(base, store_root);
	u = mail_user_get(store_rootfd, BOX, 0);
	memset(&hi, 0, sizeof(hi));
	idle = mailbox_view_open(
	    u, "INBOX", 0, &lost_ops, &hi, err, sizeof(err));
	busy = open_view(u, "INBOX", 0, &hb);
	if (idle == NULL || busy == NULL) {
		CHECK("lagging: two views", 0);
		goto done;
	}
	for (i = 0; i <= MAILBOX_EVENTS_MAX; i++) {
		mailbox_store(busy, 1, i % 2 ? STORE_REMOVE : STORE_ADD,
		    MAILDIR_FLAG_FLAGGED, 0);
		if (i % 65536 == 0)
			mailbox_view_sync(busy);
	}
	CHECK("the silent view is let go, told once",
	    strcmp(hi.text, "lost\n") == 0);
	mailbox_view_sync(idle);
	CHECK("and hears nothing more", strcmp(hi.text, "lost\n") == 0);
	mailbox_store(busy, 1, STORE_ADD, MAILDIR_FLAG_SEEN, 0);
	mailbox_view_sync(busy);
	CHECK("the busy one goes on",
	    mailbox_view_msg(busy, 1)->flags ==
		(MAILDIR_FLAG_SEEN | MAILDIR_FLAG_FLAGGED));
	mailbox_view_close(idle);
	mailbox_view_close(busy);
	CHECK("its file has the last flags",
	    find_file(BOX, "cur", name, file, sizeof(file)) &&
		strcmp(strstr(file, ":2,"), ":2,FS") == 0);
done:
	mail_user_put(u);
	mailbox_init(NULL, store_root);
	event_base_free(base);
}

static double
seconds(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static long
rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmHWM:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

/*
 * A large mailbox: how long it takes to open, printed, not checked.
 * 20,000 messages unless BOXD_LARGE says (200,000 for issue 7's figure:
 * a few minutes of file creation every run would be too many).
 */
static void
test_large(void)
{
	struct timespec t0, t1;
	struct mailbox_view *v;
	struct mail_user *u;
	struct heard h;
	char name[256];
	const char *env;
	long count = 20000, i, rss0;

	if ((env = getenv("BOXD_LARGE")) != NULL)
		count = strtol(env, NULL, 10);
	if (count <= 0)
		return;
	store_setup();
	store_maildir(BOX);
	for (i = 0; i < count; i++) {
		int fd;

		snprintf(name, sizeof(name),
		    BOX "/cur/%ld.M%ldP1.mx.example.test,S=1000:2,S",
		    1700000000 + i, i);
		fd = openat(store_rootfd, name, O_WRONLY | O_CREAT, 0600);
		if (fd == -1)
			break;
		close(fd);
	}
	u = mail_user_get(store_rootfd, BOX, 0);
	rss0 = rss_kib();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	v = open_view(u, "INBOX", 0, &h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK("large mailbox opens",
	    v != NULL && mailbox_view_count(v) == (uint32_t)i);
	printf("# %ld messages, no index: open in %.3f s, peak RSS +%ld KiB\n",
	    i, seconds(&t0, &t1), rss_kib() - rss0);
	if (v != NULL)
		mailbox_view_close(v);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	v = open_view(u, "INBOX", 0, &h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK("and again", v != NULL && mailbox_view_count(v) == (uint32_t)i);
	printf("# %ld messages, with its index: open in %.3f s, peak RSS "
	       "+%ld KiB\n",
	    i, seconds(&t0, &t1), rss_kib() - rss0);
	if (v != NULL) {
		uint32_t s;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (s = 1; s <= 10000 && s <= mailbox_view_count(v); s++)
			mailbox_store(v, s, STORE_ADD, MAILDIR_FLAG_FLAGGED, 0);
		mailbox_view_sync(v);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("# STORE +FLAGS on 10,000: %.3f s\n", seconds(&t0, &t1));
		mailbox_view_close(v);
	}
	mail_user_put(u);
}

/* EXAMINE sees \Recent and leaves it to the next SELECT (RFC 3501 6.3.2) */
static void
test_readonly_recent(void)
{
	char name[256];
	struct mailbox_view *ro, *rw;
	struct mail_user *u;
	struct heard h1, h2;
	int i;

	store_setup();
	store_maildir(BOX);
	for (i = 0; i < 2; i++)
		store_deliver(BOX, (uint64_t)i + 1, name, sizeof(name));
	u = mail_user_get(store_rootfd, BOX, 0);
	ro = open_view(u, "INBOX", 1, &h1);
	if (ro == NULL) {
		CHECK("read-only view", 0);
		mail_user_put(u);
		return;
	}
	CHECK("recent to a read-only view",
	    mailbox_view_recent(ro) == 2 && mailbox_view_is_recent(ro, 2));
	rw = open_view(u, "INBOX", 0, &h2);
	CHECK("and still to the read-write one after it",
	    rw != NULL && mailbox_view_recent(rw) == 2);
	if (rw != NULL)
		mailbox_view_close(rw);
	mailbox_view_close(ro);
	ro = open_view(u, "INBOX", 1, &h1);
	CHECK("taken by the read-write one",
	    ro != NULL && mailbox_view_recent(ro) == 0);
	if (ro != NULL)
		mailbox_view_close(ro);
	mail_user_put(u);
}

int
main(void)
{
	mailbox_init(NULL, store_root);
	test_deliveries();
	test_uidlist();
	test_damage();
	test_two_views();
	test_readonly_recent();
	test_quota_folders();
	test_cache();
	test_cache_windows();
	test_append_held();
	test_watch();
	test_lazy_store();
	test_lagging_view();
	test_large();
	store_teardown();
	TEST_EXIT();
}
