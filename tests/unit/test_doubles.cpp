// SPDX-License-Identifier: Apache-2.0
// The in-process doubles themselves (tests/doubles/): what the whole-ceremony tests and the
// whole-transaction fuzzer rely on — order, closes, faults, cancellation, the radio.
#include <catch2/catch.hpp>
#include <thread>

#include "hybrid/run.hpp"
#include "memory_link.hpp"
#include "memory_radio.hpp"
#include "memory_relay.hpp"
#include "proto/domains.hpp"

using namespace hg;
using doubles::Fault;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

// Runs one task; an io_context that ran out of work after the previous one is restarted first
// (as the façades do).
template <typename T>
Result<T> run(hybrid::Runner& r, net::awaitable<Result<T>> task) {
  if (r.io().stopped()) r.io().restart();
  return r.run(std::move(task));
}

void poll(hybrid::Runner& r) {
  r.io().restart();
  r.io().poll();
}

net::awaitable<Status> write_all(hybrid::Channel* ch, std::vector<Bytes> messages) {
  for (const auto& m : messages)
    if (auto w = co_await ch->write(m); !w) co_return w.error();
  co_return ok_status();
}

net::awaitable<Result<std::vector<Bytes>>> read_n(hybrid::Channel* ch, size_t n) {
  std::vector<Bytes> out;
  while (out.size() < n) {
    auto r = co_await ch->read();
    if (!r) co_return r.error();
    out.push_back(*r);
  }
  co_return out;
}

net::awaitable<Result<Bytes>> read_one(hybrid::Channel* ch) { co_return co_await ch->read(); }

net::awaitable<Status> close_it(hybrid::Channel* ch, uint16_t code) {
  co_await ch->close(code);
  co_return ok_status();
}

}  // namespace

TEST_CASE("memory channel: whole messages in order and then the peer's close code", "[doubles]") {
  hybrid::Runner r;
  auto p = doubles::channel_pair();
  REQUIRE(run(r, write_all(p.side0.get(), {Bytes{1}, Bytes{2, 2}, Bytes{}})));
  REQUIRE(run(r, close_it(p.side0.get(), 4001)));
  auto got = run(r, read_n(p.side1.get(), 3));
  REQUIRE(got);
  CHECK(*got == std::vector<Bytes>{Bytes{1}, Bytes{2, 2}, Bytes{}});
  auto end = run(r, read_one(p.side1.get()));
  REQUIRE_FALSE(end);
  CHECK(end.error().code == Errc::tunnel_closed);
  CHECK(end.error().detail == "close 4001");
  // Writing into a closed connection fails.
  auto w = run(r, write_all(p.side1.get(), {Bytes{9}}));
  CHECK_FALSE(w);
}

TEST_CASE("memory channel: faults drop and corrupt and hold until release and close with a code and drop the connection",
          "[doubles]") {
  hybrid::Runner r;
  auto p = doubles::channel_pair();
  p.link->set_faults(0, [](size_t i, ByteView) {
    if (i == 0) return Fault::drop();
    if (i == 1) return Fault::corrupt(1, 0xF0);
    if (i == 2) return Fault::hold();
    return Fault::none();
  });
  REQUIRE(run(r, write_all(p.side0.get(), {Bytes{1}, Bytes{2, 2}, Bytes{3}, Bytes{4}})));
  CHECK(p.link->written(0) == 4);
  auto first = run(r, read_n(p.side1.get(), 1));
  REQUIRE(first);
  CHECK((*first)[0] == Bytes{2, 0xF2});  // message 0 dropped, message 1 corrupted
  p.link->release(0);                    // the held message, and the one queued behind it
  auto rest = run(r, read_n(p.side1.get(), 2));
  REQUIRE(rest);
  CHECK(*rest == std::vector<Bytes>{Bytes{3}, Bytes{4}});

  auto q = doubles::channel_pair();
  q.link->set_faults(1, doubles::fault_at(0, Fault::close(1011)));
  REQUIRE(run(r, write_all(q.side1.get(), {Bytes{5}})));
  for (auto* ch : {q.side0.get(), q.side1.get()}) {  // both ends see the close
    auto e = run(r, read_one(ch));
    REQUIRE_FALSE(e);
    CHECK(e.error().detail == "close 1011");
  }

  auto d = doubles::channel_pair();
  d.link->set_faults(0, doubles::fault_at(0, Fault::abort()));
  REQUIRE(run(r, write_all(d.side0.get(), {Bytes{6}})));
  auto e = run(r, read_one(d.side1.get()));
  REQUIRE_FALSE(e);
  CHECK(e.error().detail == "connection dropped");
}

