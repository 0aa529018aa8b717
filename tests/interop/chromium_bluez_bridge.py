#!/usr/bin/python3
'''The BlueZ bridge of tests/ble (bluez_bridge.py) on a private *system-type* bus, for Chromium.

Chromium finds BlueZ on the system bus (DBUS_SYSTEM_BUS_ADDRESS). This starts a dbus-daemon with a
system-type configuration that allows everything, then python3-dbusmock's bluez5 template extended
by tests/ble/bluez_hg.py in bridge mode (every advertisement registered through
LEAdvertisingManager1 appears as an org.bluez.Device1 with the same ServiceData), with one powered
adapter hci0.

  /usr/bin/python3 tests/interop/chromium_bluez_bridge.py [--dir D] [--log PATH]
      prints "DBUS_SYSTEM_BUS_ADDRESS=<address>" once org.bluez is up, serves until stdin closes or
      SIGTERM, then stops the double and the bus.
'''

import argparse
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'ble'))

import dbus  # noqa: E402

from bluez_fixture import BluezDouble, TestFailure, check  # noqa: E402

_SYSTEM_BUS_CONFIG = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>{bus_type}</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow send_type="method_call"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
'''


class SystemTypeBus:
    '''A private dbus-daemon with a system-type, allow-all configuration (PrivateBus's shape).'''

    def __init__(self, parent=None, bus_type='system'):
        self.dir = tempfile.mkdtemp(prefix='hg-sysbus-', dir=parent)
        socket = os.path.join(self.dir, 'system_bus_socket')
        cfg = os.path.join(self.dir, 'system.conf')
        with open(cfg, 'w') as f:
            f.write(_SYSTEM_BUS_CONFIG.format(socket=socket, bus_type=bus_type))
        self.proc = subprocess.Popen(['dbus-daemon', '--config-file=' + cfg, '--nofork', '--print-address'],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        r, _, _ = select.select([self.proc.stdout], [], [], 10)
        check(r, 'dbus-daemon did not print its address')
        self.address = self.proc.stdout.readline().strip()
        check(self.address.startswith('unix:'), 'dbus-daemon address: ' + repr(self.address))
        self.conn = dbus.bus.BusConnection(self.address)

    def env(self, **extra):
        e = dict(os.environ)
        e['DBUS_SYSTEM_BUS_ADDRESS'] = self.address
        e['DBUS_SESSION_BUS_ADDRESS'] = self.address  # the double runs "--session" on this bus
        e.update(extra)
        return e

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dir', help='parent folder for the bus socket')
    ap.add_argument('--log', help="keep the double's log here")
    ap.add_argument('--adapter', default='hci0')
    ap.add_argument('--bus-type', default='system', choices=['system', 'session'],
                    help='<type> of the private bus configuration (default system)')
    args = ap.parse_args()
    bus = double = None
    try:
        bus = SystemTypeBus(args.dir, args.bus_type)
        double = BluezDouble(bus, bridge=True, log=args.log)
        double.adapter(args.adapter, advertising=5)
        print('DBUS_SYSTEM_BUS_ADDRESS=' + bus.address, flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        sys.stdin.read()
        return 0
    except TestFailure as e:
        print('chromium_bluez_bridge: %s' % e, file=sys.stderr)
        return 125
    finally:
        if double:
            double.close()
        if bus:
            bus.close()


if __name__ == '__main__':
    sys.exit(main())
