/*
 * lmdb_txn.c - the LMDB backend's transaction engine: runs a body in one
 * transaction, grows or adopts the map and frees dead readers' slots when
 * LMDB asks, carries write bodies through the group commit (batch.c), and
 * turns LMDB's return codes into negative errnos.
 *
 * Left out: the keys a body reads and writes (the on-disk layout is written
 * out at the top of lmdb_keys.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include "lmdb_internal.h"

/* Errors: the one boundary where LMDB's return codes become errnos. */

int lmdb_errno(int rc)
{
	switch (rc) {
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_READERS_FULL:
		return -EAGAIN;
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return -EMEDIUMTYPE;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

/* Translates a raw LMDB return code into a negative errno with its reason. */
int lmdb_fail(int rc, const char *what)
{
	return store_fail(lmdb_errno(rc), "lmdb %s: %s", what, mdb_strerror(rc));
}

int lmdb_mdb(struct lmdb_txn *t, int rc)
{
	if (rc == 0)
		return 0;
	/* A key not found is an answer, not a failure: the transaction is whole. */
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	t->failed = rc;
	return lmdb_errno(rc);
}

int lmdb_txn_get(struct lmdb_txn *t, MDB_dbi dbi, MDB_val *key, MDB_val *val)
{
	return lmdb_mdb(t, mdb_get(t->mdb, dbi, key, val));
}

int lmdb_txn_put(struct lmdb_txn *t, MDB_dbi dbi, MDB_val *key, MDB_val *val, unsigned flags)
{
	return lmdb_mdb(t, mdb_put(t->mdb, dbi, key, val, flags));
}

int lmdb_txn_del(struct lmdb_txn *t, MDB_dbi dbi, MDB_val *key, MDB_val *val)
{
	return lmdb_mdb(t, mdb_del(t->mdb, dbi, key, val));
}

int lmdb_txn_stat(struct lmdb_txn *t, MDB_dbi dbi, MDB_stat *ms)
{
	return lmdb_mdb(t, mdb_stat(t->mdb, dbi, ms));
}

int lmdb_txn_dbi_open(struct lmdb_txn *t, const char *name, unsigned flags, MDB_dbi *dbi)
{
	return lmdb_mdb(t, mdb_dbi_open(t->mdb, name, flags, dbi));
}

int lmdb_cursor_open(struct lmdb_txn *t, MDB_dbi dbi, MDB_cursor **cur)
{
	return lmdb_mdb(t, mdb_cursor_open(t->mdb, dbi, cur));
}

int lmdb_cursor_get(struct lmdb_txn *t, MDB_cursor *cur, MDB_val *key, MDB_val *val,
		    MDB_cursor_op op)
{
	return lmdb_mdb(t, mdb_cursor_get(cur, key, val, op));
}

int lmdb_txn_begin(struct lmdb_store *st, struct lmdb_txn *t, bool write)
{
	t->mdb = NULL;
	t->failed = 0;
	return lmdb_mdb(t, mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, &t->mdb));
}

/* Transactions. */

/*
 * Finds where LMDB mapped data.mdb, which its API does not tell (only
 * with MDB_FIXEDMAP): the mapping of this process whose device and inode
 * are the file's. Runs at open and after each remap, with no transaction
 * open; leaves map_addr NULL if it cannot tell.
 */
void lmdb_locate_map(struct lmdb_store *st)
{
	char line[4096], path[4096];
	unsigned long lo, hi, ino, dev_major, dev_minor;
	const char *dir = NULL;
	struct stat sb;
	FILE *f;

	st->map_addr = NULL;
	st->map_len = 0;
	if (mdb_env_get_path(st->env, &dir) != 0 ||
	    snprintf(path, sizeof(path), "%s/data.mdb", dir) >= (int)sizeof(path) ||
	    stat(path, &sb) != 0)
		return;
	f = fopen("/proc/self/maps", "re");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %*s %*s %lx:%lx %lu", &lo, &hi, &dev_major, &dev_minor,
			   &ino) == 5 &&
		    ino == (unsigned long)sb.st_ino && dev_major == major(sb.st_dev) &&
		    dev_minor == minor(sb.st_dev) && hi - lo > st->map_len) {
			st->map_addr = (void *)lo;
			st->map_len = hi - lo;
		}
	}
	fclose(f);
}

/*
 * Makes the next transaction possible after @why (MDB_MAP_FULL or
 * MDB_MAP_RESIZED) ended one begun with the map at @seen bytes; the map may
 * grow @reserve bytes past map_max.
 */
