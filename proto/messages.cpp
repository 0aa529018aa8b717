// SPDX-License-Identifier: Apache-2.0
#include "proto/messages.hpp"

#include "proto/derive.hpp"

#include <nlohmann/json.hpp>

namespace hg::messages {

using cbor::Value;

// ------------------------------------------------------------- padded CBOR map

Bytes encode_padded_cbor_map(const cbor::Map& m) {
  Bytes out = cbor::encode(Value(m));
  const size_t total = (out.size() + 2 + 511) / 512 * 512;
  const size_t zeros = total - out.size() - 2;
  out.resize(total - 2, 0);
  out.push_back(uint8_t(zeros & 0xff));
  out.push_back(uint8_t(zeros >> 8));
  return out;
}

Bytes encode_padded_cbor_map_old(const cbor::Map& m) {
  Bytes out = cbor::encode(Value(m));
  const size_t total = (out.size() + 1 + 255) / 256 * 256;
  const size_t zeros = total - out.size() - 1;
  out.resize(total - 1, 0);
  out.push_back(uint8_t(zeros));
  return out;
}

static Result<cbor::Map> decode_unpadded_map(ByteView data) {
  auto v = cbor::decode(data, cbor::DecodeOptions{.canonical = true});
  if (!v) return v.error();
  if (!v->is_map()) return make_error(Errc::message_invalid, "not a CBOR map");
  return std::move(v->as_map());
}

Result<cbor::Map> decode_padded_cbor_map(ByteView data) {
  if (data.size() >= 2) {
    const size_t zeros = data[data.size() - 2] | size_t(data[data.size() - 1]) << 8;
    if (zeros + 2 <= data.size()) {
      auto m = decode_unpadded_map(data.first(data.size() - zeros - 2));
      if (m) return m;
    }
  }
  if (!data.empty()) {
    const size_t zeros = data.back();
    if (zeros + 1 <= data.size()) {
      auto m = decode_unpadded_map(data.first(data.size() - zeros - 1));
      if (m) return m;
    }
  }
  return make_error(Errc::message_invalid, "not a padded CBOR map");
}

// ------------------------------------------------------------- post-handshake

bool PostHandshake::supports_ctap() const {
  if (!features_present) return true;
  for (const auto& f : features)
    if (f == "ctap") return true;
  return false;
}

Bytes encode_post_handshake(ByteView get_info_cbor) {
  cbor::Map m;
  m.set(1u, Value(get_info_cbor));
  m.set(3u, Value(cbor::Array{Value("ctap")}));
  return cbor::encode(Value(std::move(m)));
}

static Result<PostHandshake> post_handshake_from_map(const cbor::Map& m) {
  PostHandshake p;
  HG_TRY(const Value* k1, cbor::optional_field(m, 1, Value::Type::Bytes));
  HG_TRY(const Value* k2, cbor::optional_field(m, 2, Value::Type::Map));
  HG_TRY(const Value* k3, cbor::optional_field(m, 3, Value::Type::Array));
  if (k1) p.get_info = k1->as_bytes();
  if (k2) p.linking = k2->as_map();
  if (k3) {
    p.features_present = true;
    for (const auto& f : k3->as_array()) {
      if (!f.is_text()) return make_error(Errc::message_invalid, "feature list must hold text strings");
      p.features.push_back(f.as_text());
    }
    if (!p.supports_ctap() && p.get_info) return make_error(Errc::message_invalid, "getInfo present without \"ctap\"");
  }
  if (p.supports_ctap() && !p.get_info) return make_error(Errc::message_invalid, "no getInfo in the post-handshake message");
  return p;
}

Result<DecodedPostHandshake> decode_post_handshake(ByteView plaintext) {
  // Revision 1: exactly one CBOR value (Chromium's reader rejects trailing bytes, which is what
  // tells the revisions apart).
  auto v = cbor::decode(plaintext, cbor::DecodeOptions{.canonical = true});
  if (v) {
    if (!v->is_map()) return make_error(Errc::message_invalid, "post-handshake message is not a map");
    HG_TRY(auto p, post_handshake_from_map(v->as_map()));
    return DecodedPostHandshake{std::move(p), 1};
  }
  auto m = decode_padded_cbor_map(plaintext);
  if (!m) return make_error(Errc::message_invalid, "post-handshake message is neither revision 1 nor 0");
  HG_TRY(auto p, post_handshake_from_map(*m));
  return DecodedPostHandshake{std::move(p), 0};
}

// ------------------------------------------------------------- linking info

cbor::Map encode_linking_map(const LinkingInfo& l) {
  cbor::Map m;
  m.set(1u, Value(l.contact_id));
  m.set(2u, Value(l.pairing_id));
  m.set(3u, Value(l.link_secret.bytes()));
  m.set(4u, Value(l.identity_public_key));
  m.set(5u, Value(l.name));
  m.set(6u, Value(l.signature));
  if (l.from_new_implementation) m.set(999u, Value(true));
  return m;
}

Result<LinkingInfo> parse_linking_map(const cbor::Map& m) {
  auto bad = [](const std::string& why) { return make_error(Errc::linking_invalid, why); };
  LinkingInfo l;
  for (uint64_t k : {1u, 2u, 3u, 4u, 6u}) {
    const Value* v = m.find(k);
    if (!v || !v->is_bytes()) return bad("key " + std::to_string(k) + " must be a byte string");
  }
  const Value* name = m.find(5u);
  if (!name || !name->is_text()) return bad("key 5 must be a text string");
  const Bytes& contact = m.find(1u)->as_bytes();
  const Bytes& pairing = m.find(2u)->as_bytes();
  const Bytes& secret = m.find(3u)->as_bytes();
  const Bytes& pub = m.find(4u)->as_bytes();
  const Bytes& sig = m.find(6u)->as_bytes();
  if (contact.empty() || contact.size() > 4096) return bad("contact ID must be 1 to 4096 bytes");
  if (pairing.size() != 8) return bad("pairing ID must be 8 bytes");
  if (secret.size() != 32) return bad("link secret must be 32 bytes");
  if (pub.size() != 65) return bad("identity key must be 65 bytes");
  if (sig.size() != 32) return bad("signature must be 32 bytes");
  if (name->as_text().size() > 256) return bad("name longer than 256 bytes");
  if (!crypto::P256Public::parse(pub)) return bad("identity key is not a P-256 point");
  l.contact_id = contact;
  std::copy(pairing.begin(), pairing.end(), l.pairing_id.begin());
  l.link_secret = SecretBytes(secret);
  std::copy(pub.begin(), pub.end(), l.identity_public_key.begin());
  l.name = name->as_text();
  std::copy(sig.begin(), sig.end(), l.signature.begin());
  if (const Value* v999 = m.find(999u); v999 && v999->is_bool()) l.from_new_implementation = v999->as_bool();
  return l;
}

std::array<uint8_t, 32> linking_signature(const crypto::P256Key& phone_identity, const crypto::P256Public& desktop_qr_identity,
                                          const noise::Hash& handshake_hash) {
  auto shared = phone_identity.ecdh(desktop_qr_identity);
  auto sig = crypto::hmac_sha256(shared, handshake_hash);
  secure_wipe(shared);
  return sig;
}

bool verify_linking_signature(const crypto::P256Key& desktop_qr_identity, ByteView phone_identity_public,
                              const noise::Hash& handshake_hash, ByteView signature) {
  auto shared = desktop_qr_identity.ecdh(phone_identity_public);
  if (!shared) return false;
  auto expected = crypto::hmac_sha256(*shared, handshake_hash);
  secure_wipe(*shared);
  return ct_equal(expected, signature);
}

// ------------------------------------------------------------- update message

namespace {
// Frame = type byte + CBOR = 497 bytes → padded to 512 → 528-byte ciphertext.
constexpr size_t kUpdateCborSize = 496;

Bytes update_cbor(const std::optional<cbor::Map>& linking, size_t padding) {
  cbor::Map m;
  m.set(0u, Value(Bytes(padding, 0)));
  if (linking) m.set(1u, Value(*linking));
  return cbor::encode(Value(std::move(m)));
}
}  // namespace

Bytes encode_update_frame(const std::optional<LinkingInfo>& linking) {
  std::optional<cbor::Map> lm;
  if (linking) lm = encode_linking_map(*linking);
  const size_t base = update_cbor(lm, 0).size();
  size_t padding = 0;
  if (base < kUpdateCborSize) {
    // The byte-string head grows from 1 to 2 bytes at 24 and to 3 bytes at 256.
    padding = kUpdateCborSize - base;
    while (padding > 0 && update_cbor(lm, padding).size() > kUpdateCborSize) --padding;
  }
  Bytes cbor_bytes = update_cbor(lm, padding);
  Bytes frame = encode_frame(MessageType::update, cbor_bytes);
  secure_wipe(cbor_bytes);
  return frame;
}

Result<std::optional<LinkingInfo>> decode_update(ByteView payload) {
  auto v = cbor::decode(payload, cbor::DecodeOptions{.max_size = 65536, .canonical = false});
  if (!v) return make_error(Errc::message_invalid, "update message is not CBOR");
  if (!v->is_map()) return make_error(Errc::message_invalid, "update message is not a map");
  HG_TRY(const Value* k1, cbor::optional_field(v->as_map(), 1, Value::Type::Map));
  if (!k1) return std::optional<LinkingInfo>{};
  HG_TRY(auto l, parse_linking_map(k1->as_map()));
  return std::optional<LinkingInfo>(std::move(l));
}

// ------------------------------------------------------------- client payload

Bytes encode_client_payload(const ClientPayload& p) {
  cbor::Map m;
  m.set(1u, Value(p.pairing_id));
  m.set(2u, Value(p.client_nonce));
  m.set(3u, Value(p.hint));
  return cbor::encode(Value(std::move(m)));
}

std::string client_payload_header(const ClientPayload& p) { return hex_encode(encode_client_payload(p), true); }

Result<ClientPayload> decode_client_payload(ByteView bytes) {
  auto v = cbor::decode(bytes, cbor::DecodeOptions{.max_size = 1024, .canonical = false});
  if (!v) return make_error(Errc::message_invalid, "client payload is not CBOR");
  if (!v->is_map()) return make_error(Errc::message_invalid, "client payload is not a map");
  const cbor::Map& m = v->as_map();
  const Value* k1 = m.find(1u);
  const Value* k2 = m.find(2u);
  const Value* k3 = m.find(3u);
  if (!k1 || !k1->is_bytes() || k1->as_bytes().size() != 8) return make_error(Errc::message_invalid, "key 1 must be 8 bytes");
  if (!k2 || !k2->is_bytes() || k2->as_bytes().size() != 16) return make_error(Errc::message_invalid, "key 2 must be 16 bytes");
  if (!k3 || !k3->is_text() || (k3->as_text() != "ga" && k3->as_text() != "mc"))
    return make_error(Errc::message_invalid, "key 3 must be \"ga\" or \"mc\"");
  ClientPayload p;
  std::copy(k1->as_bytes().begin(), k1->as_bytes().end(), p.pairing_id.begin());
  std::copy(k2->as_bytes().begin(), k2->as_bytes().end(), p.client_nonce.begin());
  p.hint = k3->as_text();
  return p;
}

Result<ClientPayload> parse_client_payload_header(std::string_view hex) {
  if (hex.size() > 2048) return make_error(Errc::message_invalid, "client payload too long");
  HG_TRY(Bytes b, hex_decode(hex));
  return decode_client_payload(b);
}

// ------------------------------------------------------------- phone secrets

SecretBytes PhoneSecrets::per_contact_id_secret(ByteView root, ByteView contact_id) {
  return SecretBytes(derive(root, contact_id, Purpose::per_contact_id_secret, 32));
}
SecretBytes PhoneSecrets::paired_secret(ByteView per_contact, ByteView pairing_id) {
  return SecretBytes(derive(per_contact, pairing_id, Purpose::paired_secret, 32));
}
crypto::P256Key PhoneSecrets::identity_key(ByteView root) {
  SecretBytes seed(derive(root, {}, Purpose::identity_key_seed, 32));
  return crypto::P256Key::derive_from_secret(seed.view());
}

LinkingInfo make_linking_info(ByteView root_secret, ByteView contact_id, std::string name,
                              const crypto::P256Public& desktop_qr_identity, const noise::Hash& handshake_hash) {
  LinkingInfo l;
  l.contact_id = Bytes(contact_id.begin(), contact_id.end());
  crypto::random_bytes(l.pairing_id.data(), l.pairing_id.size());
  auto per_contact = PhoneSecrets::per_contact_id_secret(root_secret, contact_id);
  l.link_secret = PhoneSecrets::paired_secret(per_contact.view(), l.pairing_id);
  auto identity = PhoneSecrets::identity_key(root_secret);
  l.identity_public_key = identity.public_uncompressed();
  l.name = std::move(name);
  l.signature = linking_signature(identity, desktop_qr_identity, handshake_hash);
  return l;
}

std::string encode_wakeup(const TunnelId& tunnel_id, const std::array<uint8_t, 3>& routing_id, ByteView client_payload) {
  return nlohmann::json{{"caBLE.tunnelID", hex_encode(tunnel_id, true)},
                        {"caBLE.routingID", hex_encode(routing_id, true)},
                        {"caBLE.clientPayload", hex_encode(client_payload, true)}}
      .dump();
}

Result<WakeUp> parse_wakeup(std::string_view text) {
  auto bad = [](const std::string& why) { return make_error(Errc::message_invalid, "wake-up: " + why); };
  if (text.size() > kMaxWakeUpSize) return bad("too long");
  auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto field = [&](const char* name) -> std::optional<std::string> {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto tid = field("caBLE.tunnelID");
  auto rid = field("caBLE.routingID");
  auto payload = field("caBLE.clientPayload");
  if (!tid || !rid || !payload) return bad("missing caBLE.tunnelID, caBLE.routingID or caBLE.clientPayload");
  auto t = hex_decode_fixed<16>(*tid);
  auto r = hex_decode_fixed<3>(*rid);
  if (!t || !r) return bad("tunnel ID or routing ID is not hex of the right length");
  WakeUp w;
  w.tunnel_id = *t;
  w.routing_id = *r;
  HG_TRY(w.payload, parse_client_payload_header(*payload));
  return w;
}

}  // namespace hg::messages
