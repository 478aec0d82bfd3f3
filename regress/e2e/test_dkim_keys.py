"""DKIM keys and boxctl dns: domain add makes an rsa-2048 and an ed25519
key (mode 0600, the signer's user), boxctl dns publishes exactly their
public keys, dkim rotate adds a pair, dkim retire removes one but never
the pair that signs, a damaged key file is logged and skipped, and the
records are those of the configuration."""

import base64
import json
import os
import pwd
import re
import stat
import subprocess
import time
import unittest

from boxdtest import Boxd, memory_as_released
import test_smtp as t
from test_boxctl import Client, imsg, s as imsg_str
from test_control import read_memory

DOMAIN = "example.test"


def openssl_pubkey_der(path):
    return subprocess.run(["openssl", "pkey", "-in", path, "-pubout",
                           "-outform", "DER"], check=True,
                          capture_output=True).stdout


def dns_p(path):
    """The p= that belongs to the key file, as openssl sees it."""
    der = openssl_pubkey_der(path)
    text = subprocess.run(["openssl", "pkey", "-in", path, "-noout",
                           "-text"], check=True, capture_output=True,
                          text=True).stdout
    if text.startswith("ED25519"):
        # RFC 8463: the raw key, the last 32 octets of the DER
        return base64.b64encode(der[-32:]).decode()
    return base64.b64encode(der).decode()


def txt_text(value):
    """The text of a TXT record's strings, each at most 255 octets."""
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', value)
    for s in strings:
        assert len(s.replace('\\"', '"').replace("\\\\", "\\")) <= 255, s
    return "".join(strings)


