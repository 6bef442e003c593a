#!/usr/bin/env bats
load helper

@test "placeholder for 07-listing mounts" {
  mount_fs
  run ls "$M"
  assert_success
}
