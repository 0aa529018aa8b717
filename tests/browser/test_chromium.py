#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The same extension and native host in Debian's chromium (headless, driven over the DevTools
protocol, cdp.py): the browser component installed with `cmake --install --component browser`,
the Chromium zip unpacked and loaded (--load-extension; its key gives the ID the installed
Chromium host manifest allows), that manifest placed in the profile's NativeMessagingHosts; a
page on http://localhost:PORT calls create() then get(); the phone is chosen in the extension's
dialog (an out-of-process extension frame over the page); `hybridgate phone` answers through our
relay on the loopback radio; python3-fido2 verifies. The scenarios both browsers share are in
scenarios.py (fall-through to the DevTools virtual authenticator, keyboard, two tabs, timeouts,
relay down, offline phone, the dialog's states with axe-core).

usage: test_chromium.py BIN_DIR BUILD_DIR [TEST_NAME] [--screenshots DIR]"""

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
import scenarios  # noqa: E402
from webpage import CLICK, QR_SHOWN, TEXT_OF, PageServer, b64, check_public_key, check_shape, creation_options  # noqa: E402

BIN, BUILD = sys.argv[1], sys.argv[2]
SHOTS = sys.argv[sys.argv.index("--screenshots") + 1] if "--screenshots" in sys.argv else None
RP = "localhost"


async def dialogs(cdp):
    """The extension's dialog frames (out-of-process iframes of chrome-extension://…/dialog.html)."""
    return [t for t in await cdp.targets()
            if t["type"] == "iframe" and t["url"].startswith("chrome-extension://") and "/dialog.html#" in t["url"]]


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

    def __init__(self, name, host_installed=True, theme="light", **extra_env):
        self.theme = theme
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
        self.targets = {}  # session → target ID

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
        self.ext = os.path.join(ext, "hybridgate-chromium")  # the zip's one top folder
        self.chromium = Chromium(self.wd.path, env, self.ext)
        if self.host_installed:
            # Chromium with --user-data-dir reads per-user host manifests from DIR/NativeMessagingHosts.
            hosts = os.path.join(self.chromium.udd, "NativeMessagingHosts")
            os.makedirs(hosts, exist_ok=True)
            shutil.copy(os.path.join(prefix, "etc", "chromium", "native-messaging-hosts", "hybridgate.json"), hosts)
        self.cdp = await Cdp.connect(self.chromium.devtools_url())
        self.page_target, self.page = await self.open_page()
        self.tab = self.page

    async def open_page(self):
        target = (await self.cdp.cmd("Target.createTarget", {"url": self.server.origin + "/index.html"}))["targetId"]
        page = await self.cdp.attach(target)
        self.targets[page] = target
        await self.emulate_theme(page)
        await self.cdp.cmd("Runtime.enable", session=page)
        await loaded(self.cdp, page, "/index.html")  # the page has loaded (bounded wait)
        return target, page

    # -- what scenarios.py uses (the same in test_firefox.py); contexts are DevTools sessions
    bin = BIN

    async def call(self, ctx, fn, *args, timeout=60):
        return await self.cdp.call(ctx, fn, *args, timeout=timeout)

    async def click(self, ctx, selector):
        """Clicks; a click that removes the dialog may take its frame (and the answer) with it."""
        try:
            return await self.cdp.call(ctx, CLICK, selector, 20000)
        except CdpError as e:
            if "the target detached" not in str(e):
                raise
            return None

    async def dialogs(self, tab=None):
        """The dialog frames over the tab (its page session; default: every tab): out-of-process
        iframes of chrome-extension://…/dialog.html whose parent frame is the tab's main frame."""
        found = await dialogs(self.cdp)
        for t in found:
            check("parentFrameId" in t, "Chromium's target info has no parentFrameId: %r" % t)
        if tab is not None:
            found = [t for t in found if t["parentFrameId"] == self.targets[tab]]
        return [t["targetId"] for t in found]

    async def dialog(self, tab=None, timeout=30):
        """The next dialog frame over the tab, attached and loaded: its session."""
        deadline = time.monotonic() + timeout
        while True:
            new = [t for t in await self.dialogs(tab or self.page) if t not in self.seen]
            if new:
                break
            if time.monotonic() > deadline:
                raise TestFailure("no dialog over the page")
            await asyncio.sleep(0.05)  # poll interval of a bounded wait (as wait_for)
        self.seen.add(new[0])
        session = await self.cdp.attach(new[0])
        self.targets[session] = new[0]
        await self.emulate_theme(session)
        await loaded(self.cdp, session, "/dialog.html")
        await self.cdp.call(session, "() => new Promise((resolve) => { const ok = () => "
                                     "!document.getElementById('title').textContent.startsWith('Passkey'); "
                                     "if (ok()) return resolve(true); const o = new MutationObserver(() => { if (ok()) "
                                     "{ o.disconnect(); resolve(true); } }); o.observe(document, {subtree: true, "
                                     "childList: true, characterData: true}); })", timeout=30)
        return session

    async def closed(self, ctx):
        await closed(self.cdp, self.targets[ctx])

    async def new_tab(self):
        return (await self.open_page())[1]

    async def activate(self, ctx):
        await self.cdp.cmd("Target.activateTarget", {"targetId": self.targets[ctx]})

    async def press(self, *keys, shift=False):
        """Key presses dispatched to the page (Input.dispatchKeyEvent): the browser routes them to
        the focused frame (the dialog frame when it has the focus)."""
        for k in keys:
            code, vk = {"Tab": ("Tab", 9), "Enter": ("Enter", 13), "Escape": ("Escape", 27)}[k]
            down = {"type": "keyDown", "key": k, "code": code, "windowsVirtualKeyCode": vk,
                    "modifiers": 8 if shift else 0}
            if k == "Enter":
                down["text"] = "\r"
            await self.cdp.cmd("Input.dispatchKeyEvent", down, session=self.page)
            await self.cdp.cmd("Input.dispatchKeyEvent", {**down, "type": "keyUp", "text": ""}, session=self.page)

    def fresh_qr(self):
        if os.path.exists(self.qr_file):
            os.unlink(self.qr_file)

    async def qr_url(self):
        return await asyncio.to_thread(wait_for, lambda: os.path.exists(self.qr_file) and open(self.qr_file).read().strip(),
                                       30, "the host's QR URL file")

    async def emulate_theme(self, session):
        """prefers-color-scheme as the harness's theme (Emulation.setEmulatedMedia, per frame target),
        and a focused window: headless Chromium sometimes leaves its window without the focus after
        a frame that had it goes (document.hasFocus() false in the page and the dialog alike), which
        a person's window never is; the focus checks are about our dialog, not that."""
        await self.cdp.cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme",
                                                                        "value": self.theme}]}, session=session)
        await self.cdp.cmd("Emulation.setFocusEmulationEnabled", {"enabled": True}, session=session)

    async def evaluate(self, ctx, expression):
        r = await self.cdp.cmd("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=ctx)
        check("exceptionDetails" not in r, "script exception: %r" % r.get("exceptionDetails"))

    async def screenshot(self, tab, path):
        shot = await self.cdp.cmd("Page.captureScreenshot", {"format": "png"}, session=tab)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

    async def start_virtual_authenticator(self):
        """Chromium's DevTools WebAuthn domain: a virtual CTAP2 USB authenticator that consents."""
        await self.cdp.cmd("WebAuthn.enable", {"enableUI": False}, session=self.page)
        r = await self.cdp.cmd("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "usb", "hasResidentKey": True, "hasUserVerification": True,
            "isUserVerified": True, "automaticPresenceSimulation": True}}, session=self.page)
        self.authenticator = r["authenticatorId"]

    async def virtual_credential_ids(self):
        r = await self.cdp.cmd("WebAuthn.getCredentials", {"authenticatorId": self.authenticator}, session=self.page)
        return [b64(base64.b64decode(c["credentialId"])) for c in r["credentials"]]

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
        await h.click(dlg, "#hybrid")
        check(await h.cdp.call(dlg, TEXT_OF, "#site") == h.server.origin, "the dialog names another origin")
        url = await asyncio.to_thread(wait_for, lambda: os.path.exists(h.qr_file) and open(h.qr_file).read().strip(),
                                      30, "the host's QR URL file")
        await h.cdp.call(dlg, QR_SHOWN, 20000)
        p = phone(BIN, h.wd, url, h.relay.url, h.store, "--yes", name="phone-" + kind)
        result = json.loads(await call)
        check(await asyncio.to_thread(p.wait, 60) == 0, "phone failed:\n" + p.stderr())
        await h.closed(dlg)
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


