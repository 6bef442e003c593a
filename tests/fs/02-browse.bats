#!/usr/bin/env bats
# The tree: records, status files, ls, cat, stat, and what tools see.
load helper

# The entries of $M other than the fixed ones, sorted, on one line.
records_listed() {
  ls -A "$1" | grep -vxE 'new|status|output|by-outcome|by-day|by-host|by-user|by-tool|by-tag|latest|index\.html|metrics\.prom' |
    sort | tr '\n' ' '
}

# check_record NAME: the record is valid JSON ending in a newline, with
# exactly the contract's fourteen fields in order, each of its type.
check_record() {
  python3 - "$M/$1.json" <<'PY'
import json, sys
text = open(sys.argv[1], "rb").read()
assert text.endswith(b"\n"), "does not end in a newline"
pairs = json.loads(text, object_pairs_hook=lambda p: p)
keys = [k for k, _ in pairs]
want = ["id", "execution_id", "tool_version", "args", "root", "db_path", "started_at",
        "finished_at", "duration_ms", "outcome", "error_message", "files_indexed",
        "symbols_indexed", "references_indexed",
        "exit_code", "signal", "host", "user", "uid", "pid", "cwd", "tags", "output_bytes"]
assert keys == want, "fields %s" % keys
r = dict(pairs)
def is_int(v): return isinstance(v, int) and not isinstance(v, bool)
def is_str(v): return isinstance(v, str)
assert is_int(r["id"]) and r["id"] > 0, "id"
for k in ("execution_id", "tool_version", "db_path", "outcome"):
    assert is_str(r[k]), k
assert isinstance(r["args"], list) and all(is_str(a) for a in r["args"]), "args"
assert r["root"] is None or is_str(r["root"]), "root"
assert is_int(r["started_at"]), "started_at"
assert r["outcome"] in ("running", "success", "error", "partial"), "outcome"
running = r["outcome"] == "running"
for k in ("finished_at", "duration_ms"):
    assert (r[k] is None) if running else is_int(r[k]), k
assert r["error_message"] is None or is_str(r["error_message"]), "error_message"
for k in ("files_indexed", "symbols_indexed", "references_indexed"):
    assert is_int(r[k]) and r[k] >= 0, k
for k in ("exit_code", "signal"):
    assert r[k] is None or is_int(r[k]), k
for k in ("host", "user", "cwd"):
    assert r[k] is None or is_str(r[k]), k
for k in ("uid", "pid"):
    assert r[k] is None or is_int(r[k]), k
# Objects come as lists of pairs here (object_pairs_hook).
assert isinstance(r["tags"], list) and all(is_str(k) and is_str(v) for k, v in r["tags"]), "tags"
assert is_int(r["output_bytes"]) and r["output_bytes"] >= 0, "output_bytes"
print("OK")
PY
}

# The record's st_size is the number of bytes cat prints.
assert_size_exact() {
  local size bytes
  size=$(stat -c %s "$M/$1.json")
  bytes=$(cat "$M/$1.json" | wc -c)
  [ "$size" -eq "$bytes" ] || fail "$1.json: st_size $size, cat prints $bytes bytes"
}

# A 200 KB start document.
big_doc() {
  python3 -c 'import json; print(json.dumps({"tool_version": "big", "args": ["a%04d-%s" % (i, "é" * 100) for i in range(1000)]}))'
}

@test "a started execution is a JSON record with outcome running" {
  mount_fs
  start one
  run jq -r .outcome "$M/one.json"
  assert_output running
  run cat "$M/status/one"
  assert_output running
}

