/*
 * provenance.c - what the store layer knows of provenance: a record's tags
 * (copied and freed), the tool of an args text (what by-tool/ lists), and
 * the listing of a view's values, handed to the backend.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "record.h"

void store_tags_free(struct store_tag *tags, size_t n)
{
	for (size_t i = 0; tags != NULL && i < n; i++) {
		free(tags[i].key);
		free(tags[i].value);
	}
	free(tags);
}

int store_tags_copy(const struct store_tag *tags, size_t n, struct store_tag **out)
{
	struct store_tag *copy = NULL;

	*out = NULL;
	if (n == 0)
		return 0;
	copy = calloc(n, sizeof(*copy));
	if (copy == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		copy[i].key = strdup(tags[i].key);
		copy[i].value = strdup(tags[i].value);
		if (copy[i].key == NULL || copy[i].value == NULL) {
			store_tags_free(copy, i + 1);
			return -ENOMEM;
		}
	}
	*out = copy;
	return 0;
}

/* The first string of an args text, kept by store_first_arg(). */
struct store_first {
	char *arg;
	bool out_of_memory;
};

static int store_first_arg(void *ctx, const char *arg, size_t len)
{
	struct store_first *first = ctx;

	first->arg = strndup(arg, len);
	first->out_of_memory = first->arg == NULL;
	return 1; /* one is enough */
}

int store_tool_of(const char *args, char **tool)
{
	struct store_first found = { 0 };
	char *first;
	const char *slash;

	*tool = NULL;
	/* A text that is not an array of strings has no tool: the fault is not this caller's. */
	if (record_args_each(args, store_first_arg, &found) == -ENOMEM || found.out_of_memory)
		return -ENOMEM;
	first = found.arg;
	if (first == NULL)
		return 0;
	slash = strrchr(first, '/');
	if (slash != NULL)
		memmove(first, slash + 1, strlen(slash + 1) + 1);
	if (first[0] == '\0') {
		free(first);
		return 0;
	}
	*tool = first;
	return 0;
}

int store_list_values(struct store *s, enum store_attr attr, store_value_fn fn, void *ctx)
{
	if (attr <= STORE_ATTR_NONE || attr >= STORE_ATTRS)
		return store_fail(-EINVAL, "no such view");
	if (s->ops->list_values == NULL)
		return store_fail(-EOPNOTSUPP, "%s: no views by provenance", s->ops->name);
	return s->ops->list_values(s, attr, fn, ctx);
}
