// SPDX-License-Identifier: Apache-2.0
// Whole ceremonies in one process, in milliseconds: the desktop (hybrid/desktop_session.hpp) and
// the phone (hybrid/phone_session.hpp, answering with the software authenticator) each on its own
// hybrid::Runner and thread, meeting through the in-process doubles (tests/doubles/): an in-memory
// radio, an in-process tunnel server and in-memory channels with injected faults. No processes,
// no sockets.
//
// Results are checked independently of the code under test: registrations and assertions are
// parsed with libcbor directly, and each assertion's signature is verified with OpenSSL over
// authData ‖ clientDataHash with the public key of the registration.
#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include <catch2/catch.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "hybrid/contacts.hpp"
#include "hybrid/desktop_session.hpp"
#include "hybrid/phone_session.hpp"
#include "hybrid/run.hpp"
#include "memory_link.hpp"
#include "memory_radio.hpp"
#include "memory_relay.hpp"
#include "proto/authenticator.hpp"
#include "proto/ctap.hpp"
#include "proto/derive.hpp"
#include "proto/qr_payload.hpp"
#include "store/links.hpp"

using namespace hg;
using hybrid::Stage;
using doubles::Fault;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

// ====================================================================== independent checks

struct Item {
  cbor_item_t* p = nullptr;
  ~Item() {
    if (p) cbor_decref(&p);
  }
};

// Loads one CBOR item from the front of `data`; `used` = its length.
cbor_item_t* load(ByteView data, size_t* used = nullptr) {
  cbor_load_result r{};
  cbor_item_t* item = cbor_load(data.data(), data.size(), &r);
  REQUIRE(item != nullptr);
  REQUIRE(r.error.code == CBOR_ERR_NONE);
  if (used) *used = r.read;
  else REQUIRE(r.read == data.size());
  return item;
}

const cbor_item_t* get(const cbor_item_t* map, int64_t key) {
  REQUIRE(cbor_isa_map(map));
  cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    const cbor_item_t* k = pairs[i].key;
    int64_t v = 0;
    if (cbor_isa_uint(k)) v = int64_t(cbor_get_int(k));
    else if (cbor_isa_negint(k)) v = -1 - int64_t(cbor_get_int(k));
    else continue;
    if (v == key) return pairs[i].value;
  }
  return nullptr;
}

Bytes bytes_of(const cbor_item_t* item) {
  REQUIRE(item != nullptr);
  REQUIRE(cbor_isa_bytestring(item));
  REQUIRE(cbor_bytestring_is_definite(item));
  return Bytes(cbor_bytestring_handle(item), cbor_bytestring_handle(item) + cbor_bytestring_length(item));
}

Bytes sha256_of(std::string_view s) {
  Bytes out(SHA256_DIGEST_LENGTH);
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
  return out;
}

struct Registration {
  Bytes credential_id;
  Bytes x, y;
  uint32_t sign_count = 0;
};

// A makeCredential response: status 0, authData for `rp_id` with UP and AT, an ES256 COSE key.
Registration check_registration(ByteView response, const std::string& rp_id) {
  REQUIRE(response.size() > 1);
  REQUIRE(response[0] == 0x00);
  Item map{load(response.subspan(1))};
  Bytes ad = bytes_of(get(map.p, 2));
  REQUIRE(ad.size() > 37 + 16 + 2);
  CHECK(Bytes(ad.begin(), ad.begin() + 32) == sha256_of(rp_id));
  CHECK((ad[32] & 0x01) != 0);  // UP
  REQUIRE((ad[32] & 0x40) != 0);  // AT
  Registration r;
  r.sign_count = uint32_t(ad[33]) << 24 | uint32_t(ad[34]) << 16 | uint32_t(ad[35]) << 8 | ad[36];
  const size_t len = size_t(ad[53]) << 8 | ad[54];
  REQUIRE(ad.size() > 55 + len);
  r.credential_id.assign(ad.begin() + 55, ad.begin() + 55 + long(len));
  size_t used = 0;
  Item key{load(ByteView(ad).subspan(55 + len), &used)};
  REQUIRE(cbor_get_int(get(key.p, 1)) == 2);  // kty EC2
  REQUIRE(cbor_isa_negint(get(key.p, 3)));
  REQUIRE(cbor_get_int(get(key.p, 3)) == 6);  // alg -7 (ES256)
  REQUIRE(cbor_get_int(get(key.p, -1)) == 1);  // crv P-256
  r.x = bytes_of(get(key.p, -2));
  r.y = bytes_of(get(key.p, -3));
  REQUIRE(r.x.size() == 32);
  REQUIRE(r.y.size() == 32);
  return r;
}

