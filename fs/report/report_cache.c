/*
 * report_cache.c - the last rendering of index.html and of metrics.prom,
 * and the time each last changed.
 *
 * A stat, the open that follows and the reads of it must see one
 * rendering, so that st_size is what cat reads; and while the log does not
 * change, every stat must see the same size and times, so that tar, rsync
 * and backups of the whole mount find nothing "changed as we read it".
 *
 * So each kind keeps its last rendering with the store's version then
 * (store_version(): one cheap check, SQLite's data_version, LMDB's last
 * transaction id, PostgreSQL's snapshot) and the time its bytes last
 * changed. While the version is the same, the rendering is served again
 * without a single query, however big the log, and for as long as it
 * stays so (index.html also until the UTC day changes: its per-day chart
 * ends today). That holds under -o ro too: counted once, then served until
 * the version moves, by a writable mount or another program.
 *
 * A backend without a version (-EOPNOTSUPP, or a failed check) falls back
 * to a fingerprint (counts by outcome and the latest id) and an age limit,
 * REPORT_CACHE_MS, which is there for those only: it catches what the
 * fingerprint does not (a row another program rewrote, and midnight UTC).
 *
 * When a fresh rendering is made, the time moves only when its bytes
 * differ from the last one (or it is the first since the mount): to the
 * store's latest start or finish when that is later, else to now, for a
 * change the store keeps no time of.
 *
 * Each kind has its own lock: one rendering of a kind at a time (a burst
 * of stats waits for it rather than repeating it), while the other kind
 * renders on its own.
 *
 * Left out: the rendering itself (report.c) and FUSE (fs/node.c, fs/ops.c
 * serve what it keeps).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "report_text.h"

/* What the store looked like for a rendering: changes through any writer move it. */
struct report_fingerprint {
	uint64_t counts[STORE_OUTCOMES];
	int64_t latest_id;
};

struct report_cached {
	pthread_mutex_t lock; /* one rendering of this kind at a time */
	char *data;
	size_t len;
	int64_t made_ms;    /* when it was rendered, by the clock */
	int64_t changed_ms; /* when its bytes last changed: the file's times */
	struct report_fingerprint fp;
	bool versioned;     /* rendered with the store's version known: version */
	uint64_t version;   /* store_version() before it was rendered */
};

struct report_cache {
	struct report_cached kinds[REPORT_KINDS];
};

struct report_cache *report_cache_new(void)
{
	struct report_cache *c = calloc(1, sizeof(*c));

	for (int k = 0; c && k < REPORT_KINDS; k++)
		pthread_mutex_init(&c->kinds[k].lock, NULL);
	return c;
}

void report_cache_free(struct report_cache *c)
{
	if (c == NULL)
		return;
	for (int k = 0; k < REPORT_KINDS; k++) {
		free(c->kinds[k].data);
		pthread_mutex_destroy(&c->kinds[k].lock);
	}
	free(c);
}

/*
 * Fills @fp, and *@latest_ms with the latest start in ms (STORE_NULL on an
 * empty log). Without @counts, fp's counts stay 0: a store with a version
 * is not compared by them (were a later check to lack the version, the
 * fingerprint differs and the report is rendered again), and the
 * rendering counts anyway.
 */
static int report_fingerprint(struct store *s, bool counts, struct report_fingerprint *fp,
			      int64_t *latest_ms)
{
	struct store_record latest = { 0 };
	int err = 0;

	memset(fp, 0, sizeof(*fp));
	*latest_ms = STORE_NULL;
	if (counts)
		err = report_counts(s, fp->counts);
	if (err == 0) {
		err = store_latest(s, &latest);
		if (err == 0) {
			fp->latest_id = latest.id;
			*latest_ms = latest.started_ms;
		}
		err = err == -ENOENT ? 0 : err;
	}
	store_record_clear(&latest);
	return err;
}

/*
 * The time of the log's last change as the store tells it: the later of
 * the latest start (@latest_ms) and the latest finish (from @known, the
 * summary a rendering read, else asked), never past @now (rows from other
 * programs may say anything); an empty log, or one whose times are all
 * before 1970, changed @now.
 */
