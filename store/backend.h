/*
 * backend.h - what a store backend implements; read only by the files of store/.
 *
 * A backend is one const struct store_ops, registered in store.c. Its own
 * handle embeds struct store as its first member, named base, so that
 * store.c can hand the same pointer to every op. Each op has the contract of
 * the store_ call of the same name in store.h; store.c checks arguments,
 * read-only mode and refusals that need no store, so ops may assume them.
 */
#ifndef EXECLOG_BACKEND_H
#define EXECLOG_BACKEND_H

#include <assert.h>
#include <pthread.h>
#include <stddef.h>

#include "store.h"

struct store_ops {
	const char *name;
	/* The store is named by a connection string, passed on as written, not by a path here. */
	bool connection_string;
	/* Opens or creates the store at path; sets *out to its base. */
	int (*open)(const char *path, const struct store_options *opts, struct store **out);
	/* Frees everything open() made. */
	void (*close)(struct store *s);
	/* 0 if path holds a store of this backend, -EMEDIUMTYPE if not, -ENOENT if nothing is there. */
	int (*detect)(const char *path);
	/* Inserts rec (id, started_at and heartbeat_ms set by the op). */
	int (*start)(struct store *s, struct store_record *rec);
	/* Moves a running execution to its outcome. */
	int (*finish)(struct store *s, const char *execution_id,
		      const struct store_finish *fin, int64_t now_ms);
	/* Sets heartbeat_ms of a running execution. */
	int (*heartbeat)(struct store *s, const char *execution_id, int64_t now_ms);
	/* Reads one execution by execution_id. */
	int (*get)(struct store *s, const char *execution_id, struct store_record *out);
	/* Reads one execution by id. */
	int (*get_by_id)(struct store *s, int64_t id, struct store_record *out);
	/* Deletes a finished execution (only the one with id only_id, unless 0: else -ESTALE). */
	int (*delete)(struct store *s, const char *execution_id, int64_t only_id);
	/* Streams executions matching filter (never NULL here) with id > after_id. */
	int (*list)(struct store *s, const struct store_filter *filter,
		    int64_t after_id, store_list_fn fn, void *ctx);
	/* Optional (NULL: through list): streams ids and names, filter never NULL. */
	int (*list_names)(struct store *s, const struct store_filter *filter,
			  int64_t after_id, store_name_fn fn, void *ctx);
	/* Streams the days that have executions, after after_day. */
	int (*list_days)(struct store *s, int64_t after_day, store_day_fn fn, void *ctx);
	/* Reads the execution with the greatest id. */
	int (*latest)(struct store *s, struct store_record *out);
	/* 0 if a start looks committable now (writable, room left); -ENOSPC, -EROFS, -EPERM... */
	int (*check_room)(struct store *s);
	/* Optional (NULL: -EOPNOTSUPP): the room of the store, out zeroed by the caller. */
	int (*statfs)(struct store *s, struct statvfs *out);
	/* Counts executions matching filter (never NULL here). */
	int (*count)(struct store *s, const struct store_filter *filter, uint64_t *count);
	/* Optional (NULL: a count per outcome): counts by outcome, filter's day only. */
	int (*count_outcomes)(struct store *s, const struct store_filter *filter,
			      uint64_t counts[STORE_OUTCOMES]);
	/* Optional (NULL: through list_names and get_by_id): the n greatest ids, descending. */
	int (*list_recent)(struct store *s, size_t n, store_list_fn fn, void *ctx);
	/* Optional (NULL or -EOPNOTSUPP: by walking the finished executions): the aggregates. */
	int (*summary)(struct store *s, struct store_summary *out);
	/*
	 * Reservations: a backend on a file of this host names the file that
	 * reserve.c locks a byte of per name, as a suffix to the store's path
	 * ("" for the path itself); a backend on a server gives the two ops.
	 */
	const char *reserve_file;
	/* Optional (NULL: by reserve_file): reserves a name across handles, -EEXIST if held. */
	int (*reserve)(struct store *s, const char *execution_id);
	/* Optional (NULL: by reserve_file): gives a reservation back. */
	void (*unreserve)(struct store *s, const char *execution_id);
	/* Optional (NULL: -EOPNOTSUPP): reports changes made elsewhere through fn. */
	int (*watch)(struct store *s, store_change_fn fn, void *ctx);
	/* Optional (NULL: -EOPNOTSUPP): streams the values of attr in use (see store.h). */
	int (*list_values)(struct store *s, enum store_attr attr, store_value_fn fn, void *ctx);
	/*
	 * Optional (NULL: -EOPNOTSUPP): output (see store.h). A backend that
	 * keeps output deletes it with its execution (delete, and rows other
	 * programs delete), and sets output_bytes of every record it reads.
	 */
	int (*output_append)(struct store *s, int64_t id, uint64_t offset, const void *buf,
			     size_t len, uint64_t max, size_t *written);
	int (*output_read)(struct store *s, int64_t id, uint64_t offset, void *buf, size_t len,
			   size_t *got);
	int (*output_cut)(struct store *s, int64_t id);
	/* Optional (NULL: -EOPNOTSUPP): see store_version() in store.h. */
	int (*version)(struct store *s, uint64_t *version);
	/* Streams finished executions in start order past w's position (see store.h). */
	int (*list_finished_by_start)(struct store *s, const struct store_start_walk *w,
				      store_by_start_fn fn, void *ctx);
};

extern const struct store_ops sqlstore_ops;
extern const struct store_ops lmdb_ops;
extern const struct store_ops pgstore_ops;

