/*
 * postgres_conn.c - the PostgreSQL backend's connections: libpq's errors
 * as errnos, the pool every call borrows a session from, running one
 * statement with the retry rules of postgres.c, reading values and rows,
 * and the session of its own that holds the store's reservations.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgstore.h"

/* libpq's message, without its trailing newline, for a reason. */
const char *pgstore_message(const char *msg, char *buf, size_t size)
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

int pgstore_errno_of_state(const char *state)
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

/*
 * Connects with our defaults first (the connection string may override
 * them) and client_encoding last (records are UTF-8, whatever it says).
 */
PGconn *pgstore_connect(const char *conninfo)
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

void pgstore_ignore_notice(void *arg, const char *message)
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
	/*
	 * No JIT: every statement of ours reads a few rows, but a table the
	 * planner has no statistics of yet (the counts' state, just made) can
	 * make it estimate millions and compile: 0.4 s for a read of 0.5 ms.
	 * (jit exists from PostgreSQL 11 on.)
	 */
	if (PQresultStatus(res) == PGRES_COMMAND_OK && PQserverVersion(pg) >= 110000) {
		PQclear(res);
		res = PQexec(pg, "SET jit = off");
	}
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
int pgstore_ready(struct pgstore *s, struct pgstore_conn *c)
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
struct pgstore_conn *pgstore_take(struct pgstore *s)
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

void pgstore_put(struct pgstore *s, struct pgstore_conn *c)
{
	pthread_mutex_lock(&s->pool_lock);
	c->next = s->idle;
	s->idle = c;
	pthread_cond_signal(&s->pool_free);
	pthread_mutex_unlock(&s->pool_lock);
}

/*
 * Runs @sql with @n text parameters (NULL for SQL null) on a pooled
 * connection and returns its result in *out (PQclear it), or a negative
 * errno with the reason set, naming @doing. A broken connection is reset
 * and the statement run once more when that cannot run it twice.
 */
int pgstore_run(struct pgstore *s, enum pgstore_kind kind, const char *doing,
		const char *sql, int n, const char *const *params, PGresult **out)
{
	const struct pgstore_params p = { .n = n, .values = params };

	return pgstore_run_params(s, kind, doing, sql, &p, out);
}

int pgstore_run_params(struct pgstore *s, enum pgstore_kind kind, const char *doing,
		       const char *sql, const struct pgstore_params *p, PGresult **out)
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
		res = PQexecParams(c->pg, sql, p->n, NULL, p->values, p->lengths, p->formats,
				   p->binary_result);
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

/* A decimal int64 parameter in @buf. */
const char *pgstore_int(char *buf, size_t size, int64_t v)
{
	snprintf(buf, size, "%lld", (long long)v);
	return buf;
}

int64_t pgstore_get_int(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return STORE_NULL;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

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

const char *pgstore_col_text(void *cur, int col)
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
int pgstore_row(const PGresult *res, int row, struct store_record *r)
{
	struct pgstore_cursor cur = { .res = res, .row = row };
	int err = sqlrow_record(&pgstore_columns, &cur, r);

	if (err == 0)
		err = pgstore_row_provenance(res, row, r);
	if (err)
		store_record_clear(r);
	return err;
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
int pgstore_reserve(struct store *base, const char *execution_id)
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

void pgstore_unreserve(struct store *base, const char *execution_id)
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
