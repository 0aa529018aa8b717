// SPDX-License-Identifier: Apache-2.0
// Internal: the relay's contact book — linked phones' contact IDs (docs/linking.md): each one's
// token hash, revoked flag and current listen connection, the per-owner count of live contacts
// (in the client table: the per-client and per-network contact caps count live ones only), the
// TTLs that expire a contact and the bounded table's room. No sockets, timers, store or logs: time
// comes in as `now`, and the relay (Core) persists, logs and sets its gauges from the two events
// and the counts. Tested alone (tests/unit/test_relay_parts.cpp). One thread: no locking.
//
// A contact's life: registered (live) -> revoked (by its phone, or expired: no listener for its
// TTL) -> forgotten another TTL later. A revoked contact is answered 410 (desktops drop the link);
// a forgotten or never registered one is unknown: 404 (desktops keep the link).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "tunnel/server/clients.hpp"

namespace hg::relay {

using Clock = std::chrono::steady_clock;

// A phone's listen connection (/cable/listen), as the contact book sees it.
class Listener {
 public:
  virtual ~Listener() = default;
  virtual void send_text(std::string text) = 0;                 // one text message (a wake-up)
  virtual void close(uint16_t code, const char* reason) = 0;    // idempotent
};

struct Contact {
  std::array<uint8_t, 32> token_hash{};
  bool revoked = false;
  std::weak_ptr<Listener> listener;   // the current listen connection, if any
  const Listener* listener_id = nullptr;
  Clock::time_point last_seen{};      // last time a listener was attached (or detached)
  std::string owner;                  // client key that registered it (per-client cap)
  bool attached_stored = false;       // the store says a listener is attached
  bool used = false;                  // a desktop contacted it (else the unused TTL applies)
};

// --contact-ttl, --unused-contact-ttl (capped by the first) and --max-contacts.
struct ContactSettings {
  Clock::duration ttl = std::chrono::hours(30 * 24);
  Clock::duration unused_ttl = std::chrono::hours(7 * 24);
  size_t max_contacts = 100000;
};

class ContactBook {
 public:
  using Map = std::unordered_map<std::string, Contact>;  // key: contact ID bytes

  // Live contacts are counted under their owner in `owners` (ClientCounts::contacts).
  explicit ContactBook(ClientTable& owners) : owners_(owners) {}
  ContactBook(const ContactBook&) = delete;
  ContactBook& operator=(const ContactBook&) = delete;

  void configure(const ContactSettings& s) { settings_ = s; }
  const ContactSettings& settings() const { return settings_; }

  // What the book did on its own, for the relay to write down (store) and log. Called after the
  // change, with the book consistent; a handler must not change the book.
  // expired: a live contact reached its TTL and is revoked now (last_seen = now).
  std::function<void(const std::string& id, const Contact& c)> on_expired;
  // forgotten: a revoked contact was erased (it is unknown from now on).
  std::function<void(const std::string& id)> on_forgotten;

  // A contact without a listener for its TTL (the unused TTL if no desktop contacted it and it is
  // live) has expired at `now`.
  bool expired(const Contact& c, Clock::time_point now) const;

  // The contact, nullptr if unknown. An expired live one turns revoked (and is returned); an
  // expired revoked one is forgotten (nullptr).
  Contact* find(const std::string& id, Clock::time_point now);
  // The contact as it is, without the TTL check (a listener's own events), nullptr if unknown.
  Contact* get(const std::string& id);

  // A new registration, counted under c.owner while it is live. An ID already in the book keeps
  // its contact (returned).
  Contact& add(const std::string& id, Contact c);
  // A contact read back from the store; false (not added) if it expired at `now`.
  bool restore(std::string id, Contact c, Clock::time_point now);
  // A registration that could not be made durable: gone without an event, as if never added.
  void withdraw(const std::string& id);
  // Revokes a live contact (uncounted from its owner) and sets last_seen = now. False if the ID is
  // unknown or was revoked already (last_seen is set either way if known).
  bool revoke(const std::string& id, Clock::time_point now);

  // Expires (live) and forgets (revoked) every contact whose TTL is over at `now`.
  void sweep(Clock::time_point now);
  // Forgets the revoked contact seen longest ago; false if none is revoked.
  bool forget_oldest_revoked();
  // Room for one more contact: when the table is full, sweeps, then forgets the oldest revoked
  // one (its desktops then get 404, which keeps their link, instead of 410). False if still full.
  bool make_room(Clock::time_point now);

  size_t size() const { return map_.size(); }
  size_t revoked() const { return revoked_; }
  size_t live() const { return map_.size() - revoked_; }
  const Map& all() const { return map_; }

 private:
  void expire(Map::iterator it, Clock::time_point now);
  void forget(Map::iterator it);
  void erase(Map::iterator it);

  ClientTable& owners_;
  ContactSettings settings_;
  Map map_;
  size_t revoked_ = 0;
};

}  // namespace hg::relay
