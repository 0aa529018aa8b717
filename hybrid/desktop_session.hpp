// SPDX-License-Identifier: Apache-2.0
// The desktop's side of a hybrid ceremony as coroutines (docs/protocol.md), on the caller's
// io_context: wait for an advert that decrypts with the QR's EID key (or the link's) → open
// /cable/connect/<routing ID>/<tunnel ID> → Noise initiator over the Channel → post-handshake
// message (getInfo, verified linking info) → a DesktopSession on which any number of CTAP requests
// are transacted → shutdown. The blocking façade hybrid/desktop.hpp is built on these.
#pragma once

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "ble/radio.hpp"
#include "hybrid/channel.hpp"
#include "hybrid/tunnel_channel.hpp"
#include "hybrid/types.hpp"
#include "proto/bytes.hpp"
#include "proto/crypter.hpp"
#include "proto/crypto.hpp"
#include "proto/messages.hpp"
#include "proto/noise.hpp"
#include "proto/qr_payload.hpp"
#include "store/links.hpp"

namespace hg::hybrid {

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
boost::asio::awaitable<Result<Connected>> connect_linked(ble::Scanner& scanner, const store::Link& link,
                                                         qr_payload::RequestType hint, const TunnelServer& server,
                                                         const DesktopDeadlines& deadlines, const Events& events);

// The handshake and post-handshake message over an open channel (both flows; an L2CAP channel
// would enter here). `qr_identity` (QR flow only) verifies linking info.
boost::asio::awaitable<Result<std::unique_ptr<DesktopSession>>> handshake_desktop(
    std::unique_ptr<Channel> channel, noise::Initiator& init, const crypto::P256Key* qr_identity, uint16_t domain_id,
    const DesktopDeadlines& deadlines, const Events& events);

}  // namespace hg::hybrid
