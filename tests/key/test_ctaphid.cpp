// SPDX-License-Identifier: Apache-2.0
// The CTAPHID device machine (bridges/key/ctaphid.hpp) against packets built here by hand from
// the CTAP 2.2 HID framing (cid big-endian, 0x80|cmd, 16-bit length, 57 then 59 bytes per packet),
// not with the machine's own framer.
#include <catch2/catch.hpp>

#include <cstring>

#include "bridges/key/ctaphid.hpp"

using namespace hg;
using namespace hg::key;
using namespace std::chrono_literals;

namespace {

struct Recorder : Backend {
  struct Submitted {
    uint64_t id;
    uint32_t channel;
    Bytes request;
  };
  std::vector<Submitted> submitted;
  std::vector<uint64_t> cancelled;
  int winks = 0;
  void submit(uint64_t id, uint32_t channel, ByteView request) override {
    submitted.push_back({id, channel, Bytes(request.begin(), request.end())});
  }
  void cancel(uint64_t id) override { cancelled.push_back(id); }
  void wink() override { ++winks; }
};

Report init_packet(uint32_t cid, uint8_t command, size_t length, const Bytes& data = {}) {
  Report r{};
  r[0] = uint8_t(cid >> 24), r[1] = uint8_t(cid >> 16), r[2] = uint8_t(cid >> 8), r[3] = uint8_t(cid);
  r[4] = uint8_t(0x80 | command);
  r[5] = uint8_t(length >> 8), r[6] = uint8_t(length);
  if (!data.empty()) std::memcpy(r.data() + 7, data.data(), std::min<size_t>(data.size(), 57));
  return r;
}
Report cont_packet(uint32_t cid, uint8_t seq, const Bytes& data = {}) {
  Report r{};
  r[0] = uint8_t(cid >> 24), r[1] = uint8_t(cid >> 16), r[2] = uint8_t(cid >> 8), r[3] = uint8_t(cid);
  r[4] = seq;
  if (!data.empty()) std::memcpy(r.data() + 5, data.data(), std::min<size_t>(data.size(), 59));
  return r;
}
uint32_t cid_of(const Report& r) { return uint32_t(r[0]) << 24 | uint32_t(r[1]) << 16 | uint32_t(r[2]) << 8 | r[3]; }
size_t len_of(const Report& r) { return size_t(r[5]) << 8 | r[6]; }
// The one error report expected: on `cid`, CTAPHID_ERROR (0xBF), length 1, `code`.
void require_error(const std::vector<Report>& out, uint32_t cid, uint8_t code) {
  REQUIRE(out.size() == 1);
  CHECK(cid_of(out[0]) == cid);
  CHECK(out[0][4] == 0xBF);
  CHECK(len_of(out[0]) == 1);
  CHECK(out[0][7] == code);
}

struct Fixture {
  Recorder backend;
  CtapHid hid{backend};
  Millis now{1000};
  std::vector<Report> send(const Report& r) { return hid.receive(r, now); }
  uint32_t open_channel() {
    Bytes nonce{1, 2, 3, 4, 5, 6, 7, 8};
    auto out = send(init_packet(0xffffffff, 0x06, 8, nonce));
    REQUIRE(out.size() == 1);
    return uint32_t(out[0][15]) << 24 | uint32_t(out[0][16]) << 16 | uint32_t(out[0][17]) << 8 | out[0][18];
  }
};

}  // namespace

TEST_CASE("INIT on the broadcast channel echoes the nonce and allocates a channel", "[ctaphid]") {
  Fixture f;
  Bytes nonce{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};
  auto out = f.send(init_packet(0xffffffff, 0x06, 8, nonce));
  REQUIRE(out.size() == 1);
  const Report& r = out[0];
  CHECK(cid_of(r) == 0xffffffff);
  CHECK(r[4] == 0x86);
  CHECK(len_of(r) == 17);
  CHECK(Bytes(r.begin() + 7, r.begin() + 15) == nonce);
  uint32_t cid = uint32_t(r[15]) << 24 | uint32_t(r[16]) << 16 | uint32_t(r[17]) << 8 | r[18];
  CHECK(cid != 0);
  CHECK(cid != 0xffffffff);
  CHECK(r[19] == 2);                  // CTAPHID protocol version
  CHECK(r[23] == (0x01 | 0x04 | 0x08));  // WINK | CBOR | NMSG (no CTAP1)
  // A second INIT gets a different channel.
  auto out2 = f.send(init_packet(0xffffffff, 0x06, 8, nonce));
  REQUIRE(out2.size() == 1);
  CHECK(Bytes(out2[0].begin() + 15, out2[0].begin() + 19) != Bytes(r.begin() + 15, r.begin() + 19));
}

