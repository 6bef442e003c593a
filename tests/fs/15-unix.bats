#!/usr/bin/env bats
# A Unix citizen: execlogfs [STORE] MOUNTPOINT; mount(8) through mount.fuse3
# (-t fuse.PROGRAM, the old "PROGRAM#STORE" form, a test fstab read by
# mount -T) with the options mount(8) adds and those only fstab means; df
# and statfs; and the bounds of the numeric options.
#
# mount.fuse3 runs the helper with a fixed PATH, so these tests name the
# built binary itself as the type, which mount.fuse3 takes as the command:
# `-t fuse.$EXECLOGFS` is what `-t fuse.execlogfs` is once installed. The
# daemons mount(8) starts fork away; each test finds its own by $M.
load helper
bats_require_minimum_version 1.5.0

teardown() {
  local pid
  pid=$(daemon_of_mount)
  unmount_all
  if [ -n "$pid" ] && ! poll 10 gone "$pid"; then
    echo "the daemon $pid still runs 10 s after its unmount; killed" >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
  teardown_mount
}

gone() {
  ! kill -0 "$1" 2>/dev/null
}

# The pid of the execlogfs daemon whose arguments name $M (none: nothing).
daemon_of_mount() {
  local f
  # One grep reads every command line: NUL-separated arguments, one of them $M.
  for f in $(grep -lzxF -- "$M" /proc/[0-9]*/cmdline 2>/dev/null); do
    [ "$(head -z -n 1 "$f" 2>/dev/null | tr -d '\0')" = "$EXECLOGFS" ] && basename "$(dirname "$f")"
  done
  return 0
}

# umount_fs: unmounts $M with umount(8), as a user of mount(8) would, and
# waits for the daemon to end.
umount_fs() {
  local pid
  pid=$(daemon_of_mount)
  [ -n "$pid" ] || fail "no daemon serves $M"
  run umount "$M"
  assert_success
  poll 10 gone "$pid" || fail "the daemon $pid still runs after umount"
  run mountpoint -q "$M"
  assert_failure
}

# A start and its finish through the mount, then read back.
use_mount() {
  start "$1" '{"tool_version":"unix"}'
  echo success >"$M/status/$1"
  run jq -r '[.tool_version, .outcome] | join(" ")' "$M/$1.json"
  assert_output "unix success"
}

# After an unmount: the store at $DB holds the run $1, as an ordinary mount shows.
assert_kept() {
  mount_fs
  run jq -r '[.tool_version, .outcome] | join(" ")' "$M/$1.json"
  assert_output "unix success"
  unmount_fs
}

