/*
 * sqlite.c - the SQLite backend: magellan's execution_log table, exactly.
 *
 * The table, its constraints and its three indexes are those of magellan's
 * execution log, so a database written by either reads right on the other.
 * What execlogfs keeps beyond them (the start and the last heartbeat in ms,
 * so that duration_ms keeps millisecond precision across a remount, the
 * provenance, tags and output) lives in execlogfs_runs, execlogfs_tag_index and
 * execlogfs_output, keyed by id: sqlite_schema.c sets them up and brings
 * back a store that execlogfs 0.1.0 gave two columns; sqlite_prov.c and
 * sqlite_output.c read and write them.
 *
 * One table of our own, execlogfs_durations, holds store_summary()'s
 * aggregates: per duration bucket (le_ms, its upper bound), the finished
 * executions, the sum of their duration_ms and their latest finished_at.
 * Three triggers on execution_log keep it in step with every insert, finish
 * and delete, whoever writes (magellan too); a writable open creates it,
 * filled once from the rows, when it is missing or of other buckets.
 *
 * Each calling thread borrows a connection from a small pool, with its
 * prepared statements, so that readers run in parallel under WAL; every
 * change runs in a savepoint of the group commit's transaction, so it is
 * atomic, and undone alone when refused.
 * Parameters are always bound, never printed into SQL.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "sqlstore.h"

static int sqlstore_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return -EMEDIUMTYPE;
	case SQLITE_TOOBIG:
		return -EFBIG;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	default:
		return -EIO;
	}
}

int sqlstore_fail(sqlite3 *db, int rc, const char *doing)
{
	int err = sqlstore_errno(rc);
	int sys = db ? sqlite3_system_errno(db) : 0;

	if (rc == SQLITE_CANTOPEN && sys > 0)
		err = -sys;
	return store_fail(err, "sqlite: %s: %s", doing, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static int sqlstore_detect(const char *path)
{
	static const char magic[16] = "SQLite format 3";
	char head[16];
	struct stat st;
	ssize_t got;
	int fd;

	if (stat(path, &st) != 0)
		return errno == ENOENT ? -ENOENT : -errno;
	if (!S_ISREG(st.st_mode))
		return -EMEDIUMTYPE;
	if (st.st_size == 0)
		return 0; /* SQLite's own convention: an empty file is an empty database. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	got = read(fd, head, sizeof(head));
	close(fd);
	if (got != (ssize_t)sizeof(head) || memcmp(head, magic, sizeof(magic)) != 0)
		return -EMEDIUMTYPE;
	return 0;
}

static void sqlstore_conn_free(struct sqlstore_conn *c)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close_v2(c->db);
	free(c);
}

static int sqlstore_conn_new(struct sqlstore *s, struct sqlstore_conn **out)
{
	const char *sync = s->base.opts.sync == STORE_SYNC_FULL ? "FULL" : "NORMAL";
	struct sqlstore_conn *c;
	char pragmas[128];
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return store_fail(-ENOMEM, "sqlite: out of memory");
	rc = sqlite3_open_v2(s->open_name, &c->db, s->open_flags, NULL);
	if (rc != SQLITE_OK) {
		rc = sqlstore_fail(c->db, rc, "open");
		goto conn_free;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, 5000);
	/* Read-only, nothing is written, and a store on read-only media has nowhere to write. */
	snprintf(pragmas, sizeof(pragmas), "PRAGMA synchronous=%s;", sync);
	rc = s->base.opts.read_only ? SQLITE_OK : sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = sqlstore_fail(c->db, rc, "set synchronous");
		goto conn_free;
	}
	/*
	 * The journal of a change's savepoint stays in memory: a start with
	 * tags touches enough pages to spill it to a temporary file otherwise,
	 * created and unlinked at every start (nearly 3x the cost of a start).
	 */
	rc = sqlite3_exec(c->db, "PRAGMA temp_store=MEMORY", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = sqlstore_fail(c->db, rc, "set temp_store");
		goto conn_free;
	}
	*out = c;
	return 0;

conn_free:
	sqlstore_conn_free(c);
	return rc;
}

int sqlstore_take(struct sqlstore *s, struct sqlstore_conn **out)
{
	pthread_mutex_lock(&s->pool_lock);
	*out = s->idle;
	if (*out)
		s->idle = (*out)->next;
	pthread_mutex_unlock(&s->pool_lock);
	if (*out)
		return 0;
	return sqlstore_conn_new(s, out);
}

