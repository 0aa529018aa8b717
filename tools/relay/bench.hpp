// SPDX-License-Identifier: Apache-2.0
// hybridgate-relay-bench: shared declarations (no Beast here).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

namespace hg::bench {

struct LoadOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  bool echo = false;            // target is the echo baseline (no pairing: one connection per flow)
  std::string routing_id;       // for connect URLs; empty = take it from X-caBLE-Routing-ID
  int server_pid = 0;           // for RSS sampling (0 = none)
  uint32_t pairs = 100;         // tunnel pairs (echo: 2 * pairs connections)
  uint32_t messages = 100;      // per direction per pair
  uint32_t size = 64;           // bytes per message (>= 16)
  uint32_t window = 4;          // messages in flight per direction
  uint32_t concurrency = 64;    // handshakes in flight
  double rate = 0;              // total messages/s (0 = as fast as possible)
  double soak_seconds = 0;      // > 0: soak mode
  uint32_t soak_max_message = 65536;  // the relay's --max-message-size in soak mode
  uint32_t seed = 1;
  bool verbose = false;
};

struct LoadResult {
  bool ok = true;
  std::string error;
  double setup_seconds = 0;     // opening all pairs / connections
  double units_per_s = 0;       // pairings/s (relay) or connections/s (echo)
  double traffic_seconds = 0;
  uint64_t messages = 0;        // messages through the server in the traffic phase
  double messages_per_s = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;  // one-way via relay, round trip via echo
  uint64_t over_1ms = 0;                      // messages slower than 1 ms
  // Where the slow messages were: 100 ms windows of the traffic phase holding at least one message
  // over 1 ms, as (window start in s, messages over 1 ms, worst latency in us). Clustered windows
  // point at a stalled process (scheduler), spread ones at the server.
  std::vector<std::tuple<double, uint32_t, uint32_t>> slow_windows;
  long rss_before_kb = 0, rss_open_kb = 0, rss_after_kb = 0;
  double server_cpu_us_per_unit = 0;  // the server's CPU in the setup phase / pairings (echo: connections)
  double server_cpu_us_per_msg = 0;  // the server's user+system CPU in the traffic phase / messages
  std::vector<uint32_t> latency_hist;  // 1 us buckets (the last one: >= 1 s), for pooling runs
  uint64_t misdelivered = 0, lost = 0, bad_close = 0;
  // soak
  uint64_t soak_tunnels = 0, soak_normal = 0, soak_abort = 0, soak_slow = 0, soak_oversize = 0;
  uint64_t soak_messages_verified = 0;
  uint64_t soak_stalled = 0;          // pairs with no progress for 30 s (aborted by the watchdog)
  double soak_longest_pair_s = 0;     // longest-lived finished pair
  std::vector<std::pair<double, long>> rss_series;  // (seconds, kB)
};

LoadResult run_load(const LoadOptions& o);
int run_echo_server(const std::string& listen, const std::string& port_file);
long rss_kb(int pid);
double cpu_seconds(int pid);  // user + system CPU time of a process, from /proc/<pid>/stat
double hist_pct(const std::vector<uint32_t>& hist, double p);

}  // namespace hg::bench
