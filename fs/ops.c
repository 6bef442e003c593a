/*
 * ops.c - the FUSE low-level callbacks: the contract's tree over the store.
 *
 * Reads render from the store at open (a record's open file is a snapshot);
 * a start is checked write by write and committed by the write that
 * completes its document (or, for an empty file, by the release); a finish
 * is one write. Every other change is refused with a clean errno, and every
 * refusal is logged with its reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "fs.h"
#include "record.h"

/*
 * Directory offsets. 1 and 2 are . and .., the fixed entries follow, and the
 * store's entries come from FS_DIR_BASE on. An entry's offset names the place
 * just after it, where the next readdir resumes; offsets are positive and
 * grow along a listing, so telldir and seekdir work.
 *
 * - Ids in [0, FS_ID_DIRECT_END), ascending: FS_DIR_BASE + id, resumed from
 *   the store by id.
 * - Then every other id (INT64_MIN, the other negatives, then those from
 *   2^56), which only rows of other programs have: FS_DIR_OUTLIERS + their
 *   position among these, counting from 1. An off_t cannot hold a place
 *   after each of 2^64 ids, so these resume by counting: exact unless such
 *   rows come or go during the listing, and cheap while they are few.
 * - by-day/: FS_DIR_BASE + day + 1, days being at most STORE_DAY_END.
 */
#define FS_DIR_BASE 16
#define FS_DIR_OUTLIERS (FS_DIR_BASE + FS_ID_DIRECT_END)

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/*
 * The reason for a refusal decided here; when empty, the refusal came from
 * the store and store_reason() has it.
 */
static _Thread_local char fs_reason[256];

/* Sets this thread's reason for a refusal decided here, and returns @err. */
static int fs_because(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fs_because(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fs_reason, sizeof(fs_reason), fmt, ap);
	va_end(ap);
	return err;
}

static void fs_clear_reason(void)
{
	fs_reason[0] = '\0';
}

/* Replies @err (negative) to @req and logs why, naming the operation. */
static void fs_refuse(fuse_req_t req, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fs_refuse(fuse_req_t req, int err, const char *fmt, ...)
{
	const char *reason = fs_reason[0] ? fs_reason : store_reason();
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fs_log(LOG_NOTICE, "refused %s: %s%s%s", what, strerror(-err),
	       reason[0] ? ": " : "", reason);
	fuse_reply_err(req, -err);
	fs_clear_reason();
}

/* Replies with node @n; if the request was interrupted, its lookup never counted. */
static void fs_reply_entry(fuse_req_t req, const struct fs_node *n)
{
	struct fuse_entry_param e = {
		.ino = n->ino,
		.attr = n->st,
		.attr_timeout = n->timeout,
		.entry_timeout = n->timeout,
	};

	if (fuse_reply_entry(req, &e) == -ENOENT)
		fs_inodes_forget(fs_of(req)->inodes, n->ino, 1);
}

/* --- file handles --- */

enum fs_handle_kind {
	HANDLE_SNAPSHOT, /* a record, or a status file opened for reading only */
	HANDLE_STATUS,   /* a status file opened for writing: finishes, and reads a snapshot */
	HANDLE_NEW,      /* a start being written in new/ */
};

/* What fi->fh names (through handles.c): the common head of every open file. */
struct fs_file {
	enum fs_handle_kind kind;
};

struct fs_snapshot {
	struct fs_file base;
	int64_t id;          /* the execution's store id */
	char *execution_id;  /* for HANDLE_STATUS */
	size_t len;
	char *data;
};

enum fs_new_state {
	NEW_BLANK,   /* nothing but white space yet: a close starts with defaults */
	NEW_PARTIAL, /* a valid beginning of a document */
	NEW_STARTED, /* the document was complete and the start committed */
	NEW_FAILED,  /* refused: nothing was (or will be) started by this file */
};

struct fs_newfile {
	struct fs_file base;
	pthread_mutex_t lock;
	enum fs_new_state state;
	int failed_err;          /* NEW_FAILED: the errno of the refusal, repeated to later writes */
	bool claimed;            /* holds the name in the pending table */
	struct record_scan *scan;
	char *buf;               /* the document so far, until it is started */
	size_t len, cap;
	uint64_t written;        /* bytes accepted, for the offset check */
	int64_t flushed_ms;      /* the last close of the file (0: none yet), Unix ms */
	char name[RECORD_NAME_MAX + 1];
};

static void fs_snapshot_free(struct fs_snapshot *h)
{
	free(h->execution_id);
	free(h->data);
	free(h);
}

/* Frees a start's file; its claim on the name was dropped before. */
static void fs_newfile_drop_buffer(struct fs_newfile *nf);

static void fs_newfile_free(struct fs_newfile *nf)
{
	record_scan_free(nf->scan);
	fs_newfile_drop_buffer(nf);
	pthread_mutex_destroy(&nf->lock);
	free(nf);
}

void fs_file_destroy(struct fs_file *f)
{
	if (f->kind == HANDLE_NEW)
		fs_newfile_free((struct fs_newfile *)f);
	else
		fs_snapshot_free((struct fs_snapshot *)f);
}

/*
 * Gives back a start's hold on @name: its reservation in the store (across
 * mounts), then its claim here. In that order: while the claim stands, no
 * start of this mount can take the name, so none can take a reservation
 * this one is about to drop (one mount's reservations do not exclude each
 * other). A committed start gives it back only once the commit returned.
 */
static void fs_start_unclaim(struct fs *fs, const char *name)
{
	store_unreserve(fs->store, name);
	fs_pending_drop(fs->pending, name);
}

/* Gives back a start's name, unless the store has it already (or it was given back). */
static void fs_newfile_unclaim(struct fs *fs, struct fs_newfile *nf)
{
	if (nf->claimed) {
		fs_start_unclaim(fs, nf->name);
		nf->claimed = false;
	}
}

/* Forgets an open file for good: its release, or an open that never completed. */
static void fs_file_forget(struct fs *fs, struct fs_file *f)
{
	if (f->kind == HANDLE_NEW)
		fs_newfile_unclaim(fs, (struct fs_newfile *)f);
}

/*
 * Registers a file just opened and replies with it; when the open was
 * interrupted, no release will come, so the file goes at once.
 */
static void fs_reply_opened(fuse_req_t req, struct fs_file *f, struct fuse_file_info *fi,
			    const struct fuse_entry_param *created)
{
	struct fs *fs = fs_of(req);
	int err = fs_handles_add(fs->handles, f, &fi->fh);

	if (err) {
		fs_file_forget(fs, f);
		fs_file_destroy(f);
		fuse_reply_err(req, -err);
		return;
	}
	err = created ? fuse_reply_create(req, created, fi) : fuse_reply_open(req, fi);
	if (err == -ENOENT) {
		f = fs_handles_release(fs->handles, fi->fh);
		if (f) {
			fs_file_forget(fs, f);
			fs_handles_put(fs->handles, fi->fh);
		}
	}
}

/* The open file of @fi, referenced until fs_handles_put(); NULL after its release. */
static struct fs_file *fs_file_get(fuse_req_t req, struct fuse_file_info *fi)
{
	struct fs_file *f = fs_handles_get(fs_of(req)->handles, fi->fh);

	if (f == NULL)
		fuse_reply_err(req, EBADF);
	return f;
}

/* --- lookup and attributes --- */

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fs_node n;
	int err;

	fs_clear_reason();
	err = fs_node_lookup(fs, parent, name, &n);
	if (err == 0)
		fs_reply_entry(req, &n);
	else if (err == -ENOENT || err == -ENOTDIR)
		fuse_reply_err(req, -err); /* not a refusal: shells probe names all the time */
	else
		fs_refuse(req, err, "lookup of %s", name);
	fs_node_clear(&n);
}

