/*
 * lmdb_list.c - the LMDB backend's listings and counts: counts by outcome
 * and day read the cnt: keys (lmdb_counts.c), the rest are walks of the id:,
 * outcome:, day:, start: and view (host:, user:, tool:, tag:) indexes (see the layout in lmdb_keys.c), each
 * step one short read transaction, so that no transaction stays open while
 * a caller's callback runs.
 *
 * Left out: reading or changing one execution (lmdb.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmdb_internal.h"

/* Listing. */

/*
 * A walk along one index whose keys are a prefix and a be64 id. Each step
 * is its own read transaction and loads up to LMDB_LIST_STEP records (about
 * LMDB_LIST_BYTES at most), so the walk holds no transaction (and no lock)
 * while the caller's callback runs; ids only grow, so resuming after the
 * last id seen shows nothing twice and misses nothing that existed
 * throughout.
 */
#define LMDB_LIST_STEP 64
#define LMDB_LIST_BYTES (256 * 1024)

struct lmdb_walk {
	struct lmdb_buf prefix;
	bool id_index;           /* values are id: values (times, then the name) */
	const char *outcome;     /* checked on each entry; NULL for any */
	int64_t next_id;         /* the least id still to visit */
	bool exhausted;          /* no id is left past the last one found */
	/* A by-tag walk: its tag, which the runs after the tag mark, not yet
	 * in the keys, are read for (lmdb_tags_pending()); key NULL: none. */
	const char *tag_key, *tag_value;
	size_t tag_key_len;
	size_t n;                /* records the last step loaded */
	struct store_record recs[LMDB_LIST_STEP];
};


static void lmdb_walk_clear(struct lmdb_walk *w)
{
	for (size_t i = 0; i < w->n; i++)
		store_record_clear(&w->recs[i]);
	w->n = 0;
}


/* A step's place among the runs after the tag mark. */
struct lmdb_walk_pending {
	struct lmdb_walk *w;
	int64_t *next;
	size_t *bytes;
};

/* Takes a run after the tag mark into the step, while it has room. */
static int lmdb_walk_take(void *arg, int64_t id, const MDB_val *idval, struct store_record *rec)
{
	struct lmdb_walk_pending *p = arg;
	struct lmdb_walk *w = p->w;

	(void)idval;
	if (w->n >= LMDB_LIST_STEP || *p->bytes >= LMDB_LIST_BYTES)
		return 1;
	w->recs[w->n++] = *rec;
	memset(rec, 0, sizeof(*rec));
	*p->bytes += strlen(w->recs[w->n - 1].args) + strlen(w->recs[w->n - 1].tool_version);
	*p->next = id + 1; /* ids after the mark are far below INT64_MAX */
	return 0;
}

/*
 * After a by-tag walk's keys (ids up to the tag mark), in the same
 * transaction: the runs after the mark that have the tag, in id order.
 * -ENOENT when all are in the step, 0 when it is full, or an error.
 */
static int lmdb_walk_pending(struct lmdb_store *st, struct lmdb_txn *txn, struct lmdb_walk *w,
			     int64_t *next, size_t *bytes)
{
	struct lmdb_walk_pending p = { w, next, bytes };
	int rc = lmdb_tags_pending(st, txn, *next, w->tag_key, w->tag_key_len, w->tag_value,
				   lmdb_walk_take, &p);

	return rc == 0 ? -ENOENT : rc == 1 ? 0 : rc;
}

