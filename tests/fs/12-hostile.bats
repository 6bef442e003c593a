#!/usr/bin/env bats
# Hostile input: quotes, NULs, invalid UTF-8 and control characters in every
# field, value and name; names the kernel or the daemon must refuse; deeply
# nested JSON; thousands of starts held open; oversized documents, values and
# streams. Each is refused with a clean errno (or kept exactly when valid),
# logged, bounded in time and memory, and the daemon lives on.
load helper
bats_require_minimum_version 1.5.0

# The daemon's resident memory stays under this (KiB) whatever it is fed.
# The daemon's memory bound. Under AddressSanitizer (EXECLOG_SANITIZED, set by
# CI's sanitized run) RSS is mostly the sanitizer's shadow and quarantine, and
# its leak check at exit speaks for memory: the bound there only catches a runaway.
RSS_BOUND_KIB=$((100 * 1024))
[ -z "${EXECLOG_SANITIZED:-}" ] || RSS_BOUND_KIB=$((1024 * 1024))
export RSS_BOUND_KIB

# hostile <<'PY' ... PY: runs the Python script on stdin with the helpers
# below defined (M the mount, PID the daemon); the script reports each
# problem and ends with done(SUMMARY), which prints the summary and the
# problems, and exits 1 if there were any.
hostile() {
  python3 - "$M" "$PID" "$@" 3<&0 <<'PY'
import errno, json, os, sys, time

M, PID = sys.argv[1], sys.argv[2]
problems = []


def problem(msg):
    problems.append(msg)


def name_of(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def write_all(fd, data):
    """Writes all of DATA, as write(2) callers do after a short write."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def start(name, *writes):
    """Opens new/NAME, writes each DATA (bytes) in full, closes: OK or the first errno."""
    path = os.path.join(M.encode(), b"new", name if isinstance(name, bytes) else name.encode())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    except OSError as e:
        return name_of(e)
    try:
        for w in writes:
            write_all(fd, w)
        return "OK"
    except OSError as e:
        return name_of(e)
    finally:
        os.close(fd)


def finish(name, value):
    """One write(2) of VALUE (bytes) to status/NAME: OK or the errno."""
    try:
        fd = os.open("%s/status/%s" % (M, name), os.O_WRONLY)
    except OSError as e:
        return name_of(e)
    try:
        os.write(fd, value)
        return "OK"
    except OSError as e:
        return name_of(e)
    finally:
        os.close(fd)


def lookup(rel):
    """OK if MOUNT/REL exists, else the errno."""
    try:
        os.lstat(os.path.join(M.encode(), rel if isinstance(rel, bytes) else rel.encode()))
        return "OK"
    except OSError as e:
        return name_of(e)


def record(name):
    """The record of NAME, parsed; checks it is whole JSON of its st_size."""
    path = "%s/%s.json" % (M, name)
    with open(path, "rb") as f:
        text = f.read()
    if os.stat(path).st_size != len(text):
        problem("%s.json: st_size %d, read %d bytes" % (name, os.stat(path).st_size, len(text)))
    if not text.endswith(b"\n"):
        problem("%s.json does not end in a newline" % name)
    return json.loads(text)


def raw(name):
    with open("%s/%s.json" % (M, name), "rb") as f:
        return f.read()


def rss_kib():
    for line in open("/proc/%s/status" % PID):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


# Inside a JSON string, raw: each makes a document or value invalid (an
# unescaped quote, a NUL, a control character, invalid UTF-8: overlong,
# surrogate, past U+10FFFF, cut short, a lone continuation byte; an escaped
# NUL or lone surrogate; an unknown or short escape).
BAD_IN_STRING = [
    b'a"b', b"a\x00b", b"\x00", b"a\x01b", b"\x1f", b"a\nb", b"a\tb", b"a\rb", b"\x1b[31m",
    b"\xff", b"\xfe", b"a\x80b", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
    b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xe2\x82x",
    b"\\u0000", b"a\\u0000b", b"\\ud800", b"\\udc00", b"\\ud800\\u0041", b"\\x41",
    b"\\q", b"\\u12x4", b"\\'"]
# Inside a JSON string, valid: kept exactly as JSON decodes them (escaped
# quotes and controls, DEL and U+0080 raw, a surrogate pair, U+10FFFF, a BOM).
GOOD_IN_STRING = [
    b'a\\"b', b"\\\\", b"\\n\\t\\r\\b\\f", b"\\u0001\\u001f", b"\\u001b[31m",
    b"\x7f", b"\\u007f", b"\\/", b"\\u00e9", "\u00e9\U0001F600".encode(),
    b"\\ud83d\\ude00", b"'", b"\\u2028", b"\xef\xbb\xbf", b"\xf4\x8f\xbf\xbf", b"\xc2\x80",
    b"<script>", b"$(id)"]


def done(summary):
    print(summary)
    for p in problems[:30]:
        print(p)
    if len(problems) > 30:
        print("... and %d more" % (len(problems) - 30))
    sys.exit(1 if problems else 0)


exec(os.fdopen(3).read())
PY
}

# assert_bounded: the daemon answers and its peak memory stayed bounded.
assert_bounded() {
  assert_alive
  local hwm
  hwm=$(hwm_kib)
  [ "$hwm" -lt "$RSS_BOUND_KIB" ] || fail "the daemon's peak RSS is $hwm KiB"
}

# refusals: how many refusals the daemon has logged.
refusals() {
  grep -c '^execlogfs: refused ' "$LOG" || true
}

# --- bytes in fields, values and names ---

@test "quotes, control characters, NULs and invalid UTF-8 in every start field: EINVAL, or kept exactly when valid" {
  mount_fs
  run hostile <<'PY'
bad, good = BAD_IN_STRING, GOOD_IN_STRING
places = [(b'{"tool_version":"', b'"}', "tool_version", lambda r: r["tool_version"]),
          (b'{"root":"', b'"}', "root", lambda r: r["root"]),
          (b'{"db_path":"', b'"}', "db_path", lambda r: r["db_path"]),
          (b'{"args":["', b'"]}', "args[0]", lambda r: r["args"][0]),
          (b'{"args":["ok","', b'"],"root":null}', "args[1]", lambda r: r["args"][1]),
          (b'{"tool_version":"v","args":["', b'"],"db_path":"d"}', "args[0] among others",
           lambda r: r["args"][0])]
refused = accepted = 0
for head, tail, field, get in places:
    for x in bad:
        got = start("h", head + x + tail)
        if got != "EINVAL":
            problem("%s %r: %s, not EINVAL" % (field, x, got))
        elif lookup("h.json") != "ENOENT":
            problem("%s %r: refused, but h.json is there" % (field, x))
        refused += 1
    for x in good:
        accepted += 1
        name = "v%d" % accepted
        got = start(name, head + x + tail)
        if got != "OK":
            problem("%s %r: %s, not accepted" % (field, x, got))
            continue
        want = json.loads(b'"' + x + b'"')
        rec = record(name)
        if get(rec) != want:
            problem("%s %r: stored %r, expected %r" % (field, x, get(rec), want))
# A hostile key, valid or not as a string, is no key of a start.
for x in bad + good:
    got = start("h", b'{"' + x + b'":"a"}')
    if got != "EINVAL":
        problem("key %r: %s, not EINVAL" % (x, got))
    refused += 1
# The name refused so often starts fine in the end.
if start("h", b'{"tool_version":"fine"}') != "OK" or record("h")["tool_version"] != "fine":
    problem("h does not start after its refusals")
done("%d refused, %d accepted" % (refused, accepted))
PY
  echo "$output"
  assert_success
  local refused=${lines[0]%% refused*}
  # The shell sees the refusal too.
  run bash -c 'printf "{\"root\":\"a\x01b\"}" > "$1/new/s1"' _ "$M"
  assert_failure
  run bash -c 'printf "{\"args\":[\"a\"b\"]}" > "$1/new/s2"' _ "$M"
  assert_failure
  run fsop lookup "$M/s1.json"
  assert_output ENOENT
  [ "$(refusals)" -ge "$refused" ] || fail "$refused refused, $(refusals) refusals logged"
  assert_logged 'start document'
  assert_bounded
}

@test "quotes, control characters, NULs and invalid UTF-8 in finish values, JSON and word forms: EINVAL and nothing changed, or kept exactly" {
  mount_fs
  run hostile <<'PY'
bad, good = BAD_IN_STRING, GOOD_IN_STRING
if start("target") != "OK":
    problem("target did not start")
before = raw("target")
refused = accepted = 0


def refuse(value, what):
    global refused
    refused += 1
    got = finish("target", value)
    if got != "EINVAL":
        problem("%s %r: %s, not EINVAL" % (what, value, got))
    if raw("target") != before:
        problem("%s %r changed target.json" % (what, value))


def accept(value, what, outcome, message):
    global accepted
    accepted += 1
    name = "f%d" % accepted
    if start(name) != "OK":
        problem("%s did not start" % name)
        return
    got = finish(name, value)
    if got != "OK":
        problem("%s %r: %s, not accepted" % (what, value, got))
        return
    rec = record(name)
    if (rec["outcome"], rec["error_message"]) != (outcome, message):
        problem("%s %r: stored %r, expected %r" % (what, value,
                [rec["outcome"], rec["error_message"]], [outcome, message]))


# JSON: the message, the outcome, and a key.
for x in bad:
    refuse(b'{"outcome":"error","error_message":"' + x + b'"}', "JSON error_message")
    refuse(b'{"outcome":"' + x + b'"}', "JSON outcome")
    refuse(b'{"outcome":"success' + x + b'"}', "JSON outcome")
    refuse(b'{"outcome":"partial","' + x + b'":1}', "JSON key")
for x in good:
    accept(b'{"outcome":"error","error_message":"' + x + b'"}', "JSON error_message", "error",
           json.loads(b'"' + x + b'"'))
    refuse(b'{"outcome":"success' + x + b'"}', "JSON outcome")
# Words: only the three, exactly, white space around.
for w in [b'"success"', b"success\x00", b"\x00success", b"succ\xffess", b"success\x01",
          b"\x01success", b"Success", b"SUCCESS", b"success;rm -rf /", b"success error",
          b"running", b"\xef\xbb\xbfsuccess", b"success\xc3", b"'success'", b"\\success",
          b"success\\n", b"error\x00: x", b"error:\x00", b"error: \xff", b"error: a\x00b",
          b"error: \xed\xa0\x80", b"error: \xc0\xaf"]:
    refuse(w, "word")
# error: MESSAGE keeps the message byte for byte (no unescaping, no quoting).
for x in [b'he said "hi"', b"it's", b"a\\u0000b", b"C:\\path\\n", b"a\tb", b"a\x01b",
          b"\x1b[31mred\x1b[0m", b"line1\nline2", b"a\x7fb", "é😀".encode(), b"{}",
          b'{"outcome":"success"}', b"$(id) `id`", b"%s%n%x"]:
    accept(b"error: " + x, "error: word", "error", x.decode())
accept(b"\t success \r\n", "word", "success", None)
if raw("target") != before or open("%s/status/target" % M).read() != "running\n":
    problem("target changed")
done("%d refused, %d accepted" % (refused, accepted))
PY
  echo "$output"
  assert_success
  local refused=${lines[0]%% refused*}
  start sh
  run bash -c 'printf "{\"outcome\":\"error\",\"error_message\":\"a\xffb\"}" > "$1/status/sh"' _ "$M"
  assert_failure
  run bash -c 'printf "error: a\0b" > "$1/status/sh"' _ "$M"
  assert_failure
  run cat "$M/status/sh"
  assert_output running
  [ "$(refusals)" -ge "$refused" ] || fail "$refused refused, $(refusals) refusals logged"
  assert_logged 'refused finish of target'
  assert_bounded
}

@test "names with quotes, control characters, shell syntax and invalid UTF-8 are EINVAL at open, logged, and start nothing" {
  mount_fs
  run hostile <<'PY'
names = [b'a"b', b"a'b", b"a\\b", b"a\x01b", b"\x1b[31mred", b"a\nb", b"a\rb", b"a\tb",
         b"a\x7fb", b"\xff", b"a\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"a b", b"$(id)",
         b"`id`", b"a;b", b"a|b", b"a&b", b"a*", b"%s%n", b"{}", b"a\xe2\x80\xaeb",
         b"\xef\xbb\xbfa", "é".encode(), b"~root", b"a=b",
         b"<x>", b"a#b", b"a!b", b"a?b", b"a,b", b"[x]"]
# (A NUL cannot be in a name: the kernel ends every path at the first NUL.)
for n in names:
    got = start(n, b"{}")
    if got != "EINVAL":
        problem("new/%r: %s, not EINVAL" % (n, got))
    got = start(n)
    if got != "EINVAL":
        problem("new/%r (empty): %s, not EINVAL" % (n, got))
    for rel in (b"status/" + n, n + b".json"):
        got = lookup(rel)
        if got not in ("ENOENT", "EINVAL"):
            problem("lookup of %r: %s" % (rel, got))
if os.listdir("%s/status" % M) or os.listdir("%s/new" % M):
    problem("something started: %r" % os.listdir("%s/status" % M))
done("%d names refused" % len(names))
PY
  echo "$output"
  assert_success
  run touch "$M/new/a\"b" "$M/new/\$(id)" "$M/new/a"$'\x1b'"b"
  assert_failure
  [ "$(refusals)" -ge 66 ] || fail "only $(refusals) refusals logged"
  assert_logged 'byte 0x22 not allowed'
  run ls -A "$M/status"
  assert_output ''
  assert_bounded
}

@test "names ., .., ..., 256 and 4,096 bytes and paths past PATH_MAX: a clean errno and nothing started" {
  mount_fs
  start keep
  local n256 n4096 deep
  n256=$(printf 'n%.0s' $(seq 256))
  n4096=$(printf 'm%.0s' $(seq 4096))
  deep=$(printf 'd/%.0s' $(seq 2100))x
  # What a clean refusal of each may be: the kernel answers some itself.
  local -A want=(
    [.]='EISDIR EEXIST EINVAL EPERM EACCES'
    [..]='EISDIR EEXIST EINVAL EPERM EACCES'
    [...]='EINVAL'
    [$n256]='ENAMETOOLONG'
    [$n4096]='ENAMETOOLONG'
    [$deep]='ENAMETOOLONG ENOENT'
  )
  local n got
  for n in . .. ... "$n256" "$n4096" "$deep"; do
    for got in "$(fsop open "$M/new/$n" w,c '{}')" "$(fsop open "$M/new/$n" w,c)" \
               "$(fsop open "$M/new/$n" w,c,x)"; do
      [[ " ${want[$n]} " == *" $got "* ]] || fail "new/${n:0:20}… (${#n} bytes): $got, expected one of ${want[$n]}"
    done
    run touch "$M/new/$n"
    assert_failure
  done
  # Such a name is no execution: looking it up, removing or finishing it
  # is ENOENT, or ENAMETOOLONG where the kernel or the daemon checks length.
  for n in "$n256" "$n4096"; do
    for got in "$(fsop lookup "$M/status/$n")" "$(fsop lookup "$M/$n.json")" \
               "$(fsop unlink "$M/$n.json")" "$(fsop write "$M/status/$n" success)"; do
      [[ "$got" == ENAMETOOLONG || "$got" == ENOENT ]] || fail "a ${#n}-byte name: $got"
    done
  done
  # ., .. and ... in status/ and at the root change nothing either.
  run fsop write "$M/status/.." success
  refute_output OK
  run fsop unlink "$M/status/..."
  assert_output ENOENT
  run fsop unlink "$M/....json"
  assert_output ENOENT
  run ls -A "$M/status"
  assert_output keep
  run ls -A "$M/new"
  assert_output ''
  [ "$(cat "$M/status/keep")" = running ]
  assert_logged 'longer than 255 bytes'
  assert_bounded
}

# --- nesting ---

@test "JSON nested 10,000 and 500,000 deep in a start or a finish: EINVAL within a second, daemon alive" {
  mount_fs
  start target
  run hostile <<'PY'
def timed(what, fn, *args):
    t = time.monotonic()
    got = fn(*args)
    took = time.monotonic() - t
    if took > 1.0:
        problem("%s took %.2f s" % (what, took))
    return got


d = 10000
starts = {
    "[ x 10k": b"[" * d + b"]" * d,
    "{ x 10k": b'{"a":' * d + b"1" + b"}" * d,
    "args [ x 10k": b'{"args":' + b"[" * d + b"]" * d + b"}",
    "args [[\"a\"]] x 10k": b'{"args":[' + b"[" * d + b'"a"' + b"]" * d + b"]}",
    "root { x 10k": b'{"root":' + b'{"a":' * d + b"null" + b"}" * d + b"}",
    "tool_version [{ x 10k": b'{"tool_version":' + b'[{"a":' * d + b"0" + b"}]" * d + b"}",
    "args [ x 500k": b'{"args":' + b"[" * 500000 + b"]" * 500000 + b"}",
    "[ x 1 MiB": b"[" * (1 << 20),
}
for what, doc in starts.items():
    got = timed("start " + what, start, "deep", doc)
    if got != "EINVAL":
        problem("start %s: %s, not EINVAL" % (what, got))
    if lookup("deep.json") != "ENOENT":
        problem("start %s left deep.json" % what)
# Unterminated: refused at the write, or, incomplete at close, nothing started.
for what, doc in {"args [ x 10k, open": b'{"args":' + b"[" * d,
                  "{ x 10k, open": b'{"tool_version":"x","root":' + b'{"a":' * d}.items():
    got = timed("start " + what, start, "deep", doc)
    if got not in ("EINVAL", "OK"):
        problem("start %s: %s" % (what, got))
    if lookup("deep.json") != "ENOENT":
        problem("start %s started deep" % what)
before = raw("target")
finishes = {
    "[ x 10k": b"[" * d + b"]" * d,
    "{ x 10k": b'{"a":' * d + b'"error"' + b"}" * d,
    "error_message [ x 10k": b'{"outcome":"error","error_message":' + b"[" * d + b"]" * d + b"}",
    "files_indexed { x 10k": b'{"outcome":"success","files_indexed":' + b'{"a":' * d + b"1" + b"}" * d + b"}",
    "[ x 30k": b"[" * 30000 + b"]" * 30000,
    "error: [ x 60k": b"error: " + b"[" * 60000,
}
for what, value in finishes.items():
    got = timed("finish " + what, finish, "target", value)
    want = "OK" if what.startswith("error: ") else "EINVAL"
    if got != want:
        problem("finish %s: %s, not %s" % (what, got, want))
    if want == "EINVAL" and raw("target") != before:
        problem("finish %s changed target" % what)
if record("target")["error_message"] != "[" * 60000:
    problem("the error: message of 60,000 [ was not kept")
done("%d starts and %d finishes nested deep" % (len(starts) + 2, len(finishes)))
PY
  echo "$output"
  assert_success
  start after '{"args":[]}'
  run cat "$M/status/after"
  assert_output running
  # Each refusal logged: 8 starts, 5 finishes, and the 2 open ones (at the
  # write or at close).
  [ "$(refusals)" -ge 15 ] || fail "only $(refusals) refusals logged"
  assert_bounded
}

# --- many starts at once ---

@test "5,000 new/ files held open without content: each opens or fails cleanly, memory bounded, each opened one starts at close" {
  mount_fs
  run hostile <<'PY'
import resource

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 6000), max(hard, 6000)))
base = rss_kib()
fds, refused = {}, {}
for i in range(5000):
    name = "held%d" % i
    try:
        fds[name] = os.open("%s/new/%s" % (M, name), os.O_WRONLY | os.O_CREAT, 0o644)
    except OSError as e:
        refused[name] = name_of(e)
clean = {"EMFILE", "ENFILE", "ENOSPC", "EAGAIN", "EBUSY", "ENOMEM", "EUSERS"}
for name, err in refused.items():
    if err not in clean:
        problem("new/%s: %s at open" % (name, err))
held = rss_kib()
if held > int(os.environ["RSS_BOUND_KIB"]):
    problem("RSS %d KiB with %d starts held open (%d KiB before)" % (held, len(fds), base))
# While held, none has started, and new/ still looks empty.
if os.listdir("%s/new" % M) or lookup("held0.json") != "ENOENT":
    problem("a held start is visible before its close")
for fd in fds.values():
    os.close(fd)
# Each close has returned: each opened start is there (a lookup waits for it).
for name in fds:
    try:
        with open("%s/status/%s" % (M, name)) as f:
            if f.read() != "running\n":
                problem("%s is not running" % name)
    except OSError as e:
        problem("%s, opened and closed, is not there: %s" % (name, name_of(e)))
for name in refused:
    if lookup("%s.json" % name) != "ENOENT":
        problem("%s, refused at open, started" % name)
n = len(os.listdir("%s/status" % M))
if n != len(fds):
    problem("%d executions, %d opened" % (n, len(fds)))
done("%d opened, %d refused (%s); RSS %d KiB before, %d KiB held" % (
    len(fds), len(refused), ",".join(sorted(set(refused.values()))), base, held))
PY
  echo "$output"
  assert_success
  touch "$M/new/after" && echo success >"$M/status/after"
  assert_bounded
  unmount_fs
  assert_store_intact
}

# --- sizes ---

@test "a 1 MiB + 1 document, a 64 KiB + 1 finish value and 100 MiB streams: EFBIG at the right write, memory bounded" {
  mount_fs
  start target
  run hostile <<'PY'
MiB = 1 << 20


def stream(path, chunks, flags=os.O_WRONLY | os.O_CREAT):
    """Writes each chunk in full until a write fails, then tries 3 more: the
    bytes written before the failure, its errno, and the results after."""
    fd = os.open(path, flags, 0o644)
    off, first, after = 0, None, set()
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            try:
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                    if first is None:
                        off += n
                if first is not None:
                    after.add("OK")
            except OSError as e:
                if first is None:
                    first = name_of(e)
                else:
                    after.add(name_of(e))
            if len(after) >= 3:
                break
    finally:
        os.close(fd)
    return off, first, after


def chunks(head, fill, total, size):
    """TOTAL bytes, HEAD then FILL repeated, in pieces of SIZE."""
    sent = 0
    while sent < total:
        piece = head + fill * (min(size, total - sent) - len(head))
        head = b""
        sent += len(piece)
        yield piece


new = "%s/new/" % M
# 1 MiB + 1 bytes in 64 KiB writes: the 17th write, the one past 1 MiB, is EFBIG.
off, first, after = stream(new + "big", chunks(b'{"tool_version":"', b" ", MiB + 1, 65536))
if (off, first) != (16 * 65536, "EFBIG"):
    problem("1 MiB + 1 in 64 KiB writes: %s after %d bytes" % (first, off))
# One write(2) of 1 MiB + 1, and of 2 MiB: the kernel hands each on in
# pieces, so it ends short (the piece past 1 MiB is refused), and the write
# of the rest, the one that goes past 1 MiB, is EFBIG.
for total in (MiB + 1, 2 * MiB):
    off, first, after = stream(new + "big", [b"{" + b" " * (total - 2) + b"}"])
    if first != "EFBIG" or off > MiB:
        problem("%d bytes in one write: %s after %d bytes" % (total, first, off))
# 100 MiB of white space, 64 KiB a write: EFBIG past 1 MiB, and no write after it works.
off, first, after = stream(new + "ws", chunks(b"", b" ", 100 * MiB, 65536))
if (off, first) != (16 * 65536, "EFBIG") or "OK" in after:
    problem("100 MiB of white space: %s after %d bytes, then %s" % (first, off, after))
# 100 MiB of one string.
off, first, after = stream(new + "str", chunks(b'{"tool_version":"', b"a", 100 * MiB, 1 << 20))
if (off, first) != (MiB, "EFBIG") or "OK" in after:
    problem("a 100 MiB string: %s after %d bytes, then %s" % (first, off, after))
# 100 MiB from /dev/zero: a NUL, EINVAL at the first write.
off, first, after = stream(new + "zero", chunks(b"", b"\0", 100 * MiB, 1 << 20))
if (off, first) != (0, "EINVAL"):
    problem("100 MiB of NULs: %s after %d bytes" % (first, off))
for n in ("big", "ws", "str", "zero"):
    if lookup(n + ".json") != "ENOENT":
        problem("%s started" % n)
before = raw("target")
# A finish value of 64 KiB + 1, and 100 MiB in one write(2).
for what, value in (("64 KiB + 1", b"success".ljust(65537)),
                    ("100 MiB", b"success".ljust(100 * MiB))):
    got = finish("target", value)
    if got != "EFBIG":
        problem("a finish value of %s: %s, not EFBIG" % (what, got))
off, first, after = stream("%s/status/target" % M, chunks(b"", b" ", 100 * MiB, MiB),
                                 os.O_WRONLY)
if first not in ("EFBIG", "EINVAL") or off != 0:
    problem("100 MiB to status/target in 1 MiB writes: %s after %d bytes" % (first, off))
if raw("target") != before:
    problem("target changed")
if rss_kib() > 100 * 1024:
    problem("RSS %d KiB" % rss_kib())
done("checked")
PY
  # The shell's view first; the Python findings are asserted last.
  local py_status=$status py_output=$output
  run bash -c 'tr "\0" " " </dev/zero | head -c 100M | dd of="$1/new/dd" bs=64k 2>&1' _ "$M"
  assert_failure
  assert_output --partial 'File too large'
  run bash -c 'dd if=/dev/zero of="$1/new/dz" bs=1M count=100 2>&1' _ "$M"
  assert_failure
  assert_output --partial 'Invalid argument'
  run bash -c 'dd if=/dev/zero bs=1M count=100 | tr "\0" " " | dd of="$1/status/target" bs=1M 2>&1' _ "$M"
  assert_failure
  run fsop lookup "$M/dd.json"
  assert_output ENOENT
  run cat "$M/status/target"
  assert_output running
  assert_logged 'File too large'
  assert_bounded
  echo "$py_output"
  [ "$py_status" -eq 0 ]
}
