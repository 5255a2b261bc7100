#!/usr/bin/env bash
# Builds an optimised proxymon and runs it with the given arguments.
# Example: scripts/run.sh --headless --listen 127.0.0.1:8080 --target example.org:80
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/deps.sh"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$root/build" --target proxymon
exec "$root/build/app/proxymon" "$@"
