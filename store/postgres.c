/*
 * postgres.c - the PostgreSQL backend: one execution log shared by many hosts.
 *
 * The table is the SQLite backend's execution_log in PostgreSQL types
 * (BIGSERIAL id, BIGINT times and counts, TEXT strings), with the same
 * UNIQUE(execution_id) and the same three indexes; it is created if missing,
 * under an advisory lock, so that two first mounts do not race. The
 * database gives the guarantees across hosts: of two starts of one name
 * exactly one inserts (unique violation 23505 is -EEXIST), a finish is an
 * UPDATE guarded by outcome = 'running', a delete one guarded by
 * outcome <> 'running'.
 *
 * Every change is one statement, so one implicit transaction, and that
 * statement also NOTIFYs channel "execlog" with the execution_id: the
 * notification goes out exactly when the change commits. store_watch()
 * LISTENs on a connection of its own, in a thread of its own.
 *
 * A libpq connection serves one thread at a time, so calls borrow one from
 * a small pool and give it back before they call back into the caller: a
 * listing fetches a page of rows (keyset paging on id), gives the connection
 * back, then hands the page out. Parameters are always bound.
 *
 * Connection loss: a connection found broken is reset at its next use; a
 * read that meets a broken connection is retried once on a fresh one; a
 * write is retried only when the server said it had ended the session
 * before committing (57P01, 57P02). Any other lost answer to a write is
 * -EIO: it may or may not have committed, and is never acknowledged.
 *
 * sync=normal sets synchronous_commit = local (the server has the change on
 * its disk when COMMIT returns, synchronous standbys are not waited for);
 * sync=full sets it on (standbys too, where the server has them). Either
 * way an acknowledged change survives a kill of the daemon and of the server.
 *
 * Left out: store_visits() counts the rows the server returned (its own
 * work is not visible to a client); the indexes make every page an index
 * range scan, which the server's EXPLAIN shows.
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlrow.h"

/* Rows a listing fetches at a time: its memory, whatever the table holds. */
#define PGSTORE_PAGE 256
#define PGSTORE_PAGE_TEXT "256"
/* Rows of a names-only listing page: two short columns each. */
#define PGSTORE_NAMES_PAGE 1024
#define PGSTORE_NAMES_PAGE_TEXT "1024"
/* Connections a store opens at most; a call waits for one beyond that. */
#define PGSTORE_POOL_MAX 8
/* Seconds a connection attempt may take, so that no call hangs on a lost server. */
#define PGSTORE_CONNECT_TIMEOUT "5"
/* The channel every change is announced on. */
#define PGSTORE_CHANNEL "execlog"
/* Serializes the creation of the table (pg_advisory_xact_lock key: "execlog"). */
#define PGSTORE_LOCK_KEY "28549237546772327"

struct pgstore_conn {
	PGconn *pg;
	struct pgstore_conn *next;
};

struct pgstore {
	struct store base;
	char *conninfo;
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_free;
	struct pgstore_conn *idle; /* connections not in use */
	int open_conns;            /* idle or borrowed */

	/* The session that holds this store's reservations, never pooled (see pgstore_reserve). */
	pthread_mutex_t reserve_lock;
	struct pgstore_conn reserve_conn;
	int reserve_pid; /* the server process of that session, once its keepalives are set */

	/* The watch: a listener thread and its stop pipe. */
	bool watching;
	pthread_t listener;
	int stop_pipe[2];
	PGconn *listen_pg;
	store_change_fn change_fn;
	void *change_ctx;
};

static struct pgstore *pgstore_of(struct store *base)
{
	return STORE_DOWNCAST(base, struct pgstore, pgstore_ops);
}

/* The columns every read selects, in struct store_record order. */
#define PGSTORE_COLUMNS SQLROW_COLUMNS ", started_at_ms, heartbeat_at_ms"

/*
 * The table, its key and indexes; taken under a transaction-scoped advisory
 * lock so that concurrent first mounts create it once. Columns a table made
 * by an older execlogfs or by hand lacks are added (nullable, no rewrite).
 */
static const char pgstore_schema[] =
	"BEGIN;\n"
	"SELECT pg_advisory_xact_lock(" PGSTORE_LOCK_KEY ");\n"
	"CREATE TABLE IF NOT EXISTS execution_log (\n"
	"    id BIGSERIAL PRIMARY KEY,\n"
	"    execution_id TEXT NOT NULL UNIQUE,\n"
	"    tool_version TEXT NOT NULL,\n"
	"    args TEXT NOT NULL,\n"
	"    root TEXT,\n"
	"    db_path TEXT NOT NULL,\n"
	"    started_at BIGINT NOT NULL,\n"
	"    finished_at BIGINT,\n"
	"    duration_ms BIGINT,\n"
	"    outcome TEXT NOT NULL,\n"
	"    error_message TEXT,\n"
	"    files_indexed BIGINT DEFAULT 0,\n"
	"    symbols_indexed BIGINT DEFAULT 0,\n"
	"    references_indexed BIGINT DEFAULT 0,\n"
	"    started_at_ms BIGINT,\n"
	"    heartbeat_at_ms BIGINT\n"
	");\n"
	"ALTER TABLE execution_log ADD COLUMN IF NOT EXISTS started_at_ms BIGINT,\n"
	"    ADD COLUMN IF NOT EXISTS heartbeat_at_ms BIGINT;\n"
	/*
	 * SQLite's indexes end with the rowid implicitly; here id is named, so
	 * that a page of a listing by outcome is one index range scan in id order.
	 */
	"CREATE INDEX IF NOT EXISTS idx_execution_log_started_at ON execution_log(started_at DESC);\n"
	"CREATE INDEX IF NOT EXISTS idx_execution_log_execution_id ON execution_log(execution_id);\n"
	"CREATE INDEX IF NOT EXISTS idx_execution_log_outcome ON execution_log(outcome, id);\n"
	"COMMIT;\n";

/* Reads every column we use and no row: a table that lacks one fails here. */
static const char pgstore_probe[] = "SELECT " PGSTORE_COLUMNS " FROM execution_log LIMIT 0";

