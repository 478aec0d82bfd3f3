/*
 * queue_fs.c, maildir.c and the envelope checks: spool files created,
 * committed, loaded and recovered in a temporary directory; what a crash,
 * a damaged disk or a hostile smtp can leave there; the append-only
 * descriptor smtp gets; Maildir names and the mailbox names mda refuses.
 */

#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queued.h"
#include "spool_test.h"
#include "test.h"

/* ------------------------------------------------------------ helpers */

static void
make_env(struct envelope *env, const char *mailbox)
{
	struct envelope_rcpt rc;

	memset(env, 0, sizeof(*env));
	strlcpy(env->sender, "sender@client.test", sizeof(env->sender));
	strlcpy(env->helo, "client.test", sizeof(env->helo));
	strlcpy(env->client_addr, "127.0.0.1", sizeof(env->client_addr));
	env->time = 1700000000;
	env->flags = ENVELOPE_8BITMIME;
	memset(&rc, 0, sizeof(rc));
	strlcpy(rc.addr, "alice@example.test", sizeof(rc.addr));
	strlcpy(rc.mailbox, mailbox, sizeof(rc.mailbox));
	rc.dsn_notify = DSN_NOTIFY_FAILURE;
	envelope_add_rcpt(env, &rc);
	strlcpy(rc.addr, "bob@example.test", sizeof(rc.addr));
	strlcpy(rc.mailbox, "example.test/bob", sizeof(rc.mailbox));
	strlcpy(rc.orcpt, "rfc822;bob@example.test", sizeof(rc.orcpt));
	envelope_add_rcpt(env, &rc);
}

static const char body[] = "Subject: test\n\nHello, world.\n";

