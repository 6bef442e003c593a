/*
 * fuzz.h - what the fuzz targets of tests/fuzz share: the libFuzzer entry
 * point, a check that abort()s with the failed condition, and a reference
 * UTF-8 validator written apart from record.c's, to judge it by.
 *
 * Each target is built twice: with clang and libFuzzer by scripts/fuzz, and
 * with the project's compiler and replay.c by meson, which replays the corpus.
 */
#ifndef EXECLOG_FUZZ_H
#define EXECLOG_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs one input; 0 always (a violated invariant abort()s instead). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline _Noreturn void fuzz_fail(const char *file, int line, const char *cond)
{
	fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, cond);
	abort();
}

/* Like assert(), but never compiled out. */
#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) \
			fuzz_fail(__FILE__, __LINE__, #cond); \
	} while (0)

/*
 * True if @s holds no NUL and is valid UTF-8: each sequence decoded to its
 * code point, which must be the shortest form, no surrogate, <= U+10FFFF.
 */
static inline bool fuzz_utf8_valid(const unsigned char *s, size_t len)
{
	const uint32_t shortest[4] = { 0, 0x80, 0x800, 0x10000 };
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t more;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			more = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			more = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			more = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < more)
			return false;
		for (size_t k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < shortest[more] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += more + 1;
	}
	return true;
}

#endif
