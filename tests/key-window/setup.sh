#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what tests/key-window needs (Debian 12): an X server for the window, tools to find,
# photograph and type into it, and zbarimg to read its QR code back. Idempotent.
set -euo pipefail

PKGS=(xvfb xdotool x11-utils imagemagick zbar-tools python3-fido2 libgtk-4-dev)

exec "$(dirname "$0")/../../scripts/apt-missing.sh" "key window test setup" "${PKGS[@]}"
