/*
 * report_row.c - one execution as a row of index.html's table: its id as
 * a link to its output, outcome, times, host, user, tool_version, args,
 * tags as key=value chips and error message; and the last lines of a
 * failed run's output, read from the store and shown under its message.
 *
 * Every string in a row comes from writers and other programs (tags,
 * host, user, a row the sqlite3 shell wrote): each is HTML-escaped and
 * bounded, so no value can end an element, an attribute or the page's
 * script (which holds no store data at all), and a row costs at most a
 * few KiB whatever the record holds. The output's last lines are cleaned
 * of what a terminal would not show (escape sequences, text a carriage
 * return wrote over) before they are escaped.
 *
 * Left out: the page around the rows and the charts (report.c), escaping
 * and times as text (report_text.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "report_row.h"
#include "report_text.h"

/* The start and duration cells of a row; a row without a duration shows @none. */
static void report_time_cells(struct text_buf *b, const struct store_record *rec,
			      bool has_duration, const char *none)
{
	int64_t started_ms = report_started_ms(rec);
	char when[64], dur[32];

	report_utc(rec->started_at, UTC_FULL, when, sizeof(when));
	text_printf(b, "<td data-v=\"%" PRId64 "\"><time data-t=\"%" PRId64 "\">%s UTC</time></td>",
		    started_ms, started_ms, when);
	if (has_duration) {
		report_duration_text(rec->duration_ms, dur, sizeof(dur));
		text_printf(b, "<td class=\"num\" data-v=\"%" PRId64 "\">%s</td>", rec->duration_ms, dur);
	} else {
		text_printf(b, "<td class=\"num\" data-v=\"-1\"><span class=\"muted\">%s</span></td>", none);
	}
}

bool report_file_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	return n > 0 && n <= 255 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
	       memchr(name, '/', n) == NULL;
}

void report_url_segment(struct text_buf *b, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };

		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '_' || *p == '-' || *p == '~')
			text_add(b, (const char *)p, 1);
		else
			text_add(b, esc, 3);
	}
}

/*
 * The id cell: a link to output/<id>, relative, so that it works from
 * file:// and over any server that serves the mount. A name that cannot
 * be a file there (a row another program wrote) is shown without one.
 */
static void report_id_cell(struct text_buf *b, const char *id)
{
	text_add_str(b, "<td class=\"id\">");
	if (report_file_name(id)) {
		/* Percent-encoded, then escaped: "%" and A-Z... need no escaping, but cheap to be sure. */
		struct text_buf href = { 0 };

		report_url_segment(&href, id);
		text_add_str(b, "<a href=\"output/");
		report_html_n(b, href.data ? href.data : "", href.len);
		text_add_str(b, "\">");
		report_html_cell(b, id, "");
		text_add_str(b, "</a>");
		b->failed |= href.failed;
		free(href.data);
	} else {
		report_html_cell(b, id, "");
	}
	text_add_str(b, "</td>");
}

/*
 * The tags cell: a chip per tag, "key=value", in the start document's
 * order, separated by spaces so that the filter box finds "key=value" and
 * never a value run into the next key. Past REPORT_TAGS_SHOWN bytes the
 * rest is counted ("+3 more"); a chip too wide for its column is cut by
 * the style, and its title holds it whole.
 */
static void report_tags_cell(struct text_buf *b, const struct store_record *rec)
{
	size_t shown = 0, i;

	text_add_str(b, "<td class=\"tags\">");
	for (i = 0; i < rec->ntags; i++) {
		const char *k = rec->tags[i].key ? rec->tags[i].key : "";
		const char *v = rec->tags[i].value ? rec->tags[i].value : "";
		size_t kn = strlen(k), vn = strlen(v);

		if (shown + kn + 1 + vn > REPORT_TAGS_SHOWN)
			break;
		shown += kn + 1 + vn;
		text_add_str(b, i ? " <span class=\"tag\" title=\"" : "<span class=\"tag\" title=\"");
		report_html_n(b, k, kn);
		text_add_str(b, "=");
		report_html_n(b, v, vn);
		text_add_str(b, "\"><span class=\"k\">");
		report_html_n(b, k, kn);
		text_add_str(b, "</span>=");
		report_html_n(b, v, vn);
		text_add_str(b, "</span>");
	}
	if (i < rec->ntags)
		text_printf(b, " <span class=\"tag more\">+%zu more</span>", rec->ntags - i);
	text_add_str(b, "</td>");
}

