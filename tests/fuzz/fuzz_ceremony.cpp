// SPDX-License-Identifier: Apache-2.0
// Whole-transaction fuzzer (as libfido2's fuzz_assert/fuzz_cred drive whole transactions): one
// side of a hybrid QR ceremony is the real code (hybrid::connect_qr + DesktopSession, or
// hybrid::run_phone_qr with the software authenticator), the other side is driven by the fuzz
// input, over the in-process doubles (tests/doubles/: tunnel server, radio, channels). The input
// decides, message by message, what the fuzzed side sends:
//   the honest message; raw bytes; fuzzed plaintext encrypted with the real session keys (so it
//   passes AES-GCM and reaches the frame, post-handshake, update and CTAP decoders); or nothing;
// plus a channel fault on every message of either side (drop, close with a code, dropped
// connection, held back, a corrupted byte) and cancelling the side under test mid-way.
//
// Modes (ConsumeBool from the input's end): the phone under test (the input plays the desktop's
// QR ceremony), or the desktop under test, then a second bit: the QR flow (the input plays the
// phone that scanned the QR code) or the linked flow (hybrid::connect_linked: the contact request
// through the relay, the wake-up on the phone's listen connection, NKpsk0; the input plays the
// woken phone). An empty input is an honest QR run with the desktop under test.
//
// Oracles:
//   - nothing crashes, leaks or hits UB, and every run ends (the driver below detects a
//     deadlock — both sides waiting for a message that was lost — and the fuzzed side gives up,
//     or the side under test is cancelled);
//   - an honest run (no raw or fuzzed message, no fault, no cancel) never stalls and succeeds:
//     the desktop gets well-formed CTAP responses, the phone serves every request and sees the
//     shutdown;
//   - the desktop accepts only responses the phone really encrypted under the session keys, and
//     linking info only when the phone sent a correctly signed one;
//   - every response the phone under test sends is a well-formed CTAP response.
// Not deterministic: the ceremonies draw their Noise ephemerals, EID nonces and QR secrets from
// the system RNG (no seam for that); this changes bytes, not which code runs.
#include <fuzzer/FuzzedDataProvider.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <boost/asio/post.hpp>
#include <set>

#include "fuzz_common.hpp"
#include "hybrid/desktop_session.hpp"
#include "hybrid/phone_session.hpp"
#include "hybrid/run.hpp"
#include "store/links.hpp"
#include "memory_link.hpp"
#include "memory_radio.hpp"
#include "memory_relay.hpp"
#include "proto/authenticator.hpp"
#include "proto/crypter.hpp"
#include "proto/ctap.hpp"
#include "proto/derive.hpp"
#include "proto/domains.hpp"
#include "proto/eid.hpp"
#include "proto/messages.hpp"
#include "proto/noise.hpp"

using namespace hg;
namespace net = boost::asio;
using doubles::Fault;
using namespace std::chrono_literals;

namespace {

constexpr size_t kMaxFaults = 12;
constexpr int kMaxSteps = 6;

Fault fault_from(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 11)) {
    case 1: return Fault::drop();
    case 2: return Fault::close(in.ConsumeIntegral<uint16_t>());
    case 3: return Fault::abort();
    case 4: return Fault::hold();
    case 5: return Fault::corrupt(in.ConsumeIntegral<uint16_t>(), in.ConsumeIntegral<uint8_t>());
    default: return Fault::none();  // mostly no fault
  }
}

enum class Send { honest, raw, fuzzed_plaintext, nothing, cancel };

Bytes fixed_make_credential() {
  ctap::MakeCredentialRequest r;
  r.client_data_hash.fill(0x11);
  r.rp = {"example.com", "Example"};
  r.user = {Bytes{1, 2, 3}, "alice", "Alice"};
  r.pub_key_cred_params = {ctap::CredentialParameters{}};
  r.options.rk = true;
  return ctap::encode_request(r);
}

