/*
 * record.c - an execution as JSON: reading back, and checking what users
 * write; the rendering is record_render.c.
 *
 * Every JSON document users (or a store) hand us is read by one strict
 * scanner (scan.c), driven by the schemas here (the allowed keys and the
 * type of each). The scanner captures the values as it checks them, so a
 * document is read once: what a start, a finish or a stored record hands on
 * is what the scan captured. No cJSON here: record_render.c keeps it for the
 * args text of a row another program wrote, printed the way cJSON prints it.
 *
 * Nothing here touches a store; store_fail() only records the reason.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "record.h"
#include "record_internal.h"
#include "scan.h"
#include "text.h"

/* ---------------------------------------------------------------------- */
/* Names */

int record_name_check(const char *name)
{
	size_t len;

	if (name == NULL)
		return store_fail(-EINVAL, "execution name: none given");
	len = strnlen(name, 256);
	if (len > 255)
		return store_fail(-ENAMETOOLONG, "execution name: longer than 255 bytes");
	if (len == 0)
		return store_fail(-EINVAL, "execution name: empty");
	if (len > RECORD_NAME_MAX)
		return store_fail(-EINVAL, "execution name: longer than %d bytes",
				  RECORD_NAME_MAX);
	/* A leading '.' would hide the file from ls and allow "." and "..". */
	if (name[0] == '.')
		return store_fail(-EINVAL, "execution name: starts with '.'");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			       (c >= '0' && c <= '9') || strchr("._:@+-", c) != NULL;

		if (!allowed)
			return store_fail(-EINVAL, "execution name: byte 0x%02x not allowed", c);
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The documents: the keys each may have (the scanner is scan.c) */

enum {
	START_TOOL_VERSION,
	START_ARGS,
	START_ROOT,
	START_DB_PATH,
	START_CWD,
	START_TAGS,
	START_FIELDS
};

static const struct field start_fields[] = {
	[START_TOOL_VERSION] = { "tool_version", FIELD_STRING },
	[START_ARGS] = { "args", FIELD_STRING_ARRAY },
	[START_ROOT] = { "root", FIELD_STRING_OR_NULL },
	[START_DB_PATH] = { "db_path", FIELD_STRING },
	[START_CWD] = { "cwd", FIELD_STRING_OR_NULL },
	[START_TAGS] = { "tags", FIELD_TAGS },
};

/*
 * The record's other keys: what the daemon or the store sets. Provenance is
 * never the writer's to claim, and a writer who tries hears so by name.
 */
static const char *const start_owned[] = {
	"id", "execution_id", "started_at", "finished_at", "duration_ms", "outcome",
	"error_message", "files_indexed", "symbols_indexed", "references_indexed",
	"exit_code", "signal", "host", "user", "uid", "pid", "output_bytes", NULL,
};

static const struct schema start_schema = {
	"start document", start_fields, START_FIELDS, 18 /* references_indexed */, start_owned,
};

enum {
	FINISH_OUTCOME,
	FINISH_ERROR_MESSAGE,
	FINISH_FILES,
	FINISH_SYMBOLS,
	FINISH_REFERENCES,
	FINISH_EXIT_CODE,
	FINISH_SIGNAL,
	FINISH_FIELDS
};

static const struct field finish_fields[] = {
	[FINISH_OUTCOME] = { "outcome", FIELD_STRING },
	[FINISH_ERROR_MESSAGE] = { "error_message", FIELD_STRING_OR_NULL },
	[FINISH_FILES] = { "files_indexed", FIELD_COUNT },
	[FINISH_SYMBOLS] = { "symbols_indexed", FIELD_COUNT },
	[FINISH_REFERENCES] = { "references_indexed", FIELD_COUNT },
	[FINISH_EXIT_CODE] = { "exit_code", FIELD_COUNT },
	[FINISH_SIGNAL] = { "signal", FIELD_COUNT },
};

static const struct schema finish_schema = {
	"finish value", finish_fields, FINISH_FIELDS, 18, NULL,
};

/* The record's fields (REC_*, record_internal.h): what it is read back by. */
const struct field record_fields[REC_FIELDS] = {
	[REC_ID] = { "id", FIELD_INT },
	[REC_EXECUTION_ID] = { "execution_id", FIELD_STRING },
	[REC_TOOL_VERSION] = { "tool_version", FIELD_STRING },
	[REC_ARGS] = { "args", FIELD_STRING_ARRAY },
	[REC_ROOT] = { "root", FIELD_STRING_OR_NULL },
	[REC_DB_PATH] = { "db_path", FIELD_STRING },
	[REC_STARTED_AT] = { "started_at", FIELD_INT },
	[REC_FINISHED_AT] = { "finished_at", FIELD_INT_OR_NULL },
	[REC_DURATION_MS] = { "duration_ms", FIELD_INT_OR_NULL },
	[REC_OUTCOME] = { "outcome", FIELD_STRING },
	[REC_ERROR_MESSAGE] = { "error_message", FIELD_STRING_OR_NULL },
	[REC_FILES] = { "files_indexed", FIELD_INT },
	[REC_SYMBOLS] = { "symbols_indexed", FIELD_INT },
	[REC_REFERENCES] = { "references_indexed", FIELD_INT },
	[REC_EXIT_CODE] = { "exit_code", FIELD_INT_OR_NULL },
	[REC_SIGNAL] = { "signal", FIELD_INT_OR_NULL },
	[REC_HOST] = { "host", FIELD_STRING_OR_NULL },
	[REC_USER] = { "user", FIELD_STRING_OR_NULL },
	[REC_UID] = { "uid", FIELD_INT_OR_NULL },
	[REC_PID] = { "pid", FIELD_INT_OR_NULL },
	[REC_CWD] = { "cwd", FIELD_STRING_OR_NULL },
	/* Read as written: the rules of a start's tags were kept when it was stored. */
	[REC_TAGS] = { "tags", FIELD_STRING_MAP },
	[REC_OUTPUT_BYTES] = { "output_bytes", FIELD_INT },
};

_Static_assert(REC_FIELDS <= SCHEMA_FIELDS_MAX, "the record's fields fit a scan");

static const struct schema record_schema = {
	"stored record", record_fields, REC_FIELDS, 18, NULL,
};

/* ---------------------------------------------------------------------- */
/* Start documents */

struct record_scan *record_scan_new(void)
{
	struct record_scan *sc = malloc(sizeof(*sc));

	if (sc != NULL)
		scan_init(sc, &start_schema, RECORD_START_MAX);
	return sc;
}

void record_scan_free(struct record_scan *sc)
{
	if (sc != NULL)
		scan_release(sc);
	free(sc);
}

/*
 * Captured string @field into *@out (moved out of the scan if @move, else
 * copied), or a copy of @fallback when it was absent.
 */
static int start_value(struct record_scan *sc, size_t field, bool move, const char *fallback,
		       char **out)
{
	int err = move ? scan_take(sc, field, out) : scan_copy(sc, field, out);

	if (err == 0 && *out == NULL && fallback != NULL && (*out = strdup(fallback)) == NULL)
		err = -ENOMEM;
	return err;
}

/* The strings of a start, as start_values() hands them on. */
struct start_strings {
	char *tool_version, *args, *root, *db_path, *cwd;
};

/* What a done or blank scan captured, into the fields a start document sets in @out. */
static int start_values(struct record_scan *sc, bool move, struct store_record *out)
{
	struct start_strings v = { 0 };
	struct store_tag *tags = NULL;
	size_t ntags = 0;
	int err = sc->error;

	if (err < 0)
		goto out;
	if (sc->state != SCAN_AFTER && !record_scan_blank(sc)) {
		err = store_fail(-EINVAL, "start document: incomplete JSON");
		goto out;
	}
	/* A blank document captured nothing: every field takes its default. */
	err = start_value(sc, START_TOOL_VERSION, move, "", &v.tool_version);
	if (err == 0)
		err = start_value(sc, START_ARGS, move, "[]", &v.args);
	if (err == 0)
		err = start_value(sc, START_ROOT, move, NULL, &v.root);
	if (err == 0)
		err = start_value(sc, START_DB_PATH, move, "", &v.db_path);
	if (err == 0)
		err = start_value(sc, START_CWD, move, NULL, &v.cwd);
	if (err == 0)
		err = scan_tags(sc, START_TAGS, &tags, &ntags);
	if (err < 0) {
		err = store_fail(err, "out of memory reading a start document");
		goto free_values;
	}
	out->tool_version = v.tool_version;
	out->args = v.args;
	out->root = v.root;
	out->db_path = v.db_path;
	out->cwd = v.cwd;
	out->tags = tags;
	out->ntags = ntags;
	goto out;

free_values:
	free(v.tool_version);
	free(v.args);
	free(v.root);
	free(v.db_path);
	free(v.cwd);
out:
	return err;
}

int record_scan_values(struct record_scan *sc, struct store_record *out)
{
	/* Copied, not moved: the scan is left as it was. */
	return start_values(sc, false, out);
}

int record_parse_start(const char *buf, size_t len, struct store_record *out)
{
	struct record_scan sc;
	int err;

	if (len > RECORD_START_MAX)
		return store_fail(-EFBIG, "start document: longer than %d bytes",
				  RECORD_START_MAX);
	scan_init(&sc, &start_schema, RECORD_START_MAX);
	err = record_scan_feed(&sc, buf, len);
	if (err >= 0)
		err = start_values(&sc, true, out);
	scan_release(&sc);
	return err;
}

/* ---------------------------------------------------------------------- */
/* Finish values */

static bool ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Narrows [*start, *start + *len) to drop white space at both ends. */
static void trim_space(const char **start, size_t *len)
{
	while (*len > 0 && ascii_space(**start)) {
		(*start)++;
		(*len)--;
	}
	while (*len > 0 && ascii_space((*start)[*len - 1]))
		(*len)--;
}

static bool word_is(const char *text, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(text, word, len) == 0;
}

/* The outcome a finish may set, by name; refuses "running" and the rest. */
static int finish_outcome(const char *name, size_t len, enum store_outcome *out)
{
	static const enum store_outcome finishing[] = {
		STORE_SUCCESS, STORE_ERROR, STORE_PARTIAL,
	};

	for (size_t i = 0; i < sizeof(finishing) / sizeof(finishing[0]); i++) {
		if (word_is(name, len, store_outcome_name(finishing[i]))) {
			*out = finishing[i];
			return 0;
		}
	}
	if (word_is(name, len, store_outcome_name(STORE_RUNNING)))
		return store_fail(-EINVAL, "finish value: a finish cannot set running");
	return store_fail(-EINVAL, "finish value: unknown word \"%.*s\"",
			  len > 40 ? 40 : (int)len, name);
}

/* A finish value in words: "success", "error", "partial" or "error: <message>". */
static int finish_parse_words(const char *text, size_t len, struct store_finish *out,
			      char **message)
{
	static const char error_prefix[] = "error:";
	const size_t prefix_len = sizeof(error_prefix) - 1;
	const char *rest;
	size_t rest_len;

	if (len < prefix_len || memcmp(text, error_prefix, prefix_len) != 0)
		return finish_outcome(text, len, &out->outcome);
	out->outcome = STORE_ERROR;
	rest = text + prefix_len;
	rest_len = len - prefix_len;
	trim_space(&rest, &rest_len);
	/* "error:" with nothing after it says no more than "error". */
	if (rest_len == 0)
		return 0;
	*message = strndup(rest, rest_len);
	return *message == NULL ? store_fail(-ENOMEM, "out of memory") : 0;
}

/*
 * The integer the scan read for @field into *@out if it is in [@lo, @hi],
 * STORE_NULL when absent; -EINVAL out of range (the scan refused the rest:
 * null, a fraction, a string).
 */
static int finish_ranged(const struct record_scan *sc, size_t field, int64_t lo, int64_t hi,
			 int64_t *out)
{
	int64_t v = sc->ints[field];

	*out = STORE_NULL;
	if (!scan_has(sc, field))
		return 0;
	if (v < lo || v > hi)
		return store_fail(-EINVAL, "finish value: \"%s\" must be an integer %" PRId64
				  "-%" PRId64, finish_fields[field].key, lo, hi);
	*out = v;
	return 0;
}

/* A finish value as a JSON object. */
static int finish_parse_json(const char *text, size_t len, struct store_finish *out,
			     char **message)
{
	struct record_scan sc;
	const struct text_buf *outcome = &sc.values[FINISH_OUTCOME];
	int err;

	scan_init(&sc, &finish_schema, RECORD_FINISH_MAX);
	err = scan_whole(&sc, text, len);
	if (err < 0)
		goto out;
	if (!scan_has(&sc, FINISH_OUTCOME)) {
		err = store_fail(-EINVAL, "finish value: \"outcome\" is required");
		goto out;
	}
	if (outcome->failed) {
		err = store_fail(-ENOMEM, "out of memory");
		goto out;
	}
	err = finish_outcome(outcome->data ? outcome->data : "", outcome->len, &out->outcome);
	if (err < 0)
		goto out;
	/* The scanner read the counts from their text: exact, as a double is not. */
	out->files_indexed = sc.ints[FINISH_FILES];
	out->symbols_indexed = sc.ints[FINISH_SYMBOLS];
	out->references_indexed = sc.ints[FINISH_REFERENCES];
	err = finish_ranged(&sc, FINISH_EXIT_CODE, 0, 255, &out->exit_code);
	if (err == 0)
		err = finish_ranged(&sc, FINISH_SIGNAL, 1, 64, &out->signal);
	if (err < 0)
		goto out;
	err = scan_take(&sc, FINISH_ERROR_MESSAGE, message);
	if (err < 0)
		err = store_fail(err, "out of memory");
out:
	scan_release(&sc);
	return err;
}

int record_parse_finish(const char *buf, size_t len, struct store_finish *out,
			char **message)
{
	const char *text = buf;
	size_t text_len = len;
	struct store_finish fin = {
		.outcome = STORE_ERROR, .exit_code = STORE_NULL, .signal = STORE_NULL,
	};
	int err;

	*message = NULL;
	if (len > RECORD_FINISH_MAX) {
		err = store_fail(-EFBIG, "finish value: longer than %d bytes", RECORD_FINISH_MAX);
		goto out;
	}
	if (!utf8_valid_text(buf, len)) {
		err = store_fail(-EINVAL, "finish value: a NUL byte or invalid UTF-8");
		goto out;
	}
	trim_space(&text, &text_len);
	if (text_len == 0) {
		err = store_fail(-EINVAL, "finish value: empty");
		goto out;
	}
	if (text[0] == '{')
		err = finish_parse_json(text, text_len, &fin, message);
	else
		err = finish_parse_words(text, text_len, &fin, message);
	if (err < 0)
		goto free_message;
	fin.error_message = *message;
	*out = fin;
	goto out;

free_message:
	free(*message);
	*message = NULL;
out:
	return err;
}

/* ---------------------------------------------------------------------- */
/* Reading a rendered record back */

/*
 * Every field must be there, but a document an older execlogfs stored has
 * only magellan's fourteen: then the fields after them are absent, all of
 * them (null, {} and 0 are what the record holds for them).
 */
static int record_fields_present(const struct record_scan *sc)
{
	bool old = true;

	for (size_t i = REC_MAGELLAN_FIELDS; i < REC_FIELDS; i++)
		old = old && !scan_has(sc, i);
	for (size_t i = 0; i < (old ? REC_MAGELLAN_FIELDS : REC_FIELDS); i++) {
		if (!scan_has(sc, i))
			return store_fail(-EINVAL, "stored record: \"%s\" is missing",
					  record_fields[i].key);
	}
	return 0;
}

int record_from_json(const char *buf, size_t len, struct store_record *out)
{
	struct record_scan sc;
	char **strings[REC_FIELDS] = {
		[REC_EXECUTION_ID] = &out->execution_id,
		[REC_TOOL_VERSION] = &out->tool_version,
		[REC_ARGS] = &out->args,
		[REC_ROOT] = &out->root,
		[REC_DB_PATH] = &out->db_path,
		[REC_OUTCOME] = &out->outcome,
		[REC_ERROR_MESSAGE] = &out->error_message,
		[REC_HOST] = &out->host,
		[REC_USER] = &out->user,
		[REC_CWD] = &out->cwd,
	};
	int64_t *ints[REC_FIELDS] = {
		[REC_ID] = &out->id,
		[REC_STARTED_AT] = &out->started_at,
		[REC_FINISHED_AT] = &out->finished_at,
		[REC_DURATION_MS] = &out->duration_ms,
		[REC_FILES] = &out->files_indexed,
		[REC_SYMBOLS] = &out->symbols_indexed,
		[REC_REFERENCES] = &out->references_indexed,
		[REC_EXIT_CODE] = &out->exit_code,
		[REC_SIGNAL] = &out->signal,
		[REC_UID] = &out->uid,
		[REC_PID] = &out->pid,
		[REC_OUTPUT_BYTES] = &out->output_bytes,
	};
	int err;

	/* Cleared: what an older document lacks stays null, none or 0. */
	store_record_clear(out);
	scan_init(&sc, &record_schema, SIZE_MAX);
	err = scan_whole(&sc, buf, len);
	if (err == 0)
		err = record_fields_present(&sc);
	for (size_t i = 0; i < REC_FIELDS && err == 0; i++) {
		if (!scan_has(&sc, i))
			continue;
		if (i == REC_TAGS)
			err = scan_tags(&sc, i, &out->tags, &out->ntags);
		else if (strings[i] != NULL)
			err = scan_take(&sc, i, strings[i]);
		else
			*ints[i] = scan_is_null(&sc, i) ? STORE_NULL : sc.ints[i];
	}
	if (err == -ENOMEM)
		err = store_fail(err, "out of memory reading a stored record");
	if (err < 0)
		store_record_clear(out);
	scan_release(&sc);
	return err;
}

/* ---------------------------------------------------------------------- */
/* A stored args text, string by string */

static const struct field args_fields[] = {
	{ "args", FIELD_STRING_ARRAY },
};

static const struct schema args_schema = {
	"stored args", args_fields, 1, 4, NULL,
};

int record_args_each(const char *args, record_args_fn *each, void *ctx)
{
	static const char open[] = "{\"args\":", close[] = "}";
	struct record_scan sc;
	int err;

	if (args == NULL)
		return 0;
	/* The text is scanned as the value of "args": the one reader, its one grammar. */
	scan_init(&sc, &args_schema, SIZE_MAX);
	sc.each = each;
	sc.each_ctx = ctx;
	err = record_scan_feed(&sc, open, sizeof(open) - 1);
	if (err >= 0)
		err = record_scan_feed(&sc, args, strlen(args));
	if (err >= 0)
		err = record_scan_feed(&sc, close, sizeof(close) - 1);
	if (err >= 0 && !sc.stopped && err != RECORD_SCAN_DONE)
		err = store_fail(-EINVAL, "stored args: incomplete JSON");
	scan_release(&sc);
	return err < 0 ? err : 0;
}
