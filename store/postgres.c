/*
 * postgres.c - the PostgreSQL backend: one execution log shared by many hosts.
 *
 * The table is the SQLite backend's execution_log in PostgreSQL types
 * (BIGSERIAL id, BIGINT times and counts, TEXT strings), with the same
 * UNIQUE(execution_id) and the same three indexes; it is created if missing,
 * under an advisory lock, so that two first mounts do not race. The
 * database gives the guarantees across hosts: of two starts of one name
 * exactly one inserts (unique violation 23505 is -EEXIST), a finish is an
 * UPDATE guarded by outcome = 'running', a delete one guarded by
 * outcome <> 'running'.
 *
 * Every change is one statement, so one implicit transaction, and that
 * statement also NOTIFYs channel "execlog" with the execution_id: the
 * notification goes out exactly when the change commits. store_watch()
 * LISTENs on a connection of its own, in a thread of its own.
 *
 * A libpq connection serves one thread at a time, so calls borrow one from
 * a small pool and give it back before they call back into the caller: a
 * listing fetches a page of rows (keyset paging on id), gives the connection
 * back, then hands the page out. Parameters are always bound.
 *
 * Connection loss: a connection found broken is reset at its next use; a
 * read that meets a broken connection is retried once on a fresh one; a
 * write is retried only when the server said it had ended the session
 * before committing (57P01, 57P02). Any other lost answer to a write is
 * -EIO: it may or may not have committed, and is never acknowledged.
 *
 * sync=normal sets synchronous_commit = local (the server has the change on
 * its disk when COMMIT returns, synchronous standbys are not waited for);
 * sync=full sets it on (standbys too, where the server has them). Either
 * way an acknowledged change survives a kill of the daemon and of the server.
 *
 * Left out: store_visits() counts the rows the server returned (its own
 * work is not visible to a client); the indexes make every page an index
 * range scan, which the server's EXPLAIN shows.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgstore.h"

/*
 * The table, its key and indexes; taken under a transaction-scoped advisory
 * lock so that concurrent first mounts create it once. Columns a table made
 * by an older execlogfs or by hand lacks are added (nullable, no rewrite).
 */
static const char pgstore_schema[] =
	"BEGIN;\n"
	"SELECT pg_advisory_xact_lock(" PGSTORE_LOCK_KEY ");\n"
	"CREATE TABLE IF NOT EXISTS execution_log (\n"
	"    id BIGSERIAL PRIMARY KEY,\n"
	"    execution_id TEXT NOT NULL UNIQUE,\n"
	"    tool_version TEXT NOT NULL,\n"
	"    args TEXT NOT NULL,\n"
	"    root TEXT,\n"
	"    db_path TEXT NOT NULL,\n"
	"    started_at BIGINT NOT NULL,\n"
	"    finished_at BIGINT,\n"
	"    duration_ms BIGINT,\n"
	"    outcome TEXT NOT NULL,\n"
	"    error_message TEXT,\n"
	"    files_indexed BIGINT DEFAULT 0,\n"
	"    symbols_indexed BIGINT DEFAULT 0,\n"
	"    references_indexed BIGINT DEFAULT 0,\n"
	"    started_at_ms BIGINT,\n"
	"    heartbeat_at_ms BIGINT\n"
	");\n"
	"ALTER TABLE execution_log ADD COLUMN IF NOT EXISTS started_at_ms BIGINT,\n"
	"    ADD COLUMN IF NOT EXISTS heartbeat_at_ms BIGINT;\n"
	/*
	 * SQLite's indexes end with the rowid implicitly; here id is named, so
	 * that a page of a listing by outcome is one index range scan in id order.
	 */
	"CREATE INDEX IF NOT EXISTS idx_execution_log_started_at ON execution_log(started_at DESC);\n"
	"CREATE INDEX IF NOT EXISTS idx_execution_log_execution_id ON execution_log(execution_id);\n"
	"CREATE INDEX IF NOT EXISTS idx_execution_log_outcome ON execution_log(outcome, id);\n"
	"COMMIT;\n";