Bytes fixed_get_assertion() {
  ctap::GetAssertionRequest r;
  r.rp_id = "example.com";
  r.client_data_hash.fill(0x22);
  return ctap::encode_request(r);
}

struct Ctx {
  explicit Ctx(const uint8_t* data, size_t size) : in(data, size) {}
  FuzzedDataProvider in;
  net::io_context io{1};
  std::shared_ptr<doubles::MemoryRelay> relay = doubles::MemoryRelay::make();
  std::shared_ptr<doubles::MemoryAir> air = doubles::MemoryAir::make();
  qr_payload::DesktopQr qr = qr_payload::generate({.request_type = qr_payload::RequestType::make_credential,
                                                   .supports_linking = true});
  bool honest = true;           // nothing fuzzed so far
  bool peer_done = false;
  bool sut_done = false;
  bool peer_reading = false;    // the fuzzed side waits for a message or an advert
  std::function<void()> kick;   // makes the fuzzed side give that wait up
  hybrid::Channel* peer_channel = nullptr;
  std::vector<Fault> peer_faults, sut_faults;
  bool phone_under_test = false;
  std::atomic<int> busy{0};     // the phone's authenticator is answering on its worker thread

  Send choose() {
    switch (in.ConsumeIntegralInRange<int>(0, 9)) {
      case 1: honest = false; return Send::raw;
      case 2: honest = false; return Send::fuzzed_plaintext;
      case 3: honest = false; return Send::nothing;
      case 4: honest = false; return Send::cancel;
      default: return Send::honest;
    }
  }
  Bytes raw() { return in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 600)); }
  void cancel_sut() { net::use_service<hybrid::CancelService>(io).fire(); }

  // Faults for the tunnel's messages, chosen by the input (phone side = `phone_faults`).
  void plan_faults(bool peer_is_phone) {
    for (size_t i = 0; i < kMaxFaults; ++i) peer_faults.push_back(fault_from(in));
    for (size_t i = 0; i < kMaxFaults; ++i) sut_faults.push_back(fault_from(in));
    for (const auto& f : peer_faults) honest = honest && f.kind == Fault::Kind::none;
    for (const auto& f : sut_faults) honest = honest && f.kind == Fault::Kind::none;
    auto plan = [](std::vector<Fault> faults) -> doubles::FaultPlan {
      return [faults](size_t i, ByteView) { return i < faults.size() ? faults[i] : Fault::none(); };
    };
    if (peer_is_phone) relay->set_faults(plan(peer_faults), plan(sut_faults));
    else relay->set_faults(plan(sut_faults), plan(peer_faults));
  }

  // A lost message: the fuzzed side gives up and drops its end of the tunnel.
  net::awaitable<Result<Bytes>> peer_read() {
    peer_reading = true;
    kick = [ch = peer_channel] { ch->cancel(); };
    auto r = co_await peer_channel->read();
    peer_reading = false;
    kick = nullptr;
    co_return r;
  }
};

// ====================================================================== the input plays the phone

struct PhoneScript {
  std::set<Bytes> encrypted;  // every plaintext the phone encrypted after the handshake
  std::optional<std::array<uint8_t, 8>> honest_pairing_id;
};

