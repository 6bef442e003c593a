/*
 * ops.c - the FUSE low-level callbacks: the contract's tree over the store.
 *
 * Reads render from the store at open (a record's open file is a snapshot);
 * a start is checked write by write and committed by the write that
 * completes its document (or, for an empty file, by the release); a finish
 * is one write. Every other change is refused with a clean errno, and every
 * refusal is logged with its reason.
 *
 * Each callback resolves its node or open file, calls what does the work and
 * replies: an open file's methods are its kind's (files.c; a start's session
 * is start.c's), listings are dir.c's and a finish is finish.c's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "fs.h"
#include "record.h"
#include "start.h"

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Replies @err (negative) to @req and logs why, naming the operation. */
void fs_refuse(fuse_req_t req, int err, const char *fmt, ...)
{
	const char *reason = fs_reason();
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
		fs_node_forget(fs_of(req), n->ino, 1);
}

/* --- open files: resolve, call the kind's method (files.c), reply --- */

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
		f->ops->destroy(f);
		fuse_reply_err(req, -err);
		return;
	}
	err = created ? fuse_reply_create(req, created, fi) : fuse_reply_open(req, fi);
	if (err == -ENOENT) {
		/* Not released: a start's name goes back as the file goes (destroy). */
		if (fs_handles_release(fs->handles, fi->fh))
			fs_handles_put(fs->handles, fi->fh);
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

/* Refuses @req with @err from @f's method doing @op (true), or leaves it to the caller (false). */
static bool fs_file_refused(fuse_req_t req, struct fs_file *f, enum fs_file_op op, int err)
{
	char what[RECORD_NAME_MAX + 64];

	if (err == 0)
		return false;
	f->ops->describe(f, op, what, sizeof(what));
	fs_refuse(req, err, "%s", what);
	return true;
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
	fs_node_forget(fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		fs_node_forget(fs_of(req), forgets[i].ino, forgets[i].nlookup);
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

/* A setattr of a status file: a time update is a heartbeat; nothing else changes. */
static int fs_status_setattr(struct fs *fs, fuse_ino_t ino, const struct stat *attr, int to_set)
{
	const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	struct fs_node n;
	int err;

	if (to_set & ~(times | FUSE_SET_ATTR_SIZE))
		return fs_because(-EPERM, "a status file's owner and mode are fixed");
	if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != 0)
		return fs_because(-EPERM, "a status file can only be written whole");
	if (!(to_set & times))
		return 0;
	memset(&n, 0, sizeof(n));
	err = fs_node_get(fs, ino, &n);
	if (err == 0)
		err = store_heartbeat(fs->store, n.rec.execution_id, store_now_ms());
	fs_node_clear(&n);
	return err;
}

/*
 * Time updates are heartbeats of a running execution (its status file);
 * everything else about attributes is fixed.
 */
static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
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
		err = fs_status_setattr(fs, ino, attr, to_set);
		break;
	case KIND_OUTPUT_FILE:
		err = fs_output_setattr(fs, ino, attr, to_set);
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

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_file *f;
	int err;

	fs_clear_reason();
	if (ino == INO_INDEX_HTML || ino == INO_METRICS)
		err = fs_report_open(fs, ino, fi, &f);
	else
		err = fs_snapshot_open(fs, ino, fi, &f);
	if (err)
		fs_refuse(req, err, "open of inode %llu", (unsigned long long)ino);
	else
		fs_reply_opened(req, f, fi, NULL);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req); /* req is gone once replied to */
	struct fs_file *f = fs_file_get(req, fi);
	const char *data;
	size_t len;
	int err;

	(void)ino;
	if (f == NULL)
		return;
	err = f->ops->read(f, off, size, &data, &len);
	if (!fs_file_refused(req, f, FS_FILE_READ, err))
		fuse_reply_buf(req, data, len);
	fs_handles_put(fs->handles, fi->fh);
}

