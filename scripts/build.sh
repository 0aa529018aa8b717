#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/build.sh BUILD_DIR [cmake options…] — configure (once) and build with Ninja.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
jobs=${HG_JOBS:-$(nproc)}
mkdir -p "$dir"
cmake -S . -B "$dir" -G Ninja "$@" >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; exit 1; }
ninja -C "$dir" -j "$jobs"