/* Reads every column we use and no row: a table that lacks one fails here. */
static const char pgstore_probe[] = "SELECT " PGSTORE_COLUMNS " FROM execution_log LIMIT 0";

/*
 * A connection string is no path: nothing to look at on this host. It is
 * named for us when it reads like one (a URI, or keyword=value) and no file
 * of that name exists; a file or directory is another backend's.
 */
static int pgstore_detect(const char *path)
{
	struct stat st;
	size_t key;

	if (stat(path, &st) == 0)
		return -EMEDIUMTYPE;
	if (strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0)
		return 0;
	while (*path == ' ' || *path == '\t')
		path++;
	key = strspn(path, "abcdefghijklmnopqrstuvwxyz_");
	if (key > 0 && path[key + strspn(path + key, " \t")] == '=')
		return 0;
	return -ENOENT;
}

static void pgstore_close(struct store *base)
{
	struct pgstore *s = pgstore_of(base);

	pgstore_backfill_stop(s);
	pgstore_unwatch(s);
	while (s->idle) {
		struct pgstore_conn *c = s->idle;

		s->idle = c->next;
		PQfinish(c->pg);
		free(c);
	}
	PQfinish(s->reserve_conn.pg);
	pthread_mutex_destroy(&s->reserve_lock);
	pthread_cond_destroy(&s->pool_free);
	pthread_mutex_destroy(&s->pool_lock);
	free(s->conninfo);
	store_base_destroy(&s->base);
	free(s);
}

/* Runs one transaction of the schema on @pg; rolled back on failure. */
static int pgstore_schema_run(PGconn *pg, const char *sql)
{
	PGresult *res = PQexec(pg, sql);
	char msg[384];
	int err = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		err = store_fail(pgstore_errno_of_state(PQresultErrorField(res, PG_DIAG_SQLSTATE)),
				 "postgres: create the table execution_log: %s",
				 pgstore_message(PQerrorMessage(pg), msg, sizeof(msg)));
		/* A failed transaction must not stay open on a pooled connection. */
		PQclear(PQexec(pg, "ROLLBACK"));
	}
	PQclear(res);
	return err;
}

/*
 * Provenance, output and the counts, in one transaction: a tool column
 * added there and the backfill that fills it (postgres_counts.c) commit
 * together or not at all.
 */
static int pgstore_schema_rest(PGconn *pg)
{
	char *counts = pgstore_counts_schema(), *sql = NULL;
	int err;

	if (counts == NULL || asprintf(&sql, "BEGIN;\nSELECT pg_advisory_xact_lock(" PGSTORE_LOCK_KEY
				       ");\n%s%sCOMMIT;\n", pgstore_schema_provenance, counts) < 0) {
		free(counts);
		return store_fail(-ENOMEM, "postgres: out of memory");
	}
	err = pgstore_schema_run(pg, sql);
	free(counts);
	free(sql);
	return err;
}

/*
 * Why the probe failed. A table or column of ours missing (only a
 * read-only mount gets here with them missing) is an older execlogfs's
 * table, which a writable mount brings up to date, or no execution log.
 */
static int pgstore_probe_failed(const PGresult *res, const char *msg)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	bool no_table = state && strcmp(state, "42P01") == 0;

	if (no_table && primary && strstr(primary, "\"execution_log\""))
		return store_fail(-ENOENT, "postgres: no table execution_log (and the mount is "
				  "read-only): %s", msg);
	if (no_table || (state && strcmp(state, "42703") == 0))
		return store_fail(-EMEDIUMTYPE, "postgres: table execution_log is not an execution "
				  "log, or one of an older execlogfs that a writable mount brings up "
				  "to date: %s", msg);
	return store_fail(pgstore_errno_of_state(state), "postgres: read the table: %s", msg);
}

