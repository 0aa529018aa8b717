// SPDX-License-Identifier: Apache-2.0
// qr_payload::parse_url on arbitrary text (and digits::decode of the text and of what follows
// the prefix). A parsed payload must survive encode_url -> parse_url unchanged.
#include <cstddef>
#include <cstdint>

#include "proto/digits.hpp"
#include "proto/qr_payload.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {
bool same_payload(const hg::qr_payload::Payload& a, const hg::qr_payload::Payload& b) {
  return a.public_key == b.public_key && a.secret == b.secret && a.known_domains == b.known_domains &&
         a.timestamp == b.timestamp && a.supports_linking == b.supports_linking && a.request_type == b.request_type;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hg;
  const std::string_view url = fuzz::as_text(data, size);
  (void)digits::decode(url);
  if (url.size() >= qr_payload::kPrefix.size()) (void)digits::decode(url.substr(qr_payload::kPrefix.size()));

  auto p = qr_payload::parse_url(url);
  if (!p) {
    HG_FUZZ_CHECK(!p.error().name().empty());
    return 0;
  }
  (void)p->request_type_or_default();
  const std::string again = qr_payload::encode_url(*p);
  HG_FUZZ_CHECK(again.starts_with(qr_payload::kPrefix));
  auto q = qr_payload::parse_url(again);
  HG_FUZZ_CHECK(q.ok());
  HG_FUZZ_CHECK(same_payload(*p, *q));
  return 0;
}