void sqlstore_put(struct sqlstore *s, struct sqlstore_conn *c)
{
	pthread_mutex_lock(&s->pool_lock);
	c->next = s->idle;
	s->idle = c;
	pthread_mutex_unlock(&s->pool_lock);
}

int sqlstore_stmt(struct sqlstore *s, struct sqlstore_conn *c, enum sqlstore_stmt_id id,
		  sqlite3_stmt **out)
{
	int rc;

	if (c->stmt[id] == NULL) {
		rc = sqlite3_prepare_v3(c->db, s->sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					&c->stmt[id], NULL);
		if (rc != SQLITE_OK)
			return sqlstore_fail(c->db, rc, "prepare");
	}
	sqlite3_reset(c->stmt[id]);
	sqlite3_clear_bindings(c->stmt[id]);
	*out = c->stmt[id];
	return 0;
}

/*
 * Borrows a connection and its prepared statement @id, ready to bind: what
 * every call below begins with. On error nothing is held.
 */
int sqlstore_begin(struct sqlstore *s, enum sqlstore_stmt_id id,
		   struct sqlstore_conn **c, sqlite3_stmt **st)
{
	int err = sqlstore_take(s, c);

	if (err)
		return err;
	err = sqlstore_stmt(s, *c, id, st);
	if (err)
		sqlstore_put(s, *c);
	return err;
}

/*
 * Switches to WAL. Only one connection can make the switch; when another
 * process is making it at the same moment, ours sees SQLITE_BUSY, and what
 * matters is only that the database ends up in WAL mode.
 */
static int sqlstore_wal(sqlite3 *db)
{
	int rc = SQLITE_BUSY;

	for (int attempt = 0; attempt < 50 && rc != SQLITE_OK; attempt++) {
		sqlite3_stmt *st;

		rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW)
				rc = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0
					? SQLITE_OK : SQLITE_BUSY;
			sqlite3_finalize(st);
		}
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			sqlite3_sleep(100);
		else if (rc != SQLITE_OK)
			break;
	}
	return rc == SQLITE_OK ? 0 : sqlstore_fail(db, rc, "switch to WAL");
}

static void sqlstore_close(struct store *base)
{
	struct sqlstore *s = sqlstore_of(base);

	/* The backfill commits on the version's connection: stopped first. */
	sqlstore_backfill_stop(s);
	sqlstore_version_free(s);
	while (s->idle) {
		struct sqlstore_conn *c = s->idle;

		s->idle = c->next;
		sqlstore_conn_free(c);
	}
	for (int i = 0; i < ST_COUNT; i++)
		free(s->sql[i]);
	pthread_mutex_destroy(&s->pool_lock);
	if (s->open_name != s->path)
		free(s->open_name);
	free(s->path);
	store_base_destroy(&s->base);
	free(s);
}

/* Whether @path + @suffix exists (with some content, if @nonempty). */
static bool sqlstore_side_file(const char *path, const char *suffix, bool nonempty)
{
	char name[PATH_MAX + 8];
	struct stat st;

	snprintf(name, sizeof(name), "%s%s", path, suffix);
	return stat(name, &st) == 0 && (!nonempty || st.st_size > 0);
}

/*
 * Whether a read-only open of @path must be immutable: SQLite cannot read
 * a WAL database without its -shm file, which it cannot create on
 * read-only media or in a directory it may not write. Immutable, it reads
 * the file alone, unlocked, and sees no later change; so only when there
 * is no WAL content to miss and no one who could write it in WAL mode
 * (read-only media, or a WAL database in a directory we may not write,
 * where a writer would have left its -shm).
 */
static bool sqlstore_wants_immutable(const char *path)
{
	char dir[PATH_MAX], *slash;
	unsigned char head[20];
	struct statvfs vfs;
	bool wal = false;
	int fd;

	if (sqlstore_side_file(path, "-shm", false) || sqlstore_side_file(path, "-wal", true))
		return false;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir ? 1 : 0] = '\0';
	if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
		return true;
	if (access(dir, W_OK) == 0)
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		/* Bytes 18 and 19 of the header: 2 for WAL. */
		wal = read(fd, head, sizeof(head)) == (ssize_t)sizeof(head) && head[18] == 2;
		close(fd);
	}
	return wal;
}

