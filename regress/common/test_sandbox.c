/*
 * sandbox.c: a child installs a role's filter and makes one call.  A
 * forbidden call kills it with SIGSYS; with the debug switch it names
 * the call on stderr and exits 3 instead; an allowed call still works.
 * The forbidden calls are made on descriptors that cannot take them
 * (/dev/null), so that a filter letting one through does no harm.
 */

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "common.h"
#include "test.h"

/* set up before the fork, so that no probe needs a call to find them */
static int nullfd = -1;
static int pipefd[2] = {-1, -1};
static pid_t parent_pid;

/* what a sandboxed child does: 0 if the call did what it should */
typedef int (*probe_fn)(void);

struct outcome {
	int status;    /* from waitpid */
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
		log_init(logging == TO_STDERR, 0, "test_sandbox");
		sandbox_set_debug(debug);
		sandbox_init(role);
		_exit(probe() == 0 ? 0 : 1);
	}
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

/* glibc's syslog reconnect: socket() must fail cleanly, with EACCES */
static int
probe_socket_unix_refused(void)
{
	return socket(AF_UNIX, SOCK_DGRAM, 0) == -1 && errno == EACCES ? 0 : 1;
}

static int
probe_syslog(void)
{
	syslog(LOG_INFO, "a message nobody reads");
	syslog(LOG_INFO, "and another");
	return 0;
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

	/* an abstract socket: no chroot keeps those out of reach */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, "\0boxd-test", 10);
	connect(nullfd, (struct sockaddr *)&sun,
	    offsetof(struct sockaddr_un, sun_path) + 10);
	return 0;
}

static int
probe_sendto_address(void)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, "\0boxd-test", 10);
	sendto(nullfd, "x", 1, 0, (struct sockaddr *)&sun,
	    offsetof(struct sockaddr_un, sun_path) + 10);
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

/* ---------------------------------------------------------------- tests */

static const enum proc_type roles[] = {PROC_CONTROL, PROC_SMTP, PROC_AUTH,
    PROC_QUEUE, PROC_MDA, PROC_MTA, PROC_SIGNER, PROC_IMAP};
#define NROLES (sizeof(roles) / sizeof(roles[0]))

static void
check_kills(enum proc_type role, const char *what, probe_fn probe)
{
	struct outcome o;
	char name[128];

	snprintf(
	    name, sizeof(name), "%s: %s dies of SIGSYS", proc_name(role), what);
	CHECK(name,
	    run(role, 0, TO_STDERR, probe, &o) == 0 && killed_by(&o, SIGSYS));
}

static void
check_works(enum proc_type role, const char *what, probe_fn probe)
{
	struct outcome o;
	char name[128];

	snprintf(name, sizeof(name), "%s: %s works", proc_name(role), what);
	CHECK(name, run(role, 0, TO_STDERR, probe, &o) == 0 && exited(&o, 0));
	if (!exited(&o, 0) && o.err[0] != '\0')
		printf("# %s", o.err);
}

