/*
 * test_record.c - unit tests of store/record.c: names, rendering, reading a
 * record back, start documents (whole and write by write) and finish values.
 *
 * One binary, one case per run: `test_record CASE`. A failed check prints
 * where and what, and exits 1; no case is ever skipped.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "record.h"
#include "store.h"

#define CHECK(expr)                                                               \
	do {                                                                      \
		if (!(expr)) {                                                    \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,    \
				__LINE__, #expr);                                 \
			fprintf(stderr, "  store_reason: %s\n", store_reason());  \
			exit(1);                                                  \
		}                                                                 \
	} while (0)

/* Like CHECK, naming the input that failed. */
#define CHECK_DOC(expr, doc)                                                      \
	do {                                                                      \
		if (!(expr)) {                                                    \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n  input: %s\n", \
				__FILE__, __LINE__, #expr, (doc));                \
			fprintf(stderr, "  store_reason: %s\n", store_reason());  \
			exit(1);                                                  \
		}                                                                 \
	} while (0)

static bool str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Two lists of tags hold the same pairs in the same order. */
static bool same_tags(const struct store_tag *a, size_t na, const struct store_tag *b, size_t nb)
{
	if (na != nb || (na > 0 && (a == NULL || b == NULL)))
		return false;
	for (size_t i = 0; i < na; i++) {
		if (!str_eq(a[i].key, b[i].key) || !str_eq(a[i].value, b[i].value))
			return false;
	}
	return true;
}

static bool reason_has(const char *part)
{
	return strstr(store_reason(), part) != NULL;
}

/* A string of @n copies of @c, malloc'd. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	CHECK(s != NULL);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---------------------------------------------------------------------- */
/* name */

static void test_name(void)
{
	static const char allowed[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@+-";
	char name[300];
	char *s;

	CHECK(record_name_check("a") == 0);
	CHECK(record_name_check("two") == 0);
	CHECK(record_name_check("a.b") == 0);
	CHECK(record_name_check("a..") == 0);
	CHECK(record_name_check("-x") == 0);
	CHECK(record_name_check("run@host:2024+1_x-y") == 0);
	CHECK(record_name_check(allowed) == 0);

	/* Every allowed byte alone (but '.'), and every other byte refused. */
	for (int c = 1; c < 256; c++) {
		bool ok = c != 0 && strchr(allowed, c) != NULL;

		name[0] = (char)c;
		name[1] = '\0';
		CHECK(record_name_check(name) == (ok && c != '.' ? 0 : -EINVAL));
		snprintf(name, sizeof(name), "a%cb", c);
		CHECK(record_name_check(name) == (ok ? 0 : -EINVAL));
	}

	CHECK(record_name_check("") == -EINVAL);
	CHECK(record_name_check(NULL) == -EINVAL);
	CHECK(record_name_check(".") == -EINVAL);
	CHECK(record_name_check("..") == -EINVAL);
	CHECK(record_name_check(".hidden") == -EINVAL);
	CHECK(record_name_check("a/b") == -EINVAL);
	CHECK(record_name_check("a b") == -EINVAL);
	CHECK(record_name_check("caf\xc3\xa9") == -EINVAL);
	CHECK(record_name_check("a*") == -EINVAL);
	CHECK(record_name_check("a\n") == -EINVAL);

	/* Lengths: 1 and 128 fit, 129..255 are EINVAL, past 255 ENAMETOOLONG. */
	s = repeat('x', 128);
	CHECK(record_name_check(s) == 0);
	free(s);
	s = repeat('x', 129);
	CHECK(record_name_check(s) == -EINVAL);
	free(s);
	s = repeat('x', 255);
	CHECK(record_name_check(s) == -EINVAL);
	free(s);
	s = repeat('x', 256);
	CHECK(record_name_check(s) == -ENAMETOOLONG);
	free(s);
	s = repeat('x', 4000);
	CHECK(record_name_check(s) == -ENAMETOOLONG);
	/* Too long wins over a bad byte. */
	s[0] = '.';
	s[5] = '/';
	CHECK(record_name_check(s) == -ENAMETOOLONG);
	free(s);
	s = repeat('x', 200);
	s[0] = '.';
	CHECK(record_name_check(s) == -EINVAL);
	free(s);
}

/* ---------------------------------------------------------------------- */
/* render */

static struct store_record running_record(void)
{
	struct store_record rec = {
		.id = 7,
		.execution_id = "two",
		.tool_version = "1.0",
		.args = "[\"make\",\"-j4\"]",
		.root = NULL,
		.db_path = "",
		.started_at = 1764100000,
		.finished_at = STORE_NULL,
		.duration_ms = STORE_NULL,
		.outcome = "running",
		.error_message = NULL,
		.exit_code = STORE_NULL,
		.signal = STORE_NULL,
		.host = "box",
		.user = "alice",
		.uid = 1000,
		.pid = 4242,
		.cwd = NULL,
		.tags = NULL,
		.ntags = 0,
		.output_bytes = 0,
	};
	return rec;
}

static void check_render(const struct store_record *rec, const char *want)
{
	size_t len = 0;
	char *got = record_to_json(rec, &len);

	CHECK(got != NULL);
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "rendered:\n%s\nwanted:\n%s\n", got, want);
		CHECK(!"render mismatch");
	}
	CHECK(len == strlen(want));
	free(got);
}

static void test_render(void)
{
	struct store_record rec = running_record();
	char *got;

	check_render(&rec,
		     "{\n"
		     "  \"id\": 7,\n"
		     "  \"execution_id\": \"two\",\n"
		     "  \"tool_version\": \"1.0\",\n"
		     "  \"args\": [\"make\", \"-j4\"],\n"
		     "  \"root\": null,\n"
		     "  \"db_path\": \"\",\n"
		     "  \"started_at\": 1764100000,\n"
		     "  \"finished_at\": null,\n"
		     "  \"duration_ms\": null,\n"
		     "  \"outcome\": \"running\",\n"
		     "  \"error_message\": null,\n"
		     "  \"files_indexed\": 0,\n"
		     "  \"symbols_indexed\": 0,\n"
		     "  \"references_indexed\": 0,\n"
		     "  \"exit_code\": null,\n"
		     "  \"signal\": null,\n"
		     "  \"host\": \"box\",\n"
		     "  \"user\": \"alice\",\n"
		     "  \"uid\": 1000,\n"
		     "  \"pid\": 4242,\n"
		     "  \"cwd\": null,\n"
		     "  \"tags\": {},\n"
		     "  \"output_bytes\": 0\n"
		     "}\n");

	/* A finished record: nothing null, big exact integers. */
	rec.root = "/src";
	rec.db_path = "/tmp/x.db";
	rec.args = "[]";
	rec.finished_at = 1764100005;
	rec.duration_ms = 5123;
	rec.outcome = "error";
	rec.error_message = "boom";
	rec.files_indexed = 9007199254740993; /* not exact as a double */
	rec.symbols_indexed = INT64_MAX;
	rec.references_indexed = 1;
	check_render(&rec,
		     "{\n"
		     "  \"id\": 7,\n"
		     "  \"execution_id\": \"two\",\n"
		     "  \"tool_version\": \"1.0\",\n"
		     "  \"args\": [],\n"
		     "  \"root\": \"/src\",\n"
		     "  \"db_path\": \"/tmp/x.db\",\n"
		     "  \"started_at\": 1764100000,\n"
		     "  \"finished_at\": 1764100005,\n"
		     "  \"duration_ms\": 5123,\n"
		     "  \"outcome\": \"error\",\n"
		     "  \"error_message\": \"boom\",\n"
		     "  \"files_indexed\": 9007199254740993,\n"
		     "  \"symbols_indexed\": 9223372036854775807,\n"
		     "  \"references_indexed\": 1,\n"
		     "  \"exit_code\": null,\n"
		     "  \"signal\": null,\n"
		     "  \"host\": \"box\",\n"
		     "  \"user\": \"alice\",\n"
		     "  \"uid\": 1000,\n"
		     "  \"pid\": 4242,\n"
		     "  \"cwd\": null,\n"
		     "  \"tags\": {},\n"
		     "  \"output_bytes\": 0\n"
		     "}\n");

	/* Escapes: quote, backslash, control bytes; UTF-8 passes through. */
	rec = running_record();
	rec.tool_version = "a\"b\\c\nd\te\x01" "f\x1f";
	rec.root = "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80";
	rec.args = "[\"a\\\"q\",\"\\u00e9\",\"\\n\"]";
	rec.error_message = "/slash\r";
	got = record_to_json(&rec, NULL);
	CHECK(got != NULL);
	CHECK(strstr(got, "  \"tool_version\": \"a\\\"b\\\\c\\nd\\te\\u0001f\\u001f\",\n"));
	CHECK(strstr(got, "  \"root\": \"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80\",\n"));
	CHECK(strstr(got, "  \"args\": [\"a\\\"q\", \"\xc3\xa9\", \"\\n\"],\n"));
	CHECK(strstr(got, "  \"error_message\": \"/slash\\r\",\n"));
	free(got);

	/* A foreign row: NULL strings print as "", and args that are no array as []. */
	rec = running_record();
	rec.tool_version = NULL;
	rec.db_path = NULL;
	rec.outcome = NULL;
	rec.args = NULL;
	rec.files_indexed = -3;
	got = record_to_json(&rec, NULL);
	CHECK(got != NULL);
	CHECK(strstr(got, "  \"tool_version\": \"\",\n"));
	CHECK(strstr(got, "  \"db_path\": \"\",\n"));
	CHECK(strstr(got, "  \"outcome\": \"\",\n"));
	CHECK(strstr(got, "  \"args\": [],\n"));
	CHECK(strstr(got, "  \"files_indexed\": -3,\n"));
	free(got);

	static const struct {
		const char *args;
		const char *line;
	} foreign[] = {
		{ "not json", "  \"args\": [],\n" },
		{ "", "  \"args\": [],\n" },
		{ "{\"a\":1}", "  \"args\": [],\n" },
		{ "\"make\"", "  \"args\": [],\n" },
		{ "[\"a\"] trailing", "  \"args\": [],\n" },
		{ "[\"a\"", "  \"args\": [],\n" },
		{ "[ \"a\" ,\n \"b\" ]", "  \"args\": [\"a\", \"b\"],\n" },
		{ "[1, \"x\", null, true]", "  \"args\": [1, \"x\", null, true],\n" },
		{ "[[\"n\"], {\"k\":\"v\"}]", "  \"args\": [[\"n\"], {\"k\":\"v\"}],\n" },
	};
	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		rec = running_record();
		rec.args = (char *)foreign[i].args;
		got = record_to_json(&rec, NULL);
		CHECK_DOC(got != NULL, foreign[i].args);
		CHECK_DOC(strstr(got, foreign[i].line) != NULL, foreign[i].args);
		free(got);
	}

	/* Nesting far past cJSON's limit is no array: [] and no crash. */
	{
		size_t depth = 100000;
		char *deep = malloc(2 * depth + 1);

		CHECK(deep != NULL);
		memset(deep, '[', depth);
		memset(deep + depth, ']', depth);
		deep[2 * depth] = '\0';
		rec = running_record();
		rec.args = deep;
		got = record_to_json(&rec, NULL);
		CHECK(got != NULL);
		CHECK(strstr(got, "  \"args\": [],\n"));
		free(got);
		free(deep);
	}
}

/*
 * The args line as cJSON renders it, the slow way: parse @args, print each
 * element, ", " between them; what is no array is [].
 */
static char *args_oracle(const char *args)
{
	cJSON *array = cJSON_ParseWithOpts(args, NULL, true);
	const cJSON *e;
	size_t len = 0, cap = strlen(args) * 2 + 64;
	char *out = malloc(cap), *p;

	CHECK(out != NULL);
	len += (size_t)sprintf(out, "  \"args\": [");
	if (cJSON_IsArray(array)) {
		cJSON_ArrayForEach(e, array) {
			p = cJSON_PrintUnformatted(e);
			CHECK(p != NULL && len + strlen(p) + 8 < cap);
			len += (size_t)sprintf(out + len, "%s%s", e == array->child ? "" : ", ", p);
			cJSON_free(p);
		}
	}
	sprintf(out + len, "],\n");
	cJSON_Delete(array);
	return out;
}

/* Renders @args in a record: the line must be the oracle's, and the size the text's. */
static void check_args_render(const char *args)
{
	struct store_record rec = running_record();
	char *got, *want = args_oracle(args);
	size_t len = 0, measured = 0;

	rec.args = (char *)args;
	got = record_to_json(&rec, &len);
	CHECK_DOC(got != NULL, args);
	CHECK_DOC(strstr(got, want) != NULL, args);
	CHECK_DOC(record_json_size(&rec, &measured) == 0 && measured == len, args);
	free(got);
	free(want);
}

/*
 * Args as a start stores them (cJSON's unformatted print) are copied, not
 * parsed: whatever the strings hold, the copy must be what cJSON's parse
 * and print give, and so must every near miss (a space, another escape, a
 * control byte, a number), which takes the slow way.
 */
