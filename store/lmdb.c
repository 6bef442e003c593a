/*
 * lmdb.c - the LMDB store backend.
 *
 * A store is a directory holding data.mdb and lock.mdb (the LMDB convention,
 * so mdb_stat and mdb_dump work on it). Everything lives in the unnamed main
 * database, under these keys:
 *
 *   meta:format                      "execlogfs-lmdb 2", the marker of our stores
 *   meta:seq                         be64 last id handed out (ids are never reused)
 *   execlog:<execution_id>           the record's JSON document, as record_to_json()
 *                                    renders it: the bytes `cat` shows
 *   id:<be64 id>                     le64 started_ms, le64 heartbeat_ms, execution_id:
 *                                    the ordering index every listing walks
 *   outcome:<outcome>:<be64 id>      execution_id: the by-outcome index
 *   day:<be64 day><be64 id>          execution_id: the by-day index (UTC day of
 *                                    started_at; days before 1970 sort last)
 *   start:<be64 started_at ^ 2^63><be64 id>
 *                                    execution_id: the start-order index that
 *                                    retention walks (started_at with its sign
 *                                    bit flipped, so that keys sort as times)
 *   meta:durations                   be64 finished count per duration bucket, be64
 *                                    sum of their duration_ms, be64 latest finished_at
 *                                    (STORE_NULL: none): store_summary()'s aggregates,
 *                                    moved by every finish and delete, made at open
 *                                    from the records when missing
 *
 * Format 1 had no start: keys: a writable open makes them and moves the
 * marker to 2 (so that an older build, which would not keep them, refuses
 * the store); a read-only open of format 1 reads it without them.
 *
 * Every change updates all its keys in one write transaction. The map starts
 * at 16 MiB and doubles when full, up to the configured limit; listings read
 * one record per short read transaction, so that memory stays constant and no
 * transaction stays open while a caller's callback runs.
 *
 * Left out: argument checks, read-only refusals and the reason of a refusal
 * that needs no store (store.c); JSON (record.c); named databases, nested
 * transactions and MDB_WRITEMAP (a full disk would kill the process with
 * SIGBUS instead of failing a commit with ENOSPC).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "backend.h"
#include "record.h"

#define LMDB_FORMAT "execlogfs-lmdb 2"
#define LMDB_FORMAT_1 "execlogfs-lmdb 1" /* without start: keys */
#define LMDB_MAP_START ((size_t)16 << 20)
/* LMDB's default MDB_MAXKEYSIZE; every key built here fits in it. */
#define LMDB_KEY_MAX 511
/* The longest execution_id whose execlog: key still fits. */
#define LMDB_NAME_MAX (LMDB_KEY_MAX - (sizeof("execlog:") - 1))
/* The id: value: two le64 times, then the name. */
#define LMDB_TIMES_LEN 16
/* Each retry follows a remap that grew the map or adopted another process's
 * size, or a reader check that freed a slot: this bound only guards against
 * a library that misbehaves. */
#define LMDB_ATTEMPTS 100
#define LMDB_SECONDS_PER_DAY 86400
/* How far past map_max a delete may grow the map (see lmdb_delete). */
#define LMDB_DELETE_RESERVE ((size_t)1 << 20)
/* Free space under which a failed write is taken for a full disk: a write
 * cut short leaves less than a page, this allows for filesystem reserves. */
#define LMDB_DISK_SLACK ((uint64_t)1 << 20)

struct lmdb_store {
	struct store base;
	MDB_env *env;
	MDB_dbi dbi;
	/*
	 * mdb_env_set_mapsize() must not run while any transaction of this
	 * process is open: every transaction holds this lock for reading,
	 * and a remap takes it for writing.
	 */
	pthread_rwlock_t resize;
	size_t map_size; /* the current map, changed only under the write lock */
	size_t map_max;  /* 0: no limit but the disk */
	void *map_addr;  /* where data.mdb is mapped (NULL: unknown), as map_size */
	size_t map_len;
	uint64_t runs;   /* transactions run (atomic), for lmdb_trim() */
	bool format_1;   /* read-only open of a format 1 store: no start: keys */
};

/* A key or value built here; the id: value is the longest. */
struct lmdb_buf {
	size_t len;
	char data[LMDB_TIMES_LEN + LMDB_KEY_MAX];
};

/*
 * The body of a transaction. Returns 0 (a write is then committed), a
 * negative errno refusal with its reason set, or the raw return code of a
 * failed mdb_ call (an MDB_* code or a positive errno), which lmdb_run()
 * retries or translates. A write body refuses only before its first write:
 * the group commit keeps the transaction of a refused change for others.
 */
typedef int (*lmdb_body_fn)(struct lmdb_store *st, MDB_txn *txn, void *arg);

static struct lmdb_store *lmdb_of(struct store *s)
{
	return STORE_DOWNCAST(s, struct lmdb_store, lmdb_ops);
}

/* Encoding. */

static void lmdb_be64_encode(char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t lmdb_be64_decode(const char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | (unsigned char)p[i];
	return v;
}

static void lmdb_le64_encode(char *p, int64_t sv)
{
	uint64_t v = (uint64_t)sv;

	for (int i = 0; i < 8; i++) {
		p[i] = (char)(v & 0xff);
		v >>= 8;
	}
}

static int64_t lmdb_le64_decode(const char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | (unsigned char)p[i];
	return (int64_t)v;
}

/* Division rounding toward minus infinity, so that times before 1970 fall
 * in the right second and day. */
static int64_t lmdb_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b != 0 && (a < 0) != (b < 0))
		q--;
	return q;
}

static int64_t lmdb_day_of(int64_t started_at)
{
	return lmdb_floor_div(started_at, LMDB_SECONDS_PER_DAY);
}

