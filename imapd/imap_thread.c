/*
 * THREAD (RFC 5256): ORDEREDSUBJECT, and REFERENCES, the whole algorithm
 * of section 3 (links from References and In-Reply-To, dummy parents,
 * pruning, merging by base subject, sorting by sent date).  Built for
 * hostile headers: a message-id table with open addressing, links checked
 * for loops only where one could form, every walk over the trees without
 * recursion.
 */

#include <event2/buffer.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapd.h"

#define NONE UINT32_MAX

/* messages and dummies; the links are indexes into thread->c */
struct container {
	uint32_t parent, child, next, prev; /* first child, siblings */
	uint32_t msg;			    /* index in msgs, NONE: dummy */
	uint32_t seen; /* message that last referenced it */
	int64_t date;  /* sort key: sent date, then seq */
	uint32_t seq;
};

struct msg_info {
	uint32_t seq, id;
	int64_t date;
	char *base; /* base subject */
	int reply;
};

struct id_slot {
	char *id; /* NULL: empty */
	uint32_t container;
};

struct thread {
	struct container *c;
	size_t n, cap;
	struct id_slot *ids;
	size_t nids, idcap; /* idcap a power of two */
	struct msg_info *m;
	size_t nmsgs;
	uint32_t *stack;    /* walks: room for every container */
	uint64_t walk_left; /* steps left for loop checks */
	uint32_t hash_seed;
};

/*
 * The last this many ids of a References header are used: the nearest
 * ancestors, and the older ones come from the messages before.  Bounds
 * the ids a message adds to the table.
 */
#define THREAD_REFS_MAX 256

/*
 * Loop checks walk up a thread, and a mailbox made for it (thousands of
 * messages each closing a loop at the bottom of a deep chain) could make
 * them quadratic.  All of them share this many steps per message; past
 * it a link is refused as if it closed a loop, which keeps the threads a
 * forest.  Real mail needs a few steps per message.
 */
#define THREAD_WALK_PER_MSG 64
#define THREAD_WALK_MIN	    1000000

/* ---------------------------------------------------------------- containers
 */

static uint32_t
container_new(struct thread *t)
{
	struct container *c;
	size_t cap;

	if (t->n == t->cap) {
		cap = t->cap ? t->cap * 2 : 64;
		if (cap >= NONE ||
		    (c = reallocarray(t->c, cap, sizeof(*c))) == NULL)
			return NONE;
		t->c = c;
		t->cap = cap;
	}
	c = &t->c[t->n];
	c->parent = c->child = c->next = c->prev = NONE;
	c->msg = NONE;
	c->seen = NONE;
	c->date = 0;
	c->seq = 0;
	return t->n++;
}

static void
unlink_child(struct thread *t, uint32_t x)
{
	struct container *c = &t->c[x];

	if (c->parent == NONE)
		return;
	if (c->prev != NONE)
		t->c[c->prev].next = c->next;
	else
		t->c[c->parent].child = c->next;
	if (c->next != NONE)
		t->c[c->next].prev = c->prev;
	c->parent = c->next = c->prev = NONE;
}

static void
link_child(struct thread *t, uint32_t parent, uint32_t x)
{
	struct container *c = &t->c[x];

	c->parent = parent;
	c->prev = NONE;
	c->next = t->c[parent].child;
	if (c->next != NONE)
		t->c[c->next].prev = x;
	t->c[parent].child = x;
}

/* is a an ancestor of x (or x itself); 1 too when the walks are spent */
static int
is_ancestor(struct thread *t, uint32_t a, uint32_t x)
{
	for (; x != NONE; x = t->c[x].parent) {
		if (x == a || t->walk_left == 0)
			return 1;
		t->walk_left--;
	}
	return 0;
}

/* ---------------------------------------------------------------- message-ids
 */

