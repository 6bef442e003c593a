/*
 * main.c - execlogfs: parse the command line, open the store, mount, serve,
 * and unmount cleanly on SIGTERM or fusermount3 -u.
 *
 * Every problem found before mounting (a bad option, a store that cannot be
 * opened or is of the other kind, a missing mount point) is one line on
 * stderr and a non-zero exit, and leaves an existing store as it was.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "fs.h"

/* How long SIGTERM waits for releases the kernel still holds. */
#define FS_DRAIN_MS 5000

/* One line on stderr, the way every refusal of the command line looks. */
static int fs_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fs_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("execlogfs: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return status;
}

static bool fs_unmounted;
static pthread_t fs_loop_thread; /* the thread that runs the FUSE loop */
static atomic_bool fs_loop_over;  /* the loop has returned: signals change nothing */

/* SIGUSR1 only interrupts the loop thread's wait, so that it sees the exit. */
static void fs_wake(int sig)
{
	(void)sig;
}

/* Unmounts once; only main calls it, when no worker uses the session any more. */
static void fs_unmount_once(struct fs *fs)
{
	if (!fs_unmounted) {
		fs_unmounted = true;
		fuse_session_exit(fs->se);
		fuse_session_unmount(fs->se);
	}
}

/*
 * Waits for SIGTERM, SIGINT or SIGHUP. Before unmounting it lets the kernel
 * deliver the releases it still holds for files already closed, so that
 * every start whose close had returned is committed; unmounting then ends
 * the loop (its reads fail with ENODEV).
 */
static void *fs_signal_thread(void *arg)
{
	struct fs *fs = arg;
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigwait(&set, &sig) != 0 || atomic_load(&fs_loop_over))
		return NULL;
	fs_log(LOG_INFO, "unmounting on signal %d", sig);
	if (!fs_pending_drain(fs->pending, FS_DRAIN_MS))
		fs_log(LOG_WARNING, "unmounting with starts still being written");
	/*
	 * The unmount itself is main's, once the loop has returned: it closes
	 * the session's descriptor, which workers still read and reply on
	 * until then (a number closed under them could be reused by the
	 * store's next open). Here the loop is told to end, and its thread is
	 * interrupted until it has seen that (a wake that comes just before it
	 * blocks again would be lost), so that it stops its workers.
	 */
	fuse_session_exit(fs->se);
	while (!atomic_load(&fs_loop_over)) {
		pthread_kill(fs_loop_thread, SIGUSR1);
		usleep(50000);
	}
	return NULL;
}

/*
 * @db as messages may show it: a connection string's password (password=
 * or the user:password@ of a URI) is replaced by ***. Sets @buf.
 */
static const char *fs_db_shown(const char *db, char *buf, size_t size)
{
	const char *p = strstr(db, "password="), *end;
	const char *scheme = strstr(db, "://"), *at, *colon;

	if (p != NULL && (p == db || p[-1] == ' ' || p[-1] == '\t')) {
		p += strlen("password=");
		end = *p == '\'' ? strchr(p + 1, '\'') : p + strcspn(p, " \t");
		end = end == NULL ? p + strlen(p) : end + (*p == '\'');
		snprintf(buf, size, "%.*s***%s", (int)(p - db), db, end);
		return buf;
	}
	if (scheme != NULL && (at = strchr(scheme + 3, '@')) != NULL &&
	    (colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3))) != NULL) {
		snprintf(buf, size, "%.*s***%s", (int)(colon + 1 - db), db, at);
		return buf;
	}
	return db;
}

static int fs_open_store(struct fs *fs)
{
	struct store_options so = {
		.read_only = fs->opts.read_only,
		.sync = fs->opts.sync && strcmp(fs->opts.sync, "full") == 0 ? STORE_SYNC_FULL
									   : STORE_SYNC_NORMAL,
		.map_max_bytes = fs->opts.map_max,
	};

	return store_open(fs->opts.store, fs->opts.db, &so, &fs->store);
}

