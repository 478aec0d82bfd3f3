"""Local delivery when one of several mailboxes cannot take the message:
the others still get it, and the message is kept, not lost: a mailbox
that cannot be written is tried again, recipient by recipient, across
restarts (and gets the message, once, when it is repaired); one that can
never be is failed for good, logged, and kept for the admin with the
state of each recipient."""

import json
import os
import re
import smtplib
import time
import unittest

from boxdtest import Boxd
import test_queue as q
import test_smtp as t

ALICE = "alice@example.test"
BOB = "bob@example.test"
CAROL = "carol@example.test"


def setUpModule():
    t.ensure_role_users()


def send(b, rcpts, subject):
    """One message; returns its queue id."""
    s = smtplib.SMTP("127.0.0.1", b.smtp_port, timeout=10,
                     local_hostname="client.test")
    try:
        s.ehlo()
        code, reply = s.mail("a@client.test")
        assert code == 250, reply
        for r in rcpts:
            code, _ = s.rcpt(r)
            assert code == 250, (r, code)
        code, reply = s.data("Subject: %s\r\n\r\nhello\r\n" % subject)
        assert code == 250, reply
    finally:
        s.quit()
    return re.search(rb"queued as ([0-9a-f]{16})", reply).group(1).decode()


def reports_only(b):
    """spool/ is empty but for the reports of failures to remote
    senders, which wait there for mta."""
    rows = [json.loads(line) for line in b.boxctl(
        "-j", "queue", "list").stdout.splitlines()]
    ids = {r["id"] for r in rows}
    return (all(r["sender"] == "<>" for r in rows) and
            sorted(t.listdir(t.spool_dir(b, "spool"))) == sorted(ids))


class OneMailboxBroken(unittest.TestCase):
    def setUp(self):
        self.b = Boxd().start()
        self.b.add_user(ALICE)
        self.b.add_user(BOB)
        # alice's first message makes the domain's directory, as boxd
        # owns it; then bob's Maildir is a plain file: his delivery fails
        # for good
        send(self.b, [ALICE], "first")
        self.b.wait_messages(ALICE, 1)
        domain = os.path.dirname(self.b.maildir(BOB))
        with open(self.b.maildir(BOB), "w") as f:
            f.write("not a directory\n")
        st = os.stat(domain)
        os.chown(self.b.maildir(BOB), st.st_uid, st.st_gid)

    def tearDown(self):
        self.b.cleanup()

    def test_others_get_it_and_the_message_is_kept(self):
        qid = send(self.b, [BOB, ALICE], "to both")
        msgs = self.b.wait_messages(ALICE, 2)
        bodies = []
        for m in msgs:
            with open(m, "rb") as f:
                bodies.append(f.read())
        self.assertTrue(any(b"Subject: to both" in b for b in bodies))
        failed = os.path.join(self.b.storage, "queue", "failed")
        t.wait_until(lambda: len(os.listdir(failed)) == 2, 10)
        self.assertEqual(sorted(os.listdir(failed)),
                         [qid, qid + ".state"], self.b.logtext())
        self.assertTrue(reports_only(self.b), self.b.logtext())
        # logged with the message, the recipient and the reason
        self.assertRegex(self.b.logtext(), r"message %s: recipient 0 failed "
                         r"permanently at attempt 1: example.test/bob: Not a "
                         r"directory" % qid)
        _, rcpts = q.read_state(os.path.join(failed, qid + ".state"))
        self.assertEqual([r[0] for r in rcpts],
                         [q.RCPT_FAILED, q.RCPT_DELIVERED])
        self.assertIn("Not a directory", rcpts[0][3])
        self.assertIsNone(self.b.proc.poll())


class BobBroken(unittest.TestCase):
    """A boxd with the queue settings of `schedule`, users `users`, and
    bob's Maildir made by a first delivery, then made unwritable (its tmp/
    mode 0500; mda never runs as root)."""

    schedule = "queue retry 1s max-retry 2s expire 1h"
    users = (ALICE, BOB)

    def setUp(self):
        self.b = Boxd(extra=self.schedule)
        self.addCleanup(self.b.cleanup)
        self.b.start()
        for a in self.users:
            self.b.add_user(a)
        send(self.b, [BOB], "first")
        self.b.wait_messages(BOB, 1)
        self.tmp = os.path.join(self.b.maildir(BOB), "tmp")
        os.chmod(self.tmp, 0o500)
        self.addCleanup(os.chmod, self.tmp, 0o700)


