"""IMAP as mail apps use it, with Python's imaplib against a real boxd:
TLS before any password, logins through auth, folders, APPEND, COPY,
MOVE, EXPUNGE, two sessions on one mailbox, IDLE woken by a delivery,
the limits, and UIDs that survive a restart."""

import imaplib
import json
import os
import smtplib
import socket
import ssl
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from boxdtest import Boxd  # noqa: E402

BOB = "bob@example.org"
# commands imaplib does not know by name
imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))
PASSWORD = "correct horse battery"


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def message(subject, body="hello\r\n", sender="alice@remote.test"):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\n"
            "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
            "Message-ID: <%s@remote.test>\r\n\r\n%s" %
            (sender, BOB, subject, subject.replace(" ", "."), body)
            ).encode()


class ImapCase(unittest.TestCase):
    extra = ""

    def setUp(self):
        self.b = Boxd(imap=True, extra=self.extra)
        self.b.start()
        self.b.boxctl("domain", "add", "example.org")
        self.b.add_user(BOB, PASSWORD)
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.shutdown()
            except Exception:
                pass
        self.b.stop()
        self.b.cleanup()

    def connect(self, login=True, user=BOB, password=PASSWORD):
        m = imaplib.IMAP4("127.0.0.1", self.b.imap_ports["imap"],
                          timeout=20)
        self.clients.append(m)
        m.starttls(tls_context())
        if login:
            m.login(user, password)
        return m

    def connect_tls(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.b.imap_ports["imaps"],
                              ssl_context=tls_context(), timeout=20)
        self.clients.append(m)
        return m

    def deliver(self, subject, rcpt=BOB):
        with smtplib.SMTP("127.0.0.1", self.b.smtp_port, timeout=20) as s:
            s.sendmail("alice@remote.test", [rcpt], message(subject))

    def raw(self, port=None, tls=False):
        """A plain socket for what imaplib will not send."""
        s = socket.create_connection(
            ("127.0.0.1", port or self.b.imap_ports["imap"]), timeout=20)
        if tls:
            s = tls_context().wrap_socket(s)
        f = s.makefile("rb")
        greeting = f.readline()
        self.assertTrue(greeting.startswith(b"* OK"), greeting)
        return s, f

    @staticmethod
    def until_tagged(f, tag):
        lines = []
        while True:
            line = f.readline()
            if not line:
                return lines
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines


