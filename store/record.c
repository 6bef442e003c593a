/*
 * record.c - an execution as JSON: rendering, reading back, and checking
 * what users write. The only file of the project that uses cJSON.
 *
 * Every JSON document users (or a store) hand us is first checked by one
 * small strict scanner, a byte-at-a-time state machine driven by a schema
 * (the allowed keys and the type of each). The scanner is what makes a
 * start document fail on the write that proves it bad, and it also checks
 * what cJSON lets through (raw control bytes, invalid UTF-8, \u0000, lone
 * surrogates, exact integers). Only once a document has passed the scanner
 * does cJSON build its values. The scanner never recurses: the grammars
 * here are at most an object of arrays of strings, and any other nesting is
 * refused at its first byte.
 *
 * Nothing here touches a store; store_fail() only records the reason.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "backend.h"
#include "record.h"

/* ---------------------------------------------------------------------- */
/* Names */

int record_name_check(const char *name)
{
	size_t len;

	if (name == NULL)
		return store_fail(-EINVAL, "execution name: none given");
	len = strnlen(name, 256);
	if (len > 255)
		return store_fail(-ENAMETOOLONG, "execution name: longer than 255 bytes");
	if (len == 0)
		return store_fail(-EINVAL, "execution name: empty");
	if (len > RECORD_NAME_MAX)
		return store_fail(-EINVAL, "execution name: longer than %d bytes",
				  RECORD_NAME_MAX);
	/* A leading '.' would hide the file from ls and allow "." and "..". */
	if (name[0] == '.')
		return store_fail(-EINVAL, "execution name: starts with '.'");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			       (c >= '0' && c <= '9') || strchr("._:@+-", c) != NULL;

		if (!allowed)
			return store_fail(-EINVAL, "execution name: byte 0x%02x not allowed", c);
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* UTF-8, checked strictly one byte at a time (Unicode table 3-7). */

struct utf8_state {
	unsigned char left; /* continuation bytes still expected */
	unsigned char lo;   /* bounds of the next continuation byte */
	unsigned char hi;
};

/* Starts a multi-byte sequence at lead byte @b; -1 if @b cannot lead one. */
static int utf8_lead(struct utf8_state *u, unsigned char b)
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

/* Takes continuation byte @b; -1 if it does not fit. */
static int utf8_continue(struct utf8_state *u, unsigned char b)
{
	if (b < u->lo || b > u->hi)
		return -1;
	u->left--;
	u->lo = 0x80;
	u->hi = 0xbf;
	return 0;
}

/* True if @buf holds no NUL and is valid UTF-8 throughout. */
static bool utf8_valid_text(const char *buf, size_t len)
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

/* ---------------------------------------------------------------------- */
/* The scanner */

enum field_kind {
	FIELD_STRING,
	FIELD_STRING_OR_NULL,
	FIELD_STRING_ARRAY,
	FIELD_COUNT,       /* a JSON integer 0..2^53, digits only */
	FIELD_INT,         /* any int64 JSON integer, no fraction or exponent */
	FIELD_INT_OR_NULL,
};

struct field {
	const char *key;
	enum field_kind kind;
};

/* The keys a document may have, each at most once. */
struct schema {
	const char *what;          /* names the document in reasons */
	const struct field *fields;
	size_t count;
	size_t longest_key;        /* bytes */
};

#define SCHEMA_FIELDS_MAX 16
#define SCHEMA_KEY_MAX 24
#define COUNT_MAX (UINT64_C(1) << 53) /* the last integer a double holds exactly */

static const struct field start_fields[] = {
	{ "tool_version", FIELD_STRING },
	{ "args", FIELD_STRING_ARRAY },
	{ "root", FIELD_STRING_OR_NULL },
	{ "db_path", FIELD_STRING },
};

static const struct schema start_schema = {
	"start document", start_fields, 4, 12,
};

enum {
	FINISH_OUTCOME,
	FINISH_ERROR_MESSAGE,
	FINISH_FILES,
	FINISH_SYMBOLS,
	FINISH_REFERENCES,
};

static const struct field finish_fields[] = {
	[FINISH_OUTCOME] = { "outcome", FIELD_STRING },
	[FINISH_ERROR_MESSAGE] = { "error_message", FIELD_STRING_OR_NULL },
	[FINISH_FILES] = { "files_indexed", FIELD_COUNT },
	[FINISH_SYMBOLS] = { "symbols_indexed", FIELD_COUNT },
	[FINISH_REFERENCES] = { "references_indexed", FIELD_COUNT },
};

static const struct schema finish_schema = {
	"finish value", finish_fields, 5, 18,
};

/* The record, in the contract's order; record_to_json() writes this order. */
enum {
	REC_ID,
	REC_EXECUTION_ID,
	REC_TOOL_VERSION,
	REC_ARGS,
	REC_ROOT,
	REC_DB_PATH,
	REC_STARTED_AT,
	REC_FINISHED_AT,
	REC_DURATION_MS,
	REC_OUTCOME,
	REC_ERROR_MESSAGE,
	REC_FILES,
	REC_SYMBOLS,
	REC_REFERENCES,
	REC_FIELDS
};

static const struct field record_fields[] = {
	[REC_ID] = { "id", FIELD_INT },
	[REC_EXECUTION_ID] = { "execution_id", FIELD_STRING },
	[REC_TOOL_VERSION] = { "tool_version", FIELD_STRING },
	[REC_ARGS] = { "args", FIELD_STRING_ARRAY },
	[REC_ROOT] = { "root", FIELD_STRING_OR_NULL },
	[REC_DB_PATH] = { "db_path", FIELD_STRING },
	[REC_STARTED_AT] = { "started_at", FIELD_INT },
	[REC_FINISHED_AT] = { "finished_at", FIELD_INT_OR_NULL },
	[REC_DURATION_MS] = { "duration_ms", FIELD_INT_OR_NULL },
	[REC_OUTCOME] = { "outcome", FIELD_STRING },
	[REC_ERROR_MESSAGE] = { "error_message", FIELD_STRING_OR_NULL },
	[REC_FILES] = { "files_indexed", FIELD_INT },
	[REC_SYMBOLS] = { "symbols_indexed", FIELD_INT },
	[REC_REFERENCES] = { "references_indexed", FIELD_INT },
};

static const struct schema record_schema = {
	"stored record", record_fields, REC_FIELDS, 18,
};

/* Where the scanner is in the grammar  ws '{' members '}' ws. */
enum scan_state {
	SCAN_BEFORE,        /* white space before '{' */
	SCAN_OBJECT_FIRST,  /* after '{': a key or '}' */
	SCAN_OBJECT_NEXT,   /* after ',': a key */
	SCAN_KEY,           /* inside a key */
	SCAN_COLON,         /* after a key */
	SCAN_VALUE,         /* after ':' */
	SCAN_STRING,        /* inside a string value or array element */
	SCAN_NULL,          /* inside the literal null */
	SCAN_NUMBER_SIGN,   /* after '-' */
	SCAN_NUMBER_ZERO,   /* after a leading 0, which must end the number */
	SCAN_NUMBER_DIGITS, /* after a non-zero first digit */
	SCAN_ARRAY_FIRST,   /* after '[': an element or ']' */
	SCAN_ARRAY_NEXT,    /* after ',' in an array: an element */
	SCAN_ARRAY_AFTER,   /* after an element: ',' or ']' */
	SCAN_MEMBER_AFTER,  /* after a value: ',' or '}' */
	SCAN_AFTER,         /* after the object: white space only */
};

/* Where the scanner is inside a string. */
enum string_state {
	STRING_PLAIN,
	STRING_UTF8,          /* inside a multi-byte sequence */
	STRING_ESCAPE,        /* after '\' */
	STRING_HEX,           /* inside the four digits of \uXXXX */
	STRING_LOW_BACKSLASH, /* after a high surrogate: '\' must follow */
	STRING_LOW_U,         /* after a high surrogate and '\': 'u' must follow */
};

struct record_scan {
	const struct schema *schema;
	size_t limit;  /* bytes a document may have */
	size_t fed;    /* bytes fed so far */
	int error;     /* 0, or the error it failed with, for good */
	enum scan_state state;

	enum string_state string_state;
	struct utf8_state utf8;
	unsigned hex_left;
	uint32_t hex_value;
	uint32_t high_surrogate; /* a pending \uD800-\uDBFF, 0 if none */

	/* The key being read, decoded, and the field it named. */
	char key[SCHEMA_KEY_MAX + 4];
	size_t key_len;
	size_t field;
	uint32_t seen;  /* bit i: field i was present */
	uint32_t nulls; /* bit i: field i was null */

	unsigned null_pos;    /* bytes of "null" matched */
	bool negative;
	uint64_t magnitude;   /* of the integer being read */
	int64_t ints[SCHEMA_FIELDS_MAX];
};

static void scan_init(struct record_scan *sc, const struct schema *schema, size_t limit)
{
	memset(sc, 0, sizeof(*sc));
	sc->schema = schema;
	sc->limit = limit;
	sc->state = SCAN_BEFORE;
}

struct record_scan *record_scan_new(void)
{
	struct record_scan *sc = malloc(sizeof(*sc));

	if (sc != NULL)
		scan_init(sc, &start_schema, RECORD_START_MAX);
	return sc;
}

void record_scan_free(struct record_scan *sc)
{
	free(sc);
}

bool record_scan_blank(const struct record_scan *sc)
{
	return sc->error == 0 && sc->state == SCAN_BEFORE;
}

static bool json_space(unsigned char b)
{
	return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

/* Refuses byte @b where the grammar has no place for it. */
static int scan_unexpected(const struct record_scan *sc, unsigned char b)
{
	if (b > 0x20 && b < 0x7f)
		return store_fail(-EINVAL, "%s: unexpected '%c' at byte %zu",
				  sc->schema->what, b, sc->fed);
	return store_fail(-EINVAL, "%s: unexpected byte 0x%02x at byte %zu",
			  sc->schema->what, b, sc->fed);
}

static const struct field *scan_field(const struct record_scan *sc)
{
	return &sc->schema->fields[sc->field];
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
	};
	const struct field *f = scan_field(sc);

	return store_fail(-EINVAL, "%s: \"%s\" must be %s", sc->schema->what, f->key,
			  wanted[f->kind]);
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

/* Appends code point @cp, from a \u escape, to the key as UTF-8. */
static int scan_key_append_code_point(struct record_scan *sc, uint32_t cp)
{
	char utf8[4];
	size_t n;

	if (cp < 0x80) {
		utf8[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		utf8[0] = (char)(0xc0 | (cp >> 6));
		utf8[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		utf8[0] = (char)(0xe0 | (cp >> 12));
		utf8[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		utf8[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		utf8[0] = (char)(0xf0 | (cp >> 18));
		utf8[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		utf8[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		utf8[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return scan_key_append(sc, utf8, n);
}

/* A key has closed: it must name a field not seen yet. */
static int scan_key_close(struct record_scan *sc)
{
	const struct schema *schema = sc->schema;

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

/* A string character, decoded from an escape, arrived. */
static int scan_string_code_point(struct record_scan *sc, uint32_t cp)
{
	if (sc->state == SCAN_KEY)
		return scan_key_append_code_point(sc, cp);
	return 0;
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

/*
 * One byte inside a string (key or value): 1 when it closes the string,
 * 0 to go on, or a negative errno.
 */
static int scan_string_byte(struct record_scan *sc, unsigned char b)
{
	const char *what = sc->schema->what;
	int digit;
	char decoded;

	switch (sc->string_state) {
	case STRING_PLAIN:
		if (b == '"')
			return 1;
		if (b == '\\') {
			sc->string_state = STRING_ESCAPE;
			return 0;
		}
		if (b == 0)
			return store_fail(-EINVAL, "%s: NUL byte in a string", what);
		if (b < 0x20)
			return store_fail(-EINVAL, "%s: raw control byte 0x%02x in a string",
					  what, b);
		if (b >= 0x80) {
			if (utf8_lead(&sc->utf8, b) < 0)
				return store_fail(-EINVAL, "%s: invalid UTF-8 at byte %zu",
						  what, sc->fed);
			sc->string_state = STRING_UTF8;
		}
		return sc->state == SCAN_KEY ? scan_key_append(sc, (const char *)&b, 1) : 0;
	case STRING_UTF8:
		if (utf8_continue(&sc->utf8, b) < 0)
			return store_fail(-EINVAL, "%s: invalid UTF-8 at byte %zu", what, sc->fed);
		if (sc->utf8.left == 0)
			sc->string_state = STRING_PLAIN;
		return sc->state == SCAN_KEY ? scan_key_append(sc, (const char *)&b, 1) : 0;
	case STRING_ESCAPE:
		switch (b) {
		case '"': decoded = '"'; break;
		case '\\': decoded = '\\'; break;
		case '/': decoded = '/'; break;
		case 'b': decoded = '\b'; break;
		case 'f': decoded = '\f'; break;
		case 'n': decoded = '\n'; break;
		case 'r': decoded = '\r'; break;
		case 't': decoded = '\t'; break;
		case 'u':
			sc->string_state = STRING_HEX;
			sc->hex_left = 4;
			sc->hex_value = 0;
			return 0;
		default:
			return store_fail(-EINVAL, "%s: invalid escape at byte %zu", what, sc->fed);
		}
		sc->string_state = STRING_PLAIN;
		return scan_string_code_point(sc, (unsigned char)decoded);
	case STRING_HEX:
		digit = scan_hex_digit(b);
		if (digit < 0)
			return store_fail(-EINVAL, "%s: invalid \\u escape at byte %zu",
					  what, sc->fed);
		sc->hex_value = sc->hex_value << 4 | (uint32_t)digit;
		if (--sc->hex_left > 0)
			return 0;
		return scan_escape_done(sc);
	case STRING_LOW_BACKSLASH:
	case STRING_LOW_U:
		if (b != (sc->string_state == STRING_LOW_BACKSLASH ? '\\' : 'u'))
			return store_fail(-EINVAL, "%s: unpaired UTF-16 surrogate \\u%04X",
					  what, (unsigned)sc->high_surrogate);
		if (sc->string_state == STRING_LOW_BACKSLASH) {
			sc->string_state = STRING_LOW_U;
		} else {
			sc->string_state = STRING_HEX;
			sc->hex_left = 4;
			sc->hex_value = 0;
		}
		return 0;
	}
	return store_fail(-EINVAL, "%s: scanner lost", what);
}

static void scan_string_open(struct record_scan *sc, enum scan_state state)
{
	sc->state = state;
	sc->string_state = STRING_PLAIN;
	sc->high_surrogate = 0;
	if (state == SCAN_KEY)
		sc->key_len = 0;
}

/* The first byte of a value decides its type: refuse a wrong one right there. */
static int scan_value_start(struct record_scan *sc, unsigned char b)
{
	enum field_kind kind = scan_field(sc)->kind;
	bool is_int = kind == FIELD_COUNT || kind == FIELD_INT || kind == FIELD_INT_OR_NULL;

	switch (b) {
	case '"':
		if (kind != FIELD_STRING && kind != FIELD_STRING_OR_NULL)
			return scan_wrong_type(sc);
		scan_string_open(sc, SCAN_STRING);
		return 0;
	case 'n':
		if (kind != FIELD_STRING_OR_NULL && kind != FIELD_INT_OR_NULL)
			return scan_wrong_type(sc);
		sc->state = SCAN_NULL;
		sc->null_pos = 1;
		return 0;
	case '[':
		if (kind != FIELD_STRING_ARRAY)
			return scan_wrong_type(sc);
		sc->state = SCAN_ARRAY_FIRST;
		return 0;
	case '-':
		if (kind != FIELD_INT && kind != FIELD_INT_OR_NULL)
			return scan_wrong_type(sc);
		sc->negative = true;
		sc->magnitude = 0;
		sc->state = SCAN_NUMBER_SIGN;
		return 0;
	case 't':
	case 'f':
	case '{':
		return scan_wrong_type(sc);
	}
	if (b >= '0' && b <= '9') {
		if (!is_int)
			return scan_wrong_type(sc);
		sc->negative = false;
		sc->magnitude = (uint64_t)(b - '0');
		sc->state = b == '0' ? SCAN_NUMBER_ZERO : SCAN_NUMBER_DIGITS;
		return 0;
	}
	return scan_unexpected(sc, b);
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

static int scan_byte(struct record_scan *sc, unsigned char b)
{
	bool again;
	int ret;

	do {
		again = false;
		switch (sc->state) {
		case SCAN_BEFORE:
			if (b == '{')
				sc->state = SCAN_OBJECT_FIRST;
			else if (!json_space(b))
				return scan_unexpected(sc, b);
			break;
		case SCAN_OBJECT_FIRST:
		case SCAN_OBJECT_NEXT:
			if (b == '"')
				scan_string_open(sc, SCAN_KEY);
			else if (b == '}' && sc->state == SCAN_OBJECT_FIRST)
				sc->state = SCAN_AFTER;
			else if (!json_space(b))
				return scan_unexpected(sc, b);
			break;
		case SCAN_KEY:
			ret = scan_string_byte(sc, b);
			if (ret < 0)
				return ret;
			if (ret == 1) {
				ret = scan_key_close(sc);
				if (ret < 0)
					return ret;
				sc->state = SCAN_COLON;
			}
			break;
		case SCAN_COLON:
			if (b == ':')
				sc->state = SCAN_VALUE;
			else if (!json_space(b))
				return scan_unexpected(sc, b);
			break;
		case SCAN_VALUE:
			if (!json_space(b))
				return scan_value_start(sc, b);
			break;
		case SCAN_STRING:
			ret = scan_string_byte(sc, b);
			if (ret < 0)
				return ret;
			if (ret == 1)
				sc->state = scan_field(sc)->kind == FIELD_STRING_ARRAY ?
						    SCAN_ARRAY_AFTER : SCAN_MEMBER_AFTER;
			break;
		case SCAN_NULL:
			if (b != (unsigned char)"null"[sc->null_pos])
				return scan_wrong_type(sc);
			if (++sc->null_pos == 4) {
				sc->nulls |= UINT32_C(1) << sc->field;
				sc->state = SCAN_MEMBER_AFTER;
			}
			break;
		case SCAN_NUMBER_SIGN:
		case SCAN_NUMBER_ZERO:
		case SCAN_NUMBER_DIGITS:
			ret = scan_number_byte(sc, b, &again);
			if (ret < 0)
				return ret;
			break;
		case SCAN_ARRAY_FIRST:
		case SCAN_ARRAY_NEXT:
			if (b == '"')
				scan_string_open(sc, SCAN_STRING);
			else if (b == ']' && sc->state == SCAN_ARRAY_FIRST)
				sc->state = SCAN_MEMBER_AFTER;
			else if (b == ']')
				return scan_unexpected(sc, b);
			else if (!json_space(b))
				return scan_wrong_type(sc);
			break;
		case SCAN_ARRAY_AFTER:
			if (b == ',')
				sc->state = SCAN_ARRAY_NEXT;
			else if (b == ']')
				sc->state = SCAN_MEMBER_AFTER;
			else if (!json_space(b))
				return scan_unexpected(sc, b);
			break;
		case SCAN_MEMBER_AFTER:
			if (b == ',')
				sc->state = SCAN_OBJECT_NEXT;
			else if (b == '}')
				sc->state = SCAN_AFTER;
			else if (!json_space(b))
				return scan_unexpected(sc, b);
			break;
		case SCAN_AFTER:
			if (!json_space(b))
				return store_fail(-EINVAL, "%s: more than one JSON object "
						  "(byte %zu)", sc->schema->what, sc->fed);
			break;
		}
	} while (again);
	return 0;
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
	for (size_t i = 0; i < len; i++) {
		sc->fed++;
		err = scan_byte(sc, (unsigned char)buf[i]);
		if (err < 0)
			goto fail;
	}
	return sc->state == SCAN_AFTER ? RECORD_SCAN_DONE : RECORD_SCAN_MORE;
fail:
	sc->error = err;
	return err;
}

/* Scans a whole buffer, which must hold exactly one complete object. */
static int scan_whole(struct record_scan *sc, const char *buf, size_t len)
{
	int ret = record_scan_feed(sc, buf, len);

	if (ret == RECORD_SCAN_MORE)
		return store_fail(-EINVAL, "%s: incomplete JSON", sc->schema->what);
	return ret < 0 ? ret : 0;
}

static bool scan_has(const struct record_scan *sc, size_t field)
{
	return (sc->seen & (UINT32_C(1) << field)) != 0;
}

static bool scan_is_null(const struct record_scan *sc, size_t field)
{
	return (sc->nulls & (UINT32_C(1) << field)) != 0;
}

/* ---------------------------------------------------------------------- */
/* Values out of a document the scanner has passed */

/*
 * Copies the string of member @key of @object into *out (NULL for null or
 * absent, which the scanner and the caller have already allowed for).
 */
static int json_copy_string(const cJSON *object, const char *key, char **out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);

	*out = NULL;
	if (!cJSON_IsString(item))
		return 0;
	*out = strdup(item->valuestring);
	return *out == NULL ? -ENOMEM : 0;
}

/*
 * Sets *out to the compact JSON text of array member @key, or "[]" if absent.
 * cJSON prints with malloc (no hooks are installed), so free() releases it.
 */
static int json_copy_array_text(const cJSON *object, const char *key, char **out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);

	*out = cJSON_IsArray(item) ? cJSON_PrintUnformatted(item) : strdup("[]");
	return *out == NULL ? -ENOMEM : 0;
}

/* Parses what the scanner passed; -ENOMEM is all that can go wrong now. */
static int json_parse_scanned(const char *buf, size_t len, cJSON **out)
{
	*out = cJSON_ParseWithLengthOpts(buf, len, NULL, false);
	return *out == NULL ? store_fail(-ENOMEM, "out of memory parsing JSON") : 0;
}

/* ---------------------------------------------------------------------- */
/* Start documents */

int record_parse_start(const char *buf, size_t len, struct store_record *out)
{
	struct record_scan sc;
	cJSON *doc = NULL;
	char *tool_version = NULL, *args = NULL, *root = NULL, *db_path = NULL;
	int err;

	if (len > RECORD_START_MAX) {
		err = store_fail(-EFBIG, "start document: longer than %d bytes",
				 RECORD_START_MAX);
		goto out;
	}
	scan_init(&sc, &start_schema, RECORD_START_MAX);
	err = record_scan_feed(&sc, buf, len);
	if (err < 0)
		goto out;
	if (err == RECORD_SCAN_MORE && !record_scan_blank(&sc)) {
		err = store_fail(-EINVAL, "start document: incomplete JSON");
		goto out;
	}
	if (err == RECORD_SCAN_DONE) {
		err = json_parse_scanned(buf, len, &doc);
		if (err < 0)
			goto out;
	}
	/* A blank document leaves doc NULL: every field takes its default. */
	err = json_copy_string(doc, "tool_version", &tool_version);
	if (err == 0 && tool_version == NULL && (tool_version = strdup("")) == NULL)
		err = -ENOMEM;
	if (err == 0)
		err = json_copy_array_text(doc, "args", &args);
	if (err == 0)
		err = json_copy_string(doc, "root", &root);
	if (err == 0)
		err = json_copy_string(doc, "db_path", &db_path);
	if (err == 0 && db_path == NULL && (db_path = strdup("")) == NULL)
		err = -ENOMEM;
	if (err < 0) {
		err = store_fail(err, "out of memory reading a start document");
		goto free_values;
	}
	out->tool_version = tool_version;
	out->args = args;
	out->root = root;
	out->db_path = db_path;
	goto free_doc;

free_values:
	free(tool_version);
	free(args);
	free(root);
	free(db_path);
free_doc:
	cJSON_Delete(doc);
out:
	return err;
}

/* ---------------------------------------------------------------------- */
/* Finish values */

static bool ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Narrows [*start, *start + *len) to drop white space at both ends. */
static void trim_space(const char **start, size_t *len)
{
	while (*len > 0 && ascii_space(**start)) {
		(*start)++;
		(*len)--;
	}
	while (*len > 0 && ascii_space((*start)[*len - 1]))
		(*len)--;
}

static bool word_is(const char *text, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(text, word, len) == 0;
}

/* The outcome a finish may set, by name; refuses "running" and the rest. */
static int finish_outcome(const char *name, size_t len, enum store_outcome *out)
{
	static const enum store_outcome finishing[] = {
		STORE_SUCCESS, STORE_ERROR, STORE_PARTIAL,
	};

	for (size_t i = 0; i < sizeof(finishing) / sizeof(finishing[0]); i++) {
		if (word_is(name, len, store_outcome_name(finishing[i]))) {
			*out = finishing[i];
			return 0;
		}
	}
	if (word_is(name, len, store_outcome_name(STORE_RUNNING)))
		return store_fail(-EINVAL, "finish value: a finish cannot set running");
	return store_fail(-EINVAL, "finish value: unknown word \"%.*s\"",
			  len > 40 ? 40 : (int)len, name);
}

/* A finish value in words: "success", "error", "partial" or "error: <message>". */
static int finish_parse_words(const char *text, size_t len, struct store_finish *out,
			      char **message)
{
	static const char error_prefix[] = "error:";
	const size_t prefix_len = sizeof(error_prefix) - 1;
	const char *rest;
	size_t rest_len;

	if (len < prefix_len || memcmp(text, error_prefix, prefix_len) != 0)
		return finish_outcome(text, len, &out->outcome);
	out->outcome = STORE_ERROR;
	rest = text + prefix_len;
	rest_len = len - prefix_len;
	trim_space(&rest, &rest_len);
	/* "error:" with nothing after it says no more than "error". */
	if (rest_len == 0)
		return 0;
	*message = strndup(rest, rest_len);
	return *message == NULL ? store_fail(-ENOMEM, "out of memory") : 0;
}

/* A finish value as a JSON object. */
static int finish_parse_json(const char *text, size_t len, struct store_finish *out,
			     char **message)
{
	struct record_scan sc;
	cJSON *doc = NULL;
	const cJSON *outcome;
	int err;

	scan_init(&sc, &finish_schema, RECORD_FINISH_MAX);
	err = scan_whole(&sc, text, len);
	if (err < 0)
		goto out;
	if (!scan_has(&sc, FINISH_OUTCOME)) {
		err = store_fail(-EINVAL, "finish value: \"outcome\" is required");
		goto out;
	}
	err = json_parse_scanned(text, len, &doc);
	if (err < 0)
		goto out;
	outcome = cJSON_GetObjectItemCaseSensitive(doc, "outcome");
	err = finish_outcome(outcome->valuestring, strlen(outcome->valuestring),
			     &out->outcome);
	if (err < 0)
		goto free_doc;
	/* The scanner read the counts from their text: exact, unlike cJSON's double. */
	out->files_indexed = sc.ints[FINISH_FILES];
	out->symbols_indexed = sc.ints[FINISH_SYMBOLS];
	out->references_indexed = sc.ints[FINISH_REFERENCES];
	err = json_copy_string(doc, "error_message", message);
	if (err < 0)
		err = store_fail(err, "out of memory");

free_doc:
	cJSON_Delete(doc);
out:
	return err;
}

int record_parse_finish(const char *buf, size_t len, struct store_finish *out,
			char **message)
{
	const char *text = buf;
	size_t text_len = len;
	struct store_finish fin = { .outcome = STORE_ERROR };
	int err;

	*message = NULL;
	if (len > RECORD_FINISH_MAX) {
		err = store_fail(-EFBIG, "finish value: longer than %d bytes", RECORD_FINISH_MAX);
		goto out;
	}
	if (!utf8_valid_text(buf, len)) {
		err = store_fail(-EINVAL, "finish value: a NUL byte or invalid UTF-8");
		goto out;
	}
	trim_space(&text, &text_len);
	if (text_len == 0) {
		err = store_fail(-EINVAL, "finish value: empty");
		goto out;
	}
	if (text[0] == '{')
		err = finish_parse_json(text, text_len, &fin, message);
	else
		err = finish_parse_words(text, text_len, &fin, message);
	if (err < 0)
		goto free_message;
	fin.error_message = *message;
	*out = fin;
	goto out;

free_message:
	free(*message);
	*message = NULL;
out:
	return err;
}

/* ---------------------------------------------------------------------- */
/* Rendering */

/*
 * A growing output buffer; one failed allocation makes it fail for good.
 * One that measures only counts what would be added: a record's size is
 * its rendering's, by the same code, without the bytes.
 */
struct text_buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed;
	bool measure;
};

static void text_add(struct text_buf *tb, const char *s, size_t n)
{
	if (tb->measure) {
		tb->len += n;
		return;
	}
	if (tb->failed)
		return;
	if (n >= tb->cap - tb->len) {
		size_t cap = tb->cap ? tb->cap : 1024;
		char *grown;

		while (n >= cap - tb->len)
			cap *= 2;
		grown = realloc(tb->data, cap);
		if (grown == NULL) {
			tb->failed = true;
			return;
		}
		tb->data = grown;
		tb->cap = cap;
	}
	memcpy(tb->data + tb->len, s, n);
	tb->len += n;
	tb->data[tb->len] = '\0';
}

static void text_add_str(struct text_buf *tb, const char *s)
{
	text_add(tb, s, strlen(s));
}

/* Adds cJSON's rendering of @item, unformatted. */
static void text_add_json(struct text_buf *tb, const cJSON *item)
{
	char *printed = cJSON_PrintUnformatted(item);

	if (printed == NULL) {
		tb->failed = true;
		return;
	}
	text_add_str(tb, printed);
	cJSON_free(printed);
}

/* Adds @s as a JSON string; NULL as "" (or as null when @null_ok). */
static void text_add_string(struct text_buf *tb, const char *s, bool null_ok)
{
	cJSON *item;

	if (s == NULL) {
		text_add_str(tb, null_ok ? "null" : "\"\"");
		return;
	}
	/* A reference: cJSON escapes the caller's bytes without copying them. */
	item = cJSON_CreateStringReference(s);
	if (item == NULL) {
		tb->failed = true;
		return;
	}
	text_add_json(tb, item);
	cJSON_Delete(item);
}

static void text_add_int(struct text_buf *tb, int64_t v, bool null_ok)
{
	char digits[24];

	if (null_ok && v == STORE_NULL) {
		text_add_str(tb, "null");
		return;
	}
	snprintf(digits, sizeof(digits), "%" PRId64, v);
	text_add_str(tb, digits);
}

/*
 * The length of the escape at @p (after its backslash) if it is one that
 * cJSON prints, else 0: the two-character ones, and \u00XX for the other
 * control bytes but NUL, in lower-case hex.
 */
static size_t args_escape_len(const char *p)
{
	static const char hex[] = "0123456789abcdef";
	const char *two = strchr("\"\\bfnrt", *p);
	int v;

	if (*p != '\0' && two != NULL)
		return 1;
	if (p[0] != 'u' || p[1] != '0' || p[2] != '0' || p[3] == '\0' || p[4] == '\0' ||
	    strchr(hex, p[3]) == NULL || strchr(hex, p[4]) == NULL)
		return 0;
	v = (int)(strchr(hex, p[3]) - hex) * 16 + (int)(strchr(hex, p[4]) - hex);
	/* Those with a two-character form, and NUL, which ends a C string, print otherwise. */
	if (v == 0 || v >= 0x20 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t')
		return 0;
	return 5;
}

/*
 * Whether @args is exactly what cJSON_PrintUnformatted() makes of an array
 * of strings (what a start stores): then each string prints as it stands,
 * and the rendering is the text with a space after each separating comma.
 * Sets *@commas to their number. Anything else (a foreign row's text) goes
 * through cJSON, which this must agree with byte for byte (test_record).
 */
static bool args_canonical(const char *args, size_t *commas)
{
	const char *p = args;
	size_t esc;

	*commas = 0;
	if (*p++ != '[')
		return false;
	if (*p == ']')
		return p[1] == '\0';
	for (;;) {
		if (*p++ != '"')
			return false;
		while (*p != '"') {
			if ((unsigned char)*p < 0x20)
				return false;
			if (*p == '\\') {
				esc = args_escape_len(p + 1);
				if (esc == 0)
					return false;
				p += esc;
			}
			p++;
		}
		p++;
		if (*p == ']')
			return p[1] == '\0';
		if (*p++ != ',')
			return false;
		(*commas)++;
	}
}

/* Adds canonical @args (args_canonical) as cJSON's elements would render: ", " between them. */
static void text_add_canonical_args(struct text_buf *tb, const char *args, size_t commas)
{
	const char *p = args, *comma;
	bool in_string = false;

	if (tb->measure) {
		tb->len += strlen(args) + commas;
		return;
	}
	/* A comma outside a string separates elements; inside one it is text. */
	for (comma = p; *comma; comma++) {
		if (*comma == '\\' && in_string)
			comma++;
		else if (*comma == '"')
			in_string = !in_string;
		else if (*comma == ',' && !in_string) {
			text_add(tb, p, (size_t)(comma + 1 - p));
			text_add(tb, " ", 1);
			p = comma + 1;
		}
	}
	text_add(tb, p, (size_t)(comma - p));
}

/*
 * Adds the args array on one line. The text comes from the store: a foreign
 * row may hold anything, and what is not an array renders as []. What a
 * start stored is copied as it stands (parsing 60 KB of args for each stat
 * was most of what a listing cost); anything else is parsed and printed.
 */
static void text_add_args(struct text_buf *tb, const char *args)
{
	cJSON *array;
	const cJSON *element;
	bool first = true;
	size_t commas;

	if (args != NULL && args_canonical(args, &commas)) {
		text_add_canonical_args(tb, args, commas);
		return;
	}
	array = args ? cJSON_ParseWithOpts(args, NULL, true) : NULL;
	text_add_str(tb, "[");
	if (cJSON_IsArray(array)) {
		cJSON_ArrayForEach(element, array) {
			if (!first)
				text_add_str(tb, ", ");
			text_add_json(tb, element);
			first = false;
		}
	}
	text_add_str(tb, "]");
	cJSON_Delete(array);
}

static void text_add_key(struct text_buf *tb, size_t field)
{
	text_add_str(tb, field == 0 ? "{\n  \"" : ",\n  \"");
	text_add_str(tb, record_fields[field].key);
	text_add_str(tb, "\": ");
}

/* Renders @rec into @tb (or measures it, as @tb says). */
static void record_render(struct text_buf *tb, const struct store_record *rec)
{
	const int64_t ints[REC_FIELDS] = {
		[REC_ID] = rec->id,
		[REC_STARTED_AT] = rec->started_at,
		[REC_FINISHED_AT] = rec->finished_at,
		[REC_DURATION_MS] = rec->duration_ms,
		[REC_FILES] = rec->files_indexed,
		[REC_SYMBOLS] = rec->symbols_indexed,
		[REC_REFERENCES] = rec->references_indexed,
	};
	const char *strings[REC_FIELDS] = {
		[REC_EXECUTION_ID] = rec->execution_id,
		[REC_TOOL_VERSION] = rec->tool_version,
		[REC_ROOT] = rec->root,
		[REC_DB_PATH] = rec->db_path,
		[REC_OUTCOME] = rec->outcome,
		[REC_ERROR_MESSAGE] = rec->error_message,
	};

	for (size_t i = 0; i < REC_FIELDS; i++) {
		enum field_kind kind = record_fields[i].kind;

		text_add_key(tb, i);
		if (kind == FIELD_STRING_ARRAY)
			text_add_args(tb, rec->args);
		else if (kind == FIELD_STRING || kind == FIELD_STRING_OR_NULL)
			text_add_string(tb, strings[i], kind == FIELD_STRING_OR_NULL);
		else
			text_add_int(tb, ints[i], kind == FIELD_INT_OR_NULL);
	}
	text_add_str(tb, "\n}\n");
}

int record_json_size(const struct store_record *rec, size_t *len)
{
	struct text_buf tb = { .measure = true };

	record_render(&tb, rec);
	if (tb.failed)
		return store_fail(-ENOMEM, "out of memory measuring %s",
				  rec->execution_id ? rec->execution_id : "a record");
	*len = tb.len;
	return 0;
}

char *record_to_json(const struct store_record *rec, size_t *len)
{
	struct text_buf tb = { 0 };

	record_render(&tb, rec);
	if (tb.failed) {
		free(tb.data);
		store_fail(-ENOMEM, "out of memory rendering %s",
			   rec->execution_id ? rec->execution_id : "a record");
		return NULL;
	}
	if (len != NULL)
		*len = tb.len;
	return tb.data;
}

/* ---------------------------------------------------------------------- */
/* Reading a rendered record back */

int record_from_json(const char *buf, size_t len, struct store_record *out)
{
	struct record_scan sc;
	cJSON *doc = NULL;
	char **strings[REC_FIELDS] = {
		[REC_EXECUTION_ID] = &out->execution_id,
		[REC_TOOL_VERSION] = &out->tool_version,
		[REC_ROOT] = &out->root,
		[REC_DB_PATH] = &out->db_path,
		[REC_OUTCOME] = &out->outcome,
		[REC_ERROR_MESSAGE] = &out->error_message,
	};
	int64_t *ints[REC_FIELDS] = {
		[REC_ID] = &out->id,
		[REC_STARTED_AT] = &out->started_at,
		[REC_FINISHED_AT] = &out->finished_at,
		[REC_DURATION_MS] = &out->duration_ms,
		[REC_FILES] = &out->files_indexed,
		[REC_SYMBOLS] = &out->symbols_indexed,
		[REC_REFERENCES] = &out->references_indexed,
	};
	int err;

	store_record_clear(out);
	scan_init(&sc, &record_schema, SIZE_MAX);
	err = scan_whole(&sc, buf, len);
	if (err < 0)
		goto out;
	for (size_t i = 0; i < REC_FIELDS; i++) {
		if (!scan_has(&sc, i)) {
			err = store_fail(-EINVAL, "stored record: \"%s\" is missing",
					 record_fields[i].key);
			goto out;
		}
	}
	err = json_parse_scanned(buf, len, &doc);
	if (err < 0)
		goto out;
	for (size_t i = 0; i < REC_FIELDS && err == 0; i++) {
		const char *key = record_fields[i].key;

		if (record_fields[i].kind == FIELD_STRING_ARRAY)
			err = json_copy_array_text(doc, key, &out->args);
		else if (strings[i] != NULL)
			err = json_copy_string(doc, key, strings[i]);
		else
			*ints[i] = scan_is_null(&sc, i) ? STORE_NULL : sc.ints[i];
	}
	if (err < 0) {
		err = store_fail(err, "out of memory reading a stored record");
		store_record_clear(out);
	}
	cJSON_Delete(doc);
out:
	return err;
}
