/*
 * pgstore.h - what the files of the PostgreSQL backend share; read by them only.
 *
 * postgres.c owns the table, open and close, and the changes (its opening
 * comment says what the backend guarantees); postgres_conn.c the pool of
 * sessions, running a statement, values and rows, and the reservations;
 * postgres_list.c the reads; postgres_watch.c the LISTEN thread;
 * postgres_prov.c provenance's columns, tags and values; postgres_output.c
 * output/<id>; postgres_counts.c the counts and durations kept by
 * triggers, their backfill, and the reads of them.
 */
#ifndef EXECLOG_PGSTORE_H
#define EXECLOG_PGSTORE_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>

#include "backend.h"
#include "sqlrow.h"

/* Rows a listing fetches at a time: its memory, whatever the table holds. */
#define PGSTORE_PAGE 256

#define PGSTORE_PAGE_TEXT "256"

/* Rows of a names-only listing page: two short columns each. */
#define PGSTORE_NAMES_PAGE 1024

#define PGSTORE_NAMES_PAGE_TEXT "1024"

/* Connections a store opens at most; a call waits for one beyond that. */
#define PGSTORE_POOL_MAX 8

/* Seconds a connection attempt may take, so that no call hangs on a lost server. */
#define PGSTORE_CONNECT_TIMEOUT "5"

/* The channel every change is announced on. */
#define PGSTORE_CHANNEL "execlog"

/* Serializes the creation of the table (pg_advisory_xact_lock key: "execlog"). */
#define PGSTORE_LOCK_KEY "28549237546772327"

/* Orders the backfill's batches after the writers that read its watermark (postgres_counts.c). */
#define PGSTORE_COUNTS_LOCK_KEY "28549237546772328"

/* Rows a batch of the backfill counts, unless a test sets EXECLOGFS_TEST_BACKFILL_BATCH. */
#define PGSTORE_COUNTS_BATCH 50000

/* The indexes of the views by provenance: name ON table(columns). */
#define PGSTORE_INDEX_HOST "idx_execution_log_host ON execution_log(host, id)"
#define PGSTORE_INDEX_USER "idx_execution_log_user ON execution_log(\"user\", id)"
#define PGSTORE_INDEX_TOOL "idx_execution_log_tool ON execution_log(tool, id)"

/* Held by the session that builds those indexes, so that one mount at a time does. */
#define PGSTORE_INDEX_LOCK_KEY "28549237546772329"

struct pgstore_backfill;

struct pgstore_conn {
	PGconn *pg;
	struct pgstore_conn *next;
};

struct pgstore {
	struct store base;
	char *conninfo;
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_free;
	struct pgstore_conn *idle; /* connections not in use */
	int open_conns;            /* idle or borrowed */

	/* The session that holds this store's reservations, never pooled (see pgstore_reserve). */
	pthread_mutex_t reserve_lock;
	struct pgstore_conn reserve_conn;
	int reserve_pid; /* the server process of that session, once its keepalives are set */

	/* The watch: a listener thread and its stop pipe. */
	bool watching;
	pthread_t listener;
	int stop_pipe[2];
	PGconn *listen_pg;
	store_change_fn change_fn;
	void *change_ctx;

	/* The table has execlog_counts (false: an older execlogfs's, read-only: count(*)). */
	bool has_counts;
	struct pgstore_backfill *backfill; /* the thread counting older rows, or NULL */
};

static inline struct pgstore *pgstore_of(struct store *base)
{
	return STORE_DOWNCAST(base, struct pgstore, pgstore_ops);
}

/*
 * The columns every read selects, in struct store_record order: magellan's,
 * the ms pair, then provenance from PGSTORE_COL_PROVENANCE on (exit_code,
 * signal, host, user, uid, pid, cwd, output_bytes, tool, and the tags as
 * JSON [[key, value], ...] in the start's order, or null).
 */
#define PGSTORE_COLUMNS SQLROW_COLUMNS ", started_at_ms, heartbeat_at_ms, "  \
	"exit_code, signal, host, \"user\", uid, pid, cwd, output_bytes, tool, " \
	"(SELECT json_agg(json_build_array(t.key, t.value) ORDER BY t.ord)"    \
	" FROM execlog_tags t WHERE t.id = execution_log.id)"

#define PGSTORE_COL_PROVENANCE 16

enum pgstore_kind {
	PG_READ,  /* safe to run again after any connection loss */
	PG_WRITE, /* run again only when the server ended the session first */
};

/* Row @row of @res, as sqlrow.c reads it. */
struct pgstore_cursor {
	const PGresult *res;
	int row;
};

/* libpq's message @msg, without its trailing newline, in @buf, for a reason. */
const char *pgstore_message(const char *msg, char *buf, size_t size);

/* The negative errno of a SQLSTATE (-EIO for one we do not tell apart). */
int pgstore_errno_of_state(const char *state);

/* A new connection with our defaults (see postgres_conn.c); NULL out of memory. */
PGconn *pgstore_connect(const char *conninfo);

/* A notice processor that drops notices ("already exists, skipping"). */
void pgstore_ignore_notice(void *arg, const char *message);

