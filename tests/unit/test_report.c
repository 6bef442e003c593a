/*
 * test_report.c - unit tests of the report library (fs/report/): index.html,
 * metrics.prom and their cache, rendered from a real store, no FUSE.
 *
 * Usage: test_report BACKEND CASE. tests/meson.build registers each case
 * once per backend with a file (sqlite, lmdb); the cases "foreign" and
 * "foreign_cache" are SQLite's alone: they write a row as another program
 * would, through the sqlite3 shell. A case works in its own mkdtemp() directory, removed when
 * it exits, also after a failed check.
 *
 * The log of each case is built with store_start() and store_finish() at
 * times it chooses, so that every number it checks is known.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "record.h"
#include "report.h"
#include "report_row.h"
#include "report_text.h"
#include "store.h"
#include "text.h"

static const char *g_backend, *g_case;
static char g_dir[4096], g_db[4200];

#define CHECK(expr) check((expr), __FILE__, __LINE__, #expr, NULL)
#define CHECK_IN(expr, text) check((expr), __FILE__, __LINE__, #expr, (text))

static void check(bool ok, const char *file, int line, const char *what, const char *text)
{
	if (ok)
		return;
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
	if (text != NULL)
		fprintf(stderr, "  in:\n%s\n", text);
	fprintf(stderr, "  store_reason: %s\n", store_reason());
	exit(1);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_tmpdir(void)
{
	nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct store *open_store(void)
{
	struct store_options opts = { .sync = STORE_SYNC_NORMAL };
	const char *tmp = getenv("TMPDIR");
	struct store *s = NULL;

	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	snprintf(g_dir, sizeof(g_dir), "%s/test_report-%s-%s-XXXXXX", tmp, g_backend, g_case);
	CHECK(mkdtemp(g_dir) != NULL);
	atexit(remove_tmpdir);
	snprintf(g_db, sizeof(g_db), "%s/db", g_dir);
	CHECK(store_open(g_backend, g_db, &opts, &s) == 0);
	return s;
}

/* Starts @name at @started_ms with @args (JSON text) and @tool_version. */
static void start(struct store *s, const char *name, int64_t started_ms, const char *args,
		  const char *tool_version)
{
	struct store_record rec = { 0 };

	rec.execution_id = strdup(name);
	rec.tool_version = strdup(tool_version);
	rec.args = strdup(args);
	rec.db_path = strdup("/db");
	rec.started_ms = started_ms;
	CHECK(rec.execution_id && rec.tool_version && rec.args && rec.db_path);
	CHECK(store_start(s, &rec) == 0);
	store_record_clear(&rec);
}

static void finish(struct store *s, const char *name, enum store_outcome outcome,
		   const char *message, int64_t at_ms)
{
	struct store_finish fin = {
		.outcome = outcome, .error_message = message,
		.exit_code = STORE_NULL, .signal = STORE_NULL,
	};

	CHECK(store_finish(s, name, &fin, at_ms) == 0);
}

#define T0 INT64_C(1700000000000) /* 2023-11-14 22:13:20 UTC, in ms */

/*
 * The known log: ok-1 succeeded in 50 ms, bad-1 failed in 2 s, part-1 was
 * partial in 700 ms, run-1 is running; a second apart, in that order.
 */
static void known_log(struct store *s)
{
	start(s, "ok-1", T0, "[\"make\",\"-j4\"]", "1.0");
	finish(s, "ok-1", STORE_SUCCESS, NULL, T0 + 50);
	start(s, "bad-1", T0 + 1000, "[\"lint\",\"--strict\"]", "<b>2.0</b>");
	finish(s, "bad-1", STORE_ERROR, "it <broke> & stopped", T0 + 3000);
	start(s, "part-1", T0 + 2000, "[]", "1.0");
	finish(s, "part-1", STORE_PARTIAL, NULL, T0 + 2700);
	start(s, "run-1", T0 + 3000, "[\"a b\",\"it's\"]", "1.0");
}

