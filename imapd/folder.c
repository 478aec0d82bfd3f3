/*
 * The folder tree of one user's Maildir: LIST and LSUB (RFC 3501, RFC
 * 5258, RFC 6154), CREATE, DELETE, RENAME, SUBSCRIBE.  Dovecot's default
 * Maildir++ layout: folder "A.B" is the directory ".A.B" in modified
 * UTF-7, INBOX the Maildir itself.  Directory names are written by other
 * programs too, so every one read back is checked like a client's name.
 *
 * Two small files beside cur/ new/ tmp/:
 *   subscriptions     Dovecot's: "V\t2\n\n", then one name a line, its
 *                     levels split by tabs (version 2), or one name a line
 *                     with '.' (version 1, still read and kept).  Names
 *                     as on disk, modified UTF-7.
 *   boxd-special-use  "boxd-special-use\t1", then "\Sent\tNAME" lines:
 *                     which folder has which special use (RFC 6154).
 *                     Its presence also says the special folders were
 *                     made once, so that one the user deletes stays so.
 */

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "imapd.h"

#define FOLDER_SUBS_FILE    "subscriptions"
#define FOLDER_SUBS_TMP	    "subscriptions.lock"
#define FOLDER_SUBS_V2	    "V\t2\n\n"
#define FOLDER_SPECIAL_FILE "boxd-special-use"
#define FOLDER_SPECIAL_TMP  "boxd-special-use.lock"
#define FOLDER_SPECIAL_HEAD "boxd-special-use\t1"
#define FOLDER_DELETED	    "..boxd-deleted."
/* a file of ours larger than this is not read: a name list cannot be */
#define FOLDER_FILE_MAX (4 * 1024 * 1024)
/* folders, subscriptions and their parents held for one LIST */
#define FOLDER_NODES_MAX (4 * FOLDER_COUNT_MAX)
/* levels under a folder's directory a DELETE removes */
#define FOLDER_RM_DEPTH 4

/* node flags beside the FOLDER_* attributes */
#define NODE_EXISTS	0x100000
#define NODE_SUBSCRIBED 0x200000
#define NODE_HASCHILD	0x400000 /* an existing folder below */
#define NODE_CHILDSUB	0x800000 /* a subscribed name below */

struct folder_node {
	char *name;
	unsigned int flags;
};

struct folder_tree {
	struct folder_node *v;
	size_t n, cap;
};

/* names in a file of ours: subscriptions or special uses */
struct folder_names {
	char **name;
	unsigned int *use;
	size_t n, cap;
	int version; /* subscriptions: 1 or 2 */
};

static const struct {
	unsigned int bit;
	const char *word;
} folder_attr_words[] = {
    {FOLDER_NOSELECT, "\\Noselect"},
    {FOLDER_NONEXISTENT, "\\NonExistent"},
    {FOLDER_NOINFERIORS, "\\Noinferiors"},
    {FOLDER_HASCHILDREN, "\\HasChildren"},
    {FOLDER_HASNOCHILDREN, "\\HasNoChildren"},
    {FOLDER_SUBSCRIBED, "\\Subscribed"},
    {FOLDER_MARKED, "\\Marked"},
    {FOLDER_UNMARKED, "\\Unmarked"},
    {FOLDER_DRAFTS, "\\Drafts"},
    {FOLDER_SENT, "\\Sent"},
    {FOLDER_TRASH, "\\Trash"},
    {FOLDER_JUNK, "\\Junk"},
    {FOLDER_ARCHIVE, "\\Archive"},
};

/* the folders made at first login, and names they go by in other installs */
static const struct {
	unsigned int use;
	const char *names[5];
} folder_specials[] = {
    {FOLDER_DRAFTS, {"Drafts", NULL}},
    {FOLDER_SENT, {"Sent", "Sent Messages", "Sent Items", "Sent Mail", NULL}},
    {FOLDER_TRASH, {"Trash", "Deleted Messages", "Deleted Items", NULL}},
    {FOLDER_JUNK, {"Junk", "Spam", "Junk E-mail", NULL}},
    {FOLDER_ARCHIVE, {"Archive", "Archives", NULL}},
};

const char *
folder_err_code(enum folder_err err)
{
	switch (err) {
	case FOLDER_OK:
		return NULL;
	case FOLDER_ERR_CANNOT:
		return "CANNOT";
	case FOLDER_ERR_NONEXISTENT:
		return "NONEXISTENT";
	case FOLDER_ERR_ALREADYEXISTS:
		return "ALREADYEXISTS";
	case FOLDER_ERR_LIMIT:
		return "LIMIT";
	case FOLDER_ERR_USEATTR:
		return "USEATTR";
	case FOLDER_ERR_SERVERBUG:
		return "SERVERBUG";
	}
	return "SERVERBUG";
}

/* "inbox" as a name's first level, any case */
static int
folder_is_inbox_prefix(const char *name)
{
	return strncasecmp(name, MAILDIR_INBOX, 5) == 0 &&
	    (name[5] == '\0' || name[5] == FOLDER_SEP);
}

enum folder_err
folder_name_check(const char *name, const char **why)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name), i, n, depth = 1;

	if (len == 0) {
		*why = "Empty folder name";
		return FOLDER_ERR_CANNOT;
	}
	if (len > FOLDER_NAME_MAX) {
		*why = "Folder name too long";
		return FOLDER_ERR_CANNOT;
	}
	for (i = 0; i < len; i += n) {
		n = 1;
		if (p[i] < 0x20 || p[i] == 0x7f) {
			*why = "Folder name with a control character";
			return FOLDER_ERR_CANNOT;
		}
		if (p[i] == '/' || p[i] == '*' || p[i] == '%') {
			*why = "Folder name with '/', '*' or '%'";
			return FOLDER_ERR_CANNOT;
		}
		if (p[i] == FOLDER_SEP) {
			/* Maildir++ cannot hold an empty level */
			if (i == 0 || i == len - 1 || p[i + 1] == FOLDER_SEP) {
				*why = "Folder name with an empty level";
				return FOLDER_ERR_CANNOT;
			}
			if (++depth > FOLDER_DEPTH_MAX) {
				*why = "Folder name too deep";
				return FOLDER_ERR_CANNOT;
			}
		}
		if (p[i] >= 0x80 &&
		    ((n = utf8_seqlen(p + i)) == 0 || n > len - i)) {
			*why = "Folder name not valid UTF-8";
			return FOLDER_ERR_CANNOT;
		}
	}
	return FOLDER_OK;
}

/* name with a first level of INBOX in any case spelled "INBOX" */
static int
folder_canon(const char *name, char *buf, size_t len)
{
	if (strlcpy(buf, name, len) >= len)
		return -1;
	if (folder_is_inbox_prefix(buf))
		memcpy(buf, MAILDIR_INBOX, 5);
	return 0;
}

