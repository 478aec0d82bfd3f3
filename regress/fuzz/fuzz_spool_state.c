/*
 * The per-recipient state record (spool/ID.state) on arbitrary octets, as
 * a damaged disk could leave it, and again with its CRC made to match so
 * that the fields behind it are reached: nothing may read out of bounds,
 * a refusal gives nothing out, what loads marshals back to the same
 * bytes, and no time it holds puts an attempt past max-retry from now.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queued.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const struct rcpt_policy policy = {
    .received = 1700000000,
    .retry = 300,
    .max_retry = 4 * 3600,
    .expire = 5 * 86400,
};
static const uint64_t now = 1700001000;

static void
check(const uint8_t *data, size_t size)
{
	struct rcpt_state rs[8];
	struct msg_writer w;
	char why[256];
	uint64_t msgid;
	uint32_t n, i;

	/* the id and count the file claims, so that the rest is reached */
	msgid = 0;
	for (i = 8; i < 16; i++)
		msgid = msgid << 8 | data[i];
	n = data[19] % 9;
	why[0] = '\0';
	if (spool_state_unmarshal(data, size, msgid, rs, n, why,
		sizeof(why)) == -1) {
		for (i = 0; i < n; i++)
			if (rs[i].status != 0 || rs[i].attempts != 0 ||
			    rs[i].reply[0] != '\0')
				abort();
		if (why[0] == '\0')
			abort();
		return;
	}
	if (size > spool_state_size_max(n))
		abort();
	msg_writer_init(&w);
	spool_state_marshal(&w, msgid, rs, n);
	if (w.error || w.len != size || memcmp(w.buf, data, size) != 0)
		abort();
	msg_writer_free(&w);
	/* whatever times it holds, no wait is longer than max-retry */
	rcpt_clamp(rs, n, now, &policy);
	for (i = 0; i < n; i++)
		if (rcpt_wait(rs[i].next_try, now, &policy) > policy.max_retry ||
		    (rs[i].status == RCPT_PENDING &&
			rs[i].next_try > now + policy.max_retry))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *sealed;
	uint32_t crc;

	if (size < 24)
		return 0;
	check(data, size);
	if ((sealed = malloc(size)) == NULL)
		return 0;
	memcpy(sealed, data, size);
	crc = crc32_update(0, sealed, size - 4);
	sealed[size - 4] = (uint8_t)(crc >> 24);
	sealed[size - 3] = (uint8_t)(crc >> 16);
	sealed[size - 2] = (uint8_t)(crc >> 8);
	sealed[size - 1] = (uint8_t)crc;
	check(sealed, size);
	free(sealed);
	return 0;
}
