/*
 * sqlstore.h - what the files of the SQLite backend share; read by them only.
 *
 * sqlite_schema.c owns the layout of a SQLite store: magellan's table,
 * execlogfs's own tables beside it (execlogfs_runs, execlogfs_durations),
 * and bringing back a store that an earlier execlogfs changed.
 * sqlite_sql.c holds the statement texts; sqlite.c owns connections,
 * open and close, and the changes; sqlite_list.c the reads and listings;
 * sqlite_prov.c provenance and the views by it; sqlite_output.c output.
 */
#ifndef EXECLOG_SQLSTORE_H
#define EXECLOG_SQLSTORE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "sqlrow.h"

/* The prepared statements each connection keeps. */
enum sqlstore_stmt_id {
	ST_INSERT,
	ST_INSERT_RUN,
	ST_FINISH,
	ST_FINISH_RUN,
	ST_HEARTBEAT,
	ST_DELETE,
	ST_STATE,
	ST_GET,
	ST_GET_BY_ID,
	ST_LIST_ALL,
	ST_LIST_OUTCOME,
	ST_LIST_DAY,
	ST_LIST_OUTCOME_DAY,
	ST_NEXT_DAY,
	ST_LATEST,
	ST_NAMES_ALL,
	ST_NAMES_OUTCOME,
	ST_NAMES_DAY,
	ST_NAMES_OUTCOME_DAY,
	ST_COUNT_ALL,
	ST_COUNT_OUTCOME,
	ST_COUNT_DAY,
	ST_COUNT_OUTCOME_DAY,
	ST_COUNT_BY_OUTCOME,
	ST_COUNT_BY_OUTCOME_DAY,
	ST_RECENT,
	ST_SUMMARY,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_BY_START,        /* retention: finished, in start order, oldest first */
	ST_BY_START_NEWEST, /* the same, newest first */
	ST_TAGS_MARK,       /* tags: the last id execlogfs_tag_index holds (sqlite_prov.c) */
	ST_TAGS_INDEX,      /* ...the tags of the runs after it put in the index */
	ST_TAGS_MARK_SET,   /* ...and the mark moved past them */
	ST_TAGS_PENDING,    /* ...the pairs of the runs after it, as by-tag/ lists them */
	/* The views by provenance: four of each, in enum store_attr order from STORE_BY_HOST. */
	ST_LIST_BY,
	ST_NAMES_BY = ST_LIST_BY + 4,
	ST_COUNT_BY = ST_NAMES_BY + 4,
	ST_VALUES_FIRST = ST_COUNT_BY + 4, /* the least value of the attr */
	ST_VALUES_NEXT = ST_VALUES_FIRST + 4, /* the least value after ?1 (tags: after ?1=?2) */
	/* Output (sqlite_output.c). */
	ST_OUTPUT_STATE = ST_VALUES_NEXT + 4, /* outcome, output_bytes and output_cut of an id */
	ST_OUTPUT_PIECE,    /* one piece appended */
	ST_OUTPUT_BYTES,    /* output_bytes, output_cut and heartbeat_at_ms set */
	ST_OUTPUT_READ,     /* the pieces from the one holding an offset on */
	ST_COUNT
};

/* The statement @first (ST_LIST_BY...) of the view by @attr. */
#define SQLSTORE_ST_BY(first, attr) ((enum sqlstore_stmt_id)((first) + (attr) - STORE_BY_HOST))

struct sqlstore_conn {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT];
	struct sqlstore_conn *next;
};

struct sqlstore {
	struct store base;
	char *path;
	char *open_name;              /* what sqlite3_open_v2 gets: path, or a URI (read-only media) */
	int open_flags;
	char *sql[ST_COUNT];          /* statement texts, fixed at open */
	pthread_mutex_t pool_lock;
	struct sqlstore_conn *idle;   /* connections not in use */
	bool has_durations;           /* execlogfs_durations and its triggers are in place */
	struct sqlstore_version *version; /* store_version()'s connection (sqlite_version.c) */
	struct sqlstore_backfill *backfill; /* the rows' one-time count under way (sqlite_counts.c) */
};

