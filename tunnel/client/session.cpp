// SPDX-License-Identifier: Apache-2.0
#include "tunnel/client/session.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proto/crypter.hpp"
#include "proto/crypto.hpp"
#include "proto/derive.hpp"
#include "proto/domains.hpp"
#include "proto/eid.hpp"
#include "proto/noise.hpp"
#include "tunnel/client/websocket.hpp"

namespace hg::tunnel {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

std::string_view to_string(Stage s) {
  switch (s) {
    case Stage::scanning: return "scanning";
    case Stage::phone_found: return "phone_found";
    case Stage::tunnel_connected: return "tunnel_connected";
    case Stage::secure_channel: return "secure_channel";
    case Stage::waiting_for_user: return "waiting_for_user";
    case Stage::done: return "done";
    case Stage::tunnel_opened: return "tunnel_opened";
    case Stage::advertising: return "advertising";
    case Stage::desktop_connected: return "desktop_connected";
    case Stage::request_served: return "request_served";
    case Stage::listening: return "listening";
    case Stage::woken: return "woken";
  }
  return "unknown";
}

Result<std::string> TunnelServer::url_for(uint16_t domain_id, std::string_view path) const {
  if (!override_url.empty()) {
    std::string base = override_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base + std::string(path);
  }
  HG_TRY(std::string name, tunnel_domain::name(domain_id));
  return "wss://" + name + std::string(path);
}

namespace {

// Runs `op` with a deadline. When the deadline passes first, `on_timeout` is called (it must make
// `op` finish, typically by cancelling the socket) and the result is `code` instead.
template <typename T>
net::awaitable<Result<T>> with_deadline(std::chrono::milliseconds d, net::awaitable<Result<T>> op,
                                        std::function<void()> on_timeout, Errc code, std::string what) {
  auto ex = co_await net::this_coro::executor;
  auto timer = std::make_shared<net::steady_timer>(ex, d);
  auto fired = std::make_shared<bool>(false);
  auto finished = std::make_shared<bool>(false);
  timer->async_wait([fired, finished, on_timeout](const boost::system::error_code& ec) {
    if (!ec && !*finished) {
      *fired = true;
      on_timeout();
    }
  });
  auto r = co_await std::move(op);
  *finished = true;
  timer->cancel();
  if (*fired) co_return make_error(code, what);
  co_return r;
}

// A tunnel read that maps a closed tunnel to "the phone (or desktop) closed the connection".
net::awaitable<Result<Bytes>> read_message(WebSocket& ws, std::chrono::milliseconds deadline, Errc closed_code,
                                           const char* waiting_for) {
  auto r = co_await with_deadline<Bytes>(
      deadline, ws.read(), [&ws] { ws.cancel(); }, Errc::session_deadline,
      std::string("waiting for ") + waiting_for);
  if (!r && r.error().code == Errc::tunnel_closed) co_return make_error(closed_code, r.error().detail);
  co_return r;
}

net::awaitable<Result<std::unique_ptr<WebSocket>>> connect_with_deadline(ConnectOptions opts) {
  // The connect timeout is enforced by the stream itself (TCP, TLS, upgrade).
  co_return co_await connect(opts);
}

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
    boost::system::error_code ec;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
};

}  // namespace

