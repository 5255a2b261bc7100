#!/usr/bin/env bash
# Before and after: proxymon at another revision (or a binary already
# built) beside the working tree's, in one sitting, against the same nginx,
# in interleaved rounds. For changes that must cost no speed (a reshaping of
# the engine): prints the ratios after/before of proxymon's own CPU time per
# keep-alive request, per new connection and per GB of 1 MiB downloads,
# with the capture on (as users run it) and off (the forwarding engine
# alone), per keep-alive request in HTTP proxy mode, and per GB of 64 KiB
# uploads through the HTTP proxy, with Content-Length and chunked (four
# 16 KiB chunks, which proxymon frames again); for the working tree it also
# prints chunked over Content-Length, the cost of framing again against
# copying. Each figure is the
# median of the rounds' ratios; the rounds are printed too, as the spread.
# Not a CTest test: run it by hand, with nothing else running.
#
#   tests/bench/compare.sh HEAD~1            # builds that revision in a scratch worktree
#   tests/bench/compare.sh /tmp/proxymon     # or compares with that binary
#   COMPARE_ROUNDS=5 COMPARE_SECONDS=4 tests/bench/compare.sh main   # the defaults: about six minutes
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
against="${1:?usage: compare.sh REVISION | PROXYMON_BINARY}"
seconds="${COMPARE_SECONDS:-4}"
rounds="${COMPARE_ROUNDS:-5}"

"$root/scripts/deps.sh" wrk nginx-light python3
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON >/dev/null
cmake --build "$root/build" --target proxymon >/dev/null
ulimit -n "$(ulimit -Hn)"

# shellcheck source=../../scripts/lib.sh
source "$root/scripts/lib.sh"
# shellcheck source=common.sh
source "$root/tests/bench/common.sh"

declare -A binary
binary[after]="$root/build/app/proxymon"
if [[ -f "$against" && -x "$against" ]]; then
    binary[before]="$(realpath "$against")"
else
    echo "== building $against" >&2
    trap 'cleanup; git -C "$root" worktree prune' EXIT
    git -C "$root" worktree add --detach "$work/before" "$against" >/dev/null 2>&1
    cmake -S "$work/before" -B "$work/before/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
    cmake --build "$work/before/build" --target proxymon >/dev/null
    binary[before]="$work/before/build/app/proxymon"
fi

start_nginx
printf 'wrk.path = "http://127.0.0.1:%s/small"\n' "$nginx_port" >"$work/absolute.lua"
# 64 KiB uploads in absolute form, one request string built once.
cat >"$work/upload.lua" <<LUA
local body = string.rep("x", 65536)
local req = "POST http://127.0.0.1:$nginx_port/upload HTTP/1.1\r\nHost: 127.0.0.1:$nginx_port\r\n"
    .. "Content-Length: 65536\r\n\r\n" .. body
request = function() return req end
LUA
cat >"$work/upload-chunked.lua" <<LUA
local chunk = "4000\r\n" .. string.rep("x", 16384) .. "\r\n"
local req = "POST http://127.0.0.1:$nginx_port/upload HTTP/1.1\r\nHost: 127.0.0.1:$nginx_port\r\n"
    .. "Transfer-Encoding: chunked\r\n\r\n" .. chunk:rep(4) .. "0\r\n\r\n"
request = function() return req end
LUA

proxy_pid="" proxy_port=""
start_proxymon() { # WHICH [proxymon arguments]
    local which="$1"
    shift
    proxy_port="$(free_port)"
    "${binary[$which]}" --headless --listen "127.0.0.1:$proxy_port" "$@" 2>"$work/proxymon-$which.log" &
    proxy_pid=$!
    pids+=("$proxy_pid")
    wait_port "$proxy_port"
}
stop_proxymon() {
    kill "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
}
# CPU µs per request, or s per GB for the 1 MiB downloads (64 KiB uploads).
per_request() { awk -v c="$2" -v n="$1" 'BEGIN { printf "%.3f", c * 1e6 / n }'; }
per_gb() { awk -v c="$2" -v n="$1" -v size="${3:-1048576}" 'BEGIN { printf "%.4f", c / (n * size / 1e9) }'; }

