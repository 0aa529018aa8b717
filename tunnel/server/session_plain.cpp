// SPDX-License-Identifier: Apache-2.0
// The plain-WebSocket instantiation of the relay session.
#include "tunnel/server/session.hpp"
#include "tunnel/server/sessions.hpp"

namespace hg::relay {

template class Session<false>;

void start_plain_session(Core& core, tcp::socket&& s, bool over_capacity) {
  std::make_shared<Session<false>>(core, std::move(s), over_capacity)->start();
}

}  // namespace hg::relay