static int lmdb_remap(struct lmdb_store *st, int why, size_t seen, size_t reserve)
{
	size_t limit = st->map_max != 0 && st->map_max <= SIZE_MAX - reserve ? st->map_max + reserve
									   : st->map_max;
	MDB_envinfo info;
	size_t size;
	int rc = 0;

	pthread_rwlock_wrlock(&st->resize);
	/* Another thread remapped while this one waited: just retry. */
	if (st->map_size != seen)
		goto unlock;
	if (why == MDB_MAP_RESIZED) {
		/* Another process grew the map: adopt its size. */
		size = 0;
	} else {
		if ((limit != 0 && seen >= limit) || seen > SIZE_MAX / 2) {
			rc = store_fail(-ENOSPC, "lmdb: the map is full at its limit of %zu bytes",
					seen);
			goto unlock;
		}
		size = seen * 2;
		if (limit != 0 && size > limit)
			size = limit;
	}
	rc = mdb_env_set_mapsize(st->env, size);
	if (rc != 0) {
		rc = lmdb_fail(rc, "map resize");
		goto unlock;
	}
	rc = mdb_env_info(st->env, &info);
	if (rc != 0) {
		rc = lmdb_fail(rc, "map resize");
		goto unlock;
	}
	st->map_size = info.me_mapsize;
	lmdb_locate_map(st);
unlock:
	pthread_rwlock_unlock(&st->resize);
	return rc;
}

/*
 * Commits @txn (freeing it, also on failure). LMDB reports a page write cut
 * short by a full disk as EIO: a filesystem left without room tells the two
 * apart, so that a full disk gives ENOSPC like on every other backend.
 */
