// SPDX-License-Identifier: Apache-2.0
#include "webauthn/webauthn_json.hpp"

#include "proto/bytes.hpp"
#include "proto/prf.hpp"

namespace hg::webauthn_json {

using nlohmann::json;
using namespace hg;

namespace {
json credential(ByteView id_bytes, json response, json extension_results) {
  const std::string id = base64url_encode(id_bytes);
  return json{{"id", id},
              {"rawId", id},
              {"type", "public-key"},
              {"authenticatorAttachment", "cross-platform"},
              {"response", std::move(response)},
              {"clientExtensionResults", std::move(extension_results)}};
}

// clientExtensionResults for the prf extension (WebAuthn L3 §10.1.4), from the phone's outputs.
Result<json> extension_results(const std::optional<cbor::Map>& unsigned_outputs, bool prf_requested, bool creating) {
  json out = json::object();
  if (!prf_requested) return out;
  HG_TRY(auto prf, prf::outputs_from_unsigned(unsigned_outputs));
  json p = json::object();
  if (creating) p["enabled"] = prf && prf->enabled.value_or(false);
  if (prf && prf->results) {
    json r{{"first", base64url_encode(prf->results->first)}};
    if (prf->results->second) r["second"] = base64url_encode(*prf->results->second);
    p["results"] = std::move(r);
  }
  out["prf"] = std::move(p);
  return out;
}
}  // namespace

Result<json> registration(const ctap::MakeCredentialResponse& resp, std::string_view client_data_json,
                          bool prf_requested) {
  auto ad = ctap::AuthenticatorData::parse(resp.auth_data);
  if (!ad || !ad->attested) return make_error(Errc::ctap_invalid, "no attested credential data");
  HG_TRY(auto ext, extension_results(resp.unsigned_extension_outputs, prf_requested, true));
  // RegistrationResponseJSON (WebAuthn L3 §5.1): authenticatorData, and the credential public key
  // as DER SubjectPublicKeyInfo with its COSE algorithm (publicKey only for ES256, the algorithm
  // we can convert; WebAuthn lets it be absent for others).
  json response{{"clientDataJSON", base64url_encode(as_bytes(client_data_json))},
                {"attestationObject", base64url_encode(ctap::attestation_object(resp))},
                {"authenticatorData", base64url_encode(resp.auth_data)},
                {"transports", json::array({"hybrid", "internal"})}};
  const cbor::Value* alg = ad->attested->public_key.find(ctap::cose::key_alg);
  if (!alg || !alg->as_int64()) return make_error(Errc::ctap_invalid, "the credential public key has no algorithm");
  response["publicKeyAlgorithm"] = *alg->as_int64();
  if (*alg->as_int64() == ctap::cose::alg_es256) {
    HG_TRY(auto pub, ctap::cose_es256_parse(ad->attested->public_key));
    response["publicKey"] = base64url_encode(pub.spki_der());
  }
  return credential(ad->attested->credential_id, std::move(response), std::move(ext));
}

Result<json> assertion(const ctap::GetAssertionResponse& resp, std::string_view client_data_json,
                       const std::optional<std::vector<ctap::CredentialDescriptor>>& allow_list, bool prf_requested) {
  ByteView id;
  if (resp.credential)
    id = resp.credential->id;
  else if (allow_list && allow_list->size() == 1)
    id = allow_list->front().id;  // CTAP2: may be omitted when the allow list had one entry
  else
    return make_error(Errc::ctap_invalid, "the assertion names no credential");
  HG_TRY(auto ext, extension_results(resp.unsigned_extension_outputs, prf_requested, false));
  return credential(id,
                    {{"clientDataJSON", base64url_encode(as_bytes(client_data_json))},
                     {"authenticatorData", base64url_encode(resp.auth_data)},
                     {"signature", base64url_encode(resp.signature)},
                     {"userHandle", resp.user ? json(base64url_encode(resp.user->id)) : json(nullptr)}},
                    std::move(ext));
}

}  // namespace hg::webauthn_json
