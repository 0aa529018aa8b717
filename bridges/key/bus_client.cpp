// SPDX-License-Identifier: Apache-2.0
#include "bridges/key/bus_client.hpp"

#include <sdbus-c++/sdbus-c++.h>

#include "bridges/key/bus.hpp"

namespace hg::key {

struct KeyWindowClient::Impl {
  std::unique_ptr<sdbus::IConnection> conn;
  std::unique_ptr<sdbus::IProxy> proxy;
  uint32_t handle = 0;
};

std::unique_ptr<KeyWindowClient> KeyWindowClient::show(const std::string& rp_id, const std::string& account,
                                                       const std::string& url, std::function<void()> cancelled,
                                                       std::string* why) {
  auto impl = std::make_unique<Impl>();
  try {
    impl->conn = sdbus::createSessionBusConnection();
    impl->proxy = sdbus::createProxy(*impl->conn, kBusName, kBusPath);
    Impl* raw = impl.get();
    impl->proxy->uponSignal("Cancelled").onInterface(kBusInterface).call([raw, cancelled](uint32_t h) {
      if (h == raw->handle && cancelled) cancelled();
    });
    impl->proxy->finishRegistration();
    impl->conn->enterEventLoopAsync();
    impl->proxy->callMethod("ShowQr").onInterface(kBusInterface).withArguments(rp_id, account, url)
        .storeResultsTo(impl->handle);
  } catch (const sdbus::Error& e) {
    if (why) *why = e.getName() + ": " + e.getMessage();
    if (impl->conn) impl->conn->leaveEventLoop();
    return nullptr;
  }
  return std::unique_ptr<KeyWindowClient>(new KeyWindowClient(std::move(impl)));
}

bool KeyWindowClient::available() {
  try {
    auto conn = sdbus::createSessionBusConnection();
    auto proxy = sdbus::createProxy(*conn, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    bool has = false;
    proxy->callMethod("NameHasOwner").onInterface("org.freedesktop.DBus").withArguments(std::string(kBusName))
        .storeResultsTo(has);
    return has;
  } catch (const sdbus::Error&) {
    return false;
  }
}

KeyWindowClient::KeyWindowClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KeyWindowClient::~KeyWindowClient() {
  try {
    impl_->proxy->callMethod("Close").onInterface(kBusInterface).withArguments(impl_->handle);
  } catch (const sdbus::Error&) {
    // The daemon went away: its windows went with it.
  }
  impl_->conn->leaveEventLoop();
}

}  // namespace hg::key