/* @text has @line as a whole line. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = strstr(text, line); p; p = strstr(p + 1, line)) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	}
	return false;
}

static void test_metrics(void)
{
	static const char *const lines[] = {
		"execlog_executions{outcome=\"running\"} 1",
		"execlog_executions{outcome=\"success\"} 1",
		"execlog_executions{outcome=\"error\"} 1",
		"execlog_executions{outcome=\"partial\"} 1",
		"execlog_running 1",
		"execlog_last_start_timestamp_seconds 1700000003.000",
		"execlog_last_finish_timestamp_seconds 1700000003",
		/* 50 ms, 700 ms and 2 s, counted cumulatively. */
		"execlog_duration_seconds_bucket{le=\"0.1\"} 1",
		"execlog_duration_seconds_bucket{le=\"0.5\"} 1",
		"execlog_duration_seconds_bucket{le=\"1\"} 2",
		"execlog_duration_seconds_bucket{le=\"5\"} 3",
		"execlog_duration_seconds_bucket{le=\"3600\"} 3",
		"execlog_duration_seconds_bucket{le=\"+Inf\"} 3",
		"execlog_duration_seconds_sum 2.750",
		"execlog_duration_seconds_count 3",
	};
	struct store *s = open_store();
	char *text;
	size_t len;

	CHECK(report_metrics(s, &text, &len) == 0);
	CHECK_IN(has_line(text, "execlog_running 0"), text);
	CHECK_IN(has_line(text, "execlog_last_start_timestamp_seconds 0.000"), text);
	free(text);
	known_log(s);
	CHECK(report_metrics(s, &text, &len) == 0);
	CHECK(strlen(text) == len);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		CHECK_IN(has_line(text, lines[i]), text);
	free(text);
	store_close(s);
}

/* The args cell of @id's row in @page, as written (HTML-escaped): malloc'd. */
static char *args_cell(const char *page, const char *id)
{
	char want[256];
	const char *row, *cell, *end;

	snprintf(want, sizeof(want), "\">%s</a></td>", id);
	row = strstr(page, want);
	CHECK_IN(row != NULL, want);
	cell = strstr(row, "<td class=\"args\">");
	CHECK(cell != NULL);
	cell += strlen("<td class=\"args\">");
	end = strstr(cell, "</td>");
	CHECK(end != NULL);
	return strndup(cell, (size_t)(end - cell));
}

static void check_args_cell(const char *page, const char *id, const char *want)
{
	char *cell = args_cell(page, id);

	CHECK_IN(strcmp(cell, want) == 0, cell);
	free(cell);
}

static void test_html(void)
{
	static const char *const ids[] = { "ok-1", "bad-1", "part-1", "run-1" };
	struct store *s = open_store();
	char *page, want[256];
	size_t len;

	known_log(s);
	CHECK(report_html(s, T0, &page, &len) == 0);
	CHECK(strlen(page) == len);
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		/* Each id links to its output, relative to the page. */
		snprintf(want, sizeof(want), "<td class=\"id\"><a href=\"output/%s\">%s</a></td>",
			 ids[i], ids[i]);
		CHECK_IN(strstr(page, want) != NULL, want);
	}
	CHECK(strstr(page, "4 executions; the table shows the most recent 4.") != NULL);
	CHECK(strstr(page, "<div class=\"card running\"><b>1</b>") != NULL);
	/* Store text is text: escaped, never markup. */
	CHECK(strstr(page, "<td>&lt;b&gt;2.0&lt;/b&gt;</td>") != NULL);
	CHECK(strstr(page, "<b>2.0") == NULL);
	CHECK(strstr(page, "it &lt;broke&gt; &amp; stopped") != NULL);
	/* Args as the shell reads them back, then escaped. */
	check_args_cell(page, "ok-1", "make -j4");
	check_args_cell(page, "part-1", "");
	check_args_cell(page, "run-1", "&#39;a b&#39; &#39;it&#39;\\&#39;&#39;s&#39;");
	free(page);
	store_close(s);
}

