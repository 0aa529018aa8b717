// SPDX-License-Identifier: Apache-2.0
// hg_connection_make_credential, _get_assertion, _get_next_assertion: the raw CTAP helpers of
// capi/ctap.cpp over an open connection (hg_connection_transact).
#include <cstdlib>
#include <memory>

#include "capi/ctap.hpp"

using hg::Bytes;
using hg::ByteView;
using hg::Errc;
using hg::capi::fail;
using hg::capi::guarded;
using hg::capi::get_assertion_request;
using hg::capi::make_credential_request;
using hg::capi::read_assertion;
using hg::capi::read_credential;

namespace {

// Transact a request and hand the answer to `read`.
template <typename T, typename Read>
int on_connection(hg_connection* c, const hg::Result<Bytes>& request, T** out, hg_error* err, Read&& read) {
  if (out != nullptr) *out = nullptr;
  if (out == nullptr) return fail(err, Errc::invalid_argument, "the out-pointer is NULL");
  if (!request) return fail(err, request.error());
  uint8_t* resp = nullptr;
  size_t resp_len = 0;
  if (hg_connection_transact(c, request->data(), request->size(), &resp, &resp_len, err) != HG_OK) return HG_ERR;
  std::unique_ptr<uint8_t, decltype(&hg_free)> owned(resp, hg_free);
  auto r = read(ByteView(resp, resp_len));
  if (!r) return fail(err, r.error());
  *out = r->release();
  return HG_OK;
}

}  // namespace

extern "C" {

int hg_connection_make_credential(hg_connection* c, const char* rp_id, const char* rp_name,
                                  const uint8_t* client_data_hash, const uint8_t* user_id, size_t user_id_len,
                                  const char* user_name, const char* display_name, int32_t alg,
                                  const hg_id_list* exclude, unsigned flags, hg_credential** out, hg_error* err) {
  return guarded(err, [&] {
    const auto request = make_credential_request(rp_id, rp_name, client_data_hash, user_id, user_id_len, user_name,
                                                 display_name, alg, exclude, flags);
    return on_connection(c, request, out, err, [&](ByteView resp) { return read_credential(resp, rp_id, alg); });
  });
}

int hg_connection_get_assertion(hg_connection* c, const char* rp_id, const uint8_t* client_data_hash,
                                const hg_id_list* allow, unsigned flags, hg_assertion** out, hg_error* err) {
  return guarded(err, [&] {
    const auto request = get_assertion_request(rp_id, client_data_hash, allow, flags);
    return on_connection(c, request, out, err, [&](ByteView resp) { return read_assertion(resp, rp_id, allow); });
  });
}

int hg_connection_get_next_assertion(hg_connection* c, const char* rp_id, hg_assertion** out, hg_error* err) {
  return guarded(err, [&] {
    if (rp_id == nullptr) return fail(err, Errc::invalid_argument, "the rp_id is NULL");
    const hg::Result<Bytes> request = Bytes{0x08};
    return on_connection(c, request, out, err, [&](ByteView resp) { return read_assertion(resp, rp_id, nullptr); });
  });
}

}  // extern "C"
