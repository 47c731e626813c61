#!/usr/bin/env bash
# The Redis mirror's cost, side by side on this machine (redis-server
# included), in the realistic case: USERS accounts with one session each
# (10,000 by default, written by bench/seed), authenticated requests spread
# at random over the sessions, WRITES per mille of them avatar changes (PUT
# /community/avatar, 20 = 2 %), the rest GET /community/avatar
# (bench/mirror.lua). Three instances: "off" (no mirror) and "on" (mirror
# on) on copies of one data dir, and "peer" (mirror on, empty data dir)
# connected to the same Redis, hearing every change. Prints, per round
# (off and on alternately, the order swapped every round): req/s and p99
# of each, their ratios, the load average; then the medians; the same
# rounds at one offered load for both (PACE ms between a connection's
# requests) for a p99 compared at the same rate; the mirror
# cache's hit rate on "on" over the run (from its log at exit), and the
# cross-instance visibility under load: a write acknowledged on "on", read
# back on "peer" until it answers it, 100 samples, p50 / p99 / max.
#
#   bench/mirror.sh [rounds] [seconds]      (defaults: 3 rounds of 10 s)
#   USERS=10000 WRITES=20 CONNS=64 PACE=20 bench/mirror.sh
#
# Needs go, wrk, curl, python3 and redis-server (Debian packages). Not part
# of the test command.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${2:-10}
USERS=${USERS:-10000}
WRITES=${WRITES:-20}
CONNS=${CONNS:-64}
PACE=${PACE:-20}
for cmd in go wrk redis-server curl python3; do
  command -v "$cmd" >/dev/null || { echo "needs $cmd: apt-get install -y $cmd" >&2; exit 1; }
done

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "building and seeding $USERS users…" >&2
CGO_ENABLED=0 go build -trimpath -o "$tmp/soulbridge" .
go build -o "$tmp/seed" ./bench/seed
go build -o "$tmp/visibility" ./bench/visibility
key=$("$tmp/soulbridge" keygen)
"$tmp/seed" -dir "$tmp/off" -key "$key" -sessions "$USERS" -members "$USERS" -avatars -cookies "$tmp/cookies.all" >/dev/null
cp -a "$tmp/off" "$tmp/on"
# The last 100 sessions are the visibility probe's, untouched by the load.
head -n -100 "$tmp/cookies.all" >"$tmp/cookies.load"
tail -n 100 "$tmp/cookies.all" >"$tmp/cookies.probe"

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" --logfile "$tmp/redis.log" &
pids+=($!)

declare -A port pid
start() { # name [extra env...]
  local name=$1; shift
  port[$name]=$(free_port)
  env -i PATH="$PATH" PORT="${port[$name]}" DATA_DIR="$tmp/$name" SECRET_KEY="$key" "$@" \
    "$tmp/soulbridge" >"$tmp/$name.log" 2>&1 &
  pid[$name]=$!; pids+=($!)
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:${port[$name]}/healthz" >/dev/null && return; sleep 0.1; done
  echo "$name did not start" >&2; cat "$tmp/$name.log" >&2; exit 1
}
ready() { # name: until the mirror serves from Redis (after pushing the seed back)
  for _ in $(seq 600); do curl -fs "http://127.0.0.1:${port[$1]}/readyz" | grep -q '"redis":"ok"' && return; sleep 0.1; done
  echo "$1: mirror not up" >&2; cat "$tmp/$1.log" >&2; exit 1
}
start off
start on REDIS_URL="redis://127.0.0.1:$rport/0"
ready on
start peer REDIS_URL="redis://127.0.0.1:$rport/0"
ready peer
c1=$(head -n 1 "$tmp/cookies.load")
for n in off on peer; do
  curl -fs -o /dev/null -H "Cookie: sb_session=$c1" "http://127.0.0.1:${port[$n]}/community/avatar" ||
    { echo "$n refuses a seeded session" >&2; exit 1; }
done

