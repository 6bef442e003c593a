/*
 * postgres_counts.c - the counts by outcome and by (day, outcome) and the
 * duration histogram on PostgreSQL, kept in tables of their own so that
 * reading them costs the same at 10M rows as at 100 (issue 21), spread
 * over slots so that writers of many mounts do not queue on one row.
 *
 * execlog_counts (day, outcome, slot, n): day -1 the totals, day d >= 0
 * the rows whose started_at falls on UTC day d (days in [0, STORE_DAY_END)
 * only: a row outside them is in the totals alone); outcome one of the
 * four, or '' for another program's outcome (counted in all rows, in no
 * outcome), as SQLite's execlogfs_counts. execlog_durations (bucket, slot,
 * n, sum_ms, last_finished_at): the finished rows (outcome <> 'running')
 * by store_duration_bucket() of GREATEST(COALESCE(duration_ms, 0), 0);
 * last_finished_at is the greatest ever (a delete does not move it back,
 * as on SQLite and LMDB). A reader sums over the slots.
 *
 * The slot of a change is its session's pg_backend_pid() % 64: each mount
 * writes through its own sessions, so two writers rarely share a row. The
 * key leads with (day, outcome), not the slot, so that a read of one day
 * is one index range.
 *
 * Triggers keep both tables in the transaction of every insert, update
 * and delete, whoever writes (psql too); TRUNCATE empties them. They run
 * once per statement, from its transition tables, and add its deltas in
 * one statement (an INSERT into each table), in key order, an update's old rows taken away and
 * new ones added, summed: two transactions that share a slot lock its rows
 * in the same order (no deadlock), a change that moves no count writes
 * none, and a statement of a million rows (psql's) is one set-based pass,
 * not a million updates of the same few rows.
 *
 * A table that had rows before execlog_counts existed (an older
 * execlogfs's, one psql filled) gets them counted by a backfill, by
 * ascending id, in batches of one transaction each: execlog_counts_state
 * .next_id is the watermark, rows below it counted, rows at or above it
 * not yet (the triggers leave them to the backfill), null when every row
 * is counted. Writers run concurrently here, unlike SQLite's: a trigger
 * that finds the watermark set takes PGSTORE_COUNTS_LOCK_KEY shared, then
 * reads it again; a batch takes it exclusive first, so it waits for every
 * writer that read the old watermark to commit, and its rows are read
 * after that. (A writer in REPEATABLE READ or SERIALIZABLE reads the
 * watermark of its snapshot, not the latest: execlogfs's and psql's are
 * READ COMMITTED.) Until the counts are done, reads add a count of the
 * rows from the watermark on, in the same statement (one snapshot).
 *
 * Then, when the tool column was new to the table, batches of their own
 * give the rows their tool (ids from state.tool_next on, null when done),
 * set-based, with execlog_tool_of(): an update of every row, with its
 * indexes, many times the counts' cost, left for after them so that the
 * reads are cheap soon. The fill is idempotent (only rows without a tool)
 * and needs no lock; rows inserted since the column exists get theirs from
 * their insert. Last, the views' indexes (see pgstore_indexes_once()).
 *
 * A backfill runs in a thread of each writable mount with a connection of
 * its own; two mounts' batches are serialised by the lock (each re-reads
 * the watermark under it). kill -9 loses at most one batch's uncommitted
 * work; the next mount resumes.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgstore.h"

/* The first second after the last nameable day, as SQL text below. */
_Static_assert(STORE_DAY_END * 86400 == INT64_C(253402300800), "the day bound in the SQL");

/* The slots counts are spread over. */
#define PGSTORE_SLOTS "64"

/* The outcome key of row @r: one of the four, else ''. */
#define OUTCOME_KEY(r)                                                          \
	"CASE WHEN " r ".outcome IN ('running', 'success', 'error', 'partial')"  \
	" THEN " r ".outcome ELSE '' END"

/* The day of row @r (started_at >= 0 here: division floors), or NULL off the days. */
#define DAY_OF(r)                                                               \
	"CASE WHEN " r ".started_at >= 0 AND " r ".started_at < 253402300800"    \
	" THEN " r ".started_at / 86400 END"

/* The duration of row @r as the histogram counts it. */
#define DUR(r) "GREATEST(COALESCE(" r ".duration_ms, 0), 0)"

/* A numeric @x held in bigint, saturated (sums of durations near the ends of int64). */
#define CLAMP(x) "LEAST(GREATEST(" x ", -9223372036854775808), 9223372036854775807)::bigint"

