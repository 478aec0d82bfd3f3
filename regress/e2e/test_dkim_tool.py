"""common/dkim.c through regress/common/dkim_tool, against other DKIM
implementations: messages of many shapes signed by boxd's code (rsa-sha256
and ed25519-sha256, relaxed/relaxed) verified by dkimpy and by OpenDKIM's
opendkim-testmsg; messages signed by dkimpy (every canonicalisation, both
algorithms, l=) verified by boxd's code; tampering noticed by both.

opendkim-testmsg reads keys from DNS through the system resolver: it runs
in a private mount and network namespace (unshare, root only) where
/etc/resolv.conf names a dnslib server on 127.0.0.1 that holds the keys.

Run: /usr/bin/python3 -m unittest discover -s regress/e2e \
    -p test_dkim_tool.py -v
"""

import base64
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

import dkim

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"
SANITIZE = os.environ.get("SANITIZE") == "1"
BUILD = os.environ.get("BUILD", "build-san" if SANITIZE else "build")
TOOL = os.path.join(TOP, BUILD, "regress", "common", "dkim_tool")
DOMAIN = "example.org"
# RFC 8463 A.2's key, which signed dkimpy's copy of its example message
RFC8463_P = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
RFC8463_MSG = os.path.join(os.path.dirname(dkim.__file__), "tests", "data",
                           "rfc6376.signed.msg")

HEAD = (b"From: Joe SixPack <joe@example.org>\r\n"
        b"To: Suzie Q <suzie@example.net>\r\n"
        b"Subject: Is dinner ready?\r\n"
        b"Date: Tue, 8 Dec 2026 00:00:00 +0000\r\n"
        b"Message-ID: <20261208000000.1@example.org>\r\n")

# name -> message; every one has a Date (opendkim-testmsg wants one)
SHAPES = {
    "plain": HEAD + b"\r\nHi.\r\n\r\nWe lost the game. Are you hungry?\r\n",
    "folded": (b"From: Joe\r\n  SixPack\t<joe@example.org>\r\n"
               b"To: a@example.net,\r\n\tb@example.net,\r\n"
               b"    c@example.net\r\n"
               b"Subject: a subject\r\n that is folded\r\n\t twice \r\n"
               b"Date: Tue, 8 Dec 2026\r\n 00:00:00 +0000\r\n"
               b"\r\nbody\r\n"),
    "8bit": (b"From: =?utf-8?q?J=C3=B6e?= <joe@example.org>\r\n"
             b"To: s\xc3\xbczie@example.net\r\n"
             b"Subject: \xc3\xa9t\xc3\xa9 \xe2\x82\xac\r\n"
             b"Date: Tue, 8 Dec 2026 00:00:00 +0000\r\n"
             b"MIME-Version: 1.0\r\n"
             b"Content-Type: text/plain; charset=iso-8859-1\r\n"
             b"Content-Transfer-Encoding: 8bit\r\n"
             b"\r\n\xe9t\xe9 \xff\x80\r\n\xc3\xa9\r\n"),
    "trailing": HEAD + b"\r\nbody  \t\r\n \r\n\r\n\t\r\n\r\n\r\n",
    "wsp": HEAD + b"\r\n  lead\t\t and   inner \t runs  \r\n\tx\r\n",
    "nobody": HEAD,
    "emptybody": HEAD + b"\r\n",
    "blankbody": HEAD + b"\r\n\r\n\r\n\r\n",
    # (WSP at the end of such a line: dkimpy keeps one SP, OpenDKIM all of
    # it, boxd none, as RFC 6376 3.4.4 says for the end of a line)
    "nofinalcrlf": HEAD + b"\r\nlast line without CRLF",
    "repeated": (b"Received: from a by b; Tue, 8 Dec 2026 00:00:00 +0000\r\n"
                 b"Received: from c by d; Tue, 8 Dec 2026 00:00:00 +0000\r\n"
                 + HEAD +
                 b"Cc: one@example.net\r\n"
                 b"Comments: first\r\n"
                 b"Cc: two@example.net\r\n"
                 b"Resent-From: r@example.org\r\n"
                 b"Resent-To: t1@example.net\r\n"
                 b"Resent-To: t2@example.net\r\n"
                 b"List-Id: <list.example.org>\r\n"
                 b"References: <a@x>\r\n <b@x>\r\n"
                 b"\r\nbody\r\n"),
    "resent": (b"Received: from a by b; Tue, 8 Dec 2026 00:00:00 +0000\r\n"
               b"Resent-Date: Tue, 8 Dec 2026 00:00:02 +0000\r\n"
               b"Resent-From: r2@example.org\r\n"
               b"Resent-To: t2@example.net\r\n"
               b"Received: from c by d; Tue, 8 Dec 2026 00:00:00 +0000\r\n"
               b"Resent-Date: Tue, 8 Dec 2026 00:00:01 +0000\r\n"
               b"Resent-From: r1@example.org\r\n"
               b"Resent-To: t1@example.net\r\n"
               + HEAD +
               b"Keywords: one\r\nComments: c\r\nKeywords: two\r\n"
               b"\r\nbody\r\n"),
    "mixedcase": (b"fROM: joe@example.org\r\nsubject: x\r\n"
                  b"DATE: Tue, 8 Dec 2026 00:00:00 +0000\r\n"
                  b"\r\nbody\r\n"),
    "mime": (HEAD + b"MIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=\"b\"\r\n"
             b"\r\n--b\r\nContent-Type: text/plain\r\n\r\npart\r\n"
             b"--b--\r\n"),
    # close to DKIM_SIGN_NAMES_MAX fields to sign, far more not to
    "many": (b"".join(b"Received: from h%d by mx; Tue, 8 Dec 2026\r\n" % i
                      for i in range(300)) +
             b"".join(b"Resent-To: t%d@example.net\r\n" % i
                      for i in range(110)) + HEAD + b"\r\nbody\r\n"),
    "large": HEAD + b"\r\n" + (b"x  y\t\tz " * 50 + b"\r\n") * 4000,
}


