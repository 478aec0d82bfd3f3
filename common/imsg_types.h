/*
 * The whole protocol between boxd's processes, and between boxctl and the
 * control process, on one screen.  Payloads are marshalled with msg_put_*()
 * and read back with msg_get_*(); the comment after each type names its
 * fields in order.  "str" is a u32 length and that many bytes, no NUL.
 *
 * One list makes the enum and imsg_type_name().  X(NAME) is a type
 * between boxd's own processes: numbered in order from 0x100, so adding
 * one anywhere renumbers only what boxd alone speaks.  CTL(NAME, N) is a
 * type boxctl sends or reads: its number is fixed, below 0x100.  They are
 * the numbers boxctl 0.1 used, so that a boxctl of that build, which says
 * no protocol version, still reads the IMSG_CTL_FAIL that refuses it.
 * HELLO and FAIL keep their numbers in every protocol version: they are
 * how two builds find out that they differ (ctl_msg.c).
 */

#ifndef BOXD_IMSG_TYPES_H
#define BOXD_IMSG_TYPES_H

#define IMSG_TYPES(X, CTL)                                                    \
	/* parent -> every child: the configuration, then the go-ahead */     \
	X(CONF_START)	 /* config blob (config_marshal()) */                 \
	X(CONF_TLS)	 /* str cert chain PEM, str key PEM */                \
	X(CONF_END)	 /* -; also ends a reload's messages */               \
	X(CONF_LISTENER) /* fd; u32 listener index */                         \
	X(CONF_CONTROL)	 /* fd: the bound control socket */                   \
	X(CONF_RELOAD)	 /* config blob: a reload, same fields */             \
	/* parent -> control: who may connect; before CONF_CONTROL, and       \
	   again after every CONF_RELOAD */                                   \
	X(CONF_CONTROL_GROUP) /* str group ("" none), u32 gid,                \
				 u32 n, n x u32 uid of a member */            \
                                                                              \
	/* child -> parent */                                                 \
	X(PROC_READY)	 /* -: sandboxed and serving */                       \
	X(PROC_FATAL)	 /* str reason, sent just before a fatal exit */      \
	X(PROC_RELOADED) /* -: a reload taken, at its CONF_END */             \
                                                                              \
	/* control <-> parent */                                              \
	X(PARENT_PROCS)	 /* request: - */                                     \
	X(PARENT_PROC)	 /* reply: str role, u32 pid, str user, u64 start */  \
	X(PARENT_RELOAD) /* request: -; reply CTL_OK / CTL_FAIL */            \
                                                                              \
	/* control <-> smtp, queue, mda: counters */                          \
	X(STATS_REQ) /* - */                                                  \
	X(STATS)     /* u64 sessions, received, delivered, queued */          \
	/* control <-> imap: boxctl user list's usage, a batch of users */    \
	X(IMAP_USAGE_REQ) /* u64 reqid, u32 n, n x str mailbox */             \
	X(IMAP_USAGE)	  /* u64 reqid, u32 n, n x (u32 status                \
			     (CTL_USAGE_*), u64 bytes, u64 messages) */       \
                                                                              \
	/* smtp <-> auth */                                                   \
	X(AUTH_RCPT)	    /* u64 reqid, str address */                      \
	X(AUTH_RCPT_RESULT) /* u64 reqid, u32 status, u32 n,                  \
			       n x str mailbox */                             \
	/* smtp <-> auth: does the AUTH user own each address (sender) */     \
	X(AUTH_SENDER) /* u64 reqid, str user, u32 n, n x str address */      \
	X(AUTH_SENDER_RESULT) /* u64 reqid, u32 status (AUTH_SENDER_*),       \
				 u32 index of the first not owned */          \
                                                                              \
	/* smtp <-> queue */                                                  \
	X(QUEUE_CREATE)	   /* u64 reqid, envelope (envelope_marshal()) */     \
	X(QUEUE_CREATE_OK) /* u64 reqid, u64 msgid; fd: spool file at body */ \
	X(QUEUE_CREATE_FAIL) /* u64 reqid */                                  \
	X(QUEUE_COMMIT)	     /* u64 reqid, u64 msgid, u64 body size,          \
				u32 body crc32 */                             \
	X(QUEUE_COMMIT_OK)   /* u64 reqid */                                  \
	X(QUEUE_COMMIT_FAIL) /* u64 reqid */                                  \
	X(QUEUE_ABORT)	     /* u64 msgid */                                  \
                                                                              \
	/* queue <-> mda */                                                   \
	X(MDA_DELIVER) /* u64 msgid, u64 body offset, u64 body size,          \
			  u64 prepend offset, u32 prepend size, str sender,   \
			  u32 flags (MDA_DELIVER_*), u32 n,                   \
			  n x (u32 index, str mailbox); fd: spool file */     \
	X(MDA_DONE)    /* u64 msgid, u32 n, n x (u32 index,                   \
			  u32 status (MDA_*), str reply), in order */         \
	/* mda -> imap: new mail in a Maildir's INBOX, for IDLE */            \
	X(MDA_DELIVERED) /* str mailbox ("DOMAIN/USER") */                    \
                                                                              \
	/* queue <-> auth: before a retry, is each mailbox still a user's? */ \
	X(AUTH_MAILBOX_CHECK)  /* u64 msgid, u32 n, n x str mailbox */        \
	X(AUTH_MAILBOX_RESULT) /* u64 msgid, u32 n, n x u32 status            \
				  (AUTH_MAILBOX_*), in order */               \
                                                                              \
	/* imap, smtp <-> auth: a login; common/auth_msg.c */                 \
	X(AUTH_LOGIN)	     /* u64 reqid, u32 service (AUTH_SERVICE_*),      \
				str user, str password, str client address */ \
	X(AUTH_LOGIN_RESULT) /* u64 reqid, u32 status (AUTH_LOGIN_*),         \
				str user, str mailbox, u64 quota */           \
	/* auth -> imap: a user's quota changed (boxctl user quota) */        \
	X(AUTH_QUOTA) /* str mailbox, u64 bytes (0: none) */                  \
                                                                              \
	/* parent -> signer: the DKIM keys, at start, inside every reload's   \
	   messages and after boxctl dkim; the set ends with KEYS_END */      \
	X(DKIM_KEY)	   /* str domain, str selector, str PEM */            \
	X(DKIM_KEYS_END)   /* u64 generation */                               \
	X(DKIM_KEYS_TAKEN) /* signer -> parent: u64 generation */             \
	/* control -> parent: the key files of boxctl domain add and dkim;    \
	   reply CTL_OK / CTL_FAIL, once signer has the new set */            \
	X(PARENT_DKIM) /* u32 op (DKIM_OP_*), str domain, str selector */     \
	/* signer -> smtp: which selectors sign for each domain; the whole    \
	   table after every key set */                                       \
	X(SIGNER_TABLE)	    /* -: a new table follows */                      \
	X(SIGNER_DOMAIN)    /* str domain, str rsa selector, str ed25519      \
			       selector ("": none) */                         \
	X(SIGNER_TABLE_END) /* - */                                           \
	/* smtp <-> signer: a DKIM signature of a digest */                   \
	X(SIGNER_SIGN)	    /* u64 reqid, str domain, str selector,           \
			       u32 alg (dkim_alg), DKIM_DIGEST_LEN octets */  \
	X(SIGNER_SIGNATURE) /* u64 reqid, u32 status (SIGNER_*), u32 n,       \
			       n octets of signature */                       \
	/* control <-> signer: the public keys of a domain, for boxctl dns */ \
	X(SIGNER_PUBKEYS)     /* str domain */                                \
	X(SIGNER_PUBKEY)      /* str selector, u32 alg, str p=, u32 signs */  \
	X(SIGNER_PUBKEYS_END) /* - */                                         \
                                                                              \
	/* boxctl <-> control (peerid = client id inside boxd); control       \
	   passes the table commands on to auth and its rows back */          \
	CTL(CTL_STATUS, 26)	  /* - */                                     \
	CTL(CTL_DOMAIN_ADD, 27)	  /* str domain */                            \
	CTL(CTL_DOMAIN_DEL, 28)	  /* str domain */                            \
	CTL(CTL_DOMAIN_LIST, 29)  /* - */                                     \
	CTL(CTL_USER_ADD, 30)	  /* str address, str password */             \
	CTL(CTL_USER_DEL, 31)	  /* str address */                           \
	CTL(CTL_USER_LIST, 32)	  /* str domain ("" for all) */               \
	CTL(CTL_USER_PASSWD, 33)  /* str address, str password */             \
	CTL(CTL_USER_QUOTA, 34)	  /* str address, u64 bytes (0: none) */      \
	CTL(CTL_USER_DISABLE, 35) /* str address */                           \
	CTL(CTL_USER_ENABLE, 36)  /* str address */                           \
	CTL(CTL_ALIAS_ADD, 37)	  /* str address, u32 n, n x str target */    \
	CTL(CTL_ALIAS_DEL, 38)	  /* str address */                           \
	CTL(CTL_ALIAS_LIST, 39)	  /* str domain ("" for all) */               \
	CTL(CTL_RELOAD, 40)	  /* - */                                     \
	CTL(CTL_LINE, 41)  /* reply row: u32 n, n x (str key, str value) */   \
	CTL(CTL_OK, 42)	   /* reply end: - */                                 \
	CTL(CTL_FAIL, 43)  /* reply end: str message */                       \
	CTL(CTL_HELLO, 44) /* first, both ways: u32 protocol version,         \
			      str build version */                            \
	CTL(CTL_DNS, 45)   /* str domain */                                   \
	CTL(CTL_DKIM_ROTATE, 46) /* str domain */                             \
	CTL(CTL_DKIM_RETIRE, 47) /* str domain, str selector */               \
	/* control passes these on to the queue, and its rows back */         \
	CTL(CTL_QUEUE_LIST, 48)	  /* - */                                     \
	CTL(CTL_QUEUE_SHOW, 49)	  /* str id */                                \
	CTL(CTL_QUEUE_FLUSH, 50)  /* str id ("" for all) */                   \
	CTL(CTL_QUEUE_REMOVE, 51) /* str id */

