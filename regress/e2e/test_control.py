"""The control socket: who may use it (the admin group of `control socket
PATH group NAME`), hostile clients (garbage, truncated and fd-carrying
messages, floods of connections, a client that never reads), and that
control keeps no copy of a password it passed on."""

import grp
import os
import pwd
import random
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import boxdtest
from test_boxctl import PROTOCOL, TYPES, VERSION, Client, hello_msg, imsg, s

GROUP = "boxtest-admins"
MEMBER = "boxtest-member"      # in the group's member list
PRIMARY = "boxtest-primary"    # the group is its primary group
OUTSIDER = "boxtest-outsider"  # neither
LATER = "boxtest-later"        # joins the group during a test
USERS = (MEMBER, PRIMARY, OUTSIDER, LATER)
PASSWORD = "correct horse battery\n"


def run(*args):
    subprocess.run(list(args), check=True, capture_output=True)


def exists(getter, name):
    try:
        getter(name)
        return True
    except KeyError:
        return False


def role_pid(b, role):
    out = b.boxctl("-j", "status").stdout
    m = re.search(r'"role":"%s","pid":(\d+)' % role, out)
    if m is None:
        raise AssertionError("no %s process in status:\n%s" % (role, out))
    return int(m.group(1))


def control_pid(b):
    return role_pid(b, "control")


def set_control_line(b, line):
    """Replace the control socket directive of b's configuration."""
    with open(b.conf) as f:
        lines = f.read().splitlines()
    lines = [line if l.startswith("control socket") else l for l in lines]
    with open(b.conf, "w") as f:
        f.write("\n".join(lines) + "\n")


@unittest.skipUnless(os.getuid() == 0,
                     "needs root: creates a group and users, runs boxctl "
                     "as them")
