/*
 * postgres_list.c - the PostgreSQL backend's reads: one record, counts,
 * and the listings in keyset pages, each page a fresh
 * query on a pooled connection given back before its rows are handed out.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgstore.h"

/* Runs a one-row read into @out; -ENOENT naming @what when there is no row. */
static int pgstore_one(struct pgstore *s, const char *sql, int n, const char *const *params,
		       struct store_record *out, const char *what)
{
	PGresult *res;
	int err;

	err = pgstore_run(s, PG_READ, "read", sql, n, params, &res);
	if (err)
		return err;
	if (PQntuples(res) == 0)
		err = store_fail(-ENOENT, "no execution %s", what);
	else
		err = pgstore_row(res, 0, out);
	PQclear(res);
	return err;
}

int pgstore_get(struct store *base, const char *execution_id, struct store_record *out)
{
	const char *params[1] = { execution_id };

	return pgstore_one(pgstore_of(base),
			   "SELECT " PGSTORE_COLUMNS " FROM execution_log WHERE execution_id = $1",
			   1, params, out, execution_id);
}

int pgstore_get_by_id(struct store *base, int64_t id, struct store_record *out)
{
	char id_text[24], what[40];
	const char *params[1] = { pgstore_int(id_text, sizeof(id_text), id) };

	snprintf(what, sizeof(what), "with id %lld", (long long)id);
	return pgstore_one(pgstore_of(base),
			   "SELECT " PGSTORE_COLUMNS " FROM execution_log WHERE id = $1::bigint",
			   1, params, out, what);
}

int pgstore_latest(struct store *base, struct store_record *out)
{
	return pgstore_one(pgstore_of(base),
			   "SELECT " PGSTORE_COLUMNS " FROM execution_log ORDER BY id DESC LIMIT 1",
			   0, NULL, out, "at all");
}

/*
 * The WHERE of a filter, whose parameters are the outcome @o, the day's
 * first and last-plus-one second @f and @t, the host @h, user @u and tool
 * @tl, null when unset. Each query is planned with its values, so an unset
 * one folds away and the rest is an index condition.
 */
#define PGSTORE_FILTER_COMMON(o, f, t, h, u, tl)                                \
	" (" o "::text IS NULL OR outcome = " o ")"                            \
	" AND (" f "::bigint IS NULL OR (started_at >= " f "::bigint"          \
	" AND started_at < " t "::bigint))"                                    \
	" AND (" h "::text IS NULL OR host = " h ")"                           \
	" AND (" u "::text IS NULL OR \"user\" = " u ")"                       \
	" AND (" tl "::text IS NULL OR tool = " tl ")"

/* A filter without a tag: the tag pair @g is null. */
#define PGSTORE_FILTER(o, f, t, h, u, tl, g)                                    \
	PGSTORE_FILTER_COMMON(o, f, t, h, u, tl) " AND " g "::text IS NULL"

/*
 * A filter by the tag pair @g ("key=value", split at the first '='; none:
 * no match), with @after the condition on the tag's id a page resumes
 * from. Not under an OR, so that the server joins from the index on (key,
 * value, id) in id order rather than testing every row of the log.
 */
#define PGSTORE_FILTER_TAG(o, f, t, h, u, tl, g, after)                         \
	PGSTORE_FILTER_COMMON(o, f, t, h, u, tl)                               \
	" AND id IN (SELECT x.id FROM execlog_tags x WHERE strpos(" g ", '=') > 0" \
	" AND x.key = split_part(" g ", '=', 1)"                               \
	" AND x.value = substr(" g ", strpos(" g ", '=') + 1)" after ")"

/* The WHERE of a page of a listing: $1 the last id seen, $2..$8 the filter, of a tag or not. */
#define PGSTORE_PAGE_WHERE(tag)                                                 \
	" WHERE id > $1::bigint AND" tag("$2", "$3", "$4", "$5", "$6", "$7", "$8", \
					  " AND x.id > $1::bigint")

/* As PGSTORE_FILTER, taking (and ignoring) the tag's @after. */
#define PGSTORE_FILTER_NOTAG(o, f, t, h, u, tl, g, after)                       \
	PGSTORE_FILTER(o, f, t, h, u, tl, g)

/* The parameters of a filter, after the listing's own. */
#define PGSTORE_FILTER_PARAMS 7