net::awaitable<void> fuzzed_phone(Ctx& c, PhoneScript& ps) {
  auto& secret = c.qr.payload.secret;
  tunnel::ConnectOptions o;
  o.url = std::string(doubles::MemoryRelay::kBaseUrl) + tunnel_domain::new_path(derive_tunnel_id(secret));
  auto ws = co_await c.relay->connect(o);
  HG_FUZZ_CHECK(ws.ok());
  auto rid = hex_decode_fixed<3>(*(*ws)->handshake().routing_id);
  HG_FUZZ_CHECK(rid.ok());
  hybrid::WebSocketChannel ch(std::move(ws).value());
  c.peer_channel = &ch;

  // The advert: honest, or fuzzed service data.
  auto advertiser = c.air->advertiser();
  eid::Components comps;
  crypto::random_bytes(comps.nonce.data(), comps.nonce.size());
  comps.routing_id = *rid;
  const eid::Plaintext plain = eid::from_components(comps);
  if (c.choose() == Send::raw) (void)advertiser->start(c.raw());
  auto eid_key = derive_eid_key(secret);
  (void)advertiser->start(eid::encrypt(plain, eid_key));

  auto finish = [&](uint16_t code) -> net::awaitable<void> {
    advertiser->stop();
    co_await ch.close(code);
    c.peer_channel = nullptr;
  };
  auto msg1 = co_await c.peer_read();
  if (!msg1) co_return co_await finish(1000);
  auto responder = noise::Responder::kn(c.qr.payload.public_key, derive_psk(secret, plain));
  HG_FUZZ_CHECK(responder.ok());
  auto out = responder->respond(*msg1);
  HG_FUZZ_CHECK(out.ok() || !c.honest);  // an honest desktop's handshake always works
  std::optional<Crypter> crypter;
  if (out) crypter.emplace(out->keys.read_key, out->keys.write_key);

  // Sends one message: the honest plaintext (encrypted), fuzzed plaintext (encrypted), raw bytes,
  // nothing, or cancels the desktop.
  auto send = [&](const Bytes& honest_plain) -> net::awaitable<bool> {
    Bytes plaintext = honest_plain;
    switch (c.choose()) {
      case Send::nothing: co_return true;
      case Send::cancel: c.cancel_sut(); break;
      case Send::raw: co_return (co_await ch.write(c.raw())).ok();
      case Send::fuzzed_plaintext: plaintext = c.raw(); break;
      case Send::honest: break;
    }
    if (!crypter) co_return (co_await ch.write(c.raw())).ok();
    auto ct = crypter->encrypt(plaintext);
    if (!ct) co_return false;
    ps.encrypted.insert(plaintext);
    co_return (co_await ch.write(*ct)).ok();
  };

  // Message 2.
  {
    const Send s = c.choose();
    Bytes m2 = out ? out->message2 : Bytes(81, 0);
    if (s == Send::raw || s == Send::fuzzed_plaintext) m2 = c.raw();
    if (s == Send::cancel) c.cancel_sut();
    if (s != Send::nothing && !(co_await ch.write(m2)).ok()) co_return co_await finish(1000);
  }
  // The post-handshake message with a getInfo, and the update message (linking info or not).
  authenticator::MemoryCredentialStore store;
  authenticator::AlwaysConfirm yes;
  authenticator::SoftwareAuthenticator auth(store, yes);
  if (!co_await send(messages::encode_post_handshake(auth.get_info_cbor()))) co_return co_await finish(1000);
  std::optional<messages::LinkingInfo> linking;
  if (out && c.in.ConsumeBool()) {
    auto desktop_pub = crypto::P256Public::parse(c.qr.payload.public_key);
    HG_FUZZ_CHECK(desktop_pub.ok());
    linking = messages::make_linking_info(crypto::random_bytes(32), Bytes{1, 2, 3, 4}, "fuzz", *desktop_pub,
                                          out->keys.handshake_hash);
  }
  {
    const size_t before = ps.encrypted.size();
    Bytes update = messages::encode_update_frame(linking);
    if (!co_await send(update)) co_return co_await finish(1000);
    if (linking && ps.encrypted.size() > before && ps.encrypted.count(update)) ps.honest_pairing_id = linking->pairing_id;
  }
  // Answer the desktop's requests.
  for (int step = 0; step < kMaxSteps; ++step) {
    auto ct = co_await c.peer_read();
    if (!ct) co_return co_await finish(1000);
    if (!crypter) break;
    auto plain_req = crypter->decrypt(*ct);
    if (!plain_req) break;
    auto f = decode_frame(*plain_req);
    if (!f || f->type == MessageType::shutdown) break;
    if (f->type != MessageType::ctap) continue;
    if (!co_await send(encode_frame(MessageType::ctap, auth.handle(f->payload)))) break;
  }
  co_return co_await finish(c.in.ConsumeBool() ? 1000 : c.in.ConsumeIntegral<uint16_t>());
}

