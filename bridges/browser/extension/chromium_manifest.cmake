# SPDX-License-Identifier: Apache-2.0
# cmake -DIN=manifest.json -DOUT=FILE -DKEY=BASE64 -P chromium_manifest.cmake
# The Chromium form of the extension's manifest (CMake's JSON functions, no text editing):
# a service worker instead of background scripts, no Firefox settings, the public key.
file(READ "${IN}" m)
string(JSON m REMOVE "${m}" browser_specific_settings)
string(JSON m SET "${m}" background "{\"service_worker\": \"background.js\"}")
string(JSON m SET "${m}" key "\"${KEY}\"")
file(WRITE "${OUT}" "${m}\n")
