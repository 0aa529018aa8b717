// SPDX-License-Identifier: Apache-2.0
#include "bridges/ssh/sk_core.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "hybridgate/hybridgate.h"

namespace hgsk {
namespace {

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;
using EcGroup = std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)>;
using EcPoint = std::unique_ptr<EC_POINT, decltype(&EC_POINT_free)>;
using BnCtx = std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)>;
using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// A DER ECDSA signature, whole (no trailing bytes), or null.
EcdsaSig parse_der(ByteView der) {
  const unsigned char* p = der.data();
  EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, long(der.size())), ECDSA_SIG_free);
  if (sig && p != der.data() + der.size()) sig.reset();
  return sig;
}

// ECDSA-SHA256 verification with an uncompressed P-256 point (OpenSSL rejects points off the curve).
bool verify_p256(ByteView point, ByteView msg, ByteView der) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>("prime256v1"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<uint8_t*>(point.data()), point.size()),
      OSSL_PARAM_construct_end()};
  PkeyCtx fctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* raw = nullptr;
  if (!fctx || EVP_PKEY_fromdata_init(fctx.get()) != 1 ||
      EVP_PKEY_fromdata(fctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1)
    return false;
  Pkey key(raw, EVP_PKEY_free);
  MdCtx md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(md.get(), der.data(), der.size(), msg.data(), msg.size()) == 1;
}

}  // namespace

int32_t cose_alg(KeyType t) { return t == KeyType::ed25519 ? HG_COSE_EDDSA : HG_COSE_ES256; }

Bytes openssh_user_id(std::string_view user) {
  Bytes id(kOpenSshUserIdLen, 0);
  std::memcpy(id.data(), user.data(), std::min(user.size(), kOpenSshUserIdLen - 1));
  return id;
}

Bytes sha256(ByteView data) {
  Bytes d(SHA256_DIGEST_LENGTH);
  SHA256(data.data(), data.size(), d.data());
  return d;
}

Bytes random32() {
  Bytes b(32);
  if (RAND_bytes(b.data(), int(b.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  return b;
}

std::optional<SshSignature> ssh_signature(KeyType type, ByteView signature) {
  if (type == KeyType::ed25519) {
    if (signature.size() != 64) return std::nullopt;
    return SshSignature{Bytes(signature.begin(), signature.end()), {}};
  }
  EcdsaSig sig = parse_der(signature);
  if (!sig) return std::nullopt;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  SshSignature out{Bytes(size_t(BN_num_bytes(r))), Bytes(size_t(BN_num_bytes(s)))};
  BN_bn2bin(r, out.r.data());
  BN_bn2bin(s, out.s.data());
  if (out.r.empty() || out.s.empty() || out.r.size() > 32 || out.s.size() > 32) return std::nullopt;
  return out;
}

// Q = r^-1 (sR - eG) for the two points R with x = r (x = r + n has probability ~2^-128 and is
// not tried), with OpenSSL's EC arithmetic.
std::vector<Bytes> p256_key_candidates(const Signed& a, ByteView client_data_hash) {
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
  const Bytes digest = sha256(msg);
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

std::optional<Bytes> p256_key_verifying_both(const std::vector<Bytes>& candidates, const Signed& first,
                                             ByteView first_cdh, const Signed& second, ByteView second_cdh) {
  auto signed_data = [](const Signed& a, ByteView cdh) {
    Bytes m = a.auth_data;
    m.insert(m.end(), cdh.begin(), cdh.end());
    return m;
  };
  const Bytes m1 = signed_data(first, first_cdh), m2 = signed_data(second, second_cdh);
  for (const Bytes& c : candidates) {
    if (c.size() == 65 && verify_p256(c, m1, first.signature) && verify_p256(c, m2, second.signature)) return c;
  }
  return std::nullopt;
}

}  // namespace hgsk
