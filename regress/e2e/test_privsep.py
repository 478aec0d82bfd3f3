"""End-to-end tests of the process model: every child sandboxed, without
a terminal and (as root) unprivileged and in its chroot, a forbidden
system call killing a real role (or named by it under -S), boxctl status
naming them, clean shutdown, fail-stop, and the configuration checks of
boxd -n.

Run: /usr/bin/python3 -m unittest discover -s regress/e2e -p test_privsep.py -v
"""

import ctypes
import fcntl
import json
import os
import platform
import re
import signal
import smtplib
import ssl
import subprocess
import tempfile
import termios
import unittest

from boxdtest import BOXD, Boxd, gone, make_cert
import test_smtp as t
from test_control import read_memory

# the directory of STORAGE each role is chrooted into (boxd/role.c)
CHROOTED = {"control": "empty", "smtp": "empty", "auth": "db",
            "queue": "queue", "mda": "mail", "mta": "empty",
            "signer": "empty", "imap": "mail"}

# common/common.h: PROC_*, and a child's channel to peer p is fd 3 + p
PROC = {r: i for i, r in enumerate(("parent", "control", "smtp", "auth",
                                    "queue", "mda", "mta", "signer",
                                    "imap"))}
PROC_FD_BASE = 3

# the channels between children (boxd/role.c, the peers of each row)
LINKS = {("control", "smtp"), ("control", "auth"), ("control", "queue"),
         ("control", "signer"), ("smtp", "auth"), ("smtp", "queue"),
         ("smtp", "signer"), ("queue", "mda"), ("queue", "mta"),
         ("mta", "signer"), ("imap", "auth"), ("queue", "auth")}


def socket_inode(pid, fd):
    """The inode of the socket at fd of pid, None if it is no socket."""
    try:
        link = os.readlink("/proc/%d/fd/%d" % (pid, fd))
    except FileNotFoundError:
        return None
    m = re.fullmatch(r"socket:\[(\d+)\]", link)
    return int(m.group(1)) if m else None


def unix_peers():
    """{inode: peer inode} of every connected Unix socket (ss -x)."""
    out = subprocess.run(["ss", "-xn"], capture_output=True, text=True,
                         check=True).stdout
    peers = {}
    for line in out.splitlines()[1:]:
        f = line.split()
        if len(f) >= 8 and f[5].isdigit() and f[7].isdigit():
            peers[int(f[5])] = int(f[7])
    return peers


def setUpModule():
    t.ensure_role_users()


