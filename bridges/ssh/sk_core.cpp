// SPDX-License-Identifier: Apache-2.0
#include "bridges/ssh/sk_core.hpp"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "proto/cbor.hpp"
#include "proto/crypto.hpp"
#include "proto/ctap.hpp"

namespace hgsk {
namespace {

using hg::Errc;
using hg::make_error;
namespace ctap = hg::ctap;
namespace cbor = hg::cbor;

hg::Error malformed(const std::string& what) { return make_error(Errc::ctap_invalid, what); }

ctap::ClientDataHash to_cdh(ByteView b) {
  ctap::ClientDataHash out{};
  std::copy_n(b.begin(), std::min(b.size(), out.size()), out.begin());
  return out;
}

bool rp_hash_is(const ctap::AuthenticatorData& ad, std::string_view application) {
  return ad.rp_id_hash == hg::crypto::sha256(hg::as_bytes(application));
}

const Bytes* bytes_at(const cbor::Map& m, std::string_view key) {
  const cbor::Value* v = m.find(key);
  return v && v->is_bytes() ? &v->as_bytes() : nullptr;
}

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;
using EcGroup = std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)>;
using EcPoint = std::unique_ptr<EC_POINT, decltype(&EC_POINT_free)>;
using BnCtx = std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)>;

// A DER ECDSA signature, whole (no trailing bytes), or null.
EcdsaSig parse_der(ByteView der) {
  const unsigned char* p = der.data();
  EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, long(der.size())), ECDSA_SIG_free);
  if (sig && p != der.data() + der.size()) sig.reset();
  return sig;
}

}  // namespace

int64_t cose_alg(KeyType t) { return t == KeyType::ed25519 ? ctap::cose::alg_edDSA : ctap::cose::alg_es256; }

Bytes openssh_user_id(std::string_view user) {
  Bytes id(kOpenSshUserIdLen, 0);
  std::memcpy(id.data(), user.data(), std::min(user.size(), kOpenSshUserIdLen - 1));
  return id;
}

Bytes sha256(ByteView data) {
  const auto d = hg::crypto::sha256(data);
  return Bytes(d.begin(), d.end());
}

bool offers(ByteView get_info, int64_t alg) {
  auto info = ctap::decode_get_info(get_info);
  if (!info || !info->algorithms) return alg == ctap::cose::alg_es256;
  return std::ranges::any_of(*info->algorithms, [&](const auto& p) { return p.alg == alg; });
}

Bytes make_credential_request(std::string_view application, ByteView client_data_hash, std::string_view user,
                              KeyType type, bool resident, bool user_verification) {
  ctap::MakeCredentialRequest r;
  r.client_data_hash = to_cdh(client_data_hash);
  r.rp = ctap::RpEntity{std::string(application), "OpenSSH " + std::string(application)};
  const std::string name = user.empty() ? "openssh" : std::string(user);
  r.user = ctap::UserEntity{openssh_user_id(user), name, name};
  r.pub_key_cred_params = {ctap::CredentialParameters{std::string(ctap::kPublicKeyType), cose_alg(type)}};
  if (resident) r.options.rk = true;
  if (user_verification) r.options.uv = true;
  return ctap::encode_request(r);
}

Bytes get_assertion_request(std::string_view application, ByteView client_data_hash, const Bytes* credential_id,
                            bool user_presence, bool user_verification) {
  ctap::GetAssertionRequest r;
  r.rp_id = std::string(application);
  r.client_data_hash = to_cdh(client_data_hash);
  if (credential_id)
    r.allow_list = std::vector{ctap::CredentialDescriptor{std::string(ctap::kPublicKeyType), *credential_id, std::nullopt}};
  r.options.up = user_presence;
  if (user_verification) r.options.uv = true;
  return ctap::encode_request(r);
}

Bytes get_next_assertion_request() { return Bytes{0x08}; }  // authenticatorGetNextAssertion (CTAP 2.1 §6.3)

Result<Enrolled> read_enrolment(ByteView response, std::string_view application, KeyType type) {
  HG_TRY(auto resp, ctap::decode_make_credential_response(response));
  HG_TRY(auto ad, ctap::AuthenticatorData::parse(resp.auth_data));
  if (!rp_hash_is(ad, application)) return malformed("the RP ID hash is not the application's");
  if (!ad.attested || ad.attested->credential_id.empty()) return malformed("no attested credential data");
  Enrolled e;
  if (type == KeyType::ecdsa_p256) {
    auto key = ctap::cose_es256_parse(ad.attested->public_key);
    if (!key) return malformed("not the P-256 key asked for: " + key.error().detail);
    e.public_key.assign(key->uncompressed().begin(), key->uncompressed().end());
  } else {
    auto key = ctap::cose_eddsa_parse(ad.attested->public_key);
    if (!key) return malformed("not the Ed25519 key asked for: " + key.error().detail);
    e.public_key.assign(key->begin(), key->end());
  }
  e.key_handle = ad.attested->credential_id;
  e.auth_data = resp.auth_data;
  e.flags = ad.flags;
  if (const Bytes* sig = bytes_at(resp.att_stmt, "sig")) e.signature = *sig;
  if (const cbor::Value* x5c = resp.att_stmt.find(std::string_view("x5c"));
      x5c && x5c->is_array() && !x5c->as_array().empty() && x5c->as_array()[0].is_bytes())
    e.certificate = x5c->as_array()[0].as_bytes();
  return e;
}