static void test_render_args(void)
{
	static const char *const near[] = {
		"[]", "[ ]", "[\"\"]", "[\"a\",\"b\"]", "[\"a\" ,\"b\"]", "[\"a\",]",
		"[\"\\/\"]", "[\"\\u00e9\"]", "[\"\\u0041\"]", "[\"\\u000a\"]", "[\"\\u0000\"]",
		"[\"\\u001f\"]", "[\"\\u001F\"]", "[\"\\u0001x\"]", "[\"\\n\\t\\\"\\\\\"]",
		"[\"a,b\",\"c\"]", "[\"a\\\",\"]", "[\"\t\"]", "[1,\"x\"]", "[\"x\"]]",
		"[\"x\"", "[\"\\u00\"]", "[\"\\", "[\"\\q\"]", "[\"\xc3\xa9\xff\"]",
	};
	unsigned seed = 12345;

	for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++)
		check_args_render(near[i]);
	/* Random arrays of random strings, printed by cJSON as a start stores them. */
	for (int round = 0; round < 2000; round++) {
		cJSON *array = cJSON_CreateArray();
		char str[40], *text;
		int n = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 6;

		CHECK(array != NULL);
		for (int j = 0; j < n; j++) {
			int len = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;

			for (int k = 0; k < len; k++) {
				seed = seed * 1103515245u + 12345u;
				str[k] = (char)(1 + (seed >> 16) % 255);
			}
			str[len] = '\0';
			cJSON_AddItemToArray(array, cJSON_CreateString(str));
		}
		text = cJSON_PrintUnformatted(array);
		CHECK(text != NULL);
		check_args_render(text);
		cJSON_free(text);
		cJSON_Delete(array);
	}
}

/* ---------------------------------------------------------------------- */
/* from_json */

static void check_same_record(const struct store_record *a, const struct store_record *b)
{
	CHECK(a->id == b->id);
	CHECK(str_eq(a->execution_id, b->execution_id));
	CHECK(str_eq(a->tool_version, b->tool_version));
	CHECK(str_eq(a->args, b->args));
	CHECK(str_eq(a->root, b->root));
	CHECK(str_eq(a->db_path, b->db_path));
	CHECK(a->started_at == b->started_at);
	CHECK(a->finished_at == b->finished_at);
	CHECK(a->duration_ms == b->duration_ms);
	CHECK(str_eq(a->outcome, b->outcome));
	CHECK(str_eq(a->error_message, b->error_message));
	CHECK(a->files_indexed == b->files_indexed);
	CHECK(a->symbols_indexed == b->symbols_indexed);
	CHECK(a->references_indexed == b->references_indexed);
	CHECK(a->exit_code == b->exit_code);
	CHECK(a->signal == b->signal);
	CHECK(str_eq(a->host, b->host));
	CHECK(str_eq(a->user, b->user));
	CHECK(a->uid == b->uid);
	CHECK(a->pid == b->pid);
	CHECK(str_eq(a->cwd, b->cwd));
	CHECK(same_tags(a->tags, a->ntags, b->tags, b->ntags));
	CHECK(a->output_bytes == b->output_bytes);
}

/* Renders @rec, reads it back, renders again: same record, same text. */
static void check_round_trip(const struct store_record *rec)
{
	struct store_record back = { 0 };
	size_t len, len2;
	char *text = record_to_json(rec, &len);
	char *text2;

	CHECK(text != NULL);
	CHECK_DOC(record_from_json(text, len, &back) == 0, text);
	check_same_record(rec, &back);
	CHECK(back.started_ms == 0 && back.heartbeat_ms == 0);
	text2 = record_to_json(&back, &len2);
	CHECK(text2 != NULL);
	CHECK(len == len2 && memcmp(text, text2, len) == 0);
	free(text);
	free(text2);
	store_record_clear(&back);
}

static const char compact_record[] =
	"{\"id\":3,\"execution_id\":\"e\",\"tool_version\":\"v\",\"args\":[\"a\",\"b\"],"
	"\"root\":\"/r\",\"db_path\":\"d\",\"started_at\":10,\"finished_at\":12,"
	"\"duration_ms\":2000,\"outcome\":\"success\",\"error_message\":null,"
	"\"files_indexed\":1,\"symbols_indexed\":2,\"references_indexed\":3}";

static void test_from_json(void)
{
	struct store_record rec = running_record();
	struct store_record back = { 0 };
	char *doc;

	check_round_trip(&rec);
	rec.root = "/home/u/src";
	rec.db_path = "/tmp/m.db";
	rec.finished_at = 1764100009;
	rec.duration_ms = 9001;
	rec.outcome = "partial";
	rec.error_message = "half \"done\"\n\\ \xe2\x9c\x93";
	rec.files_indexed = 9007199254740993;
	rec.symbols_indexed = INT64_MAX;
	rec.references_indexed = 0;
	check_round_trip(&rec);
	rec.args = "[]";
	rec.started_at = INT64_MIN; /* an int, not a null: it is no null field */
	rec.id = INT64_MAX;
	rec.tool_version = "\x01\x1f\x7f \xf4\x8f\xbf\xbf";
	check_round_trip(&rec);
	rec.files_indexed = -5;
	check_round_trip(&rec);

	/* Args come back as compact JSON text. */
	rec = running_record();
	rec.args = "[ \"make\" , \"-j4\" ]";
	doc = record_to_json(&rec, NULL);
	CHECK(doc != NULL);
	CHECK(record_from_json(doc, strlen(doc), &back) == 0);
	CHECK(str_eq(back.args, "[\"make\",\"-j4\"]"));
	CHECK(back.root == NULL && back.error_message == NULL);
	CHECK(back.finished_at == STORE_NULL && back.duration_ms == STORE_NULL);
	free(doc);

	/* Any layout of the same fields reads; @out is cleared first (no leak). */
	CHECK(record_from_json(compact_record, strlen(compact_record), &back) == 0);
	CHECK(back.id == 3 && str_eq(back.execution_id, "e") && str_eq(back.args, "[\"a\",\"b\"]"));
	CHECK(str_eq(back.root, "/r") && back.duration_ms == 2000 && back.references_indexed == 3);
	CHECK(back.error_message == NULL && str_eq(back.outcome, "success"));
	store_record_clear(&back);

	/* Not NUL-terminated: only len bytes are read. */
	doc = malloc(sizeof(compact_record) - 1 + 5);
	CHECK(doc != NULL);
	memcpy(doc, compact_record, sizeof(compact_record) - 1);
	memcpy(doc + sizeof(compact_record) - 1, "xxxxx", 5);
	CHECK(record_from_json(doc, sizeof(compact_record) - 1, &back) == 0);
	CHECK(record_from_json(doc, sizeof(compact_record) - 1 + 1, &back) == -EINVAL);
	CHECK(back.execution_id == NULL); /* a refusal leaves it cleared */
	free(doc);

	/* Refusals: each a small edit of the compact record. */
	static const struct {
		const char *from;
		const char *to;
	} edits[] = {
		{ "\"id\":3,", "" },                              /* missing */
		{ "\"error_message\":null,", "" },                /* missing */
		{ "\"id\":3,", "\"id\":3,\"id\":4," },            /* repeated */
		{ "\"id\":3,", "\"id\":3,\"extra\":1," },         /* unknown */
		{ "\"id\":3", "\"id\":\"3\"" },
		{ "\"id\":3", "\"id\":3.0" },
		{ "\"id\":3", "\"id\":3e0" },
		{ "\"id\":3", "\"id\":null" },
		{ "\"id\":3", "\"id\":03" },
		{ "\"id\":3", "\"id\":9223372036854775808" },
		{ "\"id\":3", "\"id\":-9223372036854775809" },
		{ "\"finished_at\":12", "\"finished_at\":\"12\"" },
		{ "\"execution_id\":\"e\"", "\"execution_id\":null" },
		{ "\"outcome\":\"success\"", "\"outcome\":1" },
		{ "\"args\":[\"a\",\"b\"]", "\"args\":[\"a\",2]" },
		{ "\"args\":[\"a\",\"b\"]", "\"args\":\"a\"" },
		{ "\"error_message\":null", "\"error_message\":false" },
		{ "\"files_indexed\":1", "\"files_indexed\":null" },
		{ "}", "} x" },
		{ "}", "" },
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		const char *at = strstr(compact_record, edits[i].from);
		size_t head = (size_t)(at - compact_record);
		char edited[1024];

		CHECK(at != NULL);
		snprintf(edited, sizeof(edited), "%.*s%s%s", (int)head, compact_record,
			 edits[i].to, at + strlen(edits[i].from));
		CHECK_DOC(record_from_json(edited, strlen(edited), &back) == -EINVAL, edited);
		CHECK(back.execution_id == NULL && back.args == NULL);
	}
	CHECK(record_from_json("", 0, &back) == -EINVAL);
	CHECK(record_from_json("{}", 2, &back) == -EINVAL);
	CHECK(reason_has("missing"));
	CHECK(record_from_json("[]", 2, &back) == -EINVAL);

	/* The extremes of int64 read exactly. */
	{
		const char *from = "\"started_at\":10";
		const char *at = strstr(compact_record, from);
		char edited[1024];

		snprintf(edited, sizeof(edited), "%.*s\"started_at\":-9223372036854775808%s",
			 (int)(at - compact_record), compact_record, at + strlen(from));
		CHECK(record_from_json(edited, strlen(edited), &back) == 0);
		CHECK(back.started_at == INT64_MIN);
		store_record_clear(&back);
		snprintf(edited, sizeof(edited), "%.*s\"started_at\":-0%s",
			 (int)(at - compact_record), compact_record, at + strlen(from));
		CHECK(record_from_json(edited, strlen(edited), &back) == 0);
		CHECK(back.started_at == 0);
		store_record_clear(&back);
	}
}

/* ---------------------------------------------------------------------- */
/* start documents, whole */

/* Parses @doc into a fresh record; checks the result. */
static int parse_start(const char *doc, struct store_record *out)
{
	memset(out, 0, sizeof(*out));
	return record_parse_start(doc, strlen(doc), out);
}

static void check_start(const char *doc, const char *tool_version, const char *args,
			const char *root, const char *db_path)
{
	struct store_record rec;

	CHECK_DOC(parse_start(doc, &rec) == 0, doc);
	CHECK_DOC(str_eq(rec.tool_version, tool_version), doc);
	CHECK_DOC(str_eq(rec.args, args), doc);
	CHECK_DOC(str_eq(rec.root, root), doc);
	CHECK_DOC(str_eq(rec.db_path, db_path), doc);
	store_record_clear(&rec);
}

static void check_start_invalid(const char *doc, int err)
{
	struct store_record rec;

	CHECK_DOC(parse_start(doc, &rec) == err, doc);
	CHECK_DOC(rec.tool_version == NULL && rec.args == NULL && rec.db_path == NULL, doc);
}

static void test_start_valid(void)
{
	struct store_record rec;

	/* Defaults: nothing, white space only, or an empty object. */
	check_start("", "", "[]", NULL, "");
	check_start(" \t\r\n ", "", "[]", NULL, "");
	check_start("{}", "", "[]", NULL, "");
	check_start("\n{ \t}\r\n", "", "[]", NULL, "");

	check_start("{\"tool_version\": \"1.2\", \"args\": [\"make\", \"-j4\"], "
		    "\"root\": \"/src\", \"db_path\": \"/db\"}\n",
		    "1.2", "[\"make\",\"-j4\"]", "/src", "/db");
	check_start("{\"db_path\":\"d\",\"root\":null,\"args\":[],\"tool_version\":\"t\"}",
		    "t", "[]", NULL, "d");
	check_start("{\"root\":\"\"}", "", "[]", "", "");
	check_start("{\"args\":[\"\"]}", "", "[\"\"]", NULL, "");
	check_start(" {\n  \"args\" :\n [ \"a\" ,\t\"b\" ] ,\r\n \"root\" : null \n}  \n\n",
		    "", "[\"a\",\"b\"]", NULL, "");
	/* Escapes in values, re-escaped in the compact args text. */
	check_start("{\"tool_version\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"}",
		    "a\"b\\c/d\b\f\n\r\t", "[]", NULL, "");
	check_start("{\"args\":[\"x\\ny\", \"\\u0041\\u00e9\"]}", "",
		    "[\"x\\ny\",\"A\xc3\xa9\"]", NULL, "");
	/* A key spelled with escapes is the same key. */
	check_start("{\"\\u0074ool_version\":\"v\",\"\\u0061rgs\":[]}", "v", "[]", NULL, "");
	check_start("{\"db\\u005fpath\":\"p\"}", "", "[]", NULL, "p");

	/* Only the four fields are set: the others keep their values. */
	memset(&rec, 0, sizeof(rec));
	rec.id = 42;
	rec.execution_id = "keep";
	rec.started_ms = 5;
	CHECK(record_parse_start("{\"root\":\"/x\"}", 13, &rec) == 0);
	CHECK(rec.id == 42 && str_eq(rec.execution_id, "keep") && rec.started_ms == 5);
	CHECK(str_eq(rec.root, "/x") && str_eq(rec.args, "[]"));
	free(rec.tool_version);
	free(rec.args);
	free(rec.root);
	free(rec.db_path);

	/* Only len bytes are read. */
	memset(&rec, 0, sizeof(rec));
	CHECK(record_parse_start("{\"root\":\"/x\"}garbage", 13, &rec) == 0);
	CHECK(str_eq(rec.root, "/x"));
	store_record_clear(&rec);
}

