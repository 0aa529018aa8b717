# SPDX-License-Identifier: Apache-2.0
"""The primitives every hybridgate Python test harness shares (integration, BLE, Chromium
interop): a failure type, an assertion and a bounded wait on an observable condition (never on
time alone); and a free loopback port for a server the test starts (ssh, nginx). The relay tests
keep their own collecting check() in tests/relay/relaytest.py (they import free_port() alone)."""
import socket
import time


class TestFailure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def wait_for(pred, timeout=10.0, what='condition', interval=0.02):
    """Polls pred() (a cheap query of an observable state) until it returns something true, which
    it returns; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TestFailure('timed out after %.1f s waiting for %s' % (timeout, what))
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bound to 0, then closed): for a server
    that takes a port number only. Another process may take it before the server binds it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
