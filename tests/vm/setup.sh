#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what the real-kernel tests (tests/vm/, CTest label vm) need from Debian's archive:
# QEMU, Debian's own kernel and modules (hci_vhci, uhid, 9p), busybox-static for the initramfs,
# real BlueZ (bluetoothd, btvirt, btmgmt), and the host-side FIDO tools the security key's tests
# drive inside the guest. Called by scripts/test.sh; idempotent.
set -euo pipefail
exec "$(dirname "$0")/../../scripts/apt-missing.sh" "tests/vm" \
  qemu-system-x86 linux-image-amd64 busybox-static kmod bluez bluez-test-tools dbus python3-dbus \
  fido2-tools libpam-u2f pamu2fcfg pamtester libpam-wrapper openssh-client openssh-server openssl python3-fido2 chromium