/* Copies this thread's store_reason() into @out, for another thread to set (batch.c). */
void store_reason_save(char out[STORE_REASON_SIZE]);

/*
 * What check_room shares: 0 if the file @path is writable and its
 * filesystem has room for a few records, else -ENOSPC, -EROFS, -EACCES or
 * -EPERM (an immutable file) with the reason set.
 */
int store_room_at(const char *path);

/* What statfs shares: the sizes of the filesystem holding @path into @out. */
int store_statfs_at(const char *path, struct statvfs *out);

/*
 * Group commit (batch.c). A backend embeds struct store_batch_op first in
 * its own description of one change and hands it to store_batch_run(),
 * which returns the change's result once a transaction carrying it has
 * committed or failed. @commit gets every change queued meanwhile (a list
 * of @n through next, never empty) and must set the result of each that
 * fails with store_batch_fail() (which keeps store_reason() for it).
 */
struct store_batch_op {
	struct store_batch_op *next;
	int result;       /* 0, or the negative errno the change failed with */
	bool done;
	char reason[STORE_REASON_SIZE]; /* store_reason() of a failed change */
};

struct store_batch {
	pthread_mutex_t lock;
	pthread_cond_t done;
	struct store_batch_op *head, **tail; /* changes waiting for a leader */
	bool leading;     /* a transaction is being committed */
	uint64_t commits; /* transactions committed (atomic), for tests */
};

typedef void (*store_batch_fn)(struct store *s, struct store_batch_op *ops, size_t n);

/* Called by store_base_init() and store_base_destroy(). */
void store_batch_init(struct store_batch *b);
void store_batch_destroy(struct store_batch *b);
int store_batch_run(struct store *s, struct store_batch_op *op, store_batch_fn commit);
/* Marks @op failed with @err and this thread's store_reason(). */
void store_batch_fail(struct store_batch_op *op, int err);
/* Fails with @err every change of @ops that has not failed yet. */
void store_batch_fail_all(struct store_batch_op *ops, int err);

/*
 * Reservations by a lock on the store's own file (reserve.c), for backends
 * with reserve_file. The key of a name is also what a server backend locks.
 */
struct store_filelock {
	pthread_mutex_t lock; /* guards the lazy open of fd */
	int fd;               /* open for writing, -1 until the first reservation */
	char *path;           /* the file, absolute; NULL for a backend without one */
};

/* The 64-bit key of a name's reservation: 2^62 plus a 61-bit hash of it. */
uint64_t store_reserve_key(const char *execution_id);

/* Sets up @fl for the store at @path of @ops (nothing for a server); 0 or -ENOMEM. */
int store_filelock_init(struct store_filelock *fl, const struct store_ops *ops, const char *path);

/*
 * Frees @fl but for its descriptor, which it returns (-1 if none): the
 * caller closes that only after the backend has closed the store (see
 * reserve.c for why).
 */
int store_filelock_free(struct store_filelock *fl);

/* store_reserve() and store_unreserve() by the lock on the file. */
int store_filelock_take(struct store_filelock *fl, const char *execution_id);
void store_filelock_drop(struct store_filelock *fl, const char *execution_id);

/* The generic handle every backend embeds first. */
struct store {
	const struct store_ops *ops;
	struct store_options opts;
	uint64_t visits;          /* work of listings (atomic): see store_visits() */
	struct store_batch batch; /* the group commit of changes, for backends that use it */
	struct store_filelock reservations; /* set up by store_open(), after the backend's open */
};

/*
 * Sets up what every backend's handle shares (its ops, a copy of @opts, the
 * group commit): what a backend's open() does first to the handle it made,
 * before anything on it may fail; store_base_destroy() is the last thing
 * its close() does before freeing the handle.
 */
void store_base_init(struct store *s, const struct store_ops *ops, const struct store_options *opts);
void store_base_destroy(struct store *s);

/*
 * The backend handle (of @type, embedding struct store as base) of @s,
 * checked: @s must be a store that @ops opened.
 */
#define STORE_DOWNCAST(s, type, ops)                                           \
	((type *)((char *)store_checked((s), &(ops)) - offsetof(type, base)))

static inline struct store *store_checked(struct store *s, const struct store_ops *ops)
{
	(void)ops; /* unused where NDEBUG drops the assert */
	assert(s->ops == ops);
	return s;
}

/* Counts @n steps of a listing's work. */
static inline void store_count_visits(struct store *s, uint64_t n)
{
	__atomic_add_fetch(&s->visits, n, __ATOMIC_RELAXED);
}

/*
 * Calls @fn for the executions of @ids (@n of them, in that order) read by
 * get_by_id; an id deleted meanwhile is skipped. Returns as store_list().
 */
int store_list_ids(struct store *s, const int64_t *ids, size_t n, store_list_fn fn, void *ctx);

/* Adds (@sign 1) or takes away (-1) one finished execution to or from @sum. */
void store_summary_add(struct store_summary *sum, int64_t duration_ms, int64_t finished_at, int sign);

/*
 * pthread_create() for a thread of the store's own (a checkpointer, a
 * listener), with every signal blocked in it: the process's signals are its
 * caller's to handle (a daemon's signal thread), never a store thread's,
 * whose default action would kill the process. 0 or a positive errno.
 */
int store_thread_create(pthread_t *thread, void *(*fn)(void *), void *arg);

/* Duplicates a string that may be NULL; sets *ok to false on allocation failure. */
char *store_strdup_null(const char *s, bool *ok);

#endif
