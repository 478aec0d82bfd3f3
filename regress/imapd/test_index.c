/*
 * imapd/index.c: the snapshot and the log of a folder's index, round
 * trips, and what a damaged or hostile file does: every octet flipped,
 * every length cut, records that check out but make no sense.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imapd.h"
#include "test.h"

static void
add_msg(struct index_state *st, uint32_t uid, const char *name, uint64_t modseq)
{
	struct mail_msg m;
	size_t blen;
	int64_t off;

	memset(&m, 0, sizeof(m));
	m.uid = uid;
	m.modseq = modseq;
	m.size = 100 + uid;
	m.internal_date = 1700000000 + uid;
	if (maildir_name_parse(name, &blen, &m.flags) == -1 ||
	    (off = index_name_add(st, name, strlen(name))) == -1)
		abort();
	m.name_off = (uint32_t)off;
	m.name_len = (uint16_t)strlen(name);
	m.base_len = (uint16_t)blen;
	if (index_msg_append(st, &m) == -1)
		abort();
}

static void
sample(struct index_state *st)
{
	index_state_init(st);
	st->uidvalidity = 1234;
	st->uidnext = 10;
	st->highestmodseq = 20;
	st->log_gen = 3;
	st->new_mtime = 111;
	st->cur_mtime = 222;
	add_msg(st, 2, "1700000001.M1P1.host,S=10:2,S", 5);
	add_msg(st, 5, "1700000002.M2P1.host,S=20:2,FSa", 7);
	add_msg(st, 9, "1700000003.M3P1.host,S=30", 20);
	index_vanished_add(st, 3, 11);
	index_vanished_add(st, 4, 12);
	index_vanished_add(st, 7, 13);
}

static int
same_state(const struct index_state *a, const struct index_state *b)
{
	size_t i;

	if (a->uidvalidity != b->uidvalidity || a->uidnext != b->uidnext ||
	    a->highestmodseq != b->highestmodseq || a->nmsgs != b->nmsgs ||
	    a->new_mtime != b->new_mtime || a->cur_mtime != b->cur_mtime ||
	    a->log_gen != b->log_gen || a->nvanished != b->nvanished)
		return 0;
	for (i = 0; i < a->nmsgs; i++) {
		const struct mail_msg *x = &a->msgs[i], *y = &b->msgs[i];

		if (x->uid != y->uid || x->flags != y->flags ||
		    x->modseq != y->modseq || x->size != y->size ||
		    x->internal_date != y->internal_date ||
		    x->base_len != y->base_len ||
		    strcmp(mail_msg_name(a, x), mail_msg_name(b, y)) != 0)
			return 0;
	}
	for (i = 0; i < a->nvanished; i++)
		if (a->vanished[i].first != b->vanished[i].first ||
		    a->vanished[i].last != b->vanished[i].last ||
		    a->vanished[i].modseq != b->vanished[i].modseq)
			return 0;
	return 1;
}

/* the checksum made to match again after a change */
static void
fix_crc(uint8_t *buf, size_t len)
{
	uint32_t crc = index_checksum(buf, len - 4);

	memcpy(buf + len - 4, &crc, 4);
}

