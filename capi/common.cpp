// SPDX-License-Identifier: Apache-2.0
// hg_version, hg_error_sentence, hg_free and the helpers of capi/common.hpp.
#include "capi/common.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <system_error>

// The project version comes from CMake (project(... VERSION)); the header's macros must agree.
#ifndef HG_PROJECT_VERSION
#error "HG_PROJECT_VERSION must be defined by the build"
#endif
static_assert(HG_VERSION_MAJOR == HG_PROJECT_VERSION_MAJOR && HG_VERSION_MINOR == HG_PROJECT_VERSION_MINOR &&
                  HG_VERSION_PATCH == HG_PROJECT_VERSION_PATCH,
              "include/hybridgate/hybridgate.h's HG_VERSION_* differ from the project version in CMakeLists.txt");

// The error object of hg_error_last: one per thread, replaced by each failure.
struct hg_error_info {
  hg::Errc code = hg::Errc::ok;
  std::string detail;
  std::string message;  // "sentence (detail)"
};

namespace hg::capi {
namespace {

// hg_errc for each Errc, in Errc's order (checked below: complete and in order, so a code added to
// proto/error.hpp without its hg_errc fails to compile). The hg_errc values are the ABI.
struct ErrcNumber {
  Errc code;
  hg_errc number;
};
constexpr ErrcNumber kErrcNumbers[] = {
    {Errc::ok, HG_E_OK},
    {Errc::internal, HG_E_INTERNAL},
    {Errc::invalid_argument, HG_E_INVALID_ARGUMENT},
    {Errc::hex_invalid, HG_E_HEX_INVALID},
    {Errc::base64_invalid, HG_E_BASE64_INVALID},
    {Errc::digits_non_digit, HG_E_DIGITS_NON_DIGIT},
    {Errc::digits_length, HG_E_DIGITS_LENGTH},
    {Errc::digits_range, HG_E_DIGITS_RANGE},
    {Errc::qr_prefix, HG_E_QR_PREFIX},
    {Errc::qr_empty, HG_E_QR_EMPTY},
    {Errc::qr_cbor, HG_E_QR_CBOR},
    {Errc::qr_missing_key, HG_E_QR_MISSING_KEY},
    {Errc::qr_bad_key, HG_E_QR_BAD_KEY},
    {Errc::qr_bad_secret, HG_E_QR_BAD_SECRET},
    {Errc::qr_bad_field, HG_E_QR_BAD_FIELD},
    {Errc::cbor_malformed, HG_E_CBOR_MALFORMED},
    {Errc::cbor_too_large, HG_E_CBOR_TOO_LARGE},
    {Errc::cbor_not_canonical, HG_E_CBOR_NOT_CANONICAL},
    {Errc::cbor_unsupported, HG_E_CBOR_UNSUPPORTED},
    {Errc::cbor_type, HG_E_CBOR_TYPE},
    {Errc::crypto, HG_E_CRYPTO},
    {Errc::key_invalid, HG_E_KEY_INVALID},
    {Errc::eid_length, HG_E_EID_LENGTH},
    {Errc::eid_tag, HG_E_EID_TAG},
    {Errc::eid_reserved, HG_E_EID_RESERVED},
    {Errc::eid_domain, HG_E_EID_DOMAIN},
    {Errc::domain_unknown, HG_E_DOMAIN_UNKNOWN},
    {Errc::url_invalid, HG_E_URL_INVALID},
    {Errc::noise_length, HG_E_NOISE_LENGTH},
    {Errc::noise_decrypt, HG_E_NOISE_DECRYPT},
    {Errc::noise_key, HG_E_NOISE_KEY},
    {Errc::crypter_decrypt, HG_E_CRYPTER_DECRYPT},
    {Errc::crypter_padding, HG_E_CRYPTER_PADDING},
    {Errc::crypter_exhausted, HG_E_CRYPTER_EXHAUSTED},
    {Errc::frame_type, HG_E_FRAME_TYPE},
    {Errc::frame_empty, HG_E_FRAME_EMPTY},
    {Errc::message_invalid, HG_E_MESSAGE_INVALID},
    {Errc::linking_signature, HG_E_LINKING_SIGNATURE},
    {Errc::linking_invalid, HG_E_LINKING_INVALID},
    {Errc::ctap_invalid, HG_E_CTAP_INVALID},
    {Errc::ctap_status, HG_E_CTAP_STATUS},
    {Errc::ctap_invalid_command, HG_E_CTAP_INVALID_COMMAND},
    {Errc::ctap_invalid_parameter, HG_E_CTAP_INVALID_PARAMETER},
    {Errc::ctap_invalid_length, HG_E_CTAP_INVALID_LENGTH},
    {Errc::ctap_unexpected_type, HG_E_CTAP_UNEXPECTED_TYPE},
    {Errc::ctap_invalid_cbor, HG_E_CTAP_INVALID_CBOR},
    {Errc::ctap_missing_parameter, HG_E_CTAP_MISSING_PARAMETER},
    {Errc::ctap_credential_excluded, HG_E_CTAP_CREDENTIAL_EXCLUDED},
    {Errc::ctap_unsupported_algorithm, HG_E_CTAP_UNSUPPORTED_ALGORITHM},
    {Errc::ctap_operation_denied, HG_E_CTAP_OPERATION_DENIED},
    {Errc::ctap_unsupported_option, HG_E_CTAP_UNSUPPORTED_OPTION},
    {Errc::ctap_invalid_option, HG_E_CTAP_INVALID_OPTION},
    {Errc::ctap_cancelled, HG_E_CTAP_CANCELLED},
    {Errc::ctap_no_credentials, HG_E_CTAP_NO_CREDENTIALS},
    {Errc::ctap_user_action_timeout, HG_E_CTAP_USER_ACTION_TIMEOUT},
    {Errc::ctap_not_allowed, HG_E_CTAP_NOT_ALLOWED},
    {Errc::ctap_other, HG_E_CTAP_OTHER},
    {Errc::store_permissions, HG_E_STORE_PERMISSIONS},
    {Errc::store_corrupt, HG_E_STORE_CORRUPT},
    {Errc::io, HG_E_IO},
    {Errc::ble_no_system_bus, HG_E_BLE_NO_SYSTEM_BUS},
    {Errc::ble_no_bluez, HG_E_BLE_NO_BLUEZ},
    {Errc::ble_no_adapter, HG_E_BLE_NO_ADAPTER},
    {Errc::ble_adapter_off, HG_E_BLE_ADAPTER_OFF},
    {Errc::ble_rfkill, HG_E_BLE_RFKILL},
    {Errc::ble_permission, HG_E_BLE_PERMISSION},
    {Errc::ble_no_advertising, HG_E_BLE_NO_ADVERTISING},
    {Errc::ble_advertising_busy, HG_E_BLE_ADVERTISING_BUSY},
    {Errc::ble_failed, HG_E_BLE_FAILED},
    {Errc::tunnel_unreachable, HG_E_TUNNEL_UNREACHABLE},
    {Errc::tunnel_refused, HG_E_TUNNEL_REFUSED},
    {Errc::tunnel_gone, HG_E_TUNNEL_GONE},
    {Errc::tunnel_protocol, HG_E_TUNNEL_PROTOCOL},
    {Errc::tunnel_closed, HG_E_TUNNEL_CLOSED},
    {Errc::session_no_advert, HG_E_SESSION_NO_ADVERT},
    {Errc::session_handshake, HG_E_SESSION_HANDSHAKE},
    {Errc::session_phone_closed, HG_E_SESSION_PHONE_CLOSED},
    {Errc::session_deadline, HG_E_SESSION_DEADLINE},
    {Errc::session_cancelled, HG_E_SESSION_CANCELLED},
    {Errc::origin_invalid, HG_E_ORIGIN_INVALID},
    {Errc::origin_insecure, HG_E_ORIGIN_INSECURE},
    {Errc::rp_id_invalid, HG_E_RP_ID_INVALID},
    {Errc::rp_id_mismatch, HG_E_RP_ID_MISMATCH},
    {Errc::rp_id_public_suffix, HG_E_RP_ID_PUBLIC_SUFFIX},
    {Errc::config_invalid, HG_E_CONFIG_INVALID},
    {Errc::store_locked, HG_E_STORE_LOCKED},
    {Errc::store_sealed, HG_E_STORE_SEALED},
    {Errc::store_passphrase, HG_E_STORE_PASSPHRASE},
};
constexpr size_t kErrcCount = 0
#define HG_X(e, n, s) +1
    HG_ERROR_CODES(HG_X)
#undef HG_X
    ;
static_assert(std::size(kErrcNumbers) == kErrcCount, "every proto::Errc needs its hg_errc in hybridgate.h");
constexpr bool errc_numbers_in_order() {
  for (size_t i = 0; i < std::size(kErrcNumbers); ++i)
    if (static_cast<size_t>(kErrcNumbers[i].code) != i || static_cast<size_t>(kErrcNumbers[i].number) != i) return false;
  return true;
}
static_assert(errc_numbers_in_order(), "hg_errc values follow proto::Errc's order; append new codes at the end of both");

thread_local hg_error_info t_last;
thread_local bool t_has_last = false;

// The log handler: read under a shared lock by the threads that log, replaced under the lock.
std::shared_mutex g_log_mu;
hg_log_cb* g_log_cb = nullptr;
void* g_log_user = nullptr;
std::atomic<int> g_log_min{HG_LOG_ERROR + 1};  // nothing until a handler is set

void remember(const Error& e) noexcept {
  try {
    t_last.code = e.code;
    t_last.detail = e.detail;
    t_last.message = std::string(e.sentence());
    if (!e.detail.empty()) t_last.message += " (" + e.detail + ")";
  } catch (...) {  // out of memory: the code alone
    t_last.detail.clear();
    t_last.message.clear();
  }
  t_has_last = true;
}

}  // namespace

hg_errc errc_number(Errc code) noexcept { return kErrcNumbers[static_cast<size_t>(code)].number; }

bool log_enabled(hg_log_level level) noexcept { return static_cast<int>(level) >= g_log_min.load(std::memory_order_relaxed); }

void log(hg_log_level level, std::string_view message) noexcept {
  if (!log_enabled(level)) return;
  try {
    const std::string text(message);
    std::shared_lock lock(g_log_mu);
    if (g_log_cb != nullptr && static_cast<int>(level) >= g_log_min.load()) g_log_cb(g_log_user, level, text.c_str());
  } catch (...) {
    // Out of memory for the line: it is dropped.
  }
}

void copy_truncated(char* dst, size_t size, std::string_view text) noexcept {
  if (dst == nullptr || size == 0) return;
  size_t n = text.size();
  if (n >= size) {
    n = size - 1;
    // Do not cut a UTF-8 sequence: back up over continuation bytes (10xxxxxx) to a lead byte.
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  }
  std::memcpy(dst, text.data(), n);
  dst[n] = '\0';
}

void set_error(hg_error* err, const Error& e) noexcept {
  remember(e);
  if (log_enabled(HG_LOG_ERROR)) {
    try {
      log(HG_LOG_ERROR, std::string(e.name()) + ": " + t_last.message);
    } catch (...) {
    }
  }
  if (err == nullptr) return;
  copy_truncated(err->code, sizeof err->code, e.name());
  // What the CLI prints as "message": the sentence, then the detail in parentheses.
  std::string_view sentence = e.sentence();
  if (e.detail.empty()) {
    copy_truncated(err->message, sizeof err->message, sentence);
    return;
  }
  char buf[HG_ERROR_MESSAGE_SIZE + 8];
  size_t pos = 0;
  auto put = [&](std::string_view s) {
    size_t n = std::min(s.size(), sizeof buf - 1 - pos);
    std::memcpy(buf + pos, s.data(), n);
    pos += n;
  };
  put(sentence);
  put(" (");
  put(e.detail);
  put(")");
  copy_truncated(err->message, sizeof err->message, std::string_view(buf, pos));
}

void set_error(hg_error* err, Errc code, std::string_view detail) noexcept {
  try {
    set_error(err, Error{code, std::string(detail)});
  } catch (...) {  // out of memory for the detail: the code alone
    set_error(err, Error{code, {}});
  }
}

char* dup_string(std::string_view s) noexcept {
  auto* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p == nullptr) return nullptr;
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

Error current_exception_error() noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return Error{Errc::internal, {}};  // no allocation for a detail here
  } catch (const std::system_error& e) {
    try {
      return Error{Errc::internal, std::string("system error: ") + e.what()};
    } catch (...) {
      return Error{Errc::internal, {}};
    }
  } catch (const std::exception& e) {
    try {
      return Error{Errc::internal, std::string("unexpected exception: ") + e.what()};
    } catch (...) {
      return Error{Errc::internal, {}};
    }
  } catch (...) {
    return Error{Errc::internal, {}};
  }
}

}  // namespace hg::capi

