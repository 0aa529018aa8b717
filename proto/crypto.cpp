// SPDX-License-Identifier: Apache-2.0
#include "proto/crypto.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace hg::crypto {
namespace {

[[noreturn]] void fatal(const char* what) {
  // Only reached when OpenSSL fails on inputs we validated: an internal invariant broke.
  throw std::runtime_error(std::string("OpenSSL failure: ") + what);
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
  void operator()(EVP_KDF* c) const { EVP_KDF_free(c); }
  void operator()(BIGNUM* c) const { BN_clear_free(c); }
  void operator()(BN_CTX* c) const { BN_CTX_free(c); }
  void operator()(EC_GROUP* c) const { EC_GROUP_free(c); }
  void operator()(EC_POINT* c) const { EC_POINT_free(c); }
  void operator()(OSSL_PARAM_BLD* c) const { OSSL_PARAM_BLD_free(c); }
  void operator()(OSSL_PARAM* c) const { OSSL_PARAM_free(c); }
};
template <typename T>
using Own = std::unique_ptr<T, CtxFree>;

const EC_GROUP* p256() {
  static EC_GROUP* g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  return g;
}

EVP_PKEY* pkey_from_data(ByteView pub65, const BIGNUM* priv) {
  Own<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (!bld) fatal("param bld");
  OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub65.data(), pub65.size());
  if (priv) OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv);
  Own<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
  Own<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0) fatal("fromdata init");
  EVP_PKEY* pkey = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
    return nullptr;
  return pkey;
}

// Decodes a SEC1 point (33 or 65 bytes) and returns it uncompressed; nullopt if invalid.
bool point_to_uncompressed(ByteView sec1, P256Uncompressed& out) {
  if (sec1.size() != 33 && sec1.size() != 65) return false;
  if (sec1.size() == 33 && sec1[0] != 0x02 && sec1[0] != 0x03) return false;
  if (sec1.size() == 65 && sec1[0] != 0x04) return false;
  Own<EC_POINT> pt(EC_POINT_new(p256()));
  if (!pt) fatal("point");
  if (EC_POINT_oct2point(p256(), pt.get(), sec1.data(), sec1.size(), nullptr) != 1) return false;
  if (EC_POINT_is_at_infinity(p256(), pt.get())) return false;
  if (EC_POINT_is_on_curve(p256(), pt.get(), nullptr) != 1) return false;
  return EC_POINT_point2oct(p256(), pt.get(), POINT_CONVERSION_UNCOMPRESSED, out.data(), out.size(), nullptr) == 65;
}

P256Compressed compress(const P256Uncompressed& u) {
  P256Compressed c{};
  c[0] = static_cast<uint8_t>(0x02 | (u[64] & 1));
  std::copy(u.begin() + 1, u.begin() + 33, c.begin() + 1);
  return c;
}

}  // namespace

void PkeyDeleter::operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }

void random_bytes(uint8_t* out, size_t n) {
  if (n == 0) return;
  if (RAND_bytes(out, static_cast<int>(n)) != 1) fatal("RAND_bytes");
}

Bytes random_bytes(size_t n) {
  Bytes b(n);
  random_bytes(b.data(), n);
  return b;
}

Sha256Digest sha256(ByteView data) {
  Sha256Digest d{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr) != 1) fatal("sha256");
  return d;
}

Sha256Digest hmac_sha256(ByteView key, ByteView msg) {
  Sha256Digest d{};
  unsigned int len = 0;
  static const uint8_t empty = 0;
  if (!HMAC(EVP_sha256(), key.empty() ? &empty : key.data(), static_cast<int>(key.size()), msg.data(),
            msg.size(), d.data(), &len))
    fatal("hmac");
  return d;
}

Bytes hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, size_t length) {
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (!kdf) fatal("HKDF fetch");
  Own<EVP_KDF_CTX> ctx(EVP_KDF_CTX_new(kdf));
  if (!ctx) fatal("HKDF ctx");
  static const uint8_t zeros[32] = {};
  char digest[] = "SHA256";
  if (ikm.empty()) {
    // OpenSSL's HKDF refuses an empty key, but RFC 5869 allows an empty IKM (Noise's Split and
    // BoringSSL's derive-from-empty-secret use it). Extract with HMAC, then expand only.
    auto prk = hmac_sha256(salt.empty() ? ByteView(zeros, 32) : salt, {});
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM p[5];
    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    p[1] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, prk.data(), prk.size());
    p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<uint8_t*>(info.data()), info.size());
    p[4] = OSSL_PARAM_construct_end();
    Bytes out(length);
    const int rc = EVP_KDF_derive(ctx.get(), out.data(), out.size(), p);
    secure_wipe(prk);
    if (rc != 1) fatal("HKDF expand");
    return out;
  }
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()), ikm.size());
  // RFC 5869: an absent salt is HashLen zero bytes. OpenSSL treats an empty salt the same way,
  // but pass the zeros explicitly so the behaviour does not depend on that.
  if (salt.empty())
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(zeros), 32);
  else
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()), salt.size());
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<uint8_t*>(info.data()), info.size());
  params[n] = OSSL_PARAM_construct_end();
  Bytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) fatal("HKDF derive");
  return out;
}

