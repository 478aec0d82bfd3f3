"""What Dovecot's imaptest compliance suite found boxd doing against the
RFCs, each case the smallest exchange that showed it, over imaps with a
raw socket so that every octet of the reply is seen."""

import os
import re
import socket
import ssl
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from boxdtest import Boxd  # noqa: E402

USER = "carol@example.org"
PASSWORD = "correct horse battery"


class Raw:
    """One IMAP session over implicit TLS: cmd() sends a tagged command
    and returns (untagged lines, tagged line), as bytes."""

    def __init__(self, port):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(
            socket.create_connection(("127.0.0.1", port), timeout=20))
        self.f = self.sock.makefile("rb")
        self.greeting = self.f.readline()
        self.n = 0

    def line(self):
        """A response line with any literals in it read in full."""
        out = b""
        while True:
            r = self.f.readline()
            if not r:
                raise EOFError("the server closed the connection")
            out += r
            m = re.search(rb"\{(\d+)\}\r\n$", r)
            if not m:
                return out
            out += self.f.read(int(m.group(1)))

    def cmd(self, text, literal=None):
        self.n += 1
        tag = b"c%d" % self.n
        if isinstance(text, str):
            text = text.encode()
        if literal is None:
            self.sock.sendall(tag + b" " + text + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + text +
                              b" {%d+}\r\n" % len(literal) + literal +
                              b"\r\n")
        untagged = []
        while True:
            r = self.line()
            if r.startswith(tag + b" "):
                return untagged, r
            untagged.append(r)

    def close(self):
        self.sock.close()


class ComplianceCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = Boxd(imap=True)
        cls.b.start()
        cls.b.add_user(USER, PASSWORD)

    @classmethod
    def tearDownClass(cls):
        cls.b.stop()
        cls.b.cleanup()

    def session(self):
        c = Raw(self.b.imap_ports["imaps"])
        self.addCleanup(c.close)
        _, r = c.cmd('LOGIN %s "%s"' % (USER, PASSWORD))
        self.assertTrue(r.split()[1] == b"OK", r)
        return c

    def ok(self, c, text, literal=None):
        u, r = c.cmd(text, literal)
        self.assertEqual(r.split()[1], b"OK", (text, u, r))
        return u

    @staticmethod
    def uidvalidity(untagged):
        for line in untagged:
            m = re.search(rb"\[UIDVALIDITY (\d+)\]", line)
            if m:
                return int(m.group(1))
        return None

    def test_recreated_folder_new_uidvalidity(self):
        """RFC 3501 2.3.1.1: a folder deleted and made again gets a new
        UIDVALIDITY, even within the second, even from another session
        (imaptest deletes and creates its folder for every test)."""
        seen = set()
        for _ in range(3):
            c = self.session()
            self.ok(c, "CREATE again")
            self.ok(c, "APPEND again", b"Subject: one\r\n\r\nbody\r\n")
            v = self.uidvalidity(self.ok(c, "SELECT again"))
            self.assertIsNotNone(v)
            self.assertNotIn(v, seen)
            seen.add(v)
            self.ok(c, "UNSELECT")
            self.ok(c, "DELETE again")
            c.close()

    def test_recreated_folder_searches_its_own_messages(self):
        """A search of the new folder reads the new messages, not what a
        cache kept of the old folder's same UIDs."""
        c = self.session()
        self.ok(c, "CREATE reuse")
        self.ok(c, "APPEND reuse", b"Subject: first folder\r\n\r\nx\r\n")
        self.ok(c, "SELECT reuse")
        u = self.ok(c, "SEARCH SUBJECT first")
        self.assertIn(b"* SEARCH 1\r\n", u)
        self.ok(c, "UNSELECT")
        self.ok(c, "DELETE reuse")
        self.ok(c, "CREATE reuse")
        self.ok(c, "APPEND reuse", b"Subject: second\r\n\r\nx\r\n")
        self.ok(c, "SELECT reuse")
        self.assertIn(b"* SEARCH 1\r\n", self.ok(c, "SEARCH SUBJECT second"))
        self.assertIn(b"* SEARCH\r\n", self.ok(c, "SEARCH SUBJECT first"))
        self.ok(c, "UNSELECT")
        self.ok(c, "DELETE reuse")

    def test_atom_with_open_bracket(self):
        """RFC 3501 9: [ is an ATOM-CHAR; only FETCH's sections pair it
        with ]. A mailbox name with one is a name, not a BAD."""
        name = "!#$&'+,-.0123456789:;<=>?@^_`|[}"
        c = self.session()
        u, r = c.cmd("SELECT " + name)
        self.assertEqual(r.split()[1], b"NO", r)
        self.ok(c, "CREATE br[ack")
        self.assertIn(b'* LIST (\\HasNoChildren) "." "br[ack"\r\n',
                      self.ok(c, 'LIST "" br[*'))
        self.ok(c, "DELETE br[ack")
        self.ok(c, "SELECT INBOX")
        self.ok(c, "APPEND INBOX", b"Subject: x\r\n\r\nbody\r\n")
        for bad in ("FETCH 1 BODY[HEADER", "FETCH 1 (BODY[1 FLAGS)",
                    "FETCH 1 BODY[a[b]]"):
            u, r = c.cmd(bad)
            self.assertEqual(r.split()[1], b"BAD", (bad, r))
        self.ok(c, "NOOP")

    def test_list_pattern_not_modified_utf7(self):
        """A LIST pattern that is not modified UTF-7 names no folder: OK
        and nothing listed, as for any pattern matching nothing."""
        c = self.session()
        u = self.ok(c, 'LIST "" "!#$&\'+,-.0123456789:;<=>?@^_`|[}%*"')
        self.assertEqual(u, [])
        u = self.ok(c, 'LIST "" ("&Jjo" INBOX)')
        self.assertEqual(len(u), 1, u)
        self.assertIn(b"INBOX", u[0])

    def test_trycreate(self):
        """RFC 3501 6.3.11, 6.4.7: APPEND and COPY to a mailbox that is
        not there are refused with TRYCREATE, and nothing is created."""
        c = self.session()
        u, r = c.cmd("APPEND nowhere", b"Subject: x\r\n\r\nbody\r\n")
        self.assertTrue(r.split()[1:3] == [b"NO", b"[TRYCREATE]"], r)
        self.ok(c, "SELECT INBOX")
        self.ok(c, "APPEND INBOX", b"Subject: x\r\n\r\nbody\r\n")
        for cmd in ("COPY 1 nowhere", "MOVE 1 nowhere", "UID COPY 1:* a.b"):
            u, r = c.cmd(cmd)
            self.assertTrue(r.split()[1:3] == [b"NO", b"[TRYCREATE]"],
                            (cmd, r))
        self.assertEqual(self.ok(c, 'LIST "" nowhere'), [])

    def test_largest_number_is_not_star(self):
        """RFC 9051 6.4.9: only * stands for the last message; a range
        up to 4294967295 past the last UID holds none."""
        c = self.session()
        self.ok(c, "CREATE sets")
        self.ok(c, "APPEND sets", b"Subject: x\r\n\r\nbody\r\n")
        self.ok(c, "SELECT sets")
        self.assertIn(b"* SEARCH\r\n",
                      self.ok(c, "UID SEARCH UID 2:4294967295"))
        self.assertIn(b"* SEARCH 1\r\n", self.ok(c, "UID SEARCH UID 2:*"))
        self.assertIn(b"* SEARCH 1\r\n",
                      self.ok(c, "UID SEARCH UID 1:4294967295"))
        self.ok(c, "UNSELECT")
        self.ok(c, "DELETE sets")

    def test_condstore_enabling_tells_highestmodseq(self):
        """RFC 7162 3.1: the first CONDSTORE enabling command in a
        selected mailbox is answered with its HIGHESTMODSEQ, once."""
        c = self.session()
        self.ok(c, "CREATE modseq")
        self.ok(c, "APPEND modseq", b"Subject: x\r\n\r\nbody\r\n")
        self.ok(c, "SELECT modseq")
        u = self.ok(c, "FETCH 1 MODSEQ")
        self.assertTrue(u[0].startswith(b"* OK [HIGHESTMODSEQ "), u)
        self.assertEqual(len(u), 2, u)
        u = self.ok(c, "FETCH 1 MODSEQ")
        self.assertEqual(len(u), 1, u)
        self.ok(c, "UNSELECT")
        self.ok(c, "DELETE modseq")

    def test_sort_group_address(self):
        """RFC 5256 3, RFC 5957 3: SORT (CC) and (DISPLAYTO) take the
        first address as the ENVELOPE has it, a group's name for a group
        (imaptest's sort-addresses and sort-display-to)."""
        c = self.session()
        self.ok(c, "CREATE groups")
        for to, cc in (("z: aa@aa.org, bb@bb.org;", "user2@domain2.org"),
                       ("b@c.d", "user2: blah@domain1.org;"),
                       ("empty:;", "user1@domain1.org"),
                       ("a: xx@xx.org;", "user3@domain1.org")):
            self.ok(c, "APPEND groups",
                    ("To: %s\r\nCc: %s\r\n\r\nx\r\n" % (to, cc)).encode())
        self.ok(c, "SELECT groups")
        self.assertIn(b"* SORT 3 1 2 4\r\n",
                      self.ok(c, "SORT (CC) US-ASCII ALL"))
        self.assertIn(b"* SORT 4 2 3 1\r\n",
                      self.ok(c, "SORT (DISPLAYTO) US-ASCII ALL"))
        self.ok(c, "UNSELECT")
        self.ok(c, "DELETE groups")

    def test_new_keyword_told_in_flags(self):
        """RFC 3501 7.2.6: a keyword new to the mailbox is in a FLAGS
        response before a FETCH shows it, to this session and to another
        one with the mailbox selected (imaptest counts it an error)."""
        a, b = self.session(), self.session()
        self.ok(a, "CREATE kw")
        self.ok(a, "APPEND kw", b"Subject: x\r\n\r\nbody\r\n")
        self.ok(a, "SELECT kw")
        self.ok(b, "SELECT kw")
        u = self.ok(a, "STORE 1 +FLAGS ($hello)")
        self.assertTrue(u[0].startswith(b"* FLAGS (") and
                        b"$hello" in u[0], u)
        self.assertTrue(u[1].startswith(b"* OK [PERMANENTFLAGS ("), u)
        self.assertIn(b"$hello", u[1])
        self.assertIn(b"FETCH", u[2])
        u = self.ok(b, "NOOP")
        self.assertTrue(u[0].startswith(b"* FLAGS (") and
                        b"$hello" in u[0], u)
        self.assertIn(b"FETCH", u[-1])
        u = self.ok(a, "STORE 1 +FLAGS ($hello)")
        self.assertFalse(any(l.startswith(b"* FLAGS") for l in u), u)
        u = self.ok(a, "APPEND kw ($world)", b"X: y\r\n\r\nz\r\n")
        self.assertTrue(any(l.startswith(b"* FLAGS (") and b"$world" in l
                            for l in u), u)
        self.ok(a, "UNSELECT")
        self.ok(b, "UNSELECT")
        self.ok(a, "DELETE kw")

    def test_search_address_with_comments(self):
        """RFC 3501 6.4.4: FROM matches the ENVELOPE's address, so
        user@host finds an address written with comments in it."""
        c = self.session()
        self.ok(c, "CREATE addr")
        self.ok(c, "APPEND addr", b"From: <user-from (comment)@ (comment) "
                b"domain.org>\r\nTo: a@b.c\r\n\r\nbody\r\n")
        self.ok(c, "APPEND addr", b"From: user-from@domain.org\r\n\r\nx\r\n")
        self.ok(c, "APPEND addr", b"From: other@domain.org\r\n\r\nx\r\n")
        self.ok(c, "SELECT addr")
        self.assertIn(b"* SEARCH 1 2\r\n",
                      self.ok(c, "SEARCH FROM user-from@domain.org"))
        self.assertIn(b"* SEARCH 1\r\n", self.ok(c, "SEARCH FROM comment"))
        self.assertIn(b"* SEARCH\r\n",
                      self.ok(c, "SEARCH TO user-from@domain.org"))
        self.ok(c, "UNSELECT")
        self.ok(c, "DELETE addr")

    BIN_PART = b"\x00\x01bin\rary\x00\n\r\n\xff\x00end\r"
    BIN_MSG = (b"From: a@b.c\r\nSubject: binary\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: multipart/mixed; boundary=\"xx\"\r\n\r\n"
               b"--xx\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
               b"--xx\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: binary\r\n\r\n" + BIN_PART +
               b"\r\n--xx--\r\n")

    def check_binary_stored(self, c, box):
        """The binary part comes back as it was sent; the stored message
        is text: no NUL, CRLF line ends only, the part in base64."""
        self.ok(c, "SELECT " + box)
        u = self.ok(c, "FETCH 1 (BINARY[2] BINARY.SIZE[2] BINARY[1])")
        got = b"".join(u)
        lit = b"BINARY[2] ~{%d}\r\n" % len(self.BIN_PART)
        self.assertIn(lit + self.BIN_PART, got)
        self.assertIn(b"BINARY.SIZE[2] %d" % len(self.BIN_PART), got)
        self.assertIn(b"BINARY[1] {5}\r\nhello", got)
        u = self.ok(c, "FETCH 1 (BODY.PEEK[] RFC822.SIZE)")
        got = b"".join(u)
        m = re.search(rb"BODY\[\] \{(\d+)\}\r\n", got)
        body = got[m.end():m.end() + int(m.group(1))]
        self.assertNotIn(b"\x00", body)
        self.assertNotIn(b"\r", body.replace(b"\r\n", b""))
        self.assertNotIn(b"\n", body.replace(b"\r\n", b""))
        self.assertIn(b"RFC822.SIZE %d" % len(body), got)
        self.assertIn(b"Content-Transfer-Encoding: base64\r\n", body)
        self.assertNotIn(b"binary", body.lower().replace(b"subject: binary",
                                                          b""))
        self.assertIn(b"Content-Type: text/plain\r\n\r\nhello\r\n--xx", body)
        u = self.ok(c, "FETCH 1 BODYSTRUCTURE")
        self.assertIn(b'"application" "octet-stream" NIL NIL NIL "base64"',
                      b"".join(u))
        self.ok(c, "UNSELECT")

    def test_append_literal8_binary_part(self):
        """RFC 3516 4.3: a literal8 APPEND with NULs and bare CRs in a
        binary part is stored with that part in base64; BINARY[2] gives
        back the exact octets (imaptest append-binary)."""
        c = self.session()
        self.ok(c, "CREATE bin8")
        self.ok(c, b"APPEND bin8 ~{%d+}\r\n" % len(self.BIN_MSG) +
                self.BIN_MSG)
        self.check_binary_stored(c, "bin8")
        self.ok(c, "DELETE bin8")

    def test_append_literal8_synchronising(self):
        """The same with a synchronising literal8."""
        c = self.session()
        self.ok(c, "CREATE bin8s")
        c.n += 1
        tag = b"c%d" % c.n
        c.sock.sendall(tag + b" APPEND bin8s ~{%d}\r\n" % len(self.BIN_MSG))
        self.assertTrue(c.line().startswith(b"+"))
        c.sock.sendall(self.BIN_MSG + b"\r\n")
        r = c.line()
        self.assertTrue(r.startswith(tag + b" OK"), r)
        self.check_binary_stored(c, "bin8s")
        self.ok(c, "DELETE bin8s")

    def test_body_never_sends_nul(self):
        """RFC 9051 4.3: a NUL in a delivered message goes out of BODY[]
        as 0x80, the size kept; BINARY[] sends it in a literal8.  A NUL
        APPENDed in a plain literal is stored re-encoded."""
        c = self.session()
        self.ok(c, "CREATE nul")
        self.ok(c, "APPEND nul", b"Subject: nul\r\n\r\na\x00b\r\n")
        new = os.path.join(self.b.maildir(USER), ".nul", "new")
        with open(os.path.join(new, "1.delivered.host"), "wb") as f:
            f.write(b"Subject: nul\n\na\x00b\n")
        self.ok(c, "SELECT nul")
        got = b"".join(self.ok(c, "FETCH 1 (BINARY.PEEK[1] BODY.PEEK[])"))
        self.assertIn(b"BINARY[1] ~{5}\r\na\x00b\r\n", got)
        self.assertNotIn(b"\x00b", got.replace(b"~{5}\r\na\x00b", b""))
        got = b"".join(self.ok(c, "FETCH 2 (BODY.PEEK[] BODY.PEEK[TEXT])"))
        self.assertNotIn(b"\x00", got)
        self.assertIn(b"BODY[TEXT] {5}\r\na\x80b\r\n", got)
        got = b"".join(self.ok(c, "FETCH 2 (BINARY.PEEK[1])"))
        self.assertIn(b"~{5}\r\na\x00b\r\n", got)
        self.ok(c, "UNSELECT")
        self.ok(c, "DELETE nul")

    def test_append_utf8(self):
        """RFC 6855 4: APPEND's UTF8 (literal) is BAD until ENABLE
        UTF8=ACCEPT, then stores the message."""
        c = self.session()
        self.ok(c, "CREATE u8")
        msg = "Subject: caf\u00e9\r\nFrom: j\u00f6rg@example.org\r\n\r\n" \
              "h\u00e9\r\n".encode()
        _, r = c.cmd(b"APPEND u8 UTF8 (~{%d+}\r\n" % len(msg) + msg + b")")
        self.assertEqual(r.split()[1], b"BAD", r)
        self.ok(c, "ENABLE UTF8=ACCEPT")
        u = self.ok(c, b"APPEND u8 (\\Seen) UTF8 (~{%d+}\r\n" % len(msg) +
                    msg + b")")
        self.ok(c, b"APPEND u8 UTF8 ({%d+}\r\n" % len(msg) + msg + b")")
        c.n += 1
        tag = b"c%d" % c.n
        c.sock.sendall(tag + b" APPEND u8 UTF8 (~{%d}\r\n" % len(msg))
        self.assertTrue(c.line().startswith(b"+"))
        c.sock.sendall(msg + b") UTF8 ({%d+}\r\n" % len(msg) + msg + b")\r\n")
        r = c.line()
        self.assertTrue(r.startswith(tag + b" OK [APPENDUID"), r)
        u = self.ok(c, "SELECT u8")
        self.assertIn(b"* 4 EXISTS\r\n", u)
        got = b"".join(self.ok(c, "FETCH 1:4 (FLAGS BODY.PEEK[])"))
        self.assertEqual(got.count(msg), 4)
        self.assertIn(b"\\Seen", got)
        self.ok(c, "UNSELECT")
        self.ok(c, "DELETE u8")


if __name__ == "__main__":
    unittest.main()