namespace {

struct CodeSentence {
  const char* code;
  const char* sentence;
};
constexpr CodeSentence kCodes[] = {
#define HG_X(e, n, s) {n, s},
    HG_ERROR_CODES(HG_X)
#undef HG_X
};

}  // namespace

extern "C" {

const char* hg_version(void) { return HG_PROJECT_VERSION; }

const char* hg_error_sentence(const char* code) {
  if (code == nullptr) return nullptr;
  for (const auto& c : kCodes) {
    if (std::strcmp(c.code, code) == 0) return c.sentence;
  }
  return nullptr;
}

void hg_free(void* p) { std::free(p); }

const char* hg_errc_name(hg_errc code) {
  const auto i = static_cast<size_t>(code);
  return i < std::size(kCodes) ? kCodes[i].code : nullptr;
}

const char* hg_errc_sentence(hg_errc code) {
  const auto i = static_cast<size_t>(code);
  return i < std::size(kCodes) ? kCodes[i].sentence : nullptr;
}

hg_errc hg_error_code(const hg_error* err) {
  if (err == nullptr || err->code[0] == '\0') return HG_E_OK;
  for (size_t i = 0; i < std::size(kCodes); ++i) {
    if (std::strncmp(kCodes[i].code, err->code, sizeof err->code) == 0) return static_cast<hg_errc>(i);
  }
  return HG_E_INTERNAL;
}

const hg_error_info* hg_error_last(void) { return hg::capi::t_has_last ? &hg::capi::t_last : nullptr; }

void hg_error_clear(void) { hg::capi::t_has_last = false; }

hg_errc hg_error_info_code(const hg_error_info* e) { return e ? hg::capi::errc_number(e->code) : HG_E_OK; }
const char* hg_error_info_name(const hg_error_info* e) { return e ? hg_errc_name(hg_error_info_code(e)) : "ok"; }
const char* hg_error_info_sentence(const hg_error_info* e) {
  return e ? hg_errc_sentence(hg_error_info_code(e)) : hg_errc_sentence(HG_E_OK);
}
const char* hg_error_info_detail(const hg_error_info* e) { return e ? e->detail.c_str() : ""; }
const char* hg_error_info_message(const hg_error_info* e) { return e ? e->message.c_str() : ""; }

void hg_set_log_handler(hg_log_cb* handler, void* user, hg_log_level min_level) {
  std::unique_lock lock(hg::capi::g_log_mu);
  hg::capi::g_log_cb = handler;
  hg::capi::g_log_user = user;
  hg::capi::g_log_min.store(handler ? static_cast<int>(min_level) : HG_LOG_ERROR + 1);
}

}  // extern "C"
