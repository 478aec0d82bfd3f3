/*
 * imapd/uidlist.c's parsers on arbitrary octets: dovecot-uidlist and
 * dovecot-keywords, as any local program may have written them.  UIDs
 * taken ascend below UIDNEXT, bases are clean Maildir bases, keyword
 * names are valid and distinct.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uidlist ul;
	struct keywords kw;
	size_t i, j, blen;
	uint32_t flags;
	const char *base;

	if (uidlist_parse(&ul, (const char *)data, size) == 0) {
		if (ul.uidvalidity == 0 || ul.uidnext == 0)
			abort();
		for (i = 0; i < ul.nents; i++) {
			base = ul.names + ul.ents[i].base_off;
			if (ul.ents[i].uid == 0 ||
			    ul.ents[i].uid >= ul.uidnext ||
			    (i > 0 && ul.ents[i].uid <= ul.ents[i - 1].uid) ||
			    strlen(base) != ul.ents[i].base_len ||
			    maildir_name_parse(base, &blen, &flags) == -1 ||
			    blen != ul.ents[i].base_len || flags != 0)
				abort();
		}
		uidlist_free(&ul);
	}
	keywords_parse(&kw, (const char *)data, size);
	for (i = 0; i < KEYWORDS_MAX; i++) {
		if (kw.name[i] == NULL)
			continue;
		if (!keyword_name_valid(kw.name[i]))
			abort();
		for (j = i + 1; j < KEYWORDS_MAX; j++)
			if (kw.name[j] != NULL &&
			    strcasecmp(kw.name[i], kw.name[j]) == 0)
				abort();
	}
	keywords_free(&kw);
	return 0;
}
