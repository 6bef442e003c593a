/*
 * lifecycle.c - the daemon's own work on the log: finishing runs whose
 * recorder died (-o stale_after) and deleting old finished runs (-o
 * keep_days, -o keep_count).
 *
 * One thread does both, at mount and then periodically, in small batches
 * of separate store calls, so that FUSE requests interleave with it and the
 * mount never stalls. A batch is gathered from a listing first and acted on
 * after it, so no change is made while a store cursor is open.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "fs.h"
#include "record.h"

#define LIFECYCLE_BATCH 64
#define LIFECYCLE_PRUNE_PERIOD_S 600 /* retention runs at mount, then every 10 minutes */

struct fs_lifecycle {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
};

/* What one pass over a listing gathered, and where to resume. */
struct lifecycle_batch {
	size_t n;
	bool full;           /* the listing stopped because the batch filled */
	bool done;           /* a record past the cut-off ended the walk early */
	int64_t after_id;    /* the last id seen */
	int64_t cutoff;      /* ms of heartbeat (reap) or s of start (keep_days) */
	int64_t skip;        /* finished runs still to keep (keep_count), counting down */
	char *names[LIFECYCLE_BATCH];
	int64_t ids[LIFECYCLE_BATCH];
};

static void lifecycle_batch_reset(struct lifecycle_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->names[i]);
	b->n = 0;
	b->full = false;
}

/* Adds @rec to the batch; returns 1 (stop the listing) when it is full. */
static int lifecycle_take(struct lifecycle_batch *b, const struct store_record *rec)
{
	/* Another program's row with a name that is not valid is never touched, nor made a path. */
	if (record_name_check(rec->execution_id) != 0)
		return 0;
	b->names[b->n] = strdup(rec->execution_id);
	if (b->names[b->n] == NULL)
		return -ENOMEM;
	b->ids[b->n++] = rec->id;
	if (b->n == LIFECYCLE_BATCH) {
		b->full = true;
		return 1;
	}
	return 0;
}

static int lifecycle_gather_stale(void *ctx, const struct store_record *rec)
{
	struct lifecycle_batch *b = ctx;

	b->after_id = rec->id;
	return rec->heartbeat_ms < b->cutoff ? lifecycle_take(b, rec) : 0;
}

static int lifecycle_gather_old(void *ctx, const struct store_record *rec)
{
	struct lifecycle_batch *b = ctx;

	b->after_id = rec->id;
	/* Ids grow with each start: the first run started after the cut-off ends the walk. */
	if (rec->started_at >= b->cutoff) {
		b->done = true;
		return 1;
	}
	if (strcmp(rec->outcome, "running") == 0)
		return 0;
	return lifecycle_take(b, rec);
}

static int lifecycle_gather_excess(void *ctx, const struct store_record *rec)
{
	struct lifecycle_batch *b = ctx;

	b->after_id = rec->id;
	if (strcmp(rec->outcome, "running") == 0)
		return 0;
	if (b->skip <= 0) {
		b->done = true;
		return 1;
	}
	b->skip--;
	return lifecycle_take(b, rec);
}

/* Finishes every running execution whose last sign of life is older than stale_after. */
static void lifecycle_reap(struct fs *fs)
{
	struct store_filter running = { .outcome = STORE_RUNNING, .day = -1 };
	struct lifecycle_batch b = { 0 };
	char value[128];
	int err;

	snprintf(value, sizeof(value), "error: abandoned: no heartbeat for %lld s",
		 (long long)fs->opts.stale_after);
	b.cutoff = store_now_ms() - fs->opts.stale_after * 1000;
	do {
		lifecycle_batch_reset(&b);
		err = store_list(fs->store, &running, b.after_id, lifecycle_gather_stale, &b);
		for (size_t i = 0; i < b.n; i++) {
			int ferr = fs_finish(fs, b.names[i], b.ids[i], value, strlen(value));

			/* A finish that raced ours (-EPERM) is the recorder's, and it wins. */
			if (ferr == 0)
				fs_log(LOG_NOTICE, "abandoned %s: no heartbeat for %lld s", b.names[i],
				       (long long)fs->opts.stale_after);
			else if (ferr != -EPERM)
				fs_log(LOG_WARNING, "cannot finish abandoned %s: %s: %s", b.names[i],
				       strerror(-ferr), store_reason());
		}
	} while (err == 0 && b.full);
	if (err < 0)
		fs_log(LOG_WARNING, "looking for abandoned runs: %s: %s", strerror(-err), store_reason());
	lifecycle_batch_reset(&b);
}

/* Deletes one batch; the kernel may hold the names for a second: tell it. */
static size_t lifecycle_delete(struct fs *fs, struct lifecycle_batch *b, const char *why)
{
	char entry[RECORD_NAME_MAX + 8];
	size_t deleted = 0;

	for (size_t i = 0; i < b->n; i++) {
		int err = store_delete(fs->store, b->names[i]);

		if (err && err != -ENOENT) {
			fs_log(LOG_WARNING, "cannot prune %s: %s: %s", b->names[i], strerror(-err),
			       store_reason());
			continue;
		}
		fs_log(LOG_INFO, "pruned %s (%s)", b->names[i], why);
		snprintf(entry, sizeof(entry), "%s.json", b->names[i]);
		fuse_lowlevel_notify_inval_entry(fs->se, INO_ROOT, entry, strlen(entry));
		deleted++;
	}
	return deleted;
}

