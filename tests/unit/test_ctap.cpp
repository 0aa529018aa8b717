// SPDX-License-Identifier: Apache-2.0
// CTAP2 codecs against the shared vectors and hand-encoded bytes.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "proto/ctap.hpp"

using namespace hg;
using hg::cbor::Value;

namespace {

using json = nlohmann::json;

const json& vectors() {
  static const json v = [] {
    std::ifstream f(HG_VECTORS_PATH);
    if (!f) throw std::runtime_error("cannot open " + std::string(HG_VECTORS_PATH));
    return json::parse(f);
  }();
  return v;
}

const json& vector_of(const std::string& kind) {
  for (const auto& e : vectors())
    if (e.at("kind") == kind) return e;
  throw std::runtime_error("no vector of kind " + kind);
}

Bytes unhex(const std::string& s) {
  auto r = hex_decode(s);
  if (!r) throw std::runtime_error("bad hex: " + s);
  return *r;
}

// Drops the revision-1 tunnel message type byte (0x01 = CTAP, docs/protocol.md §8.1).
Bytes strip_type_byte(const Bytes& frame) {
  REQUIRE(!frame.empty());
  REQUIRE(frame[0] == 0x01);
  return Bytes(frame.begin() + 1, frame.end());
}

Bytes hex_repeat(const std::string& byte_hex, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += byte_hex;
  return unhex(s);
}

}  // namespace

TEST_CASE("makeCredential request vector decodes and re-encodes byte for byte", "[ctap]") {
  const Bytes frame = unhex(vector_of("frame_ctap_request").at("expected").at("request_frame_hex"));
  const Bytes ctap = strip_type_byte(frame);
  REQUIRE(ctap[0] == 0x01);  // authenticatorMakeCredential

  auto req = ctap::decode_make_credential_request(ctap);
  REQUIRE(req.ok());
  CHECK(hex_encode(req->client_data_hash) == "687134968222ec17202e42505f8ed2b16ae22f16bb05b88c25db9e602645f141");
  CHECK(req->rp.id == "test.ctap");
  CHECK(req->rp.name == std::optional<std::string>("test.ctap"));
  CHECK(hex_encode(req->user.id) == "2b6689bb18f4169f069fbcdf50cb6ea3c60a861b9a7b63946983e0b577b78c70");
  CHECK(req->user.name == std::optional<std::string>("testctap@ctap.com"));
  CHECK(req->user.display_name == std::optional<std::string>("Test Ctap"));
  REQUIRE(req->pub_key_cred_params.size() == 3);
  CHECK(req->pub_key_cred_params[0].alg == -7);
  CHECK(req->pub_key_cred_params[1].alg == -257);
  CHECK(req->pub_key_cred_params[2].alg == -37);
  CHECK(req->pub_key_cred_params[0].type == "public-key");
  CHECK_FALSE(req->exclude_list.has_value());
  CHECK_FALSE(req->extensions.has_value());
  CHECK(req->options.rk == std::optional<bool>(true));
  CHECK_FALSE(req->options.uv.has_value());

  CHECK(hex_encode(ctap::encode_request(*req)) == hex_encode(ctap));
}

TEST_CASE("post-handshake session CTAP request is the same makeCredential frame", "[ctap]") {
  const auto& e = vector_of("post_handshake_and_messages").at("expected");
  const Bytes ctap = strip_type_byte(unhex(e.at("ctap_request_frame_hex")));
  auto req = ctap::decode_make_credential_request(ctap);
  REQUIRE(req.ok());
  CHECK(hex_encode(ctap::encode_request(*req)) == hex_encode(ctap));
}

