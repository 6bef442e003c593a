#!/usr/bin/env bats
# Everything else: removing records, and every change that is not a start,
# a finish or a heartbeat is refused with a clean errno, changes nothing,
# is logged with its reason, and leaves the daemon answering.
load helper

# mount_with_records: mounts with a running "run1" and a finished "fin1",
# and keeps copies of both records and of the listings to compare with.
mount_with_records() {
  mount_fs
  start run1 '{"tool_version":"r","args":["x"]}'
  start fin1 '{"tool_version":"f"}'
  echo 'error: broken' >"$M/status/fin1"
  snapshot >"$T/before"
}

# Everything a refused change must leave as it was.
snapshot() {
  ls "$M" "$M/status" "$M/new" "$M/by-outcome/running" "$M/by-outcome/error"
  cat "$M/run1.json" "$M/fin1.json" "$M/status/run1" "$M/status/fin1"
  stat -c '%n %s %a %u %g %.3Y' "$M/run1.json" "$M/fin1.json" "$M/status/run1" "$M/status/fin1" \
    "$M" "$M/new" "$M/status"
}

# Nothing changed since mount_with_records, and the daemon still answers.
assert_unchanged() {
  snapshot >"$T/after"
  diff "$T/before" "$T/after" || fail "a refused change changed the mount"
  assert_alive
}

# refused_with ERRNOS OP PATH [ARG...]: fsop OP fails, within 10 s, with one
# of the errno names in ERRNOS (a space-separated list).
refused_with() {
  local allowed=" $1 "
  shift
  run timeout 10 python3 "$HELPERS_DIR/fsop.py" "$@"
  [ "$status" -eq 0 ] || fail "fsop $* did not answer within 10 s (status $status)"
  [[ "$allowed" == *" $output "* ]] || fail "fsop $*: $output, expected one of:$allowed"
}

# A clean refusal of a change the contract refuses without naming the errno.
CLEAN='EACCES EPERM ENOTSUP'

# --- rm ---

@test "rm of a finished record deletes it: gone from ls, stat and status/" {
  mount_with_records
  run rm "$M/fin1.json"
  assert_success
  run ls "$M"
  refute_output --partial fin1
  run ls "$M/status"
  assert_output run1
  run fsop stat "$M/fin1.json"
  assert_output ENOENT
  run fsop stat "$M/status/fin1"
  assert_output ENOENT
  run ls "$M/by-outcome/error"
  assert_output ''
  # The running one is untouched.
  run jq -r .outcome "$M/run1.json"
  assert_output running
  assert_alive
}

@test "rm of a running record is EBUSY, logged, and changes nothing" {
  mount_with_records
  run fsop unlink "$M/run1.json"
  assert_output EBUSY
  run rm -f "$M/run1.json"
  assert_failure
  assert_logged 'run1.json'
  assert_logged 'running'
  assert_unchanged
  # Once finished it can go.
  echo success >"$M/status/run1"
  rm "$M/run1.json"
  run fsop stat "$M/run1.json"
  assert_output ENOENT
}

@test "unlink of a status file is EPERM, logged, and changes nothing" {
  mount_with_records
  run fsop unlink "$M/status/run1"
  assert_output EPERM
  run fsop unlink "$M/status/fin1"
  assert_output EPERM
  run rm -f "$M/status/fin1"
  assert_failure
  assert_logged 'a status file goes with its record'
  assert_unchanged
}

@test "rm of a name that is not a record is ENOENT and changes nothing" {
  mount_with_records
  run fsop unlink "$M/nosuch.json"
  assert_output ENOENT
  run fsop unlink "$M/new/run1"
  assert_output ENOENT
  assert_unchanged
}

# --- creating ---

@test "creating a file outside new/ is EACCES, logged, and creates nothing" {
  mount_with_records
  local p
  for p in "$M/x.json" "$M/x" "$M/status/x" "$M/by-outcome/success/x.json" "$M/by-outcome/x"; do
    run timeout 10 python3 "$HELPERS_DIR/fsop.py" open "$p" w,c
    [ "$output" = EACCES ] || fail "open $p O_CREAT: $output, expected EACCES"
    run timeout 10 python3 "$HELPERS_DIR/fsop.py" open "$p" w,c,x '{}'
    [ "$output" = EACCES ] || fail "open $p O_CREAT|O_EXCL: $output, expected EACCES"
  done
  run bash -c 'echo "{}" > "$1/foo.json"' _ "$M"
  assert_failure
  run touch "$M/status/foo"
  assert_failure
  assert_logged 'executions start in new/'
  assert_unchanged
}

