/*
 * record_render.c - a record as its JSON document (record_to_json()) and
 * the length of that document without making it (record_json_size(), what
 * a stat needs).
 *
 * Written by hand rather than through cJSON: strings are escaped as cJSON
 * would (scan_add_escaped()), integers put in decimal, and args a start
 * stored copied as they stand. cJSON is left for the args text of a row
 * another program wrote, which is parsed and printed the way cJSON prints
 * it; test_record holds the two to the same bytes.
 *
 * Left out: reading a document (record.c, through scan.c). Nothing here
 * touches a store; store_fail() only records the reason.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "backend.h"
#include "record.h"
#include "record_internal.h"
#include "scan.h"
#include "text.h"

/* Adds cJSON's rendering of @item, unformatted. */
static void text_add_json(struct text_buf *tb, const cJSON *item)
{
	char *printed = cJSON_PrintUnformatted(item);

	if (printed == NULL) {
		tb->failed = true;
		return;
	}
	text_add_str(tb, printed);
	cJSON_free(printed);
}

/*
 * Adds @s as a JSON string; NULL as "" (or as null when @null_ok). Escaped
 * as cJSON would (test_record checks it), without making a cJSON item: a
 * stat measures every string of the record.
 */
static void text_add_string(struct text_buf *tb, const char *s, bool null_ok)
{
	if (s == NULL) {
		text_add_str(tb, null_ok ? "null" : "\"\"");
		return;
	}
	text_add(tb, "\"", 1);
	scan_add_escaped(tb, s, strlen(s));
	text_add(tb, "\"", 1);
}

/* Adds the tags as a JSON object on one line, as args are: {"k": "v", "k2": "v2"}, or {}. */
static void text_add_tags(struct text_buf *tb, const struct store_tag *tags, size_t n)
{
	text_add(tb, "{", 1);
	for (size_t i = 0; tags != NULL && i < n; i++) {
		if (i > 0)
			text_add(tb, ", ", 2);
		text_add_string(tb, tags[i].key, false);
		text_add(tb, ": ", 2);
		text_add_string(tb, tags[i].value, false);
	}
	text_add(tb, "}", 1);
}

/*
 * Adds @v in decimal, or null. By hand rather than by snprintf(), which was
 * most of what measuring a record for a stat cost, with twelve integers.
 */
static void text_add_int(struct text_buf *tb, int64_t v, bool null_ok)
{
	char digits[24];
	size_t at = sizeof(digits);
	/* The magnitude as unsigned: -INT64_MIN does not fit an int64. */
	uint64_t m = v < 0 ? -(uint64_t)v : (uint64_t)v;

	if (null_ok && v == STORE_NULL) {
		text_add(tb, "null", 4);
		return;
	}
	do {
		digits[--at] = (char)('0' + m % 10);
		m /= 10;
	} while (m != 0);
	if (v < 0)
		digits[--at] = '-';
	text_add(tb, digits + at, sizeof(digits) - at);
}

/*
 * The length of the escape at @p (after its backslash) if it is one that
 * cJSON prints, else 0: the two-character ones, and \u00XX for the other
 * control bytes but NUL, in lower-case hex.
 */