/* The columns every query reads, in struct store_record order; %s is the ms pair. */
#define SQLSTORE_COLUMNS SQLROW_COLUMNS ", %s"

/* The columns of execlogfs_runs beside id, in the order reads select them (after magellan's 14). */
enum sqlstore_run_col {
	SQLSTORE_RUN_STARTED_MS,   /* started_at_ms: the start, in ms */
	SQLSTORE_RUN_HEARTBEAT_MS, /* heartbeat_at_ms: the last sign of life of a running one */
	SQLSTORE_RUN_EXIT_CODE,    /* provenance, as struct store_record names it */
	SQLSTORE_RUN_SIGNAL,
	SQLSTORE_RUN_HOST,
	SQLSTORE_RUN_USER,
	SQLSTORE_RUN_UID,
	SQLSTORE_RUN_PID,
	SQLSTORE_RUN_CWD,
	SQLSTORE_RUN_TOOL,         /* by-tool/'s: set by starts, and by triggers for other rows */
	SQLSTORE_RUN_OUTPUT_BYTES, /* the length of the output (execlogfs_output) */
	SQLSTORE_RUN_OUTPUT_CUT,   /* 1 once an append hit the cap */
	SQLSTORE_RUN_TAGS,         /* the tags, a JSON object in the start document's order */
	SQLSTORE_RUN_COLS
};

/* The columns execlogfs 0.1.0 added to execution_log: the first ones of the enum. */
#define SQLSTORE_RUN_COLS_0_1_0 2

/*
 * The column of a record read that holds the tags: a JSON object, or
 * [[key, value], ...] from a store of the earlier layout read as it is; or null.
 */
#define SQLSTORE_COL_TAGS (14 + SQLSTORE_RUN_TAGS)

/*
 * The most runs whose tags are not in execlogfs_tag_index yet: a start
 * indexes the tags of the runs before it once their ids pass this many
 * (see sqlite_prov.c), and views by tag read those few runs' tags instead.
 */
#define SQLSTORE_TAGS_PENDING 64

/*
 * The tags text @t as SQL when it is a JSON object, else NULL (json_each()
 * of it then gives no row): a trigger on a row another program changes
 * must not fail on a text it did not expect.
 */
#define SQLSTORE_TAGS_OF(t)                                                    \
	"CASE WHEN typeof(" t ") = 'text' AND json_valid(" t ") THEN"           \
	" CASE WHEN json_type(" t ") = 'object' THEN " t " END END"

/* Puts the tags of the runs after the mark in execlogfs_tag_index; then the mark moves past them. */
#define SQLSTORE_TAGS_INDEX_SQL                                                \
	"INSERT OR IGNORE INTO execlogfs_tag_index (key, value, id)"            \
	" SELECT j.key, j.value, r.id FROM execlogfs_runs AS r, json_each("     \
	SQLSTORE_TAGS_OF("r.tags") ") AS j"                                     \
	" WHERE r.id > (SELECT upto FROM execlogfs_tags_indexed) AND j.type = 'text'"
#define SQLSTORE_TAGS_MARK_SET_SQL                                             \
	"UPDATE execlogfs_tags_indexed SET upto ="                              \
	" MAX(upto, COALESCE((SELECT max(id) FROM execlogfs_runs), 0))"

/* What a store holds, as read by sqlstore_schema_read(). */
struct sqlstore_schema {
	bool has_table;                   /* execution_log, with magellan's 14 columns */
	bool has_runs;                    /* execlogfs_runs */
	bool in_runs[SQLSTORE_RUN_COLS];  /* ...and its column of that kind */
	bool in_log[SQLSTORE_RUN_COLS];   /* a column that execlogfs 0.1.0 added to execution_log */
	bool has_tags;                    /* execlogfs_tag_index and execlogfs_tags_indexed */
	bool has_old_tags;                /* execlogfs_tags (id, key, value, seq): an earlier layout */
	bool has_output;                  /* execlogfs_output */
	bool has_counts;                  /* execlogfs_counts and its state (sqlite_counts.c) */
	/* All of this execlogfs's tables and columns are there (else: an older store under ro). */
	bool current;
};

