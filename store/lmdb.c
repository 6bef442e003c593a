/*
 * lmdb.c - the LMDB store backend: its ops table, the changes of one
 * execution (start, finish, heartbeat, delete) and the reads of one.
 *
 * The on-disk layout is written out at the top of lmdb_keys.c; the other
 * files are named in lmdb_internal.h.
 *
 * Left out: argument checks, read-only refusals and the reason of a refusal
 * that needs no store (store.c); JSON (record.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmdb_internal.h"
#include "record.h"

/* Starting. */

/* The id a new execution gets: one past meta:seq. */
static int lmdb_next_id(struct lmdb_store *st, struct lmdb_txn *txn, int64_t *id)
{
	struct lmdb_buf kb = { 0 };
	MDB_val val;
	uint64_t seq = 0;
	int rc;

	lmdb_buf_add_str(&kb, "meta:seq");
	rc = lmdb_get_key(st, txn, &kb, &val);
	if (rc == 0 && val.mv_size == 8)
		seq = lmdb_be64_decode(val.mv_data);
	else if (rc == 0)
		rc = store_fail(-EIO, "lmdb: meta:seq is damaged");
	else if (rc == -ENOENT)
		rc = 0;
	if (rc == 0 && seq >= INT64_MAX)
		rc = store_fail(-EOVERFLOW, "lmdb: the id sequence is exhausted");
	if (rc == 0)
		*id = (int64_t)seq + 1;
	return rc;
}

/* Moves meta:seq to @id, the id just given. */
static int lmdb_put_seq(struct lmdb_store *st, struct lmdb_txn *txn, int64_t id)
{
	struct lmdb_buf kb = { 0 }, vb = { 0 };

	lmdb_buf_add_str(&kb, "meta:seq");
	lmdb_buf_add_be64(&vb, (uint64_t)id);
	return lmdb_put(st, txn, &kb, vb.data, vb.len, 0);
}

/* Sets the fields a start gives a record (the caller's are kept). */
static void lmdb_started(struct store_record *rec, int64_t id)
{
	rec->id = id;
	rec->started_at = lmdb_floor_div(rec->started_ms, 1000);
	rec->finished_at = STORE_NULL;
	rec->duration_ms = STORE_NULL;
	rec->error_message = NULL;
	rec->files_indexed = 0;
	rec->symbols_indexed = 0;
	rec->references_indexed = 0;
	rec->exit_code = rec->signal = STORE_NULL; /* a finish's */
	rec->output_bytes = 0;
	rec->heartbeat_ms = rec->started_ms;
}

int lmdb_start_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_start_arg *a = arg;
	const char *name = a->rec->execution_id;
	struct store_record doc = *a->rec;
	struct lmdb_entry entry;
	struct lmdb_buf kb;
	MDB_val val;
	char *json = NULL;
	size_t json_len;
	int rc;

	lmdb_key_record(&kb, name, a->name_len);
	rc = lmdb_get_key(st, txn, &kb, &val);
	if (rc == 0)
		rc = store_fail(-EEXIST, "execution %s exists", name);
	if (rc != -ENOENT)
		goto out;
	/* The sequence moves in the same transaction as the insert, so two
	 * starts never share an id and a deleted id is never given again. */
	rc = lmdb_next_id(st, txn, &a->id);
	if (rc != 0)
		goto out;
	/* The document borrows every string: only the store's fields change. */
	lmdb_started(&doc, a->id);
	doc.outcome = (char *)"running";
	json = record_to_json(&doc, &json_len);
	if (json == NULL) {
		rc = store_fail(-ENOMEM, "lmdb: out of memory rendering %s", name);
		goto out;
	}
	rc = lmdb_put(st, txn, &kb, json, json_len, MDB_NOOVERWRITE);
	lmdb_entry_of(&entry, &doc, name, a->name_len);
	if (rc == 0)
		rc = lmdb_index_add(st, txn, &entry);
	if (rc == 0)
		rc = lmdb_put_seq(st, txn, a->id);
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
	free(rec->outcome);
	free(rec->error_message);
	lmdb_started(rec, a.id);
	rec->outcome = running;
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
static int lmdb_load_named(struct lmdb_store *st, struct lmdb_txn *txn,
			   const struct lmdb_change_arg *a, struct store_record *rec)
{
	int rc = lmdb_load(st, txn, a->name, a->name_len, rec);

	if (rc == -ENOENT)
		rc = store_fail(-ENOENT, "no execution %s", a->name);
	return rc;
}

static bool lmdb_is_running(const struct store_record *rec)
{
	return rec->outcome != NULL && strcmp(rec->outcome, "running") == 0;
}

/* Refuses to finish @rec unless it is running, and the run @fin means. */
static int lmdb_may_finish(const struct lmdb_change_arg *a, const struct store_record *rec)
{
	const struct store_finish *fin = a->fin;
	int rc = 0;

	if (!lmdb_is_running(rec))
		rc = store_fail(-EPERM, "execution %s is not running (it is %s)",
				a->name, rec->outcome ? rec->outcome : "?");
	else if ((fin->only_id != 0 && rec->id != fin->only_id) ||
		 (fin->only_stale_before_ms != 0 && rec->heartbeat_ms >= fin->only_stale_before_ms))
		rc = store_fail(-ESTALE, "execution %s is another run, or heartbeat, since it was read",
				a->name);
	return rc;
}

