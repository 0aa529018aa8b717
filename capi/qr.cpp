// SPDX-License-Identifier: Apache-2.0
// hg_qr_terminal: a FIDO:/ URL as a QR code in UTF-8 half blocks (hg::qr), for bridges that draw
// it on a terminal themselves (the OpenSSH provider on /dev/tty, PAM conversations, Python).
#include "capi/common.hpp"
#include "qr/render.hpp"

using hg::Errc;
using hg::capi::dup_string;
using hg::capi::fail;
using hg::capi::guarded;

extern "C" {

int hg_qr_terminal(const char* text, int dark_on_light, char** text_out, hg_error* err) {
  if (text_out != nullptr) *text_out = nullptr;
  return guarded(err, [&] {
    if (text_out == nullptr) return fail(err, Errc::invalid_argument, "the out-pointer is NULL");
    if (text == nullptr || *text == '\0') return fail(err, Errc::invalid_argument, "the text is empty");
    auto m = hg::qr::encode(text);
    if (!m.ok()) return fail(err, m.error());
    char* s = dup_string(hg::qr::to_terminal(*m, {.quiet_zone = 2, .light_on_dark = dark_on_light == 0}));
    if (s == nullptr) return fail(err, Errc::internal, "out of memory");
    *text_out = s;
    return HG_OK;
  });
}

}  // extern "C"