@test "echo x > MOUNT/foo.json fails in the shell and creates nothing" {
  mount_with_records
  run bash -c 'echo x > "$1/foo.json"' _ "$M"
  assert_failure
  run bash -c 'echo x >> "$1/foo.json"' _ "$M"
  assert_failure
  run fsop stat "$M/foo.json"
  assert_output ENOENT
  assert_unchanged
}

# --- time updates ---

@test "a time update of a record is EPERM, logged, and changes nothing" {
  mount_with_records
  run fsop utime "$M/run1.json"
  assert_output EPERM
  run fsop utime "$M/fin1.json"
  assert_output EPERM
  run touch "$M/fin1.json"
  assert_failure
  run touch -d '2001-01-01' "$M/run1.json"
  assert_failure
  assert_logged "a record's attributes are set by its start and finish"
  assert_unchanged
}

@test "a time update of a finished execution's status is EPERM, logged, and changes nothing" {
  mount_with_records
  run fsop utime "$M/status/fin1"
  assert_output EPERM
  run touch "$M/status/fin1"
  assert_failure
  assert_logged 'fin1 is not running'
  assert_unchanged
}

# Milliseconds since the epoch, now.
now_ms() {
  date +%s%3N
}

# later_than MS: the clock is past MS.
later_than() {
  [ "$(now_ms)" -gt "$1" ]
}

@test "a time update of a running execution's status is a heartbeat: its mtime moves to now" {
  mount_with_records
  local rec0 st0 t0 st1
  rec0=$(stat -c %.3Y "$M/run1.json")
  st0=$(stat -c %.3Y "$M/status/run1")
  st0=${st0/./}
  # Let the millisecond clock move past the last change (a poll of the clock).
  poll 2 later_than "$((st0 + 5))"
  t0=$(now_ms)
  run fsop utime "$M/status/run1"
  assert_output OK
  st1=$(stat -c %.3Y "$M/status/run1")
  st1=${st1/./}
  [ "$st1" -ge "$t0" ] && [ "$st1" -le "$(now_ms)" ] ||
    fail "status/run1 mtime $st1 is not the heartbeat's time (after $t0)"
  # coreutils touch is a heartbeat too.
  poll 2 later_than "$((st1 + 5))"
  touch "$M/status/run1"
  [ "$(stat -c %.3Y "$M/status/run1" | tr -d .)" -gt "$st1" ]
  # A heartbeat is not a change of the record.
  [ "$(stat -c %.3Y "$M/run1.json")" = "$rec0" ]
  run jq -r .outcome "$M/run1.json"
  assert_output running
  assert_alive
}

# --- writing a record ---

@test "opening a record for writing, or with O_TRUNC, is EACCES, logged, and changes nothing" {
  mount_with_records
  local r flags
  for r in run1 fin1; do
    for flags in w rw w,a w,t rw,t r,t; do
      run timeout 10 python3 "$HELPERS_DIR/fsop.py" open "$M/$r.json" "$flags"
      [ "$output" = EACCES ] || fail "open $r.json $flags: $output, expected EACCES"
    done
    run bash -c 'echo x > "$1"' _ "$M/$r.json"
    assert_failure
    run bash -c 'echo x >> "$1"' _ "$M/$r.json"
    assert_failure
  done
  assert_logged 'records are read-only'
  assert_unchanged
}

# --- everything else: a clean errno, nothing changed, the daemon alive ---

@test "mkdir is EACCES, in new/ too, logged, and creates nothing" {
  mount_with_records
  local p
  for p in "$M/d" "$M/d.json" "$M/status/d" "$M/by-outcome/d" "$M/by-day/2020-01-01"; do
    refused_with EACCES mkdir "$p"
    run fsop lookup "$p"
    assert_output ENOENT
  done
  refused_with EACCES mkdir "$M/new/d"
  run fsop lookup "$M/new/d"
  assert_output ENOENT
  run mkdir -p "$M/a/b"
  assert_failure
  assert_logged 'mkdir of d'
  assert_unchanged
}

@test "rmdir of the fixed directories is refused cleanly, logged, and changes nothing" {
  mount_with_records
  local d
  for d in new status by-outcome by-day by-outcome/running by-outcome/success; do
    refused_with "$CLEAN" rmdir "$M/$d"
    [ -d "$M/$d" ] || fail "$d is gone"
  done
  assert_logged 'rmdir of new'
  assert_unchanged
}