class GroupCase(unittest.TestCase):
    """`control socket ... group boxtest-admins` with a member, a user
    whose primary group it is, and an outsider."""

    @classmethod
    def setUpClass(cls):
        cls.created = []
        if not exists(grp.getgrnam, GROUP):
            run("groupadd", "--system", GROUP)
            cls.created.append(("group", GROUP))
        for user in USERS:
            if exists(pwd.getpwnam, user):
                continue
            args = ["useradd", "--system", "--no-create-home", "--home-dir",
                    "/nonexistent", "--shell", "/usr/sbin/nologin"]
            if user == PRIMARY:
                args += ["--no-user-group", "--gid", GROUP]
            run(*(args + [user]))
            cls.created.append(("user", user))
        # idempotent: whatever an earlier run left, the roles are these
        run("usermod", "-aG", GROUP, MEMBER)
        if LATER in grp.getgrnam(GROUP).gr_mem:
            run("gpasswd", "-d", LATER, GROUP)
        cls.gid = grp.getgrnam(GROUP).gr_gid
        cls.boxd = b = boxdtest.Boxd()
        # the harness's directory is root's alone; the socket's must be
        # reachable, and boxd makes its directory 0755 when missing
        os.chmod(b.dir, 0o711)
        b.control = os.path.join(b.dir, "run", "control.sock")
        set_control_line(b, 'control socket "%s" group "%s"' %
                         (b.control, GROUP))
        # a boxctl the role users can run, wherever the tree is
        cls.boxctl_bin = os.path.join(b.dir, "boxctl")
        shutil.copy(boxdtest.BOXCTL, cls.boxctl_bin)
        os.chmod(cls.boxctl_bin, 0o755)
        try:
            b.start()
        except Exception:
            b.cleanup()
            cls.remove_created()
            raise

    @classmethod
    def remove_created(cls):
        for kind, name in reversed(cls.created):
            subprocess.run(["userdel" if kind == "user" else "groupdel",
                            name], capture_output=True)

    @classmethod
    def tearDownClass(cls):
        cls.boxd.cleanup()
        cls.remove_created()

    def boxctl_as(self, user, *args):
        """boxctl run by user, with that user's groups as login gives."""
        pw = pwd.getpwnam(user)
        return subprocess.run(
            ["setpriv", "--reuid", str(pw.pw_uid), "--regid",
             str(pw.pw_gid), "--init-groups", self.boxctl_bin, "-s",
             self.boxd.control] + list(args),
            capture_output=True, text=True)

    def assert_admitted(self, user):
        p = self.boxctl_as(user, "status")
        self.assertEqual(p.returncode, 0, "%s: %s" % (user, p.stderr))
        self.assertIn("control", p.stdout)
        self.assertEqual(p.stderr, "")

    def assert_refused_by_control(self, user):
        p = self.boxctl_as(user, "status")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(p.stderr,
                         "boxctl: permission denied: uid %d is not root or "
                         "a member of group %s\n" %
                         (pwd.getpwnam(user).pw_uid, GROUP))
        self.assertEqual(p.stdout, "")

    def test_socket_mode(self):
        st = os.lstat(self.boxd.control)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(st.st_mode & 0o7777, 0o660)
        self.assertEqual(st.st_uid, 0)
        self.assertEqual(st.st_gid, self.gid)
        # created by boxd: passable by everyone, so by the group
        dst = os.stat(os.path.dirname(self.boxd.control))
        self.assertEqual(dst.st_mode & 0o777, 0o755)

    def test_member(self):
        self.assert_admitted(MEMBER)
        # a table command, not only status
        p = self.boxctl_as(MEMBER, "domain", "list")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_primary_group(self):
        self.assert_admitted(PRIMARY)

    def test_root(self):
        self.assertEqual(self.boxd.boxctl("status").returncode, 0)

    def test_outsider(self):
        """The socket's mode turns the outsider away, with a message that
        says what is needed."""
        p = self.boxctl_as(OUTSIDER, "status")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr,
                         "boxctl: %s: Permission denied (boxctl needs root "
                         "or membership of the control socket's group)\n" %
                         self.boxd.control)
        self.assertEqual(p.stdout, "")

    def test_outsider_past_the_mode(self):
        """With the mode opened by mistake, control still refuses, and
        says why; a reload puts the mode back."""
        os.chmod(self.boxd.control, 0o666)
        try:
            self.assert_refused_by_control(OUTSIDER)
            uid = pwd.getpwnam(OUTSIDER).pw_uid
            self.assertRegex(self.boxd.logtext(),
                             r"refused uid %d \(pid \d+\): not root or a "
                             r"member of group %s" % (uid, GROUP))
            self.assert_admitted(MEMBER)
        finally:
            self.boxd.boxctl("reload")
        self.assertEqual(os.stat(self.boxd.control).st_mode & 0o777, 0o660)

    def test_membership_change_takes_effect_on_reload(self):
        """A user added to the group passes the socket's mode at once, but
        control learns of it on reload; removed, the mode stops it."""
        run("usermod", "-aG", GROUP, LATER)
        try:
            self.assert_refused_by_control(LATER)
            self.boxd.boxctl("reload")
            self.assert_admitted(LATER)
        finally:
            run("gpasswd", "-d", LATER, GROUP)
            self.boxd.boxctl("reload")
        p = self.boxctl_as(LATER, "status")
        self.assertEqual(p.returncode, 1)
        self.assertIn("Permission denied", p.stderr)

    def test_group_dropped_on_reload(self):
        """Without the group after a reload, the socket is root's alone
        again; with it back, the members' again."""
        try:
            set_control_line(self.boxd, 'control socket "%s"' %
                             self.boxd.control)
            self.boxd.boxctl("reload")
            st = os.stat(self.boxd.control)
            self.assertEqual((st.st_mode & 0o777, st.st_gid), (0o600, 0))
            p = self.boxctl_as(MEMBER, "status")
            self.assertEqual(p.returncode, 1)
            self.assertIn("Permission denied", p.stderr)
        finally:
            set_control_line(self.boxd, 'control socket "%s" group "%s"' %
                             (self.boxd.control, GROUP))
            self.boxd.boxctl("reload")
        self.assert_admitted(MEMBER)

    def test_group_gone_fails_the_reload(self):
        set_control_line(self.boxd, 'control socket "%s" group "%s"' %
                         (self.boxd.control, "boxtest-nosuchgroup"))
        try:
            p = self.boxd.boxctl("reload", check=False)
            self.assertEqual(p.returncode, 1)
            self.assertEqual(p.stderr, "boxctl: control socket group "
                             "boxtest-nosuchgroup does not exist\n")
        finally:
            set_control_line(self.boxd, 'control socket "%s" group "%s"' %
                             (self.boxd.control, GROUP))
        self.assert_admitted(MEMBER)
        self.assertEqual(self.boxd.boxctl("reload").returncode, 0)


