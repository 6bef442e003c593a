/*
 * sqlite_schema.c - the layout of a SQLite store: magellan's table, exactly,
 * and execlogfs's own tables beside it.
 *
 * execution_log keeps magellan's 14 columns, their types and constraints
 * and its three indexes, and nothing more, so that magellan's own tools
 * keep working on a store execlogfs has mounted: `magellan migrate-backend`
 * copies the table by the source's column list into a table made from
 * magellan's DDL, which a column of ours would break.
 *
 * What execlogfs keeps beyond magellan's columns lives in execlogfs_runs,
 * one row per execution that has any of it (times in ms, provenance, the
 * tool, output_bytes, tags), keyed by execution_log's id, and in
 * execlogfs_tag_index and execlogfs_output, keyed by it too. A row magellan inserts has none
 * but its tool: reads LEFT JOIN them and fall back to seconds and nulls.
 * Triggers keep them right whoever writes execution_log (see
 * sqlstore_triggers). A later column is one more line in
 * sqlstore_run_cols: an older store gets it with ALTER TABLE ... ADD
 * COLUMN at its next writable mount, and a trigger of another text is
 * replaced then.
 *
 * execlogfs 0.1.0 added started_at_ms and heartbeat_at_ms to execution_log
 * itself; a writable mount moves them into execlogfs_runs and drops them
 * (SQLite 3.35 or later), in the same transaction. Under -o ro nothing here
 * runs: sqlstore_schema_reads() reads a store as it is, whatever its layout.
 * execlogfs_durations (summary aggregates, see sqlite.c's opening) and
 * its triggers are set up here too, at the end of this file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlstore.h"

/*
 * magellan's schema, verbatim: ExecutionLog::ensure_schema() in
 * src/graph/execution_log.rs of https://github.com/oldnordic/magellan.
 */
static const char sqlstore_magellan_schema[] =
	"CREATE TABLE IF NOT EXISTS execution_log (\n"
	"    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"    execution_id TEXT NOT NULL UNIQUE,\n"
	"    tool_version TEXT NOT NULL,\n"
	"    args TEXT NOT NULL,\n"
	"    root TEXT,\n"
	"    db_path TEXT NOT NULL,\n"
	"    started_at INTEGER NOT NULL,\n"
	"    finished_at INTEGER,\n"
	"    duration_ms INTEGER,\n"
	"    outcome TEXT NOT NULL,\n"
	"    error_message TEXT,\n"
	"    files_indexed INTEGER DEFAULT 0,\n"
	"    symbols_indexed INTEGER DEFAULT 0,\n"
	"    references_indexed INTEGER DEFAULT 0\n"
	");\n"
	"CREATE INDEX IF NOT EXISTS idx_execution_log_started_at ON execution_log(started_at DESC);\n"
	"CREATE INDEX IF NOT EXISTS idx_execution_log_execution_id ON execution_log(execution_id);\n"
	"CREATE INDEX IF NOT EXISTS idx_execution_log_outcome ON execution_log(outcome);\n";

/* The magellan columns a table must have for us to use it. */
static const char *const sqlstore_required_columns[] = {
	"id", "execution_id", "tool_version", "args", "root", "db_path",
	"started_at", "finished_at", "duration_ms", "outcome", "error_message",
	"files_indexed", "symbols_indexed", "references_indexed",
};

/* execlogfs_runs's columns beside id, by enum sqlstore_run_col. */
static const struct {
	const char *name;
	const char *type;
} sqlstore_run_cols[SQLSTORE_RUN_COLS] = {
	[SQLSTORE_RUN_STARTED_MS] = { "started_at_ms", "INTEGER" },
	[SQLSTORE_RUN_HEARTBEAT_MS] = { "heartbeat_at_ms", "INTEGER" },
	[SQLSTORE_RUN_EXIT_CODE] = { "exit_code", "INTEGER" },
	[SQLSTORE_RUN_SIGNAL] = { "signal", "INTEGER" },
	[SQLSTORE_RUN_HOST] = { "host", "TEXT" },
	[SQLSTORE_RUN_USER] = { "user", "TEXT" },
	[SQLSTORE_RUN_UID] = { "uid", "INTEGER" },
	[SQLSTORE_RUN_PID] = { "pid", "INTEGER" },
	[SQLSTORE_RUN_CWD] = { "cwd", "TEXT" },
	[SQLSTORE_RUN_TOOL] = { "tool", "TEXT" },
	[SQLSTORE_RUN_OUTPUT_BYTES] = { "output_bytes", "INTEGER" },
	[SQLSTORE_RUN_OUTPUT_CUT] = { "output_cut", "INTEGER" },
	[SQLSTORE_RUN_TAGS] = { "tags", "TEXT" },
};

