"""Local delivery when one of several mailboxes cannot take the message:
the others still get it, and the message is kept, not lost."""

import os
import smtplib
import time
import unittest

from boxdtest import Boxd

ALICE = "alice@example.test"
BOB = "bob@example.test"


class OneMailboxBroken(unittest.TestCase):
    def setUp(self):
        self.b = Boxd().start()
        self.b.add_user(ALICE)
        self.b.add_user(BOB)
        # alice's first message makes the domain's directory, as boxd
        # owns it; then bob's Maildir is a plain file: his delivery fails
        # for good
        self.send([ALICE], "first")
        self.b.wait_messages(ALICE, 1)
        domain = os.path.dirname(self.b.maildir(BOB))
        with open(self.b.maildir(BOB), "w") as f:
            f.write("not a directory\n")
        st = os.stat(domain)
        os.chown(self.b.maildir(BOB), st.st_uid, st.st_gid)

    def send(self, rcpts, subject):
        s = smtplib.SMTP("127.0.0.1", self.b.smtp_port, timeout=10)
        s.sendmail("a@client.test", rcpts,
                   "Subject: %s\r\n\r\nhello\r\n" % subject)
        s.quit()

    def tearDown(self):
        self.b.cleanup()

    def test_others_get_it_and_the_message_is_kept(self):
        self.send([BOB, ALICE], "to both")
        msgs = self.b.wait_messages(ALICE, 2)
        bodies = []
        for m in msgs:
            with open(m, "rb") as f:
                bodies.append(f.read())
        self.assertTrue(any(b"Subject: to both" in b for b in bodies))
        failed = os.path.join(self.b.storage, "queue", "failed")
        deadline = time.time() + 10
        while time.time() < deadline and not os.listdir(failed):
            time.sleep(0.05)
        self.assertEqual(len(os.listdir(failed)), 1, self.b.logtext())
        self.assertEqual(os.listdir(os.path.join(self.b.storage, "queue",
                                                 "spool")), [])
        self.assertIn("bob", self.b.logtext())
        self.assertIsNone(self.b.proc.poll())


if __name__ == "__main__":
    unittest.main()
