/*
 * dkim_files.c: the parent's key files.  domain add makes a pair once,
 * rotate a newer one, retire removes a pair but never the one that
 * signs, nor anything outside the domain's files; the set sent to
 * signer holds every key file and nothing else: no link, no FIFO, no
 * odd name.
 */

#include <sys/socket.h>
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "boxd.h"
#include "test.h"

static char storage[] = "/tmp/test_dkim_files.XXXXXX";
static char dir[64]; /* storage is short: it is ours */

/* the selectors of domain's key files, sorted, joined by spaces */
static const char *
files(const char *domain)
{
	static char out[2048];
	char names[32][256], tmp[256];
	struct dirent *de;
	size_t n = 0, i, j, len = strlen(domain), l;
	DIR *d;

	out[0] = '\0';
	if ((d = opendir(dir)) == NULL)
		return out;
	while ((de = readdir(d)) != NULL && n < 32)
		if (strncmp(de->d_name, domain, len) == 0 &&
		    de->d_name[len] == '.' &&
		    (l = strlen(de->d_name)) > len + 5) {
			snprintf(names[n++], sizeof(names[0]), "%.*s",
			    (int)(l - len - 5), de->d_name + len + 1);
		}
	closedir(d);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				memcpy(tmp, names[i], sizeof(tmp));
				memcpy(names[i], names[j], sizeof(tmp));
				memcpy(names[j], tmp, sizeof(tmp));
			}
	for (i = 0; i < n; i++) {
		if (i > 0)
			strlcat(out, " ", sizeof(out));
		strlcat(out, names[i], sizeof(out));
	}
	return out;
}

static int
change(enum dkim_op op, const char *domain, const char *selector)
{
	char err[512];

	return dkim_files_change(storage, op, domain, selector, err,
	    sizeof(err));
}