int
folder_dir(const char *name, char *dir, size_t len)
{
	char canon[FOLDER_NAME_MAX + 1];
	const char *why;

	if (folder_name_check(name, &why) != FOLDER_OK ||
	    folder_canon(name, canon, sizeof(canon)) == -1)
		return -1;
	if (strcmp(canon, MAILDIR_INBOX) == 0)
		return strlcpy(dir, ".", len) >= len ? -1 : 0;
	if (len < 2 || imap_utf8_to_utf7(canon, dir + 1, len - 1) == -1)
		return -1;
	dir[0] = '.';
	/* a directory name the file system takes */
	return strlen(dir) > MAILDIR_NAME_MAX ? -1 : 0;
}

/* a name as the subscriptions file has it (no leading dot) to UTF-8 */
static int
folder_storage_name(const char *stored, char *name, size_t len)
{
	const char *why;

	if (strcmp(stored, MAILDIR_INBOX) == 0)
		return strlcpy(name, MAILDIR_INBOX, len) >= len ? -1 : 0;
	if (imap_utf7_to_utf8(stored, name, len) == -1 ||
	    folder_name_check(name, &why) != FOLDER_OK)
		return -1;
	/* "inbox.x" on disk would be a folder no name reaches */
	if (folder_is_inbox_prefix(name) &&
	    (strncmp(name, MAILDIR_INBOX, 5) != 0 || name[5] == '\0'))
		return -1;
	return 0;
}

int
folder_dir_name(const char *dir, char *name, size_t len)
{
	if (strcmp(dir, ".") == 0)
		return strlcpy(name, MAILDIR_INBOX, len) >= len ? -1 : 0;
	if (dir[0] != '.' || strcmp(dir + 1, MAILDIR_INBOX) == 0)
		return -1;
	return folder_storage_name(dir + 1, name, len);
}

unsigned int
folder_special_parse(const char *atom)
{
	size_t i;

	for (i = 0; i < sizeof(folder_attr_words) / sizeof(*folder_attr_words);
	     i++)
		if ((folder_attr_words[i].bit & FOLDER_SPECIAL_MASK) &&
		    strcasecmp(atom, folder_attr_words[i].word) == 0)
			return folder_attr_words[i].bit;
	return 0;
}

int
folder_attrs_format(unsigned int attrs, char *buf, size_t len)
{
	size_t i;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	for (i = 0; i < sizeof(folder_attr_words) / sizeof(*folder_attr_words);
	     i++) {
		if (!(attrs & folder_attr_words[i].bit))
			continue;
		if ((buf[0] != '\0' && strlcat(buf, " ", len) >= len) ||
		    strlcat(buf, folder_attr_words[i].word, len) >= len)
			return -1;
	}
	return 0;
}

/* ---- small files of ours and Dovecot's */

