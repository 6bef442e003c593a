/*
 * lmdb_open.c - detecting, opening and closing an LMDB store: what is at the
 * path is checked before LMDB touches it, the marker of our stores (see the
 * layout in lmdb_keys.c) is checked or written, and a writable open moves a
 * store of format 1, 2 or 3 to format 4 (in one transaction: killed, it
 * leaves the older format, which the next open moves again) and builds
 * meta:durations if it is missing.
 *
 * Left out: the transaction engine (lmdb_txn.c).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "lmdb_internal.h"

/* Opening. */

/* True if @dir holds nothing but perhaps a lock.mdb: a store we may create. */
static int lmdb_dir_is_empty(const char *dir, bool *empty)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	*empty = true;
	d = opendir(dir);
	if (d == NULL) {
		rc = store_fail(-errno, "lmdb: cannot read %s: %s", dir, strerror(errno));
		goto out;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, "lock.mdb") != 0) {
			*empty = false;
			break;
		}
	}
	if (de == NULL && errno != 0)
		rc = store_fail(-errno, "lmdb: cannot read %s: %s", dir, strerror(errno));
	closedir(d);
out:
	return rc;
}

/*
 * Reads the header of @dir/data.mdb without locking, creating or writing
 * anything: 0 for an LMDB file this build reads, else a negative errno with
 * the reason (-EMEDIUMTYPE for a foreign file).
 */
static int lmdb_check_data(const char *dir)
{
	MDB_env *env;
	int rc;

	rc = mdb_env_create(&env);
	if (rc == 0) {
		rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK, 0644);
		mdb_env_close(env);
	}
	if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
		rc = store_fail(-EMEDIUMTYPE, "%s/data.mdb is not an LMDB file this build reads (%s)",
				dir, mdb_strerror(rc));
	else if (rc != 0)
		rc = lmdb_fail(rc, "open");
	return rc;
}

/* Makes the directory of a new store (umask applies, as for any file). */
static int lmdb_make_dir(const char *path, bool read_only)
{
	int rc = 0;

	if (read_only)
		rc = store_fail(-ENOENT, "lmdb: no store at %s", path);
	/* A concurrent creator may win the race; its directory is as good. */
	else if (mkdir(path, 0755) != 0 && errno != EEXIST)
		rc = store_fail(-errno, "lmdb: cannot create %s: %s", path, strerror(errno));
	return rc;
}

/*
 * Checks an existing directory: its data.mdb must be an LMDB file, or,
 * without one, the directory must be empty (but for a lock.mdb) so that a
 * new store may be made there. Sets *data_size to the size of data.mdb.
 */
static int lmdb_check_dir(const char *path, bool read_only, size_t *data_size)
{
	struct stat sb;
	char *data = NULL;
	bool empty = false;
	int rc = 0;

	if (asprintf(&data, "%s/data.mdb", path) < 0) {
		rc = store_fail(-ENOMEM, "lmdb: out of memory");
		goto out;
	}
	if (stat(data, &sb) == 0) {
		if (!S_ISREG(sb.st_mode))
			rc = store_fail(-EMEDIUMTYPE, "%s is not a regular file", data);
		/* An empty data.mdb is a store whose creation was interrupted. */
		else if (sb.st_size > 0)
			rc = lmdb_check_data(path);
		*data_size = (size_t)sb.st_size;
	} else if (errno != ENOENT) {
		rc = store_fail(-errno, "lmdb: cannot reach %s: %s", data, strerror(errno));
	} else {
		rc = lmdb_dir_is_empty(path, &empty);
		if (rc == 0 && !empty)
			rc = store_fail(-EMEDIUMTYPE,
					"%s is a directory without data.mdb, not an LMDB store", path);
		else if (rc == 0 && read_only)
			rc = store_fail(-ENOENT, "lmdb: no store at %s (no data.mdb)", path);
	}
	free(data);
out:
	return rc;
}

/*
 * Checks what is at @path before LMDB touches it, and makes the directory
 * if nothing is there (unless @read_only). Sets *data_size to the size of an
 * existing data.mdb, or 0.
 */