class UnwritableMailbox(BobBroken):
    """Three local recipients, bob's Maildir cannot be written (its tmp/
    is mode 0500; mda never runs as root): alice and carol get the
    message once, bob's delivery is a temporary failure tried again on
    the schedule, its attempts survive a restart, and once the mailbox
    is repaired bob gets it once, the others not again."""

    users = (ALICE, BOB, CAROL)

    def deferred(self, qid, since=0):
        """The highest attempt at which bob's delivery was deferred, in
        the log after offset since."""
        found = re.findall(r"message %s: recipient 1: temporary failure at "
                           r"attempt (\d+)" % qid, self.b.logtext()[since:])
        return max([int(n) for n in found] or [0])

    def test_retried_across_a_restart_and_delivered_once(self):
        qid = send(self.b, [ALICE, BOB, CAROL], "to three")
        for a in (ALICE, CAROL):
            self.b.wait_messages(a, 1)
        self.assertTrue(t.wait_until(lambda: self.deferred(qid) >= 3, 30),
                        t.log_tail(self.b))
        self.assertIn("Permission denied", self.b.logtext())
        spool = t.spool_dir(self.b, "spool")
        self.assertIn(qid, t.listdir(spool))
        self.assertEqual(len(self.b.messages(BOB)), 1)

        self.assertEqual(self.b.stop(), 0)
        self.assertEqual(t.listdir(spool), [qid, qid + ".state"])
        msgid, rcpts = q.read_state(os.path.join(spool, qid + ".state"))
        self.assertEqual(msgid, int(qid, 16))
        self.assertEqual([r[0] for r in rcpts],
                         [q.RCPT_DELIVERED, q.RCPT_PENDING,
                          q.RCPT_DELIVERED])
        self.assertEqual(rcpts[0][1], 1)
        self.assertEqual(rcpts[2][1], 1)
        before = rcpts[1][1]
        self.assertGreaterEqual(before, 3)
        self.assertIn("Permission denied", rcpts[1][3])

        offset = len(self.b.logtext())
        q.restart(self.b)
        # the count goes on where it was: the next attempt is before + 1
        self.assertTrue(t.wait_until(
            lambda: self.deferred(qid, offset) > before, 30),
            t.log_tail(self.b))
        first = re.search(r"message %s: recipient 1: temporary failure at "
                          r"attempt (\d+)" % qid,
                          self.b.logtext()[offset:])
        self.assertEqual(int(first.group(1)), before + 1)
        # only bob is tried again
        self.assertNotRegex(self.b.logtext()[offset:],
                            r"message %s: recipient [02]" % qid)

        os.chmod(self.tmp, 0o700)
        self.b.wait_messages(BOB, 2)
        self.assertTrue(t.wait_until(lambda: t.listdir(spool) == [], 20),
                        t.listdir(spool))
        time.sleep(0.5)
        for a, n in ((ALICE, 1), (BOB, 2), (CAROL, 1)):
            self.assertEqual(len(self.b.messages(a)), n, a)
        mine = [m for m in self.b.messages(BOB)
                if "Q%sR1." % qid in os.path.basename(m)]
        self.assertEqual(len(mine), 1, self.b.messages(BOB))
        self.assertEqual(t.listdir(t.spool_dir(self.b, "failed")), [])
        self.assertIsNone(self.b.proc.poll())


