"""SEARCH, SORT and THREAD with Python's imaplib against a real boxd: every
search key on a small crafted mailbox (encoded-word subjects, ISO-8859-1
and UTF-8 bodies, base64 parts, dates), ESEARCH's RETURN, SAVE and $,
SORT orders, THREAD on a crafted thread, BADCHARSET, hostile programs,
and a search over more messages than one slice of work reads."""

import imaplib
import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from boxdtest import Boxd  # noqa: E402
from test_imap import BOB, PASSWORD, tls_context  # noqa: E402


# (flags, internal date, message): the crafted mailbox, seqs 1 to 6
MESSAGES = [
    ("\\Seen", '"01-Jun-2020 10:00:00 +0000"',
     "From: =?ISO-8859-1?Q?Andr=E9_Ala?= <andre@alpha.test>\r\n"
     "To: Bob <bob@example.org>\r\n"
     "Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me?=\r\n"
     "Date: Mon, 1 Jun 2020 10:00:00 +0000\r\n"
     "Message-ID: <one@alpha.test>\r\n"
     "MIME-Version: 1.0\r\n"
     "Content-Type: text/plain; charset=ISO-8859-1\r\n"
     "Content-Transfer-Encoding: quoted-printable\r\n"
     "\r\n"
     "Gr=FC=DFe aus K=F6ln\r\n"),
    ("\\Flagged $Label1", '"15-Mar-2021 08:30:00 +0000"',
     "From: Zoe Zed <zoe@zulu.test>\r\n"
     "To: bob@example.org\r\n"
     "Subject: =?UTF-8?B?0J/RgNC40LLQtdGCINC80LjRgA==?=\r\n"
     "Date: Mon, 15 Mar 2021 08:30:00 +0100\r\n"
     "Message-ID: <two@zulu.test>\r\n"
     "MIME-Version: 1.0\r\n"
     "Content-Type: text/plain; charset=UTF-8\r\n"
     "Content-Transfer-Encoding: 8bit\r\n"
     "\r\n"
     "\u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439, "
     "\u043c\u0438\u0440\r\n"),
    ("\\Answered \\Deleted", '"20-Jul-2022 12:00:00 +0000"',
     "From: Carl <carl@charlie.test>\r\n"
     "To: bob@example.org\r\n"
     "Cc: Dora <dora@delta.test>\r\n"
     "Bcc: eve@echo.test\r\n"
     "Subject: attachments\r\n"
     "Date: Wed, 20 Jul 2022 12:00:00 +0000\r\n"
     "Message-ID: <three@charlie.test>\r\n"
     "X-Tracking: blue-42\r\n"
     "MIME-Version: 1.0\r\n"
     "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
     "\r\n"
     "--b1\r\n"
     "Content-Type: text/plain; charset=us-ascii\r\n"
     "\r\n"
     "see the attachment\r\n"
     "--b1\r\n"
     "Content-Type: text/plain; charset=utf-8\r\n"
     "Content-Transfer-Encoding: base64\r\n"
     "\r\n"
     "c2VjcmV0d29yZCBpbnNpZGUgYmFzZTY0\r\n"
     "--b1--\r\n"),
    ("\\Draft", '"02-Jun-2020 09:00:00 +0000"',
     "From: Bob <bob@example.org>\r\n"
     "To: =?ISO-8859-1?Q?Andr=E9_Ala?= <andre@alpha.test>\r\n"
     "Subject: Re: =?ISO-8859-1?Q?Caf=E9_cr=E8me?=\r\n"
     "Date: Tue, 2 Jun 2020 09:00:00 +0000\r\n"
     "Message-ID: <four@example.org>\r\n"
     "In-Reply-To: <one@alpha.test>\r\n"
     "References: <one@alpha.test>\r\n"
     "\r\n"
     "Thanks!\r\n"),
    ("", '"03-Jun-2020 09:00:00 +0000"',
     "From: Andre <andre@alpha.test>\r\n"
     "To: Bob <bob@example.org>\r\n"
     "Subject: Re: Re: Caf\u00e9 cr\u00e8me\r\n"
     "Date: Wed, 3 Jun 2020 09:00:00 +0000\r\n"
     "Message-ID: <five@alpha.test>\r\n"
     "In-Reply-To: <four@example.org>\r\n"
     "References: <one@alpha.test> <four@example.org>\r\n"
     "\r\n"
     "You are welcome\r\n"),
    ("", '"10-Jan-2023 00:00:00 +0000"',
     "From: yann@yankee.test\r\n"
     "To: bob@example.org\r\n"
     "Subject: big one\r\n"
     "Message-ID: <six@yankee.test>\r\n"
     "\r\n" + "filler line of text\r\n" * 400),
]