/* the whole file, NUL-terminated, NULL with errno ENOENT if it is not there */
static char *
folder_file_read(int dirfd, const char *file, size_t *lenp)
{
	struct stat st;
	char *buf;
	size_t off = 0;
	ssize_t n;
	int fd, save;

	/* a FIFO in a copied Maildir must not block the one imap process */
	if ((fd = openat(dirfd, file,
		 O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > FOLDER_FILE_MAX) {
		close(fd);
		errno = EFBIG;
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	save = errno;
	close(fd);
	if (off != (size_t)st.st_size) {
		free(buf);
		errno = save != 0 ? save : EIO;
		return NULL;
	}
	buf[off] = '\0';
	*lenp = off;
	return buf;
}

/* write a file of ours whole: a temporary name, fsync, rename */
static int
folder_file_write(
    int dirfd, const char *file, const char *tmp, const char *data, size_t len)
{
	size_t off = 0;
	ssize_t n;
	int fd;

	if ((fd = openat(dirfd, tmp,
		 O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		 0600)) == -1) {
		log_warn("folder: %s", tmp);
		return -1;
	}
	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_warn("folder: write %s", tmp);
			break;
		}
		off += (size_t)n;
	}
	if (off != len || fsync(fd) == -1) {
		if (off == len)
			log_warn("folder: fsync %s", tmp);
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	if (close(fd) == -1 || renameat(dirfd, tmp, dirfd, file) == -1) {
		log_warn("folder: rename %s", file);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	if (fsync(dirfd) == -1)
		log_warn("folder: fsync of the Maildir");
	return 0;
}

static void
folder_names_free(struct folder_names *fn)
{
	size_t i;

	for (i = 0; i < fn->n; i++)
		free(fn->name[i]);
	free(fn->name);
	free(fn->use);
	memset(fn, 0, sizeof(*fn));
}

static int
folder_names_add(struct folder_names *fn, const char *name, unsigned int use)
{
	char **nv;
	unsigned int *uv;
	size_t cap;

	if (fn->n == fn->cap) {
		if (fn->cap >= FOLDER_COUNT_MAX)
			return -1;
		cap = fn->cap == 0 ? 16 : fn->cap * 2;
		if ((nv = reallocarray(fn->name, cap, sizeof(*nv))) == NULL)
			return -1;
		fn->name = nv;
		if ((uv = reallocarray(fn->use, cap, sizeof(*uv))) == NULL)
			return -1;
		fn->use = uv;
		fn->cap = cap;
	}
	if ((fn->name[fn->n] = strdup(name)) == NULL)
		return -1;
	fn->use[fn->n++] = use;
	return 0;
}

static ssize_t
folder_names_find(const struct folder_names *fn, const char *name)
{
	size_t i;

	for (i = 0; i < fn->n; i++)
		if (strcmp(fn->name[i], name) == 0)
			return (ssize_t)i;
	return -1;
}

static void
folder_names_remove(struct folder_names *fn, size_t i)
{
	free(fn->name[i]);
	fn->name[i] = fn->name[fn->n - 1];
	fn->use[i] = fn->use[fn->n - 1];
	fn->n--;
}

/*
 * The subscriptions, in UTF-8.  Lines that do not make a valid name are
 * left out, as Dovecot drops them; a missing file is none.
 */
static int
folder_subs_load(int dirfd, struct folder_names *fn)
{
	char *buf, *line, *next, *p, name[FOLDER_NAME_MAX + 1];
	size_t len;

	memset(fn, 0, sizeof(*fn));
	fn->version = 2; /* what Dovecot 2.3 writes a new file in */
	if ((buf = folder_file_read(dirfd, FOLDER_SUBS_FILE, &len)) == NULL) {
		if (errno == ENOENT)
			return 0;
		log_warn("folder: %s", FOLDER_SUBS_FILE);
		return -1;
	}
	line = buf;
	if (strncmp(buf, FOLDER_SUBS_V2, strlen(FOLDER_SUBS_V2)) == 0)
		line += strlen(FOLDER_SUBS_V2);
	else
		fn->version = 1;
	for (; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (fn->version == 2)
			for (p = line; (p = strchr(p, '\t')) != NULL; p++)
				*p = FOLDER_SEP;
		/* a trailing separator, as old Dovecots wrote */
		len = strlen(line);
		if (len > 1 && line[len - 1] == FOLDER_SEP)
			line[len - 1] = '\0';
		if (folder_storage_name(line, name, sizeof(name)) == -1 ||
		    folder_names_find(fn, name) != -1)
			continue;
		if (folder_names_add(fn, name, 0) == -1)
			break;
	}
	free(buf);
	return 0;
}

/* a name as stored in our files and Dovecot's: modified UTF-7, no dot */
static int
folder_stored(const char *name, char *buf, size_t len)
{
	char dir[MAILDIR_NAME_MAX + 2];

	if (folder_dir(name, dir, sizeof(dir)) == -1)
		return -1;
	if (strcmp(dir, ".") == 0)
		return strlcpy(buf, MAILDIR_INBOX, len) >= len ? -1 : 0;
	return strlcpy(buf, dir + 1, len) >= len ? -1 : 0;
}

/* one growing text buffer */
struct folder_text {
	char *s;
	size_t len, cap;
	int failed;
};

static void
folder_text_add(struct folder_text *t, const char *s)
{
	size_t n = strlen(s), cap;
	char *p;

	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		cap = t->cap == 0 ? 1024 : t->cap;
		while (cap < t->len + n + 1)
			cap *= 2;
		if ((p = realloc(t->s, cap)) == NULL) {
			t->failed = 1;
			return;
		}
		t->s = p;
		t->cap = cap;
	}
	memcpy(t->s + t->len, s, n + 1);
	t->len += n;
}

static int
folder_subs_save(int dirfd, const struct folder_names *fn)
{
	struct folder_text t = {0};
	char stored[MAILDIR_NAME_MAX + 1], *p;
	size_t i;
	int rv;

	folder_text_add(&t, fn->version == 2 ? FOLDER_SUBS_V2 : "");
	for (i = 0; i < fn->n; i++) {
		if (folder_stored(fn->name[i], stored, sizeof(stored)) == -1)
			continue;
		if (fn->version == 2)
			for (p = stored; (p = strchr(p, FOLDER_SEP)) != NULL;
			     p++)
				*p = '\t';
		folder_text_add(&t, stored);
		folder_text_add(&t, "\n");
	}
	if (t.failed) {
		free(t.s);
		return -1;
	}
	rv = folder_file_write(dirfd, FOLDER_SUBS_FILE, FOLDER_SUBS_TMP,
	    t.s != NULL ? t.s : "", t.len);
	free(t.s);
	return rv;
}

/* the special uses; 1 if the file is there, 0 if not, -1 on error */
static int
folder_special_load(int dirfd, struct folder_names *fn)
{
	char *buf, *line, *next, *tab, *word, *last, name[FOLDER_NAME_MAX + 1];
	unsigned int use;
	size_t len;

	memset(fn, 0, sizeof(*fn));
	if ((buf = folder_file_read(dirfd, FOLDER_SPECIAL_FILE, &len)) ==
	    NULL) {
		if (errno == ENOENT)
			return 0;
		log_warn("folder: %s", FOLDER_SPECIAL_FILE);
		return -1;
	}
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((tab = strchr(line, '\t')) == NULL)
			continue;
		*tab++ = '\0';
		/* one folder may have several uses, "\\Sent \\Archive" */
		use = 0;
		for (word = strtok_r(line, " ", &last); word != NULL;
		     word = strtok_r(NULL, " ", &last))
			use |= folder_special_parse(word);
		if (use == 0 ||
		    folder_storage_name(tab, name, sizeof(name)) == -1)
			continue;
		if (folder_names_add(fn, name, use) == -1)
			break;
	}
	free(buf);
	return 1;
}

static int
folder_special_save(int dirfd, const struct folder_names *fn)
{
	struct folder_text t = {0};
	char stored[MAILDIR_NAME_MAX + 1], word[64];
	size_t i;
	int rv;

	folder_text_add(&t, FOLDER_SPECIAL_HEAD "\n");
	for (i = 0; i < fn->n; i++) {
		if (folder_stored(fn->name[i], stored, sizeof(stored)) == -1 ||
		    folder_attrs_format(fn->use[i], word, sizeof(word)) == -1)
			continue;
		folder_text_add(&t, word);
		folder_text_add(&t, "\t");
		folder_text_add(&t, stored);
		folder_text_add(&t, "\n");
	}
	if (t.failed) {
		free(t.s);
		return -1;
	}
	rv = folder_file_write(
	    dirfd, FOLDER_SPECIAL_FILE, FOLDER_SPECIAL_TMP, t.s, t.len);
	free(t.s);
	return rv;
}

/* ---- the tree of names */

static void
folder_tree_free(struct folder_tree *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i].name);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int
folder_tree_add(
    struct folder_tree *t, const char *name, size_t len, unsigned int flags)
{
	struct folder_node *v;
	size_t cap;

	if (t->n == t->cap) {
		if (t->cap >= FOLDER_NODES_MAX)
			return -1;
		cap = t->cap == 0 ? 64 : t->cap * 2;
		if ((v = reallocarray(t->v, cap, sizeof(*v))) == NULL)
			return -1;
		t->v = v;
		t->cap = cap;
	}
	if ((t->v[t->n].name = strndup(name, len)) == NULL)
		return -1;
	t->v[t->n++].flags = flags;
	return 0;
}

static int
folder_node_cmp(const void *a, const void *b)
{
	const struct folder_node *na = a, *nb = b;

	return strcmp(na->name, nb->name);
}

/* the same among the first n nodes, which are sorted */
static struct folder_node *
folder_tree_find_in(
    struct folder_tree *t, size_t n, const char *name, size_t len)
{
	size_t lo = 0, hi = n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strncmp(name, t->v[mid].name, len)) == 0 &&
		    t->v[mid].name[len] != '\0')
			c = -1;
		if (c == 0)
			return &t->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* the node named by the first len octets of name, or NULL */
static struct folder_node *
folder_tree_find(struct folder_tree *t, const char *name, size_t len)
{
	return folder_tree_find_in(t, t->n, name, len);
}

/* sorted, each name once with its flags together */
static void
folder_tree_merge(struct folder_tree *t)
{
	size_t i, o = 0;

	if (t->n == 0)
		return;
	qsort(t->v, t->n, sizeof(*t->v), folder_node_cmp);
	for (i = 1; i < t->n; i++) {
		if (strcmp(t->v[o].name, t->v[i].name) == 0) {
			t->v[o].flags |= t->v[i].flags;
			free(t->v[i].name);
		} else
			t->v[++o] = t->v[i];
	}
	t->n = o + 1;
}

/* a directory, not a link to one */
static int
folder_is_dir(int dirfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode);
}

/*
 * Every folder on disk, INBOX, the subscriptions, the special uses and
 * the parents of all those, with what is known of each.
 */
