/*
 * sqlite_sql.c - the texts of the SQLite backend's prepared statements,
 * fixed at open for the store's layout (see sqlite_schema.c).
 *
 * Parameters are always bound, never printed into SQL; what is printed is
 * only the column list and the table expression a layout reads from.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "sqlstore.h"

/*
 * The changes. Writes name execlogfs_runs; a read-only store that lacks it
 * never prepares a write (store.c refuses writes first). Returns how many
 * texts could not be made.
 */
static int sqlstore_texts_changes(struct sqlstore *s)
{
	int n = 0;

	n += asprintf(&s->sql[ST_INSERT],
		      "INSERT INTO execution_log (execution_id, tool_version, args, root, db_path,"
		      " started_at, outcome, files_indexed, symbols_indexed, references_indexed)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', 0, 0, 0)") < 0;
	/* OR REPLACE: the insert's trigger may have given the row its tool already. */
	n += asprintf(&s->sql[ST_INSERT_RUN],
		      "INSERT OR REPLACE INTO execlogfs_runs (id, started_at_ms, heartbeat_at_ms,"
		      " host, user, uid, pid, cwd, tool, output_bytes, output_cut, tags)"
		      " VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0, ?9)") < 0;
	/* The tag index, in batches (see sqlite_schema.c). */
	n += asprintf(&s->sql[ST_TAGS_MARK], "SELECT upto FROM execlogfs_tags_indexed") < 0;
	n += asprintf(&s->sql[ST_TAGS_INDEX], SQLSTORE_TAGS_INDEX_SQL) < 0;
	n += asprintf(&s->sql[ST_TAGS_MARK_SET], SQLSTORE_TAGS_MARK_SET_SQL) < 0;
	/* duration_ms comes from the millisecond start where we have one, else from seconds. */
	n += asprintf(&s->sql[ST_FINISH],
		      "UPDATE execution_log SET outcome = ?2, error_message = ?3,"
		      " files_indexed = ?4, symbols_indexed = ?5, references_indexed = ?6,"
		      " finished_at = ?1 / 1000,"
		      " duration_ms = MAX(0, ?1 - COALESCE(%s, started_at * 1000))"
		      " WHERE execution_id = ?7 AND outcome = 'running'"
		      " AND (?8 = 0 OR id = ?8) AND (?9 = 0 OR"
		      " COALESCE((SELECT heartbeat_at_ms FROM execlogfs_runs"
		      " WHERE execlogfs_runs.id = execution_log.id), %s, started_at * 1000) < ?9)",
		      sqlstore_started_ms_sql, sqlstore_started_ms_sql) < 0;
	/* The heartbeat of a row magellan started makes it a row of execlogfs_runs. */
	n += asprintf(&s->sql[ST_FINISH_RUN],
		      "INSERT INTO execlogfs_runs (id, heartbeat_at_ms, exit_code, signal)"
		      " SELECT id, ?1, ?3, ?4 FROM execution_log WHERE execution_id = ?2"
		      " ON CONFLICT (id) DO UPDATE SET heartbeat_at_ms = excluded.heartbeat_at_ms,"
		      " exit_code = excluded.exit_code, signal = excluded.signal") < 0;
	n += asprintf(&s->sql[ST_HEARTBEAT],
		      "INSERT INTO execlogfs_runs (id, heartbeat_at_ms)"
		      " SELECT id, ?1 FROM execution_log WHERE execution_id = ?2 AND outcome = 'running'"
		      " ON CONFLICT (id) DO UPDATE SET heartbeat_at_ms = excluded.heartbeat_at_ms") < 0;
	n += asprintf(&s->sql[ST_DELETE],
		      "DELETE FROM execution_log WHERE execution_id = ?1 AND outcome <> 'running'"
		      " AND (?2 = 0 OR id = ?2)") < 0;
	n += asprintf(&s->sql[ST_STATE],
		      "SELECT outcome FROM execution_log WHERE execution_id = ?1") < 0;
	n += asprintf(&s->sql[ST_SAVEPOINT], "SAVEPOINT sqlstore_change") < 0;
	n += asprintf(&s->sql[ST_RELEASE], "RELEASE sqlstore_change") < 0;
	n += asprintf(&s->sql[ST_ROLLBACK_TO], "ROLLBACK TO sqlstore_change") < 0;
	return n;
}

