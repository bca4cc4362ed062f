#!/usr/bin/env bash
# bench/latency-floor.sh (npm run bench:latency-floor): how low a p99 this machine can show at all, one
# request at a time, beside the monitor's own 503 while its circuit is open. wrk (C, its own process,
# µs resolution) sends on one connection, one request after the other, 3 s a run, 3 rounds, to:
#   nginx `return 503`       a C server with no garbage collector: the machine's floor
#   node:http, 38-byte JSON  the least a Node server does (what bench:proxy calls "upstream directly")
#   monitor, circuit open    the built monitor (monitor/dist), its upstream a closed port, so open
#                            after one failed probe; its answer is the prebuilt 503 (SPEC: no network)
# MONITOR_NODE picks the node for the monitor (default: node on PATH); the image's node flags and
# ENV apply (read from monitor/Dockerfile by bench/support/shipped.ts, as bench:proxy does). Prints a table; writes nothing. Needs wrk and nginx (installed here
# through apt-get when missing, like the tests' own setup).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
log() { printf '[latency-floor] %s\n' "$*" >&2; }

bash "$root/scripts/setup-test-deps.sh"
if ! command -v wrk >/dev/null; then
  ((EUID == 0)) || { log "wrk is missing and this is not root: apt-get install wrk"; exit 1; }
  log "installing wrk (Debian's package)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
fi
[[ -f "$root/monitor/dist/main.js" ]] || { log "monitor/dist/main.js missing: npm run build first"; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
MONITOR_NODE=${MONITOR_NODE:-node}
# the image's node flags on the first line, then its ENV, one KEY=value a line
mapfile -t shipped < <(cd "$root" && npx ts-node --transpile-only --project tsconfig.json -e '
  const { nodeFlags, env } = require("./bench/support/shipped").shippedMonitor();
  console.log([nodeFlags.join(" "), ...Object.entries(env).map(([key, value]) => `${key}=${value}`)].join("\n"));')
read -r -a node_flags <<<"${shipped[0]}"
image_env=("${shipped[@]:1}")

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -f "$work/nginx.pid" ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
nginx_port=$(free_port); node_port=$(free_port); proxy_port=$(free_port); admin_port=$(free_port); dead_port=$(free_port)

mkdir -p "$work/logs"
cat >"$work/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $work/nginx.pid; error_log $work/logs/error.log;
events {}
http { access_log off; server { listen 127.0.0.1:$nginx_port; location / { default_type application/json; return 503 '{"error":"circuit open"}'; } } }
CONF
"$NGINX" -p "$work" -c "$work/nginx.conf" & pids+=($!)
node -e "require('http').createServer((q,r)=>{r.setHeader('content-type','application/json');r.end('{\"ok\":true,\"service\":\"upstream\"}')}).listen($node_port,'127.0.0.1')" & pids+=($!)
(cd "$root" && exec env "${image_env[@]}" HTTP_CLIENT="127.0.0.1:$dead_port" PROXY_PORT="$proxy_port" ADMIN_PORT="$admin_port" \
  PROBE_INTERVAL=0.5 ERROR_THRESHOLD=1 TIME_WINDOW=600 LOG_LEVEL=error \
  "$MONITOR_NODE" "${node_flags[@]}" monitor/dist/main.js >"$work/monitor.log" 2>&1) & pids+=($!)

wait_for() { # url expected-status
  for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$1" || true) == "$2" ]] && return 0
    sleep 0.1
  done
  log "$1 never answered $2"; cat "$work/monitor.log" >&2; exit 1
}
wait_for "http://127.0.0.1:$nginx_port/" 503
wait_for "http://127.0.0.1:$node_port/" 200
wait_for "http://127.0.0.1:$proxy_port/" 503

# one wrk run: "p50 p90 p99 requests/s", latencies in µs
run() {
  wrk -t1 -c1 -d3s --latency "$1" | awk '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; return v * 1000000 }
    $1 == "50%" { p50 = us($2) } $1 == "90%" { p90 = us($2) } $1 == "99%" { p99 = us($2) }
    $1 == "Requests/sec:" { rps = $2 }
    END { printf "%d %d %d %d\n", p50, p90, p99, rps }'
}

targets=("nginx return 503|http://127.0.0.1:$nginx_port/" "node:http 200|http://127.0.0.1:$node_port/" "monitor open 503|http://127.0.0.1:$proxy_port/")
printf 'one request at a time, wrk -t1 -c1 -d3s, 3 rounds; monitor on %s (%s); load average %s\n' "$("$MONITOR_NODE" -v)" "${node_flags[*]} ${image_env[*]}" "$(cut -d' ' -f1 /proc/loadavg)"
printf '%-18s %-6s %8s %8s %8s %10s\n' target round 'p50 us' 'p90 us' 'p99 us' 'requests/s'
for round in 1 2 3; do
  for target in "${targets[@]}"; do
    read -r p50 p90 p99 rps < <(run "${target#*|}")
    printf '%-18s %-6s %8s %8s %8s %10s\n' "${target%%|*}" "$round" "$p50" "$p90" "$p99" "$rps"
  done
done
