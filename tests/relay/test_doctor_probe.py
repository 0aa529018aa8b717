#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`hybridgate doctor --tunnel-url` against a relay, seen from the relay's counters: the probe is a
tunnel that pairs, relays one message and closes normally (outcome "closed"), not one whose phone
left before its desktop came ("abandoned", which the probe was counted as when it closed right
after its /cable/new upgrade and made the relay's abandoned-tunnel alert fire on every run).

usage: test_doctor_probe.py HYBRIDGATE_RELAY HYBRIDGATE"""
import json
import os
import subprocess
import sys
import tempfile

from relaytest import Relay, check, finish

RELAY, HYBRIDGATE = sys.argv[1], sys.argv[2]


def metric(r, name):
    return r.metric("hybridgate_relay_" + name)


def main():
    tmp = tempfile.mkdtemp(prefix="hg-doctor-")
    r = Relay(RELAY)
    try:
        env = dict(os.environ, HYBRIDGATE_RADIO_DIR=os.path.join(tmp, "radio"), XDG_RUNTIME_DIR=tmp)
        p = subprocess.run([HYBRIDGATE, "doctor", "--tunnel-url", r.url(""), "--radio", "loopback",
                            "--scan-seconds", "0", "--json"], capture_output=True, text=True, timeout=60, env=env)
        rep = json.loads(p.stdout)
        checks = {c["name"].split(":")[0]: c for c in rep["checks"]}
        check(p.returncode == 0 and rep["ok"], "doctor passes against a live relay (rc %d)" % p.returncode)
        probe = checks.get("tunnel_relay")
        check(probe is not None and probe["status"] == "pass" and r.routing_id in probe["message"],
              "doctor reports a test tunnel through routing ID %s: %r" % (r.routing_id, probe))

        ev = r.wait_event("tunnel_finished", timeout=15)
        check(ev is not None, "the relay logs the probe's tunnel as finished")
        if ev:
            check(ev["outcome"] == "closed" and ev["paired"] and ev["messages"] == 1,
                  "logged as paired, 1 message, outcome closed (%r)" % {k: ev.get(k) for k in ("outcome", "paired", "messages")})
        check(metric(r, 'tunnels_finished_total{outcome="abandoned"}') == 0, "abandoned tunnels: 0")
        check(metric(r, 'tunnels_finished_total{outcome="closed"}') == 1, "closed tunnels: 1")
        others = [o for o in ("vanished", "limit", "violation", "drained", "setup_failed", "wake_failed")
                  if metric(r, 'tunnels_finished_total{outcome="%s"}' % o) != 0]
        check(not others, "no other outcome counted (%r)" % others)
        check(metric(r, "tunnels_paired_total") == 1, "one tunnel paired")
        check(metric(r, 'upgrades_total{kind="new"}') == 1 and metric(r, 'upgrades_total{kind="connect"}') == 1,
              "one /cable/new and one /cable/connect upgrade")
        check(metric(r, "messages_relayed_total") == 1, "one message relayed")
        check(metric(r, 'close_codes_sent_total{code="1000"}') == 1,
              "the relay passed the desktop's 1000 on to the phone, and sent no other code (%r)" %
              [l for l in r.admin("/metrics")[1].splitlines() if l.startswith("hybridgate_relay_close_codes_sent_total")])
        check(metric(r, "tunnels_waiting") == 0 and metric(r, "tunnels_active") == 0, "nothing left waiting or active")
    finally:
        r.stop()


if __name__ == "__main__":
    main()
    finish()
