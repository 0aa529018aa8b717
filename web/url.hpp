// SPDX-License-Identifier: Apache-2.0
// URLs of the servers hybridgate dials: tunnel servers (ws://, wss://) and the relay's wake-up
// webhooks (http://, https://). One parser for both; no Beast or Asio here.
#pragma once

#include <string>
#include <string_view>

#include "proto/error.hpp"

namespace hg::web {

struct Url {
  bool tls = true;
  std::string host;  // without brackets for IPv6
  std::string port;  // the scheme's default when the URL has none
  std::string target;  // path (and query), starts with '/'
  // The Host header: host[:port] as written ("[v6]" bracketed), the port left out when default.
  std::string host_header() const;
};

enum class UrlScheme { websocket, http };  // ws:// wss://, or http:// https://

// Parses scheme://host[:port][/path]. No user info, a numeric port 1-65535, no spaces or control
// characters. Anything else → url.invalid with a sentence.
Result<Url> parse_url(std::string_view url, UrlScheme scheme = UrlScheme::websocket);

}  // namespace hg::web
