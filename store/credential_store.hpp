// SPDX-License-Identifier: Apache-2.0
// A credential store in one JSON file, for `hybridgate phone`.
//
// File format (version 1), binary fields base64url without padding:
//   {"version": 1, "credentials": [{"id", "rp_id", "rp_name", "user_id", "user_name",
//     "display_name", "private_key", "sign_count", "created", "discoverable"}, ...],
//    "pin": {"salt", "verifier", "scrypt_log2_n", "scrypt_r", "scrypt_p", "retries", "length"}}
//   "pin" is present only once a PIN is set (authenticator::PinRecord: a scrypt verifier of the
//   PIN's CTAP hash, never the PIN; the retry counter, so a restart does not reset it).
//
// Safety: the file holds private keys, so it is created with mode 0600 (O_CREAT|O_EXCL) and a file
// that group or others can access, or that another user owns, is refused (store.permissions).
// Every change rewrites the whole file atomically: temp file in the same directory, fsync,
// rename over the old file, fsync the directory; a crash leaves either the old or the new file.
// A damaged file is reported as store.corrupt, never a crash, and never overwritten.
// Several processes may share one store: every change re-reads the file under an exclusive lock
// (flock on STORE.lock) and replaces it atomically, and every lookup re-reads it, so no process
// writes back a stale copy and nothing another process added is lost.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "proto/authenticator.hpp"
#include "proto/crypto.hpp"

namespace hg::store {

// ---- Sealed stores (format version 2)
//   {"version": 2, "seal": {"kdf": "scrypt", "salt", "log2_n", "r", "p"}, "nonce", "sealed", "pin"?}
//   {"version": 2, "seal": {"kdf": "tpm2", "public", "private"}, "nonce", "sealed", "pin"?}
// "sealed" is AES-256-GCM(key, nonce, AD, the JSON {"credentials": [...]} of version 1), the key 32
// bytes. With "scrypt", key = scrypt(passphrase, salt, N, r, p) (OpenSSL 3's EVP_KDF "SCRYPT") and
// AD = "hybridgate credential store v2 scrypt SALT LOG2_N R P". With "tpm2", the key is random and
// sealed by a TPM 2.0: "public" and "private" are the marshalled TPM2B_PUBLIC and TPM2B_PRIVATE of a
// keyed-hash sealed-data object under the owner hierarchy's storage primary key (store/tpm_seal.hpp),
// and AD = "hybridgate credential store v2 tpm2 PUBLIC PRIVATE" (both base64url, as in the file).
// Every write seals afresh (a new random nonce). Without the passphrase (or that TPM) a copy of the
// file yields no private key, no relying party and no user name; the PIN record (a scrypt verifier
// and the retry count) stays outside, readable before the store opens.

inline constexpr crypto::ScryptParams kSealKdf{17, 8, 1};  // N = 2^17, r = 8: 128 MiB, ~0.5 s

enum class SealKind { scrypt, tpm2 };

struct SealHeader {
  SealKind kind = SealKind::scrypt;
  Bytes salt;                  // scrypt
  crypto::ScryptParams kdf;    // scrypt
  Bytes tpm_public;            // tpm2: TPM2B_PUBLIC, marshalled
  Bytes tpm_private;           // tpm2: TPM2B_PRIVATE, marshalled (encrypted by the TPM's storage key)
};

// The key that opens (and writes) one sealed store.
struct SealKey {
  SealHeader header;
  SecretBytes key;  // 32 bytes
};

// The TPM's part of a TPM-sealed store. store/tpm_seal.hpp implements it with tpm2-tss, in a library
// of its own (hg_store_tpm) so that only the programs that seal with a TPM link tpm2-tss.
class TpmSealer {
 public:
  virtual ~TpmSealer() = default;
  // A new random 32-byte key, sealed by the TPM (kind tpm2, the blobs in the header).
  virtual Result<SealKey> seal_new_key() = 0;
  // The key a tpm2 header holds: store.sealed when there is no TPM, or when this TPM does not
  // unseal it (a copy of the file on another machine).
  virtual Result<SealKey> unseal(const SealHeader& header) = 0;
};

struct StoreContents {
  std::vector<authenticator::CredentialRecord> records;
  std::optional<authenticator::PinRecord> pin;
  bool sealed = false;
};

// The file format's reader (also the fuzz target's). parse_seal_header: nullopt for a plaintext
// (version 1) file, the sealing (KDF parameters, or the TPM's blobs) of a sealed one. parse_store_text: the contents; a sealed
// file needs its key (store.sealed without one, store.passphrase when it does not open it).
// Errors: store.corrupt for anything that is not a store file. Never throws.
Result<std::optional<SealHeader>> parse_seal_header(std::string_view text);
Result<StoreContents> parse_store_text(std::string_view text, const SealKey* key);
// The file text for `contents`: sealed with `key` when contents.sealed (store.sealed without a key).
Result<std::string> serialise_store_text(const StoreContents& contents, const SealKey* key);
// scrypt(passphrase, header.salt, header.kdf) — the expensive step, once per process.
// store.sealed for a tpm2 header (its key comes from TpmSealer::unseal).
Result<SealKey> derive_seal_key(const SealHeader& header, const SecretBytes& passphrase);

class FileCredentialStore final : public authenticator::CredentialStore {
 public:
  // Opens the file, creating an empty plaintext store (mode 0600) when it does not exist. A sealed
  // file needs its passphrase: store.sealed without one, store.passphrase when it is wrong (the
  // file is only read: nothing is lost). A TPM-sealed file needs `tpm` (no passphrase): store.sealed
  // without one, or when the TPM does not unseal it. A plaintext file is used as it is: it is never
  // sealed, or rewritten in another format, but by seal() / seal_tpm().
  static Result<std::unique_ptr<FileCredentialStore>> open(const std::filesystem::path& path,
                                                           const SecretBytes* passphrase = nullptr,
                                                           TpmSealer* tpm = nullptr);
  // How the file is sealed: nullopt for a plaintext store (or no file). store.corrupt, io.
  static Result<std::optional<SealKind>> seal_kind(const std::filesystem::path& path);
  // Seals a plaintext store in place (the person's explicit consent: `hybridgate phone --seal`):
  // under the store's lock, every credential and the PIN record kept, checked by reading the
  // sealed text back before it replaces the file. Creates an empty sealed store when there is no
  // file. store.sealed when it is sealed already.
  static Status seal(const std::filesystem::path& path, const SecretBytes& passphrase,
                     const crypto::ScryptParams& kdf = kSealKdf);
  // The same with a random key sealed by `tpm` instead of a passphrase.
  static Status seal_tpm(const std::filesystem::path& path, TpmSealer& tpm);
  // Whether the file was sealed when last read.
  bool sealed() const { return sealed_; }

