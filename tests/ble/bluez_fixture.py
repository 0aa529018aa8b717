# SPDX-License-Identifier: Apache-2.0
'''Fixture pieces for BlueZ tests: a private dbus-daemon, the BlueZ double (dbusmock bluez5 +
bluez_hg.py), and line-oriented child processes. Run with /usr/bin/python3 (Debian's, which has
dbus-python and dbusmock).

No sleeps as synchronisation: everything waits on an observable event (a bus name owner, a line
from a child, a state the double reports) with a bounded timeout.
'''

import contextlib
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import dbus

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, 'bluez_hg.py')
PY = '/usr/bin/python3'
MOCK_IFACE = 'org.bluez.Mock'
DBUSMOCK_IFACE = 'org.freedesktop.DBus.Mock'
FFF9 = '0000fff9-0000-1000-8000-00805f9b34fb'
FDE2 = '0000fde2-0000-1000-8000-00805f9b34fb'

sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'pylib'))
from hgcheck import TestFailure, check, wait_for  # noqa: E402,F401  (re-exported to the tests)



_BUS_CONFIG = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  {extra}
</busconfig>
'''

# A D-Bus policy that denies what a sandbox or a strict system policy denies: talking to BlueZ.
# The double's own org.bluez.Mock interface stays reachable for the fixture.
DENY_BLUEZ = '''<policy context="default">
    <deny send_destination="org.bluez" send_interface="org.freedesktop.DBus.ObjectManager"/>
    <deny send_destination="org.bluez" send_interface="org.bluez.Adapter1"/>
    <deny send_destination="org.bluez" send_interface="org.bluez.LEAdvertisingManager1"/>
  </policy>'''


class PrivateBus:
    '''A dbus-daemon of our own (session type, optionally with a deny policy).'''

    def __init__(self, extra_policy='', config=_BUS_CONFIG, socket_name='bus', parent=None, **fields):
        """`config` is a dbus-daemon configuration with {socket} (and {extra}, and any `fields`)
        placeholders; the default is a session-type bus with an allow-all policy."""
        self.dir = tempfile.mkdtemp(prefix='hg-bus-', dir=parent)
        socket = os.path.join(self.dir, socket_name)
        cfg = os.path.join(self.dir, 'bus.conf')
        with open(cfg, 'w') as f:
            f.write(config.format(socket=socket, extra=extra_policy, **fields))
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
        e['DBUS_SESSION_BUS_ADDRESS'] = self.address
        e.update({k: v for k, v in extra.items() if v is not None})
        for k, v in extra.items():
            if v is None:
                e.pop(k, None)
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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class BluezDouble:
    '''python3 -m dbusmock with the bluez_hg template, owning org.bluez on the private bus.'''

    def __init__(self, bus, bridge=False, log=None):
        self.bus = bus
        self.log = log or os.path.join(bus.dir, 'mock.log')
        args = [PY, '-m', 'dbusmock', '--session', '-t', TEMPLATE, '-l', self.log]
        if bridge:
            args += ['-p', json.dumps({'bridge': True})]
        self.proc = subprocess.Popen(args, env=bus.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def up():
            if self.proc.poll() is not None:
                raise TestFailure('the BlueZ double exited: ' + self.proc.stderr.read().decode(errors='replace'))
            return bus.conn.name_has_owner('org.bluez')
        wait_for(up, 15, 'org.bluez to have an owner')
        self.root = bus.conn.get_object('org.bluez', '/')
        self.mock = dbus.Interface(self.root, MOCK_IFACE)

    def adapter(self, name='hci0', powered=True, advertising=None):
        self.mock.AddAdapter(name, 'hybridgate-test')
        if not powered:
            self.set_adapter(name, 'Powered', dbus.Boolean(False))
        if advertising is not None:
            self.mock.AddAdvertisingManager(name, dbus.Byte(advertising))
        return '/org/bluez/' + name

    def set_adapter(self, name, prop, value):
        obj = self.bus.conn.get_object('org.bluez', '/org/bluez/' + name)
        obj.Set('org.bluez.Adapter1', prop, value, dbus_interface=dbus.PROPERTIES_IFACE)

    def adapter_prop(self, name, prop):
        obj = self.bus.conn.get_object('org.bluez', '/org/bluez/' + name)
        return obj.Get('org.bluez.Adapter1', prop, dbus_interface=dbus.PROPERTIES_IFACE)

    def calls(self, path):
        obj = self.bus.conn.get_object('org.bluez', path)
        return [(str(c[1]), list(c[2])) for c in obj.GetCalls(dbus_interface=DBUSMOCK_IFACE)]

    def adverts(self):
        return [(str(s), str(p), dict(props)) for s, p, props in self.mock.GetAdvertisements()]

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@contextlib.contextmanager
def bluez(extra_policy='', bridge=False):
    '''A private bus with the BlueZ double on it: `with bluez() as (bus, double):`.'''
    with PrivateBus(extra_policy) as bus, BluezDouble(bus, bridge=bridge) as double:
        yield bus, double


class Child:
    '''A child process we talk to line by line.'''

    def __init__(self, args, env, name='child'):
        self.name = name
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines = []
        # A reader thread hands over complete lines. (select() on the pipe next to a buffered
        # readline() misses a second line that arrived in the same read: it sits in Python's buffer
        # while select() waits on an empty fd.)
        self._queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self._queue.put(line.rstrip('\n'))
        self._queue.put(None)  # EOF

    def expect(self, prefix, timeout=10.0):
        '''Returns the next line starting with prefix; fails on ERROR lines, EOF or timeout.'''
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure('%s: timed out waiting for %r (saw %r)' % (self.name, prefix, self.lines[-5:]))
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)
                raise TestFailure('%s: exited (%s) waiting for %r; stderr: %s' % (
                    self.name, self.proc.wait(), prefix, self.proc.stderr.read()))
            self.lines.append(line)
            if line.startswith(prefix):
                return line
            if line.startswith('ERROR') and not prefix.startswith('ERROR'):
                raise TestFailure('%s: %s' % (self.name, line))

    def no_line(self, timeout=0.3):
        '''Checks that no output arrives within the timeout (used after a suppressed repeat).'''
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            return
        if line is None:
            self._queue.put(None)
            return
        self.lines.append(line)
        raise TestFailure('%s: unexpected line %r' % (self.name, line))

    def send(self, line):
        self.proc.stdin.write(line + '\n')
        self.proc.stdin.flush()

    def finish(self, timeout=10.0):
        try:
            self.proc.stdin.close()
        except Exception:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise TestFailure(self.name + ': did not exit')

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def run(args, env, timeout=30):
    p = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def main(scenarios):
    '''python3 test_x.py <scenario> [args...]: runs one scenario, prints PASS/FAIL.'''
    if len(sys.argv) < 2 or sys.argv[1] not in scenarios:
        sys.stderr.write('usage: %s <%s> ...\n' % (sys.argv[0], '|'.join(sorted(scenarios))))
        return 2
    try:
        scenarios[sys.argv[1]](*sys.argv[2:])
    except TestFailure as e:
        print('FAIL: %s' % e)
        return 1
    print('PASS')
    return 0
