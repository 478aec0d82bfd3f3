/*
 * seccomp allowlists, one profile per role (boxd/role.c names each
 * role's).  The filter checks the architecture and kills the process on
 * anything else; with -S it traps instead and names the system call
 * before dying (OpenSSH's sandbox is the model).
 *
 * A role is filtered once it has set up: libraries loaded, files and
 * sockets it keeps opened, privileges dropped.  What is left is what it
 * does while it serves, found by tracing every role under load and
 * reading the code of its error paths, and nothing more:
 *
 * - every role: I/O on descriptors it holds, imsg, epoll, memory that is
 *   never executable (mmap and mprotect without PROT_EXEC: no code is
 *   loaded or made after start), time, signals to itself;
 * - smtp: accept4 on its listeners, two TCP options, FIONREAD (libevent
 *   asks how much a socket holds before it reads) and no other ioctl,
 *   reading RLIMIT_NOFILE; no fcntl, so the spool file keeps its flags;
 * - control: accept4 on the control socket, the peer's credentials and
 *   groups, O_NONBLOCK;
 * - auth, queue, mda: the file calls of their own code (and Berkeley
 *   DB's in auth), each a list of its own;
 * - imap: accept4 on its listeners and the file calls of a Maildir
 *   reader and writer (with inotify, for IDLE), no socket of its own;
 * - mta: TCP and UDP sockets over IPv4 and IPv6 and what it does with
 *   them (connect to an MX, ask the resolver), never bind, listen or
 *   accept;
 * - signer: nothing beyond the common set: the parent reads its keys and
 *   sends them over imsg, and no file can be opened at all.
 * mta runs idle_main() until its issue comes; this is the profile it
 * is written for.
 *
 * No other role may bind, listen, connect or create a socket: the parent
 * binds every listener and the control socket, and the socketpairs exist
 * before exec.  socket(AF_UNIX) kills in every role, mta included.
 *
 * Syslog is the one socket a daemon's role makes for itself: log_init()
 * opens a Unix datagram socket and connects it to /dev/log before chroot
 * and before the filter (log.c is its own syslog client, so the
 * descriptor is known here).  A datagram socket goes wherever an address
 * sends it, and connect() can aim it at any other Unix socket of the
 * host, abstract ones included, which no chroot keeps out (and a boxd
 * started by another user than root has no chroot at all).  So on that
 * descriptor a role may send() and write() and nothing else that takes
 * an address, nor copy it: sendmsg() is allowed on every other
 * descriptor (imsg passes fds with it; seccomp cannot read its
 * msg_name), sendto() only without an address, mta's connect(), sendto()
 * with an address and sendmmsg() only on its other sockets, which are IP
 * ones, and queue's dup() only of another descriptor.  The kernel reads
 * a descriptor from the low 32 bits of the argument and the filter sees
 * all 64, so "another descriptor" means one of those 32 bits differs.
 * If the syslog daemon goes away, a role's messages are lost until boxd
 * restarts: it does not connect again (the parent, unfiltered, does).
 * In the foreground (-d, logging to stderr) there is no syslog socket
 * and those calls have no descriptor to avoid; sendto() is then not
 * allowed at all outside mta.
 */

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "common.h"

#define SYSCALL_NAMES 512

/*
 * A call allowed only with these values of the arguments named in cmp;
 * where mask[n] is set, only those bits of argument n are compared.
 */
struct sandbox_arg_rule {
	const char *call;
	unsigned int cmp; /* ARG(n) bits */
	scmp_datum_t arg[3];
	scmp_datum_t mask[3];
};

#define ARG(n) (1U << (n))

struct sandbox_profile {
	const char *const *calls;
	const struct sandbox_arg_rule *rules;
	/* calls allowed on any descriptor but the syslog socket */
	const char *const *not_syslog;
};

static int sandbox_debug;
static char *syscall_names[SYSCALL_NAMES];

/* every role: I/O on what it holds, imsg, the event loop, memory, time */
static const char *const sandbox_base[] = {"read", "write", "readv", "writev",
    "close", "recvmsg", "epoll_wait", "epoll_pwait", "epoll_ctl", "brk",
    "munmap", "mremap", "madvise", "futex", "clock_gettime", "gettimeofday",
    "time", "rt_sigreturn", "rt_sigprocmask", "getpid", "gettid", "getrandom",
    "sysinfo", "exit", "exit_group", "restart_syscall", NULL};

/* imsg passes descriptors with sendmsg() */
static const char *const sandbox_base_not_syslog[] = {"sendmsg", NULL};

