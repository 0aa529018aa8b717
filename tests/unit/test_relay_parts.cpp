// SPDX-License-Identifier: Apache-2.0
// The relay's parts tested alone (issue 23): the client table (tunnel/server/clients.hpp), which
// the per-client and per-network caps and the memory shares are judged by, the tunnel registry
// (tunnel/server/tunnels.hpp), the contact book (contacts.hpp) and admission (admission.hpp). The
// expected values follow from the documented rules (docs/relay.md "Per-client caps", "Per-network
// caps", "Memory"; docs/linking.md for contacts), not from running the code.
#include <catch2/catch.hpp>

#include "tunnel/server/admission.hpp"
#include "tunnel/server/clients.hpp"
#include "tunnel/server/contacts.hpp"
#include "tunnel/server/tunnels.hpp"

using hg::relay::ClientCounts;
using hg::relay::ClientMember;
using hg::relay::ClientTable;
using hg::relay::TunnelIdHash;
using hg::relay::TunnelRegistry;

namespace {
struct Member : ClientMember {};
}  // namespace

TEST_CASE("a client entry lives while it counts something and goes when every count is back to 0") {
  ClientTable t;
  t.count("192.0.2.1/32", &ClientCounts::connections, +1);
  t.count("192.0.2.1/32", &ClientCounts::waiting, +1);
  CHECK(t.clients() == 1);
  CHECK(t.value("192.0.2.1/32", &ClientCounts::connections) == 1);
  t.count("192.0.2.1/32", &ClientCounts::connections, -1);
  CHECK(t.clients() == 1);  // still waiting
  t.count("192.0.2.1/32", &ClientCounts::waiting, -5);  // never below 0
  CHECK(t.clients() == 0);
  CHECK(t.value("192.0.2.1/32", &ClientCounts::waiting) == 0);
  t.count("192.0.2.9/32", &ClientCounts::contacts, -1);  // unknown: nothing created
  CHECK(t.clients() == 0);
}

TEST_CASE("networks add up their clients at the wider prefix, v4 /24 and v6 /48 by default") {
  ClientTable t;
  t.count("192.0.2.1/32", &ClientCounts::connections, +2);
  t.count("192.0.2.77/32", &ClientCounts::connections, +1);
  t.count("198.51.100.1/32", &ClientCounts::connections, +1);
  t.count("2001:db8:1:2::/64", &ClientCounts::contacts, +1);
  t.count("2001:db8:1:ffff::/64", &ClientCounts::contacts, +1);
  CHECK(t.network_key("192.0.2.77/32") == "192.0.2.0/24");
  CHECK(t.network_key("2001:db8:1:ffff::/64") == "2001:db8:1::/48");
  CHECK(t.network_value("192.0.2.200/32", &ClientCounts::connections) == 3);  // a client not in the table yet
  CHECK(t.network_value("198.51.100.9/32", &ClientCounts::connections) == 1);
  CHECK(t.network_value("2001:db8:1:2::/64", &ClientCounts::contacts) == 2);
  CHECK(t.networks() == 3);
  // Budget bytes are the client's own share: not added up per network.
  t.entry("192.0.2.1/32").buffered = 1000;
  CHECK(t.network_value("192.0.2.1/32", &ClientCounts::buffered) == 0);
  t.count("192.0.2.1/32", &ClientCounts::connections, -2);
  t.count("192.0.2.77/32", &ClientCounts::connections, -1);
  CHECK(t.network_value("192.0.2.1/32", &ClientCounts::connections) == 0);
  CHECK(t.networks() == 2);
}

TEST_CASE("a narrower network prefix groups more clients together") {
  ClientTable t;
  t.set_network_prefixes(16, 32);
  t.count("192.0.2.1/32", &ClientCounts::waiting, +1);
  t.count("192.0.99.1/32", &ClientCounts::waiting, +1);
  CHECK(t.network_key("192.0.99.1/32") == "192.0.0.0/16");
  CHECK(t.network_value("192.0.200.200/32", &ClientCounts::waiting) == 2);
  CHECK(t.network_key("2001:db8:1:2::/64") == "2001:db8::/32");
}

