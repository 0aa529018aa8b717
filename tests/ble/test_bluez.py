# SPDX-License-Identifier: Apache-2.0
'''BlueZ radio against the BlueZ double on a private dbus-daemon.

  /usr/bin/python3 test_bluez.py <scenario> <bluez_client binary>

Each scenario starts its own dbus-daemon and double, drives build/bin/ble_bluez_client and
asserts on what the double saw (GetCalls, registered advertisement objects).
'''

import contextlib
import os
import subprocess
import sys
import tempfile

import dbus

from bluez_fixture import (FDE2, FFF9, BluezDouble, Child, PrivateBus, DENY_BLUEZ, TestFailure, bluez, check,
                           main, run, wait_for)

P1 = bytes(range(1, 21))
P2 = bytes(range(0x21, 0x35))
P3 = bytes(range(0x41, 0x55))
P4 = bytes(range(0x61, 0x75))


def _ay(b):
    return dbus.Array([dbus.Byte(x) for x in b], signature='y')


def _set_service_data(bus, path, uuid, data):
    '''Standard Properties.Set on a Device1 (emits PropertiesChanged with a correct a{sv}).'''
    obj = bus.conn.get_object('org.bluez', path)
    obj.Set('org.bluez.Device1', 'ServiceData', dbus.Dictionary({uuid: _ay(data)}, signature='sv'),
            dbus_interface=dbus.PROPERTIES_IFACE)


def _seen(line):
    _, uuid, hexdata, device = line.split(' ', 3)
    return uuid, bytes.fromhex(hexdata), device


def scanner(client):
    '''Filter and discovery calls; devices before and after start; repeats; removal; bad data.'''
    with bluez() as (bus, double), contextlib.ExitStack() as stack:
        adapter = double.adapter('hci0')
        # A device that exists before the scan starts (seen through GetManagedObjects).
        early = double.mock.AddCableDevice('hci0', 'C0:00:00:00:00:01', FFF9, _ay(P1))
        # The template's own AddDevice types ServiceData as aa{sv} (a dbusmock bug): must not crash.
        double.mock.AddDevice('hci0', '11:22:33:44:55:66', 'bugged')

        child = stack.enter_context(Child([client, 'scan'], bus.env(), 'scanner'))
        child.expect('STARTED')
        check(_seen(child.expect('SEEN')) == ('fff9', P1, early), 'pre-existing device: ' + child.lines[-1])

        # A device appearing later (AddDevice + Properties.Set → PropertiesChanged).
        dev = str(double.mock.AddDevice('hci0', 'AA:BB:CC:DD:EE:01', 'phone'))
        _set_service_data(bus, dev, FFF9, P2)
        check(_seen(child.expect('SEEN')) == ('fff9', P2, dev), 'PropertiesChanged: ' + child.lines[-1])
        # Exact repeat: suppressed. Then a short payload (19 bytes): ignored. Then a new one.
        _set_service_data(bus, dev, FFF9, P2)
        _set_service_data(bus, dev, FFF9, P3[:19])
        _set_service_data(bus, dev, '0000feaa-0000-1000-8000-00805f9b34fb', P4)  # not caBLE
        _set_service_data(bus, dev, FFF9, P3)
        check(_seen(child.expect('SEEN')) == ('fff9', P3, dev), 'repeat not suppressed: ' + child.lines[-1])
        # A value of the wrong D-Bus type under the caBLE UUID: ignored.
        obj = bus.conn.get_object('org.bluez', dev)
        obj.Set('org.bluez.Device1', 'ServiceData', dbus.Dictionary({FFF9: dbus.String('x' * 20)}, signature='sv'),
                dbus_interface=dbus.PROPERTIES_IFACE)
        # A Google-UUID device added with InterfacesAdded (AddObject + EmitSignal).
        google = double.mock.AddCableDevice('hci0', 'C0:00:00:00:00:02', FDE2, _ay(P4 + b'\xa1\x01\x18\x82'))
        check(_seen(child.expect('SEEN')) == ('fde2', P4 + b'\xa1\x01\x18\x82', google),
              'InterfacesAdded (FDE2, 24 bytes): ' + child.lines[-1])
        # BlueZ removes the device: forgotten, so the same payload again is a new advert.
        adapter_obj = bus.conn.get_object('org.bluez', adapter)
        adapter_obj.RemoveDevice(dbus.ObjectPath(google), dbus_interface='org.bluez.Adapter1')
        google2 = double.mock.AddCableDevice('hci0', 'C0:00:00:00:00:02', FDE2, _ay(P4 + b'\xa1\x01\x18\x82'))
        check(_seen(child.expect('SEEN'))[2] == google2, 'removed device not forgotten')
        # A device of another adapter is not ours.
        double.adapter('hci1')
        double.mock.AddCableDevice('hci1', 'C0:00:00:00:00:03', FFF9, _ay(P1))
        child.send('stop')
        child.expect('STOPPED')
        check(all(not l.startswith('SEEN') or '/hci1/' not in l for l in child.lines), 'saw hci1 device')
        check(child.finish() == 0, 'scanner exit code')

        calls = double.calls(adapter)
        names = [c[0] for c in calls]
        check('SetDiscoveryFilter' in names and 'StartDiscovery' in names and 'StopDiscovery' in names,
              'adapter calls: %r' % names)
        check(names.index('SetDiscoveryFilter') < names.index('StartDiscovery') < names.index('StopDiscovery'),
              'call order: %r' % names)
        flt = dict(calls[names.index('SetDiscoveryFilter')][1][0])
        check(flt.get('Transport') == 'le', 'filter Transport: %r' % flt)
        check(flt.get('DuplicateData') is True or flt.get('DuplicateData') == dbus.Boolean(True),
              'filter DuplicateData: %r' % flt)
        check(isinstance(flt.get('DuplicateData'), dbus.Boolean), 'DuplicateData type: %r' % type(flt.get('DuplicateData')))
        check('UUIDs' not in flt, 'filter must not carry UUIDs: %r' % flt)
        check(names.count('StartDiscovery') == 1 and names.count('StopDiscovery') == 1, 'calls: %r' % names)
        check(not bool(double.adapter_prop('hci0', 'Discovering')), 'still discovering')
        # Passive: no call on any device.
        for d in (early, dev, google2):
            dcalls = [c[0] for c in double.calls(d)]
            check(not any(c in ('Connect', 'Pair', 'ConnectProfile') for c in dcalls), 'device calls: %r' % dcalls)