static int lmdb_prepare(const char *path, bool read_only, size_t *data_size)
{
	struct stat sb;
	int rc;

	*data_size = 0;
	if (stat(path, &sb) != 0)
		rc = errno == ENOENT ? lmdb_make_dir(path, read_only)
				     : store_fail(-errno, "lmdb: cannot reach %s: %s",
						  path, strerror(errno));
	else if (!S_ISDIR(sb.st_mode))
		rc = store_fail(-EMEDIUMTYPE,
				"%s is a file, not an LMDB store (a directory holding data.mdb)", path);
	else
		rc = lmdb_check_dir(path, read_only, data_size);
	return rc;
}

/* The format a marker names, in *@format: -EMEDIUMTYPE for another marker. */
static int lmdb_format_of(const MDB_val *val, int *format)
{
	static const char *const markers[] = { LMDB_FORMAT_1, LMDB_FORMAT_2, LMDB_FORMAT_3,
					       LMDB_FORMAT };

	for (int i = 0; i < (int)(sizeof(markers) / sizeof(markers[0])); i++) {
		if (val->mv_size == strlen(markers[i]) &&
		    memcmp(val->mv_data, markers[i], val->mv_size) == 0) {
			*format = i + 1;
			return 0;
		}
	}
	return store_fail(-EMEDIUMTYPE, "the LMDB store is of format \"%.*s\", not \"%s\"",
			  (int)(val->mv_size > 64 ? 64 : val->mv_size), (const char *)val->mv_data,
			  LMDB_FORMAT);
}

/*
 * Checks the marker of our stores. An empty environment (a new store) gets
 * it when the transaction can write; an environment holding anything else
 * is some other program's and is refused untouched.
 */
