/*
 * common/maildir.c: the unique names mda gives messages, the ":2," info
 * with its flags, and Maildir++ folder directories, with the hostile
 * names a local program or an IMAP client could bring.
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "test.h"

static void
test_unique_name(void)
{
	char name[MAILDIR_NAME_MAX + 1], longhost[400], want[128];
	uint64_t msgid = 0x65a1b2c3deadbeefULL;
	size_t baselen;
	uint32_t flags;

	CHECK("unique name", maildir_unique_name(name, sizeof(name), msgid, 2,
				 "mx.example.test", 1234) == 0);
	snprintf(want, sizeof(want),
	    "%" PRIu64 ".Q65a1b2c3deadbeefR2.mx.example.test,S=1234",
	    msgid >> 32);
	CHECK("as earlier releases made it", strcmp(name, want) == 0);
	CHECK("is a valid name with no flags",
	    maildir_name_valid(name) &&
		maildir_name_parse(name, &baselen, &flags) == 0 &&
		baselen == strlen(name) && flags == 0);
	CHECK("another recipient, another name",
	    maildir_unique_name(want, sizeof(want), msgid, 3,
		"mx.example.test", 1234) == 0 &&
		strcmp(name, want) != 0);
	CHECK("/ and : in the host encoded",
	    maildir_unique_name(name, sizeof(name), msgid, 0, "a/b:c", 1) ==
		    0 &&
		strstr(name, ".a\\057b\\072c,") != NULL &&
		strchr(name, '/') == NULL && strchr(name, ':') == NULL);
	memset(longhost, 'h', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	CHECK("a long host is cut, the name stays valid",
	    maildir_unique_name(name, sizeof(name), msgid, 0, longhost, 1) ==
		    0 &&
		maildir_name_valid(name) && strlen(name) < 200);
	/* a UTF-8 host cut inside a character loses that character */
	memset(longhost, 'h', 122);
	memcpy(longhost + 122, "\xc3\xa9", 3);
	CHECK("a UTF-8 host cut cleanly",
	    maildir_unique_name(name, sizeof(name), msgid, 0, longhost, 1) ==
		    0 &&
		maildir_name_valid(name) && strstr(name, "\xc3") == NULL);
	CHECK("a UTF-8 host kept whole",
	    maildir_unique_name(name, sizeof(name), msgid, 0,
		"b\xc3\xbc" "cher.test", 1) == 0 &&
		strstr(name, ".b\xc3\xbc" "cher.test,") != NULL);
	CHECK("too small a buffer refused",
	    maildir_unique_name(name, 20, msgid, 0, "mx.test", 1) == -1);
	CHECK("the prefix: time, queue id, index, a dot",
	    maildir_unique_prefix(want, sizeof(want), msgid, 2) == 0 &&
		strcmp(want, "1705095875.Q65a1b2c3deadbeefR2.") == 0);
	CHECK("starts the unique name",
	    maildir_unique_name(name, sizeof(name), msgid, 2, "mx.test", 9) ==
		    0 &&
		maildir_name_has_prefix(name, want));
	CHECK("whatever the host and the size",
	    maildir_unique_name(name, sizeof(name), msgid, 2, "other.test",
		12345) == 0 &&
		maildir_name_has_prefix(name, want));
	CHECK("with the flags a reader added in cur/",
	    maildir_name_has_prefix(
		"1705095875.Q65a1b2c3deadbeefR2.mx.test,S=9:2,FS", want));
	CHECK("not another index that starts alike",
	    !maildir_name_has_prefix(
		"1705095875.Q65a1b2c3deadbeefR21.mx.test,S=9", want));
	CHECK("not another message",
	    !maildir_name_has_prefix(
		"1705095875.Q65a1b2c3deadbeeeR2.mx.test,S=9", want));
	CHECK("not the prefix cut short",
	    !maildir_name_has_prefix("1705095875.Q65a1b2c3deadbeefR2", want));
	CHECK("not an invalid name that starts alike",
	    !maildir_name_has_prefix(
		"1705095875.Q65a1b2c3deadbeefR2.x\n", want));
	CHECK("a prefix too long for the buffer refused",
	    maildir_unique_prefix(want, 20, msgid, 2) == -1);
	CHECK("a control character cuts the host short",
	    maildir_unique_name(name, sizeof(name), msgid, 0, "mx\ntest", 1) ==
		    0 &&
		maildir_name_valid(name) && strstr(name, ".mx,S=1") != NULL);
}