class SearchCase(unittest.TestCase):
    def setUp(self):
        self.b = Boxd(imap=True)
        self.b.start()
        self.b.boxctl("domain", "add", "example.org")
        self.b.add_user(BOB, PASSWORD)
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.shutdown()
            except Exception:
                pass
        self.b.stop()
        self.b.cleanup()

    def connect(self):
        m = imaplib.IMAP4("127.0.0.1", self.b.imap_ports["imap"],
                          timeout=60)
        self.clients.append(m)
        m.starttls(tls_context())
        m.login(BOB, PASSWORD)
        return m

    def fill(self, m, folder="INBOX"):
        for flags, date, text in MESSAGES:
            typ, _ = m.append(folder, "(%s)" % flags if flags else None,
                              date, text.encode("utf-8"))
            self.assertEqual(typ, "OK")

    def mailbox(self):
        m = self.connect()
        self.fill(m)
        self.assertEqual(m.select("INBOX")[0], "OK")
        return m

    def search(self, m, *keys, uid=False, literal=None):
        """The numbers a SEARCH returns, as ints."""
        m.literal = literal
        if uid:
            typ, data = m.uid("SEARCH", *keys)
        else:
            typ, data = m.search(None, *keys)
        self.assertEqual(typ, "OK", (keys, data))
        return [int(x) for x in data[0].split()]

    def esearch(self, m, *args):
        typ, data = m._simple_command(*args)
        self.assertEqual(typ, "OK", (args, data))
        typ, data = m._untagged_response(typ, data, "ESEARCH")
        return data

    def tagged(self, m, *args):
        """typ and the tagged text, without imaplib raising on BAD."""
        try:
            typ, data = m._simple_command(*args)
        except m.error as e:
            return "BAD", str(e)
        return typ, b" ".join(d for d in data if isinstance(d, bytes))