class Login(ImapCase):
    def test_no_password_before_tls(self):
        m = imaplib.IMAP4("127.0.0.1", self.b.imap_ports["imap"],
                          timeout=20)
        self.clients.append(m)
        self.assertIn("LOGINDISABLED", m.capabilities)
        self.assertIn("STARTTLS", m.capabilities)
        self.assertNotIn("AUTH=PLAIN", m.capabilities)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            m.login(BOB, PASSWORD)
        self.assertIn("PRIVACYREQUIRED", str(e.exception))
        m.starttls(tls_context())
        typ, caps = m.capability()
        self.assertIn(b"AUTH=PLAIN", caps[0])
        self.assertNotIn(b"LOGINDISABLED", caps[0])
        self.assertEqual(m.login(BOB, PASSWORD)[0], "OK")

    def test_input_before_starttls_is_dropped(self):
        s, f = self.raw()
        # a command piggybacked on STARTTLS must not run inside TLS
        s.sendall(b"a STARTTLS\r\nb LOGIN bob@example.org x\r\n")
        self.assertTrue(f.readline().startswith(b"a OK"))
        t = tls_context().wrap_socket(s)
        tf = t.makefile("rb")
        t.sendall(b"c NOOP\r\n")
        self.assertTrue(tf.readline().startswith(b"c OK"))
        t.close()

    def test_wrong_password_and_disabled_user(self):
        m = self.connect(login=False)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            m.login(BOB, "wrong")
        self.assertIn("AUTHENTICATIONFAILED", str(e.exception))
        with self.assertRaises(imaplib.IMAP4.error):
            m.login("nobody@example.org", PASSWORD)
        self.b.boxctl("user", "disable", BOB)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            m.login(BOB, PASSWORD)
        self.assertIn("Account disabled", str(e.exception))
        self.b.boxctl("user", "enable", BOB)
        self.assertEqual(m.login(BOB, PASSWORD)[0], "OK")

    def test_authenticate_plain(self):
        m = self.connect(login=False)
        typ, _ = m.authenticate(
            "PLAIN", lambda _: ("\0%s\0%s" % (BOB, PASSWORD)).encode())
        self.assertEqual(typ, "OK")
        # SASL-IR: the response on the command line
        s, f = self.raw(self.b.imap_ports["imaps"], tls=True)
        import base64
        ir = base64.b64encode(("%s\0%s\0%s" % (BOB, BOB, PASSWORD))
                              .encode()).decode()
        s.sendall(("a AUTHENTICATE PLAIN %s\r\n" % ir).encode())
        self.assertTrue(self.until_tagged(f, b"a")[-1].startswith(b"a OK"))
        # another user's authorization is refused
        s.sendall(("b AUTHENTICATE PLAIN %s\r\n" % base64.b64encode(
            ("x@example.org\0%s\0%s" % (BOB, PASSWORD)).encode())
            .decode()).encode())
        self.assertTrue(self.until_tagged(f, b"b")[-1].startswith(b"b "))
        s.close()

    def test_imaps_and_capabilities(self):
        m = self.connect_tls()
        m.login(BOB, PASSWORD)
        typ, caps = m.capability()
        for cap in (b"IMAP4rev1", b"IMAP4rev2", b"IDLE", b"UIDPLUS",
                    b"MOVE", b"SPECIAL-USE", b"CONDSTORE", b"QRESYNC",
                    b"NAMESPACE", b"QUOTA"):
            self.assertIn(cap, caps[0].split())
        typ, ns = m.namespace()
        self.assertEqual(ns[0], b'(("" ".")) NIL NIL')
        typ, data = m._simple_command("ID", '("name" "test")')
        self.assertEqual(typ, "OK")
        typ, data = m._simple_command("ENABLE", "IMAP4rev2 CONDSTORE")
        self.assertEqual(typ, "OK")
        self.assertEqual(m.untagged_responses.pop("ENABLED"),
                         [b"IMAP4rev2 CONDSTORE"])


class Folders(ImapCase):
    def names(self, m, *args):
        typ, rows = m.list(*args)
        self.assertEqual(typ, "OK")
        return [r.decode() for r in rows if r is not None]

    def test_special_folders_at_first_login(self):
        m = self.connect()
        rows = self.names(m)
        for name, use in (("Drafts", "\\Drafts"), ("Sent", "\\Sent"),
                          ("Trash", "\\Trash"), ("Junk", "\\Junk"),
                          ("Archive", "\\Archive")):
            self.assertTrue(any(r.endswith(' "." %s' % name) and use in r
                                for r in rows), rows)
        typ, subs = m.lsub()
        self.assertEqual(len([s for s in subs if s]), 5)

    def test_create_rename_delete_subscribe(self):
        m = self.connect()
        self.assertEqual(m.create("Projects")[0], "OK")
        self.assertEqual(m.create("Projects.2026")[0], "OK")
        self.assertEqual(m.create("Entwürfe".encode("utf-7")
                                  .replace(b"+", b"&").decode())[0], "OK")
        self.assertTrue(os.path.isdir(os.path.join(
            self.b.maildir(BOB), ".Entw&APw-rfe")))
        rows = self.names(m, '""', "Projects*")
        self.assertIn('(\\HasChildren) "." Projects', rows)
        self.assertIn('(\\HasNoChildren) "." Projects.2026', rows)
        typ, _ = m.create("Projects")
        self.assertEqual(typ, "NO")
        self.assertEqual(m.rename("Projects", "Work")[0], "OK")
        rows = self.names(m, '""', "*")
        self.assertTrue(any(r.endswith("Work.2026") for r in rows))
        self.assertFalse(any("Projects" in r for r in rows))
        self.assertEqual(m.subscribe("Work")[0], "OK")
        typ, subs = m.lsub('""', "Work")
        self.assertEqual(subs, [b'() "." Work'])
        self.assertEqual(m.unsubscribe("Work")[0], "OK")
        self.assertEqual(m.delete("Work.2026")[0], "OK")
        self.assertEqual(m.delete("INBOX")[0], "NO")
        typ, data = m.delete("Nonexistent")
        self.assertEqual(typ, "NO")

    def test_status_and_list_status(self):
        self.deliver("one")
        self.deliver("two")
        self.b.wait_messages(BOB, 2)
        m = self.connect()
        typ, data = m.status(
            "INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE DELETED)")
        self.assertEqual(typ, "OK")
        text = data[0].decode()
        self.assertIn("MESSAGES 2", text)
        self.assertIn("UNSEEN 2", text)
        self.assertIn("UIDNEXT 3", text)
        typ, data = m._simple_command(
            "LIST", '"" "INBOX" RETURN (STATUS (MESSAGES))')
        self.assertEqual(typ, "OK")
        self.assertIn(b"INBOX (MESSAGES 2)", m.untagged_responses["STATUS"][0])


