# SPDX-License-Identifier: Apache-2.0
"""What the Firefox driver (bidi.py, WebDriver BiDi) and the Chromium driver (cdp.py, DevTools
protocol) share: a JSON command client over one WebSocket (python3-websockets) in which commands
may be in flight concurrently (each carries its own id and awaits its own answer, settled by one
reader task), and the stop() of a browser process."""

import asyncio
import json
import subprocess

import websockets


class Client:
    """A subclass sets Error (its exception type) and closed (the text when the connection ends
    with commands unanswered), says which answers are errors (error_of) and may take the
    messages that answer no command (on_message: events)."""

    Error = Exception
    closed = "the connection closed"

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 1
        self.pending = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, url):
        return cls(await websockets.connect(url, max_size=64 << 20))

    def error_of(self, msg):
        """The error text of an answer, or None when it is a result."""
        return None

    async def on_message(self, msg):
        """A message that answers no pending command."""

    async def _read(self):
        try:
            async for text in self.ws:
                msg = json.loads(text)
                fut = self.pending.pop(msg["id"], None) if "id" in msg else None
                if fut is None:
                    await self.on_message(msg)
                elif not fut.done():
                    error = self.error_of(msg)
                    if error is not None:
                        fut.set_exception(self.Error(error))
                    else:
                        fut.set_result(msg.get("result"))
        finally:
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(self.Error(self.closed))

    async def send_command(self, method, message, timeout):
        """Sends `message` (method, params, ...) with a fresh id; its answer's result."""
        i = self.next_id
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.pending[i] = fut
        await self.ws.send(json.dumps({"id": i, **message}))
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self.pending.pop(i, None)
            raise self.Error("%s: no answer within %ss" % (method, timeout)) from None

    async def close(self):
        self.reader.cancel()
        await self.ws.close()


def stop_browser(proc, log):
    """Terminates a browser process (killed after 20 s) and closes its log file."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()
