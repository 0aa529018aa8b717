// SPDX-License-Identifier: Apache-2.0
// The software authenticator, checked independently: signatures verified with the public key
// taken from the attested credential data, rpIdHash against a known SHA-256, flags bit by bit.
#include <catch2/catch.hpp>

#include <atomic>
#include <optional>

#include <string>
#include <tuple>
#include <vector>

#include <openssl/evp.h>

#include "proto/authenticator.hpp"
#include "proto/ctap.hpp"

using namespace hg;
using authenticator::AttestationFormat;
using authenticator::Operation;

namespace {

// SHA-256("example.com"), a well-known value (computed outside this project).
constexpr const char* kExampleComHash = "a379a6f6eeafb9a55e378c118034e2751e682fab9f2d30ab13d2125586ce1947";

class ScriptedPresence final : public authenticator::UserPresence {
 public:
  bool answer = true;
  std::vector<std::tuple<std::string, std::string, Operation>> calls;
  bool confirm(const std::string& rp_id, const std::string& user_name, Operation op) override {
    calls.emplace_back(rp_id, user_name, op);
    return answer;
  }
};

ctap::ClientDataHash cdh(uint8_t fill) {
  ctap::ClientDataHash h{};
  h.fill(fill);
  return h;
}

ctap::MakeCredentialRequest mc(const std::string& rp, Bytes user_id, const std::string& name, bool rk) {
  ctap::MakeCredentialRequest r;
  r.client_data_hash = cdh(0x42);
  r.rp = {rp, rp + " Inc."};
  r.user = {std::move(user_id), name, name + " Display"};
  r.pub_key_cred_params = {{"public-key", -257}, {"public-key", -7}};
  if (rk) r.options.rk = true;
  return r;
}

ctap::GetAssertionRequest ga(const std::string& rp, std::optional<std::vector<Bytes>> allow, uint8_t fill = 0x24) {
  ctap::GetAssertionRequest r;
  r.rp_id = rp;
  r.client_data_hash = cdh(fill);
  if (allow) {
    std::vector<ctap::CredentialDescriptor> list;
    for (auto& id : *allow) list.push_back({"public-key", id, std::nullopt});
    r.allow_list = std::move(list);
  }
  return r;
}

struct Registered {
  Bytes credential_id;
  crypto::P256Public public_key;
  Bytes auth_data;
  ctap::MakeCredentialResponse response;
};

Registered register_ok(authenticator::SoftwareAuthenticator& a, const ctap::MakeCredentialRequest& req) {
  const Bytes out = a.handle(ctap::encode_request(req));
  REQUIRE(!out.empty());
  INFO("status " << int(out[0]));
  REQUIRE(out[0] == 0x00);
  auto resp = ctap::decode_make_credential_response(out);
  REQUIRE(resp.ok());
  auto ad = ctap::AuthenticatorData::parse(resp->auth_data);
  REQUIRE(ad.ok());
  REQUIRE(ad->attested.has_value());
  auto pub = ctap::cose_es256_parse(ad->attested->public_key);
  REQUIRE(pub.ok());
  return Registered{ad->attested->credential_id, *pub, resp->auth_data, *resp};
}

uint8_t status_of(const Bytes& out) {
  REQUIRE(!out.empty());
  return out[0];
}

}  // namespace

TEST_CASE("authenticator getInfo advertises hybrid ES256 rk up, and uv/clientPin false without a PIN", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  authenticator::AlwaysConfirm yes;
  authenticator::Config cfg;
  cfg.aaguid.fill(0xA5);
  authenticator::SoftwareAuthenticator a(store, yes, cfg);

  const Bytes out = a.handle(Bytes{0x04});
  auto info = ctap::decode_get_info_response(out);
  REQUIRE(info.ok());
  CHECK(info->versions == std::vector<std::string>{"FIDO_2_0", "FIDO_2_1"});
  CHECK(info->aaguid == cfg.aaguid);
  CHECK(info->option("rk") == std::optional<bool>(true));
  CHECK(info->option("uv") == std::optional<bool>(false));  // capable (a PIN), not configured
  CHECK(info->option("clientPin") == std::optional<bool>(false));
  CHECK(info->option("up") == std::optional<bool>(true));
  CHECK(info->transports == std::optional<std::vector<std::string>>(std::vector<std::string>{"hybrid", "internal"}));
  REQUIRE(info->algorithms.has_value());
  REQUIRE(info->algorithms->size() == 2);
  CHECK(info->algorithms->at(0).alg == -7);
  CHECK(info->algorithms->at(1).alg == -8);
  CHECK(Bytes(out.begin() + 1, out.end()) == a.get_info_cbor());

  CHECK(status_of(a.handle(Bytes{0x04, 0xa0})) == ctap::status::invalid_length);
}

