// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "proto/digits.hpp"
#include "vectors.hpp"

using namespace hgtest;

TEST_CASE("digits encode matches the Chromium and libwebauthn vectors") {
  for (const auto& v : vectors_of("digits_encode")) {
    auto bytes = unhex(v["input"]["bytes_hex"].get<std::string>());
    const std::string expected = v["expected"]["digits"];
    CHECK(hg::digits::encode(bytes) == expected);
    auto back = hg::digits::decode(expected);
    REQUIRE(back.ok());
    CHECK(*back == bytes);
  }
}

TEST_CASE("digits zero-length table round trips") {
  for (const auto& v : vectors_of("digits_encode_zero")) {
    for (const auto& pair : v["input"]["cases"]) {
      size_t n = pair[0], d = pair[1];
      CHECK(hg::digits::encode(hg::Bytes(n, 0)) == std::string(d, '0'));
      auto back = hg::digits::decode(std::string(d, '0'));
      REQUIRE(back.ok());
      CHECK(*back == hg::Bytes(n, 0));
    }
  }
}

TEST_CASE("digits decode accepts exactly the valid zero lengths") {
  for (const auto& v : vectors_of("digits_decode_zero_lengths")) {
    std::vector<size_t> valid = v["expected"]["valid_n"];
    for (size_t n = 0; n < 20; ++n) {
      auto r = hg::digits::decode(std::string(n, '0'));
      bool expect_ok = std::find(valid.begin(), valid.end(), n) != valid.end();
      INFO("n = " << n);
      CHECK(r.ok() == expect_ok);
      if (r.ok()) {
        for (auto b : *r) CHECK(b == 0);
      }
    }
  }
}

TEST_CASE("digits decode rejections with their reasons") {
  for (const auto& v : vectors_of("digits_decode_reject")) {
    const auto& in = v["input"];
    if (in.contains("digits")) {
      for (const auto& d : in["digits"]) CHECK_FALSE(hg::digits::decode(d.get<std::string>()).ok());
    } else {
      for (const auto& [text, reason] : in["cases"].items()) {
        auto r = hg::digits::decode(text);
        INFO(text);
        REQUIRE_FALSE(r.ok());
        const std::string why = reason;
        if (why.starts_with("ContainsNonDigitChars")) CHECK(r.error().code == hg::Errc::digits_non_digit);
        if (why.starts_with("InvalidLength")) CHECK(r.error().code == hg::Errc::digits_length);
        if (why.starts_with("OutOfRange")) CHECK(r.error().code == hg::Errc::digits_range);
      }
    }
  }
}

TEST_CASE("digits round trip for every length up to 100 bytes") {
  for (size_t n = 0; n <= 100; ++n) {
    hg::Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = uint8_t(0xff - i * 7);
    auto d = hg::digits::encode(b);
    auto back = hg::digits::decode(d);
    REQUIRE(back.ok());
    CHECK(*back == b);
  }
}
