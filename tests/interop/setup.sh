#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what tests/interop/run_chromium_interop.sh needs (Debian 12). Idempotent: installs only
# what is missing. Run as root (or with sudo available).
set -euo pipefail

PKGS=(chromium xvfb xdotool x11-utils imagemagick zbar-tools openssl dbus python3-dbus python3-dbusmock)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "interop setup: all packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
echo "interop setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
