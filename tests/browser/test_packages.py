#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The browser component as `cmake --install --component browser` lays it out: the host and its
manual page, both
host manifests naming it, the Firefox .xpi whose gecko ID is the one the Firefox manifest allows,
and the Chromium zip whose manifest (service worker, no Firefox settings) carries the public key
from which Chromium derives the very ID the Chromium manifest allows (computed here, independently:
SHA-256 of the DER key, first 16 bytes, hex digits 0-f as a-p).

usage: test_packages.py BUILD_DIR"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from hgcheck import check  # noqa: E402

EXPECTED = {"manifest.json", "background.js", "content.js", "page.js", "dialog.html", "dialog.js", "dialog.css"}


def main():
    build = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="hg-packages-") as prefix:
        r = subprocess.run(["cmake", "--install", build, "--prefix", prefix, "--component", "browser"],
                           capture_output=True, text=True)
        check(r.returncode == 0, "cmake --install failed:\n" + r.stdout + r.stderr)
        host = os.path.join(prefix, "bin", "hybridgate-native-host")
        check(os.access(host, os.X_OK), "the host is not installed")
        with open(os.path.join(prefix, "lib/mozilla/native-messaging-hosts/hybridgate.json")) as f:
            ff = json.load(f)
        with open(os.path.join(prefix, "etc/chromium/native-messaging-hosts/hybridgate.json")) as f:
            cr = json.load(f)
        for m in (ff, cr):
            check(m["name"] == "hybridgate" and m["path"] == host and m["type"] == "stdio", "host manifest: %r" % m)

        with zipfile.ZipFile(os.path.join(prefix, "share/hybridgate/browser/hybridgate.xpi")) as z:
            check(set(z.namelist()) == EXPECTED, "xpi files: %r" % z.namelist())
            xm = json.loads(z.read("manifest.json"))
            texts = {n: z.read(n).decode() for n in EXPECTED if n != "manifest.json"}
        check(xm["manifest_version"] == 3 and xm["background"] == {"scripts": ["background.js"]}, "xpi manifest")
        check(ff["allowed_extensions"] == [xm["browser_specific_settings"]["gecko"]["id"]],
              "the Firefox host manifest does not allow the extension's gecko ID")
        check("nativeMessaging" in xm["permissions"], "no nativeMessaging permission")
        worlds = sorted(cs.get("world", "ISOLATED") for cs in xm["content_scripts"])
        check(worlds == ["ISOLATED", "MAIN"], "content script worlds: %r" % worlds)
        for n, t in texts.items():
            check("SPDX-License-Identifier: Apache-2.0" in t, "%s has no SPDX line" % n)

        with zipfile.ZipFile(os.path.join(prefix, "share/hybridgate/browser/hybridgate-chromium.zip")) as z:
            # One top folder (unzipping spills nothing into the current folder).
            files = {n for n in z.namelist() if not n.endswith("/")}
            check(files == {"hybridgate-chromium/" + n for n in EXPECTED}, "chromium zip files: %r" % z.namelist())
            cm = json.loads(z.read("hybridgate-chromium/manifest.json"))
        check(cm["background"] == {"service_worker": "background.js"}, "chromium background: %r" % cm["background"])
        check("browser_specific_settings" not in cm, "Firefox settings in the Chromium manifest")
        digest = hashlib.sha256(base64.b64decode(cm["key"])).hexdigest()[:32]
        ext_id = "".join(chr(ord("a") + int(c, 16)) for c in digest)
        check(cr["allowed_origins"] == ["chrome-extension://%s/" % ext_id],
              "the Chromium host manifest allows %r, the key gives %s" % (cr["allowed_origins"], ext_id))
        for k in ("content_scripts", "permissions", "host_permissions", "version"):
            check(cm[k] == xm[k], "the Chromium manifest's %s differs" % k)

        # The manual page formats without groff warnings and man(1) renders it.
        page = os.path.join(prefix, "share", "man", "man1", "hybridgate-native-host.1")
        r = subprocess.run(["groff", "-man", "-ww", "-z", page], capture_output=True, text=True)
        check(r.returncode == 0 and r.stderr == "", "groff warnings:\n" + r.stderr)
        r = subprocess.run(["man", "-l", page], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="200", LC_ALL="C.UTF-8"))
        check(r.returncode == 0 and "SYNOPSIS" in r.stdout and "HYBRIDGATE_NATIVE_HOST_LOG" in r.stdout,
              "man -l failed:\n" + r.stderr)
    print("PASS: the browser packages are consistent")


main()
