/*
 * test_lmdb.c - what only the LMDB backend has: its on-disk format and the
 * move of an older store to the current one, checked through LMDB's own API
 * beside the store's. One case per run: test_lmdb CASE.
 *
 * Left out: what every backend does (test_store.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

static char g_db[PATH_MAX];
static const char *g_case;

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: [lmdb %s] check failed: %s; store_reason: \"%s\"\n", \
				__FILE__, __LINE__, g_case, #cond, store_reason());   \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

#define CHECK_EQ(a, e)                                                               \
	do {                                                                         \
		int64_t a_ = (int64_t)(a), e_ = (int64_t)(e);                        \
		if (a_ != e_) {                                                      \
			fprintf(stderr, "%s:%d: [lmdb %s] check failed: %s == %s (got %" PRId64 \
				", expected %" PRId64 "); store_reason: \"%s\"\n", __FILE__, \
				__LINE__, g_case, #a, #e, a_, e_, store_reason());   \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

static struct store *open_lmdb(bool read_only)
{
	struct store_options opts = { .read_only = read_only, .sync = STORE_SYNC_NORMAL };
	struct store *s = NULL;

	CHECK_EQ(store_open("lmdb", g_db, &opts, &s), 0);
	return s;
}

static int open_rc(bool read_only)
{
	struct store_options opts = { .read_only = read_only, .sync = STORE_SYNC_NORMAL };
	struct store *s = NULL;
	int rc = store_open("lmdb", g_db, &opts, &s);

	store_close(s);
	return rc;
}

/* Starts @name with @args; by @user on @host with one tag @key=@value when given. */
static void start_as(struct store *s, const char *name, const char *args, const char *host,
		     const char *user, const char *key, const char *value)
{
	struct store_record rec = { 0 };
	char tv[] = "", db[] = "";

	rec.host = host ? strdup(host) : NULL;
	rec.user = user ? strdup(user) : NULL;
	if (key != NULL) {
		rec.tags = calloc(1, sizeof(*rec.tags));
		CHECK(rec.tags != NULL);
		rec.tags[0].key = strdup(key);
		rec.tags[0].value = strdup(value);
		rec.ntags = 1;
	}
	rec.execution_id = strdup(name);
	rec.args = strdup(args);
	rec.tool_version = strdup(tv);
	rec.db_path = strdup(db);
	rec.uid = rec.pid = STORE_NULL;
	rec.started_ms = INT64_C(1767225600000);
	CHECK(rec.execution_id && rec.args && rec.tool_version && rec.db_path);
	CHECK_EQ(store_start(s, &rec), 0);
	store_record_clear(&rec);
}

static void start(struct store *s, const char *name, const char *args)
{
	start_as(s, name, args, NULL, NULL, NULL, NULL);
}

/* ---- raw LMDB: the store as an older build left it ----------------------- */

static void raw_open(MDB_env **env, MDB_txn **txn, MDB_dbi *dbi)
{
	CHECK_EQ(mdb_env_create(env), 0);
	CHECK_EQ(mdb_env_set_mapsize(*env, (size_t)64 << 20), 0);
	CHECK_EQ(mdb_env_open(*env, g_db, 0, 0644), 0);
	CHECK_EQ(mdb_txn_begin(*env, NULL, 0, txn), 0);
	CHECK_EQ(mdb_dbi_open(*txn, NULL, 0, dbi), 0);
}

