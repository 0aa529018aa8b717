// SPDX-License-Identifier: Apache-2.0
// The BlueZ radio: org.bluez over the system D-Bus with sdbus-c++, integrated into the
// io_context single-threaded (the connection's fd is watched with a stream_descriptor).
//
// Scanner (desktop): picks an Adapter1 (named, or the first powered one), sets the discovery
// filter {Transport: "le", DuplicateData: true} without UUIDs (a UUID filter makes BlueZ drop
// caBLE adverts), StartDiscovery, then follows Device1 objects (GetManagedObjects,
// InterfacesAdded, PropertiesChanged, InterfacesRemoved) for ServiceData under 0xFFF9/0xFDE2 of
// 20 bytes or more. Passive: it never connects to a device. StopDiscovery on stop().
//
// Advertiser (phone): exports an org.bluez.LEAdvertisement1 object (Type "broadcast",
// ServiceData {fff9: data}, no name, shortest intervals) and registers it with
// LEAdvertisingManager1 asynchronously (real BlueZ reads the object back before it replies).
// start() again updates the ServiceData (EID rotation); stop() unregisters.
//
// Every BlueZ failure maps to one of the ble.* error codes.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ble/radio.hpp"

namespace hg::ble::bluez {

inline constexpr const char* kRfkillDirEnv = "HYBRIDGATE_RFKILL_DIR";  // default /sys/class/rfkill
inline constexpr const char* kAdvertPath = "/org/hybridgate/advertisement";

struct RfkillState {
  bool present = false;  // a bluetooth rfkill switch exists
  bool soft = false;     // soft-blocked (rfkill block / airplane mode)
  bool hard = false;     // hard-blocked (a switch on the machine)
  bool blocked() const { return soft || hard; }
};
// Reads <dir>/*/type == "bluetooth" and its soft/hard files.
RfkillState read_rfkill();

struct AdapterInfo {
  std::string name;  // hci0
  std::string path;  // /org/bluez/hci0
  std::string address;
  std::string alias;
  std::string modalias;
  bool powered = false;
  bool discovering = false;
  bool has_advertising_manager = false;  // org.bluez.LEAdvertisingManager1 on the adapter
  int supported_instances = -1;          // SupportedInstances, -1 if unknown
  int active_instances = -1;
};

struct SystemInfo {
  std::string bluez_owner;      // unique bus name of org.bluez
  std::string bluez_version;    // "5.66" from the adapter Modalias (usb:v1D6Bp0246d0542), or empty
  std::vector<AdapterInfo> adapters;
  RfkillState rfkill;
};
// Connects to the system bus and reads what BlueZ reports. Errors: ble.no_system_bus,
// ble.permission, ble.no_bluez, ble.failed.
Result<SystemInfo> inspect_system();

// The adapter a scanner (or, with for_advertising, an advertiser) would use, or the error that
// explains why none is usable: ble.no_adapter, ble.adapter_off, ble.rfkill, ble.no_advertising.
Result<AdapterInfo> choose_adapter(const SystemInfo& sys, const std::string& wanted, bool for_advertising);

// Checks the bus, BlueZ and the adapter without scanning or advertising (used by the automatic
// radio choice).
Result<AdapterInfo> probe(const std::string& adapter, bool for_advertising);

// Maps a D-Bus error name (and message) to a ble.* error.
Error map_dbus_error(const std::string& name, const std::string& message, Errc fallback = Errc::ble_failed);

// "5.66" from "usb:v1D6Bp0246d0542"; empty when the modalias is not BlueZ's.
std::string version_from_modalias(const std::string& modalias);

Result<std::unique_ptr<Scanner>> make_scanner(boost::asio::io_context& io, const std::string& adapter);
Result<std::unique_ptr<Advertiser>> make_advertiser(boost::asio::io_context& io, const std::string& adapter);

}  // namespace hg::ble::bluez
