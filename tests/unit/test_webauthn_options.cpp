// SPDX-License-Identifier: Apache-2.0
// webauthn/webauthn.hpp: WebAuthn options JSON in, CTAP requests out, PublicKeyCredential JSON back.
// The produced requests are decoded with proto/ctap's decoders and compared with values written
// out here: base64url and SHA-256 known answers computed with Python (base64, hashlib), the
// clientDataJSON hash recomputed with OpenSSL's one-shot SHA256(). Responses come from the
// software authenticator or are built field by field.
#include <catch2/catch.hpp>

#include <openssl/sha.h>

#include <string>
#include <vector>

#include "webauthn/webauthn.hpp"
#include "proto/authenticator.hpp"
#include "proto/ctap.hpp"

using namespace hg;
namespace wa = hg::webauthn;
using nlohmann::json;

namespace {

// python3: base64.urlsafe_b64encode(bytes(range(32))).rstrip(b'=')
constexpr const char* kChallenge = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
constexpr const char* kUserId = "dXNlci1oYW5kbGUtMDAwMQ";  // b"user-handle-0001"
constexpr const char* kCredOne = "Y3JlZC1vbmU";            // b"cred-one"
constexpr const char* kCredTwo = "Y3JlZC10d28";            // b"cred-two"
// hashlib.sha256(b'WebAuthn PRF\x00' + b'abc'), b'' and b'second input'
constexpr const char* kSaltAbc = "425507dfa7404b2fc3743ff9673c78e7b3c2f9d298b533ae2d8277203f73f4b7";
constexpr const char* kSaltEmpty = "6a7e64b2aa34c92736143a062fa149aff1bd8bb3f7ee6f346885481f9414a3d3";
constexpr const char* kSaltSecond = "a8fcbe28dc94855eaea480af305b339d9b90759c62bfca07f436b1e0a5c704ff";
// SHA-256("example.com")
constexpr const char* kExampleComHash = "a379a6f6eeafb9a55e378c118034e2751e682fab9f2d30ab13d2125586ce1947";

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string sha256_hex(std::string_view s) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out);
  return hex_encode(ByteView(out, sizeof out));
}

// What @simplewebauthn/server's generateRegistrationOptions() emits (shape and member names).
json creation_json() {
  return json::parse(R"({
    "challenge": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
    "rp": {"name": "Example", "id": "example.com"},
    "user": {"id": "dXNlci1oYW5kbGUtMDAwMQ", "name": "alice@example.com", "displayName": "Alice"},
    "pubKeyCredParams": [{"alg": -8, "type": "public-key"}, {"alg": -7, "type": "public-key"},
                         {"alg": -257, "type": "public-key"}],
    "timeout": 60000,
    "attestation": "none",
    "excludeCredentials": [{"id": "Y3JlZC1vbmU", "type": "public-key", "transports": ["hybrid", "internal"]}],
    "authenticatorSelection": {"residentKey": "preferred", "userVerification": "preferred",
                               "requireResidentKey": false},
    "extensions": {"credProps": true},
    "hints": []
  })");
}

json request_json() {
  return json::parse(R"({
    "rpId": "example.com",
    "challenge": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
    "allowCredentials": [{"id": "Y3JlZC1vbmU", "type": "public-key", "transports": ["hybrid"]},
                         {"id": "Y3JlZC10d28", "type": "public-key"}],
    "timeout": 60000,
    "userVerification": "required"
  })");
}

// Chrome on Android's getInfo (rk, uv, prf) and a bare one (no options, no extensions).
Bytes android_info() { return cbor::encode(ctap::to_cbor(ctap::chrome_android_get_info())); }
Bytes bare_info() {
  ctap::GetInfoResponse g;
  g.versions = {"FIDO_2_0"};
  return cbor::encode(ctap::to_cbor(g));
}

wa::CreationOptions parse_create(const json& j) {
  auto o = wa::parse_creation_options(j.dump());
  INFO((o ? std::string() : o.error().to_string()));
  REQUIRE(o);
  return *o;
}
wa::RequestOptions parse_get(const json& j) {
  auto o = wa::parse_request_options(j.dump());
  INFO((o ? std::string() : o.error().to_string()));
  REQUIRE(o);
  return *o;
}

ctap::MakeCredentialRequest mc_for(const json& j, ByteView info, bool* prf_left_out = nullptr) {
  auto p = wa::prepare(parse_create(j), "https://example.com");
  REQUIRE(p);
  auto bytes = wa::request_for(*p, info, prf_left_out);
  REQUIRE(bytes);
  REQUIRE(bytes->at(0) == 0x01);
  auto r = ctap::decode_make_credential_request(*bytes);
  REQUIRE(r);
  return *r;
}

