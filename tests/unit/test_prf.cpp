// SPDX-License-Identifier: Apache-2.0
// The "prf" extension (proto/prf.hpp) and the software authenticator's answers to it. Expected
// values come from outside the code under test: SHA-256/HMAC known answers computed with Python's
// hashlib/hmac, and the authenticator's outputs recomputed here with OpenSSL's one-shot HMAC()
// (RFC 5869 HKDF written out as two HMACs), not with proto/crypto's EVP_KDF path.
#include <catch2/catch.hpp>

#include <openssl/hmac.h>

#include <string>
#include <vector>

#include "proto/authenticator.hpp"
#include "proto/ctap.hpp"
#include "proto/prf.hpp"

using namespace hg;

namespace {

std::array<uint8_t, 32> hmac(ByteView key, ByteView msg) {
  std::array<uint8_t, 32> out{};
  unsigned len = 0;
  REQUIRE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), msg.data(), msg.size(), out.data(), &len));
  REQUIRE(len == 32);
  return out;
}

// RFC 5869 with an empty salt, one output block: PRK = HMAC(0^32, IKM); OKM = HMAC(PRK, info || 1).
std::array<uint8_t, 32> hkdf32(ByteView ikm, std::string_view info) {
  const std::array<uint8_t, 32> zeros{};
  auto prk = hmac(zeros, ikm);
  Bytes t(info.begin(), info.end());
  t.push_back(1);
  return hmac(prk, t);
}

prf::Salt salt(uint8_t fill) {
  prf::Salt s;
  s.fill(fill);
  return s;
}

cbor::Map prf_ext(cbor::Map prf_value) {
  cbor::Map ext;
  ext.set("prf", cbor::Value(std::move(prf_value)));
  return ext;
}

cbor::Map eval_map(ByteView first, std::optional<Bytes> second = std::nullopt) {
  cbor::Map m;
  m.set("first", cbor::Value(first));
  if (second) m.set("second", cbor::Value(*second));
  return m;
}

}  // namespace

TEST_CASE("prf salts are SHA-256 of \"WebAuthn PRF\", a NUL and the input", "[prf]") {
  // python3: hashlib.sha256(b'WebAuthn PRF\x00' + b'abc').hexdigest()
  CHECK(hex_encode(prf::salt_for_input(as_bytes(std::string_view("abc")))) ==
        "425507dfa7404b2fc3743ff9673c78e7b3c2f9d298b533ae2d8277203f73f4b7");
  CHECK(hex_encode(prf::salt_for_input({})) == "6a7e64b2aa34c92736143a062fa149aff1bd8bb3f7ee6f346885481f9414a3d3");
}

TEST_CASE("prf evaluate is HMAC-SHA256(credRandom, salt)", "[prf]") {
  // python3: hmac.new(b'\x0b' * 32, bytes(range(1, 33)), 'sha256').hexdigest()
  prf::Input in;
  for (size_t i = 0; i < 32; ++i) in.first[i] = static_cast<uint8_t>(i + 1);
  const Bytes key(32, 0x0b);
  auto r = prf::evaluate(key, in);
  CHECK(hex_encode(r.first) == "0f9bd92e65292126dbac1f6bbd482d4ecd7c731a841ce5f1db3d674aab71aabc");
  CHECK(!r.second);
  in.second = salt(7);
  r = prf::evaluate(key, in);
  REQUIRE(r.second);
  CHECK(*r.second == hmac(key, salt(7)));
}

