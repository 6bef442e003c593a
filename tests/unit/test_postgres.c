/*
 * test_postgres.c - PostgreSQL's kept counts and their backfill (issue 21),
 * checked against the table itself through a libpq session of the test's.
 *
 * Usage: test_postgres CASE. Each case works in a database of its own,
 * created on the server of $EXECLOG_PG_CONNINFO or of `$EXECLOG_PG_SERVER
 * conninfo` (as test_store.c) and dropped when it exits. Every count the
 * store gives is compared with a count(*) the test runs itself; the
 * changes come through the store and, as psql's would, through SQL.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "store.h"

/* 2026-01-01T00:00:00Z in ms. */
#define T0_MS INT64_C(1767225600000)

static const char *g_case;

/* Called under stderr's lock (check.h's fail()), so one buffer serves. */
static const char *check_where(void)
{
	static char where[160];

	snprintf(where, sizeof(where), "postgres %s", g_case ? g_case : "?");
	return where;
}
static char *g_admin;      /* the connection string of the maintenance database */
static char g_name[96];    /* the case's database */
static char *g_db;         /* its connection string */
static pid_t g_parent;

/* ---- checks ------------------------------------------------------------ */

/* As CHECK_EQ, naming what was counted. */
#define CHECK_COUNT(actual, expected, what)                             \
	do {                                                            \
		int64_t a_ = (int64_t)(actual), e_ = (int64_t)(expected); \
		if (a_ != e_)                                           \
			fail(__FILE__, __LINE__, what, "got %" PRId64 ", expected %" PRId64, a_, e_); \
	} while (0)

/* ---- SQL of the test's own ------------------------------------------------ */

static PGconn *db_connect(const char *conninfo)
{
	PGconn *pg = PQconnectdb(conninfo);

	if (PQstatus(pg) != CONNECTION_OK)
		fail(__FILE__, __LINE__, "connect", "%s", PQerrorMessage(pg));
	PQclear(PQexec(pg, "SET client_min_messages = warning"));
	return pg;
}

static void q_exec(PGconn *pg, const char *sql)
{
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail(__FILE__, __LINE__, sql, "%s", PQerrorMessage(pg));
	PQclear(res);
}

