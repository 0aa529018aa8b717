#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""One radio script, run against real BlueZ (in the QEMU guest) and against the BlueZ double (on a
private bus on the host), writing what our code and a D-Bus client saw as a JSON transcript; the
compare mode fails on every difference, so the fast tests' double cannot drift from bluetoothd.

    radio_transcript.py real BIN OUT.json           # inside the guest, hci0 + hci1 on btvirt's air
    radio_transcript.py double BIN OUT.json         # on the host: the double with hci0 + hci1
    radio_transcript.py compare BIN                 # the double here, real BlueZ in a guest, diff

The script (our ble_bluez_client drives the BlueZ radio of the library):
  1. the adapters as our code reads them (probe hci0; probe --advertising hci1);
  2. Adapter1.Roles, as BLE peers (bleak, btleplug) read it;
  3. hci1 advertises service data H1 (LEAdvertisingManager1); hci0 scans: the advert is seen;
     whether a plain D-Bus client sees ServiceData's PropertiesChanged again for the same bytes;
  4. the Device1 that carries it: its ServicesResolved and other properties peers rely on;
  5. the instance counts while advertising; rotation to H2 is seen;
  6. the advertiser is killed (SIGKILL): the advert is dropped by BlueZ itself.
"""

import json
import os
import signal
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "pylib"))
from hgcheck import TestFailure, check, wait_for  # noqa: E402

H1 = bytes(range(1, 21))
H2 = bytes(range(101, 121))
DEVICE_PROPS = ["Adapter", "Address", "AddressType", "RSSI", "ServiceData", "ServicesResolved", "Connected", "Paired"]


class Line:
    """A child we talk to line by line (ble_bluez_client)."""

    def __init__(self, argv, env):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, env=env)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def send(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def wait_line(self, pred, what, timeout=30):
        wait_for(lambda: any(pred(l) for l in self.lines) or self.proc.poll() is not None, timeout, what)
        check(any(pred(l) for l in self.lines), "%s: the child exited: %r" % (what, self.lines))

    def finish(self):
        if self.proc.poll() is None:
            try:
                self.send("stop")
                self.proc.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def script(bin_dir, env):
    import dbus
    client = os.path.join(bin_dir, "ble_bluez_client")
    bus = dbus.bus.BusConnection(env["DBUS_SYSTEM_BUS_ADDRESS"]) if "DBUS_SYSTEM_BUS_ADDRESS" in env \
        else dbus.SystemBus()
    props = "org.freedesktop.DBus.Properties"

    def adapter(name, iface="org.bluez.Adapter1"):
        return bus.get_object("org.bluez", "/org/bluez/" + name).GetAll(iface, dbus_interface=props)

    def run(*args):
        r = subprocess.run([client, *args], capture_output=True, text=True, timeout=60, env=env,
                           stdin=subprocess.DEVNULL)
        return r.stdout.strip()

    t = {}
    t["probe_hci0"] = run("probe", "--adapter", "hci0")
    t["probe_hci1_advertising"] = run("probe", "--adapter", "hci1", "--advertising")
    a0 = adapter("hci0")
    t["adapter_has_roles"] = "Roles" in a0
    t["adapter_roles_include_central_peripheral"] = {"central", "peripheral"} <= {str(r) for r in a0.get("Roles", [])}
    mgr = adapter("hci1", "org.bluez.LEAdvertisingManager1")
    free = int(mgr["SupportedInstances"])
    t["hci1_active_before"] = int(mgr["ActiveInstances"])

    # A plain D-Bus client's view of Device1 ServiceData changes (what bleak and btleplug follow).
    where = ["--address", env["DBUS_SYSTEM_BUS_ADDRESS"]] if "DBUS_SYSTEM_BUS_ADDRESS" in env else ["--system"]
    monitor = Line(["dbus-monitor", *where, "type='signal',interface='org.freedesktop.DBus.Properties',"
                    "member='PropertiesChanged',arg0='org.bluez.Device1'"], env)
    scanner = Line([client, "scan", "--adapter", "hci0"], env)
    advertiser = Line([client, "advertise", "--adapter", "hci1", "--hex", H1.hex()], env)
    try:
        scanner.wait_line(lambda l: l == "STARTED", "the scanner started")
        advertiser.wait_line(lambda l: l == "REGISTERED", "the advert registered")
        mgr = adapter("hci1", "org.bluez.LEAdvertisingManager1")
        t["hci1_active_while_advertising"] = int(mgr["ActiveInstances"])
        t["hci1_free_decreases_while_advertising"] = int(mgr["SupportedInstances"]) == free - 1
        seen_h1 = lambda: [l for l in scanner.lines if l.startswith("SEEN fff9 " + H1.hex())]  # noqa: E731
        wait_for(lambda: len(seen_h1()) >= 1, 30, "the advert seen from hci0")
        t["h1_seen_from_hci0"] = True
        try:
            wait_for(lambda: len(seen_h1()) >= 3, 15, "the advert reported again")
            t["h1_reported_repeatedly"] = True
        except TestFailure:
            t["h1_reported_repeatedly"] = False
        try:
            wait_for(lambda: sum('"ServiceData"' in l for l in monitor.lines) >= 3, 15,
                     "ServiceData PropertiesChanged repeated on the bus")
            t["dbus_service_data_changed_repeatedly"] = True
        except TestFailure:
            t["dbus_service_data_changed_repeatedly"] = False
        # The Device1 under hci0 that carries it.
        objs = bus.get_object("org.bluez", "/").GetManagedObjects(dbus_interface="org.freedesktop.DBus.ObjectManager")
        devs = [(str(p), i["org.bluez.Device1"]) for p, i in objs.items()
                if "org.bluez.Device1" in i and str(p).startswith("/org/bluez/hci0/")
                and any(bytes(bytearray(v)) == H1 for v in i["org.bluez.Device1"].get("ServiceData", {}).values())]
        t["device_under_hci0"] = len(devs) == 1
        t["device_under_hci1"] = any(str(p).startswith("/org/bluez/hci1/") and "org.bluez.Device1" in i
                                     for p, i in objs.items())
        if devs:
            d = devs[0][1]
            t["device_props"] = sorted(k for k in DEVICE_PROPS if k in d)
            t["device_services_resolved"] = bool(d.get("ServicesResolved", True))
            t["device_address_type"] = str(d.get("AddressType", ""))
        changes_before_rotation = sum('"ServiceData"' in l for l in monitor.lines)
        advertiser.send("rotate " + H2.hex())
        advertiser.wait_line(lambda l: l == "ROTATED", "the rotation")
        wait_for(lambda: any(l.startswith("SEEN fff9 " + H2.hex()) for l in scanner.lines), 30, "the rotated advert")
        t["h2_seen_after_rotation"] = True
        try:
            wait_for(lambda: sum('"ServiceData"' in l for l in monitor.lines) > changes_before_rotation, 15,
                     "ServiceData PropertiesChanged for the rotation")
            t["dbus_service_data_changed_on_rotation"] = True
        except TestFailure:
            t["dbus_service_data_changed_on_rotation"] = False
        advertiser.proc.send_signal(signal.SIGKILL)
        advertiser.proc.wait(10)
        try:
            wait_for(lambda: int(adapter("hci1", "org.bluez.LEAdvertisingManager1")["ActiveInstances"]) == 0, 20,
                     "the killed advertiser's advert dropped")
            t["advert_dropped_when_client_vanishes"] = True
        except TestFailure:
            t["advert_dropped_when_client_vanishes"] = False
        t["hci1_free_restored"] = int(adapter("hci1", "org.bluez.LEAdvertisingManager1")["SupportedInstances"]) == free
    finally:
        advertiser.finish()
        scanner.finish()
        monitor.proc.kill()
        monitor.proc.wait()
    t["scanner_stopped_cleanly"] = "STOPPED" in scanner.lines
    return t


def double(bin_dir, out):
    sys.path.insert(0, os.path.join(SRC, "tests", "ble"))
    from bluez_fixture import BluezDouble, PrivateBus
    import dbus
    with PrivateBus() as bus, BluezDouble(bus, bridge=True) as d:
        d.adapter("hci0", advertising=5)
        d.adapter("hci1", advertising=5)
        env = bus.env()
        t = script(bin_dir, env)
    _write(out, t)
    return t


def real(bin_dir, out):
    env = dict(os.environ)
    env.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
    t = script(bin_dir, env)
    _write(out, t)
    return t


def _write(path, t):
    with open(path, "w") as f:
        json.dump(t, f, indent=1, sort_keys=True)
    print(json.dumps(t, indent=1, sort_keys=True), flush=True)


def compare(bin_dir, build_dir):
    share = os.path.join(build_dir, "vm", "radio_transcript_real")
    print("--- the BlueZ double (host)", flush=True)
    dt = double(bin_dir, os.path.join(build_dir, "vm", "radio_transcript_double.json"))
    print("--- real BlueZ (guest)", flush=True)
    r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "vmrun.py"), "--build-dir", build_dir, "--source-dir",
                        SRC, "--name", "radio_transcript_real", "--setup", "bluetooth", "--timeout", "300", "--",
                        "/usr/bin/python3", os.path.abspath(__file__), "real", bin_dir, "/run/hg-vm/share/real.json"])
    check(r.returncode == 0, "the guest run failed (exit %d)" % r.returncode)
    with open(os.path.join(share, "real.json")) as f:
        rt = json.load(f)
    diffs = ["%s: double %r, real BlueZ %r" % (k, dt.get(k), rt.get(k)) for k in sorted(set(dt) | set(rt))
             if dt.get(k) != rt.get(k)]
    for line in diffs:
        print("DIFF " + line)
    check(not diffs, "the BlueZ double differs from real BlueZ in %d point(s)" % len(diffs))
    print("PASS: the double and real BlueZ gave the same %d observations" % len(rt))


if __name__ == "__main__":
    mode, bin_dir = sys.argv[1], sys.argv[2]
    try:
        if mode == "real":
            real(bin_dir, sys.argv[3])
        elif mode == "double":
            double(bin_dir, sys.argv[3])
        elif mode == "compare":
            compare(bin_dir, os.path.dirname(os.path.abspath(bin_dir)))
        else:
            raise SystemExit(__doc__)
    except TestFailure as e:
        print("FAIL: %s" % e, flush=True)
        sys.exit(1)
