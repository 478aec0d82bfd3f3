"""boxctl against a running boxd: every command from the admin's side
(output, stderr, exit status, tables unchanged after a refusal), JSON
output, hostile control clients, and kill -9 during user adds."""

import itertools
import json
import os
import pty
import random
import re
import select
import smtplib
import socket
import struct
import subprocess
import threading
import time
import unittest

import boxdtest

PASSWORD = "correct horse battery\n"


def imsg_types():
    """The numbers of the imsg types, read from the one header: X(NAME)
    counts up from IMSG_INTERNAL_BASE, CTL(NAME, N) is N."""
    path = os.path.join(boxdtest.TOP, "common", "imsg_types.h")
    with open(path) as f:
        text = f.read()
    base = int(re.search(r"#define IMSG_INTERNAL_BASE\s+(\w+)", text)
               .group(1), 0)
    body = text[text.index("#define IMSG_TYPES("):]
    body = body[:body.index("\n\n")]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    types, internal = {}, base
    for kind, name, number in re.findall(
            r"\b(X|CTL)\((\w+)(?:,\s*(\w+))?\)", body[body.index(")"):]):
        if kind == "CTL":
            types["IMSG_" + name] = int(number, 0)
        else:
            types["IMSG_" + name] = internal
            internal += 1
    return types


TYPES = imsg_types()


def header_define(name):
    """A #define of common/, as text: the build's own values."""
    for header in ("common.h", "imsg_types.h"):
        with open(os.path.join(boxdtest.TOP, "common", header)) as f:
            m = re.search(r"#define %s\s+(\S+)" % name, f.read())
        if m:
            return m.group(1)
    raise KeyError(name)


PROTOCOL = int(header_define("CTL_PROTOCOL_VERSION"))
VERSION = header_define("BOXD_VERSION").strip('"')


def imsg(type_name, payload=b"", peerid=0, flags=0):
    return struct.pack(">IIII", TYPES[type_name], 16 + len(payload), flags,
                       peerid) + payload


def s(text):
    data = text.encode() if isinstance(text, str) else text
    return struct.pack(">I", len(data)) + data


def hello_msg(protocol=PROTOCOL, version=VERSION, extra=b""):
    return imsg("IMSG_CTL_HELLO", struct.pack(">I", protocol) + s(version) +
                extra)