static const char *const sandbox_smtp[] = {"accept4", NULL};

static const struct sandbox_arg_rule sandbox_smtp_rules[] = {
    {"ioctl", ARG(1), {0, FIONREAD}, {0}},
    {"setsockopt", ARG(1) | ARG(2), {0, IPPROTO_TCP, TCP_NODELAY}, {0}},
    {"setsockopt", ARG(1) | ARG(2), {0, IPPROTO_TCP, TCP_QUICKACK}, {0}},
    /* getrlimit(): the session limit's default derives from it */
    {"prlimit64", ARG(0) | ARG(1) | ARG(2), {0, RLIMIT_NOFILE, 0}, {0}},
    {NULL, 0, {0}, {0}},
};

const struct sandbox_profile sandbox_profile_smtp = {
    sandbox_smtp, sandbox_smtp_rules, NULL};

static const char *const sandbox_control[] = {"accept4", NULL};

static const struct sandbox_arg_rule sandbox_control_rules[] = {
    {"getsockopt", ARG(1) | ARG(2), {0, SOL_SOCKET, SO_PEERCRED}, {0}},
    {"getsockopt", ARG(1) | ARG(2), {0, SOL_SOCKET, SO_PEERGROUPS}, {0}},
    {"fcntl", ARG(1), {0, F_GETFL}, {0}},
    {"fcntl", ARG(1), {0, F_SETFL}, {0}},
    {NULL, 0, {0}, {0}},
};

const struct sandbox_profile sandbox_profile_control = {
    sandbox_control, sandbox_control_rules, NULL};

/* Berkeley DB: its files in the environment, log files come and go */
static const char *const sandbox_auth[] = {"openat", "newfstatat", "fstat",
    "lseek", "pread64", "pwrite64", "fdatasync", "fsync", "unlink", "unlinkat",
    "getcwd", "ftruncate", NULL};

static const struct sandbox_arg_rule sandbox_auth_rules[] = {
    {"fcntl", ARG(1), {0, F_GETFD}, {0}},
    {"fcntl", ARG(1), {0, F_SETFD}, {0}},
    {NULL, 0, {0}, {0}},
};

const struct sandbox_profile sandbox_profile_auth = {
    sandbox_auth, sandbox_auth_rules, NULL};

/* queued/queue_fs.c: create, commit, load, remove, set aside, recover */
static const char *const sandbox_queue[] = {"openat", "newfstatat", "fstat",
    "pread64", "pwrite64", "fsync", "syncfs", "unlinkat", "renameat",
    "renameat2", "getdents64", "lseek",
    /* the flusher thread may still be starting when the filter comes */
    "set_robust_list", "rseq", NULL};

/* a copy of the spool directory's fd for fdopendir(), never of syslog's */
static const char *const sandbox_queue_not_syslog[] = {"dup", NULL};

static const struct sandbox_arg_rule sandbox_queue_rules[] = {
    {"fcntl", ARG(1), {0, F_GETFD}, {0}},
    {"fcntl", ARG(1), {0, F_SETFD}, {0}},
    {"fcntl", ARG(1), {0, F_GETFL}, {0}}, /* fdopendir() */
    {NULL, 0, {0}, {0}},
};

const struct sandbox_profile sandbox_profile_queue = {
    sandbox_queue, sandbox_queue_rules, sandbox_queue_not_syslog};

/*
 * queued/maildir.c and mda.c: tmp/, flush, rename into new/; a retry
 * reads new/ and cur/ (fdopendir() checks the descriptor)
 */
static const char *const sandbox_mda[] = {"openat", "mkdirat", "pread64",
    "copy_file_range", "fsync", "syncfs", "renameat", "renameat2", "unlinkat",
    "getdents64", "newfstatat", "fstat", NULL};

static const struct sandbox_arg_rule sandbox_mda_rules[] = {
    {"fcntl", ARG(1), {0, F_GETFL}, {0}},
    {"fcntl", ARG(1), {0, F_SETFD}, {0}},
    {NULL, 0, {0}, {0}},
};

const struct sandbox_profile sandbox_profile_mda = {
    sandbox_mda, sandbox_mda_rules, NULL};

/*
 * IMAP and POP3 sessions on accepted sockets, over Maildirs it reads and
 * writes (flags are renames, EXPUNGE an unlink, APPEND a file in tmp/),
 * and inotify to see other writers while a client IDLEs
 */