def scanner_stops_on_error(client):
    '''StartDiscovery fails → error code, and no discovery left running.'''
    with bluez() as (bus, double):
        adapter = double.adapter('hci0')
        double.mock.SetMethodError(adapter, 'org.bluez.Adapter1', 'StartDiscovery', 'org.bluez.Error.NotReady',
                                   'Resource Not Ready')
        rc, out, err = run([client, 'scan'], bus.env())
        check(out.startswith('ERROR ble.adapter_off'), 'NotReady: %r %r' % (out, err))
        double.mock.SetMethodError(adapter, 'org.bluez.Adapter1', 'StartDiscovery', 'org.bluez.Error.Blocked',
                                   'Blocked through rfkill')
        rc, out, err = run([client, 'scan'], bus.env())
        check(out.startswith('ERROR ble.rfkill'), 'Blocked: %r' % out)
        double.mock.SetMethodError(adapter, 'org.bluez.Adapter1', 'StartDiscovery', '', '')
        # The filter fails: nothing started.
        double.mock.SetMethodError(adapter, 'org.bluez.Adapter1', 'SetDiscoveryFilter',
                                   'org.freedesktop.DBus.Error.AccessDenied', 'denied')
        rc, out, err = run([client, 'scan'], bus.env())
        check(out.startswith('ERROR ble.permission'), 'AccessDenied: %r' % out)
        names = [c[0] for c in double.calls(adapter)]
        check(names.count('StartDiscovery') == 2 and 'StopDiscovery' not in names, 'calls: %r' % names)
        check(not bool(double.adapter_prop('hci0', 'Discovering')), 'discovering after errors')


