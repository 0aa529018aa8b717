#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every desktop setting of the one table (hybrid/settings.hpp, printed by settings_table) is
carried by every front end, under the table's names:

  docs          docs/configuration.md's table: a row per key, in order, with its variable, flag,
                C setter and default
  C ABI         include/hybridgate/hybridgate.h declares the row's setter and names the key and its
                variable in hg_config_load's comment (and hg_config_set takes the key: asked of the
                built library)
  CLI           `hybridgate register --help` and `hybridgate sign-in --help` list --KEY-WITH-DASHES
  PAM           man/pam_hybridgate.8 documents KEY= (the module passes KEY=VALUE to hg_config_set)
  Python        the package's keywords (asked of the built library through the package) and its
                docstring name the key

The config file and the environment are checked by tests/unit/test_settings.cpp (each row, read
from a file and from its variable). A row added to the table and missing anywhere fails here.

usage: check_front_ends.py SOURCE_DIR SETTINGS_TABLE HYBRIDGATE LIBHYBRIDGATE
"""
import json
import os
import re
import subprocess
import sys


def main():
    src, table_prog, cli, libpath = sys.argv[1:5]
    rows = json.loads(subprocess.run([table_prog], capture_output=True, text=True, check=True).stdout)
    missing = []

    doc = open(os.path.join(src, "docs", "configuration.md"), encoding="utf-8").read()
    doc_rows = [l for l in doc.splitlines() if re.match(r"\| `[a-z_]+` \|", l)]
    doc_keys = [re.match(r"\| `([a-z_]+)`", l).group(1) for l in doc_rows]
    if doc_keys != [r["key"] for r in rows]:
        missing.append(f"docs/configuration.md: the table's keys {doc_keys} are not the settings {[r['key'] for r in rows]}")
    for r, line in zip(rows, doc_rows):
        cells = [c.strip() for c in line.strip("|").split("|")]
        flag = "--" + r["key"].replace("_", "-")
        setter = r["c_setter"].split("(")[0]
        for what, want in (("variable", r["env"]), ("flag", flag), ("C setter", setter)):
            if f"`{want}" not in line:
                missing.append(f"docs/configuration.md: the row of {r['key']} does not name its {what} {want}")
        if r["default"].replace("\\", "") not in " ".join(cells).replace("`", ""):
            missing.append(f"docs/configuration.md: the row of {r['key']} does not say its default {r['default']}")

    header = open(os.path.join(src, "include", "hybridgate", "hybridgate.h"), encoding="utf-8").read()
    for r in rows:
        m = re.match(r"(\w+)(?:\((\w+)\))?$", r["c_setter"])
        if not m or not re.search(r"\bint " + m.group(1) + r"\(", header):
            missing.append(f"C ABI: {r['c_setter']} (setting {r['key']}) is not declared in hybridgate.h")
        if m and m.group(2) and not re.search(r"\b" + m.group(2) + r"\s*=", header):
            missing.append(f"C ABI: {m.group(2)} (setting {r['key']}) is not in hybridgate.h")
    # hg_config_load's comment is what a C programmer reads: it names every key and variable.
    load = re.search(r"/\*\n \* Loads the desktop configuration.*?\*/\nint hg_config_load", header, re.S)
    load_doc = load.group(0) if load else ""
    for r in rows:
        for what, want in (("key", r["key"]), ("variable", r["env"])):
            if not re.search(r"\b" + re.escape(want) + r"\b", load_doc):
                missing.append(f"C ABI: hg_config_load's comment does not name the {what} {want}")

    for command in ("register", "sign-in"):
        help_text = subprocess.run([cli, command, "--help"], capture_output=True, text=True).stdout
        for r in rows:
            flag = "--" + r["key"].replace("_", "-")
            if not re.search(re.escape(flag) + r"\b", help_text):
                missing.append(f"CLI: `hybridgate {command}` has no {flag} (setting {r['key']})")

    man = open(os.path.join(src, "man", "pam_hybridgate.8"), encoding="utf-8").read()
    for r in rows:
        if not re.search(r"\b" + r["key"] + "=", man):
            missing.append(f"PAM: man/pam_hybridgate.8 does not document {r['key']}=")

    sys.path.insert(0, os.path.join(src, "python"))
    os.environ["HYBRIDGATE_LIBRARY"] = libpath
    import hybridgate  # noqa: E402  (the package from this source tree, over the built library)
    keys = hybridgate._config_keys()
    for r in rows:
        if r["key"] not in keys:
            missing.append(f"Python: the package takes no keyword {r['key']}")
        if r["key"] not in (hybridgate.__doc__ or ""):
            missing.append(f"Python: the package's docstring does not name {r['key']}")

    for m in missing:
        print(m)
    if missing:
        print(f"FAIL: {len(missing)} front-end gap(s)")
        return 1
    print(f"PASS: {len(rows)} settings in every front end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
