/*
 * sqlstore.h - what sqlite.c and sqlite_schema.c share; read by those two only.
 *
 * sqlite_schema.c owns the layout of a SQLite store: magellan's table,
 * execlogfs's own tables beside it, and bringing back a store that an
 * earlier execlogfs changed. sqlite.c owns connections and queries.
 */
#ifndef EXECLOG_SQLSTORE_H
#define EXECLOG_SQLSTORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "backend.h"

/* The columns of execlogfs_runs beside id, in the order reads select them. */
enum sqlstore_run_col {
	SQLSTORE_RUN_STARTED_MS,   /* started_at_ms: the start, in ms */
	SQLSTORE_RUN_HEARTBEAT_MS, /* heartbeat_at_ms: the last sign of life of a running one */
	SQLSTORE_RUN_COLS
};

/* What a store holds, as read by sqlstore_schema_read(). */
struct sqlstore_schema {
	bool has_table;                   /* execution_log, with magellan's 14 columns */
	bool has_runs;                    /* execlogfs_runs */
	bool in_runs[SQLSTORE_RUN_COLS];  /* ...and its column of that kind */
	bool in_log[SQLSTORE_RUN_COLS];   /* a column that execlogfs 0.1.0 added to execution_log */
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
 * execution_log's) and the expression of each run column
 * (@ms: "a, b", NULL for what the store does not have), for @sc as it is.
 */
void sqlstore_schema_reads(const struct sqlstore_schema *sc, char *from, size_t from_size,
			   char *ms, size_t ms_size);

/* The started_at_ms of execution_log's row (for UPDATE execution_log), or NULL. */
extern const char sqlstore_started_ms_sql[];

#endif
