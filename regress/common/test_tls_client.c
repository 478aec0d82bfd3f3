/*
 * tls.c and tls_server.c against real peers: the client context talks to
 * `openssl s_server` with a self-signed certificate made here (not
 * verified against the system's trust store; verified with the
 * certificate as CA file, and only for the name it carries), and to the
 * lazy server context of tls_server.c over a socketpair, whose reload
 * and forgetting of the key are checked too.
 */

#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common.h"
#include "test.h"

#define WAIT_MS 20000 /* s_server's start, a handshake */

static char tmpdir[] = "/tmp/boxd-test-tls.XXXXXX";
static char cert_path[64], key_path[64];
static struct event_base *base;
/* what s_server says: read until ACCEPT, then left in the pipe */
static int s_server_out = -1;

/* one side of a conversation: send a line, read a line */
struct peer {
	struct bufferevent *bev;
	const char *send; /* once connected (NULL: at once) */
	char got[256];
	int connected;
	int done; /* a line came, or the connection failed */
	int failed;
};

static void
peer_read(struct bufferevent *bev, void *arg)
{
	struct peer *p = arg;
	char *line;

	if ((line = evbuffer_readln(
		 bufferevent_get_input(bev), NULL, EVBUFFER_EOL_CRLF)) == NULL)
		return;
	strlcpy(p->got, line, sizeof(p->got));
	free(line);
	p->done = 1;
}

static void
peer_event(struct bufferevent *bev, short events, void *arg)
{
	struct peer *p = arg;

	if (events & BEV_EVENT_CONNECTED) {
		p->connected = 1;
		if (p->send != NULL)
			bufferevent_write(bev, p->send, strlen(p->send));
		return;
	}
	if (events & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		p->failed = 1;
		p->done = 1;
	}
}

