// SPDX-License-Identifier: Apache-2.0
// Noise handshakes of the hybrid transport (docs/protocol.md §6): KNpsk0 for QR-initiated connections
// (prologue 0x01, initiator static = the desktop's QR identity key) and NKpsk0 for linked
// connections (prologue 0x00, responder static = the phone's identity key). P-256,
// AES-256-GCM, SHA-256. Both messages are exactly 65 + 16 = 81 bytes.
#pragma once

#include <array>
#include <optional>

#include "proto/bytes.hpp"
#include "proto/crypto.hpp"
#include "proto/derive.hpp"

namespace hg::noise {

inline constexpr size_t kMessageSize = 65 + 16;
using Hash = std::array<uint8_t, 32>;

// The result of a completed handshake. read/write are from this party's point of view.
struct TrafficKeys {
  SecretBytes write_key;  // 32 bytes
  SecretBytes read_key;   // 32 bytes
  Hash handshake_hash{};  // the final h: the channel binding signed in linking info
};

// Symmetric state (Noise §5.2) with Chromium's handshake nonce (BE32(n) ‖ 8 zero bytes).
class SymmetricState {
 public:
  explicit SymmetricState(std::string_view protocol_name);
  SymmetricState(const SymmetricState&) = delete;
  SymmetricState& operator=(const SymmetricState&) = delete;
  SymmetricState(SymmetricState&&) = default;
  SymmetricState& operator=(SymmetricState&&) = default;
  ~SymmetricState();
  void mix_hash(ByteView data);
  void mix_key(ByteView ikm);
  void mix_key_and_hash(ByteView ikm);
  Bytes encrypt_and_hash(ByteView plaintext);
  Result<Bytes> decrypt_and_hash(ByteView ciphertext);
  // (k1, k2) = HKDF(ck, empty, 2)
  std::pair<SecretBytes, SecretBytes> split() const;
  const Hash& h() const { return h_; }
  const Hash& ck() const { return ck_; }

 private:
  Hash ck_{}, h_{};
  std::array<uint8_t, 32> k_{};
  bool has_k_ = false;
  uint32_t n_ = 0;
};

enum class Pattern { KNpsk0, NKpsk0 };

// Desktop side.
class Initiator {
 public:
  // QR flow: the desktop's identity key (its public half is in the QR code).
  static Initiator kn(const crypto::P256Key& identity, const Psk& psk);
  // Linked flow: the phone's identity public key from the linking info.
  static Initiator nk(const crypto::P256Public& peer_identity, const Psk& psk);

  // Message 1 (81 bytes). `ephemeral` is for known-answer tests only.
  Bytes write_message1(std::optional<crypto::P256Key> ephemeral = std::nullopt);
  // Message 2 must be exactly 81 bytes.
  Result<TrafficKeys> read_message2(ByteView msg2);

 private:
  Initiator(Pattern p, const Psk& psk, ByteView static_pub);
  Pattern pattern_;
  SymmetricState ss_;
  const crypto::P256Key* identity_ = nullptr;        // KN
  std::optional<crypto::P256Public> peer_identity_;  // NK
  std::optional<crypto::P256Key> ephemeral_;
};

// Phone side.
class Responder {
 public:
  // QR flow: the desktop's identity public key from the QR code (compressed or uncompressed).
  static Result<Responder> kn(ByteView desktop_identity_pub, const Psk& psk);
  // Linked flow: the phone's identity key.
  static Responder nk(const crypto::P256Key& identity, const Psk& psk);

  struct Output {
    Bytes message2;
    TrafficKeys keys;
  };
  Result<Output> respond(ByteView msg1, std::optional<crypto::P256Key> ephemeral = std::nullopt);

 private:
  Responder(Pattern p, const Psk& psk, ByteView static_pub);
  Pattern pattern_;
  SymmetricState ss_;
  std::optional<crypto::P256Public> peer_identity_;  // KN
  const crypto::P256Key* identity_ = nullptr;        // NK
};

}  // namespace hg::noise
