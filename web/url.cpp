// SPDX-License-Identifier: Apache-2.0
#include "web/url.hpp"

namespace hg::web {

std::string Url::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? "443" : "80")) h += ":" + port;
  return h;
}

Result<Url> parse_url(std::string_view s, UrlScheme scheme) {
  Url u;
  const bool ws = scheme == UrlScheme::websocket;
  const std::string_view secure = ws ? "wss://" : "https://", plain = ws ? "ws://" : "http://";
  if (s.starts_with(secure)) {
    u.tls = true;
    s.remove_prefix(secure.size());
  } else if (s.starts_with(plain)) {
    u.tls = false;
    s.remove_prefix(plain.size());
  } else {
    return make_error(Errc::url_invalid, ws ? "tunnel URLs start with ws:// or wss://" : "URLs here start with http:// or https://");
  }
  size_t slash = s.find('/');
  std::string_view authority = s.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(s.substr(slash));
  if (authority.empty()) return make_error(Errc::url_invalid, "no host");
  if (authority.find('@') != std::string_view::npos) return make_error(Errc::url_invalid, "user info is not allowed");
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return make_error(Errc::url_invalid, "unterminated IPv6 literal");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return make_error(Errc::url_invalid, "junk after IPv6 literal");
      u.port = std::string(rest.substr(1));
      if (u.port.empty()) return make_error(Errc::url_invalid, "empty port");
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      u.port = std::string(authority.substr(colon + 1));
      if (u.port.empty()) return make_error(Errc::url_invalid, "empty port");
    }
  }
  if (u.host.empty()) return make_error(Errc::url_invalid, "no host");
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  for (char c : u.port)
    if (c < '0' || c > '9') return make_error(Errc::url_invalid, "port must be numeric");
  if (u.port.size() > 5 || std::stoul(u.port) == 0 || std::stoul(u.port) > 65535)
    return make_error(Errc::url_invalid, "port out of range");
  for (char c : u.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return make_error(Errc::url_invalid, "control or space in path");
  for (char c : u.host)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '/') return make_error(Errc::url_invalid, "bad host");
  return u;
}

}  // namespace hg::web
