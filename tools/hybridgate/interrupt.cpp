// SPDX-License-Identifier: Apache-2.0
#include "interrupt.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace hgcli {
namespace {

std::mutex g_mutex;
std::function<void()> g_cancel;  // guarded by g_mutex
std::atomic<bool> g_interrupted{false};

}  // namespace

void install_interrupt_handler() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by every thread started later
  std::thread([set] {
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      g_interrupted = true;
      std::lock_guard lock(g_mutex);
      if (g_cancel) {
        g_cancel();
      } else {
        _exit(kExitInterrupted);
      }
    }
  }).detach();
}

bool interrupted() { return g_interrupted; }

CancelOnInterrupt::CancelOnInterrupt(std::function<void()> cancel) {
  std::lock_guard lock(g_mutex);
  g_cancel = std::move(cancel);
  if (g_interrupted) g_cancel();
}

CancelOnInterrupt::~CancelOnInterrupt() {
  std::lock_guard lock(g_mutex);
  g_cancel = nullptr;
}

}  // namespace hgcli
