"""A selected folder that goes away under its sessions, with imaplib
against a real boxd: DELETE and RENAME by another session, RENAME of
INBOX, rm -r and mv of the folder's directory by a person.  The sessions
that have it selected hear "* BYE" at their next command, at once in
IDLE, as Dovecot does (the last test runs the same script against
Debian's Dovecot); none goes on serving what is gone, and the name opens
afresh.  And dovecot-keywords rewritten by another writer is read again,
so that a letter new in file names has its keyword's name."""

import imaplib
import json
import os
import select
import shutil
import socket
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dovecot  # noqa: E402
from boxdtest import Boxd  # noqa: E402

BOB = "bob@example.org"
PASSWORD = "correct horse battery"
# the longest a session in IDLE may wait to hear of it
IDLE_LIMIT = 2.0


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def message(subject):
    return ("From: alice@remote.test\r\nTo: %s\r\nSubject: %s\r\n"
            "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
            "Message-ID: <%s@remote.test>\r\n\r\nhello\r\n" %
            (BOB, subject, subject.replace(" ", "."))).encode()


def wait_for(cond, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def subjects(m):
    typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = []
    for item in data:
        if isinstance(item, tuple):
            out.append(item[1].decode().split(":", 1)[1].strip())
    return sorted(out)


class Idle:
    """A session in IDLE, its lines read by a thread as they come."""

    def __init__(self, m):
        self.m = m
        self.tag = m._new_tag()
        m.send(self.tag + b" IDLE\r\n")
        # news that was waiting comes before the continuation
        self.before = []
        line = m.readline()
        while line.startswith(b"* "):
            self.before.append(line)
            line = m.readline()
        if not line.startswith(b"+"):
            raise AssertionError("IDLE refused: %r" % line)
        self.lines = []
        self.closed = threading.Event()
        self.t = threading.Thread(target=self.read, daemon=True)
        self.t.start()

    def read(self):
        while True:
            try:
                line = self.m.readline()
            except (OSError, imaplib.IMAP4.abort):
                line = b""
            if not line:
                self.closed.set()
                return
            self.lines.append(line)

    def bye(self, timeout=IDLE_LIMIT):
        """The BYE line, heard within timeout, and then the close."""
        start = time.time()
        line = wait_for(lambda: next((x for x in self.lines
                                      if x.startswith(b"* BYE")), None),
                        timeout=20, what="BYE in IDLE")
        took = time.time() - start
        if not self.closed.wait(20):
            raise AssertionError("not closed after BYE")
        return line, took


class FolderCase(unittest.TestCase):
    def setUp(self):
        self.b = Boxd(imap=True)
        self.b.start()
        self.b.boxctl("domain", "add", "example.org")
        self.b.add_user(BOB, PASSWORD)
        self.clients = []
        self.md = self.b.maildir(BOB)

    def tearDown(self):
        for c in self.clients:
            try:
                # an IDLE reader thread would hold the file until timeout
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.shutdown()
            except Exception:
                pass
        alive = self.b.proc.poll() is None
        log = self.b.logtext()
        self.b.stop()
        self.b.cleanup()
        self.assertTrue(alive, "boxd died:\n" + log)
        self.assertNotIn("cannot rescan", log)

    def connect(self):
        m = imaplib.IMAP4("127.0.0.1", self.b.imap_ports["imap"],
                          timeout=20)
        self.clients.append(m)
        m.starttls(tls_context())
        m.login(BOB, PASSWORD)
        return m

    def folder(self, name, n=2):
        """A folder with n messages, made by a session of its own."""
        m = self.connect()
        self.assertEqual(m.create(name)[0], "OK")
        for i in range(n):
            m.append(name, None, None, message("%s %d" % (name, i)))
        m.logout()

    def selected(self, name):
        m = self.connect()
        typ, data = m.select(name)
        self.assertEqual(typ, "OK", data)
        return m

    def assertBye(self, m, *cmd):
        """The session's next command gets BYE, and the session ends."""
        with self.assertRaises(imaplib.IMAP4.abort) as cm:
            if cmd:
                getattr(m, cmd[0])(*cmd[1:])
            else:
                m.noop()
        self.assertIn("deleted or renamed", str(cm.exception))
        # nothing more is served on it
        with self.assertRaises((imaplib.IMAP4.abort, OSError)):
            m.noop()

    def imap_fds(self):
        """How many descriptors the imap process has open."""
        for line in self.b.boxctl("-j", "status").stdout.splitlines():
            row = json.loads(line)
            if row.get("role") == "imap":
                return len(os.listdir("/proc/%d/fd" % row["pid"]))
        raise AssertionError("no imap process")

    def owner(self):
        st = os.stat(self.md)
        return st.st_uid, st.st_gid

    def chown_tree(self, top):
        uid, gid = self.owner()
        os.chown(top, uid, gid)
        for root, dirs, files in os.walk(top):
            for n in dirs + files:
                os.lchown(os.path.join(root, n), uid, gid)


class DeleteElsewhere(FolderCase):
    def test_two_sessions_told_at_next_command(self):
        self.folder("Work")
        a, c = self.selected("Work"), self.selected("Work")
        self.assertEqual(a.fetch("1:*", "(FLAGS)")[0], "OK")
        b = self.connect()
        self.assertEqual(b.delete("Work")[0], "OK")
        # not a word until it asks (a close now could cost it the BYE)
        readable, _, _ = select.select([a.sock], [], [], 0.3)
        self.assertEqual(readable, [])
        self.assertBye(a)
        self.assertBye(c, "fetch", "1:*", "(FLAGS)")
        # the name is free and what opens under it is new
        self.assertEqual(b.create("Work")[0], "OK")
        typ, data = b.select("Work")
        self.assertEqual(data, [b"0"])
        d = self.selected("Work")
        self.assertEqual(d.fetch("1:*", "(FLAGS)")[1], [None])
        b.append("Work", None, None, message("fresh"))
        d.noop()
        self.assertEqual(subjects(d), ["fresh"])

    def test_idle_told_at_once(self):
        self.folder("Work")
        a = self.selected("Work")
        idle = Idle(a)
        b = self.connect()
        self.assertEqual(b.delete("Work")[0], "OK")
        line, took = idle.bye()
        self.assertIn(b"deleted or renamed", line)
        self.assertLess(took, IDLE_LIMIT)

    def test_one_idles_one_waits_one_elsewhere(self):
        self.folder("Work")
        self.folder("Other", 1)
        a, c = self.selected("Work"), self.selected("Work")
        other = self.selected("Other")
        idle = Idle(a)
        b = self.connect()
        self.assertEqual(b.delete("Work")[0], "OK")
        idle.bye()
        self.assertBye(c)
        # a session on another folder goes on as it was
        self.assertEqual(other.noop()[0], "OK")
        self.assertEqual(subjects(other), ["Other 0"])
        self.assertEqual(b.select("Work")[0], "NO")

    @unittest.skipUnless(os.geteuid() == 0, "reads /proc/PID/fd of imap")
    def test_nothing_left_open(self):
        b = self.connect()
        b.select("INBOX")
        before = self.imap_fds()
        for i in range(5):
            self.folder("Work")
            a, c = self.selected("Work"), self.selected("Work")
            idle = Idle(c)
            if i % 2:
                os.rename(os.path.join(self.md, ".Work"),
                          os.path.join(self.md, ".Moved%d" % i))
            else:
                self.assertEqual(b.delete("Work")[0], "OK")
            idle.bye()
            self.assertBye(a)
            for m in (a, c):
                self.clients.remove(m)
                try:
                    m.shutdown()
                except OSError:
                    pass
        # the sessions gone, their folders closed: as many as before
        wait_for(lambda: self.imap_fds() == before,
                 what="imap's descriptors back to %d, not %d" %
                 (before, self.imap_fds()))

    def test_own_selected_folder_is_in_use(self):
        self.folder("Work")
        a = self.selected("Work")
        typ, data = a.delete("Work")
        self.assertEqual(typ, "NO")
        self.assertIn(b"INUSE", data[0])
        self.assertEqual(subjects(a), ["Work 0", "Work 1"])


class Churn(FolderCase):
    def test_made_selected_and_removed_again_and_again(self):
        """Twelve rounds of a folder made, selected by two sessions (one
        in IDLE), then deleted, renamed, removed or moved by turns, and
        made again under the same name at once: every session on it
        hears BYE, the new one opens empty, imap stays up."""
        b = self.connect()
        for i in range(12):
            self.assertEqual(b.create("Spin")[0], "OK")
            b.append("Spin", None, None, message("round %d" % i))
            a, c = self.selected("Spin"), self.selected("Spin")
            self.assertEqual(subjects(a), ["round %d" % i])
            idle = Idle(c)
            how = i % 4
            if how == 0:
                self.assertEqual(b.delete("Spin")[0], "OK")
            elif how == 1:
                self.assertEqual(b.rename("Spin", "Spun%d" % i)[0], "OK")
            elif how == 2:
                shutil.rmtree(os.path.join(self.md, ".Spin"))
            else:
                os.rename(os.path.join(self.md, ".Spin"),
                          os.path.join(self.md, ".Spun%d" % i))
            idle.bye()
            self.assertBye(a)
            for m in (a, c):
                self.clients.remove(m)
                try:
                    m.shutdown()
                except OSError:
                    pass
        self.assertEqual(b.create("Spin")[0], "OK")
        d = self.selected("Spin")
        self.assertEqual(d.fetch("1:*", "(FLAGS)")[1], [None])
        typ, data = b.list()
        self.assertEqual(sum(b"Spun" in x for x in data), 6)


class RenameElsewhere(FolderCase):
    def test_renamed_by_another_session(self):
        self.folder("Work")
        a, c = self.selected("Work"), self.selected("Work")
        a.store("1", "+FLAGS", "(\\Flagged project)")
        b = self.connect()
        self.assertEqual(b.rename("Work", "Done")[0], "OK")
        self.assertBye(a)
        self.assertBye(c)
        self.assertEqual(b.select("Work")[0], "NO")
        d = self.selected("Done")
        self.assertEqual(subjects(d), ["Work 0", "Work 1"])
        typ, data = d.fetch("1", "(FLAGS)")
        self.assertIn(b"\\Flagged", data[0])
        self.assertIn(b"project", data[0])

    def test_renamed_in_idle_and_children(self):
        self.folder("Projects")
        self.folder("Projects.2026")
        a = self.selected("Projects.2026")
        c = self.selected("Projects")
        idle_a, idle_c = Idle(a), Idle(c)
        b = self.connect()
        self.assertEqual(b.rename("Projects", "Old")[0], "OK")
        for idle in (idle_a, idle_c):
            line, took = idle.bye()
            self.assertLess(took, IDLE_LIMIT)
        d = self.selected("Old.2026")
        self.assertEqual(subjects(d), ["Projects.2026 0", "Projects.2026 1"])

    def test_own_rename_answered_then_bye(self):
        self.folder("Work")
        a = self.selected("Work")
        typ, data = a.rename("Work", "Done")
        self.assertEqual(typ, "OK", data)
        self.assertBye(a)
        self.assertEqual(subjects(self.selected("Done")),
                         ["Work 0", "Work 1"])


class RenameInbox(FolderCase):
    def test_sessions_on_inbox_see_expunges(self):
        m = self.connect()
        for i in range(3):
            m.append("INBOX", None, None, message("inbox %d" % i))
        a, c = self.selected("INBOX"), self.selected("INBOX")
        a.store("2", "+FLAGS", "(\\Seen travel)")
        idle = Idle(c)
        b = self.connect()
        self.assertEqual(b.rename("INBOX", "Old")[0], "OK")
        # in IDLE at once, three EXPUNGEs (each of message 1 in turn)
        wait_for(lambda: sum(x.endswith(b" EXPUNGE\r\n")
                             for x in idle.lines) == 3,
                 timeout=IDLE_LIMIT, what="EXPUNGEs in IDLE")
        self.assertFalse(idle.closed.is_set())
        c.send(b"DONE\r\n")
        a.untagged_responses.clear()
        self.assertEqual(a.noop()[0], "OK")
        self.assertEqual(a.untagged_responses.get("EXPUNGE"),
                         [b"1", b"1", b"1"])
        self.assertEqual(a.fetch("1:*", "(FLAGS)")[1], [None])
        # INBOX stays, empty; its messages, flags and keywords moved
        d = self.selected("Old")
        self.assertEqual(subjects(d),
                         ["inbox 0", "inbox 1", "inbox 2"])
        typ, data = d.search(None, "KEYWORD", "travel")
        self.assertEqual(data, [b"2"])
        b.append("INBOX", None, None, message("after"))
        self.assertEqual(a.noop()[0], "OK")
        self.assertEqual(subjects(a), ["after"])


class OutsideWriters(FolderCase):
    """A person with rm and mv, or a script, on the Maildir itself."""

    def test_rm_of_the_directory(self):
        self.folder("Work")
        a, c = self.selected("Work"), self.selected("Work")
        idle = Idle(c)
        shutil.rmtree(os.path.join(self.md, ".Work"))
        line, took = idle.bye()
        self.assertLess(took, IDLE_LIMIT)
        self.assertBye(a)
        b = self.connect()
        self.assertEqual(b.select("Work")[0], "NO")

    def test_mv_of_the_directory(self):
        self.folder("Work")
        a, c = self.selected("Work"), self.selected("Work")
        typ, uv = a.response("UIDVALIDITY")
        idle = Idle(c)
        os.rename(os.path.join(self.md, ".Work"),
                  os.path.join(self.md, ".Moved"))
        line, took = idle.bye()
        self.assertLess(took, IDLE_LIMIT)
        self.assertBye(a)
        # the index went with the directory: the same UIDs under it
        d = self.selected("Moved")
        self.assertEqual(d.response("UIDVALIDITY")[1], uv)
        self.assertEqual(subjects(d), ["Work 0", "Work 1"])

    def test_removed_and_made_again_before_anyone_looked(self):
        self.folder("Work")
        a = self.selected("Work")
        typ, old_uv = a.response("UIDVALIDITY")
        # a fresh folder of the same name, with one message of its own
        shutil.rmtree(os.path.join(self.md, ".Work"))
        top = os.path.join(self.md, ".Work")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(top, sub))
        with open(os.path.join(top, "cur", "1.M1P1.host:2,S"), "wb") as f:
            f.write(message("made by hand"))
        self.chown_tree(top)
        d = self.selected("Work")
        self.assertEqual(subjects(d), ["made by hand"])
        self.assertNotEqual(d.response("UIDVALIDITY")[1], old_uv)
        self.assertBye(a)

    def test_keywords_file_rewritten(self):
        self.folder("Work")
        a = self.selected("Work")
        a.store("1", "+FLAGS", "(first)")
        top = os.path.join(self.md, ".Work")
        kw = os.path.join(top, "dovecot-keywords")
        with open(kw) as f:
            self.assertEqual(f.read(), "0 first\n")
        # another writer adds a keyword and gives it to message 2, as
        # Dovecot does: the file (a new one, renamed over), then the name
        with open(kw + ".tmp", "w") as f:
            f.write("0 first\n1 second\n")
        os.rename(kw + ".tmp", kw)
        cur = os.path.join(top, "cur")
        # STORE renames its file just after its OK
        wait_for(lambda: any(n.endswith(":2,a") for n in os.listdir(cur)),
                 what="message 1 renamed with its keyword")
        names = sorted(os.listdir(cur))
        second = [n for n in names if "b" not in n.split(":2,")[1]
                  and "a" not in n.split(":2,")[1]]
        self.assertEqual(len(second), 1, names)
        base = second[0].split(":2,")[0]
        os.rename(os.path.join(cur, second[0]),
                  os.path.join(cur, base + ":2,Sb"))
        a.untagged_responses.clear()
        self.assertEqual(a.noop()[0], "OK")
        flags = a.untagged_responses.get("FLAGS", [b""])[-1]
        self.assertIn(b"second", flags)
        typ, data = a.fetch("2", "(FLAGS)")
        self.assertIn(b"second", data[0])
        self.assertIn(b"\\Seen", data[0])
        # edited in place (same inode, other size): read again too
        with open(kw, "w") as f:
            f.write("0 first\n1 second\n2 third\n")
        names = sorted(os.listdir(cur))
        one = [n for n in names if n.split(":2,")[1] == "a"]
        self.assertEqual(len(one), 1, names)
        os.rename(os.path.join(cur, one[0]),
                  os.path.join(cur, one[0] + "c"))
        typ, data = a.fetch("1", "(FLAGS)")
        wait_for(lambda: b"third" in a.fetch("1", "(FLAGS)")[1][0],
                 what="third in FLAGS")
        # a keyword boxd makes now keeps the other writer's letters
        a.store("2", "+FLAGS", "(fourth)")
        with open(kw) as f:
            self.assertEqual(f.read(),
                             "0 first\n1 second\n2 third\n3 fourth\n")
        typ, data = a.search(None, "KEYWORD", "second")
        self.assertEqual(data, [b"2"])
        # a letter named anew: FLAGS is told again before FETCH has it
        with open(kw, "w") as f:
            f.write("0 premier\n1 second\n2 third\n3 fourth\n")
        a.untagged_responses.clear()
        self.assertEqual(a.noop()[0], "OK")
        self.assertIn(b"premier", a.untagged_responses["FLAGS"][-1])
        typ, data = a.fetch("1", "(FLAGS)")
        self.assertIn(b"premier", data[0])
        # a new session sees the same names
        d = self.selected("Work")
        typ, data = d.fetch("1:*", "(FLAGS)")
        self.assertIn(b"third", data[0])
        self.assertIn(b"fourth", data[1])