Result<Assertion> read_assertion(ByteView response, std::string_view application, const Bytes* expected_id) {
  HG_TRY(auto resp, ctap::decode_get_assertion_response(response));
  HG_TRY(auto ad, ctap::AuthenticatorData::parse(resp.auth_data));
  if (!rp_hash_is(ad, application)) return malformed("the RP ID hash is not the application's");
  if (resp.signature.empty()) return malformed("no signature");
  Assertion a;
  if (resp.credential && !resp.credential->id.empty()) {
    a.credential_id = resp.credential->id;
  } else if (expected_id) {
    a.credential_id = *expected_id;
  } else {
    return malformed("no credential ID");
  }
  if (expected_id && a.credential_id != *expected_id) return malformed("another credential answered");
  a.auth_data = std::move(resp.auth_data);
  a.flags = ad.flags;
  a.counter = ad.sign_count;
  a.signature = std::move(resp.signature);
  if (resp.user) a.user_id = resp.user->id;
  if (resp.number_of_credentials && *resp.number_of_credentials > 1 && *resp.number_of_credentials <= 64)
    a.count = size_t(*resp.number_of_credentials);
  return a;
}

Result<SshSignature> ssh_signature(KeyType type, ByteView signature) {
  if (type == KeyType::ed25519) {
    if (signature.size() != 64) return malformed("an Ed25519 signature is not 64 bytes");
    return SshSignature{Bytes(signature.begin(), signature.end()), {}};
  }
  EcdsaSig sig = parse_der(signature);
  if (!sig) return malformed("the ECDSA signature is not DER");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  SshSignature out{Bytes(size_t(BN_num_bytes(r))), Bytes(size_t(BN_num_bytes(s)))};
  BN_bn2bin(r, out.r.data());
  BN_bn2bin(s, out.s.data());
  if (out.r.empty() || out.s.empty() || out.r.size() > 32 || out.s.size() > 32)
    return malformed("ECDSA signature values");
  return out;
}

// Q = r^-1 (sR - eG) for the two points R with x = r (x = r + n has probability ~2^-128 and is
// not tried), with OpenSSL's EC arithmetic.
std::vector<Bytes> p256_key_candidates(const Assertion& a, ByteView client_data_hash) {
  std::vector<Bytes> out;
  EcdsaSig sig = parse_der(a.signature);
  if (!sig) return out;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  EcGroup group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1), EC_GROUP_free);
  BnCtx bn(BN_CTX_new(), BN_CTX_free);
  if (!group || !bn) return out;
  const BIGNUM* n = EC_GROUP_get0_order(group.get());
  Bytes msg = a.auth_data;
  msg.insert(msg.end(), client_data_hash.begin(), client_data_hash.end());
  const auto digest = hg::crypto::sha256(msg);
  Bn e(BN_bin2bn(digest.data(), int(digest.size()), nullptr));
  Bn r_inv(BN_mod_inverse(nullptr, r, n, bn.get()));
  Bn u1(BN_new()), u2(BN_new());
  if (!e || !r_inv || !u1 || !u2) return out;
  // u1 = -e * r^-1 mod n, u2 = s * r^-1 mod n; Q = u1*G + u2*R.
  if (BN_mod_mul(u1.get(), e.get(), r_inv.get(), n, bn.get()) != 1 || BN_mod_sub(u1.get(), n, u1.get(), n, bn.get()) != 1 ||
      BN_mod_mul(u2.get(), s, r_inv.get(), n, bn.get()) != 1)
    return out;
  for (int parity = 0; parity < 2; ++parity) {
    EcPoint big_r(EC_POINT_new(group.get()), EC_POINT_free);
    EcPoint q(EC_POINT_new(group.get()), EC_POINT_free);
    if (!big_r || !q) return out;
    if (EC_POINT_set_compressed_coordinates(group.get(), big_r.get(), r, parity, bn.get()) != 1) continue;
    if (EC_POINT_mul(group.get(), q.get(), u1.get(), big_r.get(), u2.get(), bn.get()) != 1) continue;
    if (EC_POINT_is_at_infinity(group.get(), q.get())) continue;
    Bytes pub(65);
    if (EC_POINT_point2oct(group.get(), q.get(), POINT_CONVERSION_UNCOMPRESSED, pub.data(), pub.size(), bn.get()) !=
        pub.size())
      continue;
    out.push_back(std::move(pub));
  }
  return out;
}

std::optional<Bytes> p256_key_verifying_both(const std::vector<Bytes>& candidates, const Assertion& first,
                                             ByteView first_cdh, const Assertion& second, ByteView second_cdh) {
  auto signed_data = [](const Assertion& a, ByteView cdh) {
    Bytes m = a.auth_data;
    m.insert(m.end(), cdh.begin(), cdh.end());
    return m;
  };
  const Bytes m1 = signed_data(first, first_cdh), m2 = signed_data(second, second_cdh);
  for (const Bytes& c : candidates) {
    auto key = hg::crypto::P256Public::parse(c);
    if (key && key->verify_sha256(m1, first.signature) && key->verify_sha256(m2, second.signature)) return c;
  }
  return std::nullopt;
}

}  // namespace hgsk