net::awaitable<Result<Unit>> desktop_under_test(Ctx& c, PhoneScript& ps, std::unique_ptr<ble::Scanner>& scanner) {
  hybrid::DesktopDeadlines d{.advert = 1s, .connect = 1s, .handshake = 1s, .response = 1s};
  auto conn = co_await hybrid::connect_qr(*scanner, c.qr, c.relay->server(), d, {});
  if (!conn) co_return conn.error();
  auto& s = *conn->session;
  for (const Bytes& request : {fixed_make_credential(), fixed_get_assertion()}) {
    auto r = co_await s.transact(request, {});
    if (!r) co_return r.error();
    // Only what the phone encrypted is accepted: the whole plaintext (revision 0) or a frame's payload.
    bool authentic = ps.encrypted.count(*r) > 0;
    Bytes framed = encode_frame(MessageType::ctap, *r);
    authentic = authentic || ps.encrypted.count(framed) > 0;
    HG_FUZZ_CHECK(authentic);
    if (c.honest) HG_FUZZ_CHECK(ctap::parse_response(*r).ok());
  }
  if (s.linking()) {
    HG_FUZZ_CHECK(ps.honest_pairing_id.has_value());
    HG_FUZZ_CHECK(s.linking()->pairing_id == *ps.honest_pairing_id);
  }
  co_await s.close();
  co_return ok_status();
}


// ====================================================================== the input plays a linked phone

// A phone linked to the desktop: its contact at the relay, its secrets, and the desktop's link.
struct Linked {
  SecretBytes root_secret{crypto::random_bytes(32)};
  std::string token = hex_encode(crypto::random_bytes(16));
  std::unique_ptr<tunnel::WebSocket> listener;
  store::Link link;
};

// Registers the phone's listen connection (before either side runs) and derives the desktop's
// link from the phone's secrets, as linking info would carry them.
net::awaitable<void> register_linked(Ctx& c, Linked& l) {
  tunnel::ConnectOptions o;
  o.url = std::string(doubles::MemoryRelay::kBaseUrl) + tunnel_domain::listen_path(std::nullopt);
  o.headers.emplace_back("X-Hybridgate-Contact-Token", l.token);
  auto ws = co_await c.relay->connect(o);
  HG_FUZZ_CHECK(ws.ok());
  auto id = base64url_decode(*(*ws)->handshake().header("x-hybridgate-contact-id"));
  HG_FUZZ_CHECK(id.ok());
  l.listener = std::move(ws).value();
  l.link.contact_id = *id;
  crypto::random_bytes(l.link.pairing_id.data(), l.link.pairing_id.size());
  auto per_contact = messages::PhoneSecrets::per_contact_id_secret(l.root_secret.view(), *id);
  l.link.link_secret = messages::PhoneSecrets::paired_secret(per_contact.view(), l.link.pairing_id);
  l.link.phone_public_key = messages::PhoneSecrets::identity_key(l.root_secret.view()).public_uncompressed();
}