/* Sets s->open_name to @path, or to an immutable URI of it (see above). */
static int sqlstore_name(struct sqlstore *s, const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	char *real = NULL, *uri = NULL, *p;

	s->open_name = s->path;
	if (!s->base.opts.read_only || !sqlstore_wants_immutable(path))
		return 0;
	real = realpath(path, NULL);
	if (real == NULL)
		return store_fail(-errno, "sqlite: %s: %s", path, strerror(errno));
	uri = malloc(strlen(real) * 3 + sizeof("file://?immutable=1"));
	if (uri == NULL) {
		free(real);
		return store_fail(-ENOMEM, "sqlite: out of memory");
	}
	/* The path, percent-encoded but for what a URI path keeps as it is. */
	p = uri + sprintf(uri, "file://");
	for (const unsigned char *c = (const unsigned char *)real; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		    strchr("/._~-", *c)) {
			*p++ = (char)*c;
		} else {
			*p++ = '%';
			*p++ = hex[*c >> 4];
			*p++ = hex[*c & 15];
		}
	}
	strcpy(p, "?immutable=1");
	free(real);
	s->open_name = uri;
	s->open_flags |= SQLITE_OPEN_URI;
	return 0;
}

/*
 * Reads the layout of the store on @db into @sc and, writable, makes it
 * what this execlogfs writes: WAL, the migration, execlogfs_durations.
 */
static int sqlstore_open_schema(sqlite3 *db, const char *path, bool read_only,
				struct sqlstore_schema *sc)
{
	/* A file that only looks like SQLite fails here, before anything is written. */
	int err = sqlstore_schema_read(db, sc);

	if (err == 0 && read_only && !sc->has_table)
		return store_fail(-EMEDIUMTYPE, "%s has no execution_log table", path);
	if (err || read_only)
		return err;
	err = sqlstore_wal(db);
	if (err == 0)
		err = sqlstore_schema_migrate(db);
	if (err == 0)
		err = sqlstore_durations_setup(db);
	return err ? err : sqlstore_schema_read(db, sc);
}

