#!/usr/bin/env bats
# The counts, on every backend (issue 21): metrics.prom's execlog_executions,
# the listings of by-outcome/ and by-day/ and the store's own rows agree
# after starts, finishes and deletes through the mount; after changes that
# another program made (the sqlite3 shell on SQLite, psql on PostgreSQL, a
# second mount of the same store on LMDB); after a kill -9 of the daemon
# during a first mount's one-time work, once a new mount has finished it;
# and under -o ro, which answers with the same counts and writes nothing.
# Every figure is compared with the rows, never with a fixed number, so the
# tests keep their meaning whatever a backend keeps to count them.
load helper
bats_require_minimum_version 1.5.0

OUTCOMES="running success error partial"

# prom OUTCOME: execlog_executions{outcome=OUTCOME} of metrics.prom.
prom() {
  awk -v n="execlog_executions{outcome=\"$1\"}" '$1 == n { print $2 }' "$M/metrics.prom"
}

# rows [OUTCOME]: the rows of the store (of OUTCOME), asked of the store
# itself where another program can (SQLite, PostgreSQL); on LMDB, the
# records the root lists.
rows() {
  local where=
  [ $# -eq 0 ] || where=" WHERE outcome = '$1'"
  case $STORE in
  sqlite) sqlite3 -cmd '.timeout 5000' "$DB" "SELECT count(*) FROM execution_log$where" ;;
  postgres) pg_sql -c "SELECT count(*) FROM execution_log$where" ;;
  lmdb)
    if [ $# -eq 0 ]; then
      find "$M" -maxdepth 1 -name '*.json' | wc -l
    else
      grep -l "^$1\$" "$M"/status/* 2>/dev/null | wc -l
    fi ;;
  esac
}

# counts_agree: for each outcome, metrics.prom, `ls by-outcome/X` and the
# rows say the same; so do the days of by-day/ and the whole log. Prints
# what differs.
counts_agree() {
  local o p l r total=0 days=0 d
  for o in $OUTCOMES; do
    p=$(prom "$o")
    l=$(ls "$M/by-outcome/$o" | wc -l)
    r=$(rows "$o")
    [ "$p" = "$l" ] && [ "$l" = "$r" ] || { echo "$o: metrics $p, by-outcome $l, rows $r"; return 1; }
    total=$((total + p))
  done
  for d in $(ls "$M/by-day"); do
    days=$((days + $(ls "$M/by-day/$d" | wc -l)))
  done
  r=$(rows)
  [ "$total" = "$r" ] && [ "$days" = "$r" ] && [ "$(ls "$M/status" | wc -l)" = "$r" ] ||
    { echo "all: metrics $total, by-day $days, status $(ls "$M/status" | wc -l), rows $r"; return 1; }
}

# some_runs PREFIX N: N runs through $M, a quarter left running, the others
# finished with each outcome, every fifth finished one deleted again.
some_runs() {
  local i
  for i in $(seq "$2"); do
    touch "$M/new/$1$i"
    case $((i % 4)) in
    1) echo success >"$M/status/$1$i" ;;
    2) echo 'error: failed' >"$M/status/$1$i" ;;
    3) echo partial >"$M/status/$1$i" ;;
    esac
    if [ $((i % 4)) -ne 0 ] && [ $((i % 5)) -eq 0 ]; then
      rm "$M/$1$i.json"
    fi
  done
}

# foreign_sql SQL: SQL on the store as another program (SQLite, PostgreSQL).
foreign_sql() {
  case $STORE in
  sqlite) sqlite3 -cmd '.timeout 5000' "$DB" "$1" ;;
  postgres) pg_sql -c "$1" ;;
  esac
}

# foreign_rows FROM TO: rows f<FROM>..f<TO> as another program inserts them,
# over three days, one in ten an error, every 13th running.
foreign_rows() {
  local gen
  case $STORE in
  sqlite) gen="WITH RECURSIVE r(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM r WHERE i < $2) SELECT" ;;
  postgres) gen="SELECT" ;;
  esac
  local cols="'f' || i, '1', '[\"/bin/make\"]', '/db', 1700000000 + (i % 3) * 86400,
      CASE WHEN i % 13 = 0 THEN NULL ELSE 1700000001 + (i % 3) * 86400 END,
      CASE WHEN i % 13 = 0 THEN NULL ELSE 1000 + i END,
      CASE WHEN i % 13 = 0 THEN 'running' WHEN i % 10 = 0 THEN 'error' ELSE 'success' END"
  local from=
  [ "$STORE" != postgres ] || from=" FROM generate_series($1, $2) AS g(i)"
  [ "$STORE" != sqlite ] || from=" FROM r"
  foreign_sql "INSERT INTO execution_log (execution_id, tool_version, args, db_path, started_at,
      finished_at, duration_ms, outcome) $gen $cols$from"
}

# The same store as another program left it before any mount: magellan's
# table (SQLite), the table in PostgreSQL's types (as 20-postgres), with
# rows f1..f$1.
foreign_store() {
  case $STORE in
  sqlite) foreign_sql "$MAGELLAN_DDL" ;;
  postgres) pg_sql -c "CREATE TABLE execution_log (
      id BIGSERIAL PRIMARY KEY, execution_id TEXT NOT NULL UNIQUE, tool_version TEXT NOT NULL,
      args TEXT NOT NULL, root TEXT, db_path TEXT NOT NULL, started_at BIGINT NOT NULL,
      finished_at BIGINT, duration_ms BIGINT, outcome TEXT NOT NULL, error_message TEXT,
      files_indexed BIGINT DEFAULT 0, symbols_indexed BIGINT DEFAULT 0,
      references_indexed BIGINT DEFAULT 0)" ;;
  esac
  foreign_rows 1 "$1"
}

# everything_sum: the store's bytes (SQLite: the file and its -wal, -shm;
# LMDB: data.mdb, as lock.mdb is the table of readers any open writes) or
# every row of every table of the database (PostgreSQL, where aggregates
# have tables of their own).
everything_sum() {
  local t
  case $STORE in
  sqlite) store_sum; return 0 ;;
  lmdb) sha256sum "$DB/data.mdb"; return 0 ;;
  esac
  for t in $(pg_sql -c "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"); do
    echo "$t $(pg_sql -c "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), 'empty') FROM \"$t\" t")"
  done
}

@test "metrics.prom, by-outcome/, by-day/ and the rows agree after starts, finishes and deletes" {
  mount_fs
  counts_agree
  some_runs a 24
  counts_agree
  [ "$(prom running)" -gt 0 ] && [ "$(prom error)" -gt 0 ] && [ "$(prom partial)" -gt 0 ]
  # A finish moves a run between outcomes, a delete takes it out.
  echo error >"$M/status/a4"
  rm "$M/a1.json"
  counts_agree
  unmount_fs
  mount_fs
  counts_agree
}

@test "the counts follow changes another program makes to the store" {
  mount_fs
  some_runs a 12
  case $STORE in
  sqlite | postgres)
    foreign_rows 1 40
    poll 5 counts_agree
    foreign_sql "UPDATE execution_log SET outcome = 'partial' WHERE execution_id IN ('f1', 'a1')"
    foreign_sql "UPDATE execution_log SET started_at = started_at + 86400 WHERE execution_id IN ('f2', 'a2')"
    poll 5 counts_agree
    foreign_sql "DELETE FROM execution_log WHERE execution_id IN ('f3', 'f10', 'a3')"
    poll 5 counts_agree
    ;;
  lmdb)
    # Another process writing the store: a second mount of it.
    mount_second
    local i
    for i in $(seq 20); do
      touch "$M2/new/b$i"
      [ $((i % 3)) -eq 0 ] || echo success >"$M2/status/b$i"
    done
    echo error >"$M2/status/b3"
    rm "$M2/b1.json" "$M2/a1.json"
    poll 5 counts_agree
    ;;
  esac
  [ "$(rows)" -gt 12 ]
  assert_alive
}

# pending: the one-time count of a SQLite store's rows is under way.
pending() {
  [ "$(foreign_sql 'SELECT next_id IS NOT NULL FROM execlogfs_counts_state')" = 1 ]
}

# counted_from N: it has counted N rows or more, and is not done.
counted_from() {
  [ "$(foreign_sql "SELECT COALESCE(next_id, 0) > $1 FROM execlogfs_counts_state")" = 1 ]
}

@test "a kill -9 during a first mount's one-time work, then a new mount: the counts right once it ends" {
  case $STORE in
  sqlite | postgres)
    foreign_store 20000
    # SQLite counts a store's rows in the background: one row a batch here
    # (for tests only), so that the kill comes in the middle of it.
    FS_WRAP="env EXECLOGFS_TEST_BACKFILL_BATCH=1" mount_fs
    if [ "$STORE" = sqlite ]; then
      poll 60 counted_from 50
    fi
    kill9_fs
    if [ "$STORE" = sqlite ]; then
      pending
    fi
    # Rows changed by another program while no one counts, on both sides of
    # where the count stopped.
    foreign_sql "DELETE FROM execution_log WHERE execution_id IN ('f2', 'f19990')"
    foreign_sql "UPDATE execution_log SET outcome = 'error' WHERE execution_id IN ('f4', 'f19994')"
    foreign_rows 20001 20010
    ;;
  lmdb)
    mount_fs
    some_runs a 20
    kill9_fs
    ;;
  esac
  mount_fs
  if [ "$STORE" = sqlite ]; then
    poll 120 bash -c "[ \"\$(sqlite3 -cmd '.timeout 5000' '$DB' 'SELECT next_id IS NULL FROM execlogfs_counts_state')\" = 1 ]"
  fi
  poll 5 counts_agree
  [ "$(rows)" -gt 0 ]
  assert_alive
}

@test "-o ro: metrics.prom answers with the counts of the rows and nothing is written" {
  case $STORE in
  sqlite)
    # A store never mounted: its rows are counted from themselves.
    foreign_store 500 ;;
  postgres)
    # PostgreSQL refuses -o ro on a table it has not made current: mounted once.
    foreign_store 500
    mount_fs
    unmount_fs ;;
  lmdb)
    mount_fs
    some_runs a 20
    unmount_fs ;;
  esac
  local before
  before=$(everything_sum)
  mount_fs ro
  counts_agree
  run cat "$M/index.html"
  assert_success
  run fsop open "$M/new/x" w,c
  assert_output EROFS
  unmount_fs
  [ "$(everything_sum)" = "$before" ]
}
