// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include "proto/crypter.hpp"
#include "proto/messages.hpp"
#include "vectors.hpp"

using namespace hg;
using namespace hgtest;

TEST_CASE("padded CBOR maps of revision 0") {
  for (const auto& v : vectors_of("padded_cbor_map")) {
    const auto& ex = v["expected"];
    cbor::Map m;
    if (v["input"]["map"] != "{}") m.set(1u, cbor::Value(Bytes(512, 0)));
    auto p = messages::encode_padded_cbor_map(m);
    CHECK(p.size() == ex["length"].get<size_t>());
    if (ex.contains("first_bytes_hex")) {
      CHECK(hex(ByteView(p).first(2)) == ex["first_bytes_hex"].get<std::string>());
      CHECK(hex(ByteView(p).last(2)) == ex["last_bytes_hex"].get<std::string>());
    }
    auto back = messages::decode_padded_cbor_map(p);
    REQUIRE(back.ok());
    CHECK(*back == m);
  }
  for (const auto& v : vectors_of("padded_cbor_map_old")) {
    CHECK(v["expected"]["DecodePaddedCBORMap_succeeds"].get<bool>());
    for (size_t i = 0; i < 512; ++i) {
      cbor::Map m;
      m.set(1u, cbor::Value(Bytes(i, 0)));
      auto p = messages::encode_padded_cbor_map_old(m);
      CHECK(p.size() % 256 == 0);
      auto back = messages::decode_padded_cbor_map(p);
      REQUIRE(back.ok());
      CHECK(*back == m);
    }
    Bytes empty_old(256, 0);
    empty_old[0] = 0xa0;
    empty_old[255] = 0xfe;
    CHECK(messages::decode_padded_cbor_map(empty_old).ok());
  }
}

