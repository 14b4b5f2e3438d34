#!/bin/sh
# Run by roles/adopt (systemd-run, unit cariflex-adopt-watch) just before site.yml replaces the
# hand-made containers: writes the moment the first of them stops running (or the engine stops
# answering) to $1, then exits. Polls `docker inspect` (no exec, no event stream, which ends when
# the engine restarts). Usage: interruption-watch.sh OUT TIMEOUT CONTAINER_ID...
set -u
out=$1 timeout=$2
shift 2
count=$#
deadline=$(( $(date +%s) + timeout ))
rm -f "$out"
while [ "$(date +%s)" -lt "$deadline" ]; do
  running=$(docker inspect --format '{{.State.Running}}' "$@" 2>/dev/null | grep -cx true)
  if [ "$running" -lt "$count" ]; then
    date -u +%s.%N >"$out.partial" && mv "$out.partial" "$out"
    exit 0
  fi
  sleep 0.5
done
exit 1
