// SPDX-License-Identifier: Apache-2.0
// The value types both sides of a ceremony share: the stages a ceremony reports, the event sink,
// the desktop's deadlines and what a phone ceremony returns. Values only
// (and the stage names, types.cpp).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace hg::hybrid {

// Progress of a ceremony, in order (desktop) — names are stable (to_string) for logs and UIs.
enum class Stage {
  // desktop
  qr_shown,          // the QR code is ready (the qr callback has its URL)
  scanning,          // waiting for the phone's advert
  phone_found,       // an advert decrypted with this ceremony's key
  tunnel_connected,  // WebSocket to the tunnel server is open
  secure_channel,    // Noise handshake done, post-handshake message received
  waiting_for_user,  // request sent; the person is deciding on the phone
  done,
  // phone
  tunnel_opened,      // /cable/new answered with a routing ID
  advertising,        // the EID advert is on the air
  desktop_connected,  // handshake message from the desktop arrived
  request_served,     // a CTAP request was answered
  listening,          // the listen connection to the relay is up (linked phone)
  woken,              // the relay forwarded a contact request
  reconnecting,       // the listen connection ended; reconnecting after a backoff (detail: why, when)
};
std::string_view to_string(Stage s);

struct Events {
  std::function<void(Stage, const std::string& detail)> stage;
  void emit(Stage s, const std::string& detail = {}) const {
    if (stage) stage(s, detail);
  }
};

struct DesktopDeadlines {
  std::chrono::milliseconds advert{120'000};     // QR shown → matching advert
  std::chrono::milliseconds connect{15'000};     // WebSocket connect + upgrade
  std::chrono::milliseconds handshake{15'000};   // Noise message 2 and post-handshake message
  std::chrono::milliseconds response{180'000};   // request sent → CTAP response (a person decides)
};

struct PhoneResult {
  int requests_served = 0;
  bool shutdown_received = false;
  bool linked = false;  // linking info was sent (QR flow)
};

}  // namespace hg::hybrid