static void
test_snapshot(void)
{
	struct index_state st, back;
	size_t len, i, ok;
	uint8_t *copy;
	void *buf;

	sample(&st);
	CHECK("vanished ranges merge",
	    st.nvanished == 2 && st.vanished[0].first == 3 &&
		st.vanished[0].last == 4 && st.vanished[0].modseq == 12);
	CHECK("serialize", index_serialize(&st, &buf, &len) == 0);
	CHECK("parse back", index_parse(&back, buf, len) == 0);
	CHECK("the same state", same_state(&st, &back));
	CHECK("found by uid",
	    index_msg_find(&back, 5) != NULL &&
		index_msg_find(&back, 5)->flags ==
		    (MAILDIR_FLAG_FLAGGED | MAILDIR_FLAG_SEEN |
			MAILDIR_FLAG_KEYWORD('a')) &&
		index_msg_find(&back, 6) == NULL);
	index_state_free(&back);

	copy = malloc(len);
	for (ok = 0, i = 0; i < len; i++) {
		memcpy(copy, buf, len);
		copy[i] ^= 0x01;
		if (index_parse(&back, copy, len) == 0)
			ok++;
		index_state_free(&back);
	}
	CHECK("every octet flipped: refused", ok == 0);
	for (ok = 0, i = 0; i < len; i++) {
		if (index_parse(&back, buf, i) == 0)
			ok++;
		index_state_free(&back);
	}
	CHECK("every length cut: refused", ok == 0);
	/* with the checksum made to match, the fields must still check out */
	for (ok = 0, i = 0; i + 4 < len; i++) {
		memcpy(copy, buf, len);
		copy[i] ^= 0x80;
		fix_crc(copy, len);
		if (index_parse(&back, copy, len) == 0) {
			size_t k;

			/* what is taken must be sane */
			for (k = 0; k < back.nmsgs; k++)
				if (back.msgs[k].uid >= back.uidnext ||
				    (k > 0 &&
					back.msgs[k].uid <=
					    back.msgs[k - 1].uid) ||
				    !maildir_name_valid(
					mail_msg_name(&back, &back.msgs[k])))
					ok++;
		}
		index_state_free(&back);
	}
	CHECK("a matching checksum brings no nonsense in", ok == 0);

	/* a count claiming more records than the octets can hold */
	memcpy(copy, buf, len);
	memset(copy + 52, 0xff, 4);
	fix_crc(copy, len);
	CHECK("huge counts refused before allocation",
	    index_parse(&back, copy, len) == -1);
	free(copy);
	free(buf);

	/* a uid at UIDNEXT */
	st.uidnext = 9;
	CHECK("serialize a bad state", index_serialize(&st, &buf, &len) == 0);
	CHECK("a uid not below UIDNEXT refused",
	    index_parse(&back, buf, len) == -1);
	free(buf);
	index_state_free(&st);
}

static void
test_log(void)
{
	struct index_state st, base;
	struct msg_writer w;
	struct mail_msg *m;
	size_t good, i, n5 = 0;
	void *snap;
	size_t snaplen;
	int64_t off;
	const char *renamed = "1700000002.M2P1.host,S=20:2,S";

	sample(&st);
	index_serialize(&st, &snap, &snaplen);
	msg_writer_init(&w);
	index_log_header(&w, st.log_gen);
	/* a new message, a flag change, an expunge, sizes learnt */
	add_msg(&st, 12, "1700000009.M9P1.host,S=90", 21);
	index_log_put(&w, INDEX_LOG_NEW, &st, &st.msgs[st.nmsgs - 1]);
	m = index_msg_find(&st, 5);
	off = index_name_add(&st, renamed, strlen(renamed));
	m->name_off = (uint32_t)off;
	m->name_len = (uint16_t)strlen(renamed);
	m->flags = MAILDIR_FLAG_SEEN;
	m->modseq = 22;
	index_log_put(&w, INDEX_LOG_FLAGS, &st, m);
	m = index_msg_find(&st, 2);
	m->modseq = 23;
	index_log_put(&w, INDEX_LOG_EXPUNGE, &st, m);
	CHECK("records written", !w.error);

	CHECK("snapshot read", index_parse(&base, snap, snaplen) == 0);
	CHECK("replayed",
	    index_log_replay(&base, w.buf, w.len, &good) == 0 && good == w.len);
	CHECK("new message",
	    index_msg_find(&base, 12) != NULL && base.uidnext == 13);
	CHECK("flags",
	    index_msg_find(&base, 5) != NULL &&
		index_msg_find(&base, 5)->flags == MAILDIR_FLAG_SEEN &&
		strcmp(mail_msg_name(&base, index_msg_find(&base, 5)),
		    renamed) == 0);
	CHECK("expunge",
	    index_msg_find(&base, 2) == NULL && base.highestmodseq == 23 &&
		base.nvanished == 3);
	index_state_free(&base);

	/* every length cut: a prefix of records, never an error */
	for (i = 0; i <= w.len; i++) {
		index_parse(&base, snap, snaplen);
		if (index_log_replay(&base, w.buf, i, &good) == 0 &&
		    good <= i && index_msg_find(&base, 5) != NULL)
			n5++;
		index_state_free(&base);
	}
	CHECK("every torn tail replays a prefix", n5 == w.len + 1 - 8);
	/* every octet flipped: stops there, no crash */
	for (n5 = 0, i = 0; i < w.len; i++) {
		w.buf[i] ^= 0x10;
		index_parse(&base, snap, snaplen);
		if (index_log_replay(&base, w.buf, w.len, &good) == 0 &&
		    good < w.len)
			n5++;
		index_state_free(&base);
		w.buf[i] ^= 0x10;
	}
	CHECK("every octet flipped stops the replay", n5 == w.len - 8);
	/* a log of another generation is not replayed */
	index_parse(&base, snap, snaplen);
	base.log_gen++;
	CHECK("another generation's log ignored",
	    index_log_replay(&base, w.buf, w.len, &good) == -1 &&
		index_msg_find(&base, 12) == NULL);
	index_state_free(&base);
	msg_writer_free(&w);
	free(snap);
	index_state_free(&st);
}

