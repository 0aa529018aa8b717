// SPDX-License-Identifier: Apache-2.0
// The only translation unit of the client that includes Boost.Beast.
#include "tunnel/client/websocket.hpp"

#include "web/tls.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <algorithm>
#include <cctype>
#include <limits>

namespace hg::tunnel {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using net::use_awaitable;

namespace {

constexpr std::string_view kSubprotocol = "fido.cable";
constexpr std::chrono::seconds kCloseWait{2};

// Everything the server sends before the WebSocket is up (TLS handshake, the HTTP answer to the
// upgrade and any error body) is read within this many bytes: a relay that answers with a huge
// error body costs this much, not the 8 MB Beast's response parser would accept. A stream rate
// policy (Beast's hook for bounding reads) stops reading at the bound; the upgrade's deadline then
// ends the attempt, reported as an answer over the bound.
constexpr size_t kUpgradeReadMax = 64 * 1024;

class UpgradeReadBound {
  friend class beast::rate_policy_access;
  static constexpr size_t kAll = (std::numeric_limits<size_t>::max)();
  size_t available_read_bytes() const noexcept { return bounded_ ? left_ : kAll; }
  size_t available_write_bytes() const noexcept { return kAll; }
  void transfer_read_bytes(size_t n) noexcept {
    if (bounded_) left_ -= std::min(n, left_);
  }
  void transfer_write_bytes(size_t) const noexcept {}
  void on_timer() const noexcept {}

 public:
  void lift() noexcept { bounded_ = false; }  // the WebSocket is up
  bool exhausted() const noexcept { return bounded_ && left_ == 0; }

 private:
  size_t left_ = kUpgradeReadMax;
  bool bounded_ = true;
};
using TcpStream = beast::basic_stream<tcp, net::any_io_executor, UpgradeReadBound>;

template <typename Stream>
class Impl final : public WebSocket {
 public:
  explicit Impl(Stream&& s, std::shared_ptr<ssl::context> ctx = nullptr)
      : ctx_(std::move(ctx)), ws_(std::move(s)), close_timer_(ws_.get_executor()) {
    // Beast 1.74 waits without a deadline for the TCP close that should follow the peer's close
    // frame. When a close frame arrives, give the peer kCloseWait, then close the socket ourselves
    // (the read then ends and reports the peer's close code).
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind != websocket::frame_type::close) return;
      close_received_ = true;
      close_timer_.expires_after(kCloseWait);
      close_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const beast::error_code& ec) {
        if (!ec && !alive.expired()) cancel();
      });
    });
  }
  ~Impl() override { close_timer_.cancel(); }
  websocket::stream<Stream>& ws() { return ws_; }
  HandshakeInfo& info() { return info_; }

  net::awaitable<Result<Message>> read_any() override {
    beast::flat_buffer buf;
    beast::error_code ec;
    co_await ws_.async_read(buf, net::redirect_error(use_awaitable, ec));
    if (ec == websocket::error::closed || (ec && close_received_)) {
      close_timer_.cancel();
      peer_close_ = static_cast<uint16_t>(ws_.reason().code);
      co_return make_error(Errc::tunnel_closed, "close " + std::to_string(ws_.reason().code));
    }
    if (ec == websocket::error::message_too_big) co_return make_error(Errc::tunnel_protocol, "message over the size limit");
    if (ec) co_return make_error(Errc::tunnel_closed, ec.message());
    auto data = buf.data();
    const auto* p = static_cast<const uint8_t*>(data.data());
    co_return Message{!ws_.got_binary(), Bytes(p, p + data.size())};
  }

  net::awaitable<Result<Bytes>> read() override {
    auto m = co_await read_any();
    if (!m) co_return m.error();
    if (m->text) co_return make_error(Errc::tunnel_protocol, "text message");
    co_return std::move(m->data);
  }

  net::awaitable<Status> write_text(std::string_view text) override {
    beast::error_code ec;
    ws_.text(true);
    co_await ws_.async_write(net::buffer(text.data(), text.size()), net::redirect_error(use_awaitable, ec));
    ws_.binary(true);
    if (ec) co_return make_error(Errc::tunnel_closed, ec.message());
    co_return ok_status();
  }

  net::awaitable<Status> write(ByteView message) override {
    beast::error_code ec;
    ws_.binary(true);
    co_await ws_.async_write(net::buffer(message.data(), message.size()), net::redirect_error(use_awaitable, ec));
    if (ec) co_return make_error(Errc::tunnel_closed, ec.message());
    co_return ok_status();
  }

  net::awaitable<void> close(uint16_t code) override {
    if (!ws_.is_open()) co_return;
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(2));
    beast::error_code ec;
    co_await ws_.async_close(websocket::close_reason(code), net::redirect_error(use_awaitable, ec));
    beast::get_lowest_layer(ws_).close();
  }

  void cancel() override {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).close();
  }

 private:
  std::shared_ptr<ssl::context> ctx_;  // TLS only; must outlive ws_ (declared first)
  websocket::stream<Stream> ws_;
  net::steady_timer close_timer_;
  bool close_received_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // expires with this object
};

