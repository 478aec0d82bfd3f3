/*
 * The parent: reads the configuration, binds every listener, starts one
 * re-executed child per role, hands each its configuration and sockets,
 * and supervises.  It never parses network input.
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <paths.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "boxd.h"

/* what fits one imsg, with room to spare */
#define CONTROL_GROUP_MEMBERS_MAX 16384

/* the control socket's group, resolved here: control has no /etc/group */
struct control_group {
	char name[CONFIG_GROUP_MAX]; /* "" : none */
	gid_t gid;
	uid_t *uids; /* in the group's list, or with it as primary group */
	size_t nuids;
};

struct proc_state {
	enum proc_type role;
	pid_t pid;
	time_t started;
	struct imsgev iev;
	char fatal_reason[256];
	uint64_t reloads_taken; /* its PROC_RELOADEDs: it takes them in order */
};

/* a boxctl reload, answered once every child has taken reload number gen */
struct reload_waiter {
	uint32_t peerid;
	uint64_t gen;
};

/* control has at most this many clients, each with one request at a time */
#define RELOAD_WAITERS_MAX 64

/* a boxctl dkim change, answered once signer has key set number gen */
struct dkim_waiter {
	uint32_t peerid;
	uint64_t gen;
};

/* the certificate and key as read from their files; the key wiped */
struct tls_files {
	char *cert;
	char *key;
};

static struct boxd_config conf;
static struct proc_state procs[PROC_COUNT];
static struct event_base *base;
static int listen_fds[CONFIG_LISTEN_MAX];
static int control_fd = -1;
static struct control_group control_group;
static int shutting_down;
static uint64_t reload_gen; /* reloads sent to the children */
static struct reload_waiter reload_waiters[RELOAD_WAITERS_MAX];
static size_t reload_nwaiters;
static uint64_t dkim_gen; /* key sets sent to signer */
static struct dkim_waiter dkim_waiters[RELOAD_WAITERS_MAX];
static size_t dkim_nwaiters;
static int exit_status;
static int opt_foreground, opt_verbose, opt_sandbox_debug;
static char conffile[PATH_MAX] = BOXD_CONF;

static void control_group_free(struct control_group *);
static int
control_group_resolve(const char *, struct control_group *, char *, size_t);
static int
control_socket_mode(const char *, const struct control_group *, char *, size_t);
static void send_control_group(void);

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: boxd [-dnSv] [-f file]\n");
	exit(1);
}

static void
send_config(struct proc_state *p, uint32_t type)
{
	struct msg_writer w;

	msg_writer_init(&w);
	config_marshal(&conf, &w);
	if (imsgev_compose_msg(&p->iev, type, 0, -1, &w) == -1)
		fatal("send config to %s", proc_name(p->role));
}

/*
 * A whole PEM file, or NULL with the reason in err.  Read straight into
 * the one buffer, wiped by whoever frees it: stdio would leave a copy of
 * the key in a buffer of its own.
 */
static char *
read_file(const char *path, char *err, size_t errsz)
{
	struct stat st;
	char *buf;
	size_t len, off;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (st.st_size > IMSG_MAX_SIZE / 2 - 64) {
		snprintf(err, errsz, "%s: too large", path);
		close(fd);
		return NULL;
	}
	len = st.st_size > 0 ? (size_t)st.st_size : 0;
	buf = xcalloc(1, len + 1);
	for (off = 0; off < len; off += (size_t)n) {
		n = read(fd, buf + off, len - off);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0) {
			snprintf(err, errsz, "%s: %s", path,
			    n == 0 ? "short read" : strerror(errno));
			close(fd);
			freezero(buf, len + 1);
			return NULL;
		}
	}
	close(fd);
	return buf;
}

/* the parent keeps no copy of the key: a reload reads the files again */
static void
tls_files_free(struct tls_files *t)
{
	free(t->cert);
	if (t->key != NULL)
		freezero(t->key, strlen(t->key));
	t->cert = t->key = NULL;
}

/* the certificate and key c names, read now so a bad path fails early */
static int
load_tls(
    const struct boxd_config *c, struct tls_files *t, char *err, size_t errsz)
{
	memset(t, 0, sizeof(*t));
	if (c->tls_cert[0] == '\0')
		return 0;
	if ((t->cert = read_file(c->tls_cert, err, errsz)) == NULL)
		return -1;
	if ((t->key = read_file(c->tls_key, err, errsz)) == NULL) {
		tls_files_free(t);
		return -1;
	}
	return 0;
}

