#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The same extension and native host in Debian's chromium (headless, driven over the DevTools
protocol, cdp.py): the browser component installed with `cmake --install --component browser`,
the Chromium zip unpacked and loaded (--load-extension; its key gives the ID the installed
Chromium host manifest allows), that manifest placed in the profile's NativeMessagingHosts; a
page on http://localhost:PORT calls create() then get(); the phone is chosen in the extension's
window; `hybridgate phone` answers through our relay on the loopback radio; python3-fido2 verifies.

usage: test_chromium.py BIN_DIR BUILD_DIR"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from hgtest import Relay, TestFailure, Workdir, check, phone, run_tests, verify, wait_for  # noqa: E402
from cdp import Cdp, CdpError, Chromium  # noqa: E402
from webpage import CLICK, QR_SHOWN, TEXT_OF, PageServer, b64, check_public_key, check_shape, creation_options  # noqa: E402

BIN, BUILD = sys.argv[1], sys.argv[2]
RP = "localhost"


async def dialog(cdp, timeout=30):
    """The extension's dialog page target (polled from the target list, with a deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        for t in await cdp.targets():
            if t["type"] == "page" and t["url"].startswith("chrome-extension://") and "/dialog.html?" in t["url"]:
                return t["targetId"]
        if time.monotonic() > deadline:
            raise TestFailure("no dialog window")
        await asyncio.sleep(0.05)  # poll interval of a bounded wait (as wait_for)


async def loaded(cdp, session, path, timeout=30):
    """Waits until the session's document is `path`, loaded (the target may still show its initial
    about:blank document, whose context goes away when the real one commits)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await cdp.call(session, "p => location.pathname === p && document.readyState === 'complete'", path):
                return
        except CdpError:  # the initial document's context went away
            pass
        check(time.monotonic() < deadline, "%s did not load" % path)
        await asyncio.sleep(0.05)  # poll interval of a bounded wait (as wait_for)


async def closed(cdp, target_id, timeout=20):
    deadline = time.monotonic() + timeout
    while any(t["targetId"] == target_id for t in await cdp.targets()):
        if time.monotonic() > deadline:
            raise TestFailure("the dialog is still open")
        await asyncio.sleep(0.05)


async def ceremony(cdp, page, wd, relay, server, store, qr_file, kind, options):
    if os.path.exists(qr_file):
        os.unlink(qr_file)
    fn = "o => window.hgCreate(o)" if kind == "create" else "o => window.hgGet(o)"
    call = asyncio.create_task(cdp.call(page, fn, options, timeout=150))
    try:
        target = await dialog(cdp)
        dlg = await cdp.attach(target)
        await loaded(cdp, dlg, "/dialog.html")
        await cdp.call(dlg, CLICK, "#hybrid", 20000)
        check(await cdp.call(dlg, TEXT_OF, "#site") == server.origin, "the dialog names another origin")
        url = await asyncio.to_thread(wait_for, lambda: os.path.exists(qr_file) and open(qr_file).read().strip(), 30,
                                      "the host's QR URL file")
        await cdp.call(dlg, QR_SHOWN, 20000)
        p = phone(BIN, wd, url, relay.url, store, "--yes", name="phone-" + kind)
        result = json.loads(await call)
        check(await asyncio.to_thread(p.wait, 60) == 0, "phone failed:\n" + p.stderr())
        await closed(cdp, target)
    finally:
        call.cancel()
    check_shape(result, kind)
    return result


def test_register_then_sign_in():
    async def main():
        wd = Workdir("chromium")
        relay = Relay(BIN, wd)
        server = PageServer()
        chromium = None
        cdp = None
        failed = True
        try:
            prefix = wd.file("prefix")
            r = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix, "--component", "browser"],
                               capture_output=True, text=True)
            check(r.returncode == 0, "cmake --install failed:\n" + r.stdout + r.stderr)
            ext = wd.file("extension")
            with zipfile.ZipFile(os.path.join(prefix, "share", "hybridgate", "browser", "hybridgate-chromium.zip")) as z:
                z.extractall(ext)
            home = wd.file("home")
            env = dict(wd.env)
            for k in ("HYBRIDGATE_PHONE", "HYBRIDGATE_CONFIG", "HYBRIDGATE_CA_FILE", "DISPLAY", "WAYLAND_DISPLAY"):
                env.pop(k, None)
            qr_file, host_log = wd.file("qr.txt"), wd.file("host.log")
            env.update({"HOME": home, "XDG_CONFIG_HOME": os.path.join(home, ".config"),
                        "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
                        "XDG_CACHE_HOME": os.path.join(home, ".cache"),
                        "HYBRIDGATE_TUNNEL_URL": relay.url, "HYBRIDGATE_RADIO": "loopback",
                        "HYBRIDGATE_QR_URL_FILE": qr_file, "HYBRIDGATE_NATIVE_HOST_LOG": host_log})
            chromium = Chromium(wd.path, env, ext)
            # Chromium with --user-data-dir reads per-user host manifests from DIR/NativeMessagingHosts.
            hosts = os.path.join(chromium.udd, "NativeMessagingHosts")
            os.makedirs(hosts, exist_ok=True)
            shutil.copy(os.path.join(prefix, "etc", "chromium", "native-messaging-hosts", "hybridgate.json"), hosts)
            cdp = await Cdp.connect(chromium.devtools_url())
            page_target = (await cdp.cmd("Target.createTarget", {"url": server.origin + "/index.html"}))["targetId"]
            page = await cdp.attach(page_target)
            await cdp.cmd("Runtime.enable", session=page)
            # The page has loaded when its script's function exists (bounded wait).
            await loaded(cdp, page, "/index.html")
            store = wd.file("store.json")
            challenge = b64(os.urandom(32))
            reg = await ceremony(cdp, page, wd, relay, server, store, qr_file, "create", creation_options(challenge))
            check_public_key(reg)
            rc, stored, err = verify("register", reg["fromBuffers"], rp_id=RP, origin=server.origin, challenge=challenge)
            check(rc == 0, "the verifier rejected the registration: " + err)
            challenge = b64(os.urandom(32))
            asr = await ceremony(cdp, page, wd, relay, server, store, qr_file, "get", {"challenge": challenge})
            with open(wd.file("stored.json"), "w") as f:
                json.dump(stored, f)
            rc, _, err = verify("authenticate", asr["fromBuffers"], rp_id=RP, origin=server.origin, challenge=challenge,
                                stored=wd.file("stored.json"), prev_sign_count=stored["sign_count"])
            check(rc == 0, "the verifier rejected the assertion: " + err)
            failed = False
        finally:
            if cdp:
                await cdp.close()
            if chromium:
                chromium.stop()
            server.stop()
            relay.stop()
            if failed:
                for f in ("host.log", "chromium.log"):
                    if os.path.exists(wd.file(f)):
                        print("--- %s\n%s" % (f, open(wd.file(f)).read()[-4000:]))
            wd.cleanup()
    asyncio.run(main())


if __name__ == "__main__":
    run_tests([test_register_then_sign_in])
