"""The harness's stand-ins for the world outside: an MX sink (aiosmtpd)
that takes mail as a remote server would, a DNS server on loopback
(dnslib) answering from a table, and a boxd with the listeners of the
imap role.  Each is shown to work here, so that the tests of mta and imap
can rely on them.

Run: /usr/bin/python3 -m unittest discover -s regress/e2e -p test_harness.py -v
"""

import smtplib
import socket
import unittest

import dnslib

from boxdtest import Boxd, DNSServer, MXSink
import test_smtp as t


def setUpModule():
    t.ensure_role_users()


class Sink(unittest.TestCase):

    def setUp(self):
        self.mx = MXSink(replies={"busy@remote.test": "450 4.2.1 busy",
                                  "nobody@remote.test":
                                  "550 5.1.1 no such user"}).start()
        self.addCleanup(self.mx.stop)

    def test_collects_messages(self):
        with smtplib.SMTP(self.mx.host, self.mx.port, timeout=10) as s:
            s.ehlo("client.test")
            s.sendmail("alice@mx.test", ["bob@remote.test",
                                         "carol@remote.test"],
                       b"Subject: one\r\n\r\nbody\r\n")
            s.sendmail("", ["bob@remote.test"],
                       b"Subject: two\r\n\r\nbounce\r\n")
        msgs = self.mx.wait_for(2)
        self.assertEqual(len(msgs), 2)
        self.assertEqual(msgs[0]["mail_from"], "alice@mx.test")
        self.assertEqual(msgs[0]["rcpt_tos"], ["bob@remote.test",
                                               "carol@remote.test"])
        self.assertEqual(msgs[0]["helo"], "client.test")
        self.assertIn(b"Subject: one", msgs[0]["content"])
        self.assertEqual(msgs[1]["mail_from"], "")

    def test_replies_per_recipient(self):
        with smtplib.SMTP(self.mx.host, self.mx.port, timeout=10) as s:
            s.ehlo("client.test")
            refused = s.sendmail("alice@mx.test",
                                 ["busy@remote.test", "nobody@remote.test",
                                  "bob@remote.test"],
                                 b"Subject: x\r\n\r\nx\r\n")
        self.assertEqual(refused["busy@remote.test"][0], 450)
        self.assertEqual(refused["nobody@remote.test"][0], 550)
        msgs = self.mx.wait_for(1)
        self.assertEqual(msgs[0]["rcpt_tos"], ["bob@remote.test"])

    def test_wait_for_times_out(self):
        with self.assertRaises(AssertionError):
            self.mx.wait_for(1, timeout=0.2)


class DNS(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dns = DNSServer({
            "remote.test": {"MX": [(10, "mx.remote.test"),
                                   (20, "mx2.remote.test")],
                            "TXT": ["v=spf1 -all"]},
            "mx.remote.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
            "sel._domainkey.remote.test": {"TXT": ["p=" + "A" * 400]},
        }).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()

    def ask(self, name, qtype, tcp):
        q = dnslib.DNSRecord.question(name, qtype)
        raw = q.send(self.dns.host, self.dns.port, tcp=tcp, timeout=5)
        return dnslib.DNSRecord.parse(raw)

    def test_mx_over_udp_and_tcp(self):
        for tcp in (False, True):
            r = self.ask("remote.test", "MX", tcp)
            self.assertEqual(r.header.rcode, dnslib.RCODE.NOERROR)
            got = sorted((rr.rdata.preference, str(rr.rdata.label))
                         for rr in r.rr)
            self.assertEqual(got, [(10, "mx.remote.test."),
                                   (20, "mx2.remote.test.")], tcp)
        self.assertIn(("remote.test", "MX", "udp"), self.dns.queries)
        self.assertIn(("remote.test", "MX", "tcp"), self.dns.queries)

    def test_raw_udp_query(self):
        q = dnslib.DNSRecord.question("REMOTE.test.", "MX")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(q.pack(), (self.dns.host, self.dns.port))
            r = dnslib.DNSRecord.parse(s.recv(4096))
        self.assertEqual(r.header.id, q.header.id)
        self.assertEqual(len(r.rr), 2)

    def test_addresses_and_txt(self):
        r = self.ask("mx.remote.test", "A", False)
        self.assertEqual([str(rr.rdata) for rr in r.rr], ["127.0.0.1"])
        r = self.ask("mx.remote.test", "AAAA", False)
        self.assertEqual([str(rr.rdata) for rr in r.rr], ["::1"])
        r = self.ask("remote.test", "TXT", False)
        self.assertEqual(b"".join(r.rr[0].rdata.data), b"v=spf1 -all")
        # longer than one character-string: split, and whole again
        r = self.ask("sel._domainkey.remote.test", "TXT", True)
        self.assertEqual(b"".join(r.rr[0].rdata.data), b"p=" + b"A" * 400)

    def test_nxdomain_and_nodata(self):
        r = self.ask("nowhere.test", "MX", False)
        self.assertEqual(r.header.rcode, dnslib.RCODE.NXDOMAIN)
        self.assertEqual(r.rr, [])
        r = self.ask("mx.remote.test", "MX", False)
        self.assertEqual(r.header.rcode, dnslib.RCODE.NOERROR)
        self.assertEqual(r.rr, [])

    def test_records_change(self):
        self.dns.add("new.test", "A", "127.0.0.2")
        self.addCleanup(self.dns.remove, "new.test")
        r = self.ask("new.test", "A", False)
        self.assertEqual([str(rr.rdata) for rr in r.rr], ["127.0.0.2"])
        self.dns.remove("new.test")
        r = self.ask("new.test", "A", False)
        self.assertEqual(r.header.rcode, dnslib.RCODE.NXDOMAIN)


class ImapListeners(unittest.TestCase):

    def setUp(self):
        self.b = Boxd(imap=True)
        self.addCleanup(self.b.cleanup)
        self.b.start()

    def test_listeners_bound(self):
        self.assertEqual(sorted(self.b.imap_ports),
                         ["imap", "imaps", "pop3", "pop3s"])
        for kind, port in self.b.imap_ports.items():
            # imap is idle: the connection is made, nobody serves it
            with socket.create_connection(("127.0.0.1", port),
                                          timeout=10):
                pass
        self.assertIsNone(self.b.proc.poll(), self.b.logtext())
        self.b.boxctl("status")
        self.assertNotIn("fatal", self.b.logtext())
        self.assertEqual(sorted(t.role_pids(self.b)), sorted(t.ROLES))


if __name__ == "__main__":
    unittest.main()