TEST_CASE("a listed member keeps its client entry, and unlisting the last one lets it go") {
  ClientTable t;
  Member a, b;
  auto& c = t.entry("192.0.2.1/32");
  t.attach(c, &a);
  t.attach(c, &b);
  CHECK(a.client_entry == &c);
  CHECK(c.members.size() == 2);
  t.maybe_erase(c);
  CHECK(t.clients() == 1);  // members listed: kept
  t.detach(&a);
  CHECK(a.client_entry == nullptr);
  REQUIRE(t.find("192.0.2.1/32") != nullptr);
  CHECK(b.client_pos == 0);  // moved into the freed slot
  t.detach(&b);
  CHECK(t.find("192.0.2.1/32") == nullptr);
  t.detach(&b);  // unlisted already: nothing happens
}

TEST_CASE("the largest holder of budget bytes is found and those holding nothing are dropped from the list") {
  ClientTable t;
  CHECK(t.largest_holder() == nullptr);
  auto& a = t.entry("192.0.2.1/32");
  auto& b = t.entry("192.0.2.2/32");
  auto& c = t.entry("198.51.100.3/32");
  for (auto* e : {&a, &b, &c}) {
    ++e->charges;  // a charge keeps the entry
    t.holder_add(e);
  }
  t.holder_add(&a);  // listed once
  a.buffered = 100;
  b.buffered = 5000;
  c.buffered = 0;
  CHECK(t.largest_holder() == &b);
  CHECK(c.holder_pos == SIZE_MAX);  // pruned: holds nothing
  b.buffered = 0;
  CHECK(t.largest_holder() == &a);
  --b.charges;
  t.maybe_erase(b);  // an erased entry leaves the list too
  CHECK(t.find("192.0.2.2/32") == nullptr);
  a.buffered = 0;
  CHECK(t.largest_holder() == nullptr);
}

namespace {
struct FakeTunnel {
  int n = 0;
};
hg::TunnelId tid(uint8_t b) {
  hg::TunnelId id{};
  id.fill(b);
  return id;
}
}  // namespace

TEST_CASE("the tunnel registry holds one tunnel per ID and unregisters only the tunnel it holds") {
  TunnelRegistry<FakeTunnel> r;
  auto a = std::make_shared<FakeTunnel>(FakeTunnel{1});
  auto b = std::make_shared<FakeTunnel>(FakeTunnel{2});
  CHECK(r.empty());
  CHECK(r.add(tid(1), a));
  CHECK_FALSE(r.add(tid(1), b));  // the ID is taken: the first stays
  CHECK(r.find(tid(1)) == a);
  CHECK(r.find(tid(2)) == nullptr);
  CHECK(r.contains(tid(1)));
  r.remove(tid(1), b.get());  // not the one registered: nothing happens
  CHECK(r.find(tid(1)) == a);
  CHECK(r.add(tid(2), b));
  CHECK(r.size() == 2);
  auto all = r.snapshot();
  CHECK(all.size() == 2);
  r.remove(tid(1), a.get());
  CHECK_FALSE(r.contains(tid(1)));
  CHECK(all.size() == 2);  // a snapshot is a copy
  CHECK(a.use_count() == 2);  // held by the snapshot and here, no longer by the registry
}

TEST_CASE("tunnel ID hashes depend on the whole ID") {
  TunnelIdHash h;
  hg::TunnelId x{}, y{};
  y[15] = 1;
  CHECK(h(x) == h(x));
  CHECK(h(x) != h(y));
}

// ---------------------------------------------------------------------------------------------
// The contact book (tunnel/server/contacts.hpp): docs/linking.md's contact lifetime.

