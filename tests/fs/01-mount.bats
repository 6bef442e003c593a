#!/usr/bin/env bats
# Mounting: options, which store, refusals that damage nothing, the default
# store, daemon and foreground, clean unmounts, -s, -o ro and sync=full.
load helper
bats_require_minimum_version 1.5.0

# The backend that is not $STORE.
other_store() {
  if [ "$STORE" = sqlite ]; then echo lmdb; else echo sqlite; fi
}

# make_store: a $STORE store at $DB with a finished "a" and a running "b".
make_store() {
  mount_fs
  start a '{"tool_version":"made"}'
  echo success >"$M/status/a"
  start b
  unmount_fs
}

# refused FRAGMENT ARGS...: `execlogfs -f ARGS` exits non-zero (and not by
# the timeout) with exactly one line on stderr, which mentions FRAGMENT, and
# mounts nothing.
refused() {
  local fragment=$1
  shift
  run --separate-stderr timeout 20 "$EXECLOGFS" -f "$@"
  [ "$status" -ne 0 ] && [ "$status" -ne 124 ] ||
    fail "execlogfs -f $* exited $status (stderr: $stderr)"
  [ "${#stderr_lines[@]}" -eq 1 ] ||
    fail "execlogfs -f $* printed ${#stderr_lines[@]} lines on stderr: $stderr"
  [[ "$stderr" == *"$fragment"* ]] ||
    fail "execlogfs -f $*: '$stderr' does not mention '$fragment'"
  run mountpoint -q "$M"
  assert_failure
}

# bad_mount FRAGMENT ARGS...: refused (see refused) with no store at $DB,
# which creates none, and with an existing store, which stays byte for byte.
bad_mount() {
  rm -rf "$DB"
  refused "$@"
  [ ! -e "$DB" ] || fail "a refused mount created $DB"
  make_store
  local before
  before=$(store_sum)
  refused "$@"
  [ "$(store_sum)" = "$before" ] || fail "a refused mount changed the store at $DB"
}

# Records "a" and "b" of make_store read right through the mount.
assert_made_store() {
  run jq -r '[.tool_version, .outcome] | join(" ")' "$M/a.json"
  assert_output "made success"
  run cat "$M/status/b"
  assert_output running
}

# Prints the pid of every process whose command line is exactly ARGS.
pids_of_command() {
  local want p
  want=$(printf '%s\n' "$@")
  for p in /proc/[0-9]*; do
    [ "$(tr '\0' '\n' <"$p/cmdline" 2>/dev/null)" = "$want" ] && echo "${p#/proc/}"
  done
  return 0
}

# What the store at $DB holds, from outside the mount: the rows of the SQLite
# table, or LMDB's data file.
store_rows() {
  if [ "$STORE" = sqlite ]; then
    sqlite3 "$DB" '.mode quote' 'SELECT * FROM execution_log ORDER BY id'
  else
    cat "$DB/data.mdb"
  fi
}

gone() {
  ! kill -0 "$1" 2>/dev/null
}

# --- help and version ---

@test "--help names store=, db= and sync= and exits 0" {
  run --separate-stderr "$EXECLOGFS" --help
  assert_success
  assert_output --partial 'store='
  assert_output --partial 'db='
  assert_output --partial 'sync='
  assert_output --partial 'MOUNTPOINT'
  run --separate-stderr "$EXECLOGFS" -h
  assert_success
  assert_output --partial 'sync='
}

@test "--version prints execlogfs 0.1.0 and exits 0" {
  # Its own line first, also into a pipe (as `execlogfs --version | head -1`).
  run --separate-stderr "$EXECLOGFS" --version
  assert_success
  assert_line --index 0 'execlogfs 0.1.0'
  run --separate-stderr "$EXECLOGFS" -V
  assert_success
  assert_line --index 0 'execlogfs 0.1.0'
}

# --- bad command lines: one line, non-zero, the store untouched ---

@test "-o store=bogus: one line, non-zero, no store created or changed" {
  bad_mount 'store=bogus' -o "store=bogus,db=$DB" "$M"
}

