"""mta's SMTP client session (smtpd/mta_session.c), driven by
regress/smtpd/mta_send_tool against real servers on loopback: aiosmtpd
(with and without PIPELINING, 8BITMIME, SMTPUTF8, SIZE, with STARTTLS),
scripted servers that misbehave (a 4xx greeting, a close in the middle
of DATA, silence, a failing STARTTLS, a peer that stops reading), and
Postfix's smtp-sink where it is installed."""

import os
import resource
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from boxdtest import TOP, MXSink, free_port, make_cert

BUILD = os.environ.get("BUILD", "build")
TOOL = os.path.join(TOP, BUILD, "regress", "smtpd", "mta_send_tool")
SMTP_SINK = shutil.which("smtp-sink") or (
    "/usr/sbin/smtp-sink" if os.path.exists("/usr/sbin/smtp-sink") else None)

MESSAGE = (b"From: a@sender.test\nTo: x@dest.test\nSubject: dots\n\n"
           b"first line\n.leading dot\n..two dots\n.\n\nafter a lone dot\n"
           b"a line\twith a tab\n" + b"long " * 180 + b"\nlast line")


def run_tool(args, message=MESSAGE, timeout=60):
    """mta_send_tool's results: the rcpt lines as (addr, status, code,
    text), the tls and session lines, the exit code, the output"""
    p = subprocess.run([TOOL] + args, input=message, capture_output=True,
                       timeout=timeout)
    out = p.stdout.decode()
    rcpts, tls, sessions = [], [], []
    for line in out.splitlines():
        f = line.split(" ", 4)
        if f[0] == "rcpt":
            rcpts.append((f[1], f[2], int(f[3]), f[4] if len(f) > 4
                          else ""))
        elif f[0] == "tls":
            tls.append(line[4:])
        elif f[0] == "session":
            sessions.append(line)
    return rcpts, tls, sessions, p.returncode, out + p.stderr.decode()


def wire(message, prepend=b""):
    """what the server must have received for message: CRLF, unstuffed"""
    data = prepend + message
    if not data.endswith(b"\n"):
        data += b"\n"
    return data.replace(b"\n", b"\r\n")


def stuffed(message, prepend=b""):
    """what went over the wire for message before the final dot"""
    return b"".join(b"." + ln if ln.startswith(b".") else ln
                    for ln in wire(message, prepend).splitlines(True))


class Sink(MXSink):
    """MXSink with a say in its EHLO: PIPELINING added, 8BITMIME or
    SMTPUTF8 taken away, a SIZE limit"""

    def __init__(self, pipelining=False, eightbit=True, smtputf8=True,
                 size=None, host="127.0.0.1", port=None, auth=None,
                 auth_mechs=("LOGIN", "PLAIN"), **kw):
        super().__init__(**kw)
        self.auth = auth
        self.auth_mechs = auth_mechs
        self.auth_seen = []
        self.host = host
        if port is not None:
            self.port = port
        self.pipelining = pipelining
        self.eightbit = eightbit
        self.smtputf8 = smtputf8
        self.size = size

    def authenticate(self, server, session, envelope, mechanism, data):
        from aiosmtpd.smtp import AuthResult
        self.auth_seen.append(mechanism)
        ok = (data.login, data.password) == tuple(
            x.encode() for x in self.auth)
        return AuthResult(success=ok, handled=False)

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        out = [r for r in responses
               if (self.eightbit or r[4:] != "8BITMIME") and
               (self.smtputf8 or r[4:] != "SMTPUTF8")]
        if self.pipelining:
            out.insert(1, "250-PIPELINING")
        return out

    def start(self):
        from aiosmtpd.controller import Controller
        kwargs = {"enable_SMTPUTF8": self.smtputf8}
        if self.size is not None:
            kwargs["data_size_limit"] = self.size
        if self.auth is not None:
            kwargs["authenticator"] = self.authenticate
            kwargs["auth_required"] = True
            kwargs["auth_exclude_mechanism"] = [
                m for m in ("LOGIN", "PLAIN") if m not in self.auth_mechs]
        if self.tls is not None:
            import ssl
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*self.tls)
            kwargs["tls_context"] = ctx
        self.controller = Controller(self, hostname=self.host,
                                     port=self.port, **kwargs)
        self.controller.start()
        return self


