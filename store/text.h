/*
 * text.h - a growing text buffer and strict UTF-8, shared by record.c (its
 * scanner and its rendering) and the reports (fs/report/).
 *
 * Nothing here knows JSON, HTML or a store: bytes in, bytes out.
 */
#ifndef EXECLOG_TEXT_H
#define EXECLOG_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A growing buffer, NUL-terminated once anything was added. One failed
 * allocation makes it fail for good (and add nothing more), so a caller
 * checks ->failed once at the end. One that measures (->measure) only
 * counts what would be added: a size is its rendering's, by the same code,
 * without the bytes. Zero-initialised is empty; free(->data) when done.
 */
struct text_buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed;
	bool measure;
};

/* Appends the @n bytes at @s. */
void text_add(struct text_buf *tb, const char *s, size_t n);

/* Appends the string @s. */
void text_add_str(struct text_buf *tb, const char *s);

/* Appends printf(@fmt, ...). */
void text_printf(struct text_buf *tb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Takes the bytes out as a malloc'd string ("" when empty); NULL when out of memory. */
char *text_take(struct text_buf *tb);

/* UTF-8, checked strictly one byte at a time (Unicode table 3-7). */
struct utf8_state {
	unsigned char left; /* continuation bytes still expected */
	unsigned char lo;   /* bounds of the next continuation byte */
	unsigned char hi;
};

/* Starts a multi-byte sequence at lead byte @b; -1 if @b cannot lead one. */
int utf8_lead(struct utf8_state *u, unsigned char b);

/* Takes continuation byte @b; -1 if it does not fit. */
int utf8_continue(struct utf8_state *u, unsigned char b);

/* Writes code point @cp (at most U+10FFFF) as UTF-8 into @out; returns its length, 1 to 4. */
size_t utf8_encode(uint32_t cp, char out[4]);

/* True if @buf holds no NUL and is valid UTF-8 throughout. */
bool utf8_valid_text(const char *buf, size_t len);

/*
 * The length of the @len bytes at @s cut to at most @max, at a character
 * boundary: never inside a UTF-8 sequence.
 */
size_t utf8_cut(const char *s, size_t len, size_t max);

#endif