/* Creates the table if missing (never read-only), then checks its columns. */
static int pgstore_prepare_table(struct pgstore *s)
{
	struct pgstore_conn *c = pgstore_take(s);
	PGresult *res = NULL;
	char msg[384];
	int err;

	if (c == NULL)
		return store_fail(-ENOMEM, "postgres: out of memory");
	err = pgstore_ready(s, c);
	if (err)
		goto put;
	if (!s->base.opts.read_only) {
		err = pgstore_schema_run(c->pg, pgstore_schema);
		if (err == 0)
			err = pgstore_schema_rest(c->pg);
		if (err)
			goto put;
	}
	res = PQexec(c->pg, pgstore_probe);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pgstore_message(PQerrorMessage(c->pg), msg, sizeof(msg));
		err = pgstore_probe_failed(res, msg);
	}
	PQclear(res);
put:
	pgstore_put(s, c);
	return err;
}

static int pgstore_open(const char *path, const struct store_options *opts, struct store **out)
{
	PQconninfoOption *parsed;
	struct pgstore *s;
	char *why = NULL;
	int err;

	if (pgstore_detect(path) == -EMEDIUMTYPE)
		return store_fail(-EMEDIUMTYPE, "%s is a file, not a PostgreSQL connection string", path);
	parsed = PQconninfoParse(path, &why);
	if (parsed == NULL) {
		char msg[256];

		err = store_fail(-EINVAL, "postgres: bad connection string: %s",
				 pgstore_message(why, msg, sizeof(msg)));
		PQfreemem(why);
		return err;
	}
	PQconninfoFree(parsed);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return store_fail(-ENOMEM, "postgres: out of memory");
	store_base_init(&s->base, &pgstore_ops, opts);
	pthread_mutex_init(&s->pool_lock, NULL);
	pthread_cond_init(&s->pool_free, NULL);
	pthread_mutex_init(&s->reserve_lock, NULL);
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	s->conninfo = strdup(path);
	if (s->conninfo == NULL) {
		err = store_fail(-ENOMEM, "postgres: out of memory");
		goto store_free;
	}
	err = pgstore_prepare_table(s);
	if (err == 0)
		err = pgstore_counts_open(s);
	if (err)
		goto store_free;
	*out = &s->base;
	return 0;

store_free:
	pgstore_close(&s->base);
	return err;
}

/* ---- changes ---------------------------------------------------------------- */

/*
 * One statement: the row, its tags (from two arrays, unnested in order)
 * and the notification, in one implicit transaction and one round trip.
 */
static const char pgstore_start_sql[] =
	"WITH i AS (INSERT INTO execution_log (execution_id, tool_version, args,"
	" root, db_path, started_at, outcome, files_indexed, symbols_indexed,"
	" references_indexed, started_at_ms, heartbeat_at_ms, host, \"user\", uid, pid, cwd,"
	" tool)"
	" VALUES ($1, $2, $3, $4, $5, $6::bigint, 'running', 0, 0, 0, $7::bigint,"
	" $7::bigint, $8, $9, $10::bigint, $11::bigint, $12, $13) RETURNING id, execution_id),"
	" t AS (INSERT INTO execlog_tags (id, ord, key, value)"
	" SELECT i.id, g.ord, g.key, g.value FROM i,"
	" unnest($14::text[], $15::text[]) WITH ORDINALITY AS g(key, value, ord))"
	" SELECT id, pg_notify('" PGSTORE_CHANNEL "', execution_id) FROM i";

static int pgstore_start(struct store *base, struct store_record *rec)
{
	struct pgstore *s = pgstore_of(base);
	char started_at[24], started_ms[24], uid[24], pid[24];
	char *keys, *values;
	const char *params[15];
	PGresult *res;
	int err;

	err = pgstore_tags_arrays(rec, &keys, &values);
	if (err)
		return err;
	rec->started_at = rec->started_ms / 1000;
	params[0] = rec->execution_id;
	params[1] = rec->tool_version;
	params[2] = rec->args;
	params[3] = rec->root;
	params[4] = rec->db_path;
	params[5] = pgstore_int(started_at, sizeof(started_at), rec->started_at);
	params[6] = pgstore_int(started_ms, sizeof(started_ms), rec->started_ms);
	params[7] = rec->host;
	params[8] = rec->user;
	params[9] = rec->uid == STORE_NULL ? NULL : pgstore_int(uid, sizeof(uid), rec->uid);
	params[10] = rec->pid == STORE_NULL ? NULL : pgstore_int(pid, sizeof(pid), rec->pid);
	params[11] = rec->cwd;
	params[12] = rec->tool;
	params[13] = keys;
	params[14] = values;
	err = pgstore_run(s, PG_WRITE, "start", pgstore_start_sql, 15, params, &res);
	free(keys);
	free(values);
	if (err == -EEXIST)
		return store_fail(-EEXIST, "execution %s exists", rec->execution_id);
	if (err)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return store_fail(-EIO, "postgres: start of %s returned no id", rec->execution_id);
	}
	rec->id = pgstore_get_int(res, 0, 0);
	PQclear(res);
	return 0;
}

