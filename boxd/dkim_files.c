/*
 * The parent's side of DKIM: the key files under STORAGE/dkim.  It reads
 * them for the signer (which opens no file) at start, at every reload and
 * after every change, and makes and removes them for boxctl domain add,
 * dkim rotate and dkim retire.  New keys are made in a short-lived child,
 * so that the parent never loads libcrypto; the PEM text it reads is
 * wiped once sent.
 */

#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "boxd.h"

#define DKIM_FILE_SIZE_MAX   (64 * 1024) /* a PEM key is a few KB */
#define DKIM_DOMAIN_KEYS_MAX 256	 /* selectors one domain may have */

/* the selectors of one domain's key files */
struct dkim_domain_keys {
	char selector[DKIM_DOMAIN_KEYS_MAX][DKIM_SELECTOR_MAX];
	size_t n;
};

static int
dkim_dir(const char *storage, char *buf, size_t bufsz)
{
	int n;

	n = snprintf(buf, bufsz, "%s/%s", storage, DKIM_KEYS_DIR);
	return n < 0 || (size_t)n >= bufsz ? -1 : 0;
}

/*
 * A key file's text, NUL-terminated, or NULL with the reason in err.  A
 * link or anything but a plain file is refused: the directory is the
 * signer user's, and root reads here.
 */
static char *
dkim_file_read(
    int dirfd, const char *name, size_t *len, char *err, size_t errsz)
{
	struct stat st;
	char *buf;
	size_t off;
	ssize_t n;
	int fd;

	if ((fd = openat(dirfd, name,
		 O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)) == -1) {
		snprintf(err, errsz, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > DKIM_FILE_SIZE_MAX) {
		snprintf(err, errsz, "%s",
		    !S_ISREG(st.st_mode) ? "not a plain file" : "too large");
		close(fd);
		return NULL;
	}
	*len = (size_t)st.st_size;
	buf = xcalloc(1, *len + 1);
	for (off = 0; off < *len; off += (size_t)n) {
		n = read(fd, buf + off, *len - off);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0) {
			snprintf(err, errsz, "%s",
			    n == 0 ? "short read" : strerror(errno));
			close(fd);
			freezero(buf, *len + 1);
			return NULL;
		}
	}
	close(fd);
	if (memchr(buf, '\0', *len) != NULL) {
		snprintf(err, errsz, "not a PEM file");
		freezero(buf, *len + 1);
		return NULL;
	}
	return buf;
}

void
dkim_files_send(struct imsgev *signer, const char *storage, uint64_t gen)
{
	struct msg_writer w;
	struct dirent *de;
	char dir[PATH_MAX], domain[SMTP_DOMAIN_MAX + 1];
	char selector[DKIM_SELECTOR_MAX], err[256], *pem;
	size_t len, n = 0;
	DIR *d;

	if (dkim_dir(storage, dir, sizeof(dir)) == -1)
		fatalx("storage path too long");
	if ((d = opendir(dir)) == NULL)
		log_warn("DKIM keys: %s", dir);
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (dkim_key_file_parse(de->d_name, domain, sizeof(domain),
			selector, sizeof(selector)) == -1) {
			if (de->d_name[0] != '.')
				log_warnx("DKIM keys: %s/%s: not a name of "
					  "DOMAIN.SELECTOR.key, left alone",
				    dir, de->d_name);
			continue;
		}
		if ((pem = dkim_file_read(dirfd(d), de->d_name, &len, err,
			 sizeof(err))) == NULL) {
			log_warnx("DKIM key %s/%s not loaded: %s", dir,
			    de->d_name, err);
			continue;
		}
		msg_writer_init(&w);
		w.wipe = 1;
		msg_put_str(&w, domain);
		msg_put_str(&w, selector);
		msg_put_str(&w, pem);
		freezero(pem, len + 1);
		if (imsgev_compose_msg(signer, IMSG_DKIM_KEY, 0, -1, &w) == -1)
			fatal("send a DKIM key to signer");
		n++;
	}
	if (d != NULL)
		closedir(d);
	msg_writer_init(&w);
	msg_put_u64(&w, gen);
	if (imsgev_compose_msg(signer, IMSG_DKIM_KEYS_END, 0, -1, &w) == -1)
		fatal("send the DKIM keys to signer");
	log_debug("DKIM keys: %zu files sent to signer", n);
}

/* the selectors of domain's key files; -1 if the directory is unreadable */
static int
dkim_domain_list(const char *dir, const char *domain,
    struct dkim_domain_keys *keys, char *err, size_t errsz)
{
	struct dirent *de;
	char d[SMTP_DOMAIN_MAX + 1], s[DKIM_SELECTOR_MAX];
	DIR *dp;