def advertiser(client):
    '''The registered object carries exactly the service data; rotation; Release; unregister.'''
    with bluez() as (bus, double), contextlib.ExitStack() as stack:
        adapter = double.adapter('hci0', advertising=5)
        child = stack.enter_context(Child([client, 'advertise', '--hex', P1.hex()], bus.env(), 'advertiser'))
        child.expect('REGISTERED')
        ads = double.adverts()
        check(len(ads) == 1, 'adverts: %r' % ads)
        sender, path, props = ads[0]
        check(str(props['Type']) == 'broadcast', 'Type: %r' % props.get('Type'))
        sd = dict(props['ServiceData'])
        check(list(sd.keys()) == [FFF9], 'ServiceData keys: %r' % list(sd.keys()))
        check(bytes(bytearray(sd[FFF9])) == P1, 'ServiceData value: %r' % sd[FFF9])
        check('LocalName' not in props and 'Includes' in props and len(props['Includes']) == 0,
              'no name: %r' % props)
        check(int(props['MinInterval']) == 20 and int(props['MaxInterval']) == 20, 'intervals: %r' % props)
        calls = double.calls(adapter)
        check([c[0] for c in calls].count('RegisterAdvertisement') == 1, 'calls: %r' % calls)
        check(str(calls[-1][1][0]) == path, 'registered path')

        # Rotation: PropertiesChanged on the object, the double follows it.
        child.send('rotate ' + P2.hex())
        child.expect('ROTATED')
        wait_for(lambda: bytes(bytearray(dict(double.adverts()[0][2]['ServiceData'])[FFF9])) == P2, 5, 'rotation')

        # BlueZ releases the advert (e.g. the adapter went off): the next start registers again.
        double.mock.ReleaseAdvertisements()
        check(double.adverts() == [], 'released')
        child.send('rotate ' + P3.hex())
        child.expect('ROTATED')
        ads = double.adverts()
        check(len(ads) == 1 and bytes(bytearray(dict(ads[0][2]['ServiceData'])[FFF9])) == P3, 're-register: %r' % ads)

        child.send('stop')
        child.expect('STOPPED')
        check(child.finish() == 0, 'advertiser exit code')
        names = [c[0] for c in double.calls(adapter)]
        check(names.count('RegisterAdvertisement') == 2 and names.count('UnregisterAdvertisement') == 1,
              'calls: %r' % names)
        check(double.adverts() == [], 'unregistered')


def bridge(client):
    '''A BlueZ advertiser and a BlueZ scanner on one bus see each other through the bridge.'''
    with bluez(bridge=True) as (bus, double), contextlib.ExitStack() as stack:
        double.adapter('hci0', advertising=5)
        scan = stack.enter_context(Child([client, 'scan'], bus.env(), 'scanner'))
        scan.expect('STARTED')
        adv = stack.enter_context(Child([client, 'advertise', '--hex', P1.hex()], bus.env(), 'advertiser'))
        adv.expect('REGISTERED')
        uuid, data, device = _seen(scan.expect('SEEN'))
        check((uuid, data) == ('fff9', P1), 'bridge: %r' % scan.lines[-1])
        adv.send('rotate ' + P2.hex())
        adv.expect('ROTATED')
        check(_seen(scan.expect('SEEN')) == ('fff9', P2, device), 'rotation over the bridge: %r' % scan.lines[-1])
        adv.send('stop')
        adv.expect('STOPPED')
        scan.send('stop')
        scan.expect('STOPPED')
        check(adv.finish() == 0 and scan.finish() == 0, 'exit codes')


def bridge_external(client):
    '''Run under bluez_bridge.py: uses the bus it provides (DBUS_SYSTEM_BUS_ADDRESS).'''
    check(os.environ.get('HYBRIDGATE_BLUEZ_BRIDGE') == '1', 'not started by bluez_bridge.py')
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        scan = stack.enter_context(Child([client, 'scan'], env, 'scanner'))
        scan.expect('STARTED')
        adv = stack.enter_context(Child([client, 'advertise', '--hex', P3.hex()], env, 'advertiser'))
        adv.expect('REGISTERED')
        check(_seen(scan.expect('SEEN'))[:2] == ('fff9', P3), 'bridge: %r' % scan.lines[-1])
        adv.send('stop')
        adv.expect('STOPPED')
        scan.send('stop')
        scan.expect('STOPPED')
        check(adv.finish() == 0 and scan.finish() == 0, 'exit codes')


def _probe(client, env, *args):
    rc, out, err = run([client, 'probe'] + list(args), env)
    check(rc == 0, 'probe exit %d: %s' % (rc, err))
    return out.strip()


