/*
 * execlog-run: runs one command and records it as an execution in a mounted
 * execlogfs, through nothing but the files of the mount.
 *
 * It starts the execution by writing a start document to MOUNT/new/ID, runs
 * the command with stdin and stdout untouched, copies the command's stderr
 * through while keeping its last 4 KiB, touches MOUNT/status/ID twice a
 * second as a heartbeat, and at the end writes "success" or "error: <why>"
 * to MOUNT/status/ID, unless the command finished its own execution.
 * Recording never stands in the way of the command: without a usable mount
 * it warns and runs the command unrecorded. It exits with the command's status.
 *
 * Left out: counters (a command that has them finishes its own execution
 * through $EXECLOG_STATUS), job control (SIGTSTP is not relayed), and what a
 * background process of the command writes to stderr after the command
 * itself has exited.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DOC_MAX (1024 * 1024) /* the largest start document the mount takes */
#define ID_MAX 128            /* the longest execution id the mount takes */
#define TAIL_SIZE 4096        /* how much of stderr is kept for the message */
#define BEAT_MS 500           /* half the contract's second, so a late beat is still in time */
#define EXIT_OWN_FAILURE 125  /* as env(1) and timeout(1): not one of the command's statuses */
#define COUNT(a) (sizeof(a) / sizeof(*(a)))

static const char id_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@+-";
static const int relayed_signals[] = { SIGINT, SIGTERM, SIGQUIT, SIGHUP };
static volatile sig_atomic_t to_relay[NSIG];

/* A buffer of fixed capacity: what does not fit is left out and sets full. */
struct text {
	char *p;
	size_t len, cap;
	bool full;
};

struct run {
	char **argv;              /* the command and its arguments */
	const char *id, *tool_version;
	char *status_path;        /* MOUNT/status/ID, or NULL when unrecorded */
	pid_t pid;
	int err_fd;               /* read end of the command's stderr */
	int exec_errno;           /* why the command could not be run, or 0 */
	char tail[TAIL_SIZE];     /* the last bytes of its stderr */
	size_t tail_len;
};

static void text_add(struct text *t, const void *p, size_t n)
{
	if (t->full || n > t->cap - t->len) {
		t->full = true;
		return;
	}
	memcpy(t->p + t->len, p, n);
	t->len += n;
}

/* For short pieces: numbers, signal names, strerror. */
__attribute__((format(printf, 2, 3))) static void text_printf(struct text *t, const char *fmt, ...)
{
	char piece[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(piece, sizeof(piece), fmt, ap);
	va_end(ap);
	if (n >= 0)
		text_add(t, piece, (size_t)n < sizeof(piece) ? (size_t)n : sizeof(piece) - 1);
}

/* The length of the valid UTF-8 sequence at s (of avail bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
	static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
	/* The lead byte gives the length: 0xxxxxxx, 110xxxxx, 1110xxxx, 11110xxx. */
	size_t n = s[0] < 0x80 ? 1 : s[0] >> 5 == 6 ? 2 : s[0] >> 4 == 14 ? 3 : s[0] >> 3 == 30 ? 4 : 0;
	uint32_t cp = s[0] & (0x7f >> n);

	if (n == 0 || n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms and UTF-16 surrogates are not UTF-8 either. */
	if (n > 1 && (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)))
		return 0;
	return n;
}

/* Appends n bytes of s as the inside of a JSON string (json) or as one line of
 * a message. The mount takes only text, so a byte that is not UTF-8 becomes
 * U+FFFD; a control character is escaped in JSON and a space in a line. */
static void text_add_clean(struct text *t, const char *s, size_t n, bool json)
{
	const unsigned char *p = (const unsigned char *)s, *stop = p + n;

	for (size_t len; p < stop; p += len ? len : 1) {
		len = utf8_len(p, (size_t)(stop - p));
		if (len == 0)
			text_add(t, "\xef\xbf\xbd", 3);
		else if (!json && (*p < 0x20 || *p == 0x7f))
			text_add(t, " ", 1);
		else if (json && (*p == '"' || *p == '\\'))
			text_printf(t, "\\%c", *p);
		else if (json && *p < 0x20)
			text_printf(t, "\\u%04x", *p);
		else
			text_add(t, p, len);
	}
}

static void text_add_json(struct text *t, const char *s)
{
	text_add(t, "\"", 1);
	text_add_clean(t, s, strlen(s), true);
	text_add(t, "\"", 1);
}

