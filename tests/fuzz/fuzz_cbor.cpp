// SPDX-License-Identifier: Apache-2.0
// hg::cbor::decode / decode_prefix on arbitrary bytes, canonical and lenient.
// Oracles: a canonical decode re-encodes to exactly the input; a lenient decode re-encodes to
// canonical CBOR that decodes (canonically) to an equal value; decode_prefix agrees with decode
// on the prefix it reports. Any mismatch aborts, so libFuzzer reports it with the input.
#include <cstddef>
#include <cstdint>

#include "proto/cbor.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hg;
  const ByteView in(data, size);

  auto canon = cbor::decode(in, cbor::DecodeOptions{.canonical = true});
  if (canon) {
    HG_FUZZ_CHECK(fuzz::same(cbor::encode(*canon), in));
    (void)cbor::diagnostic(*canon);
  }

  auto lenient = cbor::decode(in, cbor::DecodeOptions{.canonical = false});
  if (canon) HG_FUZZ_CHECK(lenient.ok() && *lenient == *canon);
  if (lenient) {
    const Bytes enc = cbor::encode(*lenient);
    auto again = cbor::decode(enc, cbor::DecodeOptions{.canonical = true});
    if (!again) {
      std::fprintf(stderr, "re-encoding does not decode: %s\n", again.error().to_string().c_str());
      HG_FUZZ_CHECK(again.ok());
    }
    HG_FUZZ_CHECK(*again == *lenient);
    HG_FUZZ_CHECK(cbor::encode(*again) == enc);
  }

  size_t consumed = 0;
  auto prefix = cbor::decode_prefix(in, consumed, cbor::DecodeOptions{.canonical = false});
  if (prefix) {
    HG_FUZZ_CHECK(consumed > 0 && consumed <= size);
    auto whole = cbor::decode(in.first(consumed), cbor::DecodeOptions{.canonical = false});
    HG_FUZZ_CHECK(whole.ok() && *whole == *prefix);
    if (lenient) HG_FUZZ_CHECK(consumed == size && *lenient == *prefix);
    auto trailing = cbor::decode(in, cbor::DecodeOptions{.canonical = false, .allow_trailing = true});
    HG_FUZZ_CHECK(trailing.ok() && *trailing == *prefix);
  } else {
    HG_FUZZ_CHECK(!lenient.ok());
  }

  // A tight depth limit must fail cleanly, never crash.
  (void)cbor::decode(in, cbor::DecodeOptions{.max_size = 64, .max_depth = 2, .canonical = false});
  return 0;
}