/* ---- errors -------------------------------------------------------------- */

/* libpq's message, without its trailing newline, for a reason. */
static const char *pgstore_message(const char *msg, char *buf, size_t size)
{
	size_t len;

	snprintf(buf, size, "%s", msg && msg[0] ? msg : "no message from libpq");
	len = strlen(buf);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return buf;
}

static int pgstore_errno_of_state(const char *state)
{
	if (state == NULL || strlen(state) != 5)
		return -EIO;
	if (strcmp(state, "23505") == 0)
		return -EEXIST;
	if (strcmp(state, "25006") == 0)
		return -EROFS; /* read_only_sql_transaction: a standby, or a read-only session */
	if (strcmp(state, "53100") == 0)
		return -ENOSPC;
	if (strcmp(state, "53200") == 0)
		return -ENOMEM;
	if (strcmp(state, "53300") == 0 || strcmp(state, "40001") == 0 ||
	    strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
		return -EBUSY;
	if (strcmp(state, "42501") == 0 || strncmp(state, "28", 2) == 0)
		return -EACCES;
	if (strcmp(state, "42P01") == 0 || strcmp(state, "42703") == 0)
		return -EMEDIUMTYPE;
	if (strcmp(state, "54000") == 0)
		return -EFBIG;
	if (strncmp(state, "22", 2) == 0)
		return -EINVAL; /* data exception: e.g. a string the database cannot hold */
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
		return -ENOTCONN;
	return -EIO;
}

/* The session ended before the statement could commit: safe to run again. */
static bool pgstore_session_ended(const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return state && (strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0);
}

/* ---- connections --------------------------------------------------------- */

/*
 * Connects with our defaults first (the connection string may override
 * them) and client_encoding last (records are UTF-8, whatever it says).
 */
static PGconn *pgstore_connect(const char *conninfo)
{
	static const char *const keys[] = {
		"connect_timeout", "application_name", "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "tcp_user_timeout",
		"dbname", "client_encoding", NULL,
	};
	const char *const values[] = {
		PGSTORE_CONNECT_TIMEOUT, "execlogfs", "1", "5", "2", "3", "10000",
		conninfo, "UTF8", NULL,
	};

	return PQconnectdbParams(keys, values, 1);
}

static void pgstore_ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Sets up a fresh session for the store's mode; 0 or a negative errno. */
static int pgstore_session(struct pgstore *s, PGconn *pg)
{
	const char *sql;
	char msg[256];
	PGresult *res;
	int err = 0;

	/* Notices (e.g. "already exists, skipping") are not for our log. */
	PQsetNoticeProcessor(pg, pgstore_ignore_notice, NULL);
	if (s->base.opts.read_only)
		sql = "SET default_transaction_read_only = on";
	else if (s->base.opts.sync == STORE_SYNC_FULL)
		sql = "SET synchronous_commit = on";
	else
		sql = "SET synchronous_commit = local";
	res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		err = store_fail(pgstore_errno_of_state(PQresultErrorField(res, PG_DIAG_SQLSTATE)),
				 "postgres: set up the session: %s",
				 pgstore_message(PQerrorMessage(pg), msg, sizeof(msg)));
	PQclear(res);
	return err;
}

/*
 * Whether an idle connection still has its server. A pooled session never
 * LISTENs and has nothing to say between statements, so anything readable
 * is taken for the server ending it (a FATAL message, then end of file)
 * and the connection is reset: found here, before a statement is sent, the
 * loss leaves no doubt about a commit.
 */
static bool pgstore_alive(PGconn *pg)
{
	struct pollfd pfd = { .fd = PQsocket(pg), .events = POLLIN };

	return pfd.fd >= 0 && poll(&pfd, 1, 0) == 0;
}

/* Makes @c's connection usable: connects or resets it as needed. */
static int pgstore_ready(struct pgstore *s, struct pgstore_conn *c)
{
	char msg[256];

	if (c->pg && PQstatus(c->pg) == CONNECTION_OK && pgstore_alive(c->pg))
		return 0;
	if (c->pg)
		PQreset(c->pg);
	else
		c->pg = pgstore_connect(s->conninfo);
	if (c->pg == NULL)
		return store_fail(-ENOMEM, "postgres: out of memory");
	if (PQstatus(c->pg) != CONNECTION_OK)
		return store_fail(-ENOTCONN, "postgres: cannot connect: %s",
				  pgstore_message(PQerrorMessage(c->pg), msg, sizeof(msg)));
	return pgstore_session(s, c->pg);
}

/* Borrows a connection, waiting while PGSTORE_POOL_MAX are in use. */
static struct pgstore_conn *pgstore_take(struct pgstore *s)
{
	struct pgstore_conn *c = NULL;

	pthread_mutex_lock(&s->pool_lock);
	while (s->idle == NULL && s->open_conns >= PGSTORE_POOL_MAX)
		pthread_cond_wait(&s->pool_free, &s->pool_lock);
	if (s->idle) {
		c = s->idle;
		s->idle = c->next;
	} else {
		c = calloc(1, sizeof(*c));
		if (c)
			s->open_conns++;
	}
	pthread_mutex_unlock(&s->pool_lock);
	return c;
}

static void pgstore_put(struct pgstore *s, struct pgstore_conn *c)
{
	pthread_mutex_lock(&s->pool_lock);
	c->next = s->idle;
	s->idle = c;
	pthread_cond_signal(&s->pool_free);
	pthread_mutex_unlock(&s->pool_lock);
}

enum pgstore_kind {
	PG_READ,  /* safe to run again after any connection loss */
	PG_WRITE, /* run again only when the server ended the session first */
};

/*
 * Runs @sql with @n text parameters (NULL for SQL null) on a pooled
 * connection and returns its result in *out (PQclear it), or a negative
 * errno with the reason set, naming @doing. A broken connection is reset
 * and the statement run once more when that cannot run it twice.
 */
static int pgstore_run(struct pgstore *s, enum pgstore_kind kind, const char *doing,
		       const char *sql, int n, const char *const *params, PGresult **out)
{
	struct pgstore_conn *c = pgstore_take(s);
	PGresult *res = NULL;
	char msg[384];
	int err = 0;

	*out = NULL;
	if (c == NULL)
		return store_fail(-ENOMEM, "postgres: out of memory");
	for (int attempt = 0; attempt < 2; attempt++) {
		ExecStatusType st;
		bool lost;

		PQclear(res);
		res = NULL;
		err = pgstore_ready(s, c);
		if (err)
			break;
		res = PQexecParams(c->pg, sql, n, NULL, params, NULL, NULL, 0);
		st = PQresultStatus(res);
		if (res && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK))
			break;
		lost = PQstatus(c->pg) != CONNECTION_OK;
		pgstore_message(res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg), msg,
				sizeof(msg));
		if (!lost) {
			err = store_fail(pgstore_errno_of_state(PQresultErrorField(res, PG_DIAG_SQLSTATE)),
					 "postgres: %s: %s", doing, msg);
			break;
		}
		if (kind == PG_WRITE && !pgstore_session_ended(res)) {
			err = store_fail(-EIO, "postgres: %s: the connection was lost before the "
					 "server answered (the change may or may not be committed): %s",
					 doing, msg);
			break;
		}
		err = store_fail(-ENOTCONN, "postgres: %s: the connection was lost: %s", doing, msg);
	}
	pgstore_put(s, c);
	if (err) {
		PQclear(res);
		return err;
	}
	*out = res;
	return 0;
}