class RetryWithoutState(BobBroken):
    """A retry that has no state to go by (set aside as corrupt, lost in
    a crash before it reached the disk) recognises what an earlier try
    delivered by the Maildir name's queue id and index: in new/, and in
    cur/ where a mail client moved it with its flags, whatever the host
    name was then."""


    def copies(self, addr, qid, idx):
        root = self.b.maildir(addr)
        return [os.path.join(sub, n) for sub in ("new", "cur")
                for n in t.listdir(os.path.join(root, sub))
                if n.startswith("%d.Q%sR%d." % (int(qid, 16) >> 32, qid,
                                                idx))]

    def test_seen_message_not_delivered_again(self):
        qid = send(self.b, [ALICE, BOB], "seen")
        self.b.wait_messages(ALICE, 1)
        spool = t.spool_dir(self.b, "spool")
        state = os.path.join(spool, qid + ".state")
        self.assertTrue(t.wait_until(lambda: os.path.exists(state), 20),
                        t.log_tail(self.b))
        # a mail client reads it: into cur/ with the Seen flag
        [name] = self.copies(ALICE, qid, 0)
        self.assertTrue(name.startswith("new/"), name)
        root = self.b.maildir(ALICE)
        os.rename(os.path.join(root, name),
                  os.path.join(root, "cur", name[4:] + ":2,S"))

        self.assertEqual(self.b.stop(), 0)
        os.unlink(state)
        with open(self.b.conf) as f:
            conf = f.read()
        with open(self.b.conf, "w") as f:
            f.write(conf.replace('hostname "mx.test"',
                                 'hostname "mx2.test"'))
        os.chmod(self.tmp, 0o700)
        q.restart(self.b)
        self.b.wait_messages(BOB, 2)
        self.assertTrue(t.wait_until(lambda: t.listdir(spool) == [], 20),
                        t.listdir(spool))
        self.assertEqual(self.copies(ALICE, qid, 0),
                         ["cur/" + name[4:] + ":2,S"])
        [bob] = self.copies(BOB, qid, 1)
        self.assertIn(".mx2.test,", bob)
        self.assertEqual(t.listdir(t.spool_dir(self.b, "failed")), [])
        self.assertIsNone(self.b.proc.poll())


class StateNotWritten(BobBroken):
    """A state that cannot be written (here ID.state.tmp is a directory)
    is never acted on: the recipient's expiry does not move the message to
    failed/ with the stale state; it stays in the spool, and the state is
    written again until it can be, then acted on."""

    # the second attempt comes after expiry
    schedule = "queue retry 3s max-retry 3s expire 3s"

    def test_not_given_up_on_a_state_not_on_disk(self):
        qid = send(self.b, [BOB, ALICE], "state")
        self.b.wait_messages(ALICE, 1)
        spool = t.spool_dir(self.b, "spool")
        failed = t.spool_dir(self.b, "failed")
        state = os.path.join(spool, qid + ".state")
        self.assertTrue(t.wait_until(lambda: os.path.exists(state), 20),
                        t.log_tail(self.b))
        os.mkdir(state + ".tmp")
        expired = r"message %s: recipient 0 failed permanently at " \
                  r"attempt 2: expired" % qid
        self.assertTrue(t.wait_until(
            lambda: re.search(expired + r"[^\n]*\n(.*\n)*.*message %s: its "
                              r"state is not on disk" % qid,
                              self.b.logtext()), 20), t.log_tail(self.b))
        self.assertIn(qid, t.listdir(spool))
        self.assertEqual(t.listdir(failed), [])
        _, rcpts = q.read_state(state)
        self.assertEqual([r[0] for r in rcpts],
                         [q.RCPT_PENDING, q.RCPT_DELIVERED])

        os.rmdir(state + ".tmp")
        self.assertTrue(t.wait_until(
            lambda: t.listdir(failed) == [qid, qid + ".state"], 20),
            t.log_tail(self.b))
        self.assertTrue(reports_only(self.b), self.b.logtext())
        _, rcpts = q.read_state(os.path.join(failed, qid + ".state"))
        self.assertEqual([r[0] for r in rcpts],
                         [q.RCPT_FAILED, q.RCPT_DELIVERED])
        self.assertEqual(len(self.b.messages(ALICE)), 1)
        self.assertIsNone(self.b.proc.poll())