static std::array<uint8_t, 16> aes_block(ByteView key32, ByteView block16, bool enc) {
  if (key32.size() != 32 || block16.size() != 16) fatal("aes block sizes");
  Own<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  std::array<uint8_t, 16> out{};
  int len = 0;
  if (!ctx || EVP_CipherInit_ex(ctx.get(), EVP_aes_256_ecb(), nullptr, key32.data(), nullptr, enc ? 1 : 0) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 ||
      EVP_CipherUpdate(ctx.get(), out.data(), &len, block16.data(), 16) != 1 || len != 16)
    fatal("aes-ecb");
  return out;
}
std::array<uint8_t, 16> aes256_encrypt_block(ByteView k, ByteView b) { return aes_block(k, b, true); }
std::array<uint8_t, 16> aes256_decrypt_block(ByteView k, ByteView b) { return aes_block(k, b, false); }

Bytes aes256_gcm_seal(ByteView key32, ByteView nonce12, ByteView ad, ByteView plaintext) {
  if (key32.size() != 32 || nonce12.size() != 12) fatal("gcm sizes");
  Own<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  Bytes out(plaintext.size() + 16);
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key32.data(), nonce12.data()) != 1)
    fatal("gcm init");
  if (!ad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, ad.data(), static_cast<int>(ad.size())) != 1)
    fatal("gcm ad");
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(ctx.get(), out.data(), &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1)
    fatal("gcm update");
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + plaintext.size(), &len) != 1) fatal("gcm final");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, 16, out.data() + plaintext.size()) != 1)
    fatal("gcm tag");
  return out;
}

Result<Bytes> aes256_gcm_open(ByteView key32, ByteView nonce12, ByteView ad, ByteView sealed) {
  if (key32.size() != 32 || nonce12.size() != 12) fatal("gcm sizes");
  if (sealed.size() < 16) return make_error(Errc::crypto, "ciphertext shorter than the tag");
  size_t n = sealed.size() - 16;
  Own<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  Bytes out(n);
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key32.data(), nonce12.data()) != 1)
    fatal("gcm init");
  if (!ad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, ad.data(), static_cast<int>(ad.size())) != 1)
    fatal("gcm ad");
  if (n > 0 && EVP_DecryptUpdate(ctx.get(), out.data(), &len, sealed.data(), static_cast<int>(n)) != 1)
    fatal("gcm update");
  uint8_t tag[16];
  std::copy(sealed.begin() + static_cast<std::ptrdiff_t>(n), sealed.end(), tag);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1) fatal("gcm set tag");
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + n, &len) != 1) {
    secure_wipe(out);
    return make_error(Errc::crypto, "authentication failed");
  }
  return out;
}

namespace {
Result<Bytes> aes256_cbc(bool encrypt, ByteView key32, ByteView iv16, ByteView data) {
  if (key32.size() != 32 || iv16.size() != 16) return make_error(Errc::crypto, "AES-CBC key or IV size");
  if (data.size() % 16 != 0) return make_error(Errc::crypto, "AES-CBC input is not a whole number of blocks");
  Own<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key32.data(), iv16.data(), encrypt ? 1 : 0) != 1)
    fatal("cbc init");
  EVP_CIPHER_CTX_set_padding(ctx.get(), 0);
  Bytes out(data.size());
  int len = 0, fin = 0;
  if (!data.empty() &&
      EVP_CipherUpdate(ctx.get(), out.data(), &len, data.data(), static_cast<int>(data.size())) != 1)
    fatal("cbc update");
  if (EVP_CipherFinal_ex(ctx.get(), out.data() + len, &fin) != 1) fatal("cbc final");
  return out;
}
}  // namespace