class Keys(SearchCase):
    def test_flags_and_sets(self):
        m = self.mailbox()
        s = lambda *k: self.search(m, *k)  # noqa: E731
        self.assertEqual(s("ALL"), [1, 2, 3, 4, 5, 6])
        self.assertEqual(s("SEEN"), [1])
        self.assertEqual(s("UNSEEN"), [2, 3, 4, 5, 6])
        self.assertEqual(s("FLAGGED"), [2])
        self.assertEqual(s("UNFLAGGED"), [1, 3, 4, 5, 6])
        self.assertEqual(s("ANSWERED"), [3])
        self.assertEqual(s("UNANSWERED"), [1, 2, 4, 5, 6])
        self.assertEqual(s("DELETED"), [3])
        self.assertEqual(s("UNDELETED"), [1, 2, 4, 5, 6])
        self.assertEqual(s("DRAFT"), [4])
        self.assertEqual(s("UNDRAFT"), [1, 2, 3, 5, 6])
        self.assertEqual(s("KEYWORD", "$Label1"), [2])
        self.assertEqual(s("KEYWORD", "$label1"), [2])
        self.assertEqual(s("UNKEYWORD", "$Label1"), [1, 3, 4, 5, 6])
        self.assertEqual(s("KEYWORD", "$Unknown"), [])
        # APPENDed messages are recent to the session that selects first
        self.assertEqual(s("RECENT"), [1, 2, 3, 4, 5, 6])
        self.assertEqual(s("NEW"), [2, 3, 4, 5, 6])
        self.assertEqual(s("OLD"), [])
        self.assertEqual(s("2:4"), [2, 3, 4])
        self.assertEqual(s("5:*"), [5, 6])
        self.assertEqual(s("*"), [6])
        self.assertEqual(s("1,3,99"), [1, 3])
        self.assertEqual(s("UID", "2:3"), [2, 3])
        self.assertEqual(s("UID", "*"), [6])
        self.assertEqual(self.search(m, "SEEN", uid=True), [1])
        self.assertEqual(s("NOT", "SEEN"), [2, 3, 4, 5, 6])
        self.assertEqual(s("OR", "SEEN", "FLAGGED"), [1, 2])
        self.assertEqual(s("(OR SEEN FLAGGED)", "NOT", "1"), [2])
        self.assertEqual(s("OR", "(SEEN FLAGGED)", "DRAFT"), [4])

    def test_sizes_and_dates(self):
        m = self.mailbox()
        s = lambda *k: self.search(m, *k)  # noqa: E731
        self.assertEqual(s("LARGER", "5000"), [6])
        self.assertEqual(s("SMALLER", "5000"), [1, 2, 3, 4, 5])
        self.assertEqual(s("BEFORE", "2-Jun-2020"), [1])
        self.assertEqual(s("ON", "2-Jun-2020"), [4])
        self.assertEqual(s("SINCE", "15-Mar-2021"), [2, 3, 6])
        self.assertEqual(s("SINCE", "1-Jan-2022", "BEFORE", "1-Jan-2023"),
                         [3])
        self.assertEqual(s("SENTBEFORE", "2-Jun-2020"), [1])
        self.assertEqual(s("SENTON", "15-Mar-2021"), [2])
        self.assertEqual(s("SENTSINCE", "20-Jul-2022"), [3])
        # no Date: field, so no sent date to compare
        self.assertNotIn(6, s("SENTSINCE", "1-Jan-1970"))
        self.assertEqual(s("OLDER", "1"), [1, 2, 3, 4, 5, 6])
        self.assertEqual(s("YOUNGER", "60"), [])
        typ, why = self.tagged(m, "SEARCH", "BEFORE", "31-Feb-2020")
        self.assertEqual(typ, "BAD")

    def test_text_keys(self):
        m = self.mailbox()
        s = lambda *k, **kw: self.search(m, *k, **kw)  # noqa: E731
        self.assertEqual(s("SUBJECT", "cAfE"), [])
        self.assertEqual(s("SUBJECT", "CR"), [1, 4, 5])
        self.assertEqual(s("SUBJECT", "re:"), [4, 5])
        self.assertEqual(s("CHARSET", "UTF-8", "SUBJECT",
                           literal="CAF\u00c9".encode()), [1, 4, 5])
        self.assertEqual(s("CHARSET", "UTF-8", "SUBJECT",
                           literal="\u043f\u0440\u0418\u0432".encode()),
                         [2])
        self.assertEqual(s("FROM", "alpha.test"), [1, 5])
        self.assertEqual(s("CHARSET", "UTF-8", "FROM",
                           literal="ANDR\u00c9".encode()), [1])
        self.assertEqual(s("TO", "andre@"), [4])
        self.assertEqual(s("CC", "dora"), [3])
        self.assertEqual(s("BCC", "echo.test"), [3])
        self.assertEqual(s("HEADER", "X-Tracking", "BLUE"), [3])
        self.assertEqual(s("HEADER", "X-Tracking", '""'), [3])
        self.assertEqual(s("HEADER", "Message-ID", "alpha"), [1, 5])
        self.assertEqual(s("HEADER", "references", "one@"), [4, 5])
        # bodies: quoted-printable Latin-1, 8-bit UTF-8, base64
        self.assertEqual(s("CHARSET", "UTF-8", "BODY",
                           literal="GR\u00dc\u00dfE".encode()), [1])
        self.assertEqual(s("CHARSET", "UTF-8", "BODY",
                           literal="\u043c\u0438\u0440".encode()), [2])
        self.assertEqual(s("CHARSET", "KOI8-R", "BODY",
                           literal="\u041c\u0418\u0420".encode("koi8-r")),
                         [2])
        self.assertEqual(s("CHARSET", "windows-1252", "TEXT",
                           literal="k\u00f6ln".encode("cp1252")), [1])
        self.assertEqual(s("BODY", "secretword"), [3])
        self.assertEqual(s("BODY", "attachment"), [3])
        # BODY leaves the header out, TEXT does not
        self.assertEqual(s("BODY", "X-Tracking"), [])
        self.assertEqual(s("TEXT", "blue-42"), [3])
        self.assertEqual(s("TEXT", "welcome"), [5])
        self.assertEqual(s("TEXT", '"filler LINE"'), [6])
        self.assertEqual(s("TEXT", "nowhere-at-all"), [])
        # a second pass is answered from the cache, the same way
        self.assertEqual(s("SUBJECT", "CR"), [1, 4, 5])
        self.assertEqual(s("SUBJECT", "CR", uid=True), [1, 4, 5])

    def test_long_and_odd_headers(self):
        m = self.connect()
        long_subject = "word " * 600 + "needle-at-the-end"
        odd = [
            # a value past what is cached: read again from the file
            "From: %s <long@l.test>\r\nSubject: %s\r\n"
            "References: %s\r\n\r\nbody\r\n" %
            ("N" * 2000, long_subject,
             " ".join("<r%d@l.test>" % i for i in range(300))),
            # an encoded NUL, a group, no host, folded lines
            "From: undisclosed-recipients:;\r\n"
            "To: =?utf-8?q?a=00b?= <x@y.test>\r\n"
            "Subject: =?utf-8?q?nul=00inside?=\r\n"
            "Cc: nohost\r\n"
            "X-Folded: first\r\n second\r\n\r\nbody\r\n",
            # no header at all, and bare line ends
            "\r\njust a body\r\n",
            "Subject: bare\nFrom: b@bare.test\n\nlf only body\n",
            # one field over and over
            "".join("Subject: s%d\r\n" % i for i in range(20)) +
            "\r\nbody\r\n",
        ]
        for text in odd:
            self.assertEqual(m.append("INBOX", None, None,
                                      text.encode())[0], "OK")
        m.select("INBOX")
        s = lambda *k: self.search(m, *k)  # noqa: E731
        for _ in range(2):
            self.assertEqual(s("SUBJECT", "needle-at-the-end"), [1])
            self.assertEqual(s("FROM", "NNNN"), [1])
            self.assertEqual(s("HEADER", "References", "r299@"), [1])
            self.assertEqual(s("SUBJECT", "inside"), [2])
            self.assertEqual(s("HEADER", "X-Folded", '"first second"'),
                             [2])
            self.assertEqual(s("TEXT", '"just a body"'), [3])
            self.assertEqual(s("SUBJECT", "bare"), [4])
            self.assertEqual(s("BODY", '"lf only"'), [4])
            self.assertEqual(s("FROM", "bare.test"), [4])
            self.assertEqual(s("SUBJECT", "s17"), [5])
            self.assertEqual(s("SUBJECT", "s3"), [5])
        typ, data = m.sort("(FROM)", "UTF-8", "ALL")
        self.assertEqual(typ, "OK")
        self.assertEqual(sorted(int(x) for x in data[0].split()),
                         [1, 2, 3, 4, 5])
        for crit in ("(DISPLAYFROM)", "(TO)", "(CC)", "(SUBJECT)",
                     "(DATE)"):
            typ, data = m.sort(crit, "UTF-8", "ALL")
            self.assertEqual(typ, "OK")
        typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
        self.assertEqual(typ, "OK")

    def test_modseq(self):
        m = self.mailbox()
        typ, data = m.search(None, "MODSEQ", "1")
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0], rb"^1 2 3 4 5 6 \(MODSEQ \d+\)$")
        m.store("2", "+FLAGS", "(\\Seen)")
        top = int(re.search(rb"MODSEQ (\d+)", data[0]).group(1))
        typ, data = m.search(None, "MODSEQ", str(top + 1))
        self.assertRegex(data[0], rb"^2 \(MODSEQ \d+\)$")
        typ, data = m.search(None, "MODSEQ", str(2**62))
        self.assertIn(data[0], (b"", None))


