// SPDX-License-Identifier: Apache-2.0
// The two sides of a QR-initiated hybrid ceremony (spec §1–§8).
//
// Desktop: wait for an advert that decrypts with the QR's EID key → connect to
// /cable/connect/<routing ID>/<tunnel ID> → Noise KNpsk0 initiator → post-handshake message
// (cache getInfo, keep verified linking info) → CTAP request → response → shutdown.
// Phone: /cable/new/<tunnel ID> → routing ID → advertise the encrypted EID → Noise responder →
// post-handshake message with getInfo → serve CTAP requests → stop on shutdown.
//
// Both run as coroutines on the caller's io_context and report progress through Events.
#pragma once

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "ble/radio.hpp"
#include "proto/bytes.hpp"
#include "proto/crypto.hpp"
#include "proto/derive.hpp"
#include "proto/messages.hpp"
#include "proto/qr_payload.hpp"

namespace hg::tunnel {

enum class Stage {
  // desktop
  scanning,          // QR shown, waiting for the phone's advert
  phone_found,       // an advert decrypted with this QR's key
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
};
std::string_view to_string(Stage s);

struct Events {
  std::function<void(Stage, const std::string& detail)> stage;
  void emit(Stage s, const std::string& detail = {}) const {
    if (stage) stage(s, detail);
  }
};

// How to reach tunnel servers: by domain ID (spec §4), or every domain mapped to one base URL
// (self-hosting and tests: "ws://127.0.0.1:8080").
struct TunnelServer {
  std::string override_url;
  std::string ca_file;  // extra trusted CA for wss://
  Result<std::string> url_for(uint16_t domain_id, std::string_view path) const;
};

// ------------------------------------------------------------------ desktop

struct DesktopDeadlines {
  std::chrono::milliseconds advert{120'000};     // QR shown → matching advert
  std::chrono::milliseconds connect{15'000};     // WebSocket connect + upgrade
  std::chrono::milliseconds handshake{15'000};   // Noise message 2 and post-handshake message
  std::chrono::milliseconds response{180'000};   // request sent → CTAP response (a person decides)
};

struct DesktopResult {
  Bytes ctap_response;  // status byte ‖ CBOR
  Bytes get_info;       // from the post-handshake message
  int revision = 1;
  uint16_t domain_id = 0;
  std::optional<messages::LinkingInfo> linking;  // only if offered and its signature verified
  bool linking_rejected = false;                 // linking info came with a bad signature
  std::chrono::milliseconds found_to_result{0};
};

// A phone the desktop remembers (from verified linking info, spec §7.7).
struct Link {
  Bytes contact_id;
  std::array<uint8_t, 8> pairing_id{};
  SecretBytes link_secret;
  crypto::P256Uncompressed phone_public_key{};
  uint16_t domain_id = 0;
};

// The CTAP request (command byte ‖ CBOR parameters), built once the phone's getInfo (its CBOR
// map, no status byte, from the post-handshake message) is known, so a desktop can leave out what
// the phone does not support, as browsers do (e.g. the prf extension when getInfo does not list
// it). Called at most once; an error ends the session with that error.
using RequestBuilder = std::function<Result<Bytes>(ByteView get_info)>;
// A request that does not depend on the phone.
inline RequestBuilder fixed_request(ByteView request) {
  return [r = Bytes(request.begin(), request.end())](ByteView) -> Result<Bytes> { return r; };
}

// Linked (state-assisted) sign-in, spec §7.8: /cable/contact/ with the client payload and the
// connection signal, trial-decrypt adverts with the link secret and a fresh client nonce, Noise
// NKpsk0. A 410 answer → tunnel.gone (the caller forgets the link).
boost::asio::awaitable<Result<DesktopResult>> run_desktop_linked(ble::Scanner& scanner, const Link& link,
                                                                 qr_payload::RequestType hint, RequestBuilder build_request,
                                                                 const TunnelServer& server,
                                                                 const DesktopDeadlines& deadlines, const Events& events);

boost::asio::awaitable<Result<DesktopResult>> run_desktop_qr(ble::Scanner& scanner, const qr_payload::DesktopQr& qr,
                                                             RequestBuilder build_request, const TunnelServer& server,
                                                             const DesktopDeadlines& deadlines, const Events& events);

// ------------------------------------------------------------------ phone

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  virtual Bytes get_info() = 0;                 // getInfo CBOR map (no status byte)
  virtual Bytes handle(ByteView request) = 0;   // cmd ‖ CBOR → status ‖ CBOR
};

// What a phone that agreed to be linked adds to a QR transaction (spec §7.7).
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

struct PhoneResult {
  int requests_served = 0;
  bool shutdown_received = false;
};

boost::asio::awaitable<Result<PhoneResult>> run_phone_qr(ble::Advertiser& advertiser, const qr_payload::Payload& qr,
                                                         Authenticator& authenticator, const PhoneOptions& options,
                                                         const Events& events);

// A wake-up from the relay for a linked phone (the FCM data fields, docs/linking.md).
struct WakeUp {
  TunnelId tunnel_id{};
  std::array<uint8_t, 3> routing_id{};
  messages::ClientPayload payload;
};
// Parses {"caBLE.tunnelID", "caBLE.routingID", "caBLE.clientPayload"} (hex strings).
Result<WakeUp> parse_wakeup(std::string_view json_text);

struct LinkedPhone {
  SecretBytes root_secret;
  Bytes contact_id;
};

// The phone's side of a linked connection: advertise a random EID under the key derived from the
// paired secret and the client nonce, connect to /cable/connect/<routing>/<tunnel>, Noise NKpsk0
// responder with the identity key, post-handshake message, serve requests.
boost::asio::awaitable<Result<PhoneResult>> run_phone_linked(ble::Advertiser& advertiser, const WakeUp& wake,
                                                             const LinkedPhone& phone, Authenticator& authenticator,
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
    std::function<boost::asio::awaitable<Status>(const WakeUp&)> on_wakeup, const Events& events);

}  // namespace hg::tunnel