class Scripted:
    """A small SMTP server on a thread, scripted to misbehave.  greeting:
    the first line, or None to say nothing at all; ext: its EHLO
    extensions; starttls: the reply to STARTTLS; data: the reply to DATA;
    after_354: "accept", "close" (after some of the body), "stall"
    (read nothing more) or "reject" (a reply in the middle of it); hold_mail: wait for a RCPT before answering
    MAIL.  Every command line it read is in lines, the bodies as they
    came (dot-stuffed) in bodies, the connections it took in sessions."""

    def __init__(self, greeting="220 scripted ESMTP", ext=(),
                 starttls="454 4.7.0 TLS not available", data="354 go",
                 after_354="accept", hold_mail=False, host="127.0.0.1",
                 port=None, close_after_dot=False, rset="250 ok"):
        self.close_after_dot = close_after_dot
        self.rset = rset
        self.greeting = greeting
        self.ext = list(ext)
        self.starttls = starttls
        self.data = data
        self.after_354 = after_354
        self.hold_mail = hold_mail
        self.lines = []
        self.sessions = 0
        self.bodies = []
        self.held = None
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port or 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(8)
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.conns = []

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_ev.set()
        self.sock.close()
        for c in self.conns:
            c.close()

    def serve(self):
        while not self.stop_ev.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.sessions += 1
            threading.Thread(target=self.session, args=(conn,),
                             daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rb")
        try:
            self.converse(conn, f)
        except OSError:
            pass

    def converse(self, conn, f):
        if self.greeting is None:
            self.stop_ev.wait(30)
            return
        conn.sendall(self.greeting.encode() + b"\r\n")
        if not self.greeting.startswith("220"):
            return
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode("latin-1")
            self.lines.append(cmd)
            verb = cmd.split(" ")[0].upper()
            if verb == "EHLO":
                ext = ["250-scripted"] + ["250-" + e for e in self.ext]
                ext[-1] = "250 " + ext[-1][4:]
                conn.sendall("\r\n".join(ext).encode() + b"\r\n")
            elif verb == "RSET":
                conn.sendall(self.rset.encode() + b"\r\n")
                if not self.rset.startswith("250"):
                    conn.shutdown(socket.SHUT_RDWR)
                    return
            elif verb == "STARTTLS":
                conn.sendall(self.starttls.encode() + b"\r\n")
            elif verb == "MAIL" and self.hold_mail:
                # the reply waits until a RCPT is in: pipelined or stuck
                nxt = f.readline()
                self.held = nxt.startswith(b"RCPT")
                self.lines.append(nxt.rstrip(b"\r\n").decode("latin-1"))
                conn.sendall(b"250 ok\r\n250 ok\r\n")
            elif verb == "DATA":
                conn.sendall(self.data.encode() + b"\r\n")
                if not self.data.startswith("354"):
                    continue
                if self.after_354 == "stall":
                    self.stop_ev.wait(60)
                    return
                if self.after_354 == "reject":
                    conn.sendall(b"554 5.6.0 no thanks\r\n")
                    self.stop_ev.wait(20)
                    return
                if self.after_354 == "close":
                    f.read(10)
                    conn.close()
                    return
                body = b""
                while True:
                    ln = f.readline()
                    if not ln or ln == b".\r\n":
                        break
                    body += ln
                self.bodies.append(body)
                conn.sendall(b"250 2.0.0 queued\r\n")
                if self.close_after_dot:
                    conn.shutdown(socket.SHUT_RDWR)
                    return
            elif verb == "QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")


class Raw(Scripted):
    """Sends greeting, then flood (if any) for ever after the first
    line it reads, else holds the connection"""

    def __init__(self, greeting, flood=None):
        super().__init__()
        self.raw = greeting
        self.flood = flood

    def converse(self, conn, f):
        conn.sendall(self.raw)
        f.readline()
        if self.flood is not None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                conn.sendall(self.flood * 100)
        self.stop_ev.wait(20)


