/*
 * sqlite_version.c - store_version() for SQLite: PRAGMA data_version on a
 * connection of its own, plus this handle's commits.
 *
 * data_version moves on a connection when another connection commits to
 * the file, never for the connection's own commits, and each connection
 * has its own count: so it is asked on one connection that never writes
 * (the pool's connections write, and two of them give unrelated numbers),
 * which then sees every commit, this handle's, another mount's, magellan's
 * or the sqlite3 shell's. This handle's own commits (store_commits()) are
 * added: both only grow, so the sum moves whenever either does, and ours
 * count even if SQLite one day skips a change made in the same process.
 *
 * The connection is opened at the first call and used under a lock of its
 * own: one cheap statement (it reads the WAL index's header, no table).
 *
 * The one writer it has is the background count of a store's rows
 * (sqlite_counts.c): its batches are committed on this connection, so
 * that they never move data_version here. They change execlogfs_counts,
 * not the log (a count reads the same before and after each), and a
 * report re-rendered at each of them would cost what the count saves. A
 * version asked during a batch waits for it (one batch: a fraction of a
 * second).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "sqlstore.h"

struct sqlstore_version {
	pthread_mutex_t lock;
	sqlite3 *db;
	sqlite3_stmt *st; /* PRAGMA data_version */
};

static int sqlstore_version_open(struct sqlstore *s, struct sqlstore_version *v)
{
	int rc = sqlite3_open_v2(s->open_name, &v->db, s->open_flags, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(v->db, 1);
		sqlite3_busy_timeout(v->db, 5000);
		/* The background count's commits are made here (read-only: none). */
		if (!s->base.opts.read_only)
			rc = sqlite3_exec(v->db, s->base.opts.sync == STORE_SYNC_FULL
					  ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
					  NULL, NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v3(v->db, "PRAGMA data_version", -1, SQLITE_PREPARE_PERSISTENT,
					&v->st, NULL);
	if (rc == SQLITE_OK)
		return 0;
	rc = sqlstore_fail(v->db, rc, "open the connection that asks data_version");
	sqlite3_close_v2(v->db); /* also after a failed open, as SQLite asks */
	v->db = NULL;
	return rc;
}

/* The version's lock and connection, made at the first call; NULL out of memory. */
static struct sqlstore_version *sqlstore_version_of(struct sqlstore *s)
{
	struct sqlstore_version *v;

	pthread_mutex_lock(&s->pool_lock);
	v = s->version;
	if (v == NULL) {
		v = calloc(1, sizeof(*v));
		if (v)
			pthread_mutex_init(&v->lock, NULL);
		s->version = v;
	}
	pthread_mutex_unlock(&s->pool_lock);
	return v;
}

int sqlstore_version(struct store *base, uint64_t *version)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_version *v = sqlstore_version_of(s);
	uint64_t commits = store_commits(base);
	int err = 0, rc;

	*version = 0;
	if (v == NULL)
		return store_fail(-ENOMEM, "sqlite: out of memory");
	pthread_mutex_lock(&v->lock);
	if (v->db == NULL)
		err = sqlstore_version_open(s, v);
	if (err == 0) {
		rc = sqlite3_step(v->st);
		if (rc == SQLITE_ROW)
			*version = (uint64_t)sqlite3_column_int64(v->st, 0) + commits;
		else
			err = sqlstore_fail(v->db, rc, "read data_version");
		sqlite3_reset(v->st);
	}
	pthread_mutex_unlock(&v->lock);
	return err;
}

int sqlstore_version_lock(struct sqlstore *s, sqlite3 **db)
{
	struct sqlstore_version *v = sqlstore_version_of(s);
	int err = 0;

	*db = NULL;
	if (v == NULL)
		return store_fail(-ENOMEM, "sqlite: out of memory");
	pthread_mutex_lock(&v->lock);
	if (v->db == NULL)
		err = sqlstore_version_open(s, v);
	if (err) {
		pthread_mutex_unlock(&v->lock);
		return err;
	}
	*db = v->db;
	return 0;
}

void sqlstore_version_unlock(struct sqlstore *s)
{
	pthread_mutex_unlock(&s->version->lock);
}

void sqlstore_version_free(struct sqlstore *s)
{
	struct sqlstore_version *v = s->version;

	if (v == NULL)
		return;
	sqlite3_finalize(v->st);
	sqlite3_close_v2(v->db);
	pthread_mutex_destroy(&v->lock);
	free(v);
	s->version = NULL;
}
