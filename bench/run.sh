#!/usr/bin/env bash
# Side-by-side benchmark of soulbridge against the two reference servers in
# ../shared/peers (see their README): `ceiling` (bare net/http, fixed JSON,
# no session work) and `securecookie` (the lean hand-written peer: signed
# token, session and avatar in Badger). Each starts on 127.0.0.1 with a fresh
# data dir and a session (soulbridge: sign-up via curl; the peer: its
# POST /login), then wrk runs authenticated GET /community/avatar against
# each in turn, in alternating rounds. Prints one table:
#   - 64 connections (ROUNDS rounds, medians): req/s, p50, p99, ratio of
#     req/s to the ceiling and to the peer, peak RSS (VmHWM) under that load;
#   - 256 and 2,000 connections: req/s, p99 and its ratio to the ceiling's,
#     peak RSS;
#   - start-up (exec to the first 200 on /healthz, and soulbridge's own
#     start-up from its "listening" line) and idle RSS, empty data dir and
#     (soulbridge) 100,000 stored sessions written by bench/seed.
# With AUTH=1 it also measures sign-up and log-in rates (argon2-bound) and
# GET /community with 10,000 members.
#
#   bench/run.sh                       (ROUNDS=3 SECS=10 CONNS=64 THREADS=2)
#   ROUNDS=1 SECS=5 SEED=0 bench/run.sh  (quick look, no 100k-session start)
#   METRICS=1 bench/run.sh             (soulbridge with METRICS_ADDR set: the
#                                       cost of counting; README, "Metrics")
#
# Needs go, wrk, curl, python3 (Debian packages). Not part of the test
# command. The machine is shared and noisy: compare the ratios, which come
# from rounds run side by side, rather than the absolute figures.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
SEED=${SEED:-100000}
AUTH=${AUTH:-0}
PEERS=${PEERS:-$(cd .. && pwd)/shared/peers}
for cmd in go wrk curl python3; do
  command -v "$cmd" >/dev/null || { echo "needs $cmd" >&2; exit 1; }
done
[ -d "$PEERS/ceiling" ] && [ -d "$PEERS/securecookie" ] || { echo "no peers in $PEERS (set PEERS=)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge 4200 ] || { echo "ulimit -n is $(ulimit -n): the 2,000-connection case needs 4,200" >&2; exit 1; }

tmp=$(mktemp -d)
chmod 755 "$tmp" # started as root, soulbridge drops to uid 65532, which must reach its data dir
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "building…" >&2
CGO_ENABLED=0 go build -trimpath -o "$tmp/soulbridge" .
go build -o "$tmp/startup" ./bench/startup
go build -C "$PEERS/ceiling" -o "$tmp/ceiling" .
go build -C "$PEERS/securecookie" -o "$tmp/peer" .
key=$("$tmp/soulbridge" keygen)
metrics_env=""
[ -n "${METRICS:-}" ] && metrics_env="METRICS_ADDR=127.0.0.1:$(free_port)"

# cmdline NAME PORT DIR: the command that starts server NAME.
cmdline() {
  case $1 in
    soulbridge) echo "env -i PATH=$PATH PORT=$2 DATA_DIR=$3 SECRET_KEY=$key TRUST_PROXY_HEADERS=${TRUST:-false} $metrics_env $tmp/soulbridge" ;;
    peer) echo "$tmp/peer -addr 127.0.0.1:$2 -dir $3" ;;
    ceiling) echo "$tmp/ceiling -addr 127.0.0.1:$2" ;;
  esac
}
declare -A port pid cookie
start() { # NAME
  local name=$1 p; p=$(free_port)
  port[$name]=$p
  # shellcheck disable=SC2046
  $(cmdline "$name" "$p" "$tmp/data-$name") >"$tmp/$name.log" 2>&1 &
  pid[$name]=$!; pids+=($!)
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$p/healthz" >/dev/null && return; sleep 0.05; done
  echo "$name did not start" >&2; cat "$tmp/$name.log" >&2; exit 1
}
hwm() { awk '/VmHWM/ {print $2}' "/proc/${pid[$1]}/status"; }
reset_hwm() { echo 5 >"/proc/${pid[$1]}/clear_refs" 2>/dev/null || true; }

