"""`boxctl status` counts what happened: sessions, messages received,
delivered, and still in the queue."""

import json
import smtplib
import time
import unittest

from boxdtest import Boxd

ALICE = "alice@example.test"


class Counters(unittest.TestCase):
    def setUp(self):
        self.b = Boxd().start()
        self.b.add_user(ALICE)

    def tearDown(self):
        self.b.cleanup()

    def counters(self):
        rows = [json.loads(l) for l in
                self.b.boxctl("-j", "status").stdout.splitlines()]
        return [r for r in rows if "received" in r][0]

    def test_counters_follow_the_mail(self):
        self.assertEqual(self.counters(), {"sessions": 0, "received": 0,
                                           "delivered": 0, "queued": 0,
                                           "imap_sessions": 0})
        for i in range(3):
            s = smtplib.SMTP("127.0.0.1", self.b.smtp_port, timeout=10)
            s.sendmail("a@client.test", [ALICE],
                       "Subject: %d\r\n\r\nbody\r\n" % i)
            s.quit()
        # a session that sends nothing counts as a session only
        s = smtplib.SMTP("127.0.0.1", self.b.smtp_port, timeout=10)
        s.quit()
        self.b.wait_messages(ALICE, 3)
        deadline = time.time() + 10
        while time.time() < deadline:
            c = self.counters()
            if c["delivered"] == 3:
                break
            time.sleep(0.05)
        self.assertEqual(c, {"sessions": 4, "received": 3, "delivered": 3,
                             "queued": 0, "imap_sessions": 0})


if __name__ == "__main__":
    unittest.main()
