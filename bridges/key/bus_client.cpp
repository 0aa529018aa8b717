// SPDX-License-Identifier: Apache-2.0
#include "bridges/key/bus_client.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <sdbus-c++/sdbus-c++.h>

#include "bridges/key/bus.hpp"

namespace hg::key {

namespace {

// Whether a session bus is configured at all (sd-bus's own order: DBUS_SESSION_BUS_ADDRESS, else
// $XDG_RUNTIME_DIR/bus). Asked first so that the common case — no session, or no daemon on it —
// is answered without an exception: the OpenSSH provider runs inside C programs (ssh-sk-helper)
// where unwinding through them is best avoided.
bool session_bus_configured() {
  if (const char* a = std::getenv("DBUS_SESSION_BUS_ADDRESS"); a && *a) return true;
  const char* rt = std::getenv("XDG_RUNTIME_DIR");
  if (!rt || !*rt) return false;
  struct stat st {};
  return ::stat((std::string(rt) + "/bus").c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

struct KeyWindowClient::Impl {
  std::unique_ptr<sdbus::IConnection> conn;
  std::unique_ptr<sdbus::IProxy> proxy;
  uint32_t handle = 0;
};

std::unique_ptr<KeyWindowClient> KeyWindowClient::show(const std::string& rp_id, const std::string& account,
                                                       const std::string& url, std::function<void()> cancelled,
                                                       std::string* why) {
  if (!available()) {
    if (why) *why = session_bus_configured() ? "no hybridgate key daemon on the session bus" : "no session bus";
    return nullptr;
  }
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
  if (!session_bus_configured()) return false;
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