/* Wrong values for every key: each is refused. */
static const char *const wrong_values[][12] = {
	{ "tool_version", "1", "-1", "true", "false", "null", "{}", "[]", "[\"a\"]", "1.5", NULL },
	{ "args", "\"x\"", "1", "-1", "true", "false", "null", "{}", "[1]", "[\"a\",1]", "[null]", NULL },
	{ "args", "[[\"a\"]]", "[{}]", "[true]", "[false]", "[-1]", "[\"a\",]", "[,]", "[\"a\" \"b\"]", NULL },
	{ "root", "1", "-1", "true", "false", "{}", "[]", "[\"a\"]", "nul", "nulll", "NULL", "Null" },
	{ "db_path", "1", "-1", "true", "false", "null", "{}", "[]", "[\"a\"]", NULL },
};

static void test_start_invalid(void)
{
	char doc[256];

	for (size_t k = 0; k < sizeof(wrong_values) / sizeof(wrong_values[0]); k++) {
		for (size_t v = 1; v < 12 && wrong_values[k][v] != NULL; v++) {
			snprintf(doc, sizeof(doc), "{\"%s\": %s}", wrong_values[k][0],
				 wrong_values[k][v]);
			check_start_invalid(doc, -EINVAL);
			snprintf(doc, sizeof(doc), "{\"db_path\":\"\",\"%s\":%s,\"x\":1}",
				 wrong_values[k][0], wrong_values[k][v]);
			check_start_invalid(doc, -EINVAL);
		}
	}
	check_start_invalid("{\"args\": 1}", -EINVAL);
	CHECK(reason_has("\"args\" must be an array of strings"));
	check_start_invalid("{\"tool_version\": true}", -EINVAL);
	CHECK(reason_has("\"tool_version\" must be a string"));
	check_start_invalid("{\"root\": 0}", -EINVAL);
	CHECK(reason_has("\"root\" must be a string or null"));

	/* Unknown and repeated keys. */
	check_start_invalid("{\"nope\": \"x\"}", -EINVAL);
	CHECK(reason_has("unknown key \"nope\""));
	static const char *const refused[] = {
		"{\"\": \"x\"}",
		"{\"TOOL_VERSION\": \"x\"}",
		"{\"tool_versionx\": \"x\"}",
		"{\"tool\": \"x\"}",
		"{\"arg\": []}",
		"{\"args \": []}",
		"{\"a\\u0000rgs\": []}",
		"{\"caf\xc3\xa9\": \"\"}",
		"{\"args\": [], \"args\": []}",
		"{\"root\": null, \"root\": \"/x\"}",
		"{\"tool_version\": \"a\", \"db_path\": \"\", \"tool_version\": \"a\"}",
		"{\"args\": [], \"\\u0061rgs\": []}",
		/* Not one object. */
		"[]", "\"x\"", "1", "null", "true", "{", "}", "{}}", "{} {}", "{}{}",
		"{} x", "{}\n[]", "{}\f", "\v{}", "{,}", "{\"args\"}", "{\"args\" []}",
		"{\"args\":[] \"root\":null}", "{\"args\":[],}", "{\"args\":[]]",
		"{'args': []}", "{args: []}", "\xef\xbb\xbf{}",
		"x", "{\"root\":\"a\"\"b\"}", "{\"root\"::null}", "{\"root\":}",
		/* Strings: escapes, control bytes, NUL. */
		"{\"root\":\"\\x\"}", "{\"root\":\"\\u12\"}", "{\"root\":\"\\u12g4\"}",
		"{\"root\":\"\\U0041\"}", "{\"root\":\"\\u0000\"}", "{\"root\":\"\\'\"}",
		"{\"root\":\"a\nb\"}", "{\"root\":\"a\tb\"}", "{\"root\":\"\x01\"}",
		"{\"root\":\"\x1f\"}",
		/* Incomplete. */
		"{\"args\":[", "{\"root\":\"abc", "{\"root\":nu", "{\"root\"", "{\"ro",
		" {", "{\"root\":\"\\u00",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		check_start_invalid(refused[i], -EINVAL);

	/* A NUL anywhere, given with its length. */
	{
		static const char nul_docs[][16] = { "{\"root\":\"a\0b\"}", "{\0}", "\0{}" };
		static const size_t lens[] = { 14, 3, 3 };
		struct store_record rec = { 0 };

		for (size_t i = 0; i < 3; i++)
			CHECK(record_parse_start(nul_docs[i], lens[i], &rec) == -EINVAL);
		CHECK(rec.tool_version == NULL);
	}

	check_start_invalid("{\"args\":[\"a\"", -EINVAL);
	CHECK(reason_has("start document: incomplete JSON"));
	check_start_invalid("{\"args\":{\"args\":{}}}", -EINVAL);
}

/* ---------------------------------------------------------------------- */
/* start documents, write by write */

/* Index of the '}' that closes the document. */
static size_t closing_brace(const char *doc, size_t len)
{
	size_t i = len;

	while (i > 0 && doc[i - 1] != '}')
		i--;
	CHECK(i > 0);
	return i - 1;
}

/* Feeds a valid @doc byte by byte and in two chunks split at every position. */
static void check_scan_valid(const char *doc, size_t len)
{
	size_t close = closing_brace(doc, len);
	struct record_scan *sc = record_scan_new();

	CHECK(sc != NULL);
	CHECK(record_scan_blank(sc));
	for (size_t i = 0; i < len; i++) {
		int want = i < close ? RECORD_SCAN_MORE : RECORD_SCAN_DONE;

		CHECK_DOC(record_scan_feed(sc, doc + i, 1) == want, doc);
		CHECK(record_scan_feed(sc, doc, 0) == want);
	}
	record_scan_free(sc);

	for (size_t split = 0; split <= len; split++) {
		sc = record_scan_new();
		CHECK(sc != NULL);
		CHECK_DOC(record_scan_feed(sc, doc, split) ==
				  (split > close ? RECORD_SCAN_DONE : RECORD_SCAN_MORE), doc);
		CHECK_DOC(record_scan_feed(sc, doc + split, len - split) == RECORD_SCAN_DONE, doc);
		/* White space keeps it done. */
		CHECK(record_scan_feed(sc, " \n\t\r", 4) == RECORD_SCAN_DONE);
		CHECK(!record_scan_blank(sc));
		record_scan_free(sc);
	}
}

/*
 * Feeds an invalid @doc byte by byte and in two chunks at every split: the
 * error comes with the byte at index @bad, and stays.
 */
static void check_scan_invalid_at(const char *doc, size_t len, size_t bad, int err)
{
	struct record_scan *sc = record_scan_new();

	CHECK(sc != NULL);
	for (size_t i = 0; i < len; i++) {
		int got = record_scan_feed(sc, doc + i, 1);

		if (i < bad)
			CHECK_DOC(got >= 0, doc);
		else
			CHECK_DOC(got == err, doc);
	}
	/* Failed for good, whatever comes next. */
	CHECK(record_scan_feed(sc, "}", 1) == err);
	CHECK(record_scan_feed(sc, " ", 1) == err);
	CHECK(record_scan_feed(sc, "", 0) == err);
	CHECK(!record_scan_blank(sc));
	record_scan_free(sc);

	for (size_t split = 0; split <= len; split++) {
		sc = record_scan_new();
		CHECK(sc != NULL);
		if (split <= bad)
			CHECK_DOC(record_scan_feed(sc, doc, split) >= 0, doc);
		else
			CHECK_DOC(record_scan_feed(sc, doc, split) == err, doc);
		CHECK_DOC(record_scan_feed(sc, doc + split, len - split) == err, doc);
		record_scan_free(sc);
	}
}

/* As check_scan_invalid_at(), the bad byte marked by the first '#' in @pattern. */
static void check_scan_invalid(const char *pattern, char bad_byte)
{
	char doc[256];
	const char *mark = strchr(pattern, '#');
	size_t len = strlen(pattern);

	CHECK(mark != NULL && len < sizeof(doc));
	memcpy(doc, pattern, len + 1);
	doc[mark - pattern] = bad_byte;
	check_scan_invalid_at(doc, len, (size_t)(mark - pattern), -EINVAL);
}

static void test_start_scan(void)
{
	static const char *const valid[] = {
		"{}",
		" \n{}\n",
		("{\"tool_version\": \"1.0\", \"args\": [\"make\", \"-j4\"], \"root\": null, "
		 "\"db_path\": \"/d\"}\n"),
		"{\"root\":\"/r\",\"args\":[]}",
		"{\"root\":null}",
		"{\"args\":[\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"\\u00e9\\uD83D\\uDE00\"]}",
		"{\"\\u0074ool_version\":\"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80\"}",
		"\t{ \"args\" : [ ] , \"db_path\" : \"\" }\r\n",
	};
	struct record_scan *sc;

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		check_scan_valid(valid[i], strlen(valid[i]));

	/* Each refused at the byte marked '#', which is replaced by the second argument. */
	check_scan_invalid("{\"tool_version\": #}", '1');
	check_scan_invalid("{\"tool_version\": #}", 't');
	check_scan_invalid("{\"tool_version\": #}", '{');
	check_scan_invalid("{\"tool_version\": #}", '[');
	check_scan_invalid("{\"tool_version\": #}", 'n');
	check_scan_invalid("{\"tool_version\": #}", '-');
	check_scan_invalid("{\"db_path\":#ull}", 'n');
	check_scan_invalid("{\"args\": #}", '"');
	check_scan_invalid("{\"args\": #}", 'n');
	check_scan_invalid("{\"args\": #}", '0');
	check_scan_invalid("{\"args\": [\"a\", #]}", '2');
	check_scan_invalid("{\"args\": [#]}", '[');
	check_scan_invalid("{\"args\": [#]}", '{');
	check_scan_invalid("{\"args\": [\"a\",#]}", ']');
	check_scan_invalid("{\"root\": #}", 'f');
	check_scan_invalid("{\"root\": #}", '9');
	check_scan_invalid("{\"root\": nu#l}", 'x');
	check_scan_invalid("{\"root\": nul#}", 'L');
	check_scan_invalid("{\"root\": null#}", 'l');
	/* Unknown keys at their closing quote, or once longer than any key. */
	check_scan_invalid("{\"nope#: 1}", '"');
	check_scan_invalid("{\"tool_versiox#: 1}", '"');
	check_scan_invalid("{\"references_indexed#: 1}", 's');
	check_scan_invalid("{\"abcdefghijklmnopqr#: 1}", 's');
	check_scan_invalid("{\"\\u0072eferences_indexed\\u00e#: 1}", '9');
	check_scan_invalid("{\"args\": [], \"args#: []}", '"');
	/* Syntax. */
	check_scan_invalid("#{}", 'x');
	check_scan_invalid("{}#", 'x');
	check_scan_invalid("{} #{}", '{');
	check_scan_invalid("{}#", '\0');
	check_scan_invalid("{\"root\": null #", ']');
	check_scan_invalid("{\"root\": null ,#", '}');
	check_scan_invalid("{#}", ',');
	check_scan_invalid("{\"root\"#: null}", 'x');
	check_scan_invalid("{\"root\" #null}", 'n');
	check_scan_invalid("#", '\v');
	check_scan_invalid("{#", '{');
	/* Strings. */
	check_scan_invalid("{\"root\": \"ab#\"}", '\0');
	check_scan_invalid("{\"root\": \"ab#\"}", '\n');
	check_scan_invalid("{\"root\": \"ab#\"}", '\x1f');
	check_scan_invalid("{\"root\": \"\\#\"}", 'x');
	check_scan_invalid("{\"root\": \"\\u00#0\"}", 'g');
	check_scan_invalid("{\"root\": \"\\u000#\"}", '0');
	check_scan_invalid("{\"root\": \"\\uDC0#\"}", '0');
	check_scan_invalid("{\"root\": \"\\uD800#\"}", 'a');
	check_scan_invalid("{\"root\": \"\\uD800\\#\"}", 'n');
	check_scan_invalid("{\"root\": \"\\uD800\\u004#\"}", '1');
	check_scan_invalid("{\"root\": \"\\uD800\\uD80#\"}", '0');
	check_scan_invalid("{\"root\": \"#\"}", '\x80');
	check_scan_invalid("{\"root\": \"\xc3#\"}", '"');
	check_scan_invalid("{\"root\": \"\xe0#\x80\"}", '\x80');
	check_scan_invalid("{\"root\": \"\xed#\x80\"}", '\xa0');
	check_scan_invalid("{\"root\": \"\xf4#\x80\x80\"}", '\x90');

	/* A null split across writes. */
	sc = record_scan_new();
	CHECK(sc != NULL);
	CHECK(record_scan_feed(sc, "{\"root\": nu", 11) == RECORD_SCAN_MORE);
	CHECK(record_scan_feed(sc, "ll", 2) == RECORD_SCAN_MORE);
	CHECK(record_scan_feed(sc, "}", 1) == RECORD_SCAN_DONE);
	CHECK(record_scan_feed(sc, "\n\n", 2) == RECORD_SCAN_DONE);
	CHECK(record_scan_feed(sc, "\n{", 2) == -EINVAL);
	CHECK(record_scan_feed(sc, "\n", 1) == -EINVAL);
	record_scan_free(sc);

	/* Blank: white space only, never once an error or a brace came. */
	sc = record_scan_new();
	CHECK(sc != NULL);
	CHECK(record_scan_blank(sc));
	CHECK(record_scan_feed(sc, "", 0) == RECORD_SCAN_MORE);
	CHECK(record_scan_feed(sc, " \t\r\n", 4) == RECORD_SCAN_MORE);
	CHECK(record_scan_blank(sc));
	CHECK(record_scan_feed(sc, "{", 1) == RECORD_SCAN_MORE);
	CHECK(!record_scan_blank(sc));
	record_scan_free(sc);
	sc = record_scan_new();
	CHECK(sc != NULL);
	CHECK(record_scan_feed(sc, "  x", 3) == -EINVAL);
	CHECK(!record_scan_blank(sc));
	record_scan_free(sc);

	/* Deep nesting is refused at its first byte, never recursed into. */
	{
		size_t n = 100000;
		char *deep = repeat('[', n);

		sc = record_scan_new();
		CHECK(sc != NULL);
		CHECK(record_scan_feed(sc, deep, n) == -EINVAL);
		record_scan_free(sc);
		sc = record_scan_new();
		CHECK(sc != NULL);
		CHECK(record_scan_feed(sc, "{\"args\":", 8) == RECORD_SCAN_MORE);
		CHECK(record_scan_feed(sc, deep, n) == -EINVAL);
		record_scan_free(sc);
		free(deep);
	}

	/* The same verdict as record_parse_start on each document fed whole. */
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		struct store_record rec;

		CHECK(parse_start(valid[i], &rec) == 0);
		store_record_clear(&rec);
	}
}

