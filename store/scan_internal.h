/*
 * scan_internal.h - what the scanner's two files share: scan.c (the
 * document, its strings, integers and arrays) and scan_tags.c (its objects
 * of strings, tags). Read by those two only; record.c sees scan.h.
 */
#ifndef EXECLOG_SCAN_INTERNAL_H
#define EXECLOG_SCAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "scan.h"

static inline bool json_space(unsigned char b)
{
	return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

/* The field whose value is being read. */
static inline const struct field *scan_field(const struct record_scan *sc)
{
	return &sc->schema->fields[sc->field];
}

/* --- scan.c --- */

/* Refuses byte @b where the grammar has no place for it: -EINVAL. */
int scan_unexpected(const struct record_scan *sc, unsigned char b);

/* Enters string state @state (a key, a value, a tag's key or value) at its opening quote. */
void scan_string_open(struct record_scan *sc, enum scan_state state);

/* --- scan_tags.c --- */

/* Decoded bytes of a key or value of an object of strings: 0 or -EINVAL. */
int scan_map_out(struct record_scan *sc, const char *bytes, size_t n);

/* A key of an object of strings has closed: 0 or -EINVAL. */
int scan_map_key_close(struct record_scan *sc);

/* A value of an object of strings has closed: 0. */
int scan_map_value_close(struct record_scan *sc);

/* A byte between the strings of an object of strings: 0 or -EINVAL. */
int scan_map_byte(struct record_scan *sc, unsigned char b);

#endif
