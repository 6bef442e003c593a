#!/usr/bin/env bats
# magellan's table stays magellan's (SQLite only): a store made by the
# sqlite3 shell with magellan's DDL keeps exactly its 14 columns and three
# indexes after a mount, so magellan's migrate-backend copy still works;
# what execlogfs keeps beyond them is in execlogfs_runs (and its tags and
# output in tables of their own), kept right by triggers when another
# program writes the table, and so are its counts (execlogfs_counts), a
# store's rows counted once in the background; a store that execlogfs
# 0.1.0 gave two columns is brought back at its first writable mount (and
# left untouched under -o ro); and -o ro serves a store on read-only media.
load helper
bats_require_minimum_version 1.5.0

teardown() {
  unmount_all
  if mountpoint -q "$T/media" 2>/dev/null; then
    umount "$T/media" || umount -l "$T/media"
  fi
  teardown_mount
}

# make_magellan_store [PATH]: magellan's table with a finished and a running row.
make_magellan_store() {
  sqlite3 "${1:-$DB}" "$MAGELLAN_DDL" \
    "INSERT INTO execution_log (execution_id, tool_version, args, root, db_path, started_at, outcome)
       VALUES ('m-ok', '0.5.0', '[\"index\"]', '/p', '/p/db', 1700000000, 'running'),
              ('m-run', '0.5.0', '[]', NULL, '/db', $(($(date +%s) - 10)), 'running');
     UPDATE execution_log SET finished_at = 1700000012, outcome = 'success', error_message = NULL,
       duration_ms = 12000, files_indexed = 4, symbols_indexed = 5, references_indexed = 6
       WHERE execution_id = 'm-ok';"
}

# magellan_sql SQL...: runs SQL on $DB as another program would, waiting for the lock.
magellan_sql() {
  sqlite3 -cmd '.timeout 5000' "$DB" "$@"
}

# The columns of execution_log (cid|name|type|notnull|dflt_value|pk) of the store at $1.
table_info() {
  sqlite3 "${1:-$DB}" 'PRAGMA table_info(execution_log)'
}

# The indexes on execution_log: name|unique|origin|partial, one a line.
index_list() {
  sqlite3 "${1:-$DB}" 'SELECT name, "unique", origin, partial FROM pragma_index_list('"'execution_log'"') ORDER BY name'
}

# What magellan's own DDL makes, for comparing.
magellan_reference() {
  sqlite3 "$T/reference.db" "$MAGELLAN_DDL"
  table_info "$T/reference.db" >"$T/cols.magellan"
  index_list "$T/reference.db" >"$T/idx.magellan"
  [ "$(wc -l <"$T/cols.magellan")" -eq 14 ]
  [ "$(wc -l <"$T/idx.magellan")" -eq 4 ] # the three and UNIQUE's
}

# assert_magellan_table: execution_log of $DB is exactly what magellan's DDL makes.
assert_magellan_table() {
  diff "$T/cols.magellan" <(table_info)
  diff "$T/idx.magellan" <(index_list)
  # Nothing of ours hangs on magellan's columns either: our triggers only.
  run sqlite3 "$DB" "SELECT name FROM sqlite_master WHERE tbl_name = 'execution_log'
    AND type NOT IN ('table', 'index') AND name NOT LIKE 'execlogfs\\_%' ESCAPE '\\'"
  assert_output ''
}

# migrate_backend_copy: what `magellan migrate-backend` does with execution_log:
# a table made from magellan's DDL in a new database, filled by the column
# list of the source. Prints the number of rows copied.
migrate_backend_copy() {
  local cols
  cols=$(sqlite3 "$DB" "SELECT group_concat(name, ', ') FROM pragma_table_info('execution_log')")
  rm -f "$T/copy.db"
  sqlite3 "$T/copy.db" "$MAGELLAN_DDL"
  sqlite3 "$DB" "ATTACH '$T/copy.db' AS new;
    INSERT INTO new.execution_log ($cols) SELECT $cols FROM main.execution_log;
    SELECT count(*) FROM new.execution_log;"
}

