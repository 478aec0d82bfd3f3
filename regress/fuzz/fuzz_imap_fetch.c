/*
 * FETCH's data items and STORE's arguments on arbitrary octets: the input
 * is the text after "a FETCH 1 " (and after "a STORE 1 "), parsed as the
 * session parses a command, then given to fetch_parse() and
 * store_parse().  Whatever they accept must be self-consistent.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_fetch(const struct fetch_request *req)
{
	const struct fetch_section *fs;
	size_t i;

	if (req->nsections > FETCH_ATTS_MAX)
		abort();
	for (i = 0; i < req->nsections; i++) {
		fs = &req->sections[i];
		if (fs->name == NULL || strlen(fs->name) == 0)
			abort();
		if (fs->partial &&
		    (fs->count == 0 || fs->offset > INT64_MAX ||
			fs->count > INT64_MAX))
			abort();
		if (fs->kind == FETCH_SECTION_BINARY_SIZE && fs->partial)
			abort();
		if (!fs->peek && !req->sets_seen)
			abort();
		if (fs->section.nfields > IMAP_SECTION_FIELDS_MAX)
			abort();
	}
	if (req->vanished && !req->changedsince_set)
		abort();
	if (req->changedsince_set && (req->items & FETCH_MODSEQ) == 0)
		abort();
}

static void
run(const char *prefix, const uint8_t *data, size_t size, int uid)
{
	struct imap_command cmd;
	struct fetch_request req;
	struct store_request sreq;
	size_t plen = strlen(prefix);
	char err[64], *line;

	if ((line = malloc(plen + size)) == NULL)
		return;
	memcpy(line, prefix, plen);
	memcpy(line + plen, data, size);
	memset(&cmd, 0, sizeof(cmd));
	if (imap_command_parse(&cmd, line, plen + size, err, sizeof(err)) ==
	    0) {
		if (cmd.name[0] == 'F' && cmd.nargs >= 2 && cmd.nargs <= 3) {
			if (fetch_parse(&req, &cmd.args[1],
				cmd.nargs == 3 ? &cmd.args[2] : NULL, uid, err,
				sizeof(err)) == 0)
				check_fetch(&req);
			else if (memchr(err, '\0', sizeof(err)) == NULL)
				abort();
			fetch_request_free(&req);
		} else if (cmd.name[0] == 'S' && cmd.nargs >= 1 &&
		    store_parse(&sreq, cmd.args + 1, cmd.nargs - 1, err,
			sizeof(err)) == 0 &&
		    (sreq.nflags == 0 ||
			(sreq.flags_list &&
			    (sreq.nflags != 1 ||
				sreq.flags->type != IMAP_ARG_LIST))))
			abort();
	}
	imap_command_free(&cmd);
	free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run("a FETCH 1 ", data, size, 0);
	run("a UID FETCH 1 ", data, size, 1);
	run("a STORE 1 ", data, size, 0);
	return 0;
}
