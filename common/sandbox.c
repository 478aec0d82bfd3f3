/*
 * seccomp allowlists, one per role.  The filter checks the architecture
 * and kills the process on anything else; with -S it traps instead and
 * names the system call before dying (OpenSSH's sandbox is the model).
 */

#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "common.h"

#define SYSCALL_NAMES 512

static int sandbox_debug;
static char *syscall_names[SYSCALL_NAMES];

/* what every role needs: I/O on fds it holds, memory, time, signals */
static const char *const sandbox_base[] = {"read", "write", "readv", "writev",
    "pread64", "pwrite64", "close", "recvmsg", "sendmsg", "recvfrom", "sendto",
    "shutdown", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
    "poll", "ppoll", "select", "pselect6", "brk", "mmap", "munmap", "mremap",
    "madvise", "mprotect", "futex", "sched_yield", "clock_gettime",
    "clock_nanosleep", "gettimeofday", "time", "nanosleep", "rt_sigaction",
    "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "getpid", "gettid",
    "getuid", "geteuid", "getgid", "getegid", "getrandom", "fcntl", "fstat",
    "newfstatat", "statx", "lseek", "rseq", "set_robust_list", "dup", "dup2",
    "dup3", "pipe2", "eventfd2", "exit", "exit_group", "restart_syscall",
    "getsockopt", "setsockopt", "getsockname", "getpeername", "connect",
    "uname", "prlimit64", "getrlimit", "ioctl", "tgkill", "sysinfo", NULL};

static const char *const sandbox_fs[] = {"openat", "open", "unlink", "unlinkat",
    "rename", "renameat", "renameat2", "mkdir", "mkdirat", "fsync", "fdatasync",
    "syncfs", "ftruncate", "getdents64", "fchmod", "fchown", "umask", "access",
    "faccessat", "faccessat2", "stat", "lstat", "readlink", "fallocate",
    "flock", "copy_file_range", "sendfile", "link", "linkat", "rmdir", "getcwd",
    "fadvise64", "sync_file_range", "utimensat", NULL};

static const char *const sandbox_net[] = {
    "accept", "accept4", "bind", "listen", NULL};

#ifdef BOXD_SANITIZE
/* AddressSanitizer's runtime needs these beyond what the code does */
static const char *const sandbox_sanitizer[] = {"openat", "readlink",
    "getdents64", "sched_getaffinity", "prctl", "clone", "clone3", "wait4",
    "ptrace", "setrlimit", NULL};
#endif

static void
sandbox_sigsys(int sig, siginfo_t *info, void *ctx)
{
	char msg[128];
	const char *name = "?";
	int nr = info->si_syscall;

	if (nr >= 0 && nr < SYSCALL_NAMES && syscall_names[nr] != NULL)
		name = syscall_names[nr];
	snprintf(msg, sizeof(msg), "sandbox: forbidden system call %s (%d)\n",
	    name, nr);
	if (write(STDERR_FILENO, msg, strlen(msg)) == -1)
		_exit(3);
	_exit(3);
}

void
sandbox_set_debug(int on)
{
	sandbox_debug = on;
}

static void
sandbox_allow(scmp_filter_ctx ctx, const char *const *list)
{
	int nr;

	for (; *list != NULL; list++) {
		nr = seccomp_syscall_resolve_name(*list);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) < 0)
			fatalx("seccomp_rule_add %s", *list);
	}
}

void
sandbox_init(enum proc_type role)
{
	struct sigaction sa;
	scmp_filter_ctx ctx;
	uint32_t action = SCMP_ACT_KILL_PROCESS;
	int i;

	if (sandbox_debug) {
		for (i = 0; i < SYSCALL_NAMES; i++)
			syscall_names[i] = seccomp_syscall_resolve_num_arch(
			    SCMP_ARCH_NATIVE, i);
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = sandbox_sigsys;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSYS, &sa, NULL) == -1)
			fatal("sigaction SIGSYS");
		action = SCMP_ACT_TRAP;
	}
	if ((ctx = seccomp_init(action)) == NULL)
		fatalx("seccomp_init");
	if (seccomp_attr_set(
		ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0)
		fatalx("seccomp bad-arch action");
	/* the same filter on every thread (the queue has a flusher) */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) < 0)
		fatalx("seccomp thread sync");
	sandbox_allow(ctx, sandbox_base);
	/* local sockets only (syslog reconnects); never the network */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		SCMP_A0(SCMP_CMP_EQ, AF_UNIX)) < 0)
		fatalx("seccomp_rule_add socket");
	switch (role) {
	case PROC_SMTP:
	case PROC_CONTROL:
	case PROC_IMAP:
	case PROC_MTA:
		sandbox_allow(ctx, sandbox_net);
		break;
	case PROC_AUTH:
	case PROC_QUEUE:
	case PROC_MDA:
	case PROC_SIGNER:
		sandbox_allow(ctx, sandbox_fs);
		break;
	default:
		fatalx("no sandbox for role %s", proc_name(role));
	}
#ifdef BOXD_SANITIZE
	sandbox_allow(ctx, sandbox_sanitizer);
#endif
	if (seccomp_load(ctx) < 0)
		fatalx("seccomp_load failed");
	seccomp_release(ctx);
}