/*
 * The tags of a run are its execlogfs_runs row's (a JSON object, in the
 * start document's order), read with the row. What by-tag/ lists from is
 * execlogfs_tag_index, one b-tree keyed (key, value, id), and it is
 * written in batches: a start writing its 8 tags there would dirty 8 pages
 * at 8 places of it (8 more WAL frames at commit, twice a start's cost),
 * where a batch of runs shares them. It holds the tags of the runs up to
 * the id in execlogfs_tags_indexed (one row), exactly; the views by tag
 * add those of the few runs after it (at most SQLSTORE_TAGS_PENDING ids)
 * from execlogfs_runs. Then the output, one piece per append, keyed by
 * its offset; and the indexes the other views list from.
 */
static const char sqlstore_own_tables[] =
	"CREATE TABLE IF NOT EXISTS execlogfs_tag_index (key TEXT NOT NULL, value TEXT NOT NULL,"
	" id INTEGER NOT NULL, PRIMARY KEY (key, value, id)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS execlogfs_tags_indexed (upto INTEGER NOT NULL);"
	"INSERT INTO execlogfs_tags_indexed (upto) SELECT 0"
	" WHERE NOT EXISTS (SELECT 1 FROM execlogfs_tags_indexed);"
	"CREATE TABLE IF NOT EXISTS execlogfs_output (id INTEGER NOT NULL, \"offset\" INTEGER NOT NULL,"
	" data BLOB NOT NULL, PRIMARY KEY (id, \"offset\")) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS execlogfs_runs_host ON execlogfs_runs (host, id);"
	"CREATE INDEX IF NOT EXISTS execlogfs_runs_user ON execlogfs_runs (user, id);"
	"CREATE INDEX IF NOT EXISTS execlogfs_runs_tool ON execlogfs_runs (tool, id);";

/*
 * The triggers that keep execlogfs's tables right when anyone writes
 * execution_log, by name and exact text (as sqlite_master keeps it): one
 * of another text, an earlier execlogfs's, is replaced. An insert drops
 * whatever an id used again had (stale) and gives the row its tool; a
 * delete drops everything of the row's; an update of started_at or
 * finished_at forgets the millisecond time it no longer matches, one of
 * id carries everything along and computes the tool again (a row the
 * backfill had yet to give one may move below its watermark, see
 * sqlite_counts.c), one of args computes the tool again.
 */