TEST_CASE("makeCredential returns none attestation with UP AT (no UV without a PIN) and a valid COSE key", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  ScriptedPresence presence;
  authenticator::Config cfg;
  cfg.aaguid.fill(0x11);
  authenticator::SoftwareAuthenticator a(store, presence, cfg);

  auto reg = register_ok(a, mc("example.com", Bytes{1, 2, 3}, "alice", false));
  CHECK(reg.response.fmt == "none");
  CHECK(reg.response.att_stmt.empty());
  auto ad = ctap::AuthenticatorData::parse(reg.auth_data);
  REQUIRE(ad.ok());
  CHECK(hex_encode(ad->rp_id_hash) == kExampleComHash);
  CHECK(ad->flags == (0x01 | 0x40));  // user present, attested data; not verified
  CHECK(ad->sign_count == 0);
  CHECK(ad->attested->aaguid == cfg.aaguid);
  CHECK(reg.credential_id.size() == 16);

  REQUIRE(presence.calls.size() == 1);
  CHECK(std::get<0>(presence.calls[0]) == "example.com");
  CHECK(std::get<1>(presence.calls[0]) == "alice");
  CHECK(std::get<2>(presence.calls[0]) == Operation::make_credential);

  REQUIRE(store.records().size() == 1);
  const auto& rec = store.records()[0];
  CHECK(rec.credential_id == reg.credential_id);
  CHECK(rec.rp_name == "example.com Inc.");
  CHECK(rec.user_id == Bytes{1, 2, 3});
  CHECK(rec.display_name == "alice Display");
  CHECK(rec.private_key.size() == 32);
  CHECK_FALSE(rec.discoverable);
  // The stored key is the one in the attested credential data.
  auto key = crypto::P256Key::from_private(rec.private_key.view());
  REQUIRE(key.ok());
  CHECK(key->public_uncompressed() == reg.public_key.uncompressed());
}

TEST_CASE("packed self attestation signature verifies over authData and clientDataHash", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  authenticator::AlwaysConfirm yes;
  authenticator::Config cfg;
  cfg.attestation = AttestationFormat::packed_self;
  authenticator::SoftwareAuthenticator a(store, yes, cfg);

  auto req = mc("example.com", Bytes{9}, "bob", true);
  auto reg = register_ok(a, req);
  CHECK(reg.response.fmt == "packed");
  const cbor::Value* alg = reg.response.att_stmt.find(std::string_view("alg"));
  const cbor::Value* sig = reg.response.att_stmt.find(std::string_view("sig"));
  REQUIRE(alg != nullptr);
  REQUIRE(sig != nullptr);
  CHECK(*alg == cbor::Value(-7));
  REQUIRE(sig->is_bytes());
  CHECK(reg.response.att_stmt.size() == 2);

  const Bytes signed_data = concat({reg.auth_data, req.client_data_hash});
  CHECK(reg.public_key.verify_sha256(signed_data, sig->as_bytes()));
  Bytes tampered = signed_data;
  tampered.back() ^= 0x01;
  CHECK_FALSE(reg.public_key.verify_sha256(tampered, sig->as_bytes()));
}

