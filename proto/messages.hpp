// SPDX-License-Identifier: Apache-2.0
// Messages after the handshake (docs/protocol.md §6.6–6.7, §9): the post-handshake message, the padded
// CBOR map of revision 0, the update message with linking info, the linking signature, and the
// client payload of a linked (contact) request.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/cbor.hpp"
#include "proto/crypto.hpp"
#include "proto/crypter.hpp"
#include "proto/noise.hpp"

namespace hg::messages {

// ---- padded CBOR map (revision 0)
// New form: CBOR ‖ zeros ‖ LE16(number of zeros), total a multiple of 512.
Bytes encode_padded_cbor_map(const cbor::Map& m);
// Old form: CBOR ‖ zeros ‖ one byte count, total a multiple of 256 (for tests and old peers).
Bytes encode_padded_cbor_map_old(const cbor::Map& m);
// Tries the 16-bit form, then the 8-bit form; the result must be a CBOR map.
Result<cbor::Map> decode_padded_cbor_map(ByteView data);

// ---- post-handshake message
struct PostHandshake {
  std::optional<Bytes> get_info;          // key 1: encoded getInfo map (no status byte)
  std::optional<cbor::Map> linking;       // key 2: revision-0 style linking info
  std::vector<std::string> features;      // key 3 (absent → {"ctap"} assumed)
  bool features_present = false;
  bool supports_ctap() const;
};
// Revision 1: {1: getInfo, 3: ["ctap"]} unpadded (the Crypter pads).
Bytes encode_post_handshake(ByteView get_info_cbor);
struct DecodedPostHandshake {
  PostHandshake message;
  int revision = 1;
};
// Strict revision-1 parse first (one complete CBOR value); otherwise revision 0 padded form.
Result<DecodedPostHandshake> decode_post_handshake(ByteView plaintext);

// ---- linking info (§9.2)
struct LinkingInfo {
  Bytes contact_id;                                // 1
  std::array<uint8_t, 8> pairing_id{};             // 2
  SecretBytes link_secret;                         // 3 (32 bytes)
  crypto::P256Uncompressed identity_public_key{};  // 4
  std::string name;                                // 5
  std::array<uint8_t, 32> signature{};             // 6
  bool from_new_implementation = false;            // 999
};
cbor::Map encode_linking_map(const LinkingInfo& l);
// Type checks as Chromium does; does not verify the signature.
Result<LinkingInfo> parse_linking_map(const cbor::Map& m);

// signature = HMAC-SHA256(ECDH-X(phone identity, desktop QR identity), handshake hash)
std::array<uint8_t, 32> linking_signature(const crypto::P256Key& phone_identity, const crypto::P256Public& desktop_qr_identity,
                                          const noise::Hash& handshake_hash);
// Desktop side: verify with the QR identity private key and the phone's public key (constant time).
bool verify_linking_signature(const crypto::P256Key& desktop_qr_identity, ByteView phone_identity_public,
                              const noise::Hash& handshake_hash, ByteView signature);

// ---- update message (type 2): {0: zero padding, 1: linking map}, padded so that the frame
// (type byte + CBOR) is 497 bytes → 512 after Crypter padding → 528-byte ciphertext,
// whether or not linking info is present (as Chrome on Android does).
Bytes encode_update_frame(const std::optional<LinkingInfo>& linking);
// Parses an update payload (after the type byte). Linking info absent → nullopt.
Result<std::optional<LinkingInfo>> decode_update(ByteView payload);

// ---- client payload of a contact request (§9.4): {1: pairing ID, 2: client nonce, 3: hint}
struct ClientPayload {
  std::array<uint8_t, 8> pairing_id{};
  std::array<uint8_t, 16> client_nonce{};
  std::string hint = "ga";  // "ga" or "mc"
};
Bytes encode_client_payload(const ClientPayload& p);
std::string client_payload_header(const ClientPayload& p);  // upper-case hex of the CBOR
Result<ClientPayload> decode_client_payload(ByteView cbor_bytes);
Result<ClientPayload> parse_client_payload_header(std::string_view hex);

// ---- the phone's secrets (Chrome on Android's chain, §3.3)
struct PhoneSecrets {
  static SecretBytes per_contact_id_secret(ByteView root_secret, ByteView contact_id);
  static SecretBytes paired_secret(ByteView per_contact_id_secret, ByteView pairing_id);
  static crypto::P256Key identity_key(ByteView root_secret);
};

// The linking info a phone sends in a QR transaction: a fresh pairing ID, the link secret derived
// from its root secret and contact ID, its identity key and the signature over the handshake hash
// with the desktop's QR identity key.
LinkingInfo make_linking_info(ByteView root_secret, ByteView contact_id, std::string name,
                              const crypto::P256Public& desktop_qr_identity, const noise::Hash& handshake_hash);

// ---- the wake-up a relay sends a linked phone (the FCM data fields of Chrome's tunnel server,
// docs/linking.md): {"caBLE.tunnelID": 32 hex, "caBLE.routingID": 6 hex, "caBLE.clientPayload": hex}
struct WakeUp {
  TunnelId tunnel_id{};
  std::array<uint8_t, 3> routing_id{};
  ClientPayload payload;
};
inline constexpr size_t kMaxWakeUpSize = 8192;
std::string encode_wakeup(const TunnelId& tunnel_id, const std::array<uint8_t, 3>& routing_id, ByteView client_payload);
// Parses the JSON object (any member order, white space, extra members ignored). Errors:
// message.invalid naming what is wrong (not JSON, too long, missing or malformed member).
Result<WakeUp> parse_wakeup(std::string_view json_text);

}  // namespace hg::messages
