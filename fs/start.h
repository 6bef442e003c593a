/*
 * start.h - a start session: the life of one new/<id> from create to
 * release, without FUSE (start.c). It claims the name (against this mount's
 * starts) and reserves it in the store (against other mounts'), takes the
 * document write by write within a memory budget shared by all sessions,
 * commits the start at the write that completes it (or, for an empty file,
 * at the release), and applies the close rules. Every refusal is 0 or
 * -errno with fs_reason() set.
 */
#ifndef EXECLOG_FS_START_H
#define EXECLOG_FS_START_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "store.h"

struct fs_pending;
struct fs_start;

/* What a session works with: the mount's store and claims. */
struct fs_start_env {
	struct store *store;
	struct fs_pending *pending;
	/* Whether the mount is going away (NULL: never), for a commit no one waits for. */
	bool (*exiting)(void *ctx);
	void *ctx;
};

/*
 * Begins the start of @name: checks it, claims it, reserves it, and
 * refuses it (-EEXIST) if the store has it, or if the store has no room.
 * On success the session holds the name until it commits or gives up.
 */
int fs_start_open(const struct fs_start_env *env, const char *name, struct fs_start **out);

/*
 * One write(2) of @size bytes at @off: taken whole or refused. The write
 * that completes the document commits the start (and hears its refusal);
 * after it, white space is taken, anything else is -EINVAL (the start stands).
 */
int fs_start_write(struct fs_start *s, const char *buf, size_t size, uint64_t off);

/*
 * A close (of one descriptor of it: more may follow). -EINVAL while the
 * document is incomplete; nothing is committed here.
 */
int fs_start_flush(struct fs_start *s);

/*
 * The last close: an empty document starts with defaults (tried until the
 * store takes it or refuses it for good); an incomplete one starts nothing.
 * Gives the name back either way.
 */
void fs_start_release(struct fs_start *s);

/* Frees the session, giving the name back if it still holds it. */
void fs_start_free(struct fs_start *s);

/* The name being started. */
const char *fs_start_name(const struct fs_start *s);

/*
 * Start documents being written are buffered until complete: all sessions
 * together get this many bytes (256 MiB unless set; tests set less), and a
 * write past it is -ENOSPC.
 */
void fs_start_set_budget(size_t bytes);

#endif
