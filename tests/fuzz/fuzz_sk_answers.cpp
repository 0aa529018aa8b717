// SPDX-License-Identifier: Apache-2.0
// What reads the phone's answers for the OpenSSH provider, on arbitrary bytes: libhybridgate's raw
// CTAP readers (capi/ctap.cpp, compiled in: hg_ctap_read_credential, hg_ctap_read_assertion,
// hg_ctap_info_offers) and the provider's own conversions (bridges/ssh/sk_core). The first byte
// picks what the rest is taken as:
//   0 / 1  a makeCredential answer for an ECDSA / Ed25519 key   (hg_ctap_read_credential)
//   2 / 3  a getAssertion answer with / without an expected key  (hg_ctap_read_assertion, then
//          ssh_signature for both key types and p256_key_candidates)
//   4      a getInfo map                                          (hg_ctap_info_offers)
//   other  a signature: ssh_signature and p256_key_candidates over a fixed assertion
// Oracles: what is read satisfies the header's promises (key sizes and forms, the credential
// asked for, r and s of at most 32 bytes without leading zeros, candidates on the curve); and
// on every input, a signature made with a fixed key (OpenSSL) over a fixed assertion is recovered
// to exactly that key by p256_key_candidates + p256_key_verifying_both, and the provider's
// requests decode with the project's strict CTAP request decoders.
#include <cstddef>
#include <cstdint>

#include "bridges/ssh/sk_core.hpp"
#include "hybridgate/hybridgate.h"
#include "proto/crypto.hpp"
#include "proto/ctap.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {
using namespace hg;

constexpr std::string_view kApp = "ssh:";

void check_signature(ByteView sig) {
  for (auto type : {hgsk::KeyType::ecdsa_p256, hgsk::KeyType::ed25519}) {
    auto s = hgsk::ssh_signature(type, sig);
    if (!s) continue;
    if (type == hgsk::KeyType::ed25519) {
      HG_FUZZ_CHECK(s->r.size() == 64 && s->s.empty());
    } else {
      HG_FUZZ_CHECK(!s->r.empty() && s->r.size() <= 32 && s->r[0] != 0);
      HG_FUZZ_CHECK(!s->s.empty() && s->s.size() <= 32 && s->s[0] != 0);
    }
  }
}

template <typename T>
Bytes bytes_of(void (*accessor)(const T*, const uint8_t**, size_t*), const T* object) {
  const uint8_t* p = nullptr;
  size_t n = 0;
  accessor(object, &p, &n);
  return n ? Bytes(p, p + n) : Bytes();
}

void check_candidates(const hgsk::Signed& a, ByteView cdh) {
  const auto candidates = hgsk::p256_key_candidates(a, cdh);
  HG_FUZZ_CHECK(candidates.size() <= 2);
  for (const Bytes& c : candidates) HG_FUZZ_CHECK(c.size() == 65 && c[0] == 0x04 && crypto::P256Public::parse(c).ok());
  // Nothing verifies a second, unrelated assertion with an arbitrary signature by chance.
  (void)hgsk::p256_key_verifying_both(candidates, a, cdh, a, cdh);
}