ctap::GetAssertionRequest ga_for(const json& j, ByteView info, bool* prf_left_out = nullptr) {
  auto p = wa::prepare(parse_get(j), "https://example.com");
  REQUIRE(p);
  auto bytes = wa::request_for(*p, info, prf_left_out);
  REQUIRE(bytes);
  REQUIRE(bytes->at(0) == 0x02);
  auto r = ctap::decode_get_assertion_request(*bytes);
  REQUIRE(r);
  return *r;
}

// The prf input the request carries, decoded by proto/prf (not by the code under test).
prf::Request prf_of(const std::optional<cbor::Map>& ext, bool make_credential) {
  auto r = prf::request_from_extensions(ext, make_credential);
  REQUIRE(r);
  REQUIRE(r->has_value());
  return **r;
}

void expect_invalid(const std::string& text, const std::string& member, bool creation) {
  INFO(text);
  Error e;
  if (creation) {
    auto o = wa::parse_creation_options(text);
    REQUIRE_FALSE(o);
    e = o.error();
  } else {
    auto o = wa::parse_request_options(text);
    REQUIRE_FALSE(o);
    e = o.error();
  }
  CHECK(e.code == Errc::invalid_argument);
  INFO(e.detail);
  CHECK(e.detail.find(member) != std::string::npos);
}

}  // namespace

// ------------------------------------------------------------------ parsing

