/*
 * lmdb_output.c - what a run printed, in the LMDB backend: the output ops
 * (append, read, cut), the output_bytes of a record read, and the delete of
 * an execution's output with it.
 *
 * Keys (see the layout in lmdb_keys.c): one out:<be64 id><be64 offset> per
 * append, holding its bytes (a piece is never rewritten: an append writes
 * one new key and the small outlen: key), and outlen:<be64 id> holding the
 * be64 total and one byte, 1 when an append hit the cap. Both are keyed by
 * the execution's id, never its name: a name deleted and started again
 * never inherits output. An append also moves the run's heartbeat (its
 * id: key), in the same transaction.
 *
 * Left out: who may append and the cap's default (fs/), the running check's
 * index (outcome:running:, lmdb_keys.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmdb_internal.h"

#define LMDB_OUTLEN_LEN 9 /* be64 total, then the cut byte */

/* out:<be64 id> alone, the prefix of one execution's pieces. */
static void lmdb_prefix_output(struct lmdb_buf *b, int64_t id)
{
	b->len = 0;
	lmdb_buf_add_str(b, "out:");
	lmdb_buf_add_be64(b, (uint64_t)id);
}

static void lmdb_key_output(struct lmdb_buf *b, int64_t id, uint64_t offset)
{
	lmdb_prefix_output(b, id);
	lmdb_buf_add_be64(b, offset);
}

static void lmdb_key_outlen(struct lmdb_buf *b, int64_t id)
{
	b->len = 0;
	lmdb_buf_add_str(b, "outlen:");
	lmdb_buf_add_be64(b, (uint64_t)id);
}

/* The total and the cut flag of @id's output: 0 and false when it has none. */
static int lmdb_outlen_get(struct lmdb_store *st, struct lmdb_txn *txn, int64_t id,
			   uint64_t *total, bool *cut)
{
	struct lmdb_buf kb;
	MDB_val val;
	int rc;

	*total = 0;
	*cut = false;
	lmdb_key_outlen(&kb, id);
	rc = lmdb_get_key(st, txn, &kb, &val);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0 && val.mv_size != LMDB_OUTLEN_LEN)
		return store_fail(-EIO, "lmdb: the output length of id %" PRId64 " is damaged", id);
	if (rc == 0) {
		*total = lmdb_be64_decode(val.mv_data);
		*cut = ((const char *)val.mv_data)[8] != 0;
	}
	return rc;
}

int lmdb_output_bytes(struct lmdb_store *st, struct lmdb_txn *txn, struct store_record *rec)
{
	uint64_t total;
	bool cut;
	int rc = lmdb_outlen_get(st, txn, rec->id, &total, &cut);

	if (rc == 0)
		rec->output_bytes = total > INT64_MAX ? INT64_MAX : (int64_t)total;
	return rc;
}

/* 0 if execution @id exists, -ENOENT with the reason if not. */
static int lmdb_output_known(struct lmdb_store *st, struct lmdb_txn *txn, int64_t id)
{
	struct lmdb_buf kb;
	MDB_val val;
	int rc;

	lmdb_key_id(&kb, id);
	rc = lmdb_get_key(st, txn, &kb, &val);
	if (rc == -ENOENT)
		rc = store_fail(-ENOENT, "no execution with id %" PRId64, id);
	return rc;
}

struct lmdb_append_arg {
	int64_t id;
	uint64_t offset, max;
	const void *buf;
	size_t len;
	size_t written; /* out: what was appended */
	bool cut;       /* out: the append passed max (a refusal its caller makes) */
};

/* Refuses an append to @a->id unless it exists, is running, and holds offset bytes. */
static int lmdb_append_check(struct lmdb_store *st, struct lmdb_txn *txn,
			     const struct lmdb_append_arg *a, uint64_t total)
{
	int rc = lmdb_has_outcome(st, txn, "running", a->id);

	if (rc == -ENOENT) {
		rc = lmdb_output_known(st, txn, a->id);
		if (rc == 0)
			rc = store_fail(-EPERM, "execution %" PRId64 " is not running: its output is "
					"read-only", a->id);
	}
	if (rc == 0 && a->offset != total)
		rc = store_fail(-EINVAL, "output is appended only: a write at %" PRIu64
				" of output of %" PRIu64 " bytes", a->offset, total);
	return rc;
}

