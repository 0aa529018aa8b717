// SPDX-License-Identifier: Apache-2.0
// Internal: the relay's admission decision — whether a request for a tunnel (/cable/new,
// /cable/connect, /cable/contact) or a listen connection (/cable/listen) is accepted, or refused
// with which HTTP status, reason and, when a limit said no, which limit (docs/relay.md "Limits",
// "Per-client caps", "Per-network caps"; docs/linking.md). The facts come in as plain values;
// the steps that take something (a rate limiter's token) or change something (a contact lookup
// expires a contact, making room sweeps the book) come in as callbacks, asked only when the
// decision gets to them, in the order the relay has always checked. No sockets, io_context,
// metrics or logs: Core gathers the facts and performs what follows (counting, logging,
// registering the tunnel, waking the phone). Tested alone (tests/unit/test_relay_parts.cpp).
#pragma once

#include <cstddef>
#include <functional>

namespace hg::relay {

// The effective limits admission judges by (Config). Per-network caps: 0 = no cap.
struct AdmissionLimits {
  size_t max_waiting_tunnels = 10000;
  size_t max_waiting_per_client = 64, max_waiting_per_network = 256;
  size_t max_contacts_per_client = 32, max_contacts_per_network = 256;
  size_t max_webhook_in_flight = 256;
};

struct Verdict {
  int status = 0;               // 0 = accept; else the HTTP status to answer
  const char* reason = "";      // why it was refused (the rejections' label)
  const char* limit = nullptr;  // the limit that was hit (counted as limit_hit), if one was
  bool accepted() const { return status == 0; }
};

// A rate limiter's answer for one token (RateLimiter::allow, then table_full()).
enum class RateVerdict { allowed, limited, table_full };
using RateCheck = std::function<RateVerdict()>;

// The request's method and path, before anything else.
enum class PathKind { listen, new_tunnel, connect, contact, unknown };
Verdict judge_path(bool is_get, PathKind kind);

// How many waiting tunnels (first side claimed, not yet paired) there are: on the whole relay,
// for the client and for its network.
struct WaitingCounts {
  size_t relay = 0, client = 0, network = 0;
};

// /cable/new/<tunnel ID>: a phone opens a tunnel.
struct NewTunnelFacts {
  bool is_upgrade = false, offers_fido_cable = false;
  bool draining = false;
  RateCheck rate;              // the client's rate_new token
  WaitingCounts waiting;
  bool tunnel_exists = false;  // the ID is registered already
};
Verdict judge(const NewTunnelFacts& f, const AdmissionLimits& l);

// /cable/connect/<routing ID>/<tunnel ID>: a desktop joins a tunnel.
struct JoinFacts {
  bool is_upgrade = false, offers_fido_cable = false;
  bool draining = false;
  bool routing_id_matches = false;
  RateCheck rate;                    // the client's rate_connect token
  bool tunnel_found = false;
  bool second_side_claimed = false;  // someone joined already
};
Verdict judge(const JoinFacts& f, const AdmissionLimits& l);

// A contact as a lookup found it (after its TTL check).
struct ContactLookup {
  bool known = false;
  bool revoked = false;
  bool token_matches = true;  // /cable/listen/<ID>: the request's token is the contact's
  bool listening = false;     // a listen connection is attached
};
using ContactCheck = std::function<ContactLookup()>;

// /cable/contact/<contact ID>: a desktop asks the relay to wake a linked phone.
struct ContactFacts {
  bool is_upgrade = false, offers_fido_cable = false;
  bool draining = false;
  RateCheck rate;              // the client's rate_new token
  bool payload_ok = false;     // X-caBLE-Client-Payload parses
  ContactCheck lookup;
  bool has_webhook = false;    // --wake-webhook
  WaitingCounts waiting;
  size_t webhook_in_flight = 0;
};
Verdict judge(const ContactFacts& f, const AdmissionLimits& l);

// /cable/listen (a new registration) or /cable/listen/<contact ID> (re-attaching).
struct ListenFacts {
  enum class Id { none, ok, malformed, wrong_routing_id };
  bool empty_id = false;       // "/cable/listen/"
  bool is_upgrade = false, offers_fido_cable = false;
  bool token_ok = false;       // X-Hybridgate-Contact-Token is 32 bytes of hex
  bool draining = false;
  Id id = Id::none;            // none: a registration
  bool revoke = false;         // X-Hybridgate-Revoke: true
  RateCheck rate;              // registration: the client's rate_new token; re-attach: the contact's rate_reattach
  size_t client_contacts = 0, network_contacts = 0;  // live contacts the client / its network registered
  std::function<bool()> make_room;  // registration: room in the contact book (ContactBook::make_room)
  ContactCheck lookup;              // re-attach
};
Verdict judge(const ListenFacts& f, const AdmissionLimits& l);

}  // namespace hg::relay
