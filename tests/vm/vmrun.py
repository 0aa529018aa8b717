#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Runs one test inside Debian's own kernel under QEMU (TCG): real Bluetooth (hci_vhci + btvirt,
bluetoothd), real /dev/uhid and /dev/hidraw, as root, with this machine's / mounted read-only
over 9p so the build tree's binaries run in place.

    vmrun.py --build-dir B --source-dir S --name NAME [--setup bluetooth,uhid] [--timeout 300]
             -- COMMAND ARGS…

COMMAND runs inside the guest (a path of this machine: /usr/bin/python3 tests/vm/test_x.py …)
with the environment
    HG_SRC, HG_BUILD, HG_BIN   the source tree, the build tree, its bin/ folder
    HG_VM_SHARE                a writable per-test folder, kept on the host in B/vm/NAME/
    HOME, TMPDIR, XDG_RUNTIME_DIR  writable folders inside the guest
The guest's console is printed as it comes; the test's exit status is the runner's. Where the
guest cannot run (no QEMU, no kernel, no modules) the runner fails with a sentence saying why:
it never skips.

The initramfs (busybox-static and the kernel's virtio + 9p modules) is built once per build tree,
under a lock, into B/vm/initrd-KERNEL.gz.
"""

import argparse
import fcntl
import glob
import gzip
import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
           "netfs", "fscache", "9pnet", "9pnet_virtio", "9p"]
TERMINAL_CODES = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|c)")  # SeaBIOS clears the serial "screen"
PACKAGES = "qemu-system-x86 linux-image-amd64 busybox-static bluez bluez-test-tools (tests/vm/setup.sh)"


def fail(sentence):
    print("FAIL: %s" % sentence, flush=True)
    sys.exit(1)


def find_kernel():
    """The newest Debian kernel in /boot whose modules are installed."""
    candidates = []
    for path in glob.glob("/boot/vmlinuz-*"):
        release = os.path.basename(path)[len("vmlinuz-"):]
        if os.path.isdir("/lib/modules/%s/kernel" % release):
            candidates.append((os.path.getmtime(path), release, path))
    if not candidates:
        fail("no Debian kernel with its modules in /boot and /lib/modules: install linux-image-amd64 "
             "(tests/vm/setup.sh installs %s)" % PACKAGES)
    candidates.sort()
    return candidates[-1][1], candidates[-1][2]


def cpio_newc(entries):
    """A cpio (newc) archive of (name, mode, data) entries, as the kernel's initramfs unpacker reads."""
    out = io.BytesIO()
    ino = 1
    for name, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        nameb = name.encode() + b"\0"
        header = "070701" + "".join("%08x" % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nameb), 0))
        out.write(header.encode() + nameb)
        out.write(b"\0" * ((4 - (110 + len(nameb)) % 4) % 4))
        out.write(data)
        out.write(b"\0" * ((4 - len(data) % 4) % 4))
        ino += 1
    return out.getvalue()


def build_initramfs(release, path):
    busybox = "/bin/busybox"
    if not os.path.exists(busybox) or not _is_static(busybox):
        fail("busybox-static is not installed (%s is missing or dynamically linked): run tests/vm/setup.sh" % busybox)
    entries = [(d, 0o040755, b"") for d in ("bin", "dev", "proc", "sys", "modules", "newroot")]
    entries.append(("bin/busybox", 0o100755, open(busybox, "rb").read()))
    with open(os.path.join(HERE, "init"), "rb") as f:
        entries.append(("init", 0o100755, f.read()))
    for m in MODULES:
        found = glob.glob("/lib/modules/%s/kernel/**/%s.ko*" % (release, m), recursive=True)
        if not found:
            fail("the kernel module %s.ko of %s is missing: reinstall linux-image-amd64" % (m, release))
        data = open(found[0], "rb").read()
        if found[0].endswith(".xz"):
            import lzma
            data = lzma.decompress(data)
        entries.append(("modules/%s.ko" % m, 0o100644, data))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(gzip.compress(cpio_newc(entries), 6))
    os.replace(tmp, path)


def _is_static(path):
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    return r.returncode != 0 or "not a dynamic executable" in (r.stdout + r.stderr)


