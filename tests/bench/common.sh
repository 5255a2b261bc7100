# Shared by bench.sh and compare.sh (source it after scripts/lib.sh): the
# nginx upstream as production runs it, and wrk runs that also measure the
# CPU time a proxy process spent on them.

ticks_per_second="$(getconf CLK_TCK)"
# utime + stime + cutime + cstime of a process, in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"
}

# Starts nginx on a free port ($nginx_port) serving /small (6 bytes) and
# /1m (1 MiB of random bytes) as a production nginx does: sendfile on,
# tcp_nopush on (Debian's own nginx.conf). With sendfile off, a stall on
# page-fragment streams and the capture's cost on big bodies did not show.
# With $nginx_tls_cert and $nginx_tls_key set, it also serves them over TLS
# on $nginx_tls_port.
start_nginx() {
    mkdir -p "$work/www"
    head -c 1048576 /dev/urandom >"$work/www/1m"
    nginx_port="$(free_port)"
    local tls_listen=""
    if [[ -n "${nginx_tls_cert:-}" ]]; then
        nginx_tls_port="$(free_port)"
        tls_listen="listen 127.0.0.1:$nginx_tls_port ssl backlog=4096; ssl_certificate $nginx_tls_cert; ssl_certificate_key $nginx_tls_key;"
    fi
    cat >"$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 20000; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$nginx_port backlog=4096;
        $tls_listen
        root $work/www;
        location = /small { return 200 "hello\n"; }
        # Uploads: nginx reads the body, drops it and answers.
        location = /upload { client_max_body_size 100m; return 200 "ok\n"; }
    }
}
CONF
    nginx -c "$work/nginx.conf" -p "$work" &
    pids+=($!)
    wait_port "$nginx_port"
}

# wrk against PORT for $seconds; prints "rate p99_ms requests cpu_seconds",
# the CPU being that of PID over the run ("" for none).
# wrk prints "Requests/sec: N" and, with --latency, "99% T" in us/ms/s.
wrk_cpu() { # PID PORT PATH CONNECTIONS [extra wrk args]; WRK_THREADS (default 1), WRK_SCHEME (default http)
    local pid="$1" port="$2" path="$3" connections="$4"
    shift 4
    local before=0 after=0 out
    [[ -n "$pid" ]] && before="$(cpu_ticks "$pid")"
    out="$(wrk -t"${WRK_THREADS:-1}" -c"$connections" -d"${seconds}s" --latency "$@" "${WRK_SCHEME:-http}://127.0.0.1:$port$path")"
    # socat's children are counted once it has reaped them.
    sleep 0.5
    [[ -n "$pid" ]] && after="$(cpu_ticks "$pid")"
    local rate p99 requests
    rate="$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")"
    requests="$(awk '/requests in/ { print $1 }' <<<"$out")"
    p99="$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } print v }' <<<"$out")"
    local cpu_seconds
    cpu_seconds="$(awk -v a="$after" -v b="$before" -v t="$ticks_per_second" 'BEGIN { print (a - b) / t }')"
    echo "$rate $p99 $requests $cpu_seconds"
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# HAProxy's global and defaults sections as every benchmark runs it: one
# thread, TCP mode, long timeouts.
haproxy_defaults() {
    cat <<CONF
global
    nbthread 1
    maxconn 9900
defaults
    mode tcp
    timeout connect 10s
    timeout client 1h
    timeout server 1h
CONF
}