/* what no role may do */
static void
test_every_role(void)
{
	size_t i;

	for (i = 0; i < NROLES; i++) {
		check_kills(roles[i], "socket(AF_INET)", probe_socket_inet);
		check_kills(roles[i], "socket(AF_UNIX) in the foreground",
		    probe_socket_unix);
		check_kills(roles[i], "ioctl(TIOCSTI)", probe_tiocsti);
		check_kills(roles[i], "ioctl(FIONBIO)", probe_fionbio);
		check_kills(roles[i], "mmap(PROT_EXEC)", probe_mmap_exec);
		check_kills(
		    roles[i], "mprotect(PROT_EXEC)", probe_mprotect_exec);
		check_kills(roles[i], "bind", probe_bind);
		check_kills(roles[i], "listen", probe_listen);
		check_kills(roles[i], "connect", probe_connect);
		check_kills(
		    roles[i], "sendto an address", probe_sendto_address);
		check_kills(roles[i], "setrlimit", probe_setrlimit);
		check_kills(
		    roles[i], "a signal to another process", probe_kill_other);
		check_kills(roles[i], "execve", probe_execve);
		check_works(roles[i], "memory without PROT_EXEC", probe_memory);
		check_works(roles[i], "write", probe_write);
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

	check_works(PROC_SMTP, "ioctl(FIONREAD)", probe_fionread);
	check_kills(PROC_SMTP, "ioctl(FIONREAD with high bits)",
	    probe_fionread_high_bits);
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
			check_works(roles[i], "open", probe_open);
			check_kills(roles[i], "accept4", probe_accept4);
			break;
		default:
			/* AddressSanitizer's runtime opens files in every role
			 */
#ifndef BOXD_SANITIZE
			check_kills(roles[i], "open", probe_open);
#endif
			if (roles[i] != PROC_SMTP && roles[i] != PROC_CONTROL)
				check_kills(roles[i], "accept4", probe_accept4);
			break;
		}
		if (roles[i] != PROC_SMTP)
			check_kills(
			    roles[i], "ioctl(FIONREAD)", probe_fionread);
	}
}

/* logging to syslog: the lost socket is not made again, and nobody dies */
static void
test_syslog(void)
{
	struct outcome o;
	size_t i;
	char name[128];

	for (i = 0; i < NROLES; i++) {
		snprintf(name, sizeof(name),
		    "%s: with syslog, socket(AF_UNIX) fails with EACCES",
		    proc_name(roles[i]));
		CHECK(name,
		    run(roles[i], 0, TO_SYSLOG, probe_socket_unix_refused,
			&o) == 0 &&
			exited(&o, 0));
		snprintf(name, sizeof(name),
		    "%s: with syslog, syslog() without a socket goes on",
		    proc_name(roles[i]));
		CHECK(name,
		    run(roles[i], 0, TO_SYSLOG, probe_syslog, &o) == 0 &&
			exited(&o, 0));
		snprintf(name, sizeof(name),
		    "%s: with syslog, socket(AF_INET) dies of SIGSYS",
		    proc_name(roles[i]));
		CHECK(name,
		    run(roles[i], 0, TO_SYSLOG, probe_socket_inet, &o) == 0 &&
			killed_by(&o, SIGSYS));
		snprintf(name, sizeof(name),
		    "%s: with syslog, sendto an address dies of SIGSYS",
		    proc_name(roles[i]));
		CHECK(name,
		    run(roles[i], 0, TO_SYSLOG, probe_sendto_address, &o) ==
			    0 &&
			killed_by(&o, SIGSYS));
		snprintf(name, sizeof(name),
		    "%s: with syslog, connect dies of SIGSYS",
		    proc_name(roles[i]));
		CHECK(name,
		    run(roles[i], 0, TO_SYSLOG, probe_connect, &o) == 0 &&
			killed_by(&o, SIGSYS));
	}
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
		check_named(roles[i], "socket(AF_INET)", probe_socket_inet,
		    "socket", SYS_socket);
		check_named(roles[i], "ioctl(TIOCSTI)", probe_tiocsti, "ioctl",
		    SYS_ioctl);
		check_named(roles[i], "mprotect(PROT_EXEC)",
		    probe_mprotect_exec, "mprotect", SYS_mprotect);
		check_named(roles[i], "bind", probe_bind, "bind", SYS_bind);
		snprintf(name, sizeof(name),
		    "%s: debug: allowed calls still work", proc_name(roles[i]));
		CHECK(name,
		    run(roles[i], 1, TO_STDERR, probe_memory, &o) == 0 &&
			exited(&o, 0) && o.err[0] == '\0');
	}
}

int
main(void)
{
	if ((nullfd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
	    pipe(pipefd) == -1) {
		perror("setup");
		return 1;
	}
	parent_pid = getpid();
	test_every_role();
	test_abort_is_not_sigsys();
	test_role_specific();
	test_syslog();
	test_debug_names_the_call();
	TEST_EXIT();
}
