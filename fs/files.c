/*
 * files.c - the kinds of open file, each a const table of methods (as
 * SQLite's demovfs gives each file its sqlite3_io_methods): a record's
 * snapshot, a status file opened for writing (a finish), index.html and
 * metrics.prom (a report's snapshot), a start document in new/ (a start
 * session, start.c), and output/<id> (output.c, opened from here). The callbacks in ops.c resolve the handle, call the
 * method and reply; none of them asks what kind a file is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "record.h"
#include "start.h"

/* --- snapshots: records, status files, reports --- */

/* A record, a status file or a report, as it was at the open. */
struct fs_snapshot {
	struct fs_file base;
	int64_t id;          /* the execution's store id (not for a report) */
	char *execution_id;  /* ... and its name, which a finish names */
	size_t len;
	char *data;
};

static int fs_snapshot_read(struct fs_file *f, off_t off, size_t size, const char **data,
			    size_t *len)
{
	struct fs_snapshot *h = (struct fs_snapshot *)f;

	*data = NULL;
	*len = 0;
	if (off >= 0 && (size_t)off < h->len) {
		*data = h->data + off;
		*len = size < h->len - (size_t)off ? size : h->len - (size_t)off;
	}
	return 0;
}

static int fs_snapshot_write(struct fs *fs, struct fs_file *f, const char *buf, size_t size,
			     off_t off)
{
	(void)fs;
	(void)f;
	(void)buf;
	(void)size;
	(void)off;
	return -EBADF;
}

/* A snapshot's close and release have nothing to do. */
static int fs_snapshot_flush(struct fs *fs, struct fs_file *f)
{
	(void)fs;
	(void)f;
	return 0;
}

static void fs_snapshot_release(struct fs *fs, struct fs_file *f)
{
	(void)fs;
	(void)f;
}

static void fs_snapshot_destroy(struct fs_file *f)
{
	struct fs_snapshot *h = (struct fs_snapshot *)f;

	free(h->execution_id);
	free(h->data);
	free(h);
}

static void fs_snapshot_describe(const struct fs_file *f, enum fs_file_op op, char *buf,
				 size_t size)
{
	(void)f;
	snprintf(buf, size, "%s", op == FS_FILE_WRITE ? "write to a file opened for reading"
						      : "use of a snapshot");
}

/* A record, or a status file opened for reading only. */
static const struct fs_file_ops fs_record_ops = {
	.read = fs_snapshot_read,       /* from the snapshot */
	.write = fs_snapshot_write,     /* EBADF: opened for reading */
	.flush = fs_snapshot_flush,     /* nothing */
	.release = fs_snapshot_release, /* nothing */
	.destroy = fs_snapshot_destroy,
	.describe = fs_snapshot_describe,
};

/* index.html and metrics.prom: the same as a record's, a rendering instead of a record. */
static const struct fs_file_ops fs_report_ops = {
	.read = fs_snapshot_read,       /* from the rendering taken at open */
	.write = fs_snapshot_write,     /* EBADF: reports are read-only */
	.flush = fs_snapshot_flush,
	.release = fs_snapshot_release,
	.destroy = fs_snapshot_destroy,
	.describe = fs_snapshot_describe,
};

/* --- status writers: a write finishes the run --- */

static int fs_status_write(struct fs *fs, struct fs_file *f, const char *buf, size_t size,
			   off_t off)
{
	struct fs_snapshot *h = (struct fs_snapshot *)f;

	(void)off;
	return fs_finish(fs, h->execution_id, h->id, buf, size);
}

static void fs_status_describe(const struct fs_file *f, enum fs_file_op op, char *buf,
			       size_t size)
{
	const struct fs_snapshot *h = (const struct fs_snapshot *)f;

	if (op == FS_FILE_WRITE)
		snprintf(buf, size, "finish of %s", h->execution_id);
	else
		snprintf(buf, size, "use of status/%s", h->execution_id);
}

/* A status file opened for writing: finishes, and reads a snapshot. */
static const struct fs_file_ops fs_status_ops = {
	.read = fs_snapshot_read,      /* the status at the open */
	.write = fs_status_write,      /* a finish (finish.c) */
	.flush = fs_snapshot_flush,    /* nothing: the write finished */
	.release = fs_snapshot_release,
	.destroy = fs_snapshot_destroy,
	.describe = fs_status_describe,
};

/* --- start documents: new/<execution_id> --- */

struct fs_newfile {
	struct fs_file base;
	struct fs_start *start;
};

static int fs_newfile_read(struct fs_file *f, off_t off, size_t size, const char **data,
			   size_t *len)
{
	(void)f;
	(void)off;
	(void)size;
	*data = NULL;
	*len = 0;
	return -EBADF;
}

static int fs_newfile_write(struct fs *fs, struct fs_file *f, const char *buf, size_t size,
			    off_t off)
{
	(void)fs;
	return fs_start_write(((struct fs_newfile *)f)->start, buf, size, (uint64_t)off);
}

static int fs_newfile_flush(struct fs *fs, struct fs_file *f)
{
	(void)fs;
	return fs_start_flush(((struct fs_newfile *)f)->start);
}

static void fs_newfile_release(struct fs *fs, struct fs_file *f)
{
	(void)fs;
	fs_start_release(((struct fs_newfile *)f)->start);
}

static void fs_newfile_destroy(struct fs_file *f)
{
	fs_start_free(((struct fs_newfile *)f)->start);
	free(f);
}

