// SPDX-License-Identifier: Apache-2.0
// The person's window of the security key, seen from the daemon: a small GTK 4 helper program
// (tools/key-window, `hybridgate-key-window`) started for each request that needs the phone and
// spoken to over a socket on its standard input/output. GTK stays out of the daemon and out of
// libhybridgate; this file only starts the helper and exchanges JSON lines with it
// (docs/security-key.md, "The window", says why and lists the messages).
//
//   key::Window window(key::Window::default_program(), {.cancel = ..., .phone = ..., .log = ...});
//   window.open(request, phone_names);   // the helper starts; `shown("request")` after its first frame
//   window.qr(url);                      // the QR code (the URL goes over the socket, never argv)
//   window.close(end, detail);           // answered/cancelled/timed out: the helper exits at once;
//                                        // failed: it shows `detail` until the person closes it
//
// The callbacks come from the helper's reader thread. One window at a time: open() closes the
// previous one. The destructor ends every helper (SIGTERM) and joins its thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bridges/key/key_device.hpp"

namespace hg::key {

struct WindowActions {
  std::function<void()> cancel;                         // the person pressed Cancel (or Escape)
  std::function<void(const std::string& name)> phone;   // the person picked a remembered phone
  // A frame showing this state is drawn: "request" (the window is up), "error" (a failure).
  std::function<void(const std::string& state)> shown;
  std::function<void()> gone;                           // the helper exited
  std::function<void(const std::string& line)> log;    // journal lines (no secrets)
};

class Window {
 public:
  // $HYBRIDGATE_KEY_WINDOW, else hybridgate-key-window next to the running program (a build
  // tree), else in ../libexec/hybridgate/ from it (an installed prefix), else the libexec path
  // of the configured prefix.
  static std::string default_program();
  // Whether a graphical session is reachable: DISPLAY or WAYLAND_DISPLAY is set.
  static bool graphical_session();

  Window(std::string program, WindowActions actions);
  ~Window();
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  // Starts the helper and tells it what to show. `phones`: remembered phones' names to pick from.
  void open(const PhoneRequest& request, const std::vector<std::string>& phones);
  void qr(const std::string& fido_url);
  void status(const std::string& sentence);
  void close(RequestEnd end, const std::string& detail);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The daemon's glue between a KeyDevice and its Window (what `hybridgate key` runs):
//   key::WindowGlue glue(desktop, program, log);
//   glue.install(callbacks);                  // before the KeyDevice is made (wraps callbacks.qr)
//   key::KeyDevice device(desktop, send, callbacks);
//   glue.attach(&device);                     // the window's Cancel → decline(), phone → use_phone()
//   ...
//   glue.attach(nullptr);                     // before the KeyDevice goes
// Each request to the phone opens the window with the Desktop's remembered phones; its end closes
// it (a failure is shown). The log says "the window is shown" / "the window is gone".
class WindowGlue {
 public:
  WindowGlue(hybrid::Desktop& desktop, std::string program, std::function<void(const std::string&)> log);
  void install(KeyCallbacks& callbacks);
  void attach(KeyDevice* device);

 private:
  hybrid::Desktop& desktop_;
  std::function<void(const std::string&)> log_;
  std::mutex m_;
  KeyDevice* device_ = nullptr;
  std::unique_ptr<Window> window_;
};

}  // namespace hg::key