TEST_CASE("a full encrypted session: post-handshake, update with linking, CTAP, shutdown") {
  auto session = vectors_of("post_handshake_and_messages").at(0);
  auto linked = vectors_of("noise_nkpsk0_linked").at(0);
  const auto& in = session["input"];
  const auto& ex = session["expected"];
  SecretBytes phone_write(unhex(in["phone_write_key_hex"])), desktop_write(unhex(in["desktop_write_key_hex"]));
  Crypter phone(desktop_write, phone_write), desktop(phone_write, desktop_write);

  // 1. post-handshake message, phone counter 0.
  auto getinfo = unhex(ex["getinfo_cbor_hex"]);
  auto ph = messages::encode_post_handshake(getinfo);
  CHECK(hex(ph) == ex["post_handshake_plaintext_hex"].get<std::string>());
  auto ct0 = phone.encrypt(ph);
  REQUIRE(ct0.ok());
  CHECK(hex(*ct0) == ex["post_handshake_ciphertext_hex(phone,ctr0)"].get<std::string>());
  auto ph_plain = desktop.decrypt(*ct0);
  REQUIRE(ph_plain.ok());
  auto decoded = messages::decode_post_handshake(*ph_plain);
  REQUIRE(decoded.ok());
  CHECK(decoded->revision == 1);
  CHECK(decoded->message.get_info == getinfo);
  CHECK(decoded->message.supports_ctap());

  // 2. update message with linking info, phone counter 1.
  const auto& lin = linked["input"];
  auto root = unhex(lin["root_secret_hex"]);
  auto identity = messages::PhoneSecrets::identity_key(root);
  auto per_contact = messages::PhoneSecrets::per_contact_id_secret(root, unhex(lin["contact_id_hex"]));
  messages::LinkingInfo info;
  info.contact_id = unhex(lin["contact_id_hex"]);
  info.pairing_id = *hex_decode_fixed<8>(lin["pairing_id_hex"].get<std::string>());
  info.link_secret = messages::PhoneSecrets::paired_secret(per_contact.view(), info.pairing_id);
  info.identity_public_key = identity.public_uncompressed();
  info.name = "Example Phone";
  // The signature binds the QR handshake of noise_knpsk0_qr.
  auto qr = vectors_of("noise_knpsk0_qr").at(0);
  auto desktop_identity = crypto::P256Key::derive_from_secret(unhex(qr["input"]["qr_seed_hex"]));
  auto hh = *hex_decode_fixed<32>(qr["expected"]["handshake_hash_hex"].get<std::string>());
  info.signature = messages::linking_signature(identity, *crypto::P256Public::parse(desktop_identity.public_uncompressed()), hh);
  CHECK(hex(info.signature) == ex["linking_signature_hex"].get<std::string>());
  CHECK(hex(cbor::encode(cbor::Value(messages::encode_linking_map(info)))) == ex["linking_map_hex"].get<std::string>());
  auto update = messages::encode_update_frame(info);
  CHECK(hex(update) == ex["update_frame_hex(type 0x02 + CBOR)"].get<std::string>());
  auto ct1 = phone.encrypt(update);
  REQUIRE(ct1.ok());
  CHECK(ct1->size() == ex["update_ciphertext_len"].get<size_t>());
  CHECK(hex(*ct1) == ex["update_ciphertext_hex(phone,ctr1)"].get<std::string>());
  auto up = desktop.decrypt(*ct1);
  REQUIRE(up.ok());
  auto frame = decode_frame(*up);
  REQUIRE(frame.ok());
  REQUIRE(frame->type == MessageType::update);
  auto got = messages::decode_update(frame->payload);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->name == "Example Phone");
  CHECK(messages::verify_linking_signature(desktop_identity, (*got)->identity_public_key, hh, (*got)->signature));
  // Without linking info the update has the same size.
  CHECK(messages::encode_update_frame(std::nullopt).size() == update.size());
  auto empty_update = messages::decode_update(ByteView(messages::encode_update_frame(std::nullopt)).subspan(1));
  REQUIRE(empty_update.ok());
  CHECK_FALSE(empty_update->has_value());

  // 3. CTAP request (desktop counter 0), shutdown (desktop counter 1), response (phone counter 2).
  auto req = unhex(ex["ctap_request_frame_hex"]);
  auto ct_req = desktop.encrypt(req);
  CHECK(hex(*ct_req) == ex["ctap_request_ciphertext_hex(desktop,ctr0)"].get<std::string>());
  auto ct_shutdown = desktop.encrypt(encode_frame(MessageType::shutdown, {}));
  CHECK(hex(*ct_shutdown) == ex["shutdown_ciphertext_hex(desktop,ctr1)"].get<std::string>());
  auto resp = unhex(ex["ctap_response_frame_hex"]);
  auto ct_resp = phone.encrypt(resp);
  CHECK(hex(*ct_resp) == ex["ctap_response_ciphertext_hex(phone,ctr2)"].get<std::string>());
  CHECK(*phone.decrypt(*ct_req) == req);
  CHECK(*desktop.decrypt(*ct_resp) == resp);
}

TEST_CASE("post-handshake revision 0 padded form and malformed messages") {
  cbor::Map m;
  m.set(1u, cbor::Value(Bytes{0xa0}));
  auto padded = messages::encode_padded_cbor_map(m);
  auto d = messages::decode_post_handshake(padded);
  REQUIRE(d.ok());
  CHECK(d->revision == 0);
  CHECK(messages::decode_post_handshake(hg::Bytes{0x01}).error().code == Errc::message_invalid);
  // "ctap" absent but getInfo present → invalid; getInfo absent with ctap → invalid.
  cbor::Map no_ctap{{1u, cbor::Value(Bytes{0xa0})}, {3u, cbor::Value(cbor::Array{cbor::Value("dc")})}};
  CHECK_FALSE(messages::decode_post_handshake(cbor::encode(cbor::Value(no_ctap))).ok());
  cbor::Map no_info{{3u, cbor::Value(cbor::Array{cbor::Value("ctap")})}};
  CHECK_FALSE(messages::decode_post_handshake(cbor::encode(cbor::Value(no_info))).ok());
}

TEST_CASE("linking info type checks") {
  messages::LinkingInfo l;
  l.contact_id = {1, 2, 3};
  l.link_secret = SecretBytes(Bytes(32, 3));
  l.identity_public_key = crypto::P256Key::generate().public_uncompressed();
  l.name = "phone";
  auto m = messages::encode_linking_map(l);
  CHECK(messages::parse_linking_map(m).ok());
  auto short_secret = m;
  short_secret.set(3u, cbor::Value(Bytes(31)));
  CHECK(messages::parse_linking_map(short_secret).error().code == Errc::linking_invalid);
  auto bad_name = m;
  bad_name.set(5u, cbor::Value(Bytes{1}));
  CHECK_FALSE(messages::parse_linking_map(bad_name).ok());
  auto bad_key = m;
  bad_key.set(4u, cbor::Value(Bytes(65, 4)));
  CHECK_FALSE(messages::parse_linking_map(bad_key).ok());
}

