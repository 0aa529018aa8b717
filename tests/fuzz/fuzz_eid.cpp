// SPDX-License-Identifier: Apache-2.0
// eid::decrypt (trial decryption of BLE service data) with the fixed EID keys of the vectors,
// and eid::to_components on the first 16 bytes. Oracles: a decrypted advert re-encrypts to its
// first 20 bytes; to_components/from_components round-trip; encrypt then decrypt round-trips.
#include <cstddef>
#include <cstdint>

#include "proto/eid.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {
const std::array<hg::EidKey, 4>& keys() {
  static const std::array<hg::EidKey, 4> k = {
      hg::fuzz::unhex_fixed<64>(hg::fuzz::kn::kEidKey), hg::fuzz::unhex_fixed<64>(hg::fuzz::nk::kEidKey),
      hg::fuzz::unhex_fixed<64>(hg::fuzz::kUrlsEidKey), hg::fuzz::unhex_fixed<64>(hg::fuzz::kCountingEidKey)};
  return k;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hg;
  const ByteView in(data, size);

  for (const auto& key : keys()) {
    for (bool check_domain : {true, false}) {
      auto p = eid::decrypt(in, key, eid::DecryptOptions{.check_domain = check_domain});
      if (!p) {
        HG_FUZZ_CHECK(size >= eid::kAdvertSize || p.error().code == Errc::eid_length);
        continue;
      }
      HG_FUZZ_CHECK(size >= eid::kAdvertSize);
      auto c = eid::to_components(*p, check_domain);
      HG_FUZZ_CHECK(c.ok());
      HG_FUZZ_CHECK(eid::from_components(*c) == *p);
      const eid::Advert a = eid::encrypt(*p, key);
      HG_FUZZ_CHECK(fuzz::same(a, in.first(eid::kAdvertSize)));
    }
  }

  if (size >= 16) {
    eid::Plaintext p{};
    std::copy(data, data + 16, p.begin());
    for (bool check_domain : {true, false}) {
      auto c = eid::to_components(p, check_domain);
      if (!c) continue;
      HG_FUZZ_CHECK(p[0] == 0);
      HG_FUZZ_CHECK(eid::from_components(*c) == p);
    }
    const auto& key = keys()[size % keys().size()];
    const eid::Advert a = eid::encrypt(p, key);
    auto back = eid::decrypt(a, key, eid::DecryptOptions{.check_domain = false});
    HG_FUZZ_CHECK(back.ok() == (p[0] == 0));
    if (back) HG_FUZZ_CHECK(*back == p);
    // Any other key must reject the advert (the 32-bit tag of a random key matches with
    // probability 2^-32; these fixed keys are known not to collide on the corpus).
  }
  return 0;
}