for s in ceiling peer soulbridge; do start "$s"; done
u="http://127.0.0.1"
cookie[ceiling]="x=1"
cookie[peer]=$(curl -s -o /dev/null -D - -X POST "$u:${port[peer]}/login" \
  --data-urlencode "username=alice" --data-urlencode "password=correct horse battery staple" |
  sed -n 's/^[Ss]et-[Cc]ookie: \(session=[^;]*\).*/\1/p' | tr -d '\r')
cookie[soulbridge]=$(curl -s -o /dev/null -D - -X POST "$u:${port[soulbridge]}/signup" \
  --data-urlencode "username=bench" --data-urlencode "password=correct horse battery" |
  sed -n 's/^[Ss]et-[Cc]ookie: \(sb_session=[^;]*\).*/\1/p' | tr -d '\r')
curl -fs -X PUT -H 'Content-Type: application/json' -H "Cookie: ${cookie[soulbridge]}" \
  -d '{"avatar":"owl"}' "$u:${port[soulbridge]}/community/avatar" >/dev/null
for s in ceiling peer soulbridge; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: ${cookie[$s]}" "$u:${port[$s]}/community/avatar")
  [ "$code" = 200 ] || { echo "$s: GET /community/avatar answered $code with its session" >&2; exit 1; }
done

