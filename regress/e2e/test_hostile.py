"""boxd against hostile SMTP clients: clients that never read, a spool
that cannot be created, more clients than descriptors, slowloris, giant
envelopes, recipient harvesting, garbage, per-address limits.  After each
test no boxd process has died and a normal delivery works.

Run: /usr/bin/python3 -m unittest discover -s regress/e2e -p test_hostile.py -v
"""

import json
import os
import random
import resource
import socket
import stat
import sys
import threading
import time
import unittest

from boxdtest import Boxd
from test_smtp import (Client, HELO, QUEUED_RE, SENDER, delivered_with,
                       dot_stuff, ensure_role_users, listdir, log_tail,
                       make_message, raw_transaction, spool_dir, token,
                       wait_delivered, wait_until)

DOMAIN = "example.test"
ALICE = "alice@" + DOMAIN
BOB = "bob@" + DOMAIN
ROLES = ("parent", "control", "smtp", "auth", "queue", "mda", "mta",
         "signer", "imap")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def setUpModule():
    ensure_role_users()


def status_pids(b):
    """{role: pid} as `boxctl status` lists them."""
    p = b.boxctl("-j", "status", check=False)
    out = {}
    for line in p.stdout.splitlines():
        row = json.loads(line)
        if "role" in row:
            out[row["role"]] = row["pid"]
    return out


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime: fields 14 and 15 of stat(5), after pid and comm
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def nofile_of(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no fd limit for %d" % pid)


def set_nofile(pid, limits):
    """prlimit(2) on pid as its own user: root may lack CAP_SYS_RESOURCE
    (in a container), a process of the same ids never needs it."""
    with open("/proc/%d/status" % pid) as f:
        ids = {l.split(":")[0]: [int(x) for x in l.split()[1:4]]
               for l in f if l.startswith(("Uid:", "Gid:"))}
    uid, gid = ids["Uid"][0], ids["Gid"][0]
    child = os.fork()
    if child == 0:
        try:
            if (os.getuid(), os.getgid()) != (uid, gid):
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
            resource.prlimit(pid, resource.RLIMIT_NOFILE, limits)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    if status != 0:
        raise AssertionError("cannot set the fd limit of %d" % pid)


def report(text):
    """Figures worth a look, with BOXD_TEST_VERBOSE set."""
    if os.environ.get("BOXD_TEST_VERBOSE"):
        print("\n    " + text, file=sys.stderr)


def log_lines(b):
    with open(b.log, "rb") as f:
        return f.read().count(b"\n")


def connect(port, source=None, timeout=10):
    """A client that may be refused: (Client or None, banner bytes)."""
    try:
        c = Client(port, timeout=timeout, banner=False, source=source)
    except OSError:
        return None, b""
    try:
        return c, c.line()
    except (EOFError, OSError):
        return c, b""


class HostileCase(unittest.TestCase):
    """One boxd per class; after each test every process is alive and
    the MX still delivers."""
    boxd_args = {}
    start_args = {}

    @classmethod
    def setUpClass(cls):
        cls.b = Boxd(**cls.boxd_args)
        try:
            cls.b.start(**cls.start_args)
            cls.b.add_user(ALICE)
            cls.tables()
            cls.pids = status_pids(cls.b)
        except Exception:
            cls.b.cleanup()
            raise

    @classmethod
    def tables(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("BOXD_TEST_KEEP"):
            cls.b.stop()
            print("kept", cls.b.dir)
        else:
            cls.b.cleanup()

    def setUp(self):
        # cleanups run last first: this one after the test's clients close
        self.addCleanup(self.assertHealthy)

    def client(self, **kw):
        c = Client(self.b.smtp_port, **kw)
        self.addCleanup(c.close)
        return c

    def smtp_pid(self):
        return self.pids["smtp"]

    def assertHealthy(self):
        self.assertIsNone(self.b.proc.poll(),
                          "boxd died:\n" + log_tail(self.b))
        now = status_pids(self.b)
        self.assertEqual(sorted(now), sorted(ROLES), now)
        self.assertEqual(now, self.pids, "a process was replaced:\n" +
                         log_tail(self.b))
        self.assertDelivers()

    def assertDelivers(self):
        tok = token()
        final = wait_until(lambda: self.try_deliver(tok), 20, 0.2)
        self.assertTrue(final, "no delivery after the test:\n" +
                        log_tail(self.b))
        wait_delivered(self.b, ALICE, tok)

    def try_deliver(self, tok):
        try:
            final = raw_transaction(self.b.smtp_port, [ALICE],
                                    make_message(tok))
        except (AssertionError, OSError, EOFError):
            return None
        return QUEUED_RE.match(final.last) is not None

    def assertReply(self, r, code, enhanced=None):
        self.assertEqual(r.code, code, r)
        if enhanced is not None:
            self.assertTrue(r.last[4:].startswith(enhanced), r)

    def assertQueueClean(self, timeout=15):
        spo = spool_dir(self.b, "spool")
        self.assertTrue(wait_until(lambda: not listdir(spo), timeout),
                        "spool not empty: %r" % listdir(spo))


# ---------------------------------------------------------------- memory

class NeverReads(HostileCase):
    @classmethod
    def setUpClass(cls):
        # AddressSanitizer keeps freed memory in a quarantine (256 MB by
        # default): what is measured here is boxd's memory, not that
        asan = os.environ.get("ASAN_OPTIONS")
        if asan is not None:
            os.environ["ASAN_OPTIONS"] = asan + ":quarantine_size_mb=4"
        try:
            super().setUpClass()
        finally:
            if asan is not None:
                os.environ["ASAN_OPTIONS"] = asan

    def flood(self, sent, stop):
        """Pipelined EHLOs, replies never read, until the send blocks."""
        c = Client(self.b.smtp_port)
        self.addCleanup(c.close)
        c.sock.settimeout(3)
        chunk = b"EHLO client.test\r\n" * 4096
        try:
            while sent[0] < 50 * 1024 * 1024 and not stop.is_set():
                c.sock.sendall(chunk)
                sent[0] += len(chunk)
        except (socket.timeout, OSError):
            pass
        return c

    def test_pipelined_ehlo_never_read(self):
        pid = self.smtp_pid()
        base = rss_kb(pid)
        stop = threading.Event()
        sent = [[0] for _ in range(4)]
        threads = [threading.Thread(target=self.flood, args=(s, stop))
                   for s in sent]
        for t in threads:
            t.start()
        peak = base
        deadline = time.time() + 60
        while any(t.is_alive() for t in threads) and time.time() < deadline:
            peak = max(peak, rss_kb(pid))
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(10)
        peak = max(peak, rss_kb(pid))
        total = sum(s[0] for s in sent)
        report("4 clients sent %d KiB unread: smtp RSS %d -> %d KiB" %
               (total // 1024, base, peak))
        # every client sent until its send blocked, not until 50 MB
        self.assertLess(total, 4 * 50 * 1024 * 1024)
        self.assertLess(peak - base, 20 * 1024,
                        "smtp grew from %d to %d KiB while %d bytes came "
                        "in unread" % (base, peak, total))


# ---------------------------------------------------------------- spool

class SpoolFailure(HostileCase):
    def setUp(self):
        super().setUp()
        self.spool = spool_dir(self.b, "spool")
        self.mode = stat.S_IMODE(os.stat(self.spool).st_mode)
        self.addCleanup(os.chmod, self.spool, self.mode)

    def break_spool(self):
        os.chmod(self.spool, 0o500)

    def mend_spool(self):
        os.chmod(self.spool, self.mode)

    def test_data_cannot_create(self):
        self.break_spool()
        c = self.client()
        c.ehlo()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 250)
        self.assertReply(c.cmd("DATA"), 451, "4.3.0")
        # what follows is commands again, not message text
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertReply(c.cmd("RSET"), 250)
        self.assertReply(c.cmd("DATA"), 503)
        # a second transaction, the same way
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 250)
        self.assertReply(c.cmd("DATA"), 451, "4.3.0")
        self.assertReply(c.cmd("QUIT"), 221)
        c.read_until_closed(10)
        # the line that used to kill smtp: QUIT right after the 451
        c = self.client()
        c.send("EHLO %s\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n" %
               (HELO, SENDER, ALICE))
        c.replies(3)
        self.assertReply(c.cmd("DATA"), 451)
        self.assertReply(c.cmd("QUIT"), 221)
        self.mend_spool()
        # and once the spool is back, the same session delivers
        tok = token()
        c = self.client()
        c.ehlo()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 250)
        self.break_spool()
        self.assertReply(c.cmd("DATA"), 451)
        self.mend_spool()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(dot_stuff(make_message(tok)) + b".\r\n")
        self.assertRegex(c.reply().last, QUEUED_RE)
        wait_delivered(self.b, ALICE, tok)
        self.assertQueueClean()

    def test_bdat_cannot_create(self):
        self.break_spool()
        c = self.client()
        c.ehlo()
        c.send("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n"
               "BDAT 12\r\nQUIT\r\nQUIT\r\n"
               "BDAT 6 LAST\r\nRSET\r\n"
               "NOOP\r\n" % (SENDER, ALICE))
        r = c.replies(5)
        self.assertReply(r[0], 250)
        self.assertReply(r[1], 250)
        # the chunk is read, and refused at its end
        self.assertReply(r[2], 451, "4.3.0")
        # the transaction is gone: the next chunk is read and refused too
        self.assertReply(r[3], 503)
        self.assertReply(r[4], 250)
        self.mend_spool()
        tok = token()
        msg = make_message(tok)
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
        self.assertRegex(c.reply().last, QUEUED_RE)
        wait_delivered(self.b, ALICE, tok)
        self.assertQueueClean()

    def test_pipelined_body_after_refusal(self):
        """A client that does not wait for 354: its text is commands."""
        self.break_spool()
        c = self.client()
        c.ehlo()
        c.send("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
               "Subject: x\r\n\r\nbody\r\n.\r\nNOOP\r\n" % (SENDER, ALICE))
        r = c.replies(3)
        self.assertReply(r[2], 451)
        # the body lines are bad commands, the dot and NOOP still answered
        rest = c.replies(5)
        self.assertEqual([x.code for x in rest], [500, 500, 500, 500, 250],
                         rest)


# ---------------------------------------------------------------- descriptors

class FdLimit(HostileCase):
    """boxd under RLIMIT_NOFILE 128 (its parent needs about 80 at start):
    smtp caps its sessions below it."""
    boxd_args = {"extra": "limit connections 1000"}
    start_args = {"nofile": 128}

    def hold(self, n):
        """n clients at once; those the server does not answer wait in
        its backlog (or in SYN retries) until their timeout."""
        got = [None] * n

        def one(i):
            got[i] = connect(self.b.smtp_port, timeout=3)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        held = [c for c, _ in got if c is not None]
        for c in held:
            self.addCleanup(c.close)
        return held, [banner for _, banner in got]

    def watch(self, seconds):
        """CPU of smtp (fraction of one core) and log lines per second."""
        pid = self.smtp_pid()
        cpu0, lines0, t0 = cpu_seconds(pid), log_lines(self.b), time.time()
        time.sleep(seconds)
        took = time.time() - t0
        return ((cpu_seconds(pid) - cpu0) / took,
                (log_lines(self.b) - lines0) / took)

    def test_more_clients_than_fds(self):
        held, banners = self.hold(200)
        ok = [b for b in banners if b.startswith(b"220")]
        refused = [b for b in banners if b.startswith(b"421 4.3.2")]
        self.assertGreater(len(ok), 0)
        self.assertLess(len(ok), 64, "more sessions than 128 fds allow")
        self.assertGreater(len(refused), 0, banners[-5:])
        cpu, lines = self.watch(3)
        report("at the session cap: %d sessions, %d refused, smtp CPU "
               "%.1f%%, %.1f log lines/s" % (len(ok), len(refused),
                                             cpu * 100, lines))
        self.assertLess(cpu, 0.2, "smtp busy while at its cap")
        self.assertLess(lines, 3, "log grows at its cap")
        # the sessions held are served
        for c in held[:3]:
            if c.sock is not None:
                try:
                    self.assertReply(c.cmd("NOOP"), 250)
                except EOFError:
                    pass
        for c in held:
            c.close()

    def test_accept_out_of_fds(self):
        """accept() fails with EMFILE: the listeners pause, nothing
        spins, and service resumes once descriptors are free."""
        pid = self.smtp_pid()
        limit = nofile_of(pid)
        self.addCleanup(set_nofile, pid, limit)
        nfds = len(os.listdir("/proc/%d/fd" % pid))
        set_nofile(pid, (nfds + 4, limit[1]))
        held, banners = self.hold(40)
        ok = [b for b in banners if b.startswith(b"220")]
        self.assertLessEqual(len(ok), 4)
        cpu, lines = self.watch(3)
        report("EMFILE: %d sessions, smtp CPU %.1f%%, %.1f log lines/s" %
               (len(ok), cpu * 100, lines))
        self.assertLess(cpu, 0.2, "smtp spins on EMFILE")
        self.assertLess(lines, 3, "log floods on EMFILE")
        self.assertIn("not accepting connections", self.b.logtext())
        for c in held:
            c.close()
        set_nofile(pid, limit)


# ---------------------------------------------------------------- time

class Slowloris(HostileCase):
    boxd_args = {"extra": "timeout command 2s data 2s"}

    def trickle(self, c, stop, byte=b"x"):
        try:
            while not stop.is_set():
                c.sock.send(byte)
                stop.wait(0.5)
        except OSError:
            pass

    def expect_cut(self, c, at_least, at_most, prefix=b"421 4.4.2"):
        stop = threading.Event()
        t = threading.Thread(target=self.trickle, args=(c, stop))
        t0 = time.time()
        t.start()
        try:
            out = c.read_until_closed(at_most + 10)
        finally:
            stop.set()
            t.join(5)
        took = time.time() - t0
        self.assertIn(prefix, out)
        self.assertGreaterEqual(took, at_least, "cut too early")
        self.assertLessEqual(took, at_most, "cut too late: %r" % out)
        return out

    def test_command_line_trickle(self):
        c = self.client()
        c.ehlo()
        self.expect_cut(c, 1.5, 5)

    def test_data_trickle(self):
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        self.assertReply(c.cmd("DATA"), 354)
        self.expect_cut(c, 1.5, 5)
        self.assertQueueClean()

    def test_bdat_trickle(self):
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        c.send(b"BDAT 100000 LAST\r\n")
        self.expect_cut(c, 1.5, 5)
        self.assertQueueClean()

    def test_session_deadline(self):
        """4 x (command + data timeout): 16 s here, whatever it does."""
        c = self.client()
        c.ehlo()
        t0 = time.time()
        out = b""
        while time.time() - t0 < 30:
            try:
                c.send(b"NOOP\r\n")
                r = c.reply()
            except (EOFError, OSError):
                break
            if r.code != 250:
                out = r.text.encode()
                break
            time.sleep(0.5)
        took = time.time() - t0
        self.assertIn(b"421 4.4.2", out)
        self.assertIn(b"time limit", out.lower())
        self.assertGreaterEqual(took, 14)
        self.assertLessEqual(took, 22)

    def test_unread_replies_time_out(self):
        """A client that never reads is cut off too (its 421 cannot be
        delivered: it is dropped after the linger)."""
        c = self.client()
        c.sock.settimeout(2)
        try:
            while True:
                c.sock.sendall(b"EHLO client.test\r\n" * 4096)
        except (socket.timeout, OSError):
            pass
        # timeout (2 s) plus the 10 s a closing session may linger
        time.sleep(14)
        c.sock.settimeout(10)
        closed = False
        try:
            while True:
                chunk = c.sock.recv(1 << 20)
                if not chunk:
                    closed = True
                    break
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
        self.assertTrue(closed, "a client that never reads holds its "
                        "session")


# ---------------------------------------------------------------- envelopes

LONG_DOMAIN = ".".join(c * 60 for c in "abc") + ".test"
N_ALIASES = 7
PER_ALIAS = 50


def long_user(i):
    return ("u%03d" % i + "x" * 56) + "@" + LONG_DOMAIN


def long_alias(i):
    return ("list%d" % i + "y" * 56) + "@" + LONG_DOMAIN


def marshal_size(rcpt, mailbox, orcpt):
    return 4 + len(rcpt) + 4 + len(mailbox) + 4 + 4 + len(orcpt)


class Limits(HostileCase):
    boxd_args = {"extra": "limit recipients 100"}

    @classmethod
    def tables(cls):
        b = cls.b
        b.add_user(BOB)
        b.boxctl("domain", "add", LONG_DOMAIN)
        for i in range(N_ALIASES * PER_ALIAS):
            b.boxctl("user", "add", long_user(i), "--password-stdin",
                     input="correct horse battery\n")
        for a in range(N_ALIASES):
            b.boxctl("alias", "add", long_alias(a), ",".join(
                long_user(i) for i in range(a * PER_ALIAS,
                                            (a + 1) * PER_ALIAS)))

    def test_recipient_limit(self):
        tok = token()
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.send("".join("RCPT TO:<alice+%d@%s>\r\n" % (i, DOMAIN)
                       for i in range(100)))
        for r in c.replies(100):
            self.assertReply(r, 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % BOB), 452, "4.5.3")
        self.assertReply(c.cmd("DATA"), 354)
        c.send(dot_stuff(make_message(tok)) + b".\r\n")
        self.assertRegex(c.reply().last, QUEUED_RE)
        wait_delivered(self.b, ALICE, tok)
        self.assertEqual(delivered_with(self.b, BOB, tok), [])

    def test_envelope_budget(self):
        """Aliases to many mailboxes, long ORCPTs: refused with 452 at a
        budget below the imsg limit; the accepted ones get the mail."""
        tok = token()
        orcpt_x = "rfc822;" + "o" * 240
        c = self.client()
        c.ehlo()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        size, accepted, refused = 200, [], None
        for a in range(N_ALIASES):
            r = c.cmd("RCPT TO:<%s> ORCPT=%s" % (long_alias(a), orcpt_x))
            add = sum(marshal_size(long_alias(a), LONG_DOMAIN + "/" +
                                   long_user(i).split("@")[0], orcpt_x)
                      for i in range(a * PER_ALIAS, (a + 1) * PER_ALIAS))
            if r.code == 250:
                accepted.append(a)
                size += add
                self.assertLess(size, 256 * 1024, "past the imsg limit")
                continue
            self.assertReply(r, 452, "4.5.3")
            refused = a
            break
        self.assertIsNotNone(refused, "no budget at %d bytes" % size)
        self.assertGreaterEqual(size, 192 * 1024, "budget too small")
        # the session goes on, and small recipients still fit
        self.assertReply(c.cmd("RCPT TO:<%s>" % BOB), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(dot_stuff(make_message(tok)) + b".\r\n")
        self.assertRegex(c.reply().last, QUEUED_RE)
        c.cmd("QUIT")
        wait_delivered(self.b, BOB, tok)
        for a in accepted:
            for i in (a * PER_ALIAS, (a + 1) * PER_ALIAS - 1):
                wait_delivered(self.b, long_user(i), tok)
        self.assertEqual(
            delivered_with(self.b, long_user(refused * PER_ALIAS), tok), [])
        self.assertQueueClean(60)

    def test_orcpt_and_path_limits(self):
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        self.assertReply(c.cmd("RCPT TO:<%s> ORCPT=rfc822;%s" %
                               (ALICE, "o" * 300)), 501)
        self.assertReply(c.cmd("RCPT TO:<%s@%s>" % ("a" * 65, DOMAIN)), 553)
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 250)


