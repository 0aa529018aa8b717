// SPDX-License-Identifier: Apache-2.0
#include "tunnel/server/contacts.hpp"

#include <algorithm>

namespace hg::relay {

bool ContactBook::expired(const Contact& c, Clock::time_point now) const {
  if (!c.listener.expired()) return false;
  const auto ttl = c.used || c.revoked ? settings_.ttl : std::min(settings_.ttl, settings_.unused_ttl);
  return now - c.last_seen >= ttl;
}

Contact* ContactBook::get(const std::string& id) {
  auto it = map_.find(id);
  return it == map_.end() ? nullptr : &it->second;
}

Contact* ContactBook::find(const std::string& id, Clock::time_point now) {
  auto it = map_.find(id);
  if (it == map_.end()) return nullptr;
  if (!expired(it->second, now)) return &it->second;
  if (!it->second.revoked) {
    expire(it, now);
    return &it->second;
  }
  forget(it);
  return nullptr;
}

Contact& ContactBook::add(const std::string& id, Contact c) {
  auto [it, inserted] = map_.try_emplace(id, std::move(c));
  if (!inserted) return it->second;
  if (it->second.revoked) ++revoked_;
  else if (!it->second.owner.empty()) owners_.count(it->second.owner, &ClientCounts::contacts, +1);
  return it->second;
}

bool ContactBook::restore(std::string id, Contact c, Clock::time_point now) {
  if (expired(c, now)) return false;
  add(id, std::move(c));
  return true;
}

void ContactBook::withdraw(const std::string& id) {
  auto it = map_.find(id);
  if (it != map_.end()) erase(it);
}

void ContactBook::erase(Map::iterator it) {
  if (it->second.revoked) --revoked_;
  else if (!it->second.owner.empty()) owners_.count(it->second.owner, &ClientCounts::contacts, -1);
  map_.erase(it);
}

bool ContactBook::revoke(const std::string& id, Clock::time_point now) {
  auto it = map_.find(id);
  if (it == map_.end()) return false;
  Contact& c = it->second;
  c.last_seen = now;
  if (c.revoked) return false;
  c.revoked = true;
  ++revoked_;
  if (!c.owner.empty()) owners_.count(c.owner, &ClientCounts::contacts, -1);  // the cap counts live ones
  return true;
}

// An expired contact is not forgotten at once: it stays, revoked, for another TTL, so desktops
// asking for it learn that it is gone (410) instead of getting "unknown" (404, which they do not
// treat as revoked). Its owner's cap no longer counts it.
void ContactBook::expire(Map::iterator it, Clock::time_point now) {
  Contact& c = it->second;
  c.revoked = true;
  c.last_seen = now;
  ++revoked_;
  if (!c.owner.empty()) owners_.count(c.owner, &ClientCounts::contacts, -1);
  if (on_expired) on_expired(it->first, c);
}

void ContactBook::forget(Map::iterator it) {
  std::string id = it->first;
  erase(it);
  if (on_forgotten) on_forgotten(id);
}

void ContactBook::sweep(Clock::time_point now) {
  for (auto it = map_.begin(); it != map_.end();) {
    auto cur = it++;
    if (!expired(cur->second, now)) continue;
    if (cur->second.revoked) forget(cur);
    else expire(cur, now);
  }
}

bool ContactBook::forget_oldest_revoked() {
  auto oldest = map_.end();
  for (auto it = map_.begin(); it != map_.end(); ++it)
    if (it->second.revoked && (oldest == map_.end() || it->second.last_seen < oldest->second.last_seen)) oldest = it;
  if (oldest == map_.end()) return false;
  forget(oldest);
  return true;
}

bool ContactBook::make_room(Clock::time_point now) {
  if (map_.size() >= settings_.max_contacts) sweep(now);
  if (map_.size() >= settings_.max_contacts) forget_oldest_revoked();
  return map_.size() < settings_.max_contacts;
}

}  // namespace hg::relay
