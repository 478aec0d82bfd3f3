"""The mail store survives kill -9 of the imap process at any moment: in
the middle of a STORE on 2,000 messages, of a run of APPENDs, of an
EXPUNGE of many messages; and its index files (boxd.index, boxd.log,
boxd.cache) truncated, filled with garbage or deleted while boxd is
stopped.  Every message stays there once with its flags, UIDs stay
what they were under the same UIDVALIDITY, and no UID is given twice.
boxd is fail-stop: the death of imap stops the service, and the test
starts it again on the same storage."""

import itertools
import json
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from boxdtest import Boxd, gone  # noqa: E402

BOB = "bob@example.org"
PASSWORD = "correct horse battery"
INDEX_FILES = ("boxd.index", "boxd.log", "boxd.cache")


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def message(i):
    return ("From: alice@remote.test\r\nTo: %s\r\nSubject: msg %d\r\n"
            "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
            "Message-ID: <m%d@remote.test>\r\n\r\nbody %d\r\n" %
            (BOB, i, i, i)).encode()


def base(name):
    return name.split(":2,", 1)[0]


def contents(state):
    """What the messages are, whatever their UIDs: frozensets only
    partly order, so they are sorted as lists."""
    return sorted((subj, sorted(flags)) for flags, subj in state.values())