@test "ls lists every execution as <id>.json and the fixed entries; latest only when not empty" {
  mount_fs
  run find "$M" -mindepth 1 -maxdepth 1 -printf '%y %f\n'
  assert_line 'd new'
  assert_line 'd status'
  assert_line 'd output'
  assert_line 'd by-outcome'
  assert_line 'd by-day'
  for v in host user tool tag; do assert_line "d by-$v"; done
  refute_line --partial latest
  refute_line --partial .json
  [ "$(records_listed "$M")" = "" ]
  run fsop lookup "$M/latest"
  assert_output ENOENT

  start a
  start b '{"tool_version":"b"}'
  start c
  echo success >"$M/status/b"
  run find "$M" -mindepth 1 -maxdepth 1 -printf '%y %f\n'
  assert_line 'd new'
  assert_line 'd status'
  assert_line 'd by-outcome'
  assert_line 'd by-day'
  assert_line 'l latest'
  assert_line 'f a.json'
  assert_line 'f b.json'
  assert_line 'f c.json'
  [ "$(records_listed "$M")" = "a.json b.json c.json " ]
  # Nothing is listed twice.
  run bash -c 'ls -A "$1" | sort | uniq -d' _ "$M"
  assert_output ""

  # Once the log is empty again, latest is gone.
  echo error >"$M/status/a"
  echo error >"$M/status/c"
  rm "$M/a.json" "$M/b.json" "$M/c.json"
  run ls -A "$M"
  refute_output --partial latest
  refute_output --partial .json
}

@test "ls status lists one file per execution" {
  mount_fs
  run ls -A "$M/status"
  assert_output ""
  start one
  start two
  start three
  echo partial >"$M/status/two"
  run bash -c 'ls -A "$1/status" | tr "\n" " "' _ "$M"
  assert_output "one three two "
  run find "$M/status" -mindepth 1 -printf '%y %f\n'
  assert_line 'f one'
  assert_line 'f two'
  assert_line 'f three'
  [ "${#lines[@]}" -eq 3 ]
}

@test "cat prints valid JSON ending in a newline, the 21 fields in order, each of its type" {
  mount_fs
  start plain
  start full '{"tool_version":"9.9","args":["a","é","\u0001"],"root":"/src","db_path":"/d.db"}'
  start ok
  start err
  start errnull
  start part
  echo '{"outcome":"success","files_indexed":3,"symbols_indexed":4,"references_indexed":5}' >"$M/status/ok"
  echo 'error: it broke' >"$M/status/err"
  echo error >"$M/status/errnull"
  echo partial >"$M/status/part"
  local n
  for n in plain full ok err errnull part; do
    run check_record "$n"
    [ "$output" = OK ] || fail "$n.json: $output"
    run jq -c keys_unsorted "$M/$n.json"
    assert_output '["id","execution_id","tool_version","args","root","db_path","started_at","finished_at","duration_ms","outcome","error_message","files_indexed","symbols_indexed","references_indexed","exit_code","signal","host","user","uid","pid","cwd","tags","output_bytes"]'
  done
  run jq -c '[.execution_id, .tool_version, .args, .root, .db_path, .outcome]' "$M/full.json"
  assert_output '["full","9.9",["a","é","\u0001"],"/src","/d.db","running"]'
  run jq -c '[.outcome, .error_message, .files_indexed, .symbols_indexed, .references_indexed]' "$M/ok.json"
  assert_output '["success",null,3,4,5]'
  run jq -c '[.outcome, .error_message]' "$M/err.json"
  assert_output '["error","it broke"]'
  run jq -c '[.root, .finished_at, .duration_ms]' "$M/plain.json"
  assert_output '[null,null,null]'
}

@test "st_size is the exact length of what cat prints, running and finished" {
  mount_fs
  start plain
  start uni '{"tool_version":"é😀","args":["\u0001\u001f","\"\\/","ä\tb"],"root":"/ü","db_path":"\u00e9"}'
  big_doc >"$T/big.json"
  cp "$T/big.json" "$M/new/big"
  start fin
  start fin2 '{"args":["x"]}'
  echo "error: $(printf 'm%.0s' $(seq 3000)) é" >"$M/status/fin"
  echo '{"outcome":"partial","error_message":"\u00e9\n","files_indexed":123456789}' >"$M/status/fin2"
  local n
  for n in plain uni big fin fin2; do
    assert_size_exact "$n"
    [ "$(stat -c %s "$M/status/$n")" -eq "$(cat "$M/status/$n" | wc -c)" ] ||
      fail "status/$n: st_size is not what cat prints"
  done
  [ "$(stat -c %s "$M/big.json")" -gt 200000 ]
}

