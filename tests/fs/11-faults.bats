#!/usr/bin/env bats
# Faults: kill -9 and SIGTERM under concurrent writers, a full disk, an LMDB
# map that cannot grow, a store that can no longer be written underneath a
# running mount, and a load of 8 writers and 2 readers. Nothing acknowledged
# is lost, every failure is a clean errno, and the daemon stays up.
load helper
bats_require_minimum_version 1.5.0

teardown() {
  local p
  touch "$T/stop" 2>/dev/null || true
  for p in ${WRITER_PIDS[@]+"${WRITER_PIDS[@]}"} ${READER_PIDS[@]+"${READER_PIDS[@]}"}; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  # The store made immutable underneath (see make_store_unwritable).
  if [ -d "$T/store" ]; then chattr -R -i "$T/store" || true; fi
  unmount_all
  # A tmpfs holding the store, once the daemon no longer holds it open.
  if mountpoint -q "$T/small" 2>/dev/null; then
    umount "$T/small" || umount -l "$T/small"
  fi
  teardown_mount
}

# --- writers and what they acknowledged ---

# writer PREFIX COUNT MODE: starts and finishes PREFIX-1 .. PREFIX-COUNT one
# after the other, until COUNT or the first failing call, appending each
# acknowledged call to $T/ack.PREFIX as "NAME STATE": a start (STATE running)
# once the write that completed its document returned, or for an empty start
# once close returned (MODE mixed-visible: and a lookup of it succeeded, the
# contract's "once it is visible" for kill -9); a finish (STATE its outcome)
# once its write returned. The first failure goes to $T/err.PREFIX.
#
# By j % 5: 0 a document, left running; 1 empty, finished "success";
# 2 a document, finished "error: failed J"; 3 a document, finished with a JSON
# object (partial, files_indexed J); 4 empty, left running. MODE finish
# finishes 0 and 4 with "success" too.
writer() {
  python3 - "$M" "$T" "$@" <<'PY'
import errno, json, os, sys

mnt, tmp, prefix, count, mode = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
ack = open("%s/ack.%s" % (tmp, prefix), "a", buffering=1)


def finish_value(j):
    kind = j % 5
    if kind == 1 or (mode == "finish" and kind in (0, 4)):
        return b"success\n"
    if kind == 2:
        return b"error: failed %d" % j
    if kind == 3:
        return json.dumps({"outcome": "partial", "files_indexed": j,
                           "symbols_indexed": 2 * j}).encode()
    return None


name = None
try:
    for j in range(1, count + 1):
        if os.path.exists(tmp + "/stop"):
            break
        name = "%s-%d" % (prefix, j)
        fd = os.open("%s/new/%s" % (mnt, name), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            if j % 5 in (0, 2, 3):
                doc = {"tool_version": prefix, "args": [str(j), "a \"q\""],
                       "root": "/r/%d" % j, "db_path": "/d"}
                os.write(fd, json.dumps(doc).encode())
                ack.write("%s running\n" % name)
        finally:
            os.close(fd)
        if j % 5 in (1, 4):
            if mode == "mixed-visible":
                os.stat("%s/status/%s" % (mnt, name))
            ack.write("%s running\n" % name)
        value = finish_value(j)
        if value is not None:
            fd = os.open("%s/status/%s" % (mnt, name), os.O_WRONLY)
            try:
                os.write(fd, value)
                outcome = "success" if value.startswith(b"success") else \
                    "error" if value.startswith(b"error") else "partial"
                ack.write("%s %s\n" % (name, outcome))
            finally:
                os.close(fd)
except OSError as e:
    with open("%s/err.%s" % (tmp, prefix), "w") as f:
        f.write("%s: %s\n" % (name, errno.errorcode.get(e.errno, e.errno)))
    sys.exit(1)
PY
}

# start_writers N COUNT MODE: N writers w1..wN in the background (WRITER_PIDS).
start_writers() {
  local w
  WRITER_PIDS=()
  for w in $(seq "$1"); do
    writer "w$w" "$2" "$3" 3>&- &
    WRITER_PIDS+=($!)
  done
}

# wait_writers: waits for every writer; returns non-zero if one failed.
wait_writers() {
  local p status=0
  for p in "${WRITER_PIDS[@]}"; do
    wait "$p" || status=1
  done
  WRITER_PIDS=()
  return $status
}

acked() {
  cat "$T"/ack.w* 2>/dev/null | wc -l
}

# The writers stopped only because the mount went away (their first call
# after it found no mount, or a connection cut), not on an error before.
assert_writers_stopped_by_unmount() {
  local errs
  errs=$(cat "$T"/err.w* 2>/dev/null | grep -v -e ': ENOTCONN$' -e ': ECONNABORTED$' -e ': ENOENT$' || true)
  [ -z "$errs" ] || fail "a writer failed before the mount went away: $errs"
}

# loaded SECONDS ACKS: at least SECONDS since LOAD_T0 (date +%s%N) and at
# least ACKS acknowledged calls (for poll: the load runs that long).
loaded() {
  [ $(( ($(date +%s%N) - LOAD_T0) / 1000000000 )) -ge "$1" ] && [ "$(acked)" -ge "$2" ]
}

# verify_acks MIN: through the mount, the last acknowledged state of every
# name the writers logged is there (a start acknowledged as running may also
# have been finished as planned), each record holds what its writer wrote,
# and st_size is the length of what a read returns; at least MIN names.
verify_acks() {
  python3 - "$M" "$1" "$T"/ack.w* <<'PY'
import json, os, sys

mnt, least, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
last = {}
for path in files:
    for line in open(path):
        name, state = line.split()
        last[name] = state

# What the writer (see writer) may have finished each kind with.
FINISHES = {0: ("success",), 1: ("success",), 2: ("error",), 3: ("partial",), 4: ("success",)}
bad = []
for name, state in sorted(last.items()):
    prefix, j = name.rsplit("-", 1)
    j = int(j)
    try:
        with open("%s/%s.json" % (mnt, name), "rb") as f:
            text = f.read()
        size = os.stat("%s/%s.json" % (mnt, name)).st_size
        with open("%s/status/%s" % (mnt, name)) as f:
            status = f.read()
    except OSError as e:
        bad.append("%s: acknowledged %s, but %s" % (name, state, e.strerror))
        continue
    rec = json.loads(text)
    if size != len(text):
        bad.append("%s: st_size %d, read %d bytes" % (name, size, len(text)))
    if status != rec["outcome"] + "\n":
        bad.append("%s: status says %r, the record %s" % (name, status, rec["outcome"]))
    allowed = ("running",) + FINISHES[j % 5] if state == "running" else (state,)
    if rec["outcome"] not in allowed:
        bad.append("%s: acknowledged %s, found %s" % (name, state, rec["outcome"]))
    if j % 5 in (0, 2, 3):
        want = [prefix, [str(j), 'a "q"'], "/r/%d" % j, "/d"]
    else:
        want = ["", [], None, ""]
    got = [rec["tool_version"], rec["args"], rec["root"], rec["db_path"]]
    if got != want:
        bad.append("%s: start fields %r, expected %r" % (name, got, want))
    if rec["outcome"] == "error" and rec["error_message"] != "failed %d" % j:
        bad.append("%s: error_message %r" % (name, rec["error_message"]))
    if rec["outcome"] == "partial" and (rec["files_indexed"], rec["symbols_indexed"]) != (j, 2 * j):
        bad.append("%s: counts %r" % (name, [rec["files_indexed"], rec["symbols_indexed"]]))
    if rec["outcome"] != "running" and (rec["finished_at"] is None or rec["duration_ms"] is None):
        bad.append("%s: finished without finished_at or duration_ms" % name)
print("%d names checked, %d problems" % (len(last), len(bad)))
for b in bad[:20]:
    print(b)
sys.exit(1 if bad or len(last) < least else 0)
PY
}

# kill9_under_load SYNC: 4 writers start and finish for at least 3 s under
# -o sync=SYNC, then kill -9; after a remount every acknowledged call is there.
kill9_under_load() {
  mount_fs "sync=$1"
  LOAD_T0=$(date +%s%N)
  start_writers 4 1000000 mixed-visible
  poll 60 loaded 3 400 || fail "the writers acknowledged only $(acked) calls: $(cat "$T"/err.* 2>/dev/null)"
  kill9_fs
  # Every writer stops at its first call after the kill.
  wait_writers || true
  assert_writers_stopped_by_unmount
  assert_store_intact
  mount_fs "sync=$1"
  # 400 acknowledgements are at least 200 names.
  run verify_acks 200
  echo "$output"
  assert_success
  # Every record there, acknowledged or not, is whole JSON.
  run python3 -c '
import json, os, sys
for n in os.listdir(sys.argv[1]):
    if n.endswith(".json"):
        json.load(open(os.path.join(sys.argv[1], n)))["id"]' "$M"
  assert_success
  unmount_fs
  assert_store_intact
}

@test "kill -9 while 4 writers start and finish for 3 s (sync=normal): every acknowledged call survives, store intact" {
  kill9_under_load normal
}

@test "kill -9 while 4 writers start and finish for 3 s (sync=full): every acknowledged call survives, store intact" {
  kill9_under_load full
}

@test "SIGTERM while 4 writers start and finish: exit status 0, every acknowledged call there after a remount" {
  mount_fs
  LOAD_T0=$(date +%s%N)
  start_writers 4 1000000 mixed
  poll 60 loaded 2 300 || fail "the writers acknowledged only $(acked) calls"
  sigterm_fs
  wait_writers || true
  assert_writers_stopped_by_unmount
  run mountpoint -q "$M"
  assert_failure
  assert_store_intact
  mount_fs
  # Here an empty start is acknowledged when close returned: SIGTERM
  # commits every start whose close had returned.
  run verify_acks 150 # of at least 300 acknowledgements
  echo "$output"
  assert_success
  unmount_fs
  assert_store_intact
}

# --- a full store ---

# fill_store: starts runs with 60 KB documents until one fails, then with
# empty documents until one fails; prints "BIG ERRNO SMALL ERRNO" (how many
# of each started, and the errno of the start that failed).
fill_store() {
  python3 - "$M" <<'PY'
import errno, os, sys

mnt = sys.argv[1]
out = []
for kind, doc, limit in (("b", b'{"args":["' + b"x" * 60000 + b'"]}', 2000),
                         ("s", b"{}", 50000)):
    err = "NONE"
    for i in range(limit):
        try:
            fd = os.open("%s/new/fill-%s%d" % (mnt, kind, i), os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.write(fd, doc)
            finally:
                os.close(fd)
        except OSError as e:
            err = errno.errorcode.get(e.errno, str(e.errno))
            break
    out += [str(i), err]
print(" ".join(out))
PY
}

# populate_records: a few records to keep readable, saved in $T/rec.NAME;
# run1 left running.
populate_records() {
  start fin1 '{"tool_version":"1.0","args":["a","b"],"root":"/p","db_path":"/p/db"}'
  echo 'error: it "broke"' >"$M/status/fin1"
  start fin2 '{"args":["é","😀"]}'
  echo '{"outcome":"partial","files_indexed":3}' >"$M/status/fin2"
  start run1 '{"tool_version":"r"}'
  local n
  for n in fin1 fin2 run1; do cp "$M/$n.json" "$T/rec.$n"; done
}

# The saved records read as they were: cat, jq, listings, status (run1 is
# $RUN1 if a finish of it worked on the full store).
assert_records_readable() {
  local n
  for n in fin1 fin2 run1; do
    cmp "$T/rec.$n" "$M/$n.json" || fail "$n.json changed or cannot be read"
    jq -e .id "$M/$n.json" >/dev/null || fail "$n.json is not JSON"
  done
  run jq -r '.outcome' "$M/fin1.json" "$M/fin2.json" "$M/run1.json"
  assert_output $'error\npartial\n'"${RUN1:-running}"
  run cat "$M/status/run1"
  assert_output "${RUN1:-running}"
  run ls "$M"
  assert_success
  assert_output --partial fin1.json
  run ls "$M/by-outcome/error"
  assert_output fin1.json
}

# assert_full: the store is full; every start, and a finish that needs room,
# is ENOSPC, nothing is left behind, the daemon answers and the records read.
# What an empty start did goes to TOUCH_ON_FULL ("" when refused), which the
# caller checks last, so that the rest is checked too.
assert_full() {
  run fsop open "$M/new/full1" w,c '{"tool_version":"x"}'
  assert_output ENOSPC
  run bash -c 'echo "{}" > "$1/new/full2"' _ "$M"
  assert_failure
  assert_output --partial 'No space left on device'
  run fsop open "$M/new/full3" w,c '{"args":["' '..."]}'
  assert_output ENOSPC
  local n
  for n in full1 full2 full3; do
    run fsop lookup "$M/$n.json"
    [ "$output" = ENOENT ] || fail "a refused start left $n.json behind ($output)"
  done
  # A finish needs room too: it works or it is ENOSPC, and changes nothing then.
  run fsop write "$M/status/run1" success
  if [ "$output" = OK ]; then
    run cat "$M/status/run1"
    assert_output success
    cp "$M/run1.json" "$T/rec.run1"
    RUN1=success
  else
    assert_output ENOSPC
  fi
  # touch new/x on a full store: close cannot carry the error, so the start
  # must be refused before (the contract: ENOSPC; touch && finish always works).
  TOUCH_ON_FULL=
  if touch "$M/new/full4" 2>/dev/null; then
    run fsop write "$M/status/full4" success
    TOUCH_ON_FULL="touch new/full4 exited 0 on a full store; finishing it then gave $output"
  fi
  assert_logged 'No space left on device'
  assert_alive
}

# assert_recovered: room again, so starts and finishes work.
assert_recovered() {
  touch "$M/new/after1" && echo success >"$M/status/after1" || fail "touch && finish failed after recovery"
  start after2 '{"tool_version":"after"}'
  run jq -r '[.execution_id, .tool_version, .outcome] | join(" ")' "$M/after2.json"
  assert_output "after2 after running"
  echo 'error: late' >"$M/status/after2"
  if [ "${RUN1:-}" != success ]; then
    echo partial >"$M/status/run1"
    run cat "$M/status/run1"
    assert_output partial
  fi
}

# mount_small SIZE: a tmpfs of SIZE on $T/small to hold the store ($DB).
mount_small() {
  mkdir -p "$T/small"
  mount -t tmpfs -o "size=$1" tmpfs "$T/small"
  DB=$T/small/db
}

# fill_and_check: fills the store; the last big and the last empty-document
# start must both fail with ENOSPC.
fill_and_check() {
  run fill_store
  echo "filled: $output"
  [[ "$output" =~ ^[0-9]+\ ENOSPC\ [0-9]+\ ENOSPC$ ]] || fail "filling the store ended with: $output"
}

@test "a full disk: starts fail with ENOSPC, the daemon stays up, records read; freeing space recovers" {
  mount_small 4m
  mount_fs
  populate_records
  # 1 MiB to free later.
  head -c 1M /dev/zero >"$T/small/filler"
  fill_and_check
  assert_full
  assert_records_readable
  rm "$T/small/filler"
  assert_recovered
  assert_records_readable_but_run1
  unmount_fs
  assert_store_intact
  [ -z "$TOUCH_ON_FULL" ] || fail "$TOUCH_ON_FULL"
}

# The saved finished records still read as they were (run1 has moved on).
assert_records_readable_but_run1() {
  local n
  for n in fin1 fin2; do
    cmp "$T/rec.$n" "$M/$n.json" || fail "$n.json changed"
  done
}

@test "a store that cannot grow (LMDB: map_max=1 MiB; SQLite: a 6 MiB tmpfs, grown): ENOSPC, daemon up, records read, recovery" {
  if [ "$STORE" = lmdb ]; then
    mount_fs map_max=1048576
    populate_records
    # Finished records to delete for room.
    local i
    for i in 1 2 3 4; do
      start "old$i" "{\"args\":[\"$(head -c 60000 /dev/zero | tr '\0' o)\"]}"
      echo success >"$M/status/old$i"
    done
  else
    mount_small 6m
    mount_fs
    populate_records
  fi
  fill_and_check
  assert_full
  assert_records_readable
  local rm_on_full=
  if [ "$STORE" = lmdb ]; then
    # Room comes from deleting finished records; the map stays at its limit.
    # (If that fails, checked last, a larger limit gives the room instead.)
    run rm "$M/old1.json" "$M/old2.json" "$M/old3.json"
    if [ "$status" -eq 0 ]; then
      run fsop lookup "$M/old1.json"
      assert_output ENOENT
    else
      rm_on_full="rm of finished records on a full map failed: $output"
      unmount_fs
      mount_fs map_max=2097152
    fi
  else
    mount -o remount,size=12m "$T/small"
  fi
  assert_recovered
  assert_records_readable_but_run1
  unmount_fs
  assert_store_intact
  if [ "$STORE" = lmdb ]; then
    # The limit holds across a remount, and the records are all there.
    mount_fs map_max=1048576
    assert_records_readable_but_run1
    run cat "$M/status/after1"
    assert_output success
    unmount_fs
  fi
  [ -z "$rm_on_full" ] || fail "$rm_on_full"
  [ -z "$TOUCH_ON_FULL" ] || fail "$TOUCH_ON_FULL"
}

# fill_finished: starts and finishes runs with 4 KB documents until a call
# fails; prints "N ERRNO" (the runs finished, and the failure's errno).
fill_finished() {
  python3 - "$M" <<'PY'
import errno, os, sys

mnt = sys.argv[1]
doc = b'{"args":["' + b"f" * 4000 + b'"]}'
n, err = 0, "NONE"
try:
    for i in range(20000):
        fd = os.open("%s/new/done%d" % (mnt, i), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.write(fd, doc)
        finally:
            os.close(fd)
        fd = os.open("%s/status/done%d" % (mnt, i), os.O_WRONLY)
        try:
            os.write(fd, b"success")
        finally:
            os.close(fd)
        n += 1
except OSError as e:
    err = errno.errorcode.get(e.errno, str(e.errno))
print(n, err)
PY
}

@test "a full disk, then rm of 60 finished runs: a new start fits in the room they leave (LMDB: its free pages; SQLite: a grown disk)" {
  mount_small 8m
  mount_fs
  run fill_finished
  echo "filled: $output"
  [[ "$output" =~ ^[0-9]+\ ENOSPC$ ]] || fail "filling the store ended with: $output"
  [ "${output% *}" -gt 60 ] || fail "only ${output% *} runs fit"
  run fsop open "$M/new/before-rm" w,c '{}'
  assert_output ENOSPC
  if [ "$STORE" = sqlite ]; then
    # SQLite writes every change (a delete too) to its WAL first, which
    # grows on the disk: there the room has to come from the disk.
    mount -o remount,size=9m "$T/small"
  fi
  local i
  for i in $(seq 0 59); do rm "$M/done$i.json"; done
  run fsop lookup "$M/done0.json"
  assert_output ENOENT
  # Both kinds of start: a document, and an empty one committed at close.
  start after1 '{"tool_version":"after"}'
  run jq -r '[.execution_id, .tool_version, .outcome] | join(" ")' "$M/after1.json"
  assert_output "after1 after running"
  touch "$M/new/after2"
  echo success >"$M/status/after2"
  run cat "$M/status/after2"
  assert_output success
  echo success >"$M/status/after1"
  assert_alive
  unmount_fs
  assert_store_intact
  # What was acknowledged is there after a remount.
  mount_fs
  run cat "$M/status/after1" "$M/status/after2"
  assert_output $'success\nsuccess'
  run fsop lookup "$M/done59.json"
  assert_output ENOENT
  run fsop lookup "$M/done60.json"
  assert_output OK
}

# --- a store that cannot be written underneath the mount ---

# Clean errnos for a store that cannot be written: never ENOTCONN (a crash).
UNWRITABLE='EROFS EACCES EIO EPERM'

# clean_refusal OP PATH [ARG...]: fsop OP fails within 10 s with one of UNWRITABLE.
clean_refusal() {
  run timeout 10 python3 "$HELPERS_DIR/fsop.py" "$@"
  [ "$status" -eq 0 ] || fail "fsop $* did not answer within 10 s (status $status)"
  [[ " $UNWRITABLE " == *" $output "* ]] || fail "fsop $*: $output, expected one of: $UNWRITABLE"
}

# make_store_unwritable: the kernel refuses every write(2) to the store's
# files and every new file beside them (the immutable attribute, which root
# cannot write through either). A read-only remount of a filesystem the
# daemon holds files open for writing on is refused by the kernel (EBUSY),
# and the memory-mapped coordination files (SQLite's -shm, LMDB's lock.mdb)
# are left writable: a shared mapping of an immutable file faults (SIGBUS).
make_store_unwritable() {
  if [ "$STORE" = sqlite ]; then
    chattr +i "$DB" "$DB-wal" "$T/store"
  else
    chattr +i "$DB/data.mdb" "$DB" "$T/store"
  fi
}

# reads_clean: listings, records, status and views read as before or fail
# with a clean errno.
reads_clean() {
  python3 - "$M" "$T" <<'PY'
import errno, os, sys

mnt, tmp = sys.argv[1:]
bad = []
for path in ["", "status", "by-outcome/running", "by-outcome/error", "by-day"]:
    try:
        os.listdir(os.path.join(mnt, path))
    except OSError as e:
        if e.errno not in (errno.EIO, errno.EACCES, errno.EROFS, errno.EPERM):
            bad.append("ls %s: %s" % (path, errno.errorcode[e.errno]))
for name, path in [("fin1", "fin1.json"), ("fin2", "fin2.json"), ("run1", "run1.json"),
                   (None, "status/run1"), (None, "status/fin1"), (None, "latest")]:
    try:
        with open(os.path.join(mnt, path), "rb") as f:
            text = f.read()
        if name and text != open("%s/rec.%s" % (tmp, name), "rb").read():
            bad.append("%s changed" % path)
    except OSError as e:
        if e.errno not in (errno.EIO, errno.EACCES, errno.EROFS, errno.EPERM):
            bad.append("read %s: %s" % (path, errno.errorcode[e.errno]))
print("\n".join(bad) or "OK")
PY
}

@test "a store made unwritable underneath a running mount: clean errors, no crash, recovery when it comes back" {
  mkdir -p "$T/store"
  DB=$T/store/db
  mount_fs
  populate_records
  make_store_unwritable
  clean_refusal open "$M/new/ro1" w,c '{"tool_version":"x"}'
  run bash -c 'echo "{}" > "$1/new/ro2"' _ "$M"
  assert_failure
  clean_refusal write "$M/status/run1" success
  run bash -c 'echo success > "$1/status/run1"' _ "$M"
  assert_failure
  clean_refusal unlink "$M/fin1.json"
  clean_refusal utime "$M/status/run1"
  # An empty start: its close cannot carry an error (checked last).
  local touch_status=0
  touch "$M/new/ro3" 2>/dev/null || touch_status=$?
  run reads_clean
  assert_output OK
  run cat "$M/status/run1"
  assert_output running
  local n
  for n in ro1 ro2; do
    run fsop lookup "$M/$n.json"
    [ "$output" = ENOENT ] || fail "a refused start left $n.json behind ($output)"
  done
  assert_alive
  assert_logged 'refused finish of run1'
  # Writable again: everything works, nothing refused happened.
  chattr -i "$T/store" "$DB"
  if [ "$STORE" = sqlite ]; then chattr -i "$DB-wal"; else chattr -i "$DB/data.mdb"; fi
  assert_recovered
  assert_records_readable_but_run1
  run fsop lookup "$M/ro1.json"
  assert_output ENOENT
  rm "$M/fin1.json"
  unmount_fs
  assert_store_intact
  mount_fs
  run cat "$M/status/after1" "$M/status/run1"
  assert_output $'success\npartial'
  if [ "$touch_status" -eq 0 ]; then
    run fsop write "$M/status/ro3" success
    fail "touch new/ro3 on an unwritable store exited 0; finishing it gave $output"
  fi
}

# --- load ---

# reader K: lists the root, status/ and by-outcome/success and reads records
# and status files in a loop until $T/stop; every listing must hold no name
# twice and every name of the listing before it (nothing is deleted). Writes
# the number of rounds to $T/reader.K, or the first problem to $T/reader.K.err.
reader() {
  python3 - "$M" "$T" "$1" <<'PY'
import json, os, random, sys

mnt, tmp, k = sys.argv[1:]
seen = {}
rounds = 0


def fail(msg):
    open("%s/reader.%s.err" % (tmp, k), "w").write(msg + "\n")
    sys.exit(1)


try:
    while not os.path.exists(tmp + "/stop"):
        for d in ("", "status", "by-outcome/success"):
            names = os.listdir(os.path.join(mnt, d))
            now = set(names)
            if len(now) != len(names):
                dup = sorted(n for n in now if names.count(n) > 1)[:5]
                fail("listing of /%s shows names twice: %s" % (d, dup))
            missing = seen.get(d, set()) - now
            if missing:
                fail("listing of /%s misses %s that existed before" % (d, sorted(missing)[:5]))
            seen[d] = now
        records = [n for n in seen[""] if n.endswith(".json")]
        for n in random.sample(records, min(20, len(records))):
            with open(os.path.join(mnt, n), "rb") as f:
                rec = json.loads(f.read())
            if rec["execution_id"] + ".json" != n:
                fail("%s holds %s" % (n, rec["execution_id"]))
            with open(os.path.join(mnt, "status", rec["execution_id"])) as f:
                if f.read().strip() not in ("running", "success", "error", "partial"):
                    fail("status of %s unreadable" % n)
        rounds += 1
except OSError as e:
    fail("%s: %s" % (e.filename, e.strerror))
open("%s/reader.%s" % (tmp, k), "w").write("%d\n" % rounds)
PY
}

@test "load: 8 writers each start and finish 2,000 runs while 2 readers list and cat: no error, nothing lost, no name twice" {
  mount_fs
  local t0 k
  t0=$(date +%s)
  READER_PIDS=()
  for k in 1 2; do
    reader "$k" 3>&- &
    READER_PIDS+=($!)
  done
  start_writers 8 2000 finish
  local failed=0
  wait_writers || failed=1
  touch "$T/stop"
  for k in "${READER_PIDS[@]}"; do wait "$k" || failed=1; done
  READER_PIDS=()
  echo "8 x 2000 runs in $(( $(date +%s) - t0 )) s; reader rounds: $(cat "$T"/reader.? 2>/dev/null | tr '\n' ' ')"
  [ "$failed" -eq 0 ] || fail "$(cat "$T"/err.* "$T"/reader.*.err 2>/dev/null)"
  [ "$(cat "$T/reader.1")" -ge 3 ] && [ "$(cat "$T/reader.2")" -ge 3 ] ||
    fail "the readers did too few rounds to tell"
  # 16,000 records, all finished, each as its writer wrote it.
  [ "$(ls "$M/status" | wc -l)" -eq 16000 ]
  [ "$(ls -f "$M/by-outcome/running" | grep -c '\.json$')" -eq 0 ]
  run verify_acks 16000
  echo "$output"
  assert_success
  [ "$(grep -c ' running$' "$T"/ack.w* | awk -F: '{ s += $2 } END { print s }')" -eq 16000 ]
  [ "$(grep -vc ' running$' "$T"/ack.w* | awk -F: '{ s += $2 } END { print s }')" -eq 16000 ]
  unmount_fs
  assert_store_intact
}
