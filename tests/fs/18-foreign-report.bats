#!/usr/bin/env bats
# index.html and metrics.prom over rows another program wrote into the
# SQLite store (the sqlite3 shell here, magellan in life): outcomes outside
# the four, and times and durations at the ends of the int64 range. SQLite
# only: it is the store other programs write to (LMDB's only writer is
# execlogfs, and PostgreSQL's rows come through the same code as SQLite's).
# Run under -Db_sanitize=address,undefined, the daemon must not overflow.

load helper

# metric NAME: the value of the sample NAME (with its labels, as written).
metric() {
  awk -v n="$1" '$1 == n { print $2 }' "$T/metrics.prom"
}

# row ID: the <tr> of ID (a name that needs no URL encoding) in index.html.
row() {
  grep -F "<td class=\"id\"><a href=\"output/$1\">$1</a></td>" "$T/index.html"
}

# Rows as magellan or the sqlite3 shell would write them, after a run of our own.
insert_foreign_rows() {
  mount_fs
  start native-1
  echo success >"$M/status/native-1"
  unmount_fs
  sqlite3 "$DB" <<'SQL'
INSERT INTO execution_log (execution_id, tool_version, args, root, db_path, started_at,
  finished_at, duration_ms, outcome, error_message) VALUES
 ('killed-1', '1', '["kill","-9"]', NULL, '', 1700000000, 1700000005, 5000, 'killed', 'by the OOM killer'),
 ('markup-1', '1', '[]', NULL, '', 1700000001, NULL, NULL, '<b>odd</b>&', NULL),
 ('min-1', '1', '[]', NULL, '', -9223372036854775808, -9223372036854775807, -9223372036854775808, 'error', NULL),
 ('neg-1', '1', '[]', NULL, '', -1, -1, -5, 'partial', NULL),
 ('huge-dur-1', '1', '[]', NULL, '', 1700000002, 1700000003, 9223372036854775807, 'success', NULL),
 ('huge-dur-2', '1', '[]', NULL, '', 1700000004, 1700000005, 9223372036854775000, 'success', NULL),
 ('max-1', '1', '[]', NULL, '', 9223372036854775807, NULL, NULL, 'running', NULL),
 ('max-2', '1', '[]', NULL, '', 9223372036854775807, 9223372036854775807, -9223372036854775807, 'success', NULL);
SQL
  mount_fs
}

@test "index.html shows a foreign outcome as written, escaped, and survives extreme times" {
  insert_foreign_rows
  cp "$M/index.html" "$T/index.html"
  assert_alive
  row killed-1 | grep -qF '<span class="badge">killed</span>' || fail "killed-1: $(row killed-1)"
  row killed-1 | grep -qF '>running<' && fail "killed-1 shown as running: $(row killed-1)"
  row markup-1 | grep -qF '<span class="badge">&lt;b&gt;odd&lt;/b&gt;&amp;</span>' || fail "markup-1: $(row markup-1)"
  grep -qF '<b>odd' "$T/index.html" && fail "a foreign outcome was not escaped"
  for id in native-1 min-1 neg-1 huge-dur-1 huge-dur-2 max-1 max-2; do
    [ "$(row "$id" | wc -l)" -eq 1 ] || fail "no row for $id"
  done
  # The four outcomes' cards count no foreign row.
  grep -qF '<div class="card success"><b>4</b>' "$T/index.html" || fail "success card"
  grep -qF '<div class="card running"><b>1</b>' "$T/index.html" || fail "running card"
  run grep -c 'runtime error' "$LOG"
  assert_output 0
}

