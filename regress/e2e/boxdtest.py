"""The end-to-end harness: a boxd of its own in a temporary directory, on
free loopback ports, run as the invoking user."""

import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BOXD = os.environ.get("BOXD", os.path.join(TOP, "boxd", "boxd"))
BOXCTL = os.environ.get("BOXCTL", os.path.join(TOP, "ctl", "boxctl"))
PYTHON = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gone(pid):
    """True if pid is no process (or a zombie nobody reaped: not ours)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


class memory_as_released:
    """Around start(): a boxd built with AddressSanitizer (make check
    SANITIZE=1) keeps freed memory in a quarantine, unwiped and counted in
    its RSS; tests that measure memory, or look for what was freed, start
    theirs without it.  Nothing changes for a plain build."""

    def __enter__(self):
        self.saved = os.environ.get("ASAN_OPTIONS")
        if os.environ.get("SANITIZE") == "1":
            os.environ["ASAN_OPTIONS"] = (self.saved or "") + \
                ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
        return self

    def __exit__(self, *exc):
        if self.saved is None:
            os.environ.pop("ASAN_OPTIONS", None)
        else:
            os.environ["ASAN_OPTIONS"] = self.saved
        return False


def make_cert(directory, name="localhost"):
    """A self-signed certificate and key, made for this test run."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=" + name], check=True,
                   capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


class Boxd:
    def __init__(self, tls=False, extra="", hostname="mx.test", imap=False):
        """imap: listeners of the imap role too (imap, imaps, pop3, pop3s,
        in self.imap_ports by kind; the implicit TLS ones bring tls)."""
        self.dir = tempfile.mkdtemp(prefix="boxd-test-")
        self.storage = os.path.join(self.dir, "storage")
        self.control = os.path.join(self.dir, "control.sock")
        self.conf = os.path.join(self.dir, "boxd.conf")
        self.smtp_port = free_port()
        self.submission_port = free_port()
        self.imap_ports = {}
        self.hostname = hostname
        self.cert = self.key = None
        lines = [
            'hostname "%s"' % hostname,
            'storage "%s"' % self.storage,
            'control socket "%s"' % self.control,
            "listen on 127.0.0.1 port %d smtp" % self.smtp_port,
            "listen on 127.0.0.1 port %d submission" % self.submission_port,
        ]
        if imap:
            tls = True
            for kind in ("imap", "imaps", "pop3", "pop3s"):
                self.imap_ports[kind] = free_port()
                lines.append("listen on 127.0.0.1 port %d %s" %
                             (self.imap_ports[kind], kind))
        if tls:
            self.cert, self.key = make_cert(self.dir)
            lines.append('tls cert "%s" key "%s"' % (self.cert, self.key))
        lines.append(extra)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None
        self.logf = None
        self.log = os.path.join(self.dir, "boxd.log")

    def start(self, args=(), wait=True, nofile=None):
        """Start (or start again, on the same storage); nofile sets
        RLIMIT_NOFILE (soft and hard) for boxd and its children."""
        if getattr(self, "logf", None) is not None:
            self.logf.close()
        self.logf = open(self.log, "ab")
        preexec = None
        if nofile is not None:
            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen([BOXD, "-d", "-f", self.conf] +
                                     list(args), stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True,
                                     preexec_fn=preexec)
        if wait:
            try:
                self.wait_ready()
            except Exception:
                self.kill9()
                raise
        return self

    def wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("boxd exited %d:\n%s" %
                                   (self.proc.returncode, self.logtext()))
            if self.boxctl("status", check=False).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("boxd not ready:\n" + self.logtext())

    def logtext(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def pids(self):
        """Every process of this boxd: the parent and its children."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid",
                              str(self.proc.pid)], capture_output=True,
                             text=True).stdout.split()
        return [self.proc.pid] + [int(p) for p in out]

    def stop(self, timeout=20):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
        return self.proc.returncode

    def kill9(self):
        """kill -9 of the whole process tree at once."""
        # each child is in a session of its own (no terminal), not in the
        # parent's process group: killed by pid, before the parent so that
        # none of them sees it go and exits on its own
        kids = self.pids()[1:] if self.proc.poll() is None else []
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        # the children hold the listeners until the last of them is gone
        # (a zombie holds nothing)
        deadline = time.time() + 10
        while time.time() < deadline:
            if all(gone(pid) for pid in kids):
                break
            time.sleep(0.02)

    def cleanup(self):
        self.stop()
        if self.logf is not None:
            self.logf.close()
            self.logf = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def boxctl(self, *args, input=None, check=True):
        p = subprocess.run([BOXCTL, "-s", self.control] + list(args),
                           input=input, capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError("boxctl %s failed: %s" %
                                 (" ".join(args), p.stderr))
        return p

    def add_user(self, addr, password="correct horse battery"):
        domain = addr.split("@", 1)[1]
        if domain not in self.boxctl("domain", "list").stdout.split():
            self.boxctl("domain", "add", domain)
        self.boxctl("user", "add", addr, "--password-stdin",
                    input=password + "\n")

    def maildir(self, addr):
        local, domain = addr.split("@", 1)
        return os.path.join(self.storage, "mail", domain.lower(),
                            local.lower())

    def messages(self, addr):
        new = os.path.join(self.maildir(addr), "new")
        if not os.path.isdir(new):
            return []
        return sorted(os.path.join(new, n) for n in os.listdir(new))

    def wait_messages(self, addr, n, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            msgs = self.messages(addr)
            if len(msgs) >= n:
                return msgs
            time.sleep(0.05)
        raise AssertionError("%s has %d messages, not %d" %
                             (addr, len(self.messages(addr)), n))


def raw_smtp(port, data, timeout=10):
    """Send raw bytes to the smtp port and return all that came back until
    the server closed (end data with QUIT) or went quiet."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        out += s.recv(4096)
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    finally:
        s.close()
    return out


class MXSink:
    """An SMTP server on loopback standing in for a remote MX (aiosmtpd):
    it keeps every message it accepts.  replies maps a recipient (lower
    case) to the reply its RCPT gets instead of 250, such as "450 4.2.0
    busy" or "550 5.1.1 no such user"; data_reply, if set, answers every
    DATA instead of 250.  tls=(cert, key) offers STARTTLS."""

    def __init__(self, replies=None, data_reply=None, tls=None):
        self.host = "127.0.0.1"
        self.port = free_port()
        self.replies = dict(replies or {})
        self.data_reply = data_reply
        self.tls = tls
        self.messages = []
        self.cond = threading.Condition()
        self.controller = None

    # aiosmtpd's handler hooks
    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        reply = self.replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply is not None:
            return self.data_reply
        with self.cond:
            self.messages.append({
                "peer": session.peer,
                "helo": session.host_name,
                "tls": session.ssl is not None,
                # "" for the null sender, as boxd writes it
                "mail_from": ("" if envelope.mail_from == "<>"
                              else envelope.mail_from),
                "mail_options": list(envelope.mail_options),
                "rcpt_tos": list(envelope.rcpt_tos),
                "content": envelope.original_content or envelope.content,
            })
            self.cond.notify_all()
        return "250 2.0.0 Ok: queued"

    def start(self):
        from aiosmtpd.controller import Controller
        kwargs = {"enable_SMTPUTF8": True}
        if self.tls is not None:
            import ssl
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*self.tls)
            kwargs["tls_context"] = ctx
        self.controller = Controller(self, hostname=self.host,
                                     port=self.port, **kwargs)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, count, timeout=20):
        """The messages, once at least count have come; AssertionError
        if they do not within timeout seconds."""
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.messages) >= count,
                                      timeout):
                raise AssertionError("the MX sink has %d messages, not %d"
                                     % (len(self.messages), count))
            return list(self.messages)


