/*
 * lmdb_views.c - the LMDB backend's indexes by provenance, which the views
 * by-host/, by-user/, by-tool/ and by-tag/ list (see the layout in
 * lmdb_keys.c): their keys, written by a start and deleted with the
 * execution, the listing of the values in use, and the upgrade that builds
 * them for a store of format 2.
 *
 * A view key is <attr prefix><value>\0<be64 id> (a tag's value is
 * <key>\0<value>): a NUL never occurs in a value, so the keys of one value
 * are contiguous, and values sort by their bytes, shorter first, as memcmp
 * orders them; tags sort by key, then value. A value whose key would pass
 * LMDB_KEY_MAX is not indexed: it is far longer than a file name, which
 * no view could show.
 *
 * Left out: the walks along one value's keys (lmdb_list.c, which takes
 * their prefix from lmdb_prefix_view()).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmdb_internal.h"
#include "record.h"

/* The first bytes of each attr's keys. */
static const char *const lmdb_view_names[STORE_ATTRS] = {
	[STORE_BY_HOST] = "host:",
	[STORE_BY_USER] = "user:",
	[STORE_BY_TOOL] = "tool:",
	[STORE_BY_TAG] = "tag:",
};

/*
 * Sets @b to <attr prefix>@part\0 (a tag: <prefix>@part\0@value\0), the
 * prefix of one value's keys; false when a key with it would be too long.
 */
static bool lmdb_view_prefix(struct lmdb_buf *b, int attr, const char *part, size_t part_len,
			     const char *value)
{
	const char *name = lmdb_view_names[attr];
	size_t value_len = value != NULL ? strlen(value) + 1 : 0;

	if (part_len > LMDB_KEY_MAX || value_len > LMDB_KEY_MAX ||
	    strlen(name) + part_len + 1 + value_len + 8 > LMDB_KEY_MAX)
		return false;
	b->len = 0;
	lmdb_buf_add_str(b, name);
	lmdb_buf_add(b, part, part_len);
	lmdb_buf_add(b, "", 1);
	if (value != NULL)
		lmdb_buf_add(b, value, value_len);
	return true;
}

bool lmdb_prefix_view(struct lmdb_buf *b, int attr, const char *value)
{
	const char *eq;

	if (attr != STORE_BY_TAG)
		return lmdb_view_prefix(b, attr, value, strlen(value), NULL);
	/* "key=value", split at the first '=': a key never holds one. */
	eq = strchr(value, '=');
	return eq != NULL && lmdb_view_prefix(b, attr, value, (size_t)(eq - value), eq + 1);
}

/* Puts (@put) or deletes the key of execution @e under one value of @attr. */
static int lmdb_view_key(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *e,
			 int attr, const char *part, const char *value, bool put)
{
	struct lmdb_buf kb;

	if (part == NULL || !lmdb_view_prefix(&kb, attr, part, strlen(part), value))
		return 0; /* none, or too long to be listed: not indexed */
	lmdb_buf_add_be64(&kb, (uint64_t)e->id);
	return put ? lmdb_put(st, txn, &kb, e->name, e->name_len, 0) : lmdb_del(st, txn, &kb);
}

/* Puts or deletes every view key of @e. */
static int lmdb_views_move(struct lmdb_store *st, struct lmdb_txn *txn,
			   const struct lmdb_entry *e, bool put)
{
	int rc = lmdb_view_key(st, txn, e, STORE_BY_HOST, e->host, NULL, put);

	if (rc == 0)
		rc = lmdb_view_key(st, txn, e, STORE_BY_USER, e->user, NULL, put);
	if (rc == 0)
		rc = lmdb_view_key(st, txn, e, STORE_BY_TOOL, e->tool, NULL, put);
	for (size_t i = 0; rc == 0 && i < e->ntags; i++)
		rc = lmdb_view_key(st, txn, e, STORE_BY_TAG, e->tags[i].key, e->tags[i].value, put);
	return rc;
}

int lmdb_views_put(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *e)
{
	return lmdb_views_move(st, txn, e, true);
}

int lmdb_views_del(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *e)
{
	return lmdb_views_move(st, txn, e, false);
}

int lmdb_views_check(struct lmdb_store *st)
{
	if (st->format < 3)
		return store_fail(-EOPNOTSUPP, "lmdb: a store of format %d, opened read-only, has "
				  "no views by provenance (a writable mount adds them)", st->format);
	return 0;
}

/*
 * The upgrade from format 2 (or 1): the view keys of every execution, from
 * its document and the tool of its args, in the one transaction that then
 * moves the marker. LMDB keeps the walk's cursor in place across the puts.
 */
