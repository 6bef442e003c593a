/*
 * lmdb_internal.h - what the files of the LMDB backend share, and no one else.
 *
 * The backend is split by job: lmdb_keys.c (the on-disk layout, written out
 * at its top, and the one index API that start, finish, heartbeat and delete
 * call), lmdb_txn.c (the transaction engine: retries, the group commit, the
 * one place where LMDB's return codes become negative errnos), lmdb_open.c
 * (detect, open, the format upgrade, close), lmdb_list.c (the walks of the
 * indexes), lmdb_counts.c (the counter keys), lmdb_room.c (check_room, statfs), lmdb_views.c (the indexes by
 * provenance: host, user, tool, tag), lmdb_output.c (what a run printed)
 * and lmdb.c (the changes, the reads of
 * one execution, and the ops table).
 *
 * Left out: anything fs/ or store.c may see (backend.h holds the ops table
 * they reach the backend through).
 */
#ifndef EXECLOGFS_LMDB_INTERNAL_H
#define EXECLOGFS_LMDB_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* The on-disk layout is written out at the top of lmdb_keys.c. */

#define LMDB_FORMAT "execlogfs-lmdb 4"
#define LMDB_FORMAT_VERSION 4
#define LMDB_FORMAT_3 "execlogfs-lmdb 3" /* without cnt: keys */
#define LMDB_FORMAT_2 "execlogfs-lmdb 2" /* without host:, user:, tool:, tag: keys */
#define LMDB_FORMAT_1 "execlogfs-lmdb 1" /* without those, nor start: keys */
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
	/* The store's format: LMDB_FORMAT_VERSION, or, opened read-only, an
	 * older one (1: no start: keys; 1 and 2: no view keys; 1 to 3: no
	 * cnt: keys). */
	int format;
};

/* A key or value built here; the id: value is the longest. */
struct lmdb_buf {
	size_t len;
	char data[LMDB_TIMES_LEN + LMDB_KEY_MAX];
};

/*
 * One transaction as a body sees it. Every mdb_ call a body makes goes
 * through lmdb_mdb() (by the lmdb_txn_ and lmdb_cursor_ calls below), the
 * one place where an LMDB return code becomes a negative errno; the raw code
 * of a failure stays here, for the engine to retry it (a full map, a map
 * grown by another process, no free reader slot) or report it, and for the
 * group commit, to which it means the transaction is spoiled.
 */
struct lmdb_txn {
	MDB_txn *mdb;
	int failed; /* the raw code of the last failed mdb_ call; 0: none */
};

/*
 * The body of a transaction. Returns 0 (a write is then committed) or a
 * negative errno: a refusal with its reason set, or an LMDB failure
 * (txn->failed set), which lmdb_run() retries or reports. A write body
 * refuses only before its first write: the group commit keeps the
 * transaction of a refused change for others.
 */
typedef int (*lmdb_body_fn)(struct lmdb_store *st, struct lmdb_txn *txn, void *arg);

/* The LMDB handle of @s, which lmdb_open() made. */
static inline struct lmdb_store *lmdb_of(struct store *s)
{
	return STORE_DOWNCAST(s, struct lmdb_store, lmdb_ops);
}

/* Walks within one transaction trim every LMDB_TRIM_KEYS keys (see lmdb_trim()). */
#define LMDB_TRIM_KEYS 4096
/* Names-only walks read up to LMDB_NAMES_STEP index entries per transaction. */
#define LMDB_NAMES_STEP 256

/* lmdb_keys.c: encoding, keys, and reads and writes of one key. */

void lmdb_be64_encode(char *p, uint64_t v);
uint64_t lmdb_be64_decode(const char *p);
int64_t lmdb_le64_decode(const char *p);
/* Division rounding toward minus infinity (times before 1970). */
int64_t lmdb_floor_div(int64_t a, int64_t b);
void lmdb_buf_add(struct lmdb_buf *b, const void *p, size_t n);
void lmdb_buf_add_str(struct lmdb_buf *b, const char *s);
void lmdb_buf_add_be64(struct lmdb_buf *b, uint64_t v);
MDB_val lmdb_val(const struct lmdb_buf *b);
/* Each sets @b to one key of the layout (or, prefix_, the prefix of an index). */
void lmdb_key_record(struct lmdb_buf *b, const char *name, size_t len);
void lmdb_key_id(struct lmdb_buf *b, int64_t id);
void lmdb_prefix_outcome(struct lmdb_buf *b, const char *outcome);
void lmdb_key_outcome(struct lmdb_buf *b, const char *outcome, int64_t id);
void lmdb_prefix_day(struct lmdb_buf *b, int64_t day);
void lmdb_key_day(struct lmdb_buf *b, int64_t day, int64_t id);
void lmdb_key_start(struct lmdb_buf *b, int64_t started_at, int64_t id);
void lmdb_value_times(struct lmdb_buf *b, int64_t started_ms, int64_t heartbeat_ms,
		      const char *name, size_t len);
/* Reads execution @name (its document, then its id: times) into @out. */
int lmdb_load(struct lmdb_store *st, struct lmdb_txn *txn, const char *name, size_t len,
	      struct store_record *out);
