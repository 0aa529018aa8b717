// SPDX-License-Identifier: Apache-2.0
#include "tunnel/server/client_addr.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace hg::relay {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

constexpr std::array<uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

std::optional<IpAddr> parse_ip(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 64) return std::nullopt;
  if (s.front() == '[') {  // [v6] or [v6]:port
    auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    auto rest = s.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && all_digits(rest.substr(1)))) return std::nullopt;
    s = s.substr(1, close - 1);
    if (s.find(':') == std::string_view::npos) return std::nullopt;
  } else if (auto colon = s.find(':'); colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) {
    // exactly one colon: IPv4 with a port
    if (!all_digits(s.substr(colon + 1))) return std::nullopt;
    s = s.substr(0, colon);
    if (s.find('.') == std::string_view::npos) return std::nullopt;
  }
  char buf[65];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = 0;
  IpAddr a;
  if (s.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, a.b.data()) != 1) return std::nullopt;
    return a;
  }
  if (inet_pton(AF_INET6, buf, a.b.data()) != 1) return std::nullopt;
  if (std::memcmp(a.b.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0) {
    IpAddr v4;
    std::memcpy(v4.b.data(), a.b.data() + 12, 4);
    return v4;
  }
  a.v6 = true;
  return a;
}

std::string ip_string(const IpAddr& a) {
  if (!a.v6) {  // by hand: glibc's inet_ntop formats IPv4 with sprintf (a per-connection cost)
    char buf[16];
    size_t n = 0;
    for (size_t i = 0; i < 4; ++i) {
      unsigned v = a.b[i];
      if (v >= 100) buf[n++] = static_cast<char>('0' + v / 100);
      if (v >= 10) buf[n++] = static_cast<char>('0' + v / 10 % 10);
      buf[n++] = static_cast<char>('0' + v % 10);
      if (i < 3) buf[n++] = '.';
    }
    return std::string(buf, n);
  }
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(a.v6 ? AF_INET6 : AF_INET, a.b.data(), buf, sizeof buf)) return "?";
  return buf;
}

namespace {
IpAddr masked(const IpAddr& a, int len) {
  IpAddr m = a;
  const int bits = a.v6 ? 128 : 32;
  if (len < 0) len = 0;
  for (int i = 0; i < bits / 8; ++i) {
    const int keep = len - i * 8;
    if (keep >= 8) continue;
    m.b[static_cast<size_t>(i)] = keep <= 0 ? 0 : static_cast<uint8_t>(m.b[static_cast<size_t>(i)] & (0xff << (8 - keep)));
  }
  return m;
}
}  // namespace

std::optional<IpPrefix> parse_prefix(std::string_view s) {
  s = trim(s);
  auto slash = s.find('/');
  auto a = parse_ip(s.substr(0, slash));
  if (!a) return std::nullopt;
  int len = a->v6 ? 128 : 32;
  if (slash != std::string_view::npos) {
    auto l = s.substr(slash + 1);
    if (l.empty() || l.size() > 3 || !all_digits(l)) return std::nullopt;
    int v = 0;
    for (char c : l) v = v * 10 + (c - '0');
    if (v > len) return std::nullopt;
    len = v;
  }
  return IpPrefix{masked(*a, len), len};
}

bool contains(const IpPrefix& p, const IpAddr& a) { return a.v6 == p.addr.v6 && masked(a, p.len) == p.addr; }

bool contains_any(std::span<const IpPrefix> ps, const IpAddr& a) {
  for (auto& p : ps)
    if (contains(p, a)) return true;
  return false;
}

std::string prefix_key(const IpAddr& a, int v4_len, int v6_len) {
  const int len = a.v6 ? v6_len : v4_len;
  return ip_string(masked(a, len)) + "/" + std::to_string(len);
}

IpAddr forwarded_client(const IpAddr& peer, std::span<const std::string_view> xff_lines,
                        std::span<const IpPrefix> trusted) {
  IpAddr client = peer;
  if (!contains_any(trusted, client)) return client;
  // Right to left over the lines, and within each line over its comma-separated entries.
  for (size_t li = xff_lines.size(); li-- > 0;) {
    std::string_view line = xff_lines[li];
    while (true) {
      auto comma = line.rfind(',');
      auto entry = trim(comma == std::string_view::npos ? line : line.substr(comma + 1));
      if (!entry.empty()) {  // empty list elements are allowed (RFC 9110 §5.6.1) and skipped
        auto a = parse_ip(entry);
        if (!a) return client;  // not an address: believe no further
        client = *a;
        if (!contains_any(trusted, client)) return client;
      }
      if (comma == std::string_view::npos) break;
      line = line.substr(0, comma);
    }
  }
  return client;  // every hop trusted: the leftmost one
}

}  // namespace hg::relay
