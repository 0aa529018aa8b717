// SPDX-License-Identifier: Apache-2.0
// The raw CTAP helpers of capi/ctap.cpp that capi/ctap_connection.cpp shares: requests built and
// answers read and checked, as C++ (the C functions of hybridgate.h wrap them).
#pragma once

#include <memory>

#include "capi/common.hpp"
#include "proto/bytes.hpp"

struct hg_credential {
  hg::Bytes id, public_key, cose_key, auth_data, att_sig, att_cert;
  int32_t alg = HG_COSE_ES256;
  uint8_t flags = 0;
  uint32_t sign_count = 0;
};

struct hg_assertion {
  hg::Bytes id, auth_data, signature, user_id;
  size_t allow_index = 0;
  uint8_t flags = 0;
  uint32_t sign_count = 0;
  size_t count = 1;
};

namespace hg::capi {

Result<Bytes> make_credential_request(const char* rp_id, const char* rp_name, const uint8_t* cdh, const uint8_t* user_id,
                                      size_t user_id_len, const char* user_name, const char* display_name, int32_t alg,
                                      const hg_id_list* exclude, unsigned flags);
Result<Bytes> get_assertion_request(const char* rp_id, const uint8_t* cdh, const hg_id_list* allow, unsigned flags);
Result<std::unique_ptr<hg_credential>> read_credential(ByteView response, std::string_view rp_id, int32_t alg);
Result<std::unique_ptr<hg_assertion>> read_assertion(ByteView response, std::string_view rp_id, const hg_id_list* allow);

}  // namespace hg::capi
