/*
 * scan.c - the strict JSON scanner: one byte at a time, driven by a schema,
 * capturing what it reads (see scan.h).
 *
 * The scanner is what makes a start document fail on the write that proves
 * it bad, and it refuses what a C string or the contract cannot hold: raw
 * control bytes, invalid UTF-8, \u0000, lone surrogates, integers that are
 * not exact. It never recurses: the grammars here are at most an object of
 * arrays of strings and objects of strings (tags), each a flat state of its
 * own, and any other nesting is refused at its first byte.
 *
 * Left out: the objects of strings, tags (scan_tags.c); the schemas and what
 * the values mean (record.c). Nothing here touches a store; store_fail()
 * only records the reason.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "record.h"
#include "scan.h"
#include "scan_internal.h"

#define COUNT_MAX (UINT64_C(1) << 53) /* the last integer a double holds exactly */

/* A scan_byte() result: an each() asked to stop the scan. */
#define SCAN_STOP 1

void scan_init(struct record_scan *sc, const struct schema *schema, size_t limit)
{
	memset(sc, 0, sizeof(*sc));
	sc->schema = schema;
	sc->limit = limit;
	sc->state = SCAN_BEFORE;
}

void scan_release(struct record_scan *sc)
{
	for (size_t i = 0; i < SCHEMA_FIELDS_MAX; i++) {
		free(sc->values[i].data);
		sc->values[i] = (struct text_buf){ 0 };
	}
	free(sc->element.data);
	sc->element = (struct text_buf){ 0 };
}

bool record_scan_blank(const struct record_scan *sc)
{
	return sc->error == 0 && sc->state == SCAN_BEFORE;
}

bool scan_has(const struct record_scan *sc, size_t field)
{
	return (sc->seen & (UINT32_C(1) << field)) != 0;
}

bool scan_is_null(const struct record_scan *sc, size_t field)
{
	return (sc->nulls & (UINT32_C(1) << field)) != 0;
}

int scan_take(struct record_scan *sc, size_t field, char **out)
{
	*out = NULL;
	if (!scan_has(sc, field) || scan_is_null(sc, field))
		return 0;
	*out = text_take(&sc->values[field]);
	return *out == NULL ? -ENOMEM : 0;
}

int scan_copy(const struct record_scan *sc, size_t field, char **out)
{
	const struct text_buf *v = &sc->values[field];

	*out = NULL;
	if (!scan_has(sc, field) || scan_is_null(sc, field))
		return 0;
	if (v->failed)
		return -ENOMEM;
	*out = v->data != NULL ? strndup(v->data, v->len) : strdup("");
	return *out == NULL ? -ENOMEM : 0;
}

/* Refuses byte @b where the grammar has no place for it. */
int scan_unexpected(const struct record_scan *sc, unsigned char b)
{
	if (b > 0x20 && b < 0x7f)
		return store_fail(-EINVAL, "%s: unexpected '%c' at byte %zu",
				  sc->schema->what, b, sc->fed);
	return store_fail(-EINVAL, "%s: unexpected byte 0x%02x at byte %zu",
			  sc->schema->what, b, sc->fed);
}

static bool scan_in_array(const struct record_scan *sc)
{
	return scan_field(sc)->kind == FIELD_STRING_ARRAY;
}

static bool kind_is_map(enum field_kind kind)
{
	return kind == FIELD_TAGS || kind == FIELD_STRING_MAP;
}

static int scan_wrong_type(const struct record_scan *sc)
{
	static const char *const wanted[] = {
		[FIELD_STRING] = "a string",
		[FIELD_STRING_OR_NULL] = "a string or null",
		[FIELD_STRING_ARRAY] = "an array of strings",
		[FIELD_COUNT] = "an integer >= 0",
		[FIELD_INT] = "an integer",
		[FIELD_INT_OR_NULL] = "an integer or null",
		[FIELD_TAGS] = "an object of strings",
		[FIELD_STRING_MAP] = "an object of strings",
	};
	const struct field *f = scan_field(sc);

	return store_fail(-EINVAL, "%s: \"%s\" must be %s", sc->schema->what, f->key,
			  wanted[f->kind]);
}

