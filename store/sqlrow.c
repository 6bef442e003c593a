/*
 * sqlrow.c - the row decoder and the why-unchanged answer of the two SQL
 * backends (see sqlrow.h): one copy, whatever library reads the row.
 */
#include <errno.h>
#include <string.h>

#include "sqlrow.h"

static char *sqlrow_text(const struct sqlrow_columns *c, void *row, int col, bool *ok)
{
	return store_strdup_null(c->text(row, col), ok);
}

static int64_t sqlrow_int_or_null(const struct sqlrow_columns *c, void *row, int col)
{
	return c->is_null(row, col) ? STORE_NULL : c->integer(row, col);
}

int sqlrow_record(const struct sqlrow_columns *c, void *row, struct store_record *r)
{
	bool ok = true;

	r->id = c->integer(row, 0);
	r->execution_id = sqlrow_text(c, row, 1, &ok);
	r->tool_version = sqlrow_text(c, row, 2, &ok);
	r->args = sqlrow_text(c, row, 3, &ok);
	r->root = sqlrow_text(c, row, 4, &ok);
	r->db_path = sqlrow_text(c, row, 5, &ok);
	r->started_at = c->integer(row, 6);
	r->finished_at = sqlrow_int_or_null(c, row, 7);
	r->duration_ms = sqlrow_int_or_null(c, row, 8);
	r->outcome = sqlrow_text(c, row, 9, &ok);
	r->error_message = sqlrow_text(c, row, 10, &ok);
	r->files_indexed = c->integer(row, 11);
	r->symbols_indexed = c->integer(row, 12);
	r->references_indexed = c->integer(row, 13);
	/* A row another program wrote has no ms pair: its times in seconds stand in. */
	r->started_ms = sqlrow_int_or_null(c, row, 14);
	if (r->started_ms == STORE_NULL)
		r->started_ms = store_ms_of_seconds(r->started_at);
	r->heartbeat_ms = sqlrow_int_or_null(c, row, 15);
	if (r->heartbeat_ms == STORE_NULL)
		r->heartbeat_ms = r->finished_at != STORE_NULL ? store_ms_of_seconds(r->finished_at)
									    : r->started_ms;
	if (!ok || r->execution_id == NULL || r->outcome == NULL) {
		store_record_clear(r);
		if (!ok)
			return store_fail(-ENOMEM, "%s: out of memory", c->backend);
		return store_fail(-EIO, "%s: a row lacks its name or outcome", c->backend);
	}
	return 0;
}

int sqlrow_unchanged(const char *execution_id, bool found, const char *outcome,
		     int running_err, int done_err, int64_t only_id)
{
	bool running = outcome && strcmp(outcome, "running") == 0;

	if (!found)
		return store_fail(-ENOENT, "no execution %s", execution_id);
	/* A finish skips a running row only for its conditions, a delete a finished one. */
	if (running && running_err == -ESTALE)
		return store_fail(-ESTALE, "execution %s is another run, or heartbeat, since it "
				  "was read", execution_id);
	if (!running && done_err == -ESTALE)
		return store_fail(-ESTALE, "execution %s is another run than id %lld now",
				  execution_id, (long long)only_id);
	if (running)
		return store_fail(running_err, "execution %s is running", execution_id);
	return store_fail(done_err, "execution %s is not running (%s)", execution_id,
			  outcome ? outcome : "null");
}
