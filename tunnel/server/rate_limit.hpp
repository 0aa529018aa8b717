// SPDX-License-Identifier: Apache-2.0
// Per-client-IP token buckets with a bounded table.
#pragma once

#include <chrono>
#include <string>
#include <unordered_map>

namespace hg::relay {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimiter(double rate_per_s, double burst, size_t max_entries)
      : rate_(rate_per_s), burst_(burst < 1 ? 1 : burst), max_(max_entries) {}
  // New rate, burst and table size (SIGHUP); buckets keep their tokens (capped at the new burst).
  void configure(double rate_per_s, double burst, size_t max_entries) {
    rate_ = rate_per_s;
    burst_ = burst < 1 ? 1 : burst;
    max_ = max_entries;
    for (auto& [k, b] : buckets_)
      if (b.tokens > burst_) b.tokens = burst_;
  }
  bool enabled() const { return rate_ > 0; }
  // Takes one token for `key`; false = rate limited, or (table_full()) a new key while the table
  // is full of keys that are not at their full burst: the limiter fails closed.
  bool allow(const std::string& key, Clock::time_point now = Clock::now());
  bool table_full() const { return full_; }
  size_t size() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  void sweep(Clock::time_point now);
  double rate_, burst_;
  size_t max_;
  bool full_ = false;
  Clock::time_point last_sweep_{};
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace hg::relay
