#!/usr/bin/env bats
load helper

@test "placeholder for 05-refuse mounts" {
  mount_fs
  run ls "$M"
  assert_success
}
