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
import select
import socket
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from boxdtest import Boxd, memory_as_released  # noqa: E402
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
        """Reads to EOF: True once the server has closed, False if it has
        not within timeout."""
        self.sock.settimeout(timeout)
        try:
            while self.f.readline():
                pass
        except socket.timeout:
            return False
        except OSError:
            pass
        return True

    def close(self):
        try:
            self.f.close()
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

    def open_files(self):
        """What the imap process has open, but the inotify instance that
        the first watched mailbox creates for good."""
        d = "/proc/%d/fd" % self.imap_pid
        files = []
        for fd in os.listdir(d):
            try:
                files.append(os.readlink(os.path.join(d, fd)))
            except FileNotFoundError:
                pass
        return sorted(f for f in files if f != "anon_inode:inotify")

    def assert_files_closed(self, before):
        """Every session has gone, and every file it had open with it."""
        try:
            wait_until(lambda: self.open_files() == before,
                       what="the sessions' files to close")
        except AssertionError:
            raise AssertionError("open before %s, now %s" %
                                 (before, self.open_files()))

    def fill_inbox(self, n):
        """n messages written into new/ as another writer would, after a
        first login has made the Maildir."""
        c = self.conn().login()
        c.send(b"o LOGOUT\r\n")
        # the server closes once the session and its files are gone
        self.assertTrue(c.closed())
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

    def test_overlong_commands_get_their_tag(self):
        # a client waits for the tag of its command: an overlong one is
        # answered with it, whether the line or the lines after a literal
        # are too long
        c = self.conn()
        c.send(b"t1 NOOP " + b"x" * 100000 + b"\r\n")
        self.assertTrue(c.line().startswith(b"t1 BAD"))
        c.send(b"t2 LOGIN {3}\r\n")
        self.assertTrue(c.line().startswith(b"+"))
        c.send(b"abc " + b"y" * 100000 + b"\r\n")
        self.assertTrue(c.line().startswith(b"t2 BAD"))
        c.login()
        c.send(b"t3 UID STORE " + b"1," * 50000 + b"2 +FLAGS (\\Seen)\r\n")
        self.assertTrue(c.line().startswith(b"t3 BAD"))
        self.assertTrue(c.cmd(b"t4", b"NOOP")[-1].startswith(b"t4 OK"))
        self.assert_serving()


class PerAddress(HostileCase):
    extra = "limit imap-connections 3 per-user 10"

    def test_every_way_out_gives_the_place_back(self):
        # sessions that end in every way: each gives its place under the
        # per-address limit back
        def ways():
            c = self.conn("imap", tls=False)  # goes at once
            yield c
            c = self.conn("imaps", tls=False, greeting=False)
            c.send(b"\x16\x03\x01garbage, not a handshake\r\n" * 10)
            yield c
            c = self.conn("imap", tls=False)
            c.send(b"x\r\n" * 25)  # too many errors: BYE
            self.assertTrue(c.closed())
            yield c
            c = self.conn("imap", tls=False)
            c.send(b"a STARTTLS\r\n")
            c.line()
            c.send(b"not TLS at all\r\n")
            yield c
            c = self.conn("pop3", tls=False)
            c.send(b"STLS\r\n")
            c.line()
            c.send(b"\x00" * 100)
            yield c
            c = self.conn().login()
            c.cmd(b"o", b"LOGOUT")
            yield c
            c = self.conn("pop3s")
            c.send(b"QUIT\r\n")
            yield c
        before = self.open_files()
        for _ in range(3):
            for c in ways():
                c.close()
                self.conns.remove(c)
        self.assert_files_closed(before)
        full = [self.conn() for _ in range(3)]
        for c in full:
            self.assertTrue(c.greeting.startswith(b"* OK"), c.greeting)
        extra = self.conn("imap", tls=False)
        self.assertTrue(extra.greeting.startswith(b"* BYE"), extra.greeting)
        for c in full:
            c.close()
        self.assert_files_closed(before)
        self.assert_serving()

    def test_input_before_tls_is_dropped(self):
        # what was pipelined after STARTTLS and STLS is not run inside TLS
        c = self.conn("imap", tls=False)
        c.send(b"a STARTTLS\r\nb LOGIN bob@example.org x\r\n")
        self.assertTrue(c.line().startswith(b"a OK"))
        t = tls_context().wrap_socket(c.sock)
        t.sendall(b"c NOOP\r\n")
        self.assertTrue(t.recv(1000).startswith(b"c OK"))
        t.close()
        p = self.conn("pop3", tls=False)
        p.send(b"STLS\r\nUSER bob@example.org\r\n")
        self.assertTrue(p.line().startswith(b"+OK"))
        t = tls_context().wrap_socket(p.sock)
        t.sendall(b"PASS %s\r\n" % PASSWORD.encode())
        self.assertTrue(t.recv(1000).startswith(b"-ERR"))
        t.close()
        self.assert_serving()


