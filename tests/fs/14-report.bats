#!/usr/bin/env bats
# index.html and metrics.prom: what promtool, node_exporter's textfile
# collector and a headless Chromium make of them; and that they follow the
# log at the next read, also under -o ro and after another program wrote.

load helper

teardown() {
  if [ -n "${EXPORTER_PID:-}" ]; then
    kill "$EXPORTER_PID" 2>/dev/null || true
    wait "$EXPORTER_PID" 2>/dev/null || true
    EXPORTER_PID=
  fi
  teardown_mount
}

# A small log: 3 success, 1 error, 1 partial, 1 running.
populate() {
  local i
  for i in 1 2 3; do
    start "ok-$i" '{"tool_version": "1.0", "args": ["make", "-j4"]}'
    echo success >"$M/status/ok-$i"
  done
  start bad-1 '{"args": ["lint", "--strict"]}'
  echo 'error: 2 files failed' >"$M/status/bad-1"
  start half-1
  echo '{"outcome": "partial", "files_indexed": 3}' >"$M/status/half-1"
  start still-1
}

# metric NAME: the value of the sample NAME (with its labels, as written).
metric() {
  awk -v n="$1" '$1 == n { print $2 }' "$T/metrics.prom"
}

@test "the root lists index.html and metrics.prom, read-only regular files" {
  mount_fs
  run ls "$M"
  assert_success
  assert_line index.html
  assert_line metrics.prom
  run stat -c '%F %a' "$M/index.html" "$M/metrics.prom"
  assert_output $'regular file 444\nregular file 444'
  run fsop open "$M/index.html" w
  assert_output EACCES
  run fsop unlink "$M/metrics.prom"
  assert_output EACCES
  assert_alive
}

@test "st_size is what cat and cp read, on an empty log and on a busy one" {
  mount_fs
  for round in empty busy; do
    [ "$round" = empty ] || populate
    for f in index.html metrics.prom; do
      size=$(stat -c %s "$M/$f")
      cp "$M/$f" "$T/$f"
      [ "$(wc -c <"$T/$f")" -eq "$size" ] || fail "$round: $f: stat says $size, cp copied $(wc -c <"$T/$f")"
      [ "$size" -gt 0 ]
    done
  done
  # A start through the mount shows at once.
  before=$(grep -c '<tr class="o-' "$T/index.html")
  start new-1
  run grep -c '<tr class="o-' "$M/index.html"
  assert_output $((before + 1))
}

