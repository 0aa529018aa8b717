// SPDX-License-Identifier: Apache-2.0
// The credential store file's reader (store/credential_store.hpp): parse_seal_header and
// parse_store_text on arbitrary text, plaintext (version 1) and sealed (version 2) with a fixed
// key (scrypt("fuzz", 16 x 0x11, N = 2^4, r = 8, p = 1)) or a fixed TPM-sealed key (32 x 0x22, the
// stand-in blobs 00 04 01 02 03 04 / 00 04 05 06 07 08: the reader never asks a TPM); make_corpus.py
// seals its seeds with the same keys. Oracles: the header and the full reader agree on whether a file is sealed; a file that
// parses re-serialises (in its own format) to text that parses to the same contents.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "store/credential_store.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {

const hg::store::SealKey& fixed_key() {
  static const hg::store::SealKey key = [] {
    hg::store::SealHeader h;
    h.salt = hg::Bytes(16, 0x11);
    h.kdf = hg::crypto::ScryptParams{4, 8, 1};
    auto k = hg::store::derive_seal_key(h, hg::SecretBytes(hg::as_bytes("fuzz")));
    HG_FUZZ_CHECK(k.ok());
    return std::move(k).value();
  }();
  return key;
}

const hg::store::SealKey& fixed_tpm_key() {
  static const hg::store::SealKey key = [] {
    hg::store::SealKey k;
    k.header.kind = hg::store::SealKind::tpm2;
    k.header.tpm_public = hg::Bytes{0, 4, 1, 2, 3, 4};
    k.header.tpm_private = hg::Bytes{0, 4, 5, 6, 7, 8};
    k.key = hg::SecretBytes(hg::Bytes(32, 0x22));
    return k;
  }();
  return key;
}

bool same(const hg::store::StoreContents& a, const hg::store::StoreContents& b) {
  if (a.sealed != b.sealed || a.records.size() != b.records.size() || a.pin.has_value() != b.pin.has_value())
    return false;
  for (size_t i = 0; i < a.records.size(); ++i) {
    const auto &x = a.records[i], &y = b.records[i];
    if (x.credential_id != y.credential_id || x.rp_id != y.rp_id || x.user_id != y.user_id ||
        x.user_name != y.user_name || x.sign_count != y.sign_count || x.alg != y.alg ||
        x.discoverable != y.discoverable || !hg::ct_equal(x.private_key.view(), y.private_key.view()))
      return false;
  }
  if (a.pin && (a.pin->verifier != b.pin->verifier || a.pin->retries != b.pin->retries)) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hg;
  if (size > 1 << 16) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto header = store::parse_seal_header(text);
  const auto& key = header && *header && (*header)->kind == store::SealKind::tpm2 ? fixed_tpm_key() : fixed_key();
  auto without = store::parse_store_text(text, nullptr);
  auto with = store::parse_store_text(text, &key);
  if (!header) {
    HG_FUZZ_CHECK(!without && !with);
    return 0;
  }
  if (!*header) {  // plaintext: the key changes nothing
    HG_FUZZ_CHECK(without.ok() == with.ok());
  } else {
    HG_FUZZ_CHECK(!without);
    HG_FUZZ_CHECK(without.error().code == Errc::store_sealed || without.error().code == Errc::store_corrupt);
  }
  if (!with) return 0;
  HG_FUZZ_CHECK(with->sealed == header->has_value());
  auto text2 = store::serialise_store_text(*with, &key);
  if (!text2) return 0;  // e.g. text that JSON cannot write back (invalid UTF-8 in a name)
  auto again = store::parse_store_text(*text2, &key);
  HG_FUZZ_CHECK(again.ok());
  HG_FUZZ_CHECK(same(*with, *again));
  return 0;
}