TEST_CASE("prf requests: Chromium's layout parses, round trips, and bad shapes are refused", "[prf]") {
  const Bytes cred_a(16, 0xaa), cred_b(16, 0xbb);
  cbor::Map by_cred;
  by_cred.set(cbor::Value(cred_a), cbor::Value(eval_map(salt(3), Bytes(32, 4))));
  cbor::Map prf_value = {{"eval", cbor::Value(eval_map(salt(1)))}, {"evalByCredential", cbor::Value(by_cred)}};
  auto r = prf::request_from_extensions(prf_ext(prf_value), false);
  REQUIRE(r.ok());
  REQUIRE(r->has_value());
  const prf::Request& req = **r;
  REQUIRE(req.eval);
  CHECK(req.eval->first == salt(1));
  CHECK(!req.eval->second);
  REQUIRE(req.eval_by_credential.size() == 1);
  CHECK(req.input_for(cred_a)->first == salt(3));
  CHECK(req.input_for(cred_a)->second == salt(4));
  CHECK(req.input_for(cred_b) == &*req.eval);  // no entry: eval
  CHECK(cbor::encode(cbor::Value(prf::to_cbor(req))) == cbor::encode(cbor::Value(prf_value)));

  // Absent: no request. Present but empty ({"prf": {}} at creation): a request without inputs.
  CHECK(!prf::request_from_extensions(std::nullopt, true)->has_value());
  CHECK(!prf::request_from_extensions(cbor::Map{{"credProtect", cbor::Value(2)}}, true)->has_value());
  auto empty = prf::request_from_extensions(prf_ext({}), true);
  REQUIRE(empty.ok());
  REQUIRE(empty->has_value());
  CHECK(!(*empty)->eval);

  auto refused = [](cbor::Map ext, bool mc, Errc want) {
    auto x = prf::request_from_extensions(ext, mc);
    REQUIRE(!x.ok());
    CHECK(x.error().code == want);
  };
  cbor::Map ext_text;
  ext_text.set("prf", cbor::Value("yes"));
  refused(ext_text, false, Errc::ctap_unexpected_type);
  refused(prf_ext({{"eval", cbor::Value(cbor::Map{{"second", cbor::Value(salt(1))}})}}), false,
          Errc::ctap_invalid_parameter);                                                       // no first
  refused(prf_ext({{"eval", cbor::Value(eval_map(Bytes(31, 1)))}}), false, Errc::ctap_invalid_parameter);  // 31 bytes
  refused(prf_ext({{"eval", cbor::Value(eval_map(Bytes(33, 1)))}}), false, Errc::ctap_invalid_parameter);  // 33 bytes
  refused(prf_ext({{"eval", cbor::Value(cbor::Map{{"first", cbor::Value("text")}})}}), false,
          Errc::ctap_unexpected_type);
  refused(prf_ext({{"eval", cbor::Value(eval_map(salt(1), Bytes(5, 1)))}}), false, Errc::ctap_invalid_parameter);
  cbor::Map text_key;
  text_key.set("cred", cbor::Value(eval_map(salt(1))));
  refused(prf_ext({{"evalByCredential", cbor::Value(text_key)}}), false, Errc::ctap_invalid_parameter);
  cbor::Map empty_key;
  empty_key.set(cbor::Value(Bytes{}), cbor::Value(eval_map(salt(1))));
  refused(prf_ext({{"evalByCredential", cbor::Value(empty_key)}}), false, Errc::ctap_invalid_parameter);
  refused(prf_ext({{"evalByCredential", cbor::Value(by_cred)}}), true, Errc::ctap_invalid_parameter);  // on create
}

TEST_CASE("prf outputs: enabled and results parse strictly", "[prf]") {
  prf::Outputs o;
  o.enabled = true;
  o.results = prf::Results{salt(9), salt(8)};
  cbor::Map unsigned_outputs;
  unsigned_outputs.set("prf", cbor::Value(prf::to_cbor(o)));
  auto back = prf::outputs_from_unsigned(unsigned_outputs);
  REQUIRE(back.ok());
  REQUIRE(back->has_value());
  CHECK(**back == o);
  CHECK(!prf::outputs_from_unsigned(std::nullopt)->has_value());
  cbor::Map bad;
  bad.set("prf", cbor::Value(cbor::Map{{"results", cbor::Value(cbor::Map{{"first", cbor::Value(Bytes(16, 1))}})}}));
  CHECK(!prf::outputs_from_unsigned(bad).ok());
  bad.set("prf", cbor::Value(cbor::Map{{"enabled", cbor::Value(1)}}));
  CHECK(!prf::outputs_from_unsigned(bad).ok());
}

namespace {

// Approves, and enters the store's PIN when the phone asks for it (built-in user verification):
// PRF results come only for a verified user.
struct PinPresence final : authenticator::UserPresence {
  bool confirm(const std::string&, const std::string&, authenticator::Operation) override { return true; }
  std::optional<SecretBytes> ask_pin(const authenticator::PinPrompt&, const std::atomic<bool>&) override {
    return SecretBytes(as_bytes("1234"));
  }
};

authenticator::Config cheap_pin_kdf() {
  authenticator::Config c;
  c.pin_kdf = crypto::ScryptParams{4, 8, 1};  // a test's PIN needs no memory-hard verifier
  return c;
}

struct Phone {
  authenticator::MemoryCredentialStore store;
  PinPresence yes;
  authenticator::SoftwareAuthenticator a{store, yes, cheap_pin_kdf()};
  Phone() { REQUIRE(a.set_pin(as_bytes("1234"), std::nullopt).ok()); }

