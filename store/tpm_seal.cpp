// SPDX-License-Identifier: Apache-2.0
#include "store/tpm_seal.hpp"

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <cstdlib>
#include <cstring>

#include "proto/crypto.hpp"

namespace hg::store {

namespace {

std::string rc_text(TSS2_RC rc) {
  const char* s = Tss2_RC_Decode(rc);
  return s ? std::string(s) : "TSS2 error " + std::to_string(rc);
}

// The TCG storage root key template (ECC NIST P-256): the same TPM makes the same key from it.
TPM2B_PUBLIC primary_template() {
  TPM2B_PUBLIC t{};
  t.publicArea.type = TPM2_ALG_ECC;
  t.publicArea.nameAlg = TPM2_ALG_SHA256;
  t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                  TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED |
                                  TPMA_OBJECT_DECRYPT;
  auto& e = t.publicArea.parameters.eccDetail;
  e.symmetric.algorithm = TPM2_ALG_AES;
  e.symmetric.keyBits.aes = 128;
  e.symmetric.mode.aes = TPM2_ALG_CFB;
  e.scheme.scheme = TPM2_ALG_NULL;
  e.curveID = TPM2_ECC_NIST_P256;
  e.kdf.scheme = TPM2_ALG_NULL;
  return t;  // unique: empty
}

// A keyed-hash sealed-data object: the caller's bytes, unsealed only by this TPM (and parent).
TPM2B_PUBLIC sealed_template() {
  TPM2B_PUBLIC t{};
  t.publicArea.type = TPM2_ALG_KEYEDHASH;
  t.publicArea.nameAlg = TPM2_ALG_SHA256;
  t.publicArea.objectAttributes =
      TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA;
  t.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
  return t;
}

// One connection to the TPM: the TCTI, the ESYS context, the primary key and a salted HMAC session
// with parameter encryption; everything flushed and closed when it goes away.
class Tpm {
 public:
  explicit Tpm(Errc failure) : failure_(failure) {}
  Tpm(const Tpm&) = delete;
  Tpm& operator=(const Tpm&) = delete;
  ~Tpm() {
    if (esys_) {
      for (ESYS_TR h : {object, session, primary})
        if (h != ESYS_TR_NONE) Esys_FlushContext(esys_, h);
      Esys_Finalize(&esys_);
    }
    if (tcti_) Tss2_TctiLdr_Finalize(&tcti_);
  }

  Error fail(const std::string& what, TSS2_RC rc) const { return make_error(failure_, what + " (" + rc_text(rc) + ")"); }

  Status connect(const std::string& conf) {
    TSS2_RC rc = Tss2_TctiLdr_Initialize(conf.c_str(), &tcti_);
    if (rc != TSS2_RC_SUCCESS)
      return make_error(failure_, "no TPM is reachable through the TCTI '" + conf + "' (" + rc_text(rc) +
                                      "; choose one with --tpm-tcti or TPM2TOOLS_TCTI)");
    rc = Esys_Initialize(&esys_, tcti_, nullptr);
    if (rc != TSS2_RC_SUCCESS) return fail("the TPM behind '" + conf + "' could not be used", rc);
    const TPM2B_PUBLIC in_public = primary_template();
    const TPM2B_SENSITIVE_CREATE in_sensitive{};
    const TPM2B_DATA outside{};
    const TPML_PCR_SELECTION pcrs{};
    rc = Esys_CreatePrimary(esys_, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &in_sensitive,
                            &in_public, &outside, &pcrs, &primary, nullptr, nullptr, nullptr, nullptr);
    if (rc != TSS2_RC_SUCCESS)
      return fail("the TPM did not create its storage primary key (is the owner hierarchy's password set?)", rc);
    TPMT_SYM_DEF sym{};
    sym.algorithm = TPM2_ALG_AES;
    sym.keyBits.aes = 128;
    sym.mode.aes = TPM2_ALG_CFB;
    rc = Esys_StartAuthSession(esys_, primary, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nullptr,
                               TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &session);
    if (rc != TSS2_RC_SUCCESS) return fail("the TPM did not start a session", rc);
    rc = Esys_TRSess_SetAttributes(esys_, session,
                                   TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT, 0xff);
    if (rc != TSS2_RC_SUCCESS) return fail("the TPM session's attributes", rc);
    return ok_status();
  }

  ESYS_CONTEXT* esys() const { return esys_; }

  ESYS_TR primary = ESYS_TR_NONE;
  ESYS_TR session = ESYS_TR_NONE;
  ESYS_TR object = ESYS_TR_NONE;

