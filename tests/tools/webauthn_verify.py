#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A relying party's WebAuthn checks, done by python3-fido2 (0.9.1, Debian) - not by us.

Verifies the PublicKeyCredential JSON that hybridgate prints (all binary fields base64url):

  register      --rp-id RP --origin ORIGIN --challenge B64URL [--credential FILE|-]
                prints {"credential_id", "public_key_cose", "sign_count", "aaguid", "fmt",
                        "user_present", "user_verified"} (the stored credential)
  authenticate  --rp-id RP --origin ORIGIN --challenge B64URL --stored FILE
                --prev-sign-count N [--credential FILE|-]
                prints {"credential_id", "sign_count", "user_handle", "user_verified"}

Exit status: 0 verified; 1 verification failed (message on stderr); 2 unusable input.
Always run with /usr/bin/python3 (Debian's python, where python3-fido2 is installed).
"""

import argparse
import json
import re
import sys

from fido2 import cbor
from fido2.attestation import PackedAttestation
from fido2.client import ClientData
from fido2.cose import CoseKey
from fido2.ctap2 import AttestationObject, AttestedCredentialData, AuthenticatorData
from fido2.rpid import verify_rp_id
from fido2.server import Fido2Server
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import PublicKeyCredentialRpEntity, UserVerificationRequirement


class BadInput(Exception):
    """The input is not a PublicKeyCredential we can even look at."""


class Rejected(Exception):
    """The credential does not verify."""


_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64(value, what):
    if not isinstance(value, str) or not _B64URL.match(value) or len(value) % 4 == 1:
        raise BadInput("%s is not base64url text" % what)
    return websafe_decode(value)


def field(obj, path):
    cur = obj
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            raise BadInput("missing field %s" % path)
        cur = cur[key]
    return cur


def load_json(path):
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise BadInput("cannot read JSON from %s: %s" % (path, e))


def make_server(args):
    rp = PublicKeyCredentialRpEntity(args.rp_id, "hybridgate test RP")

    # The origin must be exactly the expected one and be valid for the RP ID. python3-fido2 0.9's
    # verify_rp_id knows https only; browsers also treat http://localhost as a secure context
    # (WebAuthn: a "potentially trustworthy" origin), so an RP developing on http://localhost[:PORT]
    # is checked here as its https form would be, for the RP ID "localhost" alone.
    def verify_origin(origin):
        if origin != args.origin:
            return False
        if args.rp_id == "localhost" and re.fullmatch(r"http://localhost(:[0-9]{1,5})?", origin):
            return verify_rp_id(args.rp_id, "https" + origin[len("http"):])
        return verify_rp_id(args.rp_id, origin)

    return Fido2Server(rp, verify_origin=verify_origin)


def state_for(args):
    challenge = b64(args.challenge, "--challenge")
    uv = UserVerificationRequirement.REQUIRED if args.require_uv else UserVerificationRequirement.DISCOURAGED
    return {"challenge": websafe_encode(challenge), "user_verification": uv}


def check_envelope(cred):
    if field(cred, "type") != "public-key":
        raise Rejected("type is not public-key")
    cred_id = b64(field(cred, "id"), "id")
    if b64(field(cred, "rawId"), "rawId") != cred_id:
        raise Rejected("rawId differs from id")
    return cred_id


def parse_client_data(cred):
    raw = b64(field(cred, "response.clientDataJSON"), "response.clientDataJSON")
    try:
        return ClientData(raw)
    except Exception as e:  # not UTF-8 / not JSON
        raise Rejected("clientDataJSON is not valid JSON: %s" % e)


def register(args):
    cred = load_json(args.credential)
    cred_id = check_envelope(cred)
    client_data = parse_client_data(cred)
    try:
        att_obj = AttestationObject(b64(field(cred, "response.attestationObject"), "response.attestationObject"))
    except BadInput:
        raise
    except Exception as e:
        raise Rejected("attestationObject is malformed: %s" % e)

    server = make_server(args)
    try:
        auth_data = server.register_complete(state_for(args), client_data, att_obj)
    except ValueError as e:
        raise Rejected(str(e))

    # Fido2Server ignores attestation by default; check the statement ourselves.
    if att_obj.fmt == "packed":
        try:
            PackedAttestation().verify(att_obj.att_statement, att_obj.auth_data, client_data.hash)
        except Exception as e:
            raise Rejected("packed attestation signature does not verify: %r" % e)
    elif att_obj.fmt == "none":
        if att_obj.att_statement != {}:
            raise Rejected("fmt none with a non-empty attStmt")
    else:
        raise Rejected("attestation format %r is not supported by this verifier" % att_obj.fmt)

    cd = auth_data.credential_data
    if cd is None:
        raise Rejected("no attested credential data")
    if cd.credential_id != cred_id:
        raise Rejected("credential id in authData differs from id")
    return {
        "credential_id": websafe_encode(cd.credential_id),
        "public_key_cose": websafe_encode(cbor.encode(dict(cd.public_key))),
        "sign_count": auth_data.counter,
        "aaguid": cd.aaguid.hex(),
        "fmt": att_obj.fmt,
        "user_present": auth_data.is_user_present(),
        "user_verified": auth_data.is_user_verified(),
    }


def authenticate(args):
    cred = load_json(args.credential)
    stored = load_json(args.stored)
    cred_id = check_envelope(cred)
    client_data = parse_client_data(cred)

    stored_id = b64(field(stored, "credential_id"), "stored credential_id")
    try:
        public_key = CoseKey.parse(cbor.decode(b64(field(stored, "public_key_cose"), "stored public_key_cose")))
        aaguid = bytes.fromhex(stored.get("aaguid", "00" * 16))
    except Exception as e:
        raise BadInput("stored credential is malformed: %s" % e)
    known = AttestedCredentialData.create(aaguid, stored_id, public_key)

    try:
        auth_data = AuthenticatorData(b64(field(cred, "response.authenticatorData"), "response.authenticatorData"))
    except BadInput:
        raise
    except Exception as e:
        raise Rejected("authenticatorData is malformed: %s" % e)
    signature = b64(field(cred, "response.signature"), "response.signature")

    server = make_server(args)
    try:
        server.authenticate_complete(state_for(args), [known], cred_id, client_data, auth_data, signature)
    except ValueError as e:
        raise Rejected(str(e))

    # WebAuthn §7.2 step 21: a counter that does not increase signals a cloned authenticator.
    if auth_data.counter <= args.prev_sign_count:
        raise Rejected("sign count %d did not increase (previous %d)" % (auth_data.counter, args.prev_sign_count))

    user_handle = field(cred, "response").get("userHandle")
    if user_handle is not None:
        b64(user_handle, "response.userHandle")
    return {
        "credential_id": websafe_encode(cred_id),
        "sign_count": auth_data.counter,
        "user_handle": user_handle,
        "user_verified": auth_data.is_user_verified(),
    }


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("register", "authenticate"):
        s = sub.add_parser(name)
        s.add_argument("--rp-id", required=True)
        s.add_argument("--origin", required=True)
        s.add_argument("--challenge", required=True, help="base64url challenge the RP issued")
        s.add_argument("--credential", default="-", help="PublicKeyCredential JSON file, - for stdin")
        s.add_argument("--no-require-uv", dest="require_uv", action="store_false",
                       help="accept credentials without the UV flag")
        if name == "authenticate":
            s.add_argument("--stored", required=True, help="the JSON 'register' printed")
            s.add_argument("--prev-sign-count", type=int, required=True)
    args = p.parse_args(argv)
    try:
        result = register(args) if args.command == "register" else authenticate(args)
    except BadInput as e:
        print("webauthn_verify: unusable input: %s" % e, file=sys.stderr)
        return 2
    except Rejected as e:
        print("webauthn_verify: REJECTED: %s" % e, file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
