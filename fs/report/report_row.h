/*
 * report_row.h - one execution as a row of index.html's table
 * (report_row.c), and the last lines of a failed run's output shown under
 * its message; read by report.c and tests/unit/test_report.c.
 */
#ifndef EXECLOG_REPORT_ROW_H
#define EXECLOG_REPORT_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "text.h"

/* How much of a row's tags index.html shows (bytes of key=value text); the rest is counted. */
#define REPORT_TAGS_SHOWN 1024

/* How much of a failed run's output is read for its last lines: the last KiB at most. */
#define REPORT_TAIL_BYTES 1024

/* How many lines of it are shown, at most. */
#define REPORT_TAIL_LINES 5

/*
 * Appends the <tr> of @rec to @b (@scratch is reused for its args). When
 * the run failed and has output, *@tail_at is where in @b the last lines
 * of that output belong (inside its message cell: report_tail() fills
 * them in once the listing is over); else it is SIZE_MAX.
 */
void report_row(struct text_buf *b, struct text_buf *scratch, const struct store_record *rec,
		size_t *tail_at);

/* Whether @name can be a file of output/: 1-255 bytes, not "." or "..", no '/'. */
bool report_file_name(const char *name);

/* Appends @name percent-encoded as one segment of a relative URL: all but A-Z a-z 0-9 . _ - ~. */
void report_url_segment(struct text_buf *b, const char *name);

/*
 * The last lines of the @n bytes of output at @buf, as text for people
 * (not yet escaped), appended to @out: at most REPORT_TAIL_LINES lines,
 * without the line cut in two when @partial (@buf does not start at the
 * output's start) and there is a whole one, and without what a terminal
 * would not show (escape sequences, text a carriage return wrote over,
 * other control characters); bytes that are not UTF-8 become U+FFFD.
 */
void report_tail_text(const char *buf, size_t n, bool partial, struct text_buf *out);

/*
 * Reads the end of the output of execution @id (@output_bytes long) and
 * appends its last lines to @b as a <pre class="tail">, escaped. Nothing
 * when the store keeps no output, the output is gone or holds no line:
 * 0, or -ENOMEM.
 */
int report_tail(struct store *s, int64_t id, int64_t output_bytes, struct text_buf *b);

#endif