/* The reads of records, @cols from @from; as sqlstore_texts_changes(). */
static int sqlstore_texts_reads(struct sqlstore *s, const char *cols, const char *from)
{
	int n = 0;

	n += asprintf(&s->sql[ST_GET], "SELECT %s FROM %s WHERE execution_id = ?1", cols, from) < 0;
	n += asprintf(&s->sql[ST_GET_BY_ID], "SELECT %s FROM %s WHERE id = ?1", cols, from) < 0;
	/* Listings: every column, or (names) only what a directory entry needs. */
	for (int names = 0; names < 2; names++) {
		const char *c = names ? "id, execution_id" : cols, *f = names ? "execution_log" : from;
		enum sqlstore_stmt_id at = names ? ST_NAMES_ALL : ST_LIST_ALL;

		n += asprintf(&s->sql[at],
			      "SELECT %s FROM %s WHERE id > ?1 ORDER BY id", c, f) < 0;
		n += asprintf(&s->sql[at + 1],
			      "SELECT %s FROM %s WHERE outcome = ?2 AND id > ?1"
			      " ORDER BY id", c, f) < 0;
		n += asprintf(&s->sql[at + 2],
			      "SELECT %s FROM %s WHERE started_at >= ?3"
			      " AND started_at < ?4 AND id > ?1 ORDER BY id", c, f) < 0;
		n += asprintf(&s->sql[at + 3],
			      "SELECT %s FROM %s WHERE +outcome = ?2 AND started_at >= ?3"
			      " AND started_at < ?4 AND id > ?1 ORDER BY id", c, f) < 0;
	}
	n += asprintf(&s->sql[ST_LATEST],
		      "SELECT %s FROM %s ORDER BY id DESC LIMIT 1", cols, from) < 0;
	n += asprintf(&s->sql[ST_RECENT],
		      "SELECT %s FROM %s ORDER BY id DESC LIMIT ?1", cols, from) < 0;
	return n;
}

/* Counts, days and retention's walk: indexes only, no record; as sqlstore_texts_changes(). */
static int sqlstore_texts_indexes(struct sqlstore *s)
{
	int n = 0;

	n += asprintf(&s->sql[ST_NEXT_DAY],
		      "SELECT started_at FROM execution_log WHERE started_at >= ?1"
		      " ORDER BY started_at LIMIT 1") < 0;
	/*
	 * The started_at index, in order; SQLite sorts only the rows of one
	 * started_at by id ("temp b-tree for right part of order by").
	 * ?1, ?2: the position; ?3: before.
	 */
	n += asprintf(&s->sql[ST_BY_START],
		      "SELECT id, execution_id, started_at FROM execution_log"
		      " WHERE +outcome <> 'running' AND started_at < ?3"
		      " AND started_at >= ?1 AND (started_at, id) > (?1, ?2)"
		      " ORDER BY started_at, id") < 0;
	n += asprintf(&s->sql[ST_BY_START_NEWEST],
		      "SELECT id, execution_id, started_at FROM execution_log"
		      " WHERE +outcome <> 'running' AND started_at < ?3"
		      " AND started_at <= ?1 AND (started_at, id) < (?1, ?2)"
		      " ORDER BY started_at DESC, id DESC") < 0;
	return n;
}

/*
 * The rows the backfill has yet to count (sqlite_counts.c): ids from its
 * watermark on, none once it is done; SQLSTORE_LEFT_FROM comes before the
 * table they are read from. The state's one row is the outer loop
 * (CROSS JOIN keeps that order), so that once the backfill is done its
 * WHERE ends the statement before execution_log is touched: a scalar
 * subquery in the WHERE would not, and a count by day would walk its
 * day's rows in the started_at index for none (25,000 index entries a day
 * at 10M runs, 30 days in every index.html). A seek of the primary key,
 * or of an index whose key ends in the rowid.
 */
#define SQLSTORE_LEFT_FROM "execlogfs_counts_state s CROSS JOIN "
#define SQLSTORE_UNCOUNTED "s.next_id IS NOT NULL AND id >= s.next_id"

/*
 * A count: the aggregate's rows @agg, which hold exactly the rows below
 * the watermark, plus the rows at or above it that @rows (" AND ...")
 * keeps, read in one statement so both halves see one snapshot. @from is
 * the table expression of the second half (NOT INDEXED where no index
 * beats the primary key's range). So a count during the backfill costs
 * what is left to count, and one seek once it is done.
 */
#define SQLSTORE_KEPT_OR(agg, from, rows)                                      \
	"SELECT (SELECT COALESCE(sum(n), 0) FROM execlogfs_counts WHERE " agg ")" \
	" + (SELECT count(*) FROM " SQLSTORE_LEFT_FROM from " WHERE " SQLSTORE_UNCOUNTED rows ")"

