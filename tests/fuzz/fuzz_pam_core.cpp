// SPDX-License-Identifier: Apache-2.0
// What pam_hybridgate.so (root, for sudo/login) reads from places others control, through
// bridges/pam/pam_core: the authfile (a user's own file) and the phone's answers. The first
// byte picks what the rest is taken as:
//   0      an authfile                          (parse_authfile, credentials_of)
//   1      a makeCredential answer at enrolment (parse_make_credential_response)
//   2 / 3  a getAssertion answer at sign-in, UV not required / required (verify_assertion)
// Oracles: every parsed authfile line formats back (format_line) to a line that parses to the
// same credential; an enrolled credential holds a canonical ES256 COSE key; a verified assertion
// names a credential of the allow list with a rising counter and UV when required; and, once per
// process, an answer signed by OpenSSL with the stored key verifies while the same answer with
// a stale counter or another key is refused.
#include <cstddef>
#include <cstdint>

#include "bridges/pam/pam_core.hpp"
#include "proto/cbor.hpp"
#include "proto/crypto.hpp"
#include "proto/ctap.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {
using namespace hg;

constexpr std::string_view kRp = hgpam::kDefaultRpId;

bool same(const hgpam::Credential& a, const hgpam::Credential& b) {
  return a.user == b.user && a.id == b.id && a.cose_key == b.cose_key && a.counter == b.counter && a.flags == b.flags;
}

const crypto::P256Key& fixed_key() {
  static const crypto::P256Key key =
      std::move(crypto::P256Key::from_private(fuzz::unhex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"))).value();
  return key;
}

hgpam::Credential stored(uint32_t counter) {
  hgpam::Credential c;
  c.user = "alice";
  c.id = Bytes(16, 0xAB);
  c.cose_key = cbor::encode(cbor::Value(ctap::cose_es256_encode(fixed_key().public_uncompressed())));
  c.counter = counter;
  c.flags = "up";
  return c;
}

Bytes signed_answer(const crypto::P256Key& key, ByteView cdh, uint32_t counter) {
  ctap::AuthenticatorData ad;
  ad.rp_id_hash = crypto::sha256(as_bytes(kRp));
  ad.flags = ctap::flags::up;
  ad.sign_count = counter;
  ctap::GetAssertionResponse r;
  r.credential = ctap::CredentialDescriptor{std::string(ctap::kPublicKeyType), Bytes(16, 0xAB), std::nullopt};
  r.auth_data = ad.encode();
  Bytes msg = r.auth_data;
  msg.insert(msg.end(), cdh.begin(), cdh.end());
  r.signature = key.sign_sha256(msg);
  return ctap::encode_response(r);
}

void round_trip() {
  const Bytes cdh(32, 0x42);
  const std::vector<hgpam::Credential> allow{stored(7)};
  auto ok = hgpam::verify_assertion(signed_answer(fixed_key(), cdh, 8), kRp, cdh, allow, false);
  HG_FUZZ_CHECK(ok.ok() && ok->index == 0 && ok->counter == 8);
  HG_FUZZ_CHECK(!hgpam::verify_assertion(signed_answer(fixed_key(), cdh, 7), kRp, cdh, allow, false).ok());
  const auto other = crypto::P256Key::generate();
  HG_FUZZ_CHECK(!hgpam::verify_assertion(signed_answer(other, cdh, 8), kRp, cdh, allow, false).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool checked = (round_trip(), true);
  (void)checked;
  if (size == 0) return 0;
  const ByteView in(data + 1, size - 1);
  switch (data[0]) {
    case 0: {
      auto all = hgpam::parse_authfile(fuzz::as_text(in.data(), in.size()));
      if (!all) break;
      for (const auto& c : *all) {
        auto again = hgpam::parse_authfile(hgpam::format_line(c));
        HG_FUZZ_CHECK(again.ok() && again->size() == 1 && same((*again)[0], c));
        HG_FUZZ_CHECK(hgpam::valid_user_name(c.user));
      }
      if (!all->empty()) {
        const auto mine = hgpam::credentials_of(*all, (*all)[0].user);
        HG_FUZZ_CHECK(!mine.empty() && mine.size() <= all->size());
      }
      break;
    }
    case 1: {
      auto c = hgpam::parse_make_credential_response(in, kRp, "alice");
      if (!c) break;
      HG_FUZZ_CHECK(!c->id.empty() && c->user == "alice" && (c->flags == "up" || c->flags == "up+uv"));
      auto key = cbor::decode(c->cose_key);
      HG_FUZZ_CHECK(key.ok() && key->is_map() && ctap::cose_es256_parse(key->as_map()).ok());
      break;
    }
    case 2:
    case 3: {
      const Bytes cdh(32, 0x42);
      const std::vector<hgpam::Credential> allow{stored(5), stored(0)};
      const bool uv = data[0] == 3;
      auto v = hgpam::verify_assertion(in, kRp, cdh, allow, uv);
      if (!v) break;
      HG_FUZZ_CHECK(v->index < allow.size());
      HG_FUZZ_CHECK(v->counter > allow[v->index].counter || (v->counter == 0 && allow[v->index].counter == 0));
      HG_FUZZ_CHECK(!uv || v->user_verified);
      break;
    }
    default:
      break;
  }
  return 0;
}