TEST_CASE("Chrome-on-Android getInfo builder matches the shared vector", "[ctap]") {
  const std::string expected = vector_of("post_handshake_and_messages").at("expected").at("getinfo_cbor_hex");
  CHECK(hex_encode(cbor::encode(ctap::to_cbor(ctap::chrome_android_get_info()))) == expected);

  auto info = ctap::decode_get_info(unhex(expected));
  REQUIRE(info.ok());
  CHECK(info->versions == std::vector<std::string>{"FIDO_2_0", "FIDO_2_1"});
  CHECK(info->extensions == std::optional<std::vector<std::string>>(std::vector<std::string>{"prf"}));
  CHECK(info->aaguid == std::array<uint8_t, 16>{});
  CHECK(info->option("rk") == std::optional<bool>(true));
  CHECK(info->option("uv") == std::optional<bool>(true));
  CHECK_FALSE(info->option("up").has_value());
  CHECK(info->transports == std::optional<std::vector<std::string>>(std::vector<std::string>{"cable", "hybrid", "internal"}));
  CHECK(info->other.empty());
  CHECK(hex_encode(cbor::encode(ctap::to_cbor(*info))) == expected);
}

TEST_CASE("getInfo keeps unknown keys round-trippable", "[ctap]") {
  // {1: ["FIDO_2_0"], 3: h'01..10', 6: [1], 14: 42}, encoded by hand.
  const std::string hex =
      "a4"
      "0181684649444f5f325f30"
      "0350" "0102030405060708090a0b0c0d0e0f10"
      "068101"
      "0e182a";
  auto info = ctap::decode_get_info(unhex(hex));
  REQUIRE(info.ok());
  CHECK(info->other.size() == 2);
  CHECK(info->aaguid[15] == 0x10);
  CHECK(hex_encode(cbor::encode(ctap::to_cbor(*info))) == hex);
}

TEST_CASE("getInfo without versions or with a short aaguid is rejected", "[ctap]") {
  CHECK(ctap::decode_get_info(unhex("a10350" "00000000000000000000000000000000")).error().code ==
        Errc::ctap_missing_parameter);
  CHECK(ctap::decode_get_info(unhex("a20181684649444f5f325f3003410a")).error().code == Errc::ctap_invalid_parameter);
  CHECK(ctap::decode_get_info(unhex("a201684649444f5f325f300350" "00000000000000000000000000000000")).error().code ==
        Errc::ctap_unexpected_type);
  CHECK(ctap::decode_get_info(unhex("80")).error().code == Errc::ctap_invalid);
  CHECK(ctap::decode_get_info(unhex("a1")).error().code == Errc::ctap_invalid);
}

TEST_CASE("session response vector parses as a none attestation", "[ctap]") {
  const Bytes frame = strip_type_byte(unhex(vector_of("post_handshake_and_messages").at("expected").at("ctap_response_frame_hex")));
  REQUIRE(frame[0] == ctap::status::ok);
  auto resp = ctap::decode_make_credential_response(frame);
  REQUIRE(resp.ok());
  CHECK(resp->fmt == "none");
  CHECK(resp->auth_data == Bytes(37, 0));
  CHECK(resp->att_stmt.empty());
  CHECK_FALSE(resp->unsigned_extension_outputs.has_value());
  CHECK(hex_encode(ctap::encode_response(*resp)) == hex_encode(frame));

  auto ad = ctap::AuthenticatorData::parse(resp->auth_data);
  REQUIRE(ad.ok());
  CHECK(ad->flags == 0);
  CHECK(ad->sign_count == 0);
  CHECK_FALSE(ad->attested.has_value());

  // {"fmt": "none", "attStmt": {}, "authData": h'00 * 37'} in canonical order, encoded by hand.
  const std::string expected = "a3" "63666d74" "646e6f6e65" "6761747453746d74" "a0" "6861757468446174" "61" "5825" +
                               hex_encode(Bytes(37, 0));
  CHECK(hex_encode(ctap::attestation_object(*resp)) == expected);
}