/* Adds the rows of the SELECT before it, (day, outcome, slot, n), to the counts. */
#define COUNTS_CONFLICT                                                         \
	" ON CONFLICT (day, outcome, slot) DO UPDATE SET n = c.n + excluded.n"
#define COUNTS_UPSERT COUNTS_CONFLICT ";\n"

/* Adds the rows of the SELECT before it, (bucket, slot, n, sum_ms, last), to the durations. */
#define DURATIONS_CONFLICT                                                      \
	" ON CONFLICT (bucket, slot) DO UPDATE SET n = x.n + excluded.n,"        \
	" sum_ms = " CLAMP("x.sum_ms::numeric + excluded.sum_ms") ","            \
	" last_finished_at = GREATEST(x.last_finished_at, excluded.last_finished_at)" \
	" WHERE excluded.n <> 0 OR excluded.sum_ms <> 0"                         \
	" OR excluded.last_finished_at > x.last_finished_at"                     \
	" OR (x.last_finished_at IS NULL AND excluded.last_finished_at IS NOT NULL)"
#define DURATIONS_UPSERT DURATIONS_CONFLICT ";\n"

/*
 * The tables, and the watermark of a table that has rows already (taken
 * with the table locked against writers, so that no row commits unseen
 * between min(id) and the triggers).
 */
static const char pgstore_counts_tables[] =
	"DO $d$\n"
	"BEGIN\n"
	"    IF pg_catalog.to_regclass('execlog_counts_state') IS NULL THEN\n"
	"        LOCK TABLE execution_log IN SHARE ROW EXCLUSIVE MODE;\n"
	"        CREATE TABLE execlog_counts (day BIGINT NOT NULL, outcome TEXT COLLATE \"C\" NOT NULL,\n"
	"            slot INTEGER NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (day, outcome, slot));\n"
	"        CREATE TABLE execlog_durations (bucket INTEGER NOT NULL,\n"
	"            slot INTEGER NOT NULL, n BIGINT NOT NULL, sum_ms BIGINT NOT NULL,\n"
	"            last_finished_at BIGINT, PRIMARY KEY (bucket, slot));\n"
	"        CREATE TABLE execlog_counts_state (k INTEGER PRIMARY KEY CHECK (k = 0),\n"
	"            next_id BIGINT, tool_next BIGINT);\n"
	"        INSERT INTO execlog_counts_state (k, next_id, tool_next)\n"
	"            SELECT 0, min(id), CASE WHEN\n"
	"            current_setting('execlog.tool_added', true) = 'on' THEN min(id) END\n"
	"            FROM execution_log;\n"
	"    END IF;\n"
	"END $d$;\n";

/* Reads the watermark into v_next: under the shared lock while it is set. */
#define READ_WATERMARK                                                          \
	"    SELECT next_id INTO v_next FROM execlog_counts_state;\n"             \
	"    IF v_next IS NOT NULL THEN\n"                                         \
	"        PERFORM pg_advisory_xact_lock_shared(" PGSTORE_COUNTS_LOCK_KEY ");\n" \
	"        SELECT next_id INTO v_next FROM execlog_counts_state;\n"         \
	"    END IF;\n"

/* The counted rows of transition table @t, each with the sign @k: key d0 (the day), o. */
#define COUNT_ROWS(t, k)                                                        \
	"SELECT " DAY_OF("r") " AS d0, " OUTCOME_KEY("r") " AS o, " k " AS k"    \
	" FROM " t " r WHERE v_next IS NULL OR r.id < v_next"

/* The counts of the rows @rows (d0, o, k), a total and a day each, added (a CTE). */
#define COUNT_UPSERT(rows)                                                      \
	"        WITH kc AS (INSERT INTO execlog_counts AS c (day, outcome, slot, n)\n" \
	"        SELECT v.d, t.o, v_slot, sum(t.k) FROM (" rows ") t,\n"          \
	"            LATERAL (VALUES (-1::bigint), (t.d0)) AS v(d)\n"             \
	"        WHERE v.d IS NOT NULL GROUP BY v.d, t.o HAVING sum(t.k) <> 0\n"  \
	"        ORDER BY v.d, t.o" COUNTS_CONFLICT ")\n"