/* The kernel drops nodes: a number from the table goes with its last lookup. */
static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_inodes_forget(fs_of(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		fs_inodes_forget(fs_of(req)->inodes, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_node n;
	int err;

	(void)fi;
	err = fs_node_get(fs, ino, &n);
	if (err == 0)
		fuse_reply_attr(req, &n.st, n.timeout);
	else if (err == -ENOENT)
		fuse_reply_err(req, ENOENT);
	else
		fs_refuse(req, err, "stat of inode %llu", (unsigned long long)ino);
	fs_node_clear(&n);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct fs_node n;
	char *target = NULL;
	int err;

	err = fs_node_get(fs, ino, &n);
	if (err == 0 && !S_ISLNK(n.st.st_mode))
		err = fs_because(-EINVAL, "not a symbolic link");
	if (err == 0 && asprintf(&target, "%s%s.json", ino == INO_LATEST ? "" : "../../",
				 n.rec.execution_id) < 0)
		err = -ENOMEM;
	if (err == 0)
		fuse_reply_readlink(req, target);
	else
		fs_refuse(req, err, "readlink of inode %llu", (unsigned long long)ino);
	free(target);
	fs_node_clear(&n);
}

/* Checks access by the node's mode bits, as a careful kernel would. */
static void fs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct fs *fs = fs_of(req);
	struct fs_node n;
	int err;

	err = fs_node_get(fs, ino, &n);
	if (err == 0 && (mask & W_OK) && fs->opts.read_only)
		err = -EROFS;
	else if (err == 0 && (mask & W_OK) && !(n.st.st_mode & S_IWUSR))
		err = -EACCES;
	else if (err == 0 && (mask & X_OK) && !(n.st.st_mode & S_IXUSR))
		err = -EACCES;
	fuse_reply_err(req, -err);
	fs_node_clear(&n);
}

/*
 * Time updates are heartbeats of a running execution (its status file);
 * everything else about attributes is fixed.
 */
static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	struct fs *fs = fs_of(req);
	enum fs_kind kind = fs_node_kind(fs, ino);
	struct fs_node n;
	int err = 0;

	(void)fi;
	fs_clear_reason();
	memset(&n, 0, sizeof(n));
	if (fs->opts.read_only) {
		err = fs_because(-EROFS, "the mount is read-only");
		goto refuse;
	}
	switch (kind) {
	case KIND_NEW_FILE:
		/* touch's futimens and cp's fchmod on a start being written: harmless, ignored. */
		if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != 0)
			err = fs_because(-EINVAL, "a start document cannot be truncated");
		break;
	case KIND_STATUS_FILE:
		if (to_set & ~(times | FUSE_SET_ATTR_SIZE)) {
			err = fs_because(-EPERM, "a status file's owner and mode are fixed");
			break;
		}
		if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != 0) {
			err = fs_because(-EPERM, "a status file can only be written whole");
			break;
		}
		if (to_set & times) {
			err = fs_node_get(fs, ino, &n);
			if (err == 0)
				err = store_heartbeat(fs->store, n.rec.execution_id, store_now_ms());
			fs_node_clear(&n);
		}
		break;
	case KIND_RECORD:
		if (to_set & FUSE_SET_ATTR_SIZE)
			err = fs_because(-EACCES, "records are read-only");
		else
			err = fs_because(-EPERM, "a record's attributes are set by its start and finish");
		break;
	default:
		err = fs_because(-EPERM, "attributes of this entry are fixed");
		break;
	}
	if (err)
		goto refuse;
	err = fs_node_get(fs, ino, &n);
	if (err)
		goto refuse;
	fuse_reply_attr(req, &n.st, n.timeout);
	fs_node_clear(&n);
	return;
refuse:
	fs_refuse(req, err, "setattr of inode %llu", (unsigned long long)ino);
}

/* --- directories --- */

/* Which ids a walk of the store offers to a listing (see the offsets above). */
enum fs_dir_phase {
	DIR_DIRECT,   /* ids in [0, FS_ID_DIRECT_END) */
	DIR_NEGATIVE, /* ids below 0 (INT64_MIN itself read alone) */
	DIR_HIGH,     /* ids from FS_ID_DIRECT_END, and INT64_MIN */
};

struct fs_dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size;
	size_t used;
	bool full;          /* an entry did not fit: the reply is complete */
	const char *suffix; /* appended to each execution_id */
	enum fs_kind kind;  /* of the entries listed from the store */
	mode_t mode;
	struct fs *fs;      /* for readdirplus: the attributes of records */
	bool plus;          /* a readdirplus reply */
	enum fs_dir_phase phase;
	bool walking;       /* the current walk has offered an id: last holds it */
	int64_t last;       /* the last id the current walk offered */
	int64_t pos;        /* entries of ids outside the direct range so far */
	int64_t skip;       /* ... of which those a previous reply gave */
};

/*
 * Adds one entry; false when the reply buffer is full. In a readdirplus
 * reply @e (if given) carries the entry's attributes, and the kernel then
 * caches them as a lookup would; without @e the entry goes without (a zero
 * nodeid), for what a lookup must ask afresh anyway.
 */
