#!/usr/bin/env bats
# Listings: consistent while executions are added and deleted, and
# streamed, so that the daemon's memory does not grow with the log.
load helper

# start_many PREFIX COUNT: starts PREFIX1..PREFIXCOUNT (empty documents).
start_many() {
  python3 - "$M/new" "$1" "$2" <<'PY'
import os, sys
new, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(1, count + 1):
    os.close(os.open("%s/%s%d" % (new, prefix, i), os.O_WRONLY | os.O_CREAT, 0o644))
PY
}

# check_listing FILE WANT: FILE (one name a line) names nothing twice and
# holds every name of WANT (sorted).
check_listing() {
  local dups missing
  dups=$(sort "$1" | uniq -d | head -5)
  [ -z "$dups" ] || fail "$1 lists names twice: $dups"
  missing=$(sort "$1" | comm -13 - "$2" | head -5)
  [ -z "$missing" ] || fail "$1 misses names that existed before it began: $missing"
}

@test "a listing taken while executions are added and deleted shows each original once" {
  mount_fs
  # 3000 originals, and between them 1500 finished ones that the writers
  # delete while the listings run.
  local i
  for i in $(seq 3000); do
    : >"$M/new/n$i"
    if [ $((i % 2)) -eq 0 ]; then
      : >"$M/new/d$((i / 2))"
      echo success >"$M/status/d$((i / 2))"
    fi
  done
  seq 3000 | sed 's/^/n/' | sort >"$T/want.status"
  sed 's/$/.json/' "$T/want.status" | sort >"$T/want.root"
  [ "$(ls "$M/status" | wc -l)" -eq 4500 ]

  # Writer a adds 1000 and deletes every other one again, finished; writer b
  # deletes the 1500 finished ones among the originals and adds 1000.
  local pids=()
  (
    set -e
    for i in $(seq 1000); do
      : >"$M/new/a$i"
      if [ $((i % 2)) -eq 0 ]; then
        echo success >"$M/status/a$i"
        rm "$M/a$i.json"
      fi
    done
    touch "$T/writer.a.ok"
  ) 3>&- &
  pids+=($!)
  (
    set -e
    for i in $(seq 1500); do
      rm "$M/d$i.json"
      if [ $((i % 3)) -ne 0 ]; then : >"$M/new/b$i"; fi
    done
    touch "$T/writer.b.ok"
  ) 3>&- &
  pids+=($!)

  local k=0 during=0
  while :; do
    ls -f "$M" >"$T/ls.$k"
    python3 -c 'import os, sys; print("\n".join(os.listdir(sys.argv[1])))' "$M" >"$T/py.$k"
    find "$M" -mindepth 1 -maxdepth 1 -printf '%f\n' >"$T/find.$k"
    ls -f "$M/status" >"$T/status.$k"
    ls -f "$M/by-outcome/running" >"$T/running.$k"
    check_listing "$T/ls.$k" "$T/want.root"
    check_listing "$T/py.$k" "$T/want.root"
    check_listing "$T/find.$k" "$T/want.root"
    check_listing "$T/status.$k" "$T/want.status"
    check_listing "$T/running.$k" "$T/want.root"
    k=$((k + 1))
    if kill -0 "${pids[0]}" 2>/dev/null || kill -0 "${pids[1]}" 2>/dev/null; then
      during=$((during + 1))
    elif [ "$k" -ge 3 ]; then
      break
    fi
  done
  wait "${pids[@]}"
  [ -e "$T/writer.a.ok" ] && [ -e "$T/writer.b.ok" ] || fail "a writer failed"
  [ "$during" -ge 2 ] || fail "only $during listings ran while the writers did"
  # At the end: the originals, a's odd ones and the b's, once each.
  run bash -c 'ls "$1" | grep -c "\.json$"' _ "$M"
  assert_output 4500
  run bash -c 'ls -f "$1/status" | grep -vx "\.\.\?" | sort | uniq -d' _ "$M"
  assert_output ""
  echo "# $k listings, $during while writing" >&3
}

@test "ls -f of a 20,000-execution log works and the daemon's memory stays bounded" {
  mount_fs
  start_many p 20000
  local k rss=() n
  for k in 1 2 3 4 5; do
    run bash -c 'ls -f "$1" | grep "\.json$" | sort | uniq | wc -l' _ "$M"
    assert_output 20000
    n=$(ls -f "$M/status" | grep -cvx '\.\.\?')
    [ "$n" -eq 20000 ] || fail "status lists $n files"
    rss+=("$(ps -o rss= -p "$PID" | tr -d ' ')")
  done
  echo "# RSS (KiB) after each listing: ${rss[*]}" >&3
  if [ -n "${EXECLOG_SANITIZED:-}" ]; then
    # Under AddressSanitizer the RSS is the sanitizer's (shadow memory, the
    # quarantine of freed blocks): its leak check at exit speaks for memory.
    [ "${rss[4]}" -lt 1048576 ] || fail "RSS ${rss[4]} KiB is over 1 GiB even for ASan"
  else
    [ "${rss[4]}" -lt 65536 ] || fail "RSS ${rss[4]} KiB is over 64 MiB"
    [ $((rss[4] - rss[0])) -lt 4096 ] || fail "RSS grew from ${rss[0]} to ${rss[4]} KiB over five listings"
  fi
  # find sees every record as a regular file.
  run bash -c 'find "$1" -mindepth 1 -maxdepth 1 -name "*.json" -type f | wc -l' _ "$M"
  assert_output 20000
}