/* Loads the execution an id: value names. */
int lmdb_load_indexed(struct lmdb_store *st, struct lmdb_txn *txn, const MDB_val *val,
		      struct store_record *out);
/* Reads the value of one key. */
int lmdb_get_key(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_buf *kb,
		 MDB_val *val);
/* Deletes one key; a missing one is no error. */
int lmdb_del(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_buf *kb);
int lmdb_put(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_buf *kb,
	     const void *data, size_t len, unsigned flags);
/* Whether execution @id has @outcome, from the outcome: index. */
int lmdb_has_outcome(struct lmdb_store *st, struct lmdb_txn *txn, const char *outcome, int64_t id);
/* Moves @cur along the index of keys @prefix<be64 id>. */
int lmdb_index_next(struct lmdb_txn *txn, MDB_cursor *cur, const struct lmdb_buf *prefix,
		    bool first, int64_t from, int64_t *id, MDB_val *val);
/* Reads meta:durations into @sum. */
int lmdb_durations_get(struct lmdb_store *st, struct lmdb_txn *txn, struct store_summary *sum);

/*
 * The index API: what an execution puts in the indexes and in
 * meta:durations, from its fields. Every change moves its keys through it.
 */
struct lmdb_entry {
	int64_t id;
	const char *name;
	size_t name_len;
	int64_t started_at;               /* day: and start: */
	int64_t started_ms, heartbeat_ms; /* the id: value */
	const char *outcome;              /* outcome:, and "running" or not */
	int64_t duration_ms, finished_at; /* meta:durations, once not running */
	/* The views (host:, user:, tool:, tag:); NULL: none. Never moved by a
	 * finish or heartbeat: only a start sets them. */
	const char *host, *user, *tool;
	const struct store_tag *tags;
	size_t ntags;
};

/* The entry of @rec, whose name is @name (borrowed, as rec's strings). */
void lmdb_entry_of(struct lmdb_entry *e, const struct store_record *rec, const char *name,
		   size_t name_len);
/* Writes every index key of a new execution, and counts it if finished. */
int lmdb_index_add(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *e);
/* Moves the keys of an execution from @was to @now (same id and name). */
int lmdb_index_move(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *was,
		    const struct lmdb_entry *now);
/* Deletes every index key of an execution, and uncounts it if finished. */
int lmdb_index_remove(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *e);
/* A body: builds meta:durations from the records if it is missing. */
int lmdb_durations_build(struct lmdb_store *st, struct lmdb_txn *txn, void *arg);

/* lmdb_counts.c: the counters by outcome, in all and by day. */

/* Counts one execution of @outcome started at @started_at in (@sign 1) or out (-1). */
int lmdb_counts_move(struct lmdb_store *st, struct lmdb_txn *txn, const char *outcome,
		     int64_t started_at, int sign);
/* Whether the counters answer @filter: no attr, and a store that has them. */
bool lmdb_counts_answer(struct lmdb_store *st, const struct store_filter *filter);
/* The count of @filter (outcome and/or day), from at most five keys. */
int lmdb_counts_get(struct lmdb_store *st, const struct store_filter *filter, uint64_t *count);
/* The counts by outcome of @day (-1: of all time), from four keys. */
int lmdb_counts_outcomes(struct lmdb_store *st, int64_t day, uint64_t counts[STORE_OUTCOMES]);
/* A body: makes every cnt: key from the outcome: and day: keys (the upgrade to format 4). */
int lmdb_counts_build(struct lmdb_store *st, struct lmdb_txn *txn, void *arg);

/* lmdb_txn.c: the transaction engine. */

/* A raw LMDB return code as a negative errno (no reason set). */
int lmdb_errno(int rc);
/* A raw LMDB return code as a negative errno, with its reason. */
int lmdb_fail(int rc, const char *what);
/* 0, -ENOENT for MDB_NOTFOUND, or the errno of a failure kept in @t->failed. */
int lmdb_mdb(struct lmdb_txn *t, int rc);
/* mdb_txn_begin() and the mdb_ calls of a body, through lmdb_mdb(). */
int lmdb_txn_begin(struct lmdb_store *st, struct lmdb_txn *t, bool write);
int lmdb_txn_get(struct lmdb_txn *t, MDB_dbi dbi, MDB_val *key, MDB_val *val);
int lmdb_txn_put(struct lmdb_txn *t, MDB_dbi dbi, MDB_val *key, MDB_val *val, unsigned flags);
int lmdb_txn_del(struct lmdb_txn *t, MDB_dbi dbi, MDB_val *key, MDB_val *val);
int lmdb_txn_stat(struct lmdb_txn *t, MDB_dbi dbi, MDB_stat *ms);
int lmdb_txn_dbi_open(struct lmdb_txn *t, const char *name, unsigned flags, MDB_dbi *dbi);
int lmdb_cursor_open(struct lmdb_txn *t, MDB_dbi dbi, MDB_cursor **cur);
int lmdb_cursor_get(struct lmdb_txn *t, MDB_cursor *cur, MDB_val *key, MDB_val *val,
		    MDB_cursor_op op);
