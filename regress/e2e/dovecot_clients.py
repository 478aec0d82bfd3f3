"""The client cases of clients_cases.py against Debian's Dovecot, which
proves them (not a test of boxd, so not named test_*: run it by hand, as
root, `cd regress/e2e && /usr/bin/python3 -m unittest -v dovecot_clients`)."""

import unittest

import dovecot
from clients_cases import PASS, USER, ClientCases


class DovecotClients(ClientCases, unittest.TestCase):
    def start_server(self):
        d = dovecot.Dovecot()
        self.addCleanup(d.cleanup)
        d.add_user(USER, PASS)
        d.start()
        self.ports, self.cert = d.ports, d.cert


if __name__ == "__main__":
    unittest.main()
