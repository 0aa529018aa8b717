// SPDX-License-Identifier: Apache-2.0
// The radio the hybrid transport uses to prove proximity: the phone advertises 20 bytes of
// service data (the encrypted EID) under UUID 0xFFF9, the desktop scans for it.
// Two implementations: BlueZ over the system D-Bus, and a loopback radio between processes on
// one host (for machines without Bluetooth, tests and CI). Both deliver events on the
// io_context they were created with; no callback is ever invoked from another thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "proto/bytes.hpp"

namespace hg::ble {

// 16-bit service UUIDs caBLE v2 uses (docs/protocol.md §5.1).
inline constexpr uint16_t kFidoCableUuid = 0xFFF9;
inline constexpr uint16_t kGoogleCableUuid = 0xFDE2;
std::string uuid128(uint16_t short_uuid);  // "0000fff9-0000-1000-8000-00805f9b34fb"

struct Advert {
  uint16_t uuid = kFidoCableUuid;  // which service UUID carried it
  Bytes service_data;              // the payload (20 bytes for caBLE v2, maybe more for CTAP 2.3)
  std::string device;              // an identifier of the sender (BlueZ object path, loopback file name)
};

class Scanner {
 public:
  virtual ~Scanner() = default;
  // Starts a passive scan; on_advert is called for every caBLE advert seen (exact repeats from
  // the same device are suppressed). Returns an error (ble.*) if scanning cannot start.
  virtual Status start(std::function<void(const Advert&)> on_advert) = 0;
  // Stops scanning; safe to call more than once and on error paths.
  virtual void stop() = 0;
};

class Advertiser {
 public:
  virtual ~Advertiser() = default;
  // Starts (or replaces) the advert with this service data under UUID 0xFFF9.
  virtual Status start(ByteView service_data) = 0;
  virtual void stop() = 0;
};

enum class RadioKind { automatic, bluez, loopback };

struct RadioOptions {
  RadioKind kind = RadioKind::automatic;
  std::string adapter;        // BlueZ adapter name (hci0); empty = first powered
  std::string loopback_dir;   // loopback radio directory; empty = default (see loopback.hpp)
  // Called once with a human sentence when `automatic` picks the loopback radio.
  std::function<void(const std::string&)> notice;
};

// Factories. `automatic` → BlueZ when an adapter is present and usable, else loopback.
Result<std::unique_ptr<Scanner>> make_scanner(boost::asio::io_context& io, const RadioOptions& opts);
Result<std::unique_ptr<Advertiser>> make_advertiser(boost::asio::io_context& io, const RadioOptions& opts);

}  // namespace hg::ble
