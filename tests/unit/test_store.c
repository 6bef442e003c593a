/*
 * test_store.c - the store suite, run against every backend.
 *
 * Usage: test_store BACKEND CASE. tests/meson.build registers every case of
 * store_cases once per built backend, so each case is its own meson test().
 * A case works in its own mkdtemp() directory (under $TMPDIR or /tmp), keeps
 * its store at DIR/db and removes the directory when it exits, also after a
 * failed check. Only the public interface is used: store.h, and record.h for
 * rendering records to compare them whole.
 *
 * It leaves out what needs another user or a full disk (the tests run as
 * root, so permission refusals cannot be provoked), and everything above
 * the store: names, documents and FUSE are tested elsewhere.
 *
 * For postgres, DIR still holds what a case writes to files, and the store
 * is a database of its own, created for the case on the server named by
 * $EXECLOG_PG_CONNINFO (a key=value connection string to a maintenance
 * database, as a role that may create databases), or else on the
 * throw-away server that `$EXECLOG_PG_SERVER conninfo` starts; it is
 * dropped when the case exits. Neither set is a failure, not a skip.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "record.h"
#include "store.h"

/* 2026-01-01T00:00:00Z, in ms and as a UTC day number. */
#define T0_MS INT64_C(1767225600000)
#define DAY0 INT64_C(20454)
#define DAY_MS INT64_C(86400000)
#define HOUR_MS INT64_C(3600000)
#define MIB (1024 * 1024)

static const char *g_backend;
static const char *g_case;

/* Called under stderr's lock (check.h's fail()), so one buffer serves. */
static const char *check_where(void)
{
	static char where[160];

	snprintf(where, sizeof(where), "%s %s", g_backend ? g_backend : "?", g_case ? g_case : "?");
	return where;
}
static char g_dir[PATH_MAX];
static char g_db[PATH_MAX + 8];
static bool g_child; /* a forked child leaves the directory to its parent */
static char *g_pg_admin;  /* postgres: the connection string of the maintenance database */
static char g_pg_name[96]; /* postgres: the case's database */

/* ---- checks ------------------------------------------------------------ */

#define CHECK_STR(actual, expected)                                     \
	do {                                                            \
		const char *a_ = (actual), *e_ = (expected);            \
		if (!str_equal(a_, e_))                                 \
			fail(__FILE__, __LINE__, #actual " == " #expected, \
			     "got %s%s%s, expected %s%s%s",             \
			     a_ ? "\"" : "", a_ ? a_ : "NULL", a_ ? "\"" : "", \
			     e_ ? "\"" : "", e_ ? e_ : "NULL", e_ ? "\"" : ""); \
	} while (0)

static bool str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	CHECK(p != NULL);
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	CHECK(p != NULL);
	return p;
}

static char *xstrdup(const char *s)
{
	char *copy;

	if (s == NULL)
		return NULL;
	copy = strdup(s);
	CHECK(copy != NULL);
	return copy;
}

/* ---- the temporary directory ------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_tmpdir(void)
{
	if (g_dir[0] == '\0' || g_child)
		return;
	if (getenv("EXECLOG_TEST_KEEP")) {
		fprintf(stderr, "keeping %s\n", g_dir);
		return;
	}
	nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	g_dir[0] = '\0';
}

static void make_tmpdir(void)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	CHECK(snprintf(g_dir, sizeof(g_dir), "%s/test_store-%s-%s-XXXXXX", tmp,
		       g_backend, g_case) < (int)sizeof(g_dir));
	if (mkdtemp(g_dir) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", g_dir, strerror(errno));
		g_dir[0] = '\0';
		exit(1);
	}
	atexit(remove_tmpdir);
	snprintf(g_db, sizeof(g_db), "%s/db", g_dir);
}

/* ---- postgres: a database per case ----------------------------------------- */

static bool is_pg(void)
{
	return strcmp(g_backend, "postgres") == 0;
}

/* Runs @sql on the maintenance database through psql; its exit status. */
static int pg_admin_sql(const char *sql)
{
	char *cmd = xasprintf("psql -X -q -v ON_ERROR_STOP=1 -d \"%s\" -c \"%s\" >/dev/null",
			      g_pg_admin, sql);
	int rc = system(cmd);

	free(cmd);
	return rc;
}

/* The connection string of database @name on the server of the maintenance database. */
static char *pg_conninfo_of(const char *name)
{
	return xasprintf("%s dbname=%s", g_pg_admin, name);
}

/* Creates an empty database; its name is execlog_<case>_<pid>_<tag>. */
static char *pg_create_db(const char *tag, char *name, size_t size)
{
	snprintf(name, size, "execlog_%s_%d_%s", g_case, (int)getpid(), tag);
	{
		char *sql = xasprintf("CREATE DATABASE %s", name);

		CHECK_EQ(pg_admin_sql(sql), 0);
		free(sql);
	}
	return pg_conninfo_of(name);
}

static void pg_drop_db(const char *name)
{
	char *sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name);

	pg_admin_sql(sql);
	free(sql);
}

static void pg_drop_case_db(void)
{
	if (g_pg_name[0] == '\0' || g_child)
		return;
	if (getenv("EXECLOG_TEST_KEEP")) {
		fprintf(stderr, "keeping database %s\n", g_pg_name);
		return;
	}
	pg_drop_db(g_pg_name);
	g_pg_name[0] = '\0';
}

/* The server: $EXECLOG_PG_CONNINFO, or the throw-away one of $EXECLOG_PG_SERVER. */
static void pg_find_server(void)
{
	const char *given = getenv("EXECLOG_PG_CONNINFO"), *server = getenv("EXECLOG_PG_SERVER");
	char line[1024] = "";
	FILE *out;

	if (given && given[0]) {
		g_pg_admin = xstrdup(given);
		return;
	}
	if (server == NULL || server[0] == '\0') {
		fprintf(stderr, "postgres: set EXECLOG_PG_CONNINFO or EXECLOG_PG_SERVER\n");
		exit(1);
	}
	{
		char *cmd = xasprintf("'%s' conninfo", server);

		out = popen(cmd, "r");
		free(cmd);
	}
	CHECK(out != NULL);
	if (fgets(line, sizeof(line), out) == NULL)
		line[0] = '\0';
	if (pclose(out) != 0 || line[0] == '\0') {
		fprintf(stderr, "postgres: %s conninfo failed\n", server);
		exit(1);
	}
	line[strcspn(line, "\n")] = '\0';
	g_pg_admin = xstrdup(line);
}

/* The case's store: a fresh database, dropped at exit. */
static void make_pg_db(void)
{
	char *conninfo;

	pg_find_server();
	conninfo = pg_create_db("db", g_pg_name, sizeof(g_pg_name));
	atexit(pg_drop_case_db);
	CHECK(strlen(conninfo) < sizeof(g_db));
	snprintf(g_db, sizeof(g_db), "%s", conninfo);
	free(conninfo);
}

/* DIR/name, malloc'd. */
static char *tmp_path(const char *name)
{
	return xasprintf("%s/%s", g_dir, name);
}

static bool path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, buf, len), (ssize_t)len);
	CHECK_EQ(close(fd), 0);
}

/* ---- a digest of a directory tree, to prove a refusal touched nothing ---- */

static uint64_t fnv1a(uint64_t h, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static uint64_t file_hash(const char *path)
{
	char buf[65536];
	uint64_t h = UINT64_C(14695981039346656037);
	ssize_t n;
	int fd = open(path, O_RDONLY);

	CHECK(fd >= 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		h = fnv1a(h, buf, (size_t)n);
	CHECK(n == 0);
	close(fd);
	return h;
}

static struct {
	char **lines;
	size_t n, cap;
} g_tree;

static int tree_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	char *line;

	(void)ftw;
	if (type == FTW_F)
		line = xasprintf("%s f %lld %016" PRIx64, path, (long long)st->st_size,
				 file_hash(path));
	else
		line = xasprintf("%s %c", path, type == FTW_D ? 'd' : 'o');
	if (g_tree.n == g_tree.cap) {
		g_tree.cap = g_tree.cap ? 2 * g_tree.cap : 16;
		g_tree.lines = xrealloc(g_tree.lines, g_tree.cap * sizeof(*g_tree.lines));
	}
	g_tree.lines[g_tree.n++] = line;
	return 0;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry under @dir with its type, and for files the size and a hash. */
static char *tree_digest(const char *dir)
{
	size_t len = 1;
	char *out;

	g_tree.n = 0;
	CHECK_EQ(nftw(dir, tree_entry, 16, FTW_PHYS), 0);
	qsort(g_tree.lines, g_tree.n, sizeof(*g_tree.lines), compare_strings);
	for (size_t i = 0; i < g_tree.n; i++)
		len += strlen(g_tree.lines[i]) + 1;
	out = xmalloc(len);
	out[0] = '\0';
	for (size_t i = 0; i < g_tree.n; i++) {
		strcat(out, g_tree.lines[i]);
		strcat(out, "\n");
		free(g_tree.lines[i]);
	}
	return out;
}

#define CHECK_TREE_UNCHANGED(before)                                    \
	do {                                                            \
		char *after_ = tree_digest(g_dir);                      \
		if (strcmp(after_, (before)) != 0)                      \
			fail(__FILE__, __LINE__, "directory unchanged", \
			     "before:\n%safter:\n%s", (before), after_); \
		free(after_);                                           \
	} while (0)

/* ---- store helpers ------------------------------------------------------- */

static struct store *open_store_at(const char *backend, const char *path, bool read_only)
{
	struct store_options opts = { .read_only = read_only, .sync = STORE_SYNC_NORMAL };
	struct store *s = NULL;

	CHECK_EQ(store_open(backend, path, &opts, &s), 0);
	CHECK(s != NULL);
	CHECK_STR(store_backend(s), backend);
	return s;
}

static struct store *open_store(void)
{
	return open_store_at(g_backend, g_db, false);
}

static struct store *open_store_sync_full(void)
{
	struct store_options opts = { .read_only = false, .sync = STORE_SYNC_FULL };
	struct store *s = NULL;

	CHECK_EQ(store_open(g_backend, g_db, &opts, &s), 0);
	CHECK(s != NULL);
	return s;
}

static int open_rc(const char *backend, const char *path, bool read_only)
{
	struct store_options opts = { .read_only = read_only, .sync = STORE_SYNC_NORMAL };
	struct store *s = NULL;
	int rc = store_open(backend, path, &opts, &s);

	if (rc == 0) {
		CHECK(s != NULL);
		store_close(s);
	}
	return rc;
}

/* Starts an execution with every field given; returns store_start()'s value. */
static int try_start(struct store *s, const char *name, const char *tool_version,
		     const char *args, const char *root, const char *db_path,
		     int64_t started_ms, struct store_record *out)
{
	struct store_record rec = { 0 };
	int rc;

	rec.execution_id = xstrdup(name);
	rec.tool_version = xstrdup(tool_version);
	rec.args = xstrdup(args);
	rec.root = xstrdup(root);
	rec.db_path = xstrdup(db_path);
	rec.started_ms = started_ms;
	rc = store_start(s, &rec);
	if (out)
		*out = rec;
	else
		store_record_clear(&rec);
	return rc;
}

/* Starts @name with the default document at @started_ms; returns its id. */
static int64_t start_one(struct store *s, const char *name, int64_t started_ms)
{
	struct store_record rec = { 0 };
	int64_t id;

	CHECK_EQ(try_start(s, name, "", "[]", NULL, "", started_ms, &rec), 0);
	CHECK(rec.id > 0);
	id = rec.id;
	store_record_clear(&rec);
	return id;
}

static struct store_finish finish_of(enum store_outcome outcome, const char *message,
				     int64_t files, int64_t symbols, int64_t references)
{
	struct store_finish fin = {
		.outcome = outcome,
		.error_message = message,
		.files_indexed = files,
		.symbols_indexed = symbols,
		.references_indexed = references,
		.exit_code = STORE_NULL,
		.signal = STORE_NULL,
	};
	return fin;
}

static void finish_one(struct store *s, const char *name, enum store_outcome outcome,
		       int64_t now_ms)
{
	struct store_finish fin = finish_of(outcome, NULL, 0, 0, 0);

	CHECK_EQ(store_finish(s, name, &fin, now_ms), 0);
}

/* The whole record as text: its JSON document plus the two hidden fields. */
static char *snapshot_rec(const struct store_record *rec)
{
	size_t len = 0;
	char *json = record_to_json(rec, &len);
	char *out;

	CHECK(json != NULL);
	CHECK_EQ(strlen(json), len);
	out = xasprintf("%sstarted_ms=%" PRId64 "\nheartbeat_ms=%" PRId64 "\n", json,
			rec->started_ms, rec->heartbeat_ms);
	free(json);
	return out;
}

static char *snapshot(struct store *s, const char *name)
{
	struct store_record rec = { 0 };
	char *out;

	CHECK_EQ(store_get(s, name, &rec), 0);
	out = snapshot_rec(&rec);
	store_record_clear(&rec);
	return out;
}

#define CHECK_SNAPSHOT(s, name, expected)                               \
	do {                                                            \
		char *now_ = snapshot((s), (name));                     \
		if (strcmp(now_, (expected)) != 0)                      \
			fail(__FILE__, __LINE__, "record of " #name " unchanged", \
			     "before:\n%snow:\n%s", (expected), now_);  \
		free(now_);                                             \
	} while (0)

/* Checks @rec is a just-started execution with the default document. */
static void check_running(const struct store_record *rec, const char *name, int64_t started_ms)
{
	CHECK(rec->id > 0);
	CHECK_STR(rec->execution_id, name);
	CHECK_STR(rec->outcome, "running");
	CHECK_EQ(rec->started_ms, started_ms);
	CHECK_EQ(rec->started_at, started_ms / 1000);
	CHECK_EQ(rec->finished_at, STORE_NULL);
	CHECK_EQ(rec->duration_ms, STORE_NULL);
	CHECK_STR(rec->error_message, NULL);
	CHECK_EQ(rec->files_indexed, 0);
	CHECK_EQ(rec->symbols_indexed, 0);
	CHECK_EQ(rec->references_indexed, 0);
}

/* ---- listing helpers ----------------------------------------------------- */

struct collect {
	size_t n, cap;
	int64_t *ids;
	char **names;
	char **snaps;      /* filled when want_snaps */
	bool want_snaps;
	size_t stop_after; /* 0: never stop */
	int stop_ret;      /* returned by the stop_after-th call */
};

static int collect_fn(void *ctx, const struct store_record *rec)
{
	struct collect *c = ctx;

	CHECK(rec != NULL);
	CHECK(rec->execution_id != NULL);
	CHECK(rec->outcome != NULL);
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->ids = xrealloc(c->ids, c->cap * sizeof(*c->ids));
		c->names = xrealloc(c->names, c->cap * sizeof(*c->names));
		c->snaps = xrealloc(c->snaps, c->cap * sizeof(*c->snaps));
	}
	c->ids[c->n] = rec->id;
	c->names[c->n] = xstrdup(rec->execution_id);
	c->snaps[c->n] = c->want_snaps ? snapshot_rec(rec) : NULL;
	c->n++;
	if (c->stop_after && c->n == c->stop_after)
		return c->stop_ret;
	return 0;
}

static void collect_reset(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->names[i]);
		free(c->snaps[i]);
	}
	free(c->ids);
	free(c->names);
	free(c->snaps);
	memset(c, 0, sizeof(*c));
}

static int list_into(struct store *s, const struct store_filter *filter, int64_t after_id,
		     struct collect *c)
{
	return store_list(s, filter, after_id, collect_fn, c);
}

static int collect_name_fn(void *ctx, int64_t id, const char *execution_id)
{
	struct store_record rec = { .id = id, .execution_id = (char *)execution_id,
				    .outcome = (char *)"" };

	return collect_fn(ctx, &rec);
}

/* store_list_names() into @c: ids and names only. */
static int list_names_into(struct store *s, const struct store_filter *filter, int64_t after_id,
			   struct collect *c)
{
	return store_list_names(s, filter, after_id, collect_name_fn, c);
}

/* Checks that the listing gave exactly @expected (NULL-terminated), in order. */
#define CHECK_NAMES(c, ...) check_names(__LINE__, (c), (const char *[]){ __VA_ARGS__, NULL })

static void check_names(int line, const struct collect *c, const char *const *expected)
{
	size_t n = 0;

	while (expected[n])
		n++;
	for (size_t i = 0; i < n || i < c->n; i++) {
		const char *got = i < c->n ? c->names[i] : NULL;
		const char *want = i < n ? expected[i] : NULL;

		if (!str_equal(got, want))
			fail(__FILE__, line, "listing as expected",
			     "entry %zu: got %s, expected %s (%zu listed, %zu expected)", i,
			     got ? got : "(end)", want ? want : "(end)", c->n, n);
	}
	for (size_t i = 1; i < c->n; i++)
		if (c->ids[i] <= c->ids[i - 1])
			fail(__FILE__, line, "ids ascending",
			     "entry %zu: id %" PRId64 " after %" PRId64, i, c->ids[i],
			     c->ids[i - 1]);
}

static const struct store_filter *filter_of(struct store_filter *f, int outcome, int64_t day)
{
	*f = (struct store_filter){ .outcome = outcome, .day = day };
	return f;
}

struct days {
	size_t n;
	int64_t day[16];
	size_t stop_after;
	int stop_ret;
};

static int days_fn(void *ctx, int64_t day)
{
	struct days *d = ctx;

	CHECK(d->n < sizeof(d->day) / sizeof(d->day[0]));
	d->day[d->n++] = day;
	if (d->stop_after && d->n == d->stop_after)
		return d->stop_ret;
	return 0;
}

#define CHECK_DAYS(d, ...) check_days(__LINE__, (d), (const int64_t[]){ __VA_ARGS__ }, \
				      sizeof((const int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t))

static void check_days(int line, const struct days *d, const int64_t *expected, size_t n)
{
	if (d->n != n)
		fail(__FILE__, line, "days as expected", "%zu days listed, %zu expected",
		     d->n, n);
	for (size_t i = 0; i < n; i++)
		if (d->day[i] != expected[i])
			fail(__FILE__, line, "days as expected",
			     "day %zu: got %" PRId64 ", expected %" PRId64, i, d->day[i],
			     expected[i]);
}

/* ---- cases ---------------------------------------------------------------- */

/* Strings that survive a JSON round trip unchanged in compact form. */
#define ARGS_FULL "[\"magellan\",\"index\",\"--db\",\"/src/p/.magellan/db.sqlite\",\"with space\",\"quo\\\"te\",\"back\\\\slash\",\"caf\xc3\xa9\"]"

