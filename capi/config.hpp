// SPDX-License-Identifier: Apache-2.0
// hg_config: the desktop's and the phone's configuration, kept as the C++ façades take it.
#pragma once

#include "capi/common.hpp"
#include "hybrid/desktop.hpp"
#include "hybrid/phone.hpp"

struct hg_config {
  hg::hybrid::DesktopConfig desktop;
  hg::hybrid::PhoneConfig phone;
};