static void lmdb_buf_add(struct lmdb_buf *b, const void *p, size_t n)
{
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void lmdb_buf_add_str(struct lmdb_buf *b, const char *s)
{
	lmdb_buf_add(b, s, strlen(s));
}

static void lmdb_buf_add_be64(struct lmdb_buf *b, uint64_t v)
{
	lmdb_be64_encode(b->data + b->len, v);
	b->len += 8;
}

static MDB_val lmdb_val(const struct lmdb_buf *b)
{
	return (MDB_val){ .mv_size = b->len, .mv_data = (void *)b->data };
}

/* execlog:<name>; callers have checked len <= LMDB_NAME_MAX. */
static void lmdb_key_record(struct lmdb_buf *b, const char *name, size_t len)
{
	b->len = 0;
	lmdb_buf_add_str(b, "execlog:");
	lmdb_buf_add(b, name, len);
}

static void lmdb_key_id(struct lmdb_buf *b, int64_t id)
{
	b->len = 0;
	lmdb_buf_add_str(b, "id:");
	lmdb_buf_add_be64(b, (uint64_t)id);
}

/* outcome:<outcome>: alone, the prefix of one outcome's index. */
static void lmdb_prefix_outcome(struct lmdb_buf *b, const char *outcome)
{
	b->len = 0;
	lmdb_buf_add_str(b, "outcome:");
	lmdb_buf_add_str(b, outcome);
	lmdb_buf_add_str(b, ":");
}

static void lmdb_key_outcome(struct lmdb_buf *b, const char *outcome, int64_t id)
{
	lmdb_prefix_outcome(b, outcome);
	lmdb_buf_add_be64(b, (uint64_t)id);
}

/* day:<be64 day> alone, the prefix of one day's index. */
static void lmdb_prefix_day(struct lmdb_buf *b, int64_t day)
{
	b->len = 0;
	lmdb_buf_add_str(b, "day:");
	lmdb_buf_add_be64(b, (uint64_t)day);
}

static void lmdb_key_day(struct lmdb_buf *b, int64_t day, int64_t id)
{
	lmdb_prefix_day(b, day);
	lmdb_buf_add_be64(b, (uint64_t)id);
}

static void lmdb_key_start(struct lmdb_buf *b, int64_t started_at, int64_t id)
{
	b->len = 0;
	lmdb_buf_add_str(b, "start:");
	lmdb_buf_add_be64(b, (uint64_t)started_at ^ (UINT64_C(1) << 63));
	lmdb_buf_add_be64(b, (uint64_t)id);
}

static void lmdb_value_times(struct lmdb_buf *b, int64_t started_ms,
			     int64_t heartbeat_ms, const char *name, size_t len)
{
	lmdb_le64_encode(b->data, started_ms);
	lmdb_le64_encode(b->data + 8, heartbeat_ms);
	b->len = LMDB_TIMES_LEN;
	lmdb_buf_add(b, name, len);
}

/* Errors. */

static bool lmdb_is_raw(int rc)
{
	return rc > 0 || (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE);
}

static int lmdb_errno(int rc)
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
static int lmdb_fail(int rc, const char *what)
{
	return store_fail(lmdb_errno(rc), "lmdb %s: %s", what, mdb_strerror(rc));
}

/* Transactions. */

/*
 * Finds where LMDB mapped data.mdb, which its API does not tell (only
 * with MDB_FIXEDMAP): the mapping of this process whose device and inode
 * are the file's. Runs at open and after each remap, with no transaction
 * open; leaves map_addr NULL if it cannot tell.
 */
static void lmdb_locate_map(struct lmdb_store *st)
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
static void lmdb_trim_held(struct lmdb_store *st)
{
	if (st->map_addr != NULL)
		madvise(st->map_addr, st->map_len, MADV_DONTNEED);
}

static void lmdb_trim(struct lmdb_store *st)
{
	pthread_rwlock_rdlock(&st->resize);
	lmdb_trim_held(st);
	pthread_rwlock_unlock(&st->resize);
}

/* A walk within one transaction trims every LMDB_TRIM_KEYS keys. */
#define LMDB_TRIM_KEYS 4096

/*
 * Runs @body in one transaction (a write transaction if @write), committing
 * when it returns 0. A full map is grown, a map grown by another process
 * adopted, or the reader slots of dead processes freed, and the body run
 * again from the start: a body must depend on nothing but the transaction
 * and its argument. Returns 0 or a negative errno; @what names the
 * operation in the reason.
 */
static int lmdb_run_alone(struct lmdb_store *st, bool write, const char *what,
			  lmdb_body_fn body, void *arg, size_t reserve)
{
	int rc;

	for (int attempt = 1;; attempt++) {
		MDB_txn *txn;
		size_t seen;

		pthread_rwlock_rdlock(&st->resize);
		seen = st->map_size;
		rc = mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, &txn);
		if (rc == 0) {
			rc = body(st, txn, arg);
			if (rc == 0 && write)
				rc = lmdb_commit(st, txn);
			else
				mdb_txn_abort(txn);
		}
		pthread_rwlock_unlock(&st->resize);
		if (__atomic_add_fetch(&st->runs, 1, __ATOMIC_RELAXED) % LMDB_TRIM_RUNS == 0)
			lmdb_trim(st);

		/* Done, or failed in a way no retry mends? */
		if (!lmdb_retryable(rc))
			break;
		if (attempt == LMDB_ATTEMPTS)
			break;
		if (rc == MDB_READERS_FULL)
			rc = lmdb_free_readers(st);
		else
			rc = lmdb_remap(st, rc, seen, reserve);
		if (rc != 0)
			break;
	}
	if (lmdb_is_raw(rc))
		rc = lmdb_fail(rc, what);
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
	MDB_txn *txn = NULL;
	int rc;

	if (!alone) {
		pthread_rwlock_rdlock(&st->resize);
		rc = mdb_txn_begin(st->env, NULL, 0, &txn);
		for (struct store_batch_op *o = ops; rc == 0 && o; o = o->next) {
			struct lmdb_op *op = (struct lmdb_op *)o;
			int orc = op->body(st, txn, op->arg);

			if (orc != 0 && !lmdb_is_raw(orc))
				store_batch_fail(o, orc);
			else if (orc != 0)
				rc = orc;
		}
		if (rc == 0)
			rc = lmdb_commit(st, txn);
		else if (txn != NULL)
			mdb_txn_abort(txn);
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
static int lmdb_run_reserving(struct lmdb_store *st, bool write, const char *what,
			      lmdb_body_fn body, void *arg, size_t reserve)
{
	struct lmdb_op op = { .what = what, .body = body, .arg = arg, .reserve = reserve };

	if (!write)
		return lmdb_run_alone(st, false, what, body, arg, reserve);
	return store_batch_run(&st->base, &op.base, lmdb_commit_batch);
}

static int lmdb_run(struct lmdb_store *st, bool write, const char *what,
		    lmdb_body_fn body, void *arg)
{
	return lmdb_run_reserving(st, write, what, body, arg, 0);
}

/* Fills the times of @rec, which the document does not hold, from its id: key. */
static int lmdb_load_times(struct lmdb_store *st, MDB_txn *txn, struct store_record *rec)
{
	struct lmdb_buf kb;
	MDB_val key, val;
	int rc;

	lmdb_key_id(&kb, rec->id);
	key = lmdb_val(&kb);
	rc = mdb_get(txn, st->dbi, &key, &val);
	if (rc == 0 && val.mv_size >= LMDB_TIMES_LEN) {
		rec->started_ms = lmdb_le64_decode(val.mv_data);
		rec->heartbeat_ms = lmdb_le64_decode((const char *)val.mv_data + 8);
	} else if (rc == 0 || rc == MDB_NOTFOUND) {
		/* A damaged index should not hide the record itself. */
		rec->started_ms = store_ms_of_seconds(rec->started_at);
		rec->heartbeat_ms = rec->started_ms;
		rc = 0;
	}
	return rc;
}

/*
 * Reads execution @name into @out: its document, then the times of its id:
 * key. Returns 0, MDB_NOTFOUND, another raw code, or -EIO for a document
 * that does not parse.
 */
static int lmdb_load(struct lmdb_store *st, MDB_txn *txn, const char *name,
		     size_t len, struct store_record *out)
{
	struct lmdb_buf kb;
	MDB_val key, val;
	int rc = MDB_NOTFOUND; /* a name too long to be a key was never stored */

	if (len <= LMDB_NAME_MAX) {
		lmdb_key_record(&kb, name, len);
		key = lmdb_val(&kb);
		rc = mdb_get(txn, st->dbi, &key, &val);
	}
	if (rc == 0 && record_from_json(val.mv_data, val.mv_size, out) < 0)
		rc = store_fail(-EIO, "lmdb: the stored record %.*s is not a valid document",
				(int)len, name);
	if (rc == 0)
		rc = lmdb_load_times(st, txn, out);
	return rc;
}

/* Deletes one key; one already missing is no error, so that a damaged index
 * does not keep a record from being deleted. */
static int lmdb_del(struct lmdb_store *st, MDB_txn *txn, const struct lmdb_buf *kb)
{
	MDB_val key = lmdb_val(kb);
	int rc = mdb_del(txn, st->dbi, &key, NULL);

	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int lmdb_put(struct lmdb_store *st, MDB_txn *txn, const struct lmdb_buf *kb,
		    const void *data, size_t len, unsigned flags)
{
	MDB_val key = lmdb_val(kb);
	MDB_val val = { .mv_size = len, .mv_data = (void *)data };

	return mdb_put(txn, st->dbi, &key, &val, flags);
}

/* The duration aggregates (meta:durations). */

#define LMDB_DURATIONS_LEN ((STORE_DURATION_BUCKETS + 2) * 8)

static void lmdb_key_durations(struct lmdb_buf *b)
{
	b->len = 0;
	lmdb_buf_add_str(b, "meta:durations");
}

static void lmdb_durations_decode(const char *p, struct store_summary *sum)
{
	for (int i = 0; i < STORE_DURATION_BUCKETS; i++)
		sum->finished[i] = lmdb_be64_decode(p + 8 * i);
	sum->duration_sum_ms = (int64_t)lmdb_be64_decode(p + 8 * STORE_DURATION_BUCKETS);
	sum->last_finished_at = (int64_t)lmdb_be64_decode(p + 8 * (STORE_DURATION_BUCKETS + 1));
}

static int lmdb_durations_put(struct lmdb_store *st, MDB_txn *txn, const struct store_summary *sum)
{
	struct lmdb_buf kb, vb = { 0 };

	lmdb_key_durations(&kb);
	for (int i = 0; i < STORE_DURATION_BUCKETS; i++)
		lmdb_buf_add_be64(&vb, sum->finished[i]);
	lmdb_buf_add_be64(&vb, (uint64_t)sum->duration_sum_ms);
	lmdb_buf_add_be64(&vb, (uint64_t)sum->last_finished_at);
	return lmdb_put(st, txn, &kb, vb.data, vb.len, 0);
}

/* Reads meta:durations into @sum: 0, MDB_NOTFOUND, or a raw code. */
static int lmdb_durations_get(struct lmdb_store *st, MDB_txn *txn, struct store_summary *sum)
{
	struct lmdb_buf kb;
	MDB_val key, val;
	int rc;

	lmdb_key_durations(&kb);
	key = lmdb_val(&kb);
	rc = mdb_get(txn, st->dbi, &key, &val);
	if (rc == 0 && val.mv_size != LMDB_DURATIONS_LEN)
		rc = MDB_NOTFOUND; /* another layout: as if absent, rebuilt at the next open */
	if (rc == 0)
		lmdb_durations_decode(val.mv_data, sum);
	return rc;
}

/*
 * Counts one finished execution in (@sign 1) or out of (-1) the
 * aggregates, in the transaction of its finish or delete. A store without
 * them (opened read-only since) stays without: store_summary() then walks.
 */
static int lmdb_durations_move(struct lmdb_store *st, MDB_txn *txn, int64_t duration_ms,
			       int64_t finished_at, int sign)
{
	struct store_summary sum;
	int rc = lmdb_durations_get(st, txn, &sum);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc == 0) {
		store_summary_add(&sum, duration_ms, finished_at, sign);
		rc = lmdb_durations_put(st, txn, &sum);
	}
	return rc;
}

/* Builds meta:durations from the records, once, when a writable open finds none. */
static int lmdb_durations_build(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	static const char *const finished[] = { "success", "error", "partial" };
	struct store_summary sum = { .last_finished_at = STORE_NULL };
	struct store_record rec = { 0 };
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	(void)arg;
	rc = lmdb_durations_get(st, txn, &sum);
	if (rc != MDB_NOTFOUND)
		return rc;
	memset(&sum, 0, sizeof(sum));
	sum.last_finished_at = STORE_NULL;
	rc = mdb_cursor_open(txn, st->dbi, &cur);
	for (size_t o = 0; rc == 0 && o < sizeof(finished) / sizeof(finished[0]); o++) {
		struct lmdb_buf prefix;

		lmdb_prefix_outcome(&prefix, finished[o]);
		key = lmdb_val(&prefix);
		for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
		     rc == 0 && key.mv_size >= prefix.len && memcmp(key.mv_data, prefix.data, prefix.len) == 0;
		     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
			rc = lmdb_load(st, txn, val.mv_data, val.mv_size, &rec);
			if (rc == 0)
				store_summary_add(&sum, rec.duration_ms, rec.finished_at, 1);
			store_record_clear(&rec);
			if (rc == MDB_NOTFOUND)
				rc = 0; /* a stale index entry: nothing to count */
			if (rc != 0)
				break;
		}
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	mdb_cursor_close(cur);
	if (rc == 0)
		rc = lmdb_durations_put(st, txn, &sum);
	return rc;
}

/* Opening. */

/* True if @dir holds nothing but perhaps a lock.mdb: a store we may create. */
static int lmdb_dir_is_empty(const char *dir, bool *empty)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	*empty = true;
	d = opendir(dir);
	if (d == NULL) {
		rc = store_fail(-errno, "lmdb: cannot read %s: %s", dir, strerror(errno));
		goto out;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, "lock.mdb") != 0) {
			*empty = false;
			break;
		}
	}
	if (de == NULL && errno != 0)
		rc = store_fail(-errno, "lmdb: cannot read %s: %s", dir, strerror(errno));
	closedir(d);
