/*
 * postgres_prov.c - provenance on PostgreSQL: the columns execution_log
 * gains (exit code, signal, host, user, uid, pid, cwd, tool, output size),
 * the table of tags beside it, reading them into a record, and the values
 * a view by them lists.
 *
 * execution_log is execlogfs's own table here, so provenance lives in its
 * columns; tags in execlog_tags (one row per tag, deleted with the row by
 * ON DELETE CASCADE, and following an id changed by SQL). The tool of a
 * row another program inserts (psql) is computed from its args by a
 * trigger, guarded so that an args text that is no JSON never fails that
 * insert: by-tool/ lists such rows too (rows of a table that had no tool
 * column get theirs from the backfill of postgres_counts.c). Host,
 * user, tool, tag key and value are COLLATE "C", so that a listing of
 * values is in byte order, whatever the database's collation.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "pgstore.h"

/*
 * A JSON array of strings without escapes or control characters, between
 * JSON's blanks, as an SQL literal: its first element is the one capture.
 */
#define PGSTORE_JSON_BLANK "[ \\t\\n\\r]*"
#define PGSTORE_JSON_PLAIN "\"[^\"\\\\\\x01-\\x1f]*\""
#define PGSTORE_ARGS_RE                                                         \
	"'^" PGSTORE_JSON_BLANK "\\[" PGSTORE_JSON_BLANK "\"([^\"\\\\\\x01-\\x1f]*)\""    \
	"(?:" PGSTORE_JSON_BLANK "," PGSTORE_JSON_BLANK PGSTORE_JSON_PLAIN ")*"  \
	PGSTORE_JSON_BLANK "\\]" PGSTORE_JSON_BLANK "$'"

/*
 * Run after the table exists, in the transaction of the counts' schema
 * (postgres.c), under the same advisory lock. Columns are added nullable
 * or with a constant default (no rewrite).
 */
const char pgstore_schema_provenance[] =
	"ALTER TABLE execution_log ADD COLUMN IF NOT EXISTS exit_code BIGINT,\n"
	"    ADD COLUMN IF NOT EXISTS signal BIGINT,\n"
	"    ADD COLUMN IF NOT EXISTS host TEXT COLLATE \"C\",\n"
	"    ADD COLUMN IF NOT EXISTS \"user\" TEXT COLLATE \"C\",\n"
	"    ADD COLUMN IF NOT EXISTS uid BIGINT,\n"
	"    ADD COLUMN IF NOT EXISTS pid BIGINT,\n"
	"    ADD COLUMN IF NOT EXISTS cwd TEXT,\n"
	"    ADD COLUMN IF NOT EXISTS output_bytes BIGINT NOT NULL DEFAULT 0,\n"
	"    ADD COLUMN IF NOT EXISTS output_cut BOOLEAN NOT NULL DEFAULT false;\n"
	/*
	 * The tool of an args text: the last path component of args[0], null
	 * for anything else, never an error. Most args are a JSON array of
	 * strings without escapes: those the regular expression takes whole,
	 * as jsonb would read them (JSON's four blanks only, no backslash, no
	 * control character); only the rest pay for the jsonb cast and its
	 * subtransaction. One function for the trigger and the backfill
	 * (postgres_counts.c), so that both give the same tool. Only
	 * pg_catalog's functions, so that no search_path can break it.
	 */
	"CREATE OR REPLACE FUNCTION execlog_tool_of(v_args text) RETURNS text\n"
	"LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $f$\n"
	"DECLARE\n"
	"    v_m text[];\n"
	"    v_a jsonb;\n"
	"BEGIN\n"
	"    v_m := regexp_match(v_args, " PGSTORE_ARGS_RE ");\n"
	"    IF v_m IS NOT NULL THEN\n"
	"        RETURN NULLIF(regexp_replace(v_m[1], '^.*/', ''), '');\n"
	"    END IF;\n"
	"    BEGIN\n"
	"        v_a := v_args::jsonb;\n"
	"        IF jsonb_typeof(v_a) = 'array' AND jsonb_typeof(v_a->0) = 'string' THEN\n"
	"            RETURN NULLIF(regexp_replace(v_a->>0, '^.*/', ''), '');\n"
	"        END IF;\n"
	"    EXCEPTION WHEN others THEN\n"
	"        RETURN NULL;\n"
	"    END;\n"
	"    RETURN NULL;\n"
	"END $f$;\n"
	/*
	 * execlogfs's own starts give the tool; other programs' inserts and
	 * updates of args get it here.
	 */
	"CREATE OR REPLACE FUNCTION execlog_tool_set() RETURNS trigger\n"
	"LANGUAGE plpgsql AS $f$\n"
	"BEGIN\n"
	"    IF TG_OP = 'INSERT' AND NEW.tool IS NOT NULL THEN\n"
	"        RETURN NEW;\n"
	"    END IF;\n"
	"    NEW.tool := execlog_tool_of(NEW.args);\n"
	"    RETURN NEW;\n"
	"END $f$;\n"
	/*
	 * A tool column new to the table is added without a rewrite; its rows
	 * get their tool from the backfill (postgres_counts.c), which this
	 * transaction's setting tells that it is new.
	 */
	"DO $d$\n"
	"BEGIN\n"
	"    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'execution_log'::regclass\n"
	"                   AND attname = 'tool' AND NOT attisdropped) THEN\n"
	"        ALTER TABLE execution_log ADD COLUMN tool TEXT COLLATE \"C\";\n"
	"        PERFORM set_config('execlog.tool_added', 'on', true);\n"
	"    END IF;\n"
	"    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'execution_log'::regclass\n"
	"                   AND tgname = 'execlog_tool') THEN\n"
	"        CREATE TRIGGER execlog_tool BEFORE INSERT OR UPDATE OF args ON execution_log\n"
	"            FOR EACH ROW EXECUTE FUNCTION execlog_tool_set();\n"
	"    END IF;\n"
	"    EXECUTE format('ALTER FUNCTION execlog_tool_set() SET search_path = %I',\n"
	"                   current_schema());\n"
	"END $d$;\n"