@test "metrics.prom passes promtool and counts what was done" {
  mount_fs
  populate
  cp "$M/metrics.prom" "$T/metrics.prom"
  run promtool check metrics <"$T/metrics.prom"
  assert_success
  [ "$(metric 'execlog_executions{outcome="running"}')" = 1 ]
  [ "$(metric 'execlog_executions{outcome="success"}')" = 3 ]
  [ "$(metric 'execlog_executions{outcome="error"}')" = 1 ]
  [ "$(metric 'execlog_executions{outcome="partial"}')" = 1 ]
  [ "$(metric execlog_running)" = 1 ]
  [ "$(metric execlog_duration_seconds_count)" = 5 ]
  [ "$(metric 'execlog_duration_seconds_bucket{le="+Inf"}')" = 5 ]
  # The durations' sum and the latest start and finish, from the records.
  sum_ms=$(jq -s 'map(.duration_ms // 0) | add' "$M"/*.json)
  awk -v s="$(metric execlog_duration_seconds_sum)" -v ms="$sum_ms" \
    'BEGIN { exit !(s * 1000 > ms - 1 && s * 1000 < ms + 1) }' ||
    fail "sum $(metric execlog_duration_seconds_sum) s, records say $sum_ms ms"
  [ "$(metric execlog_last_start_timestamp_seconds | cut -d. -f1)" = \
    "$(jq .started_at "$M/still-1.json")" ]
  [ "$(metric execlog_last_finish_timestamp_seconds)" = \
    "$(jq -s 'map(.finished_at // 0) | max' "$M"/*.json)" ]
  # Buckets are cumulative, and every short run is in the first ones.
  awk '/^execlog_duration_seconds_bucket/ { if ($2 < last) exit 1; last = $2 }' "$T/metrics.prom"
}

@test "an empty log has every series, at zero" {
  mount_fs
  cp "$M/metrics.prom" "$T/metrics.prom"
  run promtool check metrics <"$T/metrics.prom"
  assert_success
  for o in running success error partial; do
    [ "$(metric "execlog_executions{outcome=\"$o\"}")" = 0 ]
  done
  [ "$(metric execlog_duration_seconds_count)" = 0 ]
  [ "$(metric execlog_last_start_timestamp_seconds)" = 0.000 ]
}

@test "node_exporter's textfile collector exports the mount's metrics" {
  mount_fs
  populate
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  prometheus-node-exporter --web.listen-address="127.0.0.1:$port" \
    --collector.disable-defaults --collector.textfile \
    --collector.textfile.directory="$M" >"$T/exporter.log" 2>&1 &
  EXPORTER_PID=$!
  poll 20 curl -sf -o "$T/scrape" "http://127.0.0.1:$port/metrics" || {
    cat "$T/exporter.log"
    fail "node_exporter did not answer"
  }
  run grep -F 'execlog_executions{outcome="success"} 3' "$T/scrape"
  assert_success
  run grep -F 'execlog_duration_seconds_count 5' "$T/scrape"
  assert_success
  run grep -F 'node_textfile_scrape_error 0' "$T/scrape"
  assert_success
}

# chromium [FLAGS...] URL: headless Chromium with a profile of the test's own.
chromium_run() {
  timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$T/chromium" "$@" 2>>"$T/chromium.log"
}

# png_colors FILE: how many distinct colors the PNG (8-bit RGB or RGBA) has.
png_colors() {
  python3 - "$1" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6), (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, colors, i = bytearray(stride), set(), 0
for y in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 3 == 0:
        colors.update(bytes(line[j:j + 3]) for j in range(0, stride, bpp * 3))
    prev = line
print(len(colors))
PY
}

# A log with a hostile execution: markup in every string the store keeps.
populate_hostile() {
  populate
  start 'evil:1@x+y' '{"tool_version": "<script>document.title=\"pwned\"</script>", "args": ["</script><script>document.title=\"pwned2\"</script>", "\"><img src=x onerror=document.title=1>"], "root": "<b>root</b>", "tags": {"x": "</script><script>document.title=\"pwned4\"</script>", "y": "\"><img src=x onerror=document.title=5>"}}'
  printf '%s' '{"outcome": "error", "error_message": "<script>document.title=\"pwned3\"</script> & \u003c/td\u003e"}' >"$M/status/evil:1@x+y"
}

# check_dom DOM: one row per execution, both charts, the hostile strings as text.
check_dom() {
  local dom=$1
  [ "$(grep -o '<tr class="o-' "$dom" | wc -l)" -eq 7 ] || fail "$(grep -o '<tr class="o-' "$dom" | wc -l) rows, not 7"
  grep -q '<figure id="durations"><h2>[^<]*</h2><svg' "$dom" || fail "no durations chart"
  grep -q '<figure id="per-day"><h2>[^<]*</h2><svg' "$dom" || fail "no per-day chart"
  [ "$(grep -o '<circle' "$dom" | wc -l)" -eq 6 ] || fail "not one point per finished run"
  grep -q '<rect' "$dom" || fail "no bars"
  grep -q '<title>execlogfs: execution log</title>' "$dom" || fail "the title was changed: a script ran"
  [ "$(grep -o '<script' "$dom" | wc -l)" -eq 1 ] || fail "a <script> element other than the page's own"
  grep -q '<img' "$dom" && fail "an <img> element was injected"
  grep -qF '&lt;script&gt;document.title="pwned"&lt;/script&gt;' "$dom" || fail "tool_version not shown as text"
  grep -qF '&lt;/script&gt;&lt;script&gt;' "$dom" || fail "args not shown as text"
  grep -qF '&lt;script&gt;document.title="pwned3"&lt;/script&gt; &amp; &lt;/td&gt;' "$dom" || fail "error_message not shown as text"
  grep -qF 'evil:1@x+y' "$dom" || fail "the hostile execution's row is missing"
  grep -qF '<a href="output/evil%3A1%40x%2By">evil:1@x+y</a>' "$dom" || fail "no link to the output"
  grep -qF '=&lt;/script&gt;&lt;script&gt;document.title="pwned4"&lt;/script&gt;</span>' "$dom" || fail "tag not shown as text"
}

@test "Chromium shows the table, both charts and hostile strings as text, with JavaScript" {
  mount_fs
  populate_hostile
  chromium_run --dump-dom "file://$M/index.html" >"$T/dom.html"
  check_dom "$T/dom.html"
  # The script ran: sortable headers, the filter's count, local times.
  grep -qF 'class="sortable"' "$T/dom.html" || fail "the table is not sortable"
  grep -qF '7 of 7 shown' "$T/dom.html" || fail "the filter did not run"
  chromium_run --screenshot="$T/page.png" --window-size=1280,900 "file://$M/index.html" >/dev/null
  colors=$(png_colors "$T/page.png")
  [ "$colors" -ge 20 ] || fail "the screenshot has $colors colors: blank?"
  # For the README: EXECLOG_SCREENSHOT=PATH keeps the picture.
  [ -z "${EXECLOG_SCREENSHOT:-}" ] || cp "$T/page.png" "$EXECLOG_SCREENSHOT"
}

@test "Chromium without JavaScript still shows the table and both charts" {
  mount_fs
  populate_hostile
  # --dump-dom prints nothing once scripts are off: the helper asks over DevTools.
  timeout 120 python3 "$HELPERS_DIR/report-browser.py" "$T/chromium" "file://$M/index.html" \
    "$T/dom.html" "$T/page.png"
  check_dom "$T/dom.html"
  grep -qF 'class="sortable"' "$T/dom.html" && fail "the script ran though JavaScript was off"
  grep -qF ' UTC</time>' "$T/dom.html" || fail "no UTC times without JavaScript"
  colors=$(png_colors "$T/page.png")
  [ "$colors" -ge 20 ] || fail "the screenshot has $colors colors: blank?"
}

@test "index.html of an empty log says so" {
  mount_fs
  run cat "$M/index.html"
  assert_success
  assert_output --partial 'id="no-runs"'
  assert_output --partial 'No finished runs yet'
  assert_output --partial 'No runs in the last 30 days'
}

# times FILE: its size, mtime and ctime, to the nanosecond.
times() {
  stat -c '%s %.9Y %.9Z' "$1"
}

# wait_clock SECONDS: returns once the clock has moved on by SECONDS, so
# that the reports' cache (a second) has surely been rendered again.
wait_clock() {
  local until=$(( $(date +%s%N) + $1 * 1000000000 ))
  poll $(( $1 + 5 )) bash -c "[ \$(date +%s%N) -ge $until ]"
}

@test "a log left alone: tar is clean, and the reports keep their bytes, size and times" {
  mount_fs
  populate
  run tar -cf /dev/null -C "$T" mnt
  assert_success
  for f in index.html metrics.prom; do
    times "$M/$f" >"$T/$f.times1"
    cp "$M/$f" "$T/$f.1"
  done
  wait_clock 2
  for f in index.html metrics.prom; do
    times "$M/$f" >"$T/$f.times2"
    cp "$M/$f" "$T/$f.2"
    diff "$T/$f.times1" "$T/$f.times2" || fail "$f: size or times moved while the log did not"
    cmp "$T/$f.1" "$T/$f.2" || fail "$f: the bytes moved while the log did not"
  done
  run tar -cf /dev/null -C "$T" mnt
  assert_success
  # A start is a change: the bytes and the time move, never back.
  start later-1
  for f in index.html metrics.prom; do
    times "$M/$f" >"$T/$f.times3"
    cp "$M/$f" "$T/$f.3"
    cmp -s "$T/$f.2" "$T/$f.3" && fail "$f: a start did not change it"
    read -r _ m2 _ <"$T/$f.times2"
    read -r _ m3 c3 <"$T/$f.times3"
    awk -v a="$m2" -v b="$m3" 'BEGIN { exit !(b > a) }' || fail "$f: mtime $m2 then $m3 after a start"
    [ "$m3" = "$c3" ] || fail "$f: mtime $m3, ctime $c3"
    # The log's last change: the start, whose time the record has too.
    [ "$m3" = "$(stat -c %.9Y "$M/later-1.json")" ] || fail "$f: mtime $m3, the start was at $(stat -c %.9Y "$M/later-1.json")"
  done
  # A remount changes nothing in the log, nor in them.
  unmount_fs
  mount_fs
  for f in index.html metrics.prom; do
    [ "$(times "$M/$f")" = "$(cat "$T/$f.times3")" ] || fail "$f: $(times "$M/$f") after a remount, $(cat "$T/$f.times3") before"
    cmp "$T/$f.3" "$M/$f" || fail "$f: a remount changed it"
  done
}

# args_cell ID: the args cell of ID's row in index.html, as text (HTML unescaped).
args_cell() {
  python3 - "$M/index.html" "$1" <<'PY'
import html, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
for row in re.findall(r'<tr class="o-[^"]*">.*?</tr>', page):
    if '">%s</a></td>' % html.escape(sys.argv[2]) in row:
        print(html.unescape(re.search(r'<td class="args">(.*?)</td>', row).group(1)))
        sys.exit(0)
sys.exit("no row for " + sys.argv[2])
PY
}

@test "index.html shows each run's own args, quoted as the shell reads them" {
  mount_fs
  start bare-1
  start args-1 '{"args": ["make", "-j4"]}'
  start bare-2
  start quoted-1 '{"args": ["echo", "'\''\"&<>", "a b", "", "$HOME", "tab\there", "new\nline", "back\\slash", "plain-1.0/x=y"]}'
  run args_cell bare-1
  assert_success
  assert_output ''
  run args_cell bare-2
  assert_success
  assert_output ''
  run args_cell args-1
  assert_output 'make -j4'
  # The shell gives back exactly the arguments the run was started with.
  text=$(args_cell quoted-1)
  eval "set -- $text"
  [ $# -eq 9 ] || fail "$# words from: $text"
  [ "$2" = "'\"&<>" ] || fail "second word: $2, from: $text"
  [ "$3" = 'a b' ] && [ "$4" = '' ] && [ "$5" = '$HOME' ] || fail "from: $text"
  [ "$6" = $'tab\there' ] && [ "$7" = $'new\nline' ] && [ "$8" = 'back\slash' ] || fail "from: $text"
  [ "$9" = plain-1.0/x=y ] || fail "from: $text"
  # Quoted only where the shell needs it.
  [ "${text%% *}" = echo ] || fail "from: $text"
  case "$text" in *' plain-1.0/x=y') ;; *) fail "a safe word was quoted: $text" ;; esac
  # And HTML-escaped in the page.
  grep -qF '&#39;&#39;\&#39;&#39;&quot;&amp;&lt;&gt;&#39;' "$M/index.html" || fail "not escaped as expected"
}

@test "index.html shows the first 1 KiB of a long command line, then …; the record keeps it whole" {
  mount_fs
  python3 - "$M" <<'PY'
import json, sys
args = ["tool"] + ["arg-%05d-é" % i for i in range(10000)]
with open(sys.argv[1] + "/new/long-1", "w") as f:
    f.write(json.dumps({"args": args}))
PY
  run jq '.args | length' "$M/long-1.json"
  assert_output 10001
  text=$(args_cell long-1)
  [ "${text:0:15}" = "tool arg-00000-" ] || fail "starts: ${text:0:40}"
  [ "${text: -1}" = "…" ] || fail "ends: ${text: -40}"
  [ "$(printf %s "$text" | wc -c)" -le 1027 ] || fail "$(printf %s "$text" | wc -c) bytes shown"
  # Cut at a character: valid UTF-8 throughout.
  printf %s "$text" | iconv -f UTF-8 -t UTF-8 >/dev/null || fail "not valid UTF-8"
  [ "$(stat -c %s "$M/index.html")" -lt 60000 ] || fail "index.html is $(stat -c %s "$M/index.html") bytes"
}

# cell ID COLUMN: the text of ID's cell in COLUMN (a header of the table) in index.html.
cell() {
  python3 - "$M/index.html" "$1" "$2" <<'PY'
import html, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
text = lambda h: html.unescape(re.sub(r"<[^>]*>", "", h))
heads = [text(h) for h in re.findall(r"<th>(.*?)</th>", page)]
for row in re.findall(r'<tr class="o-[^"]*">(.*?)</tr>', page, re.S):
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    if text(cells[0]) == sys.argv[2]:
        print(text(cells[heads.index(sys.argv[3])]))
        sys.exit(0)
sys.exit("no row for " + sys.argv[2])
PY
}

@test "index.html shows the host and user that started a run, and its tags, as text" {
  mount_fs
  start who-1 '{"args": ["make"], "tags": {"team": "infra", "note": "</script><img src=x onerror=alert(1)>&\""}}'
  echo success >"$M/status/who-1"
  run cell who-1 host
  assert_output "$(hostname)"
  run cell who-1 user
  assert_output "$(id -un)"
  run cell who-1 tags
  assert_output 'team=infra note=</script><img src=x onerror=alert(1)>&"'
  run grep -c '<img' "$M/index.html"
  assert_output 0
  run grep -c '</script>' "$M/index.html"
  assert_output 1
}

@test "Chromium: typing a tag's value into the filter box keeps the runs that have it" {
  mount_fs
  start tag-1 '{"args": ["make"], "tags": {"team": "infra", "env": "prod"}}'
  start tag-2 '{"args": ["make"], "tags": {"team": "web"}}'
  start tag-3 '{"args": ["make"]}'
  start tag-4 '{"args": ["make"], "tags": {"owner": "infra-bot"}}'
  timeout 120 python3 "$HELPERS_DIR/report-browser.py" --type infra "$T/chromium" \
    "file://$M/index.html" "$T/dom.html" "$T/page.png"
  grep -qF '2 of 4 shown' "$T/dom.html" || fail "$(grep -o '[0-9]* of [0-9]* shown' "$T/dom.html")"
  run python3 - "$T/dom.html" <<'PY'
import re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
for attrs, row in re.findall(r'<tr class="o-[^"]*"([^>]*)>(.*?)</tr>', dom, re.S):
    if "hidden" not in attrs:
        print(re.search(r">([^<]*)</a></td>", row).group(1))
PY
  assert_output $'tag-4\ntag-1'
}

@test "each execution_id links to its output, and a failed run shows its last lines" {
  mount_fs
  id='out:1@x+y'
  start "$id" '{"args": ["make"]}'
  for i in 1 2 3 4 5 6 7 8; do echo "step $i <b>" >>"$M/output/$id"; done
  echo 'error: make failed' >"$M/status/$id"
  # The message, then its last five lines in a block of their own, escaped.
  grep -qF '<td class="err">make failed<pre class="tail">step 4 &lt;b&gt;' "$M/index.html" ||
    fail "no last lines under the message"
  run cell "$id" 'error message'
  assert_output $'make failedstep 4 <b>\nstep 5 <b>\nstep 6 <b>\nstep 7 <b>\nstep 8 <b>'
  href=$(grep -o "<a href=\"[^\"]*\">$id</a>" "$M/index.html" | cut -d'"' -f2)
  [ "$href" = 'output/out%3A1%40x%2By' ] || fail "link: $href"
  # Chromium follows the link, relative to the page, from file:// to the output itself.
  url=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urljoin(*sys.argv[1:]))' \
    "file://$M/index.html" "$href")
  chromium_run --dump-dom "$url" >"$T/out.html"
  grep -qF 'step 8 &lt;b&gt;' "$T/out.html" || fail "the link shows: $(head -c 300 "$T/out.html")"
}

# Another program's change that leaves the counts and the latest id as they
# were: ok-1's duration an hour longer (the sqlite3 shell, psql; LMDB has
# no other writer, and makes none).
rewrite_duration() {
  local sql="UPDATE execution_log SET duration_ms = duration_ms + 3600000 WHERE execution_id = 'ok-1'"
  case "$STORE" in
  sqlite) sqlite3 -cmd '.timeout 5000' "$DB" "$sql" ;;
  postgres) pg_sql -c "$sql" ;;
  esac
}

@test "-o ro: the reports are stable, and follow a writable mount's change and another program's at the next read" {
  mount_fs
  populate
  M2=$T/mnt2
  mkdir -p "$M2"
  "$EXECLOGFS" -f -o "store=$STORE,db=$DB,ro" "$M2" >>"$T/daemon2.log" 2>&1 &
  PID2=$!
  poll 10 mountpoint -q "$M2" || { cat "$T/daemon2.log" >&2; false; }
  for f in index.html metrics.prom; do
    times "$M2/$f" >"$T/$f.times1"
    cp "$M2/$f" "$T/$f.1"
  done
  wait_clock 2
  for f in index.html metrics.prom; do
    [ "$(times "$M2/$f")" = "$(cat "$T/$f.times1")" ] || fail "$f: size or times moved while the log did not"
    cmp "$T/$f.1" "$M2/$f" || fail "$f: the bytes moved while the log did not"
  done
  # A finish through the writable mount shows on the read-only one at once.
  echo error >"$M/status/still-1"
  cp "$M2/metrics.prom" "$T/metrics.prom"
  [ "$(metric 'execlog_executions{outcome="error"}')" = 2 ] || fail "$(cat "$T/metrics.prom")"
  [ "$(metric execlog_running)" = 0 ] || fail "$(cat "$T/metrics.prom")"
  # So does a row another program rewrote (no count moved: the store's version did).
  local sum
  sum=$(metric execlog_duration_seconds_sum)
  [ "$STORE" != lmdb ] || return 0
  rewrite_duration
  cp "$M2/metrics.prom" "$T/metrics.prom"
  awk -v a="$sum" -v b="$(metric execlog_duration_seconds_sum)" 'BEGIN { exit !(b - a > 3599.9 && b - a < 3600.1) }' ||
    fail "the sum was $sum, now $(metric execlog_duration_seconds_sum): the rewritten duration did not show"
}
