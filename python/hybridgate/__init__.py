# SPDX-License-Identifier: Apache-2.0
"""hybridgate for Python: sign in with a passkey on a phone (FIDO hybrid transport, "caBLE v2").

Two ways in, both over libhybridgate's C ABI (ctypes; no compiler needed):

* WebAuthn JSON, for relying-party code and scripts::

      import hybridgate
      cred = hybridgate.register(options_json, "https://example.com", on_qr=show)
      assertion = hybridgate.sign_in(options_json, "https://example.com", on_qr=show)

  ``options_json`` is PublicKeyCredentialCreationOptionsJSON / RequestOptionsJSON (a str or a dict,
  binary members base64url); the result is the PublicKeyCredential in its toJSON() form (a dict).

* python-fido2, unmodified::

      from fido2.client import Fido2Client
      client = Fido2Client(hybridgate.HybridDevice(on_qr=show), "https://example.com")
      result = client.make_credential(options["publicKey"])

  ``HybridDevice`` is a ``fido2.ctap.CtapDevice``. The phone is connected when python-fido2 first
  asks the device for its getInfo (Fido2Client does so in its constructor): the QR code is shown
  then, or the remembered phone is woken; the tunnel stays open for the requests that follow until
  ``close()`` (or the ``with`` block ends).

Configuration: the shared desktop configuration (the config file in $HYBRIDGATE_CONFIG or
$XDG_CONFIG_HOME/hybridgate/config, then the HYBRIDGATE_* variables), then keyword arguments named
as the config file's keys (docs/configuration.md): tunnel_url, ca_file, radio, adapter,
loopback_dir, links_file, phone, qr_url_file, link_phone, advert_timeout, connect_timeout,
handshake_timeout, response_timeout (seconds). The list is the library's own
(hg_config_setting_key), so a setting the library gains is a keyword here at once.

Callbacks (keyword arguments, all optional, called on the thread that runs the ceremony):
``on_qr(url)`` the FIDO:/ URL to show as a QR code (it holds the ceremony's secret: show it, never
log it); ``on_stage(stage, detail)`` progress ("qr_shown", "scanning", "phone_found",
"tunnel_connected", "secure_channel", "waiting_for_user", "done"); ``on_notice(sentence)``.

Errors are raised as ``HybridgateError`` with ``.code``, the library's stable code
("session.no_advert", "ctap.operation_denied", "tunnel.unreachable", "config.invalid", ...).
"""

import ctypes
import json
import threading

from . import _lib

try:  # python-fido2 is optional: HybridDevice needs it, register()/sign_in() do not.
    from fido2.ctap import CtapDevice as _CtapDeviceBase
    from fido2.ctap import CtapError as _CtapError
except ImportError:  # pragma: no cover - exercised only without python-fido2
    _CtapDeviceBase = object
    _CtapError = None

__all__ = ["HybridgateError", "HybridDevice", "register", "sign_in", "library_version"]

CTAPHID_CBOR = 0x10
CAPABILITY_CBOR = 0x04
CTAP_GET_INFO = 0x04


def _config_keys():
    """The desktop settings the library has (docs/configuration.md), asked of the library itself."""
    lib = _lib.lib()
    keys, i = set(), 0
    while True:
        k = lib.hg_config_setting_key(i)
        if not k:
            return keys
        keys.add(k.decode())
        i += 1


class HybridgateError(Exception):
    """A failure reported by libhybridgate: ``code`` is stable (compare it), ``number`` the same code
    as the C header's ``hg_errc`` value (``HG_E_CTAP_OPERATION_DENIED``, ...), ``message`` is for
    people."""

    def __init__(self, code, message, number=None):
        super().__init__("%s [%s]" % (message, code))
        self.code = code
        self.message = message
        self.number = number


def _raise(err):
    number = _lib.lib().hg_error_code(ctypes.byref(err))
    raise HybridgateError(err.code.decode("utf-8", "replace"), err.message.decode("utf-8", "replace"), number)


def library_version():
    """The loaded libhybridgate's version, "MAJOR.MINOR.PATCH"."""
    return _lib.lib().hg_version().decode()


def _text(value, what):
    if not isinstance(value, str):
        raise TypeError("%s must be a str" % what)
    if "\0" in value:
        raise ValueError("%s contains a NUL character" % what)
    return value.encode("utf-8")


