/*
 * boxd.conf(5) parser on any bytes: it must answer, never crash, and a
 * config it accepts must survive config_print and the marshal round trip.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct boxd_config	 c, again;
	struct msg_writer		 w;
	struct msg_reader		 r;
	char				 err[256];
	char				*text;

	if (config_parse_buffer(&c, "fuzz.conf", (const char *)data, size,
	    err, sizeof(err)) == -1) {
		if (memchr(err, '\0', sizeof(err)) == NULL ||
		    strncmp(err, "fuzz.conf:", 10) != 0)
			abort();
		return 0;
	}
	if ((text = config_print(&c)) == NULL)
		abort();
	if (config_parse_buffer(&again, "fuzz.conf", text, strlen(text),
	    err, sizeof(err)) == -1) {
		fprintf(stderr, "re-parse failed: %s\n%s", err, text);
		abort();
	}
	if (!config_equal(&c, &again)) {
		fprintf(stderr, "re-parse differs:\n%s", text);
		abort();
	}
	free(text);

	msg_writer_init(&w);
	config_marshal(&c, &w);
	if (w.error)
		abort();
	msg_reader_init(&r, w.buf, w.len);
	if (config_unmarshal(&again, &r) == -1 || !config_equal(&c, &again))
		abort();
	msg_writer_free(&w);
	return 0;
}