net::awaitable<void> fuzzed_linked_phone(Ctx& c, Linked& l, PhoneScript& ps) {
  // The wake-up from the relay (the listen connection).
  c.peer_reading = true;
  c.kick = [ws = l.listener.get()] { ws->cancel(); };
  auto m = co_await l.listener->read_any();
  c.peer_reading = false;
  c.kick = nullptr;
  if (!m) co_return;
  HG_FUZZ_CHECK(m->text);
  auto wake = messages::parse_wakeup(std::string_view(reinterpret_cast<const char*>(m->data.data()), m->data.size()));
  HG_FUZZ_CHECK(wake.ok());  // the relay's own wake-up
  HG_FUZZ_CHECK(wake->payload.pairing_id == l.link.pairing_id);
  auto per_contact = messages::PhoneSecrets::per_contact_id_secret(l.root_secret.view(), l.link.contact_id);
  auto paired = messages::PhoneSecrets::paired_secret(per_contact.view(), wake->payload.pairing_id);
  auto identity = messages::PhoneSecrets::identity_key(l.root_secret.view());

  // The advert (honest or fuzzed service data), then the tunnel.
  auto advertiser = c.air->advertiser();
  const eid::Plaintext plain = eid::random_linked_plaintext();
  if (c.choose() == Send::raw) (void)advertiser->start(c.raw());
  (void)advertiser->start(eid::encrypt(plain, derive_eid_key(paired.view(), wake->payload.client_nonce)));
  tunnel::ConnectOptions o;
  o.url = std::string(doubles::MemoryRelay::kBaseUrl) + tunnel_domain::connect_path(wake->routing_id, wake->tunnel_id);
  auto ws = co_await c.relay->connect(o);
  HG_FUZZ_CHECK(ws.ok());
  hybrid::WebSocketChannel ch(std::move(ws).value());
  c.peer_channel = &ch;
  auto finish = [&](uint16_t code) -> net::awaitable<void> {
    advertiser->stop();
    co_await ch.close(code);
    c.peer_channel = nullptr;
  };
  auto msg1 = co_await c.peer_read();
  if (!msg1) co_return co_await finish(1000);
  auto responder = noise::Responder::nk(identity, derive_psk(paired.view(), plain));
  auto out = responder.respond(*msg1);
  HG_FUZZ_CHECK(out.ok() || !c.honest);
  std::optional<Crypter> crypter;
  if (out) crypter.emplace(out->keys.read_key, out->keys.write_key);
  auto send = [&](const Bytes& honest_plain) -> net::awaitable<bool> {
    Bytes plaintext = honest_plain;
    switch (c.choose()) {
      case Send::nothing: co_return true;
      case Send::cancel: c.cancel_sut(); break;
      case Send::raw: co_return (co_await ch.write(c.raw())).ok();
      case Send::fuzzed_plaintext: plaintext = c.raw(); break;
      case Send::honest: break;
    }
    if (!crypter) co_return (co_await ch.write(c.raw())).ok();
    auto ct = crypter->encrypt(plaintext);
    if (!ct) co_return false;
    ps.encrypted.insert(plaintext);
    co_return (co_await ch.write(*ct)).ok();
  };
  {
    const Send s = c.choose();
    Bytes m2 = out ? out->message2 : Bytes(81, 0);
    if (s == Send::raw || s == Send::fuzzed_plaintext) m2 = c.raw();
    if (s == Send::cancel) c.cancel_sut();
    if (s != Send::nothing && !(co_await ch.write(m2)).ok()) co_return co_await finish(1000);
  }
  authenticator::MemoryCredentialStore store;
  authenticator::AlwaysConfirm yes;
  authenticator::SoftwareAuthenticator auth(store, yes);
  if (!co_await send(messages::encode_post_handshake(auth.get_info_cbor()))) co_return co_await finish(1000);
  // An update message may come too (a linked phone has none to send; the desktop must cope).
  if (c.in.ConsumeBool() && !co_await send(messages::encode_update_frame(std::nullopt))) co_return co_await finish(1000);
  for (int step = 0; step < kMaxSteps; ++step) {
    auto ct = co_await c.peer_read();
    if (!ct) co_return co_await finish(1000);
    if (!crypter) break;
    auto plain_req = crypter->decrypt(*ct);
    if (!plain_req) break;
    auto f = decode_frame(*plain_req);
    if (!f || f->type == MessageType::shutdown) break;
    if (f->type != MessageType::ctap) continue;
    if (!co_await send(encode_frame(MessageType::ctap, auth.handle(f->payload)))) break;
  }
  co_return co_await finish(c.in.ConsumeBool() ? 1000 : c.in.ConsumeIntegral<uint16_t>());
}

