/*
 * dir.c - directory listings: the fixed entries, then the store's, streamed
 * from its cursors a reply at a time (readdir and readdirplus), with
 * offsets that telldir and seekdir can hold. Lookups of single names are
 * node.c's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 * - by-host/ and the other views' values: 3 + the value's place in the
 *   list opendir collected (struct fs_dir_values).
 */
#define FS_DIR_BASE 16
#define FS_DIR_OUTLIERS (FS_DIR_BASE + FS_ID_DIRECT_END)

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
		(filter->day < 0 || store_day_of(rec->started_at) == filter->day) &&
		(filter->attr == STORE_ATTR_NONE ||
		 fs_view_record_has(rec, filter->attr, filter->value)));
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
	{ "output", INO_OUTPUT, S_IFDIR },
	{ "by-outcome", INO_BY_OUTCOME, S_IFDIR },
	{ "by-day", INO_BY_DAY, S_IFDIR },
	{ "by-host", INO_BY_HOST, S_IFDIR },
	{ "by-user", INO_BY_USER, S_IFDIR },
	{ "by-tool", INO_BY_TOOL, S_IFDIR },
	{ "by-tag", INO_BY_TAG, S_IFDIR },
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

/*
 * What opendir keeps for a listing of a view's values (by-host/ and the
 * like): the values, collected whole when the directory is opened. Their
 * count is small (hosts, users, tools, tags in use), and a list held by the
 * open directory gives offsets that telldir and seekdir can hold; a
 * listing from offset 0 again (rewinddir) collects afresh.
 */
struct fs_dir_values {
	pthread_mutex_t lock;
	int attr;
	bool listed; /* a listing has read the collection */
	struct fs_view_list list;
};