# ---------------------------------------------------------------- harvesting

class Harvest(HostileCase):
    @classmethod
    def tables(cls):
        cls.b.add_user(BOB)

    def test_unknown_recipients_tarpitted(self):
        c = self.client(timeout=60)
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.send("".join("RCPT TO:<nobody%d@%s>\r\n" % (i, DOMAIN)
                       for i in range(50)))
        t0 = time.time()
        times, lines = [], []
        while True:
            try:
                r = c.reply()
            except (EOFError, ConnectionError):
                break
            times.append(time.time() - t0)
            lines.append(r.last)
            if r.code == 421:
                break
        report("tarpit: replies at %s s" %
               ", ".join("%.1f" % t for t in times))
        self.assertTrue(lines and lines[-1].startswith("421 4.7.0"),
                        lines)
        n550 = [l for l in lines if l.startswith("550")]
        # ten errors end the session: not fifty answers
        self.assertEqual(len(n550), 10, lines)
        self.assertLess(times[2], 1.0, "the first refusals are slowed")
        self.assertGreater(times[4] - times[3], 0.8, "no tarpit")
        self.assertGreater(times[-1], 15, "tarpit too short: %r" % times)
        self.assertLess(times[-1], 40, "tarpit too long: %r" % times)
        c.read_until_closed(10)

    def test_typos_cost_nothing(self):
        tok = token()
        c = self.client()
        c.ehlo()
        t0 = time.time()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        self.assertReply(c.cmd("RCPT TO:<alcie@%s>" % DOMAIN), 550)
        self.assertReply(c.cmd("RCPT TO:<bbo@%s>" % DOMAIN), 550)
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % BOB), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(dot_stuff(make_message(tok)) + b".\r\n")
        self.assertRegex(c.reply().last, QUEUED_RE)
        self.assertLess(time.time() - t0, 1.0, "a typo was slowed")
        wait_delivered(self.b, BOB, tok)