/* ---------------------------------------------------------------------- */
/* start documents, sizes */

/*
 * Feeds @len bytes of @doc one byte per call to a new scan and returns it
 * with the last result in *ret. A scan that rescanned what it had seen would
 * take hours over 1 MiB this way: the test's timeout, not a clock, catches it.
 */
static struct record_scan *feed_bytewise(const char *doc, size_t len, int *ret)
{
	struct record_scan *sc = record_scan_new();

	CHECK(sc != NULL);
	*ret = RECORD_SCAN_MORE;
	for (size_t i = 0; i < len; i++) {
		*ret = record_scan_feed(sc, doc + i, 1);
		if (*ret < 0)
			break;
	}
	return sc;
}

/* A valid start document of exactly @len bytes: many args. */
static char *big_document(size_t len)
{
	char *doc = malloc(len + 1);
	size_t used;

	CHECK(doc != NULL);
	used = (size_t)sprintf(doc, "{\"args\": [\"x\"");
	while (len - used > 8) {
		memcpy(doc + used, ", \"ab\"", 6);
		used += 6;
	}
	memcpy(doc + used, "]}", 2);
	used += 2;
	/* Pad to the exact length with white space after the object. */
	memset(doc + used, ' ', len - used);
	doc[len] = '\0';
	return doc;
}

static void test_start_sizes(void)
{
	struct store_record rec;
	struct record_scan *sc;
	char *doc;
	int ret = RECORD_SCAN_MORE;

	/* Exactly 1 MiB: fine, whole or one byte at a time (and fast). */
	doc = big_document(RECORD_START_MAX);
	memset(&rec, 0, sizeof(rec));
	CHECK(record_parse_start(doc, RECORD_START_MAX, &rec) == 0);
	CHECK(strncmp(rec.args, "[\"x\",\"ab\",\"ab\",", 15) == 0);
	store_record_clear(&rec);

	sc = feed_bytewise(doc, RECORD_START_MAX, &ret);
	CHECK(ret == RECORD_SCAN_DONE);
	/* One more byte, even white space, is past the cap. */
	CHECK(record_scan_feed(sc, " ", 1) == -EFBIG);
	CHECK(record_scan_feed(sc, "", 0) == -EFBIG);
	record_scan_free(sc);
	free(doc);

	/* One over: EFBIG whole, and from the write that passes the cap. */
	doc = big_document(RECORD_START_MAX + 1);
	memset(&rec, 0, sizeof(rec));
	CHECK(record_parse_start(doc, RECORD_START_MAX + 1, &rec) == -EFBIG);
	CHECK(rec.args == NULL);
	sc = record_scan_new();
	CHECK(sc != NULL);
	CHECK(record_scan_feed(sc, doc, RECORD_START_MAX + 1) == -EFBIG);
	record_scan_free(sc);
	sc = record_scan_new();
	CHECK(sc != NULL);
	CHECK(record_scan_feed(sc, doc, 4096) == RECORD_SCAN_MORE);
	CHECK(record_scan_feed(sc, doc + 4096, RECORD_START_MAX - 4096) == RECORD_SCAN_DONE);
	CHECK(record_scan_feed(sc, doc + RECORD_START_MAX, 1) == -EFBIG);
	record_scan_free(sc);
	free(doc);

	/* 1 MiB of white space is still blank (the defaults); one more is too big. */
	doc = repeat(' ', RECORD_START_MAX + 1);
	sc = record_scan_new();
	CHECK(sc != NULL);
	CHECK(record_scan_feed(sc, doc, RECORD_START_MAX) == RECORD_SCAN_MORE);
	CHECK(record_scan_blank(sc));
	CHECK(record_scan_feed(sc, doc, 1) == -EFBIG);
	CHECK(!record_scan_blank(sc));
	record_scan_free(sc);
	memset(&rec, 0, sizeof(rec));
	CHECK(record_parse_start(doc, RECORD_START_MAX, &rec) == 0);
	CHECK(str_eq(rec.args, "[]") && str_eq(rec.tool_version, "") && rec.root == NULL);
	store_record_clear(&rec);
	CHECK(record_parse_start(doc, RECORD_START_MAX + 1, &rec) == -EFBIG);
	free(doc);

	/* One long string of 1 MiB - 20 bytes, one byte at a time. */
	doc = malloc(RECORD_START_MAX + 1);
	CHECK(doc != NULL);
	memcpy(doc, "{\"root\": \"", 10);
	for (size_t i = 10; i < RECORD_START_MAX - 2; i += 2)
		memcpy(doc + i, "\xc3\xa9", 2);
	memcpy(doc + RECORD_START_MAX - 2, "\"}", 2);
	sc = feed_bytewise(doc, RECORD_START_MAX, &ret);
	CHECK(ret == RECORD_SCAN_DONE);
	record_scan_free(sc);
	memset(&rec, 0, sizeof(rec));
	CHECK(record_parse_start(doc, RECORD_START_MAX, &rec) == 0);
	CHECK(strlen(rec.root) == RECORD_START_MAX - 12);
	store_record_clear(&rec);
	free(doc);
}

/* ---------------------------------------------------------------------- */
/* finish values */

static void check_finish(const char *value, size_t len, enum store_outcome outcome,
			 const char *message, int64_t files, int64_t symbols, int64_t refs)
{
	struct store_finish fin;
	char *msg = (char *)"unset";

	memset(&fin, 0xa5, sizeof(fin));
	CHECK_DOC(record_parse_finish(value, len, &fin, &msg) == 0, value);
	CHECK_DOC(fin.outcome == outcome, value);
	CHECK_DOC(str_eq(msg, message), value);
	CHECK_DOC(fin.error_message == msg, value);
	CHECK_DOC(fin.files_indexed == files, value);
	CHECK_DOC(fin.symbols_indexed == symbols, value);
	CHECK_DOC(fin.references_indexed == refs, value);
	/* Not given: null, never a zeroed exit code 0. */
	CHECK_DOC(fin.exit_code == STORE_NULL && fin.signal == STORE_NULL, value);
	free(msg);
}

static void check_finish_word(const char *value, enum store_outcome outcome, const char *message)
{
	check_finish(value, strlen(value), outcome, message, 0, 0, 0);
}

static void check_finish_invalid_len(const char *value, size_t len, int err)
{
	struct store_finish fin = { .outcome = STORE_SUCCESS };
	char *msg = (char *)"unset";

	CHECK_DOC(record_parse_finish(value, len, &fin, &msg) == err, value);
	CHECK_DOC(msg == NULL, value);
}

static void check_finish_invalid(const char *value)
{
	check_finish_invalid_len(value, strlen(value), -EINVAL);
}

static void test_finish_valid(void)
{
	char *big;

	check_finish_word("success", STORE_SUCCESS, NULL);
	check_finish_word("error", STORE_ERROR, NULL);
	check_finish_word("partial", STORE_PARTIAL, NULL);
	check_finish_word("success\n", STORE_SUCCESS, NULL);
	check_finish_word("  \t partial \r\n", STORE_PARTIAL, NULL);
	check_finish_word("\n\nerror\n", STORE_ERROR, NULL);
	check_finish_word("\v\fsuccess\f", STORE_SUCCESS, NULL);
	check_finish_word("error: disk full", STORE_ERROR, "disk full");
	check_finish_word("error: disk full\n", STORE_ERROR, "disk full");
	check_finish_word("  error:\t  two  words \r\n", STORE_ERROR, "two  words");
	check_finish_word("error:no space", STORE_ERROR, "no space");
	check_finish_word("error: line 1\nline 2\n", STORE_ERROR, "line 1\nline 2");
	check_finish_word("error: {\"not\": json}", STORE_ERROR, "{\"not\": json}");
	check_finish_word("error: caf\xc3\xa9 \xf0\x9f\x98\x80", STORE_ERROR,
			  "caf\xc3\xa9 \xf0\x9f\x98\x80");
	check_finish_word("error: success", STORE_ERROR, "success");
	check_finish_word("error:", STORE_ERROR, NULL);
	check_finish_word("error:\n", STORE_ERROR, NULL);
	check_finish_word("error:  \t \n", STORE_ERROR, NULL);
	check_finish_word("error::", STORE_ERROR, ":");
	/* Only len bytes are read. */
	check_finish("successful", 7, STORE_SUCCESS, NULL, 0, 0, 0);

	/* JSON objects. */
	check_finish_word("{\"outcome\":\"success\"}", STORE_SUCCESS, NULL);
	check_finish_word(" \n{ \"outcome\" : \"partial\" }\n\n", STORE_PARTIAL, NULL);
	check_finish_word("{\"outcome\":\"error\",\"error_message\":null}", STORE_ERROR, NULL);
	check_finish_word("{\"outcome\":\"error\",\"error_message\":\"\"}", STORE_ERROR, "");
	check_finish_word("{\"error_message\":\"a \\\"q\\\"\\n\\u00e9\\ud83d\\ude00\","
			  "\"outcome\":\"error\"}",
			  STORE_ERROR, "a \"q\"\n\xc3\xa9\xf0\x9f\x98\x80");
	{
		const char *all = "{\"outcome\": \"partial\", \"error_message\": \"half\", "
				  "\"files_indexed\": 12, \"symbols_indexed\": 0, "
				  "\"references_indexed\": 9007199254740992}";

		check_finish(all, strlen(all), STORE_PARTIAL, "half", 12, 0, 9007199254740992);
	}
	{
		const char *exact = "{\"outcome\":\"success\",\"files_indexed\":9007199254740991,"
				    "\"symbols_indexed\":123456789012345,"
				    "\"references_indexed\":10}";

		check_finish(exact, strlen(exact), STORE_SUCCESS, NULL, 9007199254740991,
			     123456789012345, 10);
	}
	{
		const char *keyed = "{\"\\u006futcome\":\"success\",\"files_indexed\":0}";

		check_finish(keyed, strlen(keyed), STORE_SUCCESS, NULL, 0, 0, 0);
	}

	/* Exactly 64 KiB: a word with a long message, and a JSON object. */
	big = repeat('m', RECORD_FINISH_MAX);
	memcpy(big, "error: ", 7);
	check_finish(big, RECORD_FINISH_MAX, STORE_ERROR, big + 7, 0, 0, 0);
	memcpy(big, "{\"outcome\":\"error\",\"error_message\":\"", 36);
	memcpy(big + RECORD_FINISH_MAX - 2, "\"}", 2);
	{
		struct store_finish fin;
		char *msg = NULL;

		CHECK(record_parse_finish(big, RECORD_FINISH_MAX, &fin, &msg) == 0);
		CHECK(fin.outcome == STORE_ERROR && strlen(msg) == RECORD_FINISH_MAX - 38);
		free(msg);
	}
	free(big);
}