/* Translates rc for the caller and records why, naming what was being done. */
int sqlstore_fail(sqlite3 *db, int rc, const char *doing);

/* Reads the layout of the store; -EMEDIUMTYPE for a table that is not magellan's. */
int sqlstore_schema_read(sqlite3 *db, struct sqlstore_schema *out);

/*
 * Makes the store what this execlogfs writes, in one transaction under a
 * write lock: magellan's table and indexes if missing, execlogfs_runs and
 * its triggers, and the columns an earlier execlogfs added to execution_log
 * moved into execlogfs_runs and dropped. Interrupted, it is rolled back.
 */
int sqlstore_schema_migrate(sqlite3 *db);

/*
 * What record reads select from (@from: execution_log, LEFT JOINed to
 * execlogfs_runs USING (id) when there is one, so that id stays
 * execution_log's) and the expression of each run column, then of the
 * tags (@ms: "a, b, ...", NULL for what the store does not have), for @sc
 * as it is.
 */
void sqlstore_schema_reads(const struct sqlstore_schema *sc, char *from, size_t from_size,
			   char *ms, size_t ms_size);

/* The started_at_ms of execution_log's row (for UPDATE execution_log), or NULL. */
extern const char sqlstore_started_ms_sql[];

/*
 * Whether execlogfs_durations has today's buckets and its three triggers
 * (@ok); 0, or an error reading the schema.
 */
int sqlstore_durations_ok(sqlite3 *db, bool *ok);

/*
 * Creates execlogfs_durations and its triggers when they are missing or of
 * other buckets, and fills the table from the rows counted so far (none on
 * a store whose execlogfs_counts is new: its backfill adds them, batch by
 * batch; all on one whose backfill is done: one scan, once), under a write
 * lock: another process may be doing the same right now.
 */
int sqlstore_durations_setup(sqlite3 *db);

/*
 * The tool of the args text @a as SQL: the last path component of its
 * first string, or NULL. Guarded so that no text at all (not JSON, not an
 * array of strings, a blob) can make it fail: a trigger that raised an
 * error would fail the insert of the program that wrote the row.
 */
#define SQLSTORE_TOOL_OF(a)                                                    \
	"CASE WHEN typeof(" a ") = 'text' AND json_valid(" a ")"               \
	" AND json_type(" a ") = 'array' AND json_type(" a ", '$[0]') = 'text'" \
	" AND NOT EXISTS (SELECT 1 FROM json_each(" a ") WHERE type <> 'text')" \
	" THEN NULLIF(substr(json_extract(" a ", '$[0]'), length(rtrim("        \
	"json_extract(" a ", '$[0]'), replace(json_extract(" a ", '$[0]'), '/', ''))) + 1), '')" \
	" END"

/* Runs @sql (several statements), or fails naming @doing. */
int sqlstore_exec(sqlite3 *db, const char *sql, const char *doing);

/* Whether @table exists, into *@found. */
int sqlstore_table_exists(sqlite3 *db, const char *table, bool *found);

/*
 * Creates each of the @n triggers (name, exact text) that is missing or of
 * another text: a store already current is left as it is (no change of
 * schema, which would make every other connection prepare its statements again).
 */
int sqlstore_triggers_set(sqlite3 *db, const char *const triggers[][2], size_t n);

/* The counts kept (sqlite_counts.c). */

/*
 * Whether the row @r (NEW or OLD, or a row of execution_log) is counted in
 * execlogfs_counts and execlogfs_durations now: below the backfill's
 * watermark, or all once it is done (sqlite_counts.c's opening).
 */
#define SQLSTORE_COUNTED(r) "COALESCE(" r ".id < (SELECT next_id FROM execlogfs_counts_state), 1)"