namespace {
using hg::relay::Contact;
using hg::relay::ContactBook;
using hg::relay::ContactSettings;
using Clock = hg::relay::Clock;
using std::chrono::seconds;

struct FakeListener : hg::relay::Listener {
  void send_text(std::string) override {}
  void close(uint16_t, const char*) override {}
};

const Clock::time_point t0 = Clock::time_point{} + std::chrono::hours(1000);

ContactSettings book_settings(size_t max_contacts = 100) {
  ContactSettings s;
  s.ttl = seconds(100);
  s.unused_ttl = seconds(10);
  s.max_contacts = max_contacts;
  return s;
}

Contact contact(const std::string& owner, Clock::time_point seen, bool used = true) {
  Contact c;
  c.owner = owner;
  c.last_seen = seen;
  c.used = used;
  c.token_hash.fill(0x5a);
  return c;
}

// Records the book's events, as the relay would write them to its store.
struct Events {
  std::vector<std::string> expired, forgotten;
  explicit Events(ContactBook& b) {
    b.on_expired = [this](const std::string& id, const Contact& c) {
      CHECK(c.revoked);  // the event comes after the change
      expired.push_back(id);
    };
    b.on_forgotten = [this](const std::string& id) { forgotten.push_back(id); };
  }
};

constexpr auto kContacts = &ClientCounts::contacts;
}  // namespace

TEST_CASE("a registered contact is found, an unknown one is not and is never taken for revoked") {
  ClientTable owners;
  ContactBook book(owners);
  book.configure(book_settings());
  Events ev(book);
  book.add("A", contact("192.0.2.1/32", t0));
  Contact* a = book.find("A", t0 + seconds(5));
  REQUIRE(a != nullptr);
  CHECK_FALSE(a->revoked);
  CHECK(a->token_hash[0] == 0x5a);
  CHECK(book.find("B", t0) == nullptr);  // 404, not 410
  CHECK(book.get("B") == nullptr);
  CHECK(book.revoked() == 0);
  CHECK_FALSE(book.revoke("B", t0));  // unknown: nothing to revoke, nothing created
  CHECK(book.size() == 1);
  CHECK(ev.expired.empty());
  CHECK(ev.forgotten.empty());
}

TEST_CASE("a contact without a listener turns revoked at its TTL and is forgotten another TTL later") {
  ClientTable owners;
  ContactBook book(owners);
  book.configure(book_settings());
  Events ev(book);
  book.add("A", contact("192.0.2.1/32", t0));
  CHECK(owners.value("192.0.2.1/32", kContacts) == 1);
  REQUIRE(book.find("A", t0 + seconds(99)) != nullptr);
  CHECK_FALSE(book.get("A")->revoked);
  // At the TTL: revoked (a desktop gets 410 and drops the link), no longer counted by its owner.
  Contact* a = book.find("A", t0 + seconds(100));
  REQUIRE(a != nullptr);
  CHECK(a->revoked);
  CHECK(a->last_seen == t0 + seconds(100));
  CHECK(ev.expired == std::vector<std::string>{"A"});
  CHECK(owners.value("192.0.2.1/32", kContacts) == 0);
  CHECK(book.live() == 0);
  CHECK(book.revoked() == 1);
  // Another TTL from the expiry: forgotten (unknown from then on: 404).
  CHECK(book.find("A", t0 + seconds(199)) != nullptr);
  CHECK(book.find("A", t0 + seconds(200)) == nullptr);
  CHECK(ev.forgotten == std::vector<std::string>{"A"});
  CHECK(book.size() == 0);
  CHECK(book.revoked() == 0);
  CHECK(ev.expired.size() == 1);  // expired once only
}