TEST_CASE("creation options from an RP library parse member by member", "[webauthn]") {
  auto o = parse_create(creation_json());
  CHECK(o.rp.id == "example.com");
  CHECK(o.rp.name == "Example");
  CHECK(o.user.id == bytes_of("user-handle-0001"));
  CHECK(o.user.name == "alice@example.com");
  CHECK(o.user.display_name == "Alice");
  CHECK(hex_encode(o.challenge) == "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  REQUIRE(o.pub_key_cred_params.size() == 3);
  CHECK(o.pub_key_cred_params[0].alg == -8);
  CHECK(o.pub_key_cred_params[1].alg == -7);
  CHECK(o.pub_key_cred_params[2].alg == -257);
  REQUIRE(o.exclude_credentials.size() == 1);
  CHECK(o.exclude_credentials[0].id == bytes_of("cred-one"));
  CHECK(o.exclude_credentials[0].transports == std::vector<std::string>{"hybrid", "internal"});
  CHECK(o.resident_key == wa::Requirement::preferred);
  CHECK(o.user_verification == wa::Requirement::preferred);
  CHECK(o.attestation == "none");
  CHECK_FALSE(o.prf);
  CHECK_FALSE(o.prf_requested);
  CHECK(o.timeout == std::chrono::milliseconds(60000));
}

TEST_CASE("the publicKey wrapper is accepted and unknown members are ignored", "[webauthn]") {
  json wrapped{{"publicKey", creation_json()}, {"mediation", "conditional"}};
  wrapped["publicKey"]["futureMember"] = {{"x", 1}};
  auto o = parse_create(wrapped);
  CHECK(o.rp.id == "example.com");
  json req{{"publicKey", request_json()}};
  auto g = parse_get(req);
  CHECK(g.rp_id == "example.com");
  CHECK(g.allow_credentials.size() == 2);
  CHECK(g.user_verification == wa::Requirement::required);
}

TEST_CASE("creation defaults: ES256 and RS256 - legacy requireResidentKey - names", "[webauthn]") {
  json j = creation_json();
  j.erase("pubKeyCredParams");
  j.erase("attestation");
  j["rp"].erase("name");
  j["user"].erase("displayName");
  j["authenticatorSelection"] = {{"requireResidentKey", true}};
  auto o = parse_create(j);
  REQUIRE(o.pub_key_cred_params.size() == 2);
  CHECK(o.pub_key_cred_params[0] == ctap::CredentialParameters{"public-key", -7});
  CHECK(o.pub_key_cred_params[1] == ctap::CredentialParameters{"public-key", -257});
  CHECK(o.resident_key == wa::Requirement::required);
  CHECK(o.user_verification == wa::Requirement::preferred);
  CHECK(o.attestation == "none");

  j["pubKeyCredParams"] = json::array();
  CHECK(parse_create(j).pub_key_cred_params.size() == 2);
  // residentKey wins over requireResidentKey; unknown enumeration values count as absent.
  j["authenticatorSelection"] = {{"requireResidentKey", true}, {"residentKey", "discouraged"}};
  CHECK(parse_create(j).resident_key == wa::Requirement::discouraged);
  j["authenticatorSelection"] = {{"residentKey", "sometimes"}, {"userVerification", "always"}};
  CHECK(parse_create(j).resident_key == wa::Requirement::discouraged);
  CHECK(parse_create(j).user_verification == wa::Requirement::preferred);
  j["attestation"] = "direct";
  CHECK(parse_create(j).attestation == "direct");
  j["attestation"] = "unheard-of";
  CHECK(parse_create(j).attestation == "none");
  // Other credential types are skipped.
  j["pubKeyCredParams"] = {{{"type", "password"}, {"alg", -7}}, {{"type", "public-key"}, {"alg", -7}}};
  CHECK(parse_create(j).pub_key_cred_params.size() == 1);
}

TEST_CASE("request options: empty allowCredentials and other types", "[webauthn]") {
  json j = request_json();
  j["allowCredentials"] = json::array();
  auto g = parse_get(j);
  CHECK(g.allow_credentials.empty());
  j.erase("allowCredentials");
  j.erase("userVerification");
  g = parse_get(j);
  CHECK(g.allow_credentials.empty());
  CHECK(g.user_verification == wa::Requirement::preferred);
  j["allowCredentials"] = {{{"type", "public-key"}, {"id", kCredOne}}, {{"type", "future-type"}, {"id", kCredTwo}}};
  g = parse_get(j);
  REQUIRE(g.allow_credentials.size() == 1);
  CHECK(g.allow_credentials[0].id == bytes_of("cred-one"));
}

TEST_CASE("malformed creation options name the member", "[webauthn]") {
  struct Case {
    const char* path;  // JSON pointer to change ("" = whole document)
    json value;        // null = erase
    const char* member;
  };
  const std::vector<Case> cases = {
      {"/rp", nullptr, "rp"},
      {"/rp", "example.com", "rp"},
      {"/rp/id", nullptr, "rp.id"},
      {"/rp/id", 7, "rp.id"},
      {"/rp/id", "", "rp.id"},
      {"/rp/name", json::array(), "rp.name"},
      {"/user", nullptr, "user"},
      {"/user/id", nullptr, "user.id"},
      {"/user/id", "not base64url!", "user.id"},
      {"/user/id", "", "user.id"},
      {"/user/id", json::array({1, 2}), "user.id"},
      {"/user/id", std::string(88, 'A'), "user.id"},  // 66 bytes
      {"/user/name", 1, "user.name"},
      {"/user/displayName", false, "user.displayName"},
      {"/challenge", nullptr, "challenge"},
      {"/challenge", "AAAAAAAAAAAAAAAAAAAA", "challenge"},  // 15 bytes
      {"/challenge", std::string(1368, 'A'), "challenge"},  // 1026 bytes
      {"/challenge", "AA+/AAAAAAAAAAAAAAAAAAAA", "challenge"},  // base64, not base64url
      {"/challenge", 12, "challenge"},
      {"/pubKeyCredParams", "ES256", "pubKeyCredParams"},
      {"/pubKeyCredParams/0", "ES256", "pubKeyCredParams[0]"},
      {"/pubKeyCredParams/1/alg", "-7", "pubKeyCredParams[1].alg"},
      {"/pubKeyCredParams/1/alg", -7.5, "pubKeyCredParams[1].alg"},
      {"/pubKeyCredParams/1/alg", nullptr, "pubKeyCredParams[1].alg"},
      {"/pubKeyCredParams/1/type", nullptr, "pubKeyCredParams[1].type"},
      {"/excludeCredentials", json::object(), "excludeCredentials"},
      {"/excludeCredentials/0/id", nullptr, "excludeCredentials[0].id"},
      {"/excludeCredentials/0/id", "", "excludeCredentials[0].id"},
      {"/excludeCredentials/0/id", "Y3J*", "excludeCredentials[0].id"},
      {"/excludeCredentials/0/type", 1, "excludeCredentials[0].type"},
      {"/excludeCredentials/0/transports", "usb", "excludeCredentials[0].transports"},
      {"/excludeCredentials/0/transports", json::array({1}), "excludeCredentials[0].transports"},
      {"/authenticatorSelection", true, "authenticatorSelection"},
      {"/authenticatorSelection/residentKey", true, "authenticatorSelection.residentKey"},
      {"/authenticatorSelection/requireResidentKey", "yes", "authenticatorSelection.requireResidentKey"},
      {"/authenticatorSelection/userVerification", 2, "authenticatorSelection.userVerification"},
      {"/attestation", json::object(), "attestation"},
      {"/timeout", "60s", "timeout"},
      {"/timeout", -1, "timeout"},
      {"/extensions", json::array(), "extensions"},
      {"/extensions/prf", true, "extensions.prf"},
      {"/extensions/prf", {{"eval", {{"second", "YWJj"}}}}, "extensions.prf.eval.first"},
      {"/extensions/prf", {{"eval", {{"first", "Y*"}}}}, "extensions.prf.eval.first"},
      {"/extensions/prf", {{"eval", {{"first", "YWJj"}, {"second", 3}}}}, "extensions.prf.eval.second"},
      {"/extensions/prf", {{"eval", "YWJj"}}, "extensions.prf.eval"},
      {"/extensions/prf", {{"evalByCredential", {{kCredOne, {{"first", "YWJj"}}}}}}, "extensions.prf.evalByCredential"},
  };
  for (const auto& c : cases) {
    json j = creation_json();
    const json::json_pointer ptr(c.path);
    if (c.value.is_null())
      j.at(ptr.parent_pointer()).erase(ptr.back());
    else
      j[ptr] = c.value;
    expect_invalid(j.dump(), c.member, true);
  }
  json j = creation_json();
  j["pubKeyCredParams"] = {{{"type", "password"}, {"alg", -7}}};
  expect_invalid(j.dump(), "pubKeyCredParams", true);
}

TEST_CASE("malformed request options name the member", "[webauthn]") {
  struct Case {
    const char* path;
    json value;
    const char* member;
  };
  const std::vector<Case> cases = {
      {"/rpId", nullptr, "rpId"},
      {"/rpId", 1, "rpId"},
      {"/challenge", nullptr, "challenge"},
      {"/challenge", "AAAA", "challenge"},
      {"/allowCredentials", "Y3JlZC1vbmU", "allowCredentials"},
      {"/allowCredentials/1", "Y3JlZC10d28", "allowCredentials[1]"},
      {"/allowCredentials/1/id", "=?=", "allowCredentials[1].id"},
      {"/allowCredentials/0/id", 5, "allowCredentials[0].id"},
      {"/userVerification", json::array(), "userVerification"},
      {"/allowCredentials", {{{"type", "other"}, {"id", kCredOne}}}, "allowCredentials"},
      // evalByCredential keys: base64url IDs that are in allowCredentials, each once.
      {"/extensions", {{"prf", {{"evalByCredential", {{"Y3JlZC10aHJlZQ", {{"first", "YWJj"}}}}}}}},
       "allowCredentials"},
      {"/extensions", {{"prf", {{"evalByCredential", {{"not*base64", {{"first", "YWJj"}}}}}}}},
       "extensions.prf.evalByCredential"},
      {"/extensions", {{"prf", {{"evalByCredential", {{kCredOne, {{"first", 1}}}}}}}},
       "extensions.prf.evalByCredential.Y3JlZC1vbmU.first"},
      {"/extensions", {{"prf", {{"evalByCredential", {{kCredOne, "YWJj"}}}}}},
       "extensions.prf.evalByCredential.Y3JlZC1vbmU"},
      {"/extensions", {{"prf", {{"evalByCredential", {{kCredOne, {{"first", "YWJj"}}}, {"Y3JlZC1vbmU=", {{"first", "YWJj"}}}}}}}},
       "twice"},
  };
  for (const auto& c : cases) {
    json j = request_json();
    const json::json_pointer ptr(c.path);
    if (c.value.is_null())
      j.at(ptr.parent_pointer()).erase(ptr.back());
    else
      j[ptr] = c.value;
    expect_invalid(j.dump(), c.member, false);
  }
  // evalByCredential without allowCredentials (WebAuthn: NotSupportedError).
  json j = request_json();
  j.erase("allowCredentials");
  j["extensions"] = {{"prf", {{"evalByCredential", {{kCredOne, {{"first", "YWJj"}}}}}}}};
  expect_invalid(j.dump(), "allowCredentials", false);
}

TEST_CASE("texts that are not options objects are refused without throwing", "[webauthn]") {
  for (const char* text : {"", "{", "[]", "null", "\"x\"", "{\"rp\": }", "{\"publicKey\": 1}", "{} {}",
                           "{\"challenge\": \"\\ud800\"}"}) {
    INFO(text);
    auto c = wa::parse_creation_options(text);
    REQUIRE_FALSE(c);
    CHECK(c.error().code == Errc::invalid_argument);
    auto g = wa::parse_request_options(text);
    REQUIRE_FALSE(g);
    CHECK(g.error().code == Errc::invalid_argument);
  }
  // Larger than 1 MiB: refused before parsing, even though it would be valid JSON.
  std::string big = request_json().dump();
  big.insert(1, wa::kMaxOptionsJson, ' ');
  auto g = wa::parse_request_options(big);
  REQUIRE_FALSE(g);
  CHECK(g.error().detail.find("1 MiB") != std::string::npos);
  // Deep nesting in an ignored member is parsed (nlohmann's parser is not recursive) and ignored.
  std::string deep = request_json().dump();
  deep.insert(1, "\"future\": " + std::string(100000, '[') + std::string(100000, ']') + ", ");
  CHECK(wa::parse_request_options(deep));
}

// ------------------------------------------------------------------ prf

TEST_CASE("prf inputs are hashed into salts as browsers do", "[webauthn][prf]") {
  json j = creation_json();
  j["extensions"]["prf"] = {{"eval", {{"first", "YWJj"}, {"second", ""}}}};
  auto o = parse_create(j);
  CHECK(o.prf_requested);
  REQUIRE(o.prf);
  REQUIRE(o.prf->eval);
  CHECK(hex_encode(o.prf->eval->first) == kSaltAbc);
  REQUIRE(o.prf->eval->second);
  CHECK(hex_encode(*o.prf->eval->second) == kSaltEmpty);

  // {} asks only whether the credential has prf.
  j["extensions"]["prf"] = json::object();
  o = parse_create(j);
  CHECK(o.prf_requested);
  REQUIRE(o.prf);
  CHECK_FALSE(o.prf->eval);

  json r = request_json();
  r["extensions"] = {{"prf",
                      {{"eval", {{"first", "YWJj"}}},
                       {"evalByCredential", {{kCredTwo, {{"first", "c2Vjb25kIGlucHV0"}, {"second", "YWJj"}}}}}}}};
  auto g = parse_get(r);
  REQUIRE(g.prf);
  REQUIRE(g.prf->eval);
  CHECK(hex_encode(g.prf->eval->first) == kSaltAbc);
  REQUIRE(g.prf->eval_by_credential.size() == 1);
  CHECK(g.prf->eval_by_credential[0].first == bytes_of("cred-two"));
  CHECK(hex_encode(g.prf->eval_by_credential[0].second.first) == kSaltSecond);
  CHECK(hex_encode(*g.prf->eval_by_credential[0].second.second) == kSaltAbc);
}

// ------------------------------------------------------------------ requests

TEST_CASE("makeCredential for a phone like Chrome on Android", "[webauthn]") {
  json j = creation_json();
  j["extensions"]["prf"] = {{"eval", {{"first", "YWJj"}}}};
  bool left_out = true;
  auto r = mc_for(j, android_info(), &left_out);
  CHECK_FALSE(left_out);
  const std::string client_data =
      R"({"type":"webauthn.create","challenge":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8","origin":"https://example.com","crossOrigin":false})";
  CHECK(sha256_hex(client_data) == "941fec8a26fc914e44bb1c1be4de376d073114cc613087cd87ca59711c19715f");
  CHECK(hex_encode(r.client_data_hash) == "941fec8a26fc914e44bb1c1be4de376d073114cc613087cd87ca59711c19715f");
  CHECK(r.rp == ctap::RpEntity{"example.com", "Example"});
  CHECK(r.user == ctap::UserEntity{bytes_of("user-handle-0001"), "alice@example.com", "Alice"});
  CHECK(r.pub_key_cred_params == std::vector<ctap::CredentialParameters>{{"public-key", -8}, {"public-key", -7},
                                                                          {"public-key", -257}});
  REQUIRE(r.exclude_list);
  REQUIRE(r.exclude_list->size() == 1);
  CHECK((*r.exclude_list)[0] == ctap::CredentialDescriptor{"public-key", bytes_of("cred-one"), std::nullopt});
  CHECK(r.options.rk == true);  // preferred + getInfo rk
  CHECK(r.options.uv == true);  // preferred + getInfo uv
  CHECK_FALSE(r.options.up);
  auto p = prf_of(r.extensions, true);
  REQUIRE(p.eval);
  CHECK(hex_encode(p.eval->first) == kSaltAbc);
  CHECK_FALSE(p.eval->second);
}

