"""Submission (RFC 6409, 4954, 8314): AUTH PLAIN and LOGIN under TLS on
the submission and submissions listeners, the sender and From: owned by
the user, relaying for authenticated users alone, remote recipients kept
in the spool, the auth-failures limit, and hostile clients."""

import base64
import json
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
import unittest

from boxdtest import Boxd, free_port

ALICE = "alice@example.test"
BOB = "bob@example.test"
PASSWORD = "correct horse battery"
BOB_PASSWORD = "bob's own password"


def insecure_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def plain(user, password, authz=""):
    return b64("%s\0%s\0%s" % (authz, user, password))


def message(sender, to, subject="hello", extra=""):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\n%s\r\nbody\r\n" %
            (sender, to, subject, extra)).encode()


class Line:
    """A raw client on a socket, TLS or not, reading reply lines."""

    def __init__(self, port, tls=False, source=None, starttls=False):
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=20,
            source_address=(source, 0) if source else None)
        if tls:
            self.wrap()
        self.f = self.sock.makefile("rb")
        self.greeting = self.reply()
        if starttls:
            self.ehlo()
            self.send("STARTTLS")
            assert self.reply()[0].startswith(b"220"), "no STARTTLS"
            self.wrap()
            self.f = self.sock.makefile("rb")

    def wrap(self):
        self.sock = insecure_context().wrap_socket(self.sock)

    def send(self, line):
        if isinstance(line, str):
            line = line.encode()
        self.sock.sendall(line + b"\r\n")

    def reply(self):
        """One whole reply: its lines."""
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError("closed after %r" % lines)
            lines.append(line.rstrip(b"\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                return lines

    def cmd(self, line):
        """The last line of the reply to line."""
        self.send(line)
        return self.reply()[-1]

    def ehlo(self):
        self.send("EHLO client.test")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class SubmissionBase(unittest.TestCase):
    extra = ""

    @classmethod
    def setUpClass(cls):
        cls.submissions_port = free_port()
        cls.b = Boxd(tls=True, extra="listen on 127.0.0.1 port %d "
                     "submissions\n%s" % (cls.submissions_port, cls.extra))
        cls.b.start()
        cls.b.add_user(ALICE, PASSWORD)
        cls.b.add_user(BOB, BOB_PASSWORD)
        cls.b.boxctl("alias", "add", "sales@example.test", ALICE)
        cls.b.boxctl("alias", "add", "team@example.test",
                     "%s,%s" % (ALICE, BOB))

    @classmethod
    def tearDownClass(cls):
        cls.b.cleanup()

    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()

    def line(self, port=None, **kw):
        c = Line(port or self.b.submission_port, **kw)
        self.clients.append(c)
        return c

    def authed(self, user=ALICE, password=PASSWORD, **kw):
        """A session on submission after STARTTLS and AUTH PLAIN."""
        c = self.line(starttls=True, **kw)
        c.ehlo()
        r = c.cmd("AUTH PLAIN " + plain(user, password))
        self.assertTrue(r.startswith(b"235 2.7.0"), r)
        return c

    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.b.submission_port, timeout=20)
        s.starttls(context=insecure_context())
        s.ehlo()
        return s

    def queue_files(self):
        q = os.path.join(self.b.storage, "queue")
        out = []
        for root, _, files in os.walk(q):
            out += [os.path.join(root, f) for f in files]
        return out


class TestSubmissionReplies(SubmissionBase):
    def test_before_tls(self):
        c = self.line()
        ehlo = b"\n".join(c.ehlo())
        self.assertIn(b"STARTTLS", ehlo)
        self.assertNotIn(b"AUTH", ehlo)
        self.assertEqual(c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD)),
                         b"530 5.7.0 Must issue a STARTTLS command first")
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % ALICE),
                         b"530 5.7.0 Authentication required")

    def test_after_starttls_offers_auth(self):
        c = self.line(starttls=True)
        ehlo = b"\n".join(c.ehlo())
        self.assertIn(b"250-AUTH PLAIN LOGIN", ehlo)
        self.assertNotIn(b"STARTTLS", ehlo)
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % ALICE),
                         b"530 5.7.0 Authentication required")

    def test_submissions_offers_auth_at_once(self):
        c = self.line(self.submissions_port, tls=True)
        self.assertTrue(c.greeting[0].startswith(b"220"))
        ehlo = b"\n".join(c.ehlo())
        self.assertIn(b"AUTH PLAIN LOGIN", ehlo)
        r = c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD))
        self.assertTrue(r.startswith(b"235 2.7.0"), r)

    def test_smtplib_submissions(self):
        with smtplib.SMTP_SSL("127.0.0.1", self.submissions_port,
                              context=insecure_context(), timeout=20) as s:
            s.login(ALICE, PASSWORD)
            refused = s.sendmail(ALICE, [BOB], message(ALICE, BOB))
            self.assertEqual(refused, {})
        self.b.wait_messages(BOB, 1)

    def test_port_25_has_no_auth(self):
        c = self.line(self.b.smtp_port)
        ehlo = b"\n".join(c.ehlo())
        self.assertNotIn(b"AUTH", ehlo)
        self.assertEqual(c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD)),
                         b"503 5.5.1 AUTH not available here")

    def test_port_25_relaying_denied(self):
        c = self.line(self.b.smtp_port)
        c.ehlo()
        self.assertTrue(c.cmd("MAIL FROM:<%s>" % ALICE).startswith(b"250"))
        self.assertEqual(c.cmd("RCPT TO:<someone@elsewhere.example>"),
                         b"550 5.7.1 Relaying denied")

    def test_plain_continuation(self):
        c = self.line(starttls=True)
        c.ehlo()
        self.assertEqual(c.cmd("AUTH PLAIN"), b"334 ")
        r = c.cmd(plain(ALICE, PASSWORD))
        self.assertTrue(r.startswith(b"235 2.7.0"), r)
        self.assertEqual(c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD)),
                         b"503 5.5.1 Already authenticated")

    def test_login(self):
        c = self.line(starttls=True)
        c.ehlo()
        self.assertEqual(c.cmd("AUTH LOGIN"), b"334 VXNlcm5hbWU6")
        self.assertEqual(c.cmd(b64(ALICE)), b"334 UGFzc3dvcmQ6")
        self.assertTrue(c.cmd(b64(PASSWORD)).startswith(b"235 2.7.0"))

    def test_login_initial_response(self):
        c = self.line(starttls=True)
        c.ehlo()
        self.assertEqual(c.cmd("AUTH LOGIN " + b64(ALICE)),
                         b"334 UGFzc3dvcmQ6")
        self.assertTrue(c.cmd(b64(PASSWORD)).startswith(b"235 2.7.0"))

    def test_cancel_and_bad_base64(self):
        c = self.line(starttls=True)
        c.ehlo()
        self.assertEqual(c.cmd("AUTH PLAIN"), b"334 ")
        self.assertEqual(c.cmd("*"), b"501 5.0.0 Authentication cancelled")
        self.assertEqual(c.cmd("AUTH LOGIN"), b"334 VXNlcm5hbWU6")
        self.assertEqual(c.cmd(b64(ALICE)), b"334 UGFzc3dvcmQ6")
        self.assertEqual(c.cmd("*"), b"501 5.0.0 Authentication cancelled")
        self.assertTrue(c.cmd("AUTH PLAIN !!!!").startswith(b"501 5.5.2"))
        self.assertEqual(c.cmd("AUTH PLAIN"), b"334 ")
        self.assertTrue(c.cmd("not base64 at all").startswith(b"501 5.5.2"))
        self.assertEqual(c.cmd("AUTH LOGIN"), b"334 VXNlcm5hbWU6")
        self.assertTrue(c.cmd("@@@@").startswith(b"501 5.5.2"))
        self.assertTrue(c.cmd("AUTH CRAM-MD5").startswith(b"504 5.5.4"))
        # and the session still works
        r = c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD))
        self.assertTrue(r.startswith(b"235"), r)

    def test_authzid_of_another_refused(self):
        c = self.line(starttls=True)
        c.ehlo()
        r = c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD, authz=BOB))
        self.assertTrue(r.startswith(b"535"), r)
        r = c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD, authz=ALICE))
        self.assertTrue(r.startswith(b"235"), r)

    def test_bad_password(self):
        c = self.line(starttls=True)
        c.ehlo()
        self.assertEqual(c.cmd("AUTH PLAIN " + plain(BOB, "wrong one")),
                         b"535 5.7.8 Authentication credentials invalid")
        self.assertEqual(
            c.cmd("AUTH PLAIN " + plain("nobody@example.test", "x")),
            b"535 5.7.8 Authentication credentials invalid")
        s = self.smtp()
        with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
            s.login(ALICE, "not the password")
        self.assertEqual(e.exception.smtp_code, 535)
        s.quit()

    def swaks(self, port, tls, mech):
        if shutil.which("swaks") is None:
            self.skipTest("swaks is not installed")
        p = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(port), tls,
             "--auth", mech, "--auth-user", ALICE,
             "--auth-password", PASSWORD, "--from", ALICE, "--to", BOB,
             "--header", "Subject: swaks " + mech, "--timeout", "20"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("235 2.7.0", p.stdout)
        self.assertIn("250 2.0.0 Ok: queued", p.stdout)

    def test_swaks_auth_login(self):
        self.swaks(self.b.submission_port, "--tls", "LOGIN")

    def test_swaks_submissions_plain(self):
        self.swaks(self.submissions_port, "--tlsc", "PLAIN")