	keys->n = 0;
	if ((dp = opendir(dir)) == NULL) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		if (dkim_key_file_parse(
			de->d_name, d, sizeof(d), s, sizeof(s)) == -1 ||
		    strcmp(d, domain) != 0)
			continue;
		if (keys->n == DKIM_DOMAIN_KEYS_MAX) {
			snprintf(err, errsz, "%s has more than %d DKIM keys",
			    domain, DKIM_DOMAIN_KEYS_MAX);
			closedir(dp);
			return -1;
		}
		strlcpy(
		    keys->selector[keys->n++], s, sizeof(keys->selector[0]));
	}
	closedir(dp);
	return 0;
}

/* the newest pair boxd named among keys; -1 if there is none */
static int
dkim_newest_pair(const struct dkim_domain_keys *keys, struct dkim_pair *newest)
{
	struct dkim_pair pair;
	enum dkim_alg alg;
	size_t i;
	int found = 0;

	for (i = 0; i < keys->n; i++) {
		if (dkim_selector_parse(keys->selector[i], &pair, &alg) == -1)
			continue;
		if (!found || dkim_pair_cmp(&pair, newest) > 0)
			*newest = pair;
		found = 1;
	}
	return found ? 0 : -1;
}

/* one key into its file, in the child that made it */
static int
dkim_key_write(int dirfd, const char *domain, const char *selector,
    const char *pem, size_t len, const struct passwd *owner, char *err,
    size_t errsz)
{
	char name[DKIM_KEY_FILE_MAX], tmp[DKIM_KEY_FILE_MAX + 8];
	int fd;

	if (dkim_key_file_name(domain, selector, name, sizeof(name)) == -1) {
		snprintf(
		    err, errsz, "no file name for %s.%s", domain, selector);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	unlinkat(dirfd, tmp, 0);
	if ((fd = openat(dirfd, tmp,
		 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) ==
	    -1) {
		snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if ((owner != NULL && fchown(fd, owner->pw_uid, owner->pw_gid) == -1) ||
	    write_all(fd, pem, len) == -1 || fsync(fd) == -1) {
		snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	close(fd);
	/* never over a key that exists: its DNS record may be published */
	if (linkat(dirfd, tmp, dirfd, name, 0) == -1) {
		snprintf(err, errsz, "%s: %s", name, strerror(errno));
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	unlinkat(dirfd, tmp, 0);
	return 0;
}

/*
 * A new pair's keys, made and written by a child: libcrypto is loaded
 * there, and its state and the keys die with it.  0, or -1 with err.
 */
static int
dkim_pair_create(const char *dir, const char *domain,
    const struct dkim_pair *pair, char *err, size_t errsz)
{
	static const enum dkim_alg algs[2] = {
	    DKIM_RSA_SHA256, DKIM_ED25519_SHA256};
	struct passwd *pw = NULL;
	char msg[1024] = "", selector[DKIM_SELECTOR_MAX], *pem;
	size_t len, i;
	ssize_t n;
	pid_t pid;
	int fds[2], status, dirfd;

	if (privsep_is_root() &&
	    (pw = getpwnam(proc_user(PROC_SIGNER))) == NULL) {
		snprintf(err, errsz, "no user %s", proc_user(PROC_SIGNER));
		return -1;
	}
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (pipe2(fds, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		snprintf(err, errsz, "cannot make a key: %s", strerror(errno));
		close(dirfd);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		dkim_load();
		for (i = 0; i < 2; i++) {
			if (dkim_selector_make(pair, algs[i], selector,
				sizeof(selector)) == -1 ||
			    dkim_key_generate(algs[i], &pem, &len) == -1) {
				snprintf(msg, sizeof(msg),
				    "cannot make an %s key",
				    dkim_alg_name(algs[i]));
				break;
			}
			n = dkim_key_write(dirfd, domain, selector, pem, len,
			    pw, msg, sizeof(msg));
			freezero(pem, len);
			if (n == -1)
				break;
		}
		if (i == 2 && fsync(dirfd) == -1)
			snprintf(
			    msg, sizeof(msg), "%s: %s", dir, strerror(errno));
		if (msg[0] != '\0' && write(fds[1], msg, strlen(msg)) == -1)
			_exit(2);
		_exit(msg[0] != '\0');
	}
	close(fds[1]);
	close(dirfd);
	do {
		n = read(fds[0], msg, sizeof(msg) - 1);
	} while (n == -1 && errno == EINTR);
	close(fds[0]);
	msg[n > 0 ? n : 0] = '\0';
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	snprintf(err, errsz, "%s", msg[0] ? msg : "making the keys failed");
	return -1;
}

static int
dkim_rotate(const char *dir, const char *domain,
    const struct dkim_domain_keys *keys, char *err, size_t errsz)
{
	struct dkim_pair newest, next;
	char rsa[DKIM_SELECTOR_MAX], ed[DKIM_SELECTOR_MAX];
	int have = dkim_newest_pair(keys, &newest) == 0;

	if (dkim_pair_next(have ? &newest : NULL, time(NULL), &next) == -1) {
		snprintf(err, errsz,
		    "%s: no more than %d new selector pairs a day", domain,
		    DKIM_PAIR_SEQ_MAX);
		return -1;
	}
	if (dkim_pair_create(dir, domain, &next, err, errsz) == -1)
		return -1;
	dkim_selector_make(&next, DKIM_RSA_SHA256, rsa, sizeof(rsa));
	dkim_selector_make(&next, DKIM_ED25519_SHA256, ed, sizeof(ed));
	log_info(
	    "DKIM: %s signs with the new selectors %s and %s", domain, rsa, ed);
	return 0;
}

/* the selector's key file, and its pair's other if there is one */
static int
dkim_retire(const char *dir, const char *domain, const char *selector,
    const struct dkim_domain_keys *keys, char *err, size_t errsz)
{
	struct dkim_pair pair, newest;
	enum dkim_alg alg;
	char names[2][DKIM_SELECTOR_MAX], file[PATH_MAX];
	size_t i, j, n = 0;

	for (i = 0; i < keys->n; i++)
		if (strcmp(keys->selector[i], selector) == 0)
			break;
	if (i == keys->n) {
		snprintf(
		    err, errsz, "%s has no DKIM selector %s", domain, selector);
		return -1;
	}
	strlcpy(names[n++], selector, sizeof(names[0]));
	if (dkim_selector_parse(selector, &pair, &alg) == 0) {
		if (dkim_newest_pair(keys, &newest) == 0 &&
		    dkim_pair_cmp(&pair, &newest) == 0) {
			snprintf(err, errsz,
			    "%s signs for %s now: rotate first (boxctl dkim "
			    "rotate %s), retire it once the new pair's DNS "
			    "records are published",
			    selector, domain, domain);
			return -1;
		}
		dkim_selector_make(&pair,
		    alg == DKIM_RSA_SHA256 ? DKIM_ED25519_SHA256
					   : DKIM_RSA_SHA256,
		    names[n], sizeof(names[0]));
		for (j = 0; j < keys->n; j++)
			if (strcmp(keys->selector[j], names[n]) == 0) {
				n++;
				break;
			}
	}
	for (i = 0; i < n; i++) {
		if (snprintf(file, sizeof(file), "%s/%s.%s%s", dir, domain,
			names[i], DKIM_KEY_SUFFIX) >= (int)sizeof(file) ||
		    unlink(file) == -1) {
			snprintf(err, errsz, "%s: %s", file, strerror(errno));
			return -1;
		}
		log_info("DKIM: %s: selector %s retired", domain, names[i]);
	}
	return 0;
}

int
dkim_files_change(const char *storage, enum dkim_op op, const char *name,
    const char *selector, char *err, size_t errsz)
{
	struct dkim_domain_keys *keys;
	char dir[PATH_MAX], domain[SMTP_DOMAIN_MAX + 1];
	int rv = -1;

	if (strlcpy(domain, name, sizeof(domain)) >= sizeof(domain) ||
	    !domain_valid(domain, 0)) {
		snprintf(err, errsz, "invalid domain name");
		return -1;
	}
	lowercase(domain);
	if (dkim_dir(storage, dir, sizeof(dir)) == -1) {
		snprintf(err, errsz, "storage path too long");
		return -1;
	}
	keys = xcalloc(1, sizeof(*keys));
	if (dkim_domain_list(dir, domain, keys, err, errsz) == -1)
		goto done;
	switch (op) {
	case DKIM_OP_ADD:
		/* a domain added again keeps the keys it had */
		if (keys->n > 0) {
			log_info(
			    "DKIM: %s keeps its %zu keys", domain, keys->n);
			rv = 0;
		} else
			rv = dkim_rotate(dir, domain, keys, err, errsz);
		break;
	case DKIM_OP_ROTATE:
		rv = dkim_rotate(dir, domain, keys, err, errsz);
		break;
	case DKIM_OP_RETIRE:
		if (!dkim_selector_valid(selector)) {
			snprintf(err, errsz, "invalid selector");
			break;
		}
		rv = dkim_retire(dir, domain, selector, keys, err, errsz);
		break;
	default:
		snprintf(err, errsz, "unknown DKIM operation");
	}
done:
	free(keys);
	return rv;
}
