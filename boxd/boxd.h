/*
 * boxd: the parent and the frame every child role runs in.
 */

#ifndef BOXD_BOXD_H
#define BOXD_BOXD_H

#include "common.h"

struct event_base;

/* ---------------------------------------------------------------- role.c */
/*
 * A role: one row of the table in role.c.  A channel joins two roles when
 * either names the other in peers; every role has one to the parent.
 */
struct role {
	const char *name;
	const char *user; /* started as root, the role drops to this user */
	/*
	 * Its directory under the storage root, its own (owned by its user,
	 * mode 0700); NULL: "empty", root's and read-only, for a role that
	 * needs no files.  Started as root it chroots there, else it cd's.
	 */
	const char *jail;
	const struct sandbox_profile *sandbox; /* common/sandbox.c */
	/*
	 * Serves TLS: gets the server certificate and key, over a channel
	 * that wipes them (a TLS client, mta, needs neither).
	 */
	int tls_server;
	/* gets the DKIM private keys, over a channel that wipes them */
	int dkim_keys;
	uint32_t listeners; /* 1 << LISTEN_*: the listeners it serves */
	uint32_t peers;	    /* 1 << PROC_*: the roles it talks to */
	void (*main)(void);
};

const struct role *role_get(enum proc_type);
const char *proc_name(enum proc_type);
int proc_from_name(const char *);
const char *proc_user(enum proc_type);
/* 1 if the two roles have a channel */
int proc_linked(enum proc_type, enum proc_type);
/* 1 if the role serves listeners of this kind */
int role_serves(enum proc_type, enum listen_kind);
/* run the role's main function (in the child: boxd -P ROLE) */
void role_run(enum proc_type) __attribute__((noreturn));
/* the role this process runs, PROC_PARENT in the parent */
enum proc_type role_self(void);

/* ---------------------------------------------------------------- child.c */
struct child {
	enum proc_type role;
	struct event_base *base;
	struct boxd_config conf;
	struct tls_server tls; /* its PEM text, if the role serves TLS */
	struct imsgev *parent;
	struct imsgev *peer[PROC_COUNT]; /* NULL unless linked */
	time_t started;
	void (*stop)(void); /* the loop has ended (SIGTERM): before exit */
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
/* the role's seccomp filter, once it has set up */
void child_sandbox(void);
/* ---------------------------------------------------------- dkim_files.c */
/* every key file under STORAGE/dkim to signer, then DKIM_KEYS_END gen */
void dkim_files_send(struct imsgev *signer, const char *storage, uint64_t gen);
/*
 * boxctl domain add, dkim rotate and dkim retire: make or remove key
 * files (selector: RETIRE's).  0, or -1 with err.
 */
int dkim_files_change(const char *storage, enum dkim_op, const char *domain,
    const char *selector, char *err, size_t errsz);

/* -------------------------------------------------------- role mains */
void control_main(void); /* ctl/control.c */
void smtp_main(void);	 /* smtpd/smtp.c */
void auth_main(void);	 /* authd/auth.c */
void queue_main(void);	 /* queued/queue.c */
void mda_main(void);	 /* queued/mda.c */
void imap_main(void);	 /* imapd/imap.c */
void signer_main(void);	 /* signerd/signer.c */
void idle_main(void);	 /* boxd/idle.c: mta */

#endif
