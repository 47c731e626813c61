#!/usr/bin/env bash
# Requests/s of authenticated GET /community/avatar with the Redis mirror
# off and on, side by side on this machine (redis-server included), in
# alternating rounds; prints each round and the median ratio on/off.
#
#   bench/mirror.sh [rounds] [seconds]      (defaults: 3 rounds of 10 s)
#
# Needs wrk and redis-server (Debian packages). Not part of the test command.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-10}
for cmd in wrk redis-server curl; do
  command -v "$cmd" >/dev/null || { echo "needs $cmd: apt-get install -y $cmd" >&2; exit 1; }
done

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

CGO_ENABLED=0 go build -trimpath -o "$tmp/soulbridge" .
key=$("$tmp/soulbridge" keygen)

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" --logfile "$tmp/redis.log" &
pids+=($!)

start() { # name port [extra env...]
  local name=$1 port=$2; shift 2
  env -i PATH="$PATH" PORT="$port" DATA_DIR="$tmp/$name" SECRET_KEY="$key" "$@" \
    "$tmp/soulbridge" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "$name did not start" >&2; cat "$tmp/$name.log" >&2; exit 1
}
login() { # port → cookie value
  curl -s -o /dev/null -D - -X POST "http://127.0.0.1:$1/signup" \
    --data-urlencode "username=bench" --data-urlencode "password=correct horse battery" |
    sed -n 's/^[Ss]et-[Cc]ookie: sb_session=\([^;]*\).*/\1/p' | tr -d '\r'
}

off=$(free_port); on=$(free_port)
start off "$off"
start on "$on" REDIS_URL="redis://127.0.0.1:$rport/0"
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$on/readyz" | grep -q '"redis":"ok"' && break; sleep 0.1; done
coff=$(login "$off"); con=$(login "$on")
for p in "$off:$coff" "$on:$con"; do
  curl -fs -X PUT -H 'Content-Type: application/json' -H "Cookie: sb_session=${p#*:}" \
    -d '{"avatar":"owl"}' "http://127.0.0.1:${p%%:*}/community/avatar" >/dev/null
done

rps() { # port cookie
  wrk -t2 -c64 -d"${secs}s" -H "Cookie: sb_session=$2" "http://127.0.0.1:$1/community/avatar" |
    awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "non-2xx:", $0 > "/dev/stderr"}'
}
declare -a r_off r_on
for i in $(seq "$rounds"); do
  a=$(rps "$off" "$coff"); b=$(rps "$on" "$con")
  r_off+=("$a"); r_on+=("$b")
  printf 'round %d: mirror off %8.0f req/s, mirror on %8.0f req/s\n' "$i" "$a" "$b"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mo=$(median "${r_off[@]}"); mn=$(median "${r_on[@]}")
printf 'median: mirror off %.0f req/s, mirror on %.0f req/s, ratio on/off %.2f\n' "$mo" "$mn" "$(echo "$mn / $mo" | bc -l)"