static int
folder_tree_build(int dirfd, struct folder_tree *t, int with_subs)
{
	struct folder_names subs, special;
	struct folder_node *node;
	struct dirent *de;
	char name[FOLDER_NAME_MAX + 1];
	size_t i, n, folders = 0;
	DIR *d;
	int fd;

	memset(t, 0, sizeof(*t));
	if (folder_tree_add(t, MAILDIR_INBOX, 5, NODE_EXISTS) == -1)
		return -1;
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || !folder_is_dir(fd, de) ||
		    folder_dir_name(de->d_name, name, sizeof(name)) == -1 ||
		    strcmp(name, MAILDIR_INBOX) == 0)
			continue;
		if (++folders > FOLDER_COUNT_MAX) {
			log_warnx("folder: more than %d folders, the rest "
				  "not listed",
			    FOLDER_COUNT_MAX);
			break;
		}
		if (folder_tree_add(t, name, strlen(name), NODE_EXISTS) == -1)
			break;
	}
	closedir(d);
	if (with_subs) {
		if (folder_subs_load(dirfd, &subs) == -1)
			return -1;
		for (i = 0; i < subs.n; i++)
			if (folder_tree_add(t, subs.name[i],
				strlen(subs.name[i]), NODE_SUBSCRIBED) == -1)
				break;
		folder_names_free(&subs);
	}
	folder_tree_merge(t);
	/*
	 * The parents no directory stands for.  Names below one parent sort
	 * together, so a parent the node before shares was added for it.
	 */
	n = t->n;
	for (i = 0; i < n; i++) {
		const char *p = t->v[i].name, *prev;

		prev = i > 0 ? t->v[i - 1].name : "";
		while ((p = strchr(p, FOLDER_SEP)) != NULL) {
			size_t len = (size_t)(p - t->v[i].name);

			p++;
			if (strncmp(prev, t->v[i].name, len + 1) == 0 ||
			    folder_tree_find_in(t, n, t->v[i].name, len) !=
				NULL)
				continue;
			if (folder_tree_add(t, t->v[i].name, len, 0) == -1)
				break;
		}
	}
	folder_tree_merge(t);
	for (i = 0; i < t->n; i++) {
		const char *p = t->v[i].name;
		unsigned int up = 0;

		if (t->v[i].flags & NODE_EXISTS)
			up |= NODE_HASCHILD;
		if (t->v[i].flags & NODE_SUBSCRIBED)
			up |= NODE_CHILDSUB;
		while (up != 0 && (p = strchr(p, FOLDER_SEP)) != NULL) {
			node = folder_tree_find(
			    t, t->v[i].name, (size_t)(p - t->v[i].name));
			if (node != NULL)
				node->flags |= up;
			p++;
		}
	}
	if (folder_special_load(dirfd, &special) == -1)
		return -1;
	for (i = 0; i < special.n; i++) {
		node = folder_tree_find(
		    t, special.name[i], strlen(special.name[i]));
		if (node != NULL && (node->flags & NODE_EXISTS))
			node->flags |= special.use[i];
	}
	folder_names_free(&special);
	return 0;
}

/* ---- patterns */

/*
 * A LIST pattern as a bit-parallel automaton: state i is "the first i
 * elements matched"; each octet of a name costs a few word operations
 * per 64 elements, whatever the wildcards, so no pattern can make a
 * listing slow.
 */
struct folder_pattern {
	size_t m;	  /* elements */
	size_t words;	  /* 64-bit words of a state set, m + 1 bits */
	uint64_t *lit;	  /* [256][words]: elements that are that octet */
	uint64_t *star;	  /* elements that are '*' */
	uint64_t *pct;	  /* elements that are '%' */
	uint64_t *wild;	  /* star | pct */
	uint64_t *s, *ns; /* the state sets */
	int ends_pct;	  /* the pattern's last element is '%' */
};

static void
folder_pattern_free(struct folder_pattern *fp)
{
	free(fp->lit); /* every set lives in this one allocation */
	memset(fp, 0, sizeof(*fp));
}

static void
folder_bit_set(uint64_t *v, size_t i)
{
	v[i / 64] |= (uint64_t)1 << (i % 64);
}

static int
folder_pattern_compile(
    struct folder_pattern *fp, const char *ref, const char *pat)
{
	char full[FOLDER_PATTERN_MAX + 1];
	size_t len, i, m = 0, wild = 0, w;
	uint64_t *all;
	char c;

	memset(fp, 0, sizeof(*fp));
	if (strlcpy(full, ref, sizeof(full)) >= sizeof(full) ||
	    strlcat(full, pat, sizeof(full)) >= sizeof(full))
		return -1;
	if (folder_is_inbox_prefix(full))
		memcpy(full, MAILDIR_INBOX, 5);
	/* runs of wildcards as one: '*' if any of them is one */
	len = strlen(full);
	for (i = 0; i < len; i++) {
		c = full[i];
		if ((c == '*' || c == '%') && m > 0 &&
		    (full[m - 1] == '*' || full[m - 1] == '%')) {
			if (c == '*')
				full[m - 1] = '*';
			continue;
		}
		if (c == '*' || c == '%')
			wild++;
		full[m++] = c;
	}
	if (wild > FOLDER_WILDCARDS_MAX)
		return -1;
	fp->m = m;
	fp->words = w = (m + 1 + 63) / 64;
	if ((all = calloc((256 + 6) * w, sizeof(uint64_t))) == NULL)
		return -1;
	fp->lit = all;
	fp->star = all + 256 * w;
	fp->pct = fp->star + w;
	fp->wild = fp->pct + w;
	fp->s = fp->wild + w;
	fp->ns = fp->s + w;
	for (i = 0; i < m; i++) {
		if (full[i] == '*')
			folder_bit_set(fp->star, i);
		else if (full[i] == '%')
			folder_bit_set(fp->pct, i);
		else
			folder_bit_set(fp->lit + (unsigned char)full[i] * w, i);
	}
	for (i = 0; i < w; i++)
		fp->wild[i] = fp->star[i] | fp->pct[i];
	fp->ends_pct = m > 0 && full[m - 1] == '%';
	return 0;
}

/* s |= s << 1 restricted to the wildcard elements: they may match nothing */
static void
folder_pattern_close(const struct folder_pattern *fp, uint64_t *s)
{
	uint64_t carry = 0, t;
	size_t i;

	for (i = 0; i < fp->words; i++) {
		t = s[i] & fp->wild[i];
		s[i] |= (t << 1) | carry;
		carry = t >> 63;
	}
}

