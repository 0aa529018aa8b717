// SPDX-License-Identifier: Apache-2.0
// The security key's transport on Linux: a HID device created through /dev/uhid (the kernel's
// user-space HID driver, include/uapi/linux/uhid.h). The kernel then offers it as /dev/hidrawN to
// every FIDO host (browsers, libfido2, OpenSSH, pam_u2f); systemd's 60-fido-id.rules gives the
// seat's user access to that node because the report descriptor says usage page 0xF1D0.
//
//   auto dev = hg::key::Uhid::create({.name = "hybridgate phone as security key"});
//   dev->run({.output = [&](ByteView r) { key.receive(r); }, .closed = [&] { key.host_gone(); }});
//   // another thread: dev->send(report) for each report to the host; dev->stop() to end run()
//
// The device: bus USB (the bus type hosts enumerate security keys on), vendor and product 0 (no
// ID that belongs to anyone else), one 64-byte input and one 64-byte output report without a
// report ID. It disappears when the Uhid object is destroyed (UHID_DESTROY, then close) or the
// process dies (the kernel destroys it when /dev/uhid is closed).
//
// The event encoders/decoders are pure functions so that tests check them without a kernel.
#pragma once

#include <array>
#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "bridges/key/ctaphid.hpp"
#include "proto/error.hpp"

namespace hg::key {

// The FIDO HID report descriptor (CTAP 2.2 §11.2.8.1): usage page 0xF1D0, usage 0x01 (CTAPHID),
// 64-byte input report (usage 0x20) and 64-byte output report (usage 0x21).
inline constexpr std::array<uint8_t, 34> kFidoReportDescriptor = {
    0x06, 0xd0, 0xf1,  // Usage Page (FIDO Alliance)
    0x09, 0x01,        // Usage (CTAPHID)
    0xa1, 0x01,        // Collection (Application)
    0x09, 0x20,        //   Usage (Input Report Data)
    0x15, 0x00,        //   Logical Minimum (0)
    0x26, 0xff, 0x00,  //   Logical Maximum (255)
    0x75, 0x08,        //   Report Size (8)
    0x95, 0x40,        //   Report Count (64)
    0x81, 0x02,        //   Input (Data, Variable, Absolute)
    0x09, 0x21,        //   Usage (Output Report Data)
    0x15, 0x00,        //   Logical Minimum (0)
    0x26, 0xff, 0x00,  //   Logical Maximum (255)
    0x75, 0x08,        //   Report Size (8)
    0x95, 0x40,        //   Report Count (64)
    0x91, 0x02,        //   Output (Data, Variable, Absolute)
    0xc0,              // End Collection
};

struct UhidOptions {
  std::string name = "hybridgate phone as security key";  // must contain "hybridgate"; ≤ 127 bytes
  std::string uniq;                                       // serial-like string (optional)
  std::filesystem::path device = "/dev/uhid";
};

// Pure encoders of the events written to /dev/uhid (struct uhid_event, packed, little-endian).
Bytes uhid_create2_event(const UhidOptions& options);  // UHID_CREATE2 with kFidoReportDescriptor
Bytes uhid_input2_event(const Report& report);        // UHID_INPUT2: one report to the host
Bytes uhid_destroy_event();                           // UHID_DESTROY

// What the kernel says, decoded (pure).
struct UhidEvent {
  enum class Kind { start, stop, open, close, output, get_report, set_report, other };
  Kind kind = Kind::other;
  std::optional<Report> report;  // output: the host's 64-byte report (a leading report ID 0 removed)
  uint32_t request_id = 0;       // get_report / set_report: answer with this ID
};
std::optional<UhidEvent> parse_uhid_event(ByteView event);
// The replies the kernel waits for after UHID_GET_REPORT / UHID_SET_REPORT (this device has no
// feature reports: both answer EIO).
Bytes uhid_get_report_reply_event(uint32_t id);
Bytes uhid_set_report_reply_event(uint32_t id);

class Uhid {
 public:
  struct Handlers {
    std::function<void(ByteView report)> output;  // a 64-byte report the host wrote
    std::function<void()> opened;                 // the first host opened the hidraw node
    std::function<void()> closed;                 // the last host closed it
  };

  // Opens /dev/uhid and creates the device. Errors: io (with errno's sentence), e.g. when
  // /dev/uhid is missing (module not loaded) or not writable (see docs/security-key.md).
  static Result<std::unique_ptr<Uhid>> create(const UhidOptions& options);
  ~Uhid();  // UHID_DESTROY and close: the hidraw node disappears
  Uhid(const Uhid&) = delete;
  Uhid& operator=(const Uhid&) = delete;

  // Reads the kernel's events until stop() (returns ok) or a read error. Blocks; no polling.
  Status run(const Handlers& handlers);
  // Ends run() from any thread (also from a signal-handling thread).
  void stop();
  // One report to the host (UHID_INPUT2). Any thread.
  Status send(const Report& report);

 private:
  Uhid(int fd, int stop_fd) : fd_(fd), stop_fd_(stop_fd) {}
  int fd_;
  int stop_fd_;  // an eventfd: written by stop()
};

}  // namespace hg::key