TEST_CASE("packed response vector yields authData with attested key and extensions", "[ctap]") {
  const auto& e = vector_of("frame_ctap_request").at("expected");
  // This upstream response has no status byte: type byte 0x01 then the CBOR map.
  auto map = cbor::decode(strip_type_byte(unhex(e.at("response_frame_hex"))), cbor::DecodeOptions{.canonical = false});
  REQUIRE(map.ok());
  REQUIRE(map->is_map());
  auto resp = ctap::make_credential_response_from_cbor(map->as_map());
  REQUIRE(resp.ok());
  CHECK(resp->fmt == "packed");
  REQUIRE(resp->auth_data.size() == 0xa2);
  const Value* alg = resp->att_stmt.find(std::string_view("alg"));
  REQUIRE(alg != nullptr);
  CHECK(*alg == Value(-7));
  const Value* x5c = resp->att_stmt.find(std::string_view("x5c"));
  REQUIRE(x5c != nullptr);
  CHECK(x5c->is_array());

  auto ad = ctap::AuthenticatorData::parse(resp->auth_data);
  REQUIRE(ad.ok());
  CHECK(hex_encode(ad->rp_id_hash) == "0021f5fc0b85cd22e60623bcd7d1ca48948909249b4776eb515154e57b66ae12");  // SHA-256("test.ctap")
  CHECK(ad->flags == 0xc5);  // UP | UV | AT | ED
  CHECK(ad->user_present());
  CHECK(ad->user_verified());
  CHECK(ad->sign_count == 0x55);
  REQUIRE(ad->attested.has_value());
  CHECK(hex_encode(ad->attested->aaguid) == "f8a011f38c0a4d15800617111f9edc7d");
  CHECK(hex_encode(ad->attested->credential_id) == "f4d57b23dd0cb785680cdaa7f7e44f60");
  auto pub = ctap::cose_es256_parse(ad->attested->public_key);
  REQUIRE(pub.ok());
  CHECK(hex_encode(pub->uncompressed()) ==
        "04df017d0b286795bea153d166a0a15b4f6b67a3af4a101e10e8496f3dd3c5d1a994b22551e6325d7733c41bb2f5a642adee417c97e0906197b5b0cd8b8d6c6ba7");
  REQUIRE(ad->extensions.has_value());
  const Value* hmac = ad->extensions->find(std::string_view("hmac-secret"));
  REQUIRE(hmac != nullptr);
  CHECK(*hmac == Value(true));
  CHECK(hex_encode(ad->encode()) == hex_encode(resp->auth_data));
}

TEST_CASE("authData parsing is bounded and total", "[ctap]") {
  const auto& e = vector_of("frame_ctap_request").at("expected");
  auto map = cbor::decode(strip_type_byte(unhex(e.at("response_frame_hex"))), cbor::DecodeOptions{.canonical = false});
  REQUIRE(map.ok());
  const Bytes full = map->as_map().find(2u)->as_bytes();

  // Every strict prefix fails (flags say AT|ED), and so does any extra byte.
  for (size_t n = 0; n < full.size(); ++n) {
    auto r = ctap::AuthenticatorData::parse(ByteView(full).first(n));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::ctap_invalid);
  }
  Bytes longer = full;
  longer.push_back(0x00);
  CHECK_FALSE(ctap::AuthenticatorData::parse(longer).ok());

  // Credential ID length pointing past the end.
  Bytes bad_len = full;
  bad_len[37 + 16] = 0x7f;
  CHECK_FALSE(ctap::AuthenticatorData::parse(bad_len).ok());
  // Credential ID longer than 1023 bytes.
  Bytes huge(37, 0);
  huge[32] = ctap::flags::at;
  Bytes tail(16, 0);
  tail.push_back(0x04);
  tail.push_back(0x00);  // 1024
  tail.resize(tail.size() + 1024 + 1, 0xa0);
  huge.insert(huge.end(), tail.begin(), tail.end());
  CHECK_FALSE(ctap::AuthenticatorData::parse(huge).ok());
  // ED set but the extensions are not a map.
  Bytes ed(37, 0);
  ed[32] = ctap::flags::ed;
  ed.push_back(0x01);
  CHECK_FALSE(ctap::AuthenticatorData::parse(ed).ok());
  // A 5-byte array bomb where the COSE key goes must fail quickly.
  Bytes bomb(37, 0);
  bomb[32] = ctap::flags::at;
  bomb.resize(37 + 18, 0);
  for (uint8_t b : {0x9a, 0x9a, 0x9a, 0x9a, 0x0a}) bomb.push_back(b);
  CHECK_FALSE(ctap::AuthenticatorData::parse(bomb).ok());
  // No flags: exactly 37 bytes.
  auto plain = ctap::AuthenticatorData::parse(Bytes(37, 0x01));
  REQUIRE(plain.ok());
  CHECK(plain->sign_count == 0x01010101);
}