TEST_CASE("getAssertion with allowList signs and increments the persisted counter", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  ScriptedPresence presence;
  authenticator::SoftwareAuthenticator a(store, presence);
  auto reg = register_ok(a, mc("example.com", Bytes{1}, "alice", false));
  auto other = register_ok(a, mc("example.com", Bytes{2}, "carol", false));

  for (uint32_t expected_count = 1; expected_count <= 2; ++expected_count) {
    auto req = ga("example.com", std::vector<Bytes>{Bytes{0xde, 0xad}, reg.credential_id}, uint8_t(0x30 + expected_count));
    const Bytes out = a.handle(ctap::encode_request(req));
    REQUIRE(status_of(out) == 0x00);
    auto resp = ctap::decode_get_assertion_response(out);
    REQUIRE(resp.ok());
    REQUIRE(resp->credential.has_value());
    CHECK(resp->credential->id == reg.credential_id);
    CHECK(resp->credential->type == "public-key");
    CHECK_FALSE(resp->user.has_value());  // not discoverable: no user handle
    CHECK_FALSE(resp->user_selected.has_value());

    auto ad = ctap::AuthenticatorData::parse(resp->auth_data);
    REQUIRE(ad.ok());
    CHECK(hex_encode(ad->rp_id_hash) == kExampleComHash);
    CHECK(ad->flags == 0x01);  // present, not verified (no PIN)
    CHECK(ad->sign_count == expected_count);
    CHECK(resp->auth_data.size() == 37);

    CHECK(reg.public_key.verify_sha256(concat({resp->auth_data, req.client_data_hash}), resp->signature));
    CHECK_FALSE(other.public_key.verify_sha256(concat({resp->auth_data, req.client_data_hash}), resp->signature));
    CHECK_FALSE(reg.public_key.verify_sha256(concat({resp->auth_data, cdh(0x00)}), resp->signature));

    auto stored = store.find_by_id(reg.credential_id);
    REQUIRE(stored.ok());
    REQUIRE(stored->has_value());
    CHECK((*stored)->sign_count == expected_count);
  }
  CHECK(std::get<2>(presence.calls.back()) == Operation::get_assertion);
  CHECK(std::get<1>(presence.calls.back()) == "alice");
}

TEST_CASE("getAssertion without allowList picks the newest discoverable credential", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  authenticator::AlwaysConfirm yes;
  authenticator::SoftwareAuthenticator a(store, yes);
  register_ok(a, mc("example.com", Bytes{1}, "old", true));
  auto newest = register_ok(a, mc("example.com", Bytes{2}, "new", true));
  register_ok(a, mc("example.com", Bytes{3}, "not-discoverable", false));
  register_ok(a, mc("other.example", Bytes{4}, "elsewhere", true));

  auto req = ga("example.com", std::nullopt);
  const Bytes out = a.handle(ctap::encode_request(req));
  REQUIRE(status_of(out) == 0x00);
  auto resp = ctap::decode_get_assertion_response(out);
  REQUIRE(resp.ok());
  CHECK(resp->credential->id == newest.credential_id);
  REQUIRE(resp->user.has_value());
  CHECK(resp->user->id == Bytes{2});
  CHECK(resp->user->name == std::optional<std::string>("new"));
  CHECK(resp->user->display_name == std::optional<std::string>("new Display"));
  CHECK(resp->user_selected == std::optional<bool>(true));
  CHECK(newest.public_key.verify_sha256(concat({resp->auth_data, req.client_data_hash}), resp->signature));

  // An empty allowList array behaves like an absent one.
  auto empty_list = ga("example.com", std::vector<Bytes>{});
  auto resp2 = ctap::decode_get_assertion_response(a.handle(ctap::encode_request(empty_list)));
  REQUIRE(resp2.ok());
  CHECK(resp2->credential->id == newest.credential_id);

  // A discoverable credential named in an allowList returns its user handle only.
  auto listed = ctap::decode_get_assertion_response(
      a.handle(ctap::encode_request(ga("example.com", std::vector<Bytes>{newest.credential_id}))));
  REQUIRE(listed.ok());
  REQUIRE(listed->user.has_value());
  CHECK(listed->user->id == Bytes{2});
  CHECK_FALSE(listed->user->name.has_value());
}

TEST_CASE("a new discoverable credential replaces the old one for the same account", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  authenticator::AlwaysConfirm yes;
  authenticator::SoftwareAuthenticator a(store, yes);
  auto first = register_ok(a, mc("example.com", Bytes{7}, "alice", true));
  auto second = register_ok(a, mc("example.com", Bytes{7}, "alice", true));
  REQUIRE(store.records().size() == 1);
  CHECK(store.records()[0].credential_id == second.credential_id);
  CHECK(status_of(a.handle(ctap::encode_request(ga("example.com", std::vector<Bytes>{first.credential_id})))) ==
        ctap::status::no_credentials);
}

