"""boxctl queue list, show, flush and remove against a real boxd: a
message held by a recipient over quota (retried an hour later) is listed
with its recipient's status, attempts, next attempt and last error, in
text and in JSON; show gives its envelope and header; flush delivers it
at once when the quota allows; remove takes it out of the spool; bad and
unknown ids are clear errors."""

import json
import smtplib
import unittest

from boxdtest import Boxd
import test_smtp as t

BOB = t.BOB
# a header to take over the admin's terminal, if boxctl let it through
ATTACK = b"X-Attack: \xc2\x9b2J\x1b]0;t\x07\x7f\x9b1;31m\xc2\x9d\r\n"


def setUpModule():
    t.ensure_role_users()


class QueueCtl(unittest.TestCase):
    def setUp(self):
        self.b = Boxd(extra="queue retry 1h max-retry 1h expire 5d")
        self.addCleanup(self.b.cleanup)
        self.b.start()
        self.b.add_user(BOB)
        t.set_quota(self.b, BOB, 1024)

    def hold(self):
        """A message to bob that waits for its retry; its id and token."""
        tok = t.token()
        with smtplib.SMTP("127.0.0.1", self.b.smtp_port, timeout=30) as s:
            s.ehlo("client.test")
            s.sendmail(t.SENDER, [BOB],
                       ATTACK + t.make_message(tok, to=BOB, extra=t.FILL),
                       ["RET=HDRS", "ENVID=held-" + tok])
        rows = []

        def listed():
            rows[:] = [json.loads(line) for line in self.b.boxctl(
                "-j", "queue", "list").stdout.splitlines()]
            return any(r.get("attempts", 0) >= 1 and
                       "mailbox full" in r.get("error", "") for r in rows)
        self.assertTrue(t.wait_until(listed, 30), t.log_tail(self.b))
        ids = {r["id"] for r in rows}
        self.assertEqual(len(ids), 1)
        return ids.pop(), tok

    def flush_until_delivered(self, tok, *ids):
        """The quota reaches mda through imap's maildirsize a moment
        after boxctl: flush again until the message is in."""
        def flushed():
            self.b.boxctl("queue", "flush", *ids)
            return t.wait_until(
                lambda: t.delivered_with(self.b, BOB, tok), 0.5)
        self.assertTrue(t.wait_until(flushed, 30), t.log_tail(self.b))

    def test_list_show_flush(self):
        qid, tok = self.hold()
        rows = [json.loads(line) for line in self.b.boxctl(
            "-j", "queue", "list").stdout.splitlines()]
        self.assertEqual(len(rows), 1)
        r = rows[0]
        self.assertEqual(r["sender"], t.SENDER)
        self.assertEqual(r["recipient"], BOB)
        self.assertEqual(r["status"], "pending")
        self.assertEqual(r["attempts"], 1)
        self.assertIsInstance(r["next"], int)
        out = self.b.boxctl("queue", "list").stdout
        self.assertRegex(out, r"^%s  %s -> %s  pending  attempts 1  next "
                         r"in (59m\d\ds|1h00m)\n    .*mailbox full" %
                         (qid, t.SENDER, BOB))
        show = self.b.boxctl("queue", "show", qid).stdout
        self.assertIn("id %s\n" % qid, show)
        self.assertIn("sender %s\n" % t.SENDER, show)
        self.assertIn("envid held-%s\n" % tok, show)
        self.assertIn("ret headers\n", show)
        self.assertIn("    Subject: test %s\n" % tok, show)
        self.assertNotIn("line 29", show)
        # what the sender wrote reaches no terminal as a control: C0, DEL,
        # C1 raw or in UTF-8 (CSI, OSC) come out as '?'
        self.assertIn("    X-Attack: ??2J?]0;t???1;31m??\n", show)
        self.assertIn("\n    \tby ", show)
        raw = self.b.boxctl("queue", "show", qid).stdout.encode(
            "utf-8", "surrogateescape")
        for bad in (b"\x1b", b"\x07", b"\x7f", b"\xc2\x9b", b"\xc2\x9d",
                    b"\x9b"):
            self.assertNotIn(bad, raw)
        self.assertNotIn("\xc2\x9b", self.b.boxctl(
            "-j", "queue", "show", qid).stdout)
        shown = [json.loads(line) for line in self.b.boxctl(
            "-j", "queue", "show", qid.upper()).stdout.splitlines()]
        self.assertEqual(shown[0]["id"], qid)
        self.assertIn("Subject: test " + tok, shown[0]["header"])
        self.assertEqual(shown[1]["recipient"], BOB)
        # room again: flush delivers now, not in an hour
        self.b.boxctl("user", "quota", BOB, "none")
        self.flush_until_delivered(tok, qid)
        self.assertTrue(t.wait_until(lambda: self.b.boxctl(
            "queue", "list").stdout == "", 30))
        self.assertIn("message %s flushed by boxctl" % qid,
                      self.b.logtext())

    def test_flush_all(self):
        qid, tok = self.hold()
        self.b.boxctl("user", "quota", BOB, "none")
        self.flush_until_delivered(tok)

    def test_remove(self):
        qid, tok = self.hold()
        self.b.boxctl("queue", "remove", qid)
        self.assertEqual(self.b.boxctl("queue", "list").stdout, "")
        self.assertEqual(t.listdir(t.spool_dir(self.b, "spool")), [])
        self.assertIn("message %s removed by boxctl" % qid, self.b.logtext())
        p = self.b.boxctl("queue", "remove", qid, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no message %s in the queue" % qid, p.stderr)
        # nothing comes of it after a restart either
        self.b.stop()
        self.b.start()
        self.assertEqual(self.b.boxctl("queue", "list").stdout, "")

    def test_bad_ids(self):
        for bad in ("xyz", "0123", "0123456789abcdefff", "-1"):
            p = self.b.boxctl("queue", "show", bad, check=False)
            self.assertEqual(p.returncode, 1, bad)
            self.assertIn("invalid message id", p.stderr)
        p = self.b.boxctl("queue", "show", "0123456789abcdef", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no message 0123456789abcdef in the queue", p.stderr)
        p = self.b.boxctl("queue", "frob", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("usage", p.stderr)
        self.assertEqual(self.b.boxctl("queue", "list").stdout, "")
        self.assertEqual(self.b.boxctl("-j", "queue", "list").stdout, "")


if __name__ == "__main__":
    unittest.main()