/* The counted finished rows of @t with the sign @k: bucket b, ms, the finish f. */
#define DURATION_ROWS(t, k)                                                     \
	"SELECT width_bucket(" DUR("r") " - 1, v_bounds) AS b, " k " AS k, "     \
	k " * " DUR("r") "::numeric AS ms, CASE WHEN " k " > 0 THEN r.finished_at END AS f" \
	" FROM " t " r WHERE r.outcome <> 'running' AND (v_next IS NULL OR r.id < v_next)"

/* The durations of the rows @rows (b, k, ms, f), added. */
#define DURATION_UPSERT(rows)                                                   \
	"        INSERT INTO execlog_durations AS x (bucket, slot, n, sum_ms, last_finished_at)\n" \
	"        SELECT t.b, v_slot, sum(t.k), " CLAMP("sum(t.ms)") ", max(t.f) FROM (" rows ") t\n" \
	"        GROUP BY t.b ORDER BY t.b" DURATIONS_CONFLICT ";\n"

/* Both, in one statement (one run of the executor), for @rows_count and @rows_duration. */
#define APPLY(rows_count, rows_duration)                                        \
	COUNT_UPSERT(rows_count) DURATION_UPSERT(rows_duration)

/*
 * The triggers: once per statement, from its transition tables (o_rows,
 * n_rows), so that a statement of a million rows adds its deltas in one
 * INSERT, not a million updates of the same few rows (each of which, in
 * one transaction, walks every version the earlier ones left). An update
 * adds the new rows and takes away the old ones: a change of nothing the
 * counts see cancels out and writes nothing. An update that changes none
 * of their columns in any row (a heartbeat, an append of output, the
 * backfill's tool) returns at once: the row trigger execlog_counts_changed,
 * whose WHEN the server tests without calling any function, marks the
 * statements that do (row triggers fire before statement triggers).
 */
static const char pgstore_counts_trigger_fmt[] =
	"CREATE OR REPLACE FUNCTION execlog_counts_apply() RETURNS trigger\n"
	"LANGUAGE plpgsql AS $f$\n"
	"DECLARE\n"
	"    v_bounds CONSTANT bigint[] := %s;\n"
	"    v_slot integer := pg_backend_pid() %% " PGSTORE_SLOTS ";\n"
	"    v_next bigint;\n"
	"BEGIN\n"
	"    IF TG_OP = 'UPDATE' THEN\n"
	"        IF current_setting('execlog.counts_changed', true) IS DISTINCT FROM 'on' THEN\n"
	"            RETURN NULL;\n"
	"        END IF;\n"
	"        PERFORM set_config('execlog.counts_changed', 'off', true);\n"
	"    END IF;\n"
	READ_WATERMARK
	"    IF TG_OP = 'INSERT' THEN\n"
	APPLY(COUNT_ROWS("n_rows", "1"), DURATION_ROWS("n_rows", "1"))
	"    ELSIF TG_OP = 'DELETE' THEN\n"
	APPLY(COUNT_ROWS("o_rows", "-1"), DURATION_ROWS("o_rows", "-1"))
	"    ELSE\n"
	APPLY(COUNT_ROWS("o_rows", "-1") " UNION ALL " COUNT_ROWS("n_rows", "1"),
	      DURATION_ROWS("o_rows", "-1") " UNION ALL " DURATION_ROWS("n_rows", "1"))
	"    END IF;\n"
	"    RETURN NULL;\n"
	"END $f$;\n"
	"CREATE OR REPLACE FUNCTION execlog_counts_changed() RETURNS trigger\n"
	"LANGUAGE plpgsql AS $f$\n"
	"BEGIN\n"
	"    PERFORM set_config('execlog.counts_changed', 'on', true);\n"
	"    RETURN NULL;\n"
	"END $f$;\n"
	/* TRUNCATE fires no row trigger: the aggregates are emptied with it. */
	"CREATE OR REPLACE FUNCTION execlog_counts_truncated() RETURNS trigger\n"
	"LANGUAGE plpgsql AS $f$\n"
	"BEGIN\n"
	"    PERFORM pg_advisory_xact_lock(" PGSTORE_COUNTS_LOCK_KEY ");\n"
	"    DELETE FROM execlog_counts;\n"
	"    UPDATE execlog_durations SET n = 0, sum_ms = 0;\n"
	"    UPDATE execlog_counts_state SET next_id = NULL, tool_next = NULL;\n"
	"    RETURN NULL;\n"
	"END $f$;\n";

