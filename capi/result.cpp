// SPDX-License-Identifier: Apache-2.0
// hg_result_*: the fields of a PublicKeyCredential JSON (credential ID, user handle, signature
// counter, authenticator data) for C callers without a JSON parser.
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "capi/common.hpp"
#include "proto/bytes.hpp"
#include "proto/ctap.hpp"

using hg::Errc;
using hg::capi::fail;
using hg::capi::guarded;

struct hg_result {
  std::string json;
  hg::Bytes credential_id;
  hg::Bytes user_handle;
  hg::Bytes auth_data;
  uint32_t sign_count = 0;
  bool is_create = false;
};

namespace {

hg::Result<hg::Bytes> b64_member(const nlohmann::json& obj, const char* key, bool required) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return hg::make_error(Errc::invalid_argument, std::string("the credential JSON lacks ") + key);
    return hg::Bytes{};
  }
  if (!it->is_string()) return hg::make_error(Errc::invalid_argument, std::string(key) + " is not a string");
  auto b = hg::base64url_decode(it->get_ref<const std::string&>());
  if (!b) return hg::make_error(Errc::invalid_argument, std::string(key) + " is not base64url");
  return b;
}

void view(const hg::Bytes& b, const uint8_t** data, size_t* len) {
  if (data != nullptr) *data = b.empty() ? nullptr : b.data();
  if (len != nullptr) *len = b.size();
}

}  // namespace

extern "C" {

int hg_result_from_json(const char* credential_json, hg_result** out, hg_error* err) {
  if (out != nullptr) *out = nullptr;
  return guarded(err, [&] {
    if (credential_json == nullptr || out == nullptr)
      return fail(err, Errc::invalid_argument, "the credential JSON or the out-pointer is NULL");
    auto j = nlohmann::json::parse(credential_json, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return fail(err, Errc::invalid_argument, "the credential is not a JSON object");
    const auto resp = j.find("response");
    if (resp == j.end() || !resp->is_object()) return fail(err, Errc::invalid_argument, "the credential JSON lacks response");
    auto r = std::make_unique<hg_result>();
    r->json = credential_json;
    r->is_create = resp->contains("attestationObject");
    auto id = b64_member(j, "rawId", true);
    if (!id) return fail(err, id.error());
    if (id->empty()) return fail(err, Errc::invalid_argument, "the credential ID is empty");
    r->credential_id = std::move(*id);
    auto ad = b64_member(*resp, "authenticatorData", true);
    if (!ad) return fail(err, ad.error());
    auto parsed = hg::ctap::AuthenticatorData::parse(*ad);
    if (!parsed) return fail(err, Errc::invalid_argument, "authenticatorData: " + parsed.error().detail);
    r->sign_count = parsed->sign_count;
    r->auth_data = std::move(*ad);
    if (!r->is_create) {
      auto uh = b64_member(*resp, "userHandle", false);
      if (!uh) return fail(err, uh.error());
      r->user_handle = std::move(*uh);
    }
    *out = r.release();
    return HG_OK;
  });
}

int hg_base64url_encode(const uint8_t* data, size_t len, char** text, hg_error* err) {
  if (text != nullptr) *text = nullptr;
  return guarded(err, [&] {
    if (text == nullptr || (data == nullptr && len != 0))
      return fail(err, Errc::invalid_argument, "the data or the out-pointer is NULL");
    char* s = hg::capi::dup_string(hg::base64url_encode(hg::ByteView(data, len)));
    if (s == nullptr) return fail(err, Errc::internal, "out of memory");
    *text = s;
    return HG_OK;
  });
}

int hg_base64url_decode(const char* text, uint8_t** data, size_t* len, hg_error* err) {
  if (data != nullptr) *data = nullptr;
  if (len != nullptr) *len = 0;
  return guarded(err, [&] {
    if (text == nullptr || data == nullptr || len == nullptr)
      return fail(err, Errc::invalid_argument, "the text or an out-pointer is NULL");
    auto b = hg::base64url_decode(text);
    if (!b) return fail(err, Errc::invalid_argument, "not base64url (" + b.error().detail + ")");
    if (!b->empty()) {
      auto* p = static_cast<uint8_t*>(std::malloc(b->size()));
      if (p == nullptr) return fail(err, Errc::internal, "out of memory");
      std::memcpy(p, b->data(), b->size());
      *data = p;
    }
    *len = b->size();
    return HG_OK;
  });
}

void hg_result_free(hg_result** r) {
  if (r == nullptr) return;
  delete *r;
  *r = nullptr;
}

void hg_result_credential_id(const hg_result* r, const uint8_t** data, size_t* len) {
  static const hg::Bytes kEmpty;
  view(r ? r->credential_id : kEmpty, data, len);
}
void hg_result_user_handle(const hg_result* r, const uint8_t** data, size_t* len) {
  static const hg::Bytes kEmpty;
  view(r ? r->user_handle : kEmpty, data, len);
}
void hg_result_auth_data(const hg_result* r, const uint8_t** data, size_t* len) {
  static const hg::Bytes kEmpty;
  view(r ? r->auth_data : kEmpty, data, len);
}
uint32_t hg_result_sign_count(const hg_result* r) { return r ? r->sign_count : 0; }
const char* hg_result_json(const hg_result* r) { return r ? r->json.c_str() : ""; }
int hg_result_is_create(const hg_result* r) { return r && r->is_create ? 1 : 0; }

}  // extern "C"
