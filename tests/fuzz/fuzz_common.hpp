// SPDX-License-Identifier: Apache-2.0
// Shared helpers of the libFuzzer targets: fixed keys from tests/vectors/vectors.json (as hex
// constants, so the binaries need no file at run time) and an oracle check that aborts, which
// libFuzzer reports as a crash together with the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "proto/bytes.hpp"

#define HG_FUZZ_CHECK(cond)                                                              \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: oracle failed: %s\n", __FILE__, __LINE__, #cond);    \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace hg::fuzz {

// Hex of a compile-time constant; a typo is a programming error, so abort.
inline Bytes unhex(std::string_view s) {
  auto r = hex_decode(s);
  HG_FUZZ_CHECK(r.ok());
  return std::move(r).value();
}

template <size_t N>
std::array<uint8_t, N> unhex_fixed(std::string_view s) {
  auto r = hex_decode_fixed<N>(s);
  HG_FUZZ_CHECK(r.ok());
  return *r;
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

inline bool same(ByteView a, ByteView b) { return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()); }

// vectors.json "noise_knpsk0_qr" (QR flow) and "noise_nkpsk0_linked" (linked flow).
namespace kn {
inline constexpr std::string_view kDesktopIdentityPriv = "5cb95a87ceaaae2635ff47b44ba90165a845191589b9b909ea5a15c2cdb74e63";
inline constexpr std::string_view kPsk = "1977cf10e89a7db3a9c443e393b55899c6910ac4ca46894cd9119079088961b7";
inline constexpr std::string_view kInitiatorEphemeral = "620be318ccfe9b1685ba2954a24c1b57f2cec0e57e5e2e0ae7c831e91d14309f";
inline constexpr std::string_view kResponderEphemeral = "4f59b20a2e70ef843c89814a5b15c851882fccafd2ffbde0f825b60d0f90f5ae";
inline constexpr std::string_view kEidKey =
    "acde5ff100311858a9933c7d32796de5b6968e80f037267209d13174f7cae24e9922587e785d8db6b313b601d5717895f3424f223cffaf7f2eca7c3fc4c5ab38";
}  // namespace kn
namespace nk {
inline constexpr std::string_view kPhoneIdentityPriv = "871816b7ac5ed7328385d0d0d2a252484ac21681deff423ab83f1c6a4ad8426a";
inline constexpr std::string_view kPsk = "260defbc2754e3ba9f596fc10e5b01c36d4f6dd15134d1553129ee4f9dc11620";
inline constexpr std::string_view kInitiatorEphemeral = "1a6c2928271de5762c3254163490da1552b73b21e7897bedbe45a5dc7e99906c";
inline constexpr std::string_view kResponderEphemeral = "9eb23adf4b9e3667fe4749c7c046210c0f74cc279e742b2793f4204633686b40";
inline constexpr std::string_view kEidKey =
    "2e2894ecbdbdb7f519f54f0a80fc138d44e31b885d03f6638fa91022fa67bb6ce728a4a6320fdcbb2f881c2a01f17cda25546b483efaa8f079d5927d39b2a5d3";
}  // namespace nk
// "post_handshake_and_messages": the traffic keys of the QR-flow session.
inline constexpr std::string_view kPhoneWriteKey = "16b64fb1ae9074f433d49d0e757b6063b11223cd3420a224b13de51a4d10e8e0";
inline constexpr std::string_view kDesktopWriteKey = "39b2bed71e018fb54ba7f9962d1d0417b8fa8ea4442b1bfa9cba0952e75b1770";
// "derive_tunnel_id_and_urls" and "advert_decrypt" EID keys.
inline constexpr std::string_view kUrlsEidKey =
    "5bb826f01e9c8344e2fd4eed6f2068c6d73875044660738090642d7cb0d0ad018d8ab27a807018ed049c6e88575f21e620fdb49fed45255499f20d304877897f";
inline constexpr std::string_view kCountingEidKey =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";

}  // namespace hg::fuzz
