// SPDX-License-Identifier: Apache-2.0
// Every kind in tests/vectors/vectors.json is either checked by a test of this suite or listed
// here as not applied, with the reason. A new kind in that file fails this test until
// someone decides which it is.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "vectors.hpp"

TEST_CASE("every shared vector kind is applied or explained") {
  const std::set<std::string> applied = {
      "digits_encode", "digits_encode_zero", "digits_decode_zero_lengths", "digits_decode_reject",
      "qr_parse", "qr_url_reject", "qr_encode", "request_type_string", "qr_key6",
      "tunnel_domain", "hashed_domains", "eid_validation", "eid_parse", "derive_tunnel_id_and_urls",
      "advert_decrypt", "tunnel_path_parse", "hkdf_derive", "ec_key_derive_from_secret_p256",
      "identity_key_from_seed", "pairing_signature", "noise_knpsk0_qr", "noise_nkpsk0_linked",
      "strip_padding", "frame", "frame_ctap_request", "padded_cbor_map", "padded_cbor_map_old",
      "post_handshake_and_messages", "client_payload",
  };
  const std::map<std::string, std::string> not_applied = {
      {"crypter_old_new_fallback",
       "hybridgate speaks only the new Crypter construction, as current Chromium desktops and phones do (docs/protocol.md §7.3)"},
      {"advert_suffix",
       "the CTAP 2.3 advert suffix (L2CAP PSM) is not parsed: adverts longer than 20 bytes are accepted and only "
       "the first 20 bytes are read (checked in advert_decrypt); the BLE L2CAP channel is not implemented"},
      {"l2cap_crlf_framing", "the CTAP 2.3 BLE L2CAP data channel is not implemented; only the WebSocket tunnel"},
  };
  std::set<std::string> kinds;
  for (const auto& e : hgtest::all_vectors()) kinds.insert(e.at("kind").get<std::string>());
  for (const auto& k : kinds) {
    INFO("vector kind " << k);
    CHECK((applied.count(k) + not_applied.count(k)) == 1);
  }
  for (const auto& k : applied) {
    INFO("listed as applied but absent from vectors.json: " << k);
    CHECK(kinds.count(k) == 1);
  }
}
