#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Runs a real-BlueZ scenario of tests/vm/test_bluez_real.py on this machine against the BlueZ
double instead (a private dbus-daemon as the system bus; hci0 and hci1, each with 3 advertising
instances as btvirt's controllers have, the double in bridge mode), so the fast suite runs the same
scenarios the guest runs against bluetoothd.

usage: on_double.py BIN_DIR TEST_NAME"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "ble"))
from bluez_fixture import BluezDouble, PrivateBus  # noqa: E402


def main():
    bin_dir, name = sys.argv[1], sys.argv[2]
    with PrivateBus() as bus, BluezDouble(bus, bridge=True) as double:
        double.adapter("hci0", advertising=3)
        double.adapter("hci1", advertising=3)
        env = bus.env(HG_BIN=os.path.abspath(bin_dir), HG_BLUEZ_DOUBLE=bus.address, HG_VM_SHARE=bus.dir)
        r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "test_bluez_real.py"), name], env=env)
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