static void
test_vanished_trim(void)
{
	struct index_state st;
	uint32_t i;

	index_state_init(&st);
	for (i = 1; i <= 20000; i++)
		index_vanished_add(&st, i * 2, i);
	CHECK("QRESYNC memory bounded", st.nvanished <= 8192);
	CHECK("its floor kept",
	    st.vanished_floor > 0 && st.vanished[0].modseq > st.vanished_floor);
	index_state_free(&st);
}

/* the file is written and read a window at a time: the same octets */
static void
test_file(void)
{
	struct index_state st, back;
	char dir[] = "/tmp/test_index.XXXXXX", name[64];
	size_t len, flen, i;
	uint8_t *file;
	void *buf, *fbuf;
	int dfd;

	index_state_init(&st);
	st.uidvalidity = 77;
	st.highestmodseq = 50000;
	/* some megabytes: records cross every window boundary */
	for (i = 1; i <= 30000; i++) {
		snprintf(name, sizeof(name), "1700%06zu.M%zuP9.host,S=%zu:2,%s",
		    i, i * 7, i, i % 3 ? "S" : "FS");
		add_msg(&st, (uint32_t)i, name, i);
	}
	st.uidnext = 30001;
	index_vanished_add(&st, 40000, 3);
	st.uidnext = 40001;
	if (mkdtemp(dir) == NULL ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY)) == -1)
		abort();
	CHECK("write", index_write(dfd, &st) == 0);
	CHECK("serialize", index_serialize(&st, &buf, &len) == 0);
	CHECK("the file is the serialized octets",
	    index_slurp(dfd, INDEX_FILE, &fbuf, &flen, 1ULL << 30) == 0 &&
		flen == len && memcmp(fbuf, buf, len) == 0);
	CHECK("read back", index_read(dfd, &back) == 0);
	CHECK("read the same state", same_state(&st, &back));
	index_state_free(&back);
	/* one octet changed anywhere, fields intact: the checksum says no */
	file = fbuf;
	for (i = 0; i < 3; i++) {
		size_t at = i == 0 ? 70 : i == 1 ? len / 2 : len - 5;

		file[at] ^= 0x01;
		CHECK("a changed octet is found",
		    index_replace_file(dfd, INDEX_FILE, file, len) == 0 &&
			index_read(dfd, &back) == -1 && back.nmsgs == 0);
		file[at] ^= 0x01;
	}
	CHECK("cut short is no index",
	    index_replace_file(dfd, INDEX_FILE, file, len - 1) == 0 &&
		index_read(dfd, &back) == -1);
	if ((file = realloc(fbuf, len + 4)) == NULL)
		abort();
	memcpy(file + len, file + len - 4, 4);
	CHECK("longer is no index",
	    index_replace_file(dfd, INDEX_FILE, file, len + 4) == 0 &&
		index_read(dfd, &back) == -1);
	CHECK("as written, read again",
	    index_replace_file(dfd, INDEX_FILE, file, len) == 0 &&
		index_read(dfd, &back) == 0 && same_state(&st, &back));
	index_state_free(&back);
	free(file);
	free(buf);
	index_state_free(&st);
	unlinkat(dfd, INDEX_FILE, 0);
	close(dfd);
	rmdir(dir);
}

int
main(void)
{
	test_snapshot();
	test_file();
	test_log();
	test_vanished_trim();
	TEST_EXIT();
}
