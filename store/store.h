/*
 * store.h - the execution log store, as the filesystem sees it.
 *
 * An opaque struct store holds one execution log in one backend (SQLite,
 * LMDB, ...), chosen by name at open time. Every call returns 0 or a
 * negative errno; when a call refuses, store_reason() gives a short human
 * reason for the log. Every call is safe from several threads at once.
 *
 * This header knows nothing of FUSE, of files or of paths beyond the one
 * string handed to store_open(): a backend may live on a server.
 */
#ifndef EXECLOG_STORE_H
#define EXECLOG_STORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct statvfs;

/* The value of an integer field that is JSON null (finished_at, duration_ms). */
#define STORE_NULL INT64_MIN

/* Outcomes, in the order the views list them. */
enum store_outcome {
	STORE_RUNNING,
	STORE_SUCCESS,
	STORE_ERROR,
	STORE_PARTIAL,
	STORE_OUTCOMES
};

/* One tag of an execution: a key of 1-64 bytes of A-Z a-z 0-9 . _ - and a value of up to 256 bytes. */
struct store_tag {
	char *key;
	char *value;
};

#define STORE_TAGS_MAX 32        /* tags of one execution */
#define STORE_TAG_KEY_MAX 64     /* bytes in a tag's key */
#define STORE_TAG_VALUE_MAX 256  /* bytes in a tag's value */

/*
 * One execution. Every string is owned by the record (free with
 * store_record_clear()); root, error_message, host, user and cwd may be
 * NULL (JSON null). The fields up to output_bytes are the contract's
 * record, in its order: magellan's fourteen, then execlogfs's own.
 */
struct store_record {
	int64_t id;
	char *execution_id;
	char *tool_version;
	char *args;          /* JSON text of an array of strings */
	char *root;          /* NULL for null */
	char *db_path;
	int64_t started_at;  /* Unix seconds */
	int64_t finished_at; /* Unix seconds, STORE_NULL while running */
	int64_t duration_ms; /* STORE_NULL while running */
	char *outcome;       /* "running", "success", "error", "partial" */
	char *error_message; /* NULL for null */
	int64_t files_indexed;
	int64_t symbols_indexed;
	int64_t references_indexed;

	/* Provenance: null (STORE_NULL, NULL) in rows other programs wrote. */
	int64_t exit_code;   /* 0-255, from the finish; STORE_NULL until then */
	int64_t signal;      /* 1-64, from the finish; STORE_NULL otherwise */
	char *host;          /* the host of the mount that started it */
	char *user;          /* the user name of the creating process (uid as text if none) */
	int64_t uid;         /* that process's uid */
	int64_t pid;         /* that process's id */
	char *cwd;           /* from the start document */
	struct store_tag *tags; /* ntags of them, in the start document's order */
	size_t ntags;
	int64_t output_bytes; /* length of output/<id>; 0 when none */

	/* Not in the JSON document. */
	int64_t started_ms;   /* start in Unix ms (started_at * 1000 if unknown) */
	int64_t heartbeat_ms; /* last start, heartbeat or finish, Unix ms */
	/*
	 * The tool: the last path component of args[0] (NULL when args is
	 * empty or that component is), what by-tool/ lists. store_start()
	 * sets it from args for the backend to index; reads may leave it NULL.
	 */
	char *tool;
};

/* What a finish sets; error_message is borrowed, NULL for null. */
struct store_finish {
	enum store_outcome outcome; /* never STORE_RUNNING */
	const char *error_message;
	int64_t files_indexed;
	int64_t symbols_indexed;
	int64_t references_indexed;
	/* 0-255 and 1-64, or STORE_NULL when not given: set both (a zeroed finish says exit 0). */
	int64_t exit_code;
	int64_t signal;
	/*
	 * Conditions, for a finish decided from an earlier reading (0: none).
	 * A running execution that fails one is refused with -ESTALE, so that
	 * a name deleted and started again, or a run that heartbeat since, is
	 * left alone.
	 */
	int64_t only_id;              /* it is still the execution with this id */
	int64_t only_stale_before_ms; /* its last heartbeat is still before this */
};

/*
 * The days a view can name: 1970-01-01 up to 9999-12-31 (a day is the UTC
 * day of started_at, counted from 1970-01-01). A record another program
 * started outside them is on no day: listings of days never reach it, and
 * no arithmetic on a day can overflow.
 */
