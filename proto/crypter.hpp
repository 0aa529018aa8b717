// SPDX-License-Identifier: Apache-2.0
// Post-handshake encryption (docs/protocol.md §7.1–7.2, new construction only) and message framing (§8.1).
// AES-256-GCM, nonce = 8 zero bytes ‖ BE32(counter), no additional data; plaintext padded to a
// multiple of 32 with zero bytes and a final byte giving their count.
#pragma once

#include <cstdint>

#include "proto/bytes.hpp"

namespace hg {

inline constexpr uint32_t kMaxCrypterCounter = (1u << 24) - 1;
inline constexpr size_t kPaddingGranularity = 32;

// Pads to the smallest multiple of 32 that is >= len + 1.
Bytes pad_message(ByteView plaintext);
// Reads z = last byte, requires z + 1 <= len, drops z + 1 bytes (the zeros are not checked).
Result<Bytes> unpad_message(ByteView padded);

class Crypter {
 public:
  Crypter(SecretBytes read_key, SecretBytes write_key);
  // Pads then encrypts; fails (crypter.exhausted) once the write counter passes 2^24 - 1.
  Result<Bytes> encrypt(ByteView plaintext);
  // Decrypts and unpads; the read counter advances only on success.
  Result<Bytes> decrypt(ByteView ciphertext);
  uint32_t read_counter() const { return read_counter_; }
  uint32_t write_counter() const { return write_counter_; }
  // Tests only: jump the counters (to exercise the 2^24 limit without 16 M encryptions).
  void set_counters_for_testing(uint32_t read, uint32_t write) {
    read_counter_ = read;
    write_counter_ = write;
  }

 private:
  SecretBytes read_key_, write_key_;
  uint32_t read_counter_ = 0, write_counter_ = 0;
};

// Message types after the post-handshake message (revision 1).
enum class MessageType : uint8_t { shutdown = 0, ctap = 1, update = 2, json = 3 };
std::string_view to_string(MessageType t);

struct Frame {
  MessageType type = MessageType::ctap;
  Bytes payload;
};
Bytes encode_frame(MessageType type, ByteView payload);
// Empty → frame.empty; type byte > 3 → frame.type.
Result<Frame> decode_frame(ByteView plaintext);

}  // namespace hg