TEST_CASE("the same request as the CLI flags for equivalent options", "[webauthn]") {
  // hybridgate register --rp-id example.com --user-name alice (ceremony.cpp do_register): rp name
  // = rp id, displayName = user name, ES256 + RS256, rk true, no uv, no exclude list, no extensions.
  json j = creation_json();
  j.erase("pubKeyCredParams");
  j.erase("excludeCredentials");
  j["rp"].erase("name");
  j["user"] = {{"id", kUserId}, {"name", "alice"}};
  j["authenticatorSelection"] = {{"residentKey", "required"}, {"userVerification", "discouraged"}};
  auto r = mc_for(j, android_info());
  CHECK(r.rp == ctap::RpEntity{"example.com", "example.com"});
  CHECK(r.user == ctap::UserEntity{bytes_of("user-handle-0001"), "alice", "alice"});
  CHECK(r.pub_key_cred_params ==
        std::vector<ctap::CredentialParameters>{{"public-key", ctap::cose::alg_es256}, {"public-key", ctap::cose::alg_rs256}});
  CHECK_FALSE(r.exclude_list);
  CHECK(r.options == ctap::Options{true, std::nullopt, std::nullopt});
  CHECK_FALSE(r.extensions);
  // --no-resident-key: rk absent.
  j["authenticatorSelection"]["residentKey"] = "discouraged";
  CHECK(mc_for(j, android_info()).options == ctap::Options{});
}

