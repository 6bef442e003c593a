/*
 * fs.h - what the parts of the FUSE driver share: the mount's state, the
 * node (inode) scheme, the registry of starts in progress, and logging.
 *
 * The driver keeps no copy of the log: every answer comes from the store,
 * and inode numbers are computed from store ids, so nothing here grows with
 * the number of executions (but for the ids no store of ours hands out:
 * see the inode scheme below).
 */
#ifndef EXECLOG_FS_H
#define EXECLOG_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "log.h"
#include "pending.h"
#include "report.h"
#include "store.h"

/* Options of the mount, as parsed from the command line. */
struct fs_options {
	char *store;        /* backend name, NULL: from db= or the default */
	char *db;           /* store path, NULL: the default store */
	char *words[2];     /* the arguments that are no option: [STORE] MOUNTPOINT */
	int nwords;         /* ... how many were given (more than 2 is an error) */
	char *parse_error;  /* why the command line was refused while parsing */
	char *sync;         /* "normal" or "full" */
	bool read_only;     /* -o ro */
	bool allow_other;   /* -o allow_other: enforce permissions */
	bool fsname_given;  /* -o fsname=: the user's, not ours */
	bool default_store; /* no db=: the store under the user's data directory */
	unsigned max_read;  /* -o max_read=, which init() must repeat to libfuse */
	char *map_max_text; /* -o map_max=BYTES for LMDB, as given */
	uint64_t map_max;   /* ... and as a number, 0: unlimited */
	char *stale_after_text, *keep_days_text, *keep_count_text;
	int64_t stale_after; /* seconds without a heartbeat before a run is abandoned; 0: off */
	int64_t keep_days;   /* prune finished runs started longer ago; 0: off */
	int64_t keep_count;  /* keep this many most recent finished runs; 0: off */
	char *output_max_text;
	uint64_t output_max; /* bytes of output one run may have (STORE_OUTPUT_MAX_DEFAULT) */
};

/* --- options (options.c) --- */

/*
 * Takes execlogfs's own options and the STORE argument out of @args, leaving
 * libfuse's and the mount point; drops the options only mount(8) and fstab
 * mean (noauto, nofail, _netdev, user, x-*...). -EINVAL with fs_reason() set.
 */
int fs_options_parse(struct fuse_args *args, struct fs_options *o);

/*
 * Checks the options and settles the store: its absolute path (the default
 * store when none is given) and its backend. On error, fs_reason() says why.
 */
int fs_options_resolve(struct fs_options *o);

void fs_options_free(struct fs_options *o);

/* mkdir -p of @path's directories (not of @path itself); 0 or -errno. */
int fs_make_parents(const char *path);

/* Prints execlogfs's part of --help. */
void fs_usage(const char *prog);

struct fs {
	struct store *store;
	struct fuse_session *se;
	struct fs_options opts;
	bool foreground;
	bool multithreaded;
	uid_t uid;
	gid_t gid;
	struct timespec mounted; /* times of the fixed directories */
	/* Starts in progress in new/, by name (see pending.c). */
	struct fs_pending *pending;
	/* Open files, by fi->fh (handles.c). */
	struct fs_handles *handles;
	/* The lifecycle thread (lifecycle.c). */
	struct fs_lifecycle *lifecycle;
	/* The last renderings of index.html and metrics.prom (report.c). */
	struct report_cache *reports;
	/* Inode numbers of ids that have no direct one (inodes.c). */
	struct fs_inodes *inodes;
	/* Execution names of foreign rows already logged as invalid (node.c). */
	struct fs_badnames *badnames;
	/* The directories of the views' values the kernel holds (views.c). */
	struct fs_values *values;
	/* This host's name, read once at mount: the host of its starts (NULL if unknown). */
	char *host;
};

/* --- nodes (node.c) --- */