def faults(client):
    '''Each adapter fault gives its own error code (scanner and advertiser factories).'''
    # No system bus at all (sandbox).
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS='unix:path=/nonexistent/hybridgate/bus')
    out = _probe(client, env)
    check(out.startswith('ERROR ble.no_system_bus'), 'no bus: %r' % out)
    rc, out, _ = run([client, 'scan'], env)
    check(out.startswith('ERROR ble.no_system_bus'), 'scan without bus: %r' % out)

    with PrivateBus() as bus:
        # A bus, but no BlueZ on it.
        out = _probe(client, bus.env())
        check(out.startswith('ERROR ble.no_bluez'), 'no bluez: %r' % out)
        with BluezDouble(bus) as double:
            out = _probe(client, bus.env())
            check(out.startswith('ERROR ble.no_adapter'), 'no adapter: %r' % out)
            double.adapter('hci0', powered=False)
            out = _probe(client, bus.env())
            check(out.startswith('ERROR ble.adapter_off'), 'off: %r' % out)
            rc, out, _ = run([client, 'scan'], bus.env())
            check(out.startswith('ERROR ble.adapter_off'), 'scan when off: %r' % out)
            # Off because of rfkill.
            with tempfile.TemporaryDirectory() as rk:
                os.makedirs(os.path.join(rk, 'rfkill0'))
                for name, value in (('type', 'bluetooth'), ('soft', '1'), ('hard', '0')):
                    with open(os.path.join(rk, 'rfkill0', name), 'w') as f:
                        f.write(value + '\n')
                out = _probe(client, bus.env(HYBRIDGATE_RFKILL_DIR=rk))
                check(out.startswith('ERROR ble.rfkill'), 'rfkill: %r' % out)
            out = _probe(client, bus.env(), '--adapter', 'hci7')
            check(out.startswith('ERROR ble.no_adapter') and 'hci7' in out, 'named adapter: %r' % out)
            double.set_adapter('hci0', 'Powered', dbus.Boolean(True))
            check(_probe(client, bus.env()) == 'OK hci0', 'powered')
            # Advertising: no LEAdvertisingManager1, then no free instance.
            out = _probe(client, bus.env(), '--advertising')
            check(out.startswith('ERROR ble.no_advertising'), 'no manager: %r' % out)
            rc, out, _ = run([client, 'advertise', '--hex', P1.hex()], bus.env())
            check(out.startswith('ERROR ble.no_advertising'), 'advertise without manager: %r' % out)
            double.adapter('hci1', advertising=0)
            out = _probe(client, bus.env(), '--advertising', '--adapter', 'hci1')
            check(out.startswith('ERROR ble.no_advertising') and 'SupportedInstances' in out, 'instances: %r' % out)
            # The first powered adapter that can advertise is chosen by default.
            double.adapter('hci2', advertising=3)
            check(_probe(client, bus.env(), '--advertising') == 'OK hci2', 'default advertising adapter')
            check(_probe(client, bus.env()) == 'OK hci0', 'default scanning adapter')
            # RegisterAdvertisement refused by BlueZ.
            double.mock.SetMethodError('/org/bluez/hci2', 'org.bluez.LEAdvertisingManager1', 'RegisterAdvertisement',
                                       'org.bluez.Error.NotPermitted', 'Maximum advertisements reached')
            rc, out, _ = run([client, 'advertise', '--adapter', 'hci2', '--hex', P1.hex()], bus.env())
            check(out.startswith('ERROR ble.advertising_busy') and 'Maximum advertisements' in out, 'register refused: %r' % out)

    # Permission: the bus policy denies talking to BlueZ.
    with bluez(DENY_BLUEZ) as (bus, double):
            double.adapter('hci0')
            out = _probe(client, bus.env())
            check(out.startswith('ERROR ble.permission'), 'AccessDenied: %r' % out)


QR = ('FIDO:/21451485302227106379487559113723092434570048571579929725294386093726313840430492013630000000'
      '134226708900000000000000000000000000000000')


def _doctor(hybridgate, env, *extra):
    import json
    rc, out, err = run([hybridgate, 'doctor', '--json', '--no-network', '--scan-seconds', '1'] + list(extra), env)
    try:
        j = json.loads(out)
    except ValueError:
        raise TestFailure('doctor output is not JSON: %r %r' % (out, err))
    return rc, {c['name']: c for c in j['checks']}, j


def _expect(checks, name, status, code=None):
    c = checks.get(name)
    check(c is not None, 'no %s check' % name)
    check(c['status'] == status, '%s: status %s, want %s: %r' % (name, c['status'], status, c))
    if code:
        check(c.get('code') == code, '%s: code %r, want %s' % (name, c.get('code'), code))
    if status in ('fail', 'warn'):
        check(c.get('fix'), '%s: no fix sentence' % name)