static void
test_flags(void)
{
	static const char *const bad[] = {"", ".hidden", ".", "..",
	    "a/b", "a:1,S", "a:2S", "a:2,s:2,S", "a:2,X", "a:2,S ",
	    "a:2,\xc3\xa9", ":2,S", "a\nb:2,S", "a\x7f", "\xff\xfe",
	    "a\xc3", "a:3,S", "a:2,S/", "a::2,S", NULL};
	char name[MAILDIR_NAME_MAX + 1], letters[40], over[300];
	size_t baselen, i;
	uint32_t flags;

	CHECK("info parsed", maildir_name_parse("1.Q1R0.mx:2,FS", &baselen,
				 &flags) == 0 &&
		baselen == strlen("1.Q1R0.mx") &&
		flags == (MAILDIR_FLAG_FLAGGED | MAILDIR_FLAG_SEEN));
	CHECK("empty info: no flags",
	    maildir_name_parse("1.x:2,", &baselen, &flags) == 0 &&
		flags == 0 && baselen == 3);
	CHECK("every standard flag",
	    maildir_name_parse("m:2,DFPRST", &baselen, &flags) == 0 &&
		flags == 0x3f);
	CHECK("keywords",
	    maildir_name_parse("m:2,Sacz", &baselen, &flags) == 0 &&
		flags == (MAILDIR_FLAG_SEEN | MAILDIR_FLAG_KEYWORD('a') |
			     MAILDIR_FLAG_KEYWORD('c') |
			     MAILDIR_FLAG_KEYWORD('z')));
	CHECK("any order, repeats",
	    maildir_name_parse("m:2,TSDSa", &baselen, &flags) == 0 &&
		flags == (MAILDIR_FLAG_TRASHED | MAILDIR_FLAG_SEEN |
			     MAILDIR_FLAG_DRAFT | MAILDIR_FLAG_KEYWORD('a')));
	CHECK("a name with UTF-8",
	    maildir_name_parse("b\xc3\xbc" "cher:2,S", &baselen, &flags) ==
		    0 &&
		baselen == 7);
	for (i = 0; bad[i] != NULL; i++) {
		snprintf(over, sizeof(over), "refused: name %zu", i);
		flags = 99;
		CHECK(over, maildir_name_parse(bad[i], &baselen, &flags) == -1 &&
			flags == 0);
	}
	memset(over, 'n', sizeof(over) - 1);
	over[sizeof(over) - 1] = '\0';
	CHECK("a name over 255 octets refused",
	    !maildir_name_valid(over) &&
		maildir_name_parse(over, &baselen, &flags) == -1);
	over[MAILDIR_NAME_MAX] = '\0';
	CHECK("255 octets accepted", maildir_name_valid(over));

	CHECK("build sorted",
	    maildir_flags_build(MAILDIR_FLAG_SEEN | MAILDIR_FLAG_DRAFT |
		    MAILDIR_FLAG_KEYWORD('b') | MAILDIR_FLAG_REPLIED,
		letters, sizeof(letters)) == 0 &&
		strcmp(letters, "DRSb") == 0);
	CHECK("build all", maildir_flags_build(UINT32_MAX, letters,
			       sizeof(letters)) == 0 &&
		strcmp(letters, "DFPRSTabcdefghijklmnopqrstuvwxyz") == 0);
	CHECK("build none", maildir_flags_build(0, letters, 1) == 0 &&
		letters[0] == '\0');
	CHECK("build too small", maildir_flags_build(0x3f, letters, 6) == -1);
	CHECK("name built",
	    maildir_name_build(name, sizeof(name), "1.Q1R0.mx:2,T", 9,
		MAILDIR_FLAG_SEEN | MAILDIR_FLAG_FLAGGED) == 0 &&
		strcmp(name, "1.Q1R0.mx:2,FS") == 0);
	CHECK("name built without flags",
	    maildir_name_build(name, sizeof(name), "base", 4, 0) == 0 &&
		strcmp(name, "base:2,") == 0);
	CHECK("a base with ':' refused",
	    maildir_name_build(name, sizeof(name), "a:b", 3, 0) == -1);
	CHECK("a base with '/' refused",
	    maildir_name_build(name, sizeof(name), "a/b", 3, 0) == -1);
	CHECK("a hidden base refused",
	    maildir_name_build(name, sizeof(name), ".a", 2, 0) == -1);
	CHECK("an empty base refused",
	    maildir_name_build(name, sizeof(name), "", 0, 0) == -1);
	CHECK("a base that no longer fits with its flags refused",
	    maildir_name_build(name, sizeof(name), over, 250, 0x3f) == -1);
	CHECK("a small buffer refused",
	    maildir_name_build(name, 8, "base", 4, 0x3f) == -1);
	/* parse and build are each other's inverse */
	CHECK("round trip",
	    maildir_name_parse("x.y.z:2,aSFb", &baselen, &flags) == 0 &&
		maildir_name_build(name, sizeof(name), "x.y.z:2,aSFb", baselen,
		    flags) == 0 &&
		strcmp(name, "x.y.z:2,FSab") == 0);
}

