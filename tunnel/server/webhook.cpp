// The wake-up webhook (docs/linking.md, "Wake channel 2"): one HTTP/1.1 POST of a JSON body per
// contact request to --wake-webhook (http:// only), bounded by --wake-webhook-timeout as a whole
// (resolve, connect, write, read). The caller maps the status: 2xx delivered, 404/410 gone, else 503.
// Asio 1.74 + g++ 12 -Wnull-dereference, see session.hpp.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "tunnel/server/core.hpp"
#include "tunnel/server/webhook.hpp"

namespace hg::relay {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::optional<WebhookUrl> parse_webhook_url(const std::string& url) {
  constexpr std::string_view scheme = "http://";
  std::string_view u(url);
  if (!u.starts_with(scheme)) return std::nullopt;
  u.remove_prefix(scheme.size());
  auto slash = u.find('/');
  std::string_view authority = u.substr(0, slash);
  WebhookUrl w;
  w.target = slash == std::string_view::npos ? "/" : std::string(u.substr(slash));
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host = authority, port = "80";
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    auto rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
    w.host_header = std::string(authority);
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    w.host_header = std::string(authority);
  }
  if (host.empty() || port.empty() || port.size() > 5) return std::nullopt;
  for (char c : port)
    if (c < '0' || c > '9') return std::nullopt;
  w.host = std::string(host);
  w.port = std::string(port);
  return w;
}

namespace {

class WebhookOp : public std::enable_shared_from_this<WebhookOp> {
 public:
  WebhookOp(Core& core, WebhookUrl url, std::string body, std::function<void(int, std::string)> done)
      : core_(core), url_(std::move(url)), resolver_(core.ioc), stream_(core.ioc), timer_(core.ioc),
        done_(std::move(done)) {
    req_.method(http::verb::post);
    req_.target(url_.target);
    req_.version(11);
    req_.set(http::field::host, url_.host_header);
    req_.set(http::field::user_agent, "hybridgate-relay");
    req_.set(http::field::content_type, "application/json");
    req_.set(http::field::connection, "close");
    req_.body() = std::move(body);
    req_.prepare_payload();
    parser_.body_limit(64 * 1024);
  }

  void start() {
    timer_.expires_after(secs(core_.cfg.wake_webhook_timeout));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->resolver_.cancel();
      beast::error_code ignored;
      self->stream_.socket().close(ignored);
      self->finish(0, "timeout");
    });
    resolver_.async_resolve(url_.host, url_.port,
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
                              if (ec) return self->finish(0, "resolve: " + ec.message());
                              self->stream_.async_connect(r, [self](beast::error_code e, const tcp::endpoint&) {
                                if (e) return self->finish(0, "connect: " + e.message());
                                self->write();
                              });
                            });
  }

 private:
  void write() {
    http::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->finish(0, "write: " + ec.message());
      http::async_read(self->stream_, self->buf_, self->parser_, [self](beast::error_code e, std::size_t) {
        if (e) return self->finish(0, "read: " + e.message());
        self->finish(static_cast<int>(self->parser_.get().result_int()), "");
      });
    });
  }

  void finish(int status, std::string error) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    auto done = std::move(done_);
    done(status, std::move(error));
  }

  Core& core_;
  WebhookUrl url_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  net::steady_timer timer_;
  http::request<http::string_body> req_;
  http::response_parser<http::string_body> parser_;
  beast::flat_buffer buf_;
  std::function<void(int, std::string)> done_;
  bool finished_ = false;
};

}  // namespace

void post_webhook(Core& core, std::string body, std::function<void(int status, std::string error)> done) {
  auto url = parse_webhook_url(core.cfg.wake_webhook);
  if (!url) {
    // Validated at start; keep the contract (always answer, never synchronously) anyway.
    net::post(core.ioc, [done = std::move(done)] { done(0, "bad webhook URL"); });
    return;
  }
  std::make_shared<WebhookOp>(core, std::move(*url), std::move(body), std::move(done))->start();
}

}  // namespace hg::relay