@test "-o sync=bogus: one line, non-zero, no store created or changed" {
  bad_mount 'sync=bogus' -o "store=$STORE,db=$DB,sync=bogus" "$M"
}

@test "an unknown -o key: one line, non-zero, no store created or changed" {
  bad_mount 'frobnicate' -o "store=$STORE,db=$DB,frobnicate" "$M"
  bad_mount 'frobnicate=1' -o "store=$STORE,db=$DB" -o frobnicate=1 "$M"
}

@test "a mount point that does not exist: one line, non-zero, no store created or changed" {
  bad_mount "$T/nope" -o "store=$STORE,db=$DB" "$T/nope"
  [ ! -e "$T/nope" ]
}

@test "a mount point that is a file: one line, non-zero, no store created or changed" {
  echo x >"$T/file"
  bad_mount "$T/file" -o "store=$STORE,db=$DB" "$T/file"
  run cat "$T/file"
  assert_output x
}

@test "no mount point: one line, non-zero, no store created or changed" {
  bad_mount 'mount point' -o "store=$STORE,db=$DB"
}

@test "a bad option creates no default store and leaves an existing one as it was" {
  export HOME=$T/home
  unset XDG_DATA_HOME
  mkdir -p "$HOME"
  local store=$HOME/.local/share/execlogfs/execlog.sqlite
  refused 'frobnicate' -o frobnicate "$M"
  refused 'sync=bogus' -o sync=bogus "$M"
  run find "$HOME" -type f
  assert_output ''
  mount_fs_raw
  start d
  unmount_fs
  local before
  before=$(store_sum "$store")
  refused 'frobnicate' -o frobnicate "$M"
  refused 'sync=bogus' -o sync=bogus "$M"
  [ "$(store_sum "$store")" = "$before" ]
}

@test "a store that cannot be opened (db= under a missing directory or a file): one line, non-zero" {
  refused "$T/no/such/db" -o "store=$STORE,db=$T/no/such/db" "$M"
  [ ! -e "$T/no" ]
  echo x >"$T/file"
  refused "$T/file/db" -o "store=$STORE,db=$T/file/db" "$M"
  refused "$T/file/db" -o "db=$T/file/db" "$M"
  run cat "$T/file"
  assert_output x
}

# --- which store ---

@test "a store of the other kind is refused in one line and left as it was" {
  make_store
  local before
  before=$(store_sum)
  cp -a "$DB" "$T/copy"
  refused "$DB" -o "store=$(other_store),db=$DB" "$M"
  # The line says what the store is and how to mount it.
  [[ "$stderr" == *"mount it with -o store=$STORE"* ]] || fail "no hint in: $stderr"
  [ "$(store_sum)" = "$before" ]
  diff -r "$T/copy" "$DB"
  # It still mounts as what it is.
  mount_fs
  assert_made_store
}

@test "a garbage file at db= is refused in one line and left as it was" {
  head -c 65536 /dev/urandom >"$T/garbage"
  cp "$T/garbage" "$DB"
  refused "$DB" -o "store=$STORE,db=$DB" "$M"
  cmp "$T/garbage" "$DB"
  refused "$DB" -o "db=$DB" "$M"
  cmp "$T/garbage" "$DB"
  # A file that only starts like SQLite.
  { printf 'SQLite format 3\0'; cat "$T/garbage"; } >"$T/fake"
  cp "$T/fake" "$DB"
  refused "$DB" -o "store=$STORE,db=$DB" "$M"
  cmp "$T/fake" "$DB"
  refused "$DB" -o "db=$DB" "$M"
  cmp "$T/fake" "$DB"
  [ "$(find "$T" -maxdepth 1 -name 'db*' | wc -l)" -eq 1 ] || fail "files next to \$DB: $(ls "$T")"
}

@test "a directory with a garbage data.mdb at db= is refused in one line and left as it was" {
  mkdir "$DB"
  head -c 65536 /dev/urandom >"$DB/data.mdb"
  cp -a "$DB" "$T/copy"
  refused "$DB" -o "store=$STORE,db=$DB" "$M"
  diff -r "$T/copy" "$DB"
  refused "$DB" -o "db=$DB" "$M"
  diff -r "$T/copy" "$DB"
}

