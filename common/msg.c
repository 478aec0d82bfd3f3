/*
 * Typed marshalling for imsg payloads and spool records.  A reader that
 * runs short, or is left with bytes at the end, fails.
 */

#include <stdlib.h>
#include <string.h>

#include "common.h"

#define MSG_MAX (64 * 1024 * 1024)

void
msg_writer_init(struct msg_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void
msg_writer_free(struct msg_writer *w)
{
	if (w->wipe)
		freezero(w->buf, w->cap);
	else
		free(w->buf);
	memset(w, 0, sizeof(*w));
}

void
msg_put_data(struct msg_writer *w, const void *data, size_t len)
{
	size_t cap;
	uint8_t *p;

	if (w->error)
		return;
	if (len > MSG_MAX - w->len) {
		w->error = 1;
		return;
	}
	if (w->len + len > w->cap) {
		cap = w->cap ? w->cap : 256;
		while (cap < w->len + len)
			cap *= 2;
		/* realloc could leave a secret's old copy behind */
		if (w->wipe) {
			if ((p = malloc(cap)) == NULL) {
				w->error = 1;
				return;
			}
			if (w->len > 0)
				memcpy(p, w->buf, w->len);
			freezero(w->buf, w->cap);
		} else if ((p = realloc(w->buf, cap)) == NULL) {
			w->error = 1;
			return;
		}
		w->buf = p;
		w->cap = cap;
	}
	if (len > 0)
		memcpy(w->buf + w->len, data, len);
	w->len += len;
}

void
msg_put_u8(struct msg_writer *w, uint8_t v)
{
	msg_put_data(w, &v, 1);
}

void
msg_put_u32(struct msg_writer *w, uint32_t v)
{
	uint8_t b[4];

	b[0] = v >> 24;
	b[1] = v >> 16;
	b[2] = v >> 8;
	b[3] = v;
	msg_put_data(w, b, sizeof(b));
}

void
msg_put_u64(struct msg_writer *w, uint64_t v)
{
	msg_put_u32(w, (uint32_t)(v >> 32));
	msg_put_u32(w, (uint32_t)v);
}

void
msg_put_str(struct msg_writer *w, const char *s)
{
	size_t len = strlen(s);

	if (len > UINT32_MAX) {
		w->error = 1;
		return;
	}
	msg_put_u32(w, (uint32_t)len);
	msg_put_data(w, s, len);
}

void
msg_reader_init(struct msg_reader *r, const void *data, size_t len)
{
	r->p = data;
	r->left = data == NULL ? 0 : len;
	r->error = 0;
}

int
msg_get_data(struct msg_reader *r, void *dst, size_t len)
{
	if (r->error || len > r->left) {
		r->error = 1;
		return -1;
	}
	if (len > 0)
		memcpy(dst, r->p, len);
	r->p += len;
	r->left -= len;
	return 0;
}

int
msg_get_u8(struct msg_reader *r, uint8_t *v)
{
	return msg_get_data(r, v, 1);
}

int
msg_get_u32(struct msg_reader *r, uint32_t *v)
{
	uint8_t b[4];

	if (msg_get_data(r, b, sizeof(b)) == -1)
		return -1;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
	    b[3];
	return 0;
}

int
msg_get_u64(struct msg_reader *r, uint64_t *v)
{
	uint32_t hi, lo;

	if (msg_get_u32(r, &hi) == -1 || msg_get_u32(r, &lo) == -1)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

static int
msg_get_strlen(struct msg_reader *r, uint32_t *len)
{
	if (msg_get_u32(r, len) == -1)
		return -1;
	if (*len > r->left || memchr(r->p, '\0', *len) != NULL) {
		r->error = 1;
		return -1;
	}
	return 0;
}

int
msg_get_str(struct msg_reader *r, char *dst, size_t dstsz)
{
	uint32_t len;

	if (msg_get_strlen(r, &len) == -1)
		return -1;
	if (len >= dstsz) {
		r->error = 1;
		return -1;
	}
	if (msg_get_data(r, dst, len) == -1)
		return -1;
	dst[len] = '\0';
	return 0;
}

int
msg_get_strdup(struct msg_reader *r, char **dst, size_t maxlen)
{
	uint32_t len;
	char *s;

	*dst = NULL;
	if (msg_get_strlen(r, &len) == -1)
		return -1;
	if (len > maxlen || (s = malloc((size_t)len + 1)) == NULL) {
		r->error = 1;
		return -1;
	}
	if (msg_get_data(r, s, len) == -1) {
		free(s);
		return -1;
	}
	s[len] = '\0';
	*dst = s;
	return 0;
}

int
msg_get_end(struct msg_reader *r)
{
	if (r->error || r->left != 0) {
		r->error = 1;
		return -1;
	}
	return 0;
}
