// SPDX-License-Identifier: Apache-2.0
// The WebAuthn client role of a desktop (the part a browser plays): WebAuthn JSON options in,
// CTAP2 requests to the phone, PublicKeyCredential JSON out.
//
// Input: PublicKeyCredentialCreationOptionsJSON / PublicKeyCredentialRequestOptionsJSON (WebAuthn
// L3 §5.1.*), exactly as relying-party libraries emit them (@simplewebauthn/server, py_webauthn,
// python-fido2's Fido2Server): binary fields base64url; a {"publicKey": {...}} wrapper is accepted
// too. Honoured: rp, user, challenge, pubKeyCredParams, excludeCredentials / allowCredentials,
// authenticatorSelection.residentKey / requireResidentKey / userVerification, attestation,
// extensions.prf, timeout. Unknown members are ignored, as browsers do.
// Output: the credential in its toJSON() form (all binary fields base64url).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/ctap.hpp"
#include "proto/error.hpp"
#include "proto/prf.hpp"

namespace hg::hybrid::webauthn {

enum class Requirement { discouraged, preferred, required };  // residentKey, userVerification

struct CreationOptions {
  ctap::RpEntity rp;                                    // rp.id is required here (we are not a browser)
  ctap::UserEntity user;
  Bytes challenge;
  std::vector<ctap::CredentialParameters> pub_key_cred_params;  // empty in JSON → ES256 and RS256
  std::vector<ctap::CredentialDescriptor> exclude_credentials;
  Requirement resident_key = Requirement::discouraged;
  Requirement user_verification = Requirement::preferred;
  std::string attestation = "none";                     // none | indirect | direct | enterprise
  std::optional<prf::Request> prf;                      // extensions.prf (eval inputs hashed into salts)
  bool prf_requested = false;                           // extensions.prf present (even {} = "enabled?")
  std::optional<std::chrono::milliseconds> timeout;
};

struct RequestOptions {
  std::string rp_id;                                    // rpId (required here)
  Bytes challenge;
  std::vector<ctap::CredentialDescriptor> allow_credentials;
  Requirement user_verification = Requirement::preferred;
  std::optional<prf::Request> prf;                      // extensions.prf.eval / evalByCredential
  bool prf_requested = false;
  std::optional<std::chrono::milliseconds> timeout;
};

// Parse the JSON text. Errors: invalid_argument with a sentence naming the member.
Result<CreationOptions> parse_creation_options(std::string_view json_text);
Result<RequestOptions> parse_request_options(std::string_view json_text);

// A ceremony ready to send: the clientDataJSON (type, challenge, origin) and a builder of the
// CTAP request for a phone once its getInfo is known (the prf extension is sent only to phones
// that list it; `notice` is told when it is left out).
struct PreparedCreate {
  std::string client_data_json;
  ctap::MakeCredentialRequest request;
  std::optional<prf::Request> prf;
  bool prf_requested = false;
};
struct PreparedGet {
  std::string client_data_json;
  ctap::GetAssertionRequest request;
  std::optional<prf::Request> prf;
  bool prf_requested = false;
};
Result<PreparedCreate> prepare(const CreationOptions& o, std::string_view origin);
Result<PreparedGet> prepare(const RequestOptions& o, std::string_view origin);

// The CTAP request bytes (command ‖ CBOR) for a phone with this getInfo (CBOR map, no status).
Result<Bytes> request_for(const PreparedCreate& p, ByteView get_info, bool* prf_left_out = nullptr);
Result<Bytes> request_for(const PreparedGet& p, ByteView get_info, bool* prf_left_out = nullptr);

// PublicKeyCredential JSON from the phone's CTAP response (status ‖ CBOR). A CTAP error status
// becomes the matching ctap.* error.
Result<nlohmann::json> registration_json(const PreparedCreate& p, ByteView ctap_response);
Result<nlohmann::json> assertion_json(const PreparedGet& p, ByteView ctap_response);

}  // namespace hg::hybrid::webauthn
