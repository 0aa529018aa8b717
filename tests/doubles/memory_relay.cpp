// SPDX-License-Identifier: Apache-2.0
#include "memory_relay.hpp"

#include <strings.h>

#include "proto/crypto.hpp"
#include "proto/domains.hpp"
#include "proto/messages.hpp"

namespace hg::doubles {

namespace net = boost::asio;

namespace {

std::optional<std::string> header(const tunnel::ConnectOptions& o, const char* name) {
  for (const auto& [k, v] : o.headers)
    if (strcasecmp(k.c_str(), name) == 0) return v;
  return std::nullopt;
}

Error http_error(int status) {
  if (status == 410) return make_error(Errc::tunnel_gone, "HTTP 410");
  return make_error(Errc::tunnel_refused, "the server answered HTTP " + std::to_string(status));
}

std::unique_ptr<tunnel::WebSocket> end_of(const std::shared_ptr<MemoryLink>& link, int side, tunnel::HandshakeInfo info) {
  info.status = 101;
  return std::make_unique<MemoryWebSocket>(MemoryLink::End{link, side}, std::move(info));
}

}  // namespace

hybrid::TunnelServer MemoryRelay::server() {
  hybrid::TunnelServer s;
  s.override_url = kBaseUrl;
  s.connector = shared_from_this();
  return s;
}

void MemoryRelay::refuse_next(Kind kind, int status) {
  std::lock_guard lock(mutex_);
  refusals_[kind] = status;
}

void MemoryRelay::set_faults(FaultPlan from_phone, FaultPlan from_desktop) {
  std::lock_guard lock(mutex_);
  from_phone_ = std::move(from_phone);
  from_desktop_ = std::move(from_desktop);
}

std::shared_ptr<MemoryLink> MemoryRelay::last_tunnel() const {
  std::lock_guard lock(mutex_);
  return last_;
}

int MemoryRelay::tunnels() const {
  std::lock_guard lock(mutex_);
  return opened_;
}

int MemoryRelay::wakeups() const {
  std::lock_guard lock(mutex_);
  return wakeups_;
}

std::optional<std::array<uint8_t, 3>> MemoryRelay::routing_id(const TunnelId& tunnel_id) const {
  std::lock_guard lock(mutex_);
  auto it = tunnels_.find(tunnel_id);
  if (it == tunnels_.end()) return std::nullopt;
  return it->second.routing_id;
}

void MemoryRelay::revoke(const Bytes& contact_id) {
  std::shared_ptr<MemoryLink> listener;
  {
    std::lock_guard lock(mutex_);
    auto it = contacts_.find(contact_id);
    if (it == contacts_.end()) return;
    it->second.revoked = true;
    listener = std::move(it->second.listener);
  }
  if (listener) listener->close_both(1000);
}

bool MemoryRelay::listening(const Bytes& contact_id) const {
  std::lock_guard lock(mutex_);
  auto it = contacts_.find(contact_id);
  return it != contacts_.end() && it->second.listener && !it->second.listener->closed();
}

// With the lock held. The phone's messages go from its side to the other.
std::shared_ptr<MemoryLink> MemoryRelay::new_link(bool phone_is_side0) {
  auto link = MemoryLink::make();
  link->set_faults(phone_is_side0 ? 0 : 1, from_phone_);
  link->set_faults(phone_is_side0 ? 1 : 0, from_desktop_);
  last_ = link;
  ++opened_;
  return link;
}

net::awaitable<Result<std::unique_ptr<tunnel::WebSocket>>> MemoryRelay::connect(const tunnel::ConnectOptions& o) {
  const std::string base = kBaseUrl;
  if (o.url.compare(0, base.size(), base) != 0)
    co_return make_error(Errc::tunnel_unreachable, "the in-process relay serves only " + base);
  const std::string path = o.url.substr(base.size());
  std::unique_lock lock(mutex_);
  auto refused = [&](Kind k) -> std::optional<int> {
    auto it = refusals_.find(k);
    if (it == refusals_.end()) return std::nullopt;
    int status = it->second;
    refusals_.erase(it);
    return status;
  };

  // The listen connection (hybridgate's own path, docs/linking.md).
  if (path == "/cable/listen" || path.rfind("/cable/listen/", 0) == 0) {
    if (auto s = refused(Kind::listen)) co_return http_error(*s);
    auto token = header(o, "X-Hybridgate-Contact-Token");
    if (!token || token->empty()) co_return http_error(401);
    Bytes id;
    tunnel::HandshakeInfo info;
    if (path == "/cable/listen") {
      id = crypto::random_bytes(16);
      contacts_[id].token = *token;
      info.headers.emplace_back("x-hybridgate-contact-id", base64url_encode(id));
    } else {
      auto decoded = base64url_decode(path.substr(std::string("/cable/listen/").size()));
      if (!decoded) co_return http_error(400);
      id = *decoded;
      auto it = contacts_.find(id);
      if (it == contacts_.end()) co_return http_error(404);
      if (it->second.revoked) co_return http_error(410);
      if (it->second.token != *token) co_return http_error(403);
    }
    auto& contact = contacts_[id];
    if (contact.listener) contact.listener->close_both(1000);  // replaced by the newer listener
    auto link = MemoryLink::make();
    contact.listener = link;
    std::weak_ptr<MemoryRelay> weak = shared_from_this();
    link->on_message(0, [weak, id](const tunnel::Message& m) {
      auto self = weak.lock();
      if (!self || !m.text) return;
      const std::string text(m.data.begin(), m.data.end());
      if (text.find("\"revoke\"") != std::string::npos && text.find("true") != std::string::npos) self->revoke(id);
    });
    co_return end_of(link, 0, std::move(info));
  }

  auto parsed = tunnel_domain::parse_path(path);
  if (!parsed) co_return http_error(404);
  switch (parsed->kind) {
    case tunnel_domain::TunnelPath::Kind::New: {
      if (auto s = refused(Kind::new_tunnel)) co_return http_error(*s);
      if (tunnels_.count(parsed->tunnel_id)) co_return http_error(409);
      Tunnel t;
      crypto::random_bytes(t.routing_id.data(), t.routing_id.size());
      t.link = new_link(true);
      t.waiting_side = 0;
      tunnel::HandshakeInfo info;
      info.routing_id = hex_encode(t.routing_id, true);
      info.routing_id_count = 1;
      info.headers.emplace_back("x-cable-routing-id", *info.routing_id);
      auto link = t.link;
      tunnels_[parsed->tunnel_id] = std::move(t);
      co_return end_of(link, 0, std::move(info));
    }
    case tunnel_domain::TunnelPath::Kind::Connect: {
      if (auto s = refused(Kind::connect)) co_return http_error(*s);
      auto it = tunnels_.find(parsed->tunnel_id);
      if (it == tunnels_.end() || it->second.routing_id != parsed->routing_id || it->second.other_end_taken)
        co_return http_error(404);
      it->second.other_end_taken = true;
      auto link = it->second.link;
      const int side = 1 - it->second.waiting_side;
      // A contact tunnel: the desktop learns that the phone is there (one byte 0x00).
      if (it->second.signal_connection) link->inject(it->second.waiting_side, tunnel::Message{false, Bytes{0}});
      co_return end_of(link, side, {});
    }
    case tunnel_domain::TunnelPath::Kind::Contact: {
      if (auto s = refused(Kind::contact)) co_return http_error(*s);
      auto it = contacts_.find(parsed->contact_id);
      if (it == contacts_.end()) co_return http_error(404);
      if (it->second.revoked) co_return http_error(410);
      auto payload_hex = header(o, "X-caBLE-Client-Payload");
      if (!payload_hex) co_return http_error(400);
      auto payload = hex_decode(*payload_hex);
      if (!payload) co_return http_error(400);
      if (!it->second.listener || it->second.listener->closed()) co_return http_error(404);  // phone not listening
      Tunnel t;
      TunnelId tunnel_id{};
      crypto::random_bytes(tunnel_id.data(), tunnel_id.size());
      crypto::random_bytes(t.routing_id.data(), t.routing_id.size());
      t.link = new_link(false);  // the desktop's end is side 0
      t.waiting_side = 0;
      auto signal = header(o, "X-caBLE-Signal-Connection");
      t.signal_connection = signal && *signal == "true";
      tunnel::HandshakeInfo info;
      info.signal_connection = t.signal_connection;
      auto link = t.link;
      const std::string wake = messages::encode_wakeup(tunnel_id, t.routing_id, *payload);
      tunnels_[tunnel_id] = std::move(t);
      ++wakeups_;
      it->second.listener->inject(0, tunnel::Message{true, Bytes(wake.begin(), wake.end())});
      co_return end_of(link, 0, std::move(info));
    }
  }
  co_return http_error(404);
}

}  // namespace hg::doubles
