#!/usr/bin/env bash
# What hostile and honest avatar uploads cost the real server (issue 17):
# builds soulbridge from this tree and, with BEFORE=<git revision>, from a
# revision before the fix too, then runs bench/uploads against each: per
# input kind, a fresh process, one upload, the process's CPU-seconds
# (/proc/PID/stat) and its peak resident memory over idle (VmHWM, reset
# with clear_refs); then the shared cases (a small PNG while three accounts
# send scan bombs, or while one sends eight slow bodies; the site's worst
# concurrent peak).
#
#   bench/uploads.sh                        (this tree only)
#   BEFORE=4243110 bench/uploads.sh         (and the revision before the fix)
#   ONLY='scan bomb' TIMEOUT=30s bench/uploads.sh
#
# Needs go; jpegtran (libjpeg-turbo-progs) for a real progressive photo
# (else its crafted structure) and cwebp (webp) for the WebP rows (else
# skipped). Not part of the test command. The machine is shared: CPU-seconds
# are the process's own, but a busy machine still inflates them somewhat.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/after" .
go build -o "$tmp/uploads" ./bench/uploads
args=(-timeout "${TIMEOUT:-60s}")
[ -n "${ONLY:-}" ] && args+=(-only "$ONLY")
if [ -n "${BEFORE:-}" ]; then
  mkdir "$tmp/src"
  git archive "$BEFORE" | tar -x -C "$tmp/src"
  (cd "$tmp/src" && go build -o "$tmp/before" .)
  echo "== before ($BEFORE)"
  "$tmp/uploads" -bin "$tmp/before" "${args[@]}"
fi
echo "== after ($(git rev-parse --short HEAD)$(git diff --quiet || echo +changes))"
"$tmp/uploads" -bin "$tmp/after" "${args[@]}"