static bool fs_dirbuf_add_entry(struct fs_dirbuf *d, const char *name, fuse_ino_t ino,
				mode_t mode, off_t next, const struct fuse_entry_param *e)
{
	struct fuse_entry_param bare = { .attr = { .st_ino = ino, .st_mode = mode } };
	size_t need;

	if (!d->plus)
		need = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name,
					 &bare.attr, next);
	else
		need = fuse_add_direntry_plus(d->req, d->buf + d->used, d->size - d->used, name,
					      e ? e : &bare, next);
	if (need > d->size - d->used) {
		d->full = true;
		return false;
	}
	d->used += need;
	return true;
}

static bool fs_dirbuf_add(struct fs_dirbuf *d, const char *name, fuse_ino_t ino,
			  mode_t mode, off_t next)
{
	return fs_dirbuf_add_entry(d, name, ino, mode, next, NULL);
}

/*
 * A record with its attributes (readdirplus): the kernel caches them for a
 * second, and counts the entry as a lookup of its number.
 */
static bool fs_dirbuf_add_record(struct fs_dirbuf *d, const char *name,
				 const struct store_record *rec, off_t next)
{
	struct fuse_entry_param e;
	struct fs_node n;
	bool added;

	memset(&n, 0, sizeof(n));
	n.rec = *rec; /* borrowed, never cleared */
	fs_node_fill(d->fs, KIND_RECORD, &n);
	n.ino = n.st.st_ino = fs_inodes_ref(d->fs->inodes, KIND_RECORD, rec->id);
	if (n.ino == 0) /* no memory for a number: the entry goes without attributes */
		return fs_dirbuf_add(d, name, FS_UNKNOWN_INO, d->mode, next);
	e = (struct fuse_entry_param){ .ino = n.ino, .attr = n.st, .attr_timeout = n.timeout,
				       .entry_timeout = n.timeout };
	added = fs_dirbuf_add_entry(d, name, n.ino, d->mode, next, &e);
	if (!added)
		fs_inodes_forget(d->fs->inodes, n.ino, 1);
	return added;
}

/* Whether the current walk has passed its ids, so that nothing after @id is for it. */
static bool fs_dirbuf_past(const struct fs_dirbuf *d, int64_t id)
{
	if (d->phase == DIR_DIRECT)
		return id >= FS_ID_DIRECT_END;
	return d->phase == DIR_NEGATIVE && id >= 0;
}

/* The offset after the entry of id @id: 0 for one a previous reply gave, -1 past any offset. */
static off_t fs_dirbuf_place(struct fs_dirbuf *d, int64_t id)
{
	if (d->phase == DIR_DIRECT)
		return FS_DIR_BASE + id;
	if (d->pos >= INT64_MAX - FS_DIR_OUTLIERS) /* more rows than any store can hold */
		return -1;
	if (++d->pos <= d->skip)
		return 0;
	return FS_DIR_OUTLIERS + d->pos;
}

/*
 * Offers one execution to the listing: 0 to go on, 1 to stop. A row whose
 * name is not valid is skipped (and counted nowhere); a walk whose ids do
 * not grow ends, so no store can make a listing loop.
 */
static int fs_dirbuf_offer(struct fs_dirbuf *d, int64_t id, const char *execution_id,
			   const struct store_record *rec)
{
	char name[RECORD_NAME_MAX + 16];
	fuse_ino_t ino;
	off_t next;

	if ((d->walking && id <= d->last) || fs_dirbuf_past(d, id))
		return 1;
	d->walking = true;
	d->last = id;
	if ((d->phase == DIR_DIRECT && id < 0) || !fs_name_usable(d->fs, id, execution_id))
		return 0;
	next = fs_dirbuf_place(d, id);
	if (next <= 0)
		return next < 0 ? 1 : 0;
	snprintf(name, sizeof(name), "%s%s", execution_id, d->suffix);
	/* Names alone come from the store's indexes; only records are worth attributes. */
	if (d->plus && d->kind == KIND_RECORD && rec)
		return fs_dirbuf_add_record(d, name, rec, next) ? 0 : 1;
	ino = fs_inodes_peek(d->fs->inodes, d->kind, id);
	return fs_dirbuf_add(d, name, ino ? ino : FS_UNKNOWN_INO, d->mode, next) ? 0 : 1;
}

static int fs_dirbuf_offer_record(void *ctx, const struct store_record *rec)
{
	return fs_dirbuf_offer(ctx, rec->id, rec->execution_id, rec);
}

static int fs_dirbuf_offer_name(void *ctx, int64_t id, const char *execution_id)
{
	return fs_dirbuf_offer(ctx, id, execution_id, NULL);
}

/* One walk of the store from after id @after, in @phase. */
static int fs_dirbuf_walk(struct fs *fs, struct fs_dirbuf *d, const struct store_filter *filter,
			  enum fs_dir_phase phase, int64_t after)
{
	d->phase = phase;
	d->walking = false;
	if (d->plus && d->kind == KIND_RECORD)
		return store_list(fs->store, filter, after, fs_dirbuf_offer_record, d);
	return store_list_names(fs->store, filter, after, fs_dirbuf_offer_name, d);
}

/* Whether @rec passes @filter, for the one row read outside a listing. */
static bool fs_filter_passes(const struct store_filter *filter, const struct store_record *rec)
{
	return filter == NULL ||
	       ((filter->outcome < 0 || store_outcome_from_name(rec->outcome) == filter->outcome) &&
		(filter->day < 0 || store_day_of(rec->started_at) == filter->day));
}

/* The id INT64_MIN, which no listing is "after": read alone, first of the outliers. */
static int fs_dirbuf_least(struct fs *fs, struct fs_dirbuf *d, const struct store_filter *filter)
{
	struct store_record rec = { 0 };
	int err = store_get_by_id(fs->store, INT64_MIN, &rec);

	if (err == 0 && fs_filter_passes(filter, &rec)) {
		d->phase = DIR_HIGH;
		d->walking = false;
		fs_dirbuf_offer(d, rec.id, rec.execution_id, &rec);
	}
	store_record_clear(&rec);
	return err == -ENOENT ? 0 : err;
}

