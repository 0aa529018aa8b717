// SPDX-License-Identifier: Apache-2.0
// Ctrl-C and SIGTERM for the CLI: a thread waits for the signal and cancels the running ceremony
// through its façade (so the tunnel is closed and the phone learns at once); the command then
// exits with kExitInterrupted. Without a ceremony running, the process exits with that code.
#pragma once

#include <functional>

namespace hgcli {

inline constexpr int kExitUsage = 2;          // bad command line
inline constexpr int kExitInterrupted = 130;  // SIGINT / SIGTERM, as shells report 128 + SIGINT

// Call once at the start of main(), before any other thread exists.
void install_interrupt_handler();
// True once SIGINT or SIGTERM arrived.
bool interrupted();

// While alive, an interrupt calls `cancel` (from the signal thread) instead of exiting.
class CancelOnInterrupt {
 public:
  explicit CancelOnInterrupt(std::function<void()> cancel);
  ~CancelOnInterrupt();
  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;
};

}  // namespace hgcli