static int lmdb_walk_step(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_walk *w = arg;
	int64_t next = w->next_id, id;
	bool exhausted = false;
	size_t bytes = 0;
	MDB_cursor *cur;
	MDB_val val;
	int rc;

	/* A step run again (after a remap) starts afresh. */
	lmdb_walk_clear(w);
	rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_index_next(txn, cur, &w->prefix, true, next, &id, &val);
	     rc == 0 && w->n < LMDB_LIST_STEP && bytes < LMDB_LIST_BYTES;
	     rc = lmdb_index_next(txn, cur, &w->prefix, false, 0, &id, &val)) {
		struct store_record *rec = &w->recs[w->n];

		store_count_visits(&st->base, 1);
		if (id == INT64_MAX)
			exhausted = true;
		else
			next = id + 1;
		/* The outcome index answers without parsing the document. */
		if (w->outcome != NULL)
			rc = lmdb_has_outcome(st, txn, w->outcome, id);
		if (rc == 0 && w->id_index)
			rc = lmdb_load_indexed(st, txn, &val, rec);
		else if (rc == 0)
			rc = lmdb_load(st, txn, val.mv_data, val.mv_size, rec);
		if (rc == 0) {
			w->n++;
			bytes += strlen(rec->args) + strlen(rec->tool_version);
		} else if (rc != -ENOENT) {
			break;
		}
		/* Another outcome, or an index entry without its record: skipped. */
		if (exhausted) {
			rc = -ENOENT;
			break;
		}
	}
	if (rc == -ENOENT && !exhausted && w->tag_key != NULL)
		rc = lmdb_walk_pending(st, txn, w, &next, &bytes);
	if (rc == -ENOENT || rc == 0) {
		exhausted = exhausted || rc == -ENOENT;
		rc = 0;
	}
	mdb_cursor_close(cur);
	if (rc != 0) {
		lmdb_walk_clear(w);
		return rc;
	}
	w->next_id = next;
	w->exhausted = exhausted;
	return 0;
}

/*
 * Points @w at the narrowest index for @filter: a view's value, a day, an
 * outcome, or every id. A day and an outcome walk the day and check the
 * outcome. Returns 0, or -EOPNOTSUPP for a view of a store without its
 * keys; a value no key can have leaves @w exhausted.
 */
static int lmdb_walk_index(struct lmdb_store *st, struct lmdb_walk *w,
			   const struct store_filter *filter)
{
	const char *outcome = NULL;
	int rc = 0;

	if (filter->outcome >= 0)
		outcome = store_outcome_name(filter->outcome);
	if (filter->attr != STORE_ATTR_NONE) {
		/* store.c refused an attr with an outcome or a day. */
		rc = lmdb_views_check(st);
		if (rc == 0 && !lmdb_prefix_view(&w->prefix, filter->attr, filter->value))
			w->exhausted = true;
		else if (rc == 0 && filter->attr == STORE_BY_TAG) {
			w->tag_key = filter->value;
			w->tag_value = strchr(filter->value, '=') + 1;
			w->tag_key_len = (size_t)(w->tag_value - 1 - filter->value);
		}
	} else if (filter->day >= 0) {
		lmdb_prefix_day(&w->prefix, filter->day);
		w->outcome = outcome;
	} else if (outcome != NULL) {
		lmdb_prefix_outcome(&w->prefix, outcome);
	} else {
		lmdb_buf_add_str(&w->prefix, "id:");
		w->id_index = true;
	}
	return rc;
}

/* Points @w at the index for @filter, past id @after_id (-1: from the first). */
static int lmdb_walk_start(struct lmdb_store *st, struct lmdb_walk *w,
			   const struct store_filter *filter, int64_t after_id)
{
	int rc = lmdb_walk_index(st, w, filter);

	if (after_id == INT64_MAX)
		w->exhausted = true;
	else
		w->next_id = after_id < 0 ? 0 : after_id + 1;
	return rc;
}

int lmdb_list(struct store *s, const struct store_filter *filter,
		     int64_t after_id, store_list_fn fn, void *ctx)
{
	struct lmdb_walk *w = calloc(1, sizeof(*w));
	int rc = 0;

	if (w == NULL)
		return store_fail(-ENOMEM, "lmdb: out of memory");
	rc = lmdb_walk_start(lmdb_of(s), w, filter, after_id);
	while (rc == 0 && !w->exhausted) {
		rc = lmdb_run(lmdb_of(s), false, "list", lmdb_walk_step, w);
		for (size_t i = 0; rc == 0 && i < w->n; i++)
			rc = fn(ctx, &w->recs[i]);
		lmdb_walk_clear(w);
	}
	lmdb_trim(lmdb_of(s));
	free(w);
	return rc > 0 ? 0 : rc;
}

/*
 * Names copied out of one read transaction (up to LMDB_NAMES_STEP), for a
 * caller to have once it has ended: each NUL-terminated in text.
 */
struct lmdb_name_buf {
	size_t n, used;
	int64_t ids[LMDB_NAMES_STEP];
	size_t at[LMDB_NAMES_STEP]; /* offset of each name in text */
	char text[LMDB_NAMES_STEP * (LMDB_NAME_MAX + 1)];
};

