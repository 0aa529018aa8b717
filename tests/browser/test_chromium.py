#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The same extension and native host in Debian's chromium (headless, driven over the DevTools
protocol, cdp.py): the browser component installed with `cmake --install --component browser`,
the Chromium zip unpacked and loaded (--load-extension; its key gives the ID the installed
Chromium host manifest allows), that manifest placed in the profile's NativeMessagingHosts; a
page on http://localhost:PORT calls create() then get(); the phone is chosen in the extension's
window; `hybridgate phone` answers through our relay on the loopback radio; python3-fido2 verifies.

usage: test_chromium.py BIN_DIR BUILD_DIR [TEST_NAME]"""

import asyncio
import base64
import functools
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


async def dialogs(cdp):
    """The extension's dialog frames (out-of-process iframes of chrome-extension://…/dialog.html)."""
    return [t for t in await cdp.targets()
            if t["type"] == "iframe" and t["url"].startswith("chrome-extension://") and "/dialog.html#" in t["url"]]


async def dialog(cdp, timeout=30, seen=()):
    """The extension's dialog frame over the page (polled from the target list, with a deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        for t in await dialogs(cdp):
            if t["targetId"] not in seen:
                return t["targetId"]
        if time.monotonic() > deadline:
            raise TestFailure("no dialog over the page")
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


class Harness:
    """One Chromium with the installed extension (and, unless host_installed is False, its host
    manifest), the test relay, the page server, a page target on http://localhost:PORT."""

    def __init__(self, name, host_installed=True, **extra_env):
        self.wd = Workdir("chromium-" + name)
        self.relay = Relay(BIN, self.wd)
        self.server = PageServer()
        self.chromium = None
        self.cdp = None
        self.host_installed = host_installed
        self.extra_env = extra_env
        self.qr_file, self.host_log = self.wd.file("qr.txt"), self.wd.file("host.log")
        self.store = self.wd.file("store.json")
        self.seen = set()

    async def start(self):
        prefix = self.wd.file("prefix")
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix, "--component", "browser"],
                           capture_output=True, text=True)
        check(r.returncode == 0, "cmake --install failed:\n" + r.stdout + r.stderr)
        ext = self.wd.file("extension")
        with zipfile.ZipFile(os.path.join(prefix, "share", "hybridgate", "browser", "hybridgate-chromium.zip")) as z:
            z.extractall(ext)
        home = self.wd.file("home")
        env = dict(self.wd.env)
        for k in ("HYBRIDGATE_PHONE", "HYBRIDGATE_CONFIG", "HYBRIDGATE_CA_FILE", "DISPLAY", "WAYLAND_DISPLAY"):
            env.pop(k, None)
        env.update({"HOME": home, "XDG_CONFIG_HOME": os.path.join(home, ".config"),
                    "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
                    "XDG_CACHE_HOME": os.path.join(home, ".cache"),
                    "HYBRIDGATE_TUNNEL_URL": self.relay.url, "HYBRIDGATE_RADIO": "loopback",
                    "HYBRIDGATE_QR_URL_FILE": self.qr_file, "HYBRIDGATE_NATIVE_HOST_LOG": self.host_log})
        env.update(self.extra_env)
        self.ext = ext
        self.chromium = Chromium(self.wd.path, env, ext)
        if self.host_installed:
            # Chromium with --user-data-dir reads per-user host manifests from DIR/NativeMessagingHosts.
            hosts = os.path.join(self.chromium.udd, "NativeMessagingHosts")
            os.makedirs(hosts, exist_ok=True)
            shutil.copy(os.path.join(prefix, "etc", "chromium", "native-messaging-hosts", "hybridgate.json"), hosts)
        self.cdp = await Cdp.connect(self.chromium.devtools_url())
        self.page_target, self.page = await self.open_page()

    async def open_page(self):
        target = (await self.cdp.cmd("Target.createTarget", {"url": self.server.origin + "/index.html"}))["targetId"]
        page = await self.cdp.attach(target)
        await self.cdp.cmd("Runtime.enable", session=page)
        await loaded(self.cdp, page, "/index.html")  # the page has loaded (bounded wait)
        return target, page

    async def dialog(self):
        """The next dialog frame, attached and loaded: its session."""
        target = await dialog(self.cdp, seen=self.seen)
        self.seen.add(target)
        self.dialog_target = target
        session = await self.cdp.attach(target)
        await loaded(self.cdp, session, "/dialog.html")
        return session

    async def closed(self, target=None):
        await closed(self.cdp, target or self.dialog_target)

    async def virtual_authenticator(self):
        """Chromium's DevTools WebAuthn domain: a virtual CTAP2 USB authenticator that consents."""
        await self.cdp.cmd("WebAuthn.enable", {"enableUI": False}, session=self.page)
        r = await self.cdp.cmd("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "usb", "hasResidentKey": True, "hasUserVerification": True,
            "isUserVerified": True, "automaticPresenceSimulation": True}}, session=self.page)
        self.authenticator = r["authenticatorId"]

    async def virtual_credentials(self):
        r = await self.cdp.cmd("WebAuthn.getCredentials", {"authenticatorId": self.authenticator}, session=self.page)
        return r["credentials"]

    async def stop(self, failed):
        if self.cdp:
            await self.cdp.close()
        if self.chromium:
            self.chromium.stop()
        self.server.stop()
        self.relay.stop()
        if failed:
            for f in ("host.log", "chromium.log"):
                if os.path.exists(self.wd.file(f)):
                    print("--- %s\n%s" % (f, open(self.wd.file(f)).read()[-4000:]))
        self.wd.cleanup()