bool openssl_verify(const Registration& reg, ByteView message, ByteView der_signature) {
  Bytes pub{0x04};
  pub.insert(pub.end(), reg.x.begin(), reg.x.end());
  pub.insert(pub.end(), reg.y.begin(), reg.y.end());
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub.data(), pub.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* kctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* pkey = nullptr;
  bool ok = EVP_PKEY_fromdata_init(kctx) == 1 && EVP_PKEY_fromdata(kctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ok = ok && EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
       EVP_DigestVerify(md, der_signature.data(), der_signature.size(), message.data(), message.size()) == 1;
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pkey);
  EVP_PKEY_CTX_free(kctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  return ok;
}

// A getAssertion response for `rp_id` whose signature verifies with the registration's key.
// Returns the signature counter.
uint32_t check_assertion(ByteView response, const std::string& rp_id, const ctap::ClientDataHash& cdh,
                         const Registration& reg) {
  REQUIRE(response.size() > 1);
  REQUIRE(response[0] == 0x00);
  Item map{load(response.subspan(1))};
  Bytes ad = bytes_of(get(map.p, 2));
  Bytes sig = bytes_of(get(map.p, 3));
  REQUIRE(ad.size() >= 37);
  CHECK(Bytes(ad.begin(), ad.begin() + 32) == sha256_of(rp_id));
  CHECK((ad[32] & 0x01) != 0);  // UP
  if (const cbor_item_t* cred = get(map.p, 1)) {
    REQUIRE(cbor_isa_map(cred));
    cbor_pair* pairs = cbor_map_handle(cred);
    for (size_t i = 0; i < cbor_map_size(cred); ++i)
      if (cbor_isa_string(pairs[i].key) &&
          std::string(reinterpret_cast<const char*>(cbor_string_handle(pairs[i].key)), cbor_string_length(pairs[i].key)) == "id")
        CHECK(bytes_of(pairs[i].value) == reg.credential_id);
  }
  Bytes signed_data = ad;
  signed_data.insert(signed_data.end(), cdh.begin(), cdh.end());
  CHECK(openssl_verify(reg, signed_data, sig));
  // The same signature must not verify over other data (the check can fail).
  signed_data.back() ^= 0x01;
  CHECK_FALSE(openssl_verify(reg, signed_data, sig));
  return uint32_t(ad[33]) << 24 | uint32_t(ad[34]) << 16 | uint32_t(ad[35]) << 8 | ad[36];
}

template <typename T>
std::string why(const Result<T>& r) {
  return r ? std::string("ok") : r.error().to_string();
}

// ====================================================================== requests

const std::string kRp = "example.com";

ctap::ClientDataHash random_cdh() {
  ctap::ClientDataHash h{};
  crypto::random_bytes(h.data(), h.size());
  return h;
}

Bytes make_credential(const ctap::ClientDataHash& cdh, std::string user = "alice") {
  ctap::MakeCredentialRequest r;
  r.client_data_hash = cdh;
  r.rp = {kRp, "Example"};
  r.user = {Bytes{1, 2, 3, 4}, user, "Alice"};
  r.pub_key_cred_params = {ctap::CredentialParameters{}};  // ES256
  r.options.rk = true;
  return ctap::encode_request(r);
}

Bytes get_assertion(const ctap::ClientDataHash& cdh, const std::optional<Bytes>& credential_id = std::nullopt) {
  ctap::GetAssertionRequest r;
  r.rp_id = kRp;
  r.client_data_hash = cdh;
  if (credential_id) {
    ctap::CredentialDescriptor d;
    d.id = *credential_id;
    r.allow_list = std::vector<ctap::CredentialDescriptor>{d};
  }
  return ctap::encode_request(r);
}

// ====================================================================== the two sides

// A person who answers only when told to, and who sees a withdrawn request go away.
class SlowPerson final : public authenticator::UserPresence {
 public:
  bool confirm(const std::string&, const std::string&, authenticator::Operation) override { return true; }
  bool confirm_cancellable(const std::string&, const std::string&, authenticator::Operation,
                           const std::atomic<bool>& cancelled) override {
    std::unique_lock lock(m_);
    asked_ = true;
    cv_.notify_all();
    // Woken by answer() or by the withdrawal (checked every wake-up; the authenticator's contract
    // says `cancelled` turns true from another thread, so poll it with a bounded wait).
    while (!answered_ && !cancelled) cv_.wait_for(lock, 1ms);
    return answered_ && !cancelled;
  }
  void answer() {
    std::lock_guard lock(m_);
    answered_ = true;
    cv_.notify_all();
  }
  void wait_until_asked() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return asked_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool answered_ = false;
  bool asked_ = false;
};

// An authenticator that answers every request with fixed bytes (a broken phone).
class FixedAnswer final : public authenticator::Authenticator {
 public:
  FixedAnswer(authenticator::Authenticator& real, Bytes answer) : real_(real), answer_(std::move(answer)) {}
  Bytes get_info_cbor() override { return real_.get_info_cbor(); }
  Bytes handle(ByteView, const std::atomic<bool>&) noexcept override { return answer_; }

 private:
  authenticator::Authenticator& real_;
  Bytes answer_;
};

authenticator::Config es256_only() {
  authenticator::Config c;
  c.eddsa = false;
  return c;
}

// The phone: its own Runner on its own thread (a second device).
class PhoneSide {
 public:
  explicit PhoneSide(doubles::MemoryAir& air) : advertiser(air.advertiser()) {}
  ~PhoneSide() {
    if (thread_.joinable()) {
      runner.cancel();
      thread_.join();
    }
  }
  template <typename T, typename Make>
  void start(std::optional<Result<T>>& out, Make make) {
    thread_ = std::thread([this, &out, make] { out.emplace(runner.run(make())); });
  }
  void join() { thread_.join(); }

  hybrid::Runner runner;
  std::unique_ptr<ble::Advertiser> advertiser;

 private:
  std::thread thread_;
};

// Stages as they happen, from any thread; wait_for() blocks until one was reached.
class StageLog {
 public:
  hybrid::Events events(std::function<void(Stage)> also = {}) {
    return hybrid::Events{[this, also](Stage s, const std::string&) {
      {
        std::lock_guard lock(m_);
        seen_.push_back(s);
      }
      cv_.notify_all();
      if (also) also(s);
    }};
  }
  bool wait_for(Stage s, std::chrono::seconds limit = 10s) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, limit, [&] { return std::find(seen_.begin(), seen_.end(), s) != seen_.end(); });
  }
  bool saw(Stage s) {
    std::lock_guard lock(m_);
    return std::find(seen_.begin(), seen_.end(), s) != seen_.end();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<Stage> seen_;
};

