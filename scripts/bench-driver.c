/*
 * bench-driver.c - the loops of scripts/bench, in one process each, so that
 * process start-up does not dominate what is measured.
 *
 *   bench-driver startfinish fs|plain DIR PREFIX FIRST COUNT WRITERS
 *       COUNT runs named PREFIX%07u from FIRST, shared by WRITERS processes.
 *       fs: open DIR/new/ID (O_CREAT|O_WRONLY), write a start document,
 *       close; open DIR/status/ID, write "success", close. plain: write
 *       DIR/ID.json as a running record, then rewrite it as a finished one.
 *       Prints runs per second.
 *   bench-driver start fs|fs-tags DIR PREFIX FIRST COUNT WRITERS
 *       The start alone, as above, of a document without tags (fs) or the
 *       same with cwd and 8 tags (fs-tags); the runs are left running.
 *       Prints starts per second.
 *   bench-driver stat|cat DIR PREFIX SUFFIX FIRST COUNT PASSES
 *       stat(2), or open-read-close, of DIR/PREFIX%07uSUFFIX for COUNT ids
 *       from FIRST, PASSES times; prints one rate (operations per second)
 *       per pass, the first pass first.
 *   bench-driver waitmount DIR PID T0
 *       Waits (up to 60 s) until DIR is a FUSE mount, failing if PID dies;
 *       prints the milliseconds since T0 (Unix seconds with a fraction, as
 *       bash's $EPOCHREALTIME gives it).
 *
 * It leaves out everything that is not a loop: mounting, populating the
 * stores, medians and the table are scripts/bench's. Any failed call ends
 * it with a message naming the path and a non-zero exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FUSE_SUPER_MAGIC 0x65735546

static const char start_doc[] =
	"{\"tool_version\": \"1.2\", \"args\": [\"make\", \"-j4\"], \"root\": \"/src/app\"}";

/* The same start with what execlog-run adds: cwd and 8 tags (issue 16: at most 1.2× the cost). */
static const char start_doc_tags[] =
	"{\"tool_version\": \"1.2\", \"args\": [\"make\", \"-j4\"], \"root\": \"/src/app\", "
	"\"cwd\": \"/src/app\", \"tags\": {\"team\": \"infra\", \"ci\": \"github\", "
	"\"branch\": \"main\", \"stage\": \"build\", \"arch\": \"x86_64\", "
	"\"os\": \"debian-12\", \"job\": \"1234567\", \"commit\": \"4f2a9c1e\"}}";

/* What one run does: start and finish, or the start alone of either document. */
enum run_kind {
	RUN_PLAIN,
	RUN_FS,
	RUN_FS_START,
	RUN_FS_START_TAGS,
};

static void die(const char *what, const char *path)
{
	fprintf(stderr, "bench-driver: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned parse_count(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v > 100000000UL) {
		fprintf(stderr, "bench-driver: not a count: %s\n", s);
		exit(2);
	}
	return (unsigned)v;
}

/* Writes all of @buf to @path opened with @flags, in one write(2). */
static void write_file(const char *path, int flags, const char *buf, size_t len)
{
	int fd = open(path, flags, 0644);

	if (fd < 0)
		die("open", path);
	if (write(fd, buf, len) != (ssize_t)len)
		die("write", path);
	if (close(fd) != 0)
		die("close", path);
}

/* The record a plain-directory recorder writes: the shape execlogfs shows. */
static size_t plain_record(char *buf, size_t size, const char *id, unsigned n, int finished)
{
	long t = (long)time(NULL);
	char finished_at[32] = "null";

	if (finished)
		snprintf(finished_at, sizeof(finished_at), "%ld", t);
	return (size_t)snprintf(buf, size,
		"{\n  \"id\": %u,\n  \"execution_id\": \"%s\",\n  \"tool_version\": \"1.2\",\n"
		"  \"args\": [\"make\", \"-j4\"],\n  \"root\": \"/src/app\",\n  \"db_path\": \"\",\n"
		"  \"started_at\": %ld,\n  \"finished_at\": %s,\n  \"duration_ms\": %s,\n"
		"  \"outcome\": \"%s\",\n  \"error_message\": null,\n  \"files_indexed\": 0,\n"
		"  \"symbols_indexed\": 0,\n  \"references_indexed\": 0\n}\n",
		n + 1, id, t, finished_at, finished ? "1" : "null",
		finished ? "success" : "running");
}

/* One run, start and finish, through a mount or in a plain directory; or a start alone. */
static void one_run(enum run_kind kind, const char *dir, const char *prefix, unsigned n)
{
	char id[160], path[4096], rec[1024];
	size_t len;

	snprintf(id, sizeof(id), "%s%07u", prefix, n);
	if (kind == RUN_FS_START || kind == RUN_FS_START_TAGS) {
		snprintf(path, sizeof(path), "%s/new/%s", dir, id);
		if (kind == RUN_FS_START)
			write_file(path, O_CREAT | O_WRONLY, start_doc, sizeof(start_doc) - 1);
		else
			write_file(path, O_CREAT | O_WRONLY, start_doc_tags,
				   sizeof(start_doc_tags) - 1);
	} else if (kind == RUN_PLAIN) {
		snprintf(path, sizeof(path), "%s/%s.json", dir, id);
		len = plain_record(rec, sizeof(rec), id, n, 0);
		write_file(path, O_CREAT | O_WRONLY | O_TRUNC, rec, len);
		len = plain_record(rec, sizeof(rec), id, n, 1);
		write_file(path, O_WRONLY | O_TRUNC, rec, len);
	} else {
		snprintf(path, sizeof(path), "%s/new/%s", dir, id);
		write_file(path, O_CREAT | O_WRONLY, start_doc, sizeof(start_doc) - 1);
		snprintf(path, sizeof(path), "%s/status/%s", dir, id);
		write_file(path, O_WRONLY, "success", 7);
	}
}

