/*
 * handles.c - open files, by number, with a count of the calls using each.
 *
 * The kernel may send a release while a read or write of the same file is
 * still being served: when the caller was interrupted, its request is
 * abandoned and the release follows at once, possibly on another thread
 * before the read's thread has even begun. So fi->fh is not a pointer but a
 * slot number with a generation: a call takes a reference that keeps the
 * file alive, and a call that arrives after the release finds nothing.
 */
#include <errno.h>
#include <stdlib.h>

#include "fs.h"

struct handle_slot {
	struct fs_file *file; /* NULL when the slot is free */
	uint32_t gen;         /* bumped each time the slot is reused */
	uint32_t refs;        /* calls using the file, plus one until release */
	uint32_t next_free;
};

struct fs_handles {
	pthread_mutex_t lock;
	struct handle_slot *slots;
	uint32_t count;
	uint32_t free_head; /* UINT32_MAX: none */
};

#define HANDLES_NONE UINT32_MAX

struct fs_handles *fs_handles_new(void)
{
	struct fs_handles *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->free_head = HANDLES_NONE;
	return t;
}

void fs_handles_free(struct fs_handles *t)
{
	if (t == NULL)
		return;
	for (uint32_t i = 0; i < t->count; i++)
		if (t->slots[i].file)
			t->slots[i].file->ops->destroy(t->slots[i].file);
	free(t->slots);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int fs_handles_add(struct fs_handles *t, struct fs_file *file, uint64_t *fh)
{
	struct handle_slot *slot;
	uint32_t i;
	int err = 0;

	pthread_mutex_lock(&t->lock);
	if (t->free_head != HANDLES_NONE) {
		i = t->free_head;
		t->free_head = t->slots[i].next_free;
	} else {
		struct handle_slot *grown;
		uint32_t cap = t->count ? t->count * 2 : 64;

		if (t->count >= HANDLES_NONE / 2) {
			err = -ENFILE;
			goto unlock;
		}
		grown = realloc(t->slots, cap * sizeof(*grown));
		if (grown == NULL) {
			err = -ENOMEM;
			goto unlock;
		}
		t->slots = grown;
		for (uint32_t j = t->count; j < cap; j++) {
			t->slots[j] = (struct handle_slot){ .next_free = j + 1 < cap ? j + 1 : HANDLES_NONE };
		}
		i = t->count;
		t->free_head = i + 1 < cap ? i + 1 : HANDLES_NONE;
		t->count = cap;
	}
	slot = &t->slots[i];
	slot->file = file;
	slot->gen++;
	slot->refs = 1;
	*fh = ((uint64_t)slot->gen << 32) | i;
unlock:
	pthread_mutex_unlock(&t->lock);
	return err;
}

/* The slot @fh names, if it still holds its file; the caller holds the lock. */
static struct handle_slot *handles_slot(struct fs_handles *t, uint64_t fh)
{
	uint32_t i = (uint32_t)fh, gen = (uint32_t)(fh >> 32);

	if (i >= t->count || t->slots[i].file == NULL || t->slots[i].gen != gen)
		return NULL;
	return &t->slots[i];
}

struct fs_file *fs_handles_get(struct fs_handles *t, uint64_t fh)
{
	struct handle_slot *slot;
	struct fs_file *file = NULL;

	pthread_mutex_lock(&t->lock);
	slot = handles_slot(t, fh);
	if (slot && slot->refs > 0) {
		slot->refs++;
		file = slot->file;
	}
	pthread_mutex_unlock(&t->lock);
	return file;
}

/* Drops one reference; the last one frees the slot and returns its file to destroy. */
static struct fs_file *handles_unref(struct fs_handles *t, uint64_t fh)
{
	struct handle_slot *slot;
	struct fs_file *dead = NULL;

	pthread_mutex_lock(&t->lock);
	slot = handles_slot(t, fh);
	if (slot && slot->refs > 0 && --slot->refs == 0) {
		dead = slot->file;
		slot->file = NULL;
		slot->next_free = t->free_head;
		t->free_head = (uint32_t)fh;
	}
	pthread_mutex_unlock(&t->lock);
	return dead;
}

void fs_handles_put(struct fs_handles *t, uint64_t fh)
{
	struct fs_file *dead = handles_unref(t, fh);

	if (dead)
		dead->ops->destroy(dead);
}

struct fs_file *fs_handles_release(struct fs_handles *t, uint64_t fh)
{
	struct fs_file *file = fs_handles_get(t, fh);

	if (file == NULL)
		return NULL;
	/* Drop the reference open gave; the caller's own is dropped by fs_handles_put. */
	handles_unref(t, fh);
	return file;
}