/*
 * Counts by outcome: the aggregate's rows of @day and those of the rows
 * left, as above, @rows grouped by outcome. The caller reads the four
 * outcomes only.
 */
#define SQLSTORE_KEPT_BY_OUTCOME(day, rows)                                    \
	"SELECT outcome, sum(n) FROM (SELECT outcome, n FROM execlogfs_counts"   \
	" WHERE day = " day " UNION ALL " rows ") GROUP BY outcome"

/*
 * The rows left of each outcome, one seek each of the index (outcome,
 * rowid): a GROUP BY would read the whole index in order, or sort the
 * rows left.
 */
#define SQLSTORE_LEFT_BY_OUTCOME                                               \
	"SELECT o.column1, (SELECT count(*) FROM " SQLSTORE_LEFT_FROM "execution_log"      \
	" WHERE outcome = o.column1" \
	" AND " SQLSTORE_UNCOUNTED ") FROM (VALUES ('running'), ('success'), ('error')," \
	" ('partial')) AS o"

/*
 * The counts: from execlogfs_counts (sqlite_counts.c), a few rows whatever
 * the log's size, plus the rows its backfill has yet to count (none once
 * it is done); on a store without it (an older one under ro), by the indexes
 * (id, outcome, started_at). ?2 the outcome, [?3, ?4) a day's seconds, ?7
 * the day. As sqlstore_texts_changes().
 */
static int sqlstore_texts_counts(struct sqlstore *s, const struct sqlstore_schema *sc)
{
	struct sqlstore_left_sql left;
	int n = 0;

	if (sc->has_counts) {
		/* The durations of the rows the backfill has yet to add, counted until it is done. */
		sqlstore_durations_left_sql(&left, " AND id >="
					    " (SELECT next_id FROM execlogfs_counts_state WHERE durations)", false);
		n += asprintf(&s->sql[ST_SUMMARY],
			      "%s SELECT le_ms, finished, sum_ms, last_finished_at FROM execlogfs_durations"
			      " UNION ALL %s", left.with, left.rows) < 0;
		n += asprintf(&s->sql[ST_COUNT_ALL],
			      SQLSTORE_KEPT_OR("day = -1", "execution_log NOT INDEXED", "")) < 0;
		/* (outcome, rowid): the index seeks both the outcome and the watermark. */
		n += asprintf(&s->sql[ST_COUNT_OUTCOME],
			      SQLSTORE_KEPT_OR("day = -1 AND outcome = ?2", "execution_log",
					       " AND outcome = ?2")) < 0;
		n += asprintf(&s->sql[ST_COUNT_DAY],
			      SQLSTORE_KEPT_OR("day = ?7", "execution_log",
					       " AND started_at >= ?3 AND started_at < ?4")) < 0;
		n += asprintf(&s->sql[ST_COUNT_OUTCOME_DAY],
			      SQLSTORE_KEPT_OR("day = ?7 AND outcome = ?2", "execution_log",
					       " AND +outcome = ?2 AND started_at >= ?3 AND started_at < ?4")) < 0;
		n += asprintf(&s->sql[ST_COUNT_BY_OUTCOME],
			      SQLSTORE_KEPT_BY_OUTCOME("-1", SQLSTORE_LEFT_BY_OUTCOME)) < 0;
		n += asprintf(&s->sql[ST_COUNT_BY_OUTCOME_DAY],
			      SQLSTORE_KEPT_BY_OUTCOME("?7", "SELECT outcome, count(*) FROM " SQLSTORE_LEFT_FROM
						       "execution_log WHERE " SQLSTORE_UNCOUNTED " AND started_at >= ?3"
						       " AND started_at < ?4 GROUP BY outcome")) < 0;
		return n;
	}
	n += asprintf(&s->sql[ST_SUMMARY],
		      "SELECT le_ms, finished, sum_ms, last_finished_at FROM execlogfs_durations") < 0;
	/* Counts read the indexes only (id, outcome, started_at). */
	n += asprintf(&s->sql[ST_COUNT_ALL], "SELECT count(*) FROM execution_log") < 0;
	n += asprintf(&s->sql[ST_COUNT_OUTCOME],
		      "SELECT count(*) FROM execution_log WHERE outcome = ?2") < 0;
	n += asprintf(&s->sql[ST_COUNT_DAY],
		      "SELECT count(*) FROM execution_log WHERE started_at >= ?3 AND started_at < ?4") < 0;
	/* +outcome: a day's range of started_at is the narrower index (SQLite keeps no statistics here). */
	n += asprintf(&s->sql[ST_COUNT_OUTCOME_DAY],
		      "SELECT count(*) FROM execution_log WHERE +outcome = ?2 AND started_at >= ?3"
		      " AND started_at < ?4") < 0;
	n += asprintf(&s->sql[ST_COUNT_BY_OUTCOME],
		      "SELECT outcome, count(*) FROM execution_log GROUP BY outcome") < 0;
	n += asprintf(&s->sql[ST_COUNT_BY_OUTCOME_DAY],
		      "SELECT outcome, count(*) FROM execution_log WHERE started_at >= ?3"
		      " AND started_at < ?4 GROUP BY outcome") < 0;
	return n;
}