static const char *const sqlstore_triggers[][2] = {
	{ "execlogfs_runs_insert",
	  "CREATE TRIGGER execlogfs_runs_insert AFTER INSERT ON execution_log BEGIN"
	  " DELETE FROM execlogfs_runs WHERE id = NEW.id;"
	  " DELETE FROM execlogfs_output WHERE id = NEW.id;"
	  " INSERT INTO execlogfs_runs (id, tool) SELECT NEW.id, t FROM (SELECT "
	  SQLSTORE_TOOL_OF("NEW.args") " AS t) WHERE t IS NOT NULL; END" },
	{ "execlogfs_runs_delete",
	  "CREATE TRIGGER execlogfs_runs_delete AFTER DELETE ON execution_log BEGIN"
	  " DELETE FROM execlogfs_runs WHERE id = OLD.id;"
	  " DELETE FROM execlogfs_output WHERE id = OLD.id; END" },
	{ "execlogfs_runs_update",
	  "CREATE TRIGGER execlogfs_runs_update"
	  " AFTER UPDATE OF id, started_at, finished_at ON execution_log BEGIN"
	  " DELETE FROM execlogfs_runs WHERE id = NEW.id AND NEW.id IS NOT OLD.id;"
	  " UPDATE execlogfs_runs SET id = NEW.id,"
	  " started_at_ms = CASE WHEN NEW.started_at IS OLD.started_at THEN started_at_ms END,"
	  " heartbeat_at_ms = CASE WHEN NEW.finished_at IS OLD.finished_at THEN heartbeat_at_ms END"
	  " WHERE id = OLD.id;"
	  " INSERT INTO execlogfs_runs (id, tool) SELECT NEW.id, t FROM (SELECT "
	  SQLSTORE_TOOL_OF("NEW.args") " AS t) WHERE t IS NOT NULL AND NEW.id IS NOT OLD.id"
	  " ON CONFLICT (id) DO UPDATE SET tool = excluded.tool; END" },
	{ "execlogfs_id_update",
	  "CREATE TRIGGER execlogfs_id_update AFTER UPDATE OF id ON execution_log"
	  " WHEN NEW.id IS NOT OLD.id BEGIN"
	  " DELETE FROM execlogfs_output WHERE id = NEW.id;"
	  " UPDATE execlogfs_output SET id = NEW.id WHERE id = OLD.id; END" },
	/*
	 * The index follows the tags of execlogfs_runs, whoever changes the
	 * row (the triggers above, or SQL): a row's entries found by its tags,
	 * one seek each; added back only for an id the index covers.
	 */
	{ "execlogfs_tags_insert",
	  "CREATE TRIGGER execlogfs_tags_insert AFTER INSERT ON execlogfs_runs"
	  " WHEN NEW.tags IS NOT NULL AND NEW.id <= (SELECT upto FROM execlogfs_tags_indexed) BEGIN"
	  " INSERT OR IGNORE INTO execlogfs_tag_index (key, value, id)"
	  " SELECT key, value, NEW.id FROM json_each(" SQLSTORE_TAGS_OF("NEW.tags") ")"
	  " WHERE type = 'text'; END" },
	{ "execlogfs_tags_delete",
	  "CREATE TRIGGER execlogfs_tags_delete AFTER DELETE ON execlogfs_runs"
	  " WHEN OLD.tags IS NOT NULL BEGIN"
	  " DELETE FROM execlogfs_tag_index WHERE (key, value, id) IN"
	  " (SELECT key, value, OLD.id FROM json_each(" SQLSTORE_TAGS_OF("OLD.tags") ")); END" },
	{ "execlogfs_tags_update",
	  "CREATE TRIGGER execlogfs_tags_update AFTER UPDATE OF id, tags ON execlogfs_runs"
	  " WHEN NEW.id IS NOT OLD.id OR NEW.tags IS NOT OLD.tags BEGIN"
	  " DELETE FROM execlogfs_tag_index WHERE (key, value, id) IN"
	  " (SELECT key, value, OLD.id FROM json_each(" SQLSTORE_TAGS_OF("OLD.tags") "));"
	  " INSERT OR IGNORE INTO execlogfs_tag_index (key, value, id)"
	  " SELECT key, value, NEW.id FROM json_each(" SQLSTORE_TAGS_OF("NEW.tags") ")"
	  " WHERE type = 'text' AND NEW.id <= (SELECT upto FROM execlogfs_tags_indexed); END" },
	{ "execlogfs_tool_update",
	  "CREATE TRIGGER execlogfs_tool_update AFTER UPDATE OF args ON execution_log BEGIN"
	  " INSERT INTO execlogfs_runs (id, tool) VALUES (NEW.id, " SQLSTORE_TOOL_OF("NEW.args") ")"
	  " ON CONFLICT (id) DO UPDATE SET tool = excluded.tool; END" },
};

/*
 * A store of the earlier layout kept tags in execlogfs_tags (id, key,
 * value, seq) indexed by (key, value, id): they move into execlogfs_runs
 * in their order, and the table goes (the triggers naming it are replaced
 * after, in the same transaction).
 */
static const char sqlstore_old_tags_move[] =
	"INSERT INTO execlogfs_runs (id, tags) SELECT o.id, (SELECT json_group_object(key, value)"
	" FROM (SELECT key, value FROM execlogfs_tags AS t WHERE t.id = o.id ORDER BY seq))"
	" FROM (SELECT DISTINCT id FROM execlogfs_tags) AS o"
	" WHERE o.id IN (SELECT id FROM execution_log)"
	" ON CONFLICT (id) DO UPDATE SET tags = excluded.tags;"
	"DROP TABLE execlogfs_tags;";

const char sqlstore_started_ms_sql[] =
	"(SELECT started_at_ms FROM execlogfs_runs WHERE execlogfs_runs.id = execution_log.id)";

/* Calls @fn with each column name of @table (none if it does not exist). */
static int sqlstore_table_columns(sqlite3 *db, const char *table,
				  void (*fn)(struct sqlstore_schema *sc, const char *name),
				  struct sqlstore_schema *sc)
{
	sqlite3_stmt *st;
	int rc, err = 0;

	rc = sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlstore_fail(db, rc, "read the schema");
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);

		if (name)
			fn(sc, name);
	}
	if (rc != SQLITE_DONE)
		err = sqlstore_fail(db, rc, "read the schema");
	sqlite3_finalize(st);
	return err;
}

