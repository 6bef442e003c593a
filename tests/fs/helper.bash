# Shared by every tests/fs/*.bats: mounts a real execlogfs in its own
# temporary directory for each test and always unmounts it in teardown.
#
# From meson: EXECLOGFS (the binary) and STORE (sqlite or lmdb).

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load '/usr/lib/bats/bats-file/load'

: "${EXECLOGFS:?EXECLOGFS must name the execlogfs binary}"
: "${STORE:=sqlite}"
HELPERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

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
}

teardown() {
  unmount_all
  rm -rf "$T"
}

# mount_fs [extra -o options...]: mounts $DB on $M in the foreground (-f),
# logging to $LOG, and waits until the mount answers.
mount_fs() {
  local opts="store=$STORE,db=$DB"
  for o in "$@"; do opts="$opts,$o"; done
  "$EXECLOGFS" -f -o "$opts" "$M" >>"$LOG" 2>&1 &
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

# Unmounts $M and waits for the daemon; fails if it does not exit 0.
unmount_fs() {
  fusermount3 -u "$M"
  local status=0
  wait "$PID" || status=$?
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
  if mountpoint -q "$M" 2>/dev/null; then
    fusermount3 -u "$M" 2>/dev/null || fusermount3 -uz "$M" 2>/dev/null || true
  fi
  if [ -n "${PID:-}" ]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
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
