#!/usr/bin/env bats
# PostgreSQL alone: several mounts of one database, on one host here as they
# would be on many, and a server that goes away under load. Registered for
# STORE=postgres only (tests/fs/meson.build); the files every backend runs
# cover the rest.

load helper

PG_TEST_SERVER=${EXECLOG_PG_SERVER:-$HELPERS_DIR/../../scripts/pg-test-server}

teardown() {
  teardown_mount
  # The server of the restart test's own goes with it.
  if [ -n "${OWN_PG:-}" ]; then
    EXECLOG_PG_DIR=$OWN_PG/pg "$PG_TEST_SERVER" stop || true
    rm -rf "$OWN_PG"
  fi
}

within_1s() {
  poll 1.5 "$@" || fail "not seen within 1.5 s: $*"
}

@test "two mounts of one database: each sees the other's changes within a second" {
  mount_fs
  mount_second
  # Looked up (and missing) on the second mount first: no cache hides it later.
  run fsop stat "$M2/a.json"
  assert_output ENOENT
  start a '{"tool_version": "1.0"}'
  within_1s test -e "$M2/a.json"
  [ "$(jq -r .tool_version "$M2/a.json")" = 1.0 ]
  [ "$(cat "$M2/status/a")" = running ]
  echo 'error: boom' >"$M2/status/a"
  within_1s bash -c '[ "$(cat "$1/status/a")" = error ]' _ "$M"
  within_1s bash -c '[ "$(jq -r .error_message "$1/a.json")" = boom ]' _ "$M"
  within_1s bash -c 'ls "$1/by-outcome/error" | grep -qx a.json' _ "$M"
  [ "$(readlink "$M/latest")" = a.json ]
  rm "$M/a.json"
  within_1s bash -c '[ "$(python3 "$2" stat "$1/a.json")" = ENOENT ]' _ "$M2" "$HELPERS_DIR/fsop.py"
  # A name started on one is taken on the other.
  start b
  run fsop open "$M2/new/b" w,c '{}'
  assert_output EEXIST
}

@test "a race of 2x20 starts of the same names on two mounts: one winner each" {
  mount_fs
  mount_second
  python3 - "$M" "$M2" >"$T/race" <<'PY'
import errno, os, sys, threading

mounts = sys.argv[1:]
results = {}
barrier = threading.Barrier(len(mounts))

def run(k):
    barrier.wait()
    for i in range(20):
        name = "race-%02d" % i
        try:
            fd = os.open(os.path.join(mounts[k], "new", name), os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.write(fd, b'{"tool_version": "%d"}' % k)
                r = "OK"
            except OSError as e:
                r = errno.errorcode[e.errno]
            finally:
                os.close(fd)
        except OSError as e:
            r = errno.errorcode[e.errno]
        results[(k, i)] = r

threads = [threading.Thread(target=run, args=(k,)) for k in range(len(mounts))]
for t in threads:
    t.start()
for t in threads:
    t.join()
for i in range(20):
    print("race-%02d %s %s" % (i, results[(0, i)], results[(1, i)]))
PY
  local name r0 r1 winner
  while read -r name r0 r1; do
    case "$r0 $r1" in
      "OK EEXIST") winner=0 ;;
      "EEXIST OK") winner=1 ;;
      *) fail "$name: $r0 on one mount, $r1 on the other (one OK and one EEXIST expected)" ;;
    esac
    # The record is the winner's, on both mounts.
    [ "$(jq -r .tool_version "$M/$name.json")" = "$winner" ] || fail "$name is not the winner's"
    [ "$(jq -r .tool_version "$M2/$name.json")" = "$winner" ] || fail "$name is not the winner's on $M2"
  done <"$T/race"
  [ "$(wc -l <"$T/race")" -eq 20 ]
  # Every name once, on each mount.
  [ "$(ls "$M" | grep -c '^race-.*\.json$')" -eq 20 ]
  [ "$(ls "$M2" | grep -c '^race-.*\.json$')" -eq 20 ]
  [ "$(pg_sql -c "SELECT count(*), count(DISTINCT execution_id) FROM execution_log")" = "20|20" ]
}