// The independent round trip: OpenSSL signs with a fixed key; recovery must find that key.
void recovery_round_trip() {
  static const crypto::P256Key key =
      std::move(crypto::P256Key::from_private(fuzz::unhex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"))).value();
  static const Bytes cdh1(32, 0x11), cdh2(32, 0x22);
  hgsk::Signed a, b;
  a.auth_data = b.auth_data = Bytes(37, 0x05);
  b.auth_data[36] = 0x06;
  Bytes m1 = a.auth_data, m2 = b.auth_data;
  m1.insert(m1.end(), cdh1.begin(), cdh1.end());
  m2.insert(m2.end(), cdh2.begin(), cdh2.end());
  a.signature = key.sign_sha256(m1);
  b.signature = key.sign_sha256(m2);
  const auto found = hgsk::p256_key_verifying_both(hgsk::p256_key_candidates(a, cdh1), a, cdh1, b, cdh2);
  const auto& want = key.public_uncompressed();
  HG_FUZZ_CHECK(found && *found == Bytes(want.begin(), want.end()));
}

// The requests the provider sends (through the library) decode with the strict CTAP decoders.
Bytes take(uint8_t* p, size_t n) {
  Bytes out(p, p + n);
  hg_free(p);
  return out;
}

void requests_decode(ByteView input) {
  const Bytes cdh = hgsk::sha256(input);
  const std::string user(std::min<size_t>(input.size(), 8), 'u');
  const Bytes uid = hgsk::openssh_user_id(user);
  for (auto type : {hgsk::KeyType::ecdsa_p256, hgsk::KeyType::ed25519}) {
    uint8_t* req = nullptr;
    size_t len = 0;
    HG_FUZZ_CHECK(hg_ctap_make_credential_request("ssh:", "OpenSSH ssh:", cdh.data(), uid.data(), uid.size(), user.c_str(),
                                                  user.c_str(), hgsk::cose_alg(type), nullptr, HG_CTAP_RESIDENT_KEY, &req,
                                                  &len, nullptr) == HG_OK);
    auto mc = ctap::decode_make_credential_request(take(req, len));
    HG_FUZZ_CHECK(mc.ok() && mc->rp.id == kApp && mc->pub_key_cred_params.size() == 1 &&
                  mc->pub_key_cred_params[0].alg == hgsk::cose_alg(type) && mc->user.id.size() == hgsk::kOpenSshUserIdLen &&
                  mc->options.rk == true);
  }
  const Bytes id(input.begin(), input.begin() + std::min<size_t>(input.size(), 64));
  if (id.empty()) return;
  const uint8_t* ids[] = {id.data()};
  const size_t lens[] = {id.size()};
  const hg_id_list list{ids, lens, 1};
  uint8_t* req = nullptr;
  size_t len = 0;
  HG_FUZZ_CHECK(hg_ctap_get_assertion_request("ssh:", cdh.data(), &list, HG_CTAP_NO_USER_PRESENCE | HG_CTAP_USER_VERIFICATION,
                                              &req, &len, nullptr) == HG_OK);
  auto ga = ctap::decode_get_assertion_request(take(req, len));
  HG_FUZZ_CHECK(ga.ok() && ga->rp_id == kApp && ga->allow_list && ga->allow_list->size() == 1 &&
                (*ga->allow_list)[0].id == id && ga->options.up == false && ga->options.uv == true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const ByteView in(data + 1, size - 1);
  const Bytes app_hash = hgsk::sha256(ByteView(as_bytes(kApp)));
  switch (data[0]) {
    case 0:
    case 1: {
      const auto type = data[0] == 0 ? hgsk::KeyType::ecdsa_p256 : hgsk::KeyType::ed25519;
      hg_credential* raw = nullptr;
      if (hg_ctap_read_credential(in.data(), in.size(), "ssh:", hgsk::cose_alg(type), &raw, nullptr) != HG_OK) {
        HG_FUZZ_CHECK(raw == nullptr);
        break;
      }
      HG_FUZZ_CHECK(!bytes_of(hg_credential_id, raw).empty());
      const Bytes pub = bytes_of(hg_credential_public_key, raw);
      if (type == hgsk::KeyType::ecdsa_p256)
        HG_FUZZ_CHECK(pub.size() == 65 && crypto::P256Public::parse(pub).ok());
      else
        HG_FUZZ_CHECK(pub.size() == 32);
      auto ad = ctap::AuthenticatorData::parse(bytes_of(hg_credential_auth_data, raw));
      HG_FUZZ_CHECK(ad.ok() && Bytes(ad->rp_id_hash.begin(), ad->rp_id_hash.end()) == app_hash &&
                    ad->flags == hg_credential_flags(raw) && ad->user_present());
      hg_credential_free(&raw);
      HG_FUZZ_CHECK(raw == nullptr);
      break;
    }
    case 2:
    case 3: {
      const Bytes expected(16, 0xAB);
      const uint8_t* ids[] = {expected.data()};
      const size_t lens[] = {expected.size()};
      const hg_id_list list{ids, lens, 1};
      hg_assertion* raw = nullptr;
      if (hg_ctap_read_assertion(in.data(), in.size(), "ssh:", data[0] == 2 ? &list : nullptr, &raw, nullptr) != HG_OK) {
        HG_FUZZ_CHECK(raw == nullptr);
        break;
      }
      const Bytes sig = bytes_of(hg_assertion_signature, raw), id = bytes_of(hg_assertion_credential_id, raw);
      HG_FUZZ_CHECK(!sig.empty() && !id.empty() && hg_assertion_count(raw) >= 1 && hg_assertion_count(raw) <= 64);
      if (data[0] == 2) HG_FUZZ_CHECK(id == expected && hg_assertion_allow_index(raw) == 0);
      check_signature(sig);
      check_candidates(hgsk::Signed{bytes_of(hg_assertion_auth_data, raw), sig}, Bytes(32, 0x11));
      hg_assertion_free(&raw);
      break;
    }
    case 4:
      (void)hg_ctap_info_offers(in.data(), in.size(), HG_COSE_EDDSA);
      // Whatever the phone lists, ES256 is assumed when the list is missing or unreadable, and
      // a readable list is believed: never both refused and missing.
      if (!ctap::decode_get_info(in).ok()) HG_FUZZ_CHECK(hg_ctap_info_offers(in.data(), in.size(), HG_COSE_ES256) == 1);
      break;
    default: {
      check_signature(in);
      hgsk::Signed a;
      a.auth_data = Bytes(37, 0x05);
      a.signature.assign(in.begin(), in.end());
      check_candidates(a, Bytes(32, 0x11));
      break;
    }
  }
  static const bool recovered = (recovery_round_trip(), true);  // once per process: it is deterministic
  (void)recovered;
  requests_decode(in);
  return 0;
}