/*
	 * The indexes of the views: made here on an empty table; on one that
	 * has rows already (an older execlogfs's, psql's) by the mount's
	 * background thread (postgres_counts.c), CONCURRENTLY, so that the
	 * mount of a table of millions answers at once.
	 */
	"DO $d$\n"
	"BEGIN\n"
	"    IF NOT EXISTS (SELECT 1 FROM execution_log) THEN\n"
	"        CREATE INDEX IF NOT EXISTS " PGSTORE_INDEX_HOST ";\n"
	"        CREATE INDEX IF NOT EXISTS " PGSTORE_INDEX_USER ";\n"
	"        CREATE INDEX IF NOT EXISTS " PGSTORE_INDEX_TOOL ";\n"
	"    END IF;\n"
	"END $d$;\n"
	/* ord keeps the start document's order of the tags. */
	"CREATE TABLE IF NOT EXISTS execlog_tags (\n"
	"    id BIGINT NOT NULL REFERENCES execution_log(id) ON DELETE CASCADE ON UPDATE CASCADE,\n"
	"    ord INTEGER NOT NULL,\n"
	"    key TEXT COLLATE \"C\" NOT NULL,\n"
	"    value TEXT COLLATE \"C\" NOT NULL,\n"
	"    PRIMARY KEY (id, key)\n"
	");\n"
	"CREATE INDEX IF NOT EXISTS idx_execlog_tags_key_value ON execlog_tags(key, value, id);\n"
	/* Output: one row per append (postgres_output.c). */
	"CREATE TABLE IF NOT EXISTS execlog_output (\n"
	"    id BIGINT NOT NULL REFERENCES execution_log(id) ON DELETE CASCADE ON UPDATE CASCADE,\n"
	"    \"offset\" BIGINT NOT NULL,\n"
	"    data BYTEA NOT NULL,\n"
	"    PRIMARY KEY (id, \"offset\")\n"
	");\n";

/*
 * Appends @s to @buf as an element of a PostgreSQL array literal: quoted,
 * with '"' and '\' escaped. @buf has room (pgstore_tags_size()).
 */
