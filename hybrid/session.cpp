// SPDX-License-Identifier: Apache-2.0
#include "hybrid/session.hpp"

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

net::awaitable<Result<Connected>> connect_linked(ble::Scanner& scanner, const Link& link, qr_payload::RequestType hint,
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

// ====================================================================== phone

namespace {

// After the handshake, both phone flows: post-handshake message with getInfo, an optional update
// message (QR flow), then CTAP requests until shutdown or until the desktop closes.
net::awaitable<Result<PhoneResult>> serve_requests(Channel& ch, Crypter& crypter,
                                                   authenticator::Authenticator& authenticator,
                                                   const std::optional<Bytes>& update_frame, const PhoneOptions& options,
                                                   const Events& events) {
  auto ph = crypter.encrypt(messages::encode_post_handshake(authenticator.get_info_cbor()));
  if (!ph) co_return ph.error();
  if (auto w = co_await ch.write(*ph); !w) co_return w.error();
  if (update_frame) {
    auto u = crypter.encrypt(*update_frame);
    if (!u) co_return u.error();
    if (auto w = co_await ch.write(*u); !w) co_return w.error();
  }
  PhoneResult result;
  while (true) {
    auto ct = co_await ch.read(options.idle, Errc::tunnel_closed, "the desktop's next message");
    if (!ct) {
      if (ct.error().code == Errc::tunnel_closed && result.requests_served > 0) break;  // revision-0 style end
      co_return ct.error();
    }
    auto plain_msg = crypter.decrypt(*ct);
    if (!plain_msg) co_return plain_msg.error();
    auto f = decode_frame(*plain_msg);
    if (!f) co_return f.error();
    if (f->type == MessageType::shutdown) {
      result.shutdown_received = true;
      break;
    }
    if (f->type == MessageType::update) {
      // Desktop → phone updates are ignored but must be valid CBOR.
      if (!cbor::decode(f->payload, cbor::DecodeOptions{.max_size = 65536, .canonical = false}))
        co_return make_error(Errc::message_invalid, "update message is not CBOR");
      continue;
    }
    if (f->type != MessageType::ctap) co_return make_error(Errc::frame_type, "unsupported message type");
    Bytes response = authenticator.handle(f->payload);
    auto rct = crypter.encrypt(encode_frame(MessageType::ctap, response));
    if (!rct) co_return rct.error();
    if (auto w = co_await ch.write(*rct); !w) co_return w.error();
    ++result.requests_served;
    events.emit(Stage::request_served);
  }
  co_await ch.close(1000);
  co_return result;
}

}  // namespace

net::awaitable<Result<PhoneResult>> run_phone_qr(ble::Advertiser& advertiser, const qr_payload::Payload& qr,
                                                 authenticator::Authenticator& authenticator,
                                                 const PhoneOptions& options, const Events& events) {
  const auto& secret = qr.secret;

  // 1. Open the tunnel and learn the routing ID.
  auto ch = co_await options.server.open(options.domain_id, tunnel_domain::new_path(derive_tunnel_id(secret)),
                                         options.connect);
  if (!ch) co_return ch.error();
  auto channel = std::move(ch).value();
  const auto& rid_header = channel->handshake().routing_id;
  if (!rid_header) co_return make_error(Errc::tunnel_protocol, "no single X-caBLE-Routing-ID header in the answer");
  auto rid = hex_decode_fixed<3>(*rid_header);
  if (!rid) co_return make_error(Errc::tunnel_protocol, "X-caBLE-Routing-ID is not 3 bytes of hex");
  events.emit(Stage::tunnel_opened, "routing ID " + hex_encode(*rid, true));

  // 2. Advertise the encrypted EID.
  eid::Components c;
  crypto::random_bytes(c.nonce.data(), c.nonce.size());
  c.routing_id = *rid;
  c.domain_id = options.domain_id;
  const eid::Plaintext plain = eid::from_components(c);
  auto eid_key = derive_eid_key(secret);
  const auto advert = eid::encrypt(plain, eid_key);
  secure_wipe(eid_key);
  if (auto st = advertiser.start(advert); !st) co_return st.error();
  events.emit(Stage::advertising);

  // 3. Noise KNpsk0 responder.
  auto msg1 = co_await channel->read(options.desktop, Errc::tunnel_closed, "the desktop's handshake");
  advertiser.stop();
  if (!msg1) co_return msg1.error();
  events.emit(Stage::desktop_connected);
  auto responder = noise::Responder::kn(qr.public_key, derive_psk(secret, plain));
  if (!responder) co_return make_error(Errc::session_handshake, std::string(responder.error().name()));
  auto out = responder->respond(*msg1);
  if (!out) co_return make_error(Errc::session_handshake, std::string(out.error().name()));
  if (auto w = co_await channel->write(out->message2); !w) co_return w.error();
  Crypter crypter(std::move(out->keys.read_key), std::move(out->keys.write_key));

  // 4. The update message: padded to the same size with or without linking info (as Chrome on
  // Android does); linking info only when the QR code allows it and the person agreed.
  std::optional<messages::LinkingInfo> linking;
  if (options.link && qr.supports_linking.value_or(false)) {
    const LinkOffer& offer = *options.link;
    auto desktop_pub = crypto::P256Public::parse(qr.public_key);
    if (!desktop_pub) co_return make_error(Errc::qr_bad_key);
    linking = messages::make_linking_info(offer.root_secret.view(), offer.contact_id, offer.name, *desktop_pub,
                                          out->keys.handshake_hash);
    if (offer.forge_signature) linking->signature[0] ^= 0x01;
  }
  auto r = co_await serve_requests(*channel, crypter, authenticator, messages::encode_update_frame(linking), options, events);
  if (r) r->linked = linking.has_value();
  co_return r;
}

// ====================================================================== linked phone

net::awaitable<Result<PhoneResult>> run_phone_linked(ble::Advertiser& advertiser, const messages::WakeUp& wake,
                                                     const LinkedPhone& phone, authenticator::Authenticator& authenticator,
                                                     const PhoneOptions& options, const Events& events) {
  auto per_contact = messages::PhoneSecrets::per_contact_id_secret(phone.root_secret.view(), phone.contact_id);
  auto paired = messages::PhoneSecrets::paired_secret(per_contact.view(), wake.payload.pairing_id);
  auto identity = messages::PhoneSecrets::identity_key(phone.root_secret.view());

  const eid::Plaintext plain = eid::random_linked_plaintext();
  auto eid_key = derive_eid_key(paired.view(), wake.payload.client_nonce);
  const auto advert = eid::encrypt(plain, eid_key);
  secure_wipe(eid_key);

  if (auto st = advertiser.start(advert); !st) co_return st.error();
  events.emit(Stage::advertising);
  auto ch = co_await options.server.open(0, tunnel_domain::connect_path(wake.routing_id, wake.tunnel_id), options.connect);
  if (!ch) {
    advertiser.stop();
    co_return ch.error();
  }
  auto channel = std::move(ch).value();
  events.emit(Stage::tunnel_opened);

  auto msg1 = co_await channel->read(options.desktop, Errc::tunnel_closed, "the desktop's handshake");
  advertiser.stop();
  if (!msg1) co_return msg1.error();
  events.emit(Stage::desktop_connected);
  auto responder = noise::Responder::nk(identity, derive_psk(paired.view(), plain));
  auto out = responder.respond(*msg1);
  if (!out) co_return make_error(Errc::session_handshake, std::string(out.error().name()));
  if (auto w = co_await channel->write(out->message2); !w) co_return w.error();
  Crypter crypter(std::move(out->keys.read_key), std::move(out->keys.write_key));
  co_return co_await serve_requests(*channel, crypter, authenticator, std::nullopt, options, events);
}

namespace {
tunnel::ConnectOptions listen_options(const std::string& url, const TunnelServer& server, const std::string& token_hex) {
  tunnel::ConnectOptions o;
  o.url = url;
  o.headers.emplace_back("X-Hybridgate-Contact-Token", token_hex);
  o.keepalive = std::chrono::seconds(30);
  o.ca_file = server.ca_file;
  return o;
}

net::awaitable<Result<std::unique_ptr<tunnel::WebSocket>>> open_listen(const TunnelServer& server,
                                                                      const std::string& token_hex,
                                                                      const std::optional<Bytes>& contact_id) {
  auto url = server.url_for(0, tunnel_domain::listen_path(contact_id));
  if (!url) co_return url.error();
  co_return co_await tunnel::connect(listen_options(*url, server, token_hex));
}
}  // namespace

net::awaitable<Result<Bytes>> register_contact(const TunnelServer& server, const std::string& token_hex,
                                               const std::optional<Bytes>& contact_id) {
  auto conn = co_await open_listen(server, token_hex, contact_id);
  if (!conn) co_return conn.error();
  auto& ws = **conn;
  auto id_header = ws.handshake().header("x-hybridgate-contact-id");
  Bytes id;
  if (contact_id) {
    id = *contact_id;
  } else {
    if (!id_header) co_return make_error(Errc::tunnel_protocol, "the relay assigned no contact ID (X-Hybridgate-Contact-ID)");
    auto decoded = base64url_decode(*id_header);
    if (!decoded || decoded->empty() || decoded->size() > 256)
      co_return make_error(Errc::tunnel_protocol, "X-Hybridgate-Contact-ID is not base64url");
    id = std::move(decoded).value();
  }
  co_await ws.close(1000);
  co_return id;
}

net::awaitable<Status> revoke_contact(const TunnelServer& server, const std::string& token_hex, const Bytes& contact_id) {
  auto conn = co_await open_listen(server, token_hex, contact_id);
  if (!conn) {
    if (conn.error().code == Errc::tunnel_gone) co_return ok_status();  // already revoked
    co_return conn.error();
  }
  auto& ws = **conn;
  if (auto w = co_await ws.write_text(R"({"revoke": true})"); !w) co_return w.error();
  // The relay closes the listener once the contact is revoked.
  auto r = co_await with_deadline<tunnel::Message>(
      std::chrono::seconds(10), ws.read_any(), [&ws] { ws.cancel(); }, Errc::session_deadline,
      "waiting for the relay to confirm the revocation");
  if (r) co_return make_error(Errc::tunnel_protocol, "unexpected message after revoke");
  if (r.error().code != Errc::tunnel_closed) co_return r.error();
  co_return ok_status();
}

net::awaitable<Result<int>> listen_for_wakeups(const TunnelServer& server, const std::string& token_hex,
                                               const Bytes& contact_id, int max_wakeups,
                                               std::function<net::awaitable<Status>(const messages::WakeUp&)> on_wakeup,
                                               const Events& events) {
  auto conn = co_await open_listen(server, token_hex, contact_id);
  if (!conn) co_return conn.error();
  auto& ws = **conn;
  events.emit(Stage::listening);
  int served = 0;
  OnCancel on_cancel(co_await net::this_coro::executor, [&ws] { ws.cancel(); });
  while (max_wakeups == 0 || served < max_wakeups) {
    auto m = co_await ws.read_any();
    if (!m) co_return m.error();
    if (!m->text) continue;  // nothing binary is defined on this connection
    auto wake = messages::parse_wakeup(std::string_view(reinterpret_cast<const char*>(m->data.data()), m->data.size()));
    if (!wake) {
      events.emit(Stage::woken, std::string("ignored: ") + std::string(wake.error().name()));
      continue;
    }
    events.emit(Stage::woken, "hint " + wake->payload.hint);
    auto st = co_await on_wakeup(*wake);
    ++served;
    if (!st) events.emit(Stage::woken, "session failed: " + st.error().to_string());
  }
  co_await ws.close(1000);
  co_return served;
}

}  // namespace hg::hybrid
