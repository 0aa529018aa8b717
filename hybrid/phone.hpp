// SPDX-License-Identifier: Apache-2.0
// The phone side as one blocking object: what `hybridgate phone` and the C ABI call.
//
//   hg::hybrid::Phone p(config, authenticator);
//   auto r = p.serve_qr("FIDO:/…", events);   // one QR ceremony
//   auto n = p.listen(0, events);              // serve linked desktops until cancelled
//
// The phone answers CTAP requests from any authenticator::Authenticator (the software
// authenticator is one). Each call runs to completion on the calling thread; cancel() may be
// called from any thread. One call at a time per Phone object.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "ble/radio.hpp"
#include "hybrid/types.hpp"
#include "proto/authenticator.hpp"
#include "proto/error.hpp"

namespace hg::hybrid {

struct PhoneConfig {
  std::string tunnel_url;        // every tunnel domain → this base URL; "" = the public servers
  std::string ca_file;
  ble::RadioOptions radio;
  uint16_t domain_id = 0;        // the tunnel domain to open tunnels at (and put in the advert)
  // Linking (a desktop remembers this phone): the phone's root secret and its contact at the
  // relay live here (mode 0600). "" = this phone never links.
  std::filesystem::path link_state;
  std::string name;              // shown to linked desktops ("" = "hybridgate on HOSTNAME")
  bool forge_link_signature = false;  // testing aid: a correct desktop must refuse the link
  std::chrono::milliseconds connect{15'000};
  std::chrono::milliseconds desktop{120'000};  // advertising → desktop's handshake message
  std::chrono::milliseconds idle{180'000};     // between messages after the handshake
};

struct ListenResult {
  int wakeups = 0;
  int requests_served = 0;
  int failed = 0;       // linked sessions that ended in an error
};

class Phone {
 public:
  Phone(PhoneConfig config, authenticator::Authenticator& authenticator);
  ~Phone();
  Phone(const Phone&) = delete;
  Phone& operator=(const Phone&) = delete;

  // One QR ceremony: open the tunnel, advertise, answer the desktop. With `link`, agree to be
  // remembered when the QR code offers it (needs link_state and a tunnel_url).
  Result<PhoneResult> serve_qr(std::string_view fido_url, bool link, const Events& events);
  // Serve linked desktops: keep the listen connection to the relay, answer each wake-up.
  // Returns after `max_wakeups` wake-ups (0 = until the connection ends or cancel()).
  Result<ListenResult> listen(int max_wakeups, const Events& events);
  // Revoke this phone's contact at the relay: every desktop's link to it dies (410).
  Status unlink();

  void cancel();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hg::hybrid
