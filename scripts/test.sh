#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite, from a fresh clone: installs missing Debian packages, then builds and runs
#   1. the normal build (warnings are errors) and its CTest suite,
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build of everything and the same suite,
#   3. the libFuzzer targets (clang), each run briefly over its seed corpus.
# Suite 1 and 2 include the Chromium interop test (tests/interop/, Debian's chromium under Xvfb).
# Prints every CTest summary and, last, one line "N passed, N failed".
# Environment: HG_JOBS (parallel jobs, default nproc), HG_SKIP_ASAN=1, HG_SKIP_FUZZ=1.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh || exit 1
# The Chromium interop test needs chromium, Xvfb and xdotool (not needed for the demo).
./tests/interop/setup.sh || exit 1
# The browser bridge's tests need firefox-esr (headless, WebDriver BiDi) and zbar-tools.
./tests/browser/setup.sh || exit 1
# The real-kernel tests (CTest label vm) need QEMU, Debian's kernel, busybox-static and BlueZ.
./tests/vm/setup.sh || exit 1

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export CTEST_OUTPUT_ON_FAILURE=1
jobs=${HG_JOBS:-$(nproc)}
total_pass=0
total_fail=0
status=0

run_suite() {  # name build_dir
  local name=$1 dir=$2 log
  log="$dir/ctest.log"
  echo "=== $name: ctest in $dir"
  (cd "$dir" && ctest -j "$jobs" --timeout 600) 2>&1 | tee "$log"
  local line
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1)
  if [ -z "$line" ]; then
    echo "=== $name: ctest printed no summary" >&2
    status=1
    return
  fi
  local failed total
  failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
  total_fail=$((total_fail + failed))
  total_pass=$((total_pass + total - failed))
  [ "$failed" -eq 0 ] || status=1
}

build() {  # name dir cmake-args...
  local name=$1 dir=$2
  shift 2
  echo "=== $name: building in $dir"
  if ! ./scripts/build.sh "$dir" "$@"; then
    echo "=== $name: BUILD FAILED" >&2
    status=1
    total_fail=$((total_fail + 1))
    return 1
  fi
}

if build "normal build" build; then  # the normal build (scripts/build.sh), shared with scripts/demo.sh
  run_suite "normal build" build
fi
if [ "${HG_SKIP_ASAN:-0}" != 1 ]; then
  # -g1: sanitizer reports keep file:line; full -g only made the build slower.
  if build "ASan+UBSan build" build-asan -DCMAKE_BUILD_TYPE=Debug -DHG_SANITIZE=ON -DHG_WERROR=ON \
    "-DCMAKE_CXX_FLAGS_DEBUG=-g1" "-DCMAKE_C_FLAGS_DEBUG=-g1"; then
    run_suite "ASan+UBSan build" build-asan
  fi
fi
if [ "${HG_SKIP_FUZZ:-0}" != 1 ]; then
  if CC=clang-14 CXX=clang++-14 build "libFuzzer smoke" build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHG_FUZZ=ON; then
    run_suite "libFuzzer smoke" build-fuzz
  fi
fi

echo
echo "all suites: ${total_pass} passed, ${total_fail} failed"
echo "${total_pass} passed, ${total_fail} failed"
exit $status