class _Desktop:
    """An hg_desktop with its configuration and callbacks (internal)."""

    def __init__(self, config, on_qr=None, on_stage=None, on_notice=None):
        unknown = set(config) - _config_keys()
        if unknown:
            raise TypeError("unknown configuration keyword(s): %s" % ", ".join(sorted(unknown)))
        lib = _lib.lib()
        err = _lib.hg_error()
        cfg = ctypes.c_void_p(lib.hg_config_new())
        if not cfg:
            raise MemoryError("hg_config_new")
        self._handle = None
        try:
            if lib.hg_config_load(cfg, ctypes.byref(err)) != _lib.HG_OK:
                _raise(err)
            for key, value in config.items():
                if value is None:
                    continue
                if isinstance(value, bool):
                    text = "true" if value else "false"
                elif isinstance(value, (int, float)):
                    text = repr(float(value))
                else:
                    text = str(value)
                rc = lib.hg_config_set(cfg, key.encode(), _text(text, key), ctypes.byref(err))
                if rc != _lib.HG_OK:
                    _raise(err)
            handle = lib.hg_desktop_new(cfg, ctypes.byref(err))
            if not handle:
                _raise(err)
            self._handle = ctypes.c_void_p(handle)
        finally:
            lib.hg_config_free(ctypes.byref(cfg))
        self.callback_error = None

        def guard(fn):  # an exception in a callback cancels the ceremony and is re-raised after it
            def call(*args):
                try:
                    fn(*args)
                except BaseException as e:  # noqa: B902 - handed back to the caller
                    self.callback_error = self.callback_error or e
                    lib.hg_desktop_cancel(self._handle)
            return call

        decode = lambda b: b.decode("utf-8", "replace") if b is not None else ""  # noqa: E731
        # The ctypes callback objects must live as long as the desktop: kept on self.
        self._qr = _lib.QR_CB(guard(lambda _u, url: on_qr(decode(url))) if on_qr else 0)
        self._stage = _lib.STAGE_CB(guard(lambda _u, s, d: on_stage(decode(s), decode(d))) if on_stage else 0)
        self._notice = _lib.NOTICE_CB(guard(lambda _u, s: on_notice(decode(s))) if on_notice else 0)
        lib.hg_desktop_set_callbacks(self._handle, self._qr, self._stage, self._notice, None)

    def cancel(self):
        if self._handle:
            _lib.lib().hg_desktop_cancel(self._handle)

    def check_callbacks(self):
        if self.callback_error is not None:
            e, self.callback_error = self.callback_error, None
            raise e

    def close(self):
        if self._handle:
            _lib.lib().hg_desktop_free(ctypes.byref(self._handle))
            self._handle = None

    def cancellable(self, event, fn):
        """Runs fn() (a blocking library call); a threading.Event that gets set cancels it."""
        if event is None:
            return fn()
        if event.is_set():
            raise HybridgateError("session.cancelled", "The operation was cancelled.")
        done = threading.Event()

        def watch():
            while not done.is_set():
                if event.wait(0.1):  # no event can wait on two events: re-check `done` every 100 ms
                    self.cancel()
                    return

        watcher = threading.Thread(target=watch, name="hybridgate-cancel", daemon=True)
        watcher.start()
        try:
            return fn()
        finally:
            done.set()
            watcher.join()


def _ceremony(kind, options_json, origin, phone, event, callbacks, config):
    if isinstance(options_json, (dict, list)):
        options_json = json.dumps(options_json)
    options, org = _text(options_json, "options_json"), _text(origin, "origin")
    ph = _text(phone, "phone") if phone else None
    desktop = _Desktop(config, **callbacks)
    lib = _lib.lib()
    try:
        err = _lib.hg_error()
        out = ctypes.c_void_p()
        fn = lib.hg_desktop_create if kind == "create" else lib.hg_desktop_get
        rc = desktop.cancellable(event, lambda: fn(desktop._handle, options, org, ph, ctypes.byref(out),
                                                   ctypes.byref(err)))
        desktop.check_callbacks()
        if rc != _lib.HG_OK:
            _raise(err)
        try:
            return json.loads(ctypes.string_at(out).decode("utf-8"))
        finally:
            lib.hg_free(out)
    finally:
        desktop.close()


def register(options_json, origin, *, phone=None, event=None, on_qr=None, on_stage=None, on_notice=None, **config):
    """navigator.credentials.create() with a phone: the registration's PublicKeyCredential JSON (a dict).
    ``phone``: a remembered phone's name (no QR code). ``event``: a threading.Event that cancels."""
    return _ceremony("create", options_json, origin, phone, event,
                     dict(on_qr=on_qr, on_stage=on_stage, on_notice=on_notice), config)


