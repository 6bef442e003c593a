/*
 * sqlite_counts.c - the counts by outcome and by (day, outcome), kept in
 * execlogfs's own table execlogfs_counts so that counting costs the same
 * at 10M rows as at 100 (issue 21).
 *
 * execlogfs_counts (day, outcome, n): day -1 holds the totals of all rows,
 * day d >= 0 those whose started_at falls on UTC day d (store_day_of(),
 * days in [0, STORE_DAY_END) only: a row outside them is in the totals
 * alone). outcome is one of the four, or '' for a row of another program
 * with an outcome of its own: counted in no outcome, but in the count of
 * all rows, as a listing of all rows shows it.
 *
 * Triggers on execution_log keep it in the transaction of each insert,
 * update of id, started_at or outcome, and delete, whoever writes. A store
 * that had rows before the table (magellan's, an earlier execlogfs's) gets
 * them counted by a backfill in ascending id ranges, each batch one
 * transaction that also advances the watermark execlogfs_counts_state.next_id:
 * rows with an id below it are counted (by the backfill, then the
 * triggers), rows at or above it are not yet, and the triggers leave them
 * to the backfill, so that nothing is counted twice or missed while others
 * write. next_id null: all rows are counted. The same batches give an
 * older store's rows their tool (execlogfs_runs.tool) when state.tools is
 * set. Until the backfill ends, a read adds to the aggregate the rows at
 * or above the watermark, counted in the same statement (sqlite_sql.c):
 * it costs what is left to count, less with each batch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqlstore.h"

/* The first second after the last nameable day, as SQL text below. */
_Static_assert(STORE_DAY_END * 86400 == INT64_C(253402300800), "the day bound in the SQL");

#define COUNTED(r) SQLSTORE_COUNTED(r)

/* The outcome key of row @r: one of the four, else ''. */
#define OUTCOME_KEY(r)                                                          \
	"CASE WHEN " r ".outcome IN ('running', 'success', 'error', 'partial')"  \
	" THEN " r ".outcome ELSE '' END"

/* The day of row @r as store_day_of() (floor; started_at >= 0 here), or NULL off the days. */
#define DAY_OF(r)                                                               \
	"CASE WHEN typeof(" r ".started_at) IN ('integer', 'real') AND "         \
	r ".started_at >= 0 AND " r ".started_at < 253402300800"                 \
	" THEN CAST(" r ".started_at AS INTEGER) / 86400 END"

/* Adds @sign to the total and the day of row @r, when it is counted. */
#define COUNT_ROW(r, sign)                                                      \
	" INSERT INTO execlogfs_counts (day, outcome, n)"                        \
	" SELECT d, " OUTCOME_KEY(r) ", " sign " FROM (SELECT -1 AS d UNION ALL SELECT " \
	DAY_OF(r) ") WHERE d IS NOT NULL AND " COUNTED(r)                        \
	" ON CONFLICT (day, outcome) DO UPDATE SET n = n + excluded.n;"

static const char sqlstore_counts_tables[] =
	"CREATE TABLE IF NOT EXISTS execlogfs_counts (day INTEGER NOT NULL, outcome TEXT NOT NULL,"
	" n INTEGER NOT NULL, PRIMARY KEY (day, outcome)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS execlogfs_counts_state (k INTEGER PRIMARY KEY CHECK (k = 0),"
	" next_id INTEGER, tools INTEGER NOT NULL, durations INTEGER NOT NULL DEFAULT 0);";

