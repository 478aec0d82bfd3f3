/*
 * The whole protocol between boxd's processes, and between boxctl and the
 * control process, on one screen.  Payloads are marshalled with msg_put_*()
 * and read back with msg_get_*(); the comment after each type names its
 * fields in order.  "str" is a u32 length and that many bytes, no NUL.
 */

#ifndef BOXD_IMSG_TYPES_H
#define BOXD_IMSG_TYPES_H

enum imsg_type {
	IMSG_NONE,

	/* parent -> every child: the configuration, then the go-ahead */
	IMSG_CONF_START,    /* config blob (config_marshal()) */
	IMSG_CONF_TLS,	    /* str cert chain PEM, str key PEM */
	IMSG_CONF_END,	    /* - */
	IMSG_CONF_LISTENER, /* fd; u32 listener index */
	IMSG_CONF_CONTROL,  /* fd: the bound control socket */
	IMSG_CONF_RELOAD,   /* config blob: a reload, same fields */

	/* parent -> control: who may connect; before IMSG_CONF_CONTROL, and
	   again after every IMSG_CONF_RELOAD */
	IMSG_CONF_CONTROL_GROUP, /* str group ("" none), u32 gid,
				    u32 n, n x u32 uid of a member */

	/* child -> parent */
	IMSG_PROC_READY, /* -: sandboxed and serving */
	IMSG_PROC_FATAL, /* str reason, sent just before a fatal exit */

	/* control <-> parent */
	IMSG_PARENT_PROCS,  /* request: - */
	IMSG_PARENT_PROC,   /* reply: str role, u32 pid, str user, u64 start */
	IMSG_PARENT_RELOAD, /* request: -; reply IMSG_CTL_OK / FAIL */

	/* control <-> smtp, queue, mda: counters */
	IMSG_STATS_REQ, /* - */
	IMSG_STATS,	/* u64 sessions, received, delivered, queued */

	/* smtp <-> auth */
	IMSG_AUTH_RCPT,	       /* u64 reqid, str address */
	IMSG_AUTH_RCPT_RESULT, /* u64 reqid, u32 status, u32 n, n x str mailbox
				*/

	/* smtp <-> queue */
	IMSG_QUEUE_CREATE,    /* u64 reqid, envelope (envelope_marshal()) */
	IMSG_QUEUE_CREATE_OK, /* u64 reqid, u64 msgid; fd: spool file at body */
	IMSG_QUEUE_CREATE_FAIL, /* u64 reqid */
	IMSG_QUEUE_COMMIT,	/* u64 reqid, u64 msgid, u64 body size,
				   u32 body crc32 */
	IMSG_QUEUE_COMMIT_OK,	/* u64 reqid */
	IMSG_QUEUE_COMMIT_FAIL, /* u64 reqid */
	IMSG_QUEUE_ABORT,	/* u64 msgid */

	/* queue <-> mda */
	IMSG_MDA_DELIVER, /* u64 msgid, u64 body offset, u64 body size,
			     u64 prepend offset, u32 prepend size,
			     str sender, u32 n, n x (u32 index, str mailbox);
			     fd: spool file */
	IMSG_MDA_DONE,	  /* u64 msgid, u32 n, n x (u32 index,
			     u32 status (MDA_*), str reply), in order */

	/* boxctl <-> control (peerid = client id inside boxd) */
	IMSG_CTL_STATUS,       /* - */
	IMSG_CTL_DOMAIN_ADD,   /* str domain */
	IMSG_CTL_DOMAIN_DEL,   /* str domain */
	IMSG_CTL_DOMAIN_LIST,  /* - */
	IMSG_CTL_USER_ADD,     /* str address, str password */
	IMSG_CTL_USER_DEL,     /* str address */
	IMSG_CTL_USER_LIST,    /* str domain ("" for all) */
	IMSG_CTL_USER_PASSWD,  /* str address, str password */
	IMSG_CTL_USER_QUOTA,   /* str address, u64 bytes (0: none) */
	IMSG_CTL_USER_DISABLE, /* str address */
	IMSG_CTL_USER_ENABLE,  /* str address */
	IMSG_CTL_ALIAS_ADD,    /* str address, u32 n, n x str target */
	IMSG_CTL_ALIAS_DEL,    /* str address */
	IMSG_CTL_ALIAS_LIST,   /* str domain ("" for all) */
	IMSG_CTL_RELOAD,       /* - */
	IMSG_CTL_LINE,	       /* reply row: u32 n, n x (str key, str value) */
	IMSG_CTL_OK,	       /* reply end: - */
	IMSG_CTL_FAIL,	       /* reply end: str message */

	IMSG_TYPE_MAX
};

/* IMSG_AUTH_RCPT_RESULT status */
enum auth_rcpt_status {
	AUTH_RCPT_OK,	    /* mailboxes follow */
	AUTH_RCPT_NOUSER,   /* our domain, nobody there */
	AUTH_RCPT_NOTLOCAL, /* not one of our domains */
	AUTH_RCPT_TEMPFAIL, /* table error: try later */
	AUTH_RCPT_DISABLED, /* the account is disabled */
};

/* IMSG_MDA_DONE status */
enum mda_status {
	MDA_OK,
	MDA_TEMPFAIL,
	MDA_PERMFAIL,
};

#endif
