/*
 * run-text.c: bounded text for execlog-run's start document and finish value.
 * The mount takes only UTF-8 text, so everything copied from the command
 * (its arguments, its error output) is cleaned on the way in.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "run.h"

void text_add(struct text *t, const void *p, size_t n)
{
	if (t->full || n > t->cap - t->len) {
		t->full = true;
		return;
	}
	memcpy(t->p + t->len, p, n);
	t->len += n;
}

/* For short pieces: numbers, signal names, strerror. */
void text_printf(struct text *t, const char *fmt, ...)
{
	char piece[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(piece, sizeof(piece), fmt, ap);
	va_end(ap);
	if (n >= 0)
		text_add(t, piece, (size_t)n < sizeof(piece) ? (size_t)n : sizeof(piece) - 1);
}

/* The length of the valid UTF-8 sequence at s (of avail bytes), 0 if invalid. */
size_t utf8_len(const unsigned char *s, size_t avail)
{
	static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
	/* The lead byte gives the length: 0xxxxxxx, 110xxxxx, 1110xxxx, 11110xxx. */
	size_t n = s[0] < 0x80 ? 1 : s[0] >> 5 == 6 ? 2 : s[0] >> 4 == 14 ? 3 : s[0] >> 3 == 30 ? 4 : 0;
	uint32_t cp = s[0] & (0x7f >> n);

	if (n == 0 || n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms and UTF-16 surrogates are not UTF-8 either. */
	if (n > 1 && (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)))
		return 0;
	return n;
}

/* Appends n bytes of s as the inside of a JSON string (json) or as one line of
 * a message. The mount takes only text, so a byte that is not UTF-8 becomes
 * U+FFFD; a control character is escaped in JSON and a space in a line. */
void text_add_clean(struct text *t, const char *s, size_t n, bool json)
{
	const unsigned char *p = (const unsigned char *)s, *stop = p + n;

	for (size_t len; p < stop; p += len ? len : 1) {
		len = utf8_len(p, (size_t)(stop - p));
		if (len == 0)
			text_add(t, "\xef\xbf\xbd", 3);
		else if (!json && (*p < 0x20 || *p == 0x7f))
			text_add(t, " ", 1);
		else if (json && (*p == '"' || *p == '\\'))
			text_printf(t, "\\%c", *p);
		else if (json && *p < 0x20)
			text_printf(t, "\\u%04x", *p);
		else
			text_add(t, p, len);
	}
}

void text_add_json(struct text *t, const char *s, size_t n)
{
	text_add(t, "\"", 1);
	text_add_clean(t, s, n, true);
	text_add(t, "\"", 1);
}
