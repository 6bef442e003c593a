/*
 * options.c - execlogfs's own -o options, the [STORE] MOUNTPOINT arguments,
 * the default store, and which backend a path holds. Options that libfuse
 * knows pass through to it; those that only mount(8) and fstab mean are
 * dropped here, since mount.fuse3 passes some of them on.
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

/*
 * The bounds of the numeric options: past them a value is a typing error,
 * and the lifecycle's arithmetic (days and seconds in milliseconds) would
 * overflow. A century, a trillion runs, and 64 TiB, more than a 47-bit
 * address space maps comfortably for LMDB.
 */
#define FS_MAX_DAYS 36525LL
#define FS_MAX_SECONDS (FS_MAX_DAYS * 86400)
#define FS_MAX_COUNT 1000000000000LL
#define FS_MAX_MAP (1LL << 46)
#define FS_MAX_OUTPUT (1LL << 40) /* 1 TiB of output for one run */

enum {
	KEY_RO,
	KEY_ALLOW_OTHER,
	KEY_FUSE_NUMBER,
	KEY_FSNAME,
	KEY_MOUNT_ONLY,
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
	FS_OPT("output_max=%s", output_max_text),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("max_read=", KEY_FUSE_NUMBER),
	FUSE_OPT_KEY("max_threads=", KEY_FUSE_NUMBER),
	FUSE_OPT_KEY("max_idle_threads=", KEY_FUSE_NUMBER),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	/* For mount(8) and fstab only (x-* too, in fs_opt_proc); nothing to the filesystem. */
	FUSE_OPT_KEY("defaults", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("auto", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("noauto", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("nofail", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("_netdev", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("user", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("nouser", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("users", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("owner", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("group", KEY_MOUNT_ONLY),
	FUSE_OPT_KEY("comment=", KEY_MOUNT_ONLY),
	FUSE_OPT_END
};

/* Reads @text as a whole number from @min to @max into *value; -EINVAL if it is not one. */
static int fs_number_in(const char *text, long long min, long long max, long long *value)
{
	char *end;

	errno = 0;
	*value = strtoll(text, &end, 10);
	if (errno || end == text || *end != '\0' || *value < min || *value > max)
		return -EINVAL;
	return 0;
}

/*
 * The numeric options of libfuse, which reads them with sscanf("%u") and
 * so wraps a value that overflows: checked here first. main uses at most
 * 100000 threads.
 */
static const struct {
	const char *name;
	long long min, max;
} fs_fuse_numbers[] = {
	{ "max_read=", 0, UINT_MAX },
	{ "max_threads=", 1, 100000 },
	{ "max_idle_threads=", 0, 100000 },
};

/* Checks the libfuse option @arg (name=value) against its bounds; sets max_read. */
static int fs_fuse_number(struct fs_options *o, const char *arg)
{
	size_t len;
	long long n;

	for (size_t i = 0; i < sizeof(fs_fuse_numbers) / sizeof(fs_fuse_numbers[0]); i++) {
		len = strlen(fs_fuse_numbers[i].name);
		if (strncmp(arg, fs_fuse_numbers[i].name, len) != 0)
			continue;
		if (fs_number_in(arg + len, fs_fuse_numbers[i].min, fs_fuse_numbers[i].max, &n) != 0) {
			if (asprintf(&o->parse_error, "bad option %s (a whole number from %lld to %lld)",
				     arg, fs_fuse_numbers[i].min, fs_fuse_numbers[i].max) < 0)
				o->parse_error = NULL;
			return -1;
		}
		/* libfuse wants init() to ask for the max_read it was given. */
		if (i == 0)
			o->max_read = (unsigned)n;
	}
	return 1; /* and libfuse takes it */
}

/* Keeps the first two words that are no option ([STORE] MOUNTPOINT) and counts the rest. */
static int fs_take_word(struct fs_options *o, const char *arg)
{
	if (o->nwords < 2 && (o->words[o->nwords] = strdup(arg)) == NULL)
		return -1;
	o->nwords++;
	return 0; /* fs_options_parse gives the mount point back to libfuse */
}

static int fs_opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct fs_options *o = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT)
		return fs_take_word(o, arg);
	if (key == FUSE_OPT_KEY_OPT && strncmp(arg, "x-", 2) == 0)
		return 0; /* x-systemd.automount and the like: for mount(8) and systemd */
	if (key == KEY_MOUNT_ONLY)
		return 0;
	if (key == KEY_RO)
		o->read_only = true;
	else if (key == KEY_ALLOW_OTHER)
		o->allow_other = true;
	else if (key == KEY_FUSE_NUMBER)
		return fs_fuse_number(o, arg);
	else if (key == KEY_FSNAME)
		o->fsname_given = true;
	return 1; /* keep everything else for libfuse */
}

int fs_options_parse(struct fuse_args *args, struct fs_options *o)
{
	const char *mountpoint;

	if (fuse_opt_parse(args, o, fs_opt_spec, fs_opt_proc) != 0) {
		return fs_because(-EINVAL, "%s", o->parse_error ? o->parse_error
								  : "bad options (see execlogfs --help)");
	}
	if (o->nwords > 2) {
		return fs_because(-EINVAL, "too many arguments (usage: execlogfs [STORE] MOUNTPOINT [-o OPTION...])");
	}
	if (o->nwords == 2) {
		if (o->db != NULL) {
			return fs_because(-EINVAL, "the store is given twice, as %s and as -o db=: give one",
				 o->words[0]);
		}
		if (o->words[0][0] == '\0') {
			return fs_because(-EINVAL, "an empty STORE (give a path or a connection string)");
		}
		/* STORE is what db= would name, as sshfs takes host:dir first. */
		o->db = o->words[0];
		o->words[0] = NULL;
	}
	if (o->nwords == 0)
		return 0;
	mountpoint = o->words[o->nwords > 1];
	/* A mount point that looks like an option stays a mount point. */
	if ((mountpoint[0] == '-' && fuse_opt_add_arg(args, "--") != 0) ||
	    fuse_opt_add_arg(args, mountpoint) != 0) {
		return fs_because(-ENOMEM, "out of memory");
	}
	return 0;
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

/*
 * Reads the value of -o @name=@text, a whole number from 1 to @max; NULL
 * text leaves 0.
 */
static int fs_parse_number(const char *name, const char *text, long long max, int64_t *value)
{
	long long n;

	if (text == NULL)
		return 0;
	if (fs_number_in(text, 1, max, &n) != 0) {
		return fs_because(-EINVAL, "bad option %s=%s (a whole number from 1 to %lld)", name, text, max);
	}
	*value = n;
	return 0;
}

/* Whether @name is exactly one of the built-in backends (store_backends()). */
static bool fs_backend_built_in(const char *name)
{
	const char *p = store_backends();
	size_t len;

	while (*p != '\0') {
		len = strcspn(p, ", ");
		if (len == strlen(name) && strncmp(p, name, len) == 0)
			return true;
		p += len;
		p += strspn(p, ", ");
	}
	return false;
}

/*
 * The store's path in @path (PATH_MAX bytes): the default store under the
 * user's data directory, a connection string as given, or db= made absolute.
 */
static int fs_store_path(struct fs_options *o, char *path)
{
	char home[PATH_MAX];
	const char *found = NULL;
	int err;

	if (o->db == NULL) {
		err = fs_data_home(home, sizeof(home));
		if (err)
			return fs_because(err, "no home directory for the default store; give -o db=PATH");
		if (snprintf(path, PATH_MAX, "%.*s/execlogfs/execlog.%s", PATH_MAX - 32, home,
			     o->store && strcmp(o->store, "lmdb") == 0 ? "lmdb" : "sqlite") >= PATH_MAX)
			return fs_because(-ENAMETOOLONG, "the default store's path is too long");
		o->default_store = true;
	} else if (!store_takes_path(o->store ? o->store
					      : store_detect(o->db, &found) == 0 ? found : NULL)) {
		/* A connection string, not a path: it stays as given. */
		if (snprintf(path, PATH_MAX, "%s", o->db) >= PATH_MAX)
			return fs_because(-ENAMETOOLONG, "the connection string is too long");
	} else {
		err = fs_absolute(o->db, path, PATH_MAX);
		if (err)
			return fs_because(err, "bad store path %s: %s", o->db, strerror(-err));
	}
	return 0;
}

int fs_options_resolve(struct fs_options *o)
{
	char path[PATH_MAX];
	const char *found = NULL;
	int err;

	if (o->sync && strcmp(o->sync, "normal") != 0 && strcmp(o->sync, "full") != 0)
		return fs_because(-EINVAL, "bad option sync=%s (normal or full)", o->sync);
	o->output_max = STORE_OUTPUT_MAX_DEFAULT;
	if (fs_parse_number("map_max", o->map_max_text, FS_MAX_MAP, (int64_t *)&o->map_max) ||
	    fs_parse_number("output_max", o->output_max_text, FS_MAX_OUTPUT,
			    (int64_t *)&o->output_max) ||
	    fs_parse_number("stale_after", o->stale_after_text, FS_MAX_SECONDS, &o->stale_after) ||
	    fs_parse_number("keep_days", o->keep_days_text, FS_MAX_DAYS, &o->keep_days) ||
	    fs_parse_number("keep_count", o->keep_count_text, FS_MAX_COUNT, &o->keep_count))
		return -EINVAL;
	if (o->store && !fs_backend_built_in(o->store))
		return fs_because(-EINVAL, "bad option store=%s (built in: %s)", o->store, store_backends());
	if (o->db == NULL && !store_takes_path(o->store))
		return fs_because(-EINVAL, "store=%s needs -o db= (a connection string)", o->store);
	err = fs_store_path(o, path);
	if (err)
		return err;
	free(o->db);
	o->db = strdup(path);
	if (o->store == NULL) {
		err = store_detect(o->db, &found);
		if (err == -ENOENT)
			found = "sqlite"; /* a new store is SQLite, the default */
		else if (err)
			return err; /* store_detect gave the reason */
		o->store = strdup(found);
	}
	if (o->db == NULL || o->store == NULL)
		return fs_because(-ENOMEM, "out of memory");
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
	free(o->output_max_text);
	free(o->words[0]);
	free(o->words[1]);
	free(o->parse_error);
	memset(o, 0, sizeof(*o));
}

void fs_usage(const char *prog)
{
	printf("usage: %s [STORE] MOUNTPOINT [options]\n"
	       "\n"
	       "Mounts an execution log: each run of a tool is MOUNTPOINT/<id>.json;\n"
	       "create new/<id> to start one, write status/<id> to finish it.\n"
	       "STORE is what -o db= names (a path, or a PostgreSQL connection string),\n"
	       "as mount(8) and /etc/fstab pass it: mount -t fuse.execlogfs STORE MOUNTPOINT.\n"
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
	       "    -o output_max=BYTES    the most output one run keeps in output/<id>\n"
	       "                           (default: 16 MiB; a write past it gives EFBIG)\n"
	       "    -o ro                  read-only: every change gives EROFS\n"
	       "\n",
	       prog);
}