/* --- what is captured --- */

/*
 * Appends the @n bytes at @s as the inside of a JSON string, escaped as
 * cJSON_PrintUnformatted() escapes them (the two-character escapes, other
 * control bytes as \u00xx, everything else as it stands), so that a
 * captured array is the text cJSON would have printed for it.
 */
void scan_add_escaped(struct text_buf *tb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t from = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *two = NULL;
		char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		switch (c) {
		case '"': two = "\\\""; break;
		case '\\': two = "\\\\"; break;
		case '\b': two = "\\b"; break;
		case '\f': two = "\\f"; break;
		case '\n': two = "\\n"; break;
		case '\r': two = "\\r"; break;
		case '\t': two = "\\t"; break;
		default:
			if (c >= 0x20)
				continue;
		}
		text_add(tb, s + from, i - from);
		if (two != NULL)
			text_add(tb, two, 2);
		else
			text_add(tb, u, sizeof(u));
		from = i + 1;
	}
	text_add(tb, s + from, n - from);
}

/* Appends decoded bytes to the key; a key longer than every allowed one is refused now. */
static int scan_key_append(struct record_scan *sc, const char *bytes, size_t n)
{
	if (sc->key_len + n > sc->schema->longest_key)
		return store_fail(-EINVAL, "%s: unknown key \"%.*s...\"", sc->schema->what,
				  (int)sc->key_len, sc->key);
	memcpy(sc->key + sc->key_len, bytes, n);
	sc->key_len += n;
	return 0;
}

/* Decoded bytes of the string being read: to the key, the element, or the value. */
static int scan_string_out(struct record_scan *sc, const char *bytes, size_t n)
{
	if (sc->state == SCAN_KEY)
		return scan_key_append(sc, bytes, n);
	if (sc->state == SCAN_MAP_KEY || sc->state == SCAN_MAP_STRING)
		return scan_map_out(sc, bytes, n);
	if (!scan_in_array(sc))
		text_add(&sc->values[sc->field], bytes, n);
	else if (sc->each != NULL)
		text_add(&sc->element, bytes, n);
	else
		scan_add_escaped(&sc->values[sc->field], bytes, n);
	return 0;
}

/* A string character, decoded from an escape, arrived. */
static int scan_string_code_point(struct record_scan *sc, uint32_t cp)
{
	char utf8[4];

	return scan_string_out(sc, utf8, utf8_encode(cp, utf8));
}

/* --- keys and strings --- */

/* A key has closed: it must name a field not seen yet. */
static int scan_key_close(struct record_scan *sc)
{
	const struct schema *schema = sc->schema;

	for (const char *const *owned = schema->owned; owned && *owned; owned++) {
		if (strlen(*owned) == sc->key_len && memcmp(*owned, sc->key, sc->key_len) == 0)
			return store_fail(-EINVAL, "%s: \"%s\" is set by the daemon",
					  schema->what, *owned);
	}

	for (size_t i = 0; i < schema->count; i++) {
		if (strlen(schema->fields[i].key) != sc->key_len ||
		    memcmp(schema->fields[i].key, sc->key, sc->key_len) != 0)
			continue;
		if (sc->seen & (UINT32_C(1) << i))
			return store_fail(-EINVAL, "%s: repeated key \"%s\"", schema->what,
					  schema->fields[i].key);
		sc->seen |= UINT32_C(1) << i;
		sc->field = i;
		return 0;
	}
	return store_fail(-EINVAL, "%s: unknown key \"%.*s\"", schema->what,
			  (int)sc->key_len, sc->key);
}

static int scan_hex_digit(unsigned char b)
{
	if (b >= '0' && b <= '9')
		return b - '0';
	if (b >= 'a' && b <= 'f')
		return b - 'a' + 10;
	if (b >= 'A' && b <= 'F')
		return b - 'A' + 10;
	return -1;
}