def harnessed(fn=None, **options):
    if fn is None:
        return lambda f: harnessed(f, **options)

    @functools.wraps(fn)
    def run():
        async def main():
            h = Harness(fn.__name__, **options)
            failed = True
            try:
                await h.start()
                await fn(h)
                failed = False
            finally:
                await h.stop(failed)
        asyncio.run(main())
    return run


async def ceremony(h, kind, options):
    if os.path.exists(h.qr_file):
        os.unlink(h.qr_file)
    fn = "o => window.hgCreate(o)" if kind == "create" else "o => window.hgGet(o)"
    call = asyncio.create_task(h.cdp.call(h.page, fn, options, timeout=150))
    try:
        dlg = await h.dialog()
        await h.cdp.call(dlg, CLICK, "#hybrid", 20000)
        check(await h.cdp.call(dlg, TEXT_OF, "#site") == h.server.origin, "the dialog names another origin")
        url = await asyncio.to_thread(wait_for, lambda: os.path.exists(h.qr_file) and open(h.qr_file).read().strip(),
                                      30, "the host's QR URL file")
        await h.cdp.call(dlg, QR_SHOWN, 20000)
        p = phone(BIN, h.wd, url, h.relay.url, h.store, "--yes", name="phone-" + kind)
        result = json.loads(await call)
        check(await asyncio.to_thread(p.wait, 60) == 0, "phone failed:\n" + p.stderr())
        await h.closed()
    finally:
        call.cancel()
    check_shape(result, kind)
    return result


@harnessed
async def test_register_then_sign_in(h):
    challenge = b64(os.urandom(32))
    reg = await ceremony(h, "create", creation_options(challenge))
    check_public_key(reg)
    rc, stored, err = verify("register", reg["fromBuffers"], rp_id=RP, origin=h.server.origin, challenge=challenge)
    check(rc == 0, "the verifier rejected the registration: " + err)
    challenge = b64(os.urandom(32))
    asr = await ceremony(h, "get", {"challenge": challenge})
    with open(h.wd.file("stored.json"), "w") as f:
        json.dump(stored, f)
    rc, _, err = verify("authenticate", asr["fromBuffers"], rp_id=RP, origin=h.server.origin, challenge=challenge,
                        stored=h.wd.file("stored.json"), prev_sign_count=stored["sign_count"])
    check(rc == 0, "the verifier rejected the assertion: " + err)


