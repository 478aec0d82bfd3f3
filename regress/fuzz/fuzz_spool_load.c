/*
 * A committed spool file on arbitrary octets, as a damaged disk or a
 * hand-made file could leave it, and again with its checksums made to
 * match, so that the envelope behind them is reached: nothing may read
 * out of bounds or die, a refusal gives no envelope out and says why,
 * and what loads lies inside the file and passes the envelope checks.
 */

#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queued.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
check(const uint8_t *data, size_t size)
{
	struct envelope env;
	struct spool_msg m;
	char why[256];
	uint64_t msgid = 0;
	uint32_t tlen;
	int fd;

	/* the id the trailer claims, so that what follows it is reached */
	tlen = size >= 8 && get32(data + 4) == 1 ? SPOOL_TRAILER_V1
	    : size >= 8 && get32(data + 4) == 2	 ? SPOOL_TRAILER_V2
						 : SPOOL_TRAILER;
	if (size >= tlen)
		msgid = get64(data + size - tlen + 4);
	if ((fd = memfd_create("spool", MFD_CLOEXEC)) == -1)
		return;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return;
	}
	why[0] = '\0';
	switch (spool_verify(fd, msgid, &env, &m, why, sizeof(why))) {
	case 0:
		if (envelope_check_spooled(&env, why, sizeof(why)) == -1 ||
		    m.body_offset + m.body_size + m.prepend_size > size ||
		    m.prepend_offset != m.body_offset + m.body_size ||
		    m.prepend_size > SPOOL_PREPEND_MAX)
			abort();
		envelope_clear(&env);
		break;
	default:
		if (env.rcpt != NULL || env.nrcpt != 0 || why[0] == '\0')
			abort();
		break;
	}
	close(fd);
}

/* version 3's checksums: of header and envelope, body, prepended */
static void
seal(uint8_t *f, size_t size)
{
	uint64_t body, envlen;
	uint32_t prepend;
	uint8_t *t;

	if (size < SPOOL_HDR_FIXED + SPOOL_TRAILER || get32(f + 4) != 3)
		return;
	t = f + size - SPOOL_TRAILER;
	envlen = get32(f + 8);
	body = get64(t + 12);
	prepend = get32(t + 20);
	/* each part bounded first: a huge body must not wrap the sum */
	if (envlen > size || body > size || prepend > size ||
	    SPOOL_HDR_FIXED + envlen + body + prepend + SPOOL_TRAILER != size)
		return;
	memcpy(f, SPOOL_MAGIC, 4);
	memcpy(t, SPOOL_TRAILER_MAGIC, 4);
	put32(t + 24, crc32_update(0, f, SPOOL_HDR_FIXED + envlen));
	put32(t + 28, crc32_update(0, f + SPOOL_HDR_FIXED + envlen, body));
	put32(t + 32,
	    crc32_update(0, f + SPOOL_HDR_FIXED + envlen + body, prepend));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *sealed;

	check(data, size);
	if ((sealed = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(sealed, data, size);
	seal(sealed, size);
	check(sealed, size);
	free(sealed);
	return 0;
}