#define STORE_DAY_END INT64_C(2932897) /* 10000-01-01 */

/* The UTC day of Unix time @t, floored (also before 1970), for any int64. */
int64_t store_day_of(int64_t t);

/* The first second of @day, in [-1, STORE_DAY_END]: the one copy of a day's bounds. */
int64_t store_day_start(int64_t day);

/* Seconds to milliseconds, saturated at the ends of int64 rather than overflowing. */
int64_t store_ms_of_seconds(int64_t seconds);

/* @a + @b, saturated at the ends of int64: sums of stored values (durations) never overflow. */
int64_t store_add_saturated(int64_t a, int64_t b);

/* The milliseconds from @from_ms to @to_ms: 0 when not after, saturated at INT64_MAX. */
int64_t store_ms_between(int64_t from_ms, int64_t to_ms);

/* The provenance a view lists executions by (store_filter.attr). */
enum store_attr {
	STORE_ATTR_NONE, /* no view: 0, so that a filter set field by field has none */
	STORE_BY_HOST,
	STORE_BY_USER,
	STORE_BY_TOOL,
	STORE_BY_TAG,    /* the value is "<key>=<value>" (a key never holds '=') */
	STORE_ATTRS
};

/*
 * Which executions a listing walks; NULL or all fields unset walks all.
 * An attr is never combined with an outcome or a day (-EINVAL).
 */
struct store_filter {
	int outcome; /* an enum store_outcome, or -1 for any */
	int64_t day; /* a day in [0, STORE_DAY_END) or -1 for any */
	int attr;          /* an enum store_attr; STORE_ATTR_NONE for any */
	const char *value; /* the attr's value (borrowed), when attr is set */
};

enum store_sync {
	STORE_SYNC_NORMAL, /* survives a crash of the process, keeps integrity on power loss */
	STORE_SYNC_FULL,   /* every acknowledged change is durable on power loss */
};

struct store_options {
	bool read_only;         /* refuse every change with -EROFS */
	enum store_sync sync;
	uint64_t map_max_bytes; /* LMDB: the map never grows past this; 0: no limit but the disk */
};

/*
 * Called for each execution of a listing, in ascending id order. Return 0 to
 * go on, a positive value to stop (store_list() then returns 0), or a
 * negative errno to stop with that error.
 */
typedef int (*store_list_fn)(void *ctx, const struct store_record *rec);

/* Called for each day that has executions, ascending; returns as store_list_fn. */
typedef int (*store_day_fn)(void *ctx, int64_t day);

/*
 * Opens the store of backend @backend ("sqlite", "lmdb") at @path, creating
 * it if missing. -EINVAL for an unknown backend (the reason lists the built-in
 * ones), -EMEDIUMTYPE for a path that holds another kind of store or a foreign
 * or corrupt file (left untouched), -EACCES/-EROFS/-ENOENT for an unusable place.
 */
int store_open(const char *backend, const char *path,
	       const struct store_options *opts, struct store **out);

/* Closes the store, after every call on it has returned. NULL is a no-op. */
void store_close(struct store *s);

/* The name of the backend of an open store, as given to store_open(). */
const char *store_backend(const struct store *s);

/*
 * Names the backend whose store is at @path ("sqlite" or "lmdb") without
 * changing anything: 0 and *backend set, -ENOENT if nothing is there, or
 * -EMEDIUMTYPE if what is there is no store of a built-in backend.
 */
int store_detect(const char *path, const char **backend);

/*
 * Whether the stores of @backend are named by a path on this host (sqlite,
 * lmdb), which a caller may make absolute, rather than by a connection
 * string (postgres), to be passed on as written. True for an unknown name.
 */
bool store_takes_path(const char *backend);

/* The built-in backends, as one comma-separated string, for messages. */
const char *store_backends(void);

/*
 * Starts an execution. The caller sets execution_id, tool_version, args,
 * root, db_path and started_ms of @rec; the store sets id, started_at,
 * outcome "running", the nulls and zeros, and heartbeat_ms. -EEXIST if
 * the execution_id exists (running or finished), -ENOSPC when the store
 * is full, -EROFS read-only.
 */
int store_start(struct store *s, struct store_record *rec);