/* ---- values ----------------------------------------------------------------- */

/* A decimal int64 parameter in @buf. */
static const char *pgstore_int(char *buf, size_t size, int64_t v)
{
	snprintf(buf, size, "%lld", (long long)v);
	return buf;
}

static int64_t pgstore_get_int(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return STORE_NULL;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Row @row of @res, as sqlrow.c reads it. */
struct pgstore_cursor {
	const PGresult *res;
	int row;
};

static bool pgstore_col_null(void *cur, int col)
{
	const struct pgstore_cursor *c = cur;

	return PQgetisnull(c->res, c->row, col);
}

static int64_t pgstore_col_int(void *cur, int col)
{
	const struct pgstore_cursor *c = cur;

	return pgstore_get_int(c->res, c->row, col);
}

static const char *pgstore_col_text(void *cur, int col)
{
	const struct pgstore_cursor *c = cur;

	return PQgetisnull(c->res, c->row, col) ? NULL : PQgetvalue(c->res, c->row, col);
}

static const struct sqlrow_columns pgstore_columns = {
	.backend = "postgres",
	.is_null = pgstore_col_null,
	.integer = pgstore_col_int,
	.text = pgstore_col_text,
};

/* Fills @r from row @row of a result that selects PGSTORE_COLUMNS. */
static int pgstore_row(const PGresult *res, int row, struct store_record *r)
{
	struct pgstore_cursor cur = { .res = res, .row = row };

	return sqlrow_record(&pgstore_columns, &cur, r);
}

/* ---- open and close ------------------------------------------------------- */

/*
 * A connection string is no path: nothing to look at on this host. It is
 * named for us when it reads like one (a URI, or keyword=value) and no file
 * of that name exists; a file or directory is another backend's.
 */
static int pgstore_detect(const char *path)
{
	struct stat st;
	size_t key;

	if (stat(path, &st) == 0)
		return -EMEDIUMTYPE;
	if (strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0)
		return 0;
	while (*path == ' ' || *path == '\t')
		path++;
	key = strspn(path, "abcdefghijklmnopqrstuvwxyz_");
	if (key > 0 && path[key + strspn(path + key, " \t")] == '=')
		return 0;
	return -ENOENT;
}

static void pgstore_unwatch(struct pgstore *s);

static void pgstore_close(struct store *base)
{
	struct pgstore *s = pgstore_of(base);

	pgstore_unwatch(s);
	while (s->idle) {
		struct pgstore_conn *c = s->idle;

		s->idle = c->next;
		PQfinish(c->pg);
		free(c);
	}
	PQfinish(s->reserve_conn.pg);
	pthread_mutex_destroy(&s->reserve_lock);
	pthread_cond_destroy(&s->pool_free);
	pthread_mutex_destroy(&s->pool_lock);
	free(s->conninfo);
	store_base_destroy(&s->base);
	free(s);
}

/* Creates the table if missing (never read-only), then checks its columns. */
static int pgstore_prepare_table(struct pgstore *s)
{
	struct pgstore_conn *c = pgstore_take(s);
	PGresult *res = NULL;
	char msg[384];
	int err;

	if (c == NULL)
		return store_fail(-ENOMEM, "postgres: out of memory");
	err = pgstore_ready(s, c);
	if (err)
		goto put;
	if (!s->base.opts.read_only) {
		res = PQexec(c->pg, pgstore_schema);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			err = store_fail(pgstore_errno_of_state(PQresultErrorField(res, PG_DIAG_SQLSTATE)),
					 "postgres: create the table execution_log: %s",
					 pgstore_message(PQerrorMessage(c->pg), msg, sizeof(msg)));
			PQclear(res);
			/* A failed transaction must not stay open on a pooled connection. */
			PQclear(PQexec(c->pg, "ROLLBACK"));
			goto put;
		}
		PQclear(res);
	}
	res = PQexec(c->pg, pgstore_probe);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		pgstore_message(PQerrorMessage(c->pg), msg, sizeof(msg));
		if (state && strcmp(state, "42P01") == 0)
			err = store_fail(-ENOENT, "postgres: no table execution_log (and the mount is "
					 "read-only): %s", msg);
		else if (state && strcmp(state, "42703") == 0)
			err = store_fail(-EMEDIUMTYPE, "postgres: table execution_log is not an "
					 "execution log: %s", msg);
		else
			err = store_fail(pgstore_errno_of_state(state), "postgres: read the table: %s", msg);
	}
	PQclear(res);
put:
	pgstore_put(s, c);
	return err;
}

