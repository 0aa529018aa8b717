// SPDX-License-Identifier: Apache-2.0
// The WebSocket tunnel through a relay as a Channel, and how to reach tunnel servers.
#pragma once

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hybrid/channel.hpp"
#include "tunnel/client/websocket.hpp"

namespace hg::hybrid {

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

// Opens the WebSocket connections of the ceremonies (tunnels and the phone's listen connection).
// The seam for in-process tests: a TunnelServer without a connector uses the network
// (tunnel::connect); tests/doubles/ has an in-process tunnel server that implements this, so whole
// ceremonies run in one process without sockets. Same contract as tunnel::connect: the options'
// URL, headers and timeout; the errors of tunnel/client/websocket.hpp.
class TunnelConnector {
 public:
  virtual ~TunnelConnector() = default;
  virtual boost::asio::awaitable<Result<std::unique_ptr<tunnel::WebSocket>>> connect(
      const tunnel::ConnectOptions& options) = 0;
};

// How to reach tunnel servers: by domain ID (docs/protocol.md), or every domain mapped to one
// base URL (self-hosting and tests: "ws://127.0.0.1:8080").
struct TunnelServer {
  std::string override_url;
  std::string ca_file;  // extra trusted CA for wss://
  // null (real runs) = the network; set only by tests (see TunnelConnector).
  std::shared_ptr<TunnelConnector> connector = nullptr;
  Result<std::string> url_for(uint16_t domain_id, std::string_view path) const;
  // tunnel::connect, or the connector when one is set.
  boost::asio::awaitable<Result<std::unique_ptr<tunnel::WebSocket>>> connect(const tunnel::ConnectOptions& options) const;
  // Opens a WebSocket channel to `path` at the server for `domain_id`.
  boost::asio::awaitable<Result<std::unique_ptr<WebSocketChannel>>> open(
      uint16_t domain_id, std::string_view path, std::chrono::milliseconds timeout,
      std::vector<std::pair<std::string, std::string>> headers = {}) const;
};

}  // namespace hg::hybrid
