#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what the browser bridge's tests need (Debian 12): firefox-esr (driven headless over its
# built-in WebDriver BiDi and Marionette), chromium (the same extension and host, over the DevTools
# protocol), python3-websockets (the BiDi / DevTools client), zbar-tools (decodes the QR code in
# the dialog's screenshot), openssl (the test page's certificate), zip (packs the extension), npm (if missing);
# then, from npm, axe-core (the accessibility check the tests run in the dialog) into
# $HG_TEST_NODE_DIR (default /var/cache/hybridgate/test-node; the tests read the same variable).
# Idempotent: installs only what is missing. Run as root (or with sudo available).
set -euo pipefail

PKGS=(firefox-esr chromium python3-websockets python3-fido2 zbar-tools openssl zip)
AXE_VERSION=4.14.1

# npm: Debian's, unless an npm is there already (e.g. the one of a nodejs package, which conflicts).
command -v npm >/dev/null 2>&1 || PKGS+=(npm)
"$(dirname "$0")/../../scripts/apt-missing.sh" "browser test setup" "${PKGS[@]}"

dir=${HG_TEST_NODE_DIR:-/var/cache/hybridgate/test-node}
pkg=$dir/node_modules/axe-core/package.json
if [ -f "$pkg" ] && grep -q "\"version\": \"$AXE_VERSION\"" "$pkg"; then
  exit 0
fi
echo "browser test setup: installing axe-core $AXE_VERSION from npm into $dir" >&2
mkdir -p "$dir"
npm install --prefix "$dir" --no-save --no-audit --no-fund --ignore-scripts "axe-core@$AXE_VERSION" >&2
test -f "$dir/node_modules/axe-core/axe.min.js"