def status_fields(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip("\n")
    return fields


def stat_fields(pid):
    """/proc/PID/stat from the state on: [state, ppid, pgrp, session,
    tty_nr, ...] (the name before it may hold spaces)."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()



def flatten(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from flatten(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from flatten(v)
    else:
        yield obj


class Running(unittest.TestCase):
    """One boxd, looked at from /proc and boxctl."""

    @classmethod
    def setUpClass(cls):
        cls.b = Boxd(tls=True)
        try:
            cls.b.start()
        except Exception:
            cls.b.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.b.cleanup()

    def children(self):
        return self.b.pids()[1:]

    def test_eight_children_one_per_role(self):
        kids = self.children()
        self.assertEqual(len(kids), 8, kids)
        roles = sorted(t.role_of(p) or "?%d" % p for p in kids)
        self.assertEqual(roles, sorted(t.ROLES))

    def test_children_sandboxed(self):
        # boxctl answers once control is up; a slower role (auth loading
        # its libraries under ASan) may install its filter a moment later
        t.wait_until(lambda: all(status_fields(p)["Seccomp"] == "\t2"
                                 for p in self.children()), timeout=30)
        for pid in self.children():
            st = status_fields(pid)
            role = t.role_of(pid)
            self.assertEqual(st["Seccomp"], "\t2", "%s (%d)" % (role, pid))
            self.assertEqual(st["NoNewPrivs"], "\t1", "%s (%d)" % (role,
                                                                  pid))

    def test_children_not_root(self):
        if os.geteuid() != 0:
            # not started as root: every role runs as the invoking user
            for pid in self.children():
                st = status_fields(pid)
                self.assertEqual(st["Uid"].split(), [str(os.getuid())] * 4)
            return
        users = {}
        for pid in self.children():
            role = t.role_of(pid)
            st = status_fields(pid)
            uids = st["Uid"].split()
            gids = st["Gid"].split()
            self.assertEqual(len(uids), 4)
            for u in uids:
                self.assertNotEqual(u, "0", "%s runs as root: %s" %
                                    (role, st["Uid"]))
            for g in gids:
                self.assertNotEqual(g, "0", "%s has group root: %s" %
                                    (role, st["Gid"]))
            self.assertNotIn("0", st["Groups"].split(), role)
            self.assertEqual(st["CapEff"].strip("\t"), "0" * 16, role)
            users[role] = uids[0]
        # the roles that must not share a user with each other
        for a, b in (("auth", "smtp"), ("auth", "mda"), ("signer", "smtp"),
                     ("signer", "mda"), ("queue", "smtp"),
                     ("signer", "auth")):
            self.assertNotEqual(users[a], users[b], "%s and %s" % (a, b))

    def test_children_chrooted(self):
        if os.geteuid() != 0:
            self.skipTest("chroot needs root: boxd started by a user "
                          "changes directory instead")
        self.assertEqual(sorted(CHROOTED), sorted(t.ROLES))
        pids = t.role_pids(self.b)
        self.assertEqual(sorted(pids), sorted(t.ROLES))
        for role, sub in CHROOTED.items():
            root = os.readlink("/proc/%d/root" % pids[role])
            self.assertEqual(root, os.path.realpath(
                os.path.join(self.b.storage, sub)), role)

    def test_channels_join_the_roles_of_the_table(self):
        """Each channel of the table is one socketpair, whose ends the two
        roles hold at fd 3 + the other's PROC_* value; control and signer
        have theirs (boxctl dns asks signer for the public keys)."""
        pids = t.role_pids(self.b)
        peers = unix_peers()
        for a, b in sorted(LINKS):
            end_a = socket_inode(pids[a], PROC_FD_BASE + PROC[b])
            end_b = socket_inode(pids[b], PROC_FD_BASE + PROC[a])
            self.assertIsNotNone(end_a, "%s has no channel to %s" % (a, b))
            self.assertIsNotNone(end_b, "%s has no channel to %s" % (b, a))
            self.assertEqual(peers.get(end_a), end_b,
                             "%s and %s hold different sockets" % (a, b))
        for role, pid in pids.items():
            end = socket_inode(pid, PROC_FD_BASE + PROC["parent"])
            self.assertIn(peers.get(end),
                          [socket_inode(self.b.proc.pid, fd) for fd in
                           map(int, os.listdir("/proc/%d/fd" %
                                               self.b.proc.pid))],
                          "%s: no channel to the parent" % role)

    def test_children_read_dev_null(self):
        for role, pid in t.role_pids(self.b).items():
            self.assertEqual(os.readlink("/proc/%d/fd/0" % pid),
                             "/dev/null", role)

    def test_parent_is_the_only_root(self):
        if os.geteuid() != 0:
            return
        st = status_fields(self.b.proc.pid)
        self.assertEqual(st["Uid"].split()[0], "0")

    def test_boxctl_status_lists_roles(self):
        out = self.b.boxctl("status").stdout
        pids = t.role_pids(self.b)
        self.assertEqual(sorted(pids), sorted(t.ROLES))
        lines = out.splitlines()
        for role, pid in pids.items():
            hits = [l for l in lines if role in l.split() and
                    str(pid) in l.split()]
            self.assertEqual(len(hits), 1, "role %s pid %d not in:\n%s" %
                             (role, pid, out))

    def test_boxctl_status_json(self):
        out = self.b.boxctl("-j", "status").stdout
        objs = [json.loads(l) for l in out.splitlines() if l.strip()]
        pids = t.role_pids(self.b)
        for role, pid in pids.items():
            hit = [o for o in objs if role in list(flatten(o)) and
                   (pid in list(flatten(o)) or str(pid) in list(flatten(o)))]
            self.assertEqual(len(hit), 1, "role %s pid %d not in:\n%s" %
                             (role, pid, out))


class Lifecycle(unittest.TestCase):

    def setUp(self):
        self.b = Boxd()
        self.addCleanup(self.b.cleanup)
        self.b.start()

    def test_sigterm_stops_everything(self):
        kids = self.b.pids()[1:]
        self.assertEqual(len(kids), 8)
        self.b.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.b.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.fail("boxd did not stop on SIGTERM:\n" + t.log_tail(self.b))
        self.assertEqual(rc, 0, t.log_tail(self.b))
        ok = t.wait_until(lambda: all(gone(p) for p in kids), 5)
        self.assertTrue(ok, "children left: %r" %
                        [p for p in kids if not gone(p)])
        self.assertFalse(os.path.exists(self.b.control),
                         "control socket left behind")
        log = self.b.logtext()
        self.assertNotIn("died", log)
        self.assertNotIn("fatal", log)

    def kill_role(self, b, role):
        pids = t.role_pids(b)
        kids = b.pids()[1:]
        os.kill(pids[role], signal.SIGKILL)
        try:
            rc = b.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.fail("boxd still running after its %s died:\n%s" %
                      (role, t.log_tail(b)))
        self.assertNotEqual(rc, 0)
        ok = t.wait_until(lambda: all(gone(p) for p in kids), 5)
        self.assertTrue(ok, "children left: %r" %
                        [p for p in kids if not gone(p)])
        lines = [l for l in b.logtext().splitlines()
                 if re.search(r"\b%s\b" % role, l) and
                 ("signal" in l or "died" in l or "killed" in l)]
        self.assertTrue(lines, "no log line says the %s was killed:\n%s" %
                        (role, t.log_tail(b)))
        self.assertTrue(any("9" in l or "Killed" in l or "SIGKILL" in l
                            for l in lines), lines)

    def test_dead_child_stops_the_service(self):
        """kill -9 of one child: the service stops, non-zero, and the log
        names the child that died (not a peer that noticed)."""
        # the race between the dead child and its peers noticing the
        # closed channel: several tries, every failure reported
        failures = []
        for i, role in enumerate(("mda", "queue", "auth", "smtp", "mda",
                                  "signer")):
            if i == 0:
                b = self.b
            else:
                b = Boxd()
                self.addCleanup(b.cleanup)
                b.start()
            try:
                self.kill_role(b, role)
            except AssertionError as e:
                failures.append("killing %s: %s" % (role, e))
        if failures:
            self.fail("\n\n".join(failures))

    def test_child_exiting_cleanly_also_stops(self):
        """Fail-stop holds even for a child that exits with status 0."""
        pids = t.role_pids(self.b)
        os.kill(pids["imap"], signal.SIGTERM)
        try:
            rc = self.b.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.fail("boxd still running after imap exited:\n" +
                      t.log_tail(self.b))
        self.assertNotEqual(rc, 0)
        self.assertIn("imap", self.b.logtext())


class FdBudget(unittest.TestCase):
    """The parent makes each child's channels just before it starts it:
    boxd starts and serves under a small RLIMIT_NOFILE."""

    def test_starts_under_nofile_64(self):
        b = Boxd()
        self.addCleanup(b.cleanup)
        b.start(nofile=64)
        self.assertEqual(sorted(t.role_pids(b)), sorted(t.ROLES))
        b.boxctl("status")
        ok = t.wait_until(lambda: all(status_fields(p)["Seccomp"] == "\t2"
                                      for p in b.pids()[1:]), timeout=30)
        self.assertTrue(ok, t.log_tail(b))
        self.assertLess(len(os.listdir("/proc/%d/fd" % b.proc.pid)), 32)


@unittest.skipUnless(os.getuid() == 0,
                     "needs root to read the processes' memory")
class KeyCopies(unittest.TestCase):
    """The TLS key goes to the roles that serve TLS (smtp, imap) and to
    no other; once sent, the parent's copy is wiped, at start and after a
    reload.  smtp and imap keep the key's text until their first TLS
    client, which shows the search can see it."""

    def setUp(self):
        self.b = Boxd(imap=True)
        self.addCleanup(self.b.cleanup)
        self.b.start()

    def key_line(self):
        """A line from the middle of the key's PEM body."""
        with open(self.b.key) as f:
            lines = f.read().splitlines()
        return lines[len(lines) // 2].encode()

    def holders(self, line):
        pids = t.role_pids(self.b)
        self.assertEqual(sorted(pids), sorted(t.ROLES))
        pids["parent"] = self.b.proc.pid
        found = []
        for role, pid in sorted(pids.items()):
            memory = read_memory(pid)
            # each holds its configuration: the search sees what is there
            self.assertIn(self.b.storage.encode(), memory, role)
            if line in memory:
                found.append(role)
        return found

    def test_only_tls_servers_hold_the_key(self):
        first = self.key_line()
        self.assertEqual(self.holders(first), ["imap", "smtp"])
        # a new key, then a reload: the old one is gone from smtp too
        newdir = os.path.join(self.b.dir, "renewed")
        os.mkdir(newdir)
        cert, key = make_cert(newdir, "renewed.test")
        os.replace(cert, self.b.cert)
        os.replace(key, self.b.key)
        second = self.key_line()
        self.assertNotEqual(first, second)
        self.b.boxctl("reload")
        self.assertEqual(self.holders(second), ["imap", "smtp"])
        self.assertEqual(self.holders(first), [])
        # and serves it: STARTTLS with the new certificate
        s = smtplib.SMTP("127.0.0.1", self.b.smtp_port, timeout=10)
        try:
            s.ehlo("client.test")
            code, _ = s.starttls(context=t.insecure_context())
            self.assertEqual(code, 220)
            der = s.sock.getpeercert(binary_form=True)
        finally:
            s.quit()
        with open(self.b.cert) as f:
            self.assertEqual(der, ssl.PEM_cert_to_DER_cert(f.read()))


class Terminal(unittest.TestCase):
    """boxd -d started from a terminal: the children must not have it."""

    def setUp(self):
        self.master, slave = os.openpty()
        self.addCleanup(os.close, self.master)
        self.b = Boxd()
        self.addCleanup(self.b.cleanup)
        self.b.logf = open(self.b.log, "ab")

        def take_terminal():
            # after setsid(): the pty on stdin becomes our terminal
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.b.proc = subprocess.Popen(
            [BOXD, "-d", "-f", self.b.conf], stdin=slave,
            stdout=self.b.logf, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=take_terminal)
        os.close(slave)
        self.b.wait_ready()

    def test_children_have_no_terminal(self):
        parent = stat_fields(self.b.proc.pid)
        self.assertNotEqual(parent[4], "0", "the parent has no terminal: "
                            "the test proves nothing")
        pids = t.role_pids(self.b)
        self.assertEqual(sorted(pids), sorted(t.ROLES))
        for role, pid in pids.items():
            st = stat_fields(pid)
            self.assertEqual(st[4], "0", "%s has a controlling terminal" %
                             role)
            self.assertNotEqual(st[3], parent[3],
                                "%s is in the parent's session" % role)
            self.assertEqual(os.readlink("/proc/%d/fd/0" % pid),
                             "/dev/null", role)
            # the log stays where -d sends it
            self.assertEqual(os.readlink("/proc/%d/fd/2" % pid),
                             self.b.log, role)


# x86-64 ptrace(2): make a stopped process run one system call of ours
PTRACE_GETREGS, PTRACE_SETREGS, PTRACE_ATTACH, PTRACE_DETACH = 12, 13, 16, 17
WALL = 0x40000000


class UserRegs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi "
        "orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs").split()]


