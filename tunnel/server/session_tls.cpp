// SPDX-License-Identifier: Apache-2.0
// The TLS instantiation of the relay session.
#include "tunnel/server/session.hpp"
#include "tunnel/server/sessions.hpp"

namespace hg::relay {

template class Session<true>;

void start_tls_session(Core& core, tcp::socket&& s, std::shared_ptr<net::ssl::context> ctx, bool over_capacity) {
  std::make_shared<Session<true>>(core, std::move(s), std::move(ctx), over_capacity)->start();
}

}  // namespace hg::relay