net::awaitable<Result<Unit>> linked_desktop_under_test(Ctx& c, Linked& l, PhoneScript& ps,
                                                       std::unique_ptr<ble::Scanner>& scanner) {
  hybrid::DesktopDeadlines d{.advert = 1s, .connect = 1s, .handshake = 1s, .response = 1s};
  auto conn = co_await hybrid::connect_linked(*scanner, l.link, qr_payload::RequestType::get_assertion,
                                              c.relay->server(), d, {});
  if (!conn) co_return conn.error();
  auto& s = *conn->session;
  for (const Bytes& request : {fixed_make_credential(), fixed_get_assertion()}) {
    auto r = co_await s.transact(request, {});
    if (!r) co_return r.error();
    bool authentic = ps.encrypted.count(*r) > 0 || ps.encrypted.count(encode_frame(MessageType::ctap, *r)) > 0;
    HG_FUZZ_CHECK(authentic);
    if (c.honest) HG_FUZZ_CHECK(ctap::parse_response(*r).ok());
  }
  HG_FUZZ_CHECK(!s.linking());  // linking info is taken only on QR connections
  co_await s.close();
  co_return ok_status();
}

// ====================================================================== the input plays the desktop

struct DesktopScript {
  int honest_requests = 0;
  int responses = 0;
};

net::awaitable<void> fuzzed_desktop(Ctx& c, DesktopScript& ds) {
  auto& secret = c.qr.payload.secret;
  // Wait for the phone's advert (the driver gives up for us if it never comes).
  auto scanner = c.air->scanner(c.io.get_executor());
  std::optional<ble::Advert> seen;
  net::steady_timer wake(c.io, net::steady_timer::time_point::max());
  (void)scanner->start([&](const ble::Advert& a) {
    if (!seen) seen = a;
    wake.cancel();
  });
  bool gave_up = false;
  c.peer_reading = true;
  c.kick = [&] {
    gave_up = true;
    wake.cancel();
  };
  boost::system::error_code ec;
  while (!seen && !gave_up) co_await wake.async_wait(net::redirect_error(net::use_awaitable, ec));
  c.peer_reading = false;
  c.kick = nullptr;
  scanner->stop();
  if (!seen) co_return;
  auto eid_key = derive_eid_key(secret);
  auto plain = eid::decrypt(seen->service_data, eid_key, {});
  HG_FUZZ_CHECK(plain.ok());
  auto comps = eid::to_components(*plain);
  HG_FUZZ_CHECK(comps.ok());
  tunnel::ConnectOptions o;
  o.url = std::string(doubles::MemoryRelay::kBaseUrl) +
          tunnel_domain::connect_path(comps->routing_id, derive_tunnel_id(secret));
  auto ws = co_await c.relay->connect(o);
  if (!ws) co_return;
  hybrid::WebSocketChannel ch(std::move(ws).value());
  c.peer_channel = &ch;
  auto finish = [&](uint16_t code) -> net::awaitable<void> {
    co_await ch.close(code);
    c.peer_channel = nullptr;
  };

  auto init = noise::Initiator::kn(c.qr.identity, derive_psk(secret, *plain));
  {
    const Send s = c.choose();
    Bytes m1 = init.write_message1();
    if (s == Send::raw || s == Send::fuzzed_plaintext) m1 = c.raw();
    if (s == Send::cancel) c.cancel_sut();
    if (s != Send::nothing && !(co_await ch.write(m1)).ok()) co_return co_await finish(1000);
  }
  auto m2 = co_await c.peer_read();
  if (!m2) co_return co_await finish(1000);
  auto keys = init.read_message2(*m2);
  HG_FUZZ_CHECK(keys.ok() || !c.honest);
  std::optional<Crypter> crypter;
  if (keys) crypter.emplace(keys->read_key, keys->write_key);
  // The post-handshake and update messages.
  for (int i = 0; i < 2; ++i) {
    auto m = co_await c.peer_read();
    if (!m) co_return co_await finish(1000);
    if (crypter) {
      auto p = crypter->decrypt(*m);
      HG_FUZZ_CHECK(p.ok() || !c.honest);
      if (p && i == 0) HG_FUZZ_CHECK(messages::decode_post_handshake(*p).ok());
    }
  }
  for (int step = 0; step < kMaxSteps; ++step) {
    const Send s = c.choose();
    if (s == Send::nothing) continue;
    if (s == Send::cancel) {
      c.cancel_sut();
      continue;
    }
    if (s == Send::raw || !crypter) {
      if (!(co_await ch.write(c.raw())).ok()) break;
      continue;
    }
    Bytes plaintext;
    bool expect_answer = false;
    if (s == Send::honest) {
      if (step >= 2) plaintext = encode_frame(MessageType::shutdown, {});
      else {
        plaintext = encode_frame(MessageType::ctap, step == 0 ? fixed_make_credential() : fixed_get_assertion());
        expect_answer = true;
        ++ds.honest_requests;
      }
    } else {
      plaintext = c.raw();  // any frame: type byte + payload
      expect_answer = !plaintext.empty() && plaintext[0] == uint8_t(MessageType::ctap);
    }
    auto ct = crypter->encrypt(plaintext);
    if (!ct || !(co_await ch.write(*ct)).ok()) break;
    if (!plaintext.empty() && plaintext[0] == uint8_t(MessageType::shutdown)) break;
    if (!expect_answer) continue;
    auto answer = co_await c.peer_read();
    if (!answer) break;
    auto p = crypter->decrypt(*answer);
    HG_FUZZ_CHECK(p.ok() || !c.honest);
    if (!p) break;
    auto f = decode_frame(*p);
    HG_FUZZ_CHECK(f.ok() && f->type == MessageType::ctap);
    HG_FUZZ_CHECK(ctap::parse_response_frame(f->payload).ok());  // the authenticator answers well-formed
    if (c.honest) HG_FUZZ_CHECK(ctap::parse_response(f->payload).ok());
    ++ds.responses;
  }
  co_return co_await finish(c.in.ConsumeBool() ? 1000 : c.in.ConsumeIntegral<uint16_t>());
}