Result<Bytes> aes256_cbc_encrypt(ByteView key32, ByteView iv16, ByteView data) {
  return aes256_cbc(true, key32, iv16, data);
}

Result<Bytes> aes256_cbc_decrypt(ByteView key32, ByteView iv16, ByteView data) {
  return aes256_cbc(false, key32, iv16, data);
}

Result<SecretBytes> scrypt(ByteView password, ByteView salt, const ScryptParams& params, size_t length) {
  if (params.log2_n < 1 || params.log2_n > 30 || params.r == 0 || params.p == 0 || length == 0 || length > 1024)
    return make_error(Errc::crypto, "scrypt parameters out of range");
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
  if (!kdf) return make_error(Errc::crypto, "OpenSSL has no SCRYPT KDF");
  Own<EVP_KDF_CTX> ctx(EVP_KDF_CTX_new(kdf));
  if (!ctx) fatal("scrypt ctx");
  uint64_t n = uint64_t{1} << params.log2_n;
  uint32_t r = params.r, p = params.p;
  // OpenSSL's default limit is 32 MiB; allow what the parameters need (128 * r * N, plus slack).
  uint64_t maxmem = 128 * uint64_t{r} * n * 2 + (uint64_t{1} << 20);
  static const uint8_t empty = 0;
  OSSL_PARAM ps[7];
  ps[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                            const_cast<uint8_t*>(password.empty() ? &empty : password.data()),
                                            password.size());
  ps[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                            const_cast<uint8_t*>(salt.empty() ? &empty : salt.data()), salt.size());
  ps[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
  ps[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
  ps[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
  ps[5] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
  ps[6] = OSSL_PARAM_construct_end();
  Bytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), ps) != 1) {
    secure_wipe(out);
    return make_error(Errc::crypto, "scrypt failed (parameters or memory)");
  }
  return SecretBytes(std::move(out));
}

// ---- P256Public

Result<P256Public> P256Public::parse(ByteView sec1) {
  P256Public p;
  if (!point_to_uncompressed(sec1, p.pub_)) return make_error(Errc::key_invalid, "not a P-256 point");
  EVP_PKEY* k = pkey_from_data(p.pub_, nullptr);
  if (!k) return make_error(Errc::key_invalid, "OpenSSL rejected the point");
  p.pkey_ = std::shared_ptr<EVP_PKEY>(k, PkeyDeleter{});
  return p;
}

P256Compressed P256Public::compressed() const { return compress(pub_); }

bool P256Public::verify_sha256(ByteView msg, ByteView der_sig) const {
  Own<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey_.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), der_sig.data(), der_sig.size(), msg.data(), msg.size()) == 1;
}

Bytes P256Public::spki_der() const {
  unsigned char* der = nullptr;
  const int n = i2d_PUBKEY(pkey_.get(), &der);
  if (n <= 0 || !der) fatal("i2d_PUBKEY");
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
}

// ---- P256Key

P256Key P256Key::generate() {
  P256Key k;
  k.pkey_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!k.pkey_) fatal("keygen");
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(k.pkey_.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, k.pub_.data(), k.pub_.size(),
                                      &len) != 1 ||
      len != 65)
    fatal("public key export");
  return k;
}

Result<P256Key> P256Key::from_private(ByteView scalar32) {
  if (scalar32.size() != 32) return make_error(Errc::key_invalid, "private scalar must be 32 bytes");
  Own<BIGNUM> d(BN_bin2bn(scalar32.data(), 32, nullptr));
  const BIGNUM* order = EC_GROUP_get0_order(p256());
  if (!d || BN_is_zero(d.get()) || BN_cmp(d.get(), order) >= 0) return make_error(Errc::key_invalid, "scalar out of range");
  Own<EC_POINT> pt(EC_POINT_new(p256()));
  Own<BN_CTX> bctx(BN_CTX_new());
  if (!pt || !bctx || EC_POINT_mul(p256(), pt.get(), d.get(), nullptr, nullptr, bctx.get()) != 1) fatal("point mul");
  P256Key k;
  if (EC_POINT_point2oct(p256(), pt.get(), POINT_CONVERSION_UNCOMPRESSED, k.pub_.data(), 65, bctx.get()) != 65)
    fatal("point2oct");
  k.pkey_.reset(pkey_from_data(k.pub_, d.get()));
  if (!k.pkey_) fatal("fromdata keypair");
  return k;
}

