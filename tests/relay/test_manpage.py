#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""hybridgate-relay(8) is complete (issue 21: it lacked 11 options): every long option that
`hybridgate-relay --help` lists has an entry of its own in the man page's OPTIONS section (a .TP
whose tag names it), and the man page documents no option the program does not have.

usage: test_manpage.py HYBRIDGATE_RELAY MAN_PAGE"""
import re
import subprocess
import sys

from relaytest import check, finish


def help_options(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=20).stdout
    opts = set()
    for line in out.splitlines():
        m = re.match(r"\s+(-[^\s]+)", line)  # the option column: "-h,--help", "--listen TEXT"
        if m:
            opts.update(o for o in m.group(1).split(",") if o.startswith("--"))
    return opts


def man_options(path):
    """Options named in the tag line of each .TP entry of the OPTIONS section."""
    text = open(path).read().splitlines()
    opts, in_options, tag_next = set(), False, False
    for line in text:
        if line.startswith(".SH"):
            in_options = line.strip() == ".SH OPTIONS"
            continue
        if not in_options:
            continue
        if line.startswith(".TP"):
            tag_next = True
            continue
        if tag_next:
            opts.update(o.replace("\\-", "-") for o in re.findall(r"(\\-\\-[a-z0-9\\-]+)", line))
            tag_next = False
    return opts


def main(binary, man):
    h, m = help_options(binary), man_options(man)
    check(len(h) > 40, "--help lists the options (%d)" % len(h))
    missing = sorted(h - m)
    check(not missing, "every option of --help has an entry in hybridgate-relay(8) (missing: %s)" % ", ".join(missing))
    extra = sorted(m - h)
    check(not extra, "the man page documents no option the program lacks (extra: %s)" % ", ".join(extra))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    finish()
