/*
 * log.c: in the foreground a line on stderr, "NAME[PID]: text"; as a
 * daemon one datagram to the syslog socket, shaped as syslog(3) shapes it
 * with LOG_PID and LOG_MAIL: "<PRI>Mmm dd hh:mm:ss IDENT[PID]: NAME:
 * text".  The syslog daemon here is a socket of the test's own.
 */

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "test.h"

static char tmp_path[] = "/tmp/test_log.XXXXXX";
static char sink_path[64];
static int sink = -1;
static pid_t test_pid;

/* by the test itself, not by a child that exits */
static void
tmp_remove(void)
{
	if (getpid() != test_pid)
		return;
	unlink(sink_path);
	rmdir(tmp_path);
}

/* the syslog daemon's socket, made again where it was */
static int
sink_open(void)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, sink_path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		return -1;
	if ((sink = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(sink, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		return -1;
	return 0;
}

/* the syslog daemon goes away */
static void
sink_close(void)
{
	close(sink);
	sink = -1;
	unlink(sink_path);
}

/* the next datagram, or -1 if none is waiting */
static ssize_t
sink_read(char *buf, size_t size)
{
	ssize_t n;

	if ((n = recv(sink, buf, size - 1, MSG_DONTWAIT)) < 0)
		n = -1;
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/*
 * line is "<pri>", a time between from and to as syslog(3) writes it in
 * the C locale, " ident[pid]: ", then rest
 */
static int
line_is(const char *line, int pri, time_t from, time_t to, pid_t pid,
    const char *rest)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	char want[4096];
	struct tm tm;
	time_t t;

	for (t = from; t <= to; t++) {
		if (localtime_r(&t, &tm) == NULL)
			return 0;
		snprintf(want, sizeof(want),
		    "<%d>%s %2d %02d:%02d:%02d test_log[%d]: %s", pri,
		    months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec, (int)pid, rest);
		if (strcmp(line, want) == 0)
			return 1;
	}
	printf("# got \"%s\"\n", line);
	return 0;
}

static void
test_syslog_lines(void)
{
	char line[4096], big[3000];
	time_t from;
	pid_t pid = getpid();
	ssize_t n;

	log_init(0, LOG_LEVEL_INFO, "test_log");
	log_procname("unit");
	CHECK("syslog: log_syslog_fd() is the socket", log_syslog_fd() >= 0);

	from = time(NULL);
	log_info("hello %d", 42);
	n = sink_read(line, sizeof(line));
	CHECK("syslog: log_info is <22> (mail.info), ident[pid]: name: text",
	    n > 0 &&
		line_is(line, LOG_MAIL | LOG_INFO, from, time(NULL), pid,
		    "unit: hello 42"));

	from = time(NULL);
	log_warnx("careful");
	n = sink_read(line, sizeof(line));
	CHECK("syslog: log_warnx is <20> (mail.warning)",
	    n > 0 &&
		line_is(line, LOG_MAIL | LOG_WARNING, from, time(NULL), pid,
		    "unit: careful"));

	from = time(NULL);
	errno = ENOENT;
	log_warn("open %s", "x");
	CHECK("syslog: log_warn keeps errno", errno == ENOENT);
	n = sink_read(line, sizeof(line));
	CHECK("syslog: log_warn adds the error",
	    n > 0 &&
		line_is(line, LOG_MAIL | LOG_WARNING, from, time(NULL), pid,
		    "unit: open x: No such file or directory"));

	log_debug("not at level info");
	CHECK("syslog: log_debug below the level sends nothing",
	    sink_read(line, sizeof(line)) == -1);
	log_setlevel(LOG_LEVEL_DEBUG);
	from = time(NULL);
	log_debug("now");
	n = sink_read(line, sizeof(line));
	CHECK("syslog: log_debug is <23> (mail.debug)",
	    n > 0 &&
		line_is(line, LOG_MAIL | LOG_DEBUG, from, time(NULL), pid,
		    "unit: now"));
	log_setlevel(LOG_LEVEL_INFO);

	/* no newline and no NUL: a datagram is the line */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("%s", big);
	n = sink_read(line, sizeof(line));
	CHECK("syslog: a long message is cut, not lost",
	    n > 1000 && n < (ssize_t)sizeof(big) &&
		strncmp(line, "<22>", 4) == 0 && line[n - 1] == 'a' &&
		strlen(line) == (size_t)n);
}

static void
test_fatal_to_syslog(void)
{
	char line[4096];
	time_t from = time(NULL);
	pid_t pid;
	int status = 0;

	fflush(stdout);
	if ((pid = fork()) == 0)
		fatalx("boom %d", 7);
	CHECK("syslog: fatalx exits 1",
	    pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		WEXITSTATUS(status) == 1);
	CHECK("syslog: fatalx is <18> (mail.crit), fatal: text",
	    sink_read(line, sizeof(line)) > 0 &&
		line_is(line, LOG_MAIL | LOG_CRIT, from, time(NULL), pid,
		    "unit: fatal: boom 7"));
}

static void *
thread_logs(void *arg)
{
	int i;

	for (i = 0; i < 20; i++)
		log_info("thread %s line %d", (const char *)arg, i);
	return NULL;
}

/*
 * The queue's flusher thread may log beside the main one: whole lines.
 * The daemon reads as they come (a socket holds only a few datagrams).
 */
static void
test_threads(void)
{
	struct timeval limit = {10, 0};
	char line[4096];
	pthread_t t[2];
	ssize_t n;
	int i, good = 0, ok;

	ok = setsockopt(sink, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit)) ==
		0 &&
	    pthread_create(&t[0], NULL, thread_logs, "a") == 0 &&
	    pthread_create(&t[1], NULL, thread_logs, "b") == 0;
	for (i = 0; ok && i < 40; i++) {
		if ((n = recv(sink, line, sizeof(line) - 1, 0)) <= 0)
			break;
		line[n] = '\0';
		if (strncmp(line, "<22>", 4) == 0 &&
		    strstr(line, "]: unit: thread ") != NULL &&
		    strstr(line, " line ") != NULL)
			good++;
	}
	ok = ok && pthread_join(t[0], NULL) == 0 &&
	    pthread_join(t[1], NULL) == 0;
	CHECK("syslog: two threads log 40 whole lines",
	    ok && good == 40 && sink_read(line, sizeof(line)) == -1);
}

/*
 * The syslog daemon restarts: what is logged while it is away is lost; a
 * sandboxed process stays without it, the parent finds it again
 */
static void
test_daemon_gone(void)
{
	char line[4096];
	pid_t pid;
	int status = 0;

	sink_close();
	errno = EPERM;
	log_info("nobody listens");
	CHECK("syslog: without a daemon the message is dropped, errno kept",
	    errno == EPERM);
	if (sink_open() == -1) {
		CHECK("syslog: the test's socket again", 0);
		return;
	}
	fflush(stdout);
	if ((pid = fork()) == 0) {
		log_sandboxed();
		log_info("into the void");
		_exit(0);
	}
	CHECK("syslog: sandboxed, the socket does not connect again",
	    pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		WEXITSTATUS(status) == 0 &&
		sink_read(line, sizeof(line)) == -1);
	log_info("back");
	CHECK("syslog: unsandboxed, the socket connects again",
	    sink_read(line, sizeof(line)) > 0 &&
		strstr(line, "]: unit: back") != NULL);
}

static void
test_reinit(void)
{
	int before, after;

	log_init(0, LOG_LEVEL_INFO, "test_log");
	before = test_open_fds();
	log_init(0, LOG_LEVEL_INFO, "test_log");
	after = test_open_fds();
	CHECK("syslog: log_init again keeps one socket",
	    before != -1 && before == after);
	log_init(1, LOG_LEVEL_INFO, "test_log");
	CHECK("foreground: log_syslog_fd() is -1", log_syslog_fd() == -1);
	CHECK("foreground: the syslog socket is closed",
	    test_open_fds() == before - 1);
}

/* stderr's lines, byte for byte as the e2e tests read them */
static void
test_foreground(void)
{
	char buf[512], want[512];
	ssize_t n;
	size_t got = 0;
	int p[2], saved;

	log_init(1, LOG_LEVEL_INFO, "test_log");
	log_procname("unit");
	if (pipe(p) == -1 || (saved = dup(STDERR_FILENO)) == -1 ||
	    dup2(p[1], STDERR_FILENO) == -1) {
		CHECK("foreground: stderr to a pipe", 0);
		return;
	}
	close(p[1]);
	log_info("hello %d", 1);
	errno = ENOENT;
	log_warn("open");
	log_warnx("plain");
	dup2(saved, STDERR_FILENO);
	close(saved);
	while ((n = read(p[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(p[0]);
	snprintf(want, sizeof(want),
	    "unit[%d]: hello 1\n"
	    "unit[%d]: open: No such file or directory\n"
	    "unit[%d]: plain\n",
	    (int)getpid(), (int)getpid(), (int)getpid());
	CHECK("foreground: NAME[PID]: text on stderr", strcmp(buf, want) == 0);
	CHECK(
	    "foreground: nothing to syslog", sink_read(buf, sizeof(buf)) == -1);
}

int
main(void)
{
	if (mkdtemp(tmp_path) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_pid = getpid();
	atexit(tmp_remove);
	snprintf(sink_path, sizeof(sink_path), "%s/log", tmp_path);
	if (sink_open() == -1) {
		perror("sink");
		return 1;
	}
	log_set_syslog_path(sink_path);
	test_syslog_lines();
	test_fatal_to_syslog();
	test_threads();
	test_daemon_gone();
	test_reinit();
	test_foreground();
	TEST_EXIT();
}