class MtaSessionTest(unittest.TestCase):
    def setUp(self):
        self.servers = []
        self.tmp = tempfile.mkdtemp(prefix="mta_session.")

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def server(self, s):
        self.servers.append(s.start())
        return s

    def check_delivered(self, rcpts, addrs):
        self.assertEqual([r[0] for r in rcpts], addrs)
        for r in rcpts:
            self.assertEqual(r[1], "delivered", r)

    def test_plain(self):
        sink = self.server(Sink())
        prepend = os.path.join(self.tmp, "prepend")
        with open(prepend, "wb") as f:
            f.write(b"DKIM-Signature: v=1; a=ed25519-sha256;\n\tb=xyz\n")
        rcpts, tls, sessions, rc, out = run_tool(
            ["-P", prepend, "127.0.0.1", str(sink.port), "a@sender.test",
             "x@dest.test", "y@dest.test"])
        self.assertEqual(rc, 0, out)
        self.check_delivered(rcpts, ["x@dest.test", "y@dest.test"])
        self.assertEqual(tls, ["none"])
        m = sink.wait_for(1)[0]
        self.assertEqual(m["rcpt_tos"], ["x@dest.test", "y@dest.test"])
        self.assertEqual(m["mail_from"], "a@sender.test")
        self.assertEqual(m["helo"], "mta.boxd.test")
        self.assertEqual(m["content"],
                         wire(MESSAGE, b"DKIM-Signature: v=1; a=ed25519-"
                              b"sha256;\n\tb=xyz\n"))
        # SIZE offered: the size is declared
        self.assertTrue(any(o.startswith("SIZE=")
                            for o in m["mail_options"]), m)

    def test_null_sender_and_empty_body(self):
        sink = self.server(Sink())
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(sink.port), "", "x@dest.test"], message=b"")
        self.assertEqual(rc, 0, out)
        m = sink.wait_for(1)[0]
        self.assertEqual(m["mail_from"], "")
        self.assertEqual(m["content"], b"")

    def test_pipelining(self):
        sink = self.server(Sink(pipelining=True, replies={
            "temp@dest.test": "450 4.2.0 mailbox busy",
            "perm@dest.test": "550 5.1.1 no such user"}))
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(sink.port), "a@sender.test", "x@dest.test",
             "temp@dest.test", "perm@dest.test", "y@dest.test"])
        self.assertEqual(rc, 2, out)
        self.assertEqual([r[1] for r in rcpts],
                         ["delivered", "temp", "perm", "delivered"])
        self.assertEqual(rcpts[1][2:], (450, "450 4.2.0 mailbox busy"))
        self.assertEqual(rcpts[2][2:], (550, "550 5.1.1 no such user"))
        self.assertEqual(rcpts[0][3], "250 2.0.0 Ok: queued")
        m = sink.wait_for(1)[0]
        self.assertEqual(m["rcpt_tos"], ["x@dest.test", "y@dest.test"])
        self.assertEqual(m["content"], wire(MESSAGE))

    def test_pipelining_is_pipelined(self):
        on = self.server(Scripted(ext=["PIPELINING"], hold_mail=True))
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(on.port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rc, 0, out)
        self.assertTrue(on.held, on.lines)
        # without it, the RCPT waits for MAIL's reply (which waits 1 s)
        off = self.server(Scripted(hold_mail=True))
        rcpts, _, _, rc, out = run_tool(
            ["-T", "1000", "127.0.0.1", str(off.port), "a@sender.test",
             "x@dest.test"])
        self.assertEqual(rc, 2, out)
        self.assertEqual(rcpts[0][1], "temp")
        self.assertIn("timed out", rcpts[0][3])
        self.assertIn("MAIL FROM:<a@sender.test>", off.lines)
        self.assertFalse(any(ln.startswith("RCPT") for ln in off.lines),
                         off.lines)

    def test_no_pipelining_refusals(self):
        sink = self.server(Sink(replies={
            "temp@dest.test": "452 4.5.3 too many",
            "perm@dest.test": "553 5.1.3 bad"}))
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(sink.port), "a@sender.test",
             "perm@dest.test", "x@dest.test", "temp@dest.test"])
        self.assertEqual([r[1] for r in rcpts], ["perm", "delivered",
                                                 "temp"], out)
        self.assertEqual(sink.wait_for(1)[0]["rcpt_tos"], ["x@dest.test"])

    def test_every_rcpt_refused(self):
        sink = self.server(Sink(replies={"x@dest.test": "550 5.1.1 no"}))
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(sink.port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rcpts[0][1:3], ("perm", 550), out)
        time.sleep(0.2)
        self.assertEqual(sink.messages, [])

    def test_final_reply(self):
        for reply, status in (("554 5.6.0 content rejected", "perm"),
                              ("451 4.3.0 try later", "temp")):
            sink = self.server(Sink(data_reply=reply))
            rcpts, _, _, rc, out = run_tool(
                ["127.0.0.1", str(sink.port), "a@sender.test",
                 "x@dest.test", "y@dest.test"])
            self.assertEqual(rc, 2, out)
            for r in rcpts:
                self.assertEqual((r[1], r[3]), (status, reply))

    def test_5xx_at_data(self):
        s = self.server(Scripted(data="554 5.5.1 no valid recipients"))
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(s.port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rcpts[0][1:], ("perm", 554,
                                        "554 5.5.1 no valid recipients"),
                         out)
        self.assertEqual(s.bodies, [])

    def test_success_out_of_place(self):
        """a 250 to DATA, or a 354 to RCPT, delivers nothing"""
        s = self.server(Scripted(data="250 sure"))
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(s.port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rcpts[0][1:3], ("temp", 250), out)
        sink = self.server(Sink(replies={"x@dest.test": "354 what"}))
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(sink.port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rcpts[0][1:3], ("temp", 354), out)

    def test_greeting_4xx(self):
        s = self.server(Scripted(greeting="421 4.3.2 too busy"))
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(s.port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rcpts[0][1], "temp", out)
        self.assertIn("421 4.3.2 too busy", rcpts[0][3])

    def test_next_address(self):
        """the first address greets with 421, the next one takes it"""
        port = free_port()
        bad = self.server(Scripted(greeting="421 4.3.2 too busy",
                                   port=port))
        sink = self.server(Sink(host="127.0.0.2", port=port))
        rcpts, _, sessions, rc, out = run_tool(
            ["127.0.0.1,127.0.0.2", str(port), "a@sender.test",
             "x@dest.test"])
        self.assertEqual(rc, 0, out)
        self.assertEqual(bad.sessions, 1)
        self.assertIn("[127.0.0.2]:%d" % port, sessions[0])
        self.assertEqual(len(sink.wait_for(1)), 1)

    def test_connection_refused(self):
        port = free_port()
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1,::1", str(port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rc, 2, out)
        self.assertEqual(rcpts[0][1], "temp")
        self.assertIn("[::1]:%d" % port, rcpts[0][3])

    def test_close_mid_data(self):
        s = self.server(Scripted(after_354="close"))
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(s.port), "a@sender.test", "x@dest.test",
             "y@dest.test"])
        self.assertEqual(rc, 2, out)
        for r in rcpts:
            self.assertEqual(r[1], "temp", r)

    def test_silent_server(self):
        s = self.server(Scripted(greeting=None))
        t = time.monotonic()
        rcpts, _, _, rc, out = run_tool(
            ["-T", "500", "127.0.0.1", str(s.port), "a@sender.test",
             "x@dest.test"])
        self.assertLess(time.monotonic() - t, 10)
        self.assertEqual(rcpts[0][1], "temp", out)
        self.assertIn("timed out waiting for the greeting", rcpts[0][3])

    def test_peer_stops_reading(self):
        """a peer that takes no more of a big body: the session times out
        without holding the message in memory"""
        s = self.server(Scripted(after_354="stall"))
        path = os.path.join(self.tmp, "big")
        with open(path, "wb") as f:
            f.write((b"x" * 998 + b"\n") * 40000)
        with open(path, "rb") as msg:
            p = subprocess.Popen(
                [TOOL, "-T", "1500", "127.0.0.1", str(s.port),
                 "a@sender.test", "x@dest.test"], stdin=msg,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        hwm = 0
        while p.poll() is None:
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            hwm = max(hwm, int(line.split()[1]))
            except (FileNotFoundError, ProcessLookupError):
                break
            time.sleep(0.05)
        out = p.communicate(timeout=30)[0].decode()
        self.assertIn("rcpt x@dest.test temp 0 4.4.2 ", out)
        self.assertIn("timed out sending the message", out)
        # kilobytes; the message is 40 MB
        self.assertGreater(hwm, 0)
        self.assertLess(hwm, 30000)

    def test_8bit_to_7bit_peer(self):
        sink = self.server(Sink(eightbit=False))
        rcpts, _, _, rc, out = run_tool(
            ["-8", "127.0.0.1", str(sink.port), "a@sender.test",
             "x@dest.test"], message=b"Subject: caf\xc3\xa9\n\nbody\n")
        self.assertEqual(rcpts[0][1:3], ("perm", 0), out)
        self.assertTrue(rcpts[0][3].startswith("5.6.3 "), rcpts)
        time.sleep(0.2)
        self.assertEqual(sink.messages, [])
        # declared 8BITMIME but all 7-bit: it goes, without BODY=
        rcpts, _, _, rc, out = run_tool(
            ["-8", "127.0.0.1", str(sink.port), "a@sender.test",
             "x@dest.test"])
        self.assertEqual(rc, 0, out)
        self.assertFalse(any(o.startswith("BODY")
                             for o in sink.wait_for(1)[0]["mail_options"]))

    def test_8bit_to_8bit_peer(self):
        sink = self.server(Sink())
        body = b"Subject: caf\xc3\xa9\n\nna\xc3\xafve\n"
        rcpts, _, _, rc, out = run_tool(
            ["-8", "127.0.0.1", str(sink.port), "a@sender.test",
             "x@dest.test"], message=body)
        self.assertEqual(rc, 0, out)
        m = sink.wait_for(1)[0]
        self.assertIn("BODY=8BITMIME", m["mail_options"])
        self.assertEqual(m["content"], wire(body))

    def test_smtputf8(self):
        sink = self.server(Sink(smtputf8=False))
        rcpts, _, _, rc, out = run_tool(
            ["-u", "127.0.0.1", str(sink.port), "a@sender.test",
             "x@dest.test"])
        self.assertEqual(rcpts[0][1], "perm", out)
        self.assertTrue(rcpts[0][3].startswith("5.6.7 "), rcpts)
        sink2 = self.server(Sink())
        rcpts, _, _, rc, out = run_tool(
            ["-u", "127.0.0.1", str(sink2.port), "a@sender.test",
             "x@dest.test"])
        self.assertEqual(rc, 0, out)
        self.assertIn("SMTPUTF8", sink2.wait_for(1)[0]["mail_options"])

    def test_size_too_small(self):
        sink = self.server(Sink(size=200))
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(sink.port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rcpts[0][1], "perm", out)
        self.assertTrue(rcpts[0][3].startswith("5.3.4 "), rcpts)
        time.sleep(0.2)
        self.assertEqual(sink.messages, [])

    def test_size_exact(self):
        """SIZE counts the message as sent, CRLFs and all (RFC 1870)"""
        n = len(wire(MESSAGE))
        # aiosmtpd counts the stuffing dots and the final one too
        sink = self.server(Sink(size=n + 10))
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(sink.port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rc, 0, out)
        self.assertIn("SIZE=%d" % n, sink.wait_for(1)[0]["mail_options"])
        small = self.server(Sink(size=n - 1))
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(small.port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rcpts[0][1], "perm", out)
        self.assertIn("is %d octets" % n, rcpts[0][3])

    def test_dsn_parameters(self):
        s = self.server(Scripted(ext=["DSN", "SIZE 100000"]))
        rcpts, _, _, rc, out = run_tool(
            ["-N", "FAILURE,DELAY", "-O", "-R", "hdrs", "-E", "id+1=x",
             "127.0.0.1", str(s.port), "a@sender.test", "x+y@dest.test"])
        self.assertEqual(rc, 0, out)
        mail = [ln for ln in s.lines if ln.startswith("MAIL")][0]
        rcpt = [ln for ln in s.lines if ln.startswith("RCPT")][0]
        self.assertEqual(mail, "MAIL FROM:<a@sender.test> SIZE=%d "
                         "RET=HDRS ENVID=id+2B1+3Dx" % len(wire(MESSAGE)))
        self.assertEqual(rcpt, "RCPT TO:<x+y@dest.test> NOTIFY=FAILURE,"
                         "DELAY ORCPT=rfc822;x+2By@dest.test")
        self.assertEqual(s.bodies, [stuffed(MESSAGE)])

    def test_no_dsn_no_parameters(self):
        s = self.server(Scripted())
        rcpts, _, _, rc, out = run_tool(
            ["-N", "NEVER", "-O", "-R", "full", "-E", "id", "127.0.0.1",
             str(s.port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rc, 0, out)
        self.assertIn("MAIL FROM:<a@sender.test>", s.lines)
        self.assertIn("RCPT TO:<x@dest.test>", s.lines)

    def test_helo_fallback(self):
        class NoEhlo(Scripted):
            def converse(self, conn, f):
                conn.sendall(b"220 old\r\n")
                while True:
                    line = f.readline()
                    if not line:
                        return
                    self.lines.append(line.rstrip(b"\r\n").decode())
                    if line.startswith(b"EHLO"):
                        conn.sendall(b"502 5.5.2 what\r\n")
                    elif line.startswith(b"DATA"):
                        conn.sendall(b"354 go\r\n")
                        while f.readline() not in (b".\r\n", b""):
                            pass
                        conn.sendall(b"250 ok\r\n")
                    elif line.startswith(b"QUIT"):
                        conn.sendall(b"221 bye\r\n")
                        return
                    else:
                        conn.sendall(b"250 ok\r\n")
        s = self.server(NoEhlo())
        rcpts, _, sessions, rc, out = run_tool(
            ["127.0.0.1", str(s.port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rc, 0, out)
        self.assertIn("HELO mta.boxd.test", s.lines)
        self.assertIn("esmtp 0", sessions[0])

    def test_starttls(self):
        cert = make_cert(self.tmp)
        sink = self.server(Sink(tls=cert, pipelining=True))
        for sandbox in ([], ["-s"]):
            rcpts, tls, _, rc, out = run_tool(
                sandbox + ["-t", "127.0.0.1", str(sink.port),
                           "a@sender.test", "x@dest.test"])
            self.assertEqual(rc, 0, out)
            self.assertRegex(tls[0], r"^TLSv1\.[23] \S+ unverified ")
        msgs = sink.wait_for(2)
        self.assertTrue(all(m["tls"] for m in msgs))
        self.assertEqual(msgs[0]["content"], wire(MESSAGE))
        # without a client context, no STARTTLS
        rcpts, tls, _, rc, out = run_tool(
            ["127.0.0.1", str(sink.port), "a@sender.test", "x@dest.test"])
        self.assertEqual((rc, tls), (0, ["none"]), out)
        self.assertFalse(sink.wait_for(3)[2]["tls"])

    def test_starttls_refused_goes_clear(self):
        s = self.server(Scripted(ext=["STARTTLS"]))
        rcpts, tls, _, rc, out = run_tool(
            ["-t", "127.0.0.1", str(s.port), "a@sender.test",
             "x@dest.test"])
        self.assertEqual(rc, 0, out)
        self.assertEqual(tls, ["none"])
        self.assertEqual(s.sessions, 2)
        self.assertEqual(s.lines.count("STARTTLS"), 1)
        self.assertEqual(s.bodies, [stuffed(MESSAGE)])

    def test_handshake_fails_goes_clear(self):
        """220 to STARTTLS, then garbage instead of a handshake"""
        s = self.server(Scripted(ext=["STARTTLS"], starttls="220 go"))
        orig = s.converse

        def converse(conn, f):
            if s.sessions == 1:
                conn.sendall(b"220 scripted\r\n")
                f.readline()
                conn.sendall(b"250-x\r\n250 STARTTLS\r\n")
                f.readline()
                conn.sendall(b"220 go\r\nthis is not TLS at all\r\n" * 4)
                time.sleep(0.5)
                conn.close()
                return
            s.ext = []
            orig(conn, f)
        s.converse = converse
        rcpts, tls, _, rc, out = run_tool(
            ["-t", "-T", "5000", "127.0.0.1", str(s.port), "a@sender.test",
             "x@dest.test"])
        self.assertEqual(rc, 0, out)
        self.assertEqual(tls, ["none"])
        self.assertEqual(s.sessions, 2)

    def test_tls_required(self):
        """a peer without STARTTLS, or whose handshake fails, is no
        peer when TLS is required: nothing goes in the clear"""
        s = self.server(Scripted())
        rcpts, tls, _, rc, out = run_tool(
            ["-r", "encrypt", "127.0.0.1", str(s.port), "a@sender.test",
             "x@dest.test"])
        self.assertEqual(rcpts[0][1], "temp", out)
        self.assertIn("TLS is required", rcpts[0][3])
        self.assertFalse(any(ln.startswith("MAIL") for ln in s.lines))
        bad = self.server(Scripted(ext=["STARTTLS"], starttls="220 go"))
        rcpts, tls, _, rc, out = run_tool(
            ["-r", "encrypt", "-T", "3000", "127.0.0.1", str(bad.port),
             "a@sender.test", "x@dest.test"])
        self.assertEqual(rcpts[0][1], "temp", out)
        self.assertEqual(bad.sessions, 1)

    def test_tls_verify(self):
        cert = make_cert(self.tmp)
        sink = self.server(Sink(tls=cert))
        base = [str(sink.port), "a@sender.test", "x@dest.test"]
        rcpts, tls, _, rc, out = run_tool(
            ["-r", "verify", "-C", cert[0], "-H", "localhost",
             "127.0.0.1"] + base)
        self.assertEqual(rc, 0, out)
        self.assertRegex(tls[0], r" verified verified$")
        rcpts, tls, _, rc, out = run_tool(
            ["-r", "verify", "-C", cert[0], "-H", "other.test",
             "127.0.0.1"] + base)
        self.assertEqual(rcpts[0][1], "temp", out)
        self.assertIn("does not verify", rcpts[0][3])
        rcpts, tls, _, rc, out = run_tool(
            ["-r", "verify", "-H", "localhost", "127.0.0.1"] + base)
        self.assertEqual(rcpts[0][1], "temp", out)
        self.assertEqual(len(sink.wait_for(1)), 1)

    def test_auth(self):
        cert = make_cert(self.tmp)
        for mechs in (("LOGIN", "PLAIN"), ("LOGIN",)):
            sink = self.server(Sink(tls=cert, auth=("relay", "s3cret pw"),
                                    auth_mechs=mechs))
            rcpts, tls, _, rc, out = run_tool(
                ["-r", "encrypt", "-a", "relay:s3cret pw", "127.0.0.1",
                 str(sink.port), "a@sender.test", "x@dest.test"])
            self.assertEqual(rc, 0, out)
            self.assertEqual(sink.auth_seen, [mechs[-1]])
            self.assertEqual(sink.wait_for(1)[0]["content"], wire(MESSAGE))
        sink = self.server(Sink(tls=cert, auth=("relay", "right")))
        rcpts, tls, _, rc, out = run_tool(
            ["-r", "encrypt", "-a", "relay:wrong", "127.0.0.1",
             str(sink.port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rcpts[0][1], "temp", out)
        self.assertIn("AUTH: 535", rcpts[0][3])
        self.assertEqual(sink.messages, [])

    def test_auth_needs_tls(self):
        s = self.server(Scripted(ext=["AUTH PLAIN LOGIN"]))
        rcpts, tls, _, rc, out = run_tool(
            ["-t", "-a", "relay:pw", "127.0.0.1", str(s.port),
             "a@sender.test", "x@dest.test"])
        self.assertEqual(rcpts[0][1], "temp", out)
        self.assertIn("no AUTH without TLS", rcpts[0][3])
        self.assertFalse(any(ln.startswith("AUTH") for ln in s.lines))

    def test_two_messages_one_connection(self):
        sink = self.server(Sink(pipelining=True))
        rcpts, _, sessions, rc, out = run_tool(
            ["-n", "2", "127.0.0.1", str(sink.port), "a@sender.test",
             "x@dest.test"])
        self.assertEqual(rc, 0, out)
        self.assertEqual(len(rcpts), 2)
        self.assertTrue(sessions[1].endswith("messages 2"), sessions)
        msgs = sink.wait_for(2)
        self.assertEqual(msgs[0]["peer"], msgs[1]["peer"])
        self.assertEqual(msgs[1]["content"], wire(MESSAGE))

    def test_kept_connection_dies(self):
        """the connection kept for the next message is gone (closed, or
        a 421 to RSET): the next message gets a fresh one"""
        for kw in ({"close_after_dot": True},
                   {"rset": "421 4.4.2 idle too long"}):
            s = self.server(Scripted(**kw))
            rcpts, _, sessions, rc, out = run_tool(
                ["-n", "3", "127.0.0.1", str(s.port), "a@sender.test",
                 "x@dest.test"])
            self.assertEqual(rc, 0, out)
            self.assertEqual(len(s.bodies), 3)
            self.assertEqual(s.sessions, 3)

    def test_rset_between(self):
        s = self.server(Scripted())
        rcpts, _, _, rc, out = run_tool(
            ["-n", "2", "127.0.0.1", str(s.port), "a@sender.test",
             "x@dest.test"])
        self.assertEqual(rc, 0, out)
        self.assertEqual(s.sessions, 1)
        i = s.lines.index("RSET")
        self.assertTrue(s.lines[i - 1] == "RCPT TO:<x@dest.test>" or
                        s.lines[i + 1].startswith("MAIL"), s.lines)
        self.assertEqual(len(s.bodies), 2)

    def test_ipv6(self):
        sink = self.server(Sink(host="::1"))
        rcpts, _, sessions, rc, out = run_tool(
            ["::1", str(sink.port), "a@sender.test", "x@dest.test"])
        self.assertEqual(rc, 0, out)
        self.assertIn("[::1]:%d" % sink.port, sessions[0])
        self.assertEqual(sink.wait_for(1)[0]["content"], wire(MESSAGE))

    def test_hostile_replies(self):
        """replies that break the protocol or its bounds: the recipient
        fails for now, the tool neither crashes nor waits for ever"""
        cases = [
            (b"220-" + b"x" * 70 + b"\r\n") * 150 + b"220 done\r\n",
            b"220 " + b"y" * 5000 + b"\r\n",
            b"220 bare lf\n",
            b"22O bad code\r\n",
            b"999 nine\r\n",
            b"220 a\x00nul\r\n",
            b"220-one\r\n221 another code\r\n",
            b"220 ok\r\n250 unasked\r\n",
        ]
        for greeting in cases:
            raw = self.server(Raw(greeting))
            t = time.monotonic()
            rcpts, _, _, rc, out = run_tool(
                ["-T", "3000", "127.0.0.1", str(raw.port),
                 "a@sender.test", "x@dest.test"])
            self.assertEqual(rc, 2, (greeting[:40], out))
            self.assertEqual(rcpts[0][1], "temp", out)
            self.assertLess(time.monotonic() - t, 10)

    def test_hostile_endless_reply(self):
        """a multi-line EHLO reply that never ends"""
        raw = self.server(Raw(b"220 ok\r\n", flood=b"250-ext\r\n"))
        rcpts, _, _, rc, out = run_tool(
            ["-T", "3000", "127.0.0.1", str(raw.port), "a@sender.test",
             "x@dest.test"])
        self.assertEqual(rcpts[0][1], "temp", out)
        self.assertIn("bad reply", rcpts[0][3])

    def test_reply_during_body(self):
        """a reply before the body is all out: a protocol error, or, if
        the socket took all of the body already, the final reply"""
        s = self.server(Scripted(after_354="reject"))
        t = time.monotonic()
        rcpts, _, _, rc, out = run_tool(
            ["127.0.0.1", str(s.port), "a@sender.test", "x@dest.test"],
            message=(b"x" * 900 + b"\n") * 2000)
        self.assertTrue(rcpts[0][1] == "temp" or
                        rcpts[0][1:3] == ("perm", 554), out)
        # and a QUIT nobody answers is not waited on for long
        self.assertLess(time.monotonic() - t, 20)

    @unittest.skipIf(SMTP_SINK is None, "postfix's smtp-sink is not here")
    def test_smtp_sink(self):
        port = free_port()
        # as root it must be told whom to run as
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        sink = subprocess.Popen([SMTP_SINK] + user + [
                                 "-c", "127.0.0.1:%d" % port, "100"],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            t = time.monotonic()
            rcpts, _, sessions, rc, out = run_tool(
                ["-s", "-n", "100", "127.0.0.1", str(port),
                 "a@sender.test", "x@dest.test", "y@dest.test"])
            elapsed = time.monotonic() - t
            self.assertEqual(rc, 0, out[-2000:])
            self.assertEqual(len(rcpts), 200)
            self.assertTrue(sessions[-1].endswith("messages 100"))
            print("# smtp-sink: 100 messages on one connection in "
                  "%.2f s" % elapsed)
        finally:
            sink.terminate()
            sink.wait()


if __name__ == "__main__":
    unittest.main()
