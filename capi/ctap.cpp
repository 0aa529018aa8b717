// SPDX-License-Identifier: Apache-2.0
// hg_ctap_*, hg_credential_*, hg_assertion_* and hg_private_file_* (the connection forms are in
// capi/ctap_connection.cpp, which needs the desktop): raw CTAP2 with the project's codecs (proto/ctap) and the checks of the phone's
// answers, and the safe writer of private files (store/private_file), so that the OpenSSH provider
// and the PAM module need libhybridgate.so only. The readers are fuzzed by tests/fuzz/
// fuzz_sk_answers and fuzz_pam_core (through the bridges that call them).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "capi/ctap.hpp"
#include "proto/cbor.hpp"
#include "proto/crypto.hpp"
#include "proto/ctap.hpp"
#include "store/private_file.hpp"

using hg::Bytes;
using hg::ByteView;
using hg::Errc;
using hg::capi::fail;
using hg::capi::guarded;
using hg::capi::get_assertion_request;
using hg::capi::make_credential_request;
using hg::capi::read_assertion;
using hg::capi::read_credential;
namespace ctap = hg::ctap;
namespace cbor = hg::cbor;

namespace {

constexpr unsigned kMakeCredentialFlags = HG_CTAP_RESIDENT_KEY | HG_CTAP_USER_VERIFICATION;
constexpr unsigned kGetAssertionFlags = HG_CTAP_USER_VERIFICATION | HG_CTAP_NO_USER_PRESENCE;
constexpr size_t kMaxListed = 64;

hg::Error invalid(std::string what) { return hg::make_error(Errc::ctap_invalid, std::move(what)); }

void view(const Bytes& b, const uint8_t** data, size_t* len) {
  if (data != nullptr) *data = b.empty() ? nullptr : b.data();
  if (len != nullptr) *len = b.size();
}

const Bytes& or_empty(const Bytes* b) {
  static const Bytes kEmpty;
  return b ? *b : kEmpty;
}

// The list as descriptors; an error for NULL members or too many.
hg::Result<std::vector<ctap::CredentialDescriptor>> descriptors(const hg_id_list* list) {
  std::vector<ctap::CredentialDescriptor> out;
  if (list == nullptr || list->count == 0) return out;
  if (list->count > kMaxListed) return hg::make_error(Errc::invalid_argument, "more than 64 credential IDs in a list");
  if (list->ids == nullptr || list->lens == nullptr) return hg::make_error(Errc::invalid_argument, "an hg_id_list without ids or lens");
  for (size_t i = 0; i < list->count; ++i) {
    if (list->ids[i] == nullptr || list->lens[i] == 0 || list->lens[i] > 1023)
      return hg::make_error(Errc::invalid_argument, "a credential ID in the list is empty or longer than 1023 bytes");
    out.push_back(ctap::CredentialDescriptor{std::string(ctap::kPublicKeyType),
                                             Bytes(list->ids[i], list->ids[i] + list->lens[i]), std::nullopt});
  }
  return out;
}

int give(const Bytes& b, uint8_t** out, size_t* len, hg_error* err) {
  auto* buf = static_cast<uint8_t*>(std::malloc(b.empty() ? 1 : b.size()));
  if (buf == nullptr) return fail(err, Errc::internal, "out of memory");
  if (!b.empty()) std::memcpy(buf, b.data(), b.size());
  *out = buf;
  *len = b.size();
  return HG_OK;
}

hg::Result<ctap::ClientDataHash> cdh_of(const uint8_t* p) {
  if (p == nullptr) return hg::make_error(Errc::invalid_argument, "the clientDataHash is NULL (32 bytes)");
  ctap::ClientDataHash h{};
  std::memcpy(h.data(), p, h.size());
  return h;
}

bool rp_hash_is(const ctap::AuthenticatorData& ad, std::string_view rp_id) {
  return ad.rp_id_hash == hg::crypto::sha256(hg::as_bytes(rp_id));
}

}  // namespace

