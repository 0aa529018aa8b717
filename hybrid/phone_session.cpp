// SPDX-License-Identifier: Apache-2.0
#include "hybrid/phone_session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <atomic>
#include <thread>

#include "hybrid/run.hpp"
#include "proto/crypter.hpp"
#include "proto/crypto.hpp"
#include "proto/derive.hpp"
#include "proto/domains.hpp"
#include "proto/eid.hpp"
#include "proto/noise.hpp"


namespace hg::hybrid {

namespace net = boost::asio;

namespace {

// The desktop's next message, read while a request is being answered (so that a desktop that
// goes away withdraws the request at once). One read at a time; its result waits here.
struct NextRead {
  std::optional<Result<Bytes>> result;
  std::function<void()> on_done;  // wakes whoever waits for the result (one waiter at a time)
};

std::shared_ptr<NextRead> start_read(Channel& ch, std::chrono::milliseconds deadline, net::any_io_executor ex) {
  auto next = std::make_shared<NextRead>();
  net::co_spawn(
      ex,
      [next, &ch, deadline]() -> net::awaitable<void> {
        auto r = co_await ch.read(deadline, Errc::tunnel_closed, "the desktop's next message");
        next->result.emplace(std::move(r));
        if (next->on_done) next->on_done();
      },
      net::detached);
  return next;
}

// Waits until `done()` holds; `wake` is cancelled by whoever changes what done() looks at (its
// only waiter is this loop).
net::awaitable<void> wait_until(net::steady_timer& wake, const std::function<bool()>& done) {
  while (!done()) {
    wake.expires_at(net::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await wake.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
}

// The result of a read started earlier.
net::awaitable<Result<Bytes>> take(NextRead& next) {
  net::steady_timer wake(co_await net::this_coro::executor);
  next.on_done = [&wake] { wake.cancel(); };
  co_await wait_until(wake, [&] { return next.result.has_value(); });
  next.on_done = nullptr;
  co_return std::move(*next.result);
}

// Answers one request on a worker thread (the authenticator may wait for its person) while the
// desktop's next message is read. If the read ends in an error first — the desktop closed the
// tunnel, or its deadline passed — or the ceremony is cancelled, the request is withdrawn: the
// authenticator takes its prompt down and commits nothing; the error is returned.
net::awaitable<Result<Bytes>> answer_watching(Channel& ch, authenticator::Authenticator& authenticator, Bytes request,
                                              std::shared_ptr<NextRead>& next, std::chrono::milliseconds idle) {
  auto ex = co_await net::this_coro::executor;
  struct Job {
    explicit Job(net::any_io_executor e) : wake(e) {}
    net::steady_timer wake;
    std::atomic<bool> cancelled{false};
    bool finished = false;
    Bytes response;
  };
  auto job = std::make_shared<Job>(ex);
  if (!next) next = start_read(ch, idle, ex);
  auto read = next;
  OnCancel on_cancel(ex, [job] {
    job->cancelled = true;
    job->wake.cancel();
  });
  std::thread worker([job, &authenticator, request = std::move(request), ex] {
    Bytes response = authenticator.handle(request, job->cancelled);
    net::post(ex, [job, response = std::move(response)]() mutable {
      job->response = std::move(response);
      job->finished = true;
      job->wake.cancel();
    });
  });
  // Both events wake the job's timer: the answer, and the read's completion.
  read->on_done = [job] { job->wake.cancel(); };
  co_await wait_until(job->wake, [&] {
    if (read->result && !*read->result) job->cancelled = true;  // the desktop is gone
    return job->finished;
  });
  worker.join();
  read->on_done = nullptr;
  if (read->result && !*read->result) co_return read->result->error();
  if (job->cancelled) co_return make_error(Errc::session_cancelled);
  co_return std::move(job->response);
}

net::awaitable<Result<PhoneResult>> serve_loop(Channel& ch, Crypter& crypter, authenticator::Authenticator& authenticator,
                                               const std::optional<Bytes>& update_frame, const PhoneOptions& options,
                                               const Events& events, std::shared_ptr<NextRead>& next) {
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
    Result<Bytes> ct = make_error(Errc::internal);
    if (next) {
      ct = co_await take(*next);
      next.reset();
    } else {
      ct = co_await ch.read(options.idle, Errc::tunnel_closed, "the desktop's next message");
    }
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
    auto response = co_await answer_watching(ch, authenticator, std::move(f->payload), next, options.idle);
    if (!response) co_return response.error();
    auto rct = crypter.encrypt(encode_frame(MessageType::ctap, *response));
    if (!rct) co_return rct.error();
    if (auto w = co_await ch.write(*rct); !w) co_return w.error();
    ++result.requests_served;
    events.emit(Stage::request_served);
  }
  co_await ch.close(1000);
  co_return result;
}

// After the handshake, both phone flows: post-handshake message with getInfo, an optional update
// message (QR flow), then CTAP requests until shutdown or until the desktop closes.
net::awaitable<Result<PhoneResult>> serve_requests(Channel& ch, Crypter& crypter,
                                                   authenticator::Authenticator& authenticator,
                                                   const std::optional<Bytes>& update_frame, const PhoneOptions& options,
                                                   const Events& events) {
  std::shared_ptr<NextRead> next;  // a read started while a request was answered
  auto r = co_await serve_loop(ch, crypter, authenticator, update_frame, options, events, next);
  if (next && !next->result) {  // the read still refers to the channel: end it before the channel goes
    ch.cancel();
    (void)co_await take(*next);
  }
  co_return r;
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

}  // namespace hg::hybrid