TEST_CASE("client payload of a contact request") {
  for (const auto& v : vectors_of("client_payload")) {
    messages::ClientPayload p;
    p.pairing_id = *hex_decode_fixed<8>(v["input"]["pairing_id_hex"].get<std::string>());
    p.client_nonce = *hex_decode_fixed<16>(v["input"]["client_nonce_hex"].get<std::string>());
    p.hint = v["input"]["hint"];
    CHECK(hex(messages::encode_client_payload(p)) == v["expected"]["cbor_hex"].get<std::string>());
    CHECK(messages::client_payload_header(p) == v["expected"]["X-caBLE-Client-Payload"].get<std::string>());
    auto back = messages::parse_client_payload_header(v["expected"]["X-caBLE-Client-Payload"].get<std::string>());
    REQUIRE(back.ok());
    CHECK(back->pairing_id == p.pairing_id);
    CHECK(back->client_nonce == p.client_nonce);
    CHECK(back->hint == "ga");
  }
  CHECK_FALSE(messages::parse_client_payload_header("A0").ok());
  CHECK_FALSE(messages::parse_client_payload_header("zz").ok());
}

// The wake-up a relay sends a linked phone: the client payload of the vector above, inside the
// JSON object written by hand here (as Chrome's tunnel server's FCM data fields look).
TEST_CASE("wake-up messages of the listen connection") {
  const auto v = vectors_of("client_payload").at(0);
  const std::string payload_hex = v["expected"]["X-caBLE-Client-Payload"].get<std::string>();
  const std::string text = "{ \"caBLE.routingID\": \"0A0B0C\",\n \"caBLE.clientPayload\": \"" + payload_hex +
                           "\", \"caBLE.tunnelID\": \"000102030405060708090A0B0C0D0E0F\", \"extra\": [1, 2] }";
  auto w = messages::parse_wakeup(text);
  REQUIRE(w.ok());
  CHECK(hex(w->tunnel_id) == "000102030405060708090a0b0c0d0e0f");
  CHECK(hex(w->routing_id) == "0a0b0c");
  CHECK(hex(w->payload.pairing_id) == v["input"]["pairing_id_hex"].get<std::string>());
  CHECK(hex(w->payload.client_nonce) == v["input"]["client_nonce_hex"].get<std::string>());
  CHECK(w->payload.hint == "ga");

  // encode_wakeup writes what parse_wakeup reads, and what the hand-written object says.
  auto again = messages::parse_wakeup(
      messages::encode_wakeup(w->tunnel_id, w->routing_id, messages::encode_client_payload(w->payload)));
  REQUIRE(again.ok());
  CHECK(again->tunnel_id == w->tunnel_id);
  CHECK(again->routing_id == w->routing_id);
  CHECK(again->payload.client_nonce == w->payload.client_nonce);
  auto j = nlohmann::json::parse(messages::encode_wakeup(w->tunnel_id, w->routing_id, unhex(payload_hex)));
  CHECK(j["caBLE.clientPayload"] == payload_hex);
  CHECK(j["caBLE.routingID"] == "0A0B0C");

  for (const std::string& bad : {std::string("not json"), std::string("[]"), std::string("{}"),
                                "{\"caBLE.tunnelID\": \"00\", \"caBLE.routingID\": \"0A0B0C\", \"caBLE.clientPayload\": \"" +
                                    payload_hex + "\"}",
                                "{\"caBLE.tunnelID\": 5, \"caBLE.routingID\": \"0A0B0C\", \"caBLE.clientPayload\": \"" +
                                    payload_hex + "\"}",
                                std::string("{\"caBLE.tunnelID\": \"000102030405060708090A0B0C0D0E0F\", "
                                            "\"caBLE.routingID\": \"0A0B0C\", \"caBLE.clientPayload\": \"A0\"}"),
                                std::string(messages::kMaxWakeUpSize + 1, ' ')}) {
    INFO(bad.substr(0, 80));
    auto r = messages::parse_wakeup(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::message_invalid);
  }
}