def inject_syscall(pid, nr, *args):
    """Make pid, asleep in a system call (a role waiting in epoll_wait),
    make system call nr(args) as its next step: it is put back on the
    syscall instruction it sleeps after, with our number and arguments.
    False if it was not asleep in one just then."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                            ctypes.c_void_p]
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) == -1:
        e = ctypes.get_errno()
        raise OSError(e, "ptrace attach %d: %s" % (pid, os.strerror(e)))
    try:
        os.waitpid(pid, WALL)
        regs = UserRegs()
        if libc.ptrace(PTRACE_GETREGS, pid, None, ctypes.byref(regs)) == -1:
            raise OSError(ctypes.get_errno(), "ptrace getregs")
        with open("/proc/%d/mem" % pid, "rb") as mem:
            mem.seek(regs.rip - 2)
            if mem.read(2) != b"\x0f\x05":
                return False
        regs.rip -= 2
        regs.orig_rax = 2 ** 64 - 1     # no restart of the one it was in
        regs.rax = nr
        for name, value in zip(("rdi", "rsi", "rdx"), args):
            setattr(regs, name, value)
        if libc.ptrace(PTRACE_SETREGS, pid, None, ctypes.byref(regs)) == -1:
            raise OSError(ctypes.get_errno(), "ptrace setregs")
        return True
    finally:
        libc.ptrace(PTRACE_DETACH, pid, None, None)


SYS_SOCKET, SYS_IOCTL = 41, 16
AF_INET, SOCK_STREAM = 2, 1
TIOCSTI = 0x5412


@unittest.skipUnless(platform.machine() == "x86_64",
                     "the system call is injected with x86-64 registers")
class ForbiddenCall(unittest.TestCase):
    """A real smtp process made to call what it must not: the kernel kills
    it, the parent says why and stops the service; under -S it names the
    call instead."""

    def make_smtp_call(self, b, nr, *args):
        pid = t.role_pids(b)["smtp"]
        try:
            ok = t.wait_until(lambda: inject_syscall(pid, nr, *args), 10)
        except OSError as e:
            if os.geteuid() != 0:
                self.skipTest("cannot ptrace the smtp process: %s" % e)
            raise
        self.assertTrue(ok, "smtp never sat in a system call")
        try:
            rc = b.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.fail("boxd still runs after smtp's forbidden call:\n" +
                      t.log_tail(b))
        self.assertNotEqual(rc, 0)
        ok = t.wait_until(lambda: gone(pid), 5)
        self.assertTrue(ok, "smtp still there")
        return b.logtext()

    def test_forbidden_call_kills(self):
        b = Boxd()
        self.addCleanup(b.cleanup)
        b.start()
        log = self.make_smtp_call(b, SYS_SOCKET, AF_INET, SOCK_STREAM, 0)
        self.assertIn("smtp process killed by signal %d (Bad system call), "
                      "a forbidden system call" % signal.SIGSYS, log)
        self.assertNotIn("sandbox: forbidden system call", log)

    def test_debug_names_the_call(self):
        b = Boxd()
        self.addCleanup(b.cleanup)
        b.start(["-S"])
        # what pushed a command line into the admin's shell (fd 0 is
        # /dev/null now, and the pointer NULL: harmless if let through)
        log = self.make_smtp_call(b, SYS_IOCTL, 0, TIOCSTI, 0)
        self.assertIn("sandbox: forbidden system call ioctl (%d)" %
                      SYS_IOCTL, log)
        self.assertIn("smtp process exited with status 3", log)


def check(conf_text, verbose=False):
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write(conf_text)
        path = f.name
    try:
        args = [BOXD, "-nv" if verbose else "-n", "-f", path]
        p = subprocess.run(args, capture_output=True, text=True, timeout=20)
        return path, p
    finally:
        os.unlink(path)


class ConfigCheck(unittest.TestCase):

    def setUp(self):
        self.b = Boxd(tls=True, extra="\n".join([
            "max-message-size 10K",
            "timeout command 2s data 3s",
            "limit connections 3",
            "limit auth-failures 5 per 10m",
            "queue retry 1m max-retry 2h expire 3d",
            "mta port 2525",
            "resolver 127.0.0.1 port 53",
            "log level debug",
            "# a comment",
            "",
        ]))
        self.addCleanup(self.b.cleanup)

    def run_boxd(self, *args):
        return subprocess.run([BOXD] + list(args), capture_output=True,
                              text=True, timeout=20)

    def test_check_ok(self):
        p = self.run_boxd("-n", "-f", self.b.conf)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "configuration OK")
        self.assertFalse(os.path.exists(self.b.storage),
                         "boxd -n created the storage")

    def test_errors_name_file_and_line(self):
        with open(self.b.conf) as f:
            good = f.read().splitlines()
        bad_lines = [
            "bogus-directive 1",
            "listen on 127.0.0.1 port 99999 smtp",
            "max-message-size 10Q",
            "timeout command",
            "hostname",
            'hostname "unterminated',
            "limit connections 0",
            "listen on 127.0.0.1 port 25 pop2",
        ]
        for bad in bad_lines:
            for where in (0, len(good)):
                lines = list(good)
                lines.insert(where, bad)
                path, p = check("\n".join(lines) + "\n")
                self.assertEqual(p.returncode, 1, "%r accepted" % bad)
                out = (p.stdout + p.stderr).strip()
                self.assertTrue(out.startswith("%s:%d: " % (path, where + 1)),
                                "%r at line %d: %r" % (bad, where + 1, out))
                self.assertNotIn("configuration OK", out)

    def test_missing_file(self):
        p = self.run_boxd("-n", "-f", "/nonexistent/boxd.conf")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("/nonexistent/boxd.conf", p.stdout + p.stderr)

    def test_verbose_reparses_to_the_same(self):
        p = self.run_boxd("-nv", "-f", self.b.conf)
        self.assertEqual(p.returncode, 0, p.stderr)
        first = p.stdout
        self.assertIn("max-message-size", first)
        path, p2 = check(first)
        self.assertEqual(p2.returncode, 0, p2.stdout + p2.stderr)
        self.assertEqual(p2.stdout.strip(), "configuration OK")
        path, p3 = check(first, verbose=True)
        self.assertEqual(p3.returncode, 0, p3.stderr)
        self.assertEqual(p3.stdout, first, "-nv is not a fixed point")

    def test_verbose_defaults_reparse(self):
        """A minimal config: the defaults printed by -nv parse too."""
        path, p = check('hostname "mx.test"\n', verbose=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        path, p2 = check(p.stdout)
        self.assertEqual(p2.stdout.strip(), "configuration OK",
                         p2.stdout + p2.stderr)


if __name__ == "__main__":
    unittest.main()
