// SPDX-License-Identifier: Apache-2.0
#include "proto/prf.hpp"

#include <algorithm>

#include "proto/crypto.hpp"

namespace hg::prf {

namespace {

constexpr std::string_view kFirst = "first", kSecond = "second";

Error bad(std::string detail) { return make_error(Errc::ctap_invalid_parameter, "prf: " + std::move(detail)); }

Result<std::array<uint8_t, 32>> bytes32(const cbor::Value& v, const char* what) {
  if (!v.is_bytes()) return make_error(Errc::ctap_unexpected_type, std::string("prf: ") + what + " is not a byte string");
  if (v.as_bytes().size() != 32) return bad(std::string(what) + " is not 32 bytes");
  std::array<uint8_t, 32> out{};
  std::copy(v.as_bytes().begin(), v.as_bytes().end(), out.begin());
  return out;
}

// {"first": 32 bytes, ?"second": 32 bytes} (other keys ignored, as Chromium does).
Result<Values> values_from(const cbor::Value& v, const char* what) {
  if (!v.is_map()) return make_error(Errc::ctap_unexpected_type, std::string("prf: ") + what + " is not a map");
  const auto* first = v.as_map().find(kFirst);
  if (!first) return bad(std::string(what) + " has no \"first\"");
  Values in;
  HG_TRY(in.first, bytes32(*first, "first"));
  if (const auto* second = v.as_map().find(kSecond)) {
    HG_TRY(auto s, bytes32(*second, "second"));
    in.second = s;
  }
  return in;
}

cbor::Map values_cbor(const Values& in) {
  cbor::Map m;
  m.set(kFirst, cbor::Value(in.first));
  if (in.second) m.set(kSecond, cbor::Value(*in.second));
  return m;
}

}  // namespace

const Input* Request::input_for(ByteView credential_id) const {
  for (const auto& [id, in] : eval_by_credential)
    if (std::ranges::equal(id, credential_id)) return &in;
  return eval ? &*eval : nullptr;
}

Salt salt_for_input(ByteView input) {
  static constexpr char kPrefix[] = "WebAuthn PRF";  // with its terminating NUL
  return crypto::sha256(concat({ByteView(reinterpret_cast<const uint8_t*>(kPrefix), sizeof kPrefix), input}));
}

Result<std::optional<Request>> request_from_extensions(const std::optional<cbor::Map>& extensions,
                                                       bool for_make_credential) {
  if (!extensions) return std::optional<Request>{};
  const auto* prf = extensions->find(std::string_view("prf"));
  if (!prf) return std::optional<Request>{};
  if (!prf->is_map()) return make_error(Errc::ctap_unexpected_type, "prf: the extension input is not a map");
  Request r;
  if (const auto* eval = prf->as_map().find(std::string_view("eval"))) {
    HG_TRY(auto in, values_from(*eval, "eval"));
    r.eval = in;
  }
  if (const auto* by_cred = prf->as_map().find(std::string_view("evalByCredential"))) {
    if (for_make_credential) return bad("evalByCredential is not allowed when creating a credential");
    if (!by_cred->is_map()) return make_error(Errc::ctap_unexpected_type, "prf: evalByCredential is not a map");
    for (const auto& [k, v] : by_cred->as_map().entries()) {
      if (!k.is_bytes() || k.as_bytes().empty()) return bad("evalByCredential key is not a credential ID");
      HG_TRY(auto in, values_from(v, "evalByCredential entry"));
      r.eval_by_credential.emplace_back(k.as_bytes(), in);
    }
  }
  return std::optional<Request>(std::move(r));
}

cbor::Map to_cbor(const Request& r) {
  cbor::Map m;
  if (r.eval) m.set("eval", cbor::Value(values_cbor(*r.eval)));
  if (!r.eval_by_credential.empty()) {
    cbor::Map by;
    for (const auto& [id, in] : r.eval_by_credential) by.set(cbor::Value(id), cbor::Value(values_cbor(in)));
    m.set("evalByCredential", cbor::Value(std::move(by)));
  }
  return m;
}

Result<std::optional<Outputs>> outputs_from_unsigned(const std::optional<cbor::Map>& unsigned_outputs) {
  if (!unsigned_outputs) return std::optional<Outputs>{};
  const auto* prf = unsigned_outputs->find(std::string_view("prf"));
  if (!prf) return std::optional<Outputs>{};
  auto invalid = [](const char* what) { return make_error(Errc::ctap_invalid, std::string("prf output: ") + what); };
  if (!prf->is_map()) return invalid("not a map");
  Outputs o;
  if (const auto* enabled = prf->as_map().find(std::string_view("enabled"))) {
    if (!enabled->is_bool()) return invalid("\"enabled\" is not a boolean");
    o.enabled = enabled->as_bool();
  }
  if (const auto* results = prf->as_map().find(std::string_view("results"))) {
    auto r = values_from(*results, "results");
    if (!r) return invalid("\"results\" is not {first, ?second} of 32 bytes each");
    o.results = *r;
  }
  return std::optional<Outputs>(o);
}

cbor::Map to_cbor(const Outputs& o) {
  cbor::Map m;
  if (o.enabled) m.set("enabled", cbor::Value(*o.enabled));
  if (o.results) m.set("results", cbor::Value(values_cbor(*o.results)));
  return m;
}

Results evaluate(ByteView cred_random, const Input& in) {
  Results r;
  r.first = crypto::hmac_sha256(cred_random, in.first);
  if (in.second) r.second = crypto::hmac_sha256(cred_random, *in.second);
  return r;
}

}  // namespace hg::prf