/* Fills params[1..7] from @filter, with its texts in @day_from and @day_to. */
static void pgstore_filter_params(const struct store_filter *filter, const char **params,
				  char *day_from, char *day_to, size_t size)
{
	params[1] = filter->outcome >= 0 ? store_outcome_name(filter->outcome) : NULL;
	params[2] = filter->day >= 0 ? pgstore_int(day_from, size, store_day_start(filter->day)) : NULL;
	params[3] = filter->day >= 0 ? pgstore_int(day_to, size, store_day_start(filter->day + 1)) : NULL;
	params[4] = filter->attr == STORE_BY_HOST ? filter->value : NULL;
	params[5] = filter->attr == STORE_BY_USER ? filter->value : NULL;
	params[6] = filter->attr == STORE_BY_TOOL ? filter->value : NULL;
	params[7] = filter->attr == STORE_BY_TAG ? filter->value : NULL;
}

/*
 * Counts: without an attr, from execlog_counts (postgres_counts.c), a few
 * rows whatever the log's size, plus the rows the backfill has yet to
 * count, in one statement ($8 the day, -1 for all); by an attr (and on a
 * table without the counts), count(*) by the narrowest index.
 */
int pgstore_count(struct store *base, const struct store_filter *filter, uint64_t *count)
{
	struct pgstore *s = pgstore_of(base);
	char from[24], to[24], day[24];
	const char *params[2 + PGSTORE_FILTER_PARAMS] = { NULL };
	bool kept = s->has_counts && filter->attr == STORE_ATTR_NONE;
	PGresult *res;
	int err;

	static const char *const sql[3] = {
		"SELECT count(*) FROM execution_log WHERE"
		PGSTORE_FILTER("$1", "$2", "$3", "$4", "$5", "$6", "$7"),
		"SELECT count(*) FROM execution_log WHERE"
		PGSTORE_FILTER_TAG("$1", "$2", "$3", "$4", "$5", "$6", "$7", ""),
		/* The rows not counted yet only while there are (see postgres_counts.c). */
		"SELECT (SELECT COALESCE(sum(n), 0) FROM execlog_counts WHERE day = $8::bigint"
		" AND ($1::text IS NULL OR outcome = $1)) + COALESCE((SELECT x.n FROM"
		" execlog_counts_state s CROSS JOIN LATERAL (SELECT count(*) AS n FROM execution_log"
		" WHERE id >= s.next_id AND" PGSTORE_FILTER("$1", "$2", "$3", "$4", "$5", "$6", "$7")
		") x WHERE s.next_id IS NOT NULL), 0)",
	};

	pgstore_filter_params(filter, params, from, to, sizeof(from));
	params[1 + PGSTORE_FILTER_PARAMS] = pgstore_int(day, sizeof(day), filter->day >= 0 ? filter->day : -1);
	err = pgstore_run(s, PG_READ, "count", sql[kept ? 2 : filter->attr == STORE_BY_TAG],
			  PGSTORE_FILTER_PARAMS + kept, params + 1, &res);
	if (err)
		return err;
	*count = (uint64_t)pgstore_get_int(res, 0, 0);
	PQclear(res);
	return 0;
}

/* Hands one row of a page on; sets *last_id to its id. */
typedef int (*pgstore_row_fn)(PGresult *res, int row, int64_t *last_id, void *arg);

/*
 * Keyset paging: each page is a fresh query (@sql, with $1 the last id seen
 * and $2..$8 the filter) for the next @page rows, so an execution that
 * existed throughout is seen exactly once, and the connection goes back to
 * the pool before @row runs.
 */
static int pgstore_pages(struct pgstore *s, const char *what, const char *sql, int page,
			 const struct store_filter *filter, int64_t after_id,
			 pgstore_row_fn row, void *arg)
{
	char after[24], from[24], to[24];
	const char *params[1 + PGSTORE_FILTER_PARAMS];
	bool more = true;
	int err = 0;

	pgstore_filter_params(filter, params, from, to, sizeof(from));
	while (err == 0 && more) {
		PGresult *res;
		int rows;

		params[0] = pgstore_int(after, sizeof(after), after_id);
		err = pgstore_run(s, PG_READ, what, sql, 1 + PGSTORE_FILTER_PARAMS, params, &res);
		if (err)
			break;
		rows = PQntuples(res);
		store_count_visits(&s->base, (uint64_t)rows + 1);
		more = rows == page;
		for (int i = 0; i < rows && err == 0; i++)
			err = row(res, i, &after_id, arg);
		PQclear(res);
	}
	return err > 0 ? 0 : err;
}