static int
folder_pattern_match(const struct folder_pattern *fp, const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	uint64_t carry, t, any;
	const uint64_t *lit;
	size_t i, w = fp->words;

	memset(fp->s, 0, w * sizeof(uint64_t));
	fp->s[0] = 1;
	folder_pattern_close(fp, fp->s);
	for (; *p != '\0'; p++) {
		lit = fp->lit + *p * w;
		carry = 0;
		any = 0;
		for (i = 0; i < w; i++) {
			t = fp->s[i] & lit[i];
			fp->ns[i] = (t << 1) | carry | (fp->s[i] & fp->star[i]);
			if (*p != FOLDER_SEP)
				fp->ns[i] |= fp->s[i] & fp->pct[i];
			carry = t >> 63;
			any |= fp->ns[i];
		}
		if (any == 0)
			return 0;
		folder_pattern_close(fp, fp->ns);
		memcpy(fp->s, fp->ns, w * sizeof(uint64_t));
	}
	return (fp->s[fp->m / 64] >> (fp->m % 64)) & 1;
}

int
folder_pattern_matches(const char *ref, const char *pattern, const char *name)
{
	struct folder_pattern fp;
	int rv;

	if (folder_pattern_compile(&fp, ref, pattern) == -1)
		return -1;
	rv = folder_pattern_match(&fp, name);
	folder_pattern_free(&fp);
	return rv;
}

/* ---- LIST */

/* what one node answers under opts; 0 if it is not listed */
static int
folder_node_attrs(const struct folder_node *node, unsigned int opts,
    int matched_parent, unsigned int *attrs)
{
	unsigned int f = node->flags, a = 0;
	int exists = (f & NODE_EXISTS) != 0;
	int subscribed = (f & NODE_SUBSCRIBED) != 0;

	*attrs = 0;
	if (opts & FOLDER_LSUB) {
		if (subscribed) {
			if (!exists && (f & NODE_HASCHILD))
				*attrs = FOLDER_NOSELECT;
			return 1;
		}
		/* RFC 3501 6.3.9: a level '%' stops at, above a subscription */
		*attrs = FOLDER_NOSELECT;
		return matched_parent && (f & NODE_CHILDSUB);
	}
	if ((opts & FOLDER_SEL_SUBSCRIBED) && !subscribed &&
	    (!(opts & FOLDER_SEL_RECURSIVEMATCH) || !(f & NODE_CHILDSUB)))
		return 0;
	if ((opts & FOLDER_SEL_SPECIALUSE) && !(f & FOLDER_SPECIAL_MASK))
		return 0;
	if (!exists && !(f & NODE_HASCHILD) && !(opts & FOLDER_SEL_SUBSCRIBED))
		return 0;
	/* a parent only its children stand for, or a name only subscribed */
	if (!exists)
		a |= (f & NODE_HASCHILD) ? FOLDER_NOSELECT : FOLDER_NONEXISTENT;
	a |= (f & NODE_HASCHILD) ? FOLDER_HASCHILDREN : FOLDER_HASNOCHILDREN;
	if (subscribed &&
	    (opts & (FOLDER_RET_SUBSCRIBED | FOLDER_SEL_SUBSCRIBED)))
		a |= FOLDER_SUBSCRIBED;
	a |= f & FOLDER_SPECIAL_MASK;
	if ((opts & FOLDER_SEL_RECURSIVEMATCH) &&
	    (opts & FOLDER_SEL_SUBSCRIBED) && (f & NODE_CHILDSUB))
		a |= FOLDER_CHILDINFO_SUBSCRIBED;
	*attrs = a;
	return 1;
}

/*
 * A parent listed for RECURSIVEMATCH alone is left out when a subscribed
 * name below it matches a pattern itself and so is listed (RFC 5258 3.5,
 * as imaptest's listext and Dovecot read it).
 */
static int
folder_childsub_listed(const struct folder_tree *t, const char *parent,
    const struct folder_pattern *fp, size_t np)
{
	size_t i, j, len = strlen(parent);

	for (i = 0; i < t->n; i++) {
		if (!(t->v[i].flags & NODE_SUBSCRIBED) ||
		    strncmp(t->v[i].name, parent, len) != 0 ||
		    t->v[i].name[len] != FOLDER_SEP)
			continue;
		for (j = 0; j < np; j++)
			if (folder_pattern_match(&fp[j], t->v[i].name))
				return 1;
	}
	return 0;
}

int
folder_list(int dirfd, const char *ref, const char *const *patterns,
    size_t npatterns, unsigned int opts, folder_list_cb cb, void *arg,
    const char **why)
{
	struct folder_pattern *fp;
	struct folder_tree t;
	size_t i, j, k, np = 0;
	unsigned int attrs;
	int rv = 0, matched, parent, with_subs;

	*why = NULL;
	if (npatterns > FOLDER_WILDCARDS_MAX) {
		*why = "Too many patterns";
		return -1;
	}
	/* LIST "" "": the separator and the root (RFC 3501 6.3.8) */
	for (i = 0; i < npatterns; i++)
		if (patterns[i][0] == '\0' && !(opts & FOLDER_LSUB) &&
		    (rv = cb("", FOLDER_NOSELECT, arg)) != 0)
			return rv;
	if ((fp = calloc(npatterns + 1, sizeof(*fp))) == NULL) {
		*why = "Out of memory";
		return -1;
	}
	for (i = 0; i < npatterns; i++) {
		if (patterns[i][0] == '\0')
			continue;
		if (folder_pattern_compile(&fp[np], ref, patterns[i]) == -1) {
			*why = "Pattern too long or with too many wildcards";
			rv = -1;
			goto done;
		}
		np++;
	}
	if (np == 0)
		goto done;
	with_subs = (opts &
			(FOLDER_LSUB | FOLDER_SEL_SUBSCRIBED |
			    FOLDER_RET_SUBSCRIBED)) != 0;
	if (folder_tree_build(dirfd, &t, with_subs) == -1) {
		folder_tree_free(&t);
		*why = "Cannot read the folders";
		rv = -1;
		goto done;
	}
	/* INBOX first, as clients expect, then in order */
	for (k = 0; k <= t.n && rv == 0; k++) {
		const struct folder_node *node;

		if (k == 0) {
			if ((node = folder_tree_find(&t, MAILDIR_INBOX, 5)) ==
			    NULL)
				continue;
		} else if (strcmp((node = &t.v[k - 1])->name, MAILDIR_INBOX) ==
		    0)
			continue;
		matched = parent = 0;
		for (j = 0; j < np && !matched; j++)
			if (folder_pattern_match(&fp[j], node->name)) {
				matched = 1;
				parent = fp[j].ends_pct;
			}
		if (!matched)
			continue;
		if ((opts & FOLDER_SEL_RECURSIVEMATCH) &&
		    (opts & FOLDER_SEL_SUBSCRIBED) &&
		    !(node->flags & NODE_SUBSCRIBED) &&
		    (node->flags & NODE_CHILDSUB) &&
		    folder_childsub_listed(&t, node->name, fp, np))
			continue;
		if (folder_node_attrs(node, opts, parent, &attrs))
			rv = cb(node->name, attrs, arg);
	}
	folder_tree_free(&t);
done:
	for (i = 0; i < np; i++)
		folder_pattern_free(&fp[i]);
	free(fp);
	return rv;
}