static int sqlstore_run_col_named(const char *name)
{
	for (int i = 0; i < SQLSTORE_RUN_COLS; i++)
		if (strcmp(name, sqlstore_run_cols[i].name) == 0)
			return i;
	return -1;
}

static void sqlstore_see_log_column(struct sqlstore_schema *sc, const char *name)
{
	int run = sqlstore_run_col_named(name);

	sc->has_table = true;
	/* Only 0.1.0's: a column of another name is someone else's, left alone. */
	if (run >= 0 && run < SQLSTORE_RUN_COLS_0_1_0)
		sc->in_log[run] = true;
}

static void sqlstore_see_runs_column(struct sqlstore_schema *sc, const char *name)
{
	int run = sqlstore_run_col_named(name);

	sc->has_runs = true;
	if (run >= 0)
		sc->in_runs[run] = true;
}

/* -EMEDIUMTYPE naming the first of magellan's columns execution_log lacks. */
static int sqlstore_check_required(sqlite3 *db)
{
	sqlite3_stmt *st;
	int rc, err = 0;

	rc = sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('execution_log') WHERE name = ?1",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlstore_fail(db, rc, "read the schema");
	for (size_t i = 0; err == 0 && i < sizeof(sqlstore_required_columns) / sizeof(char *); i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, sqlstore_required_columns[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			err = store_fail(-EMEDIUMTYPE,
					 "sqlite: table execution_log has no column %s: not an execution log",
					 sqlstore_required_columns[i]);
		else if (rc != SQLITE_ROW)
			err = sqlstore_fail(db, rc, "read the schema");
	}
	sqlite3_finalize(st);
	return err;
}

/* Whether @table exists, into *@found. */
int sqlstore_table_exists(sqlite3 *db, const char *table, bool *found)
{
	sqlite3_stmt *st;
	int rc;

	*found = false;
	rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlstore_fail(db, rc, "read the schema");
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sqlstore_fail(db, rc, "read the schema");
}

int sqlstore_schema_read(sqlite3 *db, struct sqlstore_schema *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	err = sqlstore_table_columns(db, "execution_log", sqlstore_see_log_column, out);
	if (err == 0 && out->has_table)
		err = sqlstore_check_required(db);
	if (err == 0)
		err = sqlstore_table_columns(db, "execlogfs_runs", sqlstore_see_runs_column, out);
	if (err == 0)
		err = sqlstore_table_exists(db, "execlogfs_tag_index", &out->has_tags);
	if (err == 0 && out->has_tags)
		err = sqlstore_table_exists(db, "execlogfs_tags_indexed", &out->has_tags);
	if (err == 0)
		err = sqlstore_table_exists(db, "execlogfs_tags", &out->has_old_tags);
	if (err == 0)
		err = sqlstore_table_exists(db, "execlogfs_output", &out->has_output);
	if (err == 0)
		err = sqlstore_table_exists(db, "execlogfs_counts_state", &out->has_counts);
	out->current = out->has_runs && out->has_tags && out->has_output;
	for (int i = 0; i < SQLSTORE_RUN_COLS; i++)
		out->current = out->current && out->in_runs[i];
	return err;
}

int sqlstore_exec(sqlite3 *db, const char *sql, const char *doing)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sqlstore_fail(db, rc, doing);
}

/* Creates execlogfs_runs, or adds the columns an older one lacks. */
static int sqlstore_runs_create(sqlite3 *db, const struct sqlstore_schema *sc)
{
	char sql[1024];
	size_t used;
	int err = 0;

	if (!sc->has_runs) {
		used = (size_t)snprintf(sql, sizeof(sql), "CREATE TABLE execlogfs_runs (id INTEGER PRIMARY KEY");
		for (int i = 0; i < SQLSTORE_RUN_COLS; i++)
			used += (size_t)snprintf(sql + used, sizeof(sql) - used, ", %s %s",
						 sqlstore_run_cols[i].name, sqlstore_run_cols[i].type);
		snprintf(sql + used, sizeof(sql) - used, ")");
		return sqlstore_exec(db, sql, "create execlogfs_runs");
	}
	for (int i = 0; err == 0 && i < SQLSTORE_RUN_COLS; i++) {
		if (sc->in_runs[i])
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE execlogfs_runs ADD COLUMN %s %s",
			 sqlstore_run_cols[i].name, sqlstore_run_cols[i].type);
		err = sqlstore_exec(db, sql, "add a column to execlogfs_runs");
	}
	return err;
}

/*
 * Moves the columns execlogfs 0.1.0 added to execution_log into
 * execlogfs_runs, then drops them. A value in both places (a store mounted
 * by this execlogfs, then by 0.1.0 again) is the old column's: 0.1.0 wrote
 * it last.
 */