/* Adds the executions matching @filter from directory offset @off, one entry each, until full. */
static int fs_dirbuf_records(struct fs *fs, struct fs_dirbuf *d, const struct store_filter *filter,
			     off_t off, const char *suffix, enum fs_kind kind, mode_t mode)
{
	int err = 0;

	d->suffix = suffix;
	d->kind = kind;
	d->mode = mode;
	if (off < FS_DIR_OUTLIERS) {
		err = fs_dirbuf_walk(fs, d, filter, DIR_DIRECT, off >= FS_DIR_BASE ? off - FS_DIR_BASE : -1);
		if (err || d->full)
			return err;
	}
	d->pos = 0;
	d->skip = off > FS_DIR_OUTLIERS ? off - FS_DIR_OUTLIERS : 0;
	err = fs_dirbuf_least(fs, d, filter);
	if (err == 0 && !d->full)
		err = fs_dirbuf_walk(fs, d, filter, DIR_NEGATIVE, INT64_MIN);
	if (err == 0 && !d->full)
		err = fs_dirbuf_walk(fs, d, filter, DIR_HIGH, FS_ID_DIRECT_END - 1);
	return err;
}

static int fs_dirbuf_add_day(void *ctx, int64_t day)
{
	struct fs_dirbuf *d = ctx;
	char name[16];

	/* A day of rows with invalid names alone is not listed: it would be an empty directory. */
	if (fs_day_exists(d->fs, day) == -ENOENT)
		return 0;
	fs_day_name(day, name);
	if (!fs_dirbuf_add(d, name, fs_ino(KIND_DAY_DIR, (uint64_t)day), S_IFDIR,
			   FS_DIR_BASE + day + 1))
		return 1;
	return 0;
}

/* The fixed entries of a directory, listed before anything from the store. */
struct fs_fixed_entry {
	const char *name;
	fuse_ino_t ino;
	mode_t mode;
};

static const struct fs_fixed_entry fs_root_entries[] = {
	{ "new", INO_NEW, S_IFDIR },
	{ "status", INO_STATUS, S_IFDIR },
	{ "by-outcome", INO_BY_OUTCOME, S_IFDIR },
	{ "by-day", INO_BY_DAY, S_IFDIR },
	{ "latest", INO_LATEST, S_IFLNK },
	{ "index.html", INO_INDEX_HTML, S_IFREG },
	{ "metrics.prom", INO_METRICS, S_IFREG },
};

/* Lists . and .., then @n fixed entries, from offset @off; false when full. */
static bool fs_dirbuf_fixed(struct fs *fs, struct fs_dirbuf *d, fuse_ino_t ino, off_t off,
			    const struct fs_fixed_entry *entries, size_t n)
{
	struct store_record latest = { 0 };

	if (off < 1 && !fs_dirbuf_add(d, ".", ino, S_IFDIR, 1))
		return false;
	if (off < 2 && !fs_dirbuf_add(d, "..", INO_ROOT, S_IFDIR, 2))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (off >= (off_t)(3 + i))
			continue;
		/* latest is there only while the log is not empty. */
		if (entries[i].ino == INO_LATEST) {
			if (fs_latest(fs, &latest) != 0)
				continue;
			store_record_clear(&latest);
		}
		if (!fs_dirbuf_add(d, entries[i].name, entries[i].ino, entries[i].mode,
				   (off_t)(3 + i)))
			return false;
	}
	return true;
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	enum fs_kind kind = fs_ino_kind(ino);

	if (kind == KIND_FIXED ? (ino >= INO_LATEST)
			       : (kind != KIND_OUTCOME_DIR && kind != KIND_DAY_DIR)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

static void fs_list(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	static const struct fs_fixed_entry outcomes[] = {
		{ "running", 0, S_IFDIR }, { "success", 0, S_IFDIR },
		{ "error", 0, S_IFDIR }, { "partial", 0, S_IFDIR },
	};
	struct fs *fs = fs_of(req);
	struct fs_dirbuf d = { .req = req, .size = size, .fs = fs, .plus = plus };
	struct fs_fixed_entry by_outcome[STORE_OUTCOMES];
	struct store_filter filter = { .outcome = -1, .day = -1 };
	enum fs_kind kind = fs_ino_kind(ino);
	int err = 0;

	d.buf = malloc(size);
	if (d.buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off == 0)
		fs_wait_closing_starts(fs);
	if (kind == KIND_OUTCOME_DIR || kind == KIND_DAY_DIR) {
		if (!fs_dirbuf_fixed(fs, &d, ino, off, NULL, 0))
			goto reply;
		if (kind == KIND_OUTCOME_DIR)
			filter.outcome = (int)fs_ino_value(ino);
		else
			filter.day = (int64_t)fs_ino_value(ino);
		err = fs_dirbuf_records(fs, &d, &filter, off, ".json",
					kind == KIND_OUTCOME_DIR ? KIND_OUTCOME_LINK : KIND_DAY_LINK,
					S_IFLNK);
		goto reply;
	}
	switch (ino) {
	case INO_ROOT:
		if (!fs_dirbuf_fixed(fs, &d, ino, off, fs_root_entries,
				     sizeof(fs_root_entries) / sizeof(fs_root_entries[0])))
			break;
		err = fs_dirbuf_records(fs, &d, NULL, off, ".json", KIND_RECORD, S_IFREG);
		break;
	case INO_STATUS:
		if (!fs_dirbuf_fixed(fs, &d, ino, off, NULL, 0))
			break;
		err = fs_dirbuf_records(fs, &d, NULL, off, "", KIND_STATUS_FILE, S_IFREG);
		break;
	case INO_NEW:
		fs_dirbuf_fixed(fs, &d, ino, off, NULL, 0);
		break;
	case INO_BY_OUTCOME:
		for (int i = 0; i < STORE_OUTCOMES; i++) {
			by_outcome[i] = outcomes[i];
			by_outcome[i].ino = fs_ino(KIND_OUTCOME_DIR, (uint64_t)i);
		}
		fs_dirbuf_fixed(fs, &d, ino, off, by_outcome, STORE_OUTCOMES);
		break;
	case INO_BY_DAY:
		if (!fs_dirbuf_fixed(fs, &d, ino, off, NULL, 0))
			break;
		err = store_list_days(fs->store, off > FS_DIR_BASE ? off - FS_DIR_BASE - 1 : -1,
				      fs_dirbuf_add_day, &d);
		break;
	default:
		err = -ENOTDIR;
		break;
	}
reply:
	/* A listing that filled part of the buffer answers with that part. */
	if (err && d.used == 0)
		fs_refuse(req, err, "listing of inode %llu", (unsigned long long)ino);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	fs_list(req, ino, size, off, false);
}

/* ls -l: the records come with their attributes, which spares a lookup each. */
static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	fs_list(req, ino, size, off, true);
}

