// SPDX-License-Identifier: Apache-2.0
#include "hybrid/channel.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "hybrid/run.hpp"
#include "proto/domains.hpp"

namespace hg::hybrid {

namespace net = boost::asio;

template <typename T>
net::awaitable<Result<T>> with_deadline(std::chrono::milliseconds d, net::awaitable<Result<T>> op,
                                        std::function<void()> on_timeout, Errc code, std::string what) {
  auto ex = co_await net::this_coro::executor;
  auto timer = std::make_shared<net::steady_timer>(ex, d);
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
template net::awaitable<Result<Bytes>> with_deadline(std::chrono::milliseconds, net::awaitable<Result<Bytes>>,
                                                     std::function<void()>, Errc, std::string);
template net::awaitable<Result<tunnel::Message>> with_deadline(std::chrono::milliseconds,
                                                               net::awaitable<Result<tunnel::Message>>,
                                                               std::function<void()>, Errc, std::string);

net::awaitable<Result<Bytes>> Channel::read(std::chrono::milliseconds deadline, Errc closed_code, const char* waiting_for) {
  OnCancel on_cancel(co_await net::this_coro::executor, [this] { cancel(); });
  auto r = co_await with_deadline<Bytes>(
      deadline, read(), [this] { cancel(); }, Errc::session_deadline, std::string("waiting for ") + waiting_for);
  if (!r && r.error().code == Errc::tunnel_closed) co_return make_error(closed_code, r.error().detail);
  co_return r;
}

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
  auto ws = co_await tunnel::connect(o);
  if (!ws) co_return ws.error();
  co_return std::make_unique<WebSocketChannel>(std::move(ws).value());
}

}  // namespace hg::hybrid