/*
 * The tags of the runs after id @after that execlogfs_tag_index does not
 * hold yet (the runs after its mark, a few): id, key and value.
 */
#define SQLSTORE_TAGS_PENDING_SQL(after)                                       \
	"SELECT r.id AS id, j.key AS key, j.value AS value FROM execlogfs_runs AS r,"\
	" json_each(" SQLSTORE_TAGS_OF("r.tags") ") AS j WHERE r.id > " after   \
	" AND j.type = 'text'"
#define SQLSTORE_TAGS_MARK_SQL "(SELECT upto FROM execlogfs_tags_indexed)"

/*
 * The ids of the runs tagged ?5=?6 after ?1, ascending: the index's, then
 * (all greater) those of the runs after its mark. SQLite merges the two
 * ordered halves: no sort, and no more read than what is listed.
 */
#define SQLSTORE_TAGGED_SQL                                                    \
	"SELECT id FROM execlogfs_tag_index WHERE key = ?5 AND value = ?6 AND id > ?1" \
	" UNION ALL SELECT id FROM (" SQLSTORE_TAGS_PENDING_SQL("MAX(?1, " SQLSTORE_TAGS_MARK_SQL ")") \
	") WHERE key = ?5 AND value = ?6"

/*
 * The views by provenance, each from its index: the records and names of
 * one value by keyset paging on id, counts, and the values one seek each.
 * A store of an earlier layout (under ro) has no provenance: they list
 * nothing. As sqlstore_texts_changes().
 */
static int sqlstore_texts_views(struct sqlstore *s, const char *cols, const char *from,
				bool current)
{
	static const char *const col[] = { "host", "user", "tool" };
	int n = 0;

	for (int a = 0; !current && a < 4; a++) {
		n += asprintf(&s->sql[ST_LIST_BY + a], "SELECT %s FROM %s WHERE 0", cols, from) < 0;
		n += asprintf(&s->sql[ST_NAMES_BY + a], "SELECT 0, '' WHERE 0") < 0;
		n += asprintf(&s->sql[ST_COUNT_BY + a], "SELECT 0") < 0;
		n += asprintf(&s->sql[ST_VALUES_FIRST + a], "SELECT '', '' WHERE 0") < 0;
		n += asprintf(&s->sql[ST_VALUES_NEXT + a], "SELECT '', '' WHERE 0") < 0;
	}
	if (!current)
		return n + (asprintf(&s->sql[ST_TAGS_PENDING], "SELECT '', '' WHERE 0") < 0);
	for (int a = 0; a < 3; a++) {
		const char *c = col[a];

		n += asprintf(&s->sql[ST_LIST_BY + a],
			      "SELECT %s FROM %s WHERE execlogfs_runs.%s = ?5"
			      " AND execlogfs_runs.id > ?1 ORDER BY execlogfs_runs.id", cols, from, c) < 0;
		n += asprintf(&s->sql[ST_NAMES_BY + a],
			      "SELECT execlogfs_runs.id, execution_id FROM execlogfs_runs"
			      " JOIN execution_log USING (id) WHERE execlogfs_runs.%s = ?5"
			      " AND execlogfs_runs.id > ?1 ORDER BY execlogfs_runs.id", c) < 0;
		n += asprintf(&s->sql[ST_COUNT_BY + a],
			      "SELECT count(*) FROM execlogfs_runs WHERE %s = ?5", c) < 0;
		n += asprintf(&s->sql[ST_VALUES_FIRST + a],
			      "SELECT %s FROM execlogfs_runs WHERE %s IS NOT NULL ORDER BY %s LIMIT 1",
			      c, c, c) < 0;
		n += asprintf(&s->sql[ST_VALUES_NEXT + a],
			      "SELECT %s FROM execlogfs_runs WHERE %s > ?1 ORDER BY %s LIMIT 1", c, c, c) < 0;
	}
	/* Tags: ?5 the key, ?6 the value, by the index (key, value, id) and the runs after its mark. */
	n += asprintf(&s->sql[ST_LIST_BY + 3],
		      "SELECT %s FROM (" SQLSTORE_TAGGED_SQL ") AS t JOIN execution_log USING (id)"
		      " LEFT JOIN execlogfs_runs USING (id) ORDER BY t.id", cols) < 0;
	n += asprintf(&s->sql[ST_NAMES_BY + 3],
		      "SELECT t.id, execution_id FROM (" SQLSTORE_TAGGED_SQL ") AS t"
		      " JOIN execution_log USING (id) ORDER BY t.id") < 0;
	n += asprintf(&s->sql[ST_COUNT_BY + 3],
		      "SELECT (SELECT count(*) FROM execlogfs_tag_index WHERE key = ?5 AND value = ?6)"
		      " + (SELECT count(*) FROM (" SQLSTORE_TAGS_PENDING_SQL(SQLSTORE_TAGS_MARK_SQL) ")"
		      " WHERE key = ?5 AND value = ?6)") < 0;
	/* The pairs: the index's one seek each, merged with those of the runs after its mark. */
	n += asprintf(&s->sql[ST_VALUES_FIRST + 3],
		      "SELECT key, value FROM execlogfs_tag_index ORDER BY key, value LIMIT 1") < 0;
	n += asprintf(&s->sql[ST_VALUES_NEXT + 3],
		      "SELECT key, value FROM execlogfs_tag_index WHERE (key, value) > (?1, ?2)"
		      " ORDER BY key, value LIMIT 1") < 0;
	n += asprintf(&s->sql[ST_TAGS_PENDING],
		      "SELECT DISTINCT key, value FROM (" SQLSTORE_TAGS_PENDING_SQL(SQLSTORE_TAGS_MARK_SQL)
		      ") ORDER BY key, value") < 0;
	return n;
}

