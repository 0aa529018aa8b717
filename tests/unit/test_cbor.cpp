// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "proto/cbor.hpp"
#include "vectors.hpp"

using namespace hg;
using hgtest::unhex;

TEST_CASE("cbor encodes integers with minimal heads and sorts map keys canonically") {
  // RFC 8949 Appendix A examples.
  CHECK(hex_encode(cbor::encode(cbor::Value(0u))) == "00");
  CHECK(hex_encode(cbor::encode(cbor::Value(23u))) == "17");
  CHECK(hex_encode(cbor::encode(cbor::Value(24u))) == "1818");
  CHECK(hex_encode(cbor::encode(cbor::Value(1000u))) == "1903e8");
  CHECK(hex_encode(cbor::encode(cbor::Value(1000000u))) == "1a000f4240");
  CHECK(hex_encode(cbor::encode(cbor::Value(uint64_t{1000000000000}))) == "1b000000e8d4a51000");
  CHECK(hex_encode(cbor::encode(cbor::Value(-1))) == "20");
  CHECK(hex_encode(cbor::encode(cbor::Value(-1000))) == "3903e7");
  CHECK(hex_encode(cbor::encode(cbor::Value("IETF"))) == "6449455446");
  // Keys: shorter encodings first, then bytewise: 10 < 100 < -1 < "z" < "aa".
  cbor::Map m;
  m.set(cbor::Value("aa"), 5u);
  m.set(cbor::Value("z"), 4u);
  m.set(cbor::Value(-1), 3u);
  m.set(cbor::Value(100u), 2u);
  m.set(cbor::Value(10u), 1u);
  CHECK(hex_encode(cbor::encode(cbor::Value(m))) == "a50a011864022003617a0462616105");
}

TEST_CASE("cbor decode strictness") {
  auto rejects = [](const std::string& h, Errc code) {
    auto r = cbor::decode(unhex(h));
    INFO(h);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == code);
  };
  rejects("1805", Errc::cbor_not_canonical);
  rejects("5800", Errc::cbor_not_canonical);
  rejects("a202000100", Errc::cbor_not_canonical);  // {2: 0, 1: 0}
  rejects("a201000100", Errc::cbor_not_canonical);  // duplicate key
  rejects("0000", Errc::cbor_malformed);            // trailing bytes
  rejects("5f4100ff", Errc::cbor_unsupported);      // indefinite byte string
  rejects("9f00ff", Errc::cbor_unsupported);        // indefinite array
  rejects("c100", Errc::cbor_unsupported);          // tag
  rejects("f93c00", Errc::cbor_unsupported);        // half float
  rejects("f7", Errc::cbor_unsupported);            // undefined
  rejects("62c328", Errc::cbor_malformed);          // invalid UTF-8
  rejects("9a9a9a9a0a", Errc::cbor_malformed);      // libcbor's 20 GB allocation trap
  rejects("5a7fffffff", Errc::cbor_malformed);      // huge byte string, truncated
  rejects("", Errc::cbor_malformed);
  // 17 nested arrays exceed Chromium's depth limit of 16.
  std::string deep;
  for (int i = 0; i < 16; ++i) deep += "81";
  rejects(deep + "80", Errc::cbor_too_large);
  CHECK(cbor::decode(unhex(deep.substr(2) + "80")).ok());  // 16 levels are fine
}

TEST_CASE("cbor lenient mode still rejects duplicates but accepts unsorted keys") {
  cbor::DecodeOptions lenient{.canonical = false};
  auto r = cbor::decode(unhex("a202000100"), lenient);
  REQUIRE(r.ok());
  CHECK(r->as_map().find(2u)->as_unsigned() == 0);
  CHECK_FALSE(cbor::decode(unhex("a201000100"), lenient).ok());
  auto nm = cbor::decode(unhex("1805"), lenient);
  REQUIRE(nm.ok());
  CHECK(nm->as_unsigned() == 5);
}

TEST_CASE("cbor round trips nested values") {
  cbor::Map inner{{cbor::Value("rk"), cbor::Value(true)}, {cbor::Value("uv"), cbor::Value(false)}};
  cbor::Value v(cbor::Map{{1u, cbor::Value(cbor::Array{cbor::Value("a"), cbor::Value(-7), cbor::Value(cbor::Null{})})},
                          {2u, cbor::Value(Bytes{1, 2, 3})},
                          {3u, cbor::Value(inner)}});
  auto enc = cbor::encode(v);
  auto dec = cbor::decode(enc);
  REQUIRE(dec.ok());
  CHECK(*dec == v);
  CHECK(cbor::diagnostic(*dec) == "{1: [\"a\", -7, null], 2: h'010203', 3: {\"rk\": true, \"uv\": false}}");
}

TEST_CASE("cbor decode_prefix reports consumed bytes") {
  size_t used = 0;
  auto r = cbor::decode_prefix(unhex("a10102ffff"), used);
  REQUIRE(r.ok());
  CHECK(used == 3);
}
