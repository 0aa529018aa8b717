// SPDX-License-Identifier: Apache-2.0
// hybridgate-relay-bench: load tool for hybridgate-relay, with a baseline mode against a minimal
// Beast WebSocket echo server so every figure is quoted beside the same machine's ceiling.
//
//   hybridgate-relay-bench --relay-bin build/bin/hybridgate-relay --pairs 200 --messages 2000
//   hybridgate-relay-bench echo-server --listen 127.0.0.1:0 --port-file /tmp/p
//
// The servers run in their own processes (spawned here); the load runs in this one.
#pragma GCC diagnostic ignored "-Wnull-dereference"  // CLI11 2.1 + libstdc++ 12

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "bench.hpp"

using namespace hg::bench;

namespace {

struct Child {
  int pid = 0;
  uint16_t port = 0;
};

std::string self_exe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "hybridgate-relay-bench";
}

// --cpu-client / --cpu-server: pin the load and the server to their own cores, so that on a
// 2-core machine they do not take turns on one core (the scheduler then adds multi-millisecond
// waits to whichever message arrives while the other process holds the core).
bool pin_to(int cpu) {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

Child spawn(std::vector<std::string> args, const std::string& port_file, const std::string& log_file,
            int cpu = -1) {
  std::remove(port_file.c_str());
  Child c;
  c.pid = fork();
  if (c.pid == 0) {
    if (!pin_to(cpu)) _exit(126);
    FILE* f = std::freopen(log_file.c_str(), "w", stdout);
    (void)f;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  // Bounded wait for the port file (a tool, not a test: polling is fine here).
  for (int i = 0; i < 1000; ++i) {
    std::ifstream pf(port_file);
    int port = 0;
    if (pf >> port && port > 0) {
      c.port = static_cast<uint16_t>(port);
      return c;
    }
    int st;
    if (waitpid(c.pid, &st, WNOHANG) == c.pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::cerr << "bench: server " << args[0] << " did not start\n";
  c.pid = 0;
  return c;
}

void kill_child(Child& c) {
  if (c.pid <= 0) return;
  kill(c.pid, SIGKILL);
  int st;
  waitpid(c.pid, &st, 0);
  c.pid = 0;
}

bool show_slow = false;

void print(const char* what, const LoadOptions& o, const LoadResult& r) {
  std::printf("%-9s %s  setup %.3fs -> %.0f %s/s | %llu msgs in %.3fs -> %.0f msgs/s | latency p50 %.0f us p99 %.0f us max %.0f us",
              what, r.ok ? "ok  " : "FAIL", r.setup_seconds, r.units_per_s, o.echo ? "conn" : "pairings",
              static_cast<unsigned long long>(r.messages), r.traffic_seconds, r.messages_per_s, r.p50_us, r.p99_us,
              r.max_us);
  if (o.server_pid) {
    double per = o.echo ? 2.0 * o.pairs : o.pairs;
    std::printf(" | RSS %ld -> %ld kB open (%.2f KiB per %s), %ld kB after traffic", r.rss_before_kb, r.rss_open_kb,
                static_cast<double>(r.rss_open_kb - r.rss_before_kb) / per, o.echo ? "connection" : "tunnel",
                r.rss_after_kb);
  }
  std::printf("\n");
  if (o.server_pid && (r.server_cpu_us_per_unit > 0 || r.server_cpu_us_per_msg > 0)) {
    std::printf("          server CPU");
    if (r.server_cpu_us_per_unit > 0)
      std::printf(" %.1f us per %s", r.server_cpu_us_per_unit, o.echo ? "connection" : "pairing");
    if (r.server_cpu_us_per_msg > 0) std::printf(" %.1f us per message", r.server_cpu_us_per_msg);
    std::printf("\n");
  }
  if (o.rate > 0 || r.over_1ms)
    std::printf("          p99.9 %.0f us, %llu of %llu messages over 1 ms in %zu of %.0f 100-ms windows\n", r.p999_us,
                static_cast<unsigned long long>(r.over_1ms), static_cast<unsigned long long>(r.messages),
                r.slow_windows.size(), r.traffic_seconds * 10);
  if (show_slow)
    for (auto& [t, n, worst] : r.slow_windows) std::printf("          slow window at %.1f s: %u messages, worst %u us\n", t, n, worst);
  if (!r.ok) std::printf("          error: %s misdelivered=%llu lost=%llu bad_close=%llu\n", r.error.c_str(),
                         static_cast<unsigned long long>(r.misdelivered), static_cast<unsigned long long>(r.lost),
                         static_cast<unsigned long long>(r.bad_close));
  std::fflush(stdout);
}

// `noise`: spin on N threads reading the clock and count the gaps, i.e. how often and how long
// this machine takes a core away from a busy process. No server involved: the noise floor every
// latency figure sits on.
int run_noise(double seconds, int threads) {
  struct Gaps {
    uint64_t over_half_ms = 0, over_1ms = 0, max_ns = 0;
  };
  std::vector<Gaps> g(static_cast<size_t>(threads));
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i)
    ts.emplace_back([&, i] {
      using C = std::chrono::steady_clock;
      const auto end = C::now() + std::chrono::duration_cast<C::duration>(std::chrono::duration<double>(seconds));
      Gaps x;  // a local: the threads' entries of g share a cache line
      auto prev = C::now();
      for (auto now = prev; now < end; prev = now, now = C::now()) {
        const auto gap = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - prev).count());
        x.over_half_ms += gap > 500000;
        x.over_1ms += gap > 1000000;
        x.max_ns = std::max(x.max_ns, gap);
      }
      g[static_cast<size_t>(i)] = x;
    });
  for (auto& t : ts) t.join();
  for (int i = 0; i < threads; ++i)
    std::printf("thread %d: %.0f s spinning, %llu gaps over 0.5 ms, %llu over 1 ms, longest %.0f us\n", i, seconds,
                static_cast<unsigned long long>(g[static_cast<size_t>(i)].over_half_ms),
                static_cast<unsigned long long>(g[static_cast<size_t>(i)].over_1ms),
                static_cast<double>(g[static_cast<size_t>(i)].max_ns) / 1000);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hybridgate-relay-bench: load, latency, memory and soak tests for hybridgate-relay"};
  app.require_subcommand(0, 1);
  LoadOptions o;
  std::string relay_bin, target, tmp = "/tmp";
  std::vector<std::string> relay_args;
  bool no_baseline = false;
  int repeat = 1;
  app.option_defaults()->always_capture_default();
  app.add_option("--relay-bin", relay_bin, "Spawn this hybridgate-relay (bench-friendly limits) and load it");
  app.add_option("--relay-arg", relay_args, "Extra argument for the spawned relay (repeatable)")->allow_extra_args(false);
  app.add_option("--target", target, "Load an already running relay at HOST:PORT instead of spawning one");
  app.add_flag("--target-is-echo", o.echo, "With --target: it is an echo server (`echo-server`), load it as the baseline");
  app.add_option("--server-pid", o.server_pid, "With --target: the relay's pid, for RSS figures");
  app.add_flag("--no-baseline", no_baseline, "Skip the echo-server baseline run");
  app.add_option("--pairs", o.pairs, "Tunnel pairs (baseline: twice as many connections)");
  app.add_option("--messages", o.messages, "Messages per direction per pair (soak: at most this many)");
  app.add_option("--size", o.size, "Message size in bytes (>= 16)");
  app.add_option("--window", o.window, "Messages in flight per direction");
  app.add_option("--concurrency", o.concurrency, "Pair setups in flight");
  app.add_option("--rate", o.rate, "Total messages per second (0 = as fast as possible)");
  app.add_option("--soak", o.soak_seconds, "Soak for this many seconds: --pairs slots of churning tunnels with random "
                                           "early disconnects, slow readers and oversized frames");
  app.add_option("--soak-max-message", o.soak_max_message, "The spawned relay's --max-message-size in soak mode");
  app.add_option("--repeat", repeat, "Run baseline and relay this many times, alternating");
  app.add_option("--seed", o.seed, "Random seed");
  int cpu_client = -1, cpu_server = -1;
  app.add_option("--cpu-client", cpu_client, "Pin the load (this process) to this CPU (-1 = no pinning)");
  app.add_option("--cpu-server", cpu_server, "Pin the spawned server (echo and relay alike) to this CPU (-1 = no pinning)");
  app.add_flag("--show-slow", show_slow, "List the 100 ms windows that held messages over 1 ms");
  app.add_option("--tmp", tmp, "Directory for port files and server logs");

  std::string echo_listen = "127.0.0.1:0", echo_port_file;
  auto* echo = app.add_subcommand("echo-server", "Run the baseline Beast WebSocket echo server");
  echo->add_option("--listen", echo_listen, "Address:port");
  echo->add_option("--port-file", echo_port_file, "Write the bound port here");
  double noise_seconds = 5;
  int noise_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto* noise = app.add_subcommand("noise", "Measure the machine's scheduling noise: spin on N threads and count clock gaps");
  noise->add_option("--seconds", noise_seconds, "How long to spin");
  noise->add_option("--threads", noise_threads, "Spinning threads (default: one per CPU)")->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);
  if (*echo) return run_echo_server(echo_listen, echo_port_file);
  if (*noise) return run_noise(noise_seconds, noise_threads);

  if (relay_bin.empty() && target.empty()) {
    std::cerr << "bench: give --relay-bin or --target\n";
    return 2;
  }
  if (o.echo && target.empty()) {
    std::cerr << "bench: --target-is-echo goes with --target\n";
    return 2;
  }
  o.size = std::max<uint32_t>(o.size, 16);
  if (!pin_to(cpu_client)) {
    std::cerr << "bench: cannot pin to CPU " << cpu_client << "\n";
    return 2;
  }
  bool all_ok = true;
  std::vector<LoadResult> base, rel;
  // Latency histograms of all runs merged per server: with short alternating runs (ABAB...), a
  // burst of machine noise lands on both sides alike instead of on one 10-second run.
  std::vector<uint32_t> pooled_base, pooled_rel;
  auto pool = [](std::vector<uint32_t>& into, std::vector<uint32_t>& h) {
    if (h.empty()) return;
    if (into.empty()) into.resize(h.size());
    for (size_t i = 0; i < h.size() && i < into.size(); ++i) into[i] += h[i];
    h = {};
  };
  std::string pf = tmp + "/hg-bench-" + std::to_string(getpid()) + ".port";
  for (int i = 0; i < repeat; ++i) {
    if (!no_baseline && o.soak_seconds <= 0 && !relay_bin.empty()) {
      Child c = spawn({self_exe(), "echo-server", "--listen", "127.0.0.1:0", "--port-file", pf}, pf, "/dev/null",
                      cpu_server);
      if (!c.pid) return 1;
      LoadOptions eo = o;
      eo.echo = true;
      eo.port = c.port;
      eo.server_pid = c.pid;
      auto r = run_load(eo);
      kill_child(c);
      print("baseline", eo, r);
      pool(pooled_base, r.latency_hist);
      all_ok &= r.ok;
      base.push_back(r);
    }
    LoadOptions ro = o;
    Child c;
    if (!relay_bin.empty()) {
      std::vector<std::string> args = {relay_bin, "--listen", "127.0.0.1:0", "--port-file", pf, "--rate-new", "0",
                                       "--rate-connect", "0", "--max-tunnel-messages", "0", "--max-tunnel-bytes", "0",
                                       "--idle-timeout", "3600", "--tunnel-lifetime", "3600", "--wait-timeout", "3600",
                                       "--max-waiting-tunnels", "1000000", "--max-connections-per-client", "1000000",
                                       "--max-waiting-per-client", "1000000", "--max-connections-per-network", "0",
                                       "--max-waiting-per-network", "0", "--log-level", "warn"};
      if (o.soak_seconds > 0) {
        args.push_back("--max-message-size");
        args.push_back(std::to_string(o.soak_max_message));
      }
      for (auto& a : relay_args) args.push_back(a);
      c = spawn(args, pf, tmp + "/hg-bench-relay.log", cpu_server);
      if (!c.pid) return 1;
      ro.port = c.port;
      ro.server_pid = c.pid;
    } else {
      auto colon = target.rfind(':');
      ro.host = target.substr(0, colon);
      ro.port = static_cast<uint16_t>(std::stoi(target.substr(colon + 1)));
    }
    auto r = run_load(ro);
    kill_child(c);
    all_ok &= r.ok;
    if (o.soak_seconds > 0) {
      std::printf("soak %s: %.0f s, %llu tunnels (normal %llu, early disconnect %llu, slow reader %llu, oversized %llu), "
                  "%llu messages verified, misdelivered %llu, lost %llu, wrong close codes %llu\n",
                  r.ok ? "ok" : "FAIL", o.soak_seconds, static_cast<unsigned long long>(r.soak_tunnels),
                  static_cast<unsigned long long>(r.soak_normal), static_cast<unsigned long long>(r.soak_abort),
                  static_cast<unsigned long long>(r.soak_slow), static_cast<unsigned long long>(r.soak_oversize),
                  static_cast<unsigned long long>(r.soak_messages_verified),
                  static_cast<unsigned long long>(r.misdelivered), static_cast<unsigned long long>(r.lost),
                  static_cast<unsigned long long>(r.bad_close));
      std::printf("soak stalled pairs (no progress for 30 s) %llu, longest pair %.1f s\n",
                  static_cast<unsigned long long>(r.soak_stalled), r.soak_longest_pair_s);
      std::printf("soak relay RSS (s: kB):");
      for (auto& [t, kb] : r.rss_series) std::printf(" %.0f:%ld", t, kb);
      std::printf(" end:%ld\nsoak latency p50 %.0f us p99 %.0f us\n", r.rss_after_kb, r.p50_us, r.p99_us);
      if (!r.error.empty()) std::printf("error: %s\n", r.error.c_str());
    } else {
      print("relay", ro, r);
      pool(pooled_rel, r.latency_hist);
    }
    rel.push_back(r);
  }
  const bool traffic = o.messages > 0;
  if (!base.empty() && !rel.empty()) {
    for (size_t i = 0; i < rel.size() && i < base.size(); ++i) {
      std::printf("ratio run %zu: pairings/s / baseline conn/s = %.2f", i + 1, rel[i].units_per_s / base[i].units_per_s);
      if (traffic)
        std::printf(" ; messages/s relay/baseline = %.2f ; p99 relay - baseline = %+.0f us",
                    rel[i].messages_per_s / base[i].messages_per_s, rel[i].p99_us - base[i].p99_us);
      std::printf("\n");
    }
  }
  if (base.size() > 1 && rel.size() > 1) {
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    };
    std::vector<double> mr, pr, dl, cr, cu;
    for (size_t i = 0; i < rel.size() && i < base.size(); ++i) {
      mr.push_back(rel[i].messages_per_s / base[i].messages_per_s);
      pr.push_back(rel[i].units_per_s / base[i].units_per_s);
      dl.push_back(rel[i].p99_us - base[i].p99_us);
      if (base[i].server_cpu_us_per_unit > 0 && rel[i].server_cpu_us_per_unit > 0) cu.push_back(rel[i].server_cpu_us_per_unit / base[i].server_cpu_us_per_unit);
      if (base[i].server_cpu_us_per_msg > 0 && rel[i].server_cpu_us_per_msg > 0) cr.push_back(rel[i].server_cpu_us_per_msg / base[i].server_cpu_us_per_msg);
    }
    std::printf("median of %zu runs: pairings/s ratio %.2f", mr.size(), median(pr));
    if (traffic)
      std::printf(" ; messages/s ratio %.2f ; p99 relay - baseline %+.0f us (worst run %+.0f us)", median(mr), median(dl),
                  *std::max_element(dl.begin(), dl.end()));
    std::printf("\n");
    if (!cu.empty())
      std::printf("median server CPU per pairing / baseline's per connection %.2f (2.00 = a pairing costs exactly two "
                  "echo connections)\n", median(cu));
    if (traffic && !cr.empty()) std::printf("median server CPU per message relay/baseline %.2f\n", median(cr));
    if (traffic && !pooled_base.empty() && !pooled_rel.empty())
      std::printf("pooled over the %zu alternating runs: latency p50 baseline %.0f us relay %.0f us ; p99 baseline %.0f us "
                  "relay %.0f us ; p99 relay - baseline %+.0f us ; p99.9 baseline %.0f us relay %.0f us\n",
                  rel.size(), hist_pct(pooled_base, 0.5), hist_pct(pooled_rel, 0.5), hist_pct(pooled_base, 0.99),
                  hist_pct(pooled_rel, 0.99), hist_pct(pooled_rel, 0.99) - hist_pct(pooled_base, 0.99),
                  hist_pct(pooled_base, 0.999), hist_pct(pooled_rel, 0.999));
  }
  std::printf("%s\n", all_ok ? "RESULT ok" : "RESULT FAIL");
  return all_ok ? 0 : 1;
}