TEST_CASE("excludeList match asks for presence then reports credential excluded", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  ScriptedPresence presence;
  authenticator::SoftwareAuthenticator a(store, presence);
  auto reg = register_ok(a, mc("example.com", Bytes{1}, "alice", false));

  auto req = mc("example.com", Bytes{1}, "alice", false);
  req.exclude_list = std::vector<ctap::CredentialDescriptor>{{"public-key", reg.credential_id, std::nullopt}};
  presence.calls.clear();
  CHECK(status_of(a.handle(ctap::encode_request(req))) == ctap::status::credential_excluded);
  REQUIRE(presence.calls.size() == 1);
  CHECK(std::get<2>(presence.calls[0]) == Operation::excluded);
  CHECK(store.records().size() == 1);

  presence.answer = false;
  CHECK(status_of(a.handle(ctap::encode_request(req))) == ctap::status::operation_denied);

  // The same ID under another RP does not exclude.
  presence.answer = true;
  auto elsewhere = req;
  elsewhere.rp = {"other.example", "Other"};
  CHECK(status_of(a.handle(ctap::encode_request(elsewhere))) == 0x00);
}

TEST_CASE("makeCredential without ES256 is an unsupported algorithm", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  ScriptedPresence presence;
  authenticator::SoftwareAuthenticator a(store, presence);
  auto req = mc("example.com", Bytes{1}, "alice", false);
  req.pub_key_cred_params = {{"public-key", -257}, {"public-key", -35}, {"not-a-key", -7}};
  CHECK(status_of(a.handle(ctap::encode_request(req))) == ctap::status::unsupported_algorithm);
  // EdDSA alone, on a phone configured without it: unsupported, and getInfo does not list it.
  authenticator::Config no_eddsa;
  no_eddsa.eddsa = false;
  authenticator::SoftwareAuthenticator b(store, presence, no_eddsa);
  req.pub_key_cred_params = {{"public-key", -8}};
  CHECK(status_of(b.handle(ctap::encode_request(req))) == ctap::status::unsupported_algorithm);
  auto info = ctap::decode_get_info_response(b.handle(Bytes{0x04}));
  REQUIRE(info.ok());
  REQUIRE(info->algorithms.has_value());
  CHECK(info->algorithms->size() == 1);
  CHECK(presence.calls.empty());
  CHECK(store.records().empty());
}

namespace {

// An independent Ed25519 verification: OpenSSL's EVP interface called here directly, not through
// proto/crypto.
bool openssl_ed25519_verify(ByteView pub, ByteView msg, ByteView sig) {
  EVP_PKEY* pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub.data(), pub.size());
  if (pk == nullptr) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pk) == 1 &&
                  EVP_DigestVerify(ctx, sig.data(), sig.size(), msg.data(), msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pk);
  return ok;
}

}  // namespace

TEST_CASE("EdDSA: the caller's first supported algorithm is made, signed with Ed25519", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  authenticator::AlwaysConfirm yes;
  authenticator::Config cfg;
  cfg.attestation = AttestationFormat::packed_self;
  authenticator::SoftwareAuthenticator a(store, yes, cfg);

  auto req = mc("ssh:", Bytes{7}, "erin", true);
  req.pub_key_cred_params = {{"public-key", -8}, {"public-key", -7}};
  const Bytes out = a.handle(ctap::encode_request(req));
  REQUIRE(status_of(out) == 0x00);
  auto resp = ctap::decode_make_credential_response(out);
  REQUIRE(resp.ok());
  auto ad = ctap::AuthenticatorData::parse(resp->auth_data);
  REQUIRE(ad.ok());
  REQUIRE(ad->attested.has_value());
  // The COSE key, checked label by label: kty OKP (1), alg EdDSA (-8), crv Ed25519 (6), x 32 bytes.
  const auto& k = ad->attested->public_key;
  CHECK(k.size() == 4);
  REQUIRE(k.find(cbor::Value(1)) != nullptr);
  CHECK(*k.find(cbor::Value(1)) == cbor::Value(1));
  CHECK(*k.find(cbor::Value(3)) == cbor::Value(-8));
  CHECK(*k.find(cbor::Value(-1)) == cbor::Value(6));
  const cbor::Value* x = k.find(cbor::Value(-2));
  REQUIRE(x != nullptr);
  REQUIRE(x->is_bytes());
  const Bytes pub = x->as_bytes();
  REQUIRE(pub.size() == 32);
  CHECK(ctap::cose_es256_parse(k).error().code == Errc::ctap_invalid_parameter);
  REQUIRE(store.records().size() == 1);
  CHECK(store.records()[0].alg == -8);

  // Packed self attestation: alg -8, an Ed25519 signature over authData || clientDataHash.
  CHECK(*resp->att_stmt.find(std::string_view("alg")) == cbor::Value(-8));
  const Bytes att_sig = resp->att_stmt.find(std::string_view("sig"))->as_bytes();
  CHECK(att_sig.size() == 64);
  CHECK(openssl_ed25519_verify(pub, concat({resp->auth_data, req.client_data_hash}), att_sig));

  // An assertion verifies with the attested key; one flipped bit does not.
  auto g = ga("ssh:", std::vector<Bytes>{ad->attested->credential_id});
  auto as = ctap::decode_get_assertion_response(a.handle(ctap::encode_request(g)));
  REQUIRE(as.ok());
  const Bytes signed_data = concat({as->auth_data, g.client_data_hash});
  CHECK(as->signature.size() == 64);
  CHECK(openssl_ed25519_verify(pub, signed_data, as->signature));
  Bytes tampered = signed_data;
  tampered[40] ^= 0x01;
  CHECK_FALSE(openssl_ed25519_verify(pub, tampered, as->signature));

  // ES256 first in the list: an ES256 credential, as before.
  auto req2 = mc("ssh:", Bytes{8}, "erin2", false);
  req2.pub_key_cred_params = {{"public-key", -7}, {"public-key", -8}};
  register_ok(a, req2);
  CHECK(store.records().back().alg == -7);
}

