#!/usr/bin/env bats
load helper

@test "placeholder for 03-start mounts" {
  mount_fs
  run ls "$M"
  assert_success
}
