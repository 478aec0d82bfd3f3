/*
 * Delivery status notifications: the report the queue sends a message's
 * sender when recipients failed, are delayed, or (NOTIFY=SUCCESS) were
 * delivered.  RFC 3464's message/delivery-status inside RFC 6522's
 * multipart/report, with RFC 6533's global types for SMTPUTF8 mail; the
 * original comes back whole (RET=FULL, up to DSN_FULL_MAX) or as its
 * header.  Written with LF line ends, as the spool keeps messages.
 *
 * The replies quoted come from other servers: each is cut to one line of
 * printable ASCII before it goes into a header field.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "queued.h"

#define DSN_COPY_CHUNK 65536

static const char *const dsn_subject[] = {
    [DSN_FAILED] = "Undelivered Mail Returned to Sender",
    [DSN_DELAYED] = "Delayed Mail (still being retried)",
    [DSN_DELIVERED] = "Successful Mail Delivery Report",
};

static const char *const dsn_action_name[] = {
    [DSN_FAILED] = "failed",
    [DSN_DELAYED] = "delayed",
    [DSN_DELIVERED] = "delivered",
};

/* formatted into w; every field is bounded, a longer line an error */
static void dsn_printf(struct msg_writer *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
dsn_printf(struct msg_writer *w, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		w->error = 1;
		return;
	}
	msg_put_data(w, buf, (size_t)n);
}

int
dsn_rcpt_wanted(const struct dsn *d, uint32_t i)
{
	uint32_t notify = d->env->rcpt[i].dsn_notify;
	uint32_t status = d->rs != NULL ? d->rs[i].status : RCPT_PENDING;

	if (notify & DSN_NOTIFY_NEVER)
		return 0;
	switch (d->action) {
	case DSN_FAILED:
		/* no NOTIFY: failures and delays are told */
		return status == RCPT_FAILED &&
		    (notify == 0 || (notify & DSN_NOTIFY_FAILURE));
	case DSN_DELAYED:
		return status == RCPT_PENDING &&
		    (notify == 0 || (notify & DSN_NOTIFY_DELAY));
	default:
		return status == RCPT_DELIVERED &&
		    (notify & DSN_NOTIFY_SUCCESS);
	}
}

uint32_t
dsn_wanted(const struct dsn *d)
{
	uint32_t i, n = 0;

	/* the null sender never gets one: no report about a report */
	if (d->env->sender[0] == '\0')
		return 0;
	for (i = 0; i < d->env->nrcpt; i++)
		n += dsn_rcpt_wanted(d, i);
	return n;
}

/* text from afar, as one line of printable ASCII */
static void
dsn_clean(const char *s, char *out, size_t len)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
}

