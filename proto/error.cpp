// SPDX-License-Identifier: Apache-2.0
#include "proto/error.hpp"

namespace hg {

std::string_view errc_name(Errc c) noexcept {
  switch (c) {
#define HG_X(e, n, s) \
  case Errc::e:       \
    return n;
    HG_ERROR_CODES(HG_X)
#undef HG_X
  }
  return "internal";
}

std::string_view errc_sentence(Errc c) noexcept {
  switch (c) {
#define HG_X(e, n, s) \
  case Errc::e:       \
    return s;
    HG_ERROR_CODES(HG_X)
#undef HG_X
  }
  return "An internal error occurred.";
}

std::string Error::to_string() const {
  std::string s(name());
  s += ": ";
  s += sentence();
  if (!detail.empty()) {
    s += " (";
    s += detail;
    s += ")";
  }
  return s;
}

}  // namespace hg
