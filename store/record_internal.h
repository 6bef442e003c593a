/*
 * record_internal.h - the stored record's fields, shared by the two files
 * that know its document: record.c reads it back, record_render.c writes
 * it. Read by those two only.
 */
#ifndef EXECLOG_RECORD_INTERNAL_H
#define EXECLOG_RECORD_INTERNAL_H

#include "scan.h"

/* The record, in the contract's order; record_to_json() writes this order. */
enum {
	REC_ID,
	REC_EXECUTION_ID,
	REC_TOOL_VERSION,
	REC_ARGS,
	REC_ROOT,
	REC_DB_PATH,
	REC_STARTED_AT,
	REC_FINISHED_AT,
	REC_DURATION_MS,
	REC_OUTCOME,
	REC_ERROR_MESSAGE,
	REC_FILES,
	REC_SYMBOLS,
	REC_REFERENCES,
	REC_MAGELLAN_FIELDS, /* a document of an older execlogfs ends here */
	REC_EXIT_CODE = REC_MAGELLAN_FIELDS,
	REC_SIGNAL,
	REC_HOST,
	REC_USER,
	REC_UID,
	REC_PID,
	REC_CWD,
	REC_TAGS,
	REC_OUTPUT_BYTES,
	REC_FIELDS
};

/* Each field's key and kind, by REC_*: the record's schema (record.c). */
extern const struct field record_fields[REC_FIELDS];

#endif