static int pgstore_open(const char *path, const struct store_options *opts, struct store **out)
{
	PQconninfoOption *parsed;
	struct pgstore *s;
	char *why = NULL;
	int err;

	if (pgstore_detect(path) == -EMEDIUMTYPE)
		return store_fail(-EMEDIUMTYPE, "%s is a file, not a PostgreSQL connection string", path);
	parsed = PQconninfoParse(path, &why);
	if (parsed == NULL) {
		char msg[256];

		err = store_fail(-EINVAL, "postgres: bad connection string: %s",
				 pgstore_message(why, msg, sizeof(msg)));
		PQfreemem(why);
		return err;
	}
	PQconninfoFree(parsed);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return store_fail(-ENOMEM, "postgres: out of memory");
	store_base_init(&s->base, &pgstore_ops, opts);
	pthread_mutex_init(&s->pool_lock, NULL);
	pthread_cond_init(&s->pool_free, NULL);
	pthread_mutex_init(&s->reserve_lock, NULL);
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	s->conninfo = strdup(path);
	if (s->conninfo == NULL) {
		err = store_fail(-ENOMEM, "postgres: out of memory");
		goto store_free;
	}
	err = pgstore_prepare_table(s);
	if (err)
		goto store_free;
	*out = &s->base;
	return 0;

store_free:
	pgstore_close(&s->base);
	return err;
}

/* ---- changes ---------------------------------------------------------------- */

static int pgstore_start(struct store *base, struct store_record *rec)
{
	struct pgstore *s = pgstore_of(base);
	char started_at[24], started_ms[24];
	const char *params[7];
	PGresult *res;
	int err;

	rec->started_at = rec->started_ms / 1000;
	params[0] = rec->execution_id;
	params[1] = rec->tool_version;
	params[2] = rec->args;
	params[3] = rec->root;
	params[4] = rec->db_path;
	params[5] = pgstore_int(started_at, sizeof(started_at), rec->started_at);
	params[6] = pgstore_int(started_ms, sizeof(started_ms), rec->started_ms);
	err = pgstore_run(s, PG_WRITE, "start",
			  "WITH i AS (INSERT INTO execution_log (execution_id, tool_version, args,"
			  " root, db_path, started_at, outcome, files_indexed, symbols_indexed,"
			  " references_indexed, started_at_ms, heartbeat_at_ms)"
			  " VALUES ($1, $2, $3, $4, $5, $6::bigint, 'running', 0, 0, 0, $7::bigint,"
			  " $7::bigint) RETURNING id, execution_id)"
			  " SELECT id, pg_notify('" PGSTORE_CHANNEL "', execution_id) FROM i",
			  7, params, &res);
	if (err == -EEXIST)
		return store_fail(-EEXIST, "execution %s exists", rec->execution_id);
	if (err)
		return err;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return store_fail(-EIO, "postgres: start of %s returned no id", rec->execution_id);
	}
	rec->id = pgstore_get_int(res, 0, 0);
	PQclear(res);
	return 0;
}

/*
 * Reservations are session advisory locks, pg_try_advisory_lock() on
 * store_reserve_key() (bit 62 set: never PGSTORE_LOCK_KEY), taken on a
 * session of the store's own: a pooled connection serves every call and
 * would carry its locks to them. Every mount of the database races for the
 * same keys; the server frees a session's locks when it ends, so a mount
 * that dies leaves none behind: its kernel closes its connection, or, when
 * its whole host vanished, the server's TCP keepalives find the connection
 * dead (asked of the server for this session: in about 25 s, not the
 * system's default of hours). A
 * session lost while it held some (a server restart) loses them: the session
 * is made again at the next reservation, and a start that lost its own is
 * still kept unique by UNIQUE(execution_id), refused at its commit.
 */
