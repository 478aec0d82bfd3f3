"""Real mail clients driven against an IMAP or POP3 server, for the
end-to-end tests: mbsync (isync), offlineimap3, mutt in batch, fetchmail
over POP3 and getmail6 over POP3S.

Each helper writes the client's configuration into a scratch directory of
the caller's, runs the client with a generous timeout (no fixed sleeps:
the client's exit is the signal) and returns a Result: its exit status,
its output and the local mail it left (a Maildir, or what mutt piped
out). A second call with the same scratch directory reuses the client's
state, as a person running the client again would.

The server is an Account: host, port, TLS mode ("starttls": STARTTLS or
STLS on the plain port, as boxd wants before LOGIN; "tls": implicit TLS),
user, password, and ca: a PEM certificate to trust, or None for "no
verification" (the helpers then pin whatever certificate the server
shows, which is what a person clicking "accept" does). The tests reach
the server by its loopback address, whatever name the certificate bears,
so each client is told to expect the certificate's own name (its CN) or
to skip the name check: mbsync (through a Tunnel to the address, with
Host set to that name), fetchmail (sslcommonname), getmail6
(ssl_cert_hostname), mutt (ssl_verify_host=no, the certificate in
certificate_file). offlineimap3 verifies nothing after STARTTLS (it calls
imaplib's starttls() without a context), so there ca is only used with
implicit TLS.

Each helper is proven against Dovecot by dovecot_clients.py (run by hand).
"""

import fcntl
import hashlib
import os
import pty
import re
import select
import shlex
import signal
import socket
import ssl
import struct
import subprocess
import termios
import time

TIMEOUT = 120   # seconds a client may take before it counts as hung
PYTHON = "/usr/bin/python3"


class Account:
    def __init__(self, host, port, user, password, tls="starttls", ca=None,
                 proto="imap"):
        if tls not in ("starttls", "tls"):
            raise ValueError("tls is starttls or tls")
        if proto not in ("imap", "pop3"):
            raise ValueError("proto is imap or pop3")
        self.host, self.port = host, port
        self.user, self.password = user, password
        self.tls, self.ca, self.proto = tls, ca, proto


class Result:
    """returncode, output (stdout and stderr, text), maildir (the local
    store the client wrote, or None), extra (helper-specific)."""

    def __init__(self, returncode, output, maildir=None, extra=None):
        self.returncode = returncode
        self.output = output
        self.maildir = maildir
        self.extra = extra

    @property
    def ok(self):
        return self.returncode == 0

    def __repr__(self):
        return "Result(%r, maildir=%r, output=%r)" % (
            self.returncode, self.maildir, self.output[-2000:])


# ------------------------------------------------------------ plumbing ----

def run(cmd, timeout=TIMEOUT, env=None, cwd=None, stdin=None):
    """Run a client; a hang is killed and reported as returncode -9."""
    e = dict(os.environ)
    e.update(env or {})
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, env=e,
                           cwd=cwd, input=stdin, start_new_session=True)
        return p.returncode, p.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired as t:
        out = (t.stdout or b"").decode(errors="replace")
        return -9, out + "\n[killed after %d s]" % timeout


