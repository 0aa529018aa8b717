#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""capi.bridges_link_the_library_only: the OpenSSH provider, the PAM module and hybridgate-pam-enroll
use libhybridgate through its C ABI only (issue 22/23): each needs libhybridgate.so.0 (readelf -d)
and carries no code of the library's layers (no hg:: symbol in its symbol table, local ones
included; hg::key:: is the key daemon's session-bus client, a bridge of its own). Before the C ABI
had raw CTAP, the PAM module carried ~400 such symbols (proto/, store/), a copy of the library.

And in the sources: bridges/ssh and bridges/pam include no header of the library's layers (only
hybridgate/hybridgate.h), tools/hybridgate includes no bridge, and tools/CMakeLists.txt links no
bridge library (the CLI runs the bridges' programs instead: hybridgate-pam-enroll, hybridgate-key,
hybridgate-key-show).

    test_bridges_link.py SOURCE_DIR FILE...
"""
import glob
import os
import re
import subprocess
import sys


LAYERS = ("proto/", "store/", "hybrid/", "tunnel/", "ble/", "web/", "webauthn/", "qr/", "capi/")


def includes(path):
    return re.findall(r'^\s*#\s*include\s+"([^"]+)"', open(path).read(), flags=re.M)


def main():
    src = sys.argv[1]
    failures = 0
    for bridge in ("ssh", "pam"):
        for path in sorted(glob.glob(os.path.join(src, "bridges", bridge, "*.[ch]pp"))):
            bad = [i for i in includes(path) if i.startswith(LAYERS)]
            print("%s  %s includes %s" % ("FAIL" if bad else "ok  ", os.path.relpath(path, src), bad or "no layer"))
            failures += bool(bad)
    for path in sorted(glob.glob(os.path.join(src, "tools", "hybridgate", "*.[ch]pp"))):
        bad = [i for i in includes(path) if i.startswith("bridges/")]
        print("%s  %s includes %s" % ("FAIL" if bad else "ok  ", os.path.relpath(path, src), bad or "no bridge"))
        failures += bool(bad)
    links = re.findall(r"\b(hg_(?:key|pam|sk)_\w+)", open(os.path.join(src, "tools", "CMakeLists.txt")).read())
    print("%s  tools/CMakeLists.txt links %s" % ("FAIL" if links else "ok  ", links or "no bridge library"))
    failures += bool(links)
    for path in sys.argv[2:]:
        dyn = subprocess.run(["readelf", "-d", path], stdout=subprocess.PIPE, text=True, check=True).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", dyn)
        syms = subprocess.run(["nm", "-C", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        inner = [line for line in syms.splitlines()
                 if re.search(r" hg::", line) and not re.search(r" hg::key::", line)]
        ok = "libhybridgate.so.0" in needed and not inner
        print("%s  %s: NEEDED %s; %d symbols of the library's layers" % ("ok  " if ok else "FAIL", path, needed, len(inner)))
        for line in inner[:20]:
            print("      " + line)
        failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
