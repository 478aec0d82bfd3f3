"""FETCH and STORE against a running boxd with imaplib: every data item
on messages APPENDed, body sections and partials, PEEK against \\Seen,
BINARY of encoded parts, CONDSTORE and QRESYNC, STORE in all its forms,
a 5 MB message whole and in pieces, and FETCH 1:* of 2,000 messages to a
client that reads slowly while the imap process must not buffer it."""

import base64
import imaplib
import os
import re
import socket
import ssl
import time
import unittest

from boxdtest import Boxd, memory_as_released
import test_smtp as t

USER = "fetch@example.test"
PASSWORD = "correct horse battery"

# a part's body ends before the CRLF of the next boundary line
TEXT_PART = "Gr=C3=BC=C3=9Fe aus K=C3=B6ln,\r\nzweite Zeile=\r\n fortgesetzt"
TEXT_DECODED = "Grüße aus Köln,\r\nzweite Zeile fortgesetzt".encode()
BLOB = bytes(range(256)) * 4  # holds NULs: BINARY answers with literal8
HEADER = (b"From: Alice Example <alice@example.test>\r\n"
          b"To: Bob <bob@example.test>, carol@example.test\r\n"
          b"Subject: Fetch me\r\n"
          b"Date: Mon, 07 Dec 2026 10:00:00 +0100\r\n"
          b"Message-ID: <fetch-1@example.test>\r\n"
          b"X-Extra: one\r\n"
          b"MIME-Version: 1.0\r\n"
          b'Content-Type: multipart/mixed; boundary="b1"\r\n'
          b"\r\n")
