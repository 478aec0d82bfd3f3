"""End-to-end tests of the queue and local delivery: what a 250 promises
survives kill -9 of the whole process tree, nothing is delivered twice,
a damaged or tampered spool neither stops boxd nor gets delivered, spool
files of earlier formats are delivered after an upgrade, a recipient
that can never be served fails alone, and receptions smtp never finishes
leave no spool file, fd or entry behind.

Run: /usr/bin/python3 -m unittest discover -s regress/e2e -p test_queue.py -v
"""

import collections
import json
import os
import random
import re
import signal
import smtplib
import struct
import threading
import time
import unittest
import zlib

from boxdtest import Boxd
import test_smtp as t

ALICE = t.ALICE
SENDER = t.SENDER


def setUpModule():
    t.ensure_role_users()


def message_ids(b, addr):
    """Counter of the Message-IDs in addr's Maildir (new/ and cur/)."""
    ids = collections.Counter()
    root = b.maildir(addr)
    for sub in ("new", "cur"):
        d = os.path.join(root, sub)
        for name in t.listdir(d):
            data = t.read(os.path.join(d, name))
            m = re.search(rb"(?mi)^Message-ID: <([^>]*)>", data)
            ids[m.group(1).decode() if m else "(none) " + name] += 1
    return ids


def load_message(mid):
    lines = [b"From: load <sender@client.test>",
             b"To: <alice@example.test>",
             b"Subject: load " + mid.encode(),
             b"Message-ID: <" + mid.encode() + b">",
             b""]
    for i in range(random.Random(mid).randrange(1, 60)):
        lines.append(b"%s line %d ." % (mid.encode(), i) + b"x" * (i * 7))
    return b"\r\n".join(lines) + b"\r\n"


def restart(b):
    """Start b again on the same storage (after stop or kill9)."""
    if getattr(b, "logf", None) is not None:
        b.logf.close()
    b.start()


def chown_like(path, like):
    st = os.stat(like)
    os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, 0o600)


# ---------------------------------------------------------------- spool files
# The layouts of queued/queued.h, written here from scratch: what boxd 0.1
# (version 1), the tree before per-recipient state (version 2) and today's
# (version 3) leave in queue/spool/.

TRAILER = {1: 24, 2: 28, 3: 36}
RCPT_PENDING, RCPT_DELIVERED, RCPT_FAILED = 0, 1, 2