int
folder_attrs(int dirfd, const char *name, unsigned int *attrs)
{
	struct folder_tree t;
	struct folder_node *node;
	char canon[FOLDER_NAME_MAX + 1];
	const char *why;
	int rv = -1;

	if (folder_name_check(name, &why) != FOLDER_OK ||
	    folder_canon(name, canon, sizeof(canon)) == -1)
		return -1;
	if (folder_tree_build(dirfd, &t, 1) == 0 &&
	    (node = folder_tree_find(&t, canon, strlen(canon))) != NULL &&
	    (node->flags & NODE_EXISTS)) {
		(void)folder_node_attrs(node,
		    FOLDER_RET_SUBSCRIBED | FOLDER_RET_SPECIALUSE, 0, attrs);
		rv = 0;
	}
	folder_tree_free(&t);
	return rv;
}

/* ---- CREATE, DELETE, RENAME, SUBSCRIBE */

/* check and canonicalise a client's name; INBOX's children included */
static enum folder_err
folder_arg(const char *name, char *canon, size_t len, char *dir, size_t dirlen,
    const char **why)
{
	enum folder_err err;

	if ((err = folder_name_check(name, why)) != FOLDER_OK)
		return err;
	if (folder_canon(name, canon, len) == -1 ||
	    folder_dir(canon, dir, dirlen) == -1) {
		*why = "Folder name too long";
		return FOLDER_ERR_CANNOT;
	}
	return FOLDER_OK;
}

