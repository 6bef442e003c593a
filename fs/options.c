/*
 * options.c - execlogfs's own -o options, the default store, and which
 * backend a path holds. Options that libfuse knows pass through to it.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

enum {
	KEY_RO,
	KEY_ALLOW_OTHER,
	KEY_MAX_READ,
	KEY_FSNAME,
};

#define FS_OPT(t, field) { t, offsetof(struct fs_options, field), 1 }

static const struct fuse_opt fs_opt_spec[] = {
	FS_OPT("store=%s", store),
	FS_OPT("db=%s", db),
	FS_OPT("sync=%s", sync),
	FS_OPT("map_max=%s", map_max_text),
	FS_OPT("stale_after=%s", stale_after_text),
	FS_OPT("keep_days=%s", keep_days_text),
	FS_OPT("keep_count=%s", keep_count_text),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("max_read=", KEY_MAX_READ),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	FUSE_OPT_END
};

static int fs_opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct fs_options *o = data;

	(void)outargs;
	if (key == KEY_RO)
		o->read_only = true;
	else if (key == KEY_ALLOW_OTHER)
		o->allow_other = true;
	else if (key == KEY_MAX_READ)
		/* libfuse wants init() to ask for the max_read it was given. */
		o->max_read = (unsigned)strtoul(arg + strlen("max_read="), NULL, 10);
	else if (key == KEY_FSNAME)
		o->fsname_given = true;
	return 1; /* keep everything for libfuse */
}

int fs_options_parse(struct fuse_args *args, struct fs_options *o)
{
	return fuse_opt_parse(args, o, fs_opt_spec, fs_opt_proc) == 0 ? 0 : -EINVAL;
}

/* $XDG_DATA_HOME, or ~/.local/share when it is unset or empty. */
static int fs_data_home(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (xdg && xdg[0] == '/')
		return snprintf(buf, size, "%s", xdg) < (int)size ? 0 : -ENAMETOOLONG;
	if (home == NULL || home[0] == '\0') {
		pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (home == NULL)
		return -ENOENT;
	return snprintf(buf, size, "%s/.local/share", home) < (int)size ? 0 : -ENAMETOOLONG;
}

int fs_make_parents(const char *path)
{
	char dir[PATH_MAX];

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* @path made absolute (daemons chdir to /), in @buf. */
static int fs_absolute(const char *path, char *buf, size_t size)
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return snprintf(buf, size, "%s", path) < (int)size ? 0 : -ENAMETOOLONG;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -errno;
	return snprintf(buf, size, "%s/%s", cwd, path) < (int)size ? 0 : -ENAMETOOLONG;
}

/* Reads the value of -o @name=@text, a positive decimal number; NULL text leaves 0. */
static int fs_parse_number(const char *name, const char *text, int64_t *value,
			   char *msg, size_t msglen)
{
	char *end;

	if (text == NULL)
		return 0;
	errno = 0;
	*value = strtoll(text, &end, 10);
	if (errno || end == text || *end != '\0' || *value <= 0) {
		snprintf(msg, msglen, "bad option %s=%s (a positive whole number)", name, text);
		return -EINVAL;
	}
	return 0;
}

int fs_options_resolve(struct fs_options *o, char *msg, size_t msglen)
{
	char path[PATH_MAX], home[PATH_MAX];
	const char *found = NULL;
	int err;

	if (o->sync && strcmp(o->sync, "normal") != 0 && strcmp(o->sync, "full") != 0) {
		snprintf(msg, msglen, "bad option sync=%s (normal or full)", o->sync);
		return -EINVAL;
	}
	if (fs_parse_number("map_max", o->map_max_text, (int64_t *)&o->map_max, msg, msglen) ||
	    fs_parse_number("stale_after", o->stale_after_text, &o->stale_after, msg, msglen) ||
	    fs_parse_number("keep_days", o->keep_days_text, &o->keep_days, msg, msglen) ||
	    fs_parse_number("keep_count", o->keep_count_text, &o->keep_count, msg, msglen))
		return -EINVAL;
	if (o->store && strstr(store_backends(), o->store) == NULL) {
		snprintf(msg, msglen, "bad option store=%s (built in: %s)", o->store, store_backends());
		return -EINVAL;
	}
	if (o->db == NULL && !store_takes_path(o->store)) {
		snprintf(msg, msglen, "store=%s needs -o db= (a connection string)", o->store);
		return -EINVAL;
	}
	if (o->db == NULL) {
		err = fs_data_home(home, sizeof(home));
		if (err) {
			snprintf(msg, msglen, "no home directory for the default store; give -o db=PATH");
			return err;
		}
		if (snprintf(path, sizeof(path), "%.*s/execlogfs/execlog.%s", PATH_MAX - 32, home,
			     o->store && strcmp(o->store, "lmdb") == 0 ? "lmdb" : "sqlite") >= (int)sizeof(path)) {
			snprintf(msg, msglen, "the default store's path is too long");
			return -ENAMETOOLONG;
		}
		o->default_store = true;
	} else if (!store_takes_path(o->store ? o->store
					      : store_detect(o->db, &found) == 0 ? found : NULL)) {
		/* A connection string, not a path: it stays as given. */
		if (snprintf(path, sizeof(path), "%s", o->db) >= (int)sizeof(path)) {
			snprintf(msg, msglen, "the connection string is too long");
			return -ENAMETOOLONG;
		}
	} else {
		err = fs_absolute(o->db, path, sizeof(path));
		if (err) {
			snprintf(msg, msglen, "bad store path %s: %s", o->db, strerror(-err));
			return err;
		}
	}
	free(o->db);
	o->db = strdup(path);
	if (o->store == NULL) {
		err = store_detect(o->db, &found);
		if (err == -ENOENT)
			found = "sqlite"; /* a new store is SQLite, the default */
		else if (err) {
			snprintf(msg, msglen, "%s", store_reason());
			return err;
		}
		o->store = strdup(found);
	}
	if (o->db == NULL || o->store == NULL) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

void fs_options_free(struct fs_options *o)
{
	free(o->store);
	free(o->db);
	free(o->sync);
	free(o->map_max_text);
	free(o->stale_after_text);
	free(o->keep_days_text);
	free(o->keep_count_text);
	memset(o, 0, sizeof(*o));
}

void fs_usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n"
	       "\n"
	       "Mounts an execution log: each run of a tool is MOUNTPOINT/<id>.json;\n"
	       "create new/<id> to start one, write status/<id> to finish it.\n"
	       "See execlogfs(1).\n"
	       "\n"
	       "execlogfs options:\n"
	       "    -o store=sqlite|lmdb|postgres\n"
	       "                           the store's backend (default: what db= holds, else sqlite)\n"
	       "    -o db=PATH             the store: a SQLite file, or an LMDB directory\n"
	       "                           (default: $XDG_DATA_HOME/execlogfs/execlog.sqlite)\n"
	       "    -o db=CONNINFO         with store=postgres: a libpq connection string\n"
	       "    -o sync=normal|full    normal: survives a crash of the daemon (default);\n"
	       "                           full: every acknowledged change survives power loss\n"
	       "    -o map_max=BYTES       LMDB: never grow the map past BYTES (default: no limit)\n"
	       "    -o stale_after=SECONDS finish runs with no heartbeat for that long as\n"
	       "                           error \"abandoned: ...\" (default: off)\n"
	       "    -o keep_days=N         delete finished runs started over N days ago (default: off)\n"
	       "    -o keep_count=N        keep only the N most recent finished runs (default: off)\n"
	       "    -o ro                  read-only: every change gives EROFS\n"
	       "\n",
	       prog);
}