/* Adds execution @id, named by @len bytes at @name (at most LMDB_NAME_MAX). */
static void lmdb_name_buf_add(struct lmdb_name_buf *nb, int64_t id, const void *name, size_t len)
{
	nb->ids[nb->n] = id;
	nb->at[nb->n] = nb->used;
	memcpy(nb->text + nb->used, name, len);
	nb->used += len;
	nb->text[nb->used++] = '\0';
	nb->n++;
}

/*
 * A names-only listing reads up to LMDB_NAMES_STEP index entries per read
 * transaction (the names are in the index values: no record is loaded),
 * then hands them to the caller outside the transaction.
 */
struct lmdb_names {
	struct lmdb_walk w;
	struct lmdb_name_buf names;
};

/* Takes the name of a run after the tag mark, while the step has room. */
static int lmdb_names_take(void *arg, int64_t id, const MDB_val *idval, struct store_record *rec)
{
	struct lmdb_names *nm = arg;
	size_t len = idval->mv_size - LMDB_TIMES_LEN; /* lmdb_load_indexed() checked the size */

	(void)rec;
	if (nm->names.n >= LMDB_NAMES_STEP)
		return 1;
	if (len > LMDB_NAME_MAX)
		return store_fail(-EIO, "lmdb: an id: entry is damaged");
	lmdb_name_buf_add(&nm->names, id, (const char *)idval->mv_data + LMDB_TIMES_LEN, len);
	nm->w.next_id = id + 1;
	return 0;
}

static int lmdb_names_step(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_names *nm = arg;
	struct lmdb_walk *w = &nm->w;
	MDB_cursor *cur;
	MDB_val val;
	int64_t id;
	int rc;

	nm->names.n = nm->names.used = 0;
	rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_index_next(txn, cur, &w->prefix, true, w->next_id, &id, &val);
	     rc == 0 && nm->names.n < LMDB_NAMES_STEP;
	     rc = lmdb_index_next(txn, cur, &w->prefix, false, 0, &id, &val)) {
		const char *name = val.mv_data;
		size_t len = val.mv_size;

		store_count_visits(&st->base, 1);
		if (id == INT64_MAX)
			w->exhausted = true;
		else
			w->next_id = id + 1;
		if (w->outcome != NULL) {
			rc = lmdb_has_outcome(st, txn, w->outcome, id);
			if (rc == -ENOENT)
				continue;
			if (rc != 0)
				break;
		}
		/* id: values hold the times before the name. */
		if (w->id_index) {
			if (len < LMDB_TIMES_LEN) {
				rc = store_fail(-EIO, "lmdb: an id: entry is damaged");
				break;
			}
			name += LMDB_TIMES_LEN;
			len -= LMDB_TIMES_LEN;
		}
		if (len > LMDB_NAME_MAX) {
			rc = store_fail(-EIO, "lmdb: an index entry is damaged");
			break;
		}
		lmdb_name_buf_add(&nm->names, id, name, len);
		if (w->exhausted)
			break;
	}
	/* A by-tag walk: then the runs after the tag mark (see lmdb_walk_pending()). */
	if (rc == -ENOENT && !w->exhausted && w->tag_key != NULL) {
		rc = lmdb_tags_pending(st, txn, w->next_id, w->tag_key, w->tag_key_len,
				       w->tag_value, lmdb_names_take, nm);
		rc = rc == 0 ? -ENOENT : rc == 1 ? 0 : rc;
	}
	if (rc == -ENOENT) {
		w->exhausted = true;
		rc = 0;
	}
	mdb_cursor_close(cur);
	return rc;
}

int lmdb_list_names(struct store *s, const struct store_filter *filter,
			   int64_t after_id, store_name_fn fn, void *ctx)
{
	struct lmdb_names *nm = calloc(1, sizeof(*nm));
	int rc = 0;

	if (nm == NULL)
		return store_fail(-ENOMEM, "lmdb: out of memory");
	rc = lmdb_walk_start(lmdb_of(s), &nm->w, filter, after_id);
	while (rc == 0 && !nm->w.exhausted) {
		rc = lmdb_run(lmdb_of(s), false, "list", lmdb_names_step, nm);
		for (size_t i = 0; rc == 0 && i < nm->names.n; i++)
			rc = fn(ctx, nm->names.ids[i], nm->names.text + nm->names.at[i]);
		if (rc == 0 && nm->names.n == 0)
			break;
	}
	lmdb_trim(lmdb_of(s));
	free(nm);
	return rc > 0 ? 0 : rc;
}