/*
 * One batch of the backfill; true once every row is counted and has its
 * tool. Counts: under the exclusive lock, the ids from the watermark on,
 * unless another mount's batch moved it meanwhile. Tools, once the counts
 * are done: the rows from tool_next on, the mark moved only from where
 * this batch found it.
 */
static const char pgstore_counts_backfill_fmt[] =
	"CREATE OR REPLACE FUNCTION execlog_counts_backfill(v_batch bigint) RETURNS boolean\n"
	"LANGUAGE plpgsql AS $f$\n"
	"DECLARE\n"
	"    v_bounds CONSTANT bigint[] := %s;\n"
	"    v_next bigint;\n"
	"    v_tool bigint;\n"
	"    v_to bigint;\n"
	"BEGIN\n"
	"    SELECT next_id, tool_next INTO v_next, v_tool FROM execlog_counts_state;\n"
	"    IF v_next IS NULL AND v_tool IS NULL THEN\n"
	"        RETURN true;\n"
	"    ELSIF v_next IS NULL THEN\n"
	"        SELECT max(b.id) INTO v_to FROM (SELECT e.id FROM execution_log e\n"
	"            WHERE e.id >= v_tool ORDER BY e.id LIMIT v_batch) b;\n"
	"        UPDATE execution_log e SET tool = t.tool FROM (SELECT r.id,\n"
	"            execlog_tool_of(r.args) AS tool FROM execution_log r\n"
	"            WHERE r.id >= v_tool AND r.id <= v_to AND r.tool IS NULL) t\n"
	"        WHERE e.id = t.id AND t.tool IS NOT NULL AND e.tool IS NULL;\n"
	"        IF v_to < 9223372036854775807 AND EXISTS (SELECT 1 FROM execution_log e\n"
	"                WHERE e.id > v_to) THEN\n"
	"            UPDATE execlog_counts_state SET tool_next = v_to + 1 WHERE tool_next = v_tool;\n"
	"            RETURN false;\n"
	"        END IF;\n"
	"        UPDATE execlog_counts_state SET tool_next = NULL WHERE tool_next = v_tool;\n"
	"        RETURN true;\n"
	"    END IF;\n"
	"    PERFORM pg_advisory_xact_lock(" PGSTORE_COUNTS_LOCK_KEY ");\n"
	"    SELECT next_id INTO v_next FROM execlog_counts_state;\n"
	"    IF v_next IS NULL THEN\n"
	"        RETURN false;\n"
	"    END IF;\n"
	"    SELECT max(b.id) INTO v_to FROM (SELECT e.id FROM execution_log e WHERE e.id >= v_next\n"
	"        ORDER BY e.id LIMIT v_batch) b;\n"
	"    IF v_to IS NOT NULL THEN\n"
	"        INSERT INTO execlog_counts AS c (day, outcome, slot, n)\n"
	"        SELECT v.d, r.o, 0, count(*) FROM (SELECT " DAY_OF("e") " AS d0,\n"
	"            " OUTCOME_KEY("e") " AS o FROM execution_log e\n"
	"            WHERE e.id >= v_next AND e.id <= v_to) r,\n"
	"            LATERAL (VALUES (-1::bigint), (r.d0)) AS v(d)\n"
	"        WHERE v.d IS NOT NULL GROUP BY v.d, r.o ORDER BY v.d, r.o\n"
	COUNTS_UPSERT
	"        INSERT INTO execlog_durations AS x (bucket, slot, n, sum_ms, last_finished_at)\n"
	"        SELECT width_bucket(f.d - 1, v_bounds), 0, count(*), " CLAMP("sum(f.d)") ",\n"
	"            max(f.finished_at) FROM (SELECT " DUR("e") " AS d, e.finished_at\n"
	"            FROM execution_log e WHERE e.id >= v_next AND e.id <= v_to\n"
	"            AND e.outcome <> 'running') f GROUP BY 1 ORDER BY 1\n"
	DURATIONS_UPSERT
	"        IF v_to < 9223372036854775807 AND EXISTS (SELECT 1 FROM execution_log e\n"
	"                WHERE e.id > v_to) THEN\n"
	"            UPDATE execlog_counts_state SET next_id = v_to + 1;\n"
	"            RETURN false;\n"
	"        END IF;\n"
	"    END IF;\n"
	"    UPDATE execlog_counts_state SET next_id = NULL;\n"
	"    RETURN false;\n"
	"END $f$;\n";

/*
 * The triggers, made once; the functions run with the search_path of the
 * schema that holds the tables, whatever the writing session's is.
 */
