/*
 * sqlite_ckpt.c - the SQLite backend's checkpoints, off the write path.
 *
 * SQLite's own policy (wal_autocheckpoint, 1000 pages) checkpoints in the
 * commit that passes 1000 pages of WAL: that commit's caller (a start, an
 * append to output/<id>) waits while every page is read back from the WAL
 * and copied into the database, with two fdatasyncs under
 * synchronous=NORMAL. Output makes it frequent: a 64 KiB append is 17
 * pages, so every 60th append paid for the checkpoint.
 *
 * Here the WAL hook of each writing connection (which replaces the
 * automatic checkpoint) only wakes a thread of ours, which runs a PASSIVE
 * checkpoint on its own connection while the writers go on; a commit only
 * finishes the job now and then, without waiting, so that the WAL starts
 * over (see sqlstore_ckpt_hook()). The WAL stays under about 16 MiB
 * (SQLite's policy keeps it near 4). A commit's durability is untouched:
 * a checkpoint only moves committed pages from the WAL into the database
 * file, and the last connection's close still checkpoints all of it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "sqlstore.h"

/* The WAL size, in pages, that wakes the thread: SQLite's own default. */
#define SQLSTORE_CKPT_PAGES 1000
/* ... at which a commit has the WAL start over (8 MiB of 4 KiB pages)... */
#define SQLSTORE_CKPT_RESTART (2 * SQLSTORE_CKPT_PAGES)
/* ... and at which it first waits for the thread's pass to end: the bound. */
#define SQLSTORE_CKPT_MAX (4 * SQLSTORE_CKPT_PAGES)

struct sqlstore_ckpt {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t idle; /* signalled when a pass ends */
	bool busy;           /* a pass is under way */
	bool due;            /* a commit saw SQLSTORE_CKPT_PAGES: checkpoint */
	bool stop;           /* the store is closing */
	sqlite3 *db;         /* the thread's own connection */
};

static void *sqlstore_ckpt_main(void *arg)
{
	struct sqlstore_ckpt *k = arg;

	pthread_mutex_lock(&k->lock);
	for (;;) {
		while (!k->due && !k->stop)
			pthread_cond_wait(&k->wake, &k->lock);
		if (k->stop)
			break;
		k->due = false;
		k->busy = true;
		pthread_mutex_unlock(&k->lock);
		/* BUSY (another process's checkpoint) is no failure: the next commit wakes us again. */
		sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&k->lock);
		k->busy = false;
		pthread_cond_broadcast(&k->idle);
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

/*
 * The WAL hook: called after each commit of a writing connection with the
 * WAL's pages. Only a writer that begins after a checkpoint that copied
 * every frame starts the WAL over, which the thread's checkpoints, racing
 * the writers, never give it: past SQLSTORE_CKPT_RESTART pages the commit
 * itself tries a RESTART checkpoint, with no wait (busy timeout 0): it
 * copies the few frames the thread left and has the next writer start the
 * WAL over, or gives up at once (the thread is checkpointing, a reader
 * still reads the WAL) and the next commit tries again. Past
 * SQLSTORE_CKPT_MAX pages (the thread cannot keep up) it first waits for
 * the thread's pass to end, so that the WAL stays bounded.
 */
static int sqlstore_ckpt_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct sqlstore_ckpt *k = arg;

	if (pages >= SQLSTORE_CKPT_MAX) {
		pthread_mutex_lock(&k->lock);
		while (k->busy)
			pthread_cond_wait(&k->idle, &k->lock);
		pthread_mutex_unlock(&k->lock);
	}
	if (pages >= SQLSTORE_CKPT_RESTART) {
		sqlite3_busy_timeout(db, 0);
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
		sqlite3_busy_timeout(db, SQLSTORE_BUSY_MS);
	} else if (pages >= SQLSTORE_CKPT_PAGES) {
		pthread_mutex_lock(&k->lock);
		k->due = true;
		pthread_cond_signal(&k->wake);
		pthread_mutex_unlock(&k->lock);
	}
	return SQLITE_OK;
}

void sqlstore_ckpt_attach(struct sqlstore *s, sqlite3 *db)
{
	if (s->ckpt)
		sqlite3_wal_hook(db, sqlstore_ckpt_hook, s->ckpt);
}

int sqlstore_ckpt_start(struct sqlstore *s)
{
	struct sqlstore_ckpt *k = calloc(1, sizeof(*k));
	int rc;

	if (k == NULL)
		return store_fail(-ENOMEM, "sqlite: out of memory");
	rc = sqlite3_open_v2(s->open_name, &k->db, s->open_flags, NULL);
	/* A connection that never read has no WAL open, and its checkpoint would do nothing. */
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(k->db, SQLSTORE_BUSY_MS);
		rc = sqlite3_exec(k->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		rc = sqlstore_fail(k->db, rc, "open the checkpoints' connection");
		sqlite3_close_v2(k->db);
		free(k);
		return rc;
	}
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->wake, NULL);
	pthread_cond_init(&k->idle, NULL);
	rc = pthread_create(&k->thread, NULL, sqlstore_ckpt_main, k);
	if (rc != 0) {
		pthread_cond_destroy(&k->idle);
		pthread_cond_destroy(&k->wake);
		pthread_mutex_destroy(&k->lock);
		sqlite3_close_v2(k->db);
		free(k);
		return store_fail(-rc, "sqlite: cannot start the checkpoints' thread");
	}
	s->ckpt = k;
	return 0;
}

void sqlstore_ckpt_stop(struct sqlstore *s)
{
	struct sqlstore_ckpt *k = s->ckpt;

	if (k == NULL)
		return;
	pthread_mutex_lock(&k->lock);
	k->stop = true;
	pthread_cond_signal(&k->wake);
	pthread_mutex_unlock(&k->lock);
	pthread_join(k->thread, NULL);
	pthread_cond_destroy(&k->idle);
	pthread_cond_destroy(&k->wake);
	pthread_mutex_destroy(&k->lock);
	sqlite3_close_v2(k->db);
	free(k);
	s->ckpt = NULL;
}