static int lmdb_mark(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	const bool *write = arg;
	struct lmdb_buf kb = { 0 };
	MDB_val val;
	MDB_stat ms;
	int rc;

	rc = lmdb_txn_dbi_open(txn, NULL, 0, &st->dbi);
	if (rc != 0)
		goto out;
	lmdb_buf_add_str(&kb, "meta:format");
	rc = lmdb_get_key(st, txn, &kb, &val);
	st->format = LMDB_FORMAT_VERSION;
	if (rc == 0) {
		rc = lmdb_format_of(&val, &st->format);
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	rc = lmdb_txn_stat(txn, st->dbi, &ms);
	if (rc != 0)
		goto out;
	if (ms.ms_entries > 0)
		rc = store_fail(-EMEDIUMTYPE,
				"the LMDB environment holds data but no execlogfs marker: "
				"it belongs to another program");
	else if (*write)
		rc = lmdb_put(st, txn, &kb, LMDB_FORMAT, strlen(LMDB_FORMAT), 0);
out:
	return rc;
}


/*
 * The keys format 2 added: a start: key for each id: key. The walk's cursor is tracked by LMDB, which keeps it in place
 * across the puts of the same write transaction.
 */
static int lmdb_upgrade_1(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_buf prefix = { 0 }, kb, name;
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
		if (++seen % LMDB_TRIM_KEYS == 0)
			lmdb_trim_held(st);
		/* A damaged entry gets no key: its record cannot be found from it either. */
		if (val.mv_size < LMDB_TIMES_LEN || val.mv_size - LMDB_TIMES_LEN > LMDB_NAME_MAX)
			continue;
		name.len = 0;
		lmdb_buf_add(&name, (const char *)val.mv_data + LMDB_TIMES_LEN,
			     val.mv_size - LMDB_TIMES_LEN);
		lmdb_key_start(&kb, lmdb_floor_div(lmdb_le64_decode(val.mv_data), 1000), id);
		rc = lmdb_put(st, txn, &kb, name.data, name.len, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == -ENOENT ? 0 : rc;
}

/*
 * Room for what an upgrade writes, claimed before its walks: the map of a
 * full store (as big as its data) must grow at the first write past its
 * free pages, which fails the transaction for the engine to grow the map
 * and run it again. Claimed first, that costs nothing; met at the end of
 * a walk, it cost the walk twice (a 1M-run upgrade took 3.8 s, not 2.6). A
 * value of LMDB_UPGRADE_ROOM bytes takes that many pages, which its delete
 * in the same transaction gives back to the transaction for reuse: room
 * for the counters of some 1,500 days (a store with more may still grow
 * the map late, and costs its walk twice).
 */
#define LMDB_UPGRADE_ROOM ((size_t)512 << 10)

static int lmdb_upgrade_room(struct lmdb_store *st, struct lmdb_txn *txn)
{
	struct lmdb_buf kb = { 0 };
	int rc;

	lmdb_buf_add_str(&kb, "meta:room");
	rc = lmdb_put(st, txn, &kb, NULL, LMDB_UPGRADE_ROOM, MDB_RESERVE);
	if (rc == 0)
		rc = lmdb_del(st, txn, &kb);
	return rc;
}

/*
 * Moves a store of an older format to this one, in one transaction: the
 * keys each format since added, then the marker.
 */
static int lmdb_upgrade(struct lmdb_store *st, struct lmdb_txn *txn, void *arg)
{
	struct lmdb_buf kb = { 0 };
	int rc = lmdb_upgrade_room(st, txn);

	if (rc == 0 && st->format == 1)
		rc = lmdb_upgrade_1(st, txn, arg);
	if (rc == 0 && st->format <= 2)
		rc = lmdb_views_build(st, txn, arg);
	if (rc == 0)
		rc = lmdb_counts_build(st, txn, arg);
	lmdb_buf_add_str(&kb, "meta:format");
	if (rc == 0)
		rc = lmdb_put(st, txn, &kb, LMDB_FORMAT, strlen(LMDB_FORMAT), 0);
	return rc;
}

/*
 * Makes the resize lock. A waiting remap is preferred to new transactions,
 * so that a steady flow of readers cannot starve it. No thread takes the
 * lock twice, which this kind of lock would not allow.
 */
static int lmdb_lock_init(struct lmdb_store *st)
{
	pthread_rwlockattr_t attr;
	int rc;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&st->resize, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc != 0)
		rc = store_fail(-rc, "lmdb: cannot make a lock: %s", strerror(rc));
	return rc;
}

/* mdb_env_open() of @path, its failure as a negative errno with the reason. */
static int lmdb_env_open(struct lmdb_store *st, const char *path, const struct store_options *opts)
{
	unsigned flags = MDB_NOTLS;
	int rc;

	/*
	 * FUSE runs calls on many threads and a listing may begin and end a
	 * read transaction on different ones: MDB_NOTLS ties reader slots to
	 * transactions, not threads. MDB_NOMETASYNC still syncs the data of
	 * each commit, so a crash loses at most the last transaction and
	 * never breaks the store.
	 */
	if (opts->read_only)
		flags |= MDB_RDONLY;
	if (opts->sync == STORE_SYNC_NORMAL)
		flags |= MDB_NOMETASYNC;
	rc = mdb_env_open(st->env, path, flags, 0644);
	if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
		rc = store_fail(-EMEDIUMTYPE, "%s is not an LMDB store this build reads (%s)",
				path, mdb_strerror(rc));
	else if (rc != 0)
		rc = store_fail(lmdb_errno(rc), "lmdb: cannot open %s: %s", path, mdb_strerror(rc));
	return rc;
}

/*
 * Makes and opens st->env on @path, with a map of at least @data_size
 * bytes (data.mdb's), and reads the map's size and place. On failure the
 * environment is closed again.
 */
static int lmdb_env_start(struct lmdb_store *st, const char *path,
			  const struct store_options *opts, size_t data_size)
{
	size_t map = data_size > LMDB_MAP_START ? data_size : LMDB_MAP_START;
	MDB_envinfo info;
	int dead, rc;

	rc = mdb_env_create(&st->env);
	if (rc != 0)
		return lmdb_fail(rc, "open");
	/* LMDB rounds a map below the data up to the data. */
	if (st->map_max != 0 && map > st->map_max)
		map = st->map_max;
	rc = mdb_env_set_mapsize(st->env, map);
	if (rc != 0) {
		rc = lmdb_fail(rc, "open");
		goto env_close;
	}
	rc = lmdb_env_open(st, path, opts);
	if (rc != 0)
		goto env_close;
	/* Free the reader slots of processes that died holding them. */
	rc = mdb_reader_check(st->env, &dead);
	if (rc == 0)
		rc = mdb_env_info(st->env, &info);
	if (rc != 0) {
		rc = lmdb_fail(rc, "open");
		goto env_close;
	}
	st->map_size = info.me_mapsize;
	lmdb_locate_map(st);
	return 0;

env_close:
	mdb_env_close(st->env);
	return rc;
}

/*
 * Checks (or, in a new store, writes) the marker; a writable open then
 * moves an older store to this format and builds meta:durations if missing.
 */
static int lmdb_ready(struct lmdb_store *st, bool write)
{
	int rc = lmdb_run(st, write, "open", lmdb_mark, &write);

	if (rc == 0 && write && st->format < LMDB_FORMAT_VERSION)
		rc = lmdb_run(st, true, "open", lmdb_upgrade, NULL);
	if (rc == 0 && write)
		st->format = LMDB_FORMAT_VERSION;
	if (rc == 0 && write)
		rc = lmdb_run(st, true, "open", lmdb_durations_build, NULL);
	return rc;
}

int lmdb_open(const char *path, const struct store_options *opts, struct store **out)
{
	struct lmdb_store *st;
	size_t data_size;
	int rc;

	rc = lmdb_prepare(path, opts->read_only, &data_size);
	if (rc != 0)
		goto out;
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		rc = store_fail(-ENOMEM, "lmdb: out of memory");
		goto out;
	}
	store_base_init(&st->base, &lmdb_ops, opts);
	st->map_max = opts->map_max_bytes > SIZE_MAX ? SIZE_MAX : (size_t)opts->map_max_bytes;

	rc = lmdb_lock_init(st);
	if (rc != 0)
		goto free_store;
	rc = lmdb_env_start(st, path, opts, data_size);
	if (rc != 0)
		goto lock_destroy;
	rc = lmdb_ready(st, !opts->read_only);
	if (rc != 0)
		goto env_close;
	*out = &st->base;
	goto out;

env_close:
	mdb_env_close(st->env);
lock_destroy:
	pthread_rwlock_destroy(&st->resize);
free_store:
	store_base_destroy(&st->base);
	free(st);
out:
	return rc;
}