class PreLoginClock(HostileCase):
    extra = "timeout command 3s"

    def test_activity_does_not_keep_a_session_without_login(self):
        # a NOOP now and then, or a literal an octet at a time, does not
        # hold a connection without a password past the command timeout
        noop = self.conn("imap", tls=False)
        slow = self.conn("pop3s")
        slow.send(b"USER bob@example.org\r\n")
        lit = self.conn("imap", tls=False)
        lit.send(b"a LOGIN {100}\r\n")
        self.assertTrue(lit.line().startswith(b"+"))
        start = time.time()
        alive = [noop, slow, lit]
        while alive and time.time() - start < 20:
            for c in list(alive):
                try:
                    c.send(b"x" if c is lit else b"n NOOP\r\n")
                except OSError:
                    alive.remove(c)
            time.sleep(0.5)
        self.assertEqual(alive, [])
        self.assertLess(time.time() - start, 10)
        # a session that logs in late gets the clock of a logged-in one
        c = self.conn("imaps")
        time.sleep(2)
        c.login()
        time.sleep(2)
        self.assertTrue(c.cmd(b"n", b"NOOP")[-1].startswith(b"n OK"))
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

    def test_idle_without_a_line_end(self):
        # the read window fills and holds no line end: it is too long,
        # not a session stuck until the autologout
        a = self.conn().login()
        a.cmd(b"s", b"SELECT INBOX")
        a.send(b"i IDLE\r\n")
        self.assertTrue(a.line().startswith(b"+"))
        a.send(b"D" * 70000)
        self.assertTrue(a.line().startswith(b"* BYE"))
        self.assertTrue(a.closed())
        self.assert_serving()


def written_bytes(pid):
    """What the process has written with write(2) and its kind, files and
    sockets both."""
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    raise AssertionError("no wchar for %d" % pid)