net::awaitable<Status> close_session(hybrid::DesktopSession* s) {
  co_await s->close();
  co_return ok_status();
}

struct World {
  std::shared_ptr<doubles::MemoryRelay> relay = doubles::MemoryRelay::make();
  std::shared_ptr<doubles::MemoryAir> air = doubles::MemoryAir::make();
  authenticator::MemoryCredentialStore store;
  authenticator::AlwaysConfirm yes;
  authenticator::SoftwareAuthenticator auth{store, yes, es256_only()};
  // Bounds, not expectations (tests that are about a deadline set theirs shorter).
  hybrid::DesktopDeadlines deadlines{.advert = 10s, .connect = 10s, .handshake = 10s, .response = 10s};
  hybrid::Runner desk;
  std::unique_ptr<ble::Scanner> scanner = air->scanner(desk.io().get_executor());
  StageLog desk_log, phone_log;

  qr_payload::DesktopQr qr(qr_payload::RequestType t = qr_payload::RequestType::make_credential, bool linking = false) {
    return qr_payload::generate({.request_type = t, .supports_linking = linking});
  }
  hybrid::PhoneOptions phone_options() {
    hybrid::PhoneOptions o;
    o.server = relay->server();
    // Bounds, not expectations: a broken test ends in seconds instead of the real 2-3 minutes.
    o.desktop = 10s;
    o.idle = 10s;
    return o;
  }
  // Starts the phone's side of a QR ceremony (it reads the QR code's URL, as a camera would).
  void start_phone_qr(PhoneSide& phone, std::optional<Result<hybrid::PhoneResult>>& out, const std::string& url,
                      hybrid::PhoneOptions o, authenticator::Authenticator* a = nullptr) {
    authenticator::Authenticator* answerer = a ? a : &auth;
    phone.start(out, [this, &phone, url, o, answerer]() -> net::awaitable<Result<hybrid::PhoneResult>> {
      auto payload = qr_payload::parse_url(url);
      if (!payload) co_return payload.error();
      co_return co_await hybrid::run_phone_qr(*phone.advertiser, *payload, *answerer, o, phone_log.events());
    });
  }
  // As the façades do: an io_context that ran out of work is restarted before the next run.
  template <typename T>
  Result<T> run(boost::asio::awaitable<Result<T>> task) {
    if (desk.io().stopped()) desk.io().restart();
    return desk.run(std::move(task));
  }
  Result<hybrid::Connected> desktop_qr(const qr_payload::DesktopQr& q, const hybrid::Events& ev) {
    return run(hybrid::connect_qr(*scanner, q, relay->server(), deadlines, ev));
  }
  Result<Bytes> transact(hybrid::DesktopSession& s, ByteView request, const hybrid::Events& ev) {
    return run(s.transact(request, ev));
  }
  void close(hybrid::DesktopSession& s) { REQUIRE(run(close_session(&s))); }
};

}  // namespace

// ====================================================================== QR: register, sign in

TEST_CASE("QR ceremony: register then sign in over the same tunnel - the assertion verifies with OpenSSL",
          "[ceremony][qr]") {
  World w;
  auto qr = w.qr();
  PhoneSide phone(*w.air);
  std::optional<Result<hybrid::PhoneResult>> phone_result;
  w.start_phone_qr(phone, phone_result, qr.url, w.phone_options());

  auto connected = w.desktop_qr(qr, w.desk_log.events());
  INFO(why(connected));
  REQUIRE(connected);
  auto& s = *connected->session;
  CHECK(s.revision() >= 1);
  // The phone's getInfo came over the secure channel: it is the authenticator's.
  CHECK(s.get_info() == w.auth.get_info_cbor());

  const auto cdh1 = random_cdh();
  auto reg_response = w.transact(s, make_credential(cdh1), w.desk_log.events());
  REQUIRE(reg_response);
  const Registration reg = check_registration(*reg_response, kRp);
  REQUIRE(w.store.records().size() == 1);

  const auto cdh2 = random_cdh();
  auto assertion = w.transact(s, get_assertion(cdh2, reg.credential_id), w.desk_log.events());
  REQUIRE(assertion);
  const uint32_t count = check_assertion(*assertion, kRp, cdh2, reg);
  CHECK(count > reg.sign_count);
  w.close(s);

  phone.join();
  REQUIRE(*phone_result);
  CHECK((*phone_result)->requests_served == 2);
  CHECK((*phone_result)->shutdown_received);
  CHECK_FALSE((*phone_result)->linked);
  for (Stage st : {Stage::scanning, Stage::phone_found, Stage::tunnel_connected, Stage::secure_channel,
                   Stage::waiting_for_user})
    CHECK(w.desk_log.saw(st));
  for (Stage st : {Stage::tunnel_opened, Stage::advertising, Stage::desktop_connected, Stage::request_served})
    CHECK(w.phone_log.saw(st));
  CHECK(w.air->on_air().empty());  // the phone stopped advertising
}

