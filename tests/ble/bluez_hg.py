# SPDX-License-Identifier: Apache-2.0
'''BlueZ double for hybridgate: python3-dbusmock's bluez5 template plus what it lacks.

Load with:  /usr/bin/python3 -m dbusmock --session -t tests/ble/bluez_hg.py [-p '{"bridge": true}']

Additions on the main object "/" (interface org.bluez.Mock):
  AddAdvertisingManager(adapter 's', supported_instances 'y')
      adds org.bluez.LEAdvertisingManager1 (ActiveInstances, SupportedInstances, SupportedIncludes
      and RegisterAdvertisement / UnregisterAdvertisement) to /org/bluez/<adapter>.
      RegisterAdvertisement behaves like bluetoothd: it reads the advertisement object back from
      the caller (GetAll on org.bluez.LEAdvertisement1, addressed to the caller's unique name)
      *before* it replies, and follows the object's PropertiesChanged (EID rotation).
  GetAdvertisements() -> a(soa{sv})   registered adverts: (client unique name, path, properties)
  ReleaseAdvertisements()             calls Release on every registered advert and forgets them
  SetBridge(b)                        bridge mode: every registered advert also appears as an
                                      org.bluez.Device1 with that ServiceData (InterfacesAdded, a{sv}
                                      typed correctly), updated on rotation and removed on
                                      unregistration, so a BlueZ scanner on the bus sees a BlueZ
                                      advertiser on the same bus.
  SetMethodError(path 's', interface 's', method 's', error_name 's', message 's')
                                      makes a mocked method fail with that D-Bus error
                                      (error_name '' restores it).
  AddCableDevice(adapter 's', address 's', uuid 's', data 'ay') -> 'o'
                                      adds a Device1 carrying ServiceData {uuid: data} (AddObject +
                                      InterfacesAdded with correct a{sv} typing).
Template parameter {"bridge": true} turns bridge mode on at start.

Where real bluetoothd 5.66 behaves otherwise than dbusmock's template, this double follows
bluetoothd (checked against it by tests/vm/radio_transcript.py, CTest vm.bluez.double_matches_real):
  - Adapter1 has Roles ["central", "peripheral"];
  - a registered advert takes an instance: ActiveInstances counts up and SupportedInstances (the
    free ones) down; with none free RegisterAdvertisement fails with NotPermitted "Maximum
    advertisements reached"; an advert whose client leaves the bus is dropped;
  - in bridge mode an advert registered on one adapter is seen by the *other* adapters (a
    controller does not receive its own adverts; with a single adapter it is shown there, standing
    for a second controller on the air); its Device1 has ServicesResolved false;
    ServiceData's PropertiesChanged comes when the bytes change (rotation), not again for the same
    bytes (bluetoothd 5.66 on btvirt's air does not repeat it either).
'''

import time

import dbus
import dbus.service

from dbusmock import mockobject
from dbusmock.templates.bluez5 import *  # noqa: F401,F403  (re-export the bluez5 template)
from dbusmock.templates import bluez5 as _bluez5

LEADV_MGR_IFACE = 'org.bluez.LEAdvertisingManager1'
LEADV_IFACE = 'org.bluez.LEAdvertisement1'
_MOCK = 'org.bluez.Mock'
_DEVICE = 'org.bluez.Device1'
_OM = 'org.freedesktop.DBus.ObjectManager'


def _root():
    return mockobject.objects['/']


def load(mock, parameters):
    _bluez5.load(mock, parameters)
    mock.hg_adverts = {}      # (sender, path) -> {'adapter': path, 'props': dict, 'devices': [Device1 paths]}
    mock.hg_bridge = bool(parameters.get('bridge', False)) if parameters else False
    mock.hg_next_device = 1
    mock.hg_errors = {}       # (path, iface, method) -> (name, message)
    # Follow PropertiesChanged of registered advertisement objects (rotation).
    mock.connection.add_signal_receiver(
        _on_advert_properties_changed, signal_name='PropertiesChanged',
        dbus_interface=dbus.PROPERTIES_IFACE, sender_keyword='sender', path_keyword='path')
    # Like bluetoothd: an advertising client that leaves the bus loses its adverts.
    mock.connection.add_signal_receiver(
        _on_name_owner_changed, signal_name='NameOwnerChanged', dbus_interface='org.freedesktop.DBus',
        bus_name='org.freedesktop.DBus')


