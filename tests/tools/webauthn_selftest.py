#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""CTest driver: credentials made by our SoftwareAuthenticator (via make_webauthn_sample) must pass
python3-fido2's relying-party checks (webauthn_verify.py), and must fail them once one byte of a
signature, the authenticator data or clientDataJSON is altered, or the counter does not increase.

  webauthn_selftest.py --sample PATH --verifier PATH --workdir DIR
"""

import argparse
import base64
import copy
import json
import os
import subprocess
import sys

FAILURES = []


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def flip_byte(b64_text, index, mask=0x01):
    raw = bytearray(b64d(b64_text))
    raw[index] ^= mask
    return b64e(bytes(raw))


class Runner:
    def __init__(self, verifier, workdir):
        self.verifier = verifier
        self.workdir = workdir
        self.n = 0

    def run(self, args, credential, stored=None):
        self.n += 1
        cred_path = os.path.join(self.workdir, "credential_%02d.json" % self.n)
        with open(cred_path, "w") as f:
            json.dump(credential, f)
        cmd = [sys.executable, self.verifier] + args + ["--credential", cred_path]
        if stored is not None:
            stored_path = os.path.join(self.workdir, "stored_%02d.json" % self.n)
            with open(stored_path, "w") as f:
                json.dump(stored, f)
            cmd += ["--stored", stored_path]
        return subprocess.run(cmd, capture_output=True, text=True)


def expect_ok(name, proc):
    if proc.returncode != 0:
        FAILURES.append("%s: expected success, got exit %d: %s" % (name, proc.returncode, proc.stderr.strip()))
        return None
    print("ok      %s" % name)
    return json.loads(proc.stdout)


def expect_reject(name, proc):
    if proc.returncode != 1:
        FAILURES.append("%s: expected rejection (exit 1), got exit %d: %s %s"
                        % (name, proc.returncode, proc.stdout.strip(), proc.stderr.strip()))
        return
    print("reject  %s  (%s)" % (name, proc.stderr.strip()))


def check_sample(runner, sample, label, want_alg):
    rp = ["--rp-id", sample["rp_id"], "--origin", sample["origin"]]
    reg = sample["registration"]
    reg_args = ["register"] + rp + ["--challenge=" + reg["challenge"]]

    stored = expect_ok(label + " register", runner.run(reg_args, reg["credential"]))
    if stored is None:
        return
    if stored["sign_count"] != 0 or not stored["user_verified"]:
        FAILURES.append(label + " register: unexpected stored credential %r" % stored)
    # The key the verifier stored is of the algorithm asked for (COSE label 3: -7 ES256, -8 EdDSA).
    from fido2 import cbor
    cose = cbor.decode(b64d(stored["public_key_cose"]))
    if cose.get(3) != want_alg:
        FAILURES.append("%s register: the credential's algorithm is %r, not %d" % (label, cose.get(3), want_alg))

    # Registration tampering.
    bad = copy.deepcopy(reg["credential"])
    cdj = b64d(bad["response"]["clientDataJSON"]).decode()
    # One altered character inside the challenge value (same length).
    pos = cdj.index('"challenge":"') + len('"challenge":"')
    altered = cdj[:pos] + ("B" if cdj[pos] != "B" else "C") + cdj[pos + 1:]
    bad["response"]["clientDataJSON"] = b64e(altered.encode())
    expect_reject(label + " register with altered clientDataJSON challenge", runner.run(reg_args, bad))

    expect_reject(label + " register with wrong challenge",
                  runner.run(["register"] + rp + ["--challenge=" + b64e(b"\x00" * 32)], reg["credential"]))
    expect_reject(label + " register with wrong origin",
                  runner.run(["register", "--rp-id", sample["rp_id"], "--origin", "https://evil.example",
                              "--challenge=" + reg["challenge"]], reg["credential"]))

    att = b64d(reg["credential"]["response"]["attestationObject"])
    if stored["fmt"] == "packed":
        # Flip the last byte of attStmt.sig (re-encoded with fido2's CBOR).
        from fido2 import cbor
        obj = cbor.decode(att)
        sig = bytearray(obj["attStmt"]["sig"])
        sig[-1] ^= 0x01
        obj["attStmt"]["sig"] = bytes(sig)
        bad = copy.deepcopy(reg["credential"])
        bad["response"]["attestationObject"] = b64e(cbor.encode(obj))
        expect_reject(label + " register with altered attestation signature", runner.run(reg_args, bad))
        # clientDataJSON changed without touching challenge/origin/type: only the signature notices.
        bad = copy.deepcopy(reg["credential"])
        bad["response"]["clientDataJSON"] = b64e(cdj.replace('"crossOrigin":false', '"crossOrigin":true ').encode())
        expect_reject(label + " register with altered crossOrigin", runner.run(reg_args, bad))

    # Sign-ins, in order; each must raise the counter.
    prev = stored["sign_count"]
    for i, a in enumerate(sample["assertions"]):
        name = "%s assertion %d" % (label, i)
        args = ["authenticate"] + rp + ["--challenge=" + a["challenge"], "--prev-sign-count", str(prev)]
        cred = a["credential"]

        sig_len = len(b64d(cred["response"]["signature"]))
        for index in (sig_len - 1, sig_len // 2):
            bad = copy.deepcopy(cred)
            bad["response"]["signature"] = flip_byte(cred["response"]["signature"], index)
            expect_reject("%s with signature byte %d altered" % (name, index), runner.run(args, bad, stored))

        bad = copy.deepcopy(cred)
        cdj = b64d(cred["response"]["clientDataJSON"]).decode()
        bad["response"]["clientDataJSON"] = b64e(cdj.replace('"crossOrigin":false', '"crossOrigin":true ').encode())
        expect_reject(name + " with altered clientDataJSON", runner.run(args, bad, stored))

        bad = copy.deepcopy(cred)
        bad["response"]["authenticatorData"] = flip_byte(cred["response"]["authenticatorData"], 36)  # counter LSB
        expect_reject(name + " with altered authenticatorData", runner.run(args, bad, stored))

        bad = copy.deepcopy(cred)
        bad["response"]["authenticatorData"] = flip_byte(cred["response"]["authenticatorData"], 0)  # rpIdHash
        expect_reject(name + " with altered rpIdHash", runner.run(args, bad, stored))

        result = expect_ok(name, runner.run(args, cred, stored))
        if result is None:
            return
        if result["sign_count"] <= prev:
            FAILURES.append(name + ": counter did not increase")
        # Replaying the same assertion against the new counter must fail.
        replay = ["authenticate"] + rp + ["--challenge=" + a["challenge"], "--prev-sign-count", str(result["sign_count"])]
        expect_reject(name + " replayed with the new counter", runner.run(replay, cred, stored))
        prev = result["sign_count"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sample", required=True)
    p.add_argument("--verifier", required=True)
    p.add_argument("--workdir", required=True)
    args = p.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    runner = Runner(args.verifier, args.workdir)
    for attestation, alg in (("none", "es256"), ("packed", "es256"), ("none", "eddsa"), ("packed", "eddsa")):
        out = subprocess.run([args.sample, "--attestation", attestation, "--alg", alg], capture_output=True, text=True)
        label = "%s, %s" % (attestation, alg)
        if out.returncode != 0:
            FAILURES.append("sample (%s) failed: %s" % (label, out.stderr.strip()))
            continue
        check_sample(runner, json.loads(out.stdout), label, -8 if alg == "eddsa" else -7)
    if FAILURES:
        print("\nFAILED:\n  " + "\n  ".join(FAILURES))
        return 1
    print("\nall %d verifier runs behaved as expected" % runner.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