/*
 * Moves the heartbeat of @id to now, in its id: key (le64 started_ms, le64
 * heartbeat_ms, name): an append is a sign of life, which -o stale_after
 * must see. Only that key changes: no index orders by the heartbeat.
 */
static int lmdb_append_beat(struct lmdb_store *st, struct lmdb_txn *txn, int64_t id)
{
	struct lmdb_buf kb, vb;
	MDB_val val;
	int rc;

	lmdb_key_id(&kb, id);
	rc = lmdb_get_key(st, txn, &kb, &val);
	if (rc == 0 && (val.mv_size < LMDB_TIMES_LEN || val.mv_size > sizeof(vb.data)))
		rc = store_fail(-EIO, "lmdb: the id: entry of id %" PRId64 " is damaged", id);
	if (rc != 0)
		return rc;
	/* A new value, built before the put: the old one lives in the map. */
	lmdb_value_times(&vb, lmdb_le64_decode(val.mv_data), store_now_ms(),
			 (const char *)val.mv_data + LMDB_TIMES_LEN, val.mv_size - LMDB_TIMES_LEN);
	return lmdb_put(st, txn, &kb, vb.data, vb.len, 0);
}

/*
 * One append: a piece of what fits below max, and the total and cut flag,
 * in the write transaction. Passing max is no refusal here (a body refuses
 * only before its first write, and what fits is kept): a->cut tells it.
 */
static int lmdb_append_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_append_arg *a = arg;
	struct lmdb_buf kb, vb = { 0 };
	uint64_t total, room;
	bool cut;
	int rc;

	a->written = 0;
	a->cut = false;
	rc = lmdb_outlen_get(st, txn, a->id, &total, &cut);
	if (rc == 0)
		rc = lmdb_append_check(st, txn, a, total);
	if (rc != 0)
		return rc;
	room = total < a->max ? a->max - total : 0;
	a->written = a->len < room ? a->len : (size_t)room;
	a->cut = a->len > room;
	rc = lmdb_append_beat(st, txn, a->id);
	if (rc != 0 || (a->written == 0 && !a->cut))
		return rc; /* nothing to write but the heartbeat */
	if (a->written > 0) {
		lmdb_key_output(&kb, a->id, total);
		rc = lmdb_put(st, txn, &kb, a->buf, a->written, MDB_NOOVERWRITE);
	}
	lmdb_key_outlen(&kb, a->id);
	lmdb_buf_add_be64(&vb, total + a->written);
	lmdb_buf_add(&vb, cut || a->cut ? "\1" : "\0", 1);
	if (rc == 0)
		rc = lmdb_put(st, txn, &kb, vb.data, vb.len, 0);
	return rc;
}

int lmdb_output_append(struct store *s, int64_t id, uint64_t offset, const void *buf,
		       size_t len, uint64_t max, size_t *written)
{
	struct lmdb_append_arg a = {
		.id = id, .offset = offset, .max = max, .buf = buf, .len = len,
	};
	int rc = lmdb_run(lmdb_of(s), true, "output", lmdb_append_body, &a);

	*written = rc == 0 ? a.written : 0;
	if (rc == 0 && a.cut)
		rc = store_fail(-EFBIG, "the output of id %" PRId64 " would pass %" PRIu64
				" bytes: cut", id, max);
	return rc;
}

struct lmdb_read_arg {
	int64_t id;
	uint64_t offset;
	char *buf;
	size_t len;
	size_t got; /* out */
};

/*
 * Puts @cur on the piece of @id's output that holds byte @offset: the last
 * piece starting at or before it. 0, -ENOENT if none, or an error.
 */
