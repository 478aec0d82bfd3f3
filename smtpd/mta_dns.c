/*
 * mta's DNS: libunbound, loaded with dlopen() like the TLS libraries (no
 * other role maps it), resolving in a thread of its own and answering
 * through a pipe that the role's event loop watches.  A route lookup is
 * the MX query, then the AAAA and A queries of every MX host at once,
 * all under one deadline; the answers go through mta_route.c's checks.
 * The caller's callback runs from an event of its own, never from inside
 * ub_process(), so it may start, cancel or free anything.
 */

#include <sys/queue.h>

#include <arpa/inet.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <unbound.h>

#include "smtpd.h"

#ifndef DNS_LIBUNBOUND
#define DNS_LIBUNBOUND "libunbound.so.8"
#endif

#define DNS_TYPE_A    1
#define DNS_TYPE_MX   15
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN  1

#define DNS_RCODE_NOERROR  0
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3

#define DNS_FUNCTIONS(X)     \
	X(ub_ctx_create)     \
	X(ub_ctx_delete)     \
	X(ub_ctx_set_option) \
	X(ub_ctx_set_fwd)    \
	X(ub_ctx_resolvconf) \
	X(ub_ctx_hosts)      \
	X(ub_ctx_async)      \
	X(ub_fd)             \
	X(ub_process)        \
	X(ub_wait)           \
	X(ub_resolve_async)  \
	X(ub_cancel)         \
	X(ub_resolve_free)   \
	X(ub_strerror)

#define DNS_POINTER(name) __typeof__(name) *name;
static struct {
	DNS_FUNCTIONS(DNS_POINTER)
} ub;

