#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what tests/interop/run_chromium_interop.sh needs (Debian 12). Idempotent: installs only
# what is missing. Run as root (or with sudo available).
set -euo pipefail

PKGS=(chromium xvfb xdotool x11-utils imagemagick zbar-tools openssl dbus python3-dbus python3-dbusmock)

exec "$(dirname "$0")/../../scripts/apt-missing.sh" "interop setup" "${PKGS[@]}"
