/*
 * lifecycle.c - the daemon's own work on the log: finishing runs whose
 * recorder died (-o stale_after) and deleting old finished runs (-o
 * keep_days, -o keep_count).
 *
 * One thread does both, at mount and then periodically, in small batches
 * of separate store calls, so that FUSE requests interleave with it and the
 * mount never stalls. A batch is gathered from a listing first and acted on
 * after it, so no change is made while a store cursor is open.
 *
 * Others change the log between the reading and the acting (a recorder
 * heartbeats or finishes, a user deletes a run and starts its name again),
 * so every change is conditioned on what was read: a finish on the same
 * run (its id), still running and still silent; a delete on the same run.
 * A run that changed meanwhile is left alone, to be seen again next time.
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
	bool full;                   /* the listing stopped because the batch filled */
	int64_t after_id;            /* reap: the last id seen */
	int64_t cutoff_ms;           /* reap: a heartbeat before this is stale */
	struct store_start_walk walk; /* prune: the last execution seen, in start order */
	int64_t keep;                /* prune: finished runs still to keep (keep_count), counting down */
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

/* Adds one execution to the batch; returns 1 (stop the listing) when it is full. */
static int lifecycle_take(struct lifecycle_batch *b, int64_t id, const char *execution_id)
{
	/* Another program's row with a name that is not valid is never touched, nor made a path. */
	if (record_name_check(execution_id) != 0)
		return 0;
	b->names[b->n] = strdup(execution_id);
	if (b->names[b->n] == NULL)
		return -ENOMEM;
	b->ids[b->n++] = id;
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
	return rec->heartbeat_ms < b->cutoff_ms ? lifecycle_take(b, rec->id, rec->execution_id) : 0;
}

/* Finishes one run found stale, if it is still that run, running and silent. */
static void lifecycle_abandon(struct fs *fs, const char *name, int64_t id, int64_t cutoff_ms,
			      const char *message)
{
	char *cut_note = fs_output_cut_note(fs, id, message); /* a cut output says so */
	struct store_finish fin = {
		.outcome = STORE_ERROR,
		.error_message = cut_note ? cut_note : message,
		.exit_code = STORE_NULL,
		.signal = STORE_NULL,
		.only_id = id,
		.only_stale_before_ms = cutoff_ms,
	};
	int err = store_finish(fs->store, name, &fin, store_now_ms());

	if (err == 0) {
		fs_log(LOG_NOTICE, "abandoned %s: no heartbeat for %lld s", name,
		       (long long)fs->opts.stale_after);
		/* The record's size and times changed; the kernel must ask again. */
		fuse_lowlevel_notify_inval_inode(fs->se, fs_ino(KIND_RECORD, (uint64_t)id), -1, 0);
	} else if (err != -EPERM && err != -ESTALE && err != -ENOENT) {
		/* -EPERM: its recorder finished it; -ESTALE: it heartbeat, or the name
		 * is another run now; -ENOENT: it was finished and deleted. */
		fs_log(LOG_WARNING, "cannot finish abandoned %s: %s: %s", name, strerror(-err),
		       store_reason());
	}
	free(cut_note);
}

/* Finishes every running execution whose last sign of life is older than stale_after. */
static void lifecycle_reap(struct fs *fs)
{
	struct store_filter running = { .outcome = STORE_RUNNING, .day = -1 };
	struct lifecycle_batch b = { 0 };
	char message[96];
	int err;

	snprintf(message, sizeof(message), "abandoned: no heartbeat for %lld s",
		 (long long)fs->opts.stale_after);
	b.cutoff_ms = store_now_ms() - fs->opts.stale_after * 1000;
	do {
		lifecycle_batch_reset(&b);
		err = store_list(fs->store, &running, b.after_id, lifecycle_gather_stale, &b);
		for (size_t i = 0; i < b.n; i++)
			lifecycle_abandon(fs, b.names[i], b.ids[i], b.cutoff_ms, message);
	} while (err == 0 && b.full);
	if (err < 0)
		fs_log(LOG_WARNING, "looking for abandoned runs: %s: %s", strerror(-err), store_reason());
	lifecycle_batch_reset(&b);
}

/* Deletes one batch, each only if its name is still the run read; tells the kernel. */
static size_t lifecycle_delete(struct fs *fs, struct lifecycle_batch *b, const char *why)
{
	char entry[RECORD_NAME_MAX + 8];
	size_t deleted = 0;

	for (size_t i = 0; i < b->n; i++) {
		int err = store_delete_run(fs->store, b->names[i], b->ids[i]);

		/* Deleted meanwhile (-ENOENT), or the name is another run now (-ESTALE). */
		if (err == -ENOENT || err == -ESTALE)
			continue;
		if (err) {
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

static int lifecycle_gather_prune(void *ctx, int64_t id, const char *execution_id,
				  int64_t started_at)
{
	struct lifecycle_batch *b = ctx;

	b->walk.started_at = started_at;
	b->walk.id = id;
	if (b->keep > 0) {
		b->keep--;
		return 0;
	}
	return lifecycle_take(b, id, execution_id);
}

/*
 * One walk of the finished runs in start order (b->walk), keeping the first
 * b->keep and deleting the rest, batch by batch. The walk goes on from the
 * last run it saw, so a run that could not be deleted is not met again.
 */
static void lifecycle_prune_walk(struct fs *fs, struct lifecycle_batch *b, const char *why)
{
	size_t deleted = 0;
	int err;

	do {
		lifecycle_batch_reset(b);
		err = store_list_finished_by_start(fs->store, &b->walk, lifecycle_gather_prune, b);
		deleted += lifecycle_delete(fs, b, why);
	} while (err == 0 && b->full);
	if (err < 0)
		fs_log(LOG_WARNING, "pruning (%s): %s: %s", why, strerror(-err), store_reason());
	if (deleted)
		fs_log(LOG_NOTICE, "pruned %zu finished runs (%s)", deleted, why);
	lifecycle_batch_reset(b);
}

static void lifecycle_prune(struct fs *fs)
{
	struct lifecycle_batch b = { 0 };
	char why[64];

	/* The oldest first, up to the cut-off: by start time, whatever the ids say. */
	if (fs->opts.keep_days > 0) {
		store_start_walk_init(&b.walk, false,
				      store_now_ms() / 1000 - fs->opts.keep_days * 86400);
		snprintf(why, sizeof(why), "keep_days=%lld", (long long)fs->opts.keep_days);
		lifecycle_prune_walk(fs, &b, why);
	}
	/*
	 * The newest first: the first keep_count finished runs are passed over,
	 * every one after them deleted. What is deleted was decided by the runs
	 * the walk itself passed, never by a count taken earlier, so runs
	 * deleted by others meanwhile cannot make it delete more.
	 */
	if (fs->opts.keep_count > 0) {
		memset(&b, 0, sizeof(b));
		store_start_walk_init(&b.walk, true, INT64_MAX);
		b.keep = fs->opts.keep_count;
		snprintf(why, sizeof(why), "keep_count=%lld", (long long)fs->opts.keep_count);
		lifecycle_prune_walk(fs, &b, why);
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
