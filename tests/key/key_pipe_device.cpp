// SPDX-License-Identifier: Apache-2.0
// Test helper: the security key's device core (KeyDevice) on a pipe instead of /dev/uhid. Reads
// the host's 64-byte reports from standard input, writes the device's 64-byte reports to
// standard output; end of input = the host went away (a ceremony in progress is cancelled), then
// it exits. The desktop side is configured from the HYBRIDGATE_* environment like every desktop
// program. Log lines (no secrets) go to standard error. Used by tests/key/test_key.py with
// python-fido2's CtapHidDevice over a custom CtapHidConnection.
//
// Also the /dev/uhid event codec without a kernel, for checks against the uapi layout:
//   key_pipe_device --uhid-create2   the UHID_CREATE2 event `hybridgate key` writes, on stdout
//   key_pipe_device --uhid-input2    a 64-byte report (stdin) as a UHID_INPUT2 event (stdout)
//   key_pipe_device --uhid-parse     an event from the kernel (stdin) → the host's report (stdout)
#include <unistd.h>

#include <cerrno>
#include <iostream>

#include "bridges/key/key_device.hpp"
#include "bridges/key/uhid.hpp"
#include "hybrid/settings.hpp"
#include "pipe_io.hpp"

using namespace hg;

using hg::test::read_full;
using hg::test::write_full;

Bytes read_all() {
  Bytes in;
  uint8_t buf[4096];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return in;
    in.insert(in.end(), buf, buf + n);
  }
}

int uhid_codec(const std::string& mode) {
  Bytes out;
  if (mode == "--uhid-create2") {
    out = key::uhid_create2_event({});
  } else if (mode == "--uhid-input2") {
    Bytes in = read_all();
    if (in.size() != key::kReportSize) return 2;
    key::Report r;
    std::copy(in.begin(), in.end(), r.begin());
    out = key::uhid_input2_event(r);
  } else if (mode == "--uhid-parse") {
    auto ev = key::parse_uhid_event(read_all());
    if (!ev) return 1;
    std::cerr << "kind " << int(ev->kind) << " id " << ev->request_id << "\n";
    if (ev->report) out.assign(ev->report->begin(), ev->report->end());
  } else {
    return 2;
  }
  write_full(STDOUT_FILENO, out.data(), out.size());
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 2) return uhid_codec(argv[1]);
  auto config = hybrid::load_desktop_config();
  if (!config) {
    std::cerr << "key_pipe_device: " << config.error().to_string() << "\n";
    return 2;
  }
  hybrid::Desktop desktop(*config);
  key::KeyCallbacks cb;
  cb.log = [](const std::string& line) { std::cerr << "key: " << line << std::endl; };
  key::KeyDevice device(desktop, [](const key::Report& r) { write_full(STDOUT_FILENO, r.data(), r.size()); }, cb);
  std::cerr << "key_pipe_device: ready" << std::endl;
  key::Report report;
  while (read_full(STDIN_FILENO, report.data(), report.size())) device.receive(report);
  std::cerr << "key_pipe_device: the host went away" << std::endl;
  device.host_gone();
  return 0;
}
