// SPDX-License-Identifier: Apache-2.0
// hg_version, hg_error_sentence, hg_free and the helpers of capi/common.hpp.
#include "capi/common.hpp"

#include <cstdlib>
#include <cstring>
#include <system_error>

// The project version comes from CMake (project(... VERSION)); the header's macros must agree.
#ifndef HG_PROJECT_VERSION
#error "HG_PROJECT_VERSION must be defined by the build"
#endif
static_assert(HG_VERSION_MAJOR == HG_PROJECT_VERSION_MAJOR && HG_VERSION_MINOR == HG_PROJECT_VERSION_MINOR &&
                  HG_VERSION_PATCH == HG_PROJECT_VERSION_PATCH,
              "include/hybridgate/hybridgate.h's HG_VERSION_* differ from the project version in CMakeLists.txt");

namespace hg::capi {

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
  if (err == nullptr) return;
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

}  // extern "C"