struct lmdb_count {
	struct lmdb_walk w;
	uint64_t n;
};

static int lmdb_count_take(void *arg, int64_t id, const MDB_val *idval, struct store_record *rec)
{
	struct lmdb_count *c = arg;

	(void)id;
	(void)idval;
	(void)rec;
	c->n++;
	return 0;
}

/* Counts the keys of one index in one read transaction: no value is read
 * (but the records of the runs after the tag mark, in a by-tag count). */
static int lmdb_count_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_count *c = arg;
	const struct lmdb_buf *prefix = &c->w.prefix;
	uint64_t seen = 0;
	MDB_cursor *cur;
	MDB_val val;
	int64_t id;
	int rc;

	c->n = 0;
	rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_index_next(txn, cur, prefix, true, 0, &id, &val); rc == 0;
	     rc = lmdb_index_next(txn, cur, prefix, false, 0, &id, &val)) {
		if (++seen % LMDB_TRIM_KEYS == 0)
			lmdb_trim_held(st);
		store_count_visits(&st->base, 1);
		if (c->w.outcome != NULL) {
			rc = lmdb_has_outcome(st, txn, c->w.outcome, id);
			if (rc == -ENOENT)
				continue;
			if (rc != 0)
				break;
		}
		c->n++;
	}
	mdb_cursor_close(cur);
	/* A by-tag count: then the runs after the tag mark that have it. */
	if (rc == -ENOENT && c->w.tag_key != NULL)
		rc = lmdb_tags_pending(st, txn, 0, c->w.tag_key, c->w.tag_key_len,
				       c->w.tag_value, lmdb_count_take, c);
	return rc == -ENOENT ? 0 : rc;
}

int lmdb_count(struct store *s, const struct store_filter *filter, uint64_t *count)
{
	struct lmdb_count c = { 0 };
	int rc;

	if (lmdb_counts_answer(lmdb_of(s), filter))
		return lmdb_counts_get(lmdb_of(s), filter, count);
	rc = lmdb_walk_index(lmdb_of(s), &c.w, filter);
	if (rc == 0 && !c.w.exhausted)
		rc = lmdb_run(lmdb_of(s), false, "count", lmdb_count_body, &c);
	lmdb_trim(lmdb_of(s));
	if (rc == 0)
		*count = c.n;
	return rc;
}

struct lmdb_count_outcomes {
	struct lmdb_buf prefix; /* of the day's keys */
	uint64_t counts[STORE_OUTCOMES];
};

/* One walk of a day's keys, each execution's outcome found in the outcome index. */
static int lmdb_count_outcomes_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_count_outcomes *c = arg;
	const struct lmdb_buf *prefix = &c->prefix;
	uint64_t seen = 0;
	MDB_cursor *cur;
	MDB_val val;
	int64_t id;
	int rc;

	memset(c->counts, 0, sizeof(c->counts));
	rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_index_next(txn, cur, prefix, true, 0, &id, &val); rc == 0;
	     rc = lmdb_index_next(txn, cur, prefix, false, 0, &id, &val)) {
		if (++seen % LMDB_TRIM_KEYS == 0)
			lmdb_trim_held(st);
		store_count_visits(&st->base, 1);
		for (int o = 0; o < STORE_OUTCOMES; o++) {
			rc = lmdb_has_outcome(st, txn, store_outcome_name(o), id);
			if (rc == 0) {
				c->counts[o]++;
				break;
			}
			if (rc != -ENOENT)
				goto out;
		}
	}
out:
	mdb_cursor_close(cur);
	return rc == -ENOENT ? 0 : rc;
}

int lmdb_count_outcomes(struct store *s, const struct store_filter *filter,
			       uint64_t counts[STORE_OUTCOMES])
{
	struct lmdb_count_outcomes c = { 0 };
	int rc = 0;

	if (lmdb_counts_answer(lmdb_of(s), filter))
		return lmdb_counts_outcomes(lmdb_of(s), filter->day, counts);
	/* All of them: each outcome's own index counts it. */
	if (filter->day < 0) {
		for (int o = 0; o < STORE_OUTCOMES && rc == 0; o++) {
			struct store_filter f = { .outcome = o, .day = -1 };

			rc = lmdb_count(s, &f, &counts[o]);
		}
		return rc;
	}
	lmdb_prefix_day(&c.prefix, filter->day);
	rc = lmdb_run(lmdb_of(s), false, "count", lmdb_count_outcomes_body, &c);
	lmdb_trim(lmdb_of(s));
	if (rc == 0)
		memcpy(counts, c.counts, sizeof(c.counts));
	return rc;
}

