"""Real mail clients against an IMAP and POP3 server: mbsync two-way,
offlineimap3, mutt in batch, fetchmail and getmail6 over POP3.  The cases
are one mixin, run against boxd by test_imapclients.py and against
Debian's Dovecot by dovecot_clients.py (by hand), so that a case proves
itself on a server that is not boxd."""

import imaplib
import os
import shutil
import ssl
import tempfile

import imapclients as ic

USER = "alice@example.org"
PASS = "pw-alice-secret"


def msg(subj, body="hello\r\n"):
    return ("From: bob@example.org\r\nTo: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s@example.org>\r\n\r\n%s" %
            (USER, subj, subj.replace(" ", "."), body)).encode()


class ClientCases:
    """The cases, for a server the subclass starts in start_server():
    it sets self.ports (kind -> port) and self.cert (its certificate) and
    has USER with PASS."""

    def setUp(self):
        self.start_server()
        self.scratch = tempfile.mkdtemp(prefix="imapclients-")
        self.addCleanup(shutil.rmtree, self.scratch, True)

    def acct(self, kind="imap", ca=True):
        tls = "tls" if kind.endswith("s") else "starttls"
        return ic.Account("127.0.0.1", self.ports[kind], USER, PASS, tls,
                          self.cert if ca else None,
                          "pop3" if kind.startswith("pop3") else "imap")

    def imap(self):
        c = imaplib.IMAP4("127.0.0.1", self.ports["imap"])
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.check_hostname = False
        c.starttls(ctx)
        c.login(USER, PASS)
        return c

    def put(self, folder, *subjects, flags=None):
        c = self.imap()
        for s in subjects:
            c.append(folder, flags, None, msg(s))
        c.logout()

    def server_subjects(self, folder):
        c = self.imap()
        n = int(c.select(folder)[1][0])
        if n == 0:
            c.logout()
            return {}
        typ, data = c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        out = {}
        for item in data:
            if isinstance(item, tuple):
                flags = imaplib.ParseFlags(item[0])
                s = ic.subject(item[1])
                out[s] = set(f.decode() for f in flags)
        c.logout()
        return out

    def test_mbsync_two_way(self):
        self.put("INBOX", "one", "two", "three")
        self.put("Archive", "old")
        r = ic.mbsync_sync(self.acct(), self.scratch)
        self.assertTrue(r.ok, r)
        folders = ic.maildir_folders(r.maildir)
        self.assertIn("Archive", folders)
        got = sorted(ic.subject(m) for _, _, m in
                     ic.read_maildir(folders["INBOX"]))
        self.assertEqual(got, ["one", "three", "two"])
        # local changes: a flag, a new message, a delete
        inbox = folders["INBOX"]
        ic.maildir_set_flags(ic.maildir_find(inbox, "one")[0], "FS")
        ic.maildir_add(inbox, msg("local"), "S")
        os.unlink(ic.maildir_find(inbox, "two")[0])
        ic.maildir_set_flags(ic.maildir_find(inbox, "three")[0], "ST")
        r = ic.mbsync_sync(self.acct(ca=False), self.scratch)
        self.assertTrue(r.ok, r)
        srv = self.server_subjects("INBOX")
        self.assertEqual(sorted(srv), ["local", "one"])
        self.assertIn("\\Flagged", srv["one"])
        # a server-side change comes back
        self.put("INBOX", "later")
        r = ic.mbsync_sync(self.acct(), self.scratch)
        self.assertTrue(r.ok, r)
        self.assertEqual(len(ic.maildir_find(inbox, "later")), 1)

    def test_offlineimap(self):
        self.put("INBOX", "a", "b")
        self.put("Sent", "s1", flags="(\\Seen)")
        # implicit TLS, the certificate pinned: offlineimap's threaded
        # STARTTLS (imaplib2) hangs now and then on a loaded machine
        r = ic.offlineimap_sync(self.acct("imaps", ca=False), self.scratch)
        self.assertTrue(r.ok, r)
        inbox = os.path.join(r.maildir, "INBOX")
        self.assertEqual(sorted(ic.subject(m) for _, _, m in
                                ic.read_maildir(inbox)), ["a", "b"])
        sent = ic.read_maildir(os.path.join(r.maildir, "Sent"))
        self.assertEqual([(ic.subject(m), f) for _, f, m in sent],
                         [("s1", "S")])
        r = ic.offlineimap_sync(self.acct("imaps", ca=False),
                                tempfile.mkdtemp(dir=self.scratch))
        self.assertTrue(r.ok, r)

    def test_mutt(self):
        self.put("INBOX", "first", "second", "third")
        r = ic.mutt_list(self.acct(), self.scratch)
        self.assertTrue(r.ok, r)
        self.assertEqual(sorted(r.extra), ["first", "second", "third"])
        r = ic.mutt_read(self.acct(), self.scratch, "~s second")
        self.assertTrue(r.ok, r)
        self.assertIn(b"Subject: second", r.extra)
        self.assertNotIn(b"Subject: first", r.extra)
        r = ic.mutt_move(self.acct(), self.scratch, "~s third", "Archive")
        self.assertTrue(r.ok, r)
        self.assertEqual(sorted(self.server_subjects("INBOX")),
                         ["first", "second"])
        self.assertEqual(list(self.server_subjects("Archive")), ["third"])
        r = ic.mutt_list(self.acct("imaps", ca=False), self.scratch,
                         "Archive")
        self.assertTrue(r.ok, r)
        self.assertEqual(r.extra, ["third"])

    def test_fetchmail(self):
        self.put("INBOX", "p1", "p2")
        r = ic.fetchmail_pop3(self.acct("pop3"), self.scratch)
        self.assertTrue(r.ok, r)
        self.assertEqual(sorted(ic.subject(m) for _, _, m in
                                ic.read_maildir(r.maildir)), ["p1", "p2"])
        self.assertEqual(len(self.server_subjects("INBOX")), 2)
        r = ic.fetchmail_pop3(self.acct("pop3s", ca=False),
                              tempfile.mkdtemp(dir=self.scratch), keep=False)
        self.assertTrue(r.ok, r)
        self.assertEqual(len(ic.read_maildir(r.maildir)), 2)
        self.assertEqual(self.server_subjects("INBOX"), {})
        r = ic.fetchmail_pop3(self.acct("pop3"), self.scratch)
        self.assertTrue(r.ok, r)        # nothing left is no failure

    def test_getmail(self):
        self.put("INBOX", "g1", "g2")
        r = ic.getmail_pop3(self.acct("pop3s"), self.scratch)
        self.assertTrue(r.ok, r)
        self.assertEqual(sorted(ic.subject(m) for _, _, m in
                                ic.read_maildir(r.maildir)), ["g1", "g2"])
        r = ic.getmail_pop3(self.acct("pop3s", ca=False),
                            tempfile.mkdtemp(dir=self.scratch), keep=False)
        self.assertTrue(r.ok, r)
        self.assertEqual(self.server_subjects("INBOX"), {})

