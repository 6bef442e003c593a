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

/* Puts or deletes the host:, user: and tool: keys of @e. */
static int lmdb_views_others(struct lmdb_store *st, struct lmdb_txn *txn,
			     const struct lmdb_entry *e, bool put)
{
	int rc = lmdb_view_key(st, txn, e, STORE_BY_HOST, e->host, NULL, put);

	if (rc == 0)
		rc = lmdb_view_key(st, txn, e, STORE_BY_USER, e->user, NULL, put);
	if (rc == 0)
		rc = lmdb_view_key(st, txn, e, STORE_BY_TOOL, e->tool, NULL, put);
	return rc;
}

/* Puts or deletes the tag: keys of @e. */
static int lmdb_tags_move(struct lmdb_store *st, struct lmdb_txn *txn,
			  const struct lmdb_entry *e, bool put)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < e->ntags; i++)
		rc = lmdb_view_key(st, txn, e, STORE_BY_TAG, e->tags[i].key, e->tags[i].value, put);
	return rc;
}

/*
 * The tag mark. Eight tags are eight keys in eight places of the tree, a
 * dirty page each per commit: a start with tags cost a quarter more than
 * one without (issue 16 allows a fifth). So a start writes none: the tags
 * stay in the record, and once a start's id is LMDB_TAG_BATCH past the mark
 * it writes the tag keys of the runs between (read by their id: keys) and
 * its own in one go, and moves the mark to its id. The views by tag read
 * the keys, then the tags of the at most LMDB_TAG_BATCH - 1 runs after the
 * mark from their records (lmdb_tags_pending()), so a run is in by-tag/
 * from its start. A delete removes tag keys only at or below the mark.
 * A store without a mark (made by a build that wrote every run's tag keys,
 * or just upgraded) has them up to meta:seq: its first start writes one.
 */

static void lmdb_key_tagmark(struct lmdb_buf *b)
{
	b->len = 0;
	lmdb_buf_add_str(b, "meta:tagmark");
}

/* Reads the be64 at @name into @v: 0, -ENOENT, -EIO if damaged, or an error. */
static int lmdb_get_be64(struct lmdb_store *st, struct lmdb_txn *txn, const char *name, int64_t *v)
{
	struct lmdb_buf kb = { 0 };
	MDB_val val;
	int rc;

	lmdb_buf_add_str(&kb, name);
	rc = lmdb_get_key(st, txn, &kb, &val);
	if (rc == 0 && val.mv_size != 8)
		rc = store_fail(-EIO, "lmdb: %s is damaged", name);
	if (rc == 0)
		*v = (int64_t)lmdb_be64_decode(val.mv_data);
	return rc;
}

int lmdb_tagmark_get(struct lmdb_store *st, struct lmdb_txn *txn, int64_t *mark, bool *missing)
{
	int rc = lmdb_get_be64(st, txn, "meta:tagmark", mark);

	*missing = rc == -ENOENT;
	if (*missing)
		rc = lmdb_get_be64(st, txn, "meta:seq", mark);
	if (rc == -ENOENT) {
		*mark = 0; /* an empty store */
		rc = 0;
	}
	if (rc == 0 && *mark < 0)
		rc = store_fail(-EIO, "lmdb: meta:tagmark is damaged");
	return rc;
}

static int lmdb_tagmark_put(struct lmdb_store *st, struct lmdb_txn *txn, int64_t mark)
{
	struct lmdb_buf kb, vb = { 0 };

	lmdb_key_tagmark(&kb);
	lmdb_buf_add_be64(&vb, (uint64_t)mark);
	return lmdb_put(st, txn, &kb, vb.data, vb.len, 0);
}

/* Whether @rec has tag @key (@key_len bytes) = @value; any tag when @key is NULL. */
static bool lmdb_tags_match(const struct store_record *rec, const char *key, size_t key_len,
			    const char *value)
{
	if (key == NULL)
		return rec->ntags > 0;
	for (size_t i = 0; i < rec->ntags; i++)
		if (strlen(rec->tags[i].key) == key_len &&
		    memcmp(rec->tags[i].key, key, key_len) == 0 &&
		    strcmp(rec->tags[i].value, value) == 0)
			return true;
	return false;
}

/*
 * Calls @fn with each run whose id: key lies in [@from, @below) and that
 * matches @key=@value: 0, 1 if @fn stopped, or an error. A damaged entry or
 * record stays out of the views, as out of every listing.
 */
