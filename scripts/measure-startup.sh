#!/usr/bin/env bash
# Start-up time (exec → first 200 from /healthz) and idle RSS of soulbridge,
# next to a baseline: a minimal Go net/http server built in the same run, so
# the ratio means something on a shared, noisy machine.
#
#   scripts/measure-startup.sh [runs]      (default 5 runs each)
set -euo pipefail
runs=${1:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d); chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$work/soulbridge" .)
mkdir "$work/baseline"
cat > "$work/baseline/main.go" <<'GO'
package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"status":"ok"}`)) })
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
GO
printf 'module baseline\n\ngo 1.26.0\n' > "$work/baseline/go.mod"
(cd "$work/baseline" && CGO_ENABLED=0 go build -o "$work/hello" .)

port=$(( 20000 + RANDOM % 20000 ))
measure() { # name binary
  local name=$1 bin=$2 i start end pid
  for i in $(seq "$runs"); do
    rm -rf "$work/data"
    start=$(date +%s%N)
    DATA_DIR="$work/data" PORT=$port SECRET_KEY=$(printf '%064d' 7) "$bin" >/dev/null 2>&1 & pid=$!
    until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.002; done
    end=$(date +%s%N)
    sleep 2
    echo "$name startup_ms=$(( (end - start) / 1000000 )) rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
    kill -TERM $pid; wait $pid || true
  done
}
{ measure baseline "$work/hello"; measure soulbridge "$work/soulbridge"; } | tee "$work/results"
awk '{ split($2,a,"="); split($3,b,"="); s[$1]+=a[2]; r[$1]+=b[2]; n[$1]++ }
  END { printf "mean: baseline %.1f ms %.1f MB | soulbridge %.1f ms %.1f MB | ratio startup %.1fx, rss %.1fx\n",
        s["baseline"]/n["baseline"], r["baseline"]/n["baseline"]/1024, s["soulbridge"]/n["soulbridge"], r["soulbridge"]/n["soulbridge"]/1024,
        (s["soulbridge"]/n["soulbridge"])/(s["baseline"]/n["baseline"]), (r["soulbridge"]/n["soulbridge"])/(r["baseline"]/n["baseline"]) }' "$work/results"
