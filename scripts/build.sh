#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/build.sh BUILD_DIR [cmake options…] — configure (once) and build with Ninja.
# Without options: the normal build that scripts/demo.sh and scripts/test.sh share (so the test
# command after the demo reuses its build): optimised, warnings are errors, line-table debug info
# (-g1: backtraces and perf keep file:line; full -g took ~25 % longer on the Beast translation
# units).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
if [ "$#" -eq 0 ]; then
  set -- -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHG_WERROR=ON "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
fi
jobs=${HG_JOBS:-$(nproc)}
mkdir -p "$dir"
cmake -S . -B "$dir" -G Ninja "$@" >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; exit 1; }
ninja -C "$dir" -j "$jobs"