  ctap::MakeCredentialResponse make(std::optional<cbor::Map> ext, uint8_t user) {
    ctap::MakeCredentialRequest r;
    r.client_data_hash.fill(0x42);
    r.rp = {"example.com", "Example"};
    r.user = {Bytes(8, user), "u" + std::to_string(user), "U"};
    r.pub_key_cred_params = {{"public-key", -7}};
    r.options.rk = true;
    r.options.uv = true;
    r.extensions = std::move(ext);
    const Bytes out = a.handle(ctap::encode_request(r));
    REQUIRE(!out.empty());
    REQUIRE(out[0] == 0);
    auto resp = ctap::decode_make_credential_response(out);
    REQUIRE(resp.ok());
    return *resp;
  }
  Bytes assert_raw(std::optional<cbor::Map> ext, std::optional<Bytes> allow, bool up = true) {
    ctap::GetAssertionRequest r;
    r.rp_id = "example.com";
    r.client_data_hash.fill(0x24);
    if (allow) r.allow_list = std::vector<ctap::CredentialDescriptor>{{"public-key", *allow, std::nullopt}};
    if (!up) r.options.up = false;
    if (up) r.options.uv = true;  // the person enters the PIN: verified
    r.extensions = std::move(ext);
    return a.handle(ctap::encode_request(r));
  }
  std::optional<prf::Outputs> assert_prf(std::optional<cbor::Map> ext, std::optional<Bytes> allow, bool up = true) {
    const Bytes out = assert_raw(std::move(ext), std::move(allow), up);
    REQUIRE(!out.empty());
    REQUIRE(out[0] == 0);
    auto resp = ctap::decode_get_assertion_response(out);
    REQUIRE(resp.ok());
    auto o = prf::outputs_from_unsigned(resp->unsigned_extension_outputs);
    REQUIRE(o.ok());
    return *o;
  }
  // What the phone must answer, recomputed from its stored private key without proto/crypto.
  prf::Output expected(ByteView credential_id, const prf::Salt& s) {
    for (const auto& rec : store.records())
      if (rec.credential_id == Bytes(credential_id.begin(), credential_id.end()))
        return hmac(hkdf32(rec.private_key.view(), "hybridgate prf credRandom v1"), s);
    FAIL("no such credential");
    return {};
  }
};

Bytes cred_id(const ctap::MakeCredentialResponse& r) {
  auto ad = ctap::AuthenticatorData::parse(r.auth_data);
  REQUIRE(ad.ok());
  REQUIRE(ad->attested);
  return ad->attested->credential_id;
}

}  // namespace

TEST_CASE("authenticator: getInfo lists prf, makeCredential reports enabled and answers eval", "[prf][authenticator]") {
  Phone p;
  auto info = p.a.get_info();
  REQUIRE(info.extensions);
  CHECK(*info.extensions == std::vector<std::string>{"prf"});

  auto plain = p.make(std::nullopt, 1);
  CHECK(!plain.unsigned_extension_outputs);  // not asked, not answered

  auto enabled = p.make(prf_ext({}), 2);
  auto o = prf::outputs_from_unsigned(enabled.unsigned_extension_outputs);
  REQUIRE(o.ok());
  REQUIRE(o->has_value());
  CHECK((*o)->enabled == true);
  CHECK(!(*o)->results);

  auto with_eval = p.make(prf_ext({{"eval", cbor::Value(eval_map(salt(5)))}}), 3);
  o = prf::outputs_from_unsigned(with_eval.unsigned_extension_outputs);
  REQUIRE(o.ok());
  REQUIRE((*o)->results);
  CHECK((*o)->results->first == p.expected(cred_id(with_eval), salt(5)));
  CHECK(!(*o)->results->second);
}

