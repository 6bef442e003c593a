/*
 * sqlite_prov.c - the SQLite backend's provenance: what a start writes to
 * execlogfs_runs and execlogfs_tags, what a record read gets back from
 * them, and the values the views by host, user, tool and tag list.
 *
 * Everything lives in execlogfs's own tables keyed by id (sqlite_schema.c),
 * never in execution_log: a row another program wrote has no provenance
 * (null, no tags) but its tool, which the insert's trigger computes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sqlstore.h"

/* Binds an integer that may be STORE_NULL. */
static void sqlstore_bind_int_null(sqlite3_stmt *st, int i, int64_t v)
{
	if (v == STORE_NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

/* Runs the bound change @st; 0 or why it failed, naming @doing. */
static int sqlstore_step_change(struct sqlstore_conn *c, sqlite3_stmt *st, const char *doing)
{
	int rc = sqlite3_step(st), err = 0;

	if (rc != SQLITE_DONE)
		err = sqlstore_fail(c->db, rc, doing);
	sqlite3_reset(st);
	return err;
}

int sqlstore_start_prov(struct sqlstore *s, struct sqlstore_conn *c, const struct store_record *rec)
{
	sqlite3_stmt *st = NULL;
	int err = sqlstore_stmt(s, c, ST_INSERT_RUN, &st);

	if (err)
		return err;
	sqlite3_bind_int64(st, 1, rec->id);
	sqlite3_bind_int64(st, 2, rec->started_ms);
	sqlstore_bind_text(st, 3, rec->host);
	sqlstore_bind_text(st, 4, rec->user);
	sqlstore_bind_int_null(st, 5, rec->uid);
	sqlstore_bind_int_null(st, 6, rec->pid);
	sqlstore_bind_text(st, 7, rec->cwd);
	sqlstore_bind_text(st, 8, rec->tool);
	err = sqlstore_step_change(c, st, "write execlogfs_runs");
	for (size_t i = 0; err == 0 && i < rec->ntags; i++) {
		err = sqlstore_stmt(s, c, ST_INSERT_TAG, &st);
		if (err)
			break;
		sqlite3_bind_int64(st, 1, rec->id);
		sqlstore_bind_text(st, 2, rec->tags[i].key);
		sqlstore_bind_text(st, 3, rec->tags[i].value);
		sqlite3_bind_int64(st, 4, (int64_t)i);
		err = sqlstore_step_change(c, st, "write execlogfs_tags");
	}
	return err;
}

/* A column that may be null, as an integer or STORE_NULL. */
static int64_t sqlstore_int_null(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? STORE_NULL : sqlite3_column_int64(st, col);
}

/* A copy of a text column, NULL for null; *ok false when out of memory. */
static char *sqlstore_text_null(sqlite3_stmt *st, int col, bool *ok)
{
	return store_strdup_null((const char *)sqlite3_column_text(st, col), ok);
}

/* Fills @r's tags from the JSON [[key, value], ...] of the read (@json may be NULL). */
static int sqlstore_tags_of(const char *json, struct store_record *r)
{
	cJSON *all, *pair;
	size_t n = 0;

	if (json == NULL)
		return 0;
	all = cJSON_Parse(json);
	if (all == NULL || !cJSON_IsArray(all)) {
		cJSON_Delete(all);
		return store_fail(-EIO, "sqlite: the tags of execution %lld do not read back",
				  (long long)r->id);
	}
	r->tags = calloc((size_t)cJSON_GetArraySize(all) + 1, sizeof(*r->tags));
	if (r->tags == NULL) {
		cJSON_Delete(all);
		return store_fail(-ENOMEM, "sqlite: out of memory");
	}
	cJSON_ArrayForEach(pair, all) {
		const char *key = cJSON_GetStringValue(cJSON_GetArrayItem(pair, 0));
		const char *value = cJSON_GetStringValue(cJSON_GetArrayItem(pair, 1));

		if (key == NULL || value == NULL)
			continue;
		r->tags[n].key = strdup(key);
		r->tags[n].value = strdup(value);
		r->ntags = ++n;
		if (r->tags[n - 1].key == NULL || r->tags[n - 1].value == NULL) {
			cJSON_Delete(all);
			return store_fail(-ENOMEM, "sqlite: out of memory");
		}
	}
	cJSON_Delete(all);
	return 0;
}

int sqlstore_row_prov(sqlite3_stmt *st, struct store_record *r)
{
	bool ok = true;
	int err;

	r->exit_code = sqlstore_int_null(st, 14 + SQLSTORE_RUN_EXIT_CODE);
	r->signal = sqlstore_int_null(st, 14 + SQLSTORE_RUN_SIGNAL);
	r->host = sqlstore_text_null(st, 14 + SQLSTORE_RUN_HOST, &ok);
	r->user = sqlstore_text_null(st, 14 + SQLSTORE_RUN_USER, &ok);
	r->uid = sqlstore_int_null(st, 14 + SQLSTORE_RUN_UID);
	r->pid = sqlstore_int_null(st, 14 + SQLSTORE_RUN_PID);
	r->cwd = sqlstore_text_null(st, 14 + SQLSTORE_RUN_CWD, &ok);
	r->tool = sqlstore_text_null(st, 14 + SQLSTORE_RUN_TOOL, &ok);
	r->output_bytes = sqlite3_column_int64(st, 14 + SQLSTORE_RUN_OUTPUT_BYTES);
	err = ok ? 0 : store_fail(-ENOMEM, "sqlite: out of memory");
	if (err == 0)
		err = sqlstore_tags_of((const char *)sqlite3_column_text(st, SQLSTORE_COL_TAGS), r);
	if (err)
		store_record_clear(r);
	return err;
}

/* Binds a filter's attr value as ?5 (for a tag: the key as ?5, the value as ?6). */
void sqlstore_bind_attr(sqlite3_stmt *st, const struct store_filter *filter)
{
	const char *eq;

	if (filter->attr == STORE_ATTR_NONE)
		return;
	eq = filter->attr == STORE_BY_TAG ? strchr(filter->value, '=') : NULL;
	if (eq == NULL) {
		/* A tag without '=' names no pair: ?6 stays null, and matches nothing. */
		sqlstore_bind_text(st, 5, filter->value);
		return;
	}
	sqlite3_bind_text(st, 5, filter->value, (int)(eq - filter->value), SQLITE_STATIC);
	sqlstore_bind_text(st, 6, eq + 1);
}

/* The next value of the view by @attr after @prev (NULL: the first) into @fn; 1 when none. */
static int sqlstore_value_next(struct sqlstore *s, struct sqlstore_conn *c, enum store_attr attr,
			       char **prev, store_value_fn fn, void *ctx)
{
	sqlite3_stmt *st = NULL;
	char *value = NULL;
	int err, rc;

	err = sqlstore_stmt(s, c, SQLSTORE_ST_BY(*prev ? ST_VALUES_NEXT : ST_VALUES_FIRST, attr), &st);
	if (err)
		return err;
	if (*prev && attr == STORE_BY_TAG) {
		char *eq = strchr(*prev, '=');

		sqlite3_bind_text(st, 1, *prev, (int)(eq - *prev), SQLITE_STATIC);
		sqlstore_bind_text(st, 2, eq + 1);
	} else if (*prev) {
		sqlstore_bind_text(st, 1, *prev);
	}
	rc = sqlite3_step(st);
	store_count_visits(&s->base, 1);
	if (rc == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(st, 0);
		const char *b = (const char *)sqlite3_column_text(st, 1);

		if (attr == STORE_BY_TAG ? asprintf(&value, "%s=%s", a ? a : "", b ? b : "") < 0
					 : (value = strdup(a ? a : "")) == NULL)
			err = store_fail(-ENOMEM, "sqlite: out of memory");
	} else if (rc == SQLITE_DONE) {
		err = 1;
	} else {
		err = sqlstore_fail(c->db, rc, "list values");
	}
	sqlite3_reset(st);
	if (err == 0)
		err = fn(ctx, value);
	free(*prev);
	*prev = value;
	return err;
}

int sqlstore_list_values(struct store *base, enum store_attr attr, store_value_fn fn, void *ctx)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	char *prev = NULL;
	int err;

	err = sqlstore_take(s, &c);
	if (err)
		return err;
	/* One seek of the attr's index per value: the cost is the values, not the executions. */
	while (err == 0)
		err = sqlstore_value_next(s, c, attr, &prev, fn, ctx);
	free(prev);
	sqlstore_put(s, c);
	return err > 0 ? 0 : err;
}