// The software authenticator, telling the driver while it works (on the phone's worker thread).
class Watched final : public authenticator::Authenticator {
 public:
  Watched(Ctx& c, authenticator::Authenticator& real) : c_(c), real_(real) {}
  Bytes get_info_cbor() override { return real_.get_info_cbor(); }
  Bytes handle(ByteView request, const std::atomic<bool>& cancelled) noexcept override {
    ++c_.busy;
    Bytes r = real_.handle(request, cancelled);
    // Runs before the phone's own post of the answer (same thread, same io_context, in order).
    net::post(c_.io, [&c = c_] { --c.busy; });
    return r;
  }

 private:
  Ctx& c_;
  authenticator::Authenticator& real_;
};

net::awaitable<Result<hybrid::PhoneResult>> phone_under_test(Ctx& c, authenticator::Authenticator& auth) {
  auto advertiser = c.air->advertiser();
  hybrid::PhoneOptions o;
  o.server = c.relay->server();
  o.connect = 1s;
  o.desktop = 1s;
  o.idle = 1s;
  co_return co_await hybrid::run_phone_qr(*advertiser, c.qr.payload, auth, o, {});
}

// ====================================================================== the driver

template <typename T>
net::awaitable<void> keep_result(std::optional<Result<T>>* out, net::awaitable<Result<T>> task) {
  out->emplace(co_await std::move(task));
}