TEST_CASE("memory channel: a delayed message arrives after its delay and in order", "[doubles]") {
  hybrid::Runner r;
  auto p = doubles::channel_pair();
  p.link->set_faults(0, doubles::fault_at(0, Fault::delay_by(20ms)));
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(run(r, write_all(p.side0.get(), {Bytes{1}, Bytes{2}})));
  auto got = run(r, read_n(p.side1.get(), 2));
  REQUIRE(got);
  CHECK(*got == std::vector<Bytes>{Bytes{1}, Bytes{2}});
  CHECK(std::chrono::steady_clock::now() - t0 >= 20ms);  // a lower bound only: the delay happened
}

TEST_CASE("memory channel: cancel() ends a pending read - an end destroyed without close drops the connection",
          "[doubles]") {
  hybrid::Runner r;
  auto p = doubles::channel_pair();
  net::post(r.io(), [&] { p.side1->cancel(); });  // runs once the read below waits
  auto e = run(r, read_one(p.side1.get()));
  REQUIRE_FALSE(e);
  CHECK(e.error().code == Errc::tunnel_closed);
  auto peer = run(r, read_one(p.side0.get()));
  REQUIRE_FALSE(peer);
  CHECK(peer.error().detail == "connection dropped");

  auto q = doubles::channel_pair();
  q.side0.reset();
  auto gone = run(r, read_one(q.side1.get()));
  REQUIRE_FALSE(gone);
  CHECK(gone.error().detail == "connection dropped");
}

TEST_CASE("memory channel: the two ends on two threads", "[doubles]") {
  auto p = doubles::channel_pair();
  std::vector<Bytes> sent;
  for (uint8_t i = 0; i < 200; ++i) sent.push_back(Bytes(size_t(i) + 1, i));
  std::optional<Result<std::vector<Bytes>>> got;
  std::thread reader([&] {
    hybrid::Runner r;
    got.emplace(run(r, read_n(p.side1.get(), sent.size())));
  });
  hybrid::Runner w;
  REQUIRE(run(w, write_all(p.side0.get(), sent)));
  reader.join();
  REQUIRE(*got);
  CHECK(**got == sent);
}

TEST_CASE("memory radio: scanners see adverts (also those already on the air) until stopped", "[doubles]") {
  hybrid::Runner r;
  auto air = doubles::MemoryAir::make();
  auto adv = air->advertiser();
  REQUIRE(adv->start(Bytes(20, 0xAA)));
  auto scanner = air->scanner(r.io().get_executor());
  std::vector<Bytes> seen;
  REQUIRE(scanner->start([&](const ble::Advert& a) { seen.push_back(a.service_data); }));
  poll(r);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == Bytes(20, 0xAA));
  REQUIRE(adv->start(Bytes(20, 0xBB)));  // rotation
  poll(r);
  REQUIRE(seen.size() == 2);
  CHECK(seen[1] == Bytes(20, 0xBB));
  scanner->stop();
  air->broadcast(Bytes(20, 0xCC));
  poll(r);
  CHECK(seen.size() == 2);
  adv->stop();
  CHECK(air->on_air().empty());
}

TEST_CASE("in-process relay: /cable/new and /cable/connect pair once - unknown tunnels are refused", "[doubles]") {
  hybrid::Runner r;
  auto relay = doubles::MemoryRelay::make();
  auto server = relay->server();
  TunnelId tid{};
  tid[0] = 7;
  auto phone = run(r, server.open(0, tunnel_domain::new_path(tid), 1s));
  REQUIRE(phone);
  REQUIRE((*phone)->handshake().routing_id);
  auto rid = hex_decode_fixed<3>(*(*phone)->handshake().routing_id);
  REQUIRE(rid);
  CHECK(relay->routing_id(tid) == *rid);
  auto desktop = run(r, server.open(0, tunnel_domain::connect_path(*rid, tid), 1s));
  REQUIRE(desktop);
  REQUIRE(run(r, write_all(desktop->get(), {Bytes{0x42}})));
  auto got = run(r, read_one(phone->get()));
  REQUIRE(got);
  CHECK(*got == Bytes{0x42});
  auto again = run(r, server.open(0, tunnel_domain::connect_path(*rid, tid), 1s));  // taken
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::tunnel_refused);
  TunnelId other{};
  auto unknown = run(r, server.open(0, tunnel_domain::connect_path(*rid, other), 1s));
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == Errc::tunnel_refused);
  relay->refuse_next(doubles::MemoryRelay::Kind::new_tunnel, 410);
  TunnelId third{};
  third[0] = 9;
  auto gone = run(r, server.open(0, tunnel_domain::new_path(third), 1s));
  REQUIRE_FALSE(gone);
  CHECK(gone.error().code == Errc::tunnel_gone);
}
