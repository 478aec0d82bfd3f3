/*
 * Counters of failed logins, in memory (authd.h says what they count).
 * Keys are looked up in a red-black tree and kept in the order they were
 * last touched, so that the one to evict is at hand: an attacker with
 * many addresses or many user names pushes out his own keys first, and a
 * key he keeps hammering stays, for each refused attempt touches it.
 */

#include <sys/socket.h>
#include <sys/tree.h>

#include <netinet/in.h>

#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include "authd.h"

struct ratelimit_entry {
	RB_ENTRY(ratelimit_entry) node;
	TAILQ_ENTRY(ratelimit_entry) touched;
	time_t start; /* the window's first failure */
	uint32_t count;
	char key[];
};

RB_HEAD(ratelimit_tree, ratelimit_entry);

struct ratelimit {
	struct ratelimit_tree tree;
	TAILQ_HEAD(, ratelimit_entry) order; /* least recently touched first */
	size_t n;
	size_t cap;
};

static int ratelimit_cmp(struct ratelimit_entry *, struct ratelimit_entry *);
static struct ratelimit_entry *ratelimit_find(struct ratelimit *, const char *);
static void ratelimit_remove(struct ratelimit *, struct ratelimit_entry *);
static void ratelimit_touch(struct ratelimit *, struct ratelimit_entry *);
static int
ratelimit_expired(const struct ratelimit_entry *, uint32_t period, time_t now);

RB_GENERATE_STATIC(ratelimit_tree, ratelimit_entry, node, ratelimit_cmp);

static int
ratelimit_cmp(struct ratelimit_entry *a, struct ratelimit_entry *b)
{
	return strcmp(a->key, b->key);
}

struct ratelimit *
ratelimit_new(size_t cap)
{
	struct ratelimit *rl;

	rl = xcalloc(1, sizeof(*rl));
	RB_INIT(&rl->tree);
	TAILQ_INIT(&rl->order);
	rl->cap = cap > 0 ? cap : 1;
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	struct ratelimit_entry *e;

	if (rl == NULL)
		return;
	while ((e = TAILQ_FIRST(&rl->order)) != NULL)
		ratelimit_remove(rl, e);
	free(rl);
}

size_t
ratelimit_size(const struct ratelimit *rl)
{
	return rl->n;
}

static struct ratelimit_entry *
ratelimit_find(struct ratelimit *rl, const char *key)
{
	struct {
		struct ratelimit_entry e;
		char key[RATELIMIT_KEY_MAX];
	} find;

	if (strlcpy(find.e.key, key, sizeof(find.key)) >= sizeof(find.key))
		return NULL;
	return RB_FIND(ratelimit_tree, &rl->tree, &find.e);
}

static void
ratelimit_remove(struct ratelimit *rl, struct ratelimit_entry *e)
{
	RB_REMOVE(ratelimit_tree, &rl->tree, e);
	TAILQ_REMOVE(&rl->order, e, touched);
	rl->n--;
	free(e);
}

static void
ratelimit_touch(struct ratelimit *rl, struct ratelimit_entry *e)
{
	TAILQ_REMOVE(&rl->order, e, touched);
	TAILQ_INSERT_TAIL(&rl->order, e, touched);
}

/* a clock set back ends the window too, rather than stretch it */
static int
ratelimit_expired(const struct ratelimit_entry *e, uint32_t period, time_t now)
{
	return now < e->start || now - e->start >= (time_t)period;
}

int
ratelimit_blocked(struct ratelimit *rl, const char *key, uint32_t max,
    uint32_t period, time_t now)
{
	struct ratelimit_entry *e;

	if ((e = ratelimit_find(rl, key)) == NULL)
		return 0;
	if (ratelimit_expired(e, period, now)) {
		ratelimit_remove(rl, e);
		return 0;
	}
	if (e->count < max)
		return 0;
	ratelimit_touch(rl, e);
	return 1;
}

uint32_t
ratelimit_fail(
    struct ratelimit *rl, const char *key, uint32_t period, time_t now)
{
	struct ratelimit_entry *e;
	size_t len = strlen(key);

	if (len >= RATELIMIT_KEY_MAX)
		return 0;
	if ((e = ratelimit_find(rl, key)) != NULL) {
		if (ratelimit_expired(e, period, now)) {
			e->start = now;
			e->count = 0;
		}
		if (e->count < UINT32_MAX)
			e->count++;
		ratelimit_touch(rl, e);
		return e->count;
	}
	if (rl->n >= rl->cap)
		ratelimit_remove(rl, TAILQ_FIRST(&rl->order));
	/* out of memory, the failure goes uncounted: refuse nobody for it */
	if ((e = malloc(sizeof(*e) + len + 1)) == NULL)
		return 0;
	memcpy(e->key, key, len + 1);
	e->start = now;
	e->count = 1;
	RB_INSERT(ratelimit_tree, &rl->tree, e);
	TAILQ_INSERT_TAIL(&rl->order, e, touched);
	rl->n++;
	return 1;
}

int
ratelimit_client_key(const char *addr, char *key, size_t keysz)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	else
		return -1;
	listener_client_key((struct sockaddr *)&ss, key, keysz);
	return strcmp(key, "unknown") == 0 ? -1 : 0;
}
