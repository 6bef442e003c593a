/*
 * run-relay.c: runs execlog-run's command, relays its output and captures it.
 *
 * relay_setup() chooses, before the fork, what the command is given:
 * - Without capture (--no-output, an unrecorded run, output/<id> that cannot
 *   be opened): stdin and stdout are inherited; stderr is a pipe copied to
 *   ours, its tail kept for the message.
 * - With capture and stdout not a terminal: pipes, so that a pipe stays a
 *   pipe — one for stdout and stderr when they are the same file (their order
 *   is then kept exactly, as a `2>&1` gives it), else one each.
 * - With capture and stdout a terminal: a pseudo-terminal, as script(1) runs
 *   one: the command's session has it as controlling terminal, with the
 *   user's terminal settings and window size (SIGWINCH passed on); a stdin
 *   that is a terminal is replaced by it too, and relayed to it with the
 *   user's terminal in raw mode, restored on every exit path (tty_restore),
 *   when we are in that terminal's foreground. A stderr that is not that
 *   terminal keeps a pipe.
 * Each stream goes to the fd the command would have written (unchanged), and
 * to output/<id> in the order read, in batches: one write(2) (one committed
 * append) of at most BATCH_SIZE bytes, at most BATCH_MS after its first byte.
 * A capture that fails warns once and stops; the relay never does.
 *
 * The heartbeat has a thread of its own: the relay blocks while the user's
 * end is full (`| less`, paused), as the command would without us, and a run
 * must not be abandoned under -o stale_after for that.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

#define DRAIN_MAX (4 << 20) /* what a terminal gives after the command's exit, at most */
#define DRAIN_QUIET_MS 100  /* and how long it may be silent before we stop waiting */

static const int relayed_signals[] = { SIGINT, SIGTERM, SIGQUIT, SIGHUP };
volatile sig_atomic_t run_to_relay[NSIG];
volatile sig_atomic_t run_winch;
/* On a pseudo-terminal the command has a session of its own, so what the
 * user's terminal sends us never reaches it by itself: relay that too. */
static volatile sig_atomic_t relay_kernel;
static struct termios saved_tty;
static bool tty_raw; /* the user's terminal is in raw mode now */
/* The fds the command gets as 0, 1 and 2 (-1: ours, inherited). */
static int child_fd[3] = { -1, -1, -1 };

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Notes a signal for relaying to the command. One that the terminal sent
 * (SI_KERNEL: Ctrl-C, Ctrl-\) went to the whole foreground process group, the
 * command included unless it is on a pseudo-terminal, and relaying it would
 * deliver it twice. SIGCHLD only has to wake ppoll. */
static void on_signal(int sig, siginfo_t *info, void *context)
{
	(void)context;
	if (sig == SIGWINCH)
		run_winch = 1;
	else if (sig != SIGCHLD && (relay_kernel || info->si_code != SI_KERNEL))
		run_to_relay[sig] = 1;
}

/* Catches the relayed signals, SIGWINCH and SIGCHLD, blocked except while in
 * ppoll so that none slips in between a check and the wait. A signal ignored
 * when we started stays ignored, for the command too (nohup, background jobs). */
void catch_signals(sigset_t *old_mask, sigset_t *wait_mask, struct sigaction *old_pipe)
{
	struct sigaction catch = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO | SA_NOCLDSTOP };
	struct sigaction ignore = { .sa_handler = SIG_IGN }, old;
	sigset_t blocked;

	sigemptyset(&blocked);
	sigaddset(&blocked, SIGCHLD);
	sigaddset(&blocked, SIGWINCH);
	for (size_t i = 0; i < COUNT(relayed_signals); i++)
		sigaddset(&blocked, relayed_signals[i]);
	sigprocmask(SIG_BLOCK, &blocked, old_mask);
	*wait_mask = *old_mask;
	sigdelset(wait_mask, SIGCHLD);
	sigdelset(wait_mask, SIGWINCH);
	sigaction(SIGCHLD, &catch, NULL);
	sigaction(SIGWINCH, &catch, NULL);
	for (size_t i = 0; i < COUNT(relayed_signals); i++) {
		sigdelset(wait_mask, relayed_signals[i]);
		sigaction(relayed_signals[i], NULL, &old);
		if (old.sa_handler != SIG_IGN)
			sigaction(relayed_signals[i], &catch, NULL);
	}
	/* Losing our stdout or stderr must not kill us before the finish; the
	 * command gets back the SIGPIPE disposition it would have had. */
	sigaction(SIGPIPE, &ignore, old_pipe);
}