static char *
spool_path(const char *dir, uint64_t msgid, char *buf, size_t len)
{
	char name[32];

	spool_name(msgid, name, sizeof(name));
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

static int
present(const char *dir, uint64_t msgid)
{
	char path[64];

	return access(spool_path(dir, msgid, path, sizeof(path)), F_OK) == 0;
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 ||
	    (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static int
spew(const char *path, const void *data, size_t len)
{
	int fd, rv;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	rv = write_all(fd, data, len) == -1 ? -1 : 0;
	close(fd);
	return rv;
}

/* create, write the body as smtp does, commit: 1 committed */
static int
receive(uint64_t msgid, const struct envelope *env, const void *data,
    size_t len)
{
	struct spool_file sf;
	struct spool_commit c;

	if (spool_create(&sp, msgid, env, &sf) == -1)
		return 0;
	if (write_all(sf.appendfd, data, len) == -1) {
		close(sf.appendfd);
		close(sf.fd);
		return 0;
	}
	close(sf.appendfd);
	memset(&c, 0, sizeof(c));
	c.msgid = msgid;
	c.fd = sf.fd;
	c.body_offset = sf.body_offset;
	c.body_size = len;
	c.hdr_crc = sf.hdr_crc;
	c.body_crc = crc32_update(0, data, len);
	spool_commit_batch(&sp, &c, 1);
	close(sf.fd);
	return c.ok;
}

/* the whole of a committed spool file */
static uint8_t *
committed_file(uint64_t msgid, size_t *len)
{
	struct envelope env;
	char path[64];
	uint8_t *data;

	make_env(&env, "example.test/alice");
	if (!receive(msgid, &env, body, strlen(body))) {
		envelope_clear(&env);
		return NULL;
	}
	envelope_clear(&env);
	data = slurp(spool_path(SPOOL_QUEUE, msgid, path, sizeof(path)), len);
	unlink(path);
	return data;
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* a spool file as boxd 0.1 wrote it: a 24-byte trailer, the body's CRC */
static uint8_t *
v1_file(uint64_t msgid, const struct envelope *env, const char *data,
    size_t *len)
{
	struct msg_writer w;
	uint8_t *out;
	size_t envlen;

	msg_writer_init(&w);
	msg_put_data(&w, SPOOL_MAGIC, 4);
	msg_put_u32(&w, 1);
	msg_put_u32(&w, 0);
	envelope_marshal(env, &w);
	envlen = w.len - SPOOL_HDR_FIXED;
	msg_put_data(&w, data, strlen(data));
	msg_put_data(&w, SPOOL_TRAILER_MAGIC, 4);
	msg_put_u64(&w, msgid);
	msg_put_u64(&w, strlen(data));
	msg_put_u32(&w, crc32_update(0, data, strlen(data)));
	put_be32(w.buf + 8, (uint32_t)envlen);
	out = xcalloc(1, w.len);
	memcpy(out, w.buf, w.len);
	*len = w.len;
	msg_writer_free(&w);
	return out;
}

/*
 * A spool file of any version, built here from the documented layout (not
 * by queue_fs.c): version 1 and 2 as earlier releases wrote them.
 */
static uint8_t *
build_file(uint32_t version, uint64_t msgid, const struct envelope *env,
    const char *data, const char *prepend, size_t *len)
{
	struct msg_writer w;
	uint8_t *out;
	size_t envlen, blen = strlen(data), plen = strlen(prepend);
	uint32_t hdr_crc;

	msg_writer_init(&w);
	msg_put_data(&w, SPOOL_MAGIC, 4);
	msg_put_u32(&w, version);
	msg_put_u32(&w, 0);
	envelope_marshal(env, &w);
	envlen = w.len - SPOOL_HDR_FIXED;
	put_be32(w.buf + 8, (uint32_t)envlen);
	hdr_crc = crc32_update(0, w.buf, w.len);
	msg_put_data(&w, data, blen);
	if (version >= 3)
		msg_put_data(&w, prepend, plen);
	msg_put_data(&w, SPOOL_TRAILER_MAGIC, 4);
	msg_put_u64(&w, msgid);
	msg_put_u64(&w, blen);
	if (version >= 3)
		msg_put_u32(&w, (uint32_t)plen);
	if (version >= 2)
		msg_put_u32(&w, hdr_crc);
	msg_put_u32(&w, crc32_update(0, data, blen));
	if (version >= 3)
		msg_put_u32(&w, crc32_update(0, prepend, plen));
	out = xcalloc(1, w.len);
	memcpy(out, w.buf, w.len);
	*len = w.len;
	msg_writer_free(&w);
	return out;
}

static void
place(uint64_t msgid, const void *data, size_t len)
{
	char path[64];

	spew(spool_path(SPOOL_QUEUE, msgid, path, sizeof(path)), data, len);
}

/* use up the fd table but for `spare` descriptors; returns how many */
static int fillers[4096];
static int nfillers;

static void
fill_fds(int spare)
{
	int fd;

	nfillers = 0;
	while (nfillers < (int)(sizeof(fillers) / sizeof(fillers[0])) &&
	    (fd = dup(sp.queuefd)) != -1)
		fillers[nfillers++] = fd;
	while (spare-- > 0 && nfillers > 0)
		close(fillers[--nfillers]);
}

static void
free_fds(void)
{
	while (nfillers > 0)
		close(fillers[--nfillers]);
}

/* ------------------------------------------------------------ envelope */

static void
test_envelope_check(void)
{
	static const char *const bad_mailboxes[] = {"", "example.test",
	    "/alice", "example.test/", "example.test/a/b", "../alice",
	    "example.test/..", "example.test/.alice", ".example.test/alice",
	    "..//alice", "example.test/al\nice", "exa\rmple.test/alice",
	    "example.test/al\x7f", "example_test/alice", "-example.test/a",
	    "example..test/alice", NULL};
	static const char *const good_mailboxes[] = {"example.test/alice",
	    "example.test/a.b+c", "localhost/root", "xn--bcher-kva.test/u",
	    "b\xc3\xbc" "cher.test/j\xc3\xb6rg", NULL};
	struct envelope env;
	char why[256], name[600], show[80];
	size_t i;

	for (i = 0; bad_mailboxes[i] != NULL; i++) {
		snprintf(name, sizeof(name), "mailbox refused: %s",
		    envelope_show(bad_mailboxes[i], show, sizeof(show)));
		CHECK(name, !envelope_mailbox_valid(bad_mailboxes[i]));
	}
	for (i = 0; good_mailboxes[i] != NULL; i++) {
		snprintf(name, sizeof(name), "mailbox accepted: %s",
		    envelope_show(good_mailboxes[i], show, sizeof(show)));
		CHECK(name, envelope_mailbox_valid(good_mailboxes[i]));
	}
	/* the longest names fit; one octet more does not */
	memset(name, 'a', 64);
	memcpy(name, "example.test/", 13);
	memset(name + 13, 'u', 64);
	name[13 + 64] = '\0';
	CHECK("64-octet user accepted", envelope_mailbox_valid(name));
	name[13 + 64] = 'u';
	name[13 + 65] = '\0';
	CHECK("65-octet user refused", !envelope_mailbox_valid(name));
	memset(name, 'd', 300);
	for (i = 63; i < 300; i += 64)
		name[i] = '.';
	name[256] = '/';
	name[257] = 'u';
	name[258] = '\0';
	CHECK("256-octet domain refused", !envelope_mailbox_valid(name));

	CHECK("null sender", envelope_sender_valid(""));
	CHECK("plain sender", envelope_sender_valid("a.b@example.test"));
	CHECK("quoted sender", envelope_sender_valid("\"a b\"@example.test"));
	CHECK("sender with CRLF refused",
	    !envelope_sender_valid("a@example.test\r\nX-Evil: 1"));
	CHECK("sender with LF refused",
	    !envelope_sender_valid("a@exa\nmple.test"));
	CHECK("sender with > refused",
	    !envelope_sender_valid("a@example.test>"));
	CHECK("sender without domain refused", !envelope_sender_valid("a"));

	make_env(&env, "example.test/alice");
	CHECK("good envelope passes", envelope_check(&env, why, sizeof(why)) ==
		0);
	strlcpy(env.rcpt[1].mailbox, "../../etc", sizeof(env.rcpt[1].mailbox));
	CHECK("bad mailbox refused", envelope_check(&env, why, sizeof(why)) ==
		-1 && strstr(why, "recipient 1") != NULL);
	strlcpy(env.rcpt[1].mailbox, "example.test/bob",
	    sizeof(env.rcpt[1].mailbox));
	strlcpy(env.sender, "x@y\nz", sizeof(env.sender));
	CHECK("bad sender refused", envelope_check(&env, why, sizeof(why)) ==
		-1 && strstr(why, "x@y?z") != NULL);
	strlcpy(env.sender, "", sizeof(env.sender));
	CHECK("null sender passes", envelope_check(&env, why, sizeof(why)) ==
		0);
	strlcpy(env.helo, "a\rb", sizeof(env.helo));
	CHECK("control character in HELO refused",
	    envelope_check(&env, why, sizeof(why)) == -1);
	strlcpy(env.helo, "client.test", sizeof(env.helo));
	env.flags = 0x100;
	CHECK("unknown flags refused", envelope_check(&env, why, sizeof(why)) ==
		-1);
	env.flags = 0;
	env.rcpt[0].dsn_notify = 0x80;
	CHECK("unknown NOTIFY refused",
	    envelope_check(&env, why, sizeof(why)) == -1);
	env.rcpt[0].dsn_notify = 0;
	strlcpy(env.rcpt[0].addr, "Postmaster", sizeof(env.rcpt[0].addr));
	CHECK("RCPT TO:<Postmaster> passes",
	    envelope_check(&env, why, sizeof(why)) == 0);
	strlcpy(env.rcpt[0].addr, "bad address", sizeof(env.rcpt[0].addr));
	CHECK("bad recipient address refused",
	    envelope_check(&env, why, sizeof(why)) == -1);
	envelope_clear(&env);
	CHECK("no recipients refused", envelope_check(&env, why, sizeof(why)) ==
		-1);
	CHECK("show", strcmp(envelope_show("a\r\nb\x80", name, 16),
			  "a??b?") == 0);
	CHECK("show cut",
	    strcmp(envelope_show("abcdefghijkl", name, 8), "abcd...") == 0);
}

/* ------------------------------------------------------------ spool */

static void
test_round_trip(void)
{
	struct envelope env, got;
	struct spool_msg m;
	char why[256], buf[256];
	uint64_t msgid = 0x6500000000000001ULL;
	int fd;

	clean();
	make_env(&env, "example.test/alice");
	CHECK("commit", receive(msgid, &env, body, strlen(body)));
	fd = spool_load(&sp, msgid, &got, &m, why, sizeof(why));
	CHECK("load", fd >= 0);
	if (fd < 0) {
		printf("# %s\n", why);
		envelope_clear(&env);
		return;
	}
	CHECK("version", m.version == SPOOL_VERSION);
	CHECK("body size", m.body_size == strlen(body));
	CHECK("body", pread(fd, buf, m.body_size, (off_t)m.body_offset) ==
			  (ssize_t)strlen(body) &&
		memcmp(buf, body, strlen(body)) == 0);
	CHECK("envelope sender", strcmp(got.sender, env.sender) == 0);
	CHECK("envelope recipients", got.nrcpt == 2 &&
		strcmp(got.rcpt[0].mailbox, "example.test/alice") == 0 &&
		strcmp(got.rcpt[1].orcpt, env.rcpt[1].orcpt) == 0);
	CHECK("the load is read-only", write(fd, "x", 1) == -1);
	close(fd);
	envelope_clear(&got);

	recover();
	CHECK("recovery finds the committed message", nfound == 1 &&
		found[0] == msgid && present(SPOOL_QUEUE, msgid));
	fd = spool_open_message(&sp, msgid);
	CHECK("open for the first delivery",
	    fd >= 0 && (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
	if (fd >= 0)
		close(fd);

	spool_move(&sp, msgid, SPOOL_FAILED, NULL);
	CHECK("move", present(SPOOL_FAILED, msgid) &&
		!present(SPOOL_QUEUE, msgid));
	CHECK("a message gone", spool_load(&sp, msgid, &got, &m, why,
				    sizeof(why)) == SPOOL_GONE);
	envelope_clear(&env);
}

/* smtp's descriptor: appends only, shares no offset with queue's */
static void
test_append_only(void)
{
	struct envelope env, got;
	struct spool_file sf;
	struct spool_commit c;
	struct spool_msg m;
	uint8_t before[4096], after[4096];
	char path[64], why[256];
	uint64_t msgid = 0x6500000000000002ULL;
	int fd, flags;

	clean();
	make_env(&env, "example.test/alice");
	if (spool_create(&sp, msgid, &env, &sf) == -1) {
		CHECK("create", 0);
		return;
	}
	CHECK("body offset", sf.body_offset < sizeof(before));
	flags = fcntl(sf.appendfd, F_GETFL);
	CHECK("smtp's fd is write-only and O_APPEND",
	    (flags & O_ACCMODE) == O_WRONLY && (flags & O_APPEND));
	CHECK("queue's fd is not O_APPEND",
	    !(fcntl(sf.fd, F_GETFL) & O_APPEND));
	CHECK("both close on exec", (fcntl(sf.fd, F_GETFD) & FD_CLOEXEC) &&
		(fcntl(sf.appendfd, F_GETFD) & FD_CLOEXEC));
	CHECK("smtp cannot read", read(sf.appendfd, before, 1) == -1);
	spool_path(SPOOL_QUEUE, msgid, path, sizeof(path));
	fd = open(path, O_RDONLY);
	CHECK("header", pread(fd, before, sf.body_offset, 0) ==
			    (ssize_t)sf.body_offset);

	/* what a hostile smtp could try through its descriptor */
	CHECK("pwrite at 0", pwrite(sf.appendfd, "XXXXXXXXXXXX", 12, 0) == 12);
	lseek(sf.appendfd, 0, SEEK_SET);
	CHECK("write after lseek to 0", write(sf.appendfd, "YYYY", 4) == 4);
	CHECK("the header and envelope are unchanged",
	    pread(fd, after, sf.body_offset, 0) == (ssize_t)sf.body_offset &&
		memcmp(before, after, sf.body_offset) == 0);
	CHECK("the bytes went to the end",
	    lseek(fd, 0, SEEK_END) == (off_t)sf.body_offset + 16);
	CHECK("queue's offset did not move",
	    lseek(sf.fd, 0, SEEK_CUR) == (off_t)sf.body_offset);

	/* a commit of the length smtp claims finds the extra bytes */
	memset(&c, 0, sizeof(c));
	c.msgid = msgid;
	c.fd = sf.fd;
	c.body_offset = sf.body_offset;
	c.body_size = 4;
	c.hdr_crc = sf.hdr_crc;
	c.body_crc = crc32_update(0, "YYYY", 4);
	spool_commit_batch(&sp, &c, 1);
	CHECK("commit of a wrong length fails and removes the file",
	    !c.ok && !present(SPOOL_QUEUE, msgid));
	close(sf.fd);
	close(sf.appendfd);
	close(fd);

	/* appended after the commit: not delivered, not deleted */
	msgid++;
	CHECK("commit", receive(msgid, &env, body, strlen(body)));
	spool_path(SPOOL_QUEUE, msgid, path, sizeof(path));
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK("append after commit", write(fd, "late", 4) == 4);
	close(fd);
	CHECK("load refuses it", spool_load(&sp, msgid, &got, &m, why,
				     sizeof(why)) == SPOOL_BAD);
	recover();
	CHECK("recovery keeps it in corrupt/",
	    nfound == 0 && present(SPOOL_CORRUPT, msgid));
	envelope_clear(&env);
}

/* one of each thing a crash or a damaged disk leaves */
static void
test_recovery(void)
{
	struct envelope env, got;
	struct spool_msg m;
	uint8_t *real, *d;
	size_t len, vlen;
	uint32_t envlen;
	uint64_t base = 0x6500000100000000ULL, id;
	char why[256], path[64];
	int fd;

	clean();
	make_env(&env, "example.test/alice");
	if ((real = committed_file(base, &len)) == NULL) {
		CHECK("a committed file", 0);
		return;
	}
	envlen = get_be32(real + 8);
	/*
	 * The file is committed under base; each variant is placed under
	 * the id its trailer names, as a crash would have left it.
	 */
	d = xcalloc(1, len + 64);

	place(base + 0, real, len); /* sound */
	place(base + 1, real, len - SPOOL_TRAILER); /* never committed */
	place(base + 2, real, SPOOL_HDR_FIXED + envlen + 5);
	place(base + 3, real, 5);
	place(base + 4, "", 0);
	memcpy(d, real, len); /* a flipped bit in the body */
	d[SPOOL_HDR_FIXED + envlen + 3] ^= 0x20;
	place(base + 5, d, len);
	memcpy(d, real, len); /* one in the sender's address */
	d[SPOOL_HDR_FIXED + 4 + 2] ^= 0x01;
	place(base + 6, d, len);
	memcpy(d, real, len); /* one in the envelope length */
	d[11] ^= 0x01;
	place(base + 7, d, len);
	memcpy(d, real, len); /* in the trailer's body length */
	d[len - 17] ^= 0x01;
	place(base + 8, d, len);
	place(base + 9, real, len - 5); /* the end cut off */
	memcpy(d, real, len); /* bytes after the trailer */
	memcpy(d + len, "more", 4);
	place(base + 10, d, len + 4);
	memcpy(d, real, len); /* an unknown version */
	put_be32(d + 4, SPOOL_VERSION + 1);
	place(base + 11, d, len);

	/* the trailers name base: fix them up to each file's own id */
	for (id = base + 1; id <= base + 11; id++) {
		uint8_t *f;
		size_t flen, i;

		spool_path(SPOOL_QUEUE, id, path, sizeof(path));
		if ((f = slurp(path, &flen)) == NULL)
			continue;
		for (i = 0; i + 12 <= flen; i++)
			if (memcmp(f + i, SPOOL_TRAILER_MAGIC, 4) == 0 &&
			    get_be32(f + i + 4) == (uint32_t)(base >> 32) &&
			    get_be32(f + i + 8) == (uint32_t)base) {
				put_be32(f + i + 4, (uint32_t)(id >> 32));
				put_be32(f + i + 8, (uint32_t)id);
			}
		spew(path, f, flen);
		free(f);
	}
	/* another message's committed file under this name */
	place(base + 12, real, len);
	/* a version 1 file, and one with a damaged body */
	free(d);
	d = v1_file(base + 13, &env, body, &vlen);
	place(base + 13, d, vlen);
	free(d);
	d = v1_file(base + 14, &env, "x", &vlen);
	d[vlen - SPOOL_TRAILER_V1 - 1] = 'y';
	place(base + 14, d, vlen);
	free(d);
	/*
	 * a version 1 file with a mailbox out of the mail root: recovered,
	 * the queue fails that recipient (never handed to mda)
	 */
	strlcpy(env.rcpt[1].mailbox, "../../etc", sizeof(env.rcpt[1].mailbox));
	d = v1_file(base + 15, &env, body, &vlen);
	place(base + 15, d, vlen);
	free(d);
	strlcpy(env.rcpt[1].mailbox, "example.test/bob",
	    sizeof(env.rcpt[1].mailbox));
	/* a stray name, a symbolic link */
	spew(SPOOL_QUEUE "/notes.txt", "x", 1);
	symlink("/etc/passwd", spool_path(SPOOL_QUEUE, base + 16, path,
				   sizeof(path)));

	recover();

	CHECK("sound file recovered",
	    was_found(base) && present(SPOOL_QUEUE, base));
	CHECK("uncommitted file removed", !was_found(base + 1) &&
		!present(SPOOL_QUEUE, base + 1) &&
		!present(SPOOL_CORRUPT, base + 1));
	CHECK("envelope and part of the body removed",
	    !present(SPOOL_QUEUE, base + 2) && !present(SPOOL_CORRUPT, base + 2));
	CHECK("part of a header removed",
	    !present(SPOOL_QUEUE, base + 3) && !present(SPOOL_CORRUPT, base + 3));
	CHECK("empty file removed",
	    !present(SPOOL_QUEUE, base + 4) && !present(SPOOL_CORRUPT, base + 4));
	CHECK("damaged body to corrupt/",
	    !was_found(base + 5) && present(SPOOL_CORRUPT, base + 5));
	CHECK("damaged envelope to corrupt/",
	    !was_found(base + 6) && present(SPOOL_CORRUPT, base + 6));
	CHECK("damaged envelope length to corrupt/",
	    !was_found(base + 7) && present(SPOOL_CORRUPT, base + 7));
	CHECK("damaged trailer length to corrupt/",
	    !was_found(base + 8) && present(SPOOL_CORRUPT, base + 8));
	CHECK("cut trailer to corrupt/",
	    !was_found(base + 9) && present(SPOOL_CORRUPT, base + 9));
	CHECK("bytes after the trailer to corrupt/",
	    !was_found(base + 10) && present(SPOOL_CORRUPT, base + 10));
	CHECK("unknown version to corrupt/",
	    !was_found(base + 11) && present(SPOOL_CORRUPT, base + 11));
	CHECK("another message's file to corrupt/",
	    !was_found(base + 12) && present(SPOOL_CORRUPT, base + 12));
	CHECK("version 1 file recovered",
	    was_found(base + 13) && present(SPOOL_QUEUE, base + 13));
	CHECK("version 1 file with a damaged body to corrupt/",
	    !was_found(base + 14) && present(SPOOL_CORRUPT, base + 14));
	CHECK("version 1 file with a bad mailbox recovered: that recipient "
	      "fails alone",
	    was_found(base + 15) && present(SPOOL_QUEUE, base + 15));
	CHECK("stray file left alone", access(SPOOL_QUEUE "/notes.txt", F_OK) ==
		0);
	CHECK("symbolic link to corrupt/", !was_found(base + 16) &&
		!present(SPOOL_QUEUE, base + 16));
	CHECK("nothing else recovered", nfound == 3);

	fd = spool_load(&sp, base + 13, &got, &m, why, sizeof(why));
	CHECK("version 1 file loads", fd >= 0 && m.version == 1 &&
		m.body_size == strlen(body) && got.nrcpt == 2);
	if (fd >= 0) {
		char buf[256];

		CHECK("version 1 body",
		    pread(fd, buf, m.body_size, (off_t)m.body_offset) ==
			    (ssize_t)m.body_size &&
			memcmp(buf, body, m.body_size) == 0);
		close(fd);
		envelope_clear(&got);
	}
	unlink(SPOOL_QUEUE "/notes.txt");
	envelope_clear(&env);
	free(real);
}

/* what load says of damaged files, and of bad content behind good CRCs */
static void
test_load(void)
{
	struct envelope env, got;
	struct spool_msg m;
	char why[256], path[64];
	uint64_t msgid = 0x6500000200000000ULL;
	uint8_t *f;
	size_t len;
	uint32_t envlen;
	int fd;

	clean();
	make_env(&env, "example.test/alice");
	CHECK("commit", receive(msgid, &env, body, strlen(body)));
	spool_path(SPOOL_QUEUE, msgid, path, sizeof(path));
	f = slurp(path, &len);
	envlen = get_be32(f + 8);
	/* a byte of the last ORCPT: the envelope still parses and checks */
	f[SPOOL_HDR_FIXED + envlen - 5] ^= 0x01;
	spew(path, f, len);
	fd = spool_load(&sp, msgid, &got, &m, why, sizeof(why));
	CHECK("flipped envelope byte refused", fd == SPOOL_BAD &&
		strstr(why, "envelope checksum") != NULL);
	CHECK("and no envelope given out", got.rcpt == NULL && got.nrcpt == 0);
	free(f);

	/* bad names that smtp could have sent: the CRCs are right */
	msgid++;
	strlcpy(env.rcpt[1].mailbox, "example.test/../../x",
	    sizeof(env.rcpt[1].mailbox));
	CHECK("commit", receive(msgid, &env, body, strlen(body)));
	fd = spool_load(&sp, msgid, &got, &m, why, sizeof(why));
	CHECK("bad mailbox loads: that recipient fails alone", fd >= 0 &&
		got.nrcpt == 2 &&
		!envelope_mailbox_valid(got.rcpt[1].mailbox) &&
		envelope_mailbox_valid(got.rcpt[0].mailbox));
	if (fd >= 0) {
		close(fd);
		envelope_clear(&got);
	}
	msgid++;
	strlcpy(env.rcpt[1].mailbox, "example.test/bob",
	    sizeof(env.rcpt[1].mailbox));
	strlcpy(env.sender, "a@b\r\nX-Injected: yes", sizeof(env.sender));
	CHECK("commit", receive(msgid, &env, body, strlen(body)));
	fd = spool_load(&sp, msgid, &got, &m, why, sizeof(why));
	CHECK("bad sender refused at load", fd == SPOOL_BAD &&
		strstr(why, "sender") != NULL);
	recover();
	CHECK("the other two go to corrupt/ at start", nfound == 1 &&
		was_found(msgid - 1) && present(SPOOL_CORRUPT, msgid) &&
		present(SPOOL_QUEUE, msgid - 1) &&
		present(SPOOL_CORRUPT, msgid - 2));
	envelope_clear(&env);
}

/* an envelope of n recipients, without envelope_add_rcpt()'s O(n^2) */
static void
make_big_env(struct envelope *env, uint32_t n)
{
	uint32_t i;

	make_env(env, "example.test/alice");
	envelope_clear(env);
	env->rcpt = xcalloc(n, sizeof(*env->rcpt));
	env->nrcpt = n;
	for (i = 0; i < n; i++) {
		snprintf(env->rcpt[i].addr, sizeof(env->rcpt[i].addr),
		    "u%u@example.test", i);
		snprintf(env->rcpt[i].mailbox, sizeof(env->rcpt[i].mailbox),
		    "example.test/u%u", i);
	}
}

static long
vm_size_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmSize: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * A recipient count from disk is bounded before anything is allocated
 * for it: past ENVELOPE_RCPT_MAX a file is bad, up to it one there is
 * no memory for now is only unreadable for now.
 */
static void
test_rcpt_counts(void)
{
	struct envelope env, got;
	struct spool_msg m;
	struct msg_reader r;
	struct msg_writer w;
	struct rusage ru;
	struct rlimit as, small;
	uint64_t msgid = 0x6500000900000000ULL;
	uint8_t *f;
	size_t len, envlen;
	long before_kb, vm;
	char why[256];
	int fd;

	clean();
	make_big_env(&env, ENVELOPE_RCPT_MAX + 1);
	CHECK("envelope_check: more than ENVELOPE_RCPT_MAX refused",
	    envelope_check(&env, why, sizeof(why)) == -1 &&
		strstr(why, "more than") != NULL);
	msg_writer_init(&w);
	envelope_marshal(&env, &w);
	msg_reader_init(&r, w.buf, w.len);
	errno = 0;
	CHECK("envelope_unmarshal: more than ENVELOPE_RCPT_MAX refused",
	    envelope_unmarshal(&got, &r) == -1 && errno == EINVAL &&
		got.rcpt == NULL);
	msg_writer_free(&w);
	f = build_file(3, msgid, &env, body, "", &len);
	place(msgid, f, len);
	free(f);
	CHECK("a spool file of more is bad, its CRCs right",
	    spool_load(&sp, msgid, &got, &m, why, sizeof(why)) == SPOOL_BAD);
	envelope_clear(&env);

	msgid++;
	make_big_env(&env, ENVELOPE_RCPT_MAX);
	f = build_file(3, msgid, &env, body, "", &len);
	place(msgid, f, len);
	free(f);
	envelope_clear(&env);
	fd = spool_load(&sp, msgid, &got, &m, why, sizeof(why));
	CHECK("ENVELOPE_RCPT_MAX loads", fd >= 0 &&
		got.nrcpt == ENVELOPE_RCPT_MAX);
	if (fd >= 0) {
		close(fd);
		envelope_clear(&got);
	}
	CHECK("its state is at most a few MB",
	    spool_state_size_max(ENVELOPE_RCPT_MAX) < 4 * 1024 * 1024);
	/*
	 * Room for the envelope's bytes, not for its recipients (not under
	 * AddressSanitizer, whose allocator reports running out as an error)
	 */
	getrlimit(RLIMIT_AS, &as);
	if (!TEST_SANITIZED && (vm = vm_size_kb()) > 0) {
		small.rlim_cur = (rlim_t)(vm + 2048) * 1024;
		small.rlim_max = as.rlim_max;
		setrlimit(RLIMIT_AS, &small);
		fd = spool_load(&sp, msgid, &got, &m, why, sizeof(why));
		setrlimit(RLIMIT_AS, &as);
		CHECK("no memory for it: unreadable for now, not bad",
		    fd == SPOOL_TEMP);
		if (fd >= 0) {
			close(fd);
			envelope_clear(&got);
		}
	}

	/* version 1 (no envelope CRC), a count its length would allow */
	msgid++;
	envlen = SPOOL_ENVELOPE_MAX - 32;
	len = SPOOL_HDR_FIXED + envlen + strlen(body) + SPOOL_TRAILER_V1;
	f = xcalloc(1, len);
	memcpy(f, SPOOL_MAGIC, 4);
	put_be32(f + 4, 1);
	put_be32(f + 8, (uint32_t)envlen);
	/* four empty strings, the time, the flags, then the count */
	put_be32(f + SPOOL_HDR_FIXED + 16 + 8 + 4, (uint32_t)(envlen / 16 - 4));
	memcpy(f + SPOOL_HDR_FIXED + envlen, body, strlen(body));
	msg_writer_init(&w);
	msg_put_data(&w, SPOOL_TRAILER_MAGIC, 4);
	msg_put_u64(&w, msgid);
	msg_put_u64(&w, strlen(body));
	msg_put_u32(&w, crc32_update(0, body, strlen(body)));
	memcpy(f + len - SPOOL_TRAILER_V1, w.buf, w.len);
	msg_writer_free(&w);
	place(msgid, f, len);
	free(f);
	getrusage(RUSAGE_SELF, &ru);
	before_kb = ru.ru_maxrss;
	CHECK("a version 1 file claiming 262k recipients is bad",
	    spool_load(&sp, msgid, &got, &m, why, sizeof(why)) == SPOOL_BAD &&
		strstr(why, "malformed") != NULL);
	getrusage(RUSAGE_SELF, &ru);
	CHECK("without allocating for them",
	    ru.ru_maxrss - before_kb < 32 * 1024);
}

/* a FIFO under a spool name blocks nothing: it is bad, and set aside */
static void
test_fifo(void)
{
	struct rcpt_state rs[2];
	struct envelope env, got;
	struct spool_msg m;
	char why[256], path[64];
	uint64_t msgid = 0x6500000800000000ULL;
	int fd;

	clean();
	spool_path(SPOOL_QUEUE, msgid, path, sizeof(path));
	CHECK("mkfifo spool/ID", mkfifo(path, 0600) == 0);
	alarm(10); /* a blocked open fails the test, not hangs it */
	fd = spool_load(&sp, msgid, &got, &m, why, sizeof(why));
	CHECK("a FIFO as a message is bad", fd == SPOOL_BAD &&
		strstr(why, "regular") != NULL);
	recover();
	CHECK("and set aside at start, not waited on", nfound == 0 &&
		present(SPOOL_CORRUPT, msgid) && !present(SPOOL_QUEUE, msgid));

	msgid++;
	make_env(&env, "example.test/alice");
	CHECK("commit", receive(msgid, &env, body, strlen(body)));
	envelope_clear(&env);
	snprintf(path, sizeof(path), "%s/%016" PRIx64 "%s", SPOOL_QUEUE,
	    msgid, SPOOL_STATE_SUFFIX);
	CHECK("mkfifo spool/ID.state", mkfifo(path, 0600) == 0);
	CHECK("a FIFO as a state is bad",
	    spool_state_load(&sp, msgid, rs, 2, why, sizeof(why)) ==
		    SPOOL_BAD &&
		strstr(why, "regular") != NULL);
	spool_path(SPOOL_QUEUE, msgid, path, sizeof(path));
	unlink(path);
	CHECK("a directory as a message is bad, not unreadable for now",
	    mkdir(path, 0700) == 0 &&
		spool_load(&sp, msgid, &got, &m, why, sizeof(why)) ==
		    SPOOL_BAD);
	alarm(0);
	rmdir(path);
}

/* out of fds is no reason to call a message corrupt */
static void
test_out_of_fds(void)
{
	struct envelope env, got;
	struct spool_file sf;
	struct spool_msg m;
	struct rlimit rl, low;
	char why[256];
	uint64_t msgid = 0x6500000300000000ULL;
	int rv, before;

	clean();
	make_env(&env, "example.test/alice");
	CHECK("commit", receive(msgid, &env, body, strlen(body)));
	getrlimit(RLIMIT_NOFILE, &rl);
	low = rl;
	low.rlim_cur = 64;
	setrlimit(RLIMIT_NOFILE, &low);
	before = test_open_fds();

	fill_fds(0);
	rv = spool_load(&sp, msgid, &got, &m, why, sizeof(why));
	CHECK("load without fds: try later", rv == SPOOL_TEMP);
	/* recovery needs one for the directory */
	free_fds();
	fill_fds(1);
	recover();
	free_fds();
	CHECK("recovery without fds keeps the message",
	    was_found(msgid) && present(SPOOL_QUEUE, msgid) &&
		!present(SPOOL_CORRUPT, msgid));

	/* create fails cleanly at the first open and at the re-open */
	fill_fds(0);
	rv = spool_create(&sp, msgid + 1, &env, &sf);
	free_fds();
	CHECK("create without fds fails", rv == -1 &&
		!present(SPOOL_QUEUE, msgid + 1));
	fill_fds(1);
	rv = spool_create(&sp, msgid + 2, &env, &sf);
	free_fds();
	CHECK("create without an fd for smtp fails, leaves no file",
	    rv == -1 && !present(SPOOL_QUEUE, msgid + 2));
	CHECK("and no fd", test_open_fds() == before);
	setrlimit(RLIMIT_NOFILE, &rl);

	/* an id taken, an envelope too large */
	CHECK("create of an existing id fails",
	    spool_create(&sp, msgid, &env, &sf) == -1 &&
		present(SPOOL_QUEUE, msgid));
	{
		struct envelope big;
		struct envelope_rcpt rc;
		uint32_t i;

		make_env(&big, "example.test/alice");
		memset(&rc, 0, sizeof(rc));
		memset(rc.orcpt, 'o', sizeof(rc.orcpt) - 1);
		memset(rc.addr, 'a', sizeof(rc.addr) - 1);
		for (i = 0; i < 9000; i++) {
			snprintf(rc.mailbox, sizeof(rc.mailbox),
			    "example.test/u%u", i);
			envelope_add_rcpt(&big, &rc);
		}
		rv = spool_create(&sp, msgid + 3, &big, &sf);
		CHECK("envelope too large refused",
		    rv == -1 && errno == EMSGSIZE &&
			!present(SPOOL_QUEUE, msgid + 3));
		envelope_clear(&big);
	}
	CHECK("no fd left open", test_open_fds() == before);
	envelope_clear(&env);
}

/* hostile bytes in the spool never crash the recovery */
static void
test_garbage(void)
{
	struct envelope env, got;
	struct spool_msg m;
	uint8_t *real, *d;
	size_t len, dlen, i, k, fine = 0, bad = 0;
	uint64_t base = 0x6500000400000000ULL, id;
	char why[256];
	int fd, consistent = 1;

	clean();
	if ((real = committed_file(base, &len)) == NULL) {
		CHECK("a committed file", 0);
		return;
	}
	d = xcalloc(1, len + 4096);
	srandom(5);
	for (i = 0; i < 600; i++) {
		id = base + 1 + i;
		if (i % 3 == 0) {
			/* noise, sometimes with a spool header */
			dlen = (size_t)random() % 3000;
			for (k = 0; k < dlen; k++)
				d[k] = (uint8_t)random();
			if (i % 2 && dlen >= 12)
				memcpy(d, real, 12);
		} else {
			/* a real file, mutated */
			memcpy(d, real, len);
			dlen = len;
			for (k = (size_t)random() % 4 + 1; k > 0; k--)
				d[(size_t)random() % len] = (uint8_t)random();
			if (i % 3 == 2)
				dlen = (size_t)random() % (len + 40);
		}
		/* the trailer names this file's id */
		if (dlen >= len && i % 3 != 0) {
			put_be32(d + len - SPOOL_TRAILER + 4,
			    (uint32_t)(id >> 32));
			put_be32(d + len - SPOOL_TRAILER + 8, (uint32_t)id);
		}
		place(id, d, dlen);
	}
	recover();
	CHECK("recovery survives 600 hostile files", 1);
	for (i = 0; i < nfound; i++) {
		fd = spool_load(&sp, found[i], &got, &m, why, sizeof(why));
		if (fd < 0) {
			printf("# recovered but does not load: %016" PRIx64
			       ": %s\n",
			    found[i], why);
			consistent = 0;
			continue;
		}
		if (envelope_check(&got, why, sizeof(why)) == -1)
			consistent = 0;
		close(fd);
		envelope_clear(&got);
	}
	CHECK("what recovery keeps loads and checks out", consistent);
	for (i = 0; i < 600; i++) {
		if (present(SPOOL_QUEUE, base + 1 + i))
			fine++;
		else if (present(SPOOL_CORRUPT, base + 1 + i))
			bad++;
	}
	CHECK("every file recovered, set aside or removed",
	    fine == nfound - (present(SPOOL_QUEUE, base) ? 1 : 0));
	CHECK("most damage detected", bad > 100);
	free(d);
	free(real);
	(void)env;
}

/* each version loads; every header and trailer byte is checked */
static void
test_versions(void)
{
	static const uint32_t tlen[] = {
	    0, SPOOL_TRAILER_V1, SPOOL_TRAILER_V2, SPOOL_TRAILER};
	static const char prepend[] = "X-Prepended: yes\n";
	struct envelope env, got;
	struct spool_msg m;
	uint8_t *f, *d;
	size_t len, i, k, missed;
	uint32_t version, envlen;
	uint64_t msgid = 0x6500000600000000ULL;
	char why[256], name[128], buf[256];
	int fd;

	clean();
	make_env(&env, "example.test/alice");
	for (version = 1; version <= SPOOL_VERSION; version++) {
		f = build_file(version, msgid, &env, body,
		    version >= 3 ? prepend : "", &len);
		envlen = get_be32(f + 8);
		place(msgid, f, len);
		fd = spool_load(&sp, msgid, &got, &m, why, sizeof(why));
		snprintf(name, sizeof(name), "version %u loads", version);
		CHECK(name, fd >= 0 && m.version == version &&
			m.body_offset == SPOOL_HDR_FIXED + envlen &&
			m.body_size == strlen(body) && got.nrcpt == 2);
		if (fd >= 0) {
			snprintf(name, sizeof(name),
			    "version %u: prepended headers", version);
			CHECK(name, version < 3
				? m.prepend_size == 0
				: m.prepend_size == strlen(prepend) &&
				    m.prepend_offset ==
					m.body_offset + m.body_size &&
				    pread(fd, buf, m.prepend_size,
					(off_t)m.prepend_offset) ==
					(ssize_t)m.prepend_size &&
				    memcmp(buf, prepend, m.prepend_size) == 0);
			close(fd);
			envelope_clear(&got);
		}
		recover();
		snprintf(name, sizeof(name), "version %u recovered", version);
		CHECK(name, was_found(msgid) && present(SPOOL_QUEUE, msgid));

		/* a bit flipped in the fixed header or anywhere in the trailer */
		d = xcalloc(1, len);
		missed = 0;
		for (i = 0; i < len; i++) {
			if (i >= SPOOL_HDR_FIXED && i < len - tlen[version])
				continue;
			for (k = 0; k < 2; k++) {
				memcpy(d, f, len);
				d[i] ^= k ? 0x80 : 0x01;
				place(msgid, d, len);
				fd = spool_load(
				    &sp, msgid, &got, &m, why, sizeof(why));
				if (fd != SPOOL_BAD) {
					printf("# version %u: byte %zu^%d "
					       "passes\n",
					    version, i, k ? 0x80 : 1);
					missed++;
				}
				if (fd >= 0) {
					close(fd);
					envelope_clear(&got);
				}
			}
		}
		snprintf(name, sizeof(name),
		    "version %u: every header and trailer bit flip refused",
		    version);
		CHECK(name, missed == 0);
		/* one in the body, the envelope, the prepended headers */
		memcpy(d, f, len);
		d[SPOOL_HDR_FIXED + envlen + 2] ^= 0x04;
		place(msgid, d, len);
		snprintf(name, sizeof(name), "version %u: body bit refused",
		    version);
		CHECK(name, spool_load(&sp, msgid, &got, &m, why,
				sizeof(why)) == SPOOL_BAD &&
			strstr(why, "body") != NULL);
		if (version >= 2) {
			memcpy(d, f, len);
			d[SPOOL_HDR_FIXED + envlen - 3] ^= 0x04;
			place(msgid, d, len);
			snprintf(name, sizeof(name),
			    "version %u: envelope bit refused", version);
			CHECK(name, spool_load(&sp, msgid, &got, &m, why,
					sizeof(why)) == SPOOL_BAD &&
				strstr(why, "envelope") != NULL);
		}
		if (version >= 3) {
			memcpy(d, f, len);
			d[len - tlen[version] - 3] ^= 0x04;
			place(msgid, d, len);
			CHECK("version 3: prepended headers bit refused",
			    spool_load(&sp, msgid, &got, &m, why,
				sizeof(why)) == SPOOL_BAD &&
				strstr(why, "prepended") != NULL);
		}
		free(d);
		free(f);
		clean();
	}

	/* what the queue writes is what the layout says */
	CHECK("commit", receive(msgid, &env, body, strlen(body)));
	f = slurp(spool_path(SPOOL_QUEUE, msgid, buf, sizeof(buf)), &len);
	d = build_file(SPOOL_VERSION, msgid, &env, body, "", &k);
	CHECK("the queue writes the documented layout",
	    f != NULL && k == len && memcmp(f, d, len) == 0);
	free(f);
	free(d);
	envelope_clear(&env);
}

/* headers the queue adds at commit: loaded, and written before the body */
static void
test_prepend(void)
{
	static const char prepend[] = "DKIM-Signature: v=1; a=ed25519-sha256;"
				      "\n\tb=abc\n";
	struct envelope env, got;
	struct spool_file sf;
	struct spool_commit c;
	struct spool_msg m;
	struct maildir_delivery d;
	char why[256], path[PATH_MAX], *text;
	uint64_t msgid = 0x6500000700000000ULL;
	size_t len;
	int fd, rootfd;

	clean();
	make_env(&env, "example.test/alice");
	if (spool_create(&sp, msgid, &env, &sf) == -1) {
		CHECK("create", 0);
		return;
	}
	CHECK("body", write_all(sf.appendfd, body, strlen(body)) != -1);
	close(sf.appendfd);
	memset(&c, 0, sizeof(c));
	c.msgid = msgid;
	c.fd = sf.fd;
	c.body_offset = sf.body_offset;
	c.body_size = strlen(body);
	c.hdr_crc = sf.hdr_crc;
	c.body_crc = crc32_update(0, body, strlen(body));
	c.prepend = prepend;
	c.prepend_len = strlen(prepend);
	spool_commit_batch(&sp, &c, 1);
	close(sf.fd);
	CHECK("commit with prepended headers", c.ok);
	fd = spool_load(&sp, msgid, &got, &m, why, sizeof(why));
	CHECK("load", fd >= 0 && m.prepend_size == strlen(prepend) &&
		m.body_size == strlen(body));
	if (fd < 0) {
		envelope_clear(&env);
		return;
	}
	envelope_clear(&got);
	mkdir("mail", 0700);
	rootfd = open("mail", O_RDONLY | O_DIRECTORY);
	if (maildir_write(rootfd, "example.test/alice", msgid, 0, "mx.test",
		"sender@client.test", fd, &m, &d) < 0) {
		CHECK("maildir write", 0);
	} else {
		CHECK("maildir publish", maildir_publish(rootfd, &d) == 0);
		snprintf(path, sizeof(path), "mail/example.test/alice/new/%s",
		    d.name);
		text = (char *)slurp(path, &len);
		CHECK("prepended headers come before the body",
		    text != NULL && strstr(text, prepend) != NULL &&
			strstr(text, body) ==
			    strstr(text, prepend) + strlen(prepend) &&
			strstr(text, "Delivered-To: ") < strstr(text, prepend));
		snprintf(why, sizeof(why), ",S=%zu", len);
		CHECK("and count in the size", strstr(d.name, why) != NULL);
		free(text);
	}
	close(rootfd);
	close(fd);

	/* more than the format allows is refused, and leaves nothing */
	msgid++;
	if (spool_create(&sp, msgid, &env, &sf) == 0) {
		close(sf.appendfd);
		c.msgid = msgid;
		c.fd = sf.fd;
		c.body_offset = sf.body_offset;
		c.body_size = 0;
		c.hdr_crc = sf.hdr_crc;
		c.body_crc = 0;
		c.prepend = xcalloc(1, SPOOL_PREPEND_MAX + 1);
		c.prepend_len = SPOOL_PREPEND_MAX + 1;
		spool_commit_batch(&sp, &c, 1);
		CHECK("too many prepended octets refused",
		    !c.ok && !present(SPOOL_QUEUE, msgid));
		free((void *)c.prepend);
		close(sf.fd);
	}
	envelope_clear(&env);
}

/* ------------------------------------------------------------ maildir */

/*
 * What a retry recognises as delivered before: the name's host-free
 * prefix, in new/ or in cur/ where a reader moved it with its flags,
 * whatever the host name was then; nothing of another recipient.
 */
static void
test_maildir_retry(int rootfd, uint64_t msgid, const struct maildir_delivery *d)
{
	char from[PATH_MAX], to[PATH_MAX], other[PATH_MAX];
	int fd;

	snprintf(from, sizeof(from), "mail/%s/new/%s", d->mailbox, d->name);
	snprintf(to, sizeof(to), "mail/%s/cur/%s:2,S", d->mailbox, d->name);
	CHECK("moved to cur/ by a reader", rename(from, to) == 0);
	CHECK("a retry finds it in cur/ with its flags",
	    maildir_delivered(rootfd, d->mailbox, msgid, 0) == 1);
	CHECK("recipient 1 is not recipient 0",
	    maildir_delivered(rootfd, d->mailbox, msgid, 1) == 0);
	/* delivered under another host name, then seen */
	snprintf(other, sizeof(other),
	    "mail/%s/cur/%" PRIu64 ".Q%016" PRIx64 "R10.old-host.test,S=9:2,RS",
	    d->mailbox, msgid >> 32, msgid);
	fd = open(other, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK("a delivery by another host name", fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK("is found whatever the host",
	    maildir_delivered(rootfd, d->mailbox, msgid, 10) == 1);
	CHECK("and R1 is not the start of R10",
	    maildir_delivered(rootfd, d->mailbox, msgid, 1) == 0);
	CHECK("another message is another name",
	    maildir_delivered(rootfd, d->mailbox, msgid + 1, 0) == 0);
	CHECK("a mailbox never made holds nothing",
	    maildir_delivered(rootfd, "example.test/nobody", msgid, 0) == 0);
	errno = 0;
	CHECK("a bad mailbox name is refused",
	    maildir_delivered(rootfd, "example.test/../x", msgid, 0) == -1 &&
		errno == EINVAL);
	rename(to, from);
	unlink(other);
	mkdir("mail/example.test/erin", 0700);
	fd = open("mail/example.test/erin/new", O_WRONLY | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);
	errno = 0;
	CHECK("a new/ that is no directory is an error, not \"not there\"",
	    maildir_delivered(rootfd, "example.test/erin", msgid, 0) == -1 &&
		errno == ENOTDIR);
}

/*
 * A write that fails says why, after the tmp file is gone: mda tells a
 * temporary failure from a permanent one by that errno.
 */
static void
test_maildir_write_error(
    int rootfd, int spoolfd, uint64_t msgid, const struct spool_msg *m)
{
	struct maildir_delivery d;
	struct rlimit rl, small = {16, 16};
	struct stat st;
	char path[PATH_MAX];
	int fd;

	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &rl);
	small.rlim_max = rl.rlim_max;
	setrlimit(RLIMIT_FSIZE, &small);
	errno = 0;
	fd = maildir_write(rootfd, "example.test/dave", msgid, 0, "mx.test",
	    "sender@client.test", spoolfd, m, &d);
	CHECK("a write past RLIMIT_FSIZE fails with EFBIG",
	    fd == -1 && errno == EFBIG);
	setrlimit(RLIMIT_FSIZE, &rl);
	signal(SIGXFSZ, SIG_DFL);
	snprintf(path, sizeof(path), "mail/example.test/dave/tmp/%s", d.name);
	CHECK("and leaves no tmp file", stat(path, &st) == -1);
}

static void
test_maildir(void)
{
	static const char *const bad[] = {"../evil", "example.test/../../evil",
	    "example.test/a/b", "example.test/", "/alice",
	    "example.test/.alice", ".example.test/alice", "example.test/..",
	    "noslash", "", "example.test/al\nice", "..", NULL};
	static const char head[] = "Return-Path: <sender@client.test>\n"
				   "Delivered-To: alice@example.test\n";
	struct maildir_delivery d, d2;
	struct envelope env, got;
	struct spool_msg m;
	struct stat st;
	char path[PATH_MAX], name[128], why[256], *text;
	size_t len, i, hl = strlen(head);
	uint64_t msgid = 0x6500000500000001ULL;
	int rootfd, spoolfd, fd, before;

	clean();
	make_env(&env, "example.test/alice");
	CHECK("commit", receive(msgid, &env, body, strlen(body)));
	mkdir("mail", 0700);
	rootfd = open("mail", O_RDONLY | O_DIRECTORY);
	if ((spoolfd = spool_load(&sp, msgid, &got, &m, why, sizeof(why))) < 0) {
		CHECK("load", 0);
		return;
	}
	envelope_clear(&got);
	before = test_open_fds();
	fd = maildir_write(rootfd, "example.test/alice", msgid, 0, "mx/te:st",
	    "sender@client.test", spoolfd, &m, &d);
	CHECK("maildir write", fd >= 0);
	if (fd < 0)
		return;
	close(fd);
	snprintf(name, sizeof(name), "%" PRIu64 ".Q%016" PRIx64 "R0.",
	    msgid >> 32, msgid);
	CHECK("name: time, queue id, index", strncmp(d.name, name,
						  strlen(name)) == 0);
	CHECK("name: host with / and : encoded",
	    strstr(d.name, "mx\\057te\\072st") != NULL);
	CHECK("maildir publish", maildir_publish(rootfd, &d) == 0);
	snprintf(path, sizeof(path), "mail/example.test/alice/new/%s", d.name);
	text = (char *)slurp(path, &len);
	CHECK("delivered", text != NULL && len == hl + strlen(body) &&
		memcmp(text, head, hl) == 0 &&
		memcmp(text + hl, body, strlen(body)) == 0);
	snprintf(name, sizeof(name), ",S=%zu", len);
	CHECK("name: size", strstr(d.name, name) != NULL);
	free(text);
	CHECK("a retry finds the earlier delivery in new/",
	    maildir_delivered(rootfd, "example.test/alice", msgid, 0) == 1);
	fd = maildir_write(rootfd, "example.test/alice", msgid, 1, "mx/te:st",
	    "sender@client.test", spoolfd, &m, &d2);
	CHECK("another index is another delivery",
	    fd >= 0 && strcmp(d.name, d2.name) != 0);
	if (fd >= 0)
		close(fd);
	CHECK("what is only in tmp/ is not delivered",
	    maildir_delivered(rootfd, "example.test/alice", msgid, 1) == 0);
	test_maildir_retry(rootfd, msgid, &d);

	for (i = 0; bad[i] != NULL; i++) {
		snprintf(name, sizeof(name), "maildir refuses \"%s\"",
		    envelope_show(bad[i], why, sizeof(why)));
		errno = 0;
		fd = maildir_write(rootfd, bad[i], msgid, 0, "mx.test",
		    "sender@client.test", spoolfd, &m, &d2);
		CHECK(name, fd == -1 && errno == EINVAL);
	}
	CHECK("nothing made outside the mail root",
	    stat("evil", &st) == -1 && stat("mail/../evil", &st) == -1 &&
		stat("mail/evil", &st) == -1);
	errno = 0;
	fd = maildir_write(rootfd, "example.test/carol", msgid, 0, "mx.test",
	    "a@b.test>\nX-Injected: 1", spoolfd, &m, &d2);
	CHECK("maildir refuses a sender with LF", fd == -1 && errno == EINVAL);
	CHECK("and makes no Maildir for it",
	    stat("mail/example.test/carol", &st) == -1);
	CHECK("no fd left open", test_open_fds() == before);
	test_maildir_write_error(rootfd, spoolfd, msgid, &m);
	close(spoolfd);
	close(rootfd);
	envelope_clear(&env);
}

/* ------------------------------------------------------------ main */

int
main(void)
{
#ifdef __GLIBC__
	/* large blocks always mmap()ed: test_rcpt_counts() limits those */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
	log_init(1, LOG_LEVEL_INFO, "test_spool");
	strlcpy(top, "/tmp/test_spool.XXXXXX", sizeof(top));
	if (mkdtemp(top) == NULL || chdir(top) == -1) {
		perror("mkdtemp");
		return 1;
	}
	spool_open(&sp);

	test_envelope_check();
	test_round_trip();
	test_append_only();
	test_recovery();
	test_load();
	test_fifo();
	test_rcpt_counts();
	test_out_of_fds();
	test_garbage();
	test_versions();
	test_prepend();
	test_maildir();

	if (chdir("/") == -1)
		perror("chdir");
	rm_rf(top);
	TEST_EXIT();
}