/* --- reading --- */

/*
 * A record finished long enough ago that the kernel holds no attributes of
 * it from before the finish (they expire after a second; reads refresh
 * expired ones), and never cached its pages while it ran (direct_io then).
 * It is final: ids are never given again, and only a delete removes it.
 */
#define FS_SETTLED_MS 2000

static bool fs_record_settled(enum fs_kind kind, const struct store_record *rec, bool writing)
{
	return kind == KIND_RECORD && !writing && rec->finished_at != STORE_NULL &&
	       rec->heartbeat_ms < store_now_ms() - FS_SETTLED_MS; /* any stored time, no overflow */
}

/* index.html and metrics.prom: a snapshot of the rendering the last stat sized, or a fresh one. */
static void fs_open_report(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_snapshot *h;
	int err;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		err = fs_because(fs->opts.read_only ? -EROFS : -EACCES, "%s is read-only",
				 ino == INO_INDEX_HTML ? "index.html" : "metrics.prom");
		goto refuse;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		err = -ENOMEM;
		goto refuse;
	}
	h->base.kind = HANDLE_SNAPSHOT;
	fs_wait_closing_starts(fs);
	err = fs_report_text(fs, ino, &h->data, &h->len, NULL);
	if (err) {
		fs_snapshot_free(h);
		goto refuse;
	}
	/* Reads come to us, from the snapshot, whatever size the kernel last saw. */
	fi->direct_io = 1;
	fi->noflush = 1;
	fs_reply_opened(req, &h->base, fi, NULL);
	return;
refuse:
	fs_refuse(req, err, "open of inode %llu", (unsigned long long)ino);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	enum fs_kind kind = fs_node_kind(fs, ino);
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct fs_snapshot *h = NULL;
	struct fs_node n;
	int err;

	fs_clear_reason();
	memset(&n, 0, sizeof(n));
	if (ino == INO_INDEX_HTML || ino == INO_METRICS) {
		fs_open_report(req, ino, fi);
		return;
	}
	if (kind != KIND_RECORD && kind != KIND_STATUS_FILE) {
		err = kind == KIND_NEW_FILE
			? fs_because(-EACCES, "a start in progress cannot be opened again")
			: fs_because(-EISDIR, "not a file");
		goto refuse;
	}
	if (writing && fs->opts.read_only) {
		err = fs_because(-EROFS, "the mount is read-only");
		goto refuse;
	}
	if (kind == KIND_RECORD && (writing || (fi->flags & O_TRUNC))) {
		err = fs_because(-EACCES, "records are read-only; finish through status/");
		goto refuse;
	}
	err = fs_node_get(fs, ino, &n);
	if (err)
		goto refuse;
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		err = -ENOMEM;
		goto refuse;
	}
	h->base.kind = writing ? HANDLE_STATUS : HANDLE_SNAPSHOT;
	h->id = n.rec.id;
	h->data = kind == KIND_RECORD ? record_to_json(&n.rec, &h->len)
				      : fs_status_text(&n.rec, &h->len);
	h->execution_id = strdup(n.rec.execution_id);
	if (h->data == NULL || h->execution_id == NULL) {
		err = -ENOMEM;
		goto refuse;
	}
	/* A finish happens in write(2): a status file's close has nothing to do. */
	if (kind == KIND_STATUS_FILE)
		fi->noflush = 1;
	if (fs_record_settled(kind, &n.rec, writing)) {
		/* It can no longer change: the page cache serves it, kept across opens. */
		fi->keep_cache = 1;
		fi->noflush = 1;
	} else {
		/* Reads come to us, from the snapshot, whatever size the kernel last saw. */
		fi->direct_io = 1;
	}
	fs_node_clear(&n);
	fs_reply_opened(req, &h->base, fi, NULL);
	return;
refuse:
	if (h)
		fs_snapshot_free(h);
	fs_node_clear(&n);
	fs_refuse(req, err, "open of inode %llu", (unsigned long long)ino);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req); /* req is gone once replied to */
	struct fs_file *f = fs_file_get(req, fi);
	struct fs_snapshot *h = (struct fs_snapshot *)f;

	(void)ino;
	if (f == NULL)
		return;
	if (f->kind == HANDLE_NEW)
		fs_refuse(req, -EBADF, "read of a start being written");
	else if (off < 0 || (size_t)off >= h->len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, h->data + off,
			       size < h->len - (size_t)off ? size : h->len - (size_t)off);
	fs_handles_put(fs->handles, fi->fh);
}

/* --- starting: new/<execution_id> --- */

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	static uint64_t counter;
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct store_record rec = { 0 };
	struct fs_newfile *nf = NULL;
	struct fs_node n;
	int err;

	(void)mode;
	fs_clear_reason();
	if (fs->opts.read_only) {
		err = fs_because(-EROFS, "the mount is read-only");
		goto refuse;
	}
	if (parent != INO_NEW) {
		err = fs_because(-EACCES, "executions start in new/; nothing else can be created");
		goto refuse;
	}
	err = record_name_check(name);
	if (err)
		goto refuse;
	/*
	 * Claim first (against this mount's starts), then reserve the name in
	 * the store (against other mounts'), then ask the store: a start that
	 * commits before the reservation is then seen by the store, and one
	 * still in progress, here or elsewhere, holds the claim or the
	 * reservation until it has committed or given up.
	 */
	err = fs_pending_claim(fs->pending, name);
	if (err) {
		fs_because(err, err == -EEXIST ? "execution %s is being started" :
			   "too many starts in progress (starting %s)", name);
		goto refuse;
	}
	err = store_reserve(fs->store, name);
	if (err) {
		fs_pending_drop(fs->pending, name);
		goto refuse;
	}
	err = store_get(fs->store, name, &rec);
	store_record_clear(&rec);
	if (err == 0)
		err = fs_because(-EEXIST, "execution %s exists", name);
	/*
	 * A full or unwritable store is refused here, at the open: an empty
	 * start is committed by the release, which cannot report an error.
	 */
	if (err == -ENOENT)
		err = store_check_room(fs->store);
	if (err) {
		fs_start_unclaim(fs, name);
		goto refuse;
	}
	nf = calloc(1, sizeof(*nf));
	if (nf == NULL || (nf->scan = record_scan_new()) == NULL) {
		free(nf);
		fs_start_unclaim(fs, name);
		err = fs_because(-ENOMEM, "out of memory");
		goto refuse;
	}
	nf->base.kind = HANDLE_NEW;
	nf->claimed = true;
	pthread_mutex_init(&nf->lock, NULL);
	strcpy(nf->name, name);

	err = fs_node_get(fs, fs_ino(KIND_NEW_FILE, __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED)), &n);
	memset(&e, 0, sizeof(e));
	e.ino = n.ino;
	e.attr = n.st;
	/* Zero timeouts: new/ must keep looking empty, so no dentry may outlive the call. */
	fi->direct_io = 1;
	fs_node_clear(&n);
	fs_reply_opened(req, &nf->base, fi, &e);
	return;
