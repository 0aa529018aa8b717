// SPDX-License-Identifier: Apache-2.0
#include "proto/domains.hpp"

#include "proto/crypto.hpp"

namespace hg::tunnel_domain {

bool valid_id(uint16_t id) { return id < kNumAssigned || id >= 256; }

Result<std::string> name(uint16_t id) {
  if (id == 0) return std::string("cable.ua5v.com");
  if (id == 1) return std::string("cable.auth.com");
  if (id < 256) return make_error(Errc::domain_unknown, "domain ID " + std::to_string(id));
  static const char kPrefix[] = "caBLEv2 tunnel server domain";
  Bytes input(kPrefix, kPrefix + sizeof(kPrefix) - 1);
  input.push_back(uint8_t(id & 0xff));
  input.push_back(uint8_t(id >> 8));
  input.push_back(0);
  auto digest = crypto::sha256(input);
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | digest[size_t(i)];
  static const char* const kTlds[] = {"com", "org", "net", "info"};
  const char* tld = kTlds[v & 3];
  v >>= 2;
  static const char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string label;
  while (v != 0) {
    label.push_back(kBase32[v & 31]);
    v >>= 5;
  }
  return "cable." + label + "." + tld;
}

std::string new_path(const TunnelId& tunnel_id) { return "/cable/new/" + hex_encode(tunnel_id, true); }

std::string connect_path(const std::array<uint8_t, 3>& routing_id, const TunnelId& tunnel_id) {
  return "/cable/connect/" + hex_encode(routing_id, true) + "/" + hex_encode(tunnel_id, true);
}

std::string contact_path(ByteView contact_id) { return "/cable/contact/" + base64url_encode(contact_id); }

std::string listen_path(const std::optional<Bytes>& contact_id) {
  return contact_id ? "/cable/listen/" + base64url_encode(*contact_id) : std::string("/cable/listen");
}

std::string new_url(const std::string& domain, const TunnelId& tunnel_id) {
  return "wss://" + domain + new_path(tunnel_id);
}

std::string connect_url(const std::string& domain, const std::array<uint8_t, 3>& routing_id, const TunnelId& tunnel_id) {
  return "wss://" + domain + connect_path(routing_id, tunnel_id);
}

std::string contact_url(const std::string& domain, ByteView contact_id) {
  return "wss://" + domain + contact_path(contact_id);
}

namespace {
bool is_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}
}  // namespace

Result<TunnelPath> parse_path(std::string_view path) {
  constexpr std::string_view kNew = "/cable/new/", kConnect = "/cable/connect/", kContact = "/cable/contact/";
  TunnelPath p;
  auto bad = [](const char* why) { return make_error(Errc::url_invalid, why); };
  if (path.starts_with(kNew)) {
    std::string_view id = path.substr(kNew.size());
    if (id.size() != 32 || !is_hex(id)) return bad("tunnel ID must be 32 hex digits");
    p.kind = TunnelPath::Kind::New;
    p.tunnel_id = *hex_decode_fixed<16>(id);
    return p;
  }
  if (path.starts_with(kConnect)) {
    std::string_view rest = path.substr(kConnect.size());
    if (rest.size() != 6 + 1 + 32 || rest[6] != '/') return bad("expected /cable/connect/<6 hex>/<32 hex>");
    std::string_view rid = rest.substr(0, 6), tid = rest.substr(7);
    if (!is_hex(rid) || !is_hex(tid)) return bad("routing and tunnel IDs must be hex");
    p.kind = TunnelPath::Kind::Connect;
    p.routing_id = *hex_decode_fixed<3>(rid);
    p.tunnel_id = *hex_decode_fixed<16>(tid);
    return p;
  }
  if (path.starts_with(kContact)) {
    std::string_view id = path.substr(kContact.size());
    if (id.empty() || id.size() > 1024) return bad("contact ID must be 1 to 1024 base64url characters");
    for (char c : id)
      if (c == '=') return bad("contact ID must be unpadded base64url");
    auto b = base64url_decode(id);
    if (!b || b->empty()) return bad("contact ID is not base64url");
    p.kind = TunnelPath::Kind::Contact;
    p.contact_id = std::move(b).value();
    return p;
  }
  return bad("unknown path");
}

}  // namespace hg::tunnel_domain
