#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`hybridgate doctor`'s tunnel-server checks against a real relay (reachable, then down).
(The Bluetooth checks are tested against the BlueZ double in tests/ble.)

usage: test_doctor.py BIN_DIR"""

import json
import os
import subprocess
import sys

from hgtest import Relay, Workdir, check, run_tests

BIN = sys.argv[1]


def doctor(wd, url):
    r = subprocess.run([os.path.join(BIN, "hybridgate"), "doctor", "--tunnel-url", url, "--radio", "loopback",
                        "--scan-seconds", "0", "--json"], capture_output=True, text=True, timeout=60, env=wd.env)
    return r.returncode, json.loads(r.stdout)


def by_name(report, prefix):
    return [c for c in report["checks"] if c["name"].startswith(prefix)]


def test_doctor_reaches_a_live_relay_and_explains_a_dead_one():
    wd = Workdir("doctor")
    relay = Relay(BIN, wd)
    try:
        rc, rep = doctor(wd, relay.url)
        check(rc == 0 and rep["ok"], "doctor failed against a live relay: %s" % rep)
        for prefix in ("tunnel_dns", "tunnel_tls", "tunnel_websocket", "tunnel_relay"):
            found = by_name(rep, prefix)
            check(found and all(c["status"] == "pass" for c in found), "%s did not pass: %s" % (prefix, found))
        dead = relay.url
        relay.stop()
        rc, rep = doctor(wd, dead)
        check(rc != 0 and not rep["ok"], "doctor passed against a relay that is down: %s" % rep)
        failed = [c for c in rep["checks"] if c["status"] == "fail"]
        check(failed and failed[0]["name"].startswith("tunnel_"), "no failing tunnel check: %s" % rep)
        check(failed[0].get("fix") or failed[0].get("message"), "the failing check gives no explanation")
    finally:
        relay.stop()
        wd.cleanup()


if __name__ == "__main__":
    run_tests([test_doctor_reaches_a_live_relay_and_explains_a_dead_one])