/* The four digits of a \u escape are in: pair surrogates, refuse \u0000. */
static int scan_escape_done(struct record_scan *sc)
{
	uint32_t v = sc->hex_value;
	const char *what = sc->schema->what;

	sc->string_state = STRING_PLAIN;
	if (sc->high_surrogate != 0) {
		uint32_t high = sc->high_surrogate;

		sc->high_surrogate = 0;
		if (v < 0xdc00 || v > 0xdfff)
			return store_fail(-EINVAL, "%s: unpaired UTF-16 surrogate \\u%04X",
					  what, (unsigned)high);
		return scan_string_code_point(sc, 0x10000 + ((high - 0xd800) << 10) +
						       (v - 0xdc00));
	}
	/* A C string cannot hold U+0000: it would cut the value short. */
	if (v == 0)
		return store_fail(-EINVAL, "%s: \\u0000 in a string", what);
	if (v >= 0xdc00 && v <= 0xdfff)
		return store_fail(-EINVAL, "%s: unpaired UTF-16 surrogate \\u%04X",
				  what, (unsigned)v);
	if (v >= 0xd800 && v <= 0xdbff) {
		sc->high_surrogate = v;
		sc->string_state = STRING_LOW_BACKSLASH;
		return 0;
	}
	return scan_string_code_point(sc, v);
}

static void scan_hex_open(struct record_scan *sc)
{
	sc->string_state = STRING_HEX;
	sc->hex_left = 4;
	sc->hex_value = 0;
}

/* A byte of a string's text (not in an escape): 1 when it closes the string. */
static int scan_plain_byte(struct record_scan *sc, unsigned char b)
{
	const char *what = sc->schema->what;

	if (sc->string_state == STRING_UTF8) {
		if (utf8_continue(&sc->utf8, b) < 0)
			return store_fail(-EINVAL, "%s: invalid UTF-8 at byte %zu", what, sc->fed);
		if (sc->utf8.left == 0)
			sc->string_state = STRING_PLAIN;
		return scan_string_out(sc, (const char *)&b, 1);
	}
	if (b == '"')
		return 1;
	if (b == '\\') {
		sc->string_state = STRING_ESCAPE;
		return 0;
	}
	if (b == 0)
		return store_fail(-EINVAL, "%s: NUL byte in a string", what);
	if (b < 0x20)
		return store_fail(-EINVAL, "%s: raw control byte 0x%02x in a string", what, b);
	if (b >= 0x80) {
		if (utf8_lead(&sc->utf8, b) < 0)
			return store_fail(-EINVAL, "%s: invalid UTF-8 at byte %zu", what, sc->fed);
		sc->string_state = STRING_UTF8;
	}
	return scan_string_out(sc, (const char *)&b, 1);
}

/* The byte after a backslash. */
static int scan_escape_byte(struct record_scan *sc, unsigned char b)
{
	static const char escaped[] = "\"\\/bfnrt";
	static const char decoded[] = "\"\\/\b\f\n\r\t";
	const char *at = b != 0 ? strchr(escaped, b) : NULL;

	if (b == 'u') {
		scan_hex_open(sc);
		return 0;
	}
	if (at == NULL)
		return store_fail(-EINVAL, "%s: invalid escape at byte %zu", sc->schema->what,
				  sc->fed);
	sc->string_state = STRING_PLAIN;
	return scan_string_code_point(sc, (unsigned char)decoded[at - escaped]);
}

/* A byte of the four hex digits, or of the "\u" a low surrogate must begin with. */
static int scan_hex_byte(struct record_scan *sc, unsigned char b)
{
	int digit;

	if (sc->string_state == STRING_HEX) {
		digit = scan_hex_digit(b);
		if (digit < 0)
			return store_fail(-EINVAL, "%s: invalid \\u escape at byte %zu",
					  sc->schema->what, sc->fed);
		sc->hex_value = sc->hex_value << 4 | (uint32_t)digit;
		return --sc->hex_left > 0 ? 0 : scan_escape_done(sc);
	}
	if (b != (sc->string_state == STRING_LOW_BACKSLASH ? '\\' : 'u'))
		return store_fail(-EINVAL, "%s: unpaired UTF-16 surrogate \\u%04X",
				  sc->schema->what, (unsigned)sc->high_surrogate);
	if (sc->string_state == STRING_LOW_BACKSLASH)
		sc->string_state = STRING_LOW_U;
	else
		scan_hex_open(sc);
	return 0;
}

