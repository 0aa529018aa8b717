// SPDX-License-Identifier: Apache-2.0
// WebAuthn JSON options → CTAP2 requests → PublicKeyCredential JSON (see webauthn/webauthn.hpp for
// the behaviour; this file follows it member by member).
#include "webauthn/webauthn.hpp"

#include "webauthn/origin.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include "webauthn/webauthn_json.hpp"
#include "proto/crypto.hpp"

namespace hg::webauthn {

using nlohmann::json;

namespace {

constexpr size_t kMinChallenge = 16, kMaxChallenge = 1024, kMaxUserId = 64;

Error bad(std::string sentence) { return make_error(Errc::invalid_argument, std::move(sentence)); }

// ------------------------------------------------------------------ reading members

// The parsed top-level object, unwrapped from {"publicKey": {...}}.
Result<json> parse_object(std::string_view text) {
  if (text.size() > kMaxOptionsJson) return bad("the options JSON is larger than 1 MiB");
  json j;
  try {
    j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  } catch (const std::exception& e) {  // parse does not throw for bad JSON; this is bad_alloc & co.
    return make_error(Errc::internal, std::string("parsing the options JSON: ") + e.what());
  }
  if (j.is_discarded()) return bad("the options are not valid JSON");
  if (!j.is_object()) return bad("the options must be a JSON object");
  if (auto it = j.find("publicKey"); it != j.end()) {
    if (!it->is_object()) return bad("publicKey must be an object");
    json inner = std::move(*it);
    return inner;
  }
  return j;
}

const json* member(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// Optional members: absent → nullopt (JSON null counts as absent, as for a JS undefined-ish value
// from RP libraries that serialise None as null); present with the wrong type → error.
Result<std::optional<std::string>> opt_string(const json& obj, const char* key, const std::string& path) {
  const json* v = member(obj, key);
  if (!v || v->is_null()) return std::optional<std::string>{};
  if (!v->is_string()) return bad(path + " must be a string");
  return std::optional<std::string>(v->get<std::string>());
}

Result<std::optional<bool>> opt_bool(const json& obj, const char* key, const std::string& path) {
  const json* v = member(obj, key);
  if (!v || v->is_null()) return std::optional<bool>{};
  if (!v->is_boolean()) return bad(path + " must be true or false");
  return std::optional<bool>(v->get<bool>());
}

Result<const json*> opt_object(const json& obj, const char* key, const std::string& path) {
  const json* v = member(obj, key);
  if (!v || v->is_null()) return static_cast<const json*>(nullptr);
  if (!v->is_object()) return bad(path + " must be an object");
  return v;
}

Result<const json*> opt_array(const json& obj, const char* key, const std::string& path) {
  const json* v = member(obj, key);
  if (!v || v->is_null()) return static_cast<const json*>(nullptr);
  if (!v->is_array()) return bad(path + " must be an array");
  return v;
}

Result<Bytes> b64_value(const json& v, const std::string& path) {
  if (!v.is_string()) return bad(path + " must be a base64url string");
  auto b = base64url_decode(v.get_ref<const std::string&>());
  if (!b) return bad(path + " is not valid base64url");
  return std::move(b).value();
}

Result<std::optional<Bytes>> opt_b64(const json& obj, const char* key, const std::string& path) {
  const json* v = member(obj, key);
  if (!v || v->is_null()) return std::optional<Bytes>{};
  HG_TRY(Bytes b, b64_value(*v, path));
  return std::optional<Bytes>(std::move(b));
}

Result<Bytes> required_b64(const json& obj, const char* key, const std::string& path) {
  HG_TRY(auto b, opt_b64(obj, key, path));
  if (!b) return bad(path + " is missing");
  return std::move(*b);
}

Result<std::string> required_string(const json& obj, const char* key, const std::string& path) {
  HG_TRY(auto s, opt_string(obj, key, path));
  if (!s) return bad(path + " is missing");
  if (s->empty()) return bad(path + " must not be empty");
  return std::move(*s);
}

Status check_challenge(ByteView c, const std::string& path = "challenge") {
  if (c.size() < kMinChallenge || c.size() > kMaxChallenge) return bad(path + " must be 16 to 1024 bytes");
  return ok_status();
}

Status check_user_id(ByteView id) {
  if (id.empty() || id.size() > kMaxUserId) return bad("user.id must be 1 to 64 bytes");
  return ok_status();
}

// residentKey / userVerification: unknown strings are ignored (WebAuthn L3: DOMString members).
Result<std::optional<Requirement>> opt_requirement(const json& obj, const char* key, const std::string& path) {
  HG_TRY(auto s, opt_string(obj, key, path));
  if (!s) return std::optional<Requirement>{};
  if (*s == "required") return std::optional<Requirement>(Requirement::required);
  if (*s == "preferred") return std::optional<Requirement>(Requirement::preferred);
  if (*s == "discouraged") return std::optional<Requirement>(Requirement::discouraged);
  return std::optional<Requirement>{};
}

Result<std::optional<std::chrono::milliseconds>> opt_timeout(const json& obj) {
  const json* v = member(obj, "timeout");
  if (!v || v->is_null()) return std::optional<std::chrono::milliseconds>{};
  if (!v->is_number()) return bad("timeout must be a number of milliseconds");
  const double ms = v->get<double>();
  if (!(ms >= 0)) return bad("timeout must not be negative");  // also NaN-safe
  const double capped = std::min(ms, 4294967295.0);           // WebAuthn: unsigned long
  return std::optional<std::chrono::milliseconds>(std::chrono::milliseconds(int64_t(capped)));
}

// A PublicKeyCredentialDescriptor list. Entries whose type is not "public-key" are skipped.
// `had_entries` says whether the JSON array was non-empty.
Result<std::vector<ctap::CredentialDescriptor>> descriptors(const json& obj, const char* key, bool* had_entries) {
  const std::string name = key;
  HG_TRY(const json* arr, opt_array(obj, key, name));
  std::vector<ctap::CredentialDescriptor> out;
  *had_entries = arr && !arr->empty();
  if (!arr) return out;
  for (size_t i = 0; i < arr->size(); ++i) {
    const std::string path = name + "[" + std::to_string(i) + "]";
    const json& e = (*arr)[i];
    if (!e.is_object()) return bad(path + " must be an object");
    HG_TRY(std::string type, required_string(e, "type", path + ".type"));
    HG_TRY(Bytes id, required_b64(e, "id", path + ".id"));
    if (id.empty()) return bad(path + ".id must not be empty");
    std::optional<std::vector<std::string>> transports;
    HG_TRY(const json* t, opt_array(e, "transports", path + ".transports"));
    if (t) {
      transports.emplace();
      for (const auto& s : *t) {
        if (!s.is_string()) return bad(path + ".transports must be an array of strings");
        transports->push_back(s.get<std::string>());
      }
    }
    if (type != ctap::kPublicKeyType) continue;
    out.push_back({std::move(type), std::move(id), std::move(transports)});
  }
  return out;
}

Result<prf::Input> prf_input(const json& v, const std::string& path) {
  if (!v.is_object()) return bad(path + " must be an object");
  HG_TRY(Bytes first, required_b64(v, "first", path + ".first"));
  HG_TRY(auto second, opt_b64(v, "second", path + ".second"));
  prf::Input in;
  in.first = prf::salt_for_input(first);
  if (second) in.second = prf::salt_for_input(*second);
  return in;
}

// extensions.prf. `allow` is the sign-in's allow list, nullptr when creating.
Status read_prf(const json& obj, const std::vector<ctap::CredentialDescriptor>* allow,
                std::optional<prf::Request>* out, bool* requested) {
  HG_TRY(const json* ext, opt_object(obj, "extensions", "extensions"));
  if (!ext) return ok_status();
  HG_TRY(const json* p, opt_object(*ext, "prf", "extensions.prf"));
  if (!p) return ok_status();
  prf::Request r;
  if (const json* eval = member(*p, "eval"); eval && !eval->is_null()) {
    HG_TRY(auto in, prf_input(*eval, "extensions.prf.eval"));
    r.eval = in;
  }
  HG_TRY(const json* by, opt_object(*p, "evalByCredential", "extensions.prf.evalByCredential"));
  if (by && !by->empty()) {
    if (!allow) return bad("extensions.prf.evalByCredential is only for sign-in");
    if (allow->empty()) return bad("extensions.prf.evalByCredential needs allowCredentials");
    for (const auto& [key, value] : by->items()) {
      const std::string path = "extensions.prf.evalByCredential." + key;
      auto id = base64url_decode(key);
      if (!id || id->empty()) return bad("extensions.prf.evalByCredential keys must be base64url credential IDs");
      if (!std::ranges::any_of(*allow, [&](const ctap::CredentialDescriptor& d) { return d.id == *id; }))
        return bad("extensions.prf.evalByCredential names a credential that is not in allowCredentials");
      if (std::ranges::any_of(r.eval_by_credential, [&](const auto& e) { return e.first == *id; }))
        return bad("extensions.prf.evalByCredential names a credential twice");
      HG_TRY(auto in, prf_input(value, path));
      r.eval_by_credential.emplace_back(std::move(*id), in);
    }
  }
  *out = std::move(r);
  *requested = true;
  return ok_status();
}

std::vector<ctap::CredentialParameters> default_params() {
  return {{std::string(ctap::kPublicKeyType), ctap::cose::alg_es256},
          {std::string(ctap::kPublicKeyType), ctap::cose::alg_rs256}};
}

// The CTAP form of a descriptor list: {type, id} only; empty → absent.
std::optional<std::vector<ctap::CredentialDescriptor>> ctap_list(const std::vector<ctap::CredentialDescriptor>& in) {
  if (in.empty()) return std::nullopt;
  std::vector<ctap::CredentialDescriptor> out;
  out.reserve(in.size());
  for (const auto& d : in) out.push_back({d.type, d.id, std::nullopt});
  return out;
}

bool same_rp(ByteView rp_id_hash, const std::string& rp_id) {
  const auto want = crypto::sha256(as_bytes(rp_id));
  return std::ranges::equal(rp_id_hash, want);
}

// WebAuthn L3 §5.1.3 (attestation "none"): self attestation stays; anything else becomes "none".
void apply_none_attestation(ctap::MakeCredentialResponse& resp, const ctap::AuthenticatorData& ad) {
  if (resp.fmt == "none") return;
  const bool zero_aaguid = ad.attested && std::ranges::all_of(ad.attested->aaguid, [](uint8_t b) { return b == 0; });
  const bool self = resp.fmt == "packed" && zero_aaguid && !resp.att_stmt.find(std::string_view("x5c"));
  if (self) return;
  resp.fmt = "none";
  resp.att_stmt = cbor::Map{};
}

bool uv_wanted(Requirement r, const std::optional<ctap::GetInfoResponse>& info) {
  if (r == Requirement::required) return true;
  if (r == Requirement::discouraged) return false;
  return info && info->option("uv").value_or(false);
}

}  // namespace

// ------------------------------------------------------------------ parsing

Result<CreationOptions> parse_creation_options(std::string_view json_text) {
  HG_TRY(json j, parse_object(json_text));
  CreationOptions o;

  HG_TRY(const json* rp, opt_object(j, "rp", "rp"));
  if (!rp) return bad("rp is missing");
  HG_TRY(o.rp.id, required_string(*rp, "id", "rp.id"));
  HG_TRY(o.rp.name, opt_string(*rp, "name", "rp.name"));

  HG_TRY(const json* user, opt_object(j, "user", "user"));
  if (!user) return bad("user is missing");
  HG_TRY(o.user.id, required_b64(*user, "id", "user.id"));
  HG_CHECK(check_user_id(o.user.id));
  HG_TRY(o.user.name, opt_string(*user, "name", "user.name"));
  HG_TRY(o.user.display_name, opt_string(*user, "displayName", "user.displayName"));

  HG_TRY(o.challenge, required_b64(j, "challenge", "challenge"));
  HG_CHECK(check_challenge(o.challenge));

  HG_TRY(const json* params, opt_array(j, "pubKeyCredParams", "pubKeyCredParams"));
  if (params) {
    for (size_t i = 0; i < params->size(); ++i) {
      const std::string path = "pubKeyCredParams[" + std::to_string(i) + "]";
      const json& e = (*params)[i];
      if (!e.is_object()) return bad(path + " must be an object");
      HG_TRY(std::string type, required_string(e, "type", path + ".type"));
      const json* alg = member(e, "alg");
      if (!alg || alg->is_null()) return bad(path + ".alg is missing");
      if (!alg->is_number_integer()) return bad(path + ".alg must be an integer (a COSE algorithm)");
      if (alg->is_number_unsigned() && alg->get<uint64_t>() > uint64_t(INT64_MAX))
        return bad(path + ".alg is out of range");
      if (type != ctap::kPublicKeyType) continue;
      o.pub_key_cred_params.push_back({std::move(type), alg->get<int64_t>()});
    }
    if (!params->empty() && o.pub_key_cred_params.empty())
      return bad("pubKeyCredParams lists no public-key algorithm");
  }
  if (o.pub_key_cred_params.empty()) o.pub_key_cred_params = default_params();

  bool had_entries = false;
  HG_TRY(o.exclude_credentials, descriptors(j, "excludeCredentials", &had_entries));

  HG_TRY(const json* sel, opt_object(j, "authenticatorSelection", "authenticatorSelection"));
  if (sel) {
    HG_TRY(auto rk, opt_requirement(*sel, "residentKey", "authenticatorSelection.residentKey"));
    HG_TRY(auto rrk, opt_bool(*sel, "requireResidentKey", "authenticatorSelection.requireResidentKey"));
    HG_TRY(auto uv, opt_requirement(*sel, "userVerification", "authenticatorSelection.userVerification"));
    HG_TRY(auto attachment, opt_string(*sel, "authenticatorAttachment", "authenticatorSelection.authenticatorAttachment"));
    (void)attachment;  // type-checked, otherwise ignored: the person chose a phone
    if (rk)
      o.resident_key = *rk;
    else if (rrk.value_or(false))
      o.resident_key = Requirement::required;
    if (uv) o.user_verification = *uv;
  }

  HG_TRY(auto attestation, opt_string(j, "attestation", "attestation"));
  if (attestation && (*attestation == "indirect" || *attestation == "direct" || *attestation == "enterprise"))
    o.attestation = *attestation;

  HG_CHECK(read_prf(j, nullptr, &o.prf, &o.prf_requested));
  HG_TRY(o.timeout, opt_timeout(j));
  return o;
}

Result<RequestOptions> parse_request_options(std::string_view json_text) {
  HG_TRY(json j, parse_object(json_text));
  RequestOptions o;
  HG_TRY(o.rp_id, required_string(j, "rpId", "rpId"));
  HG_TRY(o.challenge, required_b64(j, "challenge", "challenge"));
  HG_CHECK(check_challenge(o.challenge));
  bool had_entries = false;
  HG_TRY(o.allow_credentials, descriptors(j, "allowCredentials", &had_entries));
  if (had_entries && o.allow_credentials.empty())
    return bad("allowCredentials lists no public-key credential");
  HG_TRY(auto uv, opt_requirement(j, "userVerification", "userVerification"));
  if (uv) o.user_verification = *uv;
  HG_CHECK(read_prf(j, &o.allow_credentials, &o.prf, &o.prf_requested));
  HG_TRY(o.timeout, opt_timeout(j));
  return o;
}

// ------------------------------------------------------------------ requests

Result<PreparedCreate> prepare(const CreationOptions& o, std::string_view origin) {
  if (origin.empty()) return bad("the origin must not be empty");
  if (o.rp.id.empty()) return bad("rp.id must not be empty");
  if (auto checked = check_origin_and_rp_id(origin, o.rp.id); !checked) return checked.error();
  HG_CHECK(check_user_id(o.user.id));
  HG_CHECK(check_challenge(o.challenge));
  if (o.prf && !o.prf->eval_by_credential.empty()) return bad("extensions.prf.evalByCredential is only for sign-in");
  PreparedCreate p;
  p.client_data_json = ctap::client_data_json("webauthn.create", o.challenge, origin);
  auto& r = p.request;
  r.client_data_hash = crypto::sha256(as_bytes(p.client_data_json));
  r.rp = {o.rp.id, o.rp.name.value_or(o.rp.id)};
  const std::string name = o.user.name.value_or("");
  r.user = {o.user.id, name, o.user.display_name.value_or(name)};
  r.pub_key_cred_params = o.pub_key_cred_params.empty() ? default_params() : o.pub_key_cred_params;
  r.exclude_list = ctap_list(o.exclude_credentials);
  if (o.resident_key != Requirement::discouraged) r.options.rk = true;
  if (o.user_verification != Requirement::discouraged) r.options.uv = true;
  p.prf = o.prf;
  if (o.prf_requested && !p.prf) p.prf = prf::Request{};  // requested with no inputs: ask "enabled?"
  p.prf_requested = p.prf.has_value();
  p.resident_key = o.resident_key;
  p.user_verification = o.user_verification;
  p.attestation = o.attestation;
  return p;
}

Result<PreparedGet> prepare(const RequestOptions& o, std::string_view origin) {
  if (origin.empty()) return bad("the origin must not be empty");
  if (o.rp_id.empty()) return bad("rpId must not be empty");
  if (auto checked = check_origin_and_rp_id(origin, o.rp_id); !checked) return checked.error();
  HG_CHECK(check_challenge(o.challenge));
  if (o.prf) {
    for (const auto& entry : o.prf->eval_by_credential) {
      const Bytes& id = entry.first;
      if (!std::ranges::any_of(o.allow_credentials, [&](const ctap::CredentialDescriptor& d) { return d.id == id; }))
        return bad("extensions.prf.evalByCredential names a credential that is not in allowCredentials");
    }
  }
  PreparedGet p;
  p.client_data_json = ctap::client_data_json("webauthn.get", o.challenge, origin);
  auto& r = p.request;
  r.rp_id = o.rp_id;
  r.client_data_hash = crypto::sha256(as_bytes(p.client_data_json));
  r.allow_list = ctap_list(o.allow_credentials);
  if (o.user_verification != Requirement::discouraged) r.options.uv = true;
  p.prf = o.prf;
  p.prf_requested = o.prf_requested || o.prf.has_value();
  p.user_verification = o.user_verification;
  return p;
}

namespace {
std::optional<ctap::GetInfoResponse> info_of(ByteView get_info) {
  auto info = ctap::decode_get_info(get_info);
  if (!info) return std::nullopt;  // treated as a phone that lists nothing (as the CLI did)
  return std::move(info).value();
}

cbor::Map prf_extension(const prf::Request& r) {
  cbor::Map ext;
  ext.set("prf", cbor::Value(prf::to_cbor(r)));
  return ext;
}
}  // namespace

Result<Bytes> request_for(const PreparedCreate& p, ByteView get_info, bool* prf_left_out) {
  if (prf_left_out) *prf_left_out = false;
  const auto info = info_of(get_info);
  ctap::MakeCredentialRequest r = p.request;
  switch (p.resident_key) {
    case Requirement::required: r.options.rk = true; break;
    case Requirement::preferred:
      r.options.rk = info && info->option("rk").value_or(false) ? std::optional<bool>(true) : std::nullopt;
      break;
    case Requirement::discouraged: r.options.rk.reset(); break;
  }
  r.options.uv = uv_wanted(p.user_verification, info) ? std::optional<bool>(true) : std::nullopt;
  if (p.prf) {  // creating: {"prf": {}} asks "enabled?", eval asks for results at once
    if (info && info->lists_extension("prf"))
      r.extensions = prf_extension(*p.prf);
    else if (prf_left_out)
      *prf_left_out = true;
  }
  return ctap::encode_request(r);
}

Result<Bytes> request_for(const PreparedGet& p, ByteView get_info, bool* prf_left_out) {
  if (prf_left_out) *prf_left_out = false;
  const auto info = info_of(get_info);
  ctap::GetAssertionRequest r = p.request;
  r.options.uv = uv_wanted(p.user_verification, info) ? std::optional<bool>(true) : std::nullopt;
  if (p.prf && (p.prf->eval || !p.prf->eval_by_credential.empty())) {
    if (info && info->lists_extension("prf"))
      r.extensions = prf_extension(*p.prf);
    else if (prf_left_out)
      *prf_left_out = true;
  }
  return ctap::encode_request(r);
}

// ------------------------------------------------------------------ responses

Result<json> registration_json(const PreparedCreate& p, ByteView ctap_response) {
  HG_TRY(auto resp, ctap::decode_make_credential_response(ctap_response));
  auto ad = ctap::AuthenticatorData::parse(resp.auth_data);
  if (!ad || !ad->attested) return make_error(Errc::ctap_invalid, "no attested credential data");
  if (!same_rp(ad->rp_id_hash, p.request.rp.id))
    return make_error(Errc::ctap_invalid, "the phone answered for another relying party (rpIdHash)");
  if (p.user_verification == Requirement::required && !ad->user_verified())
    return make_error(Errc::ctap_invalid, "the phone did not verify the user although userVerification is required");
  if (p.attestation == "none") apply_none_attestation(resp, *ad);
  return webauthn_json::registration(resp, p.client_data_json, p.prf_requested);
}

Result<json> assertion_json(const PreparedGet& p, ByteView ctap_response) {
  HG_TRY(auto resp, ctap::decode_get_assertion_response(ctap_response));
  auto ad = ctap::AuthenticatorData::parse(resp.auth_data);
  if (!ad) return make_error(Errc::ctap_invalid, "the assertion's authenticator data is malformed");
  if (!same_rp(ad->rp_id_hash, p.request.rp_id))
    return make_error(Errc::ctap_invalid, "the phone answered for another relying party (rpIdHash)");
  if (p.user_verification == Requirement::required && !ad->user_verified())
    return make_error(Errc::ctap_invalid, "the phone did not verify the user although userVerification is required");
  if (resp.credential && p.request.allow_list &&
      !std::ranges::any_of(*p.request.allow_list,
                           [&](const ctap::CredentialDescriptor& d) { return d.id == resp.credential->id; }))
    return make_error(Errc::ctap_invalid, "the phone signed with a credential that is not in allowCredentials");
  return webauthn_json::assertion(resp, p.client_data_json, p.request.allow_list, p.prf_requested);
}

}  // namespace hg::webauthn