static int fs_serve(struct fs *fs, struct fuse_cmdline_opts *cl)
{
	struct fuse_loop_config *config;
	pthread_t sig_thread;
	sigset_t set;
	int ret;

	/* Signals go to one thread only, which drains before it unmounts. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	fs_loop_thread = pthread_self();
	sigaction(SIGUSR1, &(struct sigaction){ .sa_handler = fs_wake }, NULL); /* no SA_RESTART */
	if (pthread_create(&sig_thread, NULL, fs_signal_thread, fs) != 0)
		return fs_die(1, "cannot start the signal thread");
	/* A shared store tells of changes made elsewhere; a local one has no need. */
	ret = store_watch(fs->store, fs_changed_elsewhere, fs);
	if (ret != 0 && ret != -EOPNOTSUPP)
		fs_log(LOG_WARNING, "changes made by other hosts show within a second, not at once: %s",
		       store_reason());
	ret = fs_lifecycle_start(fs);
	if (ret != 0) {
		ret = fs_die(1, "cannot start the lifecycle thread: %s", strerror(-ret));
		goto stop_signals;
	}

	if (cl->singlethread) {
		ret = fuse_session_loop(fs->se);
	} else {
		config = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(config, cl->clone_fd);
		/* libfuse leaves these unset (-1) unless -o max_threads= or max_idle_threads= was given. */
		if (cl->max_threads > 0 && cl->max_threads <= 100000)
			fuse_loop_cfg_set_max_threads(config, cl->max_threads);
		if (cl->max_idle_threads <= 100000)
			fuse_loop_cfg_set_idle_threads(config, cl->max_idle_threads);
		ret = fuse_session_loop_mt(fs->se, config);
		fuse_loop_cfg_destroy(config);
	}
	fs_lifecycle_stop(fs);
stop_signals:
	/*
	 * The loop has returned (an unmount, or a signal): the signal thread
	 * must be gone before main frees what it uses, even if a SIGTERM
	 * arrives now. If it is draining for a signal, that ends in 5 s.
	 */
	atomic_store(&fs_loop_over, true);
	pthread_kill(sig_thread, SIGTERM);
	pthread_join(sig_thread, NULL);
	return ret;
}

/*
 * Reads the command line into @fs's options and @cl; -1 to go on and mount,
 * else the status to exit with (--help, --version, or a refusal said).
 */
static int fs_command_line(struct fuse_args *args, struct fuse_cmdline_opts *cl, struct fs *fs,
			   const char *prog)
{
	struct stat st;

	if (fs_options_parse(args, &fs->opts) != 0)
		return fs_die(2, "%s", fs_reason());
	if (fuse_parse_cmdline(args, cl) != 0)
		return 2;
	if (cl->show_help) {
		fs_usage(prog);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		return 0;
	}
	if (cl->show_version) {
		printf("execlogfs %s\n", EXECLOG_VERSION);
		fflush(stdout); /* before libfuse's lines, which fusermount3 prints */
		fuse_lowlevel_version();
		return 0;
	}
	if (cl->mountpoint == NULL)
		return fs_die(2, "no mount point given (usage: execlogfs [STORE] MOUNTPOINT [-o OPTION...])");
	if (stat(cl->mountpoint, &st) != 0 || !S_ISDIR(st.st_mode))
		return fs_die(1, "mount point %s %s", cl->mountpoint,
			      errno == ENOENT ? "does not exist" : "is not a directory");
	if (fs_options_resolve(&fs->opts) != 0)
		return fs_die(2, "%s", fs_reason());
	if (fs->opts.allow_other)
		fuse_opt_add_arg(args, "-odefault_permissions");
	fuse_opt_add_arg(args, fs->opts.fsname_given ? "-osubtype=execlogfs"
						       : "-ofsname=execlogfs,subtype=execlogfs");
	return -1;
}

/*
 * This host's name, read once: the host of every start through the mount
 * (a rename of the host shows at the next mount). NULL, and the records'
 * host null, when the system cannot say.
 */
static char *fs_host_name(void)
{
	char name[HOST_NAME_MAX + 1] = "";

	if (gethostname(name, sizeof(name)) != 0 || name[0] == '\0') {
		fs_log(LOG_WARNING, "this host has no name to record (%s): starts get host null",
		       strerror(errno));
		return NULL;
	}
	name[HOST_NAME_MAX] = '\0'; /* POSIX leaves a cut name unterminated */
	return strdup(name);
}

