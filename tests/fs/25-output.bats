#!/usr/bin/env bats
# Output: output/<id> — what a run printed, read with cat, followed with
# tail -f, appended by the mounting user while the run goes, capped by
# -o output_max, and gone with its record.
load helper

# errno_of PYTHON_BODY ARG...: runs a few lines of Python with sys.argv and
# prints OK or the errno name of the OSError they raised.
errno_of() {
  local body=$1
  shift
  python3 -c "import errno, os, sys
try:
$(printf '%s\n' "$body" | sed 's/^/    /')
    print('OK')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))" "$@"
}

# pwrite_at PATH DATA OFFSET: one pwrite(2) of DATA at OFFSET, on a file opened O_WRONLY.
pwrite_at() {
  errno_of 'fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    os.pwrite(fd, sys.argv[2].encode(), int(sys.argv[3]))
finally:
    os.close(fd)' "$@"
}

# The output of $1 is exactly $2 (printf's escapes), and its st_size says so.
assert_output_is() {
  printf "$2" >"$T/want"
  cmp "$T/want" "$M/output/$1" || fail "output/$1 is '$(cat "$M/output/$1")'"
  [ "$(stat -c %s "$M/output/$1")" -eq "$(stat -c %s "$T/want")" ] ||
    fail "output/$1 has st_size $(stat -c %s "$M/output/$1"), expected $(stat -c %s "$T/want")"
}

@test "output/ lists one file per execution; cat of an empty output gives nothing" {
  mount_fs
  start x
  start y
  run ls "$M/output"
  assert_output $'x\ny'
  run ls "$M"
  assert_line output
  run cat "$M/output/x"
  assert_success
  assert_output ''
  run stat -c '%s %F' "$M/output/x"
  assert_output '0 regular empty file'
  run cat "$M/output/nosuch"
  assert_failure
}

@test "echo >> appends a write at a time; cat and st_size follow" {
  mount_fs
  start x
  start y
  echo a >>"$M/output/x"
  assert_output_is x 'a\n'
  echo a >>"$M/output/x"
  printf 'bc' >>"$M/output/x"
  assert_output_is x 'a\na\nbc'
  # Another run's output is its own.
  assert_output_is y ''
  # A read at an offset reads from there.
  run tail -c 3 "$M/output/x"
  assert_output $'\nbc'
  run dd if="$M/output/x" bs=1 skip=1 count=2 status=none
  assert_output $'\na'
  # The record counts it, and its own size follows at once when the count gains a digit.
  run jq .output_bytes "$M/x.json" "$M/y.json"
  assert_output $'6\n0'
  printf '789' >>"$M/output/x"
  # stat (the kernel keeps the record's size for a second), append the 10th byte, stat again.
  run python3 -c 'import os, sys
record, output = sys.argv[1:]
os.stat(record)
fd = os.open(output, os.O_WRONLY | os.O_APPEND)
os.write(fd, b"X")
os.close(fd)
with open(record, "rb") as f:
    print(os.stat(record).st_size, len(f.read()))' "$M/x.json" "$M/output/x"
  assert_success
  [ "${lines[0]% *}" = "${lines[0]#* }" ] || fail "x.json: st_size and bytes are ${lines[0]}"
  run jq .output_bytes "$M/x.json"
  assert_output 10
}

@test "st_size is never a stale one: a write through a second mount shows at the next stat" {
  mount_fs
  start x
  mount_second
  echo one >>"$M/output/x"
  # The first mount's kernel has just seen the size; the second appends behind its back.
  [ "$(stat -c %s "$M/output/x")" -eq 4 ] || fail "st_size is not 4 after one append"
  echo two >>"$M2/output/x"
  [ "$(stat -c %s "$M/output/x")" -eq 8 ] || fail "st_size is $(stat -c %s "$M/output/x"), not 8"
  run cat "$M/output/x"
  assert_output $'one\ntwo'
  # O_APPEND through the first mount goes at the store's end, not at the end it last saw.
  echo three >>"$M/output/x"
  assert_output_is x 'one\ntwo\nthree\n'
}