class Esearch(SearchCase):
    def test_return_options(self):
        m = self.mailbox()
        data = self.esearch(m, "SEARCH", "RETURN", "(MIN MAX COUNT ALL)",
                            "UNSEEN")
        self.assertRegex(data[0], rb'^\(TAG "[A-Z0-9]+"\) MIN 2 MAX 6 '
                         rb'COUNT 5 ALL 2:6$')
        data = self.esearch(m, "UID", "SEARCH", "RETURN", "(COUNT)",
                            "SEEN")
        self.assertRegex(data[0], rb'^\(TAG "\w+"\) UID COUNT 1$')
        data = self.esearch(m, "SEARCH", "RETURN", "()", "OR", "1", "3")
        self.assertRegex(data[0], rb'^\(TAG "\w+"\) ALL 1,3$')
        data = self.esearch(m, "SEARCH", "RETURN", "(MIN MAX)",
                            "SUBJECT", "nothing-matches")
        self.assertRegex(data[0], rb'^\(TAG "\w+"\)$')
        data = self.esearch(m, "SEARCH", "RETURN", "(COUNT)",
                            "SUBJECT", "nothing-matches")
        self.assertRegex(data[0], rb'^\(TAG "\w+"\) COUNT 0$')
        data = self.esearch(m, "SEARCH", "RETURN", "(MAX)", "MODSEQ", "1")
        self.assertRegex(data[0], rb'^\(TAG "\w+"\) MAX 6 MODSEQ \d+$')

    def test_save_and_dollar(self):
        m = self.mailbox()
        # SAVE alone: no ESEARCH at all
        typ, data = m._simple_command("SEARCH", "RETURN", "(SAVE)",
                                      "FROM", "alpha.test")
        self.assertEqual(typ, "OK")
        self.assertNotIn("ESEARCH", m.untagged_responses)
        self.assertEqual(self.search(m, "$"), [1, 5])
        self.assertEqual(self.search(m, "$", "SEEN"), [1])
        self.assertEqual(self.search(m, "NOT", "$"), [2, 3, 4, 6])
        self.assertEqual(self.search(m, "UID", "$"), [1, 5])
        typ, data = m.fetch("$", "(UID)")
        self.assertEqual(len([d for d in data if d]), 2)
        # MIN and MAX with SAVE save only those
        self.esearch(m, "SEARCH", "RETURN", "(SAVE MIN MAX)", "UNSEEN")
        self.assertEqual(self.search(m, "$"), [2, 6])
        # a failed SAVE empties the result
        typ, why = self.tagged(m, "SEARCH", "RETURN", "(SAVE)", "BOGUS")
        self.assertEqual(typ, "BAD")
        self.assertEqual(self.search(m, "$"), [])
        # expunged messages leave the saved result
        self.esearch(m, "SEARCH", "RETURN", "(SAVE ALL)", "OR", "3", "4")
        m.expunge()
        self.assertEqual(self.search(m, "$"), [3])

    def test_imap4rev2_answers_esearch(self):
        m = self.connect()
        self.fill(m)
        typ, _ = m._simple_command("ENABLE", "IMAP4rev2")
        self.assertEqual(typ, "OK")
        m.select("INBOX")
        data = self.esearch(m, "SEARCH", "FLAGGED")
        self.assertRegex(data[0], rb'^\(TAG "\w+"\) ALL 2$')
        data = self.esearch(m, "UID", "SEARCH", "SUBJECT", "nothing")
        self.assertRegex(data[0], rb'^\(TAG "\w+"\) UID$')


