// SPDX-License-Identifier: Apache-2.0
// The phone's side of a hybrid ceremony as coroutines (docs/protocol.md), on the caller's
// io_context: /cable/new/<tunnel ID> → routing ID → advertise the encrypted EID → Noise responder
// → post-handshake message with getInfo → serve CTAP requests from an Authenticator until
// shutdown. The woken (linked) flow enters after a wake-up (hybrid/contacts.hpp). The blocking
// façade hybrid/phone.hpp is built on these.
#pragma once

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "ble/radio.hpp"
#include "hybrid/tunnel_channel.hpp"
#include "hybrid/types.hpp"
#include "proto/authenticator.hpp"
#include "proto/bytes.hpp"
#include "proto/crypto.hpp"
#include "proto/messages.hpp"
#include "proto/qr_payload.hpp"

namespace hg::hybrid {

// What a phone that agreed to be linked adds to a QR transaction.
struct LinkOffer {
  SecretBytes root_secret;  // 32 bytes, the phone's long-term secret
  Bytes contact_id;         // how the relay reaches this phone (docs/linking.md)
  std::string name;         // shown to the person on the desktop
  bool forge_signature = false;  // testing aid: send a wrong handshake signature
};

struct PhoneOptions {
  TunnelServer server;
  std::optional<LinkOffer> link;  // send linking info when the QR code allows it
  uint16_t domain_id = 0;  // put in the advert: the domain of the tunnel server we used
  std::chrono::milliseconds connect{15'000};
  std::chrono::milliseconds desktop{120'000};  // advertising → desktop's handshake message
  std::chrono::milliseconds idle{180'000};     // between messages after the handshake
};

boost::asio::awaitable<Result<PhoneResult>> run_phone_qr(ble::Advertiser& advertiser, const qr_payload::Payload& qr,
                                                         authenticator::Authenticator& authenticator,
                                                         const PhoneOptions& options, const Events& events);

struct LinkedPhone {
  SecretBytes root_secret;
  Bytes contact_id;
};

// The phone's side of a linked connection after a wake-up (messages::WakeUp).
boost::asio::awaitable<Result<PhoneResult>> run_phone_linked(ble::Advertiser& advertiser, const messages::WakeUp& wake,
                                                             const LinkedPhone& phone,
                                                             authenticator::Authenticator& authenticator,
                                                             const PhoneOptions& options, const Events& events);

}  // namespace hg::hybrid
