// SPDX-License-Identifier: Apache-2.0
#include "hybrid/tunnel_channel.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "hybrid/run.hpp"
#include "proto/domains.hpp"

namespace hg::hybrid {

namespace net = boost::asio;

net::awaitable<Result<Bytes>> WebSocketChannel::read() { return ws_->read(); }
net::awaitable<Status> WebSocketChannel::write(ByteView message) { return ws_->write(message); }
net::awaitable<void> WebSocketChannel::close(uint16_t code) { return ws_->close(code); }
void WebSocketChannel::cancel() { ws_->cancel(); }

Result<std::string> TunnelServer::url_for(uint16_t domain_id, std::string_view path) const {
  if (!override_url.empty()) {
    std::string base = override_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base + std::string(path);
  }
  HG_TRY(std::string name, tunnel_domain::name(domain_id));
  return "wss://" + name + std::string(path);
}

net::awaitable<Result<std::unique_ptr<tunnel::WebSocket>>> TunnelServer::connect(const tunnel::ConnectOptions& o) const {
  if (connector) co_return co_await connector->connect(o);
  co_return co_await tunnel::connect(o);
}

net::awaitable<Result<std::unique_ptr<WebSocketChannel>>> TunnelServer::open(
    uint16_t domain_id, std::string_view path, std::chrono::milliseconds timeout,
    std::vector<std::pair<std::string, std::string>> headers) const {
  auto url = url_for(domain_id, path);
  if (!url) co_return url.error();
  tunnel::ConnectOptions o;
  o.url = *url;
  o.timeout = timeout;  // enforced by the stream itself (TCP, TLS, upgrade)
  o.ca_file = ca_file;
  o.headers = std::move(headers);
  auto ws = co_await connect(o);
  if (!ws) co_return ws.error();
  co_return std::make_unique<WebSocketChannel>(std::move(ws).value());
}

}  // namespace hg::hybrid