/* One walk of the log from the oldest, deleting what @gather picks, batch by batch. */
static void lifecycle_prune_walk(struct fs *fs, store_list_fn gather, struct lifecycle_batch *b,
				 const char *why)
{
	size_t deleted = 0;
	int err;

	do {
		lifecycle_batch_reset(b);
		err = store_list(fs->store, NULL, b->after_id, gather, b);
		deleted += lifecycle_delete(fs, b, why);
	} while (err == 0 && b->full && !b->done);
	if (err < 0)
		fs_log(LOG_WARNING, "pruning (%s): %s: %s", why, strerror(-err), store_reason());
	if (deleted)
		fs_log(LOG_NOTICE, "pruned %zu finished runs (%s)", deleted, why);
	lifecycle_batch_reset(b);
}

static void lifecycle_prune(struct fs *fs)
{
	struct lifecycle_batch b = { 0 };
	int64_t finished = 0;
	char why[64];

	if (fs->opts.keep_days > 0) {
		b.cutoff = store_now_ms() / 1000 - fs->opts.keep_days * 86400;
		snprintf(why, sizeof(why), "keep_days=%lld", (long long)fs->opts.keep_days);
		lifecycle_prune_walk(fs, lifecycle_gather_old, &b, why);
	}
	if (fs->opts.keep_count > 0) {
		/* From the store's indexes: no record is read to count them. */
		for (int o = STORE_SUCCESS; o < STORE_OUTCOMES; o++) {
			struct store_filter f = { .outcome = o, .day = -1 };
			uint64_t n = 0;

			if (store_count(fs->store, &f, &n) != 0)
				return;
			finished += (int64_t)n;
		}
		memset(&b, 0, sizeof(b));
		b.skip = finished - fs->opts.keep_count;
		snprintf(why, sizeof(why), "keep_count=%lld", (long long)fs->opts.keep_count);
		if (b.skip > 0)
			lifecycle_prune_walk(fs, lifecycle_gather_excess, &b, why);
	}
}

static void *lifecycle_thread(void *arg)
{
	struct fs *fs = arg;
	struct fs_lifecycle *lc = fs->lifecycle;
	int64_t period_s = LIFECYCLE_PRUNE_PERIOD_S, next_prune = 0;
	struct timespec deadline;

	/* Abandonment is noticed within a quarter of stale_after (1 s to 1 min) of its due time. */
	if (fs->opts.stale_after > 0) {
		period_s = fs->opts.stale_after / 4;
		period_s = period_s < 1 ? 1 : period_s > 60 ? 60 : period_s;
	}
	pthread_mutex_lock(&lc->lock);
	while (!lc->stop) {
		int64_t now = store_now_ms() / 1000;

		pthread_mutex_unlock(&lc->lock);
		if (fs->opts.stale_after > 0)
			lifecycle_reap(fs);
		if ((fs->opts.keep_days > 0 || fs->opts.keep_count > 0) && now >= next_prune) {
			lifecycle_prune(fs);
			next_prune = now + LIFECYCLE_PRUNE_PERIOD_S;
		}
		pthread_mutex_lock(&lc->lock);
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += period_s;
		while (!lc->stop &&
		       pthread_cond_timedwait(&lc->wake, &lc->lock, &deadline) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&lc->lock);
	return NULL;
}

int fs_lifecycle_start(struct fs *fs)
{
	struct fs_lifecycle *lc;
	pthread_condattr_t attr;

	if (fs->opts.stale_after <= 0 && fs->opts.keep_days <= 0 && fs->opts.keep_count <= 0)
		return 0;
	if (fs->opts.read_only) {
		fs_log(LOG_WARNING, "read-only mount: stale_after, keep_days and keep_count do nothing");
		return 0;
	}
	lc = calloc(1, sizeof(*lc));
	if (lc == NULL)
		return -ENOMEM;
	pthread_mutex_init(&lc->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&lc->wake, &attr);
	pthread_condattr_destroy(&attr);
	fs->lifecycle = lc;
	if (pthread_create(&lc->thread, NULL, lifecycle_thread, fs) != 0) {
		fs->lifecycle = NULL;
		pthread_cond_destroy(&lc->wake);
		pthread_mutex_destroy(&lc->lock);
		free(lc);
		return -EAGAIN;
	}
	return 0;
}

void fs_lifecycle_stop(struct fs *fs)
{
	struct fs_lifecycle *lc = fs->lifecycle;

	if (lc == NULL)
		return;
	pthread_mutex_lock(&lc->lock);
	lc->stop = true;
	pthread_cond_signal(&lc->wake);
	pthread_mutex_unlock(&lc->lock);
	pthread_join(lc->thread, NULL);
	pthread_cond_destroy(&lc->wake);
	pthread_mutex_destroy(&lc->lock);
	free(lc);
	fs->lifecycle = NULL;
}