def run_pty(cmd, timeout=TIMEOUT, env=None, cwd=None, rows=40, cols=132):
    """Run a full-screen client (mutt) on a pseudo-terminal of its own
    until it exits; its screen output is returned as text."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ,
                struct.pack("HHHH", rows, cols, 0, 0))
    e = dict(os.environ)
    e.update({"TERM": "vt100", "LINES": str(rows), "COLUMNS": str(cols)})
    e.update(env or {})
    p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                         env=e, cwd=cwd, start_new_session=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                return -9, out.decode(errors="replace") + \
                    "\n[killed after %d s]" % timeout
            r, _, _ = select.select([master], [], [], min(left, 1.0))
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:         # EIO: the slave side is closed
                    chunk = b""
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        try:
            rc = p.wait(max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            rc = p.wait()
        return rc, out.decode(errors="replace")
    finally:
        os.close(master)


def write(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def peer_cert(acct, timeout=30):
    """The certificate the server shows, PEM, after STARTTLS or STLS on
    the plain port or at once with implicit TLS."""
    s = socket.create_connection((acct.host, acct.port), timeout=timeout)
    try:
        if acct.tls == "starttls":
            f = s.makefile("rb")
            f.readline()                        # greeting
            if acct.proto == "imap":
                s.sendall(b"c1 STARTTLS\r\n")
                while True:
                    line = f.readline()
                    if not line or line.startswith(b"c1 "):
                        break
                ok = line.startswith(b"c1 OK")
            else:
                s.sendall(b"STLS\r\n")
                ok = f.readline().startswith(b"+OK")
            if not ok:
                raise ConnectionError("no STARTTLS/STLS: %r" % line)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(s, server_hostname=acct.host) as t:
            der = t.getpeercert(binary_form=True)
        return ssl.DER_cert_to_PEM_cert(der)
    finally:
        s.close()


def trusted_cert(acct, scratch):
    """A PEM file the clients trust: acct.ca, or the server's own
    certificate fetched now (no verification)."""
    if acct.ca:
        return acct.ca
    path = os.path.join(scratch, "server-cert.pem")
    if not os.path.exists(path):
        write(path, peer_cert(acct), 0o644)
    return path


def cert_name(pem_path):
    """The certificate's subject CN (what fetchmail compares)."""
    r = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt",
                        "multiline", "-in", pem_path], capture_output=True,
                       text=True, check=True)
    m = re.search(r"commonName\s*=\s*(.+)", r.stdout)
    return m.group(1).strip() if m else ""