int lmdb_views_build(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_buf prefix = { 0 };
	uint64_t seen = 0;
	MDB_cursor *cur;
	MDB_val val;
	int64_t id;
	int rc;

	(void)arg;
	lmdb_buf_add_str(&prefix, "id:");
	rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_index_next(txn, cur, &prefix, true, 0, &id, &val); rc == 0;
	     rc = lmdb_index_next(txn, cur, &prefix, false, 0, &id, &val)) {
		struct store_record rec = { 0 };
		struct lmdb_entry e;

		if (++seen % LMDB_TRIM_KEYS == 0)
			lmdb_trim_held(st);
		rc = lmdb_load_indexed(st, txn, &val, &rec);
		if (rc == 0 && store_tool_of(rec.args, &rec.tool) < 0)
			rc = store_fail(-ENOMEM, "lmdb: out of memory");
		if (rc == 0) {
			lmdb_entry_of(&e, &rec, (const char *)val.mv_data + LMDB_TIMES_LEN,
				      val.mv_size - LMDB_TIMES_LEN);
			rc = lmdb_views_put(st, txn, &e);
		}
		store_record_clear(&rec);
		/* A damaged entry or record stays out of the views, as out of every listing. */
		if (rc == -EIO && txn->failed == 0)
			rc = 0;
		if (rc != 0 && rc != -ENOENT)
			break;
	}
	mdb_cursor_close(cur);
	return rc == -ENOENT ? 0 : rc;
}

/* Listing the values in use: one seek per value, however many executions have it. */

struct lmdb_values {
	int attr;
	struct lmdb_buf last; /* the last value's prefix (its keys' bytes up to the id) */
	bool first;           /* no value found yet */
	bool found;           /* the last step found one */
	char value[LMDB_KEY_MAX + 1]; /* what it found, as the caller gets it */
};

/* Copies the value of view key @key (whose prefix is checked) into v, a tag as key=value. */
static int lmdb_values_take(struct lmdb_values *v, const MDB_val *key, size_t name_len)
{
	const char *k = key->mv_data;
	size_t len;

	if (key->mv_size < name_len + 9 || key->mv_size > LMDB_KEY_MAX ||
	    k[key->mv_size - 9] != '\0')
		return store_fail(-EIO, "lmdb: a key of the %s index is damaged",
				  lmdb_view_names[v->attr]);
	len = key->mv_size - name_len - 9; /* the value's bytes, between prefix and \0 id */
	v->last.len = 0;
	lmdb_buf_add(&v->last, k, key->mv_size - 8);
	memcpy(v->value, k + name_len, len);
	v->value[len] = '\0';
	if (v->attr == STORE_BY_TAG) {
		char *nul = memchr(v->value, '\0', len);

		if (nul == NULL)
			return store_fail(-EIO, "lmdb: a key of the tag: index is damaged");
		*nul = '=';
	}
	v->found = true;
	return 0;
}

/* Finds the first value past the last one: its keys end in \0<id>, so none is at or past <last>\1. */
static int lmdb_values_step(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_values *v = arg;
	const char *name = lmdb_view_names[v->attr];
	size_t name_len = strlen(name);
	struct lmdb_buf kb = { 0 };
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	v->found = false;
	if (v->first) {
		lmdb_buf_add_str(&kb, name);
	} else {
		kb = v->last;
		kb.data[kb.len - 1] = '\1';
	}
	rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	key = lmdb_val(&kb);
	rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_SET_RANGE);
	if (rc == 0 && (key.mv_size < name_len || memcmp(key.mv_data, name, name_len) != 0))
		rc = -ENOENT;
	if (rc == 0) {
		store_count_visits(&st->base, 1);
		rc = lmdb_values_take(v, &key, name_len);
	}
	mdb_cursor_close(cur);
	return rc == -ENOENT ? 0 : rc;
}

int lmdb_list_values(struct store *s, enum store_attr attr, store_value_fn fn, void *ctx)
{
	struct lmdb_store *st = lmdb_of(s);
	struct lmdb_values *v;
	int rc = lmdb_views_check(st);

	if (rc != 0)
		return rc;
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return store_fail(-ENOMEM, "lmdb: out of memory");
	v->attr = attr;
	v->first = true;
	for (;;) {
		rc = lmdb_run(st, false, "list values", lmdb_values_step, v);
		if (rc != 0 || !v->found)
			break;
		v->first = false;
		rc = fn(ctx, v->value);
		if (rc != 0)
			break;
	}
	free(v);
	return rc > 0 ? 0 : rc;
}