def pstr(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack(">I", len(s)) + s


def envelope(sender, rcpts, helo="client.test", client="127.0.0.1",
             when=None):
    """envelope_marshal(): rcpts is [(address, "domain/user")]."""
    out = (pstr(sender) + pstr(helo) + pstr(client) + pstr("") +
           struct.pack(">QII", int(when or time.time()), 0, len(rcpts)))
    for addr, mailbox in rcpts:
        out += pstr(addr) + pstr(mailbox) + struct.pack(">I", 0) + pstr("")
    return out


def spool_file(version, msgid, env, body, prepend=b""):
    """A committed spool file of that version."""
    head = b"BOXQ" + struct.pack(">II", version, len(env)) + env
    hdr_crc = zlib.crc32(head)
    body_crc = zlib.crc32(body)
    if version == 1:
        trailer = struct.pack(">4sQQI", b"BOXT", msgid, len(body), body_crc)
    elif version == 2:
        trailer = struct.pack(">4sQQII", b"BOXT", msgid, len(body),
                              hdr_crc, body_crc)
    else:
        return (head + body + prepend +
                struct.pack(">4sQQIIII", b"BOXT", msgid, len(body),
                            len(prepend), hdr_crc, body_crc,
                            zlib.crc32(prepend)))
    return head + body + trailer


def new_msgid():
    """An id as the queue makes them: the time, then noise."""
    return int(time.time()) << 32 | random.getrandbits(32)


def read_state(path):
    """spool/ID.state: (message id, [(status, attempts, next, reply)])."""
    data = t.read(path)
    assert data[:4] == b"BOXS", data[:4]
    assert struct.unpack(">I", data[-4:])[0] == zlib.crc32(data[:-4]), \
        "state checksum"
    version, msgid, n = struct.unpack(">IQI", data[4:20])
    assert version == 1, version
    off, out = 20, []
    for _ in range(n):
        status, attempts, nxt, rlen = struct.unpack(">IIQI",
                                                    data[off:off + 20])
        off += 20
        out.append((status, attempts, nxt,
                    data[off:off + rlen].decode(errors="replace")))
        off += rlen
    assert off == len(data) - 4, "state length"
    return msgid, out


class QueueCase(unittest.TestCase):
    def assertOnlyReport(self, qid):
        """What is left in spool/ is the report of qid's failure to its
        remote sender, held until mta delivers it."""
        rows = [json.loads(line) for line in self.b.boxctl(
            "-j", "queue", "list").stdout.splitlines()]
        self.assertEqual([(r["sender"], r["recipient"]) for r in rows],
                         [("<>", SENDER)])
        self.assertIn("message %s: reported to <%s>" % (qid, SENDER),
                      self.b.logtext())
        self.assertEqual(len(t.listdir(t.spool_dir(self.b, "spool"))), 1)

    def setUp(self):
        self.b = Boxd()
        self.addCleanup(self.b.cleanup)
        self.b.start()
        self.b.add_user(ALICE)

    def assertAlive(self):
        self.assertIsNone(self.b.proc.poll(),
                          "boxd died:\n" + t.log_tail(self.b))

    def assertStable(self, seconds=1.0):
        before = sorted(self.b.pids())
        time.sleep(seconds)
        self.assertAlive()
        self.assertEqual(sorted(self.b.pids()), before,
                         "a process died:\n" + t.log_tail(self.b))

    def send_one(self, tok=None):
        tok = tok or t.token()
        final = t.raw_transaction(self.b.smtp_port, [ALICE],
                                  t.make_message(tok))
        m = t.QUEUED_RE.match(final.last)
        self.assertTrue(m, final)
        return tok, m.group(1)

    def assertDeliversNormally(self):
        tok, _ = self.send_one()
        t.wait_delivered(self.b, ALICE, tok)

    def wait_queue_empty(self, timeout=30):
        inc = t.spool_dir(self.b, "incoming")
        spo = t.spool_dir(self.b, "spool")
        ok = t.wait_until(lambda: not t.listdir(inc) and not t.listdir(spo),
                          timeout)
        self.assertTrue(ok, "queue not empty: incoming=%r spool=%r\n%s" % (
            t.listdir(inc), t.listdir(spo), t.log_tail(self.b)))

    def stopped_mda(self):
        """SIGSTOP the mda process; returns its pid."""
        pid = t.role_pids(self.b).get("mda")
        self.assertIsNotNone(pid, "no mda process found")
        os.kill(pid, signal.SIGSTOP)
        self.addCleanup(self.cont, pid)
        return pid

    @staticmethod
    def cont(pid):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def capture_spool_file(self):
        """A real committed spool file: (queue id, bytes); the message is
        then delivered normally."""
        pid = self.stopped_mda()
        tok, qid = self.send_one()
        path = os.path.join(t.spool_dir(self.b, "spool"), qid)
        self.assertTrue(os.path.exists(path),
                        "250 was sent but %s is not in the spool" % qid)
        data = t.read(path)
        self.cont(pid)
        t.wait_delivered(self.b, ALICE, tok)
        self.wait_queue_empty()
        return qid, tok, data


class Recovery(QueueCase):

    def test_committed_message_survives_kill9(self):
        """250 means on disk: with mda frozen, kill -9 everything; the
        restarted boxd delivers the message, once."""
        self.stopped_mda()
        tok, qid = self.send_one()
        spool = os.path.join(t.spool_dir(self.b, "spool"), qid)
        self.assertTrue(os.path.exists(spool), "committed file not in spool")
        self.b.kill9()
        self.assertEqual(t.delivered_with(self.b, ALICE, tok), [])
        restart(self.b)
        got = t.wait_delivered(self.b, ALICE, tok)
        self.assertEqual(len(got), 1)
        path, data = got[0]
        self.assertIn(qid, os.path.basename(path))
        self.assertEqual(t.split_delivered(data)[3],
                         t.normalize(t.make_message(tok)))
        self.wait_queue_empty()
        time.sleep(0.5)
        self.assertEqual(len(t.delivered_with(self.b, ALICE, tok)), 1)

    def test_no_second_delivery_when_spool_removal_was_lost(self):
        """A crash between the Maildir rename and the spool unlink: the
        message comes back from the spool at start, and must not be
        delivered a second time."""
        qid, tok, data = self.capture_spool_file()
        self.assertEqual(len(t.delivered_with(self.b, ALICE, tok)), 1)
        self.assertEqual(self.b.stop(), 0)
        spool = t.spool_dir(self.b, "spool")
        path = os.path.join(spool, qid)
        with open(path, "wb") as f:
            f.write(data)
        chown_like(path, spool)
        restart(self.b)
        self.wait_queue_empty()
        time.sleep(0.5)
        self.assertEqual(len(t.delivered_with(self.b, ALICE, tok)), 1,
                         "delivered twice")
        self.assertAlive()

    def test_kill9_during_data(self):
        """Receptions in progress when everything is killed: after the
        restart nothing of them is delivered, quarantined or left."""
        toks, clients = [], []
        for i, extra in enumerate((b"", b"x" * 100 + b"\r\n",
                                   (b"y" * 900 + b"\r\n") * 100)):
            tok = t.token()
            toks.append(tok)
            c = t.Client(self.b.smtp_port)
            clients.append(c)
            c.ehlo()
            c.cmd("MAIL FROM:<%s>" % SENDER)
            c.cmd("RCPT TO:<%s>" % ALICE)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(t.make_message(tok)[:20 * i] + extra)
        c = t.Client(self.b.smtp_port)      # and a BDAT one
        clients.append(c)
        c.ehlo()
        c.cmd("MAIL FROM:<%s>" % SENDER)
        c.cmd("RCPT TO:<%s>" % ALICE)
        tok = t.token()
        toks.append(tok)
        c.send(b"BDAT 100000 LAST\r\n" + t.make_message(tok) + b"z" * 70000)
        time.sleep(0.5)
        self.b.kill9()
        for c in clients:
            c.close()
        restart(self.b)
        self.assertDeliversNormally()
        self.wait_queue_empty()
        self.assertEqual(t.listdir(t.spool_dir(self.b, "corrupt")), [],
                         "interrupted receptions quarantined as corrupt:\n" +
                         t.log_tail(self.b))
        for tok in toks:
            self.assertEqual(t.delivered_with(self.b, ALICE, tok), [])

    def test_kill9_under_load(self):
        """Several clients send; kill -9 of the whole tree mid-run; every
        message that got 250 is in the Maildir after a restart, intact,
        once.  Three rounds on the same storage."""
        acked = set()
        for rnd in range(3):
            acked |= self.load_round(rnd, target=random.randrange(30, 90))
        self.assertGreater(len(acked), 60, "the load did not get going")
        restart(self.b)
        want = set(acked)

        def all_there():
            return want <= set(message_ids(self.b, ALICE))
        t.wait_until(all_there, 60, 0.2)
        ids = message_ids(self.b, ALICE)
        missing = sorted(want - set(ids))
        self.assertEqual(missing, [], "%d of %d acknowledged messages lost"
                         "\n%s" % (len(missing), len(want),
                                   t.log_tail(self.b)))
        self.wait_queue_empty()
        ids = message_ids(self.b, ALICE)
        dups = {k: v for k, v in ids.items() if v > 1}
        self.assertEqual(dups, {}, "delivered more than once")
        # every delivered copy is whole
        new = os.path.join(self.b.maildir(ALICE), "new")
        for name in t.listdir(new):
            data = t.read(os.path.join(new, name))
            mid = re.search(rb"(?mi)^Message-ID: <([^>]*)>", data)
            self.assertTrue(mid, name)
            rest = t.split_delivered(data)[3]
            self.assertEqual(rest, t.normalize(load_message(
                mid.group(1).decode())), "damaged copy " + name)
        self.assertEqual(t.listdir(t.spool_dir(self.b, "corrupt")), [],
                         "interrupted receptions quarantined as corrupt")
        self.assertAlive()

    def load_round(self, rnd, threads=6, target=60):
        """Start the load, kill -9 in the middle; returns the Message-IDs
        that got 250.  Leaves boxd dead."""
        if rnd > 0:
            restart(self.b)
        acked = set()
        lock = threading.Lock()
        stop = threading.Event()
        port = self.b.smtp_port

        def client(n):
            k = 0
            while not stop.is_set():
                try:
                    with smtplib.SMTP("127.0.0.1", port, timeout=10,
                                      local_hostname="client.test") as s:
                        for _ in range(random.randrange(1, 6)):
                            mid = "load-%d-%d-%d-%s@client.test" % (
                                rnd, n, k, t.token()[:8])
                            k += 1
                            s.sendmail(SENDER, [ALICE], load_message(mid))
                            with lock:
                                acked.add(mid)
                            if stop.is_set():
                                return
                except (OSError, smtplib.SMTPException):
                    if stop.is_set():
                        return
                    time.sleep(0.01)
        ths = [threading.Thread(target=client, args=(n,))
               for n in range(threads)]
        for th in ths:
            th.start()
        t.wait_until(lambda: len(acked) >= target, 30, 0.01)
        time.sleep(random.uniform(0, 0.3))
        self.b.kill9()
        stop.set()
        for th in ths:
            th.join(30)
        with lock:
            return set(acked)


class Startup(QueueCase):
    """What a crash leaves in the spool, met at start-up."""

    def place(self, variants):
        """Stop boxd, write each variant as a spool file of its own name
        where a crash would have left it, start again; returns
        {name: what}."""
        self.assertEqual(self.b.stop(), 0)
        spool = t.spool_dir(self.b, "spool")
        names = {}
        for what, (data, where) in variants.items():
            d = t.spool_dir(self.b, where)
            if not os.path.isdir(d):
                d = spool
            n = "%016x" % random.getrandbits(64)
            names[n] = what
            p = os.path.join(d, n)
            with open(p, "wb") as f:
                f.write(data)
            chown_like(p, d)
        restart(self.b)
        return names

    def everywhere(self):
        out = {}
        for sub in ("incoming", "spool", "corrupt"):
            for n in t.listdir(t.spool_dir(self.b, sub)):
                out[n] = sub
        return out

    def test_uncommitted_files_removed(self):
        """Files of receptions a crash interrupted are removed at start:
        not delivered, not quarantined, not left behind."""
        qid, tok, real = self.capture_spool_file()
        envlen = struct.unpack(">I", real[8:12])[0]
        body = 12 + envlen
        # "incoming" where the layout has such a directory, else spool/
        variants = {
            "empty": (b"", "incoming"),
            "a few bytes of header": (real[:5], "incoming"),
            "header and envelope, no body yet": (real[:body], "incoming"),
            "part of the body": (real[:body + 9], "incoming"),
            "some more of the body": (real[:body + 40], "incoming"),
        }
        names = self.place(variants)

        def cleaned():
            return not set(names) & set(self.everywhere())
        t.wait_until(cleaned, 10)
        left = {names[n]: where for n, where in self.everywhere().items()
                if n in names}
        self.assertEqual(left, {}, "uncommitted files not removed "
                         "(where they ended up):\n" + t.log_tail(self.b))
        self.assertStable()
        self.assertEqual(len(t.delivered_with(self.b, ALICE, tok)), 1)
        self.assertDeliversNormally()

    def test_corrupt_spool_files_quarantined(self):
        """Committed files whose header is damaged go to queue/corrupt/
        (kept for the admin, never deleted, never delivered); boxd runs
        on."""
        qid, tok, real = self.capture_spool_file()
        self.assertEqual(real[:4], b"BOXQ", "spool magic")
        envlen = struct.unpack(">I", real[8:12])[0]
        self.assertLess(12 + envlen, len(real))
        # every variant still ends in the trailer of a committed file
        variants = {
            "magic": b"XXXX" + real[4:],
            "version": real[:4] + struct.pack(">I", 99) + real[8:],
            "huge envelope length": (real[:8] + b"\xff\xff\xff\xff" +
                                     real[12:]),
            "envelope length 3 short": (real[:8] +
                                        struct.pack(">I", envlen - 3) +
                                        real[12:]),
            "envelope length 3 long": (real[:8] +
                                       struct.pack(">I", envlen + 3) +
                                       real[12:]),
            "envelope noise": (real[:12] + os.urandom(envlen) +
                               real[12 + envlen:]),
        }
        placed = {k: (v, "spool") for k, v in variants.items()}
        # bytes that are no spool file at all: quarantined or removed
        placed["garbage"] = (os.urandom(400), "spool")
        names = self.place(placed)
        garbage = [n for n in names if names[n] == "garbage"][0]
        del names[garbage]
        corrupt = t.spool_dir(self.b, "corrupt")

        def quarantined():
            return set(names) <= set(t.listdir(corrupt))
        t.wait_until(quarantined, 15)
        where = self.everywhere()
        wrong = {names[n]: where.get(n, "deleted") for n in names
                 if where.get(n) != "corrupt"}
        self.assertEqual(wrong, {}, "not moved to queue/corrupt/:\n" +
                         t.log_tail(self.b))
        for n in names:
            self.assertEqual(t.read(os.path.join(corrupt, n)),
                             variants[names[n]], "quarantined file altered")
        self.assertNotIn(garbage, t.listdir(t.spool_dir(self.b, "spool")))
        self.assertStable()
        self.assertDeliversNormally()
        self.assertEqual(len(t.delivered_with(self.b, ALICE, tok)), 1)

    def test_damaged_body_not_silently_dropped(self):
        """A committed message whose body got damaged on disk is either
        delivered or kept in queue/corrupt/; deleting it would break the
        promise of the 250."""
        qid, tok, real = self.capture_spool_file()
        envlen = struct.unpack(">I", real[8:12])[0]
        i = 12 + envlen + 5
        damaged = real[:i] + bytes([real[i] ^ 0x20]) + real[i + 1:]
        names = self.place({"flipped body bit": (damaged, "spool")})
        [n] = names
        corrupt = os.path.join(t.spool_dir(self.b, "corrupt"), n)
        ok = t.wait_until(lambda: os.path.exists(corrupt) or
                          len(t.delivered_with(self.b, ALICE, tok)) > 1, 10)
        self.assertTrue(ok, "the damaged message vanished:\n" +
                        t.log_tail(self.b))
        self.assertStable()


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def spool_fds(pid):
    """{fd: (path, open flags)} of pid's descriptors into queue/spool/."""
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            path = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                info = f.read()
        except OSError:
            continue
        if "/queue/spool/" not in path:
            continue
        m = re.search(r"(?m)^flags:\s*([0-7]+)", info)
        out[int(fd)] = (path, int(m.group(1), 8))
    return out


class Integrity(QueueCase):
    """What queue finds in a committed spool file is checked again on
    every load: a file changed after its commit is never delivered."""

    def committed(self):
        """A committed, undelivered message, then kill -9 of the whole
        tree: (queue id, token, path, bytes)."""
        self.stopped_mda()
        tok, qid = self.send_one()
        path = os.path.join(t.spool_dir(self.b, "spool"), qid)
        self.assertTrue(os.path.exists(path), "committed file not in spool")
        self.b.kill9()
        return qid, tok, path, t.read(path)

    def put_back(self, path, data):
        with open(path, "wb") as f:
            f.write(data)
        chown_like(path, os.path.dirname(path))

    def assertQuarantined(self, qid, tok, why):
        corrupt = os.path.join(t.spool_dir(self.b, "corrupt"), qid)
        ok = t.wait_until(lambda: os.path.exists(corrupt), 15)
        self.assertTrue(ok, "%s not moved to corrupt/:\n%s" %
                        (qid, t.log_tail(self.b)))
        self.assertRegex(self.b.logtext(), r"message %s moved to corrupt/: "
                         r".*%s" % (qid, why))
        self.assertStable()
        self.assertEqual(t.delivered_with(self.b, ALICE, tok), [],
                         "a tampered message was delivered")
        self.assertDeliversNormally()

    def test_tampered_envelope_quarantined(self):
        """A byte of the envelope flipped after the commit (the sender
        still a valid address): the envelope's CRC catches it."""
        qid, tok, path, data = self.committed()
        i = 12 + 4      # the first byte of the sender's address
        self.assertEqual(data[i:i + len(SENDER)], SENDER.encode())
        self.put_back(path, data[:i] + bytes([data[i] ^ 0x20]) +
                      data[i + 1:])
        restart(self.b)
        self.assertQuarantined(qid, tok, "envelope checksum mismatch")

    def test_hostile_envelope_with_good_checksums(self):
        """A mailbox name out of the mail root, with both CRCs made to
        match: that recipient fails for good, logged and kept in failed/
        with its state; mda never sees the name."""
        qid, tok, path, data = self.committed()
        mailbox = b"example.test/alice"
        i = data.find(mailbox)
        self.assertGreater(i, 12)
        envlen = struct.unpack(">I", data[8:12])[0]
        data = data[:i] + b"example.test/../.." + data[i + len(mailbox):]
        hdr_crc = zlib.crc32(data[:12 + envlen])
        data = data[:-12] + struct.pack(">I", hdr_crc) + data[-8:]
        self.put_back(path, data)
        restart(self.b)
        state = os.path.join(t.spool_dir(self.b, "failed"), qid + ".state")
        ok = t.wait_until(lambda: os.path.exists(state), 15)
        self.assertTrue(ok, "%s not moved to failed/:\n%s" %
                        (qid, t.log_tail(self.b)))
        self.assertRegex(self.b.logtext(), r"message %s: recipient 0 "
                         r"failed permanently at attempt 1: invalid mailbox "
                         r"name \"example.test/../..\"" % qid)
        msgid, rcpts = read_state(state)
        self.assertEqual(msgid, int(qid, 16))
        self.assertEqual([r[0] for r in rcpts], [RCPT_FAILED])
        self.assertIn("invalid mailbox name", rcpts[0][3])
        self.assertTrue(os.path.exists(os.path.join(
            t.spool_dir(self.b, "failed"), qid)))
        self.assertOnlyReport(qid)
        for sub in ("tmp", "new", "cur"):
            self.assertFalse(os.path.exists(os.path.join(self.b.storage,
                                                         sub)),
                             "a Maildir was made outside the mail root")
        self.assertStable()
        self.assertEqual(t.delivered_with(self.b, ALICE, tok), [])
        self.assertDeliversNormally()

    def as_version(self, data, version):
        """A committed file of today's format, as another version."""
        envlen = struct.unpack(">I", data[8:12])[0]
        magic, msgid, size, plen = struct.unpack(">4sQQI", data[-36:-12])
        self.assertEqual(magic, b"BOXT")
        self.assertEqual(plen, 0)
        self.assertEqual(len(data), 12 + envlen + size + 36)
        env = data[12:12 + envlen]
        body = data[12 + envlen:12 + envlen + size]
        self.assertEqual(spool_file(3, msgid, env, body), data,
                         "the queue does not write the documented layout")
        return spool_file(version, msgid, env, body)

    def test_version_1_file_delivered(self):
        """A spool file as boxd 0.1 wrote it (24-byte trailer, no CRC of
        the envelope) is recovered and delivered after an upgrade."""
        qid, tok, path, data = self.committed()
        self.put_back(path, self.as_version(data, 1))
        restart(self.b)
        got = t.wait_delivered(self.b, ALICE, tok)
        self.assertEqual(len(got), 1)
        self.wait_queue_empty()
        self.assertIn("version 1 spool file", self.b.logtext())
        self.assertEqual(t.listdir(t.spool_dir(self.b, "corrupt")), [])

    def test_version_2_file_delivered(self):
        """A spool file of the format before per-recipient state (28-byte
        trailer, no prepended headers) is delivered after an upgrade."""
        qid, tok, path, data = self.committed()
        self.put_back(path, self.as_version(data, 2))
        restart(self.b)
        got = t.wait_delivered(self.b, ALICE, tok)
        self.assertEqual(len(got), 1)
        self.wait_queue_empty()
        self.assertIn("a version 2 spool file, recovered", self.b.logtext())
        self.assertEqual(t.listdir(t.spool_dir(self.b, "corrupt")), [])


class Upgrade(QueueCase):
    """A spool directory left by an earlier release, files written here
    from the documented layouts: every message delivered, once."""

    def test_spool_of_earlier_releases_delivered(self):
        self.b.add_user(t.BOB)
        self.assertEqual(self.b.stop(), 0)
        spool = t.spool_dir(self.b, "spool")
        toks, placed = {}, []
        for version, rcpts in ((2, [ALICE]), (2, [ALICE, t.BOB]),
                               (1, [t.BOB]), (2, [t.BOB, ALICE])):
            tok = t.token()
            msgid = new_msgid()
            env = envelope(SENDER, [(a, "example.test/" + a.split("@")[0])
                                    for a in rcpts])
            body = t.normalize(t.make_message(tok))
            path = os.path.join(spool, "%016x" % msgid)
            with open(path, "wb") as f:
                f.write(spool_file(version, msgid, env, body))
            chown_like(path, spool)
            for a in rcpts:
                toks.setdefault(a, []).append(tok)
            placed.append(msgid)
        restart(self.b)
        self.wait_queue_empty()
        for addr, ts in toks.items():
            for tok in ts:
                got = t.wait_delivered(self.b, addr, tok)
                self.assertEqual(len(got), 1, "%s: %s" % (addr, tok))
        self.assertEqual(t.listdir(t.spool_dir(self.b, "corrupt")), [])
        self.assertEqual(t.listdir(t.spool_dir(self.b, "failed")), [])
        self.assertIn("a version 2 spool file, recovered", self.b.logtext())
        self.assertStable()
        self.assertDeliversNormally()


class PermanentFailure(QueueCase):
    """A recipient that can never be served fails alone: logged, kept in
    failed/ with the state of each recipient, the others delivered."""

    def test_bad_mailbox_fails_alone(self):
        self.b.add_user(t.BOB)
        self.assertEqual(self.b.stop(), 0)
        spool = t.spool_dir(self.b, "spool")
        tok = t.token()
        msgid = new_msgid()
        qid = "%016x" % msgid
        env = envelope(SENDER, [(ALICE, "example.test/alice"),
                                ("bad@example.test", "example.test/.bad"),
                                (t.BOB, "example.test/bob")])
        path = os.path.join(spool, qid)
        with open(path, "wb") as f:
            f.write(spool_file(3, msgid, env,
                               t.normalize(t.make_message(tok))))
        chown_like(path, spool)
        restart(self.b)
        for addr in (ALICE, t.BOB):
            self.assertEqual(len(t.wait_delivered(self.b, addr, tok)), 1)
        state = os.path.join(t.spool_dir(self.b, "failed"), qid + ".state")
        self.assertTrue(t.wait_until(lambda: os.path.exists(state), 15),
                        t.log_tail(self.b))
        self.assertTrue(os.path.exists(os.path.join(
            t.spool_dir(self.b, "failed"), qid)))
        self.assertRegex(self.b.logtext(), r"message %s: recipient 1 failed "
                         r"permanently at attempt 1: invalid mailbox name "
                         r"\"example.test/.bad\"" % qid)
        self.assertIn("message %s: 1 of 3 recipients failed" % qid,
                      self.b.logtext())
        _, rcpts = read_state(state)
        self.assertEqual([r[0] for r in rcpts],
                         [RCPT_DELIVERED, RCPT_FAILED, RCPT_DELIVERED])
        self.assertIn("invalid mailbox name", rcpts[1][3])
        self.assertOnlyReport(qid)
        self.assertEqual(t.listdir(t.spool_dir(self.b, "corrupt")), [])
        self.assertFalse(os.path.exists(os.path.join(
            self.b.storage, "mail", "example.test", ".bad")))
        self.assertStable()
        for addr in (ALICE, t.BOB):
            self.assertEqual(len(t.delivered_with(self.b, addr, tok)), 1)


class Leaks(QueueCase):
    """Receptions smtp gives up on, or never finishes, release their
    spool file, the queue's fd and its entry (short timeouts)."""

    def setUp(self):
        self.b = Boxd(extra="timeout command 2s data 2s")
        self.addCleanup(self.b.cleanup)
        self.b.start()
        self.b.add_user(ALICE)
        self.roles = t.role_pids(self.b)
        self.queue = self.roles["queue"]
        self.baseline = fd_count(self.queue)

    def open_data(self, tok):
        c = t.Client(self.b.smtp_port)
        self.addCleanup(c.close)
        c.ehlo()
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % SENDER).code, 250)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % ALICE).code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(t.make_message(tok)[:40])
        return c

    def assertReleased(self, timeout=30):
        spool = t.spool_dir(self.b, "spool")
        ok = t.wait_until(lambda: not t.listdir(spool) and
                          fd_count(self.queue) == self.baseline, timeout)
        self.assertTrue(ok, "left: spool=%r, queue fds %d (baseline %d)"
                        "\n%s" % (t.listdir(spool), fd_count(self.queue),
                                   self.baseline, t.log_tail(self.b)))

    def test_silent_and_vanished_clients_leave_nothing(self):
        """Clients that go silent in DATA, or disconnect in it: after
        the data timeout nothing of theirs is left in the spool or in
        the queue's fd table.  smtp's descriptor can only append; the
        queue's own is read-write."""
        silent = [self.open_data(t.token()) for _ in range(4)]
        gone = [self.open_data(t.token()) for _ in range(4)]
        spool = t.spool_dir(self.b, "spool")
        self.assertTrue(t.wait_until(lambda: len(t.listdir(spool)) == 8, 10),
                        "spool files: %r" % t.listdir(spool))
        # (until its imsg is out, queue holds smtp's descriptor too)
        t.wait_until(lambda: len(spool_fds(self.roles["smtp"])) == 8 and
                     len(spool_fds(self.queue)) == 8, 10)
        smtp_fds = spool_fds(self.roles["smtp"])
        queue_fds = spool_fds(self.queue)
        self.assertEqual(len(smtp_fds), 8, smtp_fds)
        for path, flags in smtp_fds.values():
            self.assertEqual(flags & 0o3, os.O_WRONLY, path)
            self.assertTrue(flags & os.O_APPEND, path)
        self.assertEqual(len(queue_fds), 8, queue_fds)
        for path, flags in queue_fds.values():
            self.assertEqual(flags & 0o3, os.O_RDWR, path)
            self.assertFalse(flags & os.O_APPEND, path)
        for c in gone:
            c.close()
        self.assertReleased()
        for c in silent:
            got = c.quiet(5)
            self.assertFalse(got.startswith(b"250"), got)
        self.assertEqual(t.listdir(t.spool_dir(self.b, "corrupt")), [])
        self.assertStable()
        self.assertDeliversNormally()
        self.assertReleased()

    def test_abandoned_reception_reaped(self):
        """smtp frozen in the middle of a DATA: past twice the sum of
        the timeouts the queue removes the reception on its own (spool
        file, fd, entry), and runs on when smtp comes back."""
        tok = t.token()
        c = self.open_data(tok)
        spool = t.spool_dir(self.b, "spool")
        self.assertTrue(t.wait_until(lambda: len(t.listdir(spool)) == 1,
                                     10))
        smtp = self.roles["smtp"]
        os.kill(smtp, signal.SIGSTOP)
        self.addCleanup(self.cont, smtp)
        self.assertReleased(timeout=40)
        self.assertIn("without a commit: removed", self.b.logtext())
        c.send(t.make_message(tok)[40:] + b".\r\n")
        os.kill(smtp, signal.SIGCONT)
        got = c.quiet(5)
        self.assertFalse(got.startswith(b"250"), got)
        self.assertStable()
        self.assertEqual(t.delivered_with(self.b, ALICE, tok), [])
        self.assertDeliversNormally()
        self.assertReleased()

    def test_commit_after_reaping_refused(self):
        """A client that trickles its message keeps the session alive
        past the queue's bound (as long as smtp lets it): the reception
        is removed, and the commit that follows gets a 4xx, not a 250
        and not a dead queue."""
        tok = t.token()
        c = self.open_data(tok)
        c.send(t.make_message(tok)[40:])
        spool = t.spool_dir(self.b, "spool")
        deadline = time.time() + 40
        try:
            # one line, a byte every half second, until the reception
            # is gone: reaped by the queue, or aborted by smtp's timeout
            while time.time() < deadline and t.listdir(spool):
                c.send(b"x")
                time.sleep(0.5)
            c.send(b"\r\n.\r\n")
        except OSError:
            pass            # smtp's own timeout closed the session
        reaped = "without a commit: removed" in self.b.logtext()
        got = c.quiet(5)
        self.assertFalse(got.startswith(b"250"), got)
        if reaped and got.startswith(b"451"):
            self.assertIn("commit after the reception was abandoned",
                          self.b.logtext())
        self.assertStable()
        self.assertReleased()
        self.assertEqual(t.delivered_with(self.b, ALICE, tok), [])
        self.assertDeliversNormally()

if __name__ == "__main__":
    unittest.main()
