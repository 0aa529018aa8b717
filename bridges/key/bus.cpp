// SPDX-License-Identifier: Apache-2.0
#include "bridges/key/bus.hpp"

#include <sdbus-c++/sdbus-c++.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "bridges/key/window.hpp"

namespace hg::key {
namespace {

constexpr size_t kMaxUrl = 4096;
constexpr size_t kMaxName = 256;

}  // namespace

struct KeyBus::Impl {
  std::function<void(const std::string&)> log;
  std::unique_ptr<sdbus::IConnection> conn;
  std::unique_ptr<sdbus::IObject> object;
  std::unique_ptr<Window> window;
  std::mutex m;
  std::condition_variable cv;
  uint32_t next_handle = 1;
  uint32_t current = 0;  // the handle of the window shown over the bus (0: none)
  std::chrono::steady_clock::time_point deadline;
  bool stop = false;
  std::thread expiry;

  uint32_t show(const std::string& rp_id, const std::string& account, const std::string& url) {
    if (url.size() > kMaxUrl || url.rfind("FIDO:/", 0) != 0)
      throw sdbus::Error(std::string(kBusInterface) + ".Error.InvalidArgs", "url must be a FIDO:/ URL of at most 4096 bytes");
    if (rp_id.size() > kMaxName || account.size() > kMaxName)
      throw sdbus::Error(std::string(kBusInterface) + ".Error.InvalidArgs", "rp_id and account: at most 256 bytes each");
    std::lock_guard lk(m);
    const uint32_t h = next_handle++;
    current = h;
    deadline = std::chrono::steady_clock::now() + kBusWindowLifetime;
    window->open(PhoneRequest{.registration = !account.empty(), .rp_id = rp_id, .account = account, .phone = {}}, {});
    window->qr(url);
    log("a program on the session bus shows its QR code in the window (handle " + std::to_string(h) + ")");
    cv.notify_all();
    return h;
  }

  void close(uint32_t h) {
    std::lock_guard lk(m);
    if (h == 0 || h != current) return;
    current = 0;
    window->close(RequestEnd::answered, {});
  }

  void cancelled() {
    uint32_t h;
    {
      std::lock_guard lk(m);
      h = current;
    }
    if (h == 0) return;
    log("the person cancelled the bus window (handle " + std::to_string(h) + ")");
    object->emitSignal("Cancelled").onInterface(kBusInterface).withArguments(h);
  }

  void expire_loop() {
    std::unique_lock lk(m);
    while (!stop) {
      if (current == 0) {
        cv.wait(lk);
        continue;
      }
      if (cv.wait_until(lk, deadline) == std::cv_status::timeout && current != 0 &&
          std::chrono::steady_clock::now() >= deadline) {
        log("the bus window (handle " + std::to_string(current) + ") was not closed by its program: closing it");
        current = 0;
        window->close(RequestEnd::answered, {});
      }
    }
  }
};

std::unique_ptr<KeyBus> KeyBus::start(std::string window_program, std::function<void(const std::string&)> log,
                                      std::string& why) {
  auto impl = std::make_unique<Impl>();
  impl->log = std::move(log);
  Impl* raw = impl.get();
  impl->window = std::make_unique<Window>(std::move(window_program), WindowActions{
      .cancel = [raw] { raw->cancelled(); },
      .phone = {},
      .shown = [raw](const std::string&) { raw->log("the bus window is shown"); },
      .gone = [raw] { raw->log("the bus window is gone"); },
      .log = raw->log});
  try {
    impl->conn = sdbus::createSessionBusConnection(kBusName);
    impl->object = sdbus::createObject(*impl->conn, kBusPath);
    impl->object->registerMethod("ShowQr").onInterface(kBusInterface)
        .withInputParamNames("rp_id", "account", "url").withOutputParamNames("handle")
        .implementedAs([raw](const std::string& rp, const std::string& account, const std::string& url) {
          return raw->show(rp, account, url);
        });
    impl->object->registerMethod("Close").onInterface(kBusInterface).withInputParamNames("handle")
        .implementedAs([raw](uint32_t h) { raw->close(h); });
    impl->object->registerSignal("Cancelled").onInterface(kBusInterface).withParameters<uint32_t>("handle");
    impl->object->finishRegistration();
    impl->conn->enterEventLoopAsync();
  } catch (const sdbus::Error& e) {
    why = e.getName() + ": " + e.getMessage();
    return nullptr;
  }
  impl->expiry = std::thread([raw] { raw->expire_loop(); });
  return std::unique_ptr<KeyBus>(new KeyBus(std::move(impl)));
}

KeyBus::KeyBus(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KeyBus::~KeyBus() {
  impl_->conn->leaveEventLoop();
  {
    std::lock_guard lk(impl_->m);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  impl_->expiry.join();
  impl_->object.reset();
}

}  // namespace hg::key