TEST_CASE("rk and uv follow the phone's getInfo only when preferred", "[webauthn]") {
  json j = creation_json();
  j["extensions"]["prf"] = json::object();
  bool left_out = false;
  auto r = mc_for(j, bare_info(), &left_out);
  CHECK_FALSE(r.options.rk);
  CHECK_FALSE(r.options.uv);
  CHECK_FALSE(r.extensions);
  CHECK(left_out);  // the phone does not list prf: asked without it
  j["authenticatorSelection"] = {{"residentKey", "required"}, {"userVerification", "required"}};
  r = mc_for(j, bare_info());
  CHECK(r.options.rk == true);
  CHECK(r.options.uv == true);
  // An undecodable getInfo counts as a phone that lists nothing.
  const Bytes junk{0xff, 0x00};
  j["authenticatorSelection"] = {{"residentKey", "preferred"}};
  r = mc_for(j, junk);
  CHECK_FALSE(r.options.rk);
  // With Chrome on Android's getInfo, {} asks "enabled?".
  r = mc_for(j, android_info());
  auto p = prf_of(r.extensions, true);
  CHECK_FALSE(p.eval);
}

TEST_CASE("getAssertion with allow list - uv - prf by credential", "[webauthn]") {
  json j = request_json();
  j["extensions"] = {{"prf",
                      {{"eval", {{"first", "YWJj"}}},
                       {"evalByCredential", {{kCredTwo, {{"first", "c2Vjb25kIGlucHV0"}}}}}}}};
  auto r = ga_for(j, android_info());
  CHECK(r.rp_id == "example.com");
  const std::string client_data =
      R"({"type":"webauthn.get","challenge":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8","origin":"https://example.com","crossOrigin":false})";
  CHECK(hex_encode(r.client_data_hash) == sha256_hex(client_data));
  REQUIRE(r.allow_list);
  CHECK(*r.allow_list == std::vector<ctap::CredentialDescriptor>{{"public-key", bytes_of("cred-one"), std::nullopt},
                                                                 {"public-key", bytes_of("cred-two"), std::nullopt}});
  CHECK(r.options == ctap::Options{std::nullopt, std::nullopt, true});
  auto p = prf_of(r.extensions, false);
  REQUIRE(p.eval);
  CHECK(hex_encode(p.eval->first) == kSaltAbc);
  REQUIRE(p.eval_by_credential.size() == 1);
  CHECK(p.eval_by_credential[0].first == bytes_of("cred-two"));
  CHECK(hex_encode(p.eval_by_credential[0].second.first) == kSaltSecond);

  // Discoverable (no allowCredentials), uv discouraged, prf {} sends no prf input.
  j = request_json();
  j.erase("allowCredentials");
  j["userVerification"] = "discouraged";
  j["extensions"] = {{"prf", json::object()}};
  bool left_out = true;
  r = ga_for(j, android_info(), &left_out);
  CHECK_FALSE(r.allow_list);
  CHECK(r.options == ctap::Options{});
  CHECK_FALSE(r.extensions);
  CHECK_FALSE(left_out);
  // preferred: uv only for a phone that lists it.
  j["userVerification"] = "preferred";
  CHECK(ga_for(j, android_info()).options.uv == true);
  CHECK_FALSE(ga_for(j, bare_info()).options.uv);
}

