/*
 * sqlite_prov.c - the SQLite backend's provenance: what a start writes to
 * execlogfs_runs (its tags with it, as one JSON object) and, in batches,
 * to execlogfs_tag_index; what a record read gets back; and the values the
 * views by host, user, tool and tag list.
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

#include "scan.h"
#include "sqlstore.h"
#include "text.h"

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

/* The tags of @rec as one JSON object, {"k":"v",...} in their order, into @tb (nothing if none). */
static void sqlstore_tags_text(struct text_buf *tb, const struct store_record *rec)
{
	for (size_t i = 0; i < rec->ntags; i++) {
		text_add(tb, i ? ",\"" : "{\"", 2);
		scan_add_escaped(tb, rec->tags[i].key, strlen(rec->tags[i].key));
		text_add(tb, "\":\"", 3);
		scan_add_escaped(tb, rec->tags[i].value, strlen(rec->tags[i].value));
		text_add(tb, "\"", 1);
	}
	if (rec->ntags > 0)
		text_add(tb, "}", 1);
}

/*
 * Puts the tags of the runs before @id in execlogfs_tag_index once they
 * are SQLSTORE_TAGS_PENDING ids behind: one batch shares the pages a start
 * would each dirty alone (sqlite_schema.c). The mark is read first, a seek.
 */
static int sqlstore_tags_index_due(struct sqlstore *s, struct sqlstore_conn *c, int64_t id)
{
	sqlite3_stmt *st = NULL;
	int64_t upto = 0;
	int err = sqlstore_stmt(s, c, ST_TAGS_MARK, &st), rc;

	if (err)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		upto = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		err = sqlstore_fail(c->db, rc, "read execlogfs_tags_indexed");
	sqlite3_reset(st);
	if (err || id - upto < SQLSTORE_TAGS_PENDING)
		return err;
	err = sqlstore_stmt(s, c, ST_TAGS_INDEX, &st);
	if (err == 0)
		err = sqlstore_step_change(c, st, "write execlogfs_tag_index");
	if (err == 0)
		err = sqlstore_stmt(s, c, ST_TAGS_MARK_SET, &st);
	return err ? err : sqlstore_step_change(c, st, "write execlogfs_tags_indexed");
}

