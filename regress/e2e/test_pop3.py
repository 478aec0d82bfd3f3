"""POP3 as fetchers use it, with Python's poplib against a real boxd:
no password before TLS, the maildrop at login, deletions at QUIT only,
UIDL stable across sessions and restarts, one POP3 session a maildrop."""

import os
import poplib
import smtplib
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from boxdtest import Boxd  # noqa: E402
from test_imap import BOB, PASSWORD, message, tls_context  # noqa: E402


class Pop3Case(unittest.TestCase):
    def setUp(self):
        self.b = Boxd(imap=True)
        self.b.start()
        self.b.boxctl("domain", "add", "example.org")
        self.b.add_user(BOB, PASSWORD)
        for i in range(3):
            with smtplib.SMTP("127.0.0.1", self.b.smtp_port,
                              timeout=20) as s:
                s.sendmail("alice@remote.test", [BOB], message(
                    "msg %d" % i, body=".a dotted line\r\nend\r\n"))
        self.b.wait_messages(BOB, 3)

    def tearDown(self):
        self.b.stop()
        self.b.cleanup()

    def login(self):
        """A login; while a session just closed still holds the
        maildrop (the server has yet to see the close), again."""
        deadline = time.time() + 20
        while True:
            p = poplib.POP3_SSL("127.0.0.1", self.b.imap_ports["pop3s"],
                                context=tls_context(), timeout=20)
            p.user(BOB)
            try:
                p.pass_(PASSWORD)
                return p
            except poplib.error_proto as e:
                p.close()
                if b"[IN-USE]" not in e.args[0] or time.time() > deadline:
                    raise
                time.sleep(0.05)

    def test_stls_before_any_password(self):
        p = poplib.POP3("127.0.0.1", self.b.imap_ports["pop3"], timeout=20)
        caps = p.capa()
        self.assertIn("STLS", caps)
        self.assertNotIn("USER", caps)
        with self.assertRaises(poplib.error_proto):
            p.user(BOB)
        p.stls(tls_context())
        caps = p.capa()
        self.assertIn("USER", caps)
        self.assertEqual(caps["SASL"], ["PLAIN"])
        p.user(BOB)
        with self.assertRaises(poplib.error_proto) as e:
            p.pass_("wrong")
        self.assertIn(b"[AUTH]", e.exception.args[0])
        p.user(BOB)
        self.assertTrue(p.pass_(PASSWORD).startswith(b"+OK"))
        p.quit()

    def test_auth_plain(self):
        import base64
        s = tls_context().wrap_socket(socket.create_connection(
            ("127.0.0.1", self.b.imap_ports["pop3s"]), timeout=20))
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"AUTH PLAIN " + base64.b64encode(
            ("\0%s\0%s" % (BOB, PASSWORD)).encode()) + b"\r\n")
        self.assertTrue(f.readline().startswith(b"+OK"))
        s.sendall(b"STAT\r\n")
        self.assertEqual(f.readline().split()[:2], [b"+OK", b"3"])
        s.close()

    def test_transaction(self):
        p = self.login()
        count, size = p.stat()
        self.assertEqual(count, 3)
        resp, lines, _ = p.list()
        self.assertEqual(len(lines), 3)
        self.assertEqual(sum(int(l.split()[1]) for l in lines), size)
        resp, lines, octets = p.retr(1)
        self.assertIn(b".a dotted line", lines)
        self.assertEqual(lines[-1], b"end")
        resp, lines, _ = p.top(2, 0)
        self.assertEqual(lines[-1], b"")
        self.assertTrue(any(l.startswith(b"Subject: msg ") for l in lines))
        resp, uidls, _ = p.uidl()
        p.dele(1)
        self.assertEqual(p.stat()[0], 2)
        with self.assertRaises(poplib.error_proto):
            p.retr(1)
        p.rset()
        self.assertEqual(p.stat()[0], 3)
        p.dele(2)
        # without QUIT nothing is deleted
        p.close()
        p = self.login()
        self.assertEqual(p.stat()[0], 3)
        self.assertEqual(p.uidl()[1], uidls)
        p.dele(2)
        p.quit()
        p = self.login()
        self.assertEqual(p.stat()[0], 2)
        self.assertEqual(p.uidl()[1], [uidls[0], b"2" + uidls[2][1:]])
        p.quit()
        # the same UIDLs after a restart
        self.b.stop()
        self.b.start()
        p = self.login()
        self.assertEqual(p.uidl()[1], [uidls[0], b"2" + uidls[2][1:]])
        p.quit()

    def test_one_session_a_maildrop(self):
        p = self.login()
        q = poplib.POP3_SSL("127.0.0.1", self.b.imap_ports["pop3s"],
                            context=tls_context(), timeout=20)
        q.user(BOB)
        with self.assertRaises(poplib.error_proto) as e:
            q.pass_(PASSWORD)
        self.assertIn(b"[IN-USE]", e.exception.args[0])
        p.quit()
        q.user(BOB)
        self.assertTrue(q.pass_(PASSWORD).startswith(b"+OK"))
        q.quit()

    def test_maildrop_holds_while_imap_changes_it(self):
        """The maildrop is what INBOX held at login; a message another
        session expunges meanwhile is gone, the others keep their
        numbers."""
        import imaplib
        p = self.login()
        subjects = [l for l in p.top(3, 0)[1] if l.startswith(b"Subject")]
        m = imaplib.IMAP4_SSL("127.0.0.1", self.b.imap_ports["imaps"],
                              ssl_context=tls_context(), timeout=20)
        m.login(BOB, PASSWORD)
        m.select("INBOX")
        m.store("2", "+FLAGS", "\\Deleted")
        m.expunge()
        with smtplib.SMTP("127.0.0.1", self.b.smtp_port, timeout=20) as c:
            c.sendmail("alice@remote.test", [BOB], message("later"))
        deadline = time.time() + 20
        while b"MESSAGES 3" not in m.status("INBOX", "(MESSAGES)")[1][0]:
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        with self.assertRaises(poplib.error_proto):
            p.retr(2)
        self.assertEqual([l for l in p.top(3, 0)[1]
                          if l.startswith(b"Subject")], subjects)
        self.assertEqual(len(p.uidl()[1]), 3)
        p.dele(1)
        p.quit()
        m.noop()
        typ, data = m.status("INBOX", "(MESSAGES)")
        self.assertIn(b"MESSAGES 2", data[0])
        m.logout()

    def test_hostile_input(self):
        s = tls_context().wrap_socket(socket.create_connection(
            ("127.0.0.1", self.b.imap_ports["pop3s"]), timeout=20))
        f = s.makefile("rb")
        f.readline()
        for bad in (b"X" * 300, b"RETR 1", b"PASS x", b"TOP", b"\0\0",
                    b"LIST -1"):
            s.sendall(bad + b"\r\n")
            self.assertTrue(f.readline().startswith(b"-ERR"), bad)
        s.sendall(("USER %s\r\nPASS %s\r\n" % (BOB, PASSWORD)).encode())
        f.readline()
        self.assertTrue(f.readline().startswith(b"+OK"))
        for bad in (b"RETR 0", b"RETR 99", b"RETR x", b"TOP 1 -1",
                    b"DELE 4294967296", b"LIST 1 2"):
            s.sendall(bad + b"\r\n")
            self.assertTrue(f.readline().startswith(b"-ERR"), bad)
        s.sendall(b"NOOP\r\n")
        self.assertTrue(f.readline().startswith(b"+OK"))
        s.close()


if __name__ == "__main__":
    unittest.main()
