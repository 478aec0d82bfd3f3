/*
 * Logging: stderr in the foreground, syslog otherwise.  boxd speaks to
 * the syslog daemon itself rather than through syslog(3), so that the
 * socket is one descriptor it knows: opened and connected to /dev/log
 * before chroot, it is the one Unix datagram socket a sandboxed child
 * holds, and sandbox.c forbids every call that could aim it elsewhere.
 * A line has the shape syslog(3) gives it on the local socket.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <paths.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static int log_foreground = 1;
static int log_level;
static char log_ident[32] = "boxd";
static char log_name[32] = "boxd";
static void (*log_fatal_hook)(const char *);
static const char *log_path = _PATH_LOG;
static int log_fd = -1;
static int log_may_connect;

static int
log_connect(void)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, log_path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return connect(log_fd, (struct sockaddr *)&sun, sizeof(sun));
}

void
log_init(int foreground, int level, const char *ident)
{
	log_foreground = foreground;
	log_level = level;
	strlcpy(log_ident, ident, sizeof(log_ident));
	strlcpy(log_name, ident, sizeof(log_name));
	if (log_fd != -1) {
		close(log_fd);
		log_fd = -1;
	}
	if (!foreground) {
		log_may_connect = 1;
		/*
		 * Without a syslog daemon yet, the socket stays unconnected
		 * and its messages are lost, as with syslog(3)
		 */
		if ((log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) !=
		    -1)
			(void)log_connect();
	}
	tzset();
}

/* where the syslog daemon listens, for a test's own socket */
void
log_set_syslog_path(const char *path)
{
	log_path = path;
}

/* the syslog socket, or -1 when messages go to stderr */
int
log_syslog_fd(void)
{
	return log_fd;
}

/* the sandbox forbids connect() on the syslog socket from now on */
void
log_sandboxed(void)
{
	log_may_connect = 0;
}

void
log_setlevel(int level)
{
	log_level = level;
}

int
log_getlevel(void)
{
	return log_level;
}

void
log_procname(const char *name)
{
	strlcpy(log_name, name, sizeof(log_name));
}

void
log_set_fatal_hook(void (*hook)(const char *))
{
	log_fatal_hook = hook;
}

static const char log_months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/*
 * One datagram as syslog(3) makes it with LOG_PID and LOG_MAIL, the time
 * in the C locale.  Lost if the daemon is gone: an unfiltered process
 * (the parent) connects again once, a sandboxed one may not.
 */
static void
log_syslog_send(int pri, const char *text, const char *err)
{
	char line[2560];
	struct tm tm;
	time_t now;
	size_t len;
	int n;

	if (log_fd == -1)
		return;
	now = time(NULL);
	if (localtime_r(&now, &tm) == NULL)
		return;
	n = snprintf(line, sizeof(line),
	    "<%d>%s %2d %02d:%02d:%02d %s[%d]: %s: %s%s%s", LOG_MAIL | pri,
	    log_months[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, log_ident, (int)getpid(), log_name, text,
	    err != NULL ? ": " : "", err != NULL ? err : "");
	if (n < 0)
		return;
	len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if (send(log_fd, line, len, MSG_NOSIGNAL) == -1 && log_may_connect &&
	    (errno == ECONNREFUSED || errno == ENOTCONN) && log_connect() == 0)
		(void)send(log_fd, line, len, MSG_NOSIGNAL);
}

static void __attribute__((format(printf, 2, 0)))
log_vwrite(int pri, const char *fmt, va_list ap)
{
	char msg[2048];
	int saved_errno = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_foreground)
		fprintf(stderr, "%s[%d]: %s\n", log_name, (int)getpid(), msg);
	else
		log_syslog_send(pri, msg, NULL);
	errno = saved_errno;
}

static void __attribute__((format(printf, 2, 0)))
log_vwrite_errno(int pri, const char *fmt, va_list ap)
{
	char msg[2048];
	int saved_errno = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_foreground)
		fprintf(stderr, "%s[%d]: %s: %s\n", log_name, (int)getpid(),
		    msg, strerror(saved_errno));
	else
		log_syslog_send(pri, msg, strerror(saved_errno));
	errno = saved_errno;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite_errno(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_level < LOG_LEVEL_DEBUG)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

static void __attribute__((noreturn, format(printf, 2, 0)))
fatal_common(int with_errno, const char *fmt, va_list ap)
{
	char msg[1024];
	int saved_errno = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		strlcat(msg, ": ", sizeof(msg));
		strlcat(msg, strerror(saved_errno), sizeof(msg));
	}
	if (log_foreground)
		fprintf(stderr, "%s[%d]: fatal: %s\n", log_name, (int)getpid(),
		    msg);
	else
		log_syslog_send(LOG_CRIT, "fatal", msg);
	if (log_fatal_hook != NULL)
		log_fatal_hook(msg);
	exit(1);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fatal_common(1, fmt, ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fatal_common(0, fmt, ap);
}