class TwoSessions(SearchCase):
    def test_expunged_elsewhere(self):
        m = self.mailbox()
        other = self.connect()
        other.select("INBOX")
        self.assertEqual(other.expunge()[0], "OK")
        # the numbers stay until the session hears of the expunge, which
        # SEARCH by sequence numbers does not tell
        self.assertEqual(self.search(m, "ALL"), [1, 2, 4, 5, 6])
        self.assertNotIn("EXPUNGE", m.untagged_responses)
        self.assertEqual(self.search(m, "5:*"), [5, 6])
        m.noop()
        self.assertEqual(m.untagged_responses.pop("EXPUNGE"), [b"3"])
        self.assertEqual(self.search(m, "ALL"), [1, 2, 3, 4, 5])
        self.assertEqual(self.search(m, "ALL", uid=True), [1, 2, 4, 5, 6])
        # flags another session sets are searched at once
        other.store("1", "+FLAGS", "(\\Flagged)")
        self.assertEqual(self.search(m, "FLAGGED"), [1, 2])

    def test_same_folder_shares_the_cache(self):
        m = self.mailbox()
        other = self.connect()
        other.select("INBOX")
        self.assertEqual(self.search(m, "SUBJECT", "CR"), [1, 4, 5])
        self.assertEqual(self.search(other, "SUBJECT", "CR"), [1, 4, 5])
        # another folder's messages have UIDs of their own
        other.create("Other")
        other.append("Other", None, None, MESSAGES[1][2].encode())
        other.select("Other")
        self.assertEqual(self.search(other, "SUBJECT", "CR"), [])
        self.assertEqual(self.search(other, "FROM", "zoe"), [1])


