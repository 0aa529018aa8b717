# SPDX-License-Identifier: Apache-2.0
"""A small Chrome DevTools Protocol client (python3-websockets) and a headless Chromium with a
fresh user data dir and an unpacked extension. Commands may be in flight concurrently; sessions
are flat (Target.attachToTarget flatten)."""

import json
import os
import subprocess

import remote
from hgcheck import wait_for


class CdpError(Exception):
    pass


class Cdp(remote.Client):
    Error = CdpError
    closed = "the DevTools connection closed"

    def __init__(self, ws):
        self.session_of = {}  # pending command id → its session
        super().__init__(ws)

    def error_of(self, msg):
        return str(msg["error"]) if "error" in msg else None

    async def on_message(self, msg):
        # A session whose target went away (e.g. a frame removed while a command ran in it) answers
        # nothing more: its pending commands fail at once rather than at their deadline.
        if msg.get("method") == "Target.detachedFromTarget":
            session = msg.get("params", {}).get("sessionId")
            for i, fut in list(self.pending.items()):
                if self.session_of.get(i) == session:
                    self.pending.pop(i, None)
                    if not fut.done():
                        fut.set_exception(CdpError("the target detached"))

    async def cmd(self, method, params=None, session=None, timeout=60):
        m = {"method": method, "params": params or {}}
        i = self.next_id  # the id send_command gives this command
        if session:
            m["sessionId"] = session
            self.session_of[i] = session
        try:
            return await self.send_command(method, m, timeout)
        finally:
            self.session_of.pop(i, None)

    async def call(self, session, fn, *args, timeout=60):
        """Calls the function declaration `fn` with JSON arguments in the session's page; awaits a
        returned promise; returns the value or raises CdpError on an exception."""
        expr = "(%s)(...%s)" % (fn, json.dumps(json.dumps(list(args))).join(["JSON.parse(", ")"]))
        r = await self.cmd("Runtime.evaluate", {"expression": expr, "awaitPromise": True, "returnByValue": True},
                           session=session, timeout=timeout)
        if "exceptionDetails" in r:
            raise CdpError("script exception: %s" % r["exceptionDetails"].get("exception", {}).get("description"))
        return r["result"].get("value")

    async def targets(self):
        return (await self.cmd("Target.getTargets"))["targetInfos"]

    async def attach(self, target_id):
        return (await self.cmd("Target.attachToTarget", {"targetId": target_id, "flatten": True}))["sessionId"]


class Chromium:
    """chromium --headless=new with a fresh user data dir, DevTools on a free port, an extension."""

    def __init__(self, workdir, env, extension_dir, binary="/usr/bin/chromium"):
        self.udd = os.path.join(workdir, "chromium-profile")
        os.makedirs(self.udd, exist_ok=True)
        self.log_path = os.path.join(workdir, "chromium.log")
        self.log = open(self.log_path, "w")
        argv = [binary, "--headless=new", "--user-data-dir=" + self.udd, "--remote-debugging-port=0",
                "--no-first-run", "--no-default-browser-check",
                "--load-extension=" + extension_dir, "about:blank"]
        if os.geteuid() == 0:
            argv.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def devtools_url(self, timeout=60):
        path = os.path.join(self.udd, "DevToolsActivePort")
        wait_for(lambda: os.path.exists(path) and len(open(path).read().split()) == 2 or self.proc.poll() is not None,
                 timeout, "Chromium's DevToolsActivePort")
        if self.proc.poll() is not None:
            raise CdpError("Chromium exited (%s):\n%s" % (self.proc.returncode, open(self.log_path).read()[-3000:]))
        port, ws_path = open(path).read().split()
        return "ws://127.0.0.1:%s%s" % (port, ws_path)

    def stop(self):
        remote.stop_browser(self.proc, self.log)