/* 1 if dir is a directory of the Maildir, 0 if not, -1 on error */
static int
folder_dir_exists(int dirfd, const char *dir)
{
	struct stat st;

	if (fstatat(dirfd, dir, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	return S_ISDIR(st.st_mode);
}

/* how many folder directories the Maildir has, -1 on error */
static int
folder_count(int dirfd)
{
	struct dirent *de;
	DIR *d;
	int fd, n = 0;

	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/*
 * One folder directory with cur/ new/ tmp/ and the "maildirfolder" mark
 * that Maildir++ quota writers look for; 1 if it was made, 0 if it was
 * there already (its missing parts made), -1 on error.
 */
static int
folder_mkdir(int dirfd, const char *dir)
{
	static const char *const sub[] = {"cur", "new", "tmp"};
	size_t i;
	int fd, mark, made = 1;

	if (mkdirat(dirfd, dir, 0700) == -1) {
		if (errno != EEXIST)
			return -1;
		made = 0;
	}
	if ((fd = openat(dirfd, dir,
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	for (i = 0; i < sizeof(sub) / sizeof(*sub); i++)
		if (mkdirat(fd, sub[i], 0700) == -1 && errno != EEXIST) {
			close(fd);
			return -1;
		}
	if ((mark = openat(fd, "maildirfolder",
		 O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		close(fd);
		return -1;
	}
	close(mark);
	close(fd);
	return made;
}

/* the folders above canon that are missing, made as folders (RFC 3501) */
static int
folder_mkparents(int dirfd, const char *canon)
{
	char parent[FOLDER_NAME_MAX + 1], dir[MAILDIR_NAME_MAX + 2];
	const char *p;

	for (p = canon; (p = strchr(p, FOLDER_SEP)) != NULL; p++) {
		memcpy(parent, canon, (size_t)(p - canon));
		parent[p - canon] = '\0';
		if (strcmp(parent, MAILDIR_INBOX) == 0)
			continue;
		if (folder_dir(parent, dir, sizeof(dir)) == -1 ||
		    folder_mkdir(dirfd, dir) == -1)
			return -1;
	}
	return 0;
}

/* set or clear the special uses of canon; the file is kept sorted by use */
static enum folder_err
folder_special_set(
    int dirfd, const char *canon, unsigned int use, const char **why)
{
	struct folder_names fn;
	ssize_t i;
	size_t j;

	if (folder_special_load(dirfd, &fn) == -1) {
		*why = "Cannot read the special uses";
		return FOLDER_ERR_SERVERBUG;
	}
	for (j = 0; j < fn.n; j++)
		if ((fn.use[j] & use) && strcmp(fn.name[j], canon) != 0) {
			folder_names_free(&fn);
			*why = "Another folder has that special use";
			return FOLDER_ERR_USEATTR;
		}
	if ((i = folder_names_find(&fn, canon)) != -1)
		folder_names_remove(&fn, (size_t)i);
	if (use != 0 && folder_names_add(&fn, canon, use) == -1) {
		folder_names_free(&fn);
		*why = "Too many special uses";
		return FOLDER_ERR_LIMIT;
	}
	if (folder_special_save(dirfd, &fn) == -1) {
		folder_names_free(&fn);
		*why = "Cannot write the special uses";
		return FOLDER_ERR_SERVERBUG;
	}
	folder_names_free(&fn);
	return FOLDER_OK;
}

enum folder_err
folder_create(
    int dirfd, const char *name, unsigned int special, const char **why)
{
	char canon[FOLDER_NAME_MAX + 1], dir[MAILDIR_NAME_MAX + 2];
	char trimmed[FOLDER_NAME_MAX + 2];
	struct folder_names fn;
	enum folder_err err;
	size_t len, j;
	int n;

	/* a trailing separator only says children will follow (6.3.3) */
	if (strlcpy(trimmed, name, sizeof(trimmed)) >= sizeof(trimmed)) {
		*why = "Folder name too long";
		return FOLDER_ERR_CANNOT;
	}
	if ((len = strlen(trimmed)) > 1 && trimmed[len - 1] == FOLDER_SEP)
		trimmed[len - 1] = '\0';
	if ((err = folder_arg(trimmed, canon, sizeof(canon), dir, sizeof(dir),
		 why)) != FOLDER_OK)
		return err;
	if (strcmp(canon, MAILDIR_INBOX) == 0) {
		*why = "INBOX always exists";
		return FOLDER_ERR_ALREADYEXISTS;
	}
	if (special & ~FOLDER_SPECIAL_MASK) {
		*why = "Not a special use";
		return FOLDER_ERR_USEATTR;
	}
	if ((n = folder_dir_exists(dirfd, dir)) != 0) {
		*why = n == 1 ? "Folder exists" : "Cannot read the folders";
		return n == 1 ? FOLDER_ERR_ALREADYEXISTS : FOLDER_ERR_SERVERBUG;
	}
	if ((n = folder_count(dirfd)) == -1 || n >= FOLDER_COUNT_MAX) {
		*why = n == -1 ? "Cannot read the folders" : "Too many folders";
		return n == -1 ? FOLDER_ERR_SERVERBUG : FOLDER_ERR_LIMIT;
	}
	/* a use another folder holds is refused before anything is made */
	if (special != 0) {
		if (folder_special_load(dirfd, &fn) == -1) {
			*why = "Cannot read the special uses";
			return FOLDER_ERR_SERVERBUG;
		}
		for (j = 0; j < fn.n; j++)
			if (fn.use[j] & special) {
				folder_names_free(&fn);
				*why = "Another folder has that special use";
				return FOLDER_ERR_USEATTR;
			}
		folder_names_free(&fn);
	}
	if (folder_mkparents(dirfd, canon) == -1 ||
	    (n = folder_mkdir(dirfd, dir)) == -1) {
		log_warn("folder: create %s", dir);
		*why = "Cannot create the folder";
		return FOLDER_ERR_SERVERBUG;
	}
	if (n == 0) {
		*why = "Folder exists";
		return FOLDER_ERR_ALREADYEXISTS;
	}
	if (fsync(dirfd) == -1)
		log_warn("folder: fsync of the Maildir");
	if (special != 0)
		return folder_special_set(dirfd, canon, special, why);
	return FOLDER_OK;
}

/* remove a directory and what it holds, FOLDER_RM_DEPTH levels at most */
static int
folder_rmtree(int dirfd, const char *name, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd, rv = 0;

	if ((fd = openat(dirfd, name,
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0)
			continue;
		if ((errno != EISDIR && errno != EPERM) ||
		    depth >= FOLDER_RM_DEPTH ||
		    folder_rmtree(fd, de->d_name, depth + 1) == -1)
			rv = -1;
	}
	closedir(d);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) == -1)
		rv = -1;
	return rv;
}

/* rename or drop (to NULL) the subscriptions of from and its children */
static void
folder_subs_move(int dirfd, const char *from, const char *to)
{
	struct folder_names fn;
	char moved[FOLDER_NAME_MAX + 1];
	size_t i, flen = strlen(from);
	int changed = 0;

	if (folder_subs_load(dirfd, &fn) == -1)
		return;
	for (i = 0; i < fn.n; i++) {
		if (strncmp(fn.name[i], from, flen) != 0 ||
		    (fn.name[i][flen] != '\0' &&
			fn.name[i][flen] != FOLDER_SEP))
			continue;
		if (snprintf(moved, sizeof(moved), "%s%s", to,
			fn.name[i] + flen) >= (int)sizeof(moved))
			continue;
		free(fn.name[i]);
		if ((fn.name[i] = strdup(moved)) == NULL) {
			folder_names_free(&fn);
			return;
		}
		changed = 1;
	}
	if (changed && folder_subs_save(dirfd, &fn) == -1)
		log_warnx("folder: subscriptions not renamed");
	folder_names_free(&fn);
}

/* the special uses of from and its children follow them to to (or go) */
static void
folder_special_move(int dirfd, const char *from, const char *to)
{
	struct folder_names fn;
	char moved[FOLDER_NAME_MAX + 1];
	size_t i, flen = strlen(from);
	int changed = 0;

	if (folder_special_load(dirfd, &fn) != 1)
		return;
	for (i = 0; i < fn.n; i++) {
		if (strncmp(fn.name[i], from, flen) != 0 ||
		    (fn.name[i][flen] != '\0' &&
			fn.name[i][flen] != FOLDER_SEP))
			continue;
		changed = 1;
		if (to == NULL && fn.name[i][flen] == '\0') {
			folder_names_remove(&fn, i--);
			continue;
		}
		if (to == NULL ||
		    snprintf(moved, sizeof(moved), "%s%s", to,
			fn.name[i] + flen) >= (int)sizeof(moved))
			continue;
		free(fn.name[i]);
		if ((fn.name[i] = strdup(moved)) == NULL) {
			folder_names_free(&fn);
			return;
		}
	}
	if (changed && folder_special_save(dirfd, &fn) == -1)
		log_warnx("folder: special uses not updated");
	folder_names_free(&fn);
}

enum folder_err
folder_delete(int dirfd, const char *name, const char **why)
{
	char canon[FOLDER_NAME_MAX + 1], dir[MAILDIR_NAME_MAX + 2];
	char gone[64];
	enum folder_err err;
	int n;

	if ((err = folder_arg(name, canon, sizeof(canon), dir, sizeof(dir),
		 why)) != FOLDER_OK)
		return err;
	if (strcmp(canon, MAILDIR_INBOX) == 0) {
		*why = "INBOX cannot be deleted";
		return FOLDER_ERR_CANNOT;
	}
	if ((n = folder_dir_exists(dirfd, dir)) != 1) {
		*why = n == 0 ? "No such folder" : "Cannot read the folders";
		return n == 0 ? FOLDER_ERR_NONEXISTENT : FOLDER_ERR_SERVERBUG;
	}
	/* out of every listing at once, then removed at leisure */
	(void)snprintf(
	    gone, sizeof(gone), "%s%08x", FOLDER_DELETED, arc4random());
	if (renameat(dirfd, dir, dirfd, gone) == -1) {
		log_warn("folder: delete %s", dir);
		*why = "Cannot delete the folder";
		return FOLDER_ERR_SERVERBUG;
	}
	if (fsync(dirfd) == -1)
		log_warn("folder: fsync of the Maildir");
	if (folder_rmtree(dirfd, gone, 0) == -1)
		log_warn("folder: %s not all removed", gone);
	folder_special_move(dirfd, canon, NULL);
	return FOLDER_OK;
}

/* INBOX renamed: its messages move, INBOX stays (RFC 3501 6.3.5) */
static enum folder_err
folder_rename_inbox(int dirfd, const char *dir, const char **why)
{
	static const char *const sub[] = {"cur", "new"};
	struct dirent *de;
	struct keywords kw;
	char path[MAILDIR_NAME_MAX * 2 + 8];
	size_t i;
	DIR *d;
	int fd, tofd, rv = FOLDER_OK;

	if ((tofd = openat(dirfd, dir,
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		*why = "Cannot open the new folder";
		return FOLDER_ERR_SERVERBUG;
	}
	/* the letters in the names mean there what they meant in INBOX */
	if (keywords_read(dirfd, &kw) == 0) {
		if (keywords_write(tofd, &kw) == -1)
			log_warn("folder: %s of %s", KEYWORDS_FILE, dir);
		keywords_free(&kw);
	}
	for (i = 0; i < sizeof(sub) / sizeof(*sub); i++) {
		if ((fd = openat(dirfd, sub[i],
			 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) ==
		    -1)
			continue;
		if ((d = fdopendir(fd)) == NULL) {
			close(fd);
			rv = FOLDER_ERR_SERVERBUG;
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			(void)snprintf(
			    path, sizeof(path), "%s/%s", sub[i], de->d_name);
			if (renameat(fd, de->d_name, tofd, path) == -1) {
				log_warn("folder: move %s", path);
				rv = FOLDER_ERR_SERVERBUG;
			}
		}
		closedir(d);
	}
	if (fsync(tofd) == -1)
		log_warn("folder: fsync");
	close(tofd);
	if (rv != FOLDER_OK)
		*why = "Not every message of INBOX moved";
	return (enum folder_err)rv;
}

enum folder_err
folder_rename(int dirfd, const char *from, const char *to, const char **why)
{
	char fcanon[FOLDER_NAME_MAX + 1], fdir[MAILDIR_NAME_MAX + 2];
	char tcanon[FOLDER_NAME_MAX + 1], tdir[MAILDIR_NAME_MAX + 2];
	char src[MAILDIR_NAME_MAX + 2], dst[MAILDIR_NAME_MAX + 2];
	char moved[FOLDER_NAME_MAX + 1];
	struct folder_tree t;
	enum folder_err err;
	size_t i, flen;
	int n, pass, any = 0;

	if ((err = folder_arg(from, fcanon, sizeof(fcanon), fdir, sizeof(fdir),
		 why)) != FOLDER_OK ||
	    (err = folder_arg(to, tcanon, sizeof(tcanon), tdir, sizeof(tdir),
		 why)) != FOLDER_OK)
		return err;
	flen = strlen(fcanon);
	if (strcmp(tcanon, MAILDIR_INBOX) == 0 ||
	    (n = folder_dir_exists(dirfd, tdir)) == 1) {
		*why = "The new name exists";
		return FOLDER_ERR_ALREADYEXISTS;
	}
	if (n == -1) {
		*why = "Cannot read the folders";
		return FOLDER_ERR_SERVERBUG;
	}
	if (strncmp(tcanon, fcanon, flen) == 0 && tcanon[flen] == FOLDER_SEP) {
		*why = "A folder cannot move under itself";
		return FOLDER_ERR_CANNOT;
	}
	if (strcmp(fcanon, MAILDIR_INBOX) == 0) {
		if (folder_mkparents(dirfd, tcanon) == -1 ||
		    folder_mkdir(dirfd, tdir) == -1) {
			*why = "Cannot create the folder";
			return FOLDER_ERR_SERVERBUG;
		}
		return folder_rename_inbox(dirfd, tdir, why);
	}
	/* the folder and its children, each its own directory */
	if (folder_tree_build(dirfd, &t, 0) == -1) {
		folder_tree_free(&t);
		*why = "Cannot read the folders";
		return FOLDER_ERR_SERVERBUG;
	}
	/* every new name checked before the first directory moves */
	for (pass = 0; pass < 2 && err == FOLDER_OK; pass++) {
		for (i = 0; i < t.n && err == FOLDER_OK; i++) {
			const char *name = t.v[i].name;

			if (!(t.v[i].flags & NODE_EXISTS) ||
			    strncmp(name, fcanon, flen) != 0 ||
			    (name[flen] != '\0' && name[flen] != FOLDER_SEP))
				continue;
			if (snprintf(moved, sizeof(moved), "%s%s", tcanon,
				name + flen) >= (int)sizeof(moved) ||
			    folder_dir(name, src, sizeof(src)) == -1 ||
			    folder_dir(moved, dst, sizeof(dst)) == -1) {
				*why = "A new name would be too long";
				err = FOLDER_ERR_CANNOT;
			} else if (pass == 0) {
				if (folder_dir_exists(dirfd, dst) != 0) {
					*why = "A new name exists";
					err = FOLDER_ERR_ALREADYEXISTS;
				}
				any = 1;
			} else if (renameat(dirfd, src, dirfd, dst) == -1) {
				log_warn("folder: rename %s", src);
				*why = "Cannot rename the folder";
				err = FOLDER_ERR_SERVERBUG;
			}
		}
		if (pass == 0 && any && err == FOLDER_OK &&
		    folder_mkparents(dirfd, tcanon) == -1) {
			*why = "Cannot create the parents";
			err = FOLDER_ERR_SERVERBUG;
		}
	}
	folder_tree_free(&t);
	if (!any && err == FOLDER_OK) {
		*why = "No such folder";
		return FOLDER_ERR_NONEXISTENT;
	}
	if (fsync(dirfd) == -1)
		log_warn("folder: fsync of the Maildir");
	if (any && err == FOLDER_OK) {
		folder_subs_move(dirfd, fcanon, tcanon);
		folder_special_move(dirfd, fcanon, tcanon);
	}
	return err;
}

enum folder_err
folder_subscribe(int dirfd, const char *name, int on, const char **why)
{
	char canon[FOLDER_NAME_MAX + 1], dir[MAILDIR_NAME_MAX + 2];
	struct folder_names fn;
	enum folder_err err;
	ssize_t i;

	if ((err = folder_arg(name, canon, sizeof(canon), dir, sizeof(dir),
		 why)) != FOLDER_OK)
		return err;
	if (folder_subs_load(dirfd, &fn) == -1) {
		*why = "Cannot read the subscriptions";
		return FOLDER_ERR_SERVERBUG;
	}
	i = folder_names_find(&fn, canon);
	/* both ways idempotent, as Dovecot answers */
	if ((on && i != -1) || (!on && i == -1)) {
		folder_names_free(&fn);
		return FOLDER_OK;
	}
	if (on && folder_names_add(&fn, canon, 0) == -1) {
		folder_names_free(&fn);
		*why = "Too many subscriptions";
		return FOLDER_ERR_LIMIT;
	}
	if (!on)
		folder_names_remove(&fn, (size_t)i);
	if (folder_subs_save(dirfd, &fn) == -1) {
		folder_names_free(&fn);
		*why = "Cannot write the subscriptions";
		return FOLDER_ERR_SERVERBUG;
	}
	folder_names_free(&fn);
	return FOLDER_OK;
}

int
folder_ensure_special(int dirfd)
{
	struct folder_names fn;
	char dir[MAILDIR_NAME_MAX + 2];
	const char *why, *found;
	size_t i, j;
	int n, rv = 0;

	if ((n = folder_special_load(dirfd, &fn)) != 0) {
		folder_names_free(&fn);
		return n == 1 ? 0 : -1;
	}
	for (i = 0; i < sizeof(folder_specials) / sizeof(*folder_specials);
	     i++) {
		found = NULL;
		for (j = 0; folder_specials[i].names[j] != NULL; j++) {
			if (folder_dir(folder_specials[i].names[j], dir,
				sizeof(dir)) == 0 &&
			    folder_dir_exists(dirfd, dir) == 1) {
				found = folder_specials[i].names[j];
				break;
			}
		}
		if (found == NULL) {
			found = folder_specials[i].names[0];
			if (folder_create(dirfd, found, 0, &why) != FOLDER_OK ||
			    folder_subscribe(dirfd, found, 1, &why) !=
				FOLDER_OK) {
				log_warnx("folder: %s: %s", found, why);
				rv = -1;
				continue;
			}
		}
		if (folder_names_add(&fn, found, folder_specials[i].use) == -1)
			rv = -1;
	}
	/* written last: a login cut short before it does the rest again */
	if (rv == 0 && folder_special_save(dirfd, &fn) == -1)
		rv = -1;
	folder_names_free(&fn);
	return rv;
}