out:
	return rc;
}

/*
 * Reads the header of @dir/data.mdb without locking, creating or writing
 * anything: 0 for an LMDB file, a raw code otherwise (MDB_INVALID for a
 * foreign file).
 */
static int lmdb_probe(const char *dir)
{
	MDB_env *env;
	int rc;

	rc = mdb_env_create(&env);
	if (rc == 0) {
		rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK, 0644);
		mdb_env_close(env);
	}
	return rc;
}

/* Like lmdb_probe(), as a negative errno with the reason for @dir. */
static int lmdb_check_data(const char *dir)
{
	int rc = lmdb_probe(dir);

	if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
		rc = store_fail(-EMEDIUMTYPE, "%s/data.mdb is not an LMDB file this build reads (%s)",
				dir, mdb_strerror(rc));
	else if (rc != 0)
		rc = lmdb_fail(rc, "open");
	return rc;
}

/* Makes the directory of a new store (umask applies, as for any file). */
static int lmdb_make_dir(const char *path, bool read_only)
{
	int rc = 0;

	if (read_only)
		rc = store_fail(-ENOENT, "lmdb: no store at %s", path);
	/* A concurrent creator may win the race; its directory is as good. */
	else if (mkdir(path, 0755) != 0 && errno != EEXIST)
		rc = store_fail(-errno, "lmdb: cannot create %s: %s", path, strerror(errno));
	return rc;
}

/*
 * Checks an existing directory: its data.mdb must be an LMDB file, or,
 * without one, the directory must be empty (but for a lock.mdb) so that a
 * new store may be made there. Sets *data_size to the size of data.mdb.
 */
static int lmdb_check_dir(const char *path, bool read_only, size_t *data_size)
{
	struct stat sb;
	char *data = NULL;
	bool empty = false;
	int rc = 0;

	if (asprintf(&data, "%s/data.mdb", path) < 0) {
		rc = store_fail(-ENOMEM, "lmdb: out of memory");
		goto out;
	}
	if (stat(data, &sb) == 0) {
		if (!S_ISREG(sb.st_mode))
			rc = store_fail(-EMEDIUMTYPE, "%s is not a regular file", data);
		/* An empty data.mdb is a store whose creation was interrupted. */
		else if (sb.st_size > 0)
			rc = lmdb_check_data(path);
		*data_size = (size_t)sb.st_size;
	} else if (errno != ENOENT) {
		rc = store_fail(-errno, "lmdb: cannot reach %s: %s", data, strerror(errno));
	} else {
		rc = lmdb_dir_is_empty(path, &empty);
		if (rc == 0 && !empty)
			rc = store_fail(-EMEDIUMTYPE,
					"%s is a directory without data.mdb, not an LMDB store", path);
		else if (rc == 0 && read_only)
			rc = store_fail(-ENOENT, "lmdb: no store at %s (no data.mdb)", path);
	}
	free(data);
out:
	return rc;
}

/*
 * Checks what is at @path before LMDB touches it, and makes the directory
 * if nothing is there (unless @read_only). Sets *data_size to the size of an
 * existing data.mdb, or 0.
 */
static int lmdb_prepare(const char *path, bool read_only, size_t *data_size)
{
	struct stat sb;
	int rc;

	*data_size = 0;
	if (stat(path, &sb) != 0)
		rc = errno == ENOENT ? lmdb_make_dir(path, read_only)
				     : store_fail(-errno, "lmdb: cannot reach %s: %s",
						  path, strerror(errno));
	else if (!S_ISDIR(sb.st_mode))
		rc = store_fail(-EMEDIUMTYPE,
				"%s is a file, not an LMDB store (a directory holding data.mdb)", path);
	else
		rc = lmdb_check_dir(path, read_only, data_size);
	return rc;
}

/*
 * Checks the marker of our stores. An empty environment (a new store) gets
 * it when the transaction can write; an environment holding anything else
 * is some other program's and is refused untouched.
 */
static int lmdb_mark(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	const bool *write = arg;
	struct lmdb_buf kb = { 0 };
	MDB_val key, val;
	MDB_stat ms;
	int rc;

	rc = mdb_dbi_open(txn, NULL, 0, &st->dbi);
	if (rc != 0)
		goto out;
	lmdb_buf_add_str(&kb, "meta:format");
	key = lmdb_val(&kb);
	rc = mdb_get(txn, st->dbi, &key, &val);
	st->format_1 = rc == 0 && val.mv_size == strlen(LMDB_FORMAT_1) &&
		       memcmp(val.mv_data, LMDB_FORMAT_1, val.mv_size) == 0;
	if (rc == 0) {
		if (!st->format_1 && (val.mv_size != strlen(LMDB_FORMAT) ||
				      memcmp(val.mv_data, LMDB_FORMAT, val.mv_size) != 0))
			rc = store_fail(-EMEDIUMTYPE,
					"the LMDB store is of format \"%.*s\", not \"%s\"",
					(int)(val.mv_size > 64 ? 64 : val.mv_size),
					(const char *)val.mv_data, LMDB_FORMAT);
		goto out;
	}
	if (rc != MDB_NOTFOUND)
		goto out;
	rc = mdb_stat(txn, st->dbi, &ms);
	if (rc != 0)
		goto out;
	if (ms.ms_entries > 0)
		rc = store_fail(-EMEDIUMTYPE,
				"the LMDB environment holds data but no execlogfs marker: "
				"it belongs to another program");
	else if (*write)
		rc = lmdb_put(st, txn, &kb, LMDB_FORMAT, strlen(LMDB_FORMAT), 0);
out:
	return rc;
}

static int lmdb_index_next(MDB_cursor *cur, const struct lmdb_buf *prefix, bool first,
			   int64_t from, int64_t *id, MDB_val *val);

/*
 * Moves a format 1 store to format 2: a start: key for each id: key, then
 * the marker. The walk's cursor is tracked by LMDB, which keeps it in place
 * across the puts of the same write transaction.
 */
static int lmdb_upgrade_1(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	struct lmdb_buf prefix = { 0 }, kb, name;
	uint64_t seen = 0;
	MDB_cursor *cur;
	MDB_val val;
	int64_t id;
	int rc;

	(void)arg;
	lmdb_buf_add_str(&prefix, "id:");
	rc = mdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_index_next(cur, &prefix, true, 0, &id, &val); rc == 0;
	     rc = lmdb_index_next(cur, &prefix, false, 0, &id, &val)) {
		if (++seen % LMDB_TRIM_KEYS == 0)
			lmdb_trim_held(st);
		/* A damaged entry gets no key: its record cannot be found from it either. */
		if (val.mv_size < LMDB_TIMES_LEN || val.mv_size - LMDB_TIMES_LEN > LMDB_NAME_MAX)
			continue;
		name.len = 0;
		lmdb_buf_add(&name, (const char *)val.mv_data + LMDB_TIMES_LEN,
			     val.mv_size - LMDB_TIMES_LEN);
		lmdb_key_start(&kb, lmdb_floor_div(lmdb_le64_decode(val.mv_data), 1000), id);
		rc = lmdb_put(st, txn, &kb, name.data, name.len, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND) {
		kb.len = 0;
		lmdb_buf_add_str(&kb, "meta:format");
		rc = lmdb_put(st, txn, &kb, LMDB_FORMAT, strlen(LMDB_FORMAT), 0);
	}
	if (rc == 0)
		st->format_1 = false;
	return rc;
}

static int lmdb_open(const char *path, const struct store_options *opts, struct store **out)
{
	struct lmdb_store *st;
	pthread_rwlockattr_t attr;
	unsigned flags = MDB_NOTLS;
	size_t data_size, map;
	MDB_envinfo info;
	bool write = !opts->read_only;
	int dead, rc;

	rc = lmdb_prepare(path, opts->read_only, &data_size);
	if (rc != 0)
		goto out;
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		rc = store_fail(-ENOMEM, "lmdb: out of memory");
		goto out;
	}
	store_base_init(&st->base, &lmdb_ops, opts);
	st->map_max = opts->map_max_bytes > SIZE_MAX ? SIZE_MAX : (size_t)opts->map_max_bytes;

	/*
	 * Prefer a waiting remap to new transactions, so that a steady flow
	 * of readers cannot starve it. No thread takes the lock twice, which
	 * this kind of lock would not allow.
	 */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&st->resize, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc != 0) {
		rc = store_fail(-rc, "lmdb: cannot make a lock: %s", strerror(rc));
		goto free_store;
	}

	rc = mdb_env_create(&st->env);
	if (rc != 0) {
		rc = lmdb_fail(rc, "open");
		goto lock_destroy;
	}
	map = data_size > LMDB_MAP_START ? data_size : LMDB_MAP_START;
	/* LMDB rounds a map below the data up to the data. */
	if (st->map_max != 0 && map > st->map_max)
		map = st->map_max;
	rc = mdb_env_set_mapsize(st->env, map);
	if (rc != 0) {
		rc = lmdb_fail(rc, "open");
		goto env_close;
	}
	/*
	 * FUSE runs calls on many threads and a listing may begin and end a
	 * read transaction on different ones: MDB_NOTLS ties reader slots to
	 * transactions, not threads. MDB_NOMETASYNC still syncs the data of
	 * each commit, so a crash loses at most the last transaction and
	 * never breaks the store.
	 */
	if (opts->read_only)
		flags |= MDB_RDONLY;
	if (opts->sync == STORE_SYNC_NORMAL)
		flags |= MDB_NOMETASYNC;
	rc = mdb_env_open(st->env, path, flags, 0644);
	if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
		rc = store_fail(-EMEDIUMTYPE, "%s is not an LMDB store this build reads (%s)",
				path, mdb_strerror(rc));
		goto env_close;
	}
	if (rc != 0) {
		rc = store_fail(lmdb_errno(rc), "lmdb: cannot open %s: %s", path, mdb_strerror(rc));
		goto env_close;
	}
	/* Free the reader slots of processes that died holding them. */
	rc = mdb_reader_check(st->env, &dead);
	if (rc == 0)
		rc = mdb_env_info(st->env, &info);
	if (rc != 0) {
		rc = lmdb_fail(rc, "open");
		goto env_close;
	}
	st->map_size = info.me_mapsize;
	lmdb_locate_map(st);

	rc = lmdb_run(st, write, "open", lmdb_mark, &write);
	if (rc == 0 && write && st->format_1)
		rc = lmdb_run(st, true, "open", lmdb_upgrade_1, NULL);
	if (rc == 0 && write)
		rc = lmdb_run(st, true, "open", lmdb_durations_build, NULL);
	if (rc != 0)
		goto env_close;
	*out = &st->base;
	goto out;

