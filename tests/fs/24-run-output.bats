#!/usr/bin/env bats
# execlog-run's output capture: output/<id> holds what the command printed,
# in the order it came, while the command still sees (and the user still
# gets) what it would without execlog-run — pipes through pipes, a terminal
# through a pseudo-terminal (run on one by in-tty.py, as script(1) would).
#
# From meson, besides helper.bash's: EXECLOG_RUN (the binary).
load helper
bats_require_minimum_version 1.5.0

: "${EXECLOG_RUN:?EXECLOG_RUN must name the execlog-run binary}"

# in_tty COMMAND [INPUT]: runs the shell command COMMAND on a terminal of its
# own, as a user at a terminal would, typing INPUT; prints what it shows.
in_tty() {
  python3 "$HELPERS_DIR/in-tty.py" "$@"
}

@test "through pipes: stdout and stderr into one file keep their order, in output/<id> too" {
  mount_fs
  "$EXECLOG_RUN" -m "$M" -i both -- sh -c 'echo one; echo two >&2; echo three; printf "no newline" >&2' \
    >"$T/seen" 2>&1
  printf 'one\ntwo\nthree\nno newline' | cmp - "$T/seen"
  cmp "$T/seen" "$M/output/both"
  assert_equal "$(jq .output_bytes "$M/both.json")" 24
}

@test "through pipes: stdout and stderr to different files reach them, and both are captured" {
  mount_fs
  "$EXECLOG_RUN" -m "$M" -i apart -- sh -c 'echo out; echo err >&2; exit 1' >"$T/out" 2>"$T/err" || true
  printf 'out\n' | cmp - "$T/out"
  printf 'err\n' | cmp - "$T/err"
  assert_equal "$(sort "$M/output/apart")" "err
out"
  assert_equal "$(jq -r .error_message "$M/apart.json")" "exit code 1: err"
}

@test "through pipes: a pipe stays a pipe, a file's bytes arrive intact" {
  mount_fs
  "$EXECLOG_RUN" -m "$M" -i kinds -- sh -c 'test -p /dev/stdout && echo pipe; test -t 1 || echo no-tty' | cat >"$T/k"
  printf 'pipe\nno-tty\n' | cmp - "$T/k"
  head -c 300000 /dev/urandom >"$T/in"
  "$EXECLOG_RUN" -m "$M" -i bin -- cat "$T/in" >"$T/out"
  cmp "$T/in" "$T/out"
  cmp "$T/in" "$M/output/bin"
}

@test "a reader that goes away is seen by the command, as without execlog-run" {
  mount_fs
  local rc
  "$EXECLOG_RUN" -m "$M" -i yes -- yes | head -n 1 >"$T/first"
  rc=${PIPESTATUS[0]}
  assert_equal "$rc" 141
  assert_equal "$(jq -c '[.signal, .exit_code]' "$M/yes.json")" '[13,null]'
}

@test "a paused reader blocks the relay, never the heartbeat" {
  mount_fs
  # 1 MB fills every pipe between the command and this reader, which reads
  # nothing until it has seen the status file's time move on.
  "$EXECLOG_RUN" -m "$M" -i paused -- head -c 1000000 /dev/zero | {
    poll 10 test -e "$M/status/paused"
    first=$(stat -c %y "$M/status/paused")
    poll 10 bash -c "[ \"\$(stat -c %y '$M/status/paused')\" != '$first' ]" && touch "$T/beat"
    cat >/dev/null
  }
  assert_file_exists "$T/beat"
  assert_equal "$(jq -r .outcome "$M/paused.json")" success
}

@test "through a terminal: the command is on one, and what it printed is captured" {
  mount_fs
  local rc=0
  in_tty "stty rows 11 cols 77; $EXECLOG_RUN -m $M -i tty -- sh -c \
    'test -t 0 && test -t 1 && test -t 2 && echo all-tty; stty size; echo oops >&2; exit 3'" >"$T/seen" || rc=$?
  assert_equal "$rc" 3
  printf 'all-tty\r\n11 77\r\noops\r\n' | cmp - "$T/seen"
  cmp "$T/seen" "$M/output/tty"
  assert_equal "$(jq -c '[.exit_code, .error_message]' "$M/tty.json")" '[3,"exit code 3: oops"]'
}