void tty_restore(void)
{
	if (tty_raw)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tty);
	tty_raw = false;
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void add_stream(struct run *r, int fd, int to, bool tail, bool pipe)
{
	r->streams[r->nstreams++] = (struct run_stream){ .fd = fd, .to = to, .tail = tail, .pipe = pipe };
}

/* A pipe read as a stream relayed to fd `to`: its write end (for the
 * command), or -1 with errno set. */
static int add_pipe(struct run *r, int to, bool tail)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	add_stream(r, p[0], to, tail, true);
	return p[1];
}

/* The pseudo-terminal: its master in r->master and a stream, its slave the
 * command's stdout (and stdin, stderr where they are that terminal too).
 * 0 or an errno. */
static int setup_pty(struct run *r)
{
	char name[128];
	struct termios tio;
	struct winsize ws;
	int slave, w;

	r->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (r->master < 0)
		return errno;
	if (grantpt(r->master) < 0 || unlockpt(r->master) < 0 || ptsname_r(r->master, name, sizeof(name)) != 0 ||
	    (slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		int err = errno;

		close(r->master);
		r->master = -1;
		return err;
	}
	if (tcgetattr(STDOUT_FILENO, &tio) == 0)
		tcsetattr(slave, TCSANOW, &tio);
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(slave, TIOCSWINSZ, &ws);
	/* Non-blocking, so that a command not reading its input never blocks
	 * the relay of its output; reads wait in ppoll. */
	fcntl(r->master, F_SETFL, fcntl(r->master, F_GETFL) | O_NONBLOCK);
	child_fd[1] = slave;
	if (isatty(STDERR_FILENO) && same_file(STDOUT_FILENO, STDERR_FILENO)) {
		child_fd[2] = slave;
		add_stream(r, r->master, STDOUT_FILENO, true, false);
	} else {
		add_stream(r, r->master, STDOUT_FILENO, false, false);
		if ((w = add_pipe(r, STDERR_FILENO, true)) < 0)
			return errno;
		child_fd[2] = w;
	}
	/* A terminal on stdin is replaced too: the command, in a session of its
	 * own, would otherwise read it behind the shell's back. What is typed is
	 * passed on when we are in the terminal's foreground (else the command
	 * waits for input, as a background job would). */
	if (isatty(STDIN_FILENO))
		child_fd[0] = slave;
	if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp() && tcgetattr(STDIN_FILENO, &saved_tty) == 0) {
		tio = saved_tty;
		cfmakeraw(&tio);
		r->relay_stdin = true;
		tty_raw = tcsetattr(STDIN_FILENO, TCSANOW, &tio) == 0;
	}
	relay_kernel = 1;
	return 0;
}

static int setup_pipes(struct run *r)
{
	if (same_file(STDOUT_FILENO, STDERR_FILENO)) {
		if ((child_fd[1] = child_fd[2] = add_pipe(r, STDOUT_FILENO, true)) < 0)
			return errno;
	} else if ((child_fd[1] = add_pipe(r, STDOUT_FILENO, false)) < 0 ||
		   (child_fd[2] = add_pipe(r, STDERR_FILENO, true)) < 0) {
		return errno;
	}
	return 0;
}

