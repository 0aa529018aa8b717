// SPDX-License-Identifier: Apache-2.0
#include "proto/pin_protocol.hpp"

#include <algorithm>
#include <string_view>

namespace hg::pin_protocol {

namespace {

Error bad(std::string what) { return make_error(Errc::ctap_invalid_parameter, std::move(what)); }

ByteView hmac_key(uint64_t version, const SecretBytes& key) {
  ByteView k = key.view();
  if (version == kVersion2 && k.size() > 32) return k.subspan(0, 32);
  return k;
}

ByteView aes_key(uint64_t version, const SecretBytes& key) {
  ByteView k = key.view();
  if (version == kVersion2 && k.size() == 64) return k.subspan(32, 32);
  return k;
}

const uint8_t kZeroIv[16] = {};

}  // namespace

bool supported(uint64_t version) noexcept { return version == kVersion1 || version == kVersion2; }

cbor::Map cose_key_agreement(const crypto::P256Key& key) {
  const auto& pub = key.public_uncompressed();
  cbor::Map m;
  m.set(cbor::Value(uint64_t{1}), cbor::Value(uint64_t{2}));
  m.set(cbor::Value(uint64_t{3}), cbor::Value(int64_t{-25}));
  m.set(cbor::Value(int64_t{-1}), cbor::Value(uint64_t{1}));
  m.set(cbor::Value(int64_t{-2}), cbor::Value(Bytes(pub.begin() + 1, pub.begin() + 33)));
  m.set(cbor::Value(int64_t{-3}), cbor::Value(Bytes(pub.begin() + 33, pub.end())));
  return m;
}

Result<SecretBytes> shared_secret(uint64_t version, const crypto::P256Key& own, const cbor::Map& peer) {
  if (!supported(version)) return bad("unsupported pinUvAuthProtocol");
  const cbor::Value* kty = peer.find(cbor::Value(uint64_t{1}));
  const cbor::Value* crv = peer.find(cbor::Value(int64_t{-1}));
  const cbor::Value* x = peer.find(cbor::Value(int64_t{-2}));
  const cbor::Value* y = peer.find(cbor::Value(int64_t{-3}));
  if (!kty || !kty->is_unsigned() || kty->as_unsigned() != 2) return bad("keyAgreement is not an EC2 key");
  if (!crv || !crv->is_unsigned() || crv->as_unsigned() != 1) return bad("keyAgreement is not on P-256");
  if (!x || !x->is_bytes() || x->as_bytes().size() != 32 || !y || !y->is_bytes() || y->as_bytes().size() != 32)
    return bad("keyAgreement coordinates");
  Bytes sec1;
  sec1.reserve(65);
  sec1.push_back(0x04);
  sec1.insert(sec1.end(), x->as_bytes().begin(), x->as_bytes().end());
  sec1.insert(sec1.end(), y->as_bytes().begin(), y->as_bytes().end());
  auto z = own.ecdh(sec1);  // validates the point
  if (!z) return bad("keyAgreement is not a valid P-256 point");
  std::array<uint8_t, 32> zv = *z;
  SecretBytes out;
  if (version == kVersion1) {
    auto d = crypto::sha256(zv);
    out = SecretBytes(ByteView(d));
    secure_wipe(d);
  } else {
    static const uint8_t salt[32] = {};
    static constexpr std::string_view hmac_info = "CTAP2 HMAC key", aes_info = "CTAP2 AES key";
    Bytes k = crypto::hkdf_sha256(zv, ByteView(salt, 32), as_bytes(hmac_info), 32);
    Bytes a = crypto::hkdf_sha256(zv, ByteView(salt, 32), as_bytes(aes_info), 32);
    k.insert(k.end(), a.begin(), a.end());
    secure_wipe(a);
    out = SecretBytes(std::move(k));
  }
  secure_wipe(zv);
  return out;
}

Result<Bytes> encrypt(uint64_t version, const SecretBytes& key, ByteView plaintext) {
  if (!supported(version)) return bad("unsupported pinUvAuthProtocol");
  if (version == kVersion1) return crypto::aes256_cbc_encrypt(aes_key(version, key), ByteView(kZeroIv, 16), plaintext);
  Bytes iv = crypto::random_bytes(16);
  HG_TRY(Bytes ct, crypto::aes256_cbc_encrypt(aes_key(version, key), iv, plaintext));
  iv.insert(iv.end(), ct.begin(), ct.end());
  return iv;
}

Result<SecretBytes> decrypt(uint64_t version, const SecretBytes& key, ByteView ciphertext) {
  if (!supported(version)) return bad("unsupported pinUvAuthProtocol");
  if (version == kVersion1) {
    HG_TRY(Bytes pt, crypto::aes256_cbc_decrypt(aes_key(version, key), ByteView(kZeroIv, 16), ciphertext));
    return SecretBytes(std::move(pt));
  }
  if (ciphertext.size() < 16) return make_error(Errc::crypto, "ciphertext shorter than its IV");
  HG_TRY(Bytes pt, crypto::aes256_cbc_decrypt(aes_key(version, key), ciphertext.subspan(0, 16), ciphertext.subspan(16)));
  return SecretBytes(std::move(pt));
}

bool verify(uint64_t version, const SecretBytes& key, ByteView message, ByteView mac) {
  if (!supported(version) || key.size() == 0) return false;
  auto full = crypto::hmac_sha256(hmac_key(version, key), message);
  const size_t n = version == kVersion1 ? 16 : 32;
  const bool ok = mac.size() == n && ct_equal(ByteView(full.data(), n), mac);
  secure_wipe(full);
  return ok;
}

std::array<uint8_t, 16> pin_hash(ByteView pin_utf8) {
  auto d = crypto::sha256(pin_utf8);
  std::array<uint8_t, 16> out{};
  std::copy_n(d.begin(), 16, out.begin());
  secure_wipe(d);
  return out;
}

}  // namespace hg::pin_protocol
