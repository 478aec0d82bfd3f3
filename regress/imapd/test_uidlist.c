/*
 * imapd/uidlist.c: Dovecot's dovecot-uidlist (versions 1 and 3) and
 * dovecot-keywords as Dovecot writes them, and as a hostile local
 * program might.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imapd.h"
#include "test.h"

static const char *
base_of(const struct uidlist *ul, size_t i)
{
	return ul->names + ul->ents[i].base_off;
}

static void
test_v3(void)
{
	static const char text[] =
	    "3 V1276528487 N7 G3085f01b7f11094c501100008c4a11c1\n"
	    "1 :1276528487.M364837P9451.kurkku,S=1355,W=1394\n"
	    "2 W2000 :1276528488.M1P1.kurkku,S=20:2,RS\n"
	    "4 G0f0f M5 :1276528490.M3P1.kurkku\n"
	    "3 :out.of.order\n"
	    "5 :\n"
	    "6 W1 no.colon.here\n"
	    "0 :zero.uid\n"
	    "99 :past.uidnext\n"
	    "x :not.a.number\n"
	    "6 :bad/name\n"
	    "6 :1276528491.M4P1.kurkku:2,S\n"
	    "7 :torn.last.line";
	struct uidlist ul;

	CHECK("v3 parses", uidlist_parse(&ul, text, strlen(text)) == 0);
	CHECK("its header", ul.uidvalidity == 1276528487 && ul.uidnext == 7);
	CHECK("the good lines only", ul.nents == 4);
	if (ul.nents == 4) {
		CHECK("uid 1",
		    ul.ents[0].uid == 1 &&
			strcmp(base_of(&ul, 0),
			    "1276528487.M364837P9451.kurkku,S=1355,"
			    "W=1394") == 0);
		CHECK("extensions skipped, flags cut off",
		    ul.ents[1].uid == 2 &&
			strcmp(base_of(&ul, 1),
			    "1276528488.M1P1.kurkku,S=20") == 0);
		CHECK("uid 4", ul.ents[2].uid == 4);
		CHECK("uid 6 after the bad ones", ul.ents[3].uid == 6);
	}
	uidlist_free(&ul);
}

static void
test_v1_and_bad_headers(void)
{
	static const char v1[] = "1 1000 5\n"
				 "1 1.M1.host\n"
				 "3 3.M3.host:2,S\n";
	static const char *const bad[] = {
	    "",
	    "\n",
	    "2 1000 5\n",
	    "3 V0 N5\n",
	    "3 V5\n",
	    "3 N5 V\n",
	    "3 V99999999999 N5\n",
	    "1 1000\n",
	    "1 x 5\n",
	    "3 V1 N5",
	    "4 V1 N5\n",
	};
	struct uidlist ul;
	size_t i;
	int refused = 0;

	CHECK("v1 parses",
	    uidlist_parse(&ul, v1, strlen(v1)) == 0 && ul.uidvalidity == 1000 &&
		ul.uidnext == 5 && ul.nents == 2 && ul.ents[1].uid == 3 &&
		strcmp(base_of(&ul, 1), "3.M3.host") == 0);
	uidlist_free(&ul);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (uidlist_parse(&ul, bad[i], strlen(bad[i])) == -1)
			refused++;
		else
			printf("# taken: %s\n", bad[i]);
		uidlist_free(&ul);
	}
	CHECK("bad headers refused",
	    refused == (int)(sizeof(bad) / sizeof(bad[0])));
}

static void
test_keywords(void)
{
	static const char text[] = "0 $Junk\n"
				   "1 work\n"
				   "1 again\n"
				   "2 WORK\n"
				   "26 toofar\n"
				   "3 \\Seen\n"
				   "4 two words\n"
				   "5 \n"
				   "x name\n"
				   "007 padded\n"
				   "25 last";
	char dir[] = "/tmp/boxd-kw.XXXXXX", cmd[64];
	struct keywords kw, back;
	int fd, i, same = 1;

	keywords_parse(&kw, text, strlen(text));
	CHECK("keyword 0", kw.name[0] != NULL && !strcmp(kw.name[0], "$Junk"));
	CHECK("a letter used once",
	    kw.name[1] != NULL && !strcmp(kw.name[1], "work"));
	CHECK("a name used once, in any case", kw.name[2] == NULL);
	CHECK("bad names skipped",
	    kw.name[3] == NULL && kw.name[4] == NULL && kw.name[5] == NULL);
	CHECK("an unterminated last line is whole",
	    kw.name[25] != NULL && !strcmp(kw.name[25], "last"));
	CHECK("keyword names",
	    keyword_name_valid("$Forwarded") && !keyword_name_valid("") &&
		!keyword_name_valid("a(b") && !keyword_name_valid("\\Seen") &&
		!keyword_name_valid("caf\xc3\xa9"));

	if (mkdtemp(dir) == NULL ||
	    (fd = open(dir, O_RDONLY | O_DIRECTORY)) == -1) {
		CHECK("keywords dir", 0);
		keywords_free(&kw);
		return;
	}
	CHECK("written", keywords_write(fd, &kw) == 0);
	CHECK("read back", keywords_read(fd, &back) == 0);
	for (i = 0; i < KEYWORDS_MAX; i++)
		if ((kw.name[i] == NULL) != (back.name[i] == NULL) ||
		    (kw.name[i] != NULL && strcmp(kw.name[i], back.name[i])))
			same = 0;
	CHECK("the same", same);
	keywords_free(&back);
	keywords_free(&kw);
	close(fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int
main(void)
{
	test_v3();
	test_v1_and_bad_headers();
	test_keywords();
	TEST_EXIT();
}
