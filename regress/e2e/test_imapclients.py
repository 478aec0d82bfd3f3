"""Real mail clients against boxd: mbsync two-way sync, offlineimap3, a
mutt batch session, fetchmail and getmail6 over POP3 (the cases are
clients_cases.py's, proven against Dovecot by dovecot_clients.py)."""

import os
import sys
import unittest

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
        self.ports, self.cert = b.imap_ports, b.cert


if __name__ == "__main__":
    unittest.main()
