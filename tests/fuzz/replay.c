/*
 * replay.c - runs a fuzz target's LLVMFuzzerTestOneInput() on every file of
 * the directories (or on the files) named on the command line, so that the
 * corpus is replayed by every build, with any compiler and without libFuzzer.
 *
 * Each input is passed in a buffer of exactly its size, so a sanitized build
 * catches a read past its end. Files are taken in name order, each named on
 * stderr before it runs, so that the last name printed before a sanitizer
 * report or a violated invariant (which abort()s in the target) is the
 * input at fault. Fails if a directory holds no input.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Runs the target on the file at @path; -errno if it cannot be read. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *data = NULL;
	int err = 0;

	if (f == NULL)
		return -errno;
	if (fstat(fileno(f), &st) < 0) {
		err = -errno;
		goto close_file;
	}
	/* malloc(0) may give NULL: ask for one byte, hand over zero. */
	data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (data == NULL) {
		err = -ENOMEM;
		goto close_file;
	}
	if (st.st_size > 0 && fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		err = -EIO;
		goto free_data;
	}
	fprintf(stderr, "%s\n", path);
	LLVMFuzzerTestOneInput(data, (size_t)st.st_size);

free_data:
	free(data);
close_file:
	fclose(f);
	return err;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dot_files(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Replays every file of @dir; the count, or -errno. */
static int replay_dir(const char *dir)
{
	struct dirent **names;
	char path[4096];
	int n = scandir(dir, &names, skip_dot_files, by_name);
	int done = 0, err = 0;

	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (err == 0) {
			err = replay_file(path);
			if (err < 0)
				fprintf(stderr, "%s: %s\n", path, strerror(-err));
			done++;
		}
		free(names[i]);
	}
	free(names);
	return err < 0 ? err : done;
}

int main(int argc, char **argv)
{
	struct stat st;
	int status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int ret;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			ret = replay_dir(argv[i]);
			if (ret == 0)
				fprintf(stderr, "%s: no inputs\n", argv[i]);
			if (ret <= 0)
				status = 1;
			else
				printf("%s: %d inputs replayed\n", argv[i], ret);
		} else if ((ret = replay_file(argv[i])) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(-ret));
			status = 1;
		}
	}
	return status;
}
