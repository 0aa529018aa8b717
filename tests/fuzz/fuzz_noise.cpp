// SPDX-License-Identifier: Apache-2.0
// Noise handshakes on arbitrary messages, with the keys of the vectors (deterministic: every
// ephemeral key is fixed):
//  * KNpsk0 and NKpsk0 responders: respond(msg1);
//  * KNpsk0 and NKpsk0 initiators: write_message1, then read_message2(msg2);
//  * an input of exactly 64 bytes is also read as two ephemeral scalars for a full handshake of
//    each pattern, whose two sides must agree on the keys and the handshake hash.
#include <cstddef>
#include <cstdint>

#include "proto/noise.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {
using hg::crypto::P256Key;

P256Key key_of(std::string_view hex) {
  auto k = P256Key::from_private(hg::fuzz::unhex(hex));
  HG_FUZZ_CHECK(k.ok());
  return std::move(k).value();
}

struct Fixed {
  P256Key desktop_identity = key_of(hg::fuzz::kn::kDesktopIdentityPriv);
  P256Key phone_identity = key_of(hg::fuzz::nk::kPhoneIdentityPriv);
  hg::crypto::P256Public phone_identity_public =
      *hg::crypto::P256Public::parse(phone_identity.public_uncompressed());
  hg::Psk kn_psk = hg::fuzz::unhex_fixed<32>(hg::fuzz::kn::kPsk);
  hg::Psk nk_psk = hg::fuzz::unhex_fixed<32>(hg::fuzz::nk::kPsk);
};
const Fixed& fixed() {
  static const Fixed f;
  return f;
}

bool agree(const hg::noise::TrafficKeys& initiator, const hg::noise::TrafficKeys& responder) {
  return initiator.write_key.bytes() == responder.read_key.bytes() &&
         initiator.read_key.bytes() == responder.write_key.bytes() &&
         initiator.handshake_hash == responder.handshake_hash && initiator.write_key.size() == 32 &&
         initiator.read_key.size() == 32;
}

void full_handshake(hg::noise::Pattern pattern, hg::ByteView init_scalar, hg::ByteView resp_scalar) {
  using namespace hg;
  auto ie = P256Key::from_private(init_scalar);
  auto re = P256Key::from_private(resp_scalar);
  if (!ie || !re) return;
  const Fixed& f = fixed();
  if (pattern == noise::Pattern::KNpsk0) {
    auto init = noise::Initiator::kn(f.desktop_identity, f.kn_psk);
    const Bytes m1 = init.write_message1(std::move(ie).value());
    HG_FUZZ_CHECK(m1.size() == noise::kMessageSize);
    auto resp = noise::Responder::kn(f.desktop_identity.public_compressed(), f.kn_psk);
    HG_FUZZ_CHECK(resp.ok());
    auto out = resp->respond(m1, std::move(re).value());
    HG_FUZZ_CHECK(out.ok() && out->message2.size() == noise::kMessageSize);
    auto keys = init.read_message2(out->message2);
    HG_FUZZ_CHECK(keys.ok() && agree(*keys, out->keys));
  } else {
    auto init = noise::Initiator::nk(f.phone_identity_public, f.nk_psk);
    const Bytes m1 = init.write_message1(std::move(ie).value());
    auto resp = noise::Responder::nk(f.phone_identity, f.nk_psk);
    auto out = resp.respond(m1, std::move(re).value());
    HG_FUZZ_CHECK(out.ok() && out->message2.size() == noise::kMessageSize);
    auto keys = init.read_message2(out->message2);
    HG_FUZZ_CHECK(keys.ok() && agree(*keys, out->keys));
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hg;
  const ByteView msg(data, size);
  const Fixed& f = fixed();
  const bool right_size = size == noise::kMessageSize;

  // respond() and read_message2() check the length, then parse the peer's ephemeral point, and
  // return before any other work when either is wrong. Fixed ephemeral keys (a scalar
  // multiplication each) are therefore built only when the point is valid: for other inputs
  // passing none is exactly equivalent, and several times faster.
  const bool valid_point = right_size && crypto::P256Public::parse(msg.first(65)).ok();
  auto ephemeral = [&](std::string_view hex) {
    return valid_point ? std::optional<P256Key>(key_of(hex)) : std::nullopt;
  };

  // Responders.
  {
    auto kn = noise::Responder::kn(f.desktop_identity.public_uncompressed(), f.kn_psk);
    HG_FUZZ_CHECK(kn.ok());
    auto out = kn->respond(msg, ephemeral(fuzz::kn::kResponderEphemeral));
    if (!right_size) HG_FUZZ_CHECK(!out.ok() && out.error().code == Errc::noise_length);
    if (right_size && !valid_point) HG_FUZZ_CHECK(!out.ok() && out.error().code == Errc::noise_key);
    if (out) HG_FUZZ_CHECK(out->message2.size() == noise::kMessageSize);
  }
  {
    auto nk = noise::Responder::nk(f.phone_identity, f.nk_psk);
    auto out = nk.respond(msg, ephemeral(fuzz::nk::kResponderEphemeral));
    if (!right_size) HG_FUZZ_CHECK(!out.ok() && out.error().code == Errc::noise_length);
    if (right_size && !valid_point) HG_FUZZ_CHECK(!out.ok() && out.error().code == Errc::noise_key);
    if (out) HG_FUZZ_CHECK(out->message2.size() == noise::kMessageSize);
  }

  // Initiators: message 1 costs two scalar multiplications, so with an invalid point (rejected
  // right away by read_message2) only one input in 16 (by its last byte) takes this path.
  if (valid_point || (right_size && data[size - 1] % 16 == 0)) {
    auto kn = noise::Initiator::kn(f.desktop_identity, f.kn_psk);
    (void)kn.write_message1(key_of(fuzz::kn::kInitiatorEphemeral));
    auto k1 = kn.read_message2(msg);
    if (!valid_point) HG_FUZZ_CHECK(!k1.ok() && k1.error().code == Errc::noise_key);
    auto nk = noise::Initiator::nk(f.phone_identity_public, f.nk_psk);
    (void)nk.write_message1(key_of(fuzz::nk::kInitiatorEphemeral));
    auto k2 = nk.read_message2(msg);
    if (!valid_point) HG_FUZZ_CHECK(!k2.ok() && k2.error().code == Errc::noise_key);
  }

  if (size == 64) {
    full_handshake(noise::Pattern::KNpsk0, msg.first(32), msg.subspan(32));
    full_handshake(noise::Pattern::NKpsk0, msg.first(32), msg.subspan(32));
  }
  return 0;
}