/*
 * Reserves @execution_id for a start through this handle, across every
 * handle on the store (other mounts, other hosts): 0, -EEXIST while another
 * handle holds it, -EROFS read-only, or another negative errno. Call it
 * before checking that the name is free, and store_unreserve() only once
 * the start is committed or given up. A handle's reservations do not
 * exclude each other: its caller reserves a name at most once at a time
 * (serialising its own starts). Those of a process that dies go with it.
 */
int store_reserve(struct store *s, const char *execution_id);

/* Gives back a reservation of store_reserve(); a no-op for a name not reserved. */
void store_unreserve(struct store *s, const char *execution_id);

/*
 * Finishes a running execution at @now_ms: sets outcome, error_message,
 * the counts, finished_at and duration_ms (now_ms - started_ms).
 * -ENOENT for an unknown execution_id, -EPERM when it is not running,
 * -ESTALE when it is running but fails one of @fin's conditions.
 */
int store_finish(struct store *s, const char *execution_id,
		 const struct store_finish *fin, int64_t now_ms);

/*
 * Records a heartbeat of a running execution at @now_ms.
 * -ENOENT unknown, -EPERM when it is not running.
 */
int store_heartbeat(struct store *s, const char *execution_id, int64_t now_ms);

/* Reads one execution by execution_id into @out (cleared first); -ENOENT. */
int store_get(struct store *s, const char *execution_id, struct store_record *out);

/* Reads one execution by id into @out (cleared first); -ENOENT. */
int store_get_by_id(struct store *s, int64_t id, struct store_record *out);

/*
 * Tells, cheaply and without writing, whether a start could be committed
 * now: 0, or -ENOSPC (the disk, or an LMDB map at its limit), -EROFS,
 * -EACCES or -EPERM. For a caller that must refuse early, at an open,
 * what would otherwise fail only later where no error can be returned.
 */
int store_check_room(struct store *s);

/*
 * The room of the store, for df: sets f_bsize, f_frsize, f_blocks, f_bfree
 * and f_bavail of @out (the rest zero) from the filesystem that holds it,
 * cut to LMDB's map_max where that is smaller. -EOPNOTSUPP when the store
 * has no room on this host to tell (PostgreSQL's is the server's).
 */
int store_statfs(struct store *s, struct statvfs *out);

/* Deletes a finished execution; -ENOENT unknown, -EBUSY while running. */
int store_delete(struct store *s, const char *execution_id);

/*
 * Calls @fn for each execution matching @filter with id > @after_id, in
 * ascending id order, streaming: memory does not grow with the count. To
 * resume, call again with the id of the last record seen: an execution that
 * existed throughout is seen exactly once, whatever starts and deletes
 * happen between the calls. Ids may be negative (rows of other programs);
 * INT64_MIN itself is never after anything: read it with store_get_by_id.
 */
int store_list(struct store *s, const struct store_filter *filter,
	       int64_t after_id, store_list_fn fn, void *ctx);

/* Called for each execution of a names-only listing; @execution_id is borrowed. */
typedef int (*store_name_fn)(void *ctx, int64_t id, const char *execution_id);

/*
 * As store_list(), with only the id and the execution_id of each: what a
 * plain directory listing needs, read from the indexes where the backend
 * can, without loading records.
 */
int store_list_names(struct store *s, const struct store_filter *filter,
		     int64_t after_id, store_name_fn fn, void *ctx);

/*
 * Calls @fn for each UTC day > @after_day that has executions, ascending,
 * among the days in [0, STORE_DAY_END) only: it ends, whatever times the
 * store holds.
 */
int store_list_days(struct store *s, int64_t after_day, store_day_fn fn, void *ctx);

/* Called for each value of a store_list_values(); @value is borrowed. Returns as store_list_fn. */
typedef int (*store_value_fn)(void *ctx, const char *value);

/*
 * Calls @fn once for each distinct value of @attr that some execution has
 * (a host, a user, a tool, or "<key>=<value>" for a tag), in ascending
 * byte order (tags by key, then value), streaming from the attr's index:
 * the cost grows with the values, not with the executions. Values another
 * program wrote are given as written: the caller decides what may be a
 * file name.
 */
int store_list_values(struct store *s, enum store_attr attr, store_value_fn fn, void *ctx);

