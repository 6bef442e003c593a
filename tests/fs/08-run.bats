#!/usr/bin/env bats
# execlog-run: recording a command through the mount.
#
# From meson, besides helper.bash's: EXECLOG_RUN (the binary).
load helper
bats_require_minimum_version 1.5.0

: "${EXECLOG_RUN:?EXECLOG_RUN must name the execlog-run binary}"

# A test that starts execlog-run in the background sets BG, so that a failure
# does not leave it (and its command) running.
teardown() {
  if [ -n "${BG:-}" ]; then kill "$BG" 2>/dev/null || true; fi
  teardown_mount
}

# rec ID FILTER: a field of a record, through jq -c.
rec() {
  jq -c "$2" "$M/$1.json"
}


@test "a command that succeeds is recorded with its args, root, tool_version and id" {
  mount_fs
  cd "$T"
  run --separate-stderr "$EXECLOG_RUN" -m "$M" -i ok1 -v 1.2.3 -- true a 'b c'
  assert_success
  assert_equal "$stderr" ""
  assert_equal "$(rec ok1 .outcome)" '"success"'
  assert_equal "$(rec ok1 .execution_id)" '"ok1"'
  assert_equal "$(rec ok1 .tool_version)" '"1.2.3"'
  assert_equal "$(rec ok1 .args)" '["true","a","b c"]'
  assert_equal "$(rec ok1 .root)" "\"$T\""
  assert_equal "$(rec ok1 .db_path)" '""'
  assert_equal "$(rec ok1 .error_message)" null
  assert_equal "$(rec ok1 '.finished_at != null and .duration_ms >= 0')" true
}

@test "root is \$PWD, also through a symlink; tool_version defaults to empty" {
  mount_fs
  mkdir "$T/real"
  ln -s "$T/real" "$T/link"
  cd "$T/link"
  "$EXECLOG_RUN" -m "$M" -i root1 -- true
  assert_equal "$(rec root1 .root)" "\"$T/link\""
  assert_equal "$(rec root1 .tool_version)" '""'
}

@test "args are JSON-escaped, and bytes that are not UTF-8 become U+FFFD" {
  mount_fs
  run "$EXECLOG_RUN" -m "$M" -i esc -- printf '' 'q"b\' $'l1\nl2\t' $'\x01' $'a\xffb' 'héllo ✓'
  assert_success
  assert_equal "$(rec esc .args)" '["printf","","q\"b\\","l1\nl2\t","\u0001","a�b","héllo ✓"]'
}

@test "an args list too long for a start document is cut short with a note" {
  mount_fs
  local big
  big=$(head -c 100000 /dev/zero | tr '\0' a)
  run "$EXECLOG_RUN" -m "$M" -i long -- true "$big" "$big" "$big" "$big" "$big" "$big" \
    "$big" "$big" "$big" "$big" "$big" "$big"
  assert_success
  assert_equal "$(rec long .outcome)" '"success"'
  assert_equal "$(rec long '.args[0]')" '"true"'
  assert_equal "$(rec long '.args[1] | length')" 100000
  assert_equal "$(rec long '.args[-1]')" '"[execlog-run: 2 more arguments not recorded]"'
}

@test "options after COMMAND are the command's" {
  mount_fs
  run --separate-stderr "$EXECLOG_RUN" -m "$M" -i opts echo -i x
  assert_success
  assert_output "-i x"
  assert_equal "$(rec opts .args)" '["echo","-i","x"]'
}

@test "a generated id is a valid name that names the command and sorts by start time" {
  mount_fs
  mkdir "$T/bin"
  printf '#!/bin/sh\necho "$EXECLOG_ID"\n' >"$T/bin/my tool!"
  chmod +x "$T/bin/my tool!"
  local first second
  first=$("$EXECLOG_RUN" -m "$M" -- "$T/bin/my tool!")
  second=$("$EXECLOG_RUN" -m "$M" -- sh -c 'echo "$EXECLOG_ID"')
  [[ $first =~ ^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-my_tool_-[0-9]+$ ]]
  [[ $second =~ ^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-sh-[0-9]+$ ]]
  [[ $first < $second ]]
  assert_equal "$(rec "$first" .outcome)" '"success"'
  assert_equal "$(rec "$second" .outcome)" '"success"'
  [ "$(rec "$first" .id)" -lt "$(rec "$second" .id)" ]
}