class SpoolNotWritable(BobBroken):
    """A message done with whose file cannot be removed from the spool
    (here spool/ is mode 0500) is kept and its removal tried again until
    it works, without a restart and without a second delivery."""


    def test_removal_tried_again(self):
        qid = send(self.b, [ALICE, BOB], "stuck")
        self.b.wait_messages(ALICE, 1)
        spool = t.spool_dir(self.b, "spool")
        state = os.path.join(spool, qid + ".state")
        self.assertTrue(t.wait_until(lambda: os.path.exists(state), 20),
                        t.log_tail(self.b))
        self.assertEqual(self.b.stop(), 0)
        # bob's mailbox repaired, the spool unwritable by the queue
        os.chmod(self.tmp, 0o700)
        os.chmod(spool, 0o500)
        self.addCleanup(os.chmod, spool, 0o700)
        q.restart(self.b)
        self.b.wait_messages(BOB, 2)
        stays = r"message %s: stays in spool/ for now" % qid
        self.assertTrue(t.wait_until(
            lambda: len(re.findall(stays, self.b.logtext())) >= 2, 20),
            t.log_tail(self.b))
        self.assertEqual(t.listdir(spool), [qid, qid + ".state"])
        os.chmod(spool, 0o700)
        self.assertTrue(t.wait_until(lambda: t.listdir(spool) == [], 20),
                        t.log_tail(self.b))
        self.assertEqual(len(self.b.messages(ALICE)), 1)
        self.assertEqual(len(self.b.messages(BOB)), 2)
        self.assertEqual(t.listdir(t.spool_dir(self.b, "failed")), [])
        self.assertIsNone(self.b.proc.poll())


class UserDeleted(BobBroken):
    """A recipient whose user is deleted while the message waits for a
    retry fails for good, alone, before mda writes anything: logged with
    the reason, kept in failed/ with the state of each recipient, and
    nothing goes into the Maildir the user had."""

    def test_deleted_user_fails_alone(self):
        qid = send(self.b, [ALICE, BOB], "deleted")
        self.b.wait_messages(ALICE, 1)
        spool = t.spool_dir(self.b, "spool")
        failed = t.spool_dir(self.b, "failed")
        # bob's first attempt was deferred: the message waits for a retry
        self.assertTrue(t.wait_until(
            lambda: qid + ".state" in t.listdir(spool), 20),
            t.log_tail(self.b))
        self.b.boxctl("user", "del", BOB)
        # the Maildir could take it now: only the deletion stops it
        os.chmod(self.tmp, 0o700)
        self.assertTrue(t.wait_until(
            lambda: qid + ".state" in t.listdir(failed), 20),
            t.log_tail(self.b))
        self.assertEqual(t.listdir(failed), [qid, qid + ".state"])
        self.assertTrue(reports_only(self.b), self.b.logtext())
        self.assertRegex(self.b.logtext(), r"message %s: recipient 1 failed "
                         r"permanently at attempt \d+: example.test/bob: no "
                         r"such user \(deleted after the message was "
                         r"accepted\)" % qid)
        self.assertRegex(self.b.logtext(), r"message %s: 1 of 2 recipients "
                         r"failed" % qid)
        _, rcpts = q.read_state(os.path.join(failed, qid + ".state"))
        self.assertEqual([r[0] for r in rcpts],
                         [q.RCPT_DELIVERED, q.RCPT_FAILED])
        self.assertIn("no such user", rcpts[1][3])
        self.assertEqual(rcpts[0][1], 1)
        time.sleep(0.5)
        self.assertEqual(len(self.b.messages(BOB)), 1)
        self.assertEqual(len(self.b.messages(ALICE)), 1)
        self.assertIsNone(self.b.proc.poll())