refuse:
	if (parent == INO_NEW)
		fs_refuse(req, err, "start of new/%s", name);
	else
		fs_refuse(req, err, "creation of %s", name);
}

/*
 * Whether a start refused with @err may be taken when tried again: the store
 * was busy (another program's write lock), away (a server restarting) or
 * full for a moment. Anything else is a refusal for good.
 */
static bool fs_store_transient(int err)
{
	return err == -EBUSY || err == -EAGAIN || err == -EINTR || err == -ETIMEDOUT ||
	       err == -ENOTCONN || err == -EIO || err == -ENOSPC;
}

/* How often a start that waits for the store says so, and how long an unmount waits for it. */
#define FS_UNWAITED_LOG_MS 5000
#define FS_UNWAITED_EXIT_MS 60000

/*
 * Commits a start that no caller waits for: an empty file's, at its
 * release, after the close that acknowledged it has returned. It is never
 * dropped because the store is busy or away: it is tried again, with a
 * pause that grows to a second and a log line every 5 s, until the store
 * takes it or refuses it for good. Only an unmount that has waited a
 * minute for it gives up (and says so). An attempt whose answer was lost
 * (-EIO) may have committed: a later EEXIST then is this start, since the
 * name is reserved for it.
 */
static int fs_start_unwaited(struct fs *fs, struct store_record *rec)
{
	int64_t first = store_now_ms(), logged = first, exiting = 0, now;
	struct store_record found = { 0 };
	useconds_t pause_us = 10000;
	bool uncertain = false;
	int err;

	for (;;) {
		err = store_start(fs->store, rec);
		if (err == -EEXIST && uncertain && store_get(fs->store, rec->execution_id, &found) == 0) {
			rec->id = found.id;
			err = 0;
		}
		store_record_clear(&found);
		if (!fs_store_transient(err))
			return err;
		uncertain |= err == -EIO;
		now = store_now_ms();
		if (now - logged >= FS_UNWAITED_LOG_MS) {
			fs_log(LOG_WARNING, "start of new/%s is waiting for the store for %llds (%s: %s)",
			       rec->execution_id, (long long)(now - first) / 1000, strerror(-err),
			       store_reason());
			logged = now;
		}
		if (fuse_session_exited(fs->se) && exiting == 0)
			exiting = now;
		if (exiting && now - exiting > FS_UNWAITED_EXIT_MS) {
			fs_log(LOG_ERR, "unmounting: gave up the start of new/%s after %llds: %s",
			       rec->execution_id, (long long)(now - first) / 1000, strerror(-err));
			return err;
		}
		usleep(pause_us);
		pause_us = pause_us < 500000 ? pause_us * 2 : 1000000;
	}
}

/*
 * Commits the start that @nf's document describes; the caller holds
 * nf->lock. A write waits for it (@waited) and hears its refusal; a
 * release cannot, and keeps trying instead (fs_start_unwaited).
 */
static int fs_newfile_commit(struct fs *fs, struct fs_newfile *nf, bool waited)
{
	struct store_record rec = { 0 };
	int err;

	err = record_parse_start(nf->buf ? nf->buf : "", nf->len, &rec);
	if (err == 0) {
		rec.execution_id = strdup(nf->name);
		/*
		 * A start committed at release began at the close before it,
		 * which returned first: its time is that close's, not later.
		 */
		rec.started_ms = nf->state == NEW_BLANK && nf->flushed_ms ? nf->flushed_ms
									   : store_now_ms();
		if (rec.execution_id == NULL)
			err = -ENOMEM;
		else
			err = waited ? store_start(fs->store, &rec) : fs_start_unwaited(fs, &rec);
	}
	if (err == 0)
		fs_log(LOG_INFO, "started %s (id %lld)", nf->name, (long long)rec.id);
	store_record_clear(&rec);
	nf->state = err ? NEW_FAILED : NEW_STARTED;
	nf->failed_err = err;
	fs_newfile_drop_buffer(nf);
	/* The name is the store's now (or free again): later starts get EEXIST from it. */
	fs_newfile_unclaim(fs, nf);
	return err;
}

/*
 * Start documents being written are buffered until complete. Each is at most
 * 1 MiB, but thousands may be open at once: all of them together get this
 * much memory, and a write past it fails with ENOSPC rather than letting a
 * writer grow the daemon without bound.
 */
#define FS_START_BUDGET ((size_t)256 << 20)

static size_t fs_start_buffered;

/*
 * Takes @bytes of the budget if they fit. Checked before it is added (a
 * compare and swap): adding first and taking back would, for a moment,
 * count what a refused writer never got, and refuse others that fit.
 */