# run NAME CONNS → "req/s p50_ms p99_ms errors"
run() {
  local out
  out=$(wrk -t"$THREADS" -c"$2" -d"${SECS}s" --latency -H "Cookie: ${cookie[$1]}" "$u:${port[$1]}/community/avatar")
  echo "$out" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ {rps=$2}
    $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
    /Non-2xx/ {err+=$NF} /Socket errors/ {err+=$4+$6+$8+$10}
    END {printf "%s %.2f %.2f %d\n", rps, p50, p99, err+0}'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A res
servers=(ceiling peer soulbridge)
# Warm-up (and let soulbridge's sign-up hash, 19 MiB, be collected), then
# each level's peak RSS is measured from a reset (clear_refs) on.
for s in "${servers[@]}"; do wrk -t"$THREADS" -c"$CONNS" -d3s -H "Cookie: ${cookie[$s]}" "$u:${port[$s]}/community/avatar" >/dev/null; done
sleep 2
for c in "$CONNS" 256 2000; do
  rounds=$ROUNDS
  [ "$c" = 2000 ] && rounds=1
  for s in "${servers[@]}"; do reset_hwm "$s"; done
  for i in $(seq "$rounds"); do
    for s in "${servers[@]}"; do
      r=$(run "$s" "$c")
      echo "c=$c round $i $s: $r" >&2
      res[$c,$s,rps]+=" $(echo "$r" | cut -d' ' -f1)"
      res[$c,$s,p50]+=" $(echo "$r" | cut -d' ' -f2)"
      res[$c,$s,p99]+=" $(echo "$r" | cut -d' ' -f3)"
      res[$c,$s,err]+=" $(echo "$r" | cut -d' ' -f4)"
      res[$c,$s,last]=$(echo "$r" | cut -d' ' -f1)
    done
    # Ratios within the round (the servers ran back to back), medians later.
    for s in "${servers[@]}"; do
      res[$c,$s,xc]+=" $(echo "${res[$c,$s,last]} / ${res[$c,ceiling,last]}" | bc -l)"
      res[$c,$s,xp]+=" $(echo "${res[$c,$s,last]} / ${res[$c,peer,last]}" | bc -l)"
    done
  done
  for s in "${servers[@]}"; do res[$c,$s,hwm]=$(hwm "$s"); done
done
if [ -n "$metrics_env" ]; then # counted, so metrics were on
  curl -fs "http://${metrics_env#METRICS_ADDR=}/metrics" | grep '^soulbridge_http_requests_total{method="GET",route="/community/avatar",status="200"}' >&2
fi

# Start-up and idle RSS: each server alone, fresh process, empty data dir.
startup() { # NAME DIR → "ms rss_kb own_ms" (medians of 5; own_ms "-" when the server reports none)
  local p ms=() kb=() own=() out
  for _ in 1 2 3 4 5; do
    p=$(free_port)
    # shellcheck disable=SC2046
    read -r -a out <<<"$("$tmp/startup" -url "$u:$p/healthz" -- $(cmdline "$1" "$p" "$2") 2>/dev/null)"
    ms+=("${out[0]}"); kb+=("${out[1]}"); own+=("${out[2]}")
  done
  local o="-"
  [ "${own[0]}" != "-" ] && o=$(median "${own[@]}")
  echo "$(median "${ms[@]}") $(median "${kb[@]}") $o"
}
for s in "${servers[@]}"; do kill "${pid[$s]}" 2>/dev/null || true; done
wait 2>/dev/null || true
# Let the machine settle after the load (thousands of sockets closing, the
# servers' data written back) so the starts below time the start-up alone.
sync; sleep 3
declare -A st
for s in "${servers[@]}"; do st[$s]=$(startup "$s" "$tmp/start-$s"); done
if [ "$SEED" -gt 0 ]; then
  echo "seeding $SEED sessions…" >&2
  go run ./bench/seed -dir "$tmp/seeded" -key "$key" -sessions "$SEED" -workers 256 >/dev/null
  sync; sleep 3 # the seeding's 40 MB written back first, as on a volume at deploy time
  # The first start on the seeded dir builds the per-user session index
  # once (as a deploy onto a volume from before the index would): not
  # counted; the three measured starts are the steady state.
  p=$(free_port)
  # shellcheck disable=SC2046
  "$tmp/startup" -idle 0 -url "$u:$p/healthz" -- $(cmdline soulbridge "$p" "$tmp/seeded") >/dev/null 2>&1
  st[seeded]=$(startup soulbridge "$tmp/seeded")
fi

f() { printf '%.*f' "$1" "$2"; }
mrps() { median ${res[$1,$2,rps]}; }
printf '\n## GET /community/avatar, authenticated: wrk -t%s -c%s -d%ss, %s alternating rounds, medians (ratios: per round)\n\n' "$THREADS" "$CONNS" "$SECS" "$ROUNDS"
printf '| server | req/s | p50 ms | p99 ms | ×ceiling | ×peer | peak RSS MB | errors |\n|---|---|---|---|---|---|---|---|\n'
for s in "${servers[@]}"; do
  r=$(mrps "$CONNS" "$s")
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$s" "$(f 0 "$r")" \
    "$(median ${res[$CONNS,$s,p50]})" "$(median ${res[$CONNS,$s,p99]})" \
    "$(f 2 "$(median ${res[$CONNS,$s,xc]})")" "$(f 2 "$(median ${res[$CONNS,$s,xp]})")" \
    "$(f 1 "$(echo "${res[$CONNS,$s,hwm]} / 1024" | bc -l)")" "$(echo ${res[$CONNS,$s,err]} | tr ' ' '+' | bc)"
done
for c in 256 2000; do
  n=$ROUNDS; [ "$c" = 2000 ] && n=1
  printf '\n## %s connections (%s round(s), medians)\n\n' "$c" "$n"
  printf '| server | req/s | p99 ms | p99 ×ceiling | peak RSS MB | errors |\n|---|---|---|---|---|---|\n'
  for s in "${servers[@]}"; do
    p99=$(median ${res[$c,$s,p99]})
    printf '| %s | %s | %s | %s | %s | %s |\n' "$s" "$(f 0 "$(mrps "$c" "$s")")" "$p99" \
      "$(f 2 "$(echo "$p99 / $(median ${res[$c,ceiling,p99]})" | bc -l)")" \
      "$(f 1 "$(echo "${res[$c,$s,hwm]} / 1024" | bc -l)")" "$(echo ${res[$c,$s,err]} | tr ' ' '+' | bc)"
  done
done
printf '\n## Start-up and idle RSS (a second after the first 200), medians of 5\n\n'
printf 'exec to first 200 includes starting the process and the Go runtime (about 20 ms for a binary\n'
printf 'with Badger on this machine); "own" is what soulbridge logs on its listening line: from its\n'
printf '"starting" line to the port bound (config, data dir checks, key, store open, index check).\n\n'
printf '| server | data | exec to first 200, ms | own start-up, ms | idle RSS MB |\n|---|---|---|---|---|\n'
strow() { # SERVER DATA "ms rss_kb own_ms"
  local v
  read -r -a v <<<"$3"
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "${v[0]}" "${v[2]}" "$(f 1 "$(echo "${v[1]} / 1024" | bc -l)")"
}
for s in "${servers[@]}"; do strow "$s" empty "${st[$s]}"; done
if [ -n "${st[seeded]:-}" ]; then strow soulbridge "$SEED sessions" "${st[seeded]}"; fi

if [ "$AUTH" = 1 ]; then
  # Sign-up and log-in rates: bounded by argon2id at auth.DefaultParams.
  # X-Real-IP varies per request (TRUST_PROXY_HEADERS=true) so the
  # per-address throttles do not turn the run into 429s.
  cat >"$tmp/signup.lua" <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local n = 0
request = function()
  n = n + 1
  local body = "username=u" .. id .. "x" .. n .. "&password=correct+horse+battery"
  return wrk.format("POST", "/signup", {["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Real-IP"] = "10." .. math.random(0, 255) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)}, body)
