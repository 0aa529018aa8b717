// SPDX-License-Identifier: Apache-2.0
#include "proto/derive.hpp"

#include "proto/crypto.hpp"

namespace hg {

Bytes derive(ByteView secret, ByteView nonce, Purpose purpose, size_t length) {
  const uint32_t p = static_cast<uint32_t>(purpose);
  const uint8_t info[4] = {uint8_t(p), uint8_t(p >> 8), uint8_t(p >> 16), uint8_t(p >> 24)};
  return crypto::hkdf_sha256(secret, nonce, ByteView(info, 4), length);
}

}  // namespace hg