env_close:
	mdb_env_close(st->env);
lock_destroy:
	pthread_rwlock_destroy(&st->resize);
free_store:
	store_base_destroy(&st->base);
	free(st);
out:
	return rc;
}

static void lmdb_close(struct store *s)
{
	struct lmdb_store *st = lmdb_of(s);

	/* MDB_NOMETASYNC leaves the last meta page to the kernel: a clean
	 * close makes it durable. */
	if (!st->base.opts.read_only)
		mdb_env_sync(st->env, 1);
	mdb_env_close(st->env);
	pthread_rwlock_destroy(&st->resize);
	store_base_destroy(&st->base);
	free(st);
}

static int lmdb_detect(const char *path)
{
	bool empty = false;
	struct stat sb;
	char *data = NULL;
	int rc = 0;

	if (stat(path, &sb) != 0)
		rc = store_fail(-errno, "cannot reach %s: %s", path, strerror(errno));
	else if (!S_ISDIR(sb.st_mode))
		rc = store_fail(-EMEDIUMTYPE, "%s is not a directory", path);
	else if (asprintf(&data, "%s/data.mdb", path) < 0)
		rc = store_fail(-ENOMEM, "lmdb: out of memory");
	else if (stat(data, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		/* An empty directory is an LMDB store yet to be made (LMDB's convention). */
		rc = lmdb_dir_is_empty(path, &empty);
		if (rc == 0 && !empty)
			rc = store_fail(-EMEDIUMTYPE, "%s holds no data.mdb", path);
	}
	else if (sb.st_size > 0)
		rc = lmdb_check_data(path);
	free(data);
	return rc;
}

/* Starting. */

struct lmdb_start_arg {
	const struct store_record *rec; /* the caller's fields */
	size_t name_len;
	int64_t id;                     /* out: the id given */
};

static int lmdb_start_body(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	struct lmdb_start_arg *a = arg;
	const char *name = a->rec->execution_id;
	struct store_record doc = *a->rec;
	struct lmdb_buf kb, vb;
	MDB_val key, val;
	char *json = NULL;
	size_t json_len;
	uint64_t seq = 0;
	int rc;

	lmdb_key_record(&kb, name, a->name_len);
	key = lmdb_val(&kb);
	rc = mdb_get(txn, st->dbi, &key, &val);
	if (rc == 0)
		rc = store_fail(-EEXIST, "execution %s exists", name);
	if (rc != MDB_NOTFOUND)
		goto out;

	/* The sequence moves in the same transaction as the insert, so two
	 * starts never share an id and a deleted id is never given again. */
	kb.len = 0;
	lmdb_buf_add_str(&kb, "meta:seq");
	key = lmdb_val(&kb);
	rc = mdb_get(txn, st->dbi, &key, &val);
	if (rc == 0 && val.mv_size == 8)
		seq = lmdb_be64_decode(val.mv_data);
	else if (rc == 0)
		rc = store_fail(-EIO, "lmdb: meta:seq is damaged");
	else if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0 && seq >= INT64_MAX)
		rc = store_fail(-EOVERFLOW, "lmdb: the id sequence is exhausted");
	if (rc != 0)
		goto out;
	a->id = (int64_t)seq + 1;

	/* The document borrows every string: only the store's fields change. */
	doc.id = a->id;
	doc.started_at = lmdb_floor_div(doc.started_ms, 1000);
	doc.finished_at = STORE_NULL;
	doc.duration_ms = STORE_NULL;
	doc.outcome = (char *)"running";
	doc.error_message = NULL;
	doc.files_indexed = 0;
	doc.symbols_indexed = 0;
	doc.references_indexed = 0;
	doc.heartbeat_ms = doc.started_ms;
	json = record_to_json(&doc, &json_len);
	if (json == NULL) {
		rc = store_fail(-ENOMEM, "lmdb: out of memory rendering %s", name);
		goto out;
	}

	lmdb_key_record(&kb, name, a->name_len);
	rc = lmdb_put(st, txn, &kb, json, json_len, MDB_NOOVERWRITE);
	if (rc != 0)
		goto free_json;
	lmdb_key_id(&kb, a->id);
	lmdb_value_times(&vb, doc.started_ms, doc.heartbeat_ms, name, a->name_len);
	rc = lmdb_put(st, txn, &kb, vb.data, vb.len, 0);
	if (rc != 0)
		goto free_json;
	lmdb_key_outcome(&kb, "running", a->id);
	rc = lmdb_put(st, txn, &kb, name, a->name_len, 0);
	if (rc != 0)
		goto free_json;
	lmdb_key_day(&kb, lmdb_day_of(doc.started_at), a->id);
	rc = lmdb_put(st, txn, &kb, name, a->name_len, 0);
	if (rc != 0)
		goto free_json;
	lmdb_key_start(&kb, doc.started_at, a->id);
	rc = lmdb_put(st, txn, &kb, name, a->name_len, 0);
	if (rc != 0)
		goto free_json;
	kb.len = 0;
	lmdb_buf_add_str(&kb, "meta:seq");
	vb.len = 0;
	lmdb_buf_add_be64(&vb, (uint64_t)a->id);
	rc = lmdb_put(st, txn, &kb, vb.data, vb.len, 0);
free_json:
	free(json);
out:
	return rc;
}

static int lmdb_start(struct store *s, struct store_record *rec)
{
	struct lmdb_start_arg a = { .rec = rec };
	char *running = NULL;
	int rc;

	a.name_len = strlen(rec->execution_id);
	if (a.name_len > LMDB_NAME_MAX) {
		rc = store_fail(-ENAMETOOLONG, "execution name of %zu bytes is too long",
				a.name_len);
		goto out;
	}
	/* Allocated before the transaction: once the start is committed,
	 * nothing may fail. */
	running = strdup("running");
	if (running == NULL) {
		rc = store_fail(-ENOMEM, "lmdb: out of memory");
		goto out;
	}
	rc = lmdb_run(lmdb_of(s), true, "start", lmdb_start_body, &a);
	if (rc != 0)
		goto free_running;
	rec->id = a.id;
	rec->started_at = lmdb_floor_div(rec->started_ms, 1000);
	rec->finished_at = STORE_NULL;
	rec->duration_ms = STORE_NULL;
	free(rec->outcome);
	rec->outcome = running;
	free(rec->error_message);
	rec->error_message = NULL;
	rec->files_indexed = 0;
	rec->symbols_indexed = 0;
	rec->references_indexed = 0;
	rec->heartbeat_ms = rec->started_ms;
	running = NULL; /* now the record's */
free_running:
	free(running);
out:
	return rc;
}

/* Changing a running execution. */

struct lmdb_change_arg {
	const char *name;
	size_t name_len;
	const struct store_finish *fin; /* finish only */
	int64_t now_ms;
	int64_t only_id;                /* delete only: 0, or the id it must have */
};

/* Loads the execution a change is about into @rec; -ENOENT if unknown. */
static int lmdb_load_named(struct lmdb_store *st, MDB_txn *txn,
			   const struct lmdb_change_arg *a, struct store_record *rec)
{
	int rc = lmdb_load(st, txn, a->name, a->name_len, rec);

	if (rc == MDB_NOTFOUND)
		rc = store_fail(-ENOENT, "no execution %s", a->name);
	return rc;
}

static bool lmdb_is_running(const struct store_record *rec)
{
	return rec->outcome != NULL && strcmp(rec->outcome, "running") == 0;
}