TEST_CASE("denied presence gives operation denied and changes nothing", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  ScriptedPresence presence;
  authenticator::SoftwareAuthenticator a(store, presence);
  auto reg = register_ok(a, mc("example.com", Bytes{1}, "alice", false));

  presence.answer = false;
  CHECK(status_of(a.handle(ctap::encode_request(mc("example.com", Bytes{2}, "bob", true)))) ==
        ctap::status::operation_denied);
  CHECK(store.records().size() == 1);
  CHECK(status_of(a.handle(ctap::encode_request(ga("example.com", std::vector<Bytes>{reg.credential_id})))) ==
        ctap::status::operation_denied);
  CHECK(store.records()[0].sign_count == 0);
  CHECK(status_of(a.handle(Bytes{0x0B})) == ctap::status::operation_denied);
  presence.answer = true;
  CHECK(a.handle(Bytes{0x0B}) == Bytes{0x00});
  CHECK(std::get<2>(presence.calls.back()) == Operation::selection);
  CHECK(status_of(a.handle(Bytes{0x0B, 0xa0})) == ctap::status::invalid_length);
}

// The desktop goes away while the person decides, and the person then says yes: nothing is
// created, signed or counted, and the answer is CTAP2_ERR_KEEPALIVE_CANCEL (0x2D).
TEST_CASE("a request withdrawn during the prompt commits nothing even after a yes", "[authenticator]") {
  class WithdrawnThenYes final : public authenticator::UserPresence {
   public:
    std::atomic<bool>* flag = nullptr;
    bool confirm(const std::string&, const std::string&, Operation) override {
      if (flag) *flag = true;  // the desktop left while the prompt was up
      return true;             // ... and the person said yes anyway
    }
  } presence;
  authenticator::MemoryCredentialStore store;
  authenticator::SoftwareAuthenticator a(store, presence);
  auto reg = register_ok(a, mc("example.com", Bytes{1}, "alice", false));

  std::atomic<bool> cancelled{false};
  presence.flag = &cancelled;
  CHECK(status_of(a.handle(ctap::encode_request(mc("example.com", Bytes{2}, "bob", true)), cancelled)) == 0x2D);
  CHECK(store.records().size() == 1);
  cancelled = false;
  CHECK(status_of(a.handle(ctap::encode_request(ga("example.com", std::vector<Bytes>{reg.credential_id})), cancelled)) ==
        0x2D);
  CHECK(store.records()[0].sign_count == 0);
  // Withdrawn before the prompt: the person is not even asked.
  presence.flag = nullptr;
  cancelled = true;
  CHECK(status_of(a.handle(ctap::encode_request(mc("example.com", Bytes{3}, "carol", true)), cancelled)) == 0x2D);
  CHECK(store.records().size() == 1);
  // A request nobody withdraws goes through as before.
  CHECK(status_of(a.handle(ctap::encode_request(mc("example.com", Bytes{4}, "dave", true)))) == 0x00);
  CHECK(store.records().size() == 2);
}