@test "> writes an empty output; truncating a non-empty one is EPERM" {
  mount_fs
  start x
  start y
  echo first >"$M/output/x"
  assert_output_is x 'first\n'
  run bash -c 'echo again >"$1"' _ "$M/output/x"
  assert_failure
  run fsop open "$M/output/x" w,t
  assert_output EPERM
  run fsop truncate "$M/output/x" 0
  assert_output EPERM
  run fsop truncate "$M/output/x" 100
  assert_output EPERM
  assert_output_is x 'first\n'
  assert_logged "output is appended, never truncated"
  # Truncating an empty output to 0 changes nothing and is accepted.
  run fsop truncate "$M/output/y" 0
  assert_output OK
  run fsop open "$M/output/y" w,t
  assert_output OK
  assert_output_is y ''
}

@test "a write at another offset than the output's end is EINVAL" {
  mount_fs
  start x
  echo abc >>"$M/output/x"
  run pwrite_at "$M/output/x" Z 0
  assert_output EINVAL
  run pwrite_at "$M/output/x" Z 2
  assert_output EINVAL
  run pwrite_at "$M/output/x" Z 10
  assert_output EINVAL
  assert_output_is x 'abc\n'
  assert_logged "output is appended only"
  # At its end, a pwrite is an append.
  run pwrite_at "$M/output/x" Z 4
  assert_output OK
  assert_output_is x 'abc\nZ'
}

@test "tail -f sees a line written after it started; tail --pid ends with the recorder" {
  mount_fs
  start x
  echo one >>"$M/output/x"
  # A stand-in for the recorder: tail -f cannot tell that a run has ended
  # (it follows the file forever), --pid makes it end with the process.
  sleep 60 &
  local recorder=$!
  timeout 30 tail -f --pid="$recorder" "$M/output/x" >"$T/tail.out" 2>"$T/tail.err" &
  local tail=$!
  poll 10 grep -qx one "$T/tail.out" || fail "tail -f never printed the first line"
  echo two >>"$M/output/x"
  poll 10 grep -qx two "$T/tail.out" || fail "tail -f never saw the line written after it started"
  echo success >"$M/status/x"
  kill "$recorder"
  wait "$recorder" || true
  local status=0
  wait "$tail" || status=$?
  [ "$status" -eq 0 ] || fail "tail exited $status: $(cat "$T/tail.err")"
  run cat "$T/tail.out"
  assert_output $'one\ntwo'
}

@test "after the finish the output is final: opening to write and writing are EPERM" {
  mount_fs
  start x
  start y
  echo kept >>"$M/output/x"
  echo success >"$M/status/x"
  run fsop open "$M/output/x" w,a more
  assert_output EPERM
  run bash -c 'echo more >>"$1"' _ "$M/output/x"
  assert_failure
  assert_output_is x 'kept\n'
  assert_logged "x has finished: its output is final"
  # A descriptor opened while the run went on can write no more after its finish.
  run errno_of 'fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b"before\n")
with open(sys.argv[2], "w") as status:
    status.write("error")
try:
    os.write(fd, b"after\n")
finally:
    os.close(fd)' "$M/output/y" "$M/status/y"
  assert_output EPERM
  assert_output_is y 'before\n'
}

@test "-o output_max caps a run's output: EFBIG, what fits is kept, the finish says it was cut" {
  mount_fs output_max=10
  start x
  start y
  start z
  run fsop open "$M/output/x" w,a 0123456789abcdef
  assert_output EFBIG
  assert_output_is x '0123456789'
  run fsop open "$M/output/x" w,a z
  assert_output EFBIG
  assert_output_is x '0123456789'
  assert_logged "output past output_max=10 bytes"
  echo success >"$M/status/x"
  run jq -c '[.outcome, .error_message]' "$M/x.json"
  assert_output '["success","output cut at 10 bytes"]'
  # A message of the finish's own comes first.
  run fsop open "$M/output/y" w,a 01234567 89ab
  assert_output EFBIG
  echo '{"outcome": "error", "error_message": "boom"}' >"$M/status/y"
  run jq -c .error_message "$M/y.json"
  assert_output '"boom; output cut at 10 bytes"'
  # Exactly the cap is not cut.
  run fsop open "$M/output/z" w,a 0123456789
  assert_output OK
  echo error >"$M/status/z"
  run jq -c .error_message "$M/z.json"
  assert_output null
}