/*
 * Does the key fit the certificate?  OpenSSL answers in a short-lived
 * child, so that neither the parent nor an idle smtp process carries its
 * state; smtp builds its own context when the first client asks for TLS.
 */
static int
check_tls(const struct boxd_config *c, const struct tls_files *t, char *err,
    size_t errsz)
{
	char msg[256] = "";
	void *ctx;
	ssize_t n;
	pid_t pid;
	int fds[2], status;

	if (t->cert == NULL)
		return 0;
	if (pipe2(fds, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		snprintf(err, errsz, "cannot check the certificate: %s",
		    strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		tls_load();
		ctx = tls_server_ctx_new(t->cert, t->key, msg, sizeof(msg));
		if (ctx == NULL && write(fds[1], msg, strlen(msg)) == -1)
			_exit(2);
		_exit(ctx == NULL);
	}
	close(fds[1]);
	do {
		n = read(fds[0], msg, sizeof(msg) - 1);
	} while (n == -1 && errno == EINTR);
	close(fds[0]);
	msg[n > 0 ? n : 0] = '\0';
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if ((size_t)snprintf(err, errsz, "%s (%s, %s)",
		msg[0] ? msg : "the certificate check failed", c->tls_cert,
		c->tls_key) >= errsz)
		strlcpy(err, msg, errsz);
	return -1;
}

static void
send_tls(struct proc_state *p, const struct tls_files *t)
{
	struct msg_writer w;

	if (t->cert == NULL)
		return;
	msg_writer_init(&w);
	w.wipe = 1;
	msg_put_str(&w, t->cert);
	msg_put_str(&w, t->key);
	if (imsgev_compose_msg(&p->iev, IMSG_CONF_TLS, 0, -1, &w) == -1)
		fatal("send tls to %s", proc_name(p->role));
}

static void
shutdown_all(int status)
{
	int i;

	if (shutting_down)
		return;
	shutting_down = 1;
	exit_status = status;
	for (i = PROC_PARENT + 1; i < PROC_COUNT; i++)
		if (procs[i].pid > 0)
			kill(procs[i].pid, SIGTERM);
}

static void
reply_procs(uint32_t peerid)
{
	struct passwd *pw;
	struct msg_writer w;
	struct ctl_proc proc;
	const char *user;
	int i;

	for (i = 0; i < PROC_COUNT; i++) {
		if (i != PROC_PARENT && procs[i].pid <= 0)
			continue;
		if (privsep_is_root())
			user = proc_user(i);
		else if ((pw = getpwuid(getuid())) != NULL)
			user = pw->pw_name;
		else
			user = "?";
		memset(&proc, 0, sizeof(proc));
		strlcpy(proc.role, proc_name(i), sizeof(proc.role));
		proc.pid =
		    (uint32_t)(i == PROC_PARENT ? getpid() : procs[i].pid);
		strlcpy(proc.user,
		    i == PROC_PARENT && privsep_is_root() ? "root" : user,
		    sizeof(proc.user));
		proc.started = (uint64_t)procs[i].started;
		msg_writer_init(&w);
		ctl_proc_encode(&w, &proc);
		imsgev_compose_msg(
		    &procs[PROC_CONTROL].iev, IMSG_PARENT_PROC, peerid, -1, &w);
	}
	imsgev_compose(
	    &procs[PROC_CONTROL].iev, IMSG_CTL_OK, peerid, -1, NULL, 0);
}

/*
 * Re-read the file; what cannot change without a restart is kept.  Every
 * check comes first: a reload that fails changes nothing, here or in the
 * children.
 */
static int
reload(char *err, size_t errsz)
{
	struct boxd_config nconf;
	struct control_group ngroup;
	struct tls_files tls;
	size_t i;

	log_debug("reload: reading %s", conffile);
	if (config_parse(&nconf, conffile, err, errsz) == -1)
		return -1;
	/* -v holds for the life of the process, whatever the file says */
	if (opt_verbose)
		nconf.log_level = LOG_LEVEL_DEBUG;
	if (load_tls(&nconf, &tls, err, errsz) == -1)
		return -1;
	if (check_tls(&nconf, &tls, err, errsz) == -1) {
		tls_files_free(&tls);
		return -1;
	}
	/* the members again, so that a change to the group takes effect */
	if (control_group_resolve(nconf.control_group, &ngroup, err, errsz) ==
	    -1) {
		tls_files_free(&tls);
		return -1;
	}
	/* the last check, and the one that touches the socket's mode */
	if (control_socket_mode(conf.control_socket, &ngroup, err, errsz) ==
	    -1) {
		control_group_free(&ngroup);
		tls_files_free(&tls);
		return -1;
	}
	if (nconf.nlisteners != conf.nlisteners ||
	    memcmp(nconf.listeners, conf.listeners,
		sizeof(nconf.listeners[0]) * nconf.nlisteners) != 0 ||
	    strcmp(nconf.storage, conf.storage) != 0 ||
	    strcmp(nconf.control_socket, conf.control_socket) != 0)
		log_warnx("reload: listeners, storage and control socket "
			  "change only on restart");
	memcpy(nconf.listeners, conf.listeners, sizeof(conf.listeners));
	nconf.nlisteners = conf.nlisteners;
	strlcpy(nconf.storage, conf.storage, sizeof(nconf.storage));
	strlcpy(nconf.control_socket, conf.control_socket,
	    sizeof(nconf.control_socket));
	conf = nconf;
	log_setlevel(conf.log_level);
	control_group_free(&control_group);
	control_group = ngroup;
	for (i = PROC_PARENT + 1; i < PROC_COUNT; i++) {
		send_config(&procs[i], IMSG_CONF_RELOAD);
		if (role_get(i)->tls_server)
			send_tls(&procs[i], &tls);
		if (i == PROC_CONTROL)
			send_control_group();
		if (role_get(i)->dkim_keys)
			dkim_files_send(
			    &procs[i].iev, conf.storage, ++dkim_gen);
		imsgev_compose(&procs[i].iev, IMSG_CONF_END, 0, -1, NULL, 0);
	}
	tls_files_free(&tls);
	reload_gen++;
	log_info("configuration reloaded");
	return 0;
}

/*
 * Answer the boxctl reloads that every child has taken.  Each waits for
 * its own reload only, however many come after it: clients reloading
 * in a loop hold nobody up.
 */
static void
reload_answer(void)
{
	uint64_t taken = reload_gen;
	size_t i, kept;

	for (i = PROC_PARENT + 1; i < PROC_COUNT; i++)
		if (procs[i].reloads_taken < taken)
			taken = procs[i].reloads_taken;
	for (i = kept = 0; i < reload_nwaiters; i++) {
		if (reload_waiters[i].gen > taken) {
			reload_waiters[kept++] = reload_waiters[i];
			continue;
		}
		log_debug("reload %llu: every process has it",
		    (unsigned long long)reload_waiters[i].gen);
		imsgev_compose(&procs[PROC_CONTROL].iev, IMSG_CTL_OK,
		    reload_waiters[i].peerid, -1, NULL, 0);
	}
	reload_nwaiters = kept;
}

static void
reload_taken(struct proc_state *p)
{
	if (p->reloads_taken >= reload_gen)
		fatalx("%s took a reload it was not sent", proc_name(p->role));
	p->reloads_taken++;
	reload_answer();
}

static void
reload_fail(uint32_t peerid, const char *why)
{
	struct msg_writer w;

	msg_writer_init(&w);
	ctl_fail_encode(&w, why);
	imsgev_compose_msg(
	    &procs[PROC_CONTROL].iev, IMSG_CTL_FAIL, peerid, -1, &w);
}

static void
reload_reply(uint32_t peerid)
{
	char err[512];

	/* only if a client went before its answer came: ask again later */
	if (reload_nwaiters == RELOAD_WAITERS_MAX) {
		log_warnx("reload refused: %d reloads still being taken",
		    RELOAD_WAITERS_MAX);
		reload_fail(peerid, "too many reloads in progress, try again");
		return;
	}
	if (reload(err, sizeof(err)) == -1) {
		log_warnx("reload failed: %s", err);
		reload_fail(peerid, err);
		return;
	}
	reload_waiters[reload_nwaiters].peerid = peerid;
	reload_waiters[reload_nwaiters].gen = reload_gen;
	reload_nwaiters++;
	reload_answer();
}

/* the boxctl dkim changes whose key set signer has taken */
static void
dkim_taken(struct proc_state *p, struct msg_reader *r)
{
	uint64_t gen;
	size_t i, kept;

	if (p->role != PROC_SIGNER || msg_get_u64(r, &gen) == -1 ||
	    msg_get_end(r) == -1 || gen > dkim_gen)
		fatalx("malformed DKIM_KEYS_TAKEN from %s", proc_name(p->role));
	for (i = kept = 0; i < dkim_nwaiters; i++) {
		if (dkim_waiters[i].gen > gen) {
			dkim_waiters[kept++] = dkim_waiters[i];
			continue;
		}
		imsgev_compose(&procs[PROC_CONTROL].iev, IMSG_CTL_OK,
		    dkim_waiters[i].peerid, -1, NULL, 0);
	}
	dkim_nwaiters = kept;
}

/*
 * boxctl domain add, dkim rotate, dkim retire, once auth has found the
 * domain: the files change here, signer gets the new set, and the answer
 * waits until it has taken it.
 */
static void
dkim_request(uint32_t peerid, struct msg_reader *r)
{
	char domain[SMTP_DOMAIN_MAX + 1], selector[DKIM_SELECTOR_MAX];
	char err[512];
	uint32_t op;

	if (msg_get_u32(r, &op) == -1 ||
	    msg_get_str(r, domain, sizeof(domain)) == -1 ||
	    msg_get_str(r, selector, sizeof(selector)) == -1 ||
	    msg_get_end(r) == -1)
		fatalx("malformed PARENT_DKIM from control");
	if (dkim_nwaiters == RELOAD_WAITERS_MAX) {
		reload_fail(peerid,
		    "too many DKIM changes in progress, try "
		    "again");
		return;
	}
	if (dkim_files_change(
		conf.storage, op, domain, selector, err, sizeof(err)) == -1) {
		log_warnx("DKIM: %s: %s", domain, err);
		if (op == DKIM_OP_ADD)
			reload_fail(peerid,
			    "the domain is added, but not its "
			    "DKIM keys: see the log");
		else
			reload_fail(peerid, err);
		return;
	}
	dkim_files_send(&procs[PROC_SIGNER].iev, conf.storage, ++dkim_gen);
	dkim_waiters[dkim_nwaiters].peerid = peerid;
	dkim_waiters[dkim_nwaiters].gen = dkim_gen;
	dkim_nwaiters++;
}

static void
proc_ready(struct proc_state *p)
{
	size_t i;
	int fd;

	log_debug("%s ready", proc_name(p->role));
	if (p->role == PROC_CONTROL) {
		/* who may connect, before anybody can */
		send_control_group();
		if ((fd = dup(control_fd)) == -1)
			fatal("dup");
		imsgev_compose(&p->iev, IMSG_CONF_CONTROL, 0, fd, NULL, 0);
	}
	for (i = 0; i < conf.nlisteners; i++) {
		if (!role_serves(p->role, conf.listeners[i].kind))
			continue;
		if ((fd = dup(listen_fds[i])) == -1)
			fatal("dup");
		imsgev_compose(
		    &p->iev, IMSG_CONF_LISTENER, (uint32_t)i, fd, NULL, 0);
	}
}

static void
parent_dispatch(struct imsgev *iev, struct imsg *imsg)
{
	struct proc_state *p = iev->arg;
	struct msg_reader r;

	msg_reader_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case IMSG_PROC_READY:
		proc_ready(p);
		break;
	case IMSG_PROC_RELOADED:
		reload_taken(p);
		break;
	case IMSG_PROC_FATAL:
		if (msg_get_str(&r, p->fatal_reason, sizeof(p->fatal_reason)) ==
		    -1)
			strlcpy(p->fatal_reason, "?", sizeof(p->fatal_reason));
		break;
	case IMSG_PARENT_PROCS:
		if (p->role != PROC_CONTROL)
			fatalx("%s asked for the process list",
			    proc_name(p->role));
		reply_procs(imsg->hdr.peerid);
		break;
	case IMSG_PARENT_RELOAD:
		if (p->role != PROC_CONTROL)
			fatalx("%s asked for a reload", proc_name(p->role));
		reload_reply(imsg->hdr.peerid);
		break;
	case IMSG_PARENT_DKIM:
		if (p->role != PROC_CONTROL)
			fatalx("%s asked for DKIM keys", proc_name(p->role));
		dkim_request(imsg->hdr.peerid, &r);
		break;
	case IMSG_DKIM_KEYS_TAKEN:
		dkim_taken(p, &r);
		break;
	default:
		fatalx("unexpected imsg %s from %s",
		    imsg_type_name(imsg->hdr.type), proc_name(p->role));
	}
}

/* the child's socket went away; SIGCHLD tells why */
static void
parent_channel_closed(struct imsgev *iev)
{
	event_del(iev->ev);
}

/* how plainly a death points at its own cause: the culprit ranks highest */
static int
death_rank(const struct proc_state *p, int status)
{
	if (p->fatal_reason[0] != '\0')
		return 3;
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
		return 2;
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		return 1;
	return 0;
}

static void
log_death(const struct proc_state *p, int status)
{
	const char *role = proc_name(p->role);

	if (p->fatal_reason[0] != '\0')
		log_warnx("%s process died: %s", role, p->fatal_reason);
	else if (WIFSIGNALED(status))
		log_warnx("%s process killed by signal %d (%s)%s", role,
		    WTERMSIG(status), strsignal(WTERMSIG(status)),
		    WTERMSIG(status) == SIGSYS ? ", a forbidden system call "
						 "(run with -S to name it)"
					       : "");
	else
		log_warnx("%s process exited with status %d", role,
		    WEXITSTATUS(status));
}

static void
reap_children(void)
{
	struct proc_state *p, *culprit = NULL;
	pid_t pid;
	int status, culprit_status = 0, i, alive;

	/* all that died at once, then blame the one that explains itself */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = PROC_PARENT + 1; i < PROC_COUNT; i++)
			if (procs[i].pid == pid)
				break;
		if (i == PROC_COUNT)
			continue;
		p = &procs[i];
		p->pid = 0;
		if (shutting_down) {
			if (death_rank(p, status) > 0)
				log_death(p, status);
			continue;
		}
		if (culprit == NULL ||
		    death_rank(p, status) >
			death_rank(culprit, culprit_status)) {
			culprit = p;
			culprit_status = status;
		}
	}
	if (culprit != NULL) {
		log_death(culprit, culprit_status);
		log_warnx("shutting down: the %s process is gone",
		    proc_name(culprit->role));
		shutdown_all(1);
	}
	alive = 0;
	for (i = PROC_PARENT + 1; i < PROC_COUNT; i++)
		if (procs[i].pid > 0)
			alive = 1;
	if (shutting_down && !alive)
		event_base_loopexit(base, NULL);
}

