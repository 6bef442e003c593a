/*
 * bench-floor.c - the floor of scripts/bench: a FUSE filesystem with
 * execlogfs's interface (for what the bench drives) and its cache policy,
 * but no store: records live in memory. What execlogfs costs beyond it is
 * the store's cost and execlogfs's own code, not FUSE's; no FUSE design can
 * go below it on the same machine.
 *
 *   bench-floor [-o fill=N] [FUSE options] MOUNTPOINT
 *
 * The tree: <id>.json, one per record, read-only; new/<id>, whose create,
 * write of a start document and close start a record (an empty file starts
 * one at its release, as in execlogfs); status/<id>, which reads the outcome
 * and whose write of success, error or partial finishes the record.
 * -o fill=N starts with N records r0000000, r0000001, ... (the bench's
 * names), finished long ago, as a store filled beforehand would be.
 *
 * The cache policy is execlogfs's (fs/ops.c and fs/node.c), so that the
 * kernel sends the same requests to both: entry and attribute timeouts of
 * 1 s for records and directories, 0 for status files and for files being
 * written in new/; readdirplus gives the records' attributes (status/ lists
 * names alone); a record finished more than 2 s ago opens with keep_cache
 * and noflush, anything else with direct_io; status files with noflush; a
 * finish invalidates its record's inode; O_TRUNC comes with open and there
 * is no write-back cache. Each open takes a snapshot of the text, as
 * execlogfs does, and a lookup of a name whose start is still being
 * committed waits for it.
 *
 * Left out: checking names and documents (a write whose last byte that is
 * not white space is '}' completes a document, and every record shows the
 * bench's start document), finish documents other than the three words,
 * heartbeats beyond status's mtime, the views, latest, index.html,
 * metrics.prom, output/, deleting, logging, permissions, durability and
 * freeing what an unmount leaves. It is a yardstick, built for the
 * benchmark only and never installed.
 */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The inodes: fixed ones, then two per record, then the files being written in new/. */
#define INO_NEW 2
#define INO_STATUS 3
#define INO_RECORDS 16                 /* record id: 16 + 2 id; its status: 17 + 2 id */
#define INO_NEWFILES (UINT64_C(1) << 48)
#define DIR_BASE 16                    /* directory offsets: 16 + id for records */
#define NAME_MAX_LEN 128
#define RECORD_TIMEOUT 1.0             /* execlogfs's FS_RECORD_TIMEOUT */
#define SETTLED_MS 2000                /* execlogfs's FS_SETTLED_MS */
#define PENDING_WAIT_MS 2000           /* execlogfs's FS_PENDING_WAIT_MS */

struct record {
	char name[NAME_MAX_LEN + 1];
	const char *outcome;
	int64_t started_ms, changed_ms;
	bool finished;
	char *json;
	size_t len;
};

/* The log: records by id (from 1), a name index, and the names being started. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t started;      /* a pending name went away */
	struct record **recs;        /* recs[id - 1] */
	size_t n, cap;
	uint32_t *slots;             /* open addressing: id, or 0 for empty */
	size_t nslots;
	struct pending { struct pending *next; char name[NAME_MAX_LEN + 1]; } *pending;
} db = { .lock = PTHREAD_MUTEX_INITIALIZER, .started = PTHREAD_COND_INITIALIZER };

static struct fuse_session *se;
static struct timespec mounted;
static uid_t owner_uid;               /* the mounting user's, asked once, as execlogfs does */
static gid_t owner_gid;
static uint64_t newfile_counter;

enum handle_kind { H_SNAPSHOT, H_STATUS, H_NEW };

struct handle {
	int refs;                 /* the open file's, and a read's while it replies */
	enum handle_kind kind;
	int64_t id;               /* H_SNAPSHOT, H_STATUS */
	char *data;               /* the snapshot, or the document so far */
	size_t len, cap;
	bool started;             /* H_NEW: the record exists */
	char name[NAME_MAX_LEN + 1];
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static struct timespec ms_time(int64_t ms)
{
	return (struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
}

static struct handle *handle_new(enum handle_kind kind)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (h) {
		h->refs = 1;
		h->kind = kind;
	}
	return h;
}

/*
 * A release may come while a read still replies from the handle (the
 * kernel ends the read, and may send the release, before the reply's
 * writev returns): the last of the two frees it.
 */
static void handle_put(struct handle *h)
{
	if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(h->data);
		free(h);
	}
}

