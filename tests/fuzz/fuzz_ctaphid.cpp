// SPDX-License-Identifier: Apache-2.0
// The security key's CTAPHID device machine (bridges/key/ctaphid) under whatever a host (any
// local program that can open the hidraw node) writes: the input is a script of operations, one
// selector byte each, over a machine with a 4-entry channel table and a recording backend:
//   0  INIT on the broadcast channel (8 nonce bytes follow)
//   1  an initialization packet on channel #k (k, command, 2 length bytes, up to 57 data bytes)
//   2  a continuation packet on channel #k (k, sequence byte, up to 59 data bytes)
//   3  time passes (1 byte × 7 ms), then tick()
//   4  the backend answers the pending request (2 length bytes; the answer is that many bytes)
//   5  the backend reports progress (UPNEEDED or PROCESSING)
//   6  the host goes away
//   7  a raw 64-byte report
// where channel #k is one the machine handed out (or, for k ≥ 0xF0, 0, broadcast or a random ID).
// Oracles: every reply sequence parses as whole CTAPHID messages (initialization packet, then
// continuation packets 0, 1, … on the same channel, length ≤ 7609); replies go to a channel the
// machine allocated, to the broadcast channel (INIT and errors), or to the channel the host just
// wrote on (INVALID_CHANNEL); errors carry a defined code; keepalives only while a request is
// pending, with status 1 or 2; requests reach the backend one at a time, 1..7609 bytes; the
// channel table never exceeds its bound; an idle machine asks for no wake-up.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>

#include "bridges/key/ctaphid.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {
using namespace hg;
using namespace hg::key;

struct Rec : Backend {
  std::optional<uint64_t> outstanding;
  std::set<uint64_t> cancelled;
  void submit(uint64_t id, uint32_t, ByteView request) override {
    HG_FUZZ_CHECK(!outstanding);  // one transaction at a time
    HG_FUZZ_CHECK(!request.empty() && request.size() <= kMaxMessage);
    outstanding = id;
  }
  void cancel(uint64_t id) override {
    HG_FUZZ_CHECK(outstanding && *outstanding == id);
    cancelled.insert(id);
  }
};

uint32_t cid_of(const Report& r) {
  return uint32_t{r[0]} << 24 | uint32_t{r[1]} << 16 | uint32_t{r[2]} << 8 | uint32_t{r[3]};
}

