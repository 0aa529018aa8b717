// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "proto/derive.hpp"
#include "proto/eid.hpp"
#include "proto/messages.hpp"
#include "proto/noise.hpp"
#include "vectors.hpp"

using namespace hg;
using namespace hgtest;

namespace {

template <size_t N>
std::array<uint8_t, N> arr(const json& j) {
  return *hex_decode_fixed<N>(j.get<std::string>());
}

// Replays a transcript step by step against SymmetricState and checks every intermediate value.
void replay_trace(const json& trace, std::string_view name, const Bytes& msg1, const Bytes& msg2) {
  std::optional<noise::SymmetricState> ss;
  int decrypts = 0;
  for (const auto& step : trace) {
    const std::string s = step["step"];
    INFO(s);
    if (s == "init") {
      ss.emplace(name);
      CHECK(hex(ss->ck()) == step["ck"].get<std::string>());
      CHECK(hex(ss->h()) == step["h"].get<std::string>());
      continue;
    }
    REQUIRE(ss.has_value());
    if (s.starts_with("MixHash(ciphertext)")) {
      CHECK(hex(ss->h()) == step["h"].get<std::string>());  // mixed by EncryptAndHash already
    } else if (s.starts_with("MixHash")) {
      ss->mix_hash(unhex(step["input"]));
      CHECK(hex(ss->h()) == step["h"].get<std::string>());
    } else if (s.starts_with("MixKeyAndHash")) {
      ss->mix_key_and_hash(unhex(step["input"]));
      CHECK(hex(ss->ck()) == step["ck"].get<std::string>());
      CHECK(hex(ss->h()) == step["h"].get<std::string>());
    } else if (s.starts_with("MixKey")) {
      ss->mix_key(unhex(step["input"]));
      CHECK(hex(ss->ck()) == step["ck"].get<std::string>());
    } else if (s.starts_with("EncryptAndHash")) {
      CHECK(hex(ss->h()) == step["ad(h)"].get<std::string>());
      auto c = ss->encrypt_and_hash(unhex(step["plaintext"]));
      CHECK(hex(c) == step["ciphertext"].get<std::string>());
    } else if (s.starts_with("DecryptAndHash")) {
      const Bytes& m = decrypts++ == 0 ? msg1 : msg2;
      auto p = ss->decrypt_and_hash(ByteView(m).subspan(65));
      REQUIRE(p.ok());
      CHECK(p->empty());
      CHECK(hex(ss->h()) == step["h"].get<std::string>());
    } else {
      FAIL("unknown trace step " << s);
    }
  }
}

}  // namespace

TEST_CASE("KNpsk0 QR handshake transcript") {
  for (const auto& v : vectors_of("noise_knpsk0_qr")) {
    const auto& in = v["input"];
    const auto& ex = v["expected"];
    auto identity = crypto::P256Key::derive_from_secret(unhex(in["qr_seed_hex"]));
    CHECK(hex(identity.private_scalar().view()) == ex["desktop_identity_priv_hex"].get<std::string>());
    CHECK(hex(identity.public_uncompressed()) == ex["desktop_identity_pub_hex"].get<std::string>());
    CHECK(hex(identity.public_compressed()) == ex["desktop_identity_pub_compressed_hex"].get<std::string>());
    auto secret = unhex(in["qr_secret_hex"]);
    auto eid_key = derive_eid_key(secret);
    CHECK(hex(eid_key) == ex["eid_key_hex"].get<std::string>());
    auto plain = arr<16>(in["plaintext_eid_hex"]);
    CHECK(hex(eid::encrypt(plain, eid_key)) == ex["advert_hex"].get<std::string>());
    CHECK(hex_encode(derive_tunnel_id(secret), true) == ex["tunnel_id"].get<std::string>());
    auto psk = derive_psk(secret, plain);
    CHECK(hex(psk) == ex["psk_hex"].get<std::string>());

    auto init = noise::Initiator::kn(identity, psk);
    auto msg1 = init.write_message1(*crypto::P256Key::from_private(unhex(in["initiator_ephemeral_priv_hex"])));
    CHECK(msg1.size() == 81);
    CHECK(hex(msg1) == ex["msg1_hex"].get<std::string>());

    auto resp = noise::Responder::kn(identity.public_compressed(), psk);
    REQUIRE(resp.ok());
    auto out = resp->respond(msg1, *crypto::P256Key::from_private(unhex(in["responder_ephemeral_priv_hex"])));
    REQUIRE(out.ok());
    CHECK(hex(out->message2) == ex["msg2_hex"].get<std::string>());
    auto keys = init.read_message2(out->message2);
    REQUIRE(keys.ok());
    CHECK(hex(keys->write_key.view()) == ex["initiator_to_responder_key_hex"].get<std::string>());
    CHECK(hex(keys->read_key.view()) == ex["responder_to_initiator_key_hex"].get<std::string>());
    CHECK(hex(out->keys.read_key.view()) == ex["initiator_to_responder_key_hex"].get<std::string>());
    CHECK(hex(out->keys.write_key.view()) == ex["responder_to_initiator_key_hex"].get<std::string>());
    CHECK(hex(keys->handshake_hash) == ex["handshake_hash_hex"].get<std::string>());
    CHECK(out->keys.handshake_hash == keys->handshake_hash);

    replay_trace(ex["trace"], "Noise_KNpsk0_P256_AESGCM_SHA256", msg1, out->message2);
  }
}

