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

/* what a client's one request in flight waits for */
enum control_pending {
	CONTROL_IDLE,
	CONTROL_TABLE,	/* auth's rows, then OK or FAIL */
	CONTROL_STATUS, /* the parent's process list, the counters */
	CONTROL_RELOAD, /* the parent's OK or FAIL */
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
};

/* ---------------------------------------------------------------- boxctl.c */
#define BOXCTL_PASSWORD_MAX 511 /* what auth accepts */
#define BOXCTL_PASSWORD_MIN 8

#endif
