"""Real mail clients against boxd: mbsync two-way sync, offlineimap3, a
mutt batch session, fetchmail and getmail6 over POP3 (the cases are
clients_cases.py's, proven against Dovecot by dovecot_clients.py)."""

import os
import sys
import unittest

import imapclients as ic

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from boxdtest import Boxd  # noqa: E402
from clients_cases import PASS, USER, ClientCases  # noqa: E402


class BoxdClients(ClientCases, unittest.TestCase):
    def start_server(self):
        b = Boxd(imap=True)
        self.addCleanup(b.cleanup)
        self.addCleanup(b.stop)
        b.start()
        b.boxctl("domain", "add", "example.org")
        b.add_user(USER, PASS)
        self.b = b
        self.ports, self.cert = b.imap_ports, b.cert

    def test_mbsync_across_a_restart(self):
        """A restart in the middle of a user's syncs: UIDs hold, so mbsync
        fetches nothing again and pushes its change to the right one."""
        self.put("INBOX", "r1", "r2", "r3")
        r = ic.mbsync_sync(self.acct(), self.scratch)
        self.assertTrue(r.ok, r)
        inbox = ic.maildir_folders(r.maildir)["INBOX"]
        before = len(ic.read_maildir(inbox))
        self.b.stop()
        self.b.start()
        ic.maildir_set_flags(ic.maildir_find(inbox, "r2")[0], "FS")
        r = ic.mbsync_sync(self.acct(), self.scratch)
        self.assertTrue(r.ok, r)
        self.assertEqual(len(ic.read_maildir(inbox)), before)
        self.assertIn("\\Flagged", self.server_subjects("INBOX")["r2"])


if __name__ == "__main__":
    unittest.main()
