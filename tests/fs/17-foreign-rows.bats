#!/usr/bin/env bats
# Rows as another program may leave them in the store: ids and times at the
# ends of int64, names that are not names, an outcome outside the four. The
# rows are written with the sqlite3 shell into magellan's fourteen columns,
# next to the mount. Every listing ends (each runs under timeout), lists each
# valid name exactly once, and nothing becomes a path outside the mount;
# such rows have no provenance, and by-tool/ lists them by their args.
# SQLite only: it is the store other programs write. Under CI's sanitized
# build, UBSan halts the daemon at the first overflow.
load helper
bats_require_minimum_version 1.5.0

MAX=9223372036854775807
MIN=-9223372036854775808
MIN1=-9223372036854775807 # INT64_MIN itself is how the store says null
DAY_SECONDS=1700000000 # 2023-11-14
DAY=2023-11-14

# foreign ID NAME_SQL [STARTED_AT [OUTCOME [FINISHED_AT]]]: inserts a row
# as magellan would; NAME_SQL is an SQL expression.
foreign() {
  sqlite3 -cmd '.timeout 5000' "$DB" "
    INSERT INTO execution_log (id, execution_id, tool_version, args, root, db_path,
      started_at, finished_at, duration_ms, outcome, error_message, files_indexed,
      symbols_indexed, references_indexed)
    VALUES ($1, $2, 'm 1', '[\"magellan\"]', NULL, '/db', ${3:-$DAY_SECONDS}, ${5:-NULL},
      NULL, '${4:-success}', NULL, 0, 0, 0)"
}

# fields FILE KEY...: the values of KEYs in the JSON of FILE, on one line;
# Python keeps every int64 exact where jq rounds to a double.
fields() {
  python3 -c 'import json, sys
doc = json.load(open(sys.argv[1]))
print(" ".join(str(doc[k]) for k in sys.argv[2:]))' "$@"
}

# listed DIR: the names DIR lists, one a line, sorted; fails if ls fails or
# does not end within 20 s.
listed() {
  timeout 20 ls -1 "$1" >"$T/listed" || return 1
  sort "$T/listed"
}

@test "ids at the ends of int64 and past 2^56 are each listed once, with their own record and inode" {
  mount_fs
  start one
  foreign "$MAX" "'max'"
  foreign "$MIN" "'min'"
  foreign 72057594037927936 "'wrap'"
  foreign 72057594037927937 "'wrap1'"
  foreign -7 "'neg'"
  run listed "$M"
  assert_success
  assert_output "$(printf '%s\n' by-day by-host by-outcome by-tag by-tool by-user index.html latest max.json metrics.prom \
    min.json neg.json new one.json output status wrap.json wrap1.json | sort)"
  run listed "$M/status"
  assert_success
  assert_output "$(printf '%s\n' max min neg one wrap wrap1 | sort)"
  run listed "$M/by-outcome/success"
  assert_success
  assert_output "$(printf '%s\n' max.json min.json neg.json wrap.json wrap1.json | sort)"
  declare -A want=([one]=1 [max]=$MAX [min]=$MIN [wrap]=72057594037927936
    [wrap1]=72057594037927937 [neg]=-7)
  local n inodes=()
  for n in "${!want[@]}"; do
    run fields "$M/$n.json" id execution_id
    assert_success
    assert_output "${want[$n]} $n"
    inodes+=("$(stat -c %i "$M/$n.json")" "$(stat -c %i "$M/status/$n")")
  done
  # Twelve nodes, twelve numbers; and latest is the greatest id.
  [ "$(printf '%s\n' "${inodes[@]}" | sort -u | wc -l)" -eq 12 ]
  run readlink "$M/latest"
  assert_output max.json
  # ls -l: the same names, with attributes (readdirplus).
  run timeout 20 ls -l "$M/status"
  assert_success
  [ "$(grep -c ' max$\| min$\| neg$\| one$\| wrap$\| wrap1$' <<<"$output")" -eq 6 ]
  assert_alive
}

