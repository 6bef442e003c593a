#!/usr/bin/env bats
# Lifecycle: heartbeats, abandoned runs (stale_after), retention (keep_days, keep_count).
load helper


outcome_is() { [ "$(jq -r .outcome "$M/$1.json")" = "$2" ]; }

@test "touch status/<id> is a heartbeat: it moves the status file's mtime, not the record's" {
  mount_fs
  start beat
  record_before=$(stat -c %.3Y "$M/beat.json")
  status_before=$(stat -c %.3Y "$M/status/beat")
  sleep 1.1
  touch "$M/status/beat"
  status_after=$(stat -c %.3Y "$M/status/beat")
  [ "$(echo "$status_after > $status_before" | bc)" = 1 ]
  assert_equal "$(stat -c %.3Y "$M/beat.json")" "$record_before"
  run cat "$M/status/beat"
  assert_output running
}

@test "a finish moves the status file's mtime too" {
  mount_fs
  start fin
  before=$(stat -c %.3Y "$M/status/fin")
  sleep 1.1
  echo success >"$M/status/fin"
  after=$(stat -c %.3Y "$M/status/fin")
  [ "$(echo "$after > $before" | bc)" = 1 ]
  assert_equal "$(stat -c %Y "$M/fin.json")" "$(stat -c %Y "$M/status/fin")"
}

@test "stale_after finishes a run with no heartbeat as error \"abandoned:\"" {
  mount_fs stale_after=1
  start lost
  poll 5 outcome_is lost error
  run jq -r .error_message "$M/lost.json"
  assert_output --regexp '^abandoned:'
  run jq -r '.finished_at != null and .duration_ms >= 1000' "$M/lost.json"
  assert_output true
  run ls "$M/by-outcome/error"
  assert_output lost.json
  assert_logged "abandoned lost"
}

@test "stale_after leaves alone a run that heartbeats, and runs that finished" {
  mount_fs stale_after=2
  start alive
  start done
  echo success >"$M/status/done"
  for i in $(seq 20); do touch "$M/status/alive"; sleep 0.25; done
  run cat "$M/status/alive"
  assert_output running
  run cat "$M/status/done"
  assert_output success
}

@test "stale_after reaps at mount the runs abandoned while unmounted" {
  mount_fs
  start orphan
  unmount_fs
  sleep 1.2
  mount_fs stale_after=1
  poll 3 outcome_is orphan error
  run jq -r .error_message "$M/orphan.json"
  assert_output --regexp '^abandoned:'
}

@test "without stale_after a silent run stays running" {
  mount_fs
  start quiet
  sleep 2
  run cat "$M/status/quiet"
  assert_output running
}

@test "keep_count keeps the N most recently started finished runs, never a running one" {
  mount_fs
  start old-running
  for i in 1 2 3 4 5; do start "r$i"; echo success >"$M/status/r$i"; done
  unmount_fs
  mount_fs keep_count=2
  poll 3 test ! -e "$M/r3.json"
  run ls "$M"
  assert_output "$(printf '%s\n' by-day by-host by-outcome by-tag by-tool by-user index.html latest metrics.prom new old-running.json output r4.json r5.json status)"
}

@test "keep_days deletes finished runs started more than N days ago, never a running one" {
  FS_WRAP="faketime 2020-01-01T12:00:00Z" mount_fs
  start ancient-done
  echo success >"$M/status/ancient-done"
  start ancient-running
  unmount_fs
  mount_fs
  start fresh
  echo error >"$M/status/fresh"
  unmount_fs
  mount_fs keep_days=1
  poll 3 test ! -e "$M/ancient-done.json"
  run ls "$M"
  assert_line ancient-running.json
  assert_line fresh.json
  refute_line ancient-done.json
  assert_logged "pruned 1 finished runs (keep_days=1)"
}

# old_run NAME: starts and finishes NAME with the daemon's clock in 2020,
# after runs started now: a run with a larger id but an older start, as
# magellan or an import writes them.
old_run() {
  FS_WRAP="faketime 2020-01-01T12:00:00Z" mount_fs
  start "$1"
  echo success >"$M/status/$1"
  unmount_fs
}

@test "keep_days walks by start time: a run with a larger id but an older start is pruned" {
  mount_fs
  start fresh
  echo success >"$M/status/fresh"
  unmount_fs
  old_run ancient
  mount_fs keep_days=1
  poll 3 test ! -e "$M/ancient.json"
  run ls "$M"
  assert_line fresh.json
  refute_line ancient.json
  assert_logged "pruned 1 finished runs (keep_days=1)"
}

