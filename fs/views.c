/*
 * views.c - the views by provenance: by-host/, by-user/, by-tool/ and
 * by-tag/. A view is one entry of a table (its directory and the store's
 * attr); node.c and dir.c walk it, so the four share every line of code.
 *
 * A view's directory lists the values that executions have
 * (store_list_values); the directory of one value holds a link per
 * execution that has it, listed like by-outcome/ (dir.c) from the store's
 * index of that attr. Nothing about executions is cached here: every answer
 * is the store's at the time of the call, so starts, finishes and deletes
 * show at once, and other mounts' changes as soon as the store has them.
 *
 * A value, unlike an outcome or a day, does not fit in an inode number.
 * The directory of a value gets a number from a table kept here while the
 * kernel holds the node (counted per lookup, freed with the last forget, as
 * inodes.c does for outlying ids), which maps it back to its attr and
 * value. The table holds only the nodes the kernel holds.
 *
 * Values that cannot be a file name (empty, ".", "..", holding '/', longer
 * than 255 bytes) are skipped by the listings, and logged once each.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "fs.h"
#include "record.h"

/* The views by provenance, in enum store_attr's order. */
static const struct fs_view {
	const char *dir;
	fuse_ino_t ino;
	enum store_attr attr;
} fs_views[] = {
	{ "by-host", INO_BY_HOST, STORE_BY_HOST },
	{ "by-user", INO_BY_USER, STORE_BY_USER },
	{ "by-tool", INO_BY_TOOL, STORE_BY_TOOL },
	{ "by-tag", INO_BY_TAG, STORE_BY_TAG },
};

#define FS_VIEWS (sizeof(fs_views) / sizeof(fs_views[0]))

int fs_view_attr(fuse_ino_t ino)
{
	for (size_t i = 0; i < FS_VIEWS; i++)
		if (fs_views[i].ino == ino)
			return fs_views[i].attr;
	return STORE_ATTR_NONE;
}

static const char *fs_view_dir(int attr)
{
	for (size_t i = 0; i < FS_VIEWS; i++)
		if ((int)fs_views[i].attr == attr)
			return fs_views[i].dir;
	return "?";
}

/* --- the table of value directories --- */

#define FS_VALUES_BUCKETS 256

/* How many unusable values are remembered as logged: the log stays quiet, the memory small. */
#define FS_VALUES_LOGGED 256

struct fs_value_dir {
	struct fs_value_dir *next_by_key, *next_by_ino;
	fuse_ino_t ino;
	int attr;
	uint64_t hash;
	uint64_t nlookup;
	char value[];
};

struct fs_values {
	pthread_mutex_t lock;
	uint64_t last; /* the last number handed out */
	struct fs_value_dir *by_key[FS_VALUES_BUCKETS];
	struct fs_value_dir *by_ino[FS_VALUES_BUCKETS];
	uint64_t logged[FS_VALUES_LOGGED]; /* hashes of the unusable values logged */
	size_t nlogged, next_logged;
};

struct fs_values *fs_values_new(void)
{
	struct fs_values *t = calloc(1, sizeof(*t));

	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

void fs_values_free(struct fs_values *t)
{
	if (t == NULL)
		return;
	for (size_t b = 0; b < FS_VALUES_BUCKETS; b++) {
		while (t->by_key[b]) {
			struct fs_value_dir *d = t->by_key[b];

			t->by_key[b] = d->next_by_key;
			free(d);
		}
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* FNV-1a of the attr and the value. */
static uint64_t fs_value_hash(int attr, const char *value)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325) ^ (uint64_t)attr;

	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		h = (h ^ *p) * UINT64_C(0x100000001b3);
	return h;
}

static struct fs_value_dir *fs_values_find(struct fs_values *t, int attr, const char *value,
					   uint64_t hash)
{
	struct fs_value_dir *d = t->by_key[hash % FS_VALUES_BUCKETS];

	while (d && !(d->hash == hash && d->attr == attr && strcmp(d->value, value) == 0))
		d = d->next_by_key;
	return d;
}

static struct fs_value_dir **fs_values_slot(struct fs_values *t, fuse_ino_t ino)
{
	struct fs_value_dir **p = &t->by_ino[fs_ino_value(ino) % FS_VALUES_BUCKETS];