// The rest of both flows once the tunnel is open: the handshake, the post-handshake message (getInfo; linking info checked
// against the QR identity key when there is one), the CTAP request, the response (an update
// message may come first), shutdown.
net::awaitable<Result<DesktopResult>> finish_desktop(WebSocket& ws_ref, noise::Initiator& init,
                                                     const crypto::P256Key* qr_identity, const RequestBuilder& build_request,
                                                     uint16_t domain_id, Clock::time_point found_at,
                                                     const DesktopDeadlines& deadlines, const Events& events) {
  WebSocket* ws = &ws_ref;
  // 3. Noise handshake (KNpsk0 or NKpsk0, decided by how `init` was made).
  if (auto w = co_await ws->write(init.write_message1()); !w) co_return make_error(Errc::session_phone_closed, w.error().detail);
  auto msg2 = co_await read_message(*ws, deadlines.handshake, Errc::session_phone_closed, "the phone's handshake");
  if (!msg2) co_return msg2.error();
  auto keys = init.read_message2(*msg2);
  if (!keys) co_return make_error(Errc::session_handshake, std::string(keys.error().name()));
  Crypter crypter(std::move(keys->read_key), std::move(keys->write_key));
  const noise::Hash handshake_hash = keys->handshake_hash;

  // 4. Post-handshake message.
  auto ph_ct = co_await read_message(*ws, deadlines.handshake, Errc::session_phone_closed, "the post-handshake message");
  if (!ph_ct) co_return ph_ct.error();
  auto ph_plain = crypter.decrypt(*ph_ct);
  if (!ph_plain) co_return ph_plain.error();
  auto ph = messages::decode_post_handshake(*ph_plain);
  if (!ph) co_return ph.error();
  DesktopResult result;
  result.revision = ph->revision;
  result.domain_id = domain_id;
  if (!ph->message.supports_ctap() || !ph->message.get_info)
    co_return make_error(Errc::message_invalid, "the phone does not offer CTAP");
  result.get_info = *ph->message.get_info;
  auto accept_linking = [&](const messages::LinkingInfo& l) {
    // Linking info is accepted only on QR-initiated connections: verifying it needs the QR key.
    if (!qr_identity) return;
    if (messages::verify_linking_signature(*qr_identity, l.identity_public_key, handshake_hash, l.signature))
      result.linking = l;
    else
      result.linking_rejected = true;
  };
  if (ph->message.linking) {  // revision-0 style linking info
    if (auto l = messages::parse_linking_map(*ph->message.linking)) accept_linking(*l);
  }
  events.emit(Stage::secure_channel, "revision " + std::to_string(ph->revision));

  // 5. The CTAP request, now that the phone's getInfo is known.
  auto ctap_request = build_request(result.get_info);
  if (!ctap_request) co_return ctap_request.error();
  Bytes frame = ph->revision >= 1 ? encode_frame(MessageType::ctap, *ctap_request) : std::move(*ctap_request);
  auto req_ct = crypter.encrypt(frame);
  if (!req_ct) co_return req_ct.error();
  if (auto w = co_await ws->write(*req_ct); !w) co_return make_error(Errc::session_phone_closed, w.error().detail);
  events.emit(Stage::waiting_for_user);

  // 6. Read until the CTAP response (an update message with linking info may come first).
  const auto response_deadline = Clock::now() + deadlines.response;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(response_deadline - Clock::now());
    if (left.count() <= 0) co_return make_error(Errc::session_deadline, "waiting for the phone's response");
    auto ct = co_await read_message(*ws, left, Errc::session_phone_closed, "the phone's response");
    if (!ct) co_return ct.error();
    auto plain_msg = crypter.decrypt(*ct);
    if (!plain_msg) co_return plain_msg.error();
    if (ph->revision == 0) {
      result.ctap_response = std::move(*plain_msg);
      break;
    }
    auto f = decode_frame(*plain_msg);
    if (!f) co_return f.error();
    if (f->type == MessageType::ctap) {
      result.ctap_response = std::move(f->payload);
      break;
    }
    if (f->type == MessageType::update) {
      auto u = messages::decode_update(f->payload);
      if (!u) co_return u.error();
      if (u->has_value()) accept_linking(**u);
      continue;
    }
    if (f->type == MessageType::shutdown) co_return make_error(Errc::session_phone_closed, "the phone sent shutdown");
    // JSON (digital credentials) is not requested by us: ignore.
  }
  result.found_to_result = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - found_at);
  if (result.ctap_response.empty()) co_return make_error(Errc::ctap_invalid, "empty CTAP response");

  // 7. Shutdown and close.
  if (ph->revision >= 1) {
    if (auto s = crypter.encrypt(encode_frame(MessageType::shutdown, {}))) (void)co_await ws->write(*s);
  }
  co_await ws->close(1000);
  events.emit(Stage::done);
  co_return result;
}


