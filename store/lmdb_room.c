/*
 * lmdb_room.c - whether an LMDB store has room for a start (check_room), and
 * the statfs figures of its disk cut to its map limit.
 *
 * Left out: growing the map (lmdb_txn.c); the on-disk layout (the top of
 * lmdb_keys.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "lmdb_internal.h"
#include "record.h"

/*
 * A trial, not a guess: the very start an empty file would commit (a name of
 * the longest length, the default document), in a write transaction that is
 * then aborted. Pages freed by deletes are reused, and copy-on-write touches
 * a path of pages per key, so only LMDB itself can tell whether the map has
 * room; an abort writes nothing. A start with a document is committed by a
 * write(2), which reports ENOSPC itself.
 */
#define LMDB_COMMIT_ROOM ((size_t)16 * 1024)

/*
 * The pages a start of an empty document may need, in a tree of @depth:
 * its eight keys (execlog:, id:, outcome:, day:, start:, meta:seq, and the
 * host: and user: keys of the mount's host and the creating user) each
 * copy a path and may split one, and the commit rewrites the free list.
 */
#define LMDB_START_PAGES(depth) (16 * (size_t)(depth) + 16)

struct lmdb_free {
	size_t pages; /* free pages that the next write may reuse */
	size_t need;  /* what a start may take of them */
};

/*
 * Counts the free pages of data.mdb that the next write transaction may
 * reuse: LMDB's free list (database 0) keeps, under the id of the
 * transaction that freed them, pages that no snapshot after it holds; those
 * freed before the last commit are free for the next one (unless a reader
 * still holds an older snapshot, which short transactions make rare). The
 * walk stops as soon as a start's need is met.
 */
static int lmdb_free_body(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_free *f = arg;
	size_t last = mdb_txn_id(txn->mdb);
	MDB_cursor *cur;
	MDB_val key, val;
	MDB_stat ms;
	int rc;

	f->pages = 0;
	rc = lmdb_txn_stat(txn, st->dbi, &ms);
	if (rc != 0)
		return rc;
	f->need = LMDB_START_PAGES(ms.ms_depth);
	rc = lmdb_cursor_open(txn, 0, &cur);
	if (rc != 0)
		return rc;
	for (rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_FIRST); rc == 0 && f->pages < f->need;
	     rc = lmdb_cursor_get(txn, cur, &key, &val, MDB_NEXT)) {
		size_t freed_by, count;

		if (key.mv_size != sizeof(freed_by) || val.mv_size < sizeof(count))
			return store_fail(-EIO, "lmdb: the free list is damaged");
		memcpy(&freed_by, key.mv_data, sizeof(freed_by));
		if (freed_by >= last)
			break; /* keys ascend: the rest is not free yet */
		/* The value is an ID list: its count, then the page numbers. */
		memcpy(&count, val.mv_data, sizeof(count));
		f->pages += count;
	}
	mdb_cursor_close(cur);
	return rc == -ENOENT ? 0 : rc;
}

/*
 * Whether a start fits in the free pages data.mdb already has, for a disk
 * too full to grow it: copy-on-write takes its pages from the free list
 * first, and writing a page the file has needs no room on the disk.
 */
static bool lmdb_start_fits_free_pages(struct lmdb_store *st)
{
	struct lmdb_free f = { 0 };

	return lmdb_run(st, false, "read the free list", lmdb_free_body, &f) == 0 &&
	       f.pages >= f.need;
}