TEST_CASE("prepare checks what it is given directly", "[webauthn]") {
  auto o = parse_create(creation_json());
  CHECK_FALSE(wa::prepare(o, ""));
  // prf_requested without inputs (a program filling the struct) asks "enabled?".
  o.prf_requested = true;
  auto asked = wa::prepare(o, "https://example.com");
  REQUIRE(asked);
  auto bytes = wa::request_for(*asked, android_info());
  REQUIRE(bytes);
  auto mc = ctap::decode_make_credential_request(*bytes);
  REQUIRE(mc);
  CHECK(prf_of(mc->extensions, true) == prf::Request{});
  o.user.id.clear();
  CHECK(wa::prepare(o, "https://example.com").error().code == Errc::invalid_argument);
  auto g = parse_get(request_json());
  g.prf = prf::Request{};
  g.prf->eval_by_credential.emplace_back(bytes_of("elsewhere"), prf::Input{});
  auto p = wa::prepare(g, "https://example.com");
  REQUIRE_FALSE(p);
  CHECK(p.error().detail.find("allowCredentials") != std::string::npos);
}

// ------------------------------------------------------------------ responses

namespace {
// Approves, and enters the store's PIN when the phone asks (the phone verifies its user, so the
// UV flag and PRF results come back).
struct PinPresence final : authenticator::UserPresence {
  bool confirm(const std::string&, const std::string&, authenticator::Operation) override { return true; }
  std::optional<SecretBytes> ask_pin(const authenticator::PinPrompt&, const std::atomic<bool>&) override {
    return SecretBytes(as_bytes("1234"));
  }
};

authenticator::Config with_cheap_pin_kdf(authenticator::Config cfg) {
  cfg.pin_kdf = crypto::ScryptParams{4, 8, 1};
  return cfg;
}

struct Phone {
  authenticator::MemoryCredentialStore store;
  PinPresence yes;
  authenticator::SoftwareAuthenticator authn;
  explicit Phone(authenticator::Config cfg = {}) : authn(store, yes, with_cheap_pin_kdf(cfg)) {
    REQUIRE(authn.set_pin(as_bytes("1234"), std::nullopt).ok());
  }
};

Bytes b64d(const std::string& s) {
  auto b = base64url_decode(s);
  REQUIRE(b);
  return *b;
}
}  // namespace

