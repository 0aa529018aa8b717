// SPDX-License-Identifier: Apache-2.0
// Internal: the wake-up webhook's URL (http:// or https://host[:port]/path) and the TLS client
// context for https, both made once by Relay::start() and kept in Core. post_webhook() is in core.hpp.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "proto/error.hpp"

namespace boost::asio::ssl {
class context;
}

namespace hg::relay {

struct WebhookUrl {
  bool tls = false;  // https://
  std::string host, port, target, host_header;
};
std::optional<WebhookUrl> parse_webhook_url(const std::string& url);

// The client context for an https webhook: TLS 1.2 or newer, the peer verified against `ca_file`
// (PEM) or, when empty, the system's CA store. Fails if the CA file cannot be loaded.
Result<std::shared_ptr<boost::asio::ssl::context>> make_webhook_tls(const std::string& ca_file);

}  // namespace hg::relay