struct lmdb_days {
	uint64_t next_day; /* the least day still to visit, as its key orders */
	bool exhausted;    /* no day is left past the last one found */
	bool found;        /* the last step found day */
	int64_t day;
};

/* Finds the first day at or after next_day: one seek per day, however many
 * executions it has. */
static int lmdb_days_step(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_days *d = arg;
	struct lmdb_buf kb = { 0 };
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	d->found = false;
	rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		goto out;
	lmdb_buf_add_str(&kb, "day:");
	lmdb_buf_add_be64(&kb, d->next_day);
	key = lmdb_val(&kb);
	rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_SET_RANGE);
	if (rc == 0 && (key.mv_size != 4 + 16 || memcmp(key.mv_data, "day:", 4) != 0))
		rc = -ENOENT;
	if (rc == 0) {
		uint64_t day = lmdb_be64_decode((const char *)key.mv_data + 4);

		d->day = (int64_t)day;
		d->found = true;
		if (day == UINT64_MAX)
			d->exhausted = true;
		else
			d->next_day = day + 1;
	} else if (rc == -ENOENT) {
		rc = 0;
	}
	mdb_cursor_close(cur);
out:
	return rc;
}

int lmdb_list_days(struct store *s, int64_t after_day, store_day_fn fn, void *ctx)
{
	struct lmdb_days d = { 0 };
	int rc = 0;

	if (after_day == INT64_MAX)
		d.exhausted = true;
	else
		d.next_day = after_day < 0 ? 0 : (uint64_t)after_day + 1;
	while (!d.exhausted) {
		rc = lmdb_run(lmdb_of(s), false, "list days", lmdb_days_step, &d);
		if (rc != 0 || !d.found)
			break;
		rc = fn(ctx, d.day);
		if (rc != 0)
			break;
	}
	return rc > 0 ? 0 : rc;
}


/* The most recent executions: their ids from the id: index, backwards, then each. */

struct lmdb_recent {
	int64_t *ids;
	size_t n, found;
};

static int lmdb_recent_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_recent *r = arg;
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	r->found = 0;
	rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	/* "id;" is the first key past every "id:" key. */
	key = (MDB_val){ .mv_size = 3, .mv_data = "id;" };
	rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_SET_RANGE);
	rc = rc == 0 ? lmdb_cursor_get(txn, cur, &key, &val, MDB_PREV)
		     : rc == -ENOENT ? lmdb_cursor_get(txn, cur, &key, &val, MDB_LAST) : rc;
	while (rc == 0 && r->found < r->n && key.mv_size == 3 + 8 &&
	       memcmp(key.mv_data, "id:", 3) == 0) {
		r->ids[r->found++] = (int64_t)lmdb_be64_decode((const char *)key.mv_data + 3);
		rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_PREV);
	}
	store_count_visits(&st->base, r->found);
	mdb_cursor_close(cur);
	return rc == -ENOENT ? 0 : rc;
}

int lmdb_list_recent(struct store *s, size_t n, store_list_fn fn, void *ctx)
{
	struct lmdb_recent r = { .n = n };
	int rc;

	r.ids = calloc(n, sizeof(*r.ids));
	if (r.ids == NULL)
		return store_fail(-ENOMEM, "lmdb: out of memory");
	rc = lmdb_run(lmdb_of(s), false, "list", lmdb_recent_body, &r);
	if (rc == 0)
		rc = store_list_ids(s, r.ids, r.found, fn, ctx);
	free(r.ids);
	return rc;
}

/*
 * Retention: the finished executions in start order, along the start:
 * keys, whose values hold the names: no record is loaded. Each step is one
 * read transaction that reads up to LMDB_NAMES_STEP entries; the position
 * moves past every key a step looked at, running ones (skipped) included.
 */
struct lmdb_by_start {
	struct store_start_walk pos;
	bool exhausted;
	struct lmdb_name_buf names;
	int64_t started_at[LMDB_NAMES_STEP];
};

