// SPDX-License-Identifier: Apache-2.0
#include <fstream>
#include <mutex>
#include <stdexcept>

#include "vectors.hpp"

namespace hgtest {

const json& all_vectors() {
  static const json v = [] {
    std::ifstream f(HG_VECTORS_PATH);
    if (!f) throw std::runtime_error("cannot open " + std::string(HG_VECTORS_PATH));
    return json::parse(f);
  }();
  return v;
}

static std::vector<std::string>& applied() {
  static std::vector<std::string> a;
  return a;
}

std::vector<json> vectors_of(const std::string& kind) {
  std::vector<json> out;
  for (const auto& e : all_vectors())
    if (e.at("kind") == kind) out.push_back(e);
  if (out.empty()) throw std::runtime_error("no vectors of kind " + kind);
  applied().push_back(kind);
  return out;
}

const std::vector<std::string>& applied_kinds() { return applied(); }

}  // namespace hgtest