def doctor(client, hybridgate):
    '''hybridgate doctor --json for each fault, and a healthy system with adverts (and --qr).'''
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS='unix:path=/nonexistent/hybridgate/bus')
    with tempfile.TemporaryDirectory() as radio:
        env['HYBRIDGATE_RADIO_DIR'] = radio + '/r'
        rc, c, _ = _doctor(hybridgate, env)
        check(rc == 1, 'exit code with a failure')
        _expect(c, 'system_bus', 'fail', 'ble.no_system_bus')
        _expect(c, 'bluez', 'skip')
        check(c['scan']['radio'] == 'loopback', 'falls back to a loopback scan')
        _expect(c, 'clock', 'pass')
        _expect(c, 'tunnel', 'skip')

    with PrivateBus() as bus:
        rc, c, _ = _doctor(hybridgate, bus.env())
        _expect(c, 'system_bus', 'pass')
        _expect(c, 'bluez', 'fail', 'ble.no_bluez')
        with BluezDouble(bus) as double:
            rc, c, _ = _doctor(hybridgate, bus.env())
            _expect(c, 'bluez', 'pass')
            _expect(c, 'adapter', 'fail', 'ble.no_adapter')
            double.adapter('hci0', powered=False)
            rc, c, _ = _doctor(hybridgate, bus.env())
            _expect(c, 'adapter', 'fail', 'ble.adapter_off')
            check(c['bluez']['version'] == '5.10', 'version from the mock Modalias: %r' % c['bluez'])
            with tempfile.TemporaryDirectory() as rk:
                os.makedirs(os.path.join(rk, 'rfkill0'))
                for name, value in (('type', 'bluetooth'), ('soft', '0'), ('hard', '1')):
                    with open(os.path.join(rk, 'rfkill0', name), 'w') as f:
                        f.write(value + '\n')
                rc, c, _ = _doctor(hybridgate, bus.env(HYBRIDGATE_RFKILL_DIR=rk))
                _expect(c, 'adapter', 'fail', 'ble.rfkill')
                _expect(c, 'rfkill', 'fail', 'ble.rfkill')
            double.set_adapter('hci0', 'Powered', dbus.Boolean(True))
            rc, c, _ = _doctor(hybridgate, bus.env())
            _expect(c, 'adapter', 'pass')
            _expect(c, 'le_advertising', 'warn', 'ble.no_advertising')
            _expect(c, 'scan', 'warn')
            check(c['scan']['radio'] == 'bluez', 'bluez scan')
            check(rc == 0, 'warnings only: exit 0')
            # Adverts: one for the QR, one that is not.
            double.mock.AddAdvertisingManager('hci0', dbus.Byte(4))
            rc, out, _ = run([client, 'make-advert', '--hex', QR], bus.env())
            good = bytes.fromhex(out.strip())
            double.mock.AddCableDevice('hci0', 'C0:00:00:00:00:0A', FFF9, _ay(good))
            double.mock.AddCableDevice('hci0', 'C0:00:00:00:00:0B', FDE2, _ay(P1))
            rc, c, _ = _doctor(hybridgate, bus.env(), '--qr', QR)
            _expect(c, 'le_advertising', 'pass')
            check(c['le_advertising']['supported_instances'] == 4, 'instances')
            _expect(c, 'scan', 'pass')
            ads = {a['service_data']: a for a in c['scan']['adverts']}
            check(ads[good.hex()]['matches_qr'] is True and ads[good.hex()]['routing_id'] == '010203', 'match: %r' % ads)
            check(ads[P1.hex()]['matches_qr'] is False, 'non-match: %r' % ads)
            # Text output for people.
            rc, out, _ = run([hybridgate, 'doctor', '--no-network', '--scan-seconds', '1', '--qr', QR], bus.env())
            check('PASS  scan:' in out and 'matches the QR code' in out, 'text output: %r' % out)
            # Every advertising instance taken by other programs: a warning that says so (as real BlueZ, vm.bluez.doctor_states).
            holders = []
            for i in range(4):
                h = subprocess.Popen([client, 'advertise', '--adapter', 'hci0', '--hex', '%02x' % i * 20], env=bus.env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                check(h.stdout.readline().strip() == 'REGISTERED', 'advertiser %d registered' % i)
                holders.append(h)
            rc, c, _ = _doctor(hybridgate, bus.env())
            _expect(c, 'le_advertising', 'warn', 'ble.advertising_busy')
            check('in use' in c['le_advertising']['message'], 'busy sentence: %r' % c['le_advertising'])
            rc, out, _ = run([client, 'advertise', '--adapter', 'hci0', '--hex', P1.hex()], bus.env())
            check(out.startswith('ERROR ble.advertising_busy'), 'a fifth advert: %r' % out)
            for h in holders:
                h.stdin.close()
                h.wait(20)
            wait_for(lambda: not double.adverts(), 10, 'the adverts gone when their clients exit')

    with bluez(DENY_BLUEZ) as (bus, double):
            double.adapter('hci0')
            rc, c, _ = _doctor(hybridgate, bus.env())
            _expect(c, 'system_bus', 'pass')
            _expect(c, 'bluez', 'fail', 'ble.permission')


if __name__ == '__main__':
    sys.exit(main({'scanner': scanner, 'scanner_stops_on_error': scanner_stops_on_error, 'advertiser': advertiser,
                   'bridge': bridge, 'bridge_external': bridge_external, 'faults': faults, 'doctor': doctor}))