 private:
  Errc failure_;
  TSS2_TCTI_CONTEXT* tcti_ = nullptr;
  ESYS_CONTEXT* esys_ = nullptr;
};

template <class T>
struct EsysFree {
  T* p = nullptr;
  ~EsysFree() { Esys_Free(p); }
};

}  // namespace

std::string tpm_tcti_config(const std::string& option) {
  if (!option.empty()) return option;
  for (const char* var : {"TPM2TOOLS_TCTI", "TSS2_TCTI"})
    if (const char* v = std::getenv(var); v && *v) return v;
  return kDefaultTpmTcti;
}

Result<SealKey> Tss2Sealer::seal_new_key() {
  Tpm tpm(Errc::crypto);
  if (auto st = tpm.connect(tcti_); !st) return make_error(st.error().code, st.error().detail + "; nothing was changed");
  SealKey out;
  out.header.kind = SealKind::tpm2;
  out.key = SecretBytes(crypto::random_bytes(32));
  TPM2B_SENSITIVE_CREATE sensitive{};
  sensitive.sensitive.data.size = 32;
  std::memcpy(sensitive.sensitive.data.buffer, out.key.data(), 32);
  const TPM2B_PUBLIC in_public = sealed_template();
  const TPM2B_DATA outside{};
  const TPML_PCR_SELECTION pcrs{};
  EsysFree<TPM2B_PRIVATE> priv;
  EsysFree<TPM2B_PUBLIC> pub;
  TSS2_RC rc = Esys_Create(tpm.esys(), tpm.primary, tpm.session, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &in_public,
                           &outside, &pcrs, &priv.p, &pub.p, nullptr, nullptr, nullptr);
  secure_wipe(&sensitive, sizeof sensitive);
  if (rc != TSS2_RC_SUCCESS)
    return make_error(Errc::crypto, tpm.fail("the TPM did not seal the store's key", rc).detail + "; nothing was changed");
  Bytes pub_blob(sizeof(TPM2B_PUBLIC)), priv_blob(sizeof(TPM2B_PRIVATE));
  size_t pub_len = 0, priv_len = 0;
  rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub.p, pub_blob.data(), pub_blob.size(), &pub_len);
  if (rc == TSS2_RC_SUCCESS) rc = Tss2_MU_TPM2B_PRIVATE_Marshal(priv.p, priv_blob.data(), priv_blob.size(), &priv_len);
  if (rc != TSS2_RC_SUCCESS) return tpm.fail("the sealed object could not be marshalled", rc);
  pub_blob.resize(pub_len);
  priv_blob.resize(priv_len);
  out.header.tpm_public = std::move(pub_blob);
  out.header.tpm_private = std::move(priv_blob);
  return out;
}

Result<SealKey> Tss2Sealer::unseal(const SealHeader& header) {
  if (header.kind != SealKind::tpm2) return make_error(Errc::invalid_argument, "the store is not sealed by a TPM");
  TPM2B_PUBLIC pub{};
  TPM2B_PRIVATE priv{};
  size_t pub_off = 0, priv_off = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(header.tpm_public.data(), header.tpm_public.size(), &pub_off, &pub) !=
          TSS2_RC_SUCCESS ||
      pub_off != header.tpm_public.size() ||
      Tss2_MU_TPM2B_PRIVATE_Unmarshal(header.tpm_private.data(), header.tpm_private.size(), &priv_off, &priv) !=
          TSS2_RC_SUCCESS ||
      priv_off != header.tpm_private.size())
    return make_error(Errc::store_corrupt, "seal.public or seal.private is not a TPM2B_PUBLIC / TPM2B_PRIVATE");
  Tpm tpm(Errc::store_sealed);
  if (auto st = tpm.connect(tcti_); !st)
    return make_error(Errc::store_sealed, "the store is sealed by a TPM, and " + st.error().detail + "; nothing was changed");
  TSS2_RC rc = Esys_Load(tpm.esys(), tpm.primary, tpm.session, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &tpm.object);
  if (rc != TSS2_RC_SUCCESS)
    return make_error(Errc::store_sealed, tpm.fail("the store is sealed by a TPM this machine does not have: the TPM "
                                                   "behind '" + tcti_ + "' refused its sealed key", rc).detail +
                                              "; nothing was changed");
  EsysFree<TPM2B_SENSITIVE_DATA> data;
  rc = Esys_Unseal(tpm.esys(), tpm.object, tpm.session, ESYS_TR_NONE, ESYS_TR_NONE, &data.p);
  if (rc != TSS2_RC_SUCCESS)
    return make_error(Errc::store_sealed,
                      tpm.fail("the TPM behind '" + tcti_ + "' refused to unseal the store's key", rc).detail +
                          "; nothing was changed");
  SealKey out;
  out.header = header;
  out.key = SecretBytes(ByteView(data.p->buffer, data.p->size));
  secure_wipe(data.p, sizeof *data.p);
  if (out.key.size() != 32) return make_error(Errc::store_corrupt, "the TPM-sealed key is not 32 bytes");
  return out;
}

}  // namespace hg::store
