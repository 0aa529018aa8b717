// SPDX-License-Identifier: Apache-2.0
// Where `hybridgate phone` reads a PIN or passphrase from: never argv. In order of preference:
//   --pin-fd N     one line per PIN from file descriptor N (scripts and tests);
//   --pinentry P   the pinentry program P (Debian's pinentry-tty, pinentry-curses, pinentry-gnome3),
//                  spoken to in the Assuan protocol over its standard input and output;
//   the terminal   /dev/tty with echo off.
// Every read can be withdrawn (`cancelled`) and is bounded (a PIN has at most 63 bytes, a
// passphrase 1024; an Assuan line 1000 bytes).
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "proto/bytes.hpp"

namespace hgcli {

struct SecretSource {
  int fd = -1;           // --pin-fd
  std::string pinentry;  // --pinentry
};

struct SecretQuestion {
  std::string title;        // "hybridgate phone"
  std::string description;  // what it is for, e.g. "example.com asks to sign in as alice"
  std::string prompt;       // "PIN:"
  std::string error;        // shown above the prompt, e.g. "Wrong PIN (7 tries left)"
  size_t max_len = 63;
};

// The secret (UTF-8, no newline), or nullopt: declined, end of input, withdrawn, nothing to ask
// with. `why` (may be null) says which.
std::optional<hg::SecretBytes> ask_secret(const SecretSource& src, const SecretQuestion& q,
                                          const std::atomic<bool>& cancelled, std::string* why = nullptr);

}  // namespace hgcli
