// SPDX-License-Identifier: Apache-2.0
// The origin and RP ID rules a WebAuthn client (a browser, and hybridgate's desktop when it plays
// one) applies before asking any authenticator (WebAuthn L3 §5.1.3 step 8, §5.1.4 step 8; the
// HTML "is a registrable domain suffix of or is equal to" test):
//   - the origin is https://HOST[:PORT], or http:// for localhost, *.localhost and loopback
//     addresses; nothing after the authority (no path, query, fragment, user info);
//   - the RP ID is a domain: the origin's host, or a suffix of it on a label boundary, that is not
//     a public suffix (libpsl with the private section, as browsers; "localhost" is allowed);
//   - IP addresses are never RP IDs; hosts and RP IDs are ASCII (IDNs in their xn-- form).
// Raw CTAP users (an SSH provider with its "ssh:" application, PAM) are not WebAuthn origins and
// do not call this.
#pragma once

#include <string>
#include <string_view>

#include "proto/error.hpp"

namespace hg::webauthn {

struct Origin {
  std::string scheme;  // "https" or "http"
  std::string host;    // lower case, no brackets
  std::string port;    // "" when absent
};

// Parses and checks an origin (origin.invalid, origin.insecure).
Result<Origin> parse_origin(std::string_view origin);

// The whole check: the origin, then the RP ID against it (rp_id.invalid, rp_id.mismatch,
// rp_id.public_suffix). Returns the parsed origin.
Result<Origin> check_origin_and_rp_id(std::string_view origin, std::string_view rp_id);

}  // namespace hg::webauthn