static const char pgstore_counts_triggers[] =
	"DO $d$\n"
	"BEGIN\n"
	"    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'execution_log'::regclass\n"
	"                   AND tgname = 'execlog_counts_insert') THEN\n"
	"        CREATE TRIGGER execlog_counts_insert AFTER INSERT ON execution_log\n"
	"            REFERENCING NEW TABLE AS n_rows\n"
	"            FOR EACH STATEMENT EXECUTE FUNCTION execlog_counts_apply();\n"
	"        CREATE TRIGGER execlog_counts_delete AFTER DELETE ON execution_log\n"
	"            REFERENCING OLD TABLE AS o_rows\n"
	"            FOR EACH STATEMENT EXECUTE FUNCTION execlog_counts_apply();\n"
	/* No column list: PostgreSQL takes none with transition tables. */
	"        CREATE TRIGGER execlog_counts_update AFTER UPDATE ON execution_log\n"
	"            REFERENCING OLD TABLE AS o_rows NEW TABLE AS n_rows\n"
	"            FOR EACH STATEMENT EXECUTE FUNCTION execlog_counts_apply();\n"
	"        CREATE TRIGGER execlog_counts_changed AFTER UPDATE OF id, started_at, outcome,\n"
	"            duration_ms, finished_at ON execution_log FOR EACH ROW\n"
	"            WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.started_at IS DISTINCT FROM\n"
	"                  NEW.started_at OR OLD.outcome IS DISTINCT FROM NEW.outcome OR\n"
	"                  OLD.duration_ms IS DISTINCT FROM NEW.duration_ms OR\n"
	"                  OLD.finished_at IS DISTINCT FROM NEW.finished_at)\n"
	"            EXECUTE FUNCTION execlog_counts_changed();\n"
	"        CREATE TRIGGER execlog_counts_truncate AFTER TRUNCATE ON execution_log\n"
	"            FOR EACH STATEMENT EXECUTE FUNCTION execlog_counts_truncated();\n"
	"    END IF;\n"
	"    EXECUTE format('ALTER FUNCTION execlog_counts_apply() SET search_path = %I',\n"
	"                   current_schema());\n"
	/*
	 * Custom plans (the first five, and every one after where the planner
	 * keeps preferring them) would plan the trigger's statements at every
	 * change: three times its cost. Servers before 12 have no such setting.
	 */
	"    IF current_setting('server_version_num')::integer >= 120000 THEN\n"
	"        ALTER FUNCTION execlog_counts_apply() SET plan_cache_mode = force_generic_plan;\n"
	"    END IF;\n"
	"    EXECUTE format('ALTER FUNCTION execlog_counts_truncated() SET search_path = %I',\n"
	"                   current_schema());\n"
	"    EXECUTE format('ALTER FUNCTION execlog_counts_backfill(bigint) SET search_path = %I',\n"
	"                   current_schema());\n"
	"END $d$;\n";

char *pgstore_counts_schema(void)
{
	char bounds[STORE_DURATION_BUCKETS * 24 + 32] = "ARRAY[";
	size_t used = strlen(bounds);
	char *sql = NULL, *trigger, *backfill;

	for (int i = 0; i < STORE_DURATION_BUCKETS - 1; i++)
		used += (size_t)snprintf(bounds + used, sizeof(bounds) - used, "%s%lld", i ? "," : "",
					 (long long)store_duration_bounds_ms[i]);
	snprintf(bounds + used, sizeof(bounds) - used, "]::bigint[]");
	if (asprintf(&trigger, pgstore_counts_trigger_fmt, bounds) < 0)
		return NULL;
	if (asprintf(&backfill, pgstore_counts_backfill_fmt, bounds) < 0)
		backfill = NULL;
	else if (asprintf(&sql, "%s%s%s%s", pgstore_counts_tables, trigger, backfill,
			  pgstore_counts_triggers) < 0)
		sql = NULL;
	free(trigger);
	free(backfill);
	return sql;
}

/* ---- the backfill ------------------------------------------------------------ */

/*
 * A thread of its own on a session of its own, so that a mount answers at
 * once whatever the size of the log: one batch after the other until every
 * row is counted or the store closes. A batch that fails (the server
 * gone, a lock timeout) is tried again a second later; reads count the
 * rows left meanwhile.
 */