{ cat bench/mirror.lua; echo "function delay() return $PACE end"; } >"$tmp/paced.lua"
load() { # name seconds conns [script] → "req/s p99_ms non2xx"
  wrk -t2 -c"$3" -d"$2s" --latency -s "${4:-bench/mirror.lua}" "http://127.0.0.1:${port[$1]}" -- "$tmp/cookies.load" "$WRITES" |
    awk '
      function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
      /Requests\/sec/ {r=$2} /^ +99%/ {p=ms($2)} /Non-2xx/ {e=$NF}
      END {printf "%s %s %s\n", r, p, (e==""?0:e)}'
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "warming up (one short run each)…" >&2
load off 3 "$CONNS" >/dev/null; load on 3 "$CONNS" >/dev/null
declare -a ratios p99r
for i in $(seq "$rounds"); do
  la=$(loadavg)
  if (( i % 2 )); then a=$(load off "$secs" "$CONNS"); b=$(load on "$secs" "$CONNS")
  else b=$(load on "$secs" "$CONNS"); a=$(load off "$secs" "$CONNS"); fi
  read -r ra pa ea <<<"$a"; read -r rb pb eb <<<"$b"
  r=$(echo "$rb / $ra" | bc -l); q=$(echo "$pb / $pa" | bc -l)
  ratios+=("$r"); p99r+=("$q")
  printf 'round %d: off %8.0f req/s p99 %6.2f ms | on %8.0f req/s p99 %6.2f ms | on/off req/s %.2f p99 %.2f | non-2xx %s/%s | load %s\n' \
    "$i" "$ra" "$pa" "$rb" "$pb" "$r" "$q" "$ea" "$eb" "$la"
done
printf 'median of %d rounds: on/off req/s %.2f, p99 on/off %.2f (%d users, %s‰ writes, %d connections)\n' \
  "$rounds" "$(median "${ratios[@]}")" "$(median "${p99r[@]}")" "$USERS" "$WRITES" "$CONNS"

# Latency at one offered load for both (each connection pausing PACE ms
# between requests): the unpaced rounds above compare p99s at different
# rates (the faster server queues more writes behind its fsyncs).
declare -a pr
for i in $(seq "$rounds"); do
  if (( i % 2 )); then a=$(load off "$secs" "$CONNS" "$tmp/paced.lua"); b=$(load on "$secs" "$CONNS" "$tmp/paced.lua")
  else b=$(load on "$secs" "$CONNS" "$tmp/paced.lua"); a=$(load off "$secs" "$CONNS" "$tmp/paced.lua"); fi
  read -r ra pa ea <<<"$a"; read -r rb pb eb <<<"$b"
  q=$(echo "$pb / $pa" | bc -l); pr+=("$q")
  printf 'paced round %d (%s ms pauses): off %6.0f req/s p99 %6.2f ms | on %6.0f req/s p99 %6.2f ms | p99 on/off %.2f | non-2xx %s/%s | load %s\n' \
    "$i" "$PACE" "$ra" "$pa" "$rb" "$pb" "$q" "$ea" "$eb" "$(loadavg)"
done
printf 'paced median: p99 on/off %.2f\n' "$(median "${pr[@]}")"

# Visibility under load: both mirror instances loaded at half the
# connections each while the probe writes on "on" and reads on "peer".
vsecs=30
load on "$vsecs" $((CONNS / 2)) >"$tmp/vis-on.txt" &
l1=$!
load peer "$vsecs" $((CONNS / 2)) >"$tmp/vis-peer.txt" &
l2=$!
sleep 2
"$tmp/visibility" -a "http://127.0.0.1:${port[on]}" -b "http://127.0.0.1:${port[peer]}" -cookies "$tmp/cookies.probe" -n 100
wait "$l1" "$l2"
printf 'load during the visibility probe: on %s req/s, peer %s req/s (req/s p99 non-2xx); load %s\n' \
  "$(cat "$tmp/vis-on.txt")" "$(cat "$tmp/vis-peer.txt")" "$(loadavg)"

# A Redis call that times out under load turns an instance's mirror down
# (it then answers from its local copy until the probe brings it up): not
# the cache's doing, but it shows in the figures above.
printf 'mirror down during the run (calls timed out under load): on %d, peer %d\n' \
  "$(grep -c 'redis mirror down' "$tmp/on.log" || true)" "$(grep -c 'redis mirror down' "$tmp/peer.log" || true)"
kill -TERM "${pid[on]}"; wait "${pid[on]}" 2>/dev/null || true
grep -o 'redis mirror cache.*' "$tmp/on.log" | tail -1 |
  awk '{for (i=1;i<=NF;i++) {split($i,kv,"="); v[kv[1]]=kv[2]}
        t=v["hits"]+v["misses"]+v["bypassed"];
        printf "cache on \"on\" over the run: %d hits, %d misses, %d bypassed (link in doubt): hit rate %.1f %%; %s bytes in %s entries at exit\n",
          v["hits"], v["misses"], v["bypassed"], (t ? 100*v["hits"]/t : 0), v["bytes"], v["entries"]}'
