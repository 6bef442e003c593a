#!/usr/bin/env bats
# Starting: new/<execution_id> — names, documents, sizes, tools, races.
load helper

teardown() {
  # A file hold_open keeps open would keep the mount busy.
  if [ -n "${HOLD_PID:-}" ]; then release_hold || true; fi
  teardown_mount
}

# Nothing named $1 exists: no record, no status file.
assert_no_execution() {
  run fsop lookup "$M/$1.json"
  assert_output ENOENT
  run fsop lookup "$M/status/$1"
  assert_output ENOENT
}

# The record of $1 holds the start fields of the JSON document $2.
assert_start_fields() {
  local want got
  want=$(jq -c '{tool_version: (.tool_version // ""), args: (.args // []),
                 root: .root, db_path: (.db_path // "")}' <<<"$2")
  got=$(jq -c '{tool_version, args, root, db_path}' "$M/$1.json")
  [ "$got" = "$want" ] || fail "record $1 has $got, expected $want"
}

assert_defaults() {
  run jq -c '[.execution_id, .tool_version, .args, .root, .db_path, .outcome]' "$M/$1.json"
  assert_output "[\"$1\",\"\",[],null,\"\",\"running\"]"
}

# bad_name NAME ERRNO: a start of NAME fails at open with ERRNO and leaves nothing.
bad_name() {
  run fsop open "$M/new/$1" w,c '{}'
  [ "$output" = "$2" ] || fail "new/$1: expected $2, got $output"
}

# fsop_ok ARGS...: fsop said OK (for poll).
fsop_ok() {
  [ "$(fsop "$@")" = OK ]
}

# The number of executions the mount lists.
count_executions() {
  ls -A "$M/status" | wc -l
}

# --- names ---

@test "names of 1 and of 128 bytes start" {
  mount_fs
  local n128
  n128=$(printf 'a%.0s' $(seq 128))
  run fsop open "$M/new/a" w,c
  assert_output OK
  run fsop open "$M/new/$n128" w,c '{"tool_version":"long"}'
  assert_output OK
  run jq -r .execution_id "$M/a.json"
  assert_output a
  run jq -r '.execution_id + " " + .tool_version' "$M/$n128.json"
  assert_output "$n128 long"
  run cat "$M/status/$n128"
  assert_output running
}

@test "a name of 129 bytes is EINVAL at open and one of 256 bytes ENAMETOOLONG" {
  mount_fs
  local n129 n255 n256
  n129=$(printf 'b%.0s' $(seq 129))
  n255=$(printf 'c%.0s' $(seq 255))
  n256=$(printf 'd%.0s' $(seq 256))
  bad_name "$n129" EINVAL
  bad_name "$n255" EINVAL
  bad_name "$n256" ENAMETOOLONG
  run touch "$M/new/$n129"
  assert_failure
  assert_no_execution "$n129"
  [ "$(count_executions)" -eq 0 ]
  assert_logged "$n129"
}

@test "a name starting with '.' is EINVAL at open; '.' and '..' start nothing" {
  mount_fs
  bad_name .a EINVAL
  bad_name .hidden.json EINVAL
  bad_name ... EINVAL
  bad_name .- EINVAL
  # The kernel resolves . and .. itself (EISDIR) before the daemon sees them.
  run fsop open "$M/new/." w,c '{}'
  refute_output OK
  run fsop open "$M/new/.." w,c '{}'
  refute_output OK
  run bash -c 'echo "{}" > "$1/new/.x"' _ "$M"
  assert_failure
  [ "$(count_executions)" -eq 0 ]
  run ls -A "$M/new"
  assert_output ""
}

@test "a name with a byte outside A-Z a-z 0-9 . _ : @ + - is EINVAL at open" {
  mount_fs
  local n
  for n in 'a b' ' a' 'a ' 'a*' '*' 'é' 'xé' '%' 'a%20b' 'a#b' 'a$b' 'a~' '~a' \
           'a!b' 'a?b' 'a,b' 'a;b' 'a=b' 'a[b]' 'a"b' "a'b" 'a\b' 'a|b' 'a&b' \
           'a(b)' 'a{b}' 'a^b' 'a`b' 'a<b>' $'a\tb' $'a\nb' $'a\x01b' $'a\x7f' $'\xff'; do
    bad_name "$n" EINVAL
    run touch "$M/new/$n"
    assert_failure
  done
  # '/' can only be a separator: new/a/b names b in a directory that is not there.
  run fsop open "$M/new/a/b" w,c '{}'
  refute_output OK
  [ "$(count_executions)" -eq 0 ]
  run ls -A "$M"
  refute_output --partial .json
  assert_logged 'a%20b'
}

@test "every allowed character works in a name" {
  mount_fs
  local n names=(
    ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789
    'a.b' 'a_b' 'a:b' 'a@b' 'a+b' 'a-b' '_x' ':x' '@x' '+x' '-x' '0' 'Z'
    'x.' 'a..b' '2026-01-02T03:04:05+00:00' 'build@host:1.2_3-rc+4'
    'Aa0._:@+-zZ9'
  )
  for n in "${names[@]}"; do
    touch "$M/new/$n" || fail "touch new/$n failed"
    run jq -r .execution_id "$M/$n.json"
    [ "$output" = "$n" ] || fail "$n.json says execution_id $output"
    [ "$(cat "$M/status/$n")" = running ] || fail "status/$n is not running"
  done
  [ "$(count_executions)" -eq "${#names[@]}" ]
}

# --- one name, one start ---

@test "a name that is already an execution, running or finished, is EEXIST at open" {
  mount_fs
  start run '{"tool_version":"r"}'
  start fin '{"tool_version":"f"}'
  echo success >"$M/status/fin"
  cp "$M/run.json" "$T/run.before"
  cp "$M/fin.json" "$T/fin.before"
  local n
  for n in run fin; do
    run fsop open "$M/new/$n" w,c
    assert_output EEXIST
    run fsop open "$M/new/$n" w,c '{"tool_version":"again"}'
    assert_output EEXIST
    # touch falls back to utimensat on EEXIST: that must fail too.
    run touch "$M/new/$n"
    assert_failure
    run bash -c 'echo "{}" > "$1"' _ "$M/new/$n"
    assert_failure
  done
  cmp "$T/run.before" "$M/run.json"
  cmp "$T/fin.before" "$M/fin.json"
  [ "$(count_executions)" -eq 2 ]
}

@test "a name another writer is creating is EEXIST, and touch of it fails" {
  mount_fs
  hold_open "$M/new/held"
  run fsop open "$M/new/held" w,c
  assert_output EEXIST
  run fsop open "$M/new/held" w,c '{"tool_version":"second"}'
  assert_output EEXIST
  run touch "$M/new/held"
  assert_failure
  run bash -c 'echo "{\"tool_version\":\"third\"}" > "$1"' _ "$M/new/held"
  assert_failure
  assert_no_execution held
  release_hold
  # The first writer's empty file started it, with the defaults.
  assert_defaults held
  [ "$(count_executions)" -eq 1 ]
}

@test "a name being written with a partial document is EEXIST for a second creator" {
  mount_fs
  hold_open "$M/new/half" '{"tool_version":"first",'
  run fsop open "$M/new/half" w,c '{"tool_version":"second"}'
  assert_output EEXIST
  run touch "$M/new/half"
  assert_failure
  assert_no_execution half
  # Closed incomplete: the close fails (EINVAL), nothing started, and the
  # name comes free.
  if release_hold; then fail "the close of an incomplete document succeeded"; fi
  assert_no_execution half
  poll 3 fsop_ok open "$M/new/half" w,c '{"tool_version":"third"}'
  run jq -r .tool_version "$M/half.json"
  assert_output third
}

@test "of 2 or 10 concurrent starts of one name exactly one succeeds" {
  mount_fs
  # N processes start the same names in lockstep (a barrier before each),
  # with a document (committed by the write) or empty (by the release).
  # Exactly one start of each name succeeds; every other gets EEXIST at open.
  run python3 - "$M" <<'PY'
import collections, errno, json, multiprocessing as mp, os, sys
mnt, rounds = sys.argv[1], 2000

def worker(tag, procs, doc, i, barrier, q):
    out = []
    for n in range(rounds):
        barrier.wait()
        path = "%s/new/%s%d" % (mnt, tag, n)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError as e:
            out.append((n, "open:" + errno.errorcode[e.errno]))
            continue
        try:
            if doc:
                os.write(fd, json.dumps({"tool_version": "p%d" % i}).encode())
            os.close(fd)
            out.append((n, "OK"))
            out.append((n, "winner:p%d" % i if doc else "winner:"))
        except OSError as e:
            out.append((n, "write:" + errno.errorcode[e.errno]))
    q.put(out)

bad = 0
for doc in (True, False):
    for procs in (2, 10):
        tag = "race%s%d_" % ("d" if doc else "e", procs)
        barrier, q = mp.Barrier(procs), mp.Queue()
        ps = [mp.Process(target=worker, args=(tag, procs, doc, i, barrier, q))
              for i in range(procs)]
        for p in ps: p.start()
        res = collections.defaultdict(list)
        for _ in ps:
            for n, r in q.get():
                res[n].append(r)
        for p in ps: p.join()
        for n in range(rounds):
            r = res[n]
            winners = [x[7:] for x in r if x.startswith("winner:")]
            others = sorted(set(x for x in r if x != "OK" and not x.startswith("winner:")))
            problem = None
            if r.count("OK") != 1:
                problem = "%d starts succeeded" % r.count("OK")
            elif others != ["open:EEXIST"]:
                problem = "the others got %s" % others
            else:
                rec = json.load(open("%s/%s%d.json" % (mnt, tag, n)))
                if rec["tool_version"] != winners[0]:
                    problem = "tool_version %r, the winner wrote %r" % (rec["tool_version"], winners[0])
            if problem:
                bad += 1
                if bad <= 5:
                    print("%s%d: %s" % (tag, n, problem))
print("bad rounds:", bad)
PY
  assert_success
  assert_output "bad rounds: 0"
  [ "$(count_executions)" -eq 8000 ]
}

@test "of 10 concurrent touches of one name exactly one succeeds" {
  mount_fs
  local r i ok pids
  for r in $(seq 30); do
    pids=()
    for i in $(seq 10); do
      (touch "$M/new/t$r" 2>/dev/null && echo ok >"$T/touch.$r.$i") 3>&- &
      pids+=($!)
    done
    wait "${pids[@]}" || true
    ok=$(ls "$T" | grep -c "^touch\.$r\.")
    [ "$ok" -eq 1 ] || fail "round $r: $ok touches succeeded; the daemon said: $(grep -F "t$r" "$LOG")"
    assert_defaults "t$r"
  done
}

# --- documents ---

@test "each allowed key with the right type starts with that value" {
  mount_fs
  local doc
  doc='{"tool_version":"1.2.3","args":["magellan","--db","a b","é","q\"uote","back\\slash","nl\nx","\u00e9\ud83d\ude00",""],"root":"/src/proj","db_path":"/tmp/m.db"}'
  run fsop open "$M/new/all" w,c "$doc"
  assert_output OK
  assert_start_fields all "$doc"
  run jq -r '.args[7]' "$M/all.json"
  assert_output "é😀"

  doc=$'\n  { "db_path" : "" , "root" : null ,\n "args" : [ ] , "tool_version" : "" }  \n'
  run fsop open "$M/new/spaced" w,c "$doc"
  assert_output OK
  assert_defaults spaced

  for doc in '{"tool_version":"only"}' '{"args":["only"]}' '{"root":"/only"}' \
             '{"root":null}' '{"db_path":"/only.db"}' '{}'; do
    run fsop open "$M/new/one" w,c "$doc"
    [ "$output" = OK ] || fail "$doc: $output"
    assert_start_fields one "$doc"
    echo success >"$M/status/one"
    rm "$M/one.json"
  done
}

# refuse_doc DOC: a start with DOC fails with EINVAL at the write, in Python
# and in the shell, and leaves nothing behind.
refuse_doc() {
  run fsop open "$M/new/x" w,c "$1"
  [ "$output" = EINVAL ] || fail "document $1: the write gave $output, not EINVAL"
  run fsop lookup "$M/x.json"
  [ "$output" = ENOENT ] || fail "document $1 left x.json behind"
  run bash -c 'echo "$1" > "$2"' _ "$1" "$M/new/x"
  [ "$status" -ne 0 ] || fail "echo '$1' > new/x exited 0"
  run fsop lookup "$M/x.json"
  [ "$output" = ENOENT ] || fail "echo '$1' left x.json behind"
}

# refuse_bytes FORMAT: the same, for a document given as a printf format.
refuse_bytes() {
  local hex
  hex=$(printf "$1" | od -An -v -tx1 | tr -d ' \n')
  run fsop writebytes "$M/new/x" "$hex"
  [ "$output" = EINVAL ] || fail "bytes $1: the write gave $output, not EINVAL"
  run bash -c 'printf "$1" > "$2"' _ "$1" "$M/new/x"
  [ "$status" -ne 0 ] || fail "printf '$1' > new/x exited 0"
  run fsop lookup "$M/x.json"
  [ "$output" = ENOENT ] || fail "bytes $1 left x.json behind"
}

@test "an unknown or repeated key is EINVAL at the write and leaves nothing" {
  mount_fs
  local doc
  for doc in '{"unknown":1}' '{"tool_version":"a","extra":"b"}' '{"outcome":"running"}' \
             '{"execution_id":"x"}' '{"id":1}' '{"started_at":1}' '{"Tool_version":"a"}' \
             '{"tool_version ":"a"}' '{"":1}' \
             '{"tool_version":"a","tool_version":"b"}' '{"args":[],"args":[]}' \
             '{"root":null,"root":null}' '{"db_path":"","db_path":""}' \
             '{"tool_\u0076ersion":"a","tool_version":"b"}'; do
    refuse_doc "$doc"
  done
  run fsop open "$M/new/x" w,c '{"tool_version":"fine"}'
  assert_output OK
  run jq -r .tool_version "$M/x.json"
  assert_output fine
  assert_logged "new/x"
}

@test "each wrong type of each key is EINVAL at the write and leaves nothing" {
  mount_fs
  local doc
  for doc in \
      '{"tool_version":1}' '{"tool_version":null}' '{"tool_version":true}' \
      '{"tool_version":["a"]}' '{"tool_version":{}}' '{"tool_version":1.5}' \
      '{"args":"a"}' '{"args":null}' '{"args":1}' '{"args":{}}' '{"args":true}' \
      '{"args":[1]}' '{"args":["a",2]}' '{"args":[null]}' '{"args":[true]}' \
      '{"args":[["a"]]}' '{"args":[{}]}' \
      '{"root":1}' '{"root":true}' '{"root":false}' '{"root":["a"]}' '{"root":{}}' \
      '{"db_path":null}' '{"db_path":2}' '{"db_path":false}' '{"db_path":["a"]}' \
      '{"db_path":{"a":"b"}}'; do
    refuse_doc "$doc"
  done
  start x '{"args":["fine"]}'
  run jq -c .args "$M/x.json"
  assert_output '["fine"]'
}

@test "anything but a single JSON object is EINVAL at the write and leaves nothing" {
  mount_fs
  local doc
  for doc in '[]' '["a"]' '"x"' '1' '-1' 'null' 'true' 'false' 'x' '}' ']' \
             '{}{}' '{} {}' '{}[]' '{} x' '{}]' '{},' '{}}' '{"args":[]}}' \
             '{"tool_version":"a"} 1' '{"tool_version" "a"}' "{'tool_version':'a'}" \
             '{tool_version:"a"}' '{"tool_version":"a",}' '{"args":["a",]}' \
             '{,}' '{"tool_version":"\q"}' '{"tool_version":"\u12"}' \
             $'{"tool_version":"a\tb"}' $'{"tool_version":"a\nb"}' \
             '{"root":nul}' '{"root":NULL}' '/* c */ {}' '{} // c'; do
    refuse_doc "$doc"
  done
  start x
  assert_defaults x
}

@test "a NUL or invalid UTF-8 is EINVAL at the write and leaves nothing" {
  mount_fs
  local fmt
  for fmt in '{"tool_version":"a\0b"}' '\0{}' '{}\0' '{"args":["\0"]}' \
             '{"tool_version":"\xff"}' '{"tool_version":"\xc3\x28"}' \
             '{"root":"\xc0\xaf"}' '{"db_path":"\xed\xa0\x80"}' \
             '{"args":["\xf4\x90\x80\x80"]}' '{"args":["\xe2\x82"]}' \
             '{"tool_version":"\x80"}' '{\xff}'; do
    refuse_bytes "$fmt"
  done
  # The escaped forms of the same: a NUL, and a lone surrogate.
  refuse_doc '{"tool_version":"a\u0000b"}'
  refuse_doc '{"args":["\ud800"]}'
  refuse_doc '{"root":"\udc00x"}'
  start x '{"tool_version":"\u00e9"}'
  run jq -r .tool_version "$M/x.json"
  assert_output é
}

# --- sizes ---

# write_doc NAME TOTAL CHUNK: writes a start document of TOTAL bytes (padded
# with white space) in writes of CHUNK bytes; prints OK or the errno of the
# first failing write, and the bytes written before it.
write_doc() {
  python3 - "$M/new/$1" "$2" "$3" <<'PY'
import errno, os, sys
path, total, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
head = b'{"tool_version":"big"'
doc = head + b" " * (total - len(head) - 1) + b"}"
assert len(doc) == total
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
off, result = 0, "OK"
while off < total:
    try:
        off += os.write(fd, doc[off:off + chunk])
    except OSError as e:
        result = errno.errorcode[e.errno]
        break
os.close(fd)
print(result, off)
PY
}

@test "a 1 MiB document starts; the write that goes past 1,048,576 bytes is EFBIG" {
  mount_fs
  run write_doc max 1048576 65536
  assert_output "OK 1048576"
  run jq -r .tool_version "$M/max.json"
  assert_output big

  run write_doc over 1048577 65536
  assert_output "EFBIG 1048576"
  assert_no_execution over
  run write_doc over 1048577 1000
  assert_output "EFBIG 1048000"
  assert_no_execution over

  # The same through cp, in one go.
  head -c 1048575 /dev/zero | tr '\0' ' ' >"$T/pad"
  { printf '{'; cat "$T/pad"; } >"$T/over.json"
  { printf '{'; head -c 1048574 "$T/pad"; printf '}'; } >"$T/max.json"
  [ "$(stat -c %s "$T/max.json")" -eq 1048576 ]
  [ "$(stat -c %s "$T/over.json")" -eq 1048576 ]
  printf '}' >>"$T/over.json"
  cp "$T/max.json" "$M/new/cpmax"
  assert_defaults cpmax
  run cp "$T/over.json" "$M/new/cpover"
  assert_failure
  assert_no_execution cpover
  # Nothing is left behind: the names can be used again.
  start over
  start cpover
  assert_defaults over
  assert_defaults cpover
}

# --- empty starts and tools ---

@test "touch, : >, an empty open and white space only start with the defaults" {
  mount_fs
  touch "$M/new/touched"
  : >"$M/new/colon"
  printf ' \n\t \r\n' >"$M/new/blank"
  run fsop open "$M/new/opened" w,c
  assert_output OK
  run fsop open "$M/new/spaces" w,c '   ' $'\n' $'\t'
  assert_output OK
  local n
  for n in touched colon blank opened spaces; do
    assert_defaults "$n"
    run jq -c '[.finished_at, .duration_ms, .error_message, .files_indexed, .symbols_indexed, .references_indexed]' "$M/$n.json"
    assert_output '[null,null,null,0,0,0]'
  done
}

@test "cp, cat >, tee, dd and Python writes all start a 200 KB document" {
  mount_fs
  python3 - "$T/doc.json" <<'PY'
import json, sys
args = ["arg%04d-%s-é" % (i, "x" * 200) for i in range(1000)]
doc = {"tool_version": "tools-1", "args": args, "root": "/r", "db_path": "/d"}
json.dump(doc, open(sys.argv[1], "w", encoding="utf-8"), indent=2, ensure_ascii=False)
PY
  [ "$(stat -c %s "$T/doc.json")" -gt 200000 ]
  local doc
  doc=$(cat "$T/doc.json")
  cp "$T/doc.json" "$M/new/cp"
  cat "$T/doc.json" >"$M/new/cat"
  tee "$M/new/tee" <"$T/doc.json" >/dev/null
  dd if="$T/doc.json" of="$M/new/dd" bs=1k status=none
  python3 -c 'import sys; open(sys.argv[2], "w", encoding="utf-8").write(open(sys.argv[1], encoding="utf-8").read())' \
    "$T/doc.json" "$M/new/pyone"
  # In many writes of an odd size, splitting keys, strings and UTF-8 sequences.
  python3 - "$T/doc.json" "$M/new/pychunks" <<'PY'
import os, sys
data = open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o644)
for off in range(0, len(data), 4099):
    os.write(fd, data[off:off + 4099])
os.close(fd)
PY
  local n
  for n in cp cat tee dd pyone pychunks; do
    assert_start_fields "$n" "$doc"
    run jq '.args | length' "$M/$n.json"
    assert_output 1000
  done
}

@test "a document written one byte per write starts with every value intact" {
  mount_fs
  local doc='{"tool_version":"é-\u00e9-\ud83d\ude00","args":["a\\n","😀","\"q\"",""],"root":null,"db_path":"p ä"}'
  python3 - "$M/new/bytes" "$doc" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
for b in sys.argv[2].encode("utf-8"):
    assert os.write(fd, bytes([b])) == 1
os.close(fd)
PY
  assert_start_fields bytes "$doc"
  run jq -r .tool_version "$M/bytes.json"
  assert_output "é-é-😀"
}

@test "a document still incomplete at the last close starts nothing, the close fails EINVAL, and the daemon logs why" {
  mount_fs
  run fsop open "$M/new/incomplete_doc_7" w,c '{"tool_version":"a",' '"args":["b"'
  assert_output EINVAL
  # The release comes after close(2) returns; the log line says it was handled.
  poll 3 grep -qF 'refused start of new/incomplete_doc_7' "$LOG"
  assert_no_execution incomplete_doc_7
  # Python, cp, dd and tee all see the failed close.
  printf '{"args": ["a"]' >"$T/half.json"
  # (Python drops errors of a close done by the garbage collector, as
  # this one-liner's is, unless run with -X dev.)
  run python3 -X dev -c "open('$M/new/inc_py','w').write('{\"args\": [\"a\"]')"
  assert_output --partial 'Invalid argument'
  run python3 -c "with open('$M/new/inc_pywith','w') as f: f.write('{\"args\": [\"a\"]')"
  assert_failure
  assert_output --partial 'Invalid argument'
  run cp "$T/half.json" "$M/new/inc_cp"
  assert_failure
  run dd if="$T/half.json" of="$M/new/inc_dd" status=none
  assert_failure
  run tee "$M/new/inc_tee" <"$T/half.json"
  assert_failure
  # bash ignores errors from close: nothing starts, the log says why.
  run bash -c 'printf "{\"args\":[" > "$1"' _ "$M/new/incomplete_sh"
  poll 3 grep -qF incomplete_sh "$LOG"
  assert_no_execution incomplete_sh
  local n
  for n in inc_py inc_pywith inc_cp inc_dd inc_tee; do
    poll 3 grep -qF "refused start of new/$n" "$LOG"
    assert_no_execution "$n"
  done
  [ "$(count_executions)" -eq 0 ]
  # A close of a dup while the document is still coming is not the last:
  # two processes write one document through one open file, and it starts.
  run bash -c '{ /usr/bin/printf "{\"args\":"; /usr/bin/printf "[\"two\"]}"; } > "$1"' _ "$M/new/two_procs"
  assert_success
  run jq -c .args "$M/two_procs.json"
  assert_output '["two"]'
  # An empty file is not incomplete: its close succeeds.
  run fsop open "$M/new/empty_ok" w,c
  assert_output OK
  # The names are free again.
  poll 3 fsop_ok open "$M/new/incomplete_doc_7" w,c '{"tool_version":"b"}'
  run jq -r .tool_version "$M/incomplete_doc_7.json"
  assert_output b
}

@test "after a complete document white space may follow; anything else is EINVAL and the start stands" {
  mount_fs
  run fsop open "$M/new/ws" w,c '{"tool_version":"v"}' '  ' $'\n' $'\t\r\n'
  assert_output OK
  run jq -r .tool_version "$M/ws.json"
  assert_output v

  run fsop open "$M/new/junk" w,c '{"tool_version":"v"}' ' ' 'x'
  assert_output EINVAL
  run fsop open "$M/new/again" w,c '{"tool_version":"w"}' '{}'
  assert_output EINVAL
  run bash -c '{ printf "{\"tool_version\":\"s\"}"; printf "junk"; } > "$1"' _ "$M/new/shell"
  assert_failure
  run jq -r '[.tool_version, .outcome] | join(" ")' "$M/junk.json"
  assert_output "v running"
  run jq -r '[.tool_version, .outcome] | join(" ")' "$M/again.json"
  assert_output "w running"
  run jq -r '[.tool_version, .outcome] | join(" ")' "$M/shell.json"
  assert_output "s running"
  # The start stands, once.
  [ "$(count_executions)" -eq 4 ]
}

@test "new/ looks empty, also while a start is in progress" {
  mount_fs
  start done
  hold_open "$M/new/inprogress" '{"tool_version":'
  run ls -A "$M/new"
  assert_success
  assert_output ""
  run fsop lookup "$M/new/inprogress"
  assert_output ENOENT
  run stat "$M/new/inprogress"
  assert_failure
  run fsop lookup "$M/new/done"
  assert_output ENOENT
  run find "$M/new" -mindepth 1
  assert_output ""
  if release_hold; then fail "the close of an incomplete document succeeded"; fi
  hold_open "$M/new/blankprogress"
  run ls -A "$M/new"
  assert_output ""
  run fsop lookup "$M/new/blankprogress"
  assert_output ENOENT
  release_hold
  run ls -A "$M/new"
  assert_output ""
  run fsop lookup "$M/new/blankprogress"
  assert_output ENOENT
  assert_defaults blankprogress
}

@test "touch new/x && echo success > status/x always works (100 times)" {
  mount_fs
  local i
  for i in $(seq 100); do
    touch "$M/new/t$i" && echo success >"$M/status/t$i" || fail "round $i failed"
  done
  for i in $(seq 100); do
    : >"$M/new/c$i" && [ "$(cat "$M/status/c$i")" = running ] || fail "colon round $i failed"
  done
  run bash -c 'cat "$1"/status/t* | sort | uniq -c | awk "{ print \$1, \$2 }"' _ "$M"
  assert_output "100 success"
}

@test "after the start <id>.json exists with outcome running, started_at now, and ids grow" {
  mount_fs
  local before after
  before=$(date +%s)
  start a
  start b '{"tool_version":"b"}'
  start c
  after=$(date +%s)
  run jq -r '.outcome' "$M/a.json"
  assert_output running
  local n at
  for n in a b c; do
    at=$(jq .started_at "$M/$n.json")
    [ "$at" -ge $((before - 5)) ] && [ "$at" -le $((after + 5)) ] ||
      fail "$n started_at $at is not within 5 s of $before..$after"
  done
  run bash -c 'jq .id "$1/a.json" "$1/b.json" "$1/c.json" | tr "\n" " "' _ "$M"
  local ids=($output)
  [ "${ids[0]}" -ge 1 ] && [ "${ids[0]}" -lt "${ids[1]}" ] && [ "${ids[1]}" -lt "${ids[2]}" ] ||
    fail "ids do not grow: $output"
}
