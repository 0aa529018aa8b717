// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "proto/crypto.hpp"
#include "proto/derive.hpp"
#include "proto/domains.hpp"
#include "proto/eid.hpp"
#include "vectors.hpp"

using namespace hg;
using namespace hgtest;

static TunnelId tid_from_hex(const std::string& h) { return *hex_decode_fixed<16>(h); }

TEST_CASE("tunnel server domains and new URLs") {
  for (const auto& v : vectors_of("tunnel_domain")) {
    const auto& in = v["input"];
    const auto& ex = v["expected"];
    if (in.contains("ids")) {
      for (int id : in["ids"]) CHECK(*tunnel_domain::name(uint16_t(id)) == ex[std::to_string(id)].get<std::string>());
      continue;
    }
    auto name = tunnel_domain::name(in["domain_id"].get<uint16_t>());
    REQUIRE(name.ok());
    auto url = tunnel_domain::new_url(*name, tid_from_hex(in["tunnel_id_hex"]));
    CHECK(url == ex["url"].get<std::string>());
    CHECK(url.find(ex["url_contains"].get<std::string>()) != std::string::npos);
  }
}

TEST_CASE("hashed domain names") {
  for (const auto& v : vectors_of("hashed_domains")) {
    for (int id : v["input"]["ids"]) CHECK(*tunnel_domain::name(uint16_t(id)) == v["expected"][std::to_string(id)].get<std::string>());
  }
  for (uint16_t id = 2; id < 256; ++id) CHECK(tunnel_domain::name(id).error().code == Errc::domain_unknown);
}

TEST_CASE("EID encrypt and decrypt round trip and reject modified adverts") {
  for (const auto& v : vectors_of("eid_validation")) {
    const auto& in = v["input"];
    EidKey key{};
    crypto::random_bytes(key.data(), key.size());
    eid::Components c;
    crypto::random_bytes(c.nonce.data(), c.nonce.size());
    if (in["tunnel_server_domain"].is_string()) {
      c.domain_id = uint16_t(std::stoul(in["tunnel_server_domain"].get<std::string>(), nullptr, 16));
      c.routing_id = *hex_decode_fixed<3>(in["routing_id"].get<std::string>());
    } else {
      c.domain_id = in["tunnel_server_domain"].get<uint16_t>();
    }
    auto advert = eid::encrypt(eid::from_components(c), key);
    auto d = eid::decrypt(advert, key);
    CHECK(d.ok() == v["expected"]["decrypt_ok"].get<bool>());
    if (d.ok()) {
      auto back = eid::to_components(*d);
      REQUIRE(back.ok());
      CHECK(back->domain_id == c.domain_id);
      CHECK(back->routing_id == c.routing_id);
      CHECK(back->nonce == c.nonce);
    } else {
      CHECK(d.error().code == Errc::eid_domain);
    }
    if (v["expected"].contains("after_flipping_bit0_of_advert")) {
      for (size_t i = 0; i < advert.size(); ++i) {
        auto bad = advert;
        bad[i] ^= 1;
        CHECK_FALSE(eid::decrypt(bad, key).ok());
      }
    }
  }
}

TEST_CASE("EID component parsing from webauthn-rs") {
  for (const auto& v : vectors_of("eid_parse")) {
    std::vector<uint8_t> raw = v["input"]["plaintext_eid"];
    eid::Plaintext p{};
    std::copy(raw.begin(), raw.end(), p.begin());
    auto c = eid::to_components(p);
    REQUIRE(c.ok());
    CHECK(c->domain_id == 0x01FF);
    CHECK(c->routing_id == std::array<uint8_t, 3>{9, 10, 11});
    std::vector<uint8_t> nonce = v["expected"]["nonce"];
    CHECK(std::vector<uint8_t>(c->nonce.begin(), c->nonce.end()) == nonce);
    auto p2 = p;
    p2[15] = 0;  // domain 0x00FF
    CHECK(eid::to_components(p2).error().code == Errc::eid_domain);
    auto p3 = p;
    p3[0] = 1;
    CHECK(eid::to_components(p3).error().code == Errc::eid_reserved);
    // Wrong lengths are unrepresentable in the typed API; the byte-level entry point rejects
    // service data shorter than 20 bytes.
    EidKey key{};
    for (size_t n = 0; n < 20; ++n) CHECK(eid::decrypt(Bytes(n), key).error().code == Errc::eid_length);
  }
}