static void
dsn_date(uint64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		strlcpy(buf, "Thu, 01 Jan 1970 00:00:00 +0000", len);
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "c.ddd.ddd" at s: its length, or 0 */
static size_t
dsn_status_len(const char *s)
{
	size_t i = 1, n;
	int part;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	for (part = 0; part < 2; part++) {
		if (s[i++] != '.')
			return 0;
		for (n = 0; n < 3 && is_digit(s[i]); n++)
			i++;
		if (n == 0)
			return 0;
	}
	return is_digit(s[i]) ? 0 : i;
}

/*
 * The Status field: the first enhanced code in the reply ("550 5.1.1
 * ..." from a server, "4.2.2 ..." from mda, "expired after 3 attempts:
 * ...: 4.2.2 ..." from the queue) whose class fits the action (a failure
 * may be transient: the last of the tries before it expired), else the
 * action's generic one.
 */
static void
dsn_status(const struct dsn *d, const char *reply, char *out, size_t len)
{
	static const char cls[] = {
	    [DSN_FAILED] = '5', [DSN_DELAYED] = '4', [DSN_DELIVERED] = '2'};
	const char *p;
	size_t n;

	for (p = reply; *p != '\0'; p++) {
		if (p != reply && p[-1] != ' ')
			continue;
		if ((n = dsn_status_len(p)) == 0 || n >= len ||
		    (p[0] != cls[d->action] &&
			(d->action != DSN_FAILED || p[0] != '4')))
			continue;
		memcpy(out, p, n);
		out[n] = '\0';
		return;
	}
	snprintf(out, len, "%c.0.0", cls[d->action]);
}

static int
dsn_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* the per-recipient fields of recipient i */
static void
dsn_rcpt_fields(const struct dsn *d, uint32_t i, struct msg_writer *w)
{
	const struct envelope_rcpt *r = &d->env->rcpt[i];
	const struct rcpt_state *st = d->rs != NULL ? &d->rs[i] : NULL;
	char reply[RCPT_REPLY_MAX], status[16], date[64];
	const char *semi;

	dsn_printf(w, "\n");
	if (r->orcpt[0] != '\0' && (semi = strchr(r->orcpt, ';')) != NULL)
		dsn_printf(w, "Original-Recipient: %.*s; %s\n",
		    (int)(semi - r->orcpt), r->orcpt, semi + 1);
	dsn_printf(w, "Final-Recipient: %s; %s\n",
	    dsn_ascii(r->addr) ? "rfc822" : "utf-8", r->addr);
	dsn_printf(w, "Action: %s\n", dsn_action_name[d->action]);
	dsn_clean(st != NULL ? st->reply : "", reply, sizeof(reply));
	dsn_status(d, reply, status, sizeof(status));
	dsn_printf(w, "Status: %s\n", status);
	if (reply[0] != '\0')
		dsn_printf(w, "Diagnostic-Code: %s; %s\n",
		    is_digit(reply[0]) && is_digit(reply[1]) &&
			    is_digit(reply[2])
			? "smtp"
			: "X-boxd",
		    reply);
	if (st != NULL && st->attempts > 0) {
		dsn_date(d->now, date, sizeof(date));
		dsn_printf(w, "Last-Attempt-Date: %s\n", date);
	}
	if (d->action == DSN_DELAYED) {
		dsn_date(d->until, date, sizeof(date));
		dsn_printf(w, "Will-Retry-Until: %s\n", date);
	}
}

/* the human-readable part */
static void
dsn_text(const struct dsn *d, struct msg_writer *w)
{
	char reply[RCPT_REPLY_MAX], date[64];
	uint32_t i;

	dsn_printf(w, "This is the mail system at %s.\n\n", d->hostname);
	switch (d->action) {
	case DSN_FAILED:
		dsn_printf(w,
		    "Your message could not be delivered to the "
		    "recipients below; it was\ngiven up on for "
		    "good.  The reasons follow each address.\n\n");
		break;
	case DSN_DELAYED:
		dsn_date(d->until, date, sizeof(date));
		dsn_printf(w,
		    "Your message has not been delivered yet to the "
		    "recipients below.  It is\ntried again until %s;\n"
		    "there is nothing you need to do now.\n\n",
		    date);
		break;
	default:
		dsn_printf(w,
		    "Your message was delivered to the recipients "
		    "below, as you asked to be told.\n\n");
		break;
	}
	for (i = 0; i < d->env->nrcpt; i++) {
		if (!dsn_rcpt_wanted(d, i))
			continue;
		dsn_clean(
		    d->rs != NULL ? d->rs[i].reply : "", reply, sizeof(reply));
		dsn_printf(w, "<%s>%s%s\n", d->env->rcpt[i].addr,
		    reply[0] != '\0' ? ": " : "", reply);
	}
}

/* everything up to the returned content */
static void
dsn_head(const struct dsn *d, int full, struct msg_writer *w)
{
	int global = (d->env->flags & ENVELOPE_SMTPUTF8) != 0;
	int eight =
	    (d->env->flags & (ENVELOPE_8BITMIME | ENVELOPE_SMTPUTF8)) != 0;
	char date[64], envid[sizeof(d->env->envid)];
	uint32_t i;

	dsn_date(d->now, date, sizeof(date));
	dsn_printf(w,
	    "From: Mail Delivery System <MAILER-DAEMON@%s>\n"
	    "To: <%s>\n"
	    "Subject: %s\n"
	    "Date: %s\n"
	    "Message-ID: <%016" PRIx64 ".dsn@%s>\n"
	    "Auto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\n"
	    "\tboundary=\"%016" PRIx64 "/%s\"\n"
	    "\n"
	    "This is a MIME-encapsulated message.\n"
	    "\n"
	    "--%016" PRIx64 "/%s\n"
	    "Content-Description: Notification\n"
	    "Content-Type: text/plain; charset=%s\n"
	    "Content-Transfer-Encoding: %s\n"
	    "\n",
	    d->hostname, d->env->sender, dsn_subject[d->action], date, d->id,
	    d->hostname, d->id, d->hostname, d->id, d->hostname,
	    global ? "utf-8" : "us-ascii", global ? "8bit" : "7bit");
	dsn_text(d, w);
	dsn_printf(w,
	    "\n--%016" PRIx64 "/%s\n"
	    "Content-Description: Delivery report\n"
	    "Content-Type: message/%sdelivery-status\n"
	    "\n"
	    "Reporting-MTA: dns; %s\n",
	    d->id, d->hostname, global ? "global-" : "", d->hostname);
	if (d->env->envid[0] != '\0') {
		dsn_clean(d->env->envid, envid, sizeof(envid));
		dsn_printf(w, "Original-Envelope-Id: %s\n", envid);
	}
	dsn_date(d->env->time, date, sizeof(date));
	dsn_printf(w, "Arrival-Date: %s\n", date);
	for (i = 0; i < d->env->nrcpt; i++)
		if (dsn_rcpt_wanted(d, i))
			dsn_rcpt_fields(d, i, w);
	dsn_printf(w,
	    "\n--%016" PRIx64 "/%s\n"
	    "Content-Description: %s\n"
	    "Content-Type: %s\n"
	    "Content-Transfer-Encoding: %s\n"
	    "\n",
	    d->id, d->hostname,
	    full ? "Undelivered message" : "Undelivered message headers",
	    full ? (global ? "message/global" : "message/rfc822")
		 : (global ? "message/global-headers" : "text/rfc822-headers"),
	    eight ? "8bit" : "7bit");
}

/* all of w to fd at *off, into the CRC: 0, -1 */
static int
dsn_put(int fd, uint64_t *off, uint32_t *crc, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	*crc = crc32_update(*crc, buf, len);
	while (len > 0) {
		if ((n = pwrite(fd, p, len, (off_t)*off)) <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		*off += (uint64_t)n;
	}
	return 0;
}

/*
 * Copy len octets of the spool file at from, or (header) up to and
 * including the line that ends its header: *done set once it ended.
 */
static int
dsn_copy(int in, uint64_t from, uint64_t len, int header, int *done, int out,
    uint64_t *off, uint32_t *crc, uint64_t *left)
{
	char buf[DSN_COPY_CHUNK + 1];
	char *end;
	size_t want, take;
	ssize_t n;
	int last_lf = 1;

	while (len > 0 && !*done && *left > 0) {
		want = len < sizeof(buf) - 1 ? (size_t)len : sizeof(buf) - 1;
		if (want > *left)
			want = (size_t)*left;
		if ((n = pread(in, buf, want, (off_t)from)) <= 0)
			return -1;
		take = (size_t)n;
		if (header) {
			/* an empty line: "\n\n", or "\n" first of all */
			if (last_lf && buf[0] == '\n') {
				*done = 1;
				take = 0;
			} else if ((end = memmem(buf, take, "\n\n", 2)) !=
			    NULL) {
				take = (size_t)(end - buf) + 1;
				*done = 1;
			}
			last_lf = buf[take > 0 ? take - 1 : 0] == '\n';
		}
		if (dsn_put(out, off, crc, buf, take) == -1)
			return -1;
		from += take;
		len -= take;
		*left -= take;
	}
	return 0;
}

int
dsn_write(const struct dsn *d, int spoolfd, const struct spool_msg *m,
    int outfd, uint64_t *off, uint64_t *size, uint32_t *crc)
{
	struct msg_writer w;
	uint64_t start = *off, left;
	int full, done = 0;

	*crc = 0;
	full = (d->env->flags & ENVELOPE_DSN_RET_FULL) &&
	    d->action != DSN_DELIVERED &&
	    (uint64_t)m->prepend_size + m->body_size <= DSN_FULL_MAX;
	msg_writer_init(&w);
	dsn_head(d, full, &w);
	if (w.error || dsn_put(outfd, off, crc, w.buf, w.len) == -1)
		goto fail;
	/* the prepended header lines come first, then the message */
	left = full ? DSN_FULL_MAX : DSN_HEADER_MAX;
	if (dsn_copy(spoolfd, m->prepend_offset, m->prepend_size, 0, &done,
		outfd, off, crc, &left) == -1 ||
	    dsn_copy(spoolfd, m->body_offset, m->body_size, !full, &done, outfd,
		off, crc, &left) == -1)
		goto fail;
	w.len = 0;
	/* the content may end without a line end: the boundary needs one */
	dsn_printf(&w, "\n--%016" PRIx64 "/%s--\n", d->id, d->hostname);
	if (w.error || dsn_put(outfd, off, crc, w.buf, w.len) == -1)
		goto fail;
	msg_writer_free(&w);
	*size = *off - start;
	return 0;
fail:
	msg_writer_free(&w);
	return -1;
}