async def browser_registers_and_signs_in(h, choose_fallback):
    """create() then get() answered by Chromium's own WebAuthn and its virtual authenticator: with
    `choose_fallback` the person picks "Use a security key or this browser's own method" in the
    dialog each time; else no dialog may appear. The credential is the virtual authenticator's
    (WebAuthn.getCredentials), python3-fido2 verifies both results, the host ran no ceremony."""
    await h.virtual_authenticator()
    check(await h.cdp.call(h.page, "() => !String(CredentialsContainer.prototype.create).includes('[native code]')"), "the extension did not wrap navigator.credentials")
    results = []
    for kind in ("create", "get"):
        challenge = b64(os.urandom(32))
        options = creation_options(challenge) if kind == "create" else {"challenge": challenge}
        fn = "o => window.hgCreate(o)" if kind == "create" else "o => window.hgGet(o)"
        call = asyncio.create_task(h.cdp.call(h.page, fn, options, timeout=90))
        try:
            if choose_fallback:
                dlg = await h.dialog()
                await h.cdp.call(dlg, CLICK, "#fallback", 20000)
            r = json.loads(await call)
        finally:
            call.cancel()
        check("error" not in r, "the browser's own %s() failed after the fall-through: %r" % (kind, r))
        if choose_fallback:
            await h.closed()
        else:
            check(await dialogs(h.cdp) == [], "a dialog was shown although the extension cannot help")
        results.append((r, challenge))
    (reg, reg_challenge), (asr, asr_challenge) = results
    check("hybrid" not in reg["transports"], "the registration went through hybridgate: %r" % reg["transports"])
    ids = [b64(base64.b64decode(c["credentialId"])) for c in await h.virtual_credentials()]
    check(ids == [reg["fromBuffers"]["id"]], "the virtual authenticator holds %r, the page got %r"
          % (ids, reg["fromBuffers"]["id"]))
    rc, stored, err = verify("register", reg["fromBuffers"], rp_id=RP, origin=h.server.origin, challenge=reg_challenge)
    check(rc == 0, "the verifier rejected the browser's registration: " + err)
    with open(h.wd.file("stored.json"), "w") as f:
        json.dump(stored, f)
    prev = stored["sign_count"] if stored["sign_count"] else -1  # a counter that stays 0 is allowed (§7.2)
    rc, out, err = verify("authenticate", asr["fromBuffers"], rp_id=RP, origin=h.server.origin, challenge=asr_challenge,
                          stored=h.wd.file("stored.json"), prev_sign_count=prev)
    check(rc == 0, "the verifier rejected the browser's assertion: " + err)
    check(out["credential_id"] == reg["fromBuffers"]["id"], "signed in with another credential")
    log = open(h.host_log).read() if os.path.exists(h.host_log) else ""
    check("start create" not in log and "start get" not in log, "the host ran a ceremony:\n" + log)


@harnessed
async def test_declined_falls_through_to_the_browser(h):
    """The host is there and the person picks the browser's own method: Chromium's own WebAuthn and
    its virtual authenticator (DevTools WebAuthn domain) create and use the credential."""
    await browser_registers_and_signs_in(h, choose_fallback=True)


@harnessed(host_installed=False)
async def test_missing_host_falls_through_to_the_browser(h):
    """No native host installed: Chromium's own WebAuthn takes every call at once, no dialog."""
    await browser_registers_and_signs_in(h, choose_fallback=False)


TESTS = [test_register_then_sign_in, test_declined_falls_through_to_the_browser,
         test_missing_host_falls_through_to_the_browser]

if __name__ == "__main__":
    name = sys.argv[3] if len(sys.argv) > 3 else None
    tests = [t for t in TESTS if name is None or t.__name__ == name]
    if not tests:
        sys.exit("no test named %s" % name)
    run_tests(tests)
