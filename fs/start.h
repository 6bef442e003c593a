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
#include <sys/types.h>

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
 * Who starts it: the provenance the daemon sets in the record, never the
 * writer (the FUSE request of the create says who; the mount, where).
 */
struct fs_start_who {
	const char *host; /* the mount's host name; NULL: unknown (null) */
	const char *user; /* the creating process's user name (fs_start_user_name); NULL: null */
	int64_t uid;      /* its uid; STORE_NULL: null */
	int64_t pid;      /* its process id; STORE_NULL: null */
};

/*
 * Begins the start of @name by @who (copied; NULL: no provenance, all
 * null): checks it, claims it, reserves it, and refuses it (-EEXIST) if
 * the store has it, or if the store has no room. On success the session
 * holds the name until it commits or gives up.
 */
int fs_start_open(const struct fs_start_env *env, const char *name,
		  const struct fs_start_who *who, struct fs_start **out);

/* The longest user name fs_start_user_name() gives (a longer one is given as the uid). */
#define FS_USER_NAME_MAX 255

/*
 * The name of user @uid into @buf, as the record's user: from the password
 * database (getpwuid_r), or the uid in decimal when it has no name.
 * Remembered, so that a burst of starts asks the database once.
 */
void fs_start_user_name(uid_t uid, char buf[FS_USER_NAME_MAX + 1]);

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