static char *pgstore_array_add(char *buf, const char *s, bool first)
{
	if (!first)
		*buf++ = ',';
	*buf++ = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			*buf++ = '\\';
		*buf++ = *s;
	}
	*buf++ = '"';
	return buf;
}

int pgstore_tags_arrays(const struct store_record *rec, char **keys, char **values)
{
	size_t klen = 3, vlen = 3;
	char *k, *v;

	*keys = *values = NULL;
	for (size_t i = 0; i < rec->ntags; i++) {
		klen += 2 * strlen(rec->tags[i].key) + 3;
		vlen += 2 * strlen(rec->tags[i].value) + 3;
	}
	*keys = k = malloc(klen);
	*values = v = malloc(vlen);
	if (k == NULL || v == NULL) {
		free(*keys);
		free(*values);
		*keys = *values = NULL;
		return store_fail(-ENOMEM, "postgres: out of memory");
	}
	*k++ = '{';
	*v++ = '{';
	for (size_t i = 0; i < rec->ntags; i++) {
		k = pgstore_array_add(k, rec->tags[i].key, i == 0);
		v = pgstore_array_add(v, rec->tags[i].value, i == 0);
	}
	strcpy(k, "}");
	strcpy(v, "}");
	return 0;
}

/* Fills r->tags from the JSON text @json, [[key, value], ...], or NULL for none. */
static int pgstore_tags_parse(const char *json, struct store_record *r)
{
	cJSON *arr, *pair;
	size_t n = 0;
	int err = 0;

	if (json == NULL)
		return 0;
	arr = cJSON_Parse(json);
	if (arr == NULL || !cJSON_IsArray(arr)) {
		cJSON_Delete(arr);
		return store_fail(-EIO, "postgres: the tags of execution %lld do not read",
				  (long long)r->id);
	}
	r->tags = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*r->tags));
	if (r->tags == NULL)
		err = store_fail(-ENOMEM, "postgres: out of memory");
	cJSON_ArrayForEach(pair, arr) {
		const char *key, *value;

		if (err)
			break;
		key = cJSON_GetStringValue(cJSON_GetArrayItem(pair, 0));
		value = cJSON_GetStringValue(cJSON_GetArrayItem(pair, 1));
		if (key == NULL || value == NULL)
			continue;
		r->tags[n].key = strdup(key);
		r->tags[n].value = strdup(value);
		r->ntags = ++n;
		if (r->tags[n - 1].key == NULL || r->tags[n - 1].value == NULL)
			err = store_fail(-ENOMEM, "postgres: out of memory");
	}
	cJSON_Delete(arr);
	return err;
}

/* Fills the provenance of @r from the columns of PGSTORE_COLUMNS past the ms pair. */
int pgstore_row_provenance(const PGresult *res, int row, struct store_record *r)
{
	const int c = PGSTORE_COL_PROVENANCE;
	bool ok = true;

	r->exit_code = pgstore_get_int(res, row, c);
	r->signal = pgstore_get_int(res, row, c + 1);
	r->host = PQgetisnull(res, row, c + 2) ? NULL : strdup(PQgetvalue(res, row, c + 2));
	ok = ok && (r->host || PQgetisnull(res, row, c + 2));
	r->user = PQgetisnull(res, row, c + 3) ? NULL : strdup(PQgetvalue(res, row, c + 3));
	ok = ok && (r->user || PQgetisnull(res, row, c + 3));
	r->uid = pgstore_get_int(res, row, c + 4);
	r->pid = pgstore_get_int(res, row, c + 5);
	r->cwd = PQgetisnull(res, row, c + 6) ? NULL : strdup(PQgetvalue(res, row, c + 6));
	ok = ok && (r->cwd || PQgetisnull(res, row, c + 6));
	r->output_bytes = pgstore_get_int(res, row, c + 7);
	if (r->output_bytes == STORE_NULL)
		r->output_bytes = 0;
	r->tool = PQgetisnull(res, row, c + 8) ? NULL : strdup(PQgetvalue(res, row, c + 8));
	ok = ok && (r->tool || PQgetisnull(res, row, c + 8));
	if (!ok)
		return store_fail(-ENOMEM, "postgres: out of memory");
	return pgstore_tags_parse(PQgetisnull(res, row, c + 9) ? NULL : PQgetvalue(res, row, c + 9), r);
}

