/*
 * record.h - an execution as JSON, the only place that knows cJSON
 * (record.c reads and checks it, record_render.c writes it).
 *
 * Renders a record as the contract's document, reads a stored document back,
 * checks execution names, and parses what users write: start documents
 * (checked as they arrive, write by write) and finish values; gives the
 * strings of a stored args text. Every refusal sets store_reason(). Nothing
 * here touches a store.
 */
#ifndef EXECLOG_RECORD_H
#define EXECLOG_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

#define RECORD_NAME_MAX 128        /* bytes in an execution_id */
#define RECORD_START_MAX 1048576   /* bytes in a start document */
#define RECORD_FINISH_MAX 65536    /* bytes in one finish value */

/*
 * Checks an execution name: 1-128 bytes of A-Z a-z 0-9 . _ : @ + - not
 * starting with '.'. 0, -EINVAL, or -ENAMETOOLONG past 255 bytes.
 */
int record_name_check(const char *name);

/*
 * Renders @rec as its JSON document: the contract's fields in its order
 * (magellan's fourteen, then exit_code ... output_bytes), one per line,
 * args and tags each on its one line, ending in a newline. Returns a
 * malloc'd string and its length in *len, or NULL when out of memory.
 */
char *record_to_json(const struct store_record *rec, size_t *len);

/*
 * The length record_to_json() would give @rec, in *@len, without making
 * the text: what a stat needs. 0 or -ENOMEM.
 */
int record_json_size(const struct store_record *rec, size_t *len);

/*
 * Reads a document made by record_to_json() back into @out (cleared first;
 * started_ms and heartbeat_ms are left 0), tags included, or one of an
 * older execlogfs with magellan's fourteen fields only (then the others are
 * null, none or 0, as store_record_clear() leaves them). -EINVAL if it is
 * neither.
 */
int record_from_json(const char *buf, size_t len, struct store_record *out);

/* The state of a start document being checked as it arrives. */
struct record_scan;

enum {
	RECORD_SCAN_MORE = 0, /* a valid beginning (maybe empty): more may come */
	RECORD_SCAN_DONE = 1, /* a complete valid object, maybe white space after */
};

/* A new scan, or NULL when out of memory. */
struct record_scan *record_scan_new(void);
void record_scan_free(struct record_scan *sc);

/*
 * Feeds the next @len bytes of a start document. Returns RECORD_SCAN_MORE or
 * RECORD_SCAN_DONE for what has been fed so far; -EINVAL as soon as no
 * continuation can make a valid document (an unknown or repeated key, a key
 * the daemon sets, a wrong type, a tag against the rules of store.h, a NUL,
 * invalid UTF-8, anything after the object but white space); -EFBIG when
 * the total passes RECORD_START_MAX. After an error the scan stays failed.
 */
int record_scan_feed(struct record_scan *sc, const char *buf, size_t len);

/* True while only white space (or nothing) has been fed. */
bool record_scan_blank(const struct record_scan *sc);

/*
 * What a scan that is done (RECORD_SCAN_DONE) or blank captured, into
 * tool_version, args, root, db_path, cwd, tags and ntags of @out (malloc'd
 * copies; tags NULL when none), as
 * record_parse_start() gives them: the document is not read again. The
 * scan is unchanged. -EINVAL if the scan failed or is incomplete; -ENOMEM.
 */
int record_scan_values(struct record_scan *sc, struct store_record *out);

/*
 * Parses a whole start document (or white space only, for the defaults) into
 * tool_version, args, root, db_path, cwd, tags and ntags of @out; other
 * fields are untouched.
 * -EINVAL or -EFBIG as record_scan_feed() would say.
 */
int record_parse_start(const char *buf, size_t len, struct store_record *out);

/*
 * Calls @each with each string of the stored args text @args (a JSON array
 * of strings), decoded, in order, until @each returns non-zero. 0 when
 * every string was given or @each stopped; -EINVAL when the text is not an
 * array of strings (a row another program wrote): the strings before the
 * fault were given. NULL is an empty array.
 */
typedef int record_args_fn(void *ctx, const char *arg, size_t len);
int record_args_each(const char *args, record_args_fn *each, void *ctx);

/*
 * Parses one finish value: "success", "error", "partial" (white space around
 * ignored), "error: <message>", or a JSON object with "outcome" and any of
 * "error_message", "files_indexed", "symbols_indexed", "references_indexed",
 * "exit_code" (0-255) and "signal" (1-64); out->exit_code and out->signal
 * are STORE_NULL when not given.
 * On success *message holds a malloc'd copy of the message (or NULL) that
 * out->error_message points to; free it after use. -EINVAL for anything
 * else (including "running"), -EFBIG past RECORD_FINISH_MAX.
 */
int record_parse_finish(const char *buf, size_t len, struct store_finish *out,
			char **message);

#endif