static int lmdb_tags_walk(struct lmdb_store *st, struct lmdb_txn *txn, int64_t from,
			  int64_t below, const char *key, size_t key_len, const char *value,
			  lmdb_pending_fn fn, void *arg)
{
	struct lmdb_buf prefix = { 0 };
	MDB_cursor *cur;
	MDB_val val;
	int64_t id;
	int rc;

	lmdb_buf_add_str(&prefix, "id:");
	rc = lmdb_cursor_open(txn, st->dbi, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_index_next(txn, cur, &prefix, true, from, &id, &val);
	     rc == 0 && id < below;
	     rc = lmdb_index_next(txn, cur, &prefix, false, 0, &id, &val)) {
		struct store_record rec = { 0 };

		store_count_visits(&st->base, 1);
		rc = lmdb_load_indexed(st, txn, &val, &rec);
		if (rc == 0 && lmdb_tags_match(&rec, key, key_len, value))
			rc = fn(arg, id, &val, &rec);
		store_record_clear(&rec);
		if ((rc == -EIO && txn->failed == 0) || rc == -ENOENT)
			rc = 0;
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == -ENOENT ? 0 : rc;
}

int lmdb_tags_pending(struct lmdb_store *st, struct lmdb_txn *txn, int64_t from,
		      const char *key, size_t key_len, const char *value, lmdb_pending_fn fn,
		      void *arg)
{
	bool missing;
	int64_t mark;
	int rc = lmdb_tagmark_get(st, txn, &mark, &missing);

	if (rc != 0 || mark == INT64_MAX)
		return rc;
	return lmdb_tags_walk(st, txn, from > mark ? from : mark + 1, INT64_MAX, key, key_len,
			      value, fn, arg);
}

struct lmdb_tags_batch {
	struct lmdb_store *st;
	struct lmdb_txn *txn;
};

/* Writes the tag keys of one run of a batch. */
static int lmdb_tags_index_one(void *arg, int64_t id, const MDB_val *idval,
			       struct store_record *rec)
{
	struct lmdb_tags_batch *b = arg;
	struct lmdb_entry e;

	(void)id;
	lmdb_entry_of(&e, rec, (const char *)idval->mv_data + LMDB_TIMES_LEN,
		      idval->mv_size - LMDB_TIMES_LEN);
	return lmdb_tags_move(b->st, b->txn, &e, true);
}

/* A start's tag keys: none until its id is a batch past the mark (see above). */
static int lmdb_tags_start(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *e)
{
	struct lmdb_tags_batch both = { st, txn };
	bool missing;
	int64_t mark;
	int rc = lmdb_tagmark_get(st, txn, &mark, &missing);

	if (rc != 0)
		return rc;
	if (missing && mark >= e->id)
		mark = e->id - 1; /* meta:seq moves after the index keys */
	if (e->id <= mark)
		return lmdb_tags_move(st, txn, e, true);
	if (e->id - mark < LMDB_TAG_BATCH)
		return missing ? lmdb_tagmark_put(st, txn, mark) : 0;
	rc = lmdb_tags_walk(st, txn, mark + 1, e->id, NULL, 0, NULL, lmdb_tags_index_one, &both);
	if (rc == 0)
		rc = lmdb_tags_move(st, txn, e, true);
	if (rc == 0)
		rc = lmdb_tagmark_put(st, txn, e->id);
	return rc;
}

int lmdb_views_put(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *e)
{
	int rc = lmdb_views_others(st, txn, e, true);

	return rc == 0 ? lmdb_tags_start(st, txn, e) : rc;
}

int lmdb_views_del(struct lmdb_store *st, struct lmdb_txn *txn, const struct lmdb_entry *e)
{
	int rc = lmdb_views_others(st, txn, e, false);
	bool missing;
	int64_t mark;

	if (rc == 0 && e->ntags > 0)
		rc = lmdb_tagmark_get(st, txn, &mark, &missing);
	if (rc == 0 && e->ntags > 0 && e->id <= mark)
		rc = lmdb_tags_move(st, txn, e, false);
	return rc;
}

int lmdb_views_check(struct lmdb_store *st)
{
	if (st->format < 3)
		return store_fail(-EOPNOTSUPP, "lmdb: a store of format %d, opened read-only, has "
				  "no views by provenance (a writable mount adds them)", st->format);
	return 0;
}

/* Every run has its tag keys now: the mark goes to meta:seq. */
static int lmdb_tagmark_reset(struct lmdb_store *st, struct lmdb_txn *txn)
{
	int64_t seq = 0;
	int rc = lmdb_get_be64(st, txn, "meta:seq", &seq);

	if (rc == -ENOENT)
		rc = 0;
	return rc == 0 ? lmdb_tagmark_put(st, txn, seq) : rc;
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
			rc = lmdb_views_others(st, txn, &e, true);
			if (rc == 0)
				rc = lmdb_tags_move(st, txn, &e, true);
		}
		store_record_clear(&rec);
		/* A damaged entry or record stays out of the views, as out of every listing. */
		if (rc == -EIO && txn->failed == 0)
			rc = 0;
		if (rc != 0 && rc != -ENOENT)
			break;
	}
	mdb_cursor_close(cur);
	if (rc == -ENOENT)
		rc = lmdb_tagmark_reset(st, txn);
	return rc;
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

