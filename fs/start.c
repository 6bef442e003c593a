/*
 * start.c - a start session (see start.h): claim, reserve, feed, budget,
 * commit, and the rules of a close; and the provenance the daemon adds to
 * the record (who started it, from where). No FUSE here: the new/ file kind
 * (files.c) calls it, and tests/unit/test_start.c drives it against a store.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "pending.h"
#include "start.h"

enum fs_start_state {
	START_BLANK,   /* nothing but white space yet: a close starts with defaults */
	START_PARTIAL, /* a valid beginning of a document */
	START_DONE,    /* the document was complete and the start committed */
	START_FAILED,  /* refused: nothing was (or will be) started by this file */
};

struct fs_start {
	struct fs_start_env env;
	pthread_mutex_t lock;
	enum fs_start_state state;
	int failed_err;          /* START_FAILED: the errno of the refusal, repeated to later writes */
	bool claimed;            /* holds the name in the pending table */
	struct record_scan *scan;
	char *buf;               /* the document so far, until it is started */
	size_t len, cap;
	uint64_t written;        /* bytes accepted, for the offset check */
	int64_t flushed_ms;      /* the last close of the file (0: none yet), Unix ms */
	/* Who started it (struct fs_start_who, copied): what the record's provenance says. */
	char *host, *user;
	int64_t uid, pid;
	char name[RECORD_NAME_MAX + 1];
};

/*
 * Gives back a start's hold on @name: its reservation in the store (across
 * mounts), then its claim here. In that order: while the claim stands, no
 * start of this mount can take the name, so none can take a reservation
 * this one is about to drop (one mount's reservations do not exclude each
 * other). A committed start gives it back only once the commit returned.
 */
static void fs_start_unclaim_name(const struct fs_start_env *env, const char *name)
{
	store_unreserve(env->store, name);
	fs_pending_drop(env->pending, name);
}

/* Gives back the session's name, unless the store has it already (or it was given back). */
static void fs_start_unclaim(struct fs_start *s)
{
	if (s->claimed) {
		fs_start_unclaim_name(&s->env, s->name);
		s->claimed = false;
	}
}

/*
 * Claim first (against this mount's starts), then reserve the name in the
 * store (against other mounts'), then ask the store: a start that commits
 * before the reservation is then seen by the store, and one still in
 * progress, here or elsewhere, holds the claim or the reservation until it
 * has committed or given up.
 */
static int fs_start_claim(const struct fs_start_env *env, const char *name)
{
	struct store_record rec = { 0 };
	int err = fs_pending_claim(env->pending, name);

	if (err)
		return fs_because(err, err == -EEXIST ? "execution %s is being started" :
				  "too many starts in progress (starting %s)", name);
	err = store_reserve(env->store, name);
	if (err) {
		fs_pending_drop(env->pending, name);
		return err;
	}
	err = store_get(env->store, name, &rec);
	store_record_clear(&rec);
	if (err == 0)
		err = fs_because(-EEXIST, "execution %s exists", name);
	/*
	 * A full or unwritable store is refused here, at the open: an empty
	 * start is committed by the release, which cannot report an error.
	 */
	if (err == -ENOENT)
		err = store_check_room(env->store);
	if (err)
		fs_start_unclaim_name(env, name);
	return err;
}

/* Copies @who into @s; false when out of memory. */
static bool fs_start_set_who(struct fs_start *s, const struct fs_start_who *who)
{
	s->uid = s->pid = STORE_NULL;
	if (who == NULL)
		return true;
	s->uid = who->uid;
	s->pid = who->pid;
	s->host = who->host ? strdup(who->host) : NULL;
	s->user = who->user ? strdup(who->user) : NULL;
	return (s->host != NULL || who->host == NULL) && (s->user != NULL || who->user == NULL);
}

/* Frees a session that never held its name (fs_start_open's failure). */
static void fs_start_discard(struct fs_start *s)
{
	if (s == NULL)
		return;
	record_scan_free(s->scan);
	free(s->host);
	free(s->user);
	free(s);
}

int fs_start_open(const struct fs_start_env *env, const char *name,
		  const struct fs_start_who *who, struct fs_start **out)
{
	struct fs_start *s;
	int err;

	*out = NULL;
	err = record_name_check(name);
	if (err == 0)
		err = fs_start_claim(env, name);
	if (err)
		return err;
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->scan = record_scan_new()) == NULL || !fs_start_set_who(s, who)) {
		fs_start_discard(s);
		fs_start_unclaim_name(env, name);
		return fs_because(-ENOMEM, "out of memory");
	}
	s->env = *env;
	s->claimed = true;
	pthread_mutex_init(&s->lock, NULL);
	strcpy(s->name, name);
	*out = s;
	return 0;
}

