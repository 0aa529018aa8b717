// SPDX-License-Identifier: Apache-2.0
// The baseline: a minimal Boost.Beast WebSocket echo server (one thread, TCP_NODELAY, one message
// in flight per connection, permessage-deflate off) - the same machine's ceiling for the relay.
#pragma GCC diagnostic ignored "-Wnull-dereference"  // Asio 1.74 + g++ 12, see tunnel/server/session.hpp

#include <fstream>
#include <iostream>
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "bench.hpp"

namespace hg::bench {
namespace {
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class EchoSession : public std::enable_shared_from_this<EchoSession> {
 public:
  explicit EchoSession(tcp::socket&& s) : ws_(std::move(s)) {}
  void start() {
    websocket::permessage_deflate pmd;
    pmd.server_enable = false;
    ws_.set_option(pmd);
    ws_.auto_fragment(false);
    ws_.read_message_max(1 << 20);
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(beast::http::field::sec_websocket_protocol, "fido.cable");
    }));
    ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->read();
    });
  }

 private:
  void read() {
    ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->ws_.binary(self->ws_.got_binary());
      self->ws_.async_write(self->buf_.data(), [self](beast::error_code e, std::size_t) {
        if (e) return;
        self->buf_.consume(self->buf_.size());
        self->read();
      });
    });
  }
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buf_;
};

void do_accept(tcp::acceptor& a) {
  a.async_accept([&a](beast::error_code ec, tcp::socket s) {
    if (!ec) {
      s.set_option(tcp::no_delay(true), ec);
      std::make_shared<EchoSession>(std::move(s))->start();
    }
    do_accept(a);
  });
}
}  // namespace

int run_echo_server(const std::string& listen, const std::string& port_file) {
  auto colon = listen.rfind(':');
  net::io_context ioc(1);
  tcp::endpoint ep(net::ip::make_address(listen.substr(0, colon)),
                   static_cast<unsigned short>(std::stoi(listen.substr(colon + 1))));
  tcp::acceptor a(ioc);
  a.open(ep.protocol());
  a.set_option(net::socket_base::reuse_address(true));
  a.bind(ep);
  a.listen(4096);
  if (!port_file.empty()) {
    std::ofstream(port_file + ".tmp") << a.local_endpoint().port() << "\n";
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  do_accept(a);
  ioc.run();
  return 0;
}

}  // namespace hg::bench
