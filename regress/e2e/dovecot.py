"""A private Dovecot (Debian's dovecot-imapd and dovecot-pop3d) on loopback,
for the client tests and bench/imap to prove themselves against a server
that is not boxd, and to measure boxd against.

Everything lives in one directory: the configuration, base_dir (sockets,
the login chroot), the log, a self-signed certificate, the passwd-file of
users and their Maildirs, laid out as boxd's mail store is
(DIR/mail/DOMAIN/USER/ is the Maildir, folders as .Name). Plain IMAP and
POP3 offer STARTTLS and STLS; imaps and pop3s are implicit TLS. Unlike
boxd, Dovecot takes a connection from its own address as secure and
allows LOGIN before STARTTLS on loopback (ssl = required does not change
that): whoever means to test STARTTLS must ask for it, as the client
helpers and bench/imap do.

Dovecot must run as root (its master spawns logins as dovenull and mail
processes as the mail user); the mail user is `nobody` unless told, and
the Maildirs belong to it.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DOVECOT = "/usr/sbin/dovecot"
KINDS = ("imap", "imaps", "pop3", "pop3s")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(directory, name="localhost"):
    """A self-signed certificate and key for this run: (cert, key)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=" + name], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def listening(port):
    """Is a TCP socket in LISTEN on port of this network namespace?"""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and \
                            int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def start_time(pid):
    """When pid started (clock ticks since boot), None if it is gone: a pid
    is only killed if it is still the process that was seen."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def version():
    r = subprocess.run([DOVECOT, "--version"], capture_output=True,
                       text=True)
    return r.stdout.strip() or "?"


class Dovecot:
    """Dovecot of its own: Dovecot(dir=None).start(), .add_user(), .stop().

    ports maps kind (imap, imaps, pop3, pop3s) to a port; missing ones are
    free loopback ports. connections is the most sessions it must hold at
    once (login and mail process limits, per user and IP as well)."""

    def __init__(self, directory=None, ports=None, mail_user="nobody",
                 connections=200, hostname="localhost", extra=""):
        if os.geteuid() != 0:
            raise RuntimeError("Dovecot needs root")
        self.own_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="dovecot-test-")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.ports = dict(ports or {})
        for kind in KINDS:
            self.ports.setdefault(kind, free_port())
        pw = pwd.getpwnam(mail_user)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.connections = connections
        self.hostname = hostname
        self.extra = extra
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log = os.path.join(self.dir, "dovecot.log")
        self.passwd = os.path.join(self.dir, "passwd")
        self.mail = os.path.join(self.dir, "mail")
        self.base = os.path.join(self.dir, "run")
        self.cert, self.key = make_cert(self.dir, hostname)
        self.proc = None
        self.users = {}
        for d in (self.mail, os.path.join(self.dir, "state")):
            os.makedirs(d, exist_ok=True)
        os.chown(self.mail, self.uid, self.gid)
        self.write_config()

    def write_config(self):
        n = self.connections + 20
        dh = "/usr/share/dovecot/dh.pem"
        dh = "ssl_dh = <%s\n" % dh if os.path.exists(dh) else ""
        with open(self.passwd, "a"):
            pass
        p = self.ports
        with open(self.conf, "w") as f:
            f.write(f"""\
# a private Dovecot for boxd's tests and bench/imap
base_dir = {self.base}
state_dir = {self.dir}/state
log_path = {self.log}
instance_name = dovecot-{os.path.basename(self.dir)}
protocols = imap pop3
listen = 127.0.0.1
hostname = {self.hostname}
ssl = required
ssl_cert = <{self.cert}
ssl_key = <{self.key}
{dh}disable_plaintext_auth = yes
auth_mechanisms = plain login
mail_location = maildir:{self.mail}/%d/%n
mail_uid = {self.uid}
mail_gid = {self.gid}
first_valid_uid = 1
namespace inbox {{
  inbox = yes
  separator = .
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = subscribe
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd}
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.mail}/%d/%n
}}
default_process_limit = {n}
default_client_limit = {4 * n}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {p["imap"]}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {p["imaps"]}
    ssl = yes
  }}
  process_limit = {n}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {p["pop3"]}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {p["pop3s"]}
    ssl = yes
  }}
  process_limit = {n}
}}
service imap {{
  process_limit = {n}
}}
service pop3 {{
  process_limit = {n}
}}
service anvil {{
  client_limit = {4 * n}
}}
service auth {{
  client_limit = {4 * n}
}}
protocol imap {{
  mail_max_userip_connections = {n}
}}
protocol pop3 {{
  mail_max_userip_connections = {n}
}}
{self.extra}
""")

    def add_user(self, addr, password="correct horse battery"):
        """A user with an empty Maildir (and the special-use folders at
        first login, as boxd makes them)."""
        if ":" in addr or ":" in password or "\n" in addr + password:
            raise ValueError("no : or newline in a passwd-file entry")
        self.users[addr] = password
        with open(self.passwd, "a") as f:
            f.write("%s:{PLAIN}%s\n" % (addr, password))
        md = self.maildir(addr)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        self.chown_tree(os.path.join(self.mail, addr.split("@", 1)[1]))
        return md

    def chown_tree(self, top):
        """Hand a tree under the mail store to the mail user (after a test
        or the bench wrote files into it as root)."""
        os.chown(top, self.uid, self.gid)
        for root, dirs, files in os.walk(top):
            for n in dirs + files:
                os.lchown(os.path.join(root, n), self.uid, self.gid)

    def maildir(self, addr):
        local, domain = addr.split("@", 1)
        return os.path.join(self.mail, domain.lower(), local.lower())

    def start(self, timeout=30, nofile=None):
        self.logf = open(os.path.join(self.dir, "stderr.log"), "ab")
        preexec = None
        if nofile is not None:
            def preexec():
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                     stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True,
                                     preexec_fn=preexec)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited %d:\n%s" %
                                   (self.proc.returncode, self.logtext()))
            if all(listening(port) for port in self.ports.values()):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("dovecot not listening:\n" + self.logtext())

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def pids(self):
        """The master and every process below it."""
        if self.proc is None:
            return []
        kids = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(name))
        out, todo = [], [self.proc.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo.extend(kids.get(p, []))
        return out

    def logtext(self):
        out = []
        for name in ("stderr.log", "dovecot.log"):
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    out.append(f.read()[-4000:].decode(errors="replace"))
            except OSError:
                pass
        return "\n".join(out)

    def stop(self, timeout=20):
        if self.proc is None:
            return
        pids = [(p, start_time(p)) for p in self.pids()]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        for pid, start in pids:         # what outlived the master
            if start is not None and start_time(pid) == start:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if self.proc.poll() is None:
            self.proc.wait()
        self.logf.close()
        self.proc = None

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
