#!/usr/bin/env bats
# Two mounts of one store (two daemons on one SQLite file, one LMDB
# directory or one PostgreSQL database) starting the same names at once:
# exactly one start of a name succeeds, and the other fails at its open with
# EEXIST, for an empty start as for a document, so that no caller is told
# it started what the other mount started. A mount that dies leaves no
# reservation behind.
load helper

# mount_both: the store on $M and again on $M2 (two daemons; the second
# logs to $LOG2), each logging its starts too ("started NAME (id N)").
mount_both() {
  export EXECLOGFS_VERBOSE=1
  mount_fs
  mount_second
  LOG2=$T/daemon2.log
}

teardown() {
  # A file hold_open keeps open would keep the mount busy.
  if [ -n "${HOLD_PID:-}" ]; then release_hold || true; fi
  if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -s "${LOG2:-}" ]; then
    echo "--- second daemon log (last 40 lines) ---"
    tail -n 40 "$LOG2"
  fi
  teardown_mount # unmounts $M2 too
}

# No start was refused at its release, on either mount: every loser was
# refused at its open.
assert_no_refusal_at_close() {
  run grep -h 'at close' "$LOG" "$LOG2"
  [ -z "$output" ] || fail "a start was refused only at close: $output"
}

# winner_of NAME: 0 or 1, the mount whose daemon logged the start of NAME;
# fails unless exactly one did.
winner_of() {
  local in0 in1
  in0=$(grep -c "started $1 (id " "$LOG" || true)
  in1=$(grep -c "started $1 (id " "$LOG2" || true)
  case "$in0 $in1" in
    "1 0") echo 0 ;;
    "0 1") echo 1 ;;
    *) echo "$1 started $in0 times on the first mount and $in1 times on the second" >&2
       return 1 ;;
  esac
}

@test "50 names started at once from two mounts, empty and with a document: one wins each, the other gets EEXIST at open" {
  mount_both
  # Each name is raced by both mounts at once (a barrier before each open);
  # the result says where a failure came: open, write or close.
  python3 - "$M" "$M2" 50 >"$T/race" <<'PY'
import errno, os, sys, threading

mounts, n = sys.argv[1:3], int(sys.argv[3])
results = {}
barrier = threading.Barrier(2)

def attempt(path, doc):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    except OSError as e:
        return "open:" + errno.errorcode[e.errno]
    r = "OK"
    try:
        if doc:
            os.write(fd, doc)
    except OSError as e:
        r = "write:" + errno.errorcode[e.errno]
    try:
        os.close(fd)
    except OSError as e:
        if r == "OK":
            r = "close:" + errno.errorcode[e.errno]
    return r

def run(k):
    for i in range(n):
        for form in ("empty", "doc"):
            name = "%s-%02d" % (form, i)
            doc = b'{"tool_version": "%d"}' % k if form == "doc" else None
            barrier.wait()
            results[(k, name)] = attempt(os.path.join(mounts[k], "new", name), doc)

threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for i in range(n):
    for form in ("empty", "doc"):
        name = "%s-%02d" % (form, i)
        print(name, results[(0, name)], results[(1, name)])
PY
  [ "$(wc -l <"$T/race")" -eq 100 ]
  local name r0 r1 winner bad=
  while read -r name r0 r1; do
    case "$r0 $r1" in
      "OK open:EEXIST") winner=0 ;;
      "open:EEXIST OK") winner=1 ;;
      *) bad="$bad
$name: $r0 on the first mount, $r1 on the second"; continue ;;
    esac
    # The record is the winner's: its daemon started it, its document is the one kept.
    [ "$(winner_of "$name")" = "$winner" ] || bad="$bad
$name: won by mount $winner, not started by it alone"
    if [[ $name == doc-* ]] && [ "$(jq -r .tool_version "$M/$name.json")" != "$winner" ]; then
      bad="$bad
$name: the record is not the winner's document"
    fi
  done <"$T/race"
  [ -z "$bad" ] || fail "one OK and one EEXIST at open expected for each name:$bad"
  assert_no_refusal_at_close
  # Each name once, and running, seen from either mount.
  [ "$(ls "$M/status" | grep -c '^empty-\|^doc-')" -eq 100 ]
  poll 1.5 bash -c '[ "$(ls "$1/status" | grep -c "^empty-\|^doc-")" -eq 100 ]' _ "$M2"
  [ "$(cat "$M/status/empty-00" "$M2/status/doc-49")" = $'running\nrunning' ]
}

@test "touch new/x && echo success > status/x from two mounts at once: only the winner's touch succeeds" {
  mount_both
  # One shell per mount, the same 20 names in the same order, from one go.
  local k racers=()
  for k in 0 1; do
    bash -c '
      m=$1 t=$2 k=$3
      while [ ! -e "$t/go" ]; do :; done
      for i in $(seq -w 1 20); do
        if touch "$m/new/sh-$i" 2>/dev/null; then
          if echo success >"$m/status/sh-$i"; then echo "sh-$i started finished"
          else echo "sh-$i started unfinished"; fi
        else
          echo "sh-$i refused"
        fi
      done >"$t/shell.$k"' _ "$([ $k = 0 ] && echo "$M" || echo "$M2")" "$T" "$k" &
    racers+=($!)
  done
  touch "$T/go"
  wait "${racers[@]}" # not a bare wait: the daemons are children too
  local i s0 s1
  for i in $(seq -w 1 20); do
    s0=$(grep "^sh-$i " "$T/shell.0" | cut -d' ' -f2-)
    s1=$(grep "^sh-$i " "$T/shell.1" | cut -d' ' -f2-)
    case "$s0|$s1" in
      "started finished|refused" | "refused|started finished") ;;
      *) fail "sh-$i: '$s0' on the first mount, '$s1' on the second" ;;
    esac
    winner_of "sh-$i" >/dev/null
  done
  assert_no_refusal_at_close
  [ "$(cat "$M/status/sh-01" "$M/status/sh-20")" = $'success\nsuccess' ]
}

@test "a mount killed while it holds a start open leaves no reservation: the other mount starts the name" {
  mount_both
  # The first mount holds an empty start of held open, as `exec 3>new/held` would.
  hold_open "$M/new/held"
  run fsop open "$M2/new/held" w,c
  assert_output EEXIST
  run fsop open "$M2/new/held" w,c '{"tool_version": "2"}'
  assert_output EEXIST
  grep -q 'refused start of new/held: File exists: .*another mount' "$LOG2" ||
    fail "the second mount did not log why it refused new/held"
  # kill -9 of the first daemon: its reservation goes with it (a server
  # notices the end of its session a moment later).
  kill9_fs
  release_hold || true
  poll 10 bash -c '[ "$(python3 "$2" open "$1/new/held" w,c "{\"tool_version\": \"2\"}")" = OK ]' \
    _ "$M2" "$HELPERS_DIR/fsop.py" || fail "new/held could not be started on the second mount"
  run jq -r '.tool_version + " " + .outcome' "$M2/held.json"
  assert_output "2 running"
  echo success >"$M2/status/held"
  [ "$(cat "$M2/status/held")" = success ]
}
