/*
 * fuzz_start.c - libFuzzer target for start documents: record_scan_*() and
 * record_parse_start(), then record_to_json() and record_from_json() on
 * what parses.
 *
 * The input is the content a user writes to new/<name>. It is fed to a scan
 * in one piece, byte by byte, and in chunks whose sizes come from a hash of
 * the input. Every feed must answer MORE, DONE, -EINVAL or -EFBIG (-EFBIG
 * exactly for the feed that passes 1 MiB), an error must stick, DONE may
 * only stay DONE or fail, and the scan is blank exactly while only JSON
 * white space came. Every split must reach the same verdict (past 1 MiB:
 * -EINVAL or -EFBIG, depending on how much was scanned), and
 * record_parse_start() on the whole input must agree with it: DONE or
 * blank parses, an error is the same error, MORE otherwise is "incomplete".
 * What parses is put in a record (with integers from the hash) that is
 * rendered and read back: every field must come back equal, tags included;
 * the tags it accepted must keep the contract's rules, judged here apart
 * from scan.c. The same input
 * is also read as a stored record (LMDB keeps records as these documents):
 * refused with -EINVAL, or read into a record that renders and reads back
 * the same. A violation abort()s; nothing may leak.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "record.h"

/* How the input is cut into writes. */
enum split {
	SPLIT_WHOLE,
	SPLIT_BYTES,
	SPLIT_HASHED,
	SPLITS
};

/* What a scan said after the last feed. */
struct scan_result {
	int ret;
	bool blank;
};

static uint64_t hash_input(const uint8_t *data, size_t size)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * UINT64_C(0x100000001b3);
	return h;
}

static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15)); /* splitmix64 */

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* The length of the next write, at most @left (> 0). */
static size_t chunk_len(enum split split, uint64_t *state, size_t left)
{
	uint64_t r;
	size_t n;

	if (split == SPLIT_WHOLE)
		return left;
	if (split == SPLIT_BYTES)
		return 1;
	r = next_random(state);
	switch (r & 3) {
	case 0: n = 1 + (r >> 8) % 4; break;
	case 1: n = 1 + (r >> 8) % 64; break;
	case 2: n = 1 + (r >> 8) % 65536; break;
	default: n = left; break;
	}
	return n < left ? n : left;
}