// ====================================================================== desktop

net::awaitable<Result<DesktopResult>> run_desktop_qr(ble::Scanner& scanner, const qr_payload::DesktopQr& qr,
                                                     RequestBuilder build_request, const TunnelServer& server,
                                                     const DesktopDeadlines& deadlines, const Events& events) {
  const auto& secret = qr.payload.secret;

  // 1. Wait for an advert that decrypts with this QR's EID key.
  auto watch = std::make_shared<AdvertWatch>(co_await net::this_coro::executor, derive_eid_key(secret),
                                             eid::DecryptOptions{}, deadlines.advert);
  if (auto started = watch->start(scanner); !started) co_return started.error();
  events.emit(Stage::scanning);
  co_await watch->wait();
  scanner.stop();
  if (!watch->match) co_return make_error(Errc::session_no_advert);
  const auto found_at = Clock::now();
  const eid::Plaintext plain = *watch->match;
  auto comps = eid::to_components(plain);
  if (!comps) co_return comps.error();
  events.emit(Stage::phone_found, "routing ID " + hex_encode(comps->routing_id, true) + ", domain " +
                                      std::to_string(comps->domain_id));

  // 2. Connect to the tunnel the phone opened.
  const auto tunnel_id = derive_tunnel_id(secret);
  const std::string path =
      "/cable/connect/" + hex_encode(comps->routing_id, true) + "/" + hex_encode(tunnel_id, true);
  auto url = server.url_for(comps->domain_id, path);
  if (!url) co_return url.error();
  ConnectOptions copts;
  copts.url = *url;
  copts.timeout = deadlines.connect;
  copts.ca_file = server.ca_file;
  auto conn = co_await connect_with_deadline(copts);
  if (!conn) co_return conn.error();
  std::unique_ptr<WebSocket> ws = std::move(conn).value();
  events.emit(Stage::tunnel_connected);

  // 3. Noise KNpsk0 as initiator, then the request.
  auto init = noise::Initiator::kn(qr.identity, derive_psk(secret, plain));
  co_return co_await finish_desktop(*ws, init, &qr.identity, build_request, comps->domain_id, found_at, deadlines, events);
}

// ====================================================================== desktop, linked