def cert_fingerprint(pem_path, algo="sha256"):
    with open(pem_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.new(algo, der).hexdigest()


# ------------------------------------------------------ local Maildirs ----

FLAG_RE = re.compile(r":2,([A-Za-z]*)$")


def maildir_flags(name):
    m = FLAG_RE.search(name)
    return m.group(1) if m else ""


def read_maildir(md):
    """[(path, flags, bytes)] of the messages of one Maildir (new and cur),
    sorted by content."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(md, sub)
        if not os.path.isdir(d):
            continue
        for n in os.listdir(d):
            if n.startswith("."):
                continue
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out.append((p, maildir_flags(n), f.read()))
    return sorted(out, key=lambda m: m[2])


def maildir_folders(root, sep="."):
    """{folder name: Maildir path} of a Maildir++ tree: root is INBOX,
    .Name subdirectories the others (Dovecot's and mbsync's layout)."""
    out = {}
    if os.path.isdir(os.path.join(root, "cur")):
        out["INBOX"] = root
    for n in os.listdir(root) if os.path.isdir(root) else []:
        p = os.path.join(root, n)
        if n.startswith(sep) and n not in (".", "..") and \
                os.path.isdir(os.path.join(p, "cur")):
            out[n[len(sep):]] = p
    return out


def subject(msg):
    m = re.search(rb"^Subject:[ \t]*(.*?)\r?$", msg, re.M | re.I)
    return m.group(1).decode(errors="replace") if m else None


def maildir_add(md, msg, flags=""):
    """A new message in Maildir md (cur/ with flags, new/ without)."""
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    base = "%d.P%dQ%d.%s" % (time.time(), os.getpid(),
                             int.from_bytes(os.urandom(4), "big"),
                             socket.gethostname())
    tmp = os.path.join(md, "tmp", base)
    with open(tmp, "wb") as f:
        f.write(msg)
        f.flush()
        os.fsync(f.fileno())
    dest = os.path.join(md, "cur", base + ":2," + flags) if flags else \
        os.path.join(md, "new", base)
    os.rename(tmp, dest)
    return dest


def maildir_set_flags(path, flags):
    """Rename a message file to carry exactly flags (sorted, as Maildir
    wants); returns its new path (in cur/)."""
    md = os.path.dirname(os.path.dirname(path))
    base = os.path.basename(path).split(":2,", 1)[0]
    dest = os.path.join(md, "cur", base + ":2," + "".join(sorted(flags)))
    os.rename(path, dest)
    return dest


def maildir_find(md, pattern):
    """The message paths of Maildir md whose Subject contains pattern."""
    return [p for p, _, m in read_maildir(md)
            if pattern in (subject(m) or "")]


# -------------------------------------------------------------- mbsync ----

# mbsync checks the certificate's name against Host even for a certificate
# it is told to trust, and knows no IP address names; through a Tunnel it
# checks the certificate alone, so it reaches the server through this
RELAY = """\
import os, selectors, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
s.settimeout(None)
sel = selectors.DefaultSelector()
sel.register(0, selectors.EVENT_READ)
sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        if key.fileobj == 0:
            data = os.read(0, 65536)
            if not data:
                sel.unregister(0)
                s.shutdown(socket.SHUT_WR)
                continue
            s.sendall(data)
        else:
            data = s.recv(65536)
            if not data:
                sys.exit(0)
            os.write(1, data)
"""

def mbsync_sync(acct, scratch, expunge=True, timeout=TIMEOUT, args=("-a",)):
    """Two-way sync of every folder between the server and a local
    Maildir++ tree (scratch/mbsync: INBOX at its root, folders as .Name),
    creating folders and propagating flags, new messages and deletions both
    ways (expunging both sides when expunge). Call again after local
    changes (maildir_add, maildir_set_flags, a file removed, or flag T set
    for an expunge) to push them."""
    local = os.path.join(scratch, "mbsync")
    os.makedirs(local, exist_ok=True)
    state = os.path.join(scratch, "mbsync-state")
    os.makedirs(state, exist_ok=True)
    cert = trusted_cert(acct, scratch)
    ssltype = "STARTTLS" if acct.tls == "starttls" else "IMAPS"
    relay = write(os.path.join(scratch, "mbsync-relay.py"), RELAY)
    rc = write(os.path.join(scratch, "mbsyncrc"), f"""\
IMAPAccount server
Tunnel "{PYTHON} {relay} {acct.host} {acct.port}"
Host {cert_name(cert)}
User "{acct.user}"
Pass "{acct.password}"
SSLType {ssltype}
SystemCertificates no
CertificateFile {cert}
AuthMechs PLAIN LOGIN
Timeout 60

IMAPStore remote
Account server

MaildirStore local
Inbox {local}
SubFolders Maildir++
Flatten .

Channel boxd
Far :remote:
Near :local:
Patterns *
Create Both
Remove None
Expunge {"Both" if expunge else "None"}
Sync All
SyncState {state}/
""")
    code, out = run(["mbsync", "-c", rc, "-V"] + list(args),
                    timeout=timeout)
    return Result(code, out, local)


# --------------------------------------------------------- offlineimap ----

def offlineimap_sync(acct, scratch, timeout=TIMEOUT, folders=None):
    """One offlineimap3 sync into scratch/offlineimap (a Maildir per
    folder: INBOX/, Sent/, ... each with cur new tmp); folders limits it
    to those names."""
    local = os.path.join(scratch, "offlineimap")
    meta = os.path.join(scratch, "offlineimap-meta")
    os.makedirs(local, exist_ok=True)
    os.makedirs(meta, exist_ok=True)
    if acct.tls == "starttls":
        tls = "ssl = no\nstarttls = yes\n"
    elif acct.ca:
        tls = "ssl = yes\nsslcacertfile = %s\n" % acct.ca
    else:
        tls = "ssl = yes\ncert_fingerprint = %s\n" % \
            cert_fingerprint(trusted_cert(acct, scratch))
    ff = ""
    if folders is not None:
        ff = "folderfilter = lambda f: f in %r\n" % (list(folders),)
    rc = write(os.path.join(scratch, "offlineimaprc"), f"""\
[general]
accounts = test
metadata = {meta}
maxsyncaccounts = 1
ui = basic

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {local}
sep = .

[Repository remote]
type = IMAP
remotehost = {acct.host}
remoteport = {acct.port}
remoteuser = {acct.user}
remotepass = {acct.password}
{tls}auth_mechanisms = PLAIN, LOGIN
maxconnections = 1
holdconnectionopen = no
{ff}""")
    code, out = run(["offlineimap", "-c", rc, "-o", "-u", "basic"],
                    timeout=timeout)
    # offlineimap3 reports some failures (a folder it could not sync) in
    # its output and still exits 0
    if code == 0 and re.search(r"^ERROR:", out, re.M):
        code = 1
    return Result(code, out, local)


# ---------------------------------------------------------------- mutt ----

def _mutt(acct, scratch, folder, keys, timeout):
    d = os.path.join(scratch, "mutt")
    os.makedirs(d, exist_ok=True)
    cert = trusted_cert(acct, scratch)
    scheme = "imap" if acct.tls == "starttls" else "imaps"
    q = lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    rc = write(os.path.join(d, "muttrc"), f"""\
set folder={q("%s://%s:%d/" % (scheme, acct.host, acct.port))}
set spoolfile="+INBOX"
set imap_user={q(acct.user)}
set imap_pass={q(acct.password)}
set imap_authenticators="plain:login"
set ssl_starttls=yes
set ssl_force_tls=yes
set certificate_file={q(cert)}
set ssl_verify_host=no
set header_cache=""
set message_cachedir=""
set tmpdir={q(d)}
set mbox={q(os.path.join(d, "mbox"))}
set record=""
set postponed=""
set move=no
set delete=yes
set quit=yes
set confirmappend=no
set confirmcreate=no
set wait_key=no
set pipe_split=yes
set pipe_decode=no
set sleep_time=0
set timeout=30
set imap_keepalive=30
set mail_check=5
set sort=date-received
set beep=no
set mark_old=no
set imap_check_subscribed=no
push {q(keys)}
""")
    code, screen = run_pty(["mutt", "-n", "-F", rc, "-f", "=" + folder],
                           timeout=timeout, cwd=d,
                           env={"HOME": d, "MAILCAPS": "/dev/null"})
    return code, screen


def _mutt_pipe(acct, scratch, folder, pattern, command, timeout):
    out = os.path.join(scratch, "mutt", "piped")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if os.path.exists(out):
        os.unlink(out)
    keys = ("<tag-pattern>%s<enter><tag-prefix><pipe-message>%s >> %s"
            "<enter><quit>" % (pattern, command, shlex.quote(out)))
    code, screen = _mutt(acct, scratch, folder, keys, timeout)
    data = b""
    if os.path.exists(out):
        with open(out, "rb") as f:
            data = f.read()
    return code, screen, data


SUBJECT = """\
import email, sys
m = email.message_from_binary_file(sys.stdin.buffer)
print(" ".join(str(m.get("Subject", "")).split()))
"""


def mutt_list(acct, scratch, folder="INBOX", timeout=TIMEOUT):
    """mutt opens folder and pipes every message's Subject header out:
    Result.extra is the list of subjects, in mutt's order (received)."""
    # mutt reads ^X in what it is pushed as control-X and backslashes as
    # escapes: the command has neither
    script = write(os.path.join(scratch, "mutt-subject.py"), SUBJECT)
    code, screen, data = _mutt_pipe(acct, scratch, folder, "~A",
                                    "%s %s" % (PYTHON, script), timeout)
    subjects = data.decode(errors="replace").splitlines()
    return Result(code, screen, None, subjects)


def mutt_read(acct, scratch, pattern, folder="INBOX", timeout=TIMEOUT):
    """mutt opens folder and pipes out the messages matching the mutt
    pattern (e.g. "~s hello"; no ^ and no backslash: mutt reads keys
    pushed to it that way): Result.extra is their bytes, each one preceded
    by a line "From mutt-read" (an mbox of them)."""
    code, screen, data = _mutt_pipe(
        acct, scratch, folder, pattern,
        "(echo From mutt-read; cat)", timeout)
    return Result(code, screen, None, data)


def mutt_move(acct, scratch, pattern, dest, folder="INBOX",
              timeout=TIMEOUT):
    """mutt saves the messages of folder matching pattern to folder dest
    (COPY, then \\Deleted and EXPUNGE at sync: what mutt's "s" does) and
    quits."""
    keys = ("<tag-pattern>%s<enter><tag-prefix><save-message>=%s<enter>"
            "<sync-mailbox><quit>" % (pattern, dest))
    code, screen = _mutt(acct, scratch, folder, keys, timeout)
    return Result(code, screen)


# ----------------------------------------------------------- fetchmail ----

DELIVER = """\
import os, socket, sys, time
md = sys.argv[1]
data = sys.stdin.buffer.read()
name = "%d.P%dQ%d.%s" % (time.time(), os.getpid(),
                         int.from_bytes(os.urandom(4), "big"),
                         socket.gethostname())
tmp = os.path.join(md, "tmp", name)
with open(tmp, "wb") as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
os.rename(tmp, os.path.join(md, "new", name))
"""


def fetchmail_pop3(acct, scratch, keep=True, timeout=TIMEOUT):
    """fetchmail fetches every message of the POP3 mailbox into the local
    Maildir scratch/fetchmail (deleting them on the server unless keep),
    over STLS (mandatory: sslproto auto) or implicit TLS."""
    md = os.path.join(scratch, "fetchmail")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    deliver = write(os.path.join(scratch, "fetchmail-deliver.py"), DELIVER)
    cert = trusted_cert(acct, scratch)
    tls = "ssl " if acct.tls == "tls" else 'sslproto "auto" '
    mda = "%s %s %s" % (PYTHON, deliver, md)
    rc = write(os.path.join(scratch, "fetchmailrc"), f"""\
set no bouncemail
set no syslog
poll {acct.host} service {acct.port} protocol pop3 uidl auth password
    timeout 60
    user "{acct.user}" there with password "{acct.password}"
    {tls}sslcertck sslcertfile "{cert}" sslcommonname "{cert_name(cert)}"
    mda "{mda}"
    fetchall {"keep" if keep else "nokeep"}
""")
    env = {"FETCHMAILHOME": scratch, "HOME": scratch}
    code, out = run(["fetchmail", "-f", rc, "-v", "--nodetach",
                     "--pidfile", os.path.join(scratch, "fetchmail.pid"),
                     "-i", os.path.join(scratch, "fetchmail.ids")],
                    timeout=timeout, env=env)
    # 1: there was no mail, which is a success for a fetcher
    return Result(0 if code == 1 else code, out, md, code)


# ------------------------------------------------------------- getmail ----

def getmail_pop3(acct, scratch, keep=True, timeout=TIMEOUT):
    """getmail6 fetches the POP3 mailbox into the local Maildir
    scratch/getmail (deleting on the server unless keep). getmail6 has no
    STLS: this needs an implicit-TLS account (pop3s)."""
    if acct.tls != "tls":
        raise ValueError("getmail6 speaks POP3 over implicit TLS only")
    md = os.path.join(scratch, "getmail")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    deliver = write(os.path.join(scratch, "getmail-deliver.py"), DELIVER)
    gdir = os.path.join(scratch, "getmail-state")
    os.makedirs(gdir, exist_ok=True)
    cert = trusted_cert(acct, scratch)
    write(os.path.join(gdir, "getmailrc"), f"""\
[retriever]
type = SimplePOP3SSLRetriever
server = {acct.host}
port = {acct.port}
username = {acct.user}
password = {acct.password}
ca_certs = {cert}
ssl_cert_hostname = {cert_name(cert)}

[destination]
type = MDA_external
path = {PYTHON}
arguments = ({deliver!r}, {md!r})
allow_root_commands = true

[options]
read_all = true
delete = {"false" if keep else "true"}
verbose = 2
""")
    code, out = run(["getmail", "--getmaildir", gdir, "--rcfile",
                     "getmailrc"], timeout=timeout)
    return Result(code, out, md)
