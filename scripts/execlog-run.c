/*
 * execlog-run: runs one command and records it as an execution in a mounted
 * execlogfs, through nothing but the files of the mount.
 *
 * It starts the execution by writing a start document to MOUNT/new/ID (with
 * the working directory and the -t tags), runs the command (run-relay.c:
 * its output relayed unchanged and captured into MOUNT/output/ID, its error
 * output's last 4 KiB kept for the message), touches MOUNT/status/ID twice a
 * second as a heartbeat, and at the end writes a JSON finish (outcome, message,
 * exit code or signal) to MOUNT/status/ID, unless the command finished its
 * own execution. Recording never stands in the way of the command: without a
 * usable mount it warns and runs the command unrecorded. It exits with the
 * command's status.
 *
 * Left out: counters (a command that has them finishes its own execution
 * through $EXECLOG_STATUS), job control (SIGTSTP is not relayed), and what a
 * background process of the command writes after the command itself has
 * exited.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

#define DOC_MAX (1024 * 1024) /* the largest start document the mount takes */
#define ID_MAX 128            /* the longest execution id the mount takes */
#define TAG_KEY_MAX 64
#define TAG_VALUE_MAX 256
#define EXIT_USAGE 125        /* a bad -t: a usage error, as a bad option */
#define text_lit(t, s) text_add(t, s, sizeof(s) - 1)

static const char id_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@+-";
static const char tag_key_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

/* The fields execlog-run adds to magellan's: cwd (getcwd, the physical
 * directory, where root is $PWD) and the tags. */
static void build_provenance(struct text *d, const struct run *r, const char *cwd)
{
	text_lit(d, ",\"cwd\":");
	if (cwd)
		text_add_json(d, cwd, strlen(cwd));
	else
		text_add(d, "null", 4);
	text_lit(d, ",\"tags\":{");
	for (size_t i = 0; i < r->ntags; i++) {
		text_add(d, ",", i > 0);
		text_add_json(d, r->tags[i].key, r->tags[i].key_len);
		text_add(d, ":", 1);
		text_add_json(d, r->tags[i].value, strlen(r->tags[i].value));
	}
	text_add(d, "}", 1);
}

/* Builds the start document; false if even the part before args is too big.
 * args comes last so that a list too long for the mount can be cut short,
 * with a note saying so, and still close as valid JSON. Without provenance,
 * the document an older mount takes (no cwd, no tags). */
static bool build_start(struct text *d, const struct run *r, const char *root, const char *cwd, bool provenance)
{
	const size_t room = 80; /* for the note and "]}", wherever the cut falls */
	size_t argc = 0, kept;

	while (r->argv[argc])
		argc++;
	d->cap -= room;
	text_add(d, "{\"tool_version\":", 16);
	text_add_json(d, r->tool_version, strlen(r->tool_version));
	text_add(d, ",\"root\":", 8);
	if (root)
		text_add_json(d, root, strlen(root));
	else
		text_add(d, "null", 4);
	if (provenance)
		build_provenance(d, r, cwd);
	text_add(d, ",\"db_path\":\"\",\"args\":[", 22);
	if (d->full)
		return false;
	for (kept = 0; kept < argc; kept++) {
		size_t before = d->len;

		text_add(d, ",", kept > 0);
		text_add_json(d, r->argv[kept], strlen(r->argv[kept]));
		if (d->full) {
			d->len = before;
			break;
		}
	}
	d->cap += room;
	d->full = false;
	if (kept < argc)
		text_printf(d, "%s\"[execlog-run: %zu more arguments not recorded]\"", kept ? "," : "", argc - kept);
	text_add(d, "]}", 2);
	return true;
}

/* Writes buf to path in one write(2), the unit the mount commits: 0 or an errno. */
static int write_file(const char *path, int flags, const char *buf, size_t n)
{
	int err = 0, fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0644);
	ssize_t done;

	if (fd < 0)
		return errno;
	done = write(fd, buf, n);
	if (done < 0)
		err = errno;
	else if ((size_t)done != n)
		err = EIO;
	if (close(fd) < 0 && err == 0)
		err = errno;
	return err;
}

static char *mount_path(const char *mount, const char *dir, const char *id)
{
	size_t n = strlen(mount) + strlen(dir) + strlen(id) + 3;
	char *path = malloc(n);

	if (path)
		snprintf(path, n, "%s/%s/%s", mount, dir, id);
	return path;
}