/* After a change matched no row: why, as sqlrow_unchanged() tells it. */
static int pgstore_why_unchanged(struct pgstore *s, const char *execution_id,
				 int running_err, int done_err, int64_t only_id)
{
	const char *params[1] = { execution_id };
	struct pgstore_cursor cur = { .row = 0 };
	PGresult *res;
	int err;

	err = pgstore_run(s, PG_READ, "read the outcome",
			  "SELECT outcome FROM execution_log WHERE execution_id = $1", 1, params, &res);
	if (err)
		return err;
	cur.res = res;
	err = sqlrow_unchanged(execution_id, PQntuples(res) > 0,
			       PQntuples(res) > 0 ? pgstore_col_text(&cur, 0) : NULL,
			       running_err, done_err, only_id);
	PQclear(res);
	return err;
}

/*
 * Runs a change that returns one row per row it changed; 0, or why it
 * changed nothing (@only_id: the id a finish or delete was kept to, or 0).
 */
static int pgstore_change(struct pgstore *s, const char *doing, const char *sql, int n,
			  const char *const *params, const char *execution_id,
			  int running_err, int done_err, int64_t only_id)
{
	PGresult *res;
	int err, rows;

	err = pgstore_run(s, PG_WRITE, doing, sql, n, params, &res);
	if (err)
		return err;
	rows = PQntuples(res);
	PQclear(res);
	if (rows > 0)
		return 0;
	return pgstore_why_unchanged(s, execution_id, running_err, done_err, only_id);
}

static int pgstore_finish(struct store *base, const char *execution_id,
			  const struct store_finish *fin, int64_t now_ms)
{
	char now[24], files[24], symbols[24], references[24], only_id[24], stale[24];
	char code[24], sig[24];
	const char *params[11] = {
		pgstore_int(now, sizeof(now), now_ms),
		store_outcome_name(fin->outcome),
		fin->error_message,
		pgstore_int(files, sizeof(files), fin->files_indexed),
		pgstore_int(symbols, sizeof(symbols), fin->symbols_indexed),
		pgstore_int(references, sizeof(references), fin->references_indexed),
		execution_id,
		pgstore_int(only_id, sizeof(only_id), fin->only_id),
		pgstore_int(stale, sizeof(stale), fin->only_stale_before_ms),
		fin->exit_code == STORE_NULL ? NULL : pgstore_int(code, sizeof(code), fin->exit_code),
		fin->signal == STORE_NULL ? NULL : pgstore_int(sig, sizeof(sig), fin->signal),
	};

	/* A running row is skipped only by the finish's conditions. */
	return pgstore_change(pgstore_of(base), "finish",
			      "WITH u AS (UPDATE execution_log SET outcome = $2, error_message = $3,"
			      " files_indexed = $4::bigint, symbols_indexed = $5::bigint,"
			      " references_indexed = $6::bigint, finished_at = $1::bigint / 1000,"
			      " heartbeat_at_ms = $1::bigint, exit_code = $10::bigint, signal = $11::bigint,"
			      /* numeric: a row of another program's may start anywhere in bigint */
			      " duration_ms = LEAST(GREATEST(0, $1::numeric - COALESCE(started_at_ms::numeric,"
			      " started_at::numeric * 1000)), 9223372036854775807)::bigint"
			      " WHERE execution_id = $7 AND outcome = 'running'"
			      " AND ($8::bigint = 0 OR id = $8::bigint) AND ($9::bigint = 0 OR"
			      " COALESCE(heartbeat_at_ms::numeric, started_at_ms::numeric,"
			      " started_at::numeric * 1000) < $9::bigint)"
			      " RETURNING execution_id)"
			      " SELECT pg_notify('" PGSTORE_CHANNEL "', execution_id) FROM u",
			      11, params, execution_id, -ESTALE, -EPERM, fin->only_id);
}

