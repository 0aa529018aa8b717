// SPDX-License-Identifier: Apache-2.0
// The loopback radio: advertisers and scanners of processes on one host meet in a private
// directory instead of the air. Used when no Bluetooth adapter is usable, in tests and in CI.
//
// Directory: RadioOptions::loopback_dir, else $HYBRIDGATE_RADIO_DIR, else
// $XDG_RUNTIME_DIR/hybridgate-radio, else /tmp/hybridgate-radio-<uid>. It is created 0700; a
// directory not owned by us, not a directory, or writable by group/others is refused.
//
// An advertiser writes `adv-<pid>-<random>.bin` atomically (temporary file + rename); starting
// again replaces it (EID rotation); stop() and the destructor remove it. A scanner reads the
// directory once when it starts and then follows it with inotify on the io_context (no threads).
// It ignores (and deletes) files whose writer process is gone, suppresses exact repeats per file,
// refuses files larger than kMaxFileSize and never trusts file contents beyond the format below.
//
// File format (all integers little-endian):
//   "HGLR" | version u8 (=1) | reserved u8 (=0) | uuid u16 | pid u32 | length u16 | data[length]
// and nothing after the data.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "ble/radio.hpp"

namespace hg::ble::loopback {

inline constexpr size_t kMaxFileSize = 512;
inline constexpr size_t kHeaderSize = 14;
inline constexpr const char* kDirEnv = "HYBRIDGATE_RADIO_DIR";

// The directory the options name (see above). Does not create it.
std::string resolve_dir(const std::string& configured);
// Creates the directory (0700, the parent must exist) or checks the existing one is private.
// Errors: ble.failed with a detail saying what is wrong.
Status prepare_dir(const std::string& dir);

struct FileAdvert {
  uint16_t uuid = kFidoCableUuid;
  uint32_t pid = 0;
  Bytes service_data;
};
Bytes encode_file(const FileAdvert& a);
// Strict parse: magic, version, reserved, exact length. Errors: invalid_argument.
Result<FileAdvert> parse_file(ByteView file);

// Like the Advertiser interface, plus a choice of the UUID (tests send FDE2 adverts with it).
class LoopbackAdvertiser : public Advertiser {
 public:
  virtual Status start_with_uuid(uint16_t uuid, ByteView service_data) = 0;
  // The file the advert is in (empty before the first start).
  virtual std::string file_path() const = 0;
};

Result<std::unique_ptr<Scanner>> make_scanner(boost::asio::io_context& io, const std::string& configured_dir);
Result<std::unique_ptr<LoopbackAdvertiser>> make_advertiser(boost::asio::io_context& io,
                                                            const std::string& configured_dir);

}  // namespace hg::ble::loopback
