#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job, from a fresh clone: installs missing Debian packages, builds, then runs a relay
# and a full passkey registration and sign-in between a desktop and a phone process on the
# loopback radio, and prints a short summary. Both results are checked by an independent WebAuthn
# verifier (python3-fido2).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh build >build.log 2>&1 || { tail -50 build.log; exit 1; }
exec /usr/bin/python3 scripts/demo.py build/bin
