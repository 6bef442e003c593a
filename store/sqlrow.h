/*
 * sqlrow.h - what the two SQL backends (sqlite.c, postgres.c) share: the
 * columns a record read selects, one decoder of such a row into a struct
 * store_record over a small column-accessor interface, and one answer to
 * why a guarded UPDATE or DELETE changed no row. Read by store/ only.
 */
#ifndef EXECLOG_SQLROW_H
#define EXECLOG_SQLROW_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

/*
 * The first 14 columns every record read selects, in struct store_record
 * order; the start and the last heartbeat in ms follow (the backend's own).
 */
#define SQLROW_COLUMNS                                                         \
	"id, execution_id, tool_version, args, root, db_path, started_at, "   \
	"finished_at, duration_ms, outcome, error_message, "                  \
	"COALESCE(files_indexed, 0), COALESCE(symbols_indexed, 0), "          \
	"COALESCE(references_indexed, 0)"

/* How a backend reads column @col of its current row @row (its statement, its result). */
struct sqlrow_columns {
	const char *backend;                      /* for reasons: "sqlite", "postgres" */
	bool (*is_null)(void *row, int col);
	int64_t (*integer)(void *row, int col);   /* as the backend reads an integer */
	const char *(*text)(void *row, int col);  /* NULL for SQL null; valid until the next read */
};

/*
 * Fills @r from @row, which selects SQLROW_COLUMNS and the ms pair: 0, or
 * -ENOMEM, or -EIO for a row without its name or outcome (@r then cleared).
 */
int sqlrow_record(const struct sqlrow_columns *cols, void *row, struct store_record *r);

/*
 * Why a guarded change of @execution_id matched no row, from a lookup of
 * it (@found, and its @outcome, NULL for SQL null): -ENOENT, @running_err
 * when it is running, else @done_err, with the reason set. -ESTALE (a
 * finish's or delete's condition) is told as another run than @only_id.
 */
int sqlrow_unchanged(const char *execution_id, bool found, const char *outcome,
		     int running_err, int done_err, int64_t only_id);

#endif