static size_t args_escape_len(const char *p)
{
	static const char hex[] = "0123456789abcdef";
	const char *two = strchr("\"\\bfnrt", *p);
	int v;

	if (*p != '\0' && two != NULL)
		return 1;
	if (p[0] != 'u' || p[1] != '0' || p[2] != '0' || p[3] == '\0' || p[4] == '\0' ||
	    strchr(hex, p[3]) == NULL || strchr(hex, p[4]) == NULL)
		return 0;
	v = (int)(strchr(hex, p[3]) - hex) * 16 + (int)(strchr(hex, p[4]) - hex);
	/* Those with a two-character form, and NUL, which ends a C string, print otherwise. */
	if (v == 0 || v >= 0x20 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t')
		return 0;
	return 5;
}

/*
 * Whether @args is exactly what cJSON_PrintUnformatted() makes of an array
 * of strings (what a start stores): then each string prints as it stands,
 * and the rendering is the text with a space after each separating comma.
 * Sets *@commas to their number. Anything else (a foreign row's text) goes
 * through cJSON, which this must agree with byte for byte (test_record).
 */
static bool args_canonical(const char *args, size_t *commas)
{
	const char *p = args;
	size_t esc;

	*commas = 0;
	if (*p++ != '[')
		return false;
	if (*p == ']')
		return p[1] == '\0';
	for (;;) {
		if (*p++ != '"')
			return false;
		while (*p != '"') {
			if ((unsigned char)*p < 0x20)
				return false;
			if (*p == '\\') {
				esc = args_escape_len(p + 1);
				if (esc == 0)
					return false;
				p += esc;
			}
			p++;
		}
		p++;
		if (*p == ']')
			return p[1] == '\0';
		if (*p++ != ',')
			return false;
		(*commas)++;
	}
}

/* Adds canonical @args (args_canonical) as cJSON's elements would render: ", " between them. */
static void text_add_canonical_args(struct text_buf *tb, const char *args, size_t commas)
{
	const char *p = args, *comma;
	bool in_string = false;

	if (tb->measure) {
		tb->len += strlen(args) + commas;
		return;
	}
	/* A comma outside a string separates elements; inside one it is text. */
	for (comma = p; *comma; comma++) {
		if (*comma == '\\' && in_string)
			comma++;
		else if (*comma == '"')
			in_string = !in_string;
		else if (*comma == ',' && !in_string) {
			text_add(tb, p, (size_t)(comma + 1 - p));
			text_add(tb, " ", 1);
			p = comma + 1;
		}
	}
	text_add(tb, p, (size_t)(comma - p));
}

/*
 * Adds the args array on one line. The text comes from the store: a foreign
 * row may hold anything, and what is not an array renders as []. What a
 * start stored is copied as it stands (parsing 60 KB of args for each stat
 * was most of what a listing cost); anything else is parsed and printed.
 */
static void text_add_args(struct text_buf *tb, const char *args)
{
	cJSON *array;
	const cJSON *element;
	bool first = true;
	size_t commas;

	if (args != NULL && args_canonical(args, &commas)) {
		text_add_canonical_args(tb, args, commas);
		return;
	}
	array = args ? cJSON_ParseWithOpts(args, NULL, true) : NULL;
	text_add_str(tb, "[");
	if (cJSON_IsArray(array)) {
		cJSON_ArrayForEach(element, array) {
			if (!first)
				text_add_str(tb, ", ");
			text_add_json(tb, element);
			first = false;
		}
	}
	text_add_str(tb, "]");
	cJSON_Delete(array);
}

static void text_add_key(struct text_buf *tb, size_t field)
{
	text_add_str(tb, field == 0 ? "{\n  \"" : ",\n  \"");
	text_add_str(tb, record_fields[field].key);
	text_add_str(tb, "\": ");
}

/* Renders @rec into @tb (or measures it, as @tb says). */
static void record_render(struct text_buf *tb, const struct store_record *rec)
{
	const int64_t ints[REC_FIELDS] = {
		[REC_ID] = rec->id,
		[REC_STARTED_AT] = rec->started_at,
		[REC_FINISHED_AT] = rec->finished_at,
		[REC_DURATION_MS] = rec->duration_ms,
		[REC_FILES] = rec->files_indexed,
		[REC_SYMBOLS] = rec->symbols_indexed,
		[REC_REFERENCES] = rec->references_indexed,
		[REC_EXIT_CODE] = rec->exit_code,
		[REC_SIGNAL] = rec->signal,
		[REC_UID] = rec->uid,
		[REC_PID] = rec->pid,
		[REC_OUTPUT_BYTES] = rec->output_bytes,
	};
	const char *strings[REC_FIELDS] = {
		[REC_EXECUTION_ID] = rec->execution_id,
		[REC_TOOL_VERSION] = rec->tool_version,
		[REC_ROOT] = rec->root,
		[REC_DB_PATH] = rec->db_path,
		[REC_OUTCOME] = rec->outcome,
		[REC_ERROR_MESSAGE] = rec->error_message,
		[REC_HOST] = rec->host,
		[REC_USER] = rec->user,
		[REC_CWD] = rec->cwd,
	};

	for (size_t i = 0; i < REC_FIELDS; i++) {
		enum field_kind kind = record_fields[i].kind;

		text_add_key(tb, i);
		if (kind == FIELD_STRING_ARRAY)
			text_add_args(tb, rec->args);
		else if (kind == FIELD_STRING_MAP)
			text_add_tags(tb, rec->tags, rec->ntags);
		else if (kind == FIELD_STRING || kind == FIELD_STRING_OR_NULL)
			text_add_string(tb, strings[i], kind == FIELD_STRING_OR_NULL);
		else
			text_add_int(tb, ints[i], kind == FIELD_INT_OR_NULL);
	}
	text_add_str(tb, "\n}\n");
}

int record_json_size(const struct store_record *rec, size_t *len)
{
	struct text_buf tb = { .measure = true };

	record_render(&tb, rec);
	if (tb.failed)
		return store_fail(-ENOMEM, "out of memory measuring %s",
				  rec->execution_id ? rec->execution_id : "a record");
	*len = tb.len;
	return 0;
}

char *record_to_json(const struct store_record *rec, size_t *len)
{
	struct text_buf tb = { 0 };

	record_render(&tb, rec);
	if (tb.failed) {
		free(tb.data);
		store_fail(-ENOMEM, "out of memory rendering %s",
			   rec->execution_id ? rec->execution_id : "a record");
		return NULL;
	}
	if (len != NULL)
		*len = tb.len;
	return tb.data;
}
