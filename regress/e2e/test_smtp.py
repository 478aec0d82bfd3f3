"""End-to-end tests of the SMTP MX listener, from a client's point of view:
real clients (smtplib, swaks, raw sockets) against a boxd of its own, and
the Maildir read back byte for byte.

Run: /usr/bin/python3 -m unittest discover -s regress/e2e -p test_smtp.py -v
"""

import email.utils
import os
import pwd
import random
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from boxdtest import Boxd

DOMAIN = "example.test"
ALICE = "alice@" + DOMAIN
BOB = "bob@" + DOMAIN
CAROL = "carol@" + DOMAIN
DAVE = "dave@" + DOMAIN          # disabled
CATCH_DOMAIN = "catch.test"      # has a catch-all to its postmaster
CATCH_USER = "postmaster@" + CATCH_DOMAIN
SENDER = "sender@client.test"
HELO = "client.test"

ROLE_USERS = ("_boxd", "_boxsmtp", "_boxauth", "_boxqueue", "_boxmail",
              "_boxsign")

QUEUED_RE = re.compile(r"^250 2\.0\.0 Ok: queued as ([0-9a-f]{16})$")


# ---------------------------------------------------------------- helpers

def ensure_role_users():
    """Started by root, boxd demands its role users: create the missing."""
    if os.geteuid() != 0:
        return
    for name in ROLE_USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home",
                            "--home-dir", "/nonexistent", "--shell",
                            "/usr/sbin/nologin", name], check=True,
                           capture_output=True)


def setUpModule():
    ensure_role_users()


def token():
    return uuid.uuid4().hex


def wait_until(pred, timeout=15, step=0.05):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            return v
        time.sleep(step)


def log_tail(b, n=40):
    try:
        return "\n".join(b.logtext().splitlines()[-n:])
    except OSError:
        return "(no log)"


ROLES = ("control", "smtp", "auth", "queue", "mda", "mta", "signer", "imap")