static const char *const sandbox_imap[] = {"accept4", "openat", "newfstatat",
    "fstat", "getdents64", "renameat", "renameat2", "unlinkat", "mkdirat",
    "fsync", "fdatasync", "pread64", "pwrite64", "lseek", "ftruncate",
    "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "faccessat",
    "faccessat2", "utimensat", "linkat", "copy_file_range", NULL};

static const struct sandbox_arg_rule sandbox_imap_rules[] = {
    {"ioctl", ARG(1), {0, FIONREAD}, {0}},
    {"setsockopt", ARG(1) | ARG(2), {0, IPPROTO_TCP, TCP_NODELAY}, {0}},
    {"fcntl", ARG(1), {0, F_GETFL}, {0}}, /* fdopendir() */
    {"fcntl", ARG(1), {0, F_SETFD}, {0}},
    {"fcntl", ARG(1), {0, F_GETFD}, {0}},
    {NULL, 0, {0}, {0}},
};

const struct sandbox_profile sandbox_profile_imap = {
    sandbox_imap, sandbox_imap_rules, NULL};

/*
 * Delivery to other servers: TCP to an MX, UDP and TCP to the resolver.
 * sendto() with an address is for UDP queries.  Its only Unix sockets are
 * the socketpairs, connected streams that ignore an address, and the
 * syslog socket, which these calls may not touch.  bind() is the
 * resolver's: a random source port for its queries.  pread() reads the
 * message from the spool file the queue passes.
 */
static const char *const sandbox_mta[] = {
    "recvfrom", "recvmmsg", "getsockname", "getpeername", "pread64", NULL};

static const char *const sandbox_mta_not_syslog[] = {
    "connect", "sendto", "sendmmsg", "bind", NULL};

/* socket()'s type with the flags a non-blocking client sets masked out */
#define SOCK_TYPE_MASK (~(scmp_datum_t)(SOCK_NONBLOCK | SOCK_CLOEXEC))

/*
 * The protocol is checked too: 0 or the one of TCP and UDP, so that no
 * other protocol module (SCTP, MPTCP, ICMP) can be reached or loaded
 */
#define SANDBOX_SOCKET(family, type, proto)                                \
	{                                                                  \
		"socket", ARG(0) | ARG(1) | ARG(2), {family, type, proto}, \
		{                                                          \
			0, SOCK_TYPE_MASK, 0                               \
		}                                                          \
	}

static const struct sandbox_arg_rule sandbox_mta_rules[] = {
    SANDBOX_SOCKET(AF_INET, SOCK_STREAM, 0),
    SANDBOX_SOCKET(AF_INET, SOCK_STREAM, IPPROTO_TCP),
    SANDBOX_SOCKET(AF_INET, SOCK_DGRAM, 0),
    SANDBOX_SOCKET(AF_INET, SOCK_DGRAM, IPPROTO_UDP),
    SANDBOX_SOCKET(AF_INET6, SOCK_STREAM, 0),
    SANDBOX_SOCKET(AF_INET6, SOCK_STREAM, IPPROTO_TCP),
    SANDBOX_SOCKET(AF_INET6, SOCK_DGRAM, 0),
    SANDBOX_SOCKET(AF_INET6, SOCK_DGRAM, IPPROTO_UDP),
    /* the result of a non-blocking connect() */
    {"getsockopt", ARG(1) | ARG(2), {0, SOL_SOCKET, SO_ERROR}, {0}},
    {"setsockopt", ARG(1) | ARG(2), {0, IPPROTO_TCP, TCP_NODELAY}, {0}},
    /* libunbound's sockets: a random source port, no fragments */
    {"setsockopt", ARG(1) | ARG(2), {0, SOL_SOCKET, SO_REUSEADDR}, {0}},
    {"setsockopt", ARG(1) | ARG(2), {0, IPPROTO_IP, IP_MTU_DISCOVER}, {0}},
    {"setsockopt", ARG(1) | ARG(2), {0, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT},
	{0}},
    {"setsockopt", ARG(1) | ARG(2), {0, IPPROTO_IPV6, IPV6_V6ONLY}, {0}},
    {"setsockopt", ARG(1) | ARG(2), {0, IPPROTO_IPV6, IPV6_MTU}, {0}},
    {"setsockopt", ARG(1) | ARG(2), {0, IPPROTO_IPV6, IPV6_MTU_DISCOVER}, {0}},
    {"fcntl", ARG(1), {0, F_GETFL}, {0}},
    {"fcntl", ARG(1), {0, F_SETFL}, {0}},
    {"ioctl", ARG(1), {0, FIONREAD}, {0}},
    {NULL, 0, {0}, {0}},
};

