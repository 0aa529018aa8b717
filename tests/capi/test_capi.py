#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""libhybridgate as an installed library: the exported symbols, the installed files, headers that
compile alone, the manual pages, and consumers built from the install prefix (a C program with
pkg-config, a CMake project with find_package(hybridgate), a C++ program on the static archive)
that register and sign in against `hybridgate phone` through our relay (loopback radio), each
credential checked by the independent WebAuthn verifier (tests/tools/webauthn_verify.py). The
options come from a relying-party library (python-fido2's Fido2Server), not from hand-written JSON.

usage: test_capi.py --build BUILD_DIR --prefix PREFIX [--sanitize] [--cc CC] [--cxx CXX] [TEST_NAME]
  install        (the CTest fixture) cmake --install BUILD_DIR --prefix PREFIX, from scratch
  other tests    use PREFIX; the programs they run (hybridgate, hybridgate-relay) are the installed ones
  --sanitize     build the consumers with -fsanitize=address,undefined (the HG_SANITIZE build)"""

import argparse
import base64
import glob
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from hgtest import Proc, Relay, Workdir, check, phone, run_selected, to_json, verify, wait_for  # noqa: E402

from fido2.cose import CoseKey  # noqa: E402
from fido2 import cbor  # noqa: E402
from fido2.ctap2 import AttestedCredentialData  # noqa: E402
from fido2.server import Fido2Server  # noqa: E402
from fido2.webauthn import PublicKeyCredentialRpEntity  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--build", required=True)
ap.add_argument("--prefix", required=True)
ap.add_argument("--sanitize", action="store_true")
ap.add_argument("--cc", default="cc")
ap.add_argument("--cxx", default="c++")
ap.add_argument("test", nargs="?")
ARGS = ap.parse_args()
BUILD, PREFIX = os.path.abspath(ARGS.build), os.path.abspath(ARGS.prefix)
BIN = os.path.join(PREFIX, "bin")
SAN = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"] if ARGS.sanitize else []
RP, ORIGIN = "example.com", "https://example.com"
C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def run(argv, what, env=None, timeout=600):
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    check(r.returncode == 0, "%s failed (%d): %s\n%s%s" % (what, r.returncode, " ".join(argv), r.stdout, r.stderr))
    return r.stdout


def libdir():
    """The installed library directory (lib, lib64 or lib/<multiarch>: GNUInstallDirs decides)."""
    found = glob.glob(os.path.join(PREFIX, "lib*", "libhybridgate.so")) + \
        glob.glob(os.path.join(PREFIX, "lib", "*", "libhybridgate.so"))
    check(len(found) == 1, "expected one installed libhybridgate.so, found %s" % found)
    return os.path.dirname(found[0])


def pkg_env():
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = os.path.join(libdir(), "pkgconfig")
    return env


# ---- options from a relying-party library (python-fido2 0.9) as WebAuthn JSON (hgtest.to_json) -----

def rp_server():
    return Fido2Server(PublicKeyCredentialRpEntity(RP, "Example"), verify_origin=lambda o: o == ORIGIN)


def creation_options(user):
    opts, _ = rp_server().register_begin({"id": os.urandom(16), "name": user, "displayName": user.title()},
                                         resident_key=True, user_verification="preferred")
    j = to_json(opts)
    return j, j["publicKey"]["challenge"]


def request_options(stored):
    known = AttestedCredentialData.create(bytes.fromhex(stored["aaguid"]),
                                          base64.urlsafe_b64decode(stored["credential_id"] + "=="),
                                          CoseKey.parse(cbor.decode(base64.urlsafe_b64decode(stored["public_key_cose"] + "=="))))
    opts, _ = rp_server().authenticate_begin([known], user_verification="discouraged")
    j = to_json(opts)
    return j, j["publicKey"]["challenge"]


# ---- a consumer program against `hybridgate phone` ------------------------------------------------------

def consumer_ceremony(wd, relay, exe, kind, options, mode="blocking", store=None, extra=(), phone_args=("--yes",),
                      name="c", serve=True):
    """Runs `exe create|get` and, when `serve`, a `hybridgate phone` for its QR code. Returns the
    consumer's Proc (finished)."""
    opts_file, qr_file = wd.file(name + ".options.json"), wd.file(name + ".qr")
    with open(opts_file, "w") as f:
        json.dump(options, f)
    c = Proc([exe, kind, "--mode", mode, "--tunnel-url", relay.url, "--origin", ORIGIN, "--options", opts_file,
              "--qr-file", qr_file, *extra], wd, name)
    if serve:
        wait_for(lambda: os.path.exists(qr_file) or c.proc.poll() is not None, 30, "the consumer's QR file")
        check(os.path.exists(qr_file), "%s exited before its QR code:\n%s" % (name, c.stderr()))
        p = phone(BIN, wd, open(qr_file).read().strip(), relay.url, store, *phone_args, name=name + "-phone")
        check(p.wait(90) == 0, "hybridgate phone failed:\n" + p.stderr())
    c.wait(90)
    return c


def register_and_sign_in(wd, relay, exe, mode, label):
    """Registration then sign-in through `exe`, both verified; the stages arrive in order."""
    store = wd.file(label + "-store.json")
    opts, challenge = creation_options("alice")
    c = consumer_ceremony(wd, relay, exe, "create", opts, mode, store, name=label + "-reg")
    check(c.proc.returncode == 0, "%s registration failed:\n%s\n%s" % (label, c.stdout(), c.stderr()))
    cred = c.json()
    rc, stored, err = verify("register", cred, rp_id=RP, origin=ORIGIN, challenge=challenge)
    check(rc == 0, "the verifier rejected %s's registration: %s" % (label, err))
    stages = [l.split(" ", 1)[1] for l in c.stderr().splitlines() if l.startswith("stage ")]
    want = ["qr_shown", "scanning", "phone_found", "tunnel_connected", "secure_channel", "waiting_for_user", "done"]
    check([s for s in stages if s in want] == want, "%s: stages %s, expected %s in order" % (label, stages, want))

    opts, challenge = request_options(stored)
    check(opts["publicKey"]["allowCredentials"][0]["id"] == cred["id"], "the RP library's allow list")
    c = consumer_ceremony(wd, relay, exe, "get", opts, mode, store, name=label + "-sign")
    check(c.proc.returncode == 0, "%s sign-in failed:\n%s\n%s" % (label, c.stdout(), c.stderr()))
    stored_path = wd.file(label + "-stored.json")
    with open(stored_path, "w") as f:
        json.dump(stored, f)
    # request_options() says userVerification "discouraged": the verifier does not require it.
    rc, out, err = verify("authenticate", c.json(), rp_id=RP, origin=ORIGIN, challenge=challenge, stored=stored_path,
                          prev_sign_count=stored["sign_count"], no_require_uv=True)
    check(rc == 0, "the verifier rejected %s's assertion: %s" % (label, err))
    check(out["credential_id"] == cred["id"], "signed in with another credential")
    return cred, stored


def selftest(wd, exe, name):
    p = Proc([exe, "selftest"], wd, name)
    check(p.wait(120) == 0, "%s selftest failed:\n%s%s" % (name, p.stdout(), p.stderr()))
    check("selftest ok" in p.stdout(), "%s selftest printed no verdict" % name)


# ---- tests ----------------------------------------------------------------------------------------------

def test_install():
    """The CTest fixture: a fresh install into PREFIX."""
    shutil.rmtree(PREFIX, ignore_errors=True)
    run(["cmake", "--install", BUILD, "--prefix", PREFIX], "cmake --install")


def test_install_layout():
    lib = libdir()
    real = os.path.realpath(os.path.join(lib, "libhybridgate.so"))
    check(os.path.basename(real) == "libhybridgate.so.0.2.0", "libhybridgate.so -> %s" % real)
    check(os.path.realpath(os.path.join(lib, "libhybridgate.so.0")) == real, "no libhybridgate.so.0 symlink")
    soname = re.search(r"SONAME\)?\s+Library soname: \[(.*)\]", run(["readelf", "-d", real], "readelf"))
    check(soname and soname.group(1) == "libhybridgate.so.0", "SONAME: %s" % (soname and soname.group(1)))
    # What people build on is the C ABI and its façade: no internal layer is installed (issue 22).
    check(not glob.glob(os.path.join(lib, "libhybridgate_cxx*")), "an internal archive is installed")
    check(sorted(os.listdir(os.path.join(PREFIX, "include", "hybridgate"))) == ["hybridgate.h", "hybridgate.hpp"],
          "include/hybridgate holds %s" % sorted(os.listdir(os.path.join(PREFIX, "include", "hybridgate"))))
    # The OpenSSH security-key provider, next to the library it loads (RUNPATH $ORIGIN), exporting
    # OpenSSH's four middleware functions and nothing else.
    sk = os.path.join(lib, "libhybridgate-sk.so")
    check(os.path.isfile(sk) and not os.path.islink(sk), "no libhybridgate-sk.so")
    dyn = run(["readelf", "-d", sk], "readelf")
    check("libhybridgate.so.0" in dyn and "[$ORIGIN]" in dyn, "libhybridgate-sk.so: NEEDED/RUNPATH:\n" + dyn)
    sk_syms = sorted(l.split()[-1] for l in run(["nm", "-D", "--defined-only", sk], "nm").splitlines())
    check(sk_syms == ["sk_api_version", "sk_enroll", "sk_load_resident_keys", "sk_sign"],
          "libhybridgate-sk.so exports %s" % sk_syms)
    for f in ("bin/hybridgate", "bin/hybridgate-relay", "include/hybridgate/hybridgate.h",
              "include/hybridgate/hybridgate.hpp",
              "share/man/man1/hybridgate.1", "share/man/man8/hybridgate-relay.8",
              "share/doc/hybridgate/relay.conf.example", "share/doc/hybridgate/LICENSE",
              "share/hybridgate/python/pyproject.toml", "share/hybridgate/python/hybridgate/__init__.py",
              "share/hybridgate/python/_backend/hybridgate_build.py",
              "lib/systemd/system/hybridgate-relay.service", "lib/systemd/system/hybridgate-relay.socket",
              "lib/systemd/user/hybridgate-key.service",
              "lib/udev/rules.d/70-hybridgate-uhid.rules", "lib/modules-load.d/hybridgate-uhid.conf",
              "libexec/hybridgate/hybridgate-key-window"):
        check(os.path.exists(os.path.join(PREFIX, f)), "not installed: " + f)
    # The manual pages of the C library and the PAM module; docs/*.md (which the README, the
    # manual pages and hybridgate.pc name) beside the README under the documentation directory,
    # so that every docs/ link of the installed README resolves.
    for f in ("share/man/man3/libhybridgate.3", "share/man/man8/pam_hybridgate.8", "share/doc/hybridgate/README.md"):
        check(os.path.exists(os.path.join(PREFIX, f)), "not installed: " + f)
    docdir = os.path.join(PREFIX, "share", "doc", "hybridgate")
    for md in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        check(os.path.isfile(os.path.join(docdir, "docs", os.path.basename(md))),
              "not installed: share/doc/hybridgate/docs/" + os.path.basename(md))
    readme = open(os.path.join(docdir, "README.md")).read()
    links = set(re.findall(r"\]\((docs/[^)#]+)", readme))
    check(len(links) >= 5, "the installed README links no docs/: %s" % links)
    for link in sorted(links):
        check(os.path.exists(os.path.join(docdir, link)), "the installed README links %s, which is not installed" % link)
    for f in ("pkgconfig/hybridgate.pc", "cmake/hybridgate/hybridgateConfig.cmake",
              "cmake/hybridgate/hybridgateConfigVersion.cmake"):
        check(os.path.exists(os.path.join(lib, f)), "not installed: " + f)
    unit = open(os.path.join(PREFIX, "lib/systemd/system/hybridgate-relay.service")).read()
    check("ExecStart=%s/bin/hybridgate-relay --config" % PREFIX in unit, "the unit's ExecStart does not name the installed relay")
    unit = open(os.path.join(PREFIX, "lib/systemd/user/hybridgate-key.service")).read()
    check("ExecStart=%s/bin/hybridgate key " % PREFIX in unit, "the key unit's ExecStart does not name the installed hybridgate")
    # The PAM module in LIBDIR/security (the PAM module directory for the prefix /usr), exporting
    # the PAM service functions only, finding this prefix's libhybridgate.so.0 through its RUNPATH.
    pam = os.path.join(lib, "security", "pam_hybridgate.so")
    check(os.path.isfile(pam) and not os.path.islink(pam), "no security/pam_hybridgate.so")
    pam_syms = sorted(l.split()[-1] for l in run(["nm", "-D", "--defined-only", pam], "nm").splitlines())
    check(pam_syms == ["pam_sm_authenticate", "pam_sm_setcred"], "pam_hybridgate.so exports %s" % pam_syms)
    ldd = run(["ldd", pam], "ldd")
    check(re.search(r"libhybridgate\.so\.0 => " + re.escape(os.path.realpath(lib)), ldd) or
          re.search(r"libhybridgate\.so\.0 => " + re.escape(lib), ldd),
          "pam_hybridgate.so does not load the installed library:\n" + ldd)
    env = pkg_env()
    check(run(["pkg-config", "--modversion", "hybridgate"], "pkg-config", env).strip() == "0.2.0", "pkg-config version")
    cflags = run(["pkg-config", "--cflags", "hybridgate"], "pkg-config", env).split()
    check(cflags == ["-I" + os.path.join(PREFIX, "include")], "pkg-config --cflags: %s" % cflags)
    out = run([os.path.join(BIN, "hybridgate"), "--version"], "hybridgate --version")
    check("0.2.0" in out, "hybridgate --version: %s" % out)
    # `hybridgate pam enroll` and `hybridgate key` run the bridges' programs from PREFIX/libexec
    # (git-style), and hybridgate-pam-enroll loads this prefix's library.
    for prog, argv in (("hybridgate-pam-enroll", ["pam", "enroll", "--help"]), ("hybridgate-key", ["key", "--help"])):
        path = os.path.join(PREFIX, "libexec", "hybridgate", prog)
        check(os.access(path, os.X_OK), "not installed: libexec/hybridgate/" + prog)
        out = run([os.path.join(BIN, "hybridgate"), *argv], "hybridgate " + " ".join(argv),
                  env=dict(os.environ, PATH="/usr/bin:/bin"))
        check("--tunnel-url" in out and "Usage: hybridgate " + argv[0] in out,
              "hybridgate %s did not run the installed %s:\n%s" % (" ".join(argv), prog, out))
    check(os.access(os.path.join(PREFIX, "libexec", "hybridgate", "hybridgate-key-show"), os.X_OK),
          "not installed: libexec/hybridgate/hybridgate-key-show (register/sign-in --no-terminal-qr run it)")
    ldd = run(["ldd", os.path.join(PREFIX, "libexec", "hybridgate", "hybridgate-pam-enroll")], "ldd")
    check(re.search(r"libhybridgate\.so\.0 => " + re.escape(os.path.realpath(lib)), ldd) or
          re.search(r"libhybridgate\.so\.0 => " + re.escape(lib), ldd),
          "hybridgate-pam-enroll does not load the installed library:\n" + ldd)


def test_exports():
    """The shared library's dynamic symbol table holds exactly the functions hybridgate.h declares,
    nothing else (no C++, Boost, OpenSSL or libcbor symbols); the 0.1 functions (abi/'s baseline)
    keep node HYBRIDGATE_0 and every later one is in a later node (HYBRIDGATE_0.2, ...)."""
    so = os.path.join(libdir(), "libhybridgate.so")
    header = open(os.path.join(PREFIX, "include", "hybridgate", "hybridgate.h")).read()
    header = re.sub(r"/\*.*?\*/", "", header, flags=re.S)
    declared = set(re.findall(r"\b(hg_[a-z0-9_]+)\s*\(", header))
    declared -= {n for n in declared if re.search(r"typedef\s+\w+\s*\*?\s*" + n + r"\s*\(", header)}  # callback types
    check(len(declared) >= 30, "parsed only %d functions from the header" % len(declared))
    exported, other, node_of = set(), [], {}
    for line in run(["nm", "-D", "--defined-only", so], "nm").splitlines():
        parts = line.split()
        kind, name = parts[-2], parts[-1]
        if kind == "A" and re.fullmatch(r"HYBRIDGATE_0(\.[0-9]+)?", name):
            continue
        m = re.fullmatch(r"(hg_[a-z0-9_]+)@@(HYBRIDGATE_0(?:\.[0-9]+)?)", name)
        if m and kind == "T":
            exported.add(m.group(1))
            node_of[m.group(1)] = m.group(2)
        else:
            other.append(line)
    baseline = set(re.findall(r"elf-symbol name='(hg_[a-z0-9_]+)'", open(os.path.join(ROOT, "abi", "libhybridgate-0.1.xml")).read()))
    check(len(baseline) >= 30, "the 0.1 baseline lists only %d functions" % len(baseline))
    moved = sorted(n for n in baseline if node_of.get(n) != "HYBRIDGATE_0")
    check(not moved, "0.1 functions missing or not in node HYBRIDGATE_0: %s" % moved)
    unversioned = sorted(n for n in exported - baseline if node_of[n] == "HYBRIDGATE_0")
    check(not unversioned, "functions added after 0.1 but in node HYBRIDGATE_0 (list them in cmake/hybridgate.map's "
          "newest node): %s" % unversioned)
    check(not other, "symbols other than hg_* are exported:\n" + "\n".join(other[:40]))
    check(exported == declared, "exported but not declared: %s; declared but not exported: %s"
          % (sorted(exported - declared), sorted(declared - exported)))
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", run(["readelf", "-d", so], "readelf"))
    check(not [n for n in needed if "boost" in n], "links a Boost shared library: %s" % needed)


def test_headers_compile_alone():
    """Every installed C header compiles alone as C99 (and as C++: extern "C"), the C++ façade alone
    as C++17 with only the install prefix and system headers (nothing else is installed: the layers'
    headers are internals, test_install_layout)."""
    inc = os.path.join(PREFIX, "include")
    c_headers = sorted(glob.glob(os.path.join(inc, "hybridgate", "*.h")))
    check(c_headers, "no C headers installed")
    for h in c_headers:
        rel = os.path.relpath(h, inc)
        src = '#include <%s>\nint main(void) { return 0; }\n' % rel
        for argv in ([ARGS.cc, *C_FLAGS, "-I" + inc, "-x", "c", "-fsyntax-only", "-"],
                     [ARGS.cxx, "-std=c++11", "-Wall", "-Wextra", "-pedantic", "-Werror", "-I" + inc, "-x", "c++",
                      "-fsyntax-only", "-"]):
            r = subprocess.run(argv, input=src, capture_output=True, text=True)
            check(r.returncode == 0, "%s does not compile alone (%s):\n%s" % (rel, argv[0], r.stderr))
    # The C++ façade over the C ABI: C++17, the install prefix only, and no internal header in it.
    hpp = os.path.join(inc, "hybridgate", "hybridgate.hpp")
    check(os.path.exists(hpp), "not installed: include/hybridgate/hybridgate.hpp")
    r = subprocess.run([ARGS.cxx, "-std=c++17", "-Wall", "-Wextra", "-pedantic", "-Werror", "-I" + inc, "-x", "c++",
                        "-fsyntax-only", "-"], input="#include <hybridgate/hybridgate.hpp>\n", capture_output=True, text=True)
    check(r.returncode == 0, "hybridgate/hybridgate.hpp does not compile alone:\n" + r.stderr)
    includes = re.findall(r'#include [<"]([^>"]+)[>"]', open(hpp).read())
    check(all(i == "hybridgate/hybridgate.h" or "/" not in i for i in includes),
          "hybridgate.hpp includes more than the C header and the standard library: %s" % includes)



def test_man_pages():
    """The manual pages format without groff warnings and man(1) renders them."""
    for page in ("man1/hybridgate.1", "man8/hybridgate-relay.8", "man3/libhybridgate.3", "man8/pam_hybridgate.8"):
        path = os.path.join(PREFIX, "share", "man", page)
        r = subprocess.run(["groff", "-man", "-ww", "-z", path], capture_output=True, text=True)
        check(r.returncode == 0 and r.stderr == "", "groff warnings for %s:\n%s" % (page, r.stderr))
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
        r = subprocess.run(["man", "-l", path], capture_output=True, text=True, env=env)
        check(r.returncode == 0 and "SYNOPSIS" in r.stdout, "man -l %s failed:\n%s" % (page, r.stderr))
        check(r.stderr.strip() == "", "man -l %s warns:\n%s" % (page, r.stderr))
    # libhybridgate(3)'s example is C that compiles against the installed header (C99, warnings
    # as errors), and it loads the person's configuration before making the desktop.
    src = open(os.path.join(PREFIX, "share/man/man3/libhybridgate.3")).read()
    example = src.split(".SH EXAMPLES", 1)[1].split(".nf\n", 1)[1].split("\n.fi", 1)[0]
    example = example.replace("\\e", "\\").replace("\\-", "-")
    check(example.index("hg_config_load") < example.index("hg_desktop_new"), "the example skips hg_config_load")
    wd = Workdir("capi-man-example")
    c = wd.file("example.c")
    with open(c, "w") as f:
        f.write(example)
    run([ARGS.cc, *C_FLAGS, "-c", "-o", wd.file("example.o"), "-I" + os.path.join(PREFIX, "include"), c],
        "compiling libhybridgate(3)'s example")
    header = open(os.path.join(PREFIX, "include/hybridgate/hybridgate.h")).read().split("#ifndef", 1)[0]
    check(header.index("hg_config_load") < header.index("hg_desktop_new"), "the header's example skips hg_config_load")
    text = subprocess.run(["man", "-l", os.path.join(PREFIX, "share/man/man1/hybridgate.1")], capture_output=True,
                          text=True, env=dict(os.environ, MANWIDTH="200")).stdout
    for sub in ("register", "sign-in", "phone", "links", "doctor", "inspect", "--options-json", "key", "--uhid"):
        check(sub in text, "hybridgate(1) does not mention %s" % sub)


def build_pkgconfig_consumer(wd):
    env = pkg_env()
    flags = run(["pkg-config", "--cflags", "--libs", "hybridgate"], "pkg-config", env).split()
    exe = wd.file("consumer-pkgconfig")
    run([ARGS.cc, *C_FLAGS, *SAN, "-o", exe, os.path.join(HERE, "consumer.c"), *flags, "-pthread",
         "-Wl,-rpath," + libdir()], "building the pkg-config consumer")
    return exe


def build_cmake_consumer(wd):
    src, bld = os.path.join(HERE, "cmake-consumer"), wd.file("cmake-consumer")
    san = " ".join(SAN)
    run(["cmake", "-S", src, "-B", bld, "-G", "Ninja", "-DCMAKE_PREFIX_PATH=" + PREFIX, "-DCMAKE_BUILD_TYPE=Debug",
         "-DCMAKE_C_FLAGS=" + san, "-DCMAKE_CXX_FLAGS=" + san, "-DCMAKE_C_COMPILER=" + ARGS.cc,
         "-DCMAKE_CXX_COMPILER=" + ARGS.cxx], "configuring the CMake consumer")
    run(["cmake", "--build", bld, "-j", "2"], "building the CMake consumer")
    return os.path.join(bld, "consumer_c"), os.path.join(bld, "consumer_cxx")


def test_pkgconfig_consumer():
    """A C program built with `pkg-config --cflags --libs hybridgate`: the API self-test (errors,
    cancel from another thread, blocking and non-blocking), then a registration and a sign-in in the
    non-blocking form (a poll() loop on hg_desktop_fd) against `hybridgate phone`."""
    wd = Workdir("capi-pc")
    relay = None
    try:
        exe = build_pkgconfig_consumer(wd)
        selftest(wd, exe, "pc-selftest")
        relay = Relay(BIN, wd)
        register_and_sign_in(wd, relay, exe, "async", "pc")
    finally:
        if relay:
            relay.stop()
        wd.cleanup()


def test_cmake_consumer():
    """A CMake project with find_package(hybridgate): its C program and its C++ program (the façade
    <hybridgate/hybridgate.hpp>), both linking hybridgate::hybridgate only, register and sign in
    with the blocking form. Asking for 0.1's internal component cxx fails with a sentence that
    names the façade."""
    wd = Workdir("capi-cmake")
    relay = None
    try:
        exe_c, exe_cxx = build_cmake_consumer(wd)
        old = wd.file("cmake-old")
        os.makedirs(old, exist_ok=True)
        with open(os.path.join(old, "CMakeLists.txt"), "w") as f:
            f.write("cmake_minimum_required(VERSION 3.16)\nproject(old CXX)\n"
                    "find_package(hybridgate REQUIRED COMPONENTS cxx)\n")
        p = subprocess.run(["cmake", "-S", old, "-B", os.path.join(old, "b"), "-DCMAKE_PREFIX_PATH=" + PREFIX],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode != 0 and "hybridgate/hybridgate.hpp" in p.stdout + p.stderr,
              "find_package(hybridgate COMPONENTS cxx): rc %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
        relay = Relay(BIN, wd)
        register_and_sign_in(wd, relay, exe_c, "blocking", "cmake-c")
        register_and_sign_in(wd, relay, exe_cxx, "blocking", "cmake-cxx")
    finally:
        if relay:
            relay.stop()
        wd.cleanup()


def test_remembered_phone():
    """Linking through the C API: a QR registration with hg_config_set_link_phone, the phone listed by
    hg_desktop_phones, a sign-in by name (no QR code; the relay wakes `hybridgate phone --listen`),
    verified; then hg_desktop_forget."""
    wd = Workdir("capi-link")
    relay = Relay(BIN, wd)
    try:
        exe = build_pkgconfig_consumer(wd)
        store, links = wd.file("store.json"), wd.file("links.json")
        opts, challenge = creation_options("erin")
        c = consumer_ceremony(wd, relay, exe, "create", opts, "async", store, extra=("--link-phone", "--links", links),
                              phone_args=("--yes", "--link", "--phone-name", "Test Phone"), name="link-reg")
        check(c.proc.returncode == 0, "linking registration failed:\n" + c.stderr())
        rc, stored, err = verify("register", c.json(), rp_id=RP, origin=ORIGIN, challenge=challenge)
        check(rc == 0, "the verifier rejected the registration: " + err)
        p = Proc([exe, "phones", "--links", links], wd, "phones")
        check(p.wait(30) == 0, "phones failed:\n" + p.stdout() + p.stderr())
        listed = p.json()
        check([x["name"] for x in listed] == ["Test Phone"], "hg_desktop_phones: %s" % listed)
        check(re.fullmatch(r"[0-9a-f]{8}", listed[0]["contact_tag"] or ""), "contact_tag: %s" % listed[0])

        listener = Proc([os.path.join(BIN, "hybridgate"), "phone", "--radio", "loopback", "--tunnel-url", relay.url,
                         "--store", store, "--yes", "--test-assume-verified", "--listen", "--once"], wd, "listener")
        wait_for(lambda: "phone: listening\n" in listener.stderr() or listener.proc.poll() is not None, 20, "the listen connection")
        check(listener.proc.poll() is None, "the listener exited:\n" + listener.stderr())
        opts, challenge = request_options(stored)
        c = consumer_ceremony(wd, relay, exe, "get", opts, "async", extra=("--phone", "Test Phone", "--links", links),
                              name="link-sign", serve=False)
        check(c.proc.returncode == 0, "sign-in by name failed:\n%s\n%s\nphone:\n%s" % (c.stdout(), c.stderr(), listener.stderr()))
        check("stage qr_shown" not in c.stderr(), "a QR code was shown for a remembered phone")
        check(listener.wait(30) == 0, "the listener failed:\n" + listener.stderr())
        with open(wd.file("stored.json"), "w") as f:
            json.dump(stored, f)
        rc, _, err = verify("authenticate", c.json(), rp_id=RP, origin=ORIGIN, challenge=challenge,
                            stored=wd.file("stored.json"), prev_sign_count=stored["sign_count"], no_require_uv=True)
        check(rc == 0, "the verifier rejected the linked assertion: " + err)
        p = Proc([exe, "phones", "--links", links], wd, "phones2")
        check(p.wait(30) == 0 and len(p.json()) == 1, "phones after sign-in: " + p.stdout())
    finally:
        relay.stop()
        wd.cleanup()


def test_c_phone():
    """The phone side of the C API (hg_phone with a file store and a presence callback) answers
    `hybridgate register` and `hybridgate sign-in`, verified; refusing in the callback gives the
    desktop ctap.operation_denied. Presence alone (the ABI before verification existed) never
    claims UV; with a PIN (hg_phone_set_pin) and the verification callback, the UV flag is set and
    the callback, not the presence one, is asked. A sealed store opens with hg_phone_new_sealed only."""
    from hgtest import desktop, wait_qr
    wd = Workdir("capi-phone")
    relay = Relay(BIN, wd)
    try:
        exe = build_pkgconfig_consumer(wd)
        store = wd.file("store.json")

        def serve(d, name, *extra, store=store):
            qr_file = wd.file(name + ".qr")
            with open(qr_file, "w") as f:
                f.write(wait_qr(d))
            return Proc([exe, "phone", "--tunnel-url", relay.url, "--qr-file", qr_file, "--store", store, *extra], wd, name)

        # Presence only: the credential is made, and does not claim a verified user.
        challenge = b64(os.urandom(32))
        d = desktop(BIN, wd, "register", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--user-name", "gwen",
                    "--challenge=" + challenge, name="plain-desktop")
        p = serve(d, "c-phone-plain", store=wd.file("plain.json"))
        check(p.wait(90) == 0 and d.wait(60) == 0, "presence-only registration failed:\n" + d.stderr() + p.stderr())
        check("presence make_credential example.com" in p.stderr(), "no presence prompt:\n" + p.stderr())
        rc, plain, err = verify("register", d.json(), rp_id=RP, origin=ORIGIN, challenge=challenge, no_require_uv=True)
        check(rc == 0 and plain["user_verified"] is False, "presence only: %s %s" % (plain, err))

        # A PIN (from the environment: never argv) and the verification callback.
        wd.env["CONSUMER_PIN"] = "2468-c"
        challenge = b64(os.urandom(32))
        d = desktop(BIN, wd, "register", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--user-name", "frank",
                    "--challenge=" + challenge, name="reg-desktop")
        p = serve(d, "c-phone")
        check(p.wait(90) == 0, "the C phone failed:\n" + p.stdout() + p.stderr())
        check(d.wait(60) == 0, "the desktop failed:\n" + d.stderr())
        check("verify make_credential example.com retries 8" in p.stderr(), "no PIN prompt:\n" + p.stderr())
        check("presence make_credential" not in p.stderr(), "presence asked as well as the PIN:\n" + p.stderr())
        check(oct(os.stat(store).st_mode & 0o777) == "0o600", "the store is not mode 0600")
        rc, stored, err = verify("register", d.json(), rp_id=RP, origin=ORIGIN, challenge=challenge)
        check(rc == 0, "the verifier rejected the registration: " + err)

        challenge = b64(os.urandom(32))
        d = desktop(BIN, wd, "sign-in", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--challenge=" + challenge,
                    name="sign-desktop")
        p = serve(d, "c-phone2")
        check(p.wait(90) == 0 and d.wait(60) == 0, "sign-in failed:\n" + d.stderr() + p.stderr())
        with open(wd.file("stored.json"), "w") as f:
            json.dump(stored, f)
        rc, _, err = verify("authenticate", d.json(), rp_id=RP, origin=ORIGIN, challenge=challenge,
                            stored=wd.file("stored.json"), prev_sign_count=stored["sign_count"])
        check(rc == 0, "the verifier rejected the assertion: " + err)

        check("verify get_assertion example.com" in p.stderr(), "no PIN prompt for the sign-in:\n" + p.stderr())

        # The same store sealed with a passphrase (`hybridgate phone --seal`, the passphrase on a
        # pipe): hg_phone_new refuses it with store.sealed, a wrong passphrase is store.passphrase
        # (the file unchanged), hg_phone_new_sealed with the right one signs in, verified.
        r = subprocess.run([os.path.join(BIN, "hybridgate"), "phone", "--store", store, "--seal", "--passphrase-fd", "0"],
                           input="correct horse\n", capture_output=True, text=True, timeout=120, env=wd.env)
        check(r.returncode == 0 and json.loads(r.stdout)["sealed"] is True, "--seal: %r %r" % (r.stdout, r.stderr))
        sealed_text = open(store).read()
        check(json.loads(sealed_text)["version"] == 2, "the store is not sealed")
        for name, pass_env, want in (("c-phone-nopass", None, "store.sealed"),
                                     ("c-phone-badpass", "wrong horse", "store.passphrase")):
            if pass_env:
                wd.env["CONSUMER_PASSPHRASE"] = pass_env
            d = desktop(BIN, wd, "sign-in", relay.url, "--rp-id", RP, "--origin", ORIGIN, name=name + "-desktop")
            p = serve(d, name)
            check(p.wait(90) == 1 and p.json()["error"]["code"] == want, "%s: %s %s" % (name, p.stdout(), p.stderr()))
            d.proc.kill()
            d.wait(30)
            check(open(store).read() == sealed_text, "%s changed the sealed store" % name)
        wd.env["CONSUMER_PASSPHRASE"] = "correct horse"
        challenge = b64(os.urandom(32))
        d = desktop(BIN, wd, "sign-in", relay.url, "--rp-id", RP, "--origin", ORIGIN, "--challenge=" + challenge,
                    name="sealed-desktop")
        p = serve(d, "c-phone-sealed")
        check(p.wait(90) == 0 and d.wait(60) == 0, "sealed sign-in failed:\n" + d.stderr() + p.stderr())
        rc, _, err = verify("authenticate", d.json(), rp_id=RP, origin=ORIGIN, challenge=challenge,
                            stored=wd.file("stored.json"), prev_sign_count=stored["sign_count"])
        check(rc == 0, "the verifier rejected the sealed store's assertion: " + err)
        del wd.env["CONSUMER_PASSPHRASE"]

        del wd.env["CONSUMER_PIN"]  # the presence callback decides (a store without a PIN)
        d = desktop(BIN, wd, "sign-in", relay.url, "--rp-id", RP, "--origin", ORIGIN, name="deny-desktop")
        p = serve(d, "c-phone3", "--deny", store=wd.file("plain.json"))
        p.wait(90)
        check(d.wait(60) != 0, "the desktop succeeded although the presence callback refused")
        check(d.json()["error"]["code"] == "ctap.operation_denied", "unexpected error %s" % d.json())
    finally:
        relay.stop()
        wd.cleanup()


TESTS = [test_install, test_install_layout, test_exports, test_headers_compile_alone, test_man_pages,
         test_pkgconfig_consumer, test_cmake_consumer, test_remembered_phone, test_c_phone]

if __name__ == "__main__":
    # Without a name: every test but the install fixture.
    run_selected(TESTS if ARGS.test is not None else [t for t in TESTS if t is not test_install], ARGS.test)