TEST_CASE("NKpsk0 linked handshake transcript and phone secrets") {
  for (const auto& v : vectors_of("noise_nkpsk0_linked")) {
    const auto& in = v["input"];
    const auto& ex = v["expected"];
    auto root = unhex(in["root_secret_hex"]);
    auto per_contact = messages::PhoneSecrets::per_contact_id_secret(root, unhex(in["contact_id_hex"]));
    CHECK(hex(per_contact.view()) == ex["per_contact_id_secret_hex"].get<std::string>());
    auto paired = messages::PhoneSecrets::paired_secret(per_contact.view(), unhex(in["pairing_id_hex"]));
    CHECK(hex(paired.view()) == ex["paired_secret_hex"].get<std::string>());
    CHECK(hex(derive(root, {}, Purpose::identity_key_seed, 32)) == ex["identity_key_seed_hex"].get<std::string>());
    auto identity = messages::PhoneSecrets::identity_key(root);
    CHECK(hex(identity.private_scalar().view()) == ex["phone_identity_priv_hex"].get<std::string>());
    CHECK(hex(identity.public_uncompressed()) == ex["phone_identity_pub_hex"].get<std::string>());
    auto eid_key = derive_eid_key(paired.view(), unhex(in["client_nonce_hex"]));
    CHECK(hex(eid_key) == ex["eid_key_hex"].get<std::string>());
    auto plain = arr<16>(in["plaintext_eid_hex"]);
    auto advert = eid::encrypt(plain, eid_key);
    CHECK(hex(advert) == ex["advert_hex"].get<std::string>());
    auto decrypted = eid::decrypt(advert, eid_key, {.check_domain = false});
    REQUIRE(decrypted.ok());
    auto psk = derive_psk(paired.view(), plain);
    CHECK(hex(psk) == ex["psk_hex"].get<std::string>());

    auto phone_pub = crypto::P256Public::parse(identity.public_uncompressed());
    REQUIRE(phone_pub.ok());
    auto init = noise::Initiator::nk(*phone_pub, psk);
    auto msg1 = init.write_message1(*crypto::P256Key::from_private(unhex(in["initiator_ephemeral_priv_hex"])));
    CHECK(hex(msg1) == ex["msg1_hex"].get<std::string>());
    auto resp = noise::Responder::nk(identity, psk);
    auto out = resp.respond(msg1, *crypto::P256Key::from_private(unhex(in["responder_ephemeral_priv_hex"])));
    REQUIRE(out.ok());
    CHECK(hex(out->message2) == ex["msg2_hex"].get<std::string>());
    auto keys = init.read_message2(out->message2);
    REQUIRE(keys.ok());
    CHECK(hex(keys->write_key.view()) == ex["initiator_to_responder_key_hex"].get<std::string>());
    CHECK(hex(keys->read_key.view()) == ex["responder_to_initiator_key_hex"].get<std::string>());
    CHECK(hex(keys->handshake_hash) == ex["handshake_hash_hex"].get<std::string>());

    replay_trace(ex["trace"], "Noise_NKpsk0_P256_AESGCM_SHA256", msg1, out->message2);
  }
}

TEST_CASE("handshake fails with the wrong PSK or altered messages") {
  auto identity = crypto::P256Key::generate();
  Psk psk{};
  psk[0] = 1;
  Psk other = psk;
  other[31] = 9;
  {
    auto init = noise::Initiator::kn(identity, psk);
    auto msg1 = init.write_message1();
    auto resp = noise::Responder::kn(identity.public_uncompressed(), other);
    REQUIRE(resp.ok());
    auto out = resp->respond(msg1);
    REQUIRE_FALSE(out.ok());
    CHECK(out.error().code == Errc::noise_decrypt);
  }
  {
    auto init = noise::Initiator::kn(identity, psk);
    auto msg1 = init.write_message1();
    auto resp = noise::Responder::kn(identity.public_uncompressed(), psk);
    auto out = resp->respond(msg1);
    REQUIRE(out.ok());
    auto m2 = out->message2;
    m2[80] ^= 1;
    CHECK(init.read_message2(m2).error().code == Errc::noise_decrypt);
  }
  {
    auto init = noise::Initiator::kn(identity, psk);
    auto msg1 = init.write_message1();
    msg1.push_back(0);
    auto resp = noise::Responder::kn(identity.public_uncompressed(), psk);
    CHECK(resp->respond(msg1).error().code == Errc::noise_length);
    CHECK(init.read_message2(Bytes(80)).error().code == Errc::noise_length);
    Bytes not_a_point(81, 0);
    not_a_point[0] = 4;
    CHECK(init.read_message2(not_a_point).error().code == Errc::noise_key);
  }
}
