#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""capi.abi: libhybridgate.so against the ABI baselines kept in abi/ (abidw XML of each minor release
of this major version: 0.1, 0.2, ...), with Debian's abigail-tools (scripts/deps.sh installs them).
Each baseline is compared, so what a minor release added is protected from then on too.

    test_abi.py SO_FILE ABI_DIR

Fails when abidiff finds an incompatible change (exit status bit 8), or any removed or changed
function or variable (a changed parameter or return type, a struct whose size or member offsets
changed, an enumerator whose value changed: abidiff reports those with bit 4 and a non-zero
"Removed" or "Changed" count), while the SONAME is still the baseline's. Added functions (and
added enumerators, which abidiff filters out as harmless) pass. When the SONAME differs (libhybridgate.so.1), the break is declared: the test
passes and says that abi/ needs the new major version's baseline (docs/library.md, "Versioning").

Before comparing, it checks that the check can fail: abidiff must call a copy of the baseline with
hg_error's `message` member moved and the struct grown incompatible (bit 8).
"""
import os
import re
import subprocess
import sys
import tempfile

ABIDIFF_ERROR, ABIDIFF_USAGE, ABIDIFF_CHANGE, ABIDIFF_INCOMPATIBLE = 1, 2, 4, 8


def abidiff(suppr, old, new):
    p = subprocess.run(["abidiff", "--no-show-locs", "--exported-interfaces-only", "--suppressions", suppr, old, new],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    return p.returncode, p.stdout


def incompatible(rc, out):
    """Bit 8, or bit 4 with anything removed or changed (only additions are compatible)."""
    if rc & ABIDIFF_INCOMPATIBLE:
        return True
    if not rc & ABIDIFF_CHANGE:
        return False
    counts = re.findall(r"changes summary: (\d+) Removed(?:[^,]*), (\d+) Changed", out)
    symbols = re.findall(r"symbols changes summary: (\d+) Removed", out)
    return any(int(r) or int(c) for r, c in counts) or any(int(r) for r in symbols) or not counts


def soname_of_xml(xml):
    m = re.search(r"<abi-corpus [^>]*soname='([^']+)'", xml)
    return m.group(1) if m else None


def soname_of_so(so):
    out = subprocess.run(["readelf", "-d", so], stdout=subprocess.PIPE, text=True, check=True).stdout
    m = re.search(r"\(SONAME\)\s+Library soname: \[(.*)\]", out)
    return m.group(1) if m else None


def main():
    so, abi_dir = sys.argv[1], sys.argv[2]
    suppr = os.path.join(abi_dir, "hybridgate.suppr")
    def version(f):
        return tuple(int(x) for x in re.fullmatch(r"libhybridgate-([0-9.]+)\.xml", f).group(1).split("."))
    baselines = sorted((f for f in os.listdir(abi_dir) if re.fullmatch(r"libhybridgate-[0-9.]+\.xml", f)), key=version)
    if not baselines:
        print("no baseline libhybridgate-*.xml in %s" % abi_dir)
        return 1
    baseline = os.path.join(abi_dir, baselines[0])
    xml = open(baseline).read()

    # 1. The check can fail: hg_error with its message moved (offset 512 -> 1024) and grown.
    broken = xml.replace("<class-decl name='hg_error' size-in-bits='4608'", "<class-decl name='hg_error' size-in-bits='5120'", 1)
    broken = re.sub(r"(<class-decl name='hg_error'.*?<data-member access='public' layout-offset-in-bits=')512'",
                    r"\g<1>1024'", broken, count=1, flags=re.S)
    if broken == xml or "size-in-bits='5120'" not in broken:
        print("the baseline has no hg_error of 4608 bits to break; regenerate it (docs/library.md)")
        return 1
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        f.write(broken)
    try:
        rc, out = abidiff(suppr, baseline, f.name)
    finally:
        os.unlink(f.name)
    if not incompatible(rc, out):
        print("abidiff did not call a changed hg_error incompatible (status %d):\n%s" % (rc, out))
        return 1
    print("self-check: a changed hg_error is incompatible (abidiff status %d)" % rc)

    # 2. The library against each baseline.
    failed = 0
    for name in baselines:
        path = os.path.join(abi_dir, name)
        rc, out = abidiff(suppr, path, so)
        print("abidiff %s %s: status %d\n%s" % (name, so, rc, out))
        if rc & (ABIDIFF_ERROR | ABIDIFF_USAGE):
            print("abidiff failed")
            return 1
        if incompatible(rc, out):
            old, new = soname_of_xml(open(path).read()), soname_of_so(so)
            if old and new and old != new:
                print("incompatible with %s, and the SONAME changed (%s -> %s): a declared break. Replace abi/ with "
                      "the baseline of %s (docs/library.md)." % (name, old, new, new))
                continue
            print("INCOMPATIBLE ABI CHANGE against %s with the SONAME still %s: keep the old functions and types as "
                  "they were, add new ones (a new node in cmake/hybridgate.map), or bump the major version "
                  "(docs/library.md)" % (name, new))
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
