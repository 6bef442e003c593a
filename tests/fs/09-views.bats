#!/usr/bin/env bats
# Views: by-outcome/, by-day/, latest; and the views by provenance on a
# larger log (23-provenance has their rules).
load helper

@test "by-outcome always lists the four outcomes, empty or not" {
  mount_fs
  run ls "$M/by-outcome"
  assert_output "$(printf '%s\n' error partial running success)"
  for o in running success error partial; do
    run ls -A "$M/by-outcome/$o"
    assert_success
    assert_output ""
  done
  run fsop lookup "$M/by-outcome/maybe"
  assert_output ENOENT
}

@test "by-outcome holds a relative symlink per execution, and a finish moves it at once" {
  mount_fs
  start a
  start b
  run ls "$M/by-outcome/running"
  assert_output "$(printf '%s\n' a.json b.json)"
  run readlink "$M/by-outcome/running/a.json"
  assert_output ../../a.json
  run jq -r .execution_id "$M/by-outcome/running/a.json"
  assert_output a
  echo 'error: broken' >"$M/status/a"
  run ls "$M/by-outcome/running"
  assert_output b.json
  run ls "$M/by-outcome/error"
  assert_output a.json
  run fsop lookup "$M/by-outcome/running/a.json"
  assert_output ENOENT
  echo partial >"$M/status/b"
  run ls "$M/by-outcome/partial"
  assert_output b.json
  run ls -A "$M/by-outcome/running"
  assert_output ""
}

@test "a deleted execution leaves its views" {
  mount_fs
  start gone
  echo success >"$M/status/gone"
  rm "$M/gone.json"
  run ls -A "$M/by-outcome/success"
  assert_output ""
  run ls -A "$M/by-day"
  assert_output ""
  run fsop lookup "$M/latest"
  assert_output ENOENT
}

@test "by-day lists the UTC days that have executions, with symlinks" {
  mount_fs
  start today
  day=$(date -u +%F)
  run ls "$M/by-day"
  assert_output "$day"
  run ls "$M/by-day/$day"
  assert_output today.json
  run readlink "$M/by-day/$day/today.json"
  assert_output ../../today.json
  run jq -r .outcome "$M/by-day/$day/today.json"
  assert_output running
}

@test "a day without executions is ENOENT, and so is a name that is not a day" {
  mount_fs
  start x
  run fsop lookup "$M/by-day/2001-01-01"
  assert_output ENOENT
  for bad in 2026-13-01 2026-02-30 26-01-01 2026-1-1 notaday; do
    run fsop lookup "$M/by-day/$bad"
    assert_output ENOENT
  done
}

@test "by-day groups executions by the UTC day of started_at" {
  # The daemon's clock is set with faketime, so every backend is tested alike.
  FS_WRAP="faketime 2024-02-29T12:00:00Z" mount_fs
  start leap-a
  start leap-b
  unmount_fs
  FS_WRAP="faketime 2024-03-01T00:00:01Z" mount_fs
  start march
  run ls "$M/by-day"
  assert_output "$(printf '%s\n' 2024-02-29 2024-03-01)"
  run ls "$M/by-day/2024-02-29"
  assert_output "$(printf '%s\n' leap-a.json leap-b.json)"
  run ls "$M/by-day/2024-03-01"
  assert_output march.json
  run jq -r .started_at "$M/by-day/2024-02-29/leap-a.json"
  [ "$output" -ge 1709164800 ] && [ "$output" -lt 1709251200 ]
}

@test "latest is a symlink to the most recently started execution, absent while empty" {
  mount_fs
  run fsop lookup "$M/latest"
  assert_output ENOENT
  run ls "$M"
  refute_line latest
  start first
  run readlink "$M/latest"
  assert_output first.json
  start second
  echo success >"$M/status/first"
  run readlink "$M/latest"
  assert_output second.json
  run jq -r .execution_id "$M/latest"
  assert_output second
  run ls "$M"
  assert_line latest
}

@test "by-outcome lists exactly the executions of that outcome on a larger log" {
  mount_fs
  for i in $(seq 2000); do : >"$M/new/ok$i" && echo success >"$M/status/ok$i"; done
  for i in 1 2 3; do : >"$M/new/bad$i" && echo error >"$M/status/bad$i"; done
  run ls "$M/by-outcome/error"
  assert_output "$(printf '%s\n' bad1.json bad2.json bad3.json)"
  run ls "$M/by-outcome/success"
  assert_equal "$(echo "$output" | wc -l)" 2000
}

@test "by-tag and by-tool list every value and exactly their executions, across many replies" {
  mount_fs
  # 600 values: a listing of them takes several readdir replies.
  python3 - "$M" <<'PY'
import os, sys
for i in range(600):
    doc = '{"args": ["/bin/t%d"], "tags": {"n": "%04d", "all": "yes"}}' % (i % 7, i)
    fd = os.open(f"{sys.argv[1]}/new/run{i:04d}", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, doc.encode())
    os.close(fd)
PY
  run bash -c 'ls "$1/by-tag" | grep -c "^n="' _ "$M"
  assert_output 600
  run bash -c 'ls "$1/by-tag" | sort | uniq -d' _ "$M"
  assert_output ""
  run bash -c 'ls -f "$1/by-tag" | grep -vx "[.][.]*" | sort | head -3' _ "$M"
  assert_output "$(printf '%s\n' all=yes n=0000 n=0001)"
  run ls "$M/by-tag/n=0417"
  assert_output run0417.json
  run bash -c 'ls "$1/by-tag/all=yes" | wc -l' _ "$M"
  assert_output 600
  run ls "$M/by-tool"
  assert_output "$(printf 't%s\n' 0 1 2 3 4 5 6)"
  run bash -c 'ls "$1/by-tool/t3" | wc -l' _ "$M"
  assert_output 86
}
