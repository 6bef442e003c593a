/*
 * report_text.c - the text that index.html and metrics.prom are made of: a
 * growing buffer, HTML escaping, times and durations as text, and a JSON
 * array of arguments as a command line the shell reads back.
 *
 * Everything here takes any value a store may hold (a row another program
 * wrote: a time anywhere in int64, an argument with quotes and newlines)
 * and never overflows or writes past what it was given.
 *
 * Left out: the page and the metrics themselves (report.c).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report_text.h"

/* The longest text of one field a table cell shows, in bytes; longer is cut with an ellipsis. */
#define REPORT_CELL_MAX 400

/* --- a growing buffer; once out of memory it stays failed --- */

static bool report_room(struct report_buf *b, size_t more)
{
	size_t cap;
	char *grown;

	if (b->failed)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 16384;
	while (cap < b->len + more + 1)
		cap *= 2;
	grown = realloc(b->p, cap);
	if (grown == NULL) {
		b->failed = true;
		return false;
	}
	b->p = grown;
	b->cap = cap;
	return true;
}

void report_put_n(struct report_buf *b, const char *s, size_t n)
{
	if (!report_room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void report_put(struct report_buf *b, const char *s)
{
	report_put_n(b, s, strlen(s));
}

void report_printf(struct report_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !report_room(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Appends @n bytes of @s escaped for HTML text and attribute values (quoted with "). */
void report_html_n(struct report_buf *b, const char *s, size_t n)
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
		report_put_n(b, s + from, i - from);
		report_put(b, rep);
		from = i + 1;
	}
	report_put_n(b, s + from, n - from);
}

/* The length of @s cut to at most @max bytes, at a UTF-8 character boundary. */
static size_t report_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* Appends the @len bytes of @s escaped, cut to REPORT_CELL_MAX bytes with an ellipsis. */
void report_html_cell_n(struct report_buf *b, const char *s, size_t len)
{
	size_t cut = report_cut(s, len, REPORT_CELL_MAX);

	report_html_n(b, s, cut);
	if (cut < len)
		report_put(b, "\xe2\x80\xa6");
}

/* Appends @s escaped, cut to REPORT_CELL_MAX bytes with an ellipsis; NULL as @null_text. */
void report_html_cell(struct report_buf *b, const char *s, const char *null_text)
{
	if (s == NULL)
		report_put(b, null_text);
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

/* Appends a UTF-8 code point (from a JSON \u escape). */
static void report_put_code_point(struct report_buf *b, unsigned long cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	report_put_n(b, u, n);
}

/* The value of the 4 hex digits at @p (before @end), or -1. */
static long report_hex4(const char *p, const char *end)
{
	long v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * Decodes the JSON string body [@p, @end) into @out, as the bytes it
 * stands for (a NUL or a lone surrogate as U+FFFD); display only.
 */
static void report_json_string(const char *p, const char *end, struct report_buf *out)
{
	while (p < end) {
		long cp, lo;

		if (*p != '\\' || p + 1 >= end) {
			report_put_n(out, p++, 1);
			continue;
		}
		p++;
		switch (*p++) {
		case 'n': report_put(out, "\n"); break;
		case 't': report_put(out, "\t"); break;
		case 'r': report_put(out, "\r"); break;
		case 'b': report_put(out, "\b"); break;
		case 'f': report_put(out, "\f"); break;
		case 'u':
			cp = report_hex4(p, end);
			if (cp < 0) {
				report_put(out, "\\u");
				break;
			}
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
			    (lo = report_hex4(p + 2, end)) >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			if (cp == 0 || (cp >= 0xd800 && cp < 0xe000))
				cp = 0xfffd;
			report_put_code_point(out, (unsigned long)cp);
			break;
		default: report_put_n(out, p - 1, 1); break;
		}
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
static void report_shell_word(struct report_buf *out, const char *s, size_t n)
{
	bool bare = n > 0, control = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		bare = bare && report_shell_safe(c);
		control = control || c < 0x20 || c == 0x7f;
	}
	if (bare) {
		report_put_n(out, s, n);
		return;
	}
	report_put(out, control ? "$'" : "'");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!control && c == '\'')
			report_put(out, "'\\''");
		else if (!control)
			report_put_n(out, s + i, 1);
		else if (c == '\n')
			report_put(out, "\\n");
		else if (c == '\t')
			report_put(out, "\\t");
		else if (c == '\r')
			report_put(out, "\\r");
		else if (c == '\\' || c == '\'')
			report_printf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			report_printf(out, "\\x%02x", c);
		else
			report_put_n(out, s + i, 1);
	}
	report_put(out, "'");
}

/*
 * The arguments (a JSON array of strings) as a command line the shell
 * reads back as them, into @out, with @word for each decoded string.
 * Display only: what is not a string is skipped.
 */
void report_args_text(const char *json, size_t max, struct report_buf *out,
		      struct report_buf *word)
{
	const char *p = json ? json : "";
	size_t begin = out->len;
	bool first = true;

	for (p = strchr(p, '"'); p; p = *p ? strchr(p + 1, '"') : NULL) {
		if (out->len - begin > max)
			break;
		const char *start = ++p, *end = p;

		while (*end && *end != '"')
			end += *end == '\\' && end[1] ? 2 : 1;
		word->len = 0;
		report_json_string(start, end, word);
		if (!first)
			report_put(out, " ");
		first = false;
		report_shell_word(out, word->p ? word->p : "", word->len);
		p = end;
	}
	/* Cut where no UTF-8 sequence is split: before a byte that starts a character. */
	if (!out->failed && out->len - begin > max) {
		out->len = begin + max;
		while (out->len > begin && ((unsigned char)out->p[out->len] & 0xc0) == 0x80)
			out->len--;
		report_put(out, "\xe2\x80\xa6"); /* … */
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
void report_seconds(struct report_buf *b, int64_t ms)
{
	uint64_t mag = ms < 0 ? -(uint64_t)ms : (uint64_t)ms;

	report_printf(b, "%s%" PRIu64 ".%03" PRIu64, ms < 0 ? "-" : "", mag / 1000, mag % 1000);
}
