#!/usr/bin/env bats
# Provenance: the record says where, who and how it ended (host, user, uid,
# pid from the mount and the request that created new/<id>; cwd and tags
# from the document; exit_code and signal from the finish), and the views
# by it: by-host/, by-user/, by-tool/, by-tag/.
load helper

# A record's field, as jq prints it compactly.
field() {
  jq -c ".$2" "$M/$1.json"
}

@test "host, user, uid and pid are the mount's and the creating process's" {
  mount_fs
  # Python creates the file: its pid is the one the request carries.
  pid=$(python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"{}")
os.close(fd)
print(os.getpid())' "$M/new/py")
  run field py host
  assert_output "\"$(hostname)\""
  run field py user
  assert_output "\"$(id -un)\""
  run field py uid
  assert_output "$(id -u)"
  run field py pid
  assert_output "$pid"
  # A shell that execs touch: touch has the shell's pid.
  pid=$(sh -c 'echo $$; exec touch "$1"' _ "$M/new/sh")
  run field sh pid
  assert_output "$pid"
  run field sh host
  assert_output "\"$(hostname)\""
  # Another process, another pid: nothing is remembered from the first.
  [ "$(field py pid)" != "$(field sh pid)" ]
}

@test "cwd and tags come from the start document; null and {} by default" {
  mount_fs
  start doc '{"cwd": "/srv/build", "tags": {"team": "infra", "env": "prod", "expr": "a=b"}}'
  run field doc cwd
  assert_output '"/srv/build"'
  # The document's order.
  run field doc tags
  assert_output '{"team":"infra","env":"prod","expr":"a=b"}'
  start bare
  run jq -c '[.cwd, .tags, .exit_code, .signal]' "$M/bare.json"
  assert_output '[null,{},null,null]'
  # The new fields follow magellan's fourteen, in the contract's order.
  run jq -c 'keys_unsorted[14:21]' "$M/bare.json"
  assert_output '["exit_code","signal","host","user","uid","pid","cwd"]'
}

@test "a document cannot claim a field the daemon sets: EINVAL reaches the shell" {
  mount_fs
  for key in host user uid pid exit_code signal; do
    case $key in host | user) value='"forged"' ;; *) value=0 ;; esac
    run bash -c "echo '{\"$key\": $value}' >\"\$1\"" _ "$M/new/claim-$key"
    assert_failure
    run fsop open "$M/new/claim2-$key" w,c "{\"$key\": $value}"
    assert_output EINVAL
    run fsop stat "$M/claim-$key.json"
    assert_output ENOENT
  done
  assert_logged 'claim-host'
}

@test "a finish's exit_code and signal are read back; a word leaves them null" {
  mount_fs
  start failed
  echo '{"outcome": "error", "exit_code": 2}' >"$M/status/failed"
  run jq -c '[.outcome, .exit_code, .signal]' "$M/failed.json"
  assert_output '["error",2,null]'
  start killed
  echo '{"outcome": "error", "signal": 9}' >"$M/status/killed"
  run jq -c '[.outcome, .exit_code, .signal]' "$M/killed.json"
  assert_output '["error",null,9]'
  start fine
  echo success >"$M/status/fine"
  run jq -c '[.outcome, .exit_code, .signal]' "$M/fine.json"
  assert_output '["success",null,null]'
  start zero
  echo '{"outcome": "success", "exit_code": 0}' >"$M/status/zero"
  run jq -c '.exit_code' "$M/zero.json"
  assert_output 0
}

@test "the root lists the views; they are empty on an empty log" {
  mount_fs
  run ls "$M"
  for v in host user tool tag; do assert_line "by-$v"; done
  for v in host user tool tag; do
    run ls -A "$M/by-$v"
    assert_success
    assert_output ""
    run stat -c %F "$M/by-$v"
    assert_output directory
  done
}

@test "by-host and by-user list the values in use, each with links to its executions" {
  mount_fs
  start a
  start b
  h=$(hostname) u=$(id -un)
  run ls "$M/by-host"
  assert_output "$h"
  run ls "$M/by-host/$h"
  assert_output "$(printf '%s\n' a.json b.json)"
  run readlink "$M/by-host/$h/a.json"
  assert_output ../../a.json
  run jq -r .execution_id "$M/by-host/$h/b.json"
  assert_output b
  run ls "$M/by-user"
  assert_output "$u"
  run ls "$M/by-user/$u"
  assert_output "$(printf '%s\n' a.json b.json)"
  run readlink "$M/by-user/$u/b.json"
  assert_output ../../b.json
  run jq -r .user "$M/by-user/$u/a.json"
  assert_output "$u"
  # ls -l: readdirplus and a stat of each link.
  run ls -l "$M/by-host/$h"
  assert_success
  assert_line --partial 'a.json -> ../../a.json'
}