@unittest.skipUnless(os.geteuid() == 0 and os.path.exists(dovecot.DOVECOT),
                     "Dovecot must run as root")
class LikeDovecot(unittest.TestCase):
    """The same two-session script against Dovecot and boxd: both say
    BYE to the session whose folder another session deleted."""

    def script(self, port, starttls):
        def conn():
            m = imaplib.IMAP4("127.0.0.1", port, timeout=20)
            if starttls:
                m.starttls(tls_context())
            m.login(BOB, PASSWORD)
            return m
        b = conn()
        b.create("Work")
        b.append("Work", None, None, message("one"))
        a = conn()
        a.select("Work")
        b.delete("Work")
        try:
            a.noop()
        except imaplib.IMAP4.abort as e:
            return "BYE" if a.untagged_responses.get("BYE") else \
                "abort: %s" % e
        return "OK"

    def test_same_answer(self):
        d = dovecot.Dovecot()
        self.addCleanup(d.cleanup)
        d.add_user(BOB, PASSWORD)
        d.start()
        theirs = self.script(d.ports["imap"], False)
        b = Boxd(imap=True)
        self.addCleanup(b.cleanup)
        self.addCleanup(b.stop)
        b.start()
        b.boxctl("domain", "add", "example.org")
        b.add_user(BOB, PASSWORD)
        ours = self.script(b.imap_ports["imap"], True)
        self.assertEqual(theirs, "BYE")
        self.assertEqual(ours, theirs)


if __name__ == "__main__":
    unittest.main()
