// SPDX-License-Identifier: Apache-2.0
// Byte-string helpers: hex and base64url (RFC 4648 §5, no padding) and secure wiping.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/error.hpp"

namespace hg {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline ByteView as_bytes(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string to_string(ByteView b) { return std::string(b.begin(), b.end()); }

template <size_t N>
Bytes to_vec(const std::array<uint8_t, N>& a) {
  return Bytes(a.begin(), a.end());
}
inline Bytes concat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::string hex_encode(ByteView b, bool upper = false);
// Accepts upper- and lower-case digits; rejects odd length and non-hex characters.
Result<Bytes> hex_decode(std::string_view s);
// Decodes into a fixed-size array; the text must be exactly 2*N hex digits.
template <size_t N>
Result<std::array<uint8_t, N>> hex_decode_fixed(std::string_view s) {
  if (s.size() != 2 * N) return make_error(Errc::hex_invalid, "expected " + std::to_string(2 * N) + " hex digits");
  auto r = hex_decode(s);
  if (!r) return r.error();
  std::array<uint8_t, N> a{};
  for (size_t i = 0; i < N; ++i) a[i] = (*r)[i];
  return a;
}

std::string base64url_encode(ByteView b);
// Accepts unpadded base64url (and tolerates trailing '=' padding); rejects anything else.
Result<Bytes> base64url_decode(std::string_view s);

// Wipe memory that held a secret (OPENSSL_cleanse).
void secure_wipe(void* p, size_t n) noexcept;
inline void secure_wipe(Bytes& b) noexcept {
  if (!b.empty()) secure_wipe(b.data(), b.size());
}
template <size_t N>
void secure_wipe(std::array<uint8_t, N>& a) noexcept {
  secure_wipe(a.data(), N);
}

// Constant-time equality (CRYPTO_memcmp); false when the lengths differ.
bool ct_equal(ByteView a, ByteView b) noexcept;

// A byte buffer that is wiped when it goes away. Use for keys and secrets.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(Bytes b) : b_(std::move(b)) {}
  explicit SecretBytes(ByteView b) : b_(b.begin(), b.end()) {}
  SecretBytes(const SecretBytes& o) : b_(o.b_) {}
  SecretBytes(SecretBytes&& o) noexcept : b_(std::move(o.b_)) { o.b_.clear(); }
  SecretBytes& operator=(const SecretBytes& o) {
    if (this != &o) {
      secure_wipe(b_);
      b_ = o.b_;
    }
    return *this;
  }
  SecretBytes& operator=(SecretBytes&& o) noexcept {
    if (this != &o) {
      secure_wipe(b_);
      b_ = std::move(o.b_);
      o.b_.clear();
    }
    return *this;
  }
  ~SecretBytes() { secure_wipe(b_); }

  ByteView view() const { return b_; }
  const uint8_t* data() const { return b_.data(); }
  size_t size() const { return b_.size(); }
  bool empty() const { return b_.empty(); }
  const Bytes& bytes() const { return b_; }
  Bytes& mutable_bytes() { return b_; }

 private:
  Bytes b_;
};

}  // namespace hg