// Several discoverable passkeys for one site: the person picks one on the phone (newest first).
TEST_CASE("the person chooses among several discoverable accounts", "[authenticator]") {
  class Chooser final : public authenticator::UserPresence {
   public:
    std::optional<size_t> pick = 0;
    std::vector<std::string> offered;
    int asked = 0;
    bool confirm(const std::string&, const std::string&, Operation) override { return true; }
    std::optional<size_t> choose_account(const std::string& rp_id, const std::vector<std::string>& accounts,
                                         const std::atomic<bool>&) override {
      CHECK(rp_id == "example.com");
      ++asked;
      offered = accounts;
      return pick;
    }
  } presence;
  authenticator::MemoryCredentialStore store;
  authenticator::SoftwareAuthenticator a(store, presence);
  auto alice = register_ok(a, mc("example.com", Bytes{1}, "alice", true));
  auto bob = register_ok(a, mc("example.com", Bytes{2}, "bob", true));
  (void)register_ok(a, mc("other.example", Bytes{3}, "carol", true));

  presence.pick = 1;  // the second in the list: the older one, alice
  auto r = ctap::decode_get_assertion_response(a.handle(ctap::encode_request(ga("example.com", std::nullopt))));
  REQUIRE(r.ok());
  CHECK(presence.asked == 1);
  REQUIRE(presence.offered.size() == 2);
  CHECK(presence.offered[0].rfind("bob", 0) == 0);
  CHECK(presence.offered[1].rfind("alice", 0) == 0);
  REQUIRE(r->user);
  CHECK(r->user->id == Bytes{1});
  CHECK(r->credential->id == alice.credential_id);

  presence.pick = std::nullopt;  // declined
  CHECK(status_of(a.handle(ctap::encode_request(ga("example.com", std::nullopt)))) == ctap::status::operation_denied);
  presence.pick = 7;  // out of range
  CHECK(status_of(a.handle(ctap::encode_request(ga("example.com", std::nullopt)))) == ctap::status::operation_denied);
  // With an allow list, or a single candidate, nobody is asked.
  presence.asked = 0;
  CHECK(status_of(a.handle(ctap::encode_request(ga("example.com", std::vector<Bytes>{bob.credential_id})))) == 0x00);
  CHECK(status_of(a.handle(ctap::encode_request(ga("other.example", std::nullopt)))) == 0x00);
  CHECK(presence.asked == 0);
}

TEST_CASE("getAssertion with no matching credential reports no credentials", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  ScriptedPresence presence;
  authenticator::SoftwareAuthenticator a(store, presence);
  auto reg = register_ok(a, mc("example.com", Bytes{1}, "alice", false));
  CHECK(status_of(a.handle(ctap::encode_request(ga("other.example", std::vector<Bytes>{reg.credential_id})))) ==
        ctap::status::no_credentials);
  CHECK(status_of(a.handle(ctap::encode_request(ga("example.com", std::vector<Bytes>{Bytes{1, 2}})))) ==
        ctap::status::no_credentials);
  // Non-discoverable credentials are not offered without an allowList.
  CHECK(status_of(a.handle(ctap::encode_request(ga("example.com", std::nullopt)))) == ctap::status::no_credentials);
}

TEST_CASE("getAssertion with up false signs silently without UP or UV", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  ScriptedPresence presence;
  authenticator::SoftwareAuthenticator a(store, presence);
  auto reg = register_ok(a, mc("example.com", Bytes{1}, "alice", false));
  presence.calls.clear();
  auto req = ga("example.com", std::vector<Bytes>{reg.credential_id});
  req.options.up = false;
  auto resp = ctap::decode_get_assertion_response(a.handle(ctap::encode_request(req)));
  REQUIRE(resp.ok());
  auto ad = ctap::AuthenticatorData::parse(resp->auth_data);
  REQUIRE(ad.ok());
  CHECK(ad->flags == 0);
  CHECK(ad->sign_count == 1);
  CHECK(presence.calls.empty());
  CHECK(reg.public_key.verify_sha256(concat({resp->auth_data, req.client_data_hash}), resp->signature));
}