hg::Result<Bytes> hg::capi::make_credential_request(const char* rp_id, const char* rp_name, const uint8_t* cdh,
                                          const uint8_t* user_id, size_t user_id_len, const char* user_name,
                                          const char* display_name, int32_t alg, const hg_id_list* exclude,
                                          unsigned flags) {
  if (rp_id == nullptr || *rp_id == '\0') return hg::make_error(Errc::invalid_argument, "the rp_id is empty");
  if (user_id == nullptr || user_id_len == 0 || user_id_len > 64)
    return hg::make_error(Errc::invalid_argument, "the user ID must be 1 to 64 bytes");
  if (alg != HG_COSE_ES256 && alg != HG_COSE_EDDSA)
    return hg::make_error(Errc::invalid_argument, "alg must be HG_COSE_ES256 or HG_COSE_EDDSA");
  if ((flags & ~kMakeCredentialFlags) != 0) return hg::make_error(Errc::invalid_argument, "unknown make_credential flags");
  HG_TRY(auto hash, cdh_of(cdh));
  HG_TRY(auto excluded, descriptors(exclude));
  ctap::MakeCredentialRequest r;
  r.client_data_hash = hash;
  r.rp = ctap::RpEntity{rp_id, std::string(rp_name ? rp_name : rp_id)};
  r.user = ctap::UserEntity{Bytes(user_id, user_id + user_id_len), std::string(user_name ? user_name : ""),
                            std::string(display_name ? display_name : "")};
  r.pub_key_cred_params = {ctap::CredentialParameters{std::string(ctap::kPublicKeyType), alg}};
  if (!excluded.empty()) r.exclude_list = std::move(excluded);
  r.options.rk = (flags & HG_CTAP_RESIDENT_KEY) != 0;
  if (flags & HG_CTAP_USER_VERIFICATION) r.options.uv = true;
  return ctap::encode_request(r);
}

hg::Result<Bytes> hg::capi::get_assertion_request(const char* rp_id, const uint8_t* cdh, const hg_id_list* allow, unsigned flags) {
  if (rp_id == nullptr || *rp_id == '\0') return hg::make_error(Errc::invalid_argument, "the rp_id is empty");
  if ((flags & ~kGetAssertionFlags) != 0) return hg::make_error(Errc::invalid_argument, "unknown get_assertion flags");
  HG_TRY(auto hash, cdh_of(cdh));
  HG_TRY(auto allowed, descriptors(allow));
  ctap::GetAssertionRequest r;
  r.rp_id = rp_id;
  r.client_data_hash = hash;
  if (!allowed.empty()) r.allow_list = std::move(allowed);
  r.options.up = (flags & HG_CTAP_NO_USER_PRESENCE) == 0;
  if (flags & HG_CTAP_USER_VERIFICATION) r.options.uv = true;
  return ctap::encode_request(r);
}

namespace {

const Bytes* bytes_at(const cbor::Map& m, std::string_view key) {
  const cbor::Value* v = m.find(key);
  return v && v->is_bytes() ? &v->as_bytes() : nullptr;
}

}  // namespace

hg::Result<std::unique_ptr<hg_credential>> hg::capi::read_credential(ByteView response, std::string_view rp_id, int32_t alg) {
  if (alg != HG_COSE_ES256 && alg != HG_COSE_EDDSA)
    return hg::make_error(Errc::invalid_argument, "alg must be HG_COSE_ES256 or HG_COSE_EDDSA");
  HG_TRY(auto resp, ctap::decode_make_credential_response(response));
  HG_TRY(auto ad, ctap::AuthenticatorData::parse(resp.auth_data));
  if (!rp_hash_is(ad, rp_id)) return invalid("the phone answered for another rpId");
  if (!ad.user_present()) return invalid("the phone did not check for user presence (UP)");
  if (!ad.attested || ad.attested->credential_id.empty()) return invalid("no attested credential data");
  auto c = std::make_unique<hg_credential>();
  c->alg = alg;
  if (alg == HG_COSE_ES256) {
    auto key = ctap::cose_es256_parse(ad.attested->public_key);
    if (!key) return hg::make_error(Errc::ctap_unsupported_algorithm, "the new key is not the P-256 key asked for: " + key.error().detail);
    c->public_key.assign(key->uncompressed().begin(), key->uncompressed().end());
    c->cose_key = cbor::encode(cbor::Value(ctap::cose_es256_encode(key->uncompressed())));
  } else {
    auto key = ctap::cose_eddsa_parse(ad.attested->public_key);
    if (!key) return hg::make_error(Errc::ctap_unsupported_algorithm, "the new key is not the Ed25519 key asked for: " + key.error().detail);
    c->public_key.assign(key->begin(), key->end());
    c->cose_key = cbor::encode(cbor::Value(ctap::cose_eddsa_encode(*key)));
  }
  c->id = ad.attested->credential_id;
  c->flags = ad.flags;
  c->sign_count = ad.sign_count;
  c->auth_data = std::move(resp.auth_data);
  if (const Bytes* sig = bytes_at(resp.att_stmt, "sig")) c->att_sig = *sig;
  if (const cbor::Value* x5c = resp.att_stmt.find(std::string_view("x5c"));
      x5c && x5c->is_array() && !x5c->as_array().empty() && x5c->as_array()[0].is_bytes())
    c->att_cert = x5c->as_array()[0].as_bytes();
  return c;
}

