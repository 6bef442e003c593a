/*
 * report_text.c - the text that index.html and metrics.prom are made of:
 * HTML escaping, times and durations as text, and a JSON array of
 * arguments as a command line the shell reads back (the buffer and UTF-8
 * are store/text.c's, the arguments' decoding record.c's).
 *
 * Everything here takes any value a store may hold (a row another program
 * wrote: a time anywhere in int64, an argument with quotes and newlines)
 * and never overflows or writes past what it was given.
 *
 * Left out: the page and the metrics themselves (report.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record.h"
#include "report_text.h"

/* The longest text of one field a table cell shows, in bytes; longer is cut with an ellipsis. */
#define REPORT_CELL_MAX 400

/* Appends @n bytes of @s escaped for HTML text and attribute values (quoted with "). */
void report_html_n(struct text_buf *b, const char *s, size_t n)
{
	size_t from = 0;

	for (size_t i = 0; i < n; i++) {
		const char *rep;

		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		case '\0': rep = "\xef\xbf\xbd"; break; /* U+FFFD: HTML has no NUL */
		default: continue;
		}
		text_add(b, s + from, i - from);
		text_add_str(b, rep);
		from = i + 1;
	}
	text_add(b, s + from, n - from);
}

/* Appends the @len bytes of @s escaped, cut to REPORT_CELL_MAX bytes with an ellipsis. */
void report_html_cell_n(struct text_buf *b, const char *s, size_t len)
{
	size_t cut = utf8_cut(s, len, REPORT_CELL_MAX);

	report_html_n(b, s, cut);
	if (cut < len)
		text_add_str(b, "\xe2\x80\xa6");
}

/* Appends @s escaped, cut to REPORT_CELL_MAX bytes with an ellipsis; NULL as @null_text. */
void report_html_cell(struct text_buf *b, const char *s, const char *null_text)
{
	if (s == NULL)
		text_add_str(b, null_text);
	else
		report_html_cell_n(b, s, strlen(s));
}

/* --- what is shown of a record --- */

/* "340 ms", "12.3 s", "4 min 05 s", "2 h 03 min". */
void report_duration_text(int64_t ms, char *buf, size_t size)
{
	if (ms < 1000)
		snprintf(buf, size, "%" PRId64 " ms", ms < 0 ? 0 : ms);
	else if (ms < 60000)
		snprintf(buf, size, "%.1f s", (double)ms / 1000);
	else if (ms < 3600000)
		snprintf(buf, size, "%" PRId64 " min %02" PRId64 " s", ms / 60000, ms / 1000 % 60);
	else
		snprintf(buf, size, "%" PRId64 " h %02" PRId64 " min", ms / 3600000, ms / 60000 % 60);
}

void report_utc(int64_t t, enum report_time_shape shape, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(buf, size, "%" PRId64, t);
		return;
	}
	switch (shape) {
	case UTC_FULL:
		snprintf(buf, size, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		break;
	case UTC_SHORT:
		snprintf(buf, size, "%02d-%02d %02d:%02d", tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
		break;
	case UTC_DAY:
		snprintf(buf, size, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
		break;
	case UTC_MONTH_DAY:
		snprintf(buf, size, "%02d-%02d", tm.tm_mon + 1, tm.tm_mday);
		break;
	}
}

/* Whether the shell reads byte @c as itself, unquoted: shlex's safe set, and UTF-8 beyond ASCII. */
static bool report_shell_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("@%+=:,./-_", c) != NULL) || c >= 0x80;
}

/*
 * Appends the @n bytes of @s as one word the shell reads back as them:
 * bare when every byte is safe; in $'...' (bash's ANSI-C quoting) when a
 * control character is in it, since '...' would not show a newline as one;
 * else in '...', each ' written '\''.
 */
static void report_shell_word(struct text_buf *out, const char *s, size_t n)
{
	bool bare = n > 0, control = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		bare = bare && report_shell_safe(c);
		control = control || c < 0x20 || c == 0x7f;
	}
	if (bare) {
		text_add(out, s, n);
		return;
	}
	text_add_str(out, control ? "$'" : "'");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!control && c == '\'')
			text_add_str(out, "'\\''");
		else if (!control)
			text_add(out, s + i, 1);
		else if (c == '\n')
			text_add_str(out, "\\n");
		else if (c == '\t')
			text_add_str(out, "\\t");
		else if (c == '\r')
			text_add_str(out, "\\r");
		else if (c == '\\' || c == '\'')
			text_printf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			text_printf(out, "\\x%02x", c);
		else
			text_add(out, s + i, 1);
	}
	text_add_str(out, "'");
}

/* Where report_args_text() is: the line, where this row's began, and its cap. */
struct report_args_line {
	struct text_buf *out;
	size_t begin, max;
};

/* One argument more on the line; stops the args once the line is past its cap. */
static int report_args_word(void *ctx, const char *arg, size_t len)
{
	struct report_args_line *line = ctx;

	if (line->out->len > line->begin)
		text_add_str(line->out, " ");
	report_shell_word(line->out, arg, len);
	return line->out->len - line->begin > line->max;
}

/*
 * The arguments (a JSON array of strings) as a command line the shell
 * reads back as them, into @out. The strings are decoded by record.c's
 * reader; display only: a text that is not an array of strings (a row
 * another program wrote) shows the strings before the fault.
 */
void report_args_text(const char *json, size_t max, struct text_buf *out)
{
	struct report_args_line line = { out, out->len, max };

	/* A text that is not an array of strings is shown as far as it is one. */
	if (record_args_each(json, report_args_word, &line) == -ENOMEM)
		out->failed = true;
	/* Cut where no UTF-8 sequence is split: before a byte that starts a character. */
	if (!out->failed && out->len - line.begin > max) {
		out->len = line.begin + utf8_cut(out->data + line.begin, out->len - line.begin, max);
		text_add_str(out, "\xe2\x80\xa6"); /* … */
	}
}

/* @s seconds in ms, saturated at the ends of the int64 range. */
int64_t report_ms_of_seconds(int64_t s)
{
	if (s > INT64_MAX / 1000)
		return INT64_MAX;
	if (s < INT64_MIN / 1000)
		return INT64_MIN;
	return s * 1000;
}

/*
 * When @rec started, in ms: started_ms where it agrees with started_at (a
 * row another program wrote may have a started_at no ms value can hold),
 * else started_at in ms, saturated.
 */
int64_t report_started_ms(const struct store_record *rec)
{
	int64_t ms = rec->started_ms, s = ms / 1000 - (ms % 1000 < 0);

	return s == rec->started_at ? ms : report_ms_of_seconds(rec->started_at);
}

/* Appends @ms as seconds with three decimals, for any int64 (no negation overflows). */
void report_seconds(struct text_buf *b, int64_t ms)
{
	uint64_t mag = ms < 0 ? -(uint64_t)ms : (uint64_t)ms;

	text_printf(b, "%s%" PRIu64 ".%03" PRIu64, ms < 0 ? "-" : "", mag / 1000, mag % 1000);
}

int report_counts(struct store *s, uint64_t counts[STORE_OUTCOMES])
{
	int err = 0;

	memset(counts, 0, STORE_OUTCOMES * sizeof(counts[0]));
	for (int o = 0; o < STORE_OUTCOMES && err == 0; o++) {
		struct store_filter f = { .outcome = o, .day = -1 };

		err = store_count(s, &f, &counts[o]);
	}
	return err;
}
