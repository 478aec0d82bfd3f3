/*
 * What a boxctl client, or a damaged spool file, can hand boxd: imsg
 * framing from a socket, then the typed readers of every payload kind
 * (configuration, envelope).  Nothing may read out of bounds, what
 * unmarshals must marshal back to the same bytes, and a refusal says why
 * and sticks.
 */

#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_envelope(const void *data, size_t len)
{
	struct envelope env;
	struct msg_reader r;
	struct msg_writer w;

	msg_reader_init(&r, data, len);
	if (envelope_unmarshal(&env, &r) == -1)
		return;
	if (msg_get_end(&r) == 0) {
		msg_writer_init(&w);
		envelope_marshal(&env, &w);
		if (w.error || w.len != len || memcmp(w.buf, data, len) != 0)
			abort();
		msg_writer_free(&w);
	}
	envelope_clear(&env);
}

static void
check_config(const void *data, size_t len)
{
	struct boxd_config conf;
	struct msg_reader r;

	config_defaults(&conf);
	msg_reader_init(&r, data, len);
	config_unmarshal(&conf, &r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct imsgbuf ibuf;
	struct imsg imsg;
	int sv[2], n;

	check_envelope(data, len);
	check_config(data, len);
	if (len > 65536 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		return 0;
	if (len > 0 && write(sv[0], data, len) != (ssize_t)len)
		abort();
	close(sv[0]);
	imsgbuf_init(&ibuf, sv[1], IMSG_CTL_MAX_SIZE);
	while (imsgbuf_read(&ibuf) == 1) {
		while ((n = imsgbuf_get(&ibuf, &imsg)) == 1) {
			check_envelope(imsg.data, imsg.datalen);
			imsg_free(&imsg);
		}
		if (n == -1) {
			if (errno != EBADMSG || ibuf.error[0] == '\0' ||
			    imsgbuf_get(&ibuf, &imsg) != -1)
				abort();
			break;
		}
	}
	imsgbuf_clear(&ibuf);
	close(sv[1]);
	return 0;
}