TEST_CASE("an unused contact expires at the unused TTL, a used one at the full TTL, a listening one never") {
  ClientTable owners;
  ContactBook book(owners);
  book.configure(book_settings());
  book.add("unused", contact("192.0.2.1/32", t0, false));
  book.add("used", contact("192.0.2.1/32", t0, true));
  book.add("listening", contact("192.0.2.1/32", t0, false));
  auto l = std::make_shared<FakeListener>();
  book.get("listening")->listener = l;
  const auto at = t0 + seconds(10);
  CHECK(book.expired(*book.get("unused"), at));
  CHECK_FALSE(book.expired(*book.get("unused"), at - seconds(1)));
  CHECK_FALSE(book.expired(*book.get("used"), at));
  CHECK(book.expired(*book.get("used"), t0 + seconds(100)));
  CHECK_FALSE(book.expired(*book.get("listening"), t0 + seconds(1000)));
  l.reset();  // the listener went away: its TTL counts from last_seen again
  CHECK(book.expired(*book.get("listening"), t0 + seconds(1000)));
  // The unused TTL is capped by the full one.
  auto s = book_settings();
  s.unused_ttl = seconds(500);
  book.configure(s);
  CHECK(book.expired(*book.get("unused"), t0 + seconds(100)));
  CHECK_FALSE(book.expired(*book.get("unused"), t0 + seconds(99)));
}

TEST_CASE("the per-owner contact count covers live contacts only, per client and per network") {
  ClientTable owners;
  ContactBook book(owners);
  book.configure(book_settings());
  book.add("A", contact("192.0.2.1/32", t0));
  book.add("B", contact("192.0.2.1/32", t0));
  book.add("C", contact("192.0.2.7/32", t0));
  CHECK(owners.value("192.0.2.1/32", kContacts) == 2);
  CHECK(owners.network_value("192.0.2.1/32", kContacts) == 3);
  CHECK(book.revoke("A", t0 + seconds(1)));
  CHECK_FALSE(book.revoke("A", t0 + seconds(2)));  // once
  CHECK(book.get("A")->last_seen == t0 + seconds(2));
  CHECK(owners.value("192.0.2.1/32", kContacts) == 1);
  CHECK(owners.network_value("192.0.2.1/32", kContacts) == 2);
  CHECK(book.live() == 2);
  CHECK(book.revoked() == 1);
  // Forgetting a revoked contact leaves the counts; withdrawing a live one drops it.
  CHECK(book.forget_oldest_revoked());
  CHECK(owners.value("192.0.2.1/32", kContacts) == 1);
  book.withdraw("B");
  CHECK(owners.find("192.0.2.1/32") == nullptr);  // nothing left: the entry goes
  CHECK(owners.network_value("192.0.2.1/32", kContacts) == 1);
  // Read back from the store: a revoked contact is not counted, a live one is.
  Contact revoked = contact("198.51.100.1/32", t0);
  revoked.revoked = true;
  CHECK(book.restore("R", revoked, t0));
  CHECK(book.restore("L", contact("198.51.100.1/32", t0), t0));
  CHECK(owners.value("198.51.100.1/32", kContacts) == 1);
  CHECK(book.revoked() == 1);
  // An ID already in the book keeps its contact and is not counted twice.
  book.add("L", contact("198.51.100.1/32", t0));
  CHECK(owners.value("198.51.100.1/32", kContacts) == 1);
}

TEST_CASE("a contact read back after its TTL is not restored") {
  ClientTable owners;
  ContactBook book(owners);
  book.configure(book_settings());
  CHECK_FALSE(book.restore("old", contact("192.0.2.1/32", t0), t0 + seconds(100)));
  CHECK_FALSE(book.restore("unused", contact("192.0.2.1/32", t0, false), t0 + seconds(10)));
  CHECK(book.size() == 0);
  CHECK(owners.clients() == 0);
}

TEST_CASE("forget_oldest_revoked forgets the revoked contact seen longest ago, never a live one") {
  ClientTable owners;
  ContactBook book(owners);
  book.configure(book_settings());
  Events ev(book);
  book.add("live-oldest", contact("192.0.2.1/32", t0 - seconds(50)));
  book.add("r1", contact("192.0.2.1/32", t0));
  book.add("r2", contact("192.0.2.1/32", t0));
  book.add("r3", contact("192.0.2.1/32", t0));
  book.revoke("r2", t0 + seconds(3));
  book.revoke("r1", t0 + seconds(5));
  CHECK(book.forget_oldest_revoked());
  CHECK(ev.forgotten == std::vector<std::string>{"r2"});
  CHECK(book.forget_oldest_revoked());
  CHECK(ev.forgotten == std::vector<std::string>{"r2", "r1"});
  CHECK_FALSE(book.forget_oldest_revoked());  // only live ones left
  CHECK(book.size() == 2);
  CHECK(book.get("live-oldest") != nullptr);
}