@test "rename of a record or a status file is refused cleanly, logged, and changes nothing" {
  mount_with_records
  refused_with "$CLEAN" rename "$M/fin1.json" "$M/other.json"
  refused_with "$CLEAN" rename "$M/run1.json" "$M/other.json"
  refused_with "$CLEAN" rename "$M/fin1.json" "$M/run1.json"
  refused_with "$CLEAN" rename "$M/fin1.json" "$M/new/other"
  refused_with "$CLEAN" rename "$M/fin1.json" "$M/status/other"
  refused_with "$CLEAN" rename "$M/status/run1" "$M/status/other"
  refused_with "$CLEAN" rename "$M/new" "$M/old"
  run mv "$M/fin1.json" "$M/moved.json"
  assert_failure
  run fsop lookup "$M/other.json"
  assert_output ENOENT
  run fsop lookup "$M/moved.json"
  assert_output ENOENT
  assert_logged 'rename of fin1.json to other.json'
  assert_unchanged
}

@test "link, symlink and mknod are EACCES, in new/ too, and create nothing" {
  mount_with_records
  local dir n
  for dir in "$M" "$M/new" "$M/status" "$M/by-outcome/error"; do
    refused_with EACCES link "$M/fin1.json" "$dir/l.json"
    refused_with EACCES symlink "$dir/s.json" fin1.json
    refused_with EACCES mknod "$dir/p"
    for n in l.json s.json p; do
      run fsop lookup "$dir/$n"
      [ "$output" = ENOENT ] || fail "$dir/$n: lookup says $output after a refused create"
    done
  done
  run ln -s fin1.json "$M/ln.json"
  assert_failure
  assert_logged 'link of l.json'
  assert_logged 'symlink of s.json'
  assert_logged 'mknod of p'
  assert_unchanged
}

@test "chmod and chown are refused cleanly, logged, and change nothing" {
  mount_with_records
  local p
  for p in "$M/run1.json" "$M/fin1.json" "$M/status/run1" "$M/status/fin1" "$M" "$M/new" "$M/status"; do
    refused_with "$CLEAN" chmod "$p" 600
    refused_with "$CLEAN" chmod "$p" 777
    refused_with "$CLEAN" chown "$p" "$(id -u)" "$(id -g)"
    refused_with "$CLEAN" chown "$p" 12345 12345
  done
  run chmod u+w "$M/fin1.json"
  assert_failure
  assert_logged "a record's attributes are set by its start and finish"
  assert_logged "a status file's owner and mode are fixed"
  assert_unchanged
}

@test "truncate of a record is refused cleanly, logged, and changes nothing" {
  mount_with_records
  local r size
  for r in run1 fin1; do
    for size in 0 1 10 100000; do
      refused_with "$CLEAN" truncate "$M/$r.json" "$size"
    done
    run truncate -s 0 "$M/$r.json"
    assert_failure
  done
  assert_logged 'records are read-only'
  assert_unchanged
}

@test "setxattr and removexattr are refused cleanly, logged, and change nothing" {
  mount_with_records
  local p
  for p in "$M/run1.json" "$M/fin1.json" "$M/status/run1" "$M/status/fin1" "$M" "$M/new"; do
    refused_with "$CLEAN" setxattr "$p"
    refused_with "$CLEAN" removexattr "$p"
  done
  assert_logged 'extended attributes are not supported'
  assert_unchanged
}

@test "after a storm of refusals the daemon still starts, finishes and deletes" {
  mount_with_records
  local i
  for i in $(seq 20); do
    refused_with EACCES mkdir "$M/d$i"
    refused_with "$CLEAN" rename "$M/fin1.json" "$M/r$i.json"
    refused_with "$CLEAN" truncate "$M/fin1.json" 0
    refused_with "$CLEAN" setxattr "$M/fin1.json"
    refused_with EBUSY unlink "$M/run1.json"
    refused_with EACCES open "$M/x$i" w,c
  done
  assert_unchanged
  start after '{"tool_version":"still"}'
  echo success >"$M/status/after"
  run jq -r '[.tool_version, .outcome] | join(" ")' "$M/after.json"
  assert_output "still success"
  rm "$M/after.json"
  rm "$M/fin1.json"
  run ls "$M/status"
  assert_output run1
}
