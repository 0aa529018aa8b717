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
//
// What a browser does, and so do we (Chromium's behaviour with a hybrid phone as the model):
// - pubKeyCredParams: entries whose type is not "public-key" are skipped; empty or absent →
//   ES256 and RS256 (as the CLI flags); entries present but none "public-key" → error.
// - residentKey (or, when absent, the legacy requireResidentKey: true → "required"; default
//   "discouraged"): "required" → CTAP rk = true; "preferred" → rk = true when the phone's getInfo
//   lists the option rk = true (every hybrid phone does), else rk absent; "discouraged" → rk absent.
// - userVerification (default "preferred"): "required" → CTAP uv = true; "preferred" → uv = true
//   when the phone's getInfo lists uv = true (a phone's screen lock: Chrome on Android and our
//   phone do), else absent; "discouraged" → no uv option (the phone decides; ours still verifies).
//   "required" sent to a phone that cannot do it gets the phone's CTAP error. The response is
//   checked: with "required", a response without the UV flag is an error (ctap.invalid).
// - excludeCredentials / allowCredentials → CTAP exclude / allow lists of {type, id} (transports
//   are parsed but not sent, as Chromium does); empty → absent. Entries whose type is not
//   "public-key" are skipped; an allowCredentials that had entries but none "public-key" is an
//   error rather than a silent switch to a discoverable sign-in.
// - extensions.prf: eval.first/second (base64url, any length) are hashed into salts
//   (prf::salt_for_input); evalByCredential (sign-in only) keys are base64url credential IDs that
//   must be in allowCredentials (WebAuthn: else an error). Sent only to a phone whose getInfo lists
//   "prf"; a sign-in with neither eval nor evalByCredential sends no prf input.
// - attestation: none (default; unknown values count as none) | indirect | direct | enterprise.
//   Our CTAP request has no attestation parameter; with "none" the response's attestation
//   statement is replaced by fmt "none", attStmt {} unless it is self attestation (packed, zero
//   AAGUID, no x5c), exactly WebAuthn L3 §5.1.3; other values pass the phone's statement on.
// - authenticatorAttachment, hints, other extensions: ignored (the person chose a phone).
// - rp.name absent → rp.id; user.name absent → ""; user.displayName absent → user.name (CTAP
//   needs all three).
// - Responses are checked as Chromium does: rpIdHash matches rp.id / rpId, a sign-in credential
//   is in a non-empty allowCredentials.
// - The origin is put into clientDataJSON as given; whether it fits rp.id is the RP's check.
// Strictness: the text is at most 1 MiB; wrong JSON types, bad base64url, a missing rp.id / rpId,
// challenge or user.id, a challenge outside 16..1024 bytes, a user.id outside 1..64 bytes, an
// empty credential ID → Errc::invalid_argument whose detail names the member (e.g.
// "user.id must be 1 to 64 bytes"). Unknown members and unknown enumeration values are ignored.
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

namespace hg::webauthn {

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
inline constexpr size_t kMaxOptionsJson = 1 << 20;  // larger texts are refused before parsing

// A ceremony ready to send: the clientDataJSON (type, challenge, origin) and a builder of the
// CTAP request for a phone once its getInfo is known (the prf extension is sent only to phones
// that list it; `notice` is told when it is left out).
// `request` is the request for a phone like Chrome on Android (getInfo rk and uv true, no prf
// extension yet); request_for() adapts it to the phone at hand.
struct PreparedCreate {
  std::string client_data_json;
  ctap::MakeCredentialRequest request;
  std::optional<prf::Request> prf;
  bool prf_requested = false;
  Requirement resident_key = Requirement::discouraged;     // for request_for (rk per getInfo)
  Requirement user_verification = Requirement::preferred;  // for request_for and the UV check
  std::string attestation = "none";                        // for registration_json
};
struct PreparedGet {
  std::string client_data_json;
  ctap::GetAssertionRequest request;
  std::optional<prf::Request> prf;
  bool prf_requested = false;
  Requirement user_verification = Requirement::preferred;  // for request_for and the UV check
};
// The origin and the RP ID are checked as browsers do (webauthn/origin.hpp) before anything else:
// origin.invalid, origin.insecure, rp_id.invalid, rp_id.mismatch, rp_id.public_suffix.
Result<PreparedCreate> prepare(const CreationOptions& o, std::string_view origin);
Result<PreparedGet> prepare(const RequestOptions& o, std::string_view origin);

// The CTAP request bytes (command ‖ CBOR) for a phone with this getInfo (CBOR map, no status).
Result<Bytes> request_for(const PreparedCreate& p, ByteView get_info, bool* prf_left_out = nullptr);
Result<Bytes> request_for(const PreparedGet& p, ByteView get_info, bool* prf_left_out = nullptr);

// PublicKeyCredential JSON from the phone's CTAP response (status ‖ CBOR). A CTAP error status
// becomes the matching ctap.* error.
Result<nlohmann::json> registration_json(const PreparedCreate& p, ByteView ctap_response);
Result<nlohmann::json> assertion_json(const PreparedGet& p, ByteView ctap_response);

}  // namespace hg::webauthn
