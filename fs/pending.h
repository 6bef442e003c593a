/*
 * pending.h - the names being started in new/ right now (pending.c), without
 * FUSE: the start session (start.c) claims and drops them.
 */
#ifndef EXECLOG_FS_PENDING_H
#define EXECLOG_FS_PENDING_H

#include <stdbool.h>

struct fs_pending;

struct fs_pending *fs_pending_new(void);
void fs_pending_free(struct fs_pending *p);

/* Claims @name for a start; -EEXIST if another start holds it, -EMFILE past the limit. */
int fs_pending_claim(struct fs_pending *p, const char *name);

/* Marks the claim as closing (flushed: release may follow) or open again. */
void fs_pending_closing(struct fs_pending *p, const char *name, bool closing);

/* Drops the claim and wakes those waiting for it. */
void fs_pending_drop(struct fs_pending *p, const char *name);

/*
 * Waits while @name is claimed and closing: its start may be committed by
 * a release that FUSE has not delivered yet. A claim flushed more than
 * @window_ms ago is held open by someone (a dup) and is not waited for.
 */
void fs_pending_wait(struct fs_pending *p, const char *name, int window_ms);

/* The same for every claim: waits for the releases of files just closed. */
void fs_pending_settle(struct fs_pending *p, int window_ms);

/* Waits (up to @timeout_ms) until no claim is closing; false on timeout. */
bool fs_pending_drain(struct fs_pending *p, int timeout_ms);

#endif
