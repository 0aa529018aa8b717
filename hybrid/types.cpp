// SPDX-License-Identifier: Apache-2.0
#include "hybrid/types.hpp"

namespace hg::hybrid {

std::string_view to_string(Stage s) {
  switch (s) {
    case Stage::qr_shown: return "qr_shown";
    case Stage::scanning: return "scanning";
    case Stage::phone_found: return "phone_found";
    case Stage::tunnel_connected: return "tunnel_connected";
    case Stage::secure_channel: return "secure_channel";
    case Stage::waiting_for_user: return "waiting_for_user";
    case Stage::done: return "done";
    case Stage::tunnel_opened: return "tunnel_opened";
    case Stage::advertising: return "advertising";
    case Stage::desktop_connected: return "desktop_connected";
    case Stage::request_served: return "request_served";
    case Stage::listening: return "listening";
    case Stage::woken: return "woken";
    case Stage::reconnecting: return "reconnecting";
  }
  return "unknown";
}

}  // namespace hg::hybrid
