// SPDX-License-Identifier: Apache-2.0
// tunnel_domain::parse_path on arbitrary request paths (the relay's first contact with a
// client). A parsed path re-serialises (upper-case hex, unpadded base64url) to a path that
// parses to the same value (through the path builders the clients use). Also hex_decode / base64url_decode round trips on the raw text.
#include <cstddef>
#include <cstdint>

#include "proto/domains.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {
std::string path_of(const hg::tunnel_domain::TunnelPath& p) {
  using Kind = hg::tunnel_domain::TunnelPath::Kind;
  switch (p.kind) {
    case Kind::New: return hg::tunnel_domain::new_path(p.tunnel_id);
    case Kind::Connect: return hg::tunnel_domain::connect_path(p.routing_id, p.tunnel_id);
    case Kind::Contact: return hg::tunnel_domain::contact_path(p.contact_id);
  }
  return {};
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hg;
  const std::string_view text = fuzz::as_text(data, size);

  if (auto p = tunnel_domain::parse_path(text)) {
    const std::string again = path_of(*p);
    auto q = tunnel_domain::parse_path(again);
    HG_FUZZ_CHECK(q.ok());
    HG_FUZZ_CHECK(q->kind == p->kind && q->tunnel_id == p->tunnel_id && q->routing_id == p->routing_id &&
                  q->contact_id == p->contact_id);
    HG_FUZZ_CHECK(path_of(*q) == again);
    if (p->kind == tunnel_domain::TunnelPath::Kind::Contact) HG_FUZZ_CHECK(!p->contact_id.empty());
  }

  if (auto b = hex_decode(text)) {
    std::string lower(text);
    for (char& c : lower)
      if (c >= 'A' && c <= 'F') c = char(c - 'A' + 'a');
    HG_FUZZ_CHECK(hex_encode(*b) == lower);
  }
  if (auto b = base64url_decode(text)) {
    auto again = base64url_decode(base64url_encode(*b));
    HG_FUZZ_CHECK(again.ok() && *again == *b);
  }
  return 0;
}
