/*
 * sqlite_list.c - the SQLite backend's reads: one record, counts, and the
 * listings, each a prepared statement of a borrowed connection (sqlite.c),
 * walked by an index (keyset paging on id, one seek a day).
 */
#include <errno.h>
#include <stdio.h>

#include "sqlstore.h"

/* Runs a bound one-row query into @out; -ENOENT with @what when no row. */
static int sqlstore_one(struct sqlstore_conn *c, sqlite3_stmt *st,
			struct store_record *out, const char *what)
{
	int rc = sqlite3_step(st), err;

	if (rc == SQLITE_ROW)
		err = sqlstore_row(st, out);
	else if (rc == SQLITE_DONE)
		err = store_fail(-ENOENT, "no execution %s", what);
	else
		err = sqlstore_fail(c->db, rc, "read");
	sqlite3_reset(st);
	return err;
}

int sqlstore_get(struct store *base, const char *execution_id, struct store_record *out)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	sqlite3_stmt *st;
	int err;

	err = sqlstore_begin(s, ST_GET, &c, &st);
	if (err)
		return err;
	sqlstore_bind_text(st, 1, execution_id);
	err = sqlstore_one(c, st, out, execution_id);
	sqlstore_put(s, c);
	return err;
}

int sqlstore_get_by_id(struct store *base, int64_t id, struct store_record *out)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	sqlite3_stmt *st;
	char what[32];
	int err;

	err = sqlstore_begin(s, ST_GET_BY_ID, &c, &st);
	if (err)
		return err;
	sqlite3_bind_int64(st, 1, id);
	snprintf(what, sizeof(what), "with id %lld", (long long)id);
	err = sqlstore_one(c, st, out, what);
	sqlstore_put(s, c);
	return err;
}

int sqlstore_latest(struct store *base, struct store_record *out)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	sqlite3_stmt *st;
	int err;

	err = sqlstore_begin(s, ST_LATEST, &c, &st);
	if (err)
		return err;
	err = sqlstore_one(c, st, out, "at all");
	sqlstore_put(s, c);
	return err;
}

/*
 * Binds a filter's outcome as ?2, its day as [?3, ?4) and as ?7 (the key of
 * execlogfs_counts), its attr's value as ?5 (and ?6).
 */
static void sqlstore_bind_filter(sqlite3_stmt *st, const struct store_filter *filter)
{
	sqlstore_bind_attr(st, filter);
	if (filter->outcome >= 0)
		sqlstore_bind_text(st, 2, store_outcome_name(filter->outcome));
	if (filter->day >= 0) {
		sqlite3_bind_int64(st, 3, store_day_start(filter->day));
		sqlite3_bind_int64(st, 4, store_day_start(filter->day + 1));
		sqlite3_bind_int64(st, 7, filter->day);
	}
}

int sqlstore_count(struct store *base, const struct store_filter *filter, uint64_t *count)
{
	struct sqlstore *s = sqlstore_of(base);
	enum sqlstore_stmt_id id;
	struct sqlstore_conn *c;
	sqlite3_stmt *st;
	int err, rc;

	if (filter->attr != STORE_ATTR_NONE)
		id = SQLSTORE_ST_BY(ST_COUNT_BY, filter->attr);
	else if (filter->outcome >= 0)
		id = filter->day >= 0 ? ST_COUNT_OUTCOME_DAY : ST_COUNT_OUTCOME;
	else
		id = filter->day >= 0 ? ST_COUNT_DAY : ST_COUNT_ALL;
	err = sqlstore_begin(s, id, &c, &st);
	if (err)
		return err;
	sqlstore_bind_filter(st, filter);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*count = (uint64_t)sqlite3_column_int64(st, 0);
	else
		err = sqlstore_fail(c->db, rc, "count");
	sqlite3_reset(st);
	sqlstore_put(s, c);
	return err;
}

/* The listing statement for @filter: ST_LIST_* or, for names only, ST_NAMES_*. */
static enum sqlstore_stmt_id sqlstore_list_stmt(const struct store_filter *filter, bool names)
{
	int which = (filter->outcome >= 0 ? 1 : 0) + (filter->day >= 0 ? 2 : 0);

	/* A view by provenance comes with no outcome or day (store.c checks). */
	if (filter->attr != STORE_ATTR_NONE)
		return SQLSTORE_ST_BY(names ? ST_NAMES_BY : ST_LIST_BY, filter->attr);
	return (enum sqlstore_stmt_id)((names ? ST_NAMES_ALL : ST_LIST_ALL) + which);
}

/* Ends a listing: counts its work, resets the statement, gives back the connection. */
static int sqlstore_list_end(struct sqlstore *s, struct sqlstore_conn *c, sqlite3_stmt *st,
			     int err, int rc)
{
	/* The steps of SQLite's machine: they grow with every row the plan visits. */
	store_count_visits(&s->base, (uint64_t)sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1));
	if (err > 0)
		err = 0;
	else if (err == 0 && rc != SQLITE_DONE)
		err = sqlstore_fail(c->db, rc, "list");
	sqlite3_reset(st);
	sqlstore_put(s, c);
	return err;
}