class MissingGroupCase(unittest.TestCase):
    GROUP = "boxtest-nosuchgroup"

    def setUp(self):
        if exists(grp.getgrnam, self.GROUP):
            self.skipTest("group %s exists here" % self.GROUP)
        self.boxd = boxdtest.Boxd()
        set_control_line(self.boxd, 'control socket "%s" group "%s"' %
                         (self.boxd.control, self.GROUP))

    def tearDown(self):
        self.boxd.cleanup()

    def test_start_refused(self):
        message = "%s: control socket group %s does not exist\n" % (
            self.boxd.conf, self.GROUP)
        p = subprocess.run([boxdtest.BOXD, "-d", "-f", self.boxd.conf],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, message)
        self.assertFalse(os.path.exists(self.boxd.control))

    def test_check_reports_it(self):
        p = subprocess.run([boxdtest.BOXD, "-n", "-f", self.boxd.conf],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, "%s: control socket group %s does not "
                         "exist\n" % (self.boxd.conf, self.GROUP))
        self.assertEqual(p.stdout, "")


class HostileCase(unittest.TestCase):
    """Garbage on the control socket drops that client, never a boxd
    process; the service goes on."""

    @classmethod
    def setUpClass(cls):
        cls.boxd = boxdtest.Boxd()
        try:
            cls.boxd.start()
        except Exception:
            cls.boxd.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.boxd.cleanup()

    def setUp(self):
        self.pids = sorted(self.boxd.pids())
        self.control = control_pid(self.boxd)

    def assert_unharmed(self):
        """status works, and every process is the one there was before."""
        deadline = time.time() + 20
        while time.time() < deadline:
            p = self.boxd.boxctl("status", check=False)
            if p.returncode == 0:
                break
            time.sleep(0.05)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(control_pid(self.boxd), self.control)
        self.assertEqual(sorted(self.boxd.pids()), self.pids)
        self.assertIsNone(self.boxd.proc.poll())

    def control_fds(self):
        try:
            return len(os.listdir("/proc/%d/fd" % self.control))
        except PermissionError:
            return None

    def test_garbage(self):
        fds = self.control_fds()
        rng = random.Random(5)
        path = self.boxd.control
        header = struct.Struct(">IIII")
        cases = [os.urandom(n) for n in (16, 17, 4096, 16384, 16385,
                                         65536)]
        cases += [
            # lengths: below the header, above the limit, the largest
            header.pack(TYPES["IMSG_CTL_STATUS"], 0, 0, 0),
            header.pack(TYPES["IMSG_CTL_STATUS"], 15, 0, 0),
            header.pack(TYPES["IMSG_CTL_STATUS"], 16 * 1024 + 1, 0, 0),
            header.pack(TYPES["IMSG_CTL_STATUS"], 0xffffffff, 0, 0),
            header.pack(TYPES["IMSG_CTL_USER_ADD"], 0x7fffffff, 0, 0) +
            os.urandom(1000),
            # types: none, past the last, internal ones
            header.pack(0, 16, 0, 0),
            header.pack(max(TYPES.values()) + 1, 16, 0, 0),
            header.pack(0xffffffff, 16, 0, 0),
            imsg("IMSG_CONF_CONTROL_GROUP", s("") + struct.pack(">II", 0,
                                                                0)),
            imsg("IMSG_PARENT_RELOAD"),
            imsg("IMSG_STATS", b"\0" * 32),
            imsg("IMSG_QUEUE_ABORT", struct.pack(">Q", 1)),
            # an fd announced, none sent
            imsg("IMSG_CTL_STATUS", flags=1),
            # strings that claim more than there is
            imsg("IMSG_CTL_USER_ADD", s("a@b.test") +
                 struct.pack(">I", 0xffffffff)),
            imsg("IMSG_CTL_USER_QUOTA", s("a@b.test") + b"\0" * 7),
        ]
        for data in cases:
            c = Client(path)
            c.send(data)
            self.assertTrue(c.closed(), data[:40])
            c.close()
        # truncated: half a header, a header, part of a payload; then gone
        for data in (os.urandom(1), os.urandom(15), header.pack(TYPES["IMSG_CTL_STATUS"], 16,
                                            0, 0)[:15],
                     header.pack(TYPES["IMSG_CTL_DOMAIN_ADD"], 100, 0, 0),
                     imsg("IMSG_CTL_DOMAIN_ADD", s("x" * 80))[:60]):
            c = Client(path)
            c.send(data)
            c.close()
        # a valid request with a descriptor, and with more than imsg keeps
        for n in (1, 20):
            c = Client(path)
            r, w = os.pipe()
            socket.send_fds(c.sock, [imsg("IMSG_CTL_STATUS", flags=1)],
                            [r] * n)
            os.close(r)
            os.close(w)
            self.assertTrue(c.closed(), n)
            c.close()
        # random splits of a valid request, then the rest never comes
        for _ in range(20):
            data = imsg("IMSG_CTL_USER_ADD", s("a@b.test") + s("x" * 40))
            c = Client(path)
            c.send(data[:rng.randrange(1, len(data))])
            c.close()
        self.assert_unharmed()
        self.assertRegex(self.boxd.logtext(),
                         r"imsg from client \d+ \(uid \d+\): file "
                         r"descriptors on a channel that takes none: 1 "
                         r"closed")
        # none leaked (the count before may include a client closing)
        if fds is not None:
            deadline = time.time() + 10
            while time.time() < deadline and self.control_fds() > fds:
                time.sleep(0.05)
            self.assertLessEqual(self.control_fds(), fds)

    def test_fds_with_a_valid_request(self):
        """Descriptors passed with a request that does not claim them:
        control closes them at once and drops the client, before it
        reads the request; it holds no more descriptors than before."""
        fds = self.control_fds()
        r, w = os.pipe()
        try:
            c = Client(self.boxd.control)
            socket.send_fds(c.sock, [imsg("IMSG_CTL_STATUS")],
                            [r] * 16)
            reply = c.read_reply()
            self.assertIsNone(reply)
            c.close()
        finally:
            os.close(r)
            os.close(w)
        self.assertRegex(self.boxd.logtext(),
                         r"imsg from client \d+ \(uid \d+\): file "
                         r"descriptors on a channel that takes none: 16 "
                         r"closed")
        self.assert_unharmed()
        if fds is not None:
            deadline = time.time() + 10
            while time.time() < deadline and self.control_fds() > fds:
                time.sleep(0.05)
            self.assertLessEqual(self.control_fds(), fds)

    def test_many_connections_at_once(self):
        """Hundreds of connections in one burst, each sending garbage:
        the ones past the limit are turned away, nothing dies."""
        socks = []
        for _ in range(300):
            sk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sk.setblocking(False)
            if sk.connect_ex(self.boxd.control) == 0:
                socks.append(sk)
            else:
                sk.close()     # the backlog is full
        self.assertGreater(len(socks), 0)
        for sk in socks:
            try:
                sk.send(os.urandom(64))
            except OSError:
                pass
        for sk in socks:
            sk.close()
        self.assert_unharmed()

    def test_never_reads(self):
        """A client that asks for a long list, reads nothing and asks
        again is dropped for not reading; control's memory stays small."""
        b = self.boxd
        b.boxctl("domain", "add", "unread.test")
        targets = ",".join("target-number-%03d@elsewhere.example" % i
                           for i in range(256))
        for i in range(100):
            b.boxctl("alias", "add", "list%03d@unread.test" % i, targets)
        request = imsg("IMSG_CTL_ALIAS_LIST", s("unread.test"))
        c = Client(b.control)
        c.send(request)
        # the answer is on its way once the first bytes are here
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if c.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                    break
            except BlockingIOError:
                time.sleep(0.02)
        # auth answers in order: once this is done, so is that request
        b.boxctl("domain", "list")
        c.send(request)
        deadline = time.time() + 20
        while time.time() < deadline:
            if re.search(r"dropping client \d+ \(uid \d+\): not reading "
                         r"its replies", b.logtext()):
                break
            time.sleep(0.05)
        self.assertRegex(b.logtext(), r"dropping client \d+ \(uid \d+\): "
                         r"not reading its replies")
        self.assertTrue(c.closed())
        c.close()
        self.assert_unharmed()
        with open("/proc/%d/status" % self.control) as f:
            rss = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))
        self.assertLess(rss, 32 * 1024)

    @unittest.skipUnless(os.getuid() == 0,
                         "needs root to read the processes' memory")
    def test_no_password_left_in_control_or_auth(self):
        """After user add and user passwd, neither control's memory nor
        auth's holds a copy of either password."""
        b = self.boxd
        b.boxctl("domain", "add", "wipe.test")
        first = "first-%s-secret" % os.urandom(8).hex()
        second = "second-%s-secret" % os.urandom(8).hex()
        b.boxctl("user", "add", "w@wipe.test", "--password-stdin",
                 input=first + "\n")
        b.boxctl("user", "passwd", "w@wipe.test", "--password-stdin",
                 input=second + "\n")
        b.boxctl("status")
        for role in ("control", "auth"):
            memory = read_memory(role_pid(b, role))
            # the search sees what is there: each holds its configuration
            self.assertTrue(b.storage.encode() in memory, role)
            self.assertFalse(first.encode() in memory,
                             "%s: user add's password" % role)
            self.assertFalse(second.encode() in memory,
                             "%s: user passwd's password" % role)