/* Makes @c's connection usable: connects or resets it as needed. */
int pgstore_ready(struct pgstore *s, struct pgstore_conn *c);

/* Borrows a connection, waiting while PGSTORE_POOL_MAX are in use; NULL out of memory. */
struct pgstore_conn *pgstore_take(struct pgstore *s);
void pgstore_put(struct pgstore *s, struct pgstore_conn *c);

/*
 * Runs @sql with @n text parameters (NULL for SQL null) on a pooled
 * connection and returns its result in *out (PQclear it), or a negative
 * errno with the reason set, naming @doing. A broken connection is reset
 * and the statement run once more when that cannot run it twice.
 */
int pgstore_run(struct pgstore *s, enum pgstore_kind kind, const char *doing,
		const char *sql, int n, const char *const *params, PGresult **out);

/* The parameters of a statement, as PQexecParams() takes them. */
struct pgstore_params {
	int n;
	const char *const *values;
	const int *lengths;  /* of binary ones; NULL when all are text */
	const int *formats;  /* 1 for binary; NULL when all are text */
	int binary_result;   /* 1: every column of the result in binary */
};

/* pgstore_run() with binary parameters or result. */
int pgstore_run_params(struct pgstore *s, enum pgstore_kind kind, const char *doing,
		       const char *sql, const struct pgstore_params *p, PGresult **out);

/* A decimal int64 parameter in @buf. */
const char *pgstore_int(char *buf, size_t size, int64_t v);

/* The integer at (@row, @col), STORE_NULL for SQL null. */
int64_t pgstore_get_int(const PGresult *res, int row, int col);

/* The text at column @col of the row @cur (a struct pgstore_cursor), NULL for SQL null. */
const char *pgstore_col_text(void *cur, int col);

/* Fills @r from row @row of a result that selects PGSTORE_COLUMNS. */
int pgstore_row(const PGresult *res, int row, struct store_record *r);

/* The schema of provenance and output (postgres_prov.c), run at open after the table's. */
extern const char pgstore_schema_provenance[];

/*
 * The schema of the counts (postgres_counts.c), malloc'd, NULL out of
 * memory; run in the transaction of pgstore_schema_provenance, after it.
 */
char *pgstore_counts_schema(void);

/*
 * At open, after the schema: whether the table has the counts, and in a
 * writable store the backfill's thread while rows are left to count.
 */
int pgstore_counts_open(struct pgstore *s);

/* Stops the backfill's thread, if any, and waits for it; at close. */
void pgstore_backfill_stop(struct pgstore *s);

/* Fills the provenance of @r (row @row of a PGSTORE_COLUMNS result); pgstore_row() calls it. */
int pgstore_row_provenance(const PGresult *res, int row, struct store_record *r);

/*
 * The tags of @rec as two PostgreSQL array literals (keys, values) in
 * malloc'd *@keys and *@values, for a start's one statement; 0 or -ENOMEM.
 */
int pgstore_tags_arrays(const struct store_record *rec, char **keys, char **values);

/* The ops of the same name in backend.h. */
int pgstore_reserve(struct store *base, const char *execution_id);
void pgstore_unreserve(struct store *base, const char *execution_id);
int pgstore_get(struct store *base, const char *execution_id, struct store_record *out);
int pgstore_get_by_id(struct store *base, int64_t id, struct store_record *out);
int pgstore_latest(struct store *base, struct store_record *out);
int pgstore_count(struct store *base, const struct store_filter *filter, uint64_t *count);
int pgstore_list(struct store *base, const struct store_filter *filter,
		 int64_t after_id, store_list_fn fn, void *ctx);
int pgstore_list_names(struct store *base, const struct store_filter *filter,
		       int64_t after_id, store_name_fn fn, void *ctx);
int pgstore_list_recent(struct store *base, size_t n, store_list_fn fn, void *ctx);
int pgstore_list_finished_by_start(struct store *base, const struct store_start_walk *w,
				   store_by_start_fn fn, void *ctx);
int pgstore_summary(struct store *base, struct store_summary *out);
int pgstore_count_outcomes(struct store *base, const struct store_filter *filter,
			   uint64_t counts[STORE_OUTCOMES]);
int pgstore_list_days(struct store *base, int64_t after_day, store_day_fn fn, void *ctx);
int pgstore_check_room(struct store *base);
int pgstore_watch(struct store *base, store_change_fn fn, void *ctx);
int pgstore_list_values(struct store *base, enum store_attr attr, store_value_fn fn, void *ctx);
int pgstore_output_append(struct store *base, int64_t id, uint64_t offset, const void *buf,
			  size_t len, uint64_t max, size_t *written);
int pgstore_output_read(struct store *base, int64_t id, uint64_t offset, void *buf, size_t len,
			size_t *got);
int pgstore_output_cut(struct store *base, int64_t id);
int pgstore_version(struct store *base, uint64_t *version);

/* Stops the listener of pgstore_watch(), if any, and waits for it. */
void pgstore_unwatch(struct pgstore *s);

#endif