static int pgstore_reserve(struct store *base, const char *execution_id)
{
	struct pgstore *s = pgstore_of(base);
	char key[24], msg[256];
	const char *params[1] = {
		pgstore_int(key, sizeof(key), (int64_t)store_reserve_key(execution_id)),
	};
	PGresult *res = NULL;
	PGconn *pg;
	int err;

	pthread_mutex_lock(&s->reserve_lock);
	err = pgstore_ready(s, &s->reserve_conn);
	if (err)
		goto unlock;
	pg = s->reserve_conn.pg;
	if (PQbackendPID(pg) != s->reserve_pid) {
		/* A new session. Ignored over a Unix socket, where the kernel tells. */
		PQclear(PQexec(pg, "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5;"
			       " SET tcp_keepalives_count = 3"));
		s->reserve_pid = PQbackendPID(pg);
	}
	res = PQexecParams(pg, "SELECT pg_try_advisory_lock($1::bigint)", 1, NULL, params,
			   NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		err = store_fail(PQstatus(pg) != CONNECTION_OK ? -ENOTCONN :
				 pgstore_errno_of_state(PQresultErrorField(res, PG_DIAG_SQLSTATE)),
				 "postgres: reserve %s: %s", execution_id,
				 pgstore_message(PQerrorMessage(pg), msg, sizeof(msg)));
	else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		err = store_fail(-EEXIST, "execution %s is being started through another mount "
				 "of the store", execution_id);
unlock:
	PQclear(res);
	pthread_mutex_unlock(&s->reserve_lock);
	return err;
}

static void pgstore_unreserve(struct store *base, const char *execution_id)
{
	struct pgstore *s = pgstore_of(base);
	char key[24];
	const char *params[1] = {
		pgstore_int(key, sizeof(key), (int64_t)store_reserve_key(execution_id)),
	};
	PGconn *pg;

	pthread_mutex_lock(&s->reserve_lock);
	pg = s->reserve_conn.pg;
	/* A lost session has lost its locks already: nothing to give back. */
	if (pg && PQstatus(pg) == CONNECTION_OK)
		PQclear(PQexecParams(pg, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL, params,
				     NULL, NULL, 0));
	pthread_mutex_unlock(&s->reserve_lock);
}

/* After a change matched no row: why, as sqlrow_unchanged() tells it. */
static int pgstore_why_unchanged(struct pgstore *s, const char *execution_id,
				 int running_err, int done_err, int64_t only_id)
{
	const char *params[1] = { execution_id };
	struct pgstore_cursor cur = { .row = 0 };
	PGresult *res;
	int err;

	err = pgstore_run(s, PG_READ, "read the outcome",
			  "SELECT outcome FROM execution_log WHERE execution_id = $1", 1, params, &res);
	if (err)
		return err;
	cur.res = res;
	err = sqlrow_unchanged(execution_id, PQntuples(res) > 0,
			       PQntuples(res) > 0 ? pgstore_col_text(&cur, 0) : NULL,
			       running_err, done_err, only_id);
	PQclear(res);
	return err;
}

/*
 * Runs a change that returns one row per row it changed; 0, or why it
 * changed nothing (@only_id: the id a finish or delete was kept to, or 0).
 */
static int pgstore_change(struct pgstore *s, const char *doing, const char *sql, int n,
			  const char *const *params, const char *execution_id,
			  int running_err, int done_err, int64_t only_id)
{
	PGresult *res;
	int err, rows;

	err = pgstore_run(s, PG_WRITE, doing, sql, n, params, &res);
	if (err)
		return err;
	rows = PQntuples(res);
	PQclear(res);
	if (rows > 0)
		return 0;
	return pgstore_why_unchanged(s, execution_id, running_err, done_err, only_id);
}

static int pgstore_finish(struct store *base, const char *execution_id,
			  const struct store_finish *fin, int64_t now_ms)
{
	char now[24], files[24], symbols[24], references[24], only_id[24], stale[24];
	const char *params[9] = {
		pgstore_int(now, sizeof(now), now_ms),
		store_outcome_name(fin->outcome),
		fin->error_message,
		pgstore_int(files, sizeof(files), fin->files_indexed),
		pgstore_int(symbols, sizeof(symbols), fin->symbols_indexed),
		pgstore_int(references, sizeof(references), fin->references_indexed),
		execution_id,
		pgstore_int(only_id, sizeof(only_id), fin->only_id),
		pgstore_int(stale, sizeof(stale), fin->only_stale_before_ms),
	};

	/* A running row is skipped only by the finish's conditions. */
	return pgstore_change(pgstore_of(base), "finish",
			      "WITH u AS (UPDATE execution_log SET outcome = $2, error_message = $3,"
			      " files_indexed = $4::bigint, symbols_indexed = $5::bigint,"
			      " references_indexed = $6::bigint, finished_at = $1::bigint / 1000,"
			      " heartbeat_at_ms = $1::bigint,"
			      /* numeric: a row of another program's may start anywhere in bigint */
			      " duration_ms = LEAST(GREATEST(0, $1::numeric - COALESCE(started_at_ms::numeric,"
			      " started_at::numeric * 1000)), 9223372036854775807)::bigint"
			      " WHERE execution_id = $7 AND outcome = 'running'"
			      " AND ($8::bigint = 0 OR id = $8::bigint) AND ($9::bigint = 0 OR"
			      " COALESCE(heartbeat_at_ms::numeric, started_at_ms::numeric,"
			      " started_at::numeric * 1000) < $9::bigint)"
			      " RETURNING execution_id)"
			      " SELECT pg_notify('" PGSTORE_CHANNEL "', execution_id) FROM u",
			      9, params, execution_id, -ESTALE, -EPERM, fin->only_id);
}

static int pgstore_heartbeat(struct store *base, const char *execution_id, int64_t now_ms)
{
	char now[24];
	const char *params[2] = { pgstore_int(now, sizeof(now), now_ms), execution_id };

	return pgstore_change(pgstore_of(base), "heartbeat",
			      "WITH u AS (UPDATE execution_log SET heartbeat_at_ms = $1::bigint"
			      " WHERE execution_id = $2 AND outcome = 'running' RETURNING execution_id)"
			      " SELECT pg_notify('" PGSTORE_CHANNEL "', execution_id) FROM u",
			      2, params, execution_id, 0, -EPERM, 0);
}

static int pgstore_delete(struct store *base, const char *execution_id, int64_t only_id)
{
	char id[24];
	const char *params[2] = { execution_id, pgstore_int(id, sizeof(id), only_id) };

	/* A finished row is skipped only when it has another id. */
	return pgstore_change(pgstore_of(base), "delete",
			     "WITH d AS (DELETE FROM execution_log WHERE execution_id = $1"
			     " AND outcome <> 'running' AND ($2::bigint = 0 OR id = $2::bigint)"
			     " RETURNING execution_id)"
			     " SELECT pg_notify('" PGSTORE_CHANNEL "', execution_id) FROM d",
			     2, params, execution_id, -EBUSY, only_id ? -ESTALE : -EIO, only_id);
}

/* ---- reads ------------------------------------------------------------------ */

/* Runs a one-row read into @out; -ENOENT naming @what when there is no row. */
static int pgstore_one(struct pgstore *s, const char *sql, int n, const char *const *params,
		       struct store_record *out, const char *what)
{
	PGresult *res;
	int err;

	err = pgstore_run(s, PG_READ, "read", sql, n, params, &res);
	if (err)
		return err;
	if (PQntuples(res) == 0)
		err = store_fail(-ENOENT, "no execution %s", what);
	else
		err = pgstore_row(res, 0, out);
	PQclear(res);
	return err;
}

static int pgstore_get(struct store *base, const char *execution_id, struct store_record *out)
{
	const char *params[1] = { execution_id };

	return pgstore_one(pgstore_of(base),
			   "SELECT " PGSTORE_COLUMNS " FROM execution_log WHERE execution_id = $1",
			   1, params, out, execution_id);
}

static int pgstore_get_by_id(struct store *base, int64_t id, struct store_record *out)
{
	char id_text[24], what[40];
	const char *params[1] = { pgstore_int(id_text, sizeof(id_text), id) };

	snprintf(what, sizeof(what), "with id %lld", (long long)id);
	return pgstore_one(pgstore_of(base),
			   "SELECT " PGSTORE_COLUMNS " FROM execution_log WHERE id = $1::bigint",
			   1, params, out, what);
}

static int pgstore_latest(struct store *base, struct store_record *out)
{
	return pgstore_one(pgstore_of(base),
			   "SELECT " PGSTORE_COLUMNS " FROM execution_log ORDER BY id DESC LIMIT 1",
			   0, NULL, out, "at all");
}

/*
 * The WHERE of a filter, whose parameters are the outcome @o and the day's
 * first and last-plus-one second @f and @t, null when unset. Each query is
 * planned with its values, so an unset one folds away and the rest is an
 * index condition.
 */
#define PGSTORE_FILTER(o, f, t)                                                \
	" (" o "::text IS NULL OR outcome = " o ")"                            \
	" AND (" f "::bigint IS NULL OR (started_at >= " f "::bigint"          \
	" AND started_at < " t "::bigint))"

/* Fills params[1..3] from @filter, with its texts in @day_from and @day_to. */
static void pgstore_filter_params(const struct store_filter *filter, const char **params,
				  char *day_from, char *day_to, size_t size)
{
	params[1] = filter->outcome >= 0 ? store_outcome_name(filter->outcome) : NULL;
	params[2] = filter->day >= 0 ? pgstore_int(day_from, size, store_day_start(filter->day)) : NULL;
	params[3] = filter->day >= 0 ? pgstore_int(day_to, size, store_day_start(filter->day + 1)) : NULL;
}

static int pgstore_count(struct store *base, const struct store_filter *filter, uint64_t *count)
{
	char from[24], to[24];
	const char *params[4] = { NULL };
	PGresult *res;
	int err;

	pgstore_filter_params(filter, params, from, to, sizeof(from));
	err = pgstore_run(pgstore_of(base), PG_READ, "count",
			  "SELECT count(*) FROM execution_log WHERE"
			  PGSTORE_FILTER("$1", "$2", "$3"), 3, params + 1, &res);
	if (err)
		return err;
	*count = (uint64_t)pgstore_get_int(res, 0, 0);
	PQclear(res);
	return 0;
}

/* Hands one row of a page on; sets *last_id to its id. */
typedef int (*pgstore_row_fn)(PGresult *res, int row, int64_t *last_id, void *arg);

/*
 * Keyset paging: each page is a fresh query (@sql, with $1 the last id seen
 * and $2..$4 the filter) for the next @page rows, so an execution that
 * existed throughout is seen exactly once, and the connection goes back to
 * the pool before @row runs.
 */
static int pgstore_pages(struct pgstore *s, const char *what, const char *sql, int page,
			 const struct store_filter *filter, int64_t after_id,
			 pgstore_row_fn row, void *arg)
{
	char after[24], from[24], to[24];
	const char *params[4];
	bool more = true;
	int err = 0;

	pgstore_filter_params(filter, params, from, to, sizeof(from));
	while (err == 0 && more) {
		PGresult *res;
		int rows;

		params[0] = pgstore_int(after, sizeof(after), after_id);
		err = pgstore_run(s, PG_READ, what, sql, 4, params, &res);
		if (err)
			break;
		rows = PQntuples(res);
		store_count_visits(&s->base, (uint64_t)rows + 1);
		more = rows == page;
		for (int i = 0; i < rows && err == 0; i++)
			err = row(res, i, &after_id, arg);
		PQclear(res);
	}
	return err > 0 ? 0 : err;
}

struct pgstore_list_arg {
	store_list_fn fn;
	store_name_fn name_fn;
	void *ctx;
};

static int pgstore_record_row(PGresult *res, int row, int64_t *last_id, void *arg)
{
	struct pgstore_list_arg *a = arg;
	struct store_record rec = { 0 };
	int err = pgstore_row(res, row, &rec);

	if (err == 0) {
		*last_id = rec.id;
		err = a->fn(a->ctx, &rec);
	}
	store_record_clear(&rec);
	return err;
}

static int pgstore_name_row(PGresult *res, int row, int64_t *last_id, void *arg)
{
	struct pgstore_list_arg *a = arg;

	*last_id = pgstore_get_int(res, row, 0);
	return a->name_fn(a->ctx, *last_id, PQgetvalue(res, row, 1));
}

static int pgstore_list(struct store *base, const struct store_filter *filter,
			int64_t after_id, store_list_fn fn, void *ctx)
{
	struct pgstore_list_arg a = { .fn = fn, .ctx = ctx };

	return pgstore_pages(pgstore_of(base), "list",
			     "SELECT " PGSTORE_COLUMNS " FROM execution_log WHERE id > $1::bigint AND"
			     PGSTORE_FILTER("$2", "$3", "$4") " ORDER BY id LIMIT " PGSTORE_PAGE_TEXT,
			     PGSTORE_PAGE, filter, after_id, pgstore_record_row, &a);
}

/* As pgstore_list(), reading only id and execution_id (the index on (outcome, id) covers a filter by outcome). */
static int pgstore_list_names(struct store *base, const struct store_filter *filter,
			      int64_t after_id, store_name_fn fn, void *ctx)
{
	struct pgstore_list_arg a = { .name_fn = fn, .ctx = ctx };

	return pgstore_pages(pgstore_of(base), "list names",
			     "SELECT id, execution_id FROM execution_log WHERE id > $1::bigint AND"
			     PGSTORE_FILTER("$2", "$3", "$4") " ORDER BY id LIMIT "
			     PGSTORE_NAMES_PAGE_TEXT,
			     PGSTORE_NAMES_PAGE, filter, after_id, pgstore_name_row, &a);
}

/* The @n greatest ids, descending, in pages as pgstore_list(). */
static int pgstore_list_recent(struct store *base, size_t n, store_list_fn fn, void *ctx)
{
	struct pgstore *s = pgstore_of(base);
	char before[24], limit[24];
	int64_t before_id = INT64_MAX;
	const char *params[2];
	int err = 0;

	while (err == 0 && n > 0) {
		struct store_record rec = { 0 };
		size_t page = n < PGSTORE_PAGE ? n : PGSTORE_PAGE;
		PGresult *res;
		int rows;

		params[0] = pgstore_int(before, sizeof(before), before_id);
		params[1] = pgstore_int(limit, sizeof(limit), (int64_t)page);
		err = pgstore_run(s, PG_READ, "list the most recent",
				  "SELECT " PGSTORE_COLUMNS " FROM execution_log WHERE id < $1::bigint"
				  " ORDER BY id DESC LIMIT $2::bigint", 2, params, &res);
		if (err)
			break;
		rows = PQntuples(res);
		n = (size_t)rows < page ? 0 : n - page;
		for (int i = 0; i < rows && err == 0; i++) {
			err = pgstore_row(res, i, &rec);
			if (err == 0) {
				before_id = rec.id;
				err = fn(ctx, &rec);
			}
			store_record_clear(&rec);
		}
		PQclear(res);
	}
	return err > 0 ? 0 : err;
}

/*
 * Finished executions in start order, in keyset pages on (started_at, id):
 * the started_at index finds the page, the server sorts the rows of one
 * started_at by id.
 */
static int pgstore_list_finished_by_start(struct store *base, const struct store_start_walk *w,
					  store_by_start_fn fn, void *ctx)
{
	static const char *const sql[2] = {
		"SELECT id, execution_id, started_at FROM execution_log WHERE outcome <> 'running'"
		" AND started_at < $3::bigint AND started_at >= $1::bigint"
		" AND (started_at, id) > ($1::bigint, $2::bigint)"
		" ORDER BY started_at, id LIMIT " PGSTORE_NAMES_PAGE_TEXT,
		"SELECT id, execution_id, started_at FROM execution_log WHERE outcome <> 'running'"
		" AND started_at < $3::bigint AND started_at <= $1::bigint"
		" AND (started_at, id) < ($1::bigint, $2::bigint)"
		" ORDER BY started_at DESC, id DESC LIMIT " PGSTORE_NAMES_PAGE_TEXT,
	};
	struct pgstore *s = pgstore_of(base);
	char at[24], id[24], before[24];
	struct store_start_walk pos = *w;
	const char *params[3];
	bool more = true;
	int err = 0;

	params[2] = pgstore_int(before, sizeof(before), w->before);
	while (err == 0 && more) {
		PGresult *res;
		int rows;

		params[0] = pgstore_int(at, sizeof(at), pos.started_at);
		params[1] = pgstore_int(id, sizeof(id), pos.id);
		err = pgstore_run(s, PG_READ, "list by start", sql[w->newest_first], 3, params, &res);
		if (err)
			break;
		rows = PQntuples(res);
		store_count_visits(&s->base, (uint64_t)rows + 1);
		more = rows == PGSTORE_NAMES_PAGE;
		for (int i = 0; i < rows && err == 0; i++) {
			pos.id = pgstore_get_int(res, i, 0);
			pos.started_at = pgstore_get_int(res, i, 2);
			err = fn(ctx, pos.id, PQgetvalue(res, i, 1), pos.started_at);
		}
		PQclear(res);
	}
	return err > 0 ? 0 : err;
}

/*
 * The aggregates, computed by the server in one statement over the finished
 * rows (nothing of them crosses the network). Unlike SQLite's and LMDB's
 * kept aggregates, the latest finish is that of the rows still there.
 */
static int pgstore_summary(struct store *base, struct store_summary *out)
{
	char bounds[STORE_DURATION_BUCKETS * 24] = "{";
	const char *params[1] = { bounds };
	size_t used = 1;
	PGresult *res;
	int err;

	for (int i = 0; i < STORE_DURATION_BUCKETS - 1; i++)
		used += (size_t)snprintf(bounds + used, sizeof(bounds) - used, "%s%lld", i ? "," : "",
					 (long long)store_duration_bounds_ms[i]);
	snprintf(bounds + used, sizeof(bounds) - used, "}");
	/* width_bucket() counts lower bounds in; ours are upper bounds, so d - 1. */
	err = pgstore_run(pgstore_of(base), PG_READ, "summarize",
			  "SELECT width_bucket(d - 1, $1::bigint[]), count(*), sum(d), max(finished_at)"
			  " FROM (SELECT GREATEST(COALESCE(duration_ms, 0), 0) AS d, finished_at"
			  " FROM execution_log WHERE outcome <> 'running') f GROUP BY 1",
			  1, params, &res);
	if (err)
		return err;
	for (int i = 0; i < PQntuples(res); i++) {
		int64_t bucket = pgstore_get_int(res, i, 0), last = pgstore_get_int(res, i, 3);

		if (bucket < 0 || bucket >= STORE_DURATION_BUCKETS)
			continue;
		out->finished[bucket] += (uint64_t)pgstore_get_int(res, i, 1);
		out->duration_sum_ms = store_add_saturated(out->duration_sum_ms,
							   pgstore_get_int(res, i, 2));
		if (last != STORE_NULL && (out->last_finished_at == STORE_NULL || last > out->last_finished_at))
			out->last_finished_at = last;
	}
	PQclear(res);
	return 0;
}

static int pgstore_list_days(struct store *base, int64_t after_day, store_day_fn fn, void *ctx)
{
	struct pgstore *s = pgstore_of(base);
	int64_t from = store_day_start(after_day + 1);
	char from_text[24];
	const char *params[1];
	int err = 0;

	/* One index seek a day: the cost is the number of days, not of executions. */
	while (err == 0) {
		PGresult *res;
		int64_t day;

		params[0] = pgstore_int(from_text, sizeof(from_text), from);
		err = pgstore_run(s, PG_READ, "list days",
				  "SELECT started_at FROM execution_log WHERE started_at >= $1::bigint"
				  " ORDER BY started_at LIMIT 1", 1, params, &res);
		if (err)
			break;
		if (PQntuples(res) == 0) {
			PQclear(res);
			break;
		}
		day = store_day_of(pgstore_get_int(res, 0, 0));
		PQclear(res);
		/* store.c's fn stops at a day that is not nameable: the next second stays in int64. */
		err = fn(ctx, day);
		if (err == 0)
			from = store_day_start(day + 1);
	}
	return err > 0 ? 0 : err;
}

/*
 * Cheap and without writing: the server answers, the session may write
 * (not a standby, not default_transaction_read_only) and we may insert.
 */
static int pgstore_check_room(struct store *base)
{
	PGresult *res;
	int err;

	err = pgstore_run(pgstore_of(base), PG_READ, "check the session",
			  "SELECT current_setting('transaction_read_only') = 'on' OR pg_is_in_recovery(),"
			  " has_table_privilege('execution_log', 'INSERT')", 0, NULL, &res);
	if (err)
		return err;
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		err = store_fail(-EROFS, "postgres: the server or the session is read-only");
	else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
		err = store_fail(-EACCES, "postgres: no permission to insert into execution_log");
	PQclear(res);
	return err;
}

/* ---- the watch ---------------------------------------------------------------- */

/* Connects the listener and LISTENs; NULL (reason set) on failure. */
static PGconn *pgstore_listen_connect(struct pgstore *s)
{
	PGconn *pg = pgstore_connect(s->conninfo);
	PGresult *res;
	char msg[256];

	if (pg == NULL)
		return NULL;
	PQsetNoticeProcessor(pg, pgstore_ignore_notice, NULL);
	if (PQstatus(pg) != CONNECTION_OK) {
		store_fail(-ENOTCONN, "postgres: the listener cannot connect: %s",
			   pgstore_message(PQerrorMessage(pg), msg, sizeof(msg)));
		PQfinish(pg);
		return NULL;
	}
	res = PQexec(pg, "LISTEN " PGSTORE_CHANNEL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		store_fail(-ENOTCONN, "postgres: LISTEN: %s",
			   pgstore_message(PQerrorMessage(pg), msg, sizeof(msg)));
		PQclear(res);
		PQfinish(pg);
		return NULL;
	}
	PQclear(res);
	return pg;
}

/* Waits for the connection's socket (or @ms without one); false when asked to stop. */
static bool pgstore_listen_wait(struct pgstore *s, PGconn *pg, int ms)
{
	struct pollfd fds[2] = {
		{ .fd = s->stop_pipe[0], .events = POLLIN },
		{ .fd = pg ? PQsocket(pg) : -1, .events = POLLIN },
	};

	if (poll(fds, fds[1].fd >= 0 ? 2 : 1, ms) < 0 && errno != EINTR)
		return false;
	return !(fds[0].revents & (POLLIN | POLLHUP));
}

static void *pgstore_listen_main(void *arg)
{
	struct pgstore *s = arg;
	PGconn *pg = s->listen_pg;

	s->listen_pg = NULL;
	for (;;) {
		PGnotify *note;

		if (pg == NULL) {
			/* Lost: retry each second; once back, anything may have changed. */
			if (!pgstore_listen_wait(s, NULL, 1000))
				break;
			pg = pgstore_listen_connect(s);
			if (pg)
				s->change_fn(s->change_ctx, NULL);
			continue;
		}
		if (!pgstore_listen_wait(s, pg, -1))
			break;
		if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) {
			PQfinish(pg);
			pg = NULL;
			continue;
		}
		while ((note = PQnotifies(pg)) != NULL) {
			s->change_fn(s->change_ctx, note->extra);
			PQfreemem(note);
		}
	}
	PQfinish(pg);
	return NULL;
}