TEST_CASE("QR ceremony: sign in with a discoverable credential in a second ceremony", "[ceremony][qr]") {
  World w;
  Registration reg;
  {
    auto qr = w.qr();
    PhoneSide phone(*w.air);
    std::optional<Result<hybrid::PhoneResult>> pr;
    w.start_phone_qr(phone, pr, qr.url, w.phone_options());
    auto c = w.desktop_qr(qr, {});
    INFO(why(c));
    REQUIRE(c);
    auto r = w.transact(*c->session, make_credential(random_cdh()), {});
    REQUIRE(r);
    reg = check_registration(*r, kRp);
    w.close(*c->session);
    phone.join();
    REQUIRE(*pr);
  }
  auto qr = w.qr(qr_payload::RequestType::get_assertion);
  PhoneSide phone(*w.air);
  std::optional<Result<hybrid::PhoneResult>> pr;
  w.start_phone_qr(phone, pr, qr.url, w.phone_options());
  auto c = w.desktop_qr(qr, {});
  INFO(why(c));
  REQUIRE(c);
  const auto cdh = random_cdh();
  auto a = w.transact(*c->session, get_assertion(cdh), {});  // no allow list
  REQUIRE(a);
  check_assertion(*a, kRp, cdh, reg);
  w.close(*c->session);
  phone.join();
  REQUIRE(*pr);
  CHECK((*pr)->requests_served == 1);
}

TEST_CASE("QR ceremony: an advert of another QR code is not taken", "[ceremony][qr]") {
  World w;
  w.deadlines.advert = 200ms;
  auto mine = w.qr();
  auto other = w.qr();
  PhoneSide phone(*w.air);
  std::optional<Result<hybrid::PhoneResult>> pr;
  hybrid::PhoneOptions o = w.phone_options();
  o.desktop = 300ms;
  w.start_phone_qr(phone, pr, other.url, o);  // the phone scanned someone else's QR code
  REQUIRE(w.phone_log.wait_for(Stage::advertising));
  auto c = w.desktop_qr(mine, w.desk_log.events());
  REQUIRE_FALSE(c);
  CHECK(c.error().code == Errc::session_no_advert);
  CHECK_FALSE(w.desk_log.saw(Stage::phone_found));
  phone.join();
  REQUIRE_FALSE(*pr);
  CHECK(pr->error().code == Errc::session_deadline);  // nobody came to its tunnel
}

// ====================================================================== linking, woken sign-in

namespace {

struct LinkedSetup {
  SecretBytes root_secret{crypto::random_bytes(32)};
  std::string token = hex_encode(crypto::random_bytes(32));
  Bytes contact_id;
  Registration reg;
  store::Link link;
};

// The phone registers its contact at the relay, then answers a QR code that offers linking and
// agrees to be linked; the desktop registers a credential and keeps the verified linking info.
void link_by_qr(World& w, LinkedSetup& ls, bool forge = false) {
  auto qr = w.qr(qr_payload::RequestType::make_credential, true);
  PhoneSide phone(*w.air);
  std::optional<Result<hybrid::PhoneResult>> pr;
  auto server = w.relay->server();
  phone.start(pr, [&w, &phone, &ls, server, url = qr.url, forge]() -> net::awaitable<Result<hybrid::PhoneResult>> {
    auto id = co_await hybrid::register_contact(server, ls.token, std::nullopt);
    if (!id) co_return id.error();
    ls.contact_id = *id;  // read by the test thread after join()
    auto payload = qr_payload::parse_url(url);
    if (!payload) co_return payload.error();
    hybrid::PhoneOptions o;
    o.server = server;
    o.link = hybrid::LinkOffer{ls.root_secret, *id, "Test phone", forge};
    co_return co_await hybrid::run_phone_qr(*phone.advertiser, *payload, w.auth, o, {});
  });
  auto c = w.desktop_qr(qr, {});
  INFO(why(c));
  REQUIRE(c);
  auto r = w.transact(*c->session, make_credential(random_cdh()), {});
  REQUIRE(r);
  ls.reg = check_registration(*r, kRp);
  auto& s = *c->session;
  if (forge) {
    CHECK_FALSE(s.linking());
    CHECK(s.linking_rejected());
  } else {
    REQUIRE(s.linking());
    CHECK_FALSE(s.linking_rejected());
    CHECK(s.linking()->name == "Test phone");
    ls.link.contact_id = s.linking()->contact_id;
    ls.link.pairing_id = s.linking()->pairing_id;
    ls.link.link_secret = s.linking()->link_secret;
    ls.link.phone_public_key = s.linking()->identity_public_key;
    ls.link.domain_id = s.domain_id();
  }
  w.close(s);
  phone.join();
  INFO(why(*pr));
  REQUIRE(*pr);
  CHECK((*pr)->linked);
  CHECK(ls.link.contact_id == (forge ? Bytes{} : ls.contact_id));
}

// The phone's listen connection, serving `wakeups` wake-ups with run_phone_linked.
void start_listener(World& w, PhoneSide& phone, LinkedSetup& ls, std::optional<Result<int>>& out, int wakeups = 1,
                    authenticator::Authenticator* a = nullptr) {
  auto server = w.relay->server();
  authenticator::Authenticator* answerer = a ? a : &w.auth;
  phone.start(out, [&w, &phone, &ls, server, wakeups, answerer]() -> net::awaitable<Result<int>> {
    hybrid::PhoneOptions o;
    o.server = server;
    hybrid::LinkedPhone me{ls.root_secret, ls.contact_id};
    auto events = w.phone_log.events();
    co_return co_await hybrid::listen_for_wakeups(
        server, ls.token, ls.contact_id, wakeups,
        [&](const messages::WakeUp& wake) -> net::awaitable<Status> {
          auto r = co_await hybrid::run_phone_linked(*phone.advertiser, wake, me, *answerer, o, events);
          if (!r) co_return r.error();
          co_return ok_status();
        },
        events);
  });
}

}  // namespace

