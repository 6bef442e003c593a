/*
 * store.c - the store's front door: the backend registry and the checks
 * every backend shares (arguments, read-only mode), the per-thread reason
 * for the last refusal, and small helpers on records.
 *
 * It does no I/O of its own; each call goes to the ops table of the backend
 * the store was opened with.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"

static const struct store_ops *const store_registry[] = {
#if HAVE_SQLITE
	&sqlstore_ops,
#endif
#if HAVE_LMDB
	&lmdb_ops,
#endif
#if HAVE_POSTGRES
	&pgstore_ops,
#endif
};

#define REGISTRY_SIZE (sizeof(store_registry) / sizeof(store_registry[0]))

/* The one reason for the last refusal in this thread, whichever layer refused. */
static _Thread_local char store_reason_buf[STORE_REASON_SIZE];

int store_vfail(int err, const char *fmt, va_list ap)
{
	vsnprintf(store_reason_buf, sizeof(store_reason_buf), fmt, ap);
	return err;
}

int store_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	store_vfail(err, fmt, ap);
	va_end(ap);
	return err;
}

const char *store_reason(void)
{
	return store_reason_buf;
}

void store_reason_clear(void)
{
	store_reason_buf[0] = '\0';
}

void store_reason_save(char out[STORE_REASON_SIZE])
{
	memcpy(out, store_reason_buf, STORE_REASON_SIZE);
}

void store_base_init(struct store *s, const struct store_ops *ops, const struct store_options *opts)
{
	s->ops = ops;
	s->opts = *opts;
	store_batch_init(&s->batch);
}

void store_base_destroy(struct store *s)
{
	store_batch_destroy(&s->batch);
}

const char *store_backends(void)
{
	static char names[64];
	size_t used = 0;

	if (names[0] != '\0')
		return names;
	for (size_t i = 0; i < REGISTRY_SIZE; i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
					 i ? ", " : "", store_registry[i]->name);
	return names;
}

static const struct store_ops *store_ops_by_name(const char *name)
{
	for (size_t i = 0; i < REGISTRY_SIZE; i++)
		if (strcmp(store_registry[i]->name, name) == 0)
			return store_registry[i];
	return NULL;
}

bool store_takes_path(const char *backend)
{
	const struct store_ops *ops = backend ? store_ops_by_name(backend) : NULL;

	return ops == NULL || !ops->connection_string;
}

int store_open(const char *backend, const char *path,
	       const struct store_options *opts, struct store **out)
{
	static const struct store_options defaults = { .sync = STORE_SYNC_NORMAL };
	const struct store_ops *ops;
	int err;

	*out = NULL;
	if (backend == NULL || (ops = store_ops_by_name(backend)) == NULL)
		return store_fail(-EINVAL, "unknown store \"%s\" (built in: %s)",
				  backend ? backend : "", store_backends());
	if (path == NULL || path[0] == '\0')
		return store_fail(-EINVAL, "no store path given");
	if (opts == NULL)
		opts = &defaults;
	err = ops->open(path, opts, out);
	if (err)
		return err;
	err = store_filelock_init(&(*out)->reservations, ops, path);
	if (err) {
		store_close(*out);
		*out = NULL;
	}
	return err;
}

void store_close(struct store *s)
{
	int fd;

	if (s == NULL)
		return;
	fd = store_filelock_free(&s->reservations);
	s->ops->close(s);
	/* Only now: its close would drop the POSIX locks SQLite held on the same file. */
	if (fd >= 0)
		close(fd);
}

const char *store_backend(const struct store *s)
{
	return s->ops->name;
}

int store_detect(const char *path, const char **backend)
{
	bool missing = false;
	int err = -EMEDIUMTYPE, rc;

	*backend = NULL;
	/*
	 * Every backend is asked: a path missing for a file backend may be a
	 * connection string another one names (without the network).
	 */
	for (size_t i = 0; i < REGISTRY_SIZE; i++) {
		rc = store_registry[i]->detect(path);
		if (rc == 0) {
			*backend = store_registry[i]->name;
			return 0;
		}
		missing = missing || rc == -ENOENT;
		if (err == -EMEDIUMTYPE)
			err = rc; /* the first error that says more than "not mine" */
	}
	if (missing)
		return store_fail(-ENOENT, "%s does not exist", path);
	return store_fail(err, "%s holds no store of a known kind (%s)", path, store_backends());
}