  Result<std::vector<authenticator::CredentialRecord>> find_by_rp(const std::string& rp_id) override;
  Result<std::optional<authenticator::CredentialRecord>> find_by_id(ByteView credential_id) override;
  Status add(const authenticator::CredentialRecord& record) override;
  Status remove(ByteView credential_id) override;
  Status update_sign_count(ByteView credential_id, uint32_t sign_count) override;
  Result<std::optional<authenticator::PinRecord>> pin() override;
  Status set_pin(const authenticator::PinRecord& record) override;

  const std::filesystem::path& path() const { return path_; }
  size_t size() const { return records_.size(); }

 private:
  explicit FileCredentialStore(std::filesystem::path path) : path_(std::move(path)) {}
  static Status seal_with(const std::filesystem::path& path, const SealKey& key);
  // Re-reads the file (every lookup does: other processes may have added passkeys).
  Status load();
  // Under the store's lock: re-read, edit, write atomically.
  Status change(const std::function<Status(std::vector<authenticator::CredentialRecord>&)>& edit);
  Status change_all(const std::function<Status(std::vector<authenticator::CredentialRecord>&,
                                               std::optional<authenticator::PinRecord>&)>& edit);

  std::filesystem::path path_;
  std::vector<authenticator::CredentialRecord> records_;
  std::optional<authenticator::PinRecord> pin_;
  std::optional<SealKey> key_;  // a sealed store's key, derived once in open()
  bool sealed_ = false;
};

}  // namespace hg::store