def role_of(pid):
    """The role a boxd child names in its process title (or argv)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            words = re.split(rb"[\x00\s:]+", f.read())
    except OSError:
        return None
    for w in reversed(words):
        if w.decode(errors="replace") in ROLES:
            return w.decode()
    return None


def role_pids(b, timeout=10):
    """{role: pid} of the children of this boxd, once every role has
    named itself (or timeout passed)."""
    deadline = time.time() + timeout
    while True:
        out = {}
        for pid in b.pids()[1:]:
            r = role_of(pid)
            if r is not None:
                out[r] = pid
        if len(out) == len(ROLES) or time.time() > deadline:
            return out
        time.sleep(0.05)


class Reply:
    def __init__(self, lines):
        self.lines = lines
        self.code = int(lines[-1][:3]) if lines[-1][:3].isdigit() else -1

    @property
    def last(self):
        return self.lines[-1]

    @property
    def text(self):
        return "\n".join(self.lines)

    def __repr__(self):
        return "Reply(%r)" % self.text


class Client:
    """A raw SMTP client: bytes in, replies out, nothing hidden."""

    def __init__(self, port, timeout=10, banner=True, source=None):
        kw = {}
        if source is not None:
            kw["source_address"] = (source, 0)
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout, **kw)
        self.timeout = timeout
        self.buf = b""
        self.banner = self.reply() if banner else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("server closed the connection; unread %r" %
                           self.buf)
        self.buf += chunk

    def line(self):
        while b"\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def reply(self):
        lines = []
        while True:
            raw = self.line()
            if not raw.endswith(b"\r\n"):
                raise AssertionError("reply line without CRLF: %r" % raw)
            text = raw[:-2].decode("utf-8", "replace")
            lines.append(text)
            if len(text) >= 4 and text[3] == "-":
                continue
            return Reply(lines)

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def ehlo(self, name=HELO):
        return self.cmd("EHLO " + name)

    def quiet(self, seconds):
        """Whatever arrives within seconds (b"" if nothing)."""
        self.sock.settimeout(seconds)
        got = self.buf
        self.buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        finally:
            self.sock.settimeout(self.timeout)
        return got

    def read_until_closed(self, timeout=10):
        """All that arrives until the server closes; raises
        AssertionError if it does not close within timeout."""
        self.sock.settimeout(timeout)
        got = self.buf
        self.buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return got
                got += chunk
        except ConnectionResetError:
            return got
        except socket.timeout:
            raise AssertionError("server did not close the connection "
                                 "within %ss; got %r" % (timeout, got))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def dot_stuff(msg):
    """The DATA transparency of RFC 5321 4.5.2 on a CRLF message."""
    return re.sub(rb"(?m)^\.", b"..", msg)


def normalize(msg):
    return msg.replace(b"\r\n", b"\n")


def split_delivered(data):
    """(return_path, delivered_to, received, rest) of a Maildir file,
    asserting the three blocks boxd adds are there, in that order."""
    lines = data.split(b"\n")
    if len(lines) < 4:
        raise AssertionError("delivered file too short: %r" % data[:300])
    if not lines[0].startswith(b"Return-Path: <") or \
            not lines[0].endswith(b">"):
        raise AssertionError("first line not Return-Path: %r" % lines[0])
    if not lines[1].startswith(b"Delivered-To: "):
        raise AssertionError("second line not Delivered-To: %r" % lines[1])
    if not lines[2].startswith(b"Received: "):
        raise AssertionError("third line not Received: %r" % lines[2])
    j = 3
    while j < len(lines) and lines[j][:1] in (b"\t", b" "):
        j += 1
    return (lines[0][len(b"Return-Path: <"):-1],
            lines[1][len(b"Delivered-To: "):],
            b"\n".join(lines[2:j]),
            b"\n".join(lines[j:]))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def delivered_with(b, addr, tok):
    """The Maildir files of addr (new/) that contain tok."""
    if isinstance(tok, str):
        tok = tok.encode()
    out = []
    for p in b.messages(addr):
        try:
            data = read(p)
        except FileNotFoundError:
            continue
        if tok in data:
            out.append((p, data))
    return out


def wait_delivered(b, addr, tok, n=1, timeout=20):
    got = wait_until(lambda: len(delivered_with(b, addr, tok)) >= n and
                     delivered_with(b, addr, tok), timeout)
    if not got or len(got) < n:
        raise AssertionError("%s: %d message(s) with %r, wanted %d\n%s" % (
            addr, len(got or []), tok, n, log_tail(b)))
    return got


def set_quota(b, addr, nbytes):
    """boxctl user quota, waited for: imap records it in the Maildir's
    maildirsize, where mda looks, a moment after boxctl returns."""
    b.boxctl("user", "quota", addr, str(nbytes))
    size = os.path.join(b.maildir(addr), "maildirsize")
    if not wait_until(lambda: os.path.exists(size) and
                      read(size).startswith(b"%dS" % nbytes), 30):
        raise AssertionError("%s: quota %d not in effect\n%s" % (
            addr, nbytes, log_tail(b)))


# some 3 KiB of message body in short lines
FILL = b"".join(b"line %02d " % i + b"x" * 90 + b"\r\n" for i in range(30))


def spool_dir(b, sub):
    return os.path.join(b.storage, "queue", sub)


def listdir(path):
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def make_message(tok, to=ALICE, extra=b""):
    return (b"From: Sender <sender@client.test>\r\n"
            b"To: <" + to.encode() + b">\r\n"
            b"Subject: test " + tok.encode() + b"\r\n"
            b"Message-ID: <" + tok.encode() + b"@client.test>\r\n"
            b"\r\n"
            b"Hello " + tok.encode() + b"\r\n" + extra)


def raw_transaction(port, rcpts, msg, sender=SENDER, mail_params=""):
    """One DATA transaction over a raw socket; returns the final reply."""
    c = Client(port)
    try:
        assert c.ehlo().code == 250
        r = c.cmd("MAIL FROM:<%s>%s" % (sender, mail_params))
        assert r.code == 250, r
        for rc in rcpts:
            r = c.cmd("RCPT TO:<%s>" % rc)
            assert r.code == 250, (rc, r)
        r = c.cmd("DATA")
        assert r.code == 354, r
        c.send(dot_stuff(msg) + b".\r\n")
        final = c.reply()
        c.cmd("QUIT")
        return final
    finally:
        c.close()


# the message used for the byte-for-byte tests: every kind of line that
# a careless server rewrites
def tricky_message(tok, to=ALICE):
    body = [
        b"From: =?utf-8?q?S=C3=A9nder?= <sender@client.test>",
        b"To: <" + to.encode() + b">",
        b"Subject: byte for byte " + tok.encode(),
        b"Message-ID: <" + tok.encode() + b"@client.test>",
        b"MIME-Version: 1.0",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: 8bit",
        b"X-Folded: first part",
        b"\tsecond part",
        b"",
        b"plain line",
        b".leading dot",
        b"..two leading dots",
        b". dot and space",
        b"",
        b"",
        b"   leading spaces",
        b"\ttab",
        b"trailing blanks   \t",
        "8-bit: gr\u00fc\u00dfe, \u2713, \u65e5\u672c".encode("utf-8"),
        b"From the mbox line",
        b">From quoted",
        b"x" * 998,
        b"end " + tok.encode(),
    ]
    return b"\r\n".join(body) + b"\r\n"


class BoxdCase(unittest.TestCase):
    """One boxd per class; each test checks the daemon is still alive."""
    boxd_args = {}

    @classmethod
    def setUpClass(cls):
        cls.b = Boxd(**cls.boxd_args)
        try:
            cls.b.start()
            cls.tables()
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

    def tearDown(self):
        self.assertIsNone(self.b.proc.poll(),
                          "boxd died during the test:\n" + log_tail(self.b))

    def client(self, **kw):
        c = Client(self.b.smtp_port, **kw)
        self.addCleanup(c.close)
        return c

    def assertReply(self, r, code, enhanced=None, text=None):
        self.assertEqual(r.code, code, r)
        if enhanced is not None:
            self.assertTrue(r.last[4:].startswith(enhanced + " ") or
                            r.last[4:] == enhanced,
                            "%r: wanted enhanced code %s" % (r, enhanced))
        if text is not None:
            self.assertIn(text.lower(), r.text.lower())

    def assertNotDelivered(self, addrs, tok, wait=1.5):
        time.sleep(wait)
        for a in addrs:
            self.assertEqual(delivered_with(self.b, a, tok), [],
                             "%s got a message that must not exist" % a)

    def assertQueueClean(self, timeout=15):
        """Nothing half-received left, nothing left undelivered."""
        inc = spool_dir(self.b, "incoming")
        spo = spool_dir(self.b, "spool")
        ok = wait_until(lambda: not listdir(inc) and not listdir(spo),
                        timeout)
        self.assertTrue(ok, "queue not empty: incoming=%r spool=%r" %
                        (listdir(inc), listdir(spo)))


# ---------------------------------------------------------------- the MX

class MX(BoxdCase):
    """The MX listener without TLS: delivery, routing, protocol."""

    @classmethod
    def tables(cls):
        b = cls.b
        for u in (ALICE, BOB, CAROL, DAVE, CATCH_USER):
            b.add_user(u)
        b.boxctl("user", "disable", DAVE)
        b.boxctl("alias", "add", "list@" + DOMAIN, ALICE + "," + BOB)
        b.boxctl("alias", "add", "chain@" + DOMAIN, "list@" + DOMAIN)
        b.boxctl("alias", "add", "@" + CATCH_DOMAIN, CATCH_USER)
        b.boxctl("alias", "add", "\u00fcser@" + DOMAIN, BOB)

    # ---- byte for byte

    def check_delivered(self, data, sent, rcpt, sender=SENDER,
                        proto="ESMTP", helo=HELO):
        rp, dt, received, rest = split_delivered(data)
        self.assertEqual(rp, sender.encode())
        self.assertEqual(dt, rcpt.encode())
        self.assertNotIn(b"\r", data)
        prefix = ("Received: from %s ([127.0.0.1])\n\tby %s (boxd) with %s"
                  % (helo, self.b.hostname, proto)).encode()
        self.assertTrue(received.startswith(prefix),
                        "Received header %r does not start with %r" %
                        (received, prefix))
        after = received[len(prefix):len(prefix) + 1]
        self.assertIn(after, (b"", b"\n", b" ", b";"),
                      "protocol is not exactly %s: %r" % (proto, received))
        self.assertEqual(rest, normalize(sent))
        return received

    def test_smtplib_byte_for_byte(self):
        tok = token()
        msg = tricky_message(tok)
        with smtplib.SMTP("127.0.0.1", self.b.smtp_port,
                          local_hostname=HELO, timeout=10) as s:
            s.ehlo()
            refused = s.sendmail(SENDER, [ALICE], msg)
            self.assertEqual(refused, {})
        [(path, data)] = wait_delivered(self.b, ALICE, tok)
        self.check_delivered(data, msg, ALICE)

    def test_swaks_byte_for_byte(self):
        tok = token()
        msg = tricky_message(tok)
        self.assertTrue(shutil.which("swaks"), "swaks is not installed")
        with tempfile.NamedTemporaryFile(suffix=".eml") as f:
            # swaks turns LF into CRLF and adds the last CRLF itself
            f.write(normalize(msg)[:-1])
            f.flush()
            p = subprocess.run(["swaks", "--server", "127.0.0.1:%d" %
                                self.b.smtp_port, "--helo", HELO,
                                "--from", SENDER, "--to", ALICE,
                                "--data", "@" + f.name, "--pipeline"],
                               capture_output=True, timeout=60)
        out = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, out + p.stderr.decode())
        self.assertRegex(out, r"<-\s+250 2\.0\.0 Ok: queued as [0-9a-f]{16}")
        [(path, data)] = wait_delivered(self.b, ALICE, tok)
        self.check_delivered(data, msg, ALICE)

    def test_raw_data_byte_for_byte(self):
        tok = token()
        msg = tricky_message(tok, to=BOB)
        final = raw_transaction(self.b.smtp_port, [BOB], msg)
        self.assertRegex(final.last, QUEUED_RE)
        [(path, data)] = wait_delivered(self.b, BOB, tok)
        self.check_delivered(data, msg, BOB)

    def test_raw_data_split_everywhere(self):
        """The same DATA sent a few bytes per write: line ends and the
        final dot cut at every kind of place."""
        tok = token()
        msg = tricky_message(tok, to=BOB)
        wire = dot_stuff(msg) + b".\r\n"
        c = self.client()
        self.assertEqual(c.ehlo().code, 250)
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % SENDER).code, 250)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % BOB).code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rnd = random.Random(7)
        i = 0
        while i < len(wire):
            n = rnd.choice((1, 1, 2, 3, 7, 50))
            c.send(wire[i:i + n])
            i += n
            if rnd.random() < 0.05:
                time.sleep(0.01)
        self.assertRegex(c.reply().last, QUEUED_RE)
        [(path, data)] = wait_delivered(self.b, BOB, tok)
        self.check_delivered(data, msg, BOB)

    def bdat_session(self, chunks, rcpt=ALICE):
        """BDAT each chunk (the last one with LAST unless it is None:
        then BDAT 0 LAST ends it); returns the replies."""
        c = self.client()
        self.assertEqual(c.ehlo().code, 250)
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % SENDER).code, 250)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % rcpt).code, 250)
        replies = []
        for i, ch in enumerate(chunks):
            last = " LAST" if i == len(chunks) - 1 else ""
            if ch is None:
                c.send("BDAT 0 LAST\r\n")
            else:
                c.send(("BDAT %d%s\r\n" % (len(ch), last)).encode() + ch)
            replies.append(c.reply())
        c.cmd("QUIT")
        return replies

    def test_bdat_byte_for_byte(self):
        tok = token()
        msg = tricky_message(tok)
        # cut between a CR and its LF, in the middle of a line, right
        # after a CRLF, and end with an empty BDAT 0 LAST
        cr = msg.index(b"\r\n", 100) + 1
        mid = cr + 17
        crlf = msg.index(b"\r\n", mid + 40) + 2
        chunks = [msg[:cr], msg[cr:mid], msg[mid:crlf], msg[crlf:], None]
        replies = self.bdat_session(chunks)
        for r, ch in zip(replies[:-1], chunks[:-1]):
            self.assertReply(r, 250)
        self.assertRegex(replies[-1].last, QUEUED_RE)
        [(path, data)] = wait_delivered(self.b, ALICE, tok)
        self.check_delivered(data, msg, ALICE)

    def test_bdat_one_chunk_last(self):
        tok = token()
        msg = tricky_message(tok)
        replies = self.bdat_session([msg])
        self.assertRegex(replies[-1].last, QUEUED_RE)
        [(path, data)] = wait_delivered(self.b, ALICE, tok)
        self.check_delivered(data, msg, ALICE)

    def test_bdat_dot_line_is_not_special(self):
        """In BDAT a line holding one dot is content, not an end."""
        tok = token()
        msg = make_message(tok, extra=b".\r\n..\r\nafter the dot\r\n")
        replies = self.bdat_session([msg])
        self.assertRegex(replies[-1].last, QUEUED_RE)
        [(path, data)] = wait_delivered(self.b, ALICE, tok)
        self.check_delivered(data, msg, ALICE)

    def test_bdat_bare_lf_rejected(self):
        tok = token()
        msg = make_message(tok, extra=b"bare\nLF\r\n")
        replies = self.bdat_session([msg])
        self.assertReply(replies[-1], 550, "5.6.0")
        self.assertNotDelivered([ALICE], tok)

    def test_bdat_bare_cr_at_chunk_end_rejected(self):
        """A chunk that ends in CR, followed by a chunk not starting
        with LF: a bare CR."""
        tok = token()
        msg = make_message(tok)
        replies = self.bdat_session([msg + b"x\r", b"y\r\n"])
        self.assertReply(replies[-1], 550, "5.6.0")
        self.assertNotDelivered([ALICE], tok)

    def test_data_after_bdat_refused(self):
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        c.send(b"BDAT 5\r\nabc\r\n")
        self.assertReply(c.reply(), 250)
        self.assertReply(c.cmd("DATA"), 503)
        self.assertReply(c.cmd("RSET"), 250)
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertQueueClean()

    def big_message(self, tok, size, seed):
        """size octets of 8-bit lines (no CR or LF inside), some starting
        with a dot."""
        rnd = random.Random(seed)
        alphabet = bytes(c for c in range(256) if c not in (10, 13))
        lines = [make_message(tok).rstrip(b"\r\n")]
        n = len(lines[0])
        while n < size:
            line = bytes(rnd.choice(alphabet)
                         for _ in range(rnd.randrange(0, 998)))
            if rnd.random() < 0.1:
                line = b"." + line[1:]
            lines.append(line)
            n += len(line) + 2
        return b"\r\n".join(lines) + b"\r\n"

    def test_large_message_data(self):
        tok = token()
        msg = self.big_message(tok, 3 * 1024 * 1024, 1)
        final = raw_transaction(self.b.smtp_port, [ALICE, BOB], msg)
        self.assertRegex(final.last, QUEUED_RE)
        for rc in (ALICE, BOB):
            [(p, data)] = wait_delivered(self.b, rc, tok)
            self.check_delivered(data, msg, rc)

    def test_large_message_bdat(self):
        tok = token()
        msg = self.big_message(tok, 3 * 1024 * 1024, 2)
        rnd = random.Random(3)
        chunks, i = [], 0
        while i < len(msg):
            n = rnd.choice((1, 2, 100, 4096, 65535, 65536, 65537, 300000))
            chunks.append(msg[i:i + n])
            i += n
        replies = self.bdat_session(chunks)
        self.assertRegex(replies[-1].last, QUEUED_RE)
        for r in replies[:-1]:
            self.assertReply(r, 250)
        [(p, data)] = wait_delivered(self.b, ALICE, tok)
        self.check_delivered(data, msg, ALICE)

    def test_many_messages_one_session(self):
        toks = [token() for _ in range(20)]
        with smtplib.SMTP("127.0.0.1", self.b.smtp_port,
                          local_hostname=HELO, timeout=10) as s:
            for i, tok in enumerate(toks):
                if i % 5 == 4:
                    s.rset()
                self.assertEqual(s.sendmail(SENDER, [CAROL],
                                            make_message(tok, CAROL)), {})
        for tok in toks:
            [(p, data)] = wait_delivered(self.b, CAROL, tok)
            self.check_delivered(data, make_message(tok, CAROL), CAROL)

    # ---- Received, queue id, spool

    def test_received_header_and_queue_id(self):
        tok = token()
        msg = make_message(tok)
        final = raw_transaction(self.b.smtp_port, [ALICE], msg)
        m = QUEUED_RE.match(final.last)
        self.assertTrue(m, final)
        qid = m.group(1)
        [(path, data)] = wait_delivered(self.b, ALICE, tok)
        received = self.check_delivered(data, msg, ALICE).decode()
        self.assertIn("id " + qid, received)
        self.assertIn("<%s>" % ALICE, received)
        date = received.rsplit(";", 1)[1].strip()
        when = email.utils.parsedate_to_datetime(date)
        self.assertLess(abs(when.timestamp() - time.time()), 300, date)
        # the Maildir name: unique, with the queue id, and Dovecot's S=
        name = os.path.basename(path)
        self.assertIn(qid, name)
        self.assertNotIn("/", name)
        m = re.search(r",S=(\d+)", name)
        self.assertTrue(m, "no ,S= in %s" % name)
        self.assertEqual(int(m.group(1)), len(data))

    def test_one_spool_file_per_transaction(self):
        tok = token()
        msg = make_message(tok)
        final = raw_transaction(self.b.smtp_port, [ALICE, BOB, CAROL], msg)
        m = QUEUED_RE.match(final.last)
        self.assertTrue(m, final)
        qid = m.group(1)
        names = []
        for rc in (ALICE, BOB, CAROL):
            [(path, data)] = wait_delivered(self.b, rc, tok)
            self.check_delivered(data, msg, rc)
            names.append(os.path.basename(path))
            # several recipients: no "for <...>" that would leak the others
            _, _, received, _ = split_delivered(data)
            self.assertNotIn(b"for <", received)
        for n in names:
            self.assertIn(qid, n, "all copies come from one spool file")
        self.assertEqual(len(set(names)), 3)
        self.assertQueueClean()
        for rc in (ALICE, BOB, CAROL):
            tmp = os.path.join(self.b.maildir(rc), "tmp")
            self.assertEqual([n for n in listdir(tmp) if qid in n], [],
                             "left in %s" % tmp)

    def test_null_sender(self):
        tok = token()
        msg = make_message(tok)
        final = raw_transaction(self.b.smtp_port, [ALICE], msg, sender="")
        self.assertRegex(final.last, QUEUED_RE)
        [(path, data)] = wait_delivered(self.b, ALICE, tok)
        self.check_delivered(data, msg, ALICE, sender="")

    def test_helo_gives_smtp_protocol(self):
        tok = token()
        msg = make_message(tok)
        c = self.client()
        r = c.cmd("HELO " + HELO)
        self.assertReply(r, 250)
        self.assertEqual(len(r.lines), 1, "HELO lists no extensions")
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(dot_stuff(msg) + b".\r\n")
        self.assertRegex(c.reply().last, QUEUED_RE)
        [(path, data)] = wait_delivered(self.b, ALICE, tok)
        self.check_delivered(data, msg, ALICE, proto="SMTP")

    # ---- recipients

    def test_unknown_user(self):
        c = self.client()
        c.ehlo()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        self.assertReply(c.cmd("RCPT TO:<nobody@%s>" % DOMAIN), 550,
                         "5.1.1")
        self.assertReply(c.cmd("RCPT TO:<alice.nope@%s>" % DOMAIN), 550,
                         "5.1.1")

    def test_no_open_relay(self):
        # a session per sender and two refusals each: refused recipients
        # count as errors and are slowed after the first few
        relay = ["victim@other.test", "victim@%s.other.test" % DOMAIN,
                 "victim@sub.%s" % DOMAIN, "@%s:victim@other.test" % DOMAIN]
        tricks = ["victim%%other.test@%s" % DOMAIN,
                  "other.test!victim@%s" % DOMAIN]
        for sender in (SENDER, ALICE, ""):
            for i in range(0, len(relay), 2):
                c = self.client()
                c.ehlo()
                self.assertReply(c.cmd("MAIL FROM:<%s>" % sender), 250)
                for rc in relay[i:i + 2]:
                    r = c.cmd("RCPT TO:<%s>" % rc)
                    self.assertReply(r, 550, "5.7.1", "relaying denied")
                c.close()
            c = self.client()
            c.ehlo()
            self.assertReply(c.cmd("MAIL FROM:<%s>" % sender), 250)
            for rc in tricks:
                r = c.cmd("RCPT TO:<%s>" % rc)
                self.assertGreaterEqual(r.code, 500, "%s: %r" % (rc, r))
            self.assertReply(c.cmd("RSET"), 250)
            c.close()

    def test_domain_is_case_insensitive(self):
        tok = token()
        msg = make_message(tok)
        final = raw_transaction(self.b.smtp_port, ["alice@EXAMPLE.Test"],
                                msg)
        self.assertRegex(final.last, QUEUED_RE)
        wait_delivered(self.b, ALICE, tok)

    def test_alias_fans_out(self):
        tok = token()
        msg = make_message(tok, to="list@" + DOMAIN)
        final = raw_transaction(self.b.smtp_port, ["list@" + DOMAIN], msg)
        self.assertRegex(final.last, QUEUED_RE)
        for rc in (ALICE, BOB):
            [(path, data)] = wait_delivered(self.b, rc, tok)
            self.check_delivered(data, msg, rc)
        self.assertNotDelivered([CAROL], tok, wait=0.5)

    def test_alias_chain(self):
        tok = token()
        msg = make_message(tok, to="chain@" + DOMAIN)
        final = raw_transaction(self.b.smtp_port, ["chain@" + DOMAIN], msg)
        self.assertRegex(final.last, QUEUED_RE)
        for rc in (ALICE, BOB):
            wait_delivered(self.b, rc, tok)

    def test_alias_loop_refused(self):
        """A loop of aliases either cannot be made or is refused at
        RCPT; either way nothing spins and nothing crashes."""
        a, b = "loopa@" + DOMAIN, "loopb@" + DOMAIN
        made = (self.b.boxctl("alias", "add", a, b, check=False)
                .returncode == 0 and
                self.b.boxctl("alias", "add", b, a, check=False)
                .returncode == 0)
        if not made:
            return
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        r = c.cmd("RCPT TO:<%s>" % a)
        self.assertGreaterEqual(r.code, 400, r)
        self.assertReply(c.cmd("NOOP"), 250)

    def test_duplicate_mailboxes_get_one_copy(self):
        """alice directly, through an alias and with a subaddress: one
        file in her Maildir."""
        tok = token()
        msg = make_message(tok)
        final = raw_transaction(self.b.smtp_port,
                                [ALICE, "list@" + DOMAIN, "alice+x@" +
                                 DOMAIN, "Alice@" + DOMAIN.upper()], msg)
        self.assertRegex(final.last, QUEUED_RE)
        wait_delivered(self.b, BOB, tok)
        wait_delivered(self.b, ALICE, tok)
        time.sleep(1)
        self.assertEqual(len(delivered_with(self.b, ALICE, tok)), 1)
        self.assertEqual(len(delivered_with(self.b, BOB, tok)), 1)

    def test_catch_all(self):
        tok = token()
        msg = make_message(tok, to="whoever@" + CATCH_DOMAIN)
        final = raw_transaction(self.b.smtp_port,
                                ["whoever@" + CATCH_DOMAIN], msg)
        self.assertRegex(final.last, QUEUED_RE)
        [(path, data)] = wait_delivered(self.b, CATCH_USER, tok)
        self.check_delivered(data, msg, CATCH_USER)

    def test_subaddress(self):
        tok = token()
        msg = make_message(tok, to="alice+tag@" + DOMAIN)
        final = raw_transaction(self.b.smtp_port, ["alice+tag@" + DOMAIN],
                                msg)
        self.assertRegex(final.last, QUEUED_RE)
        [(path, data)] = wait_delivered(self.b, ALICE, tok)
        self.check_delivered(data, msg, ALICE)
        self.assertFalse(os.path.exists(self.b.maildir("alice+tag@" +
                                                       DOMAIN)))

    def test_disabled_user(self):
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        self.assertReply(c.cmd("RCPT TO:<%s>" % DAVE), 550, "5.2.1")

    def test_mixed_recipients(self):
        tok = token()
        msg = make_message(tok)
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        self.assertReply(c.cmd("RCPT TO:<nobody@%s>" % DOMAIN), 550)
        self.assertReply(c.cmd("RCPT TO:<%s>" % CAROL), 250)
        self.assertReply(c.cmd("RCPT TO:<x@other.test>"), 550)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(dot_stuff(msg) + b".\r\n")
        self.assertRegex(c.reply().last, QUEUED_RE)
        wait_delivered(self.b, CAROL, tok)

    def test_recipient_limit(self):
        """limit recipients defaults to 1000 (boxd.conf(5))."""
        tok = token()
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.send("".join("RCPT TO:<alice+%d@%s>\r\n" % (i, DOMAIN)
                       for i in range(1000)))
        for i, r in enumerate(c.replies(1000)):
            self.assertReply(r, 250)
        r = c.cmd("RCPT TO:<%s>" % BOB)
        self.assertReply(r, 452, "4.5.3")
        self.assertReply(c.cmd("DATA"), 354)
        c.send(dot_stuff(make_message(tok)) + b".\r\n")
        self.assertRegex(c.reply().last, QUEUED_RE)
        wait_delivered(self.b, ALICE, tok)
        time.sleep(0.5)
        self.assertEqual(len(delivered_with(self.b, ALICE, tok)), 1)
        self.assertEqual(delivered_with(self.b, BOB, tok), [])

    # ---- extensions

    def test_ehlo_extensions(self):
        c = self.client()
        self.assertTrue(c.banner.last.startswith("220 " + self.b.hostname),
                        c.banner)
        r = c.ehlo()
        self.assertReply(r, 250)
        self.assertTrue(r.lines[0].startswith("250-" + self.b.hostname), r)
        kw = [l[4:].split(" ")[0].upper() for l in r.lines[1:]]
        for ext in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "CHUNKING",
                    "ENHANCEDSTATUSCODES", "DSN"):
            self.assertIn(ext, kw, r)
        size = [l for l in r.lines if l[4:].upper().startswith("SIZE ")]
        self.assertEqual(len(size), 1, r)
        self.assertEqual(int(size[0][9:]), 50 * 1024 * 1024)
        self.assertNotIn("STARTTLS", kw, "no certificate, no STARTTLS")
        self.assertNotIn("AUTH", kw, "no AUTH on the MX listener")
        self.assertNotIn("STARTTLS", c.cmd("EHLO " + HELO).text)

    def test_pipelining_whole_transaction(self):
        tok1, tok2 = token(), token()
        c = self.client()
        c.send("EHLO %s\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n"
               "RCPT TO:<nobody@%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" %
               (HELO, SENDER, ALICE, DOMAIN, BOB))
        r = c.replies(6)
        self.assertReply(r[0], 250)
        self.assertGreater(len(r[0].lines), 1)
        self.assertReply(r[1], 250)
        self.assertReply(r[2], 250)
        self.assertReply(r[3], 550, "5.1.1")
        self.assertReply(r[4], 250)
        self.assertReply(r[5], 354)
        # RFC 2920: the next transaction may follow the final dot
        c.send(dot_stuff(make_message(tok1)) + b".\r\n" +
               ("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nRCPT TO:<x@other.test>"
                "\r\nDATA\r\n" % (SENDER, CAROL)).encode())
        r = c.replies(5)
        self.assertRegex(r[0].last, QUEUED_RE)
        self.assertReply(r[1], 250)
        self.assertReply(r[2], 250)
        self.assertReply(r[3], 550, "5.7.1")
        self.assertReply(r[4], 354)
        c.send(dot_stuff(make_message(tok2)) + b".\r\nNOOP\r\nQUIT\r\n")
        r = c.replies(3)
        self.assertRegex(r[0].last, QUEUED_RE)
        self.assertReply(r[1], 250)
        self.assertReply(r[2], 221)
        wait_delivered(self.b, ALICE, tok1)
        wait_delivered(self.b, BOB, tok1)
        wait_delivered(self.b, CAROL, tok2)
        self.assertEqual(delivered_with(self.b, CAROL, tok1), [])

    def test_8bitmime_and_body_params(self):
        c = self.client()
        c.ehlo()
        self.assertReply(c.cmd("MAIL FROM:<%s> BODY=8BITMIME" % SENDER), 250)
        self.assertReply(c.cmd("RSET"), 250)
        self.assertReply(c.cmd("MAIL FROM:<%s> BODY=7BIT" % SENDER), 250)
        self.assertReply(c.cmd("RSET"), 250)
        r = c.cmd("MAIL FROM:<%s> BODY=BINARYMIME" % SENDER)
        self.assertGreaterEqual(r.code, 500, r)
        r = c.cmd("MAIL FROM:<%s> BODY=9BIT" % SENDER)
        self.assertGreaterEqual(r.code, 500, r)

    def test_size_param_under_limit(self):
        c = self.client()
        c.ehlo()
        self.assertReply(c.cmd("MAIL FROM:<%s> SIZE=1000" % SENDER), 250)
        self.assertReply(c.cmd("RSET"), 250)
        r = c.cmd("MAIL FROM:<%s> SIZE=%d" % (SENDER, 50 * 1024 * 1024 + 1))
        self.assertReply(r, 552)

    def test_unknown_parameters(self):
        c = self.client()
        c.ehlo()
        self.assertReply(c.cmd("MAIL FROM:<%s> FOO=BAR" % SENDER), 555)
        self.assertReply(c.cmd("MAIL FROM:<%s> XYZZY" % SENDER), 555)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        self.assertReply(c.cmd("RCPT TO:<%s> FOO=BAR" % ALICE), 555)
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 250)

    def test_dsn_parameters(self):
        tok = token()
        msg = make_message(tok)
        c = self.client()
        c.ehlo()
        self.assertReply(c.cmd("MAIL FROM:<%s> RET=HDRS ENVID=x+2By%s" %
                               (SENDER, tok)), 250)
        self.assertReply(c.cmd("RCPT TO:<%s> NOTIFY=SUCCESS,FAILURE "
                               "ORCPT=rfc822;%s" % (ALICE, ALICE)), 250)
        self.assertReply(c.cmd("RCPT TO:<%s> NOTIFY=NEVER" % BOB), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(dot_stuff(msg) + b".\r\n")
        self.assertRegex(c.reply().last, QUEUED_RE)
        self.assertReply(c.cmd("MAIL FROM:<%s> RET=FULL" % SENDER), 250)
        self.assertReply(c.cmd("RCPT TO:<%s> NOTIFY=NEVER,SUCCESS" % ALICE),
                         501)
        self.assertReply(c.cmd("RSET"), 250)
        self.assertReply(c.cmd("MAIL FROM:<%s> RET=BOGUS" % SENDER), 501)
        for rc in (ALICE, BOB):
            [(p, data)] = wait_delivered(self.b, rc, tok)
            self.check_delivered(data, msg, rc)

    def test_smtputf8(self):
        tok = token()
        usender = "\u00e9l\u00e8ve@client.test"
        c = self.client()
        c.ehlo()
        r = c.cmd("MAIL FROM:<%s>" % usender)
        self.assertReply(r, 553, "5.6.7")
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        r = c.cmd("RCPT TO:<\u00fcser@%s>" % DOMAIN)
        self.assertReply(r, 553, "5.6.7")
        self.assertReply(c.cmd("RSET"), 250)
        self.assertReply(c.cmd("MAIL FROM:<%s> SMTPUTF8" % usender), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 250)
        self.assertReply(c.cmd("RCPT TO:<\u00fcser@%s>" % DOMAIN), 250)
        self.assertReply(c.cmd("DATA"), 354)
        msg = ("From: \u00e9l\u00e8ve <%s>\r\nTo: \u00fcser@%s\r\n"
               "Subject: \u00fcnic\u00f8de %s\r\n\r\nh\u00e9llo\r\n" %
               (usender, DOMAIN, tok)).encode("utf-8")
        c.send(dot_stuff(msg) + b".\r\n")
        self.assertRegex(c.reply().last, QUEUED_RE)
        for rc in (ALICE, BOB):     # the UTF-8 alias points to bob
            [(p, data)] = wait_delivered(self.b, rc, tok)
            rp, dt, received, rest = split_delivered(data)
            self.assertEqual(rp, usender.encode("utf-8"))
            self.assertEqual(dt, rc.encode())
            self.assertEqual(rest, normalize(msg))
            self.assertIn(b"UTF8SMTP", received)

    def test_submission_needs_auth(self):
        c = Client(self.b.submission_port)
        self.addCleanup(c.close)
        self.assertEqual(c.banner.code, 220)
        self.assertReply(c.ehlo(), 250)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % ALICE), 530, "5.7.0")
        r = c.cmd("RCPT TO:<%s>" % BOB)
        self.assertIn(r.code, (503, 530), r)

    # ---- strict lines: smuggling, bare LF/CR, long lines

    def smuggle(self, body):
        """DATA with body (then the real CRLF.CRLF); returns the reply to
        the real end of data and what the server said after it."""
        tok = token()
        inner = token()
        wire = (make_message(tok) + body.replace(b"INNER", inner.encode()) +
                b"\r\n.\r\n")
        c = self.client()
        c.ehlo()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(wire)
        r = c.reply()
        after = c.quiet(0.5)
        self.assertReply(r, 550, "5.6.0")
        self.assertEqual(after, b"", "smuggled commands were answered")
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertNotDelivered([ALICE, BOB], tok)
        self.assertNotDelivered([ALICE, BOB], inner, wait=0)
        self.assertQueueClean()

    SMUGGLED = (b"MAIL FROM:<evil@client.test>\r\nRCPT TO:<bob@example.test>"
                b"\r\nDATA\r\nSubject: smuggled INNER\r\n\r\nINNER\r\n")

    def test_smuggling_lf_dot_crlf(self):
        self.smuggle(b"fake end\n.\r\n" + self.SMUGGLED)

    def test_smuggling_crlf_dot_lf(self):
        self.smuggle(b"fake end\r\n.\n" + self.SMUGGLED)

    def test_smuggling_lf_dot_lf(self):
        self.smuggle(b"fake end\n.\n" + self.SMUGGLED)

    def test_smuggling_cr_dot_cr(self):
        self.smuggle(b"fake end\r.\r" + self.SMUGGLED)

    def test_bare_cr_in_data(self):
        self.smuggle(b"a bare\rcarriage return\r\n")

    def test_bare_lf_in_data(self):
        self.smuggle(b"a bare\nline feed\r\n")

    def test_command_line_limit(self):
        c = self.client()
        c.ehlo()
        # 998 octets + CRLF is the longest line there is
        self.assertReply(c.cmd("NOOP " + "x" * 993), 250)
        self.assertReply(c.cmd("NOOP " + "x" * 994), 500, "5.5.2")
        c.send(b"NOOP " + b"y" * 2000 + b"\r\nNOOP\r\n")
        self.assertReply(c.reply(), 500, "5.5.2")
        self.assertReply(c.reply(), 250)
        # far beyond any buffer, sent in pieces
        for _ in range(10):
            c.send(b"z" * 50000)
        c.send(b"\r\nNOOP\r\n")
        self.assertReply(c.reply(), 500, "5.5.2")
        self.assertReply(c.reply(), 250)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)

    def test_data_line_limit(self):
        tok = token()
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(make_message(tok) + b"x" * 999 + b"\r\nmore\r\n.\r\n")
        self.assertReply(c.reply(), 550, "5.6.0")
        self.assertReply(c.cmd("NOOP"), 250)
        # a huge line, then the end of data
        tok2 = token()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(make_message(tok2))
        for _ in range(8):
            c.send(b"w" * 40000)
        c.send(b"\r\n.\r\n")
        self.assertReply(c.reply(), 550, "5.6.0")
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertNotDelivered([ALICE], tok)
        self.assertNotDelivered([ALICE], tok2, wait=0)
        self.assertQueueClean()

    def test_bare_lf_command(self):
        c = self.client()
        c.ehlo()
        c.send(b"NOOP\nNOOP\r\n")
        self.assertReply(c.reply(), 500, "5.5.2")
        self.assertReply(c.reply(), 250)
        c.send(b"MAIL FROM:<%s>\n" % SENDER.encode())
        self.assertReply(c.reply(), 500, "5.5.2")
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 503,
                         "5.5.1")   # the bare-LF MAIL did not count
        r = c.cmd("NO\rOP")
        self.assertGreaterEqual(r.code, 500, r)

    def test_crlf_split_across_packets(self):
        c = self.client()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.send(b"EHLO " + HELO.encode() + b"\r")
        time.sleep(0.2)
        c.send(b"\n")
        self.assertReply(c.reply(), 250)
        c.send(b"NO")
        time.sleep(0.1)
        c.send(b"OP\r")
        time.sleep(0.1)
        c.send(b"\n")
        self.assertReply(c.reply(), 250)

    # ---- the other commands and the state machine

    def test_pipelined_flood(self):
        """Thousands of pipelined commands in one write, replies read
        only afterwards: every one answered, in order."""
        n = 20000
        c = self.client()
        c.ehlo()
        data = b"".join(b"NOOP %d\r\n" % i if i % 3 else b"RSET\r\n"
                        for i in range(n))
        sender = threading.Thread(target=c.sock.sendall, args=(data,))
        sender.start()
        got = 0
        while got < n:
            r = c.reply()
            self.assertReply(r, 250)
            got += 1
        sender.join(30)
        self.assertReply(c.cmd("QUIT"), 221)

    def test_nothing_after_quit(self):
        c = self.client()
        c.ehlo()
        c.send(b"QUIT\r\nNOOP\r\nVRFY x\r\n")
        out = c.read_until_closed(5)
        self.assertTrue(out.startswith(b"221"), out)
        self.assertEqual(out.count(b"\r\n"), 1, out)

    def test_simple_commands(self):
        c = self.client()
        c.ehlo()
        self.assertReply(c.cmd("VRFY %s" % ALICE), 252)
        self.assertReply(c.cmd("EXPN list@%s" % DOMAIN), 502)
        self.assertReply(c.cmd("HELP"), 214)
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertReply(c.cmd("NOOP anything"), 250)
        self.assertReply(c.cmd("RSET"), 250)
        self.assertReply(c.cmd("noop"), 250)
        self.assertReply(c.cmd("XYZZY"), 500)
        self.assertReply(c.cmd("QUIT"), 221)
        c.read_until_closed(5)

    def test_bad_sequence(self):
        c = self.client()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 503)
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 503)
        self.assertReply(c.cmd("DATA"), 503)
        c.ehlo()
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 503)
        self.assertReply(c.cmd("DATA"), 503)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 503)
        # DATA with no recipient: RFC 5321 3.3 allows 503 or 554
        self.assertIn(c.cmd("DATA").code, (503, 554))
        self.assertReply(c.cmd("RSET"), 250)
        # BDAT outside a transaction: the chunk is read, not executed
        c.send(b"BDAT 6\r\nQUIT\r\n")
        self.assertReply(c.reply(), 503)
        self.assertReply(c.cmd("NOOP"), 250)

    def test_rset_aborts_transaction(self):
        tok = token()
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        self.assertReply(c.cmd("RSET"), 250)
        self.assertReply(c.cmd("DATA"), 503)
        # EHLO resets as well
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        self.assertReply(c.ehlo(), 250)
        self.assertReply(c.cmd("DATA"), 503)
        self.assertNotDelivered([ALICE], tok, wait=0)

    def test_too_many_errors(self):
        c = self.client()
        c.ehlo()
        c.send(b"BOGUS\r\n" * 30)
        out = c.read_until_closed(10).decode(errors="replace")
        lines = out.splitlines()
        self.assertTrue(lines and lines[-1].startswith("421"), out)
        self.assertTrue(lines[-1].startswith("421 4.7.0"), out)
        n500 = len([l for l in lines if l.startswith("500")])
        self.assertIn(n500, (9, 10), out)

    def test_disconnect_mid_data(self):
        tok = token()
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(make_message(tok) + b"half a mess")
        time.sleep(0.2)
        c.close()
        self.assertNotDelivered([ALICE], tok)
        self.assertQueueClean()


# ---------------------------------------------------------------- TLS

def insecure_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class TLS(BoxdCase):
    boxd_args = {"tls": True}

    @classmethod
    def tables(cls):
        cls.b.add_user(ALICE)

    def test_starttls_advertised(self):
        c = self.client()
        r = c.ehlo()
        self.assertIn("STARTTLS", [l[4:].upper() for l in r.lines[1:]], r)

    def test_starttls_smtplib(self):
        tok = token()
        msg = make_message(tok)
        with smtplib.SMTP("127.0.0.1", self.b.smtp_port,
                          local_hostname=HELO, timeout=10) as s:
            s.ehlo()
            self.assertTrue(s.has_extn("starttls"))
            code, _ = s.starttls(context=insecure_context())
            self.assertEqual(code, 220)
            s.ehlo()
            self.assertFalse(s.has_extn("starttls"),
                             "STARTTLS offered again inside TLS")
            for ext in ("pipelining", "size", "chunking", "smtputf8"):
                self.assertTrue(s.has_extn(ext), ext)
            self.assertEqual(s.sendmail(SENDER, [ALICE], msg), {})
        [(p, data)] = wait_delivered(self.b, ALICE, tok)
        rp, dt, received, rest = split_delivered(data)
        self.assertTrue(received.startswith(
            b"Received: from client.test ([127.0.0.1])\n\tby mx.test (boxd) "
            b"with ESMTPS"), received)
        self.assertEqual(rest, normalize(msg))

    def tls_wrap(self, c):
        ctx = insecure_context()
        c.sock.settimeout(10)
        c.sock = ctx.wrap_socket(c.sock, server_hostname="mx.test")
        c.buf = b""

    def test_state_reset_after_starttls(self):
        """RFC 3207: after the handshake the session starts over: EHLO
        first, and no transaction survives."""
        c = self.client()
        c.ehlo()
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)
        self.assertReply(c.cmd("STARTTLS"), 220)
        self.tls_wrap(c)
        self.assertReply(c.cmd("RCPT TO:<%s>" % ALICE), 503)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 503)
        self.assertReply(c.ehlo(), 250)
        r = c.cmd("STARTTLS")
        self.assertGreaterEqual(r.code, 500, r)
        self.assertReply(c.cmd("MAIL FROM:<%s>" % SENDER), 250)

    def test_starttls_plaintext_injection_discarded(self):
        """CVE-2011-0411: plaintext pipelined after STARTTLS must not be
        executed, neither before nor after the handshake."""
        c = self.client()
        c.ehlo()
        c.send(b"STARTTLS\r\nVRFY injected\r\nHELP\r\n")
        self.assertReply(c.reply(), 220)
        stray = c.buf
        c.buf = b""
        c.sock.settimeout(0.5)
        try:
            stray += c.sock.recv(4096)
        except socket.timeout:
            pass
        self.assertFalse(stray.startswith((b"252", b"214")),
                         "injected command answered in plaintext: %r" %
                         stray)
        self.assertEqual(stray, b"")
        try:
            self.tls_wrap(c)
        except (ssl.SSLError, ConnectionError, socket.timeout):
            return      # refusing the handshake is acceptable too
        r = c.ehlo()
        self.assertReply(r, 250)
        self.assertGreater(len(r.lines), 1, r)
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertEqual(c.quiet(0.3), b"", "a stale reply came later")

    def test_starttls_with_argument_refused(self):
        c = self.client()
        c.ehlo()
        r = c.cmd("STARTTLS now")
        self.assertEqual(r.code, 501, r)
        self.assertReply(c.cmd("NOOP"), 250)

    def test_garbage_handshake(self):
        c = self.client()
        c.ehlo()
        self.assertReply(c.cmd("STARTTLS"), 220)
        c.send(b"this is not a TLS client hello\r\n" * 10)
        c.read_until_closed(10)
        d = self.client()
        self.assertReply(d.ehlo(), 250)


# ---------------------------------------------------------------- limits

class SizeLimit(BoxdCase):
    boxd_args = {"extra": "max-message-size 10K"}

    @classmethod
    def tables(cls):
        cls.b.add_user(ALICE)

    def test_size_advertised(self):
        r = self.client().ehlo()
        self.assertIn("SIZE 10240", [l[4:] for l in r.lines], r)

    def test_mail_size_param(self):
        c = self.client()
        c.ehlo()
        self.assertReply(c.cmd("MAIL FROM:<%s> SIZE=20000" % SENDER), 552)
        self.assertReply(c.cmd("MAIL FROM:<%s> SIZE=5000" % SENDER), 250)

    def big(self, tok, n):
        line = b"0123456789" * 7 + b"\r\n"
        return make_message(tok) + line * (n // len(line))

    def test_data_too_big(self):
        tok = token()
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(dot_stuff(self.big(tok, 12 * 1024)) + b".\r\n")
        self.assertReply(c.reply(), 552, "5.3.4")
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertNotDelivered([ALICE], tok)
        self.assertQueueClean()

    def test_data_far_too_big(self):
        tok = token()
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(dot_stuff(self.big(tok, 2 * 1024 * 1024)) + b".\r\n")
        self.assertReply(c.reply(), 552, "5.3.4")
        self.assertNotDelivered([ALICE], tok)
        self.assertQueueClean()

    def test_bdat_too_big(self):
        tok = token()
        msg = self.big(tok, 12 * 1024)
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        half = len(msg) // 2
        c.send(b"BDAT %d\r\n" % half + msg[:half])
        self.assertReply(c.reply(), 250)
        c.send(b"BDAT %d LAST\r\n" % (len(msg) - half) + msg[half:])
        self.assertReply(c.reply(), 552, "5.3.4")
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertNotDelivered([ALICE], tok)
        self.assertQueueClean()

    def test_under_limit_delivers(self):
        tok = token()
        msg = self.big(tok, 8 * 1024)
        final = raw_transaction(self.b.smtp_port, [ALICE], msg)
        self.assertRegex(final.last, QUEUED_RE)
        [(p, data)] = wait_delivered(self.b, ALICE, tok)
        self.assertEqual(split_delivered(data)[3], normalize(msg))


class Timeouts(BoxdCase):
    boxd_args = {"extra": "timeout command 2s data 3s"}

    @classmethod
    def tables(cls):
        cls.b.add_user(ALICE)

    def expect_timeout(self, c, at_least, at_most):
        t0 = time.time()
        out = c.read_until_closed(at_most + 5)
        took = time.time() - t0
        self.assertIn(b"421 4.4.2", out)
        self.assertTrue(out.endswith(b"\r\n"), out)
        self.assertGreaterEqual(took, at_least, "timed out too early")
        self.assertLessEqual(took, at_most, "timed out too late")

    def test_command_timeout(self):
        c = self.client()
        time.sleep(1)
        self.assertReply(c.ehlo(), 250)     # activity restarts the clock
        self.expect_timeout(c, 1.5, 5)

    def test_data_timeout(self):
        tok = token()
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(make_message(tok))
        self.expect_timeout(c, 2.5, 7)
        self.assertNotDelivered([ALICE], tok, wait=0.5)
        self.assertQueueClean()

    def test_bdat_timeout(self):
        c = self.client()
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        c.send(b"BDAT 1000 LAST\r\nonly a little")
        self.expect_timeout(c, 1.5, 7)
        self.assertQueueClean()


class ConnectionLimit(BoxdCase):
    boxd_args = {"extra": "limit connections 3"}

    def test_per_ip_limit(self):
        held = [self.client() for _ in range(3)]
        for c in held:
            self.assertReply(c.banner, 220)
        extra = Client(self.b.smtp_port, banner=False)
        self.addCleanup(extra.close)
        out = extra.read_until_closed(10)
        self.assertTrue(out.startswith(b"421 4.7.0"), out)
        # another address is not counted with these
        other = Client(self.b.smtp_port, source="127.0.0.2")
        self.addCleanup(other.close)
        self.assertReply(other.banner, 220)
        other.cmd("QUIT")
        other.close()
        held[0].cmd("QUIT")
        held[0].close()

        def accepted():
            c = Client(self.b.smtp_port, banner=False)
            try:
                line = c.line()
                if line.startswith(b"220"):
                    held.append(c)
                    return True
                c.close()
                return False
            except EOFError:
                c.close()
                return False
        self.assertTrue(wait_until(accepted, 10, 0.2),
                        "no slot after closing one connection")
        for c in held[1:]:
            self.assertReply(c.cmd("NOOP"), 250)


# ---------------------------------------------------------------- hostile

class Disconnects(BoxdCase):
    """Clients that vanish at the worst moments."""

    @classmethod
    def tables(cls):
        cls.b.add_user(ALICE)

    def test_disconnect_right_after_final_dot(self):
        """The session goes away while its message is being committed:
        the queue must neither die nor lose track."""
        before = sorted(self.b.pids())
        toks = []
        for i in range(40):
            tok = token()
            toks.append(tok)
            c = Client(self.b.smtp_port)
            try:
                c.send("EHLO %s\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n"
                       "DATA\r\n" % (HELO, SENDER, ALICE))
                try:
                    r = c.replies(4)
                except (EOFError, ConnectionError) as e:
                    self.fail("connection %d closed (%s); boxd %s:\n%s" % (
                        i, e, "alive" if self.b.proc.poll() is None else
                        "dead", log_tail(self.b)))
                self.assertReply(r[3], 354)
                if i % 2:
                    # RST instead of FIN
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      b"\x01\x00\x00\x00\x00\x00\x00\x00")
                c.send(dot_stuff(make_message(tok)) + b".\r\n")
            finally:
                c.close()
        time.sleep(1)
        self.assertIsNone(self.b.proc.poll(),
                          "boxd died:\n" + log_tail(self.b))
        self.assertEqual(sorted(self.b.pids()), before,
                         "a process died:\n" + log_tail(self.b))
        tok = token()
        final = raw_transaction(self.b.smtp_port, [ALICE], make_message(tok))
        self.assertRegex(final.last, QUEUED_RE)
        wait_delivered(self.b, ALICE, tok)
        self.assertQueueClean()
        for t in toks:
            self.assertLessEqual(len(delivered_with(self.b, ALICE, t)), 1)

    def test_disconnect_during_rcpt_and_data_wait(self):
        before = sorted(self.b.pids())
        for i in range(30):
            c = Client(self.b.smtp_port)
            c.send("EHLO %s\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n%s" %
                   (HELO, SENDER, ALICE, "DATA\r\n" if i % 2 else ""))
            c.close()
        time.sleep(1)
        self.assertEqual(sorted(self.b.pids()), before,
                         "a process died:\n" + log_tail(self.b))
        self.assertQueueClean()


def hostile_line(rnd):
    kind = rnd.randrange(14)
    verbs = [b"HELO", b"EHLO", b"MAIL FROM:", b"RCPT TO:", b"DATA", b"BDAT",
             b"RSET", b"VRFY", b"EXPN", b"HELP", b"NOOP", b"AUTH", b"QUIT",
             b"XCLIENT", b"ETRN", b"TURN", b"STARTTLS", b"MAIL", b"RCPT"]
    if kind == 0:
        return bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(300)))
    if kind == 1:
        return b"\x00" * rnd.randrange(1, 200)
    if kind == 2:
        return bytes([rnd.randrange(33, 127)]) * rnd.randrange(900, 70000)
    if kind == 3:
        return rnd.choice(verbs) + b" " + bytes(
            rnd.randrange(32, 127) for _ in range(rnd.randrange(80)))
    if kind == 4:
        addr = rnd.choice([b"<>", b"<" + b"a" * 300 + b"@x.test>",
                           b"<\"quoted \\\" local\"@example.test>",
                           b"<@a,@b:c@d>", b"<a@[127.0.0.1]>",
                           b"<a@[IPv6:::1]>", b"<a@>", b"<@>", b"<<a@b>>",
                           b"<a@b", b"a@b>", b"<\xc3\xa9@\xc3\xa9.test>",
                           b"<\xc0\x80@x.test>", b"<\xff\xfe@x.test>",
                           b"<alice@example.test>"])
        params = rnd.choice([b"", b" SIZE=99999999999999999999999",
                             b" SIZE=-1", b" BODY=8BITMIME", b" BODY=",
                             b" SMTPUTF8", b" RET=HDRS ENVID=" + b"+" * 200,
                             b" ENVID=+ZZ", b" AUTH=<>", b" AUTH=+41",
                             b" A=B C=D E=F G=H" * 30, b" =", b" ==",
                             b" NOTIFY=NEVER,NEVER", b" ORCPT=rfc822;+",
                             b" ORCPT=" + b"x" * 600])
        return rnd.choice([b"MAIL FROM:", b"RCPT TO:", b"mail from:",
                           b"MAIL FROM: ", b"RCPT  TO:"]) + addr + params
    if kind == 5:
        return rnd.choice([b"BDAT", b"BDAT -1", b"BDAT 1x", b"BDAT 0",
                           b"BDAT 99999999999999999999999999",
                           b"BDAT 18446744073709551615 LAST",
                           b"BDAT 3 LAST EXTRA", b"BDAT 0 FIRST"])
    if kind == 6:
        return rnd.choice(verbs) + b"\r" + rnd.choice(verbs)
    if kind == 7:
        return b"EHLO " + rnd.choice([b"", b"[", b"[1.2.3.4", b"[IPv6:::1]",
                                      b"a" * 300, b"-.-", b"\xff", b"x..y",
                                      b"[300.1.1.1]", b"localhost"])
    if kind == 8:
        return b"AUTH " + rnd.choice([b"PLAIN", b"PLAIN =", b"PLAIN AAAA",
                                      b"LOGIN", b"CRAM-MD5", b"X" * 100,
                                      b"PLAIN " + b"A" * 990])
    if kind == 9:
        return "\u202e\u0000\ufeff\U0001f4a9".encode("utf-8") * 20
    if kind == 10:
        return b"%n%s%x" * 30
    if kind == 11:
        return b"\r" * rnd.randrange(1, 50)
    if kind == 12:
        return b"\n" * rnd.randrange(1, 50)
    return rnd.choice(verbs)


def hostile_script(rnd, ehlo=True):
    """One connection's worth of hostile bytes."""
    out = []
    if ehlo:
        out.append(b"EHLO client.test\r\n")
    if rnd.random() < 0.4:
        # a real transaction with a hostile body: many lines, none of them
        # an error until the end
        out.append(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<alice@example.test>"
                   b"\r\n")
        if rnd.random() < 0.5:
            out.append(b"DATA\r\n")
            for _ in range(rnd.randrange(50, 400)):
                out.append(hostile_line(rnd) +
                           rnd.choice([b"\r\n", b"\r\n", b"\n", b"\r", b""]))
            out.append(b"\r\n.\r\n")
        else:
            for _ in range(rnd.randrange(1, 6)):
                body = hostile_line(rnd) + b"\r\n"
                last = rnd.random() < 0.3
                out.append(b"BDAT %d%s\r\n" % (len(body),
                                               b" LAST" if last else b"")
                           + body)
    for _ in range(rnd.randrange(5, 40)):
        out.append(hostile_line(rnd) + rnd.choice([b"\r\n", b"\r\n", b"\n"]))
    out.append(b"QUIT\r\n")
    return b"".join(out)