static void case_roundtrip(void)
{
	const int64_t started = T0_MS + 5 * HOUR_MS + 123;
	struct store_record rec = { 0 }, got = { 0 }, by_id = { 0 };
	struct store *s = open_store();
	char *path, *snap;
	int64_t now;

	/* The registry names both backends, and refuses any other name. */
	CHECK(strstr(store_backends(), "sqlite") != NULL);
	CHECK(strstr(store_backends(), "lmdb") != NULL);
	path = tmp_path("nosuch-store");
	CHECK_EQ(open_rc("nosuch", path, false), -EINVAL);
	CHECK(strstr(store_reason(), "sqlite") != NULL);
	CHECK(strstr(store_reason(), "lmdb") != NULL);
	CHECK(!path_exists(path));
	free(path);

	/* A place that does not exist is not made. */
	if (is_pg()) {
		/* A database is the server's to create: one that is missing is refused. */
		path = pg_conninfo_of("execlog_no_such_database");
		CHECK(open_rc(g_backend, path, false) < 0);
		CHECK(strstr(store_reason(), "execlog_no_such_database") != NULL);
		free(path);
		/* A path is no connection string: refused without a server asked. */
		path = tmp_path("no-such-dir/db");
		CHECK(open_rc(g_backend, path, false) < 0);
		free(path);
	} else {
		path = tmp_path("no-such-dir/db");
		CHECK_EQ(open_rc(g_backend, path, false), -ENOENT);
		free(path);
	}
	path = tmp_path("no-such-dir");
	CHECK(!path_exists(path));
	free(path);

	/* Every field given. */
	CHECK_EQ(try_start(s, "magellan-run_1:a@b+c.d", "magellan 1.8.0 \"\xce\xb2\"", ARGS_FULL,
			   "/src/p", "/src/p/.magellan/db.sqlite", started, &rec), 0);
	/* store_start() fills in what the store sets. */
	check_running(&rec, "magellan-run_1:a@b+c.d", started);
	CHECK_EQ(rec.heartbeat_ms, started);

	CHECK_EQ(store_get(s, "magellan-run_1:a@b+c.d", &got), 0);
	check_running(&got, "magellan-run_1:a@b+c.d", started);
	CHECK_EQ(got.id, rec.id);
	CHECK_STR(got.tool_version, "magellan 1.8.0 \"\xce\xb2\"");
	CHECK_STR(got.args, ARGS_FULL);
	CHECK_STR(got.root, "/src/p");
	CHECK_STR(got.db_path, "/src/p/.magellan/db.sqlite");
	CHECK_EQ(got.heartbeat_ms, started);

	CHECK_EQ(store_get_by_id(s, rec.id, &by_id), 0);
	snap = snapshot_rec(&got);
	{
		char *snap_id = snapshot_rec(&by_id);

		CHECK_STR(snap_id, snap);
		free(snap_id);
	}
	free(snap);
	store_record_clear(&rec);
	store_record_clear(&by_id);

	/* The defaults: root null stays null, empty strings stay empty. */
	CHECK_EQ(try_start(s, "defaults", "", "[]", NULL, "", started + 1, NULL), 0);
	CHECK_EQ(store_get(s, "defaults", &got), 0); /* reuses a filled record */
	check_running(&got, "defaults", started + 1);
	CHECK_STR(got.tool_version, "");
	CHECK_STR(got.args, "[]");
	CHECK_STR(got.root, NULL);
	CHECK_STR(got.db_path, "");

	/* An empty root is not null. */
	CHECK_EQ(try_start(s, "empty-root", "", "[]", "", "", started + 2, NULL), 0);
	CHECK_EQ(store_get(s, "empty-root", &got), 0);
	CHECK_STR(got.root, "");

	/* Real time: started_at is the second of started_ms. */
	now = store_now_ms();
	CHECK(now > T0_MS - 365 * DAY_MS && now < T0_MS + 100 * 365 * DAY_MS);
	CHECK_EQ(try_start(s, "now", "v", "[\"a\"]", "/", "d", now, NULL), 0);
	CHECK_EQ(store_get(s, "now", &got), 0);
	check_running(&got, "now", now);
	CHECK_STR(got.args, "[\"a\"]");
	CHECK_STR(got.root, "/");
	CHECK_STR(got.db_path, "d");

	/* The largest a start document allows: a 128-byte name of every allowed
	 * character, and about 1 MiB of args. */
	{
		static const char chars[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@+-";
		char long_name[RECORD_NAME_MAX + 1];
		size_t cap = RECORD_START_MAX - 100, len = 0;
		char *args = xmalloc(cap + 1);

		for (size_t i = 0; i < RECORD_NAME_MAX; i++)
			long_name[i] = chars[i % (sizeof(chars) - 1)];
		long_name[RECORD_NAME_MAX] = '\0';
		args[len++] = '[';
		while (len + 1004 < cap) {
			if (len > 1)
				args[len++] = ',';
			args[len++] = '"';
			for (int i = 0; i < 1000; i++, len++)
				args[len] = (char)('a' + len % 26);
			args[len++] = '"';
		}
		args[len++] = ']';
		args[len] = '\0';
		CHECK_EQ(try_start(s, long_name, "v", args, "/r", "d", started + 3, NULL), 0);
		CHECK_EQ(store_get(s, long_name, &got), 0);
		check_running(&got, long_name, started + 3);
		CHECK_STR(got.args, args);
		CHECK_EQ(store_get_by_id(s, got.id, &got), 0);
		CHECK_STR(got.execution_id, long_name);
		CHECK(strlen(got.args) == len);
		free(args);
	}

	store_record_clear(&got);
	store_close(s);
	store_close(NULL);
}

static void case_duplicate(void)
{
	struct store *s = open_store();
	struct store_finish fin = finish_of(STORE_SUCCESS, NULL, 1, 2, 3);
	struct collect c = { 0 };
	char *before;

	CHECK_EQ(try_start(s, "dup", "a", "[\"x\"]", "/r", "/r/db", T0_MS, NULL), 0);
	before = snapshot(s, "dup");

	CHECK_EQ(try_start(s, "dup", "b", "[\"y\"]", NULL, "", T0_MS + 1000, NULL), -EEXIST);
	CHECK(store_reason()[0] != '\0');
	CHECK_SNAPSHOT(s, "dup", before);
	free(before);

	CHECK_EQ(store_finish(s, "dup", &fin, T0_MS + 500), 0);
	before = snapshot(s, "dup");
	CHECK_EQ(try_start(s, "dup", "c", "[]", NULL, "", T0_MS + 2000, NULL), -EEXIST);
	CHECK_SNAPSHOT(s, "dup", before);
	free(before);

	/* Names are exact bytes: a prefix, an extension or another case are others. */
	start_one(s, "DUP", T0_MS);
	start_one(s, "du", T0_MS);
	start_one(s, "dupe", T0_MS);
	CHECK_EQ(try_start(s, "dupe", "", "[]", NULL, "", T0_MS, NULL), -EEXIST);

	/* The refused starts left nothing behind. */
	CHECK_EQ(list_into(s, NULL, 0, &c), 0);
	CHECK_NAMES(&c, "dup", "DUP", "du", "dupe");
	collect_reset(&c);
	store_close(s);
}

static void check_finished(struct store *s, const char *name, const char *outcome,
			   const char *message, int64_t files, int64_t symbols,
			   int64_t references, int64_t started_ms, int64_t now_ms)
{
	struct store_record rec = { 0 };

	CHECK_EQ(store_get(s, name, &rec), 0);
	CHECK_STR(rec.execution_id, name);
	CHECK_STR(rec.outcome, outcome);
	CHECK_STR(rec.error_message, message);
	CHECK_EQ(rec.files_indexed, files);
	CHECK_EQ(rec.symbols_indexed, symbols);
	CHECK_EQ(rec.references_indexed, references);
	CHECK_EQ(rec.started_ms, started_ms);
	CHECK_EQ(rec.started_at, started_ms / 1000);
	CHECK_EQ(rec.finished_at, now_ms / 1000);
	CHECK_EQ(rec.duration_ms, now_ms - started_ms);
	store_record_clear(&rec);
}

static void case_outcomes(void)
{
	static const char message[] = "boom: line 1\nline 2 \"quoted\" \\ caf\xc3\xa9\t\x01";
	struct store *s = open_store();
	struct store_finish fin;

	/* The outcome names, both ways. */
	CHECK_STR(store_outcome_name(STORE_RUNNING), "running");
	CHECK_STR(store_outcome_name(STORE_SUCCESS), "success");
	CHECK_STR(store_outcome_name(STORE_ERROR), "error");
	CHECK_STR(store_outcome_name(STORE_PARTIAL), "partial");
	CHECK_STR(store_outcome_name(STORE_OUTCOMES), NULL);
	CHECK_STR(store_outcome_name(-1), NULL);
	for (int o = 0; o < STORE_OUTCOMES; o++)
		CHECK_EQ(store_outcome_from_name(store_outcome_name(o)), o);
	CHECK_EQ(store_outcome_from_name("Success"), -1);
	CHECK_EQ(store_outcome_from_name("abandoned"), -1);
	CHECK_EQ(store_outcome_from_name(""), -1);

	start_one(s, "ok", T0_MS + 10);
	start_one(s, "bad", T0_MS + 20);
	start_one(s, "half", T0_MS + 30);
	start_one(s, "bad-nomsg", T0_MS + 40);
	start_one(s, "big", T0_MS + 50);

	fin = finish_of(STORE_SUCCESS, NULL, 10, 200, 3000);
	CHECK_EQ(store_finish(s, "ok", &fin, T0_MS + 1510), 0);
	fin = finish_of(STORE_ERROR, message, 0, 0, 0);
	CHECK_EQ(store_finish(s, "bad", &fin, T0_MS + 60020), 0);
	fin = finish_of(STORE_PARTIAL, "only half", 1, 2, 3);
	CHECK_EQ(store_finish(s, "half", &fin, T0_MS + 30), 0); /* zero duration */
	fin = finish_of(STORE_ERROR, NULL, 0, 0, 7);
	CHECK_EQ(store_finish(s, "bad-nomsg", &fin, T0_MS + 1040), 0);
	/* Counts past 2^31 and 2^32 stay exact. */
	fin = finish_of(STORE_SUCCESS, NULL, INT64_C(3000000000), INT64_C(5000000001),
			INT64_C(1) << 40);
	CHECK_EQ(store_finish(s, "big", &fin, T0_MS + 3 * DAY_MS + 7), 0);

	check_finished(s, "ok", "success", NULL, 10, 200, 3000, T0_MS + 10, T0_MS + 1510);
	check_finished(s, "bad", "error", message, 0, 0, 0, T0_MS + 20, T0_MS + 60020);
	check_finished(s, "half", "partial", "only half", 1, 2, 3, T0_MS + 30, T0_MS + 30);
	check_finished(s, "bad-nomsg", "error", NULL, 0, 0, 7, T0_MS + 40, T0_MS + 1040);
	check_finished(s, "big", "success", NULL, INT64_C(3000000000), INT64_C(5000000001),
		       INT64_C(1) << 40, T0_MS + 50, T0_MS + 3 * DAY_MS + 7);

	/* The longest message a finish value can carry. */
	{
		char *big = xmalloc(RECORD_FINISH_MAX);

		for (size_t i = 0; i < RECORD_FINISH_MAX - 1; i++)
			big[i] = i % 81 == 80 ? '\n' : (char)('A' + i % 26);
		big[RECORD_FINISH_MAX - 1] = '\0';
		start_one(s, "long-message", T0_MS);
		fin = finish_of(STORE_ERROR, big, 0, 0, 0);
		CHECK_EQ(store_finish(s, "long-message", &fin, T0_MS + 1), 0);
		check_finished(s, "long-message", "error", big, 0, 0, 0, T0_MS, T0_MS + 1);
		free(big);
	}

	/* A finish to "running", or with a negative count, is no finish. */
	start_one(s, "still", T0_MS);
	fin = finish_of(STORE_RUNNING, NULL, 0, 0, 0);
	CHECK_EQ(store_finish(s, "still", &fin, T0_MS + 5), -EINVAL);
	fin = finish_of(STORE_SUCCESS, NULL, -1, 0, 0);
	CHECK_EQ(store_finish(s, "still", &fin, T0_MS + 5), -EINVAL);
	{
		struct store_record rec = { 0 };

		CHECK_EQ(store_get(s, "still", &rec), 0);
		check_running(&rec, "still", T0_MS);
		store_record_clear(&rec);
	}
	store_close(s);
}

static void case_finish_twice(void)
{
	struct store *s = open_store();
	struct store_finish fin = finish_of(STORE_SUCCESS, NULL, 1, 2, 3);
	char *before;

	start_one(s, "f", T0_MS);
	CHECK_EQ(store_finish(s, "f", &fin, T0_MS + 100), 0);
	before = snapshot(s, "f");

	fin = finish_of(STORE_ERROR, "again", 4, 5, 6);
	CHECK_EQ(store_finish(s, "f", &fin, T0_MS + 999), -EPERM);
	CHECK(store_reason()[0] != '\0');
	CHECK_SNAPSHOT(s, "f", before);
	fin = finish_of(STORE_SUCCESS, NULL, 1, 2, 3);
	CHECK_EQ(store_finish(s, "f", &fin, T0_MS + 100), -EPERM);
	CHECK_SNAPSHOT(s, "f", before);
	fin = finish_of(STORE_PARTIAL, NULL, 0, 0, 0);
	CHECK_EQ(store_finish(s, "f", &fin, T0_MS + 5000), -EPERM);
	CHECK_SNAPSHOT(s, "f", before);

	free(before);
	store_close(s);
}

static void check_unknown(struct store *s, const char *name)
{
	struct store_finish fin = finish_of(STORE_SUCCESS, NULL, 0, 0, 0);
	struct store_record rec = { 0 };

	CHECK_EQ(store_get(s, name, &rec), -ENOENT);
	CHECK(store_reason()[0] != '\0');
	CHECK_EQ(store_finish(s, name, &fin, T0_MS), -ENOENT);
	CHECK_EQ(store_heartbeat(s, name, T0_MS), -ENOENT);
	CHECK_EQ(store_delete(s, name), -ENOENT);
}

static void case_unknown(void)
{
	struct store *s = open_store();
	struct store_record rec = { 0 };
	int64_t id_ab, id_abd;
	char *before;

	/* An empty store. */
	check_unknown(s, "nope");
	CHECK_EQ(store_get_by_id(s, 1, &rec), -ENOENT);
	CHECK_EQ(store_latest(s, &rec), -ENOENT);

	id_ab = start_one(s, "ab", T0_MS);
	id_abd = start_one(s, "abd", T0_MS + 1);
	finish_one(s, "abd", STORE_SUCCESS, T0_MS + 2);
	before = snapshot(s, "ab");

	/* Neighbours of a name are not the name. */
	check_unknown(s, "a");
	check_unknown(s, "abc");
	check_unknown(s, "AB");
	check_unknown(s, "b");
	check_unknown(s, "ab:");
	check_unknown(s, "aa");

	CHECK_EQ(store_get_by_id(s, id_abd + 1000, &rec), -ENOENT);
	CHECK_EQ(store_get_by_id(s, id_abd + 1, &rec), -ENOENT);
	CHECK_EQ(store_get_by_id(s, INT64_MAX, &rec), -ENOENT);
	CHECK_EQ(store_get_by_id(s, id_ab, &rec), 0);
	CHECK_STR(rec.execution_id, "ab");

	/* A deleted one is unknown, by name and by id. */
	CHECK_EQ(store_delete(s, "abd"), 0);
	check_unknown(s, "abd");
	CHECK_EQ(store_get_by_id(s, id_abd, &rec), -ENOENT);

	CHECK_SNAPSHOT(s, "ab", before);
	free(before);
	store_record_clear(&rec);
	store_close(s);
}

static void case_delete(void)
{
	struct store *s = open_store();
	struct store_record rec = { 0 };
	struct collect c = { 0 };
	int64_t id1, id2, id3, id3b, id1b;
	char *before;

	id1 = start_one(s, "d1", T0_MS);
	id2 = start_one(s, "d2", T0_MS + 1);
	id3 = start_one(s, "d3", T0_MS + 2);
	CHECK(id1 < id2 && id2 < id3);

	/* A running one stays. */
	before = snapshot(s, "d1");
	CHECK_EQ(store_delete(s, "d1"), -EBUSY);
	CHECK(store_reason()[0] != '\0');
	CHECK_SNAPSHOT(s, "d1", before);
	free(before);

	finish_one(s, "d1", STORE_ERROR, T0_MS + 10);
	CHECK_EQ(store_delete(s, "d1"), 0);
	CHECK_EQ(store_get(s, "d1", &rec), -ENOENT);
	CHECK_EQ(store_get_by_id(s, id1, &rec), -ENOENT);
	CHECK_EQ(store_delete(s, "d1"), -ENOENT);
	CHECK_EQ(list_into(s, NULL, 0, &c), 0);
	CHECK_NAMES(&c, "d2", "d3");
	collect_reset(&c);

	/* Deleting the latest does not give its id away again. */
	finish_one(s, "d3", STORE_SUCCESS, T0_MS + 20);
	CHECK_EQ(store_delete(s, "d3"), 0);
	id3b = start_one(s, "d3", T0_MS + 30);
	CHECK(id3b > id3);
	CHECK_EQ(store_get(s, "d3", &rec), 0);
	check_running(&rec, "d3", T0_MS + 30);
	CHECK_EQ(rec.id, id3b);

	/* An old name comes back as the newest. */
	id1b = start_one(s, "d1", T0_MS + 40);
	CHECK(id1b > id3b);
	CHECK_EQ(store_get(s, "d1", &rec), 0);
	check_running(&rec, "d1", T0_MS + 40);
	CHECK_EQ(list_into(s, NULL, 0, &c), 0);
	CHECK_NAMES(&c, "d2", "d3", "d1");
	collect_reset(&c);

	/* Every outcome can be deleted. */
	finish_one(s, "d2", STORE_PARTIAL, T0_MS + 50);
	CHECK_EQ(store_delete(s, "d2"), 0);
	CHECK_EQ(store_get(s, "d2", &rec), -ENOENT);
	CHECK_EQ(store_delete(s, "d3"), -EBUSY);
	CHECK_EQ(store_get(s, "d3", &rec), 0);
	CHECK_EQ(rec.id, id3b);

	store_record_clear(&rec);
	store_close(s);
}

static void case_list_order(void)
{
	struct store *s = open_store();
	struct collect c = { 0 };
	struct store_filter f;
	int64_t ids[10];
	char name[16];

	/* An empty store lists nothing. */
	CHECK_EQ(list_into(s, NULL, 0, &c), 0);
	CHECK_EQ(c.n, 0);

	/* Start times run backwards: the order is by id, not by time. */
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "o-%02d", i);
		ids[i] = start_one(s, name, T0_MS + (10 - i) * HOUR_MS);
		if (i > 0)
			CHECK(ids[i] > ids[i - 1]);
	}
	CHECK_EQ(list_into(s, NULL, 0, &c), 0);
	CHECK_NAMES(&c, "o-00", "o-01", "o-02", "o-03", "o-04", "o-05", "o-06", "o-07",
		    "o-08", "o-09");
	for (int i = 0; i < 10; i++)
		CHECK_EQ(c.ids[i], ids[i]);
	collect_reset(&c);

	/* A filter with nothing set is the same as none. */
	CHECK_EQ(list_into(s, filter_of(&f, -1, -1), 0, &c), 0);
	CHECK_EQ(c.n, 10);
	collect_reset(&c);

	/* After an id: the rest. */
	CHECK_EQ(list_into(s, NULL, ids[3], &c), 0);
	CHECK_NAMES(&c, "o-04", "o-05", "o-06", "o-07", "o-08", "o-09");
	collect_reset(&c);

	/* A positive return stops the walk with 0; resuming gives the rest. */
	c.stop_after = 4;
	c.stop_ret = 1;
	CHECK_EQ(list_into(s, NULL, 0, &c), 0);
	CHECK_NAMES(&c, "o-00", "o-01", "o-02", "o-03");
	c.stop_after = 7; /* three more */
	c.stop_ret = 7;
	CHECK_EQ(list_into(s, NULL, c.ids[c.n - 1], &c), 0);
	CHECK_NAMES(&c, "o-00", "o-01", "o-02", "o-03", "o-04", "o-05", "o-06");
	c.stop_after = 0;
	CHECK_EQ(list_into(s, NULL, c.ids[c.n - 1], &c), 0);
	CHECK_NAMES(&c, "o-00", "o-01", "o-02", "o-03", "o-04", "o-05", "o-06", "o-07",
		    "o-08", "o-09");
	collect_reset(&c);

	/* A negative return is the walk's result. */
	c.stop_after = 3;
	c.stop_ret = -ECANCELED;
	CHECK_EQ(list_into(s, NULL, 0, &c), -ECANCELED);
	CHECK_EQ(c.n, 3);
	collect_reset(&c);

	/* Past the end: nothing. */
	CHECK_EQ(list_into(s, NULL, ids[9], &c), 0);
	CHECK_EQ(c.n, 0);
	CHECK_EQ(list_into(s, NULL, ids[9] + 1000, &c), 0);
	CHECK_EQ(c.n, 0);

	/* A deleted one is skipped, finished ones are listed. */
	finish_one(s, "o-04", STORE_SUCCESS, T0_MS + 11 * HOUR_MS);
	finish_one(s, "o-05", STORE_ERROR, T0_MS + 11 * HOUR_MS);
	CHECK_EQ(store_delete(s, "o-04"), 0);
	CHECK_EQ(list_into(s, NULL, ids[2], &c), 0);
	CHECK_NAMES(&c, "o-03", "o-05", "o-06", "o-07", "o-08", "o-09");
	collect_reset(&c);
	/* Resuming after the deleted one's id still works. */
	CHECK_EQ(list_into(s, NULL, ids[4], &c), 0);
	CHECK_NAMES(&c, "o-05", "o-06", "o-07", "o-08", "o-09");
	collect_reset(&c);
	store_close(s);
}

/* store_count() of @f, which must equal what a listing of @f yields. */
static uint64_t count_checked(struct store *s, const struct store_filter *f)
{
	struct collect c = { 0 };
	uint64_t n = UINT64_MAX;

	CHECK_EQ(store_count(s, f, &n), 0);
	CHECK_EQ(list_into(s, f, 0, &c), 0);
	CHECK_EQ(n, (uint64_t)c.n);
	collect_reset(&c);
	return n;
}

static void case_count(void)
{
	struct store *s = open_store();
	struct store_filter f;
	uint64_t n;

	CHECK_EQ(count_checked(s, NULL), 0);
	CHECK_EQ(count_checked(s, filter_of(&f, STORE_RUNNING, -1)), 0);
	start_one(s, "c1", T0_MS);
	start_one(s, "c2", T0_MS + DAY_MS - 1);
	start_one(s, "c3", T0_MS + DAY_MS);
	start_one(s, "c4", T0_MS - 1);
	finish_one(s, "c2", STORE_SUCCESS, T0_MS + 2 * DAY_MS);
	finish_one(s, "c3", STORE_ERROR, T0_MS + 2 * DAY_MS);
	CHECK_EQ(count_checked(s, NULL), 4);
	CHECK_EQ(count_checked(s, filter_of(&f, STORE_RUNNING, -1)), 2);
	CHECK_EQ(count_checked(s, filter_of(&f, STORE_SUCCESS, -1)), 1);
	CHECK_EQ(count_checked(s, filter_of(&f, STORE_PARTIAL, -1)), 0);
	CHECK_EQ(count_checked(s, filter_of(&f, -1, DAY0)), 2);
	CHECK_EQ(count_checked(s, filter_of(&f, -1, DAY0 - 1)), 1);
	CHECK_EQ(count_checked(s, filter_of(&f, STORE_SUCCESS, DAY0)), 1);
	CHECK_EQ(count_checked(s, filter_of(&f, STORE_ERROR, DAY0)), 0);
	CHECK_EQ(store_delete(s, "c2"), 0);
	CHECK_EQ(count_checked(s, NULL), 3);
	CHECK_EQ(count_checked(s, filter_of(&f, STORE_SUCCESS, -1)), 0);
	CHECK_EQ(count_checked(s, filter_of(&f, -1, DAY0)), 1);
	/* By outcome in one call, for a day and for all, as the counts say. */
	for (int64_t day = -2; day <= 1; day++) {
		uint64_t by[STORE_OUTCOMES];
		int64_t d = day == -2 ? -1 : DAY0 + day;

		CHECK_EQ(store_count_outcomes(s, filter_of(&f, STORE_SUCCESS, d), by), 0);
		for (int o = 0; o < STORE_OUTCOMES; o++)
			CHECK_EQ(by[o], count_checked(s, filter_of(&f, o, d)));
	}
	/* An outcome out of range is refused, not counted. */
	CHECK_EQ(store_count(s, filter_of(&f, STORE_OUTCOMES, -1), &n), -EINVAL);
	store_close(s);
}

/*
 * list_recent: the n greatest ids, descending, whatever was deleted in
 * between; a callback may stop it early.
 */
static void case_list_recent(void)
{
	struct store *s = open_store();
	struct collect c = { 0 };
	int64_t ids[10];
	char name[16];

	CHECK_EQ(store_list_recent(s, 5, collect_fn, &c), 0);
	CHECK_EQ(c.n, 0);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		ids[i] = start_one(s, name, T0_MS + i);
	}
	finish_one(s, "r8", STORE_SUCCESS, T0_MS + 100);
	CHECK_EQ(store_delete(s, "r8"), 0);
	CHECK_EQ(store_list_recent(s, 5, collect_fn, &c), 0);
	CHECK_EQ(c.n, 5);
	CHECK_EQ(c.ids[0], ids[9]);
	CHECK_STR(c.names[0], "r9");
	CHECK_EQ(c.ids[1], ids[7]);
	CHECK_EQ(c.ids[4], ids[4]);
	collect_reset(&c);
	CHECK_EQ(store_list_recent(s, 100, collect_fn, &c), 0);
	CHECK_EQ(c.n, 9);
	for (size_t i = 1; i < c.n; i++)
		CHECK(c.ids[i] < c.ids[i - 1]);
	CHECK_EQ(c.ids[8], ids[0]);
	collect_reset(&c);
	c.stop_after = 2;
	c.stop_ret = 1;
	CHECK_EQ(store_list_recent(s, 5, collect_fn, &c), 0);
	CHECK_EQ(c.n, 2);
	collect_reset(&c);
	CHECK_EQ(store_list_recent(s, 0, collect_fn, &c), 0);
	CHECK_EQ(c.n, 0);
	store_close(s);
}

/* The summary @s gives equals @want, field by field. */
static void check_summary(struct store *s, const struct store_summary *want)
{
	struct store_summary got;

	CHECK_EQ(store_summary(s, &got), 0);
	for (int i = 0; i < STORE_DURATION_BUCKETS; i++)
		CHECK_EQ(got.finished[i], want->finished[i]);
	CHECK_EQ(got.duration_sum_ms, want->duration_sum_ms);
	CHECK_EQ(got.last_finished_at, want->last_finished_at);
}

/*
 * summary: finished executions by duration bucket, their sum and the
 * latest finish, moved by finishes and deletes, kept across a reopen.
 */
static void case_summary(void)
{
	struct store *s = open_store();
	struct store_summary want = { .last_finished_at = STORE_NULL };

	check_summary(s, &want);
	CHECK_EQ(store_duration_bucket(0), 0);
	CHECK_EQ(store_duration_bucket(100), 0);
	CHECK_EQ(store_duration_bucket(101), 1);
	CHECK_EQ(store_duration_bucket(INT64_MAX), STORE_DURATION_BUCKETS - 1);
	for (const char *n = "abcde"; *n; n++)
		start_one(s, (char[]){ *n, 0 }, T0_MS);
	finish_one(s, "a", STORE_SUCCESS, T0_MS + 50);
	finish_one(s, "b", STORE_ERROR, T0_MS + 700);
	finish_one(s, "c", STORE_PARTIAL, T0_MS + 2 * HOUR_MS);
	finish_one(s, "d", STORE_SUCCESS, T0_MS + 100);
	/* e runs: it is in no bucket. */
	want.finished[0] = 2;
	want.finished[2] = 1;
	want.finished[STORE_DURATION_BUCKETS - 1] = 1;
	want.duration_sum_ms = 50 + 700 + 2 * HOUR_MS + 100;
	want.last_finished_at = (T0_MS + 2 * HOUR_MS) / 1000;
	check_summary(s, &want);
	CHECK_EQ(store_delete(s, "b"), 0);
	want.finished[2] = 0;
	want.duration_sum_ms -= 700;
	check_summary(s, &want);
	store_close(s);
	s = open_store();
	check_summary(s, &want);
	finish_one(s, "e", STORE_SUCCESS, T0_MS + 3 * HOUR_MS);
	want.finished[STORE_DURATION_BUCKETS - 1]++;
	want.duration_sum_ms += 3 * HOUR_MS;
	want.last_finished_at = (T0_MS + 3 * HOUR_MS) / 1000;
	check_summary(s, &want);
	store_close(s);
	if (!is_pg()) {
		/* Read-only, the same from what the writable opens kept. */
		s = open_store_at(g_backend, g_db, true);
		check_summary(s, &want);
		store_close(s);
	}
}

/* The names-only listing of @f after @after equals the full one, id for id. */
static void check_names_match(struct store *s, const struct store_filter *f, int64_t after,
			      size_t stop_after)
{
	struct collect full = { .stop_after = stop_after, .stop_ret = 1 };
	struct collect names = { .stop_after = stop_after, .stop_ret = 1 };

	CHECK_EQ(list_into(s, f, after, &full), 0);
	CHECK_EQ(list_names_into(s, f, after, &names), 0);
	CHECK_EQ(names.n, full.n);
	for (size_t i = 0; i < full.n; i++) {
		CHECK_EQ(names.ids[i], full.ids[i]);
		CHECK_STR(names.names[i], full.names[i]);
	}
	collect_reset(&full);
	collect_reset(&names);
}

/*
 * list_names: 700 executions over three days and every outcome, some
 * deleted. The names-only listing gives what the full one gives, for every
 * filter, from several resume points (past the 256 entries LMDB reads per
 * transaction), and stops when the callback says so.
 */