TEST_CASE("INIT with a length other than 8 is INVALID_LEN", "[ctaphid]") {
  Fixture f;
  require_error(f.send(init_packet(0xffffffff, 0x06, 7, {1, 2, 3, 4, 5, 6, 7})), 0xffffffff, 0x03);
}

TEST_CASE("PING echoes a message spread over continuation packets", "[ctaphid]") {
  Fixture f;
  uint32_t cid = f.open_channel();
  Bytes msg(200);
  for (size_t i = 0; i < msg.size(); ++i) msg[i] = uint8_t(i * 7);
  CHECK(f.send(init_packet(cid, 0x01, msg.size(), Bytes(msg.begin(), msg.begin() + 57))).empty());
  CHECK(f.send(cont_packet(cid, 0, Bytes(msg.begin() + 57, msg.begin() + 116))).empty());
  CHECK(f.send(cont_packet(cid, 1, Bytes(msg.begin() + 116, msg.begin() + 175))).empty());
  auto out = f.send(cont_packet(cid, 2, Bytes(msg.begin() + 175, msg.end())));
  REQUIRE(out.size() == 4);  // 57 + 59 + 59 + 25
  CHECK(out[0][4] == 0x81);
  CHECK(len_of(out[0]) == 200);
  Bytes echoed(out[0].begin() + 7, out[0].end());
  for (int i = 1; i < 4; ++i) {
    CHECK(cid_of(out[i]) == cid);
    CHECK(out[i][4] == i - 1);
    echoed.insert(echoed.end(), out[i].begin() + 5, out[i].end());
  }
  echoed.resize(200);
  CHECK(echoed == msg);
}

TEST_CASE("CBOR goes whole to the backend, keepalives while it works, its answer is framed", "[ctaphid]") {
  Fixture f;
  uint32_t cid = f.open_channel();
  CHECK(f.send(init_packet(cid, 0x10, 1, {0x04})).empty());
  REQUIRE(f.backend.submitted.size() == 1);
  CHECK(f.backend.submitted[0].channel == cid);
  CHECK(f.backend.submitted[0].request == Bytes{0x04});
  const uint64_t id = f.backend.submitted[0].id;

  // Nothing is due before the interval; then PROCESSING, then UPNEEDED after set_status.
  REQUIRE(f.hid.next_wakeup().has_value());
  CHECK(*f.hid.next_wakeup() <= f.now + 100ms);
  CHECK(f.hid.tick(f.now + 10ms).empty());
  auto ka = f.hid.tick(*f.hid.next_wakeup());
  REQUIRE(ka.size() == 1);
  CHECK(cid_of(ka[0]) == cid);
  CHECK(ka[0][4] == 0xBB);
  CHECK(len_of(ka[0]) == 1);
  CHECK(ka[0][7] == 1);
  // A new status is sent at once, then at the interval again.
  const Millis changed = *f.hid.next_wakeup() - 30ms;
  f.hid.set_status(id, Keepalive::upneeded, changed);
  ka = f.hid.tick(changed);
  REQUIRE(ka.size() == 1);
  CHECK(ka[0][7] == 2);
  CHECK(*f.hid.next_wakeup() == changed + CtapHidConfig{}.keepalive_interval);

  Bytes response(100, 0xab);
  response[0] = 0x00;
  auto out = f.hid.complete(id, response, f.now + 300ms);
  REQUIRE(out.size() == 2);
  CHECK(out[0][4] == 0x90);
  CHECK(len_of(out[0]) == 100);
  CHECK(out[1][4] == 0);
  CHECK_FALSE(f.hid.busy());
  CHECK_FALSE(f.hid.next_wakeup().has_value());  // idle: no wake-ups
}

TEST_CASE("One transaction at a time - another channel gets CHANNEL_BUSY, INIT still works", "[ctaphid]") {
  Fixture f;
  uint32_t a = f.open_channel();
  uint32_t b = f.open_channel();
  CHECK(f.send(init_packet(a, 0x10, 1, {0x01})).empty());
  require_error(f.send(init_packet(b, 0x01, 1, {0x55})), b, 0x06);
  require_error(f.send(init_packet(a, 0x10, 1, {0x02})), a, 0x06);
  CHECK(f.open_channel() != 0);
  // While a message is being received, another channel is busy too.
  auto id = f.backend.submitted.at(0).id;
  f.hid.complete(id, Bytes{0x00}, f.now);
  CHECK(f.send(init_packet(a, 0x01, 100, Bytes(57, 1))).empty());
  require_error(f.send(init_packet(b, 0x01, 1, {0x55})), b, 0x06);
}