/* Builds the start document; false if even the part before args is too big.
 * args comes last so that a list too long for the mount can be cut short,
 * with a note saying so, and still close as valid JSON. */
static bool build_start(struct text *d, const struct run *r, const char *root)
{
	const size_t room = 80; /* for the note and "]}", wherever the cut falls */
	size_t argc = 0, kept;

	while (r->argv[argc])
		argc++;
	d->cap -= room;
	text_add(d, "{\"tool_version\":", 16);
	text_add_json(d, r->tool_version);
	text_add(d, ",\"root\":", 8);
	if (root)
		text_add_json(d, root);
	else
		text_add(d, "null", 4);
	text_add(d, ",\"db_path\":\"\",\"args\":[", 22);
	if (d->full)
		return false;
	for (kept = 0; kept < argc; kept++) {
		size_t before = d->len;

		text_add(d, ",", kept > 0);
		text_add_json(d, r->argv[kept]);
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

/* Starts the execution: 0 and r->status_path set, or an errno saying why not.
 * An id the mount would refuse is refused here too, before it can make a path
 * outside new/ (say "../x"). */
static int start_execution(struct run *r, const char *mount)
{
	struct text doc = { .cap = DOC_MAX };
	char *root = get_current_dir_name(); /* $PWD when that names the current directory */
	char *abs = realpath(mount, NULL), *new_path = NULL;
	size_t id_len = strlen(r->id);
	int err;

	if (!abs)
		err = errno;
	else if (id_len == 0 || id_len > ID_MAX || r->id[0] == '.' || strspn(r->id, id_chars) != id_len)
		err = EINVAL;
	else if (!(doc.p = malloc(DOC_MAX)) || !(new_path = mount_path(abs, "new", r->id)) ||
		 !(r->status_path = mount_path(abs, "status", r->id)))
		err = ENOMEM;
	else if (!build_start(&doc, r, root))
		err = EFBIG;
	else
		err = write_file(new_path, O_CREAT | O_EXCL, doc.p, doc.len);
	if (err) {
		free(r->status_path);
		r->status_path = NULL;
	}
	free(new_path);
	free(doc.p);
	free(abs);
	free(root);
	return err;
}

/* Notes a signal for relaying to the command. One that the terminal sent
 * (SI_KERNEL: Ctrl-C, Ctrl-\) went to the whole foreground process group, the
 * command included, and relaying it would deliver it twice. SIGCHLD only has
 * to wake ppoll. */
static void on_signal(int sig, siginfo_t *info, void *context)
{
	(void)context;
	if (sig != SIGCHLD && info->si_code != SI_KERNEL)
		to_relay[sig] = 1;
}

/* Catches the relayed signals and SIGCHLD, blocked except while in ppoll so
 * that none slips in between a check and the wait. A signal ignored when we
 * started stays ignored, for the command too (nohup, background jobs). */
static void catch_signals(sigset_t *old_mask, sigset_t *wait_mask, struct sigaction *old_pipe)
{
	struct sigaction catch = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO | SA_NOCLDSTOP };
	struct sigaction ignore = { .sa_handler = SIG_IGN }, old;
	sigset_t blocked;

	sigemptyset(&blocked);
	sigaddset(&blocked, SIGCHLD);
	for (size_t i = 0; i < COUNT(relayed_signals); i++)
		sigaddset(&blocked, relayed_signals[i]);
	sigprocmask(SIG_BLOCK, &blocked, old_mask);
	*wait_mask = *old_mask;
	sigdelset(wait_mask, SIGCHLD);
	sigaction(SIGCHLD, &catch, NULL);
	for (size_t i = 0; i < COUNT(relayed_signals); i++) {
		sigdelset(wait_mask, relayed_signals[i]);
		sigaction(relayed_signals[i], NULL, &old);
		if (old.sa_handler != SIG_IGN)
			sigaction(relayed_signals[i], &catch, NULL);
	}
	/* Losing our stderr must not kill us before the finish; the command gets
	 * back the SIGPIPE disposition it would have had. */
	sigaction(SIGPIPE, &ignore, old_pipe);
}

/* In the child: execs the command with stderr on the pipe, or reports why not
 * through the close-on-exec report pipe and exits as a shell would. */
__attribute__((noreturn)) static void exec_command(char **argv, int err_fd, int report_fd,
						   const sigset_t *mask, const struct sigaction *pipe_action)
{
	int err;

	dup2(err_fd, STDERR_FILENO);
	sigaction(SIGPIPE, pipe_action, NULL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	execvp(argv[0], argv);
	err = errno;
	if (write(report_fd, &err, sizeof(err)) < 0)
		_exit(EXIT_OWN_FAILURE);
	_exit(err == ENOENT ? 127 : 126);
}

/* Forks the command. The report pipe tells "could not run" (it carries an
 * errno) from a command that exits 127 itself (the exec closes it: EOF). */
static int spawn(struct run *r, const sigset_t *child_mask, const struct sigaction *child_pipe)
{
	int err_pipe[2], report[2], err = 0;

	if (pipe2(err_pipe, O_CLOEXEC) < 0)
		return errno;
	if (pipe2(report, O_CLOEXEC) < 0) {
		err = errno;
		goto close_err_pipe;
	}
	r->pid = fork();
	if (r->pid == 0)
		exec_command(r->argv, err_pipe[1], report[1], child_mask, child_pipe);
	if (r->pid < 0)
		err = errno;
	close(report[1]);
	if (r->pid > 0 && read(report[0], &r->exec_errno, sizeof(r->exec_errno)) != sizeof(r->exec_errno))
		r->exec_errno = 0;
	close(report[0]);
close_err_pipe:
	close(err_pipe[1]);
	if (err)
		close(err_pipe[0]);
	else
		r->err_fd = err_pipe[0];
	return err;
}

/* Keeps the last TAIL_SIZE bytes, sliding the rest out (at most 4 KiB moved). */
static void tail_add(struct run *r, const char *p, size_t n)
{
	size_t keep = n >= TAIL_SIZE ? 0 : r->tail_len + n > TAIL_SIZE ? TAIL_SIZE - n : r->tail_len;

	if (n > TAIL_SIZE) {
		p += n - TAIL_SIZE;
		n = TAIL_SIZE;
	}
	memmove(r->tail, r->tail + r->tail_len - keep, keep);
	memcpy(r->tail + keep, p, n);
	r->tail_len = keep + n;
}

/* Copies up to max bytes of the command's stderr through and into the tail.
 * Our own stderr failing does not stop the copy: the pipe must be drained, or
 * the command would block on it. */
static ssize_t pass_stderr(struct run *r, size_t max)
{
	char buf[65536];
	ssize_t n = read(r->err_fd, buf, max < sizeof(buf) ? max : sizeof(buf));

	for (ssize_t done = 0, w; done < n; done += w)
		if ((w = write(STDERR_FILENO, buf + done, (size_t)(n - done))) < 0)
			break;
	if (n > 0)
		tail_add(r, buf, (size_t)n);
	return n;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the command, copying its stderr, relaying signals and beating the
 * heart; returns its wait status. ppoll has a timeout so that the heartbeat
 * goes on while the command is silent. */
static int supervise(struct run *r, const sigset_t *wait_mask)
{
	struct pollfd pfd = { .fd = r->err_fd, .events = POLLIN };
	int64_t next_beat = now_ms() + BEAT_MS;
	int wstatus = W_EXITCODE(EXIT_OWN_FAILURE, 0), left = 0;
	ssize_t n;

	while (waitpid(r->pid, &wstatus, WNOHANG) == 0) {
		int64_t wait = next_beat - now_ms() > 0 ? next_beat - now_ms() : 0;
		struct timespec ts = { .tv_sec = wait / 1000, .tv_nsec = wait % 1000 * 1000000 };

		if (ppoll(&pfd, 1, &ts, wait_mask) > 0 && pass_stderr(r, SIZE_MAX) <= 0)
			pfd.fd = -1; /* EOF: the command closed its stderr but may run on */
		for (size_t i = 0; i < COUNT(relayed_signals); i++) {
			if (to_relay[relayed_signals[i]]) {
				to_relay[relayed_signals[i]] = 0;
				kill(r->pid, relayed_signals[i]);
			}
		}
		if (now_ms() >= next_beat) {
			if (r->status_path)
				utimensat(AT_FDCWD, r->status_path, NULL, 0);
			next_beat = now_ms() + BEAT_MS;
		}
	}
	/* What the command wrote just before it exited is still in the pipe. Take
	 * only that: a background process of the command may hold the pipe open. */
	if (pfd.fd >= 0 && ioctl(r->err_fd, FIONREAD, &left) == 0)
		while (left > 0 && (n = pass_stderr(r, (size_t)left)) > 0)
			left -= (int)n;
	close(r->err_fd);
	return wstatus;
}

/* The finish value for how the command ended. Every part is bounded (the line
 * by the tail), so it stays far under the mount's 64 KiB. */
static void finish_value(struct text *v, const struct run *r, int wstatus)
{
	size_t start, end = r->tail_len;

	if (r->exec_errno) {
		text_add(v, "error: cannot run ", 18);
		text_add_clean(v, r->argv[0], strnlen(r->argv[0], TAIL_SIZE), false);
		text_printf(v, ": %s", strerror(r->exec_errno));
	} else if (WIFSIGNALED(wstatus)) {
		text_printf(v, "error: killed by signal %d", WTERMSIG(wstatus));
		if (sigabbrev_np(WTERMSIG(wstatus)))
			text_printf(v, " (SIG%s)", sigabbrev_np(WTERMSIG(wstatus)));
	} else if (WEXITSTATUS(wstatus) == 0) {
		text_add(v, "success", 7);
	} else {
		text_printf(v, "error: exit code %d", WEXITSTATUS(wstatus));
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
	char buf[16384];
	struct text value = { .p = buf, .cap = sizeof(buf) };
	int err;

	if (finished_by_command(r->status_path))
		return;
	finish_value(&value, r, wstatus);
	err = write_file(r->status_path, 0, value.p, value.len);
	/* EPERM: the command finished it after all, between our read and our write. */
	if (err && err != EPERM)
		fprintf(stderr, "execlog-run: warning: cannot finish execution %s: %s\n", r->id, strerror(err));
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: execlog-run [-m MOUNT] [-i ID] [-v TOOL_VERSION] [--] COMMAND [ARG...]\n"
		"Runs COMMAND and records it as an execution in a mounted execlogfs.\n\n"
		"  -m, --mount=MOUNT        the execlogfs mount point (default: $EXECLOG_MOUNT)\n"
		"  -i, --id=ID              the execution id (default: UTC start time, command, pid)\n"
		"  -v, --tool-version=TEXT  the tool_version to record (default: \"\")\n"
		"  -h, --help               print this help and exit\n"
		"      --version            print the version and exit\n\n"
		"COMMAND sees EXECLOG_ID and EXECLOG_STATUS; what it writes to $EXECLOG_STATUS\n"
		"finishes the execution instead. Without a usable mount it runs unrecorded.\n"
		"Exit status: COMMAND's, 128+N if it was killed by signal N, 126 or 127 if it\n"
		"could not be run, 125 if execlog-run itself failed.\n"
		"See execlog-run(1).\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' }, { "id", required_argument, NULL, 'i' },
		{ "tool-version", required_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 },
	};
	struct run r = { .tool_version = "", .err_fd = -1 };
	const char *mount = getenv("EXECLOG_MOUNT");
	char id[ID_MAX + 1];
	sigset_t old_mask, wait_mask;
	struct sigaction old_pipe;
	int opt, err, wstatus = W_EXITCODE(EXIT_OWN_FAILURE, 0);

	/* "+": options end at COMMAND, whose own options are left to it. */
	while ((opt = getopt_long(argc, argv, "+m:i:v:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'm': mount = optarg; break;
		case 'i': r.id = optarg; break;
		case 'v': r.tool_version = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("execlog-run %s\n", EXECLOG_VERSION); return 0;
		default: fprintf(stderr, "Try 'execlog-run --help'.\n"); return EXIT_OWN_FAILURE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "execlog-run: no COMMAND given\nTry 'execlog-run --help'.\n");
		return EXIT_OWN_FAILURE;
	}
	r.argv = argv + optind;
	if (!r.id) {
		make_id(id, sizeof(id), r.argv[0]);
		r.id = id;
	}
	/* Before the start, so that a SIGTERM from then on reaches the command and
	 * the execution is finished rather than left running. */
	catch_signals(&old_mask, &wait_mask, &old_pipe);

	if (!mount || !*mount)
		fprintf(stderr, "execlog-run: warning: cannot start execution %s: no mount (-m or EXECLOG_MOUNT); "
				"running the command unrecorded\n", r.id);
	else if ((err = start_execution(&r, mount)) != 0)
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

	err = spawn(&r, &old_mask, &old_pipe);
	if (err)
		r.exec_errno = err;
	else
		wstatus = supervise(&r, &wait_mask);
	if (r.exec_errno)
		fprintf(stderr, "execlog-run: cannot run %s: %s\n", r.argv[0], strerror(r.exec_errno));
	if (r.status_path)
		finish(&r, wstatus);
	free(r.status_path);
	return WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : WEXITSTATUS(wstatus);
}
