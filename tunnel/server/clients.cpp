// SPDX-License-Identifier: Apache-2.0
#include "tunnel/server/clients.hpp"

#include <algorithm>

#include "tunnel/server/client_addr.hpp"

namespace hg::relay {

ClientCounts& ClientTable::entry(const std::string& key) {
  auto [it, added] = clients_.try_emplace(key);
  if (added) {
    it->second.key = &it->first;
    it->second.net = network_key(key);
  }
  return it->second;
}

ClientCounts* ClientTable::find(const std::string& key) {
  auto it = clients_.find(key);
  return it == clients_.end() ? nullptr : &it->second;
}

void ClientTable::count(const std::string& key, Field f, int delta) {
  if (delta > 0) return add(entry(key), f, delta);
  auto it = clients_.find(key);
  if (it == clients_.end()) return;
  add(it->second, f, delta);
}

void ClientTable::add(ClientCounts& c, Field f, int delta) {
  if (delta > 0) {
    c.*f += static_cast<size_t>(delta);
    network_add(c.net, f, delta);
    return;
  }
  const size_t d = std::min(c.*f, static_cast<size_t>(-delta));
  c.*f -= d;
  network_add(c.net, f, -static_cast<int>(d));
  maybe_erase(c);
}

size_t ClientTable::value(const std::string& key, Field f) const {
  auto it = clients_.find(key);
  return it == clients_.end() ? 0 : it->second.*f;
}

std::string ClientTable::network_key(const std::string& client_key) const {
  auto p = parse_prefix(client_key);
  if (!p) return client_key;
  return prefix_key(p->addr, std::min(net_v4_, p->addr.v6 ? 32 : p->len), std::min(net_v6_, p->addr.v6 ? p->len : 128));
}

size_t ClientTable::network_value(const std::string& client_key, Field f) const {
  auto c = clients_.find(client_key);
  auto it = networks_.find(c != clients_.end() ? c->second.net : network_key(client_key));
  return it == networks_.end() ? 0 : it->second.*f;
}

size_t ClientTable::network_value(const ClientCounts& client, Field f) const {
  auto it = networks_.find(client.net);
  return it == networks_.end() ? 0 : it->second.*f;
}

void ClientTable::network_add(const std::string& net, Field f, int delta) {
  if (net.empty() || delta == 0) return;
  if (f != &ClientCounts::connections && f != &ClientCounts::waiting && f != &ClientCounts::contacts &&
      f != &ClientCounts::handshaking)
    return;
  if (delta > 0) {
    networks_[net].*f += static_cast<size_t>(delta);
    return;
  }
  auto it = networks_.find(net);
  if (it == networks_.end()) return;
  auto& n = it->second;
  n.*f -= std::min(n.*f, static_cast<size_t>(-delta));
  if (n.connections == 0 && n.waiting == 0 && n.contacts == 0 && n.handshaking == 0) networks_.erase(it);
}

void ClientTable::maybe_erase(ClientCounts& c) {
  if (!c.empty() || !c.members.empty()) return;
  holder_remove(&c);
  clients_.erase(*c.key);
}

void ClientTable::attach(ClientCounts& c, ClientMember* m) {
  m->client_entry = &c;
  m->client_pos = c.members.size();
  c.members.push_back(m);
}

void ClientTable::detach(ClientMember* m) {
  ClientCounts* c = m->client_entry;
  if (!c) return;
  auto& v = c->members;
  v[m->client_pos] = v.back();
  v[m->client_pos]->client_pos = m->client_pos;
  v.pop_back();
  m->client_entry = nullptr;
  maybe_erase(*c);
}

void ClientTable::holder_add(ClientCounts* c) {
  if (c->holder_pos != SIZE_MAX) return;
  c->holder_pos = holders_.size();
  holders_.push_back(c);
}

void ClientTable::holder_remove(ClientCounts* c) {
  if (c->holder_pos == SIZE_MAX) return;
  const size_t i = c->holder_pos;
  holders_[i] = holders_.back();
  holders_[i]->holder_pos = i;
  holders_.pop_back();
  c->holder_pos = SIZE_MAX;
}

ClientCounts* ClientTable::largest_holder() {
  ClientCounts* top = nullptr;
  for (size_t i = 0; i < holders_.size();) {
    ClientCounts* h = holders_[i];
    if (h->buffered == 0) {
      holder_remove(h);  // swaps the last one in at i
      continue;
    }
    if (!top || h->buffered > top->buffered) top = h;
    ++i;
  }
  return top;
}

}  // namespace hg::relay
