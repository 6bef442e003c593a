#!/usr/bin/env bats
load helper

@test "placeholder for 06-durability mounts" {
  mount_fs
  run ls "$M"
  assert_success
}