static bool json_space(uint8_t b)
{
	return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

/* One feed of @n bytes, bringing the total to @total, went from @prev to @ret. */
static void check_feed(int prev, int ret, size_t total)
{
	FUZZ_CHECK(ret == RECORD_SCAN_MORE || ret == RECORD_SCAN_DONE ||
		   ret == -EINVAL || ret == -EFBIG);
	FUZZ_CHECK((ret == -EFBIG) == (total > RECORD_START_MAX));
	if (prev == RECORD_SCAN_DONE)
		FUZZ_CHECK(ret != RECORD_SCAN_MORE);
	if (ret < 0)
		FUZZ_CHECK(store_reason()[0] != '\0');
}

static struct scan_result scan_split(const uint8_t *data, size_t size, enum split split,
				     uint64_t seed)
{
	struct record_scan *sc = record_scan_new();
	struct scan_result res = { RECORD_SCAN_MORE, true };
	bool all_space = true;
	size_t off = 0;

	FUZZ_CHECK(sc != NULL);
	FUZZ_CHECK(record_scan_blank(sc));
	while (off < size) {
		size_t n = chunk_len(split, &seed, size - off);
		int prev = res.ret;

		res.ret = record_scan_feed(sc, (const char *)data + off, n);
		check_feed(prev, res.ret, off + n);
		if (res.ret < 0)
			break;
		for (size_t i = off; i < off + n; i++)
			all_space = all_space && json_space(data[i]);
		off += n;
		FUZZ_CHECK(record_scan_blank(sc) == all_space);
	}
	/* An empty write changes nothing; after an error every write fails alike. */
	FUZZ_CHECK(record_scan_feed(sc, "", 0) == res.ret);
	if (res.ret < 0)
		FUZZ_CHECK(record_scan_feed(sc, " ", 1) == res.ret);
	res.blank = record_scan_blank(sc);
	FUZZ_CHECK(res.ret >= 0 || !res.blank);
	FUZZ_CHECK(!res.blank || res.ret == RECORD_SCAN_MORE);
	record_scan_free(sc);
	return res;
}

/* Every split agrees; returns the verdict of the byte-by-byte one. */
static struct scan_result scan_all_splits(const uint8_t *data, size_t size, uint64_t seed)
{
	struct scan_result res[SPLITS];

	for (int s = 0; s < SPLITS; s++)
		res[s] = scan_split(data, size, (enum split)s, seed);
	if (size > RECORD_START_MAX) {
		/* One write of it all is refused unread; smaller ones are read first. */
		FUZZ_CHECK(res[SPLIT_WHOLE].ret == -EFBIG);
		FUZZ_CHECK(res[SPLIT_BYTES].ret == -EINVAL || res[SPLIT_BYTES].ret == -EFBIG);
		if (res[SPLIT_BYTES].ret == -EFBIG)
			FUZZ_CHECK(res[SPLIT_HASHED].ret == -EFBIG);
		else
			FUZZ_CHECK(res[SPLIT_HASHED].ret == -EINVAL ||
				   res[SPLIT_HASHED].ret == -EFBIG);
		return res[SPLIT_BYTES];
	}
	for (int s = 1; s < SPLITS; s++) {
		FUZZ_CHECK(res[s].ret == res[0].ret);
		FUZZ_CHECK(res[s].blank == res[0].blank);
	}
	return res[SPLIT_BYTES];
}

static int64_t pick_int(uint64_t *state)
{
	static const int64_t special[] = {
		0, 1, -1, INT64_MIN, INT64_MAX, INT64_C(1) << 53, INT64_C(1700000000),
	};
	uint64_t r = next_random(state);

	if (r & 1)
		return special[(r >> 1) % (sizeof(special) / sizeof(special[0]))];
	return (int64_t)next_random(state);
}

static bool same_string(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same_tags(const struct store_record *a, const struct store_record *b)
{
	if (a->ntags != b->ntags || (a->tags == NULL) != (b->tags == NULL))
		return false;
	for (size_t i = 0; i < a->ntags; i++) {
		if (!same_string(a->tags[i].key, b->tags[i].key) ||
		    !same_string(a->tags[i].value, b->tags[i].value))
			return false;
	}
	return true;
}

static bool tag_key_valid(const char *key)
{
	size_t len = strlen(key);

	if (len == 0 || len > STORE_TAG_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = key[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* The tags of a parsed start keep the contract's rules. */
static void check_start_tags(const struct store_record *rec)
{
	FUZZ_CHECK(rec->ntags <= STORE_TAGS_MAX);
	FUZZ_CHECK((rec->ntags == 0) == (rec->tags == NULL));
	for (size_t i = 0; i < rec->ntags; i++) {
		const char *value = rec->tags[i].value;

		FUZZ_CHECK(tag_key_valid(rec->tags[i].key));
		FUZZ_CHECK(strlen(value) <= STORE_TAG_VALUE_MAX);
		FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)value, strlen(value)));
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(rec->tags[i].key, rec->tags[j].key) != 0);
	}
}

/* @rec is rendered, read back, and must come back equal. */
static void check_render_read(const struct store_record *rec)
{
	struct store_record back = { 0 };
	size_t len = 0;
	char *text = record_to_json(rec, &len);

	size_t measured = 0;

	FUZZ_CHECK(text != NULL && strlen(text) == len);
	FUZZ_CHECK(record_json_size(rec, &measured) == 0 && measured == len);
	FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)text, len));
	FUZZ_CHECK(record_from_json(text, len, &back) == 0);
	FUZZ_CHECK(back.id == rec->id);
	FUZZ_CHECK(same_string(back.execution_id, rec->execution_id));
	FUZZ_CHECK(same_string(back.tool_version, rec->tool_version));
	FUZZ_CHECK(same_string(back.args, rec->args));
	FUZZ_CHECK(same_string(back.root, rec->root));
	FUZZ_CHECK(same_string(back.db_path, rec->db_path));
	FUZZ_CHECK(back.started_at == rec->started_at);
	FUZZ_CHECK(back.finished_at == rec->finished_at);
	FUZZ_CHECK(back.duration_ms == rec->duration_ms);
	FUZZ_CHECK(same_string(back.outcome, rec->outcome));
	FUZZ_CHECK(same_string(back.error_message, rec->error_message));
	FUZZ_CHECK(back.files_indexed == rec->files_indexed);
	FUZZ_CHECK(back.symbols_indexed == rec->symbols_indexed);
	FUZZ_CHECK(back.references_indexed == rec->references_indexed);
	FUZZ_CHECK(back.exit_code == rec->exit_code && back.signal == rec->signal);
	FUZZ_CHECK(same_string(back.host, rec->host) && same_string(back.user, rec->user));
	FUZZ_CHECK(back.uid == rec->uid && back.pid == rec->pid);
	FUZZ_CHECK(same_string(back.cwd, rec->cwd));
	FUZZ_CHECK(same_tags(&back, rec));
	FUZZ_CHECK(back.output_bytes == rec->output_bytes);
	FUZZ_CHECK(back.started_ms == 0 && back.heartbeat_ms == 0);
	store_record_clear(&back);
	free(text);
}

