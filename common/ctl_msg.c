/*
 * The control protocol's payloads (common/imsg_types.h): what boxctl
 * sends, what control checks and auth reads, the rows and ends of the
 * replies, and the counters and process rows control gathers for status.
 * Each has one encoder and one decoder here; nothing else reads them.
 */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* a build's version as another build may send it; shown, never parsed */
#define CTL_VERSION_WIRE_MAX 256

/* the fields a request type carries, in order */
enum ctl_shape {
	CTL_SHAPE_NONE,
	CTL_SHAPE_NAME,		 /* str */
	CTL_SHAPE_NAME_PASSWORD, /* str, str */
	CTL_SHAPE_NAME_QUOTA,	 /* str, u64 */
	CTL_SHAPE_NAME_TARGETS,	 /* str, u32 n, n x str */
	CTL_SHAPE_NAME_SELECTOR, /* str, str */
	CTL_SHAPE_INVALID,	 /* not a request */
};

static const char *const ctl_counter_names[CTL_COUNTERS] = {
    [CTL_SESSIONS] = "sessions",
    [CTL_RECEIVED] = "received",
    [CTL_DELIVERED] = "delivered",
    [CTL_QUEUED] = "queued",
    [CTL_IMAP_SESSIONS] = "imap_sessions",
};

static enum ctl_shape
ctl_request_shape(uint32_t type)
{
	switch (type) {
	case IMSG_CTL_STATUS:
	case IMSG_CTL_DOMAIN_LIST:
	case IMSG_CTL_RELOAD:
	case IMSG_CTL_QUEUE_LIST:
		return CTL_SHAPE_NONE;
	case IMSG_CTL_DOMAIN_ADD:
	case IMSG_CTL_DOMAIN_DEL:
	case IMSG_CTL_USER_DEL:
	case IMSG_CTL_USER_LIST:
	case IMSG_CTL_USER_DISABLE:
	case IMSG_CTL_USER_ENABLE:
	case IMSG_CTL_ALIAS_DEL:
	case IMSG_CTL_ALIAS_LIST:
	case IMSG_CTL_DNS:
	case IMSG_CTL_DKIM_ROTATE:
	case IMSG_CTL_QUEUE_SHOW:
	case IMSG_CTL_QUEUE_FLUSH:
	case IMSG_CTL_QUEUE_REMOVE:
		return CTL_SHAPE_NAME;
	case IMSG_CTL_DKIM_RETIRE:
		return CTL_SHAPE_NAME_SELECTOR;
	case IMSG_CTL_USER_ADD:
	case IMSG_CTL_USER_PASSWD:
		return CTL_SHAPE_NAME_PASSWORD;
	case IMSG_CTL_USER_QUOTA:
		return CTL_SHAPE_NAME_QUOTA;
	case IMSG_CTL_ALIAS_ADD:
		return CTL_SHAPE_NAME_TARGETS;
	default:
		return CTL_SHAPE_INVALID;
	}
}

/* ---------------------------------------------------------------- hello */

void
ctl_hello_encode(struct msg_writer *w)
{
	msg_put_u32(w, CTL_PROTOCOL_VERSION);
	msg_put_str(w, BOXD_VERSION);
}

/*
 * Bytes after the version are let be: a later protocol may say more in
 * its hello, and this build must still read enough of it to refuse it
 * with a message that names both versions.
 */
int
ctl_hello_decode(struct ctl_hello *h, const void *data, size_t len)
{
	struct msg_reader r;
	char *version;
	size_t i;

	memset(h, 0, sizeof(*h));
	msg_reader_init(&r, data, len);
	if (msg_get_u32(&r, &h->protocol) == -1 ||
	    msg_get_strdup(&r, &version, CTL_VERSION_WIRE_MAX) == -1) {
		memset(h, 0, sizeof(*h));
		return -1;
	}
	strlcpy(h->version, version, sizeof(h->version));
	free(version);
	/* for a log line and a terminal */
	for (i = 0; h->version[i] != '\0'; i++)
		if ((unsigned char)h->version[i] < 0x20 ||
		    (unsigned char)h->version[i] >= 0x7f)
			h->version[i] = '?';
	return 0;
}

