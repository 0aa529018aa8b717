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
  bool asked() {
    std::lock_guard lock(m_);
    return asked_;
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
  hybrid::DesktopDeadlines deadlines;
  hybrid::Runner desk;
  std::unique_ptr<ble::Scanner> scanner = air->scanner(desk.io().get_executor());
  StageLog desk_log, phone_log;

  qr_payload::DesktopQr qr(qr_payload::RequestType t = qr_payload::RequestType::make_credential, bool linking = false) {
    return qr_payload::generate({.request_type = t, .supports_linking = linking});
  }
  hybrid::PhoneOptions phone_options() {
    hybrid::PhoneOptions o;
    o.server = relay->server();
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

TEST_CASE("QR ceremony: register, then sign in over the same tunnel; the assertion verifies with OpenSSL",
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