TEST_CASE("a sweep expires live contacts and forgets revoked ones whose TTL is over, and keeps the rest") {
  ClientTable owners;
  ContactBook book(owners);
  book.configure(book_settings());
  Events ev(book);
  book.add("stale", contact("192.0.2.1/32", t0));
  book.add("fresh", contact("192.0.2.1/32", t0 + seconds(50)));
  book.add("gone", contact("192.0.2.1/32", t0));
  book.revoke("gone", t0);
  book.add("recent-revoked", contact("192.0.2.1/32", t0));
  book.revoke("recent-revoked", t0 + seconds(60));
  book.sweep(t0 + seconds(100));
  CHECK(ev.expired == std::vector<std::string>{"stale"});
  CHECK(ev.forgotten == std::vector<std::string>{"gone"});
  CHECK(book.get("stale")->revoked);
  CHECK_FALSE(book.get("fresh")->revoked);
  CHECK(book.get("recent-revoked") != nullptr);
  CHECK(book.size() == 3);
  CHECK(book.live() == 1);
  CHECK(owners.value("192.0.2.1/32", kContacts) == 1);
}

TEST_CASE("when the book is full, making room sweeps, then forgets the oldest revoked, else says no") {
  ClientTable owners;
  ContactBook book(owners);
  book.configure(book_settings(2));
  Events ev(book);
  CHECK(book.make_room(t0));
  book.add("A", contact("192.0.2.1/32", t0));
  book.add("B", contact("192.0.2.1/32", t0));
  CHECK_FALSE(book.make_room(t0 + seconds(1)));  // both live: full
  CHECK(book.size() == 2);
  // A revoked contact gives up its slot (its desktops then get 404 instead of 410).
  book.revoke("A", t0 + seconds(2));
  CHECK(book.make_room(t0 + seconds(3)));
  CHECK(ev.forgotten == std::vector<std::string>{"A"});
  // A live contact past its TTL is only expired by the sweep (kept, revoked), then forgotten.
  book.add("C", contact("192.0.2.1/32", t0));
  CHECK(book.make_room(t0 + seconds(100)));
  CHECK(ev.expired.size() == 2);  // B and C
  CHECK(book.size() == 1);
  CHECK(book.revoked() == 1);
}

// ---------------------------------------------------------------------------------------------
// Admission (tunnel/server/admission.hpp): docs/relay.md "Limits", "Per-client caps",
// "Per-network caps"; docs/linking.md.

namespace {
using hg::relay::AdmissionLimits;
using hg::relay::ContactFacts;
using hg::relay::ContactLookup;
using hg::relay::JoinFacts;
using hg::relay::ListenFacts;
using hg::relay::NewTunnelFacts;
using hg::relay::PathKind;
using hg::relay::RateVerdict;
using hg::relay::Verdict;

// A rate limiter stand-in that counts the tokens asked for.
struct Rate {
  RateVerdict answer = RateVerdict::allowed;
  int asked = 0;
  hg::relay::RateCheck check() {
    return [this] {
      ++asked;
      return answer;
    };
  }
};

bool refused(const Verdict& v, int status, std::string_view reason, const char* limit = nullptr) {
  const bool limit_ok = limit ? v.limit && std::string_view(v.limit) == limit : v.limit == nullptr;
  if (v.status == status && std::string_view(v.reason) == reason && limit_ok) return true;
  UNSCOPED_INFO("got " << v.status << " " << v.reason << " limit " << (v.limit ? v.limit : "-"));
  return false;
}

AdmissionLimits small_limits() {
  AdmissionLimits l;
  l.max_waiting_tunnels = 10;
  l.max_waiting_per_client = 2;
  l.max_waiting_per_network = 3;
  l.max_contacts_per_client = 2;
  l.max_contacts_per_network = 3;
  l.max_webhook_in_flight = 1;
  return l;
}

NewTunnelFacts new_tunnel(Rate& rate) {
  NewTunnelFacts f;
  f.is_upgrade = f.offers_fido_cable = true;
  f.rate = rate.check();
  return f;
}
}  // namespace

