#!/usr/bin/env bats
load helper

@test "placeholder for 04-finish mounts" {
  mount_fs
  run ls "$M"
  assert_success
}
