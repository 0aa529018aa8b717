// SPDX-License-Identifier: Apache-2.0
// A message channel between a desktop and a phone: whole messages in order, close, deadlines.
// The ceremonies (hybrid/session.hpp) run over any Channel: today the WebSocket tunnel through a
// relay (tunnel/client, wrapped here), later a CTAP 2.3 BLE L2CAP link (ble/). tunnel/ and ble/
// do not know this interface; hybrid/ adapts each transport to it, so the two never include each
// other.
#pragma once

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "proto/bytes.hpp"
#include "proto/error.hpp"
#include "tunnel/client/websocket.hpp"

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

// The WebSocket tunnel as a Channel (owns the WebSocket).
class WebSocketChannel final : public Channel {
 public:
  explicit WebSocketChannel(std::unique_ptr<tunnel::WebSocket> ws) : ws_(std::move(ws)) {}
  boost::asio::awaitable<Result<Bytes>> read() override;
  boost::asio::awaitable<Status> write(ByteView message) override;
  boost::asio::awaitable<void> close(uint16_t code) override;
  void cancel() override;
  using Channel::read;
  const tunnel::HandshakeInfo& handshake() const { return ws_->handshake(); }
  tunnel::WebSocket& socket() { return *ws_; }

 private:
  std::unique_ptr<tunnel::WebSocket> ws_;
};

// Runs `op` with a deadline. When the deadline passes first, `on_timeout` is called (it must make
// `op` finish, typically by cancelling the socket) and the result is `code` instead.
template <typename T>
boost::asio::awaitable<Result<T>> with_deadline(std::chrono::milliseconds d, boost::asio::awaitable<Result<T>> op,
                                                std::function<void()> on_timeout, Errc code, std::string what);

// How to reach tunnel servers: by domain ID (docs/protocol.md), or every domain mapped to one
// base URL (self-hosting and tests: "ws://127.0.0.1:8080").
struct TunnelServer {
  std::string override_url;
  std::string ca_file;  // extra trusted CA for wss://
  Result<std::string> url_for(uint16_t domain_id, std::string_view path) const;
  // Opens a WebSocket channel to `path` at the server for `domain_id`.
  boost::asio::awaitable<Result<std::unique_ptr<WebSocketChannel>>> open(
      uint16_t domain_id, std::string_view path, std::chrono::milliseconds timeout,
      std::vector<std::pair<std::string, std::string>> headers = {}) const;
};

}  // namespace hg::hybrid
