// SPDX-License-Identifier: Apache-2.0
// Internal: the relay's tunnel registry — tunnels by ID from the first side's admission until the
// tunnel ends (Core::unregister). Knows nothing about sockets or what a tunnel is (the relay
// keeps its Tunnel objects here; tests/unit/test_relay_parts.cpp keeps stand-ins). One thread: no
// locking.
#pragma once

#include <cstddef>
#include <memory>
#include <unordered_map>
#include <vector>

#include "proto/derive.hpp"

namespace hg::relay {

// Hashes tunnel IDs with a per-process random salt, so clients cannot pick IDs that collide.
struct TunnelIdHash {
  size_t operator()(const TunnelId& id) const noexcept;
};

template <class T>
class TunnelRegistry {
 public:
  bool contains(const TunnelId& id) const { return map_.count(id) != 0; }
  // The tunnel registered under id, or nullptr.
  std::shared_ptr<T> find(const TunnelId& id) const {
    auto it = map_.find(id);
    return it == map_.end() ? nullptr : it->second;
  }
  // Registers t under id; false (and nothing changes) if the ID is taken.
  bool add(const TunnelId& id, std::shared_ptr<T> t) { return map_.try_emplace(id, std::move(t)).second; }
  // Unregisters id only if `t` is the tunnel registered under it (a newer tunnel may hold the ID).
  void remove(const TunnelId& id, const T* t) {
    auto it = map_.find(id);
    if (it != map_.end() && it->second.get() == t) map_.erase(it);
  }
  // Every registered tunnel (a copy: ending one unregisters it while the caller iterates).
  std::vector<std::shared_ptr<T>> snapshot() const {
    std::vector<std::shared_ptr<T>> all;
    all.reserve(map_.size());
    for (auto& [id, t] : map_) all.push_back(t);
    return all;
  }
  // Drops every registration (the relay at exit: the tunnels' timers go before the io_context).
  void clear() { map_.clear(); }
  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

 private:
  std::unordered_map<TunnelId, std::shared_ptr<T>, TunnelIdHash> map_;
};

}  // namespace hg::relay
