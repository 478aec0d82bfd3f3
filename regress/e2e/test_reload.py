"""Reloads: SIGHUP and `boxctl reload` re-read boxd.conf and the TLS
certificate; a broken config or certificate is refused and the running
configuration stays."""

import os
import shutil
import signal
import smtplib
import ssl
import subprocess
import time
import unittest

from boxdtest import BOXD, Boxd, make_cert


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