class Client:
    """A raw control-socket client speaking imsg; it says hello first,
    as boxctl does, unless told not to."""

    def __init__(self, path, hello=True):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)     # blocking: waits for the backlog
        self.sock.settimeout(10)
        self.buf = b""
        if hello:
            self.hello()

    def hello(self):
        self.send(hello_msg())
        reply = self.read_reply()
        if reply is None or reply[0] != "IMSG_CTL_HELLO":
            raise AssertionError("no hello from boxd: %r" % (reply,))
        return reply

    def send(self, data):
        self.sock.sendall(data)

    def read_reply(self):
        """(type name, payload) of the next imsg, or None at EOF."""
        while True:
            if len(self.buf) >= 16:
                t, length, _, _ = struct.unpack(">IIII", self.buf[:16])
                if len(self.buf) >= length:
                    payload = self.buf[16:length]
                    self.buf = self.buf[length:]
                    name = [k for k, v in TYPES.items() if v == t][0]
                    return name, payload
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def closed(self):
        """True once the server has closed this connection."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


class BoxctlCase(unittest.TestCase):
    """One boxd for the whole class; each test uses its own domain."""

    @classmethod
    def setUpClass(cls):
        cls.boxd = boxdtest.Boxd()
        try:
            cls.boxd.start()
        except Exception:
            cls.boxd.kill9()
            cls.boxd.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.boxd.cleanup()

    def ctl(self, *args, input=None):
        return self.boxd.boxctl(*args, input=input, check=False)

    def ok(self, *args, input=None):
        p = self.ctl(*args, input=input)
        self.assertEqual(p.returncode, 0, "boxctl %s: %s" %
                         (" ".join(args), p.stderr))
        self.assertEqual(p.stderr, "")
        return p.stdout

    def tables(self):
        return (self.ok("domain", "list"), self.ok("-j", "domain", "list"),
                self.ok("-j", "user", "list"), self.ok("-j", "alias", "list"))

    def refused(self, args, message, input=None):
        """The command fails with "boxctl: ...message...", tables
        unchanged."""
        before = self.tables()
        p = self.ctl(*args, input=input)
        self.assertEqual(p.returncode, 1, "boxctl %s succeeded" %
                         " ".join(args))
        self.assertTrue(p.stderr.startswith("boxctl: "), p.stderr)
        self.assertIn(message, p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertEqual(before, self.tables())
        return p

    def usage_error(self, args):
        before = self.tables()
        p = self.ctl(*args)
        self.assertEqual(p.returncode, 1)
        self.assertIn("usage: boxctl", p.stderr)
        self.assertEqual(before, self.tables())

    def control_pid(self):
        for row in self.json_rows("status"):
            if row.get("role") == "control":
                return row["pid"]
        self.fail("no control process in status")

    def json_rows(self, *args):
        out = self.ok("-j", *args)
        return [json.loads(line) for line in out.splitlines()]

    # ---------------------------------------------------------- domains

    def test_domain(self):
        self.assertEqual(self.ok("domain", "add", "dom.test"), "")
        self.assertIn("dom.test", self.ok("domain", "list").split("\n"))
        self.refused(["domain", "add", "dom.test"],
                     "domain dom.test already exists")
        self.refused(["domain", "add", "DOM.Test"],
                     "domain dom.test already exists")
        self.refused(["domain", "add", "not a domain"],
                     "invalid domain name: not a domain")
        self.refused(["domain", "add", "a" * 300 + ".test"],
                     "invalid domain name")
        self.refused(["domain", "del", "nothere.test"],
                     "domain nothere.test does not exist")
        self.ok("user", "add", "u1@dom.test", "--password-stdin",
                input=PASSWORD)
        self.refused(["domain", "del", "dom.test"],
                     "domain dom.test still has 1 user")
        self.ok("alias", "add", "a1@dom.test", "u1@dom.test")
        self.ok("alias", "add", "a2@dom.test", "u1@dom.test")
        self.refused(["domain", "del", "dom.test"],
                     "domain dom.test still has 1 user and 2 aliases")
        self.ok("alias", "del", "a1@dom.test")
        self.ok("alias", "del", "a2@dom.test")
        self.ok("user", "del", "u1@dom.test")
        self.assertEqual(self.ok("domain", "del", "Dom.TEST"), "")
        self.assertNotIn("dom.test", self.ok("domain", "list").split())
        self.usage_error(["domain", "frob", "x.test"])

    def test_domain_upper_case_is_lowered(self):
        self.ok("domain", "add", "UPPER.Test")
        self.assertIn("upper.test", self.ok("domain", "list").split())
        rows = [r for r in self.json_rows("domain", "list")
                if r["domain"] == "upper.test"]
        self.assertEqual(rows, [{"domain": "upper.test", "users": 0,
                                 "aliases": 0}])
        self.ok("domain", "del", "upper.test")

    # ---------------------------------------------------------- users

    def test_user(self):
        self.ok("domain", "add", "users.test")
        self.assertEqual(self.ok("user", "add", "Alice@Users.Test",
                                 "--password-stdin", input=PASSWORD), "")
        self.ok("user", "add", "--password-stdin", "bob@users.test",
                input="another password")  # no trailing newline
        self.assertEqual(self.ok("user", "list", "users.test"),
                         "alice@users.test  used 0  messages 0\n"
                         "bob@users.test  used 0  messages 0\n")
        self.refused(["user", "add", "alice@users.test",
                      "--password-stdin"],
                     "user alice@users.test already exists", input=PASSWORD)
        self.refused(["user", "add", "ALICE@users.test",
                      "--password-stdin"], "already exists", input=PASSWORD)
        self.refused(["user", "add", "carol@nodomain.test",
                      "--password-stdin"],
                     "domain nodomain.test does not exist", input=PASSWORD)
        self.refused(["user", "add", "carol@users.test",
                      "--password-stdin"],
                     "password too short: at least 8 characters",
                     input="1234567\n")
        self.refused(["user", "add", "carol@users.test",
                      "--password-stdin"], "no password on stdin", input="")
        self.refused(["user", "add", "carol@users.test",
                      "--password-stdin"], "password too long",
                     input="x" * 600 + "\n")
        self.refused(["user", "add", "carol", "--password-stdin"],
                     "invalid address: carol", input=PASSWORD)
        self.refused(["user", "add", "a b@users.test", "--password-stdin"],
                     "invalid address", input=PASSWORD)
        # no terminal and no --password-stdin: refused, never from argv
        self.refused(["user", "add", "carol@users.test"],
                     "no terminal to ask for the password; use "
                     "--password-stdin", input=PASSWORD)
        self.usage_error(["user", "add", "carol@users.test", "secret12345"])
        self.refused(["user", "del", "carol@users.test"],
                     "user carol@users.test does not exist")
        self.refused(["user", "list", "nodomain.test"],
                     "domain nodomain.test does not exist")

        self.ok("user", "passwd", "alice@users.test", "--password-stdin",
                input="a new password\n")
        self.refused(["user", "passwd", "carol@users.test",
                      "--password-stdin"],
                     "user carol@users.test does not exist", input=PASSWORD)
        self.refused(["user", "passwd", "alice@users.test",
                      "--password-stdin"], "password too short",
                     input="short\n")

        self.ok("user", "quota", "alice@users.test", "2G")
        self.ok("user", "disable", "bob@users.test")
        self.assertEqual(self.ok("user", "list", "users.test"),
                         "alice@users.test  used 0  messages 0  quota 2G\n"
                         "bob@users.test  used 0  messages 0  disabled\n")
        rows = self.json_rows("user", "list", "users.test")
        self.assertEqual(rows, [
            {"address": "alice@users.test", "quota": 2 << 30,
             "disabled": False, "used": 0, "messages": 0},
            {"address": "bob@users.test", "quota": 0, "disabled": True,
             "used": 0, "messages": 0}])
        self.refused(["user", "quota", "alice@users.test", "lots"],
                     "invalid size: lots")
        self.refused(["user", "quota", "carol@users.test", "1M"],
                     "user carol@users.test does not exist")
        self.refused(["user", "disable", "carol@users.test"],
                     "user carol@users.test does not exist")
        self.ok("user", "quota", "alice@users.test", "500M")
        self.assertIn("alice@users.test  used 0  messages 0  quota 500M",
                      self.ok("user", "list"))
        self.ok("user", "quota", "alice@users.test", "none")
        self.ok("user", "enable", "bob@users.test")
        self.assertEqual(self.ok("user", "list", "users.test"),
                         "alice@users.test  used 0  messages 0\n"
                         "bob@users.test  used 0  messages 0\n")
        self.ok("user", "del", "ALICE@users.test")
        self.ok("user", "del", "bob@users.test")
        self.assertEqual(self.ok("user", "list", "users.test"), "")
        self.ok("domain", "del", "users.test")

    def test_password_prompt(self):
        """On a terminal the password is asked twice and must match."""
        self.ok("domain", "add", "tty.test")

        def run(answers):
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(boxdtest.BOXCTL, [boxdtest.BOXCTL, "-s",
                                           self.boxd.control, "user", "add",
                                           "tty@tty.test"])
            out = since = b""
            pending = list(answers)
            deadline = time.time() + 20
            while time.time() < deadline:
                r, _, _ = select.select([fd], [], [], 0.5)
                if not r:
                    continue
                try:
                    chunk = os.read(fd, 1024)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
                since += chunk
                # answer each prompt once it is all there
                if pending and since.rstrip().endswith(b":"):
                    os.write(fd, pending.pop(0).encode() + b"\r")
                    since = b""
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done != 0 or time.time() > deadline:
                    break
                time.sleep(0.05)
            if done == 0:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                os.close(fd)
                self.fail("boxctl hangs: %r after %r\n%s" %
                          (out, answers, self.boxd.logtext()[-3000:]))
            os.close(fd)
            return os.waitstatus_to_exitcode(status), out.decode()

        code, out = run(["first password", "other password"])
        self.assertEqual(code, 1, out)
        self.assertIn("the passwords do not match", out)
        self.assertNotIn("tty@tty.test", self.ok("user", "list"))
        code, out = run(["same password", "same password"])
        self.assertEqual(code, 0, out)
        self.assertNotIn("same password", out)  # no echo
        self.assertIn("tty@tty.test", self.ok("user", "list"))
        self.ok("user", "del", "tty@tty.test")
        self.ok("domain", "del", "tty.test")

    # ---------------------------------------------------------- aliases

    def test_alias(self):
        self.ok("domain", "add", "alias.test")
        self.ok("user", "add", "u@alias.test", "--password-stdin",
                input=PASSWORD)
        self.assertEqual(self.ok("alias", "add", "Info@alias.test",
                                 "u@alias.test,Someone@Remote.test"), "")
        self.ok("alias", "add", "@alias.test", "u@alias.test")
        self.ok("alias", "add", "two@alias.test", "u@alias.test",
                "x@remote.test, y@remote.test")
        self.assertEqual(self.ok("alias", "list", "alias.test"),
                         "@alias.test u@alias.test\n"
                         "info@alias.test u@alias.test,someone@remote.test\n"
                         "two@alias.test u@alias.test,x@remote.test,"
                         "y@remote.test\n")
        rows = self.json_rows("alias", "list", "alias.test")
        self.assertEqual(rows[1], {"address": "info@alias.test",
                                   "targets": ["u@alias.test",
                                               "someone@remote.test"]})
        self.refused(["alias", "add", "info@alias.test", "u@alias.test"],
                     "alias info@alias.test already exists")
        self.refused(["alias", "add", "u@alias.test", "x@remote.test"],
                     "u@alias.test is a user")
        self.refused(["user", "add", "info@alias.test", "--password-stdin"],
                     "info@alias.test is an alias", input=PASSWORD)
        self.refused(["alias", "add", "x@nodomain.test", "u@alias.test"],
                     "domain nodomain.test does not exist")
        self.refused(["alias", "add", "@nodomain.test", "u@alias.test"],
                     "domain nodomain.test does not exist")
        self.refused(["alias", "add", "x@alias.test", "not-an-address"],
                     "invalid address: not-an-address")
        self.refused(["alias", "add", "x@alias.test", "a@b.test,,c@d.test"],
                     "empty target")
        self.usage_error(["alias", "add", "x@alias.test"])
        self.refused(["alias", "add", "x@alias.test", "X@alias.test"],
                     "alias x@alias.test: cannot point to itself")
        self.refused(["alias", "del", "nope@alias.test"],
                     "alias nope@alias.test does not exist")
        self.refused(["alias", "list", "nodomain.test"],
                     "domain nodomain.test does not exist")
        self.ok("alias", "del", "INFO@alias.test")
        self.ok("alias", "del", "@alias.test")
        self.ok("alias", "del", "two@alias.test")
        self.assertEqual(self.ok("alias", "list", "alias.test"), "")
        self.ok("user", "del", "u@alias.test")
        self.ok("domain", "del", "alias.test")

    def test_alias_many_targets(self):
        self.ok("domain", "add", "many.test")
        targets = ["target%03d@remote%03d.test" % (i, i) for i in range(256)]
        self.ok("alias", "add", "big@many.test", ",".join(targets))
        self.assertEqual(self.ok("alias", "list", "many.test"),
                         "big@many.test " + ",".join(targets) + "\n")
        rows = self.json_rows("alias", "list", "many.test")
        self.assertEqual(rows[0]["targets"], targets)
        self.refused(["alias", "add", "bigger@many.test",
                      ",".join(targets + ["one@more.test"])],
                     "alias bigger@many.test: too many targets (at most 256)")
        self.refused(["alias", "add", "huge@many.test",
                      ",".join("t%d@%s.test" % (i, "x" * 60)
                               for i in range(300))],
                     "request too large")
        self.ok("alias", "del", "big@many.test")
        self.ok("domain", "del", "many.test")

    def test_rcpt_resolution(self):
        """auth's lookups, seen through the smtp listener."""
        b = self.boxd
        self.ok("domain", "add", "rcpt.test")
        for u in ("alice", "bob", "carol"):
            self.ok("user", "add", u + "@rcpt.test", "--password-stdin",
                    input=PASSWORD)
        self.ok("alias", "add", "team@rcpt.test",
                "alice@rcpt.test,bob@rcpt.test")
        self.ok("alias", "add", "loop1@rcpt.test", "loop2@rcpt.test")
        self.ok("alias", "add", "loop2@rcpt.test",
                "loop1@rcpt.test,carol@rcpt.test")
        self.ok("user", "disable", "carol@rcpt.test")

        def rcpt(addr):
            with smtplib.SMTP("127.0.0.1", b.smtp_port, timeout=10) as c:
                c.ehlo("client.test")
                c.mail("sender@client.test")
                return c.rcpt(addr)[0]

        self.assertEqual(rcpt("alice@rcpt.test"), 250)
        self.assertEqual(rcpt("ALICE@Rcpt.Test"), 250)
        self.assertEqual(rcpt("alice+news@rcpt.test"), 250)
        self.assertEqual(rcpt("team@rcpt.test"), 250)
        self.assertEqual(rcpt("loop1@rcpt.test") // 100, 5)  # only carol
        self.assertEqual(rcpt("carol@rcpt.test") // 100, 5)
        self.assertEqual(rcpt("nobody@rcpt.test") // 100, 5)
        self.ok("alias", "add", "@rcpt.test", "bob@rcpt.test")
        self.assertEqual(rcpt("nobody@rcpt.test"), 250)
        self.ok("user", "enable", "carol@rcpt.test")
        self.assertEqual(rcpt("loop1@rcpt.test"), 250)
        for a in ("@rcpt.test", "team@rcpt.test", "loop1@rcpt.test",
                  "loop2@rcpt.test"):
            self.ok("alias", "del", a)
        for u in ("alice", "bob", "carol"):
            self.ok("user", "del", u + "@rcpt.test")
        self.ok("domain", "del", "rcpt.test")

    # ---------------------------------------------------------- the rest

    def test_status(self):
        out = self.ok("status")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["role", "pid", "user", "uptime"])
        roles = [l.split()[0] for l in lines[1:-1]]
        for role in ("parent", "control", "smtp", "auth", "queue", "mda"):
            self.assertIn(role, roles)
        self.assertRegex(lines[-1], r"^sessions \d+, received \d+, "
                         r"delivered \d+, queued \d+, imap_sessions \d+$")
        rows = self.json_rows("status")
        procs = [r for r in rows if "role" in r]
        self.assertEqual(len(procs), len(roles))
        for r in procs:
            self.assertEqual(set(r), {"role", "pid", "user", "uptime"})
            self.assertIsInstance(r["pid"], int)
            self.assertIsInstance(r["uptime"], int)
        counters = [r for r in rows if "sessions" in r]
        self.assertEqual(len(counters), 1)
        for k in ("sessions", "received", "delivered", "queued",
                  "imap_sessions"):
            self.assertIsInstance(counters[0][k], int)

    def test_json_escaping(self):
        self.ok("domain", "add", "json.test")
        # a local part with a quote and a backslash-free odd character
        self.ok("alias", "add", "j@json.test", "\"we\\\"ird\"@remote.test")
        rows = self.json_rows("alias", "list", "json.test")
        self.assertEqual(rows[0]["address"], "j@json.test")
        self.assertEqual(rows[0]["targets"], ["\"we\\\"ird\"@remote.test"])
        self.ok("alias", "del", "j@json.test")
        self.ok("domain", "del", "json.test")

    def test_reload(self):
        self.assertEqual(self.ok("reload"), "")
        with open(self.boxd.conf) as f:
            good = f.read()
        try:
            with open(self.boxd.conf, "a") as f:
                f.write("frobnicate yes\n")
            p = self.ctl("reload")
            self.assertEqual(p.returncode, 1)
            self.assertRegex(p.stderr, r"^boxctl: %s:\d+: " %
                             re.escape(self.boxd.conf))
        finally:
            with open(self.boxd.conf, "w") as f:
                f.write(good)
        self.assertEqual(self.ok("reload"), "")
        self.ok("domain", "list")

    def test_usage(self):
        for args in ([], ["frobnicate"], ["status", "extra"],
                     ["user"], ["user", "add"], ["queue", "frob"],
                     ["dns"], ["dkim", "rotate"], ["backup", "/tmp"]):
            p = subprocess.run([boxdtest.BOXCTL, "-s", self.boxd.control] +
                               args, capture_output=True, text=True)
            self.assertEqual(p.returncode, 1, args)
            self.assertIn("usage: boxctl", p.stderr, args)
            self.assertEqual(p.stdout, "")
        p = subprocess.run([boxdtest.BOXCTL, "-s", "x", "-f", "y",
                            "status"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)

    def test_no_socket(self):
        path = os.path.join(self.boxd.dir, "nothing-here.sock")
        p = subprocess.run([boxdtest.BOXCTL, "-s", path, "domain", "list"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr,
                         "boxctl: %s: No such file or directory\n" % path)

    def test_config_flag(self):
        p = subprocess.run([boxdtest.BOXCTL, "-f", self.boxd.conf,
                            "domain", "list"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        bad = os.path.join(self.boxd.dir, "bad.conf")
        with open(bad, "w") as f:
            f.write("frobnicate yes\n")
        p = subprocess.run([boxdtest.BOXCTL, "-f", bad, "domain", "list"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith("boxctl: %s:1: " % bad),
                        p.stderr)

    def test_peer_credentials(self):
        """The socket is its owner's alone; other users are refused even
        when the mode would let them in."""
        st = os.stat(self.boxd.control)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertEqual(st.st_uid, os.getuid())
        if os.getuid() != 0:
            return      # no other user to try as
        dirmode = os.stat(self.boxd.dir).st_mode & 0o777
        os.chmod(self.boxd.dir, 0o711)
        os.chmod(self.boxd.control, 0o666)
        try:
            p = subprocess.run(["runuser", "-u", "nobody", "--",
                                boxdtest.BOXCTL, "-s", self.boxd.control,
                                "domain", "list"], capture_output=True,
                               text=True)
        finally:
            os.chmod(self.boxd.control, 0o600)
            os.chmod(self.boxd.dir, dirmode)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, r"^boxctl: permission denied: uid \d+ "
                         r"is not root or the user who started boxd\n$")
        self.assertRegex(self.boxd.logtext(), r"refused uid \d+")
        self.ok("domain", "list")

    def test_hostile_clients(self):
        """Garbage on the control socket drops that client only."""
        pid = self.control_pid()
        path = self.boxd.control
        cases = [
            os.urandom(4096),
            struct.pack(">IIII", TYPES["IMSG_CTL_DOMAIN_LIST"], 0xfffffff0,
                        0, 0),
            struct.pack(">IIII", TYPES["IMSG_CTL_DOMAIN_LIST"], 8, 0, 0),
            struct.pack(">IIII", 0xffffff, 16, 0, 0),
            struct.pack(">IIII", TYPES["IMSG_CTL_DOMAIN_LIST"], 16, 0x80, 0),
            imsg("IMSG_CTL_USER_ADD", s("x@y.test")),      # a field short
            imsg("IMSG_CTL_DOMAIN_ADD", s("x.test") + b"extra"),
            imsg("IMSG_CTL_DOMAIN_ADD", struct.pack(">I", 1000) + b"x"),
            imsg("IMSG_CTL_DOMAIN_ADD", s(b"a\0b.test")),
            imsg("IMSG_CTL_ALIAS_ADD", s("a@b.test") +
                 struct.pack(">I", 0x7fffffff)),
            imsg("IMSG_CONF_START"),                         # not a request
            imsg("IMSG_AUTH_RCPT", struct.pack(">Q", 1) + s("a@b.test")),
            imsg("IMSG_CTL_OK"),
            imsg("IMSG_CTL_DOMAIN_LIST") * 2,               # no pipelining
        ]
        for data in cases:
            c = Client(path)
            c.send(data)
            self.assertTrue(c.closed(), data[:40])
            c.close()
        # a header, then nothing more, then hang up
        c = Client(path)
        c.send(struct.pack(">IIII", TYPES["IMSG_CTL_DOMAIN_ADD"], 1000, 0,
                           0))
        c.close()
        # a file descriptor with the request
        c = Client(path)
        r, w = os.pipe()
        socket.send_fds(c.sock, [imsg("IMSG_CTL_DOMAIN_LIST", flags=1)],
                        [r])
        os.close(r)
        os.close(w)
        self.assertTrue(c.closed())
        c.close()
        # a client that goes away before its answer comes
        c = Client(path)
        c.send(imsg("IMSG_CTL_DOMAIN_LIST"))
        c.close()
        self.assertEqual(self.ok("domain", "list"),
                         self.ok("domain", "list"))
        self.assertEqual(self.control_pid(), pid)

    def test_hostile_requests(self):
        """Well-framed requests with hostile contents get a FAIL."""
        pid = self.control_pid()
        before = self.tables()
        requests = [
            imsg("IMSG_CTL_DOMAIN_ADD", s("x" * 10000)),
            imsg("IMSG_CTL_DOMAIN_ADD", s("")),
            imsg("IMSG_CTL_DOMAIN_ADD", s("\x1b[2J.test")),
            imsg("IMSG_CTL_USER_ADD", s("a" * 5000 + "@x.test") +
                 s("password1")),
            imsg("IMSG_CTL_USER_ADD", s("u@nodomain.test") + s("p" * 5000)),
            imsg("IMSG_CTL_USER_ADD", s("u@nodomain.test") + s("")),
            imsg("IMSG_CTL_USER_QUOTA", s("@@@") + struct.pack(">Q", 1)),
            imsg("IMSG_CTL_USER_LIST", s("../../etc")),
            imsg("IMSG_CTL_ALIAS_ADD", s("a@nodomain.test") +
                 struct.pack(">I", 0)),
            imsg("IMSG_CTL_ALIAS_ADD", s("a@nodomain.test") +
                 struct.pack(">I", 300) + s("b@c.test") * 300),
            imsg("IMSG_CTL_ALIAS_DEL", s("@")),
            imsg("IMSG_CTL_USER_DEL", s(b"\xff\xfe@x.test")),
        ]
        for req in requests:
            c = Client(self.boxd.control)
            c.send(req)
            reply = c.read_reply()
            self.assertIsNotNone(reply, req[:60])
            self.assertEqual(reply[0], "IMSG_CTL_FAIL", req[:60])
            (n,) = struct.unpack(">I", reply[1][:4])
            message = reply[1][4:4 + n].decode()  # valid UTF-8
            self.assertNotIn("\x1b", message)
            self.assertLess(len(message), 300)
            c.close()
        self.assertEqual(before, self.tables())
        self.assertEqual(self.control_pid(), pid)

    def test_many_clients(self):
        """Idle clients do not stop others; past the limit, refusals."""
        clients = [Client(self.boxd.control) for _ in range(20)]
        self.ok("domain", "list")
        clients += [Client(self.boxd.control) for _ in range(44)]
        # 64 held open: the next one is turned away, control lives on
        deadline = time.time() + 10
        while time.time() < deadline:
            p = self.ctl("domain", "list")
            if p.returncode != 0:
                break
            time.sleep(0.1)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, "boxctl: busy: 64 clients connected, "
                         "try again later\n")
        for c in clients:
            c.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.ctl("domain", "list").returncode == 0:
                break
            time.sleep(0.1)
        self.ok("domain", "list")
        self.assertIn("more than 64 clients", self.boxd.logtext())


class UsageCase(unittest.TestCase):
    """boxctl user list's usage columns, on a boxd of its own: the many
    users it adds are not deleted."""

    def setUp(self):
        self.boxd = boxdtest.Boxd()
        self.boxd.start()

    def tearDown(self):
        self.boxd.cleanup()

    ok = BoxctlCase.ok
    ctl = BoxctlCase.ctl
    json_rows = BoxctlCase.json_rows

    def test_user_list_usage(self):
        """used and messages come from each user's maildirsize, which imap
        reads for control a batch of users at a time (128): more users
        than that keep their order and their own numbers."""
        users = ["u%03d@usage.test" % i for i in range(140)]
        self.ok("domain", "add", "usage.test")
        for u in users:
            self.ok("user", "add", u, "--password-stdin", input=PASSWORD)
        mail = os.path.join(self.boxd.storage, "mail", "usage.test")
        # what mda and imap would have written: the limit, then changes
        sizes = {5: (1234, 2), 130: (3 << 20, 7), 139: (1536, 1)}
        for i, (size, count) in sizes.items():
            d = os.path.join(mail, "u%03d" % i)
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(d, sub), mode=0o755)
            with open(os.path.join(d, "maildirsize"), "w") as f:
                f.write("0S,0C\n%d 1\n%d %d\n" % (size - 100, 100,
                                                  count - 1))
        # a Maildir imap cannot open: its usage is not known
        locked = os.path.join(mail, "u100")
        os.mkdir(locked, 0o000)
        try:
            rows = self.json_rows("user", "list", "usage.test")
            text = self.ok("user", "list", "usage.test").splitlines()
        finally:
            os.chmod(locked, 0o700)
        self.assertEqual([r["address"] for r in rows], users)
        for i, row in enumerate(rows):
            if i == 100:
                self.assertNotIn("used", row)
                self.assertNotIn("messages", row)
                continue
            size, count = sizes.get(i, (0, 0))
            self.assertEqual((row["used"], row["messages"]), (size, count),
                             row)
        self.assertEqual(len(text), len(users))
        self.assertEqual(text[0], "u000@usage.test  used 0  messages 0")
        self.assertEqual(text[5], "u005@usage.test  used 1.2K  messages 2")
        self.assertEqual(text[100], "u100@usage.test  used ?")
        self.assertEqual(text[130], "u130@usage.test  used 3M  messages 7")
        self.assertEqual(text[139],
                         "u139@usage.test  used 1.5K  messages 1")
        self.assertIn("u100@usage.test", self.boxd.logtext())


class ManyWritesCase(unittest.TestCase):
    """Hundreds of table writes make Berkeley DB shorten a file
    (ftruncate): auth's filter allows it, and auth goes on."""

    def test_many_adds_and_deletes(self):
        b = boxdtest.Boxd()
        try:
            b.start()
            b.boxctl("domain", "add", "many.test")
            for i in range(200):
                b.boxctl("user", "add", "u%d@many.test" % i,
                         "--password-stdin", input=PASSWORD)
            for i in range(190):
                b.boxctl("user", "del", "u%d@many.test" % i)
            self.assertEqual(len(b.boxctl("user", "list", "many.test")
                                 .stdout.splitlines()), 10)
            self.assertNotIn("killed", b.logtext())
            self.assertEqual(b.stop(), 0)
        finally:
            b.cleanup()


class DurabilityCase(unittest.TestCase):
    """kill -9 of the whole process tree while users are being added:
    every add that boxctl reported done is there after a restart."""

    def test_kill9_during_user_add(self):
        b = boxdtest.Boxd()
        try:
            b.start()
            b.boxctl("domain", "add", "dur.test")
            confirmed = []
            rng = random.Random(1)
            numbers = itertools.count(1)
            for cycle in range(4):
                stop = threading.Event()

                def adder():
                    while not stop.is_set():
                        addr = "u%d@dur.test" % next(numbers)
                        p = b.boxctl("user", "add", addr,
                                     "--password-stdin", input=PASSWORD,
                                     check=False)
                        if p.returncode == 0:
                            confirmed.append(addr)

                threads = [threading.Thread(target=adder) for _ in range(3)]
                for t in threads:
                    t.start()
                time.sleep(1.0 + rng.random() * 2)
                b.kill9()
                stop.set()
                for t in threads:
                    t.join()
                b.start()
                listed = b.boxctl("user", "list").stdout.split()
                missing = [a for a in confirmed if a not in listed]
                self.assertEqual(missing, [], "cycle %d" % cycle)
            self.assertGreater(len(confirmed), 10)
            # the tables still work after all that
            b.boxctl("user", "add", "after@dur.test", "--password-stdin",
                     input=PASSWORD)
            b.boxctl("user", "del", "u1@dur.test", check=False)
            self.assertIn("after@dur.test", b.boxctl("user",
                                                      "list").stdout.split())
            self.assertEqual(b.stop(), 0)
            # and, closed cleanly, the files verify
            db = os.path.join(b.storage, "db")
            for name in ("domains.db", "users.db", "aliases.db"):
                p = subprocess.run(["db5.3_verify", "-h", db, name],
                                   capture_output=True, text=True)
                self.assertEqual(p.returncode, 0, p.stderr)
        finally:
            b.cleanup()


if __name__ == "__main__":
    unittest.main()
