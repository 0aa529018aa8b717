// SPDX-License-Identifier: Apache-2.0
// Prints the desktop settings table (hybrid/settings.hpp) as JSON, one object per row, for
// check_front_ends.py: the table is the fact the front ends are checked against.
#include <iostream>
#include <nlohmann/json.hpp>

#include "hybrid/settings.hpp"

int main() {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& s : hg::hybrid::desktop_settings()) {
    rows.push_back({{"key", s.key}, {"env", s.env}, {"c_setter", s.c_setter}, {"default", s.default_text}, {"doc", s.doc}});
  }
  std::cout << rows.dump(1) << "\n";
}