static void case_list_names(void)
{
	struct store *s = open_store();
	struct store_filter f;
	int64_t ids[700];
	char name[32];

	for (int i = 0; i < 700; i++) {
		snprintf(name, sizeof(name), "n%03d-%s", i, i % 3 ? "x" : "long-name-for-the-text");
		ids[i] = start_one(s, name, T0_MS + (int64_t)(i % 3) * DAY_MS + i);
		if (i % 4)
			finish_one(s, name, (enum store_outcome)(1 + i % 3), T0_MS + 3 * DAY_MS);
	}
	for (int i = 1; i < 700; i += 50) {
		snprintf(name, sizeof(name), "n%03d-%s", i, i % 3 ? "x" : "long-name-for-the-text");
		CHECK_EQ(store_delete(s, name), 0);
	}
	for (int o = -1; o < STORE_OUTCOMES; o++) {
		for (int64_t day = -1; day < 3; day++) {
			int64_t d = day < 0 ? -1 : DAY0 + day;

			check_names_match(s, filter_of(&f, o, d), 0, 0);
			check_names_match(s, filter_of(&f, o, d), ids[300], 0);
			check_names_match(s, filter_of(&f, o, d), ids[699], 0);
			check_names_match(s, filter_of(&f, o, d), 0, 257);
		}
	}
	store_close(s);
}

static void case_list_filter(void)
{
	struct store *s = open_store();
	struct collect c = { 0 };
	struct store_filter f;
	int64_t id_r1;

	id_r1 = start_one(s, "r1", T0_MS);                       /* 01-01 00:00:00.000 */
	start_one(s, "r2", T0_MS + DAY_MS - 1);                  /* 01-01 23:59:59.999 */
	start_one(s, "r3", T0_MS + DAY_MS);                      /* 01-02 00:00:00.000 */
	start_one(s, "r4", T0_MS - 1);                           /* 12-31 23:59:59.999 */
	start_one(s, "r5", T0_MS + DAY_MS + 12 * HOUR_MS);       /* 01-02 12:00 */
	start_one(s, "r6", T0_MS + 12 * HOUR_MS);                /* 01-01 12:00 */
	finish_one(s, "r2", STORE_SUCCESS, T0_MS + 2 * DAY_MS);
	finish_one(s, "r3", STORE_ERROR, T0_MS + 2 * DAY_MS);
	finish_one(s, "r5", STORE_PARTIAL, T0_MS + 2 * DAY_MS);

	CHECK_EQ(list_into(s, filter_of(&f, STORE_RUNNING, -1), 0, &c), 0);
	CHECK_NAMES(&c, "r1", "r4", "r6");
	collect_reset(&c);
	CHECK_EQ(list_into(s, filter_of(&f, STORE_SUCCESS, -1), 0, &c), 0);
	CHECK_NAMES(&c, "r2");
	collect_reset(&c);
	CHECK_EQ(list_into(s, filter_of(&f, STORE_ERROR, -1), 0, &c), 0);
	CHECK_NAMES(&c, "r3");
	collect_reset(&c);
	CHECK_EQ(list_into(s, filter_of(&f, STORE_PARTIAL, -1), 0, &c), 0);
	CHECK_NAMES(&c, "r5");
	collect_reset(&c);

	/* A finish moves an execution between outcomes. */
	finish_one(s, "r1", STORE_SUCCESS, T0_MS + 3 * DAY_MS);
	CHECK_EQ(list_into(s, filter_of(&f, STORE_RUNNING, -1), 0, &c), 0);
	CHECK_NAMES(&c, "r4", "r6");
	collect_reset(&c);
	CHECK_EQ(list_into(s, filter_of(&f, STORE_SUCCESS, -1), 0, &c), 0);
	CHECK_NAMES(&c, "r1", "r2");
	collect_reset(&c);
	/* ...and resumes within the outcome. */
	CHECK_EQ(list_into(s, filter_of(&f, STORE_SUCCESS, -1), id_r1, &c), 0);
	CHECK_NAMES(&c, "r2");
	collect_reset(&c);

	/* By the UTC day of the start, to the millisecond at both edges. */
	CHECK_EQ(list_into(s, filter_of(&f, -1, DAY0), 0, &c), 0);
	CHECK_NAMES(&c, "r1", "r2", "r6");
	collect_reset(&c);
	CHECK_EQ(list_into(s, filter_of(&f, -1, DAY0 + 1), 0, &c), 0);
	CHECK_NAMES(&c, "r3", "r5");
	collect_reset(&c);
	CHECK_EQ(list_into(s, filter_of(&f, -1, DAY0 - 1), 0, &c), 0);
	CHECK_NAMES(&c, "r4");
	collect_reset(&c);
	CHECK_EQ(list_into(s, filter_of(&f, -1, DAY0 + 2), 0, &c), 0);
	CHECK_EQ(c.n, 0);
	CHECK_EQ(list_into(s, filter_of(&f, -1, DAY0), id_r1, &c), 0);
	CHECK_NAMES(&c, "r2", "r6");
	collect_reset(&c);

	/* Both at once. */
	CHECK_EQ(list_into(s, filter_of(&f, STORE_SUCCESS, DAY0), 0, &c), 0);
	CHECK_NAMES(&c, "r1", "r2");
	collect_reset(&c);
	CHECK_EQ(list_into(s, filter_of(&f, STORE_RUNNING, DAY0), 0, &c), 0);
	CHECK_NAMES(&c, "r6");
	collect_reset(&c);
	CHECK_EQ(list_into(s, filter_of(&f, STORE_ERROR, DAY0), 0, &c), 0);
	CHECK_EQ(c.n, 0);

	/* A deleted one leaves its views. */
	CHECK_EQ(store_delete(s, "r2"), 0);
	CHECK_EQ(list_into(s, filter_of(&f, STORE_SUCCESS, -1), 0, &c), 0);
	CHECK_NAMES(&c, "r1");
	collect_reset(&c);
	CHECK_EQ(list_into(s, filter_of(&f, -1, DAY0), 0, &c), 0);
	CHECK_NAMES(&c, "r1", "r6");
	collect_reset(&c);
	store_close(s);
}

/*
 * list_resume_concurrent: KEEP and DEL executions are made first, interleaved.
 * A pager walks the log in pages of PAGE, resuming after the last id it saw,
 * while one writer starts (and sometimes deletes) new executions and another
 * deletes the DEL ones. The writers are paced so that both make progress
 * between every two pages, and may run up to two windows ahead of the pager.
 */
#define RC_KEEP 2000
#define RC_DEL 2000
#define RC_NEW 1000
#define RC_PAGE 50
#define RC_OPS 20 /* writer operations per page */

struct rc_state {
	struct store *s;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pages;
	bool done;
	int ops[2];
	bool writer_done[2];
	bool del_deleted[RC_DEL];
	/* The pager's view. */
	int keep_seen[RC_KEEP];
	int del_seen[RC_DEL];
	int new_seen[RC_NEW];
	int64_t last_id;
	size_t page_n;
};

/* Waits until writer @w may do its next operation; false when it should stop. */
static bool rc_writer_wait(struct rc_state *st, int w)
{
	bool go;

	pthread_mutex_lock(&st->lock);
	while (!st->done && st->ops[w] >= (st->pages + 2) * RC_OPS)
		pthread_cond_wait(&st->cond, &st->lock);
	go = !st->done;
	pthread_mutex_unlock(&st->lock);
	return go;
}

static void rc_writer_did(struct rc_state *st, int w, bool finished)
{
	pthread_mutex_lock(&st->lock);
	if (finished)
		st->writer_done[w] = true;
	else
		st->ops[w]++;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
}

static void *rc_starter(void *arg)
{
	struct rc_state *st = arg;
	char name[32];

	for (int i = 0; i < RC_NEW && rc_writer_wait(st, 0); i++) {
		snprintf(name, sizeof(name), "new-%04d", i);
		start_one(st->s, name, T0_MS + DAY_MS + i);
		finish_one(st->s, name, STORE_SUCCESS, T0_MS + DAY_MS + i + 5);
		/* Delete a recent one now and then, near the end of the log. */
		if (i % 4 == 3) {
			snprintf(name, sizeof(name), "new-%04d", i - 2);
			CHECK_EQ(store_delete(st->s, name), 0);
		}
		rc_writer_did(st, 0, false);
	}
	rc_writer_did(st, 0, true);
	return NULL;
}

static void *rc_deleter(void *arg)
{
	struct rc_state *st = arg;
	char name[32];

	for (int j = 0; j < RC_DEL && rc_writer_wait(st, 1); j++) {
		/* 7919 is prime to RC_DEL: a scattered order over all of them. */
		int victim = (int)(((long)j * 7919) % RC_DEL);

		snprintf(name, sizeof(name), "del-%04d", victim);
		CHECK_EQ(store_delete(st->s, name), 0);
		st->del_deleted[victim] = true;
		rc_writer_did(st, 1, false);
	}
	rc_writer_did(st, 1, true);
	return NULL;
}

static int rc_page_fn(void *ctx, const struct store_record *rec)
{
	struct rc_state *st = ctx;
	int i;
	char tail;

	if (rec->id <= st->last_id)
		fail(__FILE__, __LINE__, "ids ascending across pages",
		     "%s has id %" PRId64 " after %" PRId64, rec->execution_id, rec->id,
		     st->last_id);
	st->last_id = rec->id;
	if (sscanf(rec->execution_id, "keep-%d%c", &i, &tail) == 1 && i >= 0 && i < RC_KEEP)
		st->keep_seen[i]++;
	else if (sscanf(rec->execution_id, "del-%d%c", &i, &tail) == 1 && i >= 0 && i < RC_DEL)
		st->del_seen[i]++;
	else if (sscanf(rec->execution_id, "new-%d%c", &i, &tail) == 1 && i >= 0 && i < RC_NEW)
		st->new_seen[i]++;
	else
		fail(__FILE__, __LINE__, "a known name", "listed %s", rec->execution_id);
	return ++st->page_n == RC_PAGE ? 1 : 0;
}

/*
 * A filtered listing costs what its matches cost: listing the 3 errors of
 * a log of 3,000 does a small fraction of the work of listing all of them
 * (store_visits counts the backend's steps, which grow with every row or
 * key a listing visits, matching or not).
 */
static void case_list_visits(void)
{
	struct store *s = open_store();
	struct collect c = { 0 };
	struct store_filter f;
	uint64_t before, errors, all;
	char name[32];

	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		start_one(s, name, T0_MS + i);
		finish_one(s, name, i % 1000 == 7 ? STORE_ERROR : STORE_SUCCESS, T0_MS + i + 5);
	}
	before = store_visits(s);
	CHECK_EQ(list_into(s, filter_of(&f, STORE_ERROR, -1), 0, &c), 0);
	CHECK_NAMES(&c, "v7", "v1007", "v2007");
	errors = store_visits(s) - before;
	collect_reset(&c);

	before = store_visits(s);
	CHECK_EQ(list_into(s, NULL, 0, &c), 0);
	CHECK_EQ(c.n, 3000);
	all = store_visits(s) - before;
	collect_reset(&c);
	/* 3 of 3,000: a scan of everything would cost about as much as the full listing. */
	CHECK(all >= 3000);
	CHECK(errors * 50 < all);
	store_close(s);
}

static void case_list_resume_concurrent(void)
{
	static struct rc_state st;
	pthread_t starter, deleter;
	char name[32];
	int pages_run = 0;

	st.s = open_store();
	pthread_mutex_init(&st.lock, NULL);
	pthread_cond_init(&st.cond, NULL);
	for (int i = 0; i < RC_KEEP; i++) {
		snprintf(name, sizeof(name), "keep-%04d", i);
		start_one(st.s, name, T0_MS + i);
		finish_one(st.s, name, STORE_SUCCESS, T0_MS + i + 1);
		snprintf(name, sizeof(name), "del-%04d", i);
		start_one(st.s, name, T0_MS + i);
		finish_one(st.s, name, STORE_ERROR, T0_MS + i + 1);
	}

	CHECK_EQ(pthread_create(&starter, NULL, rc_starter, &st), 0);
	CHECK_EQ(pthread_create(&deleter, NULL, rc_deleter, &st), 0);
	for (;;) {
		int rc;

		/* Both writers have done their share since the last page. */
		pthread_mutex_lock(&st.lock);
		for (int w = 0; w < 2; w++)
			while (!st.writer_done[w] && st.ops[w] < st.pages * RC_OPS)
				pthread_cond_wait(&st.cond, &st.lock);
		pthread_mutex_unlock(&st.lock);

		st.page_n = 0;
		rc = store_list(st.s, NULL, st.last_id, rc_page_fn, &st);
		CHECK_EQ(rc, 0);
		pages_run++;

		pthread_mutex_lock(&st.lock);
		st.pages++;
		pthread_cond_broadcast(&st.cond);
		pthread_mutex_unlock(&st.lock);
		if (st.page_n < RC_PAGE)
			break;
	}
	pthread_mutex_lock(&st.lock);
	st.done = true;
	pthread_cond_broadcast(&st.cond);
	pthread_mutex_unlock(&st.lock);
	CHECK_EQ(pthread_join(starter, NULL), 0);
	CHECK_EQ(pthread_join(deleter, NULL), 0);

	/* The writers really ran alongside. */
	CHECK(st.ops[0] >= RC_OPS && st.ops[1] >= RC_OPS);
	CHECK(pages_run >= RC_KEEP / RC_PAGE);

	for (int i = 0; i < RC_KEEP; i++)
		if (st.keep_seen[i] != 1)
			fail(__FILE__, __LINE__, "every kept execution seen once",
			     "keep-%04d seen %d times", i, st.keep_seen[i]);
	for (int i = 0; i < RC_DEL; i++)
		if (st.del_seen[i] > 1 || (!st.del_deleted[i] && st.del_seen[i] != 1))
			fail(__FILE__, __LINE__, "deleted ones seen at most once, others once",
			     "del-%04d seen %d times (deleted: %d)", i, st.del_seen[i],
			     st.del_deleted[i]);
	for (int i = 0; i < RC_NEW; i++)
		if (st.new_seen[i] > 1)
			fail(__FILE__, __LINE__, "new ones seen at most once",
			     "new-%04d seen %d times", i, st.new_seen[i]);
	fprintf(stderr, "%d pages; %d start ops, %d deletes during the walk\n", pages_run,
		st.ops[0], st.ops[1]);

	pthread_cond_destroy(&st.cond);
	pthread_mutex_destroy(&st.lock);
	store_close(st.s);
}

/*
 * Times another program may leave in a store: a day past 9999-12-31 or
 * before 1970 is on no day, a listing of days ends however far the times
 * go, and a filter by a day no view can name is refused. (days_fn fails a
 * listing that goes on past 16 days.)
 */
static void case_days_extreme(void)
{
	struct store *s = open_store();
	struct store_filter f = { .outcome = -1, .day = STORE_DAY_END };
	struct store_summary sum;
	struct store_record rec = { 0 };
	struct collect c = { 0 };
	struct days d = { 0 };
	uint64_t count = 0;

	CHECK_EQ(store_day_of(INT64_MIN), INT64_MIN / 86400 - 1);
	CHECK_EQ(store_day_of(INT64_MAX), INT64_MAX / 86400);
	CHECK_EQ(store_day_of(-1), -1);
	CHECK_EQ(store_day_of(-86400), -1);
	CHECK_EQ(store_day_of(86399), 0);
	CHECK_EQ(store_ms_of_seconds(INT64_MAX), INT64_MAX);
	CHECK_EQ(store_ms_of_seconds(INT64_MIN), INT64_MIN + 1);
	CHECK_EQ(store_ms_of_seconds(-5), -5000);
	CHECK_EQ(store_add_saturated(INT64_MAX, 1), INT64_MAX);
	CHECK_EQ(store_add_saturated(INT64_MIN + 1, -5), INT64_MIN + 1);
	CHECK_EQ(store_ms_between(INT64_MIN + 1, INT64_MAX), INT64_MAX);
	CHECK_EQ(store_ms_between(5, 3), 0);

	start_one(s, "now", T0_MS);
	start_one(s, "last", (STORE_DAY_END * 86400 - 1) * 1000); /* 9999-12-31 23:59:59 */
	start_one(s, "past", STORE_DAY_END * 86400 * 1000);       /* 10000-01-01 */
	start_one(s, "max", INT64_MAX);
	start_one(s, "before", -1000);                            /* 1969-12-31 23:59:59 */
	start_one(s, "min", INT64_MIN + 1);

	CHECK_EQ(store_list_days(s, -1, days_fn, &d), 0);
	CHECK_DAYS(&d, DAY0, STORE_DAY_END - 1);
	d.n = 0;
	CHECK_EQ(store_list_days(s, INT64_MIN, days_fn, &d), 0);
	CHECK_DAYS(&d, DAY0, STORE_DAY_END - 1);
	d.n = 0;
	CHECK_EQ(store_list_days(s, DAY0, days_fn, &d), 0);
	CHECK_DAYS(&d, STORE_DAY_END - 1);
	d.n = 0;
	CHECK_EQ(store_list_days(s, STORE_DAY_END - 1, days_fn, &d), 0);
	CHECK_EQ(store_list_days(s, INT64_MAX, days_fn, &d), 0);
	CHECK_EQ(d.n, 0);

	/* A filter by a day: the last nameable one works, the next is refused. */
	CHECK_EQ(store_count(s, &f, &count), -EINVAL);
	f.day = STORE_DAY_END - 1;
	CHECK_EQ(store_count(s, &f, &count), 0);
	CHECK_EQ(count, 1);
	CHECK_EQ(list_into(s, &f, INT64_MIN, &c), 0);
	CHECK_EQ(c.n, 1);
	CHECK_STR(c.names[0], "last");
	collect_reset(&c);

	/* Every record reads, with its times as stored, and every listing from INT64_MIN has all. */
	CHECK_EQ(store_get(s, "max", &rec), 0);
	CHECK_EQ(rec.started_ms, INT64_MAX);
	CHECK_EQ(store_get(s, "min", &rec), 0);
	CHECK_EQ(rec.started_ms, INT64_MIN + 1);
	store_record_clear(&rec);
	CHECK_EQ(list_into(s, NULL, INT64_MIN, &c), 0);
	CHECK_EQ(c.n, 6);
	collect_reset(&c);
	CHECK_EQ(list_names_into(s, NULL, INT64_MIN, &c), 0);
	CHECK_EQ(c.n, 6);
	collect_reset(&c);

	/* Durations from the ends: saturated, in the record and in the summary. */
	finish_one(s, "min", STORE_SUCCESS, T0_MS);
	finish_one(s, "max", STORE_SUCCESS, T0_MS);
	CHECK_EQ(store_get(s, "min", &rec), 0);
	CHECK_EQ(rec.duration_ms, INT64_MAX);
	CHECK_EQ(store_get(s, "max", &rec), 0);
	CHECK_EQ(rec.duration_ms, 0);
	store_record_clear(&rec);
	CHECK_EQ(store_summary(s, &sum), 0);
	CHECK_EQ(sum.duration_sum_ms, INT64_MAX);
	store_close(s);
}

static void case_latest_days(void)
{
	struct store *s = open_store();
	struct store_record rec = { 0 };
	struct days d = { 0 };
	int64_t id_d;

	/* Empty. */
	CHECK_EQ(store_latest(s, &rec), -ENOENT);
	CHECK_EQ(store_list_days(s, -1, days_fn, &d), 0);
	CHECK_EQ(d.n, 0);

	start_one(s, "a", T0_MS + 2 * DAY_MS + 5 * HOUR_MS);
	start_one(s, "b", T0_MS);
	start_one(s, "c", T0_MS + DAY_MS);
	id_d = start_one(s, "d", T0_MS + DAY_MS - 1);
	start_one(s, "e", T0_MS - 1); /* the latest started, the earliest in time */

	CHECK_EQ(store_latest(s, &rec), 0);
	CHECK_STR(rec.execution_id, "e");
	CHECK(rec.id > id_d);
	check_running(&rec, "e", T0_MS - 1);

	CHECK_EQ(store_list_days(s, -1, days_fn, &d), 0);
	CHECK_DAYS(&d, DAY0 - 1, DAY0, DAY0 + 1, DAY0 + 2);
	d.n = 0;
	CHECK_EQ(store_list_days(s, DAY0, days_fn, &d), 0);
	CHECK_DAYS(&d, DAY0 + 1, DAY0 + 2);
	d.n = 0;
	CHECK_EQ(store_list_days(s, DAY0 - 1, days_fn, &d), 0);
	CHECK_DAYS(&d, DAY0, DAY0 + 1, DAY0 + 2);
	d.n = 0;
	CHECK_EQ(store_list_days(s, DAY0 + 2, days_fn, &d), 0);
	CHECK_EQ(d.n, 0);

	/* Stopping and failing, as store_list(). */
	d.stop_after = 2;
	d.stop_ret = 1;
	CHECK_EQ(store_list_days(s, -1, days_fn, &d), 0);
	CHECK_DAYS(&d, DAY0 - 1, DAY0);
	d.n = 0;
	d.stop_ret = -ECANCELED;
	CHECK_EQ(store_list_days(s, -1, days_fn, &d), -ECANCELED);
	CHECK_EQ(d.n, 2);
	d.n = 0;
	d.stop_after = 0;

	/* A day goes when its last execution goes. */
	finish_one(s, "e", STORE_SUCCESS, T0_MS);
	CHECK_EQ(store_delete(s, "e"), 0);
	CHECK_EQ(store_latest(s, &rec), 0);
	CHECK_STR(rec.execution_id, "d");
	CHECK_EQ(rec.id, id_d);
	CHECK_EQ(store_list_days(s, -1, days_fn, &d), 0);
	CHECK_DAYS(&d, DAY0, DAY0 + 1, DAY0 + 2);
	d.n = 0;

	finish_one(s, "c", STORE_ERROR, T0_MS + 2 * DAY_MS);
	CHECK_EQ(store_delete(s, "c"), 0);
	CHECK_EQ(store_list_days(s, -1, days_fn, &d), 0);
	CHECK_DAYS(&d, DAY0, DAY0 + 2);
	d.n = 0;

	/* ...and stays while another one has it. */
	finish_one(s, "b", STORE_SUCCESS, T0_MS + 1);
	CHECK_EQ(store_delete(s, "b"), 0);
	CHECK_EQ(store_list_days(s, -1, days_fn, &d), 0);
	CHECK_DAYS(&d, DAY0, DAY0 + 2);
	d.n = 0;

	/* The newest start is the latest again. */
	start_one(s, "f", T0_MS + 10 * DAY_MS);
	CHECK_EQ(store_latest(s, &rec), 0);
	CHECK_STR(rec.execution_id, "f");
	CHECK_EQ(store_list_days(s, DAY0, days_fn, &d), 0);
	CHECK_DAYS(&d, DAY0 + 2, DAY0 + 10);
	d.n = 0;

	/* Empty again. */
	finish_one(s, "a", STORE_SUCCESS, T0_MS + 3 * DAY_MS);
	finish_one(s, "d", STORE_SUCCESS, T0_MS + 3 * DAY_MS);
	finish_one(s, "f", STORE_SUCCESS, T0_MS + 11 * DAY_MS);
	CHECK_EQ(store_delete(s, "a"), 0);
	CHECK_EQ(store_delete(s, "d"), 0);
	CHECK_EQ(store_delete(s, "f"), 0);
	CHECK_EQ(store_latest(s, &rec), -ENOENT);
	CHECK_EQ(store_list_days(s, -1, days_fn, &d), 0);
	CHECK_EQ(d.n, 0);

	store_record_clear(&rec);
	store_close(s);
}

static int64_t heartbeat_of(struct store *s, const char *name)
{
	struct store_record rec = { 0 };
	int64_t hb;

	CHECK_EQ(store_get(s, name, &rec), 0);
	hb = rec.heartbeat_ms;
	store_record_clear(&rec);
	return hb;
}

/* The record of @name with heartbeat_ms left out, to see nothing else moved. */
static char *snapshot_without_heartbeat(struct store *s, const char *name)
{
	struct store_record rec = { 0 };
	char *out;

	CHECK_EQ(store_get(s, name, &rec), 0);
	rec.heartbeat_ms = 0;
	out = snapshot_rec(&rec);
	store_record_clear(&rec);
	return out;
}

static void case_heartbeat(void)
{
	struct store *s = open_store();
	char *before, *now;

	start_one(s, "h", T0_MS);
	start_one(s, "other", T0_MS + 1);
	CHECK_EQ(heartbeat_of(s, "h"), T0_MS);
	before = snapshot_without_heartbeat(s, "h");

	CHECK_EQ(store_heartbeat(s, "h", T0_MS + 5000), 0);
	CHECK_EQ(heartbeat_of(s, "h"), T0_MS + 5000);
	CHECK_EQ(store_heartbeat(s, "h", T0_MS + 9001), 0);
	CHECK_EQ(heartbeat_of(s, "h"), T0_MS + 9001);
	now = snapshot_without_heartbeat(s, "h");
	CHECK_STR(now, before);
	free(now);
	free(before);
	/* Only that one. */
	CHECK_EQ(heartbeat_of(s, "other"), T0_MS + 1);

	/* A heartbeat survives a reopen. */
	store_close(s);
	s = open_store();
	CHECK_EQ(heartbeat_of(s, "h"), T0_MS + 9001);

	/* A finish is the last sign of life; after it, no heartbeat. */
	finish_one(s, "h", STORE_SUCCESS, T0_MS + 10000);
	CHECK_EQ(heartbeat_of(s, "h"), T0_MS + 10000);
	before = snapshot(s, "h");
	CHECK_EQ(store_heartbeat(s, "h", T0_MS + 20000), -EPERM);
	CHECK(store_reason()[0] != '\0');
	CHECK_SNAPSHOT(s, "h", before);
	free(before);

	store_close(s);
}

