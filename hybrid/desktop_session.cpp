// SPDX-License-Identifier: Apache-2.0
#include "hybrid/desktop_session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "hybrid/run.hpp"
#include "proto/crypter.hpp"
#include "proto/crypto.hpp"
#include "proto/derive.hpp"
#include "proto/domains.hpp"
#include "proto/eid.hpp"
#include "proto/noise.hpp"


namespace hg::hybrid {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// Trial-decrypts every advert the scanner reports with one EID key until one matches or the
// deadline passes. Owned by a shared_ptr; the scanner callback holds only a weak reference.
struct AdvertWatch : std::enable_shared_from_this<AdvertWatch> {
  std::optional<eid::Plaintext> match;
  net::steady_timer timer;
  EidKey key;
  eid::DecryptOptions options;

  AdvertWatch(net::any_io_executor ex, const EidKey& k, eid::DecryptOptions o, std::chrono::milliseconds deadline)
      : timer(ex), key(k), options(o) {
    timer.expires_after(deadline);
  }
  AdvertWatch(const AdvertWatch&) = delete;
  AdvertWatch& operator=(const AdvertWatch&) = delete;
  ~AdvertWatch() { secure_wipe(key); }

  Status start(ble::Scanner& scanner) {
    std::weak_ptr<AdvertWatch> weak = shared_from_this();
    return scanner.start([weak](const ble::Advert& a) {
      auto self = weak.lock();
      if (!self || self->match) return;
      auto p = eid::decrypt(a.service_data, self->key, self->options);
      if (!p) return;  // not ours (or invalid): keep scanning
      self->match = *p;
      self->timer.cancel();
    });
  }
  // Returns when an advert matched or the deadline passed.
  net::awaitable<void> wait() {
    // Expiring the timer (rather than cancelling it) also ends a wait that starts after the hook ran.
    OnCancel on_cancel(timer.get_executor(), [this] { timer.expires_at(net::steady_timer::time_point::min()); });
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
};

struct StopScan {
  ble::Scanner& s;
  ~StopScan() { s.stop(); }
};

}  // namespace

// ====================================================================== desktop session

DesktopSession::DesktopSession(std::unique_ptr<Channel> channel, Crypter crypter, int revision, Bytes get_info,
                               uint16_t domain_id, const crypto::P256Key* qr_identity, noise::Hash handshake_hash,
                               DesktopDeadlines deadlines)
    : channel_(std::move(channel)),
      crypter_(std::move(crypter)),
      revision_(revision),
      get_info_(std::move(get_info)),
      domain_id_(domain_id),
      qr_identity_(qr_identity),
      handshake_hash_(handshake_hash),
      deadlines_(deadlines) {
}

DesktopSession::~DesktopSession() = default;

void DesktopSession::offer_linking(const messages::LinkingInfo& l) {
  // Linking info is accepted only on QR-initiated connections: verifying it needs the QR key.
  if (!qr_identity_) return;
  if (messages::verify_linking_signature(*qr_identity_, l.identity_public_key, handshake_hash_, l.signature))
    linking_ = l;
  else
    linking_rejected_ = true;
}

net::awaitable<Result<Bytes>> DesktopSession::transact(ByteView request, const Events& events) {
  if (closed_) co_return make_error(Errc::session_phone_closed, "the session is closed");
  Bytes frame = revision_ >= 1 ? encode_frame(MessageType::ctap, request) : Bytes(request.begin(), request.end());
  auto req_ct = crypter_.encrypt(frame);
  if (!req_ct) co_return req_ct.error();
  if (auto w = co_await channel_->write(*req_ct); !w) co_return make_error(Errc::session_phone_closed, w.error().detail);
  events.emit(Stage::waiting_for_user);

  // Read until the CTAP response (an update message with linking info may come first).
  const auto response_deadline = Clock::now() + deadlines_.response;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(response_deadline - Clock::now());
    if (left.count() <= 0) co_return make_error(Errc::session_deadline, "waiting for the phone's response");
    auto ct = co_await channel_->read(left, Errc::session_phone_closed, "the phone's response");
    if (!ct) co_return ct.error();
    auto plain_msg = crypter_.decrypt(*ct);
    if (!plain_msg) co_return plain_msg.error();
    if (revision_ == 0) {
      if (plain_msg->empty()) co_return make_error(Errc::ctap_invalid, "empty CTAP response");
      co_return std::move(*plain_msg);
    }
    auto f = decode_frame(*plain_msg);
    if (!f) co_return f.error();
    if (f->type == MessageType::ctap) {
      if (f->payload.empty()) co_return make_error(Errc::ctap_invalid, "empty CTAP response");
      co_return std::move(f->payload);
    }
    if (f->type == MessageType::update) {
      auto u = messages::decode_update(f->payload);
      if (!u) co_return u.error();
      if (u->has_value()) offer_linking(**u);
      continue;
    }
    if (f->type == MessageType::shutdown) co_return make_error(Errc::session_phone_closed, "the phone sent shutdown");
    // JSON (digital credentials) is not requested by us: ignore.
  }
}

