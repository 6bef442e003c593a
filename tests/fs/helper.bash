# Shared by every tests/fs/*.bats: mounts a real execlogfs in its own
# temporary directory for each test and always unmounts it in teardown.
#
# From meson: EXECLOGFS (the binary) and STORE (sqlite, lmdb or postgres).
# For postgres each test gets a database of its own, on the server of
# $EXECLOG_PG_CONNINFO (key=value, a role that may create databases) or on
# the throw-away one `$EXECLOG_PG_SERVER conninfo` starts; $DB is then its
# connection string.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load '/usr/lib/bats/bats-file/load'

: "${EXECLOGFS:?EXECLOGFS must name the execlogfs binary}"
: "${STORE:=sqlite}"
HELPERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Debian's python3 (scripts/install-deps installs it), not whatever comes
# first in PATH: a version manager's shim (pyenv) costs a second a call on a
# busy machine, and the tests call python3 hundreds of times.
python3() { /usr/bin/python3 "$@"; }
export -f python3

# Runs an os-level call and prints OK or the errno name (see fsop.py).
fsop() {
  python3 "$HELPERS_DIR/fsop.py" "$@"
}

setup() {
  T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/execlogfs.XXXXXX")
  M=$T/mnt
  DB=$T/db
  LOG=$T/daemon.log
  PID=
  mkdir -p "$M"
  [ "$STORE" != postgres ] || pg_setup
}

# psql on the test's database (or on $PG_ADMIN with -d), quiet and strict.
pg_sql() {
  psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" "$@"
}

# A fresh database for the test: DB is its connection string.
pg_setup() {
  if [ -n "${EXECLOG_PG_CONNINFO:-}" ]; then
    PG_ADMIN=$EXECLOG_PG_CONNINFO
  else
    PG_ADMIN=$("${EXECLOG_PG_SERVER:?EXECLOG_PG_SERVER or EXECLOG_PG_CONNINFO must be set for postgres}" conninfo)
  fi
  PG_NAME=execlogfs_$(basename "$T" | tr -c 'A-Za-z0-9\n' _ | tr 'A-Z' 'a-z')
  psql -X -q -v ON_ERROR_STOP=1 -d "$PG_ADMIN" -c "CREATE DATABASE $PG_NAME"
  # A long connect_timeout: libpq counts it by the clock, which faketime
  # speeds up 600 times in 10-lifecycle (a Unix socket never needs it).
  DB="$PG_ADMIN dbname=$PG_NAME connect_timeout=600"
}

pg_teardown() {
  [ -n "${PG_NAME:-}" ] || return 0
  psql -X -q -d "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  PG_NAME=
}

teardown() {
  teardown_mount
}

# What every teardown must do; a file that needs more calls it last.
teardown_mount() {
  unmount_all
  # A failed test shows the daemon's last words.
  if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -s "$LOG" ]; then
    echo "--- daemon log (last ${DAEMON_LOG_LINES:=40} lines) ---"
    tail -n "$DAEMON_LOG_LINES" "$LOG"
  fi
  [ "$STORE" != postgres ] || pg_teardown
  rm -rf "$T"
}

# mount_fs [extra -o options...]: mounts $DB on $M in the foreground (-f),
# logging to $LOG, and waits until the mount answers.
mount_fs() {
  local opts="store=$STORE,db=$DB"
  for o in "$@"; do opts="$opts,$o"; done
  # FS_WRAP runs the daemon under a wrapper, e.g. faketime for a chosen clock.
  ${FS_WRAP:-} "$EXECLOGFS" -f -o "$opts" "$M" >>"$LOG" 2>&1 &
  PID=$!
  wait_mounted
}

wait_mounted() {
  local i
  for i in $(seq 200); do
    mountpoint -q "$M" && return 0
    kill -0 "$PID" 2>/dev/null || { cat "$LOG" >&2; return 1; }
    sleep 0.05
  done
  echo "execlogfs did not mount within 10 s" >&2
  cat "$LOG" >&2
  return 1
}