void lmdb_close(struct store *s)
{
	struct lmdb_store *st = lmdb_of(s);

	/* MDB_NOMETASYNC leaves the last meta page to the kernel: a clean
	 * close makes it durable. */
	if (!st->base.opts.read_only)
		mdb_env_sync(st->env, 1);
	mdb_env_close(st->env);
	pthread_rwlock_destroy(&st->resize);
	store_base_destroy(&st->base);
	free(st);
}

int lmdb_detect(const char *path)
{
	bool empty = false;
	struct stat sb;
	char *data = NULL;
	int rc = 0;

	if (stat(path, &sb) != 0)
		rc = store_fail(-errno, "cannot reach %s: %s", path, strerror(errno));
	else if (!S_ISDIR(sb.st_mode))
		rc = store_fail(-EMEDIUMTYPE, "%s is not a directory", path);
	else if (asprintf(&data, "%s/data.mdb", path) < 0)
		rc = store_fail(-ENOMEM, "lmdb: out of memory");
	else if (stat(data, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		/* An empty directory is an LMDB store yet to be made (LMDB's convention). */
		rc = lmdb_dir_is_empty(path, &empty);
		if (rc == 0 && !empty)
			rc = store_fail(-EMEDIUMTYPE, "%s holds no data.mdb", path);
	}
	else if (sb.st_size > 0)
		rc = lmdb_check_data(path);
	free(data);
	return rc;
}

