#!/usr/bin/env bash
# usage: scripts/guard.sh PARENT_PID COMMAND...
# Runs COMMAND in a process group of its own and ends the whole group (wrangler and the
# workerd it starts) when PARENT_PID exits or this script is stopped, so tests leave no
# process behind, pass or fail. GUARD_CLEANUP_DIR, if set, is removed afterwards.
set -u
parent=$1
shift
setsid "$@" &
child=$!
stop() {
  kill -TERM -- "-$child" 2>/dev/null
  for _ in $(seq 30); do
    kill -0 -- "-$child" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$child" 2>/dev/null
  [ -n "${GUARD_CLEANUP_DIR:-}" ] && rm -rf "$GUARD_CLEANUP_DIR"
  exit 0
}
trap stop TERM INT HUP
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do
  sleep 0.5 &
  wait $!
done
stop
