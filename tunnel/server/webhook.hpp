// Internal: the wake-up webhook's URL (http://host[:port]/path). post_webhook() is in core.hpp.
#pragma once

#include <optional>
#include <string>

namespace hg::relay {

struct WebhookUrl {
  std::string host, port, target, host_header;
};
std::optional<WebhookUrl> parse_webhook_url(const std::string& url);

}  // namespace hg::relay
