/*
 * bench-scale-load.c - fills a store with COUNT executions through store.h
 * alone, and times reads of a file, for scripts/bench-scale (built for the
 * benchmark, never installed).
 *
 *   bench-scale-load fill BACKEND PATH COUNT THREADS
 *   bench-scale-load cat|stat FILE REPS
 *
 * cat|stat: REPS times open-read-close, or stat(2), of FILE; prints the
 * microseconds of each, one a line: what the filesystem costs, without the
 * start of a process per read (several milliseconds on a loaded machine,
 * more than what is measured).
 *
 * fill:
 * The runs are those scripts/bench-scale writes by SQL into the SQL stores:
 * run <i> for i in 1..COUNT, started over the 400 days before now in order
 * of i, 10 % errors, 2 % partial, the last 3 left running, args of a few
 * tools. THREADS writers share them (writer t takes i ≡ t mod THREADS), each
 * calling store_start and store_finish, so that the store's group commit
 * puts concurrent changes in one transaction: the fastest way in that still
 * goes only through the store's own code. It prints runs per second.
 *
 * Left out: checking the store afterwards (the benchmark mounts it) and any
 * way in beside store.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define DAYS 400
#define RUNNING_LAST 3

static const char *const tools[] = {
	"[\"make\",\"-j4\"]",
	"[\"cargo\",\"build\",\"--release\"]",
	"[\"pytest\",\"-q\"]",
	"[\"ninja\",\"-C\",\"build\"]",
	"[\"/usr/bin/magellan\",\"index\",\"/src/app\"]",
};

struct load {
	struct store *store;
	uint64_t count;
	unsigned threads;
	unsigned index;
	int64_t first_ms; /* the start of run 1 */
	int err;
};

/* The name of run @i, as the SQL fills write it: a 32-bit hash, unique for i < 2^32. */
static void run_name(uint64_t i, char *buf, size_t size)
{
	snprintf(buf, size, "run-%08llx", (unsigned long long)((i * 2654435761u) & 0xffffffffu));
}

/* The finish of run @i: 10 % errors (i % 10 == 3), 2 % partial (i % 50 == 7). */
static void run_finish(uint64_t i, struct store_finish *fin)
{
	memset(fin, 0, sizeof(*fin));
	fin->outcome = STORE_SUCCESS;
	fin->exit_code = 0;
	fin->signal = STORE_NULL;
	if (i % 10 == 3) {
		fin->outcome = STORE_ERROR;
		fin->error_message = "exit status 2";
		fin->exit_code = 2;
	} else if (i % 50 == 7) {
		fin->outcome = STORE_PARTIAL;
		fin->error_message = "interrupted";
	}
	fin->files_indexed = (int64_t)(i % 1000);
	fin->symbols_indexed = (int64_t)(i % 10000);
	fin->references_indexed = (int64_t)(i % 100000);
}

static int load_one(struct load *l, uint64_t i)
{
	struct store_record rec = { 0 };
	struct store_finish fin;
	char name[32];
	int64_t span_ms = (int64_t)DAYS * 86400 * 1000;
	int64_t started_ms = l->first_ms + (int64_t)((double)span_ms * (double)(i - 1) / (double)l->count);
	int err;

	run_name(i, name, sizeof(name));
	rec.execution_id = name;
	rec.tool_version = "1.2.0";
	rec.args = (char *)tools[i % (sizeof(tools) / sizeof(tools[0]))];
	rec.root = "/src/app";
	rec.db_path = "/src/app/.magellan/graph.db";
	rec.started_ms = started_ms;
	err = store_start(l->store, &rec);
	free(rec.tool); /* the only string the store set; the others are ours */
	if (err == 0 && i + RUNNING_LAST <= l->count) {
		run_finish(i, &fin);
		err = store_finish(l->store, name, &fin, started_ms + 100 + (int64_t)(i * 7919 % 600000));
	}
	if (err)
		fprintf(stderr, "bench-scale-load: run %s: %s (%s)\n", name, strerror(-err), store_reason());
	return err;
}

static void *load_thread(void *arg)
{
	struct load *l = arg;

	for (uint64_t i = 1 + l->index; i <= l->count && l->err == 0; i += l->threads)
		l->err = load_one(l, i);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One read of @path: open, read to the end, close; or stat(2). 0 or -errno. */
static int read_once(const char *path, int cat)
{
	static char buf[1 << 16];
	struct stat st;
	ssize_t got;
	int fd, err = 0;

	if (!cat)
		return stat(path, &st) == 0 ? 0 : -errno;
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	while ((got = read(fd, buf, sizeof(buf))) > 0)
		;
	if (got < 0)
		err = -errno;
	close(fd);
	return err;
}

static int cmd_read(int argc, char **argv)
{
	unsigned long reps = argc == 4 ? strtoul(argv[3], NULL, 10) : 0;
	int cat = strcmp(argv[1], "cat") == 0;

	if (reps == 0) {
		fprintf(stderr, "usage: bench-scale-load cat|stat FILE REPS\n");
		return 2;
	}
	for (unsigned long r = 0; r < reps; r++) {
		double t0 = now_s();
		int err = read_once(argv[2], cat);

		if (err) {
			fprintf(stderr, "bench-scale-load: %s: %s\n", argv[2], strerror(-err));
			return 1;
		}
		printf("%.0f\n", (now_s() - t0) * 1e6);
	}
	return 0;
}

static int cmd_fill(int argc, char **argv)
{
	struct store_options opts = { .sync = STORE_SYNC_NORMAL };
	struct load loads[64];
	pthread_t tids[64];
	struct store *s = NULL;
	unsigned long long count;
	unsigned long threads;
	double t0;
	int err = 0;

	if (argc != 6 || (count = strtoull(argv[4], NULL, 10)) == 0 ||
	    (threads = strtoul(argv[5], NULL, 10)) == 0 || threads > 64) {
		fprintf(stderr, "usage: bench-scale-load fill BACKEND PATH COUNT THREADS (1-64)\n");
		return 2;
	}
	err = store_open(argv[2], argv[3], &opts, &s);
	if (err) {
		fprintf(stderr, "bench-scale-load: %s: %s (%s)\n", argv[3], strerror(-err), store_reason());
		return 1;
	}
	t0 = now_s();
	for (unsigned t = 0; t < threads; t++) {
		loads[t] = (struct load){ .store = s, .count = count, .threads = (unsigned)threads,
					  .index = t, .first_ms = store_now_ms() - (int64_t)DAYS * 86400 * 1000 };
		if (pthread_create(&tids[t], NULL, load_thread, &loads[t]) != 0) {
			fprintf(stderr, "bench-scale-load: cannot start a thread\n");
			threads = t;
			err = -EAGAIN;
			break;
		}
	}
	for (unsigned t = 0; t < threads; t++) {
		pthread_join(tids[t], NULL);
		if (loads[t].err)
			err = loads[t].err;
	}
	if (err == 0)
		printf("%.0f\n", (double)count / (now_s() - t0));
	store_close(s);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "fill") == 0)
		return cmd_fill(argc, argv);
	if (argc >= 2 && (strcmp(argv[1], "cat") == 0 || strcmp(argv[1], "stat") == 0))
		return cmd_read(argc, argv);
	fprintf(stderr, "usage: bench-scale-load fill|cat|stat ...\n");
	return 2;
}