static int lmdb_read_seek(struct lmdb_txn *txn, MDB_cursor *cur, int64_t id, uint64_t offset,
			  MDB_val *key, MDB_val *val)
{
	struct lmdb_buf kb, prefix;
	int rc;

	lmdb_key_output(&kb, id, offset);
	lmdb_prefix_output(&prefix, id);
	*key = lmdb_val(&kb);
	rc = lmdb_cursor_get(txn, cur, key, val, MDB_SET_RANGE);
	if (rc == 0 && key->mv_size == kb.len && memcmp(key->mv_data, kb.data, kb.len) == 0)
		return 0;
	if (rc == 0)
		rc = lmdb_cursor_get(txn, cur, key, val, MDB_PREV);
	else if (rc == -ENOENT)
		rc = lmdb_cursor_get(txn, cur, key, val, MDB_LAST);
	if (rc == 0 && (key->mv_size != prefix.len + 8 ||
			memcmp(key->mv_data, prefix.data, prefix.len) != 0))
		rc = -ENOENT;
	return rc;
}

/* Copies what @a asks from the pieces, in order from the one holding its offset. */
static int lmdb_read_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_read_arg *a = arg;
	uint64_t at = a->offset, start;
	MDB_cursor *cur;
	MDB_val key, val;
	int rc = lmdb_output_known(st, txn, a->id);

	a->got = 0;
	if (rc == 0)
		rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_read_seek(txn, cur, a->id, at, &key, &val); rc == 0 && a->got < a->len;
	     rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_NEXT)) {
		size_t n;

		if (key.mv_size != 4 + 16 || memcmp(key.mv_data, "out:", 4) != 0 ||
		    lmdb_be64_decode((const char *)key.mv_data + 4) != (uint64_t)a->id)
			break; /* past the last piece */
		start = lmdb_be64_decode((const char *)key.mv_data + 12);
		if (start > at || at - start >= val.mv_size)
			break; /* before the offset (a read past the end), or a gap */
		n = val.mv_size - (size_t)(at - start);
		n = n < a->len - a->got ? n : a->len - a->got;
		memcpy(a->buf + a->got, (const char *)val.mv_data + (at - start), n);
		a->got += n;
		at += n;
	}
	mdb_cursor_close(cur);
	return rc == -ENOENT ? 0 : rc;
}

int lmdb_output_read(struct store *s, int64_t id, uint64_t offset, void *buf, size_t len,
		     size_t *got)
{
	struct lmdb_read_arg a = { .id = id, .offset = offset, .buf = buf, .len = len };
	int rc = lmdb_run(lmdb_of(s), false, "output", lmdb_read_body, &a);

	*got = rc == 0 ? a.got : 0;
	return rc;
}

struct lmdb_cut_arg {
	int64_t id;
	bool cut; /* out */
};

static int lmdb_cut_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_cut_arg *a = arg;
	uint64_t total;
	int rc = lmdb_output_known(st, txn, a->id);

	if (rc == 0)
		rc = lmdb_outlen_get(st, txn, a->id, &total, &a->cut);
	return rc;
}

int lmdb_output_cut(struct store *s, int64_t id)
{
	struct lmdb_cut_arg a = { .id = id };
	int rc = lmdb_run(lmdb_of(s), false, "output", lmdb_cut_body, &a);

	return rc != 0 ? rc : a.cut ? 1 : 0;
}

/* Deletes every piece of @id's output and its length, in the transaction of its delete. */
int lmdb_output_del(struct lmdb_store *st, struct lmdb_txn *txn, int64_t id)
{
	struct lmdb_buf prefix, kb;
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	lmdb_key_outlen(&kb, id);
	rc = lmdb_del(st, txn, &kb);
	if (rc == 0)
		rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	lmdb_prefix_output(&prefix, id);
	/* Each piece found afresh: a cursor's position after its delete is LMDB's business. */
	for (;;) {
		key = lmdb_val(&prefix);
		rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_SET_RANGE);
		if (rc != 0)
			break;
		if (key.mv_size != prefix.len + 8 || memcmp(key.mv_data, prefix.data, prefix.len) != 0)
			break;
		rc = lmdb_mdb(txn, mdb_cursor_del(cur, 0));
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == -ENOENT ? 0 : rc;
}
