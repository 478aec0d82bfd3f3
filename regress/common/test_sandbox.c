/*
 * sandbox.c: a child installs a role's filter (the profile its row in
 * boxd/role.c names) and makes one call.  A forbidden call kills it with
 * SIGSYS; with the debug switch it names the call on stderr and exits 3
 * instead; an allowed call still works.  The forbidden calls are made on
 * descriptors that cannot take them (/dev/null), so that a filter letting
 * one through does no harm.  Logging to syslog, the child's syslog socket
 * is connected to a socket of the test's own, never to /dev/log.
 */

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boxd.h"
#include "test.h"

/* set up before the fork, so that no probe needs a call to find them */
static int nullfd = -1;
static int pipefd[2] = {-1, -1};
static pid_t parent_pid;
static struct sockaddr_in tcp_peer, udp_peer; /* loopback, listening */
static int dirfd_tmp = -1;		      /* a directory of our own */
static int pairfd[2] = {-1, -1};	      /* a socketpair, as imsg's */
static int logfd = -1;			      /* the syslog daemon's end */
static char log_path[64];		      /* where it listens */

/* what a sandboxed child does: 0 if the call did what it should */
typedef int (*probe_fn)(void);

struct outcome {
	int status;    /* from waitpid */
	pid_t pid;     /* the child's */
	char err[512]; /* what the child wrote to stderr */
};

enum { TO_STDERR, TO_SYSLOG };

static int
run(enum proc_type role, int debug, int logging, probe_fn probe,
    struct outcome *o)
{
	struct rlimit nocore = {0, 0};
	int errpipe[2];
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	if (pipe(errpipe) == -1)
		return -1;
	fflush(stdout);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		/* a killed child should leave no core file behind */
		setrlimit(RLIMIT_CORE, &nocore);
		close(errpipe[0]);
		if (dup2(errpipe[1], STDERR_FILENO) == -1)
			_exit(100);
		log_set_syslog_path(log_path);
		log_init(logging == TO_STDERR, 0, "test_sandbox");
		log_procname(proc_name(role));
		sandbox_set_debug(debug);
		sandbox_init(role_get(role)->sandbox);
		_exit(probe() == 0 ? 0 : 1);
	}
	o->pid = pid;
	close(errpipe[1]);
	while (got < sizeof(o->err) - 1 &&
	    (n = read(errpipe[0], o->err + got, sizeof(o->err) - 1 - got)) > 0)
		got += (size_t)n;
	close(errpipe[0]);
	while (waitpid(pid, &o->status, 0) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

static int
killed_by(const struct outcome *o, int sig)
{
	return WIFSIGNALED(o->status) && WTERMSIG(o->status) == sig;
}

static int
exited(const struct outcome *o, int code)
{
	return WIFEXITED(o->status) && WEXITSTATUS(o->status) == code;
}

/* ---------------------------------------------------------------- probes */

static int
probe_socket_inet(void)
{
	return socket(AF_INET, SOCK_STREAM, 0) == -1 ? 1 : 0;
}

static int
probe_socket_unix(void)
{
	return socket(AF_UNIX, SOCK_DGRAM, 0) == -1 ? 1 : 0;
}

/* an abstract address: no chroot keeps those out of reach */
static socklen_t
abstract_address(struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, "\0boxd-test", 10);
	return offsetof(struct sockaddr_un, sun_path) + 10;
}

/* one byte to an abstract address: seccomp cannot see msg_name */
static void
address_message(struct msghdr *msg, struct sockaddr_un *sun, struct iovec *iov)
{
	memset(msg, 0, sizeof(*msg));
	iov->iov_base = "x";
	iov->iov_len = 1;
	msg->msg_namelen = abstract_address(sun);
	msg->msg_name = sun;
	msg->msg_iov = iov;
	msg->msg_iovlen = 1;
}