class DkimKeys(unittest.TestCase):
    def setUp(self):
        self.b = Boxd().start()
        self.keys = os.path.join(self.b.storage, "dkim")

    def tearDown(self):
        self.b.cleanup()

    def key_files(self, domain=DOMAIN):
        return sorted(n for n in os.listdir(self.keys)
                      if n.startswith(domain + ".") and n.endswith(".key"))

    def selectors(self, domain=DOMAIN):
        return [n[len(domain) + 1:-4] for n in self.key_files(domain)]

    def dns(self, domain=DOMAIN):
        """boxctl -j dns: the records, as rows"""
        p = self.b.boxctl("-j", "dns", domain)
        return [json.loads(line) for line in p.stdout.splitlines()]

    def signing(self, domain=DOMAIN):
        return sorted(r["selector"] for r in self.dns(domain)
                      if r.get("signs") is True)

    def dkim_records(self, domain=DOMAIN):
        out = {}
        for row in self.dns(domain):
            name = row.get("name", "")
            if name.endswith("._domainkey.%s." % domain):
                out[name.split(".")[0]] = txt_text(row["value"])
        return out

    def wait_log(self, pattern, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, self.b.logtext()):
                return
            time.sleep(0.05)
        self.fail("no %r in the log:\n%s" % (pattern, self.b.logtext()))

    def signer_pid(self):
        for row in self.b.boxctl("-j", "status").stdout.splitlines():
            r = json.loads(row)
            if r.get("role") == "signer":
                return r["pid"]
        self.fail("no signer in boxctl status")

    def test_domain_add_makes_a_pair(self):
        self.b.boxctl("domain", "add", DOMAIN)
        sels = self.selectors()
        self.assertEqual(len(sels), 2, sels)
        self.assertRegex(sels[0], r"^b\d{8}e$")
        self.assertEqual(sels[1], sels[0][:-1] + "r")
        owner = (pwd.getpwnam("_boxsign").pw_uid if os.geteuid() == 0
                 else os.getuid())
        for name in self.key_files():
            path = os.path.join(self.keys, name)
            st = os.lstat(path)
            self.assertTrue(stat.S_ISREG(st.st_mode))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, name)
            self.assertEqual(st.st_uid, owner, name)
            with open(path) as f:
                self.assertTrue(f.read().startswith(
                    "-----BEGIN PRIVATE KEY-----"), name)
            text = subprocess.run(["openssl", "pkey", "-in", path, "-noout",
                                   "-text"], check=True, capture_output=True,
                                  text=True).stdout
            if name.endswith("r.key"):
                self.assertIn("(2048 bit", text)
            else:
                self.assertTrue(text.startswith("ED25519"), text[:40])
        self.assertEqual(stat.S_IMODE(os.stat(self.keys).st_mode), 0o700)

    def test_dns_publishes_the_keys(self):
        self.b.boxctl("domain", "add", DOMAIN)
        recs = self.dkim_records()
        self.assertEqual(sorted(recs), self.selectors())
        self.assertEqual(self.signing(), self.selectors())
        for sel in self.selectors():
            path = os.path.join(self.keys, "%s.%s.key" % (DOMAIN, sel))
            k = "rsa" if sel.endswith("r") else "ed25519"
            self.assertEqual(recs[sel], "v=DKIM1; k=%s; p=%s" %
                             (k, dns_p(path)))
        # the text form: zone-file lines, the RSA key in two strings
        text = self.b.boxctl("dns", DOMAIN).stdout
        rsa = [l for l in text.splitlines()
               if re.match(r"b\d{8}r\._domainkey", l)]
        self.assertEqual(len(rsa), 1)
        self.assertRegex(rsa[0], r'IN TXT "v=DKIM1; k=rsa; p=[^"]+" "[^"]+"$')

    def test_dns_records(self):
        self.b.boxctl("domain", "add", DOMAIN)
        rows = self.dns()
        lines = [r["record"] for r in rows if "record" in r]
        d = DOMAIN + "."
        self.assertIn("%s 3600 IN MX 10 mx.test." % d, lines)
        self.assertIn('%s 3600 IN TXT "v=spf1 mx -all"' % d, lines)
        self.assertIn('_dmarc.%s 3600 IN TXT "v=DMARC1; p=quarantine; '
                      'rua=mailto:postmaster@%s"' % (d, DOMAIN), lines)
        self.assertIn('_smtp._tls.%s 3600 IN TXT "v=TLSRPTv1; '
                      'rua=mailto:postmaster@%s"' % (d, DOMAIN), lines)
        self.assertTrue(any(re.match(r'_mta-sts\.%s 3600 IN TXT '
                                     r'"v=STSv1; id=[0-9a-f]{8}"$' %
                                     re.escape(d), l) for l in lines), lines)
        self.assertIn("_submission._tcp.%s 3600 IN SRV 0 1 %d mx.test." %
                      (d, self.b.submission_port), lines)
        # no listener of the kind: RFC 2782's "not offered here"
        for svc in ("_submissions", "_imaps", "_imap", "_pop3s", "_pop3"):
            self.assertIn("%s._tcp.%s 3600 IN SRV 0 0 0 ." % (svc, d), lines)
        self.assertIn("autoconfig.%s 3600 IN CNAME mx.test." % d, lines)
        self.assertIn("autodiscover.%s 3600 IN CNAME mx.test." % d, lines)
        self.assertTrue(all(r["ttl"] == 3600 for r in rows if "ttl" in r))
        policy = [r for r in rows if "file" in r]
        self.assertEqual(len(policy), 1)
        self.assertEqual(policy[0]["file"], "https://mta-sts.%s/.well-known/"
                         "mta-sts.txt" % DOMAIN)
        self.assertIn("mx: mx.test\n", policy[0]["text"])
        text = self.b.boxctl("dns", DOMAIN).stdout
        self.assertIn(";   mode: testing\n", text)

    def test_dns_unknown_domain(self):
        p = self.b.boxctl("dns", "nowhere.test", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("unknown domain", p.stderr)
        self.assertEqual(p.stdout, "")
        p = self.b.boxctl("dkim", "rotate", "nowhere.test", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("unknown domain", p.stderr)
        self.assertEqual(os.listdir(self.keys), [])

    def test_rotate_and_retire(self):
        self.b.boxctl("domain", "add", DOMAIN)
        pid = self.signer_pid()
        first = self.selectors()
        self.b.boxctl("dkim", "rotate", DOMAIN)
        sels = self.selectors()
        self.assertEqual(len(sels), 4, sels)
        new = sorted(set(sels) - set(first))
        self.assertEqual(len(new), 2)
        self.assertEqual(new[1], new[0].replace("e", "r"))
        self.assertEqual(sorted(self.dkim_records()), sels)
        self.assertEqual(self.signing(), new)
        # the new pair signs: the old may go, the new may not
        p = self.b.boxctl("dkim", "retire", DOMAIN, new[0], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("signs for %s now" % DOMAIN, p.stderr)
        self.assertEqual(len(self.selectors()), 4)
        self.b.boxctl("dkim", "retire", DOMAIN, first[1])
        self.assertEqual(self.selectors(), new)
        self.assertEqual(sorted(self.dkim_records()), new)
        p = self.b.boxctl("dkim", "retire", DOMAIN, first[0], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no DKIM selector", p.stderr)
        # the keys came in after the sandbox: still the same signer
        self.assertEqual(self.signer_pid(), pid)

    def test_rotate_twice_a_day(self):
        self.b.boxctl("domain", "add", DOMAIN)
        self.b.boxctl("dkim", "rotate", DOMAIN)
        self.b.boxctl("dkim", "rotate", DOMAIN)
        sels = self.selectors()
        self.assertEqual(len(sels), 6, sels)
        day = sels[0][:9]
        self.assertEqual(sorted(sels), sorted(
            [day + "e", day + "r", day + "e02", day + "r02", day + "e03",
             day + "r03"]))

    def test_bad_key_file_logged(self):
        self.b.boxctl("domain", "add", DOMAIN)
        bad = os.path.join(self.keys, "%s.broken.key" % DOMAIN)
        with open(bad, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n"
                    "-----END PRIVATE KEY-----\n")
        os.chmod(bad, 0o600)
        pid = self.signer_pid()
        self.b.boxctl("reload")
        self.wait_log(r"DKIM key .*%s\.broken\.key not loaded" %
                      re.escape(DOMAIN))
        self.assertIsNone(self.b.proc.poll())
        self.assertEqual(self.signer_pid(), pid)
        recs = self.dkim_records()
        self.assertEqual(len(recs), 2)
        self.assertNotIn("broken", recs)
        # a link is not followed, and a restart logs the same
        os.unlink(bad)
        os.symlink("/etc/passwd", bad)
        self.b.stop()
        self.b.start()
        self.wait_log(r"DKIM key .*%s\.broken\.key not loaded: " %
                      re.escape(DOMAIN))
        self.assertEqual(len(self.dkim_records()), 2)

    def test_dns_without_keys(self):
        """A domain whose keys are gone (or never were: an older boxd)
        says so, and rotate gives it a pair."""
        self.b.boxctl("domain", "add", DOMAIN)
        for name in self.key_files():
            os.unlink(os.path.join(self.keys, name))
        self.b.boxctl("reload")
        text = self.b.boxctl("dns", DOMAIN).stdout
        self.assertNotIn("_domainkey", text)
        self.assertIn("; no DKIM key: boxctl dkim rotate %s makes a pair\n"
                      % DOMAIN, text)
        self.assertIn("IN MX 10 mx.test.", text)
        self.b.boxctl("dkim", "rotate", DOMAIN)
        self.assertEqual(len(self.dkim_records()), 2)
        self.assertNotIn("no DKIM key", self.b.boxctl("dns", DOMAIN).stdout)

    def test_domain_del_keeps_keys(self):
        self.b.boxctl("domain", "add", DOMAIN)
        before = self.selectors()
        self.b.boxctl("domain", "del", DOMAIN)
        self.assertEqual(self.selectors(), before)
        # added again, it has the same records
        self.b.boxctl("domain", "add", DOMAIN)
        self.assertEqual(self.selectors(), before)

    def test_bad_arguments(self):
        self.b.boxctl("domain", "add", DOMAIN)
        for args in (("dns",), ("dns", "a", "b"), ("dkim", "rotate"),
                     ("dkim", "retire", DOMAIN),
                     ("dkim", "retire", DOMAIN, "../x"),
                     ("dkim", "retire", DOMAIN, "a.b"),
                     ("dkim", "frob", DOMAIN), ("dns", "bad domain")):
            p = self.b.boxctl(*args, check=False)
            self.assertNotEqual(p.returncode, 0, args)
        self.assertEqual(len(self.selectors()), 2)
        self.assertIsNone(self.b.proc.poll())


    @unittest.skipUnless(os.getuid() == 0,
                         "needs root to read the processes' memory")
    def test_no_process_keeps_the_pem(self):
        """The parent reads the key files and sends them; its buffers and
        the channel's are wiped: the PEM text is in no process but
        signer, which holds the keys themselves (and may keep what
        OpenSSL's PEM reader freed), after start, a rotation and a
        reload."""
        self.b.boxctl("domain", "add", DOMAIN)
        self.b.boxctl("dkim", "rotate", DOMAIN)
        self.b.stop()
        with memory_as_released():
            self.b.start()
        self.b.boxctl("reload")
        lines = []
        for name in self.key_files():
            with open(os.path.join(self.keys, name)) as f:
                body = f.read().splitlines()
            lines.append(body[len(body) // 2].encode())
        pids = t.role_pids(self.b)
        del pids["signer"]
        pids["parent"] = self.b.proc.pid
        for role, pid in sorted(pids.items()):
            memory = read_memory(pid)
            # each holds its configuration: the search sees what is there
            self.assertIn(self.b.storage.encode(), memory, role)
            for line in lines:
                # not assertNotIn: its message would print the memory
                self.assertFalse(line in memory, "%s holds %s" %
                                 (role, line.decode()))

    def test_hostile_requests(self):
        """What boxctl would never send, from a raw client: refused with
        a FAIL, no file touched, boxd still up."""
        self.b.boxctl("domain", "add", DOMAIN)
        victim = os.path.join(self.b.dir, "victim.key")
        with open(victim, "w") as f:
            f.write("x")
        before = self.selectors()
        for req in (
                imsg("IMSG_CTL_DKIM_RETIRE", imsg_str(DOMAIN) +
                     imsg_str("../../victim")),
                imsg("IMSG_CTL_DKIM_RETIRE", imsg_str(DOMAIN) +
                     imsg_str(before[0] + "/..")),
                imsg("IMSG_CTL_DKIM_RETIRE", imsg_str("../" + DOMAIN) +
                     imsg_str(before[0])),
                imsg("IMSG_CTL_DKIM_RETIRE", imsg_str(DOMAIN) +
                     imsg_str("")),
                imsg("IMSG_CTL_DKIM_ROTATE", imsg_str("a" * 4000)),
                imsg("IMSG_CTL_DNS", imsg_str("")),
                imsg("IMSG_CTL_DNS", imsg_str("x" * 300 + ".test"))):
            c = Client(self.b.control)
            c.send(req)
            reply = c.read_reply()
            self.assertIsNotNone(reply)
            self.assertEqual(reply[0], "IMSG_CTL_FAIL", req)
            c.sock.close()
        # a request cut short, or with a NUL, is a malformed one: the
        # client is dropped
        for req in (imsg("IMSG_CTL_DKIM_RETIRE", imsg_str(DOMAIN)),
                    imsg("IMSG_CTL_DKIM_ROTATE",
                         imsg_str(b"exa\x00mple.test"))):
            c = Client(self.b.control)
            c.send(req)
            self.assertIsNone(c.read_reply())
            c.sock.close()
        self.assertTrue(os.path.exists(victim))
        self.assertEqual(self.selectors(), before)
        self.assertIsNone(self.b.proc.poll())
        self.assertEqual(sorted(self.dkim_records()), before)


if __name__ == "__main__":
    unittest.main()
