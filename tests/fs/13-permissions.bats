#!/usr/bin/env bats
# Who may do what: with -o allow_other another user reads records, status
# and views but cannot start, finish, delete or heartbeat; without it the
# mount is the mounting user's alone (FUSE's rule).
load helper
bats_require_minimum_version 1.5.0

# The other user: nobody, in no group of ours.
OTHER_UID=65534
OTHER_GID=65534

# as_other CMD [ARG...]: runs CMD as the other user, with a PATH it can use.
as_other() {
  setpriv --reuid="$OTHER_UID" --regid="$OTHER_GID" --clear-groups -- \
    env PATH=/usr/local/bin:/usr/bin:/bin HOME=/ "$@"
}

# other_fsop OP PATH [ARG...]: fsop as the other user, from the test's own
# directory: the clone may sit in a home directory the other user cannot
# enter (mode 700, Debian's default).
other_fsop() {
  as_other python3 "$T/fsop.py" "$@"
}

# mount_shared [OPTIONS...]: mounts with a running "run1" and a finished
# "fin1", on a path the other user may walk to.
mount_shared() {
  chmod 755 "$T"
  install -m 644 "$HELPERS_DIR/fsop.py" "$T/fsop.py"
  mount_fs "$@"
  start run1 '{"tool_version":"r","args":["x"]}'
  start fin1 '{"tool_version":"f"}'
  echo 'error: broken' >"$M/status/fin1"
  snapshot >"$T/before"
}

# Everything the other user must not change, as the mounting user sees it.
snapshot() {
  ls -A "$M" "$M/status" "$M/new" "$M/by-outcome/running" "$M/by-outcome/error"
  cat "$M/run1.json" "$M/fin1.json" "$M/status/run1" "$M/status/fin1"
  stat -c '%n %s %a %u %g %.3Y' "$M/run1.json" "$M/fin1.json" "$M/status/run1" \
    "$M/status/fin1" "$M/new" "$M/status"
}

assert_unchanged() {
  snapshot >"$T/after"
  diff "$T/before" "$T/after" || fail "another user changed the mount"
  assert_alive
}

@test "the other user runs nothing from the source tree, which may be private (mode 700)" {
  local private=$T/home
  mkdir -m 700 "$private"
  cp "$HELPERS_DIR/fsop.py" "$private/"
  HELPERS_DIR=$private
  mount_shared allow_other
  run as_other test -r "$private/fsop.py"
  assert_failure
  run other_fsop stat "$M/fin1.json"
  assert_success
  assert_line OK
  [ "${lines[0]}" -gt 0 ] || fail "stat as the other user: $output"
}

@test "with -o allow_other permissions are enforced by the kernel (default_permissions)" {
  mount_shared allow_other
  run grep -F " $M " /proc/mounts
  assert_output --partial allow_other
  assert_output --partial default_permissions
}

@test "with -o allow_other another user lists, reads records and status, and follows the views" {
  mount_shared allow_other
  run as_other id -u
  assert_output "$OTHER_UID"
  run as_other ls "$M"
  assert_success
  assert_output --partial run1.json
  assert_output --partial fin1.json
  run as_other ls "$M/status"
  assert_output $'fin1\nrun1'
  run as_other cat "$M/run1.json"
  assert_success
  assert_output "$(cat "$M/run1.json")"
  run as_other jq -c '[.execution_id, .tool_version, .outcome]' "$M/fin1.json"
  assert_output '["fin1","f","error"]'
  run as_other cat "$M/status/run1" "$M/status/fin1"
  assert_output $'running\nerror'
  run as_other stat -c '%s' "$M/fin1.json"
  assert_output "$(stat -c %s "$M/fin1.json")"
  run as_other ls "$M/by-outcome" "$M/by-outcome/running" "$M/by-outcome/error"
  assert_success
  assert_output --partial run1.json
  assert_output --partial fin1.json
  run as_other cat "$M/by-outcome/error/fin1.json"
  assert_output "$(cat "$M/fin1.json")"
  local day
  day=$(date -u +%F)
  run as_other ls "$M/by-day/$day"
  assert_output $'fin1.json\nrun1.json'
  run as_other readlink "$M/latest"
  assert_output fin1.json
  run as_other ls -A "$M/new"
  assert_output ''
  assert_unchanged
}

@test "with -o allow_other another user cannot start, finish, delete or heartbeat: EACCES, nothing changes" {
  mount_shared allow_other
  # Start.
  run as_other touch "$M/new/y"
  assert_failure
  run other_fsop open "$M/new/y" w,c
  assert_output EACCES
  run other_fsop open "$M/new/y" w,c '{"tool_version":"intruder"}'
  assert_output EACCES
  run as_other bash -c 'echo "{}" > "$1/new/y"' _ "$M"
  assert_failure
  # Finish.
  run as_other bash -c 'echo success > "$1/status/run1"' _ "$M"
  assert_failure
  run other_fsop write "$M/status/run1" success
  assert_output EACCES
  run other_fsop open "$M/status/run1" w,t 'error: intruder'
  assert_output EACCES
  run other_fsop open "$M/status/run1" w,a 'partial'
  assert_output EACCES
  # Delete, finished or running.
  run as_other rm -f "$M/fin1.json"
  assert_failure
  run other_fsop unlink "$M/fin1.json"
  assert_output EACCES
  run other_fsop unlink "$M/run1.json"
  assert_output EACCES
  # Heartbeat.
  run other_fsop utime "$M/status/run1"
  assert_output EACCES
  run as_other touch "$M/status/run1"
  assert_failure
  # Nor anything else.
  local op
  for op in "mkdir $M/new/d" "rename $M/fin1.json $M/x.json" "chmod $M/fin1.json 666" \
            "chown $M/fin1.json $OTHER_UID $OTHER_GID" "truncate $M/status/run1 0" \
            "setxattr $M/fin1.json" "symlink $M/new/l fin1.json" "link $M/fin1.json $M/new/h"; do
    # shellcheck disable=SC2086
    run other_fsop $op
    [[ " EACCES EPERM ENOTSUP " == *" $output "* ]] || fail "fsop $op as another user: $output"
  done
  assert_unchanged
  run fsop lookup "$M/y.json"
  assert_output ENOENT
  # The mounting user still may.
  touch "$M/new/y"
  echo success >"$M/status/run1"
  rm "$M/fin1.json"
  run cat "$M/status/y" "$M/status/run1"
  assert_output $'running\nsuccess'
}

@test "without -o allow_other another user gets EACCES on the mount itself" {
  mount_shared
  run other_fsop stat "$M"
  assert_output EACCES
  run as_other ls "$M"
  assert_failure
  local p
  for p in "$M/run1.json" "$M/status/run1" "$M/new" "$M/by-outcome/running" "$M/latest"; do
    run other_fsop lookup "$p"
    [ "$output" = EACCES ] || fail "lookup of $p as another user: $output"
  done
  run other_fsop open "$M/new/y" w,c
  assert_output EACCES
  run other_fsop write "$M/status/run1" success
  assert_output EACCES
  run other_fsop unlink "$M/fin1.json"
  assert_output EACCES
  run other_fsop utime "$M/status/run1"
  assert_output EACCES
  assert_unchanged
  # The mounting user is not affected.
  touch "$M/new/mine" && echo success >"$M/status/mine"
  run cat "$M/status/mine"
  assert_output success
}
