// SPDX-License-Identifier: Apache-2.0
// Shared by the C ABI's translation units: the public header with default visibility (the rest of
// the library is built with -fvisibility=hidden, and cmake/hybridgate.map exports hg_* only),
// error filling, strings handed to C, and the exception firewall every entry point goes through.
#pragma once

#pragma GCC visibility push(default)
#include "hybridgate/hybridgate.h"
#pragma GCC visibility pop

#include <exception>
#include <new>
#include <string>
#include <string_view>

#include "proto/error.hpp"

namespace hg::capi {

// Copies `text` into dst[size] (NUL-terminated), cutting it at a UTF-8 character boundary.
void copy_truncated(char* dst, size_t size, std::string_view text) noexcept;

// Fills *err (when not NULL) with the code and the message the CLI prints: "sentence (detail)".
void set_error(hg_error* err, const Error& e) noexcept;
void set_error(hg_error* err, Errc code, std::string_view detail = {}) noexcept;

// Returns HG_ERR after filling *err.
inline int fail(hg_error* err, const Error& e) noexcept {
  set_error(err, e);
  return HG_ERR;
}
inline int fail(hg_error* err, Errc code, std::string_view detail = {}) noexcept {
  set_error(err, code, detail);
  return HG_ERR;
}

// The numeric code of an Errc (include/hybridgate/hybridgate.h's hg_errc).
hg_errc errc_number(Errc code) noexcept;

// The log handler (hg_set_log_handler): whether a line of this level would be delivered, and the
// delivery. Callers build the message only when enabled(); messages never hold secrets.
bool log_enabled(hg_log_level level) noexcept;
void log(hg_log_level level, std::string_view message) noexcept;

// A malloc'd copy (released with hg_free), or nullptr when out of memory.
char* dup_string(std::string_view s) noexcept;

// Maps the exception in flight to an error (called from catch (...) only).
Error current_exception_error() noexcept;

// Runs `body` (returning int) with no exception escaping into C.
template <typename F>
int guarded(hg_error* err, F&& body) noexcept {
  try {
    return body();
  } catch (...) {
    return fail(err, current_exception_error());
  }
}

// `s` as a string ("" for NULL).
inline std::string str_or_empty(const char* s) { return s ? std::string(s) : std::string(); }

}  // namespace hg::capi