TEST_CASE("linking: a QR ceremony links the phone and a woken sign-in verifies with the registered key",
          "[ceremony][linked]") {
  World w;
  LinkedSetup ls;
  link_by_qr(w, ls);

  PhoneSide phone(*w.air);
  std::optional<Result<int>> served;
  start_listener(w, phone, ls, served);
  REQUIRE(w.phone_log.wait_for(Stage::listening));

  auto c = w.run(hybrid::connect_linked(*w.scanner, ls.link, qr_payload::RequestType::get_assertion, w.relay->server(),
                                        w.deadlines, w.desk_log.events()));
  INFO(why(c));
  REQUIRE(c);
  CHECK(w.relay->wakeups() == 1);
  CHECK_FALSE(c->session->linking());  // linking info only comes with QR codes
  const auto cdh = random_cdh();
  auto a = w.transact(*c->session, get_assertion(cdh, ls.reg.credential_id), {});
  REQUIRE(a);
  check_assertion(*a, kRp, cdh, ls.reg);
  w.close(*c->session);
  phone.join();
  INFO(why(*served));
  REQUIRE(*served);
  CHECK(**served == 1);
  CHECK(w.phone_log.saw(Stage::woken));
}

TEST_CASE("linking: a forged linking signature is refused and nothing is remembered", "[ceremony][linked]") {
  World w;
  LinkedSetup ls;
  link_by_qr(w, ls, /*forge=*/true);
}

TEST_CASE("linking: a revoked contact answers the desktop with tunnel.gone", "[ceremony][linked][error]") {
  World w;
  LinkedSetup ls;
  link_by_qr(w, ls);
  w.relay->revoke(ls.contact_id);
  auto c = w.run(hybrid::connect_linked(*w.scanner, ls.link, qr_payload::RequestType::get_assertion, w.relay->server(),
                                        w.deadlines, {}));
  REQUIRE_FALSE(c);
  CHECK(c.error().code == Errc::tunnel_gone);
  CHECK(w.air->scanners() == 0);  // the scan stopped with the error
}

TEST_CASE("linking: the phone's revoke closes its listen connection and later contacts are gone",
          "[ceremony][linked]") {
  World w;
  LinkedSetup ls;
  link_by_qr(w, ls);
  hybrid::Runner phone;
  auto st = phone.run(hybrid::revoke_contact(w.relay->server(), ls.token, ls.contact_id));
  INFO(why(st));
  REQUIRE(st);
  auto c = w.run(hybrid::connect_linked(*w.scanner, ls.link, qr_payload::RequestType::get_assertion, w.relay->server(),
                                        w.deadlines, {}));
  REQUIRE_FALSE(c);
  CHECK(c.error().code == Errc::tunnel_gone);
}

TEST_CASE("linking: a woken phone whose advert never comes: the desktop's advert deadline", "[ceremony][linked][error]") {
  World w;
  LinkedSetup ls;
  link_by_qr(w, ls);
  w.air->refuse_advertise = true;  // the woken phone cannot advertise
  w.deadlines.advert = 100ms;
  PhoneSide phone(*w.air);
  std::optional<Result<int>> served;
  start_listener(w, phone, ls, served);
  REQUIRE(w.phone_log.wait_for(Stage::listening));
  auto c = w.run(hybrid::connect_linked(*w.scanner, ls.link, qr_payload::RequestType::get_assertion, w.relay->server(),
                                        w.deadlines, {}));
  REQUIRE_FALSE(c);
  // The phone never connected to the tunnel, so no connection signal came either.
  CHECK(c.error().code == Errc::session_deadline);
  phone.join();
  REQUIRE(*served);  // the listener survives a failed session and counts the wake-up
  CHECK(**served == 1);
}

