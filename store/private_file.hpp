// SPDX-License-Identifier: Apache-2.0
// Files that hold secrets (credential store, phone link state, desktop links): mode 0600, owned
// by us, never followed through a symlink, read with a size bound, replaced atomically (temporary
// file + fsync + rename + fsync of the directory) so a crash mid-write loses nothing.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "proto/bytes.hpp"

namespace hg::store {

inline constexpr long kMaxPrivateFileSize = 16 << 20;

// Who must own a private file: nullopt = the effective user (the default). A program running as
// root on behalf of another user (a PAM module reading that user's file) names the user's uid;
// a file owned by root is then accepted too.
using FileOwner = std::optional<uid_t>;

// The file's contents; nullopt when it does not exist. Refuses (store.permissions) a file that is
// not ours (see FileOwner) or that group/others can access, and (store.corrupt) one that is not a
// regular file or is larger than kMaxPrivateFileSize.
Result<std::optional<std::string>> read_private_file(const std::filesystem::path& path, FileOwner owner = std::nullopt);

// Creates `path` with `text` unless it exists (O_EXCL, mode 0600). Losing a creation race is not
// an error.
Status create_private_file(const std::filesystem::path& path, const std::string& text);

// Replaces `path` with `text` atomically (mode 0600): a temporary file with a random name in the
// same directory (O_EXCL), fsync, rename, fsync of the directory. Concurrent writers of one file
// must hold its FileLock (update_private_file does).
Status write_private_file(const std::filesystem::path& path, const std::string& text);

// An exclusive lock (flock) on PATH.lock, a 0600 file beside PATH that is never removed: it
// serialises every read-modify-write of PATH between processes and threads. Waits at most
// `timeout` for another holder (then store.locked: "… is locked by another process").
class FileLock {
 public:
  static Result<FileLock> acquire(const std::filesystem::path& file,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(30));
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

// Read-modify-write of a private file under its FileLock: `change` receives the current text
// (re-read inside the lock; nullopt when the file does not exist) and returns the new text, or
// nullopt to leave the file as it is. An error from `change` (e.g. a corrupt file) leaves the file
// untouched. The new text replaces the file atomically (write_private_file).
using FileChange = std::function<Result<std::optional<std::string>>(const std::optional<std::string>& current)>;
Status update_private_file(const std::filesystem::path& path, const FileChange& change,
                           FileOwner owner = std::nullopt);

// Overwrites a string's bytes (for text that held secrets).
void wipe_string(std::string& s) noexcept;

}  // namespace hg::store