/*
 * One byte inside a string (key or value): 1 when it closes the string,
 * 0 to go on, or a negative errno.
 */
static int scan_string_byte(struct record_scan *sc, unsigned char b)
{
	switch (sc->string_state) {
	case STRING_PLAIN:
	case STRING_UTF8:
		return scan_plain_byte(sc, b);
	case STRING_ESCAPE:
		return scan_escape_byte(sc, b);
	case STRING_HEX:
	case STRING_LOW_BACKSLASH:
	case STRING_LOW_U:
		return scan_hex_byte(sc, b);
	}
	return store_fail(-EINVAL, "%s: scanner lost", sc->schema->what);
}

void scan_string_open(struct record_scan *sc, enum scan_state state)
{
	sc->state = state;
	sc->string_state = STRING_PLAIN;
	sc->high_surrogate = 0;
	if (state == SCAN_KEY)
		sc->key_len = 0;
}

/* --- values --- */

/* The first byte of a value decides its type: refuse a wrong one right there. */
static int scan_value_start(struct record_scan *sc, unsigned char b)
{
	enum field_kind kind = scan_field(sc)->kind;
	bool is_int = kind == FIELD_COUNT || kind == FIELD_INT || kind == FIELD_INT_OR_NULL;

	if (b == '"' && (kind == FIELD_STRING || kind == FIELD_STRING_OR_NULL)) {
		scan_string_open(sc, SCAN_STRING);
	} else if (b == 'n' && (kind == FIELD_STRING_OR_NULL || kind == FIELD_INT_OR_NULL)) {
		sc->state = SCAN_NULL;
		sc->null_pos = 1;
	} else if (b == '{' && kind_is_map(kind)) {
		sc->map_count = 0;
		sc->state = SCAN_MAP_FIRST;
	} else if (b == '[' && kind == FIELD_STRING_ARRAY) {
		if (sc->each == NULL)
			text_add(&sc->values[sc->field], "[", 1);
		sc->state = SCAN_ARRAY_FIRST;
	} else if (b == '-' && (kind == FIELD_INT || kind == FIELD_INT_OR_NULL)) {
		sc->negative = true;
		sc->magnitude = 0;
		sc->state = SCAN_NUMBER_SIGN;
	} else if (b >= '0' && b <= '9' && is_int) {
		sc->negative = false;
		sc->magnitude = (uint64_t)(b - '0');
		sc->state = b == '0' ? SCAN_NUMBER_ZERO : SCAN_NUMBER_DIGITS;
	} else if (strchr("\"n[-tf{0123456789", b) != NULL && b != 0) {
		/* The start of a value, of the wrong type. */
		return scan_wrong_type(sc);
	} else {
		return scan_unexpected(sc, b);
	}
	return 0;
}

/* The largest magnitude the integer being read may reach. */
static uint64_t scan_int_limit(const struct record_scan *sc)
{
	if (scan_field(sc)->kind == FIELD_COUNT)
		return COUNT_MAX;
	return sc->negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
}

static int scan_number_digit(struct record_scan *sc, unsigned char b)
{
	uint64_t digit = (uint64_t)(b - '0');
	uint64_t limit = scan_int_limit(sc);

	if (sc->magnitude > (limit - digit) / 10)
		return store_fail(-EINVAL, "%s: \"%s\" is out of range", sc->schema->what,
				  scan_field(sc)->key);
	sc->magnitude = sc->magnitude * 10 + digit;
	sc->state = SCAN_NUMBER_DIGITS;
	return 0;
}