	while (*p && (*p)->ino != ino)
		p = &(*p)->next_by_ino;
	return p;
}

/* A new entry for @value, linked in both hashes; NULL when out of memory or numbers. */
static struct fs_value_dir *fs_values_add(struct fs_values *t, int attr, const char *value,
					  uint64_t hash)
{
	size_t len = strlen(value);
	struct fs_value_dir *d;
	size_t ib;

	if (t->last >= FS_VALUE_MASK || (d = calloc(1, sizeof(*d) + len + 1)) == NULL)
		return NULL;
	d->attr = attr;
	d->hash = hash;
	memcpy(d->value, value, len + 1);
	d->ino = fs_ino(KIND_VALUE_DIR, ++t->last);
	ib = fs_ino_value(d->ino) % FS_VALUES_BUCKETS;
	d->next_by_key = t->by_key[hash % FS_VALUES_BUCKETS];
	t->by_key[hash % FS_VALUES_BUCKETS] = d;
	d->next_by_ino = t->by_ino[ib];
	t->by_ino[ib] = d;
	return d;
}

fuse_ino_t fs_values_ref(struct fs_values *t, int attr, const char *value)
{
	uint64_t hash = fs_value_hash(attr, value);
	struct fs_value_dir *d;
	fuse_ino_t ino = 0;

	pthread_mutex_lock(&t->lock);
	d = fs_values_find(t, attr, value, hash);
	if (d == NULL)
		d = fs_values_add(t, attr, value, hash);
	if (d) {
		d->nlookup++;
		ino = d->ino;
	}
	pthread_mutex_unlock(&t->lock);
	return ino;
}

fuse_ino_t fs_values_peek(struct fs_values *t, int attr, const char *value)
{
	struct fs_value_dir *d;
	fuse_ino_t ino;

	pthread_mutex_lock(&t->lock);
	d = fs_values_find(t, attr, value, fs_value_hash(attr, value));
	ino = d ? d->ino : 0;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

int fs_values_resolve(struct fs_values *t, fuse_ino_t ino, int *attr, char value[FS_VALUE_MAX + 1])
{
	struct fs_value_dir *d;
	int err = -ENOENT;

	pthread_mutex_lock(&t->lock);
	d = *fs_values_slot(t, ino);
	if (d) {
		*attr = d->attr;
		strcpy(value, d->value); /* only usable values, of at most FS_VALUE_MAX bytes, get in */
		err = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

void fs_values_forget(struct fs_values *t, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs_value_dir **p, **k, *d;

	if (fs_ino_kind(ino) != KIND_VALUE_DIR)
		return;
	pthread_mutex_lock(&t->lock);
	p = fs_values_slot(t, ino);
	d = *p;
	if (d && nlookup < d->nlookup) {
		d->nlookup -= nlookup;
	} else if (d) {
		*p = d->next_by_ino;
		k = &t->by_key[d->hash % FS_VALUES_BUCKETS];
		while (*k != d)
			k = &(*k)->next_by_key;
		*k = d->next_by_key;
		free(d);
	}
	pthread_mutex_unlock(&t->lock);
}

/* Remembers @hash as logged; false if it was already (a full memory forgets its oldest). */
static bool fs_values_first_log(struct fs_values *t, uint64_t hash)
{
	bool first = true;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->nlogged && first; i++)
		first = t->logged[i] != hash;
	if (first) {
		t->logged[t->next_logged] = hash;
		t->next_logged = (t->next_logged + 1) % FS_VALUES_LOGGED;
		if (t->nlogged < FS_VALUES_LOGGED)
			t->nlogged++;
	}
	pthread_mutex_unlock(&t->lock);
	return first;
}

/* --- values and executions --- */

bool fs_view_value_usable(struct fs *fs, int attr, const char *value)
{
	size_t len = strlen(value);
	char shown[4 * 48 + 1];
	size_t used = 0;

	if (len > 0 && len <= FS_VALUE_MAX && strcmp(value, ".") != 0 && strcmp(value, "..") != 0 &&
	    strchr(value, '/') == NULL)
		return true;
	if (!fs_values_first_log(fs->values, fs_value_hash(attr, value)))
		return false;
	/* The value goes to the log escaped and cut short: it may hold anything. */
	for (size_t i = 0; i < len && i < 48; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
			shown[used++] = (char)c;
		else
			used += (size_t)snprintf(shown + used, sizeof(shown) - used, "\\x%02x", c);
	}
	shown[used] = '\0';
	fs_log(LOG_WARNING, "%s/ leaves out the value \"%s%s\" (%zu bytes): it cannot be a file name",
	       fs_view_dir(attr), shown, len > 48 ? "..." : "", len);
	return false;
}

/* What fs_view_exists() looks for: one execution with the value and a valid name. */
struct fs_view_probe {
	struct fs *fs;
	bool found;
};

static int fs_view_first(void *ctx, int64_t id, const char *execution_id)
{
	struct fs_view_probe *p = ctx;

	if (!fs_name_usable(p->fs, id, execution_id))
		return 0;
	p->found = true;
	return 1;
}

/*
 * 0 if an execution with a valid name has @value, else -ENOENT: a value of
 * other programs' rows with invalid names alone is no directory, as a day
 * of them alone is none. It reads the store's index of the attr.
 */
int fs_view_exists(struct fs *fs, int attr, const char *value)
{
	struct store_filter f = { .outcome = -1, .day = -1, .attr = attr, .value = value };
	struct fs_view_probe p = { .fs = fs };
	int err;

	/* A tag's directory is "<key>=<value>": a name without '=' names no tag. */
	if (attr == STORE_BY_TAG && strchr(value, '=') == NULL)
		return -ENOENT;
	err = store_list_names(fs->store, &f, INT64_MIN, fs_view_first, &p);
	if (err == 0 && !p.found) {
		/* INT64_MIN is after nothing: a row of that id is read alone. */
		struct store_record rec = { 0 };

		if (store_get_by_id(fs->store, INT64_MIN, &rec) == 0 &&
		    fs_view_record_has(&rec, attr, value))
			fs_view_first(&p, rec.id, rec.execution_id);
		store_record_clear(&rec);
	}
	if (err)
		return err;
	return p.found ? 0 : -ENOENT;
}

/* Whether @rec has the tag "<key>=<value>" of @pair (split at its first '='). */
static bool fs_view_has_tag(const struct store_record *rec, const char *pair)
{
	const char *eq = strchr(pair, '=');
	size_t keylen;

	if (eq == NULL)
		return false;
	keylen = (size_t)(eq - pair);
	for (size_t i = 0; i < rec->ntags; i++) {
		const struct store_tag *t = &rec->tags[i];

		if (t->key && t->value && strlen(t->key) == keylen &&
		    memcmp(t->key, pair, keylen) == 0 && strcmp(t->value, eq + 1) == 0)
			return true;
	}
	return false;
}

/* Whether @rec's tool (the last path component of args[0]) is @value. */
static bool fs_view_has_tool(const struct store_record *rec, const char *value)
{
	char *tool = NULL;
	bool has;

	/* A record read back may leave its tool unset: it is a function of args. */
	if (rec->tool)
		return strcmp(rec->tool, value) == 0;
	if (store_tool_of(rec->args, &tool) != 0)
		return false;
	has = tool && strcmp(tool, value) == 0;
	free(tool);
	return has;
}

bool fs_view_record_has(const struct store_record *rec, int attr, const char *value)
{
	switch (attr) {
	case STORE_BY_HOST:
		return rec->host && strcmp(rec->host, value) == 0;
	case STORE_BY_USER:
		return rec->user && strcmp(rec->user, value) == 0;
	case STORE_BY_TOOL:
		return fs_view_has_tool(rec, value);
	case STORE_BY_TAG:
		return fs_view_has_tag(rec, value);
	default:
		return false;
	}
}

/* --- the values of a view, for a listing --- */

void fs_view_list_clear(struct fs_view_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->values[i]);
	free(l->values);
	l->values = NULL;
	l->n = 0;
}

/* Keeps each usable value the store lists (store_value_fn). */
struct fs_view_collecting {
	struct fs *fs;
	int attr;
	struct fs_view_list *list;
	size_t cap;
};

static int fs_view_keep(void *ctx, const char *value)
{
	struct fs_view_collecting *c = ctx;
	struct fs_view_list *l = c->list;

	if (!fs_view_value_usable(c->fs, c->attr, value))
		return 0;
	if (l->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		char **grown = realloc(l->values, cap * sizeof(*grown));

		if (grown == NULL)
			return -ENOMEM;
		l->values = grown;
		c->cap = cap;
	}
	if ((l->values[l->n] = strdup(value)) == NULL)
		return -ENOMEM;
	l->n++;
	return 0;
}

/*
 * The values come whole from the store, then each is checked to be held by
 * an execution with a valid name: not from inside the store's listing,
 * which a backend may not let be nested.
 */
int fs_view_collect(struct fs *fs, int attr, struct fs_view_list *out)
{
	struct fs_view_collecting c = { .fs = fs, .attr = attr, .list = out };
	size_t kept = 0;
	int err;

	fs_view_list_clear(out);
	err = store_list_values(fs->store, attr, fs_view_keep, &c);
	for (size_t i = 0; i < out->n; i++) {
		char *value = out->values[i];
		int held = err ? err : fs_view_exists(fs, attr, value);

		out->values[i] = NULL;
		if (held == 0)
			out->values[kept++] = value;
		else
			free(value);
		if (held != 0 && held != -ENOENT)
			err = held;
	}
	out->n = kept;
	if (err)
		fs_view_list_clear(out);
	return err;
}