class SortThread(SearchCase):
    def sort(self, m, crit, *keys, uid=False):
        if uid:
            typ, data = m.uid("SORT", crit, "UTF-8", *keys)
        else:
            typ, data = m.sort(crit, "UTF-8", *keys)
        self.assertEqual(typ, "OK", data)
        return [int(x) for x in data[0].split()]

    def test_sort_orders(self):
        m = self.mailbox()
        self.assertEqual(self.sort(m, "(ARRIVAL)", "ALL"),
                         [1, 4, 5, 2, 3, 6])
        self.assertEqual(self.sort(m, "(REVERSE ARRIVAL)", "ALL"),
                         [6, 3, 2, 5, 4, 1])
        # message 6 has no Date: its arrival stands in
        self.assertEqual(self.sort(m, "(DATE)", "ALL"), [1, 4, 5, 2, 3, 6])
        self.assertEqual(self.sort(m, "(SIZE)", "ALL")[-1], 6)
        # base subjects: attachments, big one, café crème x3, привет мир
        self.assertEqual(self.sort(m, "(SUBJECT)", "ALL"),
                         [3, 6, 1, 4, 5, 2])
        self.assertEqual(self.sort(m, "(FROM)", "ALL"), [1, 5, 4, 3, 6, 2])
        # "andre" before "andré ala"
        self.assertEqual(self.sort(m, "(DISPLAYFROM)", "ALL"),
                         [5, 1, 4, 3, 6, 2])
        self.assertEqual(self.sort(m, "(CC DATE)", "ALL"),
                         [1, 4, 5, 2, 6, 3])
        self.assertEqual(self.sort(m, "(TO)", "NOT", "DRAFT"),
                         [1, 2, 3, 5, 6])
        self.assertEqual(self.sort(m, "(SUBJECT)", "ALL", uid=True),
                         [3, 6, 1, 4, 5, 2])
        typ, why = self.tagged(m, "SORT", "(NOSUCHKEY)", "UTF-8", "ALL")
        self.assertEqual(typ, "BAD")
        typ, why = self.tagged(m, "SORT", "(DATE)", "X-NO-SUCH", "ALL")
        self.assertEqual(typ, "NO")
        self.assertIn(b"BADCHARSET", why)

    def test_thread(self):
        m = self.mailbox()
        typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
        self.assertEqual(typ, "OK")
        self.assertEqual(data[0], b"(1 4 5)(2)(3)(6)")
        # the first of a subject is the parent of the others
        typ, data = m.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
        self.assertEqual(typ, "OK")
        self.assertEqual(data[0], b"(1 (4)(5))(2)(3)(6)")
        typ, data = m.uid("THREAD", "REFERENCES", "UTF-8", "NOT", "4")
        self.assertEqual(typ, "OK")
        self.assertEqual(data[0], b"(1 5)(2)(3)(6)")
        typ, data = m.thread("REFERENCES", "UTF-8", "SUBJECT", "nothing")
        self.assertEqual(typ, "OK")
        self.assertIn(data[0], (b"", None))
        typ, why = self.tagged(m, "THREAD", "NOSUCH", "UTF-8", "ALL")
        self.assertEqual(typ, "BAD")