/* Every record, listed, as snapshots; also checks get and get_by_id agree. */
static void snapshot_all(struct store *s, struct collect *c)
{
	struct store_record rec = { 0 };
	char *snap;

	c->want_snaps = true;
	CHECK_EQ(list_into(s, NULL, 0, c), 0);
	for (size_t i = 0; i < c->n; i++) {
		CHECK_EQ(store_get(s, c->names[i], &rec), 0);
		snap = snapshot_rec(&rec);
		CHECK_STR(snap, c->snaps[i]);
		free(snap);
		CHECK_EQ(store_get_by_id(s, c->ids[i], &rec), 0);
		snap = snapshot_rec(&rec);
		CHECK_STR(snap, c->snaps[i]);
		free(snap);
	}
	store_record_clear(&rec);
}

static void check_same_records(const struct collect *a, const struct collect *b)
{
	CHECK_EQ(b->n, a->n);
	for (size_t i = 0; i < a->n; i++)
		CHECK_STR(b->snaps[i], a->snaps[i]);
}

static void case_persistence(void)
{
	struct store *s = open_store();
	struct store_finish fin;
	struct collect before = { 0 }, after = { 0 };
	int64_t tail_id, id;

	CHECK_EQ(try_start(s, "full", "magellan 2.0", ARGS_FULL, "/src/p", "/src/p/db",
			   T0_MS + 123, NULL), 0);
	start_one(s, "running-null-root", T0_MS + 456);
	start_one(s, "gone", T0_MS + 500);
	CHECK_EQ(try_start(s, "ok", "v", "[\"x\"]", "", "d", T0_MS + 1000, NULL), 0);
	start_one(s, "err", T0_MS + 2000);
	start_one(s, "part", T0_MS + DAY_MS + 3);
	start_one(s, "beat", T0_MS + 4000);
	fin = finish_of(STORE_SUCCESS, NULL, 1, INT64_C(3000000000), 3);
	CHECK_EQ(store_finish(s, "ok", &fin, T0_MS + 1250), 0);
	fin = finish_of(STORE_ERROR, "line 1\nline \"2\" caf\xc3\xa9", 0, 0, 0);
	CHECK_EQ(store_finish(s, "err", &fin, T0_MS + 2999), 0);
	fin = finish_of(STORE_PARTIAL, NULL, 5, 6, 7);
	CHECK_EQ(store_finish(s, "part", &fin, T0_MS + 2 * DAY_MS), 0);
	CHECK_EQ(store_heartbeat(s, "beat", T0_MS + 7777), 0);
	finish_one(s, "gone", STORE_SUCCESS, T0_MS + 600);
	CHECK_EQ(store_delete(s, "gone"), 0);
	/* The latest is deleted too: its id must not come back after a reopen. */
	tail_id = start_one(s, "tail", T0_MS + 9000);
	finish_one(s, "tail", STORE_SUCCESS, T0_MS + 9001);
	CHECK_EQ(store_delete(s, "tail"), 0);

	snapshot_all(s, &before);
	CHECK_EQ(before.n, 6);
	store_close(s);

	s = open_store();
	snapshot_all(s, &after);
	check_same_records(&before, &after);
	collect_reset(&after);
	{
		struct store_record rec = { 0 };

		CHECK_EQ(store_get(s, "gone", &rec), -ENOENT);
		CHECK_EQ(store_get(s, "tail", &rec), -ENOENT);
		CHECK_EQ(store_latest(s, &rec), 0);
		CHECK_STR(rec.execution_id, "beat");
		store_record_clear(&rec);
	}

	/* The sequence goes on where it was, also with sync=full. */
	store_close(s);
	s = open_store_sync_full();
	id = start_one(s, "after-reopen", T0_MS + 10000);
	CHECK(id > tail_id);
	finish_one(s, "running-null-root", STORE_SUCCESS, T0_MS + 11000);
	collect_reset(&before);
	snapshot_all(s, &before);
	CHECK_EQ(before.n, 7);
	store_close(s);

	s = open_store();
	snapshot_all(s, &after);
	check_same_records(&before, &after);
	collect_reset(&before);
	collect_reset(&after);
	store_close(s);
}

static int64_t duration_of(struct store *s, const char *name)
{
	struct store_record rec = { 0 };
	int64_t d;

	CHECK_EQ(store_get(s, name, &rec), 0);
	d = rec.duration_ms;
	store_record_clear(&rec);
	return d;
}

static void case_duration_precision(void)
{
	struct store *s = open_store();
	struct store_record rec = { 0 };
	struct timespec pause = { 0, 250 * 1000 * 1000 };
	int64_t start_real, end_real, d;

	/* Explicit times, within one open. */
	start_one(s, "a", T0_MS + 123);
	finish_one(s, "a", STORE_SUCCESS, T0_MS + 123 + 250);
	CHECK_EQ(duration_of(s, "a"), 250);

	/* Across a second boundary: 2 ms, not 0 and not 1000. */
	start_one(s, "b", T0_MS + 999);
	finish_one(s, "b", STORE_SUCCESS, T0_MS + 1001);
	CHECK_EQ(duration_of(s, "b"), 2);
	CHECK_EQ(store_get(s, "b", &rec), 0);
	CHECK_EQ(rec.started_at, T0_MS / 1000);
	CHECK_EQ(rec.finished_at, T0_MS / 1000 + 1);

	/* Within one second: 998 ms, not 0. */
	start_one(s, "c", T0_MS + 1);
	finish_one(s, "c", STORE_SUCCESS, T0_MS + 999);
	CHECK_EQ(duration_of(s, "c"), 998);

	/* Explicit times with a reopen between start and finish. */
	start_one(s, "reopened", T0_MS + 1500);
	start_one(s, "reopened-2", T0_MS + 2999);
	store_close(s);
	s = open_store();
	CHECK_EQ(store_get(s, "reopened", &rec), 0);
	CHECK_EQ(rec.started_ms, T0_MS + 1500);
	CHECK_EQ(rec.started_at, T0_MS / 1000 + 1);
	finish_one(s, "reopened", STORE_SUCCESS, T0_MS + 1750);
	CHECK_EQ(duration_of(s, "reopened"), 250);
	finish_one(s, "reopened-2", STORE_ERROR, T0_MS + 3000);
	CHECK_EQ(duration_of(s, "reopened-2"), 1);

	/* Real time, with a reopen between start and finish. */
	start_real = store_now_ms();
	start_one(s, "real", start_real);
	store_close(s);
	while (nanosleep(&pause, &pause) != 0)
		CHECK(errno == EINTR);
	end_real = store_now_ms();
	s = open_store();
	finish_one(s, "real", STORE_SUCCESS, end_real);
	d = duration_of(s, "real");
	CHECK_EQ(d, end_real - start_real);
	/* At least the pause; how much more is the machine's load, not the store's. */
	CHECK(d >= 250);

	/* Durations stay exact across another reopen. */
	store_close(s);
	s = open_store();
	CHECK_EQ(duration_of(s, "a"), 250);
	CHECK_EQ(duration_of(s, "b"), 2);
	CHECK_EQ(duration_of(s, "c"), 998);
	CHECK_EQ(duration_of(s, "reopened"), 250);
	CHECK_EQ(duration_of(s, "real"), d);

	store_record_clear(&rec);
	store_close(s);
}

static void case_same_ms_ids(void)
{
	struct store *s = open_store();
	struct store_record a = { 0 }, b = { 0 };
	struct collect c = { 0 };
	int64_t id1, id2, id3;

	id1 = start_one(s, "same-1", T0_MS + 42);
	id2 = start_one(s, "same-2", T0_MS + 42);
	id3 = start_one(s, "same-3", T0_MS + 42);
	CHECK(id1 != id2 && id2 != id3 && id1 != id3);
	CHECK(id1 < id2 && id2 < id3);

	CHECK_EQ(store_get_by_id(s, id1, &a), 0);
	CHECK_EQ(store_get_by_id(s, id2, &b), 0);
	CHECK_STR(a.execution_id, "same-1");
	CHECK_STR(b.execution_id, "same-2");
	CHECK_EQ(a.started_ms, b.started_ms);

	CHECK_EQ(list_into(s, NULL, 0, &c), 0);
	CHECK_NAMES(&c, "same-1", "same-2", "same-3");
	collect_reset(&c);
	CHECK_EQ(list_into(s, NULL, id1, &c), 0);
	CHECK_NAMES(&c, "same-2", "same-3");
	collect_reset(&c);

	store_record_clear(&a);
	store_record_clear(&b);
	store_close(s);
}

#define TH_THREADS 4
#define TH_RUNS 1000

struct th_arg {
	struct store *s;
	int t;
	int64_t ids[TH_RUNS];
};

static void *th_worker(void *p)
{
	struct th_arg *arg = p;
	struct store_finish fin;
	char name[32];

	for (int i = 0; i < TH_RUNS; i++) {
		snprintf(name, sizeof(name), "t%d-%04d", arg->t, i);
		arg->ids[i] = start_one(arg->s, name, store_now_ms());
		fin = finish_of(STORE_SUCCESS, NULL, i, arg->t, 0);
		CHECK_EQ(store_finish(arg->s, name, &fin, store_now_ms()), 0);
	}
	return NULL;
}

static int compare_ids(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void case_threads_4x1000(void)
{
	static struct th_arg args[TH_THREADS];
	static int64_t all[TH_THREADS * TH_RUNS];
	struct store *s = open_store();
	struct store_record rec = { 0 };
	struct store_filter f;
	struct collect c = { 0 };
	pthread_t th[TH_THREADS];
	char name[32];
	size_t n = 0;

	for (int t = 0; t < TH_THREADS; t++) {
		args[t].s = s;
		args[t].t = t;
		CHECK_EQ(pthread_create(&th[t], NULL, th_worker, &args[t]), 0);
	}
	for (int t = 0; t < TH_THREADS; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);

	for (int t = 0; t < TH_THREADS; t++) {
		for (int i = 0; i < TH_RUNS; i++) {
			snprintf(name, sizeof(name), "t%d-%04d", t, i);
			CHECK_EQ(store_get(s, name, &rec), 0);
			CHECK_EQ(rec.id, args[t].ids[i]);
			CHECK_STR(rec.outcome, "success");
			CHECK_EQ(rec.files_indexed, i);
			CHECK_EQ(rec.symbols_indexed, t);
			CHECK(rec.duration_ms != STORE_NULL && rec.duration_ms >= 0);
			all[n++] = rec.id;
			/* Each thread's own starts got growing ids. */
			if (i > 0)
				CHECK(args[t].ids[i] > args[t].ids[i - 1]);
		}
	}
	qsort(all, n, sizeof(all[0]), compare_ids);
	for (size_t i = 1; i < n; i++)
		if (all[i] == all[i - 1])
			fail(__FILE__, __LINE__, "ids distinct", "id %" PRId64 " twice", all[i]);

	CHECK_EQ(list_into(s, NULL, 0, &c), 0);
	CHECK_EQ(c.n, TH_THREADS * TH_RUNS);
	for (size_t i = 0; i < c.n; i++)
		CHECK_EQ(c.ids[i], all[i]);
	collect_reset(&c);
	CHECK_EQ(list_into(s, filter_of(&f, STORE_RUNNING, -1), 0, &c), 0);
	CHECK_EQ(c.n, 0);
	CHECK_EQ(list_into(s, filter_of(&f, STORE_SUCCESS, -1), 0, &c), 0);
	CHECK_EQ(c.n, TH_THREADS * TH_RUNS);
	collect_reset(&c);

	store_record_clear(&rec);
	store_close(s);
}

/*
 * group_commit: 8 threads race to start and then finish the same 150
 * names on a sync=full store. Whatever batches the writes shared, each
 * change keeps its own result and its own reason: one start and one
 * finish win per name, every other start gets -EEXIST naming it, every
 * other finish -EPERM (or -ENOENT when it ran before the start); and the
 * commits are fewer than the changes.
 */
#define GC_THREADS 8
#define GC_NAMES 150

struct gc_arg {
	struct store *s;
	int start_rc[GC_NAMES], finish_rc[GC_NAMES];
};

static void *gc_worker(void *p)
{
	struct gc_arg *arg = p;
	struct store_record rec = { 0 };
	struct store_finish fin = finish_of(STORE_SUCCESS, NULL, 1, 2, 3);
	char name[32];

	for (int i = 0; i < GC_NAMES; i++) {
		snprintf(name, sizeof(name), "g%03d", i);
		arg->start_rc[i] = try_start(arg->s, name, "", "[]", NULL, "", store_now_ms(), &rec);
		store_record_clear(&rec);
		if (arg->start_rc[i] == -EEXIST)
			CHECK(strstr(store_reason(), name) != NULL);
		arg->finish_rc[i] = store_finish(arg->s, name, &fin, store_now_ms());
		if (arg->finish_rc[i] == -EPERM)
			CHECK(strstr(store_reason(), name) != NULL);
	}
	store_record_clear(&rec);
	return NULL;
}

static void case_group_commit(void)
{
	static struct gc_arg args[GC_THREADS];
	struct store *s = open_store_sync_full();
	struct store_record rec = { 0 };
	pthread_t th[GC_THREADS];
	char name[32];
	uint64_t before = store_commits(s);

	for (int t = 0; t < GC_THREADS; t++) {
		args[t].s = s;
		CHECK_EQ(pthread_create(&th[t], NULL, gc_worker, &args[t]), 0);
	}
	for (int t = 0; t < GC_THREADS; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);
	for (int i = 0; i < GC_NAMES; i++) {
		int started = 0, finished = 0;

		for (int t = 0; t < GC_THREADS; t++) {
			if (args[t].start_rc[i] == 0)
				started++;
			else
				CHECK_EQ(args[t].start_rc[i], -EEXIST);
			if (args[t].finish_rc[i] == 0)
				finished++;
			else
				CHECK(args[t].finish_rc[i] == -EPERM || args[t].finish_rc[i] == -ENOENT);
		}
		CHECK_EQ(started, 1);
		CHECK_EQ(finished, 1);
		snprintf(name, sizeof(name), "g%03d", i);
		CHECK_EQ(store_get(s, name, &rec), 0);
		CHECK_STR(rec.outcome, "success");
		CHECK_EQ(rec.references_indexed, 3);
	}
	/* Every one of the 2,400 changes went through a commit: fewer commits means shared ones. */
	CHECK(store_commits(s) - before > 0);
	CHECK(store_commits(s) - before < 2u * GC_THREADS * GC_NAMES);
	printf("# %" PRIu64 " commits for %d changes\n", store_commits(s) - before,
	       2 * GC_THREADS * GC_NAMES);
	store_record_clear(&rec);
	store_close(s);
}

/*
 * full_concurrent (LMDB): 8 threads start executions with 4 KiB of
 * arguments into a map capped at 1 MiB until each is refused. Batches that
 * meet the full map are replayed change by change: every start gets 0 or
 * -ENOSPC, every acknowledged one is there afterwards, and the count
 * matches them exactly.
 */
#define FC_THREADS 8

struct fc_arg {
	struct store *s;
	int t, ok, full;
};

static void *fc_worker(void *p)
{
	static char args[4200];
	struct fc_arg *arg = p;
	struct store_record rec = { 0 };
	char name[32];
	int rc;

	if (args[0] == '\0') /* the same text on every thread: a benign race */
		snprintf(args, sizeof(args), "[\"%04000d\"]", 0);
	for (int i = 0; i < 100000; i++) {
		snprintf(name, sizeof(name), "f%d-%05d", arg->t, i);
		rc = try_start(arg->s, name, "", args, NULL, "", store_now_ms(), &rec);
		store_record_clear(&rec);
		if (rc == -ENOSPC) {
			arg->full++;
			break;
		}
		CHECK_EQ(rc, 0);
		arg->ok++;
	}
	store_record_clear(&rec);
	return NULL;
}

static void case_full_concurrent(void)
{
	static struct fc_arg args[FC_THREADS];
	struct store_options opts = { .sync = STORE_SYNC_NORMAL, .map_max_bytes = 1 << 20 };
	struct store_record rec = { 0 };
	struct store *s = NULL;
	pthread_t th[FC_THREADS];
	uint64_t n = 0, ok = 0;
	char name[32];

	CHECK_EQ(store_open(g_backend, g_db, &opts, &s), 0);
	for (int t = 0; t < FC_THREADS; t++) {
		args[t].s = s;
		args[t].t = t;
		CHECK_EQ(pthread_create(&th[t], NULL, fc_worker, &args[t]), 0);
	}
	for (int t = 0; t < FC_THREADS; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);
	for (int t = 0; t < FC_THREADS; t++) {
		CHECK_EQ(args[t].full, 1);
		CHECK(args[t].ok > 0 || t > 0);
		ok += (uint64_t)args[t].ok;
		for (int i = 0; i < args[t].ok; i++) {
			snprintf(name, sizeof(name), "f%d-%05d", t, i);
			CHECK_EQ(store_get(s, name, &rec), 0);
		}
	}
	CHECK_EQ(store_count(s, NULL, &n), 0);
	CHECK_EQ(n, ok);
	CHECK(ok > 50); /* 1 MiB holds well over 50 of them */
	store_record_clear(&rec);
	store_close(s);
}

/*
 * list_100k_memory: the anonymous memory of the process (heap and anonymous
 * maps, not the store's file pages that LMDB or SQLite map in) and the bytes
 * malloc() has handed out are sampled during each walk. Their growth must
 * stay under a bound that does not depend on the count, and a second walk of
 * everything must cost no more than the first: that catches a per-record
 * leak too small for the bound. VmHWM or ru_maxrss would count the mapped
 * file, which for LMDB is the whole store.
 */
#define MEM_COUNT 100000
#define MEM_SAMPLE 1000
#define MEM_BOUND (16 * MIB)
#define MEM_AGAIN_BOUND (1 * MIB)

/* A line of /proc/self/status ("RssAnon", "RssFile"), in bytes. */
static int64_t proc_status_bytes(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	size_t len = strlen(key);
	char line[256];
	long long kb = -1;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, len) == 0 && line[len] == ':' &&
		    sscanf(line + len + 1, "%lld", &kb) == 1)
			break;
	fclose(f);
	CHECK(kb >= 0);
	return (int64_t)kb * 1024;
}

static int64_t rss_anon_bytes(void)
{
	return proc_status_bytes("RssAnon");
}

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#ifdef TEST_ASAN
/*
 * Under AddressSanitizer malloc() is ASan's, and the anonymous memory holds
 * its quarantine and the shadow of every page touched, the store's mapped
 * file included: only its count of live allocations means anything.
 */
#define MEM_RSS_MEANINGFUL 0
size_t __sanitizer_get_current_allocated_bytes(void);

static int64_t heap_bytes(void)
{
	return (int64_t)__sanitizer_get_current_allocated_bytes();
}
#else
#define MEM_RSS_MEANINGFUL 1

static int64_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (int64_t)(mi.uordblks + mi.hblkhd);
}
#endif

/* Memory in use, or its peak growth over a base. */
struct mem_use {
	int64_t rss, heap;
};

static struct mem_use mem_now(void)
{
	struct mem_use m = { rss_anon_bytes(), heap_bytes() };

	return m;
}

struct mem_walk {
	size_t n;
	int64_t last_id;
	int outcome; /* expected outcome, or -1 */
	struct mem_use base, peak;
};

static void mem_sample(struct mem_walk *w)
{
	struct mem_use now = mem_now();

	if (now.rss - w->base.rss > w->peak.rss)
		w->peak.rss = now.rss - w->base.rss;
	if (now.heap - w->base.heap > w->peak.heap)
		w->peak.heap = now.heap - w->base.heap;
}

static int mem_fn(void *ctx, const struct store_record *rec)
{
	struct mem_walk *w = ctx;

	if (rec->id <= w->last_id)
		fail(__FILE__, __LINE__, "ids ascending", "id %" PRId64 " after %" PRId64,
		     rec->id, w->last_id);
	w->last_id = rec->id;
	if (w->outcome >= 0)
		CHECK_STR(rec->outcome, store_outcome_name(w->outcome));
	if (++w->n % MEM_SAMPLE == 0)
		mem_sample(w);
	return 0;
}

