/*
 * lmdb_keys.c - the LMDB backend's on-disk layout, and the reads and writes
 * of its keys.
 *
 * A store is a directory holding data.mdb and lock.mdb (the LMDB convention,
 * so mdb_stat and mdb_dump work on it). Everything lives in the unnamed main
 * database, under these keys:
 *
 *   meta:format                      "execlogfs-lmdb 4", the marker of our stores
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
 *   host:<host>\0<be64 id>           execution_id: the by-host index
 *   user:<user>\0<be64 id>           execution_id: the by-user index
 *   tool:<tool>\0<be64 id>           execution_id: the by-tool index (the last
 *                                    path component of args[0])
 *   tag:<key>\0<value>\0<be64 id>    execution_id: the by-tag index, one key per tag
 *                                    (lmdb_views.c: values too long for a key are
 *                                    not indexed), for the runs up to meta:tagmark
 *   meta:tagmark                     be64 id up to which every run's tag: keys exist;
 *                                    those of the runs after it (fewer than 64) are
 *                                    written by the start 64 past it, and read from
 *                                    their records until then (lmdb_views.c); none:
 *                                    up to meta:seq (a store of this week's first
 *                                    format 3, which wrote them at each start)
 *   out:<be64 id><be64 offset>       the bytes of one append to output/<id>, which
 *                                    held offset bytes before it (lmdb_output.c)
 *   outlen:<be64 id>                 be64 bytes of output, one byte: 1 if it was cut
 *   meta:durations                   be64 finished count per duration bucket, be64
 *                                    sum of their duration_ms, be64 latest finished_at
 *                                    (STORE_NULL: none): store_summary()'s aggregates,
 *                                    moved by every finish and delete, made at open
 *                                    from the records when missing
 *   cnt:all:<o>                      be64 executions whose outcome: key is of
 *                                    outcome byte <o> (an enum store_outcome,
 *                                    0xff: any other string), none when 0
 *   cnt:day:<be64 day><o>            be64 the same, of those whose day: key is
 *                                    of that day (encoded as there: days before
 *                                    1970 sort last), none when 0: what counts
 *                                    by outcome and/or day read (lmdb_counts.c)
 *
 * Format 1 had no start: keys, formats 1 and 2 no host:, user:, tool: or
 * tag: keys (the tool of every record, and the provenance of records a
 * build with the fields but not their keys wrote, would be missing from the
 * views), formats 1 to 3 no cnt: keys: a writable open makes them and moves
 * the marker to 4, all in one transaction (so that an older build, which
 * would not keep them, refuses the store); a read-only open reads an older
 * store without them (walking the indexes to count, refusing what needs
 * the view keys).
 *
 * Every change updates all its keys in one write transaction. The map starts
 * at 16 MiB and doubles when full, up to the configured limit; listings read
 * one record per short read transaction, so that memory stays constant and no
 * transaction stays open while a caller's callback runs.
 *
 * This file builds those keys and values, reads and writes one key, and
 * holds the index API that every change calls to move an execution's index
 * keys and aggregates. Left out: JSON (record.c); named databases, nested
 * transactions and MDB_WRITEMAP (a full disk would kill the process with
 * SIGBUS instead of failing a commit with ENOSPC).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmdb_internal.h"
#include "record.h"

/* Encoding. */

void lmdb_be64_encode(char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (char)(v & 0xff);
		v >>= 8;
	}
}

uint64_t lmdb_be64_decode(const char *p)
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

int64_t lmdb_le64_decode(const char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | (unsigned char)p[i];
	return (int64_t)v;
}

/* Division rounding toward minus infinity, so that times before 1970 fall
 * in the right second and day. */
int64_t lmdb_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if (a % b != 0 && (a < 0) != (b < 0))
		q--;
	return q;
}