@test "db= alone mounts an existing store as the kind it is" {
  make_store
  mount_fs_raw -o "db=$DB"
  assert_made_store
  start c '{"tool_version":"via-db-alone"}'
  echo partial >"$M/status/c"
  unmount_fs
  if [ "$STORE" = lmdb ]; then
    [ -d "$DB" ] && [ -f "$DB/data.mdb" ] && [ -f "$DB/lock.mdb" ]
    run mdb_stat "$DB"
    assert_success
  else
    [ -f "$DB" ]
    run head -c 15 "$DB"
    assert_output 'SQLite format 3'
    run sqlite3 "$DB" "SELECT tool_version, outcome FROM execution_log WHERE execution_id = 'c'"
    assert_output 'via-db-alone|partial'
  fi
  # What db= alone wrote is in the $STORE store.
  mount_fs
  assert_made_store
  run jq -r '[.tool_version, .outcome] | join(" ")' "$M/c.json"
  assert_output "via-db-alone partial"
}

@test "db= alone on a new path creates a SQLite store" {
  mount_fs_raw -o "db=$DB"
  start n '{"tool_version":"new"}'
  echo success >"$M/status/n"
  unmount_fs
  [ -f "$DB" ]
  run bash -c 'head -c 16 "$1" | od -An -c | tr -s " "' _ "$DB"
  assert_output ' S Q L i t e f o r m a t 3 \0'
  run sqlite3 "$DB" "SELECT tool_version, outcome FROM execution_log WHERE execution_id = 'n'"
  assert_output 'new|success'
  STORE=sqlite mount_fs
  run jq -r .outcome "$M/n.json"
  assert_output success
}

# --- the default store ---

@test "with no options the store is ~/.local/share/execlogfs/execlog.sqlite (XDG_DATA_HOME unset)" {
  export HOME=$T/home
  unset XDG_DATA_HOME
  mkdir -p "$HOME"
  mount_fs_raw
  start def '{"tool_version":"default"}'
  echo success >"$M/status/def"
  unmount_fs
  local store=$HOME/.local/share/execlogfs/execlog.sqlite
  [ -f "$store" ]
  run head -c 15 "$store"
  assert_output 'SQLite format 3'
  run sqlite3 "$store" "SELECT tool_version, outcome FROM execution_log WHERE execution_id = 'def'"
  assert_output 'default|success'
  # A second mount finds it again.
  mount_fs_raw
  run jq -r .outcome "$M/def.json"
  assert_output success
}

@test "with no options and an empty XDG_DATA_HOME the store is under ~/.local/share" {
  export HOME=$T/home XDG_DATA_HOME=
  mkdir -p "$HOME"
  mount_fs_raw
  start def
  unmount_fs
  local store=$HOME/.local/share/execlogfs/execlog.sqlite
  run sqlite3 "$store" "SELECT outcome FROM execution_log WHERE execution_id = 'def'"
  assert_output running
  [ ! -e "$T/execlogfs" ] && [ ! -e "$PWD/execlogfs" ]
}

@test "with no options and XDG_DATA_HOME set the store is \$XDG_DATA_HOME/execlogfs/execlog.sqlite" {
  export HOME=$T/home XDG_DATA_HOME=$T/xdg
  mkdir -p "$HOME"
  mount_fs_raw
  start def
  echo error >"$M/status/def"
  unmount_fs
  run sqlite3 "$T/xdg/execlogfs/execlog.sqlite" "SELECT outcome FROM execution_log WHERE execution_id = 'def'"
  assert_output error
  [ ! -e "$HOME/.local/share/execlogfs" ]
}

# --- daemon, foreground, unmounting ---