static void test_finish_invalid(void)
{
	static const char *const refused[] = {
		"", "   ", "\n", "running", " running\n", "Success", "SUCCESS", "Error",
		"success extra", "success success", "succes", "successs", "errors",
		"error :x", "error x", "partial:", "success:", "ok", "done", "1", "null",
		"\"success\"", "[\"success\"]", "error\x01",
		/* JSON objects. */
		"{}", "{\"outcome\":\"running\"}", "{\"outcome\":\"maybe\"}",
		"{\"outcome\":\"Success\"}", "{\"outcome\":\"success \"}", "{\"outcome\":null}",
		"{\"outcome\":1}", "{\"outcome\":[\"success\"]}", "{\"outcome\":{}}",
		"{\"outcome\":true}",
		"{\"outcome\":\"success\",\"nope\":1}",
		"{\"outcome\":\"success\",\"outcome\":\"success\"}",
		"{\"outcome\":\"success\",\"files_indexed\":1,\"files_indexed\":1}",
		"{\"outcome\":\"error\",\"error_message\":1}",
		"{\"outcome\":\"error\",\"error_message\":true}",
		"{\"outcome\":\"error\",\"error_message\":[]}",
		"{\"outcome\":\"error\",\"error_message\":{}}",
		"{\"outcome\":\"error\",\"error_message\":\"a\\u0000b\"}",
		"{\"outcome\":\"error\",\"error_message\":\"\\ud800\"}",
		"{\"outcome\":\"error\",\"error_message\":\"a\nb\"}",
		"{\"outcome\":\"success\"} x", "{\"outcome\":\"success\"}}",
		"{\"outcome\":\"success\"} {\"outcome\":\"success\"}",
		"{\"outcome\":\"success\"", "{\"outcome\":\"success\",}", "{\"outcome\"}",
		"{outcome:\"success\"}", "{'outcome':'success'}",
	};
	static const char *const bad_counts[] = {
		"1.0", "1e2", "1E2", "1e+2", "-1", "-0", "01", "00", "0.5", ".5", "+1",
		"9007199254740993", "9007199254740999", "18446744073709551616",
		"99999999999999999999999", "\"1\"", "null", "true", "[]", "{}", "1 2", "0x10",
		"Infinity", "NaN",
	};
	static const char *const count_keys[] = {
		"files_indexed", "symbols_indexed", "references_indexed",
	};
	struct store_finish fin;
	char *msg;
	char *big;
	char doc[256];

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		check_finish_invalid(refused[i]);
	for (size_t k = 0; k < 3; k++) {
		for (size_t i = 0; i < sizeof(bad_counts) / sizeof(bad_counts[0]); i++) {
			snprintf(doc, sizeof(doc), "{\"outcome\":\"success\",\"%s\":%s}",
				 count_keys[k], bad_counts[i]);
			check_finish_invalid(doc);
		}
	}

	/* Reasons. */
	CHECK(record_parse_finish("running", 7, &fin, &msg) == -EINVAL);
	CHECK(reason_has("a finish cannot set running"));
	CHECK(record_parse_finish("{\"outcome\":\"running\"}", 21, &fin, &msg) == -EINVAL);
	CHECK(reason_has("a finish cannot set running"));
	CHECK(record_parse_finish("maybe\n", 6, &fin, &msg) == -EINVAL);
	CHECK(reason_has("unknown word \"maybe\""));
	CHECK(record_parse_finish("{\"files_indexed\":1}", 19, &fin, &msg) == -EINVAL);
	CHECK(reason_has("\"outcome\" is required"));

	/* NUL bytes and invalid UTF-8, anywhere. */
	check_finish_invalid_len("succ\0ess", 8, -EINVAL);
	check_finish_invalid_len("success\0", 8, -EINVAL);
	check_finish_invalid_len("\0success", 8, -EINVAL);
	check_finish_invalid_len("error: a\0b", 10, -EINVAL);
	check_finish_invalid("error: \xff");
	check_finish_invalid("error: \xc0\x80");
	check_finish_invalid("error: \xed\xa0\x80");
	check_finish_invalid("error: \xe2\x82");
	check_finish_invalid("success \x80");
	check_finish_invalid("{\"outcome\":\"error\",\"error_message\":\"\xc3\"}");

	/* One over 64 KiB, even of white space around a word. */
	big = repeat(' ', RECORD_FINISH_MAX + 1);
	memcpy(big, "success", 7);
	check_finish_invalid_len(big, RECORD_FINISH_MAX + 1, -EFBIG);
	check_finish(big, RECORD_FINISH_MAX, STORE_SUCCESS, NULL, 0, 0, 0);
	free(big);
}

/* ---------------------------------------------------------------------- */
/* unicode */

static void check_tool_version(const char *value_json, const char *want)
{
	char doc[256];
	struct store_record rec;

	snprintf(doc, sizeof(doc), "{\"tool_version\":\"%s\"}", value_json);
	CHECK_DOC(parse_start(doc, &rec) == 0, doc);
	CHECK_DOC(str_eq(rec.tool_version, want), doc);
	store_record_clear(&rec);
	/* Split at every byte too. */
	check_scan_valid(doc, strlen(doc));
}

static void check_string_refused(const char *value_json)
{
	char doc[256];
	struct store_record rec;
	struct store_finish fin;
	char *msg;

	snprintf(doc, sizeof(doc), "{\"tool_version\":\"%s\"}", value_json);
	CHECK_DOC(parse_start(doc, &rec) == -EINVAL, doc);
	snprintf(doc, sizeof(doc), "{\"args\":[\"ok\",\"%s\"]}", value_json);
	CHECK_DOC(parse_start(doc, &rec) == -EINVAL, doc);
	snprintf(doc, sizeof(doc), "{\"outcome\":\"error\",\"error_message\":\"%s\"}",
		 value_json);
	CHECK_DOC(record_parse_finish(doc, strlen(doc), &fin, &msg) == -EINVAL, doc);
}

static void test_unicode(void)
{
	static const char *const valid_utf8[] = {
		"\xc2\x80",         /* U+0080 */
		"\xc3\xa9",         /* U+00E9 */
		"\xdf\xbf",         /* U+07FF */
		"\xe0\xa0\x80",     /* U+0800 */
		"\xe2\x9c\x93",     /* U+2713 */
		"\xed\x9f\xbf",     /* U+D7FF */
		"\xee\x80\x80",     /* U+E000 */
		"\xef\xbf\xbf",     /* U+FFFF */
		"\xf0\x90\x80\x80", /* U+10000 */
		"\xf0\x9f\x98\x80", /* U+1F600 */
		"\xf4\x8f\xbf\xbf", /* U+10FFFF */
		"\x7f",
	};
	static const char *const invalid_utf8[] = {
		"\x80", "\xbf", "\xc0\x80", "\xc0\xaf", "\xc1\xbf", "\xc3", "\xc3x", "\xc3\xc3",
		"\xe0\x80\x80", "\xe0\x9f\xbf", "\xe2\x82", "\xe2\x82x", "\xed\xa0\x80",
		"\xed\xbf\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80",
		"\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xfe", "\xff", "\xf0\x9f\x98",
		"a\xc3\xa9\xa9",
	};
	static const struct {
		const char *escaped;
		const char *utf8;
	} escapes[] = {
		{ "\\u0001", "\x01" },
		{ "\\u001f", "\x1f" },
		{ "\\u0041", "A" },
		{ "\\u00e9", "\xc3\xa9" },
		{ "\\u00E9", "\xc3\xa9" },
		{ "\\u07ff", "\xdf\xbf" },
		{ "\\u2713", "\xe2\x9c\x93" },
		{ "\\uffff", "\xef\xbf\xbf" },
		{ "\\ud83d\\ude00", "\xf0\x9f\x98\x80" },
		{ "\\uD83D\\uDE00", "\xf0\x9f\x98\x80" },
		{ "\\ud800\\udc00", "\xf0\x90\x80\x80" },
		{ "\\udbff\\udfff", "\xf4\x8f\xbf\xbf" },
		{ "\\\"\\\\\\/\\b\\f\\n\\r\\t", "\"\\/\b\f\n\r\t" },
	};
	static const char *const invalid_escapes[] = {
		"\\u0000", "\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\ud800\\u0041",
		"\\ud800x", "\\ud800\\n", "\\udfff\\ud800", "\\ud800\\ud800", "\\ud800\\udbff",
		"\\u00g0", "\\u", "\\x41", "\\a", "\\0", "\\U00e9",
	};
	char value[64];
	char *text;
	struct store_record rec;

	for (size_t i = 0; i < sizeof(valid_utf8) / sizeof(valid_utf8[0]); i++) {
		snprintf(value, sizeof(value), "a%sb", valid_utf8[i]);
		check_tool_version(value, value);
		snprintf(value, sizeof(value), "error: %s", valid_utf8[i]);
		check_finish_word(value, STORE_ERROR, valid_utf8[i]);
	}
	for (size_t i = 0; i < sizeof(invalid_utf8) / sizeof(invalid_utf8[0]); i++) {
		check_string_refused(invalid_utf8[i]);
		snprintf(value, sizeof(value), "error: %s", invalid_utf8[i]);
		check_finish_invalid(value);
	}
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++)
		check_tool_version(escapes[i].escaped, escapes[i].utf8);
	for (size_t i = 0; i < sizeof(invalid_escapes) / sizeof(invalid_escapes[0]); i++)
		check_string_refused(invalid_escapes[i]);

	/* Invalid UTF-8 outside strings (a stray lead byte) is no JSON either. */
	check_start_invalid("{\xc3\xa9}", -EINVAL);
	check_start_invalid("{}\xc2\xa0", -EINVAL); /* U+00A0 is no JSON white space */

	/* Rendering passes UTF-8 through, and it reads back. */
	rec = running_record();
	rec.tool_version = "\xf4\x8f\xbf\xbf\xe2\x9c\x93";
	rec.args = "[\"\\ud83d\\ude00\"]";
	text = record_to_json(&rec, NULL);
	CHECK(text != NULL);
	CHECK(strstr(text, "\"tool_version\": \"\xf4\x8f\xbf\xbf\xe2\x9c\x93\""));
	CHECK(strstr(text, "\"args\": [\"\xf0\x9f\x98\x80\"]"));
	free(text);
	rec.args = "[\"\xf0\x9f\x98\x80\"]";
	check_round_trip(&rec);
}

/* ---------------------------------------------------------------------- */
/* What a scan captured, and a stored args text string by string */

/* @doc's args as cJSON prints them: what a start has always stored. */
static char *cjson_args(const char *doc)
{
	cJSON *parsed = cJSON_Parse(doc);
	char *text;

	CHECK(parsed != NULL);
	text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(parsed, "args"));
	CHECK(text != NULL);
	cJSON_Delete(parsed);
	return text;
}

/*
 * A scan fed @doc byte by byte gives, read, what record_parse_start()
 * gives, and args as cJSON prints them.
 */
static void check_take(const char *doc)
{
	struct store_record taken = { 0 }, parsed = { 0 };
	int ret;
	struct record_scan *sc = feed_bytewise(doc, strlen(doc), &ret);
	char *want_args = cjson_args(doc);

	CHECK_DOC(ret == RECORD_SCAN_DONE, doc);
	CHECK_DOC(record_scan_values(sc, &taken) == 0, doc);
	CHECK_DOC(parse_start(doc, &parsed) == 0, doc);
	CHECK_DOC(str_eq(taken.tool_version, parsed.tool_version), doc);
	CHECK_DOC(str_eq(taken.args, parsed.args), doc);
	CHECK_DOC(str_eq(taken.args, want_args), doc);
	CHECK_DOC(str_eq(taken.root, parsed.root), doc);
	CHECK_DOC(str_eq(taken.db_path, parsed.db_path), doc);
	CHECK_DOC(str_eq(taken.cwd, parsed.cwd), doc);
	CHECK_DOC(same_tags(taken.tags, taken.ntags, parsed.tags, parsed.ntags), doc);
	/* The scan keeps what it captured: a second reading gives the same. */
	store_record_clear(&parsed);
	CHECK_DOC(record_scan_values(sc, &parsed) == 0, doc);
	CHECK_DOC(str_eq(taken.args, parsed.args) && str_eq(taken.root, parsed.root), doc);
	CHECK_DOC(same_tags(taken.tags, taken.ntags, parsed.tags, parsed.ntags), doc);
	record_scan_free(sc);
	store_record_clear(&taken);
	store_record_clear(&parsed);
	cJSON_free(want_args);
}

static void test_scan_values(void)
{
	static const char *const docs[] = {
		"{\"args\": []}",
		"{\"args\": [\"a\", \"\", \"b c\"], \"root\": null, \"db_path\": \"/x\"}",
		"{\"args\": [\"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\"]}",
		"{\"args\": [\"\\u0001\\u001f\\u007f\\u00e9\\u20ac\\ud83d\\ude00\", \"\xc3\xa9\"]}",
		"{\"tool_version\": \"v\\u00e91\", \"root\": \"/r\\n\", \"args\": [\",]\\\"[,\"]}",
		"{\"args\": [], \"cwd\": \"/w\\u00e9\", \"tags\": {\"b\": \"2\", \"a\": \"1\\n\", \"c\": \"\"}}",
		"{\"args\": [], \"cwd\": null, \"tags\": {}}",
	};
	struct store_record rec = { 0 };
	struct record_scan *sc;
	int ret;

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		check_take(docs[i]);
	/* Blank: the defaults. */
	sc = feed_bytewise(" \n", 2, &ret);
	CHECK(record_scan_values(sc, &rec) == 0);
	CHECK(str_eq(rec.tool_version, "") && str_eq(rec.args, "[]") && rec.root == NULL &&
	      str_eq(rec.db_path, ""));
	store_record_clear(&rec);
	record_scan_free(sc);
	/* Incomplete, and failed: refused, nothing set. */
	sc = feed_bytewise("{\"args\": [\"a\"", 13, &ret);
	CHECK(ret == RECORD_SCAN_MORE);
	CHECK(record_scan_values(sc, &rec) == -EINVAL && reason_has("incomplete"));
	CHECK(rec.args == NULL);
	record_scan_free(sc);
	sc = feed_bytewise("{\"args\": 1}", 11, &ret);
	CHECK(ret == -EINVAL);
	CHECK(record_scan_values(sc, &rec) == -EINVAL && rec.args == NULL);
	record_scan_free(sc);
}

