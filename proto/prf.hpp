// SPDX-License-Identifier: Apache-2.0
// The WebAuthn "prf" extension as it crosses a hybrid tunnel (CTAP2 extension "prf", not
// hmac-secret: the tunnel is already end-to-end encrypted, so no PIN/UV-auth protocol).
//
//   makeCredential key 6 / getAssertion key 4, extension "prf":
//     {"eval": {"first": salt, ?"second": salt}, ?"evalByCredential": {credential ID (bytes): {...}}}
//   outputs (makeCredential key 6 / getAssertion key 8, "unsigned extension outputs"):
//     {"prf": {?"enabled": true, ?"results": {"first": 32 bytes, ?"second": 32 bytes}}}
//
// Salts are 32 bytes: the client hashes each WebAuthn input as SHA-256("WebAuthn PRF" || 0x00 ||
// input) before sending it (WebAuthn L3 §10.1.4; Chromium PRFInput::HashInputsIntoSalts), so a
// credential gives a website the same outputs through any client. evalByCredential is only for
// getAssertion. Layout checked against Chromium's device/fido (PRFInput::FromCBOR, the CTAP
// request/response codecs) and docs/protocol.md §8.3.
#pragma once

#include <array>
#include <optional>
#include <utility>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/cbor.hpp"
#include "proto/error.hpp"

namespace hg::prf {

using Salt = std::array<uint8_t, 32>;
using Output = std::array<uint8_t, 32>;

// {"first", ?"second"}: the shape of both the inputs (salts) and the results (outputs).
struct Values {
  std::array<uint8_t, 32> first{};
  std::optional<std::array<uint8_t, 32>> second;
  bool operator==(const Values&) const = default;
};
using Input = Values;    // two salts
using Results = Values;  // two outputs

struct Request {
  std::optional<Input> eval;
  std::vector<std::pair<Bytes, Input>> eval_by_credential;  // getAssertion only
  bool operator==(const Request&) const = default;
  // The input for a credential: its evalByCredential entry, else eval.
  const Input* input_for(ByteView credential_id) const;
};

struct Outputs {
  std::optional<bool> enabled;     // makeCredential
  std::optional<Results> results;  // getAssertion, or makeCredential with eval
  bool operator==(const Outputs&) const = default;
};

// SHA-256("WebAuthn PRF" || 0x00 || input): the salt a client sends for a WebAuthn PRF input.
Salt salt_for_input(ByteView input);

// The "prf" entry of a request's extensions map, if any. Errors (ctap_invalid_parameter /
// ctap_unexpected_type): not a map, eval without a 32-byte "first", a salt that is not 32 bytes,
// evalByCredential keys that are not non-empty byte strings, evalByCredential on makeCredential.
Result<std::optional<Request>> request_from_extensions(const std::optional<cbor::Map>& extensions,
                                                       bool for_make_credential);
cbor::Map to_cbor(const Request& r);  // the value of "prf"

// The "prf" entry of unsigned extension outputs, if any (strict: results are 32-byte strings).
Result<std::optional<Outputs>> outputs_from_unsigned(const std::optional<cbor::Map>& unsigned_outputs);
cbor::Map to_cbor(const Outputs& o);  // the value of "prf"

// The authenticator side: HMAC-SHA256(cred_random, salt) for each salt given.
Results evaluate(ByteView cred_random, const Input& in);

}  // namespace hg::prf
