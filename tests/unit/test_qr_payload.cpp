// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "proto/cbor.hpp"
#include "proto/digits.hpp"
#include "proto/qr_payload.hpp"
#include "vectors.hpp"

using namespace hg;
using namespace hgtest;

TEST_CASE("QR parse follows Chromium's KnownQRs cases") {
  for (const auto& v : vectors_of("qr_parse")) {
    const std::string url = v["input"]["qr_url"];
    INFO(v["input"]["case"].get<std::string>());
    // The URL is the digits of the CBOR.
    CHECK(url == "FIDO:/" + digits::encode(unhex(v["input"]["cbor_hex"])));
    auto p = qr_payload::parse_url(url);
    const auto& ex = v["expected"];
    REQUIRE(p.ok() == ex["valid"].get<bool>());
    if (!p.ok()) continue;
    CHECK(p->known_domains.value_or(0) == ex["num_known_domains"].get<uint64_t>());
    if (ex["supports_linking"].is_null())
      CHECK_FALSE(p->supports_linking.has_value());
    else
      CHECK(p->supports_linking == ex["supports_linking"].get<bool>());
    CHECK(qr_payload::to_string(p->request_type_or_default()) == ex["request_type"].get<std::string>());
    // Parsing is case-insensitive in the prefix.
    auto lower = url;
    lower.replace(0, 4, "fido");
    CHECK(qr_payload::parse_url(lower).ok());
  }
}

TEST_CASE("QR URL rejections from webauthn-rs") {
  for (const auto& v : vectors_of("qr_url_reject")) {
    for (const auto& [url, why] : v["input"]["cases"].items()) {
      auto p = qr_payload::parse_url(url);
      INFO(url << " -> " << why.get<std::string>());
      REQUIRE_FALSE(p.ok());
      const std::string w = why;
      if (w == "InvalidCableUrl") CHECK((p.error().code == Errc::qr_prefix || p.error().code == Errc::qr_empty));
      if (w.find("ContainsNonDigitChars") != std::string::npos) CHECK(p.error().code == Errc::digits_non_digit);
      if (w.find("InvalidLength") != std::string::npos) CHECK(p.error().code == Errc::digits_length);
      if (w.find("OutOfRange") != std::string::npos) CHECK(p.error().code == Errc::digits_range);
      if (w == "Cbor") CHECK(p.error().code == Errc::qr_cbor);
    }
  }
}

TEST_CASE("QR encode reproduces Chromium's encoding byte for byte") {
  for (const auto& v : vectors_of("qr_encode")) {
    const auto& in = v["input"];
    auto key = crypto::P256Key::derive_from_secret(unhex(in["qr_seed_hex"]));
    qr_payload::Payload p;
    p.public_key = key.public_compressed();
    auto secret = unhex(in["qr_secret_hex"]);
    std::copy(secret.begin(), secret.end(), p.secret.begin());
    p.known_domains = in["num_known_domains"].get<uint64_t>();
    p.timestamp = in["timestamp"].get<uint64_t>();
    p.supports_linking = in["supports_linking"].get<bool>();
    p.request_type = in["hint"].get<std::string>();
    CHECK(hex(p.public_key) == v["expected"]["compressed_pubkey_hex"].get<std::string>());
    CHECK(hex(qr_payload::encode_cbor(p)) == v["expected"]["cbor_hex"].get<std::string>());
    CHECK(qr_payload::encode_url(p) == v["expected"]["qr_url"].get<std::string>());
  }
}

TEST_CASE("request type strings map as Chromium does") {
  for (const auto& v : vectors_of("request_type_string")) {
    for (const auto& [s, meaning] : v["input"]["strings"].items()) {
      auto t = qr_payload::request_type_from_string(s);
      const std::string m = meaning;
      if (m == "makeCredential") CHECK(t == qr_payload::RequestType::make_credential);
      if (m == "getAssertion") CHECK(t == qr_payload::RequestType::get_assertion);
      if (m.starts_with("digital")) CHECK(t == qr_payload::RequestType::dc_presentation);
      if (s == "mc" || s == "ga" || s == "dcp") CHECK(qr_payload::to_string(t) == s);
    }
  }
}

TEST_CASE("generated QR codes carry keys 0 to 5 and never key 6") {
  for (const auto& v : vectors_of("qr_key6")) {
    CHECK(v["expected"]["CloudAssistedOnly"] == "key 6 absent");
  }
  auto q = qr_payload::generate({.request_type = qr_payload::RequestType::make_credential,
                                 .supports_linking = true,
                                 .known_domains = 2,
                                 .timestamp = 1700000000});
  auto bytes = digits::decode(q.url.substr(6));
  REQUIRE(bytes.ok());
  auto m = cbor::decode(*bytes);  // canonical mode: would reject anything Chromium rejects
  REQUIRE(m.ok());
  REQUIRE(m->is_map());
  for (uint64_t k = 0; k <= 5; ++k) CHECK(m->as_map().find(k) != nullptr);
  CHECK(m->as_map().find(6u) == nullptr);
  CHECK(m->as_map().size() == 6);
  auto parsed = qr_payload::parse_url(q.url);
  REQUIRE(parsed.ok());
  CHECK(parsed->public_key == q.identity.public_compressed());
  CHECK(parsed->request_type == "mc");
  CHECK(q.url.starts_with("FIDO:/"));
}

TEST_CASE("QR parse rejects bad keys and secrets") {
  auto key = crypto::P256Key::generate().public_compressed();
  auto make = [&](cbor::Map m) { return "FIDO:/" + digits::encode(cbor::encode(cbor::Value(std::move(m)))); };
  CHECK(qr_payload::parse_url(make({{0u, cbor::Value(key)}, {1u, cbor::Value(Bytes(15))}})).error().code ==
        Errc::qr_bad_secret);
  auto bad_key = key;
  bad_key[0] = 0x04;
  CHECK(qr_payload::parse_url(make({{0u, cbor::Value(bad_key)}, {1u, cbor::Value(Bytes(16))}})).error().code ==
        Errc::qr_bad_key);
  CHECK(qr_payload::parse_url(make({{1u, cbor::Value(Bytes(16))}})).error().code == Errc::qr_missing_key);
  CHECK(qr_payload::parse_url(make({{0u, cbor::Value(key)}, {1u, cbor::Value(Bytes(16))}, {4u, cbor::Value(1u)}}))
            .error()
            .code == Errc::qr_bad_field);
  // Key 3 is not type-checked (Chromium ignores it).
  CHECK(qr_payload::parse_url(make({{0u, cbor::Value(key)}, {1u, cbor::Value(Bytes(16))}, {3u, cbor::Value("x")}}))
            .ok());
}
