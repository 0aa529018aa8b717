// SPDX-License-Identifier: Apache-2.0
// Test helper: the security key's device core with its window, on a pipe instead of /dev/uhid
// (what `hybridgate key` runs, minus the kernel). Reads the host's 64-byte reports from standard
// input, writes the device's reports to standard output; end of input = the host went away.
// The window helper is argv[1]; log lines (no secrets) go to standard error, with the daemon's
// "the window is shown" / "the window is gone". Used by tests/key-window/test_window.py.
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <mutex>

#include "bridges/key/bus.hpp"
#include "bridges/key/key_device.hpp"
#include "bridges/key/window.hpp"
#include "hybrid/settings.hpp"
#include "../key/pipe_io.hpp"

using namespace hg;

using hg::test::read_full;
using hg::test::write_full;

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 3 && std::string(argv[2]) == "--bus")) {
    std::cerr << "usage: key_window_device WINDOW_PROGRAM [--bus]\n";
    return 2;
  }
  auto config = hybrid::load_desktop_config();
  if (!config) {
    std::cerr << "key_window_device: " << config.error().to_string() << "\n";
    return 2;
  }
  std::mutex log_mutex;
  auto log = [&](const std::string& line) {
    std::lock_guard lk(log_mutex);
    std::cerr << "key: " << line << std::endl;
  };
  hybrid::Desktop desktop(*config);
  key::KeyCallbacks cb;
  cb.log = log;
  key::WindowGlue window(desktop, argv[1], log);
  window.install(cb);
  std::unique_ptr<key::KeyBus> bus;
  if (argc == 3) {  // --bus: serve org.hybridgate.Key1 as `hybridgate key` does
    std::string why;
    bus = key::KeyBus::start(argv[1], log, why);
    if (!bus) {
      log("no session-bus interface: " + why);
      return 1;
    }
    log("serving org.hybridgate.Key1 on the session bus");
  }
  {
    key::KeyDevice device(desktop, [](const key::Report& r) { write_full(STDOUT_FILENO, r.data(), r.size()); }, cb);
    window.attach(&device);
    log("ready");
    key::Report report;
    while (read_full(STDIN_FILENO, report.data(), report.size())) device.receive(report);
    log("the host went away");
    device.host_gone();
    window.attach(nullptr);
  }
  return 0;
}