@harnessed
async def test_declined_falls_through_to_the_browser(h):
    """The host is there and the person picks the browser's own method: Chromium's own WebAuthn and
    its virtual authenticator (DevTools WebAuthn domain) create and use the credential."""
    await scenarios.browser_registers_and_signs_in(h, choose_fallback=True)


@harnessed(host_installed=False)
async def test_missing_host_falls_through_to_the_browser(h):
    """No native host installed: Chromium's own WebAuthn takes every call at once, no dialog."""
    await scenarios.browser_registers_and_signs_in(h, choose_fallback=False)


@harnessed
async def test_keyboard_only(h):
    await scenarios.keyboard_only(h)


@harnessed
async def test_two_tabs(h):
    await scenarios.two_tabs(h)


@harnessed
async def test_page_timeout_is_honoured(h):
    await scenarios.page_timeout_is_honoured(h)


@harnessed(HYBRIDGATE_TUNNEL_URL="ws://127.0.0.1:%d" % scenarios.DOWN_PORT)
async def test_relay_down_is_named(h):
    await scenarios.relay_down_is_named(h)


@harnessed
async def test_offline_remembered_phone_offers_a_qr_code(h):
    await scenarios.offline_remembered_phone_offers_a_qr_code(h)


@harnessed
async def test_dialog_states_light(h):
    await scenarios.dialog_states(h, "chromium", "light", SHOTS)


@harnessed(theme="dark")
async def test_dialog_states_dark(h):
    await scenarios.dialog_states(h, "chromium", "dark", SHOTS)


TESTS = [test_register_then_sign_in, test_declined_falls_through_to_the_browser,
         test_missing_host_falls_through_to_the_browser, test_keyboard_only, test_two_tabs,
         test_page_timeout_is_honoured, test_relay_down_is_named, test_offline_remembered_phone_offers_a_qr_code,
         test_dialog_states_light, test_dialog_states_dark]

if __name__ == "__main__":
    name = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "--screenshots" else None
    tests = [t for t in TESTS if name is None or t.__name__ == name]
    if not tests:
        sys.exit("no test named %s" % name)
    run_tests(tests)
