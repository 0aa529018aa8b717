// SPDX-License-Identifier: Apache-2.0
#include "messaging.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace hg::bridge {
namespace {

// Reads exactly n bytes. Returns the count read before end of input (n when complete).
Result<size_t> read_exact(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, buf + got, n - got);
    if (r == 0) return got;
    if (r < 0) {
      if (errno == EINTR) continue;
      return make_error(Errc::io, std::string("reading standard input: ") + std::strerror(errno));
    }
    got += size_t(r);
  }
  return got;
}

Status write_all(int fd, const char* buf, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return make_error(Errc::io, std::string("writing standard output: ") + std::strerror(errno));
    }
    buf += w;
    n -= size_t(w);
  }
  return ok_status();
}

}  // namespace

Result<std::optional<nlohmann::json>> read_message(int fd) {
  uint32_t length = 0;
  HG_TRY(size_t got, read_exact(fd, reinterpret_cast<char*>(&length), sizeof length));
  if (got == 0) return std::optional<nlohmann::json>();
  if (got != sizeof length) return make_error(Errc::io, "the browser's message ended inside its length");
  if (length > kMaxIncoming) return make_error(Errc::invalid_argument, "the browser's message is too large");
  std::string text(length, '\0');
  HG_TRY(got, read_exact(fd, text.data(), length));
  if (got != length) return make_error(Errc::io, "the browser's message ended early");
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return make_error(Errc::invalid_argument, "the browser's message is not a JSON object");
  return std::optional<nlohmann::json>(std::move(j));
}

Status Writer::write(const nlohmann::json& message) {
  const std::string text = message.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
  if (text.size() > kMaxOutgoing) return make_error(Errc::invalid_argument, "a message to the browser is too large");
  const auto length = uint32_t(text.size());
  std::lock_guard lock(mutex_);
  HG_CHECK(write_all(fd_, reinterpret_cast<const char*>(&length), sizeof length));
  return write_all(fd_, text.data(), text.size());
}

}  // namespace hg::bridge
