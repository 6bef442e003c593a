#!/usr/bin/env bats
# Finishing: status/<execution_id> — reading the outcome, the values a
# finish takes, and every value it refuses.
load helper

# The exact bytes of status/$1 are $2 and a newline.
assert_status() {
  printf '%s\n' "$2" >"$T/status.want"
  cmp "$T/status.want" "$M/status/$1" || fail "status/$1 is '$(cat "$M/status/$1")', expected '$2'"
  [ "$(stat -c %s "$M/status/$1")" -eq $((${#2} + 1)) ] || fail "status/$1 st_size is wrong"
}

# The record of $1 has outcome $2 and error_message $3 (JSON).
assert_finished() {
  run jq -c '[.outcome, .error_message]' "$M/$1.json"
  [ "$output" = "[\"$2\",$3]" ] || fail "$1.json has $output, expected [\"$2\",$3]"
  run jq -r '(.finished_at | type) + " " + (.duration_ms | type)' "$M/$1.json"
  [ "$output" = "number number" ] || fail "$1.json finished_at and duration_ms are $output"
}

# refuse_value VALUE: one write of VALUE to status/x fails with EINVAL, the
# shell's echo of it exits non-zero, and x is unchanged.
refuse_value() {
  run fsop write "$M/status/x" "$1"
  [ "$output" = EINVAL ] || fail "value '$1': the write gave $output, not EINVAL"
  run bash -c 'echo "$1" > "$2"' _ "$1" "$M/status/x"
  [ "$status" -ne 0 ] || fail "echo '$1' > status/x exited 0"
  cmp -s "$T/x.before" "$M/x.json" || fail "value '$1' changed x.json: $(cat "$M/x.json")"
  [ "$(cat "$M/status/x")" = running ] || fail "value '$1' changed status/x"
}

@test "reading status gives running, success, error or partial and a newline" {
  mount_fs
  start r
  start s
  start e
  start p
  assert_status r running
  echo success >"$M/status/s"
  echo error >"$M/status/e"
  echo partial >"$M/status/p"
  assert_status r running
  assert_status s success
  assert_status e error
  assert_status p partial
  run cat "$M/status/r" "$M/status/s" "$M/status/e" "$M/status/p"
  assert_output $'running\nsuccess\nerror\npartial'
}

@test "success, error and partial finish, with white space around and without a newline" {
  mount_fs
  local n
  for n in a b c d e f g h; do start "$n"; done
  run fsop write "$M/status/a" success
  assert_output OK
  printf partial >"$M/status/b"
  run fsop write "$M/status/c" $' \t error \n '
  assert_output OK
  echo success >"$M/status/d"
  # (bash's printf flushes at each newline: one write per line, so fsop here)
  run fsop write "$M/status/e" $'  partial\n\n'
  assert_output OK
  run fsop write "$M/status/f" $'\r\nsuccess\r\n'
  assert_output OK
  printf error >"$M/status/g"
  echo '   success' >"$M/status/h"
  assert_finished a success null
  assert_finished b partial null
  assert_finished c error null
  assert_finished d success null
  assert_finished e partial null
  assert_finished f success null
  assert_finished g error null
  assert_finished h success null
  assert_status c error
}

@test "error: <message> sets error_message" {
  mount_fs
  start a
  start b
  start c
  echo 'error: disk full' >"$M/status/a"
  assert_finished a error '"disk full"'
  assert_status a error
  run fsop write "$M/status/b" 'error: failed: é "quoted" \ back'
  assert_output OK
  run jq -r .error_message "$M/b.json"
  assert_output 'failed: é "quoted" \ back'
  printf 'error:x' >"$M/status/c"
  assert_finished c error '"x"'
}

@test "error: with nothing after it is error with a null message" {
  mount_fs
  start a
  start b
  start c
  echo 'error:' >"$M/status/a"
  run fsop write "$M/status/b" $'error:   \n'
  assert_output OK
  printf 'error:' >"$M/status/c"
  assert_finished a error null
  assert_finished b error null
  assert_finished c error null
}

@test "a JSON object sets the outcome and every optional field, counts exactly" {
  mount_fs
  start a
  start b
  start c
  start d
  run fsop write "$M/status/a" '{"outcome":"partial","error_message":"half done","files_indexed":12,"symbols_indexed":9007199254740992,"references_indexed":9007199254740991}'
  assert_output OK
  # Read the counts as exact integers (jq 1.6 reads numbers as doubles).
  run python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r["outcome"], r["error_message"], r["files_indexed"], r["symbols_indexed"], r["references_indexed"])' "$M/a.json"
  assert_output "partial half done 12 9007199254740992 9007199254740991"
  echo '  { "error_message" : null , "outcome" : "error" }  ' >"$M/status/b"
  assert_finished b error null
  run jq -c '[.files_indexed, .symbols_indexed, .references_indexed]' "$M/b.json"
  assert_output '[0,0,0]'
  # jq prints its several lines in one write.
  jq -n '{outcome: "success", files_indexed: 0, references_indexed: 7}' >"$M/status/c"
  assert_finished c success null
  run jq -c '[.files_indexed, .symbols_indexed, .references_indexed]' "$M/c.json"
  assert_output '[0,0,7]'
  run fsop write "$M/status/d" '{"outcome":"error","error_message":"\u00e9\n\"x\""}'
  assert_output OK
  run jq -c .error_message "$M/d.json"
  assert_output '"é\n\"x\""'
  assert_status a partial
}

@test "a finish sets finished_at and duration_ms, in milliseconds" {
  mount_fs
  local t0 t1 d fin
  t0=$(date +%s%3N)
  start a
  # The interval being measured: duration_ms must show 300 ms, not 0 or 1000.
  sleep 0.3
  echo success >"$M/status/a"
  t1=$(date +%s%3N)
  run jq -r '[.finished_at, .duration_ms] | map(tostring) | join(" ")' "$M/a.json"
  read -r fin d <<<"$output"
  [ "$fin" -ge $((t0 / 1000 - 1)) ] && [ "$fin" -le $((t1 / 1000 + 1)) ] ||
    fail "finished_at $fin is not between $t0 and $t1 ms"
  [ "$d" -ge 300 ] && [ "$d" -le $((t1 - t0)) ] ||
    fail "duration_ms $d is not within 300..$((t1 - t0))"
  [ $((d % 1000)) -ne 0 ] || fail "duration_ms $d looks like seconds x 1000"
  run jq -c '[.started_at <= .finished_at, (.duration_ms | floor) == .duration_ms]' "$M/a.json"
  assert_output '[true,true]'
}

@test "a bad word fails that write with EINVAL and changes nothing" {
  mount_fs
  start x
  cp "$M/x.json" "$T/x.before"
  local v
  for v in running ' running ' Running done finished ok succes successful Success \
           SUCCESS Error PARTIAL 'success!' 'success partial' 'success success' \
           'error message' 'error :x' 'errors: x' ':error' 'success:' 'partial: x' \
           'success: x' '   ' $'\n' $' \t\r\n' '"success"' '[success]' 0 1 'null' '{' '}'; do
    refuse_value "$v"
  done
  echo success >"$M/status/x"
  assert_finished x success null
}

@test "a bad JSON object fails that write with EINVAL and changes nothing" {
  mount_fs
  start x
  cp "$M/x.json" "$T/x.before"
  local v
  for v in '{"outcome":"running"}' '{"outcome":"Success"}' '{"outcome":"done"}' \
           '{"outcome":""}' '{}' '{"files_indexed":1}' '{"error_message":"x"}' \
           '{"outcome":"success","files_indexed":-1}' '{"outcome":"success","symbols_indexed":-5}' \
           '{"outcome":"success","references_indexed":-1}' \
           '{"outcome":"success","files_indexed":1.0}' '{"outcome":"success","files_indexed":1.5}' \
           '{"outcome":"success","symbols_indexed":1e2}' '{"outcome":"success","references_indexed":1E2}' \
           '{"outcome":"success","files_indexed":01}' '{"outcome":"success","files_indexed":"3"}' \
           '{"outcome":"success","files_indexed":null}' '{"outcome":"success","files_indexed":true}' \
           '{"outcome":"success","files_indexed":[1]}' '{"outcome":1}' '{"outcome":null}' \
           '{"outcome":["success"]}' '{"outcome":true}' '{"outcome":"success","error_message":5}' \
           '{"outcome":"error","error_message":["a"]}' '{"outcome":"error","error_message":{}}' \
           '{"outcome":"success","unknown":1}' '{"outcome":"success","started_at":1}' \
           '{"outcome":"success","execution_id":"y"}' '{"outcome":"success","duration_ms":5}' \
           '{"outcome":"success","outcome":"error"}' '{"outcome":"success"} x' \
           '{"outcome":"success"}{}' '{"outcome":"success",}' '{"outcome":"success"' \
           "{'outcome':'success'}" '[{"outcome":"success"}]' '{"outcome":"success\u0000"}' \
           '{"outcome":"error","error_message":"\ud800"}'; do
    refuse_value "$v"
  done
  echo '{"outcome":"partial","files_indexed":3}' >"$M/status/x"
  assert_finished x partial null
}

@test "a NUL or invalid UTF-8 in a finish value is EINVAL and changes nothing" {
  mount_fs
  start x
  cp "$M/x.json" "$T/x.before"
  local hex
  for hex in 7375636365737300 00737563636573730a 6572726f723a2061ff62 6572726f723a20c328 \
             7b226f7574636f6d65223a226572726f72222c226572726f725f6d657373616765223a22ff227d; do
    run fsop writebytes "$M/status/x" "$hex"
    [ "$output" = EINVAL ] || fail "bytes $hex: the write gave $output, not EINVAL"
    cmp -s "$T/x.before" "$M/x.json" || fail "bytes $hex changed x.json"
  done
  run bash -c 'printf "error: a\xffb" > "$1"' _ "$M/status/x"
  assert_failure
  cmp "$T/x.before" "$M/x.json"
}

@test "one write carries one whole value: a value split over two writes fails" {
  mount_fs
  start x
  cp "$M/x.json" "$T/x.before"
  run fsop open "$M/status/x" w '{"outcome":' '"success"}'
  assert_output EINVAL
  cmp "$T/x.before" "$M/x.json"
  run fsop open "$M/status/x" w 'succ' 'ess'
  assert_output EINVAL
  cmp "$T/x.before" "$M/x.json"
}

@test "a value over 64 KiB is EFBIG and changes nothing; 64 KiB is accepted" {
  mount_fs
  start x
  start y
  cp "$M/x.json" "$T/x.before"
  # finish_sized NAME BYTES: one write(2) of "success" padded with spaces.
  finish_sized() {
    python3 - "$M/status/$1" "$2" <<'PY'
import errno, os, sys
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY)
try:
    print("OK" if os.write(fd, b"success".ljust(n)) == n else "SHORT")
except OSError as e:
    print(errno.errorcode[e.errno])
finally:
    os.close(fd)
PY
  }
  run finish_sized x 65537
  assert_output EFBIG
  run finish_sized x 200000
  assert_output EFBIG
  run fsop writesize "$M/status/x" 65537
  assert_output EFBIG
  cmp "$T/x.before" "$M/x.json"
  [ "$(cat "$M/status/x")" = running ]
  run finish_sized y 65536
  assert_output OK
  assert_finished y success null
}

@test "O_TRUNC and O_APPEND are accepted" {
  mount_fs
  start a
  start b
  start c
  start d
  run fsop open "$M/status/a" w,t success
  assert_output OK
  run fsop open "$M/status/b" w,a partial
  assert_output OK
  run fsop open "$M/status/c" rw,t,a 'error: both'
  assert_output OK
  echo error >>"$M/status/d"
  assert_finished a success null
  assert_finished b partial null
  assert_finished c error '"both"'
  assert_finished d error null
}

@test "finishing an execution that is not running is EPERM and changes nothing" {
  mount_fs
  start a
  start b
  echo success >"$M/status/a"
  echo 'error: first' >"$M/status/b"
  cp "$M/a.json" "$T/a.before"
  cp "$M/b.json" "$T/b.before"
  local v
  for v in success error partial 'error: again' '{"outcome":"partial","files_indexed":1}'; do
    run fsop write "$M/status/a" "$v"
    [ "$output" = EPERM ] || fail "finishing a finished one with '$v' gave $output"
    run fsop write "$M/status/b" "$v"
    [ "$output" = EPERM ] || fail "finishing a finished one with '$v' gave $output"
    run bash -c 'echo "$1" > "$2"' _ "$v" "$M/status/a"
    assert_failure
  done
  cmp "$T/a.before" "$M/a.json"
  cmp "$T/b.before" "$M/b.json"
  assert_status a success
  assert_status b error
}

@test "unlinking a status file is EPERM, running or finished" {
  mount_fs
  start run
  start fin
  echo success >"$M/status/fin"
  cp "$M/run.json" "$T/run.before"
  run fsop unlink "$M/status/run"
  assert_output EPERM
  run fsop unlink "$M/status/fin"
  assert_output EPERM
  run rm -f "$M/status/run"
  assert_failure
  cmp "$T/run.before" "$M/run.json"
  assert_status run running
  assert_status fin success
}

@test "the status file of an unknown name is ENOENT" {
  mount_fs
  start known
  run fsop write "$M/status/nope" success
  assert_output ENOENT
  run fsop stat "$M/status/nope"
  assert_output ENOENT
  run fsop open "$M/status/nope" r
  assert_output ENOENT
  run cat "$M/status/nope"
  assert_failure
  run bash -c 'echo success > "$1"' _ "$M/status/nope"
  assert_failure
  run fsop lookup "$M/nope.json"
  assert_output ENOENT
  # A deleted execution is unknown too.
  echo success >"$M/status/known"
  rm "$M/known.json"
  run fsop write "$M/status/known" error
  assert_output ENOENT
  run ls -A "$M/status"
  assert_output ""
}

@test "a status file opened before its run was deleted and started again never finishes the new run" {
  mount_fs
  start again '{"tool_version":"first"}'
  run python3 - "$M" <<'PY'
import errno, os, sys
m = sys.argv[1]
old = os.open(m + "/status/again", os.O_WRONLY)
os.write(old, b"success")
os.unlink(m + "/again.json")
fd = os.open(m + "/new/again", os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'{"tool_version":"second"}')
os.close(fd)
try:
    os.write(old, b"error: from the first run's status file")
    print("written")
except OSError as e:
    print(errno.errorcode[e.errno])
os.close(old)
PY
  assert_output ESTALE
  run cat "$M/status/again"
  assert_output running
  run jq -r .tool_version "$M/again.json"
  assert_output second
}