struct Script {
  const uint8_t* p;
  size_t n;
  uint8_t byte() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  size_t take(uint8_t* out, size_t max) {
    size_t k = std::min(max, n);
    if (k) std::memcpy(out, p, k);
    p += k;
    n -= k;
    return k;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Rec backend;
  CtapHidConfig config;
  config.max_channels = 4;
  CtapHid hid(backend, config);
  std::vector<uint32_t> handed_out;  // every channel ID an INIT reply carried
  Millis now{0};
  Script s{data, size};

  auto check = [&](const std::vector<Report>& out, uint32_t host_cid) {
    size_t i = 0;
    while (i < out.size()) {
      const Report& r = out[i];
      HG_FUZZ_CHECK(r[4] & 0x80);  // a message starts with its initialization packet
      const uint32_t cid = cid_of(r);
      const uint8_t command = r[4] & 0x7f;
      const size_t len = size_t{r[5]} << 8 | r[6];
      HG_FUZZ_CHECK(len <= kMaxMessage);
      const bool allocated = std::find(handed_out.begin(), handed_out.end(), cid) != handed_out.end();
      if (command == cmd::error) {
        HG_FUZZ_CHECK(len == 1);
        const uint8_t code = r[7];
        HG_FUZZ_CHECK(code == 0x01 || code == 0x02 || code == 0x03 || code == 0x04 || code == 0x05 || code == 0x06 ||
                      code == 0x0b || code == 0x7f);
        HG_FUZZ_CHECK(allocated || cid == host_cid);
      } else if (command == cmd::init) {
        HG_FUZZ_CHECK(len == 17);
        const uint32_t assigned =
            cid == kBroadcast ? (uint32_t{r[15]} << 24 | uint32_t{r[16]} << 16 | uint32_t{r[17]} << 8 | r[18]) : cid;
        HG_FUZZ_CHECK(assigned != 0 && assigned != kBroadcast);
        HG_FUZZ_CHECK(cid == kBroadcast || allocated);
        if (cid == kBroadcast) handed_out.push_back(assigned);
      } else if (command == cmd::keepalive) {
        HG_FUZZ_CHECK(len == 1 && (r[7] == 1 || r[7] == 2));
        HG_FUZZ_CHECK(backend.outstanding.has_value());
        HG_FUZZ_CHECK(allocated);
      } else {
        HG_FUZZ_CHECK(command == cmd::ping || command == cmd::wink || command == cmd::lock || command == cmd::cbor);
        HG_FUZZ_CHECK(allocated);
      }
      size_t got = std::min(len, kInitPayload);
      ++i;
      for (uint8_t seq = 0; got < len; ++seq, ++i) {
        HG_FUZZ_CHECK(i < out.size());
        HG_FUZZ_CHECK(cid_of(out[i]) == cid && out[i][4] == seq);
        got += std::min(len - got, kContPayload);
      }
    }
    HG_FUZZ_CHECK(hid.channel_count() <= config.max_channels);
    if (!hid.busy()) HG_FUZZ_CHECK(!hid.next_wakeup().has_value());
  };

  auto channel = [&](uint8_t k) -> uint32_t {
    if (k == 0xff) return kBroadcast;
    if (k == 0xfe) return 0;
    if (k >= 0xf0) return 0x01020304u * k;
    if (handed_out.empty()) return kBroadcast;
    return handed_out[k % handed_out.size()];
  };

  for (int ops = 0; s.n && ops < 4096; ++ops) {
    Report r{};
    uint32_t cid = 0;
    switch (s.byte() % 8) {
      case 0:
        cid = kBroadcast;
        r[0] = r[1] = r[2] = r[3] = 0xff;
        r[4] = 0x86;
        r[6] = 8;
        s.take(r.data() + 7, 8);
        check(hid.receive(r, now), cid);
        break;
      case 1: {
        cid = channel(s.byte());
        r[0] = uint8_t(cid >> 24), r[1] = uint8_t(cid >> 16), r[2] = uint8_t(cid >> 8), r[3] = uint8_t(cid);
        r[4] = uint8_t(0x80 | s.byte());
        r[5] = s.byte();
        r[6] = s.byte();
        s.take(r.data() + 7, std::min<size_t>(kInitPayload, s.byte()));
        check(hid.receive(r, now), cid);
        break;
      }
      case 2: {
        cid = channel(s.byte());
        r[0] = uint8_t(cid >> 24), r[1] = uint8_t(cid >> 16), r[2] = uint8_t(cid >> 8), r[3] = uint8_t(cid);
        r[4] = s.byte() & 0x7f;
        s.take(r.data() + 5, std::min<size_t>(kContPayload, s.byte()));
        check(hid.receive(r, now), cid);
        break;
      }
      case 3:
        now += Millis(7) * s.byte();
        check(hid.tick(now), 0);
        break;
      case 4:
        if (backend.outstanding) {
          size_t len = (size_t{s.byte()} << 8 | s.byte()) % (kMaxMessage + 2);
          Bytes answer(len, 0x5a);
          const uint64_t id = *backend.outstanding;
          backend.outstanding.reset();
          check(hid.complete(id, answer, now), 0);
          HG_FUZZ_CHECK(!hid.pending());
        }
        break;
      case 5:
        if (backend.outstanding) hid.set_status(*backend.outstanding, (s.byte() & 1) ? Keepalive::upneeded : Keepalive::processing,
                         now);
        break;
      case 6:
        hid.host_gone();
        HG_FUZZ_CHECK(hid.channel_count() == 0);
        handed_out.clear();
        break;
      case 7:
        s.take(r.data(), r.size());
        cid = cid_of(r);
        check(hid.receive(r, now), cid);
        break;
    }
    HG_FUZZ_CHECK(hid.pending() == backend.outstanding);
  }
  return 0;
}