/* The integer has ended (at a byte that the caller still has to read). */
static void scan_number_end(struct record_scan *sc)
{
	int64_t value;

	if (!sc->negative)
		value = (int64_t)sc->magnitude;
	else if (sc->magnitude == (uint64_t)INT64_MAX + 1)
		value = INT64_MIN;
	else
		value = -(int64_t)sc->magnitude;
	sc->ints[sc->field] = value;
	sc->state = SCAN_MEMBER_AFTER;
}

/* A byte inside an integer; *again set when it ended the number unread. */
static int scan_number_byte(struct record_scan *sc, unsigned char b, bool *again)
{
	bool digit = b >= '0' && b <= '9';

	if (sc->state == SCAN_NUMBER_SIGN) {
		if (!digit)
			return scan_unexpected(sc, b);
		if (b == '0') {
			sc->state = SCAN_NUMBER_ZERO;
			return 0;
		}
		return scan_number_digit(sc, b);
	}
	if (digit && sc->state == SCAN_NUMBER_DIGITS)
		return scan_number_digit(sc, b);
	/* A fraction or an exponent makes it a number, but no integer. */
	if (b == '.' || b == 'e' || b == 'E')
		return scan_wrong_type(sc);
	if (digit)
		return store_fail(-EINVAL, "%s: leading zero in \"%s\"", sc->schema->what,
				  scan_field(sc)->key);
	scan_number_end(sc);
	*again = true;
	return 0;
}

static int scan_null_byte(struct record_scan *sc, unsigned char b)
{
	if (b != (unsigned char)"null"[sc->null_pos])
		return scan_wrong_type(sc);
	if (++sc->null_pos == 4) {
		sc->nulls |= UINT32_C(1) << sc->field;
		sc->state = SCAN_MEMBER_AFTER;
	}
	return 0;
}

/* A string value or array element has closed; SCAN_STOP if each() says so. */
static int scan_string_value_close(struct record_scan *sc)
{
	int ret = 0;

	if (!scan_in_array(sc)) {
		sc->state = SCAN_MEMBER_AFTER;
		return 0;
	}
	sc->state = SCAN_ARRAY_AFTER;
	if (sc->each == NULL) {
		text_add(&sc->values[sc->field], "\"", 1);
		return 0;
	}
	if (sc->element.failed)
		return store_fail(-ENOMEM, "%s: out of memory", sc->schema->what);
	ret = sc->each(sc->each_ctx, sc->element.data ? sc->element.data : "", sc->element.len);
	sc->element.len = 0;
	return ret != 0 ? SCAN_STOP : 0;
}

/* --- the grammar around the values --- */

static int scan_array_byte(struct record_scan *sc, unsigned char b)
{
	struct text_buf *tb = sc->each == NULL ? &sc->values[sc->field] : NULL;

	if (sc->state == SCAN_ARRAY_AFTER) {
		if (b == ',')
			sc->state = SCAN_ARRAY_NEXT;
		else if (b == ']')
			sc->state = SCAN_MEMBER_AFTER;
		else if (!json_space(b))
			return scan_unexpected(sc, b);
		if (tb != NULL && (b == ',' || b == ']'))
			text_add(tb, (const char *)&b, 1);
		return 0;
	}
	if (b == '"') {
		if (tb != NULL)
			text_add(tb, "\"", 1);
		scan_string_open(sc, SCAN_STRING);
	} else if (b == ']' && sc->state == SCAN_ARRAY_FIRST) {
		if (tb != NULL)
			text_add(tb, "]", 1);
		sc->state = SCAN_MEMBER_AFTER;
	} else if (b == ']') {
		return scan_unexpected(sc, b);
	} else if (!json_space(b)) {
		return scan_wrong_type(sc);
	}
	return 0;
}

