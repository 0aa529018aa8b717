// SPDX-License-Identifier: Apache-2.0
// The relay's client-address parsing (tunnel/server/client_addr): parse_ip, parse_prefix and the
// X-Forwarded-For walk on arbitrary text. Oracles: a parsed address prints to text that parses
// to the same address; a prefix contains its own address; the client of a forwarded request is
// the peer itself, or an address that appears in the header lines.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_common.hpp"
#include "tunnel/server/client_addr.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hg::relay;
  const std::string_view text = hg::fuzz::as_text(data, size);

  if (auto a = parse_ip(text)) {
    auto again = parse_ip(ip_string(*a));
    HG_FUZZ_CHECK(again && *again == *a);
    (void)prefix_key(*a, 24, 48);
  }
  if (auto p = parse_prefix(text)) {
    HG_FUZZ_CHECK(p->len >= 0 && p->len <= (p->addr.v6 ? 128 : 32));
    HG_FUZZ_CHECK(contains(*p, p->addr));
  }

  // The input as X-Forwarded-For header lines (split at '\n'), from a trusted loopback proxy.
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '\n') {
      lines.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  const IpAddr peer = *parse_ip("127.0.0.1");
  const std::vector<IpPrefix> trusted = {*parse_prefix("127.0.0.0/8"), *parse_prefix("::1")};
  const IpAddr client = forwarded_client(peer, lines, trusted);
  if (!(client == peer)) {
    const std::string printed = ip_string(client);
    bool seen = false;
    for (auto l : lines) {
      for (size_t i = 0; i < l.size() && !seen; ++i) {
        size_t j = l.find(',', i);
        if (j == std::string_view::npos) j = l.size();
        auto entry = parse_ip(l.substr(i, j - i));
        seen = entry && *entry == client;
        i = j;
      }
    }
    HG_FUZZ_CHECK(seen);
    (void)printed;
  }
  return 0;
}
