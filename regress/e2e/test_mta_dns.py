"""mta's route lookups (smtpd/mta_dns.c through libunbound), driven by
regress/smtpd/mta_dns_tool against a DNS server on loopback (dnslib)
answering for .test names: MX order, equal preferences shuffled, the
implicit MX, the null MX, NXDOMAIN, SERVFAIL, CNAMEs, hostile MX
targets, bounds, and servers that never answer, while the tool's event
loop keeps running.  Every lookup is given the loopback resolver: no
question leaves the machine."""

import os
import socket
import subprocess
import unittest

from boxdtest import TOP, DNSServer, free_udp_tcp_port

BUILD = os.environ.get("BUILD", "build")
TOOL = os.path.join(TOP, BUILD, "regress", "smtpd", "mta_dns_tool")

RECORDS = {
    "multi.test": {"MX": [(20, "mx2.multi.test"), (10, "mx1.multi.test"),
                          (30, "mx3.multi.test")]},
    "mx1.multi.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
    "mx2.multi.test": {"A": ["127.0.0.2", "127.0.0.3"]},
    "mx3.multi.test": {"AAAA": ["::1"]},
    "equal.test": {"MX": [(10, "a.equal.test"), (10, "b.equal.test"),
                          (5, "first.equal.test")]},
    "a.equal.test": {"A": ["127.0.1.1"]},
    "b.equal.test": {"A": ["127.0.1.2"]},
    "first.equal.test": {"A": ["127.0.1.3"]},
    "implicit.test": {"A": ["127.0.0.5"], "AAAA": ["::1"]},
    "nullmx.test": {"MX": [(0, ".")]},
    "noaddr.test": {"MX": [(10, "gone.noaddr.test")]},
    "nomail.test": {"TXT": ["v=spf1 -all"]},
    "many.test": {"MX": [(i, "mx%d.many.test" % i) for i in range(40)]},
    "manyaddr.test": {"MX": [(10, "mx.manyaddr.test")]},
    "mx.manyaddr.test": {"A": ["127.0.2.%d" % i for i in range(1, 20)],
                         "AAAA": ["::%x" % i for i in range(1, 20)]},
    "partial.test": {"MX": [(10, "silent.partial.test"),
                            (20, "ok.partial.test")]},
    "ok.partial.test": {"A": ["127.0.3.1"]},
    "slowmx.test": {"MX": [(10, "silent.slowmx.test")]},
    "hostile.test": {"MX": [(10, "bad host.hostile.test"),
                            (20, "evil\nname.hostile.test")]},
    "mixed.test": {"MX": [(10, "bad host.mixed.test"),
                          (20, "good.mixed.test")]},
    "good.mixed.test": {"A": ["127.0.4.1"]},
    "sfmx.test": {"MX": [(10, "sfhost.test")]},
    "sfmixed.test": {"MX": [(10, "sfhost.test"), (20, "mx.real.test")]},
    "real.test": {"MX": [(10, "mx.real.test")]},
    "mx.real.test": {"A": ["127.0.5.1"]},
}
for i in range(40):
    RECORDS["mx%d.many.test" % i] = {"A": ["127.0.6.%d" % (i + 1)]}
# more MX records than are kept: the best are last in the zone
RECORDS["huge.test"] = {"MX": [(1000 - i, "mx%d.huge.test" % i)
                               for i in range(300)]}
for i in range(280, 300):
    RECORDS["mx%d.huge.test" % i] = {"A": ["127.0.7.%d" % (i - 279)]}


class TestDNS(DNSServer):
    """The harness's server, with SERVFAIL, silence and CNAMEs."""

    servfail = {"servfail.test", "sfhost.test"}
    silent = {"silent.partial.test", "silent.slowmx.test"}
    cnames = {"alias.test": "real.test", "chain.test": "alias.test",
              "aliasimp.test": "implicit.test",
              "loop1.test": "loop2.test", "loop2.test": "loop1.test"}

    def start(self):
        super().start()
        for srv in self.servers:
            # the silent names' exceptions are the point, not news
            srv.server.handle_error = lambda *args: None
        return self

    def resolve(self, request, handler):
        import dnslib
        qname = self._key(str(request.q.qname))
        if qname in self.silent:
            with self.lock:
                self.queries.append((qname, "silent", handler.protocol))
            # dnslib's handler sends nothing when resolve() raises
            raise RuntimeError("never answered")
        if qname in self.servfail:
            reply = request.reply()
            reply.header.rcode = dnslib.RCODE.SERVFAIL
            return reply
        if qname in self.cnames:
            reply = request.reply()
            reply.add_answer(dnslib.RR(str(request.q.qname),
                                       dnslib.QTYPE.CNAME,
                                       rdata=dnslib.CNAME(
                                           self.cnames[qname] + "."),
                                       ttl=60))
            return reply
        return super().resolve(request, handler)