/* The mount's tables, empty; 0 or -ENOMEM (fs_tables_free frees what was made). */
static int fs_tables_new(struct fs *fs, const struct fuse_cmdline_opts *cl)
{
	fs->uid = getuid();
	fs->gid = getgid();
	fs->foreground = cl->foreground;
	fs->multithreaded = !cl->singlethread;
	clock_gettime(CLOCK_REALTIME, &fs->mounted);
	fs->pending = fs_pending_new();
	fs->handles = fs_handles_new();
	fs->reports = report_cache_new();
	fs->inodes = fs_inodes_new();
	fs->badnames = fs_badnames_new();
	fs->values = fs_values_new();
	fs->host = fs_host_name();
	if (fs->pending == NULL || fs->handles == NULL || fs->reports == NULL ||
	    fs->inodes == NULL || fs->badnames == NULL || fs->values == NULL)
		return -ENOMEM;
	return 0;
}

static void fs_tables_free(struct fs *fs)
{
	free(fs->host);
	fs_values_free(fs->values);
	fs_badnames_free(fs->badnames);
	fs_inodes_free(fs->inodes);
	report_cache_free(fs->reports);
	fs_handles_free(fs->handles);
	fs_pending_free(fs->pending);
}

/* Opens the store for the mount, saying why not in one line (the exit status). */
static int fs_open_store_first(struct fs *fs)
{
	const char *other = NULL, *shown;
	char db_buf[4096];
	int err;

	if (fs->opts.default_store && !fs->opts.read_only &&
	    (err = fs_make_parents(fs->opts.db)) != 0)
		return fs_die(1, "cannot create the directory of %s: %s", fs->opts.db, strerror(-err));
	err = fs_open_store(fs);
	if (err == 0)
		return 0;
	shown = fs_db_shown(fs->opts.db, db_buf, sizeof(db_buf));
	/* A store of the other kind: say which, that is what the user needs. */
	if (err == -EMEDIUMTYPE && store_detect(fs->opts.db, &other) == 0 &&
	    strcmp(other, fs->opts.store) != 0)
		return fs_die(1, "%s is a store of backend %s, not %s: mount it with -o store=%s",
			      shown, other, fs->opts.store, other);
	return fs_die(1, "cannot open the %s store %s: %s", fs->opts.store, shown, store_reason());
}

/* Mounts the open store on @cl's mount point, daemonizes, serves, unmounts; the exit status. */
static int fs_mount_and_serve(struct fs *fs, struct fuse_cmdline_opts *cl)
{
	char db_buf[4096];
	int ret;

	if (fuse_session_mount(fs->se, cl->mountpoint) != 0)
		return 1;
	if (!cl->foreground) {
		/* A store is not used across fork(): the daemon opens its own. */
		store_close(fs->store);
		fs->store = NULL;
		fs_log_to_syslog();
		if (fuse_daemonize(0) != 0 || fs_open_store(fs) != 0) {
			fs_log(LOG_ERR, "cannot start the daemon: %s", store_reason());
			fs_unmount_once(fs);
			return 1;
		}
	}
	fs_log(LOG_INFO, "mounted %s store %s on %s", fs->opts.store,
	       fs_db_shown(fs->opts.db, db_buf, sizeof(db_buf)), cl->mountpoint);
	ret = fs_serve(fs, cl) == 0 ? 0 : 1;
	fs_unmount_once(fs);
	return ret;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cl = { 0 };
	struct fs fs = { 0 };
	int ret;

	ret = fs_command_line(&args, &cl, &fs, argv[0]);
	if (ret >= 0)
		goto args_free;
	if (fs_tables_new(&fs, &cl) != 0) {
		ret = fs_die(1, "out of memory");
		goto tables_free;
	}
	/* libfuse checks its own options here, before the store is touched. */
	fs.se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &fs);
	if (fs.se == NULL) {
		ret = 2;
		goto tables_free;
	}
	ret = fs_open_store_first(&fs);
	if (ret == 0)
		ret = fs_mount_and_serve(&fs, &cl);
	/* Files the kernel never released give their names back to the store first. */
	fs_handles_free(fs.handles);
	fs.handles = NULL;
	store_close(fs.store);
	fuse_session_destroy(fs.se);
tables_free:
	fs_tables_free(&fs);
args_free:
	free(cl.mountpoint);
	fuse_opt_free_args(&args);
	fs_options_free(&fs.opts);
	return ret;
}