TEST_CASE("CANCEL tells the backend, the request is answered, CANCEL itself gets no reply", "[ctaphid]") {
  Fixture f;
  uint32_t cid = f.open_channel();
  f.send(init_packet(cid, 0x10, 1, {0x01}));
  const uint64_t id = f.backend.submitted.at(0).id;
  CHECK(f.send(init_packet(cid, 0x11, 0)).empty());
  REQUIRE(f.backend.cancelled == std::vector<uint64_t>{id});
  auto out = f.hid.complete(id, Bytes{0x2d}, f.now);
  REQUIRE(out.size() == 1);
  CHECK(out[0][4] == 0x90);
  CHECK(out[0][7] == 0x2d);
}

TEST_CASE("INIT on a busy channel resynchronises it - request cancelled, its answer dropped", "[ctaphid]") {
  Fixture f;
  uint32_t cid = f.open_channel();
  f.send(init_packet(cid, 0x10, 1, {0x01}));
  const uint64_t id = f.backend.submitted.at(0).id;
  auto out = f.send(init_packet(cid, 0x06, 8, Bytes(8, 9)));
  REQUIRE(out.size() == 1);
  CHECK(cid_of(out[0]) == cid);
  CHECK(Bytes(out[0].begin() + 15, out[0].begin() + 19) == Bytes(out[0].begin(), out[0].begin() + 4));
  CHECK(f.backend.cancelled == std::vector<uint64_t>{id});
  CHECK_FALSE(f.hid.next_wakeup().has_value());  // no keepalives for an abandoned request
  CHECK(f.hid.complete(id, Bytes{0x00}, f.now).empty());
}

TEST_CASE("The host going away cancels the request and forgets the channels", "[ctaphid]") {
  Fixture f;
  uint32_t cid = f.open_channel();
  f.send(init_packet(cid, 0x10, 1, {0x02}));
  f.hid.host_gone();
  CHECK(f.backend.cancelled.size() == 1);
  CHECK(f.hid.channel_count() == 0);
  CHECK(f.hid.complete(f.backend.submitted.at(0).id, Bytes{0x00}, f.now).empty());
  require_error(f.send(init_packet(cid, 0x01, 0)), cid, 0x0b);
}

TEST_CASE("Error codes for bad packets", "[ctaphid]") {
  Fixture f;
  uint32_t cid = f.open_channel();
  SECTION("unknown command, CTAP1 MSG, host-sent KEEPALIVE: INVALID_CMD") {
    require_error(f.send(init_packet(cid, 0x23, 0)), cid, 0x01);
    require_error(f.send(init_packet(cid, 0x03, 1, {0})), cid, 0x01);
    require_error(f.send(init_packet(cid, 0x3b, 1, {1})), cid, 0x01);
  }
  SECTION("LOCK longer than 10 s: INVALID_PAR; LOCK of 2 bytes: INVALID_LEN") {
    require_error(f.send(init_packet(cid, 0x04, 1, {11})), cid, 0x02);
    require_error(f.send(init_packet(cid, 0x04, 2, {1, 1})), cid, 0x03);
  }
  SECTION("length above 7609: INVALID_LEN; empty CBOR: INVALID_LEN") {
    require_error(f.send(init_packet(cid, 0x10, 7610, Bytes(57, 0))), cid, 0x03);
    require_error(f.send(init_packet(cid, 0x10, 0)), cid, 0x03);
    CHECK(f.backend.submitted.empty());
  }
  SECTION("wrong sequence number: INVALID_SEQ, and the message is dropped") {
    f.send(init_packet(cid, 0x01, 100, Bytes(57, 1)));
    require_error(f.send(cont_packet(cid, 1, Bytes(59, 1))), cid, 0x04);
    CHECK(f.send(cont_packet(cid, 0, Bytes(59, 1))).empty());  // spurious now: ignored
    CHECK_FALSE(f.hid.busy());
  }
  SECTION("a new message before the last was whole: INVALID_SEQ") {
    f.send(init_packet(cid, 0x01, 100, Bytes(57, 1)));
    require_error(f.send(init_packet(cid, 0x01, 1, {1})), cid, 0x04);
  }
  SECTION("continuation packets that never come: MSG_TIMEOUT after 3 s, not before") {
    f.send(init_packet(cid, 0x10, 100, Bytes(57, 1)));
    CHECK(f.hid.tick(f.now + 2999ms).empty());
    REQUIRE(f.hid.next_wakeup() == f.now + 3000ms);
    require_error(f.hid.tick(f.now + 3000ms), cid, 0x05);
    CHECK_FALSE(f.hid.busy());
    CHECK(f.backend.submitted.empty());
  }
  SECTION("channel 0, unallocated channels, commands on the broadcast channel: INVALID_CHANNEL") {
    require_error(f.send(init_packet(0, 0x01, 0)), 0, 0x0b);
    require_error(f.send(init_packet(0x12345678, 0x01, 0)), 0x12345678, 0x0b);
    require_error(f.send(init_packet(0x12345678, 0x06, 8, Bytes(8, 1))), 0x12345678, 0x0b);
    require_error(f.send(init_packet(0xffffffff, 0x10, 1, {4})), 0xffffffff, 0x0b);
  }
  SECTION("a report that is not 64 bytes is ignored") {
    Bytes shorter(63, 0xff);
    CHECK(f.hid.receive(shorter, f.now).empty());
  }
}