/*
 * Inode numbers: the root is 1 and the fixed entries are small numbers;
 * every other node is its kind in the top byte and a value below it (a
 * store id, an outcome, a day). Store ids are never reused, so neither are
 * inode numbers.
 *
 * 64 bits cannot hold a kind and any int64 id, and a store written by
 * another program may hold any id SQLite accepts. So only ids in
 * [0, FS_ID_DIRECT_END) — every id a store of ours hands out — have such a
 * direct number. Any other id (negative, or 2^56 and past) gets a number of
 * kind KIND_TABLE from a table the daemon keeps (inodes.c): allocated when
 * a lookup or a readdirplus hands the node to the kernel, counted per
 * lookup and freed when the kernel forgets it, as libfuse's
 * passthrough_ll.c does. Its numbers come from a counter that never wraps
 * in practice (2^56), so they are distinct from every direct number and
 * from each other; the table is empty unless such ids exist.
 */
enum fs_fixed_ino {
	INO_ROOT = FUSE_ROOT_ID,
	INO_NEW,
	INO_STATUS,
	INO_BY_OUTCOME,
	INO_BY_DAY,
	INO_OUTPUT,     /* output/: a directory, so before INO_LATEST (dir.c's opendir) */
	INO_LATEST,
	INO_INDEX_HTML, /* index.html, rendered at each open (report.c) */
	INO_METRICS,    /* metrics.prom, likewise */
	INO_BY_HOST,    /* the views by provenance (views.c), in enum store_attr's order */
	INO_BY_USER,
	INO_BY_TOOL,
	INO_BY_TAG,
	INO_FIXED_END
};

enum fs_kind {
	KIND_FIXED = 0,
	KIND_RECORD,       /* <id>.json: value = store id */
	KIND_STATUS_FILE,  /* status/<id>: value = store id */
	KIND_NEW_FILE,     /* a file being written in new/: value = a counter */
	KIND_OUTCOME_DIR,  /* by-outcome/<outcome>: value = enum store_outcome */
	KIND_DAY_DIR,      /* by-day/<YYYY-MM-DD>: value = day since 1970 */
	KIND_OUTCOME_LINK, /* by-outcome/<o>/<id>.json: value = store id */
	KIND_DAY_LINK,     /* by-day/<d>/<id>.json: value = store id */
	KIND_VALUE_DIR,    /* by-host/<h> and the like: value = its number in the values table (views.c) */
	KIND_VIEW_LINK,    /* by-host/<h>/<id>.json and the like: value = store id */
	KIND_OUTPUT_FILE,  /* output/<id>: value = store id */
	KIND_TABLE = 0xff, /* a node of an id without a direct number: value = its table number */
};

#define FS_KIND_SHIFT 56
#define FS_VALUE_MASK ((UINT64_C(1) << FS_KIND_SHIFT) - 1)

/* Ids in [0, FS_ID_DIRECT_END) have direct inode numbers and directory offsets. */
#define FS_ID_DIRECT_END ((int64_t)1 << FS_KIND_SHIFT)

/* What readdir gives as d_ino for a node that has no number yet (as libfuse's high-level API). */
#define FS_UNKNOWN_INO 0xffffffffu

static inline bool fs_id_direct(int64_t id)
{
	return id >= 0 && id < FS_ID_DIRECT_END;
}

static inline fuse_ino_t fs_ino(enum fs_kind kind, uint64_t value)
{
	return ((fuse_ino_t)kind << FS_KIND_SHIFT) | (value & FS_VALUE_MASK);
}

static inline enum fs_kind fs_ino_kind(fuse_ino_t ino)
{
	return (enum fs_kind)(ino >> FS_KIND_SHIFT);
}

static inline uint64_t fs_ino_value(fuse_ino_t ino)
{
	return ino & FS_VALUE_MASK;
}

/* --- inode numbers of ids without a direct one (inodes.c) --- */

struct fs_inodes;

struct fs_inodes *fs_inodes_new(void);
void fs_inodes_free(struct fs_inodes *t);