static int sqlstore_runs_bring_back(sqlite3 *db, const struct sqlstore_schema *sc)
{
	char cols[256] = "", any[256] = "", set[512] = "", sql[1536];
	size_t c = 0, a = 0, s = 0;
	int err = 0, n = 0;

	for (int i = 0; i < SQLSTORE_RUN_COLS; i++) {
		const char *name = sqlstore_run_cols[i].name;

		if (!sc->in_log[i])
			continue;
		c += (size_t)snprintf(cols + c, sizeof(cols) - c, ", %s", name);
		a += (size_t)snprintf(any + a, sizeof(any) - a, "%s%s IS NOT NULL", n ? " OR " : "", name);
		s += (size_t)snprintf(set + s, sizeof(set) - s, "%s%s = COALESCE(excluded.%s, %s)",
				      n ? ", " : "", name, name, name);
		n++;
	}
	if (n == 0)
		return 0;
	if (sqlite3_libversion_number() < 3035000)
		return store_fail(-ENOTSUP, "sqlite: execution_log has columns execlogfs 0.1.0 added (%s);"
				  " dropping them needs SQLite 3.35 or later, this is %s (mount with -o ro)",
				  cols + 2, sqlite3_libversion());
	snprintf(sql, sizeof(sql),
		 "INSERT INTO execlogfs_runs (id%s) SELECT id%s FROM execution_log WHERE %s"
		 " ON CONFLICT(id) DO UPDATE SET %s", cols, cols, any, set);
	err = sqlstore_exec(db, sql, "move execlogfs 0.1.0's columns to execlogfs_runs");
	for (int i = 0; err == 0 && i < SQLSTORE_RUN_COLS; i++) {
		if (!sc->in_log[i])
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE execution_log DROP COLUMN %s",
			 sqlstore_run_cols[i].name);
		err = sqlstore_exec(db, sql, "drop a column execlogfs 0.1.0 added to execution_log");
	}
	return err;
}

/*
 * As sqlstore.h says; for sqlstore_triggers, and sqlite_counts.c's.
 */
int sqlstore_triggers_set(sqlite3 *db, const char *const triggers[][2], size_t n)
{
	sqlite3_stmt *st;
	char drop[128];
	int rc, err = 0;

	rc = sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlstore_fail(db, rc, "read the schema");
	for (size_t i = 0; err == 0 && i < n; i++) {
		const char *sql;
		bool same;

		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, triggers[i][0], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			err = sqlstore_fail(db, rc, "read the schema");
			break;
		}
		sql = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
		same = sql && strcmp(sql, triggers[i][1]) == 0;
		sqlite3_reset(st);
		if (same)
			continue;
		snprintf(drop, sizeof(drop), "DROP TRIGGER IF EXISTS %s", triggers[i][0]);
		err = sqlstore_exec(db, drop, "replace a trigger");
		if (err == 0)
			err = sqlstore_exec(db, triggers[i][1], "create a trigger");
	}
	sqlite3_finalize(st);
	return err;
}