TEST_CASE("COSE ES256 key encoding is the canonical five-entry map", "[ctap]") {
  auto key = crypto::P256Key::generate();
  const auto& pub = key.public_uncompressed();
  const Bytes x(pub.begin() + 1, pub.begin() + 33);
  const Bytes y(pub.begin() + 33, pub.end());
  const std::string expected = "a5" "0102" "0326" "2001" "215820" + hex_encode(x) + "225820" + hex_encode(y);
  CHECK(hex_encode(cbor::encode(ctap::cose_es256_encode(pub))) == expected);

  auto parsed = ctap::cose_es256_parse(ctap::cose_es256_encode(pub));
  REQUIRE(parsed.ok());
  CHECK(parsed->uncompressed() == pub);

  auto with = [&](int64_t label, Value v) {
    cbor::Map m = ctap::cose_es256_encode(pub);
    m.set(Value(label), std::move(v));
    return ctap::cose_es256_parse(m);
  };
  CHECK_FALSE(with(3, Value(-257)).ok());           // RS256
  CHECK_FALSE(with(1, Value(1)).ok());              // OKP
  CHECK_FALSE(with(-1, Value(2)).ok());             // P-384
  CHECK_FALSE(with(-2, Value(Bytes(31, 1))).ok());  // short x
  CHECK_FALSE(with(-3, Value("y")).ok());           // wrong type
  Bytes off_curve = y;
  off_curve[31] ^= 0x01;
  CHECK_FALSE(with(-3, Value(off_curve)).ok());
}

TEST_CASE("status bytes have stable names and sentences", "[ctap]") {
  CHECK(ctap::status_name(0x27) == "CTAP2_ERR_OPERATION_DENIED");
  CHECK(ctap::status_sentence(0x27) == "The request was denied on the phone.");
  CHECK(ctap::status_name(0x00) == "CTAP2_OK");
  CHECK(ctap::status_name(0x2E) == "CTAP2_ERR_NO_CREDENTIALS");
  CHECK(ctap::status_name(0x19) == "CTAP2_ERR_CREDENTIAL_EXCLUDED");
  CHECK(ctap::status_name(0x7F) == "CTAP1_ERR_OTHER");
  CHECK(ctap::status_name(0xEE) == "CTAP_STATUS_UNKNOWN");
  CHECK(ctap::status_errc(0x2E) == Errc::ctap_no_credentials);
  CHECK(ctap::status_errc(0xEE) == Errc::ctap_status);

  for (uint8_t s : {0x01, 0x02, 0x03, 0x11, 0x12, 0x14, 0x19, 0x26, 0x27, 0x28, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F, 0x30,
                    0x7F, 0x33, 0xEE}) {
    INFO("status " << int(s));
    const Error e = ctap::status_error(s);
    CHECK(ctap::status_for_error(e) == s);
    CHECK_FALSE(ctap::status_sentence(s).empty());
  }
  CHECK(ctap::status_for_error(make_error(Errc::cbor_malformed)) == 0x12);
  CHECK(ctap::status_for_error(make_error(Errc::internal)) == 0x7F);
}

TEST_CASE("response parser yields the map or a typed CTAP error", "[ctap]") {
  auto denied = ctap::parse_response(Bytes{0x27});
  REQUIRE_FALSE(denied.ok());
  CHECK(denied.error().code == Errc::ctap_operation_denied);
  CHECK(denied.error().detail.find("0x27") != std::string::npos);

  auto no_creds = ctap::decode_get_assertion_response(Bytes{0x2E});
  REQUIRE_FALSE(no_creds.ok());
  CHECK(no_creds.error().code == Errc::ctap_no_credentials);

  auto ok_empty = ctap::parse_response(Bytes{0x00});
  REQUIRE(ok_empty.ok());
  CHECK(ok_empty->empty());

  CHECK(ctap::parse_response(Bytes{}).error().code == Errc::ctap_invalid);
  CHECK(ctap::parse_response(Bytes{0x00, 0xa1}).error().code == Errc::ctap_invalid);  // truncated map
  CHECK(ctap::parse_response(Bytes{0x00, 0x01}).error().code == Errc::ctap_invalid);  // not a map
  // A non-canonical but valid map from a phone is accepted (keys out of order).
  auto lenient = ctap::parse_response(unhex("00a202010101"));
  REQUIRE(lenient.ok());
  CHECK(lenient->size() == 2);
  // A success response missing authData is a malformed response, not a CTAP status.
  CHECK(ctap::decode_make_credential_response(unhex("00a101646e6f6e65")).error().code == Errc::ctap_invalid);
}