@test "through a terminal: the user's terminal settings come back, and input reaches the command" {
  mount_fs
  in_tty "stty -g; $EXECLOG_RUN -m $M -i modes -- sh -c 'stty -g; exit 1'; stty -g" >"$T/seen"
  assert_equal "$(tr -d '\r' <"$T/seen" | sort -u | wc -l)" 1
  in_tty "$EXECLOG_RUN -m $M -i input -- sh -c 'read x; echo \"got \$x\"'" $'hello\n' >"$T/seen"
  grep -q 'got hello' "$M/output/input"
  grep -q 'got hello' "$T/seen"
}

@test "through a terminal: Ctrl-C interrupts the command, and the record says so" {
  mount_fs
  run in_tty "$EXECLOG_RUN -m $M -i intr -- sh -c 'echo ready; sleep 30'; echo rc=\$?" $'\x03' ready
  assert_success
  assert_line --partial rc=130
  assert_equal "$(jq -c '[.signal, .exit_code, .error_message]' "$M/intr.json")" '[2,null,"killed by signal 2 (SIGINT)"]'
}

@test "--no-output: output/<id> stays empty and the command has our fds" {
  mount_fs
  "$EXECLOG_RUN" -m "$M" -i off --no-output -- sh -c 'readlink /proc/self/fd/1; echo err >&2' >"$T/out" 2>"$T/err"
  assert_equal "$(cat "$T/out")" "$T/out"
  printf 'err\n' | cmp - "$T/err"
  assert_equal "$(stat -c %s "$M/output/off")" 0
  assert_equal "$(jq .output_bytes "$M/off.json")" 0
  in_tty "$EXECLOG_RUN -m $M -i offtty --no-output -- sh -c 'test -t 1 && echo tty'" >"$T/seen"
  grep -q tty "$T/seen"
  assert_equal "$(stat -c %s "$M/output/offtty")" 0
}

@test "a chatty command: output/<id> is exactly its output, in far fewer appends than lines" {
  mount_fs
  # strace -y names the file of each write: the appends to output/chatty.
  # (LeakSanitizer cannot run under ptrace: a sanitized build checks leaks elsewhere.)
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
  strace -o "$T/trace" -y -e trace=write "$EXECLOG_RUN" -m "$M" -i chatty -- \
    sh -c 'i=0; while [ $i -lt 10000 ]; do echo "line $i"; i=$((i + 1)); done' >"$T/seen"
  sh -c 'i=0; while [ $i -lt 10000 ]; do echo "line $i"; i=$((i + 1)); done' | cmp - "$T/seen"
  cmp "$T/seen" "$M/output/chatty"
  local appends
  appends=$(grep -c '^write([0-9]*<[^>]*/output/chatty>' "$T/trace")
  [ "$appends" -ge 2 ]    # 98,890 bytes: more than one batch of 64 KiB
  [ "$appends" -lt 1000 ] # not one commit a line (10,000)
  assert_equal "$(grep -c '/output/chatty>.*= -1' "$T/trace")" 0
}

@test "at the cap, capture stops with one warning; the command and its user are not hurt" {
  mount_fs output_max=1000
  run --separate-stderr "$EXECLOG_RUN" -m "$M" -i capped -- \
    sh -c 'head -c 300000 /dev/zero | tr "\0" x; echo; echo done'
  assert_success
  assert_equal "${#output}" 300005
  [[ $output == *$'\n'done ]]
  assert_equal "$stderr" "execlog-run: warning: cannot capture more output of execution capped in $(realpath "$M")/output/capped: File too large"
  assert_equal "$(stat -c %s "$M/output/capped")" 1000
  assert_equal "$(jq -r .outcome "$M/capped.json")" success
}
