/*
 * lmdb_counts.c - the LMDB backend's counter keys: how many executions have
 * each outcome, in all and on each day (cnt:all: and cnt:day:, see the
 * layout in lmdb_keys.c). The index API moves them in the transaction of
 * every start, finish and delete, so that a count by outcome and/or day,
 * and the counts by outcome of a day or of all time, read at most five keys
 * whatever the size of the log. The upgrade to format 4 makes them from the
 * outcome: and day: keys, in the transaction that moves the marker.
 *
 * A counter that would be 0 is deleted, so that an absent key is a count
 * of 0 (a new store starts with none) and the keys of a day go when its
 * last run does.
 *
 * Left out: counts by provenance (host, user, tool, tag), which walk their
 * indexes, and the walks a store of an older format, opened read-only,
 * counts with (lmdb_list.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lmdb_internal.h"

/* The outcome byte of a counter: an enum store_outcome, or this for any
 * other string an older document may hold (in the counts of any outcome). */
#define LMDB_COUNT_OTHER 0xff
/* The counters of one day (or all): the four outcomes, then the others. */
#define LMDB_COUNT_SLOTS (STORE_OUTCOMES + 1)
/*
 * The build trims the map (lmdb_trim_held()) every this many day: keys: each
 * also looks up to four outcome: keys elsewhere in the file, and every page
 * fault maps its neighbours, so that LMDB_TRIM_KEYS would let a 1M-run
 * build map 78 MB between trims (33 MB at this interval).
 */
#define LMDB_COUNTS_TRIM_KEYS 1024

static unsigned lmdb_count_slot_byte(int slot)
{
	return slot < STORE_OUTCOMES ? (unsigned)slot : LMDB_COUNT_OTHER;
}

/* The slot @outcome is counted in. */
static int lmdb_count_slot(const char *outcome)
{
	int o = store_outcome_from_name(outcome);

	return o < 0 ? STORE_OUTCOMES : o;
}

/* cnt:all:<outcome byte> when @all, else cnt:day:<be64 day><outcome byte>. */
static void lmdb_key_count(struct lmdb_buf *b, bool all, int64_t day, int slot)
{
	unsigned char o = (unsigned char)lmdb_count_slot_byte(slot);

	b->len = 0;
	if (all) {
		lmdb_buf_add_str(b, "cnt:all:");
	} else {
		lmdb_buf_add_str(b, "cnt:day:");
		/* As the day: keys encode it: days before 1970 sort last. */
		lmdb_buf_add_be64(b, (uint64_t)day);
	}
	lmdb_buf_add(b, &o, 1);
}

/* Reads one counter: an absent key is 0. */
static int lmdb_counter_get(struct lmdb_store *st, struct lmdb_txn *txn,
			    const struct lmdb_buf *kb, uint64_t *n)
{
	MDB_val val;
	int rc = lmdb_get_key(st, txn, kb, &val);

	*n = 0;
	if (rc == -ENOENT)
		return 0;
	if (rc == 0 && val.mv_size != 8)
		rc = store_fail(-EIO, "lmdb: a cnt: key is damaged");
	if (rc == 0)
		*n = lmdb_be64_decode(val.mv_data);
	return rc;
}

/* Writes one counter, deleting it at 0. */
static int lmdb_counter_put(struct lmdb_store *st, struct lmdb_txn *txn,
			    const struct lmdb_buf *kb, uint64_t n)
{
	char v[8];

	if (n == 0)
		return lmdb_del(st, txn, kb);
	lmdb_be64_encode(v, n);
	return lmdb_put(st, txn, kb, v, sizeof(v), 0);
}

/* Adds @sign (1 or -1) to one counter; a counter already at 0 (a damaged
 * store) stays there rather than keep a delete from committing. */
static int lmdb_counter_add(struct lmdb_store *st, struct lmdb_txn *txn,
			    const struct lmdb_buf *kb, int sign)
{
	uint64_t n;
	int rc = lmdb_counter_get(st, txn, kb, &n);

	if (rc == 0 && sign < 0 && n == 0)
		return 0;
	if (rc == 0)
		rc = lmdb_counter_put(st, txn, kb, sign < 0 ? n - 1 : n + 1);
	return rc;
}

int lmdb_counts_move(struct lmdb_store *st, struct lmdb_txn *txn, const char *outcome,
		     int64_t started_at, int sign)
{
	int slot = lmdb_count_slot(outcome);
	struct lmdb_buf kb;
	int rc;

	lmdb_key_count(&kb, true, 0, slot);
	rc = lmdb_counter_add(st, txn, &kb, sign);
	if (rc == 0) {
		lmdb_key_count(&kb, false, store_day_of(started_at), slot);
		rc = lmdb_counter_add(st, txn, &kb, sign);
	}
	return rc;
}

/* Reading. */

struct lmdb_counts_read {
	int64_t day; /* -1: all */
	uint64_t n[LMDB_COUNT_SLOTS];
};

/* Reads the counters of one day, or of all, in one read transaction. */
static int lmdb_counts_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_counts_read *r = arg;
	struct lmdb_buf kb;
	int rc = 0;

	for (int slot = 0; slot < LMDB_COUNT_SLOTS && rc == 0; slot++) {
		lmdb_key_count(&kb, r->day < 0, r->day, slot);
		rc = lmdb_counter_get(st, txn, &kb, &r->n[slot]);
	}
	store_count_visits(&st->base, LMDB_COUNT_SLOTS);
	return rc;
}