static void close_child_fds(void)
{
	for (int i = 0; i < 3; i++) {
		int fd = child_fd[i];

		for (int j = i; j < 3; j++)
			if (child_fd[j] == fd)
				child_fd[j] = -1;
		if (fd >= 0)
			close(fd);
	}
}

/* Back to no capture: the streams made so far are closed. */
static void undo_capture(struct run *r)
{
	close_child_fds();
	for (size_t i = 0; i < r->nstreams; i++)
		close(r->streams[i].fd);
	r->nstreams = 0;
	r->master = -1;
	r->relay_stdin = false;
	relay_kernel = 0;
	tty_restore();
	if (r->out_fd >= 0)
		close(r->out_fd);
	r->out_fd = -1;
}

/* Opens output/<id> and gives the command pipes or a pseudo-terminal; without
 * capture, or when any of that fails (with a warning), only the stderr pipe.
 * A failure of that pipe is left to spawn (nothing to relay: fds inherited). */
void relay_setup(struct run *r)
{
	int err = 0, w;

	r->master = r->out_fd = -1;
	if (r->output_path) {
		r->out_fd = open(r->output_path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (r->out_fd < 0 || !(r->batch = malloc(BATCH_SIZE)))
			err = errno;
		else
			err = isatty(STDOUT_FILENO) ? setup_pty(r) : setup_pipes(r);
		if (err) {
			fprintf(stderr, "execlog-run: warning: cannot capture the output of execution %s in %s: %s; "
					"running the command without capture\n", r->id, r->output_path, strerror(err));
			undo_capture(r);
		}
	}
	if (r->out_fd < 0 && (w = add_pipe(r, STDERR_FILENO, true)) >= 0)
		child_fd[2] = w;
}

/* In the child: execs the command on its fds, or reports why not through the
 * close-on-exec report pipe and exits as a shell would. */
__attribute__((noreturn)) static void exec_command(const struct run *r, int report_fd, const sigset_t *mask,
						   const struct sigaction *pipe_action)
{
	int err;

	if (r->master >= 0) {
		setsid();
		ioctl(child_fd[1], TIOCSCTTY, 0);
	}
	for (int i = 0; i < 3; i++)
		if (child_fd[i] >= 0)
			dup2(child_fd[i], i);
	sigaction(SIGPIPE, pipe_action, NULL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	execvp(r->argv[0], r->argv);
	err = errno;
	if (write(report_fd, &err, sizeof(err)) < 0)
		_exit(EXIT_OWN_FAILURE);
	_exit(err == ENOENT ? 127 : 126);
}

/* Forks the command. The report pipe tells "could not run" (it carries an
 * errno) from a command that exits 127 itself (the exec closes it: EOF). */
int spawn(struct run *r, const sigset_t *child_mask, const struct sigaction *child_pipe)
{
	int report[2], err = 0;

	if (pipe2(report, O_CLOEXEC) < 0) {
		err = errno;
		goto close_child;
	}
	r->pid = fork();
	if (r->pid == 0)
		exec_command(r, report[1], child_mask, child_pipe);
	if (r->pid < 0)
		err = errno;
	close(report[1]);
	if (r->pid > 0 && read(report[0], &r->exec_errno, sizeof(r->exec_errno)) != sizeof(r->exec_errno))
		r->exec_errno = 0;
	close(report[0]);
close_child:
	close_child_fds();
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

/* Appends the batch to output/<id> in one write(2). The first failure (EFBIG
 * at the cap, ENOSPC, an unmount) warns and ends the capture. */
static void batch_flush(struct run *r)
{
	for (size_t done = 0; r->out_fd >= 0 && done < r->batch_len;) {
		ssize_t w = write(r->out_fd, r->batch + done, r->batch_len - done);

		if (w > 0) {
			done += (size_t)w;
		} else if (w == 0 || errno != EINTR) {
			fprintf(stderr, "execlog-run: warning: cannot capture more output of execution %s in %s: %s\n",
				r->id, r->output_path, w == 0 ? "short write" : strerror(errno));
			close(r->out_fd);
			r->out_fd = -1;
		}
	}
	r->batch_len = 0;
	r->batch_due = 0;
}

static void capture_add(struct run *r, const char *p, size_t n)
{
	while (r->out_fd >= 0 && n > 0) {
		size_t k = n < BATCH_SIZE - r->batch_len ? n : BATCH_SIZE - r->batch_len;

		memcpy(r->batch + r->batch_len, p, k);
		r->batch_len += k;
		p += k;
		n -= k;
		if (r->batch_len == BATCH_SIZE)
			batch_flush(r);
	}
	if (r->batch_len > 0 && r->batch_due == 0)
		r->batch_due = now_ms() + BATCH_MS;
}

/* Writes all of p to fd, waiting where fd is non-blocking: 0 or an errno. */
static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			poll(&pfd, 1, -1);
		} else if (w < 0 && errno != EINTR) {
			return errno;
		} else if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
	}
	return 0;
}