void report_row(struct text_buf *b, struct text_buf *scratch, const struct store_record *rec,
		size_t *tail_at)
{
	int outcome = store_outcome_from_name(rec->outcome);
	bool has_duration = rec->duration_ms != STORE_NULL && outcome != STORE_RUNNING;

	*tail_at = SIZE_MAX;
	text_printf(b, "<tr class=\"o-%s\">", outcome < 0 ? "other" : store_outcome_name(outcome));
	report_id_cell(b, rec->execution_id);
	text_add_str(b, "<td><span class=\"badge\">");
	report_html_cell(b, rec->outcome, "");
	text_add_str(b, "</span></td>");
	report_time_cells(b, rec, has_duration, outcome == STORE_RUNNING ? "running" : "");
	text_add_str(b, "<td class=\"who\">");
	report_html_cell(b, rec->host, "");
	text_add_str(b, "</td><td class=\"who\">");
	report_html_cell(b, rec->user, "");
	text_add_str(b, "</td><td>");
	report_html_cell(b, rec->tool_version, "");
	text_add_str(b, "</td><td class=\"args\">");
	/* Reused from row to row: only its first len bytes are this row's. */
	scratch->len = 0;
	report_args_text(rec->args, REPORT_ARGS_SHOWN, scratch);
	report_html_cell_n(b, scratch->data ? scratch->data : "", scratch->len);
	text_add_str(b, "</td>");
	report_tags_cell(b, rec);
	text_add_str(b, "<td class=\"err\">");
	report_html_cell(b, rec->error_message, "");
	if (outcome == STORE_ERROR && rec->output_bytes > 0)
		*tail_at = b->len;
	text_add_str(b, "</td></tr>\n");
}

/* --- the last lines of a failed run's output --- */

/* The end of the escape sequence that starts at @s[@i] (ESC): CSI, OSC, or ESC and one byte. */
static size_t report_skip_escape(const char *s, size_t n, size_t i)
{
	if (i + 1 >= n)
		return n;
	if (s[i + 1] == '[') { /* CSI: parameters, then a final byte in @ to ~ */
		for (i += 2; i < n; i++)
			if (s[i] >= 0x40 && s[i] <= 0x7e)
				return i + 1;
		return n;
	}
	if (s[i + 1] == ']') { /* OSC: up to BEL or ESC \ */
		for (i += 2; i < n; i++) {
			if (s[i] == '\a')
				return i + 1;
			if (s[i] == 0x1b)
				return i + 2 <= n ? i + 2 : n;
		}
		return n;
	}
	return i + 2;
}

/* Appends one line (no '\n') as a terminal shows it: valid UTF-8, no control characters but tabs. */
static void report_clean_line(const char *s, size_t n, struct text_buf *out)
{
	size_t i = 0;

	/* A carriage return (a progress bar) starts the line over; one before the end ends a CRLF line. */
	while (n > 0 && s[n - 1] == '\r')
		n--;
	for (size_t k = n; k > 0; k--) {
		if (s[k - 1] == '\r') {
			i = k;
			break;
		}
	}
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		struct utf8_state u = { 0 };
		size_t j = i + 1;

		if (c == 0x1b) {
			i = report_skip_escape(s, n, i);
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			i++;
			continue;
		}
		if (c < 0x80) {
			text_add(out, s + i, 1);
			i++;
			continue;
		}
		if (utf8_lead(&u, c) == 0)
			while (u.left > 0 && j < n && utf8_continue(&u, (unsigned char)s[j]) == 0)
				j++;
		if (u.left == 0 && j > i + 1)
			text_add(out, s + i, j - i);
		else
			text_add_str(out, "\xef\xbf\xbd"); /* U+FFFD */
		i = j;
	}
}

void report_tail_text(const char *buf, size_t n, bool partial, struct text_buf *out)
{
	size_t start = 0, end = n, lines = 0;
	const char *nl;

	/* Read from the middle: the first line is cut, unless it is the only one. */
	if (partial && (nl = memchr(buf, '\n', n)) != NULL && (size_t)(nl - buf) + 1 < n)
		start = (size_t)(nl - buf) + 1;
	while (partial && start < end && ((unsigned char)buf[start] & 0xc0) == 0x80)
		start++;
	while (end > start && (buf[end - 1] == '\n' || buf[end - 1] == '\r'))
		end--;
	/* Back from the end to the start of the last REPORT_TAIL_LINES lines. */
	for (size_t i = end; i > start; i--) {
		if (buf[i - 1] == '\n' && ++lines == REPORT_TAIL_LINES) {
			start = i;
			break;
		}
	}
	while (start < end) {
		size_t stop;

		nl = memchr(buf + start, '\n', end - start);
		stop = nl ? (size_t)(nl - buf) : end;

		report_clean_line(buf + start, stop - start, out);
		if (nl)
			text_add_str(out, "\n");
		start = stop + 1;
	}
}

int report_tail(struct store *s, int64_t id, int64_t output_bytes, struct text_buf *b)
{
	char buf[REPORT_TAIL_BYTES];
	uint64_t from;
	struct text_buf lines = { 0 };
	size_t got = 0, blank = 0;
	int err;

	if (output_bytes <= 0)
		return 0;
	from = output_bytes > REPORT_TAIL_BYTES ? (uint64_t)output_bytes - REPORT_TAIL_BYTES : 0;
	err = store_output_read(s, id, from, buf, sizeof(buf), &got);
	/* No output kept (-EOPNOTSUPP), or deleted since the listing: nothing to show. */
	if (err)
		return err == -ENOMEM ? err : 0;
	report_tail_text(buf, got, from > 0, &lines);
	while (blank < lines.len && (lines.data[blank] == '\n' || lines.data[blank] == ' ' ||
				     lines.data[blank] == '\t'))
		blank++;
	if (blank < lines.len) {
		text_add_str(b, "<pre class=\"tail\">");
		report_html_n(b, lines.data, lines.len);
		text_add_str(b, "</pre>");
	}
	err = lines.failed ? -ENOMEM : 0;
	free(lines.data);
	return err;
}