struct pgstore_backfill {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	struct pgstore *s;
	struct pgstore_conn conn;
	PGcancel *cancel; /* of conn's session, for a close not to wait for a long statement */
	char batch[24];
};

/* Makes the backfill's session usable, and the handle that cancels its statement. */
static int pgstore_backfill_ready(struct pgstore_backfill *b)
{
	int err = pgstore_ready(b->s, &b->conn);

	pthread_mutex_lock(&b->lock);
	PQfreeCancel(b->cancel);
	b->cancel = err == 0 ? PQgetCancel(b->conn.pg) : NULL;
	pthread_mutex_unlock(&b->lock);
	return err;
}

static int64_t pgstore_backfill_batch_size(void)
{
	/* For tests only: a tiny batch makes a backfill long enough to interrupt. */
	const char *env = getenv("EXECLOGFS_TEST_BACKFILL_BATCH");
	long long n = env ? atoll(env) : 0;

	return n > 0 ? (int64_t)n : PGSTORE_COUNTS_BATCH;
}

/* One batch, on the backfill's session; *done once every row is counted. */
static int pgstore_backfill_once(struct pgstore_backfill *b, bool *done)
{
	const char *params[1] = { b->batch };
	PGresult *res;
	char msg[256];
	int err = pgstore_backfill_ready(b);

	if (err)
		return err;
	res = PQexecParams(b->conn.pg, "SELECT execlog_counts_backfill($1::bigint)", 1, NULL,
			   params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		*done = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	else
		err = store_fail(pgstore_errno_of_state(PQresultErrorField(res, PG_DIAG_SQLSTATE)),
				 "postgres: count the rows of an older table: %s",
				 pgstore_message(PQerrorMessage(b->conn.pg), msg, sizeof(msg)));
	PQclear(res);
	return err;
}

/* How many of the views' indexes are missing or invalid (a build that was interrupted). */
#define PGSTORE_INDEXES_MISSING                                                 \
	"SELECT count(*) FROM unnest(ARRAY['idx_execution_log_host', 'idx_execution_log_user',"\
	" 'idx_execution_log_tool']) AS n(name) WHERE NOT EXISTS (SELECT 1 FROM pg_index i"   \
	" JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = n.name"                   \
	" AND i.indrelid = 'execution_log'::regclass AND i.indisvalid)"

/* Runs @sql on the backfill's session; 0 or why not. */
static int pgstore_backfill_exec(struct pgstore_backfill *b, const char *sql, PGresult **out)
{
	PGresult *res = PQexec(b->conn.pg, sql);
	ExecStatusType st = PQresultStatus(res);
	char msg[256];
	int err = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		err = store_fail(pgstore_errno_of_state(PQresultErrorField(res, PG_DIAG_SQLSTATE)),
				 "postgres: index the views of an older table: %s",
				 pgstore_message(PQerrorMessage(b->conn.pg), msg, sizeof(msg)));
	if (err == 0 && out)
		*out = res;
	else
		PQclear(res);
	return err;
}

/*
 * The views' indexes of a table that had rows before them, built
 * CONCURRENTLY (writers go on) by one mount at a time (a session lock,
 * which the server gives back when the mount dies); an index a dead build
 * left invalid is dropped and built again. *@done once all are valid, or
 * another mount is building them.
 */
static int pgstore_indexes_once(struct pgstore_backfill *b, bool *done)
{
	static const char *const indexes[] = {
		"idx_execution_log_host", PGSTORE_INDEX_HOST,
		"idx_execution_log_user", PGSTORE_INDEX_USER,
		"idx_execution_log_tool", PGSTORE_INDEX_TOOL,
	};
	PGresult *res = NULL;
	char sql[256];
	int err = pgstore_backfill_ready(b);

	if (err == 0)
		err = pgstore_backfill_exec(b, "SELECT pg_try_advisory_lock(" PGSTORE_INDEX_LOCK_KEY ")",
					    &res);
	if (err)
		return err;
	*done = strcmp(PQgetvalue(res, 0, 0), "t") != 0;
	PQclear(res);
	for (size_t i = 0; i < sizeof(indexes) / sizeof(indexes[0]) && !*done && err == 0; i += 2) {
		snprintf(sql, sizeof(sql), "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid ="
			 " i.indexrelid WHERE c.relname = '%s' AND NOT i.indisvalid"
			 " AND i.indrelid = 'execution_log'::regclass", indexes[i]);
		err = pgstore_backfill_exec(b, sql, &res);
		if (err)
			break;
		if (PQntuples(res) > 0) {
			snprintf(sql, sizeof(sql), "DROP INDEX CONCURRENTLY IF EXISTS %s", indexes[i]);
			err = pgstore_backfill_exec(b, sql, NULL);
		}
		PQclear(res);
		snprintf(sql, sizeof(sql), "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s", indexes[i + 1]);
		if (err == 0)
			err = pgstore_backfill_exec(b, sql, NULL);
	}
	if (!*done) {
		pgstore_backfill_exec(b, "SELECT pg_advisory_unlock(" PGSTORE_INDEX_LOCK_KEY ")", NULL);
		*done = err == 0;
	}
	return err;
}

static void *pgstore_backfill_main(void *arg)
{
	struct pgstore_backfill *b = arg;
	bool counted = false, indexed = false, stop = false;

	while (!(counted && indexed) && !stop) {
		/* The counts first: the tool index is cheaper made after the tools are filled. */
		int err = counted ? pgstore_indexes_once(b, &indexed) : pgstore_backfill_once(b, &counted);

		pthread_mutex_lock(&b->lock);
		if (err && !b->stop) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&b->cond, &b->lock, &until);
		}
		stop = b->stop;
		pthread_mutex_unlock(&b->lock);
	}
	return NULL;
}