P256Key P256Key::derive_from_secret(ByteView secret) {
  static const char kInfo[] = "derive EC key P-256";
  Bytes okm = hkdf_sha256(secret, {}, as_bytes(std::string_view(kInfo, sizeof(kInfo) - 1)), 48);
  Own<BIGNUM> v(BN_bin2bn(okm.data(), static_cast<int>(okm.size()), nullptr));
  secure_wipe(okm);
  Own<BIGNUM> d(BN_new());
  Own<BN_CTX> bctx(BN_CTX_new());
  if (!v || !d || !bctx || BN_nnmod(d.get(), v.get(), EC_GROUP_get0_order(p256()), bctx.get()) != 1) fatal("mod n");
  std::array<uint8_t, 32> scalar{};
  if (BN_bn2binpad(d.get(), scalar.data(), 32) != 32) fatal("bn2bin");
  auto k = from_private(scalar);
  secure_wipe(scalar);
  if (!k) fatal("derived scalar is zero");  // probability 2^-128
  return std::move(k).value();
}

P256Compressed P256Key::public_compressed() const { return compress(pub_); }

SecretBytes P256Key::private_scalar() const {
  BIGNUM* d = nullptr;
  if (EVP_PKEY_get_bn_param(pkey_.get(), OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1) fatal("priv export");
  Own<BIGNUM> own(d);
  Bytes out(32);
  if (BN_bn2binpad(d, out.data(), 32) != 32) fatal("bn2binpad");
  return SecretBytes(std::move(out));
}

std::array<uint8_t, 32> P256Key::ecdh(const P256Public& peer) const {
  Own<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_.get(), nullptr));
  std::array<uint8_t, 32> out{};
  size_t len = out.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.pkey()) != 1 ||
      EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1 || len != 32)
    fatal("ecdh");
  return out;
}

Result<std::array<uint8_t, 32>> P256Key::ecdh(ByteView peer_sec1) const {
  auto peer = P256Public::parse(peer_sec1);
  if (!peer) return peer.error();
  return ecdh(*peer);
}

Bytes P256Key::sign_sha256(ByteView msg) const {
  Own<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey_.get()) != 1) fatal("sign init");
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, msg.data(), msg.size()) != 1) fatal("sign len");
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, msg.data(), msg.size()) != 1) fatal("sign");
  sig.resize(len);
  return sig;
}

// ---------------------------------------------------------------- Ed25519

namespace {
std::shared_ptr<EVP_PKEY> ed25519_shared(EVP_PKEY* p) { return std::shared_ptr<EVP_PKEY>(p, EVP_PKEY_free); }

void export_ed25519_public(EVP_PKEY* p, std::array<uint8_t, 32>& out) {
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(p, out.data(), &len) != 1 || len != 32) fatal("ed25519 public key export");
}
}  // namespace

Ed25519Key Ed25519Key::generate() {
  Ed25519Key k;
  k.pkey_ = ed25519_shared(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!k.pkey_) fatal("ed25519 keygen");
  export_ed25519_public(k.pkey_.get(), k.pub_);
  return k;
}

Result<Ed25519Key> Ed25519Key::from_private(ByteView seed32) {
  if (seed32.size() != 32) return make_error(Errc::key_invalid, "Ed25519 private key must be 32 bytes");
  Ed25519Key k;
  k.pkey_ = ed25519_shared(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed32.data(), seed32.size()));
  if (!k.pkey_) return make_error(Errc::key_invalid, "Ed25519 private key refused");
  export_ed25519_public(k.pkey_.get(), k.pub_);
  return k;
}

SecretBytes Ed25519Key::private_seed() const {
  Bytes seed(32);
  size_t len = seed.size();
  if (EVP_PKEY_get_raw_private_key(pkey_.get(), seed.data(), &len) != 1 || len != 32) fatal("ed25519 private export");
  return SecretBytes(std::move(seed));
}

Bytes Ed25519Key::sign(ByteView msg) const {
  Own<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) != 1) fatal("ed25519 sign init");
  Bytes sig(64);
  size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, msg.data(), msg.size()) != 1 || len != 64) fatal("ed25519 sign");
  return sig;
}

bool ed25519_verify(ByteView pub32, ByteView msg, ByteView sig64) {
  if (pub32.size() != 32 || sig64.size() != 64) return false;
  std::shared_ptr<EVP_PKEY> pk =
      ed25519_shared(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub32.data(), pub32.size()));
  if (!pk) return false;
  Own<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pk.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), sig64.data(), sig64.size(), msg.data(), msg.size()) == 1;
}

}  // namespace hg::crypto
