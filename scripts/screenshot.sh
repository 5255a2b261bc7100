#!/usr/bin/env bash
# Launches the real proxymon window under Xvfb, sends it a mix of traffic
# (keep-alive requests, gzip JSON, a POST, a 404, a binary connection),
# selects a connection and saves a screenshot: docs/screenshot.png, or the
# path given as the first argument.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/docs/screenshot.png}"
"$root/scripts/deps.sh" xvfb xauth imagemagick xdotool nginx-light curl netcat-openbsd python3
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" --target proxymon >/dev/null

# shellcheck source=lib.sh
source "$root/scripts/lib.sh"

# A small site to look at.
mkdir -p "$work/www/api"
python3 - "$work/www/api/items.json" <<'PY'
import json, sys
items = [{"id": i, "name": f"item {i}", "price": round(i * 1.25, 2), "tags": ["demo", "proxymon"]} for i in range(1, 40)]
json.dump({"page": 1, "items": items}, open(sys.argv[1], "w"))
PY
printf '<!doctype html><title>shop</title><h1>Hello through proxymon</h1>\n' >"$work/www/index.html"
web_port="$(free_port)"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 64; }
http {
    access_log off;
    gzip on;
    gzip_types application/json;
    gzip_min_length 64;
    types { text/html html; application/json json; }
    server {
        listen 127.0.0.1:$web_port;
        root $work/www;
        location = /api/orders { return 201 '{"order": 1042, "status": "created"}'; }
    }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
wait_port "$web_port"

display=":$((90 + RANDOM % 9))"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp &
pids+=($!)
sleep 1
proxy_port="$(free_port)"
DISPLAY="$display" XDG_CONFIG_HOME="$work/config" QT_QPA_PLATFORM=xcb \
    "$root/build/app/proxymon" --listen "127.0.0.1:$proxy_port" --target "127.0.0.1:$web_port" &
pids+=($!)
# Not probed with a connection: it would show as a row of its own.
sleep 2

base="http://127.0.0.1:$proxy_port"
curl -s -o /dev/null "$base/" "$base/api/items.json" "$base/missing" # one keep-alive connection
curl -s -o /dev/null --compressed "$base/api/items.json"
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"item": 7, "quantity": 2}' "$base/api/orders"
printf 'GET / HTTP/1.1\nHost: www.google.com\n\n' | nc -N 127.0.0.1 "$proxy_port" >/dev/null || true
printf '\x16\x03\x01\x00\x2a\x01\x00\x00\x26\x03\x03binary-client-hello' | nc -N -w 1 127.0.0.1 "$proxy_port" >/dev/null || true
sleep 1.5

# Select the gzip JSON connection (the second row); its exchange shows.
window="$(DISPLAY="$display" xdotool search --name proxymon | head -n 1)"
DISPLAY="$display" xdotool windowmove "$window" 0 0
sleep 0.3
DISPLAY="$display" xdotool mousemove 200 105 click 1
sleep 0.3
mkdir -p "$(dirname "$out")"
DISPLAY="$display" import -window root -crop 1200x760+0+0 "$out"
echo "saved $out"