// ====================================================================== cancellation at each stage

TEST_CASE("cancel: the desktop waiting for the advert", "[ceremony][cancel]") {
  World w;
  auto qr = w.qr();
  auto c = w.desktop_qr(qr, w.desk_log.events([&](Stage s) {
    if (s == Stage::scanning) w.desk.cancel();
  }));
  REQUIRE_FALSE(c);
  CHECK(c.error().code == Errc::session_cancelled);
  CHECK(w.air->scanners() == 0);
}

TEST_CASE("cancel: the desktop during the handshake", "[ceremony][cancel]") {
  World w;
  w.relay->set_faults(doubles::fault_at(0, Fault::hold()), nullptr);  // the phone's handshake answer waits
  auto qr = w.qr();
  PhoneSide phone(*w.air);
  std::optional<Result<hybrid::PhoneResult>> pr;
  w.start_phone_qr(phone, pr, qr.url, w.phone_options());
  auto c = w.desktop_qr(qr, w.desk_log.events([&](Stage s) {
    if (s == Stage::tunnel_connected) w.desk.cancel();
  }));
  REQUIRE_FALSE(c);
  CHECK(c.error().code == Errc::session_cancelled);
  CHECK_FALSE(w.desk_log.saw(Stage::secure_channel));
  phone.join();
  REQUIRE_FALSE(*pr);  // the phone learns at once: the tunnel was dropped
  CHECK(pr->error().code == Errc::tunnel_closed);
}

TEST_CASE("cancel: the desktop while the person decides - the phone withdraws and stores nothing",
          "[ceremony][cancel]") {
  World w;
  SlowPerson person;
  authenticator::MemoryCredentialStore store;
  authenticator::SoftwareAuthenticator slow(store, person, es256_only());
  auto qr = w.qr();
  PhoneSide phone(*w.air);
  std::optional<Result<hybrid::PhoneResult>> pr;
  w.start_phone_qr(phone, pr, qr.url, w.phone_options(), &slow);
  auto c = w.desktop_qr(qr, {});
  REQUIRE(c);
  auto r = w.transact(*c->session, make_credential(random_cdh()), w.desk_log.events([&](Stage s) {
    if (s == Stage::waiting_for_user) w.desk.cancel();
  }));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::session_cancelled);
  phone.join();
  REQUIRE_FALSE(*pr);
  CHECK(pr->error().code == Errc::tunnel_closed);
  person.answer();  // a yes after the withdrawal changes nothing
  CHECK(store.records().empty());
}

TEST_CASE("cancel: the phone while advertising", "[ceremony][cancel]") {
  World w;
  auto qr = w.qr();
  PhoneSide phone(*w.air);
  std::optional<Result<hybrid::PhoneResult>> pr;
  phone.start(pr, [&]() -> net::awaitable<Result<hybrid::PhoneResult>> {
    auto payload = qr_payload::parse_url(qr.url);
    if (!payload) co_return payload.error();
    co_return co_await hybrid::run_phone_qr(*phone.advertiser, *payload, w.auth, w.phone_options(),
                                            w.phone_log.events([&](Stage s) {
                                              if (s == Stage::advertising) phone.runner.cancel();
                                            }));
  });
  phone.join();
  REQUIRE_FALSE(*pr);
  CHECK(pr->error().code == Errc::session_cancelled);
  CHECK(w.air->on_air().empty());
  CHECK(w.relay->last_tunnel()->closed());  // the tunnel was given up
}

TEST_CASE("cancel: the phone while the person decides - the desktop learns the phone left", "[ceremony][cancel]") {
  World w;
  SlowPerson person;
  authenticator::MemoryCredentialStore store;
  authenticator::SoftwareAuthenticator slow(store, person, es256_only());
  auto qr = w.qr();
  PhoneSide phone(*w.air);
  std::optional<Result<hybrid::PhoneResult>> pr;
  w.start_phone_qr(phone, pr, qr.url, w.phone_options(), &slow);
  auto c = w.desktop_qr(qr, {});
  REQUIRE(c);
  std::thread canceller([&] {
    // The person has the prompt in front of them (a condition, not a sleep), then the phone's
    // ceremony is cancelled.
    person.wait_until_asked();
    phone.runner.cancel();
  });
  auto r = w.transact(*c->session, make_credential(random_cdh()), {});
  canceller.join();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::session_phone_closed);
  phone.join();
  REQUIRE_FALSE(*pr);
  CHECK(pr->error().code == Errc::session_cancelled);
  CHECK(store.records().empty());
}

// ====================================================================== errors at each stage