static int store_writable(const struct store *s)
{
	if (s->opts.read_only)
		return store_fail(-EROFS, "the store is open read-only");
	return 0;
}

static int store_name_given(const char *execution_id)
{
	if (execution_id == NULL || execution_id[0] == '\0')
		return store_fail(-EINVAL, "no execution_id given");
	return 0;
}

/* What a start committed holds beyond what its caller set: running, since heartbeat_ms. */
static void store_started(struct store_record *rec, char *running)
{
	free(rec->outcome);
	rec->outcome = running;
	free(rec->error_message);
	rec->error_message = NULL;
	rec->finished_at = rec->duration_ms = STORE_NULL;
	rec->files_indexed = rec->symbols_indexed = rec->references_indexed = 0;
	rec->exit_code = rec->signal = STORE_NULL;
	rec->output_bytes = 0;
	rec->heartbeat_ms = rec->started_ms;
}

int store_start(struct store *s, struct store_record *rec)
{
	int err = store_writable(s);
	char *running = NULL;

	if (err == 0)
		err = store_name_given(rec->execution_id);
	if (err == 0 && (rec->tool_version == NULL || rec->args == NULL || rec->db_path == NULL))
		err = store_fail(-EINVAL, "start of %s lacks a required field", rec->execution_id);
	if (err == 0 && rec->ntags > STORE_TAGS_MAX)
		err = store_fail(-EINVAL, "start of %s has more than %d tags", rec->execution_id,
				 STORE_TAGS_MAX);
	/* What the finish sets is null at the start, whatever the caller left there. */
	rec->exit_code = rec->signal = STORE_NULL;
	rec->output_bytes = 0;
	/* The backend indexes the tool; the caller never sets it. */
	if (err == 0) {
		free(rec->tool);
		rec->tool = NULL;
		if (store_tool_of(rec->args, &rec->tool) < 0)
			err = store_fail(-ENOMEM, "%s: out of memory", s->ops->name);
	}
	/* Allocated before the commit: once the start is committed, nothing may fail. */
	if (err == 0 && (running = strdup("running")) == NULL)
		err = store_fail(-ENOMEM, "%s: out of memory", s->ops->name);
	if (err == 0)
		err = s->ops->start(s, rec);
	if (err) {
		free(running);
		return err;
	}
	store_started(rec, running);
	return 0;
}

int store_reserve(struct store *s, const char *execution_id)
{
	int err = store_writable(s);

	if (err == 0)
		err = store_name_given(execution_id);
	if (err)
		return err;
	if (s->ops->reserve)
		return s->ops->reserve(s, execution_id);
	return store_filelock_take(&s->reservations, execution_id);
}

void store_unreserve(struct store *s, const char *execution_id)
{
	if (s->opts.read_only || execution_id == NULL || execution_id[0] == '\0')
		return; /* nothing was reserved */
	if (s->ops->unreserve)
		s->ops->unreserve(s, execution_id);
	else
		store_filelock_drop(&s->reservations, execution_id);
}

int store_finish(struct store *s, const char *execution_id,
		 const struct store_finish *fin, int64_t now_ms)
{
	int err = store_writable(s);

	if (err == 0)
		err = store_name_given(execution_id);
	if (err == 0 && (fin->outcome <= STORE_RUNNING || fin->outcome >= STORE_OUTCOMES))
		err = store_fail(-EINVAL, "a finish needs success, error or partial");
	if (err == 0 && (fin->files_indexed < 0 || fin->symbols_indexed < 0 ||
			 fin->references_indexed < 0))
		err = store_fail(-EINVAL, "counts cannot be negative");
	if (err == 0 && fin->exit_code != STORE_NULL && (fin->exit_code < 0 || fin->exit_code > 255))
		err = store_fail(-EINVAL, "an exit code is 0 to 255");
	if (err == 0 && fin->signal != STORE_NULL && (fin->signal < 1 || fin->signal > 64))
		err = store_fail(-EINVAL, "a signal is 1 to 64");
	return err ? err : s->ops->finish(s, execution_id, fin, now_ms);
}

