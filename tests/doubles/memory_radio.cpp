// SPDX-License-Identifier: Apache-2.0
#include "memory_radio.hpp"

#include <boost/asio/post.hpp>

namespace hg::doubles {

namespace net = boost::asio;

class MemoryScanner final : public ble::Scanner {
 public:
  MemoryScanner(std::shared_ptr<MemoryAir> air, net::any_io_executor ex) : air_(std::move(air)), ex_(std::move(ex)) {}
  ~MemoryScanner() override { stop(); }
  Status start(std::function<void(const ble::Advert&)> on_advert) override {
    stop();
    std::vector<ble::Advert> now;
    {
      std::lock_guard lock(air_->mutex_);
      if (air_->refuse_scan) return make_error(Errc::ble_failed, "the in-memory radio refuses to scan");
      cb_ = std::make_shared<std::function<void(const ble::Advert&)>>(std::move(on_advert));
      id_ = ++air_->next_;
      air_->scanners_[id_] = {ex_, cb_};
      for (const auto& [k, a] : air_->adverts_) now.push_back(a);
    }
    for (auto& a : now) {  // adverts already on the air, delivered like new ones (on the io_context)
      std::weak_ptr<std::function<void(const ble::Advert&)>> weak = cb_;
      net::post(ex_, [weak, a] {
        if (auto f = weak.lock()) (*f)(a);
      });
    }
    return ok_status();
  }
  void stop() override {
    if (!id_) return;
    std::lock_guard lock(air_->mutex_);
    air_->scanners_.erase(id_);
    id_ = 0;
    cb_.reset();  // posted deliveries hold a weak reference: none runs after stop()
  }

 private:
  std::shared_ptr<MemoryAir> air_;
  net::any_io_executor ex_;
  uint64_t id_ = 0;
  std::shared_ptr<std::function<void(const ble::Advert&)>> cb_;
};

class MemoryAdvertiser final : public ble::Advertiser {
 public:
  explicit MemoryAdvertiser(std::shared_ptr<MemoryAir> air) : air_(std::move(air)) {}
  ~MemoryAdvertiser() override { stop(); }
  Status start(ByteView service_data) override {
    ble::Advert a;
    {
      std::lock_guard lock(air_->mutex_);
      if (air_->refuse_advertise) return make_error(Errc::ble_failed, "the in-memory radio refuses to advertise");
      if (!id_) id_ = ++air_->next_;
      a.service_data.assign(service_data.begin(), service_data.end());
      a.device = "memory-" + std::to_string(id_);
      air_->adverts_[id_] = a;
      ++air_->started_;
    }
    air_->deliver(a);
    return ok_status();
  }
  void stop() override {
    if (!id_) return;
    std::lock_guard lock(air_->mutex_);
    air_->adverts_.erase(id_);
    id_ = 0;
  }

 private:
  std::shared_ptr<MemoryAir> air_;
  uint64_t id_ = 0;
};

std::unique_ptr<ble::Scanner> MemoryAir::scanner(net::any_io_executor ex) {
  return std::make_unique<MemoryScanner>(shared_from_this(), std::move(ex));
}

std::unique_ptr<ble::Advertiser> MemoryAir::advertiser() { return std::make_unique<MemoryAdvertiser>(shared_from_this()); }

void MemoryAir::deliver(const ble::Advert& a) {
  std::lock_guard lock(mutex_);
  for (const auto& [id, l] : scanners_) {
    std::weak_ptr<std::function<void(const ble::Advert&)>> weak = l.on_advert;
    net::post(l.ex, [weak, a] {
      if (auto f = weak.lock()) (*f)(a);
    });
  }
}

void MemoryAir::broadcast(ByteView service_data, uint16_t uuid) {
  ble::Advert a;
  a.uuid = uuid;
  a.service_data.assign(service_data.begin(), service_data.end());
  a.device = "memory-broadcast";
  deliver(a);
}

std::vector<Bytes> MemoryAir::on_air() const {
  std::lock_guard lock(mutex_);
  std::vector<Bytes> out;
  for (const auto& [k, a] : adverts_) out.push_back(a.service_data);
  return out;
}

int MemoryAir::scanners() const {
  std::lock_guard lock(mutex_);
  return int(scanners_.size());
}

int MemoryAir::adverts_started() const {
  std::lock_guard lock(mutex_);
  return started_;
}

}  // namespace hg::doubles