def free_udp_tcp_port():
    """A loopback port free for both UDP and TCP."""
    for _ in range(100):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both UDP and TCP")


class DNSServer:
    """An authoritative DNS server on loopback, UDP and TCP on one port
    (dnslib), answering from records: {name: {type: [value, ...]}}, with
    types MX (value (preference, exchange)), A, AAAA and TXT (a string,
    split into 255-octet pieces, or a list of pieces).  A name that is
    not there is NXDOMAIN; a name without the type asked is an empty
    answer (NODATA).  Every question is kept in queries, as (name,
    type, "udp" or "tcp")."""

    def __init__(self, records=None):
        self.host = "127.0.0.1"
        self.port = free_udp_tcp_port()
        self.records = {}
        self.queries = []
        self.lock = threading.Lock()
        self.servers = []
        for name, types in (records or {}).items():
            for rtype, values in types.items():
                for v in values:
                    self.add(name, rtype, v)

    @staticmethod
    def _key(name):
        return name.rstrip(".").lower()

    def add(self, name, rtype, value):
        with self.lock:
            self.records.setdefault(self._key(name), {}).setdefault(
                rtype.upper(), []).append(value)

    def remove(self, name, rtype=None):
        """Every record of name (of that type only, if given)."""
        with self.lock:
            if rtype is None:
                self.records.pop(self._key(name), None)
            else:
                self.records.get(self._key(name), {}).pop(rtype.upper(),
                                                          None)

    def _rdata(self, rtype, value):
        import dnslib
        if rtype == "MX":
            return dnslib.MX(value[1], value[0])
        if rtype == "A":
            return dnslib.A(value)
        if rtype == "AAAA":
            return dnslib.AAAA(value)
        if rtype == "TXT":
            if isinstance(value, str):
                raw = value.encode()
                value = [raw[i:i + 255] for i in range(0, len(raw), 255)]
            return dnslib.TXT(value)
        raise ValueError("record type %s" % rtype)

    def resolve(self, request, handler):
        import dnslib
        reply = request.reply()
        qname = str(request.q.qname)
        qtype = dnslib.QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((self._key(qname), qtype,
                                 handler.protocol))
            types = self.records.get(self._key(qname))
            values = list(types.get(qtype, ())) if types else []
        if types is None:
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
            return reply
        for v in values:
            reply.add_answer(dnslib.RR(qname, getattr(dnslib.QTYPE, qtype),
                                       rdata=self._rdata(qtype, v),
                                       ttl=60))
        return reply

    def start(self):
        from dnslib.server import BaseResolver, DNSLogger
        from dnslib.server import DNSServer as Server
        outer = self

        class Resolver(BaseResolver):
            def resolve(self, request, handler):
                return outer.resolve(request, handler)

        quiet = DNSLogger(log="-recv,-send,-request,-reply,-truncated,"
                          "-error,-data", prefix=False)
        for tcp in (False, True):
            srv = Server(Resolver(), port=self.port, address=self.host,
                         tcp=tcp, logger=quiet)
            srv.start_thread()
            self.servers.append(srv)
        return self

    def stop(self):
        for srv in self.servers:
            srv.stop()
            srv.server.server_close()
        self.servers = []