@test "stdin and stdout are untouched" {
  mount_fs
  head -c 200000 /dev/urandom >"$T/in"
  "$EXECLOG_RUN" -m "$M" -i cat1 -- cat <"$T/in" >"$T/out"
  cmp "$T/in" "$T/out"
  cat "$T/in" | "$EXECLOG_RUN" -m "$M" -i cat2 -- cat | cmp "$T/in" -
  "$EXECLOG_RUN" -m "$M" -i echo1 -- echo hi >"$T/out" 2>"$T/err"
  printf 'hi\n' | cmp - "$T/out"
  [ ! -s "$T/err" ]
}

@test "stderr passes through; the message names the exit code and the last line" {
  mount_fs
  local rc=0
  "$EXECLOG_RUN" -m "$M" -i oops -- sh -c 'echo first >&2; echo oops >&2; echo >&2; exit 3' 2>"$T/err" || rc=$?
  assert_equal "$rc" 3
  printf 'first\noops\n\n' | cmp - "$T/err"
  assert_equal "$(rec oops .outcome)" '"error"'
  assert_equal "$(rec oops .error_message)" '"exit code 3: oops"'
  assert_equal "$(cat "$M/status/oops")" error
}

@test "a failure with no stderr names the exit code alone; control characters are cleaned" {
  mount_fs
  run "$EXECLOG_RUN" -m "$M" -i quiet -- sh -c 'exit 5'
  assert_failure 5
  assert_equal "$(rec quiet .error_message)" '"exit code 5"'
  run "$EXECLOG_RUN" -m "$M" -i ctl -- sh -c 'printf "  50%%\r100%%\tdone\033[0m \n\n" >&2; exit 1'
  assert_failure 1
  assert_equal "$(rec ctl .error_message)" '"exit code 1: 100% done [0m"'
}

@test "a command killed by a signal exits 128+N and is recorded as killed" {
  mount_fs
  run "$EXECLOG_RUN" -m "$M" -i killed -- sh -c 'kill -TERM $$'
  assert_failure 143
  assert_equal "$(rec killed .outcome)" '"error"'
  assert_equal "$(rec killed .error_message)" '"killed by signal 15 (SIGTERM)"'
}

@test "SIGTERM sent to execlog-run is forwarded to the command" {
  mount_fs
  "$EXECLOG_RUN" -m "$M" -i fwd -- sleep 30 3>&- &
  BG=$!
  poll 10 test -e "$M/fwd.json"
  local start=$SECONDS rc=0
  kill -TERM "$BG"
  wait "$BG" || rc=$?
  BG=
  assert_equal "$rc" 143
  [ $((SECONDS - start)) -lt 5 ]
  assert_equal "$(rec fwd .outcome)" '"error"'
  assert_equal "$(rec fwd .error_message)" '"killed by signal 15 (SIGTERM)"'
}

@test "SIGINT sent to execlog-run is forwarded to the command" {
  mount_fs
  # A background job of a shell without job control starts with SIGINT
  # ignored, and execlog-run rightly keeps it so: undo that for this test.
  env --default-signal=INT "$EXECLOG_RUN" -m "$M" -i fwdint -- sleep 30 3>&- &
  BG=$!
  poll 10 test -e "$M/fwdint.json"
  local rc=0
  kill -INT "$BG"
  wait "$BG" || rc=$?
  BG=
  assert_equal "$rc" 130
  assert_equal "$(rec fwdint .error_message)" '"killed by signal 2 (SIGINT)"'
}

