// SPDX-License-Identifier: Apache-2.0
#include "tunnel/server/log.hpp"

#include <algorithm>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <cerrno>
#include <ctime>

#include "proto/bytes.hpp"
#include "proto/crypto.hpp"

namespace hg::relay {

bool parse_level(std::string_view s, Level& out) {
  if (s == "debug") out = Level::debug;
  else if (s == "info") out = Level::info;
  else if (s == "warn") out = Level::warn;
  else if (s == "error") out = Level::error;
  else return false;
  return true;
}

namespace {
const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

std::string now_iso() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}
}  // namespace

// Under systemd with StandardOutput=journal, $JOURNAL_STREAM names stdout's device:inode; journald
// then takes a leading "<N>" as the line's syslog priority (sd-daemon(3)).
Logger::Logger() {
  const char* js = std::getenv("JOURNAL_STREAM");
  struct stat st {};
  if (!js || fstat(STDOUT_FILENO, &st) != 0) return;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return;
  journal_ = dev == static_cast<unsigned long long>(st.st_dev) && ino == static_cast<unsigned long long>(st.st_ino);
}

void Logger::log(Level l, std::string_view event, nlohmann::json fields) {
  if (!enabled(l)) return;
  nlohmann::json j = nlohmann::json::object();
  j["ts"] = now_iso();
  j["level"] = level_name(l);
  j["event"] = std::string(event);
  if (fields.is_object())
    for (auto& [k, v] : fields.items()) j[k] = std::move(v);
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  if (journal_) {  // syslog priorities: debug 7, info 6, warning 4, err 3
    static constexpr const char* kPrio[] = {"<7>", "<6>", "<4>", "<3>"};
    line.insert(0, kPrio[static_cast<int>(l)]);
  }
  // One write per line so concurrent readers of the log never see half a line.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t w = ::write(STDOUT_FILENO, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
}

void Logger::log_throttled(Level l, const std::string& key, std::string_view event, nlohmann::json fields) {
  if (!enabled(l)) return;
  auto now = std::chrono::steady_clock::now();
  if (throttle_.size() > 256) throttle_.clear();  // keys are a small fixed set; bound anyway
  auto& t = throttle_[key];
  if (t.last != std::chrono::steady_clock::time_point{} && now - t.last < std::chrono::seconds(1)) {
    ++t.suppressed;
    return;
  }
  if (t.suppressed) fields["suppressed_since_last"] = t.suppressed;
  t.suppressed = 0;
  t.last = now;
  log(l, event, std::move(fields));
}

bool Logger::item(Level l, std::string_view event) {
  if (!enabled(l)) return false;
  if (!(item_rate_ > 0)) return true;
  const auto now = std::chrono::steady_clock::now();
  const double burst = 2 * item_rate_;
  if (item_last_ == std::chrono::steady_clock::time_point{}) item_tokens_ = burst;
  else item_tokens_ = std::min(burst, item_tokens_ + std::chrono::duration<double>(now - item_last_).count() * item_rate_);
  item_last_ = now;
  if (item_tokens_ >= 1) {
    item_tokens_ -= 1;
    return true;
  }
  ++unlogged_[std::string(event)];
  return false;
}

std::string tunnel_tag(const uint8_t* id, size_t n) {
  auto d = crypto::sha256(ByteView(id, n));
  return hex_encode(ByteView(d.data(), 4));
}

}  // namespace hg::relay