template <typename Stream>
net::awaitable<Result<std::unique_ptr<WebSocket>>> upgrade(std::unique_ptr<Impl<Stream>> impl, const web::Url& u,
                                                           const ConnectOptions& opts) {
  auto& ws = impl->ws();
  ws.read_message_max(opts.max_message_size);
  if (opts.keepalive.count() > 0)
    ws.set_option(websocket::stream_base::timeout{opts.timeout, opts.keepalive * 2, true});
  else
    ws.set_option(websocket::stream_base::timeout{opts.timeout, websocket::stream_base::none(), false});
  const auto headers = opts.headers;
  ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    req.set(http::field::sec_websocket_protocol, beast::string_view(kSubprotocol.data(), kSubprotocol.size()));
    req.set(http::field::user_agent, "hybridgate/0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
  }));
  const std::string host_header = u.host_header();
  websocket::response_type res;
  beast::error_code ec;
  co_await ws.async_handshake(res, host_header, u.target, net::redirect_error(use_awaitable, ec));
  HandshakeInfo& info = impl->info();
  info.status = res.result_int();
  // Say what the server actually did: nothing, hung up, another HTTP answer, or garbage. (The
  // response's status reads 200 when no response arrived at all: look at ec first.)
  if (beast::get_lowest_layer(ws).rate_policy().exhausted())
    co_return make_error(Errc::tunnel_protocol, "the server's answer to the WebSocket upgrade is over " +
                                                    std::to_string(kUpgradeReadMax / 1024) + " KiB; not read further");
  if (ec == beast::error::timeout)
    co_return make_error(Errc::tunnel_unreachable, "the server did not answer the WebSocket upgrade within " +
                                                       std::to_string(opts.timeout.count() / 1000) + " s");
  if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset)
    co_return make_error(Errc::tunnel_unreachable, "the server closed the connection without answering the upgrade");
  if (ec == websocket::error::upgrade_declined) {
    if (info.status == 410) co_return make_error(Errc::tunnel_gone, "HTTP 410");
    co_return make_error(Errc::tunnel_refused, "the server answered HTTP " + std::to_string(info.status) + " " +
                                                   std::string(res.reason()) + " instead of 101 Switching Protocols");
  }
  if (ec) co_return make_error(Errc::tunnel_protocol, "bad answer to the WebSocket upgrade: " + ec.message());
  const auto selected = res[http::field::sec_websocket_protocol];
  if (std::string_view(selected.data(), selected.size()) != kSubprotocol)
    co_return make_error(Errc::tunnel_protocol, "the server did not select the fido.cable subprotocol");
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    info.headers.emplace_back(std::move(name), std::string(field.value()));
    if (beast::iequals(field.name_string(), "X-caBLE-Routing-ID")) {
      ++info.routing_id_count;
      info.routing_id = std::string(field.value());
    }
    if (beast::iequals(field.name_string(), "X-caBLE-Signal-Connection")) info.signal_connection = true;
  }
  if (info.routing_id_count != 1) info.routing_id.reset();
  beast::get_lowest_layer(ws).rate_policy().lift();
  // From now on a close handshake (either side's) waits at most kCloseWait for the other side's
  // close frame and TCP close: a peer that sends a close frame and keeps TCP open is let go then.
  ws.set_option(websocket::stream_base::timeout{kCloseWait,
                                                opts.keepalive.count() > 0 ? opts.keepalive * 2
                                                                           : websocket::stream_base::none(),
                                                opts.keepalive.count() > 0});
  std::unique_ptr<WebSocket> out = std::move(impl);
  co_return out;
}

}  // namespace

net::awaitable<Result<std::unique_ptr<WebSocket>>> connect(const ConnectOptions& opts) {
  auto u = web::parse_url(opts.url);
  if (!u) co_return u.error();
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  beast::error_code ec;
  auto endpoints = co_await resolver.async_resolve(u->host, u->port, net::redirect_error(use_awaitable, ec));
  if (ec) co_return make_error(Errc::tunnel_unreachable, "cannot resolve " + u->host + ": " + ec.message());

  TcpStream tcp_stream(ex);
  tcp_stream.expires_after(opts.timeout);
  co_await tcp_stream.async_connect(endpoints, net::redirect_error(use_awaitable, ec));
  if (ec) co_return make_error(Errc::tunnel_unreachable, "cannot connect to " + u->host + ":" + u->port + ": " + ec.message());
  tcp_stream.socket().set_option(tcp::no_delay(true), ec);

  if (!u->tls) {
    tcp_stream.expires_never();
    auto impl = std::make_unique<Impl<TcpStream>>(std::move(tcp_stream));
    co_return co_await upgrade(std::move(impl), *u, opts);
  }

  auto ctx = web::make_client_tls(opts.ca_file, web::CaFile::adds_to_system_store, "the CA file");
  if (!ctx) co_return make_error(Errc::tunnel_unreachable, ctx.error().detail);
  beast::ssl_stream<TcpStream> tls(std::move(tcp_stream), **ctx);
  if (auto st = web::prepare_client_stream(tls, u->host); !st) co_return st.error();
  co_await tls.async_handshake(ssl::stream_base::client, net::redirect_error(use_awaitable, ec));
  if (ec) co_return make_error(Errc::tunnel_unreachable, "TLS handshake with " + u->host + " failed: " + ec.message());
  beast::get_lowest_layer(tls).expires_never();
  auto impl = std::make_unique<Impl<beast::ssl_stream<TcpStream>>>(std::move(tls), *ctx);
  co_return co_await upgrade(std::move(impl), *u, opts);
}

}  // namespace hg::tunnel