static int
probe_syslog_sendmsg_address(void)
{
	struct sockaddr_un sun;
	struct iovec iov;
	struct msghdr msg;

	address_message(&msg, &sun, &iov);
	sendmsg(log_syslog_fd(), &msg, 0);
	return 0;
}

/* the kernel drops the high bits of a descriptor, the filter must not */
static int
probe_syslog_sendmsg_high_bits(void)
{
	struct sockaddr_un sun;
	struct iovec iov;
	struct msghdr msg;

	address_message(&msg, &sun, &iov);
	syscall(
	    SYS_sendmsg, (unsigned long)log_syslog_fd() | (1UL << 32), &msg, 0);
	return 0;
}

/* a descriptor that differs from syslog's in a high bit only: not it */
static int
probe_sendmsg_far_fd(void)
{
	struct msghdr msg;

	memset(&msg, 0, sizeof(msg));
	return syscall(SYS_sendmsg,
		   (unsigned long)log_syslog_fd() | (1UL << 20), &msg,
		   0) == -1 &&
		errno == EBADF
	    ? 0
	    : 1;
}

static int
probe_syslog_sendto_address(void)
{
	struct sockaddr_un sun;
	socklen_t len = abstract_address(&sun);

	sendto(log_syslog_fd(), "x", 1, 0, (struct sockaddr *)&sun, len);
	return 0;
}

static int
probe_syslog_sendmmsg(void)
{
	struct sockaddr_un sun;
	struct iovec iov;
	struct mmsghdr mm;

	memset(&mm, 0, sizeof(mm));
	address_message(&mm.msg_hdr, &sun, &iov);
	sendmmsg(log_syslog_fd(), &mm, 1, 0);
	return 0;
}

static int
probe_syslog_connect(void)
{
	struct sockaddr_un sun;
	socklen_t len = abstract_address(&sun);

	connect(log_syslog_fd(), (struct sockaddr *)&sun, len);
	return 0;
}

static int
probe_syslog_connect_high_bits(void)
{
	struct sockaddr_un sun;
	socklen_t len = abstract_address(&sun);

	syscall(SYS_connect, (unsigned long)log_syslog_fd() | (1UL << 32), &sun,
	    len);
	return 0;
}

/* a copy of the syslog socket would be a descriptor the filter allows */
static int
probe_syslog_dup(void)
{
	return dup(log_syslog_fd()) == -1 ? 1 : 0;
}

static int
probe_dup_other(void)
{
	int fd;

	if ((fd = dup(nullfd)) == -1)
		return 1;
	return close(fd);
}

/* what log.c sends; the test reads it from its end */
static int
probe_syslog_line(void)
{
	if (log_syslog_fd() == -1)
		return 1;
	log_info("a line from the sandbox");
	return 0;
}

/* imsg's way: a descriptor passed over a socketpair */
static int
probe_sendmsg_fd(void)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = {"x", 1};
	struct msghdr msg;
	struct cmsghdr *c;

	memset(&msg, 0, sizeof(msg));
	memset(&cm, 0, sizeof(cm));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &nullfd, sizeof(int));
	return sendmsg(pairfd[0], &msg, 0) == 1 ? 0 : 1;
}

static int
probe_tiocsti(void)
{
	char c = 'x';

	ioctl(nullfd, TIOCSTI, &c);
	return 0;
}

static int
probe_fionbio(void)
{
	int on = 1;

	ioctl(nullfd, FIONBIO, &on);
	return 0;
}

/* the filter compares all 64 bits: high bits the kernel drops are no way in */
static int
probe_fionread_high_bits(void)
{
	int n;

	syscall(
	    SYS_ioctl, pipefd[0], (unsigned long)FIONREAD | (1UL << 32), &n);
	return 0;
}

static int
probe_fionread(void)
{
	int n = -1;

	return ioctl(pipefd[0], FIONREAD, &n) == 0 && n >= 0 ? 0 : 1;
}

static int
probe_mmap_exec(void)
{
	return mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED
	    ? 1
	    : 0;
}