// Runs both sides on one io_context until both ended. When nothing can run any more for a
// moment and the fuzzed side waits for a message (one was lost), it gives up (drops its end);
// when the side under test still waits after the fuzzed side is done, it is cancelled.
void drive(Ctx& c) {
  int stalls = 0;
  while (!(c.sut_done && c.peer_done)) {
    if (c.io.poll_one() > 0) continue;
    // Nothing ready. An honest run never stalls: it may only wait for the phone's authenticator
    // thread, and a stall in it is a bug. Otherwise wait only while the authenticator works (the
    // only thread; everything else runs on this io_context).
    if (c.honest) {
      HG_FUZZ_CHECK(c.io.run_one_for(2000ms) > 0);
      continue;
    }
    // The phone under test answers on a thread of its own (hybrid/phone_session.cpp), which may
    // not even have started yet: give it a moment, longer while it is known to work. (The desktop
    // under test and the fuzzed sides have no threads.)
    if (c.phone_under_test && c.io.run_one_for(c.busy > 0 ? 100ms : 2ms) > 0) continue;
    if (!c.peer_done && c.peer_reading && c.kick) {
      c.kick();
      continue;
    }
    c.cancel_sut();  // the side under test waits for something the fuzzed side will not send
    HG_FUZZ_CHECK(++stalls < 1000);  // a run that cannot end is a bug
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Ctx c(data, size);
  const bool phone_under_test_mode = c.in.ConsumeBool();
  c.phone_under_test = phone_under_test_mode;
  c.plan_faults(/*peer_is_phone=*/!phone_under_test_mode);
  const bool linked_mode = !phone_under_test_mode && c.in.ConsumeBool();
  if (linked_mode) {
    PhoneScript ps;
    Linked l;
    net::co_spawn(c.io, register_linked(c, l), net::detached);
    c.io.run();  // the relay answers at once
    c.io.restart();
    auto scanner = c.air->scanner(c.io.get_executor());
    std::optional<Result<Unit>> result;
    net::co_spawn(c.io, fuzzed_linked_phone(c, l, ps), [&](std::exception_ptr e) {
      HG_FUZZ_CHECK(!e);
      c.peer_done = true;
    });
    net::co_spawn(c.io, keep_result(&result, linked_desktop_under_test(c, l, ps, scanner)), [&](std::exception_ptr e) {
      HG_FUZZ_CHECK(!e);
      c.sut_done = true;
    });
    drive(c);
    if (c.honest) HG_FUZZ_CHECK(result->ok());
  } else if (!phone_under_test_mode) {
    PhoneScript ps;
    auto scanner = c.air->scanner(c.io.get_executor());
    std::optional<Result<Unit>> result;
    net::co_spawn(c.io, fuzzed_phone(c, ps), [&](std::exception_ptr e) {
      HG_FUZZ_CHECK(!e);
      c.peer_done = true;
    });
    net::co_spawn(c.io, keep_result(&result, desktop_under_test(c, ps, scanner)), [&](std::exception_ptr e) {
      HG_FUZZ_CHECK(!e);
      c.sut_done = true;
    });
    drive(c);
    if (c.honest) HG_FUZZ_CHECK(result->ok());
  } else {
    DesktopScript ds;
    authenticator::MemoryCredentialStore store;
    authenticator::AlwaysConfirm yes;
    authenticator::SoftwareAuthenticator real(store, yes);
    Watched auth(c, real);
    std::optional<Result<hybrid::PhoneResult>> result;
    net::co_spawn(c.io, fuzzed_desktop(c, ds), [&](std::exception_ptr e) {
      HG_FUZZ_CHECK(!e);
      c.peer_done = true;
    });
    net::co_spawn(c.io, keep_result(&result, phone_under_test(c, auth)), [&](std::exception_ptr e) {
      HG_FUZZ_CHECK(!e);
      c.sut_done = true;
    });
    drive(c);
    if (*result) HG_FUZZ_CHECK((*result)->requests_served >= ds.responses);
    if (c.honest) {
      HG_FUZZ_CHECK(result->ok());
      HG_FUZZ_CHECK((*result)->requests_served == ds.honest_requests);
      HG_FUZZ_CHECK((*result)->shutdown_received);
    }
  }
  return 0;
}