/* A name that sorts by start time and says what ran: 20261125T213045.123Z-make-4711. */
static void make_id(char *id, size_t size, const char *command)
{
	const char *slash = strrchr(command, '/'), *base = slash ? slash + 1 : command;
	char name[49];
	struct timespec now;
	struct tm tm;
	size_t n;

	for (n = 0; base[n] && n < sizeof(name) - 1; n++)
		name[n] = strchr(id_chars, base[n]) ? base[n] : '_';
	name[n] = '\0';
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(id, size, "%Y%m%dT%H%M%S", &tm);
	snprintf(id + n, size - n, ".%03ldZ-%s-%ld", now.tv_nsec / 1000000, *name ? name : "command",
		 (long)getpid());
}

/* Writes the start document to new_path: 0 or an errno. A mount that refuses
 * cwd and tags (EINVAL: an execlogfs older than them; the tags were checked
 * already) gets the document without them, with a warning if tags are lost. */
static int write_start(struct run *r, const char *new_path, struct text *doc, const char *root, const char *cwd)
{
	int err;

	if (!build_start(doc, r, root, cwd, true))
		return EFBIG;
	err = write_file(new_path, O_CREAT | O_EXCL, doc->p, doc->len);
	if (err != EINVAL)
		return err;
	doc->len = 0;
	doc->full = false;
	if (!build_start(doc, r, root, cwd, false))
		return EFBIG;
	err = write_file(new_path, O_CREAT | O_EXCL, doc->p, doc->len);
	if (err == 0 && r->ntags > 0)
		fprintf(stderr, "execlog-run: warning: the mount does not take tags; execution %s "
				"recorded without them\n", r->id);
	return err;
}

/* Starts the execution: 0 and r->status_path (and r->output_path, when output
 * is captured) set, or an errno saying why not. An id the mount would refuse
 * is refused here too, before it can make a path outside new/ (say "../x"). */
static int start_execution(struct run *r, const char *mount, bool capture)
{
	struct text doc = { .cap = DOC_MAX };
	char *root = get_current_dir_name(); /* $PWD when that names the current directory */
	char *cwd = getcwd(NULL, 0);
	char *abs = realpath(mount, NULL), *new_path = NULL;
	size_t id_len = strlen(r->id);
	int err;

	if (!abs)
		err = errno;
	else if (id_len == 0 || id_len > ID_MAX || r->id[0] == '.' || strspn(r->id, id_chars) != id_len)
		err = EINVAL;
	else if (!(doc.p = malloc(DOC_MAX)) || !(new_path = mount_path(abs, "new", r->id)) ||
		 !(r->status_path = mount_path(abs, "status", r->id)) ||
		 (capture && !(r->output_path = mount_path(abs, "output", r->id))))
		err = ENOMEM;
	else
		err = write_start(r, new_path, &doc, root, cwd);
	if (err) {
		free(r->status_path);
		free(r->output_path);
		r->status_path = r->output_path = NULL;
	}
	free(new_path);
	free(doc.p);
	free(abs);
	free(cwd);
	free(root);
	return err;
}

/* The message for how the command ended, NULL for none (success). Every part
 * is bounded (the line by the tail), so it stays far under the mount's 64 KiB. */
static bool finish_message(struct text *v, const struct run *r, int wstatus)
{
	size_t start, end = r->tail_len;

	if (r->exec_errno) {
		text_add(v, "cannot run ", 11);
		text_add_clean(v, r->argv[0], strnlen(r->argv[0], TAIL_SIZE), false);
		text_printf(v, ": %s", strerror(r->exec_errno));
	} else if (WIFSIGNALED(wstatus)) {
		text_printf(v, "killed by signal %d", WTERMSIG(wstatus));
		if (sigabbrev_np(WTERMSIG(wstatus)))
			text_printf(v, " (SIG%s)", sigabbrev_np(WTERMSIG(wstatus)));
	} else if (WEXITSTATUS(wstatus) == 0) {
		return false;
	} else {
		text_printf(v, "exit code %d", WEXITSTATUS(wstatus));
		/* The last line that is not blank; a carriage return ends a line too
		 * (progress bars). */
		while (end > 0 && isspace((unsigned char)r->tail[end - 1]))
			end--;
		for (start = end; start > 0 && r->tail[start - 1] != '\n' && r->tail[start - 1] != '\r'; start--)
			;
		while (start < end && isspace((unsigned char)r->tail[start]))
			start++;
		if (start < end)
			text_add(v, ": ", 2);
		text_add_clean(v, r->tail + start, end - start, false);
	}
	return true;
}