def run_tool(*args, stdin=b"", check=True):
    p = subprocess.run([TOOL] + list(args), input=stdin,
                       capture_output=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("dkim_tool %s: exit %d: %s" % (
            " ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p


def setUpModule():
    if not os.path.exists(TOOL):
        subprocess.run(["make", "-C", TOP, "--no-print-directory", "-s",
                        os.path.relpath(TOOL, TOP)] +
                       (["SANITIZE=1"] if SANITIZE else []), check=True)


def ed25519_seed(pem):
    """dkimpy wants an Ed25519 key as the base64 of its 32-octet seed,
    the end of the PKCS#8 DER."""
    body = b"".join(line for line in pem.splitlines()
                    if not line.startswith(b"-----"))
    return base64.b64encode(base64.b64decode(body)[-32:])


class DkimTool(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="boxd-dkim-")
        cls.keyfile = {}
        cls.pem = {}
        cls.p = {}
        for alg in ("rsa", "ed25519"):
            path = os.path.join(cls.dir, alg + ".key")
            run_tool("keygen", alg, path)
            cls.keyfile[alg] = path
            with open(path, "rb") as f:
                cls.pem[alg] = f.read()
            cls.p[alg] = run_tool("pubkey", path).stdout.decode().strip()
        cls.records = {
            "r1._domainkey.%s." % DOMAIN: "v=DKIM1; k=rsa; p=" + cls.p["rsa"],
            "e1._domainkey.%s." % DOMAIN:
                "v=DKIM1; k=ed25519; p=" + cls.p["ed25519"],
        }

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def dnsfunc(self, name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        rec = self.records.get(name)
        return rec.encode() if rec is not None else None

    def sign(self, msg, *which):
        args = []
        for alg in which:
            args += [self.keyfile[alg], DOMAIN,
                     "r1" if alg == "rsa" else "e1"]
        return run_tool("sign", *args, stdin=msg).stdout

    def dkimpy_ok(self, signed, idx=0):
        try:
            return dkim.DKIM(signed).verify(idx=idx, dnsfunc=self.dnsfunc)
        except dkim.ValidationError:
            return False

    def tool_verify(self, signed, alg, record=False):
        key = self.p[alg]
        if record:
            key = self.records["%s1._domainkey.%s." % (alg[0], DOMAIN)]
        p = run_tool("verify", key,
                     "rsa-sha256" if alg == "rsa" else "ed25519-sha256",
                     stdin=signed, check=False)
        return p.returncode == 0 and p.stdout == b"pass\n", p.stdout

    def test_keys(self):
        self.assertIn(b"-----BEGIN PRIVATE KEY-----", self.pem["rsa"])
        self.assertIn(b"-----BEGIN PRIVATE KEY-----", self.pem["ed25519"])
        self.assertEqual(os.stat(self.keyfile["rsa"]).st_mode & 0o777, 0o600)
        self.assertEqual(len(base64.b64decode(self.p["ed25519"])), 32)
        # SubjectPublicKeyInfo of rsaEncryption, 2048 bits
        der = base64.b64decode(self.p["rsa"])
        self.assertIn(bytes.fromhex("06092a864886f70d010101"), der[:20])
        self.assertEqual(len(der), 294)

    def openssl(self, *args):
        subprocess.run(["openssl"] + list(args), check=True,
                       capture_output=True, timeout=120)

    def test_other_key_files(self):
        """Keys made by openssl: a traditional RSA PEM and a 1024-bit key
        serve; an encrypted key, a 512-bit RSA key and an EC key are
        refused, the encrypted one without a passphrase prompt."""
        d = self.dir
        trad = os.path.join(d, "trad.key")
        self.openssl("pkey", "-in", self.keyfile["rsa"], "-traditional",
                     "-out", trad)
        with open(trad, "rb") as f:
            self.assertIn(b"BEGIN RSA PRIVATE KEY", f.read())
        self.assertEqual(run_tool("pubkey", trad).stdout.decode().strip(),
                         self.p["rsa"])
        signed = run_tool("sign", trad, DOMAIN, "r1",
                          stdin=SHAPES["plain"]).stdout
        self.assertTrue(self.dkimpy_ok(signed))
        # some publish RSA keys as a bare PKCS#1 RSAPublicKey
        pkcs1 = os.path.join(d, "pkcs1.der")
        self.openssl("rsa", "-in", self.keyfile["rsa"], "-RSAPublicKey_out",
                     "-outform", "DER", "-out", pkcs1)
        with open(pkcs1, "rb") as f:
            p1 = base64.b64encode(f.read()).decode()
        self.assertNotEqual(p1, self.p["rsa"])
        p = run_tool("verify", p1, "rsa-sha256", stdin=signed, check=False)
        self.assertEqual(p.stdout, b"pass\n")
        small = os.path.join(d, "1024.key")
        self.openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                     "rsa_keygen_bits:1024", "-out", small)
        self.assertEqual(run_tool("pubkey", small).returncode, 0)
        refused = {
            "512.key": ["genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:512"],
            "ec.key": ["genpkey", "-algorithm", "EC", "-pkeyopt",
                       "ec_paramgen_curve:P-256"],
            "x25519.key": ["genpkey", "-algorithm", "X25519"],
        }
        for name, args in refused.items():
            with self.subTest(key=name):
                path = os.path.join(d, name)
                self.openssl(*(args + ["-out", path]))
                p = run_tool("pubkey", path, check=False)
                self.assertEqual(p.returncode, 1)
                self.assertIn(b"dkim_tool:", p.stderr)
        enc = os.path.join(d, "enc.key")
        self.openssl("pkey", "-in", self.keyfile["ed25519"], "-aes256",
                     "-passout", "pass:secret", "-out", enc)
        p = subprocess.run([TOOL, "pubkey", enc], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=60,
                           start_new_session=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"not a PEM private key", p.stderr)

    def test_signed_by_boxd_verified_by_dkimpy(self):
        for name, msg in SHAPES.items():
            for alg in ("rsa", "ed25519"):
                with self.subTest(shape=name, alg=alg):
                    signed = self.sign(msg, alg)
                    self.assertTrue(signed.endswith(msg))
                    self.assertTrue(self.dkimpy_ok(signed), signed[:600])
                    ok, out = self.tool_verify(signed, alg)
                    self.assertTrue(ok, out)
                    ok, out = self.tool_verify(signed, alg, record=True)
                    self.assertTrue(ok, out)

    def test_random_bodies(self):
        """Bodies of random lines of WSP, text, 8-bit and blank lines: the
        bh= boxd writes is the hash of dkimpy's relaxed canonical body,
        and the folded random headers around them verify; dkimpy's
        signatures on the same messages verify with boxd's code."""
        from dkim.canonicalization import Relaxed
        rng = random.Random(6376)
        pieces = [b"a", b"Zz", b" ", b"  ", b"\t", b" \t ", b"\xc3\xa9", b".",
                  b"\xff", b"=", b"-- "]
        for i in range(150):
            lines = []
            for _ in range(rng.randrange(0, 12)):
                lines.append(b"".join(rng.choice(pieces)
                                      for _ in range(rng.randrange(0, 8))))
            body = b"".join(line + b"\r\n" for line in lines)
            subject = b"".join(rng.choice(pieces + [b"\r\n "])
                               for _ in range(rng.randrange(1, 10)))
            msg = (b"From: a@example.org\r\nSubject: x" +
                   subject.replace(b"\r\n \r\n ", b"\r\n ") +
                   b"\r\nTo:\t b@example.net \r\n\r\n" + body)
            with self.subTest(i=i):
                signed = self.sign(msg, "ed25519")
                bh = signed.split(b"bh=")[1].split(b";")[0]
                want = base64.b64encode(hashlib.sha256(
                    Relaxed.canonicalize_body(body)).digest())
                self.assertEqual(bh, want, body)
                self.assertTrue(self.dkimpy_ok(signed), msg)
                # and the other way: dkimpy signs, in any canonicalisation
                canon = (rng.choice((b"relaxed", b"simple")),
                         rng.choice((b"relaxed", b"simple")))
                alg = rng.choice(("rsa", "ed25519"))
                key = self.pem["rsa"] if alg == "rsa" else \
                    ed25519_seed(self.pem["ed25519"])
                sig = dkim.sign(msg, alg[0].encode() + b"1",
                                DOMAIN.encode(), key, canonicalize=canon,
                                signature_algorithm=b"rsa-sha256"
                                if alg == "rsa" else b"ed25519-sha256")
                ok, out = self.tool_verify(sig + msg, alg)
                self.assertTrue(ok, (out, canon, msg))

    def test_two_signatures(self):
        for name, msg in SHAPES.items():
            with self.subTest(shape=name):
                signed = self.sign(msg, "rsa", "ed25519")
                self.assertTrue(signed.startswith(
                    b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;"))
                self.assertTrue(self.dkimpy_ok(signed, 0))
                self.assertTrue(self.dkimpy_ok(signed, 1))

    def test_signature_field(self):
        signed = self.sign(SHAPES["repeated"], "rsa")
        field = signed.split(b"\r\nReceived:")[0] + b"\r\n"
        lines = field.split(b"\r\n")[:-1]
        for i, line in enumerate(lines):
            self.assertLessEqual(len(line), 78, line)
            if i > 0:
                self.assertTrue(line.startswith(b"\t"), line)
        tags = dict(t.strip().split(b"=", 1) for t in
                    b"".join(field[15:].split(b"\r\n")).split(b";")
                    if t.strip())
        self.assertEqual(tags[b"c"], b"relaxed/relaxed")
        self.assertEqual(tags[b"d"], DOMAIN.encode())
        h = tags[b"h"].replace(b"\t", b"").replace(b" ", b"").split(b":")
        # every instance, bottom-up, From once more than present
        self.assertEqual(h.count(b"from"), 2)
        self.assertEqual(h.count(b"cc"), 2)
        self.assertEqual(h.count(b"resent-to"), 2)
        self.assertNotIn(b"received", h)
        self.assertNotIn(b"comments", h)
        self.assertLess(h.index(b"list-id"), h.index(b"from"))

    def test_tampering(self):
        for alg in ("rsa", "ed25519"):
            signed = self.sign(SHAPES["plain"], alg)
            cases = {
                "body": signed.replace(b"hungry", b"Hungry"),
                "header": signed.replace(b"dinner", b"Dinner"),
                "added From": signed.replace(
                    b"From: Joe", b"From: evil@example.com\r\nFrom: Joe"),
                "added body line": signed + b"P.S.\r\n",
            }
            for name, bad in cases.items():
                with self.subTest(alg=alg, case=name):
                    self.assertFalse(self.dkimpy_ok(bad))
                    ok, out = self.tool_verify(bad, alg)
                    self.assertFalse(ok, out)
            # relaxed: a refold and more WSP in a signed field are fine
            moved = signed.replace(b"Subject: Is dinner ready?",
                                   b"Subject:   Is dinner\r\n\tready?  ")
            self.assertTrue(self.dkimpy_ok(moved))
            self.assertTrue(self.tool_verify(moved, alg)[0])
            # trailing blank lines are not signed
            self.assertTrue(self.tool_verify(signed + b"\r\n\r\n", alg)[0])

    def test_lf_input(self):
        msg = SHAPES["folded"].replace(b"\r\n", b"\n")
        signed = self.sign(msg, "ed25519")
        self.assertNotIn(b"\n", signed.replace(b"\r\n", b""))
        self.assertTrue(self.dkimpy_ok(signed))

    def test_signed_by_dkimpy_verified_by_boxd(self):
        canons = [(b"relaxed", b"relaxed"), (b"simple", b"simple"),
                  (b"relaxed", b"simple"), (b"simple", b"relaxed")]
        for name, msg in SHAPES.items():
            for alg in ("rsa", "ed25519"):
                for canon in canons:
                    for length in (False, True):
                        with self.subTest(shape=name, alg=alg,
                                          canon=canon, length=length):
                            self.dkimpy_signed(msg, alg, canon, length)

    def dkimpy_signed(self, msg, alg, canon, length):
        if alg == "rsa":
            key, a, sel = self.pem["rsa"], b"rsa-sha256", b"r1"
        else:
            key, a = ed25519_seed(self.pem["ed25519"]), b"ed25519-sha256"
            sel = b"e1"
        sig = dkim.sign(msg, sel, DOMAIN.encode(), key, canonicalize=canon,
                        signature_algorithm=a, length=length)
        signed = sig + msg
        self.assertTrue(self.dkimpy_ok(signed))
        ok, out = self.tool_verify(signed, alg)
        self.assertTrue(ok, out)
        body = msg.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in msg else b""
        if body.strip(b"\r\n") and body.endswith(b"\r\n"):
            # a changed body fails; with l=, text after l= octets does not
            bad = signed + b"appended\r\n"
            ok, out = self.tool_verify(bad, alg)
            self.assertEqual(ok, length, out)

    @unittest.skipUnless(os.path.exists(RFC8463_MSG), "no dkimpy test data")
    def test_rfc8463_example(self):
        with open(RFC8463_MSG, "rb") as f:
            msg = f.read()
        p = run_tool("verify", RFC8463_P, "ed25519-sha256", stdin=msg,
                     check=False)
        self.assertEqual(p.stdout, b"pass\n")
        p = run_tool("verify", RFC8463_P, "ed25519-sha256",
                     stdin=msg.replace(b"hungry", b"angry"), check=False)
        self.assertEqual(p.returncode, 1)

    def test_bad_input(self):
        for msg in (b"no colon here\r\n\r\nbody\r\n",
                    b"From: a@example.org\r\nSubject: \x00\r\n\r\n",
                    b"From: a@example.org\rSubject: x\r\n\r\n",
                    b" continuation\r\nFrom: a@example.org\r\n\r\n",
                    b"Subject: no from\r\n\r\nbody\r\n",
                    b"From: a@example.org\r\nSubject: " + b"x" * (1 << 20) +
                    b"\r\n\r\n"):
            with self.subTest(msg=msg[:40]):
                p = run_tool("sign", self.keyfile["rsa"], DOMAIN, "r1",
                             stdin=msg, check=False)
                self.assertEqual(p.returncode, 1)
                self.assertEqual(p.stdout, b"")
                self.assertIn(b"dkim_tool:", p.stderr)
        p = run_tool("verify", self.p["rsa"], "rsa-sha256",
                     stdin=SHAPES["plain"], check=False)
        self.assertEqual(p.stdout, b"fail: no DKIM-Signature\n")
        p = run_tool("verify", self.p["ed25519"], "rsa-sha256",
                     stdin=self.sign(SHAPES["plain"], "rsa"), check=False)
        self.assertEqual(p.returncode, 1)
        signed = self.sign(SHAPES["plain"], "rsa")
        for record, why in (("v=DKIM1; k=rsa; p=", b"key revoked"),
                            ("v=DKIM1; k=ed25519; p=" + self.p["ed25519"],
                             b"another algorithm"),
                            ("v=DKIM1; h=sha1; p=" + self.p["rsa"], b"h="),
                            ("v=DKIM1; s=tlsrpt; p=" + self.p["rsa"], b"s=")):
            with self.subTest(record=record[:30]):
                p = run_tool("verify", record, "rsa-sha256", stdin=signed,
                             check=False)
                self.assertEqual(p.returncode, 1)
                self.assertIn(why, p.stdout)

    def test_opendkim(self):
        tool = shutil.which("opendkim-testmsg") or \
            "/usr/sbin/opendkim-testmsg"
        if not os.path.exists(tool):
            self.skipTest("opendkim-testmsg is not installed")
        if os.geteuid() != 0 or shutil.which("unshare") is None or \
                subprocess.run(["unshare", "-mn", "true"]).returncode != 0:
            self.skipTest("needs root and unshare for a private resolver")
        records = ["%s=%s" % kv for kv in self.records.items()]
        for name, msg in SHAPES.items():
            if name == "repeated":
                continue  # OpenDKIM refuses two Cc, as RFC 5322 3.6 does
            for which in (("rsa",), ("ed25519",)):
                with self.subTest(shape=name, alg=which[0]):
                    signed = self.sign(msg, *which)
                    self.assertEqual(self.opendkim(tool, signed, records),
                                     (0, ""))
        bad = self.sign(SHAPES["plain"], "rsa").replace(b"hungry", b"full")
        rc, err = self.opendkim(tool, bad, records)
        self.assertNotEqual(rc, 0)
        self.assertIn("Bad signature", err)

    def opendkim(self, tool, signed, records):
        path = os.path.join(self.dir, "msg")
        with open(path, "wb") as f:
            f.write(signed)
        p = subprocess.run(["unshare", "-mn", PYTHON,
                            os.path.abspath(__file__), "--in-namespace",
                            self.dir, tool, path] + records,
                           capture_output=True, text=True, timeout=120)
        for line in p.stdout.splitlines():
            if line.startswith("opendkim-testmsg exit "):
                return int(line.split()[2]), p.stderr.strip()
        raise AssertionError("namespace runner: %s %s" % (p.stdout, p.stderr))


def in_namespace(workdir, tool, path, records):
    """Inside unshare -mn: loopback up, a resolv.conf naming a DNS
    server on it that answers the TXT records, opendkim-testmsg run."""
    from dnslib import QTYPE, RR, TXT
    from dnslib.server import BaseResolver, DNSServer

    txt = {}
    for r in records:
        name, value = r.split("=", 1)
        txt[name.lower()] = value.encode()

    class Resolver(BaseResolver):
        def resolve(self, request, handler):
            reply = request.reply()
            qname = str(request.q.qname).lower()
            if request.q.qtype == QTYPE.TXT and qname in txt:
                v = txt[qname]
                chunks = [v[i:i + 255] for i in range(0, len(v), 255)]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT,
                                    rdata=TXT(chunks), ttl=60))
            return reply

    class Quiet:
        def __getattr__(self, name):
            return lambda *args: None

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    conf = os.path.join(workdir, "resolv.conf")
    with open(conf, "w") as f:
        f.write("nameserver 127.0.0.1\n")
    subprocess.run(["mount", "--bind", conf, "/etc/resolv.conf"], check=True)
    server = DNSServer(Resolver(), port=53, address="127.0.0.1",
                       logger=Quiet())
    server.start_thread()
    with open(path, "rb") as f:
        p = subprocess.run([tool], stdin=f, capture_output=True, timeout=60)
    server.stop()
    sys.stderr.write(p.stderr.decode(errors="replace"))
    print("opendkim-testmsg exit %d" % p.returncode)


if __name__ == "__main__" and len(sys.argv) > 4 and \
        sys.argv[1] == "--in-namespace":
    in_namespace(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
elif __name__ == "__main__":
    unittest.main()