TEST_CASE("tunnel ID, EID key, advert and URLs from a QR secret") {
  for (const auto& v : vectors_of("derive_tunnel_id_and_urls")) {
    const auto& in = v["input"];
    const auto& ex = v["expected"];
    auto secret = unhex(in["qr_secret_hex"]);
    auto tid = derive_tunnel_id(secret);
    CHECK(hex_encode(tid, true) == ex["tunnel_id"].get<std::string>());
    auto key = derive_eid_key(secret);
    CHECK(hex(key) == ex["eid_key_hex"].get<std::string>());
    eid::Components c;
    std::vector<uint8_t> nonce = in["eid"]["nonce"];
    std::copy(nonce.begin(), nonce.end(), c.nonce.begin());
    c.routing_id = *hex_decode_fixed<3>(in["eid"]["routing_id"].get<std::string>());
    c.domain_id = uint16_t(std::stoul(in["eid"]["tunnel_server_id"].get<std::string>(), nullptr, 16));
    auto plain = eid::from_components(c);
    CHECK(hex(plain) == ex["plaintext_eid_hex"].get<std::string>());
    auto advert = eid::encrypt(plain, key);
    CHECK(hex(advert) == ex["advert_hex"].get<std::string>());
    auto domain = tunnel_domain::name(c.domain_id);
    REQUIRE(domain.ok());
    CHECK(tunnel_domain::new_url(*domain, tid) == ex["new_url"].get<std::string>());
    CHECK(tunnel_domain::connect_url(*domain, c.routing_id, tid) == ex["connect_url"].get<std::string>());
    CHECK(tunnel_domain::connect_url(*tunnel_domain::name(0), c.routing_id, tid) == ex["connect_url_domain0"].get<std::string>());
    CHECK(tunnel_domain::connect_url(*tunnel_domain::name(1), c.routing_id, tid) == ex["connect_url_domain1"].get<std::string>());
  }
}

TEST_CASE("advert trial decryption from libwebauthn") {
  for (const auto& v : vectors_of("advert_decrypt")) {
    EidKey key = *hex_decode_fixed<64>(v["input"]["eid_key_hex"].get<std::string>());
    auto advert = unhex(v["input"]["advert_hex"]);
    auto d = eid::decrypt(advert, key);
    REQUIRE(d.ok());
    CHECK(hex(*d) == v["expected"]["plaintext_eid_hex"].get<std::string>());
    auto with_suffix = advert;
    for (uint8_t b : unhex("a101191234")) with_suffix.push_back(b);
    auto d2 = eid::decrypt(with_suffix, key);
    REQUIRE(d2.ok());
    CHECK(*d2 == *d);
    CHECK_FALSE(eid::decrypt(ByteView(advert).first(19), key).ok());
    auto bad = advert;
    bad.back() ^= 0xff;
    CHECK(eid::decrypt(bad, key).error().code == Errc::eid_tag);
  }
}

TEST_CASE("tunnel path parsing accepts and rejects as the webauthn-rs server") {
  for (const auto& v : vectors_of("tunnel_path_parse")) {
    const std::string hello = "68656C6C6F2C20776562617574686E21";
    auto p = tunnel_domain::parse_path("/cable/new/" + hello);
    REQUIRE(p.ok());
    CHECK(p->kind == tunnel_domain::TunnelPath::Kind::New);
    CHECK(to_string(p->tunnel_id) == "hello, webauthn!");
    auto c = tunnel_domain::parse_path("/cable/connect/616263/" + hello);
    REQUIRE(c.ok());
    CHECK(c->kind == tunnel_domain::TunnelPath::Kind::Connect);
    CHECK(to_string(c->routing_id) == "abc");
    std::string lower = hello;
    for (auto& ch : lower) ch = char(std::tolower(ch));
    auto l = tunnel_domain::parse_path("/cable/new/" + lower);
    REQUIRE(l.ok());
    CHECK(hex_encode(l->tunnel_id, true) == hello);
    for (std::string bad : v["input"]["invalid"]) {
      auto pos = bad.find("<32hex>");
      if (pos != std::string::npos) bad.replace(pos, 7, hello);
      INFO(bad);
      CHECK_FALSE(tunnel_domain::parse_path(bad).ok());
    }
  }
}

TEST_CASE("contact paths carry unpadded base64url") {
  auto p = tunnel_domain::parse_path("/cable/contact/" + base64url_encode(as_bytes("example-fcm-token")));
  REQUIRE(p.ok());
  CHECK(p->kind == tunnel_domain::TunnelPath::Kind::Contact);
  CHECK(to_string(p->contact_id) == "example-fcm-token");
  CHECK_FALSE(tunnel_domain::parse_path("/cable/contact/").ok());
  CHECK_FALSE(tunnel_domain::parse_path("/cable/contact/ab==").ok());
  CHECK_FALSE(tunnel_domain::parse_path("/cable/contact/a+b").ok());
  CHECK(tunnel_domain::contact_url("cable.ua5v.com", as_bytes("ab?")) == "wss://cable.ua5v.com/cable/contact/YWI_");
}