# wait_daemon PID [SECONDS]: waits for the daemon PID to exit and returns
# its status; one that still runs after SECONDS (20) is killed with SIGKILL
# and the wait fails, so a hang names its test instead of stalling the suite.
wait_daemon() {
  local pid=$1 status=0
  if ! poll "${2:-20}" bash -c "! kill -0 $pid 2>/dev/null"; then
    echo "the daemon $pid still runs ${2:-20} s on; killed" >&2
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 124
  fi
  wait "$pid" || status=$?
  return $status
}

# Unmounts $M and waits for the daemon; fails if it does not exit 0.
unmount_fs() {
  fusermount3 -u "$M"
  local status=0
  wait_daemon "$PID" || status=$?
  PID=
  return $status
}

# Kills the daemon with SIGKILL and cleans the dead mount.
kill9_fs() {
  kill -9 "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
  fusermount3 -uz "$M" 2>/dev/null || true
}

unmount_all() {
  # A second mount of the same store, if a test made one (mount_second).
  if [ -n "${M2:-}" ] && mountpoint -q "$M2" 2>/dev/null; then
    fusermount3 -u "$M2" 2>/dev/null || fusermount3 -uz "$M2" 2>/dev/null || true
  fi
  if [ -n "${PID2:-}" ]; then
    kill "$PID2" 2>/dev/null || true
    wait_daemon "$PID2" 2>/dev/null || true
    PID2=
  fi
  if mountpoint -q "$M" 2>/dev/null; then
    fusermount3 -u "$M" 2>/dev/null || fusermount3 -uz "$M" 2>/dev/null || true
  fi
  if [ -n "${PID:-}" ]; then
    kill "$PID" 2>/dev/null || true
    wait_daemon "$PID" || true
    PID=
  fi
}

# The daemon's log must mention $1 (a refusal is logged with its reason).
assert_logged() {
  run grep -F -- "$1" "$LOG"
  assert_success
}

# The daemon still answers after whatever was tried.
assert_alive() {
  kill -0 "$PID"
  run ls "$M"
  assert_success
}