/* --- the log (callers hold db.lock) --- */

static size_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return (size_t)h;
}

/* The slot that holds @name, or the empty one where it would go. */
static size_t slot_of(const char *name)
{
	size_t i = name_hash(name) & (db.nslots - 1);

	while (db.slots[i] && strcmp(db.recs[db.slots[i] - 1]->name, name) != 0)
		i = (i + 1) & (db.nslots - 1);
	return i;
}

static int64_t find_id(const char *name)
{
	return db.nslots ? db.slots[slot_of(name)] : 0;
}

static void render(struct record *r, int64_t id)
{
	char finished[32] = "null", duration[32] = "null";

	if (r->finished) {
		snprintf(finished, sizeof(finished), "%lld", (long long)(r->changed_ms / 1000));
		snprintf(duration, sizeof(duration), "%lld", (long long)(r->changed_ms - r->started_ms));
	}
	free(r->json);
	r->len = 0;
	if (asprintf(&r->json,
		     "{\n  \"id\": %lld,\n  \"execution_id\": \"%s\",\n  \"tool_version\": \"1.2\",\n"
		     "  \"args\": [\"make\", \"-j4\"],\n  \"root\": \"/src/app\",\n  \"db_path\": \"\",\n"
		     "  \"started_at\": %lld,\n  \"finished_at\": %s,\n  \"duration_ms\": %s,\n"
		     "  \"outcome\": \"%s\",\n  \"error_message\": null,\n  \"files_indexed\": 0,\n"
		     "  \"symbols_indexed\": 0,\n  \"references_indexed\": 0\n}\n",
		     (long long)id, r->name, (long long)(r->started_ms / 1000), finished, duration,
		     r->outcome) < 0)
		r->json = NULL;
	else
		r->len = strlen(r->json);
}

/* Adds a record; 0 or -errno. */
static int add_record(const char *name, int64_t started_ms, int64_t finished_ms)
{
	struct record *r;

	if (db.n + 1 > db.nslots / 2) {
		size_t old = db.nslots;
		uint32_t *old_slots = db.slots;

		db.nslots = old ? old * 2 : 1024;
		db.slots = calloc(db.nslots, sizeof(*db.slots));
		if (db.slots == NULL)
			abort();
		for (size_t k = 0; k < old; k++)
			if (old_slots[k])
				db.slots[slot_of(db.recs[old_slots[k] - 1]->name)] = old_slots[k];
		free(old_slots);
	}
	if (db.n == db.cap) {
		db.cap = db.cap ? db.cap * 2 : 1024;
		db.recs = realloc(db.recs, db.cap * sizeof(*db.recs));
		if (db.recs == NULL)
			abort();
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->started_ms = started_ms;
	r->changed_ms = finished_ms ? finished_ms : started_ms;
	r->finished = finished_ms != 0;
	r->outcome = r->finished ? "success" : "running";
	db.recs[db.n++] = r;
	render(r, (int64_t)db.n);
	db.slots[slot_of(name)] = (uint32_t)db.n;
	return 0;
}

static struct record *record_by_id(int64_t id)
{
	return id >= 1 && (size_t)id <= db.n ? db.recs[id - 1] : NULL;
}

static struct pending **pending_of(const char *name)
{
	struct pending **p = &db.pending;

	while (*p && strcmp((*p)->name, name) != 0)
		p = &(*p)->next;
	return p;
}

static void pending_drop(const char *name)
{
	struct pending **p = pending_of(name), *gone = *p;

	if (gone) {
		*p = gone->next;
		free(gone);
		pthread_cond_broadcast(&db.started);
	}
}

/* Waits (a while) for a start of @name that a release is about to commit. */
static void pending_wait(const char *name)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += PENDING_WAIT_MS / 1000;
	while (*pending_of(name) && pthread_cond_timedwait(&db.started, &db.lock, &until) == 0)
		;
}

/* --- attributes --- */