# ---------------------------------------------------------------- garbage

class Garbage(HostileCase):
    def blast(self, data, reads=True):
        c = self.client(timeout=20)
        try:
            for i in range(0, len(data), 65536):
                c.sock.sendall(data[i:i + 65536])
        except OSError:
            return b""
        if not reads:
            return b""
        try:
            return c.read_until_closed(20) if data.endswith(b"QUIT\r\n") \
                else c.quiet(1)
        except (AssertionError, OSError):
            return b""

    def test_random_bytes(self):
        rnd = random.Random(25)
        for n in (10, 1000, 100000, 1 << 20):
            self.blast(bytes(rnd.getrandbits(8) for _ in range(n)))

    def test_nuls(self):
        out = self.blast(b"\0" * (1 << 20) + b"\r\nQUIT\r\n")
        self.assertIn(b"500 5.5.2", out)

    def test_long_line_then_commands(self):
        c = self.client(timeout=30)
        c.ehlo()
        line = b"X" * (5 << 20)
        t = threading.Thread(target=c.sock.sendall,
                             args=(line + b"\r\nNOOP\r\n",))
        t.start()
        self.assertReply(c.reply(), 500, "5.5.2")
        self.assertReply(c.reply(), 250)
        t.join(30)
        self.assertReply(c.cmd("QUIT"), 221)

    def test_control_bytes_everywhere(self):
        rnd = random.Random(1)
        parts = [b"EHLO x\r\n"]
        for _ in range(200):
            parts.append(rnd.choice([b"\r", b"\n", b"\r\r\n", b"\x00",
                                     b"\xff\xfe", b"MAIL FROM:<\x00>",
                                     b"BDAT 3\r\nab", b".\r\n", b"DATA"]))
        parts.append(b"\r\nQUIT\r\n")
        self.blast(b"".join(parts))


