/*
 * postgres_output.c - output/<id> on PostgreSQL: what a run printed, in
 * execlog_output (id, "offset", data), one row per append, deleted with
 * its execution (ON DELETE CASCADE, ON UPDATE too); output_bytes and output_cut of
 * execution_log say how much there is and whether the cap cut it.
 *
 * An append is one statement, so one transaction and one round trip: it
 * locks the execution's row (FOR UPDATE: two appenders at one offset
 * serialise, and the second then finds the offset taken), checks that the
 * run is running and that the offset is its output_bytes, inserts the
 * piece, moves output_bytes on and the heartbeat to now (a run that
 * prints is alive: -o stale_after spares it) and NOTIFYs, so that other
 * mounts see the size grow. What passes the cap is cut here, before the
 * statement: the offset must equal output_bytes for anything to be
 * written, so the room left is max - offset.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <string.h>

#include "pgstore.h"

/*
 * $1 id, $2 offset, $3 the piece (binary), $4 whether the cap cut it, $5
 * now in ms: the heartbeat an append moves.
 * One row (outcome, output_bytes, appended) when the execution exists.
 */
static const char pgstore_append_sql[] =
	"WITH r AS (SELECT id, outcome, output_bytes FROM execution_log"
	" WHERE id = $1::bigint FOR UPDATE),"
	" ok AS (SELECT id FROM r WHERE outcome = 'running' AND output_bytes = $2::bigint),"
	" ins AS (INSERT INTO execlog_output (id, \"offset\", data)"
	" SELECT id, $2::bigint, $3::bytea FROM ok WHERE octet_length($3::bytea) > 0),"
	" upd AS (UPDATE execution_log e SET output_bytes = e.output_bytes + octet_length($3::bytea),"
	" output_cut = e.output_cut OR $4::boolean, heartbeat_at_ms = $5::bigint"
	" FROM ok WHERE e.id = ok.id"
	" RETURNING pg_notify('" PGSTORE_CHANNEL "', e.execution_id))"
	" SELECT r.outcome, r.output_bytes, (SELECT count(*) FROM upd) FROM r";

/* Why an append that found its execution @outcome with @bytes changed nothing. */
static int pgstore_append_refused(int64_t id, const char *outcome, int64_t bytes, uint64_t offset)
{
	if (strcmp(outcome, "running") != 0)
		return store_fail(-EPERM, "the output of execution %lld is read-only: it is %s",
				  (long long)id, outcome);
	return store_fail(-EINVAL, "output of execution %lld is appended at %lld, not at %llu",
			  (long long)id, (long long)bytes, (unsigned long long)offset);
}

int pgstore_output_append(struct store *base, int64_t id, uint64_t offset, const void *buf,
			  size_t len, uint64_t max, size_t *written)
{
	size_t keep = offset >= max ? 0 : (max - offset < len ? (size_t)(max - offset) : len);
	char id_text[24], offset_text[24], now_text[24];
	const char *values[5] = {
		pgstore_int(id_text, sizeof(id_text), id),
		pgstore_int(offset_text, sizeof(offset_text), (int64_t)offset),
		buf ? (const char *)buf : "",
		keep < len ? "true" : "false",
		pgstore_int(now_text, sizeof(now_text), store_now_ms()),
	};
	const int lengths[5] = { 0, 0, (int)keep, 0, 0 }, formats[5] = { 0, 0, 1, 0, 0 };
	const struct pgstore_params p = { 5, values, lengths, formats, 0 };
	PGresult *res;
	int err;

	*written = 0;
	/* One piece is one bytea value; FUSE writes and execlog-run's batches are far below. */
	if (keep > INT32_MAX)
		return store_fail(-EFBIG, "postgres: an append of %zu bytes is more than one piece holds",
				  len);
	err = pgstore_run_params(pgstore_of(base), PG_WRITE, "append output", pgstore_append_sql,
				 &p, &res);
	if (err)
		return err;
	if (PQntuples(res) == 0)
		err = store_fail(-ENOENT, "no execution with id %lld", (long long)id);
	else if (pgstore_get_int(res, 0, 2) == 0)
		err = pgstore_append_refused(id, PQgetvalue(res, 0, 0), pgstore_get_int(res, 0, 1),
					     offset);
	else if (keep < len)
		err = store_fail(-EFBIG, "the output of execution %lld is cut at %llu bytes "
				 "(output_max)", (long long)id, (unsigned long long)max);
	if (err == 0 || err == -EFBIG)
		*written = keep;
	PQclear(res);
	return err;
}

/*
 * The pieces that hold [$2, $2 + $3), each cut to its part of it, in order
 * (the pieces are contiguous: each was appended at the end); a row with a
 * null piece when the execution has nothing there, none when it does not
 * exist. The first piece is the last that starts at or before $2, found by
 * the primary key.
 */
static const char pgstore_read_sql[] =
	"SELECT p.piece FROM execution_log e LEFT JOIN LATERAL"
	" (SELECT \"offset\", substring(data FROM (GREATEST($2::bigint - \"offset\", 0) + 1)::int"
	" FOR $3::int) AS piece FROM execlog_output o WHERE o.id = e.id"
	" AND \"offset\" >= COALESCE((SELECT max(\"offset\") FROM execlog_output"
	" WHERE id = e.id AND \"offset\" <= $2::bigint), 0)"
	" AND \"offset\" < $2::bigint + $3::bigint) p ON true"
	" WHERE e.id = $1::bigint ORDER BY p.\"offset\"";

int pgstore_output_read(struct store *base, int64_t id, uint64_t offset, void *buf, size_t len,
			size_t *got)
{
	char id_text[24], offset_text[24], len_text[24];
	const char *values[3] = {
		pgstore_int(id_text, sizeof(id_text), id),
		pgstore_int(offset_text, sizeof(offset_text), (int64_t)offset),
		pgstore_int(len_text, sizeof(len_text), len > INT32_MAX ? INT32_MAX : (int64_t)len),
	};
	const struct pgstore_params p = { .n = 3, .values = values, .binary_result = 1 };
	PGresult *res;
	size_t at = 0;
	int err;

	*got = 0;
	if (offset > INT64_MAX - (uint64_t)INT32_MAX)
		return 0; /* past any output there can be */
	err = pgstore_run_params(pgstore_of(base), PG_READ, "read output", pgstore_read_sql, &p,
				 &res);
	if (err)
		return err;
	if (PQntuples(res) == 0)
		err = store_fail(-ENOENT, "no execution with id %lld", (long long)id);
	for (int i = 0; i < PQntuples(res) && at < len; i++) {
		size_t n = (size_t)PQgetlength(res, i, 0);

		if (PQgetisnull(res, i, 0))
			continue;
		if (n > len - at)
			n = len - at;
		memcpy((char *)buf + at, PQgetvalue(res, i, 0), n);
		at += n;
	}
	*got = at;
	PQclear(res);
	return err;
}

int pgstore_output_cut(struct store *base, int64_t id)
{
	char id_text[24];
	const char *params[1] = { pgstore_int(id_text, sizeof(id_text), id) };
	PGresult *res;
	int err;

	err = pgstore_run(pgstore_of(base), PG_READ, "read output_cut",
			  "SELECT output_cut FROM execution_log WHERE id = $1::bigint", 1, params, &res);
	if (err)
		return err;
	if (PQntuples(res) == 0)
		err = store_fail(-ENOENT, "no execution with id %lld", (long long)id);
	else
		err = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return err;
}
