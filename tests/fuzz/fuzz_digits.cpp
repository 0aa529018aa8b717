// SPDX-License-Identifier: Apache-2.0
// digits::decode on arbitrary text, and digits::encode on arbitrary bytes, with round trips:
// decode(t) = b  =>  encode(b) == t   (the encoding is a bijection on valid strings);
// decode(encode(b)) == b for every byte string.
#include <cstddef>
#include <cstdint>

#include "proto/digits.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hg;
  const std::string_view text = fuzz::as_text(data, size);
  if (auto b = digits::decode(text)) {
    HG_FUZZ_CHECK(digits::encode(*b) == text);
  }
  const ByteView bytes(data, size);
  const std::string d = digits::encode(bytes);
  auto back = digits::decode(d);
  HG_FUZZ_CHECK(back.ok());
  HG_FUZZ_CHECK(fuzz::same(*back, bytes));
  return 0;
}