@test "metrics.prom over foreign rows: valid, the four outcomes only, no overflowed values" {
  insert_foreign_rows
  cp "$M/metrics.prom" "$T/metrics.prom"
  assert_alive
  run promtool check metrics <"$T/metrics.prom"
  assert_success
  run grep -c '^execlog_executions{' "$T/metrics.prom"
  assert_output 4
  grep -q killed "$T/metrics.prom" && fail "a foreign outcome is in metrics.prom"
  [ "$(metric 'execlog_executions{outcome="running"}')" = 1 ]
  [ "$(metric 'execlog_executions{outcome="success"}')" = 4 ]
  [ "$(metric 'execlog_executions{outcome="error"}')" = 1 ]
  [ "$(metric 'execlog_executions{outcome="partial"}')" = 1 ]
  [ "$(metric execlog_running)" = 1 ]
  # The latest start and finish as stored, not wrapped by a * 1000.
  case "$(metric execlog_last_start_timestamp_seconds)" in
  9223372036854775807 | 9223372036854775807.*) ;;
  *) fail "last start: $(metric execlog_last_start_timestamp_seconds)" ;;
  esac
  [ "$(metric execlog_last_finish_timestamp_seconds)" = 9223372036854775807 ]
  # Nothing negative: durations below zero count as zero, sums saturate.
  run awk '!/^#/ && $2 ~ /^-/' "$T/metrics.prom"
  assert_output ''
  awk -v s="$(metric execlog_duration_seconds_sum)" 'BEGIN { exit !(s >= 9.2e15) }' ||
    fail "sum $(metric execlog_duration_seconds_sum): two durations near INT64_MAX ms wrapped"
  run grep -c 'runtime error' "$LOG"
  assert_output 0
}

@test "Chromium runs the page's script to the end over foreign rows" {
  insert_foreign_rows
  timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$T/chromium" --dump-dom "file://$M/index.html" >"$T/dom.html" 2>>"$T/chromium.log"
  # The script sorts, filters and shows local times; a time no Date holds stays UTC text.
  grep -qF 'class="sortable"' "$T/dom.html" || fail "the script stopped before the table"
  grep -qF '9 of 9 shown' "$T/dom.html" || fail "the filter did not run"
  grep -qF '<span class="badge">killed</span>' "$T/dom.html" || fail "no killed badge"
  grep -q 'NaN[-:]' "$T/dom.html" && fail "a time shown as NaN: $(grep -o '.\{60\}NaN[-:].\{20\}' "$T/dom.html" | head -3)"
  grep -qF '9223372036854775807 UTC' "$T/dom.html" || fail "the latest start is not shown as written"
}

@test "metrics.prom follows the sqlite3 shell at the next read: a row it inserts, and a duration it rewrites" {
  mount_fs
  start native-1
  echo success >"$M/status/native-1"
  cp "$M/metrics.prom" "$T/metrics.prom"
  [ "$(metric 'execlog_executions{outcome="success"}')" = 1 ] || fail "$(cat "$T/metrics.prom")"
  sqlite3 -cmd '.timeout 5000' "$DB" "INSERT INTO execution_log (execution_id, tool_version, args,
    root, db_path, started_at, finished_at, duration_ms, outcome) VALUES
    ('shell-1', '1', '[]', NULL, '', 1700000000, 1700000005, 5000, 'success')"
  cp "$M/metrics.prom" "$T/metrics.prom"
  [ "$(metric 'execlog_executions{outcome="success"}')" = 2 ] || fail "$(cat "$T/metrics.prom")"
  # A rewrite moves no count and no latest id: only the store's version tells.
  local sum
  sum=$(metric execlog_duration_seconds_sum)
  sqlite3 -cmd '.timeout 5000' "$DB" \
    "UPDATE execution_log SET duration_ms = duration_ms + 3600000 WHERE execution_id = 'shell-1'"
  cp "$M/metrics.prom" "$T/metrics.prom"
  awk -v a="$sum" -v b="$(metric execlog_duration_seconds_sum)" 'BEGIN { exit !(b - a > 3599.9 && b - a < 3600.1) }' ||
    fail "the sum was $sum, now $(metric execlog_duration_seconds_sum): the rewritten duration did not show"
}