net::awaitable<void> DesktopSession::close() {
  if (closed_) co_return;
  closed_ = true;
  if (revision_ >= 1) {
    if (auto s = crypter_.encrypt(encode_frame(MessageType::shutdown, {}))) (void)co_await channel_->write(*s);
  }
  co_await channel_->close(1000);
}

net::awaitable<Result<std::unique_ptr<DesktopSession>>> handshake_desktop(std::unique_ptr<Channel> channel,
                                                                         noise::Initiator& init,
                                                                         const crypto::P256Key* qr_identity,
                                                                         uint16_t domain_id,
                                                                         const DesktopDeadlines& deadlines,
                                                                         const Events& events) {
  // Noise handshake (KNpsk0 or NKpsk0, decided by how `init` was made).
  if (auto w = co_await channel->write(init.write_message1()); !w)
    co_return make_error(Errc::session_phone_closed, w.error().detail);
  auto msg2 = co_await channel->read(deadlines.handshake, Errc::session_phone_closed, "the phone's handshake");
  if (!msg2) co_return msg2.error();
  auto keys = init.read_message2(*msg2);
  if (!keys) co_return make_error(Errc::session_handshake, std::string(keys.error().name()));
  Crypter crypter(std::move(keys->read_key), std::move(keys->write_key));
  const noise::Hash handshake_hash = keys->handshake_hash;

  // The post-handshake message.
  auto ph_ct = co_await channel->read(deadlines.handshake, Errc::session_phone_closed, "the post-handshake message");
  if (!ph_ct) co_return ph_ct.error();
  auto ph_plain = crypter.decrypt(*ph_ct);
  if (!ph_plain) co_return ph_plain.error();
  auto ph = messages::decode_post_handshake(*ph_plain);
  if (!ph) co_return ph.error();
  if (!ph->message.supports_ctap() || !ph->message.get_info)
    co_return make_error(Errc::message_invalid, "the phone does not offer CTAP");
  auto session = std::make_unique<DesktopSession>(std::move(channel), std::move(crypter), ph->revision,
                                                  *ph->message.get_info, domain_id, qr_identity, handshake_hash,
                                                  deadlines);
  if (ph->message.linking) {  // revision-0 style linking info
    if (auto l = messages::parse_linking_map(*ph->message.linking)) session->offer_linking(*l);
  }
  events.emit(Stage::secure_channel, "revision " + std::to_string(ph->revision));
  co_return session;
}

// ====================================================================== desktop