int lmdb_check_room(struct store *s)
{
	struct lmdb_store *st = lmdb_of(s);
	char name[RECORD_NAME_MAX + 1], data[4096], empty[] = "", args[] = "[]";
	/* A host name and a user name of the longest usual lengths (HOST_NAME_MAX, useradd's 32). */
	char host[] = "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~";
	char user[] = "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~";
	struct store_record probe = {
		.execution_id = name, .tool_version = empty, .args = args, .db_path = empty,
		.started_ms = store_now_ms(), .host = host, .user = user,
		.exit_code = STORE_NULL, .signal = STORE_NULL, .uid = 0, .pid = 0,
	};
	struct lmdb_start_arg a = { .rec = &probe, .name_len = RECORD_NAME_MAX };
	const char *dir = NULL;
	struct lmdb_txn txn = { 0 };
	bool can_grow;
	int rc;

	if (mdb_env_get_path(st->env, &dir) == 0) {
		snprintf(data, sizeof(data), "%s/data.mdb", dir);
		rc = store_room_at(data);
		/* A full disk: the pages freed by deletes may still hold a start. */
		if (rc == -ENOSPC && lmdb_start_fits_free_pages(st))
			rc = 0;
		if (rc)
			return rc;
	}
	memset(name, '~', RECORD_NAME_MAX); /* no execution's name: '~' is not allowed in one */
	name[RECORD_NAME_MAX] = '\0';
	pthread_rwlock_rdlock(&st->resize);
	can_grow = st->map_max == 0 || st->map_size < st->map_max;
	rc = lmdb_txn_begin(st, &txn, true);
	if (rc == 0) {
		rc = lmdb_start_body(st, &txn, &a);
		/* A commit also writes the free list: allow it a few pages. */
		if (rc == 0)
			rc = lmdb_txn_put(&txn, st->dbi,
					  &(MDB_val){ .mv_size = 15, .mv_data = "meta:room-check" },
					  &(MDB_val){ .mv_size = LMDB_COMMIT_ROOM }, MDB_RESERVE);
		mdb_txn_abort(txn.mdb);
	}
	pthread_rwlock_unlock(&st->resize);
	if (rc != 0 && txn.failed == MDB_MAP_FULL && !can_grow)
		return store_fail(-ENOSPC, "lmdb: the map is full at its limit of %zu bytes",
				  st->map_max);
	/* Anything else is for the start itself to meet (and to grow the map for). */
	return 0;
}

/* The pages on LMDB's free list, which it reuses before it grows (as mdb_stat -f counts). */
static size_t lmdb_free_pages(struct lmdb_store *st)
{
	MDB_cursor *cursor;
	MDB_val key, val;
	MDB_txn *txn;
	size_t pages = 0, n;

	if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	if (mdb_cursor_open(txn, 0, &cursor) == 0) { /* dbi 0 is the free list */
		while (mdb_cursor_get(cursor, &key, &val, MDB_NEXT) == 0 && val.mv_size >= sizeof(n)) {
			memcpy(&n, val.mv_data, sizeof(n)); /* an IDL starts with its length */
			pages += n;
		}
		mdb_cursor_close(cursor);
	}
	mdb_txn_abort(txn);
	return pages;
}

/*
 * The disk of data.mdb, and with map_max the map: its size at most, and the
 * bytes left below it (the pages past the last one used, and the free list).
 */
int lmdb_statfs(struct store *s, struct statvfs *out)
{
	struct lmdb_store *st = lmdb_of(s);
	char data[4096];
	const char *dir = NULL;
	MDB_envinfo info;
	MDB_stat ms;
	uint64_t pages, free_pages, used, left;
	int err;

	if (mdb_env_get_path(st->env, &dir) != 0 || mdb_env_info(st->env, &info) != 0 ||
	    mdb_env_stat(st->env, &ms) != 0)
		return store_fail(-EIO, "lmdb: cannot read the environment's state");
	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	err = store_statfs_at(data, out);
	if (err || st->map_max == 0)
		return err;
	pages = (uint64_t)info.me_last_pgno + 1;
	free_pages = lmdb_free_pages(st);
	used = (free_pages < pages ? pages - free_pages : 0) * ms.ms_psize;
	left = used < st->map_max ? (st->map_max - used) / out->f_frsize : 0;
	if (st->map_max / out->f_frsize < out->f_blocks)
		out->f_blocks = st->map_max / out->f_frsize;
	if (left < out->f_bfree)
		out->f_bfree = left;
	if (left < out->f_bavail)
		out->f_bavail = left;
	return 0;
}

