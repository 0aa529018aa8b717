// SPDX-License-Identifier: Apache-2.0
// Radio factories: BlueZ, loopback, or the automatic choice between them.
#include "ble/radio.hpp"

#include <atomic>
#include <cstdio>

#include "ble/bluez.hpp"
#include "ble/loopback.hpp"

namespace hg::ble {

std::string uuid128(uint16_t short_uuid) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "0000%04x-0000-1000-8000-00805f9b34fb", unsigned(short_uuid));
  return buf;
}

namespace {

std::atomic<bool> g_notice_given{false};

// Automatic choice: BlueZ when its adapter is usable, else loopback (and say why, once).
bool use_bluez(const RadioOptions& opts, bool for_advertising) {
  auto probe = bluez::probe(opts.adapter, for_advertising);
  if (probe) return true;
  if (opts.notice && !g_notice_given.exchange(true)) {
    std::string s = "Bluetooth is not usable (" + std::string(probe.error().name()) + ": " +
                    std::string(probe.error().sentence()) + ")";
    s += " Using the loopback radio, which only reaches hybridgate on this computer.";
    opts.notice(s);
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<Scanner>> make_scanner(boost::asio::io_context& io, const RadioOptions& opts) {
  const bool bluez = opts.kind == RadioKind::bluez || (opts.kind == RadioKind::automatic && use_bluez(opts, false));
  if (bluez) return bluez::make_scanner(io, opts.adapter);
  return loopback::make_scanner(io, opts.loopback_dir);
}

Result<std::unique_ptr<Advertiser>> make_advertiser(boost::asio::io_context& io, const RadioOptions& opts) {
  const bool bluez = opts.kind == RadioKind::bluez || (opts.kind == RadioKind::automatic && use_bluez(opts, true));
  if (bluez) return bluez::make_advertiser(io, opts.adapter);
  auto a = loopback::make_advertiser(io, opts.loopback_dir);
  if (!a) return std::move(a).error();
  return std::unique_ptr<Advertiser>(std::move(a).value());
}

}  // namespace hg::ble
