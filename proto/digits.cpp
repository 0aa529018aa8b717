// SPDX-License-Identifier: Apache-2.0
#include "proto/digits.hpp"

#include <cstdio>

namespace hg::digits {
namespace {
constexpr size_t kChunkSize = 7;
constexpr size_t kChunkDigits = 17;
// Digits for a partial chunk of n bytes (n = 1..6): the nibbles of 0x0fda8530 (Chromium).
constexpr size_t partial_width(size_t n) { return (0x0fda8530u >> (4 * n)) & 0xf; }

void append_chunk(std::string& out, ByteView chunk, size_t width) {
  uint64_t v = 0;
  for (size_t i = chunk.size(); i-- > 0;) v = v << 8 | chunk[i];
  char buf[24];
  int n = std::snprintf(buf, sizeof buf, "%0*llu", int(width), static_cast<unsigned long long>(v));
  out.append(buf, size_t(n));
}

Status parse_chunk(std::string_view d, size_t nbytes, Bytes& out) {
  uint64_t v = 0;
  for (char c : d) v = v * 10 + uint64_t(c - '0');  // 17 digits < 10^17 < 2^64: no overflow
  if (nbytes < 8 && (v >> (8 * nbytes)) != 0) return make_error(Errc::digits_range);
  for (size_t i = 0; i < nbytes; ++i) {
    out.push_back(uint8_t(v & 0xff));
    v >>= 8;
  }
  return ok_status();
}
}  // namespace

std::string encode(ByteView bytes) {
  std::string out;
  out.reserve((bytes.size() / kChunkSize + 1) * kChunkDigits);
  size_t i = 0;
  for (; i + kChunkSize <= bytes.size(); i += kChunkSize) append_chunk(out, bytes.subspan(i, kChunkSize), kChunkDigits);
  if (i < bytes.size()) {
    size_t rest = bytes.size() - i;
    append_chunk(out, bytes.subspan(i, rest), partial_width(rest));
  }
  return out;
}

Result<Bytes> decode(std::string_view d) {
  for (char c : d)
    if (c < '0' || c > '9') return make_error(Errc::digits_non_digit);
  size_t full = d.size() / kChunkDigits, rest = d.size() % kChunkDigits;
  size_t rest_bytes = 0;
  if (rest != 0) {
    for (size_t n = 1; n < kChunkSize; ++n)
      if (partial_width(n) == rest) rest_bytes = n;
    if (rest_bytes == 0) return make_error(Errc::digits_length);
  }
  Bytes out;
  out.reserve(full * kChunkSize + rest_bytes);
  for (size_t i = 0; i < full; ++i) HG_CHECK(parse_chunk(d.substr(i * kChunkDigits, kChunkDigits), kChunkSize, out));
  if (rest_bytes) HG_CHECK(parse_chunk(d.substr(full * kChunkDigits), rest_bytes, out));
  return out;
}

}  // namespace hg::digits