declare -A cost ratios
measures=(ka_on cc_on dl_on ka_off cc_off dl_off ka_proxy ul_proxy ulc_proxy)
declare -A framing
for round in $(seq "$rounds"); do
    # Alternate which goes first, so that a drift of the machine's speed
    # during a round does not favour one side.
    order=(before after)
    ((round % 2 == 0)) && order=(after before)
    echo "== round $round of $rounds (${order[*]})" >&2
    for capture in on off; do
        extra=()
        [[ "$capture" == off ]] && extra=(--no-capture)
        for which in "${order[@]}"; do
            start_proxymon "$which" --target "127.0.0.1:$nginx_port" "${extra[@]}"
            read -r _ _ n cpu <<<"$(wrk_cpu "$proxy_pid" "$proxy_port" /small 50)"
            cost[$which,ka_$capture]="$(per_request "$n" "$cpu")"
            read -r _ _ n cpu <<<"$(wrk_cpu "$proxy_pid" "$proxy_port" /small 50 -H "Connection: close")"
            cost[$which,cc_$capture]="$(per_request "$n" "$cpu")"
            read -r _ _ n cpu <<<"$(WRK_THREADS=2 wrk_cpu "$proxy_pid" "$proxy_port" /1m 16)"
            cost[$which,dl_$capture]="$(per_gb "$n" "$cpu")"
            stop_proxymon
        done
    done
    for which in "${order[@]}"; do
        start_proxymon "$which" --mode http-proxy
        read -r _ _ n cpu <<<"$(wrk_cpu "$proxy_pid" "$proxy_port" /small 50 -s "$work/absolute.lua")"
        cost[$which,ka_proxy]="$(per_request "$n" "$cpu")"
        read -r _ _ n cpu <<<"$(wrk_cpu "$proxy_pid" "$proxy_port" /upload 16 -s "$work/upload.lua")"
        cost[$which,ul_proxy]="$(per_gb "$n" "$cpu" 65536)"
        read -r _ _ n cpu <<<"$(wrk_cpu "$proxy_pid" "$proxy_port" /upload 16 -s "$work/upload-chunked.lua")"
        cost[$which,ulc_proxy]="$(per_gb "$n" "$cpu" 65536)"
        stop_proxymon
    done
    for m in "${measures[@]}"; do
        ratios[$m]+="$(awk -v a="${cost[after,$m]}" -v b="${cost[before,$m]}" 'BEGIN { printf "%.3f", a / b }') "
    done
    framing[after]+="$(awk -v a="${cost[after,ulc_proxy]}" -v b="${cost[after,ul_proxy]}" 'BEGIN { printf "%.3f", a / b }') "
done

describe() {
    case "$1" in
    ka_*) echo "CPU per keep-alive request" ;;
    cc_*) echo "CPU per new connection" ;;
    dl_*) echo "CPU per GB, 1 MiB downloads" ;;
    esac
}
echo
echo "proxymon after / before ($against), CPU time, median of $rounds interleaved rounds (1.00 is unchanged):"
for m in "${measures[@]}"; do
    # shellcheck disable=SC2086 # the rounds are words
    med="$(median ${ratios[$m]})"
    case "$m" in
    *_on) label="$(describe "$m"), capture on" ;;
    *_off) label="$(describe "$m"), capture off" ;;
    ka_proxy) label="CPU per keep-alive request, HTTP proxy mode" ;;
    ul_proxy) label="CPU per GB of 64 KiB uploads with Content-Length, HTTP proxy mode" ;;
    ulc_proxy) label="CPU per GB of 64 KiB chunked uploads, HTTP proxy mode" ;;
    esac
    echo "- $label: $(printf '%.2f' "$med") (rounds: ${ratios[$m]% })"
done
# shellcheck disable=SC2086 # the rounds are words
echo "- the working tree's chunked uploads over Content-Length ones, CPU per GB: $(printf '%.2f' "$(median ${framing[after]})") (rounds: ${framing[after]% })"