net::awaitable<Result<DesktopResult>> run_desktop_linked(ble::Scanner& scanner, const Link& link,
                                                         qr_payload::RequestType hint, RequestBuilder build_request,
                                                         const TunnelServer& server, const DesktopDeadlines& deadlines,
                                                         const Events& events) {
  messages::ClientPayload payload;
  payload.pairing_id = link.pairing_id;
  crypto::random_bytes(payload.client_nonce.data(), payload.client_nonce.size());
  payload.hint = hint == qr_payload::RequestType::make_credential ? "mc" : "ga";

  // Scan from the start: the phone may advertise before our tunnel is up. Linked EIDs are
  // random: no domain check (spec §3.4).
  auto watch = std::make_shared<AdvertWatch>(co_await net::this_coro::executor,
                                             derive_eid_key(link.link_secret.view(), payload.client_nonce),
                                             eid::DecryptOptions{.check_domain = false}, deadlines.advert);
  if (auto started = watch->start(scanner); !started) co_return started.error();
  struct StopScan {
    ble::Scanner& s;
    ~StopScan() { s.stop(); }
  } stop_scan{scanner};

  // 1. The contact request.
  auto url = server.url_for(link.domain_id, "/cable/contact/" + base64url_encode(link.contact_id));
  if (!url) co_return url.error();
  ConnectOptions copts;
  copts.url = *url;
  copts.timeout = deadlines.connect;
  copts.ca_file = server.ca_file;
  copts.headers.emplace_back("X-caBLE-Client-Payload", messages::client_payload_header(payload));
  copts.headers.emplace_back("X-caBLE-Signal-Connection", "true");
  auto conn = co_await connect_with_deadline(copts);
  if (!conn) co_return conn.error();
  std::unique_ptr<WebSocket> ws = std::move(conn).value();
  events.emit(Stage::tunnel_connected, "waiting for the phone");

  // 2. The connection signal, if the relay promised one: exactly one byte 0x00 (spec §5.2).
  if (ws->handshake().signal_connection) {
    auto sig = co_await read_message(*ws, deadlines.advert, Errc::session_phone_closed, "the phone to answer");
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
  co_return co_await finish_desktop(*ws, init, nullptr, build_request, link.domain_id, found_at, deadlines, events);
}

// ====================================================================== phone

namespace {

// After the handshake, both phone flows: post-handshake message with getInfo, an optional update
// message (QR flow), then CTAP requests until shutdown or until the desktop closes.
net::awaitable<Result<PhoneResult>> serve_requests(WebSocket& ws, Crypter& crypter, Authenticator& authenticator,
                                                   const std::optional<Bytes>& update_frame, const PhoneOptions& options,
                                                   const Events& events) {
  auto ph = crypter.encrypt(messages::encode_post_handshake(authenticator.get_info()));
  if (!ph) co_return ph.error();
  if (auto w = co_await ws.write(*ph); !w) co_return w.error();
  if (update_frame) {
    auto u = crypter.encrypt(*update_frame);
    if (!u) co_return u.error();
    if (auto w = co_await ws.write(*u); !w) co_return w.error();
  }
  PhoneResult result;
  while (true) {
    auto ct = co_await read_message(ws, options.idle, Errc::tunnel_closed, "the desktop's next message");
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
    if (auto w = co_await ws.write(*rct); !w) co_return w.error();
    ++result.requests_served;
    events.emit(Stage::request_served);
  }
  co_await ws.close(1000);
  co_return result;
}

}  // namespace

net::awaitable<Result<PhoneResult>> run_phone_qr(ble::Advertiser& advertiser, const qr_payload::Payload& qr,
                                                 Authenticator& authenticator, const PhoneOptions& options,
                                                 const Events& events) {
  const auto& secret = qr.secret;
  const auto tunnel_id = derive_tunnel_id(secret);

  // 1. Open the tunnel and learn the routing ID.
  auto url = options.server.url_for(options.domain_id, "/cable/new/" + hex_encode(tunnel_id, true));
  if (!url) co_return url.error();
  ConnectOptions copts;
  copts.url = *url;
  copts.timeout = options.connect;
  copts.ca_file = options.server.ca_file;
  auto conn = co_await connect_with_deadline(copts);
  if (!conn) co_return conn.error();
  std::unique_ptr<WebSocket> ws = std::move(conn).value();
  const auto& rid_header = ws->handshake().routing_id;
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
  auto msg1 = co_await read_message(*ws, options.desktop, Errc::tunnel_closed, "the desktop's handshake");
  advertiser.stop();
  if (!msg1) co_return msg1.error();
  events.emit(Stage::desktop_connected);
  auto responder = noise::Responder::kn(qr.public_key, derive_psk(secret, plain));
  if (!responder) co_return make_error(Errc::session_handshake, std::string(responder.error().name()));
  auto out = responder->respond(*msg1);
  if (!out) co_return make_error(Errc::session_handshake, std::string(out.error().name()));
  if (auto w = co_await ws->write(out->message2); !w) co_return w.error();
  Crypter crypter(std::move(out->keys.read_key), std::move(out->keys.write_key));

  // 4. The update message: padded to the same size with or without linking info (as Chrome on
  // Android does); linking info only when the QR code allows it and the person agreed.
  std::optional<messages::LinkingInfo> linking;
  if (options.link && qr.supports_linking.value_or(false)) {
    const LinkOffer& offer = *options.link;
    messages::LinkingInfo l;
    l.contact_id = offer.contact_id;
    crypto::random_bytes(l.pairing_id.data(), l.pairing_id.size());
    auto per_contact = messages::PhoneSecrets::per_contact_id_secret(offer.root_secret.view(), offer.contact_id);
    l.link_secret = messages::PhoneSecrets::paired_secret(per_contact.view(), l.pairing_id);
    auto identity = messages::PhoneSecrets::identity_key(offer.root_secret.view());
    l.identity_public_key = identity.public_uncompressed();
    l.name = offer.name;
    auto desktop_pub = crypto::P256Public::parse(qr.public_key);
    if (!desktop_pub) co_return make_error(Errc::qr_bad_key);
    l.signature = messages::linking_signature(identity, *desktop_pub, out->keys.handshake_hash);
    if (offer.forge_signature) l.signature[0] ^= 0x01;
    linking = std::move(l);
  }
  co_return co_await serve_requests(*ws, crypter, authenticator, messages::encode_update_frame(linking), options, events);
}

// ====================================================================== linked phone

Result<WakeUp> parse_wakeup(std::string_view text) {
  // A flat JSON object of three string fields: parsed with the same strictness as the relay sends it.
  auto bad = [](const char* why) { return make_error(Errc::message_invalid, std::string("wake-up: ") + why); };
  if (text.size() > 8192) return bad("too long");
  auto field = [&](std::string_view name) -> std::optional<std::string> {
    const std::string key = "\"" + std::string(name) + "\"";
    size_t k = text.find(key);
    if (k == std::string_view::npos) return std::nullopt;
    size_t colon = text.find(':', k + key.size());
    if (colon == std::string_view::npos) return std::nullopt;
    size_t open = text.find('"', colon + 1);
    if (open == std::string_view::npos) return std::nullopt;
    for (size_t i = colon + 1; i < open; ++i)
      if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') return std::nullopt;
    size_t close = text.find('"', open + 1);
    if (close == std::string_view::npos) return std::nullopt;
    return std::string(text.substr(open + 1, close - open - 1));
  };
  auto tid = field("caBLE.tunnelID");
  auto rid = field("caBLE.routingID");
  auto payload = field("caBLE.clientPayload");
  if (!tid || !rid || !payload) return bad("missing caBLE.tunnelID, caBLE.routingID or caBLE.clientPayload");
  WakeUp w;
  auto t = hex_decode_fixed<16>(*tid);
  auto r = hex_decode_fixed<3>(*rid);
  if (!t || !r) return bad("tunnel ID or routing ID is not hex of the right length");
  w.tunnel_id = *t;
  w.routing_id = *r;
  HG_TRY(w.payload, messages::parse_client_payload_header(*payload));
  return w;
}

net::awaitable<Result<PhoneResult>> run_phone_linked(ble::Advertiser& advertiser, const WakeUp& wake,
                                                     const LinkedPhone& phone, Authenticator& authenticator,
                                                     const PhoneOptions& options, const Events& events) {
  auto per_contact = messages::PhoneSecrets::per_contact_id_secret(phone.root_secret.view(), phone.contact_id);
  auto paired = messages::PhoneSecrets::paired_secret(per_contact.view(), wake.payload.pairing_id);
  auto identity = messages::PhoneSecrets::identity_key(phone.root_secret.view());

  // The EID is random here, but byte 0 stays 0 and the domain bytes stay >= 0x0100 so that a
  // Chromium desktop's domain check accepts it (spec §3.4).
  eid::Plaintext plain{};
  crypto::random_bytes(plain.data(), plain.size());
  plain[0] = 0;
  if (plain[15] == 0) plain[15] = 1;
  auto eid_key = derive_eid_key(paired.view(), wake.payload.client_nonce);
  const auto advert = eid::encrypt(plain, eid_key);
  secure_wipe(eid_key);

  auto url = options.server.url_for(0, "/cable/connect/" + hex_encode(wake.routing_id, true) + "/" +
                                           hex_encode(wake.tunnel_id, true));
  if (!url) co_return url.error();
  ConnectOptions copts;
  copts.url = *url;
  copts.timeout = options.connect;
  copts.ca_file = options.server.ca_file;
  if (auto st = advertiser.start(advert); !st) co_return st.error();
  events.emit(Stage::advertising);
  auto conn = co_await connect_with_deadline(copts);
  if (!conn) {
    advertiser.stop();
    co_return conn.error();
  }
  std::unique_ptr<WebSocket> ws = std::move(conn).value();
  events.emit(Stage::tunnel_opened);

  auto msg1 = co_await read_message(*ws, options.desktop, Errc::tunnel_closed, "the desktop's handshake");
  advertiser.stop();
  if (!msg1) co_return msg1.error();
  events.emit(Stage::desktop_connected);
  auto responder = noise::Responder::nk(identity, derive_psk(paired.view(), plain));
  auto out = responder.respond(*msg1);
  if (!out) co_return make_error(Errc::session_handshake, std::string(out.error().name()));
  if (auto w = co_await ws->write(out->message2); !w) co_return w.error();
  Crypter crypter(std::move(out->keys.read_key), std::move(out->keys.write_key));
  co_return co_await serve_requests(*ws, crypter, authenticator, std::nullopt, options, events);
}

namespace {
Result<ConnectOptions> listen_options(const TunnelServer& server, const std::string& token_hex,
                                      const std::optional<Bytes>& contact_id) {
  auto url = server.url_for(0, contact_id ? "/cable/listen/" + base64url_encode(*contact_id) : std::string("/cable/listen"));
  if (!url) return url.error();
  ConnectOptions o;
  o.url = *url;
  o.headers.emplace_back("X-Hybridgate-Contact-Token", token_hex);
  o.keepalive = std::chrono::seconds(30);
  o.ca_file = server.ca_file;
  return o;
}
}  // namespace

net::awaitable<Result<Bytes>> register_contact(const TunnelServer& server, const std::string& token_hex,
                                               const std::optional<Bytes>& contact_id) {
  auto o = listen_options(server, token_hex, contact_id);
  if (!o) co_return o.error();
  auto conn = co_await connect(*o);
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
  auto o = listen_options(server, token_hex, contact_id);
  if (!o) co_return o.error();
  auto conn = co_await connect(*o);
  if (!conn) {
    if (conn.error().code == Errc::tunnel_gone) co_return ok_status();  // already revoked
    co_return conn.error();
  }
  auto& ws = **conn;
  if (auto w = co_await ws.write_text(R"({"revoke": true})"); !w) co_return w.error();
  // The relay closes the listener once the contact is revoked.
  auto r = co_await with_deadline<Message>(
      std::chrono::seconds(10), ws.read_any(), [&ws] { ws.cancel(); }, Errc::session_deadline,
      "waiting for the relay to confirm the revocation");
  if (r) co_return make_error(Errc::tunnel_protocol, "unexpected message after revoke");
  if (r.error().code != Errc::tunnel_closed) co_return r.error();
  co_return ok_status();
}

net::awaitable<Result<int>> listen_for_wakeups(const TunnelServer& server, const std::string& token_hex,
                                               const Bytes& contact_id, int max_wakeups,
                                               std::function<net::awaitable<Status>(const WakeUp&)> on_wakeup,
                                               const Events& events) {
  auto o = listen_options(server, token_hex, contact_id);
  if (!o) co_return o.error();
  auto conn = co_await connect(*o);
  if (!conn) co_return conn.error();
  auto& ws = **conn;
  events.emit(Stage::listening);
  int served = 0;
  while (max_wakeups == 0 || served < max_wakeups) {
    auto m = co_await ws.read_any();
    if (!m) co_return m.error();
    if (!m->text) continue;  // nothing binary is defined on this connection
    auto wake = parse_wakeup(std::string_view(reinterpret_cast<const char*>(m->data.data()), m->data.size()));
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

}  // namespace hg::tunnel
