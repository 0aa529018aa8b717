#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
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
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'ble'))


from bluez_fixture import BluezDouble, PrivateBus, TestFailure  # noqa: E402

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
        bus = PrivateBus(config=_SYSTEM_BUS_CONFIG, socket_name='system_bus_socket', parent=args.dir,
                         bus_type=args.bus_type)
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
