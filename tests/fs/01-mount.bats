#!/usr/bin/env bats
load helper

@test "placeholder for 01-mount mounts" {
  mount_fs
  run ls "$M"
  assert_success
}
