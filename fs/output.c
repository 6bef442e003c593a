/*
 * output.c - output/<id>: what a run printed, kept by the store beside its
 * record, as a kind of open file (files.c's methods).
 *
 * A read goes to the store at its offset; a write(2) is one append,
 * committed before it returns, at exactly the output's current length.
 * The file is its execution's, by store id: a name deleted and started
 * again is another run, whose output an open file of the first never
 * shows. What is not here: the store's pieces and the cap's bookkeeping
 * (store/), and the note a finish adds when the output was cut, which the
 * finishes (finish.c, lifecycle.c) ask fs_output_cut_note() for.
 *
 * Every open is direct_io. Reads then always come here, whatever size the
 * kernel last saw, so cat reads to the store's end and tail -f, which polls
 * st_size on FUSE (no inotify) and reads from where it was, never gets a
 * stale page of the page cache; and each write(2) reaches us as it was
 * made (split only past max_write), never merged or held back by the page
 * cache. The size itself is asked for on every stat (node.c, timeout 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "fs.h"

/* How many times an O_APPEND write follows the output's end as other writers move it. */
#define FS_OUTPUT_APPEND_TRIES 8

struct fs_output {
	struct fs_file base;
	struct store *store;  /* for reads, which get no fs */
	int64_t id;           /* the run this file was opened for */
	char *execution_id;   /* ... and its name, for the log */
	bool append;          /* opened with O_APPEND: the offset is the output's end */
};

/*
 * A read's bytes must live until its reply is sent (fs_read() replies after
 * the method returns), and reads of one file may run at once on several
 * threads: each thread has its own buffer, grown to the largest read it
 * served and freed with the thread.
 */
struct fs_output_buf {
	size_t size;
	char data[];
};

static pthread_key_t fs_output_key;
static pthread_once_t fs_output_once = PTHREAD_ONCE_INIT;
static int fs_output_key_err;

static void fs_output_key_make(void)
{
	fs_output_key_err = pthread_key_create(&fs_output_key, free);
}

/* This thread's read buffer, of at least @size bytes; NULL when out of memory. */
static char *fs_output_buffer(size_t size)
{
	struct fs_output_buf *b;

	pthread_once(&fs_output_once, fs_output_key_make);
	if (fs_output_key_err)
		return NULL;
	b = pthread_getspecific(fs_output_key);
	if (b && b->size >= size)
		return b->data;
	free(b);
	b = malloc(sizeof(*b) + size);
	if (b)
		b->size = size;
	if (pthread_setspecific(fs_output_key, b) != 0) {
		free(b);
		return NULL;
	}
	return b ? b->data : NULL;
}

static int fs_output_read(struct fs_file *f, off_t off, size_t size, const char **data,
			  size_t *len)
{
	struct fs_output *o = (struct fs_output *)f;
	char *buf;
	int err;

	*data = NULL;
	*len = 0;
	if (off < 0)
		return fs_because(-EINVAL, "a negative offset");
	if (size == 0)
		return 0;
	buf = fs_output_buffer(size);
	if (buf == NULL)
		return fs_because(-ENOMEM, "out of memory");
	err = store_output_read(o->store, o->id, (uint64_t)off, buf, size, len);
	if (err == -ENOENT)
		err = fs_because(-ENOENT, "%s was deleted", o->execution_id);
	if (err == 0)
		*data = buf;
	return err;
}

/* The output's length now, as its record says; -errno when it cannot be read. */
static int fs_output_length(struct fs_output *o, uint64_t *length)
{
	struct store_record rec = { 0 };
	int err = store_get_by_id(o->store, o->id, &rec);

	if (err == 0)
		*length = rec.output_bytes > 0 ? (uint64_t)rec.output_bytes : 0;
	store_record_clear(&rec);
	return err;
}

/* Turns the store's refusal of an append into the reason the log gives. */
static int fs_output_refused(struct fs *fs, struct fs_output *o, int err, off_t off,
			     size_t written)
{
	uint64_t length = 0;

	switch (err) {
	case -EINVAL:
		if (fs_output_length(o, &length) != 0)
			length = 0;
		return fs_because(-EINVAL, "a write at offset %lld, but the output is %" PRIu64
				  " bytes: output is appended only", (long long)off, length);
	case -EFBIG:
		return fs_because(-EFBIG, "output past output_max=%" PRIu64 " bytes: cut (%zu of "
				  "this write kept)", fs->opts.output_max, written);
	case -EPERM:
		return fs_because(-EPERM, "%s has finished: its output is final", o->execution_id);
	case -ENOENT:
		return fs_because(-ENOENT, "%s was deleted", o->execution_id);
	default:
		return err; /* the store's own reason (ENOSPC, EIO...) */
	}
}

