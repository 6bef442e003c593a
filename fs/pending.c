/*
 * pending.c - the names being started in new/ right now.
 *
 * A start holds its name from create until release, so that a second
 * creator gets EEXIST while the first is still writing. Its start may be
 * committed by the release, which FUSE delivers after close(2) has returned:
 * a lookup that finds no execution but a closing claim waits for it, so that
 * `touch new/x && cat status/x` always works. The table is small and
 * bounded: it holds only starts in progress.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pending.h"

#define PENDING_BUCKETS 256
#define PENDING_MAX 4096 /* starts in progress at once */

struct pending_entry {
	struct pending_entry *next;
	bool closing;
	struct timespec closing_since; /* CLOCK_MONOTONIC, when it was flushed */
	char name[];
};

struct fs_pending {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	size_t count;
	size_t closing;
	struct pending_entry *bucket[PENDING_BUCKETS];
};

static unsigned pending_hash(const char *name)
{
	unsigned h = 2166136261u; /* FNV-1a */

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h % PENDING_BUCKETS;
}

/* The link that points at @name's entry (or at the NULL ending its chain). */
static struct pending_entry **pending_find(struct fs_pending *p, const char *name)
{
	struct pending_entry **e = &p->bucket[pending_hash(name)];

	while (*e && strcmp((*e)->name, name) != 0)
		e = &(*e)->next;
	return e;
}

struct fs_pending *fs_pending_new(void)
{
	struct fs_pending *p = calloc(1, sizeof(*p));
	pthread_condattr_t attr;

	if (p == NULL)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->changed, &attr);
	pthread_condattr_destroy(&attr);
	return p;
}

void fs_pending_free(struct fs_pending *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < PENDING_BUCKETS; i++)
		while (p->bucket[i]) {
			struct pending_entry *e = p->bucket[i];

			p->bucket[i] = e->next;
			free(e);
		}
	pthread_cond_destroy(&p->changed);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int fs_pending_claim(struct fs_pending *p, const char *name)
{
	struct pending_entry **link, *e;
	size_t len = strlen(name);
	int err = 0;

	pthread_mutex_lock(&p->lock);
	link = pending_find(p, name);
	if (*link) {
		err = -EEXIST;
		goto unlock;
	}
	if (p->count >= PENDING_MAX) {
		err = -EMFILE;
		goto unlock;
	}
	e = malloc(sizeof(*e) + len + 1);
	if (e == NULL) {
		err = -ENOMEM;
		goto unlock;
	}
	e->next = NULL;
	e->closing = false;
	memcpy(e->name, name, len + 1);
	*link = e;
	p->count++;
unlock:
	pthread_mutex_unlock(&p->lock);
	return err;
}

void fs_pending_closing(struct fs_pending *p, const char *name, bool closing)
{
	struct pending_entry *e;

	pthread_mutex_lock(&p->lock);
	e = *pending_find(p, name);
	if (e && e->closing != closing) {
		e->closing = closing;
		clock_gettime(CLOCK_MONOTONIC, &e->closing_since);
		if (closing)
			p->closing++;
		else
			p->closing--;
		pthread_cond_broadcast(&p->changed);
	}
	pthread_mutex_unlock(&p->lock);
}

void fs_pending_drop(struct fs_pending *p, const char *name)
{
	struct pending_entry **link, *e;

	pthread_mutex_lock(&p->lock);
	link = pending_find(p, name);
	e = *link;
	if (e) {
		*link = e->next;
		p->count--;
		if (e->closing)
			p->closing--;
		free(e);
		pthread_cond_broadcast(&p->changed);
	}
	pthread_mutex_unlock(&p->lock);
}

/* @t plus @ms milliseconds. */
static struct timespec pending_after(struct timespec t, int ms)
{
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return t;
}

static bool pending_before(struct timespec a, struct timespec b)
{
	return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/*
 * A release follows its last close within moments. A file flushed long ago
 * and still not released is held open by someone else (a dup): waiting for
 * it any longer than @window_ms after its flush would only stall the caller.
 */
static bool pending_worth_waiting(const struct pending_entry *e, int window_ms,
				  struct timespec now, struct timespec *until)
{
	if (!e->closing)
		return false;
	*until = pending_after(e->closing_since, window_ms);
	return pending_before(now, *until);
}

void fs_pending_wait(struct fs_pending *p, const char *name, int window_ms)
{
	struct timespec now, until;
	struct pending_entry *e;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		e = *pending_find(p, name);
		if (e == NULL || !pending_worth_waiting(e, window_ms, now, &until))
			break;
		pthread_cond_timedwait(&p->changed, &p->lock, &until);
	}
	pthread_mutex_unlock(&p->lock);
}

void fs_pending_settle(struct fs_pending *p, int window_ms)
{
	struct timespec now, until, latest;
	bool wait;

	pthread_mutex_lock(&p->lock);
	do {
		clock_gettime(CLOCK_MONOTONIC, &now);
		wait = false;
		for (int i = 0; p->closing > 0 && i < PENDING_BUCKETS; i++)
			for (struct pending_entry *e = p->bucket[i]; e; e = e->next)
				if (pending_worth_waiting(e, window_ms, now, &until) &&
				    (!wait || pending_before(latest, until))) {
					latest = until;
					wait = true;
				}
		if (wait)
			pthread_cond_timedwait(&p->changed, &p->lock, &latest);
	} while (wait);
	pthread_mutex_unlock(&p->lock);
}

bool fs_pending_drain(struct fs_pending *p, int timeout_ms)
{
	struct timespec deadline;
	bool drained;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline = pending_after(deadline, timeout_ms);
	pthread_mutex_lock(&p->lock);
	while (p->closing > 0)
		if (pthread_cond_timedwait(&p->changed, &p->lock, &deadline) == ETIMEDOUT)
			break;
	drained = p->closing == 0;
	pthread_mutex_unlock(&p->lock);
	return drained;
}
