/*
 * fuzz_name.c - libFuzzer target for record_name_check().
 *
 * The input, cut at its first NUL as a path component would be, is checked
 * by record_name_check() and by the contract's rule written out here
 * (1-128 bytes of A-Z a-z 0-9 . _ : @ + -, no leading '.', ENAMETOOLONG past
 * 255 bytes); the two must give the same answer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "record.h"

/* The contract's rule, byte by byte. */
static int reference_name_check(const char *name)
{
	size_t len = strlen(name);

	if (len > 255)
		return -ENAMETOOLONG;
	if (len == 0 || len > 128 || name[0] == '.')
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
		      c == '@' || c == '+' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = malloc(size + 1);
	int ret;

	FUZZ_CHECK(name != NULL);
	memcpy(name, data, size);
	name[size] = '\0';
	ret = record_name_check(name);
	FUZZ_CHECK(ret == reference_name_check(name));
	FUZZ_CHECK(ret == 0 || store_reason()[0] != '\0');
	free(name);
	FUZZ_CHECK(record_name_check(NULL) == -EINVAL);
	return 0;
}