/* --- starting: new/<execution_id> (a start session, start.c) --- */

/*
 * Begins the start of new/@name by the process that asked: the request
 * says its uid and pid, which no writer can forge, and the mount its host.
 */
static int fs_start_by(fuse_req_t req, const char *name, struct fs_file **f)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fs *fs = fs_of(req);
	char user[FS_USER_NAME_MAX + 1];
	struct fs_start_who who = { .host = fs->host, .user = user, .uid = ctx->uid,
				    .pid = ctx->pid };

	fs_start_user_name(ctx->uid, user);
	return fs_newfile_open(fs, name, &who, f);
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	static uint64_t counter;
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct fs_file *f = NULL;
	struct fs_node n;
	int err;

	(void)mode;
	fs_clear_reason();
	if (fs->opts.read_only)
		err = fs_because(-EROFS, "the mount is read-only");
	else if (parent != INO_NEW)
		err = fs_because(-EACCES, "executions start in new/; nothing else can be created");
	else
		err = fs_start_by(req, name, &f);
	if (err) {
		if (parent == INO_NEW)
			fs_refuse(req, err, "start of new/%s", name);
		else
			fs_refuse(req, err, "creation of %s", name);
		return;
	}
	fs_node_get(fs, fs_ino(KIND_NEW_FILE, __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED)), &n);
	memset(&e, 0, sizeof(e));
	e.ino = n.ino;
	e.attr = n.st;
	/* Zero timeouts: new/ must keep looking empty, so no dentry may outlive the call. */
	fi->direct_io = 1;
	fs_node_clear(&n);
	fs_reply_opened(req, f, fi, &e);
}

/* --- writing, closing --- */

/* A write: a start's piece (start.c), a finish (finish.c), or EBADF for a snapshot. */
static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_file *f = fs_file_get(req, fi);
	int err;

	(void)ino;
	if (f == NULL)
		return;
	fs_clear_reason();
	err = f->ops->write(fs, f, buf, size, off);
	if (!fs_file_refused(req, f, FS_FILE_WRITE, err))
		fuse_reply_write(req, size);
	fs_handles_put(fs->handles, fi->fh);
}

/* A close(2) of one descriptor; the last one's release follows. */
static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_file *f = fs_file_get(req, fi);
	int err;

	(void)ino;
	if (f == NULL)
		return;
	fs_clear_reason();
	err = f->ops->flush(fs, f);
	if (!fs_file_refused(req, f, FS_FILE_CLOSE, err))
		fuse_reply_err(req, 0);
	fs_handles_put(fs->handles, fi->fh);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_file *f = fs_handles_release(fs->handles, fi->fh);

	(void)ino;
	if (f) {
		fs_clear_reason();
		f->ops->release(fs, f);
		fs_handles_put(fs->handles, fi->fh);
	}
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
	else if (parent == INO_STATUS || parent == INO_OUTPUT)
		err = fs_because(-EPERM, "%s file goes with its record: remove %s.json",
				 parent == INO_STATUS ? "a status" : "an output", name);
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
	/*
	 * A release is a background request: past max_background (12 by
	 * default) the kernel holds it back, and an unmount aborts what it
	 * still holds, which would drop the empty starts of files closed just
	 * before fusermount3 -u. Let them all through.
	 */
	conn->max_background = 1024;
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
	.opendir = fs_dir_open,            /* directories only; a view's values collected */
	.releasedir = fs_dir_release,      /* frees them */
	.readdir = fs_dir_read,           /* streams from the store's cursor */
	.readdirplus = fs_dir_read_plus,   /* the same, with the records' attributes */
	.statfs = fs_statfs,             /* for df */
	.setxattr = fs_setxattr,         /* refused */
	.getxattr = fs_getxattr,         /* none */
	.listxattr = fs_listxattr,       /* none */
	.removexattr = fs_removexattr,   /* refused */
	.fallocate = fs_fallocate,       /* refused */
};