/*
 * The inode number of the node of @kind for store id @id, counted as one
 * lookup by the kernel: the direct number, or a table number, allocated if
 * need be. 0 when out of memory. The caller hands it to the kernel (a
 * lookup reply, a readdirplus entry) or gives it back with fs_inodes_forget.
 */
fuse_ino_t fs_inodes_ref(struct fs_inodes *t, enum fs_kind kind, int64_t id);

/* The same without counting: the number in use, or 0 when @id has none now. */
fuse_ino_t fs_inodes_peek(struct fs_inodes *t, enum fs_kind kind, int64_t id);

/* The kind and store id of a table number; -ENOENT once it is forgotten. */
int fs_inodes_resolve(struct fs_inodes *t, fuse_ino_t ino, enum fs_kind *kind, int64_t *id);

/* The kernel forgets @nlookup lookups of @ino; a table number goes with the last. */
void fs_inodes_forget(struct fs_inodes *t, fuse_ino_t ino, uint64_t nlookup);

/* The kernel forgets @nlookup lookups of @ino, of whichever table numbered it. */
void fs_node_forget(struct fs *fs, fuse_ino_t ino, uint64_t nlookup);

/* A node resolved from an inode or a name, with what its attributes need. */
struct fs_node {
	fuse_ino_t ino;
	enum fs_kind kind;         /* of a node of an execution, as fs_node_fill set it */
	struct stat st;
	double timeout;            /* entry and attribute timeout, seconds */
	struct store_record rec;   /* for nodes of an execution; cleared by fs_node_clear */
};

void fs_node_clear(struct fs_node *n);

/*
 * Resolves @name in directory @parent; -ENOENT and friends. n->ino is
 * counted as one lookup (fs_inodes_ref): reply with it, or forget it.
 */
int fs_node_lookup(struct fs *fs, fuse_ino_t parent, const char *name, struct fs_node *n);

/* Resolves an inode number; -ENOENT when its execution is gone. */
int fs_node_get(struct fs *fs, fuse_ino_t ino, struct fs_node *n);

/*
 * Waits (briefly) for the starts that closed files are about to commit, so
 * that what lists or picks among all executions sees every start whose
 * close has returned.
 */
void fs_wait_closing_starts(struct fs *fs);

/*
 * A store_change_fn (store_watch): another host changed @execution_id, so
 * the kernel forgets the names of its record and status file at once
 * rather than within the second their cache lasts.
 */
void fs_changed_elsewhere(void *ctx, const char *execution_id);

/*
 * Fills the attributes of an execution's node of @kind from n->rec. n->ino
 * is its number in use (fs_inodes_peek), 0 if none: a caller that hands the
 * node to the kernel sets it with fs_inodes_ref.
 */
void fs_node_fill(struct fs *fs, enum fs_kind kind, struct fs_node *n);

/* The kind of node @ino names, table numbers resolved (KIND_TABLE once forgotten). */
enum fs_kind fs_node_kind(struct fs *fs, fuse_ino_t ino);

/*
 * Whether a row's execution_id is a valid name, so that it may be listed
 * and become a path. A row of another program's that fails is skipped by
 * every listing and view, and logged once (a bounded memory of ids).
 */
bool fs_name_usable(struct fs *fs, int64_t id, const char *execution_id);

struct fs_badnames *fs_badnames_new(void);
void fs_badnames_free(struct fs_badnames *b);

/*
 * The text of index.html or metrics.prom (@ino), malloc'd: the rendering a
 * stat just sized, or a fresh one, and (if @changed_ms) when its bytes last
 * changed (see report_get()).
 */
int fs_report_text(struct fs *fs, fuse_ino_t ino, char **text, size_t *len, int64_t *changed_ms);

/*
 * The execution `latest` points to: the greatest id whose name is valid
 * among the newest FS_LATEST_SCAN; -ENOENT when there is none.
 */
int fs_latest(struct fs *fs, struct store_record *rec);