def setUpModule():
    # make check builds it; a run by hand may not have
    if not os.access(TOOL, os.X_OK):
        args = ["make", "--no-print-directory", "-s",
                os.path.relpath(TOOL, TOP)]
        if BUILD == "build-san":
            args.append("SANITIZE=1")
        subprocess.run(args, cwd=TOP, check=True)


class Lookup:
    def __init__(self, out, rc):
        self.rc = rc
        self.out = out
        self.route = None
        self.hosts = []
        self.fail = None
        self.ticks = 0
        for line in out.splitlines():
            words = line.split(" ")
            if words[0] == "route":
                self.route = words[1:]
            elif words[0] == "host":
                self.hosts.append((int(words[1]), words[2], words[3:]))
            elif words[0] == "fail":
                self.fail = (words[1], words[2], " ".join(words[3:]))
            elif words[0] == "ticks":
                self.ticks = int(words[1])

    def names(self):
        return [h[1] for h in self.hosts]


class MTADNS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = TestDNS(RECORDS).start()
        # a server that reads every question and answers none
        cls.mute = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        cls.mute_port = free_udp_tcp_port()
        cls.mute.bind(("127.0.0.1", cls.mute_port))

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()
        cls.mute.close()

    def lookup(self, domain, timeout_ms=5000, port=None, host="127.0.0.1"):
        p = subprocess.run([TOOL, "-t", str(timeout_ms), domain, host,
                            str(port or self.dns.port)],
                           capture_output=True, text=True, timeout=60)
        self.assertIn(p.returncode, (0, 2), p.stderr)
        return Lookup(p.stdout, p.returncode)

    def test_mx_order(self):
        r = self.lookup("multi.test")
        self.assertEqual(r.rc, 0, r.out)
        self.assertEqual(r.route, ["multi.test", "mx"])
        self.assertEqual([h[:2] for h in r.hosts], [
            (10, "mx1.multi.test"), (20, "mx2.multi.test"),
            (30, "mx3.multi.test")])
        self.assertEqual(r.hosts[0][2], ["::1", "127.0.0.1"])
        # the resolver rotates an RRset: any order within a family
        self.assertEqual(sorted(r.hosts[1][2]), ["127.0.0.2", "127.0.0.3"])
        self.assertEqual(r.hosts[2][2], ["::1"])

    def test_case_folded(self):
        r = self.lookup("MULTI.Test")
        self.assertEqual(r.route, ["multi.test", "mx"])
        self.assertEqual(len(r.hosts), 3)

    def test_equal_preferences_shuffled(self):
        seconds = set()
        for _ in range(24):
            r = self.lookup("equal.test")
            self.assertEqual(r.rc, 0, r.out)
            names = r.names()
            self.assertEqual(names[0], "first.equal.test")
            self.assertEqual(sorted(names[1:]),
                             ["a.equal.test", "b.equal.test"])
            seconds.add(names[1])
            if len(seconds) == 2:
                break
        # both orders within 24 tries: a 2^-23 chance of a false alarm
        self.assertEqual(seconds, {"a.equal.test", "b.equal.test"})

    def test_implicit_mx(self):
        r = self.lookup("implicit.test")
        self.assertEqual(r.rc, 0, r.out)
        self.assertEqual(r.route, ["implicit.test", "implicit"])
        self.assertEqual(r.hosts, [(0, "implicit.test",
                                    ["::1", "127.0.0.5"])])

    def test_null_mx(self):
        r = self.lookup("nullmx.test")
        self.assertEqual(r.rc, 2)
        self.assertEqual(r.fail[:2], ("perm", "5.1.10"), r.out)
        # no address is asked for a domain that takes no mail
        self.assertNotIn(("nullmx.test", "A", "udp"), self.dns.queries)

    def test_nxdomain(self):
        r = self.lookup("nosuch.test")
        self.assertEqual(r.fail[:2], ("perm", "5.1.2"), r.out)
        self.assertIn("nosuch.test", r.fail[2])

    def test_no_mx_no_address(self):
        r = self.lookup("nomail.test")
        self.assertEqual(r.fail[:2], ("perm", "5.4.4"), r.out)

    def test_mx_host_without_address(self):
        r = self.lookup("noaddr.test")
        self.assertEqual(r.fail[:2], ("perm", "5.4.4"), r.out)

    def test_servfail(self):
        r = self.lookup("servfail.test")
        self.assertEqual(r.fail[:2], ("temp", "4.4.3"), r.out)

    def test_mx_host_servfail(self):
        r = self.lookup("sfmx.test")
        self.assertEqual(r.fail[:2], ("temp", "4.4.3"), r.out)
        # a host that fails for now is left out while others answer
        r = self.lookup("sfmixed.test")
        self.assertEqual(r.rc, 0, r.out)
        self.assertEqual(r.hosts, [(20, "mx.real.test", ["127.0.5.1"])])

    def test_cname(self):
        for name in ("alias.test", "chain.test"):
            r = self.lookup(name)
            self.assertEqual(r.rc, 0, r.out)
            self.assertEqual(r.hosts, [(10, "mx.real.test",
                                        ["127.0.5.1"])], name)

    def test_cname_implicit_mx(self):
        # RFC 5321 5.1: the name the CNAME leads to is the mail host
        r = self.lookup("aliasimp.test")
        self.assertEqual(r.rc, 0, r.out)
        self.assertEqual(r.route, ["aliasimp.test", "implicit"])
        self.assertEqual(r.hosts, [(0, "implicit.test",
                                    ["::1", "127.0.0.5"])])

    def test_cname_loop(self):
        r = self.lookup("loop1.test", timeout_ms=8000)
        self.assertEqual(r.rc, 2, r.out)
        self.assertEqual(r.fail[0], "temp", r.out)

    def test_hosts_bounded(self):
        r = self.lookup("many.test")
        self.assertEqual(r.rc, 0, r.out)
        self.assertEqual(r.names(), ["mx%d.many.test" % i
                                     for i in range(16)])
        self.assertEqual(r.hosts[0][2], ["127.0.6.1"])

    def test_best_of_many_records(self):
        r = self.lookup("huge.test")
        self.assertEqual(r.rc, 0, r.out)
        self.assertEqual(r.names(), ["mx%d.huge.test" % i
                                     for i in range(299, 283, -1)])
        self.assertEqual(r.hosts[0][:1], (701,))

    def test_addresses_bounded(self):
        r = self.lookup("manyaddr.test")
        self.assertEqual(r.rc, 0, r.out)
        addrs = r.hosts[0][2]
        self.assertEqual(len(addrs), 8)
        self.assertTrue(all(":" in a for a in addrs[:4]), addrs)
        self.assertTrue(all("." in a for a in addrs[4:]), addrs)

    def test_hostile_mx_names(self):
        r = self.lookup("hostile.test")
        self.assertEqual(r.fail[:2], ("temp", "4.4.3"), r.out)
        self.assertNotIn("\n", r.fail[2])
        r = self.lookup("mixed.test")
        self.assertEqual(r.rc, 0, r.out)
        self.assertEqual(r.hosts, [(20, "good.mixed.test", ["127.0.4.1"])])

    def test_invalid_domain(self):
        for name in ("bad domain", "a..test", "-", "x" * 300, "\u00e9.test"):
            r = self.lookup(name)
            self.assertEqual(r.fail[:2], ("perm", "5.1.2"), (name, r.out))

    def test_special_names_stay_local(self):
        # RFC 6761 and 7686: answered by the library, never asked
        for name in ("mail.invalid", "x.onion"):
            r = self.lookup(name)
            self.assertEqual(r.fail[:2], ("perm", "5.1.2"), (name, r.out))
        r = self.lookup("localhost")
        self.assertEqual(r.hosts, [(0, "localhost", ["::1", "127.0.0.1"])])
        asked = {q[0] for q in self.dns.queries}
        self.assertFalse(asked & {"mail.invalid", "x.onion", "localhost"},
                         asked)

    def test_address_literal(self):
        r = self.lookup("[127.0.0.9]")
        self.assertEqual(r.hosts, [(0, "[127.0.0.9]", ["127.0.0.9"])])
        r = self.lookup("[IPv6:::1]")
        self.assertEqual(r.hosts, [(0, "[IPv6:::1]", ["::1"])])

    def test_ipv6_resolver(self):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                s.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback")
        dns6 = TestDNS(RECORDS)
        dns6.host = "::1"
        try:
            dns6.start()
        except OSError as e:
            self.skipTest("cannot serve DNS on ::1: %s" % e)
        try:
            r = self.lookup("multi.test", host="::1", port=dns6.port)
        finally:
            dns6.stop()
        self.assertEqual(r.rc, 0, r.out)
        self.assertEqual(len(r.hosts), 3)

    def test_resolver_never_answers(self):
        r = self.lookup("multi.test", timeout_ms=1500, port=self.mute_port)
        self.assertEqual(r.fail[:2], ("temp", "4.4.3"), r.out)
        self.assertIn("timed out", r.fail[2])
        # the loop ran its 10 ms timer all along: ~150 ticks
        self.assertGreater(r.ticks, 50, r.out)

    def test_mx_host_never_answers(self):
        r = self.lookup("slowmx.test", timeout_ms=1500)
        self.assertEqual(r.fail[:2], ("temp", "4.4.3"), r.out)
        self.assertGreater(r.ticks, 50, r.out)

    def test_partial_answer_used(self):
        r = self.lookup("partial.test", timeout_ms=1500)
        self.assertEqual(r.rc, 0, r.out)
        self.assertEqual(r.hosts, [(20, "ok.partial.test", ["127.0.3.1"])])

    def test_questions_stay_on_loopback(self):
        # every question of the lookups above came to our server
        self.lookup("multi.test")
        asked = {q[0] for q in self.dns.queries}
        self.assertIn("multi.test", asked)
        self.assertIn("mx1.multi.test", asked)


if __name__ == "__main__":
    unittest.main()
