#!/usr/bin/env bats
# A busy store: another program holds SQLite's write lock longer than the
# daemon's busy timeout (5 s). An empty start, acknowledged by its close
# before the store took it, is committed when the lock goes, never dropped;
# a write that waits for its commit fails with EBUSY, as the README says.
# (SQLite's alone: an LMDB writer waits for the lock, and PostgreSQL's
# locks are the server's.)
load helper
bats_require_minimum_version 1.5.0

teardown() {
  [ -z "${LOCKER:-}" ] || { kill "$LOCKER" 2>/dev/null; wait "$LOCKER" 2>/dev/null; } || true
  teardown_mount
}

# lock_store SECONDS: another program takes the store's write lock and holds
# it for SECONDS; returns once it holds it.
lock_store() {
  rm -f "$T/locked"
  python3 - "$DB" "$T/locked" "$1" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(float(sys.argv[3]))
db.execute("COMMIT")
PY
  LOCKER=$!
  poll 10 test -e "$T/locked"
}

unlocked() {
  wait "$LOCKER"
  LOCKER=
}

@test "an empty start closed while the store is locked for 8 s is committed when the lock goes" {
  mount_fs
  start first
  lock_store 8
  run touch "$M/new/busy1"
  assert_success
  run bash -c ': > "$1"' _ "$M/new/busy2"
  assert_success
  unlocked
  # Committed when the lock went, with the time of its close.
  poll 10 test -e "$M/busy1.json"
  poll 10 test -e "$M/busy2.json"
  run cat "$M/status/busy1"
  assert_output running
  assert_logged 'start of new/busy1 is waiting for the store'
  run grep -F 'refused start of new/busy1' "$LOG"
  assert_failure
  # The store is whole, the record readable after a remount.
  unmount_fs
  run sqlite3 "$DB" 'PRAGMA integrity_check'
  assert_output ok
  mount_fs
  run jq -r .execution_id "$M/busy1.json"
  assert_output busy1
}

@test "a start written while the store is locked fails its write with EBUSY, and starts nothing" {
  mount_fs
  lock_store 12
  run fsop open "$M/new/waited" w,c '{"tool_version":"v"}'
  assert_output EBUSY
  assert_logged 'refused write to new/waited'
  unlocked
  run fsop lookup "$M/waited.json"
  assert_output ENOENT
  # The name is free again.
  run fsop open "$M/new/waited" w,c '{"tool_version":"w"}'
  assert_output OK
}

@test "SIGTERM while an empty start waits for a locked store: committed when the lock goes, exit 0" {
  mount_fs
  lock_store 8
  touch "$M/new/atexit"
  kill -TERM "$PID"
  unlocked
  wait_daemon "$PID" 60
  PID=
  mount_fs
  run cat "$M/status/atexit"
  assert_output running
}
