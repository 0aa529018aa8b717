# SPDX-License-Identifier: Apache-2.0
"""Helpers for tests that run inside the QEMU guest (tests/vm/vmrun.py): the build tree's programs,
real BlueZ on the system bus (python3-dbus), the guest's platform pieces (bluetoothd, btvirt,
rfkill). Run with Debian's /usr/bin/python3 inside the guest."""

import os
import signal
import subprocess
import sys

SRC = os.environ.get("HG_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("HG_BIN", "")
SHARE = os.environ.get("HG_VM_SHARE", "/tmp")
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
sys.path.insert(0, os.path.join(SRC, "tests", "pylib"))

from hgcheck import TestFailure, check, wait_for  # noqa: E402,F401  (re-exported)

BLUEZ = "org.bluez"
ADAPTER = "org.bluez.Adapter1"
ADV_MANAGER = "org.bluez.LEAdvertisingManager1"
PROPS = "org.freedesktop.DBus.Properties"


def system_bus():
    import dbus
    return dbus.SystemBus()


def adapter_props(name):
    """Adapter1 and LEAdvertisingManager1 properties of /org/bluez/NAME, read fresh from bluetoothd."""
    import dbus
    bus = dbus.SystemBus()
    try:
        obj = bus.get_object(BLUEZ, "/org/bluez/" + name)
        props = obj.GetAll(ADAPTER, dbus_interface=PROPS)
        try:
            props.update({"adv." + k: v for k, v in obj.GetAll(ADV_MANAGER, dbus_interface=PROPS).items()})
        except dbus.exceptions.DBusException:
            pass
        return {str(k): v for k, v in props.items()}
    finally:
        bus.close()


def active_instances(adapter):
    return int(adapter_props(adapter).get("adv.ActiveInstances", -1))


def supported_instances(adapter):
    return int(adapter_props(adapter).get("adv.SupportedInstances", -1))


def set_powered(adapter, on):
    import dbus
    bus = dbus.SystemBus()
    try:
        bus.get_object(BLUEZ, "/org/bluez/" + adapter).Set(ADAPTER, "Powered", dbus.Boolean(on), dbus_interface=PROPS)
    finally:
        bus.close()
    wait_for(lambda: bool(adapter_props(adapter)["Powered"]) == on, 20, "%s powered %s" % (adapter, on))


def btmgmt(*args, timeout=30):
    r = subprocess.run(["btmgmt", *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout + r.stderr


def stop_bluetoothd():
    pid = int(os.environ["HG_VM_BLUETOOTHD"])
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists("/proc/%d" % pid) or _zombie(pid), 20, "bluetoothd to exit")


def start_bluetoothd():
    """bluetoothd again (after stop_bluetoothd); returns when org.bluez is on the bus."""
    log = open(os.path.join(SHARE, "bluetoothd.log"), "a")
    p = subprocess.Popen(["/usr/libexec/bluetooth/bluetoothd", "-n", "-E"], stdout=log, stderr=subprocess.STDOUT)
    os.environ["HG_VM_BLUETOOTHD"] = str(p.pid)
    wait_for(lambda: _has_name(BLUEZ) and _has_adapter("hci0"), 30, "bluetoothd on the system bus")
    return p


def _has_name(name):
    import dbus
    bus = dbus.SystemBus()
    try:
        return bool(bus.name_has_owner(name))
    finally:
        bus.close()


def _has_adapter(name):
    try:
        adapter_props(name)
        return True
    except Exception:  # noqa: BLE001 - not there yet
        return False


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1].startswith("Z")
    except OSError:
        return True


def rfkill_dir(adapter):
    """/sys/class/rfkill/rfkillN of a Bluetooth controller."""
    base = "/sys/class/bluetooth/%s" % adapter
    for entry in os.listdir(base):
        if entry.startswith("rfkill"):
            return os.path.join(base, entry)
    raise TestFailure("no rfkill switch for %s" % adapter)


def set_soft_block(adapter, blocked):
    with open(os.path.join(rfkill_dir(adapter), "soft"), "w") as f:
        f.write("1" if blocked else "0")


class Scanner:
    """ble_bluez_client scan on ADAPTER (our BlueZ scanner, the desktop's): SEEN lines as they come."""

    def __init__(self, adapter):
        self.proc = subprocess.Popen([os.path.join(BIN, "ble_bluez_client"), "scan", "--adapter", adapter],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        self.lines = []
        import threading
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def seen(self, uuid_prefix="fff9"):
        return [l for l in self.lines if l.startswith("SEEN " + uuid_prefix)]

    def stop(self):
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        except OSError:
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
