// SPDX-License-Identifier: Apache-2.0
// Internal: the relay's client table — what each client (its address prefix, client_addr.hpp)
// and each network (the wider prefix) holds: connections, waiting tunnels, contacts, connections
// before their request, and bytes of the memory budget. The per-client and per-network caps and
// the per-client share of the budget are judged by these counts (docs/relay.md "Per-client caps",
// "Per-network caps", "Memory"). No sockets, timers or configuration beyond the two prefix
// lengths: tested alone (tests/unit/test_relay_parts.cpp). One thread: no locking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace hg::relay {

struct ClientCounts;

// Something listed under a client entry (the relay's WebSocket connections: Endpoint derives
// from it); the table keeps where, so removing it is O(1).
struct ClientMember {
  ClientCounts* client_entry = nullptr;
  size_t client_pos = 0;

 protected:
  ~ClientMember() = default;
};

// What one client (or, in a network entry, all clients of one network) holds. A client entry
// exists only while a count is above 0, a budget charge is bound to it, or a member is listed.
struct ClientCounts {
  size_t connections = 0, waiting = 0, contacts = 0;
  size_t handshaking = 0;  // connections (by TCP peer) whose HTTP request is not complete yet
  size_t buffered = 0;     // bytes of the memory budget charged to this client (not in networks)
  size_t charges = 0;      // budget charges bound to this entry (not in networks)
  std::vector<ClientMember*> members;  // its open WebSocket connections
  size_t holder_pos = SIZE_MAX;        // index in the holders list, or SIZE_MAX
  const std::string* key = nullptr;    // the table's key (a client entry)
  std::string net;                     // its network's key (empty in a network entry)
  bool empty() const {
    return connections == 0 && waiting == 0 && contacts == 0 && handshaking == 0 && charges == 0;
  }
};

class ClientTable {
 public:
  using Field = size_t ClientCounts::*;

  // The network of a client is its address masked to these lengths (at most the client prefix's).
  void set_network_prefixes(int v4, int v6) {
    net_v4_ = v4;
    net_v6_ = v6;
  }
  // The entry of `key`, created (empty) if needed. Entries never move while they exist.
  ClientCounts& entry(const std::string& key);
  ClientCounts* find(const std::string& key);
  // Adjusts one count by delta (+n/-n; never below 0) for the client and, for connections,
  // waiting, contacts and handshaking, for its network too. A decrement erases an entry left
  // empty. count() looks the client up; add() takes it at hand.
  void count(const std::string& key, Field f, int delta);
  void add(ClientCounts& c, Field f, int delta);
  size_t value(const std::string& key, Field f) const;
  // The network key of a client key ("a.b.c.0/24"); the client key itself if it is not a prefix.
  std::string network_key(const std::string& client_key) const;
  size_t network_value(const std::string& client_key, Field f) const;
  size_t network_value(const ClientCounts& client, Field f) const;
  void network_add(const std::string& net, Field f, int delta);
  // Erases the entry if it is empty and lists no member.
  void maybe_erase(ClientCounts& c);
  // Lists m under c / unlists it (and erases its entry if that leaves it empty).
  void attach(ClientCounts& c, ClientMember* m);
  void detach(ClientMember* m);
  // Clients that may hold budget bytes: listed when a charge first grows (holder_add), unlisted
  // when erased; largest_holder() prunes those that hold nothing and returns the one that holds
  // the most (nullptr if none).
  void holder_add(ClientCounts* c);
  void holder_remove(ClientCounts* c);
  ClientCounts* largest_holder();
  size_t clients() const { return clients_.size(); }
  size_t networks() const { return networks_.size(); }

 private:
  std::unordered_map<std::string, ClientCounts> clients_, networks_;
  std::vector<ClientCounts*> holders_;
  int net_v4_ = 24, net_v6_ = 48;
};

}  // namespace hg::relay
