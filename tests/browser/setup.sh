#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what the browser bridge's tests need (Debian 12): firefox-esr (driven headless over its
# built-in WebDriver BiDi), chromium (the same extension and host, over the DevTools protocol), python3-websockets (the BiDi client), zbar-tools (decodes the QR code
# in the dialog's screenshot), openssl (the test page's certificate), zip (packs the extension).
# Idempotent: installs only what is missing. Run as root (or with sudo available).
set -euo pipefail

PKGS=(firefox-esr chromium python3-websockets python3-fido2 zbar-tools openssl zip)

exec "$(dirname "$0")/../../scripts/apt-missing.sh" "browser test setup" "${PKGS[@]}"
