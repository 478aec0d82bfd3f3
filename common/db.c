/*
 * A transactional Berkeley DB environment: auth's tables now, imap's
 * mailbox indexes next.  libdb is loaded with dlopen() by the roles that
 * open an environment (before they chroot), so no other process maps it.
 *
 * Every change is one transaction, committed with a synchronous log
 * write: what a caller was told is done survives a kill -9, and recovery
 * runs at every open.  Keys are strings without their NUL.
 */

#include <db.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define DBENV_KEY_MAX 512 /* longer keys are not ours */

struct db_env {
	DB_ENV *env;
	DB_TXN *txn; /* the one open transaction */
	struct db_file **files;
	size_t nfiles;
	const char *name; /* in log lines */
	uint32_t checkpoint_kb;
	int broken;
	char err[DBENV_ERR_MAX];
};

struct db_file {
	DB *db;
};

#define DBENV_FUNCTIONS(X) \
	X(db_env_create)   \
	X(db_create)       \
	X(db_strerror)

#define DBENV_POINTER(name) __typeof__(name) *name;
static struct {
	DBENV_FUNCTIONS(DBENV_POINTER)
} dbfn;

#define DBENV_LOOKUP(name)                                                  \
	if ((dbfn.name = (__typeof__(dbfn.name))dlsym(lib, #name)) == NULL) \
		fatalx("%s: %s", #name, dlerror());

static int db_dberr(struct db_env *, const char *, int);
static void db_errcall(const DB_ENV *, const char *, const char *);
static int db_file_open(struct db_env *, const char *);
static void db_files_close(struct db_env *);

void
db_load(void)
{
	void *lib;

	if (dbfn.db_create != NULL)
		return;
	if ((lib = dlopen(DBENV_LIBDB, RTLD_NOW)) == NULL)
		fatalx("cannot load Berkeley DB: %s", dlerror());
	DBENV_FUNCTIONS(DBENV_LOOKUP)
}

int
db_seterr(struct db_env *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
	return -1;
}

static int
db_dberr(struct db_env *e, const char *what, int rv)
{
	if (rv == DB_RUNRECOVERY)
		e->broken = 1;
	log_warnx("%s: %s: %s", e->name, what, dbfn.db_strerror(rv));
	return db_seterr(
	    e, "database error: %s: %s", what, dbfn.db_strerror(rv));
}

static void
db_errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
	log_warnx("berkeley db: %s", msg);
}

const char *
db_error(struct db_env *e)
{
	return e->err;
}

int
db_broken(struct db_env *e)
{
	return e->broken;
}

static int
db_file_open(struct db_env *e, const char *file)
{
	struct db_file *f;
	DB *db;
	int rv;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return db_seterr(e, "%s", strerror(errno));
	if ((rv = dbfn.db_create(&db, e->env, 0)) != 0) {
		free(f);
		return db_dberr(e, "db_create", rv);
	}
	if ((rv = db->open(
		 db, e->txn, file, NULL, DB_BTREE, DB_CREATE, 0600)) != 0) {
		db->close(db, 0);
		free(f);
		return db_dberr(e, file, rv);
	}
	f->db = db;
	e->files[e->nfiles++] = f;
	return 0;
}

/* the last opened first */
static void
db_files_close(struct db_env *e)
{
	while (e->nfiles > 0) {
		e->nfiles--;
		e->files[e->nfiles]->db->close(e->files[e->nfiles]->db, 0);
		free(e->files[e->nfiles]);
	}
	free(e->files);
	e->files = NULL;
}

struct db_env *
db_env_open(const char *home, const struct db_env_conf *conf,
    struct db_file **files, char *err, size_t errsz)
{
	struct db_env *e;
	DB_ENV *env;
	size_t n;
	int rv;

	for (n = 0; conf->files[n] != NULL; n++)
		;
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->files = calloc(n ? n : 1, sizeof(*e->files))) == NULL) {
		snprintf(err, errsz, "%s", strerror(errno));
		free(e);
		return NULL;
	}
	e->name = conf->name;
	e->checkpoint_kb = conf->checkpoint_kb;
	db_load();
	if ((rv = dbfn.db_env_create(&env, 0)) != 0) {
		snprintf(err, errsz, "db_env_create: %s", dbfn.db_strerror(rv));
		free(e->files);
		free(e);
		return NULL;
	}
	e->env = env;
	env->set_errcall(env, db_errcall);
	if ((rv = env->set_cachesize(env, 0, conf->cache_size, 1)) != 0 ||
	    (rv = env->set_lg_max(env, conf->log_file_max)) != 0 ||
	    (rv = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0) {
		snprintf(
		    err, errsz, "db environment: %s", dbfn.db_strerror(rv));
		goto fail;
	}
	/*
	 * Only this process opens the environment, so its regions live in
	 * our heap (DB_PRIVATE): nothing stale is left behind by a kill -9,
	 * and the normal recovery of DB_RECOVER replays the log.
	 */
	if ((rv = env->open(env, home,
		 DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG |
		     DB_INIT_MPOOL | DB_RECOVER | DB_PRIVATE,
		 0600)) != 0) {
		snprintf(err, errsz, "db environment %s: %s", home,
		    dbfn.db_strerror(rv));
		goto fail;
	}
	if (db_begin(e) == -1)
		goto fail_msg;
	for (n = 0; conf->files[n] != NULL; n++)
		if (db_file_open(e, conf->files[n]) == -1)
			goto fail_msg;
	if (db_commit(e, 1) == -1)
		goto fail_msg;
	for (n = 0; n < e->nfiles; n++)
		files[n] = e->files[n];
	return e;

fail_msg:
	snprintf(err, errsz, "%s", e->err);
fail:
	db_abort(e);
	db_files_close(e);
	env->close(env, 0);
	free(e);
	return NULL;
}

void
db_env_close(struct db_env *e)
{
	if (e == NULL)
		return;
	db_abort(e);
	/* a clean close checkpoints, so the next start has no log to replay */
	if (!e->broken)
		e->env->txn_checkpoint(e->env, 0, 0, DB_FORCE);
	db_files_close(e);
	e->env->close(e->env, 0);
	free(e);
}

int
db_begin(struct db_env *e)
{
	int rv;

	if (e->txn != NULL)
		fatalx("%s: nested transaction", e->name);
	if (e->broken)
		return db_seterr(e, "database needs recovery: restart boxd");
	if ((rv = e->env->txn_begin(e->env, NULL, &e->txn, 0)) != 0) {
		e->txn = NULL;
		return db_dberr(e, "txn_begin", rv);
	}
	return 0;
}

int
db_commit(struct db_env *e, int write)
{
	DB_TXN *txn = e->txn;
	int rv;

	e->txn = NULL;
	if ((rv = txn->commit(txn, write ? DB_TXN_SYNC : 0)) != 0)
		return db_dberr(e, "commit", rv);
	/* bound the log and recovery time; failing here loses nothing */
	if (write &&
	    (rv = e->env->txn_checkpoint(e->env, e->checkpoint_kb, 0, 0)) != 0)
		log_warnx("%s: checkpoint: %s", e->name, dbfn.db_strerror(rv));
	return 0;
}

void
db_abort(struct db_env *e)
{
	int rv;

	if (e->txn == NULL)
		return;
	if ((rv = e->txn->abort(e->txn)) != 0)
		db_dberr(e, "abort", rv);
	e->txn = NULL;
}

int
db_get(struct db_env *e, struct db_file *f, const char *key, void **data,
    size_t *len)
{
	DBT k, d;
	int rv;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)key;
	k.size = (u_int32_t)strlen(key);
	d.flags = DB_DBT_MALLOC;
	rv = f->db->get(f->db, e->txn, &k, &d, 0);
	if (rv == DB_NOTFOUND || rv == DB_KEYEMPTY)
		return 0;
	if (rv != 0)
		return db_dberr(e, "get", rv);
	*data = d.data;
	*len = d.size;
	return 1;
}

int
db_exists(struct db_env *e, struct db_file *f, const char *key)
{
	void *data;
	size_t len;
	int rv;

	if ((rv = db_get(e, f, key, &data, &len)) == 1)
		free(data);
	return rv;
}

int
db_put(struct db_env *e, struct db_file *f, const char *key,
    struct msg_writer *w, int replace)
{
	DBT k, d;
	int rv;

	if (w->error) {
		msg_writer_free(w);
		return db_seterr(e, "out of memory");
	}
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = (void *)key;
	k.size = (u_int32_t)strlen(key);
	d.data = w->buf;
	d.size = (u_int32_t)w->len;
	rv = f->db->put(f->db, e->txn, &k, &d, replace ? 0 : DB_NOOVERWRITE);
	explicit_bzero(w->buf, w->len);
	msg_writer_free(w);
	if (rv == DB_KEYEXIST)
		return 0;
	if (rv != 0)
		return db_dberr(e, "put", rv);
	return 1;
}

int
db_del(struct db_env *e, struct db_file *f, const char *key)
{
	DBT k;
	int rv;

	memset(&k, 0, sizeof(k));
	k.data = (void *)key;
	k.size = (u_int32_t)strlen(key);
	rv = f->db->del(f->db, e->txn, &k, 0);
	if (rv == DB_NOTFOUND || rv == DB_KEYEMPTY)
		return 0;
	if (rv != 0)
		return db_dberr(e, "del", rv);
	return 1;
}

int
db_scan(struct db_env *e, struct db_file *f, db_scan_cb cb, void *arg)
{
	DBC *c;
	DBT k, d;
	char key[DBENV_KEY_MAX];
	int rv, stop = 0;

	if ((rv = f->db->cursor(f->db, e->txn, &c, DB_READ_COMMITTED)) != 0)
		return db_dberr(e, "cursor", rv);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	while ((rv = c->get(c, &k, &d, DB_NEXT)) == 0) {
		if (k.size >= sizeof(key) ||
		    memchr(k.data, '\0', k.size) != NULL) {
			log_warnx("%s: skipping a malformed key", e->name);
			continue;
		}
		memcpy(key, k.data, k.size);
		key[k.size] = '\0';
		if (cb(e, key, d.data, d.size, arg) == -1) {
			stop = 1;
			break;
		}
	}
	c->close(c);
	if (stop)
		return -1;
	if (rv != DB_NOTFOUND)
		return db_dberr(e, "cursor get", rv);
	return 0;
}
