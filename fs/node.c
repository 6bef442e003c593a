/*
 * node.c - from paths and inode numbers to nodes and their attributes.
 *
 * Nothing is cached here: a record's attributes are computed from the store
 * each time (its size is the length of its rendered JSON), and the kernel's
 * caches are bounded by the timeouts each node carries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "fs.h"
#include "record.h"

/* How long the kernel may trust what a record node says (other writers' changes show within it). */
#define FS_RECORD_TIMEOUT 1.0

/* How long a lookup waits for a start that a release is about to commit. */
#define FS_PENDING_WAIT_MS 2000

/*
 * How many of the newest executions latest looks through for one with a
 * valid name, when the newest has none (rows of another program's): a
 * bound, so that a stat of latest never walks the whole log.
 */
#define FS_LATEST_SCAN 1000

/* How many ids of invalid names are remembered as logged: the log stays quiet, the memory small. */
#define FS_BADNAMES_MAX 256

struct fs_badnames {
	pthread_mutex_t lock;
	size_t n, next;
	int64_t ids[FS_BADNAMES_MAX];
};

static const char *const fs_fixed_names[INO_FIXED_END] = {
	[INO_NEW] = "new",
	[INO_STATUS] = "status",
	[INO_BY_OUTCOME] = "by-outcome",
	[INO_BY_DAY] = "by-day",
	[INO_OUTPUT] = "output",
	[INO_LATEST] = "latest",
	[INO_INDEX_HTML] = "index.html",
	[INO_METRICS] = "metrics.prom",
	[INO_BY_HOST] = "by-host",
	[INO_BY_USER] = "by-user",
	[INO_BY_TOOL] = "by-tool",
	[INO_BY_TAG] = "by-tag",
};

void fs_node_clear(struct fs_node *n)
{
	store_record_clear(&n->rec);
	memset(n, 0, sizeof(*n));
}

static struct timespec fs_ms_to_timespec(int64_t ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	if (t.tv_nsec < 0) {
		t.tv_sec--;
		t.tv_nsec += 1000000000;
	}
	return t;
}

static void fs_fill_common(struct fs *fs, struct fs_node *n, mode_t mode, struct timespec t)
{
	n->st.st_ino = n->ino;
	n->st.st_mode = mode;
	n->st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	n->st.st_uid = fs->uid;
	n->st.st_gid = fs->gid;
	n->st.st_blksize = 4096;
	n->st.st_atim = n->st.st_mtim = n->st.st_ctim = t;
}

static void fs_fill_dir(struct fs *fs, struct fs_node *n, fuse_ino_t ino, mode_t perm)
{
	n->ino = ino;
	fs_fill_common(fs, n, S_IFDIR | perm, fs->mounted);
	n->timeout = FS_RECORD_TIMEOUT;
}

void fs_day_name(int64_t day, char buf[16])
{
	time_t t;
	struct tm tm;

	/* The store lists nameable days only; a stray one gets a name that names nothing. */
	if (day < 0 || day >= STORE_DAY_END) {
		snprintf(buf, 16, "invalid");
		return;
	}
	t = (time_t)(day * 86400);
	gmtime_r(&t, &tm);
	strftime(buf, 16, "%Y-%m-%d", &tm);
}

