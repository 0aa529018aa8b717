// SPDX-License-Identifier: Apache-2.0
// Thin wrappers over OpenSSL 3 for the primitives the hybrid protocol uses.
// Nothing here implements a primitive by hand.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "proto/bytes.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace hg::crypto {

using Sha256Digest = std::array<uint8_t, 32>;
using P256Uncompressed = std::array<uint8_t, 65>;
using P256Compressed = std::array<uint8_t, 33>;

void random_bytes(uint8_t* out, size_t n);
Bytes random_bytes(size_t n);
template <size_t N>
std::array<uint8_t, N> random_array() {
  std::array<uint8_t, N> a{};
  random_bytes(a.data(), N);
  return a;
}

Sha256Digest sha256(ByteView data);
Sha256Digest hmac_sha256(ByteView key, ByteView msg);
// HKDF-SHA256 (RFC 5869). An empty salt means HashLen zero bytes, as the RFC says.
Bytes hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, size_t length);

// One raw AES-256 block, no IV, no padding.
std::array<uint8_t, 16> aes256_encrypt_block(ByteView key32, ByteView block16);
std::array<uint8_t, 16> aes256_decrypt_block(ByteView key32, ByteView block16);

// AES-256-GCM with a 12-byte nonce; output = ciphertext || 16-byte tag.
Bytes aes256_gcm_seal(ByteView key32, ByteView nonce12, ByteView ad, ByteView plaintext);
Result<Bytes> aes256_gcm_open(ByteView key32, ByteView nonce12, ByteView ad, ByteView sealed);

// AES-256-CBC without padding (CTAP 2.1 PIN/UV auth protocols §6.5.6, §6.5.7). The input must be a
// whole number of blocks (crypto error otherwise); iv16 is 16 bytes.
Result<Bytes> aes256_cbc_encrypt(ByteView key32, ByteView iv16, ByteView data);
Result<Bytes> aes256_cbc_decrypt(ByteView key32, ByteView iv16, ByteView data);

// scrypt (RFC 7914) through OpenSSL 3's EVP_KDF "SCRYPT": N = 2^log2_n, r, p. Memory about
// 128 * r * N bytes. A crypto error when OpenSSL refuses the parameters (or the memory).
struct ScryptParams {
  uint32_t log2_n = 15;  // N = 32768: 32 MiB with r = 8
  uint32_t r = 8;
  uint32_t p = 1;
};
Result<SecretBytes> scrypt(ByteView password, ByteView salt, const ScryptParams& params, size_t length);

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const noexcept;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// A P-256 public key (validated point).
class P256Public {
 public:
  // Accepts 33-byte compressed or 65-byte uncompressed SEC1; rejects points not on the curve.
  static Result<P256Public> parse(ByteView sec1);
  const P256Uncompressed& uncompressed() const { return pub_; }
  P256Compressed compressed() const;
  EVP_PKEY* pkey() const { return pkey_.get(); }
  // ECDSA-SHA256 verification of a DER signature.
  bool verify_sha256(ByteView msg, ByteView der_sig) const;
  // The DER SubjectPublicKeyInfo (what WebAuthn's getPublicKey() returns), by OpenSSL.
  Bytes spki_der() const;

 private:
  P256Uncompressed pub_{};
  std::shared_ptr<EVP_PKEY> pkey_;
};

// A P-256 key pair.
class P256Key {
 public:
  static P256Key generate();
  // From a 32-byte big-endian private scalar (1 <= d < n).
  static Result<P256Key> from_private(ByteView scalar32);
  // BoringSSL's EC_KEY_derive_from_secret for P-256:
  // d = OS2IP(HKDF-SHA256(secret, salt=empty, info="derive EC key P-256", 48)) mod n.
  static P256Key derive_from_secret(ByteView secret);

  P256Key(const P256Key&) = delete;
  P256Key& operator=(const P256Key&) = delete;
  P256Key(P256Key&&) noexcept = default;
  P256Key& operator=(P256Key&&) noexcept = default;
  ~P256Key() = default;

  const P256Uncompressed& public_uncompressed() const { return pub_; }
  P256Compressed public_compressed() const;
  SecretBytes private_scalar() const;  // 32 bytes big-endian
  // ECDH: the 32-byte X coordinate of d * peer.
  Result<std::array<uint8_t, 32>> ecdh(ByteView peer_sec1) const;
  std::array<uint8_t, 32> ecdh(const P256Public& peer) const;
  // ECDSA-SHA256, DER-encoded signature.
  Bytes sign_sha256(ByteView msg) const;

 private:
  P256Key() = default;
  P256Uncompressed pub_{};
  PkeyPtr pkey_;
};

// An Ed25519 key pair (RFC 8032, through OpenSSL's EVP_PKEY_ED25519): COSE alg EdDSA (-8).
class Ed25519Key {
 public:
  static Ed25519Key generate();
  // From the 32-byte private key (the RFC 8032 seed).
  static Result<Ed25519Key> from_private(ByteView seed32);

  const std::array<uint8_t, 32>& public_raw() const { return pub_; }
  SecretBytes private_seed() const;  // 32 bytes
  // PureEdDSA signature (64 bytes) over msg.
  Bytes sign(ByteView msg) const;

 private:
  Ed25519Key() = default;
  std::array<uint8_t, 32> pub_{};
  std::shared_ptr<EVP_PKEY> pkey_;
};

// Verifies a 64-byte Ed25519 signature with a 32-byte public key.
bool ed25519_verify(ByteView pub32, ByteView msg, ByteView sig64);

}  // namespace hg::crypto
