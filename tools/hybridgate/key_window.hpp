// SPDX-License-Identifier: Apache-2.0
// The security key daemon's window for register/sign-in --no-terminal-qr, through the helper
// program the key bridge builds (hybridgate-key-show, bridges/key/show.cpp), so the CLI links no
// bridge. The URL goes to the helper on a pipe, never in its argv.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace hgcli {

class KeyWindow {
 public:
  // Whether a daemon holds org.hybridgate.Key1 on the session bus now.
  static bool available();
  // The QR code in the daemon's window, or nullptr (no daemon, no helper). `cancelled` runs on
  // a reader thread when the person presses Cancel there.
  static std::unique_ptr<KeyWindow> show(const std::string& rp_id, const std::string& account, const std::string& url,
                                         std::function<void()> cancelled);
  ~KeyWindow();  // closes the window: the helper's stdin ends, it exits, and is waited for
  KeyWindow(const KeyWindow&) = delete;
  KeyWindow& operator=(const KeyWindow&) = delete;

 private:
  KeyWindow(pid_t pid, int in, int out, std::function<void()> cancelled);
  pid_t pid_;
  int in_;   // the helper's stdin (ours to close)
  int out_;  // the helper's stdout
  std::thread reader_;
};

}  // namespace hgcli