TEST_CASE("authenticator: getAssertion prf results per credential, eval and evalByCredential", "[prf][authenticator]") {
  Phone p;
  const Bytes a = cred_id(p.make(prf_ext({}), 1));
  const Bytes b = cred_id(p.make(prf_ext({}), 2));

  auto o = p.assert_prf(prf_ext({{"eval", cbor::Value(eval_map(salt(1), Bytes(32, 2)))}}), a);
  REQUIRE(o);
  REQUIRE(o->results);
  CHECK(o->results->first == p.expected(a, salt(1)));
  REQUIRE(o->results->second);
  CHECK(*o->results->second == p.expected(a, salt(2)));
  CHECK(o->results->first != *o->results->second);
  CHECK(!o->enabled);

  // Deterministic, and different for another credential with the same salt.
  auto again = p.assert_prf(prf_ext({{"eval", cbor::Value(eval_map(salt(1)))}}), a);
  CHECK(again->results->first == o->results->first);
  auto other = p.assert_prf(prf_ext({{"eval", cbor::Value(eval_map(salt(1)))}}), b);
  CHECK(other->results->first == p.expected(b, salt(1)));
  CHECK(other->results->first != o->results->first);

  // evalByCredential wins for its credential; another credential falls back to eval.
  cbor::Map by;
  by.set(cbor::Value(a), cbor::Value(eval_map(salt(7))));
  auto ext = prf_ext({{"eval", cbor::Value(eval_map(salt(1)))}, {"evalByCredential", cbor::Value(by)}});
  CHECK(p.assert_prf(ext, a)->results->first == p.expected(a, salt(7)));
  CHECK(p.assert_prf(ext, b)->results->first == p.expected(b, salt(1)));
  // Only evalByCredential, for another credential: nothing to evaluate, no output.
  CHECK(!p.assert_prf(prf_ext({{"evalByCredential", cbor::Value(by)}}), b));
  // A silent assertion (up = false, so no user verification) gets no PRF output.
  CHECK(!p.assert_prf(prf_ext({{"eval", cbor::Value(eval_map(salt(1)))}}), a, false));
  // Not asked: nothing.
  CHECK(!p.assert_prf(std::nullopt, a));
}

TEST_CASE("authenticator: a malformed prf extension is refused before the user is asked", "[prf][authenticator]") {
  struct Counting final : authenticator::UserPresence {
    int asked = 0;
    bool confirm(const std::string&, const std::string&, authenticator::Operation) override {
      ++asked;
      return true;
    }
  } presence;
  authenticator::MemoryCredentialStore store;
  authenticator::SoftwareAuthenticator a(store, presence);
  ctap::MakeCredentialRequest r;
  r.client_data_hash.fill(1);
  r.rp = {"example.com", "Example"};
  r.user = {Bytes(8, 1), "u", "U"};
  r.pub_key_cred_params = {{"public-key", -7}};
  r.extensions = prf_ext({{"eval", cbor::Value(eval_map(Bytes(16, 1)))}});
  Bytes out = a.handle(ctap::encode_request(r));
  REQUIRE(out.size() == 1);
  CHECK(out[0] == ctap::status::invalid_parameter);
  r.extensions = prf_ext({{"evalByCredential", cbor::Value(cbor::Map{})}});
  out = a.handle(ctap::encode_request(r));
  REQUIRE(out.size() == 1);
  CHECK(out[0] == ctap::status::invalid_parameter);
  CHECK(presence.asked == 0);
  CHECK(store.records().empty());
}

TEST_CASE("authenticator without prf: not in getInfo, inputs ignored (even malformed ones)", "[prf][authenticator]") {
  authenticator::MemoryCredentialStore store;
  authenticator::AlwaysConfirm yes;
  authenticator::Config cfg;
  cfg.prf = false;
  authenticator::SoftwareAuthenticator a(store, yes, cfg);
  CHECK(!a.get_info().lists_extension("prf"));
  auto info = ctap::decode_get_info(a.get_info_cbor());
  REQUIRE(info.ok());
  CHECK(!info->lists_extension("prf"));
  Phone with;
  CHECK(with.a.get_info().lists_extension("prf"));
  CHECK(!with.a.get_info().lists_extension("hmac-secret"));

  ctap::MakeCredentialRequest r;
  r.client_data_hash.fill(1);
  r.rp = {"example.com", "Example"};
  r.user = {Bytes(8, 1), "u", "U"};
  r.pub_key_cred_params = {{"public-key", -7}};
  r.extensions = prf_ext({{"eval", cbor::Value(eval_map(Bytes(16, 1)))}});  // malformed: 16 bytes
  const Bytes out = a.handle(ctap::encode_request(r));
  REQUIRE(!out.empty());
  CHECK(out[0] == 0);
  auto resp = ctap::decode_make_credential_response(out);
  REQUIRE(resp.ok());
  CHECK(!resp->unsigned_extension_outputs);
}