class Append(HostileCase):
    def tmp_files(self):
        return os.listdir(os.path.join(self.b.maildir(BOB), "tmp"))

    def test_disconnect_in_the_middle_of_a_message(self):
        # the messages being written go, with their files, whenever the
        # client goes: mid-literal, between MULTIAPPEND's messages, with
        # LITERAL+ or without
        before = self.open_files()
        for i in range(6):
            a = self.conn().login()
            if i % 2:
                a.send(b"a APPEND INBOX {100000}\r\n")
                self.assertTrue(a.line().startswith(b"+"))
                a.send(b"x" * (50000 * i // 2))
            else:
                a.send(b"a APPEND INBOX {10+}\r\n0123456789 (\\Seen) "
                       b"{100000+}\r\n" + b"y" * 1000 * i)
            wait_until(lambda: self.tmp_files(),
                       what="APPEND's file in tmp/")
            a.close()
            self.conns.remove(a)
            wait_until(lambda: not self.tmp_files(),
                       what="tmp/ to be empty")
        self.assert_files_closed(before)
        self.assert_serving()

    def test_messages_of_one_append_are_bounded(self):
        # each message of an APPEND holds a file open until the command
        # ends: 60 of them would be 60 descriptors of one session
        a = self.conn().login()
        before = len(self.open_files())
        msg = message("m")
        one = b" {%d+}\r\n%s" % (len(msg), msg)
        a.send(b"a APPEND INBOX" + one * 15 + b" {100000+}\r\n")
        wait_until(lambda: len(self.tmp_files()) == 16,
                   what="16 files in tmp/")
        self.assertLess(len(self.open_files()) - before, 24)
        a.send(b"x" * 100000 + b"\r\n")
        last = a.tagged(b"a")[-1]
        self.assertRegex(last, rb"^a OK \[APPENDUID \d+ 1:16\]")
        last = a.cmd(b"b", b"APPEND INBOX" + one * 17)[-1]
        self.assertTrue(last.startswith(b"b BAD"), last)
        self.assertEqual(self.tmp_files(), [])
        self.assert_serving()

    def test_over_quota_is_refused_before_it_is_written(self):
        self.b.boxctl("user", "quota", BOB, "1M")
        a = self.conn().login()
        wrote = written_bytes(self.imap_pid)
        a.send(b"a APPEND INBOX {3000000}\r\n")
        self.assertTrue(a.line().startswith(b"+"))
        a.send(b"z" * 3000000 + b"\r\n")
        last = a.tagged(b"a")[-1]
        self.assertTrue(last.startswith(b"a NO [OVERQUOTA]"), last)
        # the message was read and dropped, not written to tmp/
        self.assertLess(written_bytes(self.imap_pid) - wrote, 500000)
        # what fits is taken
        msg = message("fits")
        last = a.cmd(b"b", b"APPEND INBOX {%d+}\r\n%s" % (len(msg), msg))[-1]
        self.assertTrue(last.startswith(b"b OK"), last)
        self.assertEqual(self.tmp_files(), [])
        self.assert_serving()


class Names(HostileCase):
    NAMES = [b"..", b".", b"../x", b"../../..", b"a/../b", b"/etc",
             b"/tmp/x", b"x/y", b"INBOX/..", b"INBOX/../..", b"~root",
             b"&AC8-", b"&AC4-", b"&AC4ALgAv-", b"x&AC8-..&AC8-y",
             b".x", b"x.", b"x..y", b"INBOX..", b".INBOX", b"inbox.cur",
             b"cur", b"new", b"tmp", b"&AC8-etc&AC8-passwd", b"x" * 300,
             b"&-", b"&AGE", b"&AGEAYQ-", b"&Jjo-&Jjo-", b'"a\\b"',
             b'"\\"', b"*", b"%", b"{3}\r\n../", b"~{3}\r\n../"]

    def tree(self, top):
        out = set()
        for root, dirs, files in os.walk(top):
            for n in dirs + files:
                out.add(os.path.relpath(os.path.join(root, n), top))
        return out

    def test_mailbox_names_stay_in_the_maildir(self):
        a = self.conn().login()
        a.cmd(b"s", b"SELECT INBOX")
        msg = message("x")
        a.cmd(b"a", b"APPEND INBOX {%d+}\r\n%s" % (len(msg), msg))
        storage = self.b.storage
        maildir = self.b.maildir(BOB)
        outside = {p for p in self.tree(storage)
                   if not p.startswith(os.path.relpath(maildir, storage))}
        for name in self.NAMES:
            for cmd in (b"CREATE %s", b"SELECT %s", b"EXAMINE %s",
                        b"STATUS %s (MESSAGES)", b"SUBSCRIBE %s",
                        b"RENAME Junk %s", b"RENAME %s Junk",
                        b"COPY 1 %s", b"GETQUOTAROOT %s", b"DELETE %s",
                        b"LIST \"\" %s", b"LIST %s *",
                        b"APPEND %s {1+}\r\nx", b"SELECT INBOX"):
                last = a.cmd(b"t", cmd.replace(b"%s", name))[-1]
                self.assertTrue(last.startswith(b"t "), (cmd, name, last))
        # nothing was made or changed outside the user's Maildir, and in
        # it only folders a name reaches, one level down
        now = {p for p in self.tree(storage)
               if not p.startswith(os.path.relpath(maildir, storage))}
        self.assertEqual(now, outside)
        for entry in os.listdir(maildir):
            self.assertNotIn(entry, ("..", "etc", "x", "b"))
            if os.path.isdir(os.path.join(maildir, entry)):
                self.assertTrue(entry in ("cur", "new", "tmp") or
                                entry.startswith("."), entry)
        self.assert_serving()


class Files(HostileCase):
    def test_sessions_leave_no_file_open(self):
        # FETCH reads the folder's cache file, STORE changes the folder:
        # when the last session leaves, the folder goes with its files
        self.fill_inbox(5)
        before = self.open_files()
        for i in range(5):
            a = self.conn().login()
            a.cmd(b"s", b"SELECT INBOX")
            a.cmd(b"f", b"FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
            a.cmd(b"t", b"STORE 1 +FLAGS (\\Flagged)")
            a.cmd(b"c", b"CREATE f%d" % i)
            a.cmd(b"l", b"LIST \"\" * RETURN (STATUS (MESSAGES SIZE))")
            a.cmd(b"o", b"LOGOUT")
            self.assertTrue(a.closed())
        self.assert_files_closed(before)
        self.assert_serving()


class AuthGone(HostileCase):
    extra = "limit imap-connections 100 per-user 3"

    def test_sessions_that_go_before_auth_answers(self):
        # auth's answers come for sessions already gone, IMAP and POP3,
        # AUTHENTICATE too; none of them keeps a place under the per-user
        # limit, and a password is not left in the log
        import base64
        plain = base64.b64encode(
            ("\0%s\0%s" % (BOB, PASSWORD)).encode())
        before = self.open_files()
        for i in range(30):
            if i % 3 == 0:
                c = self.conn("pop3s")
                c.send(b"USER %s\r\nPASS %s\r\n" % (BOB.encode(),
                                                      PASSWORD.encode()))
            elif i % 3 == 1:
                c = self.conn()
                c.send(b"a AUTHENTICATE PLAIN %s\r\n" % plain)
            else:
                c = self.conn()
                c.send(b'a LOGIN "%s" "%s"\r\nb SELECT INBOX\r\n'
                       b"c IDLE\r\n" % (BOB.encode(), PASSWORD.encode()))
            c.close()
            self.conns.remove(c)
        self.assert_files_closed(before)
        three = [self.conn().login() for _ in range(3)]
        self.assertTrue(three[2].cmd(b"n", b"NOOP")[-1].startswith(b"n OK"))
        for c in three:
            c.close()
        self.assert_files_closed(before)
        self.assert_serving()
        self.assertNotIn(PASSWORD, self.b.logtext())


def memory_holds(pid, needle):
    """The writable mappings of pid that hold needle (heap, anonymous)."""
    hits = []
    with open("/proc/%d/maps" % pid) as maps, \
            open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            f = line.split()
            if "w" not in f[1] or (len(f) > 5 and f[5].startswith("/")):
                continue
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            # AddressSanitizer's shadow: terabytes reserved, no heap in it
            if hi - lo > 1 << 32:
                continue
            chunk, found, prev = 1 << 26, False, b""
            for at in range(lo, hi, chunk):
                try:
                    mem.seek(at)
                    data = prev + mem.read(min(chunk, hi - at))
                except OSError:
                    break
                if needle in data:
                    found = True
                    break
                prev = data[-len(needle):]
            if found:
                hits.append(f[5] if len(f) > 5 else "anonymous")
    return hits


class Secrets(HostileCase):
    SECRET = "Zq8-unique-Pw-7731"

    def setUp(self):
        # what is freed is looked for: no sanitizer quarantine keeps it
        with memory_as_released():
            super().setUp()

    def test_passwords_do_not_stay_in_memory(self):
        # LOGIN, AUTHENTICATE PLAIN and POP3 PASS: once the sessions have
        # logged in, the password is in no buffer of the imap process that
        # held the command
        import base64
        self.b.add_user("eve@example.org", self.SECRET)
        plain = base64.b64encode(b"\0eve@example.org\0" +
                                 self.SECRET.encode())
        a = self.conn()
        a.cmd(b"a", b'LOGIN eve@example.org "%s"' % self.SECRET.encode())
        b = self.conn()
        b.cmd(b"b", b"AUTHENTICATE PLAIN %s" % plain)
        c = self.conn("pop3s")
        c.send(b"USER eve@example.org\r\nPASS %s\r\nSTAT\r\n" %
               self.SECRET.encode())
        for _ in range(3):
            self.assertTrue(c.line().startswith(b"+OK"))
        for conn, tag in ((a, b"n"), (b, b"m")):
            self.assertTrue(conn.cmd(tag, b"NOOP")[-1].startswith(tag +
                                                               b" OK"))
        try:
            # (the base64 of PLAIN may linger in TLS's freed buffers)
            held = memory_holds(self.imap_pid, self.SECRET.encode())
        except PermissionError:
            self.skipTest("cannot read the imap process's memory")
        self.assertEqual(held, [])
        self.assertNotIn(self.SECRET, self.b.logtext())
        self.assert_serving()


POP3_WORDS = [b"USER", b"PASS", b"STAT", b"LIST", b"RETR", b"DELE", b"NOOP",
              b"RSET", b"TOP", b"UIDL", b"CAPA", b"STLS", b"AUTH", b"QUIT",
              b"APOP", b"XTND"]


class Pop3(HostileCase):
    def test_malformed_pop3(self):
        self.fill_inbox(5)
        rng = random.Random(int(os.environ.get("IMAP_HOSTILE_SEED",
                                               time.time())))
        before = self.open_files()
        for n in range(20):
            c = self.conn(rng.choice(["pop3", "pop3s"]))
            if rng.random() < 0.5 and c.greeting.startswith(b"+OK") and \
                    isinstance(c.sock, ssl.SSLSocket):
                c.send(b"USER %s\r\nPASS %s\r\n" % (BOB.encode(),
                                                      PASSWORD.encode()))
            lines = []
            for _ in range(50):
                words = [rng.choice(POP3_WORDS)] + [
                    rng.choice([b"1", b"0", b"-1", b"99999999999", b"3 5",
                                b"1 18446744073709551616", b"*", b"PLAIN",
                                b"PLAIN =", b"x" * 300, b"\x00", b"2"])
                    for _ in range(rng.randrange(0, 3))]
                lines.append(b" ".join(words) + rng.choice(
                    [b"\r\n", b"\n", b"\r\r\n"]))
            try:
                c.send(b"".join(lines) + b"QUIT\r\n")
                if rng.random() < 0.5:
                    # reads what it asked for, RETRs and all (a QUIT
                    # taken as AUTH's response leaves it open)
                    c.closed(2)
            except OSError:
                pass
            c.close()
            self.conns.remove(c)
        self.assert_files_closed(before)
        self.assert_serving()
        # the maildrop is free again
        import poplib
        p = poplib.POP3_SSL("127.0.0.1", self.b.imap_ports["pop3s"],
                            context=tls_context(), timeout=20)
        p.user(BOB)
        p.pass_(PASSWORD)
        p.stat()
        p.quit()


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


COMMANDS = [b"CAPABILITY", b"NOOP", b"LOGOUT", b"STARTTLS", b"LOGIN",
            b"AUTHENTICATE", b"ID", b"ENABLE", b"NAMESPACE", b"IDLE",
            b"SELECT", b"EXAMINE", b"CREATE", b"DELETE", b"RENAME",
            b"SUBSCRIBE", b"UNSUBSCRIBE", b"LIST", b"LSUB", b"STATUS",
            b"APPEND", b"GETQUOTA", b"GETQUOTAROOT", b"SETQUOTA", b"CHECK",
            b"CLOSE", b"UNSELECT", b"EXPUNGE", b"SEARCH", b"FETCH",
            b"STORE", b"COPY", b"MOVE", b"SORT", b"THREAD", b"UID FETCH",
            b"UID STORE", b"UID COPY", b"UID MOVE", b"UID EXPUNGE",
            b"UID SEARCH", b"UID NOOP", b"XYZZY", b"", b"UID"]
WORDS = [b"INBOX", b"inbox.x", b"../etc", b"/etc/passwd", b"..", b".",
         b"a.b..c", b".hidden", b"&AC8-", b"&AC4-", b"&Jjo-", b"&-", b"&",
         b"&ZeVnLIqe-", b"*", b"%", b"1:*", b"*:1", b"$", b"1,2,3:5",
         b"4294967295", b"4294967296:1", b"0", b"0:0", b"1:4294967295",
         b"(FLAGS)", b"BODY[]", b"BODY.PEEK[1.2.3.MIME]<0.10>",
         b"BODY[HEADER.FIELDS (FROM TO)]", b"BINARY[1]", b"BODY[",
         b"BODY[]<1.2.3>", b"(\\Seen \\Deleted $x)", b"+FLAGS",
         b"-FLAGS.SILENT", b"(\\Recent)", b"\\*", b"NIL", b"()",
         b"(((((((((((())))))))))))", b"RETURN", b"(CHILDREN)",
         b"(MESSAGES UIDNEXT SIZE)", b"CHARSET", b"UTF-8", b"ALL",
         b"(CHANGEDSINCE 1)", b"(UNCHANGEDSINCE 0)", b"(QRESYNC (1 1))",
         b"IMAP4rev2", b"CONDSTORE", b"QRESYNC", b"UTF8=ACCEPT",
         b"PLAIN", b"=", b"AGJvYgB4", b"\"quoted \\\" string\"",
         b"\"unterminated", b"\"\xff\xfe\"", b"{5}", b"{0}", b"~{3}",
         b"{18446744073709551616}", b"{-1}", b"{1+}", b")", b"(", b"[",
         b"]", b"\x00", b"\r", b"\xc3\x28"]


def random_set(rng):
    parts = []
    for _ in range(rng.randrange(1, 4)):
        a = rng.choice([b"1", b"2", b"*", b"0", b"3", b"4294967295",
                        b"99999999999", b"17"])
        if rng.random() < 0.5:
            a += b":" + rng.choice([b"*", b"5", b"1", b"4294967295"])
        parts.append(a)
    return rng.choice([b",".join(parts), b"$", b"1:*"])


def random_name(rng):
    return rng.choice(WORDS[:14] + [b"Trash", b"Sent", b"new", b"cur",
                                    b"tmp", b"INBOX.cur", b"INBOX/x",
                                    b"x" * 300, b'"a b"', b'""'])


def random_args(rng, name):
    """Arguments that look like the command's, to reach further in."""
    if name in (b"FETCH", b"UID FETCH"):
        items = [rng.choice([b"FLAGS", b"UID", b"ENVELOPE", b"BODY",
                             b"BODYSTRUCTURE", b"RFC822.SIZE",
                             b"INTERNALDATE", b"BODY.PEEK[]",
                             b"BODY[HEADER]", b"BODY[1]<0.5>", b"BINARY[1]",
                             b"BINARY.SIZE[1]", b"BODY[1.MIME]",
                             b"BODY[HEADER.FIELDS (Subject)]", b"MODSEQ",
                             b"RFC822", b"BODY[TEXT]<5.9999999999>"])
                 for _ in range(rng.randrange(1, 6))]
        return [random_set(rng), b"(" + b" ".join(items) + b")"] + \
            rng.choice([[], [b"(CHANGEDSINCE 1)"],
                        [b"(CHANGEDSINCE 1 VANISHED)"]])
    if name in (b"STORE", b"UID STORE"):
        return [random_set(rng),
                rng.choice([b"+FLAGS", b"-FLAGS.SILENT", b"FLAGS"]),
                b"(" + b" ".join(rng.choice(
                    [b"\\Seen", b"\\Deleted", b"$kw", b"\\Recent",
                     b"\\Bogus", b"kw%d" % rng.randrange(40)])
                    for _ in range(rng.randrange(0, 4))) + b")"]
    if name in (b"COPY", b"MOVE", b"UID COPY", b"UID MOVE"):
        return [random_set(rng), random_name(rng)]
    if name in (b"SELECT", b"EXAMINE", b"CREATE", b"DELETE", b"SUBSCRIBE",
                b"UNSUBSCRIBE", b"GETQUOTAROOT"):
        return [random_name(rng)]
    if name == b"RENAME":
        return [random_name(rng), random_name(rng)]
    if name in (b"LIST", b"LSUB"):
        return [rng.choice([b'""', random_name(rng)]),
                rng.choice([b"*", b"%", b"*.*.*.*.*%%%*", random_name(rng),
                            b"(* %)"])]
    if name == b"STATUS":
        return [random_name(rng), b"(MESSAGES UNSEEN SIZE HIGHESTMODSEQ)"]
    if name == b"UID EXPUNGE":
        return [random_set(rng)]
    if name in (b"SEARCH", b"UID SEARCH"):
        return [rng.choice([b"ALL", b"UNSEEN", b"SUBJECT x",
                            b"OR (FROM a) (TO b)", b"NOT NOT NOT ALL",
                            random_set(rng)])]
    return [rng.choice(WORDS) for _ in range(rng.randrange(0, 4))]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(data) + 1)
        op = rng.randrange(3)
        if op == 0 and i < len(data):
            del data[i]
        elif op == 1 and i < len(data):
            data[i] = rng.randrange(256)
        else:
            data[i:i] = bytes([rng.choice(b"(){}[]\"% *\\\r\n\x00~+")])
    return bytes(data)


def random_command(rng, tag):
    """One command (a line, or lines and literals), many of them wrong."""
    kind = rng.random()
    if kind > 0.9:
        # back to a selected mailbox, where most commands work
        return tag + b" SELECT INBOX\r\n"
    if kind < 0.05:
        n = rng.randrange(0, 300)
        return bytes(rng.randrange(256) for _ in range(n)).replace(
            b"\n", b"") + b"\r\n"
    name = rng.choice(COMMANDS)
    line = b" ".join([tag, name] + random_args(rng, name))
    if name == b"IDLE":
        return line + b"\r\n" + rng.choice([b"DONE", b"NOPE", b""]) + \
            b"\r\n"
    if name == b"APPEND" or kind < 0.2:
        # a literal, honest or not about its size
        size = rng.randrange(0, 300)
        plus = rng.choice([b"", b"+"])
        msg = message("r%d" % size)[:size]
        if rng.random() < 0.2:
            msg = msg[:size // 2]
        line = b" ".join([tag, name, random_name(rng)]) \
            if name == b"APPEND" else line
        line += b" {%d%s}\r\n" % (size, plus) + msg + b"\r\n"
    else:
        line += rng.choice([b"\r\n"] * 8 + [b"\n", b"\r\r\n"])
    if rng.random() < 0.3:
        line = mutate(rng, line)
    return line


class Garbage(HostileCase):
    extra = "limit imap-connections 100 per-user 100"

    def drain(self, c):
        """Counts the lines the server has sent so far; EOFError once it
        has closed."""
        while True:
            try:
                reply = c.sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError,
                    BlockingIOError):
                return
            if not reply:
                raise EOFError
            with self.lock:
                self.replies += reply.count(b"\n")

    def hammer(self, seed, login, count):
        rng = random.Random(seed)
        sent = 0
        while sent < count:
            try:
                c = Conn(self.b.imap_ports["imaps" if login else "imap"],
                         tls=login)
                if login:
                    c.login()
                    c.cmd(b"S", b"SELECT INBOX")
                c.sock.setblocking(False)
            except (OSError, AssertionError):
                sent += 1
                continue
            try:
                while sent < count:
                    data = random_command(rng, b"t%d" % sent)
                    sent += 1
                    while data:
                        self.drain(c)
                        try:
                            n = c.sock.send(data[:16384])
                            data = data[n:]
                        except (ssl.SSLWantReadError, ssl.SSLWantWriteError,
                                BlockingIOError):
                            select.select([c.sock], [c.sock], [], 1)
                # the answers to the last commands, until the server has
                # said all it will
                idle = time.time() + 2
                while time.time() < idle:
                    if select.select([c.sock], [], [], 0.2)[0]:
                        self.drain(c)
                        idle = time.time() + 2
            except (OSError, EOFError, ValueError):
                pass
            finally:
                c.close()

    def test_thousands_of_malformed_commands(self):
        seed = int(os.environ.get("IMAP_HOSTILE_SEED", time.time()))
        print("seed", seed, file=sys.stderr)
        fds = self.open_files()
        self.fill_inbox(20)
        self.lock = threading.Lock()
        self.replies = 0
        threads = [threading.Thread(target=self.hammer,
                                    args=(seed + i, i % 2 == 0, 200))
                   for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
            self.assertFalse(t.is_alive())
        # most commands were answered (the last ones may not have been
        # read before the connection went)
        print("replies", self.replies, file=sys.stderr)
        self.assertGreater(self.replies, 5000)
        self.assert_serving()
        # every session has gone, with its descriptors
        self.assert_files_closed(fds)


if __name__ == "__main__":
    unittest.main()