/* The bucket of row @r's duration (le_ms) as SQL, into @b (sqlite_schema.c). */
void sqlstore_bucket_sql(char *b, size_t size, const char *r);

/*
 * The durations of the finished rows of execution_log that a condition
 * keeps, as rows (le_ms, finished, sum_ms, last_finished_at) whose sums
 * are those of the rows: @with, a WITH clause to begin the statement, and
 * @rows, a SELECT that reads it (sqlite_schema.c). One pass and no sort: a
 * GROUP BY of the bucket sorts every row it reads, in memory
 * (temp_store=MEMORY): 45 MB at 1M rows, 450 MB at 10M.
 */
struct sqlstore_left_sql {
	char with[4096];
	char rows[2048];
};

/*
 * Fills @out for the rows @where (" AND ...", or "") keeps: @by_bucket,
 * one row per bucket that has any, with its own sum and latest finish (as
 * execlogfs_durations keeps them); else, twice as fast, one row per
 * bucket with the sum and latest finish of all on the first (as a summary
 * adds them up).
 */
void sqlstore_durations_left_sql(struct sqlstore_left_sql *out, const char *where, bool by_bucket);

/*
 * Rows a batch of the backfill counts, unless a test sets
 * EXECLOGFS_TEST_BACKFILL_BATCH. A read of the version waits for the batch
 * under way: 2,500 rows kept that wait near 0.05 s at 1M rows, where
 * 10,000 made it 0.15-0.35 s, for the same total time.
 */
#define SQLSTORE_COUNTS_BATCH 2500

/*
 * In the migration's transaction: execlogfs_counts, its state and its
 * triggers. A store that had no state gets one whose backfill counts every
 * row there now and, when @give_tools, gives them their tool: then
 * *@tools_deferred is true and the migration leaves the tools to it.
 */
int sqlstore_counts_create(sqlite3 *db, bool give_tools, bool *tools_deferred);

/*
 * One batch of the backfill in the transaction begun on @db under a write
 * lock (BEGIN IMMEDIATE), then committed, or rolled back on error; *@done
 * once every row is counted (also when there was nothing to do).
 */
int sqlstore_counts_batch(sqlite3 *db, int64_t batch, bool *done);

/* SQLSTORE_COUNTS_BATCH, or $EXECLOGFS_TEST_BACKFILL_BATCH (tests only). */
int64_t sqlstore_counts_batch_size(void);

/* Whether the backfill has rows left (false also when there is no execlogfs_counts). */
int sqlstore_counts_pending(sqlite3 *db, bool *pending);

struct sqlstore_backfill;

/*
 * Starts the backfill in a thread of its own, on the connection that asks
 * data_version, when rows are left to count (@db: a connection to read
 * that): a writable open answers at once. Until it ends, reads count the
 * rows it has yet to reach.
 */
int sqlstore_backfill_start(struct sqlstore *s, sqlite3 *db);

/* Stops the backfill (the batch under way ends first), if one runs: at close. */
void sqlstore_backfill_stop(struct sqlstore *s);

/* Sets s->sql[], every statement's text, for the store's layout @sc (sqlite_sql.c). */
int sqlstore_prepare_texts(struct sqlstore *s, const struct sqlstore_schema *sc);

/*
 * Borrows a connection and its prepared statement @id, reset and ready to
 * bind: what every call begins with. On error nothing is held.
 */
int sqlstore_begin(struct sqlstore *s, enum sqlstore_stmt_id id,
		   struct sqlstore_conn **c, sqlite3_stmt **st);

/* Gives back a connection that sqlstore_begin() lent. */
void sqlstore_put(struct sqlstore *s, struct sqlstore_conn *c);

/* Borrows a connection for the calling thread; give it back with sqlstore_put(). */
int sqlstore_take(struct sqlstore *s, struct sqlstore_conn **out);

/* The prepared statement @id of @c, reset and unbound, prepared on first use. */
int sqlstore_stmt(struct sqlstore *s, struct sqlstore_conn *c, enum sqlstore_stmt_id id,
		  sqlite3_stmt **out);