# start NAME [JSON]: starts an execution through the mount.
start() {
  if [ $# -ge 2 ]; then printf '%s' "$2" >"$M/new/$1"; else touch "$M/new/$1"; fi
}

# --- shared by 02-browse, 03-start, 04-finish, 07-listing ---

# poll SECONDS CMD [ARG...]: runs CMD until it succeeds, for up to SECONDS
# (fractions allowed); fails if it never did.
poll() {
  # %.0f, not %d: mawk's %d stops at 2^31 - 1 (about 2.1 s in nanoseconds).
  local end=$(( $(date +%s%N) + $(awk -v s="$1" 'BEGIN { printf "%.0f", s * 1e9 }') ))
  shift
  while :; do
    "$@" && return 0
    [ "$(date +%s%N)" -lt "$end" ] || return 1
    sleep 0.02
  done
}

# hold_open PATH [DATA]: a background process opens PATH for writing (with
# O_CREAT), writes DATA if given, and keeps it open until release_hold (or
# 60 s). Returns once the file is open and written.
hold_open() {
  rm -f "$T/hold.ready" "$T/hold.go" "$T/hold.err"
  python3 - "$1" "${2-}" "$T/hold" 3>&- <<'PY' &
import os, sys, time
path, data, base = sys.argv[1:]
try:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    if data:
        os.write(fd, data.encode())
except OSError as e:
    open(base + ".err", "w").write(str(e))
    sys.exit(1)
open(base + ".ready", "w").close()
end = time.time() + 60
while not os.path.exists(base + ".go") and time.time() < end:
    time.sleep(0.01)
os.close(fd)
PY
  HOLD_PID=$!
  poll 10 test -e "$T/hold.ready" -o -e "$T/hold.err"
  [ -e "$T/hold.ready" ] || { cat "$T/hold.err" >&2; return 1; }
}

# release_hold: closes the file hold_open keeps open; close(2) has returned
# when this returns.
release_hold() {
  local rc=0
  touch "$T/hold.go"
  wait "$HOLD_PID" || rc=$?
  HOLD_PID=
  return "$rc"
}

# mount_fs_raw ARGS...: runs execlogfs -f ARGS $M (the caller gives every
# option, e.g. only -o db=), logging to $LOG, and waits until it answers.
mount_fs_raw() {
  "$EXECLOGFS" -f "$@" "$M" >>"$LOG" 2>&1 &
  PID=$!
  wait_mounted
}

# store_sum [PATH]: checksums of every file of the store at PATH ($DB by
# default; a SQLite file with its -wal/-shm/-journal, or an LMDB directory),
# or "absent" when nothing is there.
store_sum() {
  local p=${1:-$DB}
  if [ "$STORE" = postgres ] && [ $# -eq 0 ]; then
    # Every row, in id order, or "absent" without the table.
    pg_sql -c "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY id)), 'empty')
               FROM execution_log t" 2>/dev/null || echo absent
    return 0
  fi
  [ -e "$p" ] || { echo absent; return 0; }
  find "$p" "$p-wal" "$p-shm" "$p-journal" -type f 2>/dev/null | sort | xargs -r sha256sum
}

# The store at $DB (of backend $STORE) passes its own integrity check.
assert_store_intact() {
  if [ "$STORE" = postgres ]; then
    # amcheck: every index of the table agrees with itself and with the heap.
    run pg_sql -c "CREATE EXTENSION IF NOT EXISTS amcheck" \
      -c "SELECT bool_and(bt_index_check(indexrelid, true)::text = '')
          FROM pg_index WHERE indrelid = 'execution_log'::regclass"
    assert_success
    assert_output t
  elif [ "$STORE" = sqlite ]; then
    run sqlite3 "$DB" 'PRAGMA integrity_check'
    assert_success
    assert_output ok
  else
    run mdb_stat "$DB"
    assert_success
    assert_output --partial 'Entries:'
  fi
}

# mount_second: mounts the same store ($DB) a second time, on $M2
# (unmount_all unmounts it too).
mount_second() {
  M2=$T/mnt2
  mkdir -p "$M2"
  "$EXECLOGFS" -f -o "store=$STORE,db=$DB" "$M2" >>"$T/daemon2.log" 2>&1 &
  PID2=$!
  poll 10 mountpoint -q "$M2" || { cat "$T/daemon2.log" >&2; return 1; }
}

# --- shared by 11-faults, 12-hostile, 13-permissions ---


# rss_kib [PID]: the resident set (VmRSS) of the daemon ($PID), in KiB.
rss_kib() {
  awk '/^VmRSS:/ { print $2 }' "/proc/${1:-$PID}/status"
}

# hwm_kib [PID]: the peak resident set (VmHWM) of the daemon ($PID), in KiB.
hwm_kib() {
  awk '/^VmHWM:/ { print $2 }' "/proc/${1:-$PID}/status"
}

# sigterm_fs [WHAT]: sends SIGTERM to the daemon and checks that it exits
# within 10 s with status 0 and leaves $M unmounted (WHAT names the round).
sigterm_fs() {
  local status=0 pid=$PID
  kill -TERM "$pid"
  wait_daemon "$pid" 10 || status=$?
  PID=
  [ "$status" -ne 124 ] || fail "${1:+$1: }the daemon still ran 10 s after SIGTERM"
  [ "$status" -eq 0 ] || fail "${1:+$1: }the daemon exited $status on SIGTERM"
  if mountpoint -q "$M"; then fail "${1:+$1: }$M is still mounted after SIGTERM"; fi
}

# magellan's DDL, verbatim (ExecutionLog::ensure_schema, src/graph/execution_log.rs).
# (06-durability and 16-magellan make magellan stores with it.)
export MAGELLAN_DDL="CREATE TABLE IF NOT EXISTS execution_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    execution_id TEXT NOT NULL UNIQUE,
                    tool_version TEXT NOT NULL,
                    args TEXT NOT NULL,
                    root TEXT,
                    db_path TEXT NOT NULL,
                    started_at INTEGER NOT NULL,
                    finished_at INTEGER,
                    duration_ms INTEGER,
                    outcome TEXT NOT NULL,
                    error_message TEXT,
                    files_indexed INTEGER DEFAULT 0,
                    symbols_indexed INTEGER DEFAULT 0,
                    references_indexed INTEGER DEFAULT 0
                );
CREATE INDEX IF NOT EXISTS idx_execution_log_started_at
                    ON execution_log(started_at DESC);
CREATE INDEX IF NOT EXISTS idx_execution_log_execution_id
                    ON execution_log(execution_id);
CREATE INDEX IF NOT EXISTS idx_execution_log_outcome
                    ON execution_log(outcome);"