/* Walks, checks the count and the bound; returns the peak growth over @base. */
static struct mem_use mem_walk(struct store *s, const struct store_filter *filter,
			       int outcome, size_t expected, const char *what,
			       struct mem_use base)
{
	struct mem_walk w = { .outcome = outcome, .base = base };
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(store_list(s, filter, 0, mem_fn, &w), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	mem_sample(&w);
	fprintf(stderr, "%s: %zu listed in %.2f s; growth: anon RSS %" PRId64 " KiB, heap %"
		PRId64 " KiB\n", what, w.n,
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
		w.peak.rss / 1024, w.peak.heap / 1024);
	CHECK_EQ(w.n, expected);
	if ((MEM_RSS_MEANINGFUL && w.peak.rss >= MEM_BOUND) || w.peak.heap >= MEM_BOUND)
		fail(__FILE__, __LINE__, "memory does not grow with the count",
		     "%s: anon RSS grew %" PRId64 " bytes, heap %" PRId64 " bytes, bound %d",
		     what, w.peak.rss, w.peak.heap, MEM_BOUND);
	return w.peak;
}

/* The fill of case_list_100k_memory: every MEM_FILLERS-th start, from @first. */
#define MEM_FILLERS 8

struct mem_filler {
	struct store *s;
	int first;
};

static void *mem_fill(void *arg)
{
	const struct mem_filler *mf = arg;
	char name[32];

	for (int i = mf->first; i < MEM_COUNT; i += MEM_FILLERS) {
		snprintf(name, sizeof(name), "m-%06d", i);
		/* One a second from T0: 86,400 on DAY0, the rest on the next day. */
		CHECK_EQ(try_start(mf->s, name, "", "[\"magellan\",\"index\"]", NULL, "",
				   T0_MS + (int64_t)i * 1000, NULL), 0);
	}
	return NULL;
}

static void case_list_100k_memory(void)
{
	struct store *s = open_store();
	struct store_record rec = { 0 };
	struct store_filter f;
	struct timespec t0, t1;
	struct mem_use base, first, again;
	struct mem_filler fillers[MEM_FILLERS];
	pthread_t threads[MEM_FILLERS];
	char name[32];

	/* Several writers, so that group commit shares the commits: the fill is not what is tested. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int t = 0; t < MEM_FILLERS; t++) {
		fillers[t] = (struct mem_filler){ .s = s, .first = t };
		CHECK_EQ(pthread_create(&threads[t], NULL, mem_fill, &fillers[t]), 0);
	}
	for (int t = 0; t < MEM_FILLERS; t++)
		CHECK_EQ(pthread_join(threads[t], NULL), 0);
	for (int i = 999; i < MEM_COUNT; i += 1000) {
		snprintf(name, sizeof(name), "m-%06d", i);
		finish_one(s, name, STORE_ERROR, T0_MS + (int64_t)i * 1000 + 1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "%d starts and %d finishes in %.2f s\n", MEM_COUNT,
		MEM_COUNT / 1000,
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

	/* A fresh open, so the first walk starts from cold caches. */
	store_close(s);
	s = open_store();
	base = mem_now();
	first = mem_walk(s, NULL, -1, MEM_COUNT, "all", base);
	again = mem_walk(s, NULL, -1, MEM_COUNT, "all again", base);
	if ((MEM_RSS_MEANINGFUL && again.rss - first.rss >= MEM_AGAIN_BOUND) ||
	    again.heap - first.heap >= MEM_AGAIN_BOUND)
		fail(__FILE__, __LINE__, "a second walk costs no more than the first",
		     "anon RSS %" PRId64 " then %" PRId64 ", heap %" PRId64 " then %" PRId64
		     " bytes over the base", first.rss, again.rss, first.heap, again.heap);
	mem_walk(s, filter_of(&f, STORE_RUNNING, -1), STORE_RUNNING,
		 MEM_COUNT - MEM_COUNT / 1000, "running", mem_now());
	mem_walk(s, filter_of(&f, STORE_ERROR, -1), STORE_ERROR, MEM_COUNT / 1000, "error",
		 mem_now());
	mem_walk(s, filter_of(&f, -1, DAY0), -1, 86400, "day", mem_now());

	/* The latest is the last start of one of the fillers: each ends within m-099992..9. */
	CHECK_EQ(store_latest(s, &rec), 0);
	CHECK(strncmp(rec.execution_id, "m-09999", 7) == 0 && rec.execution_id[7] >= '2');
	store_record_clear(&rec);
	/*
	 * The store's file pages this process maps stay few too: LMDB reads
	 * through its map, where each fault maps neighbours in (the whole file,
	 * tens of MiB, without lmdb_trim()); SQLite reads with read(2).
	 */
	fprintf(stderr, "file pages mapped after the walks: %" PRId64 " KiB\n",
		proc_status_bytes("RssFile") / 1024);
	if (proc_status_bytes("RssFile") >= 2 * MEM_BOUND)
		fail(__FILE__, __LINE__, "the store's mapped pages stay few",
		     "RssFile %" PRId64 " bytes", proc_status_bytes("RssFile"));
	store_close(s);
}

/*
 * processes: two other processes write to the store while this one writes
 * through its own open handle; each sees the others' executions, and ids stay
 * distinct and growing (a sequence is never cached per process).
 */
#define PR_CHILDREN 2
#define PR_RUNS 300

static void pr_child(int go_fd, int c)
{
	struct store *s;
	char name[32], byte;

	g_child = true;
	CHECK_EQ(read(go_fd, &byte, 1), 0); /* the parent closed its end: go */
	s = open_store();
	for (int i = 0; i < PR_RUNS; i++) {
		snprintf(name, sizeof(name), "c%d-%03d", c, i);
		start_one(s, name, T0_MS + i);
		finish_one(s, name, STORE_SUCCESS, T0_MS + i + 1);
	}
	store_close(s);
	exit(0);
}

/* In a child: checks it sees what the parent wrote. */
static void pr_reader(int64_t expected_count, int64_t latest_id)
{
	struct store *s;
	struct store_record rec = { 0 };
	struct collect c = { 0 };

	g_child = true;
	s = open_store();
	CHECK_EQ(store_get(s, "p-299", &rec), 0);
	CHECK_STR(rec.outcome, "partial");
	CHECK_EQ(store_latest(s, &rec), 0);
	CHECK_EQ(rec.id, latest_id);
	CHECK_EQ(list_into(s, NULL, 0, &c), 0);
	CHECK_EQ(c.n, expected_count);
	collect_reset(&c);
	store_record_clear(&rec);
	store_close(s);
	exit(0);
}

static void pr_wait(pid_t pid)
{
	int status = 0;

	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail(__FILE__, __LINE__, "child succeeded", "status 0x%x", status);
}

static struct store *volatile g_inherited_store;

static void case_processes(void)
{
	static int64_t ids[(PR_CHILDREN + 1) * PR_RUNS];
	struct store_record rec = { 0 };
	struct collect c = { 0 };
	pid_t pids[PR_CHILDREN], reader;
	struct store *s;
	int go[2];
	char name[32];
	size_t n = 0;
	int64_t last;

	/* The store exists before anyone races to create it. */
	store_close(open_store());
	CHECK_EQ(pipe(go), 0);
	fflush(NULL);
	for (int k = 0; k < PR_CHILDREN; k++) {
		pids[k] = fork();
		CHECK(pids[k] >= 0);
		if (pids[k] == 0) {
			close(go[1]);
			pr_child(go[0], k);
		}
	}
	close(go[0]);
	s = open_store();
	/* The reader forked below inherits this handle and must not touch it: kept here,
	 * a leak checker in that child sees it held rather than lost. */
	g_inherited_store = s;
	close(go[1]);
	for (int i = 0; i < PR_RUNS; i++) {
		snprintf(name, sizeof(name), "p-%03d", i);
		start_one(s, name, T0_MS + i);
		finish_one(s, name, STORE_PARTIAL, T0_MS + i + 2);
	}
	for (int k = 0; k < PR_CHILDREN; k++)
		pr_wait(pids[k]);

	/* This handle sees the children's executions, with distinct ids. */
	for (int k = -1; k < PR_CHILDREN; k++) {
		for (int i = 0; i < PR_RUNS; i++) {
			if (k < 0)
				snprintf(name, sizeof(name), "p-%03d", i);
			else
				snprintf(name, sizeof(name), "c%d-%03d", k, i);
			CHECK_EQ(store_get(s, name, &rec), 0);
			CHECK_STR(rec.outcome, k < 0 ? "partial" : "success");
			ids[n++] = rec.id;
		}
	}
	qsort(ids, n, sizeof(ids[0]), compare_ids);
	for (size_t i = 1; i < n; i++)
		if (ids[i] == ids[i - 1])
			fail(__FILE__, __LINE__, "ids distinct", "id %" PRId64 " twice", ids[i]);
	CHECK_EQ(list_into(s, NULL, 0, &c), 0);
	CHECK_EQ(c.n, n);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(c.ids[i], ids[i]);
	collect_reset(&c);
	CHECK_EQ(store_latest(s, &rec), 0);
	CHECK_EQ(rec.id, ids[n - 1]);

	/* The next id here is past every other process's. */
	last = start_one(s, "p-last", T0_MS);
	CHECK(last > ids[n - 1]);

	/* And another process sees this one's. */
	fflush(NULL);
	reader = fork();
	CHECK(reader >= 0);
	if (reader == 0)
		pr_reader((int64_t)n + 1, last);
	pr_wait(reader);

	store_record_clear(&rec);
	store_close(s);
}

static const char *other_backend(void)
{
	return strcmp(g_backend, "sqlite") == 0 ? "lmdb" : "sqlite";
}

static void case_other_backend_refused(void)
{
	const char *other = other_backend(), *found = NULL;
	char *other_path = tmp_path("other"), *missing = tmp_path("missing");
	char *keep, *digest;
	struct store *s;

	/* A store of the other kind, with a record. */
	s = open_store_at(other, other_path, false);
	start_one(s, "keep", T0_MS);
	finish_one(s, "keep", STORE_SUCCESS, T0_MS + 10);
	start_one(s, "keep-running", T0_MS + 20);
	keep = snapshot(s, "keep");
	store_close(s);

	/* This backend refuses it and touches nothing, read-write or read-only. */
	digest = tree_digest(g_dir);
	CHECK_EQ(open_rc(g_backend, other_path, false), -EMEDIUMTYPE);
	CHECK(store_reason()[0] != '\0');
	CHECK_TREE_UNCHANGED(digest);
	CHECK_EQ(open_rc(g_backend, other_path, true), -EMEDIUMTYPE);
	CHECK_TREE_UNCHANGED(digest);
	free(digest);

	/* A store of this kind, refused the other way round. */
	s = open_store();
	start_one(s, "mine", T0_MS);
	store_close(s);
	digest = tree_digest(g_dir);
	CHECK_EQ(open_rc(other, g_db, false), -EMEDIUMTYPE);
	CHECK_TREE_UNCHANGED(digest);

	/* store_detect names each and changes nothing. */
	CHECK_EQ(store_detect(other_path, &found), 0);
	CHECK_STR(found, other);
	CHECK_EQ(store_detect(g_db, &found), 0);
	CHECK_STR(found, g_backend);
	CHECK_EQ(store_detect(missing, &found), -ENOENT);
	CHECK(!path_exists(missing));
	CHECK_TREE_UNCHANGED(digest);
	free(digest);

	/* Both still open with their own backend and keep their records. */
	s = open_store_at(other, other_path, false);
	CHECK_SNAPSHOT(s, "keep", keep);
	{
		struct store_record rec = { 0 };

		CHECK_EQ(store_get(s, "keep-running", &rec), 0);
		check_running(&rec, "keep-running", T0_MS + 20);
		store_record_clear(&rec);
	}
	store_close(s);
	s = open_store();
	{
		struct store_record rec = { 0 };

		CHECK_EQ(store_get(s, "mine", &rec), 0);
		check_running(&rec, "mine", T0_MS);
		store_record_clear(&rec);
	}
	store_close(s);

	free(keep);
	free(other_path);
	free(missing);
}

/* The file that holds the records, whose bytes a read-only open must keep. */
static char *main_file(void)
{
	if (strcmp(g_backend, "lmdb") == 0)
		return xasprintf("%s/data.mdb", g_db);
	return xstrdup(g_db);
}

static void case_read_only(void)
{
	struct store *s = open_store();
	struct store_record rec = { 0 };
	struct store_finish fin = finish_of(STORE_SUCCESS, NULL, 0, 0, 0);
	struct collect c = { 0 }, before = { 0 }, after = { 0 };
	struct days d = { 0 };
	struct store_filter f;
	char *missing = tmp_path("missing"), *file;
	uint64_t file_before;
	const char *found = NULL;

	start_one(s, "run", T0_MS);
	start_one(s, "fin", T0_MS + DAY_MS);
	finish_one(s, "fin", STORE_PARTIAL, T0_MS + DAY_MS + 5);
	snapshot_all(s, &before);
	store_close(s);
	/* A server's files are not ours to hash: the snapshots compare its rows. */
	file = is_pg() ? NULL : main_file();
	CHECK(file == NULL || path_exists(file));
	file_before = file ? file_hash(file) : 0;

	s = open_store_at(g_backend, g_db, true);
	/* Reads work. */
	CHECK_EQ(store_get(s, "run", &rec), 0);
	check_running(&rec, "run", T0_MS);
	CHECK_EQ(store_get_by_id(s, rec.id, &rec), 0);
	CHECK_STR(rec.execution_id, "run");
	CHECK_EQ(store_latest(s, &rec), 0);
	CHECK_STR(rec.execution_id, "fin");
	CHECK_EQ(list_into(s, NULL, 0, &c), 0);
	CHECK_NAMES(&c, "run", "fin");
	collect_reset(&c);
	CHECK_EQ(list_into(s, filter_of(&f, STORE_PARTIAL, -1), 0, &c), 0);
	CHECK_NAMES(&c, "fin");
	collect_reset(&c);
	CHECK_EQ(store_list_days(s, -1, days_fn, &d), 0);
	CHECK_DAYS(&d, DAY0, DAY0 + 1);
	snapshot_all(s, &after);
	check_same_records(&before, &after);
	collect_reset(&after);

	/* Changes do not. */
	CHECK_EQ(try_start(s, "new", "", "[]", NULL, "", T0_MS, NULL), -EROFS);
	CHECK(store_reason()[0] != '\0');
	CHECK_EQ(store_finish(s, "run", &fin, T0_MS + 1), -EROFS);
	CHECK_EQ(store_heartbeat(s, "run", T0_MS + 1), -EROFS);
	CHECK_EQ(store_delete(s, "fin"), -EROFS);
	CHECK_EQ(store_get(s, "new", &rec), -ENOENT);
	snapshot_all(s, &after);
	check_same_records(&before, &after);
	collect_reset(&after);
	store_close(s);
	CHECK(file == NULL || file_hash(file) == file_before);

	/* Read-write again: all as it was. */
	s = open_store();
	snapshot_all(s, &after);
	check_same_records(&before, &after);
	store_close(s);

	/* A missing store is not created read-only: for postgres, a database without the table. */
	if (is_pg()) {
		char name[96];

		free(missing);
		missing = pg_create_db("empty", name, sizeof(name));
		CHECK_EQ(open_rc(g_backend, missing, true), -ENOENT);
		CHECK_EQ(open_rc(g_backend, missing, true), -ENOENT); /* still no table */
		CHECK_EQ(store_detect(missing, &found), 0);
		CHECK_STR(found, "postgres");
		pg_drop_db(name);
		free(missing);
		missing = tmp_path("missing");
		CHECK_EQ(store_detect(missing, &found), -ENOENT);
	} else {
		int rc = open_rc(g_backend, missing, true);

		if (rc != -ENOENT && rc != -EROFS)
			fail(__FILE__, __LINE__, "read-only open of a missing path refused",
			     "got %d", rc);
	}
	CHECK(!path_exists(missing));
	CHECK_EQ(store_detect(missing, &found), -ENOENT);

	collect_reset(&before);
	collect_reset(&after);
	store_record_clear(&rec);
	free(file);
	free(missing);
}

/*
 * Checks both modes of this backend refuse @path as foreign and leave it be.
 * store_detect() must say -EMEDIUMTYPE, or may name @looks_like: a corrupt
 * store that carries a backend's mark may be named for it, as long as opening
 * it is refused.
 */
static void check_foreign(const char *path, bool dir, const char *looks_like)
{
	const char *found = NULL;
	char *digest = tree_digest(g_dir);
	int rc;

	rc = open_rc(g_backend, path, false);
	if (rc != -EMEDIUMTYPE && !(dir && strcmp(g_backend, "sqlite") == 0 && rc == -EISDIR))
		fail(__FILE__, __LINE__, "store_open refuses a foreign path",
		     "%s: got %d, expected %d (-EMEDIUMTYPE)", path, rc, -EMEDIUMTYPE);
	CHECK(store_reason()[0] != '\0');
	CHECK_TREE_UNCHANGED(digest);
	rc = open_rc(g_backend, path, true);
	if (rc != -EMEDIUMTYPE && !(dir && strcmp(g_backend, "sqlite") == 0 && rc == -EISDIR))
		fail(__FILE__, __LINE__, "read-only store_open refuses a foreign path",
		     "%s: got %d, expected %d (-EMEDIUMTYPE)", path, rc, -EMEDIUMTYPE);
	CHECK_TREE_UNCHANGED(digest);
	rc = store_detect(path, &found);
	if (rc != -EMEDIUMTYPE && !(rc == 0 && looks_like && str_equal(found, looks_like)))
		fail(__FILE__, __LINE__, "store_detect finds no store",
		     "%s: got %d (%s), expected %d (-EMEDIUMTYPE)%s%s", path, rc,
		     rc == 0 ? found : "", -EMEDIUMTYPE, looks_like ? " or " : "",
		     looks_like ? looks_like : "");
	CHECK_TREE_UNCHANGED(digest);
	free(digest);
}

static void case_foreign_file_refused(void)
{
	static const char sqlite_magic[16] = "SQLite format 3";
	unsigned char garbage[8192];
	uint64_t x = UINT64_C(0x9E3779B97F4A7C15);
	char *path, *inner;

	for (size_t i = 0; i < sizeof(garbage); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		garbage[i] = (unsigned char)x;
	}

	/* Random bytes. */
	write_file(g_db, garbage, sizeof(garbage));
	check_foreign(g_db, false, NULL);

	/* A text file. */
	path = tmp_path("notes.txt");
	write_file(path, "hello, world\n", 13);
	check_foreign(path, false, NULL);
	free(path);

	/* A SQLite header over garbage: a corrupt database. */
	path = tmp_path("corrupt.sqlite");
	memcpy(garbage, sqlite_magic, sizeof(sqlite_magic));
	write_file(path, garbage, sizeof(garbage));
	check_foreign(path, false, "sqlite");
	free(path);

	/* A directory with an unrelated file in it. */
	path = tmp_path("somedir");
	CHECK_EQ(mkdir(path, 0755), 0);
	inner = xasprintf("%s/readme.txt", path);
	write_file(inner, "not a store\n", 12);
	check_foreign(path, true, NULL);
	free(inner);
	free(path);

	/* A directory whose data.mdb is garbage: a corrupt LMDB store. */
	path = tmp_path("corrupt-lmdb");
	CHECK_EQ(mkdir(path, 0755), 0);
	inner = xasprintf("%s/data.mdb", path);
	garbage[0] ^= 0xff;
	write_file(inner, garbage, sizeof(garbage));
	check_foreign(path, true, "lmdb");
	free(inner);
	free(path);
}

/*
 * watch: a backend whose other writers are all on this host says so
 * (-EOPNOTSUPP); postgres names each change another store of the same
 * database makes (start, heartbeat, finish, delete), and after its listener
 * lost the server and came back, calls with NULL: anything may have changed.
 */
struct watch_seen {
	pthread_mutex_t lock;
	char names[64][32];
	int n, nulls;
};

static void watch_fn(void *ctx, const char *execution_id)
{
	struct watch_seen *w = ctx;

	pthread_mutex_lock(&w->lock);
	if (execution_id == NULL)
		w->nulls++;
	else if (w->n < 64)
		snprintf(w->names[w->n++], sizeof(w->names[0]), "%s", execution_id);
	pthread_mutex_unlock(&w->lock);
}

/* How many times @name was reported (NULL: how many NULLs). */
static int watch_count(struct watch_seen *w, const char *name)
{
	int n = 0;

	pthread_mutex_lock(&w->lock);
	if (name == NULL)
		n = w->nulls;
	for (int i = 0; name && i < w->n; i++)
		n += strcmp(w->names[i], name) == 0;
	pthread_mutex_unlock(&w->lock);
	return n;
}

/* Waits up to 10 s for @name to have been reported @count times. */
#define CHECK_WATCHED(w, name, count)                                           \
	do {                                                                    \
		struct timespec tick_ = { 0, 10 * 1000 * 1000 };                \
		int i_;                                                         \
		for (i_ = 0; i_ < 1000 && watch_count((w), (name)) < (count); i_++) \
			nanosleep(&tick_, NULL);                                \
		CHECK_EQ(watch_count((w), (name)), (count));                    \
	} while (0)

/* Ends every session of the case's database whose query starts with @query ("" for all). */
static void pg_terminate(const char *query)
{
	/* With a timeout, pg_terminate_backend() returns once the session has ended. */
	char *sql = xasprintf("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
			      " WHERE datname = '%s' AND pid <> pg_backend_pid()"
			      " AND application_name = 'execlogfs' AND query LIKE '%s%%'",
			      g_pg_name, query);

	CHECK_EQ(pg_admin_sql(sql), 0);
	free(sql);
}

static void case_watch(void)
{
	static struct watch_seen w = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct store *a = open_store(), *b;
	struct store_finish fin = finish_of(STORE_SUCCESS, NULL, 0, 0, 0);

	if (!is_pg()) {
		CHECK_EQ(store_watch(a, watch_fn, &w), -EOPNOTSUPP);
		CHECK(store_reason()[0] != '\0');
		store_close(a);
		return;
	}
	CHECK_EQ(store_watch(a, watch_fn, &w), 0);
	CHECK_EQ(store_watch(a, watch_fn, &w), -EBUSY);
	b = open_store();
	start_one(b, "w1", T0_MS);
	CHECK_WATCHED(&w, "w1", 1);
	CHECK_EQ(store_heartbeat(b, "w1", T0_MS + 1), 0);
	CHECK_WATCHED(&w, "w1", 2);
	CHECK_EQ(store_finish(b, "w1", &fin, T0_MS + 2), 0);
	CHECK_WATCHED(&w, "w1", 3);
	/* A refused change announces nothing; the next one shows it did not. */
	CHECK_EQ(store_finish(b, "w1", &fin, T0_MS + 3), -EPERM);
	CHECK_EQ(try_start(b, "w1", "", "[]", NULL, "", T0_MS, NULL), -EEXIST);
	CHECK_EQ(store_delete(b, "w1"), 0);
	CHECK_WATCHED(&w, "w1", 4);
	/* A change of this store's own is announced too. */
	start_one(a, "w2", T0_MS);
	CHECK_WATCHED(&w, "w2", 1);
	CHECK_EQ(watch_count(&w, "w1"), 4);
	CHECK_EQ(watch_count(&w, NULL), 0);

	/* The listener's session ends, as in a restart: it comes back, says NULL, listens on. */
	pg_terminate("LISTEN");
	CHECK_WATCHED(&w, NULL, 1);
	start_one(b, "w3", T0_MS);
	CHECK_WATCHED(&w, "w3", 1);
	store_close(b);
	store_close(a);
}

/* ---- retention: the walk in start order, conditional finish and delete ---- */

/* What a walk in start order listed, and where it stood. */
struct by_start {
	struct store *s;
	struct collect c;
	struct store_start_walk w;
	size_t stop_after; /* 0: never stop */
};

static int by_start_fn(void *ctx, int64_t id, const char *execution_id, int64_t started_at)
{
	struct by_start *b = ctx;
	struct store_record rec = { 0 };

	/* Each is a finished execution of that id, name and start. */
	CHECK_EQ(store_get_by_id(b->s, id, &rec), 0);
	CHECK_STR(rec.execution_id, execution_id);
	CHECK_EQ(rec.started_at, started_at);
	CHECK(strcmp(rec.outcome, "running") != 0);
	store_record_clear(&rec);
	CHECK(b->c.n == 0 || (b->w.newest_first ? started_at <= b->w.started_at
						 : started_at >= b->w.started_at));
	b->w.started_at = started_at;
	b->w.id = id;
	collect_name_fn(&b->c, id, execution_id);
	return b->stop_after && b->c.n == b->stop_after ? 1 : 0;
}

/* Walks from the beginning (newest first or not, started before @before) into @b. */
static void walk_by_start(struct store *s, bool newest_first, int64_t before, struct by_start *b)
{
	collect_reset(&b->c);
	store_start_walk_init(&b->w, newest_first, before);
	CHECK_EQ(store_list_finished_by_start(s, &b->w, by_start_fn, b), 0);
}

/* Checks the names a walk gave (NULL-terminated), in order; ids need not ascend. */
#define CHECK_WALKED(c, ...) check_walked(__LINE__, (c), (const char *[]){ __VA_ARGS__, NULL })

static void check_walked(int line, const struct collect *c, const char *const *expected)
{
	size_t n = 0;

	while (expected[n])
		n++;
	for (size_t i = 0; i < n || i < c->n; i++) {
		const char *got = i < c->n ? c->names[i] : NULL;
		const char *want = i < n ? expected[i] : NULL;

		if (!str_equal(got, want))
			fail(__FILE__, line, "walk as expected", "entry %zu: got %s, expected %s",
			     i, got ? got : "(end)", want ? want : "(end)");
	}
}

/*
 * by_start: finished executions in order of start, whatever their ids say
 * (rows written by another program, a clock set back), before a bound,
 * newest first or not, resumed from any position; running ones never.
 */
static void case_by_start(void)
{
	struct store *s = open_store();
	const int64_t t0 = T0_MS / 1000;
	struct by_start b = { .s = s };
	const int pages = is_pg() ? 1100 : 300;
	char name[32];

	start_one(s, "a", T0_MS + 5000);
	start_one(s, "b", T0_MS + 1000);
	start_one(s, "c", T0_MS - DAY_MS);
	start_one(s, "d", T0_MS + 1999); /* b's second, a larger id */
	start_one(s, "r", T0_MS - 2 * DAY_MS);
	start_one(s, "e", T0_MS + 3000);
	start_one(s, "f", -5000); /* before 1970 */
	for (const char *n = "abcdef"; *n; n++) {
		snprintf(name, sizeof(name), "%c", *n);
		finish_one(s, name, STORE_SUCCESS, T0_MS + 9000);
	}
	walk_by_start(s, false, INT64_MAX, &b);
	CHECK_WALKED(&b.c, "f", "c", "b", "d", "e", "a");
	walk_by_start(s, true, INT64_MAX, &b);
	CHECK_WALKED(&b.c, "a", "e", "d", "b", "c", "f");
	/* The bound is on started_at, in seconds. */
	walk_by_start(s, false, t0 + 3, &b);
	CHECK_WALKED(&b.c, "f", "c", "b", "d");
	walk_by_start(s, true, t0 + 3, &b);
	CHECK_WALKED(&b.c, "d", "b", "c", "f");
	walk_by_start(s, false, -5, &b);
	CHECK_EQ(b.c.n, 0);

	/* Resumed past the last seen: b and d share a second, and b is deleted meanwhile. */
	collect_reset(&b.c);
	store_start_walk_init(&b.w, false, INT64_MAX);
	b.stop_after = 3;
	CHECK_EQ(store_list_finished_by_start(s, &b.w, by_start_fn, &b), 0);
	CHECK_WALKED(&b.c, "f", "c", "b");
	CHECK_EQ(store_delete(s, "b"), 0);
	b.stop_after = 0;
	CHECK_EQ(store_list_finished_by_start(s, &b.w, by_start_fn, &b), 0);
	CHECK_WALKED(&b.c, "f", "c", "b", "d", "e", "a");
	collect_reset(&b.c);
	store_start_walk_init(&b.w, true, INT64_MAX);
	b.stop_after = 2;
	CHECK_EQ(store_list_finished_by_start(s, &b.w, by_start_fn, &b), 0);
	b.stop_after = 0;
	CHECK_EQ(store_list_finished_by_start(s, &b.w, by_start_fn, &b), 0);
	CHECK_WALKED(&b.c, "a", "e", "d", "c", "f");

	/* Past a page of every backend (LMDB 256, PostgreSQL 1024): runs each started before the last. */
	for (int i = 0; i < pages; i++) {
		snprintf(name, sizeof(name), "p%04d", i);
		start_one(s, name, T0_MS + 10 * DAY_MS - i * 1000);
		finish_one(s, name, STORE_ERROR, T0_MS + 11 * DAY_MS);
	}
	walk_by_start(s, false, t0 + 2 * 86400, &b);
	CHECK_WALKED(&b.c, "f", "c", "d", "e", "a");
	walk_by_start(s, false, INT64_MAX, &b);
	CHECK_EQ(b.c.n, pages + 5);
	for (int i = 0; i < pages; i++) {
		snprintf(name, sizeof(name), "p%04d", pages - 1 - i);
		CHECK_STR(b.c.names[5 + i], name);
	}
	walk_by_start(s, true, INT64_MAX, &b);
	CHECK_EQ(b.c.n, pages + 5);
	CHECK_STR(b.c.names[0], "p0000");
	snprintf(name, sizeof(name), "p%04d", pages - 1);
	CHECK_STR(b.c.names[pages - 1], name);
	CHECK_STR(b.c.names[pages], "a");
	collect_reset(&b.c);
	store_close(s);
}

/*
 * finish_conditional: the finish the stale reaper makes, decided from a
 * listing read earlier, holds only for the run it read: not for the name
 * deleted and started again meanwhile, not once the run heartbeat.
 */
static void case_finish_conditional(void)
{
	struct store *s = open_store();
	struct store_finish fin = finish_of(STORE_ERROR, "abandoned: test", 0, 0, 0);
	struct store_record rec = { 0 };
	int64_t first, second;

	/* Read as stale (heartbeat T0 < T0 + 10 s); then finished, deleted, started again. */
	first = start_one(s, "x", T0_MS);
	finish_one(s, "x", STORE_SUCCESS, T0_MS + 1);
	CHECK_EQ(store_delete(s, "x"), 0);
	second = start_one(s, "x", T0_MS + 2);
	CHECK(second != first);
	fin.only_id = first;
	fin.only_stale_before_ms = T0_MS + 10000;
	CHECK_EQ(store_finish(s, "x", &fin, T0_MS + 20000), -ESTALE);
	CHECK_EQ(store_get(s, "x", &rec), 0);
	check_running(&rec, "x", T0_MS + 2);
	store_record_clear(&rec);

	/* The same run, but it heartbeat after it was read. */
	fin.only_id = second;
	CHECK_EQ(store_heartbeat(s, "x", T0_MS + 15000), 0);
	CHECK_EQ(store_finish(s, "x", &fin, T0_MS + 20000), -ESTALE);
	CHECK_EQ(store_get(s, "x", &rec), 0);
	CHECK_STR(rec.outcome, "running");
	CHECK_EQ(rec.heartbeat_ms, T0_MS + 15000);
	store_record_clear(&rec);

	/* Still that run, still silent: finished. A finish that raced it wins. */
	fin.only_stale_before_ms = T0_MS + 16000;
	CHECK_EQ(store_finish(s, "x", &fin, T0_MS + 20000), 0);
	CHECK_EQ(store_get(s, "x", &rec), 0);
	CHECK_STR(rec.outcome, "error");
	CHECK_STR(rec.error_message, "abandoned: test");
	CHECK_EQ(rec.id, second);
	store_record_clear(&rec);
	CHECK_EQ(store_finish(s, "x", &fin, T0_MS + 21000), -EPERM);
	CHECK_EQ(store_finish(s, "nobody", &fin, T0_MS + 21000), -ENOENT);
	store_close(s);
}

/* delete_run: a delete decided from a listing read earlier spares the name's next run. */
static void case_delete_run(void)
{
	struct store *s = open_store();
	struct store_record rec = { 0 };
	int64_t first, second;

	first = start_one(s, "y", T0_MS);
	finish_one(s, "y", STORE_SUCCESS, T0_MS + 1);
	CHECK_EQ(store_delete(s, "y"), 0);
	second = start_one(s, "y", T0_MS + 2);
	CHECK_EQ(store_delete_run(s, "y", second), -EBUSY);
	finish_one(s, "y", STORE_PARTIAL, T0_MS + 3);
	CHECK_EQ(store_delete_run(s, "y", first), -ESTALE);
	CHECK_EQ(store_get(s, "y", &rec), 0);
	CHECK_EQ(rec.id, second);
	CHECK_STR(rec.outcome, "partial");
	store_record_clear(&rec);
	CHECK_EQ(store_delete_run(s, "y", second), 0);
	CHECK_EQ(store_get(s, "y", &rec), -ENOENT);
	CHECK_EQ(store_delete_run(s, "y", second), -ENOENT);
	store_record_clear(&rec);
	store_close(s);
}

/*
 * reconnect (postgres): every session of the store ends, as when the server
 * restarts between two calls. The next read runs again on a new connection;
 * so does the next write, since the server said it ended the session before
 * anything was committed. Nothing acknowledged is lost.
 */
static void case_reconnect(void)
{
	struct store *s = open_store();
	struct store_record rec = { 0 };
	struct collect c = { 0 };
	uint64_t n = 0;

	CHECK(is_pg());
	start_one(s, "before", T0_MS);
	pg_terminate("");
	CHECK_EQ(store_get(s, "before", &rec), 0);
	check_running(&rec, "before", T0_MS);
	pg_terminate("");
	start_one(s, "after", T0_MS + 1);
	pg_terminate("");
	finish_one(s, "before", STORE_SUCCESS, T0_MS + 2);
	pg_terminate("");
	CHECK_EQ(store_heartbeat(s, "after", T0_MS + 3), 0);
	pg_terminate("");
	CHECK_EQ(store_check_room(s), 0);
	pg_terminate("");
	CHECK_EQ(list_into(s, NULL, 0, &c), 0);
	CHECK_NAMES(&c, "before", "after");
	collect_reset(&c);
	pg_terminate("");
	CHECK_EQ(store_count(s, NULL, &n), 0);
	CHECK_EQ(n, 2);
	pg_terminate("");
	CHECK_EQ(store_delete(s, "before"), 0);
	CHECK_EQ(store_get(s, "before", &rec), -ENOENT);
	store_record_clear(&rec);
	store_close(s);
}

/* ---- sqlite: magellan's table, and execlogfs_runs beside it ---------------- */

/* Runs @sql on the case's SQLite store with the sqlite3 shell, as another program. */
static void sqlite_shell(const char *sql)
{
	char *cmd = xasprintf("sqlite3 -cmd '.timeout 5000' '%s' \"%s\"", g_db, sql);

	CHECK_EQ(system(cmd), 0);
	free(cmd);
}

/* The integer the query @sql prints (through the sqlite3 shell), -1 for nothing. */
static int64_t sqlite_shell_int(const char *sql)
{
	char *cmd = xasprintf("sqlite3 -cmd '.timeout 5000' '%s' \"%s\"", g_db, sql);
	char line[64] = "";
	FILE *out = popen(cmd, "r");

	CHECK(out != NULL);
	if (fgets(line, sizeof(line), out) == NULL || line[0] == '\n')
		snprintf(line, sizeof(line), "-1");
	CHECK_EQ(pclose(out), 0);
	free(cmd);
	return strtoll(line, NULL, 10);
}

/* The backfill's watermark (execlogfs_counts_state.next_id): -1 once done. */
static int64_t backfill_next(void)
{
	return sqlite_shell_int("SELECT COALESCE(next_id, -1) FROM execlogfs_counts_state");
}

/* Waits, polling, for the backfill of a writable open to have counted every row. */
static void wait_backfill(void)
{
	const struct timespec tick = { .tv_nsec = 20 * 1000 * 1000 };

	for (int i = 0; i < 3000 && backfill_next() != -1; i++)
		nanosleep(&tick, NULL);
	CHECK_EQ(backfill_next(), -1);
}

/* The rows execlogfs_runs holds for @id. */
static int64_t runs_rows(int64_t id)
{
	char *sql = xasprintf("SELECT count(*) FROM execlogfs_runs WHERE id = %" PRId64, id);
	int64_t n = sqlite_shell_int(sql);

	free(sql);
	return n;
}

static int64_t start_as(struct store *s, const char *name, const char *host, const char *user,
			int64_t uid, const char *args, const char *cwd, const char *const *tags);

/* The names by_tool/@tool lists, by list_names, as check_names() expects them. */
#define CHECK_TOOL_VIEW(s, tool, ...)                                           \
	do {                                                                     \
		struct store_filter f_ = { .outcome = -1, .day = -1,             \
					   .attr = STORE_BY_TOOL, .value = (tool) }; \
		struct collect c_ = { 0 };                                       \
		CHECK_EQ(list_names_into((s), &f_, INT64_MIN, &c_), 0);          \
		check_names(__LINE__, &c_, (const char *[]){ __VA_ARGS__, NULL }); \
		collect_reset(&c_);                                              \
	} while (0)

/* The names by_tag/@pair lists, by list and by list_names, as check_names() expects them. */
#define CHECK_TAG_VIEW(s, pair, ...)                                            \
	do {                                                                     \
		struct store_filter f_ = { .outcome = -1, .day = -1,             \
					   .attr = STORE_BY_TAG, .value = (pair) }; \
		struct collect c_ = { 0 };                                       \
		CHECK_EQ(list_names_into((s), &f_, INT64_MIN, &c_), 0);          \
		check_names(__LINE__, &c_, (const char *[]){ __VA_ARGS__, NULL }); \
		collect_reset(&c_);                                              \
		CHECK_EQ(list_into((s), &f_, INT64_MIN, &c_), 0);                \
		check_names(__LINE__, &c_, (const char *[]){ __VA_ARGS__, NULL }); \
		collect_reset(&c_);                                              \
	} while (0)

/* The rows of execlogfs's table @table for @id. */
static int64_t own_rows(const char *table, int64_t id)
{
	char *sql = xasprintf("SELECT count(*) FROM %s WHERE id = %" PRId64, table, id);
	int64_t n = sqlite_shell_int(sql);

	free(sql);
	return n;
}

/*
 * Starts 64 runs "<prefix><i>" without tool or tags: the tags of the runs
 * before them are in execlogfs_tag_index then (it takes them in batches,
 * once they are SQLSTORE_TAGS_PENDING = 64 ids behind).
 */
static void start_fillers(struct store *s, const char *prefix)
{
	char name[32];

	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		start_as(s, name, "h1", "alice", 1000, "[]", NULL, NULL);
	}
}

