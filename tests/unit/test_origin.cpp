// SPDX-License-Identifier: Apache-2.0
// The origin / RP ID rules of a WebAuthn client (webauthn/origin.hpp), as a table of pairs a
// browser allows or refuses (WebAuthn L3 §5.1.3 step 8; the public suffix list via libpsl).
#include <catch2/catch.hpp>

#include "webauthn/origin.hpp"
#include "webauthn/webauthn.hpp"

using namespace hg;

namespace {
struct Case {
  const char* origin;
  const char* rp_id;
  const char* want;  // "ok" or the error code
};

const Case kCases[] = {
    // allowed: the host itself, parent domains, ports, loopback over http, private-section names
    {"https://example.com", "example.com", "ok"},
    {"https://example.com/", "example.com", "ok"},
    {"HTTPS://Example.COM", "example.com", "ok"},
    {"https://login.example.com", "example.com", "ok"},
    {"https://a.b.example.com", "b.example.com", "ok"},
    {"https://login.example.com:8443", "login.example.com", "ok"},
    {"https://example.co.uk", "example.co.uk", "ok"},
    {"https://alice.github.io", "alice.github.io", "ok"},
    {"https://xn--bcher-kva.example", "xn--bcher-kva.example", "ok"},
    {"https://shop.xn--bcher-kva.example", "xn--bcher-kva.example", "ok"},
    {"http://localhost:8080", "localhost", "ok"},
    {"http://localhost", "localhost", "ok"},
    {"http://app.localhost:3000", "app.localhost", "ok"},
    {"http://app.localhost:3000", "localhost", "ok"},
    {"https://localhost", "localhost", "ok"},
    // another site, or not on a label boundary
    {"https://example.com", "evil.org", "rp_id.mismatch"},
    {"https://evil.org", "example.com", "rp_id.mismatch"},
    {"https://notexample.com", "example.com", "rp_id.mismatch"},
    {"https://example.com", "login.example.com", "rp_id.mismatch"},
    {"https://example.com.evil.org", "example.com", "rp_id.mismatch"},
    // public suffixes (ICANN and private sections)
    {"https://example.com", "com", "rp_id.public_suffix"},
    {"https://example.co.uk", "co.uk", "rp_id.public_suffix"},
    {"https://alice.github.io", "github.io", "rp_id.public_suffix"},
    {"https://example.co.uk", "uk", "rp_id.public_suffix"},
    // IP literals are never RP IDs; an origin on an IP address has no domain to claim
    {"https://127.0.0.1", "127.0.0.1", "rp_id.invalid"},
    {"https://[::1]:8443", "::1", "rp_id.invalid"},
    {"http://127.0.0.1:8080", "localhost", "rp_id.mismatch"},
    {"https://192.0.2.1", "example.com", "rp_id.mismatch"},
    // malformed RP IDs
    {"https://example.com", "example.com:443", "rp_id.invalid"},
    {"https://example.com", "", "rp_id.invalid"},
    {"https://example.com", "Example.com", "rp_id.invalid"},
    {"https://bücher.example", "xn--bcher-kva.example", "origin.invalid"},
    {"https://xn--bcher-kva.example", "bücher.example", "rp_id.invalid"},
    // insecure and malformed origins
    {"http://example.com", "example.com", "origin.insecure"},
    {"http://localhost.evil.com", "localhost.evil.com", "origin.insecure"},
    {"http://192.0.2.1", "example.com", "origin.insecure"},
    {"ftp://example.com", "example.com", "origin.invalid"},
    {"example.com", "example.com", "origin.invalid"},
    {"https://", "example.com", "origin.invalid"},
    {"https://example.com/login", "example.com", "origin.invalid"},
    {"https://example.com?x=1", "example.com", "origin.invalid"},
    {"https://example.com#frag", "example.com", "origin.invalid"},
    {"https://user@example.com", "example.com", "origin.invalid"},
    {"https://example.com:0", "example.com", "origin.invalid"},
    {"https://example.com:65536", "example.com", "origin.invalid"},
    {"https://example.com:https", "example.com", "origin.invalid"},
    {"https://example.com:", "example.com", "origin.invalid"},
    {"https://example.com.", "example.com", "origin.invalid"},
    {"https://exa mple.com", "example.com", "origin.invalid"},
    {"https://[::1", "example.com", "origin.invalid"},
};
}  // namespace

TEST_CASE("origin and RP ID pairs as browsers allow and refuse them") {
  for (const auto& c : kCases) {
    INFO(c.origin << " with RP ID " << c.rp_id);
    auto r = webauthn::check_origin_and_rp_id(c.origin, c.rp_id);
    if (std::string_view(c.want) == "ok") {
      CHECK(r.ok());
    } else {
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().name() == std::string_view(c.want));
      CHECK_FALSE(r.error().sentence().empty());
    }
  }
}

TEST_CASE("parsed origins are normalised") {
  auto o = webauthn::parse_origin("HTTPS://Login.Example.COM:8443/");
  REQUIRE(o.ok());
  CHECK(o->scheme == "https");
  CHECK(o->host == "login.example.com");
  CHECK(o->port == "8443");
  auto v6 = webauthn::parse_origin("http://[::1]:8080");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->port == "8080");
}

TEST_CASE("prepare refuses a mismatched origin before building any request") {
  webauthn::RequestOptions o;
  o.rp_id = "example.com";
  o.challenge = Bytes(32, 7);
  auto bad = webauthn::prepare(o, "https://evil.org");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().name() == std::string_view("rp_id.mismatch"));
  CHECK(webauthn::prepare(o, "https://login.example.com").ok());
}