/*
 * A number that changes whenever the log may have changed, through this
 * handle or any other writer (another mount, another program): what a
 * cache of a rendering compares, at the cost of one cheap check (SQLite's
 * data_version, LMDB's last transaction id, a counter moved by a shared
 * server's notifications), never a query per figure. It may also change
 * when nothing did; it never stays the same across a committed change.
 * -EOPNOTSUPP for a backend that cannot tell.
 */
int store_version(struct store *s, uint64_t *version);

/* ---- output: what a run printed, kept beside its record ----------------- */

/* The default cap of one execution's output (-o output_max). */
#define STORE_OUTPUT_MAX_DEFAULT (16 * 1024 * 1024)

/*
 * Appends @len bytes to the output of the running execution with id @id,
 * which must hold exactly @offset bytes now (-EINVAL otherwise: appends
 * only). Committed before it returns, as durable as a start under the
 * store's sync, in a piece of its own (never one growing value rewritten);
 * output_bytes of the record grows with it. -ENOENT for no such execution,
 * -EPERM once it is not running, -ENOSPC when the store is full, -EFBIG
 * when the output would pass @max bytes: then what fits is appended, and
 * the output is marked cut (store_output_cut()). *@written is what was
 * appended, also on -EFBIG.
 */
int store_output_append(struct store *s, int64_t id, uint64_t offset, const void *buf,
			size_t len, uint64_t max, size_t *written);

/*
 * Reads up to @len bytes of the output of the execution with id @id from
 * @offset into @buf; *@got is how many (0 at or past the end). -ENOENT for
 * no such execution. An execution with no output reads as empty.
 */
int store_output_read(struct store *s, int64_t id, uint64_t offset, void *buf, size_t len,
		      size_t *got);

/* Whether an append to the output of @id hit the cap: 1 cut, 0 not, or -errno. */
int store_output_cut(struct store *s, int64_t id);

/* Reads the execution with the greatest id (the latest started); -ENOENT if none. */
int store_latest(struct store *s, struct store_record *out);

/*
 * Counts the executions matching @filter (NULL for all) into *count, from
 * the store's indexes: the cost grows with the matches, never with rows
 * read in full.
 */
int store_count(struct store *s, const struct store_filter *filter, uint64_t *count);

/*
 * Counts the executions matching @filter's day (or all) by outcome:
 * counts[o] for each enum store_outcome; the filter's outcome is ignored.
 * One pass over the day, where four counts would make four.
 */
int store_count_outcomes(struct store *s, const struct store_filter *filter,
			 uint64_t counts[STORE_OUTCOMES]);

/*
 * Calls @fn for the @n most recent executions (the greatest ids), in
 * descending id order. Streams from the store's id index where the backend
 * can; memory does not grow with the number of executions.
 */
int store_list_recent(struct store *s, size_t n, store_list_fn fn, void *ctx);

/* The buckets finished executions are counted in by duration: upper bounds in ms, then one unbounded. */
#define STORE_DURATION_BUCKETS 12
extern const int64_t store_duration_bounds_ms[STORE_DURATION_BUCKETS - 1];

/* The bucket of a duration: the first whose bound it does not pass, else the last. */
int store_duration_bucket(int64_t duration_ms);

/* What store_summary() tells of the finished executions. */
struct store_summary {
	uint64_t finished[STORE_DURATION_BUCKETS]; /* per bucket, not cumulative */
	int64_t duration_sum_ms;
	int64_t last_finished_at; /* Unix seconds of the latest finish, STORE_NULL if none */
};

/*
 * Fills @out for the finished executions: how many, by duration bucket, the
 * sum of their durations, and the time of the latest finish. SQLite and
 * LMDB read aggregates kept up to date by every finish and delete, so the
 * cost does not grow with the log (the latest finish there is the latest
 * ever recorded: a delete does not move it back); a backend without them
 * walks the finished executions.
 */
int store_summary(struct store *s, struct store_summary *out);

/*
 * Called by a backend whose log others change too (a shared server) when
 * an execution changed or appeared there: @execution_id names it, or is
 * NULL when anything may have changed (after a reconnect). Runs on the
 * backend's own thread; it must not block on the store.
 */
typedef void (*store_change_fn)(void *ctx, const char *execution_id);