TEST_CASE("getAssertion request encodes canonically and round trips", "[ctap]") {
  ctap::GetAssertionRequest req;
  req.rp_id = "a";
  req.client_data_hash.fill(0x11);
  req.options.up = false;
  const std::string expected = "02" "a3" "016161" "025820" + hex_encode(Bytes(32, 0x11)) + "05a1627570f4";
  CHECK(hex_encode(ctap::encode_request(req)) == expected);

  req.allow_list = std::vector<ctap::CredentialDescriptor>{
      {"public-key", Bytes{1, 2, 3}, std::vector<std::string>{"hybrid"}},
      {"public-key", Bytes{4}, std::nullopt},
  };
  req.extensions = cbor::Map{{"prf", cbor::Map{}}};
  req.options.uv = true;
  auto back = ctap::decode_get_assertion_request(ctap::encode_request(req));
  REQUIRE(back.ok());
  CHECK(back->rp_id == "a");
  CHECK(back->client_data_hash == req.client_data_hash);
  CHECK(back->allow_list == req.allow_list);
  CHECK(back->extensions == req.extensions);
  CHECK(back->options == req.options);
}

TEST_CASE("request validation returns CTAP-appropriate errors", "[ctap]") {
  const Bytes good = strip_type_byte(unhex(vector_of("frame_ctap_request").at("expected").at("request_frame_hex")));
  auto params = cbor::decode(ByteView(good).subspan(1));
  REQUIRE(params.ok());
  auto status_of = [](const cbor::Map& m) {
    auto r = ctap::make_credential_request_from_cbor(m);
    return r.ok() ? uint8_t{0} : ctap::status_for_error(r.error());
  };
  auto without = [&](uint64_t key) {
    cbor::Map m;
    for (const auto& [k, v] : params->as_map().entries())
      if (!(k == Value(key))) m.set(k, v);
    return m;
  };
  auto with = [&](uint64_t key, Value v) {
    cbor::Map m = params->as_map();
    m.set(Value(key), std::move(v));
    return m;
  };
  CHECK(status_of(params->as_map()) == 0x00);
  for (uint64_t k : {1, 2, 3, 4}) {
    INFO("key " << k);
    CHECK(status_of(without(k)) == ctap::status::missing_parameter);
  }
  CHECK(status_of(without(7)) == 0x00);
  CHECK(status_of(with(1, Value(Bytes(31, 0)))) == ctap::status::invalid_parameter);
  CHECK(status_of(with(1, Value("hash"))) == ctap::status::cbor_unexpected_type);
  CHECK(status_of(with(2, Value("rp"))) == ctap::status::cbor_unexpected_type);
  CHECK(status_of(with(2, cbor::Map{{"id", "x"}})) == ctap::status::missing_parameter);  // rp.name
  CHECK(status_of(with(3, cbor::Map{{"id", Bytes{1}}, {"name", "n"}})) == ctap::status::missing_parameter);
  CHECK(status_of(with(3, cbor::Map{{"id", "text"}, {"name", "n"}, {"displayName", "d"}})) ==
        ctap::status::cbor_unexpected_type);
  CHECK(status_of(with(4, cbor::Array{cbor::Map{{"type", "public-key"}}})) == ctap::status::missing_parameter);
  CHECK(status_of(with(4, cbor::Array{cbor::Map{{"alg", "ES256"}, {"type", "public-key"}}})) ==
        ctap::status::cbor_unexpected_type);
  CHECK(status_of(with(5, cbor::Array{Value(1)})) == ctap::status::cbor_unexpected_type);
  CHECK(status_of(with(6, Value(1))) == ctap::status::cbor_unexpected_type);
  CHECK(status_of(with(7, cbor::Map{{"rk", 1}})) == ctap::status::cbor_unexpected_type);

  // Framing errors.
  CHECK(ctap::status_for_error(ctap::decode_make_credential_request(Bytes{}).error()) == ctap::status::invalid_length);
  CHECK(ctap::status_for_error(ctap::decode_make_credential_request(Bytes{0x01, 0xff}).error()) ==
        ctap::status::invalid_cbor);
  CHECK(ctap::status_for_error(ctap::decode_make_credential_request(Bytes{0x01, 0x80}).error()) ==
        ctap::status::cbor_unexpected_type);
  CHECK(ctap::status_for_error(ctap::decode_make_credential_request(Bytes{0x01}).error()) ==
        ctap::status::missing_parameter);
  CHECK(ctap::decode_make_credential_request(Bytes{0x02, 0xa0}).error().code == Errc::ctap_invalid_command);
  CHECK(ctap::decode_get_assertion_request(unhex("02a1016161")).error().code == Errc::ctap_missing_parameter);
}