/* The finish as a JSON object: outcome, error_message, and the exit code or
 * the signal. The message was cleaned to text already; JSON escapes it. */
static void finish_json(struct text *v, const struct text *msg, bool failed, int wstatus)
{
	text_lit(v, "{\"outcome\":");
	if (failed) {
		text_lit(v, "\"error\",\"error_message\":");
		text_add_json(v, msg->p, msg->len);
	} else {
		text_lit(v, "\"success\"");
	}
	if (WIFSIGNALED(wstatus))
		text_printf(v, ",\"signal\":%d}\n", WTERMSIG(wstatus));
	else
		text_printf(v, ",\"exit_code\":%d}\n", WEXITSTATUS(wstatus));
}

/* Whether the command finished its own execution (say, with counters). A status
 * that cannot be read says nothing, and the finish is tried anyway. */
static bool finished_by_command(const char *status_path)
{
	char buf[16];
	ssize_t n = -1;
	int fd = open(status_path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	return n > 0 && !(n == 8 && memcmp(buf, "running\n", 8) == 0);
}

static void finish(const struct run *r, int wstatus)
{
	char buf[16384], msg_buf[8192];
	struct text value = { .p = buf, .cap = sizeof(buf) }, msg = { .p = msg_buf, .cap = sizeof(msg_buf) };
	bool failed;
	int err;

	if (finished_by_command(r->status_path))
		return;
	failed = finish_message(&msg, r, wstatus);
	finish_json(&value, &msg, failed, wstatus);
	err = write_file(r->status_path, 0, value.p, value.len);
	/* An execlogfs older than exit_code and signal refuses them: the finish
	 * it takes, a word or "error: <message>". */
	if (err == EINVAL) {
		value.len = 0;
		text_add(&value, failed ? "error: " : "success", 7);
		if (failed)
			text_add(&value, msg.p, msg.len);
		err = write_file(r->status_path, 0, value.p, value.len);
	}
	/* EPERM: the command finished it after all, between our read and our write. */
	if (err && err != EPERM)
		fprintf(stderr, "execlog-run: warning: cannot finish execution %s: %s\n", r->id, strerror(err));
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: execlog-run [-m MOUNT] [-i ID] [-v TOOL_VERSION] [-t KEY=VALUE]... [--no-output] [--] COMMAND [ARG...]\n"
		"Runs COMMAND and records it as an execution in a mounted execlogfs.\n\n"
		"  -m, --mount=MOUNT        the execlogfs mount point (default: $EXECLOG_MOUNT)\n"
		"  -i, --id=ID              the execution id (default: UTC start time, command, pid)\n"
		"  -v, --tool-version=TEXT  the tool_version to record (default: \"\")\n"
		"  -t, --tag=KEY=VALUE      a tag to record (repeatable, at most 32): KEY is 1-64\n"
		"                           bytes of A-Z a-z 0-9 . _ -, VALUE up to 256 bytes of UTF-8\n"
		"      --no-output          do not capture the output into MOUNT/output/ID\n"
		"  -h, --help               print this help and exit\n"
		"      --version            print the version and exit\n\n"
		"COMMAND's output reaches you unchanged (a terminal stays a terminal, a pipe a\n"
		"pipe) and is captured into MOUNT/output/ID. COMMAND sees EXECLOG_ID and\n"
		"EXECLOG_STATUS; what it writes to $EXECLOG_STATUS finishes the execution\n"
		"instead. Without a usable mount it runs unrecorded.\n"
		"Exit status: COMMAND's, 128+N if it was killed by signal N, 126 or 127 if it\n"
		"could not be run, 125 if execlog-run itself failed (a bad -t too).\n"
		"See execlog-run(1).\n");
}

