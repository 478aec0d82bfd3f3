"""A user's Maildir moved from Dovecot (as Mail-in-a-Box and Mailu keep
it) into boxd: the UIDVALIDITY, UIDs, flags, keywords, folders and
subscriptions a mail app knows stay as they were, so it downloads
nothing again.  The Maildir is written by Debian's Dovecot itself."""

import imaplib
import os
import pwd
import shutil
import ssl
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dovecot  # noqa: E402
from boxdtest import Boxd  # noqa: E402

USER = "carol@example.org"
PASS = "carol-secret-pw"


def message(subject):
    return ("From: dave@remote.test\r\nTo: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s@remote.test>\r\n\r\nbody of %s\r\n" %
            (USER, subject, subject, subject)).encode()


def client(port, cafile=None):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=20)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m.starttls(ctx)
    m.login(USER, PASS)
    return m


def state(m, folder):
    """UIDVALIDITY, UIDNEXT and {uid: (subject, flags)} of a folder."""
    typ, _ = m.select(folder, readonly=True)
    assert typ == "OK", folder
    validity = int(m.untagged_responses["UIDVALIDITY"][0])
    uidnext = int(m.untagged_responses["UIDNEXT"][0])
    msgs = {}
    typ, data = m.uid("FETCH", "1:*",
                      "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    for item in data:
        if not isinstance(item, tuple):
            continue
        head = item[0].decode()
        uid = int(head.split("UID ")[1].split()[0])
        flags = set(f.decode() for f in imaplib.ParseFlags(item[0]))
        flags.discard("\\Recent")
        subject = item[1].decode().strip().split(": ", 1)[1]
        msgs[uid] = (subject, frozenset(flags))
    m.untagged_responses.clear()
    return validity, uidnext, msgs


class MoveFromDovecot(unittest.TestCase):
    def test_uids_flags_keywords_survive(self):
        d = dovecot.Dovecot()
        self.addCleanup(d.cleanup)
        d.add_user(USER, PASS)
        d.start()
        m = client(d.ports["imap"])
        for i in range(6):
            m.append("INBOX", None, None, message("inbox %d" % i))
        m.select("INBOX")
        # gaps in the UIDs, flags and keywords as a mail app leaves them
        m.store("2", "+FLAGS", "(\\Deleted)")
        m.expunge()
        m.store("1", "+FLAGS", "(\\Seen $Important)")
        m.store("3", "+FLAGS", "(\\Flagged \\Answered work)")
        m.create("Projects")
        m.create("Projects.2026")
        m.subscribe("Projects.2026")
        m.append("Projects.2026", "(\\Seen)", None, message("plan"))
        before = {f: state(m, f) for f in ("INBOX", "Projects.2026")}
        typ, subs = m.lsub()
        m.logout()
        d.stop()

        b = Boxd(imap=True)
        self.addCleanup(b.cleanup)
        self.addCleanup(b.stop)
        b.start()
        b.boxctl("domain", "add", "example.org")
        b.add_user(USER, PASS)
        target = b.maildir(USER)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(d.maildir(USER), target, symlinks=True)
        # what the README says: the Maildir belongs to _boxmail
        if os.geteuid() == 0:
            pw = pwd.getpwnam("_boxmail")
            for root, dirs, files in os.walk(target):
                for name in dirs + files + ["."]:
                    os.chown(os.path.join(root, name), pw.pw_uid,
                             pw.pw_gid)
        m = client(b.imap_ports["imap"])
        for folder, was in before.items():
            self.assertEqual(state(m, folder), was, folder)
        typ, boxd_subs = m.lsub()
        names = [s.rsplit(b" ", 1)[1] for s in boxd_subs]
        for s in subs:
            self.assertIn(s.rsplit(b" ", 1)[1], names)
        # a new message goes above every UID Dovecot gave
        validity, uidnext, _ = before["INBOX"]
        typ, data = m.append("INBOX", None, None, message("after"))
        self.assertIn(("[APPENDUID %d %d]" % (validity, uidnext)).encode(),
                      data[0])
        m.logout()
        # and again after a restart, with the index boxd built
        b.stop()
        b.start()
        m = client(b.imap_ports["imap"])
        validity2, uidnext2, msgs = state(m, "INBOX")
        self.assertEqual((validity2, uidnext2), (validity, uidnext + 1))
        for uid, v in before["INBOX"][2].items():
            self.assertEqual(msgs[uid], v)
        m.logout()


if __name__ == "__main__":
    unittest.main()