static int lmdb_finish_body(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	const struct lmdb_change_arg *a = arg;
	const struct store_finish *fin = a->fin;
	struct store_record rec = { 0 }, doc;
	struct lmdb_buf kb, vb;
	const char *outcome;
	char *json = NULL;
	size_t json_len;
	int rc;

	rc = lmdb_load_named(st, txn, a, &rec);
	if (rc != 0)
		goto clear_rec;
	if (!lmdb_is_running(&rec)) {
		rc = store_fail(-EPERM, "execution %s is not running (it is %s)",
				a->name, rec.outcome ? rec.outcome : "?");
		goto clear_rec;
	}
	if ((fin->only_id != 0 && rec.id != fin->only_id) ||
	    (fin->only_stale_before_ms != 0 && rec.heartbeat_ms >= fin->only_stale_before_ms)) {
		rc = store_fail(-ESTALE, "execution %s is another run, or heartbeat, since it was read",
				a->name);
		goto clear_rec;
	}
	outcome = store_outcome_name(fin->outcome); /* store.c checked it */

	/* The document borrows rec's strings and the caller's message. */
	doc = rec;
	doc.outcome = (char *)outcome;
	doc.error_message = (char *)fin->error_message;
	doc.files_indexed = fin->files_indexed;
	doc.symbols_indexed = fin->symbols_indexed;
	doc.references_indexed = fin->references_indexed;
	doc.finished_at = lmdb_floor_div(a->now_ms, 1000);
	doc.duration_ms = store_ms_between(rec.started_ms, a->now_ms);
	doc.heartbeat_ms = a->now_ms;
	json = record_to_json(&doc, &json_len);
	if (json == NULL) {
		rc = store_fail(-ENOMEM, "lmdb: out of memory rendering %s", a->name);
		goto clear_rec;
	}

	lmdb_key_record(&kb, a->name, a->name_len);
	rc = lmdb_put(st, txn, &kb, json, json_len, 0);
	if (rc != 0)
		goto free_json;
	lmdb_key_id(&kb, rec.id);
	lmdb_value_times(&vb, rec.started_ms, a->now_ms, a->name, a->name_len);
	rc = lmdb_put(st, txn, &kb, vb.data, vb.len, 0);
	if (rc != 0)
		goto free_json;
	lmdb_key_outcome(&kb, "running", rec.id);
	rc = lmdb_del(st, txn, &kb);
	if (rc != 0)
		goto free_json;
	lmdb_key_outcome(&kb, outcome, rec.id);
	rc = lmdb_put(st, txn, &kb, a->name, a->name_len, 0);
	if (rc == 0)
		rc = lmdb_durations_move(st, txn, doc.duration_ms, doc.finished_at, 1);
free_json:
	free(json);
clear_rec:
	store_record_clear(&rec);
	return rc;
}

static int lmdb_finish(struct store *s, const char *execution_id,
		       const struct store_finish *fin, int64_t now_ms)
{
	struct lmdb_change_arg a = {
		.name = execution_id,
		.name_len = strlen(execution_id),
		.fin = fin,
		.now_ms = now_ms,
	};

	return lmdb_run(lmdb_of(s), true, "finish", lmdb_finish_body, &a);
}

static int lmdb_heartbeat_body(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	const struct lmdb_change_arg *a = arg;
	struct store_record rec = { 0 };
	struct lmdb_buf kb, vb;
	int rc;

	rc = lmdb_load_named(st, txn, a, &rec);
	if (rc != 0)
		goto clear_rec;
	if (!lmdb_is_running(&rec)) {
		rc = store_fail(-EPERM, "execution %s is not running (it is %s)",
				a->name, rec.outcome ? rec.outcome : "?");
		goto clear_rec;
	}
	/* The document has no heartbeat: only the id: value changes. */
	lmdb_key_id(&kb, rec.id);
	lmdb_value_times(&vb, rec.started_ms, a->now_ms, a->name, a->name_len);
	rc = lmdb_put(st, txn, &kb, vb.data, vb.len, 0);
clear_rec:
	store_record_clear(&rec);
	return rc;
}

static int lmdb_heartbeat(struct store *s, const char *execution_id, int64_t now_ms)
{
	struct lmdb_change_arg a = {
		.name = execution_id,
		.name_len = strlen(execution_id),
		.now_ms = now_ms,
	};

	return lmdb_run(lmdb_of(s), true, "heartbeat", lmdb_heartbeat_body, &a);
}

static int lmdb_delete_body(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	const struct lmdb_change_arg *a = arg;
	struct store_record rec = { 0 };
	struct lmdb_buf kb;
	int rc;

	rc = lmdb_load_named(st, txn, a, &rec);
	if (rc != 0)
		goto clear_rec;
	if (lmdb_is_running(&rec)) {
		rc = store_fail(-EBUSY, "execution %s is running", a->name);
		goto clear_rec;
	}
	if (a->only_id != 0 && rec.id != a->only_id) {
		rc = store_fail(-ESTALE, "execution %s is another run than id %lld now", a->name,
				(long long)a->only_id);
		goto clear_rec;
	}
	lmdb_key_record(&kb, a->name, a->name_len);
	rc = lmdb_del(st, txn, &kb);
	if (rc != 0)
		goto clear_rec;
	lmdb_key_id(&kb, rec.id);
	rc = lmdb_del(st, txn, &kb);
	if (rc != 0)
		goto clear_rec;
	lmdb_key_outcome(&kb, rec.outcome, rec.id);
	rc = lmdb_del(st, txn, &kb);
	if (rc != 0)
		goto clear_rec;
	lmdb_key_day(&kb, lmdb_day_of(rec.started_at), rec.id);
	rc = lmdb_del(st, txn, &kb);
	if (rc != 0)
		goto clear_rec;
	lmdb_key_start(&kb, rec.started_at, rec.id);
	rc = lmdb_del(st, txn, &kb);
	if (rc == 0)
		rc = lmdb_durations_move(st, txn, rec.duration_ms, rec.finished_at, -1);
clear_rec:
	store_record_clear(&rec);
	return rc;
}

static int lmdb_delete(struct store *s, const char *execution_id, int64_t only_id)
{
	struct lmdb_change_arg a = {
		.name = execution_id,
		.name_len = strlen(execution_id),
		.only_id = only_id,
	};

	/*
	 * Copy-on-write: even a delete needs fresh pages. It may grow the map
	 * past map_max by a reserve, so that a full map can always be emptied.
	 */
	return lmdb_run_reserving(lmdb_of(s), true, "delete", lmdb_delete_body, &a,
				  LMDB_DELETE_RESERVE);
}

/* Reading one execution. */

struct lmdb_get_arg {
	const char *name;
	size_t name_len;
	int64_t id;
	struct store_record *out;
};

static int lmdb_get_body(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	struct lmdb_get_arg *a = arg;
	int rc = lmdb_load(st, txn, a->name, a->name_len, a->out);

	if (rc == MDB_NOTFOUND)
		rc = store_fail(-ENOENT, "no execution %s", a->name);
	return rc;
}

static int lmdb_get(struct store *s, const char *execution_id, struct store_record *out)
{
	struct lmdb_get_arg a = {
		.name = execution_id,
		.name_len = strlen(execution_id),
		.out = out,
	};
	int rc;

	rc = lmdb_run(lmdb_of(s), false, "get", lmdb_get_body, &a);
	if (rc != 0)
		store_record_clear(out);
	return rc;
}

/* Loads the execution an id: entry names. */
static int lmdb_load_indexed(struct lmdb_store *st, MDB_txn *txn, const MDB_val *val,
			     struct store_record *out)
{
	int rc;

	if (val->mv_size < LMDB_TIMES_LEN)
		rc = store_fail(-EIO, "lmdb: an id: entry is damaged");
	else
		rc = lmdb_load(st, txn, (const char *)val->mv_data + LMDB_TIMES_LEN,
			       val->mv_size - LMDB_TIMES_LEN, out);
	return rc;
}

static int lmdb_get_by_id_body(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	struct lmdb_get_arg *a = arg;
	struct lmdb_buf kb;
	MDB_val key, val;
	int rc;

	lmdb_key_id(&kb, a->id);
	key = lmdb_val(&kb);
	rc = mdb_get(txn, st->dbi, &key, &val);
	if (rc == 0)
		rc = lmdb_load_indexed(st, txn, &val, a->out);
	if (rc == MDB_NOTFOUND)
		rc = store_fail(-ENOENT, "no execution with id %" PRId64, a->id);
	return rc;
}

static int lmdb_get_by_id(struct store *s, int64_t id, struct store_record *out)
{
	struct lmdb_get_arg a = { .id = id, .out = out };
	int rc;

	rc = lmdb_run(lmdb_of(s), false, "get", lmdb_get_by_id_body, &a);
	if (rc != 0)
		store_record_clear(out);
	return rc;
}

static int lmdb_latest_body(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	struct lmdb_get_arg *a = arg;
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	rc = mdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		goto out;
	/* "id;" is the first key past every "id:" key. */
	key = (MDB_val){ .mv_size = 3, .mv_data = "id;" };
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &key, &val, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
	if (rc == 0 && (key.mv_size != 3 + 8 || memcmp(key.mv_data, "id:", 3) != 0))
		rc = MDB_NOTFOUND;
	if (rc == 0)
		rc = lmdb_load_indexed(st, txn, &val, a->out);
	if (rc == MDB_NOTFOUND)
		rc = store_fail(-ENOENT, "the log is empty");
	mdb_cursor_close(cur);
out:
	return rc;
}

static int lmdb_latest(struct store *s, struct store_record *out)
{
	struct lmdb_get_arg a = { .out = out };
	int rc;

	rc = lmdb_run(lmdb_of(s), false, "latest", lmdb_latest_body, &a);
	if (rc != 0)
		store_record_clear(out);
	return rc;
}

/* Listing. */

/*
 * A walk along one index whose keys are a prefix and a be64 id. Each step
 * is its own read transaction and loads up to LMDB_LIST_STEP records (about
 * LMDB_LIST_BYTES at most), so the walk holds no transaction (and no lock)
 * while the caller's callback runs; ids only grow, so resuming after the
 * last id seen shows nothing twice and misses nothing that existed
 * throughout.
 */
#define LMDB_LIST_STEP 64
#define LMDB_LIST_BYTES (256 * 1024)

struct lmdb_walk {
	struct lmdb_buf prefix;
	bool id_index;           /* values are id: values (times, then the name) */
	const char *outcome;     /* checked on each entry; NULL for any */
	int64_t next_id;         /* the least id still to visit */
	bool exhausted;          /* no id is left past the last one found */
	size_t n;                /* records the last step loaded */
	struct store_record recs[LMDB_LIST_STEP];
};

/* 0 if execution @id has @outcome, MDB_NOTFOUND if not. */
static int lmdb_has_outcome(struct lmdb_store *st, MDB_txn *txn, const char *outcome,
			    int64_t id)
{
	struct lmdb_buf kb;
	MDB_val key, val;

	lmdb_key_outcome(&kb, outcome, id);
	key = lmdb_val(&kb);
	return mdb_get(txn, st->dbi, &key, &val);
}

