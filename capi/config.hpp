// SPDX-License-Identifier: Apache-2.0
// hg_config: the desktop's and the phone's configuration, kept as the C++ façades take it.
#pragma once

#include "capi/common.hpp"
#include "hybrid/desktop.hpp"
#include "hybrid/phone.hpp"

struct hg_config {
  // Which side the configuration is for: both (hg_config_new, 0.1) or one (hg_config_new_desktop,
  // hg_config_new_phone), whose other side's setters fail.
  enum class Side { both, desktop, phone } side = Side::both;
  hg::hybrid::DesktopConfig desktop;
  hg::hybrid::PhoneConfig phone;
};

namespace hg::capi {
// HG_OK, or "invalid_argument" when cfg is for the other side than `setting` belongs to.
int check_side(const hg_config* cfg, hg_config::Side setting_side, const char* setting, hg_error* err);
}  // namespace hg::capi