class SlowParentCase(unittest.TestCase):
    """A status request that times out ends its client: the answers that
    come late find nobody, and cannot pass for those of the client's next
    request (a late OK for a reload that failed)."""

    def setUp(self):
        self.boxd = boxdtest.Boxd()
        self.addCleanup(self.boxd.cleanup)
        self.boxd.start()

    def resume(self):
        try:
            os.kill(self.boxd.proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def test_late_answers_to_a_timed_out_status(self):
        b = self.boxd
        with open(b.conf) as f:
            good = f.read()
        c = Client(b.control)
        self.addCleanup(c.close)
        c.sock.settimeout(60)
        os.kill(b.proc.pid, signal.SIGSTOP)
        self.addCleanup(self.resume)
        c.send(imsg("IMSG_CTL_STATUS"))
        self.assertEqual(c.read_reply(),
                         ("IMSG_CTL_FAIL",
                          s("timed out waiting for the processes")))
        # a reload that must fail, asked while the parent's answers to
        # the status are still to come
        with open(b.conf, "a") as f:
            f.write("bogus directive\n")
        try:
            c.send(imsg("IMSG_CTL_RELOAD"))
        except OSError:
            pass        # already closed
        # the parent goes on once control has taken the reload, or the
        # client is gone
        taken = re.compile(r"reload requested by client|dropping client "
                           r"\d+ \(uid \d+\): status timed out")
        deadline = time.time() + 20
        while time.time() < deadline and not taken.search(b.logtext()):
            time.sleep(0.05)
        self.resume()
        try:
            reply = c.read_reply()
        except ConnectionResetError:
            reply = None
        self.assertIsNone(reply)
        self.assertRegex(b.logtext(), r"dropping client \d+ \(uid \d+\): "
                         r"status timed out")
        # boxctl after it hears of the failure
        p = b.boxctl("reload", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b.conf + ":", p.stderr)
        with open(b.conf, "w") as f:
            f.write(good)
        self.assertEqual(b.boxctl("reload").returncode, 0)
        self.assertIn("control", b.boxctl("status").stdout)


class VersionCase(unittest.TestCase):
    """boxctl and boxd say which control protocol they speak before
    anything else, and refuse a peer of another with a message that
    names both."""

    # what boxctl 0.1, which knows no HELLO, numbers its messages
    OLD_DOMAIN_LIST, OLD_USER_ADD, OLD_FAIL, OLD_TYPE_MAX = 29, 30, 43, 44

    @classmethod
    def setUpClass(cls):
        cls.boxd = boxdtest.Boxd()
        try:
            cls.boxd.start()
        except Exception:
            cls.boxd.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.boxd.cleanup()

    def setUp(self):
        self.control = control_pid(self.boxd)

    def tearDown(self):
        # whatever the client did, control and the service live on
        self.assertEqual(self.boxd.boxctl("status").returncode, 0)
        self.assertEqual(control_pid(self.boxd), self.control)

    def refusal(self, c):
        """The one message boxd sends before it hangs up: its text."""
        reply = c.read_reply()
        self.assertIsNotNone(reply)
        self.assertEqual(reply[0], "IMSG_CTL_FAIL")
        (n,) = struct.unpack(">I", reply[1][:4])
        self.assertEqual(len(reply[1]), 4 + n)
        self.assertTrue(c.closed())
        return reply[1][4:].decode()

    def test_hello(self):
        c = Client(self.boxd.control, hello=False)
        c.send(hello_msg())
        name, payload = c.read_reply()
        self.assertEqual(name, "IMSG_CTL_HELLO")
        self.assertEqual(payload, struct.pack(">I", PROTOCOL) + s(VERSION))
        # then a request as usual
        c.send(imsg("IMSG_CTL_DOMAIN_LIST"))
        self.assertEqual(c.read_reply(), ("IMSG_CTL_OK", b""))
        c.close()

    def test_other_protocol(self):
        c = Client(self.boxd.control, hello=False)
        c.send(hello_msg(protocol=PROTOCOL + 1, version="9.9"))
        self.assertEqual(self.refusal(c),
                         "boxctl 9.9 speaks control protocol %d, boxd %s "
                         "speaks %d: use the boxctl of the same build" %
                         (PROTOCOL + 1, VERSION, PROTOCOL))
        c.close()
        self.assertRegex(self.boxd.logtext(),
                         r"dropping client \d+ \(uid \d+\): boxctl 9\.9 "
                         r"speaks control protocol %d" % (PROTOCOL + 1))

    def test_later_hello_says_more(self):
        """A later protocol's hello may carry more: this boxd still reads
        the version and refuses it by name; a hostile version string is
        shown tamed."""
        c = Client(self.boxd.control, hello=False)
        c.send(hello_msg(protocol=0xffffffff, version="\x1b[2J7.0",
                         extra=os.urandom(100)))
        self.assertIn("boxctl ?[2J7.0 speaks control protocol 4294967295",
                      self.refusal(c))
        c.close()

    def test_no_version(self):
        """boxctl 0.1 sends its request at once, numbered as it was then;
        the answer is the FAIL it knows, with a message it prints."""
        for request in (struct.pack(">IIII", self.OLD_DOMAIN_LIST, 16, 0, 0),
                        struct.pack(">IIII", self.OLD_USER_ADD, 16 + 25, 0,
                                    0) + s("u@v.test") + s("password1")):
            c = Client(self.boxd.control, hello=False)
            c.send(request)
            reply = c.sock.recv(65536)
            t, length, flags, peerid = struct.unpack(">IIII", reply[:16])
            # what boxctl 0.1's imsgbuf_get accepts, and what it prints
            self.assertEqual(t, self.OLD_FAIL)
            self.assertLess(t, self.OLD_TYPE_MAX)
            self.assertEqual((length, flags), (len(reply), 0))
            (n,) = struct.unpack(">I", reply[16:20])
            self.assertEqual(reply[20:20 + n].decode(),
                             "this boxctl speaks no control protocol "
                             "version (it is older), boxd %s speaks %d: use "
                             "the boxctl of the same build" %
                             (VERSION, PROTOCOL))
            self.assertTrue(c.closed())
            c.close()
        self.assertRegex(self.boxd.logtext(),
                         r"dropping client \d+ \(uid \d+\): a boxctl "
                         r"without a protocol version")
        self.assertNotIn("u@v.test", self.boxd.boxctl("user",
                                                       "list").stdout)

    def test_bad_hellos(self):
        """Malformed or misplaced hellos drop the client, nothing more."""
        cases = [
            imsg("IMSG_CTL_HELLO"),
            imsg("IMSG_CTL_HELLO", struct.pack(">I", PROTOCOL)),
            imsg("IMSG_CTL_HELLO", struct.pack(">II", PROTOCOL, 1000) + b"x"),
            imsg("IMSG_CTL_HELLO", struct.pack(">I", PROTOCOL) +
                 s(b"0.\x001")),
            imsg("IMSG_CTL_OK"),                 # no request, no hello
            imsg("IMSG_CONF_START"),
        ]
        for data in cases:
            c = Client(self.boxd.control, hello=False)
            c.send(data)
            self.assertTrue(c.closed(), data)
            c.close()
        # a second hello is no request
        c = Client(self.boxd.control)
        c.send(hello_msg())
        self.assertTrue(c.closed())
        c.close()


class FakeBoxd:
    """A control socket whose server answers boxctl's hello with the
    given bytes (None: hangs up at once, as boxd 0.1 does), and keeps
    what boxctl sent."""

    def __init__(self, directory, answer):
        self.path = os.path.join(directory, "fake.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.sock.settimeout(20)
        self.answer = answer
        self.received = b""
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        conn.settimeout(20)
        with conn:
            while len(self.received) < 16:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                self.received += chunk
            if self.answer is not None:
                conn.sendall(self.answer)
                # what boxctl sends after it: nothing, if it refused
                try:
                    while True:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        self.received += chunk
                except socket.timeout:
                    pass

    def close(self):
        self.thread.join(30)
        self.sock.close()


class BoxctlVersionCase(unittest.TestCase):
    """boxctl against a server of another protocol version."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="boxd-test-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def boxctl(self, fake, *args):
        p = subprocess.run([boxdtest.BOXCTL, "-s", fake.path] + list(args),
                           capture_output=True, text=True, timeout=60)
        fake.close()
        return p

    def test_server_of_another_protocol(self):
        fake = FakeBoxd(self.dir, hello_msg(protocol=PROTOCOL + 1,
                                                 version="9.9"))
        p = self.boxctl(fake, "domain", "add", "never.test")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr,
                         "boxctl: boxd 9.9 speaks control protocol %d, "
                         "boxctl %s speaks %d: use the boxctl of the same "
                         "build\n" % (PROTOCOL + 1, VERSION, PROTOCOL))
        self.assertEqual(p.stdout, "")
        # it said hello, and sent no request to a boxd it cannot speak to
        self.assertEqual(fake.received, hello_msg())

    def test_server_without_hello(self):
        """boxd 0.1 hangs up on a hello it does not know."""
        fake = FakeBoxd(self.dir, None)
        p = self.boxctl(fake, "status")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr,
                         "boxctl: boxd closed the connection without "
                         "saying which control protocol it speaks (boxctl "
                         "%s speaks %d): use the boxctl of the same build\n"
                         % (VERSION, PROTOCOL))

    def test_server_refuses(self):
        """A FAIL instead of a hello is printed as it is."""
        why = "boxctl 0.0 speaks control protocol 0, boxd 9.9 speaks 9"
        fake = FakeBoxd(self.dir, imsg("IMSG_CTL_FAIL", s(why)))
        p = self.boxctl(fake, "status")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, "boxctl: %s\n" % why)


def read_memory(pid):
    """Every writable mapping of the process, but for huge reservations
    (a sanitizer's shadow memory) that hold none of its data."""
    out = []
    with open("/proc/%d/maps" % pid) as maps, \
            open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if not fields[1].startswith("rw"):
                continue
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if hi - lo > 256 * 1024 * 1024:
                continue
            try:
                mem.seek(lo)
                out.append(mem.read(hi - lo))
            except (OSError, ValueError):
                pass
    return b"".join(out)


if __name__ == "__main__":
    unittest.main()
