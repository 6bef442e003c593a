/*
 * fuzz_finish.c - libFuzzer target for record_parse_finish().
 *
 * The input is one write(2) to a status file. Whatever it holds, the parser
 * must answer 0, -EINVAL or -EFBIG as the contract says: -EFBIG exactly past
 * 64 KiB, -EINVAL for a NUL or invalid UTF-8 (judged by fuzz.h's own
 * validator). A value in words must get exactly the answer of the rule
 * written out here. A JSON object it accepts must read the same through
 * plain cJSON: only known keys, once each, with the outcome, message,
 * counts, exit code and signal it reported. An accepted value sets success,
 * error or partial, counts in 0..2^53, an exit code in 0..255 and a signal
 * in 1..64 or none (STORE_NULL, also for every value in words), and a
 * message that is valid UTF-8. Nothing may leak.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "record.h"

#define COUNT_MAX (INT64_C(1) << 53)

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void trim(const char **text, size_t *len)
{
	while (*len > 0 && space(**text)) {
		(*text)++;
		(*len)--;
	}
	while (*len > 0 && space((*text)[*len - 1]))
		(*len)--;
}

static bool same_word(const char *text, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(text, word, len) == 0;
}

/* A finish value in words, by the contract's rule: 0 or -EINVAL. */
static int reference_words(const char *text, size_t len, enum store_outcome *outcome,
			   const char **message, size_t *message_len)
{
	*message = NULL;
	*message_len = 0;
	if (len >= 6 && memcmp(text, "error:", 6) == 0) {
		*outcome = STORE_ERROR;
		text += 6;
		len -= 6;
		trim(&text, &len);
		if (len > 0) {
			*message = text;
			*message_len = len;
		}
		return 0;
	}
	if (same_word(text, len, "success"))
		*outcome = STORE_SUCCESS;
	else if (same_word(text, len, "error"))
		*outcome = STORE_ERROR;
	else if (same_word(text, len, "partial"))
		*outcome = STORE_PARTIAL;
	else
		return -EINVAL;
	return 0;
}

static void check_words(const char *text, size_t len, int ret,
			const struct store_finish *fin, const char *message)
{
	enum store_outcome outcome = STORE_RUNNING;
	const char *want;
	size_t want_len;

	FUZZ_CHECK(ret == reference_words(text, len, &outcome, &want, &want_len));
	if (ret < 0)
		return;
	FUZZ_CHECK(fin->outcome == outcome);
	FUZZ_CHECK(fin->files_indexed == 0 && fin->symbols_indexed == 0 &&
		   fin->references_indexed == 0);
	FUZZ_CHECK(fin->exit_code == STORE_NULL && fin->signal == STORE_NULL);
	if (want == NULL) {
		FUZZ_CHECK(message == NULL);
	} else {
		FUZZ_CHECK(message != NULL && strlen(message) == want_len);
		FUZZ_CHECK(memcmp(message, want, want_len) == 0);
	}
}

/* The count member @item (NULL if absent) must read as @count. */
static void check_count(const cJSON *item, int64_t count)
{
	if (item == NULL) {
		FUZZ_CHECK(count == 0);
		return;
	}
	FUZZ_CHECK(cJSON_IsNumber(item));
	FUZZ_CHECK(item->valuedouble == (double)count);
}

/* The member @item (NULL if absent) must read as @v, in [@lo, @hi], or STORE_NULL when absent. */
static void check_ranged(const cJSON *item, int64_t v, int64_t lo, int64_t hi)
{
	if (item == NULL) {
		FUZZ_CHECK(v == STORE_NULL);
		return;
	}
	FUZZ_CHECK(v >= lo && v <= hi);
	FUZZ_CHECK(cJSON_IsNumber(item) && item->valuedouble == (double)v);
}

/* An accepted JSON value, read again by plain cJSON. */
static void check_json(const char *text, size_t len, const struct store_finish *fin,
		       const char *message)
{
	static const char *const keys[] = {
		"outcome", "error_message", "files_indexed", "symbols_indexed",
		"references_indexed", "exit_code", "signal",
	};
	const size_t nkeys = sizeof(keys) / sizeof(keys[0]);
	const cJSON *found[sizeof(keys) / sizeof(keys[0])] = { NULL };
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, false);
	const cJSON *item;

	FUZZ_CHECK(doc != NULL && cJSON_IsObject(doc));
	FUZZ_CHECK(end == text + len);
	cJSON_ArrayForEach(item, doc) {
		size_t k = 0;

		while (k < nkeys && strcmp(item->string, keys[k]) != 0)
			k++;
		FUZZ_CHECK(k < nkeys);
		FUZZ_CHECK(found[k] == NULL);
		found[k] = item;
	}
	FUZZ_CHECK(cJSON_IsString(found[0]));
	FUZZ_CHECK(strcmp(found[0]->valuestring, store_outcome_name(fin->outcome)) == 0);
	if (cJSON_IsString(found[1]))
		FUZZ_CHECK(message != NULL && strcmp(found[1]->valuestring, message) == 0);
	else
		FUZZ_CHECK(message == NULL && (found[1] == NULL || cJSON_IsNull(found[1])));
	check_count(found[2], fin->files_indexed);
	check_count(found[3], fin->symbols_indexed);
	check_count(found[4], fin->references_indexed);
	check_ranged(found[5], fin->exit_code, 0, 255);
	check_ranged(found[6], fin->signal, 1, 64);
	cJSON_Delete(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	const char *text = buf;
	size_t text_len = size;
	static char unset[] = "unset";
	struct store_finish fin;
	char *message = unset;
	int ret;

	ret = record_parse_finish(buf, size, &fin, &message);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -EFBIG);
	FUZZ_CHECK((ret == -EFBIG) == (size > RECORD_FINISH_MAX));
	if (ret < 0) {
		FUZZ_CHECK(message == NULL);
		FUZZ_CHECK(store_reason()[0] != '\0');
		if (ret == -EFBIG)
			return 0;
	}
	if (!fuzz_utf8_valid(data, size)) {
		FUZZ_CHECK(ret == -EINVAL);
		return 0;
	}
	trim(&text, &text_len);
	if (ret == 0) {
		FUZZ_CHECK(fin.outcome == STORE_SUCCESS || fin.outcome == STORE_ERROR ||
			   fin.outcome == STORE_PARTIAL);
		FUZZ_CHECK(fin.files_indexed >= 0 && fin.files_indexed <= COUNT_MAX);
		FUZZ_CHECK(fin.symbols_indexed >= 0 && fin.symbols_indexed <= COUNT_MAX);
		FUZZ_CHECK(fin.references_indexed >= 0 && fin.references_indexed <= COUNT_MAX);
		FUZZ_CHECK(fin.error_message == message);
		FUZZ_CHECK(message == NULL ||
			   fuzz_utf8_valid((const unsigned char *)message, strlen(message)));
	}
	if (text_len > 0 && text[0] == '{') {
		if (ret == 0)
			check_json(text, text_len, &fin, message);
	} else if (text_len == 0) {
		FUZZ_CHECK(ret == -EINVAL);
	} else {
		check_words(text, text_len, ret, &fin, message);
	}
	free(message);
	return 0;
}