const char *fs_start_name(const struct fs_start *s)
{
	return s->name;
}

/* --- the user of a uid, remembered --- */

/*
 * How many uids are remembered: the users that start on one mount are few,
 * and a forgotten one is only asked for again. Their names are kept as the
 * password database gave them; a user renamed meanwhile keeps the old name
 * until the mount restarts.
 */
#define FS_USERS_MAX 64

static struct {
	uid_t uid;
	char name[FS_USER_NAME_MAX + 1];
} fs_users[FS_USERS_MAX];
static size_t fs_users_n, fs_users_next;
static pthread_mutex_t fs_users_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Asks the password database; false when it could not answer (and @buf is
 * the uid in decimal, as it is for a uid that has no name).
 */
static bool fs_user_lookup(uid_t uid, char buf[FS_USER_NAME_MAX + 1])
{
	struct passwd pw, *found = NULL;
	size_t size = 4096;
	char *mem = NULL;
	int err = ERANGE;

	while (err == ERANGE && size <= (size_t)1 << 20) {
		char *grown = realloc(mem, size);

		if (grown == NULL)
			break;
		mem = grown;
		err = getpwuid_r(uid, &pw, mem, size, &found);
		size *= 2;
	}
	if (err == 0 && found && found->pw_name[0] != '\0' &&
	    strlen(found->pw_name) <= FS_USER_NAME_MAX)
		strcpy(buf, found->pw_name);
	else
		snprintf(buf, FS_USER_NAME_MAX + 1, "%ju", (uintmax_t)uid);
	free(mem);
	/* A name and "no such user" are answers to remember; a failing database is asked again. */
	return err == 0;
}

void fs_start_user_name(uid_t uid, char buf[FS_USER_NAME_MAX + 1])
{
	bool known = false;

	pthread_mutex_lock(&fs_users_lock);
	for (size_t i = 0; i < fs_users_n && !known; i++) {
		if (fs_users[i].uid == uid) {
			strcpy(buf, fs_users[i].name);
			known = true;
		}
	}
	pthread_mutex_unlock(&fs_users_lock);
	if (known)
		return;
	/* Asked outside the lock: the database may be remote (NSS), and slow. */
	if (!fs_user_lookup(uid, buf))
		return;
	pthread_mutex_lock(&fs_users_lock);
	fs_users[fs_users_next].uid = uid;
	strcpy(fs_users[fs_users_next].name, buf);
	fs_users_next = (fs_users_next + 1) % FS_USERS_MAX;
	if (fs_users_n < FS_USERS_MAX)
		fs_users_n++;
	pthread_mutex_unlock(&fs_users_lock);
}

/* --- the budget of all documents being written --- */

static size_t fs_start_budget = (size_t)256 << 20;
static size_t fs_start_buffered;

void fs_start_set_budget(size_t bytes)
{
	fs_start_budget = bytes;
}

/*
 * Takes @bytes of the budget if they fit. Checked before it is added (a
 * compare and swap): adding first and taking back would, for a moment,
 * count what a refused writer never got, and refuse others that fit.
 */