class TestSender(SubmissionBase):
    def test_envelope_sender_owned(self):
        c = self.authed()
        for sender in (ALICE, "Alice@Example.TEST", "sales@example.test",
                       "team@example.test", "alice+lists@example.test"):
            self.assertEqual(c.cmd("MAIL FROM:<%s>" % sender),
                             b"250 2.1.0 Ok", sender)
            self.assertEqual(c.cmd("RSET"), b"250 2.0.0 Ok")

    def test_envelope_sender_not_owned(self):
        c = self.authed()
        for sender in (BOB, "nobody@example.test", "ceo@elsewhere.example"):
            self.assertEqual(c.cmd("MAIL FROM:<%s>" % sender),
                             b"553 5.7.1 Sender address not owned by user",
                             sender)
        self.assertEqual(c.cmd("MAIL FROM:<>"),
                         b"553 5.7.1 Null sender not allowed on submission")
        # bob may not use alice's alias, but the shared one
        c = self.authed(BOB, BOB_PASSWORD)
        self.assertTrue(c.cmd("MAIL FROM:<sales@example.test>")
                        .startswith(b"553 5.7.1"))
        self.assertEqual(c.cmd("MAIL FROM:<team@example.test>"),
                         b"250 2.1.0 Ok")

    def test_disabled_after_login(self):
        carol = "carol@example.test"
        self.b.add_user(carol, PASSWORD)
        c = self.authed(carol)
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % carol), b"250 2.1.0 Ok")
        self.assertEqual(c.cmd("RSET"), b"250 2.0.0 Ok")
        self.b.boxctl("user", "disable", carol)
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % carol),
                         b"553 5.7.1 Sender address not owned by user")

    def send(self, c, sender, rcpt, data):
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % sender), b"250 2.1.0 Ok")
        self.assertTrue(c.cmd("RCPT TO:<%s>" % rcpt).startswith(b"250"))
        self.assertTrue(c.cmd("DATA").startswith(b"354"))
        c.sock.sendall(data + b".\r\n")
        return c.reply()[-1]

    def test_from_header_owned(self):
        c = self.authed()
        n = len(self.b.messages(BOB))
        ok = [
            "Alice <alice@example.test>",
            '"Smith, Alice" <ALICE@example.test>',
            "=?utf-8?q?Al=C3=AFce?= <alice@example.test>",
            "alice@example.test (Alice in a comment)",
            "Alice <alice@example.test>, Sales <sales@example.test>",
        ]
        for i, frm in enumerate(ok):
            r = self.send(c, ALICE, BOB, message(frm, BOB, "ok %d" % i))
            self.assertTrue(r.startswith(b"250 2.0.0"), (frm, r))
        self.b.wait_messages(BOB, n + len(ok))

    def test_from_header_not_owned(self):
        c = self.authed()
        n = len(self.b.messages(BOB))
        before = len(self.queue_files())
        bad = [
            "Bob <bob@example.test>",
            "Alice <alice@example.test>, Bob <bob@example.test>",
            "=?utf-8?q?alice=40example=2Etest?= <ceo@elsewhere.example>",
        ]
        for frm in bad:
            r = self.send(c, ALICE, BOB, message(frm, BOB))
            self.assertEqual(
                r, b"553 5.7.1 From: header address not owned by user", frm)
            self.assertEqual(c.cmd("RSET"), b"250 2.0.0 Ok")
        # what another reader could take for an author: not a mailbox-list
        for frm in ("alice@example.test <bob@example.test>",
                    "<alice@example.test> bob@example.test",
                    "Us: alice@example.test, bob@example.test;",
                    "Us: alice@example.test;"):
            r = self.send(c, ALICE, BOB, message(frm, BOB))
            self.assertEqual(
                r, b"553 5.7.1 From: header is not a list of addresses", frm)
            self.assertEqual(c.cmd("RSET"), b"250 2.0.0 Ok")
        # a second From: field is looked at too
        r = self.send(c, ALICE, BOB, message(
            ALICE, BOB, extra="From: bob@example.test\r\n"))
        self.assertTrue(r.startswith(b"553 5.7.1"), r)
        # none, or one that is no address
        r = self.send(c, ALICE, BOB, b"Subject: no from\r\n\r\nbody\r\n")
        self.assertEqual(r, b"553 5.7.1 Message has no From: address")
        c = self.authed()
        r = self.send(c, ALICE, BOB, message("just a name", BOB))
        self.assertTrue(r.startswith(b"553 5.7.1"), r)
        time.sleep(0.5)
        self.assertEqual(len(self.b.messages(BOB)), n)
        self.assertEqual(len(self.queue_files()), before)

    def test_from_header_with_bdat(self):
        c = self.authed()
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % ALICE), b"250 2.1.0 Ok")
        self.assertTrue(c.cmd("RCPT TO:<%s>" % BOB).startswith(b"250"))
        data = message(BOB, BOB)
        c.sock.sendall(b"BDAT %d LAST\r\n" % len(data) + data)
        self.assertTrue(c.reply()[-1].startswith(b"553 5.7.1"))
        c.sock.sendall(b"MAIL FROM:<%s>\r\n" % ALICE.encode())
        self.assertEqual(c.reply()[-1], b"250 2.1.0 Ok")
        self.assertTrue(c.cmd("RCPT TO:<%s>" % BOB).startswith(b"250"))
        data = message(ALICE, BOB, "bdat")
        c.sock.sendall(b"BDAT %d LAST\r\n" % len(data) + data)
        self.assertTrue(c.reply()[-1].startswith(b"250 2.0.0"))

    def test_local_delivery_received_esmtpsa(self):
        n = len(self.b.messages(BOB))
        s = self.smtp()
        s.login(ALICE, PASSWORD)
        s.sendmail(ALICE, [BOB], message("Alice <%s>" % ALICE, BOB,
                                         "esmtpsa"))
        s.quit()
        msgs = self.b.wait_messages(BOB, n + 1)
        with open(msgs[-1], "rb") as f:
            text = f.read()
        head = text.split(b"\n\n", 1)[0]
        self.assertIn(b"with ESMTPSA", head)
        self.assertNotIn(PASSWORD.encode(), text)
        self.assertNotIn(b"Authenticated", head)
        self.assertNotIn(b"AUTH=", head)
        with open(self.b.log, "rb") as f:
            log = f.read()
        self.assertNotIn(PASSWORD.encode(), log)
        # the log, not the message, says who sent it
        self.assertIn(b"recipients, user " + ALICE.encode(), log)

    def test_remote_recipient_held_across_restart(self):
        c = self.authed()
        n = len(self.b.messages(ALICE))
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % ALICE), b"250 2.1.0 Ok")
        self.assertEqual(c.cmd("RCPT TO:<friend@elsewhere.example>"),
                         b"250 2.1.5 Ok")
        self.assertEqual(c.cmd("RCPT TO:<Friend@elsewhere.example>"),
                         b"250 2.1.5 Ok")
        self.assertEqual(c.cmd("RCPT TO:<%s>" % ALICE), b"250 2.1.5 Ok")
        self.assertTrue(c.cmd("DATA").startswith(b"354"))
        c.sock.sendall(message(ALICE, "friend@elsewhere.example", "remote")
                       + b".\r\n")
        r = c.reply()[-1]
        self.assertTrue(r.startswith(b"250 2.0.0 Ok: queued as "), r)
        msgid = r.split()[-1].decode()
        # the local recipient has it at once, the remote ones wait
        self.b.wait_messages(ALICE, n + 1)
        self.wait_log("message %s: 2 remote recipients held" % msgid)
        self.assertTrue(any(msgid in f for f in self.queue_files()),
                        self.queue_files())
        c.close()
        self.b.stop()
        self.b.start()
        self.assertTrue(any(msgid in f for f in self.queue_files()))
        self.wait_log("message %s: 2 remote recipients held" % msgid, 2)
        # delivered once locally, not again after the restart
        time.sleep(0.5)
        self.assertEqual(len(self.b.messages(ALICE)), n + 1)
        # boxctl queue shows the remote ones pending, the local delivered
        rows = [json.loads(line) for line in self.b.boxctl(
            "-j", "queue", "show", msgid).stdout.splitlines()]
        status = {r["recipient"]: r["status"] for r in rows
                  if "recipient" in r}
        self.assertEqual(status, {"friend@elsewhere.example": "pending",
                                  "Friend@elsewhere.example": "pending",
                                  ALICE: "delivered"}, rows)

    def test_only_remote_recipients_held(self):
        c = self.authed()
        self.assertEqual(c.cmd("MAIL FROM:<sales@example.test>"),
                         b"250 2.1.0 Ok")
        self.assertEqual(c.cmd("RCPT TO:<x@elsewhere.example>"),
                         b"250 2.1.5 Ok")
        # our own domains are still resolved: no user there is no user
        self.assertEqual(c.cmd("RCPT TO:<nobody@example.test>"),
                         b"550 5.1.1 No such user here")
        self.assertTrue(c.cmd("DATA").startswith(b"354"))
        c.sock.sendall(message("Sales <sales@example.test>",
                               "x@elsewhere.example", "all remote")
                       + b".\r\n")
        r = c.reply()[-1]
        self.assertTrue(r.startswith(b"250 2.0.0 Ok: queued as "), r)
        msgid = r.split()[-1].decode()
        self.wait_log("message %s: 1 remote recipients held" % msgid)
        self.assertTrue(any(msgid in f for f in self.queue_files()))

    def wait_log(self, text, count=1, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.b.logtext().count(text) >= count:
                return
            time.sleep(0.05)
        self.fail("no %r in the log:\n%s" % (text, self.b.logtext()[-3000:]))


class TestHostile(SubmissionBase):
    extra = "timeout command 2s"

    def test_huge_auth_line(self):
        c = self.line(starttls=True)
        c.ehlo()
        c.send("AUTH PLAIN " + "QUFB" * 25600)
        self.assertTrue(c.reply()[-1].startswith(b"500 5.5.2"))
        self.assertEqual(c.cmd("AUTH PLAIN"), b"334 ")
        c.send("QUFB" * 25600)
        self.assertTrue(c.reply()[-1].startswith(b"500 5.5.2"))
        # the exchange ended with it: the next line is a command
        self.assertEqual(c.cmd("NOOP"), b"250 2.0.0 Ok")
        r = c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD))
        self.assertTrue(r.startswith(b"235"), r)

    def test_auth_login_then_silence(self):
        c = self.line(starttls=True)
        c.ehlo()
        self.assertEqual(c.cmd("AUTH LOGIN"), b"334 VXNlcm5hbWU6")
        start = time.time()
        r = c.reply()[-1]
        self.assertTrue(r.startswith(b"421 4.4.2"), r)
        self.assertLess(time.time() - start, 15)

    def test_pipelined_auth(self):
        c = self.line(starttls=True)
        c.ehlo()
        c.sock.sendall(("AUTH PLAIN %s\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n"
                        "DATA\r\n" % (plain(ALICE, PASSWORD), ALICE, BOB))
                       .encode())
        self.assertTrue(c.reply()[-1].startswith(b"235"))
        self.assertEqual(c.reply()[-1], b"250 2.1.0 Ok")
        self.assertEqual(c.reply()[-1], b"250 2.1.5 Ok")
        self.assertTrue(c.reply()[-1].startswith(b"354"))
        c.sock.sendall(message(ALICE, BOB, "pipelined") + b".\r\n")
        self.assertTrue(c.reply()[-1].startswith(b"250 2.0.0"))

    def test_pipelined_login_steps(self):
        c = self.line(starttls=True)
        c.ehlo()
        c.sock.sendall(("AUTH LOGIN\r\n%s\r\n%s\r\nNOOP\r\n" %
                        (b64(ALICE), b64(PASSWORD))).encode())
        self.assertEqual(c.reply()[-1], b"334 VXNlcm5hbWU6")
        self.assertEqual(c.reply()[-1], b"334 UGFzc3dvcmQ6")
        self.assertTrue(c.reply()[-1].startswith(b"235"))
        self.assertEqual(c.reply()[-1], b"250 2.0.0 Ok")

    def test_nul_in_login_user(self):
        c = self.line(starttls=True)
        c.ehlo()
        self.assertEqual(c.cmd("AUTH LOGIN"), b"334 VXNlcm5hbWU6")
        self.assertTrue(c.cmd(b64(b"alice\0@example.test"))
                        .startswith(b"501 5.5.2"))