static bool fs_budget_take(size_t bytes)
{
	size_t now = __atomic_load_n(&fs_start_buffered, __ATOMIC_RELAXED);

	do {
		if (bytes > FS_START_BUDGET - now)
			return false;
	} while (!__atomic_compare_exchange_n(&fs_start_buffered, &now, now + bytes, true,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

static void fs_budget_give(size_t bytes)
{
	__atomic_sub_fetch(&fs_start_buffered, bytes, __ATOMIC_RELAXED);
}

/* Frees the document buffer of @nf and gives its memory back to the budget. */
static void fs_newfile_drop_buffer(struct fs_newfile *nf)
{
	fs_budget_give(nf->cap);
	free(nf->buf);
	nf->buf = NULL;
	nf->len = nf->cap = 0;
}

static int fs_newfile_append(struct fs_newfile *nf, const char *buf, size_t size)
{
	if (nf->len + size > nf->cap) {
		size_t cap = nf->cap ? nf->cap : 4096;
		char *grown;

		while (cap < nf->len + size)
			cap *= 2;
		if (!fs_budget_take(cap - nf->cap))
			return fs_because(-ENOSPC, "%zu MiB of start documents are being written at once; "
					  "try again when some are done", FS_START_BUDGET >> 20);
		grown = realloc(nf->buf, cap);
		if (grown == NULL) {
			fs_budget_give(cap - nf->cap);
			return fs_because(-ENOMEM, "out of memory");
		}
		nf->buf = grown;
		nf->cap = cap;
	}
	memcpy(nf->buf + nf->len, buf, size);
	nf->len += size;
	return 0;
}

/* One write(2) to a start: check it, keep it, and commit when the document completes. */
static int fs_newfile_write(struct fs *fs, struct fs_newfile *nf, const char *buf,
			    size_t size, off_t off)
{
	int scan, err;

	if (nf->claimed)
		fs_pending_closing(fs->pending, nf->name, false);
	/*
	 * The kernel splits a large write(2) into pieces: the caller learns of a
	 * refused piece only from its next write, which must say the same.
	 */
	if (nf->state == NEW_FAILED)
		return fs_because(nf->failed_err, "an earlier write to this start was refused (%s)",
				  strerror(-nf->failed_err));
	if ((uint64_t)off != nf->written)
		return fs_because(-EINVAL, "a start document is written in order (offset %lld, expected %llu)",
				  (long long)off, (unsigned long long)nf->written);
	scan = record_scan_feed(nf->scan, buf, size);
	if (scan < 0) {
		/* After a start, only white space may follow, and the start stands. */
		if (nf->state != NEW_STARTED) {
			nf->state = NEW_FAILED;
			nf->failed_err = scan;
			fs_newfile_unclaim(fs, nf);
		}
		return scan;
	}
	nf->written += size;
	if (nf->state == NEW_STARTED)
		return 0;
	err = fs_newfile_append(nf, buf, size);
	if (err) {
		nf->state = NEW_FAILED;
		nf->failed_err = err;
		fs_newfile_unclaim(fs, nf);
		fs_newfile_drop_buffer(nf);
		return err;
	}
	if (scan == RECORD_SCAN_DONE)
		return fs_newfile_commit(fs, nf, true);
	nf->state = record_scan_blank(nf->scan) ? NEW_BLANK : NEW_PARTIAL;
	return 0;
}

/* --- finishing: status/<execution_id> --- */

int fs_finish(struct fs *fs, const char *execution_id, int64_t id, const char *buf, size_t size)
{
	struct store_finish fin;
	char *message = NULL;
	int err;

	if (size > RECORD_FINISH_MAX)
		return fs_because(-EFBIG, "a finish value is at most %d bytes", RECORD_FINISH_MAX);
	err = record_parse_finish(buf, size, &fin, &message);
	/* The run this status file was opened for: never another started under its name since. */
	fin.only_id = id;
	if (err == 0)
		err = store_finish(fs->store, execution_id, &fin, store_now_ms());
	if (err == 0) {
		fs_log(LOG_INFO, "finished %s: %s", execution_id, store_outcome_name(fin.outcome));
		/* The record's size and times changed; the kernel must ask again. */
		fuse_ino_t ino = fs_inodes_peek(fs->inodes, KIND_RECORD, id);

		if (ino != 0)
			fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	}
	free(message);
	return err;
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_file *f = fs_file_get(req, fi);
	struct fs_snapshot *h = (struct fs_snapshot *)f;
	struct fs_newfile *nf = (struct fs_newfile *)f;
	int err;

	(void)ino;
	if (f == NULL)
		return;
	fs_clear_reason();
	if (f->kind == HANDLE_NEW) {
		pthread_mutex_lock(&nf->lock);
		err = fs_newfile_write(fs, nf, buf, size, off);
		pthread_mutex_unlock(&nf->lock);
		if (err)
			fs_refuse(req, err, "write to new/%s", nf->name);
		else
			fuse_reply_write(req, size);
	} else if (f->kind == HANDLE_STATUS) {
		err = fs_finish(fs, h->execution_id, h->id, buf, size);
		if (err)
			fs_refuse(req, err, "finish of %s", h->execution_id);
		else
			fuse_reply_write(req, size);
	} else {
		fs_refuse(req, -EBADF, "write to a file opened for reading");
	}
	fs_handles_put(fs->handles, fi->fh);
}

static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_file *f = fs_file_get(req, fi);
	struct fs_newfile *nf = (struct fs_newfile *)f;
	int err = 0;

	(void)ino;
	if (f == NULL)
		return;
	/*
	 * A close. The start is not committed here: a shell closes a dup of the
	 * file before it writes. Lookups of the name now wait for the release.
	 * A document still incomplete fails this close (cp, dd, tee and Python
	 * report it), yet stays open for more: a close of one dup is not the
	 * last, and the release alone decides that nothing started.
	 */
	if (f->kind == HANDLE_NEW) {
		pthread_mutex_lock(&nf->lock);
		fs_clear_reason();
		nf->flushed_ms = store_now_ms();
		if (nf->claimed)
			fs_pending_closing(fs->pending, nf->name, true);
		if (nf->state == NEW_PARTIAL)
			err = fs_because(-EINVAL, "closed with an incomplete document (%llu bytes); "
					 "nothing started unless more follows",
					 (unsigned long long)nf->written);
		pthread_mutex_unlock(&nf->lock);
	}
	if (err)
		fs_refuse(req, err, "close of new/%s", nf->name);
	else
		fuse_reply_err(req, 0);
	fs_handles_put(fs->handles, fi->fh);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_file *f = fs_handles_release(fs->handles, fi->fh);
	struct fs_newfile *nf = (struct fs_newfile *)f;
	int err;

	(void)ino;
	if (f == NULL || f->kind != HANDLE_NEW)
		goto done;
	pthread_mutex_lock(&nf->lock);
	fs_clear_reason();
	if (nf->state == NEW_BLANK) {
		err = fs_newfile_commit(fs, nf, false);
		if (err)
			fs_log(LOG_NOTICE, "refused start of new/%s at close: %s: %s", nf->name,
			       strerror(-err), store_reason());
	} else if (nf->state == NEW_PARTIAL) {
		fs_log(LOG_NOTICE, "refused start of new/%s: closed with an incomplete document "
		       "(%llu bytes); nothing started", nf->name, (unsigned long long)nf->written);
	}
	fs_newfile_unclaim(fs, nf);
	pthread_mutex_unlock(&nf->lock);
done:
	if (f)
		fs_handles_put(fs->handles, fi->fh);
	fuse_reply_err(req, 0);
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	/* Every accepted write is already committed to the store. */
	fuse_reply_err(req, 0);
}

/* --- removing --- */

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	char id[RECORD_NAME_MAX + 1];
	size_t len = strlen(name);
	int err;

	fs_clear_reason();
	if (fs->opts.read_only)
		err = fs_because(-EROFS, "the mount is read-only");
	else if (parent == INO_STATUS)
		err = fs_because(-EPERM, "a status file goes with its record: remove %s.json", name);
	else if (parent != INO_ROOT)
		err = fs_because(-EACCES, "only records (<id>.json) can be removed");
	else if (len <= 5 || len - 5 > RECORD_NAME_MAX || strcmp(name + len - 5, ".json") != 0)
		err = fs_because(-EACCES, "only records (<id>.json) can be removed");
	else {
		memcpy(id, name, len - 5);
		id[len - 5] = '\0';
		/* A row whose name is not valid is in no listing, so it is not here either. */
		err = record_name_check(id) ? fs_because(-ENOENT, "%s is no execution", name)
					    : store_delete(fs->store, id);
	}
	if (err)
		fs_refuse(req, err, "removal of %s", name);
	else {
		fs_log(LOG_INFO, "deleted %s", name);
		fuse_reply_err(req, 0);
	}
}

/* --- everything else is refused, each with its own errno and reason --- */

static void fs_refuse_change(fuse_req_t req, fuse_ino_t parent, const char *op, const char *name)
{
	struct fs *fs = fs_of(req);
	int err;

	fs_clear_reason();
	if (fs->opts.read_only)
		err = fs_because(-EROFS, "the mount is read-only");
	else if (parent == INO_NEW)
		err = fs_because(-EACCES, "only regular files can be created in new/");
	else
		err = fs_because(-EACCES, "executions start in new/; nothing else can be created");
	fs_refuse(req, err, "%s of %s", op, name);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)mode;
	fs_refuse_change(req, parent, "mkdir", name);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)mode;
	(void)rdev;
	fs_refuse_change(req, parent, "mknod", name);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link;
	fs_refuse_change(req, parent, "symlink", name);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	(void)ino;
	fs_refuse_change(req, parent, "link", name);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);

	(void)parent;
	fs_clear_reason();
	fs_refuse(req, fs->opts.read_only ? fs_because(-EROFS, "the mount is read-only")
					  : fs_because(-EPERM, "the tree's directories are fixed"),
		  "rmdir of %s", name);
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs *fs = fs_of(req);

	(void)parent;
	(void)newparent;
	(void)flags;
	fs_clear_reason();
	fs_refuse(req, fs->opts.read_only ? fs_because(-EROFS, "the mount is read-only")
					  : fs_because(-EPERM, "an execution's name is fixed at its start"),
		  "rename of %s to %s", name, newname);
}