@test "a listing of many outlying ids takes several replies, and seekdir returns to telldir's place" {
  mount_fs
  start one
  # 400 negative ids and 400 past 2^56: many more than one readdir reply holds.
  sqlite3 -cmd '.timeout 5000' "$DB" "
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
    INSERT INTO execution_log (id, execution_id, tool_version, args, db_path, started_at,
      outcome, files_indexed, symbols_indexed, references_indexed)
    SELECT -i, 'neg-' || i || '-with-a-longer-name', '', '[]', '', $DAY_SECONDS, 'error', 0, 0, 0 FROM n
    UNION ALL
    SELECT 72057594037927936 + i, 'high-' || i || '-with-a-longer-name', '', '[]', '',
      $DAY_SECONDS, 'error', 0, 0, 0 FROM n"
  run listed "$M/status"
  assert_success
  [ "${#lines[@]}" -eq 801 ]
  [ "$(printf '%s\n' "${lines[@]}" | sort -u | wc -l)" -eq 801 ]
  run listed "$M/by-day/$DAY"
  assert_success
  [ "${#lines[@]}" -eq 800 ]
  run listed "$M/by-outcome/error"
  assert_success
  [ "${#lines[@]}" -eq 800 ]
  # telldir in the middle of the outliers, read on, seekdir back: the same names again.
  run timeout 20 perl -e '
    opendir(my $d, $ARGV[0]) or die "opendir: $!";
    readdir($d) for 1 .. 500;
    my $pos = telldir($d);
    my @first = map { scalar readdir($d) } 1 .. 200;
    seekdir($d, $pos);
    my @again = map { scalar readdir($d) } 1 .. 200;
    print join(",", @first) eq join(",", @again) && defined $first[199] ? "same\n" : "differ\n";
  ' "$M/status"
  assert_success
  assert_output same
  assert_alive
}

@test "times at the ends of int64: every listing of days ends, and the records read" {
  mount_fs
  start one
  foreign 100 "'late'" "$MAX" success "$MAX"
  foreign 101 "'early'" "$MIN" success "$MIN1"
  foreign 102 "'past'" 253402300800 # 10000-01-01: no day can name it
  foreign 103 "'text'" "'not a time'"
  foreign 104 "'huge'" "$DAY_SECONDS" success "$MAX"
  sqlite3 "$DB" "UPDATE execution_log SET duration_ms = $MAX, files_indexed = $MAX,
    symbols_indexed = $MIN WHERE execution_id = 'huge'"
  run listed "$M/by-day"
  assert_success
  assert_output "$(printf '%s\n' "$DAY" "$(date -u +%F)" | sort)"
  run listed "$M/by-day/$DAY"
  assert_success
  assert_output huge.json
  run listed "$M"
  assert_success
  assert_line late.json
  assert_line early.json
  run fields "$M/late.json" started_at finished_at
  assert_output "$MAX $MAX"
  run fields "$M/early.json" started_at finished_at
  assert_output "$MIN $MIN1"
  run fields "$M/huge.json" duration_ms files_indexed symbols_indexed
  assert_output "$MAX $MAX $MIN"
  # Their times, as stat shows them, and the sizes cat agrees with.
  local n
  for n in late early past text huge; do
    run stat -c %s "$M/$n.json"
    assert_success
    [ "$output" -eq "$(wc -c <"$M/$n.json")" ]
    run stat "$M/status/$n"
    assert_success
  done
  run timeout 20 ls -l "$M/status" "$M/by-day/$DAY" "$M/by-outcome/success"
  assert_success
  assert_alive
}

@test "rows whose execution_id is not a valid name are in no listing and never a path" {
  mount_fs
  start one
  echo success >"$M/status/one"
  foreign 50 "'good'"
  foreign 51 "'a/b'"
  foreign 52 "''"
  foreign 53 "'..'"
  foreign 54 "'x' || char(10) || 'y.json'"
  foreign 55 "'.hidden'"
  foreign 56 "'sp ace'"
  foreign 57 "'$(printf 'n%.0s' $(seq 129))'" # one byte too long
  # The greatest id: it would be latest.
  foreign 99 "'../../../../tmp/evil'"
  # A day of invalid names alone (2020-09-13) is no day.
  foreign 58 "'bad/day'" 1600000000
  run listed "$M"
  assert_success
  assert_output "$(printf '%s\n' by-day by-host by-outcome by-tag by-tool by-user good.json index.html latest metrics.prom \
    new one.json output status | sort)"
  run listed "$M/status"
  assert_success
  assert_output "$(printf '%s\n' good one)"
  run listed "$M/by-day"
  assert_success
  assert_output "$(printf '%s\n' "$DAY" "$(date -u +%F)" | sort)"
  run fsop stat "$M/by-day/2020-09-13"
  assert_output ENOENT
  run listed "$M/by-day/$DAY"
  assert_success
  assert_output good.json
  run listed "$M/by-outcome/success"
  assert_success
  assert_output "$(printf '%s\n' good.json one.json)"
  for o in running error partial; do
    run listed "$M/by-outcome/$o"
    assert_success
    assert_output ""
  done
  # The latest valid one, inside the mount.
  run readlink "$M/latest"
  assert_output good.json
  run ls -l "$M/by-outcome/success"
  assert_success
  refute_output --partial evil
  # No lookup finds them, and none can be removed through the mount.
  run fsop stat "$M/.hidden.json"
  assert_output ENOENT
  run fsop stat "$M/status/.hidden"
  assert_output ENOENT
  run fsop stat "$M/sp ace.json"
  assert_output ENOENT
  run fsop unlink "$M/.hidden.json"
  assert_output ENOENT
  run sqlite3 "$DB" "SELECT count(*) FROM execution_log WHERE execution_id = '.hidden'"
  assert_output 1
  # Logged, once each, however often they were skipped.
  ls "$M" "$M/status" >/dev/null
  run grep -c 'skipping execution 99:' "$LOG"
  assert_output 1
  run grep -c 'skipping execution 51:' "$LOG"
  assert_output 1
  assert_alive
}

