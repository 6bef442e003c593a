/*
 * inodes.c - inode numbers for the store ids that have no direct one.
 *
 * An id in [0, FS_ID_DIRECT_END) is its own inode number (fs.h); any other
 * id, which only a row of another program's can have, gets a number of kind
 * KIND_TABLE from this table while the kernel knows the node: allocated at
 * the first lookup, counted at each (a lookup reply, a readdirplus entry),
 * and dropped when the kernel's forgets have taken back every count, as
 * libfuse's example/passthrough_ll.c keeps its inodes. The numbers come
 * from a counter and are never given twice.
 *
 * The table is two small chained hashes, by (kind, id) and by number, under
 * one lock. It is empty unless such ids exist, and then holds only the
 * nodes the kernel holds.
 */
#include <errno.h>
#include <stdlib.h>

#include "fs.h"

#define FS_INODES_BUCKETS 256

struct fs_inode {
	struct fs_inode *next_by_key, *next_by_ino;
	fuse_ino_t ino;
	enum fs_kind kind;
	int64_t id;
	uint64_t nlookup;
};

struct fs_inodes {
	pthread_mutex_t lock;
	uint64_t last;  /* the last table number handed out */
	struct fs_inode *by_key[FS_INODES_BUCKETS];
	struct fs_inode *by_ino[FS_INODES_BUCKETS];
};

struct fs_inodes *fs_inodes_new(void)
{
	struct fs_inodes *t = calloc(1, sizeof(*t));

	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

void fs_inodes_free(struct fs_inodes *t)
{
	if (t == NULL)
		return;
	for (size_t b = 0; b < FS_INODES_BUCKETS; b++) {
		while (t->by_key[b]) {
			struct fs_inode *n = t->by_key[b];

			t->by_key[b] = n->next_by_key;
			free(n);
		}
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static size_t fs_inodes_key_bucket(enum fs_kind kind, int64_t id)
{
	uint64_t h = ((uint64_t)id ^ ((uint64_t)kind << 59)) * UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)(h >> 56) % FS_INODES_BUCKETS;
}

static size_t fs_inodes_ino_bucket(fuse_ino_t ino)
{
	return (size_t)(fs_ino_value(ino) % FS_INODES_BUCKETS);
}

static struct fs_inode *fs_inodes_find(struct fs_inodes *t, enum fs_kind kind, int64_t id)
{
	struct fs_inode *n = t->by_key[fs_inodes_key_bucket(kind, id)];

	while (n && !(n->kind == kind && n->id == id))
		n = n->next_by_key;
	return n;
}

static struct fs_inode **fs_inodes_slot(struct fs_inodes *t, fuse_ino_t ino)
{
	struct fs_inode **p = &t->by_ino[fs_inodes_ino_bucket(ino)];

	while (*p && (*p)->ino != ino)
		p = &(*p)->next_by_ino;
	return p;
}

fuse_ino_t fs_inodes_ref(struct fs_inodes *t, enum fs_kind kind, int64_t id)
{
	struct fs_inode *n;
	fuse_ino_t ino = 0;

	if (fs_id_direct(id))
		return fs_ino(kind, (uint64_t)id);
	pthread_mutex_lock(&t->lock);
	n = fs_inodes_find(t, kind, id);
	if (n == NULL && t->last < FS_VALUE_MASK && (n = calloc(1, sizeof(*n))) != NULL) {
		size_t kb = fs_inodes_key_bucket(kind, id);
		size_t ib;

		n->kind = kind;
		n->id = id;
		n->ino = fs_ino(KIND_TABLE, ++t->last);
		ib = fs_inodes_ino_bucket(n->ino);
		n->next_by_key = t->by_key[kb];
		t->by_key[kb] = n;
		n->next_by_ino = t->by_ino[ib];
		t->by_ino[ib] = n;
	}
	if (n) {
		n->nlookup++;
		ino = n->ino;
	}
	pthread_mutex_unlock(&t->lock);
	return ino;
}

fuse_ino_t fs_inodes_peek(struct fs_inodes *t, enum fs_kind kind, int64_t id)
{
	struct fs_inode *n;
	fuse_ino_t ino;

	if (fs_id_direct(id))
		return fs_ino(kind, (uint64_t)id);
	pthread_mutex_lock(&t->lock);
	n = fs_inodes_find(t, kind, id);
	ino = n ? n->ino : 0;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

int fs_inodes_resolve(struct fs_inodes *t, fuse_ino_t ino, enum fs_kind *kind, int64_t *id)
{
	struct fs_inode *n;
	int err = -ENOENT;

	pthread_mutex_lock(&t->lock);
	n = *fs_inodes_slot(t, ino);
	if (n) {
		*kind = n->kind;
		*id = n->id;
		err = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

void fs_inodes_forget(struct fs_inodes *t, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs_inode **p, **k, *n;

	if (fs_ino_kind(ino) != KIND_TABLE)
		return;
	pthread_mutex_lock(&t->lock);
	p = fs_inodes_slot(t, ino);
	n = *p;
	if (n && nlookup < n->nlookup) {
		n->nlookup -= nlookup;
	} else if (n) {
		*p = n->next_by_ino;
		k = &t->by_key[fs_inodes_key_bucket(n->kind, n->id)];
		while (*k != n)
			k = &(*k)->next_by_key;
		*k = n->next_by_key;
		free(n);
	}
	pthread_mutex_unlock(&t->lock);
}