/* The integer the one-row @sql returns, STORE_NULL for SQL null. */
static int64_t q_int(PGconn *pg, const char *sql)
{
	PGresult *res = PQexec(pg, sql);
	int64_t v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fail(__FILE__, __LINE__, sql, "%s", PQerrorMessage(pg));
	v = PQgetisnull(res, 0, 0) ? STORE_NULL : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

/* ---- a database per case ----------------------------------------------------- */

static void drop_case_db(void)
{
	PGconn *pg;
	char *sql;

	if (g_name[0] == '\0' || getpid() != g_parent || getenv("EXECLOG_TEST_KEEP"))
		return;
	pg = db_connect(g_admin);
	sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", g_name);
	PQclear(PQexec(pg, sql));
	free(sql);
	PQfinish(pg);
}

/* The server: $EXECLOG_PG_CONNINFO, or the throw-away one of $EXECLOG_PG_SERVER. */
static void find_server(void)
{
	const char *given = getenv("EXECLOG_PG_CONNINFO"), *server = getenv("EXECLOG_PG_SERVER");
	char line[1024] = "";
	char *cmd;
	FILE *out;

	if (given && given[0]) {
		g_admin = strdup(given);
		return;
	}
	if (server == NULL || server[0] == '\0') {
		fprintf(stderr, "postgres: set EXECLOG_PG_CONNINFO or EXECLOG_PG_SERVER\n");
		exit(1);
	}
	cmd = xasprintf("'%s' conninfo", server);
	out = popen(cmd, "r");
	free(cmd);
	CHECK(out != NULL);
	if (fgets(line, sizeof(line), out) == NULL)
		line[0] = '\0';
	if (pclose(out) != 0 || line[0] == '\0') {
		fprintf(stderr, "postgres: %s conninfo failed\n", server);
		exit(1);
	}
	line[strcspn(line, "\n")] = '\0';
	g_admin = strdup(line);
}

static void make_case_db(void)
{
	PGconn *pg;
	char *sql;

	find_server();
	CHECK(g_admin != NULL);
	snprintf(g_name, sizeof(g_name), "execlog_pg_%s_%d", g_case, (int)getpid());
	pg = db_connect(g_admin);
	sql = xasprintf("CREATE DATABASE %s", g_name);
	q_exec(pg, sql);
	free(sql);
	PQfinish(pg);
	g_parent = getpid();
	atexit(drop_case_db);
	g_db = xasprintf("%s dbname=%s", g_admin, g_name);
}

/* ---- the store ------------------------------------------------------------- */

static struct store *open_st(bool read_only)
{
	struct store_options opts = { .read_only = read_only, .sync = STORE_SYNC_NORMAL };
	struct store *s = NULL;

	CHECK_EQ(store_open("postgres", g_db, &opts, &s), 0);
	return s;
}

static void start_run(struct store *s, const char *name, int64_t started_ms)
{
	struct store_record rec = {
		.execution_id = strdup(name), .tool_version = strdup("1"),
		.args = strdup("[\"/bin/x\"]"), .db_path = strdup("/db"), .started_ms = started_ms,
		.exit_code = STORE_NULL, .signal = STORE_NULL, .uid = STORE_NULL, .pid = STORE_NULL,
	};

	CHECK(rec.execution_id && rec.tool_version && rec.args && rec.db_path);
	CHECK_EQ(store_start(s, &rec), 0);
	store_record_clear(&rec);
}

static void finish_run(struct store *s, const char *name, enum store_outcome o, int64_t now_ms)
{
	struct store_finish fin = { .outcome = o, .exit_code = STORE_NULL, .signal = STORE_NULL };

	CHECK_EQ(store_finish(s, name, &fin, now_ms), 0);
}

/*
 * A table of an older shape (magellan's columns, as psql or an older
 * execlogfs left it): @n rows over ten days and a few off them, every
 * outcome and one of another program's, durations null, negative and of
 * every bucket, args mostly JSON with a tool and some not.
 */
static void old_table(PGconn *pg, int n)
{
	char *sql = xasprintf(
		"CREATE TABLE execution_log (id BIGSERIAL PRIMARY KEY, execution_id TEXT NOT NULL UNIQUE,"
		" tool_version TEXT NOT NULL, args TEXT NOT NULL, root TEXT, db_path TEXT NOT NULL,"
		" started_at BIGINT NOT NULL, finished_at BIGINT, duration_ms BIGINT, outcome TEXT NOT NULL,"
		" error_message TEXT, files_indexed BIGINT DEFAULT 0, symbols_indexed BIGINT DEFAULT 0,"
		" references_indexed BIGINT DEFAULT 0);"
		"INSERT INTO execution_log (execution_id, tool_version, args, db_path, started_at,"
		" finished_at, duration_ms, outcome) SELECT 'old-' || i, '1',"
		" CASE WHEN i %% 11 = 0 THEN 'not json' WHEN i %% 23 = 0 THEN '[\"a\\/b\"]'"
		" ELSE '[\"/usr/bin/tool' || (i %% 5) || '\", \"-x\"]' END, '/db',"
		" CASE WHEN i %% 97 = 0 THEN -5 WHEN i %% 89 = 0 THEN 253402300800 + i"
		" ELSE 1767225600 + (i %% 10) * 86400 + i END,"
		" CASE WHEN i %% 4 = 0 THEN NULL ELSE 1767225600 + i END,"
		" CASE WHEN i %% 4 = 0 OR i %% 13 = 0 THEN NULL WHEN i %% 17 = 0 THEN -50"
		" ELSE (i * 7919) %% 4000000 END,"
		" CASE i %% 4 WHEN 0 THEN 'running' WHEN 1 THEN 'success' WHEN 2 THEN 'error'"
		" ELSE CASE WHEN i %% 3 = 0 THEN 'partial' ELSE 'weird' END END"
		" FROM generate_series(1, %d) AS g(i)", n);

	q_exec(pg, sql);
	free(sql);
}

/* The bounds of the histogram as an SQL array. */
static char *bounds_sql(void)
{
	char buf[STORE_DURATION_BUCKETS * 24] = "ARRAY[";

	for (int i = 0; i < STORE_DURATION_BUCKETS - 1; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%" PRId64, i ? "," : "",
			 store_duration_bounds_ms[i]);
	return xasprintf("%s]::bigint[]", buf);
}

/* The summary against the rows: buckets and sum exact, the latest finish at least theirs. */
static void check_summary(struct store *s, PGconn *pg)
{
	struct store_summary sum;
	char *bounds = bounds_sql(), *sql;
	int64_t total = 0, last;

	CHECK_EQ(store_summary(s, &sum), 0);
	for (int b = 0; b < STORE_DURATION_BUCKETS; b++) {
		sql = xasprintf("SELECT count(*) FROM execution_log WHERE outcome <> 'running' AND"
				" width_bucket(GREATEST(COALESCE(duration_ms, 0), 0) - 1, %s) = %d",
				bounds, b);
		CHECK_COUNT(sum.finished[b], q_int(pg, sql), "a bucket of the summary");
		free(sql);
		total += (int64_t)sum.finished[b];
	}
	CHECK_COUNT(total, q_int(pg, "SELECT count(*) FROM execution_log WHERE outcome <> 'running'"),
		    "finished");
	CHECK_COUNT(sum.duration_sum_ms,
		    q_int(pg, "SELECT COALESCE(sum(GREATEST(COALESCE(duration_ms, 0), 0)), 0)"
			  " FROM execution_log WHERE outcome <> 'running'"), "the sum of durations");
	last = q_int(pg, "SELECT max(finished_at) FROM execution_log WHERE outcome <> 'running'");
	if (last != STORE_NULL)
		CHECK(sum.last_finished_at != STORE_NULL && sum.last_finished_at >= last);
	free(bounds);
}

/*
 * The kept counts themselves, summed over their slots, against the rows,
 * (day, outcome) by (day, outcome): what the store reads is no count(*).
 */
static void check_kept(PGconn *pg)
{
	static const char rows[] =
		"SELECT v.d AS day, r.o AS outcome, count(*) AS n FROM (SELECT CASE WHEN started_at >= 0"
		" AND started_at < 253402300800 THEN started_at / 86400 END AS d0,"
		" CASE WHEN outcome IN ('running', 'success', 'error', 'partial') THEN outcome ELSE ''"
		" END AS o FROM execution_log) r, LATERAL (VALUES (-1::bigint), (r.d0)) AS v(d)"
		" WHERE v.d IS NOT NULL GROUP BY 1, 2";
	static const char kept[] =
		"SELECT day, outcome, sum(n) FROM execlog_counts GROUP BY 1, 2 HAVING sum(n) <> 0";
	char *sql = xasprintf("SELECT count(*) FROM ((%s EXCEPT %s) UNION ALL (%s EXCEPT %s)) x",
			      rows, kept, kept, rows);

	CHECK_EQ(q_int(pg, sql), 0);
	free(sql);
}

/* Every count the store gives, each against a count(*) of the rows. */
static void check_counts(struct store *s, PGconn *pg)
{
	PGresult *days = PQexec(pg, "SELECT DISTINCT started_at / 86400 FROM execution_log"
				" WHERE started_at >= 0 AND started_at < 253402300800 UNION SELECT -1");
	uint64_t n, by[STORE_OUTCOMES];

	CHECK(PQresultStatus(days) == PGRES_TUPLES_OK);
	for (int i = 0; i < PQntuples(days); i++) {
		int64_t day = strtoll(PQgetvalue(days, i, 0), NULL, 10);
		char *where = day < 0 ? xasprintf("true")
			: xasprintf("started_at >= %" PRId64 " AND started_at < %" PRId64,
				    day * 86400, (day + 1) * 86400);
		struct store_filter f = { .outcome = -1, .day = day, .attr = STORE_ATTR_NONE };
		char *sql = xasprintf("SELECT count(*) FROM execution_log WHERE %s", where);

		CHECK_EQ(store_count(s, &f, &n), 0);
		CHECK_COUNT(n, q_int(pg, sql), sql);
		free(sql);
		CHECK_EQ(store_count_outcomes(s, &f, by), 0);
		for (int o = 0; o < STORE_OUTCOMES; o++) {
			sql = xasprintf("SELECT count(*) FROM execution_log WHERE %s AND outcome = '%s'",
					where, store_outcome_name(o));
			f.outcome = o;
			CHECK_EQ(store_count(s, &f, &n), 0);
			CHECK_COUNT(n, q_int(pg, sql), sql);
			CHECK_COUNT(by[o], n, "count_outcomes against count");
			free(sql);
		}
		free(where);
	}
	PQclear(days);
	check_summary(s, pg);
	if (q_int(pg, "SELECT count(*) FROM execlog_counts_state WHERE next_id IS NULL") > 0)
		check_kept(pg);
}

/* Whether the backfill has rows left to count or to give their tool. */
static bool pending(PGconn *pg)
{
	return q_int(pg, "SELECT count(*) FROM execlog_counts_state WHERE next_id IS NOT NULL"
		     " OR tool_next IS NOT NULL") > 0;
}

/* Polls until the backfill has counted every row (meson's timeout bounds it). */
static void wait_backfilled(PGconn *pg)
{
	while (pending(pg))
		usleep(2000);
}

/* The views' indexes that are valid, on the right columns. */
static int64_t indexes_valid(PGconn *pg)
{
	return q_int(pg, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
		     " WHERE i.indrelid = 'execution_log'::regclass AND i.indisvalid AND"
		     " (c.relname, pg_get_indexdef(c.oid) LIKE '%(' || CASE c.relname"
		     " WHEN 'idx_execution_log_user' THEN '\"user\"' ELSE split_part(c.relname, '_', 4)"
		     " END || ', id)') IN (('idx_execution_log_host', true), ('idx_execution_log_user', true),"
		     " ('idx_execution_log_tool', true))");
}

/* ---- cases ------------------------------------------------------------------- */

/*
 * kept_counts: the counts and summary follow every change, the store's
 * and those of another session's SQL (inserts, updates of outcome,
 * started_at, id, duration and finished_at, deletes, TRUNCATE), also
 * from a session whose search_path does not name the tables' schema.
 */
static void case_kept_counts(void)
{
	struct store *s = open_st(false);
	PGconn *pg = db_connect(g_db);

	start_run(s, "a", T0_MS);
	start_run(s, "b", T0_MS + 86400000);
	start_run(s, "c", T0_MS + 2 * 86400000);
	finish_run(s, "a", STORE_SUCCESS, T0_MS + 1500);
	finish_run(s, "b", STORE_ERROR, T0_MS + 86400000 + 20);
	check_counts(s, pg);
	q_exec(pg, "INSERT INTO execution_log (execution_id, tool_version, args, db_path, started_at,"
		   " finished_at, duration_ms, outcome) SELECT 'sql-' || i, '1', '[\"/bin/y\"]', '/db',"
		   " CASE WHEN i % 31 = 0 THEN -100 ELSE 1767225600 + (i % 7) * 86400 END,"
		   " 1767225600 + i, (i * 7919) % 4000000, (ARRAY['running', 'success', 'error',"
		   " 'partial', 'other'])[1 + i % 5] FROM generate_series(1, 300) AS g(i)");
	check_counts(s, pg);
	q_exec(pg, "UPDATE execution_log SET outcome = 'error' WHERE id % 3 = 0 AND outcome = 'success'");
	q_exec(pg, "UPDATE execution_log SET outcome = 'running' WHERE id % 11 = 0 AND outcome = 'error'");
	check_counts(s, pg);
	q_exec(pg, "UPDATE execution_log SET started_at = started_at + 3 * 86400 WHERE id % 5 = 0");
	q_exec(pg, "UPDATE execution_log SET started_at = -7 WHERE id % 13 = 0");
	q_exec(pg, "UPDATE execution_log SET started_at = 253402300800 WHERE id % 17 = 0");
	check_counts(s, pg);
	q_exec(pg, "UPDATE execution_log SET id = id + 100000 WHERE id % 7 = 0");
	check_counts(s, pg);
	q_exec(pg, "UPDATE execution_log SET duration_ms = duration_ms * 1000 WHERE id % 2 = 0");
	q_exec(pg, "UPDATE execution_log SET duration_ms = NULL WHERE id % 9 = 0");
	q_exec(pg, "UPDATE execution_log SET duration_ms = -1 WHERE id % 19 = 0");
	q_exec(pg, "UPDATE execution_log SET finished_at = finished_at + 5000000");
	check_counts(s, pg);
	q_exec(pg, "SET search_path = pg_catalog");
	q_exec(pg, "INSERT INTO public.execution_log (execution_id, tool_version, args, db_path,"
		   " started_at, outcome) VALUES ('path', '1', '[\"/bin/p\"]', '/db', 1767225600, 'success')");
	q_exec(pg, "DELETE FROM public.execution_log WHERE id % 4 = 1");
	q_exec(pg, "RESET search_path");
	check_counts(s, pg);
	CHECK_EQ(store_delete(s, "b"), 0);
	check_counts(s, pg);
	/* Near the end of int64 the sum saturates (no longer exact), and nothing fails. */
	q_exec(pg, "UPDATE execution_log SET duration_ms = 9223372036854775807 WHERE id % 3 = 0");
	q_exec(pg, "UPDATE execution_log SET duration_ms = 1 WHERE id % 6 = 0");
	{
		struct store_summary sum;

		CHECK_EQ(store_summary(s, &sum), 0);
	}
	q_exec(pg, "TRUNCATE execution_log CASCADE");
	check_counts(s, pg);
	start_run(s, "d", T0_MS);
	check_counts(s, pg);
	store_close(s);
	PQfinish(pg);
}

/* The digest of the aggregates, the watermark and the tools: to see that nothing changed. */
static char *aggregates_digest(PGconn *pg)
{
	PGresult *res = PQexec(pg,
		"SELECT md5(concat((SELECT string_agg(c::text, ',' ORDER BY c::text) FROM execlog_counts c),"
		" (SELECT string_agg(d::text, ',' ORDER BY d::text) FROM execlog_durations d),"
		" (SELECT string_agg(s::text, ',') FROM execlog_counts_state s),"
		" (SELECT string_agg(id || ':' || COALESCE(tool, ''), ',' ORDER BY id) FROM execution_log)))");
	char *out;

	CHECK(PQresultStatus(res) == PGRES_TUPLES_OK);
	out = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

/* The tools the backfill gave are the trigger's for every row. */
static void check_tools(PGconn *pg)
{
	CHECK_EQ(q_int(pg, "SELECT count(*) FROM execution_log WHERE tool IS DISTINCT FROM"
		       " execlog_tool_of(args)"), 0);
	CHECK(q_int(pg, "SELECT count(*) FROM execution_log WHERE tool = 'tool1'") > 0);
}

/*
 * backfill_killed: a store killed (kill -9) in the middle of its first
 * mount's backfill; read-only meanwhile, the counts are right and nothing
 * is written; mounted again, the backfill resumes and ends, counts right.
 */
static void case_backfill_killed(void)
{
	PGconn *pg = db_connect(g_db);
	struct store *s;
	char *before, byte;
	int status, opened[2];
	pid_t child;

	old_table(pg, 3000);
	/* An index build that failed half-way (as one a kill interrupts): left invalid. */
	PQclear(PQexec(pg, "CREATE UNIQUE INDEX CONCURRENTLY idx_execution_log_host"
		       " ON execution_log(db_path)"));
	CHECK_EQ(q_int(pg, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"), 1);
	CHECK_EQ(pipe(opened), 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		/* Never outlives a parent whose check failed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setenv("EXECLOGFS_TEST_BACKFILL_BATCH", "3", 1);
		s = open_st(false);
		CHECK_EQ(write(opened[1], "o", 1), 1);
		for (;;)
			pause();
	}
	/* Opened: the schema, with the watermark at the first row, is committed. */
	CHECK_EQ(read(opened[0], &byte, 1), 1);
	CHECK(pending(pg));
	/* Some batches done, most not: 1000 batches of 3 rows. */
	while (q_int(pg, "SELECT COALESCE(max(next_id), 0) FROM execlog_counts_state") < 30)
		usleep(1000);
	CHECK_EQ(kill(child, SIGKILL), 0);
	CHECK_EQ(waitpid(child, &status, 0), child);
	/* The server ends the child's session (and its batch) on its own time: wait for that. */
	while (q_int(pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
		     " AND pid <> pg_backend_pid()") > 0)
		usleep(1000);
	CHECK(pending(pg));
	before = aggregates_digest(pg);
	s = open_st(true);
	check_counts(s, pg);
	store_close(s);
	{
		char *after = aggregates_digest(pg);

		CHECK(strcmp(before, after) == 0);
		free(after);
	}
	free(before);
	CHECK(pending(pg));
	setenv("EXECLOGFS_TEST_BACKFILL_BATCH", "100", 1);
	s = open_st(false);
	wait_backfilled(pg);
	check_counts(s, pg);
	check_tools(pg);
	/* Then the views' indexes, the invalid one made again. */
	while (indexes_valid(pg) < 3)
		usleep(2000);
	CHECK_EQ(q_int(pg, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"), 0);
	store_close(s);
	PQfinish(pg);
}

/* backfill_reads: reads while the backfill runs, between its batches, are right. */
static void case_backfill_reads(void)
{
	PGconn *pg = db_connect(g_db);
	struct store *s;
	int during = 0;

	old_table(pg, 2000);
	setenv("EXECLOGFS_TEST_BACKFILL_BATCH", "7", 1);
	s = open_st(false);
	while (pending(pg)) {
		check_counts(s, pg);
		during++;
	}
	CHECK(during > 0);
	check_counts(s, pg);
	check_tools(pg);
	store_close(s);
	PQfinish(pg);
}

struct writer {
	struct store *s;
	int n;
};

/* Starts, finishes and deletes runs of its own through its store. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (int i = 0; i < 60; i++) {
		char name[64];

		snprintf(name, sizeof(name), "w%d-%d", w->n, i);
		start_run(w->s, name, T0_MS + (int64_t)(i % 3) * 86400000 + i);
		if (i % 5 != 4)
			finish_run(w->s, name, (enum store_outcome)(1 + i % 3), T0_MS + i * 997);
		if (i % 5 != 4 && i % 4 == 1)
			CHECK_EQ(store_delete(w->s, name), 0);
	}
	return NULL;
}

/* backfill_writers: writers on two stores while both run the backfill: counts exact at the end. */
static void case_backfill_writers(void)
{
	PGconn *pg = db_connect(g_db);
	struct writer w[4];
	pthread_t t[4];
	struct store *s[2];

	old_table(pg, 6000);
	setenv("EXECLOGFS_TEST_BACKFILL_BATCH", "3", 1);
	s[0] = open_st(false);
	s[1] = open_st(false);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){ .s = s[i % 2], .n = i };
		CHECK_EQ(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	/* The writers write while the backfill runs (2000 batches). */
	CHECK(pending(pg));
	for (int i = 0; i < 4; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	wait_backfilled(pg);
	check_counts(s[0], pg);
	check_counts(s[1], pg);
	check_tools(pg);
	store_close(s[0]);
	store_close(s[1]);
	PQfinish(pg);
}

/*
 * The tool function's answers (the fast path by regular expression, the
 * rest by jsonb) against the former trigger's (jsonb in an EXCEPTION
 * block for every row) on hostile args; and the trigger's, by inserts.
 */
static void case_tool_of(void)
{
	static const char *const args[] = {
		"[\"/usr/bin/make\", \"-j4\"]", "[\"make\"]", "[\"\"]", "[\"/\"]", "[\"a/\"]",
		"[\"dir/sub/tool\"]", "  [ \"x\" , \"y\" ]  ", "\t[\"tab\"]\n", "\r\n[\"crlf\"]\r\n",
		"\v[\"vt\"]", "\f[\"ff\"]", "[\"a\\/b\"]", "[\"a\\\\b\"]", "[\"q\\\"uote\"]",
		"[\"\\u002fslash\"]", "[\"x/\\u0041\"]", "[\"\\u0000\"]", "[\"\\ud800\"]",
		"[\"line\nbreak\"]", "[\"tab\there\"]", "[\"a\", 1]", "[1, \"a\"]", "[]", "[ ]",
		"[\"a\",]", "[\"a\"", "\"a\"", "{\"a\":1}", "null", "", " ", "not json", "[\"a\"]x",
		"[\"a\"] [\"b\"]", "[[\"a\"]]", "[\"caf\xc3\xa9/t\xc3\xa9\"]", "[\"a\"\xc2\xa0]",
		"\xc2\xa0[\"nbsp\"]", "[\"x\", \"y\\n\"]", "[\"\x7f\"]", "[\"a/b/\"]",
		"[\"/a/b/c\", {\"k\": [1, 2]}]", "[\"a\" , \"b\" , ]", "[\"a\"]\xe2\x80\xa8",
		"[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"]", "[\"../..//x\"]", "[\"//\"]",
		"[\"a\" \"b\"]", "[\"a\",,\"b\"]", "[\"\\\"]", "[\"$1\"]", "['a']", "[\"a\"]\x01",
		"[\"\\/usr\\/bin\\/env\"]", "[\"a\\u002F\"]", "[\"\xf0\x9f\x98\x80/emoji\"]",
	};
	struct store *s = open_st(false);
	PGconn *pg = db_connect(g_db);

	q_exec(pg, "CREATE FUNCTION old_tool_of(v text) RETURNS text LANGUAGE plpgsql AS $f$\n"
		   "DECLARE a jsonb;\n"
		   "BEGIN\n"
		   "    BEGIN\n"
		   "        a := v::jsonb;\n"
		   "        IF jsonb_typeof(a) = 'array' AND jsonb_typeof(a->0) = 'string' THEN\n"
		   "            RETURN NULLIF(regexp_replace(a->>0, '^.*/', ''), '');\n"
		   "        END IF;\n"
		   "    EXCEPTION WHEN others THEN\n"
		   "        RETURN NULL;\n"
		   "    END;\n"
		   "    RETURN NULL;\n"
		   "END $f$");
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		const char *params[2] = { args[i], NULL };
		char name[32];
		PGresult *res;

		snprintf(name, sizeof(name), "tool-%zu", i);
		params[1] = name;
		res = PQexecParams(pg, "SELECT execlog_tool_of($1), old_tool_of($1),"
				   " execlog_tool_of($1) IS NOT DISTINCT FROM old_tool_of($1)",
				   1, NULL, params, NULL, NULL, 0);
		CHECK(PQresultStatus(res) == PGRES_TUPLES_OK);
		if (strcmp(PQgetvalue(res, 0, 2), "t") != 0)
			fail(__FILE__, __LINE__, "execlog_tool_of == the former trigger's",
			     "args %zu: got %s, expected %s", i,
			     PQgetisnull(res, 0, 0) ? "NULL" : PQgetvalue(res, 0, 0),
			     PQgetisnull(res, 0, 1) ? "NULL" : PQgetvalue(res, 0, 1));
		PQclear(res);
		res = PQexecParams(pg, "INSERT INTO execution_log (execution_id, tool_version, args,"
				   " db_path, started_at, outcome) VALUES ($2, '1', $1, '/db', 0, 'success')",
				   2, NULL, params, NULL, NULL, 0);
		CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
		PQclear(res);
	}
	CHECK_EQ(q_int(pg, "SELECT count(*) FROM execution_log WHERE tool IS DISTINCT FROM"
		       " old_tool_of(args)"), 0);
	CHECK_EQ(q_int(pg, "SELECT count(*) FROM execution_log WHERE tool = 'make'"), 2);
	store_close(s);
	PQfinish(pg);
}

static const struct {
	const char *name;
	void (*run)(void);
} cases[] = {
	{ "kept_counts", case_kept_counts },
	{ "backfill_killed", case_backfill_killed },
	{ "backfill_reads", case_backfill_reads },
	{ "backfill_writers", case_backfill_writers },
	{ "tool_of", case_tool_of },
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CASE\n", argv[0]);
		return 2;
	}
	g_case = argv[1];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].name, g_case) == 0) {
			make_case_db();
			cases[i].run();
			printf("ok - postgres %s\n", g_case);
			return 0;
		}
	}
	fprintf(stderr, "%s: unknown case %s\n", argv[0], g_case);
	return 2;
}