TEST_CASE("registration and sign-in through the software authenticator", "[webauthn]") {
  Phone phone;
  json j = creation_json();
  j["extensions"]["prf"] = {{"eval", {{"first", "YWJj"}}}};
  auto pc = wa::prepare(parse_create(j), "https://example.com");
  REQUIRE(pc);
  auto req = wa::request_for(*pc, phone.authn.get_info_cbor());
  REQUIRE(req);
  auto cred = wa::registration_json(*pc, phone.authn.handle(*req));
  INFO((cred ? cred->dump() : cred.error().to_string()));
  REQUIRE(cred);
  CHECK((*cred)["type"] == "public-key");
  CHECK(to_string(b64d((*cred)["response"]["clientDataJSON"])) == pc->client_data_json);
  CHECK((*cred)["clientExtensionResults"]["prf"]["enabled"] == true);
  CHECK((*cred)["clientExtensionResults"]["prf"]["results"]["first"].get<std::string>().size() == 43);
  // The stored credential: discoverable (residentKey preferred, the phone lists rk), for example.com.
  const Bytes id = b64d((*cred)["id"]);
  auto rec = phone.store.find_by_id(id);
  REQUIRE(rec);
  REQUIRE(rec->has_value());
  CHECK((*rec)->discoverable);
  CHECK((*rec)->rp_id == "example.com");
  CHECK((*rec)->user_id == bytes_of("user-handle-0001"));

  // Sign in with that credential in allowCredentials and evalByCredential for it.
  json r = request_json();
  r["allowCredentials"] = {{{"type", "public-key"}, {"id", (*cred)["id"]}}};
  r["extensions"] = {{"prf", {{"evalByCredential", {{(*cred)["id"].get<std::string>(), {{"first", "YWJj"}}}}}}}};
  auto pg = wa::prepare(parse_get(r), "https://example.com");
  REQUIRE(pg);
  auto greq = wa::request_for(*pg, phone.authn.get_info_cbor());
  REQUIRE(greq);
  auto as = wa::assertion_json(*pg, phone.authn.handle(*greq));
  INFO((as ? as->dump() : as.error().to_string()));
  REQUIRE(as);
  CHECK((*as)["id"] == (*cred)["id"]);
  const Bytes ad = b64d((*as)["response"]["authenticatorData"]);
  REQUIRE(ad.size() >= 37);
  CHECK(hex_encode(ByteView(ad.data(), 32)) == kExampleComHash);
  CHECK((ad[32] & 0x05) == 0x05);  // UP and UV
  // Same credential, same input: the same PRF output as at registration.
  CHECK((*as)["clientExtensionResults"]["prf"]["results"]["first"] ==
        (*cred)["clientExtensionResults"]["prf"]["results"]["first"]);

  // excludeCredentials naming it: the phone refuses, a ctap.* error comes back.
  json again = creation_json();
  again["excludeCredentials"] = {{{"type", "public-key"}, {"id", (*cred)["id"]}}};
  auto pe = wa::prepare(parse_create(again), "https://example.com");
  REQUIRE(pe);
  auto excluded = wa::registration_json(*pe, phone.authn.handle(*wa::request_for(*pe, phone.authn.get_info_cbor())));
  REQUIRE_FALSE(excluded);
  CHECK(excluded.error().code == Errc::ctap_credential_excluded);
}

