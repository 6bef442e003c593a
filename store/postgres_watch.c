/*
 * postgres_watch.c - store_watch() for PostgreSQL: LISTEN on channel
 * "execlog" on a connection and in a thread of its own, each notification
 * (an execution_id, sent by the change's own statement) handed to the
 * caller; a lost connection is made again each second, then reported as
 * "anything may have changed".
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pgstore.h"

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

int pgstore_watch(struct store *base, store_change_fn fn, void *ctx)
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
	err = store_thread_create(&s->listener, pgstore_listen_main, s);
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
void pgstore_unwatch(struct pgstore *s)
{
	if (!s->watching)
		return;
	close(s->stop_pipe[1]); /* the listener sees POLLHUP */
	pthread_join(s->listener, NULL);
	close(s->stop_pipe[0]);
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	s->watching = false;
}
