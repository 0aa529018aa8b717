// SPDX-License-Identifier: Apache-2.0
#include "webauthn/origin.hpp"

#include <arpa/inet.h>
#include <libpsl.h>

#include <algorithm>
#include <cctype>

namespace hg::webauthn {
namespace {

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bool is_loopback(const std::string& host) {
  unsigned char v4[4], v6[16];
  if (inet_pton(AF_INET, host.c_str(), v4) == 1) return v4[0] == 127;
  if (inet_pton(AF_INET6, host.c_str(), v6) == 1) {
    static const unsigned char kLoop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::equal(v6, v6 + 16, kLoop);
  }
  return host == "localhost" || (host.size() > 10 && host.ends_with(".localhost"));
}

// A DNS name in ASCII: labels of letters, digits and hyphens (and '_', seen in the wild), 1-63
// characters, not starting or ending with '-', total at most 253.
bool is_domain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.') return false;
  size_t label = 0;
  char prev = '.';
  for (char c : d) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      if (!ok || (label == 0 && c == '-') || ++label > 63) return false;
    }
    prev = c;
  }
  return prev != '-';
}

const psl_ctx_t* psl() {
  // The publicsuffix package's list when present (newer), else the one built into libpsl.
  static const psl_ctx_t* ctx = [] {
    const psl_ctx_t* c = psl_latest(nullptr);
    return c ? c : psl_builtin();
  }();
  return ctx;
}

}  // namespace

Result<Origin> parse_origin(std::string_view text) {
  auto bad = [&](const std::string& why) { return make_error(Errc::origin_invalid, why); };
  if (text.size() > 2048) return bad("longer than 2048 characters");
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) return bad("no scheme://");
  Origin o;
  o.scheme = std::string(text.substr(0, sep));
  std::ranges::transform(o.scheme, o.scheme.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  std::string_view rest = text.substr(sep + 3);
  if (rest.ends_with('/')) rest.remove_suffix(1);  // "https://example.com/" is the same origin
  if (rest.empty()) return bad("no host");
  for (char c : rest) {
    if (c == '/' || c == '?' || c == '#') return bad("an origin has no path, query or fragment");
    if (c == '@') return bad("an origin has no user info");
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return bad("non-ASCII or control characters: give an IDN in its xn-- form");
  }
  std::string_view host = rest;
  bool has_port = false;
  if (rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return bad("unclosed [ in the host");
    host = rest.substr(1, close - 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("junk after the IPv6 address");
      has_port = true;
      o.port = std::string(after.substr(1));
    }
  } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    has_port = true;
    o.port = std::string(rest.substr(colon + 1));
  }
  if (has_port && (o.port.empty() || o.port.size() > 5 ||
                   !std::ranges::all_of(o.port, [](char c) { return c >= '0' && c <= '9'; }) ||
                   std::stoul(o.port) == 0 || std::stoul(o.port) > 65535))
    return bad("the port is not a number from 1 to 65535");
  o.host = std::string(host);
  std::ranges::transform(o.host, o.host.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (o.host.empty()) return bad("no host");
  if (!is_ip_literal(o.host) && !is_domain(o.host)) return bad("the host is not a domain name or IP address");
  if (o.scheme == "https") return o;
  if (o.scheme == "http") {
    if (is_loopback(o.host)) return o;
    return make_error(Errc::origin_insecure, std::string(text));
  }
  return bad("the scheme is " + o.scheme + ", not https");
}

Result<Origin> check_origin_and_rp_id(std::string_view origin_text, std::string_view rp_id_text) {
  HG_TRY(Origin origin, parse_origin(origin_text));
  std::string rp_id(rp_id_text);
  if (!is_domain(rp_id) || is_ip_literal(rp_id))
    return make_error(Errc::rp_id_invalid, "'" + rp_id + "'");
  if (is_ip_literal(origin.host))
    return make_error(Errc::rp_id_mismatch, "the origin's host is an IP address, which has no domain to claim");
  const bool suffix = origin.host == rp_id ||
                      (origin.host.size() > rp_id.size() && origin.host.ends_with(rp_id) &&
                       origin.host[origin.host.size() - rp_id.size() - 1] == '.');
  if (!suffix) return make_error(Errc::rp_id_mismatch, "'" + rp_id + "' for origin " + std::string(origin_text));
  // Public suffixes, ICANN and private sections, without the implicit "*" rule (so that
  // "localhost" and names under unknown top-level domains stay usable, as in browsers).
  if (psl_is_public_suffix2(psl(), rp_id.c_str(), PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE))
    return make_error(Errc::rp_id_public_suffix, "'" + rp_id + "'");
  return origin;
}

}  // namespace hg::webauthn
