#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""capi.newcomer: runs tests/capi/newcomer.c (a C program written from the header alone) against a
relay: it registers and signs in with its own phone thread over the loopback radio, and checks the
0.2 API (numeric codes, the error object, the log handler, hg_result). Under valgrind when
HG_VALGRIND=1 (memcheck, leaks are errors).

    run_newcomer.py BIN_DIR NEWCOMER_EXE
"""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from hgtest import Relay, Workdir  # noqa: E402


def main():
    bin_dir, exe = sys.argv[1], sys.argv[2]
    wd = Workdir("newcomer")
    relay = Relay(bin_dir, wd)
    try:
        env = dict(wd.env)
        env.pop("HYBRIDGATE_CONFIG", None)
        env["XDG_CONFIG_HOME"] = wd.file("config")  # no config file: the defaults
        argv = [exe, relay.url, wd.path]
        if os.environ.get("HG_VALGRIND") == "1":
            if not shutil.which("valgrind"):
                print("valgrind is missing: run scripts/deps.sh")
                return 1
            argv = ["valgrind", "--error-exitcode=9", "--leak-check=full", "--errors-for-leak-kinds=definite", *argv]
        rc = subprocess.run(argv, env=env, timeout=300).returncode
    finally:
        relay.stop()
        wd.cleanup()
    if rc != 0:
        print("newcomer exited %d" % rc)
    return rc


if __name__ == "__main__":
    sys.exit(main())