@test "the server restarted mid-load: clean errors, a reconnect, nothing acknowledged lost" {
  # A server of the test's own, to stop: the shared one serves other tests.
  pg_teardown
  OWN_PG=$(mktemp -d /tmp/execlog-pgown.XXXXXX)
  chmod 755 "$OWN_PG"
  export EXECLOG_PG_DIR=$OWN_PG/pg
  PG_ADMIN=$("$PG_TEST_SERVER" conninfo)
  PG_NAME=restart
  psql -X -q -v ON_ERROR_STOP=1 -d "$PG_ADMIN" -c "CREATE DATABASE $PG_NAME"
  DB="$PG_ADMIN dbname=$PG_NAME"
  mount_fs

  # The load: starts with a document (its write says whether it was
  # committed), every other one finished, each result on a line.
  python3 - "$M" "$T" <<'PY' &
import errno, os, sys, time

m, t = sys.argv[1:]
out = open(os.path.join(t, "load"), "w", buffering=1)
end = time.time() + 90
i = 0

def attempt(path, data, flags):
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        return errno.errorcode[e.errno]
    try:
        os.write(fd, data)
        return "OK"
    except OSError as e:
        return errno.errorcode[e.errno]
    finally:
        try:
            os.close(fd)
        except OSError:
            pass

while not os.path.exists(os.path.join(t, "load.stop")) and time.time() < end:
    name = "load-%05d" % i
    r = attempt(os.path.join(m, "new", name), b'{"tool_version": "x"}', os.O_WRONLY | os.O_CREAT)
    out.write("start %s %s\n" % (name, r))
    if r == "OK" and i % 2 == 0:
        f = attempt(os.path.join(m, "status", name), b"success", os.O_WRONLY)
        out.write("finish %s %s\n" % (name, f))
    i += 1
    time.sleep(0.005)
PY
  local load=$!
  poll 10 grep -q ' OK$' "$T/load" || fail "no start succeeded before the restart"
  "$PG_TEST_SERVER" halt
  # While it is away, calls fail (with a clean errno) within seconds.
  poll 20 bash -c '[ "$(grep -cvE " OK$" "$1")" -ge 5 ]' _ "$T/load" ||
    fail "no call failed while the server was away"
  "$PG_TEST_SERVER" ensure
  # Back: the daemon reconnects by itself and starts succeed again.
  local n
  n=$(wc -l <"$T/load")
  poll 20 bash -c 'tail -n +"$2" "$1" | grep -q "^start .* OK$"' _ "$T/load" "$((n + 1))" ||
    fail "no start succeeded after the restart"
  touch "$T/load.stop"
  wait "$load"

  # Only clean errors: EIO or ENOTCONN (an answer lost in the stop), nothing else.
  run grep -vE ' (OK|EIO|ENOTCONN)$' "$T/load"
  assert_output ''
  # Every acknowledged start and finish is there.
  grep '^start .* OK$' "$T/load" | cut -d' ' -f2 | sort >"$T/acked"
  ls "$M" | sed -n 's/\.json$//p' | sort >"$T/listed"
  run comm -23 "$T/acked" "$T/listed"
  assert_output ''
  local name
  while read -r name; do
    [ "$(cat "$M/status/$name")" = success ] || fail "the finish of $name was acknowledged, not kept"
  done < <(grep '^finish .* OK$' "$T/load" | cut -d' ' -f2)
  # The daemon never crashed, and said why the calls failed.
  assert_alive
  run grep -c 'postgres' "$LOG"
  [ "$output" -gt 0 ] || fail "no reason logged"
  assert_store_intact
}

@test "a server that is not there: the mount fails at once with one line" {
  local started=$SECONDS
  run "$EXECLOGFS" -f -o "store=postgres,db=host=$T/nowhere dbname=x" "$M"
  assert_failure
  [ "${#lines[@]}" -eq 1 ] || fail "not one line: $output"
  assert_output --partial 'postgres'
  [ $((SECONDS - started)) -lt 10 ] || fail "took $((SECONDS - started)) s"
  if mountpoint -q "$M"; then fail "$M is mounted"; fi
}

@test "a password in the connection string never shows in a message" {
  run "$EXECLOGFS" -f -o "store=postgres,db=host=$T/nowhere dbname=x password=s3cret user=u" "$M"
  assert_failure
  refute_output --partial s3cret
  assert_output --partial 'password=***'
  run "$EXECLOGFS" -f -o "store=postgres,db=postgresql://u:s3cret@localhost:1/x?host=$T/nowhere" "$M"
  assert_failure
  refute_output --partial s3cret
  assert_output --partial 'u:***@'
}

@test "a read-only mount of a database without the table creates nothing" {
  run "$EXECLOGFS" -f -o "store=postgres,db=$DB,ro" "$M"
  assert_failure
  [ "$(store_sum)" = absent ] || fail "the table was created"
  mount_fs
  start a
  unmount_fs
  mount_fs ro
  run fsop open "$M/new/b" w,c
  assert_output EROFS
  [ "$(cat "$M/status/a")" = running ]
}