int sqlstore_count_outcomes(struct store *base, const struct store_filter *filter,
			    uint64_t counts[STORE_OUTCOMES])
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	sqlite3_stmt *st;
	int err, rc;

	err = sqlstore_begin(s, filter->day >= 0 ? ST_COUNT_BY_OUTCOME_DAY : ST_COUNT_BY_OUTCOME,
			     &c, &st);
	if (err)
		return err;
	sqlstore_bind_filter(st, filter);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int o = store_outcome_from_name((const char *)sqlite3_column_text(st, 0));

		/* A row of another program's with an outcome of its own counts nowhere. */
		if (o >= 0)
			counts[o] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	if (rc != SQLITE_DONE)
		err = sqlstore_fail(c->db, rc, "count");
	sqlite3_reset(st);
	sqlstore_put(s, c);
	return err;
}

/* Steps @st, bound, handing each record to @fn; then as sqlstore_list_end(). */
static int sqlstore_records(struct sqlstore *s, struct sqlstore_conn *c, sqlite3_stmt *st,
			    store_list_fn fn, void *ctx)
{
	struct store_record rec = { 0 };
	int err = 0, rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = sqlstore_row(st, &rec);
		if (err == 0)
			err = fn(ctx, &rec);
		store_record_clear(&rec);
		if (err)
			break;
	}
	return sqlstore_list_end(s, c, st, err, rc);
}

int sqlstore_list(struct store *base, const struct store_filter *filter,
		  int64_t after_id, store_list_fn fn, void *ctx)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	sqlite3_stmt *st;
	int err;

	err = sqlstore_begin(s, sqlstore_list_stmt(filter, false), &c, &st);
	if (err)
		return err;
	sqlite3_bind_int64(st, 1, after_id);
	sqlstore_bind_filter(st, filter);
	return sqlstore_records(s, c, st, fn, ctx);
}

int sqlstore_list_names(struct store *base, const struct store_filter *filter,
			int64_t after_id, store_name_fn fn, void *ctx)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	sqlite3_stmt *st;
	int err, rc;

	err = sqlstore_begin(s, sqlstore_list_stmt(filter, true), &c, &st);
	if (err)
		return err;
	sqlite3_bind_int64(st, 1, after_id);
	sqlstore_bind_filter(st, filter);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);

		err = fn(ctx, sqlite3_column_int64(st, 0), name ? name : "");
		if (err)
			break;
	}
	return sqlstore_list_end(s, c, st, err, rc);
}

int sqlstore_list_days(struct store *base, int64_t after_day, store_day_fn fn, void *ctx)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	int64_t from = store_day_start(after_day + 1);
	sqlite3_stmt *st = NULL;
	int err, rc;

	err = sqlstore_begin(s, ST_NEXT_DAY, &c, &st);
	if (err)
		return err;
	/* One index seek a day: the cost is the number of days, not of executions. */
	while (err == 0) {
		int64_t day;

		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, from);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			err = sqlstore_fail(c->db, rc, "list days");
			break;
		}
		day = store_day_of(sqlite3_column_int64(st, 0));
		sqlite3_reset(st);
		/* store.c's fn stops at a day that is not nameable: the next second stays in int64. */
		err = fn(ctx, day);
		if (err == 0)
			from = store_day_start(day + 1);
	}
	if (err > 0)
		err = 0;
	sqlite3_reset(st);
	sqlstore_put(s, c);
	return err;
}

int sqlstore_list_recent(struct store *base, size_t n, store_list_fn fn, void *ctx)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	sqlite3_stmt *st;
	int err;

	err = sqlstore_begin(s, ST_RECENT, &c, &st);
	if (err)
		return err;
	sqlite3_bind_int64(st, 1, n > INT64_MAX ? INT64_MAX : (int64_t)n);
	return sqlstore_records(s, c, st, fn, ctx);
}

int sqlstore_summary(struct store *base, struct store_summary *out)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	sqlite3_stmt *st;
	int err, rc;

	if (!s->has_durations)
		return store_fail(-EOPNOTSUPP, "sqlite: no execlogfs_durations (a read-only mount)");
	err = sqlstore_begin(s, ST_SUMMARY, &c, &st);
	if (err)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int b = store_duration_bucket(sqlite3_column_int64(st, 0));

		out->finished[b] += (uint64_t)sqlite3_column_int64(st, 1);
		out->duration_sum_ms = store_add_saturated(out->duration_sum_ms,
							   sqlite3_column_int64(st, 2));
		if (sqlite3_column_type(st, 3) != SQLITE_NULL &&
		    (out->last_finished_at == STORE_NULL || sqlite3_column_int64(st, 3) > out->last_finished_at))
			out->last_finished_at = sqlite3_column_int64(st, 3);
	}
	if (rc != SQLITE_DONE)
		err = sqlstore_fail(c->db, rc, "read execlogfs_durations");
	sqlite3_reset(st);
	sqlstore_put(s, c);
	return err;
}

int sqlstore_list_finished_by_start(struct store *base, const struct store_start_walk *w,
				    store_by_start_fn fn, void *ctx)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	sqlite3_stmt *st;
	int err, rc;

	err = sqlstore_begin(s, w->newest_first ? ST_BY_START_NEWEST : ST_BY_START, &c, &st);
	if (err)
		return err;
	sqlite3_bind_int64(st, 1, w->started_at);
	sqlite3_bind_int64(st, 2, w->id);
	sqlite3_bind_int64(st, 3, w->before);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);

		err = fn(ctx, sqlite3_column_int64(st, 0), name ? name : "", sqlite3_column_int64(st, 2));
		if (err)
			break;
	}
	return sqlstore_list_end(s, c, st, err, rc);
}