PART1_HEADER = (b"Content-Type: text/plain; charset=utf-8\r\n"
                b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
PART2_HEADER = (b"Content-Type: application/octet-stream; name=blob.bin\r\n"
                b"Content-Transfer-Encoding: base64\r\n"
                b"Content-Disposition: attachment; filename=blob.bin\r\n"
                b"\r\n")
PART3_HEADER = (b"Content-Type: application/x-odd\r\n"
                b"Content-Transfer-Encoding: x-unheard-of\r\n\r\n")
BODY = (b"This is a MIME message.\r\n"
        b"--b1\r\n" + PART1_HEADER + TEXT_PART.encode() + b"\r\n" +
        b"--b1\r\n" + PART2_HEADER +
        base64.encodebytes(BLOB).replace(b"\n", b"\r\n") +
        b"--b1\r\n" + PART3_HEADER + b"odd octets\r\n"
        b"--b1--\r\n")
MULTI = HEADER + BODY
SIMPLE = (b"From: a@example.test\r\nSubject: simple\r\n\r\n"
          b"line one\r\nline two\r\n")


def setUpModule():
    t.ensure_role_users()


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def literals(data):
    """The literal payloads of an imaplib FETCH answer, in order."""
    return [part[1] for part in data if isinstance(part, tuple)]


def heads(data):
    """The text of each response line, literals left out."""
    return b"".join(part[0] if isinstance(part, tuple) else part
                    for part in data)


class Fetch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # test_many_slow_reader measures the process's memory
        with memory_as_released():
            cls.b = Boxd(imap=True).start()
        cls.b.add_user(USER, PASSWORD)

    @classmethod
    def tearDownClass(cls):
        cls.b.cleanup()

    def connect(self):
        c = imaplib.IMAP4_SSL("127.0.0.1", self.b.imap_ports["imaps"],
                              ssl_context=tls_context(), timeout=30)
        c.login(USER, PASSWORD)
        self.addCleanup(self.logout, c)
        return c

    @staticmethod
    def logout(c):
        try:
            c.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def folder(self, name, *messages, flags=None, enable=None):
        """A new folder holding messages, selected in a new session."""
        c = self.connect()
        if enable is not None:
            typ, _ = c.enable(enable)
            self.assertEqual(typ, "OK")
        typ, _ = c.create(name)
        self.assertEqual(typ, "OK")
        for m in messages:
            typ, _ = c.append(name, flags, '"07-Dec-2026 10:00:00 +0100"',
                              m)
            self.assertEqual(typ, "OK")
        typ, _ = c.select(name)
        self.assertEqual(typ, "OK")
        return c

    def fetch(self, c, items, msgset="1"):
        typ, data = c.fetch(msgset, items)
        self.assertEqual(typ, "OK", data)
        return data

    def test_simple_items(self):
        c = self.folder("Items", MULTI, flags="(\\Flagged)")
        data = self.fetch(c, "(UID FLAGS INTERNALDATE RFC822.SIZE)")
        line = heads(data)
        self.assertIn(b"UID 1", line)
        self.assertRegex(line, rb"FLAGS \([^)]*\\Flagged")
        self.assertIn(b'INTERNALDATE " 7-Dec-2026 09:00:00 +0000"', line)
        self.assertIn(b"RFC822.SIZE %d" % len(MULTI), line)
        env = heads(self.fetch(c, "ENVELOPE"))
        self.assertIn(b'"Fetch me"', env)
        self.assertIn(b'"<fetch-1@example.test>"', env)
        self.assertIn(b'("Alice Example" NIL "alice" "example.test")', env)
        bs = heads(self.fetch(c, "BODYSTRUCTURE")).upper()
        self.assertIn(b'"MIXED"', bs)
        self.assertIn(b'"BASE64"', bs)
        self.assertIn(b'"ATTACHMENT"', bs)
        body = heads(self.fetch(c, "BODY")).upper()
        self.assertIn(b'"MIXED"', body)
        self.assertNotIn(b'"ATTACHMENT"', body)
        self.assertIn(b"MODSEQ (", heads(self.fetch(c, "MODSEQ")))
        for macro, want, unwanted in (
                ("FAST", [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"],
                 [b"ENVELOPE"]),
                ("ALL", [b"FLAGS", b"ENVELOPE"], [b"BODY"]),
                ("FULL", [b"ENVELOPE", b"BODY ("], [b"BODYSTRUCTURE"])):
            line = heads(self.fetch(c, macro))
            for w in want:
                self.assertIn(w, line, macro)
            for u in unwanted:
                self.assertNotIn(u, line, macro)
        # UID FETCH always says UID
        typ, data = c.uid("FETCH", "1", "(FLAGS)")
        self.assertEqual(typ, "OK")
        self.assertIn(b"UID 1", heads(data))

    def test_sections(self):
        c = self.folder("Sections", MULTI)
        cases = [
            ("BODY.PEEK[]", MULTI),
            ("BODY.PEEK[HEADER]", HEADER),
            ("BODY.PEEK[TEXT]", BODY),
            ("BODY.PEEK[1]", TEXT_PART.encode()),
            ("BODY.PEEK[1.MIME]", PART1_HEADER),
            ("BODY.PEEK[2.MIME]", PART2_HEADER),
            ("BODY.PEEK[HEADER.FIELDS (Subject x-extra)]",
             b"Subject: Fetch me\r\nX-Extra: one\r\n\r\n"),
            ("RFC822.HEADER", HEADER),
            ("BODY.PEEK[9]", b""),
        ]
        for item, want in cases:
            data = self.fetch(c, item)
            self.assertEqual(literals(data), [want], item)
        data = self.fetch(c, "BODY.PEEK[HEADER.FIELDS.NOT (Subject To "
                             "From Date Message-ID MIME-Version "
                             "Content-Type)]")
        self.assertEqual(literals(data), [b"X-Extra: one\r\n\r\n"])
        data = self.fetch(c, "(BODY.PEEK[header.fields (SUBJECT)] UID)")
        self.assertIn(b"BODY[HEADER.FIELDS (SUBJECT)]", heads(data))
        # several sections in one answer, in order
        data = self.fetch(c, "(BODY.PEEK[1] BODY.PEEK[HEADER] FLAGS)")
        self.assertEqual(literals(data), [TEXT_PART.encode(), HEADER])

    def test_partials(self):
        c = self.folder("Partials", MULTI)
        for o, n in ((0, 10), (10, 20), (len(MULTI) - 5, 100),
                     (len(MULTI), 10), (len(MULTI) + 1000, 1),
                     (0, 2 ** 63 - 1)):
            data = self.fetch(c, "BODY.PEEK[]<%d.%d>" % (o, n))
            self.assertEqual(literals(data), [MULTI[o:o + n]], (o, n))
            self.assertIn(b"BODY[]<%d>" % o, heads(data))
        data = self.fetch(c, "BODY.PEEK[TEXT]<5.10>")
        self.assertEqual(literals(data), [BODY[5:15]])
        data = self.fetch(c, "BODY.PEEK[HEADER.FIELDS (SUBJECT)]<2.5>")
        self.assertEqual(literals(data), [b"Subject: Fetch me\r\n\r\n"[2:7]])
        for bad in ("BODY.PEEK[]<0.0>", "BODY.PEEK[]<1>",
                    "BODY.PEEK[]<9223372036854775808.1>",
                    "BINARY.SIZE[1]<0.1>"):
            with self.assertRaises(imaplib.IMAP4.error, msg=bad):
                c.fetch("1", bad)

    def test_seen(self):
        c = self.folder("Seen", MULTI, MULTI, MULTI, SIMPLE)
        self.fetch(c, "(BODY.PEEK[] BINARY.PEEK[1] BINARY.SIZE[2] "
                      "RFC822.HEADER)", "1:4")
        line = heads(self.fetch(c, "FLAGS", "1:4"))
        self.assertNotIn(b"\\Seen", line)
        # BODY[] sets \Seen and says so with FLAGS, unasked
        data = self.fetch(c, "BODY[TEXT]", "1")
        self.assertRegex(heads(data), rb"FLAGS \([^)]*\\Seen")
        data = self.fetch(c, "RFC822", "2")
        self.assertEqual(literals(data), [MULTI])
        self.assertIn(b"\\Seen", heads(data))
        data = self.fetch(c, "RFC822.TEXT", "4")
        self.assertEqual(literals(data), [b"line one\r\nline two\r\n"])
        data = self.fetch(c, "FLAGS", "1:4")
        seen = [b"\\Seen" in heads([d]) for d in data]
        self.assertEqual(seen, [True, True, False, True])
        # an already \Seen message: no FLAGS unasked
        self.assertNotIn(b"FLAGS", heads(self.fetch(c, "BODY[1]", "1")))
        # EXAMINE: read-only, BODY[] leaves \Seen alone
        typ, _ = c.select("Seen", readonly=True)
        self.assertEqual(typ, "OK")
        self.fetch(c, "BODY[]", "3")
        self.assertNotIn(b"\\Seen", heads(self.fetch(c, "FLAGS", "3")))
        typ, _ = c.select("Seen")
        self.assertNotIn(b"\\Seen", heads(self.fetch(c, "FLAGS", "3")))

    def test_binary(self):
        c = self.folder("Binary", MULTI)
        data = self.fetch(c, "BINARY.PEEK[2]")
        self.assertEqual(literals(data), [BLOB])
        self.assertIn(b"BINARY[2] ~{%d}" % len(BLOB), heads(data))
        data = self.fetch(c, "BINARY.PEEK[1]")
        self.assertEqual(literals(data), [TEXT_DECODED])
        self.assertIn(b"BINARY[1] {", heads(data))
        data = self.fetch(c, "(BINARY.SIZE[1] BINARY.SIZE[2])")
        line = heads(data)
        self.assertIn(b"BINARY.SIZE[2] %d" % len(BLOB), line)
        self.assertIn(b"BINARY.SIZE[1] %d" % len(TEXT_DECODED), line)
        data = self.fetch(c, "BINARY.PEEK[2]<250.10>")
        self.assertEqual(literals(data), [BLOB[250:260]])
        self.assertIn(b"BINARY[2]<250>", heads(data))
        data = self.fetch(c, "BINARY.PEEK[]")
        self.assertEqual(literals(data), [MULTI])
        self.assertEqual(heads(self.fetch(c, "BINARY.SIZE[]")),
                         b"1 (BINARY.SIZE[] %d)" % len(MULTI))
        typ, data = c._simple_command("FETCH", "1", "BINARY.PEEK[3]")
        self.assertEqual(typ, "NO")
        self.assertIn(b"UNKNOWN-CTE", data[-1])
        self.assertNotIn(b"\\Seen", heads(self.fetch(c, "FLAGS")))
        with self.assertRaises(imaplib.IMAP4.error):
            c.fetch("1", "BINARY.PEEK[HEADER]")

    def test_errors(self):
        c = self.folder("Errors", SIMPLE)
        for items in ("FOO", "(FLAGS FOO)", "BODY[FOO]", "(ALL)",
                      "BODY.PEEK", "(FLAGS) (CHANGEDSINCE)",
                      "(FLAGS) (CHANGEDSINCE 1 VANISHED)",
                      "(" + " ".join(["FLAGS"] * 65) + ")"):
            with self.assertRaises(imaplib.IMAP4.error, msg=items):
                c.fetch("1", items)
        with self.assertRaises(imaplib.IMAP4.error):
            c.fetch("x", "FLAGS")
        # the session goes on
        self.assertIn(b"FLAGS", heads(self.fetch(c, "FLAGS")))
        # a set past the messages: nothing, or BAD, never a crash
        try:
            c.fetch("5:7", "FLAGS")
        except imaplib.IMAP4.error:
            pass
        self.assertIn(b"FLAGS", heads(self.fetch(c, "FLAGS")))

    def test_store(self):
        c = self.folder("Store", SIMPLE, SIMPLE, SIMPLE)
        typ, data = c.store("1", "FLAGS", "(\\Seen \\Flagged)")
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0], rb"^1 \(FLAGS \(")
        self.assertIn(b"\\Flagged", data[0])
        typ, data = c.store("1", "+FLAGS", "($Label1 \\Answered)")
        self.assertIn(b"$Label1", data[0])
        self.assertIn(b"\\Answered", data[0])
        typ, data = c.store("1", "-FLAGS", "(\\Flagged $Label1)")
        self.assertNotIn(b"\\Flagged", data[0])
        self.assertNotIn(b"$Label1", data[0])
        self.assertIn(b"\\Seen", data[0])
        # .SILENT: no FETCH (CONDSTORE not enabled)
        typ, data = c.store("2", "+FLAGS.SILENT", "(\\Deleted)")
        self.assertEqual((typ, data), ("OK", [None]))
        # flags as plain arguments, several messages
        typ, data = c._simple_command("STORE", "2:3", "+FLAGS", "\\Draft",
                                      "$Junk")
        self.assertEqual(typ, "OK")
        fetches = c.untagged_responses.pop("FETCH", [])
        self.assertEqual(len(fetches), 2)
        self.assertTrue(all(b"\\Draft" in f and b"$Junk" in f
                            for f in fetches))
        line = heads(self.fetch(c, "FLAGS", "2"))
        self.assertIn(b"\\Deleted", line)
        # UID STORE answers with UID
        typ, data = c.uid("STORE", "3", "FLAGS", "(\\Seen)")
        self.assertEqual(typ, "OK")
        self.assertIn(b"UID 3", data[0])
        # replacing with nothing
        typ, data = c.store("3", "FLAGS", "()")
        self.assertNotIn(b"\\Seen", data[0])
        for args in (("1", "+FLAGZ", "(\\Seen)"), ("1", "FLAGS", "(\\Bogus)"),
                     ("1", "FLAGS", "\"x\"")):
            with self.assertRaises(imaplib.IMAP4.error, msg=args):
                c.store(*args)
        # flags survive a new session
        c2 = self.connect()
        c2.select("Store")
        line = heads(self.fetch(c2, "FLAGS", "1:3"))
        self.assertIn(b"\\Answered", line)
        self.assertIn(b"$Junk", line)
        # read-only: NO
        c2.select("Store", readonly=True)
        typ, data = c2._simple_command("STORE", "1", "+FLAGS", "(\\Seen)")
        self.assertEqual(typ, "NO")

    def test_condstore(self):
        c = self.folder("Condstore", SIMPLE, SIMPLE, SIMPLE, SIMPLE,
                        enable="QRESYNC")
        hms = int(c.untagged_responses.get("HIGHESTMODSEQ", [b"0"])[0])
        data = self.fetch(c, "(MODSEQ)", "1:4")
        modseqs = [int(re.search(rb"MODSEQ \((\d+)\)", d).group(1))
                   for d in data]
        self.assertTrue(all(0 < m <= hms for m in modseqs), (modseqs, hms))
        # a STORE with CONDSTORE: MODSEQ in the answer, even .SILENT
        typ, data = c.store("2", "+FLAGS", "(\\Flagged)")
        m2 = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
        self.assertGreater(m2, hms)
        typ, data = c.store("3", "+FLAGS.SILENT", "(\\Flagged)")
        self.assertRegex(data[0], rb"^3 \(MODSEQ \(\d+\)\)$")
        m3 = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
        self.assertGreater(m3, m2)
        # CHANGEDSINCE: only what changed after it
        typ, data = c.uid("FETCH", "1:*", "(FLAGS) (CHANGEDSINCE %d)" % hms)
        self.assertEqual(typ, "OK")
        got = sorted(int(re.search(rb"UID (\d+)", d).group(1))
                     for d in data if d)
        self.assertEqual(got, [2, 3])
        self.assertTrue(all(b"MODSEQ" in d for d in data if d))
        typ, data = c.uid("FETCH", "1:*", "(FLAGS) (CHANGEDSINCE %d)" % m3)
        self.assertEqual([d for d in data if d], [])
        # UNCHANGEDSINCE: refused where it changed, done elsewhere
        typ, data = c._simple_command(
            "STORE", "1:3", "(UNCHANGEDSINCE %d)" % hms, "+FLAGS",
            "(\\Answered)")
        self.assertEqual(typ, "OK")
        self.assertIn(b"[MODIFIED 2:3]", data[-1])
        c.untagged_responses.pop("FETCH", None)
        line = heads(self.fetch(c, "FLAGS", "1:3"))
        self.assertEqual(line.count(b"\\Answered"), 1)
        typ, data = c._simple_command(
            "UID", "STORE", "4", "(UNCHANGEDSINCE 0)", "+FLAGS", "(\\Seen)")
        self.assertIn(b"[MODIFIED 4]", data[-1])
        # VANISHED (EARLIER) of what was expunged since
        c.store("4", "+FLAGS", "(\\Deleted)")
        typ, _ = c.expunge()
        self.assertEqual(typ, "OK")
        c.untagged_responses.clear()
        typ, data = c.uid("FETCH", "1:*",
                          "(FLAGS) (CHANGEDSINCE %d VANISHED)" % hms)
        self.assertEqual(typ, "OK")
        self.assertEqual(c.untagged_responses.get("VANISHED"),
                         [b"(EARLIER) 4"])
        c.untagged_responses.clear()
        typ, data = c.uid("FETCH", "1:3",
                          "(FLAGS) (CHANGEDSINCE %d VANISHED)" % hms)
        self.assertNotIn("VANISHED", c.untagged_responses)

    def test_expunged_by_another(self):
        a = self.folder("Gone", SIMPLE, SIMPLE, SIMPLE)
        b = self.connect()
        b.select("Gone")
        b.store("2", "+FLAGS.SILENT", "(\\Deleted)")
        typ, _ = b.expunge()
        self.assertEqual(typ, "OK")
        # a has not heard: 2 is still its message 2, whose data is gone
        typ, data = a._simple_command("FETCH", "1:3", "(UID FLAGS)")
        self.assertEqual(typ, "OK")
        self.assertIn(b"EXPUNGEISSUED", data[-1])
        fetches = a.untagged_responses.pop("FETCH", [])
        self.assertEqual([re.search(rb"UID (\d+)", f).group(1)
                          for f in fetches], [b"1", b"3"])
        # no EXPUNGE during a FETCH by sequence numbers; NOOP tells it
        self.assertNotIn("EXPUNGE", a.untagged_responses)
        typ, _ = a.noop()
        self.assertEqual(a.untagged_responses.get("EXPUNGE"), [b"2"])
        a.untagged_responses.clear()
        self.assertEqual(len(self.fetch(a, "FLAGS", "1:*")), 2)
        # a STORE on a message gone the same way
        b.store("2", "+FLAGS.SILENT", "(\\Deleted)")
        b.expunge()
        typ, data = a._simple_command("STORE", "1:2", "+FLAGS",
                                      "(\\Flagged)")
        self.assertEqual(typ, "OK")
        self.assertIn(b"EXPUNGEISSUED", data[-1])
        self.assertEqual(len(a.untagged_responses.pop("FETCH", [])), 1)

    def test_large(self):
        line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST\r\n"
        big = (b"From: a@example.test\r\nSubject: big\r\n\r\n" +
               line * (5 * 1024 * 1024 // len(line)))
        c = self.folder("Large", big)
        data = self.fetch(c, "BODY.PEEK[]")
        self.assertEqual(literals(data), [big])
        chunk, got = 1024 * 1024, b""
        while len(got) < len(big):
            data = self.fetch(c, "BODY.PEEK[]<%d.%d>" % (len(got), chunk))
            piece = literals(data)[0]
            self.assertTrue(piece)
            got += piece
        self.assertEqual(got, big)
        data = self.fetch(c, "RFC822.SIZE")
        self.assertIn(b"RFC822.SIZE %d" % len(big), heads(data))

    def imap_pid(self):
        for pid in self.b.pids()[1:]:
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if b"imap" in f.read():
                        return pid
            except FileNotFoundError:
                pass
        self.fail("no imap process")

    @staticmethod
    def rss_anon(pid):
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("RssAnon:"):
                    return int(ln.split()[1]) * 1024
        return 0

    def test_many_slow_reader(self):
        n, size = 2000, 10 * 1024
        c = self.connect()
        c.create("Bulk")
        # written while no session has the folder selected: what others
        # add is news for the sessions that have it, not this test's aim
        c.logout()
        cur = os.path.join(self.b.maildir(USER), ".Bulk", "cur")
        st = os.stat(cur)
        filler = (b"x" * 78 + b"\r\n") * (size // 80)
        for i in range(n):
            msg = (b"From: a@example.test\r\nSubject: bulk %d\r\n\r\n" % i +
                   filler)
            path = os.path.join(cur, "1796600000.M%dP1Q1.test,S=%d:2,S" %
                                (i, len(msg)))
            with open(path, "wb") as f:
                f.write(msg)
            os.chown(path, st.st_uid, st.st_gid)

        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        raw.settimeout(30)
        raw.connect(("127.0.0.1", self.b.imap_ports["imaps"]))
        s = tls_context().wrap_socket(raw)
        self.addCleanup(s.close)
        buf = b""

        def until(tag):
            nonlocal buf
            while not re.search(rb"(^|\r\n)%s (OK|NO|BAD)[^\r]*\r\n" % tag,
                                buf):
                d = s.recv(65536)
                self.assertTrue(d, buf[-300:])
                buf += d
            out, buf = buf, b""
            return out

        until(rb"\*")
        s.sendall(b'a LOGIN "%s" "%s"\r\n' % (USER.encode(),
                                               PASSWORD.encode()))
        self.assertIn(b"a OK", until(b"a"))
        s.sendall(b"b SELECT Bulk\r\n")
        sel = until(b"b")
        self.assertIn(b"* %d EXISTS" % n, sel)
        pid = self.imap_pid()
        # the cache of sizes is warm; the process's own memory from here
        self.assertIn(b"c OK", (s.sendall(b"c FETCH 1:* RFC822.SIZE\r\n"),
                                until(b"c"))[1])
        base = self.rss_anon(pid)
        s.sendall(b"d FETCH 1:* BODY.PEEK[]\r\n")
        total, peak, reads, tail = 0, base, 0, b""
        deadline = time.time() + 120
        while True:
            self.assertLess(time.time(), deadline)
            d = s.recv(16384)
            self.assertTrue(d)
            total += len(d)
            tail = (tail + d)[-200:]
            reads += 1
            if reads % 50 == 0:
                peak = max(peak, self.rss_anon(pid))
                time.sleep(0.01)
            if re.search(rb"\r\nd (OK|NO|BAD)[^\r]*\r\n$", tail):
                break
        self.assertIn(b"d OK", tail)
        self.assertGreater(total, n * size)
        # what it answers is ~20 MB: it must never all sit in memory
        self.assertLess(peak - base, 8 * 1024 * 1024,
                        "imap grew by %d octets" % (peak - base))


if __name__ == "__main__":
    unittest.main()