TEST_CASE("admission: the method, then the path") {
  CHECK(refused(hg::relay::judge_path(false, PathKind::new_tunnel), 405, "method_not_allowed"));
  CHECK(refused(hg::relay::judge_path(false, PathKind::unknown), 405, "method_not_allowed"));
  CHECK(refused(hg::relay::judge_path(true, PathKind::unknown), 404, "unknown_path"));
  CHECK(hg::relay::judge_path(true, PathKind::listen).accepted());
}

TEST_CASE("admission: a new tunnel is refused at each cap with its status, reason and limit") {
  const auto l = small_limits();
  Rate rate;
  auto f = new_tunnel(rate);
  CHECK(judge(f, l).accepted());
  f.is_upgrade = false;
  CHECK(refused(judge(f, l), 400, "not_websocket"));
  f.is_upgrade = true;
  f.offers_fido_cable = false;
  CHECK(refused(judge(f, l), 400, "no_fido_cable_subprotocol"));
  f = new_tunnel(rate);
  f.waiting = {10, 0, 0};
  CHECK(refused(judge(f, l), 503, "max_waiting_tunnels", "max_waiting_tunnels"));
  f.waiting = {9, 2, 2};
  CHECK(refused(judge(f, l), 503, "client_waiting_tunnels", "client_waiting_tunnels"));
  f.waiting = {9, 1, 3};
  CHECK(refused(judge(f, l), 503, "network_waiting_tunnels", "network_waiting_tunnels"));
  f.waiting = {9, 1, 2};
  CHECK(judge(f, l).accepted());
  // An ID in use: 409 (not a limit), judged before the client's caps.
  f.waiting = {0, 2, 0};
  f.tunnel_exists = true;
  CHECK(refused(judge(f, l), 409, "tunnel_exists"));
  // A per-network cap of 0 is no cap.
  auto no_net = l;
  no_net.max_waiting_per_network = 0;
  f = new_tunnel(rate);
  f.waiting = {0, 0, 100000};
  CHECK(judge(f, no_net).accepted());
}

TEST_CASE("admission: over the rate is 429, a full rate table fails closed with 503") {
  const auto l = small_limits();
  Rate rate;
  auto f = new_tunnel(rate);
  rate.answer = RateVerdict::limited;
  CHECK(refused(judge(f, l), 429, "rate_limited", "rate_new"));
  rate.answer = RateVerdict::table_full;
  CHECK(refused(judge(f, l), 503, "rate_table_full", "rate_table_full"));
  JoinFacts j;
  j.is_upgrade = j.offers_fido_cable = j.routing_id_matches = j.tunnel_found = true;
  j.rate = rate.check();
  rate.answer = RateVerdict::limited;
  CHECK(refused(judge(j, l), 429, "rate_limited", "rate_connect"));
  ListenFacts r;
  r.is_upgrade = r.offers_fido_cable = r.token_ok = true;
  r.id = ListenFacts::Id::ok;
  r.rate = rate.check();
  CHECK(refused(judge(r, l), 429, "rate_limited", "rate_reattach"));
}

