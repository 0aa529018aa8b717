// SPDX-License-Identifier: Apache-2.0
// Tunnel-server domains (docs/protocol.md §4.1–4.2) and the tunnel URLs (§4.3).
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

// Request paths of the tunnel protocol (hex upper-case, as Chromium sends them). The relay's own
// listen path (docs/linking.md) is hybridgate's: /cable/listen[/<base64url contact ID>].
std::string new_path(const TunnelId& tunnel_id);
std::string connect_path(const std::array<uint8_t, 3>& routing_id, const TunnelId& tunnel_id);
std::string contact_path(ByteView contact_id);
std::string listen_path(const std::optional<Bytes>& contact_id);

// wss://<domain><path> for the paths above.
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
