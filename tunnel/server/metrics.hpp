// SPDX-License-Identifier: Apache-2.0
// Relay metrics, rendered in the Prometheus text exposition format (version 0.0.4).
// The relay is single-threaded, so plain integers suffice.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace hg::relay {

// Bucket bounds (seconds): latencies, and whole-tunnel durations (up to --tunnel-lifetime).
inline const std::vector<double> kLatencyBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,    0.25,  0.5,    1,     2.5,   10,   60};
inline const std::vector<double> kDurationBounds = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds = kLatencyBounds) : bounds_(bounds), counts_(bounds.size()) {}
  void observe(double v);
  void render(std::string& out, const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0;
};

struct Metrics {
  Metrics();  // every documented label value present (at 0) from the start  // gauges
  int64_t tunnels_waiting = 0;
  int64_t tunnels_active = 0;
  int64_t connections_open = 0;
  bool draining = false;
  int64_t buffered_bytes = 0;  // message buffers charged to the memory budget
  int64_t handshaking = 0;     // connections before their complete HTTP request
  // counters
  uint64_t connections_total = 0;
  uint64_t upgrades_new = 0, upgrades_connect = 0;
  uint64_t tunnels_paired = 0;
  uint64_t messages_relayed = 0, bytes_relayed = 0;
  uint64_t tls_handshake_failures = 0;
  uint64_t malloc_trims = 0;
  uint64_t tls_reloads_ok = 0, tls_reloads_failed = 0;
  uint64_t config_reloads_ok = 0, config_reloads_failed = 0;
  std::map<std::string, uint64_t> tunnels_finished;  // by outcome
  std::map<std::string, uint64_t> rejections;        // HTTP rejections by reason
  std::map<std::string, uint64_t> limit_hits;        // every limit hit, by limit
  std::map<uint16_t, uint64_t> close_codes;          // close codes the relay sent (0: "other")
  Histogram pairing_latency;                         // phone open -> desktop open, seconds
  Histogram tunnel_duration{kDurationBounds};        // a tunnel's whole life, phone open -> finished, seconds
  Histogram loop_lag;                                // how late the event loop ran a timer, seconds
  double tls_not_after = 0;                          // the TLS certificate's notAfter (Unix seconds); 0 = no TLS
  std::vector<std::pair<std::string, double>> limits;  // every effective limit (Core::publish_limits)
  // linked phones (docs/linking.md)
  uint64_t upgrades_contact = 0, upgrades_listen = 0;
  int64_t contacts_registered = 0, contacts_revoked = 0, listeners_open = 0, webhook_in_flight = 0;
  uint64_t contacts_revoked_total = 0;
  uint64_t store_errors = 0;
  std::map<std::string, uint64_t> wakeups;           // wake-ups sent, by channel (listen, webhook)
  std::map<std::string, uint64_t> contact_requests;  // /cable/contact answers, by HTTP status
  std::map<std::string, uint64_t> webhook_results;   // delivered, gone, refused, failed

  std::string render() const;
};

}  // namespace hg::relay
