// SPDX-License-Identifier: Apache-2.0
#include "web/probe.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>

#include "web/url.hpp"

namespace hg::web {

namespace asio = boost::asio;
using asio::ip::tcp;

struct RelayProbe::Impl {
  asio::io_context io;
};

RelayProbe::RelayProbe() : impl_(std::make_unique<Impl>()) {}
RelayProbe::~RelayProbe() = default;

void RelayProbe::stop() { impl_->io.stop(); }

Status RelayProbe::run(const std::string& tunnel_url, std::chrono::milliseconds deadline) {
  HG_TRY(auto url, parse_url(tunnel_url));
  auto& io = impl_->io;
  tcp::resolver resolver(io);
  tcp::socket socket(io);
  asio::steady_timer timer(io, deadline);
  std::optional<boost::system::error_code> result;
  resolver.async_resolve(url.host, url.port, [&](boost::system::error_code ec, tcp::resolver::results_type found) {
    if (ec) {
      result = ec;
      timer.cancel();
      return;
    }
    asio::async_connect(socket, found, [&](boost::system::error_code ec2, const tcp::endpoint&) {
      result = ec2;
      timer.cancel();
    });
  });
  timer.async_wait([&](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the attempt ended first
    result = asio::error::timed_out;
    resolver.cancel();
    boost::system::error_code ignored;
    socket.close(ignored);
  });
  io.run();
  if (!result) return make_error(Errc::session_cancelled, "the relay probe was stopped");
  if (!*result) return ok_status();
  const std::string where = url.host + ":" + url.port;
  if (*result == asio::error::timed_out)
    return make_error(Errc::tunnel_unreachable, where + ": no answer within " +
                                                    std::to_string(deadline.count() / 1000) + " s");
  return make_error(Errc::tunnel_unreachable, where + ": " + result->message());
}

}  // namespace hg::web
