// SPDX-License-Identifier: Apache-2.0
// A client of the security key daemon's session-bus interface (bridges/key/bus.hpp): shows a QR
// code in the key's window. For programs with no terminal to draw it on.
//
//   auto shown = key::KeyWindowClient::show("ssh:", "", url, [] { /* the person cancelled */ });
//   if (!shown) ...            // no daemon on the session bus: show it some other way
//   shown.reset();             // closes the window (Close)
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace hg::key {

class KeyWindowClient {
 public:
  // The window is open when this returns non-null; nullptr when there is no session bus, no
  // daemon on it, or it refused (the reason goes to `why` when given). `cancelled` is called
  // (from the client's bus thread) when the person presses Cancel in that window.
  static std::unique_ptr<KeyWindowClient> show(const std::string& rp_id, const std::string& account,
                                               const std::string& url, std::function<void()> cancelled,
                                               std::string* why = nullptr);
  // Whether a daemon holds org.hybridgate.Key1 on the session bus now.
  static bool available();
  ~KeyWindowClient();  // Close(handle)
  KeyWindowClient(const KeyWindowClient&) = delete;
  KeyWindowClient& operator=(const KeyWindowClient&) = delete;

  struct Impl;

 private:
  explicit KeyWindowClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hg::key