static int lmdb_finish_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	const struct lmdb_change_arg *a = arg;
	const struct store_finish *fin = a->fin;
	struct store_record rec = { 0 }, doc;
	struct lmdb_entry was, now;
	struct lmdb_buf kb;
	char *json = NULL;
	size_t json_len;
	int rc;

	rc = lmdb_load_named(st, txn, a, &rec);
	if (rc == 0)
		rc = lmdb_may_finish(a, &rec);
	if (rc != 0)
		goto clear_rec;
	/* The document borrows rec's strings and the caller's message. */
	doc = rec;
	doc.outcome = (char *)store_outcome_name(fin->outcome); /* store.c checked it */
	doc.error_message = (char *)fin->error_message;
	doc.files_indexed = fin->files_indexed;
	doc.symbols_indexed = fin->symbols_indexed;
	doc.references_indexed = fin->references_indexed;
	doc.exit_code = fin->exit_code;
	doc.signal = fin->signal;
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
	lmdb_entry_of(&was, &rec, a->name, a->name_len);
	lmdb_entry_of(&now, &doc, a->name, a->name_len);
	if (rc == 0)
		rc = lmdb_index_move(st, txn, &was, &now);
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

static int lmdb_heartbeat_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	const struct lmdb_change_arg *a = arg;
	struct store_record rec = { 0 };
	struct lmdb_entry was, now;
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
	lmdb_entry_of(&was, &rec, a->name, a->name_len);
	now = was;
	now.heartbeat_ms = a->now_ms;
	rc = lmdb_index_move(st, txn, &was, &now);
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

static int lmdb_delete_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	const struct lmdb_change_arg *a = arg;
	struct store_record rec = { 0 };
	struct lmdb_entry entry;
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
	/* The tool is not in the document: its by-tool key is found from the args. */
	if (store_tool_of(rec.args, &rec.tool) < 0) {
		rc = store_fail(-ENOMEM, "lmdb: out of memory");
		goto clear_rec;
	}
	lmdb_key_record(&kb, a->name, a->name_len);
	rc = lmdb_del(st, txn, &kb);
	lmdb_entry_of(&entry, &rec, a->name, a->name_len);
	if (rc == 0)
		rc = lmdb_index_remove(st, txn, &entry);
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

static int lmdb_get_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_get_arg *a = arg;
	int rc = lmdb_load(st, txn, a->name, a->name_len, a->out);

	if (rc == -ENOENT)
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


static int lmdb_get_by_id_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_get_arg *a = arg;
	struct lmdb_buf kb;
	MDB_val val;
	int rc;

	lmdb_key_id(&kb, a->id);
	rc = lmdb_get_key(st, txn, &kb, &val);
	if (rc == 0)
		rc = lmdb_load_indexed(st, txn, &val, a->out);
	if (rc == -ENOENT)
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

static int lmdb_latest_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_get_arg *a = arg;
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		goto out;
	/* "id;" is the first key past every "id:" key. */
	key = (MDB_val){ .mv_size = 3, .mv_data = "id;" };
	rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_SET_RANGE);
	if (rc == 0)
		rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_PREV);
	else if (rc == -ENOENT)
		rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_LAST);
	if (rc == 0 && (key.mv_size != 3 + 8 || memcmp(key.mv_data, "id:", 3) != 0))
		rc = -ENOENT;
	if (rc == 0)
		rc = lmdb_load_indexed(st, txn, &val, a->out);
	if (rc == -ENOENT)
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


/* The aggregates of finished executions, one key read. */

static int lmdb_summary_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	int rc = lmdb_durations_get(st, txn, arg);

	return rc == -ENOENT ? store_fail(-EOPNOTSUPP, "lmdb: no meta:durations yet") : rc;
}

static int lmdb_summary(struct store *s, struct store_summary *out)
{
	return lmdb_run(lmdb_of(s), false, "summary", lmdb_summary_body, out);
}

/*
 * store_version(): the id of the last committed write transaction, which
 * every commit moves, in this process or another; read from the lock
 * file's shared header (or, without one, the meta pages), so no read
 * transaction is needed. Under the resize lock, as mdb_env_info() also
 * reads the map.
 */
static int lmdb_version(struct store *s, uint64_t *version)
{
	struct lmdb_store *st = lmdb_of(s);
	MDB_envinfo info;
	int rc;

	pthread_rwlock_rdlock(&st->resize);
	rc = mdb_env_info(st->env, &info);
	pthread_rwlock_unlock(&st->resize);
	*version = rc == 0 ? (uint64_t)info.me_last_txnid : 0;
	return rc == 0 ? 0 : store_fail(-EIO, "lmdb: env_info: %s", mdb_strerror(rc));
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
	/* Seeks from value to value along a view's index (lmdb_views.c). */
	.list_values = lmdb_list_values,
	/* One out: key per append and the outlen: key, in its write transaction. */
	.output_append = lmdb_output_append,
	/* Seeks to the piece holding the offset (lmdb_output.c). */
	.output_read = lmdb_output_read,
	/* The cut byte of the outlen: key. */
	.output_cut = lmdb_output_cut,
	/* The last committed transaction's id, from the environment's header. */
	.version = lmdb_version,
	/* Names reserved by byte locks on data.mdb (LMDB locks lock.mdb only). */
	.reserve_file = "/data.mdb",
};