#define DNS_LOOKUP(name)                                                  \
	if ((ub.name = (__typeof__(ub.name))dlsym(lib, #name)) == NULL) { \
		snprintf(err, errsz, "%s: %s", #name, dlerror());         \
		return -1;                                                \
	}

enum dns_kind {
	DNS_MX,
	DNS_AAAA,
	DNS_A,
};

/* one question to libunbound; its answer finds the query through it */
struct dns_question {
	struct mta_route_query *query;
	enum dns_kind kind;
	uint32_t host; /* AAAA, A: the route's host it is for */
	int async_id;
	int pending;
};

struct mta_route_query {
	TAILQ_ENTRY(mta_route_query) entry;
	struct mta_dns *dns;
	mta_route_cb cb;
	void *arg;
	struct event *deadline;
	struct event *finish; /* the callback's own event */
	uint32_t npending;
	struct dns_question questions[1 + 2 * MTA_ROUTE_HOSTS_MAX];
	uint32_t nquestions;
	struct mta_route route;
};

struct mta_dns {
	struct event_base *base;
	struct ub_ctx *ctx;
	struct event *ev; /* the answers' pipe is readable */
	TAILQ_HEAD(, mta_route_query) queries;
};

static void dns_answer(void *, int, struct ub_result *);

static int
dns_load(char *err, size_t errsz)
{
	void *lib;

	if (ub.ub_ctx_create != NULL)
		return 0;
	if ((lib = dlopen(DNS_LIBUNBOUND, RTLD_NOW)) == NULL) {
		snprintf(err, errsz, "cannot load %s: %s", DNS_LIBUNBOUND,
		    dlerror());
		return -1;
	}
	DNS_FUNCTIONS(DNS_LOOKUP)
	return 0;
}

static void
dns_readable(evutil_socket_t fd, short events, void *arg)
{
	struct mta_dns *dns = arg;
	int rv;

	/* the thread's pipe broke: this process's own channel */
	if ((rv = ub.ub_process(dns->ctx)) != 0)
		fatalx("resolver: %s", ub.ub_strerror(rv));
}

static void
dns_warmup(void *arg, int err, struct ub_result *res)
{
	if (res != NULL)
		ub.ub_resolve_free(res);
}

/* a setting libunbound must take: 0, or -1 and err */
static int
dns_option(struct ub_ctx *ctx, const char *opt, const char *val, char *err,
    size_t errsz)
{
	int rv;

	if ((rv = ub.ub_ctx_set_option(ctx, opt, val)) != 0) {
		snprintf(err, errsz, "resolver option %s %s: %s", opt, val,
		    ub.ub_strerror(rv));
		return -1;
	}
	return 0;
}

struct mta_dns *
mta_dns_new(struct event_base *base, const char *resolver, uint16_t port,
    char *err, size_t errsz)
{
	struct mta_dns *dns;
	char fwd[INET6_ADDRSTRLEN + 8];
	uint8_t addr[16];
	int rv;

	if (dns_load(err, errsz) == -1)
		return NULL;
	if ((dns = calloc(1, sizeof(*dns))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	dns->base = base;
	TAILQ_INIT(&dns->queries);
	if ((dns->ctx = ub.ub_ctx_create()) == NULL) {
		snprintf(err, errsz, "cannot create a resolver context");
		goto fail;
	}
	/*
	 * A thread rather than a forked process resolves: nothing to reap.  The
	 * resolver may be on loopback (a local unbound, the tests' server),
	 * which unbound refuses by default.  RFC 6761's .test is served from a
	 * built-in empty zone, and the tests' names live there: a transparent
	 * zone sends its questions on (nodefault and ub_ctx_zone_remove() do
	 * not, in libunbound 1.17).
	 */
	if ((rv = ub.ub_ctx_async(dns->ctx, 1)) != 0) {
		snprintf(err, errsz, "resolver thread: %s", ub.ub_strerror(rv));
		goto fail;
	}
	if (dns_option(dns->ctx, "do-not-query-localhost:", "no", err, errsz) ==
		-1 ||
	    dns_option(
		dns->ctx, "local-zone:", "test. transparent", err, errsz) == -1)
		goto fail;
	if (resolver[0] != '\0') {
		if (inet_pton(AF_INET, resolver, addr) != 1 &&
		    inet_pton(AF_INET6, resolver, addr) != 1) {
			snprintf(err, errsz, "resolver %s: not an IP address",
			    resolver);
			goto fail;
		}
		snprintf(
		    fwd, sizeof(fwd), "%s@%u", resolver, port == 0 ? 53 : port);
		if ((rv = ub.ub_ctx_set_fwd(dns->ctx, fwd)) != 0) {
			snprintf(err, errsz, "resolver %s: %s", fwd,
			    ub.ub_strerror(rv));
			goto fail;
		}
	} else {
		if ((rv = ub.ub_ctx_resolvconf(dns->ctx, NULL)) != 0) {
			snprintf(err, errsz, "/etc/resolv.conf: %s",
			    ub.ub_strerror(rv));
			goto fail;
		}
		/* the admin's overrides, as every other program sees them */
		if ((rv = ub.ub_ctx_hosts(dns->ctx, NULL)) != 0)
			log_warnx("/etc/hosts: %s", ub.ub_strerror(rv));
	}
	/*
	 * libunbound starts its thread at the first question: ask one now,
	 * that its built-in localhost zone answers without the network, and
	 * wait for the answer, so that the thread has started (its rseq and
	 * robust list set) before the role's seccomp filter, which covers
	 * every thread, and the filter needs no clone().
	 */
	if ((rv = ub.ub_resolve_async(dns->ctx, "localhost.", DNS_TYPE_A,
		 DNS_CLASS_IN, NULL, dns_warmup, NULL)) != 0 ||
	    (rv = ub.ub_wait(dns->ctx)) != 0) {
		snprintf(err, errsz, "resolver thread: %s", ub.ub_strerror(rv));
		goto fail;
	}
	if ((dns->ev = event_new(base, ub.ub_fd(dns->ctx), EV_READ | EV_PERSIST,
		 dns_readable, dns)) == NULL ||
	    event_add(dns->ev, NULL) == -1) {
		snprintf(err, errsz, "cannot watch the resolver");
		goto fail;
	}
	return dns;
fail:
	if (dns->ev != NULL)
		event_free(dns->ev);
	if (dns->ctx != NULL)
		ub.ub_ctx_delete(dns->ctx);
	free(dns);
	return NULL;
}

/* every question still out is withdrawn: its answer will not come */
static void
query_cancel_questions(struct mta_route_query *q)
{
	uint32_t i;

	for (i = 0; i < q->nquestions; i++) {
		if (!q->questions[i].pending)
			continue;
		ub.ub_cancel(q->dns->ctx, q->questions[i].async_id);
		q->questions[i].pending = 0;
	}
	q->npending = 0;
}

static void
query_free(struct mta_route_query *q)
{
	query_cancel_questions(q);
	TAILQ_REMOVE(&q->dns->queries, q, entry);
	event_free(q->deadline);
	event_free(q->finish);
	free(q);
}

void
mta_route_cancel(struct mta_route_query *q)
{
	query_free(q);
}

void
mta_dns_free(struct mta_dns *dns)
{
	struct mta_route_query *q;

	if (dns == NULL)
		return;
	while ((q = TAILQ_FIRST(&dns->queries)) != NULL)
		query_free(q);
	event_free(dns->ev);
	ub.ub_ctx_delete(dns->ctx);
	free(dns);
}

/* the lookup is over: its callback runs from the loop */
static void
query_done(struct mta_route_query *q)
{
	query_cancel_questions(q);
	evtimer_del(q->deadline);
	mta_route_finish(&q->route);
	event_active(q->finish, EV_TIMEOUT, 0);
}

static void
query_finish(evutil_socket_t fd, short events, void *arg)
{
	struct mta_route_query *q = arg;

	q->cb(&q->route, q->arg);
	query_free(q);
}

static void
query_deadline(evutil_socket_t fd, short events, void *arg)
{
	struct mta_route_query *q = arg;
	uint32_t i;

	for (i = 0; i < q->nquestions; i++) {
		if (!q->questions[i].pending)
			continue;
		if (q->questions[i].kind == DNS_MX)
			mta_route_fail(&q->route, MTA_ROUTE_TEMPFAIL, "4.4.3",
			    "DNS lookup of the MX of %s timed out",
			    q->route.domain);
		else
			q->route.hosts[q->questions[i].host].tempfail = 1;
	}
	query_done(q);
}

/* 0, or -1 with the route failed for now */
static int
query_ask(struct mta_route_query *q, const char *name, enum dns_kind kind,
    uint32_t host)
{
	struct dns_question *d;
	int rv, type;

	if (q->nquestions == sizeof(q->questions) / sizeof(q->questions[0]))
		fatalx("%s: too many questions", __func__);
	d = &q->questions[q->nquestions];
	d->query = q;
	d->kind = kind;
	d->host = host;
	type = kind == DNS_MX  ? DNS_TYPE_MX
	    : kind == DNS_AAAA ? DNS_TYPE_AAAA
			       : DNS_TYPE_A;
	if ((rv = ub.ub_resolve_async(q->dns->ctx, name, type, DNS_CLASS_IN, d,
		 dns_answer, &d->async_id)) != 0) {
		log_warnx("resolver: %s: %s", name, ub.ub_strerror(rv));
		if (kind == DNS_MX)
			mta_route_fail(&q->route, MTA_ROUTE_TEMPFAIL, "4.4.3",
			    "DNS lookup of %s failed: %s", name,
			    ub.ub_strerror(rv));
		else
			q->route.hosts[host].tempfail = 1;
		return -1;
	}
	d->pending = 1;
	q->nquestions++;
	q->npending++;
	return 0;
}

static const char *
dns_rcode_name(int rcode)
{
	switch (rcode) {
	case 1:
		return "FORMERR";
	case DNS_RCODE_SERVFAIL:
		return "SERVFAIL";
	case 4:
		return "NOTIMP";
	case 5:
		return "REFUSED";
	default:
		return "error";
	}
}

/* the name a CNAME chain ended at, lower-cased, without its dot: 1 */
static int
dns_canonname(const char *canon, char *name, size_t size)
{
	size_t len, i;

	if (canon == NULL)
		return 0;
	len = strlen(canon);
	if (len > 0 && canon[len - 1] == '.')
		len--;
	if (len == 0 || len >= size)
		return 0;
	for (i = 0; i < len; i++)
		name[i] = canon[i] >= 'A' && canon[i] <= 'Z'
		    ? canon[i] - 'A' + 'a'
		    : canon[i];
	name[len] = '\0';
	return mta_hostname_valid(name);
}

/* every host's AAAA and A, all at once */
static void
query_ask_hosts(struct mta_route_query *q)
{
	uint32_t i;

	for (i = 0; i < q->route.nhosts; i++) {
		query_ask(q, q->route.hosts[i].name, DNS_AAAA, i);
		query_ask(q, q->route.hosts[i].name, DNS_A, i);
	}
}

static void
answer_mx(struct mta_route_query *q, int err, struct ub_result *res)
{
	struct mta_route *r = &q->route;
	struct mta_mx mx[MTA_ROUTE_MX_MAX], one;
	size_t n = 0;
	int i;

	if (err != 0) {
		mta_route_fail(r, MTA_ROUTE_TEMPFAIL, "4.4.3",
		    "DNS lookup of the MX of %s failed: %s", r->domain,
		    ub.ub_strerror(err));
		return;
	}
	if (res->rcode == DNS_RCODE_NXDOMAIN || res->nxdomain) {
		mta_route_fail(r, MTA_ROUTE_PERMFAIL, "5.1.2",
		    "domain %s does not exist", r->domain);
		return;
	}
	if (res->rcode != DNS_RCODE_NOERROR) {
		mta_route_fail(r, MTA_ROUTE_TEMPFAIL, "4.4.3",
		    "DNS lookup of the MX of %s failed: %s", r->domain,
		    dns_rcode_name(res->rcode));
		return;
	}
	if (!res->havedata) {
		/*
		 * RFC 5321 5.1: no MX, the domain is its own mail host; the
		 * name a CNAME led to stands for it.
		 */
		r->implicit_mx = 1;
		r->nhosts = 1;
		r->hosts[0].preference = 0;
		if (!dns_canonname(res->canonname, r->hosts[0].name,
			sizeof(r->hosts[0].name)))
			strlcpy(r->hosts[0].name, r->domain,
			    sizeof(r->hosts[0].name));
		query_ask_hosts(q);
		return;
	}
	/* all of them: the resolver rotates the set, the best must stay */
	for (i = 0; res->data[i] != NULL; i++) {
		if (res->len[i] < 0 ||
		    mta_mx_parse((const uint8_t *)res->data[i],
			(size_t)res->len[i], &one) == -1) {
			log_debug("resolver: a malformed MX of %s", r->domain);
			continue;
		}
		mta_mx_add(mx, &n, &one);
	}
	mta_mx_shuffle(mx, n);
	switch (mta_mx_order(mx, &n)) {
	case MTA_MX_NULL:
		mta_route_fail(r, MTA_ROUTE_PERMFAIL, "5.1.10",
		    "domain %s accepts no mail (null MX)", r->domain);
		return;
	case MTA_MX_INVALID:
		mta_route_fail(r, MTA_ROUTE_TEMPFAIL, "4.4.3",
		    "the MX records of %s name no valid host", r->domain);
		return;
	case MTA_MX_HOSTS:
		break;
	}
	for (i = 0; (size_t)i < n; i++) {
		strlcpy(r->hosts[i].name, mx[i].host, sizeof(r->hosts[i].name));
		r->hosts[i].preference = mx[i].preference;
	}
	r->nhosts = n;
	query_ask_hosts(q);
}

static void
answer_addr(struct mta_route_query *q, struct dns_question *d, int err,
    struct ub_result *res)
{
	struct mta_route_host *h = &q->route.hosts[d->host];
	int af = d->kind == DNS_AAAA ? AF_INET6 : AF_INET;
	int i;

	if (err != 0) {
		h->tempfail = 1;
		return;
	}
	/* a name that does not exist, or has no such address, is no host */
	if (res->rcode != DNS_RCODE_NOERROR &&
	    res->rcode != DNS_RCODE_NXDOMAIN) {
		h->tempfail = 1;
		return;
	}
	if (!res->havedata)
		return;
	for (i = 0; res->data[i] != NULL; i++)
		if (res->len[i] < 0 ||
		    mta_route_add_addr(
			h, af, res->data[i], (size_t)res->len[i]) == -1)
			log_debug(
			    "resolver: a malformed address of %s", h->name);
}

static void
dns_answer(void *arg, int err, struct ub_result *res)
{
	struct dns_question *d = arg;
	struct mta_route_query *q = d->query;

	d->pending = 0;
	q->npending--;
	if (err == 0 && res == NULL)
		err = UB_NOMEM;
	if (d->kind == DNS_MX)
		answer_mx(q, err, res);
	else
		answer_addr(q, d, err, res);
	if (res != NULL)
		ub.ub_resolve_free(res);
	if (q->npending == 0)
		query_done(q);
}

struct mta_route_query *
mta_route_lookup(struct mta_dns *dns, const char *domain, int timeout_ms,
    mta_route_cb cb, void *arg)
{
	struct mta_route_query *q;
	struct timeval tv;
	size_t i;
	int rv;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->dns = dns;
	q->cb = cb;
	q->arg = arg;
	if ((q->deadline = evtimer_new(dns->base, query_deadline, q)) == NULL ||
	    (q->finish = evtimer_new(dns->base, query_finish, q)) == NULL) {
		if (q->deadline != NULL)
			event_free(q->deadline);
		free(q);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&dns->queries, q, entry);

	if ((rv = mta_route_literal(&q->route, domain)) == 1) {
		query_done(q);
		return q;
	}
	if (strlcpy(q->route.domain, domain, sizeof(q->route.domain)) >=
		sizeof(q->route.domain) ||
	    rv == -1 || !mta_hostname_valid(q->route.domain)) {
		q->route.domain[0] = '\0';
		mta_route_fail(&q->route, MTA_ROUTE_PERMFAIL, "5.1.2",
		    "invalid domain name");
		query_done(q);
		return q;
	}
	for (i = 0; q->route.domain[i] != '\0'; i++)
		if (q->route.domain[i] >= 'A' && q->route.domain[i] <= 'Z')
			q->route.domain[i] += 'a' - 'A';
	if (query_ask(q, q->route.domain, DNS_MX, 0) == -1) {
		query_done(q);
		return q;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	if (evtimer_add(q->deadline, &tv) == -1)
		fatalx("%s: evtimer_add", __func__);
	return q;
}