@test "a table of an older execlogfs gains provenance at mount; other programs' rows get their tool" {
  # The table as execlogfs made it before provenance, with a row in it.
  pg_sql <<'SQL'
CREATE TABLE execution_log (
    id BIGSERIAL PRIMARY KEY, execution_id TEXT NOT NULL UNIQUE, tool_version TEXT NOT NULL,
    args TEXT NOT NULL, root TEXT, db_path TEXT NOT NULL, started_at BIGINT NOT NULL,
    finished_at BIGINT, duration_ms BIGINT, outcome TEXT NOT NULL, error_message TEXT,
    files_indexed BIGINT DEFAULT 0, symbols_indexed BIGINT DEFAULT 0,
    references_indexed BIGINT DEFAULT 0, started_at_ms BIGINT, heartbeat_at_ms BIGINT);
INSERT INTO execution_log (execution_id, tool_version, args, db_path, started_at, outcome)
    VALUES ('old', '1', '["/usr/bin/make", "-j"]', '', 1700000000, 'success');
SQL
  # A read-only mount cannot bring it up to date: it fails and changes nothing.
  run "$EXECLOGFS" -f -o "store=postgres,db=$DB,ro" "$M"
  assert_failure
  [ "$(pg_sql -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'execution_log'::regclass
    AND attname IN ('tool', 'host', 'output_bytes')")" = 0 ]
  mount_fs
  [ "$(jq -r .tool_version "$M/old.json")" = 1 ]
  # The old row's tool is filled from its args (by the mount's backfill, in
  # the background); its provenance is null.
  old_row() { [ "$(pg_sql -c "SELECT tool, output_bytes, host IS NULL FROM execution_log")" = "make|0|t" ]; }
  within_1s old_row
  # Rows psql inserts now: the tool from args by the trigger, and args that
  # are not JSON (or name no tool) never fail the insert.
  pg_sql -c "INSERT INTO execution_log (execution_id, tool_version, args, db_path, started_at, outcome)
    VALUES ('p1', '1', '[\"/bin/ls\", \"-l\"]', '', 1700000001, 'success'),
           ('p2', '1', 'not json', '', 1700000002, 'success'),
           ('p3', '1', '[\"dir/\"]', '', 1700000003, 'success'),
           ('p4', '1', '[1]', '', 1700000004, 'error')"
  [ "$(pg_sql -c "SELECT execution_id || '=' || COALESCE(tool, '-') FROM execution_log ORDER BY id" | tr '\n' ' ')" = \
    "old=make p1=ls p2=- p3=- p4=- " ]
  # Whatever the inserting session's search_path.
  pg_sql -c "SET search_path = pg_catalog" -c "INSERT INTO public.execution_log
    (execution_id, tool_version, args, db_path, started_at, outcome)
    VALUES ('p5', '1', '[\"/x/y\"]', '', 1700000005, 'success')"
  [ "$(pg_sql -c "SELECT tool FROM execution_log WHERE execution_id = 'p5'")" = y ]
  # An update of args moves the tool with it.
  pg_sql -c "UPDATE execution_log SET args = '[\"/usr/bin/gcc\"]' WHERE execution_id = 'p2'"
  [ "$(pg_sql -c "SELECT tool FROM execution_log WHERE execution_id = 'p2'")" = gcc ]
  within_1s test -e "$M/p4.json"
  [ "$(cat "$M/status/p4")" = error ]
  # A delete takes the execution's tags and output rows with it.
  pg_sql -c "INSERT INTO execlog_tags (id, ord, key, value) SELECT id, 1, 'team', 'a' FROM execution_log WHERE execution_id = 'p1'"
  pg_sql -c "INSERT INTO execlog_output (id, \"offset\", data) SELECT id, 0, 'hi' FROM execution_log WHERE execution_id = 'p1'"
  # An id changed by SQL carries them along.
  pg_sql -c "UPDATE execution_log SET id = 1000 WHERE execution_id = 'p1'"
  [ "$(pg_sql -c "SELECT (SELECT string_agg(id::text, ',') FROM execlog_tags),
    (SELECT string_agg(id::text, ',') FROM execlog_output)")" = "1000|1000" ]
  [ "$(jq -c .tags "$M/p1.json")" = '{"team":"a"}' ]
  rm "$M/p1.json"
  [ "$(pg_sql -c "SELECT (SELECT count(*) FROM execlog_tags) + (SELECT count(*) FROM execlog_output)")" = 0 ]
  # A second mount changes nothing of it.
  unmount_fs
  mount_fs
  [ "$(pg_sql -c "SELECT count(*) FROM execution_log WHERE tool IS NOT NULL")" = 3 ]
}