static int lmdb_commit(struct lmdb_store *st, MDB_txn *txn)
{
	mdb_filehandle_t fd;
	struct statvfs sv;
	int rc = mdb_txn_commit(txn);

	if (rc == EIO && mdb_env_get_fd(st->env, &fd) == 0 && fstatvfs(fd, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize < LMDB_DISK_SLACK)
		rc = ENOSPC;
	return rc;
}

/*
 * Frees the reader slots of processes that died holding them: 0 if any was
 * freed (worth trying again), MDB_READERS_FULL if every slot is in use.
 */
static int lmdb_free_readers(struct lmdb_store *st)
{
	int dead = 0;
	int rc = mdb_reader_check(st->env, &dead);

	if (rc == 0 && dead == 0)
		rc = MDB_READERS_FULL;
	return rc;
}

/* What a retry can mend, after growing or adopting the map or freeing reader slots. */
static bool lmdb_retryable(int rc)
{
	return rc == MDB_MAP_FULL || rc == MDB_MAP_RESIZED || rc == MDB_READERS_FULL;
}

/*
 * Drops this process's mappings of the map's pages (they stay in the page
 * cache, where the next read finds them). LMDB reads through a read-only
 * shared map, so this changes nothing but the resident set: without it,
 * a walk of one index maps in the whole file, because copy-on-write
 * scatters an index's pages over it and each page fault maps up to 16
 * neighbours (the kernel's fault-around). It runs after every
 * LMDB_TRIM_RUNS transactions, and at the end of each walk.
 */
#define LMDB_TRIM_RUNS 64

/* lmdb_trim() for a transaction's body, which holds the lock already. */
void lmdb_trim_held(struct lmdb_store *st)
{
	if (st->map_addr != NULL)
		madvise(st->map_addr, st->map_len, MADV_DONTNEED);
}

void lmdb_trim(struct lmdb_store *st)
{
	pthread_rwlock_rdlock(&st->resize);
	lmdb_trim_held(st);
	pthread_rwlock_unlock(&st->resize);
}

/*
 * Runs @body in one transaction (a write transaction if @write), committing
 * when it returns 0. Returns 0, the body's refusal, or the raw code of the
 * LMDB failure that ended the transaction (*failed; 0 for none).
 */
static int lmdb_run_once(struct lmdb_store *st, bool write, lmdb_body_fn body, void *arg,
			 size_t *seen, int *failed)
{
	struct lmdb_txn txn;
	int rc;

	pthread_rwlock_rdlock(&st->resize);
	*seen = st->map_size;
	rc = lmdb_txn_begin(st, &txn, write);
	if (rc == 0) {
		rc = body(st, &txn, arg);
		if (rc == 0 && write)
			rc = lmdb_mdb(&txn, lmdb_commit(st, txn.mdb));
		else
			mdb_txn_abort(txn.mdb);
	}
	pthread_rwlock_unlock(&st->resize);
	if (__atomic_add_fetch(&st->runs, 1, __ATOMIC_RELAXED) % LMDB_TRIM_RUNS == 0)
		lmdb_trim(st);
	*failed = rc != 0 ? txn.failed : 0;
	return rc;
}

/*
 * Runs @body as lmdb_run_once() does. A full map is grown, a map grown by
 * another process adopted, or the reader slots of dead processes freed, and
 * the body run again from the start: a body must depend on nothing but the
 * transaction and its argument. Returns 0 or a negative errno; @what names
 * the operation in the reason of an LMDB failure.
 */
static int lmdb_run_alone(struct lmdb_store *st, bool write, const char *what,
			  lmdb_body_fn body, void *arg, size_t reserve)
{
	int rc, failed;

	for (int attempt = 1;; attempt++) {
		size_t seen;

		rc = lmdb_run_once(st, write, body, arg, &seen, &failed);
		/* Done, or failed in a way no retry mends? */
		if (!lmdb_retryable(failed) || attempt == LMDB_ATTEMPTS)
			break;
		if (failed == MDB_READERS_FULL) {
			failed = lmdb_free_readers(st);
			if (failed != 0)
				break;
		} else {
			rc = lmdb_remap(st, failed, seen, reserve);
			failed = 0;
			if (rc != 0)
				break;
		}
	}
	if (failed != 0)
		rc = lmdb_fail(failed, what);
	return rc;
}

/* One change, as the group commit carries it (see batch.c). */
struct lmdb_op {
	struct store_batch_op base;
	const char *what;
	lmdb_body_fn body;
	void *arg;
	size_t reserve;
};


/*
 * Commits the changes @ops in one write transaction. A body refuses (a
 * negative errno of ours: -EEXIST, -EPERM...) only before its first write,
 * so a refused change leaves the transaction as it was. An LMDB failure
 * (a full map, a map grown by another process, I/O) spoils the transaction
 * instead: it is dropped and every change runs again in a transaction of
 * its own, which grows the map as lmdb_run() does. (Nested transactions
 * would undo one change alone, but each costs LMDB a 2 MiB dirty list.)
 */
static void lmdb_commit_batch(struct store *s, struct store_batch_op *ops, size_t n)
{
	struct lmdb_store *st = lmdb_of(s);
	bool alone = n == 1;
	struct lmdb_txn txn;
	int rc;

	if (!alone) {
		pthread_rwlock_rdlock(&st->resize);
		rc = lmdb_txn_begin(st, &txn, true);
		for (struct store_batch_op *o = ops; rc == 0 && o; o = o->next) {
			struct lmdb_op *op = (struct lmdb_op *)o;
			int orc = op->body(st, &txn, op->arg);

			/* A refusal leaves the transaction whole; an LMDB failure spoils it. */
			if (orc != 0 && txn.failed == 0)
				store_batch_fail(o, orc);
			else if (orc != 0)
				rc = orc;
		}
		if (rc == 0)
			rc = lmdb_mdb(&txn, lmdb_commit(st, txn.mdb));
		else if (txn.mdb != NULL)
			mdb_txn_abort(txn.mdb);
		pthread_rwlock_unlock(&st->resize);
		alone = rc != 0;
	}
	if (!alone)
		return;
	/* Nothing of a batch stands: each change again, on its own. */
	for (struct store_batch_op *o = ops; o; o = o->next) {
		struct lmdb_op *op = (struct lmdb_op *)o;

		o->result = 0;
		rc = lmdb_run_alone(st, true, op->what, op->body, op->arg, op->reserve);
		if (rc != 0)
			store_batch_fail(o, rc);
	}
}

/*
 * Runs @body as lmdb_run_alone() does; a write transaction goes through
 * the group commit, so that concurrent writers share commits (and syncs).
 */
int lmdb_run_reserving(struct lmdb_store *st, bool write, const char *what,
			      lmdb_body_fn body, void *arg, size_t reserve)
{
	struct lmdb_op op = { .what = what, .body = body, .arg = arg, .reserve = reserve };

	if (!write)
		return lmdb_run_alone(st, false, what, body, arg, reserve);
	return store_batch_run(&st->base, &op.base, lmdb_commit_batch);
}

int lmdb_run(struct lmdb_store *st, bool write, const char *what,
		    lmdb_body_fn body, void *arg)
{
	return lmdb_run_reserving(st, write, what, body, arg, 0);
}