def hostile_connection(port, data):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=15)
    except OSError:
        return
    try:
        s.recv(4096)
        for i in range(0, len(data), 16384):
            s.sendall(data[i:i + 16384])
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    except OSError:
        pass
    finally:
        s.close()


class Hostile(BoxdCase):
    boxd_args = {"tls": True}

    @classmethod
    def tables(cls):
        cls.b.add_user(ALICE)

    def test_garbage_kills_nothing(self):
        before = sorted(self.b.pids())
        self.assertEqual(len(before), 9)
        rnd = random.Random(int(os.environ.get("HOSTILE_SEED", "5321")))
        scripts = [hostile_script(rnd, ehlo=rnd.random() < 0.8)
                   for _ in range(240)]
        lines = sum(s.count(b"\n") for s in scripts)
        self.assertGreater(lines, 5000)
        lock = threading.Lock()

        def worker():
            while True:
                with lock:
                    if not scripts:
                        return
                    data = scripts.pop()
                hostile_connection(self.b.smtp_port, data)
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        # the submission listener too
        rnd2 = random.Random(587)
        for _ in range(20):
            hostile_connection(self.b.submission_port,
                               hostile_script(rnd2))
        time.sleep(0.5)
        self.assertIsNone(self.b.proc.poll(),
                          "boxd died:\n" + log_tail(self.b))
        self.assertEqual(sorted(self.b.pids()), before,
                         "a process died:\n" + log_tail(self.b))
        tok = token()
        msg = tricky_message(tok)
        final = raw_transaction(self.b.smtp_port, [ALICE], msg)
        self.assertRegex(final.last, QUEUED_RE)
        [(p, data)] = wait_delivered(self.b, ALICE, tok)
        self.assertEqual(split_delivered(data)[3], normalize(msg))
        self.assertQueueClean(30)


if __name__ == "__main__":
    unittest.main()
