"""Reloads: SIGHUP and `boxctl reload` re-read boxd.conf and the TLS
certificate; a broken config or certificate is refused and the running
configuration stays."""

import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import threading
import time
import unittest

from boxdtest import BOXD, Boxd, make_cert
from test_smtp import wait_until
from test_boxctl import Client, imsg, s as imsg_str


def served_cert(port):
    """The DER certificate boxd shows after STARTTLS."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
    s.starttls(context=ctx)
    der = s.sock.getpeercert(binary_form=True)
    s.quit()
    return der


def der_of(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class Reload(unittest.TestCase):
    def setUp(self):
        self.b = Boxd(tls=True).start()

    def tearDown(self):
        self.b.cleanup()

    def renew(self, cn):
        newdir = os.path.join(self.b.dir, cn)
        os.mkdir(newdir)
        cert, key = make_cert(newdir, cn)
        shutil.copy(cert, self.b.cert)
        shutil.copy(key, self.b.key)
        return der_of(self.b.cert)

    def wait_cert(self, der, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if served_cert(self.b.smtp_port) == der:
                return True
            time.sleep(0.1)
        return False

    def test_boxctl_reload_picks_up_a_renewed_certificate(self):
        old = served_cert(self.b.smtp_port)
        self.assertEqual(old, der_of(self.b.cert))
        new = self.renew("renewed.test")
        self.assertNotEqual(old, new)
        self.assertEqual(served_cert(self.b.smtp_port), old)
        p = self.b.boxctl("reload")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(self.wait_cert(new), self.b.logtext())

    def test_sighup_reloads(self):
        new = self.renew("hup.test")
        os.kill(self.b.proc.pid, signal.SIGHUP)
        self.assertTrue(self.wait_cert(new), self.b.logtext())
        self.assertIsNone(self.b.proc.poll())

    def test_missing_certificate_refused_and_old_one_kept(self):
        old = served_cert(self.b.smtp_port)
        os.rename(self.b.cert, self.b.cert + ".gone")
        p = self.b.boxctl("reload", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cert.pem", p.stderr)
        self.assertEqual(served_cert(self.b.smtp_port), old)
        self.assertIsNone(self.b.proc.poll())

    def test_broken_config_refused_with_file_and_line(self):
        with open(self.b.conf, "a") as f:
            f.write("bogus directive\n")
        p = self.b.boxctl("reload", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(self.b.conf + ":", p.stderr)
        self.assertIsNone(self.b.proc.poll())
        # the service goes on
        self.b.add_user("alice@example.test")
        s = smtplib.SMTP("127.0.0.1", self.b.smtp_port, timeout=10)
        s.sendmail("a@client.test", ["alice@example.test"],
                   "Subject: after a failed reload\r\n\r\nhi\r\n")
        s.quit()
        self.b.wait_messages("alice@example.test", 1)

    def test_failed_reload_changes_nothing(self):
        """A reload whose certificate is missing fails with a message and
        leaves the running configuration to every process, the parent
        too; the next good reload takes effect."""
        b = self.b
        b.add_user("alice@example.test")
        with open(b.conf) as f:
            good = f.read()
        with open(b.conf, "a") as f:
            f.write("log level debug\nmax-message-size 1K\n")
        os.rename(b.cert, b.cert + ".gone")
        p = b.boxctl("reload", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cert.pem: No such file", p.stderr)
        self.assertRegex(b.logtext(), r"reload failed: .*cert\.pem")
        os.rename(b.cert + ".gone", b.cert)
        # smtp: the old size limit, and no debug
        s = smtplib.SMTP("127.0.0.1", b.smtp_port, timeout=10)
        s.sendmail("a@client.test", ["alice@example.test"],
                   "Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 100)
        s.quit()
        b.wait_messages("alice@example.test", 1)
        self.assertNotIn(">>> noop", b.logtext().lower())
        # the parent: still at the old level, it does not say it reads
        # the file at the next reload
        with open(b.conf, "w") as f:
            f.write(good)
        self.assertEqual(b.boxctl("reload").returncode, 0)
        self.assertNotIn("reload: reading", b.logtext())
        # a good reload after it works, debug included
        with open(b.conf, "a") as f:
            f.write("log level debug\n")
        self.assertEqual(b.boxctl("reload").returncode, 0)
        s = smtplib.SMTP("127.0.0.1", b.smtp_port, timeout=10)
        s.noop()
        s.quit()
        deadline = time.time() + 10
        while time.time() < deadline and ">>> noop" not in \
                b.logtext().lower():
            time.sleep(0.1)
        self.assertIn(">>> noop", b.logtext().lower())
        self.assertEqual(b.boxctl("reload").returncode, 0)
        self.assertIn("reload: reading", b.logtext())

    def test_log_level_changes_on_reload(self):
        self.b.add_user("alice@example.test")
        with open(self.b.conf, "a") as f:
            f.write("log level debug\n")
        self.b.boxctl("reload")
        s = smtplib.SMTP("127.0.0.1", self.b.smtp_port, timeout=10)
        s.noop()
        s.quit()
        deadline = time.time() + 5
        while time.time() < deadline and ">>> noop" not in \
                self.b.logtext().lower():
            time.sleep(0.1)
        self.assertIn(">>> noop", self.b.logtext().lower())


class VerboseKeptOnReload(unittest.TestCase):
    """boxd -v logs at debug level for its whole life: a reload of a file
    that says `log level info` does not turn it down."""

    def setUp(self):
        self.b = Boxd(extra="log level info").start(args=["-v"])
        self.addCleanup(self.b.cleanup)

    def test_debug_after_reload(self):
        self.b.boxctl("reload")
        s = smtplib.SMTP("127.0.0.1", self.b.smtp_port, timeout=10)
        s.noop()
        s.quit()
        self.assertTrue(wait_until(
            lambda: ">>> noop" in self.b.logtext().lower(), 20),
            self.b.logtext()[-2000:])


class ReloadAnswers(unittest.TestCase):
    """boxctl reload answers once every process has taken that reload,
    whatever reloads come after it."""

    def setUp(self):
        self.b = Boxd().start()
        self.addCleanup(self.b.cleanup)

    def signer(self):
        out = self.b.boxctl("-j", "status").stdout
        return int(re.search(r'"role":"signer","pid":(\d+)', out).group(1))

    def test_reloads_in_a_loop(self):
        """Clients reloading at once, each in a loop: every one is
        answered."""
        def loop(results):
            for _ in range(10):
                results.append(self.b.boxctl("reload", check=False)
                               .returncode)
        results = []
        threads = [threading.Thread(target=loop, args=(results,))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(results, [0] * 40)

    def test_waiting_reloads_are_bounded(self):
        """With a child that takes nothing, reloads wait for it, up to 64;
        the next is refused, and once it goes on all is answered."""
        b = self.b
        signer = self.signer()
        os.kill(signer, signal.SIGSTOP)
        try:
            for i in range(64):
                c = Client(b.control)
                c.send(imsg("IMSG_CTL_RELOAD"))
                c.close()
            deadline = time.time() + 30
            while time.time() < deadline and \
                    b.logtext().count("configuration reloaded") < 64:
                time.sleep(0.05)
            self.assertEqual(b.logtext().count("configuration reloaded"),
                             64)
            c = Client(b.control)
            c.send(imsg("IMSG_CTL_RELOAD"))
            self.assertEqual(c.read_reply(), (
                "IMSG_CTL_FAIL",
                imsg_str("too many reloads in progress, try again")))
            c.close()
        finally:
            os.kill(signer, signal.SIGCONT)
        # the signer takes the 64 in its own time: then reloads go again
        deadline = time.time() + 30
        while True:
            p = b.boxctl("reload", check=False)
            if p.returncode == 0 or time.time() > deadline:
                break
            self.assertIn("too many reloads in progress", p.stderr)
            time.sleep(0.05)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(b.logtext().count("configuration reloaded"), 65)


class CheckCertificateBeforeStart(unittest.TestCase):
    def test_boxd_n_reports_a_missing_certificate(self):
        b = Boxd(tls=True)
        try:
            os.unlink(b.cert)
            p = subprocess.run([BOXD, "-n", "-f", b.conf],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 1)
            self.assertIn("cert.pem: No such file", p.stderr)
        finally:
            b.cleanup()


if __name__ == "__main__":
    unittest.main()