int sqlstore_start_prov(struct sqlstore *s, struct sqlstore_conn *c, const struct store_record *rec)
{
	struct text_buf tags = { 0 };
	sqlite3_stmt *st = NULL;
	int err;

	sqlstore_tags_text(&tags, rec);
	if (tags.failed) {
		free(tags.data);
		return store_fail(-ENOMEM, "sqlite: out of memory");
	}
	err = sqlstore_stmt(s, c, ST_INSERT_RUN, &st);
	if (err == 0) {
		sqlite3_bind_int64(st, 1, rec->id);
		sqlite3_bind_int64(st, 2, rec->started_ms);
		sqlstore_bind_text(st, 3, rec->host);
		sqlstore_bind_text(st, 4, rec->user);
		sqlstore_bind_int_null(st, 5, rec->uid);
		sqlstore_bind_int_null(st, 6, rec->pid);
		sqlstore_bind_text(st, 7, rec->cwd);
		sqlstore_bind_text(st, 8, rec->tool);
		sqlstore_bind_text(st, 9, tags.data);
		err = sqlstore_step_change(c, st, "write execlogfs_runs");
	}
	free(tags.data);
	return err ? err : sqlstore_tags_index_due(s, c, rec->id);
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

/*
 * Fills @r's tags from the JSON of the read (@json may be NULL): an object
 * {"key": "value", ...}, or [[key, value], ...] from the earlier layout.
 */
static int sqlstore_tags_of(const char *json, struct store_record *r)
{
	cJSON *all, *pair;
	size_t n = 0;

	if (json == NULL)
		return 0;
	all = cJSON_Parse(json);
	if (all == NULL || !(cJSON_IsArray(all) || cJSON_IsObject(all))) {
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
		const char *key = cJSON_IsObject(all) ? pair->string
						      : cJSON_GetStringValue(cJSON_GetArrayItem(pair, 0));
		const char *value = cJSON_IsObject(all) ? cJSON_GetStringValue(pair)
							: cJSON_GetStringValue(cJSON_GetArrayItem(pair, 1));

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

/* The next value of the view by @attr after @prev (NULL: the first) into *@out; 1 when none. */
static int sqlstore_value_next(struct sqlstore *s, struct sqlstore_conn *c, enum store_attr attr,
			       const char *prev, char **out)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*out = NULL;
	err = sqlstore_stmt(s, c, SQLSTORE_ST_BY(prev ? ST_VALUES_NEXT : ST_VALUES_FIRST, attr), &st);
	if (err)
		return err;
	if (prev && attr == STORE_BY_TAG) {
		const char *eq = strchr(prev, '=');

		sqlite3_bind_text(st, 1, prev, (int)(eq - prev), SQLITE_STATIC);
		sqlstore_bind_text(st, 2, eq + 1);
	} else if (prev) {
		sqlstore_bind_text(st, 1, prev);
	}
	rc = sqlite3_step(st);
	store_count_visits(&s->base, 1);
	if (rc == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(st, 0);
		const char *b = (const char *)sqlite3_column_text(st, 1);

		if (attr == STORE_BY_TAG ? asprintf(out, "%s=%s", a ? a : "", b ? b : "") < 0
					 : (*out = strdup(a ? a : "")) == NULL) {
			*out = NULL;
			err = store_fail(-ENOMEM, "sqlite: out of memory");
		}
	} else if (rc == SQLITE_DONE) {
		err = 1;
	} else {
		err = sqlstore_fail(c->db, rc, "list values");
	}
	sqlite3_reset(st);
	return err;
}

/* Orders tag pairs "key=value" as the index does: by key, then value (a key holds no '='). */
static int sqlstore_pair_cmp(const char *a, const char *b)
{
	size_t ka = strcspn(a, "="), kb = strcspn(b, "=");
	int d = memcmp(a, b, ka < kb ? ka : kb);

	if (d == 0 && ka != kb)
		return ka < kb ? -1 : 1;
	return d ? d : strcmp(a + ka, b + kb);
}

/* Appends the pair @a=@b to *@all (*@n of *@cap); 0 or -ENOMEM. */
static int sqlstore_pair_add(char ***all, size_t *n, size_t *cap, const char *a, const char *b)
{
	if (*n == *cap) {
		size_t want = *cap ? 2 * *cap : 16;
		char **grown = realloc(*all, want * sizeof(**all));

		if (grown == NULL)
			return store_fail(-ENOMEM, "sqlite: out of memory");
		*all = grown;
		*cap = want;
	}
	if (asprintf(&(*all)[*n], "%s=%s", a ? a : "", b ? b : "") < 0)
		return store_fail(-ENOMEM, "sqlite: out of memory");
	(*n)++;
	return 0;
}

/*
 * The pairs of the runs after the tag index's mark (SQLSTORE_TAGS_PENDING
 * ids at most), "key=value" ascending and distinct, into *@out (*@n of them).
 */
static int sqlstore_tags_pending(struct sqlstore *s, struct sqlstore_conn *c, char ***out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int err = sqlstore_stmt(s, c, ST_TAGS_PENDING, &st), rc = SQLITE_DONE;

	*out = NULL;
	*n = 0;
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		err = sqlstore_pair_add(out, n, &cap, (const char *)sqlite3_column_text(st, 0),
					(const char *)sqlite3_column_text(st, 1));
	if (err == 0 && rc != SQLITE_DONE)
		err = sqlstore_fail(c->db, rc, "list values");
	if (st) {
		/* The steps of SQLite's machine, as listings count them: these few runs' tags. */
		store_count_visits(&s->base, (uint64_t)sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1));
		sqlite3_reset(st);
	}
	return err;
}

/*
 * The next value after @prev (NULL: the first) into *@out, 1 when none: of
 * the attr's index, and for tags the least of it and of the @npend pairs
 * @pend (ascending) of the runs the tag index does not hold yet, from *@at on.
 */
static int sqlstore_value_merged(struct sqlstore *s, struct sqlstore_conn *c, enum store_attr attr,
				 const char *prev, char *const *pend, size_t npend, size_t *at,
				 char **out)
{
	int err = sqlstore_value_next(s, c, attr, prev, out);

	if (err < 0)
		return err;
	while (*at < npend && prev && sqlstore_pair_cmp(pend[*at], prev) <= 0)
		(*at)++;
	if (*at == npend || (err == 0 && sqlstore_pair_cmp(*out, pend[*at]) <= 0))
		return err;
	free(*out);
	*out = strdup(pend[*at]);
	return *out ? 0 : store_fail(-ENOMEM, "sqlite: out of memory");
}

int sqlstore_list_values(struct store *base, enum store_attr attr, store_value_fn fn, void *ctx)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	char *prev = NULL, *value, **pend = NULL;
	size_t npend = 0, at = 0;
	int err;

	err = sqlstore_take(s, &c);
	if (err)
		return err;
	if (attr == STORE_BY_TAG)
		err = sqlstore_tags_pending(s, c, &pend, &npend);
	/* One seek of the attr's index per value: the cost is the values, not the executions. */
	while (err == 0) {
		err = sqlstore_value_merged(s, c, attr, prev, pend, npend, &at, &value);
		if (err == 0)
			err = fn(ctx, value);
		free(prev);
		prev = value;
	}
	free(prev);
	for (size_t i = 0; i < npend; i++)
		free(pend[i]);
	free(pend);
	sqlstore_put(s, c);
	return err > 0 ? 0 : err;
}