@test "without -f it daemonizes, works, and fusermount3 -u unmounts it and ends the daemon" {
  # (fd 3 closed: bats waits for whoever holds it)
  run "$EXECLOGFS" -o "store=$STORE,db=$DB" "$M" 3>&-
  assert_success
  run mountpoint -q "$M"
  assert_success
  local pids
  pids=$(pids_of_command "$EXECLOGFS" -o "store=$STORE,db=$DB" "$M")
  [ -n "$pids" ] && [ "$(wc -l <<<"$pids")" -eq 1 ] || fail "daemon processes: '$pids'"
  PID=$pids # for teardown, should this test fail
  start bg '{"tool_version":"daemon"}'
  echo success >"$M/status/bg"
  run jq -r '[.tool_version, .outcome] | join(" ")' "$M/bg.json"
  assert_output "daemon success"
  run fusermount3 -u "$M"
  assert_success
  poll 10 gone "$PID" || fail "the daemon $PID still runs after fusermount3 -u"
  PID=
  run mountpoint -q "$M"
  assert_failure
  mount_fs
  run jq -r .outcome "$M/bg.json"
  assert_output success
}

@test "SIGTERM unmounts a -f daemon cleanly with exit status 0" {
  mount_fs
  start t '{"tool_version":"term"}'
  sigterm_fs
  mount_fs
  run jq -r .tool_version "$M/t.json"
  assert_output term
}

@test "SIGTERM right after touch new/x: exit status 0 and x is there after a remount (20 times)" {
  local i
  for i in $(seq 20); do
    mount_fs
    touch "$M/new/x$i"
    sigterm_fs "round $i"
  done
  mount_fs
  for i in $(seq 20); do
    run cat "$M/status/x$i"
    [ "$output" = running ] || fail "x$i, touched before SIGTERM, is missing after a remount ($output)"
  done
}

@test "fusermount3 -u right after touch new/x: exit status 0 and x is there after a remount (20 times)" {
  local i
  for i in $(seq 20); do
    mount_fs
    touch "$M/new/y$i" && unmount_fs || fail "round $i: unmount failed"
  done
  mount_fs
  for i in $(seq 20); do
    run cat "$M/status/y$i"
    [ "$output" = running ] || fail "y$i, touched before fusermount3 -u, is missing after a remount ($output)"
  done
}

@test "a SIGTERM that arrives while fusermount3 -u ends the daemon is harmless: exit status 0 (20 times)" {
  # main joins the signal thread before it frees what that thread drains.
  local i status
  for i in $(seq 20); do
    mount_fs
    touch "$M/new/z$i"
    fusermount3 -u "$M"
    # At a different moment of the daemon's exit each round.
    sleep "0.0$((i % 10))"
    kill -TERM "$PID" 2>/dev/null || true
    status=0
    wait_daemon "$PID" 10 || status=$?
    PID=
    [ "$status" -eq 0 ] || fail "round $i: the daemon exited $status"
  done
  mount_fs
  run ls "$M"
  assert_line z20.json
}

# toucher W: touches new/W-1, new/W-2, ... until a touch fails, appending
# the name of each touch that returned success to $T/touched.
toucher() {
  local i
  for i in $(seq 5000); do
    touch "$M/new/$1-$i" 2>/dev/null || break
    echo "$1-$i" >>"$T/touched"
  done
}

touched_at_least() {
  [ "$(cat "$T/touched" 2>/dev/null | wc -l)" -ge "$1" ]
}

@test "SIGTERM while 4 processes touch new/: exit status 0 and every touch that returned is there" {
  local round w status pids
  for round in 1 2 3 4 5; do
    mount_fs
    pids=()
    for w in 1 2 3 4; do
      toucher "r$round-w$w" 3>&- &
      pids+=($!)
    done
    poll 30 touched_at_least $((round * 100))
    sigterm_fs "round $round"
    wait "${pids[@]}"
  done
  mount_fs
  local name missing=0
  while read -r name; do
    [ "$(cat "$M/status/$name" 2>/dev/null)" = running ] || missing=$((missing + 1))
  done <"$T/touched"
  [ "$missing" -eq 0 ] || fail "$missing of $(wc -l <"$T/touched") touches that returned are missing"
}