TEST_CASE("malformed and unsupported requests map to CTAP status bytes", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  authenticator::AlwaysConfirm yes;
  authenticator::SoftwareAuthenticator a(store, yes);
  CHECK(a.handle(Bytes{}) == Bytes{ctap::status::invalid_length});
  CHECK(a.handle(Bytes{0x09}) == Bytes{ctap::status::invalid_command});
  CHECK(a.handle(Bytes{0x01}) == Bytes{ctap::status::missing_parameter});
  CHECK(a.handle(Bytes{0x01, 0xa1}) == Bytes{ctap::status::invalid_cbor});
  CHECK(a.handle(Bytes{0x02, 0x01}) == Bytes{ctap::status::cbor_unexpected_type});
  CHECK(a.handle(Bytes{0x02, 0xa0}) == Bytes{ctap::status::missing_parameter});

  auto up_false = mc("example.com", Bytes{1}, "alice", false);
  up_false.options.up = false;
  CHECK(a.handle(ctap::encode_request(up_false)) == Bytes{ctap::status::invalid_option});

  auto rk_ga = ga("example.com", std::nullopt);
  rk_ga.options.rk = true;
  CHECK(a.handle(ctap::encode_request(rk_ga)) == Bytes{ctap::status::unsupported_option});
  CHECK(store.records().empty());
}

TEST_CASE("every truncation and bit flip of a request yields a status and never throws", "[authenticator]") {
  authenticator::MemoryCredentialStore store;
  authenticator::AlwaysConfirm yes;
  authenticator::SoftwareAuthenticator a(store, yes);
  const Bytes good = ctap::encode_request(mc("example.com", Bytes{1, 2, 3}, "alice", true));
  for (size_t n = 0; n < good.size(); ++n) {
    const Bytes out = a.handle(ByteView(good).first(n));
    REQUIRE(out.size() == 1);
    CHECK(out[0] != 0x00);
  }
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t bit : {0x01, 0x80}) {
      Bytes flipped = good;
      flipped[i] ^= bit;
      const Bytes out = a.handle(flipped);
      REQUIRE_FALSE(out.empty());
      if (out[0] == 0x00) CHECK(ctap::decode_make_credential_response(out).ok());
    }
  }
}

// ---------------------------------------------------------------- user verification (issue 25)

namespace {

// Approves presence; answers PIN prompts from a script (nullopt = declines) and records them.
class PinScript final : public authenticator::UserPresence {
 public:
  std::vector<std::optional<std::string>> pins;
  std::vector<authenticator::PinPrompt> prompts;
  int confirms = 0;
  bool confirm(const std::string&, const std::string&, Operation) override {
    ++confirms;
    return true;
  }
  std::optional<SecretBytes> ask_pin(const authenticator::PinPrompt& p, const std::atomic<bool>&) override {
    prompts.push_back(p);
    if (prompts.size() > pins.size() || !pins[prompts.size() - 1]) return std::nullopt;
    return SecretBytes(as_bytes(*pins[prompts.size() - 1]));
  }
};

uint8_t status_of_st(const Status& st) { return st.ok() ? uint8_t{0} : ctap::status_for_error(st.error()); }

authenticator::Config cheap_kdf() {
  authenticator::Config c;
  c.pin_kdf = crypto::ScryptParams{4, 8, 1};
  return c;
}

}  // namespace

TEST_CASE("without a PIN: options.uv is refused with INVALID_OPTION, nothing asked or stored", "[authenticator][pin]") {
  authenticator::MemoryCredentialStore store;
  PinScript presence;
  presence.pins = {std::string("1234")};
  authenticator::SoftwareAuthenticator a(store, presence, cheap_kdf());
  auto req = mc("example.com", Bytes{1}, "alice", true);
  req.options.uv = true;
  CHECK(status_of(a.handle(ctap::encode_request(req))) == ctap::status::invalid_option);
  CHECK(store.records().empty());
  CHECK(presence.confirms == 0);
  CHECK(presence.prompts.empty());
  req.options.uv.reset();
  auto reg = register_ok(a, req);
  auto g = ga("example.com", std::nullopt);
  g.options.uv = true;
  CHECK(status_of(a.handle(ctap::encode_request(g))) == ctap::status::invalid_option);
}

