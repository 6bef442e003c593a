/*
 * report.h - the log as a page (index.html) and as Prometheus metrics
 * (metrics.prom), rendered from the store.
 *
 * The renderers know the store and nothing of FUSE, so that they can be
 * tested and timed on their own; the cache serves one rendering to the
 * stat and the open that follow each other, so that st_size is the length
 * of what a read returns, and keeps its time while the log does not change.
 */
#ifndef EXECLOG_REPORT_H
#define EXECLOG_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* How many executions index.html lists. */
#define REPORT_HTML_ROWS 1000

/*
 * How much of each run's args index.html shows (bytes of the command line,
 * then "…"): a page of a thousand 60 KB command lines is 60 MB that no one
 * reads, and its rendering is what a stat of index.html costs.
 */
#define REPORT_ARGS_SHOWN 1024

/* How many UTC days, today included, the outcome chart of index.html covers. */
#define REPORT_HTML_DAYS 30

enum report_kind {
	REPORT_HTML,    /* index.html */
	REPORT_METRICS, /* metrics.prom */
	REPORT_KINDS
};

/*
 * Renders index.html of @s into a malloc'd *out of *len bytes. @now_ms
 * only says which UTC day is today (the per-day chart's last); nothing
 * else in the page depends on the clock. 0 or a negative errno from the
 * store (-ENOMEM).
 */
int report_html(struct store *s, int64_t now_ms, char **out, size_t *len);

/* Renders metrics.prom of @s into a malloc'd *out of *len bytes; as report_html(). */
int report_metrics(struct store *s, char **out, size_t *len);

/*
 * report_metrics(), and in *@sum the summary it rendered (the cache takes
 * the latest finish from it rather than asking the store again: on a
 * SQLite store still counting its rows, a summary reads the rows left).
 */
int report_metrics_with(struct store *s, char **out, size_t *len, struct store_summary *sum);

/*
 * The last rendering of each kind (report_cache.c), with the store's
 * version then (store_version()) and when its bytes last changed. A
 * rendering is served again, with no store query, while the version is the
 * same (index.html: and the UTC day); otherwise a fresh one replaces it,
 * and the time moves only if the bytes did. A backend without a version
 * falls back to comparing counts by outcome and the latest id, and then
 * only for REPORT_CACHE_MS at most.
 */
#define REPORT_CACHE_MS 1000

struct report_cache;

struct report_cache *report_cache_new(void);
void report_cache_free(struct report_cache *c);

/*
 * A copy of the rendering of @kind (malloc'd, *len bytes), from the cache
 * or fresh, and (if @changed_ms) the time in Unix ms its bytes last
 * changed: the file's mtime and ctime. 0 or a negative errno.
 */
int report_get(struct report_cache *c, struct store *s, enum report_kind kind,
	       char **out, size_t *len, int64_t *changed_ms);

#endif
