// SPDX-License-Identifier: Apache-2.0
// The two sides of a hybrid ceremony as coroutines (docs/protocol.md), on the caller's io_context.
// The blocking façades (hybrid/desktop.hpp, hybrid/phone.hpp) are built on these.
//
// Desktop: wait for an advert that decrypts with the QR's EID key → open
// /cable/connect/<routing ID>/<tunnel ID> → Noise KNpsk0 initiator over the Channel →
// post-handshake message (getInfo, verified linking info) → a DesktopSession on which any number
// of CTAP requests are transacted → shutdown.
// Phone: /cable/new/<tunnel ID> → routing ID → advertise the encrypted EID → Noise responder →
// post-handshake message with getInfo → serve CTAP requests from an Authenticator until shutdown.
#pragma once

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "ble/radio.hpp"
#include "hybrid/channel.hpp"
#include "hybrid/links.hpp"
#include "hybrid/phone.hpp"  // Stage, Events, DesktopDeadlines, PhoneResult
#include "proto/authenticator.hpp"
#include "proto/bytes.hpp"
#include "proto/crypter.hpp"
#include "proto/crypto.hpp"
#include "proto/derive.hpp"
#include "proto/messages.hpp"
#include "proto/qr_payload.hpp"

namespace hg::hybrid {

// ------------------------------------------------------------------ desktop

// An end-to-end encrypted session with a phone, after the handshake and the post-handshake
// message. transact() may be called any number of times, one at a time. In the QR flow the
// QR code's identity key (which verifies linking info) must outlive the session.
class DesktopSession {
 public:
  DesktopSession(std::unique_ptr<Channel> channel, Crypter crypter, int revision, Bytes get_info, uint16_t domain_id,
                 const crypto::P256Key* qr_identity, noise::Hash handshake_hash, DesktopDeadlines deadlines);
  ~DesktopSession();
  DesktopSession(const DesktopSession&) = delete;
  DesktopSession& operator=(const DesktopSession&) = delete;

  const Bytes& get_info() const { return get_info_; }
  int revision() const { return revision_; }
  uint16_t domain_id() const { return domain_id_; }
  // Linking info the phone sent (post-handshake or update message), only if its signature
  // verified against this QR code's identity key; linking_rejected when one did not verify.
  const std::optional<messages::LinkingInfo>& linking() const { return linking_; }
  bool linking_rejected() const { return linking_rejected_; }

  // One CTAP request (command ‖ CBOR) → the response (status ‖ CBOR), within the response
  // deadline. Update messages that arrive meanwhile are taken in (linking info).
  boost::asio::awaitable<Result<Bytes>> transact(ByteView request, const Events& events);
  // Sends shutdown (revision ≥ 1) and closes the channel. Idempotent.
  boost::asio::awaitable<void> close();
  // Aborts a pending transact() at once (any handler on the same io_context).
  void cancel() { channel_->cancel(); }

  // Takes in linking info from the post-handshake message or an update message.
  void offer_linking(const messages::LinkingInfo& l);

 private:
  std::unique_ptr<Channel> channel_;
  Crypter crypter_;
  int revision_;
  Bytes get_info_;
  uint16_t domain_id_;
  const crypto::P256Key* qr_identity_;  // the QR code's identity key (QR flow; must outlive the session)
  noise::Hash handshake_hash_;
  DesktopDeadlines deadlines_;
  std::optional<messages::LinkingInfo> linking_;
  bool linking_rejected_ = false;
  bool closed_ = false;
};

struct Connected {
  std::unique_ptr<DesktopSession> session;
  std::chrono::steady_clock::time_point found_at;  // when the phone's advert matched
};

// QR flow: scan for the advert, connect to the tunnel the phone opened, handshake.
boost::asio::awaitable<Result<Connected>> connect_qr(ble::Scanner& scanner, const qr_payload::DesktopQr& qr,
                                                     const TunnelServer& server, const DesktopDeadlines& deadlines,
                                                     const Events& events);

// Linked flow: /cable/contact/ with the client payload and the connection signal, trial-decrypt
// adverts with the link secret and a fresh client nonce, Noise NKpsk0. A 410 answer →
// tunnel.gone (the caller forgets the link).
boost::asio::awaitable<Result<Connected>> connect_linked(ble::Scanner& scanner, const Link& link,
                                                         qr_payload::RequestType hint, const TunnelServer& server,
                                                         const DesktopDeadlines& deadlines, const Events& events);

// The handshake and post-handshake message over an open channel (both flows; an L2CAP channel
// would enter here). `qr_identity` (QR flow only) verifies linking info.
boost::asio::awaitable<Result<std::unique_ptr<DesktopSession>>> handshake_desktop(
    std::unique_ptr<Channel> channel, noise::Initiator& init, const crypto::P256Key* qr_identity, uint16_t domain_id,
    const DesktopDeadlines& deadlines, const Events& events);

// ------------------------------------------------------------------ phone

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

// The phone's listen connection (docs/linking.md). register_contact opens /cable/listen with the
// token and returns the contact ID the relay assigned (or confirms `contact_id`).
boost::asio::awaitable<Result<Bytes>> register_contact(const TunnelServer& server, const std::string& token_hex,
                                                       const std::optional<Bytes>& contact_id);
// Unlinks: asks the relay to revoke the contact.
boost::asio::awaitable<Status> revoke_contact(const TunnelServer& server, const std::string& token_hex,
                                              const Bytes& contact_id);
// Follows the listen connection; calls on_wakeup for each wake-up (one at a time). Returns after
// `max_wakeups` wake-ups (0 = until the connection ends).
boost::asio::awaitable<Result<int>> listen_for_wakeups(
    const TunnelServer& server, const std::string& token_hex, const Bytes& contact_id, int max_wakeups,
    std::function<boost::asio::awaitable<Status>(const messages::WakeUp&)> on_wakeup, const Events& events);

}  // namespace hg::hybrid
