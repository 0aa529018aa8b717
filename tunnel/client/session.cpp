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

Bytes random_nonce10() {
  Bytes b = crypto::random_bytes(10);
  return b;
}

}  // namespace

// ====================================================================== desktop

net::awaitable<Result<DesktopResult>> run_desktop_qr(ble::Scanner& scanner, const qr_payload::DesktopQr& qr,
                                                     ByteView ctap_request, const TunnelServer& server,
                                                     const DesktopDeadlines& deadlines, const Events& events) {
  auto ex = co_await net::this_coro::executor;
  const auto& secret = qr.payload.secret;

  // 1. Wait for an advert that decrypts with this QR's EID key.
  struct ScanState {
    std::optional<eid::Plaintext> match;
    net::steady_timer timer;
    EidKey key{};
    explicit ScanState(net::any_io_executor e) : timer(e) {}
    ~ScanState() { secure_wipe(key); }
  };
  auto scan = std::make_shared<ScanState>(ex);
  scan->key = derive_eid_key(secret);
  scan->timer.expires_after(deadlines.advert);
  std::weak_ptr<ScanState> weak = scan;
  auto started = scanner.start([weak](const ble::Advert& a) {
    auto s = weak.lock();
    if (!s || s->match) return;
    auto p = eid::decrypt(a.service_data, s->key);
    if (!p) return;  // not ours (or invalid): keep scanning
    s->match = *p;
    s->timer.cancel();
  });
  if (!started) co_return started.error();
  events.emit(Stage::scanning);
  boost::system::error_code ec;
  co_await scan->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
  scanner.stop();
  if (!scan->match) co_return make_error(Errc::session_no_advert);
  const auto found_at = Clock::now();
  const eid::Plaintext plain = *scan->match;
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

  // 3. Noise KNpsk0 as initiator.
  const auto psk = derive_psk(secret, plain);
  auto init = noise::Initiator::kn(qr.identity, psk);
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
  result.domain_id = comps->domain_id;
  if (!ph->message.supports_ctap() || !ph->message.get_info)
    co_return make_error(Errc::message_invalid, "the phone does not offer CTAP");
  result.get_info = *ph->message.get_info;
  auto accept_linking = [&](const messages::LinkingInfo& l) {
    if (messages::verify_linking_signature(qr.identity, l.identity_public_key, handshake_hash, l.signature))
      result.linking = l;
  };
  if (ph->message.linking) {  // revision-0 style linking info
    if (auto l = messages::parse_linking_map(*ph->message.linking)) accept_linking(*l);
  }
  events.emit(Stage::secure_channel, "revision " + std::to_string(ph->revision));

  // 5. The CTAP request.
  Bytes frame = ph->revision >= 1 ? encode_frame(MessageType::ctap, ctap_request) : Bytes(ctap_request.begin(), ctap_request.end());
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

// ====================================================================== phone

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
  Bytes nonce = random_nonce10();
  std::copy(nonce.begin(), nonce.end(), c.nonce.begin());
  c.routing_id = *rid;
  c.domain_id = options.domain_id;
  const eid::Plaintext plain = eid::from_components(c);
  auto eid_key = derive_eid_key(secret);
  const auto advert = eid::encrypt(plain, eid_key);
  secure_wipe(eid_key);
  if (auto st = advertiser.start(advert); !st) co_return st.error();
  events.emit(Stage::advertising);

  // 3. Noise responder.
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

  // 4. Post-handshake message with getInfo.
  auto ph = crypter.encrypt(messages::encode_post_handshake(authenticator.get_info()));
  if (!ph) co_return ph.error();
  if (auto w = co_await ws->write(*ph); !w) co_return w.error();

  // 5. Serve requests until shutdown or until the desktop closes.
  PhoneResult result;
  while (true) {
    auto ct = co_await read_message(*ws, options.idle, Errc::tunnel_closed, "the desktop's next message");
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
    if (auto w = co_await ws->write(*rct); !w) co_return w.error();
    ++result.requests_served;
    events.emit(Stage::request_served);
  }
  co_await ws->close(1000);
  co_return result;
}

}  // namespace hg::tunnel