@test "megabytes of stderr pass through intact and the message stays bounded" {
  mount_fs
  local gen='head -c 5000000 /dev/zero | tr "\0" x | fold -w 100; echo; echo last words'
  sh -c "$gen" >"$T/expected"
  local rc=0
  "$EXECLOG_RUN" -m "$M" -i loud -- sh -c "($gen) >&2; exit 1" 2>"$T/err" || rc=$?
  assert_equal "$rc" 1
  assert_equal "$(stat -c %s "$T/err")" 5050011
  cmp "$T/expected" "$T/err"
  assert_equal "$(rec loud .error_message)" '"exit code 1: last words"'

  rc=0
  "$EXECLOG_RUN" -m "$M" -i oneline -- sh -c 'head -c 5000000 /dev/zero | tr "\0" x >&2; exit 2' \
    2>"$T/err" || rc=$?
  assert_equal "$rc" 2
  assert_equal "$(stat -c %s "$T/err")" 5000000
  assert_equal "$(rec oneline '.error_message | startswith("exit code 2: xxx")')" true
  [ "$(rec oneline '.error_message | utf8bytelength')" -lt 65536 ]
}

@test "the command sees EXECLOG_ID and EXECLOG_STATUS" {
  mount_fs
  run --separate-stderr "$EXECLOG_RUN" -m "$M" -i envs -- sh -c 'echo "$EXECLOG_ID"; echo "$EXECLOG_STATUS"; cat "$EXECLOG_STATUS"'
  assert_success
  assert_output "envs
$(realpath "$M")/status/envs
running"
}

@test "a command that finishes its own execution keeps its outcome and counters" {
  mount_fs
  run --separate-stderr "$EXECLOG_RUN" -m "$M" -i self -- \
    sh -c 'echo "{\"outcome\":\"partial\",\"files_indexed\":5}" >"$EXECLOG_STATUS"'
  assert_success
  assert_equal "$stderr" ""
  assert_equal "$(rec self '[.outcome, .files_indexed, .error_message]')" '["partial",5,null]'

  run --separate-stderr "$EXECLOG_RUN" -m "$M" -i self2 -- sh -c 'echo success >"$EXECLOG_STATUS"; exit 4'
  assert_failure 4
  assert_equal "$stderr" ""
  assert_equal "$(rec self2 .outcome)" '"success"'
}

@test "heartbeats: the status mtime advances while a silent command runs" {
  mount_fs
  "$EXECLOG_RUN" -m "$M" -i hb -- sleep 3 3>&- &
  BG=$!
  poll 10 test -e "$M/hb.json"
  local seen=() mtime
  while kill -0 "$BG" 2>/dev/null; do
    mtime=$(stat -c %Y "$M/status/hb")
    # Only times seen while running are heartbeats, not the finish.
    [ "$(cat "$M/status/hb")" = running ] && seen+=("$mtime")
    sleep 0.1
  done
  wait "$BG"
  BG=
  [ "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" -ge 2 ]
  assert_equal "$(rec hb .outcome)" '"success"'
}

@test "heartbeats keep a silent command from being abandoned under stale_after" {
  mount_fs stale_after=2
  start silent
  run "$EXECLOG_RUN" -m "$M" -i alive -- sleep 4
  assert_success
  assert_equal "$(rec alive .outcome)" '"success"'
  # The same mount abandons an execution nobody heartbeats.
  assert_equal "$(rec silent .outcome)" '"error"'
  assert_equal "$(rec silent '.error_message | startswith("abandoned:")')" true
}

@test "a missing mount warns and runs the command unrecorded, with its status" {
  mount_fs
  EXECLOG_ID=outer EXECLOG_STATUS=/x run --separate-stderr "$EXECLOG_RUN" -m /nonexistent -i miss -- \
    sh -c 'echo "out ${EXECLOG_ID-unset} ${EXECLOG_STATUS-unset}"; exit 7'
  assert_failure 7
  assert_output "out unset unset"
  assert_equal "$stderr" "execlog-run: warning: cannot start execution miss in /nonexistent: No such file or directory; running the command unrecorded"
  run --separate-stderr env -u EXECLOG_MOUNT "$EXECLOG_RUN" -- sh -c 'echo ran'
  assert_success
  assert_output ran
  [[ $stderr == "execlog-run: warning: cannot start execution "*"; running the command unrecorded" ]]
}