@test "by-tool is the last path component of args[0]" {
  mount_fs
  start m1 '{"args": ["/usr/bin/make", "-j4"]}'
  start m2 '{"args": ["make"]}'
  start s1 '{"args": ["./scripts/build.sh", "all"]}'
  start none '{"args": []}'
  start dir '{"args": ["/usr/bin/"]}'
  run ls "$M/by-tool"
  assert_output "$(printf '%s\n' build.sh make)"
  run ls "$M/by-tool/make"
  assert_output "$(printf '%s\n' m1.json m2.json)"
  run ls "$M/by-tool/build.sh"
  assert_output s1.json
  run jq -r '.args[0]' "$M/by-tool/make/m1.json"
  assert_output /usr/bin/make
  run fsop lookup "$M/by-tool/make/none.json"
  assert_output ENOENT
}

@test "by-tag lists the key=value pairs in use, split at the first =" {
  mount_fs
  start p1 '{"tags": {"env": "prod", "team": "infra"}}'
  start p2 '{"tags": {"env": "prod"}}'
  start d1 '{"tags": {"env": "dev", "expr": "a=b"}}'
  start untagged
  run ls "$M/by-tag"
  assert_output "$(printf '%s\n' env=dev env=prod expr=a=b team=infra)"
  run ls "$M/by-tag/env=prod"
  assert_output "$(printf '%s\n' p1.json p2.json)"
  run ls "$M/by-tag/expr=a=b"
  assert_output d1.json
  run readlink "$M/by-tag/team=infra/p1.json"
  assert_output ../../p1.json
  run jq -r .tags.team "$M/by-tag/team=infra/p1.json"
  assert_output infra
  run fsop lookup "$M/by-tag/env=prod/d1.json"
  assert_output ENOENT
}

@test "a value nobody has is ENOENT, in every view" {
  mount_fs
  start a '{"args": ["make"], "tags": {"env": "prod"}}'
  for p in by-host/no-such-host by-user/no-such-user by-tool/no-such-tool \
           by-tag/env=dev by-tag/env by-tag/nokey=prod by-tag/=prod; do
    run fsop lookup "$M/$p"
    assert_output ENOENT
  done
  run fsop lookup "$M/by-tool/make/b.json"
  assert_output ENOENT
  run fsop lookup "$M/by-tool/make/a"
  assert_output ENOENT
}

@test "starts, finishes and deletes show in the views at once" {
  mount_fs
  h=$(hostname)
  start a '{"args": ["make"], "tags": {"env": "prod"}}'
  # Listed and looked up first, so that any cache would hold the old answer.
  run ls "$M/by-tool/make" "$M/by-tag/env=prod" "$M/by-host/$h"
  assert_success
  start b '{"args": ["make"], "tags": {"env": "prod"}}'
  run ls "$M/by-tool/make"
  assert_output "$(printf '%s\n' a.json b.json)"
  echo success >"$M/status/a"
  rm "$M/a.json"
  run ls "$M/by-tool/make"
  assert_output b.json
  run ls "$M/by-tag/env=prod"
  assert_output b.json
  run fsop lookup "$M/by-host/$h/a.json"
  assert_output ENOENT
  echo error >"$M/status/b"
  rm "$M/b.json"
  for p in "by-tool/make" "by-tag/env=prod" "by-host/$h" "by-user/$(id -un)"; do
    run fsop lookup "$M/$p"
    assert_output ENOENT
  done
  for v in host user tool tag; do
    run ls -A "$M/by-$v"
    assert_output ""
  done
}

@test "a value that cannot be a file name is left out of the listing, and logged once" {
  mount_fs
  # long=<252 bytes>: 257 bytes, past a file name's 255.
  long=$(printf 'v%.0s' $(seq 252))
  start odd '{"tags": {"path": "a/b", "long": "'"$long"'", "ok": "yes"}}'
  run ls "$M/by-tag"
  assert_output ok=yes
  run ls "$M/by-tag"
  assert_output ok=yes
  run grep -c 'by-tag/ leaves out the value "path=a/b"' "$LOG"
  assert_output 1
  run grep -c 'by-tag/ leaves out the value "long=vvv' "$LOG"
  assert_output 1
  run jq -r .tags.path "$M/odd.json"
  assert_output a/b
}

@test "the views work on a read-only mount" {
  mount_fs
  start a '{"args": ["make"], "tags": {"env": "prod"}}'
  echo success >"$M/status/a"
  unmount_fs
  mount_fs ro
  run ls "$M/by-host" "$M/by-tag/env=prod" "$M/by-tool/make" "$M/by-user/$(id -un)"
  assert_success
  assert_line "$(hostname)"
  assert_line a.json
  run readlink "$M/by-tool/make/a.json"
  assert_output ../../a.json
}

@test "another mount's starts and deletes show in the views" {
  mount_fs
  mount_second
  h=$(hostname)
  run ls -A "$M/by-tool"
  assert_output ""
  start_elsewhere() { printf '%s' "$2" >"$M2/new/$1"; }
  start_elsewhere far '{"args": ["make"], "tags": {"site": "b"}}'
  poll 5 test -e "$M/by-tool/make/far.json"
  run ls "$M/by-tag/site=b" "$M/by-host/$h"
  assert_success
  assert_line far.json
  echo success >"$M2/status/far"
  rm "$M2/far.json"
  poll 5 bash -c '! ls -A "$1/by-tool" | grep -q .' _ "$M"
  run fsop lookup "$M/by-tag/site=b"
  assert_output ENOENT
}
