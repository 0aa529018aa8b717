// SPDX-License-Identifier: Apache-2.0
// An in-process tunnel server (tests only): what the ceremonies need from a relay, without
// sockets. It implements hybrid::TunnelConnector, so a hybrid::TunnelServer made by server()
// takes the ceremonies' connections here instead of to the network:
//   /cable/new/<tunnel ID>               → a routing ID (X-caBLE-Routing-ID), the phone's end;
//   /cable/connect/<routing ID>/<tunnel ID> → the other end of that tunnel (once);
//   /cable/listen[/<contact ID>]         → a linked phone's listen connection: a new contact
//                                          (X-Hybridgate-Contact-ID) or the known one, by token;
//                                          a text {"revoke": true} revokes it (closed with 1000);
//   /cable/contact/<contact ID>          → a desktop's contact request: a wake-up goes to the
//                                          listener, the desktop gets the tunnel's other end and,
//                                          with X-caBLE-Signal-Connection, one 0x00 message once
//                                          the phone has connected.
// Answers a real relay gives as HTTP errors come back as the client's errors: 404 →
// tunnel.refused, 410 (revoked contact) → tunnel.gone. Tests can refuse the next request of a
// kind and put faults on every tunnel's messages (memory_link.hpp). Thread-safe: a desktop and a
// phone on different threads may use one relay.
#pragma once

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "hybrid/tunnel_channel.hpp"
#include "memory_link.hpp"
#include "proto/derive.hpp"

namespace hg::doubles {

class MemoryRelay final : public hybrid::TunnelConnector, public std::enable_shared_from_this<MemoryRelay> {
 public:
  static constexpr const char* kBaseUrl = "ws://relay.test";
  static std::shared_ptr<MemoryRelay> make() { return std::shared_ptr<MemoryRelay>(new MemoryRelay()); }

  // Every tunnel domain → this relay.
  hybrid::TunnelServer server();
  boost::asio::awaitable<Result<std::unique_ptr<tunnel::WebSocket>>> connect(
      const tunnel::ConnectOptions& options) override;

  enum class Kind { new_tunnel, connect, contact, listen };
  // The next request of this kind is answered with this HTTP status (≠ 101).
  void refuse_next(Kind kind, int status);
  // Faults on what the phone / the desktop writes into every tunnel made from now on.
  void set_faults(FaultPlan from_phone, FaultPlan from_desktop);
  // The newest tunnel (nullptr before the first) and how many were opened.
  std::shared_ptr<MemoryLink> last_tunnel() const;
  int tunnels() const;
  // The routing ID the relay gave the tunnel with this ID (after /cable/new or a contact request).
  std::optional<std::array<uint8_t, 3>> routing_id(const TunnelId& tunnel_id) const;
  // Contacts: how many wake-ups were sent, revoke one (as the phone's revoke would).
  int wakeups() const;
  void revoke(const Bytes& contact_id);
  bool listening(const Bytes& contact_id) const;

 private:
  MemoryRelay() = default;
  struct Tunnel {
    std::shared_ptr<MemoryLink> link;
    std::array<uint8_t, 3> routing_id{};
    bool other_end_taken = false;
    bool signal_connection = false;  // contact tunnels: tell the desktop when the phone connects
    int waiting_side = 0;            // the end handed out first (the phone's for /new, the desktop's for contacts)
  };
  struct Contact {
    std::string token;
    bool revoked = false;
    std::shared_ptr<MemoryLink> listener;  // side 0: the phone, side 1: the relay
  };
  std::shared_ptr<MemoryLink> new_link(bool phone_is_side0);

  mutable std::mutex mutex_;
  std::map<TunnelId, Tunnel> tunnels_;
  std::map<Bytes, Contact> contacts_;
  std::map<Kind, int> refusals_;
  FaultPlan from_phone_, from_desktop_;
  std::shared_ptr<MemoryLink> last_;
  int opened_ = 0;
  int wakeups_ = 0;
};

}  // namespace hg::doubles