static void stream_close(struct run_stream *s)
{
	close(s->fd);
	s->fd = -1;
}

/* Reads up to max bytes of a stream: relays them, keeps the tail and captures
 * them. Returns what read(2) did. A pipe whose reader is gone is closed, so
 * that the command sees EPIPE as it would have. Our own fd failing otherwise
 * does not stop the copy: the stream must be drained, or the command would
 * block on it. */
static ssize_t stream_read(struct run *r, struct run_stream *s, size_t max)
{
	char buf[65536];
	ssize_t n = read(s->fd, buf, max < sizeof(buf) ? max : sizeof(buf));

	if (n <= 0)
		return n;
	if (s->tail)
		tail_add(r, buf, (size_t)n);
	capture_add(r, buf, (size_t)n);
	if (write_all(s->to, buf, (size_t)n) == EPIPE && s->pipe)
		stream_close(s);
	return n;
}

/* What the command wrote just before it exited. A pipe: only what is in it
 * now, as a background process of the command may hold it open. A terminal:
 * until it hangs up, or is quiet (its writes reach the master asynchronously). */
static void drain(struct run *r, struct run_stream *s)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	size_t total = 0;
	int left = 0;
	ssize_t n;

	if (s->fd < 0)
		return;
	if (s->fd != r->master && ioctl(s->fd, FIONREAD, &left) == 0)
		while (s->fd >= 0 && left > 0 && (n = stream_read(r, s, (size_t)left)) > 0)
			left -= (int)n;
	if (s->fd == r->master)
		while (total < DRAIN_MAX && poll(&pfd, 1, DRAIN_QUIET_MS) > 0 && (n = stream_read(r, s, SIZE_MAX)) > 0)
			total += (size_t)n;
	if (s->fd >= 0)
		stream_close(s);
}

/* Passes stdin to the terminal; pending holds what the master did not take
 * yet. Stops at stdin's end or error. */
static void relay_input(struct run *r, char *pending, size_t *len, short revents)
{
	ssize_t n;

	if (*len == 0 && revents) {
		n = read(STDIN_FILENO, pending, 4096);
		if (n > 0)
			*len = (size_t)n;
		else if (n == 0 || (errno != EINTR && errno != EAGAIN))
			r->relay_stdin = false;
	}
	if (*len > 0) {
		n = write(r->master, pending, *len);
		if (n > 0) {
			memmove(pending, pending + n, *len - (size_t)n);
			*len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			*len = 0;
			r->relay_stdin = false;
		}
	}
}