/* The triggers, by name and exact text (replaced when of another text). */
static const char *const sqlstore_counts_triggers[][2] = {
	{ "execlogfs_counts_insert",
	  "CREATE TRIGGER execlogfs_counts_insert AFTER INSERT ON execution_log BEGIN"
	  COUNT_ROW("NEW", "1") " END" },
	{ "execlogfs_counts_delete",
	  "CREATE TRIGGER execlogfs_counts_delete AFTER DELETE ON execution_log BEGIN"
	  COUNT_ROW("OLD", "-1") " END" },
	{ "execlogfs_counts_update",
	  "CREATE TRIGGER execlogfs_counts_update AFTER UPDATE OF id, started_at, outcome"
	  " ON execution_log WHEN NEW.id IS NOT OLD.id OR NEW.started_at IS NOT OLD.started_at"
	  " OR NEW.outcome IS NOT OLD.outcome BEGIN"
	  COUNT_ROW("OLD", "-1") COUNT_ROW("NEW", "1") " END" },
};

/* The rows of one batch: ids in [?1, ?2], both bounds of the primary key's range. */
#define BATCH_ROWS "FROM execution_log WHERE id >= ?1 AND id <= ?2"

/* One batch's counts, added to what is there. */
static const char sqlstore_counts_batch_sql[] =
	"INSERT INTO execlogfs_counts (day, outcome, n)"
	" SELECT d, k, count(*) FROM (SELECT -1 AS d, " OUTCOME_KEY("execution_log") " AS k "
	BATCH_ROWS " UNION ALL SELECT " DAY_OF("execution_log") ", " OUTCOME_KEY("execution_log")
	" " BATCH_ROWS ") WHERE d IS NOT NULL GROUP BY d, k"
	" ON CONFLICT (day, outcome) DO UPDATE SET n = n + excluded.n";

int sqlstore_counts_create(sqlite3 *db, bool give_tools, bool *tools_deferred)
{
	sqlite3_stmt *st;
	bool found;
	int rc, err;

	*tools_deferred = false;
	err = sqlstore_table_exists(db, "execlogfs_counts_state", &found);
	if (err == 0)
		err = sqlstore_exec(db, sqlstore_counts_tables, "create execlogfs_counts");
	if (err == 0 && !found) {
		/* Every row there now is the backfill's: next_id is the least id (null: none). */
		rc = sqlite3_prepare_v2(db, "INSERT INTO execlogfs_counts_state (k, next_id, tools)"
					" SELECT 0, min(id), ?1 AND min(id) IS NOT NULL FROM execution_log",
					-1, &st, NULL);
		if (rc != SQLITE_OK)
			return sqlstore_fail(db, rc, "create execlogfs_counts");
		sqlite3_bind_int(st, 1, give_tools);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return sqlstore_fail(db, rc, "create execlogfs_counts");
		*tools_deferred = give_tools;
	}
	if (err == 0)
		err = sqlstore_triggers_set(db, sqlstore_counts_triggers,
					    sizeof(sqlstore_counts_triggers) / sizeof(sqlstore_counts_triggers[0]));
	return err;
}

/*
 * Reads the watermark into *@next (false in *@pending when all rows are
 * counted), and what else the backfill does: tools, durations.
 */
static int sqlstore_counts_state(sqlite3 *db, bool *pending, int64_t *next, bool *tools,
				 bool *durations)
{
	sqlite3_stmt *st;
	int rc;

	*pending = false;
	rc = sqlite3_prepare_v2(db, "SELECT next_id, tools, durations FROM execlogfs_counts_state", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlstore_fail(db, rc, "read execlogfs_counts_state");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*pending = true;
		*next = sqlite3_column_int64(st, 0);
		*tools = sqlite3_column_int(st, 1) != 0;
		*durations = sqlite3_column_int(st, 2) != 0;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlstore_fail(db, rc, "read execlogfs_counts_state");
}

/* Runs @sql with ?1 = @from, ?2 = @to, one row at most into *@out (*@got: a non-null one). */
static int sqlstore_counts_run(sqlite3 *db, const char *sql, int64_t from, int64_t to,
			       int64_t *out, bool *got)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlstore_fail(db, rc, "count the rows");
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	rc = sqlite3_step(st);
	if (got)
		*got = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
	if (rc == SQLITE_ROW && out)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlstore_fail(db, rc, "count the rows");
}