int64_t fs_day_parse(const char *name)
{
	char back[16];
	struct tm tm = { 0 };
	const char *end;
	time_t t;

	if (strlen(name) != 10)
		return -1;
	end = strptime(name, "%Y-%m-%d", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	t = timegm(&tm);
	if (t < 0 || t / 86400 >= STORE_DAY_END)
		return -1;
	/* Only the canonical spelling names a day: 2026-1-05 or 2026-02-30 do not. */
	fs_day_name(t / 86400, back);
	return strcmp(back, name) == 0 ? t / 86400 : -1;
}

char *fs_status_text(const struct store_record *rec, size_t *len)
{
	char *text;

	if (asprintf(&text, "%s\n", rec->outcome ? rec->outcome : "") < 0)
		return NULL;
	*len = strlen(text);
	return text;
}

void fs_node_fill(struct fs *fs, enum fs_kind kind, struct fs_node *n)
{
	const struct store_record *r = &n->rec;
	char *text;
	size_t len = 0;

	n->ino = fs_inodes_peek(fs->inodes, kind, r->id);
	n->kind = kind;
	switch (kind) {
	case KIND_RECORD:
		/* The record changes at start and finish; a heartbeat does not change it. */
		fs_fill_common(fs, n, S_IFREG | 0444,
			       fs_ms_to_timespec(r->finished_at != STORE_NULL ? r->heartbeat_ms
									 : r->started_ms));
		/* Measured, not rendered: stats of a listing pay no copy of the text. */
		if (record_json_size(r, &len) != 0)
			len = 0;
		n->st.st_size = (off_t)len;
		n->timeout = FS_RECORD_TIMEOUT;
		break;
	case KIND_STATUS_FILE:
		fs_fill_common(fs, n, S_IFREG | 0644, fs_ms_to_timespec(r->heartbeat_ms));
		text = fs_status_text(r, &len);
		free(text);
		n->st.st_size = (off_t)len;
		n->timeout = 0; /* heartbeats and finishes change it; always ask */
		break;
	case KIND_OUTPUT_FILE:
		/*
		 * Its size is the output so far: tail -f polls it (FUSE has no
		 * inotify) and reads when it grows, so the kernel must always ask.
		 */
		fs_fill_common(fs, n, S_IFREG | 0644, fs_ms_to_timespec(r->heartbeat_ms));
		n->st.st_size = r->output_bytes > 0 ? (off_t)r->output_bytes : 0;
		n->timeout = 0;
		break;
	case KIND_OUTCOME_LINK:
	case KIND_DAY_LINK:
	case KIND_VIEW_LINK:
		fs_fill_common(fs, n, S_IFLNK | 0777, fs_ms_to_timespec(r->started_ms));
		n->st.st_size = (off_t)(strlen("../../.json") + strlen(r->execution_id));
		n->timeout = 0; /* a finish moves it between outcomes */
		break;
	default:
		break;
	}
	n->st.st_blocks = (n->st.st_size + 511) / 512;
}

static void fs_fill_latest(struct fs *fs, struct fs_node *n)
{
	n->ino = INO_LATEST;
	fs_fill_common(fs, n, S_IFLNK | 0777, fs_ms_to_timespec(n->rec.started_ms));
	n->st.st_size = (off_t)(strlen(n->rec.execution_id) + strlen(".json"));
	n->timeout = 0;
}

int fs_report_text(struct fs *fs, fuse_ino_t ino, char **text, size_t *len, int64_t *changed_ms)
{
	return report_get(fs->reports, fs->store, ino == INO_INDEX_HTML ? REPORT_HTML : REPORT_METRICS,
			  text, len, changed_ms);
}

/*
 * index.html and metrics.prom: the size is that of a rendering, which the
 * open that follows serves again (report_cache.c keeps it while
 * store_version() stays), so cp and rsync see all of it; the
 * times are when its bytes last changed, so tar sees no change while the
 * log has none. The kernel must ask each time: the next rendering may differ.
 */
static int fs_fill_report(struct fs *fs, fuse_ino_t ino, struct fs_node *n)
{
	int64_t changed_ms;
	char *text;
	size_t len;
	int err;

	fs_wait_closing_starts(fs);
	err = fs_report_text(fs, ino, &text, &len, &changed_ms);
	if (err)
		return err;
	free(text);
	n->ino = ino;
	fs_fill_common(fs, n, S_IFREG | 0444, fs_ms_to_timespec(changed_ms));
	n->st.st_size = (off_t)len;
	n->st.st_blocks = (n->st.st_size + 511) / 512;
	n->timeout = 0;
	return 0;
}

void fs_wait_closing_starts(struct fs *fs)
{
	if (fs->multithreaded)
		fs_pending_settle(fs->pending, FS_PENDING_WAIT_MS);
}

/* Reads execution @name; if a release is about to commit its start, waits for it. */
static int fs_get_execution(struct fs *fs, const char *name, struct store_record *rec)
{
	int err;

	if (record_name_check(name) != 0)
		return -ENOENT;
	err = store_get(fs->store, name, rec);
	if (err == -ENOENT && fs->multithreaded) {
		fs_pending_wait(fs->pending, name, FS_PENDING_WAIT_MS);
		err = store_get(fs->store, name, rec);
	}
	return err;
}

/* "<name>.json" → name in @buf; false for any other shape. */
static bool fs_json_name(const char *entry, char *buf, size_t size)
{
	size_t len = strlen(entry);

	if (len <= 5 || len - 5 >= size || strcmp(entry + len - 5, ".json") != 0)
		return false;
	memcpy(buf, entry, len - 5);
	buf[len - 5] = '\0';
	return true;
}

/* What fs_day_exists() looks for: one execution of the day with a valid name. */
struct fs_day_probe {
	struct fs *fs;
	bool found;
};

static int fs_first_of_day(void *ctx, int64_t id, const char *execution_id)
{
	struct fs_day_probe *p = ctx;

	if (!fs_name_usable(p->fs, id, execution_id))
		return 0;
	p->found = true;
	return 1;
}

/*
 * 0 if some execution with a valid name started on @day, else -ENOENT:
 * a day of other programs' rows with invalid names alone is no day. The
 * names come from the store's index, whatever the records hold.
 */
int fs_day_exists(struct fs *fs, int64_t day)
{
	struct store_filter f = { .outcome = -1, .day = day };
	struct fs_day_probe p = { .fs = fs };
	int err;

	if (day < 0 || day >= STORE_DAY_END)
		return -ENOENT;
	err = store_list_names(fs->store, &f, INT64_MIN, fs_first_of_day, &p);
	if (err)
		return err;
	return p.found ? 0 : -ENOENT;
}

static int fs_lookup_root(struct fs *fs, const char *name, struct fs_node *n)
{
	char id[RECORD_NAME_MAX + 1];
	int err;

	for (int i = INO_NEW; i < INO_FIXED_END; i++) {
		if (strcmp(name, fs_fixed_names[i]) != 0)
			continue;
		if (i == INO_LATEST) {
			fs_wait_closing_starts(fs);
			err = fs_latest(fs, &n->rec);
			if (err == 0)
				fs_fill_latest(fs, n);
			return err;
		}
		if (i == INO_INDEX_HTML || i == INO_METRICS)
			return fs_fill_report(fs, (fuse_ino_t)i, n);
		fs_fill_dir(fs, n, (fuse_ino_t)i,
			    i == INO_NEW || i == INO_STATUS || i == INO_OUTPUT ? 0755 : 0555);
		return 0;
	}
	if (!fs_json_name(name, id, sizeof(id)))
		return -ENOENT;
	err = fs_get_execution(fs, id, &n->rec);
	if (err == 0)
		fs_node_fill(fs, KIND_RECORD, n);
	return err;
}

/*
 * 0 if view directory @parent (by-outcome/<o>, by-day/<d>, or a value's,
 * by-host/<h> and the like) holds execution @rec, else -ENOENT; sets the
 * kind of its links.
 */
static int fs_view_holds(struct fs *fs, fuse_ino_t parent, const struct store_record *rec,
			 enum fs_kind *link)
{
	char value[FS_VALUE_MAX + 1];
	bool holds;
	int attr;

	switch (fs_ino_kind(parent)) {
	case KIND_OUTCOME_DIR:
		*link = KIND_OUTCOME_LINK;
		holds = store_outcome_from_name(rec->outcome) == (int)fs_ino_value(parent);
		break;
	case KIND_DAY_DIR:
		*link = KIND_DAY_LINK;
		holds = store_day_of(rec->started_at) == (int64_t)fs_ino_value(parent);
		break;
	default:
		*link = KIND_VIEW_LINK;
		holds = fs_values_resolve(fs->values, parent, &attr, value) == 0 &&
			fs_view_record_has(rec, attr, value);
		break;
	}
	return holds ? 0 : -ENOENT;
}

/* A link <id>.json in view directory @parent. */
static int fs_lookup_view(struct fs *fs, fuse_ino_t parent, const char *name, struct fs_node *n)
{
	char id[RECORD_NAME_MAX + 1];
	enum fs_kind link;
	int err;

	if (!fs_json_name(name, id, sizeof(id)))
		return -ENOENT;
	err = fs_get_execution(fs, id, &n->rec);
	if (err == 0)
		err = fs_view_holds(fs, parent, &n->rec, &link);
	if (err == 0)
		fs_node_fill(fs, link, n);
	return err;
}

/* The directory of a value, by-host/<h> and the like; the kernel's lookup is counted. */
static int fs_lookup_value(struct fs *fs, int attr, const char *name, struct fs_node *n)
{
	fuse_ino_t ino;
	int err;

	if (!fs_view_value_usable(fs, attr, name))
		return -ENOENT;
	err = fs_view_exists(fs, attr, name);
	if (err)
		return err;
	ino = fs_values_ref(fs->values, attr, name);
	if (ino == 0)
		return -ENOMEM;
	fs_fill_dir(fs, n, ino, 0555);
	n->timeout = 0; /* the value's last execution may be deleted */
	return 0;
}

/* The node of a value's directory, while its value is held by an execution. */
static int fs_get_value_dir(struct fs *fs, fuse_ino_t ino, struct fs_node *n)
{
	char value[FS_VALUE_MAX + 1];
	int attr;
	int err = fs_values_resolve(fs->values, ino, &attr, value);

	if (err == 0)
		err = fs_view_exists(fs, attr, value);
	if (err == 0) {
		fs_fill_dir(fs, n, ino, 0555);
		n->timeout = 0;
	}
	return err;
}

/* A day directory by-day/<YYYY-MM-DD>. */
static int fs_lookup_day(struct fs *fs, const char *name, struct fs_node *n)
{
	int64_t day = fs_day_parse(name);
	int err;

	if (day < 0)
		return -ENOENT;
	err = fs_day_exists(fs, day);
	if (err == 0) {
		fs_fill_dir(fs, n, fs_ino(KIND_DAY_DIR, (uint64_t)day), 0555);
		n->timeout = 0; /* the day's last execution may be deleted */
	}
	return err;
}

static int fs_node_find(struct fs *fs, fuse_ino_t parent, const char *name, struct fs_node *n)
{
	int err, outcome;

	memset(n, 0, sizeof(*n));
	switch (fs_ino_kind(parent)) {
	case KIND_FIXED:
		break;
	case KIND_OUTCOME_DIR:
	case KIND_DAY_DIR:
	case KIND_VALUE_DIR:
		return fs_lookup_view(fs, parent, name, n);
	default:
		return -ENOTDIR;
	}
	if (fs_view_attr(parent) != STORE_ATTR_NONE)
		return fs_lookup_value(fs, fs_view_attr(parent), name, n);
	switch (parent) {
	case INO_ROOT:
		return fs_lookup_root(fs, name, n);
	case INO_NEW:
		/* new/ always looks empty, also while a start is being written. */
		return -ENOENT;
	case INO_STATUS:
	case INO_OUTPUT:
		err = fs_get_execution(fs, name, &n->rec);
		if (err == 0)
			fs_node_fill(fs, parent == INO_STATUS ? KIND_STATUS_FILE : KIND_OUTPUT_FILE, n);
		return err;
	case INO_BY_OUTCOME:
		outcome = store_outcome_from_name(name);
		if (outcome < 0)
			return -ENOENT;
		fs_fill_dir(fs, n, fs_ino(KIND_OUTCOME_DIR, (uint64_t)outcome), 0555);
		return 0;
	case INO_BY_DAY:
		return fs_lookup_day(fs, name, n);
	case INO_LATEST:
		return -ENOTDIR;
	default:
		return -ENOENT;
	}
}

/* Whether @kind is that of a node of one execution, numbered by its store id. */
static bool fs_kind_of_execution(enum fs_kind kind)
{
	return kind == KIND_RECORD || kind == KIND_STATUS_FILE || kind == KIND_OUTCOME_LINK ||
	       kind == KIND_DAY_LINK || kind == KIND_VIEW_LINK || kind == KIND_OUTPUT_FILE;
}

int fs_node_lookup(struct fs *fs, fuse_ino_t parent, const char *name, struct fs_node *n)
{
	int err = fs_node_find(fs, parent, name, n);

	/* The kernel counts this lookup: an id without a direct number takes one from the table. */
	if (err == 0 && fs_kind_of_execution(n->kind)) {
		n->ino = fs_inodes_ref(fs->inodes, n->kind, n->rec.id);
		n->st.st_ino = n->ino;
		if (n->ino == 0)
			err = -ENOMEM;
	}
	return err;
}

void fs_node_forget(struct fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	/* Each table takes back only the numbers it gave. */
	fs_inodes_forget(fs->inodes, ino, nlookup);
	fs_values_forget(fs->values, ino, nlookup);
}

enum fs_kind fs_node_kind(struct fs *fs, fuse_ino_t ino)
{
	enum fs_kind kind = fs_ino_kind(ino);
	int64_t id;

	if (kind == KIND_TABLE && fs_inodes_resolve(fs->inodes, ino, &kind, &id) != 0)
		kind = KIND_TABLE;
	return kind;
}

/* Reads the execution of node @ino (of @kind, store id @id): only one whose name is valid. */
static int fs_node_get_execution(struct fs *fs, fuse_ino_t ino, enum fs_kind kind, int64_t id,
				 struct fs_node *n)
{
	int err = store_get_by_id(fs->store, id, &n->rec);

	if (err == 0 && !fs_name_usable(fs, id, n->rec.execution_id))
		err = -ENOENT;
	if (err == 0) {
		fs_node_fill(fs, kind, n);
		n->ino = n->st.st_ino = ino;
	}
	return err;
}

int fs_node_get(struct fs *fs, fuse_ino_t ino, struct fs_node *n)
{
	enum fs_kind kind = fs_ino_kind(ino);
	int64_t value = (int64_t)fs_ino_value(ino);
	int err = 0;

	memset(n, 0, sizeof(*n));
	if (kind == KIND_TABLE && fs_inodes_resolve(fs->inodes, ino, &kind, &value) != 0)
		return -ENOENT;
	switch (kind) {
	case KIND_FIXED:
		if (ino == INO_ROOT || ino == INO_BY_OUTCOME || ino == INO_BY_DAY ||
		    fs_view_attr(ino) != STORE_ATTR_NONE) {
			fs_fill_dir(fs, n, ino, ino == INO_ROOT ? 0755 : 0555);
		} else if (ino == INO_NEW || ino == INO_STATUS || ino == INO_OUTPUT) {
			fs_fill_dir(fs, n, ino, 0755);
		} else if (ino == INO_LATEST) {
			fs_wait_closing_starts(fs);
			err = fs_latest(fs, &n->rec);
			if (err == 0)
				fs_fill_latest(fs, n);
		} else if (ino == INO_INDEX_HTML || ino == INO_METRICS) {
			err = fs_fill_report(fs, ino, n);
		} else {
			err = -ENOENT;
		}
		return err;
	case KIND_RECORD:
	case KIND_STATUS_FILE:
	case KIND_OUTCOME_LINK:
	case KIND_DAY_LINK:
	case KIND_VIEW_LINK:
	case KIND_OUTPUT_FILE:
		return fs_node_get_execution(fs, ino, kind, value, n);
	case KIND_VALUE_DIR:
		return fs_get_value_dir(fs, ino, n);
	case KIND_NEW_FILE:
		/* A file being written in new/: empty and writable, while it is open. */
		n->ino = ino;
		fs_fill_common(fs, n, S_IFREG | 0644, fs->mounted);
		clock_gettime(CLOCK_REALTIME, &n->st.st_mtim);
		n->st.st_atim = n->st.st_ctim = n->st.st_mtim;
		return 0;
	case KIND_OUTCOME_DIR:
		if (value >= STORE_OUTCOMES)
			return -ENOENT;
		fs_fill_dir(fs, n, ino, 0555);
		return 0;
	case KIND_DAY_DIR:
		err = fs_day_exists(fs, value);
		if (err == 0) {
			fs_fill_dir(fs, n, ino, 0555);
			n->timeout = 0;
		}
		return err;
	default:
		return -ENOENT;
	}
}

void fs_changed_elsewhere(void *ctx, const char *execution_id)
{
	struct fs *fs = ctx;
	char entry[RECORD_NAME_MAX + 8];

	/* Without a valid name (the backend reconnected) the one-second timeouts suffice. */
	if (execution_id == NULL || record_name_check(execution_id) != 0)
		return;
	snprintf(entry, sizeof(entry), "%s.json", execution_id);
	fuse_lowlevel_notify_inval_entry(fs->se, INO_ROOT, entry, strlen(entry));
	fuse_lowlevel_notify_inval_entry(fs->se, INO_STATUS, execution_id, strlen(execution_id));
}

struct fs_badnames *fs_badnames_new(void)
{
	struct fs_badnames *b = calloc(1, sizeof(*b));

	if (b)
		pthread_mutex_init(&b->lock, NULL);
	return b;
}

void fs_badnames_free(struct fs_badnames *b)
{
	if (b == NULL)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* Remembers @id as logged; false if it was already. */
static bool fs_badnames_first(struct fs_badnames *b, int64_t id)
{
	bool first = true;

	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < b->n && first; i++)
		first = b->ids[i] != id;
	if (first) {
		/* Full: the oldest goes, and may be logged once more. */
		b->ids[b->next] = id;
		b->next = (b->next + 1) % FS_BADNAMES_MAX;
		if (b->n < FS_BADNAMES_MAX)
			b->n++;
	}
	pthread_mutex_unlock(&b->lock);
	return first;
}

bool fs_name_usable(struct fs *fs, int64_t id, const char *execution_id)
{
	char shown[4 * 64 + 4];
	size_t used = 0;

	if (record_name_check(execution_id) == 0)
		return true;
	if (!fs_badnames_first(fs->badnames, id))
		return false;
	/* The name goes to the log escaped and cut short: it may hold anything. */
	for (size_t i = 0; execution_id && execution_id[i] && i < 64; i++) {
		unsigned char c = (unsigned char)execution_id[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
			shown[used++] = (char)c;
		else
			used += (size_t)snprintf(shown + used, sizeof(shown) - used, "\\x%02x", c);
	}
	shown[used] = '\0';
	fs_log(LOG_WARNING, "skipping execution %lld: its execution_id \"%s%s\" is not a valid name (%s)",
	       (long long)id, shown, execution_id && strlen(execution_id) > 64 ? "..." : "",
	       store_reason());
	return false;
}

/* What fs_latest() looks for down the newest ids: the first with a valid name. */
struct fs_latest_walk {
	struct fs *fs;
	int64_t id;
	bool found;
};

static int fs_latest_pick(void *ctx, const struct store_record *rec)
{
	struct fs_latest_walk *w = ctx;

	if (!fs_name_usable(w->fs, rec->id, rec->execution_id))
		return 0;
	w->id = rec->id;
	w->found = true;
	return 1;
}

int fs_latest(struct fs *fs, struct store_record *rec)
{
	struct fs_latest_walk w = { .fs = fs };
	int err = store_latest(fs->store, rec);

	if (err || fs_name_usable(fs, rec->id, rec->execution_id))
		return err;
	/* The newest row is another program's, with a name that cannot be a link's target. */
	store_record_clear(rec);
	err = store_list_recent(fs->store, FS_LATEST_SCAN, fs_latest_pick, &w);
	if (err == 0 && !w.found)
		err = -ENOENT;
	if (err == 0)
		err = store_get_by_id(fs->store, w.id, rec);
	if (err == 0 && !fs_name_usable(fs, rec->id, rec->execution_id))
		err = -ENOENT; /* renamed meanwhile: latest is absent for now */
	if (err)
		store_record_clear(rec);
	return err;
}
