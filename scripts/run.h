/*
 * run.h: what the parts of execlog-run share. execlog-run.c parses the
 * options and writes the start and the finish; run-relay.c runs the command
 * and relays (and captures) its output; run-text.c builds bounded text and
 * JSON.
 */
#ifndef EXECLOG_RUN_H
#define EXECLOG_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TAIL_SIZE 4096        /* how much error output is kept for the message */
#define BEAT_MS 500           /* half the contract's second, so a late beat is still in time */
#define EXIT_OWN_FAILURE 125  /* as env(1) and timeout(1): not one of the command's statuses */
#define BATCH_SIZE 65536      /* output is appended to output/<id> in writes of at most this */
#define BATCH_MS 100          /* and no byte waits longer than this for its write */
#define TAGS_MAX 32
#define COUNT(a) (sizeof(a) / sizeof(*(a)))

/* A buffer of fixed capacity: what does not fit is left out and sets full. */
struct text {
	char *p;
	size_t len, cap;
	bool full;
};

void text_add(struct text *t, const void *p, size_t n);
__attribute__((format(printf, 2, 3))) void text_printf(struct text *t, const char *fmt, ...);
size_t utf8_len(const unsigned char *s, size_t avail);
void text_add_clean(struct text *t, const char *s, size_t n, bool json);
void text_add_json(struct text *t, const char *s, size_t n);

/* A tag from -t KEY=VALUE: pointers into argv. */
struct run_tag {
	const char *key, *value;
	size_t key_len;
};

/* One stream of the command's output that execlog-run reads. */
struct run_stream {
	int fd;    /* the read end (a pipe, or the pseudo-terminal's master); -1 when done */
	int to;    /* the fd it is relayed to: 1 or 2 */
	bool tail; /* whether it feeds the message's tail (error output) */
	bool pipe; /* whether a broken `to` is passed on by closing fd (a pipe stays a pipe) */
};

struct run {
	char **argv;              /* the command and its arguments */
	const char *id, *tool_version;
	struct run_tag tags[TAGS_MAX];
	size_t ntags;
	char *status_path;        /* MOUNT/status/ID, or NULL when unrecorded */
	char *output_path;        /* MOUNT/output/ID, or NULL when output is not captured */
	pid_t pid;
	int exec_errno;           /* why the command could not be run, or 0 */
	char tail[TAIL_SIZE];     /* the last bytes of its error output */
	size_t tail_len;

	/* The relay (run-relay.c). */
	struct run_stream streams[2];
	size_t nstreams;
	int master;               /* the pseudo-terminal's master, or -1 */
	bool relay_stdin;         /* stdin is read and written to master */
	int out_fd;               /* output/<id>, or -1 */
	char *batch;              /* output read but not yet appended */
	size_t batch_len;
	int64_t batch_due;        /* when batch must be written (CLOCK_MONOTONIC ms), 0 if empty */
};

extern volatile sig_atomic_t run_to_relay[NSIG];
extern volatile sig_atomic_t run_winch;

int64_t now_ms(void);
void catch_signals(sigset_t *old_mask, sigset_t *wait_mask, struct sigaction *old_pipe);
void relay_setup(struct run *r);
int spawn(struct run *r, const sigset_t *child_mask, const struct sigaction *child_pipe);
int supervise(struct run *r, const sigset_t *wait_mask);
void tty_restore(void);

#endif