static int pgstore_heartbeat(struct store *base, const char *execution_id, int64_t now_ms)
{
	char now[24];
	const char *params[2] = { pgstore_int(now, sizeof(now), now_ms), execution_id };

	return pgstore_change(pgstore_of(base), "heartbeat",
			      "WITH u AS (UPDATE execution_log SET heartbeat_at_ms = $1::bigint"
			      " WHERE execution_id = $2 AND outcome = 'running' RETURNING execution_id)"
			      " SELECT pg_notify('" PGSTORE_CHANNEL "', execution_id) FROM u",
			      2, params, execution_id, 0, -EPERM, 0);
}

static int pgstore_delete(struct store *base, const char *execution_id, int64_t only_id)
{
	char id[24];
	const char *params[2] = { execution_id, pgstore_int(id, sizeof(id), only_id) };

	/* A finished row is skipped only when it has another id. */
	return pgstore_change(pgstore_of(base), "delete",
			     "WITH d AS (DELETE FROM execution_log WHERE execution_id = $1"
			     " AND outcome <> 'running' AND ($2::bigint = 0 OR id = $2::bigint)"
			     " RETURNING execution_id)"
			     " SELECT pg_notify('" PGSTORE_CHANNEL "', execution_id) FROM d",
			     2, params, execution_id, -EBUSY, only_id ? -ESTALE : -EIO, only_id);
}

const struct store_ops pgstore_ops = {
	.name = "postgres",
	.connection_string = true,
	.open = pgstore_open,                /* a libpq connection string; the table made if missing */
	.close = pgstore_close,              /* stops the listener, closes every pooled connection */
	.detect = pgstore_detect,            /* a string that reads as a connection string, no network */
	.start = pgstore_start,              /* one INSERT; unique violation gives -EEXIST */
	.finish = pgstore_finish,            /* one UPDATE guarded by outcome = 'running' */
	.heartbeat = pgstore_heartbeat,      /* sets heartbeat_at_ms of a running row */
	.get = pgstore_get,                  /* by the UNIQUE execution_id */
	.get_by_id = pgstore_get_by_id,      /* by the primary key */
	.delete = pgstore_delete,            /* one DELETE guarded by outcome <> 'running' */
	.list = pgstore_list,                /* keyset pages of 256 on id */
	.list_names = pgstore_list_names,    /* keyset pages of 1024 (id, execution_id) */
	.list_days = pgstore_list_days,      /* one seek of the started_at index per day */
	.latest = pgstore_latest,            /* the greatest id */
	.check_room = pgstore_check_room,    /* the server answers and the session may insert */
	.statfs = NULL,                      /* the room is the server's disk, not this host's to see */
	.count = pgstore_count,              /* execlog_counts; count(*) by an index for an attr */
	.count_outcomes = pgstore_count_outcomes, /* execlog_counts, one statement */
	.list_recent = pgstore_list_recent,  /* pages of ORDER BY id DESC */
	.summary = pgstore_summary,          /* execlog_durations, summed over its slots */
	.watch = pgstore_watch,              /* LISTEN execlog on a connection and thread of its own */
	.list_finished_by_start = pgstore_list_finished_by_start, /* keyset pages on (started_at, id) */
	.list_values = pgstore_list_values,  /* a loose scan of the value's index, in pages */
	.output_append = pgstore_output_append, /* one statement: lock, check, insert a piece, count */
	.output_read = pgstore_output_read,  /* the pieces over the range, cut on the server */
	.output_cut = pgstore_output_cut,    /* output_cut of the row */
	.version = pgstore_version,          /* the server's snapshot, hashed (postgres_version.c) */
	.reserve = pgstore_reserve,          /* an advisory lock on a session of its own */
	.unreserve = pgstore_unreserve,      /* pg_advisory_unlock on that session */
};
