#!/usr/bin/env bats
# Durability: remounts, kill -9 (alone and under concurrent writers), the
# precision of duration_ms; and compatibility with databases that magellan
# itself writes (its schema, INSERT, UPDATE and SELECT, verbatim).
load helper
bats_require_minimum_version 1.5.0

# --- remounts and crashes ---

# populate: a few executions of every outcome, two still running.
populate() {
  start s1 '{"tool_version":"1.0","args":["index","--root","/p"],"root":"/p","db_path":"/p/m.db"}'
  echo success >"$M/status/s1"
  start e1 '{"args":["é","😀",""]}'
  echo 'error: it failed: badly' >"$M/status/e1"
  start p1
  echo '{"outcome":"partial","error_message":"half","files_indexed":3,"symbols_indexed":4,"references_indexed":5}' \
    >"$M/status/p1"
  start 'a.b_c:d@e+f-g' '{"root":null,"db_path":""}'
  touch "$M/new/r2"
  start e2
  echo error >"$M/status/e2"
}

# Everything a reader sees of the log: listings, every record, sizes, times.
view() {
  ls "$M" "$M/status" "$M/by-outcome"/* "$M/by-day"/*
  ls -t "$M"/*.json "$M/status"
  readlink "$M/latest"
  local f
  for f in "$M"/*.json; do
    cat "$f"
    stat -c '%n %s %.3Y' "$f"
  done
  cat "$M"/status/*
}

@test "a remount shows identical records, listings, sizes and times" {
  mount_fs
  populate
  view >"$T/before"
  [ "$(grep -c '^{' "$T/before")" -eq 6 ]
  unmount_fs
  mount_fs
  view >"$T/after"
  diff "$T/before" "$T/after"
  unmount_fs
  assert_store_intact
}

# expect NAME OUTCOME: records what NAME must be after a crash.
expect() {
  echo "$1 $2" >>"$T/expected"
}

# assert_expected: every execution in $T/expected is there with its outcome.
assert_expected() {
  local name outcome got n=0
  while read -r name outcome; do
    got=$(cat "$M/status/$name" 2>&1) || got="missing ($got)"
    [ "$got" = "$outcome" ] || fail "$name: expected $outcome, found $got"
    run jq -r .outcome "$M/$name.json"
    [ "$output" = "$outcome" ] || fail "$name.json: expected $outcome, found $output"
    n=$((n + 1))
  done <"$T/expected"
  [ "$n" -gt 0 ]
}

@test "kill -9 after acknowledged starts and finishes loses nothing; the store passes its check" {
  local sync i name outcomes=(success error partial)
  for sync in normal full; do
    mount_fs "sync=$sync"
    for i in $(seq 60); do
      name=$sync$i
      if [ $((i % 2)) -eq 0 ]; then
        start "$name" "{\"tool_version\":\"$sync\",\"args\":[\"$i\"]}"
      else
        touch "$M/new/$name"
      fi
      if [ $((i % 4)) -eq 0 ]; then
        # Left running: acknowledged once it is visible.
        [ "$(cat "$M/status/$name")" = running ]
        expect "$name" running
      else
        echo "${outcomes[i % 3]}" >"$M/status/$name"
        expect "$name" "${outcomes[i % 3]}"
      fi
    done
    kill9_fs
    assert_store_intact
    mount_fs
    assert_expected
    [ "$(ls "$M/status" | wc -l)" -eq "$(wc -l <"$T/expected")" ]
    run jq -r .tool_version "$M/${sync}2.json"
    assert_output "$sync"
    unmount_fs
    assert_store_intact
  done
}

# writer W: starts and finishes executions until a call fails (the daemon
# is killed), appending each acknowledged start and finish to $T/ack.W.
writer() {
  local w=$1 j name
  for j in $(seq 2000); do
    name=w$w-$j
    if [ $((j % 2)) -eq 0 ]; then
      printf '{"tool_version":"w%s","args":["%s"]}' "$w" "$j" >"$M/new/$name" 2>/dev/null || break
      echo "$name running" >>"$T/ack.$w"
    else
      # An empty start is acknowledged by the finish that finds it.
      touch "$M/new/$name" 2>/dev/null || break
    fi
    echo success >"$M/status/$name" 2>/dev/null || break
    echo "$name success" >>"$T/ack.$w"
  done
}

acks_at_least() {
  [ "$(cat "$T"/ack.* 2>/dev/null | wc -l)" -ge "$1" ]
}

@test "kill -9 while 4 writers start and finish: every acknowledged start and finish survives" {
  mount_fs
  local w pids=()
  for w in 1 2 3 4; do
    writer "$w" 3>&- &
    pids+=($!)
  done
  poll 60 acks_at_least 200 || fail "the writers acknowledged only $(cat "$T"/ack.* | wc -l) calls in 60 s"
  kill9_fs
  wait "${pids[@]}"
  assert_store_intact
  mount_fs
  # The last acknowledgement of each name is what must be there (a finish
  # may have succeeded after its start; a later state may be there too).
  local name outcome got n=0
  while read -r name outcome; do
    got=$(cat "$M/status/$name" 2>&1) || got="missing ($got)"
    if [ "$outcome" = success ]; then
      [ "$got" = success ] || fail "$name: acknowledged success, found $got"
    else
      [ "$got" = running ] || [ "$got" = success ] || fail "$name: acknowledged start, found $got"
    fi
    n=$((n + 1))
  done < <(cat "$T"/ack.* | awk '{ last[$1] = $2 } END { for (n in last) print n, last[n] }')
  [ "$n" -ge 100 ]
  # Every record there is whole.
  run bash -c 'jq -e "(.outcome | length) > 0" "$1"/*.json > /dev/null' _ "$M"
  assert_success
  unmount_fs
  assert_store_intact
}

# duration_of NAME T0: duration_ms of NAME is at least 290 ms, at most the
# time the test measured since T0 (ms), and not whole seconds × 1000.
assert_ms_duration() {
  local d limit
  d=$(jq .duration_ms "$M/$1.json")
  limit=$(( $(date +%s%3N) - $2 ))
  [ "$d" -ge 290 ] && [ "$d" -le "$limit" ] ||
    fail "$1: duration_ms $d is not within 290..$limit"
  [ $((d % 1000)) -ne 0 ] || fail "$1: duration_ms $d is a multiple of 1000"
  run jq '(.finished_at - .started_at) * 1000 - .duration_ms | fabs < 1000' "$M/$1.json"
  assert_output true
}

@test "duration_ms has millisecond precision" {
  mount_fs
  local t0
  t0=$(date +%s%3N)
  start d
  sleep 0.3 # the duration being measured
  echo success >"$M/status/d"
  assert_ms_duration d "$t0"
}

@test "duration_ms has millisecond precision also when the daemon is remounted between start and finish" {
  mount_fs
  local t0
  t0=$(date +%s%3N)
  start d '{"tool_version":"remounted"}'
  unmount_fs
  mount_fs
  sleep 0.3 # the duration being measured
  echo success >"$M/status/d"
  assert_ms_duration d "$t0"
  unmount_fs
  mount_fs
  assert_ms_duration d "$t0"
}

# --- magellan ---

# magellan CMD ARGS...: what magellan's execution log does to the SQLite
# database at $DB, with its statements verbatim (magellan/src/execution_log.rs).
#   schema
#   start ID TOOL_VERSION ARGS_JSON ROOT|- DB_PATH STARTED_AT
#   finish ID OUTCOME MESSAGE|- FILES SYMBOLS REFERENCES FINISHED_AT
#     (duration_ms = (finished_at - started_at) * 1000, as magellan does)
#   get ID   prints the row as JSON, read as magellan's ExecutionRecord reads
#            it (types checked as rusqlite's row.get would)
#   dump     every row's magellan columns, one JSON list a line, by id
magellan() {
  python3 - "$DB" "$@" <<'PY'
import json, os, sqlite3, sys

db, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
conn = sqlite3.connect(db)
opt = lambda s: None if s == "-" else s

if cmd == "schema":
    conn.executescript(os.environ["MAGELLAN_DDL"])
elif cmd == "start":
    eid, tool, args_json, root, db_path, started = args
    conn.execute("""INSERT INTO execution_log
                    (execution_id, tool_version, args, root, db_path, started_at, outcome)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running')""",
                 (eid, tool, json.dumps(json.loads(args_json), separators=(",", ":"),
                                        ensure_ascii=False),
                  opt(root), db_path, int(started)))
elif cmd == "finish":
    eid, outcome, msg, files, syms, refs, finished = args
    finished = int(finished)
    row = conn.execute("SELECT started_at FROM execution_log WHERE execution_id = ?1",
                       (eid,)).fetchone()
    started = row[0] if row else finished
    conn.execute("""UPDATE execution_log
                    SET finished_at = ?1, outcome = ?2, error_message = ?3,
                        duration_ms = ?4, files_indexed = ?5, symbols_indexed = ?6,
                        references_indexed = ?7
                    WHERE execution_id = ?8""",
                 (finished, outcome, opt(msg), (finished - started) * 1000,
                  int(files), int(syms), int(refs), eid))
elif cmd in ("get", "dump"):
    cols = ("id, execution_id, tool_version, args, root, db_path, "
            "started_at, finished_at, duration_ms, outcome, error_message, "
            "files_indexed, symbols_indexed, references_indexed")
    # ExecutionRecord: i64, String, String, String, Option<String>, String,
    # i64, Option<i64>, Option<i64>, String, Option<String>, i64, i64, i64.
    kinds = "isssSsiIIsSiii"
    if cmd == "get":
        rows = conn.execute("SELECT " + cols + " FROM execution_log WHERE execution_id = ?1",
                            (args[0],)).fetchall()
    else:
        rows = conn.execute("SELECT " + cols + " FROM execution_log ORDER BY id").fetchall()
    for row in rows:
        for k, v in zip(kinds, row):
            ok = {"i": type(v) is int, "s": type(v) is str,
                  "I": v is None or type(v) is int, "S": v is None or type(v) is str}[k]
            if not ok:
                sys.exit("magellan cannot read %r as %s in %r" % (v, k, row))
        print(json.dumps(list(row), ensure_ascii=False, separators=(",", ":")))
else:
    sys.exit("magellan: unknown command " + cmd)
conn.commit()
conn.close()
PY
}

# make_magellan_db: a database as magellan leaves it, rows of every outcome.
make_magellan_db() {
  magellan schema
  magellan start m-ok 0.5.0 '["magellan","index","--root","/proj"]' /proj /proj/.magellan.db 1700000000
  magellan finish m-ok success - 42 100 50 1700000012
  magellan start m-err 0.5.0 '[]' - /db 1700000100
  magellan finish m-err error 'boom: it broke' 0 0 0 1700000101
  magellan start m-part 0.4.9 '["é","😀","a b","q\"uote"]' /p '' 1700000200
  magellan finish m-part partial - 5 0 0 1700000203
  magellan start m-run 0.5.0 '["magellan","watch"]' /w /w/db "$(($(date +%s) - 10))"
}

# The contract's record of a row as magellan's SELECT reads it.
record_of_row() {
  magellan get "$1" | jq -c '{id: .[0], execution_id: .[1], tool_version: .[2],
    args: (.[3] | fromjson), root: .[4], db_path: .[5], started_at: .[6],
    finished_at: .[7], duration_ms: .[8], outcome: .[9], error_message: .[10],
    files_indexed: .[11], symbols_indexed: .[12], references_indexed: .[13],
    exit_code: null, signal: null, host: null, user: null, uid: null, pid: null,
    cwd: null, tags: {}, output_bytes: 0}'
}

# The columns of execution_log: cid|name|type|notnull|dflt_value|pk.
table_info() {
  sqlite3 "$DB" 'PRAGMA table_info(execution_log)'
}

# Indexes of execution_log: name|unique|column|descending, a line per key column.
index_list() {
  sqlite3 "$DB" "SELECT il.name, il.\"unique\", ii.name, ii.desc
    FROM pragma_index_list('execution_log') AS il, pragma_index_xinfo(il.name) AS ii
    WHERE ii.key ORDER BY il.name, ii.seqno"
}

@test "a magellan-made database mounts, and its rows read right, every field" {
  make_magellan_db
  mount_fs_raw -o "db=$DB"
  run ls "$M"
  assert_output --partial m-ok.json
  local n
  for n in m-ok m-err m-part m-run; do
    run jq -c . "$M/$n.json"
    assert_output "$(record_of_row "$n")"
  done
  run jq -c . "$M/m-ok.json"
  assert_output '{"id":1,"execution_id":"m-ok","tool_version":"0.5.0","args":["magellan","index","--root","/proj"],"root":"/proj","db_path":"/proj/.magellan.db","started_at":1700000000,"finished_at":1700000012,"duration_ms":12000,"outcome":"success","error_message":null,"files_indexed":42,"symbols_indexed":100,"references_indexed":50,"exit_code":null,"signal":null,"host":null,"user":null,"uid":null,"pid":null,"cwd":null,"tags":{},"output_bytes":0}'
  run jq -c '[.root, .error_message, .duration_ms]' "$M/m-err.json"
  assert_output '[null,"boom: it broke",1000]'
  run jq -c '[.args, .db_path, .outcome]' "$M/m-part.json"
  assert_output '[["é","😀","a b","q\"uote"],"","partial"]'
  run jq -c '[.outcome, .finished_at, .duration_ms, .files_indexed]' "$M/m-run.json"
  assert_output '["running",null,null,0]'
  run cat "$M/status/m-run" "$M/status/m-err"
  assert_output $'running\nerror'
  # st_size is what cat prints.
  [ "$(stat -c %s "$M/m-part.json")" -eq "$(cat "$M/m-part.json" | wc -c)" ]
}

@test "a running magellan row finishes through the mount, duration_ms from seconds" {
  make_magellan_db
  mount_fs_raw -o "db=$DB"
  echo 'error: stopped' >"$M/status/m-run"
  unmount_fs
  # A row magellan starts after the mount has added its columns.
  magellan start m-run2 0.5.0 '[]' - /db "$(($(date +%s) - 5))"
  mount_fs_raw -o "db=$DB"
  echo '{"outcome":"success","files_indexed":7}' >"$M/status/m-run2"
  local n lo
  for n in m-run m-run2; do
    [ "$n" = m-run ] && lo=9000 || lo=4000
    run jq -r '[.outcome, .duration_ms] | join(" ")' "$M/$n.json"
    [ "${output%% *}" != running ] || fail "$n is still running"
    local d=${output##* }
    [ "$d" -ge "$lo" ] && [ "$d" -le $((lo + 4000)) ] || fail "$n: duration_ms $d is not about $lo"
    run jq '(.finished_at - .started_at) * 1000 - .duration_ms | fabs < 1000' "$M/$n.json"
    assert_output true
  done
  run magellan get m-run
  assert_success
  run jq -c '[.[9], .[10], (.[7] | type), (.[8] | type)]' <<<"$output"
  assert_output '["error","stopped","number","number"]'
  run magellan get m-run2
  run jq -c '[.[9], .[10], .[11], .[12], .[13]]' <<<"$output"
  assert_output '["success",null,7,0,0]'
}

@test "rows written through the mount read right with magellan's SELECT" {
  magellan schema
  mount_fs_raw -o "db=$DB"
  start x '{"tool_version":"1.2","args":["a","b c","é"],"root":"/r","db_path":"/d"}'
  echo '{"outcome":"partial","error_message":"m","files_indexed":3,"symbols_indexed":4,"references_indexed":5}' \
    >"$M/status/x"
  start y
  cp "$M/x.json" "$T/x.json"
  # Read by magellan while mounted, and after.
  local pass
  for pass in mounted unmounted; do
    run magellan get x
    assert_success
    run jq -c '.[3] |= fromjson' <<<"$output"
    assert_output "$(jq -c '[.id, .execution_id, .tool_version, .args, .root, .db_path,
      .started_at, .finished_at, .duration_ms, .outcome, .error_message,
      .files_indexed, .symbols_indexed, .references_indexed]' "$T/x.json")"
    run jq -c '[.[1], .[2], .[3], .[4], .[5], .[9], .[10], .[11], .[12], .[13]]' <<<"$output"
    assert_output '["x","1.2",["a","b c","é"],"/r","/d","partial","m",3,4,5]'
    run magellan get y
    assert_success
    run jq -c '[.[1], .[2], .[3], .[4], .[5], .[7], .[8], .[9], .[10], .[11], .[12], .[13]]' <<<"$output"
    assert_output '["y","","[]",null,"",null,null,"running",null,0,0,0]'
    [ "$pass" = unmounted ] || unmount_fs
  done
  run sqlite3 "$DB" "SELECT typeof(started_at), typeof(finished_at), typeof(duration_ms), typeof(files_indexed) FROM execution_log WHERE execution_id = 'x'"
  assert_output 'integer|integer|integer|integer'
}

@test "mounting a magellan database changes none of its rows" {
  make_magellan_db
  magellan dump >"$T/rows.before"
  sqlite3 "$DB" '.mode quote' 'SELECT id, execution_id, tool_version, args, root, db_path, started_at, finished_at, duration_ms, outcome, error_message, files_indexed, symbols_indexed, references_indexed FROM execution_log ORDER BY id' >"$T/quote.before"
  [ "$(wc -l <"$T/rows.before")" -eq 4 ]
  mount_fs_raw -o "db=$DB"
  ls -lR "$M" >/dev/null
  cat "$M"/*.json "$M"/status/* >/dev/null
  unmount_fs
  mount_fs_raw -o "db=$DB"
  ls "$M" >/dev/null
  unmount_fs
  magellan dump >"$T/rows.after"
  sqlite3 "$DB" '.mode quote' 'SELECT id, execution_id, tool_version, args, root, db_path, started_at, finished_at, duration_ms, outcome, error_message, files_indexed, symbols_indexed, references_indexed FROM execution_log ORDER BY id' >"$T/quote.after"
  diff "$T/rows.before" "$T/rows.after"
  diff "$T/quote.before" "$T/quote.after"
  run sqlite3 "$DB" 'PRAGMA integrity_check'
  assert_output ok
}

@test "a mounted magellan database keeps magellan's columns and indexes; extra columns are nullable" {
  make_magellan_db
  table_info >"$T/cols.before"
  index_list >"$T/idx.before"
  [ "$(wc -l <"$T/cols.before")" -eq 14 ]
  # The three indexes and the one of UNIQUE.
  [ "$(cut -d'|' -f1 "$T/idx.before" | sort -u | tr '\n' ' ')" = \
    "idx_execution_log_execution_id idx_execution_log_outcome idx_execution_log_started_at sqlite_autoindex_execution_log_1 " ]
  grep -qx 'idx_execution_log_started_at|0|started_at|1' "$T/idx.before"
  mount_fs_raw -o "db=$DB"
  start z
  unmount_fs
  table_info >"$T/cols.after"
  index_list >"$T/idx.after"
  # Magellan's 14 columns exactly as they were, first and in order.
  diff "$T/cols.before" <(head -14 "$T/cols.after")
  # Anything added is nullable, without a default that would differ, and no key.
  local cid name type notnull dflt pk
  while IFS='|' read -r cid name type notnull dflt pk; do
    [ "$notnull" = 0 ] && [ "$pk" = 0 ] || fail "added column $name is NOT NULL or a key"
  done < <(tail -n +15 "$T/cols.after")
  # Every index magellan made is still there, unchanged.
  diff "$T/idx.before" <(grep -Fx -f "$T/idx.before" "$T/idx.after")
  run sqlite3 "$DB" '.schema execution_log'
  local def
  for def in 'id INTEGER PRIMARY KEY AUTOINCREMENT' 'execution_id TEXT NOT NULL UNIQUE' \
      'tool_version TEXT NOT NULL' 'args TEXT NOT NULL' 'root TEXT' 'db_path TEXT NOT NULL' \
      'started_at INTEGER NOT NULL' 'finished_at INTEGER' 'duration_ms INTEGER' \
      'outcome TEXT NOT NULL' 'error_message TEXT' 'files_indexed INTEGER DEFAULT 0' \
      'symbols_indexed INTEGER DEFAULT 0' 'references_indexed INTEGER DEFAULT 0' \
      'idx_execution_log_started_at' 'ON execution_log(started_at DESC)' \
      'idx_execution_log_execution_id' 'idx_execution_log_outcome'; do
    assert_output --partial "$def"
  done
  # A store execlogfs creates has magellan's table too.
  mv "$DB" "$T/magellan.db"
  mount_fs_raw -o "db=$DB"
  unmount_fs
  diff "$T/cols.before" <(table_info | head -14)
  diff "$T/idx.before" <(index_list | grep -Fx -f "$T/idx.before")
}

@test "a row started through the mount and finished by magellan reads right" {
  magellan schema
  mount_fs_raw -o "db=$DB"
  start f1 '{"tool_version":"9","args":["go"]}'
  local started
  started=$(jq .started_at "$M/f1.json")
  unmount_fs
  magellan finish f1 success - 1 2 3 "$((started + 7))"
  mount_fs_raw -o "db=$DB"
  run jq -c '[.outcome, .finished_at - .started_at, .duration_ms, .error_message, .files_indexed, .symbols_indexed, .references_indexed]' "$M/f1.json"
  assert_output '["success",7,7000,null,1,2,3]'
  run cat "$M/status/f1"
  assert_output success
  run fsop write "$M/status/f1" error
  assert_output EPERM
}

@test "-o ro on a magellan database adds no column, reads it, and refuses changes" {
  make_magellan_db
  table_info >"$T/cols.before"
  magellan dump >"$T/rows.before"
  mount_fs_raw -o "db=$DB,ro"
  run jq -c . "$M/m-ok.json"
  assert_output "$(record_of_row m-ok)"
  run cat "$M/status/m-run"
  assert_output running
  run fsop open "$M/new/x" w,c
  assert_output EROFS
  run fsop write "$M/status/m-run" success
  assert_output EROFS
  unmount_fs
  diff "$T/cols.before" <(table_info)
  diff "$T/rows.before" <(magellan dump)
}

@test "a magellan database with -o store=\$STORE: mounts as sqlite, refused untouched as lmdb" {
  make_magellan_db
  local before
  before=$(store_sum)
  if [ "$STORE" = sqlite ]; then
    mount_fs
    run jq -c . "$M/m-err.json"
    assert_output "$(record_of_row m-err)"
  else
    run --separate-stderr timeout 20 "$EXECLOGFS" -f -o "store=lmdb,db=$DB" "$M"
    [ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "exited $status"
    [ "${#stderr_lines[@]}" -eq 1 ] || fail "stderr: $stderr"
    [[ "$stderr" == *"$DB"* ]]
    [ "$(store_sum)" = "$before" ]
    run mountpoint -q "$M"
    assert_failure
  fi
}