hg::Result<std::unique_ptr<hg_assertion>> hg::capi::read_assertion(ByteView response, std::string_view rp_id,
                                                         const hg_id_list* allow) {
  HG_TRY(auto list, descriptors(allow));
  HG_TRY(auto resp, ctap::decode_get_assertion_response(response));
  HG_TRY(auto ad, ctap::AuthenticatorData::parse(resp.auth_data));
  if (!rp_hash_is(ad, rp_id)) return invalid("the assertion is for another rpId");
  if (resp.signature.empty()) return invalid("no signature");
  auto a = std::make_unique<hg_assertion>();
  if (!list.empty()) {
    if (resp.credential) {
      a->allow_index = list.size();
      for (size_t i = 0; i < list.size(); ++i)
        if (list[i].id == resp.credential->id) a->allow_index = i;
      if (a->allow_index == list.size()) return invalid("the phone signed with a credential that was not asked for");
    } else if (list.size() == 1) {
      a->allow_index = 0;
    } else {
      return invalid("the phone did not say which credential signed");
    }
    a->id = list[a->allow_index].id;
  } else {
    if (!resp.credential || resp.credential->id.empty()) return invalid("no credential ID");
    a->id = resp.credential->id;
  }
  a->flags = ad.flags;
  a->sign_count = ad.sign_count;
  a->auth_data = std::move(resp.auth_data);
  a->signature = std::move(resp.signature);
  if (resp.user) a->user_id = resp.user->id;
  if (resp.number_of_credentials && *resp.number_of_credentials > 1 && *resp.number_of_credentials <= kMaxListed)
    a->count = size_t(*resp.number_of_credentials);
  return a;
}

namespace {

Bytes signed_data(const hg_assertion& a, const uint8_t* cdh) {
  Bytes m = a.auth_data;
  m.insert(m.end(), cdh, cdh + 32);
  return m;
}

hg::Status verify(const hg_assertion& a, const uint8_t* cdh, int32_t alg, ByteView key) {
  if (cdh == nullptr) return hg::make_error(Errc::invalid_argument, "the clientDataHash is NULL (32 bytes)");
  const Bytes msg = signed_data(a, cdh);
  if (alg == HG_COSE_ES256) {
    auto pub = hg::crypto::P256Public::parse(key);
    if (!pub) return hg::make_error(Errc::invalid_argument, "the public key is not a P-256 point");
    if (!pub->verify_sha256(msg, a.signature)) return invalid("the signature does not verify with the public key");
    return hg::ok_status();
  }
  if (alg == HG_COSE_EDDSA) {
    if (key.size() != 32) return hg::make_error(Errc::invalid_argument, "an Ed25519 public key is 32 bytes");
    if (!hg::crypto::ed25519_verify(key, msg, a.signature)) return invalid("the signature does not verify with the public key");
    return hg::ok_status();
  }
  return hg::make_error(Errc::invalid_argument, "alg must be HG_COSE_ES256 or HG_COSE_EDDSA");
}

hg::Status verify_cose(const hg_assertion& a, const uint8_t* cdh, ByteView cose) {
  auto v = cbor::decode(cose);
  if (!v || !v->is_map()) return hg::make_error(Errc::invalid_argument, "the public key is not a COSE key");
  if (auto es = ctap::cose_es256_parse(v->as_map()))
    return verify(a, cdh, HG_COSE_ES256, ByteView(es->uncompressed().data(), es->uncompressed().size()));
  if (auto ed = ctap::cose_eddsa_parse(v->as_map())) return verify(a, cdh, HG_COSE_EDDSA, ByteView(ed->data(), ed->size()));
  return hg::make_error(Errc::invalid_argument, "the COSE key is neither ES256 nor EdDSA");
}

// An hg_error a caller filled, back as an Error (for errors a callback returns).
hg::Error error_of(const hg_error& e) {
  const hg_errc n = hg_error_code(&e);
  const auto code = static_cast<Errc>(n);
  std::string message(e.message, strnlen(e.message, sizeof e.message));
  const std::string sentence(hg::errc_sentence(code));
  if (message.rfind(sentence + " (", 0) == 0 && message.size() > sentence.size() + 3 && message.back() == ')')
    message = message.substr(sentence.size() + 2, message.size() - sentence.size() - 3);
  else if (message == sentence)
    message.clear();
  return hg::make_error(code == Errc::ok ? Errc::internal : code, message);
}

hg::store::FileOwner owner_of(long uid) {
  if (uid < 0) return std::nullopt;
  return static_cast<uid_t>(uid);
}

}  // namespace