/*
 * The writers are processes, held at a pipe until all are forked, so that
 * the clock measures only the runs.
 */
static int cmd_startfinish(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: bench-driver startfinish fs|plain DIR PREFIX FIRST COUNT WRITERS\n"
				"       bench-driver start fs|fs-tags DIR PREFIX FIRST COUNT WRITERS\n");
		return 2;
	}
	enum run_kind kind = strcmp(argv[2], "plain") == 0 ? RUN_PLAIN : RUN_FS;
	if (strcmp(argv[1], "start") == 0)
		kind = strcmp(argv[2], "fs-tags") == 0 ? RUN_FS_START_TAGS : RUN_FS_START;
	const char *dir = argv[3], *prefix = argv[4];
	unsigned first = parse_count(argv[5]), count = parse_count(argv[6]);
	unsigned writers = parse_count(argv[7]);
	int gate[2], failed = 0;
	pid_t pids[64];
	double t0;

	if (writers < 1 || writers > 64 || pipe(gate) != 0) {
		fprintf(stderr, "bench-driver: 1 to 64 writers\n");
		return 2;
	}
	for (unsigned w = 0; w < writers; w++) {
		pids[w] = fork();
		if (pids[w] < 0)
			die("fork", "writer");
		if (pids[w] == 0) {
			char c;

			close(gate[1]);
			if (read(gate[0], &c, 1) < 0)
				_exit(1);
			for (unsigned i = w; i < count; i += writers)
				one_run(kind, dir, prefix, first + i);
			_exit(0);
		}
	}
	close(gate[0]);
	t0 = now_s();
	close(gate[1]);
	for (unsigned w = 0; w < writers; w++) {
		int status;

		if (waitpid(pids[w], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			failed = 1;
	}
	if (failed)
		return 1;
	printf("%.1f\n", count / (now_s() - t0));
	return 0;
}

/* stat(2) of @path, or open-read-close of it. */
static void probe(int cat, const char *path)
{
	char buf[65536];
	struct stat st;

	if (!cat) {
		if (stat(path, &st) != 0)
			die("stat", path);
		return;
	}
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		die("open", path);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0)
		die("read", path);
	close(fd);
}

static int cmd_probe(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: bench-driver stat|cat DIR PREFIX SUFFIX FIRST COUNT PASSES\n");
		return 2;
	}
	int cat = strcmp(argv[1], "cat") == 0;
	const char *dir = argv[2], *prefix = argv[3], *suffix = argv[4];
	unsigned first = parse_count(argv[5]), count = parse_count(argv[6]);
	unsigned passes = parse_count(argv[7]);
	char path[4096];

	for (unsigned p = 0; p < passes; p++) {
		double t0 = now_s();

		for (unsigned i = 0; i < count; i++) {
			snprintf(path, sizeof(path), "%s/%s%07u%s", dir, prefix, first + i, suffix);
			probe(cat, path);
		}
		printf("%.1f\n", count / (now_s() - t0));
	}
	return 0;
}

static int cmd_waitmount(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: bench-driver waitmount DIR PID T0\n");
		return 2;
	}
	const char *dir = argv[2];
	pid_t pid = (pid_t)atol(argv[3]);
	double t0 = strtod(argv[4], NULL);
	struct timespec nap = { 0, 200000 };
	double give_up = now_s() + 60;

	for (;;) {
		struct statfs sf;
		struct timespec ts;

		if (statfs(dir, &sf) == 0 && sf.f_type == FUSE_SUPER_MAGIC) {
			clock_gettime(CLOCK_REALTIME, &ts);
			printf("%.1f\n", ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t0) * 1000);
			return 0;
		}
		if (kill(pid, 0) != 0) {
			fprintf(stderr, "bench-driver: the daemon (pid %ld) exited before mounting %s\n",
				(long)pid, dir);
			return 1;
		}
		if (now_s() > give_up) {
			fprintf(stderr, "bench-driver: %s not mounted within 60 s\n", dir);
			return 1;
		}
		nanosleep(&nap, NULL);
	}
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "startfinish") == 0 || strcmp(argv[1], "start") == 0))
		return cmd_startfinish(argc, argv);
	if (argc >= 2 && (strcmp(argv[1], "stat") == 0 || strcmp(argv[1], "cat") == 0))
		return cmd_probe(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "waitmount") == 0)
		return cmd_waitmount(argc, argv);
	fprintf(stderr, "usage: bench-driver startfinish|start|stat|cat|waitmount ...\n");
	return 2;
}