@test "-s (single-threaded) starts, finishes and reads" {
  mount_fs_raw -s -o "store=$STORE,db=$DB"
  local i
  for i in $(seq 30); do
    touch "$M/new/s$i" && echo success >"$M/status/s$i" || fail "round $i failed"
  done
  start doc '{"tool_version":"single","args":["a"]}'
  echo 'error: it broke' >"$M/status/doc"
  run jq -c '[.tool_version, .args, .outcome, .error_message]' "$M/doc.json"
  assert_output '["single",["a"],"error","it broke"]'
  run bash -c 'cat "$1"/status/s* | sort | uniq -c | awk "{ print \$1, \$2 }"' _ "$M"
  assert_output "30 success"
  unmount_fs
}

@test "-d debugs in the foreground and the mount works" {
  mount_fs_raw -d -o "store=$STORE,db=$DB"
  start dbg
  echo success >"$M/status/dbg"
  run jq -r .outcome "$M/dbg.json"
  assert_output success
  assert_logged 'unique:'
  assert_logged 'CREATE'
  unmount_fs
}

@test "options libfuse knows pass through to it" {
  mount_fs default_permissions max_threads=4 max_idle_threads=2
  run grep -F " $M " /proc/mounts
  assert_output --partial default_permissions
  start opt
  echo partial >"$M/status/opt"
  run jq -r .outcome "$M/opt.json"
  assert_output partial
  unmount_fs
}

# --- -o ro and sync= ---

@test "-o ro: reads work and every change is EROFS" {
  make_store
  store_rows >"$T/rows.before"
  mount_fs ro
  assert_made_store
  cp "$M/a.json" "$T/a.before"
  run ls "$M"
  assert_output --partial a.json
  run fsop open "$M/new/x" w,c
  assert_output EROFS
  run fsop open "$M/new/y" w,c '{"tool_version":"y"}'
  assert_output EROFS
  run touch "$M/new/z"
  assert_failure
  run fsop write "$M/status/b" success
  assert_output EROFS
  run bash -c 'echo success > "$1/status/b"' _ "$M"
  assert_failure
  run fsop unlink "$M/a.json"
  assert_output EROFS
  run fsop utime "$M/status/b"
  assert_output EROFS
  run fsop open "$M/status/b" w,t
  assert_output EROFS
  run fsop mkdir "$M/d"
  assert_output EROFS
  run fsop rename "$M/a.json" "$M/c.json"
  assert_output EROFS
  run fsop chmod "$M/a.json" 600
  assert_output EROFS
  run fsop truncate "$M/a.json" 0
  assert_output EROFS
  run fsop setxattr "$M/a.json"
  assert_output EROFS
  assert_made_store
  cmp "$T/a.before" "$M/a.json"
  run cat "$M/status/b"
  assert_output running
  run ls "$M/status"
  assert_output $'a\nb'
  assert_alive
  unmount_fs
  store_rows >"$T/rows.after"
  cmp "$T/rows.before" "$T/rows.after"
  mount_fs
  assert_made_store
  cmp "$T/a.before" "$M/a.json"
}

@test "sync=full and sync=normal mount and work" {
  mount_fs sync=full
  start f '{"tool_version":"full"}'
  echo success >"$M/status/f"
  run jq -r '[.tool_version, .outcome] | join(" ")' "$M/f.json"
  assert_output "full success"
  unmount_fs
  mount_fs sync=normal
  run jq -r .outcome "$M/f.json"
  assert_output success
  start n
  echo partial >"$M/status/n"
  unmount_fs
  mount_fs sync=full
  run jq -r .outcome "$M/n.json"
  assert_output partial
}

@test "SIGTERM while a process holds a record open: the daemon still exits 0 at once" {
  mount_fs
  start held
  # libfuse unmounts lazily: the open file keeps the connection alive.
  sleep 30 <"$M/held.json" &
  local holder=$!
  sigterm_fs
  kill "$holder" 2>/dev/null || true
  wait "$holder" 2>/dev/null || true
}