@dbus.service.method(_MOCK, in_signature='ss', out_signature='s')
def AddAdapter(self, device_name, system_name):
    path = _bluez5.AddAdapter(self, device_name, system_name)
    adapter = mockobject.objects[path]
    adapter.props['org.bluez.Adapter1']['Roles'] = dbus.Array(['central', 'peripheral'], signature='s')
    return path


def _on_name_owner_changed(name, old, new):
    root = _root()
    if new or not name.startswith(':'):
        return
    for key in [k for k in root.hg_adverts if k[0] == name]:
        _drop_advert(key)


def _drop_advert(key):
    root = _root()
    entry = root.hg_adverts.pop(key, None)
    if entry is None:
        return None
    for dev in entry.get('devices', []):
        _remove_device(dev)
    _count_instances(entry['adapter'], -1)
    root.log('advert dropped %s %s' % key)
    return entry


def _count_instances(adapter_path, delta):
    adapter = mockobject.objects[adapter_path]
    props = adapter.props[LEADV_MGR_IFACE]
    active = int(props['ActiveInstances']) + delta
    free = int(props['SupportedInstances']) - delta
    adapter.UpdateProperties(LEADV_MGR_IFACE, {'ActiveInstances': dbus.Byte(max(active, 0)),
                                               'SupportedInstances': dbus.Byte(max(free, 0))})




def _log_call(obj, name, args):
    obj.log(name + ' ' + repr(args))
    obj.call_log.append((int(time.time()), str(name), args))


def _error_for(path, iface, method):
    return _root().hg_errors.get((str(path), iface, method))


def _cable_props(adapter_path, address, uuid, data):
    return {
        'Address': dbus.String(address),
        'AddressType': dbus.String('random'),
        'Alias': dbus.String(address.replace(':', '-')),
        'Adapter': dbus.ObjectPath(adapter_path),
        'Paired': dbus.Boolean(False),
        'Connected': dbus.Boolean(False),
        'Trusted': dbus.Boolean(False),
        'Blocked': dbus.Boolean(False),
        'LegacyPairing': dbus.Boolean(False),
        'RSSI': dbus.Int16(-50),
        'UUIDs': dbus.Array([], signature='s'),
        'ServicesResolved': dbus.Boolean(False),
        'ServiceData': dbus.Dictionary({dbus.String(uuid): dbus.Array([dbus.Byte(b) for b in data], signature='y')},
                                       signature='sv'),
    }


def _add_cable_device(adapter_path, address, uuid, data):
    root = _root()
    path = adapter_path + '/dev_' + address.replace(':', '_')
    props = _cable_props(adapter_path, address, uuid, data)
    root.AddObject(path, _DEVICE, props, [
        ('Connect', '', '', ''), ('Disconnect', '', '', ''), ('Pair', '', '', ''),
    ])
    root.EmitSignal(_OM, 'InterfacesAdded', 'oa{sa{sv}}', [dbus.ObjectPath(path), {_DEVICE: props}])
    return path


def _set_device_service_data(path, uuid, data):
    dev = mockobject.objects[path]
    value = dbus.Dictionary({dbus.String(uuid): dbus.Array([dbus.Byte(b) for b in data], signature='y')},
                            signature='sv')
    dev.props[_DEVICE]['ServiceData'] = value
    dev.EmitSignal(dbus.PROPERTIES_IFACE, 'PropertiesChanged', 'sa{sv}as',
                   [_DEVICE, {'ServiceData': value}, dbus.Array([], signature='s')])