/* The text of a status file: the outcome and a newline (malloc'd). */
char *fs_status_text(const struct store_record *rec, size_t *len);

/* 0 if by-day/ has day @day (an execution with a valid name started then), else -ENOENT. */
int fs_day_exists(struct fs *fs, int64_t day);

/*
 * "YYYY-MM-DD" of a day since 1970 (in [0, STORE_DAY_END)), and back (-1
 * when not such a date).
 */
void fs_day_name(int64_t day, char buf[16]);
int64_t fs_day_parse(const char *name);

/* --- the views by provenance: by-host/, by-user/, by-tool/, by-tag/ (views.c) --- */

/* The longest value a view shows: a file name's 255 bytes. */
#define FS_VALUE_MAX 255

struct fs_values;

struct fs_values *fs_values_new(void);
void fs_values_free(struct fs_values *t);

/*
 * The inode number of the directory of @value in the view of @attr,
 * counted as one lookup by the kernel (0 when out of memory): the same
 * number while the kernel holds it.
 */
fuse_ino_t fs_values_ref(struct fs_values *t, int attr, const char *value);

/* The number of @value's directory if the kernel holds it, else 0 (not counted). */
fuse_ino_t fs_values_peek(struct fs_values *t, int attr, const char *value);

/* The attr and value of a directory's number, into @value; -ENOENT once it is forgotten. */
int fs_values_resolve(struct fs_values *t, fuse_ino_t ino, int *attr, char value[FS_VALUE_MAX + 1]);

/* The kernel forgets @nlookup lookups of @ino; the directory's number goes with the last. */
void fs_values_forget(struct fs_values *t, fuse_ino_t ino, uint64_t nlookup);

/* The attr (enum store_attr) whose view is the fixed directory @ino; STORE_ATTR_NONE for any other. */
int fs_view_attr(fuse_ino_t ino);

/*
 * Whether @value of @attr may be a directory's name; one that cannot
 * (empty, ".", "..", holding '/', longer than 255 bytes) is logged, once.
 */
bool fs_view_value_usable(struct fs *fs, int attr, const char *value);

/* 0 if an execution with a valid name has @value of @attr, -ENOENT if none, or -errno. */
int fs_view_exists(struct fs *fs, int attr, const char *value);

/* Whether execution @rec has @value of @attr (a tag's value is "<key>=<value>"). */
bool fs_view_record_has(const struct store_record *rec, int attr, const char *value);

/* The values of one view, collected for a listing of it (dir.c). */
struct fs_view_list {
	size_t n;
	char **values; /* ascending, each usable and held by an execution with a valid name */
};

/* Collects the values of @attr into @out (emptied first); 0 or -errno. */
int fs_view_collect(struct fs *fs, int attr, struct fs_view_list *out);

void fs_view_list_clear(struct fs_view_list *l);

/* --- starts in progress (pending.c): see pending.h --- */

/* --- open files (handles.c) --- */

struct fs_file;
struct fs_handles;

struct fs_handles *fs_handles_new(void);

/* Frees the table and every file still in it. */
void fs_handles_free(struct fs_handles *t);

/* Registers @file, with one reference held until its release; sets *fh. */
int fs_handles_add(struct fs_handles *t, struct fs_file *file, uint64_t *fh);

/* Takes a reference to the file @fh names; NULL once it is released. */
struct fs_file *fs_handles_get(struct fs_handles *t, uint64_t fh);

/* Drops a reference; the last one destroys the file. */
void fs_handles_put(struct fs_handles *t, uint64_t fh);

/*
 * The release: returns the file with a reference for the caller (drop it
 * with fs_handles_put) and drops the one open took; NULL if already gone.
 */
struct fs_file *fs_handles_release(struct fs_handles *t, uint64_t fh);

/* --- the kinds of open file (files.c) --- */

/* What a refused method was doing, for the log line (fs_file_ops.describe). */
enum fs_file_op { FS_FILE_READ, FS_FILE_WRITE, FS_FILE_CLOSE };