class UserDeletedAndAddedAgain(BobBroken):
    """A user deleted and added again before the retry has a mailbox
    again: the retry delivers into it, once."""

    # room for the deletion and the new user between two attempts
    schedule = "queue retry 5s max-retry 5s expire 1h"

    def test_delivered_to_the_user_added_again(self):
        qid = send(self.b, [ALICE, BOB], "added again")
        self.b.wait_messages(ALICE, 1)
        spool = t.spool_dir(self.b, "spool")
        self.assertTrue(t.wait_until(
            lambda: qid + ".state" in t.listdir(spool), 20),
            t.log_tail(self.b))
        self.b.boxctl("user", "del", BOB)
        self.b.add_user(BOB)
        os.chmod(self.tmp, 0o700)
        self.b.wait_messages(BOB, 2, timeout=30)
        self.assertTrue(t.wait_until(lambda: t.listdir(spool) == [], 20),
                        t.listdir(spool))
        self.assertEqual(t.listdir(t.spool_dir(self.b, "failed")), [])
        self.assertNotIn("no such user", self.b.logtext())
        time.sleep(0.5)
        self.assertEqual(len(self.b.messages(BOB)), 2)
        self.assertEqual(len(self.b.messages(ALICE)), 1)
        self.assertIsNone(self.b.proc.poll())


class ManyRecipients(unittest.TestCase):
    """mda under a small RLIMIT_NOFILE: messages to 300 mailboxes each (two
    aliases of 150) reach every mailbox once, at the first attempt; mda
    flushes for room instead of running out of descriptors (which made
    the next delivery's descriptor arrive truncated, and stopped boxd)."""

    N = 300

    def setUp(self):
        self.b = Boxd()
        self.addCleanup(self.b.cleanup)
        self.b.start(nofile=64)
        self.users = ["u%d@example.test" % i for i in range(self.N)]
        self.b.add_user(self.users[0])
        for u in self.users[1:]:
            self.b.boxctl("user", "add", u, "--password-stdin",
                          input="correct horse battery\n")
        half = self.N // 2
        self.b.boxctl("alias", "add", "half1@example.test",
                      ",".join(self.users[:half]))
        self.b.boxctl("alias", "add", "half2@example.test",
                      ",".join(self.users[half:]))

    def test_every_mailbox_once(self):
        qids = [send(self.b, ["half1@example.test", "half2@example.test"],
                     "many %d" % k) for k in range(4)]
        spool = t.spool_dir(self.b, "spool")
        self.assertTrue(t.wait_until(lambda: t.listdir(spool) == [], 60),
                        t.log_tail(self.b))
        for u in self.users:
            names = [os.path.basename(m) for m in self.b.messages(u)]
            self.assertEqual(len(names), len(qids), u)
            for qid in qids:
                self.assertEqual(
                    len([n for n in names if ".Q%sR" % qid in n]), 1,
                    (u, qid))
        self.assertNotIn("temporary failure", self.b.logtext())
        self.assertEqual(t.listdir(t.spool_dir(self.b, "failed")), [])
        self.assertIsNone(self.b.proc.poll(), t.log_tail(self.b))


class Expiry(BobBroken):
    """A recipient still undelivered when the message expires fails like
    one that can never be served: logged, kept in failed/ with the state
    of each recipient; the delivered ones stay delivered, once."""

    schedule = "queue retry 1s max-retry 1s expire 3s"

    def test_pending_recipient_expires(self):
        qid = send(self.b, [BOB, ALICE], "expiring")
        self.b.wait_messages(ALICE, 1)
        failed = t.spool_dir(self.b, "failed")
        self.assertTrue(t.wait_until(
            lambda: qid + ".state" in t.listdir(failed), 20),
            t.log_tail(self.b))
        self.assertEqual(t.listdir(failed), [qid, qid + ".state"])
        self.assertTrue(reports_only(self.b), self.b.logtext())
        self.assertRegex(self.b.logtext(), r"message %s: recipient 0 failed "
                         r"permanently at attempt \d+: expired after \d+ "
                         r"attempts: example.test/bob: Permission denied" %
                         qid)
        _, rcpts = q.read_state(os.path.join(failed, qid + ".state"))
        self.assertEqual([r[0] for r in rcpts],
                         [q.RCPT_FAILED, q.RCPT_DELIVERED])
        self.assertGreaterEqual(rcpts[0][1], 2)
        self.assertEqual(rcpts[1][1], 1)
        self.assertEqual(len(self.b.messages(ALICE)), 1)
        self.assertEqual(len(self.b.messages(BOB)), 1)
        self.assertIsNone(self.b.proc.poll())


if __name__ == "__main__":
    unittest.main()
