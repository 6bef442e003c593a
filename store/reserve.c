/*
 * reserve.c - a name reserved for one start across every handle on a store
 * kept in a file of this host (SQLite, LMDB), so that of two daemons on one
 * SQLite file or one LMDB directory starting the same name, the loser is
 * refused at its open, not at a commit that may come only at its release,
 * after its caller was told it had started.
 *
 * A reservation is an open file description lock (fcntl F_OFD_SETLK,
 * F_WRLCK) on one byte of the store's own file (the SQLite database,
 * LMDB's data.mdb) at offset store_reserve_key(name): 2^62 plus a 61-bit
 * FNV-1a hash of the name. Nothing is ever written there; the byte is only
 * locked, far past any real file size and past SQLite's lock bytes (1 GiB
 * and the 512 after it; WAL mode's other locks are in -shm), and LMDB locks
 * lock.mdb alone.
 *
 * Why these locks: the kernel drops them when the open file goes, so a
 * daemon that dies (kill -9 included) leaves no reservation behind and needs
 * no cleanup; and they belong to the open file, not to the process, so two
 * handles in one process exclude each other as two daemons do. A handle
 * takes all its reservations through one descriptor, and those never
 * exclude each other: its caller serialises its own starts of one name
 * (fs/pending.c).
 *
 * Two different names with one key exclude each other (a false EEXIST on
 * another handle, or on one handle a drop of one that drops both). With
 * 61 bits, the chance for two names in flight at once is 2^-61: accepted.
 *
 * The descriptor is opened at the first reservation (a store never started
 * in holds none) and closed only after the backend has closed the store:
 * closing any descriptor of a file drops every POSIX lock the process holds
 * on it, SQLite's own included. (So two handles on one SQLite file in one
 * process, as the unit tests make, lose SQLite's locks when the first
 * closes; a daemon has one.)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"

uint64_t store_reserve_key(const char *execution_id)
{
	uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a, 64 bits */

	for (const unsigned char *p = (const unsigned char *)execution_id; *p; p++)
		h = (h ^ *p) * UINT64_C(1099511628211);
	return (UINT64_C(1) << 62) | (h & ((UINT64_C(1) << 61) - 1));
}

int store_filelock_init(struct store_filelock *fl, const struct store_ops *ops, const char *path)
{
	char *absolute;
	int err = 0;

	fl->fd = -1;
	fl->path = NULL;
	pthread_mutex_init(&fl->lock, NULL);
	if (ops->reserve_file == NULL)
		return 0;
	/* Absolute: a daemon changes its directory to / when it detaches. */
	absolute = realpath(path, NULL);
	if (asprintf(&fl->path, "%s%s", absolute ? absolute : path, ops->reserve_file) < 0) {
		fl->path = NULL;
		err = store_fail(-ENOMEM, "out of memory");
	}
	free(absolute);
	return err;
}

int store_filelock_free(struct store_filelock *fl)
{
	pthread_mutex_destroy(&fl->lock);
	free(fl->path);
	fl->path = NULL;
	return fl->fd;
}

/* The descriptor reservations are locked through, opened at the first; or -errno. */
static int store_filelock_fd(struct store_filelock *fl)
{
	int fd = __atomic_load_n(&fl->fd, __ATOMIC_ACQUIRE), saved;

	if (fd >= 0)
		return fd;
	if (fl->path == NULL)
		return store_fail(-EOPNOTSUPP, "this store has no file to reserve names in");
	pthread_mutex_lock(&fl->lock);
	fd = fl->fd;
	if (fd < 0) {
		/* For writing: a write lock needs it (nothing is written). */
		fd = open(fl->path, O_RDWR | O_CLOEXEC | O_NOCTTY);
		saved = errno;
		if (fd >= 0)
			__atomic_store_n(&fl->fd, fd, __ATOMIC_RELEASE);
		else
			fd = store_fail(-saved, "cannot open %s to reserve names in it: %s", fl->path,
					strerror(saved));
	}
	pthread_mutex_unlock(&fl->lock);
	return fd;
}

/* The byte of @execution_id's reservation, with lock type @type. */
static struct flock store_filelock_byte(const char *execution_id, short type)
{
	return (struct flock){
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = (off_t)store_reserve_key(execution_id),
		.l_len = 1,
	};
}

int store_filelock_take(struct store_filelock *fl, const char *execution_id)
{
	struct flock byte = store_filelock_byte(execution_id, F_WRLCK);
	int fd = store_filelock_fd(fl), saved;

	if (fd < 0)
		return fd;
	if (fcntl(fd, F_OFD_SETLK, &byte) == 0)
		return 0;
	saved = errno;
	if (saved == EAGAIN || saved == EACCES)
		return store_fail(-EEXIST, "execution %s is being started through another mount "
				  "of the store", execution_id);
	return store_fail(-saved, "cannot lock %s to reserve %s: %s", fl->path, execution_id,
			  strerror(saved));
}

void store_filelock_drop(struct store_filelock *fl, const char *execution_id)
{
	struct flock byte = store_filelock_byte(execution_id, F_UNLCK);
	int fd = __atomic_load_n(&fl->fd, __ATOMIC_ACQUIRE);

	/* An unlock cannot fail on a descriptor that locked: nothing to report. */
	if (fd >= 0)
		(void)fcntl(fd, F_OFD_SETLK, &byte);
}
