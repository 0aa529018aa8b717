// SPDX-License-Identifier: Apache-2.0
#include "proto/crypter.hpp"

#include "proto/crypto.hpp"

namespace hg {

Bytes pad_message(ByteView plaintext) {
  const size_t total = (plaintext.size() + 1 + kPaddingGranularity - 1) / kPaddingGranularity * kPaddingGranularity;
  const size_t zeros = total - plaintext.size() - 1;
  Bytes out(plaintext.begin(), plaintext.end());
  out.resize(total, 0);
  out.back() = uint8_t(zeros);
  return out;
}

Result<Bytes> unpad_message(ByteView padded) {
  if (padded.empty()) return make_error(Errc::crypter_padding, "empty message");
  const size_t z = padded.back();
  if (z + 1 > padded.size()) return make_error(Errc::crypter_padding, "padding longer than the message");
  return Bytes(padded.begin(), padded.end() - static_cast<std::ptrdiff_t>(z + 1));
}

Crypter::Crypter(SecretBytes read_key, SecretBytes write_key)
    : read_key_(std::move(read_key)), write_key_(std::move(write_key)) {}

static std::array<uint8_t, 12> transport_nonce(uint32_t counter) {
  std::array<uint8_t, 12> n{};
  n[8] = uint8_t(counter >> 24);
  n[9] = uint8_t(counter >> 16);
  n[10] = uint8_t(counter >> 8);
  n[11] = uint8_t(counter);
  return n;
}

Result<Bytes> Crypter::encrypt(ByteView plaintext) {
  if (write_counter_ > kMaxCrypterCounter) return make_error(Errc::crypter_exhausted);
  Bytes padded = pad_message(plaintext);
  Bytes ct = crypto::aes256_gcm_seal(write_key_.view(), transport_nonce(write_counter_), {}, padded);
  secure_wipe(padded);
  ++write_counter_;
  return ct;
}

Result<Bytes> Crypter::decrypt(ByteView ciphertext) {
  if (read_counter_ > kMaxCrypterCounter) return make_error(Errc::crypter_exhausted);
  auto padded = crypto::aes256_gcm_open(read_key_.view(), transport_nonce(read_counter_), {}, ciphertext);
  if (!padded) return make_error(Errc::crypter_decrypt);
  auto plain = unpad_message(*padded);
  secure_wipe(*padded);
  if (!plain) return plain;
  ++read_counter_;
  return plain;
}

std::string_view to_string(MessageType t) {
  switch (t) {
    case MessageType::shutdown: return "shutdown";
    case MessageType::ctap: return "ctap";
    case MessageType::update: return "update";
    case MessageType::json: return "json";
  }
  return "unknown";
}

Bytes encode_frame(MessageType type, ByteView payload) {
  Bytes out;
  out.reserve(payload.size() + 1);
  out.push_back(static_cast<uint8_t>(type));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Result<Frame> decode_frame(ByteView plaintext) {
  if (plaintext.empty()) return make_error(Errc::frame_empty);
  if (plaintext[0] > static_cast<uint8_t>(MessageType::json))
    return make_error(Errc::frame_type, "type byte " + std::to_string(plaintext[0]));
  return Frame{static_cast<MessageType>(plaintext[0]), Bytes(plaintext.begin() + 1, plaintext.end())};
}

}  // namespace hg