static void fill_common(struct stat *st, fuse_ino_t ino, mode_t mode, struct timespec t)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = owner_uid;
	st->st_gid = owner_gid;
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = t;
}

/* The attributes of @ino and their timeout; 0 or -ENOENT. Holds db.lock for records. */
static int node_attr(fuse_ino_t ino, struct stat *st, double *timeout)
{
	struct record *r;
	int64_t id = ino >= INO_RECORDS ? (int64_t)(ino - INO_RECORDS) / 2 : 0;
	int err = 0;

	*timeout = RECORD_TIMEOUT;
	if (ino == FUSE_ROOT_ID || ino == INO_NEW || ino == INO_STATUS) {
		fill_common(st, ino, S_IFDIR | 0755, mounted);
		return 0;
	}
	if (ino >= INO_NEWFILES) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		fill_common(st, ino, S_IFREG | 0644, t);
		*timeout = 0;
		return 0;
	}
	pthread_mutex_lock(&db.lock);
	r = record_by_id(id);
	if (r == NULL) {
		err = -ENOENT;
	} else if ((ino - INO_RECORDS) % 2 == 0) {
		fill_common(st, ino, S_IFREG | 0444, ms_time(r->changed_ms));
		st->st_size = (off_t)r->len;
	} else {
		fill_common(st, ino, S_IFREG | 0644, ms_time(r->changed_ms));
		st->st_size = (off_t)strlen(r->outcome) + 1;
		*timeout = 0; /* heartbeats and finishes change it */
	}
	pthread_mutex_unlock(&db.lock);
	st->st_blocks = (st->st_size + 511) / 512;
	return err;
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_entry_param e = { .ino = ino };
	double timeout;
	int err = node_attr(ino, &e.attr, &timeout);

	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	e.attr_timeout = e.entry_timeout = timeout;
	fuse_reply_entry(req, &e);
}

/* --- the callbacks --- */

static void fl_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static void fl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char id_name[NAME_MAX_LEN + 1];
	size_t len = strlen(name);
	int64_t id = 0;

	if (parent == FUSE_ROOT_ID && strcmp(name, "new") == 0) {
		reply_entry(req, INO_NEW);
		return;
	}
	if (parent == FUSE_ROOT_ID && strcmp(name, "status") == 0) {
		reply_entry(req, INO_STATUS);
		return;
	}
	if (parent == FUSE_ROOT_ID && len > 5 && len - 5 <= NAME_MAX_LEN &&
	    strcmp(name + len - 5, ".json") == 0)
		snprintf(id_name, sizeof(id_name), "%.*s", (int)(len - 5), name);
	else if (parent == INO_STATUS && len <= NAME_MAX_LEN)
		snprintf(id_name, sizeof(id_name), "%s", name);
	else {
		fuse_reply_err(req, ENOENT); /* new/ always looks empty */
		return;
	}
	pthread_mutex_lock(&db.lock);
	id = find_id(id_name);
	if (id == 0 && *pending_of(id_name)) {
		pending_wait(id_name);
		id = find_id(id_name);
	}
	pthread_mutex_unlock(&db.lock);
	if (id == 0)
		fuse_reply_err(req, ENOENT);
	else
		reply_entry(req, (fuse_ino_t)(INO_RECORDS + 2 * id + (parent == INO_STATUS)));
}

static void fl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	double timeout;
	int err = node_attr(ino, &st, &timeout);

	(void)fi;
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, timeout);
}

/* touch's futimens on a file in new/, heartbeats on status files; records are fixed. */
static void fl_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct stat st;
	double timeout;
	int err = 0;

	(void)attr;
	(void)fi;
	if (ino >= INO_RECORDS && ino < INO_NEWFILES && (ino - INO_RECORDS) % 2 == 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (ino >= INO_RECORDS && ino < INO_NEWFILES &&
	    (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))) {
		pthread_mutex_lock(&db.lock);
		struct record *r = record_by_id((int64_t)(ino - INO_RECORDS) / 2);

		if (r && !r->finished)
			r->changed_ms = now_ms();
		pthread_mutex_unlock(&db.lock);
	}
	err = node_attr(ino, &st, &timeout);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, timeout);
}