/*
 * Provenance of rows other programs write: none (null, no tags, no
 * output) but the tool, which triggers compute from args, whatever the
 * text; and a row deleted by SQL takes its tags, provenance and output.
 */
static void magellan_provenance(struct store *s)
{
	static const char *const tags[] = { "team=web", NULL };
	struct store_record rec = { 0 };
	int64_t shell, tagged;
	size_t n = 0;

	sqlite_shell("INSERT INTO execution_log (execution_id, tool_version, args, root, db_path,"
		     " started_at, outcome) VALUES ('shell', '', json_array('/usr/bin/cc', '-c'), NULL,"
		     " '', 1767225600, 'error')");
	CHECK_EQ(store_get(s, "shell", &rec), 0);
	shell = rec.id;
	CHECK_EQ(rec.exit_code, STORE_NULL);
	CHECK_EQ(rec.signal, STORE_NULL);
	CHECK_STR(rec.host, NULL);
	CHECK_STR(rec.user, NULL);
	CHECK_EQ(rec.uid, STORE_NULL);
	CHECK_EQ(rec.pid, STORE_NULL);
	CHECK_STR(rec.cwd, NULL);
	CHECK_EQ(rec.ntags, 0);
	CHECK_EQ(rec.output_bytes, 0);
	CHECK_EQ(store_output_cut(s, shell), 0);
	CHECK_TOOL_VIEW(s, "cc", "shell");
	/* An update of its args moves it to its new tool. */
	sqlite_shell("UPDATE execution_log SET args = json_array('ld') WHERE execution_id = 'shell'");
	CHECK_TOOL_VIEW(s, "ld", "shell");
	CHECK_TOOL_VIEW(s, "cc", NULL);

	/* A text that is no array of strings fails neither the insert nor the update: no tool. */
	sqlite_shell("INSERT INTO execution_log (execution_id, tool_version, args, root, db_path,"
		     " started_at, outcome) VALUES ('bad1', '', '[1', NULL, '', 1, 'error'),"
		     " ('bad2', '', x'ff00', NULL, '', 1, 'error'), ('bad3', '', '[1, 2]', NULL, '', 1,"
		     " 'error'), ('bad4', '', '{\\\"a\\\": 1}', NULL, '', 1, 'error')");
	sqlite_shell("UPDATE execution_log SET args = '[' WHERE execution_id = 'shell'");
	CHECK_EQ(sqlite_shell_int("SELECT count(*) FROM execution_log WHERE execution_id LIKE 'bad_'"), 4);
	CHECK_EQ(sqlite_shell_int("SELECT count(*) FROM execlogfs_runs JOIN execution_log USING (id)"
				  " WHERE execution_id LIKE 'bad_' AND tool IS NOT NULL"), 0);
	CHECK_TOOL_VIEW(s, "ld", NULL);
	CHECK_EQ(store_get(s, "bad2", &rec), 0);
	CHECK_EQ(rec.ntags, 0);

	/* A delete by SQL takes everything of the row's that execlogfs kept. */
	tagged = start_as(s, "tagged", "h1", "alice", 1000, "[\"make\"]", "/src", tags);
	CHECK_EQ(store_output_append(s, tagged, 0, "out", 3, 1024, &n), 0);
	start_fillers(s, "filler-a");
	CHECK_EQ(own_rows("execlogfs_tag_index", tagged), 1);
	CHECK_EQ(own_rows("execlogfs_output", tagged), 1);
	sqlite_shell("DELETE FROM execution_log WHERE execution_id = 'tagged'");
	CHECK_EQ(own_rows("execlogfs_tag_index", tagged), 0);
	CHECK_EQ(own_rows("execlogfs_output", tagged), 0);
	CHECK_EQ(own_rows("execlogfs_runs", tagged), 0);
	CHECK_TOOL_VIEW(s, "make", NULL);
	sqlite_shell("DELETE FROM execution_log WHERE execution_id = 'shell'");
	CHECK_EQ(own_rows("execlogfs_runs", shell), 0);

	/* A change of id carries everything along. */
	tagged = start_as(s, "renumbered", "h1", "alice", 1000, "[\"make\"]", "/src", tags);
	CHECK_EQ(store_output_append(s, tagged, 0, "out", 3, 1024, &n), 0);
	start_fillers(s, "filler-b");
	CHECK_EQ(own_rows("execlogfs_tag_index", tagged), 1);
	sqlite_shell("UPDATE execution_log SET id = id + 1000000 WHERE execution_id = 'renumbered'");
	CHECK_EQ(store_get(s, "renumbered", &rec), 0);
	CHECK_EQ(rec.id, tagged + 1000000);
	CHECK_STR(rec.host, "h1");
	CHECK_EQ(rec.ntags, 1);
	CHECK_STR(rec.tags[0].value, "web");
	CHECK_EQ(rec.output_bytes, 3);
	CHECK_EQ(own_rows("execlogfs_output", tagged + 1000000), 1);
	CHECK_EQ(own_rows("execlogfs_tag_index", tagged), 0);
	CHECK_TOOL_VIEW(s, "make", "renumbered");
	/* by-tag/ lists it under its new id, before and after the index takes it. */
	CHECK_TAG_VIEW(s, "team=web", "renumbered");
	start_fillers(s, "filler-c");
	CHECK_EQ(own_rows("execlogfs_tag_index", tagged + 1000000), 1);
	CHECK_TAG_VIEW(s, "team=web", "renumbered");
	store_record_clear(&rec);
}

/*
 * The SQLite store keeps magellan's 14 columns; the millisecond times are
 * in execlogfs_runs, and rows another program writes with magellan's
 * columns alone read with the defaults, whatever it inserts, updates or
 * deletes (an id used again inherits nothing).
 */
static void case_magellan_rows(void)
{
	struct store *s = open_store();
	struct store_record rec = { 0 };
	int64_t ours, moved, theirs;
	char *sql;

	ours = start_one(s, "ours", T0_MS + 123);
	finish_one(s, "ours", STORE_SUCCESS, T0_MS + 2500);
	CHECK_EQ(duration_of(s, "ours"), 2377);
	CHECK_EQ(sqlite_shell_int("SELECT count(*) FROM pragma_table_info('execution_log')"), 14);
	sql = xasprintf("SELECT started_at_ms FROM execlogfs_runs WHERE id = %" PRId64, ours);
	CHECK_EQ(sqlite_shell_int(sql), T0_MS + 123);
	free(sql);

	/* A row of magellan's: no row of ours, read from its seconds. */
	sql = xasprintf("INSERT INTO execution_log (execution_id, tool_version, args, root, db_path,"
			" started_at, outcome) VALUES ('theirs', 'm', '[]', NULL, '/db', %" PRId64
			", 'running')", T0_MS / 1000 + 10);
	sqlite_shell(sql);
	free(sql);
	CHECK_EQ(store_get(s, "theirs", &rec), 0);
	theirs = rec.id;
	CHECK_EQ(runs_rows(theirs), 0);
	CHECK_EQ(rec.started_ms, T0_MS + 10000);
	CHECK_EQ(rec.heartbeat_ms, T0_MS + 10000);
	CHECK_EQ(rec.finished_at, STORE_NULL);
	CHECK_EQ(rec.duration_ms, STORE_NULL);
	CHECK_EQ(rec.files_indexed, 0);
	CHECK_STR(rec.outcome, "running");
	/* Its heartbeat and finish through the store are kept in ms. */
	CHECK_EQ(store_heartbeat(s, "theirs", T0_MS + 10500), 0);
	CHECK_EQ(heartbeat_of(s, "theirs"), T0_MS + 10500);
	finish_one(s, "theirs", STORE_SUCCESS, T0_MS + 12250);
	CHECK_EQ(duration_of(s, "theirs"), 2250);
	CHECK_EQ(heartbeat_of(s, "theirs"), T0_MS + 12250);

	/* A delete, through the store or by another program, takes the row of ours. */
	CHECK_EQ(store_delete(s, "ours"), 0);
	CHECK_EQ(runs_rows(ours), 0);
	sqlite_shell("DELETE FROM execution_log WHERE execution_id = 'theirs'");
	CHECK_EQ(runs_rows(theirs), 0);

	/* An id used again starts clean. */
	sql = xasprintf("INSERT INTO execution_log (id, execution_id, tool_version, args, root,"
			" db_path, started_at, outcome) VALUES (%" PRId64 ", 'reused', '', '[]', NULL,"
			" '', %" PRId64 ", 'running')", ours, T0_MS / 1000 + 20);
	sqlite_shell(sql);
	free(sql);
	CHECK_EQ(store_get(s, "reused", &rec), 0);
	CHECK_EQ(rec.id, ours);
	CHECK_EQ(rec.started_ms, T0_MS + 20000);
	CHECK_EQ(rec.heartbeat_ms, T0_MS + 20000);

	/* A start another program moves no longer has its millisecond time. */
	moved = start_one(s, "moved", T0_MS + 30456);
	sql = xasprintf("UPDATE execution_log SET started_at = started_at - 5 WHERE id = %" PRId64, moved);
	sqlite_shell(sql);
	free(sql);
	CHECK_EQ(store_get(s, "moved", &rec), 0);
	CHECK_EQ(rec.started_ms, T0_MS + 25000);
	finish_one(s, "moved", STORE_SUCCESS, T0_MS + 30000);
	CHECK_EQ(duration_of(s, "moved"), 5000);

	store_record_clear(&rec);
	magellan_provenance(s);
	store_close(s);
}

/*
 * old_layout: a store of the previous execlogfs (execlogfs_runs with the ms
 * pair only, its three triggers, no tags or output) reads under -o ro with
 * null provenance and writes nothing; a writable open migrates it keeping
 * every row and time, gives the rows their tool, and starts with
 * provenance from then on.
 */
static void case_old_layout(void)
{
	static const char *const tags[] = { "team=web", NULL };
	struct store_record rec = { 0 };
	struct store *s;
	int64_t fresh;
	size_t got = 7;
	char buf[8];

	sqlite_shell(
		"CREATE TABLE execution_log (id INTEGER PRIMARY KEY AUTOINCREMENT,"
		" execution_id TEXT NOT NULL UNIQUE, tool_version TEXT NOT NULL, args TEXT NOT NULL,"
		" root TEXT, db_path TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER,"
		" duration_ms INTEGER, outcome TEXT NOT NULL, error_message TEXT,"
		" files_indexed INTEGER DEFAULT 0, symbols_indexed INTEGER DEFAULT 0,"
		" references_indexed INTEGER DEFAULT 0);"
		"CREATE INDEX idx_execution_log_started_at ON execution_log(started_at DESC);"
		"CREATE INDEX idx_execution_log_execution_id ON execution_log(execution_id);"
		"CREATE INDEX idx_execution_log_outcome ON execution_log(outcome);"
		"CREATE TABLE execlogfs_runs (id INTEGER PRIMARY KEY, started_at_ms INTEGER,"
		" heartbeat_at_ms INTEGER);"
		"CREATE TRIGGER execlogfs_runs_insert AFTER INSERT ON execution_log"
		" BEGIN DELETE FROM execlogfs_runs WHERE id = NEW.id; END;"
		"CREATE TRIGGER execlogfs_runs_delete AFTER DELETE ON execution_log"
		" BEGIN DELETE FROM execlogfs_runs WHERE id = OLD.id; END;"
		"INSERT INTO execution_log VALUES (1, 'old', '1.0', json_array('/usr/bin/make', '-j'),"
		" NULL, '', 1767225600, 1767225602, 2345, 'success', NULL, 1, 2, 3);"
		"INSERT INTO execlogfs_runs VALUES (1, 1767225600123, 1767225602468);");

	/* Read-only: everything reads, provenance as null, and nothing is written. */
	s = open_store_at("sqlite", g_db, true);
	CHECK_EQ(store_get(s, "old", &rec), 0);
	CHECK_EQ(rec.started_ms, INT64_C(1767225600123));
	CHECK_EQ(rec.duration_ms, 2345);
	CHECK_STR(rec.host, NULL);
	CHECK_EQ(rec.exit_code, STORE_NULL);
	CHECK_EQ(rec.ntags, 0);
	CHECK_EQ(rec.output_bytes, 0);
	CHECK_TOOL_VIEW(s, "make", NULL);
	CHECK_EQ(store_output_read(s, rec.id, 0, buf, sizeof(buf), &got), 0);
	CHECK_EQ(got, 0);
	store_close(s);
	CHECK_EQ(sqlite_shell_int("SELECT count(*) FROM sqlite_master WHERE name LIKE 'execlogfs_%'"), 3);

	/* Writable: migrated, with every row and time kept. */
	s = open_store();
	CHECK_EQ(store_get(s, "old", &rec), 0);
	CHECK_EQ(rec.started_ms, INT64_C(1767225600123));
	CHECK_EQ(rec.heartbeat_ms, INT64_C(1767225602468));
	CHECK_EQ(rec.duration_ms, 2345);
	CHECK_EQ(rec.references_indexed, 3);
	CHECK_STR(rec.host, NULL);
	CHECK_EQ(rec.ntags, 0);
	/* The rows get their tool from the backfill, in the background. */
	wait_backfill();
	CHECK_TOOL_VIEW(s, "make", "old");
	CHECK_EQ(sqlite_shell_int("SELECT count(*) FROM pragma_table_info('execution_log')"), 14);
	fresh = start_as(s, "new", "h1", "alice", 1000, "[\"make\"]", "/src", tags);
	CHECK_EQ(store_get_by_id(s, fresh, &rec), 0);
	CHECK_STR(rec.host, "h1");
	CHECK_STR(rec.tags[0].value, "web");
	CHECK_TOOL_VIEW(s, "make", "old", "new");
	/* The new triggers are in place: a row of another program gets its tool. */
	sqlite_shell("INSERT INTO execution_log (execution_id, tool_version, args, db_path, started_at,"
		     " outcome) VALUES ('shell', '', json_array('make'), '', 1, 'running')");
	CHECK_TOOL_VIEW(s, "make", "old", "new", "shell");
	store_record_clear(&rec);
	store_close(s);
}

/*
 * reserve: a name reserved through one handle is refused to another handle
 * on the store (in another process: another mount) with -EEXIST until it is
 * given back, and a process that dies holding reservations leaves none.
 */