/* How many decimal digits @n has. */
static int fs_digits(uint64_t n)
{
	int d = 1;

	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

/*
 * The record shows output_bytes: its rendering grows by a byte each time
 * the length gains a digit, and then the kernel must forget the record's
 * size (its attributes are cached for a second) as after a finish.
 */
static void fs_output_grew(struct fs *fs, struct fs_output *o, uint64_t from, size_t written)
{
	fuse_ino_t ino;

	if (written == 0 || fs_digits(from) == fs_digits(from + written))
		return;
	ino = fs_inodes_peek(fs->inodes, KIND_RECORD, o->id);
	if (ino != 0)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

static int fs_output_write(struct fs *fs, struct fs_file *f, const char *buf, size_t size,
			   off_t off)
{
	struct fs_output *o = (struct fs_output *)f;
	uint64_t at = (uint64_t)off;
	size_t written = 0;
	int err;

	if (off < 0)
		return fs_output_refused(fs, o, -EINVAL, off, 0);
	err = store_output_append(fs->store, o->id, at, buf, size, fs->opts.output_max, &written);
	/*
	 * O_APPEND writes at the end the kernel last saw, which other writers
	 * may have moved since: such a write goes at the end the store has,
	 * tried again (a few times) while they keep moving it.
	 */
	for (int tries = 0; err == -EINVAL && o->append && tries < FS_OUTPUT_APPEND_TRIES; tries++) {
		uint64_t end;

		if (fs_output_length(o, &end) != 0 || end == at)
			break;
		at = end;
		err = store_output_append(fs->store, o->id, at, buf, size, fs->opts.output_max,
					  &written);
	}
	fs_output_grew(fs, o, at, written);
	if (err)
		return fs_output_refused(fs, o, err, off, written);
	return 0;
}

/* Every write is committed as it is made: a close has nothing left to do. */
static int fs_output_flush(struct fs *fs, struct fs_file *f)
{
	(void)fs;
	(void)f;
	return 0;
}

static void fs_output_release(struct fs *fs, struct fs_file *f)
{
	(void)fs;
	(void)f;
}

static void fs_output_destroy(struct fs_file *f)
{
	struct fs_output *o = (struct fs_output *)f;

	free(o->execution_id);
	free(o);
}

static void fs_output_describe(const struct fs_file *f, enum fs_file_op op, char *buf,
			       size_t size)
{
	const struct fs_output *o = (const struct fs_output *)f;

	snprintf(buf, size, "%s output/%s",
		 op == FS_FILE_READ ? "read of" : op == FS_FILE_WRITE ? "write to" : "close of",
		 o->execution_id);
}

static const struct fs_file_ops fs_output_ops = {
	.read = fs_output_read,       /* from the store, at the offset */
	.write = fs_output_write,     /* one append, at the output's end only */
	.flush = fs_output_flush,     /* nothing: writes are committed */
	.release = fs_output_release, /* nothing */
	.destroy = fs_output_destroy,
	.describe = fs_output_describe,
};

/* Whether run @rec's output may be opened with @fi's flags; 0 or -errno with the reason. */
static int fs_output_allowed(struct fs *fs, const struct store_record *rec,
			     const struct fuse_file_info *fi)
{
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	bool truncating = (fi->flags & O_TRUNC) != 0;

	if (!writing && !truncating)
		return 0;
	if (fs->opts.read_only)
		return fs_because(-EROFS, "the mount is read-only");
	if (rec->finished_at != STORE_NULL)
		return fs_because(-EPERM, "%s has finished: its output is final", rec->execution_id);
	if (truncating && rec->output_bytes > 0)
		return fs_because(-EPERM, "output/%s holds %lld bytes: output is appended, never "
				  "truncated", rec->execution_id, (long long)rec->output_bytes);
	return 0;
}

int fs_output_open(struct fs *fs, fuse_ino_t ino, struct fuse_file_info *fi, struct fs_file **out)
{
	struct fs_output *o = NULL;
	struct fs_node n;
	int err;

	*out = NULL;
	err = fs_node_get(fs, ino, &n);
	if (err == 0)
		err = fs_output_allowed(fs, &n.rec, fi);
	if (err == 0) {
		o = calloc(1, sizeof(*o));
		if (o == NULL || (o->execution_id = strdup(n.rec.execution_id)) == NULL)
			err = fs_because(-ENOMEM, "out of memory");
	}
	if (err == 0) {
		o->base.ops = &fs_output_ops;
		o->store = fs->store;
		o->id = n.rec.id;
		o->append = (fi->flags & O_APPEND) != 0;
		fi->direct_io = 1; /* see the top of this file */
		fi->noflush = 1;
		*out = &o->base;
		o = NULL;
	}
	if (o)
		fs_output_destroy(&o->base);
	fs_node_clear(&n);
	return err;
}

int fs_output_setattr(struct fs *fs, fuse_ino_t ino, const struct stat *attr, int to_set)
{
	struct fs_node n;
	int err;

	/* truncate(2) comes with its times; times alone would be a change of ours to make up. */
	if (!(to_set & FUSE_SET_ATTR_SIZE))
		return fs_because(-EPERM, "an output file's attributes are its run's");
	err = fs_node_get(fs, ino, &n);
	if (err == 0 && n.rec.finished_at != STORE_NULL)
		err = fs_because(-EPERM, "%s has finished: its output is final", n.rec.execution_id);
	else if (err == 0 && attr->st_size != 0)
		err = fs_because(-EPERM, "output is appended by write(2), never resized");
	else if (err == 0 && n.rec.output_bytes > 0)
		err = fs_because(-EPERM, "output/%s holds %lld bytes: output is appended, never "
				 "truncated", n.rec.execution_id, (long long)n.rec.output_bytes);
	fs_node_clear(&n);
	return err;
}

char *fs_output_cut_note(struct fs *fs, int64_t id, const char *message)
{
	struct store_record rec = { 0 };
	char *note = NULL;
	int cut = store_output_cut(fs->store, id);

	if (cut < 0 && cut != -EOPNOTSUPP && cut != -ENOENT)
		fs_log(LOG_WARNING, "cannot tell whether the output of run %lld was cut: %s: %s",
		       (long long)id, strerror(-cut), store_reason());
	if (cut != 1)
		return NULL;
	/* The length kept, as the record has it: the cap may have been another at the time. */
	if (store_get_by_id(fs->store, id, &rec) == 0 &&
	    asprintf(&note, "%s%soutput cut at %lld bytes", message ? message : "",
		     message && message[0] ? "; " : "", (long long)rec.output_bytes) < 0)
		note = NULL;
	store_record_clear(&rec);
	return note;
}
