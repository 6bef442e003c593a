#!/usr/bin/env bats
# The tree: records, status files, ls, cat, stat.
load helper

@test "a started execution is a JSON record with outcome running" {
  mount_fs
  start one
  run jq -r .outcome "$M/one.json"
  assert_output running
  run cat "$M/status/one"
  assert_output running
}