/*
 * The values of a view, a page at a time from the index that leads with
 * them: each value found by one seek past the last (a loose index scan, as
 * a recursive query), so the cost grows with the values, not the rows. $1
 * is the last value handed out (null: from the first); for tags $1 and $2
 * are its key and value.
 */
#define PGSTORE_VALUES(col)                                                      \
	"WITH RECURSIVE v(x) AS ((SELECT " col " FROM execution_log WHERE " col      \
	" IS NOT NULL AND ($1::text IS NULL OR " col " > $1::text) ORDER BY " col    \
	" LIMIT 1) UNION ALL SELECT (SELECT " col " FROM execution_log WHERE " col   \
	" > v.x ORDER BY " col " LIMIT 1) FROM v WHERE v.x IS NOT NULL)"             \
	" SELECT x, NULL FROM v WHERE x IS NOT NULL LIMIT " PGSTORE_PAGE_TEXT

static const char *const pgstore_values_sql[STORE_ATTRS] = {
	[STORE_BY_HOST] = PGSTORE_VALUES("host"),
	[STORE_BY_USER] = PGSTORE_VALUES("\"user\""),
	[STORE_BY_TOOL] = PGSTORE_VALUES("tool"),
	[STORE_BY_TAG] =
		"WITH RECURSIVE v(k, x) AS ((SELECT key, value FROM execlog_tags"
		" WHERE $1::text IS NULL OR (key, value) > ($1::text, $2::text)"
		" ORDER BY key, value LIMIT 1)"
		" UNION ALL SELECT n.key, n.value FROM v CROSS JOIN LATERAL"
		" (SELECT key, value FROM execlog_tags t WHERE (t.key, t.value) > (v.k, v.x)"
		" ORDER BY t.key, t.value LIMIT 1) n)"
		" SELECT k, x FROM v LIMIT " PGSTORE_PAGE_TEXT,
};

/* Hands one page's values to @fn ("key=value" for tags); keeps the last in @last. */
static int pgstore_values_page(PGresult *res, enum store_attr attr, store_value_fn fn,
			       void *ctx, char **last_key, char **last)
{
	int err = 0;

	for (int i = 0; i < PQntuples(res) && err == 0; i++) {
		const char *key = PQgetvalue(res, i, 0), *value = PQgetvalue(res, i, 1);
		char *pair = NULL;

		free(*last_key);
		free(*last);
		*last_key = strdup(key);
		*last = strdup(attr == STORE_BY_TAG ? value : key);
		if (*last_key == NULL || *last == NULL ||
		    (attr == STORE_BY_TAG && asprintf(&pair, "%s=%s", key, value) < 0))
			return store_fail(-ENOMEM, "postgres: out of memory");
		err = fn(ctx, attr == STORE_BY_TAG ? pair : key);
		free(pair);
	}
	return err;
}

int pgstore_list_values(struct store *base, enum store_attr attr, store_value_fn fn, void *ctx)
{
	struct pgstore *s = pgstore_of(base);
	char *last_key = NULL, *last = NULL;
	bool more = true;
	int err = 0;

	while (err == 0 && more) {
		const char *params[2] = { last_key, last };
		PGresult *res;

		err = pgstore_run(s, PG_READ, "list values", pgstore_values_sql[attr],
				  attr == STORE_BY_TAG ? 2 : 1, params, &res);
		if (err)
			break;
		store_count_visits(&s->base, (uint64_t)PQntuples(res) + 1);
		more = PQntuples(res) == PGSTORE_PAGE;
		err = pgstore_values_page(res, attr, fn, ctx, &last_key, &last);
		PQclear(res);
	}
	free(last_key);
	free(last);
	return err > 0 ? 0 : err;
}