static void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	(void)value;
	(void)size;
	(void)flags;
	fs_clear_reason();
	fs_refuse(req, fs_because(-ENOTSUP, "extended attributes are not supported"),
		  "setxattr %s of inode %llu", name, (unsigned long long)ino);
}

static void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fs_clear_reason();
	fs_refuse(req, fs_because(-ENOTSUP, "extended attributes are not supported"),
		  "removexattr %s of inode %llu", name, (unsigned long long)ino);
}

static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	(void)ino;
	(void)name;
	(void)size;
	/* Not a refusal worth a log line: ls asks on every file. */
	fuse_reply_err(req, ENOTSUP);
}

static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			 off_t length, struct fuse_file_info *fi)
{
	(void)mode;
	(void)offset;
	(void)length;
	(void)fi;
	fs_clear_reason();
	fs_refuse(req, fs_because(-EOPNOTSUPP, "files here are not allocated"),
		  "fallocate of inode %llu", (unsigned long long)ino);
}

/*
 * df: the room of the store, so that a filling disk or LMDB map shows before
 * starts fail with ENOSPC. A store with no room on this host to tell (a
 * PostgreSQL server's disk) reports zero sizes, as "unknown".
 */
static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct statvfs sv;
	int err;

	(void)ino;
	err = store_statfs(fs->store, &sv);
	if (err == -EOPNOTSUPP) {
		memset(&sv, 0, sizeof(sv));
		sv.f_bsize = sv.f_frsize = 4096;
	} else if (err) {
		fs_refuse(req, err, "statfs");
		return;
	}
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	if (fs->opts.max_read)
		conn->max_read = fs->opts.max_read;
	/* O_TRUNC comes with open, so that status files accept it without a truncate. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Writes must reach us one write(2) at a time: no write-back cache. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,                 /* asks for O_TRUNC in open, no write-back */
	.lookup = fs_lookup,             /* names to nodes (node.c) */
	.forget = fs_forget,             /* frees table inode numbers (inodes.c) */
	.forget_multi = fs_forget_multi, /* the same, in bulk */
	.getattr = fs_getattr,           /* attributes from the store */
	.setattr = fs_setattr,           /* heartbeats; everything else refused */
	.readlink = fs_readlink,         /* latest and the views' links */
	.access = fs_access,             /* by mode bits; EROFS when read-only */
	.mknod = fs_mknod,               /* refused */
	.mkdir = fs_mkdir,               /* refused */
	.unlink = fs_unlink,             /* deletes a finished record */
	.rmdir = fs_rmdir,               /* refused */
	.symlink = fs_symlink,           /* refused */
	.rename = fs_rename,             /* refused */
	.link = fs_link,                 /* refused */
	.create = fs_create,             /* begins a start in new/ */
	.open = fs_open,                 /* a snapshot of a record or a status */
	.read = fs_read,                 /* from the snapshot */
	.write = fs_write,               /* start documents and finish values */
	.flush = fs_flush,               /* a close: a release may commit a start */
	.release = fs_release,           /* commits an empty start */
	.fsync = fs_fsync,               /* nothing to do: writes commit */
	.opendir = fs_opendir,           /* directories only */
	.readdir = fs_readdir,           /* streams from the store's cursor */
	.readdirplus = fs_readdirplus,   /* the same, with the records' attributes */
	.statfs = fs_statfs,             /* for df */
	.setxattr = fs_setxattr,         /* refused */
	.getxattr = fs_getxattr,         /* none */
	.listxattr = fs_listxattr,       /* none */
	.removexattr = fs_removexattr,   /* refused */
	.fallocate = fs_fallocate,       /* refused */
};
