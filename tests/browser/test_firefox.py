#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Debian's firefox-esr (headless) with the hybridgate extension and native host, driven over
WebDriver BiDi (bidi.py). Per test: the browser component is installed with `cmake --install
--component browser` into a temporary prefix; its Firefox host manifest goes into
$HOME/.mozilla/native-messaging-hosts of a temporary HOME; a fresh profile; the .xpi installed
temporarily (webExtension.install archivePath); a page on http://localhost:PORT served here
calls navigator.credentials; the test picks the phone in the extension's dialog (an extension frame over the tab); `hybridgate phone` answers through our relay on the loopback radio
(it reads the QR URL from HYBRIDGATE_QR_URL_FILE); python3-fido2 verifies the page's results
(tests/tools/webauthn_verify.py: python3-fido2 0.9 knows https origins only, so the tool checks an
http://localhost origin as its https form for the RP ID localhost).

usage: test_firefox.py BIN_DIR BUILD_DIR TEST_NAME [--screenshot PNG] [--screenshots DIR]"""

import argparse
import asyncio
import base64
import functools
import json
import os
import pty
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from hgtest import Relay, TestFailure, Workdir, check, phone, run_tests, verify, wait_for  # noqa: E402
from bidi import Bidi, BidiError, Firefox  # noqa: E402
from marionette import Marionette  # noqa: E402
import scenarios  # noqa: E402
from webpage import (CLICK, QR_SHOWN, TEXT_OF, VISIBLE_TEXT, PageServer, b64,  # noqa: E402
                     check_generic, check_public_key, check_shape, creation_options)

ap = argparse.ArgumentParser()
ap.add_argument("bin_dir")
ap.add_argument("build_dir")
ap.add_argument("test", nargs="?")
ap.add_argument("--screenshot", help="also save the QR dialog's screenshot here (docs/)")
ap.add_argument("--screenshots", help="test_dialog_states_*: save each state's screenshot in this directory")
ARGS = ap.parse_args()
BIN = ARGS.bin_dir
GECKO_ID = "browser@hybridgate.dev"
RP = "localhost"


KEYS = {"Tab": "\ue004", "Enter": "\ue007", "Escape": "\ue00c", "Shift": "\ue008"}  # WebDriver key codes


class Harness:
    def __init__(self, name, virtual_authenticator=False, host_installed=True, theme="light", **extra_env):
        self.wd = Workdir(name)
        self.relay = Relay(BIN, self.wd)
        self.server = PageServer()
        self.qr_file = self.wd.file("qr.txt")
        self.host_log = self.wd.file("host.log")
        # The browser component as `cmake --install` lays it out.
        self.prefix = self.wd.file("prefix")
        r = subprocess.run(["cmake", "--install", ARGS.build_dir, "--prefix", self.prefix, "--component", "browser"],
                           capture_output=True, text=True)
        check(r.returncode == 0, "cmake --install --component browser failed:\n" + r.stdout + r.stderr)
        manifest_path = os.path.join(self.prefix, "lib", "mozilla", "native-messaging-hosts", "hybridgate.json")
        with open(manifest_path) as f:
            manifest = json.load(f)
        host_path = os.path.join(self.prefix, "bin", "hybridgate-native-host")
        check(manifest["path"] == host_path and manifest["type"] == "stdio" and manifest["name"] == "hybridgate",
              "the installed Firefox host manifest: %r" % manifest)
        check(manifest["allowed_extensions"] == [GECKO_ID], "allowed_extensions: %r" % manifest["allowed_extensions"])
        self.xpi = os.path.join(self.prefix, "share", "hybridgate", "browser", "hybridgate.xpi")
        home = self.wd.file("home")
        os.makedirs(os.path.join(home, ".mozilla", "native-messaging-hosts"))
        if host_installed:  # else: the extension without its host (the browser's own flow takes every call)
            shutil.copy(manifest_path, os.path.join(home, ".mozilla", "native-messaging-hosts"))
        env = dict(self.wd.env)
        for k in ("HYBRIDGATE_PHONE", "HYBRIDGATE_CONFIG", "HYBRIDGATE_CA_FILE", "DISPLAY", "WAYLAND_DISPLAY"):
            env.pop(k, None)
        env.update({"HOME": home, "XDG_CONFIG_HOME": os.path.join(home, ".config"),
                    "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
                    "XDG_CACHE_HOME": os.path.join(home, ".cache"), "MOZ_CRASHREPORTER_DISABLE": "1",
                    "HYBRIDGATE_TUNNEL_URL": self.relay.url, "HYBRIDGATE_RADIO": "loopback",
                    "HYBRIDGATE_QR_URL_FILE": self.qr_file, "HYBRIDGATE_NATIVE_HOST_LOG": self.host_log})
        env.update(extra_env)
        # The virtual authenticator (WebDriver's, over Marionette) is Firefox's soft token: the
        # browser's own WebAuthn then creates and uses credentials without hardware.
        self.virtual_authenticator = virtual_authenticator
        prefs = {"security.webauth.webauthn_enable_softtoken": True,
                 "security.webauth.webauthn_enable_usbtoken": False} if virtual_authenticator else {}
        # The colour scheme the system asks for (prefers-color-scheme in pages and extension frames).
        prefs["ui.systemUsesDarkTheme"] = 1 if theme == "dark" else 0
        prefs["layout.css.prefers-color-scheme.content-override"] = 0 if theme == "dark" else 1
        self.firefox = Firefox(self.wd.path, env, prefs=prefs, marionette=virtual_authenticator)
        self.marionette = None
        self.authenticator = None
        self.seen_dialogs = set()
        self.store = self.wd.file("store.json")
        self.links_file = os.path.join(home, ".local", "share", "hybridgate", "links.json")  # the default
        self.bidi = None

    async def start(self):
        if self.virtual_authenticator:
            bidi_port = self.firefox.port()  # the remote agent is up
            self.marionette = await Marionette.connect(self.firefox.marionette_port())
            r = await self.marionette.cmd("WebDriver:NewSession", {"webSocketUrl": True})
            url = r["capabilities"].get("webSocketUrl")
            check(isinstance(url, str), "Marionette session without webSocketUrl: %r" % r)
            check(url.startswith("ws://127.0.0.1:%d/" % bidi_port), "webSocketUrl: %r" % url)
            self.bidi = await Bidi.connect_url(url)
            a = await self.marionette.cmd("WebAuthn:AddVirtualAuthenticator", {
                "protocol": "ctap2", "transport": "usb", "hasResidentKey": True, "hasUserVerification": True,
                "isUserConsenting": True, "isUserVerified": True})
            self.authenticator = a["value"] if isinstance(a, dict) else a
        else:
            self.bidi = await Bidi.connect(self.firefox.port())
            await self.bidi.cmd("session.new", {"capabilities": {}})
        r = await self.bidi.cmd("webExtension.install", {"extensionData": {"type": "archivePath", "path": self.xpi}})
        check(r["extension"] == GECKO_ID, "installed extension: %r" % r)
        await self.bidi.cmd("session.subscribe", {"events": ["browsingContext.contextCreated",
                                                             "browsingContext.contextDestroyed"]})
        tree = await self.bidi.cmd("browsingContext.getTree", {})
        self.tab = tree["contexts"][0]["context"]
        await self.open(self.tab)

    async def open(self, context, origin=None):
        await self.bidi.cmd("browsingContext.navigate", {"context": context, "url": (origin or self.server.origin) + "/index.html",
                                                         "wait": "complete"})

    async def virtual_credentials(self):
        """The credentials the virtual authenticator holds (WebAuthn:GetCredentials)."""
        r = await self.marionette.cmd("WebAuthn:GetCredentials", {"authenticatorId": self.authenticator})
        return r["value"] if isinstance(r, dict) else r

    async def stop(self, failed):
        if self.marionette:
            try:
                await self.marionette.cmd("WebDriver:DeleteSession", {}, timeout=10)
            except Exception:  # noqa: BLE001 - shutting down anyway
                pass
            await self.marionette.close()
        if self.bidi:
            try:
                if not self.marionette:
                    await self.bidi.cmd("session.end", {}, timeout=10)
            except Exception:  # noqa: BLE001 - shutting down anyway
                pass
            await self.bidi.close()
        self.firefox.stop()
        self.server.stop()
        self.relay.stop()
        if failed:
            for f in ("host.log", "firefox.log"):
                if os.path.exists(self.wd.file(f)):
                    print("--- %s\n%s" % (f, open(self.wd.file(f)).read()[-4000:]))
        self.wd.cleanup()

    def events_now(self):
        return len(self.bidi.events)

    async def dialogs(self, root=None):
        """The extension's dialog frames in the tree (under `root`, else anywhere): {context: parent tab}."""
        tree = await self.bidi.cmd("browsingContext.getTree", {"root": root} if root else {})
        found = {}

        def walk(c, top):
            if "/dialog.html#" in c.get("url", "") and c["url"].startswith("moz-extension://"):
                found[c["context"]] = top
            for ch in c.get("children") or []:
                walk(ch, top)
        for c in tree["contexts"]:
            walk(c, c["context"])
        return found

    async def dialog(self, since=None, tab=None, timeout=30):
        """The extension's dialog: an extension frame (moz-extension://…/dialog.html) the content
        script puts over the calling tab (`tab`, else h.tab), loaded; read from the tree until it is
        there (Firefox sends no load events for extension frames)."""
        tab = tab or self.tab
        deadline = time.monotonic() + timeout
        while True:
            for ctx in await self.dialogs(tab):
                if ctx in self.seen_dialogs:
                    continue
                try:
                    if await self.bidi.call(ctx, "() => location.pathname === '/dialog.html' && "
                                                 "document.readyState === 'complete' && "
                                                 "!document.getElementById('title').textContent.startsWith('Passkey')"):
                        self.seen_dialogs.add(ctx)
                        return ctx
                except BidiError:
                    pass
            if time.monotonic() > deadline:
                raise TestFailure("no dialog in the tab: %r" % await self.bidi.cmd("browsingContext.getTree", {}))
            await asyncio.sleep(0.05)  # poll interval of a bounded wait on the tree (as wait_for)

    # -- what scenarios.py uses (the same in test_chromium.py)
    bin = BIN

    async def call(self, ctx, fn, *args, timeout=60):
        return await self.bidi.call(ctx, fn, *args, timeout=timeout)

    async def new_tab(self):
        tab = (await self.bidi.cmd("browsingContext.create", {"type": "tab"}))["context"]
        await self.open(tab)
        return tab

    async def activate(self, ctx):
        await self.bidi.cmd("browsingContext.activate", {"context": ctx})

    async def press(self, *keys, shift=False):
        """Key presses sent to the tab (WebDriver BiDi input.performActions), as a person types
        them: they reach whatever has the focus (the dialog frame when it has it)."""
        actions = [{"type": "keyDown", "value": KEYS["Shift"]}] if shift else []
        for k in keys:
            actions += [{"type": "keyDown", "value": KEYS[k]}, {"type": "keyUp", "value": KEYS[k]}]
        if shift:
            actions.append({"type": "keyUp", "value": KEYS["Shift"]})
        await self.bidi.cmd("input.performActions", {"context": self.tab, "actions": [
            {"type": "key", "id": "keyboard", "actions": actions}]})

    async def evaluate(self, ctx, expression):
        """A script (e.g. a library's source) evaluated in a document."""
        r = await self.bidi.cmd("script.evaluate", {"expression": expression, "target": {"context": ctx},
                                                     "awaitPromise": False, "resultOwnership": "none"})
        check(r["type"] != "exception", "script exception: %r" % r.get("exceptionDetails", {}).get("text"))

    async def screenshot(self, tab, path):
        shot = await self.bidi.cmd("browsingContext.captureScreenshot", {"context": tab})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

    async def start_virtual_authenticator(self):
        check(self.authenticator is not None, "the harness was made without virtual_authenticator=True")

    async def virtual_credential_ids(self):
        return [c["credentialId"] for c in await self.virtual_credentials()]

    async def click(self, ctx, selector):
        return await self.bidi.call(ctx, CLICK, selector, 20000)

    async def qr_url(self):
        def read():
            return os.path.exists(self.qr_file) and open(self.qr_file).read().strip()
        return await asyncio.to_thread(wait_for, read, 30, "the host's QR URL file")

    async def closed(self, ctx, since=None, timeout=20):
        """Waits until the dialog frame is gone (Firefox sends no contextDestroyed event for an
        extension frame, so the tree is read until it no longer lists it)."""
        deadline = time.monotonic() + timeout
        while True:
            if ctx not in await self.dialogs():
                return
            if time.monotonic() > deadline:
                raise TestFailure("the dialog is still open")
            await asyncio.sleep(0.05)  # poll interval of a bounded wait on the tree (as wait_for)

    def fresh_qr(self):
        if os.path.exists(self.qr_file):
            os.unlink(self.qr_file)


def harnessed(fn=None, **extra_env):
    """Runs an async test body with a started Harness; prints the logs of a failing one.
    Keyword arguments are Harness options (virtual_authenticator, host_installed) and environment
    variables for Firefox (and so for the host)."""
    if fn is None:
        return lambda f: harnessed(f, **extra_env)

    @functools.wraps(fn)
    def run():
        async def main():
            h = Harness(fn.__name__, **extra_env)
            failed = True
            try:
                await h.start()
                await fn(h)
                failed = False
            finally:
                await h.stop(failed)
        asyncio.run(main())
    return run


async def ceremony(h, kind, options, screenshot=None):
    """One create/get from the page, the phone chosen in the dialog, answered by hybridgate phone."""
    h.fresh_qr()
    since = h.events_now()
    fn = "o => window.hgCreate(o)" if kind == "create" else "o => window.hgGet(o)"
    call = asyncio.create_task(h.bidi.call(h.tab, fn, options, timeout=150))
    try:
        return await run_ceremony(h, kind, call, since, screenshot)
    finally:
        call.cancel()


async def run_ceremony(h, kind, call, since, screenshot):
    dlg = await h.dialog(since)
    await h.click(dlg, "#hybrid")
    site = await h.bidi.call(dlg, TEXT_OF, "#site")
    check(site == h.server.origin, "the dialog names %r, not the page's origin" % site)
    url = await h.qr_url()
    check(url.startswith("FIDO:/"), "the QR URL file holds no FIDO:/ URL")
    await h.bidi.call(dlg, QR_SHOWN, 20000)
    if screenshot:
        shot = await h.bidi.cmd("browsingContext.captureScreenshot", {"context": h.tab})  # the page, dialog over it
        png = base64.b64decode(shot["data"])
        path = h.wd.file("dialog.png")
        with open(path, "wb") as f:
            f.write(png)
        # The QR code the extension shows is the ceremony's (decoded by zbar from the screenshot).
        z = subprocess.run(["zbarimg", "--raw", "-q", path], capture_output=True, text=True)
        check(z.returncode == 0 and z.stdout.strip() == url, "the dialog's QR code does not decode to the ceremony's URL")
        for dest in screenshot:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy(path, dest)
    p = phone(BIN, h.wd, url, h.relay.url, h.store, "--yes", name="phone-" + kind)
    result = json.loads(await call)
    check(await asyncio.to_thread(p.wait, 60) == 0, "phone failed:\n" + p.stderr())
    await h.closed(dlg, since)  # the dialog closes by itself after a success
    check_shape(result, kind)
    return result


@harnessed
async def test_register_then_sign_in(h):
    """create() then get() through the extension's dialog; the QR code in the dialog decodes to the
    ceremony's URL; python3-fido2 verifies both results built from the page's ArrayBuffers."""
    shots = [os.path.join(ARGS.build_dir, "firefox-qr-dialog.png")] + ([ARGS.screenshot] if ARGS.screenshot else [])
    challenge = b64(os.urandom(32))
    reg = await ceremony(h, "create", creation_options(challenge), screenshot=shots)
    check_public_key(reg)
    rc, stored, err = verify("register", reg["fromBuffers"], rp_id=RP, origin=h.server.origin, challenge=challenge)
    check(rc == 0, "the verifier rejected the registration: " + err)
    # The clientDataJSON is the host's, with the origin the browser reported.
    cd = json.loads(base64.urlsafe_b64decode(reg["fromBuffers"]["response"]["clientDataJSON"] + "=="))
    check(cd["origin"] == h.server.origin and cd["type"] == "webauthn.create", "clientDataJSON: %r" % cd)

    challenge = b64(os.urandom(32))
    asr = await ceremony(h, "get", {"challenge": challenge, "userVerification": "preferred"})
    with open(h.wd.file("stored.json"), "w") as f:
        json.dump(stored, f)
    rc, out, err = verify("authenticate", asr["fromBuffers"], rp_id=RP, origin=h.server.origin, challenge=challenge,
                          stored=h.wd.file("stored.json"), prev_sign_count=stored["sign_count"])
    check(rc == 0, "the verifier rejected the assertion: " + err)
    check(out["credential_id"] == reg["fromBuffers"]["id"], "signed in with another credential")
    check(asr["fromBuffers"]["response"]["userHandle"] == b64(b"user-ff-1"), "userHandle is not the user's ID")
    # The verifier's check can fail: the same assertion for another origin is refused.
    rc, _, _ = verify("authenticate", asr["fromBuffers"], rp_id=RP, origin=h.server.other_origin, challenge=challenge,
                      stored=h.wd.file("stored.json"), prev_sign_count=stored["sign_count"])
    check(rc != 0, "the verifier accepted an assertion for another origin")
    log = open(h.host_log).read()
    check(log.count("done") >= 2 and "FIDO:/" not in log, "host log:\n" + log)


async def child_frame(h, parent):
    tree = await h.bidi.cmd("browsingContext.getTree", {"root": parent})
    children = tree["contexts"][0]["children"]
    check(len(children) >= 1, "no child frame in %r" % tree)
    return children[-1]["context"]


@harnessed
async def test_lies_and_cross_origin_frames_are_refused(h):
    """The origin is the browser's, never the page's: a foreign rp.id / rpId is a SecurityError
    before any dialog; a page that talks to the extension's relay itself and names another origin
    gets the same, or a dialog for its true origin; a cross-origin iframe gets NotAllowedError
    without a dialog, while a same-origin iframe reaches the dialog (the control); a second request
    in a tab with one pending is refused."""
    since = h.events_now()
    r = json.loads(await h.bidi.call(h.tab, "o => window.hgCreate(o)",
                                     creation_options(b64(os.urandom(32)), rp={"id": "example.com", "name": "x"})))
    check(r.get("error") == "SecurityError" and "relying party ID" in r.get("message", ""), "foreign rp.id: %r" % r)
    r = json.loads(await h.bidi.call(h.tab, "o => window.hgGet(o)", {"challenge": b64(os.urandom(32)), "rpId": "example.com"}))
    check(r.get("error") == "SecurityError", "foreign rpId: %r" % r)
    # Forged requests straight to the relay, claiming https://example.com.
    forged = {"rid": "forged-1", "kind": "get", "origin": "https://example.com",
              "options": {"challenge": b64(os.urandom(32)), "rpId": "example.com"}}
    r = json.loads(await h.bidi.call(h.tab, "d => window.hgForged(d)", forged))
    check(r.get("kind") == "error" and r.get("name") == "SecurityError", "forged origin + rpId: %r" % r)
    # A cross-origin iframe (http://127.0.0.1:PORT inside http://localhost:PORT).
    await h.bidi.call(h.tab, "u => window.hgFrame(u)", h.server.other_origin + "/index.html")
    frame = await child_frame(h, h.tab)
    r = json.loads(await h.bidi.call(frame, "o => window.hgCreate(o)", creation_options(b64(os.urandom(32)))))
    check(r.get("error") == "NotAllowedError", "cross-origin iframe: %r" % r)
    r = json.loads(await h.bidi.call(frame, "o => window.hgGet(o)", {"challenge": b64(os.urandom(32))}))
    check(r.get("error") == "NotAllowedError", "cross-origin iframe get: %r" % r)
    check(await h.dialogs() == {}, "a refused request opened a dialog")
    check(not os.path.exists(h.qr_file), "a refused request made a QR code")

    # The control: a forged request without rpId reaches the dialog, which names the true origin.
    forged = {"rid": "forged-2", "kind": "get", "origin": "https://example.com",
              "options": {"challenge": b64(os.urandom(32))}}
    call = asyncio.create_task(h.bidi.call(h.tab, "d => window.hgForged(d)", forged, timeout=60))
    try:
        dlg = await h.dialog(since)
        await h.click(dlg, "#hybrid")
        site = await h.bidi.call(dlg, TEXT_OF, "#site")
        check(site == h.server.origin, "the dialog of a forged request names %r" % site)
        await h.qr_url()
        # One ceremony per tab: a second request meanwhile is refused.
        r = json.loads(await h.bidi.call(h.tab, "o => window.hgGet(o)", {"challenge": b64(os.urandom(32))}))
        check_generic(r, "a second request in a busy tab")
        check(len(await h.dialogs(h.tab)) == 1, "the second request in the tab opened another dialog")
        await h.click(dlg, "#cancel")
        r = json.loads(await call)
        check(r.get("kind") == "error" and r.get("name") == "NotAllowedError", "cancelled: %r" % r)
        await h.closed(dlg, since)
    finally:
        call.cancel()
    log = open(h.host_log).read()
    check("start get for %s (QR code)" % h.server.origin in log and "example.com (QR" not in log,
          "the host ran a ceremony for another origin:\n" + log)
    check("cancel requested by the browser" in log or "closed the port: cancelling" in log, "no cancel:\n" + log)

    # The control for frames: a same-origin iframe reaches the dialog.
    await h.bidi.call(h.tab, "u => window.hgFrame(u)", h.server.origin + "/index.html")
    frame = await child_frame(h, h.tab)
    since = h.events_now()
    call = asyncio.create_task(h.bidi.call(frame, "o => window.hgGet(o)", {"challenge": b64(os.urandom(32))}, timeout=60))
    try:
        dlg = await h.dialog(since)
        await h.click(dlg, "#cancel")
        r = json.loads(await call)
        check_generic(r, "same-origin iframe, cancelled")
        await h.closed(dlg, since)
    finally:
        call.cancel()


@harnessed
async def test_tab_closed_mid_ceremony_cancels_on_the_phone(h):
    """A tab closed while the phone asks its person: the host is told (cancel / closed port), the
    phone sees the desktop go away and takes its prompt down, nothing is created, the dialog closes."""
    tab = (await h.bidi.cmd("browsingContext.create", {"type": "tab"}))["context"]
    await h.open(tab)
    since = h.events_now()
    call = asyncio.create_task(h.bidi.call(tab, "o => window.hgCreate(o)", creation_options(b64(os.urandom(32))),
                                           timeout=120))
    master = None
    try:
        dlg = await h.dialog(since, tab=tab)
        await h.click(dlg, "#hybrid")
        url = await h.qr_url()
        master, slave = pty.openpty()
        p = phone(BIN, h.wd, url, h.relay.url, h.store, name="asking-phone", stdin=slave)
        os.close(slave)
        await asyncio.to_thread(wait_for, lambda: "Allow? [y/N]" in p.stderr() or p.proc.poll() is not None, 30,
                                "the phone's prompt")
        await asyncio.to_thread(wait_for, lambda: "stage waiting_for_user" in open(h.host_log).read(), 30,
                                "the host to wait for the person")
        await h.bidi.cmd("browsingContext.close", {"context": tab})
        rc = await asyncio.to_thread(p.wait, 30)
        check(rc != 0, "the phone reported success for a closed tab")
        check("request was withdrawn" in p.stderr(), "the phone did not see the desktop go away:\n" + p.stderr())
        log = open(h.host_log).read()
        check("cancel requested by the browser" in log or "the browser closed the port: cancelling" in log,
              "the host was not told:\n" + log)
        await h.closed(dlg, since)
        if os.path.exists(h.store):
            with open(h.store) as f:
                check(json.load(f)["credentials"] == [], "a passkey was created for a closed tab")
    finally:
        call.cancel()
        if master is not None:
            os.close(master)


@harnessed
async def test_remembered_phone_signs_in_without_qr(h):
    """"Remember this phone" ticked in the dialog: the phone agrees to be linked and the host
    remembers it (links file); the next get() lists it in the dialog, and choosing it signs in with
    no QR code (the phone woken through the relay), verified by python3-fido2."""
    from hgtest import Proc
    name = "Test Phone"
    challenge = b64(os.urandom(32))
    h.fresh_qr()
    since = h.events_now()
    call = asyncio.create_task(h.bidi.call(h.tab, "o => window.hgCreate(o)", creation_options(challenge), timeout=120))
    try:
        dlg = await h.dialog(since)
        await h.click(dlg, "#remember")
        await h.click(dlg, "#hybrid")
        url = await h.qr_url()
        p = phone(BIN, h.wd, url, h.relay.url, h.store, "--yes", "--link", "--phone-name", name, name="link-phone")
        reg = json.loads(await call)
        check(await asyncio.to_thread(p.wait, 60) == 0, "phone failed:\n" + p.stderr())
    finally:
        call.cancel()
    check_shape(reg, "create")
    rc, stored, err = verify("register", reg["fromBuffers"], rp_id=RP, origin=h.server.origin, challenge=challenge)
    check(rc == 0, "the verifier rejected the registration: " + err)
    check(os.path.exists(h.links_file) and oct(os.stat(h.links_file).st_mode & 0o777) == "0o600",
          "the host did not remember the phone in a private links file")
    check("remembered phone '%s'" % name in open(h.host_log).read(), "no notice of the remembered phone")

    argv = [os.path.join(BIN, "hybridgate"), "phone", "--radio", "loopback", "--tunnel-url", h.relay.url,
            "--store", h.store, "--yes", "--test-assume-verified", "--listen", "--once"]
    listener = Proc(argv, h.wd, "listener")
    try:
        await asyncio.to_thread(wait_for, lambda: "phone: listening\n" in listener.stderr() or listener.proc.poll() is not None,
                                20, "the phone's listen connection")
        check(listener.proc.poll() is None, "the listener exited:\n" + listener.stderr())
        h.fresh_qr()
        challenge = b64(os.urandom(32))
        since = h.events_now()
        call = asyncio.create_task(h.bidi.call(h.tab, "o => window.hgGet(o)", {"challenge": challenge}, timeout=120))
        try:
            dlg = await h.dialog(since)
            label = await h.click(dlg, 'button.phone[data-phone="%s"]' % name)
            check(name in label, "the remembered phone's button says %r" % label)
            asr = json.loads(await call)
        finally:
            call.cancel()
        check(await asyncio.to_thread(listener.wait, 30) == 0, "the woken phone failed:\n" + listener.stderr())
    finally:
        listener.kill()
    check_shape(asr, "get")
    check(not os.path.exists(h.qr_file), "a QR code was made for a remembered phone")
    with open(h.wd.file("stored.json"), "w") as f:
        json.dump(stored, f)
    rc, _, err = verify("authenticate", asr["fromBuffers"], rp_id=RP, origin=h.server.origin, challenge=challenge,
                        stored=h.wd.file("stored.json"), prev_sign_count=stored["sign_count"])
    check(rc == 0, "the verifier rejected the assertion: " + err)
    check("start get for %s (remembered phone)" % h.server.origin in open(h.host_log).read(), "host log")


@harnessed(virtual_authenticator=True)
async def test_declined_falls_through_to_the_browser(h):
    """The host is there, and the person picks "Use a security key or this browser's own method":
    the overlay goes, the page has the focus, and Firefox's own navigator.credentials creates and
    uses a credential on its virtual authenticator (verified by python3-fido2)."""
    await scenarios.browser_registers_and_signs_in(h, choose_fallback=True)


@harnessed(virtual_authenticator=True, host_installed=False)
async def test_missing_host_falls_through_to_the_browser(h):
    """The extension without its native host (not installed): every call goes to Firefox's own
    WebAuthn at once, with no dialog (Firefox reports the missing host in port.error, not
    runtime.lastError); the virtual authenticator creates and uses the credential."""
    await scenarios.browser_registers_and_signs_in(h, choose_fallback=False)


@harnessed
async def test_abort_signal_and_navigation_cancel(h):
    """The page's AbortSignal fired while the QR code is shown ends the call with AbortError; a
    navigation away while the QR code is shown ends the ceremony too. Each time the host is told
    (cancel message) and the dialog closes."""
    def cancels():
        return open(h.host_log).read().count("cancel requested by the browser")

    h.fresh_qr()
    since = h.events_now()
    call = asyncio.create_task(h.bidi.call(h.tab, "o => window.hgAbortableGet(o)", {"challenge": b64(os.urandom(32))},
                                           timeout=60))
    try:
        dlg = await h.dialog(since)
        await h.click(dlg, "#hybrid")
        await h.qr_url()
        await h.bidi.call(h.tab, "() => window.hgAbort()")
        r = json.loads(await call)
    finally:
        call.cancel()
    check(r.get("error") == "AbortError", "after abort(): %r" % r)
    await h.closed(dlg, since)
    await asyncio.to_thread(wait_for, lambda: cancels() == 1, 20, "the host to be told of the abort")

    h.fresh_qr()
    since = h.events_now()
    call = asyncio.create_task(h.bidi.call(h.tab, "o => window.hgGet(o)", {"challenge": b64(os.urandom(32))}, timeout=60))
    try:
        dlg = await h.dialog(since)
        await h.click(dlg, "#hybrid")
        await h.qr_url()
        await h.bidi.cmd("browsingContext.navigate", {"context": h.tab, "url": h.server.origin + "/index.html?next",
                                                      "wait": "complete"})
        await h.closed(dlg, since)
        await asyncio.to_thread(wait_for, lambda: cancels() == 2, 20, "the host to be told of the navigation")
    finally:
        call.cancel()


@harnessed
async def test_person_says_no_on_the_phone(h):
    """The person denies on the phone: the page gets NotAllowedError with a message that does not
    say why (as browsers do), the extension's dialog says it, and its Close button closes it."""
    h.fresh_qr()
    since = h.events_now()
    call = asyncio.create_task(h.bidi.call(h.tab, "o => window.hgCreate(o)", creation_options(b64(os.urandom(32))),
                                           timeout=120))
    try:
        dlg = await h.dialog(since)
        await h.click(dlg, "#hybrid")
        url = await h.qr_url()
        with open(h.wd.file("no.txt"), "w+") as denial:
            denial.write("n\n")
            denial.flush()
            denial.seek(0)
            p = phone(BIN, h.wd, url, h.relay.url, h.store, name="denying-phone", stdin=denial)
            r = json.loads(await call)
            await asyncio.to_thread(p.wait, 60)
    finally:
        call.cancel()
    check_generic(r, "after a denial on the phone")
    check("denied" not in r.get("message", "").lower(), "the page was told why: %r" % r)
    shown = await h.bidi.call(dlg, VISIBLE_TEXT, "#error", 20000)
    check("denied" in shown.lower(), "the dialog does not say the person said no: %r" % shown)
    check(await h.click(dlg, "#cancel") == "Close", "the error view has no Close button")
    await h.closed(dlg, since)
    check("create failed: ctap.operation_denied" in open(h.host_log).read(), "host log")


@harnessed
async def test_keyboard_only(h):
    """scenarios.keyboard_only: Tab, Shift+Tab, Enter complete a ceremony; Escape cancels one."""
    await scenarios.keyboard_only(h)


@harnessed
async def test_two_tabs(h):
    """scenarios.two_tabs: one dialog per tab; the second tab's dialog waits, then goes on."""
    await scenarios.two_tabs(h)


@harnessed
async def test_page_timeout_is_honoured(h):
    """scenarios.page_timeout_is_honoured: the page's 6 s timeout ends the call."""
    await scenarios.page_timeout_is_honoured(h)


@harnessed(HYBRIDGATE_TUNNEL_URL="ws://127.0.0.1:%d" % scenarios.DOWN_PORT)
async def test_relay_down_is_named(h):
    """scenarios.relay_down_is_named: the relay named within the connect deadline."""
    await scenarios.relay_down_is_named(h)


@harnessed
async def test_offline_remembered_phone_offers_a_qr_code(h):
    """scenarios.offline_remembered_phone_offers_a_qr_code: "Use a QR code instead" signs in."""
    await scenarios.offline_remembered_phone_offers_a_qr_code(h)


@harnessed
async def test_dialog_states_light(h):
    """scenarios.dialog_states: axe-core finds no violations in any state (light); with
    --screenshots DIR, each state's picture is saved there."""
    await scenarios.dialog_states(h, "firefox", "light", ARGS.screenshots)


@harnessed(theme="dark")
async def test_dialog_states_dark(h):
    """The same in dark mode (the system's colour scheme is dark)."""
    await scenarios.dialog_states(h, "firefox", "dark", ARGS.screenshots)


BAD_CONFIG = os.path.join(HERE, "page", "bad-config.toml")


@harnessed(HYBRIDGATE_CONFIG=BAD_CONFIG, virtual_authenticator=True)
async def test_a_broken_configuration_falls_through_to_the_browser(h):
    """The host cannot start (a mistake in the settings): the calls go to Firefox's own WebAuthn
    (the virtual authenticator), no dialog; the host logged the mistake."""
    await scenarios.browser_registers_and_signs_in(h, choose_fallback=False)
    check("no_such_key" in open(h.host_log).read(), "the host did not log the mistake")


if __name__ == "__main__":
    tests = [test_register_then_sign_in, test_lies_and_cross_origin_frames_are_refused,
             test_tab_closed_mid_ceremony_cancels_on_the_phone, test_remembered_phone_signs_in_without_qr,
             test_declined_falls_through_to_the_browser, test_missing_host_falls_through_to_the_browser,
             test_abort_signal_and_navigation_cancel, test_person_says_no_on_the_phone,
             test_a_broken_configuration_falls_through_to_the_browser, test_keyboard_only, test_two_tabs,
             test_page_timeout_is_honoured, test_relay_down_is_named, test_offline_remembered_phone_offers_a_qr_code,
             test_dialog_states_light, test_dialog_states_dark]
    if ARGS.test:
        tests = [t for t in tests if t.__name__ == ARGS.test]
        if not tests:
            sys.exit("no test named " + ARGS.test)
    run_tests(tests)
