#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
'''BlueZ bridge: a BlueZ double on which a BlueZ advertiser and a BlueZ scanner see each other.

It runs python3-dbusmock's bluez5 template extended by bluez_hg.py in bridge mode: an adapter with
LEAdvertisingManager1; every advertisement a client registers is read back from that client
(GetAll on its object, addressed to its unique name, before RegisterAdvertisement returns, as
bluetoothd does) and appears as an org.bluez.Device1 carrying the same ServiceData (AddObject +
InterfacesAdded, a{sv} typed correctly). Rotation (PropertiesChanged on the advert object)
updates the device's ServiceData (PropertiesChanged); UnregisterAdvertisement removes it.

Usage (always with Debian's /usr/bin/python3):

  /usr/bin/python3 tests/ble/bluez_bridge.py [options] -- COMMAND [ARGS...]
      starts a private dbus-daemon and the double, runs COMMAND with
      DBUS_SYSTEM_BUS_ADDRESS (and HYBRIDGATE_BLUEZ_BRIDGE=1) set, stops everything and exits
      with COMMAND's exit code. COMMAND typically starts the desktop and the phone side with
      --radio bluez.

  /usr/bin/python3 tests/ble/bluez_bridge.py [options]
      serves until stdin closes or SIGTERM; prints "DBUS_SYSTEM_BUS_ADDRESS=<address>" on the
      first line of stdout once org.bluez is up.

Options:
  --adapter NAME        adapter to create (default hci0)
  --instances N         SupportedInstances of its LEAdvertisingManager1 (default 5)
  --session-bus         use the bus in DBUS_SESSION_BUS_ADDRESS (e.g. under dbus-run-session)
                        instead of starting a private dbus-daemon
  --log PATH            keep the double's log (method calls, registrations) at PATH
'''

import argparse
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dbus  # noqa: E402

from bluez_fixture import BluezDouble, PrivateBus, TestFailure  # noqa: E402


class _SessionBus:
    '''The bus we were started on (dbus-run-session), shaped like PrivateBus.'''

    def __init__(self):
        self.address = os.environ.get('DBUS_SESSION_BUS_ADDRESS', '')
        if not self.address:
            raise TestFailure('--session-bus needs DBUS_SESSION_BUS_ADDRESS (run under dbus-run-session)')
        self.dir = os.environ.get('TMPDIR', '/tmp')
        self.conn = dbus.bus.BusConnection(self.address)

    def env(self, **extra):
        e = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        e.update(extra)
        return e

    def close(self):
        self.conn.close()


def main():
    argv = sys.argv[1:]
    command = []
    if '--' in argv:
        i = argv.index('--')
        argv, command = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description='BlueZ double that bridges BlueZ advertisers to BlueZ scanners')
    ap.add_argument('--adapter', default='hci0')
    ap.add_argument('--instances', type=int, default=5)
    ap.add_argument('--session-bus', action='store_true')
    ap.add_argument('--log')
    args = ap.parse_args(argv)

    bus = _SessionBus() if args.session_bus else PrivateBus()
    double = None
    try:
        double = BluezDouble(bus, bridge=True, log=args.log)
        double.adapter(args.adapter, advertising=args.instances)
        if command:
            child = subprocess.Popen(command, env=bus.env(HYBRIDGATE_BLUEZ_BRIDGE='1'))
            signal.signal(signal.SIGTERM, lambda *_: child.terminate())
            return child.wait()
        print('DBUS_SYSTEM_BUS_ADDRESS=' + bus.address, flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        sys.stdin.read()  # until stdin closes
        return 0
    except TestFailure as e:
        print('bluez_bridge: %s' % e, file=sys.stderr)
        return 125
    finally:
        if double:
            double.close()
        bus.close()


if __name__ == '__main__':
    sys.exit(main())
