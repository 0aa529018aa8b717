// SPDX-License-Identifier: Apache-2.0
// Test driver: runs the SoftwareAuthenticator through one registration and two sign-ins the way a
// browser would (clientDataJSON -> clientDataHash -> CTAP2), and prints the resulting WebAuthn
// PublicKeyCredential JSON objects (the CLI's own webauthn_json) for tests/tools/webauthn_verify.py.
//
//   make_webauthn_sample [--rp-id example.com] [--origin https://example.com] [--attestation none|packed]
//
// Output (stdout, one JSON object):
//   {"rp_id", "origin",
//    "registration": {"challenge": b64url, "credential": PublicKeyCredential},
//    "assertions": [{"challenge": b64url, "credential": PublicKeyCredential}, ...]}
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "proto/authenticator.hpp"
#include "proto/crypto.hpp"
#include "proto/ctap.hpp"
#include "webauthn/webauthn_json.hpp"

using namespace hg;
using json = nlohmann::json;

namespace {

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "make_webauthn_sample: " << msg << "\n";
  std::exit(1);
}

json or_die(hg::Result<json> r) {
  if (!r) die(r.error().to_string());
  return std::move(*r);
}

}  // namespace

int main(int argc, char** argv) {
  std::string rp_id = "example.com";
  std::string origin = "https://example.com";
  std::string attestation = "none";
  std::string alg = "es256";
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) die("missing value after " + std::string(a));
    if (a == "--rp-id") rp_id = argv[++i];
    else if (a == "--origin") origin = argv[++i];
    else if (a == "--attestation") attestation = argv[++i];
    else if (a == "--alg") alg = argv[++i];
    else die("unknown argument " + std::string(a));
  }
  if (attestation != "none" && attestation != "packed") die("--attestation must be none or packed");
  if (alg != "es256" && alg != "eddsa") die("--alg must be es256 or eddsa");

  authenticator::MemoryCredentialStore store;
  authenticator::AlwaysConfirm yes;
  authenticator::Config cfg;
  // This driver's subject is the encoding a real verifier accepts (flags, counters, attestation),
  // with the UV flag set as python-fido2's verifier requires by default; whether the flag is ever
  // set without a verified person is tested with a PIN in tests/python/test_pin.py.
  cfg.test_assume_verified = true;
  cfg.attestation = attestation == "packed" ? authenticator::AttestationFormat::packed_self
                                            : authenticator::AttestationFormat::none;
  authenticator::SoftwareAuthenticator phone(store, yes, cfg);

  json out{{"rp_id", rp_id}, {"origin", origin}, {"assertions", json::array()}};

  // Registration (discoverable, as passkeys are).
  const Bytes reg_challenge = crypto::random_bytes(32);
  const std::string reg_client_data = ctap::client_data_json("webauthn.create", reg_challenge, origin);
  ctap::MakeCredentialRequest mc;
  mc.client_data_hash = crypto::sha256(as_bytes(reg_client_data));
  mc.rp = {rp_id, "Example"};
  mc.user = {crypto::random_bytes(16), "alice@example.com", "Alice"};
  mc.pub_key_cred_params = {{"public-key", ctap::cose::alg_es256}, {"public-key", ctap::cose::alg_rs256}};
  if (alg == "eddsa") mc.pub_key_cred_params.insert(mc.pub_key_cred_params.begin(), {"public-key", ctap::cose::alg_edDSA});
  mc.options.rk = true;
  mc.options.uv = true;  // as a client does for userVerification "required"
  auto reg = ctap::decode_make_credential_response(phone.handle(ctap::encode_request(mc)));
  if (!reg) die("makeCredential failed: " + reg.error().to_string());
  out["registration"] = {{"challenge", base64url_encode(reg_challenge)},
                         {"credential", or_die(hg::webauthn_json::registration(*reg, reg_client_data))}};

  // Two sign-ins: one with an allowList, one discoverable (empty allowList).
  for (int i = 0; i < 2; ++i) {
    const Bytes challenge = crypto::random_bytes(32);
    const std::string client_data = ctap::client_data_json("webauthn.get", challenge, origin);
    ctap::GetAssertionRequest ga;
    ga.rp_id = rp_id;
    ga.client_data_hash = crypto::sha256(as_bytes(client_data));
    ga.options.uv = true;
    if (i == 0) {
      auto ad = ctap::AuthenticatorData::parse(reg->auth_data);
      if (!ad || !ad->attested) die("bad registration authData");
      ga.allow_list = std::vector<ctap::CredentialDescriptor>{{"public-key", ad->attested->credential_id, std::nullopt}};
    }
    auto as = ctap::decode_get_assertion_response(phone.handle(ctap::encode_request(ga)));
    if (!as) die("getAssertion failed: " + as.error().to_string());
    out["assertions"].push_back(
        {{"challenge", base64url_encode(challenge)}, {"credential", or_die(hg::webauthn_json::assertion(*as, client_data, ga.allow_list))}});
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}
