// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "proto/crypter.hpp"
#include "vectors.hpp"

using namespace hg;
using namespace hgtest;

TEST_CASE("padding strip rules from libwebauthn") {
  for (const auto& v : vectors_of("strip_padding")) {
    auto r = unpad_message(unhex(v["input"]["frame_hex"]));
    REQUIRE(r.ok());
    CHECK(hex(*r) == v["expected"]["result_hex"].get<std::string>());
    CHECK(unpad_message({}).error().code == Errc::crypter_padding);
    CHECK(unpad_message(unhex("05")).error().code == Errc::crypter_padding);
  }
}

TEST_CASE("padding sizes are multiples of 32 with at least one byte") {
  for (size_t n : {0u, 1u, 30u, 31u, 32u, 63u, 224u, 1000u}) {
    auto p = pad_message(Bytes(n, 0xab));
    CHECK(p.size() % 32 == 0);
    CHECK(p.size() >= n + 1);
    CHECK(p.size() < n + 1 + 32);
    auto u = unpad_message(p);
    REQUIRE(u.ok());
    CHECK(*u == Bytes(n, 0xab));
  }
  // webauthn-rs: a 224-byte plaintext → 31 zeros + 0x1f → 256 bytes → 272-byte ciphertext.
  auto p = pad_message(Bytes(224, 1));
  CHECK(p.size() == 256);
  CHECK(p.back() == 0x1f);
  Crypter c(SecretBytes(Bytes(32, 1)), SecretBytes(Bytes(32, 2)));
  CHECK(c.encrypt(Bytes(224, 1))->size() == 272);
}

TEST_CASE("frames from webauthn-rs") {
  for (const auto& v : vectors_of("frame")) {
    CHECK(hex(encode_frame(MessageType::shutdown, {})) == v["expected"]["shutdown_bytes_hex"].get<std::string>());
    CHECK(hex(encode_frame(MessageType::update, unhex(v["input"]["update"]["data_hex"]))) ==
          v["expected"]["update_bytes_hex"].get<std::string>());
    auto f = decode_frame(unhex("0201020304"));
    REQUIRE(f.ok());
    CHECK(f->type == MessageType::update);
    CHECK(hex(f->payload) == "01020304");
    CHECK(decode_frame(unhex("ff")).error().code == Errc::frame_type);
    CHECK(decode_frame(unhex("04")).error().code == Errc::frame_type);
    CHECK(decode_frame({}).error().code == Errc::frame_empty);
    CHECK(decode_frame(unhex("03")).ok());
  }
}

TEST_CASE("CTAP request framing from webauthn-rs") {
  for (const auto& v : vectors_of("frame_ctap_request")) {
    auto frame = unhex(v["expected"]["request_frame_hex"]);
    auto f = decode_frame(frame);
    REQUIRE(f.ok());
    CHECK(f->type == MessageType::ctap);
    CHECK(f->payload[0] == 0x01);  // makeCredential
    CHECK(encode_frame(MessageType::ctap, f->payload) == frame);
  }
}

TEST_CASE("Crypter counters, tampering and the 2^24 limit") {
  SecretBytes a(Bytes(32, 0x7b)), b(Bytes(32, 0xe7));
  Crypter desktop(b, a), phone(a, b);
  for (int i = 0; i < 5; ++i) {
    auto ct = desktop.encrypt(as_bytes("message " + std::to_string(i)));
    REQUIRE(ct.ok());
    auto pt = phone.decrypt(*ct);
    REQUIRE(pt.ok());
    CHECK(to_string(*pt) == "message " + std::to_string(i));
  }
  // A replayed or reordered message fails and does not advance the counter.
  auto c5 = desktop.encrypt(as_bytes("five"));
  auto c6 = desktop.encrypt(as_bytes("six"));
  CHECK(phone.decrypt(*c6).error().code == Errc::crypter_decrypt);
  CHECK(phone.read_counter() == 5);
  auto tampered = *c5;
  tampered[3] ^= 0x10;
  CHECK(phone.decrypt(tampered).error().code == Errc::crypter_decrypt);
  CHECK(phone.decrypt(*c5).ok());
  CHECK(phone.decrypt(*c6).ok());

  desktop.set_counters_for_testing(0, kMaxCrypterCounter);
  CHECK(desktop.encrypt(as_bytes("last")).ok());
  CHECK(desktop.encrypt(as_bytes("one too many")).error().code == Errc::crypter_exhausted);
}