@test "an outcome outside the four is shown as written and counted in no view" {
  mount_fs
  start one
  foreign 60 "'k'" "$DAY_SECONDS" killed "$((DAY_SECONDS + 5))"
  run fields "$M/k.json" outcome
  assert_output killed
  run cat "$M/status/k"
  assert_output killed
  run listed "$M/by-outcome"
  assert_output "$(printf '%s\n' error partial running success)"
  for o in running success error partial; do
    run listed "$M/by-outcome/$o"
    assert_success
    refute_output --partial k.json
    run fsop stat "$M/by-outcome/$o/k.json"
    assert_output ENOENT
  done
  run fsop stat "$M/by-outcome/killed"
  assert_output ENOENT
  run listed "$M/by-day/$DAY"
  assert_output k.json
  assert_alive
}

@test "rows of other programs have no provenance and are in by-tool/ by their args, whatever the text" {
  mount_fs
  start one '{"args":["/usr/bin/make"],"tags":{"team":"web"}}'
  foreign "$MAX" "'max'"
  foreign -7 "'neg'"
  # Args that are not an array of strings: the insert succeeds, with no tool.
  sqlite3 -cmd '.timeout 5000' "$DB" "
    INSERT INTO execution_log (id, execution_id, tool_version, args, db_path, started_at, outcome)
    VALUES (-8, 'junk', '', '[\"unterminated', '', $DAY_SECONDS, 'error'),
           (-9, 'blob', '', x'ff00', '', $DAY_SECONDS, 'error'),
           (-10, 'mixed', '', '[\"/bin/sh\", 1]', '', $DAY_SECONDS, 'error'),
           (-11, 'deep', '', json_array('/opt/tools/bin/indexer'), '', $DAY_SECONDS, 'error')"
  run python3 -c 'import json, sys
doc = json.load(open(sys.argv[1]))
print(json.dumps([doc[k] for k in ("exit_code", "signal", "host", "user", "uid", "pid", "cwd", "tags", "output_bytes")]))' "$M/neg.json"
  assert_output '[null, null, null, null, null, null, null, {}, 0]'
  run listed "$M/by-tool"
  assert_output "$(printf '%s\n' indexer magellan make)"
  run listed "$M/by-tool/magellan"
  assert_output "$(printf '%s\n' max.json neg.json)"
  run readlink "$M/by-tool/magellan/max.json"
  assert_output ../../max.json
  run listed "$M/by-tool/indexer"
  assert_output deep.json
  # Rows of other programs are on no host and have no tags.
  run listed "$M/by-tag"
  assert_output team=web
  run listed "$M/by-host"
  [ "${#lines[@]}" -eq 1 ]
  # The shell deletes a row, and changes another's args: the views follow.
  sqlite3 -cmd '.timeout 5000' "$DB" "DELETE FROM execution_log WHERE id = -7;
    UPDATE execution_log SET args = json_array('make', '-k') WHERE id = -11"
  poll 5 bash -c "[ \"\$(ls '$M/by-tool/magellan')\" = max.json ]"
  run listed "$M/by-tool/make"
  assert_output "$(printf '%s\n' deep.json one.json)"
  run listed "$M/by-tool"
  assert_output "$(printf '%s\n' magellan make)"
  assert_alive
}