/* A batch's finished rows added to execlogfs_durations (when it was made after the rows). */
static int sqlstore_counts_durations(sqlite3 *db, int64_t from, int64_t to)
{
	char bucket[1024], sql[2048];

	sqlstore_bucket_sql(bucket, sizeof(bucket), "execution_log");
	snprintf(sql, sizeof(sql),
		 "INSERT INTO execlogfs_durations (le_ms, finished, sum_ms, last_finished_at)"
		 " SELECT %s, count(*), sum(MAX(COALESCE(duration_ms, 0), 0)), max(finished_at) "
		 BATCH_ROWS " AND outcome <> 'running' GROUP BY 1"
		 " ON CONFLICT (le_ms) DO UPDATE SET finished = finished + excluded.finished,"
		 " sum_ms = sum_ms + excluded.sum_ms,"
		 " last_finished_at = CASE WHEN excluded.last_finished_at IS NOT NULL AND"
		 " (last_finished_at IS NULL OR excluded.last_finished_at > last_finished_at)"
		 " THEN excluded.last_finished_at ELSE last_finished_at END", bucket);
	return sqlstore_counts_run(db, sql, from, to, NULL, NULL);
}

/*
 * The work of one batch, in its transaction: the @batch rows from the
 * watermark on (ids in [next, to]), counted, given their tool, and the
 * watermark moved past them (null after the last row).
 */
static int sqlstore_counts_batch_in(sqlite3 *db, int64_t batch, bool *done)
{
	int64_t next = 0, to = 0, after = 0;
	bool pending, tools = false, durations = false, any = false, more = false;
	int err;

	err = sqlstore_counts_state(db, &pending, &next, &tools, &durations);
	*done = err == 0 && !pending;
	if (err || !pending)
		return err;
	/* The last id of the batch, by the primary key: ranges of rows, however sparse the ids. */
	err = sqlstore_counts_run(db, "SELECT max(id) FROM (SELECT id FROM execution_log WHERE id >= ?1"
				  " ORDER BY id LIMIT ?2)", next, batch, &to, &any);
	if (err == 0 && any)
		err = sqlstore_counts_run(db, sqlstore_counts_batch_sql, next, to, NULL, NULL);
	if (err == 0 && any && tools)
		err = sqlstore_counts_run(db, "INSERT INTO execlogfs_runs (id, tool) SELECT id, t FROM"
					  " (SELECT id, " SQLSTORE_TOOL_OF("args") " AS t " BATCH_ROWS ")"
					  " WHERE t IS NOT NULL"
					  " ON CONFLICT (id) DO UPDATE SET tool = excluded.tool",
					  next, to, NULL, NULL);
	if (err == 0 && any && durations)
		err = sqlstore_counts_durations(db, next, to);
	if (err == 0 && any && to < INT64_MAX)
		err = sqlstore_counts_run(db, "SELECT id FROM execution_log WHERE id > ?2 LIMIT 1",
					  next, to, &after, &more);
	if (err == 0)
		err = sqlstore_counts_run(db, more
					  ? "UPDATE execlogfs_counts_state SET next_id = ?2 + 1"
					  : "UPDATE execlogfs_counts_state SET next_id = NULL, tools = 0,"
					    " durations = 0", next, to, NULL, NULL);
	*done = err == 0 && !more;
	return err;
}

int sqlstore_counts_batch(sqlite3 *db, int64_t batch, bool *done)
{
	int err;

	*done = false;
	err = sqlstore_counts_batch_in(db, batch, done);
	if (err == 0)
		err = sqlstore_exec(db, "COMMIT", "commit counted rows");
	if (err) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		*done = false;
	}
	return err;
}

int64_t sqlstore_counts_batch_size(void)
{
	/* For tests only: a tiny batch makes a backfill long enough to interrupt. */
	const char *env = getenv("EXECLOGFS_TEST_BACKFILL_BATCH");
	long long n = env ? atoll(env) : 0;

	return n > 0 ? (int64_t)n : SQLSTORE_COUNTS_BATCH;
}

