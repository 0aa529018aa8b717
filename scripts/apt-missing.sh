#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/apt-missing.sh LABEL PACKAGE... — installs those of the Debian packages that are not
# installed yet (apt-get, no recommends). Idempotent and quiet when everything is present. Needs
# root, or sudo, only when something is missing. Used by scripts/deps.sh and the test set-ups.
set -euo pipefail
label=$1
shift

missing=()
for p in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "$label: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "$label: these packages are missing and this is not root (no sudo): ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
