/*
 * imapd/index.c's readers on arbitrary octets: the snapshot as it is
 * (its checksum almost never matches), again with the checksum made to
 * match so that every field check is reached, and the log replayed over
 * a small snapshot.  What is taken must be sane and serialize back to
 * the same state.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_state(const struct index_state *st)
{
	struct index_state back;
	size_t i, len;
	void *buf;

	for (i = 0; i < st->nmsgs; i++) {
		const struct mail_msg *m = &st->msgs[i];

		if (m->uid == 0 || m->uid >= st->uidnext ||
		    (i > 0 && m->uid <= st->msgs[i - 1].uid) ||
		    !maildir_name_valid(mail_msg_name(st, m)) ||
		    m->base_len == 0 || m->base_len > m->name_len)
			abort();
	}
	if (index_serialize(st, &buf, &len) == -1)
		return;
	if (index_parse(&back, buf, len) == -1 || back.nmsgs != st->nmsgs ||
	    back.uidnext != st->uidnext)
		abort();
	index_state_free(&back);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct index_state st;
	struct mail_msg m;
	uint8_t *copy;
	uint32_t crc;
	size_t good;
	int64_t off;

	if (index_parse(&st, data, size) == 0) {
		check_state(&st);
		index_state_free(&st);
	}
	if ((copy = malloc(size + 4)) == NULL)
		return 0;
	if (size > 0)
		memcpy(copy, data, size);
	crc = index_checksum(copy, size);
	memcpy(copy + size, &crc, 4);
	if (index_parse(&st, copy, size + 4) == 0) {
		check_state(&st);
		index_state_free(&st);
	}
	free(copy);

	/* the octets as a log of a snapshot with two messages */
	index_state_init(&st);
	st.uidvalidity = 1;
	st.uidnext = 10;
	st.highestmodseq = 5;
	memset(&m, 0, sizeof(m));
	m.uid = 3;
	off = index_name_add(&st, "1.M1P1.host", 11);
	m.name_off = (uint32_t)off;
	m.name_len = m.base_len = 11;
	index_msg_append(&st, &m);
	m.uid = 7;
	off = index_name_add(&st, "2.M2P1.host", 11);
	m.name_off = (uint32_t)off;
	index_msg_append(&st, &m);
	if (index_log_replay(&st, data, size, &good) == 0) {
		if (good > size)
			abort();
		check_state(&st);
	}
	index_state_free(&st);
	return 0;
}