static int
probe_mprotect_exec(void)
{
	void *p;

	if ((p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		return 1;
	mprotect(p, 4096, PROT_READ | PROT_EXEC);
	return 0;
}

/* anonymous memory, written, then made read-only */
static int
probe_memory(void)
{
	char *p;

	if ((p = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		return 1;
	memset(p, 'x', 65536);
	if (mprotect(p, 4096, PROT_READ) == -1 || munmap(p, 65536) == -1)
		return 1;
	return 0;
}

static int
probe_write(void)
{
	return write(pipefd[1], "x", 1) == 1 ? 0 : 1;
}

static int
probe_bind(void)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	bind(nullfd, (struct sockaddr *)&sin, sizeof(sin));
	return 0;
}

static int
probe_listen(void)
{
	listen(nullfd, 1);
	return 0;
}

static int
probe_connect(void)
{
	struct sockaddr_un sun;
	socklen_t len = abstract_address(&sun);

	connect(nullfd, (struct sockaddr *)&sun, len);
	return 0;
}

static int
probe_sendto_address(void)
{
	struct sockaddr_un sun;
	socklen_t len = abstract_address(&sun);

	sendto(nullfd, "x", 1, 0, (struct sockaddr *)&sun, len);
	return 0;
}

static int
probe_accept4(void)
{
	accept4(nullfd, NULL, NULL, SOCK_NONBLOCK);
	return 0;
}

static int
probe_open(void)
{
	int fd;

	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		return 1;
	close(fd);
	return 0;
}

static int
probe_fcntl_setfl(void)
{
	fcntl(nullfd, F_SETFL, 0);
	return 0;
}

static int
probe_fcntl_getfl(void)
{
	return fcntl(nullfd, F_GETFL) == -1 ? 1 : 0;
}

static int
probe_setsockopt_other(void)
{
	int on = 1;

	setsockopt(nullfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	return 0;
}

static int
probe_setsockopt_broadcast(void)
{
	int on = 1;

	setsockopt(nullfd, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on));
	return 0;
}

static int
probe_pread(void)
{
	char c;

	return pread(nullfd, &c, 1, 0) == -1 ? 1 : 0;
}

static int
probe_getrlimit(void)
{
	struct rlimit rl;

	return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : 1;
}

static int
probe_setrlimit(void)
{
	struct rlimit rl = {64, 64};

	setrlimit(RLIMIT_NOFILE, &rl);
	return 0;
}

/* a signal to another process (0: only asks whether it exists) */
static int
probe_kill_other(void)
{
	syscall(SYS_tgkill, parent_pid, parent_pid, 0);
	return 0;
}

/* abort() signals this process: it must die of SIGABRT, not SIGSYS */
static int
probe_abort(void)
{
	abort();
}

static int
probe_execve(void)
{
	char *argv[] = {"true", NULL};

	execv("/bin/true", argv);
	return 0;
}

/* mta: a TCP connection to a loopback port, as to an MX */
static int
probe_tcp_connect(void)
{
	int fd, err;
	socklen_t len = sizeof(err);

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&tcp_peer, sizeof(tcp_peer)) == -1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0)
		return 1;
	return close(fd);
}

/* mta: what a non-blocking client does with its socket */
static int
probe_tcp_nonblocking(void)
{
	int fd, on = 1, flags;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		 IPPROTO_TCP)) == -1 ||
	    (flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    (connect(fd, (struct sockaddr *)&tcp_peer, sizeof(tcp_peer)) ==
		    -1 &&
		errno != EINPROGRESS) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		return 1;
	return close(fd);
}

/* mta: a DNS query's way, over UDP to an address */
static int
probe_udp_sendto(void)
{
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	int fd, n;

	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_UDP)) ==
		-1 ||
	    sendto(fd, "q", 1, 0, (struct sockaddr *)&udp_peer,
		sizeof(udp_peer)) != 1 ||
	    getsockname(fd, (struct sockaddr *)&me, &len) == -1 ||
	    ioctl(fd, FIONREAD, &n) == -1 ||
	    (recvfrom(fd, &n, 1, 0, NULL, NULL) == -1 && errno != EAGAIN))
		return 1;
	return close(fd);
}

