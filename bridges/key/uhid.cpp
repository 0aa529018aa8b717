// SPDX-License-Identifier: Apache-2.0
#include "bridges/key/uhid.hpp"

#include <fcntl.h>
#include <linux/input.h>  // BUS_USB
#include <linux/uhid.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

namespace hg::key {
namespace {

// The layout this file relies on (include/uapi/linux/uhid.h): packed, the type first; the union
// is 8-aligned (uhid_start_req's __u64), so the event is 4380 bytes, create2's part ends at 4376.
static_assert(sizeof(uhid_event) == 4380);
static_assert(offsetof(uhid_event, u) == 4);
static_assert(offsetof(uhid_create2_req, rd_size) == 256 && offsetof(uhid_create2_req, rd_data) == 276);
static_assert(offsetof(uhid_output_req, size) == UHID_DATA_MAX);
static_assert(offsetof(uhid_input2_req, data) == 2);
static_assert(kFidoReportDescriptor.size() <= HID_MAX_DESCRIPTOR_SIZE);

Bytes as_bytes(const uhid_event& ev, size_t size) {
  const auto* p = reinterpret_cast<const uint8_t*>(&ev);
  return Bytes(p, p + size);
}

void copy_string(uint8_t* dst, size_t cap, const std::string& s) {
  const size_t n = std::min(s.size(), cap - 1);  // NUL-terminated
  std::memcpy(dst, s.data(), n);
}

Error errno_error(const std::string& what) {
  return make_error(Errc::io, what + ": " + std::strerror(errno));
}

}  // namespace

Bytes uhid_create2_event(const UhidOptions& options) {
  uhid_event ev{};
  ev.type = UHID_CREATE2;
  copy_string(ev.u.create2.name, sizeof ev.u.create2.name, options.name);
  copy_string(ev.u.create2.phys, sizeof ev.u.create2.phys, "hybridgate");
  copy_string(ev.u.create2.uniq, sizeof ev.u.create2.uniq, options.uniq);
  ev.u.create2.rd_size = static_cast<uint16_t>(kFidoReportDescriptor.size());
  ev.u.create2.bus = BUS_USB;
  ev.u.create2.vendor = 0;
  ev.u.create2.product = 0;
  ev.u.create2.version = 0;
  ev.u.create2.country = 0;
  std::memcpy(ev.u.create2.rd_data, kFidoReportDescriptor.data(), kFidoReportDescriptor.size());
  return as_bytes(ev, sizeof ev);
}

Bytes uhid_input2_event(const Report& report) {
  uhid_event ev{};
  ev.type = UHID_INPUT2;
  ev.u.input2.size = static_cast<uint16_t>(report.size());
  std::memcpy(ev.u.input2.data, report.data(), report.size());
  // The kernel reads what was written and zero-fills the rest: type, size and the report suffice.
  return as_bytes(ev, offsetof(uhid_event, u) + offsetof(uhid_input2_req, data) + report.size());
}

Bytes uhid_destroy_event() {
  uhid_event ev{};
  ev.type = UHID_DESTROY;
  return as_bytes(ev, sizeof ev.type);
}

Bytes uhid_get_report_reply_event(uint32_t id) {
  uhid_event ev{};
  ev.type = UHID_GET_REPORT_REPLY;
  ev.u.get_report_reply.id = id;
  ev.u.get_report_reply.err = EIO;
  ev.u.get_report_reply.size = 0;
  return as_bytes(ev, offsetof(uhid_event, u) + offsetof(uhid_get_report_reply_req, data));
}

Bytes uhid_set_report_reply_event(uint32_t id) {
  uhid_event ev{};
  ev.type = UHID_SET_REPORT_REPLY;
  ev.u.set_report_reply.id = id;
  ev.u.set_report_reply.err = EIO;
  return as_bytes(ev, offsetof(uhid_event, u) + sizeof(uhid_set_report_reply_req));
}

std::optional<UhidEvent> parse_uhid_event(ByteView event) {
  if (event.size() < sizeof(uint32_t)) return std::nullopt;
  uhid_event ev{};
  std::memcpy(&ev, event.data(), std::min(event.size(), sizeof ev));
  UhidEvent out;
  switch (ev.type) {
    case UHID_START:
      out.kind = UhidEvent::Kind::start;
      break;
    case UHID_STOP:
      out.kind = UhidEvent::Kind::stop;
      break;
    case UHID_OPEN:
      out.kind = UhidEvent::Kind::open;
      break;
    case UHID_CLOSE:
      out.kind = UhidEvent::Kind::close;
      break;
    case UHID_OUTPUT: {
      out.kind = UhidEvent::Kind::output;
      if (ev.u.output.rtype != UHID_OUTPUT_REPORT) break;
      size_t size = std::min<size_t>(ev.u.output.size, UHID_DATA_MAX);
      const uint8_t* data = ev.u.output.data;
      // hidraw passes the report number first; this device has no numbered reports, so it is 0.
      if (size == kReportSize + 1 && data[0] == 0) {
        ++data;
        --size;
      }
      if (size != kReportSize) break;  // not a CTAPHID report: no report
      Report r;
      std::memcpy(r.data(), data, kReportSize);
      out.report = r;
      break;
    }
    case UHID_GET_REPORT:
      out.kind = UhidEvent::Kind::get_report;
      out.request_id = ev.u.get_report.id;
      break;
    case UHID_SET_REPORT:
      out.kind = UhidEvent::Kind::set_report;
      out.request_id = ev.u.set_report.id;
      break;
    default:
      out.kind = UhidEvent::Kind::other;
      break;
  }
  return out;
}

Result<std::unique_ptr<Uhid>> Uhid::create(const UhidOptions& options) {
  if (options.name.find("hybridgate") == std::string::npos || options.name.size() > 127)
    return make_error(Errc::invalid_argument, "the device name must contain \"hybridgate\" (at most 127 bytes)");
  const int fd = ::open(options.device.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return errno_error("cannot open " + options.device.string());
  const int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    Error e = errno_error("eventfd");
    ::close(fd);
    return e;
  }
  std::unique_ptr<Uhid> dev(new Uhid(fd, stop_fd));
  const Bytes ev = uhid_create2_event(options);
  const ssize_t n = ::write(fd, ev.data(), ev.size());
  if (n != static_cast<ssize_t>(ev.size())) return errno_error("cannot create the HID device (UHID_CREATE2)");
  return dev;
}

Uhid::~Uhid() {
  const Bytes ev = uhid_destroy_event();
  (void)!::write(fd_, ev.data(), ev.size());
  ::close(fd_);
  ::close(stop_fd_);
}

void Uhid::stop() {
  const uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
}

Status Uhid::send(const Report& report) {
  const Bytes ev = uhid_input2_event(report);
  for (;;) {
    const ssize_t n = ::write(fd_, ev.data(), ev.size());
    if (n == static_cast<ssize_t>(ev.size())) return ok_status();
    if (n < 0 && errno == EINTR) continue;
    return errno_error("cannot send a report to the host (UHID_INPUT2)");
  }
}

Status Uhid::run(const Handlers& handlers) {
  std::vector<uint8_t> buf(sizeof(uhid_event));
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int r = ::poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno_error("poll");
    }
    if (fds[1].revents & POLLIN) return ok_status();
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return make_error(Errc::io, "/dev/uhid closed");
    if (!(fds[0].revents & POLLIN)) continue;
    const ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return errno_error("cannot read from /dev/uhid");
    }
    auto ev = parse_uhid_event(ByteView(buf.data(), size_t(n)));
    if (!ev) continue;
    switch (ev->kind) {
      case UhidEvent::Kind::output:
        if (ev->report && handlers.output) handlers.output(*ev->report);
        break;
      case UhidEvent::Kind::open:
        if (handlers.opened) handlers.opened();
        break;
      case UhidEvent::Kind::close:
        if (handlers.closed) handlers.closed();
        break;
      case UhidEvent::Kind::get_report: {
        const Bytes reply = uhid_get_report_reply_event(ev->request_id);
        (void)!::write(fd_, reply.data(), reply.size());
        break;
      }
      case UhidEvent::Kind::set_report: {
        const Bytes reply = uhid_set_report_reply_event(ev->request_id);
        (void)!::write(fd_, reply.data(), reply.size());
        break;
      }
      default:
        break;
    }
  }
}

}  // namespace hg::key
