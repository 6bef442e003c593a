/*
 * text.c - a growing text buffer and strict UTF-8 (see text.h).
 *
 * Left out: what the text means (record.c renders JSON, fs/report/ HTML
 * and the Prometheus format).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* Makes room for @more bytes and a NUL; false (and failed for good) when out of memory. */
static bool text_room(struct text_buf *tb, size_t more)
{
	size_t cap;
	char *grown;

	if (tb->failed)
		return false;
	if (more < tb->cap - tb->len)
		return true;
	if (more > SIZE_MAX / 4 - tb->len)
		goto fail;
	cap = tb->cap ? tb->cap : 1024;
	while (more >= cap - tb->len)
		cap *= 2;
	grown = realloc(tb->data, cap);
	if (grown == NULL)
		goto fail;
	tb->data = grown;
	tb->cap = cap;
	return true;
fail:
	tb->failed = true;
	return false;
}

void text_add(struct text_buf *tb, const char *s, size_t n)
{
	if (tb->measure) {
		tb->len += n;
		return;
	}
	if (!text_room(tb, n))
		return;
	memcpy(tb->data + tb->len, s, n);
	tb->len += n;
	tb->data[tb->len] = '\0';
}

void text_add_str(struct text_buf *tb, const char *s)
{
	text_add(tb, s, strlen(s));
}

void text_printf(struct text_buf *tb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		tb->failed = true;
		return;
	}
	if (tb->measure) {
		tb->len += (size_t)n;
		return;
	}
	if (!text_room(tb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(tb->data + tb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	tb->len += (size_t)n;
}

size_t utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

char *text_take(struct text_buf *tb)
{
	char *s = tb->data;

	if (tb->failed) {
		free(tb->data);
		s = NULL;
	} else if (s == NULL) {
		s = strdup("");
	}
	*tb = (struct text_buf){ 0 };
	return s;
}

int utf8_lead(struct utf8_state *u, unsigned char b)
{
	u->lo = 0x80;
	u->hi = 0xbf;
	if (b >= 0xc2 && b <= 0xdf) {
		u->left = 1;
	} else if (b >= 0xe0 && b <= 0xef) {
		u->left = 2;
		if (b == 0xe0)
			u->lo = 0xa0; /* no overlongs */
		else if (b == 0xed)
			u->hi = 0x9f; /* no UTF-16 surrogates */
	} else if (b >= 0xf0 && b <= 0xf4) {
		u->left = 3;
		if (b == 0xf0)
			u->lo = 0x90; /* no overlongs */
		else if (b == 0xf4)
			u->hi = 0x8f; /* nothing past U+10FFFF */
	} else {
		return -1;
	}
	return 0;
}

int utf8_continue(struct utf8_state *u, unsigned char b)
{
	if (b < u->lo || b > u->hi)
		return -1;
	u->left--;
	u->lo = 0x80;
	u->hi = 0xbf;
	return 0;
}

bool utf8_valid_text(const char *buf, size_t len)
{
	struct utf8_state u = { 0 };

	for (size_t i = 0; i < len; i++) {
		unsigned char b = (unsigned char)buf[i];

		if (u.left > 0) {
			if (utf8_continue(&u, b) < 0)
				return false;
		} else if (b == 0) {
			return false;
		} else if (b >= 0x80 && utf8_lead(&u, b) < 0) {
			return false;
		}
	}
	return u.left == 0;
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	/* s[max] is the first byte left out: back up while it continues a character. */
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}
