/*
 * log.c - fs_log (stderr in the foreground, syslog for a daemon) and the
 * reason for a refusal (see log.h). No FUSE here: main, the callbacks, the
 * lifecycle thread and the start session all log through it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include "log.h"
#include "store.h"

static bool fs_log_to_stderr = true;

void fs_log_to_syslog(void)
{
	fs_log_to_stderr = false;
	openlog("execlogfs", LOG_PID, LOG_DAEMON);
}

void fs_log(int priority, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (fs_log_to_stderr && priority > LOG_NOTICE && !getenv("EXECLOGFS_VERBOSE"))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Names and values come from writers: no control byte may forge a line. */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (fs_log_to_stderr)
		fprintf(stderr, "execlogfs: %s\n", line);
	else
		syslog(priority, "%s", line);
}

/*
 * The reason for a refusal is the store's one facility (store_reason()):
 * a refusal decided here sets it as a store call's refusal does, and the
 * log line names whichever came last.
 */
int fs_because(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err = store_vfail(err, fmt, ap);
	va_end(ap);
	return err;
}

void fs_clear_reason(void)
{
	store_reason_clear();
}

const char *fs_reason(void)
{
	return store_reason();
}
