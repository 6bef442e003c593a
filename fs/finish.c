/*
 * finish.c - a finish: the value written to status/<id>, checked, committed,
 * and the record's cached attributes dropped. The write callback and the
 * lifecycle thread (which finishes abandoned runs) both come here.
 */
#include <errno.h>
#include <stdlib.h>
#include <syslog.h>

#include "fs.h"
#include "record.h"

int fs_finish(struct fs *fs, const char *execution_id, int64_t id, const char *buf, size_t size)
{
	struct store_finish fin;
	char *message = NULL, *cut_note = NULL;
	int err;

	if (size > RECORD_FINISH_MAX)
		return fs_because(-EFBIG, "a finish value is at most %d bytes", RECORD_FINISH_MAX);
	err = record_parse_finish(buf, size, &fin, &message);
	/* The run this status file was opened for: never another started under its name since. */
	fin.only_id = id;
	/* A run whose output was cut says so in its record. */
	if (err == 0 && (cut_note = fs_output_cut_note(fs, id, fin.error_message)) != NULL)
		fin.error_message = cut_note;
	if (err == 0)
		err = store_finish(fs->store, execution_id, &fin, store_now_ms());
	if (err == 0) {
		fs_log(LOG_INFO, "finished %s: %s", execution_id, store_outcome_name(fin.outcome));
		/* The record's size and times changed; the kernel must ask again. */
		fuse_ino_t ino = fs_inodes_peek(fs->inodes, KIND_RECORD, id);

		if (ino != 0)
			fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
	}
	free(cut_note);
	free(message);
	return err;
}
