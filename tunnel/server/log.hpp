// SPDX-License-Identifier: Apache-2.0
// Structured JSON logs: one object per line on stdout {ts, level, event, ...fields}.
// Never log a tunnel ID or a secret: use tunnel_tag() (8 hex of SHA-256 of the ID).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

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

 private:
  Level level_ = Level::info;
  bool journal_ = false;  // stdout is journald's stream: lines start with "<priority>"
  struct Throttle {
    std::chrono::steady_clock::time_point last{};
    uint64_t suppressed = 0;
  };
  std::map<std::string, Throttle> throttle_;
};

// First 8 hex digits of SHA-256 over the 16 tunnel ID bytes.
std::string tunnel_tag(const uint8_t* id, size_t n);

}  // namespace hg::relay
