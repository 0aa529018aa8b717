// SPDX-License-Identifier: Apache-2.0
#include "hybrid/channel.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include "hybrid/run.hpp"
#include "proto/domains.hpp"

namespace hg::hybrid {

namespace net = boost::asio;

net::awaitable<Result<Bytes>> Channel::read(std::chrono::milliseconds deadline, Errc closed_code, const char* waiting_for) {
  OnCancel on_cancel(co_await net::this_coro::executor, [this] { cancel(); });
  auto r = co_await with_deadline<Bytes>(
      deadline, read(), [this] { cancel(); }, Errc::session_deadline, std::string("waiting for ") + waiting_for);
  if (!r && r.error().code == Errc::tunnel_closed) co_return make_error(closed_code, r.error().detail);
  co_return r;
}

}  // namespace hg::hybrid
