// SPDX-License-Identifier: Apache-2.0
// hybridgate-relay-bench load client: N tunnel pairs (or 2N echo connections), M messages of S
// bytes each way, every byte checked in order; latency from timestamps in the messages. Also the
// soak mode (random early disconnects, slow readers, oversized frames). One thread, one io_context.
#pragma GCC diagnostic ignored "-Wnull-dereference"  // Asio 1.74 + g++ 12, see tunnel/server/session.hpp

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "bench.hpp"

namespace hg::bench {

long rss_kb(int pid) {
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

double cpu_seconds(int pid) {
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto rp = all.rfind(')');  // the command name may hold spaces
  if (rp == std::string::npos) return 0;
  std::istringstream in(all.substr(rp + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {  // fields 14 and 15: utime, stime (clock ticks)
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double hist_pct(const std::vector<uint32_t>& b, double p) {
  uint64_t n = 0;
  for (auto c : b) n += c;
  if (!n) return 0;
  uint64_t want = static_cast<uint64_t>(p * static_cast<double>(n - 1)) + 1, acc = 0;
  for (size_t i = 0; i < b.size(); ++i)
    if ((acc += b[i]) >= want) return static_cast<double>(i);
  return static_cast<double>(b.size() - 1);
}

namespace {
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

struct Histogram {  // 1 us resolution up to 1 s
  std::vector<uint32_t> b = std::vector<uint32_t>(1000001);
  uint64_t n = 0;
  uint64_t maxv = 0;
  void add(uint64_t us) {
    b[std::min<uint64_t>(us, b.size() - 1)]++;
    ++n;
    maxv = std::max(maxv, us);
  }
  double pct(double p) const { return hist_pct(b, p); }
};

struct Load;
struct Pair;
struct Conn;

struct Flow {
  uint32_t id = 0;
  Conn* tx = nullptr;
  Conn* rx = nullptr;
  uint64_t sent = 0, recvd = 0, target = 0;
  bool blocked = false;
  bool fixed_size = true;
};

enum class Behav { normal, abort, slow, oversize };

struct Conn : std::enable_shared_from_this<Conn> {
  Conn(Load& l, Pair* p, int side);
  void connect(const std::string& target);
  void enqueue(std::string m);
  void do_write();
  void read();
  void on_read(beast::error_code ec);
  void close(uint16_t code);
  void abort() {
    beast::error_code ec;
    beast::get_lowest_layer(ws).socket().close(ec);
  }
  void end(int code);

  Load& L;
  Pair* pair;
  int side;  // 0 = phone / first echo connection, 1 = desktop / second
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer rbuf;
  websocket::response_type res;
  std::deque<std::string> outq;
  Flow* txf = nullptr;
  Flow* rxf = nullptr;
  net::steady_timer delay;
  uint32_t slow_ms = 0;
  Clock::time_point last_rx{}, delay_armed{}, delay_fired{};  // diagnostics for stuck soak pairs
  bool writing = false, reading = false, open = false, ended = false, close_after_writes = false;
  uint16_t close_with = 1000;
  int close_code = -1;  // -1 = not ended, 0 = no close frame
};

struct Pair {
  uint32_t idx = 0;
  std::shared_ptr<Conn> c[2];
  Flow f[2];
  std::string tid;
  Behav behav = Behav::normal;
  uint64_t k = 0;  // abort / oversize point
  bool abort_phone = true;
  int ended = 0;
  bool finished = false, closing = false;
  Clock::time_point started;
  Clock::time_point progress;  // last message, upgrade or close seen on either side
};

struct Load {
  explicit Load(const LoadOptions& o) : opt(o), ioc(1), ticker(ioc), watchdog(ioc), rng(o.seed) {}
  LoadOptions opt;
  net::io_context ioc;
  net::steady_timer ticker, watchdog;
  std::mt19937 rng;
  LoadResult r;
  Histogram lat;
  std::vector<std::pair<uint32_t, uint32_t>> slow;  // per 100 ms window: messages over 1 ms, worst us
  std::vector<std::unique_ptr<Pair>> pairs;
  uint32_t next_flow = 1;
  uint32_t setups_started = 0, setups_done = 0, src_ip = 0;
  uint64_t flows_total = 0, flows_done = 0, conns_ended = 0, total_sent = 0;
  Clock::time_point t_setup, t_traffic, t_soak_end;
  double cpu_at_traffic = 0, cpu_at_setup = 0;
  static constexpr double kMinCpu = 0.2;  // below 20 ticks of server CPU a per-unit figure is noise
  bool traffic = false, soak = false, soak_stopping = false, ticking = false;
  std::deque<Flow*> rate_blocked;
  uint64_t rate_base_sent = 0;
  uint64_t live_pairs = 0;

  tcp::endpoint ep() const { return {net::ip::make_address(opt.host), opt.port}; }
  void fail(const std::string& e) {
    if (r.ok) {
      r.ok = false;
      r.error = e;
      std::cerr << "bench: " << e << "\n";
    }
    ioc.stop();
  }

  // ---- messages: [flow u32][seq u32][send time ns u64][pattern] ----
  uint32_t size_of(const Flow& f, uint64_t seq) const {
    if (f.fixed_size) return std::max<uint32_t>(opt.size, 16);
    uint32_t h = static_cast<uint32_t>(f.id * 2654435761u ^ static_cast<uint32_t>(seq) * 40503u);
    return 16 + (h % 8 == 0 ? h % 16384 : h % 1024);
  }
  static uint8_t pat(uint32_t fid, uint64_t seq, size_t i) {
    return static_cast<uint8_t>(fid * 131 + seq * 31 + i);
  }
  std::string make(const Flow& f, uint64_t seq, uint32_t n) {
    std::string m(n, '\0');
    uint32_t s32 = static_cast<uint32_t>(seq);
    uint64_t t = now_ns();
    std::memcpy(m.data(), &f.id, 4);
    std::memcpy(m.data() + 4, &s32, 4);
    std::memcpy(m.data() + 8, &t, 8);
    for (size_t i = 16; i < n; ++i) m[i] = static_cast<char>(pat(f.id, seq, i));
    return m;
  }
  void on_message(Conn& c, const uint8_t* p, size_t n) {
    Flow* f = c.rxf;
    if (!f || n < 16) {
      ++r.misdelivered;
      return;
    }
    uint32_t fid, seq;
    uint64_t t;
    std::memcpy(&fid, p, 4);
    std::memcpy(&seq, p + 4, 4);
    std::memcpy(&t, p + 8, 8);
    bool good = fid == f->id && seq == static_cast<uint32_t>(f->recvd) && n == size_of(*f, f->recvd);
    for (size_t i = 16; good && i < n; ++i) good = p[i] == pat(fid, seq, i);
    if (!good) {
      if (r.misdelivered++ < 5)
        std::cerr << "bench: misdelivered message on flow " << f->id << " (got flow " << fid << " seq " << seq
                  << " size " << n << ", expected seq " << f->recvd << ")\n";
      c.abort();
      return;
    }
    if (traffic || soak) {
      const uint64_t now = now_ns(), us = (now - t) / 1000;
      lat.add(us);
      if (us > 1000 && traffic) {
        const auto w = static_cast<size_t>(std::chrono::duration<double>(Clock::now() - t_traffic).count() * 10);
        if (w < 100000) {
          if (slow.size() <= w) slow.resize(w + 1);
          ++slow[w].first;
          slow[w].second = std::max<uint32_t>(slow[w].second, static_cast<uint32_t>(std::min<uint64_t>(us, UINT32_MAX)));
        }
      }
    }
    c.pair->progress = Clock::now();
    ++f->recvd;
    ++r.soak_messages_verified;
    pump(*f);
    if (f->recvd == f->target) flow_done(*c.pair);
  }

  bool may_send() {
    if (opt.rate <= 0 || soak) return true;
    double allowed = opt.rate * std::chrono::duration<double>(Clock::now() - t_traffic).count();
    return static_cast<double>(total_sent - rate_base_sent) < allowed;
  }
  void pump(Flow& f) {
    if (!f.tx || f.tx->ended) return;
    Pair& pr = *f.tx->pair;
    while (f.sent < f.target && f.sent - f.recvd < opt.window) {
      if (!may_send()) {
        if (!f.blocked) {
          f.blocked = true;
          rate_blocked.push_back(&f);
          tick();
        }
        return;
      }
      if (pr.behav == Behav::oversize && &f == &pr.f[0] && f.sent == pr.k) {
        f.tx->enqueue(std::string(opt.soak_max_message + 1, 'X'));  // the relay must answer 1009
        f.target = f.sent;  // nothing more on this flow
        return;
      }
      f.tx->enqueue(make(f, f.sent, size_of(f, f.sent)));
      ++f.sent;
      ++total_sent;
      if (pr.behav == Behav::abort && &f == &pr.f[pr.abort_phone ? 0 : 1] && f.sent == pr.k) {
        f.tx->abort();  // early disconnect, mid-stream
        return;
      }
    }
  }
  // Rate mode: message n (counted from the start of the traffic phase) is due at
  // t_traffic + n / rate. The ticker wakes exactly at the next due time (no 1 ms bursts) and
  // releases the flows that wait for their turn, oldest first; it sleeps while none waits.
  void tick() {
    if (ticking || rate_blocked.empty() || !traffic) return;
    ticking = true;
    const double n = static_cast<double>(total_sent - rate_base_sent);
    ticker.expires_at(t_traffic + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(n / opt.rate)));
    ticker.async_wait([this](beast::error_code ec) {
      ticking = false;
      if (ec) return;
      while (!rate_blocked.empty() && may_send()) {
        Flow* f = rate_blocked.front();
        rate_blocked.pop_front();
        f->blocked = false;
        pump(*f);
      }
      tick();
    });
  }

  // ---- pair lifecycle ----
  Pair* new_pair(uint32_t idx) {
    auto p = std::make_unique<Pair>();
    p->idx = idx;
    p->started = p->progress = Clock::now();
    char hex[33];
    for (int i = 0; i < 32; ++i) hex[i] = "0123456789ABCDEF"[rng() % 16];
    hex[32] = 0;
    p->tid = hex;
    for (int s = 0; s < 2; ++s) {
      p->f[s].id = next_flow++;
      p->c[s] = std::make_shared<Conn>(*this, p.get(), s);
    }
    if (opt.echo) {  // echo: each connection's flow comes back to itself
      for (int s = 0; s < 2; ++s) p->f[s].tx = p->f[s].rx = p->c[s].get();
    } else {
      p->f[0].tx = p->c[0].get();
      p->f[0].rx = p->c[1].get();
      p->f[1].tx = p->c[1].get();
      p->f[1].rx = p->c[0].get();
    }
    for (int s = 0; s < 2; ++s) {
      p->f[s].tx->txf = &p->f[s];
      p->f[s].rx->rxf = &p->f[s];
    }
    if (soak) {
      uint32_t x = rng() % 100;
      p->behav = x < 55 ? Behav::normal : x < 72 ? Behav::abort : x < 90 ? Behav::slow : Behav::oversize;
      uint64_t m = 1 + rng() % std::max<uint32_t>(opt.messages, 1);
      for (auto& f : p->f) {
        f.target = m;
        f.fixed_size = false;
      }
      p->k = rng() % m;
      p->abort_phone = rng() % 2;
      if (p->behav == Behav::abort && p->k == 0) p->k = 1;
      if (p->behav == Behav::oversize) p->f[1].target = 0;
      if (p->behav == Behav::slow) p->c[1]->slow_ms = 1 + rng() % 8;
    }
    ++live_pairs;
    Pair* raw = p.get();
    if (idx < pairs.size()) pairs[idx] = std::move(p);
    else pairs.push_back(std::move(p));
    return raw;
  }
  void start_setup(Pair& p) { p.c[0]->connect(opt.echo ? "/echo" : "/cable/new/" + p.tid); }
  void opened(Conn& c) {
    Pair& p = *c.pair;
    p.progress = Clock::now();
    if (c.side == 0) {
      std::string rid = opt.routing_id;
      if (!opt.echo && rid.empty()) {
        auto h = c.res["X-caBLE-Routing-ID"];
        rid = std::string(h.data(), h.size());
        if (rid.size() != 6) return fail("no X-caBLE-Routing-ID in the 101 of /cable/new");
      }
      c.read();
      p.c[1]->connect(opt.echo ? "/echo" : "/cable/connect/" + rid + "/" + p.tid);
      return;
    }
    c.read();
    if (soak) {
      for (auto& f : p.f) pump(f);
      if (p.f[0].target == 0 && p.f[1].target == 0) flow_done(p);
      return;
    }
    ++setups_done;
    if (setups_started < opt.pairs) {
      start_setup(*new_pair(setups_started++));
    } else if (setups_done == opt.pairs) {
      r.setup_seconds = std::chrono::duration<double>(Clock::now() - t_setup).count();
      r.units_per_s = (opt.echo ? 2.0 : 1.0) * opt.pairs / r.setup_seconds;
      const double cpu = cpu_seconds(opt.server_pid) - cpu_at_setup;  // /proc counts in 10 ms ticks
      r.server_cpu_us_per_unit = cpu >= kMinCpu ? cpu * 1e6 / ((opt.echo ? 2.0 : 1.0) * opt.pairs) : 0;
      r.rss_open_kb = rss_kb(opt.server_pid);
      start_traffic();
    }
  }
  void start_traffic() {
    traffic = true;
    cpu_at_traffic = cpu_seconds(opt.server_pid);
    t_traffic = Clock::now();
    flows_total = 2ull * pairs.size();
    if (opt.messages == 0) return finish_traffic();
    for (auto& p : pairs)
      for (auto& f : p->f) f.target = opt.messages;
    for (auto& p : pairs)
      for (auto& f : p->f) pump(f);
  }
  void flow_done(Pair& p) {
    if (soak) {
      bool done = p.f[0].recvd >= p.f[0].target && p.f[1].recvd >= p.f[1].target;
      if (p.behav == Behav::oversize || p.behav == Behav::abort) return;  // those end by closing
      if (done && !p.closing) {
        p.closing = true;
        p.c[0]->close(1000);
      }
      return;
    }
    if (++flows_done == flows_total) finish_traffic();
  }
  void finish_traffic() {
    r.traffic_seconds = std::chrono::duration<double>(Clock::now() - t_traffic).count();
    r.messages = 2ull * pairs.size() * opt.messages;
    r.messages_per_s = static_cast<double>(r.messages) / r.traffic_seconds;
    const double cpu = cpu_seconds(opt.server_pid) - cpu_at_traffic;
    if (r.messages && cpu >= kMinCpu) r.server_cpu_us_per_msg = cpu * 1e6 / static_cast<double>(r.messages);
    traffic = false;
    ticker.cancel();
    r.rss_after_kb = rss_kb(opt.server_pid);
    for (auto& p : pairs) {
      p->closing = true;
      p->c[0]->close(1000);
      if (opt.echo) p->c[1]->close(1000);
    }
  }
  void conn_ended(Conn& c) {
    Pair& p = *c.pair;
    p.progress = Clock::now();
    ++p.ended;
    if (!soak) {
      if (!p.closing) {
        ++r.bad_close;
        return fail("a connection ended before the run finished (close code " + std::to_string(c.close_code) + ")");
      }
      if (!opt.echo && c.side == 1 && c.close_code != 1000) ++r.bad_close;  // phone closed 1000 -> desktop 1000
      if (++conns_ended == 2ull * opt.pairs) ioc.stop();
      return;
    }
    if (p.ended < 2) {
      // First side down in soak: the other must be told with the right code.
      return;
    }
    soak_pair_done(p);
  }
  void soak_pair_done(Pair& p) {
    if (p.finished) return;
    p.finished = true;
    ++r.soak_tunnels;
    r.soak_longest_pair_s = std::max(r.soak_longest_pair_s, std::chrono::duration<double>(Clock::now() - p.started).count());
    const uint64_t bad_before = r.bad_close;
    auto code = [&](int s) { return p.c[s]->close_code; };
    switch (p.behav) {
      case Behav::normal:
      case Behav::slow:
        (p.behav == Behav::normal ? r.soak_normal : r.soak_slow)++;
        for (auto& f : p.f)
          if (f.recvd != f.target) r.lost += f.target - f.recvd;
        if (code(1) != 1000) ++r.bad_close;
        break;
      case Behav::abort: {
        ++r.soak_abort;
        int survivor = p.abort_phone ? 1 : 0;
        if (code(survivor) != 1001) ++r.bad_close;
        break;
      }
      case Behav::oversize:
        ++r.soak_oversize;
        if (p.f[0].recvd != p.k) r.lost += p.k > p.f[0].recvd ? p.k - p.f[0].recvd : 1;
        // The receiver must get exactly the k earlier messages and then 1009. The sender is still
        // writing its oversized frame when the relay answers 1009 and tears down, so its TCP
        // connection may be reset before it reads the close frame: 1009 or "no close frame" (0).
        if (code(1) != 1009 || (code(0) != 1009 && code(0) != 0)) ++r.bad_close;
        break;
    }
    if (r.bad_close != bad_before && r.bad_close < 5)
      std::cerr << "bench: soak pair " << p.idx << " behaviour " << static_cast<int>(p.behav) << " close codes "
                << code(0) << "/" << code(1) << "\n";
    --live_pairs;
    uint32_t idx = p.idx;
    // Defer destruction: we are inside a handler of one of p's connections.
    net::post(ioc, [this, idx] {
      if (Clock::now() < t_soak_end) start_setup(*new_pair(idx));
      else if (live_pairs == 0) ioc.stop();
    });
  }
  void sample_rss(Clock::time_point t0) {
    r.rss_series.emplace_back(std::chrono::duration<double>(Clock::now() - t0).count(), rss_kb(opt.server_pid));
    ticker.expires_after(std::chrono::seconds(10));
    ticker.async_wait([this, t0](beast::error_code ec) {
      if (!ec && Clock::now() < t_soak_end + std::chrono::seconds(1)) sample_rss(t0);
    });
  }
  void check_stuck() {
    watchdog.expires_after(std::chrono::seconds(5));
    watchdog.async_wait([this](beast::error_code ec) {
      if (ec) return;
      auto now = Clock::now();
      for (auto& p : pairs)
        if (p && !p->finished && now - p->progress > std::chrono::seconds(30)) {
          auto ms = [&](Clock::time_point t) {
            return t == Clock::time_point{} ? -1.0 : std::chrono::duration<double, std::milli>(t - p->started).count();
          };
          std::cerr << "bench: soak pair " << p->idx << " stuck (behaviour " << static_cast<int>(p->behav) << ", flows "
                    << p->f[0].recvd << "/" << p->f[0].target << " " << p->f[1].recvd << "/" << p->f[1].target
                    << "; sent " << p->f[0].sent << " " << p->f[1].sent;
          for (auto& c : p->c)
            std::cerr << "; side " << c->side << " reading=" << c->reading << " writing=" << c->writing
                      << " outq=" << c->outq.size() << " ended=" << c->ended << " last_rx_ms=" << ms(c->last_rx)
                      << " delay_armed_ms=" << ms(c->delay_armed) << " delay_fired_ms=" << ms(c->delay_fired);
          std::cerr << ")\n";
          ++r.bad_close;
          ++r.soak_stalled;
          p->c[0]->abort();
          p->c[1]->abort();
          p->progress = now;
        }
      if (now > t_soak_end + std::chrono::seconds(300)) return fail("soak did not wind down");
      check_stuck();
    });
  }

  LoadResult run() {
    r.rss_before_kb = rss_kb(opt.server_pid);
    if (opt.soak_seconds > 0) {
      soak = true;
      auto t0 = Clock::now();
      t_soak_end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.soak_seconds));
      for (uint32_t i = 0; i < opt.pairs; ++i) start_setup(*new_pair(i));
      sample_rss(t0);
      check_stuck();
      ioc.run();
      r.rss_after_kb = rss_kb(opt.server_pid);
      r.messages = r.soak_messages_verified;
    } else {
      cpu_at_setup = cpu_seconds(opt.server_pid);
      t_setup = Clock::now();
      uint32_t first = std::min(opt.concurrency, opt.pairs);
      pairs.reserve(opt.pairs);
      for (uint32_t i = 0; i < first; ++i) start_setup(*new_pair(setups_started++));
      watchdog.expires_after(std::chrono::seconds(600));
      watchdog.async_wait([this](beast::error_code ec) {
        if (!ec) fail("run did not finish within 600 s");
      });
      ioc.run();
    }
    r.p50_us = lat.pct(0.50);
    r.p99_us = lat.pct(0.99);
    r.p999_us = lat.pct(0.999);
    for (size_t us = 1001; us < lat.b.size(); ++us) r.over_1ms += lat.b[us];
    for (size_t w = 0; w < slow.size(); ++w)
      if (slow[w].first) r.slow_windows.emplace_back(static_cast<double>(w) / 10, slow[w].first, slow[w].second);
    r.max_us = static_cast<double>(lat.maxv);
    if (lat.n) r.latency_hist = std::move(lat.b);
    if (r.misdelivered || r.lost || r.bad_close) r.ok = false;
    return r;
  }
};

Conn::Conn(Load& l, Pair* p, int s) : L(l), pair(p), side(s), ws(l.ioc), delay(l.ioc) {}

void Conn::connect(const std::string& target) {
  auto& sock = beast::get_lowest_layer(ws).socket();
  beast::error_code ec;
  sock.open(tcp::v4(), ec);
  if (ec) return L.fail("socket: " + ec.message());
  // Spread the source address over 127.0.0.2-9 so N*2 connections do not exhaust one IP's ports.
  int one = 1;
  ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  uint32_t ip = (127u << 24) | (2u + (L.src_ip++ % 8));
  sock.bind(tcp::endpoint(net::ip::address_v4(ip), 0), ec);
  if (ec) return L.fail("bind: " + ec.message());
  sock.set_option(tcp::no_delay(true), ec);
  websocket::permessage_deflate pmd;
  pmd.client_enable = false;
  ws.set_option(pmd);
  ws.auto_fragment(false);
  ws.binary(true);
  ws.read_message_max(64u << 20);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(beast::http::field::sec_websocket_protocol, "fido.cable"); }));
  beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(30));
  beast::get_lowest_layer(ws).async_connect(
      L.ep(), [self = shared_from_this(), target](beast::error_code e) {
        if (e) return self->L.fail("connect: " + e.message());
        self->ws.async_handshake(self->res, self->L.opt.host, target, [self](beast::error_code e2) {
          if (e2) return self->L.fail("WebSocket handshake: " + e2.message());
          beast::get_lowest_layer(self->ws).expires_never();
          self->open = true;
          self->L.opened(*self);
        });
      });
}