@test "st_size is right at once after a finish: no stale size" {
  mount_fs
  local i before
  for i in $(seq 10); do
    start "s$i"
    before=$(stat -c %s "$M/s$i.json")
    assert_size_exact "s$i"
    # The finish makes the record longer; the next stat must say so at once.
    echo "error: $(printf 'x%.0s' $(seq $((i * 100))))" >"$M/status/s$i"
    assert_size_exact "s$i"
    [ "$(stat -c %s "$M/s$i.json")" -gt "$before" ] || fail "s$i.json did not grow"
    run ls -l "$M/s$i.json"
    assert_output --regexp "^-r[-w]{2}r.* $(cat "$M/s$i.json" | wc -c) "
  done
}

# ls_sizes DIR: "name size" of each record, as ls -l (one readdirplus) gives them.
ls_sizes() {
  ls -l "$1" | awk '/^-/ && $NF ~ /\.json$/ { print $NF, $5 }' | sort
}

@test "ls -l of the mount gives every record's exact size, before and right after finishes" {
  mount_fs
  local i got expect
  for i in $(seq 40); do start "p$i" "{\"args\":[\"$(printf 'a%.0s' $(seq "$i"))\"]}"; done
  got=$(ls_sizes "$M")
  expect=$(for i in $(seq 40); do echo "p$i.json $(wc -c <"$M/p$i.json")"; done | sort)
  assert_equal "$got" "$expect"
  # Finishes change every size; the listing that follows must not show the old
  # ones (it runs before anything else looks at the records).
  for i in $(seq 40); do echo "error: $(printf 'e%.0s' $(seq "$i"))" >"$M/status/p$i"; done
  got=$(ls_sizes "$M")
  expect=$(for i in $(seq 40); do echo "p$i.json $(wc -c <"$M/p$i.json")"; done | sort)
  assert_equal "$got" "$expect"
}

@test "a record finished over 2 s ago reads the same from the page cache, and rm still removes it" {
  mount_fs
  start old '{"args":["kept"]}'
  echo "error: $(printf 'k%.0s' $(seq 500))" >"$M/status/old"
  cat "$M/old.json" >"$T/fresh"
  sleep 2.2
  local i
  for i in 1 2 3; do
    cmp "$T/fresh" "$M/old.json" || fail "read $i of the settled record differs"
  done
  [ "$(stat -c %s "$M/old.json")" -eq "$(wc -c <"$T/fresh")" ]
  rm "$M/old.json"
  run fsop open "$M/old.json" r
  assert_output ENOENT
}