class TestBruteForce(SubmissionBase):
    extra = "limit auth-failures 3 per 5m"

    def test_limit_holds_known_address_gets_in(self):
        # 127.0.0.2 logged in to alice before: a known address
        c = self.authed(source="127.0.0.2")
        c.close()
        replies = []
        for i in range(6):
            c = self.line(starttls=True)
            c.ehlo()
            replies.append(c.cmd("AUTH PLAIN " + plain(ALICE, "guess%d" % i)))
            c.close()
        self.assertTrue(all(r.startswith(b"535 5.7.8")
                            for r in replies[:3]), replies)
        self.assertTrue(all(r.startswith(b"454 4.7.0")
                            for r in replies[3:]), replies)
        # the attacker's address is refused even the right password
        c = self.line(starttls=True)
        c.ehlo()
        self.assertTrue(c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD))
                        .startswith(b"454 4.7.0"))
        # auth's log names the address
        self.assertIn("login refused, too many failures from 127.0.0.1",
                      self.b.logtext())
        # the known address still gets in
        self.authed(source="127.0.0.2")
        # a fresh address that never logged in is held by the user's count
        c = self.line(starttls=True, source="127.0.0.3")
        c.ehlo()
        self.assertTrue(c.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD))
                        .startswith(b"454 4.7.0"))
        # bob, from a third address, is not locked out by alice's attacker
        self.authed(BOB, BOB_PASSWORD, source="127.0.0.4")


if __name__ == "__main__":
    unittest.main()
