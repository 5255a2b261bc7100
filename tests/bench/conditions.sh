#!/usr/bin/env bash
# What network conditions cost: 9,900 live connections (as many as a
# 20,000-descriptor limit lets proxymon hold), each echoing a byte every
# PERIOD (benchtool trickle to benchtool echo), relayed by one proxymon
# worker with 50 ms of latency each way, beside the same worker without
# conditions and HAProxy (one thread) in the same run. Every byte waits on
# the worker's timer heap twice. Two paces: a byte every 2 s (9,900
# delayed messages a second) and every 500 ms (39,600). Not a CTest test:
# run it by hand.
#
#   tests/bench/conditions.sh          # about two minutes
#   BENCH_SECONDS=20 tests/bench/conditions.sh
#
# Prints each proxy's CPU as a fraction of a core while the trickle runs
# (the whole process, and for proxymon its worker thread alone), the bytes
# echoed, and the ratios. The issue's bound: the worker under a fifth of a
# core with the latency.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${BENCH_SECONDS:-10}"
count=9900

"$root/scripts/deps.sh" haproxy
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON >/dev/null
cmake --build "$root/build" --target proxymon proxymon_benchtool >/dev/null
proxymon="$root/build/app/proxymon"
benchtool="$root/build/tests/proxymon_benchtool"
ulimit -n "$(ulimit -Hn)"

# shellcheck source=../../scripts/lib.sh
source "$root/scripts/lib.sh"
# shellcheck source=common.sh
source "$root/tests/bench/common.sh"

exec {echo_fd}< <("$benchtool" echo)
pids+=($!)
read -r echo_port <&"$echo_fd"

# utime + stime of a process's threads named NAME (a worker names itself
# proxymon-worker-N, which the kernel cuts to 15 characters).
thread_ticks() { # PID NAME
    local total=0 task
    for task in /proc/"$1"/task/*; do
        [[ "$(cat "$task/comm" 2>/dev/null)" == "$2"* ]] || continue
        total=$((total + $(awk '{ print $14 + $15 }' "$task/stat")))
    done
    echo "$total"
}

declare -A core worker echoed
for period in 2000 500; do
    for name in proxymon-latency proxymon haproxy; do
        port="$(free_port)"
        case "$name" in
        proxymon-latency)
            "$proxymon" --headless --listen "127.0.0.1:$port" --target "127.0.0.1:$echo_port" --workers 1 \
                --condition both:latency=50ms 2>"$work/proxymon.log" &
            ;;
        proxymon)
            "$proxymon" --headless --listen "127.0.0.1:$port" --target "127.0.0.1:$echo_port" --workers 1 \
                2>"$work/proxymon.log" &
            ;;
        haproxy)
            { haproxy_defaults; cat <<CONF; } >"$work/haproxy.cfg"
listen forward
    bind 127.0.0.1:$port
    server upstream 127.0.0.1:$echo_port
CONF
            haproxy -db -f "$work/haproxy.cfg" &
            ;;
        esac
        pid=$!
        pids+=("$pid")
        wait_port "$port"
        echo "== $name: $count connections, a byte each way every $period ms, ${seconds}s" >&2
        exec {trickle_fd}< <("$benchtool" trickle "$port" "$count" "$seconds" "$period")
        read -r _ <&"$trickle_fd" # all connected
        before="$(cpu_ticks "$pid")"
        worker_before="$(thread_ticks "$pid" proxymon-worke)"
        start="$(date +%s.%N)"
        read -r "echoed[$name,$period]" <&"$trickle_fd"
        after="$(cpu_ticks "$pid")"
        worker_after="$(thread_ticks "$pid" proxymon-worke)"
        end="$(date +%s.%N)"
        exec {trickle_fd}<&-
        per_second() { awk -v a="$2" -v b="$1" -v t="$ticks_per_second" -v s="$start" -v e="$end" \
            'BEGIN { printf "%.3f", (a - b) / t / (e - s) }'; }
        core[$name,$period]="$(per_second "$before" "$after")"
        worker[$name,$period]="-"
        [[ "$name" == haproxy ]] || worker[$name,$period]="$(per_second "$worker_before" "$worker_after")"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
echo
echo "| | CPU (cores), a byte every 2 s | its worker | bytes echoed | CPU (cores), every 500 ms | its worker | bytes echoed |"
echo "|---|---|---|---|---|---|---|"
for name in proxymon-latency proxymon haproxy; do
    echo "| $name | ${core[$name,2000]} | ${worker[$name,2000]} | ${echoed[$name,2000]} |" \
        "${core[$name,500]} | ${worker[$name,500]} | ${echoed[$name,500]} |"
done
echo
for period in 2000 500; do
    echo "- a byte every $period ms: proxymon's worker with 50 ms each way ${worker[proxymon-latency,$period]} of a core (< 0.2)," \
        "the whole process ${core[proxymon-latency,$period]};" \
        "the worker against itself without conditions $(ratio "${worker[proxymon-latency,$period]}" "${worker[proxymon,$period]}")," \
        "the process against HAProxy $(ratio "${core[proxymon-latency,$period]}" "${core[haproxy,$period]}");" \
        "bytes echoed against HAProxy's $(ratio "${echoed[proxymon-latency,$period]}" "${echoed[haproxy,$period]}")"
done
