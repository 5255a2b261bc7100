#!/usr/bin/env bash
# Builds proxymon and runs every test through CTest: once optimised, once with
# AddressSanitizer and UndefinedBehaviorSanitizer (any report fails the run).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# Node.js and npm from Debian unless a node with its own npm is there
# already (NodeSource's nodejs bundles npm and conflicts with Debian's).
node_packages=()
command -v node >/dev/null || node_packages+=(nodejs)
command -v npm >/dev/null || node_packages+=(npm)
"$root/scripts/deps.sh" curl netcat-openbsd util-linux openssl clang libclang-rt-14-dev \
    nginx-light libnss3-tools chromium tshark tcpdump "${node_packages[@]}"
# The HAR schema validator the tests run, at the version package-lock.json pins.
if [ ! -d "$root/tests/tools/node_modules/har-validator" ]; then
    npm ci --prefix "$root/tests/tools" --no-audit --no-fund
fi
export QT_QPA_PLATFORM=offscreen
jobs="$(nproc)"

echo "== optimised build"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=ON >/dev/null
cmake --build "$root/build" -j "$jobs"
ctest --test-dir "$root/build" --output-on-failure --timeout 300

echo "== fuzzing the HTTP capture and the HTTP proxy's request path (libFuzzer + AddressSanitizer, ${PROXYMON_FUZZ_SECONDS:-60} s each) and the ClientHello reader (a quarter of that)"
CC=clang CXX=clang++ cmake -S "$root" -B "$root/build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPROXYMON_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build "$root/build-fuzz" -j "$jobs" --target proxymon_fuzz_http proxymon_fuzz_httpproxy proxymon_fuzz_clienthello
corpus="$(mktemp -d)"
hellos="$(mktemp -d)"
requests="$(mktemp -d)"
trap 'rm -rf "$corpus" "$hellos" "$requests"' EXIT
cp "$root"/tests/fuzz/corpus/* "$corpus"/
cp "$root"/tests/fuzz/clienthello-corpus/* "$hellos"/
cp "$root"/tests/fuzz/httpproxy-corpus/* "$requests"/
# Any crash, leak or sanitizer report makes libFuzzer exit non-zero.
"$root/build-fuzz/tests/fuzz/proxymon_fuzz_http" -max_total_time="${PROXYMON_FUZZ_SECONDS:-60}" \
    -max_len=4096 -print_final_stats=1 "$corpus" 2>&1 | tail -n 12
# What the HTTP proxy sends upstream must read the same to every reference
# server (tests/support/referencereaders): request smuggling.
"$root/build-fuzz/tests/fuzz/proxymon_fuzz_httpproxy" -max_total_time="${PROXYMON_FUZZ_SECONDS:-60}" \
    -max_len=4096 -print_final_stats=1 "$requests" 2>&1 | tail -n 12
"$root/build-fuzz/tests/fuzz/proxymon_fuzz_clienthello" -max_total_time="$(( ${PROXYMON_FUZZ_SECONDS:-60} / 4 ))" \
    -max_len=8192 -print_final_stats=1 "$hellos" 2>&1 | tail -n 12

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cmake -S "$root" -B "$root/build-asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON \
    -DPROXYMON_SANITIZE=ON >/dev/null
cmake --build "$root/build-asan" -j "$jobs"
ctest --test-dir "$root/build-asan" --output-on-failure --timeout 600
