# SPDX-License-Identifier: Apache-2.0
"""A small WebDriver BiDi client (python3-websockets) for Firefox's built-in remote agent, and a
Firefox process with a fresh profile. Commands may be in flight concurrently (each awaits its own
answer); events are queued per method so a test can wait on them with a deadline."""

import asyncio
import json
import os
import subprocess

import remote


class BidiError(Exception):
    pass


class Bidi(remote.Client):
    Error = BidiError
    closed = "the BiDi connection closed"

    def __init__(self, ws):
        self.events = []  # (method, params), in arrival order
        self.event_cond = asyncio.Condition()
        super().__init__(ws)

    @classmethod
    async def connect(cls, port):
        return await super().connect("ws://127.0.0.1:%d/session" % port)

    @classmethod
    async def connect_url(cls, url):
        """The BiDi connection of an existing session (a Marionette session's webSocketUrl)."""
        return await super().connect(url)

    def error_of(self, msg):
        return "%s: %s" % (msg.get("error"), msg.get("message")) if msg.get("type") == "error" else None

    async def on_message(self, msg):
        if msg.get("type") == "event":
            async with self.event_cond:
                self.events.append((msg["method"], msg["params"]))
                self.event_cond.notify_all()

    async def cmd(self, method, params=None, timeout=60):
        return await self.send_command(method, {"method": method, "params": params or {}}, timeout)

    async def wait_event(self, method, pred=lambda p: True, timeout=30, since=0):
        """The first event `method` (index >= since) whose params satisfy pred, waited for."""

        def find():
            for i in range(since, len(self.events)):
                m, p = self.events[i]
                if m == method and pred(p):
                    return p
            return None

        async def waiter():
            async with self.event_cond:
                await self.event_cond.wait_for(lambda: find() is not None)
                return find()

        try:
            return await asyncio.wait_for(waiter(), timeout)
        except asyncio.TimeoutError:
            raise BidiError("no %s event within %ss" % (method, timeout)) from None

    # -- helpers
    async def call(self, context, fn, *args, await_promise=True, timeout=60):
        """script.callFunction of the function declaration `fn` in a browsing context with JSON
        arguments; returns the deserialised result, raises BidiError on a thrown exception."""
        r = await self.cmd("script.callFunction", {
            "functionDeclaration": fn, "arguments": [local_value(a) for a in args],
            "target": {"context": context}, "awaitPromise": await_promise, "resultOwnership": "none",
        }, timeout=timeout)
        if r["type"] == "exception":
            raise BidiError("script exception: %s" % r["exceptionDetails"].get("text"))
        return unwrap(r["result"])


def local_value(v):
    """A JSON value as a BiDi LocalValue."""
    if v is None:
        return {"type": "null"}
    if isinstance(v, bool):
        return {"type": "boolean", "value": v}
    if isinstance(v, (int, float)):
        return {"type": "number", "value": v}
    if isinstance(v, str):
        return {"type": "string", "value": v}
    if isinstance(v, (list, tuple)):
        return {"type": "array", "value": [local_value(x) for x in v]}
    if isinstance(v, dict):
        return {"type": "object", "value": [[k, local_value(x)] for k, x in v.items()]}
    raise TypeError("not a JSON value: %r" % (v,))


def unwrap(v):
    t = v.get("type")
    if t in ("string", "number", "boolean"):
        return v["value"]
    if t in ("null", "undefined"):
        return None
    if t == "array":
        return [unwrap(x) for x in v.get("value", [])]
    if t == "object":
        return {k if isinstance(k, str) else unwrap(k): unwrap(x) for k, x in v.get("value", [])}
    return v


class Firefox:
    """firefox-esr --headless with a fresh profile and the remote agent on a free port."""

    def __init__(self, workdir, env, prefs=None, binary="/usr/bin/firefox-esr", marionette=False):
        self.profile = os.path.join(workdir, "profile")
        os.mkdir(self.profile)
        all_prefs = {
            "xpinstall.signatures.required": False,
            "extensions.experiments.enabled": True,
            "browser.shell.checkDefaultBrowser": False,
            "datareporting.policy.dataSubmissionEnabled": False,
            "toolkit.telemetry.reportingpolicy.firstRun": False,
            "browser.startup.homepage_override.mstone": "ignore",
            "app.update.disabledForTesting": True,
            "remote.active-protocols": 1,  # WebDriver BiDi only
        }
        if marionette:  # also Marionette (WebDriver classic) on a free port, for the virtual authenticator
            all_prefs["marionette.port"] = 0
        all_prefs.update(prefs or {})
        with open(os.path.join(self.profile, "user.js"), "w") as f:
            for k, v in all_prefs.items():
                f.write("user_pref(%s, %s);\n" % (json.dumps(k), json.dumps(v)))
        self.log_path = os.path.join(workdir, "firefox.log")
        self.log = open(self.log_path, "w")
        argv = [binary, "--headless", "--remote-debugging-port=0", "--no-remote", "-profile", self.profile, "about:blank"]
        if marionette:
            argv.insert(1, "--marionette")
        self.proc = subprocess.Popen(
            argv,
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def port(self, timeout=60):
        """The remote agent's port (Firefox writes WebDriverBiDiServer.json into the profile)."""
        from hgcheck import wait_for
        path = os.path.join(self.profile, "WebDriverBiDiServer.json")
        wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0 or self.proc.poll() is not None,
                 timeout, "Firefox's WebDriverBiDiServer.json")
        if self.proc.poll() is not None:
            raise BidiError("Firefox exited (%s):\n%s" % (self.proc.returncode, open(self.log_path).read()[-3000:]))
        with open(path) as f:
            return json.load(f)["ws_port"]

    def marionette_port(self, timeout=60):
        """Marionette's port (Firefox writes MarionetteActivePort into the profile)."""
        from hgcheck import wait_for
        path = os.path.join(self.profile, "MarionetteActivePort")
        wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0 or self.proc.poll() is not None,
                 timeout, "Firefox's MarionetteActivePort")
        if self.proc.poll() is not None:
            raise BidiError("Firefox exited (%s):\n%s" % (self.proc.returncode, open(self.log_path).read()[-3000:]))
        with open(path) as f:
            return int(f.read().strip())

    def stop(self):
        remote.stop_browser(self.proc, self.log)
