// SPDX-License-Identifier: Apache-2.0
// key-bench: figures of the security key's device core (a benchmark, never a timed test; run it on
// an optimised build). What it measures, each printed as one line "name: value unit":
//   ctaphid_frame_7609       µs to frame a 7609-byte answer into 129 reports (CtapHid::complete)
//   ctaphid_receive_7609     µs to take a 7609-byte request in, packet by packet (129 receive())
//   getinfo_round_trip       µs from a getInfo request's report handed to KeyDevice::receive() to
//                            its answer at the transport (answered inside receive(), no thread)
//   answer_to_host           µs from an answer decided outside the host's call (a held "select a
//                            key" request answered by select(), the path a phone's answer takes
//                            after Connection::transact() returns: lock, complete, frame, send)
//                            to its report at the transport
//   idle_rss                 kB resident after INIT and getInfo (this process: the core, no Beast
//                            connection open)
//   idle_wakeups             context switches of all the process's threads over the idle window
//                            (no polling: expected 0)
// --quick: few iterations, a 0.3 s idle window (the CTest smoke run only checks it exits 0).
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "bridges/key/key_device.hpp"

using namespace hg;
using namespace hg::key;
using Clock = std::chrono::steady_clock;

namespace {

struct NullBackend : Backend {
  uint64_t last = 0;
  void submit(uint64_t id, uint32_t, ByteView) override { last = id; }
  void cancel(uint64_t) override {}
};

Report init_packet(uint32_t cid, uint8_t command, size_t len, const uint8_t* data, size_t n) {
  Report r{};
  r[0] = uint8_t(cid >> 24), r[1] = uint8_t(cid >> 16), r[2] = uint8_t(cid >> 8), r[3] = uint8_t(cid);
  r[4] = uint8_t(0x80 | command);
  r[5] = uint8_t(len >> 8), r[6] = uint8_t(len);
  if (n) std::memcpy(r.data() + 7, data, std::min<size_t>(n, 57));
  return r;
}

uint32_t cid_from_init_reply(const Report& r) {
  return uint32_t(r[15]) << 24 | uint32_t(r[16]) << 16 | uint32_t(r[17]) << 8 | r[18];
}

long status_value(const std::string& path, const char* key) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(std::strlen(key)));
  return -1;
}

long context_switches() {
  long sum = 0;
  DIR* d = opendir("/proc/self/task");
  if (!d) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string base = std::string("/proc/self/task/") + e->d_name + "/status";
    sum += status_value(base, "voluntary_ctxt_switches:") + status_value(base, "nonvoluntary_ctxt_switches:");
  }
  closedir(d);
  return sum;
}

double us_since(Clock::time_point t) { return std::chrono::duration<double, std::micro>(Clock::now() - t).count(); }

// The transport's side: counts reports, wakes a waiter when a message's last report arrived.
struct Sink {
  std::mutex m;
  std::condition_variable cv;
  size_t remaining = 0;  // reports still expected of the current message
  std::optional<Report> init_reply;
  void on(const Report& r) {
    std::lock_guard lk(m);
    if (r[4] == (0x80 | cmd::keepalive)) return;
    if (r[4] & 0x80) {
      const size_t len = size_t(r[5]) << 8 | r[6];
      remaining = len <= kInitPayload ? 0 : (len - kInitPayload + kContPayload - 1) / kContPayload;
      if (r[4] == (0x80 | cmd::init)) init_reply = r;
    } else if (remaining) {
      --remaining;
    }
    if (remaining == 0) cv.notify_all();
  }
};

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const int n = quick ? 20 : 2000;

  {  // the pure machine
    NullBackend b;
    CtapHid hid(b);
    const uint8_t nonce[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const uint32_t cid = cid_from_init_reply(hid.receive(init_packet(kBroadcast, cmd::init, 8, nonce, 8), Millis(0))[0]);
    Bytes big(kMaxMessage, 0x42);
    big[0] = 0x01;
    std::vector<Report> packets;
    packets.push_back(init_packet(cid, cmd::cbor, big.size(), big.data(), kInitPayload));
    for (size_t off = kInitPayload, seq = 0; off < big.size(); off += kContPayload, ++seq) {
      Report r{};
      std::memcpy(r.data(), packets[0].data(), 4);
      r[4] = uint8_t(seq);
      std::memcpy(r.data() + 5, big.data() + off, std::min(kContPayload, big.size() - off));
      packets.push_back(r);
    }
    double rx = 0, tx = 0;
    for (int i = 0; i < n; ++i) {
      auto t = Clock::now();
      for (const auto& p : packets) hid.receive(p, Millis(0));
      rx += us_since(t);
      t = Clock::now();
      auto out = hid.complete(b.last, big, Millis(0));
      tx += us_since(t);
      if (out.size() != 129) return 1;
    }
    std::printf("ctaphid_receive_7609: %.2f us\nctaphid_frame_7609: %.2f us\n", rx / n, tx / n);
  }

  hybrid::DesktopConfig config;  // never used: no request here reaches a phone
  hybrid::Desktop desktop(config);
  Sink sink;
  KeyDevice dev(desktop, [&](const Report& r) { sink.on(r); });
  const uint8_t nonce[8] = {8, 7, 6, 5, 4, 3, 2, 1};
  dev.receive(init_packet(kBroadcast, cmd::init, 8, nonce, 8));
  uint32_t cid;
  {
    std::lock_guard lk(sink.m);
    if (!sink.init_reply) return 1;
    cid = cid_from_init_reply(*sink.init_reply);
  }
  auto wait_done = [&] {
    std::unique_lock lk(sink.m);
    return sink.cv.wait_for(lk, std::chrono::seconds(10), [&] { return sink.remaining == 0; });
  };

  const uint8_t get_info = 0x04;
  double gi = 0;
  for (int i = 0; i < n; ++i) {
    auto t = Clock::now();
    dev.receive(init_packet(cid, cmd::cbor, 1, &get_info, 1));
    if (!wait_done()) return 1;
    gi += us_since(t);
  }
  std::printf("getinfo_round_trip: %.2f us\n", gi / n);

  // A held authenticatorSelection answered by select(): complete → frame → send through the
  // KeyDevice's lock, as a phone's answer is (its 1-byte answer; framing cost is measured above).
  const uint8_t selection = 0x0b;
  double at = 0;
  for (int i = 0; i < n; ++i) {
    dev.receive(init_packet(cid, cmd::cbor, 1, &selection, 1));
    {
      std::lock_guard lk(sink.m);
      sink.remaining = 1;  // the answer's report is still to come
    }
    auto t = Clock::now();
    if (!dev.select()) return 1;
    if (!wait_done()) return 1;
    at += us_since(t);
  }
  std::printf("answer_to_host: %.2f us\n", at / n);

  std::printf("idle_rss: %ld kB\n", status_value("/proc/self/status", "VmRSS:"));
  const long before = context_switches();
  std::this_thread::sleep_for(std::chrono::milliseconds(quick ? 300 : 5000));
  const long after = context_switches();
  // This (main) thread's own sleep accounts for one or two switches.
  std::printf("idle_wakeups: %ld (over %d ms, including this thread's own sleep)\n", after - before,
              quick ? 300 : 5000);
  return 0;
}
