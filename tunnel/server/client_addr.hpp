// SPDX-License-Identifier: Apache-2.0
// Client addresses (docs/relay.md, "Client addresses"): IP parsing with IPv4-mapped IPv6 folded to
// IPv4, prefixes (trusted proxies, limit keys), and which address of an X-Forwarded-For chain to
// believe. Pure functions over untrusted bytes, no Boost: fuzzable on their own.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hg::relay {

struct IpAddr {
  bool v6 = false;
  std::array<uint8_t, 16> b{};  // IPv4: the first 4 bytes
  bool operator==(const IpAddr&) const = default;
};

// A literal IPv4 or IPv6 address ("1.2.3.4", "2001:db8::1", "[2001:db8::1]"; surrounding blanks
// ignored; IPv4 with a ":port" suffix and "[v6]:port" accepted, the port dropped). ::ffff:a.b.c.d
// becomes the IPv4 address a.b.c.d. nullopt for anything else (or more than 64 bytes).
std::optional<IpAddr> parse_ip(std::string_view s);
std::string ip_string(const IpAddr& a);

struct IpPrefix {
  IpAddr addr;  // masked to len
  int len = 0;  // 0..32 (IPv4) or 0..128 (IPv6)
};
// "ip" (a single address) or "ip/len".
std::optional<IpPrefix> parse_prefix(std::string_view s);
bool contains(const IpPrefix& p, const IpAddr& a);
bool contains_any(std::span<const IpPrefix> ps, const IpAddr& a);

// The address masked to its family's prefix length, as "addr/len": the key rate limits and caps use.
std::string prefix_key(const IpAddr& a, int v4_len, int v6_len);

// The client of a request that arrived from `peer`: if the peer is a trusted proxy, walk the
// X-Forwarded-For entries (all header lines in order, as one comma-separated list) from the right,
// skipping trusted proxies; the first untrusted entry is the client. An entry that is not an IP
// address ends the walk at the last address believed (the proxy that passed it on). Entries to the
// left of the client (which the client itself may have written) are never looked at.
IpAddr forwarded_client(const IpAddr& peer, std::span<const std::string_view> xff_lines,
                        std::span<const IpPrefix> trusted);

}  // namespace hg::relay