/*
 * Asks to hear of changes made by other writers, through @fn. -EOPNOTSUPP
 * for a backend that has no way to tell (a local file: its other writers
 * are on this host and the caller's caches expire on their own).
 */
int store_watch(struct store *s, store_change_fn fn, void *ctx);

/*
 * The work the store's listings have done since it was opened, in steps of
 * the backend's own (SQLite machine steps, LMDB cursor steps), matching or
 * not: it grows with every row or key a listing visits, so comparing two
 * listings shows whether a filtered one scanned every record.
 */
uint64_t store_visits(struct store *s);

/*
 * The transactions that changes have been committed in since the store was
 * opened, on backends with group commit: fewer than the changes when
 * concurrent writers shared commits.
 */
uint64_t store_commits(struct store *s);

/* "running", "success", ... for an outcome; NULL out of range. */
const char *store_outcome_name(int outcome);

/* The enum store_outcome named @name, or -1 for any other string. */
int store_outcome_from_name(const char *name);

/*
 * Frees the strings of @rec and makes it empty: every field zero or NULL
 * but exit_code, signal, uid and pid, which are STORE_NULL (null). Safe on
 * a zeroed record.
 */
void store_record_clear(struct store_record *rec);

/*
 * The tool of a stored args text: a malloc'd copy of the last path
 * component of its first string, or NULL (no string, an empty component,
 * or not an array of strings). 0 or -ENOMEM.
 */
int store_tool_of(const char *args, char **tool);

/* Copies @n tags into a malloc'd array in *@out (NULL when @n is 0); 0 or -ENOMEM. */
int store_tags_copy(const struct store_tag *tags, size_t n, struct store_tag **out);

/* Frees @n tags and the array. */
void store_tags_free(struct store_tag *tags, size_t n);

/*
 * The reason for the last refusal of a store_ or record_ call in this
 * thread, for the log; "" if none was given. It is the one reason of the
 * thread: a layer above the store that refuses on its own sets it too.
 */
const char *store_reason(void);

/* The most store_reason() holds, its terminating NUL included. */
#define STORE_REASON_SIZE 512

/*
 * Sets this thread's store_reason() (printf format, cut to fit). Returns
 * @err, so that a refusal reads: return store_fail(-EEXIST, "execution %s exists", id);
 */
int store_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* store_fail() with the arguments as a va_list, for a caller's own variadic wrapper. */
int store_vfail(int err, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Empties this thread's store_reason(): what a refusal's logger does once it has logged it. */
void store_reason_clear(void);

/* Milliseconds since the epoch, from the real-time clock. */
int64_t store_now_ms(void);

/* ---- retention (fs/lifecycle.c) ------------------------------------------ */

/*
 * A walk of the finished executions in order of start: by started_at, then
 * id. It goes strictly past the position (started_at, id), which
 * store_start_walk_init() sets before the first execution, and a caller
 * moves to the last execution it saw to resume.
 */
struct store_start_walk {
	bool newest_first;  /* descending; else ascending (the oldest first) */
	int64_t before;     /* only executions with started_at < before (INT64_MAX: all) */
	int64_t started_at; /* the position */
	int64_t id;
};

/* Called for each execution of a walk in start order; @execution_id is borrowed. Returns as store_list_fn. */
typedef int (*store_by_start_fn)(void *ctx, int64_t id, const char *execution_id, int64_t started_at);

/* Sets @w before the first finished execution, in its direction, started before @before. */
void store_start_walk_init(struct store_start_walk *w, bool newest_first, int64_t before);

/*
 * Calls @fn for each finished execution (running ones are never listed) in
 * @w's order, strictly past its position and started before w->before,
 * with its id, name and start only (no record is read in full), streaming
 * from the started_at index (SQLite, PostgreSQL) or the start: keys (LMDB)
 * in small pages: memory does not grow with the count, and the cost with
 * what is listed, not with the log. Returns as store_list(); -EOPNOTSUPP
 * on a read-only LMDB store of format 1, which has no start: keys.
 */
int store_list_finished_by_start(struct store *s, const struct store_start_walk *w,
				 store_by_start_fn fn, void *ctx);

/*
 * store_delete(), only if @execution_id is still the execution with id
 * @id: -ESTALE if the name now belongs to another (a name deleted and
 * started again since the caller read it).
 */
int store_delete_run(struct store *s, const char *execution_id, int64_t id);

#endif