static int sqlstore_open(const char *path, const struct store_options *opts, struct store **out)
{
	struct sqlstore_conn *first = NULL;
	struct sqlstore_schema sc;
	struct sqlstore *s;
	int err;

	err = sqlstore_detect(path);
	if (err == -EMEDIUMTYPE)
		return store_fail(err, "%s is not a SQLite database", path);
	if (err == -ENOENT && opts->read_only)
		return store_fail(err, "%s does not exist (and the mount is read-only)", path);
	if (err && err != -ENOENT)
		return store_fail(err, "%s: %s", path, strerror(-err));
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return store_fail(-ENOMEM, "sqlite: out of memory");
	store_base_init(&s->base, &sqlstore_ops, opts);
	pthread_mutex_init(&s->pool_lock, NULL);
	s->path = strdup(path);
	s->open_flags = SQLITE_OPEN_NOMUTEX |
		(opts->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	if (s->path == NULL) {
		err = store_fail(-ENOMEM, "sqlite: out of memory");
		goto store_free;
	}
	err = sqlstore_name(s, path);
	if (err == 0)
		err = sqlstore_conn_new(s, &first);
	if (err)
		goto store_free;
	err = sqlstore_open_schema(first->db, path, opts->read_only, &sc);
	if (err == 0)
		err = sqlstore_prepare_texts(s, &sc);
	if (err == 0)
		err = sqlstore_durations_ok(first->db, &s->has_durations);
	if (err == 0 && !opts->read_only)
		err = sqlstore_backfill_start(s, first->db);
	if (err)
		goto store_free;
	sqlstore_put(s, first);
	*out = &s->base;
	return 0;

store_free:
	if (first)
		sqlstore_conn_free(first);
	sqlstore_close(&s->base);
	return err;
}

static bool sqlstore_col_null(void *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL;
}

static int64_t sqlstore_col_int(void *st, int col)
{
	return sqlite3_column_int64(st, col);
}

static const char *sqlstore_col_text(void *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

static const struct sqlrow_columns sqlstore_columns = {
	.backend = "sqlite",
	.is_null = sqlstore_col_null,
	.integer = sqlstore_col_int,
	.text = sqlstore_col_text,
};

/* Fills @r from the current row of a statement that selects SQLSTORE_COLUMNS. */
int sqlstore_row(sqlite3_stmt *st, struct store_record *r)
{
	int err = sqlrow_record(&sqlstore_columns, st, r);

	return err ? err : sqlstore_row_prov(st, r);
}

int sqlstore_bind_text(sqlite3_stmt *st, int i, const char *text)
{
	return text ? sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

/* One change, as the group commit carries it (see batch.c). */
struct sqlstore_op {
	struct store_batch_op base;
	int (*apply)(struct sqlstore *s, struct sqlstore_conn *c, struct sqlstore_op *op);
	struct store_record *rec;       /* start */
	const char *execution_id;       /* finish, heartbeat, delete */
	const struct store_finish *fin; /* finish */
	int64_t now_ms;                 /* finish, heartbeat */
	int64_t only_id;                /* delete: 0, or the id it must have */
	sqlstore_apply_fn fn;           /* a change of another file (sqlstore_change_run) */
	void *arg;                      /* ...and what it works on */
};

/* Runs the prepared statement @id, which takes no parameters and returns no row. */
static int sqlstore_step_one(struct sqlstore *s, struct sqlstore_conn *c, enum sqlstore_stmt_id id,
			     const char *doing)
{
	sqlite3_stmt *st = NULL;
	int err = sqlstore_stmt(s, c, id, &st), rc;

	if (err)
		return err;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = sqlstore_fail(c->db, rc, doing);
	sqlite3_reset(st);
	return err;
}

/*
 * Applies one change in a savepoint of the batch's transaction: a start or
 * a finish writes execution_log and execlogfs_runs, and a refused one (a
 * UNIQUE conflict, a finished row) is undone alone. 0, or why it failed.
 */
static int sqlstore_apply(struct sqlstore *s, struct sqlstore_conn *c, struct sqlstore_op *op)
{
	int err = sqlstore_step_one(s, c, ST_SAVEPOINT, "begin a change");

	if (err)
		return err;
	err = op->apply(s, c, op);
	if (err == 0)
		return sqlstore_step_one(s, c, ST_RELEASE, "end a change");
	/* When SQLite has ended the transaction itself, there is nothing left to undo. */
	if (!sqlite3_get_autocommit(c->db) &&
	    sqlstore_step_one(s, c, ST_ROLLBACK_TO, "undo a change") == 0)
		sqlstore_step_one(s, c, ST_RELEASE, "undo a change");
	return err;
}

/*
 * Commits the changes @ops in one transaction, each in a savepoint of its
 * own (sqlstore_apply); an error that ends the transaction (a full disk)
 * fails the whole batch.
 */
static void sqlstore_commit(struct store *base, struct store_batch_op *ops, size_t n)
{
	struct sqlstore *s = sqlstore_of(base);
	struct sqlstore_conn *c;
	int err, rc;

	(void)n;
	err = sqlstore_take(s, &c);
	if (err) {
		store_batch_fail_all(ops, err);
		return;
	}
	rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		store_batch_fail_all(ops, sqlstore_fail(c->db, rc, "begin"));
		goto put;
	}
	for (struct store_batch_op *o = ops; o; o = o->next) {
		struct sqlstore_op *op = (struct sqlstore_op *)o;

		err = sqlstore_apply(s, c, op);
		if (err == 0)
			continue;
		store_batch_fail(o, err);
		if (sqlite3_get_autocommit(c->db)) {
			/* SQLite rolled the transaction back: nothing of it stands. */
			store_batch_fail_all(ops, err);
			goto put;
		}
	}
	rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		store_batch_fail_all(ops, sqlstore_fail(c->db, rc, "commit"));
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	}
put:
	sqlstore_put(s, c);
}

static int sqlstore_write(struct sqlstore *s, struct sqlstore_op *op)
{
	return store_batch_run(&s->base, &op->base, sqlstore_commit);
}

static int sqlstore_fn_apply(struct sqlstore *s, struct sqlstore_conn *c, struct sqlstore_op *op)
{
	return op->fn(s, c, op->arg);
}

int sqlstore_change_run(struct sqlstore *s, sqlstore_apply_fn fn, void *arg)
{
	struct sqlstore_op op = { .apply = sqlstore_fn_apply, .fn = fn, .arg = arg };

	return sqlstore_write(s, &op);
}

/* Writes what a finish keeps in execlogfs_runs, in the savepoint of the change. */
static int sqlstore_finish_run(struct sqlstore *s, struct sqlstore_conn *c,
			       const struct sqlstore_op *op)
{
	sqlite3_stmt *st = NULL;
	int err = sqlstore_stmt(s, c, ST_FINISH_RUN, &st), rc;

	if (err)
		return err;
	sqlite3_bind_int64(st, 1, op->now_ms);
	sqlstore_bind_text(st, 2, op->execution_id);
	if (op->fin->exit_code != STORE_NULL)
		sqlite3_bind_int64(st, 3, op->fin->exit_code);
	if (op->fin->signal != STORE_NULL)
		sqlite3_bind_int64(st, 4, op->fin->signal);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = sqlstore_fail(c->db, rc, "write execlogfs_runs");
	sqlite3_reset(st);
	return err;
}

static int sqlstore_start_apply(struct sqlstore *s, struct sqlstore_conn *c, struct sqlstore_op *op)
{
	struct store_record *rec = op->rec;
	sqlite3_stmt *st = NULL;
	int err, rc;

	err = sqlstore_stmt(s, c, ST_INSERT, &st);
	if (err)
		return err;
	rec->started_at = rec->started_ms / 1000;
	sqlstore_bind_text(st, 1, rec->execution_id);
	sqlstore_bind_text(st, 2, rec->tool_version);
	sqlstore_bind_text(st, 3, rec->args);
	sqlstore_bind_text(st, 4, rec->root);
	sqlstore_bind_text(st, 5, rec->db_path);
	sqlite3_bind_int64(st, 6, rec->started_at);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		err = store_fail(-EEXIST, "execution %s exists", rec->execution_id);
	else if (rc != SQLITE_DONE)
		err = sqlstore_fail(c->db, rc, "start");
	else
		rec->id = sqlite3_last_insert_rowid(c->db);
	sqlite3_reset(st);
	return err ? err : sqlstore_start_prov(s, c, rec);
}

static int sqlstore_start(struct store *base, struct store_record *rec)
{
	struct sqlstore_op op = { .apply = sqlstore_start_apply, .rec = rec };

	return sqlstore_write(sqlstore_of(base), &op);
}

/* After a change of @op matched no row: why, as sqlrow_unchanged() tells it. */
static int sqlstore_why_unchanged(struct sqlstore *s, struct sqlstore_conn *c,
				  const struct sqlstore_op *op, int running_err, int done_err)
{
	sqlite3_stmt *st;
	int err, rc;

	err = sqlstore_stmt(s, c, ST_STATE, &st);
	if (err)
		return err;
	sqlstore_bind_text(st, 1, op->execution_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		err = sqlrow_unchanged(op->execution_id, rc == SQLITE_ROW,
				       rc == SQLITE_ROW ? sqlstore_col_text(st, 0) : NULL,
				       running_err, done_err, op->only_id);
	else
		err = sqlstore_fail(c->db, rc, "read the outcome");
	sqlite3_reset(st);
	return err;
}

/* Runs the change statement of @op, already bound; 0, or why it changed nothing. */
static int sqlstore_change(struct sqlstore *s, struct sqlstore_conn *c, sqlite3_stmt *st,
			   const struct sqlstore_op *op, int running_err, int done_err)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sqlstore_fail(c->db, rc, "write");
	if (sqlite3_changes(c->db) > 0)
		return 0;
	return sqlstore_why_unchanged(s, c, op, running_err, done_err);
}

static int sqlstore_finish_apply(struct sqlstore *s, struct sqlstore_conn *c, struct sqlstore_op *op)
{
	sqlite3_stmt *st = NULL;
	int err = sqlstore_stmt(s, c, ST_FINISH, &st);

	if (err)
		return err;
	sqlite3_bind_int64(st, 1, op->now_ms);
	sqlstore_bind_text(st, 2, store_outcome_name(op->fin->outcome));
	sqlstore_bind_text(st, 3, op->fin->error_message);
	sqlite3_bind_int64(st, 4, op->fin->files_indexed);
	sqlite3_bind_int64(st, 5, op->fin->symbols_indexed);
	sqlite3_bind_int64(st, 6, op->fin->references_indexed);
	sqlstore_bind_text(st, 7, op->execution_id);
	sqlite3_bind_int64(st, 8, op->fin->only_id);
	sqlite3_bind_int64(st, 9, op->fin->only_stale_before_ms);
	/* A running row is skipped only by the finish's conditions. */
	err = sqlstore_change(s, c, st, op, -ESTALE, -EPERM);
	return err ? err : sqlstore_finish_run(s, c, op);
}

static int sqlstore_finish(struct store *base, const char *execution_id,
			   const struct store_finish *fin, int64_t now_ms)
{
	struct sqlstore_op op = { .apply = sqlstore_finish_apply, .execution_id = execution_id,
				  .fin = fin, .now_ms = now_ms };

	return sqlstore_write(sqlstore_of(base), &op);
}

static int sqlstore_heartbeat_apply(struct sqlstore *s, struct sqlstore_conn *c,
				    struct sqlstore_op *op)
{
	sqlite3_stmt *st = NULL;
	int err = sqlstore_stmt(s, c, ST_HEARTBEAT, &st);

	if (err)
		return err;
	sqlite3_bind_int64(st, 1, op->now_ms);
	sqlstore_bind_text(st, 2, op->execution_id);
	return sqlstore_change(s, c, st, op, 0, -EPERM);
}

static int sqlstore_heartbeat(struct store *base, const char *execution_id, int64_t now_ms)
{
	struct sqlstore_op op = { .apply = sqlstore_heartbeat_apply, .execution_id = execution_id,
				  .now_ms = now_ms };

	return sqlstore_write(sqlstore_of(base), &op);
}

static int sqlstore_delete_apply(struct sqlstore *s, struct sqlstore_conn *c, struct sqlstore_op *op)
{
	sqlite3_stmt *st = NULL;
	int err = sqlstore_stmt(s, c, ST_DELETE, &st);

	if (err)
		return err;
	sqlstore_bind_text(st, 1, op->execution_id);
	sqlite3_bind_int64(st, 2, op->only_id);
	/* A finished row is skipped only when it has another id. */
	return sqlstore_change(s, c, st, op, -EBUSY, op->only_id ? -ESTALE : -EIO);
}

static int sqlstore_delete(struct store *base, const char *execution_id, int64_t only_id)
{
	struct sqlstore_op op = { .apply = sqlstore_delete_apply, .execution_id = execution_id,
				  .only_id = only_id };

	return sqlstore_write(sqlstore_of(base), &op);
}

static int sqlstore_check_room(struct store *base)
{
	return store_room_at((sqlstore_of(base))->path);
}

static int sqlstore_statfs(struct store *base, struct statvfs *out)
{
	return store_statfs_at((sqlstore_of(base))->path, out);
}

const struct store_ops sqlstore_ops = {
	.name = "sqlite",
	.open = sqlstore_open,             /* a database file, created if missing */
	.close = sqlstore_close,           /* closes every pooled connection */
	.detect = sqlstore_detect,         /* a regular file with SQLite's header, or empty */
	.start = sqlstore_start,           /* one INSERT; UNIQUE gives -EEXIST */
	.finish = sqlstore_finish,         /* one UPDATE guarded by outcome = 'running' */
	.heartbeat = sqlstore_heartbeat,   /* sets heartbeat_at_ms of a running row */
	.get = sqlstore_get,               /* by the UNIQUE execution_id */
	.get_by_id = sqlstore_get_by_id,   /* by rowid */
	.delete = sqlstore_delete,         /* one DELETE guarded by outcome <> 'running' */
	.list = sqlstore_list,             /* keyset paging on id, by index for a filter */
	.list_names = sqlstore_list_names, /* the same, reading id and execution_id only */
	.list_days = sqlstore_list_days,   /* one seek of the started_at index per day */
	.latest = sqlstore_latest,         /* the greatest rowid */
	.check_room = sqlstore_check_room, /* the database file is writable, its disk not full */
	.statfs = sqlstore_statfs,         /* the disk of the database file */
	.count = sqlstore_count,           /* count(*) by the narrowest index */
	.count_outcomes = sqlstore_count_outcomes, /* one GROUP BY over the day's range */
	.list_recent = sqlstore_list_recent, /* ORDER BY id DESC LIMIT n, by rowid */
	.summary = sqlstore_summary,       /* execlogfs_durations, kept by triggers */
	.list_finished_by_start = sqlstore_list_finished_by_start, /* the started_at index */
	.list_values = sqlstore_list_values, /* one seek of the attr's index per value */
	.output_append = sqlstore_output_append, /* one row of execlogfs_output per append */
	.output_read = sqlstore_output_read,     /* a seek by (id, offset), then forward */
	.output_cut = sqlstore_output_cut,       /* execlogfs_runs.output_cut */
	.version = sqlstore_version,       /* data_version on a connection that never writes */
	.reserve_file = "",                /* names reserved by byte locks on the database file */
};