@test "a refused start warns, runs the command and leaves the existing execution alone" {
  mount_fs
  start dup
  run --separate-stderr "$EXECLOG_RUN" -m "$M" -i dup -- sh -c 'echo ran; exit 1'
  assert_failure 1
  assert_output ran
  assert_equal "$stderr" "execlog-run: warning: cannot start execution dup in $M: File exists; running the command unrecorded"
  assert_equal "$(cat "$M/status/dup")" running
  run --separate-stderr "$EXECLOG_RUN" -m "$M" -i .hidden -- true
  assert_success
  [[ $stderr == *"cannot start execution .hidden in $M: Invalid argument; running the command unrecorded" ]]
}

@test "a command that cannot be run exits 127 or 126 and is recorded as an error" {
  mount_fs
  run -127 --separate-stderr "$EXECLOG_RUN" -m "$M" -i nf -- no-such-command-xyz
  assert_failure 127
  assert_equal "$stderr" "execlog-run: cannot run no-such-command-xyz: No such file or directory"
  assert_equal "$(rec nf .error_message)" '"cannot run no-such-command-xyz: No such file or directory"'
  touch "$T/noexec"
  run "$EXECLOG_RUN" -m "$M" -i nx -- "$T/noexec"
  assert_failure 126
  assert_equal "$(rec nx .error_message)" "\"cannot run $T/noexec: Permission denied\""
}

@test "the exit status passes through" {
  mount_fs
  local code
  for code in 0 1 42 255; do
    run "$EXECLOG_RUN" -m "$M" -i "code$code" -- sh -c "exit $code"
    assert_equal "$status" "$code"
  done
  assert_equal "$(rec code0 .outcome)" '"success"'
  assert_equal "$(rec code42 .error_message)" '"exit code 42"'
}

@test "EXECLOG_MOUNT is the mount when -m is absent, and -m wins over it" {
  mount_fs
  EXECLOG_MOUNT=$M run "$EXECLOG_RUN" -i viaenv -- true
  assert_success
  assert_equal "$(rec viaenv .outcome)" '"success"'
  EXECLOG_MOUNT=/nonexistent run --separate-stderr "$EXECLOG_RUN" -m "$M" -i viaopt -- true
  assert_success
  assert_equal "$stderr" ""
  assert_equal "$(rec viaopt .outcome)" '"success"'
}

@test "--version, --help and usage errors" {
  mount_fs
  run "$EXECLOG_RUN" --version
  assert_success
  assert_output "execlog-run 0.1.0"
  run "$EXECLOG_RUN" --help
  assert_success
  assert_line --index 0 "Usage: execlog-run [-m MOUNT] [-i ID] [-v TOOL_VERSION] [-t KEY=VALUE]... [--no-output] [--] COMMAND [ARG...]"
  run "$EXECLOG_RUN" -m "$M"
  assert_failure 125
  run "$EXECLOG_RUN" --bogus true
  assert_failure 125
}

@test "cwd is the physical working directory, root \$PWD; -t tags are recorded in order" {
  mount_fs
  local real
  real=$(realpath "$T")/real
  mkdir "$real"
  ln -s "$real" "$T/link"
  cd "$T/link"
  run --separate-stderr "$EXECLOG_RUN" -m "$M" -i tagged -t team=infra -t run.kind_2-x=nightly \
    -t empty= -t 'note=a=b ✓' -- true
  assert_success
  assert_equal "$stderr" ""
  assert_equal "$(rec tagged .cwd)" "\"$real\""
  assert_equal "$(rec tagged .root)" "\"$T/link\""
  assert_equal "$(rec tagged .tags)" '{"team":"infra","run.kind_2-x":"nightly","empty":"","note":"a=b ✓"}'
  "$EXECLOG_RUN" -m "$M" -i untagged -- true
  assert_equal "$(rec untagged .tags)" '{}'
  assert_equal "$(rec untagged .cwd)" "\"$real\""
}