namespace {

// A QR registration: the phone (honest unless told otherwise) and the desktop, with whatever
// faults the test put on the relay. `desktop`: the registration's response or the first error.
struct Outcome {
  Result<Bytes> desktop = make_error(Errc::internal, "not run");
  std::optional<Result<hybrid::PhoneResult>> phone;
};

Outcome qr_register(World& w, hybrid::PhoneOptions o, authenticator::Authenticator* a = nullptr, bool shutdown = true) {
  auto qr = w.qr();
  Outcome out;
  {
    PhoneSide phone(*w.air);
    w.start_phone_qr(phone, out.phone, qr.url, o, a);
    {
      auto c = w.desktop_qr(qr, w.desk_log.events());
      if (!c) {
        out.desktop = c.error();
      } else {
        out.desktop = w.transact(*c->session, make_credential(random_cdh()), w.desk_log.events());
        if (shutdown) (void)w.run(close_session(c->session.get()));
      }
    }  // the session (and its channel) goes here
    phone.join();
  }
  return out;
}

void check_error(const Result<Bytes>& r, Errc code, const std::string& detail_part = {}) {
  INFO(why(r));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == code);
  if (!detail_part.empty()) CHECK(r.error().detail.find(detail_part) != std::string::npos);
}

void check_error(const std::optional<Result<hybrid::PhoneResult>>& r, Errc code) {
  REQUIRE(r);
  INFO(why(*r));
  REQUIRE_FALSE(*r);
  CHECK(r->error().code == code);
}

}  // namespace

// The phone's messages in a QR ceremony, in order: 0 handshake answer, 1 post-handshake message,
// 2 update message, 3 the first CTAP response. The desktop's: 0 handshake, 1 the first request.

TEST_CASE("error at the advert stage: no phone in time or a radio that cannot scan", "[ceremony][error]") {
  World w;
  w.deadlines.advert = 50ms;
  auto c = w.desktop_qr(w.qr(), {});
  REQUIRE_FALSE(c);
  CHECK(c.error().code == Errc::session_no_advert);
  CHECK(w.air->scanners() == 0);
  w.air->refuse_scan = true;
  auto c2 = w.desktop_qr(w.qr(), {});
  REQUIRE_FALSE(c2);
  CHECK(c2.error().code == Errc::ble_failed);
}

TEST_CASE("error at the tunnel stage: the relay refuses the desktop's connect", "[ceremony][error]") {
  World w;
  w.relay->refuse_next(doubles::MemoryRelay::Kind::connect, 404);
  auto o = w.phone_options();
  o.desktop = 500ms;  // long enough for a loaded machine to see the advert first
  auto out = qr_register(w, o);
  check_error(out.desktop, Errc::tunnel_refused, "404");
  check_error(out.phone, Errc::session_deadline);  // nobody came to the phone's tunnel
  CHECK(w.air->on_air().empty());
}

TEST_CASE("error at the tunnel stage: the relay refuses the phone's tunnel", "[ceremony][error]") {
  World w;
  w.relay->refuse_next(doubles::MemoryRelay::Kind::new_tunnel, 503);
  w.deadlines.advert = 100ms;
  auto out = qr_register(w, w.phone_options());
  check_error(out.phone, Errc::tunnel_refused);
  check_error(out.desktop, Errc::session_no_advert);
  CHECK(w.air->adverts_started() == 0);
}

TEST_CASE("error at the handshake stage: a corrupted handshake answer", "[ceremony][error]") {
  World w;
  w.relay->set_faults(doubles::fault_at(0, Fault::corrupt(40)), nullptr);
  auto out = qr_register(w, w.phone_options());
  check_error(out.desktop, Errc::session_handshake);
  check_error(out.phone, Errc::tunnel_closed);
}

TEST_CASE("error at the handshake stage: the relay closes the tunnel with 1011", "[ceremony][error]") {
  World w;
  w.relay->set_faults(doubles::fault_at(0, Fault::close(1011)), nullptr);
  auto out = qr_register(w, w.phone_options());
  check_error(out.desktop, Errc::session_phone_closed, "close 1011");
  check_error(out.phone, Errc::tunnel_closed);
}

TEST_CASE("error at the handshake stage: the answer is lost: the handshake deadline", "[ceremony][error]") {
  World w;
  w.deadlines.handshake = 100ms;
  w.relay->set_faults([](size_t, ByteView) { return Fault::drop(); }, nullptr);  // every message of the phone
  auto out = qr_register(w, w.phone_options());
  check_error(out.desktop, Errc::session_deadline, "handshake");
  check_error(out.phone, Errc::tunnel_closed);
}

TEST_CASE("error at the handshake stage: a corrupted post-handshake message", "[ceremony][error]") {
  World w;
  w.relay->set_faults(doubles::fault_at(1, Fault::corrupt(5)), nullptr);
  auto out = qr_register(w, w.phone_options());
  check_error(out.desktop, Errc::crypter_decrypt);
}

TEST_CASE("error at the handshake stage: the desktop's handshake is corrupted", "[ceremony][error]") {
  World w;
  w.relay->set_faults(nullptr, doubles::fault_at(0, Fault::corrupt(10)));
  auto out = qr_register(w, w.phone_options());
  check_error(out.phone, Errc::session_handshake);
  check_error(out.desktop, Errc::session_phone_closed);
}