static int pgstore_watch(struct store *base, store_change_fn fn, void *ctx)
{
	struct pgstore *s = pgstore_of(base);
	int err;

	if (s->watching)
		return store_fail(-EBUSY, "postgres: the store is already watched");
	if (pipe2(s->stop_pipe, O_CLOEXEC) != 0)
		return store_fail(-errno, "postgres: pipe: %s", strerror(errno));
	s->listen_pg = pgstore_listen_connect(s);
	if (s->listen_pg == NULL) {
		err = -ENOTCONN;
		goto pipe_close;
	}
	s->change_fn = fn;
	s->change_ctx = ctx;
	err = pthread_create(&s->listener, NULL, pgstore_listen_main, s);
	if (err) {
		err = store_fail(-err, "postgres: cannot start the listener: %s", strerror(err));
		PQfinish(s->listen_pg);
		s->listen_pg = NULL;
		goto pipe_close;
	}
	s->watching = true;
	return 0;

pipe_close:
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	return err;
}

/* Stops the listener, if any, and waits for it. */
static void pgstore_unwatch(struct pgstore *s)
{
	if (!s->watching)
		return;
	close(s->stop_pipe[1]); /* the listener sees POLLHUP */
	pthread_join(s->listener, NULL);
	close(s->stop_pipe[0]);
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	s->watching = false;
}