def wait_for(cond, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


class Session:
    """A raw IMAP session over implicit TLS: imaplib hides too much of
    what a test of a crash needs (a command sent, its answer not read)."""

    def __init__(self, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.s = tls_context().wrap_socket(s)
        self.f = self.s.makefile("rb")
        self.n = 0
        if not self.f.readline().startswith(b"* OK"):
            raise AssertionError("no greeting")
        self.cmd('LOGIN %s "%s"' % (BOB, PASSWORD))

    def send(self, line, literal=None):
        self.n += 1
        tag = b"t%d" % self.n
        if literal is not None:
            self.s.sendall(tag + b" " + line.encode() +
                           b" {%d+}\r\n" % len(literal) + literal + b"\r\n")
        else:
            self.s.sendall(tag + b" " + line.encode() + b"\r\n")
        return tag

    def answer(self, tag):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError("closed")
            # a literal's octets follow its line
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:
                line += self.f.read(int(m.group(1)))
                line += self.f.readline()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def cmd(self, line, literal=None, ok=True):
        lines = self.answer(self.send(line, literal))
        if ok and b" OK" not in lines[-1][:20]:
            raise AssertionError("%s: %r" % (line, lines[-1]))
        return lines

    def select(self, folder="INBOX"):
        lines = self.cmd("SELECT " + folder)
        for line in lines:
            m = re.search(rb"UIDVALIDITY (\d+)", line)
            if m:
                return int(m.group(1))
        raise AssertionError("no UIDVALIDITY")

    def uid_flags(self):
        """uid -> (set of flags, subject) of every message."""
        out = {}
        for line in self.cmd("UID FETCH 1:* (FLAGS BODY.PEEK[HEADER."
                             "FIELDS (SUBJECT)])"):
            m = re.match(rb"\* \d+ FETCH \(.*?UID (\d+)", line)
            if not m:
                continue
            uid = int(m.group(1))
            if uid in out:
                raise AssertionError("UID %d twice" % uid)
            flags = re.search(rb"FLAGS \(([^)]*)\)", line).group(1)
            subj = re.search(rb"Subject: ([^\r]*)", line)
            # \Recent is the session's, not the message's
            out[uid] = (frozenset(flags.split()) - {b"\\Recent"},
                        subj.group(1) if subj else None)
        return out

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class CrashCase(unittest.TestCase):
    def setUp(self):
        self.b = Boxd(imap=True)
        self.b.start()
        self.b.add_user(BOB, PASSWORD)
        self.sessions = []
        s = self.session()  # the Maildir and its folders exist now
        s.close()

    def tearDown(self):
        for s in self.sessions:
            s.close()
        self.b.stop()
        self.b.cleanup()

    def session(self):
        s = Session(self.b.imap_ports["imaps"])
        self.sessions.append(s)
        return s

    @property
    def inbox(self):
        return self.b.maildir(BOB)

    def cur(self):
        return os.listdir(os.path.join(self.inbox, "cur"))

    def imap_pid(self):
        out = self.b.boxctl("-j", "status").stdout
        for line in out.splitlines():
            row = json.loads(line)
            if row.get("role") == "imap":
                return row["pid"]
        raise AssertionError("no imap process")

    def kill_imap(self, pid):
        """kill -9 of imap alone; the parent then stops the service,
        and the next start needs the listeners its children hold."""
        kids = self.b.pids()[1:]
        os.kill(pid, signal.SIGKILL)
        self.b.proc.wait(30)
        wait_for(lambda: all(gone(k) for k in kids), what="the children")

    def restart(self):
        """Start again, after a clean stop if boxd still runs."""
        for s in self.sessions:
            s.close()
        self.sessions = []
        self.b.stop()
        self.b.start()

    def owner(self):
        st = os.stat(self.inbox)
        return st.st_uid, st.st_gid

    def own(self, path):
        """A file made by the test belongs to the Maildir's owner (boxd
        started as root runs imap as _boxmail)."""
        os.chown(path, *self.owner())

    def fill(self, n, flags=""):
        """n messages put into cur/ as another writer would."""
        d = os.path.join(self.inbox, "cur")
        for i in range(n):
            path = os.path.join(d, "1700000000.M%dP1.host,S=%d:2,%s" %
                                (i, len(message(i)), flags))
            with open(path, "wb") as f:
                f.write(message(i))
            self.own(path)


class Crash(CrashCase):
    def test_kill_during_store(self):
        self.fill(2000, "S")
        s = self.session()
        validity = s.select()
        before = s.uid_flags()
        self.assertEqual(len(before), 2000)
        pid = self.imap_pid()
        s.send("STORE 1:* +FLAGS (\\Flagged)")
        # killed once some renames are done (if not all already)
        wait_for(lambda: any("F" in n.split(":2,")[1] for n in self.cur()),
                 what="a rename")
        self.kill_imap(pid)
        names = self.cur()
        self.assertEqual(len(names), 2000)
        self.assertEqual(len({base(n) for n in names}), 2000)
        flagged = sum("F" in n.split(":2,")[1] for n in names)
        if os.environ.get("CRASH_DEBUG"):
            print("flagged at the kill:", flagged, file=sys.stderr)
        self.restart()
        s = self.session()
        self.assertEqual(s.select(), validity)
        after = s.uid_flags()
        self.assertEqual(set(after), set(before))
        nflagged = 0
        for uid, (flags, subj) in after.items():
            self.assertEqual(subj, before[uid][1])
            self.assertIn(flags, (before[uid][0],
                                  before[uid][0] | {b"\\Flagged"}))
            nflagged += b"\\Flagged" in flags
        # the names may lag the index (the renames follow the OK), never
        # lead it; what the log had the restart renames
        self.assertGreaterEqual(nflagged, flagged)
        wait_for(lambda: sum("F" in n.split(":2,")[1]
                             for n in self.cur()) == nflagged,
                 what="the renames the kill left")
        # and a second STORE completes
        s.cmd("STORE 1:* +FLAGS (\\Answered)")
        after = s.uid_flags()
        self.assertEqual(set(after), set(before))
        for uid, (flags, _) in after.items():
            self.assertIn(b"\\Answered", flags)
        self.restart()
        s = self.session()
        self.assertEqual(s.select(), validity)
        self.assertEqual(s.uid_flags(), after)

    def test_kill_during_appends(self):
        s = self.session()
        s.select()
        pid = self.imap_pid()
        okd = {}
        validity = None
        killer = None
        try:
            for i in range(5000):
                lines = s.cmd("APPEND INBOX (\\Seen)", message(i), ok=False)
                m = re.search(rb"OK \[APPENDUID (\d+) (\d+)\]", lines[-1])
                if not m:
                    break
                validity = int(m.group(1))
                uid = int(m.group(2))
                self.assertNotIn(uid, okd)
                okd[uid] = b"msg %d" % i
                if i == 50:
                    killer = threading.Thread(target=self.kill_imap,
                                              args=(pid,))
                    killer.start()
        except (ConnectionError, OSError):
            pass
        killer.join()
        self.assertGreater(len(okd), 50)
        self.restart()
        s = self.session()
        self.assertEqual(s.select(), validity)
        after = s.uid_flags()
        for uid, subj in okd.items():
            self.assertEqual(after[uid], (frozenset({b"\\Seen"}), subj))
        # at most the one APPEND under way when killed is there unanswered
        self.assertLessEqual(len(after) - len(okd), 1)
        top = max(after)
        lines = s.cmd("APPEND INBOX ()", message(9999))
        m = re.search(rb"APPENDUID (\d+) (\d+)", lines[-1])
        self.assertEqual(int(m.group(1)), validity)
        self.assertGreater(int(m.group(2)), top)

    def test_kill_during_expunge(self):
        self.fill(2000, "T")
        s = self.session()
        validity = s.select()
        before = s.uid_flags()
        top = max(before)
        pid = self.imap_pid()
        s.send("EXPUNGE")
        wait_for(lambda: len(self.cur()) < 2000, what="an unlink")
        self.kill_imap(pid)
        left = {base(n) for n in self.cur()}
        if os.environ.get("CRASH_DEBUG"):
            print("left at the kill:", len(left), file=sys.stderr)
        self.restart()
        s = self.session()
        v = s.select()
        after = s.uid_flags()
        self.assertEqual(len(after), len(left))
        subjects = {subj for _, subj in after.values()}
        self.assertEqual(len(subjects), len(after))
        if v == validity:
            for uid, entry in after.items():
                self.assertEqual(entry, before[uid])
        # a UID given now is above all given before
        lines = s.cmd("APPEND INBOX ()", message(9999))
        m = re.search(rb"APPENDUID (\d+) (\d+)", lines[-1])
        if int(m.group(1)) == validity:
            self.assertGreater(int(m.group(2)), top)


class DamagedIndex(CrashCase):
    maxDiff = None
    def damage(self, how, path):
        if how == "deleted":
            os.unlink(path)
        elif how == "truncated":
            size = os.path.getsize(path)
            with open(path, "r+b") as f:
                f.truncate(size // 2)
        elif how == "garbage":
            size = os.path.getsize(path)
            with open(path, "wb") as f:
                f.write(os.urandom(max(size, 64)))

    def prepare(self, uidlist, crash):
        """INBOX with messages of every flag, some expunged, a keyword,
        the cache filled; its state, and a copy of its index files as a
        clean stop or a crash (the log then holds the changes) left
        them."""
        if uidlist:
            self.fill(4, "S")
            names = sorted(self.cur())
            with open(os.path.join(self.inbox, "dovecot-uidlist"),
                      "w") as f:
                f.write("3 V1234 N11\n")
                for i, n in enumerate(names):
                    f.write("%d :%s\n" % (i + 7, base(n)))
            self.own(os.path.join(self.inbox, "dovecot-uidlist"))
        s = self.session()
        validity = s.select()
        for i, flags in enumerate(["()", "(\\Seen)", "(\\Deleted)",
                                   "(\\Answered \\Flagged)", "(\\Draft)",
                                   "(\\Deleted \\Seen)", "($Label1)",
                                   "(\\Seen $Junk)"]):
            s.cmd("APPEND INBOX %s" % flags, message(100 + i))
        s.cmd("UID EXPUNGE 1:*")
        s.cmd("STORE 1 +FLAGS (\\Seen)")
        s.cmd("FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
        state = s.uid_flags()
        if crash:
            self.kill_imap(self.imap_pid())
        s.close()
        self.b.stop()
        self.saved = os.path.join(self.b.dir, "saved")
        os.mkdir(self.saved)
        for name in INDEX_FILES:
            shutil.copy(os.path.join(self.inbox, name), self.saved)
        return validity, state

    def check_all(self, uidlist, crash=False):
        validity, state = self.prepare(uidlist, crash)
        if uidlist:
            # UIDs of boxd's own were given: the uidlist cannot rebuild
            self.assertEqual(validity, 1234)
            self.assertFalse(os.path.exists(
                os.path.join(self.inbox, "dovecot-uidlist")))
        files = set(self.cur())
        hows = ("intact", "truncated", "garbage", "deleted")
        for combo in itertools.product(hows, repeat=3):
            if combo == ("intact",) * 3:
                continue
            with self.subTest(combo=combo):
                for name, how in zip(INDEX_FILES, combo):
                    path = os.path.join(self.inbox, name)
                    if os.path.exists(path):
                        os.unlink(path)
                    shutil.copy(os.path.join(self.saved, name), path)
                    self.own(path)
                    if how != "intact":
                        self.damage(how, path)
                self.b.start()
                try:
                    s = self.session()
                    v = s.select()
                    after = s.uid_flags()
                    # all mail and flags, whatever the UIDs
                    self.assertEqual(contents(after), contents(state))
                    # a log cut short is what a crash leaves too: its
                    # lost records were then never made durable, and
                    # their UIDs never told; any other damage to the
                    # log means a new UIDVALIDITY
                    if v == validity and combo[1] != "truncated":
                        self.assertEqual(after, state)
                    if combo[:2] == ("intact", "intact"):
                        self.assertEqual(v, validity)
                    if combo[1] in ("garbage", "deleted"):
                        self.assertNotEqual(v, validity)
                    s.cmd("FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
                    # a new UID is above every one given before
                    lines = s.cmd("APPEND INBOX ()", message(999))
                    m = re.search(rb"APPENDUID (\d+) (\d+)", lines[-1])
                    if int(m.group(1)) == validity and \
                            combo[1] != "truncated":
                        self.assertGreater(int(m.group(2)), max(state))
                    uid = m.group(2).decode()
                    s.cmd("UID STORE %s +FLAGS (\\Deleted)" % uid)
                    s.cmd("UID EXPUNGE %s" % uid)
                finally:
                    for s in self.sessions:
                        s.close()
                    self.sessions = []
                    self.b.stop()
                    # the next case starts from the same Maildir
                    for n in set(self.cur()) - files:
                        os.unlink(os.path.join(self.inbox, "cur", n))

    def test_index_files_damaged(self):
        self.check_all(False)

    def test_index_files_damaged_with_uidlist(self):
        self.check_all(True)

    def test_index_files_damaged_after_a_crash(self):
        self.check_all(False, crash=True)

    def stop_and_delete_index(self):
        for s in self.sessions:
            s.close()
        self.sessions = []
        self.b.stop()
        for name in INDEX_FILES:
            path = os.path.join(self.inbox, name)
            if os.path.exists(path):
                os.unlink(path)
        self.b.start()

    def test_uidlist_rebuilds_until_boxd_gives_uids(self):
        self.fill(4, "S")
        with open(os.path.join(self.inbox, "dovecot-uidlist"), "w") as f:
            f.write("3 V1234 N11\n")
            for i, n in enumerate(sorted(self.cur())):
                f.write("%d :%s\n" % (i + 7, base(n)))
        self.own(os.path.join(self.inbox, "dovecot-uidlist"))
        s = self.session()
        self.assertEqual(s.select(), 1234)
        s.cmd("UID STORE 8 +FLAGS (\\Deleted)")
        state = s.uid_flags()
        self.assertEqual(sorted(state), [7, 8, 9, 10])
        # flags are in the names: the uidlist still rebuilds the folder
        self.stop_and_delete_index()
        s = self.session()
        self.assertEqual(s.select(), 1234)
        self.assertEqual(s.uid_flags(), state)
        # after an expunge it would not: 8 is gone, and a message the
        # uidlist does not know would get 11, which boxd gave before
        s.cmd("UID EXPUNGE 8")
        del state[8]
        lines = s.cmd("APPEND INBOX ()", message(999))
        self.assertIn(b"APPENDUID 1234 11]", lines[-1])
        state = s.uid_flags()
        self.stop_and_delete_index()
        s = self.session()
        self.assertNotEqual(s.select(), 1234)
        self.assertEqual(contents(s.uid_flags()), contents(state))


class MigratedOddities(CrashCase):
    """A Maildir copied in may hold what no mail server writes: a FIFO,
    a symlink or a directory under a message's name, a FIFO for an index
    file.  Opening one must not block the one imap process that serves
    every user."""

    def test_odd_files_do_not_block_imap(self):
        self.fill(2)
        cur = os.path.join(self.inbox, "cur")
        os.mkfifo(os.path.join(cur, "1700000001.M1P1.fifo,S=10:2,S"))
        os.symlink("/etc/passwd",
                   os.path.join(cur, "1700000002.M1P1.link,S=10:2,S"))
        os.mkdir(os.path.join(cur, "1700000003.M1P1.dir,S=10:2,S"))
        for name in ("dovecot-keywords", "dovecot-uidlist",
                     "subscriptions", "maildirsize"):
            path = os.path.join(self.inbox, name)
            if os.path.exists(path):
                os.unlink(path)
            os.mkfifo(path)
        for name in os.listdir(cur):
            os.lchown(os.path.join(cur, name), *self.owner())
        s = self.session()
        s.select()
        for lines in (s.cmd("FETCH 1:* (RFC822.SIZE)", ok=False),
                      s.cmd("FETCH 1:* (BODY.PEEK[] ENVELOPE)", ok=False),
                      s.cmd("SEARCH BODY nothing", ok=False),
                      s.cmd("COPY 1:* Archive", ok=False),
                      s.cmd('LSUB "" "*"', ok=False),
                      s.cmd("GETQUOTAROOT INBOX", ok=False)):
            self.assertTrue(lines[-1].startswith(b"t"), lines)
        # and imap still serves everyone
        other = self.session()
        self.assertEqual(len(other.uid_flags()) if other.select() else 0,
                         len(s.uid_flags()))
        self.assertNotIn(b"root:", b"".join(
            s.cmd("FETCH 1:* (BODY.PEEK[])", ok=False)))


if __name__ == "__main__":
    unittest.main()
