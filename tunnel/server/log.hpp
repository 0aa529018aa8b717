// SPDX-License-Identifier: Apache-2.0
// Structured JSON logs: one object per line on stdout {ts, level, event, ...fields}.
// Never log a tunnel ID or a secret: use tunnel_tag() (8 hex of SHA-256 of the ID).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace hg::relay {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };
bool parse_level(std::string_view s, Level& out);

class Logger {
 public:
  Logger();
  void set_level(Level l) { level_ = l; }
  bool enabled(Level l) const { return l >= level_; }
  void log(Level l, std::string_view event, nlohmann::json fields = nlohmann::json::object());
  // Logs at most once per second per key; the next line carries how many were suppressed.
  void log_throttled(Level l, const std::string& key, std::string_view event, nlohmann::json fields);
  // Lines about one tunnel or contact (tunnel_finished, listener_attached, ...) share a token
  // bucket of `rate` lines per second, burst 2 x rate (0 = no limit), so that a busy relay stays
  // within journald's rate limit (10,000 lines per 30 s per service by default). True: log the
  // line now; false: not enabled, or counted by event for take_unlogged() (the periodic
  // log_summary line). Call it before building the line's fields.
  bool item(Level l, std::string_view event);
  void set_item_rate(double rate) { item_rate_ = rate; }
  std::map<std::string, uint64_t> take_unlogged() { return std::exchange(unlogged_, {}); }

 private:
  Level level_ = Level::info;
  bool journal_ = false;  // stdout is journald's stream: lines start with "<priority>"
  struct Throttle {
    std::chrono::steady_clock::time_point last{};
    uint64_t suppressed = 0;
  };
  std::map<std::string, Throttle> throttle_;
  double item_rate_ = 100, item_tokens_ = 200;
  std::chrono::steady_clock::time_point item_last_{};
  std::map<std::string, uint64_t> unlogged_;  // keys: the few per-item event names
};

// First 8 hex digits of SHA-256 over the 16 tunnel ID bytes.
std::string tunnel_tag(const uint8_t* id, size_t n);

}  // namespace hg::relay
