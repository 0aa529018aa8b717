// SPDX-License-Identifier: Apache-2.0
// The wake-up webhook (docs/linking.md, "Wake channel 2"): one HTTP/1.1 POST of a JSON body per
// contact request to --wake-webhook (http:// or https://), bounded by --wake-webhook-timeout as a
// whole (resolve, connect, TLS handshake, write, read). https verifies the certificate chain
// (system store or --wake-webhook-ca-file) and the host name (or IP address) of the URL, and sends
// SNI for names. The caller maps the status: 2xx delivered, 404/410 gone, else 503.
// Asio 1.74 + g++ 12 -Wnull-dereference, see session.hpp.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include "tunnel/server/core.hpp"
#include "web/tls.hpp"

namespace hg::relay {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Stream = beast::tcp_stream (http://) or beast::ssl_stream<beast::tcp_stream> (https://).
template <class Stream>
class WebhookOp : public std::enable_shared_from_this<WebhookOp<Stream>> {
 public:
  template <class... StreamArgs>
  WebhookOp(Core& core, web::Url url, std::string body, std::function<void(int, std::string)> done,
            StreamArgs&&... stream_args)
      : core_(core), url_(std::move(url)), resolver_(core.ioc), stream_(std::forward<StreamArgs>(stream_args)...),
        timer_(core.ioc), done_(std::move(done)) {
    req_.method(http::verb::post);
    req_.target(url_.target);
    req_.version(11);
    req_.set(http::field::host, url_.host_header());
    req_.set(http::field::user_agent, "hybridgate-relay");
    req_.set(http::field::content_type, "application/json");
    req_.set(http::field::connection, "close");
    req_.body() = std::move(body);
    req_.prepare_payload();
    parser_.body_limit(64 * 1024);
  }

  void start() {
    timer_.expires_after(secs(core_.cfg.wake_webhook_timeout));
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->resolver_.cancel();
      beast::error_code ignored;
      self->socket().close(ignored);
      self->finish(0, "timeout");
    });
    resolver_.async_resolve(url_.host, url_.port,
                            [self = this->shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
                              if (ec) return self->finish(0, "resolve: " + ec.message());
                              beast::get_lowest_layer(self->stream_).async_connect(
                                  r, [self](beast::error_code e, const tcp::endpoint&) {
                                    if (e) return self->finish(0, "connect: " + e.message());
                                    beast::error_code ignored;
                                    self->socket().set_option(tcp::no_delay(true), ignored);
                                    self->handshake();
                                  });
                            });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  tcp::socket& socket() { return beast::get_lowest_layer(stream_).socket(); }

  void handshake() {
    if constexpr (kTls) {
      if (!web::prepare_client_stream(stream_, url_.host)) return finish(0, "TLS: cannot set SNI");
      stream_.async_handshake(net::ssl::stream_base::client, [self = this->shared_from_this()](beast::error_code e) {
        if (e) return self->finish(0, "TLS handshake: " + e.message());
        self->write();
      });
    } else {
      write();
    }
  }

  void write() {
    http::async_write(stream_, req_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->finish(0, "write: " + ec.message());
      http::async_read(self->stream_, self->buf_, self->parser_, [self](beast::error_code e, std::size_t) {
        if (e) return self->finish(0, "read: " + e.message());
        self->finish(static_cast<int>(self->parser_.get().result_int()), "");
      });
    });
  }

  // "Connection: close" and the answer is in: no TLS close_notify exchange, the socket just closes.
  void finish(int status, std::string error) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    beast::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
    auto done = std::move(done_);
    done(status, std::move(error));
  }

  Core& core_;
  web::Url url_;
  tcp::resolver resolver_;
  Stream stream_;
  net::steady_timer timer_;
  http::request<http::string_body> req_;
  http::response_parser<http::string_body> parser_;
  beast::flat_buffer buf_;
  std::function<void(int, std::string)> done_;
  bool finished_ = false;
};

}  // namespace

void post_webhook(Core& core, std::string body, std::function<void(int status, std::string error)> done) {
  if (!core.webhook) {  // admit_contact asks only when start() set one; keep the contract anyway
    net::post(core.ioc, [done = std::move(done)] { done(0, "no webhook configured"); });
    return;
  }
  if (core.webhook->tls)  // start() made webhook_tls with webhook
    std::make_shared<WebhookOp<beast::ssl_stream<beast::tcp_stream>>>(core, *core.webhook, std::move(body),
                                                                      std::move(done), core.ioc, *core.webhook_tls)
        ->start();
  else
    std::make_shared<WebhookOp<beast::tcp_stream>>(core, *core.webhook, std::move(body), std::move(done), core.ioc)
        ->start();
}

}  // namespace hg::relay
