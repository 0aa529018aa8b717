// SPDX-License-Identifier: Apache-2.0
// A message channel between a desktop and a phone: whole messages in order, close, deadlines.
// The ceremonies (hybrid/desktop_session.hpp, hybrid/phone_session.hpp) run over any Channel:
// today the WebSocket tunnel through a relay (hybrid/tunnel_channel.hpp), later a CTAP 2.3 BLE
// L2CAP link (ble/), and in-memory pairs in tests. Nothing here knows a transport: tunnel/ and ble/
// do not know this interface, hybrid/ adapts each transport to it, so the two never include each
// other.
#pragma once

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace hg::hybrid {

class Channel {
 public:
  virtual ~Channel() = default;
  // The next whole message. The peer closing → tunnel.closed (detail "close CODE").
  virtual boost::asio::awaitable<Result<Bytes>> read() = 0;
  virtual boost::asio::awaitable<Status> write(ByteView message) = 0;
  // Closes with this code (best effort, bounded by a short deadline).
  virtual boost::asio::awaitable<void> close(uint16_t code) = 0;
  // Aborts pending operations at once; safe from any handler on the same io_context.
  virtual void cancel() = 0;

  // read() with a deadline: session.deadline ("waiting for WHAT") when it passes; a closed
  // channel → `closed_code` (with the close detail).
  boost::asio::awaitable<Result<Bytes>> read(std::chrono::milliseconds deadline, Errc closed_code,
                                            const char* waiting_for);
};

// Runs `op` with a deadline. When the deadline passes first, `on_timeout` is called (it must make
// `op` finish, typically by cancelling the socket) and the result is `code` instead.
template <typename T>
boost::asio::awaitable<Result<T>> with_deadline(std::chrono::milliseconds d, boost::asio::awaitable<Result<T>> op,
                                        std::function<void()> on_timeout, Errc code, std::string what) {
  auto ex = co_await boost::asio::this_coro::executor;
  auto timer = std::make_shared<boost::asio::steady_timer>(ex, d);
  auto fired = std::make_shared<bool>(false);
  auto finished = std::make_shared<bool>(false);
  timer->async_wait([fired, finished, on_timeout](const boost::system::error_code& ec) {
    if (!ec && !*finished) {
      *fired = true;
      on_timeout();
    }
  });
  auto r = co_await std::move(op);
  *finished = true;
  timer->cancel();
  if (*fired) co_return make_error(code, what);
  co_return r;
}

}  // namespace hg::hybrid