static void
test_folders(void)
{
	static const char *const bad_folders[] = {"", ".", "..", ".Sent",
	    "Sent.", "a..b", "a/b", "../x", "a\nb", "a\tb", "a\x7f",
	    "\xc3", "a\xff", NULL};
	static const char *const bad_dirs[] = {"", "..", "Sent", "cur", "new",
	    "tmp", "..Sent", ".Sent.", ".a..b", ".a/b", ".INBOX", ".inbox",
	    "./", ".\n", NULL};
	char dir[MAILDIR_NAME_MAX + 1], folder[MAILDIR_NAME_MAX + 1];
	char name[300], longf[300];
	size_t i;

	CHECK("INBOX is the root",
	    maildir_folder_dir("INBOX", dir, sizeof(dir)) == 0 &&
		strcmp(dir, ".") == 0);
	CHECK("inbox in any case",
	    maildir_folder_dir("iNbOx", dir, sizeof(dir)) == 0 &&
		strcmp(dir, ".") == 0);
	CHECK("a folder", maildir_folder_dir("Sent", dir, sizeof(dir)) == 0 &&
		strcmp(dir, ".Sent") == 0);
	CHECK("a hierarchy",
	    maildir_folder_dir("Work.Projects.2026", dir, sizeof(dir)) == 0 &&
		strcmp(dir, ".Work.Projects.2026") == 0);
	CHECK("under INBOX",
	    maildir_folder_dir("INBOX.Sub", dir, sizeof(dir)) == 0 &&
		strcmp(dir, ".INBOX.Sub") == 0);
	CHECK("modified UTF-7 and UTF-8 kept",
	    maildir_folder_dir("Entw&APw-rfe", dir, sizeof(dir)) == 0 &&
		maildir_folder_dir("Entw\xc3\xbcrfe", dir, sizeof(dir)) == 0 &&
		strcmp(dir, ".Entw\xc3\xbcrfe") == 0);
	CHECK("back: root", maildir_dir_folder(".", folder, sizeof(folder)) ==
			0 &&
		strcmp(folder, "INBOX") == 0);
	CHECK("back: a hierarchy",
	    maildir_dir_folder(".Work.Projects", folder, sizeof(folder)) ==
		    0 &&
		strcmp(folder, "Work.Projects") == 0);
	CHECK("back: under INBOX",
	    maildir_dir_folder(".INBOX.Sub", folder, sizeof(folder)) == 0 &&
		strcmp(folder, "INBOX.Sub") == 0);
	for (i = 0; bad_folders[i] != NULL; i++) {
		snprintf(name, sizeof(name), "folder refused: %zu", i);
		CHECK(name, maildir_folder_dir(bad_folders[i], dir,
				sizeof(dir)) == -1);
	}
	for (i = 0; bad_dirs[i] != NULL; i++) {
		snprintf(name, sizeof(name), "directory refused: %zu", i);
		CHECK(name, maildir_dir_folder(bad_dirs[i], folder,
				sizeof(folder)) == -1);
	}
	memset(longf, 'f', sizeof(longf) - 1);
	longf[sizeof(longf) - 1] = '\0';
	longf[MAILDIR_NAME_MAX - 1] = '\0';
	CHECK("the longest folder fits a directory name",
	    maildir_folder_dir(longf, dir, sizeof(dir)) == 0 &&
		strlen(dir) == MAILDIR_NAME_MAX);
	longf[MAILDIR_NAME_MAX - 1] = 'f';
	longf[MAILDIR_NAME_MAX] = '\0';
	CHECK("one octet more refused",
	    maildir_folder_dir(longf, dir, sizeof(dir)) == -1);
	CHECK("a small buffer refused",
	    maildir_folder_dir("Sent", dir, 5) == -1 &&
		maildir_dir_folder(".", folder, 5) == -1);
}

int
main(void)
{
	test_unique_name();
	test_flags();
	test_folders();
	TEST_EXIT();
}
