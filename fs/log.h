/*
 * log.h - the driver's log and its one reason facility, without FUSE (the
 * start session and the unit tests use them as the callbacks do).
 *
 * A refusal says why once: fs_because() sets this thread's reason where fs/
 * decides a refusal; where the store decided it, store_reason() has it, and
 * fs_reason() gives whichever is this refusal's.
 */
#ifndef EXECLOG_FS_LOG_H
#define EXECLOG_FS_LOG_H

#include <stdbool.h>

/* Logs to stderr (refusals and worse, unless $EXECLOGFS_VERBOSE) or to syslog. */
void fs_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* From now on fs_log writes to syslog (a daemon has no stderr). */
void fs_log_to_syslog(void);

/* Sets this thread's reason for a refusal decided in fs/, and returns @err. */
int fs_because(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Forgets this thread's reason: a new request begins. */
void fs_clear_reason(void);

/* This thread's reason: fs/'s own if one is set, else store_reason(); "" if none. */
const char *fs_reason(void);

#endif
