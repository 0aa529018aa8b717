// SPDX-License-Identifier: Apache-2.0
// The QR code (docs/protocol.md §2): "FIDO:/" + digits of a canonical CBOR map
// {0: compressed P-256 identity key, 1: 16-byte secret, 2: known domains, 3: time,
//  4: supports linking, 5: request type}.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proto/bytes.hpp"
#include "proto/crypto.hpp"

namespace hg::qr_payload {

enum class RequestType { get_assertion, make_credential, dc_presentation };
std::string_view to_string(RequestType t);       // "ga", "mc", "dcp"
RequestType request_type_from_string(std::string_view s);  // unknown → get_assertion (Chromium)

using QrSecret = std::array<uint8_t, 16>;

struct Payload {
  crypto::P256Compressed public_key{};
  QrSecret secret{};
  std::optional<uint64_t> known_domains;   // key 2
  std::optional<uint64_t> timestamp;       // key 3 (Unix seconds)
  std::optional<bool> supports_linking;    // key 4 (absent != false)
  std::optional<std::string> request_type; // key 5 as sent
  RequestType request_type_or_default() const {
    return request_type ? request_type_from_string(*request_type) : RequestType::get_assertion;
  }
  ~Payload() { secure_wipe(secret); }
};

inline constexpr std::string_view kPrefix = "FIDO:/";

// Canonical CBOR of the payload (keys ascending, no key 6).
Bytes encode_cbor(const Payload& p);
// "FIDO:/" + digits(encode_cbor(p)), prefix upper-case.
std::string encode_url(const Payload& p);

// Chromium's validation (docs/protocol.md §2.4): prefix (case-insensitive), digits, canonical CBOR map,
// key 0 a valid compressed point (33 bytes), key 1 16 bytes, keys 2/4/5 typed; key 3 and
// unknown keys are not type-checked.
Result<Payload> parse_url(std::string_view url);
Result<Payload> parse_cbor(ByteView cbor);

// What a desktop keeps for one QR code: a fresh identity key pair and secret.
struct DesktopQr {
  crypto::P256Key identity;
  Payload payload;
  std::string url;
};
struct GenerateOptions {
  RequestType request_type = RequestType::get_assertion;
  bool supports_linking = false;
  uint64_t known_domains = 2;
  uint64_t timestamp = 0;  // 0 = omit key 3
};
DesktopQr generate(const GenerateOptions& opts);

}  // namespace hg::qr_payload