/* ---------------------------------------------------------------- requests */

int
ctl_request_type(uint32_t type)
{
	return ctl_request_shape(type) != CTL_SHAPE_INVALID;
}

void
ctl_request_encode(struct msg_writer *w, const struct ctl_request *req)
{
	enum ctl_shape shape = ctl_request_shape(req->type);
	uint32_t i;

	if (shape == CTL_SHAPE_INVALID) {
		w->error = 1;
		return;
	}
	if (shape == CTL_SHAPE_NONE)
		return;
	msg_put_str(w, req->name != NULL ? req->name : "");
	switch (shape) {
	case CTL_SHAPE_NAME_PASSWORD:
		msg_put_str(w, req->password != NULL ? req->password : "");
		break;
	case CTL_SHAPE_NAME_QUOTA:
		msg_put_u64(w, req->quota);
		break;
	case CTL_SHAPE_NAME_TARGETS:
		msg_put_u32(w, req->ntargets);
		for (i = 0; i < req->ntargets; i++)
			msg_put_str(w, req->targets[i]);
		break;
	case CTL_SHAPE_NAME_SELECTOR:
		msg_put_str(w, req->selector != NULL ? req->selector : "");
		break;
	default:
		break;
	}
}

static int
ctl_get_str(struct msg_reader *r, char **s)
{
	return msg_get_strdup(r, s, IMSG_CTL_MAX_SIZE);
}

int
ctl_request_decode(
    struct ctl_request *req, uint32_t type, const void *data, size_t len)
{
	enum ctl_shape shape = ctl_request_shape(type);
	struct msg_reader r;
	uint32_t n, i;

	memset(req, 0, sizeof(*req));
	req->type = type;
	msg_reader_init(&r, data, len);
	if (shape == CTL_SHAPE_INVALID)
		goto bad;
	if (shape != CTL_SHAPE_NONE && ctl_get_str(&r, &req->name) == -1)
		goto bad;
	switch (shape) {
	case CTL_SHAPE_NAME_PASSWORD:
		if (ctl_get_str(&r, &req->password) == -1)
			goto bad;
		break;
	case CTL_SHAPE_NAME_QUOTA:
		if (msg_get_u64(&r, &req->quota) == -1)
			goto bad;
		break;
	case CTL_SHAPE_NAME_TARGETS:
		/* each target takes at least its length */
		if (msg_get_u32(&r, &n) == -1 || n > r.left / 4)
			goto bad;
		if ((req->targets = calloc((size_t)n + 1, sizeof(char *))) ==
		    NULL)
			goto bad;
		req->ntargets = n;
		for (i = 0; i < n; i++)
			if (ctl_get_str(&r, &req->targets[i]) == -1)
				goto bad;
		break;
	case CTL_SHAPE_NAME_SELECTOR:
		if (ctl_get_str(&r, &req->selector) == -1)
			goto bad;
		break;
	default:
		break;
	}
	if (msg_get_end(&r) == -1)
		goto bad;
	return 0;
bad:
	ctl_request_clear(req);
	return -1;
}

static void
ctl_wipe_free(char *s)
{
	if (s != NULL)
		freezero(s, strlen(s));
}

void
ctl_request_clear(struct ctl_request *req)
{
	uint32_t i;

	ctl_wipe_free(req->name);
	ctl_wipe_free(req->password);
	ctl_wipe_free(req->selector);
	if (req->targets != NULL) {
		for (i = 0; i < req->ntargets; i++)
			ctl_wipe_free(req->targets[i]);
		free(req->targets);
	}
	memset(req, 0, sizeof(*req));
}

/* ---------------------------------------------------------------- replies */

