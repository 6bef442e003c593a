/*
 * report_text.h - the pieces of text report.c renders index.html and
 * metrics.prom from (report_text.c); read by report*.c and tests/unit/test_report.c.
 */
#ifndef EXECLOG_REPORT_TEXT_H
#define EXECLOG_REPORT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "text.h"

/* Appends @n bytes of @s escaped for HTML text and attribute values (quoted with "). */
void report_html_n(struct text_buf *b, const char *s, size_t n);

/* Appends the @len bytes of @s escaped, cut to a bounded length with an ellipsis. */
void report_html_cell_n(struct text_buf *b, const char *s, size_t len);

/* As report_html_cell_n() for the string @s; NULL as @null_text. */
void report_html_cell(struct text_buf *b, const char *s, const char *null_text);

/* A duration for people: "340 ms", "12.3 s", "4 min 05 s", "2 h 03 min" (below 0: "0 ms"). */
void report_duration_text(int64_t ms, char *buf, size_t size);

/* The shapes of UTC times shown. */
enum report_time_shape {
	UTC_FULL,  /* 2026-01-05 13:45:02 */
	UTC_SHORT, /* 01-05 13:45 */
	UTC_DAY,   /* 2026-01-05 */
	UTC_MONTH_DAY, /* 01-05 */
};

/* Unix time @t in UTC, shaped as @shape; a time no calendar holds as its number. */
void report_utc(int64_t t, enum report_time_shape shape, char *buf, size_t size);

/* Appends @ms as seconds with three decimals ("-1.500"), for any int64. */
void report_seconds(struct text_buf *b, int64_t ms);

/* @s seconds in ms, saturated at the ends of the int64 range. */
int64_t report_ms_of_seconds(int64_t s);

/*
 * When @rec started, in ms: started_ms where it agrees with started_at (a
 * row another program wrote may have a started_at no ms value can hold),
 * else started_at in ms, saturated.
 */
int64_t report_started_ms(const struct store_record *rec);

/*
 * The arguments (a JSON array of strings) as a command line the shell
 * reads back as them, appended to @out. Display only: a text that is not
 * an array of strings shows the strings before the fault, and past @max
 * bytes the line is cut (at a character) and ends in "…".
 */
void report_args_text(const char *json, size_t max, struct text_buf *out);

/* How many executions the store holds with each of the four outcomes. 0 or -errno. */
int report_counts(struct store *s, uint64_t counts[STORE_OUTCOMES]);

#endif