static void test_args(void)
{
	struct store *s = open_store();
	struct text_buf args = { 0 }, line = { 0 };
	char *page, *cell;
	size_t len;

	/* 10,000 arguments of 14 bytes, each with a 2-byte character. */
	text_add_str(&args, "[\"tool\"");
	for (int i = 0; i < 10000; i++)
		text_printf(&args, ",\"arg-%05d-\xc3\xa9\"", i);
	text_add_str(&args, "]");
	CHECK(!args.failed);
	/* The line itself: the first KiB, cut at a character, then "…". */
	report_args_text(args.data, REPORT_ARGS_SHOWN, &line);
	CHECK(!line.failed);
	CHECK(strncmp(line.data, "tool arg-00000-\xc3\xa9 arg-00001-", 28) == 0);
	CHECK(line.len > REPORT_ARGS_SHOWN - 4 && line.len <= REPORT_ARGS_SHOWN + 3);
	CHECK(strcmp(line.data + line.len - 3, "\xe2\x80\xa6") == 0);
	CHECK(utf8_valid_text(line.data, line.len));
	/* In the page: cut again to the cell's bound, and the page stays small. */
	start(s, "long-1", T0, args.data, "1.0");
	CHECK(report_html(s, T0, &page, &len) == 0);
	cell = args_cell(page, "long-1");
	CHECK_IN(strncmp(cell, "tool arg-00000-", 15) == 0, cell);
	CHECK_IN(strlen(cell) <= REPORT_ARGS_SHOWN + 3, cell);
	CHECK_IN(strcmp(cell + strlen(cell) - 3, "\xe2\x80\xa6") == 0, cell);
	CHECK(utf8_valid_text(cell, strlen(cell)));
	CHECK(len < 60000);
	free(cell);
	free(page);
	free(line.data);
	free(args.data);
	store_close(s);
}

static void test_cache(void)
{
	struct store *s = open_store();
	struct report_cache *c = report_cache_new();
	int64_t now = store_now_ms();
	char *first[REPORT_KINDS], *again, *after;
	size_t first_len[REPORT_KINDS], again_len, after_len;
	int64_t first_ms, again_ms, after_ms;

	CHECK(c != NULL);
	start(s, "old-1", now - 60000, "[]", "1.0");
	finish(s, "old-1", STORE_SUCCESS, NULL, now - 50000);
	for (int k = 0; k < REPORT_KINDS; k++) {
		CHECK(report_get(c, s, k, &first[k], &first_len[k], &first_ms) == 0);
		/* The time is the log's: its latest finish, not the rendering's. */
		CHECK(first_ms == (now - 50000) / 1000 * 1000);
		CHECK(report_get(c, s, k, &again, &again_len, &again_ms) == 0);
		CHECK(again_len == first_len[k] && memcmp(again, first[k], again_len) == 0);
		CHECK(again_ms == first_ms);
		free(again);
	}
	/* A start moves both kinds: new bytes, and the time of that start. */
	start(s, "new-1", now - 1000, "[]", "1.0");
	for (int k = 0; k < REPORT_KINDS; k++) {
		CHECK(report_get(c, s, k, &after, &after_len, &after_ms) == 0);
		CHECK(after_len != first_len[k] || memcmp(after, first[k], after_len) != 0);
		CHECK(after_ms == now - 1000);
		free(after);
		free(first[k]);
	}
	report_cache_free(c);
	store_close(s);
}

/* Runs @sql on the case's SQLite store with the sqlite3 shell, as another program. */
static void sqlite_shell(const char *sql)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "sqlite3 -cmd '.timeout 5000' '%s' \"%s\"", g_db, sql);
	CHECK_IN(system(cmd) == 0, cmd);
}

static void test_foreign(void)
{
	struct store *s = open_store();
	char *page, *metrics;
	size_t len;

	known_log(s);
	sqlite_shell("INSERT INTO execution_log (execution_id, tool_version, args, root, db_path,"
		     " started_at, finished_at, duration_ms, outcome, error_message) VALUES"
		     " ('<x&y>', '1', '[\\\"kill\\\", 9, \\\"-9\\\"]', NULL, '', 1700000010,"
		     " 1700000015, 5000, 'killed', 'by the OOM killer')");
	CHECK(report_html(s, T0, &page, &len) == 0);
	/* The id and the outcome as written, escaped; the args before the fault. */
	CHECK_IN(strstr(page, "<tr class=\"o-other\"><td class=\"id\"><a href=\"output/%3Cx%26y%3E\">"
			"&lt;x&amp;y&gt;</a></td>"
			"<td><span class=\"badge\">killed</span></td>") != NULL, page);
	check_args_cell(page, "&lt;x&amp;y&gt;", "kill");
	CHECK(strstr(page, "<x&y>") == NULL);
	/* The cards and the metrics count the four outcomes only. */
	CHECK(strstr(page, "<div class=\"card success\"><b>1</b>") != NULL);
	CHECK(report_metrics(s, &metrics, &len) == 0);
	CHECK(strstr(metrics, "killed") == NULL);
	CHECK_IN(has_line(metrics, "execlog_executions{outcome=\"error\"} 1"), metrics);
	free(metrics);
	free(page);
	store_close(s);
}