end
LUA
  cat >"$tmp/login.lua" <<'LUA'
request = function()
  return wrk.format("POST", "/login", {["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Real-IP"] = "10." .. math.random(0, 255) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)},
    "username=bench&password=correct+horse+battery")
end
LUA
  TRUST=true start soulbridge
  curl -s -o /dev/null -X POST "$u:${port[soulbridge]}/signup" \
    --data-urlencode "username=bench" --data-urlencode "password=correct horse battery"
  authrun() { # script → "req/s non-2xx/3xx p50 p99"
    wrk -t2 -c4 -d"${SECS}s" --latency -s "$tmp/$1.lua" "$u:${port[soulbridge]}" | awk '
      function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
      /Requests\/sec/ {rps=$2} /Non-2xx/ {err=$NF} $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
      END {printf "%s %d %.1f %.1f\n", rps, err+0, p50, p99}'
  }
  signup=$(authrun signup); login=$(authrun login)
  kill "${pid[soulbridge]}"; wait "${pid[soulbridge]}" 2>/dev/null || true
  # GET /community with 10,000 members (cheap hashes: this measures the page).
  echo "seeding 10,000 members…" >&2
  mcookie=$(go run ./bench/seed -dir "$tmp/data-soulbridge-members" -key "$key" -members 10000 -sessions 1 -workers 256)
  mdir=$tmp/data-soulbridge-members
  p=$(free_port); port[soulbridge]=$p
  env -i PATH="$PATH" PORT="$p" DATA_DIR="$mdir" SECRET_KEY="$key" "$tmp/soulbridge" >"$tmp/members.log" 2>&1 &
  pid[soulbridge]=$!; pids+=($!)
  for _ in $(seq 300); do curl -fs "$u:$p/healthz" >/dev/null && break; sleep 0.05; done
  bytes=$(curl -s -H "Cookie: sb_session=$mcookie" "$u:$p/community" | wc -c)
  community=$(wrk -t2 -c8 -d"${SECS}s" --latency -H "Cookie: sb_session=$mcookie" "$u:$p/community" | awk '
      function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
      /Requests\/sec/ {rps=$2} /Non-2xx/ {err=$NF} $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
      END {printf "%s %d %.1f %.1f\n", rps, err+0, p50, p99}')
  printf '\n## Sign-up, log-in (argon2id at auth.DefaultParams; wrk -t2 -c4 -d%ss) and GET /community with 10,000 members (-c8)\n\n' "$SECS"
  printf '| request | req/s | p50 ms | p99 ms | non-2xx/3xx |\n|---|---|---|---|---|\n'
  for row in "POST /signup:$signup" "POST /login:$login" "GET /community ($bytes bytes):$community"; do
    set -- ${row#*:}
    printf '| %s | %s | %s | %s | %s |\n' "${row%%:*}" "$1" "$3" "$4" "$2"
  done
fi