static void fl_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct stat st;
	double timeout;
	int err = node_attr(ino, &st, &timeout);

	if (err == 0 && (mask & W_OK) && !(st.st_mode & S_IWUSR))
		err = -EACCES;
	fuse_reply_err(req, -err);
}

struct dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size, used;
	bool plus;
};

/* Adds one entry (with attributes when @attr_timeout >= 0 in a readdirplus); false when full. */
static bool dir_add(struct dirbuf *d, const char *name, const struct stat *st, off_t next,
		    double attr_timeout)
{
	struct fuse_entry_param e = { .attr = *st };
	size_t need;

	if (attr_timeout >= 0) {
		e.ino = st->st_ino;
		e.attr_timeout = e.entry_timeout = attr_timeout;
	}
	if (d->plus)
		need = fuse_add_direntry_plus(d->req, d->buf + d->used, d->size - d->used, name, &e, next);
	else
		need = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used, name, st, next);
	if (need > d->size - d->used)
		return false;
	d->used += need;
	return true;
}

/* The records from offset @off: with attributes in root's readdirplus, names elsewhere. */
static void dir_records(struct dirbuf *d, fuse_ino_t dir, off_t off)
{
	int64_t id = off > DIR_BASE ? off - DIR_BASE + 1 : 1;
	char name[NAME_MAX_LEN + 8];
	struct record *r;
	struct stat st;

	pthread_mutex_lock(&db.lock);
	for (; (r = record_by_id(id)) != NULL; id++) {
		bool root = dir == FUSE_ROOT_ID;

		snprintf(name, sizeof(name), "%s%s", r->name, root ? ".json" : "");
		fill_common(&st, INO_RECORDS + 2 * id + !root, S_IFREG, ms_time(r->changed_ms));
		if (root && d->plus) {
			st.st_mode |= 0444;
			st.st_size = (off_t)r->len;
			st.st_blocks = (st.st_size + 511) / 512;
		}
		if (!dir_add(d, name, &st, DIR_BASE + id, root && d->plus ? RECORD_TIMEOUT : -1))
			break;
	}
	pthread_mutex_unlock(&db.lock);
}

static void fl_list(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	static const struct { const char *name; fuse_ino_t ino; } fixed[] = {
		{ ".", 0 }, { "..", FUSE_ROOT_ID }, { "new", INO_NEW }, { "status", INO_STATUS },
	};
	struct dirbuf d = { .req = req, .size = size, .plus = plus, .buf = malloc(size) };
	size_t nfixed = ino == FUSE_ROOT_ID ? 4 : 2;
	struct stat st;

	if (d.buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < nfixed; i++) {
		fill_common(&st, fixed[i].ino ? fixed[i].ino : ino, S_IFDIR, mounted);
		if (!dir_add(&d, fixed[i].name, &st, (off_t)i + 1, -1))
			goto reply;
	}
	if (ino != INO_NEW)
		dir_records(&d, ino, off);
reply:
	fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void fl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != FUSE_ROOT_ID && ino != INO_NEW && ino != INO_STATUS)
		fuse_reply_err(req, ENOTDIR);
	else
		fuse_reply_open(req, fi);
}

static void fl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	fl_list(req, ino, size, off, false);
}

static void fl_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	fl_list(req, ino, size, off, true);
}

static void fl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
	bool is_record = (ino - INO_RECORDS) % 2 == 0;
	int64_t id = (int64_t)(ino - INO_RECORDS) / 2;
	struct handle *h = NULL;
	struct record *r;

	if (ino < INO_RECORDS || ino >= INO_NEWFILES || (is_record && writing)) {
		fuse_reply_err(req, ino < INO_RECORDS ? EISDIR : EACCES);
		return;
	}
	pthread_mutex_lock(&db.lock);
	r = record_by_id(id);
	if (r && (h = handle_new(writing ? H_STATUS : H_SNAPSHOT)) != NULL) {
		h->id = id;
		h->len = is_record ? r->len : strlen(r->outcome) + 1;
		h->data = malloc(h->len + 1);
		if (h->data)
			snprintf(h->data, h->len + 1, "%s%s", is_record ? r->json : r->outcome,
				 is_record ? "" : "\n");
		if (!is_record)
			fi->noflush = 1;
		if (is_record && r->finished && now_ms() - r->changed_ms > SETTLED_MS) {
			fi->keep_cache = 1;
			fi->noflush = 1;
		} else {
			fi->direct_io = 1;
		}
	}
	pthread_mutex_unlock(&db.lock);
	if (h == NULL || h->data == NULL) {
		if (h)
			handle_put(h);
		fuse_reply_err(req, r ? ENOMEM : ENOENT);
		return;
	}
	fi->fh = (uintptr_t)h;
	fuse_reply_open(req, fi);
}

