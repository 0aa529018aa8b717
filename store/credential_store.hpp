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

namespace hg::store {

class FileCredentialStore final : public authenticator::CredentialStore {
 public:
  // Opens the file, creating an empty store (mode 0600) when it does not exist.
  static Result<std::unique_ptr<FileCredentialStore>> open(const std::filesystem::path& path);

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
  // Re-reads the file (every lookup does: other processes may have added passkeys).
  Status load();
  // Under the store's lock: re-read, edit, write atomically.
  Status change(const std::function<Status(std::vector<authenticator::CredentialRecord>&)>& edit);
  Status change_all(const std::function<Status(std::vector<authenticator::CredentialRecord>&,
                                               std::optional<authenticator::PinRecord>&)>& edit);

  std::filesystem::path path_;
  std::vector<authenticator::CredentialRecord> records_;
  std::optional<authenticator::PinRecord> pin_;
};

}  // namespace hg::store