static void
peer_start(struct peer *p, struct bufferevent *bev, const char *send)
{
	memset(p, 0, sizeof(*p));
	p->bev = bev;
	p->send = send;
	bufferevent_setcb(bev, peer_read, NULL, peer_event, p);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* turn the loop until both are done, or WAIT_MS */
static void
loop_until_done(struct peer *a, struct peer *b)
{
	struct timeval tv = {0, 20000};
	uint64_t end = now_ms() + WAIT_MS;

	while ((!a->done || (b != NULL && !b->done)) && now_ms() < end) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static int
run(const char *cmd)
{
	int status = system(cmd);

	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port = -1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/*
 * openssl s_server on 127.0.0.1:port, reversing each line it gets (-rev);
 * returns once it says ACCEPT, or -1.
 */
static pid_t
s_server_start(int port)
{
	char accept[32], buf[512];
	struct pollfd pfd;
	uint64_t end = now_ms() + WAIT_MS;
	size_t off = 0;
	ssize_t n;
	pid_t pid;
	int fds[2], devnull;

	snprintf(accept, sizeof(accept), "127.0.0.1:%d", port);
	if (pipe(fds) == -1 || (pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		/* what it says about each connection goes nowhere */
		if ((devnull = open("/dev/null", O_WRONLY)) != -1)
			dup2(devnull, 2);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execlp("openssl", "openssl", "s_server", "-accept", accept,
		    "-cert", cert_path, "-key", key_path, "-rev", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	buf[0] = '\0';
	while (strstr(buf, "ACCEPT") == NULL && now_ms() < end &&
	    off < sizeof(buf) - 1 &&
	    poll(&pfd, 1, (int)(end - now_ms())) == 1) {
		if ((n = read(fds[0], buf + off, sizeof(buf) - 1 - off)) <= 0)
			break;
		off += (size_t)n;
		buf[off] = '\0';
	}
	if (strstr(buf, "ACCEPT") == NULL) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		close(fds[0]);
		return -1;
	}
	/* a few lines per connection: the pipe holds them until the end */
	s_server_out = fds[0];
	return pid;
}

static int
connect_port(int port)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* one line to s_server and its reversal back; the verification result */
static int
talk_to_s_server(int port, void *ctx, const char *host, const char *name,
    char *why, size_t whysz)
{
	struct bufferevent *bev;
	struct peer p;
	char info[128], check[128];
	int fd, verified;

	if ((fd = connect_port(port)) == -1 ||
	    (bev = tls_connect_bufferevent(base, fd, ctx, host)) == NULL) {
		snprintf(check, sizeof(check), "%s: connect", name);
		CHECK(check, 0);
		return -1;
	}
	peer_start(&p, bev, "hello boxd\n");
	loop_until_done(&p, NULL);
	snprintf(check, sizeof(check), "%s: handshake", name);
	CHECK(check, p.connected);
	snprintf(check, sizeof(check), "%s: a line each way", name);
	CHECK(check, !p.failed && strcmp(p.got, "dxob olleh") == 0);
	tls_info(bev, info, sizeof(info));
	snprintf(check, sizeof(check), "%s: tls_info", name);
	CHECK(check, strncmp(info, "TLSv1.", 6) == 0 && strchr(info, ' '));
	verified = tls_verified(bev, why, whysz);
	bufferevent_free(bev);
	return verified;
}

static void
test_s_server(void)
{
	char err[256] = "", why[128];
	void *sys, *ca;
	pid_t pid;
	int port;

	if ((port = free_port()) == -1 || (pid = s_server_start(port)) == -1) {
		CHECK("openssl s_server started", 0);
		return;
	}
	CHECK("openssl s_server started", 1);

	sys = tls_client_ctx(NULL, err, sizeof(err));
	CHECK("client context, system trust store", sys != NULL);
	if (sys != NULL) {
		CHECK("self-signed: not verified",
		    talk_to_s_server(port, sys, "localhost", "system store",
			why, sizeof(why)) == 0);
		CHECK("self-signed: why", strstr(why, "self") != NULL);
		tls_ctx_free(sys);
	}

	ca = tls_client_ctx(cert_path, err, sizeof(err));
	CHECK("client context, CA file", ca != NULL);
	if (ca != NULL) {
		CHECK("its CA: verified",
		    talk_to_s_server(port, ca, "localhost", "CA file", why,
			sizeof(why)) == 1);
		CHECK("its CA: why", strcmp(why, "verified") == 0);
		CHECK("another name: not verified",
		    talk_to_s_server(port, ca, "other.test", "other name", why,
			sizeof(why)) == 0);
		CHECK("another name: why", strstr(why, "mismatch") != NULL);
		tls_ctx_free(ca);
	}

	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	close(s_server_out);
}

static void
test_bad_cafile(void)
{
	char err[256] = "", path[128];
	void *ctx;

	snprintf(path, sizeof(path), "%s/missing.pem", tmpdir);
	ctx = tls_client_ctx(path, err, sizeof(err));
	CHECK("missing CA file refused", ctx == NULL);
	CHECK("missing CA file named", strstr(err, path) != NULL);
	tls_ctx_free(ctx);
}

static char *
slurp(const char *path)
{
	char *buf;
	FILE *fp;
	long n;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == -1 || (n = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) == -1 || (buf = calloc(1, n + 1)) == NULL) {
		fclose(fp);
		return NULL;
	}
	if (fread(buf, 1, n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	return buf;
}

/* an IMSG_CONF_TLS body, as the parent sends it */
static int
pem_message(
    struct tls_server *ts, int reload, const char *cert, const char *key)
{
	struct msg_writer w;
	struct msg_reader r;
	int rv;

	msg_writer_init(&w);
	msg_put_str(&w, cert);
	msg_put_str(&w, key);
	msg_reader_init(&r, w.buf, w.len);
	rv = reload ? tls_server_reload(ts, &r) : tls_server_set_pem(ts, &r);
	msg_writer_free(&w);
	return rv;
}

/* our server context and our client, on both ends of a socketpair */
static void
test_tls_server(void)
{
	struct tls_server ts;
	struct peer srv, cli;
	struct bufferevent *sb, *cb;
	struct msg_reader r;
	char *cert, *key, err[256] = "", why[128], info[128];
	void *ctx, *ctx2, *client;
	int sv[2];

	cert = slurp(cert_path);
	key = slurp(key_path);
	if (cert == NULL || key == NULL) {
		CHECK("certificate files", 0);
		return;
	}
	tls_server_init(&ts, cert_path, key_path);
	CHECK("no certificate: no TLS", !tls_server_available(&ts));
	CHECK("no certificate: no context", tls_server_ctx(&ts) == NULL);
	msg_reader_init(&r, "\0\0", 2);
	CHECK("malformed PEM message", tls_server_set_pem(&ts, &r) == -1);
	CHECK("malformed: nothing kept", !tls_server_available(&ts));

	CHECK("PEM message", pem_message(&ts, 0, cert, key) == 0);
	CHECK("available before use", tls_server_available(&ts));
	CHECK("no context before use", ts.ctx == NULL);
	ctx = tls_server_ctx(&ts);
	CHECK("context on first use", ctx != NULL);
	CHECK("key forgotten once used",
	    ts.key_pem == NULL && ts.cert_pem == NULL);
	CHECK("available after use", tls_server_available(&ts));
	CHECK("the same context next time", tls_server_ctx(&ts) == ctx);

	CHECK("reload", pem_message(&ts, 1, cert, key) == 0);
	ctx2 = ts.ctx;
	CHECK("a context in use is replaced at once",
	    ctx2 != NULL && ts.key_pem == NULL);
	CHECK("reload with a broken key", pem_message(&ts, 1, cert, "x") == 0);
	CHECK("a broken key keeps the context in use",
	    ts.ctx == ctx2 && ts.key_pem == NULL);

	client = tls_client_ctx(cert_path, err, sizeof(err));
	if (client == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1) {
		CHECK("client context and socketpair", 0);
		return;
	}
	sb = tls_accept_bufferevent(base, sv[0], tls_server_ctx(&ts));
	cb = tls_connect_bufferevent(base, sv[1], client, "localhost");
	CHECK("both ends", sb != NULL && cb != NULL);
	if (sb != NULL && cb != NULL) {
		peer_start(&srv, sb, "from server\r\n");
		peer_start(&cli, cb, "from client\r\n");
		loop_until_done(&srv, &cli);
		CHECK("server got the client's line",
		    strcmp(srv.got, "from client") == 0);
		CHECK("client got the server's line",
		    strcmp(cli.got, "from server") == 0);
		tls_info(cb, info, sizeof(info));
		CHECK("client tls_info", strncmp(info, "TLSv1.", 6) == 0);
		tls_info(sb, info, sizeof(info));
		CHECK("server tls_info", strncmp(info, "TLSv1.", 6) == 0);
		CHECK("our certificate verified",
		    tls_verified(cb, why, sizeof(why)) == 1);
	}
	if (sb != NULL)
		bufferevent_free(sb);
	if (cb != NULL)
		bufferevent_free(cb);
	tls_ctx_free(client);
	tls_ctx_free(ts.ctx);
	tls_server_forget(&ts);
	free(cert);
	free(key);
}

int
main(void)
{
	char cmd[512];

	signal(SIGPIPE, SIG_IGN);
	log_init(1, LOG_LEVEL_INFO, "test_tls_client");
	if (mkdtemp(tmpdir) == NULL) {
		CHECK("temporary directory", 0);
		TEST_EXIT();
	}
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmpdir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", tmpdir);
	snprintf(cmd, sizeof(cmd),
	    "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost "
	    "-addext subjectAltName=DNS:localhost -keyout %s -out %s "
	    "2>/dev/null",
	    key_path, cert_path);
	CHECK("self-signed certificate", run(cmd));
	if ((base = event_base_new()) == NULL) {
		CHECK("event base", 0);
		TEST_EXIT();
	}
	tls_load();
	test_bad_cafile();
	test_tls_server();
	test_s_server();
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	run(cmd);
	TEST_EXIT();
}
