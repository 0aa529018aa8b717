// SPDX-License-Identifier: Apache-2.0
// The relay's parts tested alone (issue 23): the client table (tunnel/server/clients.hpp), which
// the per-client and per-network caps and the memory shares are judged by, and the tunnel
// registry (tunnel/server/tunnels.hpp). The expected values
// follow from the documented rules (docs/relay.md "Per-client caps", "Per-network caps",
// "Memory"), not from running the code.
#include <catch2/catch.hpp>

#include "tunnel/server/clients.hpp"
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