TEST_CASE("LOCK keeps other channels out until it expires or is released", "[ctaphid]") {
  Fixture f;
  uint32_t a = f.open_channel();
  uint32_t b = f.open_channel();
  auto out = f.send(init_packet(a, 0x04, 1, {2}));
  REQUIRE(out.size() == 1);
  CHECK(out[0][4] == 0x84);
  require_error(f.send(init_packet(b, 0x01, 1, {7})), b, 0x06);
  CHECK(f.send(init_packet(a, 0x01, 1, {7})).size() == 1);
  CHECK(f.hid.receive(init_packet(b, 0x01, 1, {7}), f.now + 2000ms).at(0)[4] == 0x81);
  f.send(init_packet(a, 0x04, 1, {5}));
  f.send(init_packet(a, 0x04, 1, {0}));
  CHECK(f.send(init_packet(b, 0x01, 1, {7})).at(0)[4] == 0x81);
}

TEST_CASE("WINK answers empty and reaches the backend", "[ctaphid]") {
  Fixture f;
  uint32_t cid = f.open_channel();
  auto out = f.send(init_packet(cid, 0x08, 0));
  REQUIRE(out.size() == 1);
  CHECK(out[0][4] == 0x88);
  CHECK(len_of(out[0]) == 0);
  CHECK(f.backend.winks == 1);
}

TEST_CASE("An INIT flood cannot grow the channel table, the busy channel survives it", "[ctaphid]") {
  Fixture f;
  uint32_t busy = f.open_channel();
  f.send(init_packet(busy, 0x10, 1, {0x01}));
  for (int i = 0; i < 10000; ++i) f.open_channel();
  CHECK(f.hid.channel_count() <= CtapHidConfig{}.max_channels);
  auto out = f.hid.complete(f.backend.submitted.at(0).id, Bytes{0x00}, f.now);
  REQUIRE(out.size() == 1);
  CHECK(cid_of(out[0]) == busy);
}

TEST_CASE("The largest message (7609 bytes, sequence 0..127) is accepted and answered", "[ctaphid]") {
  Fixture f;
  uint32_t cid = f.open_channel();
  Bytes msg(7609);
  for (size_t i = 0; i < msg.size(); ++i) msg[i] = uint8_t(i);
  msg[0] = 0x01;
  f.send(init_packet(cid, 0x10, msg.size(), Bytes(msg.begin(), msg.begin() + 57)));
  size_t off = 57;
  for (uint8_t seq = 0; seq < 128; ++seq, off += 59) {
    Bytes chunk(msg.begin() + off, msg.begin() + std::min<size_t>(off + 59, msg.size()));
    CHECK(f.send(cont_packet(cid, seq, chunk)).empty());
  }
  REQUIRE(f.backend.submitted.size() == 1);
  CHECK(f.backend.submitted[0].request == msg);
  auto out = f.hid.complete(f.backend.submitted[0].id, msg, f.now);
  CHECK(out.size() == 129);
  CHECK(out.back()[4] == 127);
}
