/*
 * postgres_version.c - store_version() for PostgreSQL: the server's current
 * snapshot (which transactions have committed), hashed into one number.
 *
 * Notifications do not cover it: only execlogfs's own statements NOTIFY,
 * so a row psql inserts, updates or deletes sends none. A snapshot does:
 * a committed change's transaction was, before it committed, either at or
 * past the snapshot's xmax or in its list of running ones, and after it is
 * neither, so the snapshot's text differs across every committed change,
 * whoever made it. It is the whole cluster's, so it also moves for writes
 * to other tables and databases (allowed: "may also change when nothing
 * did"); asking costs one round trip that reads no table.
 * txid_current_snapshot() rather than pg_current_snapshot(): the same text,
 * and servers before 13 have only it.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "pgstore.h"

/* FNV-1a: two different snapshots hash alike with odds of 2^-64. */
static uint64_t pgstore_hash(const char *text)
{
	uint64_t h = 14695981039346656037ULL;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

int pgstore_version(struct store *base, uint64_t *version)
{
	struct pgstore *s = pgstore_of(base);
	PGresult *res = NULL;
	int err;

	*version = 0;
	err = pgstore_run(s, PG_READ, "read the snapshot", "SELECT txid_current_snapshot()::text",
			  0, NULL, &res);
	if (err == 0 && (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)))
		err = store_fail(-EIO, "postgres: the snapshot came back empty");
	if (err == 0)
		*version = pgstore_hash(PQgetvalue(res, 0, 0));
	PQclear(res);
	return err;
}