static int64_t report_store_changed(struct store *s, const struct store_summary *known,
				    int64_t latest_ms, int64_t now)
{
	struct store_summary asked;
	const struct store_summary *sum = known;
	int64_t t = latest_ms;

	if (sum == NULL && store_summary(s, &asked) == 0)
		sum = &asked;
	if (sum && sum->last_finished_at != STORE_NULL && sum->last_finished_at > t / 1000)
		t = sum->last_finished_at > INT64_MAX / 1000 ? INT64_MAX : sum->last_finished_at * 1000;
	if (t > now)
		return now;
	return t > 0 ? t : now;
}

/* Renders @kind afresh into @r; the time moves only if the bytes did. */
static int report_render(struct report_cached *r, struct store *s, enum report_kind kind,
			 const struct report_fingerprint *fp, int64_t latest_ms, int64_t now)
{
	struct store_summary sum;
	char *data;
	size_t n;
	int err;

	err = kind == REPORT_HTML ? report_html(s, now, &data, &n)
				  : report_metrics_with(s, &data, &n, &sum);
	if (err)
		return err;
	if (r->data == NULL || n != r->len || memcmp(data, r->data, n) != 0) {
		int64_t t = report_store_changed(s, kind == REPORT_HTML ? NULL : &sum, latest_ms, now);

		/*
		 * A start or a finish has its time in the store; a change that
		 * has none (a delete, a row rewritten, midnight) has the time a
		 * rendering first saw it. Never back, whatever the clock does.
		 */
		if (r->data == NULL || t > r->changed_ms)
			r->changed_ms = t;
		else if (now > r->changed_ms)
			r->changed_ms = now;
	}
	free(r->data);
	r->data = data;
	r->len = n;
	r->made_ms = now;
	r->fp = *fp;
	return 0;
}

/* The UTC day of @ms (floor, also before 1970). */
static int64_t report_day(int64_t ms)
{
	return ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
}

/*
 * Whether the rendering in @r may be served as it is (*@fresh): the
 * store's version (@versioned: known, @version) is the one it was rendered
 * at, and for index.html the UTC day is too; without a version, the
 * fingerprint is the same and @r is younger than REPORT_CACHE_MS. When
 * not fresh, @fp and *@latest_ms hold the fingerprint, for the rendering.
 */
static int report_fresh(struct report_cached *r, struct store *s, enum report_kind kind,
			bool versioned, uint64_t version, int64_t now,
			struct report_fingerprint *fp, int64_t *latest_ms, bool *fresh)
{
	int err;

	*fresh = false;
	if (versioned && r->data && r->versioned && r->version == version) {
		*fresh = kind != REPORT_HTML || report_day(now) == report_day(r->made_ms);
		if (*fresh)
			return 0;
	}
	err = report_fingerprint(s, !versioned, fp, latest_ms);
	if (err || versioned || r->data == NULL)
		return err;
	*fresh = now - r->made_ms < REPORT_CACHE_MS && now >= r->made_ms &&
		 memcmp(fp, &r->fp, sizeof(*fp)) == 0;
	return 0;
}

int report_get(struct report_cache *c, struct store *s, enum report_kind kind,
	       char **out, size_t *len, int64_t *changed_ms)
{
	struct report_cached *r = &c->kinds[kind];
	struct report_fingerprint fp;
	int64_t now = store_now_ms(), latest_ms = STORE_NULL;
	uint64_t version = 0;
	bool versioned, fresh;
	int err;

	*out = NULL;
	*len = 0;
	pthread_mutex_lock(&r->lock);
	/* Asked before any rendering, so that a change during one moves it again. */
	versioned = store_version(s, &version) == 0;
	err = report_fresh(r, s, kind, versioned, version, now, &fp, &latest_ms, &fresh);
	if (err == 0 && !fresh)
		err = report_render(r, s, kind, &fp, latest_ms, now);
	if (err)
		goto unlock;
	r->versioned = versioned;
	r->version = version;
	*out = malloc(r->len ? r->len : 1);
	if (*out == NULL) {
		err = -ENOMEM;
		goto unlock;
	}
	memcpy(*out, r->data, r->len);
	*len = r->len;
	if (changed_ms)
		*changed_ms = r->changed_ms;
unlock:
	pthread_mutex_unlock(&r->lock);
	return err;
}
