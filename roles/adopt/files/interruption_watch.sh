#!/bin/sh
# Run by roles/adopt (systemd-run, unit cariflex-adopt-watch) just before site.yml replaces the
# hand-made containers. Writes "STOP READY" (UTC epoch seconds) to OUT, then exits:
#   STOP: the first of the watched containers stopped. Polls `docker inspect` (no event stream:
#     it ends when the engine restarts). A container seen stopped or gone counts from when it was
#     seen; one restarted between two polls (an engine restart: the socket-activated engine makes
#     the CLI wait, and the restart policy starts it again) from the stop time docker recorded.
#   READY: a server container that is not the hand-made one first answered its health endpoint
#     (from inside it, as the role's own check does). Time the old server may have answered in
#     between is counted as down: the figure is an upper bound.
# Usage: interruption-watch.sh OUT TIMEOUT SERVER_NAME HAND_MADE_SERVER_ID CONTAINER_ID...
set -u
out=$1 timeout=$2 server=$3 old_server=$4
shift 4
started=$(date -u +%s)
deadline=$((started + timeout))
state() { docker inspect --format '{{.Id}} {{.State.Running}} {{.State.FinishedAt}}' "$@" 2>/dev/null; }
initial=$(state "$@")
rm -f "$out"
stop=""
while [ -z "$stop" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || exit 1
  now=$(date -u +%s.%N)
  current=$(state "$@")
  if [ "$current" != "$initial" ]; then
    # The earliest stop docker recorded since the watch began, if any; else now.
    recorded=$(printf '%s\n' "$current" | while read -r id running finished; do
      [ -n "$id" ] || continue
      case "$initial" in *"$id true $finished"*) continue ;; esac
      at=$(date -u -d "$finished" +%s.%N 2>/dev/null) || continue
      [ "${at%.*}" -ge "$started" ] && echo "$at"
    done | sort -n | head -n 1)
    stop=${recorded:-$now}
  else
    sleep 0.5
  fi
done
while [ "$(date +%s)" -lt "$deadline" ]; do
  now=$(date -u +%s.%N)
  id=$(docker inspect --format '{{.Id}}' "$server" 2>/dev/null)
  if [ -n "$id" ] && [ "$id" != "$old_server" ] &&
    docker exec "$server" curl -fsS -m 5 -o /dev/null http://localhost:5000/api/v3_0/health/ready 2>/dev/null; then
    echo "$stop $now" >"$out.partial" && mv "$out.partial" "$out"
    exit 0
  fi
  sleep 1
done
echo "$stop" >"$out.partial" && mv "$out.partial" "$out"
exit 1
