// SPDX-License-Identifier: Apache-2.0
// The device side of CTAPHID (CTAP 2.2, "USB Human Interface Device (USB HID)" transport) as a
// pure state machine: 64-byte output reports from the host in, 64-byte input reports to the host
// out. No I/O, no uhid, no threads, no clock: the caller passes the time in (`Millis`, any
// monotonic origin), so every timeout is testable and fuzzable.
//
//   hg::key::CtapHid hid(backend);
//   for (auto& r : hid.receive(report, now)) send(r);          // each report the host writes
//   for (auto& r : hid.tick(now)) send(r);                     // at hid.next_wakeup() (keepalives,
//                                                              //   message timeouts)
//   for (auto& r : hid.complete(id, response, now)) send(r);   // when the backend has answered
//
// What it implements:
// - INIT on the broadcast channel (0xffffffff): nonce echo, a fresh channel ID, CTAPHID protocol
//   version 2, capabilities WINK | CBOR | NMSG (no CTAP1/U2F: CTAPHID_MSG answers INVALID_CMD).
//   INIT on an allocated channel resynchronises it (aborts what that channel had in progress).
// - CBOR (handed whole to the Backend), PING (echo), WINK, LOCK (0-10 s), CANCEL (no reply; the
//   Backend is told and answers the request, normally with CTAP2_ERR_KEEPALIVE_CANCEL).
// - KEEPALIVE while the Backend works (status PROCESSING or UPNEEDED, every keepalive_interval).
// - ERROR replies: INVALID_CMD, INVALID_PAR, INVALID_LEN, INVALID_SEQ, MSG_TIMEOUT (the rest of
//   a message did not arrive within message_timeout of its first packet), CHANNEL_BUSY (another
//   channel holds the device: receiving a message, waiting for the Backend, or a LOCK),
//   INVALID_CHANNEL (channel 0, an unallocated channel, or a command other than INIT on the
//   broadcast channel), OTHER (a response too long to frame).
// - One transaction at a time for the whole device, several allocated channels.
// Bounded memory: one message buffer (at most kMaxMessage = 7609 bytes), a fixed channel table of
// max_channels entries reused least-recently-used first (an INIT flood cannot grow it; the busy
// channel is never evicted). Replies to one request: at most 129 reports.
// Not thread-safe: one owner calls it (the daemon's event loop).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "proto/bytes.hpp"

namespace hg::key {

inline constexpr size_t kReportSize = 64;
inline constexpr size_t kInitPayload = kReportSize - 7;  // cid(4) cmd(1) bcnt(2)
inline constexpr size_t kContPayload = kReportSize - 5;  // cid(4) seq(1)
inline constexpr size_t kMaxMessage = kInitPayload + 128 * kContPayload;  // 7609: seq 0..127
inline constexpr uint32_t kBroadcast = 0xffffffff;

using Report = std::array<uint8_t, kReportSize>;
using Millis = std::chrono::milliseconds;  // a monotonic time (steady_clock since any origin)

// CTAPHID command codes (without the 0x80 init-packet bit).
namespace cmd {
inline constexpr uint8_t ping = 0x01, msg = 0x03, lock = 0x04, init = 0x06, wink = 0x08, cbor = 0x10,
                         cancel = 0x11, keepalive = 0x3b, error = 0x3f;
}
// CTAPHID_ERROR codes.
enum class HidError : uint8_t {
  invalid_cmd = 0x01,
  invalid_par = 0x02,
  invalid_len = 0x03,
  invalid_seq = 0x04,
  msg_timeout = 0x05,
  channel_busy = 0x06,
  invalid_channel = 0x0b,
  other = 0x7f,
};
// CTAPHID_KEEPALIVE status.
enum class Keepalive : uint8_t { processing = 1, upneeded = 2 };
// CTAPHID_INIT capability flags.
namespace capability {
inline constexpr uint8_t wink = 0x01, cbor = 0x04, nmsg = 0x08;
}

// What the machine asks of whoever answers CTAP2 requests (the KeyDevice, or a test). Called
// synchronously from receive()/tick(); must not call back into the machine from inside.
class Backend {
 public:
  virtual ~Backend() = default;
  // A whole CTAP2 request (command byte ‖ CBOR, at least 1 byte) arrived on `channel`. The
  // device is busy until complete(id, …) is called with this id (exactly once, later).
  virtual void submit(uint64_t id, uint32_t channel, ByteView request) = 0;
  // The host cancelled request `id` (CTAPHID_CANCEL, a resynchronising INIT, or the host went
  // away): end it soon; complete(id, …) must still be called (its reply is dropped if the host
  // no longer waits for it).
  virtual void cancel(uint64_t id) = 0;
  // CTAPHID_WINK: show the person which device this is (optional).
  virtual void wink() {}
};

struct CtapHidConfig {
  Millis keepalive_interval{80};  // the spec wants one at least every 100 ms
  Millis message_timeout{3000};   // first packet of a message → its last (the HID transaction timeout)
  size_t max_channels = 32;       // allocated channels kept; the least recently used is reused
  std::array<uint8_t, 3> device_version{0, 1, 0};  // major, minor, build in the INIT reply
};

class CtapHid {
 public:
  explicit CtapHid(Backend& backend, CtapHidConfig config = {});