TEST_CASE("admission: a draining relay refuses new tunnels before taking a rate token, and still lets a desktop join") {
  const auto l = small_limits();
  Rate rate;
  auto f = new_tunnel(rate);
  f.draining = true;
  CHECK(refused(judge(f, l), 503, "draining"));
  CHECK(rate.asked == 0);
  JoinFacts j;
  j.is_upgrade = j.offers_fido_cable = j.routing_id_matches = true;
  j.draining = true;
  j.rate = rate.check();
  j.tunnel_found = true;  // a phone waits for this desktop
  CHECK(judge(j, l).accepted());
  j.tunnel_found = false;
  CHECK(refused(judge(j, l), 503, "draining"));
  j.draining = false;
  CHECK(refused(judge(j, l), 404, "unknown_tunnel"));
  ContactFacts c;
  c.is_upgrade = c.offers_fido_cable = c.draining = true;
  c.rate = rate.check();
  CHECK(refused(judge(c, l), 503, "draining"));
  ListenFacts r;
  r.is_upgrade = r.offers_fido_cable = r.token_ok = r.draining = true;
  r.rate = rate.check();
  CHECK(refused(judge(r, l), 503, "draining"));
  CHECK(rate.asked == 3);  // the joins only
}

TEST_CASE("admission: joining a tunnel checks the routing ID before the rate, then the tunnel") {
  const auto l = small_limits();
  Rate rate;
  JoinFacts j;
  j.is_upgrade = j.offers_fido_cable = true;
  j.rate = rate.check();
  j.tunnel_found = true;
  CHECK(refused(judge(j, l), 404, "wrong_routing_id"));
  CHECK(rate.asked == 0);
  j.routing_id_matches = true;
  j.second_side_claimed = true;
  CHECK(refused(judge(j, l), 409, "tunnel_in_use"));
  CHECK(rate.asked == 1);
}

TEST_CASE("admission: when one /24 is full of waiting tunnels, another /24 still gets in") {
  // The counts come from the client table the relay keeps, as Core::waiting_counts reads them.
  const auto l = small_limits();  // 3 waiting per network, 2 per client
  ClientTable t;
  t.count("192.0.2.1/32", &ClientCounts::waiting, +2);
  t.count("192.0.2.2/32", &ClientCounts::waiting, +1);
  auto facts = [&](const std::string& client) {
    NewTunnelFacts f;
    f.is_upgrade = f.offers_fido_cable = true;  // no rate check
    f.waiting = {3, t.value(client, &ClientCounts::waiting), t.network_value(client, &ClientCounts::waiting)};
    return f;
  };
  CHECK(refused(judge(facts("192.0.2.1/32"), l), 503, "client_waiting_tunnels", "client_waiting_tunnels"));
  CHECK(refused(judge(facts("192.0.2.3/32"), l), 503, "network_waiting_tunnels", "network_waiting_tunnels"));
  CHECK(judge(facts("198.51.100.3/32"), l).accepted());
  t.count("192.0.2.2/32", &ClientCounts::waiting, -1);  // one of that /24's tunnels paired
  CHECK(judge(facts("192.0.2.3/32"), l).accepted());
}

TEST_CASE("admission: waking a contact: revoked 410, unknown 404, unreachable 503, webhook busy") {
  const auto l = small_limits();
  Rate rate;
  ContactLookup found;
  int lookups = 0;
  ContactFacts f;
  f.is_upgrade = f.offers_fido_cable = true;
  f.rate = rate.check();
  f.lookup = [&] {
    ++lookups;
    return found;
  };
  CHECK(refused(judge(f, l), 400, "bad_client_payload"));
  CHECK(lookups == 0);  // a bad request never touches the book (a lookup may expire a contact)
  f.payload_ok = true;
  CHECK(refused(judge(f, l), 404, "unknown_contact"));  // desktops keep their link
  found.known = true;
  CHECK(refused(judge(f, l), 503, "contact_unreachable"));  // known, no listener, no webhook
  found.revoked = true;
  f.has_webhook = true;
  CHECK(refused(judge(f, l), 410, "contact_revoked"));
  found.revoked = false;
  CHECK(judge(f, l).accepted());  // woken through the webhook
  f.webhook_in_flight = 1;
  CHECK(refused(judge(f, l), 503, "webhook_busy", "webhook_in_flight"));
  found.listening = true;  // a listener needs no webhook
  CHECK(judge(f, l).accepted());
  f.waiting = {0, 2, 0};
  CHECK(refused(judge(f, l), 503, "client_waiting_tunnels", "client_waiting_tunnels"));
  // With a webhook, a contact this relay does not know is still woken: the gateway decides.
  found = ContactLookup{};
  f.waiting = {};
  f.webhook_in_flight = 0;
  CHECK(judge(f, l).accepted());
}