# $DB as an fstab field: blanks and backslashes octal-escaped (a connection
# string has spaces).
fstab_field() {
  local s=${1//\\/\\134}
  s=${s// /\\040}
  printf '%s' "${s//$'\t'/\\011}"
}

# refused_2 FRAGMENT ARGS...: `execlogfs -f ARGS` exits 2 (a bad command
# line) with one line on stderr that mentions FRAGMENT, mounts nothing and
# leaves the store at $DB as it was.
refused_2() {
  local fragment=$1 before
  shift
  before=$(store_sum)
  run --separate-stderr timeout 20 "$EXECLOGFS" -f "$@"
  [ "$status" -eq 2 ] || fail "execlogfs -f $* exited $status, not 2 (stderr: $stderr)"
  [ "${#stderr_lines[@]}" -eq 1 ] || fail "execlogfs -f $* printed: $stderr"
  [[ "$stderr" == *"$fragment"* ]] || fail "'$stderr' does not mention '$fragment'"
  run mountpoint -q "$M"
  assert_failure
  [ "$(store_sum)" = "$before" ] || fail "execlogfs -f $* changed the store"
}

# --- execlogfs [STORE] MOUNTPOINT ---

@test "execlogfs STORE MOUNTPOINT mounts the store named first, as -o db= does" {
  "$EXECLOGFS" -f -o "store=$STORE" "$DB" "$M" >>"$LOG" 2>&1 &
  PID=$!
  wait_mounted
  use_mount first
  unmount_fs
  assert_kept first
  if [ "$STORE" != postgres ]; then
    # A relative STORE is taken from where execlogfs started, and the kind
    # of an existing store from what it holds.
    cd "$T"
    "$EXECLOGFS" -f "$(basename "$DB")" mnt >>"$LOG" 2>&1 &
    PID=$!
    wait_mounted
    run jq -r .outcome "$M/first.json"
    assert_output success
    use_mount relative
    unmount_fs
    assert_kept relative
  fi
}

@test "STORE with -o db= as well, an empty STORE or a third word is a bad command line: exit 2, one line" {
  refused_2 'given twice' -o "store=$STORE,db=$DB" "$T/other" "$M"
  [ ! -e "$T/other" ]
  refused_2 'too many arguments' -o "store=$STORE" "$DB" "$M" "$T/third"
  [ ! -e "$T/third" ]
  refused_2 'empty STORE' -o "store=$STORE" "" "$M"
}

@test "the options only mount(8) and fstab mean are accepted and do nothing" {
  "$EXECLOGFS" -f -o "store=$STORE,defaults,auto,noauto,nofail,_netdev,user,nouser,users" \
    -o "x-systemd.automount,x-systemd.mount-timeout=30,x-gvfs-hide,comment=systemd.automount" \
    "$DB" "$M" >>"$LOG" 2>&1 &
  PID=$!
  wait_mounted
  use_mount fstab_only
  unmount_fs
  assert_kept fstab_only
}

# --- mount(8) ---

@test "mount -t fuse.execlogfs STORE MOUNTPOINT mounts through mount.fuse3, umount unmounts" {
  # mount.fuse3 adds -o rw,dev,suid; the fstab-only options go through too.
  run mount -t "fuse.$EXECLOGFS" -o "store=$STORE,noauto,nofail,_netdev,x-systemd.automount" \
    "$DB" "$M" 3>&-
  assert_success
  run grep -F " $M fuse.execlogfs " /proc/mounts
  assert_success
  use_mount via_mount
  umount_fs
  assert_kept via_mount
}

@test "mount -t fuse 'EXECLOGFS#STORE' MOUNTPOINT (the old form) mounts, umount unmounts" {
  run mount -t fuse -o "store=$STORE,nodev,nosuid,sync=full" "$EXECLOGFS#$DB" "$M" 3>&-
  assert_success
  use_mount old_form
  umount_fs
  assert_kept old_form
}

@test "an fstab line (STORE MOUNTPOINT fuse.execlogfs defaults,allow_other): mount -T, then umount" {
  printf '# a test fstab\n%s %s fuse.%s store=%s,defaults,allow_other,noauto,nofail,_netdev,x-systemd.automount 0 0\n' \
    "$(fstab_field "$DB")" "$M" "$EXECLOGFS" "$STORE" >"$T/fstab"
  run mount -T "$T/fstab" "$M" 3>&-
  assert_success
  run grep -F " $M fuse.execlogfs " /proc/mounts
  assert_output --partial allow_other
  use_mount from_fstab
  umount_fs
  # The old form in fstab, with the options a user mount adds.
  printf '%s#%s %s fuse store=%s,user,noauto 0 0\n' \
    "$EXECLOGFS" "$(fstab_field "$DB")" "$M" "$STORE" >"$T/fstab"
  run mount -T "$T/fstab" "$M" 3>&-
  assert_success
  run jq -r .outcome "$M/from_fstab.json"
  assert_output success
  use_mount from_fstab_old
  umount_fs
  assert_kept from_fstab_old
}

# --- df and statfs ---

@test "df and statfs report the room of the disk that holds the store" {
  mount_fs
  if [ "$STORE" = postgres ]; then
    # The room is the server's, which this host cannot see: zeros, as unknown.
    run df -B1 --output=size,avail "$M"
    assert_success
    assert_line --index 1 --regexp '^ *0 +0$'
    return 0
  fi
  local at=$DB
  [ "$STORE" = sqlite ] || at=$DB/data.mdb
  # The same block size and size as the disk, and some of it free.
  run stat -f -c '%S %b' "$M"
  assert_output "$(stat -f -c '%S %b' "$at")"
  local size avail
  read -r size avail < <(df -B1 --output=size,avail "$M" | tail -n 1)
  [ "$size" -gt 0 ] && [ "$avail" -gt 0 ] && [ "$avail" -le "$size" ] ||
    fail "df shows size $size, available $avail"
  [ "$size" = "$(df -B1 --output=size "$at" | tail -n 1 | tr -d ' ')" ]
}

@test "df of an LMDB store with map_max shows the map, which fills and empties; SQLite shows its disk" {
  mount_fs map_max=4194304
  local size avail before
  read -r size before < <(df -B1 --output=size,avail "$M" | tail -n 1)
  if [ "$STORE" = postgres ]; then
    # map_max is LMDB's: the room stays unknown.
    [ "$size" -eq 0 ] && [ "$before" -eq 0 ] || fail "df shows $size, $before"
    return 0
  elif [ "$STORE" = sqlite ]; then
    [ "$size" = "$(df -B1 --output=size "$DB" | tail -n 1 | tr -d ' ')" ]
    return 0
  fi
  [ "$size" -eq 4194304 ] || fail "df shows $size bytes, not the map's 4194304"
  [ "$before" -gt 0 ] && [ "$before" -lt "$size" ] || fail "available: $before of $size"
  local big i
  big=$(head -c 20000 /dev/zero | tr '\0' x)
  for i in $(seq 40); do start "r$i" "{\"args\":[\"$big\"]}"; done
  read -r size avail < <(df -B1 --output=size,avail "$M" | tail -n 1)
  [ "$avail" -le $((before - 40 * 20000)) ] || fail "40 runs of 20 kB left $avail of $before free"
  for i in $(seq 40); do echo success >"$M/status/r$i"; rm "$M/r$i.json"; done
  # Deleted records' pages are free again (LMDB's free list).
  read -r size after < <(df -B1 --output=size,avail "$M" | tail -n 1)
  [ "$after" -gt $((avail + 20 * 20000)) ] || fail "deletes left $after free (full: $avail)"
}

# --- numeric options are bounded, option names and values match exactly ---

@test "numeric options past their bound or overflowing are a bad option: exit 2, one line" {
  local opt
  for opt in keep_days=160127986750951 keep_days=36526 stale_after=13835058055282163 \
      stale_after=3155760001 keep_count=1000000000001 keep_count=99999999999999999999 \
      map_max=70368744177665 map_max=18446744073709551616 max_read=4294967296 \
      max_threads=4294967297 max_threads=0 max_idle_threads=100001 \
      max_idle_threads=99999999999999999999; do
    refused_2 "bad option $opt" -o "store=$STORE,db=$DB,$opt" "$M"
  done
  # Each bound itself is taken.
  mount_fs keep_days=36525 stale_after=3155760000 keep_count=1000000000000 map_max=70368744177664 \
    max_threads=100000 max_idle_threads=100000 max_read=4294967295
  use_mount bounds
}

@test "store= names a backend exactly: store=sql and store=lite are bad options, exit 2" {
  local name
  for name in sql lite lmd post sqlite3; do
    refused_2 "bad option store=$name" -o "store=$name,db=$DB" "$M"
  done
}