TEST_CASE("attestation none replaces all but self attestation", "[webauthn]") {
  auto fmt_of = [](const json& cred) {
    auto att = cbor::decode(b64d(cred["response"]["attestationObject"]));
    REQUIRE(att);
    const auto* fmt = att->as_map().find(std::string_view("fmt"));
    REQUIRE(fmt);
    const auto* stmt = att->as_map().find(std::string_view("attStmt"));
    REQUIRE(stmt);
    return std::make_pair(fmt->as_text(), stmt->as_map().size());
  };
  auto register_with = [&](authenticator::Config cfg, const char* attestation) {
    Phone phone(cfg);
    json j = creation_json();
    j["attestation"] = attestation;
    auto p = wa::prepare(parse_create(j), "https://example.com");
    REQUIRE(p);
    auto cred = wa::registration_json(*p, phone.authn.handle(*wa::request_for(*p, phone.authn.get_info_cbor())));
    REQUIRE(cred);
    return fmt_of(*cred);
  };
  authenticator::Config packed;
  packed.attestation = authenticator::AttestationFormat::packed_self;
  CHECK(register_with(packed, "none") == std::make_pair(std::string("packed"), size_t(2)));  // self: kept
  packed.aaguid[0] = 1;  // no longer self attestation by WebAuthn's rule
  CHECK(register_with(packed, "none") == std::make_pair(std::string("none"), size_t(0)));
  CHECK(register_with(packed, "direct") == std::make_pair(std::string("packed"), size_t(2)));
}

TEST_CASE("responses are checked as a browser does", "[webauthn]") {
  auto g = parse_get(request_json());
  auto p = wa::prepare(g, "https://example.com");
  REQUIRE(p);
  auto auth_data = [](const std::string& rp, uint8_t flags) {
    ctap::AuthenticatorData ad;
    ad.rp_id_hash = crypto::sha256(as_bytes(rp));
    ad.flags = flags;
    ad.sign_count = 1;
    return ad.encode();
  };
  auto response = [&](const std::string& rp, uint8_t flags, const std::string& cred) {
    ctap::GetAssertionResponse r;
    r.credential = ctap::CredentialDescriptor{"public-key", bytes_of(cred), std::nullopt};
    r.auth_data = auth_data(rp, flags);
    r.signature = Bytes(70, 0x30);
    return ctap::encode_response(r);
  };
  const uint8_t up_uv = ctap::flags::up | ctap::flags::uv;
  CHECK(wa::assertion_json(*p, response("example.com", up_uv, "cred-two")));
  auto other_rp = wa::assertion_json(*p, response("example.org", up_uv, "cred-two"));
  REQUIRE_FALSE(other_rp);
  CHECK(other_rp.error().code == Errc::ctap_invalid);
  auto no_uv = wa::assertion_json(*p, response("example.com", ctap::flags::up, "cred-two"));  // uv required
  REQUIRE_FALSE(no_uv);
  CHECK(no_uv.error().detail.find("userVerification") != std::string::npos);
  auto stranger = wa::assertion_json(*p, response("example.com", up_uv, "cred-three"));
  REQUIRE_FALSE(stranger);
  CHECK(stranger.error().detail.find("allowCredentials") != std::string::npos);
  // A CTAP error status becomes the matching error.
  auto denied = wa::assertion_json(*p, Bytes{0x27});
  REQUIRE_FALSE(denied);
  CHECK(denied.error().code == Errc::ctap_operation_denied);
  auto pc = wa::prepare(parse_create(creation_json()), "https://example.com");
  REQUIRE(pc);
  auto none = wa::registration_json(*pc, Bytes{0x2E});
  REQUIRE_FALSE(none);
  CHECK(none.error().code == Errc::ctap_no_credentials);
}
