// SPDX-License-Identifier: Apache-2.0
// Access to tests/vectors/vectors.json for the tests, and the record of which entries were
// checked (see test_vector_coverage.cpp).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "proto/bytes.hpp"

namespace hgtest {

using json = nlohmann::json;

const json& all_vectors();
// All entries of one kind; marks them as applied.
std::vector<json> vectors_of(const std::string& kind);
// Kinds that some test has asked for.
const std::vector<std::string>& applied_kinds();

inline hg::Bytes unhex(const std::string& s) {
  auto r = hg::hex_decode(s);
  if (!r) throw std::runtime_error("bad hex in test vector: " + s);
  return *r;
}
inline std::string hex(hg::ByteView b) { return hg::hex_encode(b); }

}  // namespace hgtest
