/*
 * The control protocol's decoders (ctl_msg.c) on any bytes, as boxctl's
 * requests reach control and auth and boxd's replies reach boxctl: no
 * read out of bounds, no leak, and whatever decodes encodes back to the
 * very same bytes.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
same(struct msg_writer *w, const uint8_t *data, size_t len)
{
	if (w->error || w->len != len || (len > 0 &&
	    memcmp(w->buf, data, len) != 0))
		abort();
	msg_writer_free(w);
}

static void
check_requests(const uint8_t *data, size_t len)
{
	struct ctl_request	 req;
	struct msg_writer	 w;
	uint32_t		 type;

	/* every number a client may send, requests or not */
	for (type = 0; type < IMSG_INTERNAL_BASE + 64; type++) {
		if (ctl_request_decode(&req, type, data, len) == -1) {
			if (req.name != NULL || req.targets != NULL)
				abort();
			continue;
		}
		if (!ctl_request_type(type))
			abort();
		msg_writer_init(&w);
		ctl_request_encode(&w, &req);
		same(&w, data, len);
		ctl_request_clear(&req);
	}
}

static void
check_row(const uint8_t *data, size_t len)
{
	struct ctl_row		 row;
	struct msg_writer	 w;
	uint32_t		 i;

	if (ctl_row_decode(&row, data, len) == -1)
		return;
	/* encode it by hand: ctl_row_encode takes its pairs as arguments */
	msg_writer_init(&w);
	msg_put_u32(&w, row.n);
	for (i = 0; i < row.n; i++) {
		msg_put_str(&w, row.key[i]);
		msg_put_str(&w, row.value[i]);
		if (ctl_row_get(&row, row.key[i]) == NULL)
			abort();
	}
	same(&w, data, len);
	/* and as control passes a user list's row on, with nothing added */
	msg_writer_init(&w);
	ctl_row_encode_more(&w, &row, NULL);
	same(&w, data, len);
	ctl_row_clear(&row);
}

/* "domain/user": two components, neither "." nor ".." */
static int
inside(const char *mailbox)
{
	const char	*slash, *user;

	if ((slash = strchr(mailbox, '/')) == NULL || slash == mailbox)
		return 0;
	user = slash + 1;
	if (strchr(user, '/') != NULL || strcmp(user, ".") == 0 ||
	    strcmp(user, "..") == 0 || *user == '\0')
		return 0;
	if ((slash - mailbox == 1 && mailbox[0] == '.') ||
	    (slash - mailbox == 2 && mailbox[0] == '.' && mailbox[1] == '.'))
		return 0;
	return 1;
}

/* imap's side of a user list's usage, and control's */
static void
check_usage(const uint8_t *data, size_t len)
{
	static struct ctl_usage_req	 req;
	static struct ctl_usage_reply	 rep;
	struct msg_writer		 w;
	uint32_t			 i;

	if (ctl_usage_req_decode(&req, data, len) == 0) {
		if (req.n > CTL_USAGE_BATCH)
			abort();
		/* nothing imap would open outside the mail directory */
		for (i = 0; i < req.n; i++)
			if (!envelope_mailbox_valid(req.mailbox[i]) ||
			    !inside(req.mailbox[i]))
				abort();
		msg_writer_init(&w);
		ctl_usage_req_encode(&w, &req);
		same(&w, data, len);
	} else if (req.n != 0)
		abort();
	if (ctl_usage_reply_decode(&rep, data, len) == 0) {
		if (rep.n > CTL_USAGE_BATCH)
			abort();
		msg_writer_init(&w);
		ctl_usage_reply_encode(&w, &rep);
		same(&w, data, len);
	} else if (rep.n != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct ctl_hello	 hello;
	struct ctl_proc		 proc;
	struct msg_writer	 w;
	uint64_t		 counters[CTL_COUNTERS];
	char			*why;
	size_t			 i;

	check_requests(data, len);
	check_row(data, len);
	check_usage(data, len);
	if (ctl_hello_decode(&hello, data, len) == 0) {
		/* a version fit to print, whatever was sent */
		for (i = 0; hello.version[i] != '\0'; i++)
			if ((unsigned char)hello.version[i] < 0x20 ||
			    (unsigned char)hello.version[i] >= 0x7f)
				abort();
		if (i >= sizeof(hello.version))
			abort();
	}
	if (ctl_fail_decode(&why, data, len) == 0) {
		msg_writer_init(&w);
		ctl_fail_encode(&w, why);
		same(&w, data, len);
		free(why);
	}
	if (ctl_stats_decode(counters, data, len) == 0) {
		msg_writer_init(&w);
		ctl_stats_encode(&w, counters);
		same(&w, data, len);
	}
	if (ctl_proc_decode(&proc, data, len) == 0) {
		msg_writer_init(&w);
		ctl_proc_encode(&w, &proc);
		same(&w, data, len);
	}
	if (ctl_empty_decode(data, len) == 0 && len != 0)
		abort();
	return 0;
}