static void fs_newfile_describe(const struct fs_file *f, enum fs_file_op op, char *buf,
				size_t size)
{
	const char *name = fs_start_name(((const struct fs_newfile *)f)->start);

	if (op == FS_FILE_READ)
		snprintf(buf, size, "read of a start being written");
	else
		snprintf(buf, size, "%s new/%s", op == FS_FILE_WRITE ? "write to" : "close of", name);
}

static const struct fs_file_ops fs_newfile_ops = {
	.read = fs_newfile_read,       /* EBADF: a start is written, not read */
	.write = fs_newfile_write,     /* feeds the session; the completing write commits */
	.flush = fs_newfile_flush,     /* EINVAL while incomplete */
	.release = fs_newfile_release, /* commits an empty start */
	.destroy = fs_newfile_destroy, /* gives the name back if still held */
	.describe = fs_newfile_describe,
};

/* Whether the mount is going away: a start no one waits for then gives up in time. */
static bool fs_exiting(void *ctx)
{
	return fuse_session_exited(((struct fs *)ctx)->se);
}

int fs_newfile_open(struct fs *fs, const char *name, const struct fs_start_who *who,
		    struct fs_file **out)
{
	struct fs_start_env env = { .store = fs->store, .pending = fs->pending,
				    .exiting = fs_exiting, .ctx = fs };
	struct fs_newfile *nf;
	int err;

	*out = NULL;
	nf = calloc(1, sizeof(*nf));
	if (nf == NULL)
		return fs_because(-ENOMEM, "out of memory");
	err = fs_start_open(&env, name, who, &nf->start);
	if (err) {
		free(nf);
		return err;
	}
	nf->base.ops = &fs_newfile_ops;
	*out = &nf->base;
	return 0;
}

/* --- opening a snapshot --- */

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

int fs_report_open(struct fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, struct fs_file **out)
{
	struct fs_snapshot *h;
	int err;

	*out = NULL;
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return fs_because(fs->opts.read_only ? -EROFS : -EACCES, "%s is read-only",
				  ino == INO_INDEX_HTML ? "index.html" : "metrics.prom");
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->base.ops = &fs_report_ops;
	fs_wait_closing_starts(fs);
	err = fs_report_text(fs, ino, &h->data, &h->len, NULL);
	if (err) {
		fs_snapshot_destroy(&h->base);
		return err;
	}
	/* Reads come to us, from the snapshot, whatever size the kernel last saw. */
	fi->direct_io = 1;
	fi->noflush = 1;
	*out = &h->base;
	return 0;
}

/* Whether @kind may be opened with @fi's flags; 0 or -errno with the reason set. */
static int fs_snapshot_allowed(struct fs *fs, enum fs_kind kind, const struct fuse_file_info *fi)
{
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;

	if (kind != KIND_RECORD && kind != KIND_STATUS_FILE)
		return kind == KIND_NEW_FILE
			? fs_because(-EACCES, "a start in progress cannot be opened again")
			: fs_because(-EISDIR, "not a file");
	if (writing && fs->opts.read_only)
		return fs_because(-EROFS, "the mount is read-only");
	if (kind == KIND_RECORD && (writing || (fi->flags & O_TRUNC)))
		return fs_because(-EACCES, "records are read-only; finish through status/");
	return 0;
}

/* The snapshot of node @n (a record or a status file) for @fi; sets the caching flags. */
static int fs_snapshot_make(struct fs_node *n, enum fs_kind kind, struct fuse_file_info *fi,
			    struct fs_snapshot **out)
{
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct fs_snapshot *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (h == NULL)
		return -ENOMEM;
	h->base.ops = writing ? &fs_status_ops : &fs_record_ops;
	h->id = n->rec.id;
	h->data = kind == KIND_RECORD ? record_to_json(&n->rec, &h->len)
				      : fs_status_text(&n->rec, &h->len);
	h->execution_id = strdup(n->rec.execution_id);
	if (h->data == NULL || h->execution_id == NULL) {
		fs_snapshot_destroy(&h->base);
		return -ENOMEM;
	}
	/* A finish happens in write(2): a status file's close has nothing to do. */
	if (kind == KIND_STATUS_FILE)
		fi->noflush = 1;
	if (fs_record_settled(kind, &n->rec, writing)) {
		/* It can no longer change: the page cache serves it, kept across opens. */
		fi->keep_cache = 1;
		fi->noflush = 1;
	} else {
		/* Reads come to us, from the snapshot, whatever size the kernel last saw. */
		fi->direct_io = 1;
	}
	*out = h;
	return 0;
}

int fs_snapshot_open(struct fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, struct fs_file **out)
{
	enum fs_kind kind = fs_node_kind(fs, ino);
	struct fs_snapshot *h = NULL;
	struct fs_node n;
	int err;

	*out = NULL;
	/* output/<id> is read from the store as it grows, never a snapshot (output.c). */
	if (kind == KIND_OUTPUT_FILE)
		return fs_output_open(fs, ino, fi, out);
	memset(&n, 0, sizeof(n));
	err = fs_snapshot_allowed(fs, kind, fi);
	if (err == 0)
		err = fs_node_get(fs, ino, &n);
	if (err == 0)
		err = fs_snapshot_make(&n, kind, fi, &h);
	if (err == 0)
		*out = &h->base;
	fs_node_clear(&n);
	return err;
}