/* Collects each string given, "|"-separated, stopping after @stop_after of them (0: never). */
struct collected {
	char text[256];
	size_t count, stop_after;
};

static int collect(void *ctx, const char *arg, size_t len)
{
	struct collected *c = ctx;
	size_t used = strlen(c->text);

	CHECK(strlen(arg) == len);
	snprintf(c->text + used, sizeof(c->text) - used, "%s%s", c->count ? "|" : "", arg);
	c->count++;
	return c->stop_after != 0 && c->count == c->stop_after;
}

static void check_args_each(const char *args, int err, const char *want, size_t stop_after)
{
	struct collected c = { .stop_after = stop_after };

	CHECK_DOC(record_args_each(args, collect, &c) == err, args ? args : "(null)");
	CHECK_DOC(strcmp(c.text, want) == 0, c.text);
}

static void test_args_each(void)
{
	check_args_each(NULL, 0, "", 0);
	check_args_each("[]", 0, "", 0);
	check_args_each("[\"make\",\"-j4\"]", 0, "make|-j4", 0);
	/* Python's json.dumps: spaces, and \u escapes for all beyond ASCII. */
	check_args_each("[\"a b\", \"caf\\u00e9\", \"\\ud83d\\ude00\", \"t\\tn\\n\\\"q\\\"\"]", 0,
			"a b|caf\xc3\xa9|\xf0\x9f\x98\x80|t\tn\n\"q\"", 0);
	/* Stopped: no more are given, and that is no error. */
	check_args_each("[\"1\",\"2\",\"3\"]", 0, "1|2", 2);
	check_args_each("[\"1\",\"2\",\"3\"", 0, "1|2", 2);
	/* Not an array of strings: those before the fault, and -EINVAL. */
	check_args_each("[\"1\",2,\"3\"]", -EINVAL, "1", 0);
	check_args_each("[\"1\",\"\\ud800\"]", -EINVAL, "1", 0);
	check_args_each("{\"k\":\"v\"}", -EINVAL, "", 0);
	check_args_each("[\"1\"], \"args\": [\"2\"]", -EINVAL, "1", 0);
	check_args_each("[\"1\"", -EINVAL, "1", 0);
	check_args_each("", -EINVAL, "", 0);
}

/* ---------------------------------------------------------------------- */
/* provenance: rendering, sizes, reading back */

static struct store_tag two_tags[] = {
	{ "team", "infra" },
	{ "ci", "x" },
};

static void test_render_provenance(void)
{
	struct store_record rec = running_record();
	struct store_tag odd[] = {
		{ "a\"b", "x\ny\\z\x01" },
		{ "k", "caf\xc3\xa9 \xf0\x9f\x98\x80" },
	};
	char *got;

	rec.finished_at = 1764100005;
	rec.duration_ms = 5123;
	rec.outcome = "error";
	rec.exit_code = 2;
	rec.signal = 9;
	rec.cwd = "/home/alice/src";
	rec.tags = two_tags;
	rec.ntags = 2;
	rec.output_bytes = 12345;
	check_render(&rec,
		     "{\n"
		     "  \"id\": 7,\n"
		     "  \"execution_id\": \"two\",\n"
		     "  \"tool_version\": \"1.0\",\n"
		     "  \"args\": [\"make\", \"-j4\"],\n"
		     "  \"root\": null,\n"
		     "  \"db_path\": \"\",\n"
		     "  \"started_at\": 1764100000,\n"
		     "  \"finished_at\": 1764100005,\n"
		     "  \"duration_ms\": 5123,\n"
		     "  \"outcome\": \"error\",\n"
		     "  \"error_message\": null,\n"
		     "  \"files_indexed\": 0,\n"
		     "  \"symbols_indexed\": 0,\n"
		     "  \"references_indexed\": 0,\n"
		     "  \"exit_code\": 2,\n"
		     "  \"signal\": 9,\n"
		     "  \"host\": \"box\",\n"
		     "  \"user\": \"alice\",\n"
		     "  \"uid\": 1000,\n"
		     "  \"pid\": 4242,\n"
		     "  \"cwd\": \"/home/alice/src\",\n"
		     "  \"tags\": {\"team\": \"infra\", \"ci\": \"x\"},\n"
		     "  \"output_bytes\": 12345\n"
		     "}\n");

	/* A row another program wrote: nulls, no tags. */
	rec = running_record();
	rec.host = NULL;
	rec.user = NULL;
	rec.uid = STORE_NULL;
	rec.pid = STORE_NULL;
	got = record_to_json(&rec, NULL);
	CHECK(got != NULL);
	CHECK(strstr(got, "  \"references_indexed\": 0,\n  \"exit_code\": null,\n"
			  "  \"signal\": null,\n  \"host\": null,\n  \"user\": null,\n"
			  "  \"uid\": null,\n  \"pid\": null,\n  \"cwd\": null,\n"
			  "  \"tags\": {},\n  \"output_bytes\": 0\n}\n"));
	free(got);

	/* Escapes in tags, cwd, host and user; UTF-8 passes through. */
	rec = running_record();
	rec.tags = odd;
	rec.ntags = 2;
	rec.cwd = "/tmp/we\"ird\t";
	rec.host = "h\\";
	rec.user = "u\x1f";
	got = record_to_json(&rec, NULL);
	CHECK(got != NULL);
	CHECK(strstr(got, "  \"tags\": {\"a\\\"b\": \"x\\ny\\\\z\\u0001\", "
			  "\"k\": \"caf\xc3\xa9 \xf0\x9f\x98\x80\"},\n"));
	CHECK(strstr(got, "  \"cwd\": \"/tmp/we\\\"ird\\t\",\n"));
	CHECK(strstr(got, "  \"host\": \"h\\\\\",\n"));
	CHECK(strstr(got, "  \"user\": \"u\\u001f\",\n"));
	free(got);
}

