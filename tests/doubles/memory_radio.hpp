// SPDX-License-Identifier: Apache-2.0
// An in-memory radio (tests only): advertisers and scanners of one process meet in a MemoryAir
// instead of the air or the loopback radio's directory (ble/loopback.hpp, which is between
// processes). Scanners are called on the io_context they were made with, never from another
// thread, as ble/radio.hpp promises; the desktop and the phone may run on different threads.
#pragma once

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "ble/radio.hpp"
#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace hg::doubles {

class MemoryAir : public std::enable_shared_from_this<MemoryAir> {
 public:
  static std::shared_ptr<MemoryAir> make() { return std::shared_ptr<MemoryAir>(new MemoryAir()); }

  std::unique_ptr<ble::Scanner> scanner(boost::asio::any_io_executor ex);
  std::unique_ptr<ble::Advertiser> advertiser();

  // Test controls: an advert from nobody in particular (every running scanner sees it), the
  // adverts on the air now, how many times advertising started, and a radio that refuses to start.
  void broadcast(ByteView service_data, uint16_t uuid = ble::kFidoCableUuid);
  std::vector<Bytes> on_air() const;
  int adverts_started() const;
  int scanners() const;  // scans running now
  bool refuse_scan = false;
  bool refuse_advertise = false;

 private:
  friend class MemoryScanner;
  friend class MemoryAdvertiser;
  MemoryAir() = default;
  struct Listener {
    boost::asio::any_io_executor ex;
    std::shared_ptr<std::function<void(const ble::Advert&)>> on_advert;
  };
  void deliver(const ble::Advert& a);  // to every scanner, on its executor

  mutable std::mutex mutex_;
  uint64_t next_ = 0;
  std::map<uint64_t, Listener> scanners_;
  std::map<uint64_t, ble::Advert> adverts_;
  int started_ = 0;
};

}  // namespace hg::doubles