# The millisecond times execlogfs_runs holds for execution $1: started|heartbeat.
run_ms() {
  sqlite3 "$DB" "SELECT r.started_at_ms, r.heartbeat_at_ms FROM execution_log AS e
    JOIN execlogfs_runs AS r USING (id) WHERE e.execution_id = '$1'"
}

# st_mtime of $1 in ms.
mtime_ms() {
  local t
  t=$(stat -c %.3Y "$1")
  echo "${t/./}"
}

@test "a magellan store keeps exactly magellan's table after a mount; migrate-backend's copy works" {
  magellan_reference
  make_magellan_store
  mount_fs_raw -o "db=$DB"
  start x '{"tool_version":"1.0","args":["a"]}'
  start y
  echo '{"outcome":"partial","files_indexed":3}' >"$M/status/x"
  echo 'error: no' >"$M/status/m-run"
  cat "$M/x.json" "$M/y.json" "$M/m-ok.json" "$M/m-run.json" >"$T/before.json"
  unmount_fs
  assert_magellan_table
  run migrate_backend_copy
  assert_success
  assert_output 4
  # What execlogfs keeps is in its own table: duration_ms is exactly the
  # finish's heartbeat less the start, to the millisecond.
  run sqlite3 "$DB" "SELECT e.execution_id, e.duration_ms = r.heartbeat_at_ms - r.started_at_ms,
    r.started_at_ms / 1000 = e.started_at FROM execution_log AS e JOIN execlogfs_runs AS r USING (id)
    WHERE e.execution_id IN ('x', 'y') ORDER BY e.id"
  assert_output $'x|1|1\ny||1'
  # And a remount reads every record as it was.
  mount_fs_raw -o "db=$DB"
  diff "$T/before.json" <(cat "$M/x.json" "$M/y.json" "$M/m-ok.json" "$M/m-run.json")
  run jq -c '[.outcome, .duration_ms == ((.finished_at - .started_at) * 1000)]' "$M/m-ok.json"
  assert_output '["success",true]'
  # A second writable mount changes nothing more.
  unmount_fs
  assert_magellan_table
  run sqlite3 "$DB" 'PRAGMA integrity_check'
  assert_output ok
}

