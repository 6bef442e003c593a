/*
 * batch.c - group commit, shared by the backends whose every commit syncs.
 *
 * A writer that finds no transaction running leads: it commits its own
 * change at once. Writers that arrive while a leader commits queue up, and
 * the next of them to run takes the whole queue into one transaction, so
 * that under N concurrent writers a commit (and its fsync) serves many
 * changes, with no timer and no added wait for a writer alone. Each change
 * keeps its own result: the backend applies them one by one inside the
 * transaction, a refused one undone alone (a statement, a nested
 * transaction), and a commit that fails fails every change it carried.
 */
#include <pthread.h>

#include "backend.h"

void store_batch_init(struct store_batch *b)
{
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->done, NULL);
	b->head = NULL;
	b->tail = &b->head;
	b->leading = false;
}

void store_batch_destroy(struct store_batch *b)
{
	pthread_cond_destroy(&b->done);
	pthread_mutex_destroy(&b->lock);
}

void store_batch_fail(struct store_batch_op *op, int err)
{
	op->result = err;
	store_reason_save(op->reason);
}

void store_batch_fail_all(struct store_batch_op *ops, int err)
{
	for (struct store_batch_op *o = ops; o; o = o->next)
		if (o->result == 0)
			store_batch_fail(o, err);
}

int store_batch_run(struct store *s, struct store_batch_op *op, store_batch_fn commit)
{
	struct store_batch *b = &s->batch;

	op->next = NULL;
	op->result = 0;
	op->reason[0] = '\0';
	op->done = false;
	pthread_mutex_lock(&b->lock);
	*b->tail = op;
	b->tail = &op->next;
	while (!op->done) {
		struct store_batch_op *ops, *next;
		size_t n = 0;

		if (b->leading) {
			pthread_cond_wait(&b->done, &b->lock);
			continue;
		}
		/* Lead: take every change queued so far, this one among them. */
		b->leading = true;
		ops = b->head;
		b->head = NULL;
		b->tail = &b->head;
		pthread_mutex_unlock(&b->lock);
		for (struct store_batch_op *o = ops; o; o = o->next)
			n++;
		commit(s, ops, n);
		pthread_mutex_lock(&b->lock);
		/* A writer may return (and its op go) once done is set: next first. */
		for (struct store_batch_op *o = ops; o; o = next) {
			next = o->next;
			o->done = true;
		}
		b->leading = false;
		__atomic_add_fetch(&b->commits, 1, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&b->done);
	}
	pthread_mutex_unlock(&b->lock);
	/* The reason was set on the leader's thread: make it this thread's. */
	if (op->result < 0)
		return store_fail(op->result, "%s", op->reason);
	return op->result;
}