@test "an abandoned run whose output was cut says so after the reaper's message" {
  mount_fs output_max=4 stale_after=1
  start x
  run fsop open "$M/output/x" w,a 123456
  assert_output EFBIG
  poll 20 grep -qx error "$M/status/x" || fail "x was never abandoned"
  run jq -r .error_message "$M/x.json"
  assert_output 'abandoned: no heartbeat for 1 s; output cut at 4 bytes'
}

@test "an append is a heartbeat: stale_after spares a run that prints, and abandons it once it stops" {
  mount_fs stale_after=2
  start talker
  start quiet
  # Five seconds of output and never a touch of status/talker: without the
  # appends' heartbeats the reaper (every second) would abandon it at two.
  for i in $(seq 20); do
    echo "line $i" >>"$M/output/talker" || fail "append $i refused: talker was abandoned"
    sleep 0.25
  done
  run cat "$M/status/talker"
  assert_output running
  run cat "$M/status/quiet"
  assert_output error
  poll 20 grep -qx error "$M/status/talker" || fail "talker, silent now, was never abandoned"
  run jq -r .error_message "$M/talker.json"
  assert_output 'abandoned: no heartbeat for 2 s'
  [ "$(wc -l <"$M/output/talker")" -eq 20 ]
}

@test "rm of a record removes its output: its name started again begins empty" {
  mount_fs
  start x
  echo old >>"$M/output/x"
  echo success >"$M/status/x"
  run fsop unlink "$M/output/x"
  assert_output EPERM
  assert_logged "an output file goes with its record: remove x.json"
  rm "$M/x.json"
  run cat "$M/output/x"
  assert_failure
  run ls "$M/output"
  assert_output ''
  start x
  assert_output_is x ''
  echo new >>"$M/output/x"
  assert_output_is x 'new\n'
}

@test "a descriptor of output/<id> stays its run's: after rm and a new start of the name it reads no other run's output" {
  mount_fs
  start x
  echo old >>"$M/output/x"
  echo success >"$M/status/x"
  run errno_of 'fd = os.open(sys.argv[1] + "/output/x", os.O_RDONLY)
print(os.pread(fd, 100, 0))
os.unlink(sys.argv[1] + "/x.json")
os.close(os.open(sys.argv[1] + "/new/x", os.O_WRONLY | os.O_CREAT))
with open(sys.argv[1] + "/output/x", "ab") as f:
    f.write(b"new\n")
print(os.pread(fd, 100, 0))' "$M"
  assert_line --index 0 "b'old\\n'"
  refute_output --partial new
  assert_line --index 1 ENOENT
  assert_output_is x 'new\n'
}

@test "keep_count prunes a run's output with its record" {
  mount_fs
  start a
  echo aaa >>"$M/output/a"
  echo success >"$M/status/a"
  start b
  echo bbb >>"$M/output/b"
  echo success >"$M/status/b"
  unmount_fs
  mount_fs keep_count=1
  poll 10 bash -c "! test -e '$M/a.json'" || fail "a was never pruned"
  start a
  assert_output_is a ''
  assert_output_is b 'bbb\n'
}

@test "output survives a remount" {
  mount_fs
  start x
  echo line1 >>"$M/output/x"
  unmount_fs
  mount_fs
  assert_output_is x 'line1\n'
  echo line2 >>"$M/output/x"
  assert_output_is x 'line1\nline2\n'
}

@test "a read-only mount reads output and refuses writes with EROFS" {
  mount_fs
  start x
  echo kept >>"$M/output/x"
  unmount_fs
  mount_fs ro
  assert_output_is x 'kept\n'
  run fsop open "$M/output/x" w,a more
  assert_output EROFS
  run fsop truncate "$M/output/x" 0
  assert_output EROFS
  assert_output_is x 'kept\n'
}

@test "with -o allow_other another user reads output but cannot write it: EACCES" {
  chmod 755 "$T"
  install -m 644 "$HELPERS_DIR/fsop.py" "$T/fsop.py"
  mount_fs allow_other
  start x
  echo mine >>"$M/output/x"
  run setpriv --reuid=65534 --regid=65534 --clear-groups -- cat "$M/output/x"
  assert_success
  assert_output mine
  run setpriv --reuid=65534 --regid=65534 --clear-groups -- \
    /usr/bin/python3 "$T/fsop.py" open "$M/output/x" w,a theirs
  assert_output EACCES
  assert_output_is x 'mine\n'
}