static void fl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)ino;
	__atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
	if (h->kind == H_NEW || off < 0 || (size_t)off >= h->len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, h->data + off, size < h->len - (size_t)off ? size : h->len - (size_t)off);
	handle_put(h);
}

static void fl_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fuse_entry_param e = { 0 };
	struct pending *p = NULL;
	struct handle *h;
	double timeout;
	int err = 0;

	(void)mode;
	if (parent != INO_NEW || strlen(name) > NAME_MAX_LEN) {
		fuse_reply_err(req, parent != INO_NEW ? EACCES : EINVAL);
		return;
	}
	h = handle_new(H_NEW);
	p = calloc(1, sizeof(*p));
	pthread_mutex_lock(&db.lock);
	if (h == NULL || p == NULL)
		err = -ENOMEM;
	else if (find_id(name) || *pending_of(name))
		err = -EEXIST;
	if (err == 0) {
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->next = db.pending;
		db.pending = p;
	}
	pthread_mutex_unlock(&db.lock);
	if (err) {
		if (h)
			handle_put(h);
		free(p);
		fuse_reply_err(req, -err);
		return;
	}
	snprintf(h->name, sizeof(h->name), "%s", name);
	e.ino = INO_NEWFILES + __atomic_add_fetch(&newfile_counter, 1, __ATOMIC_RELAXED);
	node_attr(e.ino, &e.attr, &timeout); /* zero timeouts: new/ keeps looking empty */
	fi->direct_io = 1;
	fi->fh = (uintptr_t)h;
	fuse_reply_create(req, &e, fi);
}

/* Starts the record of @h; the name stops being pending. */
static int start_record(struct handle *h)
{
	int err;

	pthread_mutex_lock(&db.lock);
	err = add_record(h->name, now_ms(), 0);
	pending_drop(h->name);
	pthread_mutex_unlock(&db.lock);
	h->started = err == 0;
	return err;
}

static int new_write(struct handle *h, const char *buf, size_t size)
{
	size_t end;

	if (h->started)
		return 0;
	if (h->len + size > h->cap) {
		size_t cap = h->cap ? h->cap : 4096;
		char *grown;

		while (cap < h->len + size)
			cap *= 2;
		grown = realloc(h->data, cap);
		if (grown == NULL)
			return -ENOMEM;
		h->data = grown;
		h->cap = cap;
	}
	memcpy(h->data + h->len, buf, size);
	h->len += size;
	for (end = h->len; end > 0 && strchr(" \t\r\n", h->data[end - 1]); end--)
		;
	return end > 0 && h->data[end - 1] == '}' ? start_record(h) : 0;
}

static int finish_write(struct handle *h, const char *buf, size_t size)
{
	static const char *const words[] = { "success", "error", "partial" };
	const char *outcome = NULL;
	struct record *r;
	int err = 0;

	while (size > 0 && strchr(" \t\r\n", buf[size - 1]))
		size--;
	for (size_t i = 0; i < 3; i++)
		if (strlen(words[i]) == size && memcmp(buf, words[i], size) == 0)
			outcome = words[i];
	if (outcome == NULL)
		return -EINVAL;
	pthread_mutex_lock(&db.lock);
	r = record_by_id(h->id);
	if (r == NULL || r->finished) {
		err = -EPERM;
	} else {
		r->finished = true;
		r->outcome = outcome;
		r->changed_ms = now_ms();
		render(r, h->id);
	}
	pthread_mutex_unlock(&db.lock);
	/* The record's size and times changed: the kernel must ask again, as after execlogfs's finish. */
	if (err == 0)
		fuse_lowlevel_notify_inval_inode(se, (fuse_ino_t)(INO_RECORDS + 2 * h->id), -1, 0);
	return err;
}

