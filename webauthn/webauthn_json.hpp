// SPDX-License-Identifier: Apache-2.0
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

namespace hg::webauthn_json {

// From an authenticatorMakeCredential response: id/rawId from the attested credential data,
// response.clientDataJSON, attestationObject, authenticatorData, publicKeyAlgorithm (COSE),
// publicKey (DER SubjectPublicKeyInfo; ES256 keys only, absent otherwise), transports
// ["hybrid", "internal"] — WebAuthn L3's RegistrationResponseJSON. With
// `prf_requested`, clientExtensionResults.prf = {enabled, ?results} from the phone's unsigned
// extension outputs (enabled false when it sent none). Malformed prf outputs are an error.
hg::Result<nlohmann::json> registration(const hg::ctap::MakeCredentialResponse& resp, std::string_view client_data_json,
                                        bool prf_requested = false);

// From an authenticatorGetAssertion response: the credential it names or, as CTAP2 allows when
// the allow list had exactly one entry, that entry; userHandle null when the phone sent no user.
// With `prf_requested`, clientExtensionResults.prf = {?results} (empty when the phone sent none).
hg::Result<nlohmann::json> assertion(const hg::ctap::GetAssertionResponse& resp, std::string_view client_data_json,
                                     const std::optional<std::vector<hg::ctap::CredentialDescriptor>>& allow_list,
                                     bool prf_requested = false);

}  // namespace hg::webauthn_json