static void fs_dir_values_free(struct fs_dir_values *h)
{
	fs_view_list_clear(&h->list);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* Opens a view's directory of values: collects them into the handle. */
static int fs_dir_values_open(struct fs *fs, int attr, struct fuse_file_info *fi)
{
	struct fs_dir_values *h = calloc(1, sizeof(*h));
	int err;

	if (h == NULL)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	h->attr = attr;
	fs_wait_closing_starts(fs);
	err = fs_view_collect(fs, attr, &h->list);
	if (err) {
		fs_dir_values_free(h);
		return err;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

void fs_dir_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fuse_req_userdata(req);
	enum fs_kind kind = fs_ino_kind(ino);
	int attr = fs_view_attr(ino);
	int err;

	if (kind == KIND_FIXED ? (ino >= INO_LATEST && attr == STORE_ATTR_NONE)
			       : (kind != KIND_OUTCOME_DIR && kind != KIND_DAY_DIR &&
				  kind != KIND_VALUE_DIR)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->fh = 0;
	if (attr != STORE_ATTR_NONE) {
		err = fs_dir_values_open(fs, attr, fi);
		if (err) {
			fs_refuse(req, err, "listing of inode %llu", (unsigned long long)ino);
			return;
		}
	}
	fuse_reply_open(req, fi);
}

void fs_dir_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (fi->fh && fs_view_attr(ino) != STORE_ATTR_NONE)
		fs_dir_values_free((struct fs_dir_values *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Lists a view's values from @off: one directory each, from what opendir collected in @h. */
static int fs_list_values(struct fs *fs, struct fs_dirbuf *d, fuse_ino_t ino, off_t off,
			  struct fs_dir_values *h)
{
	int err = 0;

	if (h == NULL)
		return -EBADF;
	if (!fs_dirbuf_fixed(fs, d, ino, off, NULL, 0))
		return 0;
	pthread_mutex_lock(&h->lock);
	if (off == 0 && h->listed)
		err = fs_view_collect(fs, h->attr, &h->list);
	h->listed = true;
	for (size_t i = off > 2 ? (size_t)off - 2 : 0; err == 0 && i < h->list.n; i++) {
		fuse_ino_t vino = fs_values_peek(fs->values, h->attr, h->list.values[i]);

		if (!fs_dirbuf_add(d, h->list.values[i], vino ? vino : FS_UNKNOWN_INO, S_IFDIR,
				   (off_t)(3 + i)))
			break;
	}
	pthread_mutex_unlock(&h->lock);
	return err;
}

/*
 * Lists by-outcome/<o>/, by-day/<d>/ or a value's directory (@kind) from
 * @off: links to the records.
 */
static int fs_list_view(struct fs *fs, struct fs_dirbuf *d, fuse_ino_t ino, enum fs_kind kind,
			off_t off)
{
	struct store_filter filter = { .outcome = -1, .day = -1 };
	char value[FS_VALUE_MAX + 1];
	enum fs_kind link = KIND_VIEW_LINK;

	if (kind == KIND_VALUE_DIR && fs_values_resolve(fs->values, ino, &filter.attr, value) != 0)
		return -ENOENT;
	if (!fs_dirbuf_fixed(fs, d, ino, off, NULL, 0))
		return 0;
	if (kind == KIND_OUTCOME_DIR) {
		filter.outcome = (int)fs_ino_value(ino);
		link = KIND_OUTCOME_LINK;
	} else if (kind == KIND_DAY_DIR) {
		filter.day = (int64_t)fs_ino_value(ino);
		link = KIND_DAY_LINK;
	} else {
		filter.value = value;
	}
	return fs_dirbuf_records(fs, d, &filter, off, ".json", link, S_IFLNK);
}

/* Lists by-outcome/: one directory per outcome. */
static void fs_list_outcomes(struct fs *fs, struct fs_dirbuf *d, fuse_ino_t ino, off_t off)
{
	static const struct fs_fixed_entry outcomes[] = {
		{ "running", 0, S_IFDIR }, { "success", 0, S_IFDIR },
		{ "error", 0, S_IFDIR }, { "partial", 0, S_IFDIR },
	};
	struct fs_fixed_entry by_outcome[STORE_OUTCOMES];

	for (int i = 0; i < STORE_OUTCOMES; i++) {
		by_outcome[i] = outcomes[i];
		by_outcome[i].ino = fs_ino(KIND_OUTCOME_DIR, (uint64_t)i);
	}
	fs_dirbuf_fixed(fs, d, ino, off, by_outcome, STORE_OUTCOMES);
}

/* Lists one of the fixed directories from @off. */
static int fs_list_fixed(struct fs *fs, struct fs_dirbuf *d, fuse_ino_t ino, off_t off)
{
	switch (ino) {
	case INO_ROOT:
		if (!fs_dirbuf_fixed(fs, d, ino, off, fs_root_entries,
				     sizeof(fs_root_entries) / sizeof(fs_root_entries[0])))
			return 0;
		return fs_dirbuf_records(fs, d, NULL, off, ".json", KIND_RECORD, S_IFREG);
	case INO_STATUS:
	case INO_OUTPUT:
		if (!fs_dirbuf_fixed(fs, d, ino, off, NULL, 0))
			return 0;
		return fs_dirbuf_records(fs, d, NULL, off, "",
					 ino == INO_STATUS ? KIND_STATUS_FILE : KIND_OUTPUT_FILE,
					 S_IFREG);
	case INO_NEW:
		fs_dirbuf_fixed(fs, d, ino, off, NULL, 0);
		return 0;
	case INO_BY_OUTCOME:
		fs_list_outcomes(fs, d, ino, off);
		return 0;
	case INO_BY_DAY:
		if (!fs_dirbuf_fixed(fs, d, ino, off, NULL, 0))
			return 0;
		return store_list_days(fs->store, off > FS_DIR_BASE ? off - FS_DIR_BASE - 1 : -1,
				       fs_dirbuf_add_day, d);
	default:
		return -ENOTDIR;
	}
}

static void fs_list(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi, bool plus)
{
	struct fs *fs = fuse_req_userdata(req);
	struct fs_dirbuf d = { .req = req, .size = size, .fs = fs, .plus = plus };
	enum fs_kind kind = fs_ino_kind(ino);
	int err;

	d.buf = malloc(size);
	if (d.buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off == 0)
		fs_wait_closing_starts(fs);
	if (kind == KIND_OUTCOME_DIR || kind == KIND_DAY_DIR || kind == KIND_VALUE_DIR)
		err = fs_list_view(fs, &d, ino, kind, off);
	else if (fs_view_attr(ino) != STORE_ATTR_NONE)
		err = fs_list_values(fs, &d, ino, off, (struct fs_dir_values *)(uintptr_t)fi->fh);
	else
		err = fs_list_fixed(fs, &d, ino, off);
	/* A listing that filled part of the buffer answers with that part. */
	if (err && d.used == 0)
		fs_refuse(req, err, "listing of inode %llu", (unsigned long long)ino);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

void fs_dir_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	fs_list(req, ino, size, off, fi, false);
}

/* ls -l: the records come with their attributes, which spares a lookup each. */
void fs_dir_read_plus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	fs_list(req, ino, size, off, fi, true);
}