struct pgstore_list_arg {
	store_list_fn fn;
	store_name_fn name_fn;
	void *ctx;
};

static int pgstore_record_row(PGresult *res, int row, int64_t *last_id, void *arg)
{
	struct pgstore_list_arg *a = arg;
	struct store_record rec = { 0 };
	int err = pgstore_row(res, row, &rec);

	if (err == 0) {
		*last_id = rec.id;
		err = a->fn(a->ctx, &rec);
	}
	store_record_clear(&rec);
	return err;
}

static int pgstore_name_row(PGresult *res, int row, int64_t *last_id, void *arg)
{
	struct pgstore_list_arg *a = arg;

	*last_id = pgstore_get_int(res, row, 0);
	return a->name_fn(a->ctx, *last_id, PQgetvalue(res, row, 1));
}

int pgstore_list(struct store *base, const struct store_filter *filter,
		 int64_t after_id, store_list_fn fn, void *ctx)
{
	static const char *const sql[2] = {
		"SELECT " PGSTORE_COLUMNS " FROM execution_log" PGSTORE_PAGE_WHERE(PGSTORE_FILTER_NOTAG)
		" ORDER BY id LIMIT " PGSTORE_PAGE_TEXT,
		"SELECT " PGSTORE_COLUMNS " FROM execution_log" PGSTORE_PAGE_WHERE(PGSTORE_FILTER_TAG)
		" ORDER BY id LIMIT " PGSTORE_PAGE_TEXT,
	};
	struct pgstore_list_arg a = { .fn = fn, .ctx = ctx };

	return pgstore_pages(pgstore_of(base), "list", sql[filter->attr == STORE_BY_TAG],
			     PGSTORE_PAGE, filter, after_id, pgstore_record_row, &a);
}

/* As pgstore_list(), reading only id and execution_id (the index on (outcome, id) covers a filter by outcome). */
int pgstore_list_names(struct store *base, const struct store_filter *filter,
		       int64_t after_id, store_name_fn fn, void *ctx)
{
	static const char *const sql[2] = {
		"SELECT id, execution_id FROM execution_log" PGSTORE_PAGE_WHERE(PGSTORE_FILTER_NOTAG)
		" ORDER BY id LIMIT " PGSTORE_NAMES_PAGE_TEXT,
		"SELECT id, execution_id FROM execution_log" PGSTORE_PAGE_WHERE(PGSTORE_FILTER_TAG)
		" ORDER BY id LIMIT " PGSTORE_NAMES_PAGE_TEXT,
	};
	struct pgstore_list_arg a = { .name_fn = fn, .ctx = ctx };

	return pgstore_pages(pgstore_of(base), "list names", sql[filter->attr == STORE_BY_TAG],
			     PGSTORE_NAMES_PAGE, filter, after_id, pgstore_name_row, &a);
}

/* The @n greatest ids, descending, in pages as pgstore_list(). */
int pgstore_list_recent(struct store *base, size_t n, store_list_fn fn, void *ctx)
{
	struct pgstore *s = pgstore_of(base);
	char before[24], limit[24];
	int64_t before_id = INT64_MAX;
	const char *params[2];
	int err = 0;

	while (err == 0 && n > 0) {
		struct store_record rec = { 0 };
		size_t page = n < PGSTORE_PAGE ? n : PGSTORE_PAGE;
		PGresult *res;
		int rows;

		params[0] = pgstore_int(before, sizeof(before), before_id);
		params[1] = pgstore_int(limit, sizeof(limit), (int64_t)page);
		err = pgstore_run(s, PG_READ, "list the most recent",
				  "SELECT " PGSTORE_COLUMNS " FROM execution_log WHERE id < $1::bigint"
				  " ORDER BY id DESC LIMIT $2::bigint", 2, params, &res);
		if (err)
			break;
		rows = PQntuples(res);
		n = (size_t)rows < page ? 0 : n - page;
		for (int i = 0; i < rows && err == 0; i++) {
			err = pgstore_row(res, i, &rec);
			if (err == 0) {
				before_id = rec.id;
				err = fn(ctx, &rec);
			}
			store_record_clear(&rec);
		}
		PQclear(res);
	}
	return err > 0 ? 0 : err;
}