int store_heartbeat(struct store *s, const char *execution_id, int64_t now_ms)
{
	int err = store_writable(s);

	if (err == 0)
		err = store_name_given(execution_id);
	return err ? err : s->ops->heartbeat(s, execution_id, now_ms);
}

int store_get(struct store *s, const char *execution_id, struct store_record *out)
{
	int err = store_name_given(execution_id);

	store_record_clear(out);
	return err ? err : s->ops->get(s, execution_id, out);
}

int store_get_by_id(struct store *s, int64_t id, struct store_record *out)
{
	store_record_clear(out);
	return s->ops->get_by_id(s, id, out);
}

/* Room for a few records, and the pages their indexes may split into. */
#define STORE_ROOM_MIN (64 * 1024)

int store_room_at(const char *path)
{
	struct statvfs sv;

	if (access(path, W_OK) != 0 && errno != ENOENT)
		return store_fail(-errno, "%s is not writable: %s", path, strerror(errno));
	if (statvfs(path, &sv) != 0)
		return 0; /* nothing to tell: let the write itself say */
	if (sv.f_flag & ST_RDONLY)
		return store_fail(-EROFS, "%s is on a read-only filesystem", path);
	if ((uint64_t)sv.f_bavail * sv.f_frsize < STORE_ROOM_MIN)
		return store_fail(-ENOSPC, "the disk of %s is full", path);
	return 0;
}

int store_check_room(struct store *s)
{
	int err = store_writable(s);

	return err ? err : s->ops->check_room(s);
}

int store_statfs_at(const char *path, struct statvfs *out)
{
	struct statvfs sv;

	if (statvfs(path, &sv) != 0)
		return store_fail(-errno, "cannot statfs %s: %s", path, strerror(errno));
	out->f_bsize = sv.f_bsize;
	/* The unit of the block counts, never 0: callers divide by it. */
	out->f_frsize = sv.f_frsize ? sv.f_frsize : sv.f_bsize ? sv.f_bsize : 1;
	out->f_blocks = sv.f_blocks;
	out->f_bfree = sv.f_bfree;
	out->f_bavail = sv.f_bavail;
	return 0;
}

int store_statfs(struct store *s, struct statvfs *out)
{
	memset(out, 0, sizeof(*out));
	if (s->ops->statfs == NULL)
		return store_fail(-EOPNOTSUPP, "a %s store has no room on this host to tell",
				  s->ops->name);
	return s->ops->statfs(s, out);
}

int store_delete(struct store *s, const char *execution_id)
{
	int err = store_writable(s);

	if (err == 0)
		err = store_name_given(execution_id);
	return err ? err : s->ops->delete(s, execution_id, 0);
}

/* A NULL filter: every execution. */
static const struct store_filter store_filter_all = { .outcome = -1, .day = -1 };

static int store_filter_check(const struct store *s, const struct store_filter *filter)
{
	if (filter->attr < STORE_ATTR_NONE || filter->attr >= STORE_ATTRS)
		return store_fail(-EINVAL, "no such view");
	if (filter->attr != STORE_ATTR_NONE) {
		if (filter->value == NULL || filter->outcome != -1 || filter->day != -1)
			return store_fail(-EINVAL, "a view's filter takes a value, and no outcome or day");
		/* A backend that lists values is the one that honours them in a filter. */
		if (s->ops->list_values == NULL)
			return store_fail(-EOPNOTSUPP, "%s: no views by provenance", s->ops->name);
	}
	if (filter->outcome >= STORE_OUTCOMES || filter->outcome < -1)
		return store_fail(-EINVAL, "no such outcome");
	/* Backends compute the day's range of seconds: only a nameable day keeps it in int64. */
	if (filter->day < -1 || filter->day >= STORE_DAY_END)
		return store_fail(-EINVAL, "no such day");
	return 0;
}

int store_list(struct store *s, const struct store_filter *filter,
	       int64_t after_id, store_list_fn fn, void *ctx)
{
	if (filter == NULL)
		filter = &store_filter_all;
	if (store_filter_check(s, filter))
		return -EINVAL;
	return s->ops->list(s, filter, after_id, fn, ctx);
}

