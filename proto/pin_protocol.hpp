// SPDX-License-Identifier: Apache-2.0
// The PIN/UV auth protocols of CTAP 2.1 (§6.5.6 protocol 1, §6.5.7 protocol 2), authenticator
// side: the shared secret from an ECDH with the platform's key-agreement key, encrypt / decrypt
// and the MAC that authenticates a request. Pure functions over OpenSSL (proto/crypto.hpp).
#pragma once

#include <cstdint>
#include <optional>

#include "proto/bytes.hpp"
#include "proto/cbor.hpp"
#include "proto/crypto.hpp"
#include "proto/error.hpp"

namespace hg::pin_protocol {

inline constexpr uint64_t kVersion1 = 1;
inline constexpr uint64_t kVersion2 = 2;
inline constexpr size_t kTokenLen = 32;  // the pinUvAuthToken (both protocols accept 32 bytes)

// Whether `version` is 1 or 2.
bool supported(uint64_t version) noexcept;

// The authenticator's key-agreement public key as the COSE map CTAP sends
// ({1: 2, 3: -25, -1: 1, -2: x, -3: y}; alg -25 although the KDF is the protocol's own).
cbor::Map cose_key_agreement(const crypto::P256Key& key);

// The shared secret: ECDH with the platform's COSE key (kty 2, crv 1, its point validated), then
// protocol 1: SHA-256(Z) (32 bytes); protocol 2: HKDF-SHA256(Z, 32 zero bytes, "CTAP2 HMAC key")
// || HKDF-SHA256(Z, ..., "CTAP2 AES key") (64 bytes). Errors: ctap_invalid_parameter.
Result<SecretBytes> shared_secret(uint64_t version, const crypto::P256Key& own, const cbor::Map& peer_cose);

// Encrypts whole blocks for the platform: protocol 1 AES-256-CBC(IV 0); protocol 2 a random
// IV || AES-256-CBC(IV). `key` is a shared secret.
Result<Bytes> encrypt(uint64_t version, const SecretBytes& key, ByteView plaintext);
// The inverse; errors (crypto) when the ciphertext is not whole blocks (after the IV).
Result<SecretBytes> decrypt(uint64_t version, const SecretBytes& key, ByteView ciphertext);

// Whether `mac` authenticates `message` under `key` (a shared secret or a pinUvAuthToken):
// protocol 1 LEFT(HMAC-SHA256(key, message), 16); protocol 2 HMAC-SHA256(first 32 bytes of key,
// message). Compared in constant time; a MAC of the wrong length is false.
bool verify(uint64_t version, const SecretBytes& key, ByteView message, ByteView mac);

// LEFT(SHA-256(pin), 16): what the platform sends as pinHash.
std::array<uint8_t, 16> pin_hash(ByteView pin_utf8);

}  // namespace hg::pin_protocol