extern "C" {

int hg_ctap_make_credential_request(const char* rp_id, const char* rp_name, const uint8_t* client_data_hash,
                                    const uint8_t* user_id, size_t user_id_len, const char* user_name,
                                    const char* display_name, int32_t alg, const hg_id_list* exclude, unsigned flags,
                                    uint8_t** request, size_t* request_len, hg_error* err) {
  return guarded(err, [&] {
    if (request == nullptr || request_len == nullptr) return fail(err, Errc::invalid_argument, "an out-pointer is NULL");
    *request = nullptr;
    *request_len = 0;
    auto r = make_credential_request(rp_id, rp_name, client_data_hash, user_id, user_id_len, user_name, display_name,
                                     alg, exclude, flags);
    if (!r) return fail(err, r.error());
    return give(*r, request, request_len, err);
  });
}

int hg_ctap_get_assertion_request(const char* rp_id, const uint8_t* client_data_hash, const hg_id_list* allow,
                                  unsigned flags, uint8_t** request, size_t* request_len, hg_error* err) {
  return guarded(err, [&] {
    if (request == nullptr || request_len == nullptr) return fail(err, Errc::invalid_argument, "an out-pointer is NULL");
    *request = nullptr;
    *request_len = 0;
    auto r = get_assertion_request(rp_id, client_data_hash, allow, flags);
    if (!r) return fail(err, r.error());
    return give(*r, request, request_len, err);
  });
}

int hg_ctap_get_next_assertion_request(uint8_t** request, size_t* request_len, hg_error* err) {
  return guarded(err, [&] {
    if (request == nullptr || request_len == nullptr) return fail(err, Errc::invalid_argument, "an out-pointer is NULL");
    return give(Bytes{0x08}, request, request_len, err);  // authenticatorGetNextAssertion (CTAP 2.1 §6.3)
  });
}

int hg_ctap_read_credential(const uint8_t* response, size_t response_len, const char* rp_id, int32_t alg,
                            hg_credential** out, hg_error* err) {
  if (out != nullptr) *out = nullptr;
  return guarded(err, [&] {
    if (out == nullptr || rp_id == nullptr) return fail(err, Errc::invalid_argument, "the rp_id or the out-pointer is NULL");
    if (response == nullptr && response_len != 0) return fail(err, Errc::invalid_argument, "the response is NULL");
    auto r = read_credential(ByteView(response, response_len), rp_id, alg);
    if (!r) return fail(err, r.error());
    *out = r->release();
    return HG_OK;
  });
}

void hg_credential_free(hg_credential** c) {
  if (c == nullptr) return;
  delete *c;
  *c = nullptr;
}

void hg_credential_id(const hg_credential* c, const uint8_t** d, size_t* n) { view(or_empty(c ? &c->id : nullptr), d, n); }
void hg_credential_public_key(const hg_credential* c, const uint8_t** d, size_t* n) {
  view(or_empty(c ? &c->public_key : nullptr), d, n);
}
void hg_credential_cose_key(const hg_credential* c, const uint8_t** d, size_t* n) {
  view(or_empty(c ? &c->cose_key : nullptr), d, n);
}
void hg_credential_auth_data(const hg_credential* c, const uint8_t** d, size_t* n) {
  view(or_empty(c ? &c->auth_data : nullptr), d, n);
}
void hg_credential_attestation_signature(const hg_credential* c, const uint8_t** d, size_t* n) {
  view(or_empty(c ? &c->att_sig : nullptr), d, n);
}
void hg_credential_attestation_certificate(const hg_credential* c, const uint8_t** d, size_t* n) {
  view(or_empty(c ? &c->att_cert : nullptr), d, n);
}
int32_t hg_credential_algorithm(const hg_credential* c) { return c ? c->alg : 0; }
uint8_t hg_credential_flags(const hg_credential* c) { return c ? c->flags : 0; }
uint32_t hg_credential_sign_count(const hg_credential* c) { return c ? c->sign_count : 0; }

int hg_ctap_read_assertion(const uint8_t* response, size_t response_len, const char* rp_id, const hg_id_list* allow,
                           hg_assertion** out, hg_error* err) {
  if (out != nullptr) *out = nullptr;
  return guarded(err, [&] {
    if (out == nullptr || rp_id == nullptr) return fail(err, Errc::invalid_argument, "the rp_id or the out-pointer is NULL");
    if (response == nullptr && response_len != 0) return fail(err, Errc::invalid_argument, "the response is NULL");
    auto r = read_assertion(ByteView(response, response_len), rp_id, allow);
    if (!r) return fail(err, r.error());
    *out = r->release();
    return HG_OK;
  });
}

void hg_assertion_free(hg_assertion** a) {
  if (a == nullptr) return;
  delete *a;
  *a = nullptr;
}

void hg_assertion_credential_id(const hg_assertion* a, const uint8_t** d, size_t* n) {
  view(or_empty(a ? &a->id : nullptr), d, n);
}
size_t hg_assertion_allow_index(const hg_assertion* a) { return a ? a->allow_index : 0; }
void hg_assertion_auth_data(const hg_assertion* a, const uint8_t** d, size_t* n) {
  view(or_empty(a ? &a->auth_data : nullptr), d, n);
}
void hg_assertion_signature(const hg_assertion* a, const uint8_t** d, size_t* n) {
  view(or_empty(a ? &a->signature : nullptr), d, n);
}
void hg_assertion_user_id(const hg_assertion* a, const uint8_t** d, size_t* n) {
  view(or_empty(a ? &a->user_id : nullptr), d, n);
}
uint8_t hg_assertion_flags(const hg_assertion* a) { return a ? a->flags : 0; }
uint32_t hg_assertion_sign_count(const hg_assertion* a) { return a ? a->sign_count : 0; }
size_t hg_assertion_count(const hg_assertion* a) { return a ? a->count : 0; }

int hg_assertion_verify(const hg_assertion* a, const uint8_t* client_data_hash, int32_t alg, const uint8_t* public_key,
                        size_t public_key_len, hg_error* err) {
  return guarded(err, [&] {
    if (a == nullptr || public_key == nullptr) return fail(err, Errc::invalid_argument, "the assertion or the key is NULL");
    auto st = verify(*a, client_data_hash, alg, ByteView(public_key, public_key_len));
    return st ? HG_OK : fail(err, st.error());
  });
}

int hg_assertion_verify_cose(const hg_assertion* a, const uint8_t* client_data_hash, const uint8_t* cose_key,
                             size_t cose_key_len, hg_error* err) {
  return guarded(err, [&] {
    if (a == nullptr || cose_key == nullptr) return fail(err, Errc::invalid_argument, "the assertion or the key is NULL");
    auto st = verify_cose(*a, client_data_hash, ByteView(cose_key, cose_key_len));
    return st ? HG_OK : fail(err, st.error());
  });
}

int hg_ctap_info_offers(const uint8_t* info, size_t info_len, int32_t alg) {
  try {
    auto gi = ctap::decode_get_info(ByteView(info, info == nullptr ? 0 : info_len));
    if (!gi || !gi->algorithms) return alg == HG_COSE_ES256 ? 1 : 0;
    return std::ranges::any_of(*gi->algorithms, [&](const auto& p) { return p.alg == alg; }) ? 1 : 0;
  } catch (...) {
    return alg == HG_COSE_ES256 ? 1 : 0;
  }
}

int hg_private_file_read(const char* path, long owner_uid, char** text, size_t* len, hg_error* err) {
  return guarded(err, [&] {
    if (text == nullptr || len == nullptr) return fail(err, Errc::invalid_argument, "an out-pointer is NULL");
    *text = nullptr;
    *len = 0;
    if (path == nullptr || *path == '\0') return fail(err, Errc::invalid_argument, "the path is empty");
    auto r = hg::store::read_private_file(path, owner_of(owner_uid));
    if (!r) return fail(err, r.error());
    if (!*r) return HG_OK;
    char* s = hg::capi::dup_string(**r);
    if (s == nullptr) return fail(err, Errc::internal, "out of memory");
    *text = s;
    *len = (*r)->size();
    return HG_OK;
  });
}

int hg_private_file_update(const char* path, long owner_uid, hg_file_change_cb* change, void* user, hg_error* err) {
  return guarded(err, [&] {
    if (path == nullptr || *path == '\0' || change == nullptr)
      return fail(err, Errc::invalid_argument, "the path or the change callback is missing");
    auto st = hg::store::update_private_file(
        path,
        [&](const std::optional<std::string>& current) -> hg::Result<std::optional<std::string>> {
          char* next = nullptr;
          hg_error cb_err{};
          const int rc = change(user, current ? current->c_str() : nullptr, current ? current->size() : 0, &next, &cb_err);
          std::unique_ptr<char, decltype(&hg_free)> owned(next, hg_free);
          if (rc != HG_OK) return error_of(cb_err);
          if (next == nullptr) return std::optional<std::string>();
          return std::optional<std::string>(std::string(next));
        },
        owner_of(owner_uid));
    return st ? HG_OK : fail(err, st.error());
  });
}

}  // extern "C"