class Messages(ImapCase):
    def test_append_select_copy_move_expunge(self):
        m = self.connect()
        typ, data = m.append("INBOX", "(\\Seen $Work)", None,
                             message("appended"))
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0].decode(), r"^\[APPENDUID \d+ 1\]")
        typ, data = m.select("INBOX")
        self.assertEqual(data, [b"1"])
        self.assertEqual(m.copy("1", "Archive")[0], "OK")
        typ, data = m._simple_command("MOVE", "1", "Trash")
        self.assertEqual(typ, "OK")
        typ, data = m.status("Trash", "(MESSAGES)")
        self.assertIn(b"MESSAGES 1", data[0])
        typ, data = m.status("INBOX", "(MESSAGES)")
        self.assertIn(b"MESSAGES 0", data[0])
        files = os.listdir(os.path.join(self.b.maildir(BOB), ".Archive",
                                        "cur"))
        self.assertEqual(len(files), 1)
        # the flags travel in the name: \Seen and the first keyword
        self.assertTrue(files[0].endswith(":2,Sa"), files)

    def test_append_multiple_and_literal_plus(self):
        s, f = self.raw(self.b.imap_ports["imaps"], tls=True)
        s.sendall(b"a LOGIN bob@example.org {21+}\r\ncorrect horse battery\r\n")
        self.assertTrue(self.until_tagged(f, b"a")[-1].startswith(b"a OK"))
        one, two = message("m1"), message("m2")
        s.sendall(b"b APPEND Drafts (\\Draft) {%d+}\r\n%s (\\Seen) {%d+}\r\n"
                  b"%s\r\n" % (len(one), one, len(two), two))
        last = self.until_tagged(f, b"b")[-1]
        self.assertRegex(last, rb"^b OK \[APPENDUID \d+ 1:2\]")
        # a synchronising literal waits for the go-ahead
        s.sendall(b"c APPEND INBOX {%d}\r\n" % len(one))
        self.assertTrue(f.readline().startswith(b"+"))
        s.sendall(one + b"\r\n")
        self.assertTrue(self.until_tagged(f, b"c")[-1].startswith(b"c OK"))
        # a message over max-message-size is refused before it is sent
        s.sendall(b"d APPEND INBOX {999999999999}\r\n")
        self.assertIn(b"TOOBIG", f.readline())
        s.sendall(b"e APPEND Nonexistent {%d}\r\n" % len(one))
        f.readline()
        s.sendall(one + b"\r\n")
        last = self.until_tagged(f, b"e")[-1]
        self.assertTrue(last.startswith(b"e NO"), last)
        s.close()

    def test_delivered_mail_is_served_with_crlf(self):
        """mda stores LF line ends, as Dovecot does; IMAP counts and sends
        CRLF, and the two agree."""
        self.deliver("line ends")
        self.b.wait_messages(BOB, 1)
        m = self.connect()
        m.select("INBOX")
        typ, data = m.fetch("1", "(RFC822.SIZE BODY.PEEK[] "
                            "BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertEqual(typ, "OK")
        size = int(data[0][0].split(b"RFC822.SIZE ")[1].split()[0])
        body = data[0][1]
        self.assertEqual(len(body), size)
        self.assertNotIn(b"\n", body.replace(b"\r\n", b""))
        self.assertEqual(data[1][1], b"Subject: line ends\r\n\r\n")

    def test_expunge_and_close(self):
        for i in range(3):
            self.deliver("msg %d" % i)
        self.b.wait_messages(BOB, 3)
        m = self.connect()
        m.select("INBOX")
        self.assertEqual(m.store("1", "+FLAGS", "\\Deleted")[0], "OK")
        typ, data = m.expunge()
        self.assertEqual(data, [b"1"])
        m.store("1", "+FLAGS", "\\Deleted")
        self.assertEqual(m.close()[0], "OK")
        typ, data = m.select("INBOX")
        self.assertEqual(data, [b"1"])


class TwoSessions(ImapCase):
    def test_each_sees_the_others_changes(self):
        for i in range(3):
            self.deliver("msg %d" % i)
        self.b.wait_messages(BOB, 3)
        a, b = self.connect(), self.connect()
        a.select("INBOX")
        b.select("INBOX")
        b.untagged_responses.clear()
        a.store("2", "+FLAGS", "\\Flagged")
        b.noop()
        fetches = b.untagged_responses.get("FETCH", [])
        self.assertTrue(any(b"\\Flagged" in x for x in fetches), fetches)
        a.store("1", "+FLAGS", "\\Deleted")
        a.expunge()
        b.untagged_responses.clear()
        b.noop()
        self.assertEqual(b.untagged_responses.get("EXPUNGE"), [b"1"])
        a.append("INBOX", None, None, message("new one"))
        b.untagged_responses.clear()
        b.noop()
        self.assertEqual(b.untagged_responses.get("EXISTS"), [b"3"])

    def test_idle_hears_a_delivery_at_once(self):
        m = self.connect_tls()
        m.login(BOB, PASSWORD)
        m.select("INBOX")
        tag = m._new_tag()
        m.send(tag + b" IDLE\r\n")
        self.assertTrue(m.readline().startswith(b"+"))
        got = []

        def reader():
            got.append(m.readline())

        t = threading.Thread(target=reader)
        t.start()
        start = time.time()
        self.deliver("pushed")
        t.join(20)
        self.assertEqual(got, [b"* 1 EXISTS\r\n"])
        # delivered and told within a second of the delivery's end
        self.assertLess(time.time() - start, 5)
        m.send(b"DONE\r\n")
        while True:
            line = m.readline()
            if line.startswith(tag):
                break
        self.assertIn(b"OK", line)


class Limits(ImapCase):
    extra = "limit imap-connections 20 per-user 2"

    def test_per_user_limit(self):
        self.connect()
        self.connect()
        m = self.connect(login=False)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            m.login(BOB, PASSWORD)
        self.assertIn("LIMIT", str(e.exception))
        self.clients[0].logout()
        self.clients.pop(0)
        deadline = time.time() + 20
        while True:
            try:
                m.login(BOB, PASSWORD)
                break
            except imaplib.IMAP4.error:
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)

    def test_hostile_commands(self):
        s, f = self.raw(self.b.imap_ports["imaps"], tls=True)
        s.sendall(b"a " + b"X" * 70000 + b"\r\n")
        self.assertIn(b"BAD", f.readline())
        s.sendall(b"b LOGIN {99999999999999999999}\r\n")
        self.assertIn(b"BAD", f.readline())
        s.sendall(b"c LOGIN {100000}\r\n")
        self.assertIn(b"TOOBIG", f.readline())
        s.sendall(b"d NOOP (((((\r\n")
        self.assertIn(b"BAD", f.readline())
        s.sendall(b"e SELECT INBOX\r\n")
        self.assertIn(b"BAD", f.readline())
        s.sendall(b"f NOOP\r\n")
        self.assertTrue(f.readline().startswith(b"f OK"))
        s.close()
        status = self.b.boxctl("status").stdout
        self.assertIn("imap_sessions", status)


