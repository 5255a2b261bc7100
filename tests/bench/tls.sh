#!/usr/bin/env bash
# TLS interception benchmark: proxymon decrypting (its certificate toward
# the client, TLS to the upstream, the HTTP capture in between) beside
# HAProxy doing the same two handshakes (bind ... ssl crt, server ... ssl
# verify required, no session reuse toward the server, as proxymon has
# none), one thread each, in one run against the same nginx over TLS.
# Not a CTest test: run it by hand.
#
#   tests/bench/tls.sh              # about four minutes
#   BENCH_SECONDS=3 BENCH_ROUNDS=1 tests/bench/tls.sh
#
# Prints each round's figures and the medians of proxymon/HAProxy ratios:
# CPU per new intercepted connection (leaf cached), CPU per keep-alive
# request over TLS, 1 MiB downloads' MB/s; then what a first connection to
# a new host costs (the leaf is made) beside one whose leaf is cached.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${BENCH_SECONDS:-8}"
rounds="${BENCH_ROUNDS:-3}"

"$root/scripts/deps.sh" wrk haproxy nginx-light openssl curl python3
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON >/dev/null
cmake --build "$root/build" --target proxymon >/dev/null
proxymon="$root/build/app/proxymon"
ulimit -n "$(ulimit -Hn)"

# shellcheck source=../../scripts/lib.sh
source "$root/scripts/lib.sh"
# shellcheck source=common.sh
source "$root/tests/bench/common.sh"

# --- a test authority and the site's certificate (for 127.0.0.1) -------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" \
    -subj /CN=bench-ca -days 2 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/site.key" -out "$work/site.csr" \
    -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$work/site.ext"
openssl x509 -req -in "$work/site.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -out "$work/site.pem" -days 2 -extfile "$work/site.ext" 2>/dev/null
cat "$work/site.pem" "$work/site.key" >"$work/site-combined.pem"
nginx_tls_cert="$work/site.pem" nginx_tls_key="$work/site.key"
start_nginx

# --- proxies ------------------------------------------------------------------
declare -A proxy_pid proxy_port
start_proxy() { # NAME [extra proxymon args]
    local name="$1" port
    shift
    port="$(free_port)"
    case "$name" in
    proxymon)
        # As users run it headless (capture on), one worker like HAProxy's
        # one thread; its own authority in the scratch directory.
        "$proxymon" --headless --listen "127.0.0.1:$port" --target "127.0.0.1:$nginx_tls_port" --workers 1 \
            --upstream-ca "$work/ca.pem" --ca-dir "$work/proxymon-ca" "$@" 2>>"$work/proxymon.log" &
        ;;
    haproxy)
        { haproxy_defaults; cat <<CONF; } >"$work/haproxy.cfg"
listen tls
    bind 127.0.0.1:$port ssl crt $work/site-combined.pem alpn http/1.1
    server upstream 127.0.0.1:$nginx_tls_port ssl verify required ca-file $work/ca.pem alpn http/1.1 no-ssl-reuse
CONF
        haproxy -db -f "$work/haproxy.cfg" &
        ;;
    esac
    proxy_pid[$name]=$!
    pids+=($!)
    proxy_port[$name]="$port"
    wait_port "$port"
    # One request first: proxymon makes the leaf for 127.0.0.1 now, so the
    # figures below are those of a cached leaf.
    curl -sk -o /dev/null "https://127.0.0.1:$port/small"
}
stop_proxy() {
    kill "${proxy_pid[$1]}" 2>/dev/null || true
    wait "${proxy_pid[$1]}" 2>/dev/null || true
}
per() { awk -v c="$1" -v n="$2" -v s="$3" 'BEGIN { printf "%.1f", c * s / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.3f", a / b }'; }

declare -a cc_ratios ka_ratios dl_ratios
export WRK_SCHEME=https
echo "== $rounds rounds of new connections, keep-alive and 1 MiB downloads over TLS (${seconds}s each)" >&2
echo "| round | proxy | new conn/s | CPU µs/conn | keep-alive req/s | CPU µs/req | 1 MiB MB/s |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq "$rounds"); do
    declare -A r=()
    # Alternate which goes first.
    order=(proxymon haproxy)
    ((round % 2 == 0)) && order=(haproxy proxymon)
    for name in "${order[@]}"; do
        start_proxy "$name"
        read -r rate _ requests cpu <<<"$(wrk_cpu "${proxy_pid[$name]}" "${proxy_port[$name]}" /small 20 -H "Connection: close")"
        r[$name,cc_rate]="$rate"; r[$name,cc_cpu]="$(per "$cpu" "$requests" 1e6)"
        read -r rate _ requests cpu <<<"$(wrk_cpu "${proxy_pid[$name]}" "${proxy_port[$name]}" /small 50)"
        r[$name,ka_rate]="$rate"; r[$name,ka_cpu]="$(per "$cpu" "$requests" 1e6)"
        read -r rate _ _ _ <<<"$(WRK_THREADS=2 wrk_cpu "${proxy_pid[$name]}" "${proxy_port[$name]}" /1m 16)"
        r[$name,dl]="$(awk -v r="$rate" 'BEGIN { printf "%.0f", r * 1.048576 }')"
        stop_proxy "$name"
        echo "| $round | $name | ${r[$name,cc_rate]} | ${r[$name,cc_cpu]} | ${r[$name,ka_rate]} | ${r[$name,ka_cpu]} | ${r[$name,dl]} |"
    done
    cc_ratios+=("$(ratio "${r[proxymon,cc_cpu]}" "${r[haproxy,cc_cpu]}")")
    ka_ratios+=("$(ratio "${r[proxymon,ka_cpu]}" "${r[haproxy,ka_cpu]}")")
    dl_ratios+=("$(ratio "${r[proxymon,dl]}" "${r[haproxy,dl]}")")
done

echo "== the first connection to a new host (its leaf made) beside a cached one" >&2
# curl's TLS handshake time with proxymon (time_appconnect minus
# time_connect), 40 connections to 40 new names and 40 to one name; the
# upstream is relayed unchecked (its certificate names 127.0.0.1 only).
start_proxy proxymon --insecure
port="${proxy_port[proxymon]}"
handshake_ms() { # NAME
    curl -sk -o /dev/null --resolve "$1:$port:127.0.0.1" -w '%{time_connect} %{time_appconnect}\n' \
        "https://$1:$port/small" | awk '{ printf "%.3f\n", ($2 - $1) * 1000 }'
}
new=() cached=()
handshake_ms cached.bench.test >/dev/null
for i in $(seq 40); do
    new+=("$(handshake_ms "n$i-$RANDOM.bench.test")")
    cached+=("$(handshake_ms cached.bench.test)")
done
stop_proxy proxymon

echo
echo "proxymon / HAProxy, medians of $rounds rounds (target in brackets; rounds after):"
echo "- CPU per new intercepted connection, leaf cached: $(median "${cc_ratios[@]}") (≤ 1.3; ${cc_ratios[*]})"
echo "- CPU per keep-alive request over TLS: $(median "${ka_ratios[@]}") (≤ 1.0; ${ka_ratios[*]})"
echo "- 1 MiB downloads over TLS, MB/s: $(median "${dl_ratios[@]}") (≥ 1.0; ${dl_ratios[*]})"
echo "- a client's TLS handshake through proxymon, median of 40: $(median "${new[@]}") ms to a new host (leaf made), $(median "${cached[@]}") ms to a cached one"
