#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Chromium ↔ hybridgate interop test (docs/interop.md). Installs the Debian packages if missing,
# builds hybridgate + hybridgate-relay in build-interop/ unless --bin-dir is given, then runs
# run_chromium_interop.py with the given options, e.g.:
#   tests/interop/run_chromium_interop.sh --runs 5
#   tests/interop/run_chromium_interop.sh --runs 5 --hints security-key
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bash "$here/setup.sh"
case " $* " in
  *" --bin-dir "*) ;;
  *)
    if [ -z "${HG_BIN_DIR:-}" ]; then
      cmake -S "$root" -B "$root/build-interop" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
      ninja -C "$root/build-interop" -j"${HG_JOBS:-2}" hybridgate hybridgate-relay >/dev/null
    fi
    ;;
esac
exec /usr/bin/python3 "$here/run_chromium_interop.py" "$@"