@test "provenance on a shared log: each mount's views show the other's runs, psql's rows by their tool" {
  mount_fs
  mount_second
  local host user
  host=$(hostname)
  user=$(id -un)
  start a '{"args": ["/usr/bin/make", "-j"], "cwd": "/src/a", "tags": {"team": "infra", "ci.job": "7"}}'
  # The record on the other mount: the daemon's provenance, the document's cwd and tags, in order.
  within_1s test -e "$M2/a.json"
  [ "$(jq -c '[.host, .user, .uid, .pid, .cwd, .tags, .exit_code]' "$M2/a.json")" = \
    "[\"$host\",\"$user\",$(id -u),$BASHPID,\"/src/a\",{\"team\":\"infra\",\"ci.job\":\"7\"},null]" ]
  # The views of the other mount list it, read from the server's indexes.
  [ "$(ls "$M2/by-tag" | tr '\n' ' ')" = "ci.job=7 team=infra " ]
  [ "$(ls "$M2/by-tag/team=infra")" = a.json ]
  [ "$(ls "$M2/by-tool/make")" = a.json ]
  [ "$(ls "$M2/by-host/$host")" = a.json ]
  [ "$(ls "$M2/by-user/$user")" = a.json ]
  # The finish's exit code, set on one mount, read on the other.
  echo '{"outcome": "error", "exit_code": 2}' >"$M/status/a"
  within_1s bash -c '[ "$(jq .exit_code "$1/a.json")" = 2 ]' _ "$M2"
  # A row psql inserts: its tool from its args (the trigger), in by-tool/ of both mounts.
  pg_sql -c "INSERT INTO execution_log (execution_id, tool_version, args, db_path, started_at, outcome)
    VALUES ('p', '1', '[\"/opt/bin/cc\", \"-c\"]', '', 1700000000, 'success')"
  [ "$(ls "$M/by-tool" | tr '\n' ' ')" = "cc make " ]
  [ "$(ls "$M2/by-tool/cc")" = p.json ]
  [ "$(jq -c '[.host, .tags, .output_bytes]' "$M/p.json")" = '[null,{},0]' ]
  # A delete on one mount takes the run and its tags out of the other's views.
  rm "$M2/a.json"
  [ "$(ls "$M/by-tag" | wc -l)" -eq 0 ]
  run ls "$M/by-tool/make"
  assert_failure
  [ "$(pg_sql -c "SELECT count(*) FROM execlog_tags")" = 0 ]
}

@test "two mounts appending to one output at once: every acknowledged write whole and once" {
  mount_fs
  mount_second
  start r
  within_1s test -e "$M2/r.json"
  # Each mount's writer appends 40 lines of 8 bytes (O_APPEND), one write each.
  python3 - "$M/output/r" "$M2/output/r" >"$T/writes" <<'PY'
import errno, os, sys, threading

paths = sys.argv[1:]
barrier = threading.Barrier(len(paths))
results = []

def run(k):
    fd = os.open(paths[k], os.O_WRONLY | os.O_APPEND)
    barrier.wait()
    for i in range(40):
        line = b"m%d-%04d\n" % (k, i)
        try:
            r = "OK" if os.write(fd, line) == len(line) else "SHORT"
        except OSError as e:
            r = errno.errorcode[e.errno]
        results.append("%s %s" % (line.decode().strip(), r))
    os.close(fd)

threads = [threading.Thread(target=run, args=(k,)) for k in range(len(paths))]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("\n".join(results))
PY
  [ "$(wc -l <"$T/writes")" -eq 80 ]
  # A write that lost every race for the end may be refused, with EINVAL only.
  run grep -vE ' (OK|EINVAL)$' "$T/writes"
  assert_output ''
  grep -c ' OK$' "$T/writes" | grep -qvx 0 || fail "no write went through"
  # The output holds exactly the acknowledged lines, each whole and once, each mount's in its order.
  grep ' OK$' "$T/writes" | cut -d' ' -f1 | sort >"$T/acked"
  sort "$M2/output/r" >"$T/stored"
  run diff "$T/acked" "$T/stored"
  assert_output ''
  local k
  for k in 0 1; do
    [ "$(grep "^m$k-" "$M/output/r")" = "$(grep "^m$k-" "$T/acked")" ] || fail "mount $k's lines out of order"
  done
  [ "$(jq .output_bytes "$M/r.json")" -eq $((8 * $(wc -l <"$T/acked"))) ]
  [ "$(stat -c %s "$M/output/r")" -eq $((8 * $(wc -l <"$T/acked"))) ]
}