/* Checks and keeps one -t KEY=VALUE: NULL, or why it is refused. */
static const char *add_tag(struct run *r, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t key_len = eq ? (size_t)(eq - arg) : 0, value_len;

	if (!eq)
		return "expected KEY=VALUE";
	if (key_len == 0 || key_len > TAG_KEY_MAX || strspn(arg, tag_key_chars) < key_len)
		return "a tag's KEY is 1 to 64 bytes of A-Z a-z 0-9 . _ -";
	value_len = strlen(eq + 1);
	if (value_len > TAG_VALUE_MAX)
		return "a tag's VALUE is at most 256 bytes";
	for (size_t i = 0, n; i < value_len; i += n)
		if ((n = utf8_len((const unsigned char *)eq + 1 + i, value_len - i)) == 0)
			return "a tag's VALUE must be UTF-8 text";
	for (size_t i = 0; i < r->ntags; i++)
		if (r->tags[i].key_len == key_len && memcmp(r->tags[i].key, arg, key_len) == 0)
			return "that KEY is given twice";
	if (r->ntags == TAGS_MAX)
		return "at most 32 tags";
	r->tags[r->ntags++] = (struct run_tag){ .key = arg, .key_len = key_len, .value = eq + 1 };
	return NULL;
}

/* Reads the options into r: -1 to go on, else the exit status. */
static int parse_options(struct run *r, int argc, char **argv, const char **mount, bool *capture)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' }, { "id", required_argument, NULL, 'i' },
		{ "tool-version", required_argument, NULL, 'v' }, { "tag", required_argument, NULL, 't' },
		{ "no-output", no_argument, NULL, 'O' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 },
	};
	const char *why;
	int opt;

	/* "+": options end at COMMAND, whose own options are left to it. */
	while ((opt = getopt_long(argc, argv, "+m:i:v:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'm': *mount = optarg; break;
		case 'i': r->id = optarg; break;
		case 'v': r->tool_version = optarg; break;
		case 'O': *capture = false; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("execlog-run %s\n", EXECLOG_VERSION); return 0;
		case 't':
			if ((why = add_tag(r, optarg)) == NULL)
				break;
			fprintf(stderr, "execlog-run: bad tag -t '%s': %s\nTry 'execlog-run --help'.\n", optarg, why);
			return EXIT_USAGE;
		default: fprintf(stderr, "Try 'execlog-run --help'.\n"); return EXIT_OWN_FAILURE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "execlog-run: no COMMAND given\nTry 'execlog-run --help'.\n");
		return EXIT_OWN_FAILURE;
	}
	r->argv = argv + optind;
	return -1;
}

int main(int argc, char **argv)
{
	struct run r = { .tool_version = "" };
	const char *mount = getenv("EXECLOG_MOUNT");
	char id[ID_MAX + 1];
	sigset_t old_mask, wait_mask;
	struct sigaction old_pipe;
	bool capture = true;
	int err, wstatus = W_EXITCODE(EXIT_OWN_FAILURE, 0);

	if ((err = parse_options(&r, argc, argv, &mount, &capture)) >= 0)
		return err;
	if (!r.id) {
		make_id(id, sizeof(id), r.argv[0]);
		r.id = id;
	}
	/* Before the start, so that a SIGTERM from then on reaches the command and
	 * the execution is finished rather than left running. */
	catch_signals(&old_mask, &wait_mask, &old_pipe);
	/* The terminal is restored on every way out of a run in raw mode. */
	atexit(tty_restore);

	if (!mount || !*mount)
		fprintf(stderr, "execlog-run: warning: cannot start execution %s: no mount (-m or EXECLOG_MOUNT); "
				"running the command unrecorded\n", r.id);
	else if ((err = start_execution(&r, mount, capture)) != 0)
		fprintf(stderr, "execlog-run: warning: cannot start execution %s in %s: %s; "
				"running the command unrecorded\n", r.id, mount, strerror(err));
	/* Unset when unrecorded, so that a command under a nested execlog-run
	 * cannot finish the outer execution by mistake. */
	if (r.status_path) {
		setenv("EXECLOG_ID", r.id, 1);
		setenv("EXECLOG_STATUS", r.status_path, 1);
	} else {
		unsetenv("EXECLOG_ID");
		unsetenv("EXECLOG_STATUS");
	}

	relay_setup(&r);
	err = spawn(&r, &old_mask, &old_pipe);
	if (err)
		r.exec_errno = err;
	else
		wstatus = supervise(&r, &wait_mask);
	tty_restore();
	if (r.exec_errno)
		fprintf(stderr, "execlog-run: cannot run %s: %s\n", r.argv[0], strerror(r.exec_errno));
	if (r.status_path)
		finish(&r, wstatus);
	free(r.status_path);
	free(r.output_path);
	free(r.batch);
	return WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : WEXITSTATUS(wstatus);
}