static int
probe_socket_inet6_dgram(void)
{
	int fd;

	if ((fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return errno == EAFNOSUPPORT ? 0 : 1;
	return close(fd);
}

/* a protocol module that is neither TCP nor UDP (may not be loaded) */
static int
probe_socket_sctp(void)
{
	socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP);
	return 0;
}

/* the filter compares all 64 bits of the type, not just the flags */
static int
probe_socket_high_bits(void)
{
	syscall(SYS_socket, AF_INET, (unsigned long)SOCK_STREAM | (1UL << 32),
	    0);
	return 0;
}

static int
probe_socket_raw(void)
{
	socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	return 0;
}

static int
probe_socket_packet(void)
{
	socket(AF_PACKET, SOCK_DGRAM, 0);
	return 0;
}

/* imap: a message into tmp/, moved into cur/ with a flag, then expunged */
static int
probe_maildir(void)
{
	struct stat st;
	int fd;

	if (mkdirat(dirfd_tmp, "cur", 0700) == -1 && errno != EEXIST)
		return 1;
	if ((fd = openat(dirfd_tmp, "msg", O_RDWR | O_CREAT | O_CLOEXEC,
		 0600)) == -1 ||
	    pwrite(fd, "x", 1, 0) != 1 || fsync(fd) == -1 ||
	    fstat(fd, &st) == -1 || close(fd) == -1)
		return 1;
	if (renameat(dirfd_tmp, "msg", dirfd_tmp, "cur/msg:2,S") == -1 ||
	    fstatat(dirfd_tmp, "cur/msg:2,S", &st, 0) == -1 ||
	    unlinkat(dirfd_tmp, "cur/msg:2,S", 0) == -1)
		return 1;
	return 0;
}

/* mda's retry and the queue's start-up: a directory read whole */
static int
probe_readdir(void)
{
	struct dirent *de;
	DIR *dir;
	int fd, n = 0;

	if ((fd = openat(dirfd_tmp, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
		-1 ||
	    (dir = fdopendir(fd)) == NULL)
		return 1;
	while ((de = readdir(dir)) != NULL)
		n++;
	closedir(dir);
	return n >= 2 ? 0 : 1;
}

static int
probe_inotify(void)
{
	int fd, wd;

	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    (wd = inotify_add_watch(fd, ".", IN_MOVED_TO)) == -1 ||
	    inotify_rm_watch(fd, wd) == -1)
		return 1;
	return close(fd);
}

/* ---------------------------------------------------------------- tests */

static const enum proc_type roles[] = {PROC_CONTROL, PROC_SMTP, PROC_AUTH,
    PROC_QUEUE, PROC_MDA, PROC_MTA, PROC_SIGNER, PROC_IMAP};
#define NROLES (sizeof(roles) / sizeof(roles[0]))

static void
check_kills_logging(
    enum proc_type role, int logging, const char *what, probe_fn probe)
{
	struct outcome o;
	char name[160];

	snprintf(name, sizeof(name), "%s: %s%s dies of SIGSYS", proc_name(role),
	    logging == TO_SYSLOG ? "with syslog, " : "", what);
	CHECK(name,
	    run(role, 0, logging, probe, &o) == 0 && killed_by(&o, SIGSYS));
}

static void
check_works_logging(
    enum proc_type role, int logging, const char *what, probe_fn probe)
{
	struct outcome o;
	char name[160];

	snprintf(name, sizeof(name), "%s: %s%s works", proc_name(role),
	    logging == TO_SYSLOG ? "with syslog, " : "", what);
	CHECK(name, run(role, 0, logging, probe, &o) == 0 && exited(&o, 0));
	if (!exited(&o, 0) && o.err[0] != '\0')
		printf("# %s", o.err);
}

static void
check_kills(enum proc_type role, const char *what, probe_fn probe)
{
	check_kills_logging(role, TO_STDERR, what, probe);
}

static void
check_works(enum proc_type role, const char *what, probe_fn probe)
{
	check_works_logging(role, TO_STDERR, what, probe);
}

/* what no role may do */
static void
test_every_role(void)
{
	size_t i;

	for (i = 0; i < NROLES; i++) {
		check_kills(roles[i], "socket(AF_UNIX) in the foreground",
		    probe_socket_unix);
		check_kills(roles[i], "socket(SOCK_RAW)", probe_socket_raw);
		check_kills(roles[i], "socket(AF_PACKET)", probe_socket_packet);
		check_kills(roles[i], "ioctl(TIOCSTI)", probe_tiocsti);
		check_kills(roles[i], "ioctl(FIONBIO)", probe_fionbio);
		check_kills(roles[i], "mmap(PROT_EXEC)", probe_mmap_exec);
		check_kills(
		    roles[i], "mprotect(PROT_EXEC)", probe_mprotect_exec);
		check_kills(roles[i], "listen", probe_listen);
		check_kills(roles[i], "setrlimit", probe_setrlimit);
		check_kills(
		    roles[i], "a signal to another process", probe_kill_other);
		check_kills(roles[i], "execve", probe_execve);
		check_works(roles[i], "memory without PROT_EXEC", probe_memory);
		check_works(roles[i], "write", probe_write);
		check_works(
		    roles[i], "sendmsg passing a descriptor", probe_sendmsg_fd);
		/* mta alone reaches out, and only over IP */
		if (roles[i] == PROC_MTA)
			continue;
		check_kills(roles[i], "bind", probe_bind);
		check_kills(roles[i], "socket(AF_INET)", probe_socket_inet);
		check_kills(roles[i], "connect", probe_connect);
		check_kills(
		    roles[i], "sendto an address", probe_sendto_address);
	}
}

static void
test_abort_is_not_sigsys(void)
{
	struct outcome o;
	size_t i;
	char name[128];

	for (i = 0; i < NROLES; i++) {
		snprintf(name, sizeof(name), "%s: abort() dies of SIGABRT",
		    proc_name(roles[i]));
		CHECK(name,
		    run(roles[i], 0, TO_STDERR, probe_abort, &o) == 0 &&
			killed_by(&o, SIGABRT));
	}
}

/* the calls one role has and the others have not */
static void
test_role_specific(void)
{
	size_t i;

	check_works(PROC_SMTP, "getrlimit(RLIMIT_NOFILE)", probe_getrlimit);
	check_kills(
	    PROC_SMTP, "setsockopt(SO_REUSEADDR)", probe_setsockopt_other);
	/* the spool file smtp holds stays as queue opened it */
	check_kills(PROC_SMTP, "fcntl(F_SETFL)", probe_fcntl_setfl);
	check_works(PROC_CONTROL, "fcntl(F_GETFL)", probe_fcntl_getfl);

	for (i = 0; i < NROLES; i++) {
		switch (roles[i]) {
		case PROC_AUTH:
		case PROC_QUEUE:
		case PROC_MDA:
		case PROC_IMAP:
			check_works(roles[i], "openat", probe_open);
			break;
		default:
			/* AddressSanitizer's runtime opens files in every role */
#ifndef BOXD_SANITIZE
			check_kills(roles[i], "openat", probe_open);
#endif
			break;
		}
		switch (roles[i]) {
		case PROC_SMTP:
		case PROC_CONTROL:
		case PROC_IMAP:
			check_works(roles[i], "accept4", probe_accept4);
			break;
		default:
			check_kills(roles[i], "accept4", probe_accept4);
			break;
		}
		switch (roles[i]) {
		case PROC_SMTP:
		case PROC_IMAP:
		case PROC_MTA:
			check_works(roles[i], "ioctl(FIONREAD)", probe_fionread);
			check_kills(roles[i], "ioctl(FIONREAD with high bits)",
			    probe_fionread_high_bits);
			break;
		default:
			check_kills(
			    roles[i], "ioctl(FIONREAD)", probe_fionread);
			break;
		}
	}
}

/* imap: Maildirs and accepted sockets, nothing of its own on the network */
static void
test_imap(void)
{
	check_works(PROC_IMAP, "a Maildir's openat, renameat, unlinkat",
	    probe_maildir);
	check_works(PROC_IMAP, "inotify", probe_inotify);
	check_kills(PROC_IMAP, "socket(AF_INET)", probe_socket_inet);
	check_kills(PROC_IMAP, "connect", probe_connect);
	check_kills(
	    PROC_IMAP, "setsockopt(SO_REUSEADDR)", probe_setsockopt_other);
	/* mda shares its Maildirs, not its network calls */
	check_kills(PROC_MDA, "inotify", probe_inotify);
	check_works(PROC_MDA, "reading a directory", probe_readdir);
	check_works(PROC_QUEUE, "reading a directory", probe_readdir);
}

/* mta: TCP and UDP over IP, out only */
static void
test_mta(void)
{
	check_works(PROC_MTA, "socket(AF_INET) and connect to loopback",
	    probe_tcp_connect);
	check_works(
	    PROC_MTA, "a non-blocking TCP connect", probe_tcp_nonblocking);
	check_works(PROC_MTA, "UDP sendto and recvfrom", probe_udp_sendto);
	check_works(PROC_MTA, "socket(AF_INET6, SOCK_DGRAM)",
	    probe_socket_inet6_dgram);
	check_kills(PROC_MTA, "socket(IPPROTO_SCTP)", probe_socket_sctp);
	check_kills(PROC_MTA, "socket(SOCK_STREAM with high bits)",
	    probe_socket_high_bits);
	/* libunbound's query sockets */
	check_works(PROC_MTA, "bind", probe_bind);
	check_works(
	    PROC_MTA, "setsockopt(SO_REUSEADDR)", probe_setsockopt_other);
	check_kills(
	    PROC_MTA, "setsockopt(SO_BROADCAST)", probe_setsockopt_broadcast);
	/* the message, read from the spool file queue passes */
	check_works(PROC_MTA, "pread", probe_pread);
	check_kills(PROC_MTA, "dup", probe_dup_other);
	check_works(PROC_QUEUE, "dup", probe_dup_other);
	check_kills(PROC_SMTP, "a non-blocking TCP connect",
	    probe_tcp_nonblocking);
}

/* signer: its keys are read before the filter, no file after it */
static void
test_signer(void)
{
	check_kills(PROC_SIGNER, "a Maildir's calls", probe_maildir);
	check_kills(PROC_SIGNER, "inotify", probe_inotify);
	check_kills(PROC_SIGNER, "fcntl(F_GETFL)", probe_fcntl_getfl);
}

/* the datagrams waiting at the test's syslog socket, dropped */
static void
log_drain(void)
{
	char buf[512];

	while (recv(logfd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		continue;
}

/* what log_info() in a sandboxed child sends reaches the syslog socket */
static void
check_syslog_line(enum proc_type role)
{
	struct outcome o;
	char line[512], want[256], name[128];
	ssize_t n = -1;
	int ran;

	log_drain();
	ran = run(role, 0, TO_SYSLOG, probe_syslog_line, &o) == 0 &&
	    exited(&o, 0);
	if (ran)
		n = recv(logfd, line, sizeof(line) - 1, MSG_DONTWAIT);
	line[n > 0 ? n : 0] = '\0';
	/* "<22>Mmm dd hh:mm:ss ": LOG_MAIL | LOG_INFO, then the time */
	snprintf(want, sizeof(want),
	    " test_sandbox[%d]: %s: a line from the sandbox", (int)o.pid,
	    proc_name(role));
	snprintf(name, sizeof(name), "%s: with syslog, a line is sent",
	    proc_name(role));
	CHECK(name,
	    ran && n > 19 && strncmp(line, "<22>", 4) == 0 &&
		strcmp(line + 19, want) == 0);
	if (n <= 19 || strcmp(line + 19, want) != 0)
		printf("# got \"%s\"\n", line);
}

/*
 * Logging to syslog: the syslog socket is a Unix datagram socket, and
 * nothing may aim it at another address or copy it; sendmsg() on any
 * other descriptor, and mta's calls on its IP sockets, still work
 */
static void
test_syslog(void)
{
	struct outcome o;
	size_t i;
	char name[128];

	for (i = 0; i < NROLES; i++) {
		check_syslog_line(roles[i]);
		check_works_logging(roles[i], TO_SYSLOG,
		    "sendmsg passing a descriptor", probe_sendmsg_fd);
		check_works_logging(roles[i], TO_SYSLOG,
		    "sendmsg on a descriptor that differs in bit 20",
		    probe_sendmsg_far_fd);
		check_kills_logging(roles[i], TO_SYSLOG,
		    "sendmsg with an address on the syslog socket",
		    probe_syslog_sendmsg_address);
		check_kills_logging(roles[i], TO_SYSLOG,
		    "sendmsg on the syslog socket with high bits",
		    probe_syslog_sendmsg_high_bits);
		check_kills_logging(roles[i], TO_SYSLOG,
		    "sendto an address on the syslog socket",
		    probe_syslog_sendto_address);
		check_kills_logging(roles[i], TO_SYSLOG,
		    "sendmmsg on the syslog socket", probe_syslog_sendmmsg);
		check_kills_logging(roles[i], TO_SYSLOG,
		    "connect of the syslog socket", probe_syslog_connect);
		check_kills_logging(roles[i], TO_SYSLOG,
		    "connect of the syslog socket with high bits",
		    probe_syslog_connect_high_bits);
		check_kills_logging(roles[i], TO_SYSLOG,
		    "dup of the syslog socket", probe_syslog_dup);
		check_kills_logging(
		    roles[i], TO_SYSLOG, "socket(AF_UNIX)", probe_socket_unix);
		if (roles[i] == PROC_MTA)
			continue;
		check_kills_logging(
		    roles[i], TO_SYSLOG, "socket(AF_INET)", probe_socket_inet);
		check_kills_logging(roles[i], TO_SYSLOG, "sendto an address",
		    probe_sendto_address);
		check_kills_logging(
		    roles[i], TO_SYSLOG, "connect", probe_connect);
	}
	check_works_logging(PROC_MTA, TO_SYSLOG,
	    "socket(AF_INET) and connect to loopback", probe_tcp_connect);
	check_works_logging(PROC_MTA, TO_SYSLOG, "a non-blocking TCP connect",
	    probe_tcp_nonblocking);
	check_works_logging(
	    PROC_MTA, TO_SYSLOG, "UDP sendto and recvfrom", probe_udp_sendto);
	check_works_logging(PROC_QUEUE, TO_SYSLOG, "dup of another descriptor",
	    probe_dup_other);
	snprintf(name, sizeof(name),
	    "mta: debug, with syslog: connect of the "
	    "syslog socket is named connect");
	CHECK(name,
	    run(PROC_MTA, 1, TO_SYSLOG, probe_syslog_connect, &o) == 0 &&
		exited(&o, 3) &&
		strncmp(o.err, "sandbox: forbidden system call connect (",
		    40) == 0);
}

/* -S: the process names the call on stderr and exits 3 */
static void
check_named(enum proc_type role, const char *what, probe_fn probe,
    const char *call, int nr)
{
	struct outcome o;
	char name[128], want[128];
	int ran;

	snprintf(want, sizeof(want), "sandbox: forbidden system call %s (%d)\n",
	    call, nr);
	ran = run(role, 1, TO_STDERR, probe, &o) == 0;
	snprintf(
	    name, sizeof(name), "%s: debug: %s exits 3", proc_name(role), what);
	CHECK(name, ran && exited(&o, 3));
	snprintf(name, sizeof(name), "%s: debug: %s is named %s",
	    proc_name(role), what, call);
	CHECK(name, ran && strcmp(o.err, want) == 0);
	if (strcmp(o.err, want) != 0)
		printf("# got \"%s\"\n", o.err);
}

static void
test_debug_names_the_call(void)
{
	struct outcome o;
	char name[128];
	size_t i;

	for (i = 0; i < NROLES; i++) {
		check_named(roles[i], "socket(AF_PACKET)", probe_socket_packet,
		    "socket", SYS_socket);
		check_named(roles[i], "ioctl(TIOCSTI)", probe_tiocsti, "ioctl",
		    SYS_ioctl);
		check_named(roles[i], "mprotect(PROT_EXEC)",
		    probe_mprotect_exec, "mprotect", SYS_mprotect);
		/* mta's resolver binds its query sockets to a random port */
		if (roles[i] != PROC_MTA)
			check_named(
			    roles[i], "bind", probe_bind, "bind", SYS_bind);
		snprintf(name, sizeof(name),
		    "%s: debug: allowed calls still work", proc_name(roles[i]));
		CHECK(name,
		    run(roles[i], 1, TO_STDERR, probe_memory, &o) == 0 &&
			exited(&o, 0) && o.err[0] == '\0');
	}
}

/* a TCP listener and a UDP socket on loopback for mta to reach */
static int
loopback_peers(void)
{
	struct sockaddr_in *sin[2] = {&tcp_peer, &udp_peer};
	socklen_t len;
	int type[2] = {SOCK_STREAM, SOCK_DGRAM}, fd, i;

	for (i = 0; i < 2; i++) {
		memset(sin[i], 0, sizeof(*sin[i]));
		sin[i]->sin_family = AF_INET;
		sin[i]->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin[i]);
		if ((fd = socket(AF_INET, type[i] | SOCK_CLOEXEC, 0)) == -1 ||
		    bind(fd, (struct sockaddr *)sin[i], len) == -1 ||
		    (type[i] == SOCK_STREAM && listen(fd, 16) == -1) ||
		    getsockname(fd, (struct sockaddr *)sin[i], &len) == -1)
			return -1;
	}
	return 0;
}

/* a directory removed again at exit, as the jail of imap's probes */
static char tmp_path[] = "/tmp/test_sandbox.XXXXXX";

static void
tmp_remove(void)
{
	char path[sizeof(tmp_path) + 8];

	snprintf(path, sizeof(path), "%s/cur", tmp_path);
	rmdir(path);
	unlink(log_path);
	rmdir(tmp_path);
}

static int
tmp_directory(void)
{
	if (mkdtemp(tmp_path) == NULL)
		return -1;
	atexit(tmp_remove);
	return open(tmp_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* the syslog daemon's socket, in the directory of the test */
static int
log_sink(void)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(log_path, sizeof(log_path), "%s/log", tmp_path) >=
		sizeof(log_path) ||
	    strlcpy(sun.sun_path, log_path, sizeof(sun.sun_path)) >=
		sizeof(sun.sun_path))
		return -1;
	if ((logfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(logfd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		return -1;
	return 0;
}

int
main(void)
{
	if ((nullfd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
	    pipe(pipefd) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pairfd) == -1) {
		perror("setup");
		return 1;
	}
	parent_pid = getpid();
	if (loopback_peers() == -1 || (dirfd_tmp = tmp_directory()) == -1 ||
	    log_sink() == -1) {
		perror("setup");
		return 1;
	}
	test_every_role();
	test_abort_is_not_sigsys();
	test_role_specific();
	test_imap();
	test_mta();
	test_signer();
	test_syslog();
	test_debug_names_the_call();
	TEST_EXIT();
}
