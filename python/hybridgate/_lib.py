# SPDX-License-Identifier: Apache-2.0
"""ctypes bindings of libhybridgate's C ABI (include/hybridgate/hybridgate.h): only what the
package uses. Loading order: $HYBRIDGATE_LIBRARY (a path, e.g. a build tree's
lib/libhybridgate.so.0), then libhybridgate.so.0 through the dynamic loader's search path."""

import ctypes
import os

SONAME = "libhybridgate.so.0"
HG_OK, HG_ERR, HG_PENDING = 0, -1, 1
HG_HINT_MAKE_CREDENTIAL, HG_HINT_GET_ASSERTION = 0, 1
(HG_TIMEOUT_ADVERT, HG_TIMEOUT_CONNECT, HG_TIMEOUT_HANDSHAKE, HG_TIMEOUT_RESPONSE) = range(4)


class hg_error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_char * 64), ("message", ctypes.c_char * 512)]


QR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
STAGE_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p)
NOTICE_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)

_P = ctypes.c_void_p
_ERR = ctypes.POINTER(hg_error)
_SIGNATURES = {
    "hg_version": (ctypes.c_char_p, []),
    "hg_free": (None, [_P]),
    "hg_error_code": (ctypes.c_int, [_ERR]),
    "hg_config_new": (_P, []),
    "hg_config_free": (None, [ctypes.POINTER(_P)]),
    "hg_config_load": (ctypes.c_int, [_P, _ERR]),
    "hg_config_set_tunnel_url": (ctypes.c_int, [_P, ctypes.c_char_p, _ERR]),
    "hg_config_set_ca_file": (ctypes.c_int, [_P, ctypes.c_char_p, _ERR]),
    "hg_config_set_radio": (ctypes.c_int, [_P, ctypes.c_char_p, _ERR]),
    "hg_config_set_loopback_dir": (ctypes.c_int, [_P, ctypes.c_char_p, _ERR]),
    "hg_config_set_links_file": (ctypes.c_int, [_P, ctypes.c_char_p, _ERR]),
    "hg_config_set_link_phone": (ctypes.c_int, [_P, ctypes.c_int, _ERR]),
    "hg_config_set_phone": (ctypes.c_int, [_P, ctypes.c_char_p, _ERR]),
    "hg_config_set_qr_url_file": (ctypes.c_int, [_P, ctypes.c_char_p, _ERR]),
    "hg_config_set_timeout": (ctypes.c_int, [_P, ctypes.c_int, ctypes.c_uint32, _ERR]),
    "hg_config_set": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_char_p, _ERR]),
    "hg_config_setting_key": (ctypes.c_char_p, [ctypes.c_size_t]),
    "hg_desktop_new": (_P, [_P, _ERR]),
    "hg_desktop_free": (None, [ctypes.POINTER(_P)]),
    "hg_desktop_set_callbacks": (None, [_P, QR_CB, STAGE_CB, NOTICE_CB, _P]),
    "hg_desktop_create": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                         ctypes.POINTER(_P), _ERR]),
    "hg_desktop_get": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                      ctypes.POINTER(_P), _ERR]),
    "hg_desktop_cancel": (None, [_P]),
    "hg_desktop_connect": (_P, [_P, ctypes.c_int, ctypes.c_char_p, _ERR]),
    "hg_connection_get_info": (ctypes.c_int, [_P, ctypes.POINTER(_P), ctypes.POINTER(ctypes.c_size_t), _ERR]),
    "hg_connection_transact": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_P),
                                              ctypes.POINTER(ctypes.c_size_t), _ERR]),
    "hg_connection_close": (None, [ctypes.POINTER(_P)]),
}

_lib = None


def lib():
    """The loaded library (loaded on first use)."""
    global _lib
    if _lib is None:
        path = os.environ.get("HYBRIDGATE_LIBRARY") or SONAME
        try:
            handle = ctypes.CDLL(path)
        except OSError as e:
            raise ImportError(
                "cannot load %s (%s): install libhybridgate (cmake --install), or set HYBRIDGATE_LIBRARY to the "
                "library's path" % (path, e)) from None
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(handle, name)
            fn.restype = restype
            fn.argtypes = argtypes
        _lib = handle
    return _lib
