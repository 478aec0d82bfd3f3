"""End-to-end tests of the channels between boxd's processes: what one
process receives on them that it cannot trust is fatal for it, the log
names the peer and the cause, and fail-stop takes the whole service down.

The bad input goes in on a real channel: pidfd_getfd(2) takes a copy of
smtp's end of its socketpair to queue (or to the parent), and what the
test writes there reaches the other end as if smtp had sent it.

Run: /usr/bin/python3 -m unittest discover -s regress/e2e -p test_channels.py -v
"""

import ctypes
import os
import socket
import struct
import subprocess
import unittest

from boxdtest import Boxd, gone
import test_smtp as t
from test_boxctl import TYPES

# common/common.h: a child finds its channel to a peer at 3 + PROC_*
PROC_FD_BASE = 3
PROC_PARENT = 0
PROC_QUEUE = 4
SYS_PIDFD_GETFD = 438       # the same number on every Linux architecture
                            # but alpha

libc = ctypes.CDLL(None, use_errno=True)


def setUpModule():
    t.ensure_role_users()


def steal_fd(pid, fd):
    """A copy of descriptor fd of process pid, or SkipTest."""
    if not hasattr(os, "pidfd_open"):
        raise unittest.SkipTest("no os.pidfd_open in this Python")
    pidfd = os.pidfd_open(pid)
    try:
        n = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if n < 0:
            e = ctypes.get_errno()
            raise unittest.SkipTest("pidfd_getfd(%d, %d): %s (needs Linux "
                                    "5.6 and ptrace rights over boxd's "
                                    "children)" % (pid, fd, os.strerror(e)))
        return n
    finally:
        os.close(pidfd)


def header(type_, length=16, flags=0, peerid=0):
    return struct.pack(">IIII", type_, length, flags, peerid)


class Channels(unittest.TestCase):

    def setUp(self):
        self.b = Boxd()
        self.addCleanup(self.b.cleanup)
        self.b.start()
        self.pids = t.role_pids(self.b)
        self.kids = self.b.pids()[1:]
        self.assertEqual(len(self.kids), 8)

    def channel(self, role, peer):
        """smtp's end of its channel to peer, as a socket of ours."""
        fd = steal_fd(self.pids[role], PROC_FD_BASE + peer)
        sock = socket.socket(fileno=fd)
        self.addCleanup(sock.close)
        return sock

    def assert_service_stopped(self, pattern):
        """boxd exits non-zero, no child is left and the log matches."""
        try:
            rc = self.b.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.fail("boxd still running:\n" + t.log_tail(self.b))
        self.assertNotEqual(rc, 0, t.log_tail(self.b))
        ok = t.wait_until(lambda: all(gone(p) for p in self.kids), 10)
        self.assertTrue(ok, "children left:\n" + t.log_tail(self.b))
        log = self.b.logtext()
        self.assertRegex(log, pattern)
        return log

    def test_garbage_from_a_peer_is_fatal(self):
        """A header no boxd process sends: queue dies naming smtp, the
        parent says why and stops everything."""
        self.channel("smtp", PROC_QUEUE).sendall(header(0xffffff))
        log = self.assert_service_stopped(
            r"queue\[\d+\]: fatal: malformed imsg from smtp: unknown type "
            r"16777215")
        self.assertIn("queue process died: malformed imsg from smtp: "
                      "unknown type 16777215", log)
        self.assertIn("shutting down: the queue process is gone", log)

    def test_lost_descriptors_are_fatal(self):
        """More descriptors than one message may carry: the kernel drops
        some (MSG_CTRUNC) and queue, which lost them, stops."""
        fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(20)]
        try:
            socket.send_fds(self.channel("smtp", PROC_QUEUE),
                            [header(TYPES["IMSG_QUEUE_CREATE"],
                                    flags=1)], fds)
        finally:
            for fd in fds:
                os.close(fd)
        log = self.assert_service_stopped(
            r"queue process died: imsg from smtp: control message "
            r"truncated \(more than 16 file descriptors\)")
        self.assertIn("shutting down: the queue process is gone", log)

    def test_message_without_its_descriptor_is_fatal(self):
        """A message flagged as carrying a descriptor that did not come
        with it: refused before it is handled."""
        self.channel("smtp", PROC_QUEUE).sendall(
            header(TYPES["IMSG_QUEUE_CREATE"], flags=1))
        self.assert_service_stopped(
            r"queue process died: malformed imsg from smtp: QUEUE_CREATE: "
            r"its file descriptor did not come with it")

    def test_bad_payload_names_the_peer(self):
        """A known type with a payload that does not parse."""
        self.channel("smtp", PROC_QUEUE).sendall(
            header(TYPES["IMSG_QUEUE_CREATE"]))
        self.assert_service_stopped(
            r"queue process died: malformed imsg QUEUE_CREATE from smtp")

    def test_garbage_to_the_parent_stops_the_service(self):
        """The parent is one of boxd's processes too: it dies naming the
        child, and the children go with it."""
        self.channel("smtp", PROC_PARENT).sendall(header(0xffffff))
        self.assert_service_stopped(
            r"parent\[\d+\]: fatal: malformed imsg from smtp: unknown type "
            r"16777215")



if __name__ == "__main__":
    unittest.main()