def sign_in(options_json, origin, *, phone=None, event=None, on_qr=None, on_stage=None, on_notice=None, **config):
    """navigator.credentials.get() with a phone: the assertion's PublicKeyCredential JSON (a dict)."""
    return _ceremony("get", options_json, origin, phone, event,
                     dict(on_qr=on_qr, on_stage=on_stage, on_notice=on_notice), config)


class HybridDevice(_CtapDeviceBase):
    """A python-fido2 CtapDevice that is a phone, reached through the hybrid transport.

    Keyword arguments: ``request`` ("get" (default) or "create": what the QR code announces),
    ``phone`` (a remembered phone's name: no QR code), the callbacks ``on_qr``, ``on_stage``,
    ``on_notice``, and the configuration keywords of this module. Only CTAP2 over CTAPHID_CBOR is
    spoken (``capabilities`` says CBOR); the phone is connected on the first call and stays
    connected until close(). After a failed call the device is closed; make a new one.
    """

    def __init__(self, *, request="get", phone=None, on_qr=None, on_stage=None, on_notice=None, **config):
        if request not in ("get", "create"):
            raise ValueError('request must be "get" or "create"')
        self._hint = _lib.HG_HINT_GET_ASSERTION if request == "get" else _lib.HG_HINT_MAKE_CREDENTIAL
        self._phone = _text(phone, "phone") if phone else None
        self._desktop = _Desktop(config, on_qr=on_qr, on_stage=on_stage, on_notice=on_notice)
        self._conn = None
        self._info = None
        self._lock = threading.Lock()  # one request at a time

    @property
    def capabilities(self):
        return CAPABILITY_CBOR

    @property
    def product_name(self):
        return "hybridgate phone"

    def __repr__(self):
        return "HybridDevice(%s)" % ("connected" if self._conn else "not connected")

    def _connect(self, event):
        if self._conn is not None:
            return
        if self._desktop is None:
            raise HybridgateError("invalid_argument", "This HybridDevice is closed; make a new one.")
        lib = _lib.lib()
        err = _lib.hg_error()
        handle = self._desktop.cancellable(
            event, lambda: lib.hg_desktop_connect(self._desktop._handle, self._hint, self._phone, ctypes.byref(err)))
        self._desktop.check_callbacks()
        if not handle:
            self.close()
            _raise(err)
        self._conn = ctypes.c_void_p(handle)
        ptr, size = ctypes.c_void_p(), ctypes.c_size_t()
        if lib.hg_connection_get_info(self._conn, ctypes.byref(ptr), ctypes.byref(size), ctypes.byref(err)) != 0:
            self.close()
            _raise(err)
        self._info = ctypes.string_at(ptr, size.value)

    def call(self, cmd, data=b"", event=None, on_keepalive=None):
        if cmd != CTAPHID_CBOR:
            if _CtapError is not None:
                raise _CtapError(_CtapError.ERR.INVALID_COMMAND)
            raise HybridgateError("ctap.invalid_command", "Only CTAP2 (CTAPHID_CBOR) requests go to a phone.")
        data = bytes(data)
        if not data:
            raise ValueError("a CTAP2 request starts with its command byte")
        with self._lock:
            self._connect(event)
            if data[0] == CTAP_GET_INFO:  # from the handshake: no round trip
                return b"\x00" + self._info
            lib = _lib.lib()
            err = _lib.hg_error()
            out, size = ctypes.c_void_p(), ctypes.c_size_t()
            rc = self._desktop.cancellable(event, lambda: lib.hg_connection_transact(
                self._conn, data, len(data), ctypes.byref(out), ctypes.byref(size), ctypes.byref(err)))
            if rc != _lib.HG_OK:
                self.close()
                _raise(err)
            try:
                return ctypes.string_at(out, size.value)
            finally:
                lib.hg_free(out)

    def close(self):
        """Closes the tunnel (the phone learns at once) and releases the library's handles."""
        if self._conn is not None:
            _lib.lib().hg_connection_close(ctypes.byref(self._conn))
            self._conn = None
        if self._desktop is not None:
            self._desktop.close()
            self._desktop = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    @classmethod
    def list_devices(cls, **kwargs):
        """One device: the phone (connected when first used)."""
        yield cls(**kwargs)
