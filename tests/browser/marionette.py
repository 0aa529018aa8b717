# SPDX-License-Identifier: Apache-2.0
"""A small Marionette client (Firefox's WebDriver classic protocol, spoken directly as geckodriver
does: "LENGTH:JSON" packets on a TCP socket, commands [0, id, name, params], answers
[1, id, error, result]). The tests use it for what WebDriver BiDi does not offer yet: the
WebAuthn virtual authenticator (WebAuthn:AddVirtualAuthenticator, the WebDriver "Add Virtual
Authenticator" command). The session is made with webSocketUrl, so the same session is also
driven over BiDi (bidi.py)."""

import asyncio
import json


class MarionetteError(Exception):
    pass


class Marionette:
    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.next_id = 1

    @classmethod
    async def connect(cls, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        m = cls(reader, writer)
        hello = await m._read()
        if not isinstance(hello, dict) or hello.get("applicationType") != "gecko":
            raise MarionetteError("not Marionette: %r" % (hello,))
        return m

    async def _read(self):
        length = await self.reader.readuntil(b":")
        data = await self.reader.readexactly(int(length[:-1]))
        return json.loads(data)

    async def cmd(self, name, params=None, timeout=60):
        i = self.next_id
        self.next_id += 1
        data = json.dumps([0, i, name, params or {}]).encode()
        self.writer.write(b"%d:%s" % (len(data), data))
        await self.writer.drain()
        while True:
            msg = await asyncio.wait_for(self._read(), timeout)
            if isinstance(msg, list) and len(msg) == 4 and msg[0] == 1 and msg[1] == i:
                if msg[2]:
                    raise MarionetteError("%s: %s" % (name, msg[2]))
                return msg[3]

    async def close(self):
        self.writer.close()
