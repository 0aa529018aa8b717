// SPDX-License-Identifier: Apache-2.0
// WebSocket client for the tunnel (docs/protocol.md §4): ws:// and wss:// (system CA store plus an optional
// extra CA file, SNI, host-name verification), subprotocol fido.cable, one binary message per
// protocol message, 1 MiB incoming limit. Beast stays inside websocket.cpp; this header exposes
// coroutine functions only.
#pragma once

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proto/bytes.hpp"
#include "web/url.hpp"

namespace hg::tunnel {

struct ConnectOptions {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
  std::chrono::milliseconds timeout{15000};                   // connect + TLS + upgrade
  std::string ca_file;                                         // extra trusted CA (PEM), optional
  size_t max_message_size = 1 << 20;                           // Chromium's kMaxIncomingMessageSize
  // Long-lived connections (a phone's listen connection): ping when idle this long, close when
  // the peer stays silent for twice as long. Zero = no pings.
  std::chrono::milliseconds keepalive{0};
};

struct HandshakeInfo {
  int status = 0;
  std::optional<std::string> routing_id;  // X-caBLE-Routing-ID (only if present exactly once)
  int routing_id_count = 0;
  bool signal_connection = false;  // the server echoed X-caBLE-Signal-Connection
  // Every response header, names lower-cased (the last value wins for repeated names).
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> header(std::string_view lower_name) const {
    for (const auto& [k, v] : headers)
      if (k == lower_name) return v;
    return std::nullopt;
  }
};

struct Message {
  bool text = false;
  Bytes data;
};

class WebSocket {
 public:
  virtual ~WebSocket() = default;
  // The next binary message. A close from the peer → tunnel.closed with the close code in the
  // detail ("close 1001"); a text message → tunnel.protocol.
  virtual boost::asio::awaitable<Result<Bytes>> read() = 0;
  // The next message, binary or text (for the listen connection's wake-ups).
  virtual boost::asio::awaitable<Result<Message>> read_any() = 0;
  virtual boost::asio::awaitable<Status> write_text(std::string_view text) = 0;
  virtual boost::asio::awaitable<Status> write(ByteView message) = 0;
  // Sends a close frame (best effort, bounded by a short timeout).
  virtual boost::asio::awaitable<void> close(uint16_t code) = 0;
  // Aborts pending operations at once (deadline, cancellation). Safe from any handler on the
  // same io_context.
  virtual void cancel() = 0;
  const HandshakeInfo& handshake() const { return info_; }
  // The close code the peer sent, if it closed.
  std::optional<uint16_t> peer_close_code() const { return peer_close_; }

 protected:
  HandshakeInfo info_;
  std::optional<uint16_t> peer_close_;
};

// Connects and upgrades. Errors: url.invalid, tunnel.unreachable (DNS, TCP, TLS, timeout),
// tunnel.refused (non-101, status in the detail), tunnel.gone (410), tunnel.protocol (the
// server did not select fido.cable).
boost::asio::awaitable<Result<std::unique_ptr<WebSocket>>> connect(const ConnectOptions& opts);

}  // namespace hg::tunnel
