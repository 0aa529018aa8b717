# SPDX-License-Identifier: Apache-2.0
"""A PEP 517 build backend for the pure-Python hybridgate package, so that `pip install ./python`
works offline (no setuptools download into pip's isolated build environment). It writes a wheel
(PEP 427) and an sdist with the standard library's zipfile/tarfile; the metadata is read from
pyproject.toml with tomllib (Python >= 3.11) or, on older Pythons, from the fixed values below."""

import base64
import hashlib
import io
import os
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "hybridgate"


def _project():
    try:
        import tomllib
        with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
            return tomllib.load(f)["project"]
    except ImportError:
        return {"name": "hybridgate", "version": "0.2.0", "requires-python": ">=3.9",
                "description": "hybridgate for Python", "license": {"text": "Apache-2.0"}}


def _metadata():
    p = _project()
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\nLicense: %s\nRequires-Python: %s\n"
            % (p["name"], p["version"], p["description"], p["license"]["text"], p["requires-python"]))


def _dist_info():
    p = _project()
    return "%s-%s.dist-info" % (p["name"], p["version"])


def _package_files():
    base = os.path.join(ROOT, PACKAGE)
    for name in sorted(os.listdir(base)):
        if name.endswith(".py"):
            yield "%s/%s" % (PACKAGE, name), os.path.join(base, name)


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (path, digest, len(data))


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    d = os.path.join(metadata_directory, _dist_info())
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "METADATA"), "w") as f:
        f.write(_metadata())
    return _dist_info()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    p = _project()
    name = "%s-%s-py3-none-any.whl" % (p["name"], p["version"])
    dist = _dist_info()
    entries = [(arc, open(path, "rb").read()) for arc, path in _package_files()]
    entries.append((dist + "/METADATA", _metadata().encode()))
    entries.append((dist + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: hybridgate_build\nRoot-Is-Purelib: true\n"
                                     b"Tag: py3-none-any\n"))
    record = [_record_line(arc, data) for arc, data in entries] + [dist + "/RECORD,,"]
    entries.append((dist + "/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in entries:
            z.writestr(arc, data)
    return name


def build_sdist(sdist_directory, config_settings=None):
    p = _project()
    base = "%s-%s" % (p["name"], p["version"])
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in ["pyproject.toml", "_backend/hybridgate_build.py"] + [arc for arc, _ in _package_files()]:
            t.add(os.path.join(ROOT, rel), arcname=base + "/" + rel)
        info = tarfile.TarInfo(base + "/PKG-INFO")
        data = _metadata().encode()
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return name