/* Binds @text as parameter @i, SQL null for NULL. */
int sqlstore_bind_text(sqlite3_stmt *st, int i, const char *text);

/* Fills @r from the current row of a statement that selects SQLSTORE_COLUMNS. */
int sqlstore_row(sqlite3_stmt *st, struct store_record *r);

/* A change of another file, applied in a savepoint of the group commit's transaction. */
typedef int (*sqlstore_apply_fn)(struct sqlstore *s, struct sqlstore_conn *c, void *arg);

/*
 * Runs @fn(@arg) as one change of the group commit (sqlite.c): undone alone
 * when it fails, committed with the others before this returns 0.
 */
int sqlstore_change_run(struct sqlstore *s, sqlstore_apply_fn fn, void *arg);

/* Provenance (sqlite_prov.c). */

/*
 * Writes the execlogfs_runs row of the start @rec (id set) with its tags,
 * in its savepoint, and indexes the tags of the runs before it when due.
 */
int sqlstore_start_prov(struct sqlstore *s, struct sqlstore_conn *c, const struct store_record *rec);

/* Fills @r's provenance, output_bytes and tags from a row of SQLSTORE_COLUMNS; clears @r on error. */
int sqlstore_row_prov(sqlite3_stmt *st, struct store_record *r);

/* Binds a filter's attr value as ?5, and a tag's value as ?6. */
void sqlstore_bind_attr(sqlite3_stmt *st, const struct store_filter *filter);

/* The downcast of a store that the SQLite backend opened. */
static inline struct sqlstore *sqlstore_of(struct store *base)
{
	return STORE_DOWNCAST(base, struct sqlstore, sqlstore_ops);
}

/* The reads (sqlite_list.c): each the op of the same name in backend.h. */
int sqlstore_get(struct store *base, const char *execution_id, struct store_record *out);
int sqlstore_get_by_id(struct store *base, int64_t id, struct store_record *out);
int sqlstore_latest(struct store *base, struct store_record *out);
int sqlstore_count(struct store *base, const struct store_filter *filter, uint64_t *count);
int sqlstore_count_outcomes(struct store *base, const struct store_filter *filter,
			    uint64_t counts[STORE_OUTCOMES]);
int sqlstore_list(struct store *base, const struct store_filter *filter,
		  int64_t after_id, store_list_fn fn, void *ctx);
int sqlstore_list_names(struct store *base, const struct store_filter *filter,
			int64_t after_id, store_name_fn fn, void *ctx);
int sqlstore_list_days(struct store *base, int64_t after_day, store_day_fn fn, void *ctx);
int sqlstore_list_recent(struct store *base, size_t n, store_list_fn fn, void *ctx);
int sqlstore_summary(struct store *base, struct store_summary *out);
int sqlstore_list_finished_by_start(struct store *base, const struct store_start_walk *w,
				    store_by_start_fn fn, void *ctx);
int sqlstore_list_values(struct store *base, enum store_attr attr, store_value_fn fn, void *ctx);

/* store_version() (sqlite_version.c), and the free of its connection that close does. */
int sqlstore_version(struct store *base, uint64_t *version);
void sqlstore_version_free(struct sqlstore *s);

/*
 * The connection that asks data_version (opened if need be) in *@db, its
 * lock held until sqlstore_version_unlock(): the background count commits
 * on it, so that its batches do not move store_version().
 */
int sqlstore_version_lock(struct sqlstore *s, sqlite3 **db);
void sqlstore_version_unlock(struct sqlstore *s);

/* Output (sqlite_output.c): each the op of the same name in backend.h. */
int sqlstore_output_append(struct store *base, int64_t id, uint64_t offset, const void *buf,
			   size_t len, uint64_t max, size_t *written);
int sqlstore_output_read(struct store *base, int64_t id, uint64_t offset, void *buf, size_t len,
			 size_t *got);
int sqlstore_output_cut(struct store *base, int64_t id);

#endif
