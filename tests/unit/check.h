/*
 * check.h - the checks the store's unit tests share (test_store.c,
 * test_postgres.c): a failed check prints where, what and why, with the
 * store's last reason, and exits 1, so that each case is its own process
 * and meson test() tells which failed.
 *
 * The file that includes it defines check_where(): the backend and case
 * a failure names.
 */
#ifndef EXECLOG_TEST_CHECK_H
#define EXECLOG_TEST_CHECK_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "store.h"

/* "sqlite roundtrip": what a failure says it was checking (the includer's). */
static const char *check_where(void);

static void fail(const char *file, int line, const char *expr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), noreturn));

static void fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	flockfile(stderr);
	fprintf(stderr, "%s:%d: [%s] check failed: %s", file, line, check_where(), expr);
	if (fmt) {
		fputs(" (", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc(')', stderr);
	}
	fprintf(stderr, "; store_reason: \"%s\"\n", store_reason());
	funlockfile(stderr);
	exit(1);
}

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond))                                            \
			fail(__FILE__, __LINE__, #cond, NULL);          \
	} while (0)

#define CHECK_EQ(actual, expected)                                      \
	do {                                                            \
		int64_t a_ = (int64_t)(actual), e_ = (int64_t)(expected); \
		if (a_ != e_)                                           \
			fail(__FILE__, __LINE__, #actual " == " #expected, \
			     "got %" PRId64 ", expected %" PRId64, a_, e_); \
	} while (0)

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *out;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&out, fmt, ap);
	va_end(ap);
	CHECK(n >= 0);
	return out;
}

#endif