static void fl_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	int err = -EBADF;

	(void)ino;
	(void)off;
	if (h->kind == H_NEW)
		err = new_write(h, buf, size);
	else if (h->kind == H_STATUS)
		err = finish_write(h, buf, size);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_write(req, size);
}

static void fl_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

/* An empty file starts at its release; an incomplete one starts nothing. */
static void fl_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	size_t i;

	(void)ino;
	if (h->kind == H_NEW && !h->started) {
		for (i = 0; i < h->len && strchr(" \t\r\n", h->data[i]); i++)
			;
		if (i == h->len) {
			start_record(h);
		} else {
			pthread_mutex_lock(&db.lock);
			pending_drop(h->name);
			pthread_mutex_unlock(&db.lock);
		}
	}
	handle_put(h);
	fuse_reply_err(req, 0);
}

static void fl_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void fl_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv = { .f_bsize = 4096, .f_frsize = 4096, .f_namemax = 255 };

	(void)ino;
	fuse_reply_statfs(req, &sv);
}

static void fl_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	(void)ino;
	(void)name;
	(void)size;
	fuse_reply_err(req, ENOTSUP);
}

static void fl_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static const struct fuse_lowlevel_ops floor_ops = {
	.init = fl_init,
	.lookup = fl_lookup,
	.getattr = fl_getattr,
	.setattr = fl_setattr,
	.access = fl_access,
	.create = fl_create,
	.open = fl_open,
	.read = fl_read,
	.write = fl_write,
	.flush = fl_flush,
	.release = fl_release,
	.fsync = fl_fsync,
	.opendir = fl_opendir,
	.readdir = fl_readdir,
	.readdirplus = fl_readdirplus,
	.statfs = fl_statfs,
	.getxattr = fl_getxattr,
	.listxattr = fl_listxattr,
};

/* N records r0000000.., one a second, finished a second after each start, all long ago. */
static void fill(unsigned n)
{
	int64_t t0 = now_ms() - ((int64_t)n + 10) * 1000;
	char name[32];

	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "r%07u", i);
		if (add_record(name, t0 + (int64_t)i * 1000, t0 + (int64_t)i * 1000 + 1000) != 0)
			abort();
	}
}

struct floor_opts {
	unsigned fill;
};

static const struct fuse_opt floor_opt_spec[] = {
	{ "fill=%u", offsetof(struct floor_opts, fill), 0 },
	FUSE_OPT_END
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cl = { 0 };
	struct floor_opts o = { 0 };
	struct fuse_loop_config *config;
	int ret = 1;

	if (fuse_opt_parse(&args, &o, floor_opt_spec, NULL) != 0 ||
	    fuse_parse_cmdline(&args, &cl) != 0 || cl.mountpoint == NULL) {
		fprintf(stderr, "usage: bench-floor [-o fill=N] [FUSE options] MOUNTPOINT\n");
		return 2;
	}
	owner_uid = getuid();
	owner_gid = getgid();
	fill(o.fill);
	clock_gettime(CLOCK_REALTIME, &mounted);
	fuse_opt_add_arg(&args, "-ofsname=bench-floor,subtype=bench-floor");
	se = fuse_session_new(&args, &floor_ops, sizeof(floor_ops), NULL);
	if (se == NULL)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto destroy;
	if (fuse_session_mount(se, cl.mountpoint) != 0)
		goto signals;
	if (fuse_daemonize(cl.foreground) != 0)
		goto unmount;
	/* The loop execlogfs runs: multithreaded unless -s, with libfuse's defaults. */
	if (cl.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		config = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(config, cl.clone_fd);
		if (cl.max_threads > 0 && cl.max_threads <= 100000)
			fuse_loop_cfg_set_max_threads(config, cl.max_threads);
		if (cl.max_idle_threads <= 100000)
			fuse_loop_cfg_set_idle_threads(config, cl.max_idle_threads);
		ret = fuse_session_loop_mt(se, config);
		fuse_loop_cfg_destroy(config);
	}
unmount:
	fuse_session_unmount(se);
signals:
	fuse_remove_signal_handlers(se);
destroy:
	fuse_session_destroy(se);
out:
	free(cl.mountpoint);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
