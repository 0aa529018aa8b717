// SPDX-License-Identifier: Apache-2.0
#include "proto/bytes.hpp"

#include <openssl/crypto.h>

namespace hg {

std::string hex_encode(ByteView b, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t c : b) {
    s.push_back(digits[c >> 4]);
    s.push_back(digits[c & 15]);
  }
  return s;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<Bytes> hex_decode(std::string_view s) {
  if (s.size() % 2 != 0) return make_error(Errc::hex_invalid, "odd number of hex digits");
  Bytes out;
  out.reserve(s.size() / 2);
  for (size_t i = 0; i < s.size(); i += 2) {
    int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
    if (hi < 0 || lo < 0) return make_error(Errc::hex_invalid, "non-hex character");
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return out;
}

static constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url_encode(ByteView b) {
  std::string s;
  s.reserve((b.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= b.size(); i += 3) {
    uint32_t v = uint32_t(b[i]) << 16 | uint32_t(b[i + 1]) << 8 | b[i + 2];
    s.push_back(kB64Url[v >> 18 & 63]);
    s.push_back(kB64Url[v >> 12 & 63]);
    s.push_back(kB64Url[v >> 6 & 63]);
    s.push_back(kB64Url[v & 63]);
  }
  size_t rest = b.size() - i;
  if (rest == 1) {
    uint32_t v = uint32_t(b[i]) << 16;
    s.push_back(kB64Url[v >> 18 & 63]);
    s.push_back(kB64Url[v >> 12 & 63]);
  } else if (rest == 2) {
    uint32_t v = uint32_t(b[i]) << 16 | uint32_t(b[i + 1]) << 8;
    s.push_back(kB64Url[v >> 18 & 63]);
    s.push_back(kB64Url[v >> 12 & 63]);
    s.push_back(kB64Url[v >> 6 & 63]);
  }
  return s;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

Result<Bytes> base64url_decode(std::string_view s) {
  while (!s.empty() && s.back() == '=') s.remove_suffix(1);
  if (s.size() % 4 == 1) return make_error(Errc::base64_invalid, "impossible length");
  Bytes out;
  out.reserve(s.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = b64_value(c);
    if (v < 0) return make_error(Errc::base64_invalid, "character outside the base64url alphabet");
    acc = acc << 6 | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return make_error(Errc::base64_invalid, "non-zero trailing bits");
  return out;
}

void secure_wipe(void* p, size_t n) noexcept { OPENSSL_cleanse(p, n); }

bool ct_equal(ByteView a, ByteView b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace hg