static uint32_t next_rand(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

/*
 * A random string of up to @max bytes of valid UTF-8 without NUL (what a
 * record may hold), or NULL now and then: mostly bytes that need escapes.
 */
static char *random_string(uint32_t *seed, size_t max, bool may_be_null)
{
	static const char special[] = "\"\\\b\f\n\r\t\x01\x1f\x7f/ ";
	size_t len = next_rand(seed) % (max + 1), i = 0;
	char *s;

	if (may_be_null && next_rand(seed) % 5 == 0)
		return NULL;
	s = malloc(len + 1);
	CHECK(s != NULL);
	while (i < len) {
		uint32_t r = next_rand(seed);

		if (r % 7 == 0 && len - i >= 2) {
			memcpy(s + i, "\xc3\xa9", 2);
			i += 2;
		} else if (r % 3 == 0) {
			s[i++] = special[(r >> 4) % (sizeof(special) - 1)];
		} else {
			s[i++] = (char)(1 + (r >> 4) % 127);
		}
	}
	s[len] = '\0';
	return s;
}

static int64_t random_int(uint32_t *seed, bool may_be_null)
{
	static const int64_t special[] = { 0, 1, -1, 9, 255, INT64_MAX, INT64_MIN + 1 };
	uint32_t r = next_rand(seed);

	if (may_be_null && r % 4 == 0)
		return STORE_NULL;
	if (r % 2 == 0)
		return special[(r >> 2) % (sizeof(special) / sizeof(special[0]))];
	return (int64_t)next_rand(seed) * (int64_t)next_rand(seed) - (1 << 20);
}

/* The string @s as cJSON prints it: what the rendering must agree with. */
static char *cjson_string(const char *s)
{
	cJSON *item = s ? cJSON_CreateString(s) : cJSON_CreateNull();
	char *text;

	CHECK(item != NULL);
	text = cJSON_PrintUnformatted(item);
	CHECK(text != NULL);
	cJSON_Delete(item);
	return text;
}

/* The rendering of @rec holds @key's line with @s as cJSON prints it. */
static void check_string_line(const char *json, const char *key, const char *s)
{
	char *want = cjson_string(s);
	size_t n = strlen(key) + strlen(want) + 16;
	char *line = malloc(n);

	CHECK(line != NULL);
	snprintf(line, n, "\n  \"%s\": %s,\n", key, want);
	CHECK_DOC(strstr(json, line) != NULL, line);
	free(line);
	cJSON_free(want);
}

/* Fills the provenance of @rec at random (strings malloc'd: clear it after). */
static void random_provenance(struct store_record *rec, uint32_t *seed)
{
	rec->exit_code = random_int(seed, true);
	rec->signal = random_int(seed, true);
	rec->host = random_string(seed, 12, true);
	rec->user = random_string(seed, 12, true);
	rec->uid = random_int(seed, true);
	rec->pid = random_int(seed, true);
	rec->cwd = random_string(seed, 20, true);
	rec->output_bytes = random_int(seed, false);
	rec->ntags = next_rand(seed) % 4 == 0 ? 0 : next_rand(seed) % (STORE_TAGS_MAX + 1);
	rec->tags = rec->ntags ? calloc(rec->ntags, sizeof(*rec->tags)) : NULL;
	CHECK(rec->ntags == 0 || rec->tags != NULL);
	for (size_t i = 0; i < rec->ntags; i++) {
		rec->tags[i].key = random_string(seed, 8, false);
		rec->tags[i].value = random_string(seed, 16, false);
	}
}

/*
 * Random records, escapes everywhere: record_json_size() is the length of
 * what record_to_json() gives (st_size is what cat prints), every string
 * is escaped as cJSON escapes it, the tags read back through cJSON in
 * order, and the record reads back through record_from_json().
 */
static void test_render_sizes(void)
{
	uint32_t seed = 4711;

	for (int round = 0; round < 3000; round++) {
		struct store_record rec = { 0 };
		size_t len = 0, measured = 0;
		char *json;
		cJSON *doc;
		const cJSON *item;
		size_t i = 0;

		store_record_clear(&rec);
		rec.id = random_int(&seed, false);
		rec.execution_id = random_string(&seed, 10, false);
		rec.tool_version = random_string(&seed, 10, false);
		rec.args = strdup("[\"a\\nb\",\"c\"]");
		rec.root = random_string(&seed, 10, true);
		rec.db_path = random_string(&seed, 10, false);
		rec.outcome = strdup("running");
		rec.error_message = random_string(&seed, 10, true);
		rec.finished_at = random_int(&seed, true);
		rec.duration_ms = random_int(&seed, true);
		random_provenance(&rec, &seed);

		json = record_to_json(&rec, &len);
		CHECK(json != NULL && strlen(json) == len);
		CHECK(record_json_size(&rec, &measured) == 0);
		CHECK_DOC(measured == len, json);
		check_string_line(json, "cwd", rec.cwd);
		check_string_line(json, "host", rec.host);
		check_string_line(json, "user", rec.user);
		check_string_line(json, "error_message", rec.error_message);
		doc = cJSON_Parse(json);
		CHECK_DOC(doc != NULL, json);
		item = cJSON_GetObjectItemCaseSensitive(doc, "tags");
		CHECK(cJSON_IsObject(item));
		cJSON_ArrayForEach(item, item) {
			CHECK(i < rec.ntags);
			CHECK(str_eq(item->string, rec.tags[i].key));
			CHECK(cJSON_IsString(item) && str_eq(item->valuestring, rec.tags[i].value));
			i++;
		}
		CHECK(i == rec.ntags);
		cJSON_Delete(doc);
		free(json);
		check_round_trip(&rec);
		store_record_clear(&rec);
	}
}

/* The fields after magellan's fourteen, as the compact record spells them. */
static const char compact_provenance[] =
	",\"exit_code\":1,\"signal\":null,\"host\":\"h\",\"user\":\"u\",\"uid\":0,"
	"\"pid\":77,\"cwd\":\"/w\",\"tags\":{\"b\":\"2\",\"a\":\"1\"},\"output_bytes\":5}";

/* The compact record with its provenance: magellan's fields, then @provenance. */
static char *compact_with(const char *provenance)
{
	size_t head = sizeof(compact_record) - 2; /* without the closing brace */
	char *doc = malloc(head + strlen(provenance) + 1);

	CHECK(doc != NULL);
	memcpy(doc, compact_record, head);
	strcpy(doc + head, provenance);
	return doc;
}

static void test_from_json_provenance(void)
{
	struct store_record rec = running_record(), back = { 0 };
	struct store_tag many[STORE_TAGS_MAX];
	char keys[STORE_TAGS_MAX][8];
	char *doc, *text;

	/* Everything set, 32 tags: the same record and the same text again. */
	for (size_t i = 0; i < STORE_TAGS_MAX; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		many[i].key = keys[i];
		many[i].value = i % 2 ? "v \"q\" \\ \xc3\xa9\n" : "";
	}
	rec.exit_code = 255;
	rec.signal = 64;
	rec.cwd = "/w\td";
	rec.tags = many;
	rec.ntags = STORE_TAGS_MAX;
	rec.output_bytes = INT64_MAX;
	check_round_trip(&rec);
	rec.tags = two_tags;
	rec.ntags = 2;
	rec.host = rec.user = NULL;
	rec.uid = rec.pid = STORE_NULL;
	check_round_trip(&rec);

	/* A document of an older execlogfs: magellan's fourteen, the rest null, {} and 0. */
	memset(&back, 0xa5, sizeof(back));
	back.tags = NULL;
	back.ntags = 0;
	back.host = back.user = back.cwd = NULL;
	back.execution_id = back.tool_version = back.args = back.root = NULL;
	back.db_path = back.outcome = back.error_message = back.tool = NULL;
	CHECK(record_from_json(compact_record, strlen(compact_record), &back) == 0);
	CHECK(back.id == 3 && str_eq(back.execution_id, "e") && back.references_indexed == 3);
	CHECK(back.exit_code == STORE_NULL && back.signal == STORE_NULL);
	CHECK(back.host == NULL && back.user == NULL && back.cwd == NULL);
	CHECK(back.uid == STORE_NULL && back.pid == STORE_NULL);
	CHECK(back.tags == NULL && back.ntags == 0 && back.output_bytes == 0);
	text = record_to_json(&back, NULL);
	CHECK(text != NULL);
	CHECK(strstr(text, "  \"exit_code\": null,\n  \"signal\": null,\n  \"host\": null,\n"
			   "  \"user\": null,\n  \"uid\": null,\n  \"pid\": null,\n"
			   "  \"cwd\": null,\n  \"tags\": {},\n  \"output_bytes\": 0\n}\n"));
	free(text);
	store_record_clear(&back);

	/* The same with the new fields, tags in the document's order. */
	doc = compact_with(compact_provenance);
	CHECK_DOC(record_from_json(doc, strlen(doc), &back) == 0, doc);
	CHECK(back.exit_code == 1 && back.signal == STORE_NULL && back.uid == 0 && back.pid == 77);
	CHECK(str_eq(back.host, "h") && str_eq(back.user, "u") && str_eq(back.cwd, "/w"));
	CHECK(back.ntags == 2 && str_eq(back.tags[0].key, "b") && str_eq(back.tags[0].value, "2"));
	CHECK(str_eq(back.tags[1].key, "a") && str_eq(back.tags[1].value, "1"));
	CHECK(back.output_bytes == 5);
	free(doc);
	store_record_clear(&back);

	/* Stored tags are read as written (the start checked them): any string key. */
	doc = compact_with(",\"exit_code\":null,\"signal\":null,\"host\":null,\"user\":null,"
			   "\"uid\":null,\"pid\":null,\"cwd\":null,"
			   "\"tags\":{\"a b\":\"x\",\"\":\"\",\"a b\":\"y\"},\"output_bytes\":0}");
	CHECK_DOC(record_from_json(doc, strlen(doc), &back) == 0, doc);
	CHECK(back.ntags == 3 && str_eq(back.tags[0].key, "a b") && str_eq(back.tags[1].key, ""));
	CHECK(str_eq(back.tags[2].value, "y"));
	free(doc);
	store_record_clear(&back);

	/* Refused: some new fields but not all, or a wrong type. */
	static const struct {
		const char *from;
		const char *to;
	} edits[] = {
		{ ",\"exit_code\":1", "" },
		{ ",\"output_bytes\":5", "" },
		{ ",\"tags\":{\"b\":\"2\",\"a\":\"1\"}", "" },
		{ "\"exit_code\":1", "\"exit_code\":1.5" },
		{ "\"exit_code\":1", "\"exit_code\":\"1\"" },
		{ "\"host\":\"h\"", "\"host\":1" },
		{ "\"uid\":0", "\"uid\":\"0\"" },
		{ "\"cwd\":\"/w\"", "\"cwd\":[]" },
		{ "\"output_bytes\":5", "\"output_bytes\":null" },
		{ "{\"b\":\"2\",\"a\":\"1\"}", "null" },
		{ "{\"b\":\"2\",\"a\":\"1\"}", "[]" },
		{ "{\"b\":\"2\",\"a\":\"1\"}", "\"b\"" },
		{ "{\"b\":\"2\",\"a\":\"1\"}", "{\"b\":2}" },
		{ "{\"b\":\"2\",\"a\":\"1\"}", "{\"b\":null}" },
		{ "{\"b\":\"2\",\"a\":\"1\"}", "{\"b\":{\"c\":\"d\"}}" },
		{ "{\"b\":\"2\",\"a\":\"1\"}", "{\"b\":[\"c\"]}" },
		{ "{\"b\":\"2\",\"a\":\"1\"}", "{\"b\":\"2\",}" },
		{ "{\"b\":\"2\",\"a\":\"1\"}", "{\"b\"}" },
		{ "{\"b\":\"2\",\"a\":\"1\"}", "{\"b\":\"2\"" },
		{ "{\"b\":\"2\",\"a\":\"1\"}", "{\"b\":\"\\u0000\"}" },
		{ "\"signal\":null", "\"signal\":null,\"signal\":null" },
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *full = compact_with(compact_provenance);
		const char *at = strstr(full, edits[i].from);
		char edited[1024];

		CHECK(at != NULL);
		snprintf(edited, sizeof(edited), "%.*s%s%s", (int)(at - full), full, edits[i].to,
			 at + strlen(edits[i].from));
		CHECK_DOC(record_from_json(edited, strlen(edited), &back) == -EINVAL, edited);
		CHECK(back.execution_id == NULL && back.tags == NULL && back.host == NULL);
		free(full);
	}
	doc = compact_with(",\"exit_code\":1}");
	CHECK(record_from_json(doc, strlen(doc), &back) == -EINVAL);
	CHECK(reason_has("\"signal\" is missing"));
	free(doc);
}

/* ---------------------------------------------------------------------- */
/* start documents: cwd, tags, and the keys the daemon sets */

/* A start document with tags "k0": "v", "k1": "v", ... of @n keys. */
static char *tags_document(size_t n)
{
	size_t cap = 64 + n * 16, used;
	char *doc = malloc(cap);

	CHECK(doc != NULL);
	used = (size_t)snprintf(doc, cap, "{\"tags\": {");
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(doc + used, cap - used, "%s\"k%zu\": \"v\"",
					 i ? ", " : "", i);
	snprintf(doc + used, cap - used, "}}");
	return doc;
}

/* {"tags": {"<key>": "<value>"}} with the key and the value as given (JSON text). */
static char *tag_document(const char *key, const char *value)
{
	size_t n = strlen(key) + strlen(value) + 32;
	char *doc = malloc(n);

	CHECK(doc != NULL);
	snprintf(doc, n, "{\"tags\": {\"%s\": \"%s\"}}", key, value);
	return doc;
}

/* @doc starts with one tag, @key = @value (decoded). */
static void check_one_tag(const char *doc, const char *key, const char *value)
{
	struct store_record rec;

	CHECK_DOC(parse_start(doc, &rec) == 0, doc);
	CHECK_DOC(rec.ntags == 1 && rec.tags != NULL, doc);
	CHECK_DOC(str_eq(rec.tags[0].key, key) && str_eq(rec.tags[0].value, value), doc);
	store_record_clear(&rec);
	check_scan_valid(doc, strlen(doc));
}

/* @doc is refused with EINVAL and a reason holding @reason; nothing is set. */
static void check_refused_because(const char *doc, const char *reason)
{
	struct store_record rec;

	CHECK_DOC(parse_start(doc, &rec) == -EINVAL, doc);
	CHECK_DOC(rec.tags == NULL && rec.ntags == 0 && rec.cwd == NULL, doc);
	CHECK_DOC(reason_has(reason), store_reason());
}

static void test_start_tags(void)
{
	struct store_record rec;
	char *doc, *s;

	/* Defaults: no cwd, no tags. */
	CHECK(parse_start("{}", &rec) == 0);
	CHECK(rec.cwd == NULL && rec.tags == NULL && rec.ntags == 0);
	store_record_clear(&rec);
	CHECK(parse_start(" ", &rec) == 0);
	CHECK(rec.cwd == NULL && rec.tags == NULL && rec.ntags == 0);
	store_record_clear(&rec);
	CHECK(parse_start("{\"cwd\": null, \"tags\": {}}", &rec) == 0);
	CHECK(rec.cwd == NULL && rec.tags == NULL && rec.ntags == 0);
	store_record_clear(&rec);

	/* cwd, and tags in the document's order, escapes decoded. */
	CHECK(parse_start("{\"args\": [\"make\"], \"cwd\": \"/home/a\\tb\", \"tags\": "
			  "{ \"team\" : \"infra\" ,\"ci\":\"x\\n\\u00e9\", \"e\": \"\"}, "
			  "\"root\": null}", &rec) == 0);
	CHECK(str_eq(rec.cwd, "/home/a\tb") && str_eq(rec.args, "[\"make\"]"));
	CHECK(rec.ntags == 3);
	CHECK(str_eq(rec.tags[0].key, "team") && str_eq(rec.tags[0].value, "infra"));
	CHECK(str_eq(rec.tags[1].key, "ci") && str_eq(rec.tags[1].value, "x\n\xc3\xa9"));
	CHECK(str_eq(rec.tags[2].key, "e") && str_eq(rec.tags[2].value, ""));
	store_record_clear(&rec);
	check_one_tag("{\"tags\": {\"k\\u002dx\": \"a\\\"b\"}}", "k-x", "a\"b");
	check_one_tag("{\"tags\":{\"AZaz09._-\":\"\xf0\x9f\x98\x80\"}}", "AZaz09._-",
		      "\xf0\x9f\x98\x80");

	/* 32 tags fit, 33 do not. */
	doc = tags_document(STORE_TAGS_MAX);
	CHECK(parse_start(doc, &rec) == 0 && rec.ntags == STORE_TAGS_MAX);
	CHECK(str_eq(rec.tags[31].key, "k31"));
	store_record_clear(&rec);
	free(doc);
	doc = tags_document(STORE_TAGS_MAX + 1);
	check_refused_because(doc, "more than 32 tags");
	free(doc);

	/* A key of 64 bytes fits, 65 do not; an empty key is none. */
	s = repeat('k', STORE_TAG_KEY_MAX);
	doc = tag_document(s, "v");
	check_one_tag(doc, s, "v");
	free(doc);
	free(s);
	s = repeat('k', STORE_TAG_KEY_MAX + 1);
	doc = tag_document(s, "v");
	check_refused_because(doc, "a tag key is longer than 64 bytes");
	free(doc);
	free(s);
	check_refused_because("{\"tags\": {\"\": \"v\"}}", "a tag key is empty");

	/* Every byte outside A-Z a-z 0-9 . _ - is refused in a key, raw or escaped. */
	for (int c = 1; c < 256; c++) {
		char key[16], esc[16];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		struct store_record r;

		snprintf(esc, sizeof(esc), "a\\u%04x", (unsigned)c);
		doc = tag_document(esc, "v");
		CHECK_DOC(parse_start(doc, &r) == (ok ? 0 : -EINVAL), doc);
		if (!ok)
			CHECK_DOC(reason_has(c < 0x80 ? "a tag key may not hold byte"
						      : "a tag key may not hold byte 0xc"), doc);
		store_record_clear(&r);
		free(doc);
		if (c == '"' || c == '\\')
			continue;
		snprintf(key, sizeof(key), "a%c", c);
		doc = tag_document(key, "v");
		CHECK_DOC(parse_start(doc, &r) == (ok ? 0 : -EINVAL), doc);
		store_record_clear(&r);
		free(doc);
	}
	check_refused_because("{\"tags\": {\"caf\xc3\xa9\": \"v\"}}", "may not hold byte 0xc3");
	check_refused_because("{\"tags\": {\"a b\": \"v\"}}", "may not hold byte 0x20");
	check_refused_because("{\"tags\": {\"a=b\": \"v\"}}", "may not hold byte 0x3d");
	check_refused_because("{\"tags\": {\"a/b\": \"v\"}}", "may not hold byte 0x2f");

	/* A value of 256 bytes fits, 257 do not, counted in bytes of UTF-8. */
	s = repeat('v', STORE_TAG_VALUE_MAX);
	doc = tag_document("k", s);
	check_one_tag(doc, "k", s);
	free(doc);
	free(s);
	s = repeat('v', STORE_TAG_VALUE_MAX + 1);
	doc = tag_document("k", s);
	check_refused_because(doc, "the value of tag \"k\" is longer than 256 bytes");
	free(doc);
	free(s);
	s = malloc(STORE_TAG_VALUE_MAX + 2);
	CHECK(s != NULL);
	for (size_t i = 0; i < STORE_TAG_VALUE_MAX; i += 2)
		memcpy(s + i, "\xc3\xa9", 2);
	s[STORE_TAG_VALUE_MAX] = '\0';
	doc = tag_document("k", s);
	check_one_tag(doc, "k", s);
	free(doc);
	s[STORE_TAG_VALUE_MAX] = 'x';
	s[STORE_TAG_VALUE_MAX + 1] = '\0';
	doc = tag_document("k", s);
	check_refused_because(doc, "longer than 256 bytes");
	free(doc);
	free(s);

	/* Repeated keys, also when spelled with escapes; repeated "tags". */
	check_refused_because("{\"tags\": {\"a\": \"1\", \"b\": \"2\", \"a\": \"3\"}}",
			      "repeated tag \"a\"");
	check_refused_because("{\"tags\": {\"ab\": \"1\", \"\\u0061b\": \"1\"}}",
			      "repeated tag \"ab\"");
	check_refused_because("{\"tags\": {}, \"tags\": {}}", "repeated key \"tags\"");
	check_refused_because("{\"cwd\": null, \"cwd\": \"/\"}", "repeated key \"cwd\"");
	CHECK(parse_start("{\"tags\": {\"a\": \"1\", \"A\": \"1\", \"a.\": \"1\"}}", &rec) == 0);
	CHECK(rec.ntags == 3);
	store_record_clear(&rec);

	/* Values that are no string: nested objects and the rest. */
	static const char *const not_strings[] = {
		"{\"b\": \"c\"}", "{}", "[\"b\"]", "[]", "1", "-1", "null", "true", "false",
	};
	for (size_t i = 0; i < sizeof(not_strings) / sizeof(not_strings[0]); i++) {
		char text[64];

		snprintf(text, sizeof(text), "{\"tags\": {\"a\": %s}}", not_strings[i]);
		check_refused_because(text, "the value of \"a\" must be a string");
	}
	/* Tags that are no object, a cwd that is no string. */
	static const char *const not_objects[] = {
		"null", "[]", "[[\"a\", \"b\"]]", "\"a=b\"", "1", "true",
	};
	for (size_t i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++) {
		char text[64];

		snprintf(text, sizeof(text), "{\"tags\": %s}", not_objects[i]);
		check_refused_because(text, "\"tags\" must be an object of strings");
	}
	static const char *const not_cwd[] = { "1", "[]", "{}", "true", "[\"/\"]" };
	for (size_t i = 0; i < sizeof(not_cwd) / sizeof(not_cwd[0]); i++) {
		char text[64];

		snprintf(text, sizeof(text), "{\"cwd\": %s}", not_cwd[i]);
		check_refused_because(text, "\"cwd\" must be a string or null");
	}

	/* Strings and syntax inside the tags. */
	static const char *const refused[] = {
		"{\"tags\": {\"a\": \"\\u0000\"}}", "{\"tags\": {\"a\": \"\xc3\"}}",
		"{\"tags\": {\"a\": \"x\ny\"}}", "{\"tags\": {\"a\": \"\\ud800\"}}",
		"{\"tags\": {\"a\\u0000\": \"v\"}}", "{\"cwd\": \"\\u0000\"}", "{\"cwd\": \"\xff\"}",
		"{\"tags\": {\"a\" \"b\"}}", "{\"tags\": {\"a\": \"b\",}}", "{\"tags\": {,}}",
		"{\"tags\": {\"a\": \"b\"}", "{\"tags\": {\"a\"}}", "{\"tags\": {a: \"b\"}}",
		"{\"tags\": {\"a\": \"b\" \"c\": \"d\"}}", "{\"tags\": {\"a\":: \"b\"}}",
		"{\"tags\": {\"a\": \"b\"]}", "{\"tags\": {'a': 'b'}}", "{\"tags\": {",
		"{\"tags\": {\"a\": \"b\"}}}",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		check_start_invalid(refused[i], -EINVAL);
}

/* Every key of the record that the daemon or the store sets. */
static const char *const owned_keys[] = {
	"host", "user", "uid", "pid", "exit_code", "signal", "output_bytes", "id",
	"execution_id", "started_at", "finished_at", "duration_ms", "outcome",
	"error_message", "files_indexed", "symbols_indexed", "references_indexed",
};

static void test_start_owned(void)
{
	static const char *const values[] = { "1", "\"x\"", "null", "{}" };
	char doc[128], want[64], pattern[128];

	for (size_t k = 0; k < sizeof(owned_keys) / sizeof(owned_keys[0]); k++) {
		snprintf(want, sizeof(want), "start document: \"%s\" is set by the daemon",
			 owned_keys[k]);
		for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
			snprintf(doc, sizeof(doc), "{\"tool_version\": \"1\", \"%s\": %s}",
				 owned_keys[k], values[v]);
			check_refused_because(doc, want);
			CHECK_DOC(!reason_has("unknown"), doc);
		}
		/* Refused at the quote that closes the key, whatever follows. */
		snprintf(pattern, sizeof(pattern), "{\"args\": [], \"%s#: 1}", owned_keys[k]);
		check_scan_invalid(pattern, '"');
	}
	/* Near misses are only unknown. */
	check_refused_because("{\"hosts\": \"x\"}", "unknown key \"hosts\"");
	check_refused_because("{\"Host\": \"x\"}", "unknown key \"Host\"");
	check_refused_because("{\"tag\": {}}", "unknown key \"tag\"");
	check_refused_because("{\"tool\": \"x\"}", "unknown key \"tool\"");
}

/* As check_scan_invalid_at(), for a document made by @make(n) refused at byte @bad. */
static void check_long_invalid(char *doc, size_t bad)
{
	check_scan_invalid_at(doc, strlen(doc), bad, -EINVAL);
	free(doc);
}

static void test_start_tags_scan(void)
{
	static const char *const valid[] = {
		"{\"tags\": {}}",
		"{\"tags\":{\"a\":\"1\"}}",
		"{\"cwd\": \"/w\", \"tags\": { \"team\" : \"infra\" , \"ci\" : \"\\u00e9\\n\" } }\n",
		"{\"tags\": {\"a\": \"{}\", \"b\": \"[\"}, \"args\": [\"x\"], \"cwd\": null}",
	};
	char *doc, *s;
	size_t at;

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		check_scan_valid(valid[i], strlen(valid[i]));

	check_scan_invalid("{\"tags\": #}", '[');
	check_scan_invalid("{\"tags\": #}", 'n');
	check_scan_invalid("{\"tags\": #}", '"');
	check_scan_invalid("{\"tags\": {\"a\": #}}", '{');
	check_scan_invalid("{\"tags\": {\"a\": #}}", '[');
	check_scan_invalid("{\"tags\": {\"a\": #}}", 'n');
	check_scan_invalid("{\"tags\": {\"a\": #}}", '7');
	check_scan_invalid("{\"tags\": {\"a\": #}}", '}');
	check_scan_invalid("{\"tags\": {\"a\"#: \"1\"}}", 'x');
	check_scan_invalid("{\"tags\": {\"a\": \"1\"#}}", 'x');
	check_scan_invalid("{\"tags\": {\"a\": \"1\",#}}", '}');
	check_scan_invalid("{\"tags\": {#}}", ',');
	check_scan_invalid("{\"tags\": {#: \"1\"}}", 'a');
	check_scan_invalid("{\"tags\": {\"a#b\": \"1\"}}", ' ');
	check_scan_invalid("{\"tags\": {\"a#b\": \"1\"}}", '=');
	check_scan_invalid("{\"tags\": {\"a#b\": \"1\"}}", '\xc3');
	check_scan_invalid("{\"tags\": {\"a\\u002#\": \"1\"}}", 'f');
	check_scan_invalid("{\"tags\": {\"#: \"1\"}}", '"');
	check_scan_invalid("{\"tags\": {\"ab\": \"1\", \"ab#: \"2\"}}", '"');
	check_scan_invalid("{\"tags\": {\"a\": \"1#\"}}", '\0');
	check_scan_invalid("{\"tags\": {\"a\": \"1#\"}}", '\n');
	check_scan_invalid("{\"tags\": {\"a\": \"\\u000#\"}}", '0');
	check_scan_invalid("{\"cwd\": #}", '[');

	/* The 33rd key fails at its opening quote. */
	doc = tags_document(STORE_TAGS_MAX + 1);
	at = (size_t)(strstr(doc, "\"k32\"") - doc);
	check_long_invalid(doc, at);
	/* A key fails at its 65th byte, a value at its 257th. */
	s = repeat('k', STORE_TAG_KEY_MAX + 10);
	doc = tag_document(s, "v");
	check_long_invalid(doc, strlen("{\"tags\": {\"") + STORE_TAG_KEY_MAX);
	free(s);
	s = repeat('v', STORE_TAG_VALUE_MAX + 10);
	doc = tag_document("k", s);
	check_long_invalid(doc, strlen("{\"tags\": {\"k\": \"") + STORE_TAG_VALUE_MAX);
	free(s);
	/* ... and at the last digit of an escape that passes it. */
	s = malloc(STORE_TAG_VALUE_MAX + 16);
	CHECK(s != NULL);
	memset(s, 'v', STORE_TAG_VALUE_MAX - 1);
	strcpy(s + STORE_TAG_VALUE_MAX - 1, "\\u00e9xyz");
	doc = tag_document("k", s);
	check_long_invalid(doc, strlen("{\"tags\": {\"k\": \"") + STORE_TAG_VALUE_MAX - 1 + 5);
	free(s);
}

/* ---------------------------------------------------------------------- */
/* finish values: exit code and signal */

/* @value finishes with @exit_code and @signal (STORE_NULL: not given). */
static void check_finish_ended(const char *value, int64_t exit_code, int64_t signal)
{
	struct store_finish fin;
	char *msg = NULL;

	memset(&fin, 0xa5, sizeof(fin));
	CHECK_DOC(record_parse_finish(value, strlen(value), &fin, &msg) == 0, value);
	CHECK_DOC(fin.exit_code == exit_code && fin.signal == signal, value);
	free(msg);
}

static void test_finish_provenance(void)
{
	static const char *const bad_exit[] = {
		"256", "-1", "1000", "1.0", "1e2", "-0", "01", "null", "\"1\"", "true", "[]",
		"{}", "99999999999999999999", "2.5",
	};
	static const char *const bad_signal[] = {
		"0", "65", "-1", "-9", "1.0", "null", "\"9\"", "[9]", "9e0", "18446744073709551617",
	};
	char doc[128];
	struct store_finish fin;
	char *msg = NULL;

	check_finish_ended("{\"outcome\":\"error\",\"exit_code\":2}", 2, STORE_NULL);
	check_finish_ended("{\"outcome\":\"success\",\"exit_code\":0}", 0, STORE_NULL);
	check_finish_ended("{\"outcome\":\"error\",\"exit_code\":255}", 255, STORE_NULL);
	check_finish_ended("{\"outcome\":\"error\",\"signal\":1}", STORE_NULL, 1);
	check_finish_ended("{\"outcome\":\"error\",\"signal\":64}", STORE_NULL, 64);
	check_finish_ended("{\"signal\": 9, \"error_message\": \"killed\", \"exit_code\": 137, "
			   "\"outcome\": \"error\"}", 137, 9);
	check_finish_ended("{\"outcome\":\"error\"}", STORE_NULL, STORE_NULL);
	check_finish_ended("success", STORE_NULL, STORE_NULL);
	check_finish_ended("error: exit 2", STORE_NULL, STORE_NULL);
	check_finish_ended("partial\n", STORE_NULL, STORE_NULL);

	for (size_t i = 0; i < sizeof(bad_exit) / sizeof(bad_exit[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"outcome\":\"error\",\"exit_code\":%s}", bad_exit[i]);
		check_finish_invalid(doc);
	}
	for (size_t i = 0; i < sizeof(bad_signal) / sizeof(bad_signal[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"outcome\":\"error\",\"signal\":%s}", bad_signal[i]);
		check_finish_invalid(doc);
	}
	check_finish_invalid("{\"outcome\":\"error\",\"exit_code\":1,\"exit_code\":1}");
	check_finish_invalid("{\"outcome\":\"error\",\"signal\":9,\"signal\":9}");
	check_finish_invalid("{\"outcome\":\"error\",\"exit\":1}");

	snprintf(doc, sizeof(doc), "{\"outcome\":\"error\",\"exit_code\":256}");
	CHECK(record_parse_finish(doc, strlen(doc), &fin, &msg) == -EINVAL);
	CHECK(reason_has("\"exit_code\" must be an integer 0-255"));
	snprintf(doc, sizeof(doc), "{\"outcome\":\"error\",\"signal\":0}");
	CHECK(record_parse_finish(doc, strlen(doc), &fin, &msg) == -EINVAL);
	CHECK(reason_has("\"signal\" must be an integer 1-64"));
	CHECK(msg == NULL);
}

/* ---------------------------------------------------------------------- */

static const struct {
	const char *name;
	void (*run)(void);
} cases[] = {
	{ "name", test_name },
	{ "render", test_render },
	{ "render_args", test_render_args },
	{ "from_json", test_from_json },
	{ "start_valid", test_start_valid },
	{ "start_invalid", test_start_invalid },
	{ "start_scan", test_start_scan },
	{ "start_sizes", test_start_sizes },
	{ "finish_valid", test_finish_valid },
	{ "finish_invalid", test_finish_invalid },
	{ "unicode", test_unicode },
	{ "scan_values", test_scan_values },
	{ "args_each", test_args_each },
	{ "render_provenance", test_render_provenance },
	{ "render_sizes", test_render_sizes },
	{ "from_json_provenance", test_from_json_provenance },
	{ "start_tags", test_start_tags },
	{ "start_owned", test_start_owned },
	{ "start_tags_scan", test_start_tags_scan },
	{ "finish_provenance", test_finish_provenance },
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CASE\n", argv[0]);
		return 1;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(argv[1], cases[i].name) == 0) {
			cases[i].run();
			return 0;
		}
	}
	fprintf(stderr, "%s: no case %s\n", argv[0], argv[1]);
	return 1;
}