/* Sets meta:format to @marker. */
static void raw_set_format(const char *marker)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 11, (void *)"meta:format" }, v = { strlen(marker), (void *)marker };

	raw_open(&env, &txn, &dbi);
	CHECK_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
	CHECK_EQ(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Puts @json as the document of execution @name, as an older build wrote it. */
static void raw_put_record(const char *name, const char *json)
{
	char key[64];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 0, key }, v = { strlen(json), (void *)json };

	k.mv_size = (size_t)snprintf(key, sizeof(key), "execlog:%s", name);
	raw_open(&env, &txn, &dbi);
	CHECK_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
	CHECK_EQ(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Whether @key begins with one of the view indexes' prefixes. */
static bool is_view_key(const MDB_val *key)
{
	static const char *const prefixes[] = { "host:", "user:", "tool:", "tag:" };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (key->mv_size >= strlen(prefixes[i]) &&
		    memcmp(key->mv_data, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/* Rewrites the store with the keys @drop picks deleted and @marker as its format; the keys dropped. */
static int raw_as_format(const char *marker, bool (*drop)(const MDB_val *key))
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	int dropped = 0, rc;

	raw_open(&env, &txn, &dbi);
	CHECK_EQ(mdb_cursor_open(txn, dbi, &cur), 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (drop(&k)) {
			CHECK_EQ(mdb_cursor_del(cur, 0), 0);
			dropped++;
		}
	}
	CHECK_EQ(rc, MDB_NOTFOUND);
	mdb_cursor_close(cur);
	CHECK_EQ(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	raw_set_format(marker);
	return dropped;
}

/* The store as format 2 left it: no view keys. */
static int raw_as_format_2(void)
{
	return raw_as_format("execlogfs-lmdb 2", is_view_key);
}

/* The marker the store holds now, into @buf. */
static void raw_format(char *buf, size_t size)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 11, (void *)"meta:format" }, v;

	raw_open(&env, &txn, &dbi);
	CHECK_EQ(mdb_get(txn, dbi, &k, &v), 0);
	CHECK(v.mv_size < size);
	memcpy(buf, v.mv_data, v.mv_size);
	buf[v.mv_size] = '\0';
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* ---- views -------------------------------------------------------------- */

struct seen {
	size_t n;
	char text[1024]; /* each value or name, then ' ' */
};

static int seen_value(void *ctx, const char *value)
{
	struct seen *sn = ctx;
	size_t used = strlen(sn->text);

	CHECK(used + strlen(value) + 2 < sizeof(sn->text));
	sprintf(sn->text + used, "%s ", value);
	sn->n++;
	return 0;
}

static int seen_name(void *ctx, int64_t id, const char *name)
{
	(void)id;
	return seen_value(ctx, name);
}

/* The values of @attr, as "v1 v2 ", or "error <errno>". */
static const char *values(struct store *s, enum store_attr attr, struct seen *sn)
{
	int rc;

	memset(sn, 0, sizeof(*sn));
	rc = store_list_values(s, attr, seen_value, sn);
	if (rc != 0)
		snprintf(sn->text, sizeof(sn->text), "error %d", -rc);
	return sn->text;
}

/* The names in view @attr=@value, as "a b ", or "error <errno>". */
static const char *view(struct store *s, enum store_attr attr, const char *value,
			struct seen *sn)
{
	struct store_filter f = { .outcome = -1, .day = -1, .attr = attr, .value = value };
	int rc;

	memset(sn, 0, sizeof(*sn));
	rc = store_list_names(s, &f, -1, seen_name, sn);
	if (rc != 0)
		snprintf(sn->text, sizeof(sn->text), "error %d", -rc);
	return sn->text;
}

#define CHECK_TEXT(got, want)                                                        \
	do {                                                                         \
		const char *g_ = (got);                                              \
		if (strcmp(g_, (want)) != 0) {                                       \
			fprintf(stderr, "%s:%d: [lmdb %s] check failed: %s is \"%s\", expected \"%s\"" \
				"; store_reason: \"%s\"\n", __FILE__, __LINE__, g_case, #got, \
				g_, (want), store_reason());                        \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

/*
 * A store of format 2 (no view keys) is read as it is by a read-only open,
 * which refuses the views rather than list them wrong, and moved to this
 * format by the first writable open, which makes the view keys of every
 * record.
 */
static void case_format_upgrade(void)
{
	struct store *s = open_lmdb(false);
	struct store_record got = { 0 };
	struct seen sn;
	char marker[64];

	start_as(s, "a", "[\"/usr/bin/make\",\"-j\"]", "h1", "alice", "team", "infra");
	start(s, "b", "[\"cc\"]");
	start_as(s, "c", "[]", "h2", "bob", NULL, NULL);
	CHECK_TEXT(values(s, STORE_BY_TOOL, &sn), "cc make ");
	store_close(s);
	/* a's tag is in its record alone: the first tag keys come with the 64th start. */
	CHECK_EQ(raw_as_format_2(), 2 + 2 + 2);
	/* b as format 2 stored it: magellan's fourteen fields alone. */
	raw_put_record("b", "{\"id\":2,\"execution_id\":\"b\",\"tool_version\":\"\","
		       "\"args\":[\"cc\"],\"root\":null,\"db_path\":\"\",\"started_at\":1767225600,"
		       "\"finished_at\":null,\"duration_ms\":null,\"outcome\":\"running\","
		       "\"error_message\":null,\"files_indexed\":0,\"symbols_indexed\":0,"
		       "\"references_indexed\":0}");

	s = open_lmdb(true);
	CHECK_EQ(store_get(s, "a", &got), 0);
	CHECK_TEXT(values(s, STORE_BY_TOOL, &sn), "error 95");
	CHECK_TEXT(view(s, STORE_BY_TOOL, "make", &sn), "error 95");
	CHECK_TEXT(values(s, STORE_BY_HOST, &sn), "error 95");
	CHECK_TEXT(view(s, STORE_ATTR_NONE, NULL, &sn), "a b c ");
	store_close(s);
	raw_format(marker, sizeof(marker));
	CHECK_TEXT(marker, "execlogfs-lmdb 2");

	s = open_lmdb(false);
	CHECK_TEXT(values(s, STORE_BY_TOOL, &sn), "cc make ");
	CHECK_TEXT(view(s, STORE_BY_TOOL, "make", &sn), "a ");
	CHECK_TEXT(view(s, STORE_BY_TOOL, "cc", &sn), "b ");
	CHECK_TEXT(values(s, STORE_BY_HOST, &sn), "h1 h2 ");
	CHECK_TEXT(values(s, STORE_BY_USER, &sn), "alice bob ");
	CHECK_TEXT(values(s, STORE_BY_TAG, &sn), "team=infra ");
	CHECK_TEXT(view(s, STORE_BY_HOST, "h2", &sn), "c ");
	CHECK_TEXT(view(s, STORE_BY_TAG, "team=infra", &sn), "a ");
	CHECK_EQ(store_get(s, "b", &got), 0);
	CHECK(got.host == NULL && got.ntags == 0 && got.exit_code == STORE_NULL);
	store_close(s);
	raw_format(marker, sizeof(marker));
	CHECK_TEXT(marker, "execlogfs-lmdb 4");

	/* A format this build does not know (a newer one) is refused untouched. */
	raw_set_format("execlogfs-lmdb 5");
	CHECK_EQ(open_rc(false), -EMEDIUMTYPE);
	CHECK_EQ(open_rc(true), -EMEDIUMTYPE);
	raw_format(marker, sizeof(marker));
	CHECK_TEXT(marker, "execlogfs-lmdb 5");
	store_record_clear(&got);
}

/* ---- tag keys in batches ------------------------------------------------ */

/* How many tag: keys the store holds. */
static int raw_tag_keys(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k = { 4, (void *)"tag:" }, v;
	int n = 0, rc;

	raw_open(&env, &txn, &dbi);
	CHECK_EQ(mdb_cursor_open(txn, dbi, &cur), 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && k.mv_size >= 4 && memcmp(k.mv_data, "tag:", 4) == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		n++;
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return n;
}

/* Deletes meta:tagmark, as a store main's first format 3 made (tag keys for every run) has none. */
static void raw_drop_tagmark(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 12, (void *)"meta:tagmark" };

	raw_open(&env, &txn, &dbi);
	CHECK_EQ(mdb_del(txn, dbi, &k, NULL), 0);
	CHECK_EQ(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* Finishes execution @name (a running one is not deleted), then deletes it. */
static void finish_delete(struct store *s, const char *name)
{
	struct store_finish fin = { .outcome = STORE_SUCCESS, .exit_code = STORE_NULL,
				    .signal = STORE_NULL };

	CHECK_EQ(store_finish(s, name, &fin, INT64_C(1767225601000)), 0);
	CHECK_EQ(store_delete(s, name), 0);
}

static uint64_t tag_count(struct store *s, const char *value)
{
	struct store_filter f = { .outcome = -1, .day = -1, .attr = STORE_BY_TAG, .value = value };
	uint64_t n = 0;

	CHECK_EQ(store_count(s, &f, &n), 0);
	return n;
}

/*
 * A start writes no tag keys until the 64th start past the mark writes
 * those of the runs between: by-tag shows a run from its start all the
 * same, once, in order, and not after its delete, in both states.
 */
static void case_tag_batch(void)
{
	struct store *s = open_lmdb(false);
	struct seen sn;
	char name[16];

	start_as(s, "a", "[]", NULL, NULL, "k", "v"); /* id 1 */
	start_as(s, "b", "[]", NULL, NULL, "k", "v"); /* id 2 */
	CHECK_TEXT(view(s, STORE_BY_TAG, "k=v", &sn), "a b ");
	CHECK_TEXT(values(s, STORE_BY_TAG, &sn), "k=v ");
	CHECK_EQ(tag_count(s, "k=v"), 2);
	finish_delete(s, "b"); /* after the mark: in its record alone */
	CHECK_TEXT(view(s, STORE_BY_TAG, "k=v", &sn), "a ");
	CHECK_EQ(tag_count(s, "k=v"), 1);
	store_close(s);
	CHECK_EQ(raw_tag_keys(), 0);

	s = open_lmdb(false);
	for (int i = 3; i <= 64; i++) { /* id 64 writes the batch */
		snprintf(name, sizeof(name), "r%d", i);
		start(s, name, "[]");
	}
	store_close(s);
	CHECK_EQ(raw_tag_keys(), 1);
	/* A store without a mark has tag keys up to meta:seq (main's format 3). */
	raw_drop_tagmark();

	s = open_lmdb(true);
	CHECK_TEXT(view(s, STORE_BY_TAG, "k=v", &sn), "a ");
	store_close(s);
	s = open_lmdb(false);
	CHECK_TEXT(view(s, STORE_BY_TAG, "k=v", &sn), "a ");
	start_as(s, "c", "[]", NULL, NULL, "k", "v"); /* id 65: after the mark again */
	start_as(s, "d", "[]", NULL, NULL, "j", "1");
	CHECK_TEXT(view(s, STORE_BY_TAG, "k=v", &sn), "a c ");
	CHECK_TEXT(values(s, STORE_BY_TAG, &sn), "j=1 k=v ");
	CHECK_EQ(tag_count(s, "k=v"), 2);
	finish_delete(s, "a"); /* in the keys */
	CHECK_TEXT(view(s, STORE_BY_TAG, "k=v", &sn), "c ");
	finish_delete(s, "c");
	CHECK_TEXT(view(s, STORE_BY_TAG, "k=v", &sn), "");
	CHECK_TEXT(values(s, STORE_BY_TAG, &sn), "j=1 ");
	CHECK_EQ(tag_count(s, "k=v"), 0);
	store_close(s);
	CHECK_EQ(raw_tag_keys(), 0);
}

/* ---- output ------------------------------------------------------------- */

static int64_t id_of(struct store *s, const char *name)
{
	struct store_record rec = { 0 };
	int64_t id;

	CHECK_EQ(store_get(s, name, &rec), 0);
	id = rec.id;
	store_record_clear(&rec);
	return id;
}

static int64_t output_bytes_of(struct store *s, const char *name)
{
	struct store_record rec = { 0 };
	int64_t n;

	CHECK_EQ(store_get(s, name, &rec), 0);
	n = rec.output_bytes;
	store_record_clear(&rec);
	return n;
}

/* The keys of @id's output: out: pieces and the outlen: key. */
static int raw_output_keys(int64_t id)
{
	static const char *const prefixes[] = { "out:", "outlen:" };
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	int n = 0;

	raw_open(&env, &txn, &dbi);
	CHECK_EQ(mdb_cursor_open(txn, dbi, &cur), 0);
	for (size_t p = 0; p < 2; p++) {
		char key[16];
		size_t len = strlen(prefixes[p]);
		MDB_val k = { len + 8, key }, v;
		int rc;

		memcpy(key, prefixes[p], len);
		for (int i = 0; i < 8; i++)
			key[len + i] = (char)((uint64_t)id >> (56 - 8 * i));
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		     rc == 0 && k.mv_size >= len + 8 && memcmp(k.mv_data, key, len + 8) == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
			n++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return n;
}

#define CHECK_APPEND(s, id, off, text, max, rc_, written_)                          \
	do {                                                                         \
		size_t w_ = 99;                                                      \
		CHECK_EQ(store_output_append((s), (id), (off), (text), strlen(text), (max), &w_), \
			 (rc_));                                                     \
		CHECK_EQ(w_, (written_));                                            \
	} while (0)

#define CHECK_READ(s, id, off, len, want)                                            \
	do {                                                                         \
		char b_[256] = { 0 };                                                \
		size_t got_ = 99;                                                    \
		CHECK_EQ(store_output_read((s), (id), (off), b_, (len), &got_), 0);  \
		b_[got_] = '\0';                                                     \
		CHECK_TEXT(b_, (want));                                              \
	} while (0)

static int sum_output(void *ctx, const struct store_record *rec)
{
	*(int64_t *)ctx += rec->output_bytes;
	return 0;
}

/*
 * Output: one piece per append, appended only at its end, cut at the cap
 * keeping what fits, read across pieces, its length in every record read,
 * read-only once finished, and deleted, every key of it, with its record.
 */
static void case_output_keys(void)
{
	struct store *s = open_lmdb(false);
	struct store_finish fin = { .outcome = STORE_SUCCESS, .exit_code = 0, .signal = STORE_NULL };
	int64_t a, b, sum = 0;
	size_t got;
	char buf[8];

	start(s, "a", "[\"echo\"]");
	start(s, "b", "[\"echo\"]");
	a = id_of(s, "a");
	b = id_of(s, "b");
	CHECK_READ(s, a, 0, 10, "");
	CHECK_EQ(store_output_cut(s, a), 0);
	CHECK_APPEND(s, a, 0, "hello ", 16, 0, 6);
	CHECK_APPEND(s, a, 3, "x", 16, -EINVAL, 0);
	CHECK_APPEND(s, a, 7, "x", 16, -EINVAL, 0);
	CHECK_APPEND(s, a, 6, "world\n", 16, 0, 6);
	CHECK_APPEND(s, b, 0, "B", 16, 0, 1);
	CHECK_EQ(store_output_cut(s, a), 0);
	CHECK_APPEND(s, a, 12, "0123456789", 16, -EFBIG, 4);
	CHECK_EQ(store_output_cut(s, a), 1);
	CHECK_EQ(store_output_cut(s, b), 0);
	CHECK_APPEND(s, a, 16, "z", 16, -EFBIG, 0);
	CHECK_READ(s, a, 0, 100, "hello world\n0123");
	CHECK_READ(s, a, 4, 5, "o wor");
	CHECK_READ(s, a, 11, 3, "\n01");
	CHECK_READ(s, a, 16, 10, "");
	CHECK_READ(s, a, 1000, 10, "");
	CHECK_READ(s, b, 0, 10, "B");
	CHECK_EQ(store_output_read(s, 9999, 0, buf, sizeof(buf), &got), -ENOENT);
	CHECK_EQ(store_output_cut(s, 9999), -ENOENT);
	CHECK_APPEND(s, 9999, 0, "x", 16, -ENOENT, 0);
	CHECK_EQ(output_bytes_of(s, "a"), 16);
	CHECK_EQ(output_bytes_of(s, "b"), 1);
	CHECK_EQ(store_list(s, NULL, -1, sum_output, &sum), 0);
	CHECK_EQ(sum, 17);
	store_close(s);
	CHECK_EQ(raw_output_keys(a), 3 + 1);

	s = open_lmdb(false);
	CHECK_EQ(store_finish(s, "a", &fin, INT64_C(1767225601000)), 0);
	CHECK_APPEND(s, a, 16, "", 1000, -EPERM, 0);
	CHECK_EQ(output_bytes_of(s, "a"), 16);
	CHECK_READ(s, a, 6, 6, "world\n");
	CHECK_EQ(store_delete(s, "a"), 0);
	CHECK_EQ(store_output_read(s, a, 0, buf, sizeof(buf), &got), -ENOENT);
	CHECK_READ(s, b, 0, 10, "B");
	store_close(s);
	CHECK_EQ(raw_output_keys(a), 0);
	CHECK_EQ(raw_output_keys(b), 2);
}

/* A map at its limit: the append that does not fit is ENOSPC and appends nothing. */
static void case_output_map_full(void)
{
	struct store_options opts = { .sync = STORE_SYNC_NORMAL, .map_max_bytes = 1 << 20 };
	static char chunk[64 * 1024];
	struct store *s = NULL;
	uint64_t total = 0;
	size_t written = 0;
	int64_t a;
	int rc = 0;

	CHECK_EQ(store_open("lmdb", g_db, &opts, &s), 0);
	start(s, "a", "[\"yes\"]");
	a = id_of(s, "a");
	memset(chunk, 'y', sizeof(chunk));
	for (int i = 0; i < 64 && rc == 0; i++) {
		rc = store_output_append(s, a, total, chunk, sizeof(chunk), UINT64_MAX, &written);
		total += written;
	}
	CHECK_EQ(rc, -ENOSPC);
	CHECK_EQ(written, 0);
	CHECK(total > 0);
	CHECK_EQ(output_bytes_of(s, "a"), total);
	CHECK_EQ(store_output_cut(s, a), 0);
	store_close(s);
}

/* ---- counters by outcome and day ---------------------------------------- */

#define TALLY_DAYS 16
#define TALLY_SLOTS (STORE_OUTCOMES + 1) /* the outcomes, then any other */
#define DAY_MS INT64_C(86400000)
/* 2026-01-01, the day of start_as(). */
#define T0_MS INT64_C(1767225600000)

/* Executions by day and outcome slot, as a listing or the cnt: keys tell. */
struct tally {
	size_t ndays;
	int64_t days[TALLY_DAYS];
	uint64_t by_day[TALLY_DAYS][TALLY_SLOTS];
	uint64_t all[TALLY_SLOTS];
};

static size_t tally_day(struct tally *t, int64_t day)
{
	for (size_t i = 0; i < t->ndays; i++)
		if (t->days[i] == day)
			return i;
	CHECK(t->ndays < TALLY_DAYS);
	t->days[t->ndays] = day;
	return t->ndays++;
}

static int tally_record(void *ctx, const struct store_record *rec)
{
	struct tally *t = ctx;
	int o = store_outcome_from_name(rec->outcome);
	int slot = o < 0 ? STORE_OUTCOMES : o;

	t->by_day[tally_day(t, store_day_of(rec->started_at))][slot]++;
	t->all[slot]++;
	return 0;
}

/* What a listing of every execution counts. */
static void tally_listed(struct store *s, struct tally *t)
{
	memset(t, 0, sizeof(*t));
	CHECK_EQ(store_list(s, NULL, -1, tally_record, t), 0);
}

/* What the cnt: keys hold, read through LMDB itself (the store closed). */
static void tally_raw(struct tally *t)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k = { 4, (void *)"cnt:" }, v;
	int rc;

	memset(t, 0, sizeof(*t));
	raw_open(&env, &txn, &dbi);
	CHECK_EQ(mdb_cursor_open(txn, dbi, &cur), 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && k.mv_size >= 4 && memcmp(k.mv_data, "cnt:", 4) == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const unsigned char *key = k.mv_data;
		unsigned char o = key[k.mv_size - 1];
		int slot = o == 0xff ? STORE_OUTCOMES : o;
		uint64_t n = 0;

		CHECK(v.mv_size == 8 && slot <= STORE_OUTCOMES);
		for (int i = 0; i < 8; i++)
			n = n << 8 | ((const unsigned char *)v.mv_data)[i];
		CHECK(n > 0); /* a counter at 0 is no key */
		if (k.mv_size == 9 && memcmp(key, "cnt:all:", 8) == 0) {
			t->all[slot] = n;
		} else {
			uint64_t day = 0;

			CHECK(k.mv_size == 17 && memcmp(key, "cnt:day:", 8) == 0);
			for (int i = 0; i < 8; i++)
				day = day << 8 | key[8 + i];
			t->by_day[tally_day(t, (int64_t)day)][slot] = n;
		}
	}
	CHECK(rc == 0 || rc == MDB_NOTFOUND);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* @got holds what @want does, day by day and in all. */
static void tally_check(const struct tally *got, const struct tally *want)
{
	struct tally g = *got;

	CHECK_EQ(got->ndays, want->ndays);
	for (int slot = 0; slot < TALLY_SLOTS; slot++)
		CHECK_EQ(got->all[slot], want->all[slot]);
	for (size_t i = 0; i < want->ndays; i++) {
		size_t j = tally_day(&g, want->days[i]);

		CHECK(j < want->ndays); /* the day is in both */
		for (int slot = 0; slot < TALLY_SLOTS; slot++)
			CHECK_EQ(g.by_day[j][slot], want->by_day[i][slot]);
	}
}

/* Every count without an attr that store.h offers agrees with @t; returns how many it asked. */
static int counts_check(struct store *s, const struct tally *t)
{
	struct store_filter f = { .outcome = -1, .day = -1 };
	uint64_t n, total = 0, counts[STORE_OUTCOMES];
	int asked = 2 + STORE_OUTCOMES;

	for (int slot = 0; slot < TALLY_SLOTS; slot++)
		total += t->all[slot];
	CHECK_EQ(store_count(s, &f, &n), 0);
	CHECK_EQ(n, total);
	CHECK_EQ(store_count_outcomes(s, &f, counts), 0);
	for (f.outcome = 0; f.outcome < STORE_OUTCOMES; f.outcome++) {
		CHECK_EQ(store_count(s, &f, &n), 0);
		CHECK_EQ(n, t->all[f.outcome]);
		CHECK_EQ(counts[f.outcome], t->all[f.outcome]);
	}
	for (size_t i = 0; i <= t->ndays; i++) {
		/* Each day of the tally, and one without runs. */
		f.day = i < t->ndays ? t->days[i] : store_day_of(T0_MS / 1000) + 100;
		if (f.day < 0 || f.day >= STORE_DAY_END)
			continue; /* no filter names it; the totals count it */
		total = 0;
		for (int slot = 0; i < t->ndays && slot < TALLY_SLOTS; slot++)
			total += t->by_day[i][slot];
		f.outcome = -1;
		CHECK_EQ(store_count(s, &f, &n), 0);
		CHECK_EQ(n, total);
		CHECK_EQ(store_count_outcomes(s, &f, counts), 0);
		for (f.outcome = 0; f.outcome < STORE_OUTCOMES; f.outcome++) {
			uint64_t want = i < t->ndays ? t->by_day[i][f.outcome] : 0;

			CHECK_EQ(store_count(s, &f, &n), 0);
			CHECK_EQ(n, want);
			CHECK_EQ(counts[f.outcome], want);
		}
		asked += 2 + STORE_OUTCOMES;
	}
	return asked;
}

/* Starts @name at @started_ms. */
static void start_at(struct store *s, const char *name, int64_t started_ms)
{
	struct store_record rec = { 0 };

	rec.execution_id = strdup(name);
	rec.args = strdup("[\"make\"]");
	rec.tool_version = strdup("");
	rec.db_path = strdup("");
	rec.uid = rec.pid = STORE_NULL;
	rec.started_ms = started_ms;
	CHECK(rec.execution_id && rec.args && rec.tool_version && rec.db_path);
	CHECK_EQ(store_start(s, &rec), 0);
	store_record_clear(&rec);
}

static void finish_as(struct store *s, const char *name, enum store_outcome outcome, int64_t now_ms)
{
	struct store_finish fin = { .outcome = outcome, .exit_code = STORE_NULL,
				    .signal = STORE_NULL };

	CHECK_EQ(store_finish(s, name, &fin, now_ms), 0);
}

/*
 * Run @i of writer @w: started on one of six days (one before 1970, whose
 * day: and cnt:day: keys sort last), then left running (1 in 5), or
 * finished success, error or partial, and of those 1 in 4 deleted.
 */
static void mix_one(struct store *s, int w, int i)
{
	static const enum store_outcome ends[] = { STORE_SUCCESS, STORE_ERROR, STORE_PARTIAL };
	int64_t started_ms = i % 6 == 5 ? -DAY_MS + 5000 : T0_MS + (i % 6) * DAY_MS + w;
	char name[32];

	snprintf(name, sizeof(name), "w%d-%d", w, i);
	start_at(s, name, started_ms);
	if (i % 5 == 4)
		return;
	CHECK_EQ(store_heartbeat(s, name, started_ms + 500), 0);
	finish_as(s, name, ends[(i / 5) % 3], started_ms + 1000);
	if (i % 4 == 1)
		CHECK_EQ(store_delete(s, name), 0);
}

struct mixer {
	struct store *s;
	int w, n;
};

static void *mixer_run(void *arg)
{
	struct mixer *m = arg;

	for (int i = 0; i < m->n; i++)
		mix_one(m->s, m->w, i);
	return NULL;
}

/* @writers threads each run mix_one() @n times on @s. */
static void mix(struct store *s, int writers, int n)
{
	pthread_t th[8];
	struct mixer m[8];

	CHECK(writers <= 8);
	for (int w = 0; w < writers; w++) {
		m[w] = (struct mixer){ .s = s, .w = w, .n = n };
		CHECK_EQ(pthread_create(&th[w], NULL, mixer_run, &m[w]), 0);
	}
	for (int w = 0; w < writers; w++)
		CHECK_EQ(pthread_join(th[w], NULL), 0);
}

/*
 * After starts, heartbeats, finishes and deletes from several threads
 * (their changes sharing commits), the counters hold what a listing of
 * every execution counts, and every count without an attr agrees.
 */
static void case_counts_concurrent(void)
{
	struct store *s = open_lmdb(false);
	struct tally listed, raw;

	mix(s, 4, 60);
	tally_listed(s, &listed);
	CHECK(listed.ndays == 6 && listed.all[STORE_RUNNING] > 0 && listed.all[STORE_PARTIAL] > 0);
	counts_check(s, &listed);
	/* A running execution is not deleted: nothing moves. */
	CHECK_EQ(store_delete(s, "w0-4"), -EBUSY);
	counts_check(s, &listed);
	store_close(s);
	tally_raw(&raw);
	tally_check(&raw, &listed);
}

static bool is_counter_key(const MDB_val *key)
{
	return key->mv_size >= 4 && memcmp(key->mv_data, "cnt:", 4) == 0;
}

/* The store as format 3 left it: no cnt: keys. */
static int raw_as_format_3(void)
{
	return raw_as_format("execlogfs-lmdb 3", is_counter_key);
}

/* The bytes of data.mdb, malloc'd, and their number. */
static char *data_bytes(size_t *len)
{
	char path[PATH_MAX + 16];
	char *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/data.mdb", g_db);
	f = fopen(path, "rb");
	CHECK(f != NULL);
	CHECK(fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0);
	buf = malloc((size_t)n);
	CHECK(buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Every count without an attr agrees with @t; returns the visits they cost, and in *@asked how many. */
static uint64_t counts_visits(struct store *s, const struct tally *t, int *asked)
{
	uint64_t before = store_visits(s);

	*asked = counts_check(s, t);
	return store_visits(s) - before;
}

/*
 * A store of format 3 (no cnt: keys): opened read-only, it counts right by
 * walking the indexes and nothing is written to it; opened writable, it
 * gets the counters of every execution and format 4, and counts from them.
 */
static void case_counts_upgrade(void)
{
	struct store *s = open_lmdb(false);
	struct tally listed, raw;
	size_t len, len2;
	char *before, *after, marker[64];
	int asked;

	mix(s, 2, 30);
	tally_listed(s, &listed);
	store_close(s);
	CHECK(raw_as_format_3() > 0);
	before = data_bytes(&len);

	s = open_lmdb(true);
	CHECK(counts_visits(s, &listed, &asked) > 0);
	store_close(s);
	after = data_bytes(&len2);
	CHECK(len == len2 && memcmp(before, after, len) == 0);
	raw_format(marker, sizeof(marker));
	CHECK_TEXT(marker, "execlogfs-lmdb 3");
	tally_raw(&raw);
	CHECK_EQ(raw.ndays, 0);

	s = open_lmdb(false);
	counts_check(s, &listed);
	store_close(s);
	raw_format(marker, sizeof(marker));
	CHECK_TEXT(marker, "execlogfs-lmdb 4");
	tally_raw(&raw);
	tally_check(&raw, &listed);
	free(before);
	free(after);
}

/*
 * What a count costs: a handful of keys from the counters, where a walk of
 * the same store (format 3, read-only) visits every execution it counts.
 */
static void case_counts_cost(void)
{
	struct store *s = open_lmdb(false);
	struct tally listed;
	uint64_t walk, kept;
	int asked;

	mix(s, 4, 300);
	tally_listed(s, &listed);
	kept = counts_visits(s, &listed, &asked);
	/* At most five keys per count, whatever the size of the log. */
	CHECK(kept <= 5 * (uint64_t)asked);
	store_close(s);
	CHECK(raw_as_format_3() > 0);
	s = open_lmdb(true);
	walk = counts_visits(s, &listed, &asked);
	store_close(s);
	fprintf(stderr, "%d counts: %" PRIu64 " visits from the counters, %" PRIu64
		" walking\n", asked, kept, walk);
	/* The walk sees at least every execution, for the count of all. */
	CHECK(walk >= listed.all[0] + listed.all[1] + listed.all[2] + listed.all[3]);
	CHECK(kept * 10 < walk);
}

/* Whether child @pid has data.mdb mapped (it has opened the store); sets *@gone once it has exited. */
static bool child_mapped(pid_t pid, bool *gone)
{
	char path[64], line[PATH_MAX + 128];
	bool mapped = false;
	int status;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	while (f != NULL && !mapped && fgets(line, sizeof(line), f) != NULL)
		mapped = strstr(line, "/data.mdb") != NULL;
	if (f != NULL)
		fclose(f);
	/* An exited child keeps its /proc entry, without maps, until reaped. */
	if (!mapped)
		*gone = waitpid(pid, &status, WNOHANG) == pid;
	return mapped;
}

/*
 * Kills a child opening the store writable (so upgrading it) as soon as it
 * has mapped the store. Returns whether the upgrade was cut short: the
 * marker is still 3 and no cnt: key was left; else it committed whole.
 */
static bool kill_upgrade(const struct tally *listed)
{
	struct tally raw;
	char marker[64];
	bool gone = false;
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		struct store_options opts = { .sync = STORE_SYNC_NORMAL };
		struct store *s = NULL;

		_exit(store_open("lmdb", g_db, &opts, &s) == 0 ? 0 : 1);
	}
	while (!gone && !child_mapped(pid, &gone))
		;
	if (!gone) {
		kill(pid, SIGKILL);
		CHECK_EQ(waitpid(pid, &status, 0), pid);
	}
	raw_format(marker, sizeof(marker));
	tally_raw(&raw);
	if (strcmp(marker, "execlogfs-lmdb 3") == 0) {
		CHECK_EQ(raw.ndays, 0);
		return true;
	}
	CHECK_TEXT(marker, "execlogfs-lmdb 4");
	tally_check(&raw, listed);
	return false;
}

/*
 * The upgrade is one write transaction: a process killed during it leaves
 * format 3 and no counter (LMDB commits all or nothing), and the next
 * writable open upgrades the store right.
 */
static void case_counts_killed(void)
{
	struct store *s = open_lmdb(false);
	struct tally listed, raw;
	int cut = 0;

	mix(s, 8, 600);
	tally_listed(s, &listed);
	store_close(s);
	for (int attempt = 0; attempt < 5; attempt++) {
		raw_as_format_3();
		cut += kill_upgrade(&listed);
	}
	fprintf(stderr, "%d of 5 upgrades killed before their commit\n", cut);
	CHECK(cut > 0);
	raw_as_format_3();
	s = open_lmdb(false);
	counts_check(s, &listed);
	store_close(s);
	tally_raw(&raw);
	tally_check(&raw, &listed);
}

static const struct {
	const char *name;
	void (*run)(void);
} cases[] = {
	{ "format_upgrade", case_format_upgrade },
	{ "tag_batch", case_tag_batch },
	{ "output_keys", case_output_keys },
	{ "output_map_full", case_output_map_full },
	{ "counts_concurrent", case_counts_concurrent },
	{ "counts_upgrade", case_counts_upgrade },
	{ "counts_cost", case_counts_cost },
	{ "counts_killed", case_counts_killed },
};

int main(int argc, char **argv)
{
	char dir[] = "/tmp/test_lmdb.XXXXXX";
	char cmd[PATH_MAX + 16];
	int status = 2;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CASE\n", argv[0]);
		return 2;
	}
	g_case = argv[1];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(g_db, sizeof(g_db), "%s/db", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].name, g_case) == 0) {
			cases[i].run();
			status = 0;
		}
	}
	if (status != 0)
		fprintf(stderr, "no case %s\n", g_case);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		status = 1;
	return status;
}
