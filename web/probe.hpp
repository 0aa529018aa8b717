// SPDX-License-Identifier: Apache-2.0
// A TCP connection attempt to the tunnel server (the relay) a QR ceremony will use, made while the
// QR code is shown (the browser host does so): the phone only contacts the relay after it scanned the code, so without this
// probe a relay that is down shows as a long wait for the phone and then a Bluetooth error. The
// probe opens and closes a TCP connection (no TLS, no WebSocket: it says the relay's port answers,
// nothing more), bounded by the connect deadline; stop() ends it early.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "proto/error.hpp"

namespace hg::web {

class RelayProbe {
 public:
  RelayProbe();
  ~RelayProbe();
  RelayProbe(const RelayProbe&) = delete;
  RelayProbe& operator=(const RelayProbe&) = delete;

  // Connects to the host and port of `tunnel_url` (ws:// or wss://) within `deadline`: ok, or
  // tunnel.unreachable naming the relay (detail: host:port and the reason), or url.invalid.
  // Blocks; another thread may call stop() (then the result is session.cancelled).
  Status run(const std::string& tunnel_url, std::chrono::milliseconds deadline);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hg::web