/*
 * What a kind of open file does: one const table per kind (a record's
 * snapshot, a status writer, a report, a start document). Each returns 0 or
 * -errno with fs_reason() set; the callbacks reply with what they return.
 */
struct fs_file_ops {
	/* Points *data at up to @size bytes at @off (*len 0 at the end); valid until the put. */
	int (*read)(struct fs_file *f, off_t off, size_t size, const char **data, size_t *len);
	/* One write(2), taken whole or refused. */
	int (*write)(struct fs *fs, struct fs_file *f, const char *buf, size_t size, off_t off);
	/* A close(2) of one of its descriptors (more may be open). */
	int (*flush)(struct fs *fs, struct fs_file *f);
	/* The last close: what the kind does when its file is done (it cannot fail). */
	void (*release)(struct fs *fs, struct fs_file *f);
	/* Frees it, with whatever it still holds (handles.c, at the last reference). */
	void (*destroy)(struct fs_file *f);
	/* Says what a refused @op on it was ("write to new/x"), for the log. */
	void (*describe)(const struct fs_file *f, enum fs_file_op op, char *buf, size_t size);
};

/* What fi->fh names (through handles.c): the common head of every open file. */
struct fs_file {
	const struct fs_file_ops *ops;
};

/* Opens a record or a status file (a snapshot; a status writer when written); sets @fi's flags. */
int fs_snapshot_open(struct fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, struct fs_file **out);

/* Opens output/<id> (@ino): reads from the store, appends while the run goes (output.c). */
int fs_output_open(struct fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, struct fs_file **out);

/*
 * A setattr of output/<id> (@ino): truncating empty output to 0 is accepted
 * (as `>` does), anything else refused; 0 or -errno with the reason set.
 */
int fs_output_setattr(struct fs *fs, fuse_ino_t ino, const struct stat *attr, int to_set);

/*
 * The note a finish of run @id adds to @message when its output was cut
 * ("output cut at N bytes", after "; " if there is a message): malloc'd,
 * or NULL when there is nothing to add (or no memory: the finish goes on).
 */
char *fs_output_cut_note(struct fs *fs, int64_t id, const char *message);

/* Opens index.html or metrics.prom (@ino): a snapshot of its rendering. */
int fs_report_open(struct fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, struct fs_file **out);

/*
 * Begins the start of new/@name (start.c) by the process @who describes:
 * the name is held until the file is done.
 */
struct fs_start_who;
int fs_newfile_open(struct fs *fs, const char *name, const struct fs_start_who *who,
		    struct fs_file **out);

/* --- the callbacks (ops.c) --- */

extern const struct fuse_lowlevel_ops fs_ops;

/* Replies @err (negative) to @req and logs why (fs_reason()), naming the operation. */
void fs_refuse(fuse_req_t req, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --- directory listings (dir.c) --- */

/* opendir: directories only (ENOTDIR otherwise). */
void fs_dir_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* releasedir: frees what opendir kept (a view's values). */
void fs_dir_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* readdir: the fixed entries, then the store's, from offset @off. */
void fs_dir_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);

/* readdirplus: the same, records with their attributes. */
void fs_dir_read_plus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi);

/* --- finishing (finish.c) --- */

/*
 * Finishes execution @execution_id (store id @id) with a finish value, as a
 * write to its status file does: checks the value, commits it, and makes
 * the kernel forget the record's attributes. 0 or a negative errno.
 */
int fs_finish(struct fs *fs, const char *execution_id, int64_t id, const char *buf, size_t size);

/* --- the daemon's own work: abandoned runs and retention (lifecycle.c) --- */

/* Starts the lifecycle thread if any of its options is set; 0 or -errno. */
int fs_lifecycle_start(struct fs *fs);

/* Stops it and waits for it (a no-op when it never started). */
void fs_lifecycle_stop(struct fs *fs);

#endif