  // One report written by the host (exactly kReportSize bytes; a leading report ID must already
  // be stripped). Returns the reports to send back (possibly none).
  std::vector<Report> receive(ByteView report, Millis now);
  // Keepalives that are due and message timeouts that expired.
  std::vector<Report> tick(Millis now);
  // When tick() next has something to do; nullopt = nothing pending (sleep until input).
  std::optional<Millis> next_wakeup() const;

  // The Backend's answer to request `id` (CTAP2 status byte ‖ CBOR). Returns the reports to send
  // (none if the host cancelled or resynchronised meanwhile); the device is free again.
  std::vector<Report> complete(uint64_t id, ByteView response, Millis now);
  // The Backend's progress for request `id`: what the keepalives say from now on; the next one
  // is due at once (tick(now) sends it), so the host learns of the change without delay.
  void set_status(uint64_t id, Keepalive status, Millis now);

  // The host went away (its last reader closed the device): cancels the request in progress and
  // forgets every channel.
  void host_gone();

  // For tests and the fuzzer.
  size_t channel_count() const { return channels_.size(); }
  bool busy() const { return rx_.has_value() || tx_.has_value(); }
  std::optional<uint64_t> pending() const;  // the request the Backend works on, if any

 private:
  struct Channel {
    uint32_t cid;
    uint64_t last_used;
  };
  struct Assembly {  // a message being received
    uint32_t cid;
    uint8_t cmd;
    size_t total;
    uint8_t next_seq;
    Millis started;
    Bytes data;
  };
  struct Transaction {  // a CBOR request the Backend works on
    uint64_t id;
    uint32_t cid;
    Keepalive status;
    Millis next_keepalive;
    bool abandoned;  // the host no longer waits: drop the reply
  };

  void handle_message(uint32_t cid, uint8_t command, Bytes payload, Millis now, std::vector<Report>& out);
  void handle_init(uint32_t cid, ByteView payload, std::vector<Report>& out);
  bool known(uint32_t cid) const;
  void touch(uint32_t cid);
  uint32_t allocate();
  bool locked_by_other(uint32_t cid, Millis now) const;
  void abandon_transaction_of(uint32_t cid);

  Backend& backend_;
  CtapHidConfig config_;
  std::vector<Channel> channels_;  // at most config_.max_channels
  uint32_t next_cid_ = 1;
  uint64_t use_counter_ = 0;
  uint64_t next_id_ = 1;
  std::optional<Assembly> rx_;
  std::optional<Transaction> tx_;
  std::optional<std::pair<uint32_t, Millis>> lock_;  // channel, until
};

// Frames one message into reports (cid, 0x80|command, length, then continuation packets).
// `payload` must be at most kMaxMessage bytes.
std::vector<Report> frame_message(uint32_t cid, uint8_t command, ByteView payload);

}  // namespace hg::key