static void lmdb_walk_clear(struct lmdb_walk *w)
{
	for (size_t i = 0; i < w->n; i++)
		store_record_clear(&w->recs[i]);
	w->n = 0;
}

/*
 * Moves @cur along the index of keys @prefix<be64 id>: to the first key at
 * or after id @from when @first, else to the next key. 0 with *id and *val
 * set, MDB_NOTFOUND past the index's end, or the mdb_ error.
 */
static int lmdb_index_next(MDB_cursor *cur, const struct lmdb_buf *prefix, bool first,
			   int64_t from, int64_t *id, MDB_val *val)
{
	MDB_val key;
	int rc;

	if (first) {
		struct lmdb_buf kb = *prefix;

		lmdb_buf_add_be64(&kb, (uint64_t)from);
		key = lmdb_val(&kb);
		rc = mdb_cursor_get(cur, &key, val, MDB_SET_RANGE);
	} else {
		rc = mdb_cursor_get(cur, &key, val, MDB_NEXT);
	}
	if (rc != 0)
		return rc;
	if (key.mv_size != prefix->len + 8 || memcmp(key.mv_data, prefix->data, prefix->len) != 0)
		return MDB_NOTFOUND;
	*id = (int64_t)lmdb_be64_decode((const char *)key.mv_data + prefix->len);
	return 0;
}

static int lmdb_walk_step(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	struct lmdb_walk *w = arg;
	int64_t next = w->next_id, id;
	bool exhausted = false;
	size_t bytes = 0;
	MDB_cursor *cur;
	MDB_val val;
	int rc;

	/* A step run again (after a remap) starts afresh. */
	lmdb_walk_clear(w);
	rc = mdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_index_next(cur, &w->prefix, true, next, &id, &val);
	     rc == 0 && w->n < LMDB_LIST_STEP && bytes < LMDB_LIST_BYTES;
	     rc = lmdb_index_next(cur, &w->prefix, false, 0, &id, &val)) {
		struct store_record *rec = &w->recs[w->n];

		store_count_visits(&st->base, 1);
		if (id == INT64_MAX)
			exhausted = true;
		else
			next = id + 1;
		/* The outcome index answers without parsing the document. */
		if (w->outcome != NULL)
			rc = lmdb_has_outcome(st, txn, w->outcome, id);
		if (rc == 0 && w->id_index)
			rc = lmdb_load_indexed(st, txn, &val, rec);
		else if (rc == 0)
			rc = lmdb_load(st, txn, val.mv_data, val.mv_size, rec);
		if (rc == 0) {
			w->n++;
			bytes += strlen(rec->args) + strlen(rec->tool_version);
		} else if (rc != MDB_NOTFOUND) {
			break;
		}
		/* Another outcome, or an index entry without its record: skipped. */
		if (exhausted) {
			rc = MDB_NOTFOUND;
			break;
		}
	}
	if (rc == MDB_NOTFOUND || rc == 0) {
		exhausted = exhausted || rc == MDB_NOTFOUND;
		rc = 0;
	}
	mdb_cursor_close(cur);
	if (rc != 0) {
		lmdb_walk_clear(w);
		return rc;
	}
	w->next_id = next;
	w->exhausted = exhausted;
	return 0;
}

/*
 * Points @w at the narrowest index for @filter: a day, an outcome, or every
 * id. A day and an outcome walk the day and check the outcome.
 */
static void lmdb_walk_index(struct lmdb_walk *w, const struct store_filter *filter)
{
	const char *outcome = NULL;

	if (filter->outcome >= 0)
		outcome = store_outcome_name(filter->outcome);
	if (filter->day >= 0) {
		lmdb_prefix_day(&w->prefix, filter->day);
		w->outcome = outcome;
	} else if (outcome != NULL) {
		lmdb_prefix_outcome(&w->prefix, outcome);
	} else {
		lmdb_buf_add_str(&w->prefix, "id:");
		w->id_index = true;
	}
}

static int lmdb_list(struct store *s, const struct store_filter *filter,
		     int64_t after_id, store_list_fn fn, void *ctx)
{
	struct lmdb_walk *w = calloc(1, sizeof(*w));
	int rc = 0;

	if (w == NULL)
		return store_fail(-ENOMEM, "lmdb: out of memory");
	lmdb_walk_index(w, filter);
	if (after_id == INT64_MAX)
		w->exhausted = true;
	else
		w->next_id = after_id < 0 ? 0 : after_id + 1;
	while (rc == 0 && !w->exhausted) {
		rc = lmdb_run(lmdb_of(s), false, "list", lmdb_walk_step, w);
		for (size_t i = 0; rc == 0 && i < w->n; i++)
			rc = fn(ctx, &w->recs[i]);
		lmdb_walk_clear(w);
	}
	lmdb_trim(lmdb_of(s));
	free(w);
	return rc > 0 ? 0 : rc;
}

/*
 * A names-only listing reads up to LMDB_NAMES_STEP index entries per read
 * transaction (the names are in the index values: no record is loaded),
 * then hands them to the caller outside the transaction.
 */
#define LMDB_NAMES_STEP 256

struct lmdb_names {
	struct lmdb_walk w;
	size_t n;
	int64_t ids[LMDB_NAMES_STEP];
	size_t at[LMDB_NAMES_STEP];     /* offset of each name in text */
	char text[LMDB_NAMES_STEP * (LMDB_NAME_MAX + 1)];
};

static int lmdb_names_step(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	struct lmdb_names *nm = arg;
	struct lmdb_walk *w = &nm->w;
	size_t used = 0;
	MDB_cursor *cur;
	MDB_val val;
	int64_t id;
	int rc;

	nm->n = 0;
	rc = mdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_index_next(cur, &w->prefix, true, w->next_id, &id, &val);
	     rc == 0 && nm->n < LMDB_NAMES_STEP;
	     rc = lmdb_index_next(cur, &w->prefix, false, 0, &id, &val)) {
		const char *name = val.mv_data;
		size_t len = val.mv_size;

		store_count_visits(&st->base, 1);
		if (id == INT64_MAX)
			w->exhausted = true;
		else
			w->next_id = id + 1;
		if (w->outcome != NULL) {
			rc = lmdb_has_outcome(st, txn, w->outcome, id);
			if (rc == MDB_NOTFOUND)
				continue;
			if (rc != 0)
				break;
		}
		/* id: values hold the times before the name. */
		if (w->id_index) {
			if (len < LMDB_TIMES_LEN) {
				rc = store_fail(-EIO, "lmdb: an id: entry is damaged");
				break;
			}
			name += LMDB_TIMES_LEN;
			len -= LMDB_TIMES_LEN;
		}
		if (len > LMDB_NAME_MAX) {
			rc = store_fail(-EIO, "lmdb: an index entry is damaged");
			break;
		}
		nm->ids[nm->n] = id;
		nm->at[nm->n] = used;
		memcpy(nm->text + used, name, len);
		used += len;
		nm->text[used++] = '\0';
		nm->n++;
		if (w->exhausted)
			break;
	}
	if (rc == MDB_NOTFOUND) {
		w->exhausted = true;
		rc = 0;
	}
	mdb_cursor_close(cur);
	return rc;
}

static int lmdb_list_names(struct store *s, const struct store_filter *filter,
			   int64_t after_id, store_name_fn fn, void *ctx)
{
	struct lmdb_names *nm = calloc(1, sizeof(*nm));
	int rc = 0;

	if (nm == NULL)
		return store_fail(-ENOMEM, "lmdb: out of memory");
	lmdb_walk_index(&nm->w, filter);
	if (after_id == INT64_MAX)
		nm->w.exhausted = true;
	else
		nm->w.next_id = after_id < 0 ? 0 : after_id + 1;
	while (rc == 0 && !nm->w.exhausted) {
		rc = lmdb_run(lmdb_of(s), false, "list", lmdb_names_step, nm);
		for (size_t i = 0; rc == 0 && i < nm->n; i++)
			rc = fn(ctx, nm->ids[i], nm->text + nm->at[i]);
		if (rc == 0 && nm->n == 0)
			break;
	}
	lmdb_trim(lmdb_of(s));
	free(nm);
	return rc > 0 ? 0 : rc;
}

struct lmdb_count {
	struct lmdb_walk w;
	uint64_t n;
};

