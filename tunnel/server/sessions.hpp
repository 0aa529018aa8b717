// SPDX-License-Identifier: Apache-2.0
// Internal: entry points of the per-connection code, one heavy translation unit each.
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>

namespace boost::asio::ssl {
class context;
}

namespace hg::relay {

struct Core;

void start_plain_session(Core& core, boost::asio::ip::tcp::socket&& s, bool over_capacity);
void start_tls_session(Core& core, boost::asio::ip::tcp::socket&& s, std::shared_ptr<boost::asio::ssl::context> ctx,
                       bool over_capacity);
void start_admin_session(Core& core, boost::asio::ip::tcp::socket&& s);

}  // namespace hg::relay