/* FNV-1a from a random start: hostile ids cannot be made to collide */
static uint32_t
id_hash(const struct thread *t, const char *s, size_t len)
{
	uint32_t h = t->hash_seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static int
id_grow(struct thread *t)
{
	struct id_slot *old = t->ids, *slot;
	size_t oldcap = t->idcap, i, cap = oldcap ? oldcap * 2 : 256;
	uint32_t h;

	if ((t->ids = calloc(cap, sizeof(*t->ids))) == NULL) {
		t->ids = old;
		return -1;
	}
	t->idcap = cap;
	for (i = 0; i < oldcap; i++) {
		if (old[i].id == NULL)
			continue;
		h = id_hash(t, old[i].id, strlen(old[i].id));
		for (slot = &t->ids[h & (cap - 1)]; slot->id != NULL;
		     slot = &t->ids[(slot - t->ids + 1) & (cap - 1)])
			;
		*slot = old[i];
	}
	free(old);
	return 0;
}

/* the container of a message-id, a new dummy if none; NONE out of memory */
static uint32_t
id_lookup(struct thread *t, const char *id, size_t len)
{
	struct id_slot *slot;
	uint32_t h, x;

	if (t->nids * 2 >= t->idcap && id_grow(t) == -1)
		return NONE;
	h = id_hash(t, id, len);
	for (slot = &t->ids[h & (t->idcap - 1)]; slot->id != NULL;
	     slot = &t->ids[(slot - t->ids + 1) & (t->idcap - 1)])
		if (strncmp(slot->id, id, len) == 0 && slot->id[len] == '\0')
			return slot->container;
	if ((x = container_new(t)) == NONE)
		return NONE;
	if ((slot->id = strndup(id, len)) == NULL)
		return NONE;
	slot->container = x;
	t->nids++;
	return x;
}

/* the next valid "<id>" in [*p, end): 1 and its inside, or 0 at the end */
static int
next_msgid(const char **p, const char *end, const char **id, size_t *len)
{
	const char *s = *p, *lt, *q;

	while ((lt = memchr(s, '<', end - s)) != NULL) {
		for (q = lt + 1;
		     q < end && *q != '>' && *q != '<' && *q != ' ' &&
		     *q != '\t' && *q != '\r' && *q != '\n' && *q != '\0';
		     q++)
			;
		if (q < end && *q == '>' && q > lt + 1) {
			*id = lt + 1;
			*len = q - lt - 1;
			*p = q + 1;
			return 1;
		}
		s = q;
	}
	*p = end;
	return 0;
}

/* ---------------------------------------------------------------- reading */

static int
first_value_cb(void *arg, const char *text, size_t len)
{
	char **out = arg;

	if ((*out = malloc(len + 1)) != NULL) {
		memcpy(*out, text, len);
		(*out)[len] = '\0';
	}
	return 1;
}

/* the first value of a header, or NULL when none (or out of memory) */
static char *
header_value(const struct search_msg_ops *ops, void *msg, const char *name)
{
	char *v = NULL;

	if (ops->header(msg, name, first_value_cb, &v) == -1) {
		free(v);
		return NULL;
	}
	return v;
}

static int
read_message(
    const struct search_msg_ops *ops, void *msg, int uid, struct msg_info *mi)
{
	char *subject;
	int64_t when;
	int tzoff;

	mi->seq = ops->seq(msg);
	mi->id = uid ? ops->uid(msg) : mi->seq;
	if (ops->sent_date(msg, &when, &tzoff) == 0)
		mi->date = when;
	else
		mi->date = ops->internal_date(msg, &tzoff);
	subject = header_value(ops, msg, "Subject");
	mi->base = sort_base_subject(
	    subject ? subject : "", subject ? strlen(subject) : 0, &mi->reply);
	free(subject);
	return mi->base == NULL ? -1 : 0;
}

/* ---------------------------------------------------------------- sorting */

static int
date_cmp(const struct container *a, const struct container *b)
{
	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

static int
index_cmp(const void *a, const void *b, void *arg)
{
	const struct container *c = arg;

	return date_cmp(&c[*(const uint32_t *)a], &c[*(const uint32_t *)b]);
}

/* sorts x's children by date; a dummy takes its first child's date */
static int
sort_children(struct thread *t, uint32_t x)
{
	uint32_t *v, k;
	size_t n = 0, i;

	for (k = t->c[x].child; k != NONE; k = t->c[k].next)
		n++;
	if (n > 1) {
		if ((v = reallocarray(NULL, n, sizeof(*v))) == NULL)
			return -1;
		for (i = 0, k = t->c[x].child; k != NONE; k = t->c[k].next)
			v[i++] = k;
		qsort_r(v, n, sizeof(*v), index_cmp, t->c);
		t->c[x].child = v[0];
		for (i = 0; i < n; i++) {
			t->c[v[i]].prev = i > 0 ? v[i - 1] : NONE;
			t->c[v[i]].next = i + 1 < n ? v[i + 1] : NONE;
		}
		free(v);
	}
	if (t->c[x].msg == NONE && t->c[x].child != NONE) {
		t->c[x].date = t->c[t->c[x].child].date;
		t->c[x].seq = t->c[t->c[x].child].seq;
	}
	return 0;
}

/* every container under the roots, parents before children; its count */
static size_t
preorder(
    struct thread *t, const uint32_t *roots, size_t nroots, uint32_t *order)
{
	size_t n = 0, sp = 0, i;
	uint32_t x, k;

	for (i = nroots; i > 0; i--)
		t->stack[sp++] = roots[i - 1];
	while (sp > 0) {
		x = t->stack[--sp];
		order[n++] = x;
		for (k = t->c[x].child; k != NONE; k = t->c[k].next)
			t->stack[sp++] = k;
	}
	return n;
}

/* ---------------------------------------------------------------- output */

static int
write_thread(struct thread *t, uint32_t root, struct evbuffer *out)
{
	size_t sp = 0;
	uint32_t x = root, s;
	const struct container *c;

	if (evbuffer_add(out, "(", 1) == -1)
		return -1;
	for (;;) {
		c = &t->c[x];
		if (c->msg != NONE &&
		    evbuffer_add_printf(out, "%u", t->m[c->msg].id) == -1)
			return -1;
		if (c->child != NONE) {
			if (c->msg != NONE && t->c[c->child].next == NONE) {
				/* one child: the thread goes on */
				if (evbuffer_add(out, " ", 1) == -1)
					return -1;
				x = c->child;
				continue;
			}
			if (evbuffer_add(out, c->msg != NONE ? " (" : "(",
				c->msg != NONE ? 2 : 1) == -1)
				return -1;
			t->stack[sp++] = t->c[c->child].next;
			x = c->child;
			continue;
		}
		/* a leaf: close the lists that are done, open the next */
		for (;;) {
			if (sp == 0)
				return evbuffer_add(out, ")", 1);
			if (evbuffer_add(out, ")", 1) == -1)
				return -1;
			if ((s = t->stack[--sp]) != NONE) {
				if (evbuffer_add(out, "(", 1) == -1)
					return -1;
				t->stack[sp++] = t->c[s].next;
				x = s;
				break;
			}
		}
	}
}

/* ---------------------------------------------------------------- REFERENCES
 */

/* step 1: the links of one message */
static int
link_message(
    struct thread *t, const struct search_msg_ops *ops, void *msg, uint32_t mi)
{
	char *msgid, *refs, *irt;
	const char *p, *end, *id;
	size_t len, skip;
	uint32_t self = NONE, prev = NONE, x;
	int rv = -1, any = 0;

	msgid = header_value(ops, msg, "Message-ID");
	refs = header_value(ops, msg, "References");
	irt = header_value(ops, msg, "In-Reply-To");

	if (msgid != NULL) {
		p = msgid;
		if (next_msgid(&p, p + strlen(p), &id, &len) &&
		    (self = id_lookup(t, id, len)) == NONE)
			goto out;
		/* a duplicate: the later message gets an id of its own */
		if (self != NONE && t->c[self].msg != NONE)
			self = NONE;
	}
	if (self == NONE && (self = container_new(t)) == NONE)
		goto out;
	t->c[self].msg = mi;
	t->c[self].date = t->m[mi].date;
	t->c[self].seq = t->m[mi].seq;

	/* (A) References, parent to child; else the first In-Reply-To id */
	if (refs != NULL) {
		p = refs;
		end = p + strlen(p);
		for (skip = 0; next_msgid(&p, end, &id, &len); skip++)
			;
		skip = skip > THREAD_REFS_MAX ? skip - THREAD_REFS_MAX : 0;
		p = refs;
		while (next_msgid(&p, end, &id, &len)) {
			if (skip > 0) {
				skip--;
				continue;
			}
			any = 1;
			if ((x = id_lookup(t, id, len)) == NONE)
				goto out;
			/* an id seen before in this header links nothing new */
			if (t->c[x].seen == mi) {
				prev = x;
				continue;
			}
			t->c[x].seen = mi;
			/* a loop is possible only under x: walk then only */
			if (prev != NONE && t->c[x].parent == NONE &&
			    x != prev &&
			    (t->c[x].child == NONE || !is_ancestor(t, x, prev)))
				link_child(t, prev, x);
			prev = x;
		}
	}
	if (!any && irt != NULL) {
		p = irt;
		if (next_msgid(&p, p + strlen(p), &id, &len) &&
		    (prev = id_lookup(t, id, len)) == NONE)
			goto out;
	}
	/* (B) the last reference is the parent, whatever it was before */
	unlink_child(t, self);
	if (prev != NONE && prev != self &&
	    (t->c[self].child == NONE || !is_ancestor(t, self, prev)))
		link_child(t, prev, self);
	rv = 0;
out:
	free(msgid);
	free(refs);
	free(irt);
	return rv;
}

/* step 4: dummies go, their children move up; a root dummy stays for 2+ */
static size_t
prune(struct thread *t, uint32_t *roots, size_t nroots, uint32_t *order)
{
	size_t n, i, kept = 0;
	uint32_t x, k, next, parent, only;

	n = preorder(t, roots, nroots, order);
	/* children before parents, so a dummy's children are final */
	for (i = n; i > 0; i--) {
		x = order[i - 1];
		if (t->c[x].msg != NONE || (parent = t->c[x].parent) == NONE)
			continue;
		for (k = t->c[x].child; k != NONE; k = next) {
			next = t->c[k].next;
			unlink_child(t, k);
			link_child(t, parent, k);
		}
		unlink_child(t, x);
	}
	for (i = 0; i < nroots; i++) {
		x = roots[i];
		if (t->c[x].msg == NONE) {
			if ((only = t->c[x].child) == NONE)
				continue;
			if (t->c[only].next == NONE) {
				unlink_child(t, only);
				x = only;
			}
		}
		roots[kept++] = x;
	}
	return kept;
}

static uint32_t
subject_msg(struct thread *t, uint32_t x)
{
	while (t->c[x].msg == NONE && t->c[x].child != NONE)
		x = t->c[x].child;
	return t->c[x].msg;
}

struct subject_slot {
	const char *base;
	size_t root; /* index into roots */
};

/* step 6: roots whose base subjects are equal are merged */
static int
merge_subjects(struct thread *t, uint32_t *roots, size_t *nrootsp)
{
	struct subject_slot *tab, *slot;
	size_t nroots = *nrootsp, cap = 16, i, kept;
	uint32_t x, e, mx, me, d, k, next;
	const char *base;
	int *gone;

	while (cap < nroots * 2)
		cap *= 2;
	if ((tab = calloc(cap, sizeof(*tab))) == NULL)
		return -1;
	if ((gone = calloc(nroots + 1, sizeof(*gone))) == NULL) {
		free(tab);
		return -1;
	}
	/* (B) one root per base subject: a dummy, else one not a reply */
	for (i = 0; i < nroots; i++) {
		x = roots[i];
		if ((mx = subject_msg(t, x)) == NONE)
			continue;
		base = t->m[mx].base;
		if (base[0] == '\0')
			continue;
		for (slot = &tab[id_hash(t, base, strlen(base)) & (cap - 1)];
		     slot->base != NULL && strcmp(slot->base, base) != 0;
		     slot = &tab[(slot - tab + 1) & (cap - 1)])
			;
		if (slot->base == NULL) {
			slot->base = base;
			slot->root = i;
			continue;
		}
		e = roots[slot->root];
		me = subject_msg(t, e);
		if ((t->c[x].msg == NONE && t->c[e].msg != NONE) ||
		    (t->m[me].reply && !t->m[mx].reply))
			slot->root = i;
	}
	/* (C) the others join it */
	for (i = 0; i < nroots; i++) {
		x = roots[i];
		if ((mx = subject_msg(t, x)) == NONE)
			continue;
		base = t->m[mx].base;
		if (base[0] == '\0')
			continue;
		for (slot = &tab[id_hash(t, base, strlen(base)) & (cap - 1)];
		     strcmp(slot->base, base) != 0;
		     slot = &tab[(slot - tab + 1) & (cap - 1)])
			;
		if (slot->root == i)
			continue;
		e = roots[slot->root];
		me = subject_msg(t, e);
		if (t->c[x].msg == NONE && t->c[e].msg == NONE) {
			for (k = t->c[x].child; k != NONE; k = next) {
				next = t->c[k].next;
				unlink_child(t, k);
				link_child(t, e, k);
			}
		} else if (t->c[e].msg == NONE ||
		    (t->m[mx].reply && !t->m[me].reply)) {
			link_child(t, e, x);
		} else {
			if ((d = container_new(t)) == NONE) {
				free(gone);
				free(tab);
				return -1;
			}
			link_child(t, d, e);
			link_child(t, d, x);
			roots[slot->root] = d;
		}
		gone[i] = 1;
	}
	for (i = 0, kept = 0; i < nroots; i++)
		if (!gone[i])
			roots[kept++] = roots[i];
	*nrootsp = kept;
	free(gone);
	free(tab);
	return 0;
}

static int
sort_roots(struct thread *t, uint32_t *roots, size_t nroots)
{
	size_t i;

	for (i = 0; i < nroots; i++)
		if (t->c[roots[i]].msg == NONE &&
		    sort_children(t, roots[i]) == -1)
			return -1;
	qsort_r(roots, nroots, sizeof(*roots), index_cmp, t->c);
	return 0;
}

static int
thread_references(struct thread *t, const struct search_msg_ops *ops,
    void *const *msgs, struct evbuffer *out)
{
	uint32_t *roots = NULL, *order = NULL;
	size_t i, nroots = 0, n;
	int rv = -1;

	for (i = 0; i < t->nmsgs; i++)
		if (link_message(t, ops, msgs[i], i) == -1)
			return -1;
	/* step 2: the roots; dummies may still be added by step 6 */
	if ((roots = reallocarray(NULL, t->n, sizeof(*roots))) == NULL ||
	    (order = reallocarray(NULL, t->n, sizeof(*order))) == NULL ||
	    (t->stack = reallocarray(NULL, t->n + 1, sizeof(*t->stack))) ==
		NULL)
		goto out;
	for (i = 0; i < t->n; i++)
		if (t->c[i].parent == NONE)
			roots[nroots++] = i;
	nroots = prune(t, roots, nroots, order);
	if (sort_roots(t, roots, nroots) == -1 ||
	    merge_subjects(t, roots, &nroots) == -1)
		goto out;
	/* step 7: every level by date, children first for the dummies */
	free(order);
	free(t->stack);
	if ((order = reallocarray(NULL, t->n, sizeof(*order))) == NULL ||
	    (t->stack = reallocarray(NULL, t->n + 1, sizeof(*t->stack))) ==
		NULL)
		goto out;
	n = preorder(t, roots, nroots, order);
	for (i = n; i > 0; i--)
		if (sort_children(t, order[i - 1]) == -1)
			goto out;
	qsort_r(roots, nroots, sizeof(*roots), index_cmp, t->c);
	for (i = 0; i < nroots; i++)
		if (write_thread(t, roots[i], out) == -1)
			goto out;
	rv = 0;
out:
	free(roots);
	free(order);
	return rv;
}

/* ----------------------------------------------------------------
 * ORDEREDSUBJECT
 */

static int
subject_cmp(const void *a, const void *b, void *arg)
{
	const struct msg_info *m = arg;
	const struct msg_info *x = &m[*(const uint32_t *)a];
	const struct msg_info *y = &m[*(const uint32_t *)b];
	int c;

	if ((c = strcmp(x->base, y->base)) != 0)
		return c;
	if (x->date != y->date)
		return x->date < y->date ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

static int
thread_orderedsubject(struct thread *t, struct evbuffer *out)
{
	uint32_t *v, x, first = NONE;
	size_t i, roots = 0;
	int rv = -1;

	if ((v = reallocarray(NULL, t->nmsgs, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < t->nmsgs; i++)
		v[i] = i;
	qsort_r(v, t->nmsgs, sizeof(*v), subject_cmp, t->m);
	/* one thread per base subject: the first message and its children */
	for (i = 0; i < t->nmsgs; i++) {
		if ((x = container_new(t)) == NONE)
			goto out;
		t->c[x].msg = v[i];
		t->c[x].date = t->m[v[i]].date;
		t->c[x].seq = t->m[v[i]].seq;
		if (first != NONE &&
		    strcmp(t->m[v[i]].base, t->m[t->c[first].msg].base) == 0)
			link_child(t, first, x);
		else {
			first = x;
			roots++;
		}
	}
	free(v);
	if ((v = reallocarray(NULL, roots + 1, sizeof(*v))) == NULL ||
	    (t->stack = reallocarray(NULL, t->n + 1, sizeof(*t->stack))) ==
		NULL)
		goto out;
	for (i = 0, roots = 0; i < t->n; i++)
		if (t->c[i].parent == NONE)
			v[roots++] = i;
	for (i = 0; i < roots; i++)
		if (sort_children(t, v[i]) == -1)
			goto out;
	qsort_r(v, roots, sizeof(*v), index_cmp, t->c);
	for (i = 0; i < roots; i++)
		if (write_thread(t, v[i], out) == -1)
			goto out;
	rv = 0;
out:
	free(v);
	return rv;
}

/* ---------------------------------------------------------------- entry */

int
thread_parse_algorithm(const struct imap_arg *arg, enum thread_algorithm *alg)
{
	if (imap_arg_is_atom(arg, "REFERENCES"))
		*alg = THREAD_REFERENCES;
	else if (imap_arg_is_atom(arg, "ORDEREDSUBJECT"))
		*alg = THREAD_ORDEREDSUBJECT;
	else
		return -1;
	return 0;
}

int
thread_run(enum thread_algorithm alg, const struct search_msg_ops *ops,
    void *const *msgs, size_t n, int uid, struct evbuffer *out)
{
	struct thread t;
	size_t i;
	int rv = -1;

	if (n == 0)
		return 0;
	memset(&t, 0, sizeof(t));
	if (n >= NONE / 4 || (t.m = calloc(n, sizeof(*t.m))) == NULL)
		return -1;
	t.walk_left = THREAD_WALK_MIN + (uint64_t)n * THREAD_WALK_PER_MSG;
	t.hash_seed = arc4random();
	for (i = 0; i < n; i++, t.nmsgs++)
		if (read_message(ops, msgs[i], uid, &t.m[i]) == -1)
			goto out;
	if (alg == THREAD_REFERENCES)
		rv = thread_references(&t, ops, msgs, out);
	else
		rv = thread_orderedsubject(&t, out);
out:
	for (i = 0; i < t.nmsgs; i++)
		free(t.m[i].base);
	for (i = 0; i < t.idcap; i++)
		free(t.ids[i].id);
	free(t.ids);
	free(t.m);
	free(t.c);
	free(t.stack);
	return rv;
}
