// SPDX-License-Identifier: Apache-2.0
// qr_payload::parse_cbor on arbitrary bytes. A parsed payload re-encodes (encode_cbor) to CBOR
// that parses to the same payload; when the input held only the keys 0-5 with the types the
// encoder writes, the re-encoding is the input itself (both are canonical).
#include <cstddef>
#include <cstdint>

#include "proto/cbor.hpp"
#include "proto/qr_payload.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hg;
  const ByteView in(data, size);
  auto p = qr_payload::parse_cbor(in);
  if (!p) return 0;
  const Bytes again = qr_payload::encode_cbor(*p);
  auto q = qr_payload::parse_cbor(again);
  HG_FUZZ_CHECK(q.ok());
  HG_FUZZ_CHECK(p->public_key == q->public_key && p->secret == q->secret && p->known_domains == q->known_domains &&
                p->timestamp == q->timestamp && p->supports_linking == q->supports_linking &&
                p->request_type == q->request_type);
  HG_FUZZ_CHECK(qr_payload::encode_cbor(*q) == again);

  // The input was canonical (parse_cbor insists); if it holds nothing the encoder drops, the
  // re-encoding must be byte-identical.
  auto v = cbor::decode(in);
  HG_FUZZ_CHECK(v.ok() && v->is_map());
  bool only_known = true;
  for (const auto& [k, val] : v->as_map().entries()) {
    if (!k.is_unsigned() || k.as_unsigned() > 5) only_known = false;
    else if (k.as_unsigned() == 3 && !val.is_unsigned()) only_known = false;  // key 3 is not type-checked
  }
  if (only_known) HG_FUZZ_CHECK(fuzz::same(again, in));
  return 0;
}
