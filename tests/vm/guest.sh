# SPDX-License-Identifier: Apache-2.0
# Sourced by the guest's job (tests/vm/vmrun.py writes it): the platform pieces a test asks for,
# each started for real and waited for on an observable condition with a deadline.
#   hg_vm_bluetooth   hci_vhci + btvirt -l2 (hci0, hci1 on one emulated air), a system D-Bus,
#                     bluetoothd 5.66, both controllers powered
#   hg_vm_uhid        uhid + hid-generic (/dev/uhid; /dev/hidraw* appear per device)
# Everything prints "hg-vm: …" lines; a piece that cannot start ends the job with a sentence.

hg_vm_die() {
  echo "hg-vm: FAIL: $*"
  echo 97 >"$HG_VM_SHARE/rc.tmp" && mv "$HG_VM_SHARE/rc.tmp" "$HG_VM_SHARE/rc"
  exit 97
}

hg_vm_bus() {  # dbus-send on the system bus with a reply: hg_vm_bus DEST PATH METHOD ARGS…
  dbus-send --system --print-reply --reply-timeout=5000 --dest="$1" "$2" "${@:3}"
}

hg_vm_wait() {  # SECONDS WHAT COMMAND… : runs COMMAND (each try bounded) every 50 ms until it succeeds
  local limit=$1 what=$2 end=$((SECONDS + $1))
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || hg_vm_die "$what did not happen within ${limit}s"
    sleep 0.05
  done
}

hg_vm_base() {
  ip link set lo up || hg_vm_die "cannot bring up the loopback interface"
  mkdir -p "$HOME" "$TMPDIR" "$XDG_RUNTIME_DIR"
  chmod 0700 "$XDG_RUNTIME_DIR"
}

hg_vm_system_bus() {
  [ -S /run/dbus/system_bus_socket ] && return 0
  mkdir -p /run/dbus
  dbus-daemon --system --fork --nopidfile || hg_vm_die "the system D-Bus daemon did not start"
  hg_vm_wait 20 "the system bus socket" test -S /run/dbus/system_bus_socket
}

# Starts bluetoothd (again, after a test stopped it); its PID in HG_VM_BLUETOOTHD.
hg_vm_start_bluetoothd() {
  /usr/libexec/bluetooth/bluetoothd -n -E >>"$HG_VM_SHARE/bluetoothd.log" 2>&1 &
  HG_VM_BLUETOOTHD=$!
  export HG_VM_BLUETOOTHD
  hg_vm_wait 30 "bluetoothd on the system bus" \
    hg_vm_bus org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.GetNameOwner string:org.bluez
}

hg_vm_bluetooth() {
  mount -t debugfs none /sys/kernel/debug 2>/dev/null
  # Without the AF_ALG modules btvirt fails with "Failed to open Virtual HCI device".
  modprobe -a bluetooth hci_vhci algif_hash algif_skcipher cmac ecb aes_generic \
    || hg_vm_die "the kernel's Bluetooth modules did not load"
  mount -t tmpfs -o mode=755 tmpfs /var/lib/bluetooth || hg_vm_die "cannot make /var/lib/bluetooth writable"
  btvirt -l2 >"$HG_VM_SHARE/btvirt.log" 2>&1 &
  HG_VM_BTVIRT=$!
  export HG_VM_BTVIRT
  hg_vm_wait 20 "the virtual controllers hci0 and hci1" test -e /sys/class/bluetooth/hci1
  hg_vm_system_bus
  hg_vm_start_bluetoothd
  hg_vm_power_on 0
  hg_vm_power_on 1
  echo "hg-vm: bluetooth: hci0, hci1 powered (btvirt pid $HG_VM_BTVIRT, bluetoothd pid $HG_VM_BLUETOOTHD)"
}

hg_vm_power_on() {  # INDEX
  local p=/org/bluez/hci$1 props=org.freedesktop.DBus.Properties
  hg_vm_wait 20 "hci$1 on org.bluez" hg_vm_bus org.bluez "$p" $props.Get string:org.bluez.Adapter1 string:Address
  hg_vm_bus org.bluez "$p" $props.Set string:org.bluez.Adapter1 string:Powered variant:boolean:true >/dev/null \
    || hg_vm_die "cannot power on hci$1"
  hg_vm_wait 20 "hci$1 powered" hg_vm_powered "$1"
}

hg_vm_powered() {  # INDEX: succeeds when the adapter says Powered = true
  hg_vm_bus org.bluez "/org/bluez/hci$1" org.freedesktop.DBus.Properties.Get string:org.bluez.Adapter1 \
    string:Powered | grep -q "boolean true"
}

hg_vm_uhid() {
  modprobe -a uhid hid-generic || hg_vm_die "the kernel's uhid and hid-generic modules did not load"
  hg_vm_wait 10 "/dev/uhid" test -c /dev/uhid
  echo "hg-vm: uhid: /dev/uhid ready"
}
