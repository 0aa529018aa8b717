// SPDX-License-Identifier: Apache-2.0
// Key derivation (docs/protocol.md §3): HKDF-SHA256(IKM = secret, salt = nonce, info = LE32(purpose)).
#pragma once

#include <cstdint>

#include "proto/bytes.hpp"

namespace hg {

enum class Purpose : uint32_t {
  eid_key = 1,
  tunnel_id = 2,
  psk = 3,
  paired_secret = 4,
  identity_key_seed = 5,
  per_contact_id_secret = 6,
};

Bytes derive(ByteView secret, ByteView nonce, Purpose purpose, size_t length);

template <size_t N>
std::array<uint8_t, N> derive_fixed(ByteView secret, ByteView nonce, Purpose purpose) {
  Bytes b = derive(secret, nonce, purpose, N);
  std::array<uint8_t, N> a{};
  std::copy(b.begin(), b.end(), a.begin());
  secure_wipe(b);
  return a;
}

using TunnelId = std::array<uint8_t, 16>;
using EidKey = std::array<uint8_t, 64>;
using Psk = std::array<uint8_t, 32>;

inline TunnelId derive_tunnel_id(ByteView qr_secret) { return derive_fixed<16>(qr_secret, {}, Purpose::tunnel_id); }
inline EidKey derive_eid_key(ByteView secret, ByteView nonce = {}) { return derive_fixed<64>(secret, nonce, Purpose::eid_key); }
inline Psk derive_psk(ByteView secret, ByteView plaintext_eid) { return derive_fixed<32>(secret, plaintext_eid, Purpose::psk); }

}  // namespace hg