/*
 * Finished executions in start order, in keyset pages on (started_at, id):
 * the started_at index finds the page, the server sorts the rows of one
 * started_at by id.
 */
int pgstore_list_finished_by_start(struct store *base, const struct store_start_walk *w,
				   store_by_start_fn fn, void *ctx)
{
	static const char *const sql[2] = {
		"SELECT id, execution_id, started_at FROM execution_log WHERE outcome <> 'running'"
		" AND started_at < $3::bigint AND started_at >= $1::bigint"
		" AND (started_at, id) > ($1::bigint, $2::bigint)"
		" ORDER BY started_at, id LIMIT " PGSTORE_NAMES_PAGE_TEXT,
		"SELECT id, execution_id, started_at FROM execution_log WHERE outcome <> 'running'"
		" AND started_at < $3::bigint AND started_at <= $1::bigint"
		" AND (started_at, id) < ($1::bigint, $2::bigint)"
		" ORDER BY started_at DESC, id DESC LIMIT " PGSTORE_NAMES_PAGE_TEXT,
	};
	struct pgstore *s = pgstore_of(base);
	char at[24], id[24], before[24];
	struct store_start_walk pos = *w;
	const char *params[3];
	bool more = true;
	int err = 0;

	params[2] = pgstore_int(before, sizeof(before), w->before);
	while (err == 0 && more) {
		PGresult *res;
		int rows;

		params[0] = pgstore_int(at, sizeof(at), pos.started_at);
		params[1] = pgstore_int(id, sizeof(id), pos.id);
		err = pgstore_run(s, PG_READ, "list by start", sql[w->newest_first], 3, params, &res);
		if (err)
			break;
		rows = PQntuples(res);
		store_count_visits(&s->base, (uint64_t)rows + 1);
		more = rows == PGSTORE_NAMES_PAGE;
		for (int i = 0; i < rows && err == 0; i++) {
			pos.id = pgstore_get_int(res, i, 0);
			pos.started_at = pgstore_get_int(res, i, 2);
			err = fn(ctx, pos.id, PQgetvalue(res, i, 1), pos.started_at);
		}
		PQclear(res);
	}
	return err > 0 ? 0 : err;
}

int pgstore_list_days(struct store *base, int64_t after_day, store_day_fn fn, void *ctx)
{
	struct pgstore *s = pgstore_of(base);
	int64_t from = store_day_start(after_day + 1);
	char from_text[24];
	const char *params[1];
	int err = 0;

	/* One index seek a day: the cost is the number of days, not of executions. */
	while (err == 0) {
		PGresult *res;
		int64_t day;

		params[0] = pgstore_int(from_text, sizeof(from_text), from);
		err = pgstore_run(s, PG_READ, "list days",
				  "SELECT started_at FROM execution_log WHERE started_at >= $1::bigint"
				  " ORDER BY started_at LIMIT 1", 1, params, &res);
		if (err)
			break;
		if (PQntuples(res) == 0) {
			PQclear(res);
			break;
		}
		day = store_day_of(pgstore_get_int(res, 0, 0));
		PQclear(res);
		/* store.c's fn stops at a day that is not nameable: the next second stays in int64. */
		err = fn(ctx, day);
		if (err == 0)
			from = store_day_start(day + 1);
	}
	return err > 0 ? 0 : err;
}

/*
 * Cheap and without writing: the server answers, the session may write
 * (not a standby, not default_transaction_read_only) and we may insert.
 */
int pgstore_check_room(struct store *base)
{
	PGresult *res;
	int err;

	err = pgstore_run(pgstore_of(base), PG_READ, "check the session",
			  "SELECT current_setting('transaction_read_only') = 'on' OR pg_is_in_recovery(),"
			  " has_table_privilege('execution_log', 'INSERT')", 0, NULL, &res);
	if (err)
		return err;
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		err = store_fail(-EROFS, "postgres: the server or the session is read-only");
	else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
		err = store_fail(-EACCES, "postgres: no permission to insert into execution_log");
	PQclear(res);
	return err;
}