def initramfs(build_dir, release):
    vm_dir = os.path.join(build_dir, "vm")
    os.makedirs(vm_dir, exist_ok=True)
    path = os.path.join(vm_dir, "initrd-%s.gz" % release)
    init_mtime = os.path.getmtime(os.path.join(HERE, "init"))
    with open(os.path.join(vm_dir, "initrd.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path) or os.path.getmtime(path) < init_mtime:
            build_initramfs(release, path)
    return path


def hidden_by_guest(path):
    """Paths the guest covers with its own tmpfs: they are exported separately."""
    return any(path == p or path.startswith(p + "/") for p in ("/tmp", "/run", "/dev", "/proc", "/sys"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--setup", default="", help="comma-separated: bluetooth, uhid")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--memory", default="1536")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not command:
        ap.error("no command to run in the guest")
    build_dir = os.path.realpath(a.build_dir)
    source_dir = os.path.realpath(a.source_dir)
    setups = [s for s in a.setup.split(",") if s]
    for s in setups:
        if s not in ("bluetooth", "uhid"):
            ap.error("unknown --setup %r (bluetooth, uhid)" % s)

    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        fail("qemu-system-x86_64 is not installed: run tests/vm/setup.sh (it installs %s)" % PACKAGES)
    release, kernel = find_kernel()
    if not os.access(kernel, os.R_OK):
        fail("cannot read the kernel %s (Debian installs it readable by root only): run the VM tests as root" % kernel)
    initrd = initramfs(build_dir, release)

    share = os.path.join(build_dir, "vm", a.name)
    shutil.rmtree(share, ignore_errors=True)
    os.makedirs(share)
    mounts = []
    for i, p in enumerate(sorted({source_dir, build_dir})):
        if hidden_by_guest(p):
            mounts.append(("x%d" % i, p))
    with open(os.path.join(share, "mounts"), "w") as f:
        for tag, p in mounts:
            f.write("%s %s\n" % (tag, p))
    guest_share = "/run/hg-vm/share"
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HG_SRC": source_dir, "HG_BUILD": build_dir, "HG_BIN": os.path.join(build_dir, "bin"),
        "HG_VM_SHARE": guest_share, "HG_VM_NAME": a.name,
        "HOME": "/run/hg-vm/home", "TMPDIR": "/tmp", "XDG_RUNTIME_DIR": "/run/user/0",
        "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
    }
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "HG_VM_TRACE"):
        if k in os.environ:
            env[k] = os.environ[k]
    lines = ["set -u", '[ -z "${HG_VM_TRACE:-}" ] || set -x']
    lines[1:1] = ["export %s=%s" % (k, shlex.quote(v)) for k, v in sorted(env.items())]
    lines += [". %s" % shlex.quote(os.path.join(source_dir, "tests", "vm", "guest.sh")),
              "hg_vm_base", 'echo "hg-vm: guest up: $(uname -r), $(nproc) cpu"']
    lines += ["hg_vm_%s" % s for s in setups]
    lines += ["cd %s" % shlex.quote(source_dir),
              " ".join(shlex.quote(c) for c in command) + ' 2>&1 | tee "$HG_VM_SHARE/test.log"',
              "rc=${PIPESTATUS[0]}",
              'echo "$rc" > "$HG_VM_SHARE/rc.tmp" && mv "$HG_VM_SHARE/rc.tmp" "$HG_VM_SHARE/rc"',
              'echo "hg-vm: test exited with $rc"']
    with open(os.path.join(share, "job.sh"), "w") as f:
        f.write("\n".join(lines) + "\n")

    argv = [qemu, "-machine", "accel=tcg", "-m", a.memory, "-smp", "1", "-nographic", "-no-reboot",
            "-nodefaults", "-serial", "stdio", "-monitor", "none",
            "-kernel", kernel, "-initrd", initrd,
            "-append", "console=ttyS0 panic=-1 loglevel=3 quiet",
            "-fsdev", "local,id=r,path=/,security_model=none,readonly=on,multidevs=remap",
            "-device", "virtio-9p-pci,fsdev=r,mount_tag=hostroot",
            "-fsdev", "local,id=s,path=%s,security_model=none,multidevs=remap" % share,
            "-device", "virtio-9p-pci,fsdev=s,mount_tag=share"]
    for tag, p in mounts:
        argv += ["-fsdev", "local,id=%s,path=%s,security_model=none,readonly=on,multidevs=remap" % (tag, p),
                 "-device", "virtio-9p-pci,fsdev=%s,mount_tag=%s" % (tag, tag)]
    start = time.monotonic()
    print("hg-vm: booting %s under QEMU (TCG) for %s" % (release, a.name), flush=True)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    timed_out = False
    # The console is read on this thread; a timer ends QEMU at the deadline.
    import threading

    def on_deadline():
        nonlocal timed_out
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    timer = threading.Timer(a.timeout, on_deadline)
    timer.start()
    try:
        for raw in proc.stdout:
            sys.stdout.write(TERMINAL_CODES.sub("", raw.decode("utf-8", "replace")).replace("\r", ""))
            sys.stdout.flush()
        proc.wait()
    finally:
        timer.cancel()
    elapsed = time.monotonic() - start
    rc_path = os.path.join(share, "rc")
    if timed_out:
        fail("the guest did not finish within %.0fs (console above; files in %s)" % (a.timeout, share))
    if not os.path.exists(rc_path):
        fail("the guest powered off without a test result (QEMU exit %d; console above): the kernel, the "
             "initramfs or the 9p mounts failed" % proc.returncode)
    rc = int(open(rc_path).read().strip() or "1")
    print("hg-vm: %s finished in %.1fs with exit status %d" % (a.name, elapsed, rc), flush=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