@test "execlogfs's tables for provenance, tags and output leave magellan's table and copy alone" {
  magellan_reference
  make_magellan_store
  mount_fs_raw -o "db=$DB"
  start x '{"args":["/usr/bin/make","-j"]}'
  local x_id
  x_id=$(jq .id "$M/x.json")
  # What a run with tags and output keeps, beside magellan's table.
  # (x's tags are put in execlogfs_tag_index at once: the index covers ids up to its mark.)
  magellan_sql "UPDATE execlogfs_tags_indexed SET upto = MAX(upto, $x_id);
    UPDATE execlogfs_runs SET tags = '{\"team\":\"web\"}' WHERE id = $x_id;
    INSERT INTO execlogfs_output (id, \"offset\", data) VALUES ($x_id, 0, x'6869')"
  run sqlite3 "$DB" "SELECT count(*) FROM execlogfs_tag_index WHERE id = $x_id"
  assert_output 1
  # Rows magellan inserted before the mount, or inserts now, get their tool; a bad args
  # text fails no insert.
  magellan_sql "INSERT INTO execution_log (execution_id, tool_version, args, root, db_path, started_at, outcome)
    VALUES ('m-tool', '0.5.0', '[\"/opt/bin/magellan\",\"index\"]', NULL, '/db', 1700000300, 'running'),
           ('m-bad', '0.5.0', '[\"unterminated', NULL, '/db', 1700000301, 'running')"
  run sqlite3 "$DB" "SELECT e.execution_id, r.tool FROM execution_log AS e JOIN execlogfs_runs AS r
    USING (id) WHERE r.tool IS NOT NULL ORDER BY e.id"
  assert_output $'m-ok|index\nx|make\nm-tool|magellan'
  echo success >"$M/status/x"
  unmount_fs
  assert_magellan_table
  run migrate_backend_copy
  assert_success
  assert_output 5
  # magellan deletes x: its tags and output go with it.
  magellan_sql "DELETE FROM execution_log WHERE execution_id = 'x'"
  run sqlite3 "$DB" "SELECT (SELECT count(*) FROM execlogfs_tag_index WHERE id = $x_id),
    (SELECT count(*) FROM execlogfs_output WHERE id = $x_id),
    (SELECT count(*) FROM execlogfs_runs WHERE id = $x_id)"
  assert_output '0|0|0'
  run sqlite3 "$DB" 'PRAGMA integrity_check'
  assert_output ok
}

@test "execlogfs_runs follows what another program inserts, updates and deletes" {
  make_magellan_store
  mount_fs_raw -o "db=$DB"
  start a
  echo success >"$M/status/a"
  start b
  local a_id b_id
  a_id=$(jq .id "$M/a.json")
  b_id=$(jq .id "$M/b.json")
  [ -n "$(run_ms a)" ] && [ -n "$(run_ms b)" ]
  # magellan deletes a: its row of execlogfs_runs goes too.
  magellan_sql "DELETE FROM execution_log WHERE execution_id = 'a'"
  run sqlite3 "$DB" "SELECT count(*) FROM execlogfs_runs WHERE id = $a_id"
  assert_output 0
  # A row inserted again with a's id inherits nothing of a: its duration
  # comes from seconds, and its record reads with magellan's defaults.
  magellan_sql "INSERT INTO execution_log (id, execution_id, tool_version, args, root, db_path, started_at, outcome)
    VALUES ($a_id, 'again', 'm', '[]', NULL, '/db', $(($(date +%s) - 30)), 'running')"
  poll 5 test -e "$M/again.json"
  run jq -c '[.id, .outcome, .finished_at, .duration_ms, .files_indexed]' "$M/again.json"
  assert_output "[$a_id,\"running\",null,null,0]"
  echo success >"$M/status/again"
  run jq '.duration_ms >= 30000' "$M/again.json"
  assert_output true
  # magellan moves b's start: the millisecond start no longer applies.
  magellan_sql "UPDATE execution_log SET started_at = started_at - 100 WHERE execution_id = 'b'"
  run run_ms b
  [[ "$output" == \|* ]] || fail "b kept its started_at_ms: $output"
  poll 5 bash -c "[ \"\$(jq .started_at '$M/b.json')\" = \"\$(sqlite3 '$DB' \"SELECT started_at FROM execution_log WHERE id = $b_id\")\" ]"
  echo success >"$M/status/b"
  run jq '.duration_ms >= 100000' "$M/b.json"
  assert_output true
  unmount_fs
  run sqlite3 "$DB" 'PRAGMA integrity_check'
  assert_output ok
}

# make_010_store: magellan's table as execlogfs 0.1.0 left it, with its two
# columns: a row it finished (ms times), one it left running, and one of magellan's.
make_010_store() {
  sqlite3 "$DB" "$MAGELLAN_DDL"
  sqlite3 "$DB" <<'SQL'
ALTER TABLE execution_log ADD COLUMN started_at_ms INTEGER;
ALTER TABLE execution_log ADD COLUMN heartbeat_at_ms INTEGER;
INSERT INTO execution_log (execution_id, tool_version, args, root, db_path, started_at,
  finished_at, duration_ms, outcome, error_message, files_indexed, symbols_indexed,
  references_indexed, started_at_ms, heartbeat_at_ms) VALUES
  ('old-done', '', '[]', NULL, '', 1700000000, 1700000001, 1500, 'success', NULL, 1, 2, 3,
   1700000000123, 1700000001623),
  ('old-run', '', '[]', NULL, '', 1700000100, NULL, NULL, 'running', NULL, 0, 0, 0,
   1700000100250, 1700000100900),
  ('magellan', '0.5.0', '[]', NULL, '/db', 1700000200, 1700000203, 3000, 'success', NULL,
   0, 0, 0, NULL, NULL);
SQL
}

@test "a store execlogfs 0.1.0 mounted: read as it is under -o ro, brought back at the first writable mount" {
  magellan_reference
  make_010_store
  local sum
  sum=$(store_sum)
  # -o ro reads the old columns and changes nothing.
  mount_fs_raw -o "db=$DB,ro"
  run jq -c '[.duration_ms, .finished_at]' "$M/old-done.json"
  assert_output '[1500,1700000001]'
  [ "$(mtime_ms "$M/old-done.json")" = 1700000001623 ]
  [ "$(mtime_ms "$M/old-run.json")" = 1700000100250 ]
  [ "$(mtime_ms "$M/status/old-run")" = 1700000100900 ]
  unmount_fs
  [ "$(store_sum)" = "$sum" ]
  [ "$(table_info | wc -l)" -eq 16 ]
  # A writable mount brings it back to magellan's table, with nothing lost.
  mount_fs_raw -o "db=$DB"
  run jq -c '[.duration_ms, .finished_at, .files_indexed]' "$M/old-done.json"
  assert_output '[1500,1700000001,1]'
  [ "$(mtime_ms "$M/old-done.json")" = 1700000001623 ]
  [ "$(mtime_ms "$M/old-run.json")" = 1700000100250 ]
  [ "$(mtime_ms "$M/status/old-run")" = 1700000100900 ]
  run jq -c '[.duration_ms, .outcome]' "$M/magellan.json"
  assert_output '[3000,"success"]'
  # The old run finishes from its millisecond start.
  echo success >"$M/status/old-run"
  unmount_fs
  assert_magellan_table
  run run_ms old-done
  assert_output '1700000000123|1700000001623'
  run sqlite3 "$DB" "SELECT e.duration_ms = r.heartbeat_at_ms - 1700000100250, r.started_at_ms
    FROM execution_log AS e JOIN execlogfs_runs AS r USING (id) WHERE e.execution_id = 'old-run'"
  assert_output '1|1700000100250'
  run sqlite3 "$DB" "SELECT count(*) FROM execlogfs_runs WHERE id = (SELECT id FROM execution_log WHERE execution_id = 'magellan')"
  assert_output 0
  run sqlite3 "$DB" 'PRAGMA integrity_check'
  assert_output ok
  run migrate_backend_copy
  assert_success
  assert_output 3
}

@test "a 0.1.0 store whose columns cannot be dropped is refused, unchanged, and brought back once they can" {
  make_010_store
  # A view of someone's that reads one of the old columns blocks DROP COLUMN.
  sqlite3 "$DB" 'CREATE VIEW someones AS SELECT execution_id, started_at_ms FROM execution_log'
  local sum
  sum=$(sqlite3 "$DB" '.dump' | sha256sum)
  run --separate-stderr timeout 20 "$EXECLOGFS" -f -o "db=$DB" "$M"
  [ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "exited $status"
  [[ "$stderr" == *started_at_ms* ]] || fail "stderr: $stderr"
  # The transaction was rolled back whole: no execlogfs_runs, both columns there.
  [ "$(sqlite3 "$DB" '.dump' | sha256sum)" = "$sum" ]
  sqlite3 "$DB" 'DROP VIEW someones'
  mount_fs_raw -o "db=$DB"
  [ "$(mtime_ms "$M/old-done.json")" = 1700000001623 ]
  unmount_fs
  [ "$(table_info | wc -l)" -eq 14 ]
}

# media_store: a tmpfs at $T/media holding $DB, with records written through
# a mount (a WAL database) and a store made by the sqlite3 shell; then
# remounted read-only.
media_store() {
  mkdir -p "$T/media"
  mount -t tmpfs -o size=16m execlogfs-test "$T/media"
  # A name that a URI must escape.
  DB="$T/media/store #1 100%.sqlite"
  mount_fs_raw -o "db=$DB"
  start w1 '{"tool_version":"1.0"}'
  echo success >"$M/status/w1"
  start w2
  cat "$M/w1.json" "$M/w2.json" >"$T/before.json"
  unmount_fs
  make_magellan_store "$T/media/magellan.sqlite"
  mount -o remount,ro "$T/media"
  [ ! -e "$DB-wal" ] && [ ! -e "$DB-shm" ]
}

@test "-o ro serves a store on a read-only filesystem" {
  media_store
  local sum
  sum=$(ls -l "$T/media"; sha256sum "$DB")
  mount_fs_raw -o "db=$DB,ro"
  diff "$T/before.json" <(cat "$M/w1.json" "$M/w2.json")
  run ls "$M"
  assert_output --partial w1.json
  run cat "$M/status/w1" "$M/status/w2"
  assert_output $'success\nrunning'
  run fsop open "$M/new/x" w,c
  assert_output EROFS
  unmount_fs
  [ "$(ls -l "$T/media"; sha256sum "$DB")" = "$sum" ]
  # A store magellan made (not in WAL mode) mounts there too.
  DB=$T/media/magellan.sqlite
  mount_fs_raw -o "db=$DB,ro"
  run jq -c '[.outcome, .duration_ms, .files_indexed]' "$M/m-ok.json"
  assert_output '["success",12000,4]'
  unmount_fs
  # Without -o ro it is refused, with the reason.
  run --separate-stderr timeout 20 "$EXECLOGFS" -f -o "db=$DB" "$M"
  [ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "exited $status"
}

# magellan_count OUTCOME: execlog_executions{outcome=OUTCOME} of metrics.prom.
magellan_count() {
  awk -v n="execlog_executions{outcome=\"$1\"}" '$1 == n { print $2 }' "$M/metrics.prom"
}

# counted_all: the one-time count of the rows is done (its watermark is null).
counted_all() {
  [ "$(magellan_sql 'SELECT next_id IS NULL FROM execlogfs_counts_state')" = 1 ]
}

@test "a magellan store's rows are counted in the background: counts right at once, a kill -9 mid-way resumes" {
  magellan_sql "$MAGELLAN_DDL" "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 20000)
    INSERT INTO execution_log (execution_id, tool_version, args, db_path, started_at, finished_at,
      duration_ms, outcome)
    SELECT 'r' || i, '1', '[\"/bin/make\"]', '/db', 1700000000 + i, 1700000001 + i, 1000,
      CASE WHEN i % 10 = 0 THEN 'error' ELSE 'success' END FROM r"
  # One row a batch (for tests only): the count is still under way when we look.
  FS_WRAP="env EXECLOGFS_TEST_BACKFILL_BATCH=1" mount_fs
  [ "$(magellan_count error)" = 2000 ]
  [ "$(magellan_count success)" = 18000 ]
  run ! counted_all
  kill -9 "$PID"
  wait "$PID" || true
  fusermount3 -u "$M"
  run ! counted_all
  [ "$(magellan_sql 'SELECT next_id FROM execlogfs_counts_state')" -gt 1 ]
  # Rows deleted on both sides of the watermark while no one counts.
  magellan_sql "DELETE FROM execution_log WHERE id IN (10, 19990)"
  mount_fs
  poll 120 counted_all
  [ "$(magellan_count error)" = 1998 ]
  [ "$(magellan_count success)" = 18000 ]
  [ "$(magellan_sql "SELECT n FROM execlogfs_counts WHERE day = -1 AND outcome = 'error'")" = 1998 ]
  [ "$(magellan_sql "SELECT count(*) FROM execlogfs_runs WHERE tool = 'make'")" = 19998 ]
  assert_alive
}