def _remove_device(path):
    root = _root()
    if path in mockobject.objects:
        root.RemoveObject(path)
        root.EmitSignal(_OM, 'InterfacesRemoved', 'oas', [dbus.ObjectPath(path), [_DEVICE]])


def _service_data_of(props):
    sd = props.get('ServiceData', {})
    for uuid, value in sd.items():
        return str(uuid), bytes(bytearray(value))
    return None, None


def _bridge_publish(key):
    root = _root()
    entry = root.hg_adverts.get(key)
    if not entry or not root.hg_bridge:
        return
    uuid, data = _service_data_of(entry['props'])
    if uuid is None:
        return
    if entry.get('devices'):
        for dev in entry['devices']:
            if dev in mockobject.objects:
                _set_device_service_data(dev, uuid, data)
        return
    n = root.hg_next_device
    root.hg_next_device += 1
    address = 'C0:FF:EE:%02X:%02X:%02X' % ((n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
    adapters = sorted(p for p, o in mockobject.objects.items()
                      if p.count('/') == 3 and 'org.bluez.Adapter1' in o.props)
    receivers = [a for a in adapters if a != entry['adapter']] or [entry['adapter']]
    entry['devices'] = [_add_cable_device(a, address, uuid, data) for a in receivers]


def _on_advert_properties_changed(interface, changed, invalidated, sender=None, path=None):
    root = _root()
    key = (str(sender), str(path))
    if interface != LEADV_IFACE or key not in root.hg_adverts:
        return
    entry = root.hg_adverts[key]
    for name, value in changed.items():
        entry['props'][str(name)] = value
    root.log('advert %s %s changed %s' % (sender, path, sorted(str(k) for k in changed.keys())))
    if 'ServiceData' in invalidated:
        # Re-read it like bluetoothd would.
        obj = root.connection.get_object(sender, path, introspect=False)
        obj.GetAll(LEADV_IFACE, dbus_interface=dbus.PROPERTIES_IFACE,
                   reply_handler=lambda props: (entry['props'].update(props), _bridge_publish(key)),
                   error_handler=lambda e: root.log('re-read failed: %s' % e))
        return
    _bridge_publish(key)


def _make_manager_methods(adapter_path):
    @dbus.service.method(LEADV_MGR_IFACE, in_signature='oa{sv}', out_signature='',
                         sender_keyword='sender', async_callbacks=('ok', 'err'))
    def RegisterAdvertisement(self, adv_path, options, sender=None, ok=None, err=None):
        _log_call(self, 'RegisterAdvertisement', [adv_path, options])
        root = _root()
        fault = _error_for(adapter_path, LEADV_MGR_IFACE, 'RegisterAdvertisement')
        if fault:
            err(dbus.exceptions.DBusException(fault[1], name=fault[0]))
            return
        key = (str(sender), str(adv_path))
        if key in root.hg_adverts:
            err(dbus.exceptions.DBusException('Already Exists', name='org.bluez.Error.AlreadyExists'))
            return
        if int(mockobject.objects[adapter_path].props[LEADV_MGR_IFACE]['SupportedInstances']) == 0:
            err(dbus.exceptions.DBusException('Maximum advertisements reached', name='org.bluez.Error.NotPermitted'))
            return
        obj = self.connection.get_object(sender, adv_path, introspect=False)

        def got(props):
            if 'Type' not in props:
                err(dbus.exceptions.DBusException('Failed to parse advertisement.',
                                                  name='org.bluez.Error.InvalidArguments'))
                return
            root.hg_adverts[key] = {'adapter': adapter_path, 'props': dict(props), 'devices': []}
            _count_instances(adapter_path, +1)
            root.log('advert registered %s %s' % key)
            _bridge_publish(key)
            ok()

        def failed(e):
            err(dbus.exceptions.DBusException('Failed to read advertisement: %s' % e, name='org.bluez.Error.Failed'))

        # Like bluetoothd: read the object before replying.
        obj.GetAll(LEADV_IFACE, dbus_interface=dbus.PROPERTIES_IFACE, reply_handler=got, error_handler=failed,
                   timeout=5)

    @dbus.service.method(LEADV_MGR_IFACE, in_signature='o', out_signature='', sender_keyword='sender')
    def UnregisterAdvertisement(self, adv_path, sender=None):
        _log_call(self, 'UnregisterAdvertisement', [adv_path])
        root = _root()
        key = (str(sender), str(adv_path))
        if _drop_advert(key) is None:
            raise dbus.exceptions.DBusException('Does Not Exist', name='org.bluez.Error.DoesNotExist')

    return RegisterAdvertisement, UnregisterAdvertisement


@dbus.service.method(_MOCK, in_signature='sy', out_signature='')
def AddAdvertisingManager(self, adapter_name, supported):
    path = '/org/bluez/' + adapter_name
    adapter = mockobject.objects[path]
    adapter.AddProperties(LEADV_MGR_IFACE, {
        'ActiveInstances': dbus.Byte(0),
        'SupportedInstances': dbus.Byte(supported),
        'SupportedIncludes': dbus.Array(['tx-power', 'appearance', 'local-name'], signature='s'),
    })
    register, unregister = _make_manager_methods(path)
    methods = adapter.methods.setdefault(LEADV_MGR_IFACE, {})
    methods['RegisterAdvertisement'] = ('oa{sv}', '', '', register)
    methods['UnregisterAdvertisement'] = ('o', '', '', unregister)


@dbus.service.method(_MOCK, in_signature='', out_signature='a(soa{sv})')
def GetAdvertisements(self):
    out = []
    for (sender, path), entry in sorted(self.hg_adverts.items()):
        out.append((dbus.String(sender), dbus.ObjectPath(path), dbus.Dictionary(entry['props'], signature='sv')))
    return dbus.Array(out, signature='(soa{sv})')


@dbus.service.method(_MOCK, in_signature='', out_signature='')
def ReleaseAdvertisements(self):
    for (sender, path) in list(self.hg_adverts):
        obj = self.connection.get_object(sender, path, introspect=False)
        obj.Release(dbus_interface=LEADV_IFACE, reply_handler=lambda: None,
                    error_handler=lambda e: None)
        _drop_advert((sender, path))


@dbus.service.method(_MOCK, in_signature='b', out_signature='')
def SetBridge(self, enabled):
    self.hg_bridge = bool(enabled)


@dbus.service.method(_MOCK, in_signature='sssss', out_signature='')
def SetMethodError(self, path, interface, method, error_name, message):
    obj = mockobject.objects[path]
    key = (str(path), str(interface), str(method))
    entry = obj.methods.get(interface, {}).get(method)
    if error_name:
        self.hg_errors[key] = (str(error_name), str(message))
        if entry and not key[1] == LEADV_MGR_IFACE:
            saved = getattr(obj, 'hg_saved_code', {})
            saved.setdefault(key, entry[2])
            obj.hg_saved_code = saved

            def failing(_self, *args, _name=str(error_name), _message=str(message)):
                raise dbus.exceptions.DBusException(_message, name=_name)
            obj.methods[interface][method] = (entry[0], entry[1], failing, entry[3])
    else:
        self.hg_errors.pop(key, None)
        saved = getattr(obj, 'hg_saved_code', {})
        if entry and key in saved:
            obj.methods[interface][method] = (entry[0], entry[1], saved.pop(key), entry[3])


@dbus.service.method(_MOCK, in_signature='sssay', out_signature='o')
def AddCableDevice(self, adapter_name, address, uuid, data):
    return dbus.ObjectPath(_add_cable_device('/org/bluez/' + adapter_name, str(address), str(uuid), bytes(data)))