/* Finds where data.mdb is mapped, for lmdb_trim(). */
void lmdb_locate_map(struct lmdb_store *st);
/* Drops this process's mappings of the map's pages (see lmdb_txn.c). */
void lmdb_trim(struct lmdb_store *st);
/* lmdb_trim() from a body, which holds the resize lock already. */
void lmdb_trim_held(struct lmdb_store *st);
/* Runs @body in one transaction, retried after a remap: 0 or a negative errno. */
int lmdb_run(struct lmdb_store *st, bool write, const char *what, lmdb_body_fn body, void *arg);
/* lmdb_run() whose map may grow @reserve bytes past map_max. */
int lmdb_run_reserving(struct lmdb_store *st, bool write, const char *what,
		       lmdb_body_fn body, void *arg, size_t reserve);

/* lmdb_open.c: the ops of that name. */

int lmdb_open(const char *path, const struct store_options *opts, struct store **out);
void lmdb_close(struct store *s);
int lmdb_detect(const char *path);

/* lmdb.c: a start's body, which check_room runs as a trial. */

struct lmdb_start_arg {
	const struct store_record *rec; /* the caller's fields */
	size_t name_len;
	int64_t id;                     /* out: the id given */
};

int lmdb_start_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg);

/* lmdb_views.c: the indexes by provenance. */

/*
 * Tag keys are written in batches (see lmdb_views.c): meta:tagmark holds the
 * id up to which every run's tag keys exist; a start whose id is
 * LMDB_TAG_BATCH past it writes those of the runs between, and its own.
 */
#define LMDB_TAG_BATCH 64
/* Writes (or deletes) the view keys of @e, in the transaction of its start (or delete). */
int lmdb_views_put(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *e);
int lmdb_views_del(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *e);
/* The tag mark; a store without one has tag keys for every id up to meta:seq. */
int lmdb_tagmark_get(struct lmdb_store *st, struct lmdb_txn *txn, int64_t *mark, bool *missing);
/*
 * Called with each run after the tag mark (from id @from on) that has tag
 * @key=@value (@key NULL: any tag), its id: value and its record (which it
 * may take, zeroing *@rec): 0 to go on, 1 to stop, or a negative errno.
 */
typedef int (*lmdb_pending_fn)(void *arg, int64_t id, const MDB_val *idval,
			       struct store_record *rec);
/* Walks the runs after the tag mark: 0 when all were seen, 1 when @fn stopped, or an error. */
int lmdb_tags_pending(struct lmdb_store *st, struct lmdb_txn *txn, int64_t from,
		      const char *key, size_t key_len, const char *value, lmdb_pending_fn fn,
		      void *arg);
/*
 * Sets @b to the prefix of the view keys of @value of @attr (a tag's as
 * "key=value"): false when no key can have it (a tag without '=', a value
 * too long to be a key), so that the view is empty.
 */
bool lmdb_prefix_view(struct lmdb_buf *b, int attr, const char *value);
/* A body: writes the view keys of every execution (the upgrade from format 2). */
int lmdb_views_build(struct lmdb_store *st, struct lmdb_txn *txn, void *arg);
/* -EOPNOTSUPP with its reason if the store, opened read-only, has no view keys. */
int lmdb_views_check(struct lmdb_store *st);
int lmdb_list_values(struct store *s, enum store_attr attr, store_value_fn fn, void *ctx);

/* lmdb_output.c: what a run printed. */

/* Sets rec->output_bytes from the outlen: key of rec->id (0 without one). */
int lmdb_output_bytes(struct lmdb_store *st, struct lmdb_txn *txn, struct store_record *rec);
/* Deletes the output of execution @id, in the transaction of its delete. */
int lmdb_output_del(struct lmdb_store *st, struct lmdb_txn *txn, int64_t id);
int lmdb_output_append(struct store *s, int64_t id, uint64_t offset, const void *buf,
		       size_t len, uint64_t max, size_t *written);
int lmdb_output_read(struct store *s, int64_t id, uint64_t offset, void *buf, size_t len,
		     size_t *got);
int lmdb_output_cut(struct store *s, int64_t id);

/* lmdb_list.c and lmdb_room.c: the ops of those names (see lmdb_ops). */

int lmdb_list(struct store *s, const struct store_filter *filter, int64_t after_id,
	      store_list_fn fn, void *ctx);
int lmdb_list_names(struct store *s, const struct store_filter *filter, int64_t after_id,
		    store_name_fn fn, void *ctx);
int lmdb_count(struct store *s, const struct store_filter *filter, uint64_t *count);
int lmdb_count_outcomes(struct store *s, const struct store_filter *filter,
			uint64_t counts[STORE_OUTCOMES]);
int lmdb_list_days(struct store *s, int64_t after_day, store_day_fn fn, void *ctx);
int lmdb_list_recent(struct store *s, size_t n, store_list_fn fn, void *ctx);
int lmdb_list_finished_by_start(struct store *s, const struct store_start_walk *w,
				store_by_start_fn fn, void *ctx);
int lmdb_check_room(struct store *s);
int lmdb_statfs(struct store *s, struct statvfs *out);

#endif