/* Counts the keys of one index in one read transaction: no value is read. */
static int lmdb_count_body(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	struct lmdb_count *c = arg;
	const struct lmdb_buf *prefix = &c->w.prefix;
	uint64_t seen = 0;
	MDB_cursor *cur;
	MDB_val val;
	int64_t id;
	int rc;

	c->n = 0;
	rc = mdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_index_next(cur, prefix, true, 0, &id, &val); rc == 0;
	     rc = lmdb_index_next(cur, prefix, false, 0, &id, &val)) {
		if (++seen % LMDB_TRIM_KEYS == 0)
			lmdb_trim_held(st);
		if (c->w.outcome != NULL) {
			rc = lmdb_has_outcome(st, txn, c->w.outcome, id);
			if (rc == MDB_NOTFOUND)
				continue;
			if (rc != 0)
				break;
		}
		c->n++;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int lmdb_count(struct store *s, const struct store_filter *filter, uint64_t *count)
{
	struct lmdb_count c = { 0 };
	int rc;

	lmdb_walk_index(&c.w, filter);
	rc = lmdb_run(lmdb_of(s), false, "count", lmdb_count_body, &c);
	lmdb_trim(lmdb_of(s));
	if (rc == 0)
		*count = c.n;
	return rc;
}

struct lmdb_count_outcomes {
	struct lmdb_buf prefix; /* of the day's keys */
	uint64_t counts[STORE_OUTCOMES];
};

/* One walk of a day's keys, each execution's outcome found in the outcome index. */
static int lmdb_count_outcomes_body(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	struct lmdb_count_outcomes *c = arg;
	const struct lmdb_buf *prefix = &c->prefix;
	uint64_t seen = 0;
	MDB_cursor *cur;
	MDB_val val;
	int64_t id;
	int rc;

	memset(c->counts, 0, sizeof(c->counts));
	rc = mdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_index_next(cur, prefix, true, 0, &id, &val); rc == 0;
	     rc = lmdb_index_next(cur, prefix, false, 0, &id, &val)) {
		if (++seen % LMDB_TRIM_KEYS == 0)
			lmdb_trim_held(st);
		for (int o = 0; o < STORE_OUTCOMES; o++) {
			rc = lmdb_has_outcome(st, txn, store_outcome_name(o), id);
			if (rc == 0) {
				c->counts[o]++;
				break;
			}
			if (rc != MDB_NOTFOUND)
				goto out;
		}
	}
out:
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int lmdb_count_outcomes(struct store *s, const struct store_filter *filter,
			       uint64_t counts[STORE_OUTCOMES])
{
	struct lmdb_count_outcomes c = { 0 };
	int rc = 0;

	/* All of them: each outcome's own index counts it. */
	if (filter->day < 0) {
		for (int o = 0; o < STORE_OUTCOMES && rc == 0; o++) {
			struct store_filter f = { .outcome = o, .day = -1 };

			rc = lmdb_count(s, &f, &counts[o]);
		}
		return rc;
	}
	lmdb_prefix_day(&c.prefix, filter->day);
	rc = lmdb_run(lmdb_of(s), false, "count", lmdb_count_outcomes_body, &c);
	lmdb_trim(lmdb_of(s));
	if (rc == 0)
		memcpy(counts, c.counts, sizeof(c.counts));
	return rc;
}

struct lmdb_days {
	uint64_t next_day; /* the least day still to visit, as its key orders */
	bool exhausted;    /* no day is left past the last one found */
	bool found;        /* the last step found day */
	int64_t day;
};

/* Finds the first day at or after next_day: one seek per day, however many
 * executions it has. */
static int lmdb_days_step(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	struct lmdb_days *d = arg;
	struct lmdb_buf kb = { 0 };
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	d->found = false;
	rc = mdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		goto out;
	lmdb_buf_add_str(&kb, "day:");
	lmdb_buf_add_be64(&kb, d->next_day);
	key = lmdb_val(&kb);
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	if (rc == 0 && (key.mv_size != 4 + 16 || memcmp(key.mv_data, "day:", 4) != 0))
		rc = MDB_NOTFOUND;
	if (rc == 0) {
		uint64_t day = lmdb_be64_decode((const char *)key.mv_data + 4);

		d->day = (int64_t)day;
		d->found = true;
		if (day == UINT64_MAX)
			d->exhausted = true;
		else
			d->next_day = day + 1;
	} else if (rc == MDB_NOTFOUND) {
		rc = 0;
	}
	mdb_cursor_close(cur);
out:
	return rc;
}

static int lmdb_list_days(struct store *s, int64_t after_day, store_day_fn fn, void *ctx)
{
	struct lmdb_days d = { 0 };
	int rc = 0;

	if (after_day == INT64_MAX)
		d.exhausted = true;
	else
		d.next_day = after_day < 0 ? 0 : (uint64_t)after_day + 1;
	while (!d.exhausted) {
		rc = lmdb_run(lmdb_of(s), false, "list days", lmdb_days_step, &d);
		if (rc != 0 || !d.found)
			break;
		rc = fn(ctx, d.day);
		if (rc != 0)
			break;
	}
	return rc > 0 ? 0 : rc;
}

/*
 * A trial, not a guess: the very start an empty file would commit (a name of
 * the longest length, the default document), in a write transaction that is
 * then aborted. Pages freed by deletes are reused, and copy-on-write touches
 * a path of pages per key, so only LMDB itself can tell whether the map has
 * room; an abort writes nothing. A start with a document is committed by a
 * write(2), which reports ENOSPC itself.
 */
#define LMDB_COMMIT_ROOM ((size_t)16 * 1024)

/*
 * The pages a start of an empty document may need, in a tree of @depth:
 * its six keys (execlog:, id:, outcome:, day:, start:, meta:seq) each copy
 * a path and may split one, and the commit rewrites the free list.
 */
#define LMDB_START_PAGES(depth) (12 * (size_t)(depth) + 16)

struct lmdb_free {
	size_t pages; /* free pages that the next write may reuse */
	size_t need;  /* what a start may take of them */
};

/*
 * Counts the free pages of data.mdb that the next write transaction may
 * reuse: LMDB's free list (database 0) keeps, under the id of the
 * transaction that freed them, pages that no snapshot after it holds; those
 * freed before the last commit are free for the next one (unless a reader
 * still holds an older snapshot, which short transactions make rare). The
 * walk stops as soon as a start's need is met.
 */
static int lmdb_free_body(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	struct lmdb_free *f = arg;
	size_t last = mdb_txn_id(txn);
	MDB_cursor *cur;
	MDB_val key, val;
	MDB_stat ms;
	int rc;

	f->pages = 0;
	rc = mdb_stat(txn, st->dbi, &ms);
	if (rc != 0)
		return rc;
	f->need = LMDB_START_PAGES(ms.ms_depth);
	rc = mdb_cursor_open(txn, 0, &cur);
	if (rc != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0 && f->pages < f->need;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		size_t freed_by, count;

		if (key.mv_size != sizeof(freed_by) || val.mv_size < sizeof(count))
			return store_fail(-EIO, "lmdb: the free list is damaged");
		memcpy(&freed_by, key.mv_data, sizeof(freed_by));
		if (freed_by >= last)
			break; /* keys ascend: the rest is not free yet */
		/* The value is an ID list: its count, then the page numbers. */
		memcpy(&count, val.mv_data, sizeof(count));
		f->pages += count;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * Whether a start fits in the free pages data.mdb already has, for a disk
 * too full to grow it: copy-on-write takes its pages from the free list
 * first, and writing a page the file has needs no room on the disk.
 */
static bool lmdb_start_fits_free_pages(struct lmdb_store *st)
{
	struct lmdb_free f = { 0 };

	return lmdb_run(st, false, "read the free list", lmdb_free_body, &f) == 0 &&
	       f.pages >= f.need;
}

static int lmdb_check_room(struct store *s)
{
	struct lmdb_store *st = lmdb_of(s);
	char name[RECORD_NAME_MAX + 1], data[4096], empty[] = "", args[] = "[]";
	struct store_record probe = {
		.execution_id = name, .tool_version = empty, .args = args, .db_path = empty,
		.started_ms = store_now_ms(),
	};
	struct lmdb_start_arg a = { .rec = &probe, .name_len = RECORD_NAME_MAX };
	const char *dir = NULL;
	MDB_txn *txn;
	bool can_grow;
	int rc;

	if (mdb_env_get_path(st->env, &dir) == 0) {
		snprintf(data, sizeof(data), "%s/data.mdb", dir);
		rc = store_room_at(data);
		/* A full disk: the pages freed by deletes may still hold a start. */
		if (rc == -ENOSPC && lmdb_start_fits_free_pages(st))
			rc = 0;
		if (rc)
			return rc;
	}
	memset(name, '~', RECORD_NAME_MAX); /* no execution's name: '~' is not allowed in one */
	name[RECORD_NAME_MAX] = '\0';
	pthread_rwlock_rdlock(&st->resize);
	can_grow = st->map_max == 0 || st->map_size < st->map_max;
	rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (rc == 0) {
		rc = lmdb_start_body(st, txn, &a);
		/* A commit also writes the free list: allow it a few pages. */
		if (rc == 0)
			rc = mdb_put(txn, st->dbi, &(MDB_val){ .mv_size = 15, .mv_data = "meta:room-check" },
				     &(MDB_val){ .mv_size = LMDB_COMMIT_ROOM }, MDB_RESERVE);
		mdb_txn_abort(txn);
	}
	pthread_rwlock_unlock(&st->resize);
	if (rc == MDB_MAP_FULL && !can_grow)
		return store_fail(-ENOSPC, "lmdb: the map is full at its limit of %zu bytes",
				  st->map_max);
	/* Anything else is for the start itself to meet (and to grow the map for). */
	return 0;
}

/* The pages on LMDB's free list, which it reuses before it grows (as mdb_stat -f counts). */
static size_t lmdb_free_pages(struct lmdb_store *st)
{
	MDB_cursor *cursor;
	MDB_val key, val;
	MDB_txn *txn;
	size_t pages = 0, n;

	if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	if (mdb_cursor_open(txn, 0, &cursor) == 0) { /* dbi 0 is the free list */
		while (mdb_cursor_get(cursor, &key, &val, MDB_NEXT) == 0 && val.mv_size >= sizeof(n)) {
			memcpy(&n, val.mv_data, sizeof(n)); /* an IDL starts with its length */
			pages += n;
		}
		mdb_cursor_close(cursor);
	}
	mdb_txn_abort(txn);
	return pages;
}

/*
 * The disk of data.mdb, and with map_max the map: its size at most, and the
 * bytes left below it (the pages past the last one used, and the free list).
 */
static int lmdb_statfs(struct store *s, struct statvfs *out)
{
	struct lmdb_store *st = lmdb_of(s);
	char data[4096];
	const char *dir = NULL;
	MDB_envinfo info;
	MDB_stat ms;
	uint64_t pages, free_pages, used, left;
	int err;

	if (mdb_env_get_path(st->env, &dir) != 0 || mdb_env_info(st->env, &info) != 0 ||
	    mdb_env_stat(st->env, &ms) != 0)
		return store_fail(-EIO, "lmdb: cannot read the environment's state");
	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	err = store_statfs_at(data, out);
	if (err || st->map_max == 0)
		return err;
	pages = (uint64_t)info.me_last_pgno + 1;
	free_pages = lmdb_free_pages(st);
	used = (free_pages < pages ? pages - free_pages : 0) * ms.ms_psize;
	left = used < st->map_max ? (st->map_max - used) / out->f_frsize : 0;
	if (st->map_max / out->f_frsize < out->f_blocks)
		out->f_blocks = st->map_max / out->f_frsize;
	if (left < out->f_bfree)
		out->f_bfree = left;
	if (left < out->f_bavail)
		out->f_bavail = left;
	return 0;
}

/* The aggregates of finished executions, one key read. */

static int lmdb_summary_body(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	int rc = lmdb_durations_get(st, txn, arg);

	return rc == MDB_NOTFOUND ? store_fail(-EOPNOTSUPP, "lmdb: no meta:durations yet") : rc;
}

static int lmdb_summary(struct store *s, struct store_summary *out)
{
	return lmdb_run(lmdb_of(s), false, "summary", lmdb_summary_body, out);
}

/* The most recent executions: their ids from the id: index, backwards, then each. */

struct lmdb_recent {
	int64_t *ids;
	size_t n, found;
};

static int lmdb_recent_body(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	struct lmdb_recent *r = arg;
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	r->found = 0;
	rc = mdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	/* "id;" is the first key past every "id:" key. */
	key = (MDB_val){ .mv_size = 3, .mv_data = "id;" };
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	rc = rc == 0 ? mdb_cursor_get(cur, &key, &val, MDB_PREV)
		     : rc == MDB_NOTFOUND ? mdb_cursor_get(cur, &key, &val, MDB_LAST) : rc;
	while (rc == 0 && r->found < r->n && key.mv_size == 3 + 8 &&
	       memcmp(key.mv_data, "id:", 3) == 0) {
		r->ids[r->found++] = (int64_t)lmdb_be64_decode((const char *)key.mv_data + 3);
		rc = mdb_cursor_get(cur, &key, &val, MDB_PREV);
	}
	store_count_visits(&st->base, r->found);
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int lmdb_list_recent(struct store *s, size_t n, store_list_fn fn, void *ctx)
{
	struct lmdb_recent r = { .n = n };
	int rc;

	r.ids = calloc(n, sizeof(*r.ids));
	if (r.ids == NULL)
		return store_fail(-ENOMEM, "lmdb: out of memory");
	rc = lmdb_run(lmdb_of(s), false, "list", lmdb_recent_body, &r);
	if (rc == 0)
		rc = store_list_ids(s, r.ids, r.found, fn, ctx);
	free(r.ids);
	return rc;
}

/*
 * Retention: the finished executions in start order, along the start:
 * keys, whose values hold the names: no record is loaded. Each step is one
 * read transaction that reads up to LMDB_NAMES_STEP entries; the position
 * moves past every key a step looked at, running ones (skipped) included.
 */
struct lmdb_by_start {
	struct store_start_walk pos;
	bool exhausted;
	size_t n;
	int64_t ids[LMDB_NAMES_STEP], started_at[LMDB_NAMES_STEP];
	size_t at[LMDB_NAMES_STEP]; /* offset of each name in text */
	char text[LMDB_NAMES_STEP * (LMDB_NAME_MAX + 1)];
};

/* Puts @cur on the first start: key past @pos in its direction: 0, MDB_NOTFOUND, or an error. */
static int lmdb_by_start_seek(MDB_cursor *cur, const struct store_start_walk *pos,
			      struct lmdb_buf *kb, MDB_val *key, MDB_val *val)
{
	int rc;

	lmdb_key_start(kb, pos->started_at, pos->id);
	*key = lmdb_val(kb);
	rc = mdb_cursor_get(cur, key, val, MDB_SET_RANGE);
	if (pos->newest_first)
		return rc == 0 ? mdb_cursor_get(cur, key, val, MDB_PREV)
		       : rc == MDB_NOTFOUND ? mdb_cursor_get(cur, key, val, MDB_LAST) : rc;
	if (rc == 0 && key->mv_size == kb->len && memcmp(key->mv_data, kb->data, kb->len) == 0)
		rc = mdb_cursor_get(cur, key, val, MDB_NEXT);
	return rc;
}

/* Adds the execution of one start: entry to the step, unless it is running. */
static int lmdb_by_start_take(struct lmdb_store *st, MDB_txn *txn, struct lmdb_by_start *b,
			      const struct store_start_walk *pos, const MDB_val *val, size_t *used)
{
	int rc = lmdb_has_outcome(st, txn, "running", pos->id);

	if (rc == 0)
		return 0; /* running: never listed */
	if (rc != MDB_NOTFOUND)
		return rc;
	if (val->mv_size > LMDB_NAME_MAX)
		return store_fail(-EIO, "lmdb: a start: entry is damaged");
	b->ids[b->n] = pos->id;
	b->started_at[b->n] = pos->started_at;
	b->at[b->n] = *used;
	memcpy(b->text + *used, val->mv_data, val->mv_size);
	*used += val->mv_size;
	b->text[(*used)++] = '\0';
	b->n++;
	return 0;
}

static int lmdb_by_start_step(struct lmdb_store *st, MDB_txn *txn, void *arg)
{
	struct lmdb_by_start *b = arg;
	struct store_start_walk pos = b->pos;
	MDB_cursor_op next = pos.newest_first ? MDB_PREV : MDB_NEXT;
	struct lmdb_buf kb;
	MDB_cursor *cur;
	MDB_val key, val;
	size_t used = 0;
	int rc;

	/* A step run again (after a remap) starts afresh. */
	b->n = 0;
	/* Newest first, the walk begins below the bound: (before, 0) precedes every id. */
	if (pos.newest_first && (pos.started_at > pos.before ||
				 (pos.started_at == pos.before && pos.id > 0))) {
		pos.started_at = pos.before;
		pos.id = 0;
	}
	rc = mdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_by_start_seek(cur, &pos, &kb, &key, &val); rc == 0 && b->n < LMDB_NAMES_STEP;
	     rc = mdb_cursor_get(cur, &key, &val, next)) {
		const char *k = key.mv_data;

		if (key.mv_size != 6 + 16 || memcmp(k, "start:", 6) != 0) {
			rc = MDB_NOTFOUND;
			break;
		}
		store_count_visits(&st->base, 1);
		pos.started_at = (int64_t)(lmdb_be64_decode(k + 6) ^ (UINT64_C(1) << 63));
		pos.id = (int64_t)lmdb_be64_decode(k + 14);
		if (pos.started_at >= pos.before) {
			rc = MDB_NOTFOUND; /* oldest first: the rest started later */
			break;
		}
		rc = lmdb_by_start_take(st, txn, b, &pos, &val, &used);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		b->n = 0;
		return rc;
	}
	b->exhausted = rc == MDB_NOTFOUND;
	b->pos = pos;
	return 0;
}

static int lmdb_list_finished_by_start(struct store *s, const struct store_start_walk *w,
				       store_by_start_fn fn, void *ctx)
{
	struct lmdb_store *st = lmdb_of(s);
	struct lmdb_by_start *b;
	int rc = 0;

	if (st->format_1)
		return store_fail(-EOPNOTSUPP, "lmdb: a store of format 1, opened read-only, "
				  "has no start: keys");
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return store_fail(-ENOMEM, "lmdb: out of memory");
	b->pos = *w;
	while (rc == 0 && !b->exhausted) {
		rc = lmdb_run(st, false, "list by start", lmdb_by_start_step, b);
		for (size_t i = 0; rc == 0 && i < b->n; i++)
			rc = fn(ctx, b->ids[i], b->text + b->at[i], b->started_at[i]);
	}
	lmdb_trim(st);
	free(b);
	return rc > 0 ? 0 : rc;
}

const struct store_ops lmdb_ops = {
	.name = "lmdb",
	/* Opens or creates the store directory at path; refuses foreign data untouched. */
	.open = lmdb_open,
	/* Syncs and closes the environment, then frees the handle. */
	.close = lmdb_close,
	/* 0 for a directory whose data.mdb is an LMDB file, without opening it for real. */
	.detect = lmdb_detect,
	/* Inserts the record and its index keys and moves meta:seq, in one transaction. */
	.start = lmdb_start,
	/* Rewrites the document and moves the outcome index key, in one transaction. */
	.finish = lmdb_finish,
	/* Rewrites the id: value only. */
	.heartbeat = lmdb_heartbeat,
	/* Reads execlog:<name> and the times of its id: key. */
	.get = lmdb_get,
	/* Follows id:<id> to its execlog: key. */
	.get_by_id = lmdb_get_by_id,
	/* Removes the record and every index key naming it, in one transaction. */
	.delete = lmdb_delete,
	/* Walks the id:, outcome: or day: index, one record per read transaction. */
	.list = lmdb_list,
	/* Names from the index values, many per read transaction. */
	.list_names = lmdb_list_names,
	/* Seeks from day to day along the day: index. */
	.list_days = lmdb_list_days,
	/* Reads the record of the last id: key. */
	.latest = lmdb_latest,
	/* data.mdb is writable, its disk not full, and the map below its limit. */
	.check_room = lmdb_check_room,
	/* The disk of data.mdb, cut to map_max and what the map has left below it. */
	.statfs = lmdb_statfs,
	/* Counts the keys of the narrowest index, in one read transaction. */
	.count = lmdb_count,
	/* A day's keys walked once, each outcome from the outcome index. */
	.count_outcomes = lmdb_count_outcomes,
	/* Walks the id: index backwards for the ids, then reads each record. */
	.list_recent = lmdb_list_recent,
	/* Reads meta:durations, which finish and delete move in their transactions. */
	.summary = lmdb_summary,
	/* Walks the start: keys, names from their values, 256 per read transaction. */
	.list_finished_by_start = lmdb_list_finished_by_start,
	/* Names reserved by byte locks on data.mdb (LMDB locks lock.mdb only). */
	.reserve_file = "/data.mdb",
};
