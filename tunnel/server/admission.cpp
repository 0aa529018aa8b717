// SPDX-License-Identifier: Apache-2.0
#include "tunnel/server/admission.hpp"

namespace hg::relay {

namespace {
constexpr Verdict kAccept{};

Verdict refuse(int status, const char* reason, const char* limit = nullptr) { return Verdict{status, reason, limit}; }

// Every WebSocket path: the request must be an upgrade offering fido.cable.
Verdict websocket(bool is_upgrade, bool offers_fido_cable) {
  if (!is_upgrade) return refuse(400, "not_websocket");
  if (!offers_fido_cable) return refuse(400, "no_fido_cable_subprotocol");
  return kAccept;
}

// Takes the token (asked here, not before): over the client's rate -> 429; the limiter's table
// full -> 503 (it fails closed), counted as rate_table_full.
Verdict rate(const RateCheck& check, const char* which) {
  switch (check ? check() : RateVerdict::allowed) {
    case RateVerdict::allowed: return kAccept;
    case RateVerdict::limited: return refuse(429, "rate_limited", which);
    case RateVerdict::table_full: break;
  }
  return refuse(503, "rate_table_full", "rate_table_full");
}

// A new waiting tunnel: the relay's, the client's and the network's caps (0 = no network cap).
Verdict waiting(const WaitingCounts& w, const AdmissionLimits& l) {
  if (w.relay >= l.max_waiting_tunnels) return refuse(503, "max_waiting_tunnels", "max_waiting_tunnels");
  if (w.client >= l.max_waiting_per_client) return refuse(503, "client_waiting_tunnels", "client_waiting_tunnels");
  if (l.max_waiting_per_network && w.network >= l.max_waiting_per_network)
    return refuse(503, "network_waiting_tunnels", "network_waiting_tunnels");
  return kAccept;
}
}  // namespace

Verdict judge_path(bool is_get, PathKind kind) {
  if (!is_get) return refuse(405, "method_not_allowed");
  if (kind == PathKind::unknown) return refuse(404, "unknown_path");
  return kAccept;
}

Verdict judge(const NewTunnelFacts& f, const AdmissionLimits& l) {
  if (auto v = websocket(f.is_upgrade, f.offers_fido_cable); !v.accepted()) return v;
  if (f.draining) return refuse(503, "draining");
  if (auto v = rate(f.rate, "rate_new"); !v.accepted()) return v;
  if (f.waiting.relay >= l.max_waiting_tunnels) return refuse(503, "max_waiting_tunnels", "max_waiting_tunnels");
  // An ID in use is the client's mistake (or a replay), not a cap: checked before the client's.
  if (f.tunnel_exists) return refuse(409, "tunnel_exists");
  return waiting(f.waiting, l);
}

Verdict judge(const JoinFacts& f, const AdmissionLimits&) {
  if (auto v = websocket(f.is_upgrade, f.offers_fido_cable); !v.accepted()) return v;
  if (!f.routing_id_matches) return refuse(404, "wrong_routing_id");
  if (auto v = rate(f.rate, "rate_connect"); !v.accepted()) return v;
  // While draining, a desktop may still join a tunnel that is already waiting for it.
  if (!f.tunnel_found) return f.draining ? refuse(503, "draining") : refuse(404, "unknown_tunnel");
  if (f.second_side_claimed) return refuse(409, "tunnel_in_use");
  return kAccept;
}

Verdict judge(const ContactFacts& f, const AdmissionLimits& l) {
  if (auto v = websocket(f.is_upgrade, f.offers_fido_cable); !v.accepted()) return v;
  if (f.draining) return refuse(503, "draining");
  if (auto v = rate(f.rate, "rate_new"); !v.accepted()) return v;
  if (!f.payload_ok) return refuse(400, "bad_client_payload");
  const ContactLookup c = f.lookup ? f.lookup() : ContactLookup{};
  if (c.known && c.revoked) return refuse(410, "contact_revoked");
  if (!c.listening && !f.has_webhook) {
    if (c.known) return refuse(503, "contact_unreachable");
    return refuse(404, "unknown_contact");  // not 410: desktops keep their link (docs/linking.md)
  }
  if (auto v = waiting(f.waiting, l); !v.accepted()) return v;
  if (!c.listening && f.webhook_in_flight >= l.max_webhook_in_flight)
    return refuse(503, "webhook_busy", "webhook_in_flight");
  return kAccept;
}

Verdict judge(const ListenFacts& f, const AdmissionLimits& l) {
  if (f.empty_id) return refuse(404, "unknown_path");
  if (auto v = websocket(f.is_upgrade, f.offers_fido_cable); !v.accepted()) return v;
  if (!f.token_ok) return refuse(400, "bad_contact_token");
  if (f.draining) return refuse(503, "draining");
  if (f.id == ListenFacts::Id::none) {
    // Creating a contact costs the client's rate allowance and a slot in the bounded book.
    if (f.revoke) return refuse(400, "revoke_without_contact");
    if (auto v = rate(f.rate, "rate_new"); !v.accepted()) return v;
    if (f.client_contacts >= l.max_contacts_per_client) return refuse(503, "client_contacts", "client_contacts");
    if (l.max_contacts_per_network && f.network_contacts >= l.max_contacts_per_network)
      return refuse(503, "network_contacts", "network_contacts");
    if (f.make_room && !f.make_room()) return refuse(503, "max_contacts", "max_contacts");
    return kAccept;
  }
  if (f.id == ListenFacts::Id::malformed) return refuse(404, "unknown_path");
  if (f.id == ListenFacts::Id::wrong_routing_id) return refuse(404, "wrong_routing_id");
  // Per contact: re-attaching replaces the listener, so it is not free.
  if (auto v = rate(f.rate, "rate_reattach"); !v.accepted()) return v;
  const ContactLookup c = f.lookup ? f.lookup() : ContactLookup{};
  // Unknown (never registered, forgotten, or registered on a relay that lost its store): never
  // bound to whatever token arrives first; 404, not 410: only a contact this relay knows it
  // revoked or expired is answered 410.
  if (!c.known) return refuse(404, "unknown_contact");
  if (!c.token_matches) return refuse(403, "wrong_contact_token");
  if (c.revoked) return refuse(410, "contact_revoked");
  return kAccept;
}

}  // namespace hg::relay