/* How many times @needle occurs in @hay. */
static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* The row report_row() makes of @rec, as a string (malloc'd); *@tail_at where a tail would go. */
static char *row_of(const struct store_record *rec, size_t *tail_at)
{
	struct text_buf b = { 0 }, scratch = { 0 };

	report_row(&b, &scratch, rec, tail_at);
	CHECK(!b.failed && !scratch.failed);
	free(scratch.data);
	return text_take(&b);
}

/* A record as a writer or another program may leave it: markup in every string it holds. */
static char g_id[] = "evil:1@x+y", g_outcome[] = "error", g_ver[] = "1.0", g_args[] = "[\"make\"]",
	g_host[] = "</script><img src=x onerror=alert(1)>", g_user[] = "\"o'neil\"&",
	g_msg[] = "exit 2", g_k1[] = "team", g_v1[] = "</script>\"<img src=x onerror=alert(2)>",
	g_k2[] = "ci.job-id_2", g_v2[] = "a b=c";

/* The most tags a record holds, each as long as it may be: the first KiB shown, the rest counted. */
static void test_row_many_tags(struct store_record *rec)
{
	static char keys[STORE_TAGS_MAX][STORE_TAG_KEY_MAX + 1], value[STORE_TAG_VALUE_MAX + 1];
	struct store_tag tags[STORE_TAGS_MAX];
	size_t tail_at;
	char *row;

	memset(value, '<', STORE_TAG_VALUE_MAX);
	for (int i = 0; i < STORE_TAGS_MAX; i++) {
		memset(keys[i], 'k', STORE_TAG_KEY_MAX);
		snprintf(keys[i], sizeof(keys[i]), "%02d", i);
		keys[i][2] = 'k';
		tags[i] = (struct store_tag){ keys[i], value };
	}
	rec->tags = tags;
	rec->ntags = STORE_TAGS_MAX;
	row = row_of(rec, &tail_at);
	/* 321 bytes of key=value each: three fit in REPORT_TAGS_SHOWN. */
	CHECK_IN(count_of(row, "<span class=\"k\">") == 3, row);
	CHECK_IN(strstr(row, "<span class=\"tag more\">+29 more</span></td>") != NULL, row);
	CHECK_IN(strstr(row, "<span class=\"k\">03k") == NULL, row);
	CHECK(strlen(row) < 12 * 1024);
	free(row);
}

/* Starts who-1 as the mount would, with the hostile host, user and tags of g_*. */
static void start_who(struct store *s)
{
	struct store_tag tags[] = { { g_k1, g_v1 }, { g_k2, g_v2 } };
	struct store_record rec = { 0 };

	rec.execution_id = strdup("who-1");
	rec.tool_version = strdup("1.0");
	rec.args = strdup("[\"make\"]");
	rec.db_path = strdup("/db");
	rec.host = strdup(g_host);
	rec.user = strdup(g_user);
	rec.uid = 1000;
	rec.pid = 42;
	rec.started_ms = T0 + 5000;
	CHECK(rec.execution_id && rec.tool_version && rec.args && rec.db_path && rec.host && rec.user);
	CHECK(store_tags_copy(tags, 2, &rec.tags) == 0);
	rec.ntags = 2;
	CHECK(store_start(s, &rec) == 0);
	store_record_clear(&rec);
}

static void test_row(void)
{
	struct store_tag tags[] = { { g_k1, g_v1 }, { g_k2, g_v2 } };
	struct store_record rec = {
		.execution_id = g_id, .outcome = g_outcome, .tool_version = g_ver, .args = g_args,
		.host = g_host, .user = g_user, .error_message = g_msg, .tags = tags, .ntags = 2,
		.started_at = T0 / 1000, .started_ms = T0, .duration_ms = 5, .output_bytes = 0,
	};
	struct store *s = open_store();
	size_t tail_at, len;
	char *row, *page;

	/* The page's table has the new columns, in the contract's order, one cell each. */
	known_log(s);
	start_who(s);
	CHECK(report_html(s, T0, &page, &len) == 0);
	CHECK_IN(strstr(page, "<th>duration</th><th>host</th><th>user</th><th>tool_version</th>"
			"<th>args</th><th>tags</th><th>error message</th>") != NULL, page);
	CHECK(count_of(page, "<th>") == 10);
	CHECK(count_of(page, "<td") == 10 * 5);
	/* What the store keeps of who and where, in the row, escaped. */
	CHECK_IN(strstr(page, "<td class=\"who\">&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;</td>"
			"<td class=\"who\">&quot;o&#39;neil&quot;&amp;</td><td>1.0</td>"
			"<td class=\"args\">make</td><td class=\"tags\"><span class=\"tag\" title=\"team=") != NULL,
		 page);
	CHECK_IN(count_of(page, "<img") == 0 && count_of(page, "</script>") == 1, page);
	free(page);
	store_close(s);

	row = row_of(&rec, &tail_at);
	/* Host, user and tags shown, as text: escaped, never markup. */
	CHECK_IN(strstr(row, "<td class=\"who\">&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;</td>"
			"<td class=\"who\">&quot;o&#39;neil&quot;&amp;</td>") != NULL, row);
	CHECK_IN(strstr(row, "<td class=\"tags\"><span class=\"tag\" title=\"team=&lt;/script&gt;"
			"&quot;&lt;img src=x onerror=alert(2)&gt;\"><span class=\"k\">team</span>="
			"&lt;/script&gt;&quot;&lt;img src=x onerror=alert(2)&gt;</span> "
			"<span class=\"tag\" title=\"ci.job-id_2=a b=c\"><span class=\"k\">ci.job-id_2"
			"</span>=a b=c</span></td>") != NULL, row);
	CHECK_IN(strstr(row, "<img") == NULL && strstr(row, "</script") == NULL, row);
	CHECK_IN(strchr(row, '\'') == NULL, row);
	/* The link to the output: : @ + percent-encoded. */
	CHECK_IN(strstr(row, "<td class=\"id\"><a href=\"output/evil%3A1%40x%2By\">evil:1@x+y</a></td>")
		 != NULL, row);
	/* A failed run with no output has no place for a tail. */
	CHECK(tail_at == SIZE_MAX);
	free(row);
	rec.output_bytes = 10;
	row = row_of(&rec, &tail_at);
	CHECK_IN(tail_at != SIZE_MAX && strncmp(row + tail_at, "</td></tr>", 10) == 0, row);
	CHECK(tail_at >= strlen("exit 2") && strncmp(row + tail_at - 6, "exit 2", 6) == 0);
	free(row);
	/* Nor a run that did not fail, output or not. */
	rec.outcome = g_ver;
	row = row_of(&rec, &tail_at);
	CHECK(tail_at == SIZE_MAX);
	free(row);
	test_row_many_tags(&rec);
}

/* Ids that cannot be a file of output/ show without a link; any byte is encoded. */
static void test_link(void)
{
	static const char *const unlinked[] = { "", ".", "..", "a/b" };
	struct text_buf b = { 0 };
	char id[300];
	struct store_record rec = { .outcome = g_outcome, .started_ms = T0, .duration_ms = 1 };
	size_t tail_at;
	char *row;

	for (size_t i = 0; i < sizeof(unlinked) / sizeof(unlinked[0]); i++) {
		rec.execution_id = (char *)unlinked[i];
		row = row_of(&rec, &tail_at);
		CHECK_IN(strstr(row, "<a ") == NULL, row);
		free(row);
	}
	memset(id, 'x', 256);
	id[256] = '\0';
	CHECK(!report_file_name(id));
	id[255] = '\0';
	CHECK(report_file_name(id));
	report_url_segment(&b, "a b%\"#?&<\xc3\xa9~._-Z9");
	CHECK(!b.failed);
	row = text_take(&b);
	CHECK_IN(strcmp(row, "a%20b%25%22%23%3F%26%3C%C3%A9~._-Z9") == 0, row);
	free(row);
}

/* report_tail_text() on @in (partial or not) gives @want. */
static void check_tail(const char *in, bool partial, const char *want)
{
	struct text_buf out = { 0 };
	char *got;

	report_tail_text(in, strlen(in), partial, &out);
	CHECK(!out.failed);
	got = text_take(&out);
	CHECK_IN(strcmp(got, want) == 0, got);
	free(got);
}

static void test_tail(void)
{
	/* The last five lines, without the final newline. */
	check_tail("1\n2\n3\n4\n5\n6\n7\n", false, "3\n4\n5\n6\n7");
	check_tail("1\n2\n3", false, "1\n2\n3");
	/* Read from the middle: the cut first line is dropped, unless it is the only one. */
	check_tail("ut line\nwhole\n", true, "whole");
	check_tail("end of a long line\n", true, "end of a long line");
	/* As a terminal shows it: CRLF, a progress bar, colors, a title, a bell. */
	check_tail("a\r\nb\r\n", false, "a\nb");
	check_tail("10%\r50%\r100%\ndone\n", false, "100%\ndone");
	check_tail("\x1b[1;31mFAIL\x1b[0m: x\a\n\x1b]0;title\aok\ttab\n", false, "FAIL: x\nok\ttab");
	/* Bytes that are not UTF-8 become U+FFFD; a character cut at the start goes. */
	check_tail("caf\xc3\xa9 \xff\xc3(\n", false, "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd(");
	check_tail("\xa9 rest", true, " rest");
	check_tail("\n\n", false, "");
}

/* Appends @text to the output of the running @name, at its end. */
static void append_output(struct store *s, const char *name, const char *text)
{
	struct store_record rec = { 0 };
	size_t written = 0;

	CHECK(store_get(s, name, &rec) == 0);
	CHECK(store_output_append(s, rec.id, (uint64_t)rec.output_bytes, text, strlen(text),
				  STORE_OUTPUT_MAX_DEFAULT, &written) == 0);
	CHECK(written == strlen(text));
	store_record_clear(&rec);
}

/*
 * A failed run shows the last lines of its output under its message,
 * escaped, read from its last KiB; a run that did not fail, or failed
 * silently, shows none.
 */
static void test_output(void)
{
	struct store *s = open_store();
	struct text_buf lines = { 0 };
	char *page, *row;
	size_t len;

	/* 100 lines of 24 bytes: 2,400 bytes, so only the last KiB is read. */
	for (int i = 0; i < 100; i++)
		text_printf(&lines, "line %03d <script>&\"x\n", i);
	CHECK(!lines.failed);
	start(s, "fail-1", T0, "[\"make\"]", "1.0");
	append_output(s, "fail-1", lines.data);
	finish(s, "fail-1", STORE_ERROR, "exit 2", T0 + 10);
	start(s, "ok-1", T0 + 1000, "[\"make\"]", "1.0");
	append_output(s, "ok-1", "all good\n");
	finish(s, "ok-1", STORE_SUCCESS, NULL, T0 + 1010);
	start(s, "quiet-1", T0 + 2000, "[\"make\"]", "1.0");
	finish(s, "quiet-1", STORE_ERROR, NULL, T0 + 2010);
	CHECK(report_html(s, T0, &page, &len) == 0);
	CHECK_IN(strstr(page, "<td class=\"err\">exit 2<pre class=\"tail\">"
			"line 095 &lt;script&gt;&amp;&quot;x\nline 096 &lt;script&gt;&amp;&quot;x\n"
			"line 097 &lt;script&gt;&amp;&quot;x\nline 098 &lt;script&gt;&amp;&quot;x\n"
			"line 099 &lt;script&gt;&amp;&quot;x</pre></td></tr>") != NULL, page);
	CHECK_IN(count_of(page, "<pre class=\"tail\">") == 1, page);
	CHECK(strstr(page, "line 094") == NULL && strstr(page, "all good") == NULL);
	CHECK(count_of(page, "<script") == 1);
	row = strstr(page, ">quiet-1</a>");
	CHECK_IN(row != NULL && strstr(row, "<td class=\"err\"></td></tr>") != NULL, page);
	free(page);
	free(lines.data);
	store_close(s);
}

/* A copy of the rendering of @kind from @c, and the store's work it took. */
static char *get_counted(struct report_cache *c, struct store *s, enum report_kind kind,
			 size_t *len, int64_t *changed_ms, uint64_t *visits)
{
	uint64_t before = store_visits(s);
	char *out = NULL;

	CHECK(report_get(c, s, kind, &out, len, changed_ms) == 0);
	*visits = store_visits(s) - before;
	return out;
}

/*
 * A log that did not change is served again without a store query, for as
 * long as it stays so: the store's work (store_visits(): index.html lists
 * the latest runs, so its rendering shows there) does not move, the bytes
 * and the time are the same, also past REPORT_CACHE_MS, the age after
 * which a cache without the store's version renders again. After a change
 * the rendering is fresh at once.
 */
static void test_unchanged(void)
{
	struct store *s = open_store();
	struct report_cache *c = report_cache_new();
	char *first[REPORT_KINDS], *again, *after;
	size_t first_len[REPORT_KINDS], again_len, after_len;
	int64_t first_ms[REPORT_KINDS], again_ms, after_ms, made;
	uint64_t work;

	CHECK(c != NULL);
	known_log(s);
	for (int k = 0; k < REPORT_KINDS; k++) {
		first[k] = get_counted(c, s, k, &first_len[k], &first_ms[k], &work);
		/* A rendering does work that store_visits() sees (index.html's listing). */
		CHECK(k != REPORT_HTML || work > 0);
	}
	made = store_now_ms(); /* after both renderings */
	/* Past the age limit, by the clock (a poll of it, not a timed assertion). */
	while (store_now_ms() <= made + REPORT_CACHE_MS)
		usleep(20000);
	for (int k = 0; k < REPORT_KINDS; k++) {
		for (int i = 0; i < 3; i++) {
			again = get_counted(c, s, k, &again_len, &again_ms, &work);
			/* (Unless it is another UTC day now: index.html's chart moved on.) */
			CHECK(work == 0 || made / 86400000 != store_now_ms() / 86400000);
			CHECK(again_len == first_len[k] && memcmp(again, first[k], again_len) == 0);
			CHECK(again_ms == first_ms[k]);
			free(again);
		}
		free(first[k]);
	}
	/* A change: each kind fresh at once, and then cached again. */
	finish(s, "run-1", STORE_ERROR, "stopped", T0 + 4000);
	for (int k = 0; k < REPORT_KINDS; k++) {
		after = get_counted(c, s, k, &after_len, &after_ms, &work);
		CHECK(k != REPORT_HTML || work > 0);
		CHECK_IN(strstr(after, k == REPORT_HTML ? "<div class=\"card error\"><b>2</b>"
						       : "execlog_executions{outcome=\"error\"} 2") != NULL,
			 after);
		again = get_counted(c, s, k, &again_len, &again_ms, &work);
		CHECK(work == 0);
		CHECK(again_len == after_len && memcmp(again, after, again_len) == 0);
		free(again);
		free(after);
	}
	report_cache_free(c);
	store_close(s);
}

/*
 * A row that another program rewrote, which leaves the counts and the
 * latest id as they were, shows at the next read: the store's version
 * moved (before it, a rendering was kept up to REPORT_CACHE_MS then).
 */
static void test_foreign_cache(void)
{
	struct store *s = open_store();
	struct report_cache *c = report_cache_new();
	char *page;
	size_t len;

	CHECK(c != NULL);
	known_log(s);
	CHECK(report_get(c, s, REPORT_HTML, &page, &len, NULL) == 0);
	CHECK_IN(strstr(page, "it &lt;broke&gt; &amp; stopped") != NULL, page);
	free(page);
	sqlite_shell("UPDATE execution_log SET error_message = 'rewritten' WHERE execution_id = 'bad-1'");
	CHECK(report_get(c, s, REPORT_HTML, &page, &len, NULL) == 0);
	CHECK_IN(strstr(page, "rewritten") != NULL, page);
	free(page);
	report_cache_free(c);
	store_close(s);
}

static const struct {
	const char *name;
	void (*run)(void);
} cases[] = {
	{ "metrics", test_metrics },
	{ "html", test_html },
	{ "args", test_args },
	{ "cache", test_cache },
	{ "foreign", test_foreign },
	{ "row", test_row },
	{ "link", test_link },
	{ "tail", test_tail },
	{ "output", test_output },
	{ "unchanged", test_unchanged },
	{ "foreign_cache", test_foreign_cache },
};

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s BACKEND CASE\n", argv[0]);
		return 1;
	}
	g_backend = argv[1];
	g_case = argv[2];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(g_case, cases[i].name) == 0) {
			cases[i].run();
			return 0;
		}
	}
	fprintf(stderr, "%s: no case %s\n", argv[0], g_case);
	return 1;
}