#define IMSG_ENUM(name)	       IMSG_##name,
#define IMSG_ENUM_CTL(name, n) IMSG_##name = (n),
#define IMSG_INTERNAL_BASE     0x100 /* boxd's own types; below: boxctl's */

enum imsg_type {
	IMSG_NONE,
	IMSG_BEFORE_INTERNAL = IMSG_INTERNAL_BASE - 1,
	IMSG_TYPES(IMSG_ENUM, IMSG_ENUM_CTL)
};

/* "QUEUE_COMMIT"; "unknown(1234)" for a number no type has */
const char *imsg_type_name(uint32_t);
/* 1 if some type has this number */
int imsg_type_known(uint32_t);

/* IMSG_AUTH_RCPT_RESULT: mailboxes one address may reach, at most */
#define TABLE_RCPT_MAX 256
/* IMSG_AUTH_RCPT_RESULT status */
enum auth_rcpt_status {
	AUTH_RCPT_OK,	    /* mailboxes follow */
	AUTH_RCPT_NOUSER,   /* our domain, nobody there */
	AUTH_RCPT_NOTLOCAL, /* not one of our domains */
	AUTH_RCPT_TEMPFAIL, /* table error: try later */
	AUTH_RCPT_DISABLED, /* the account is disabled */
};

/* IMSG_AUTH_SENDER_RESULT status */
enum auth_sender_status {
	AUTH_SENDER_OWNED,    /* every address is the user's or reaches it */
	AUTH_SENDER_NOTOWNED, /* one is not: its index follows */
	AUTH_SENDER_TEMPFAIL, /* table error: try later */
};
/* addresses one IMSG_AUTH_SENDER may carry */
#define AUTH_SENDER_MAX 64

