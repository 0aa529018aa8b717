// SPDX-License-Identifier: Apache-2.0
#include "tunnel/server/rate_limit.hpp"

#include <algorithm>

namespace hg::relay {

void RateLimiter::sweep(Clock::time_point now) {
  // Drop buckets that have refilled completely: forgetting them changes nothing.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    double t = it->second.tokens + std::chrono::duration<double>(now - it->second.last).count() * rate_;
    if (t >= burst_) it = buckets_.erase(it);
    else ++it;
  }
}

bool RateLimiter::allow(const std::string& key, Clock::time_point now) {
  full_ = false;
  if (!enabled()) return true;
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_) {
      // A sweep walks the whole table: at most one per 100 ms while it stays full.
      if (now - last_sweep_ >= std::chrono::milliseconds(100)) {
        last_sweep_ = now;
        sweep(now);
      }
      if (buckets_.size() >= max_) {
        full_ = true;  // table full of active clients: fail closed (it used to fail open), stay bounded
        return false;
      }
    }
    it = buckets_.emplace(key, Bucket{burst_, now}).first;
  }
  auto& b = it->second;
  b.tokens = std::min(burst_, b.tokens + std::chrono::duration<double>(now - b.last).count() * rate_);
  b.last = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

}  // namespace hg::relay