/* The tag pairs of the runs after the mark, each as its keys hold it: key\0value\0. */
struct lmdb_pairs {
	size_t n, cap;
	struct lmdb_pair {
		char *bytes;
		size_t len;
	} *p;
};

static void lmdb_pairs_clear(struct lmdb_pairs *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->p[i].bytes);
	free(ps->p);
	*ps = (struct lmdb_pairs){ 0 };
}

static int lmdb_pairs_take(void *arg, int64_t id, const MDB_val *idval, struct store_record *rec)
{
	struct lmdb_pairs *ps = arg;
	const size_t skip = strlen(lmdb_view_names[STORE_BY_TAG]);

	(void)id;
	(void)idval;
	for (size_t i = 0; i < rec->ntags; i++) {
		struct lmdb_buf kb;
		struct lmdb_pair *pair;

		if (!lmdb_view_prefix(&kb, STORE_BY_TAG, rec->tags[i].key, strlen(rec->tags[i].key),
				      rec->tags[i].value))
			continue; /* too long to be a key: never listed */
		if (ps->n == ps->cap) {
			size_t cap = ps->cap ? 2 * ps->cap : 64;
			struct lmdb_pair *p = realloc(ps->p, cap * sizeof(*p));

			if (p == NULL)
				return store_fail(-ENOMEM, "lmdb: out of memory");
			ps->p = p;
			ps->cap = cap;
		}
		pair = &ps->p[ps->n];
		pair->len = kb.len - skip;
		pair->bytes = malloc(pair->len);
		if (pair->bytes == NULL)
			return store_fail(-ENOMEM, "lmdb: out of memory");
		memcpy(pair->bytes, kb.data + skip, pair->len);
		ps->n++;
	}
	return 0;
}

/* Orders as the keys do: by bytes, a prefix first. */
static int lmdb_pair_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c != 0 ? c : alen < blen ? -1 : alen > blen;
}

static int lmdb_pair_qsort(const void *a, const void *b)
{
	const struct lmdb_pair *x = a, *y = b;

	return lmdb_pair_cmp(x->bytes, x->len, y->bytes, y->len);
}

static int lmdb_pairs_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_pairs *ps = arg;

	lmdb_pairs_clear(ps); /* a body run again starts afresh */
	return lmdb_tags_pending(st, txn, 0, NULL, 0, NULL, lmdb_pairs_take, ps);
}

/* Hands the pending pairs before the indexed value v found (all, if none) to @fn, once each. */
static int lmdb_pairs_emit(struct lmdb_pairs *ps, size_t *at, const struct lmdb_values *v,
			   store_value_fn fn, void *ctx)
{
	const size_t skip = strlen(lmdb_view_names[STORE_BY_TAG]);
	char value[LMDB_KEY_MAX + 1];
	int rc = 0;

	for (; rc == 0 && *at < ps->n; ++*at) {
		const struct lmdb_pair *p = &ps->p[*at];
		int c = v->found ? lmdb_pair_cmp(p->bytes, p->len, v->last.data + skip,
						 v->last.len - skip) : -1;

		if (c > 0)
			break;
		if (c == 0 || (*at > 0 && lmdb_pair_qsort(p, p - 1) == 0))
			continue; /* the indexed one, or the one before, shows it */
		memcpy(value, p->bytes, p->len); /* key\0value\0 */
		value[strlen(value)] = '=';
		rc = fn(ctx, value);
	}
	return rc;
}

int lmdb_list_values(struct store *s, enum store_attr attr, store_value_fn fn, void *ctx)
{
	struct lmdb_store *st = lmdb_of(s);
	struct lmdb_pairs ps = { 0 };
	struct lmdb_values *v;
	size_t at = 0;
	int rc = lmdb_views_check(st);

	if (rc != 0)
		return rc;
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return store_fail(-ENOMEM, "lmdb: out of memory");
	v->attr = attr;
	v->first = true;
	/* The tags of the runs after the mark, merged in order with the keys' values. */
	if (attr == STORE_BY_TAG)
		rc = lmdb_run(st, false, "list values", lmdb_pairs_body, &ps);
	if (rc == 0 && ps.n > 0)
		qsort(ps.p, ps.n, sizeof(*ps.p), lmdb_pair_qsort);
	while (rc == 0) {
		rc = lmdb_run(st, false, "list values", lmdb_values_step, v);
		if (rc == 0)
			rc = lmdb_pairs_emit(&ps, &at, v, fn, ctx);
		if (rc != 0 || !v->found)
			break;
		v->first = false;
		rc = fn(ctx, v->value);
	}
	lmdb_pairs_clear(&ps);
	free(v);
	return rc > 0 ? 0 : rc;
}