int sqlstore_schema_migrate(sqlite3 *db)
{
	struct sqlstore_schema sc;
	bool tools_deferred = false;
	int rc, err;

	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sqlstore_fail(db, rc, "lock the database to create the tables");
	/* Read again under the lock: another process may have just done it all. */
	err = sqlstore_schema_read(db, &sc);
	if (err == 0)
		err = sqlstore_exec(db, sqlstore_magellan_schema, "create the table");
	if (err == 0)
		err = sqlstore_runs_create(db, &sc);
	if (err == 0)
		err = sqlstore_runs_bring_back(db, &sc);
	if (err == 0)
		err = sqlstore_exec(db, sqlstore_own_tables, "create execlogfs's tables");
	if (err == 0 && sc.has_old_tags)
		err = sqlstore_exec(db, sqlstore_old_tags_move, "move the tags to execlogfs_runs");
	/* The tags of the runs after the index's mark (all of a store just brought over) indexed. */
	if (err == 0)
		err = sqlstore_exec(db, SQLSTORE_TAGS_INDEX_SQL ";" SQLSTORE_TAGS_MARK_SET_SQL,
				    "index the tags");
	/* Before the tool's step: a new execlogfs_counts's backfill gives the rows their tool. */
	if (err == 0)
		err = sqlstore_counts_create(db, !sc.in_runs[SQLSTORE_RUN_TOOL], &tools_deferred);
	/* The rows from before the tool was kept get theirs: by-tool/ lists them too (once). */
	if (err == 0 && !sc.in_runs[SQLSTORE_RUN_TOOL] && !tools_deferred)
		err = sqlstore_exec(db, "INSERT INTO execlogfs_runs (id, tool) SELECT id, t FROM"
				    " (SELECT id, " SQLSTORE_TOOL_OF("args") " AS t FROM execution_log)"
				    " WHERE t IS NOT NULL"
				    " ON CONFLICT (id) DO UPDATE SET tool = excluded.tool",
				    "give the rows their tool");
	if (err == 0)
		err = sqlstore_triggers_set(db, sqlstore_triggers,
					    sizeof(sqlstore_triggers) / sizeof(sqlstore_triggers[0]));
	if (err == 0)
		err = sqlstore_exec(db, "COMMIT", "commit the schema");
	if (err)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

void sqlstore_schema_reads(const struct sqlstore_schema *sc, char *from, size_t from_size,
			   char *ms, size_t ms_size)
{
	size_t used = 0;

	snprintf(from, from_size, "%s", sc->has_runs
		 ? "execution_log LEFT JOIN execlogfs_runs USING (id)"
		 : "execution_log");
	for (int i = 0; i < SQLSTORE_RUN_COLS; i++) {
		const char *name = sqlstore_run_cols[i].name, *sep = i ? ", " : "";
		bool runs = sc->has_runs && sc->in_runs[i];

		/* A store of the earlier layout, as it is (under ro): the tags in their order, or null. */
		if (i == SQLSTORE_RUN_TAGS && !runs && sc->has_old_tags)
			used += (size_t)snprintf(ms + used, ms_size - used, "%s%s", sep,
				"(SELECT json_group_array(json_array(key, value)) FROM (SELECT key, value"
				" FROM execlogfs_tags WHERE execlogfs_tags.id = execution_log.id"
				" ORDER BY seq) HAVING count(*) > 0)");
		else if (runs && sc->in_log[i])
			used += (size_t)snprintf(ms + used, ms_size - used,
						 "%sCOALESCE(execlogfs_runs.%s, execution_log.%s)",
						 sep, name, name);
		else if (runs || sc->in_log[i])
			used += (size_t)snprintf(ms + used, ms_size - used, "%s%s.%s", sep,
						 runs ? "execlogfs_runs" : "execution_log", name);
		else
			used += (size_t)snprintf(ms + used, ms_size - used, "%sNULL", sep);
	}
}

void sqlstore_bucket_sql(char *b, size_t size, const char *r)
{
	size_t used = (size_t)snprintf(b, size, "CASE");

	for (int i = 0; i < STORE_DURATION_BUCKETS - 1; i++)
		used += (size_t)snprintf(b + used, size - used,
					 " WHEN MAX(COALESCE(%s.duration_ms, 0), 0) <= %lld THEN %lld", r,
					 (long long)store_duration_bounds_ms[i],
					 (long long)store_duration_bounds_ms[i]);
	snprintf(b + used, size - used, " ELSE %lld END", (long long)INT64_MAX);
}

/* The bound of bucket @i, as SQL text's number. */
static long long sqlstore_bound(int i)
{
	return i < STORE_DURATION_BUCKETS - 1 ? (long long)store_duration_bounds_ms[i] : (long long)INT64_MAX;
}

/*
 * Each bucket's count, sum and latest finish, in 36 aggregates of the
 * bucket k computed once per row: what execlogfs_durations keeps.
 */
static void sqlstore_left_by_bucket(struct sqlstore_left_sql *out, size_t *w)
{
	size_t r = 0;

	for (int i = 0; i < STORE_DURATION_BUCKETS; i++) {
		long long le = sqlstore_bound(i);

		*w += (size_t)snprintf(out->with + *w, sizeof(out->with) - *w,
				       "%s sum(k = %lld) AS c%d, sum(CASE WHEN k = %lld THEN d END) AS s%d,"
				       " max(CASE WHEN k = %lld THEN f END) AS m%d", i ? "," : "",
				       le, i, le, i, le, i);
		r += (size_t)snprintf(out->rows + r, sizeof(out->rows) - r,
				      "%sSELECT %lld, c%d, s%d, m%d FROM sqlstore_left WHERE c%d > 0",
				      i ? " UNION ALL " : "", le, i, i, i, i);
	}
}

/*
 * The rows at or under each bound (11 comparisons a row, no bucket
 * computed), each bucket's count their difference; the sum and the latest
 * finish of all, on the first bucket's row: what a summary adds up.
 */
static void sqlstore_left_cumulative(struct sqlstore_left_sql *out, size_t *w)
{
	size_t r = 0;

	*w += (size_t)snprintf(out->with + *w, sizeof(out->with) - *w,
			       " count(*) AS n, sum(d) AS s, max(f) AS m");
	for (int i = 0; i < STORE_DURATION_BUCKETS; i++) {
		char upto[16] = "n", below[16] = "";

		if (i < STORE_DURATION_BUCKETS - 1) {
			*w += (size_t)snprintf(out->with + *w, sizeof(out->with) - *w,
					       ", sum(d <= %lld) AS c%d", sqlstore_bound(i), i);
			snprintf(upto, sizeof(upto), "c%d", i);
		}
		if (i > 0)
			snprintf(below, sizeof(below), " - c%d", i - 1);
		r += (size_t)snprintf(out->rows + r, sizeof(out->rows) - r,
				      "%sSELECT %lld, %s%s, %s FROM sqlstore_left WHERE n > 0",
				      i ? " UNION ALL " : "", sqlstore_bound(i), upto, below,
				      i ? "0, NULL" : "s, m");
	}
}

void sqlstore_durations_left_sql(struct sqlstore_left_sql *out, const char *where, bool by_bucket)
{
	char bucket[1024];
	size_t w;

	sqlstore_bucket_sql(bucket, sizeof(bucket), "execution_log");
	w = (size_t)snprintf(out->with, sizeof(out->with), "WITH sqlstore_left AS MATERIALIZED (SELECT");
	if (by_bucket)
		sqlstore_left_by_bucket(out, &w);
	else
		sqlstore_left_cumulative(out, &w);
	/*
	 * LIMIT -1 keeps the rows' subquery a co-routine: flattened into the
	 * aggregate, each reference to k or d would compute it again (15x
	 * slower).
	 */
	snprintf(out->with + w, sizeof(out->with) - w,
		 " FROM (SELECT %s AS k, MAX(COALESCE(duration_ms, 0), 0) AS d, finished_at AS f"
		 " FROM execution_log WHERE outcome <> 'running'%s LIMIT -1)) ",
		 by_bucket ? bucket : "0", where);
}

/* Whether execlogfs_durations has today's buckets and its three triggers. */
int sqlstore_durations_ok(sqlite3 *db, bool *ok)
{
	sqlite3_stmt *st;
	int rc, triggers = -1;
	int64_t rows = -1, matching = -1;
	char bounds[512];
	size_t used = 0;

	for (int i = 0; i < STORE_DURATION_BUCKETS - 1; i++)
		used += (size_t)snprintf(bounds + used, sizeof(bounds) - used, "%s%lld", i ? "," : "",
					 (long long)store_duration_bounds_ms[i]);
	snprintf(bounds + used, sizeof(bounds) - used, ",%lld", (long long)INT64_MAX);
	*ok = false;
	rc = sqlite3_prepare_v2(db,
		"SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN"
		" ('execlogfs_durations_insert', 'execlogfs_durations_update',"
		" 'execlogfs_durations_delete')),"
		" (SELECT count(*) FROM sqlite_master WHERE type = 'table'"
		" AND name = 'execlogfs_durations')", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlstore_fail(db, rc, "read the schema");
	if (sqlite3_step(st) == SQLITE_ROW) {
		triggers = sqlite3_column_int(st, 0);
		rows = sqlite3_column_int(st, 1);
	}
	sqlite3_finalize(st);
	if (triggers != 3 || rows != 1)
		return 0;
	rc = sqlite3_prepare_v2(db,
		"SELECT (SELECT count(*) FROM execlogfs_durations),"
		" (SELECT count(*) FROM execlogfs_durations WHERE instr(',' || ?1 || ',',"
		" ',' || le_ms || ',') > 0)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return 0; /* another layout: rebuilt */
	sqlite3_bind_text(st, 1, bounds, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		rows = sqlite3_column_int64(st, 0);
		matching = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	*ok = rows == STORE_DURATION_BUCKETS && matching == STORE_DURATION_BUCKETS;
	return 0;
}

/*
 * Creates execlogfs_durations and its triggers when they are missing or of
 * other buckets, and fills the table from the rows counted so far (none on
 * a store whose execlogfs_counts is new: its backfill adds them, batch by
 * batch; all on one whose backfill is done: one scan, once), under a write
 * lock: another process may be doing the same right now.
 */
/* The pieces of SQL execlogfs_durations is made and kept with. */
struct sqlstore_durations_sql {
	char add[2048], sub[2048];              /* a trigger's body: count NEW in, OLD out */
	char bucket_new[1024], bucket_old[1024]; /* the bucket of NEW's, OLD's duration */
	char whens[1024];                       /* the buckets' bounds: WHEN 0 THEN 100 ... */
};

static void sqlstore_durations_sql_make(struct sqlstore_durations_sql *d)
{
	size_t used = 0;

	sqlstore_bucket_sql(d->bucket_new, sizeof(d->bucket_new), "NEW");
	sqlstore_bucket_sql(d->bucket_old, sizeof(d->bucket_old), "OLD");
	for (int i = 0; i < STORE_DURATION_BUCKETS - 1; i++)
		used += (size_t)snprintf(d->whens + used, sizeof(d->whens) - used, " WHEN %d THEN %lld",
					 i, (long long)store_duration_bounds_ms[i]);
	snprintf(d->add, sizeof(d->add),
		 "UPDATE execlogfs_durations SET finished = finished + 1,"
		 " sum_ms = sum_ms + MAX(COALESCE(NEW.duration_ms, 0), 0),"
		 " last_finished_at = CASE WHEN NEW.finished_at IS NOT NULL AND (last_finished_at IS NULL"
		 " OR NEW.finished_at > last_finished_at) THEN NEW.finished_at ELSE last_finished_at END"
		 " WHERE NEW.outcome <> 'running' AND le_ms = %s AND " SQLSTORE_COUNTED("NEW") ";",
		 d->bucket_new);
	snprintf(d->sub, sizeof(d->sub),
		 "UPDATE execlogfs_durations SET finished = finished - 1,"
		 " sum_ms = sum_ms - MAX(COALESCE(OLD.duration_ms, 0), 0)"
		 " WHERE OLD.outcome <> 'running' AND le_ms = %s AND " SQLSTORE_COUNTED("OLD") ";",
		 d->bucket_old);
}

int sqlstore_durations_setup(sqlite3 *db)
{
	struct sqlstore_durations_sql d;
	struct sqlstore_left_sql left;
	char *sql = NULL;
	bool ok, pending = false;
	int rc, err;

	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sqlstore_fail(db, rc, "lock the database to create execlogfs_durations");
	err = sqlstore_durations_ok(db, &ok);
	if (err == 0 && !ok)
		err = sqlstore_counts_pending(db, &pending);
	if (err || ok)
		goto end;
	sqlstore_durations_sql_make(&d);
	/* The rows below the watermark, by the primary key: none at a first mount. */
	sqlstore_durations_left_sql(&left, pending ? " AND id < (SELECT next_id FROM execlogfs_counts_state)" : "",
				    true);
	if (asprintf(&sql,
		     "DROP TRIGGER IF EXISTS execlogfs_durations_insert;"
		     "DROP TRIGGER IF EXISTS execlogfs_durations_update;"
		     "DROP TRIGGER IF EXISTS execlogfs_durations_delete;"
		     "DROP TABLE IF EXISTS execlogfs_durations;"
		     "CREATE TABLE execlogfs_durations (le_ms INTEGER PRIMARY KEY,"
		     " finished INTEGER NOT NULL, sum_ms INTEGER NOT NULL, last_finished_at INTEGER);"
		     "WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i < %d)"
		     " INSERT INTO execlogfs_durations SELECT CASE i %s ELSE %lld END, 0, 0, NULL FROM b;"
		     "%s INSERT OR REPLACE INTO execlogfs_durations %s;"
		     "UPDATE execlogfs_counts_state SET durations = 1 WHERE next_id IS NOT NULL;"
		     "CREATE TRIGGER execlogfs_durations_insert AFTER INSERT ON execution_log BEGIN %s END;"
		     "CREATE TRIGGER execlogfs_durations_update AFTER UPDATE OF id, outcome, duration_ms,"
		     " finished_at ON execution_log BEGIN %s %s END;"
		     "CREATE TRIGGER execlogfs_durations_delete AFTER DELETE ON execution_log BEGIN %s END;",
		     STORE_DURATION_BUCKETS - 1, d.whens, (long long)INT64_MAX, left.with, left.rows, d.add,
		     d.sub, d.add, d.sub) < 0) {
		err = store_fail(-ENOMEM, "sqlite: out of memory");
		goto end;
	}
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		err = sqlstore_fail(db, rc, "create execlogfs_durations");
end:
	free(sql);
	rc = sqlite3_exec(db, err ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
	if (err == 0 && rc != SQLITE_OK)
		err = sqlstore_fail(db, rc, "create execlogfs_durations");
	return err;
}
