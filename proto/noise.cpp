// SPDX-License-Identifier: Apache-2.0
#include "proto/noise.hpp"

#include <cstring>

namespace hg::noise {
namespace {
constexpr std::string_view kKNName = "Noise_KNpsk0_P256_AESGCM_SHA256";
constexpr std::string_view kNKName = "Noise_NKpsk0_P256_AESGCM_SHA256";
constexpr uint8_t kPrologueKN = 0x01;
constexpr uint8_t kPrologueNK = 0x00;
}  // namespace

SymmetricState::SymmetricState(std::string_view name) {
  // Names are at most 32 bytes: ck = h = name zero-padded (Noise InitializeSymmetric).
  std::memcpy(h_.data(), name.data(), std::min<size_t>(name.size(), 32));
  ck_ = h_;
}

SymmetricState::~SymmetricState() {
  secure_wipe(ck_);
  secure_wipe(k_);
}

void SymmetricState::mix_hash(ByteView data) {
  Bytes in(h_.begin(), h_.end());
  in.insert(in.end(), data.begin(), data.end());
  h_ = crypto::sha256(in);
}

void SymmetricState::mix_key(ByteView ikm) {
  Bytes out = crypto::hkdf_sha256(ikm, ck_, {}, 64);
  std::copy(out.begin(), out.begin() + 32, ck_.begin());
  std::copy(out.begin() + 32, out.end(), k_.begin());
  secure_wipe(out);
  has_k_ = true;
  n_ = 0;
}

void SymmetricState::mix_key_and_hash(ByteView ikm) {
  Bytes out = crypto::hkdf_sha256(ikm, ck_, {}, 96);
  std::copy(out.begin(), out.begin() + 32, ck_.begin());
  mix_hash(ByteView(out.data() + 32, 32));
  std::copy(out.begin() + 64, out.end(), k_.begin());
  secure_wipe(out);
  has_k_ = true;
  n_ = 0;
}

static std::array<uint8_t, 12> handshake_nonce(uint32_t n) {
  std::array<uint8_t, 12> nonce{};
  nonce[0] = uint8_t(n >> 24);
  nonce[1] = uint8_t(n >> 16);
  nonce[2] = uint8_t(n >> 8);
  nonce[3] = uint8_t(n);
  return nonce;
}

Bytes SymmetricState::encrypt_and_hash(ByteView plaintext) {
  // Every pattern here has a key before the first EncryptAndHash (psk0).
  Bytes c = crypto::aes256_gcm_seal(k_, handshake_nonce(n_++), h_, plaintext);
  mix_hash(c);
  return c;
}

Result<Bytes> SymmetricState::decrypt_and_hash(ByteView ciphertext) {
  auto p = crypto::aes256_gcm_open(k_, handshake_nonce(n_), h_, ciphertext);
  if (!p) return make_error(Errc::noise_decrypt);
  ++n_;
  mix_hash(ciphertext);
  return p;
}

std::pair<SecretBytes, SecretBytes> SymmetricState::split() const {
  Bytes out = crypto::hkdf_sha256({}, ck_, {}, 64);
  SecretBytes k1(ByteView(out.data(), 32)), k2(ByteView(out.data() + 32, 32));
  secure_wipe(out);
  return {std::move(k1), std::move(k2)};
}

// ------------------------------------------------------------------ Initiator

Initiator::Initiator(Pattern p, const Psk& psk, ByteView static_pub)
    : pattern_(p), ss_(p == Pattern::KNpsk0 ? kKNName : kNKName) {
  const uint8_t prologue = p == Pattern::KNpsk0 ? kPrologueKN : kPrologueNK;
  ss_.mix_hash(ByteView(&prologue, 1));
  ss_.mix_hash(static_pub);
  ss_.mix_key_and_hash(psk);
}

Initiator Initiator::kn(const crypto::P256Key& identity, const Psk& psk) {
  Initiator i(Pattern::KNpsk0, psk, identity.public_uncompressed());
  i.identity_ = &identity;
  return i;
}

Initiator Initiator::nk(const crypto::P256Public& peer_identity, const Psk& psk) {
  Initiator i(Pattern::NKpsk0, psk, peer_identity.uncompressed());
  i.peer_identity_ = peer_identity;
  return i;
}

Bytes Initiator::write_message1(std::optional<crypto::P256Key> ephemeral) {
  ephemeral_ = ephemeral ? std::move(ephemeral) : std::optional<crypto::P256Key>(crypto::P256Key::generate());
  const auto& e = ephemeral_->public_uncompressed();
  ss_.mix_hash(e);
  ss_.mix_key(e);  // psk-mode "e" token
  if (pattern_ == Pattern::NKpsk0) {
    auto es = ephemeral_->ecdh(*peer_identity_);
    ss_.mix_key(es);
    secure_wipe(es);
  }
  Bytes c = ss_.encrypt_and_hash({});
  Bytes msg(e.begin(), e.end());
  msg.insert(msg.end(), c.begin(), c.end());
  return msg;
}

Result<TrafficKeys> Initiator::read_message2(ByteView msg) {
  if (!ephemeral_) return make_error(Errc::internal, "message 1 not written");
  if (msg.size() != kMessageSize) return make_error(Errc::noise_length, std::to_string(msg.size()) + " bytes, expected 81");
  auto peer_e = crypto::P256Public::parse(msg.subspan(0, 65));
  if (!peer_e) return make_error(Errc::noise_key);
  ss_.mix_hash(msg.subspan(0, 65));
  ss_.mix_key(msg.subspan(0, 65));
  auto ee = ephemeral_->ecdh(*peer_e);
  ss_.mix_key(ee);
  secure_wipe(ee);
  if (pattern_ == Pattern::KNpsk0) {
    auto se = identity_->ecdh(*peer_e);
    ss_.mix_key(se);
    secure_wipe(se);
  }
  auto p = ss_.decrypt_and_hash(msg.subspan(65));
  if (!p) return p.error();
  if (!p->empty()) return make_error(Errc::noise_length, "message 2 carries a payload");
  auto [k1, k2] = ss_.split();
  ephemeral_.reset();
  return TrafficKeys{std::move(k1), std::move(k2), ss_.h()};
}

// ------------------------------------------------------------------ Responder

Responder::Responder(Pattern p, const Psk& psk, ByteView static_pub)
    : pattern_(p), ss_(p == Pattern::KNpsk0 ? kKNName : kNKName) {
  const uint8_t prologue = p == Pattern::KNpsk0 ? kPrologueKN : kPrologueNK;
  ss_.mix_hash(ByteView(&prologue, 1));
  ss_.mix_hash(static_pub);
  ss_.mix_key_and_hash(psk);
}

Result<Responder> Responder::kn(ByteView desktop_identity_pub, const Psk& psk) {
  auto pub = crypto::P256Public::parse(desktop_identity_pub);
  if (!pub) return make_error(Errc::noise_key, "desktop identity key");
  Responder r(Pattern::KNpsk0, psk, pub->uncompressed());
  r.peer_identity_ = std::move(pub).value();
  return r;
}

Responder Responder::nk(const crypto::P256Key& identity, const Psk& psk) {
  Responder r(Pattern::NKpsk0, psk, identity.public_uncompressed());
  r.identity_ = &identity;
  return r;
}

Result<Responder::Output> Responder::respond(ByteView msg1, std::optional<crypto::P256Key> ephemeral) {
  if (msg1.size() != kMessageSize) return make_error(Errc::noise_length, std::to_string(msg1.size()) + " bytes, expected 81");
  auto peer_e = crypto::P256Public::parse(msg1.subspan(0, 65));
  if (!peer_e) return make_error(Errc::noise_key);
  ss_.mix_hash(msg1.subspan(0, 65));
  ss_.mix_key(msg1.subspan(0, 65));
  if (pattern_ == Pattern::NKpsk0) {
    auto es = identity_->ecdh(*peer_e);
    ss_.mix_key(es);
    secure_wipe(es);
  }
  auto p = ss_.decrypt_and_hash(msg1.subspan(65));
  if (!p) return p.error();
  if (!p->empty()) return make_error(Errc::noise_length, "message 1 carries a payload");

  crypto::P256Key e = ephemeral ? std::move(*ephemeral) : crypto::P256Key::generate();
  const auto& epub = e.public_uncompressed();
  ss_.mix_hash(epub);
  ss_.mix_key(epub);
  auto ee = e.ecdh(*peer_e);
  ss_.mix_key(ee);
  secure_wipe(ee);
  if (pattern_ == Pattern::KNpsk0) {
    auto se = e.ecdh(*peer_identity_);
    ss_.mix_key(se);
    secure_wipe(se);
  }
  Bytes c = ss_.encrypt_and_hash({});
  Output out;
  out.message2.assign(epub.begin(), epub.end());
  out.message2.insert(out.message2.end(), c.begin(), c.end());
  auto [k1, k2] = ss_.split();
  // Phone: read = k1, write = k2.
  out.keys = TrafficKeys{std::move(k2), std::move(k1), ss_.h()};
  return out;
}

}  // namespace hg::noise