static void
test_change(char *first, char *second)
{
	char err[512], want[256], path[PATH_MAX];
	struct stat st;
	const char *f;
	int fd;

	CHECK("add", change(DKIM_OP_ADD, "Example.ORG", "") == 0);
	f = files("example.org");
	CHECK("add makes a pair", strlen(f) == 21 && f[9] == 'e' &&
		strncmp(f, f + 11, 9) == 0 && f[20] == 'r');
	snprintf(first, 16, "%.10s", f + 11);
	snprintf(path, sizeof(path), "%s/example.org.%s.key", dir, first);
	CHECK("mode 0600",
	    stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	CHECK("add again keeps the keys",
	    change(DKIM_OP_ADD, "example.org", "") == 0 &&
		strcmp(files("example.org"), f) == 0);
	strlcpy(want, f, sizeof(want));
	CHECK("rotate", change(DKIM_OP_ROTATE, "example.org", "") == 0);
	f = files("example.org");
	CHECK("rotate adds a pair", strlen(f) == 47 &&
		strncmp(f, want, 10) == 0);
	/* the second pair of the day: ...e02 ...r02 */
	snprintf(second, 16, "%.9sr02", first);
	snprintf(want, sizeof(want), "%.9se %.9se02 %s %s", first, first,
	    first, second);
	CHECK("rotate names the pair", strcmp(f, want) == 0);
	CHECK("retire the signing pair refused",
	    dkim_files_change(storage, DKIM_OP_RETIRE, "example.org", second,
		err, sizeof(err)) == -1 &&
		strstr(err, "signs for example.org now") != NULL);
	CHECK("retire unknown refused",
	    change(DKIM_OP_RETIRE, "example.org", "b20000101r") == -1);
	CHECK("retire bad selector refused",
	    change(DKIM_OP_RETIRE, "example.org", "../x") == -1 &&
		change(DKIM_OP_RETIRE, "example.org", "") == -1);
	CHECK("bad domain refused",
	    change(DKIM_OP_ROTATE, "../example.org", "") == -1 &&
		change(DKIM_OP_ROTATE, "", "") == -1);
	CHECK("retire the old pair",
	    change(DKIM_OP_RETIRE, "example.org", first) == 0);
	snprintf(want, sizeof(want), "%.9se02 %s", first, second);
	CHECK("the new pair stays", strcmp(files("example.org"), want) == 0);
	/* a key put there by hand goes alone */
	snprintf(path, sizeof(path), "%s/example.org.mail.key", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	close(fd);
	CHECK("retire a hand-made key",
	    fd != -1 && change(DKIM_OP_RETIRE, "example.org", "mail") == 0 &&
		strcmp(files("example.org"), want) == 0);
	/* another domain's files are not this one's */
	CHECK("other domain", change(DKIM_OP_ADD, "sub.example.org", "") ==
			0 &&
		strlen(files("sub.example.org")) == 21 &&
		strcmp(files("example.org"), want) == 0);
}

/* what dkim_files_send() put on the channel: n keys, the end's gen */
static void
test_send(void)
{
	struct event_base *base;
	struct imsgev iev;
	struct imsgbuf in;
	struct imsg imsg;
	struct msg_reader r;
	char domain[300], selector[64], path[PATH_MAX], *pem;
	uint64_t gen = 0;
	int fds[2], n = 0, bad = 0, rv, fd;

	/* a link to a key, a FIFO, a directory, an empty file, odd names */
	snprintf(path, sizeof(path), "%s/linked.test.s.key", dir);
	CHECK("symlink", symlink("/etc/passwd", path) == 0);
	snprintf(path, sizeof(path), "%s/fifo.test.s.key", dir);
	CHECK("fifo", mkfifo(path, 0600) == 0);
	snprintf(path, sizeof(path), "%s/dir.test.s.key", dir);
	CHECK("dir", mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/empty.test.s.key", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);
	snprintf(path, sizeof(path), "%s/README", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	close(fd);

	if ((base = event_base_new()) == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == -1) {
		CHECK("channel", 0);
		return;
	}
	memset(&iev, 0, sizeof(iev));
	iev.name = "signer";
	imsgev_init(&iev, base, fds[0], IMSG_MAX_SIZE, NULL, NULL);
	iev.ibuf.wipe = 1;
	dkim_files_send(&iev, storage, 42);
	while ((rv = imsgbuf_flush(&iev.ibuf)) == 0)
		;
	imsgbuf_init(&in, fds[1], IMSG_MAX_SIZE);
	for (;;) {
		while ((rv = imsgbuf_get(&in, &imsg)) == 0)
			if (imsgbuf_read(&in) != 1)
				break;
		if (rv != 1)
			break;
		msg_reader_init(&r, imsg.data, imsg.datalen);
		if (imsg.hdr.type == IMSG_DKIM_KEYS_END) {
			if (msg_get_u64(&r, &gen) == -1)
				bad++;
			imsg_free(&imsg);
			break;
		}
		if (imsg.hdr.type != IMSG_DKIM_KEY ||
		    msg_get_str(&r, domain, sizeof(domain)) == -1 ||
		    msg_get_str(&r, selector, sizeof(selector)) == -1 ||
		    msg_get_strdup(&r, &pem, IMSG_MAX_SIZE) == -1)
			bad++;
		else {
			/* the empty file is sent: signer says what is wrong */
			if (strcmp(domain, "empty.test") != 0 &&
			    strncmp(pem, "-----BEGIN PRIVATE KEY-----", 27) != 0)
				bad++;
			if (strcmp(domain, "linked.test") == 0 ||
			    strcmp(domain, "fifo.test") == 0 ||
			    strcmp(domain, "dir.test") == 0)
				bad++;
			free(pem);
			n++;
		}
		imsg_free(&imsg);
	}
	/* example.org 2, sub.example.org 2, empty.test */
	CHECK("sent the key files alone", n == 5 && bad == 0);
	CHECK("sent the generation", gen == 42);
	imsgbuf_clear(&in);
	imsgev_clear(&iev);
	close(fds[0]);
	close(fds[1]);
	event_base_free(base);
}

static void
cleanup(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", storage);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", storage);
}

int
main(void)
{
	char first[16], second[16];

	log_init(1, 0, "test_dkim_files");
	if (mkdtemp(storage) == NULL) {
		CHECK("mkdtemp", 0);
		TEST_EXIT();
	}
	snprintf(dir, sizeof(dir), "%s/%s", storage, DKIM_KEYS_DIR);
	if (mkdir(dir, 0700) == -1) {
		CHECK("mkdir", 0);
		cleanup();
		TEST_EXIT();
	}
	test_change(first, second);
	test_send();
	cleanup();
	TEST_EXIT();
}