static bool fs_budget_take(size_t bytes)
{
	size_t now = __atomic_load_n(&fs_start_buffered, __ATOMIC_RELAXED);

	do {
		if (now > fs_start_budget || bytes > fs_start_budget - now)
			return false;
	} while (!__atomic_compare_exchange_n(&fs_start_buffered, &now, now + bytes, true,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return true;
}

static void fs_budget_give(size_t bytes)
{
	__atomic_sub_fetch(&fs_start_buffered, bytes, __ATOMIC_RELAXED);
}

/* Frees the document buffer of @s and gives its memory back to the budget. */
static void fs_start_drop_buffer(struct fs_start *s)
{
	fs_budget_give(s->cap);
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

static int fs_start_append(struct fs_start *s, const char *buf, size_t size)
{
	if (s->len + size > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *grown;

		while (cap < s->len + size)
			cap *= 2;
		if (!fs_budget_take(cap - s->cap))
			return fs_because(-ENOSPC, "%zu MiB of start documents are being written at once; "
					  "try again when some are done", fs_start_budget >> 20);
		grown = realloc(s->buf, cap);
		if (grown == NULL) {
			fs_budget_give(cap - s->cap);
			return fs_because(-ENOMEM, "out of memory");
		}
		s->buf = grown;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, buf, size);
	s->len += size;
	return 0;
}

/* --- committing --- */

/*
 * Whether a start refused with @err may be taken when tried again: the store
 * was busy (another program's write lock), away (a server restarting) or
 * full for a moment. Anything else is a refusal for good.
 */
static bool fs_store_transient(int err)
{
	return err == -EBUSY || err == -EAGAIN || err == -EINTR || err == -ETIMEDOUT ||
	       err == -ENOTCONN || err == -EIO || err == -ENOSPC;
}

/* How often a start that waits for the store says so, and how long an unmount waits for it. */
#define FS_UNWAITED_LOG_MS 5000
#define FS_UNWAITED_EXIT_MS 60000

/* One try of an unwaited start; a lost answer (-EIO) then EEXIST is this start. */
static int fs_start_try(struct store *store, struct store_record *rec, bool uncertain)
{
	struct store_record found = { 0 };
	int err = store_start(store, rec);

	if (err == -EEXIST && uncertain && store_get(store, rec->execution_id, &found) == 0) {
		rec->id = found.id;
		err = 0;
	}
	store_record_clear(&found);
	return err;
}

/*
 * Commits a start that no caller waits for: an empty file's, at its
 * release, after the close that acknowledged it has returned. It is never
 * dropped because the store is busy or away: it is tried again, with a
 * pause that grows to a second and a log line every 5 s, until the store
 * takes it or refuses it for good. Only an unmount that has waited a
 * minute for it gives up (and says so). An attempt whose answer was lost
 * (-EIO) may have committed: a later EEXIST then is this start, since the
 * name is reserved for it.
 */
static int fs_start_unwaited(const struct fs_start_env *env, struct store_record *rec)
{
	int64_t first = store_now_ms(), logged = first, exiting = 0, now;
	useconds_t pause_us = 10000;
	bool uncertain = false;
	int err;

	for (;;) {
		err = fs_start_try(env->store, rec, uncertain);
		if (!fs_store_transient(err))
			return err;
		uncertain |= err == -EIO;
		now = store_now_ms();
		if (now - logged >= FS_UNWAITED_LOG_MS) {
			fs_log(LOG_WARNING, "start of new/%s is waiting for the store for %llds (%s: %s)",
			       rec->execution_id, (long long)(now - first) / 1000, strerror(-err),
			       fs_reason());
			logged = now;
		}
		if (exiting == 0 && env->exiting && env->exiting(env->ctx))
			exiting = now;
		if (exiting && now - exiting > FS_UNWAITED_EXIT_MS) {
			fs_log(LOG_ERR, "unmounting: gave up the start of new/%s after %llds: %s",
			       rec->execution_id, (long long)(now - first) / 1000, strerror(-err));
			return err;
		}
		usleep(pause_us);
		pause_us = pause_us < 500000 ? pause_us * 2 : 1000000;
	}
}

/*
 * Sets who started it, from the session: the document's fields (cwd,
 * tags) stay as the scan captured them. A document cannot claim these:
 * the scan refuses their keys.
 */
static int fs_start_provenance(const struct fs_start *s, struct store_record *rec)
{
	free(rec->host);
	free(rec->user);
	rec->host = s->host ? strdup(s->host) : NULL;
	rec->user = s->user ? strdup(s->user) : NULL;
	rec->uid = s->uid;
	rec->pid = s->pid;
	if ((s->host && rec->host == NULL) || (s->user && rec->user == NULL))
		return fs_because(-ENOMEM, "out of memory");
	return 0;
}

/*
 * Commits the start that @s's document describes; the caller holds
 * s->lock. A write waits for it (@waited) and hears its refusal; a
 * release cannot, and keeps trying instead (fs_start_unwaited).
 */
static int fs_start_commit(struct fs_start *s, bool waited)
{
	struct store_record rec = { 0 };
	int err;

	/* Nulls where nothing is said: a zeroed record would say exit code 0. */
	store_record_clear(&rec);
	/* What the scan captured as the writes came: the document is not read again. */
	err = record_scan_values(s->scan, &rec);
	if (err == 0)
		err = fs_start_provenance(s, &rec);
	if (err == 0) {
		rec.execution_id = strdup(s->name);
		/*
		 * A start committed at release began at the close before it,
		 * which returned first: its time is that close's, not later.
		 */
		rec.started_ms = s->state == START_BLANK && s->flushed_ms ? s->flushed_ms
									  : store_now_ms();
		if (rec.execution_id == NULL)
			err = -ENOMEM;
		else
			err = waited ? store_start(s->env.store, &rec) : fs_start_unwaited(&s->env, &rec);
	}
	if (err == 0)
		fs_log(LOG_INFO, "started %s (id %lld)", s->name, (long long)rec.id);
	store_record_clear(&rec);
	s->state = err ? START_FAILED : START_DONE;
	s->failed_err = err;
	fs_start_drop_buffer(s);
	/* The name is the store's now (or free again): later starts get EEXIST from it. */
	fs_start_unclaim(s);
	return err;
}

/* --- writes and closes --- */

/* Marks the session refused for good with @err (which it returns). */
static int fs_start_fail(struct fs_start *s, int err)
{
	s->state = START_FAILED;
	s->failed_err = err;
	fs_start_unclaim(s);
	fs_start_drop_buffer(s);
	return err;
}

/* One write, the caller holding s->lock: check it, keep it, commit when complete. */
static int fs_start_feed(struct fs_start *s, const char *buf, size_t size, uint64_t off)
{
	int scan, err;

	if (s->claimed)
		fs_pending_closing(s->env.pending, s->name, false);
	/*
	 * The kernel splits a large write(2) into pieces: the caller learns of a
	 * refused piece only from its next write, which must say the same.
	 */
	if (s->state == START_FAILED)
		return fs_because(s->failed_err, "an earlier write to this start was refused (%s)",
				  strerror(-s->failed_err));
	if (off != s->written)
		return fs_because(-EINVAL, "a start document is written in order (offset %llu, expected %llu)",
				  (unsigned long long)off, (unsigned long long)s->written);
	scan = record_scan_feed(s->scan, buf, size);
	if (scan < 0) {
		/* After a start, only white space may follow, and the start stands. */
		return s->state == START_DONE ? scan : fs_start_fail(s, scan);
	}
	s->written += size;
	if (s->state == START_DONE)
		return 0;
	err = fs_start_append(s, buf, size);
	if (err)
		return fs_start_fail(s, err);
	if (scan == RECORD_SCAN_DONE)
		return fs_start_commit(s, true);
	s->state = record_scan_blank(s->scan) ? START_BLANK : START_PARTIAL;
	return 0;
}

int fs_start_write(struct fs_start *s, const char *buf, size_t size, uint64_t off)
{
	int err;

	pthread_mutex_lock(&s->lock);
	err = fs_start_feed(s, buf, size, off);
	pthread_mutex_unlock(&s->lock);
	return err;
}

/*
 * A close. The start is not committed here: a shell closes a dup of the
 * file before it writes. Lookups of the name now wait for the release.
 * A document still incomplete fails this close (cp, dd, tee and Python
 * report it), yet stays open for more: a close of one dup is not the
 * last, and the release alone decides that nothing started.
 */
int fs_start_flush(struct fs_start *s)
{
	int err = 0;

	pthread_mutex_lock(&s->lock);
	s->flushed_ms = store_now_ms();
	if (s->claimed)
		fs_pending_closing(s->env.pending, s->name, true);
	if (s->state == START_PARTIAL)
		err = fs_because(-EINVAL, "closed with an incomplete document (%llu bytes); "
				 "nothing started unless more follows",
				 (unsigned long long)s->written);
	pthread_mutex_unlock(&s->lock);
	return err;
}

void fs_start_release(struct fs_start *s)
{
	int err;

	pthread_mutex_lock(&s->lock);
	if (s->state == START_BLANK) {
		err = fs_start_commit(s, false);
		if (err)
			fs_log(LOG_NOTICE, "refused start of new/%s at close: %s: %s", s->name,
			       strerror(-err), fs_reason());
	} else if (s->state == START_PARTIAL) {
		fs_log(LOG_NOTICE, "refused start of new/%s: closed with an incomplete document "
		       "(%llu bytes); nothing started", s->name, (unsigned long long)s->written);
	}
	fs_start_unclaim(s);
	pthread_mutex_unlock(&s->lock);
}

void fs_start_free(struct fs_start *s)
{
	if (s == NULL)
		return;
	fs_start_unclaim(s);
	fs_start_drop_buffer(s);
	pthread_mutex_destroy(&s->lock);
	fs_start_discard(s);
}