void
ctl_row_encode(struct msg_writer *w, ...)
{
	va_list ap;
	const char *key, *value;
	uint32_t n = 0;

	va_start(ap, w);
	while (va_arg(ap, const char *) != NULL) {
		(void)va_arg(ap, const char *);
		n++;
	}
	va_end(ap);
	msg_put_u32(w, n);
	va_start(ap, w);
	while ((key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		msg_put_str(w, key);
		msg_put_str(w, value != NULL ? value : "");
	}
	va_end(ap);
}

int
ctl_row_decode(struct ctl_row *row, const void *data, size_t len)
{
	struct msg_reader r;
	uint32_t n, i;

	memset(row, 0, sizeof(*row));
	msg_reader_init(&r, data, len);
	/* each pair takes at least its two lengths */
	if (msg_get_u32(&r, &n) == -1 || n > r.left / 8)
		return -1;
	row->key = calloc((size_t)n + 1, sizeof(char *));
	row->value = calloc((size_t)n + 1, sizeof(char *));
	row->n = n;
	if (row->key == NULL || row->value == NULL)
		goto bad;
	for (i = 0; i < n; i++)
		if (msg_get_strdup(&r, &row->key[i], IMSG_MAX_SIZE) == -1 ||
		    msg_get_strdup(&r, &row->value[i], IMSG_MAX_SIZE) == -1)
			goto bad;
	if (msg_get_end(&r) == -1)
		goto bad;
	return 0;
bad:
	ctl_row_clear(row);
	return -1;
}

const char *
ctl_row_get(const struct ctl_row *row, const char *key)
{
	uint32_t i;

	for (i = 0; i < row->n; i++)
		if (strcmp(row->key[i], key) == 0)
			return row->value[i];
	return NULL;
}

void
ctl_row_clear(struct ctl_row *row)
{
	uint32_t i;

	for (i = 0; i < row->n; i++) {
		if (row->key != NULL)
			free(row->key[i]);
		if (row->value != NULL)
			free(row->value[i]);
	}
	free(row->key);
	free(row->value);
	memset(row, 0, sizeof(*row));
}

void
ctl_fail_encode(struct msg_writer *w, const char *why)
{
	msg_put_str(w, why);
}

int
ctl_fail_decode(char **why, const void *data, size_t len)
{
	struct msg_reader r;

	msg_reader_init(&r, data, len);
	if (msg_get_strdup(&r, why, IMSG_MAX_SIZE) == -1)
		return -1;
	if (msg_get_end(&r) == -1) {
		free(*why);
		*why = NULL;
		return -1;
	}
	return 0;
}

int
ctl_empty_decode(const void *data, size_t len)
{
	return len == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- status */

const char *
ctl_counter_name(enum ctl_counter i)
{
	if ((unsigned int)i >= CTL_COUNTERS)
		return "?";
	return ctl_counter_names[i];
}

void
ctl_stats_encode(struct msg_writer *w, const uint64_t v[CTL_COUNTERS])
{
	int i;

	for (i = 0; i < CTL_COUNTERS; i++)
		msg_put_u64(w, v[i]);
}

int
ctl_stats_decode(uint64_t v[CTL_COUNTERS], const void *data, size_t len)
{
	struct msg_reader r;
	int i;

	msg_reader_init(&r, data, len);
	for (i = 0; i < CTL_COUNTERS; i++)
		if (msg_get_u64(&r, &v[i]) == -1)
			break;
	if (msg_get_end(&r) == -1) {
		memset(v, 0, sizeof(v[0]) * CTL_COUNTERS);
		return -1;
	}
	return 0;
}

void
ctl_proc_encode(struct msg_writer *w, const struct ctl_proc *p)
{
	msg_put_str(w, p->role);
	msg_put_u32(w, p->pid);
	msg_put_str(w, p->user);
	msg_put_u64(w, p->started);
}

int
ctl_proc_decode(struct ctl_proc *p, const void *data, size_t len)
{
	struct msg_reader r;

	memset(p, 0, sizeof(*p));
	msg_reader_init(&r, data, len);
	if (msg_get_str(&r, p->role, sizeof(p->role)) == -1 ||
	    msg_get_u32(&r, &p->pid) == -1 ||
	    msg_get_str(&r, p->user, sizeof(p->user)) == -1 ||
	    msg_get_u64(&r, &p->started) == -1 || msg_get_end(&r) == -1) {
		memset(p, 0, sizeof(*p));
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- usage */

void
ctl_row_encode_more(struct msg_writer *w, const struct ctl_row *row, ...)
{
	va_list ap;
	const char *key, *value;
	uint32_t n = row->n, i;

	va_start(ap, row);
	while (va_arg(ap, const char *) != NULL) {
		(void)va_arg(ap, const char *);
		n++;
	}
	va_end(ap);
	msg_put_u32(w, n);
	for (i = 0; i < row->n; i++) {
		msg_put_str(w, row->key[i]);
		msg_put_str(w, row->value[i]);
	}
	va_start(ap, row);
	while ((key = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		msg_put_str(w, key);
		msg_put_str(w, value != NULL ? value : "");
	}
	va_end(ap);
}

_Static_assert(
    IMSG_HDR_SIZE + 12 + CTL_USAGE_BATCH * (4 + ENVELOPE_MAILBOX_MAX) <=
	IMSG_MAX_SIZE,
    "a batch of mailboxes fits one imsg");

void
ctl_usage_req_encode(struct msg_writer *w, const struct ctl_usage_req *req)
{
	uint32_t i;

	if (req->n > CTL_USAGE_BATCH) {
		w->error = 1;
		return;
	}
	msg_put_u64(w, req->reqid);
	msg_put_u32(w, req->n);
	for (i = 0; i < req->n; i++)
		msg_put_str(w, req->mailbox[i]);
}

int
ctl_usage_req_decode(struct ctl_usage_req *req, const void *data, size_t len)
{
	struct msg_reader r;
	uint32_t i;

	msg_reader_init(&r, data, len);
	if (msg_get_u64(&r, &req->reqid) == -1 ||
	    msg_get_u32(&r, &req->n) == -1 || req->n > CTL_USAGE_BATCH)
		goto bad;
	for (i = 0; i < req->n; i++)
		if (msg_get_str(&r, req->mailbox[i], sizeof(req->mailbox[i])) ==
			-1 ||
		    !envelope_mailbox_valid(req->mailbox[i]))
			goto bad;
	if (msg_get_end(&r) == -1)
		goto bad;
	return 0;
bad:
	req->reqid = 0;
	req->n = 0;
	return -1;
}

void
ctl_usage_reply_encode(struct msg_writer *w, const struct ctl_usage_reply *rep)
{
	uint32_t i;

	if (rep->n > CTL_USAGE_BATCH) {
		w->error = 1;
		return;
	}
	msg_put_u64(w, rep->reqid);
	msg_put_u32(w, rep->n);
	for (i = 0; i < rep->n; i++) {
		msg_put_u32(w, rep->usage[i].status);
		msg_put_u64(w, rep->usage[i].bytes);
		msg_put_u64(w, rep->usage[i].messages);
	}
}

int
ctl_usage_reply_decode(
    struct ctl_usage_reply *rep, const void *data, size_t len)
{
	struct msg_reader r;
	struct ctl_usage *u;
	uint32_t i;

	msg_reader_init(&r, data, len);
	if (msg_get_u64(&r, &rep->reqid) == -1 ||
	    msg_get_u32(&r, &rep->n) == -1 || rep->n > CTL_USAGE_BATCH)
		goto bad;
	for (i = 0; i < rep->n; i++) {
		u = &rep->usage[i];
		if (msg_get_u32(&r, &u->status) == -1 ||
		    msg_get_u64(&r, &u->bytes) == -1 ||
		    msg_get_u64(&r, &u->messages) == -1 ||
		    (u->status != CTL_USAGE_OK &&
			u->status != CTL_USAGE_UNKNOWN))
			goto bad;
	}
	if (msg_get_end(&r) == -1)
		goto bad;
	return 0;
bad:
	memset(rep, 0, sizeof(*rep));
	return -1;
}
