#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/integration/rp_js/setup.sh DEST — installs the test relying party's npm packages
# (package.json beside this script: @simplewebauthn/server, pinned) into DEST/node_modules with
# Debian's npm. DEST is test-owned (the build tree), never the source tree. Idempotent: a no-op
# once the pinned version is there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: setup.sh DEST}
want=$(sed -n 's/.*"@simplewebauthn\/server": "\([^"]*\)".*/\1/p' "$here/package.json")
have=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$dest/node_modules/@simplewebauthn/server/package.json" 2>/dev/null || true)
if [ -n "$want" ] && [ "$have" = "$want" ] && cmp -s "$here/package.json" "$dest/package.json"; then
  echo "rp_js setup: @simplewebauthn/server $have present in $dest"
  exit 0
fi
command -v npm >/dev/null || { echo "rp_js setup: npm missing (apt-get install npm)" >&2; exit 1; }
mkdir -p "$dest"
cp "$here/package.json" "$dest/package.json"
cd "$dest"
npm install --no-audit --no-fund --no-package-lock --loglevel=error
echo "rp_js setup: installed @simplewebauthn/server $want in $dest"