# ---------------------------------------------------------------- addresses

def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class PerAddress(HostileCase):
    boxd_args = {"extra": "limit connections 2"}

    @classmethod
    def setUpClass(cls):
        if have_ipv6_loopback():
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
                cls.v6_port = s.getsockname()[1]
            cls.boxd_args = {"extra": "limit connections 2\n"
                             "listen on ::1 port %d smtp" % cls.v6_port}
        else:
            cls.v6_port = None
        super().setUpClass()

    def test_ipv4_sources_apart(self):
        held = []
        for src in ("127.0.0.2", "127.0.0.3"):
            for _ in range(2):
                c, banner = connect(self.b.smtp_port, src)
                self.assertTrue(banner.startswith(b"220"), (src, banner))
                held.append(c)
                self.addCleanup(c.close)
            c, banner = connect(self.b.smtp_port, src)
            self.addCleanup(c.close)
            self.assertTrue(banner.startswith(b"421 4.7.0"), (src, banner))
        for c in held:
            self.assertReply(c.cmd("NOOP"), 250)
            c.close()

    def test_ipv6_counted(self):
        if self.v6_port is None:
            self.skipTest("no IPv6 loopback (the /64 key is unit-tested "
                          "in regress/common/test_listener.c)")
        held = []
        for _ in range(2):
            s = socket.create_connection(("::1", self.v6_port), timeout=10)
            held.append(s)
            self.addCleanup(s.close)
            self.assertTrue(s.recv(512).startswith(b"220"))
        s = socket.create_connection(("::1", self.v6_port), timeout=10)
        self.addCleanup(s.close)
        self.assertTrue(s.recv(512).startswith(b"421 4.7.0"))
        for s in held:
            s.close()


if __name__ == "__main__":
    unittest.main()
