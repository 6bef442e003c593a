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
 * The reason for a refusal decided in fs/; when empty, the refusal came
 * from the store and store_reason() has it. (The store keeps its own until
 * store.h lets fs/ set it: then this buffer goes.)
 */
static _Thread_local char fs_reason_buf[256];

int fs_because(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fs_reason_buf, sizeof(fs_reason_buf), fmt, ap);
	va_end(ap);
	return err;
}

void fs_clear_reason(void)
{
	fs_reason_buf[0] = '\0';
}

const char *fs_reason(void)
{
	return fs_reason_buf[0] ? fs_reason_buf : store_reason();
}