/* A byte outside any value: between the object's members, before it or after it. */
static int scan_object_byte(struct record_scan *sc, unsigned char b)
{
	if (json_space(b))
		return 0;
	switch (sc->state) {
	case SCAN_BEFORE:
		if (b != '{')
			return scan_unexpected(sc, b);
		sc->state = SCAN_OBJECT_FIRST;
		return 0;
	case SCAN_OBJECT_FIRST:
	case SCAN_OBJECT_NEXT:
		if (b == '"')
			scan_string_open(sc, SCAN_KEY);
		else if (b == '}' && sc->state == SCAN_OBJECT_FIRST)
			sc->state = SCAN_AFTER;
		else
			return scan_unexpected(sc, b);
		return 0;
	case SCAN_COLON:
		if (b != ':')
			return scan_unexpected(sc, b);
		sc->state = SCAN_VALUE;
		return 0;
	case SCAN_VALUE:
		return scan_value_start(sc, b);
	case SCAN_MEMBER_AFTER:
		if (b == ',')
			sc->state = SCAN_OBJECT_NEXT;
		else if (b == '}')
			sc->state = SCAN_AFTER;
		else
			return scan_unexpected(sc, b);
		return 0;
	default:
		return store_fail(-EINVAL, "%s: more than one JSON object (byte %zu)",
				  sc->schema->what, sc->fed);
	}
}

/* One byte of the document: 0, SCAN_STOP, or a negative errno. */
static int scan_byte(struct record_scan *sc, unsigned char b)
{
	bool again;
	int ret;

	do {
		again = false;
		switch (sc->state) {
		case SCAN_KEY:
			ret = scan_string_byte(sc, b);
			if (ret == 1) {
				ret = scan_key_close(sc);
				sc->state = ret < 0 ? sc->state : SCAN_COLON;
			}
			break;
		case SCAN_STRING:
			ret = scan_string_byte(sc, b);
			if (ret == 1)
				ret = scan_string_value_close(sc);
			break;
		case SCAN_MAP_KEY:
			ret = scan_string_byte(sc, b);
			if (ret == 1)
				ret = scan_map_key_close(sc);
			break;
		case SCAN_MAP_STRING:
			ret = scan_string_byte(sc, b);
			if (ret == 1)
				ret = scan_map_value_close(sc);
			break;
		case SCAN_MAP_FIRST:
		case SCAN_MAP_NEXT:
		case SCAN_MAP_COLON:
		case SCAN_MAP_VALUE:
		case SCAN_MAP_AFTER:
			ret = scan_map_byte(sc, b);
			break;
		case SCAN_NULL:
			ret = scan_null_byte(sc, b);
			break;
		case SCAN_NUMBER_SIGN:
		case SCAN_NUMBER_ZERO:
		case SCAN_NUMBER_DIGITS:
			ret = scan_number_byte(sc, b, &again);
			break;
		case SCAN_ARRAY_FIRST:
		case SCAN_ARRAY_NEXT:
		case SCAN_ARRAY_AFTER:
			ret = scan_array_byte(sc, b);
			break;
		default:
			ret = scan_object_byte(sc, b);
			break;
		}
	} while (again && ret == 0);
	return ret;
}

int record_scan_feed(struct record_scan *sc, const char *buf, size_t len)
{
	int err = sc->error;

	if (err != 0)
		return err;
	if (len > sc->limit - sc->fed) {
		err = store_fail(-EFBIG, "%s: longer than %zu bytes", sc->schema->what,
				 sc->limit);
		goto fail;
	}
	for (size_t i = 0; i < len && !sc->stopped; i++) {
		sc->fed++;
		err = scan_byte(sc, (unsigned char)buf[i]);
		if (err < 0)
			goto fail;
		sc->stopped = err == SCAN_STOP;
	}
	return sc->state == SCAN_AFTER ? RECORD_SCAN_DONE : RECORD_SCAN_MORE;
fail:
	sc->error = err;
	return err;
}

int scan_whole(struct record_scan *sc, const char *buf, size_t len)
{
	int ret = record_scan_feed(sc, buf, len);

	if (ret == RECORD_SCAN_MORE && !sc->stopped)
		return store_fail(-EINVAL, "%s: incomplete JSON", sc->schema->what);
	return ret < 0 ? ret : 0;
}