/* Puts @cur on the first start: key past @pos in its direction: 0, -ENOENT, or an error. */
static int lmdb_by_start_seek(struct lmdb_txn *txn, MDB_cursor *cur,
			      const struct store_start_walk *pos, struct lmdb_buf *kb, MDB_val *key,
			      MDB_val *val)
{
	int rc;

	lmdb_key_start(kb, pos->started_at, pos->id);
	*key = lmdb_val(kb);
	rc = lmdb_cursor_get(txn, cur, key, val, MDB_SET_RANGE);
	if (pos->newest_first)
		return rc == 0 ? lmdb_cursor_get(txn, cur, key, val, MDB_PREV)
		       : rc == -ENOENT ? lmdb_cursor_get(txn, cur, key, val, MDB_LAST) : rc;
	if (rc == 0 && key->mv_size == kb->len && memcmp(key->mv_data, kb->data, kb->len) == 0)
		rc = lmdb_cursor_get(txn, cur, key, val, MDB_NEXT);
	return rc;
}

/* Adds the execution of one start: entry to the step, unless it is running. */
static int lmdb_by_start_take(struct lmdb_store *st, struct lmdb_txn *txn, struct lmdb_by_start *b,
			      const struct store_start_walk *pos, const MDB_val *val)
{
	int rc = lmdb_has_outcome(st, txn, "running", pos->id);

	if (rc == 0)
		return 0; /* running: never listed */
	if (rc != -ENOENT)
		return rc;
	if (val->mv_size > LMDB_NAME_MAX)
		return store_fail(-EIO, "lmdb: a start: entry is damaged");
	b->started_at[b->names.n] = pos->started_at;
	lmdb_name_buf_add(&b->names, pos->id, val->mv_data, val->mv_size);
	return 0;
}

static int lmdb_by_start_step(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_by_start *b = arg;
	struct store_start_walk pos = b->pos;
	MDB_cursor_op next = pos.newest_first ? MDB_PREV : MDB_NEXT;
	struct lmdb_buf kb;
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	/* A step run again (after a remap) starts afresh. */
	b->names.n = b->names.used = 0;
	/* Newest first, the walk begins below the bound: (before, 0) precedes every id. */
	if (pos.newest_first && (pos.started_at > pos.before ||
				 (pos.started_at == pos.before && pos.id > 0))) {
		pos.started_at = pos.before;
		pos.id = 0;
	}
	rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_by_start_seek(txn, cur, &pos, &kb, &key, &val);
	     rc == 0 && b->names.n < LMDB_NAMES_STEP;
	     rc = lmdb_cursor_get(txn, cur, &key, &val, next)) {
		const char *k = key.mv_data;

		if (key.mv_size != 6 + 16 || memcmp(k, "start:", 6) != 0) {
			rc = -ENOENT;
			break;
		}
		store_count_visits(&st->base, 1);
		pos.started_at = (int64_t)(lmdb_be64_decode(k + 6) ^ (UINT64_C(1) << 63));
		pos.id = (int64_t)lmdb_be64_decode(k + 14);
		if (pos.started_at >= pos.before) {
			rc = -ENOENT; /* oldest first: the rest started later */
			break;
		}
		rc = lmdb_by_start_take(st, txn, b, &pos, &val);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != -ENOENT) {
		b->names.n = 0;
		return rc;
	}
	b->exhausted = rc == -ENOENT;
	b->pos = pos;
	return 0;
}

int lmdb_list_finished_by_start(struct store *s, const struct store_start_walk *w,
				       store_by_start_fn fn, void *ctx)
{
	struct lmdb_store *st = lmdb_of(s);
	struct lmdb_by_start *b;
	int rc = 0;

	if (st->format == 1)
		return store_fail(-EOPNOTSUPP, "lmdb: a store of format 1, opened read-only, "
				  "has no start: keys");
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return store_fail(-ENOMEM, "lmdb: out of memory");
	b->pos = *w;
	while (rc == 0 && !b->exhausted) {
		rc = lmdb_run(st, false, "list by start", lmdb_by_start_step, b);
		for (size_t i = 0; rc == 0 && i < b->names.n; i++)
			rc = fn(ctx, b->names.ids[i], b->names.text + b->names.at[i],
				b->started_at[i]);
	}
	lmdb_trim(st);
	free(b);
	return rc > 0 ? 0 : rc;
}