TEST_CASE("error at the handshake stage: the desktop never comes: the phone's deadline", "[ceremony][error]") {
  World w;
  auto qr = w.qr();
  PhoneSide phone(*w.air);
  std::optional<Result<hybrid::PhoneResult>> pr;
  auto o = w.phone_options();
  o.desktop = 100ms;
  w.start_phone_qr(phone, pr, qr.url, o);
  phone.join();
  check_error(pr, Errc::session_deadline);
  CHECK(w.air->on_air().empty());
}

TEST_CASE("error at the advert stage: the phone's radio cannot advertise", "[ceremony][error]") {
  World w;
  w.air->refuse_advertise = true;
  w.deadlines.advert = 100ms;
  auto out = qr_register(w, w.phone_options());
  check_error(out.phone, Errc::ble_failed);
  check_error(out.desktop, Errc::session_no_advert);
  CHECK(w.relay->last_tunnel()->closed());
}

TEST_CASE("error at the response stage: the response is lost: the response deadline", "[ceremony][error]") {
  World w;
  w.deadlines.response = 100ms;
  w.relay->set_faults(doubles::fault_at(3, Fault::hold()), nullptr);
  auto out = qr_register(w, w.phone_options());
  check_error(out.desktop, Errc::session_deadline, "response");
}

TEST_CASE("error at the response stage: the connection drops at the response", "[ceremony][error]") {
  World w;
  w.relay->set_faults(doubles::fault_at(3, Fault::abort()), nullptr);
  auto out = qr_register(w, w.phone_options());
  check_error(out.desktop, Errc::session_phone_closed, "dropped");
}

TEST_CASE("error at the response stage: a corrupted response", "[ceremony][error]") {
  World w;
  w.relay->set_faults(doubles::fault_at(3, Fault::corrupt(17, 0x80)), nullptr);
  auto out = qr_register(w, w.phone_options());
  check_error(out.desktop, Errc::crypter_decrypt);
}

TEST_CASE("error at the response stage: a delayed response within the deadline still arrives", "[ceremony][error]") {
  World w;
  w.deadlines.response = 10s;
  w.relay->set_faults(doubles::fault_at(3, Fault::delay_by(30ms)), nullptr);
  auto out = qr_register(w, w.phone_options());
  INFO(why(out.desktop));
  REQUIRE(out.desktop);
  check_registration(*out.desktop, kRp);
}

TEST_CASE("error at the response stage: bad CTAP answers from the phone", "[ceremony][error]") {
  World w;
  SECTION("empty") {
    FixedAnswer empty(w.auth, {});
    auto out = qr_register(w, w.phone_options(), &empty);
    check_error(out.desktop, Errc::ctap_invalid, "empty");
  }
  SECTION("status OK with bytes that are not CBOR: the caller's decoder refuses them") {
    FixedAnswer garbage(w.auth, {0x00, 0xff, 0x01});
    auto out = qr_register(w, w.phone_options(), &garbage);
    REQUIRE(out.desktop);
    CHECK(*out.desktop == Bytes{0x00, 0xff, 0x01});
    auto decoded = ctap::decode_make_credential_response(*out.desktop);
    REQUIRE_FALSE(decoded);
    CHECK(decoded.error().code == Errc::ctap_invalid);
  }
  SECTION("an error status") {
    FixedAnswer denied(w.auth, {ctap::status::operation_denied});
    auto out = qr_register(w, w.phone_options(), &denied);
    REQUIRE(out.desktop);
    auto decoded = ctap::decode_make_credential_response(*out.desktop);
    REQUIRE_FALSE(decoded);
    CHECK(decoded.error().code == ctap::status_errc(ctap::status::operation_denied));
  }
}

TEST_CASE("error at the request stage: the desktop's request is corrupted", "[ceremony][error]") {
  World w;
  w.relay->set_faults(nullptr, doubles::fault_at(1, Fault::corrupt(3)));
  auto out = qr_register(w, w.phone_options());
  check_error(out.phone, Errc::crypter_decrypt);
  check_error(out.desktop, Errc::session_phone_closed);
  CHECK(w.store.records().empty());
}

TEST_CASE("phone: a desktop that leaves without shutdown after a response ends the ceremony normally",
          "[ceremony][qr]") {
  World w;
  auto out = qr_register(w, w.phone_options(), nullptr, /*shutdown=*/false);
  REQUIRE(out.desktop);
  REQUIRE(out.phone);
  INFO(why(*out.phone));
  REQUIRE(*out.phone);
  CHECK((*out.phone)->requests_served == 1);
  CHECK_FALSE((*out.phone)->shutdown_received);
}

TEST_CASE("error at the idle stage: a desktop silent past the phone's idle deadline", "[ceremony][error]") {
  World w;
  auto qr = w.qr();
  PhoneSide phone(*w.air);
  std::optional<Result<hybrid::PhoneResult>> pr;
  auto o = w.phone_options();
  o.idle = 500ms;  // long enough for a loaded machine to finish the handshake first
  w.start_phone_qr(phone, pr, qr.url, o);
  auto c = w.desktop_qr(qr, {});
  REQUIRE(c);
  phone.join();  // the phone gives up while the desktop says nothing
  check_error(pr, Errc::session_deadline);
  auto r = w.transact(*c->session, make_credential(random_cdh()), {});
  check_error(r, Errc::session_phone_closed);
}
