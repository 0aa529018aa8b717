#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs hybridgate's build and test dependencies from Debian 12's archive, if any is missing.
# Idempotent and quiet when everything is present. Needs root (or sudo) only when installing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache clang-14 libclang-rt-14-dev
  libboost-dev libssl-dev openssl libcbor-dev libqrencode-dev libpng-dev libsdbus-c++-dev
  catch2 libcli11-dev nlohmann-json3-dev libpsl-dev publicsuffix libsqlite3-dev libsystemd-dev
  libpam0g-dev pamtester libpam-wrapper libfido2-dev libgtk-4-dev abigail-tools
  zbar-tools xvfb xdotool x11-utils imagemagick python3 python3-dbusmock python3-websockets python3-fido2 python3-cryptography python3-yaml pinentry-tty dbus iproute2 nginx-light
  systemd strace groff-base man-db binutils valgrind zip openssh-client openssh-server
  libtss2-dev swtpm swtpm-tools tpm2-tools
)

# nginx-light's package starts a system nginx where systemd runs; the tests start their own.
exec "$(dirname "$0")/apt-missing.sh" hybridgate "${PACKAGES[@]}"
