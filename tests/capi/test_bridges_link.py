#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""capi.bridges_link_the_library_only: the OpenSSH provider, the PAM module and hybridgate-pam-enroll
use libhybridgate through its C ABI only (issue 22/23): each needs libhybridgate.so.0 (readelf -d)
and carries no code of the library's layers (no hg:: symbol in its symbol table, local ones
included; hg::key:: is the key daemon's session-bus client, a bridge of its own). Before the C ABI
had raw CTAP, the PAM module carried ~400 such symbols (proto/, store/), a copy of the library.

    test_bridges_link.py FILE...
"""
import re
import subprocess
import sys


def main():
    failures = 0
    for path in sys.argv[1:]:
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
