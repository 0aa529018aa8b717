// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "proto/crypto.hpp"
#include "proto/derive.hpp"
#include "proto/messages.hpp"
#include "vectors.hpp"

using namespace hg;
using namespace hgtest;

TEST_CASE("EC_KEY_derive_from_secret matches BoringSSL's P-256 known answers") {
  for (const auto& v : vectors_of("ec_key_derive_from_secret_p256")) {
    auto key = crypto::P256Key::derive_from_secret(unhex(v["input"]["secret_hex"]));
    CHECK(hex(key.private_scalar().view()) == v["expected"]["priv_hex"].get<std::string>());
    CHECK(hex(key.public_uncompressed()) == v["expected"]["pub_uncompressed_hex"].get<std::string>());
  }
}

TEST_CASE("identity key from seed") {
  for (const auto& v : vectors_of("identity_key_from_seed")) {
    auto key = crypto::P256Key::derive_from_secret(unhex(v["input"]["seed_hex"]));
    CHECK(hex(key.public_uncompressed()) == v["expected"]["pub_hex"].get<std::string>());
  }
}

TEST_CASE("HKDF derivation with LE32 purpose") {
  for (const auto& v : vectors_of("hkdf_derive")) {
    auto out = derive(unhex(v["input"]["secret_hex"]), {}, Purpose(v["input"]["purpose"].get<uint32_t>()),
                      v["input"]["length"].get<size_t>());
    CHECK(hex(out) == v["expected"]["output_hex"].get<std::string>());
  }
}

TEST_CASE("HKDF-SHA256 matches RFC 5869 test case 1") {
  auto okm = crypto::hkdf_sha256(unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), unhex("000102030405060708090a0b0c"),
                                 unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  CHECK(hex(okm) ==
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST_CASE("pairing signature known answer and rejection of altered inputs") {
  for (const auto& v : vectors_of("pairing_signature")) {
    const auto& in = v["input"];
    const auto& ex = v["expected"];
    auto phone = crypto::P256Key::derive_from_secret(unhex(in["authenticator_seed_hex"]));
    auto desktop = crypto::P256Key::derive_from_secret(unhex(in["client_seed_hex"]));
    CHECK(hex(phone.private_scalar().view()) == ex["authenticator_priv_hex"].get<std::string>());
    CHECK(hex(phone.public_uncompressed()) == ex["authenticator_pub_hex"].get<std::string>());
    CHECK(hex(desktop.private_scalar().view()) == ex["client_priv_hex"].get<std::string>());
    CHECK(hex(desktop.public_uncompressed()) == ex["client_pub_hex"].get<std::string>());
    noise::Hash hh{};
    auto hhb = unhex(in["handshake_hash_hex"]);
    std::copy(hhb.begin(), hhb.end(), hh.begin());
    auto desktop_pub = crypto::P256Public::parse(desktop.public_uncompressed());
    REQUIRE(desktop_pub.ok());
    auto sig = messages::linking_signature(phone, *desktop_pub, hh);
    CHECK(hex(sig) == ex["signature_hex"].get<std::string>());
    CHECK(messages::verify_linking_signature(desktop, phone.public_uncompressed(), hh, sig));
    auto hh2 = hh;
    hh2[0] ^= 1;
    CHECK_FALSE(messages::verify_linking_signature(desktop, phone.public_uncompressed(), hh2, sig));
    auto sig2 = sig;
    sig2[0] ^= 1;
    CHECK_FALSE(messages::verify_linking_signature(desktop, phone.public_uncompressed(), hh, sig2));
  }
}

TEST_CASE("P-256 public key parsing validates points") {
  auto k = crypto::P256Key::generate();
  auto c = k.public_compressed();
  auto p = crypto::P256Public::parse(c);
  REQUIRE(p.ok());
  CHECK(p->uncompressed() == k.public_uncompressed());
  auto bad = c;
  bad[0] = 0x05;
  CHECK_FALSE(crypto::P256Public::parse(bad).ok());
  auto off = k.public_uncompressed();
  off[64] ^= 1;  // (x, y+1) is not on the curve
  CHECK_FALSE(crypto::P256Public::parse(off).ok());
  CHECK_FALSE(crypto::P256Public::parse(Bytes(32, 1)).ok());
}

TEST_CASE("ECDSA signatures verify and fail when altered") {
  auto k = crypto::P256Key::generate();
  auto sig = k.sign_sha256(as_bytes("message"));
  auto pub = crypto::P256Public::parse(k.public_uncompressed());
  REQUIRE(pub.ok());
  CHECK(pub->verify_sha256(as_bytes("message"), sig));
  CHECK_FALSE(pub->verify_sha256(as_bytes("messagf"), sig));
}

TEST_CASE("AES-256-GCM rejects a tampered ciphertext") {
  Bytes key(32, 7), nonce(12, 0);
  auto ct = crypto::aes256_gcm_seal(key, nonce, {}, as_bytes("hello"));
  REQUIRE(crypto::aes256_gcm_open(key, nonce, {}, ct).ok());
  ct[0] ^= 1;
  CHECK_FALSE(crypto::aes256_gcm_open(key, nonce, {}, ct).ok());
  CHECK_FALSE(crypto::aes256_gcm_open(key, nonce, {}, Bytes(15)).ok());
}

TEST_CASE("Ed25519 matches RFC 8032 test 1 and refuses altered signatures") {
  // RFC 8032 §7.1, TEST 1 (empty message).
  auto key = crypto::Ed25519Key::from_private(unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  REQUIRE(key.ok());
  CHECK(hex(key->public_raw()) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const Bytes sig = key->sign({});
  CHECK(hex(sig) ==
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  CHECK(crypto::ed25519_verify(key->public_raw(), {}, sig));
  Bytes bad = sig;
  bad[0] ^= 0x01;
  CHECK_FALSE(crypto::ed25519_verify(key->public_raw(), {}, bad));
  CHECK_FALSE(crypto::Ed25519Key::from_private(Bytes(31, 1)).ok());
  auto fresh = crypto::Ed25519Key::generate();
  auto again = crypto::Ed25519Key::from_private(fresh.private_seed().view());
  REQUIRE(again.ok());
  CHECK(again->public_raw() == fresh.public_raw());
}