/* What parsed, in every string field of a record, is rendered and read back. */
static void check_round_trip(const struct store_record *start, uint64_t seed)
{
	struct store_record rec = {
		.id = pick_int(&seed),
		.execution_id = start->db_path,
		.tool_version = start->tool_version,
		.args = start->args,
		.root = start->root,
		.db_path = start->db_path,
		.started_at = pick_int(&seed),
		.finished_at = pick_int(&seed),
		.duration_ms = pick_int(&seed),
		.outcome = start->tool_version,
		.error_message = start->root,
		.files_indexed = pick_int(&seed),
		.symbols_indexed = pick_int(&seed),
		.references_indexed = pick_int(&seed),
		.exit_code = pick_int(&seed),
		.signal = pick_int(&seed),
		.host = start->cwd,
		.user = start->root,
		.uid = pick_int(&seed),
		.pid = pick_int(&seed),
		.cwd = start->cwd,
		.tags = start->tags,
		.ntags = start->ntags,
		.output_bytes = pick_int(&seed),
	};

	check_render_read(&rec);
}

/* The input read as a stored record: refused, or read into one that round-trips. */
static void check_stored(const uint8_t *data, size_t size)
{
	struct store_record rec = { .id = 1 };
	int ret = record_from_json((const char *)data, size, &rec);

	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	if (ret < 0) {
		FUZZ_CHECK(rec.id == 0 && rec.execution_id == NULL && rec.args == NULL &&
			   rec.tags == NULL && rec.ntags == 0);
		return;
	}
	FUZZ_CHECK(rec.execution_id != NULL && rec.tool_version != NULL && rec.args != NULL &&
		   rec.db_path != NULL && rec.outcome != NULL);
	check_render_read(&rec);
	store_record_clear(&rec);
}

/* A parsed start: the four fields, valid UTF-8, defaults for a blank one. */
static void check_parsed(const struct store_record *rec, bool blank)
{
	FUZZ_CHECK(rec->tool_version != NULL && rec->args != NULL && rec->db_path != NULL);
	FUZZ_CHECK(rec->execution_id == NULL && rec->outcome == NULL && rec->id == 0);
	FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)rec->tool_version,
				   strlen(rec->tool_version)));
	FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)rec->db_path, strlen(rec->db_path)));
	FUZZ_CHECK(rec->root == NULL ||
		   fuzz_utf8_valid((const unsigned char *)rec->root, strlen(rec->root)));
	FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *)rec->args, strlen(rec->args)));
	FUZZ_CHECK(rec->args[0] == '[' && rec->args[strlen(rec->args) - 1] == ']');
	FUZZ_CHECK(rec->cwd == NULL ||
		   fuzz_utf8_valid((const unsigned char *)rec->cwd, strlen(rec->cwd)));
	check_start_tags(rec);
	if (blank) {
		FUZZ_CHECK(strcmp(rec->tool_version, "") == 0 && strcmp(rec->args, "[]") == 0);
		FUZZ_CHECK(rec->root == NULL && strcmp(rec->db_path, "") == 0);
		FUZZ_CHECK(rec->cwd == NULL && rec->ntags == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t seed = hash_input(data, size);
	struct scan_result scan = scan_all_splits(data, size, seed);
	struct store_record rec = { 0 };
	int ret = record_parse_start((const char *)data, size, &rec);

	check_stored(data, size);
	if (size > RECORD_START_MAX)
		FUZZ_CHECK(ret == -EFBIG);
	else if (scan.ret < 0)
		FUZZ_CHECK(ret == scan.ret);
	else if (scan.ret == RECORD_SCAN_DONE || scan.blank)
		FUZZ_CHECK(ret == 0);
	else
		FUZZ_CHECK(ret == -EINVAL && strstr(store_reason(), "incomplete") != NULL);
	if (ret < 0) {
		FUZZ_CHECK(rec.tool_version == NULL && rec.args == NULL && rec.root == NULL &&
			   rec.db_path == NULL && rec.cwd == NULL && rec.tags == NULL);
		return 0;
	}
	check_parsed(&rec, scan.blank);
	check_round_trip(&rec, seed);
	store_record_clear(&rec);
	return 0;
}