/*
 * The backfill, in a thread of its own, so that a mount answers at once
 * whatever the size of the log: one batch after the other until every row
 * is counted or the store is closed. Its batches are committed on the
 * connection that asks data_version (sqlite_version.c), so that they do
 * not move store_version(): reports are not rendered again for them. It
 * does not wait there for the write lock (a version asked meanwhile would
 * wait as long): held by another, the batch is tried again 20 ms later. A
 * batch that fails (a full disk) is tried again a second later: reads
 * count the rows left until it is done. Between two batches it pauses 2 ms,
 * so that a version asked meanwhile gets the connection.
 */
struct sqlstore_backfill {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	struct sqlstore *s;
	int64_t batch;
};

/* One batch, on the version's connection; *@busy when another holds the write lock. */
static int sqlstore_backfill_once(struct sqlstore_backfill *b, bool *done, bool *busy)
{
	sqlite3 *db;
	int rc, err;

	*done = false;
	*busy = false;
	err = sqlstore_version_lock(b->s, &db);
	if (err)
		return err;
	sqlite3_busy_timeout(db, 0);
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	sqlite3_busy_timeout(db, 5000);
	if ((rc & 0xff) == SQLITE_BUSY)
		*busy = true;
	else if (rc != SQLITE_OK)
		err = sqlstore_fail(db, rc, "lock the database to count the rows");
	else
		err = sqlstore_counts_batch(db, b->batch, done);
	sqlstore_version_unlock(b->s);
	return err;
}

static void *sqlstore_backfill_main(void *arg)
{
	struct sqlstore_backfill *b = arg;
	bool done = false, stop = false, busy;

	while (!done && !stop) {
		int err = sqlstore_backfill_once(b, &done, &busy);

		pthread_mutex_lock(&b->lock);
		if (!done && !b->stop) {
			/*
			 * A pause between batches, also after a good one: a
			 * version asked during the batch waits on the lock,
			 * which this thread would take again before the
			 * waiter runs (a mutex is not fair).
			 */
			long ms = err ? 1000 : busy ? 20 : 2;
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += ms / 1000;
			if ((until.tv_nsec += (ms % 1000) * 1000 * 1000) >= 1000 * 1000 * 1000) {
				until.tv_sec++;
				until.tv_nsec -= 1000 * 1000 * 1000;
			}
			pthread_cond_timedwait(&b->cond, &b->lock, &until);
		}
		stop = b->stop;
		pthread_mutex_unlock(&b->lock);
	}
	return NULL;
}

int sqlstore_counts_pending(sqlite3 *db, bool *pending)
{
	int64_t next;
	bool tools, durations, found;
	int err = sqlstore_table_exists(db, "execlogfs_counts_state", &found);

	*pending = false;
	if (err == 0 && found)
		err = sqlstore_counts_state(db, pending, &next, &tools, &durations);
	return err;
}

int sqlstore_backfill_start(struct sqlstore *s, sqlite3 *db)
{
	struct sqlstore_backfill *b;
	bool pending;
	int rc, err;

	err = sqlstore_counts_pending(db, &pending);
	if (err || !pending)
		return err;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return store_fail(-ENOMEM, "sqlite: out of memory");
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	b->batch = sqlstore_counts_batch_size();
	b->s = s;
	rc = pthread_create(&b->thread, NULL, sqlstore_backfill_main, b);
	if (rc != 0) {
		err = store_fail(-rc, "sqlite: cannot start the thread that counts the rows: %s",
				 strerror(rc));
		pthread_cond_destroy(&b->cond);
		pthread_mutex_destroy(&b->lock);
		free(b);
		return err;
	}
	s->backfill = b;
	return 0;
}

void sqlstore_backfill_stop(struct sqlstore *s)
{
	struct sqlstore_backfill *b = s->backfill;

	if (b == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	/* A batch under way ends first: it is one transaction, committed or not at all. */
	pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
	s->backfill = NULL;
}
