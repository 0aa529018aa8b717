// SPDX-License-Identifier: Apache-2.0
// Tunnel-server domains (spec §4) and the tunnel URLs (spec §5.1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "proto/bytes.hpp"
#include "proto/derive.hpp"

namespace hg::tunnel_domain {

// Assigned domains: 0 = Google, 1 = Apple. 2..255 are unassigned (invalid).
inline constexpr uint16_t kNumAssigned = 2;

// The domain name for an ID: assigned (0, 1) or hashed (>= 256). 2..255 → domain.unknown.
Result<std::string> name(uint16_t id);
bool valid_id(uint16_t id);

std::string new_url(const std::string& domain, const TunnelId& tunnel_id);
std::string connect_url(const std::string& domain, const std::array<uint8_t, 3>& routing_id, const TunnelId& tunnel_id);
std::string contact_url(const std::string& domain, ByteView contact_id);

// Paths of the tunnel protocol, for the relay. Hex is accepted in either case.
struct TunnelPath {
  enum class Kind { New, Connect, Contact } kind = Kind::New;
  TunnelId tunnel_id{};                    // New, Connect
  std::array<uint8_t, 3> routing_id{};     // Connect
  Bytes contact_id;                        // Contact
};
// Parses a request target's path (no query string allowed): /cable/new/<32 hex>,
// /cable/connect/<6 hex>/<32 hex>, /cable/contact/<base64url>. Anything else → url.invalid.
Result<TunnelPath> parse_path(std::string_view path);

}  // namespace hg::tunnel_domain
