// SPDX-License-Identifier: Apache-2.0
// The browsers' native messaging framing on a pair of file descriptors: each message is a 32-bit
// length in native byte order, then that many bytes of UTF-8 JSON (Firefox and Chromium alike).
// Browser → host messages may be up to 4 GiB by the protocol; we refuse more than kMaxIncoming.
// Host → browser messages must stay under 1 MiB (the browsers' limit); write() refuses larger.
#pragma once

#include <cstddef>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "proto/error.hpp"

namespace hg::bridge {

inline constexpr size_t kMaxIncoming = 4 << 20;   // options are at most 1 MiB (webauthn.hpp)
inline constexpr size_t kMaxOutgoing = 1 << 20;   // Chromium and Firefox: 1 MB host → browser

// Reads one message. nullopt at a clean end of input (the browser closed the port); an error for
// a truncated frame, an oversized length or text that is not a JSON object.
Result<std::optional<nlohmann::json>> read_message(int fd);

// Writes messages whole; safe to call from several threads.
class Writer {
 public:
  explicit Writer(int fd) : fd_(fd) {}
  Status write(const nlohmann::json& message);

 private:
  int fd_;
  std::mutex mutex_;
};

}  // namespace hg::bridge
