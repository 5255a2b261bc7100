# Helpers for the scripts that run servers in the background (bench,
# screenshot): a scratch directory and processes cleaned up on exit, free
# ports, waiting for a port. Source it; it sets $work and the pids array.
work="$(mktemp -d)"
chmod 755 "$work" # nginx's workers run as www-data
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}
