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

#include "fs.h"
#include "record.h"

/* Directory offsets: 1 and 2 are . and .., fixed entries follow, store items from here. */
#define FS_DIR_BASE 16

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

static void fs_reply_entry(fuse_req_t req, const struct fs_node *n)
{
	struct fuse_entry_param e = {
		.ino = n->ino,
		.attr = n->st,
		.attr_timeout = n->timeout,
		.entry_timeout = n->timeout,
	};

	fuse_reply_entry(req, &e);
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
	enum fs_kind kind = fs_ino_kind(ino);
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

struct fs_dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size;
	size_t used;
	const char *suffix; /* appended to each execution_id */
	enum fs_kind kind;  /* of the entries listed from the store */
	mode_t mode;
	off_t base;         /* offset of an entry = base + its key */
	struct fs *fs;      /* for readdirplus: the attributes of records */
	bool plus;          /* a readdirplus reply */
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
	if (need > d->size - d->used)
		return false;
	d->used += need;
	return true;
}

static bool fs_dirbuf_add(struct fs_dirbuf *d, const char *name, fuse_ino_t ino,
			  mode_t mode, off_t next)
{
	return fs_dirbuf_add_entry(d, name, ino, mode, next, NULL);
}

/* A record with its attributes (readdirplus): the kernel caches them for a second. */
static int fs_dirbuf_add_record(void *ctx, const struct store_record *rec)
{
	struct fs_dirbuf *d = ctx;
	char name[RECORD_NAME_MAX + 16];
	struct fuse_entry_param e;
	struct fs_node n;

	snprintf(name, sizeof(name), "%s%s", rec->execution_id, d->suffix);
	memset(&n, 0, sizeof(n));
	n.rec = *rec; /* borrowed, never cleared */
	fs_node_fill(d->fs, KIND_RECORD, &n);
	e = (struct fuse_entry_param){ .ino = n.ino, .attr = n.st, .attr_timeout = n.timeout,
				       .entry_timeout = n.timeout };
	return fs_dirbuf_add_entry(d, name, n.ino, d->mode, d->base + rec->id, &e) ? 0 : 1;
}

/* An entry by its name alone. */
static int fs_dirbuf_add_name(void *ctx, int64_t id, const char *execution_id)
{
	struct fs_dirbuf *d = ctx;
	char name[RECORD_NAME_MAX + 16];

	snprintf(name, sizeof(name), "%s%s", execution_id, d->suffix);
	return fs_dirbuf_add(d, name, fs_ino(d->kind, (uint64_t)id), d->mode, d->base + id) ? 0 : 1;
}

/* Adds the executions matching @filter after id @after, one entry each, until full. */
static int fs_dirbuf_records(struct fs *fs, struct fs_dirbuf *d, const struct store_filter *filter,
			     int64_t after, const char *suffix, enum fs_kind kind, mode_t mode)
{
	d->suffix = suffix;
	d->kind = kind;
	d->mode = mode;
	/* Names alone come from the store's indexes; only records are worth attributes. */
	if (d->plus && kind == KIND_RECORD)
		return store_list(fs->store, filter, after, fs_dirbuf_add_record, d);
	return store_list_names(fs->store, filter, after, fs_dirbuf_add_name, d);
}

static int fs_dirbuf_add_day(void *ctx, int64_t day)
{
	struct fs_dirbuf *d = ctx;
	char name[16];

	fs_day_name(day, name);
	if (!fs_dirbuf_add(d, name, fs_ino(KIND_DAY_DIR, (uint64_t)day), S_IFDIR,
			   d->base + day + 1))
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
			if (store_latest(fs->store, &latest) != 0)
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
	struct fs_dirbuf d = { .req = req, .size = size, .base = FS_DIR_BASE, .fs = fs,
			       .plus = plus };
	struct fs_fixed_entry by_outcome[STORE_OUTCOMES];
	struct store_filter filter = { .outcome = -1, .day = -1 };
	int64_t after = off > FS_DIR_BASE ? off - FS_DIR_BASE : 0;
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
		err = fs_dirbuf_records(fs, &d, &filter, after, ".json",
					kind == KIND_OUTCOME_DIR ? KIND_OUTCOME_LINK : KIND_DAY_LINK,
					S_IFLNK);
		goto reply;
	}
	switch (ino) {
	case INO_ROOT:
		if (!fs_dirbuf_fixed(fs, &d, ino, off, fs_root_entries,
				     sizeof(fs_root_entries) / sizeof(fs_root_entries[0])))
			break;
		err = fs_dirbuf_records(fs, &d, NULL, after, ".json", KIND_RECORD, S_IFREG);
		break;
	case INO_STATUS:
		if (!fs_dirbuf_fixed(fs, &d, ino, off, NULL, 0))
			break;
		err = fs_dirbuf_records(fs, &d, NULL, after, "", KIND_STATUS_FILE, S_IFREG);
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
	       store_now_ms() - rec->heartbeat_ms > FS_SETTLED_MS;
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
	err = fs_report_text(fs, ino, &h->data, &h->len);
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
	enum fs_kind kind = fs_ino_kind(ino);
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

/* Commits the start that @nf's document describes; the caller holds nf->lock. */
static int fs_newfile_commit(struct fs *fs, struct fs_newfile *nf)
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
		err = rec.execution_id ? store_start(fs->store, &rec) : -ENOMEM;
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

static bool fs_budget_take(size_t bytes)
{
	size_t now = __atomic_add_fetch(&fs_start_buffered, bytes, __ATOMIC_RELAXED);

	if (now <= FS_START_BUDGET)
		return true;
	__atomic_sub_fetch(&fs_start_buffered, bytes, __ATOMIC_RELAXED);
	return false;
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
		return fs_newfile_commit(fs, nf);
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
	if (err == 0)
		err = store_finish(fs->store, execution_id, &fin, store_now_ms());
	if (err == 0) {
		fs_log(LOG_INFO, "finished %s: %s", execution_id, store_outcome_name(fin.outcome));
		/* The record's size and times changed; the kernel must ask again. */
		fuse_lowlevel_notify_inval_inode(fs->se, fs_ino(KIND_RECORD, (uint64_t)id), -1, 0);
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

	(void)ino;
	if (f == NULL)
		return;
	/*
	 * A close. The start is not committed here: a shell closes a dup of the
	 * file before it writes. Lookups of the name now wait for the release.
	 */
	if (f->kind == HANDLE_NEW) {
		pthread_mutex_lock(&nf->lock);
		nf->flushed_ms = store_now_ms();
		if (nf->claimed)
			fs_pending_closing(fs->pending, nf->name, true);
		pthread_mutex_unlock(&nf->lock);
	}
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
		err = fs_newfile_commit(fs, nf);
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
		err = store_delete(fs->store, id);
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
		err = fs_because(-EPERM, "only regular files can be created in new/");
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

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv = { .f_bsize = 4096, .f_frsize = 4096, .f_namemax = 255 };

	(void)ino;
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