bool lmdb_counts_answer(struct lmdb_store *st, const struct store_filter *filter)
{
	return st->format >= 4 && filter->attr == STORE_ATTR_NONE;
}

int lmdb_counts_outcomes(struct lmdb_store *st, int64_t day, uint64_t counts[STORE_OUTCOMES])
{
	struct lmdb_counts_read r = { .day = day };
	int rc = lmdb_run(st, false, "count", lmdb_counts_body, &r);

	if (rc == 0)
		memcpy(counts, r.n, STORE_OUTCOMES * sizeof(counts[0]));
	return rc;
}

int lmdb_counts_get(struct lmdb_store *st, const struct store_filter *filter, uint64_t *count)
{
	struct lmdb_counts_read r = { .day = filter->day };
	int rc = lmdb_run(st, false, "count", lmdb_counts_body, &r);

	*count = 0;
	for (int slot = 0; rc == 0 && slot < LMDB_COUNT_SLOTS; slot++)
		if (filter->outcome < 0 || filter->outcome == slot)
			*count += r.n[slot];
	return rc;
}

/* Building, at the upgrade to format 4. */

/* Deletes every cnt: key, so that a build starts from none. */
static int lmdb_counts_clear(struct lmdb_store *st, struct lmdb_txn *txn)
{
	MDB_cursor *cur;
	MDB_val key, val;
	int rc = lmdb_cursor_open(txn, st->dbi, &cur);

	if (rc != 0)
		return rc;
	/* Each delete is followed by a fresh seek: there are a few per day. */
	while (rc == 0) {
		key = (MDB_val){ .mv_size = 4, .mv_data = (void *)"cnt:" };
		rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_SET_RANGE);
		if (rc == 0 && (key.mv_size < 4 || memcmp(key.mv_data, "cnt:", 4) != 0))
			rc = -ENOENT;
		if (rc == 0)
			rc = lmdb_mdb(txn, mdb_cursor_del(cur, 0));
	}
	mdb_cursor_close(cur);
	return rc == -ENOENT ? 0 : rc;
}

/* The slot of execution @id, from the outcome: keys, most frequent first. */
static int lmdb_counts_slot_of(struct lmdb_store *st, struct lmdb_txn *txn, int64_t id, int *slot)
{
	static const int order[] = { STORE_SUCCESS, STORE_ERROR, STORE_PARTIAL, STORE_RUNNING };
	int rc = -ENOENT;

	*slot = STORE_OUTCOMES;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && rc == -ENOENT; i++) {
		rc = lmdb_has_outcome(st, txn, store_outcome_name(order[i]), id);
		if (rc == 0)
			*slot = order[i];
	}
	return rc == -ENOENT ? 0 : rc;
}

/* Writes the counters of @day (or all) that are not 0, then zeroes @n. */
static int lmdb_counts_flush(struct lmdb_store *st, struct lmdb_txn *txn, bool all, int64_t day,
			     uint64_t n[LMDB_COUNT_SLOTS])
{
	struct lmdb_buf kb;
	int rc = 0;

	for (int slot = 0; slot < LMDB_COUNT_SLOTS && rc == 0; slot++) {
		lmdb_key_count(&kb, all, day, slot);
		if (n[slot] != 0)
			rc = lmdb_counter_put(st, txn, &kb, n[slot]);
		n[slot] = 0;
	}
	return rc;
}

/*
 * One walk of the day: keys, in day order, each execution's outcome found
 * in the outcome: keys (as a walking count finds it): a day's counters are
 * written when the walk leaves it, the totals at the end. New cnt: keys sort
 * before every day: key and LMDB keeps the cursor in place across the puts.
 */
int lmdb_counts_build(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	uint64_t day_n[LMDB_COUNT_SLOTS] = { 0 }, all_n[LMDB_COUNT_SLOTS] = { 0 }, seen = 0;
	MDB_val key = { .mv_size = 4, .mv_data = (void *)"day:" }, val;
	int64_t day = 0;
	bool in_day = false;
	MDB_cursor *cur;
	int rc;

	(void)arg;
	rc = lmdb_counts_clear(st, txn);
	if (rc == 0)
		rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_SET_RANGE);
	     rc == 0 && key.mv_size >= 4 && memcmp(key.mv_data, "day:", 4) == 0;
	     rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_NEXT)) {
		int64_t kday;
		int slot;

		if (++seen % LMDB_COUNTS_TRIM_KEYS == 0)
			lmdb_trim_held(st);
		if (key.mv_size != 4 + 16)
			continue; /* not of the layout: no walk counts it either */
		kday = (int64_t)lmdb_be64_decode((const char *)key.mv_data + 4);
		if (in_day && kday != day)
			rc = lmdb_counts_flush(st, txn, false, day, day_n);
		if (rc == 0)
			rc = lmdb_counts_slot_of(st, txn, (int64_t)lmdb_be64_decode(
							 (const char *)key.mv_data + 12), &slot);
		if (rc != 0)
			break;
		day = kday;
		in_day = true;
		day_n[slot]++;
		all_n[slot]++;
	}
	mdb_cursor_close(cur);
	if (rc == -ENOENT || rc == 0)
		rc = in_day ? lmdb_counts_flush(st, txn, false, day, day_n) : 0;
	if (rc == 0)
		rc = lmdb_counts_flush(st, txn, true, 0, all_n);
	return rc;
}
