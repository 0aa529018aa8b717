#include "tools/hybridgate/webauthn_json.hpp"

#include "proto/bytes.hpp"

namespace hgcli::webauthn_json {

using nlohmann::json;
using namespace hg;

namespace {
json credential(ByteView id_bytes, json response) {
  const std::string id = base64url_encode(id_bytes);
  return json{{"id", id},
              {"rawId", id},
              {"type", "public-key"},
              {"authenticatorAttachment", "cross-platform"},
              {"response", std::move(response)},
              {"clientExtensionResults", json::object()}};
}
}  // namespace

Result<json> registration(const ctap::MakeCredentialResponse& resp, std::string_view client_data_json) {
  auto ad = ctap::AuthenticatorData::parse(resp.auth_data);
  if (!ad || !ad->attested) return make_error(Errc::ctap_invalid, "no attested credential data");
  return credential(ad->attested->credential_id,
                    {{"clientDataJSON", base64url_encode(as_bytes(client_data_json))},
                     {"attestationObject", base64url_encode(ctap::attestation_object(resp))},
                     {"transports", json::array({"hybrid", "internal"})}});
}

Result<json> assertion(const ctap::GetAssertionResponse& resp, std::string_view client_data_json,
                       const std::optional<std::vector<ctap::CredentialDescriptor>>& allow_list) {
  ByteView id;
  if (resp.credential)
    id = resp.credential->id;
  else if (allow_list && allow_list->size() == 1)
    id = allow_list->front().id;  // CTAP2: may be omitted when the allow list had one entry
  else
    return make_error(Errc::ctap_invalid, "the assertion names no credential");
  return credential(id, {{"clientDataJSON", base64url_encode(as_bytes(client_data_json))},
                         {"authenticatorData", base64url_encode(resp.auth_data)},
                         {"signature", base64url_encode(resp.signature)},
                         {"userHandle", resp.user ? json(base64url_encode(resp.user->id)) : json(nullptr)}});
}

}  // namespace hgcli::webauthn_json