void Conn::enqueue(std::string m) {
  if (ended) return;
  outq.push_back(std::move(m));
  if (!writing) do_write();
}

void Conn::do_write() {
  if (outq.empty()) {
    if (close_after_writes) {
      close_after_writes = false;
      ws.async_close(websocket::close_reason(static_cast<websocket::close_code>(close_with)),
                     [self = shared_from_this()](beast::error_code) {
                       if (!self->reading) self->end(self->ws.reason().code);
                     });
    }
    return;
  }
  writing = true;
  ws.async_write(net::buffer(outq.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
    self->writing = false;
    if (ec) {
      self->outq.clear();
      return;  // the read side reports the end
    }
    self->outq.pop_front();
    self->do_write();
  });
}

void Conn::read() {
  if (ended || reading) return;
  reading = true;
  ws.async_read(rbuf, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

void Conn::on_read(beast::error_code ec) {
  reading = false;
  if (ec) {
    end(ec == websocket::error::closed ? ws.reason().code : 0);
    return;
  }
  auto d = rbuf.data();
  last_rx = Clock::now();
  L.on_message(*this, static_cast<const uint8_t*>(d.data()), d.size());
  rbuf.consume(rbuf.size());
  if (rbuf.capacity() > 65536) rbuf.shrink_to_fit();
  if (slow_ms) {
    delay.expires_after(std::chrono::milliseconds(L.rng() % (slow_ms + 1)));
    delay_armed = Clock::now();
    delay.async_wait([self = shared_from_this()](beast::error_code) {
      self->delay_fired = Clock::now();
      self->read();
    });
  } else {
    read();
  }
}

void Conn::close(uint16_t code) {
  if (ended) return;
  close_with = code;
  close_after_writes = true;
  if (!writing) do_write();
}

void Conn::end(int code) {
  if (ended) return;
  ended = true;
  close_code = code;
  delay.cancel();
  abort();
  L.conn_ended(*this);
}

}  // namespace

LoadResult run_load(const LoadOptions& o) {
  Load l(o);
  return l.run();
}

}  // namespace hg::bench
