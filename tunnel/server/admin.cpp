// SPDX-License-Identifier: Apache-2.0
// The admin listener: /healthz, /readyz, /metrics over plain HTTP/1.1.
// Asio 1.74's scheduler trips g++ 12's -Wnull-dereference (a flow warning that ignores the
// system-header status of Boost once inlined). Our own code is checked by the other TUs.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <memory>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "tunnel/server/core.hpp"
#include "tunnel/server/sessions.hpp"

namespace hg::relay {

namespace {
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

class AdminSession : public std::enable_shared_from_this<AdminSession> {
 public:
  AdminSession(Core& core, tcp::socket&& s) : core_(core), stream_(std::move(s)) {}
  void start() { read(); }

 private:
  void read() {
    req_ = {};
    stream_.expires_after(std::chrono::seconds(10));
    http::async_read(stream_, buf_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec) self->respond();
    });
  }
  void respond() {
    auto target = req_.target();
    std::string_view path(target.data(), target.size());
    if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
    res_ = {};
    res_.version(req_.version());
    res_.keep_alive(req_.keep_alive());
    res_.set(http::field::server, "hybridgate-relay");
    res_.set(http::field::content_type, "text/plain; charset=utf-8");
    if (req_.method() != http::verb::get && req_.method() != http::verb::head) {
      res_.result(http::status::method_not_allowed);
      res_.body() = "method not allowed\n";
    } else if (path == "/healthz") {
      res_.result(http::status::ok);
      res_.body() = "ok\n";
    } else if (path == "/readyz") {
      res_.result(core_.draining ? http::status::service_unavailable : http::status::ok);
      // Ready either way; an ephemeral relay (no --state-dir) says what a restart loses.
      res_.body() = core_.draining ? "draining\n"
                    : core_.cfg.state_dir.empty()
                        ? "ready (ephemeral: no --state-dir; a restart loses the routing ID and every linked phone's contact)\n"
                        : "ready\n";
    } else if (path == "/metrics") {
      res_.result(http::status::ok);
      res_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res_.body() = core_.m.render();
    } else {
      res_.result(http::status::not_found);
      res_.body() = "not found\n";
    }
    res_.prepare_payload();
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      if (self->res_.keep_alive()) return self->read();
      beast::error_code e;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, e);
    });
  }

  Core& core_;
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  http::request<http::empty_body> req_;
  http::response<http::string_body> res_;
};
}  // namespace

void start_admin_session(Core& core, tcp::socket&& s) {
  beast::error_code ec;
  s.set_option(tcp::no_delay(true), ec);
  std::make_shared<AdminSession>(core, std::move(s))->start();
}

}  // namespace hg::relay