TEST_CASE("a PIN set: getInfo says uv, the PIN is asked for options.uv, UV only after the right one", "[authenticator][pin]") {
  authenticator::MemoryCredentialStore store;
  PinScript presence;
  authenticator::SoftwareAuthenticator a(store, presence, cheap_kdf());
  CHECK(status_of_st(a.set_pin(as_bytes("abc"), std::nullopt)) == ctap::status::pin_policy_violation);
  CHECK(status_of_st(a.set_pin(as_bytes("ab\xc3\xa4"), std::nullopt)) == ctap::status::pin_policy_violation);
  REQUIRE(a.set_pin(as_bytes("1234"), std::nullopt).ok());
  CHECK(status_of_st(a.set_pin(as_bytes("5678"), std::nullopt)) == ctap::status::not_allowed);
  CHECK(a.get_info().option("uv") == std::optional<bool>(true));
  CHECK(a.get_info().option("clientPin") == std::optional<bool>(true));

  presence.pins = {std::string("9999"), std::string("1234")};
  auto req = mc("example.com", Bytes{2}, "bob", true);
  req.options.uv = true;
  auto reg = register_ok(a, req);
  auto ad = ctap::AuthenticatorData::parse(reg.auth_data);
  REQUIRE(ad.ok());
  CHECK(ad->flags == (0x01 | 0x04 | 0x40));
  REQUIRE(presence.prompts.size() == 2);
  CHECK_FALSE(presence.prompts[0].again);
  CHECK(presence.prompts[0].retries == 8);
  CHECK(presence.prompts[1].again);
  CHECK(presence.prompts[1].retries == 7);
  CHECK(presence.prompts[1].rp_id == "example.com");
  CHECK(presence.confirms == 0);  // entering the PIN was the consent
  CHECK(store.pin()->value().retries == 8);  // the right PIN restored the count

  // A discoverable passkey without verification on a PIN-protected store: PUAT_REQUIRED.
  auto plain = mc("example.com", Bytes{3}, "carl", true);
  CHECK(status_of(a.handle(ctap::encode_request(plain))) == ctap::status::puat_required);
  // A sign-in without verification works and says so.
  auto g = ga("example.com", std::nullopt);
  const Bytes out = a.handle(ctap::encode_request(g));
  REQUIRE(status_of(out) == 0);
  auto resp = ctap::decode_get_assertion_response(out);
  REQUIRE(resp.ok());
  CHECK(ctap::AuthenticatorData::parse(resp->auth_data)->flags == 0x01);

  // The person declines the PIN prompt: denied, nothing counted.
  presence.prompts.clear();
  presence.pins = {std::nullopt};
  g.options.uv = true;
  CHECK(status_of(a.handle(ctap::encode_request(g))) == ctap::status::operation_denied);
  CHECK(store.pin()->value().retries == 8);

  // Three wrong PINs in a row: blocked until a restart (a new authenticator), the count kept.
  presence.prompts.clear();
  presence.pins = {std::string("0000"), std::string("1111"), std::string("2222"), std::string("1234")};
  CHECK(status_of(a.handle(ctap::encode_request(g))) == ctap::status::pin_auth_blocked);
  CHECK(presence.prompts.size() == 3);
  CHECK(store.pin()->value().retries == 5);
  CHECK(status_of_st(a.set_pin(as_bytes("5678"), as_bytes("1234"))) == ctap::status::pin_auth_blocked);
  authenticator::SoftwareAuthenticator restarted(store, presence, cheap_kdf());
  presence.prompts.clear();
  presence.pins = {std::string("1234")};
  CHECK(status_of(restarted.handle(ctap::encode_request(g))) == 0);
  CHECK(store.pin()->value().retries == 8);
}

TEST_CASE("test_assume_verified claims UV without a PIN (tests only)", "[authenticator][pin]") {
  authenticator::MemoryCredentialStore store;
  authenticator::AlwaysConfirm yes;
  auto cfg = cheap_kdf();
  cfg.test_assume_verified = true;
  authenticator::SoftwareAuthenticator a(store, yes, cfg);
  CHECK(a.get_info().option("uv") == std::optional<bool>(true));
  auto req = mc("example.com", Bytes{4}, "dee", false);
  req.options.uv = true;
  auto reg = register_ok(a, req);
  CHECK((ctap::AuthenticatorData::parse(reg.auth_data)->flags & 0x04) == 0x04);
  req.options.uv.reset();
  req.user.id = Bytes{5};
  auto reg2 = register_ok(a, req);
  CHECK((ctap::AuthenticatorData::parse(reg2.auth_data)->flags & 0x04) == 0);  // not asked for: not claimed
}
