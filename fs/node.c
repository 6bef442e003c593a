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
#include <time.h>

#include "fs.h"
#include "record.h"

/* How long the kernel may trust what a record node says (other writers' changes show within it). */
#define FS_RECORD_TIMEOUT 1.0

/* How long a lookup waits for a start that a release is about to commit. */
#define FS_PENDING_WAIT_MS 2000

static const char *const fs_fixed_names[INO_FIXED_END] = {
	[INO_NEW] = "new",
	[INO_STATUS] = "status",
	[INO_BY_OUTCOME] = "by-outcome",
	[INO_BY_DAY] = "by-day",
	[INO_LATEST] = "latest",
	[INO_INDEX_HTML] = "index.html",
	[INO_METRICS] = "metrics.prom",
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
	time_t t = (time_t)(day * 86400);
	struct tm tm;

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
	if (t < 0)
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

	n->ino = fs_ino(kind, (uint64_t)r->id);
	switch (kind) {
	case KIND_RECORD:
		/* The record changes at start and finish; a heartbeat does not change it. */
		fs_fill_common(fs, n, S_IFREG | 0444,
			       fs_ms_to_timespec(r->finished_at != STORE_NULL ? r->heartbeat_ms
									 : r->started_ms));
		text = record_to_json(r, &len);
		free(text);
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
	case KIND_OUTCOME_LINK:
	case KIND_DAY_LINK:
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
 * open that follows serves again (report_cache.c keeps it while the store
 * looks the same, for up to a second), so cp and rsync see all of it; the
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

static int64_t fs_day_of(int64_t t)
{
	return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

/* True if some execution started on @day. */
static int fs_first_of_day(void *ctx, const struct store_record *rec)
{
	(void)rec;
	*(bool *)ctx = true;
	return 1;
}

static int fs_day_exists(struct fs *fs, int64_t day)
{
	struct store_filter f = { .outcome = -1, .day = day };
	bool found = false;
	int err = store_list(fs->store, &f, 0, fs_first_of_day, &found);

	if (err)
		return err;
	return found ? 0 : -ENOENT;
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
			err = store_latest(fs->store, &n->rec);
			if (err == 0)
				fs_fill_latest(fs, n);
			return err;
		}
		if (i == INO_INDEX_HTML || i == INO_METRICS)
			return fs_fill_report(fs, (fuse_ino_t)i, n);
		fs_fill_dir(fs, n, (fuse_ino_t)i, i == INO_NEW || i == INO_STATUS ? 0755 : 0555);
		return 0;
	}
	if (!fs_json_name(name, id, sizeof(id)))
		return -ENOENT;
	err = fs_get_execution(fs, id, &n->rec);
	if (err == 0)
		fs_node_fill(fs, KIND_RECORD, n);
	return err;
}

int fs_node_lookup(struct fs *fs, fuse_ino_t parent, const char *name, struct fs_node *n)
{
	char id[RECORD_NAME_MAX + 1];
	int64_t day;
	int err = -ENOENT, outcome;

	memset(n, 0, sizeof(*n));
	switch (fs_ino_kind(parent)) {
	case KIND_FIXED:
		break;
	case KIND_OUTCOME_DIR:
		if (!fs_json_name(name, id, sizeof(id)))
			return -ENOENT;
		err = fs_get_execution(fs, id, &n->rec);
		if (err == 0 && store_outcome_from_name(n->rec.outcome) != (int)fs_ino_value(parent))
			err = -ENOENT;
		if (err == 0)
			fs_node_fill(fs, KIND_OUTCOME_LINK, n);
		return err;
	case KIND_DAY_DIR:
		if (!fs_json_name(name, id, sizeof(id)))
			return -ENOENT;
		err = fs_get_execution(fs, id, &n->rec);
		if (err == 0 && fs_day_of(n->rec.started_at) != (int64_t)fs_ino_value(parent))
			err = -ENOENT;
		if (err == 0)
			fs_node_fill(fs, KIND_DAY_LINK, n);
		return err;
	default:
		return -ENOTDIR;
	}
	switch (parent) {
	case INO_ROOT:
		return fs_lookup_root(fs, name, n);
	case INO_NEW:
		/* new/ always looks empty, also while a start is being written. */
		return -ENOENT;
	case INO_STATUS:
		err = fs_get_execution(fs, name, &n->rec);
		if (err == 0)
			fs_node_fill(fs, KIND_STATUS_FILE, n);
		return err;
	case INO_BY_OUTCOME:
		outcome = store_outcome_from_name(name);
		if (outcome < 0)
			return -ENOENT;
		fs_fill_dir(fs, n, fs_ino(KIND_OUTCOME_DIR, (uint64_t)outcome), 0555);
		return 0;
	case INO_BY_DAY:
		day = fs_day_parse(name);
		if (day < 0)
			return -ENOENT;
		err = fs_day_exists(fs, day);
		if (err == 0) {
			fs_fill_dir(fs, n, fs_ino(KIND_DAY_DIR, (uint64_t)day), 0555);
			n->timeout = 0; /* the day's last execution may be deleted */
		}
		return err;
	case INO_LATEST:
		return -ENOTDIR;
	default:
		return -ENOENT;
	}
}

int fs_node_get(struct fs *fs, fuse_ino_t ino, struct fs_node *n)
{
	enum fs_kind kind = fs_ino_kind(ino);
	int64_t value = (int64_t)fs_ino_value(ino);
	int err = 0;

	memset(n, 0, sizeof(*n));
	switch (kind) {
	case KIND_FIXED:
		if (ino == INO_ROOT || ino == INO_BY_OUTCOME || ino == INO_BY_DAY) {
			fs_fill_dir(fs, n, ino, ino == INO_ROOT ? 0755 : 0555);
		} else if (ino == INO_NEW || ino == INO_STATUS) {
			fs_fill_dir(fs, n, ino, 0755);
		} else if (ino == INO_LATEST) {
			fs_wait_closing_starts(fs);
			err = store_latest(fs->store, &n->rec);
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
		err = store_get_by_id(fs->store, value, &n->rec);
		if (err == 0)
			fs_node_fill(fs, kind, n);
		return err;
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

	/* Without a name (the backend reconnected) the one-second timeouts suffice. */
	if (execution_id == NULL || strlen(execution_id) > RECORD_NAME_MAX)
		return;
	snprintf(entry, sizeof(entry), "%s.json", execution_id);
	fuse_lowlevel_notify_inval_entry(fs->se, INO_ROOT, entry, strlen(entry));
	fuse_lowlevel_notify_inval_entry(fs->se, INO_STATUS, execution_id, strlen(execution_id));
}
