// SPDX-License-Identifier: Apache-2.0
#include "proto/ctap.hpp"

#include <algorithm>
#include <cstdio>

namespace hg::ctap {

namespace {

using cbor::Value;
using Type = cbor::Value::Type;

// Everything we read from a peer is decoded leniently (non-canonical accepted), bounded by the
// wrapper's size and depth limits. Everything we write is canonical (cbor::encode).
// CTAP messages in a hybrid tunnel are a few KB (a long excludeList, an attestation certificate
// chain); 64 KiB bounds the CPU a hostile peer can make the decoder spend (docs/fuzzing.md).
const cbor::DecodeOptions kLenient{.max_size = 64 * 1024, .canonical = false};

// ---------------------------------------------------------------- status table

struct StatusInfo {
  uint8_t code;
  std::string_view name;
  std::string_view sentence;
  Errc errc;
};

constexpr StatusInfo kStatuses[] = {
    {status::ok, "CTAP2_OK", "The operation succeeded.", Errc::ok},
    {status::invalid_command, "CTAP1_ERR_INVALID_COMMAND", "The authenticator does not support this command.",
     Errc::ctap_invalid_command},
    {status::invalid_parameter, "CTAP1_ERR_INVALID_PARAMETER", "The request contained an invalid parameter.",
     Errc::ctap_invalid_parameter},
    {status::invalid_length, "CTAP1_ERR_INVALID_LENGTH", "The request had an invalid length.",
     Errc::ctap_invalid_length},
    {status::cbor_unexpected_type, "CTAP2_ERR_CBOR_UNEXPECTED_TYPE", "The request contained a field of the wrong type.",
     Errc::ctap_unexpected_type},
    {status::invalid_cbor, "CTAP2_ERR_INVALID_CBOR", "The request was not valid CBOR.", Errc::ctap_invalid_cbor},
    {status::missing_parameter, "CTAP2_ERR_MISSING_PARAMETER", "The request lacked a required parameter.",
     Errc::ctap_missing_parameter},
    {status::credential_excluded, "CTAP2_ERR_CREDENTIAL_EXCLUDED", "This phone already has a passkey for this account.",
     Errc::ctap_credential_excluded},
    {status::unsupported_algorithm, "CTAP2_ERR_UNSUPPORTED_ALGORITHM",
     "The phone supports none of the requested key algorithms.", Errc::ctap_unsupported_algorithm},
    {status::operation_denied, "CTAP2_ERR_OPERATION_DENIED", "The request was denied on the phone.",
     Errc::ctap_operation_denied},
    {status::key_store_full, "CTAP2_ERR_KEY_STORE_FULL", "The phone has no room for another passkey.",
     Errc::ctap_status},
    {status::unsupported_option, "CTAP2_ERR_UNSUPPORTED_OPTION",
     "The request asked for an option the phone does not support.", Errc::ctap_unsupported_option},
    {status::invalid_option, "CTAP2_ERR_INVALID_OPTION", "The request set an option to a value the phone does not allow.",
     Errc::ctap_invalid_option},
    {status::keepalive_cancel, "CTAP2_ERR_KEEPALIVE_CANCEL", "The request was cancelled.", Errc::ctap_cancelled},
    {status::no_credentials, "CTAP2_ERR_NO_CREDENTIALS", "The phone has no passkey for this site.",
     Errc::ctap_no_credentials},
    {status::user_action_timeout, "CTAP2_ERR_USER_ACTION_TIMEOUT", "The phone timed out waiting for you.",
     Errc::ctap_user_action_timeout},
    {status::not_allowed, "CTAP2_ERR_NOT_ALLOWED", "The phone does not allow this request now.", Errc::ctap_not_allowed},
    {status::pin_invalid, "CTAP2_ERR_PIN_INVALID", "The PIN was wrong.", Errc::ctap_status},
    {status::pin_blocked, "CTAP2_ERR_PIN_BLOCKED",
     "The PIN is blocked: too many wrong PINs. The phone's store must be reset.", Errc::ctap_status},
    {status::pin_auth_invalid, "CTAP2_ERR_PIN_AUTH_INVALID", "The PIN authentication was not valid.",
     Errc::ctap_status},
    {status::pin_auth_blocked, "CTAP2_ERR_PIN_AUTH_BLOCKED",
     "Three wrong PINs in a row: restart the phone before trying again.", Errc::ctap_status},
    {status::pin_not_set, "CTAP2_ERR_PIN_NOT_SET", "No PIN is set on the phone.", Errc::ctap_status},
    {status::puat_required, "CTAP2_ERR_PUAT_REQUIRED", "The phone requires user verification (its PIN) for this.",
     Errc::ctap_status},
    {status::pin_policy_violation, "CTAP2_ERR_PIN_POLICY_VIOLATION",
     "The new PIN does not meet the phone's PIN policy (4 to 63 bytes).", Errc::ctap_status},
    {status::invalid_subcommand, "CTAP2_ERR_INVALID_SUBCOMMAND", "The phone does not support this subcommand.",
     Errc::ctap_status},
    {status::unauthorized_permission, "CTAP2_ERR_UNAUTHORIZED_PERMISSION",
     "The phone does not grant the requested permission.", Errc::ctap_status},
    {status::other, "CTAP1_ERR_OTHER", "The phone reported an unspecified error.", Errc::ctap_other},
};

const StatusInfo* find_status(uint8_t s) noexcept {
  for (const auto& info : kStatuses)
    if (info.code == s) return &info;
  return nullptr;
}

// ---------------------------------------------------------------- decoding helpers

Error missing(std::string_view what) { return make_error(Errc::ctap_missing_parameter, "missing " + std::string(what)); }
Error wrong_type(std::string_view what) { return make_error(Errc::ctap_unexpected_type, std::string(what) + " has the wrong type"); }
Error invalid(std::string_view what) { return make_error(Errc::ctap_invalid_parameter, std::string(what)); }

// Looks up `key`; nullptr if absent and optional. Type mismatch: ctap_unexpected_type.
Result<const Value*> field(const cbor::Map& m, const Value& key, Type t, bool required, std::string_view what) {
  const Value* v = m.find(key);
  if (!v) {
    if (required) return missing(what);
    return static_cast<const Value*>(nullptr);
  }
  if (v->type() != t) return wrong_type(what);
  return v;
}

Result<std::string> require_text(const cbor::Map& m, std::string_view key, std::string_view what) {
  HG_TRY(const Value* v, field(m, Value(key), Type::Text, true, what));
  return v->as_text();
}

Result<std::optional<std::string>> optional_text(const cbor::Map& m, std::string_view key, std::string_view what) {
  HG_TRY(const Value* v, field(m, Value(key), Type::Text, false, what));
  if (!v) return std::optional<std::string>{};
  return std::optional<std::string>(v->as_text());
}

Result<std::vector<std::string>> text_array(const Value& v, std::string_view what) {
  if (!v.is_array()) return wrong_type(what);
  std::vector<std::string> out;
  for (const auto& e : v.as_array()) {
    if (!e.is_text()) return wrong_type(std::string(what) + " entry");
    out.push_back(e.as_text());
  }
  return out;
}

Value text_array_value(const std::vector<std::string>& v) {
  cbor::Array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

Result<ClientDataHash> client_data_hash_from(const Value& v) {
  ClientDataHash h{};
  if (v.as_bytes().size() != h.size()) return invalid("clientDataHash must be 32 bytes");
  std::copy(v.as_bytes().begin(), v.as_bytes().end(), h.begin());
  return h;
}

// PublicKeyCredentialDescriptor {"type": text, "id": bytes, "transports"?: [text]}.
Result<CredentialDescriptor> descriptor_from(const Value& v) {
  if (!v.is_map()) return wrong_type("credential descriptor");
  const auto& m = v.as_map();
  CredentialDescriptor d;
  HG_TRY(d.type, require_text(m, "type", "descriptor type"));
  HG_TRY(const Value* id, field(m, Value("id"), Type::Bytes, true, "descriptor id"));
  d.id = id->as_bytes();
  if (const Value* t = m.find(std::string_view("transports"))) {
    HG_TRY(auto transports, text_array(*t, "descriptor transports"));
    d.transports = std::move(transports);
  }
  return d;
}

Value descriptor_value(const CredentialDescriptor& d) {
  cbor::Map m;
  m.set("id", d.id);
  m.set("type", d.type);
  if (d.transports) m.set("transports", text_array_value(*d.transports));
  return m;
}

Result<std::vector<CredentialDescriptor>> descriptor_list_from(const Value& v, std::string_view what) {
  if (!v.is_array()) return wrong_type(what);
  std::vector<CredentialDescriptor> out;
  for (const auto& e : v.as_array()) {
    HG_TRY(auto d, descriptor_from(e));
    out.push_back(std::move(d));
  }
  return out;
}

Value descriptor_list_value(const std::vector<CredentialDescriptor>& list) {
  cbor::Array a;
  for (const auto& d : list) a.push_back(descriptor_value(d));
  return a;
}

// PublicKeyCredentialParameters {"alg": int, "type": text}.
Result<CredentialParameters> params_from(const Value& v) {
  if (!v.is_map()) return wrong_type("pubKeyCredParams entry");
  const auto& m = v.as_map();
  CredentialParameters p;
  HG_TRY(p.type, require_text(m, "type", "pubKeyCredParams type"));
  const Value* alg = m.find(std::string_view("alg"));
  if (!alg) return missing("pubKeyCredParams alg");
  auto a = alg->as_int64();
  if (!alg->is_int() || !a) return wrong_type("pubKeyCredParams alg");
  p.alg = *a;
  return p;
}

Value params_value(const CredentialParameters& p) {
  cbor::Map m;
  m.set("alg", Value(p.alg));
  m.set("type", p.type);
  return m;
}

Result<std::vector<CredentialParameters>> params_list_from(const Value& v, std::string_view what) {
  if (!v.is_array()) return wrong_type(what);
  std::vector<CredentialParameters> out;
  for (const auto& e : v.as_array()) {
    HG_TRY(auto p, params_from(e));
    out.push_back(std::move(p));
  }
  return out;
}

Value params_list_value(const std::vector<CredentialParameters>& list) {
  cbor::Array a;
  for (const auto& p : list) a.push_back(params_value(p));
  return a;
}

// Options map: rk/up/uv must be bools when present; other option names are ignored.
Result<Options> options_from(const Value& v) {
  if (!v.is_map()) return wrong_type("options");
  Options o;
  const auto& m = v.as_map();
  for (auto [name, slot] : {std::pair{"rk", &o.rk}, std::pair{"up", &o.up}, std::pair{"uv", &o.uv}}) {
    HG_TRY(const Value* b, field(m, Value(name), Type::Bool, false, std::string("option ") + name));
    if (b) *slot = b->as_bool();
  }
  return o;
}

std::optional<Value> options_value(const Options& o) {
  if (!o.rk && !o.up && !o.uv) return std::nullopt;
  cbor::Map m;
  if (o.rk) m.set("rk", *o.rk);
  if (o.up) m.set("up", *o.up);
  if (o.uv) m.set("uv", *o.uv);
  return Value(std::move(m));
}

Result<UserEntity> user_from(const Value& v, bool require_names) {
  if (!v.is_map()) return wrong_type("user");
  const auto& m = v.as_map();
  UserEntity u;
  HG_TRY(const Value* id, field(m, Value("id"), Type::Bytes, true, "user.id"));
  u.id = id->as_bytes();
  HG_TRY(u.name, optional_text(m, "name", "user.name"));
  HG_TRY(u.display_name, optional_text(m, "displayName", "user.displayName"));
  if (require_names && !u.name) return missing("user.name");
  if (require_names && !u.display_name) return missing("user.displayName");
  return u;
}

Value user_value(const UserEntity& u) {
  cbor::Map m;
  m.set("id", u.id);
  if (u.name) m.set("name", *u.name);
  if (u.display_name) m.set("displayName", *u.display_name);
  return m;
}

// Copies keys of `m` not in `known` into a map (to keep unknown keys round-trippable).
cbor::Map unknown_keys(const cbor::Map& m, std::initializer_list<uint64_t> known) {
  cbor::Map out;
  for (const auto& [k, v] : m.entries()) {
    bool is_known = k.is_unsigned() && std::find(known.begin(), known.end(), k.as_unsigned()) != known.end();
    if (!is_known) out.set(k, v);
  }
  return out;
}

void merge_other(cbor::Map& into, const cbor::Map& other) {
  for (const auto& [k, v] : other.entries())
    if (!into.find(k)) into.set(k, v);
}

uint32_t read_be32(ByteView b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

}  // namespace

// ---------------------------------------------------------------- status

std::string_view status_name(uint8_t s) noexcept {
  const StatusInfo* info = find_status(s);
  return info ? info->name : "CTAP_STATUS_UNKNOWN";
}

std::string_view status_sentence(uint8_t s) noexcept {
  const StatusInfo* info = find_status(s);
  return info ? info->sentence : "The authenticator reported an unknown error.";
}

Errc status_errc(uint8_t s) noexcept {
  const StatusInfo* info = find_status(s);
  return info ? info->errc : Errc::ctap_status;
}

Error status_error(uint8_t s) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X ", unsigned{s});
  return make_error(status_errc(s), hex + std::string(status_name(s)));
}

uint8_t status_for_error(const Error& e) noexcept {
  switch (e.code) {
    case Errc::cbor_malformed:
    case Errc::cbor_too_large:
    case Errc::cbor_not_canonical:
    case Errc::cbor_unsupported:
      return status::invalid_cbor;
    case Errc::cbor_type:
      return status::cbor_unexpected_type;
    case Errc::ctap_invalid:
      return status::invalid_parameter;
    default:
      break;
  }
  if (e.code == Errc::ctap_status) {
    // status_error() writes "0xNN NAME" for bytes without an Errc of their own.
    const std::string& d = e.detail;
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    if (d.size() >= 4 && d[0] == '0' && d[1] == 'x' && nibble(d[2]) >= 0 && nibble(d[3]) >= 0)
      return static_cast<uint8_t>(nibble(d[2]) * 16 + nibble(d[3]));
    return status::other;
  }
  for (const auto& info : kStatuses)
    if (info.errc == e.code) return info.code;
  return status::other;
}

// ---------------------------------------------------------------- COSE

cbor::Map cose_es256_encode(const crypto::P256Uncompressed& pub) {
  cbor::Map m;
  m.set(cose::key_kty, cose::kty_ec2);
  m.set(cose::key_alg, Value(cose::alg_es256));
  m.set(Value(cose::key_crv), cose::crv_p256);
  m.set(Value(cose::key_x), Bytes(pub.begin() + 1, pub.begin() + 33));
  m.set(Value(cose::key_y), Bytes(pub.begin() + 33, pub.end()));
  return m;
}

Result<crypto::P256Public> cose_es256_parse(const cbor::Map& key) {
  const Value* kty = key.find(Value(cose::key_kty));
  const Value* alg = key.find(Value(cose::key_alg));
  const Value* crv = key.find(Value(cose::key_crv));
  const Value* x = key.find(Value(cose::key_x));
  const Value* y = key.find(Value(cose::key_y));
  if (!kty || !(*kty == Value(cose::kty_ec2))) return invalid("COSE key is not EC2");
  if (!alg || !(*alg == Value(cose::alg_es256))) return invalid("COSE key algorithm is not ES256");
  if (!crv || !(*crv == Value(cose::crv_p256))) return invalid("COSE key curve is not P-256");
  if (!x || !x->is_bytes() || x->as_bytes().size() != 32) return invalid("COSE key x must be 32 bytes");
  if (!y || !y->is_bytes() || y->as_bytes().size() != 32) return invalid("COSE key y must be 32 bytes");
  Bytes sec1{0x04};
  sec1.insert(sec1.end(), x->as_bytes().begin(), x->as_bytes().end());
  sec1.insert(sec1.end(), y->as_bytes().begin(), y->as_bytes().end());
  auto pub = crypto::P256Public::parse(sec1);
  if (!pub) return invalid("COSE key is not a valid P-256 point");
  return pub;
}

cbor::Map cose_eddsa_encode(const std::array<uint8_t, 32>& pub) {
  cbor::Map m;
  m.set(cose::key_kty, cose::kty_okp);
  m.set(cose::key_alg, Value(cose::alg_edDSA));
  m.set(Value(cose::key_crv), cose::crv_ed25519);
  m.set(Value(cose::key_x), Bytes(pub.begin(), pub.end()));
  return m;
}

Result<std::array<uint8_t, 32>> cose_eddsa_parse(const cbor::Map& key) {
  const Value* kty = key.find(Value(cose::key_kty));
  const Value* alg = key.find(Value(cose::key_alg));
  const Value* crv = key.find(Value(cose::key_crv));
  const Value* x = key.find(Value(cose::key_x));
  if (!kty || !(*kty == Value(cose::kty_okp))) return invalid("COSE key is not OKP");
  if (!alg || !(*alg == Value(cose::alg_edDSA))) return invalid("COSE key algorithm is not EdDSA");
  if (!crv || !(*crv == Value(cose::crv_ed25519))) return invalid("COSE key curve is not Ed25519");
  if (!x || !x->is_bytes() || x->as_bytes().size() != 32) return invalid("COSE key x must be 32 bytes");
  std::array<uint8_t, 32> out{};
  std::copy(x->as_bytes().begin(), x->as_bytes().end(), out.begin());
  return out;
}

// ---------------------------------------------------------------- requests

cbor::Map to_cbor(const MakeCredentialRequest& r) {
  cbor::Map m;
  m.set(1u, r.client_data_hash);
  cbor::Map rp;
  rp.set("id", r.rp.id);
  if (r.rp.name) rp.set("name", *r.rp.name);
  m.set(2u, std::move(rp));
  m.set(3u, user_value(r.user));
  m.set(4u, params_list_value(r.pub_key_cred_params));
  if (r.exclude_list) m.set(5u, descriptor_list_value(*r.exclude_list));
  if (r.extensions) m.set(6u, *r.extensions);
  if (auto o = options_value(r.options)) m.set(7u, std::move(*o));
  return m;
}

Result<MakeCredentialRequest> make_credential_request_from_cbor(const cbor::Map& m) {
  MakeCredentialRequest r;
  HG_TRY(const Value* cdh, field(m, Value(1u), Type::Bytes, true, "clientDataHash (1)"));
  HG_TRY(r.client_data_hash, client_data_hash_from(*cdh));

  HG_TRY(const Value* rp, field(m, Value(2u), Type::Map, true, "rp (2)"));
  HG_TRY(r.rp.id, require_text(rp->as_map(), "id", "rp.id"));
  HG_TRY(r.rp.name, optional_text(rp->as_map(), "name", "rp.name"));
  if (!r.rp.name) return missing("rp.name");  // Chrome-on-Android requires it (docs/protocol.md §8.3)

  HG_TRY(const Value* user, field(m, Value(3u), Type::Map, true, "user (3)"));
  HG_TRY(r.user, user_from(*user, /*require_names=*/true));

  HG_TRY(const Value* params, field(m, Value(4u), Type::Array, true, "pubKeyCredParams (4)"));
  HG_TRY(r.pub_key_cred_params, params_list_from(*params, "pubKeyCredParams (4)"));

  if (const Value* ex = m.find(5u)) {
    HG_TRY(auto list, descriptor_list_from(*ex, "excludeList (5)"));
    r.exclude_list = std::move(list);
  }
  HG_TRY(const Value* ext, field(m, Value(6u), Type::Map, false, "extensions (6)"));
  if (ext) r.extensions = ext->as_map();
  if (const Value* opts = m.find(7u)) {
    HG_TRY(r.options, options_from(*opts));
  }
  return r;
}

cbor::Map to_cbor(const GetAssertionRequest& r) {
  cbor::Map m;
  m.set(1u, r.rp_id);
  m.set(2u, r.client_data_hash);
  if (r.allow_list) m.set(3u, descriptor_list_value(*r.allow_list));
  if (r.extensions) m.set(4u, *r.extensions);
  if (auto o = options_value(r.options)) m.set(5u, std::move(*o));
  return m;
}

Result<GetAssertionRequest> get_assertion_request_from_cbor(const cbor::Map& m) {
  GetAssertionRequest r;
  HG_TRY(const Value* rp_id, field(m, Value(1u), Type::Text, true, "rpId (1)"));
  r.rp_id = rp_id->as_text();
  HG_TRY(const Value* cdh, field(m, Value(2u), Type::Bytes, true, "clientDataHash (2)"));
  HG_TRY(r.client_data_hash, client_data_hash_from(*cdh));
  if (const Value* allow = m.find(3u)) {
    HG_TRY(auto list, descriptor_list_from(*allow, "allowList (3)"));
    r.allow_list = std::move(list);
  }
  HG_TRY(const Value* ext, field(m, Value(4u), Type::Map, false, "extensions (4)"));
  if (ext) r.extensions = ext->as_map();
  if (const Value* opts = m.find(5u)) {
    HG_TRY(r.options, options_from(*opts));
  }
  return r;
}

// ---------------------------------------------------------------- responses

cbor::Map to_cbor(const MakeCredentialResponse& r) {
  cbor::Map m;
  m.set(1u, r.fmt);
  m.set(2u, r.auth_data);
  m.set(3u, r.att_stmt);
  if (r.unsigned_extension_outputs) m.set(6u, *r.unsigned_extension_outputs);
  merge_other(m, r.other);
  return m;
}

Result<MakeCredentialResponse> make_credential_response_from_cbor(const cbor::Map& m) {
  MakeCredentialResponse r;
  HG_TRY(const Value* fmt, field(m, Value(1u), Type::Text, true, "fmt (1)"));
  r.fmt = fmt->as_text();
  HG_TRY(const Value* ad, field(m, Value(2u), Type::Bytes, true, "authData (2)"));
  r.auth_data = ad->as_bytes();
  HG_TRY(const Value* st, field(m, Value(3u), Type::Map, true, "attStmt (3)"));
  r.att_stmt = st->as_map();
  HG_TRY(const Value* ext, field(m, Value(6u), Type::Map, false, "unsignedExtensionOutputs (6)"));
  if (ext) r.unsigned_extension_outputs = ext->as_map();
  r.other = unknown_keys(m, {1, 2, 3, 6});
  return r;
}

cbor::Map to_cbor(const GetAssertionResponse& r) {
  cbor::Map m;
  if (r.credential) m.set(1u, descriptor_value(*r.credential));
  m.set(2u, r.auth_data);
  m.set(3u, r.signature);
  if (r.user) m.set(4u, user_value(*r.user));
  if (r.number_of_credentials) m.set(5u, *r.number_of_credentials);
  if (r.user_selected) m.set(6u, *r.user_selected);
  if (r.unsigned_extension_outputs) m.set(8u, *r.unsigned_extension_outputs);
  merge_other(m, r.other);
  return m;
}

Result<GetAssertionResponse> get_assertion_response_from_cbor(const cbor::Map& m) {
  GetAssertionResponse r;
  if (const Value* cred = m.find(1u)) {
    HG_TRY(r.credential, descriptor_from(*cred));
  }
  HG_TRY(const Value* ad, field(m, Value(2u), Type::Bytes, true, "authData (2)"));
  r.auth_data = ad->as_bytes();
  HG_TRY(const Value* sig, field(m, Value(3u), Type::Bytes, true, "signature (3)"));
  r.signature = sig->as_bytes();
  if (const Value* user = m.find(4u)) {
    HG_TRY(r.user, user_from(*user, /*require_names=*/false));
  }
  HG_TRY(const Value* n, field(m, Value(5u), Type::Unsigned, false, "numberOfCredentials (5)"));
  if (n) r.number_of_credentials = n->as_unsigned();
  HG_TRY(const Value* sel, field(m, Value(6u), Type::Bool, false, "userSelected (6)"));
  if (sel) r.user_selected = sel->as_bool();
  HG_TRY(const Value* ext, field(m, Value(8u), Type::Map, false, "unsignedExtensionOutputs (8)"));
  if (ext) r.unsigned_extension_outputs = ext->as_map();
  r.other = unknown_keys(m, {1, 2, 3, 4, 5, 6, 8});
  return r;
}

std::optional<bool> GetInfoResponse::option(std::string_view name) const {
  if (!options) return std::nullopt;
  for (const auto& [k, v] : *options)
    if (k == name) return v;
  return std::nullopt;
}

bool GetInfoResponse::lists_extension(std::string_view name) const {
  return extensions && std::find(extensions->begin(), extensions->end(), name) != extensions->end();
}

cbor::Map to_cbor(const GetInfoResponse& r) {
  cbor::Map m;
  m.set(1u, text_array_value(r.versions));
  if (r.extensions) m.set(2u, text_array_value(*r.extensions));
  m.set(3u, r.aaguid);
  if (r.options) {
    cbor::Map o;
    for (const auto& [k, v] : *r.options) o.set(k, v);
    m.set(4u, std::move(o));
  }
  if (r.max_msg_size) m.set(5u, *r.max_msg_size);
  if (r.transports) m.set(9u, text_array_value(*r.transports));
  if (r.algorithms) m.set(10u, params_list_value(*r.algorithms));
  merge_other(m, r.other);
  return m;
}

Result<GetInfoResponse> get_info_response_from_cbor(const cbor::Map& m) {
  GetInfoResponse r;
  const Value* versions = m.find(1u);
  if (!versions) return missing("versions (1)");
  HG_TRY(r.versions, text_array(*versions, "versions (1)"));
  if (const Value* ext = m.find(2u)) {
    HG_TRY(r.extensions, text_array(*ext, "extensions (2)"));
  }
  HG_TRY(const Value* aaguid, field(m, Value(3u), Type::Bytes, true, "aaguid (3)"));
  if (aaguid->as_bytes().size() != r.aaguid.size()) return invalid("aaguid must be 16 bytes");
  std::copy(aaguid->as_bytes().begin(), aaguid->as_bytes().end(), r.aaguid.begin());
  HG_TRY(const Value* opts, field(m, Value(4u), Type::Map, false, "options (4)"));
  if (opts) {
    std::vector<std::pair<std::string, bool>> list;
    for (const auto& [k, v] : opts->as_map().entries()) {
      if (!k.is_text() || !v.is_bool()) return wrong_type("options (4) entry");
      list.emplace_back(k.as_text(), v.as_bool());
    }
    r.options = std::move(list);
  }
  HG_TRY(const Value* max_msg, field(m, Value(5u), Type::Unsigned, false, "maxMsgSize (5)"));
  if (max_msg) r.max_msg_size = max_msg->as_unsigned();
  if (const Value* tr = m.find(9u)) {
    HG_TRY(r.transports, text_array(*tr, "transports (9)"));
  }
  if (const Value* algs = m.find(10u)) {
    HG_TRY(r.algorithms, params_list_from(*algs, "algorithms (10)"));
  }
  r.other = unknown_keys(m, {1, 2, 3, 4, 5, 9, 10});
  return r;
}

Result<GetInfoResponse> decode_get_info(ByteView data) {
  auto v = cbor::decode(data, kLenient);
  if (!v) return make_error(Errc::ctap_invalid, "getInfo: " + v.error().to_string());
  if (!v->is_map()) return make_error(Errc::ctap_invalid, "getInfo is not a CBOR map");
  return get_info_response_from_cbor(v->as_map());
}

GetInfoResponse chrome_android_get_info() {
  GetInfoResponse r;
  r.versions = {"FIDO_2_0", "FIDO_2_1"};
  r.extensions = std::vector<std::string>{"prf"};
  r.aaguid = {};
  r.options = std::vector<std::pair<std::string, bool>>{{"rk", true}, {"uv", true}};
  r.transports = std::vector<std::string>{"cable", "hybrid", "internal"};
  return r;
}

// ---------------------------------------------------------------- framing

Bytes encode_request(Command cmd, const std::optional<cbor::Map>& params) {
  Bytes out{static_cast<uint8_t>(cmd)};
  if (params) {
    Bytes body = cbor::encode(*params);
    out.insert(out.end(), body.begin(), body.end());
  }
  return out;
}

Bytes encode_request(const MakeCredentialRequest& r) { return encode_request(Command::make_credential, to_cbor(r)); }
Bytes encode_request(const GetAssertionRequest& r) { return encode_request(Command::get_assertion, to_cbor(r)); }

Result<RequestFrame> parse_request_frame(ByteView frame) {
  if (frame.empty()) return make_error(Errc::ctap_invalid_length, "empty CTAP request");
  RequestFrame f;
  f.command = frame[0];
  if (frame.size() == 1) return f;
  auto v = cbor::decode(frame.subspan(1), kLenient);
  if (!v) return make_error(Errc::ctap_invalid_cbor, v.error().to_string());
  if (!v->is_map()) return make_error(Errc::ctap_unexpected_type, "CTAP parameters are not a CBOR map");
  f.params = std::move(v->as_map());
  return f;
}

namespace {
Result<cbor::Map> request_params(ByteView frame, Command expected) {
  HG_TRY(auto f, parse_request_frame(frame));
  if (f.command != static_cast<uint8_t>(expected))
    return make_error(Errc::ctap_invalid_command, "unexpected CTAP command byte");
  if (!f.params) return missing("CTAP parameters");
  return std::move(*f.params);
}
}  // namespace

Result<MakeCredentialRequest> decode_make_credential_request(ByteView frame) {
  HG_TRY(auto m, request_params(frame, Command::make_credential));
  return make_credential_request_from_cbor(m);
}

Result<GetAssertionRequest> decode_get_assertion_request(ByteView frame) {
  HG_TRY(auto m, request_params(frame, Command::get_assertion));
  return get_assertion_request_from_cbor(m);
}

Bytes encode_response(const cbor::Map& body) {
  Bytes out{status::ok};
  Bytes cbor_bytes = cbor::encode(body);
  out.insert(out.end(), cbor_bytes.begin(), cbor_bytes.end());
  return out;
}

Bytes encode_response_status(uint8_t s) { return Bytes{s}; }
Bytes encode_response(const MakeCredentialResponse& r) { return encode_response(to_cbor(r)); }
Bytes encode_response(const GetAssertionResponse& r) { return encode_response(to_cbor(r)); }
Bytes encode_response(const GetInfoResponse& r) { return encode_response(to_cbor(r)); }

Result<ResponseFrame> parse_response_frame(ByteView frame) {
  if (frame.empty()) return make_error(Errc::ctap_invalid, "empty CTAP response");
  ResponseFrame f;
  f.status = frame[0];
  // A non-zero status carries no CBOR; anything after it is ignored.
  if (f.status != status::ok || frame.size() == 1) return f;
  auto v = cbor::decode(frame.subspan(1), kLenient);
  if (!v) return make_error(Errc::ctap_invalid, "response: " + v.error().to_string());
  if (!v->is_map()) return make_error(Errc::ctap_invalid, "response is not a CBOR map");
  f.body = std::move(v->as_map());
  return f;
}

Result<cbor::Map> parse_response(ByteView frame) {
  HG_TRY(auto f, parse_response_frame(frame));
  if (f.status != status::ok) return status_error(f.status);
  if (!f.body) return cbor::Map{};
  return std::move(*f.body);
}

namespace {
// A decoding error inside a well-framed response is the peer's fault: report ctap_invalid.
template <typename T>
Result<T> as_response_error(Result<T> r) {
  if (r) return r;
  return make_error(Errc::ctap_invalid, std::string(r.error().name()) + ": " + r.error().detail);
}
}  // namespace

Result<MakeCredentialResponse> decode_make_credential_response(ByteView frame) {
  HG_TRY(auto m, parse_response(frame));
  return as_response_error(make_credential_response_from_cbor(m));
}

Result<GetAssertionResponse> decode_get_assertion_response(ByteView frame) {
  HG_TRY(auto m, parse_response(frame));
  return as_response_error(get_assertion_response_from_cbor(m));
}

Result<GetInfoResponse> decode_get_info_response(ByteView frame) {
  HG_TRY(auto m, parse_response(frame));
  return as_response_error(get_info_response_from_cbor(m));
}

// ---------------------------------------------------------------- authenticator data

namespace {
constexpr size_t kRpIdHashLen = 32;       // SHA-256(rpId)
constexpr size_t kFixedHeaderLen = 37;    // rpIdHash 32 || flags 1 || signCount 4
constexpr size_t kAaguidLen = 16;         // AAGUID
constexpr size_t kMaxCredentialIdLen = 1023;  // WebAuthn credentialIdLength upper bound

Error bad_auth_data(std::string_view what) { return make_error(Errc::ctap_invalid, "authData: " + std::string(what)); }
}  // namespace

Bytes AuthenticatorData::encode() const {
  uint8_t f = flags & static_cast<uint8_t>(~(flags::at | flags::ed));
  if (attested) f |= flags::at;
  if (extensions) f |= flags::ed;
  Bytes out(rp_id_hash.begin(), rp_id_hash.end());
  out.push_back(f);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(sign_count >> shift));
  if (attested) {
    out.insert(out.end(), attested->aaguid.begin(), attested->aaguid.end());
    const size_t n = attested->credential_id.size();
    out.push_back(static_cast<uint8_t>(n >> 8));
    out.push_back(static_cast<uint8_t>(n));
    out.insert(out.end(), attested->credential_id.begin(), attested->credential_id.end());
    Bytes key = cbor::encode(attested->public_key);
    out.insert(out.end(), key.begin(), key.end());
  }
  if (extensions) {
    Bytes ext = cbor::encode(*extensions);
    out.insert(out.end(), ext.begin(), ext.end());
  }
  return out;
}

Result<AuthenticatorData> AuthenticatorData::parse(ByteView raw) {
  if (raw.size() < kFixedHeaderLen) return bad_auth_data("shorter than 37 bytes");
  AuthenticatorData ad;
  std::copy(raw.begin(), raw.begin() + kRpIdHashLen, ad.rp_id_hash.begin());
  ad.flags = raw[kRpIdHashLen];
  ad.sign_count = read_be32(raw.subspan(kRpIdHashLen + 1, 4));
  ByteView rest = raw.subspan(kFixedHeaderLen);

  if (ad.flags & flags::at) {
    if (rest.size() < kAaguidLen + 2) return bad_auth_data("attested credential data truncated");
    AttestedCredentialData acd;
    std::copy(rest.begin(), rest.begin() + kAaguidLen, acd.aaguid.begin());
    const size_t id_len = (size_t{rest[kAaguidLen]} << 8) | rest[kAaguidLen + 1];
    rest = rest.subspan(kAaguidLen + 2);
    if (id_len > kMaxCredentialIdLen) return bad_auth_data("credential ID longer than 1023 bytes");
    if (id_len > rest.size()) return bad_auth_data("credential ID truncated");
    acd.credential_id.assign(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(id_len));
    rest = rest.subspan(id_len);
    size_t used = 0;
    auto key = cbor::decode_prefix(rest, used, kLenient);
    if (!key) return bad_auth_data("credential public key: " + key.error().to_string());
    if (!key->is_map()) return bad_auth_data("credential public key is not a CBOR map");
    acd.public_key = std::move(key->as_map());
    rest = rest.subspan(used);
    ad.attested = std::move(acd);
  }
  if (ad.flags & flags::ed) {
    if (rest.empty()) return bad_auth_data("ED flag set but no extensions");
    size_t used = 0;
    auto ext = cbor::decode_prefix(rest, used, kLenient);
    if (!ext) return bad_auth_data("extensions: " + ext.error().to_string());
    if (!ext->is_map()) return bad_auth_data("extensions are not a CBOR map");
    ad.extensions = std::move(ext->as_map());
    rest = rest.subspan(used);
  }
  if (!rest.empty()) return bad_auth_data("trailing bytes");
  return ad;
}

// ---------------------------------------------------------------- WebAuthn helpers

Bytes attestation_object(const MakeCredentialResponse& r) {
  cbor::Map m;
  m.set("fmt", r.fmt);
  m.set("attStmt", r.att_stmt);
  m.set("authData", r.auth_data);
  return cbor::encode(m);
}

std::string client_data_json(std::string_view type, ByteView challenge, std::string_view origin, bool cross_origin) {
  // WebAuthn §5.8.1.2 CCDToString: '"' and '\' are backslash-escaped, other code points below
  // U+0020 become \u00XX, everything else is copied as is.
  auto quoted = [](std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(c);
      } else if (u < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", unsigned{u});
        out += buf;
      } else {
        out.push_back(c);
      }
    }
    return out + "\"";
  };
  std::string json = "{\"type\":" + quoted(type);
  json += ",\"challenge\":" + quoted(base64url_encode(challenge));
  json += ",\"origin\":" + quoted(origin);
  json += ",\"crossOrigin\":";
  json += cross_origin ? "true" : "false";
  json += "}";
  return json;
}

}  // namespace hg::ctap