const struct sandbox_profile sandbox_profile_mta = {
    sandbox_mta, sandbox_mta_rules, sandbox_mta_not_syslog};

/* its keys are read before the filter: no file call at all after it */
const struct sandbox_profile sandbox_profile_signer = {NULL, NULL, NULL};

#ifdef BOXD_SANITIZE
/* AddressSanitizer's runtime needs these (and LeakSanitizer, if enabled) */
static const char *const sandbox_sanitizer[] = {"open", "openat", "readlink",
    "getdents64", "sched_getaffinity", "prctl", "clone", "clone3", "wait4",
    "ptrace", "setrlimit", "sigaltstack", "sched_yield", "gettid", "getppid",
    "rt_sigaction", "nanosleep", "clock_nanosleep", "newfstatat", "fstat",
    "lseek", "pread64", "close", NULL};
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

static int
sandbox_nr(const char *name)
{
	return seccomp_syscall_resolve_name(name);
}

static void
sandbox_allow(scmp_filter_ctx ctx, const char *const *list)
{
	int nr;

	for (; list != NULL && *list != NULL; list++) {
		if ((nr = sandbox_nr(*list)) == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) < 0)
			fatalx("seccomp_rule_add %s", *list);
	}
}

static void
sandbox_allow_args(scmp_filter_ctx ctx, const struct sandbox_arg_rule *r)
{
	struct scmp_arg_cmp cmp[3];
	unsigned int i, n;
	int nr;

	for (; r != NULL && r->call != NULL; r++) {
		if ((nr = sandbox_nr(r->call)) == __NR_SCMP_ERROR)
			continue;
		for (i = n = 0; i < 3; i++) {
			if (!(r->cmp & ARG(i)))
				continue;
			if (r->mask[i] != 0)
				cmp[n++] = (struct scmp_arg_cmp){i,
				    SCMP_CMP_MASKED_EQ, r->mask[i], r->arg[i]};
			else
				cmp[n++] = (struct scmp_arg_cmp){
				    i, SCMP_CMP_EQ, r->arg[i], 0};
		}
		if (seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, cmp) < 0)
			fatalx("seccomp_rule_add %s", r->call);
	}
}

/* memory, but never executable memory: no code comes in after start */
static void
sandbox_allow_memory(scmp_filter_ctx ctx)
{
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
		SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
		SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) < 0)
		fatalx("seccomp_rule_add mmap");
}

/*
 * The calls of list on any descriptor but fd (none if -1): allowed where
 * a bit of the low 32 of the first argument, those the kernel reads,
 * differs from fd's
 */
static void
sandbox_allow_not_fd(scmp_filter_ctx ctx, const char *const *list, int fd)
{
	scmp_datum_t bit;
	int i, nr;

	if (fd == -1) {
		sandbox_allow(ctx, list);
		return;
	}
	for (; list != NULL && *list != NULL; list++) {
		if ((nr = sandbox_nr(*list)) == __NR_SCMP_ERROR)
			continue;
		for (i = 0; i < 32; i++) {
			bit = (scmp_datum_t)1 << i;
			if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
				SCMP_A0(SCMP_CMP_MASKED_EQ, bit,
				    ~(scmp_datum_t)fd & bit)) < 0)
				fatalx("seccomp_rule_add %s", *list);
		}
	}
}

void
sandbox_init(const struct sandbox_profile *profile)
{
	struct sigaction sa;
	scmp_filter_ctx ctx;
	uint32_t action = SCMP_ACT_KILL_PROCESS;
	int i, syslog_fd = log_syslog_fd();

	if (profile == NULL)
		fatalx("no sandbox profile");
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
	sandbox_allow_memory(ctx);
	/* abort() and raise(): signals to this process only */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
		SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid())) < 0)
		fatalx("seccomp_rule_add tgkill");
	/* send() on the syslog socket: sendto() without an address */
	if (syslog_fd != -1 &&
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), 1,
		SCMP_A4(SCMP_CMP_EQ, 0)) < 0)
		fatalx("seccomp_rule_add sendto");
	sandbox_allow_not_fd(ctx, sandbox_base_not_syslog, syslog_fd);
	sandbox_allow(ctx, profile->calls);
	sandbox_allow_args(ctx, profile->rules);
	sandbox_allow_not_fd(ctx, profile->not_syslog, syslog_fd);
#ifdef BOXD_SANITIZE
	sandbox_allow(ctx, sandbox_sanitizer);
#endif
	if (seccomp_load(ctx) < 0)
		fatalx("seccomp_load failed");
	seccomp_release(ctx);
	log_sandboxed();
}