@test "cp, tar, rsync and jq see the whole record" {
  mount_fs
  big_doc >"$T/big.json"
  cp "$T/big.json" "$M/new/big"
  start run '{"tool_version":"r","args":["é"]}'
  start done
  start long
  echo success >"$M/status/done"
  # One write(2) of the value (a shell's echo writes at most 8 KiB at a time).
  run fsop write "$M/status/long" "error: $(printf 'long-%.0s' $(seq 2000))"
  assert_output OK
  mkdir "$T/ref" "$T/cp" "$T/untar" "$T/rsync"
  local n
  for n in big run done long; do cat "$M/$n.json" >"$T/ref/$n.json"; done

  cp "$M"/*.json "$T/cp/"
  (cd "$M" && tar cf "$T/records.tar" ./*.json)
  tar xf "$T/records.tar" -C "$T/untar"
  rsync -a "$M"/*.json "$T/rsync/"
  for n in big run done long; do
    cmp "$T/ref/$n.json" "$T/cp/$n.json"
    cmp "$T/ref/$n.json" "$T/untar/$n.json"
    cmp "$T/ref/$n.json" "$T/rsync/$n.json"
    jq -e . "$M/$n.json" >/dev/null || fail "jq cannot read $n.json"
  done
  run jq '.args | length' "$M/big.json"
  assert_output 1000
  run jq -r '.error_message | length' "$M/long.json"
  assert_output 10000
  run jq -r '.args[999]' "$M/big.json"
  assert_output "a0999-$(printf 'é%.0s' $(seq 100))"
}

@test "an open record is a stable snapshot" {
  mount_fs
  start snap
  cp "$M/snap.json" "$T/before.json"
  run python3 - "$M" "$T/before.json" <<'PY'
import json, os, sys
mnt, before = sys.argv[1], open(sys.argv[2], "rb").read()
# Open, read a little, finish through status/, read the rest in small pieces.
f = open(mnt + "/snap.json", "rb", buffering=0)
head = f.read(10)
g = open(mnt + "/snap.json", "rb", buffering=0)  # opened, not read yet
fd = os.open(mnt + "/status/snap", os.O_WRONLY)
os.write(fd, ("error: " + "x" * 5000).encode())
os.close(fd)
rest = b""
while True:
    chunk = f.read(7)
    if not chunk:
        break
    rest += chunk
text = head + rest
other = g.read()
now = open(mnt + "/snap.json", "rb").read()
assert text == before, "the open file changed: %r" % text[:200]
assert other == before, "the file opened before the finish changed"
assert json.loads(text)["outcome"] == "running"
assert json.loads(now)["outcome"] == "error" and len(now) > len(before), "a new open is not fresh"
print("OK")
PY
  assert_output OK
}

@test "st_mtime is the time of the last change; ls -t puts the most recent first" {
  mount_fs
  # wait_past MTIME: polls until the clock (ms) is past a stat %.3Y time.
  clock_past() { [ "$(date +%s%3N)" -gt "${1/./}" ]; }
  local ma mb mc ma2 now
  start a
  ma=$(stat -c %.3Y "$M/a.json")
  poll 2 clock_past "$ma"
  start b
  mb=$(stat -c %.3Y "$M/b.json")
  poll 2 clock_past "$mb"
  start c
  mc=$(stat -c %.3Y "$M/c.json")
  now=$(date +%s)
  [ "${ma%.*}" -ge $((now - 5)) ] && [ "${mc%.*}" -le $((now + 1)) ] || fail "mtimes $ma $mc are not now ($now)"
  [ "${ma/./}" -lt "${mb/./}" ] && [ "${mb/./}" -lt "${mc/./}" ] || fail "mtimes do not grow: $ma $mb $mc"
  run bash -c 'ls -t "$1" | grep "\.json$" | tr "\n" " "' _ "$M"
  assert_output "c.json b.json a.json "

  poll 2 clock_past "$mc"
  echo success >"$M/status/a"
  ma2=$(stat -c %.3Y "$M/a.json")
  [ "${ma2/./}" -gt "${mc/./}" ] || fail "the finish did not move a's mtime: $ma -> $ma2 (c: $mc)"
  [ "${ma2%.*}" -ge "$(jq .finished_at "$M/a.json")" ] || fail "mtime $ma2 is before finished_at"
  run bash -c 'ls -t "$1" | grep "\.json$" | tr "\n" " "' _ "$M"
  assert_output "a.json c.json b.json "
  # Reading changes nothing.
  cat "$M/b.json" >/dev/null
  [ "$(stat -c %.3Y "$M/b.json")" = "$mb" ]
}

@test "every entry is owned by the mounting user, not by the store's owner" {
  # Give the store to another user: the mount still shows its own user.
  mount_fs
  start a
  unmount_fs
  # (A PostgreSQL store is the server's: there is no file to give.)
  [ "$STORE" = postgres ] || chown -R 65534:65534 "$DB"*
  mount_fs
  start b
  echo success >"$M/status/b"
  local p want
  want=$(id -u)
  for p in "$M" "$M/new" "$M/status" "$M/by-outcome" "$M/by-day" "$M/latest" \
           "$M/a.json" "$M/b.json" "$M/status/a" "$M/status/b"; do
    [ "$(stat -c %u "$p")" = "$want" ] || fail "$p is owned by $(stat -c %u "$p"), not $want"
  done
}

@test "a start or finish through the mount is visible at once to ls, stat and cat" {
  mount_fs
  # Ask first, so that any cache would hold the old answer.
  run fsop stat "$M/x.json"
  assert_output ENOENT
  run fsop stat "$M/status/x"
  assert_output ENOENT
  ls -l "$M" "$M/status" >/dev/null
  start x
  run fsop stat "$M/x.json"
  assert_line --index 0 "$(cat "$M/x.json" | wc -c)"
  ls "$M" | grep -qx x.json
  ls "$M/status" | grep -qx x
  [ "$(cat "$M/status/x")" = running ]
  stat "$M/x.json" "$M/status/x" >/dev/null
  cat "$M/x.json" >/dev/null
  echo 'error: visible at once' >"$M/status/x"
  assert_size_exact x
  [ "$(cat "$M/status/x")" = error ]
  [ "$(stat -c %s "$M/status/x")" -eq 6 ]
  run jq -r '.outcome + ": " + .error_message' "$M/x.json"
  assert_output "error: visible at once"
  rm "$M/x.json"
  run fsop stat "$M/x.json"
  assert_output ENOENT
  run ls "$M/status"
  assert_output ""
}

# within_1s CMD...: CMD succeeds within 1.5 s (the contract's second, and slack).
within_1s() {
  poll 1.5 "$@" || fail "not seen within 1.5 s: $*"
}

@test "a change made through a second mount of the store is visible within one second" {
  mount_fs
  mount_second
  start mine
  run fsop stat "$M/r.json"
  assert_output ENOENT
  ls "$M" >/dev/null

  : >"$M2/new/r"
  within_1s test -e "$M/r.json"
  within_1s bash -c '[ "$(cat "$1/status/r")" = running ]' _ "$M"
  within_1s bash -c 'ls "$1" | grep -qx r.json' _ "$M"
  # Cache the attributes on the first mount, then finish on the second.
  stat "$M/r.json" "$M/status/r" >/dev/null
  echo "error: from the other mount $(printf 'y%.0s' $(seq 500))" >"$M2/status/r"
  # stat first, before any read of the record on this mount asks afresh.
  within_1s bash -c '[ "$(stat -c %s "$1/r.json")" -eq "$(cat "$2/r.json" | wc -c)" ]' _ "$M" "$M2"
  within_1s bash -c '[ "$(cat "$1/status/r")" = error ]' _ "$M"
  within_1s bash -c '[ "$(jq -r .outcome "$1/r.json")" = error ]' _ "$M"
  assert_size_exact r
  cmp "$M/r.json" "$M2/r.json"

  # And the other way round: the second mount sees the first's start.
  within_1s test -e "$M2/mine.json"

  rm "$M2/r.json"
  within_1s bash -c '[ "$(python3 "$2" stat "$1/r.json")" = ENOENT ]' _ "$M" "$HELPERS_DIR/fsop.py"
  within_1s bash -c '! ls "$1" | grep -qx r.json' _ "$M"
}

@test "a change made by another program on the store file is visible within one second" {
  mount_fs
  start ext
  local size
  size=$(stat -c %s "$M/ext.json")
  stat "$M/status/ext" >/dev/null
  if [ "$STORE" = sqlite ]; then
    # Another program on the same SQLite file.
    sqlite3 "$DB" "PRAGMA busy_timeout=5000; UPDATE execution_log SET outcome='partial',
      finished_at=started_at+1, duration_ms=1234, files_indexed=77 WHERE execution_id='ext'"
  else
    # LMDB has no other writer than execlogfs: a second mount is the other process.
    mount_second
    echo '{"outcome":"partial","files_indexed":77}' >"$M2/status/ext"
  fi
  # stat first (finished_at and duration_ms make the record longer), before
  # any read of the record on this mount asks afresh.
  within_1s bash -c '[ "$(stat -c %s "$1/ext.json")" -gt "$2" ]' _ "$M" "$size"
  assert_size_exact ext
  within_1s bash -c '[ "$(jq -c "[.outcome, .files_indexed]" "$1/ext.json")" = "[\"partial\",77]" ]' _ "$M"
  within_1s bash -c '[ "$(cat "$1/status/ext")" = partial ]' _ "$M"
}
