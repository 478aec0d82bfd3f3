/*
 * The SEARCH, SORT and THREAD engines on arbitrary input: the first octet
 * chooses the parse flags, the octets up to a NUL are the arguments of a
 * SEARCH command (parsed by imap_command_parse()), the rest the headers and
 * body of one of the fake messages.  Whatever parses is evaluated, sorted
 * and threaded; results must be ascending and within the mailbox.
 */

#include <event2/buffer.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../imapd/search_fake.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct fake_msg msgs[] = {
	{ .seq = 1, .uid = 3, .flags = SEARCH_FLAG_SEEN, .keywords = " a ",
	    .modseq = 7, .size = 100, .idate = 1709294400, .has_sdate = 1,
	    .sdate = 1709267400, .stz = -300,
	    .headers = "Subject: Re: [x] Hello\nFrom: A <a@b>\n"
		       "Message-ID: <1@x>\n",
	    .body = "Grüße, ΚΌΣΜΕ\r\n" },
	{ .seq = 2, .uid = 9, .flags = SEARCH_FLAG_RECENT, .modseq = 2,
	    .size = 5000, .idate = -86400,
	    .headers = "Subject: hello (fwd)\nTo: c@d\nReferences: <1@x>\n"
		       "Message-ID: <2@x>\n" },
	{ .seq = 3, .uid = 10, .unreadable = 1 },
	{ .seq = 4, .uid = 12 },
};

static void
check_ids(const uint32_t *ids, size_t n, int uid)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (i > 0 && ids[i] <= ids[i - 1])
			abort();
		for (j = 0; j < 4; j++)
			if (ids[i] == (uid ? msgs[j].uid : msgs[j].seq))
				break;
		if (j == 4)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t saved[] = { 3, 12 };
	struct imap_command cmd;
	struct search_program prog;
	struct search_context ctx;
	struct search_result res;
	struct sort_program sprog;
	struct evbuffer *out;
	void *ptrs[4] = { &msgs[0], &msgs[1], &msgs[2], &msgs[3] };
	char *line, *rest, *base, err[256];
	const uint8_t *nul;
	uint32_t ids[4];
	size_t plen, n;
	int flags, uid, reply;

	if (size == 0 || size > 100000)
		return 0;
	flags = data[0] & (SEARCH_PARSE_RETURN | SEARCH_PARSE_CHARSET);
	uid = (data[0] >> 2) & 1;
	fake_body_piece = 1 + (data[0] >> 3);
	data++;
	size--;
	nul = memchr(data, '\0', size);
	plen = nul != NULL ? (size_t)(nul - data) : size;

	/* the rest: headers and body of message 4 */
	if ((rest = malloc(size - plen + 1)) == NULL)
		return 0;
	n = nul != NULL ? size - plen - 1 : 0;
	memcpy(rest, data + plen + (nul != NULL), n);
	rest[n] = '\0';
	msgs[3].headers = rest;
	msgs[3].body = rest;

	if ((base = sort_base_subject(rest, n, &reply)) != NULL)
		free(base);

	if ((line = malloc(plen + 16)) == NULL) {
		free(rest);
		return 0;
	}
	memcpy(line, "T SEARCH ", 9);
	memcpy(line + 9, data, plen);
	memset(&cmd, 0, sizeof(cmd));
	if (imap_command_parse(&cmd, line, plen + 9, err, sizeof(err)) == 0) {
		if (search_parse(&prog, cmd.args, cmd.nargs, flags, err,
			sizeof(err)) == 0) {
			memset(&ctx, 0, sizeof(ctx));
			ctx.ops = &fake_ops;
			ctx.nmsgs = 4;
			ctx.uidmax = 12;
			ctx.saved = saved;
			ctx.nsaved = 2;
			ctx.now = 1709596800;
			if (search_run(&prog, &ctx, ptrs, 4, uid, &res) == 0) {
				check_ids(res.ids, res.n, uid);
				search_result_free(&res);
			}
		}
		search_program_free(&prog);
		if (cmd.nargs > 0 &&
		    sort_parse(&sprog, &cmd.args[0], err, sizeof(err)) == 0 &&
		    sort_run(&sprog, &fake_ops, ptrs, 4, uid, ids) == 0) {
			uint32_t sorted[4];
			size_t i, j;

			/* a permutation of the messages */
			memcpy(sorted, ids, sizeof(sorted));
			for (i = 1; i < 4; i++)
				for (j = i; j > 0 && sorted[j] < sorted[j - 1];
				    j--) {
					uint32_t tmp = sorted[j];

					sorted[j] = sorted[j - 1];
					sorted[j - 1] = tmp;
				}
			check_ids(sorted, 4, uid);
		}
	}
	imap_command_free(&cmd);

	if ((out = evbuffer_new()) != NULL) {
		if (thread_run(THREAD_REFERENCES, &fake_ops, ptrs, 4, uid,
			out) == -1 ||
		    thread_run(THREAD_ORDEREDSUBJECT, &fake_ops, ptrs, 4, uid,
			out) == -1)
			abort();
		evbuffer_free(out);
	}
	free(line);
	free(rest);
	return 0;
}
