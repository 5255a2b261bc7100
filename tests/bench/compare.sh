#!/usr/bin/env bash
# Before and after: proxymon at another revision (or a binary already
# built) beside the working tree's, in one sitting, against the same nginx,
# in interleaved rounds. For changes that must cost no speed (a reshaping of
# the engine): prints the ratios after/before of proxymon's own CPU time per
# keep-alive request, per new connection and per GB of 1 MiB downloads,
# with the capture on (as users run it) and off (the forwarding engine
# alone), and per keep-alive request in HTTP proxy mode. Each figure is the
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
# CPU µs per request, or s per GB for the 1 MiB downloads.
per_request() { awk -v c="$2" -v n="$1" 'BEGIN { printf "%.3f", c * 1e6 / n }'; }
per_gb() { awk -v c="$2" -v n="$1" 'BEGIN { printf "%.4f", c / (n * 1048576 / 1e9) }'; }

declare -A cost ratios
measures=(ka_on cc_on dl_on ka_off cc_off dl_off ka_proxy)
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
        stop_proxymon
    done
    for m in "${measures[@]}"; do
        ratios[$m]+="$(awk -v a="${cost[after,$m]}" -v b="${cost[before,$m]}" 'BEGIN { printf "%.3f", a / b }') "
    done
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
    esac
    echo "- $label: $(printf '%.2f' "$med") (rounds: ${ratios[$m]% })"
done