/* Whether the table has the counts, and work left for the backfill (rows, indexes). */
static int pgstore_counts_found(struct pgstore *s, bool *pending)
{
	PGresult *res = NULL;
	int err;

	*pending = false;
	err = pgstore_run(s, PG_READ, "look for execlog_counts",
			  "SELECT pg_catalog.to_regclass('execlog_counts_state') IS NOT NULL", 0, NULL,
			  &res);
	if (err == 0)
		s->has_counts = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (err || !s->has_counts)
		return err;
	err = pgstore_run(s, PG_READ, "read execlog_counts_state",
			  "SELECT (SELECT count(*) FROM execlog_counts_state WHERE next_id IS NOT NULL"
			  " OR tool_next IS NOT NULL)"
			  " + (" PGSTORE_INDEXES_MISSING ") > 0", 0, NULL, &res);
	if (err == 0)
		*pending = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return err;
}

int pgstore_counts_open(struct pgstore *s)
{
	struct pgstore_backfill *b;
	bool pending;
	int err, rc;

	err = pgstore_counts_found(s, &pending);
	if (err || !pending || s->base.opts.read_only)
		return err;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return store_fail(-ENOMEM, "postgres: out of memory");
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	b->s = s;
	pgstore_int(b->batch, sizeof(b->batch), pgstore_backfill_batch_size());
	rc = store_thread_create(&b->thread, pgstore_backfill_main, b);
	if (rc != 0) {
		pthread_cond_destroy(&b->cond);
		pthread_mutex_destroy(&b->lock);
		free(b);
		return store_fail(-rc, "postgres: cannot start the thread that counts the rows: %s",
				  strerror(rc));
	}
	s->backfill = b;
	return 0;
}