@test "keep_count keeps the most recently started, whatever the ids say" {
  mount_fs
  start new1
  echo success >"$M/status/new1"
  unmount_fs
  old_run old
  mount_fs
  start new2
  echo success >"$M/status/new2"
  start running
  unmount_fs
  mount_fs keep_count=2
  poll 3 test ! -e "$M/old.json"
  run ls "$M"
  assert_line new1.json
  assert_line new2.json
  assert_line running.json
  refute_line old.json
  assert_logged "pruned 1 finished runs (keep_count=2)"
}

# lmdb_as_format_1: rewrites the LMDB store $DB as this project's first
# format wrote it (no start: keys, marker "execlogfs-lmdb 1"), through
# mdb_dump and mdb_load.
lmdb_as_format_1() {
  mdb_dump "$DB" >"$T/dump"
  python3 - "$T/dump" <<'PY'
import sys

path = sys.argv[1]
lines = open(path).read().split("\n")
head = lines.index("HEADER=END") + 1
end = lines.index("DATA=END")
out = lines[:head]
pairs = lines[head:end]
for key, value in zip(pairs[0::2], pairs[1::2]):
    k = bytes.fromhex(key.strip())
    if k.startswith(b"start:"):
        continue
    if k == b"meta:format":
        value = " " + b"execlogfs-lmdb 1".hex()
    out += [key, value]
open(path, "w").write("\n".join(out + lines[end:]))
PY
  rm -rf "$DB"
  mkdir "$DB"
  mdb_load -f "$T/dump" "$DB"
}

@test "runs written by another program or an older store are pruned by their start time" {
  mount_fs
  start fresh
  echo success >"$M/status/fresh"
  unmount_fs
  local old=$(( $(date +%s) - 10 * 86400 ))
  case $STORE in
  sqlite)
    # As magellan writes its rows: its own columns only.
    sqlite3 "$DB" "INSERT INTO execution_log (execution_id, tool_version, args, db_path,
      started_at, finished_at, duration_ms, outcome) VALUES
      ('imported', 'm', '[]', '/d', $old, $old + 5, 5000, 'success')" ;;
  postgres)
    pg_sql -c "INSERT INTO execution_log (execution_id, tool_version, args, db_path,
      started_at, finished_at, duration_ms, outcome) VALUES
      ('imported', 'm', '[]', '/d', $old, $old + 5, 5000, 'success')" ;;
  lmdb)
    FS_WRAP="faketime @$old" mount_fs
    start imported
    echo success >"$M/status/imported"
    unmount_fs
    lmdb_as_format_1
    # A read-only mount reads a format 1 store as it is.
    mount_fs ro
    run ls "$M"
    assert_line imported.json
    unmount_fs
    run mdb_dump -p "$DB"
    assert_output --partial "execlogfs-lmdb 1" ;;
  esac
  mount_fs keep_days=3
  poll 3 test ! -e "$M/imported.json"
  run ls "$M"
  assert_line fresh.json
  refute_line imported.json
  if [ "$STORE" = lmdb ]; then
    # The writable mount moved the store to this format, whose start: keys
    # the walk used.
    run mdb_dump -p "$DB"
    assert_output --partial "execlogfs-lmdb 4"
    assert_output --partial "start:"
  fi
}

@test "retention runs periodically, not only at mount" {
  # The daemon's clock runs 600 times fast: its 10-minute period passes in a second.
  FS_WRAP="faketime -f +0x600" mount_fs keep_count=1
  # Its wait for a release in flight (2 s) passes in 3 ms too: let each start show first.
  for i in 1 2 3; do
    start "p$i"
    poll 5 test -e "$M/status/p$i"
    echo success >"$M/status/p$i"
  done
  poll 5 test ! -e "$M/p2.json"
  run ls "$M"
  refute_line p1.json
  assert_line p3.json
}

@test "bad lifecycle options are refused with one line" {
  for opt in stale_after=0 stale_after=-5 keep_days=x keep_count=1.5; do
    run "$EXECLOGFS" -f -o "store=$STORE,db=$DB,$opt" "$M"
    assert_failure
    assert_equal "${#lines[@]}" 1
    assert_output --partial "bad option"
    [ ! -e "$DB" ]
  done
}
