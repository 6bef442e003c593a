/*
 * scan_tags.c - the scanner's objects of strings: a start's tags, checked by
 * the rules of store.h as they arrive, and a stored record's tags, read as
 * written (see scan.h).
 *
 * Flat, as the rest of the scanner: a state for each place between and
 * inside the strings (SCAN_MAP_*), never a recursion. What is captured is
 * the pairs as key NUL value NUL ..., which scan_tags() copies out.
 *
 * Left out: the document around the object, and the bytes of its strings
 * (scan.c decodes them and hands them here).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "scan.h"
#include "scan_internal.h"

int scan_tags(const struct record_scan *sc, size_t field, struct store_tag **tags, size_t *n)
{
	const struct text_buf *v = &sc->values[field];
	struct store_tag *out = NULL;
	size_t count = 0, pos = 0;
	int err = 0;

	*tags = NULL;
	*n = 0;
	if (!scan_has(sc, field) || scan_is_null(sc, field))
		return 0;
	if (v->failed)
		return -ENOMEM;
	if (v->len == 0)
		return 0;
	for (size_t i = 0; i < v->len; i++)
		count += v->data[i] == '\0';
	count /= 2;
	out = calloc(count, sizeof(*out));
	if (out == NULL)
		return -ENOMEM;
	/* key NUL value NUL ..., neither holding a NUL: the scan refused \u0000. */
	for (size_t i = 0; i < count && err == 0; i++) {
		out[i].key = strdup(v->data + pos);
		pos += strlen(v->data + pos) + 1;
		out[i].value = strdup(v->data + pos);
		pos += strlen(v->data + pos) + 1;
		if (out[i].key == NULL || out[i].value == NULL)
			err = -ENOMEM;
	}
	if (err < 0) {
		store_tags_free(out, count);
		return err;
	}
	*tags = out;
	*n = count;
	return 0;
}

/* The key of the pair being read, once it has closed ("" if its capture ran out of memory). */
static const char *scan_map_key(const struct record_scan *sc)
{
	const struct text_buf *tb = &sc->values[sc->field];

	return tb->failed || tb->data == NULL ? "" : tb->data + sc->map_key_at;
}

/* A decoded byte of a tag's key: refused the moment it breaks the rules of store.h. */
static int scan_tag_key_byte(struct record_scan *sc, unsigned char c, size_t len)
{
	bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';

	if (!allowed)
		return store_fail(-EINVAL, "%s: a tag key may not hold byte 0x%02x (only "
				  "A-Z a-z 0-9 . _ -)", sc->schema->what, c);
	if (len >= STORE_TAG_KEY_MAX)
		return store_fail(-EINVAL, "%s: a tag key is longer than %d bytes",
				  sc->schema->what, STORE_TAG_KEY_MAX);
	return 0;
}

/* Decoded bytes of a key or value of an object of strings. */
int scan_map_out(struct record_scan *sc, const char *bytes, size_t n)
{
	bool strict = scan_field(sc)->kind == FIELD_TAGS;
	int err = 0;

	for (size_t i = 0; strict && i < n && err == 0; i++) {
		if (sc->state == SCAN_MAP_KEY)
			err = scan_tag_key_byte(sc, (unsigned char)bytes[i], sc->map_item_len + i);
		else if (sc->map_item_len + i >= STORE_TAG_VALUE_MAX)
			err = store_fail(-EINVAL, "%s: the value of tag \"%s\" is longer than %d "
					 "bytes", sc->schema->what, scan_map_key(sc),
					 STORE_TAG_VALUE_MAX);
	}
	if (err < 0)
		return err;
	sc->map_item_len += n;
	text_add(&sc->values[sc->field], bytes, n);
	return 0;
}

/* A key of an object of strings opens: the 33rd of a start's tags is refused right here. */
static int scan_map_key_open(struct record_scan *sc)
{
	const struct text_buf *tb = &sc->values[sc->field];

	if (scan_field(sc)->kind == FIELD_TAGS && sc->map_count >= STORE_TAGS_MAX)
		return store_fail(-EINVAL, "%s: more than %d tags", sc->schema->what,
				  STORE_TAGS_MAX);
	scan_string_open(sc, SCAN_MAP_KEY);
	sc->map_key_at = tb->len;
	sc->map_item_len = 0;
	return 0;
}

/* Whether the key just closed (at @at, @len bytes) is one of the pairs before it. */
static bool scan_map_repeated(const struct text_buf *tb, size_t at, size_t len)
{
	size_t pos = 0;

	/* The capture is key NUL value NUL ...: at most 32 pairs to pass over. */
	while (pos < at) {
		size_t key_len = strlen(tb->data + pos);

		if (key_len == len && memcmp(tb->data + pos, tb->data + at, len) == 0)
			return true;
		pos += key_len + 1;
		pos += strlen(tb->data + pos) + 1;
	}
	return false;
}

/* A key of an object of strings has closed: a start's tag key must be new and not empty. */
int scan_map_key_close(struct record_scan *sc)
{
	struct text_buf *tb = &sc->values[sc->field];

	text_add(tb, "", 1);
	sc->state = SCAN_MAP_COLON;
	if (scan_field(sc)->kind != FIELD_TAGS || tb->failed)
		return 0;
	if (sc->map_item_len == 0)
		return store_fail(-EINVAL, "%s: a tag key is empty", sc->schema->what);
	if (scan_map_repeated(tb, sc->map_key_at, sc->map_item_len))
		return store_fail(-EINVAL, "%s: repeated tag \"%s\"", sc->schema->what,
				  scan_map_key(sc));
	return 0;
}

int scan_map_value_close(struct record_scan *sc)
{
	text_add(&sc->values[sc->field], "", 1);
	sc->map_count++;
	sc->state = SCAN_MAP_AFTER;
	return 0;
}

/* A byte between the strings of an object of strings. */
int scan_map_byte(struct record_scan *sc, unsigned char b)
{
	if (json_space(b))
		return 0;
	switch (sc->state) {
	case SCAN_MAP_FIRST:
	case SCAN_MAP_NEXT:
		if (b == '"')
			return scan_map_key_open(sc);
		if (b == '}' && sc->state == SCAN_MAP_FIRST) {
			sc->state = SCAN_MEMBER_AFTER;
			return 0;
		}
		return scan_unexpected(sc, b);
	case SCAN_MAP_COLON:
		if (b != ':')
			return scan_unexpected(sc, b);
		sc->state = SCAN_MAP_VALUE;
		return 0;
	case SCAN_MAP_VALUE:
		if (b == '"') {
			scan_string_open(sc, SCAN_MAP_STRING);
			sc->map_item_len = 0;
			return 0;
		}
		if (b != 0 && strchr("n[-tf{0123456789", b) != NULL)
			return store_fail(-EINVAL, "%s: \"%s\": the value of \"%s\" must be a "
					  "string", sc->schema->what, scan_field(sc)->key,
					  scan_map_key(sc));
		return scan_unexpected(sc, b);
	default: /* SCAN_MAP_AFTER */
		if (b == ',')
			sc->state = SCAN_MAP_NEXT;
		else if (b == '}')
			sc->state = SCAN_MEMBER_AFTER;
		else
			return scan_unexpected(sc, b);
		return 0;
	}
}
