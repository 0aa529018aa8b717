// SPDX-License-Identifier: Apache-2.0
// Files that hold secrets (credential store, phone link state, desktop links): mode 0600, owned
// by us, never followed through a symlink, read with a size bound, replaced atomically (temporary
// file + fsync + rename + fsync of the directory) so a crash mid-write loses nothing.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "proto/bytes.hpp"

namespace hg::hybrid {

inline constexpr long kMaxPrivateFileSize = 16 << 20;

// The file's contents; nullopt when it does not exist. Refuses (store.permissions) a file that is
// not ours or that group/others can access, and (store.corrupt) one that is not a regular file or
// is larger than kMaxPrivateFileSize.
Result<std::optional<std::string>> read_private_file(const std::filesystem::path& path);

// Creates `path` with `text` unless it exists (O_EXCL, mode 0600). Losing a creation race is not
// an error.
Status create_private_file(const std::filesystem::path& path, const std::string& text);

// Replaces `path` with `text` atomically (mode 0600).
Status write_private_file(const std::filesystem::path& path, const std::string& text);

// Overwrites a string's bytes (for text that held secrets).
void wipe_string(std::string& s) noexcept;

}  // namespace hg::hybrid
