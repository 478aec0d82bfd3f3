/*
 * imapd/folder.c: LIST patterns (RFC 3501 6.3.8, RFC 5258), attributes,
 * special use, CREATE/DELETE/RENAME with INBOX and hierarchies, modified
 * UTF-7 directory names, Dovecot's subscriptions file, hostile names.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "imapd.h"
#include "test.h"

static char root[PATH_MAX];

static void
rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* a fresh Maildir, its dirfd */
static int
maildir_new(void)
{
	char path[PATH_MAX + 8];
	int fd;

	rm_rf(root);
	if (mkdir(root, 0700) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/cur", root);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/new", root);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/tmp", root);
	mkdir(path, 0700);
	fd = open(root, O_RDONLY | O_DIRECTORY);
	return fd;
}

static int
exists(int dirfd, const char *path)
{
	struct stat st;

	return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void
put_file(int dirfd, const char *path, const char *text)
{
	int fd;

	fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		fprintf(stderr, "cannot write %s\n", path);
	if (fd != -1)
		close(fd);
}

static char *
get_file(int dirfd, const char *path)
{
	static char buf[8192];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if ((fd = openat(dirfd, path, O_RDONLY)) == -1)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

/* the listing as "name(attrs);" for each answer */
static char listing[65536];

static int
collect(const char *name, unsigned int attrs, void *arg)
{
	char words[256];

	if (folder_attrs_format(attrs, words, sizeof(words)) == -1)
		return -1;
	if (attrs & FOLDER_CHILDINFO_SUBSCRIBED)
		strlcat(words, " CHILDINFO", sizeof(words));
	strlcat(listing, name, sizeof(listing));
	strlcat(listing, "(", sizeof(listing));
	strlcat(listing, words, sizeof(listing));
	strlcat(listing, ");", sizeof(listing));
	(*(int *)arg)++;
	return 0;
}

static const char *
list(int dirfd, const char *ref, const char *pattern, unsigned int opts)
{
	const char *pats[1] = {pattern}, *why;
	int n = 0;

	listing[0] = '\0';
	if (folder_list(dirfd, ref, pats, 1, opts, collect, &n, &why) != 0)
		return "ERROR";
	return listing;
}

static void
mk(int dirfd, const char *name)
{
	const char *why;

	if (folder_create(dirfd, name, 0, &why) != FOLDER_OK)
		fprintf(stderr, "create %s: %s\n", name, why);
}

static void
test_names(void)
{
	char dir[300], name[600], big[700];
	const char *why;

	CHECK("plain name valid", folder_name_check("Work", &why) == 0);
	CHECK("hierarchy valid", folder_name_check("A.B.C", &why) == 0);
	CHECK("UTF-8 valid",
	    folder_name_check("Entw\xc3\xbc"
			      "rfe",
		&why) == 0);
	CHECK(
	    "empty refused", folder_name_check("", &why) == FOLDER_ERR_CANNOT);
	CHECK("leading dot refused",
	    folder_name_check(".A", &why) == FOLDER_ERR_CANNOT);
	CHECK("trailing dot refused",
	    folder_name_check("A.", &why) == FOLDER_ERR_CANNOT);
	CHECK("empty level refused",
	    folder_name_check("A..B", &why) == FOLDER_ERR_CANNOT);
	CHECK("slash refused", folder_name_check("a/b", &why) != 0);
	CHECK("dot-dot path refused", folder_name_check("../x", &why) != 0);
	CHECK("control refused", folder_name_check("a\tb", &why) != 0);
	CHECK("DEL refused", folder_name_check("a\x7f", &why) != 0);
	CHECK("CR LF refused", folder_name_check("a\r\nb", &why) != 0);
	CHECK("wildcards refused",
	    folder_name_check("a*", &why) != 0 &&
		folder_name_check("a%", &why) != 0);
	CHECK("bad UTF-8 refused",
	    folder_name_check("a\xc3", &why) != 0 &&
		folder_name_check("\xff", &why) != 0 &&
		folder_name_check("\xc0\xaf", &why) != 0);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK("too long refused", folder_name_check(big, &why) != 0);
	memset(big, 'a', 300);
	big[300] = '\0';
	CHECK("too long on disk refused",
	    folder_dir(big, dir, sizeof(dir)) == -1);
	CHECK("too deep refused",
	    folder_name_check("a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a."
			      "a.a.a.a.a.a.a.a.a",
		&why) != 0);
	CHECK("INBOX dir",
	    folder_dir("inbox", dir, sizeof(dir)) == 0 &&
		strcmp(dir, ".") == 0);
	CHECK("INBOX child dir",
	    folder_dir("Inbox.Sub", dir, sizeof(dir)) == 0 &&
		strcmp(dir, ".INBOX.Sub") == 0);
	CHECK("mUTF-7 dir",
	    folder_dir("Entw\xc3\xbcrfe", dir, sizeof(dir)) == 0 &&
		strcmp(dir, ".Entw&APw-rfe") == 0);
	CHECK("ampersand dir",
	    folder_dir("A&B", dir, sizeof(dir)) == 0 &&
		strcmp(dir, ".A&-B") == 0);
	CHECK("dir back to name",
	    folder_dir_name(".Entw&APw-rfe", name, sizeof(name)) == 0 &&
		strcmp(name, "Entw\xc3\xbcrfe") == 0);
	CHECK("bad mUTF-7 dir refused",
	    folder_dir_name(".Entw&APw", name, sizeof(name)) == -1 &&
		folder_dir_name(".a&", name, sizeof(name)) == -1);
	CHECK("raw 8-bit dir refused",
	    folder_dir_name(".Entw\xc3\xbcrfe", name, sizeof(name)) == -1);
	CHECK("second INBOX refused",
	    folder_dir_name(".INBOX", name, sizeof(name)) == -1 &&
		folder_dir_name(".inbox.x", name, sizeof(name)) == -1);
	CHECK("dot-dot dir refused",
	    folder_dir_name("..", name, sizeof(name)) == -1 &&
		folder_dir_name("..boxd-deleted.1", name, sizeof(name)) == -1);
	CHECK("special parse",
	    folder_special_parse("\\sent") == FOLDER_SENT &&
		folder_special_parse("\\All") == 0 &&
		folder_special_parse("Sent") == 0);
	CHECK("attrs format",
	    folder_attrs_format(
		FOLDER_HASNOCHILDREN | FOLDER_TRASH, name, sizeof(name)) == 0 &&
		strcmp(name, "\\HasNoChildren \\Trash") == 0);
	CHECK("attrs format bounded",
	    folder_attrs_format(FOLDER_HASNOCHILDREN, name, 5) == -1);
	CHECK("err codes",
	    strcmp(folder_err_code(FOLDER_ERR_NONEXISTENT), "NONEXISTENT") ==
		    0 &&
		folder_err_code(FOLDER_OK) == NULL);
}

static void
test_list(void)
{
	int fd = maildir_new();

	mk(fd, "Drafts");
	mk(fd, "Work.Project.Alpha");
	mk(fd, "Work.Old");
	mk(fd, "Entw\xc3\xbcrfe");
	mk(fd, "INBOX.Sub");
	/* a parent no directory stands for, as another program leaves it */
	mkdirat(fd, ".Lone.Child", 0700);
	CHECK("created with parents",
	    exists(fd, ".Work") && exists(fd, ".Work.Project") &&
		exists(fd, ".Work.Project.Alpha/cur") &&
		exists(fd, ".Work.Old/maildirfolder"));
	CHECK("created in mUTF-7", exists(fd, ".Entw&APw-rfe/new"));
	CHECK("LIST *",
	    strcmp(list(fd, "", "*", 0),
		"INBOX(\\HasChildren);Drafts(\\HasNoChildren);"
		"Entw\xc3\xbcrfe(\\HasNoChildren);INBOX.Sub(\\HasNoChildren);"
		"Lone(\\Noselect \\HasChildren);Lone.Child(\\HasNoChildren);"
		"Work(\\HasChildren);Work.Old(\\HasNoChildren);"
		"Work.Project(\\HasChildren);"
		"Work.Project.Alpha(\\HasNoChildren);") == 0);
	CHECK("LIST %",
	    strcmp(list(fd, "", "%", 0),
		"INBOX(\\HasChildren);Drafts(\\HasNoChildren);"
		"Entw\xc3\xbcrfe(\\HasNoChildren);"
		"Lone(\\Noselect \\HasChildren);Work(\\HasChildren);") == 0);
	CHECK("LIST Work.%",
	    strcmp(list(fd, "", "Work.%", 0),
		"Work.Old(\\HasNoChildren);Work.Project(\\HasChildren);") == 0);
	CHECK("LIST with reference",
	    strcmp(list(fd, "Work.", "%", 0),
		"Work.Old(\\HasNoChildren);Work.Project(\\HasChildren);") == 0);
	CHECK("LIST Work.*.Alpha",
	    strcmp(list(fd, "", "Work.*.Alpha", 0),
		"Work.Project.Alpha(\\HasNoChildren);") == 0);
	CHECK("LIST %.%",
	    strstr(list(fd, "", "%.%", 0), "Work.Old(") != NULL &&
		strstr(listing, "Work.Project(") != NULL &&
		strstr(listing, "Alpha") == NULL &&
		strstr(listing, "Drafts") == NULL);
	CHECK("LIST W*d",
	    strcmp(list(fd, "", "W*d", 0), "Work.Old(\\HasNoChildren);") == 0);
	CHECK("LIST W%d matches nothing",
	    strcmp(list(fd, "", "W%d", 0), "") == 0);
	CHECK("INBOX any case",
	    strcmp(list(fd, "", "inbox", 0), "INBOX(\\HasChildren);") == 0);
	CHECK("INBOX children any case",
	    strcmp(list(fd, "", "Inbox.%", 0), "INBOX.Sub(\\HasNoChildren);") ==
		0);
	CHECK("other names case-sensitive",
	    strcmp(list(fd, "", "drafts", 0), "") == 0);
	CHECK("UTF-8 pattern",
	    strcmp(list(fd, "", "Entw\xc3\xbc*", 0),
		"Entw\xc3\xbcrfe(\\HasNoChildren);") == 0);
	CHECK("LIST \"\" \"\"",
	    strcmp(list(fd, "", "", 0), "(\\Noselect);") == 0);
	CHECK("many wildcards bounded",
	    strcmp(list(fd, "", "a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*", 0),
		"ERROR") == 0);
	CHECK("runs of wildcards are one",
	    strcmp(
		list(fd, "", "*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%Old", 0),
		"Work.Old(\\HasNoChildren);") == 0);
	close(fd);
}

static int
count_cb(const char *name, unsigned int attrs, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_list_many(void)
{
	char name[64], pat[600];
	const char *pats[1], *why;
	struct timespec a, b;
	int fd = maildir_new(), i, n = 0, rv;

	/* made directly: 3,000 folders of long, deep names */
	for (i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name),
		    ".f%d.aaaaaaaaaaaaaaaaaaaa.%%bbbbbbbbbbbbbbbbb.%d", i % 50,
		    i);
		name[strcspn(name, "%")] = 'x';
		mkdirat(fd, name, 0700);
	}
	memset(pat, 0, sizeof(pat));
	for (i = 0; i < FOLDER_WILDCARDS_MAX / 2; i++)
		strlcat(pat, "a%a*", sizeof(pat));
	for (i = (int)strlen(pat); i < 500; i++)
		pat[i] = 'a';
	pats[0] = pat;
	clock_gettime(CLOCK_MONOTONIC, &a);
	rv = folder_list(fd, "", pats, 1, 0, count_cb, &n, &why);
	pats[0] = "*%*%*%*%*%*%*%*%*";
	rv |= folder_list(fd, "", pats, 1, 0, count_cb, &n, &why);
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK("hostile patterns over many folders", rv == 0);
	CHECK("... in bounded time",
	    (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 <
		5000);
	CHECK("... the second one matches all", n == 1 + 3000 + 3 * 50);
	close(fd);
}

static void
test_special(void)
{
	const char *why;
	char *s;
	int fd = maildir_new();

	/* a Dovecot Maildir brings its own names */
	mkdirat(fd, ".Sent Messages", 0700);
	mkdirat(fd, ".Spam", 0700);
	CHECK("ensure special", folder_ensure_special(fd) == 0);
	CHECK("missing ones made",
	    exists(fd, ".Drafts/cur") && exists(fd, ".Trash/cur") &&
		exists(fd, ".Archive/cur") && !exists(fd, ".Sent") &&
		!exists(fd, ".Junk"));
	CHECK("special-use in LIST",
	    strstr(list(fd, "", "*", 0),
		"Sent Messages(\\HasNoChildren \\Sent)") != NULL &&
		strstr(listing, "Spam(\\HasNoChildren \\Junk)") != NULL &&
		strstr(listing, "Drafts(\\HasNoChildren \\Drafts)") != NULL);
	CHECK("made ones subscribed",
	    strcmp(list(fd, "", "*", FOLDER_LSUB),
		"Drafts();Trash();Archive();") == 0 ||
		(strstr(listing, "Drafts()") != NULL &&
		    strstr(listing, "Archive()") != NULL &&
		    strstr(listing, "Spam") == NULL));
	CHECK("SPECIAL-USE selection",
	    strcmp(list(fd, "", "*", FOLDER_SEL_SPECIALUSE),
		"Archive(\\HasNoChildren \\Archive);"
		"Drafts(\\HasNoChildren \\Drafts);"
		"Sent Messages(\\HasNoChildren \\Sent);"
		"Spam(\\HasNoChildren \\Junk);"
		"Trash(\\HasNoChildren \\Trash);") == 0);
	folder_delete(fd, "Trash", &why);
	CHECK("ensure is done once",
	    folder_ensure_special(fd) == 0 && !exists(fd, ".Trash"));
	CHECK("CREATE-SPECIAL-USE",
	    folder_create(fd, "Bin", FOLDER_TRASH, &why) == FOLDER_OK &&
		strcmp(list(fd, "", "Bin", 0),
		    "Bin(\\HasNoChildren \\Trash);") == 0);
	CHECK("a use twice refused",
	    folder_create(fd, "Bin2", FOLDER_TRASH, &why) ==
		    FOLDER_ERR_USEATTR &&
		!exists(fd, ".Bin2"));
	CHECK("use follows a rename",
	    folder_rename(fd, "Bin", "Papierkorb", &why) == FOLDER_OK &&
		strcmp(list(fd, "", "Papierkorb", 0),
		    "Papierkorb(\\HasNoChildren \\Trash);") == 0);
	s = get_file(fd, "boxd-special-use");
	CHECK("special-use file",
	    strncmp(s, "boxd-special-use\t1\n", 19) == 0 &&
		strstr(s, "\\Trash\tPapierkorb\n") != NULL);
	close(fd);
}

static void
test_create_delete_rename(void)
{
	struct keywords kw;
	const char *why;
	char path[64];
	int fd = maildir_new(), mfd, kwfd;

	CHECK("create INBOX refused",
	    folder_create(fd, "inbox", 0, &why) == FOLDER_ERR_ALREADYEXISTS);
	CHECK("create", folder_create(fd, "A", 0, &why) == FOLDER_OK);
	CHECK("two uses in one CREATE",
	    folder_create(fd, "Both", FOLDER_SENT | FOLDER_ARCHIVE, &why) ==
		    FOLDER_OK &&
		strcmp(list(fd, "", "Both", 0),
		    "Both(\\HasNoChildren \\Sent \\Archive);") == 0 &&
		folder_delete(fd, "Both", &why) == FOLDER_OK &&
		strcmp(get_file(fd, "boxd-special-use"),
		    "boxd-special-use\t1\n") == 0);
	CHECK("create twice",
	    folder_create(fd, "A", 0, &why) == FOLDER_ERR_ALREADYEXISTS);
	CHECK("create trailing separator",
	    folder_create(fd, "B.", 0, &why) == FOLDER_OK && exists(fd, ".B"));
	CHECK("create hostile",
	    folder_create(fd, "../x", 0, &why) == FOLDER_ERR_CANNOT);
	CHECK("create child",
	    folder_create(fd, "A.C.D", 0, &why) == FOLDER_OK &&
		exists(fd, ".A.C"));
	CHECK("delete INBOX refused",
	    folder_delete(fd, "INBOX", &why) == FOLDER_ERR_CANNOT);
	CHECK("delete missing",
	    folder_delete(fd, "Nope", &why) == FOLDER_ERR_NONEXISTENT);
	put_file(fd, ".A/cur/1.x:2,S", "hello");
	CHECK("delete with children keeps them",
	    folder_delete(fd, "A", &why) == FOLDER_OK && !exists(fd, ".A") &&
		exists(fd, ".A.C.D"));
	CHECK("... the parent then \\Noselect",
	    strcmp(list(fd, "", "A", 0), "A(\\Noselect \\HasChildren);") == 0);
	CHECK("nothing left behind",
	    strcmp(list(fd, "", "*", 0),
		"INBOX(\\HasNoChildren);A(\\Noselect \\HasChildren);"
		"A.C(\\HasChildren);A.C.D(\\HasNoChildren);"
		"B(\\HasNoChildren);") == 0);
	CHECK("delete a prefix-only name",
	    folder_delete(fd, "A", &why) == FOLDER_ERR_NONEXISTENT);
	CHECK("rename with children",
	    folder_rename(fd, "A.C", "X.Y", &why) == FOLDER_OK &&
		exists(fd, ".X.Y") && exists(fd, ".X.Y.D") &&
		exists(fd, ".X") && !exists(fd, ".A.C"));
	CHECK("rename a prefix-only name moves its children",
	    folder_create(fd, "P.Q", 0, &why) == FOLDER_OK &&
		folder_delete(fd, "P", &why) == FOLDER_OK &&
		folder_rename(fd, "P", "R", &why) == FOLDER_OK &&
		exists(fd, ".R.Q"));
	mk(fd, "M.N");
	mkdirat(fd, ".Y.N", 0700);
	CHECK("rename onto an existing child moves nothing",
	    folder_rename(fd, "M", "Y", &why) == FOLDER_ERR_ALREADYEXISTS &&
		exists(fd, ".M") && exists(fd, ".M.N") && !exists(fd, ".Y"));
	CHECK("rename onto existing",
	    folder_rename(fd, "B", "X", &why) == FOLDER_ERR_ALREADYEXISTS);
	CHECK("rename missing",
	    folder_rename(fd, "Nope", "Z", &why) == FOLDER_ERR_NONEXISTENT);
	CHECK("rename under itself",
	    folder_rename(fd, "B", "B.C", &why) == FOLDER_ERR_CANNOT);
	CHECK("rename to INBOX",
	    folder_rename(fd, "B", "INBOX", &why) == FOLDER_ERR_ALREADYEXISTS);
	put_file(fd, "cur/111.a:2,S", "one");
	put_file(fd, "new/222.b", "two");
	CHECK("rename INBOX",
	    folder_rename(fd, "INBOX", "Old.Inbox", &why) == FOLDER_OK);
	CHECK("... messages moved",
	    exists(fd, ".Old.Inbox/cur/111.a:2,S") &&
		exists(fd, ".Old.Inbox/new/222.b") &&
		!exists(fd, "cur/111.a:2,S") && !exists(fd, "new/222.b"));
	CHECK("... INBOX stays", exists(fd, "cur") && exists(fd, "new"));
	put_file(fd, "cur/333.c:2,Sb", "three");
	put_file(fd, KEYWORDS_FILE, "0 work\n1 travel\n");
	CHECK("rename INBOX again",
	    folder_rename(fd, "INBOX", "Older", &why) == FOLDER_OK);
	kwfd = openat(fd, ".Older", O_RDONLY | O_DIRECTORY);
	CHECK("... its keyword names go along",
	    kwfd != -1 && keywords_read(kwfd, &kw) == 0 &&
		kw.name[1] != NULL && strcmp(kw.name[1], "travel") == 0 &&
		exists(fd, ".Older/cur/333.c:2,Sb"));
	if (kwfd != -1) {
		keywords_free(&kw);
		close(kwfd);
	}
	snprintf(path, sizeof(path), ".Entw&APw-rfe");
	CHECK("rename to UTF-8",
	    folder_rename(fd, "B", "Entw\xc3\xbcrfe", &why) == FOLDER_OK &&
		exists(fd, path));
	mfd = test_open_fds();
	list(fd, "", "*", FOLDER_RET_SUBSCRIBED);
	folder_create(fd, "Q", 0, &why);
	folder_delete(fd, "Q", &why);
	CHECK("no descriptor leaks", test_open_fds() == mfd);
	close(fd);
}

static void
test_subscriptions(void)
{
	const char *why;
	char *s;
	int fd = maildir_new();

	mk(fd, "Work.Project");
	mk(fd, "Entw\xc3\xbcrfe");
	CHECK("subscribe",
	    folder_subscribe(fd, "Work.Project", 1, &why) == FOLDER_OK &&
		folder_subscribe(fd, "Entw\xc3\xbcrfe", 1, &why) == FOLDER_OK &&
		folder_subscribe(fd, "inbox", 1, &why) == FOLDER_OK &&
		folder_subscribe(fd, "Gone", 1, &why) == FOLDER_OK);
	CHECK("subscribe twice is fine",
	    folder_subscribe(fd, "Gone", 1, &why) == FOLDER_OK);
	s = get_file(fd, "subscriptions");
	CHECK("Dovecot v2 file",
	    strcmp(s, "V\t2\n\nWork\tProject\nEntw&APw-rfe\nINBOX\nGone\n") ==
		0);
	CHECK("LSUB *",
	    strcmp(list(fd, "", "*", FOLDER_LSUB),
		"INBOX();Entw\xc3\xbcrfe();Gone();Work.Project();") == 0);
	CHECK("LSUB % with a subscribed child",
	    strcmp(list(fd, "", "%", FOLDER_LSUB),
		"INBOX();Entw\xc3\xbcrfe();Gone();Work(\\Noselect);") == 0);
	CHECK("LIST (SUBSCRIBED)",
	    strcmp(list(fd, "", "*", FOLDER_SEL_SUBSCRIBED),
		"INBOX(\\HasNoChildren \\Subscribed);"
		"Entw\xc3\xbcrfe(\\HasNoChildren \\Subscribed);"
		"Gone(\\NonExistent \\HasNoChildren \\Subscribed);"
		"Work.Project(\\HasNoChildren \\Subscribed);") == 0);
	CHECK("LIST (SUBSCRIBED RECURSIVEMATCH) %",
	    strcmp(list(fd, "", "%",
		       FOLDER_SEL_SUBSCRIBED | FOLDER_SEL_RECURSIVEMATCH),
		"INBOX(\\HasNoChildren \\Subscribed);"
		"Entw\xc3\xbcrfe(\\HasNoChildren \\Subscribed);"
		"Gone(\\NonExistent \\HasNoChildren \\Subscribed);"
		"Work(\\HasChildren CHILDINFO);") == 0);
	/* the child is listed itself: no need of its parent (RFC 5258 3.5) */
	CHECK("LIST (SUBSCRIBED RECURSIVEMATCH) Work*",
	    strcmp(list(fd, "", "Work*",
		       FOLDER_SEL_SUBSCRIBED | FOLDER_SEL_RECURSIVEMATCH),
		"Work.Project(\\HasNoChildren \\Subscribed);") == 0);
	CHECK("RETURN (SUBSCRIBED)",
	    strstr(list(fd, "", "*", FOLDER_RET_SUBSCRIBED),
		"Work(\\HasChildren);Work.Project(\\HasNoChildren "
		"\\Subscribed);") != NULL);
	CHECK("unsubscribe",
	    folder_subscribe(fd, "Gone", 0, &why) == FOLDER_OK &&
		folder_subscribe(fd, "Gone", 0, &why) == FOLDER_OK &&
		strstr(get_file(fd, "subscriptions"), "Gone") == NULL);
	CHECK("rename moves subscriptions",
	    folder_rename(fd, "Work", "Job", &why) == FOLDER_OK &&
		strstr(get_file(fd, "subscriptions"), "Job\tProject\n") !=
		    NULL);
	CHECK("subscribe hostile",
	    folder_subscribe(fd, "a\nb", 1, &why) == FOLDER_ERR_CANNOT);

	/* what Dovecot wrote, both versions, with junk lines */
	put_file(fd, "subscriptions",
	    "V\t2\n\nINBOX\nA\tB\nEntw&APw-rfe\nbad&\n\n"
	    "x\001ty\n../etc\nSent\n");
	CHECK("Dovecot v2 file read",
	    strcmp(list(fd, "", "*", FOLDER_LSUB),
		"INBOX();A.B();Entw\xc3\xbcrfe();Sent();") == 0);
	put_file(fd, "subscriptions", "INBOX\nA.B\nTrash.\nEntw&APw-rfe\n");
	CHECK("Dovecot v1 file read",
	    strcmp(list(fd, "", "*", FOLDER_LSUB),
		"INBOX();A.B();Entw\xc3\xbcrfe();Trash();") == 0);
	CHECK("v1 kept when written",
	    folder_subscribe(fd, "C.D", 1, &why) == FOLDER_OK &&
		strcmp(get_file(fd, "subscriptions"),
		    "INBOX\nA.B\nTrash\nEntw&APw-rfe\nC.D\n") == 0);
	close(fd);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(root, sizeof(root), "%s/boxd-test-folder.%d",
	    tmp != NULL ? tmp : "/tmp", (int)getpid());
	log_init(1, LOG_LEVEL_INFO, "test_folder");
	test_names();
	test_list();
	test_list_many();
	test_special();
	test_create_delete_rename();
	test_subscriptions();
	rm_rf(root);
	TEST_EXIT();
}
