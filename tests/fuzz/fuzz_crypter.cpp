// SPDX-License-Identifier: Apache-2.0
// Post-handshake transport: Crypter::decrypt of arbitrary ciphertexts with the session keys of
// the vectors (at the counters the vectors use), unpad_message and decode_frame of arbitrary
// plaintexts, and an encrypt -> decrypt round trip of the input (which must then not decrypt a
// second time: the counter moved on).
#include <cstddef>
#include <cstdint>

#include "proto/crypter.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {
struct Keys {
  hg::Bytes phone_write = hg::fuzz::unhex(hg::fuzz::kPhoneWriteKey);
  hg::Bytes desktop_write = hg::fuzz::unhex(hg::fuzz::kDesktopWriteKey);
};
const Keys& keys() {
  static const Keys k;
  return k;
}
hg::Crypter desktop() { return hg::Crypter(hg::SecretBytes(keys().phone_write), hg::SecretBytes(keys().desktop_write)); }
hg::Crypter phone() { return hg::Crypter(hg::SecretBytes(keys().desktop_write), hg::SecretBytes(keys().phone_write)); }

void check_frame(hg::ByteView plain) {
  auto f = hg::decode_frame(plain);
  if (!f) {
    HG_FUZZ_CHECK(plain.empty() || plain[0] > 3);
    return;
  }
  (void)hg::to_string(f->type);
  HG_FUZZ_CHECK(hg::fuzz::same(hg::encode_frame(f->type, f->payload), plain));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hg;
  const ByteView in(data, size);

  // Plaintext-side parsers.
  if (auto u = unpad_message(in)) {
    HG_FUZZ_CHECK(u->size() + size_t(data[size - 1]) + 1 == size);
    HG_FUZZ_CHECK(fuzz::same(*u, in.first(u->size())));
  }
  check_frame(in);
  const Bytes padded = pad_message(in);
  HG_FUZZ_CHECK(padded.size() % kPaddingGranularity == 0 && padded.size() > size);
  auto unpadded = unpad_message(padded);
  HG_FUZZ_CHECK(unpadded.ok() && fuzz::same(*unpadded, in));

  // Decrypt as the desktop (phone -> desktop, counters 0..2) and as the phone (counters 0..1).
  for (uint32_t ctr = 0; ctr < 3; ++ctr) {
    Crypter d = desktop();
    d.set_counters_for_testing(ctr, 0);
    if (auto p = d.decrypt(in)) {
      HG_FUZZ_CHECK(d.read_counter() == ctr + 1);
      check_frame(*p);
    } else {
      HG_FUZZ_CHECK(d.read_counter() == ctr);
    }
  }
  for (uint32_t ctr = 0; ctr < 2; ++ctr) {
    Crypter p = phone();
    p.set_counters_for_testing(ctr, 0);
    if (auto plain = p.decrypt(in)) check_frame(*plain);
  }

  // Round trip desktop -> phone, then a replay must fail.
  Crypter d = desktop(), p = phone();
  auto ct = d.encrypt(in);
  HG_FUZZ_CHECK(ct.ok() && ct->size() == padded.size() + 16);
  auto back = p.decrypt(*ct);
  HG_FUZZ_CHECK(back.ok() && fuzz::same(*back, in));
  HG_FUZZ_CHECK(!p.decrypt(*ct).ok());

  // An exhausted counter refuses to work.
  Crypter x = desktop();
  x.set_counters_for_testing(kMaxCrypterCounter + 1, kMaxCrypterCounter + 1);
  auto e1 = x.decrypt(in);
  auto e2 = x.encrypt(in);
  HG_FUZZ_CHECK(!e1.ok() && e1.error().code == Errc::crypter_exhausted);
  HG_FUZZ_CHECK(!e2.ok() && e2.error().code == Errc::crypter_exhausted);
  return 0;
}