TEST_CASE("admission: registering a contact: revoke header, per-client and per-network caps, then room") {
  const auto l = small_limits();
  Rate rate;
  int room_asked = 0;
  bool room = true;
  ListenFacts f;
  f.is_upgrade = f.offers_fido_cable = true;
  f.rate = rate.check();
  f.make_room = [&] {
    ++room_asked;
    return room;
  };
  CHECK(refused(judge(f, l), 400, "bad_contact_token"));
  f.token_ok = true;
  f.empty_id = true;
  CHECK(refused(judge(f, l), 404, "unknown_path"));
  f.empty_id = false;
  f.revoke = true;
  CHECK(refused(judge(f, l), 400, "revoke_without_contact"));
  f.revoke = false;
  f.client_contacts = 2;
  CHECK(refused(judge(f, l), 503, "client_contacts", "client_contacts"));
  f.client_contacts = 1;
  f.network_contacts = 3;
  CHECK(refused(judge(f, l), 503, "network_contacts", "network_contacts"));
  CHECK(room_asked == 0);  // the book is not swept for a request a cap refuses
  f.network_contacts = 2;
  room = false;
  CHECK(refused(judge(f, l), 503, "max_contacts", "max_contacts"));
  room = true;
  CHECK(judge(f, l).accepted());
  CHECK(room_asked == 2);
  CHECK(rate.asked == 4);
}

TEST_CASE("admission: re-attaching: bad IDs 404, unknown 404, wrong token 403, revoked 410") {
  const auto l = small_limits();
  Rate rate;
  ContactLookup found;
  ListenFacts f;
  f.is_upgrade = f.offers_fido_cable = f.token_ok = true;
  f.rate = rate.check();
  f.lookup = [&] { return found; };
  f.id = ListenFacts::Id::malformed;
  CHECK(refused(judge(f, l), 404, "unknown_path"));
  f.id = ListenFacts::Id::wrong_routing_id;
  CHECK(refused(judge(f, l), 404, "wrong_routing_id"));
  CHECK(rate.asked == 0);
  f.id = ListenFacts::Id::ok;
  CHECK(refused(judge(f, l), 404, "unknown_contact"));  // never bound to the first token that comes
  found.known = true;
  found.revoked = true;
  found.token_matches = false;
  CHECK(refused(judge(f, l), 403, "wrong_contact_token"));  // says nothing about the contact's state
  found.token_matches = true;
  CHECK(refused(judge(f, l), 410, "contact_revoked"));
  found.revoked = false;
  CHECK(judge(f, l).accepted());
  f.client_contacts = 100;  // re-attaching creates nothing: the contact caps do not apply
  CHECK(judge(f, l).accepted());
}

TEST_CASE("admission with the contact book: the per-client contact cap counts live contacts only") {
  auto l = small_limits();  // 2 contacts per client
  ClientTable owners;
  ContactBook book(owners);
  book.configure(book_settings());
  const std::string me = "192.0.2.1/32";
  auto register_facts = [&] {
    ListenFacts f;
    f.is_upgrade = f.offers_fido_cable = f.token_ok = true;
    f.client_contacts = owners.value(me, &ClientCounts::contacts);
    f.network_contacts = owners.network_value(me, &ClientCounts::contacts);
    f.make_room = [&] { return book.make_room(t0); };
    return f;
  };
  book.add("A", contact(me, t0));
  book.add("B", contact(me, t0));
  CHECK(refused(judge(register_facts(), l), 503, "client_contacts", "client_contacts"));
  book.revoke("A", t0);
  CHECK(judge(register_facts(), l).accepted());
}
