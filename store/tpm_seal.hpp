// SPDX-License-Identifier: Apache-2.0
// The TPM 2.0 half of a TPM-sealed credential store (store/credential_store.hpp, "kdf": "tpm2"),
// through tpm2-tss: ESYS for the commands, MU for the blobs, the TCTI loader for the transport.
// Library hg_store_tpm, built only when tpm2-tss is found (HG_HAVE_TPM).
//
// Sealing: the owner hierarchy's storage primary key is created afresh from a fixed template (the
// TCG storage root key template: ECC NIST P-256, AES-128-CFB, SHA-256, restricted decrypt, noDA,
// empty unique), so the same TPM makes the same key every time and nothing stays in the TPM; a
// random 32-byte key (OpenSSL's RNG) becomes the sensitive data of a keyed-hash sealed-data object
// (TPM2_Create under the primary; fixedTPM, fixedParent, userWithAuth, noDA, empty authValue). Its
// TPM2B_PUBLIC and TPM2B_PRIVATE, marshalled, go into the file's header; the private part is
// encrypted and integrity-protected by the primary key, which only this TPM can make.
// Opening: the primary again, TPM2_Load, TPM2_Unseal. Another TPM (or a reset owner seed) makes
// another primary key, and its TPM2_Load refuses the blob: store.sealed.
// Every command runs in an HMAC session salted with the primary key, with parameter encryption
// both ways (AES-128-CFB), so the key never crosses the TCTI (a socket, /dev/tpmrm0) in the clear.
// The owner hierarchy's authValue must be empty (the default; the error says so otherwise).
#pragma once

#include <string>

#include "store/credential_store.hpp"

namespace hg::store {

inline constexpr const char* kDefaultTpmTcti = "device:/dev/tpmrm0";

// The TCTI configuration to use: `option` when not empty, else $TPM2TOOLS_TCTI, else $TSS2_TCTI,
// else kDefaultTpmTcti. Examples: "device:/dev/tpmrm0", "swtpm:host=127.0.0.1,port=2321", "tabrmd".
std::string tpm_tcti_config(const std::string& option);

class Tss2Sealer final : public TpmSealer {
 public:
  explicit Tss2Sealer(std::string tcti_config) : tcti_(std::move(tcti_config)) {}
  // crypto when the TPM cannot be reached or refuses to seal (nothing is written then).
  Result<SealKey> seal_new_key() override;
  // store.sealed when the TPM cannot be reached or does not unseal it; store.corrupt when the
  // blobs are not a TPM2B_PUBLIC / TPM2B_PRIVATE.
  Result<SealKey> unseal(const SealHeader& header) override;
  const std::string& tcti() const { return tcti_; }

 private:
  std::string tcti_;
};

}  // namespace hg::store