/* Output: pieces keyed (id, offset), their length in execlogfs_runs; as sqlstore_texts_changes(). */
static int sqlstore_texts_output(struct sqlstore *s, const struct sqlstore_schema *sc)
{
	int n = 0;

	n += asprintf(&s->sql[ST_OUTPUT_STATE], sc->current
		      ? "SELECT outcome, COALESCE(output_bytes, 0), COALESCE(output_cut, 0)"
			" FROM execution_log LEFT JOIN execlogfs_runs USING (id) WHERE id = ?1"
		      : "SELECT outcome, 0, 0 FROM execution_log WHERE id = ?1") < 0;
	n += asprintf(&s->sql[ST_OUTPUT_PIECE],
		      "INSERT INTO execlogfs_output (id, \"offset\", data) VALUES (?1, ?2, ?3)") < 0;
	n += asprintf(&s->sql[ST_OUTPUT_BYTES],
		      "INSERT INTO execlogfs_runs (id, output_bytes, output_cut, heartbeat_at_ms)"
		      " VALUES (?1, ?2, ?3, ?4)"
		      " ON CONFLICT (id) DO UPDATE SET output_bytes = excluded.output_bytes,"
		      " output_cut = MAX(COALESCE(output_cut, 0), excluded.output_cut),"
		      " heartbeat_at_ms = excluded.heartbeat_at_ms") < 0;
	/* One seek by the primary key to the piece holding ?2, then forward. */
	n += asprintf(&s->sql[ST_OUTPUT_READ], sc->has_output
		      ? "SELECT \"offset\", data FROM execlogfs_output WHERE id = ?1 AND \"offset\" >="
			" COALESCE((SELECT \"offset\" FROM execlogfs_output WHERE id = ?1"
			" AND \"offset\" <= ?2 ORDER BY \"offset\" DESC LIMIT 1), 0)"
			" ORDER BY \"offset\""
		      : "SELECT 0, x'' WHERE 0") < 0;
	return n;
}

int sqlstore_prepare_texts(struct sqlstore *s, const struct sqlstore_schema *sc)
{
	char cols[3072], ms[2048], from[128];
	int n;

	/* Record reads select from @from: execution_log, LEFT JOINed to execlogfs_runs. */
	sqlstore_schema_reads(sc, from, sizeof(from), ms, sizeof(ms));
	snprintf(cols, sizeof(cols), SQLSTORE_COLUMNS, ms);
	n = sqlstore_texts_changes(s) + sqlstore_texts_reads(s, cols, from) +
	    sqlstore_texts_indexes(s) + sqlstore_texts_counts(s, sc) + sqlstore_texts_views(s, cols, from, sc->current) +
	    sqlstore_texts_output(s, sc);
	return n ? store_fail(-ENOMEM, "sqlite: out of memory") : 0;
}