static void rs_other_refused(void)
{
	struct store *s = open_store();
	struct store_record rec = { 0 };

	CHECK_EQ(store_reserve(s, "r1"), -EEXIST);
	CHECK(strstr(store_reason(), "r1") != NULL);
	/* Another name is free; a name already started is free to reserve (the store refuses it). */
	CHECK_EQ(store_reserve(s, "r2"), 0);
	store_unreserve(s, "r2");
	CHECK_EQ(store_reserve(s, "started"), 0);
	CHECK_EQ(store_get(s, "started", &rec), 0);
	store_unreserve(s, "started");
	store_record_clear(&rec);
	store_close(s);
}

static void rs_free(void)
{
	struct store *s = open_store();

	CHECK_EQ(store_reserve(s, "r1"), 0);
	store_unreserve(s, "r1");
	store_close(s);
}

/* Reserves r3, tells the parent through @ready_fd, and waits to be killed. */
static void rs_hold(int ready_fd)
{
	struct store *s = open_store();

	CHECK_EQ(store_reserve(s, "r3"), 0);
	CHECK_EQ(write(ready_fd, "r", 1), 1);
	for (;;)
		pause();
}

/* Runs @fn in a child process of its own (its own store handle); checks it passed. */
static void rs_in_child(void (*fn)(void))
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		g_child = true;
		fn();
		exit(0);
	}
	pr_wait(pid);
}

static void case_reserve(void)
{
	struct store *a = open_store(), *ro;
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int ready[2], rc = -EEXIST;
	pid_t holder;
	char byte;

	/* The children below inherit this handle and leave it alone (see case_processes). */
	g_inherited_store = a;
	/* A start through this handle: reserved, committed, then given back. */
	CHECK_EQ(store_reserve(a, "started"), 0);
	start_one(a, "started", T0_MS);
	store_unreserve(a, "started");

	CHECK_EQ(store_reserve(a, "r1"), 0);
	rs_in_child(rs_other_refused);
	store_unreserve(a, "r1");
	rs_in_child(rs_free);
	CHECK_EQ(store_reserve(a, "r2"), 0); /* the child gave it back */
	store_unreserve(a, "r2");

	/* A holder killed with SIGKILL: its reservation goes with it. */
	CHECK_EQ(pipe(ready), 0);
	fflush(NULL);
	holder = fork();
	CHECK(holder >= 0);
	if (holder == 0) {
		g_child = true;
		close(ready[0]);
		rs_hold(ready[1]);
	}
	close(ready[1]);
	CHECK_EQ(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	CHECK_EQ(store_reserve(a, "r3"), -EEXIST);
	CHECK_EQ(kill(holder, SIGKILL), 0);
	CHECK_EQ(waitpid(holder, NULL, 0), holder);
	/* A server sees the session end a moment after the process: poll, up to 10 s. */
	for (int i = 0; i < 1000 && rc == -EEXIST; i++) {
		rc = store_reserve(a, "r3");
		if (rc == -EEXIST)
			nanosleep(&tick, NULL);
	}
	CHECK_EQ(rc, 0);
	store_unreserve(a, "r3");

	ro = open_store_at(g_backend, g_db, true);
	CHECK_EQ(store_reserve(ro, "r4"), -EROFS);
	store_close(ro);
	store_close(a);
}

/* ---- provenance: exit code, host, user, pid, cwd, tags, and views by them -- */

/* Starts @name as @user on @host with @args, @cwd and tags of "k=v" strings (NULL-terminated). */
static int64_t start_as(struct store *s, const char *name, const char *host, const char *user,
			int64_t uid, const char *args, const char *cwd, const char *const *tags)
{
	struct store_record rec = { 0 };
	int64_t id;
	size_t n = 0;

	rec.execution_id = xstrdup(name);
	rec.tool_version = xstrdup("");
	rec.args = xstrdup(args);
	rec.db_path = xstrdup("");
	rec.host = host ? xstrdup(host) : NULL;
	rec.user = user ? xstrdup(user) : NULL;
	rec.uid = uid;
	rec.pid = 4242;
	rec.cwd = cwd ? xstrdup(cwd) : NULL;
	while (tags && tags[n])
		n++;
	rec.tags = n ? xmalloc(n * sizeof(*rec.tags)) : NULL;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(tags[i], '=');

		rec.tags[i].key = strndup(tags[i], (size_t)(eq - tags[i]));
		rec.tags[i].value = xstrdup(eq + 1);
	}
	rec.ntags = n;
	rec.started_ms = T0_MS;
	CHECK_EQ(store_start(s, &rec), 0);
	id = rec.id;
	store_record_clear(&rec);
	return id;
}

struct values {
	size_t n;
	char *v[64];
};

static int values_fn(void *ctx, const char *value)
{
	struct values *vs = ctx;

	CHECK(vs->n < 64);
	vs->v[vs->n++] = xstrdup(value);
	return 0;
}

#define CHECK_VALUES(s, attr, ...)                                              \
	check_values(__LINE__, (s), (attr), (const char *[]){ __VA_ARGS__, NULL })

static void check_values(int line, struct store *s, enum store_attr attr,
			 const char *const *expected)
{
	struct values vs = { 0 };
	size_t n = 0;

	CHECK_EQ(store_list_values(s, attr, values_fn, &vs), 0);
	while (expected[n])
		n++;
	for (size_t i = 0; i < n || i < vs.n; i++) {
		const char *got = i < vs.n ? vs.v[i] : NULL;
		const char *want = i < n ? expected[i] : NULL;

		if (!str_equal(got, want))
			fail(__FILE__, line, "values as expected", "value %zu (attr %d): got %s, expected %s",
			     i, (int)attr, got ? got : "(end)", want ? want : "(end)");
	}
	for (size_t i = 0; i < vs.n; i++)
		free(vs.v[i]);
}

/* The names of the executions with @value of @attr, by list_names and by list, and their count. */
#define CHECK_VIEW(s, attr, value, ...)                                          \
	check_view(__LINE__, (s), (attr), (value), (const char *[]){ __VA_ARGS__, NULL })

static void check_view(int line, struct store *s, enum store_attr attr, const char *value,
		       const char *const *expected)
{
	struct store_filter f = { .outcome = -1, .day = -1, .attr = attr, .value = value };
	struct collect c = { 0 };
	uint64_t count = 0;
	size_t n = 0;

	while (expected[n] != NULL)
		n++;
	CHECK_EQ(list_names_into(s, &f, INT64_MIN, &c), 0);
	check_names(line, &c, expected);
	collect_reset(&c);
	CHECK_EQ(list_into(s, &f, INT64_MIN, &c), 0);
	check_names(line, &c, expected);
	collect_reset(&c);
	CHECK_EQ(store_count(s, &f, &count), 0);
	CHECK_EQ(count, n);
}

static void case_provenance(void)
{
	static const char *const tags_a[] = { "team=infra", "ci.job-1=build_2", NULL };
	static const char *const tags_b[] = { "team=web", NULL };
	struct store *s = open_store();
	struct store_record got = { 0 };
	struct store_finish fin = finish_of(STORE_ERROR, "boom", 0, 0, 0);
	struct store_filter bad = { .outcome = STORE_ERROR, .day = -1, .attr = STORE_BY_HOST,
				    .value = "h1" };
	struct collect c = { 0 };
	int64_t a;

	a = start_as(s, "a", "h1", "alice", 1000, "[\"/usr/bin/make\",\"-j\"]", "/src/a", tags_a);
	start_as(s, "b", "h2", "bob", 1001, "[\"make\"]", NULL, tags_b);
	start_as(s, "c", "h1", "1002", 1002, "[]", "/", NULL);
	start_as(s, "d", NULL, NULL, STORE_NULL, "[\"dir/\"]", NULL, NULL);

	/* Every field reads back as started; the store sets the finish's as null. */
	CHECK_EQ(store_get(s, "a", &got), 0);
	CHECK_STR(got.host, "h1");
	CHECK_STR(got.user, "alice");
	CHECK_EQ(got.uid, 1000);
	CHECK_EQ(got.pid, 4242);
	CHECK_STR(got.cwd, "/src/a");
	CHECK_EQ(got.ntags, 2);
	CHECK_STR(got.tags[0].key, "team");
	CHECK_STR(got.tags[0].value, "infra");
	CHECK_STR(got.tags[1].key, "ci.job-1");
	CHECK_STR(got.tags[1].value, "build_2");
	CHECK_EQ(got.exit_code, STORE_NULL);
	CHECK_EQ(got.signal, STORE_NULL);
	CHECK_EQ(got.output_bytes, 0);
	CHECK_EQ(store_get_by_id(s, a, &got), 0);
	CHECK_STR(got.cwd, "/src/a");
	CHECK_EQ(got.ntags, 2);
	CHECK_EQ(store_get(s, "d", &got), 0);
	CHECK_STR(got.host, NULL);
	CHECK_STR(got.user, NULL);
	CHECK_EQ(got.uid, STORE_NULL);
	CHECK_STR(got.cwd, NULL);
	CHECK_EQ(got.ntags, 0);

	/* The finish sets the exit code and the signal; a bad one changes nothing. */
	fin.exit_code = 256;
	CHECK_EQ(store_finish(s, "a", &fin, T0_MS + 5), -EINVAL);
	fin.exit_code = 2;
	fin.signal = 0;
	CHECK_EQ(store_finish(s, "a", &fin, T0_MS + 5), -EINVAL);
	fin.signal = 9;
	CHECK_EQ(store_finish(s, "a", &fin, T0_MS + 5), 0);
	fin.exit_code = fin.signal = STORE_NULL;
	CHECK_EQ(store_finish(s, "b", &fin, T0_MS + 5), 0);
	CHECK_EQ(store_get(s, "a", &got), 0);
	CHECK_EQ(got.exit_code, 2);
	CHECK_EQ(got.signal, 9);
	CHECK_STR(got.host, "h1");
	CHECK_EQ(got.ntags, 2);
	CHECK_EQ(store_get(s, "b", &got), 0);
	CHECK_EQ(got.exit_code, STORE_NULL);
	CHECK_EQ(got.signal, STORE_NULL);

	/* A listing carries them too. */
	CHECK_EQ(store_list(s, NULL, INT64_MIN, collect_fn, &c), 0);
	CHECK_EQ(c.n, 4);
	collect_reset(&c);

	/* The values in use, in byte order; tags by key, then value. */
	CHECK_VALUES(s, STORE_BY_HOST, "h1", "h2");
	CHECK_VALUES(s, STORE_BY_USER, "1002", "alice", "bob");
	CHECK_VALUES(s, STORE_BY_TOOL, "make");
	CHECK_VALUES(s, STORE_BY_TAG, "ci.job-1=build_2", "team=infra", "team=web");
	CHECK_VIEW(s, STORE_BY_HOST, "h1", "a", "c");
	CHECK_VIEW(s, STORE_BY_HOST, "h3", NULL);
	CHECK_VIEW(s, STORE_BY_USER, "bob", "b");
	CHECK_VIEW(s, STORE_BY_TOOL, "make", "a", "b");
	CHECK_VIEW(s, STORE_BY_TAG, "team=infra", "a");
	CHECK_VIEW(s, STORE_BY_TAG, "team=web", "b");
	CHECK_VIEW(s, STORE_BY_TAG, "team", NULL);
	CHECK_VIEW(s, STORE_BY_TAG, "team=", NULL);
	CHECK_EQ(list_names_into(s, &bad, INT64_MIN, &c), -EINVAL);

	/* They last: a store opened again has them all. */
	store_close(s);
	s = open_store();
	CHECK_EQ(store_get(s, "a", &got), 0);
	CHECK_EQ(got.exit_code, 2);
	CHECK_STR(got.cwd, "/src/a");
	CHECK_STR(got.tags[1].value, "build_2");
	CHECK_VIEW(s, STORE_BY_TOOL, "make", "a", "b");

	/* A delete takes the execution out of every view, and its values with it. */
	CHECK_EQ(store_delete(s, "a"), 0);
	CHECK_VALUES(s, STORE_BY_HOST, "h1", "h2");
	CHECK_VIEW(s, STORE_BY_HOST, "h1", "c");
	CHECK_VALUES(s, STORE_BY_USER, "1002", "bob");
	CHECK_VALUES(s, STORE_BY_TAG, "team=web");
	CHECK_VIEW(s, STORE_BY_TOOL, "make", "b");
	CHECK_EQ(store_delete(s, "b"), 0);
	CHECK_VALUES(s, STORE_BY_TOOL, NULL);
	CHECK_VALUES(s, STORE_BY_TAG, NULL);
	store_record_clear(&got);
	store_close(s);
}

/*
 * provenance_visits: the views by provenance list from indexes: the few
 * executions of a rare host, user, tool or tag, and the values of each,
 * cost a small part of what a listing of everything costs.
 */
static void case_provenance_visits(void)
{
	static const char *const big[] = { "k=big", NULL }, *const small[] = { "k=small", NULL };
	static const struct {
		enum store_attr attr;
		const char *value;
	} views[] = {
		{ STORE_BY_HOST, "h-small" }, { STORE_BY_USER, "u-small" },
		{ STORE_BY_TOOL, "small" }, { STORE_BY_TAG, "k=small" },
	};
	struct store *s = open_store();
	struct collect c = { 0 };
	struct values vs = { 0 };
	uint64_t before, all, cost;
	char name[32];

	for (int i = 0; i < 2000; i++) {
		bool rare = i % 1000 == 7;

		snprintf(name, sizeof(name), "v%d", i);
		start_as(s, name, rare ? "h-small" : "h-big", rare ? "u-small" : "u-big", 1000,
			 rare ? "[\"/bin/small\"]" : "[\"/bin/big\"]", NULL, rare ? small : big);
	}
	before = store_visits(s);
	CHECK_EQ(list_into(s, NULL, INT64_MIN, &c), 0);
	CHECK_EQ(c.n, 2000);
	all = store_visits(s) - before;
	collect_reset(&c);
	CHECK(all >= 2000);
	for (size_t v = 0; v < sizeof(views) / sizeof(views[0]); v++) {
		struct store_filter f = { .outcome = -1, .day = -1, .attr = views[v].attr,
					  .value = views[v].value };

		before = store_visits(s);
		CHECK_EQ(list_into(s, &f, INT64_MIN, &c), 0);
		CHECK_NAMES(&c, "v7", "v1007");
		collect_reset(&c);
		CHECK_EQ(list_names_into(s, &f, INT64_MIN, &c), 0);
		CHECK_NAMES(&c, "v7", "v1007");
		collect_reset(&c);
		cost = store_visits(s) - before;
		if (cost * 50 >= all)
			fail(__FILE__, __LINE__, "a view costs what it lists", "attr %d: %" PRIu64
			     " visits, everything %" PRIu64, (int)views[v].attr, cost, all);
		before = store_visits(s);
		CHECK_EQ(store_list_values(s, views[v].attr, values_fn, &vs), 0);
		CHECK_EQ(vs.n, 2);
		cost = store_visits(s) - before;
		if (cost * 50 >= all)
			fail(__FILE__, __LINE__, "values cost what they list", "attr %d: %" PRIu64
			     " visits, everything %" PRIu64, (int)views[v].attr, cost, all);
		for (size_t i = 0; i < vs.n; i++)
			free(vs.v[i]);
		vs.n = 0;
	}
	store_close(s);
}

/* ---- output: what a run printed, beside its record ------------------------ */

/* Checks that the output of @id is exactly @want (@n bytes), read whole and in pieces of 7. */
static void check_output(int line, struct store *s, int64_t id, const char *want, size_t n)
{
	char buf[4096];
	size_t got = 0, at = 0;

	CHECK(n < sizeof(buf));
	CHECK_EQ(store_output_read(s, id, 0, buf, sizeof(buf), &got), 0);
	if (got != n || memcmp(buf, want, n) != 0)
		fail(__FILE__, line, "output as expected", "got %zu bytes, expected %zu", got, n);
	while (at < n) {
		CHECK_EQ(store_output_read(s, id, at, buf, 7, &got), 0);
		if (got != (n - at < 7 ? n - at : 7) || memcmp(buf, want + at, got) != 0)
			fail(__FILE__, line, "output as expected", "at %zu: got %zu bytes", at, got);
		at += got;
	}
	CHECK_EQ(store_output_read(s, id, n, buf, sizeof(buf), &got), 0);
	CHECK_EQ(got, 0);
	CHECK_EQ(store_output_read(s, id, n + 1000, buf, sizeof(buf), &got), 0);
	CHECK_EQ(got, 0);
}

/* output_bytes of @name as store_get() reads it. */
static int64_t output_bytes_of(struct store *s, const char *name)
{
	struct store_record rec = { 0 };
	int64_t n;

	CHECK_EQ(store_get(s, name, &rec), 0);
	n = rec.output_bytes;
	store_record_clear(&rec);
	return n;
}

/*
 * output: appends at the end only, read back across pieces from any
 * offset, refused once the run is not running, cut at the cap keeping what
 * fits, kept across a reopen, and gone with the record (a name started
 * again has none).
 */
static void case_output(void)
{
	struct store *s = open_store();
	char want[2048], buf[16];
	size_t n = 99, len = 0, got = 0;
	int64_t id, other, again;

	id = start_one(s, "o", T0_MS);
	other = start_one(s, "p", T0_MS);
	CHECK_EQ(output_bytes_of(s, "o"), 0);
	check_output(__LINE__, s, id, "", 0);
	/* Pieces of many sizes: a read from any offset crosses them. */
	for (size_t i = 1; len + i <= 1500; i += 13) {
		for (size_t j = 0; j < i; j++)
			want[len + j] = (char)('a' + (len + j) % 26);
		CHECK_EQ(store_output_append(s, id, len, want + len, i, 1600, &n), 0);
		CHECK_EQ(n, i);
		len += i;
	}
	CHECK_EQ(output_bytes_of(s, "o"), (int64_t)len);
	check_output(__LINE__, s, id, want, len);
	/* Appends only: at another offset, EINVAL and nothing written. */
	CHECK_EQ(store_output_append(s, id, len - 1, "x", 1, 1600, &n), -EINVAL);
	CHECK_EQ(n, 0);
	CHECK_EQ(store_output_append(s, id, len + 1, "x", 1, 1600, &n), -EINVAL);
	CHECK_EQ(store_output_append(s, other, 5, "x", 1, 1600, &n), -EINVAL);
	CHECK_EQ(output_bytes_of(s, "o"), (int64_t)len);
	/* The cap: what fits is kept, EFBIG, and the output is marked cut. */
	CHECK_EQ(store_output_cut(s, id), 0);
	memcpy(want + len, "0123456789", 10);
	CHECK_EQ(store_output_append(s, id, len, want + len, 10, len + 4, &n), -EFBIG);
	CHECK_EQ(n, 4);
	len += 4;
	CHECK_EQ(store_output_cut(s, id), 1);
	CHECK_EQ(store_output_cut(s, other), 0);
	CHECK_EQ(output_bytes_of(s, "o"), (int64_t)len);
	CHECK_EQ(store_output_append(s, id, len, "x", 1, len, &n), -EFBIG);
	CHECK_EQ(n, 0);
	check_output(__LINE__, s, id, want, len);
	/* No such execution. */
	CHECK_EQ(store_output_read(s, id + 1000, 0, buf, sizeof(buf), &got), -ENOENT);
	CHECK_EQ(store_output_append(s, id + 1000, 0, "x", 1, 1600, &n), -ENOENT);
	CHECK_EQ(store_output_cut(s, id + 1000), -ENOENT);
	/* Finished, the output is read-only. */
	finish_one(s, "o", STORE_SUCCESS, T0_MS + 1000);
	CHECK_EQ(store_output_append(s, id, len, "x", 1, 1600, &n), -EPERM);
	CHECK_EQ(n, 0);

	/* It lasts. */
	store_close(s);
	s = open_store();
	check_output(__LINE__, s, id, want, len);
	CHECK_EQ(output_bytes_of(s, "o"), (int64_t)len);
	CHECK_EQ(store_output_cut(s, id), 1);
	CHECK_EQ(store_output_append(s, other, 0, "pp", 2, 1600, &n), 0);
	check_output(__LINE__, s, other, "pp", 2);

	/* Gone with its record: a name started again has none of it. */
	CHECK_EQ(store_delete(s, "o"), 0);
	CHECK_EQ(store_output_read(s, id, 0, buf, sizeof(buf), &got), -ENOENT);
	again = start_one(s, "o", T0_MS + 2000);
	CHECK(again != id);
	CHECK_EQ(output_bytes_of(s, "o"), 0);
	CHECK_EQ(store_output_cut(s, again), 0);
	check_output(__LINE__, s, again, "", 0);
	check_output(__LINE__, s, other, "pp", 2);
	store_close(s);
}

/* ---- sqlite: the counts kept in execlogfs_counts --------------------------- */

/* Inserts a row with the sqlite3 shell, as another program: @started and @outcome are SQL. */
static void foreign_row(const char *name, const char *started, const char *outcome)
{
	char *sql = xasprintf("INSERT INTO execution_log (execution_id, tool_version, args, db_path,"
			      " started_at, outcome) VALUES ('%s', 'm', json_array('/bin/%s'), '/db',"
			      " %s, %s)", name, name, started, outcome);

	sqlite_shell(sql);
	free(sql);
}

/*
 * Every count the store gives (all, by outcome, by day, by both, by
 * outcome in one call), against count(*) of the rows by the sqlite3 shell.
 */
#define CHECK_COUNTS(s) check_counts(__LINE__, (s))
static void check_counts(int line, struct store *s)
{
	const int64_t days[] = { -1, 0, DAY0 - 1, DAY0, DAY0 + 1, STORE_DAY_END - 1 };
	struct store_filter f;

	for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
		int64_t d = days[i];
		uint64_t by[STORE_OUTCOMES], n = 0;
		char *sql, day_sql[96] = "";

		if (d >= 0)
			snprintf(day_sql, sizeof(day_sql), " AND started_at >= %" PRId64
				 " AND started_at < %" PRId64, d * 86400, (d + 1) * 86400);
		CHECK_EQ(store_count_outcomes(s, filter_of(&f, -1, d), by), 0);
		for (int o = -1; o < STORE_OUTCOMES; o++) {
			sql = xasprintf("SELECT count(*) FROM execution_log WHERE 1%s%s%s%s", day_sql,
					o >= 0 ? " AND outcome = '" : "",
					o >= 0 ? store_outcome_name(o) : "", o >= 0 ? "'" : "");
			CHECK_EQ(store_count(s, filter_of(&f, o, d), &n), 0);
			if ((int64_t)n != sqlite_shell_int(sql))
				fail(__FILE__, line, "count", "outcome %d day %" PRId64 ": %" PRIu64
				     " counted, %" PRId64 " rows", o, d, n, sqlite_shell_int(sql));
			if (o >= 0 && by[o] != n)
				fail(__FILE__, line, "count_outcomes", "outcome %d day %" PRId64
				     ": %" PRIu64 ", %" PRIu64 " alone", o, d, by[o], n);
			free(sql);
		}
	}
}

/*
 * kept_counts: the counts are kept in execlogfs_counts by triggers and read
 * from it, right after the store's starts, finishes and deletes and after
 * the sqlite3 shell's inserts, updates of outcome, started_at and id, and
 * deletes, whatever started_at holds (before 1970, past the last day, a
 * text, a fraction) and for an outcome outside the four (in no outcome,
 * but in the count of all).
 */