class Quota(ImapCase):
    extra = "queue retry 1s max-retry 2s"

    def test_quota_at_delivery_and_append(self):
        self.b.boxctl("user", "quota", BOB, "1K")
        for i in range(2):
            self.deliver("fits %d" % i)
        self.b.wait_messages(BOB, 2)
        m = self.connect()
        typ, data = m.getquotaroot("INBOX")
        self.assertEqual(typ, "OK")
        quota = data[1][0].decode()
        self.assertRegex(quota, r'^"" \(STORAGE \d+ 1 MESSAGE 2 \d+\)$')
        typ, data = m.append("INBOX", None, None, message("big", "x" * 2000))
        self.assertEqual(typ, "NO")
        self.assertIn(b"OVERQUOTA", data[0])
        # over quota at delivery: a temporary failure, tried again
        self.deliver("too much " + "y" * 100)
        deadline = time.time() + 20
        while "mailbox full" not in self.b.logtext():
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        self.assertEqual(len(self.b.messages(BOB)), 2)
        self.b.boxctl("user", "quota", BOB, "0")
        self.b.wait_messages(BOB, 3, timeout=60)

    def test_user_list_shows_usage(self):
        carol = "carol@example.org"
        self.b.add_user(carol, PASSWORD)
        self.b.boxctl("user", "quota", BOB, "1M")
        for i in range(3):
            self.deliver("usage %d" % i)
        self.b.wait_messages(BOB, 3)
        size = sum(os.path.getsize(p) for p in self.b.messages(BOB))
        # the usage is maildirsize's, as mda added to it: the files'
        # sizes, the header mda writes included
        with open(os.path.join(self.b.maildir(BOB), "maildirsize")) as f:
            used = sum(int(line.split()[0]) for line in f.readlines()[1:])
        self.assertEqual(used, size)
        rows = {r["address"]: r for r in map(json.loads, self.b.boxctl(
            "-j", "user", "list", "example.org").stdout.splitlines())}
        self.assertEqual((rows[BOB]["used"], rows[BOB]["messages"]),
                         (used, 3))
        self.assertEqual(rows[BOB]["quota"], 1 << 20)
        # never delivered to, never logged in: no Maildir, nothing used
        self.assertFalse(os.path.exists(self.b.maildir(carol)))
        self.assertEqual((rows[carol]["used"], rows[carol]["messages"]),
                         (0, 0))
        self.assertIn("%s  used %s  messages 3  quota 1M\n" % (
            BOB, used if used < 1024 else "%.1fK" % (used / 1024)),
            self.b.boxctl("user", "list").stdout)
        # what IMAP removes is no longer counted
        m = self.connect()
        m.select("INBOX")
        m.store("1", "+FLAGS", "\\Deleted")
        m.expunge()
        rows = [r for r in map(json.loads, self.b.boxctl(
            "-j", "user", "list", "example.org").stdout.splitlines())
            if r["address"] == BOB]
        self.assertEqual(rows[0]["messages"], 2)
        self.assertLess(rows[0]["used"], used)


class Restart(ImapCase):
    def test_uids_survive_a_restart(self):
        for i in range(3):
            self.deliver("msg %d" % i)
        self.b.wait_messages(BOB, 3)
        m = self.connect()
        typ, data = m.select("INBOX")
        validity = m.untagged_responses["UIDVALIDITY"][0]
        m.store("2", "+FLAGS", "\\Deleted")
        m.expunge()
        m.logout()
        self.clients.clear()
        self.b.stop()
        self.b.start()
        m = self.connect()
        m.select("INBOX")
        self.assertEqual(m.untagged_responses["UIDVALIDITY"][0], validity)
        self.assertEqual(m.untagged_responses["UIDNEXT"][0], b"4")


if __name__ == "__main__":
    unittest.main()