net::awaitable<Result<Connected>> connect_qr(ble::Scanner& scanner, const qr_payload::DesktopQr& qr,
                                             const TunnelServer& server, const DesktopDeadlines& deadlines,
                                             const Events& events) {
  const auto& secret = qr.payload.secret;

  // 1. Wait for an advert that decrypts with this QR's EID key.
  auto watch = std::make_shared<AdvertWatch>(co_await net::this_coro::executor, derive_eid_key(secret),
                                             eid::DecryptOptions{}, deadlines.advert);
  if (auto started = watch->start(scanner); !started) co_return started.error();
  {
    StopScan stop_scan{scanner};
    events.emit(Stage::scanning);
    co_await watch->wait();
  }
  if (!watch->match) co_return make_error(Errc::session_no_advert);
  const auto found_at = Clock::now();
  const eid::Plaintext plain = *watch->match;
  auto comps = eid::to_components(plain);
  if (!comps) co_return comps.error();
  events.emit(Stage::phone_found, "routing ID " + hex_encode(comps->routing_id, true) + ", domain " +
                                      std::to_string(comps->domain_id));

  // 2. Connect to the tunnel the phone opened.
  auto ch = co_await server.open(comps->domain_id, tunnel_domain::connect_path(comps->routing_id, derive_tunnel_id(secret)),
                                 deadlines.connect);
  if (!ch) co_return ch.error();
  events.emit(Stage::tunnel_connected);

  // 3. Noise KNpsk0 as initiator.
  auto init = noise::Initiator::kn(qr.identity, derive_psk(secret, plain));
  auto session = co_await handshake_desktop(std::move(ch).value(), init, &qr.identity, comps->domain_id, deadlines, events);
  if (!session) co_return session.error();
  co_return Connected{std::move(session).value(), found_at};
}

// ====================================================================== desktop, linked

net::awaitable<Result<Connected>> connect_linked(ble::Scanner& scanner, const store::Link& link, qr_payload::RequestType hint,
                                                 const TunnelServer& server, const DesktopDeadlines& deadlines,
                                                 const Events& events) {
  messages::ClientPayload payload;
  payload.pairing_id = link.pairing_id;
  crypto::random_bytes(payload.client_nonce.data(), payload.client_nonce.size());
  payload.hint = hint == qr_payload::RequestType::make_credential ? "mc" : "ga";

  // Scan from the start: the phone may advertise before our tunnel is up. Linked EIDs are
  // random: no domain check (docs/protocol.md §5.4).
  auto watch = std::make_shared<AdvertWatch>(co_await net::this_coro::executor,
                                             derive_eid_key(link.link_secret.view(), payload.client_nonce),
                                             eid::DecryptOptions{.check_domain = false}, deadlines.advert);
  if (auto started = watch->start(scanner); !started) co_return started.error();
  StopScan stop_scan{scanner};

  // 1. The contact request.
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("X-caBLE-Client-Payload", messages::client_payload_header(payload));
  headers.emplace_back("X-caBLE-Signal-Connection", "true");
  auto ch = co_await server.open(link.domain_id, tunnel_domain::contact_path(link.contact_id), deadlines.connect,
                                 std::move(headers));
  if (!ch) co_return ch.error();
  auto channel = std::move(ch).value();
  events.emit(Stage::tunnel_connected, "waiting for the phone");

  // 2. The connection signal, if the relay promised one: exactly one byte 0x00 (docs/protocol.md §4.4).
  if (channel->handshake().signal_connection) {
    auto sig = co_await channel->read(deadlines.advert, Errc::session_phone_closed, "the phone to answer");
    if (!sig) co_return sig.error();
    if (sig->size() != 1 || (*sig)[0] != 0) co_return make_error(Errc::tunnel_protocol, "bad connection signal");
  }

  // 3. The advert.
  if (!watch->match) {
    events.emit(Stage::scanning);
    co_await watch->wait();
  }
  if (!watch->match) co_return make_error(Errc::session_no_advert, "the phone answered the tunnel but its advert was not seen");
  const auto found_at = Clock::now();
  const eid::Plaintext plain = *watch->match;
  events.emit(Stage::phone_found);

  // 4. Noise NKpsk0 with the phone's identity key.
  auto phone_pub = crypto::P256Public::parse(link.phone_public_key);
  if (!phone_pub) co_return make_error(Errc::linking_invalid, "stored phone key is invalid");
  auto init = noise::Initiator::nk(*phone_pub, derive_psk(link.link_secret.view(), plain));
  auto session = co_await handshake_desktop(std::move(channel), init, nullptr, link.domain_id, deadlines, events);
  if (!session) co_return session.error();
  co_return Connected{std::move(session).value(), found_at};
}

}  // namespace hg::hybrid