struct store_names_ctx {
	store_name_fn fn;
	void *ctx;
};

static int store_names_of_records(void *ctx, const struct store_record *rec)
{
	struct store_names_ctx *n = ctx;

	return n->fn(n->ctx, rec->id, rec->execution_id);
}

int store_list_names(struct store *s, const struct store_filter *filter,
		     int64_t after_id, store_name_fn fn, void *ctx)
{
	struct store_names_ctx n = { .fn = fn, .ctx = ctx };

	if (filter == NULL)
		filter = &store_filter_all;
	if (store_filter_check(s, filter))
		return -EINVAL;
	if (s->ops->list_names == NULL)
		return s->ops->list(s, filter, after_id, store_names_of_records, &n);
	return s->ops->list_names(s, filter, after_id, fn, ctx);
}

/* A listing of days, kept to the nameable ones and to ascending order. */
struct store_days_ctx {
	store_day_fn fn;
	void *ctx;
	int64_t last;
};

static int store_day_in_order(void *ctx, int64_t day)
{
	struct store_days_ctx *d = ctx;

	/*
	 * A day past the last nameable one ends the listing (LMDB sorts days
	 * before 1970 last); so does a day out of order, which a row of
	 * another program's (a started_at of text) could make a backend
	 * return again and again.
	 */
	if (day < 0 || day >= STORE_DAY_END || day <= d->last)
		return 1;
	d->last = day;
	return d->fn(d->ctx, day);
}

int store_list_days(struct store *s, int64_t after_day, store_day_fn fn, void *ctx)
{
	struct store_days_ctx d = { .fn = fn, .ctx = ctx };

	if (after_day < -1)
		after_day = -1;
	if (after_day >= STORE_DAY_END - 1)
		return 0;
	d.last = after_day;
	return s->ops->list_days(s, after_day, store_day_in_order, &d);
}

int store_latest(struct store *s, struct store_record *out)
{
	store_record_clear(out);
	return s->ops->latest(s, out);
}

int store_count(struct store *s, const struct store_filter *filter, uint64_t *count)
{
	*count = 0;
	if (filter == NULL)
		filter = &store_filter_all;
	if (store_filter_check(s, filter))
		return -EINVAL;
	return s->ops->count(s, filter, count);
}

int store_count_outcomes(struct store *s, const struct store_filter *filter,
			 uint64_t counts[STORE_OUTCOMES])
{
	struct store_filter f = { .outcome = -1, .day = filter ? filter->day : -1 };
	int err = 0;

	memset(counts, 0, STORE_OUTCOMES * sizeof(counts[0]));
	if (s->ops->count_outcomes)
		return s->ops->count_outcomes(s, &f, counts);
	for (f.outcome = 0; f.outcome < STORE_OUTCOMES && err == 0; f.outcome++)
		err = s->ops->count(s, &f, &counts[f.outcome]);
	return err;
}

int store_list_ids(struct store *s, const int64_t *ids, size_t n, store_list_fn fn, void *ctx)
{
	struct store_record rec = { 0 };
	int err = 0;

	for (size_t i = 0; i < n && err == 0; i++) {
		err = s->ops->get_by_id(s, ids[i], &rec);
		if (err == 0)
			err = fn(ctx, &rec);
		else if (err == -ENOENT)
			err = 0; /* deleted since its id was read */
		store_record_clear(&rec);
	}
	return err > 0 ? 0 : err;
}

/* The last @n ids of a names listing, kept in a ring. */
struct store_recent_ring {
	int64_t *ids;
	size_t n, seen;
};

static int store_recent_keep(void *ctx, int64_t id, const char *execution_id)
{
	struct store_recent_ring *r = ctx;

	(void)execution_id;
	r->ids[r->seen++ % r->n] = id;
	return 0;
}