void lmdb_buf_add(struct lmdb_buf *b, const void *p, size_t n)
{
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void lmdb_buf_add_str(struct lmdb_buf *b, const char *s)
{
	lmdb_buf_add(b, s, strlen(s));
}

void lmdb_buf_add_be64(struct lmdb_buf *b, uint64_t v)
{
	lmdb_be64_encode(b->data + b->len, v);
	b->len += 8;
}

MDB_val lmdb_val(const struct lmdb_buf *b)
{
	return (MDB_val){ .mv_size = b->len, .mv_data = (void *)b->data };
}

/* execlog:<name>; callers have checked len <= LMDB_NAME_MAX. */
void lmdb_key_record(struct lmdb_buf *b, const char *name, size_t len)
{
	b->len = 0;
	lmdb_buf_add_str(b, "execlog:");
	lmdb_buf_add(b, name, len);
}

void lmdb_key_id(struct lmdb_buf *b, int64_t id)
{
	b->len = 0;
	lmdb_buf_add_str(b, "id:");
	lmdb_buf_add_be64(b, (uint64_t)id);
}

/* outcome:<outcome>: alone, the prefix of one outcome's index. */
void lmdb_prefix_outcome(struct lmdb_buf *b, const char *outcome)
{
	b->len = 0;
	lmdb_buf_add_str(b, "outcome:");
	lmdb_buf_add_str(b, outcome);
	lmdb_buf_add_str(b, ":");
}

void lmdb_key_outcome(struct lmdb_buf *b, const char *outcome, int64_t id)
{
	lmdb_prefix_outcome(b, outcome);
	lmdb_buf_add_be64(b, (uint64_t)id);
}

/* day:<be64 day> alone, the prefix of one day's index. */
void lmdb_prefix_day(struct lmdb_buf *b, int64_t day)
{
	b->len = 0;
	lmdb_buf_add_str(b, "day:");
	lmdb_buf_add_be64(b, (uint64_t)day);
}

void lmdb_key_day(struct lmdb_buf *b, int64_t day, int64_t id)
{
	lmdb_prefix_day(b, day);
	lmdb_buf_add_be64(b, (uint64_t)id);
}

void lmdb_key_start(struct lmdb_buf *b, int64_t started_at, int64_t id)
{
	b->len = 0;
	lmdb_buf_add_str(b, "start:");
	lmdb_buf_add_be64(b, (uint64_t)started_at ^ (UINT64_C(1) << 63));
	lmdb_buf_add_be64(b, (uint64_t)id);
}

void lmdb_value_times(struct lmdb_buf *b, int64_t started_ms,
			     int64_t heartbeat_ms, const char *name, size_t len)
{
	lmdb_le64_encode(b->data, started_ms);
	lmdb_le64_encode(b->data + 8, heartbeat_ms);
	b->len = LMDB_TIMES_LEN;
	lmdb_buf_add(b, name, len);
}

/* Fills the times of @rec, which the document does not hold, from its id: key. */
static int lmdb_load_times(struct lmdb_store *st, struct lmdb_txn *txn, struct store_record *rec)
{
	struct lmdb_buf kb;
	MDB_val val;
	int rc;

	lmdb_key_id(&kb, rec->id);
	rc = lmdb_get_key(st, txn, &kb, &val);
	if (rc == 0 && val.mv_size >= LMDB_TIMES_LEN) {
		rec->started_ms = lmdb_le64_decode(val.mv_data);
		rec->heartbeat_ms = lmdb_le64_decode((const char *)val.mv_data + 8);
	} else if (rc == 0 || rc == -ENOENT) {
		/* A damaged index should not hide the record itself. */
		rec->started_ms = store_ms_of_seconds(rec->started_at);
		rec->heartbeat_ms = rec->started_ms;
		rc = 0;
	}
	return rc;
}

/*
 * Reads execution @name into @out: its document, then the times of its id:
 * key and the length of its output. Returns 0, -ENOENT, another negative errno, or -EIO for a document
 * that does not parse.
 */
int lmdb_load(struct lmdb_store *st, struct lmdb_txn *txn, const char *name,
		     size_t len, struct store_record *out)
{
	struct lmdb_buf kb;
	MDB_val val;
	int rc = -ENOENT; /* a name too long to be a key was never stored */

	if (len <= LMDB_NAME_MAX) {
		lmdb_key_record(&kb, name, len);
		rc = lmdb_get_key(st, txn, &kb, &val);
	}
	if (rc == 0 && record_from_json(val.mv_data, val.mv_size, out) < 0)
		rc = store_fail(-EIO, "lmdb: the stored record %.*s is not a valid document",
				(int)len, name);
	if (rc == 0)
		rc = lmdb_load_times(st, txn, out);
	if (rc == 0)
		rc = lmdb_output_bytes(st, txn, out);
	return rc;
}

/* Reads the value of one key: 0, -ENOENT, or another negative errno. */
int lmdb_get_key(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_buf *kb,
		 MDB_val *val)
{
	MDB_val key = lmdb_val(kb);

	return lmdb_txn_get(txn, st->dbi, &key, val);
}

/* Deletes one key; one already missing is no error, so that a damaged index
 * does not keep a record from being deleted. */
int lmdb_del(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_buf *kb)
{
	MDB_val key = lmdb_val(kb);
	int rc = lmdb_txn_del(txn, st->dbi, &key, NULL);

	return rc == -ENOENT ? 0 : rc;
}

int lmdb_put(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_buf *kb,
		    const void *data, size_t len, unsigned flags)
{
	MDB_val key = lmdb_val(kb);
	MDB_val val = { .mv_size = len, .mv_data = (void *)data };

	return lmdb_txn_put(txn, st->dbi, &key, &val, flags);
}

/* Loads the execution an id: entry names. */
int lmdb_load_indexed(struct lmdb_store *st, struct lmdb_txn *txn, const MDB_val *val,
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

/* 0 if execution @id has @outcome, -ENOENT if not. */
int lmdb_has_outcome(struct lmdb_store *st, struct lmdb_txn *txn, const char *outcome,
			    int64_t id)
{
	struct lmdb_buf kb;
	MDB_val val;

	lmdb_key_outcome(&kb, outcome, id);
	return lmdb_get_key(st, txn, &kb, &val);
}

/*
 * Moves @cur along the index of keys @prefix<be64 id>: to the first key at
 * or after id @from when @first, else to the next key. 0 with *id and *val
 * set, -ENOENT past the index's end, or another negative errno.
 */
int lmdb_index_next(struct lmdb_txn *txn, MDB_cursor *cur, const struct lmdb_buf *prefix,
		    bool first, int64_t from, int64_t *id, MDB_val *val)
{
	MDB_val key;
	int rc;

	if (first) {
		struct lmdb_buf kb = *prefix;

		lmdb_buf_add_be64(&kb, (uint64_t)from);
		key = lmdb_val(&kb);
		rc = lmdb_cursor_get(txn, cur, &key, val, MDB_SET_RANGE);
	} else {
		rc = lmdb_cursor_get(txn, cur, &key, val, MDB_NEXT);
	}
	if (rc != 0)
		return rc;
	if (key.mv_size != prefix->len + 8 || memcmp(key.mv_data, prefix->data, prefix->len) != 0)
		return -ENOENT;
	*id = (int64_t)lmdb_be64_decode((const char *)key.mv_data + prefix->len);
	return 0;
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

static int lmdb_durations_put(struct lmdb_store *st, struct lmdb_txn *txn,
			      const struct store_summary *sum)
{
	struct lmdb_buf kb, vb = { 0 };

	lmdb_key_durations(&kb);
	for (int i = 0; i < STORE_DURATION_BUCKETS; i++)
		lmdb_buf_add_be64(&vb, sum->finished[i]);
	lmdb_buf_add_be64(&vb, (uint64_t)sum->duration_sum_ms);
	lmdb_buf_add_be64(&vb, (uint64_t)sum->last_finished_at);
	return lmdb_put(st, txn, &kb, vb.data, vb.len, 0);
}

/* Reads meta:durations into @sum: 0, -ENOENT, or another negative errno. */
int lmdb_durations_get(struct lmdb_store *st, struct lmdb_txn *txn, struct store_summary *sum)
{
	struct lmdb_buf kb;
	MDB_val val;
	int rc;

	lmdb_key_durations(&kb);
	rc = lmdb_get_key(st, txn, &kb, &val);
	if (rc == 0 && val.mv_size != LMDB_DURATIONS_LEN)
		rc = -ENOENT; /* another layout: as if absent, rebuilt at the next open */
	if (rc == 0)
		lmdb_durations_decode(val.mv_data, sum);
	return rc;
}

/*
 * Counts one finished execution in (@sign 1) or out of (-1) the
 * aggregates, in the transaction of its finish or delete. A store without
 * them (opened read-only since) stays without: store_summary() then walks.
 */
static int lmdb_durations_move(struct lmdb_store *st, struct lmdb_txn *txn,
			       int64_t duration_ms, int64_t finished_at, int sign)
{
	struct store_summary sum;
	int rc = lmdb_durations_get(st, txn, &sum);

	if (rc == -ENOENT)
		return 0;
	if (rc == 0) {
		store_summary_add(&sum, duration_ms, finished_at, sign);
		rc = lmdb_durations_put(st, txn, &sum);
	}
	return rc;
}

/*
 * The index API. An execution's index keys (id:, outcome:, day:, start:,
 * and the views': host:, user:, tool:, tag:), its part of the cnt: counters
 * and of meta:durations follow from a few of its fields, its
 * entry. Start adds an entry, finish and heartbeat move one, delete removes
 * one, each in the transaction that writes or deletes the document: no
 * change names the index keys itself.
 */

void lmdb_entry_of(struct lmdb_entry *e, const struct store_record *rec, const char *name,
		   size_t name_len)
{
	*e = (struct lmdb_entry){
		.id = rec->id, .name = name, .name_len = name_len,
		.started_at = rec->started_at, .started_ms = rec->started_ms,
		.heartbeat_ms = rec->heartbeat_ms, .outcome = rec->outcome,
		.duration_ms = rec->duration_ms, .finished_at = rec->finished_at,
		.host = rec->host, .user = rec->user, .tool = rec->tool,
		.tags = rec->tags, .ntags = rec->ntags,
	};
}

/* Whether meta:durations counts @e: every execution that is not running. */
static bool lmdb_entry_finished(const struct lmdb_entry *e)
{
	return e->outcome == NULL || strcmp(e->outcome, "running") != 0;
}

static int lmdb_put_name(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_buf *kb,
			 const struct lmdb_entry *e)
{
	return lmdb_put(st, txn, kb, e->name, e->name_len, 0);
}

static int lmdb_index_put_times(struct lmdb_store *st, struct lmdb_txn *txn,
				const struct lmdb_entry *e)
{
	struct lmdb_buf kb, vb;

	lmdb_key_id(&kb, e->id);
	lmdb_value_times(&vb, e->started_ms, e->heartbeat_ms, e->name, e->name_len);
	return lmdb_put(st, txn, &kb, vb.data, vb.len, 0);
}

/* The day: and start: keys, which only started_at places. */
static int lmdb_index_put_start(struct lmdb_store *st, struct lmdb_txn *txn,
				const struct lmdb_entry *e)
{
	struct lmdb_buf kb;
	int rc;

	lmdb_key_day(&kb, store_day_of(e->started_at), e->id);
	rc = lmdb_put_name(st, txn, &kb, e);
	if (rc == 0) {
		lmdb_key_start(&kb, e->started_at, e->id);
		rc = lmdb_put_name(st, txn, &kb, e);
	}
	return rc;
}

static int lmdb_index_del_start(struct lmdb_store *st, struct lmdb_txn *txn,
				const struct lmdb_entry *e)
{
	struct lmdb_buf kb;
	int rc;

	lmdb_key_day(&kb, store_day_of(e->started_at), e->id);
	rc = lmdb_del(st, txn, &kb);
	if (rc == 0) {
		lmdb_key_start(&kb, e->started_at, e->id);
		rc = lmdb_del(st, txn, &kb);
	}
	return rc;
}

int lmdb_index_add(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *e)
{
	struct lmdb_buf kb;
	int rc = lmdb_index_put_times(st, txn, e);

	if (rc == 0) {
		lmdb_key_outcome(&kb, e->outcome, e->id);
		rc = lmdb_put_name(st, txn, &kb, e);
	}
	if (rc == 0)
		rc = lmdb_index_put_start(st, txn, e);
	if (rc == 0)
		rc = lmdb_views_put(st, txn, e);
	if (rc == 0)
		rc = lmdb_counts_move(st, txn, e->outcome, e->started_at, 1);
	if (rc == 0 && lmdb_entry_finished(e))
		rc = lmdb_durations_move(st, txn, e->duration_ms, e->finished_at, 1);
	return rc;
}

int lmdb_index_move(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *was,
		    const struct lmdb_entry *now)
{
	struct lmdb_buf kb;
	int rc = lmdb_index_put_times(st, txn, now);

	if (rc == 0 && strcmp(was->outcome, now->outcome) != 0) {
		lmdb_key_outcome(&kb, was->outcome, was->id);
		rc = lmdb_del(st, txn, &kb);
		lmdb_key_outcome(&kb, now->outcome, now->id);
		if (rc == 0)
			rc = lmdb_put_name(st, txn, &kb, now);
	}
	if (rc == 0 && was->started_at != now->started_at) {
		rc = lmdb_index_del_start(st, txn, was);
		if (rc == 0)
			rc = lmdb_index_put_start(st, txn, now);
	}
	if (rc == 0 && (strcmp(was->outcome, now->outcome) != 0 ||
			store_day_of(was->started_at) != store_day_of(now->started_at))) {
		rc = lmdb_counts_move(st, txn, was->outcome, was->started_at, -1);
		if (rc == 0)
			rc = lmdb_counts_move(st, txn, now->outcome, now->started_at, 1);
	}
	if (rc == 0 && lmdb_entry_finished(was))
		rc = lmdb_durations_move(st, txn, was->duration_ms, was->finished_at, -1);
	if (rc == 0 && lmdb_entry_finished(now))
		rc = lmdb_durations_move(st, txn, now->duration_ms, now->finished_at, 1);
	return rc;
}

int lmdb_index_remove(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *e)
{
	struct lmdb_buf kb;
	int rc;

	lmdb_key_id(&kb, e->id);
	rc = lmdb_del(st, txn, &kb);
	if (rc == 0) {
		lmdb_key_outcome(&kb, e->outcome, e->id);
		rc = lmdb_del(st, txn, &kb);
	}
	if (rc == 0)
		rc = lmdb_index_del_start(st, txn, e);
	if (rc == 0)
		rc = lmdb_views_del(st, txn, e);
	if (rc == 0)
		rc = lmdb_output_del(st, txn, e->id);
	if (rc == 0)
		rc = lmdb_counts_move(st, txn, e->outcome, e->started_at, -1);
	if (rc == 0 && lmdb_entry_finished(e))
		rc = lmdb_durations_move(st, txn, e->duration_ms, e->finished_at, -1);
	return rc;
}

/* Builds meta:durations from the records, once, when a writable open finds none. */
int lmdb_durations_build(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	static const char *const finished[] = { "success", "error", "partial" };
	struct store_summary sum = { .last_finished_at = STORE_NULL };
	struct store_record rec = { 0 };
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	(void)arg;
	rc = lmdb_durations_get(st, txn, &sum);
	if (rc != -ENOENT)
		return rc;
	memset(&sum, 0, sizeof(sum));
	sum.last_finished_at = STORE_NULL;
	rc = lmdb_cursor_open(txn, st->dbi, &cur);
	for (size_t o = 0; rc == 0 && o < sizeof(finished) / sizeof(finished[0]); o++) {
		struct lmdb_buf prefix;

		lmdb_prefix_outcome(&prefix, finished[o]);
		key = lmdb_val(&prefix);
		for (rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_SET_RANGE);
		     rc == 0 && key.mv_size >= prefix.len && memcmp(key.mv_data, prefix.data, prefix.len) == 0;
		     rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_NEXT)) {
			rc = lmdb_load(st, txn, val.mv_data, val.mv_size, &rec);
			if (rc == 0)
				store_summary_add(&sum, rec.duration_ms, rec.finished_at, 1);
			store_record_clear(&rec);
			if (rc == -ENOENT)
				rc = 0; /* a stale index entry: nothing to count */
			if (rc != 0)
				break;
		}
		if (rc == -ENOENT)
			rc = 0;
	}
	mdb_cursor_close(cur);
	if (rc == 0)
		rc = lmdb_durations_put(st, txn, &sum);
	return rc;
}

