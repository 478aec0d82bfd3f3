/*
 * ctl: the control role (the control socket server) and boxctl, its
 * client.  They speak imsg (common/imsg_types.h, the IMSG_CTL_* types).
 */

#ifndef BOXD_CTL_H
#define BOXD_CTL_H

#include <sys/types.h>

#include "common.h"

/* ---------------------------------------------------------------- control.c */
#define CONTROL_CLIENTS_MAX    64
#define CONTROL_STATUS_TIMEOUT 10		  /* seconds */
#define CONTROL_IDLE_TIMEOUT   60		  /* without a request */
#define CONTROL_OUTQ_MAX       (64 * 1024 * 1024) /* unread replies */
/* a new request while more than this is unread: the client is not reading */
#define CONTROL_UNREAD_MAX (64 * 1024)
/* imap's answer for a batch of a user list's rows; then they go without */
#define CONTROL_USAGE_TIMEOUT 30

/* a user list's row, or its end, held until imap has told the usage */
struct control_held {
	TAILQ_ENTRY(control_held) entry;
	uint32_t type;			    /* IMSG_CTL_LINE, _OK, _FAIL */
	int asked;			    /* in the batch imap is asked */
	char mailbox[ENVELOPE_MAILBOX_MAX]; /* "": none to ask for */
	size_t len;
	unsigned char data[]; /* as auth sent it */
};
TAILQ_HEAD(control_held_list, control_held);

/* what a client's one request in flight waits for */
enum control_pending {
	CONTROL_IDLE,
	CONTROL_TABLE,	/* auth's rows, then OK or FAIL */
	CONTROL_STATUS, /* the parent's process list, the counters */
	CONTROL_RELOAD, /* the parent's OK or FAIL */
	/* boxctl dns and dkim: auth's domain list, to find the domain */
	CONTROL_DOMAIN_CHECK,
	CONTROL_DKIM, /* the parent's OK or FAIL for the key files */
	CONTROL_DNS,  /* signer's public keys of the domain */
};

struct control_conn {
	TAILQ_ENTRY(control_conn) entry;
	uint32_t id;   /* peerid inside boxd */
	char name[32]; /* "client 7 (uid 0)" */
	struct imsgev iev;
	enum control_pending pending;
	int hello; /* it said which protocol it speaks, and it is ours */
	int dead;  /* dropped, freed soon */
	/* status */
	int wait_procs;
	int wait_stats; /* replies still to come */
	uint64_t counters[CTL_COUNTERS];
	struct event *timeout; /* of a status request */
	struct event *idle;    /* between requests */
	/* user list: the rows wait for their usage, in order */
	int usage;		     /* the request is a user list */
	int usage_off;		     /* imap did not answer: rows go as is */
	uint64_t usage_reqid;	     /* of the batch asked; 0: none */
	struct event *usage_timeout; /* of that batch */
	struct control_held_list held;
	size_t held_bytes;
	/* dns, dkim and domain add: the request and what it names */
	uint32_t request; /* IMSG_CTL_* */
	char domain[SMTP_DOMAIN_MAX + 1];
	char selector[DKIM_SELECTOR_MAX];
	int domain_found;
	uint32_t dns_keys; /* DKIM records sent for boxctl dns */
};

/* ---------------------------------------------------------------- boxctl.c */
#define BOXCTL_PASSWORD_MAX 511 /* what auth accepts */
#define BOXCTL_PASSWORD_MIN 8

#endif