int store_list_recent(struct store *s, size_t n, store_list_fn fn, void *ctx)
{
	struct store_recent_ring r = { .n = n };
	int64_t *desc;
	size_t have;
	int err;

	if (n == 0)
		return 0;
	if (s->ops->list_recent)
		return s->ops->list_recent(s, n, fn, ctx);
	/* Without the op: the ids from the names listing (an index walk), then each record. */
	r.ids = calloc(n, sizeof(*r.ids));
	desc = calloc(n, sizeof(*desc));
	err = r.ids && desc ? 0 : store_fail(-ENOMEM, "out of memory");
	if (err == 0)
		err = store_list_names(s, NULL, INT64_MIN, store_recent_keep, &r);
	if (err == 0) {
		have = r.seen < n ? r.seen : n;
		for (size_t i = 0; i < have; i++)
			desc[i] = r.ids[(r.seen - 1 - i) % n];
		err = store_list_ids(s, desc, have, fn, ctx);
	}
	free(desc);
	free(r.ids);
	return err;
}

const int64_t store_duration_bounds_ms[STORE_DURATION_BUCKETS - 1] = {
	100, 500, 1000, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
};

int store_duration_bucket(int64_t duration_ms)
{
	int i = 0;

	while (i < STORE_DURATION_BUCKETS - 1 && duration_ms > store_duration_bounds_ms[i])
		i++;
	return i;
}

void store_summary_add(struct store_summary *sum, int64_t duration_ms, int64_t finished_at, int sign)
{
	if (duration_ms == STORE_NULL || duration_ms < 0)
		duration_ms = 0;
	sum->finished[store_duration_bucket(duration_ms)] += (uint64_t)(int64_t)sign;
	sum->duration_sum_ms = store_add_saturated(sum->duration_sum_ms, sign * duration_ms);
	if (sign > 0 && finished_at != STORE_NULL &&
	    (sum->last_finished_at == STORE_NULL || finished_at > sum->last_finished_at))
		sum->last_finished_at = finished_at;
}

static int store_summary_walk(void *ctx, const struct store_record *rec)
{
	store_summary_add(ctx, rec->duration_ms, rec->finished_at, 1);
	return 0;
}

int store_summary(struct store *s, struct store_summary *out)
{
	int err = -EOPNOTSUPP;

	memset(out, 0, sizeof(*out));
	out->last_finished_at = STORE_NULL;
	if (s->ops->summary)
		err = s->ops->summary(s, out);
	if (err != -EOPNOTSUPP)
		return err;
	/* No aggregates kept: every finished execution, outcome by outcome. */
	memset(out, 0, sizeof(*out));
	out->last_finished_at = STORE_NULL;
	err = 0;
	for (int o = STORE_SUCCESS; o < STORE_OUTCOMES && err == 0; o++) {
		struct store_filter f = { .outcome = o, .day = -1 };

		err = s->ops->list(s, &f, INT64_MIN, store_summary_walk, out);
	}
	return err;
}

int store_watch(struct store *s, store_change_fn fn, void *ctx)
{
	if (s->ops->watch == NULL)
		return store_fail(-EOPNOTSUPP, "%s: other writers are local", s->ops->name);
	return s->ops->watch(s, fn, ctx);
}

uint64_t store_commits(struct store *s)
{
	return __atomic_load_n(&s->batch.commits, __ATOMIC_RELAXED);
}

uint64_t store_visits(struct store *s)
{
	return __atomic_load_n(&s->visits, __ATOMIC_RELAXED);
}

static const char *const store_outcome_names[STORE_OUTCOMES] = {
	[STORE_RUNNING] = "running",
	[STORE_SUCCESS] = "success",
	[STORE_ERROR] = "error",
	[STORE_PARTIAL] = "partial",
};

const char *store_outcome_name(int outcome)
{
	if (outcome < 0 || outcome >= STORE_OUTCOMES)
		return NULL;
	return store_outcome_names[outcome];
}

int store_outcome_from_name(const char *name)
{
	for (int i = 0; name && i < STORE_OUTCOMES; i++)
		if (strcmp(store_outcome_names[i], name) == 0)
			return i;
	return -1;
}