static void case_kept_counts(void)
{
	struct store *s = open_store();
	struct store_filter f;
	uint64_t n = 0;

	CHECK_COUNTS(s);
	start_one(s, "a", T0_MS);
	start_one(s, "b", T0_MS + DAY_MS - 1);
	start_one(s, "c", T0_MS - 1);
	finish_one(s, "a", STORE_SUCCESS, T0_MS + 5);
	finish_one(s, "b", STORE_ERROR, T0_MS + DAY_MS);
	CHECK_COUNTS(s);
	foreign_row("f1", "1767225600 + 86400", "'success'");
	foreign_row("f2", "1767225600", "'killed'");
	foreign_row("f3", "-5", "'error'");
	foreign_row("f4", "253402300800", "'error'");
	foreign_row("f5", "253402300799", "'partial'");
	foreign_row("f6", "'abc'", "'partial'");
	foreign_row("f7", "1767225600.5", "'success'");
	foreign_row("f8", "0", "'running'");
	CHECK_COUNTS(s);
	CHECK_EQ(sqlite_shell_int("SELECT n FROM execlogfs_counts WHERE day = -1 AND outcome = ''"), 1);
	sqlite_shell("UPDATE execution_log SET outcome = 'partial' WHERE execution_id IN ('a', 'f2')");
	sqlite_shell("UPDATE execution_log SET outcome = 'gone' WHERE execution_id = 'f7'");
	CHECK_COUNTS(s);
	sqlite_shell("UPDATE execution_log SET started_at = started_at + 86400 WHERE execution_id IN ('a', 'f5')");
	sqlite_shell("UPDATE execution_log SET started_at = -1 WHERE execution_id = 'f1'");
	sqlite_shell("UPDATE execution_log SET started_at = 1767225600 WHERE execution_id = 'f6'");
	CHECK_COUNTS(s);
	sqlite_shell("UPDATE execution_log SET id = id + 1000 WHERE execution_id IN ('b', 'f3')");
	sqlite_shell("UPDATE execution_log SET id = id, outcome = outcome, started_at = started_at");
	CHECK_COUNTS(s);
	sqlite_shell("DELETE FROM execution_log WHERE execution_id IN ('f1', 'f2', 'f4')");
	CHECK_COUNTS(s);
	finish_one(s, "c", STORE_PARTIAL, T0_MS + 10);
	CHECK_EQ(store_delete(s, "b"), 0);
	start_one(s, "d", T0_MS + DAY_MS);
	CHECK_COUNTS(s);
	/* They are read from the aggregate: changed there, the count follows. */
	sqlite_shell("UPDATE execlogfs_counts SET n = n + 1000 WHERE day = -1 AND outcome = 'success'");
	CHECK_EQ(store_count(s, filter_of(&f, STORE_SUCCESS, -1), &n), 0);
	CHECK_EQ(n, (uint64_t)sqlite_shell_int("SELECT count(*) FROM execution_log"
					       " WHERE outcome = 'success'") + 1000);
	store_close(s);
}

/*
 * A magellan database of @n rows made by the sqlite3 shell, as magellan
 * leaves it: ids 1..n, runs over ten days from 2025-12-27 and a few before
 * 1970, every fifth an error, every 97th an outcome of its own, a duration
 * each (none for the running).
 */
static void foreign_store(int64_t n)
{
	char *sql = xasprintf(
		"PRAGMA journal_mode=WAL;"
		"CREATE TABLE execution_log (id INTEGER PRIMARY KEY AUTOINCREMENT,"
		" execution_id TEXT NOT NULL UNIQUE, tool_version TEXT NOT NULL, args TEXT NOT NULL,"
		" root TEXT, db_path TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER,"
		" duration_ms INTEGER, outcome TEXT NOT NULL, error_message TEXT,"
		" files_indexed INTEGER DEFAULT 0, symbols_indexed INTEGER DEFAULT 0,"
		" references_indexed INTEGER DEFAULT 0);"
		"CREATE INDEX idx_execution_log_started_at ON execution_log(started_at DESC);"
		"CREATE INDEX idx_execution_log_execution_id ON execution_log(execution_id);"
		"CREATE INDEX idx_execution_log_outcome ON execution_log(outcome);"
		"WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < %" PRId64 ")"
		" INSERT INTO execution_log (id, execution_id, tool_version, args, db_path, started_at,"
		" finished_at, duration_ms, outcome) SELECT i, 'r' || i, '1',"
		" json_array('/usr/bin/make', '-j' || i), '/db',"
		" CASE WHEN i %% 101 = 0 THEN -86400 - i ELSE 1766793600 + (i * 7919) %% 864000 END,"
		" 1766793600, (i * 31) %% 100000,"
		" CASE WHEN i %% 97 = 0 THEN 'killed' WHEN i %% 5 = 0 THEN 'error'"
		" WHEN i %% 13 = 0 THEN 'running' ELSE 'success' END FROM r;"
		"UPDATE execution_log SET duration_ms = NULL, finished_at = NULL WHERE outcome = 'running'",
		n);

	sqlite_shell(sql);
	free(sql);
}

/* store_summary() against the finished rows, by the sqlite3 shell. */
static void check_summary_rows(struct store *s)
{
	struct store_summary sum = { 0 };
	uint64_t finished = 0;

	CHECK_EQ(store_summary(s, &sum), 0);
	for (int b = 0; b < STORE_DURATION_BUCKETS; b++) {
		char *sql = xasprintf("SELECT count(*) FROM execution_log WHERE outcome <> 'running'"
				      " AND MAX(COALESCE(duration_ms, 0), 0) > %" PRId64 "%s%" PRId64,
				      b ? store_duration_bounds_ms[b - 1] : INT64_MIN,
				      b < STORE_DURATION_BUCKETS - 1 ? " AND MAX(COALESCE(duration_ms, 0), 0) <= " : " AND 1 <> ",
				      b < STORE_DURATION_BUCKETS - 1 ? store_duration_bounds_ms[b] : INT64_C(0));

		CHECK_EQ((int64_t)sum.finished[b], sqlite_shell_int(sql));
		free(sql);
		finished += sum.finished[b];
	}
	CHECK_EQ((int64_t)finished,
		 sqlite_shell_int("SELECT count(*) FROM execution_log WHERE outcome <> 'running'"));
	CHECK_EQ(sum.duration_sum_ms, sqlite_shell_int("SELECT sum(MAX(COALESCE(duration_ms, 0), 0))"
						       " FROM execution_log WHERE outcome <> 'running'"));
}

/* The child of backfill_killed: opens the store, tiny batches, and waits to be killed. */
static void backfill_child(void)
{
	const struct timespec tick = { .tv_sec = 1 };

	g_child = true;
	setenv("EXECLOGFS_TEST_BACKFILL_BATCH", "7", 1);
	open_store();
	for (;;)
		nanosleep(&tick, NULL);
}

/*
 * backfill_killed: the first writable open of a magellan database counts
 * its rows (and gives them their tool) in batches behind a watermark; a
 * process SIGKILLed mid-way leaves the batches it committed, others write
 * rows on both sides of the watermark meanwhile (inserts, updates of
 * outcome, started_at and id, deletes), and the next open resumes: then
 * every count, the durations and the tools are right.
 */
static void case_backfill_killed(void)
{
	const struct timespec tick = { .tv_nsec = 5 * 1000 * 1000 };
	const int64_t n = 20000;
	struct store *s;
	int64_t next = 0;
	int status;
	pid_t pid;

	foreign_store(n);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		backfill_child();
	for (int i = 0; i < 6000 && next < 1000; i++) {
		nanosleep(&tick, NULL);
		if (sqlite_shell_int("SELECT count(*) FROM sqlite_master"
				     " WHERE name = 'execlogfs_counts_state'") == 1)
			next = backfill_next();
		CHECK(next != -1); /* done before it could be killed: make n greater */
	}
	CHECK_EQ(kill(pid, SIGKILL), 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status));
	next = backfill_next();
	CHECK(next > 1000 && next < n);
	/* Others write on both sides of the watermark while no one counts. */
	sqlite_shell("UPDATE execution_log SET outcome = 'partial' WHERE id IN (2, 19998);"
		     "UPDATE execution_log SET started_at = started_at + 86400 WHERE id IN (3, 19997);"
		     "UPDATE execution_log SET id = 30000 WHERE id = 4;"
		     "UPDATE execution_log SET id = -50 WHERE id = 19996;"
		     "DELETE FROM execution_log WHERE id IN (6, 19994);");
	foreign_row("late", "1767225600", "'error'");
	/* Read-only: counted from the rows, nothing written. */
	s = open_store_at("sqlite", g_db, true);
	CHECK_COUNTS(s);
	store_close(s);
	CHECK_EQ(backfill_next(), next);
	s = open_store();
	wait_backfill();
	CHECK_COUNTS(s);
	check_summary_rows(s);
	CHECK_EQ(sqlite_shell_int("SELECT count(*) FROM execlogfs_runs WHERE tool = 'make'"),
		 sqlite_shell_int("SELECT count(*) FROM execution_log WHERE args LIKE '%make%'"));
	CHECK_EQ(sqlite_shell_int("SELECT sum(n) FROM execlogfs_counts WHERE day = -1"),
		 sqlite_shell_int("SELECT count(*) FROM execution_log"));
	store_close(s);
}

/*
 * backfill_early: a writable open of a magellan database of 200k rows
 * answers before its backfill is done (its watermark says so after the
 * first counts returned), and the counts are right from the first (from
 * the rows until the backfill ends); a close stops the backfill, and the
 * next open finishes it.
 */
static void case_backfill_early(void)
{
	struct store *s;

	foreign_store(200000);
	setenv("EXECLOGFS_TEST_BACKFILL_BATCH", "50", 1);
	s = open_store();
	unsetenv("EXECLOGFS_TEST_BACKFILL_BATCH");
	CHECK_COUNTS(s);
	check_summary_rows(s);
	CHECK(backfill_next() != -1);
	store_close(s);
	s = open_store();
	wait_backfill();
	CHECK_COUNTS(s);
	check_summary_rows(s);
	store_close(s);
}

/*
 * backfill_kept: while the backfill is under way, a count is the aggregate
 * of the rows below the watermark plus the rows from it on, not a count
 * of every row: changed there, the count follows (a count of the rows
 * would not see it); and with the sqlite3 shell's writes on both sides of
 * the watermark, every count and the summary still equal the rows.
 */
static void case_backfill_kept(void)
{
	const struct timespec tick = { .tv_nsec = 5 * 1000 * 1000 };
	struct store_filter f;
	struct store *s;
	uint64_t n = 0;

	foreign_store(3000);
	setenv("EXECLOGFS_TEST_BACKFILL_BATCH", "1", 1);
	s = open_store();
	unsetenv("EXECLOGFS_TEST_BACKFILL_BATCH");
	for (int i = 0; i < 6000 && backfill_next() < 500; i++)
		nanosleep(&tick, NULL);
	store_close(s);
	/* Stopped mid-way; read-only, nothing counts further. */
	CHECK(backfill_next() >= 500 && backfill_next() < 3000);
	s = open_store_at(g_backend, g_db, true);
	sqlite_shell("UPDATE execlogfs_counts SET n = n + 1000 WHERE day = -1 AND outcome = 'success'");
	CHECK_EQ(store_count(s, filter_of(&f, STORE_SUCCESS, -1), &n), 0);
	CHECK_EQ(n, (uint64_t)sqlite_shell_int("SELECT count(*) FROM execution_log"
					       " WHERE outcome = 'success'") + 1000);
	sqlite_shell("UPDATE execlogfs_counts SET n = n - 1000 WHERE day = -1 AND outcome = 'success'");
	CHECK_COUNTS(s);
	/* Rows changed below and above the watermark, by another program. */
	sqlite_shell("UPDATE execution_log SET outcome = 'partial' WHERE id IN (7, 2990)");
	sqlite_shell("UPDATE execution_log SET started_at = started_at + 86400 WHERE id IN (8, 2991)");
	sqlite_shell("DELETE FROM execution_log WHERE id IN (9, 2992)");
	foreign_row("late", "1767225600", "'error'");
	CHECK(backfill_next() >= 500 && backfill_next() < 3000);
	CHECK_COUNTS(s);
	check_summary_rows(s);
	store_close(s);
}

/*
 * backfill_version: the background count's batches change the aggregate,
 * not the log: store_version() stays while hundreds of them commit (a
 * report is not rendered again for each), and still moves for another
 * program's insert meanwhile.
 */
static uint64_t version_of(struct store *s);

static void case_backfill_version(void)
{
	const struct timespec tick = { .tv_nsec = 5 * 1000 * 1000 };
	struct store *s;
	uint64_t v = 0, again = 0;
	int64_t from;

	foreign_store(3000);
	setenv("EXECLOGFS_TEST_BACKFILL_BATCH", "1", 1);
	s = open_store();
	unsetenv("EXECLOGFS_TEST_BACKFILL_BATCH");
	CHECK_EQ(store_version(s, &v), 0);
	from = backfill_next();
	for (int i = 0; i < 6000 && backfill_next() < from + 200; i++)
		nanosleep(&tick, NULL);
	CHECK(backfill_next() >= from + 200);
	CHECK_EQ(store_version(s, &again), 0);
	CHECK_EQ(again, v);
	foreign_row("theirs", "1767225600", "'success'");
	CHECK_EQ(store_version(s, &again), 0);
	CHECK(again != v);
	store_close(s);
}

/* ---- store_version(): the one cheap check of a change ---------------------- */

/*
 * The version of @s now; two calls with nothing between agree. PostgreSQL's
 * is the whole server's snapshot, which other tests' databases move too:
 * there it is asked until two calls in a row agree.
 */
static uint64_t version_of(struct store *s)
{
	uint64_t v = 0, again = 0;

	CHECK_EQ(store_version(s, &v), 0);
	for (int i = 0;; i++) {
		CHECK_EQ(store_version(s, &again), 0);
		if (again == v)
			return v;
		CHECK(is_pg() && i < 1000);
		v = again;
	}
}

/* Writes a row as another program: the sqlite3 shell, psql, or (LMDB) another process. */
static void version_foreign_insert(const char *name)
{
	char *sql = xasprintf("INSERT INTO execution_log (execution_id, tool_version, args, root,"
			      " db_path, started_at, outcome) VALUES ('%s', 'm', '[]', NULL, '/db',"
			      " %" PRId64 ", 'running')", name, T0_MS / 1000);
	pid_t pid;

	if (is_pg()) {
		char *cmd = xasprintf("psql -X -q -v ON_ERROR_STOP=1 -d \"%s\" -c \"%s\" >/dev/null",
				      g_db, sql);

		CHECK_EQ(system(cmd), 0);
		free(cmd);
	} else if (strcmp(g_backend, "sqlite") == 0) {
		sqlite_shell(sql);
	} else {
		fflush(NULL);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			struct store *child;

			g_child = true;
			child = open_store();
			start_one(child, name, T0_MS);
			store_close(child);
			exit(0);
		}
		pr_wait(pid);
	}
	free(sql);
}

static void case_version(void)
{
	struct store *s = open_store(), *other;
	struct store_record rec = { 0 };
	uint64_t v;

	/* A read is no change: two calls around one agree (but where others' databases move it). */
	v = version_of(s);
	CHECK_EQ(store_get(s, "none", &rec), -ENOENT);
	CHECK(is_pg() || version_of(s) == v);
	v = version_of(s);
	/* Each committed change of this handle moves it. */
	start_one(s, "v1", T0_MS);
	CHECK(version_of(s) != v);
	v = version_of(s);
	finish_one(s, "v1", STORE_SUCCESS, T0_MS + 10);
	CHECK(version_of(s) != v);
	v = version_of(s);
	CHECK_EQ(store_delete(s, "v1"), 0);
	CHECK(version_of(s) != v);

	/* Another handle on the same store: its start, finish and delete. */
	other = open_store();
	v = version_of(s);
	start_one(other, "v2", T0_MS);
	CHECK(version_of(s) != v);
	v = version_of(s);
	finish_one(other, "v2", STORE_ERROR, T0_MS + 10);
	CHECK(version_of(s) != v);
	v = version_of(s);
	CHECK_EQ(store_delete(other, "v2"), 0);
	CHECK(version_of(s) != v);
	store_close(other);

	/* Another program: the sqlite3 shell, psql, or another process on LMDB
	 * (which inherits this handle: kept here, its leak checker sees it held). */
	g_inherited_store = s;
	v = version_of(s);
	version_foreign_insert("theirs");
	CHECK(version_of(s) != v);
	CHECK_EQ(store_get(s, "theirs", &rec), 0);
	store_record_clear(&rec);
	store_close(s);
}

/* ---- every backend: each count against the records themselves ------------ */

#define CE_THREADS 4
#define CE_RUNS 48
#define CE_DAYS 5

/* The start of run @i of thread @t, in ms: over CE_DAYS days from T0_MS. */
static int64_t ce_started_ms(int t, int i)
{
	return T0_MS + (i % CE_DAYS) * DAY_MS + t * 1000 + i;
}

/* Its outcome: a quarter each left running, success, error, partial. */
static enum store_outcome ce_outcome(int i)
{
	static const enum store_outcome o[] = { STORE_RUNNING, STORE_SUCCESS, STORE_ERROR, STORE_PARTIAL };

	return o[i % 4];
}

/* Its duration in ms, spread over the buckets (up to 5000 s). */
static int64_t ce_duration_ms(int t, int i)
{
	return (int64_t)(i * 7919 + t * 104729) % 5000000;
}

static void *ce_worker(void *p)
{
	struct th_arg *arg = p;
	struct store_finish fin;
	char name[32];

	for (int i = 0; i < CE_RUNS; i++) {
		snprintf(name, sizeof(name), "c%d-%02d", arg->t, i);
		start_one(arg->s, name, ce_started_ms(arg->t, i));
		if (ce_outcome(i) == STORE_RUNNING)
			continue;
		fin = finish_of(ce_outcome(i), ce_outcome(i) == STORE_ERROR ? "failed" : NULL, i, 0, 0);
		CHECK_EQ(store_finish(arg->s, name, &fin,
				      ce_started_ms(arg->t, i) + ce_duration_ms(arg->t, i)), 0);
		/* Every fifth finished run deleted again. */
		if (i % 5 == 0)
			CHECK_EQ(store_delete(arg->s, name), 0);
	}
	return NULL;
}

/* What the records themselves say, walked with store_list(). */
struct ce_expect {
	uint64_t all, by_outcome[STORE_OUTCOMES];
	uint64_t day[CE_DAYS], day_outcome[CE_DAYS][STORE_OUTCOMES];
	uint64_t finished[STORE_DURATION_BUCKETS];
	int64_t duration_sum_ms, last_finished_at;
};

static int ce_walk(void *ctx, const struct store_record *rec)
{
	struct ce_expect *e = ctx;
	int o = store_outcome_from_name(rec->outcome);
	int64_t d = store_day_of(rec->started_at) - DAY0;

	CHECK(o >= 0 && d >= 0 && d < CE_DAYS);
	e->all++;
	e->by_outcome[o]++;
	e->day[d]++;
	e->day_outcome[d][o]++;
	if (o != STORE_RUNNING) {
		CHECK(rec->duration_ms != STORE_NULL && rec->finished_at != STORE_NULL);
		e->finished[store_duration_bucket(rec->duration_ms)]++;
		e->duration_sum_ms += rec->duration_ms;
		if (e->last_finished_at == STORE_NULL || rec->finished_at > e->last_finished_at)
			e->last_finished_at = rec->finished_at;
	}
	return 0;
}

/* store_count() of outcome @o (-1: any) and day @d (-1: any) is @want. */
static void ce_check_count(struct store *s, int o, int64_t d, uint64_t want)
{
	struct store_filter f;
	uint64_t n = UINT64_MAX;

	CHECK_EQ(store_count(s, filter_of(&f, o, d), &n), 0);
	if (n != want)
		fail(__FILE__, __LINE__, "count", "outcome %d day %" PRId64 ": %" PRIu64
		     " counted, %" PRIu64 " records", o, d, n, want);
}

/*
 * counts_exact: 4 threads start, finish (every outcome) and delete at
 * once; then every count the store gives (all, each outcome, each day
 * used, each day and outcome; by outcome in one call, with and without a
 * day) and its summary equal what its records, walked with store_list(),
 * say. Aggregates kept by a backend must agree with its rows.
 */
static void case_counts_exact(void)
{
	static struct th_arg args[CE_THREADS];
	struct ce_expect e = { .last_finished_at = STORE_NULL };
	struct store_summary sum = { 0 };
	struct store_filter f;
	struct store *s = open_store();
	pthread_t th[CE_THREADS];
	int64_t last_ever = STORE_NULL;

	for (int t = 0; t < CE_THREADS; t++) {
		args[t].s = s;
		args[t].t = t;
		CHECK_EQ(pthread_create(&th[t], NULL, ce_worker, &args[t]), 0);
	}
	for (int t = 0; t < CE_THREADS; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);
	CHECK_EQ(store_list(s, filter_of(&f, -1, -1), 0, ce_walk, &e), 0);
	/* 7 of each thread's 36 finished runs deleted: a walk that lost rows would say less. */
	CHECK_EQ(e.all, (uint64_t)(CE_THREADS * CE_RUNS - CE_THREADS * 7));

	ce_check_count(s, -1, -1, e.all);
	for (int o = 0; o < STORE_OUTCOMES; o++)
		ce_check_count(s, o, -1, e.by_outcome[o]);
	for (int d = 0; d < CE_DAYS; d++) {
		ce_check_count(s, -1, DAY0 + d, e.day[d]);
		for (int o = 0; o < STORE_OUTCOMES; o++)
			ce_check_count(s, o, DAY0 + d, e.day_outcome[d][o]);
	}
	/* A day with no run. */
	ce_check_count(s, -1, DAY0 + CE_DAYS, 0);
	for (int d = -1; d < CE_DAYS; d++) {
		uint64_t by[STORE_OUTCOMES] = { 0 };

		CHECK_EQ(store_count_outcomes(s, filter_of(&f, -1, d < 0 ? -1 : DAY0 + d), by), 0);
		for (int o = 0; o < STORE_OUTCOMES; o++)
			CHECK_EQ(by[o], d < 0 ? e.by_outcome[o] : e.day_outcome[d][o]);
	}

	CHECK_EQ(store_summary(s, &sum), 0);
	for (int b = 0; b < STORE_DURATION_BUCKETS; b++)
		CHECK_EQ(sum.finished[b], e.finished[b]);
	CHECK_EQ(sum.duration_sum_ms, e.duration_sum_ms);
	/* The latest finish: of the records, or (kept aggregates) of a run deleted since. */
	for (int t = 0; t < CE_THREADS; t++)
		for (int i = 0; i < CE_RUNS; i++) {
			int64_t at = (ce_started_ms(t, i) + ce_duration_ms(t, i)) / 1000;

			if (ce_outcome(i) != STORE_RUNNING && (last_ever == STORE_NULL || at > last_ever))
				last_ever = at;
		}
	CHECK(sum.last_finished_at >= e.last_finished_at && sum.last_finished_at <= last_ever);
	store_close(s);
}

static const struct {
	const char *name;
	void (*run)(void);
} cases[] = {
	{ "roundtrip", case_roundtrip },
	{ "duplicate", case_duplicate },
	{ "outcomes", case_outcomes },
	{ "finish_twice", case_finish_twice },
	{ "unknown", case_unknown },
	{ "delete", case_delete },
	{ "list_order", case_list_order },
	{ "list_filter", case_list_filter },
	{ "count", case_count },
	{ "list_recent", case_list_recent },
	{ "summary", case_summary },
	{ "list_names", case_list_names },
	{ "list_visits", case_list_visits },
	{ "list_resume_concurrent", case_list_resume_concurrent },
	{ "latest_days", case_latest_days },
	{ "days_extreme", case_days_extreme },
	{ "heartbeat", case_heartbeat },
	{ "persistence", case_persistence },
	{ "duration_precision", case_duration_precision },
	{ "same_ms_ids", case_same_ms_ids },
	{ "threads_4x1000", case_threads_4x1000 },
	{ "group_commit", case_group_commit },
	{ "full_concurrent", case_full_concurrent },
	{ "list_100k_memory", case_list_100k_memory },
	{ "processes", case_processes },
	{ "other_backend_refused", case_other_backend_refused },
	{ "read_only", case_read_only },
	{ "foreign_file_refused", case_foreign_file_refused },
	{ "watch", case_watch },
	{ "reconnect", case_reconnect },
	{ "magellan_rows", case_magellan_rows },
	{ "by_start", case_by_start },
	{ "finish_conditional", case_finish_conditional },
	{ "delete_run", case_delete_run },
	{ "reserve", case_reserve },
	{ "provenance", case_provenance },
	{ "old_layout", case_old_layout },
	{ "provenance_visits", case_provenance_visits },
	{ "output", case_output },
	{ "version", case_version },
	{ "counts_exact", case_counts_exact },
	{ "kept_counts", case_kept_counts },
	{ "backfill_killed", case_backfill_killed },
	{ "backfill_early", case_backfill_early },
	{ "backfill_kept", case_backfill_kept },
	{ "backfill_version", case_backfill_version },
};

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s BACKEND CASE\n", argv[0]);
		return 2;
	}
	g_backend = argv[1];
	g_case = argv[2];
	if (strcmp(g_backend, "sqlite") != 0 && strcmp(g_backend, "lmdb") != 0 && !is_pg()) {
		fprintf(stderr, "%s: unknown backend %s (sqlite, lmdb, postgres)\n", argv[0], g_backend);
		return 2;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].name, g_case) == 0) {
			make_tmpdir();
			if (is_pg())
				make_pg_db();
			cases[i].run();
			remove_tmpdir();
			printf("ok - %s %s\n", g_backend, g_case);
			return 0;
		}
	}
	fprintf(stderr, "%s: unknown case %s\n", argv[0], g_case);
	return 2;
}
