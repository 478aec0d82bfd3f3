/*
 * boxd: the parent and the frame every child role runs in.
 */

#ifndef BOXD_BOXD_H
#define BOXD_BOXD_H

#include "common.h"

struct event_base;

/* ---------------------------------------------------------------- child.c */
struct child {
	enum proc_type role;
	struct event_base *base;
	struct boxd_config conf;
	struct tls_server tls; /* its PEM text, if the role serves TLS */
	struct imsgev *parent;
	struct imsgev *peer[PROC_COUNT]; /* NULL unless linked */
	time_t started;
};

extern struct child *child;

/*
 * Set up the channel to the parent and wait for the configuration.
 * parent_handler (NULL if none is expected) gets the later messages from
 * the parent; the CONF_START/TLS/END sequence and reloads (into
 * child->conf) are handled here.
 */
void child_init(enum proc_type, imsgev_handler parent_handler);
/*
 * Open the channels to the linked peers, with one handler each (NULL for
 * a peer this role never hears from).
 */
void child_connect(imsgev_handler handlers[PROC_COUNT]);
/*
 * child_connect() unless handlers is NULL (already connected), tell the
 * parent we are ready and run the loop.  Call after privsep_drop() and
 * sandbox_init().
 */
void child_run(imsgev_handler handlers[PROC_COUNT]);
/* send to a peer (or the parent); fatal on failure */
void child_send(enum proc_type, uint32_t type, uint32_t peerid, int fd,
    struct msg_writer *);
/* a role main reports malformed imsgs from its own kind with this */
void child_bad_imsg(struct imsg *, const char *what) __attribute__((noreturn));
/* wipe and free the TLS key once the role has built its context */
void child_forget_tls(void);
/* privsep_drop() into the role's jail, before it opens its files */
void child_drop(void);
/* -------------------------------------------------------- role mains */
void control_main(void);	/* ctl/control.c */
void smtp_main(void);		/* smtpd/smtp.c */
void auth_main(void);		/* authd/auth.c */
void queue_main(void);		/* queued/queue.c */
void mda_main(void);		/* queued/mda.c */
void idle_main(enum proc_type); /* boxd/idle.c: mta, signer, imap */

#endif