@test "tags at the limits are taken: 32 of them, a 64-byte key, a 256-byte value" {
  mount_fs
  local args=() i key value
  key=$(printf 'k%.0s' {1..64})
  value=$(printf 'é%.0s' {1..128})
  args+=(-t "$key=$value")
  for i in $(seq 2 32); do args+=(-t "t$i=$i"); done
  run --separate-stderr "$EXECLOG_RUN" -m "$M" -i many "${args[@]}" -- true
  assert_success
  assert_equal "$(rec many '.tags | length')" 32
  assert_equal "$(rec many ".tags[\"$key\"]")" "\"$value\""
  assert_equal "$(rec many '.tags.t32')" '"32"'
}

@test "a bad -t is a usage error, exit 125, before anything starts or runs" {
  mount_fs
  local bad many=() i
  for i in $(seq 33); do many+=(-t "t$i=v"); done
  for bad in nokey '=v' 'k k=v' 'k/x=v' "$(printf 'k%.0s' {1..65})=v" \
    "k=$(head -c 257 /dev/zero | tr '\0' v)" $'k=\xff' $'k=\xc3'; do
    run --separate-stderr "$EXECLOG_RUN" -m "$M" -i bad -t ok=1 -t "$bad" -- touch "$T/ran"
    assert_failure 125
    [[ $stderr == "execlog-run: bad tag -t '"*"': "*$'\n'"Try 'execlog-run --help'." ]]
  done
  run --separate-stderr "$EXECLOG_RUN" -m "$M" -i bad -t k=1 -t k=2 -- touch "$T/ran"
  assert_failure 125
  assert_equal "$stderr" "execlog-run: bad tag -t 'k=2': that KEY is given twice
Try 'execlog-run --help'."
  run --separate-stderr "$EXECLOG_RUN" -m "$M" -i bad "${many[@]}" -- touch "$T/ran"
  assert_failure 125
  assert_equal "$stderr" "execlog-run: bad tag -t 't33=v': at most 32 tags
Try 'execlog-run --help'."
  assert_file_not_exists "$T/ran"
  assert_file_not_exists "$M/bad.json"
}

@test "the finish records the exit code, or the signal that ended the command" {
  mount_fs
  "$EXECLOG_RUN" -m "$M" -i ec0 -- true
  assert_equal "$(rec ec0 '[.outcome, .exit_code, .signal, .error_message]')" '["success",0,null,null]'
  run "$EXECLOG_RUN" -m "$M" -i ec42 -- sh -c 'echo why >&2; exit 42'
  assert_failure 42
  assert_equal "$(rec ec42 '[.outcome, .exit_code, .signal, .error_message]')" '["error",42,null,"exit code 42: why"]'
  run "$EXECLOG_RUN" -m "$M" -i sig9 -- sh -c 'kill -KILL $$'
  assert_failure 137
  assert_equal "$(rec sig9 '[.outcome, .exit_code, .signal, .error_message]')" \
    '["error",null,9,"killed by signal 9 (SIGKILL)"]'
  run -127 "$EXECLOG_RUN" -m "$M" -i nf2 -- no-such-command-xyz
  assert_equal "$(rec nf2 '[.exit_code, .signal]')" '[127,null]'
  # A command that finishes its own execution keeps its finish: no exit code.
  run "$EXECLOG_RUN" -m "$M" -i own -- sh -c 'echo success >"$EXECLOG_STATUS"; exit 3'
  assert_failure 3
  assert_equal "$(rec own '[.outcome, .exit_code]')" '["success",null]'
}