static void
parent_signal(evutil_socket_t sig, short events, void *arg)
{
	char err[512];

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (!shutting_down)
			log_info("shutting down");
		shutdown_all(0);
		break;
	case SIGHUP:
		if (reload(err, sizeof(err)) == -1)
			log_warnx("reload failed: %s", err);
		break;
	case SIGCHLD:
		reap_children();
		break;
	}
}

static int
bind_listener(const struct listen_conf *l)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int fd, on = 1;
	const char *addr = l->addr;

	memset(&ss, 0, sizeof(ss));
	if (strcmp(addr, "localhost") == 0)
		addr = "127.0.0.1";
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(l->port);
		len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(l->port);
		len = sizeof(*sin6);
	} else
		fatalx("listen on %s: not an address", l->addr);
	if ((fd = socket(ss.ss_family,
		 SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		fatal("SO_REUSEADDR");
	if (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)
		fatal("IPV6_V6ONLY");
	if (bind(fd, (struct sockaddr *)&ss, len) == -1)
		fatal("listen on %s port %u", l->addr, l->port);
	if (listen(fd, 1024) == -1)
		fatal("listen");
	return fd;
}

static void
control_group_free(struct control_group *g)
{
	free(g->uids);
	memset(g, 0, sizeof(*g));
}

static int
control_group_add(struct control_group *g, uid_t uid)
{
	size_t i;

	for (i = 0; i < g->nuids; i++)
		if (g->uids[i] == uid)
			return 0;
	if (g->nuids >= CONTROL_GROUP_MEMBERS_MAX)
		return -1;
	g->uids = xreallocarray(g->uids, g->nuids + 1, sizeof(*g->uids));
	g->uids[g->nuids++] = uid;
	return 0;
}

/*
 * The group of "control socket ... group NAME" and its members, read now
 * so that control, which cannot read /etc/group in its jail, can check
 * every peer against them.
 */
static int
control_group_resolve(
    const char *name, struct control_group *g, char *err, size_t errsz)
{
	struct group *gr;
	struct passwd *pw;
	char **member;

	memset(g, 0, sizeof(*g));
	if (name[0] == '\0')
		return 0;
	errno = 0;
	if ((gr = getgrnam(name)) == NULL) {
		if (errno == 0 || errno == ENOENT || errno == ESRCH)
			snprintf(err, errsz,
			    "control socket group %s does not exist", name);
		else
			snprintf(err, errsz, "control socket group %s: %s",
			    name, strerror(errno));
		return -1;
	}
	strlcpy(g->name, name, sizeof(g->name));
	g->gid = gr->gr_gid;
	for (member = gr->gr_mem; *member != NULL; member++)
		if ((pw = getpwnam(*member)) != NULL &&
		    control_group_add(g, pw->pw_uid) == -1)
			goto toomany;
	setpwent();
	while ((pw = getpwent()) != NULL)
		if (pw->pw_gid == g->gid &&
		    control_group_add(g, pw->pw_uid) == -1) {
			endpwent();
			goto toomany;
		}
	endpwent();
	return 0;
toomany:
	snprintf(err, errsz, "control socket group %s: more than %d members",
	    name, CONTROL_GROUP_MEMBERS_MAX);
	control_group_free(g);
	return -1;
}

/* a directory on the way that the group cannot pass keeps it out */
static void
control_group_check_path(const char *path, const struct control_group *g)
{
	struct stat st;
	char dir[PATH_MAX], *slash;

	strlcpy(dir, path, sizeof(dir));
	while ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (stat(dir, &st) == -1)
			continue;
		if ((st.st_mode & S_IXOTH) ||
		    (st.st_gid == g->gid && (st.st_mode & S_IXGRP)))
			continue;
		log_warnx("control socket group %s: its members cannot reach "
			  "%s, since %s is mode %04o, owner %u:%u",
		    g->name, path, dir, (unsigned)(st.st_mode & 07777),
		    (unsigned)st.st_uid, (unsigned)st.st_gid);
	}
}

/* without a group the socket is its owner's; with one, the group's too */
static int
control_socket_mode(
    const char *path, const struct control_group *g, char *err, size_t errsz)
{
	struct stat st;
	gid_t gid = g->name[0] != '\0' ? g->gid : getegid();
	mode_t mode = g->name[0] != '\0' ? 0660 : 0600;

	if (lstat(path, &st) == -1) {
		snprintf(
		    err, errsz, "control socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errsz, "control socket %s: not a socket", path);
		return -1;
	}
	if (lchown(path, (uid_t)-1, gid) == -1) {
		snprintf(err, errsz, "control socket %s: chown to group %s: %s",
		    path, g->name[0] != '\0' ? g->name : "of boxd",
		    strerror(errno));
		return -1;
	}
	if (chmod(path, mode) == -1) {
		snprintf(
		    err, errsz, "control socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (g->name[0] != '\0')
		control_group_check_path(path, g);
	return 0;
}

static void
send_control_group(void)
{
	struct msg_writer w;
	size_t i;

	msg_writer_init(&w);
	msg_put_str(&w, control_group.name);
	msg_put_u32(&w, (uint32_t)control_group.gid);
	msg_put_u32(&w, (uint32_t)control_group.nuids);
	for (i = 0; i < control_group.nuids; i++)
		msg_put_u32(&w, (uint32_t)control_group.uids[i]);
	if (imsgev_compose_msg(&procs[PROC_CONTROL].iev,
		IMSG_CONF_CONTROL_GROUP, 0, -1, &w) == -1)
		fatal("send control group");
}

static int
bind_control(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	char dir[PATH_MAX], *slash, err[PATH_MAX + 128];
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("control socket path too long: %s", path);
	strlcpy(dir, path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		/* ours is 0755 whatever the umask: the group must pass */
		if (stat(dir, &st) == -1 &&
		    (mkdir_p(dir, 0755) == -1 || chmod(dir, 0755) == -1))
			fatal("%s", dir);
	}
	if ((fd = socket(
		 AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (unlink(path) == -1 && errno != ENOENT)
		fatal("unlink %s", path);
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", path);
	umask(old);
	if (control_socket_mode(path, &control_group, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (listen(fd, 16) == -1)
		fatal("listen %s", path);
	return fd;
}

/* a directory of the storage tree, owned by user (NULL: root's) */
static void
prepare_dir(const char *sub, const char *user, mode_t mode)
{
	struct passwd *pw;
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", conf.storage, sub) >=
	    sizeof(path))
		fatalx("storage path too long");
	if (mkdir_p(path, mode) == -1)
		fatal("%s", path);
	if (!privsep_is_root() || user == NULL)
		return;
	if ((pw = getpwnam(user)) == NULL)
		fatalx("no user %s", user);
	if (chown(path, pw->pw_uid, pw->pw_gid) == -1 ||
	    chmod(path, mode) == -1)
		fatal("%s", path);
}

/* the storage tree: each role's directory is its own (boxd/role.c) */
static void
prepare_storage(void)
{
	const struct role *r;
	int i;

	prepare_dir("", NULL, 0755);
	prepare_dir("empty", NULL, 0555);
	for (i = PROC_PARENT + 1; i < PROC_COUNT; i++) {
		r = role_get(i);
		if (r->jail != NULL)
			prepare_dir(r->jail, r->user, 0700);
	}
	/* the signer's keys, which the parent reads for it */
	prepare_dir(DKIM_KEYS_DIR, proc_user(PROC_SIGNER), 0700);
}

static void
check_users(void)
{
	int i, missing = 0;

	if (!privsep_is_root()) {
		log_info("not started as root: every role runs as this user, "
			 "without chroot (seccomp stays on)");
		return;
	}
	for (i = PROC_PARENT + 1; i < PROC_COUNT; i++) {
		if (getpwnam(proc_user(i)) != NULL)
			continue;
		fprintf(stderr,
		    "boxd: user %s does not exist; create it "
		    "with:\n  useradd --system --no-create-home "
		    "--home-dir /nonexistent --shell /usr/sbin/nologin %s\n",
		    proc_user(i), proc_user(i));
		missing = 1;
	}
	if (missing)
		exit(1);
}

/*
 * In the child of role a: its ends of the channels (ends[b], -1 where
 * there is none) into place at proc_fd(b), then exec.
 */
static void __attribute__((noreturn))
exec_child(const char *self, enum proc_type a, const int ends[PROC_COUNT])
{
	int mine[PROC_COUNT];
	char *argv[8];
	int argc, b, fd;

	/* first out of the way of every proc_fd(), then into place */
	for (b = 0; b < PROC_COUNT; b++) {
		mine[b] = -1;
		if (ends[b] != -1 &&
		    (mine[b] = fcntl(ends[b], F_DUPFD, proc_fd(PROC_COUNT))) ==
			-1)
			_exit(1);
	}
	for (b = 0; b < PROC_COUNT; b++)
		if (mine[b] != -1 && dup2(mine[b], proc_fd(b)) == -1)
			_exit(1);
	closefrom(proc_fd(PROC_COUNT));
	/*
	 * No terminal for a role, even under -d (whose log stays on stdout
	 * and stderr): nothing to read from it, and no session of its own to
	 * push input into (TIOCSTI) or to signal.
	 */
	if ((fd = open(_PATH_DEVNULL, O_RDONLY)) == -1 ||
	    dup2(fd, STDIN_FILENO) == -1 ||
	    (fd != STDIN_FILENO && close(fd) == -1) || setsid() == -1)
		_exit(1);
	argc = 0;
	argv[argc++] = "boxd";
	argv[argc++] = "-P";
	argv[argc++] = (char *)proc_name(a);
	if (opt_foreground)
		argv[argc++] = "-d";
	if (opt_verbose)
		argv[argc++] = "-v";
	if (opt_sandbox_debug)
		argv[argc++] = "-S";
	argv[argc] = NULL;
	execv(self, argv);
	_exit(127);
}

static void
channel_pair(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		fds) == -1)
		fatal("socketpair");
}

/*
 * One role after the other: each child's channels are made just before
 * it is forked, and the parent keeps only its own ends and those of
 * roles not yet started, so that it needs few descriptors at any time.
 */
static void
start_children(const char *self)
{
	/* ends[a][b]: role a's end of its channel to b, until a starts */
	int ends[PROC_COUNT][PROC_COUNT];
	int a, b, pair[2];
	pid_t pid;

	for (a = 0; a < PROC_COUNT; a++)
		for (b = 0; b < PROC_COUNT; b++)
			ends[a][b] = -1;
	for (a = PROC_PARENT + 1; a < PROC_COUNT; a++) {
		channel_pair(pair);
		ends[PROC_PARENT][a] = pair[0];
		ends[a][PROC_PARENT] = pair[1];
		/* the channels to roles started later; earlier ones made ours
		 */
		for (b = a + 1; b < PROC_COUNT; b++) {
			if (!proc_linked(a, b))
				continue;
			channel_pair(pair);
			ends[a][b] = pair[0];
			ends[b][a] = pair[1];
		}
		if ((pid = fork()) == -1)
			fatal("fork");
		if (pid == 0)
			exec_child(self, a, ends[a]);
		for (b = 0; b < PROC_COUNT; b++)
			if (ends[a][b] != -1) {
				close(ends[a][b]);
				ends[a][b] = -1;
			}
		procs[a].role = a;
		procs[a].pid = pid;
		procs[a].started = time(NULL);
		procs[a].iev.name = proc_name(a);
		procs[a].iev.peer = a;
		procs[a].iev.on_close = parent_channel_closed;
		imsgev_init(&procs[a].iev, base, ends[PROC_PARENT][a],
		    IMSG_MAX_SIZE, parent_dispatch, &procs[a]);
		/* the key goes out this way: no copy stays behind */
		procs[a].iev.ibuf.wipe =
		    role_get(a)->tls_server || role_get(a)->dkim_keys;
	}
}

static void
configure_children(const struct tls_files *tls)
{
	int i;

	for (i = PROC_PARENT + 1; i < PROC_COUNT; i++) {
		send_config(&procs[i], IMSG_CONF_START);
		if (role_get(i)->tls_server)
			send_tls(&procs[i], tls);
		if (role_get(i)->dkim_keys)
			dkim_files_send(
			    &procs[i].iev, conf.storage, ++dkim_gen);
		imsgev_compose(&procs[i].iev, IMSG_CONF_END, 0, -1, NULL, 0);
	}
}

static void
run_role(const char *role)
{
	int r;

	if ((r = proc_from_name(role)) <= PROC_PARENT)
		errx(1, "unknown role %s", role);
	log_init(opt_foreground, opt_verbose, "boxd");
	log_procname(role);
	sandbox_set_debug(opt_sandbox_debug);
	setproctitle("%s", role);
	role_run(r);
}

int
main(int argc, char *argv[])
{
	struct event *sig[4];
	static const int signals[4] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};
	struct tls_files tls;
	char errbuf[PATH_MAX + 256], self[PATH_MAX], *text;
	const char *role = NULL;
	ssize_t n;
	size_t i;
	int ch, opt_check = 0;

	setproctitle_init(argc, argv, environ);
	while ((ch = getopt(argc, argv, "df:nP:Sv")) != -1) {
		switch (ch) {
		case 'd':
			opt_foreground = 1;
			break;
		case 'f':
			if (strlcpy(conffile, optarg, sizeof(conffile)) >=
			    sizeof(conffile))
				errx(1, "config path too long");
			break;
		case 'n':
			opt_check = 1;
			break;
		case 'P':
			role = optarg;
			break;
		case 'S':
			opt_sandbox_debug = 1;
			break;
		case 'v':
			opt_verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (argc != optind)
		usage();
	if (role != NULL)
		run_role(role);

	if (config_parse(&conf, conffile, errbuf, sizeof(errbuf)) == -1) {
		fprintf(stderr, "%s\n", errbuf);
		exit(1);
	}
	if (load_tls(&conf, &tls, errbuf, sizeof(errbuf)) == -1 ||
	    check_tls(&conf, &tls, errbuf, sizeof(errbuf)) == -1) {
		fprintf(stderr, "%s: tls: %s\n", conffile, errbuf);
		exit(1);
	}
	if (control_group_resolve(conf.control_group, &control_group, errbuf,
		sizeof(errbuf)) == -1) {
		fprintf(stderr, "%s: %s\n", conffile, errbuf);
		exit(1);
	}
	if (opt_check) {
		if (opt_verbose) {
			if ((text = config_print(&conf)) == NULL)
				err(1, "config_print");
			fputs(text, stdout);
			free(text);
		} else
			printf("configuration OK\n");
		exit(0);
	}
	if (opt_verbose)
		conf.log_level = LOG_LEVEL_DEBUG;
	check_users();
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		err(1, "readlink /proc/self/exe");
	self[n] = '\0';

	log_init(1, conf.log_level, "boxd");
	log_procname("parent");
	prepare_storage();
	for (i = 0; i < conf.nlisteners; i++)
		listen_fds[i] = bind_listener(&conf.listeners[i]);
	control_fd = bind_control(conf.control_socket);
	if (!opt_foreground) {
		if (daemon(1, 0) == -1)
			fatal("daemon");
		log_init(0, conf.log_level, "boxd");
		log_procname("parent");
	}
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	for (i = 0; i < 4; i++) {
		sig[i] = evsignal_new(base, signals[i], parent_signal, NULL);
		evsignal_add(sig[i], NULL);
	}
	procs[PROC_PARENT].pid = getpid();
	procs[PROC_PARENT].started = time(NULL);
	start_children(self);
	configure_children(&tls);
	tls_files_free(&tls);
	log_info("boxd %s starting: %zu listeners, storage %s", BOXD_VERSION,
	    conf.nlisteners, conf.storage);
	event_base_dispatch(base);
	unlink(conf.control_socket);
	log_info("stopped");
	return exit_status;
}
