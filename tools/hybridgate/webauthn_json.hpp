// WebAuthn PublicKeyCredential objects in their standard JSON form (WebAuthn L3 toJSON(), all
// binary fields base64url), built from CTAP2 responses: what `hybridgate register|sign-in` print
// and what a relying party's server verifies. Shared by the CLI and the test sample generator.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/ctap.hpp"
#include "proto/error.hpp"

namespace hgcli::webauthn_json {

// From an authenticatorMakeCredential response: id/rawId from the attested credential data,
// response.clientDataJSON, attestationObject, transports ["hybrid", "internal"].
hg::Result<nlohmann::json> registration(const hg::ctap::MakeCredentialResponse& resp, std::string_view client_data_json);

// From an authenticatorGetAssertion response: the credential it names or, as CTAP2 allows when
// the allow list had exactly one entry, that entry; userHandle null when the phone sent no user.
hg::Result<nlohmann::json> assertion(const hg::ctap::GetAssertionResponse& resp, std::string_view client_data_json,
                                     const std::optional<std::vector<hg::ctap::CredentialDescriptor>>& allow_list);

}  // namespace hgcli::webauthn_json
