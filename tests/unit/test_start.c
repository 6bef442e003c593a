/*
 * test_start.c - the start session (fs/start.c) against a real store, with
 * no FUSE and no mount: what a writer to new/<id> sees, write by write.
 *
 * Usage: test_start BACKEND CASE; tests/meson.build registers each case per
 * file backend. A case works in its own mkdtemp() directory, keeps its store
 * at DIR/db, and removes the directory when it exits, also after a failed
 * check.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pending.h"
#include "start.h"

static const char *g_backend;
static const char *g_case;
static char g_dir[PATH_MAX];
static char g_db[PATH_MAX + 8];
static struct fs_start_env g_env;

#define CHECK(expr) do { if (!(expr)) fail(__LINE__, #expr); } while (0)
/* A call that must give @want (0 or -errno). */
#define CHECK_ERR(call, want) do { int got_ = (call); \
	if (got_ != (want)) fail_err(__LINE__, #call, got_, (want)); } while (0)

static void fail(int line, const char *expr) __attribute__((noreturn));
static void fail(int line, const char *expr)
{
	fprintf(stderr, "test_start.c:%d: [%s %s] check failed: %s; reason: \"%s\"\n", line,
		g_backend, g_case, expr, fs_reason());
	exit(1);
}

static void fail_err(int line, const char *call, int got, int want) __attribute__((noreturn));
static void fail_err(int line, const char *call, int got, int want)
{
	fprintf(stderr, "test_start.c:%d: [%s %s] %s gave %d (%s), not %d (%s); reason: \"%s\"\n",
		line, g_backend, g_case, call, got, strerror(-got), want, strerror(-want), fs_reason());
	exit(1);
}

/* ---- the store and the table of claims ---------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	store_close(g_env.store);
	fs_pending_free(g_env.pending);
	if (g_dir[0] != '\0')
		nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	struct store_options so = { .sync = STORE_SYNC_NORMAL };

	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	snprintf(g_dir, sizeof(g_dir), "%s/test_start-%s-%s-XXXXXX", tmp, g_backend, g_case);
	if (mkdtemp(g_dir) == NULL) {
		g_dir[0] = '\0';
		fail(__LINE__, "mkdtemp");
	}
	atexit(teardown);
	snprintf(g_db, sizeof(g_db), "%s/db", g_dir);
	CHECK_ERR(store_open(g_backend, g_db, &so, &g_env.store), 0);
	g_env.pending = fs_pending_new();
	CHECK(g_env.pending != NULL);
}

/* Whether the store has execution @name; its record in @rec if given. */
static bool started(const char *name, struct store_record *rec)
{
	struct store_record r = { 0 };
	int err = store_get(g_env.store, name, &r);

	CHECK(err == 0 || err == -ENOENT);
	if (rec)
		*rec = r;
	else
		store_record_clear(&r);
	return err == 0;
}

/* Writes @text at the session's next offset (@off), as one write(2). */
static int write_at(struct fs_start *s, const char *text, uint64_t off)
{
	return fs_start_write(s, text, strlen(text), off);
}

/* ---- the cases ----------------------------------------------------------- */

/* A document in pieces starts at the write that completes it, not before. */
static void test_pieces(void)
{
	const char *a = "{\"tool_version\": \"1.", *b = "2\", \"args\": [\"make\"]", *c = "}\n";
	struct store_record rec = { 0 };
	struct fs_start *s;

	CHECK_ERR(fs_start_open(&g_env, "run-1", NULL, &s), 0);
	CHECK_ERR(write_at(s, a, 0), 0);
	CHECK(!started("run-1", NULL));
	CHECK_ERR(write_at(s, b, strlen(a)), 0);
	CHECK(!started("run-1", NULL));
	CHECK_ERR(write_at(s, c, strlen(a) + strlen(b)), 0);
	CHECK(started("run-1", &rec));
	CHECK(strcmp(rec.tool_version, "1.2") == 0);
	CHECK(strcmp(rec.args, "[\"make\"]") == 0);
	CHECK(strcmp(rec.outcome, "running") == 0);
	store_record_clear(&rec);
	CHECK_ERR(fs_start_flush(s), 0);
	fs_start_release(s);
	fs_start_free(s);
	CHECK(started("run-1", NULL));
}

/* White space after a complete document is taken; a write out of order is not. */
static void test_trailing_space(void)
{
	struct fs_start *s;

	CHECK_ERR(fs_start_open(&g_env, "run-1", NULL, &s), 0);
	CHECK_ERR(write_at(s, "{}", 0), 0);
	CHECK(started("run-1", NULL));
	CHECK_ERR(write_at(s, " \n\t\r\n", 2), 0);
	CHECK_ERR(write_at(s, "\n", 100), -EINVAL);
	CHECK_ERR(fs_start_flush(s), 0);
	fs_start_release(s);
	fs_start_free(s);
}

/* Anything but white space after it is EINVAL, and the start stands. */
static void test_trailing_junk(void)
{
	struct fs_start *s;

	CHECK_ERR(fs_start_open(&g_env, "run-1", NULL, &s), 0);
	CHECK_ERR(write_at(s, "{}", 0), 0);
	CHECK_ERR(write_at(s, "x", 2), -EINVAL);
	CHECK_ERR(fs_start_flush(s), 0);
	fs_start_release(s);
	fs_start_free(s);
	CHECK(started("run-1", NULL));
}

/* An incomplete document fails its close and starts nothing, and frees the name. */
static void test_incomplete_close(void)
{
	struct fs_start *s;

	CHECK_ERR(fs_start_open(&g_env, "run-1", NULL, &s), 0);
	CHECK_ERR(write_at(s, "{\"args\": [", 0), 0);
	CHECK_ERR(fs_start_flush(s), -EINVAL);
	fs_start_release(s);
	fs_start_free(s);
	CHECK(!started("run-1", NULL));
	/* The name is free again: a new session may take it. */
	CHECK_ERR(fs_start_open(&g_env, "run-1", NULL, &s), 0);
	fs_start_free(s);
}

/* A session with nothing written commits at its release (not at its close), with defaults. */
static void test_empty_release(void)
{
	struct store_record rec = { 0 };
	struct fs_start *s;

	CHECK_ERR(fs_start_open(&g_env, "run-1", NULL, &s), 0);
	CHECK_ERR(write_at(s, " \n", 0), 0);
	CHECK_ERR(fs_start_flush(s), 0);
	CHECK(!started("run-1", NULL));
	fs_start_release(s);
	CHECK(started("run-1", &rec));
	CHECK(strcmp(rec.args, "[]") == 0);
	store_record_clear(&rec);
	fs_start_free(s);
}

/* Past the budget of all sessions, a write is ENOSPC (and that session refused for good). */
static void test_budget(void)
{
	struct fs_start *s1, *s2;
	char piece[4098];

	fs_start_set_budget(8192);
	memset(piece, ' ', sizeof(piece) - 1);
	piece[0] = '{';
	piece[sizeof(piece) - 1] = '\0';
	CHECK_ERR(fs_start_open(&g_env, "run-1", NULL, &s1), 0);
	CHECK_ERR(fs_start_open(&g_env, "run-2", NULL, &s2), 0);
	/* run-1 takes 8 KiB of buffer (4097 bytes grow it past 4 KiB): the whole budget. */
	CHECK_ERR(write_at(s1, piece, 0), 0);
	CHECK_ERR(write_at(s2, "{", 0), -ENOSPC);
	CHECK_ERR(write_at(s2, "}", 1), -ENOSPC); /* refused for good: the same again */
	/* run-1 completes and gives its buffer back: a new session fits. */
	CHECK_ERR(write_at(s1, "}", sizeof(piece) - 1), 0);
	CHECK(started("run-1", NULL));
	fs_start_release(s2);
	fs_start_free(s2);
	CHECK(!started("run-2", NULL));
	CHECK_ERR(fs_start_open(&g_env, "run-2", NULL, &s2), 0);
	CHECK_ERR(write_at(s2, "{}", 0), 0);
	CHECK(started("run-2", NULL));
	fs_start_free(s2);
	fs_start_release(s1);
	fs_start_free(s1);
}

/* A name claimed by a session in progress is EEXIST, and so is one the store has. */
static void test_claimed_twice(void)
{
	struct fs_start *s, *again = NULL;

	CHECK_ERR(fs_start_open(&g_env, "run-1", NULL, &s), 0);
	CHECK_ERR(fs_start_open(&g_env, "run-1", NULL, &again), -EEXIST);
	CHECK(again == NULL);
	CHECK_ERR(write_at(s, "{}", 0), 0);
	CHECK_ERR(fs_start_open(&g_env, "run-1", NULL, &again), -EEXIST);
	fs_start_release(s);
	fs_start_free(s);
	CHECK_ERR(fs_start_open(&g_env, "run-1", NULL, &again), -EEXIST);
	CHECK_ERR(fs_start_open(&g_env, "bad/name", NULL, &again), -EINVAL);
}

/*
 * Who started it reaches the record, from the session and never from the
 * document: on a start completed by a write, on an empty start committed
 * at its release, and as nulls with no provenance at all.
 */
static void test_provenance(void)
{
	const struct fs_start_who who = { .host = "build-7", .user = "alice", .uid = 1234,
					  .pid = 4321 };
	struct store_record rec = { 0 };
	struct fs_start *s;

	CHECK_ERR(fs_start_open(&g_env, "run-1", &who, &s), 0);
	CHECK_ERR(write_at(s, "{\"args\": [\"/usr/bin/make\", \"-j\"]}", 0), 0);
	fs_start_release(s);
	fs_start_free(s);
	CHECK(started("run-1", &rec));
	CHECK(rec.host && strcmp(rec.host, "build-7") == 0);
	CHECK(rec.user && strcmp(rec.user, "alice") == 0);
	CHECK(rec.uid == 1234 && rec.pid == 4321);
	CHECK(rec.exit_code == STORE_NULL && rec.signal == STORE_NULL);
	store_record_clear(&rec);

	CHECK_ERR(fs_start_open(&g_env, "run-2", &(struct fs_start_who){ .host = "h2", .user = "0",
								     .uid = 0, .pid = 1 }, &s), 0);
	CHECK_ERR(fs_start_flush(s), 0);
	fs_start_release(s);
	fs_start_free(s);
	CHECK(started("run-2", &rec));
	CHECK(rec.host && strcmp(rec.host, "h2") == 0);
	CHECK(rec.user && strcmp(rec.user, "0") == 0);
	CHECK(rec.uid == 0 && rec.pid == 1);
	store_record_clear(&rec);

	CHECK_ERR(fs_start_open(&g_env, "run-3", NULL, &s), 0);
	CHECK_ERR(write_at(s, "{}", 0), 0);
	fs_start_free(s);
	CHECK(started("run-3", &rec));
	CHECK(rec.host == NULL && rec.user == NULL);
	CHECK(rec.uid == STORE_NULL && rec.pid == STORE_NULL);
	store_record_clear(&rec);
}

/* A uid's user is the password database's name, or the uid as text when it has none. */
static void test_user_name(void)
{
	char name[FS_USER_NAME_MAX + 1], again[FS_USER_NAME_MAX + 1];
	struct passwd *pw = getpwuid(getuid());
	uid_t nobody = 2147480000; /* a uid no test machine names */

	CHECK(pw != NULL);
	fs_start_user_name(getuid(), name);
	CHECK(strcmp(name, pw->pw_name) == 0);
	fs_start_user_name(getuid(), again); /* remembered: the same */
	CHECK(strcmp(again, pw->pw_name) == 0);
	CHECK(getpwuid(nobody) == NULL);
	fs_start_user_name(nobody, name);
	CHECK(strcmp(name, "2147480000") == 0);
}

static const struct {
	const char *name;
	void (*run)(void);
} cases[] = {
	{ "pieces", test_pieces },
	{ "trailing_space", test_trailing_space },
	{ "trailing_junk", test_trailing_junk },
	{ "incomplete_close", test_incomplete_close },
	{ "empty_release", test_empty_release },
	{ "budget", test_budget },
	{ "claimed_twice", test_claimed_twice },
	{ "user_name", test_user_name },
	{ "provenance", test_provenance },
};

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s BACKEND CASE\n", argv[0]);
		return 2;
	}
	g_backend = argv[1];
	g_case = argv[2];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].name, g_case) == 0) {
			setup();
			cases[i].run();
			printf("ok - %s %s\n", g_backend, g_case);
			return 0;
		}
	}
	fprintf(stderr, "%s: unknown case %s\n", argv[0], g_case);
	return 2;
}
