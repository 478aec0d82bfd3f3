"""boxd's imap role against hostile IMAP and POP3 clients: memory that a
client could make the server hold, sessions that go in the middle of
something, clients that never read, names that try to leave the Maildir,
and thousands of malformed commands.  After each test the imap process is
the same one, a normal client logs in and reads mail, and `boxctl status`
answers.

Run: cd regress/e2e && /usr/bin/python3 -m unittest -v test_imap_hostile
"""

import imaplib
import json
import os
import random
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from boxdtest import Boxd  # noqa: E402
from test_imap import BOB, PASSWORD, message, tls_context  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def wait_until(cond, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


class Conn:
    """A raw IMAP connection (TLS unless told), line by line."""

    def __init__(self, port, tls=True, greeting=True, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # before connect, so that the kernel does not grow it
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(30)
        s.connect(("127.0.0.1", port))
        self.sock = tls_context().wrap_socket(s) if tls else s
        self.f = self.sock.makefile("rb")
        if greeting:
            self.greeting = self.f.readline()

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        return self.f.readline()

    def tagged(self, tag):
        """Lines up to the tagged reply (the last one), or to EOF."""
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                return lines
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def cmd(self, tag, text):
        self.send(tag + b" " + text + b"\r\n")
        return self.tagged(tag)

    def login(self, user=BOB, password=PASSWORD):
        last = self.cmd(b"L", b'LOGIN "%s" "%s"' % (user.encode(),
                                                    password.encode()))[-1]
        assert last.startswith(b"L OK"), last
        return self

    def closed(self, timeout=20):
        """True once the server has closed: reads to EOF."""
        self.sock.settimeout(timeout)
        try:
            while self.f.readline():
                pass
        except OSError:
            pass
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class HostileCase(unittest.TestCase):
    extra = ""

    def setUp(self):
        self.b = Boxd(imap=True, extra=self.extra)
        self.b.start()
        self.b.boxctl("domain", "add", "example.org")
        self.b.add_user(BOB, PASSWORD)
        self.imap_pid = self.role_pid("imap")
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        self.b.stop()
        self.b.cleanup()

    def role_pid(self, role):
        for line in self.b.boxctl("-j", "status").stdout.splitlines():
            row = json.loads(line)
            if row.get("role") == role:
                return row["pid"]
        raise AssertionError("no %s process" % role)

    def conn(self, kind="imaps", tls=None, greeting=True, rcvbuf=None):
        c = Conn(self.b.imap_ports[kind],
                 tls=kind.endswith("s") if tls is None else tls,
                 greeting=greeting, rcvbuf=rcvbuf)
        self.conns.append(c)
        return c

    def fill_inbox(self, n):
        """n messages written into new/ as another writer would, after a
        first login has made the Maildir."""
        self.conn().login().close()
        new = os.path.join(self.b.maildir(BOB), "new")
        st = wait_until(lambda: os.path.isdir(new) and os.stat(new),
                        what="the Maildir")
        for i in range(n):
            path = os.path.join(new, "%d.M%dP1.host" % (i, i))
            with open(path, "wb") as f:
                f.write(message("m%d" % i))
            os.chown(path, st.st_uid, st.st_gid)

    def assert_serving(self):
        """The imap process survived and serves a normal client."""
        self.assertIsNone(self.b.proc.poll(), self.b.logtext()[-3000:])
        self.assertEqual(self.role_pid("imap"), self.imap_pid)
        m = imaplib.IMAP4_SSL("127.0.0.1", self.b.imap_ports["imaps"],
                              ssl_context=tls_context(), timeout=20)
        try:
            self.assertEqual(m.login(BOB, PASSWORD)[0], "OK")
            self.assertEqual(m.select("INBOX")[0], "OK")
            self.assertEqual(m.noop()[0], "OK")
            m.logout()
        finally:
            try:
                m.shutdown()
            except OSError:
                pass
        self.assertIn("imap", self.b.boxctl("status").stdout)


class PreLogin(HostileCase):
    def test_literals_before_login_are_bounded_together(self):
        # 63 literals of 64 KiB each, never finished: without a password
        # a connection may not make the server hold megabytes
        base = rss_kb(self.imap_pid)
        chunk = b"x" * 65536
        conns = [self.conn("imap", tls=False) for _ in range(10)]
        for c in conns:
            c.send(b"a LOGIN {65536}\r\n")
            self.assertTrue(c.line().startswith(b"+"))
            c.send(chunk + b" {65536}\r\n")
            self.assertIn(b"TOOBIG", c.line())
            # and with LITERAL+ the server cannot refuse: it says so, and
            # closes
            c.send(b"b LOGIN {65536+}\r\n" + chunk + b" {1024+}\r\n")
            self.assertIn(b"TOOBIG", c.line())
            self.assertTrue(c.closed())
        self.assertLess(rss_kb(self.imap_pid) - base, 16 * 1024)
        self.assert_serving()


class Idle(HostileCase):
    def test_idle_news_waits_for_a_client_that_does_not_read(self):
        # another session changes every flag again and again while an
        # IDLE never reads: the news must not pile up in its output, and
        # once it reads, each message is told with the flags it has now
        self.fill_inbox(2000)
        a = self.conn().login()
        self.assertTrue(a.cmd(b"s", b"SELECT INBOX")[-1].startswith(b"s OK"))
        b = self.conn(rcvbuf=4096).login()
        self.assertTrue(b.cmd(b"s", b"SELECT INBOX")[-1].startswith(b"s OK"))
        b.send(b"i IDLE\r\n")
        self.assertTrue(b.line().startswith(b"+"))
        # long keywords make long FETCH lines: megabytes a STORE
        kw = b" ".join(b"$keyword%02d_%s" % (k, b"x" * 80)
                       for k in range(20))
        for i in range(12):
            last = a.cmd(b"s", b"STORE 1:* %sFLAGS.SILENT (%s)" %
                         (b"-" if i % 2 else b"+", kw))[-1]
            self.assertTrue(last.startswith(b"s OK"), last)
        b.send(b"DONE\r\n")
        lines = b.tagged(b"i")
        self.assertTrue(lines[-1].startswith(b"i OK"), lines[-1])
        flags = {}
        for line in lines:
            if b" FETCH " in line:
                flags[int(line.split()[1])] = b"$keyword" in line
        self.assertEqual(len(flags), 2000)
        self.assertFalse(any(flags.values()))
        # 12 changes of 2000 messages: far fewer lines than 24000
        self.assertLess(len(lines), 12000)
        self.assert_serving()


class Fetch(HostileCase):
    def test_many_sections_of_one_big_part(self):
        # each BODY[1] is a copy of the part until the message's answer
        # is whole: 60 of them asked of a 2 MB part are refused
        a = self.conn().login()
        body = (b"x" * 998 + b"\r\n") * 2000
        msg = (b"From: a@example.org\r\nSubject: big\r\n"
               b"MIME-Version: 1.0\r\n"
               b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n"
               b"--BB\r\nContent-Type: text/plain\r\n\r\n" + body +
               b"\r\n--BB--\r\n")
        last = a.cmd(b"a", b"APPEND INBOX {%d+}\r\n%s" % (len(msg), msg))[-1]
        self.assertTrue(last.startswith(b"a OK"), last)
        a.cmd(b"s", b"SELECT INBOX")
        last = a.cmd(b"f", b"FETCH 1 (%s)" %
                     b" ".join([b"BODY.PEEK[1]"] * 60))[-1]
        self.assertTrue(last.startswith(b"f NO [LIMIT]"), last)
        # what a client asks of a message is answered
        lines = a.cmd(b"g", b"FETCH 1 (BODY.PEEK[1] BINARY.PEEK[1] "
                      b"BODY.PEEK[1.MIME] BODY.PEEK[]<0.100>)")
        self.assertTrue(lines[-1].startswith(b"g OK"), lines[-1])
        self.assertIn(b"BINARY[1] {%d}" % len(body), b"".join(lines))
        self.assert_serving()


if __name__ == "__main__":
    unittest.main()