void store_record_clear(struct store_record *rec)
{
	free(rec->execution_id);
	free(rec->tool_version);
	free(rec->args);
	free(rec->root);
	free(rec->db_path);
	free(rec->outcome);
	free(rec->error_message);
	free(rec->host);
	free(rec->user);
	free(rec->cwd);
	store_tags_free(rec->tags, rec->ntags);
	free(rec->tool);
	memset(rec, 0, sizeof(*rec));
	rec->exit_code = rec->signal = rec->uid = rec->pid = STORE_NULL;
}

int store_output_append(struct store *s, int64_t id, uint64_t offset, const void *buf,
			size_t len, uint64_t max, size_t *written)
{
	int err = store_writable(s);

	*written = 0;
	if (err)
		return err;
	if (s->ops->output_append == NULL)
		return store_fail(-EOPNOTSUPP, "%s keeps no output", s->ops->name);
	if (offset > INT64_MAX || len > INT64_MAX - offset)
		return store_fail(-EFBIG, "output past the largest offset");
	return s->ops->output_append(s, id, offset, buf, len, max, written);
}

int store_thread_create(pthread_t *thread, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(thread, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int store_version(struct store *s, uint64_t *version)
{
	*version = 0;
	if (s->ops->version == NULL)
		return store_fail(-EOPNOTSUPP, "%s cannot tell a change cheaply", s->ops->name);
	return s->ops->version(s, version);
}

int store_output_read(struct store *s, int64_t id, uint64_t offset, void *buf, size_t len,
		      size_t *got)
{
	*got = 0;
	if (s->ops->output_read == NULL)
		return store_fail(-EOPNOTSUPP, "%s keeps no output", s->ops->name);
	return s->ops->output_read(s, id, offset, buf, len, got);
}

int store_output_cut(struct store *s, int64_t id)
{
	if (s->ops->output_cut == NULL)
		return store_fail(-EOPNOTSUPP, "%s keeps no output", s->ops->name);
	return s->ops->output_cut(s, id);
}

char *store_strdup_null(const char *s, bool *ok)
{
	char *copy;

	if (s == NULL)
		return NULL;
	copy = strdup(s);
	if (copy == NULL)
		*ok = false;
	return copy;
}

int64_t store_day_of(int64_t t)
{
	int64_t day = t / 86400;

	/* C division truncates toward zero; a day begins at its first second. */
	return t % 86400 < 0 ? day - 1 : day;
}

int64_t store_day_start(int64_t day)
{
	return day * 86400;
}

int64_t store_ms_of_seconds(int64_t seconds)
{
	if (seconds > INT64_MAX / 1000)
		return INT64_MAX;
	if (seconds < INT64_MIN / 1000)
		return INT64_MIN + 1; /* INT64_MIN is STORE_NULL */
	return seconds * 1000;
}

int64_t store_add_saturated(int64_t a, int64_t b)
{
	int64_t sum;

	if (__builtin_add_overflow(a, b, &sum))
		return b > 0 ? INT64_MAX : INT64_MIN + 1; /* INT64_MIN is STORE_NULL */
	return sum;
}

int64_t store_ms_between(int64_t from_ms, int64_t to_ms)
{
	int64_t ms;

	if (to_ms <= from_ms)
		return 0;
	return __builtin_sub_overflow(to_ms, from_ms, &ms) ? INT64_MAX : ms;
}

int64_t store_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- retention -------------------------------------------------------------- */

void store_start_walk_init(struct store_start_walk *w, bool newest_first, int64_t before)
{
	w->newest_first = newest_first;
	w->before = before;
	/* Ids are positive: (INT64_MIN, 0) is before every execution, (INT64_MAX, INT64_MAX) after. */
	w->started_at = newest_first ? INT64_MAX : INT64_MIN;
	w->id = newest_first ? INT64_MAX : 0;
}

int store_list_finished_by_start(struct store *s, const struct store_start_walk *w,
				 store_by_start_fn fn, void *ctx)
{
	return s->ops->list_finished_by_start(s, w, fn, ctx);
}

int store_delete_run(struct store *s, const char *execution_id, int64_t id)
{
	int err = store_writable(s);

	if (err == 0)
		err = store_name_given(execution_id);
	if (err == 0 && id <= 0)
		err = store_fail(-EINVAL, "no execution has id %lld", (long long)id);
	return err ? err : s->ops->delete(s, execution_id, id);
}
