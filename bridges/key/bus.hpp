// SPDX-License-Identifier: Apache-2.0
// The security key daemon's session-bus interface: other programs of the same person (the
// OpenSSH provider under ssh-agent, `hybridgate register/sign-in --no-terminal-qr`) show their QR
// code in the key's window instead of nowhere. docs/security-key.md, "The session-bus interface".
//
//   bus name   org.hybridgate.Key1        object  /org/hybridgate/Key1
//   interface  org.hybridgate.Key1
//     ShowQr(s rp_id, s account, s url) -> (u handle)   opens a window with the site, the account
//                                          ("" for a sign-in) and the QR code of `url` (a FIDO:/
//                                          URL); replaces the previous bus window
//     Close(u handle)                      closes it (no error when it is gone already)
//     signal Cancelled(u handle)           the person pressed Cancel/Escape in that window
//   Errors: org.hybridgate.Key1.Error.InvalidArgs (not a FIDO:/ URL, too long), .NoWindow.
// A window shown over the bus closes by itself after kBusWindowLifetime (a caller that died
// without Close leaves nothing behind for long).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>


namespace hg::key {

inline constexpr const char* kBusName = "org.hybridgate.Key1";
inline constexpr const char* kBusPath = "/org/hybridgate/Key1";
inline constexpr const char* kBusInterface = "org.hybridgate.Key1";
inline constexpr std::chrono::seconds kBusWindowLifetime{300};

// The service side (in `hybridgate key`). Holds the bus name and serves on its own thread until
// destroyed.
class KeyBus {
 public:
  // Connects to the session bus ($DBUS_SESSION_BUS_ADDRESS) and takes the name; nullptr (and
  // the reason in `why`) when there is no session bus or the name is taken (another daemon).
  static std::unique_ptr<KeyBus> start(std::string window_program, std::function<void(const std::string&)> log,
                                       std::string& why);
  ~KeyBus();
  KeyBus(const KeyBus&) = delete;
  KeyBus& operator=(const KeyBus&) = delete;

  struct Impl;

 private:
  explicit KeyBus(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hg::key