/* After a wake-up: signals relayed, the window size passed on. */
static void pass_signals(struct run *r)
{
	struct winsize ws;

	for (size_t i = 0; i < COUNT(relayed_signals); i++) {
		if (run_to_relay[relayed_signals[i]]) {
			run_to_relay[relayed_signals[i]] = 0;
			kill(r->pid, relayed_signals[i]);
		}
	}
	if (run_winch) {
		run_winch = 0;
		if (r->master >= 0 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
			ioctl(r->master, TIOCSWINSZ, &ws);
	}
}

/* One wait in ppoll and what it woke for. */
static void relay_once(struct run *r, const sigset_t *wait_mask, int64_t until, char *pending, size_t *pending_len)
{
	struct pollfd pfd[3];
	size_t n = 0;
	int64_t wait = until - now_ms() > 0 ? until - now_ms() : 0;
	struct timespec ts = { .tv_sec = wait / 1000, .tv_nsec = wait % 1000 * 1000000 };

	for (size_t i = 0; i < r->nstreams; i++)
		pfd[n++] = (struct pollfd){ .fd = r->streams[i].fd, .events = POLLIN };
	if (r->relay_stdin)
		pfd[n++] = *pending_len ? (struct pollfd){ .fd = r->master, .events = POLLOUT }
					: (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	if (ppoll(pfd, n, &ts, wait_mask) > 0) {
		for (size_t i = 0; i < r->nstreams; i++) {
			struct run_stream *s = &r->streams[i];
			ssize_t got;

			if (pfd[i].revents && s->fd >= 0 && (got = stream_read(r, s, SIZE_MAX)) <= 0 && s->fd >= 0 &&
			    (got == 0 || (errno != EAGAIN && errno != EINTR)))
				stream_close(s); /* the command closed it, but may run on */
		}
		if (r->relay_stdin)
			relay_input(r, pending, pending_len, pfd[n - 1].revents);
	}
}

/* Touches the status file every BEAT_MS until the write end of beat_pipe is
 * closed. It blocks every signal: they are the main thread's to relay. */
static int beat_pipe[2] = { -1, -1 };

static void *beat(void *status_path)
{
	struct pollfd pfd = { .fd = beat_pipe[0], .events = POLLIN };

	while (poll(&pfd, 1, BEAT_MS) == 0)
		utimensat(AT_FDCWD, status_path, NULL, 0);
	return NULL;
}

/* Starts the heartbeat thread: whether it runs (if not, the relay loop beats). */
static bool beat_start(struct run *r, pthread_t *thread)
{
	sigset_t all, old;
	bool ok;

	if (!r->status_path || pipe2(beat_pipe, O_CLOEXEC) < 0)
		return false;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ok = pthread_create(thread, NULL, beat, r->status_path) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ok) {
		close(beat_pipe[0]);
		close(beat_pipe[1]);
	}
	return ok;
}

static void beat_stop(pthread_t thread)
{
	close(beat_pipe[1]);
	pthread_join(thread, NULL);
	close(beat_pipe[0]);
}

/* Waits for the command, relaying its output, signals and window size, writing
 * the batches (and beating the heart, if its thread could not be started);
 * returns its wait status. */
int supervise(struct run *r, const sigset_t *wait_mask)
{
	int64_t next_beat = now_ms() + BEAT_MS;
	int wstatus = W_EXITCODE(EXIT_OWN_FAILURE, 0);
	char pending[4096];
	size_t pending_len = 0;
	pthread_t beat_thread;
	bool beating = beat_start(r, &beat_thread);

	while (waitpid(r->pid, &wstatus, WNOHANG) == 0) {
		int64_t until = r->batch_due && r->batch_due < next_beat ? r->batch_due : next_beat;

		relay_once(r, wait_mask, until, pending, &pending_len);
		pass_signals(r);
		if (r->batch_due && now_ms() >= r->batch_due)
			batch_flush(r);
		if (now_ms() >= next_beat) {
			if (r->status_path && !beating)
				utimensat(AT_FDCWD, r->status_path, NULL, 0);
			next_beat = now_ms() + BEAT_MS;
		}
	}
	for (size_t i = 0; i < r->nstreams; i++)
		drain(r, &r->streams[i]);
	batch_flush(r);
	if (beating)
		beat_stop(beat_thread);
	if (r->out_fd >= 0)
		close(r->out_fd);
	r->out_fd = -1;
	return wstatus;
}