/* IMSG_AUTH_MAILBOX_RESULT status */
enum auth_mailbox_status {
	AUTH_MAILBOX_EXISTS,   /* a user has it (disabled or not) */
	AUTH_MAILBOX_GONE,     /* no user has it: deleted since */
	AUTH_MAILBOX_TEMPFAIL, /* table error: cannot tell */
};

/* IMSG_AUTH_LOGIN service: who asks, for the log line */
enum auth_service {
	AUTH_SERVICE_IMAP,
	AUTH_SERVICE_POP3,
	AUTH_SERVICE_SMTP,
	AUTH_SERVICES
};

/* IMSG_AUTH_LOGIN_RESULT status */
enum auth_login_status {
	AUTH_LOGIN_OK,	     /* user and mailbox follow */
	AUTH_LOGIN_BAD,	     /* unknown user or wrong password */
	AUTH_LOGIN_DISABLED, /* the password was right, the user disabled */
	AUTH_LOGIN_LIMITED,  /* too many failures: not even checked */
	AUTH_LOGIN_TEMPFAIL, /* table error: try later */
};

/* IMSG_PARENT_DKIM op */
enum dkim_op {
	DKIM_OP_ADD,	/* domain add: a first pair, unless it has keys */
	DKIM_OP_ROTATE, /* a new pair that signs from now on */
	DKIM_OP_RETIRE, /* remove a selector and its pair's other key */
};

/* IMSG_SIGNER_SIGNATURE status */
enum signer_status {
	SIGNER_OK,
	SIGNER_NOKEY, /* no such key loaded (retired, or its file is bad) */
	SIGNER_FAIL,  /* the key would not sign */
};

/* IMSG_MDA_DELIVER flags: tried before, look for an earlier delivery */
#define MDA_DELIVER_RETRY 0x1

/* IMSG_MDA_DONE status */
enum mda_status {
	MDA_OK,
	MDA_TEMPFAIL,
	MDA_PERMFAIL,
};

#endif
