// SPDX-License-Identifier: Apache-2.0
// The BLE advert (docs/protocol.md §5): a 16-byte plaintext EID, AES-256 encrypted as one block, plus a
// 4-byte HMAC-SHA256 tag: 20 bytes of service data under UUID 0xFFF9 (or 0xFDE2).
#pragma once

#include <array>
#include <cstdint>

#include "proto/bytes.hpp"
#include "proto/derive.hpp"

namespace hg::eid {

inline constexpr size_t kAdvertSize = 20;
using Plaintext = std::array<uint8_t, 16>;
using Advert = std::array<uint8_t, kAdvertSize>;
using RoutingId = std::array<uint8_t, 3>;

struct Components {
  std::array<uint8_t, 10> nonce{};
  RoutingId routing_id{};
  uint16_t domain_id = 0;  // little-endian on the wire
};

Plaintext from_components(const Components& c);
// The EID of a linked phone's advert: random, but byte 0 stays 0 and the domain bytes stay
// >= 0x0100, so that a Chromium desktop's domain check accepts it (docs/protocol.md §5.4).
Plaintext random_linked_plaintext();
// Byte 0 must be 0; with check_domain, the domain must be < 2 or >= 256.
Result<Components> to_components(const Plaintext& p, bool check_domain = true);

Advert encrypt(const Plaintext& p, const EidKey& key);

struct DecryptOptions {
  // Chromium rejects unassigned domains (2..255) at decrypt time. A linked-flow desktop should
  // not (the phone's EID is random there), see docs/protocol.md §5.4.
  bool check_domain = true;
};
// Trial decryption: service data of 20 bytes or more (only the first 20 are read); the tag is
// compared in constant time. Errors: eid.length, eid.tag (not ours), eid.reserved, eid.domain.
Result<Plaintext> decrypt(ByteView service_data, const EidKey& key, DecryptOptions opts = {});

}  // namespace hg::eid