class Hostile(SearchCase):
    def test_bad_programs_leave_the_session_working(self):
        m = self.mailbox()
        for args in (("CHARSET", "X-NO-SUCH", "ALL"),):
            typ, why = self.tagged(m, "SEARCH", *args)
            self.assertEqual(typ, "NO")
            self.assertIn(b"[BADCHARSET", why)
        bad = [
            ("SEEN " * 10000).split(),
            ("SEEN " * 2000).split(),
            ["NOT"] * 200 + ["ALL"],
            ["OR"] * 60 + ["ALL"] * 61,
            ["(" * 40 + "ALL" + ")" * 40],
            ["(" * 20 + "ALL" + ")" * 20] * 60,
            ["BOGUS"],
            ["SUBJECT"],
            ["LARGER", "-1"],
            ["UID", "1:2:3"],
            ["()"],
            ["SUBJECT", "x" * 5000],
            ["HEADER", "Bad:Name", "x"],
        ]
        for args in bad:
            typ, why = self.tagged(m, "SEARCH", *args)
            self.assertEqual(typ, "BAD", args[:3])
            self.assertEqual(m.noop()[0], "OK")
        self.assertEqual(self.search(m, "SEEN"), [1])

    def test_raw_client(self):
        self.mailbox()
        s = socket.create_connection(
            ("127.0.0.1", self.b.imap_ports["imaps"]), timeout=20)
        s = tls_context().wrap_socket(s)
        f = s.makefile("rb")
        f.readline()

        def cmd(text):
            s.sendall(text)
            tag = text.split(b" ", 1)[0]
            lines = []
            while True:
                line = f.readline()
                self.assertTrue(line)
                lines.append(line)
                if line.startswith(tag + b" "):
                    return lines
        self.assertTrue(cmd(("a LOGIN %s \"%s\"\r\n" % (BOB, PASSWORD))
                            .encode())[-1].startswith(b"a OK"))
        self.assertTrue(cmd(b"b SELECT INBOX\r\n")[-1]
                        .startswith(b"b OK"))
        # a literal search string in ISO-8859-1 is no UTF-8: no match
        out = cmd(b"c SEARCH CHARSET US-ASCII SUBJECT {4+}\r\ncaf\xe9\r\n")
        self.assertEqual(out[0], b"* SEARCH\r\n")
        self.assertTrue(out[-1].startswith(b"c OK"))
        # ... unless it says so
        out = cmd(b"c2 SEARCH CHARSET ISO-8859-1 SUBJECT {4+}\r\n"
                  b"CAF\xc9\r\n")
        self.assertEqual(out[0], b"* SEARCH 1 4 5\r\n")
        out = cmd(b"c3 SORT (SUBJECT) ISO-8859-1 FROM {5+}\r\n"
                  b"ANDR\xc9\r\n")
        self.assertEqual(out[0], b"* SORT 1\r\n")
        out = cmd(b"d UID SEARCH RETURN (MIN) UID 1:* SEEN\r\n")
        self.assertRegex(out[0], rb'^\* ESEARCH \(TAG "d"\) UID MIN 1\r\n')
        out = cmd(b"e SEARCH\r\n")
        self.assertTrue(out[-1].startswith(b"e BAD"))
        out = cmd(b"f SORT (SUBJECT) UTF-8\r\n")
        self.assertTrue(out[-1].startswith(b"f BAD"))
        s.close()


class Large(SearchCase):
    """More messages than one slice of work reads: the search goes on in
    turns, and another session is answered in between."""

    COUNT = 3000

    def test_sliced_search(self):
        m = self.connect()
        cur = os.path.join(self.b.maildir(BOB), "cur")
        for i in range(1, self.COUNT + 1):
            subject = "needle %d" % i if i % 100 == 0 else "hay %d" % i
            body = ("line %d of some text\r\n" % i) * 40
            if i % 250 == 0:
                body += "golden-ticket\r\n"
            name = "%d.M%dP1.test:2," % (1600000000 + i, i)
            with open(os.path.join(cur, name), "wb") as fp:
                fp.write(("From: s%d@sender.test\r\nTo: %s\r\n"
                          "Subject: %s\r\nMessage-ID: <m%d@sender.test>\r\n"
                          "\r\n%s" % (i, BOB, subject, i, body)).encode())
        typ, data = m.select("INBOX")
        self.assertEqual(int(data[0]), self.COUNT)
        other = self.connect()
        other.select("INBOX")
        answered = []

        def ping():
            while not done.is_set():
                t = time.time()
                other.noop()
                answered.append(time.time() - t)
        done = threading.Event()
        th = threading.Thread(target=ping)
        th.start()
        try:
            found = self.search(m, "TEXT", "golden-ticket")
            needles = self.search(m, "SUBJECT", "needle")
            typ, data = m.sort("(REVERSE SUBJECT)", "UTF-8", "SUBJECT",
                               "needle")
            self.assertEqual(typ, "OK")
        finally:
            done.set()
            th.join()
        self.assertEqual(len(found), self.COUNT // 250)
        self.assertEqual(len(needles), self.COUNT // 100)
        typ, rows = m.fetch(",".join(map(str, found)), "(BODY.PEEK[TEXT])")
        self.assertEqual(len([r for r in rows if isinstance(r, tuple) and
                              b"golden-ticket" in r[1]]), len(found))
        typ, rows = m.fetch(",".join(map(str, needles)),
                            "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertEqual(len([r for r in rows if isinstance(r, tuple) and
                              b"needle" in r[1]]), len(needles))
        self.assertEqual(len(data[0].split()), self.COUNT // 100)
        self.assertTrue(answered)
        # warm: the subjects come from the cache
        self.assertEqual(len(self.search(m, "SUBJECT", "needle", uid=True)),
                         self.COUNT // 100)


if __name__ == "__main__":
    unittest.main()
