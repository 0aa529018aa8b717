// SPDX-License-Identifier: Apache-2.0
// A linked phone's contact at the relay (docs/linking.md): registering it, revoking it, and the
// listen connection on which the relay forwards wake-ups from remembered desktops.
#pragma once

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>

#include "hybrid/tunnel_channel.hpp"
#include "hybrid/types.hpp"
#include "proto/bytes.hpp"
#include "proto/error.hpp"
#include "proto/messages.hpp"

namespace hg::hybrid {

// The phone's listen connection (docs/linking.md). register_contact opens /cable/listen with the
// token and returns the contact ID the relay assigned (or confirms `contact_id`).
boost::asio::awaitable<Result<Bytes>> register_contact(const TunnelServer& server, const std::string& token_hex,
                                                       const std::optional<Bytes>& contact_id);
// Unlinks: asks the relay to revoke the contact.
boost::asio::awaitable<Status> revoke_contact(const TunnelServer& server, const std::string& token_hex,
                                              const Bytes& contact_id);
// Follows the listen connection; calls on_wakeup for each wake-up (one at a time). Returns after
// `max_wakeups` wake-ups (0 = until the connection ends).
boost::asio::awaitable<Result<int>> listen_for_wakeups(
    const TunnelServer& server, const std::string& token_hex, const Bytes& contact_id, int max_wakeups,
    std::function<boost::asio::awaitable<Status>(const messages::WakeUp&)> on_wakeup, const Events& events);

}  // namespace hg::hybrid