TEST_CASE("getAssertion response round trips every field", "[ctap]") {
  ctap::GetAssertionResponse r;
  r.credential = ctap::CredentialDescriptor{"public-key", Bytes{9, 9}, std::vector<std::string>{"internal", "cable"}};
  r.auth_data = Bytes(37, 0x05);
  r.signature = Bytes{0x30, 0x00};
  r.user = ctap::UserEntity{Bytes{7}, std::string(""), std::string("")};
  r.number_of_credentials = 2;
  r.user_selected = true;
  r.unsigned_extension_outputs = cbor::Map{{"prf", cbor::Map{{"results", cbor::Map{}}}}};
  r.other.set(Value(7u), Value(Bytes{1}));
  const Bytes frame = ctap::encode_response(r);
  CHECK(frame[0] == 0x00);
  auto back = ctap::decode_get_assertion_response(frame);
  REQUIRE(back.ok());
  CHECK(back->credential == r.credential);
  CHECK(back->auth_data == r.auth_data);
  CHECK(back->signature == r.signature);
  CHECK(back->user == r.user);
  CHECK(back->number_of_credentials == std::optional<uint64_t>(2));
  CHECK(back->user_selected == std::optional<bool>(true));
  CHECK(back->unsigned_extension_outputs == r.unsigned_extension_outputs);
  CHECK(back->other.size() == 1);
  CHECK(ctap::encode_response(*back) == frame);
  // Keys 1..8 appear in ascending order in the canonical encoding.
  auto decoded = cbor::decode(ByteView(frame).subspan(1));
  REQUIRE(decoded.ok());
}

TEST_CASE("clientDataJSON is serialised like a browser does", "[ctap]") {
  const Bytes challenge = hex_repeat("ab", 16);
  CHECK(ctap::client_data_json("webauthn.create", challenge, "https://example.com") ==
        R"({"type":"webauthn.create","challenge":"q6urq6urq6urq6urq6urqw","origin":"https://example.com","crossOrigin":false})");
  CHECK(ctap::client_data_json("webauthn.get", Bytes{}, "a\"b\\c\n", true) ==
        R"({"type":"webauthn.get","challenge":"","origin":"a\"b\\c\u000a","crossOrigin":true})");
}

TEST_CASE("request framing omits CBOR when there are no parameters", "[ctap]") {
  CHECK(ctap::encode_request(ctap::Command::get_info) == Bytes{0x04});
  CHECK(ctap::encode_request(ctap::Command::selection) == Bytes{0x0B});
  auto f = ctap::parse_request_frame(Bytes{0x04});
  REQUIRE(f.ok());
  CHECK(f->command == 0x04);
  CHECK_FALSE(f->params.has_value());
  CHECK(ctap::encode_response_status(0x27) == Bytes{0x27});
}
