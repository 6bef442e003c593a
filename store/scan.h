/*
 * scan.h - the strict JSON scanner record.c reads every document with
 * (scan.c, and scan_tags.c for objects of strings); read by record.c, and
 * by sqlite_prov.c for scan_add_escaped().
 *
 * A scan is driven by a schema (the keys a document may have and the type
 * of each) and checks the document one byte at a time, so that a start
 * document fails on the write that proves it bad. As it goes it captures
 * what it read: each string decoded, each array of strings as the compact
 * text cJSON would print for it, each object of strings as its pairs
 * (scan_tags()), each integer exact. A document is read once: what the
 * scan captured is what record.c hands on.
 */
#ifndef EXECLOG_SCAN_H
#define EXECLOG_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "text.h"

enum field_kind {
	FIELD_STRING,
	FIELD_STRING_OR_NULL,
	FIELD_STRING_ARRAY,
	FIELD_COUNT,       /* a JSON integer 0..2^53, digits only */
	FIELD_INT,         /* any int64 JSON integer, no fraction or exponent */
	FIELD_INT_OR_NULL,
	FIELD_TAGS,        /* an object of strings, by the rules of a start's tags (store.h) */
	FIELD_STRING_MAP,  /* an object of strings, any (a stored record's tags) */
};

struct field {
	const char *key;
	enum field_kind kind;
};

/* The keys a document may have, each at most once. */
struct schema {
	const char *what;          /* names the document in reasons */
	const struct field *fields;
	size_t count;              /* at most SCHEMA_FIELDS_MAX */
	size_t longest_key;        /* bytes, at most SCHEMA_KEY_MAX, owned keys included */
	/*
	 * Keys the document may not set because the daemon does, NULL-ended
	 * (NULL: none): refused with a reason that says so, not as unknown.
	 */
	const char *const *owned;
};

#define SCHEMA_FIELDS_MAX 24 /* the record's 23 fields; bits of record_scan.seen */
#define SCHEMA_KEY_MAX 24

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
	SCAN_MAP_FIRST,     /* after '{' of an object of strings: a key or '}' */
	SCAN_MAP_NEXT,      /* after ',' in it: a key */
	SCAN_MAP_KEY,       /* inside one of its keys */
	SCAN_MAP_COLON,     /* after one of its keys */
	SCAN_MAP_VALUE,     /* after its ':': a string */
	SCAN_MAP_STRING,    /* inside one of its values */
	SCAN_MAP_AFTER,     /* after one of its values: ',' or '}' */
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

/*
 * Called with each element of an array of strings, decoded, instead of
 * capturing the array: 0 to go on, anything else to stop the scan there.
 */
typedef int scan_each_fn(void *ctx, const char *s, size_t len);


struct record_scan {
	const struct schema *schema;
	size_t limit;  /* bytes a document may have */
	size_t fed;    /* bytes fed so far */
	int error;     /* 0, or the error it failed with, for good */
	bool stopped;  /* an each() asked to stop */
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

	/* What was read: integers, and the text of strings and arrays. */
	int64_t ints[SCHEMA_FIELDS_MAX];
	struct text_buf values[SCHEMA_FIELDS_MAX];

	/*
	 * The object of strings being read: pairs so far, where in its capture
	 * (key NUL value NUL ...) the current key began, and the decoded bytes
	 * of the current key or value.
	 */
	size_t map_count;
	size_t map_key_at;
	size_t map_item_len;

	/* When set, arrays' elements go to each() (from element), not to values. */
	scan_each_fn *each;
	void *each_ctx;
	struct text_buf element;
};

/* Starts a scan of a document of at most @limit bytes. */
void scan_init(struct record_scan *sc, const struct schema *schema, size_t limit);

/* Frees what the scan captured (and not taken). */
void scan_release(struct record_scan *sc);

/* Scans a whole buffer, which must hold exactly one complete object: 0 or -errno. */
int scan_whole(struct record_scan *sc, const char *buf, size_t len);

bool scan_has(const struct record_scan *sc, size_t field);
bool scan_is_null(const struct record_scan *sc, size_t field);

/*
 * Moves the captured text of @field into *@out: a malloc'd string, or NULL
 * when the field was absent or null. 0 or -ENOMEM (the capture ran out).
 */
int scan_take(struct record_scan *sc, size_t field, char **out);

/* As scan_take(), leaving the capture in the scan: *@out is a copy. */
int scan_copy(const struct record_scan *sc, size_t field, char **out);

/*
 * Copies the pairs captured for object-of-strings @field into a malloc'd
 * array in *@tags (NULL when none, absent or null) and their number in
 * *@n, in the document's order; the capture stays. 0 or -ENOMEM.
 */
int scan_tags(const struct record_scan *sc, size_t field, struct store_tag **tags, size_t *n);

/*
 * Appends the @n bytes at @s as the inside of a JSON string, escaped as
 * cJSON_PrintUnformatted() escapes them: what record.c renders strings with.
 */
void scan_add_escaped(struct text_buf *tb, const char *s, size_t n);

#endif