const struct store_ops pgstore_ops = {
	.name = "postgres",
	.connection_string = true,
	.open = pgstore_open,                /* a libpq connection string; the table made if missing */
	.close = pgstore_close,              /* stops the listener, closes every pooled connection */
	.detect = pgstore_detect,            /* a string that reads as a connection string, no network */
	.start = pgstore_start,              /* one INSERT; unique violation gives -EEXIST */
	.finish = pgstore_finish,            /* one UPDATE guarded by outcome = 'running' */
	.heartbeat = pgstore_heartbeat,      /* sets heartbeat_at_ms of a running row */
	.get = pgstore_get,                  /* by the UNIQUE execution_id */
	.get_by_id = pgstore_get_by_id,      /* by the primary key */
	.delete = pgstore_delete,            /* one DELETE guarded by outcome <> 'running' */
	.list = pgstore_list,                /* keyset pages of 256 on id */
	.list_names = pgstore_list_names,    /* keyset pages of 1024 (id, execution_id) */
	.list_days = pgstore_list_days,      /* one seek of the started_at index per day */
	.latest = pgstore_latest,            /* the greatest id */
	.check_room = pgstore_check_room,    /* the server answers and the session may insert */
	.statfs = NULL,                      /* the room is the server's disk, not this host's to see */
	.count = pgstore_count,              /* count(*) by the narrowest index */
	.list_recent = pgstore_list_recent,  /* pages of ORDER BY id DESC */
	.summary = pgstore_summary,          /* one aggregate over the finished rows, on the server */
	.watch = pgstore_watch,              /* LISTEN execlog on a connection and thread of its own */
	.list_finished_by_start = pgstore_list_finished_by_start, /* keyset pages on (started_at, id) */
	.reserve = pgstore_reserve,          /* an advisory lock on a session of its own */
	.unreserve = pgstore_unreserve,      /* pg_advisory_unlock on that session */
};
