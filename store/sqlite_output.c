/*
 * sqlite_output.c - the SQLite backend's output: what a run printed, kept
 * in execlogfs_output (id, offset, data), one row per append, never a blob
 * rewritten, keyed by the execution's id.
 *
 * An append is one change of the group commit (sqlite.c), so it is as
 * durable as a start: in its savepoint it checks that the run is running
 * and that the offset is the end, inserts the piece, and sets output_bytes
 * (and output_cut) of execlogfs_runs, and heartbeat_at_ms: an append is a
 * heartbeat too. A read seeks the piece that holds its offset by the
 * primary key, then walks forward. The triggers of sqlite_schema.c delete
 * the pieces with their row, whoever deletes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sqlstore.h"

/* One append, as sqlstore_change_run() hands it to sqlstore_append_apply(). */
struct sqlstore_append {
	int64_t id;
	uint64_t offset;
	const void *buf;
	size_t len;
	uint64_t max;
	size_t written; /* what was appended */
	bool cut;       /* the cap was hit: the caller's -EFBIG */
};

/* The outcome, output_bytes and output_cut of @id into the out parameters; -ENOENT. */
static int sqlstore_output_state(struct sqlstore *s, struct sqlstore_conn *c, int64_t id,
				 bool *running, int64_t *bytes, bool *cut)
{
	sqlite3_stmt *st = NULL;
	int err = sqlstore_stmt(s, c, ST_OUTPUT_STATE, &st), rc;

	if (err)
		return err;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *outcome = (const char *)sqlite3_column_text(st, 0);

		*running = outcome && strcmp(outcome, "running") == 0;
		*bytes = sqlite3_column_int64(st, 1);
		*cut = sqlite3_column_int64(st, 2) != 0;
	} else if (rc == SQLITE_DONE) {
		err = store_fail(-ENOENT, "no execution with id %lld", (long long)id);
	} else {
		err = sqlstore_fail(c->db, rc, "read the output's state");
	}
	sqlite3_reset(st);
	return err;
}

/* Inserts the piece @buf (@len bytes) at @offset of @id's output. */
static int sqlstore_output_piece(struct sqlstore *s, struct sqlstore_conn *c, int64_t id,
				 uint64_t offset, const void *buf, size_t len)
{
	sqlite3_stmt *st = NULL;
	int err = sqlstore_stmt(s, c, ST_OUTPUT_PIECE, &st), rc;

	if (err)
		return err;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, (int64_t)offset);
	sqlite3_bind_blob64(st, 3, buf, len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = sqlstore_fail(c->db, rc, "append output");
	sqlite3_reset(st);
	return err;
}

/* Sets output_bytes and output_cut of @id, and its heartbeat to now (a sign of life). */
static int sqlstore_output_bytes(struct sqlstore *s, struct sqlstore_conn *c, int64_t id,
				 uint64_t bytes, bool cut)
{
	sqlite3_stmt *st = NULL;
	int err = sqlstore_stmt(s, c, ST_OUTPUT_BYTES, &st), rc;

	if (err)
		return err;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, (int64_t)bytes);
	sqlite3_bind_int64(st, 3, cut);
	sqlite3_bind_int64(st, 4, store_now_ms());
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = sqlstore_fail(c->db, rc, "append output");
	sqlite3_reset(st);
	return err;
}

/*
 * The change of an append, in the savepoint sqlite.c's group commit gives
 * it. Any append it accepts, even one that keeps nothing, moves the
 * heartbeat: a run that prints is alive, and -o stale_after spares it.
 */
static int sqlstore_append_apply(struct sqlstore *s, struct sqlstore_conn *c, void *arg)
{
	struct sqlstore_append *op = arg;
	int64_t bytes = 0;
	bool running = false, cut = false;
	size_t n;
	int err;

	err = sqlstore_output_state(s, c, op->id, &running, &bytes, &cut);
	if (err)
		return err;
	if (!running)
		return store_fail(-EPERM, "execution %lld is not running: its output is read-only",
				  (long long)op->id);
	if (bytes < 0 || (uint64_t)bytes != op->offset)
		return store_fail(-EINVAL, "output of execution %lld is %lld bytes: an append at %llu"
				  " is not at its end", (long long)op->id, (long long)bytes,
				  (unsigned long long)op->offset);
	n = op->len;
	if (op->offset + n > op->max) {
		n = op->offset < op->max ? (size_t)(op->max - op->offset) : 0;
		op->cut = true;
	}
	if (n > 0)
		err = sqlstore_output_piece(s, c, op->id, op->offset, op->buf, n);
	if (err == 0)
		err = sqlstore_output_bytes(s, c, op->id, op->offset + n, op->cut || cut);
	if (err == 0)
		op->written = n;
	return err;
}

int sqlstore_output_append(struct store *base, int64_t id, uint64_t offset, const void *buf,
			   size_t len, uint64_t max, size_t *written)
{
	struct sqlstore_append op = { .id = id, .offset = offset, .buf = buf, .len = len, .max = max };
	int err;

	err = sqlstore_change_run(sqlstore_of(base), sqlstore_append_apply, &op);
	*written = err == 0 ? op.written : 0;
	if (err == 0 && op.cut)
		err = store_fail(-EFBIG, "output of execution %lld cut at %llu bytes (output_max)",
				 (long long)id, (unsigned long long)max);
	return err;
}

/* Copies what of the piece at @at (@data, @n bytes) lies from @offset on into @buf. */
static size_t sqlstore_piece_copy(uint64_t at, const void *data, size_t n, uint64_t offset,
				  char *buf, size_t len)
{
	size_t skip, take;

	if (data == NULL || at + n <= offset || at > offset)
		return 0;
	skip = (size_t)(offset - at);
	take = n - skip < len ? n - skip : len;
	memcpy(buf, (const char *)data + skip, take);
	return take;
}

int sqlstore_output_read(struct store *base, int64_t id, uint64_t offset, void *buf, size_t len,
			 size_t *got)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	sqlite3_stmt *st;
	int64_t bytes;
	bool running, cut;
	int err, rc = SQLITE_DONE;

	*got = 0;
	err = sqlstore_take(s, &c);
	if (err)
		return err;
	err = sqlstore_output_state(s, c, id, &running, &bytes, &cut);
	if (err == 0 && offset < INT64_MAX && len > 0)
		err = sqlstore_stmt(s, c, ST_OUTPUT_READ, &st);
	else
		len = 0;
	if (err == 0 && len > 0) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, (int64_t)offset);
		/* Pieces are contiguous: each one read continues where the last ended. */
		while (*got < len && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			uint64_t at = (uint64_t)sqlite3_column_int64(st, 0);
			const void *data = sqlite3_column_blob(st, 1);
			size_t n = (size_t)sqlite3_column_bytes(st, 1);

			*got += sqlstore_piece_copy(at, data, n, offset + *got, (char *)buf + *got,
						    len - *got);
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			err = sqlstore_fail(c->db, rc, "read output");
		sqlite3_reset(st);
	}
	sqlstore_put(s, c);
	if (err)
		*got = 0;
	return err;
}

int sqlstore_output_cut(struct store *base, int64_t id)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	int64_t bytes;
	bool running, cut;
	int err;

	err = sqlstore_take(s, &c);
	if (err)
		return err;
	err = sqlstore_output_state(s, c, id, &running, &bytes, &cut);
	sqlstore_put(s, c);
	return err ? err : cut;
}
