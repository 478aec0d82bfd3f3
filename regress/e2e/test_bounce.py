"""Bounces: a message whose recipients fail for good (here: over quota
until it expires) comes back to its sender as an RFC 3464 report (a
local sender's lands in the Maildir, a remote one's waits in the queue),
with NOTIFY, RET, ENVID and ORCPT honoured; no report to the null
sender (a failed report is discarded, said in the log), none when NOTIFY
says NEVER.  Real boxd, smtplib as the client, Python's email package
reading what lands in the Maildir."""

import email
import json
import email.policy
import smtplib
import unittest

from boxdtest import Boxd
import test_smtp as t

ALICE, BOB = t.ALICE, t.BOB


def setUpModule():
    t.ensure_role_users()


class Bounce(unittest.TestCase):
    def setUp(self):
        self.b = Boxd(extra="queue retry 1s max-retry 1s expire 3s")
        self.addCleanup(self.b.cleanup)
        self.b.start()
        self.b.add_user(ALICE)
        self.b.add_user(BOB)
        # nothing fits: every delivery to bob fails for now, then expires
        t.set_quota(self.b, BOB, 1024)

    def send(self, sender, tok, mail_options=(), rcpt_options=()):
        body = t.make_message(tok, to=BOB, extra=t.FILL)
        with smtplib.SMTP("127.0.0.1", self.b.smtp_port, timeout=30) as s:
            s.ehlo("client.test")
            s.sendmail(sender, [BOB], body, list(mail_options),
                       list(rcpt_options))

    def spool_empty(self):
        return not t.listdir(t.spool_dir(self.b, "spool"))

    def wait_log(self, text):
        self.assertTrue(t.wait_until(lambda: text in self.b.logtext(), 30),
                        t.log_tail(self.b))

    def test_report_to_a_local_sender(self):
        tok = t.token()
        self.send(ALICE, tok, ["RET=FULL", "ENVID=QQ314159"],
                  ["NOTIFY=FAILURE,DELAY", "ORCPT=rfc822;Bob@Example.test"])
        got = t.wait_delivered(self.b, ALICE, b"Mail Delivery System",
                               timeout=60)
        self.assertEqual(len(got), 1, t.log_tail(self.b))
        raw = got[0][1]
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        self.assertTrue(raw.startswith(b"Return-Path: <>"), raw[:200])
        self.assertEqual(msg["Subject"], "Undelivered Mail Returned to Sender")
        self.assertEqual(msg["Auto-Submitted"], "auto-replied")
        self.assertIn("MAILER-DAEMON@", msg["From"])
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "delivery-status")
        text, status, original = msg.get_payload()
        self.assertIn(BOB, text.get_payload())
        self.assertEqual(status.get_content_type(), "message/delivery-status")
        per_msg, per_rcpt = status.get_payload()
        self.assertEqual(per_msg["Original-Envelope-Id"], "QQ314159")
        self.assertTrue(per_msg["Reporting-MTA"].startswith("dns; "))
        self.assertEqual(per_rcpt["Final-Recipient"], "rfc822; " + BOB)
        self.assertEqual(per_rcpt["Original-Recipient"],
                         "rfc822; Bob@Example.test")
        self.assertEqual(per_rcpt["Action"], "failed")
        self.assertEqual(per_rcpt["Status"], "4.2.2", str(status))
        self.assertIn("mailbox full", per_rcpt["Diagnostic-Code"])
        # RET=FULL: the whole message, its token and body with it
        self.assertEqual(original.get_content_type(), "message/rfc822")
        self.assertIn(tok.encode(), raw)
        self.assertIn(b"line 29 ", raw)
        # the report delivered, the original kept for the admin
        self.assertTrue(t.wait_until(self.spool_empty, 30),
                        t.listdir(t.spool_dir(self.b, "spool")))
        self.assertEqual(len(t.listdir(t.spool_dir(self.b, "failed"))), 2)
        self.assertRegex(self.b.logtext(), r"reported to <%s> in message "
                         r"[0-9a-f]{16}" % ALICE)
        self.assertEqual(len(self.b.messages(BOB)), 0)

    def test_headers_only_without_ret(self):
        tok = t.token()
        self.send(ALICE, tok)
        got = t.wait_delivered(self.b, ALICE, b"Mail Delivery System",
                               timeout=60)
        self.assertEqual(len(got), 1, t.log_tail(self.b))
        raw = got[0][1]
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        original = msg.get_payload()[2]
        self.assertEqual(original.get_content_type(), "text/rfc822-headers")
        # in the Subject the header brings back
        self.assertIn(tok.encode(), raw)
        self.assertNotIn(b"line 29 ", raw)

    def test_null_sender_discarded(self):
        tok = t.token()
        self.send("", tok)
        self.wait_log("from the null sender: discarded")
        self.assertTrue(t.wait_until(self.spool_empty, 30))
        self.assertEqual(t.listdir(t.spool_dir(self.b, "failed")), [])
        self.assertEqual(len(self.b.messages(ALICE)), 0)
        self.assertEqual(len(self.b.messages(BOB)), 0)

    def test_notify_never_kept_for_the_admin(self):
        tok = t.token()
        self.send(ALICE, tok, rcpt_options=["NOTIFY=NEVER"])
        self.wait_log("no report asked for")
        self.assertTrue(t.wait_until(
            lambda: len(t.listdir(t.spool_dir(self.b, "failed"))) == 2,
            30))
        self.assertEqual(len(self.b.messages(ALICE)), 0)

    def test_remote_sender_report_waits_for_mta(self):
        tok = t.token()
        # RET=FULL is not honoured for a sender that may be forged
        self.send(t.SENDER, tok, ["RET=FULL"])
        rows = []

        def held():
            rows[:] = [json.loads(line) for line in self.b.boxctl(
                "-j", "queue", "list").stdout.splitlines()]
            return any(r["sender"] == "<>" for r in rows)
        self.assertTrue(t.wait_until(held, 60), t.log_tail(self.b))
        self.assertEqual([(r["recipient"], r["status"]) for r in rows],
                         [(t.SENDER, "pending")])
        self.assertTrue(t.wait_until(lambda: len(t.listdir(
            t.spool_dir(self.b, "failed"))) == 2, 30))
        show = self.b.boxctl("queue", "show", rows[0]["id"]).stdout
        self.assertIn("Subject: Undelivered Mail Returned to Sender", show)
        shown = json.loads(self.b.boxctl(
            "-j", "queue", "show", rows[0]["id"]).stdout.splitlines()[0])
        self.assertLess(shown["size"], len(t.FILL), "the whole message came "
                        "back to a remote sender")


if __name__ == "__main__":
    unittest.main()