void pgstore_backfill_stop(struct pgstore *s)
{
	struct pgstore_backfill *b = s->backfill;

	if (b == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_signal(&b->cond);
	/*
	 * A statement under way is cancelled: a batch is one statement, rolled
	 * back whole; an index build leaves an invalid index that the next
	 * mount makes again.
	 */
	if (b->cancel) {
		char why[256];

		PQcancel(b->cancel, why, sizeof(why));
	}
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	PQfreeCancel(b->cancel);
	PQfinish(b->conn.pg);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
	s->backfill = NULL;
}

/* ---- reads ------------------------------------------------------------------- */

/*
 * The rows the backfill has yet to count, @q a query of them with s.next_id
 * its first id: run only while the watermark is set (a nested loop over
 * the state's one row, which its WHERE leaves empty once it is done), so
 * that no plan of the server's can scan the table for nothing.
 */
#define PGSTORE_UNCOUNTED(q)                                                    \
	"SELECT x.* FROM execlog_counts_state s CROSS JOIN LATERAL (" q ") x"   \
	" WHERE s.next_id IS NOT NULL"

/* A day's range of started_at, $1 and $2 (null: every day). */
#define PGSTORE_DAY_RANGE                                                       \
	"($1::bigint IS NULL OR (started_at >= $1::bigint AND started_at < $2::bigint))"

int pgstore_count_outcomes(struct store *base, const struct store_filter *filter,
			   uint64_t counts[STORE_OUTCOMES])
{
	struct pgstore *s = pgstore_of(base);
	char from[24], to[24], day[24];
	const char *params[3] = {
		filter->day >= 0 ? pgstore_int(from, sizeof(from), store_day_start(filter->day)) : NULL,
		filter->day >= 0 ? pgstore_int(to, sizeof(to), store_day_start(filter->day + 1)) : NULL,
		pgstore_int(day, sizeof(day), filter->day >= 0 ? filter->day : -1),
	};
	PGresult *res;
	int err;

	err = pgstore_run(s, PG_READ, "count by outcome", s->has_counts
			  ? "SELECT outcome, sum(n) FROM (SELECT outcome, n FROM execlog_counts"
			    " WHERE day = $3::bigint UNION ALL " PGSTORE_UNCOUNTED("SELECT outcome,"
			    " count(*) FROM execution_log WHERE id >= s.next_id AND " PGSTORE_DAY_RANGE
			    " GROUP BY outcome") ") k GROUP BY outcome"
			  : "SELECT outcome, count(*) FROM execution_log WHERE $3::bigint IS NOT NULL"
			    " AND " PGSTORE_DAY_RANGE " GROUP BY outcome", 3, params, &res);
	if (err)
		return err;
	for (int i = 0; i < PQntuples(res); i++) {
		int o = store_outcome_from_name(PQgetvalue(res, i, 0));

		/* A row of another program's with an outcome of its own counts nowhere. */
		if (o >= 0)
			counts[o] = (uint64_t)pgstore_get_int(res, i, 1);
	}
	PQclear(res);
	return 0;
}

/*
 * The aggregates: execlog_durations summed over its slots, plus, until the
 * backfill is done, the rows it has yet to count; on a table without it
 * (an older execlogfs's, read-only), one aggregate over the finished rows.
 * The latest finish is the latest ever kept (a delete does not move it
 * back), as on SQLite and LMDB; on the older table, that of the rows there.
 */
int pgstore_summary(struct store *base, struct store_summary *out)
{
	struct pgstore *s = pgstore_of(base);
	char bounds[STORE_DURATION_BUCKETS * 24] = "{";
	const char *params[1] = { bounds };
	size_t used = 1;
	PGresult *res;
	int err;

	for (int i = 0; i < STORE_DURATION_BUCKETS - 1; i++)
		used += (size_t)snprintf(bounds + used, sizeof(bounds) - used, "%s%lld", i ? "," : "",
					 (long long)store_duration_bounds_ms[i]);
	snprintf(bounds + used, sizeof(bounds) - used, "}");
	/* width_bucket() counts lower bounds in; ours are upper bounds, so d - 1. */
	err = pgstore_run(s, PG_READ, "summarize", s->has_counts
			  ? "SELECT bucket, sum(n), " CLAMP("sum(sum_ms)") ", max(last_finished_at)"
			    " FROM (SELECT bucket, n, sum_ms, last_finished_at FROM execlog_durations"
			    " UNION ALL " PGSTORE_UNCOUNTED("SELECT width_bucket(d - 1, $1::bigint[]),"
			    " count(*), " CLAMP("sum(d)") ", max(finished_at) FROM (SELECT "
			    DUR("execution_log") " AS d, finished_at FROM execution_log"
			    " WHERE outcome <> 'running' AND id >= s.next_id) f GROUP BY 1") ") a"
			    " GROUP BY bucket"
			  : "SELECT width_bucket(d - 1, $1::bigint[]), count(*), " CLAMP("sum(d)") ","
			    " max(finished_at) FROM (SELECT " DUR("execution_log") " AS d, finished_at"
			    " FROM execution_log WHERE outcome <> 'running') f GROUP BY 1",
			  1, params, &res);
	if (err)
		return err;
	for (int i = 0; i < PQntuples(res); i++) {
		int64_t bucket = pgstore_get_int(res, i, 0), last = pgstore_get_int(res, i, 3);

		if (bucket < 0 || bucket >= STORE_DURATION_BUCKETS)
			continue;
		out->finished[bucket] += (uint64_t)pgstore_get_int(res, i, 1);
		out->duration_sum_ms = store_add_saturated(out->duration_sum_ms,
							   pgstore_get_int(res, i, 2));
		if (last != STORE_NULL && (out->last_finished_at == STORE_NULL || last > out->last_finished_at))
			out->last_finished_at = last;
	}
	PQclear(res);
	return 0;
}
