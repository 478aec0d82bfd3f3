/*
 * Logging: stderr in the foreground, syslog otherwise.  Opened before
 * chroot so that a sandboxed child keeps its syslog socket: the filter
 * lets it send on that socket but not make another (see sandbox.c).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static int log_foreground = 1;
static int log_level;
static char log_name[32] = "boxd";
static void (*log_fatal_hook)(const char *);

void
log_init(int foreground, int level, const char *ident)
{
	log_foreground = foreground;
	log_level = level;
	strlcpy(log_name, ident, sizeof(log_name));
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	tzset();
}

/* 1 if messages go to syslog, whose socket the sandbox must allow for */
int
log_syslog(void)
{
	return !log_foreground;
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

static void __attribute__((format(printf, 2, 0)))
log_vwrite(int pri, const char *fmt, va_list ap)
{
	char msg[2048];
	int saved_errno = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_foreground)
		fprintf(stderr, "%s[%d]: %s\n", log_name, (int)getpid(), msg);
	else
		syslog(pri, "%s: %s", log_name, msg);
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
		syslog(pri, "%s: %s: %s", log_name, msg, strerror(saved_errno));
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
		syslog(LOG_CRIT, "%s: fatal: %s", log_name, msg);
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
