// SPDX-License-Identifier: Apache-2.0
// The BlueZ radio (see bluez.hpp).
// Asio 1.74's scheduler trips g++ 12's -Wnull-dereference (see tunnel/server/session.hpp).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include "ble/bluez.hpp"

#include <dirent.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sdbus-c++/sdbus-c++.h>

namespace hg::ble::bluez {
namespace {

namespace asio = boost::asio;

constexpr const char* kBluezService = "org.bluez";
constexpr const char* kObjectManager = "org.freedesktop.DBus.ObjectManager";
constexpr const char* kProperties = "org.freedesktop.DBus.Properties";
constexpr const char* kAdapterIface = "org.bluez.Adapter1";
constexpr const char* kDeviceIface = "org.bluez.Device1";
constexpr const char* kAdvManagerIface = "org.bluez.LEAdvertisingManager1";
constexpr const char* kAdvertIface = "org.bluez.LEAdvertisement1";

constexpr auto kCallTimeout = std::chrono::seconds(10);   // every D-Bus call we make
constexpr size_t kMaxDevices = 1024;                       // devices the scanner tracks
constexpr size_t kMaxServiceData = 255;                    // longest service data we pass on
constexpr size_t kMinServiceData = 20;                     // caBLE v2 adverts are 20 bytes
constexpr uint32_t kShortestIntervalMs = 20;               // BlueZ's lower bound (0x20 * 0.625 ms)

using PropMap = std::map<std::string, sdbus::Variant>;
using IfaceMap = std::map<std::string, PropMap>;
using ManagedObjects = std::map<sdbus::ObjectPath, IfaceMap>;

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

template <typename T>
std::optional<T> prop(const PropMap& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  try {
    if (!it->second.containsValueOfType<T>()) return std::nullopt;
    return it->second.get<T>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Error from_exception(const std::exception& e, Errc fallback) {
  if (auto* se = dynamic_cast<const sdbus::Error*>(&e)) return map_dbus_error(se->getName(), se->getMessage(), fallback);
  return make_error(fallback, e.what());
}

// ---------------------------------------------------------------------------------------------
// The system-bus connection, pumped by the io_context on its own thread.

class Bus : public std::enable_shared_from_this<Bus> {
 public:
  static Result<std::shared_ptr<Bus>> open(asio::io_context& io) {
    std::unique_ptr<sdbus::IConnection> conn;
    try {
      conn = sdbus::createSystemBusConnection();
    } catch (const std::exception& e) {
      auto* se = dynamic_cast<const sdbus::Error*>(&e);
      std::string detail = se ? se->getMessage() : e.what();
      if (se && (se->getName() == "org.freedesktop.DBus.Error.AccessDenied" || se->getName() == "System.Error.EACCES"))
        return make_error(Errc::ble_no_system_bus, "permission denied connecting to the system bus: " + detail);
      return make_error(Errc::ble_no_system_bus, detail);
    }
    try {
      conn->setMethodCallTimeout(uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(kCallTimeout).count()));
    } catch (const std::exception&) {
    }
    auto bus = std::shared_ptr<Bus>(new Bus(io, std::move(conn)));
    int fd = -1;
    try {
      fd = ::dup(bus->conn_->getEventLoopPollData().fd);
    } catch (const std::exception& e) {
      return make_error(Errc::ble_no_system_bus, e.what());
    }
    if (fd < 0) return make_error(Errc::ble_failed, "dup of the D-Bus fd failed");
    bus->sd_.emplace(io, fd);
    return bus;
  }

  ~Bus() { close(); }

  sdbus::IConnection& conn() { return *conn_; }
  asio::io_context& io() { return io_; }
  bool broken() const { return broken_; }

  // Unique name of org.bluez (GetNameOwner); errors mapped.
  Result<std::string> bluez_owner() {
    try {
      auto dbus = sdbus::createProxy(*conn_, "org.freedesktop.DBus", "/org/freedesktop/DBus");
      std::string owner;
      dbus->callMethod("GetNameOwner").onInterface("org.freedesktop.DBus").withArguments(std::string(kBluezService)).storeResultsTo(owner);
      kick();
      return owner;
    } catch (const std::exception& e) {
      kick();
      return from_exception(e, Errc::ble_no_bluez);
    }
  }

  // Starts pumping: processes whatever is queued, then waits on the fd / timeout.
  void start() {
    started_ = true;
    kick();
  }

  // After a synchronous call, sd-bus may hold queued messages without the fd being readable:
  // schedule one processing pass.
  void kick() {
    if (!started_ || kick_pending_ || closed_) return;
    kick_pending_ = true;
    std::weak_ptr<Bus> w = weak_from_this();
    asio::post(io_, [w] {
      if (auto b = w.lock()) {
        b->kick_pending_ = false;
        b->process();
      }
    });
  }

  // Runs the bus until done() is true or the deadline passes, without returning to the
  // io_context (used while BlueZ reads our advertisement object before it replies).
  bool pump_until(const std::function<bool()>& done, std::chrono::steady_clock::time_point deadline) {
    while (!done()) {
      if (closed_ || broken_) return false;
      try {
        int budget = 1000;
        while (conn_->processPendingRequest() && --budget > 0) {
          if (done()) return true;
        }
        if (done()) return true;
        auto pd = conn_->getEventLoopPollData();
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return false;
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
        int to = int(std::min<long long>(ms, 100));
        if (int rel = relative_timeout_ms(pd.timeout_usec); rel >= 0) to = std::min(to, rel);
        pollfd p{pd.fd, short(pd.events ? pd.events : POLLIN), 0};
        ::poll(&p, 1, to);
      } catch (const std::exception&) {
        broken_ = true;
        return false;
      }
    }
    return true;
  }

  void close() {
    closed_ = true;
    boost::system::error_code ec;
    timer_.cancel();
    if (sd_) {
      sd_->close(ec);
      sd_.reset();
    }
  }

 private:
  Bus(asio::io_context& io, std::unique_ptr<sdbus::IConnection> c) : io_(io), conn_(std::move(c)), timer_(io) {}

  static int relative_timeout_ms(uint64_t abs_usec) {
    if (abs_usec == UINT64_MAX) return -1;
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const uint64_t now = uint64_t(ts.tv_sec) * 1000000u + uint64_t(ts.tv_nsec) / 1000u;
    if (abs_usec <= now) return 0;
    return int(std::min<uint64_t>((abs_usec - now + 999) / 1000, 60'000));
  }

  void process() {
    if (closed_ || broken_) return;
    try {
      for (int budget = 256; budget > 0; --budget) {
        if (!conn_->processPendingRequest()) {
          arm();
          return;
        }
        if (closed_) return;
      }
      kick();  // more to do: yield to other handlers first
    } catch (const std::exception&) {
      broken_ = true;  // the bus went away (bluetoothd or dbus-daemon gone); stop pumping
      close();
    }
  }

  void arm() {
    if (closed_ || !sd_) return;
    sdbus::IConnection::PollData pd{};
    try {
      pd = conn_->getEventLoopPollData();
    } catch (const std::exception&) {
      broken_ = true;
      close();
      return;
    }
    std::weak_ptr<Bus> w = weak_from_this();
    if (!read_pending_) {
      read_pending_ = true;
      sd_->async_wait(asio::posix::stream_descriptor::wait_read, [w](const boost::system::error_code& ec) {
        auto b = w.lock();
        if (!b) return;
        b->read_pending_ = false;
        if (!ec) b->process();
      });
    }
    if ((pd.events & POLLOUT) && !write_pending_) {
      write_pending_ = true;
      sd_->async_wait(asio::posix::stream_descriptor::wait_write, [w](const boost::system::error_code& ec) {
        auto b = w.lock();
        if (!b) return;
        b->write_pending_ = false;
        if (!ec) b->process();
      });
    }
    const int rel = relative_timeout_ms(pd.timeout_usec);
    if (rel >= 0) {
      timer_.expires_after(std::chrono::milliseconds(rel));
      timer_.async_wait([w](const boost::system::error_code& ec) {
        if (ec) return;
        if (auto b = w.lock()) b->process();
      });
    }
  }

  asio::io_context& io_;
  std::unique_ptr<sdbus::IConnection> conn_;
  asio::steady_timer timer_;
  std::optional<asio::posix::stream_descriptor> sd_;
  bool started_ = false, kick_pending_ = false, read_pending_ = false, write_pending_ = false;
  bool closed_ = false, broken_ = false;
};

// ---------------------------------------------------------------------------------------------
// Reading BlueZ's state.

AdapterInfo adapter_from(const std::string& path, const IfaceMap& ifaces) {
  AdapterInfo a;
  a.path = path;
  a.name = path.substr(path.rfind('/') + 1);
  const auto& p = ifaces.at(kAdapterIface);
  a.address = prop<std::string>(p, "Address").value_or("");
  a.alias = prop<std::string>(p, "Alias").value_or("");
  a.modalias = prop<std::string>(p, "Modalias").value_or("");
  a.powered = prop<bool>(p, "Powered").value_or(false);
  a.discovering = prop<bool>(p, "Discovering").value_or(false);
  if (auto it = ifaces.find(kAdvManagerIface); it != ifaces.end()) {
    a.has_advertising_manager = true;
    if (auto v = prop<uint8_t>(it->second, "SupportedInstances")) a.supported_instances = *v;
    if (auto v = prop<uint8_t>(it->second, "ActiveInstances")) a.active_instances = *v;
  }
  return a;
}

Result<SystemInfo> inspect_on(Bus& bus) {
  SystemInfo sys;
  sys.rfkill = read_rfkill();
  HG_TRY(sys.bluez_owner, bus.bluez_owner());
  ManagedObjects objs;
  try {
    auto root = sdbus::createProxy(bus.conn(), kBluezService, "/");
    root->callMethod("GetManagedObjects").onInterface(kObjectManager).storeResultsTo(objs);
    bus.kick();
  } catch (const std::exception& e) {
    bus.kick();
    return from_exception(e, Errc::ble_failed);
  }
  for (const auto& [path, ifaces] : objs) {
    if (ifaces.count(kAdapterIface) == 0) continue;
    sys.adapters.push_back(adapter_from(path, ifaces));
  }
  std::sort(sys.adapters.begin(), sys.adapters.end(), [](const AdapterInfo& a, const AdapterInfo& b) { return a.name < b.name; });
  for (const auto& a : sys.adapters) {
    sys.bluez_version = version_from_modalias(a.modalias);
    if (!sys.bluez_version.empty()) break;
  }
  return sys;
}

struct Opened {
  std::shared_ptr<Bus> bus;
  SystemInfo sys;
  AdapterInfo adapter;
};

Result<Opened> open_adapter(asio::io_context& io, const std::string& wanted, bool for_advertising) {
  HG_TRY(auto bus, Bus::open(io));
  HG_TRY(auto sys, inspect_on(*bus));
  HG_TRY(auto adapter, choose_adapter(sys, wanted, for_advertising));
  return Opened{std::move(bus), std::move(sys), std::move(adapter)};
}

// Exact-match checks on the signals we subscribe to.
bool from_bluez(const sdbus::Message& m, const std::string& owner) {
  try {
    return m.getSender() == owner;
  } catch (const std::exception&) {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Scanner

class BluezScanner final : public Scanner {
 public:
  explicit BluezScanner(Opened o) : st_(std::make_shared<State>(std::move(o))) {}
  ~BluezScanner() override { stop(); }

  Status start(std::function<void(const Advert&)> on_advert) override {
    auto& s = *st_;
    if (s.running) {
      s.on_advert = std::move(on_advert);
      return ok_status();
    }
    if (s.bus->broken()) return make_error(Errc::ble_no_system_bus, "the D-Bus connection was lost");
    s.on_advert = std::move(on_advert);
    s.devices.clear();
    std::weak_ptr<State> w = st_;
    try {
      // Subscribe before reading the current state, so nothing falls between the two.
      s.slots.push_back(s.bus->conn().addMatch(
          "type='signal',interface='org.freedesktop.DBus.ObjectManager',member='InterfacesAdded',path='/'",
          [w](sdbus::Message& m) {
            if (auto st = w.lock()) st->on_interfaces_added(m);
          }));
      s.slots.push_back(s.bus->conn().addMatch(
          "type='signal',interface='org.freedesktop.DBus.ObjectManager',member='InterfacesRemoved',path='/'",
          [w](sdbus::Message& m) {
            if (auto st = w.lock()) st->on_interfaces_removed(m);
          }));
      s.slots.push_back(s.bus->conn().addMatch(
          "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',arg0='org.bluez.Device1',"
          "path_namespace='" + s.adapter.path + "'",
          [w](sdbus::Message& m) {
            if (auto st = w.lock()) st->on_properties_changed(m);
          }));
    } catch (const std::exception& e) {
      s.slots.clear();
      s.bus->kick();
      return from_exception(e, Errc::ble_failed);
    }
    try {
      // No UUIDs: with a service-UUID filter BlueZ drops the phone's adverts (they carry
      // service data, not a service UUID list).
      PropMap filter;
      filter["Transport"] = sdbus::Variant(std::string("le"));
      filter["DuplicateData"] = sdbus::Variant(true);
      s.adapter_proxy->callMethod("SetDiscoveryFilter").onInterface(kAdapterIface).withArguments(filter);
      s.adapter_proxy->callMethod("StartDiscovery").onInterface(kAdapterIface);
      s.discovering = true;
    } catch (const std::exception& e) {
      s.slots.clear();
      s.bus->kick();
      return from_exception(e, Errc::ble_failed);
    }
    try {
      ManagedObjects objs;
      auto root = sdbus::createProxy(s.bus->conn(), kBluezService, "/");
      root->callMethod("GetManagedObjects").onInterface(kObjectManager).storeResultsTo(objs);
      for (const auto& [path, ifaces] : objs) {
        auto it = ifaces.find(kDeviceIface);
        if (it != ifaces.end()) s.on_device_props(path, it->second);
      }
    } catch (const std::exception& e) {
      auto err = from_exception(e, Errc::ble_failed);
      s.stop_discovery();  // error path: do not leave discovery running
      s.slots.clear();
      s.bus->kick();
      return err;
    }
    s.running = true;
    s.bus->start();
    return ok_status();
  }

  void stop() override {
    auto& s = *st_;
    s.running = false;
    s.on_advert = nullptr;
    s.slots.clear();
    s.stop_discovery();
    s.devices.clear();
    s.bus->kick();
  }

 private:
  struct State : std::enable_shared_from_this<State> {
    explicit State(Opened o) : bus(std::move(o.bus)), owner(std::move(o.sys.bluez_owner)), adapter(std::move(o.adapter)) {
      adapter_proxy = sdbus::createProxy(bus->conn(), kBluezService, adapter.path);
    }
    ~State() {
      slots.clear();
      adapter_proxy.reset();
      bus->close();
    }

    std::shared_ptr<Bus> bus;
    std::string owner;
    AdapterInfo adapter;
    std::unique_ptr<sdbus::IProxy> adapter_proxy;
    std::vector<sdbus::Slot> slots;
    std::function<void(const Advert&)> on_advert;
    std::map<std::string, std::map<uint16_t, Bytes>> devices;  // path → uuid → last payload
    bool running = false;
    bool discovering = false;

    void stop_discovery() {
      if (!discovering) return;
      discovering = false;
      try {
        adapter_proxy->callMethod("StopDiscovery").onInterface(kAdapterIface);
      } catch (const std::exception&) {
        // The adapter may be gone or powered off; nothing left to stop.
      }
    }

    bool ours(const std::string& path) const {
      return path.size() > adapter.path.size() + 1 && path.compare(0, adapter.path.size(), adapter.path) == 0 &&
             path[adapter.path.size()] == '/';
    }

    void on_interfaces_added(sdbus::Message& m) {
      if (!running || !from_bluez(m, owner)) return;
      try {
        sdbus::ObjectPath path;
        IfaceMap ifaces;
        m >> path >> ifaces;
        if (!m) return;
        auto it = ifaces.find(kDeviceIface);
        if (it != ifaces.end()) on_device_props(path, it->second);
      } catch (const std::exception&) {
        // malformed signal: ignore
      }
    }

    void on_interfaces_removed(sdbus::Message& m) {
      if (!from_bluez(m, owner)) return;
      try {
        sdbus::ObjectPath path;
        std::vector<std::string> ifaces;
        m >> path >> ifaces;
        if (!m) return;
        if (std::find(ifaces.begin(), ifaces.end(), kDeviceIface) != ifaces.end()) devices.erase(path);
        if (path == adapter.path && std::find(ifaces.begin(), ifaces.end(), kAdapterIface) != ifaces.end())
          discovering = false;  // the adapter went away; nothing to stop any more
      } catch (const std::exception&) {
      }
    }

    void on_properties_changed(sdbus::Message& m) {
      if (!running || !from_bluez(m, owner)) return;
      try {
        std::string iface;
        PropMap changed;
        std::vector<std::string> invalidated;
        m >> iface >> changed;
        if (!m || iface != kDeviceIface) return;
        on_device_props(m.getPath(), changed);
      } catch (const std::exception&) {
      }
    }

    // A Device1's properties (all of them, or the changed ones): look at ServiceData only.
    void on_device_props(const std::string& path, const PropMap& props) {
      if (!ours(path)) return;
      auto it = props.find("ServiceData");
      if (it == props.end()) return;
      std::map<std::string, sdbus::Variant> sd;
      try {
        if (!it->second.containsValueOfType<std::map<std::string, sdbus::Variant>>()) return;  // e.g. dbusmock's aa{sv}
        sd = it->second.get<std::map<std::string, sdbus::Variant>>();
      } catch (const std::exception&) {
        return;
      }
      for (const auto& [uuid_text, value] : sd) {
        const std::string u = lower(uuid_text);
        uint16_t uuid = 0;
        if (u == uuid128(kFidoCableUuid)) {
          uuid = kFidoCableUuid;
        } else if (u == uuid128(kGoogleCableUuid)) {
          uuid = kGoogleCableUuid;
        } else {
          continue;
        }
        Bytes data;
        try {
          if (!value.containsValueOfType<std::vector<uint8_t>>()) continue;
          data = value.get<std::vector<uint8_t>>();
        } catch (const std::exception&) {
          continue;
        }
        if (data.size() < kMinServiceData || data.size() > kMaxServiceData) continue;
        auto dev = devices.find(path);
        if (dev == devices.end()) {
          if (devices.size() >= kMaxDevices) continue;
          dev = devices.emplace(path, std::map<uint16_t, Bytes>{}).first;
        }
        auto& last = dev->second[uuid];
        if (last == data) continue;  // exact repeat (DuplicateData re-reports every advert)
        last = data;
        deliver(Advert{uuid, std::move(data), path});
      }
    }

    // Never call user code from inside sd-bus dispatch: post it.
    void deliver(Advert a) {
      std::weak_ptr<State> w = weak_from_this();
      asio::post(bus->io(), [w, a = std::move(a)] {
        auto s = w.lock();
        if (!s || !s->running || !s->on_advert) return;
        auto cb = s->on_advert;
        cb(a);
      });
    }
  };

  std::shared_ptr<State> st_;
};

// ---------------------------------------------------------------------------------------------
// Advertiser

std::atomic<unsigned> g_advert_counter{0};

class BluezAdvertiser final : public Advertiser {
 public:
  explicit BluezAdvertiser(Opened o) : st_(std::make_shared<State>(std::move(o))) {}
  ~BluezAdvertiser() override { stop(); }

  Status start(ByteView service_data) override {
    auto& s = *st_;
    if (service_data.size() > kMaxServiceData) return make_error(Errc::invalid_argument, "advert service data too long");
    if (s.bus->broken()) return make_error(Errc::ble_no_system_bus, "the D-Bus connection was lost");
    s.data.assign(service_data.begin(), service_data.end());
    if (s.registered && s.object) {
      // EID rotation: BlueZ re-reads the properties on PropertiesChanged.
      try {
        s.object->emitPropertiesChangedSignal(kAdvertIface, {"ServiceData"});
      } catch (const std::exception& e) {
        return from_exception(e, Errc::ble_failed);
      }
      s.bus->kick();
      return ok_status();
    }
    HG_CHECK(s.export_object());
    return s.register_advert();
  }

  void stop() override { st_->stop(); }

 private:
  struct State : std::enable_shared_from_this<State> {
    explicit State(Opened o) : bus(std::move(o.bus)), owner(std::move(o.sys.bluez_owner)), adapter(std::move(o.adapter)) {
      path = std::string(kAdvertPath) + std::to_string(::getpid()) + "_" + std::to_string(g_advert_counter++);
      manager = sdbus::createProxy(bus->conn(), kBluezService, adapter.path);
    }
    ~State() {
      stop();
      object.reset();
      manager.reset();
      bus->close();
    }

    std::shared_ptr<Bus> bus;
    std::string owner;
    AdapterInfo adapter;
    std::string path;
    std::unique_ptr<sdbus::IProxy> manager;
    std::unique_ptr<sdbus::IObject> object;
    Bytes data;
    bool registered = false;

    Status export_object() {
      if (object) return ok_status();
      try {
        object = sdbus::createObject(bus->conn(), path);
        std::weak_ptr<State> w = weak_from_this();
        object->registerMethod("Release").onInterface(kAdvertIface).implementedAs([w]() {
          // BlueZ dropped the advert (adapter off, removed, bluetoothd restarting).
          if (auto s = w.lock()) s->registered = false;
        });
        object->registerProperty("Type").onInterface(kAdvertIface).withGetter([] { return std::string("broadcast"); });
        object->registerProperty("ServiceData").onInterface(kAdvertIface).withGetter([w] {
          std::map<std::string, sdbus::Variant> m;
          if (auto s = w.lock()) m[uuid128(kFidoCableUuid)] = sdbus::Variant(std::vector<uint8_t>(s->data.begin(), s->data.end()));
          return m;
        });
        object->registerProperty("Includes").onInterface(kAdvertIface).withGetter([] { return std::vector<std::string>{}; });
        object->registerProperty("MinInterval").onInterface(kAdvertIface).withGetter([] { return kShortestIntervalMs; });
        object->registerProperty("MaxInterval").onInterface(kAdvertIface).withGetter([] { return kShortestIntervalMs; });
        object->finishRegistration();
      } catch (const std::exception& e) {
        object.reset();
        return from_exception(e, Errc::ble_failed);
      }
      return ok_status();
    }

    Status register_advert() {
      auto done = std::make_shared<bool>(false);
      auto err = std::make_shared<std::optional<Error>>();
      try {
        manager->callMethodAsync("RegisterAdvertisement")
            .onInterface(kAdvManagerIface)
            .withTimeout(kCallTimeout)
            .withArguments(sdbus::ObjectPath(path), PropMap{})
            .uponReplyInvoke([done, err](const sdbus::Error* e) {
              if (e) *err = map_dbus_error(e->getName(), e->getMessage(), Errc::ble_no_advertising);
              *done = true;
            });
      } catch (const std::exception& e) {
        return from_exception(e, Errc::ble_no_advertising);
      }
      // BlueZ reads our object (GetAll) before it replies: keep answering until it does.
      const bool finished = bus->pump_until([done] { return *done; }, std::chrono::steady_clock::now() + kCallTimeout + std::chrono::seconds(1));
      bus->start();
      if (!finished) return make_error(Errc::ble_failed, "BlueZ did not answer RegisterAdvertisement");
      if (*err) return **err;
      registered = true;
      return ok_status();
    }

    void stop() {
      if (registered) {
        registered = false;
        try {
          manager->callMethod("UnregisterAdvertisement").onInterface(kAdvManagerIface).withArguments(sdbus::ObjectPath(path));
        } catch (const std::exception&) {
          // Already released by BlueZ, or BlueZ is gone.
        }
        bus->kick();
      }
    }
  };

  std::shared_ptr<State> st_;
};

}  // namespace

RfkillState read_rfkill() {
  RfkillState st;
  const char* env = std::getenv(kRfkillDirEnv);
  const std::string dir = (env && *env) ? env : "/sys/class/rfkill";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return st;
  int seen = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.' || ++seen > 64) continue;
    const std::string base = dir + "/" + e->d_name;
    auto read_line = [](const std::string& p) {
      std::ifstream f(p);
      std::string s;
      std::getline(f, s);
      return s.substr(0, 64);
    };
    if (read_line(base + "/type") != "bluetooth") continue;
    st.present = true;
    if (read_line(base + "/soft") == "1") st.soft = true;
    if (read_line(base + "/hard") == "1") st.hard = true;
  }
  ::closedir(d);
  return st;
}

Error map_dbus_error(const std::string& name, const std::string& message, Errc fallback) {
  const std::string detail = name + (message.empty() ? "" : ": " + message);
  if (name == "org.freedesktop.DBus.Error.ServiceUnknown" || name == "org.freedesktop.DBus.Error.NameHasNoOwner")
    return make_error(Errc::ble_no_bluez, detail);
  if (name == "org.freedesktop.DBus.Error.AccessDenied" || name == "org.bluez.Error.NotAuthorized" ||
      name == "org.freedesktop.DBus.Error.AuthFailed" || name == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" ||
      name == "System.Error.EACCES" || name == "System.Error.EPERM")
    return make_error(Errc::ble_permission, detail);
  if (name == "org.bluez.Error.Blocked" || lower(message).find("rfkill") != std::string::npos)
    return make_error(Errc::ble_rfkill, detail);
  if (name == "org.bluez.Error.NotReady") return make_error(Errc::ble_adapter_off, detail);
  // bluetoothd's RegisterAdvertisement when every controller instance is taken.
  if (lower(message).find("maximum advertisements reached") != std::string::npos)
    return make_error(Errc::ble_advertising_busy, detail);
  if (name == "org.freedesktop.DBus.Error.Disconnected" || name == "org.freedesktop.DBus.Error.NoServer" ||
      name == "org.freedesktop.DBus.Error.FileNotFound" || name == "System.Error.ENOENT" ||
      name == "System.Error.ECONNREFUSED" || name == "System.Error.ECONNRESET" || name == "System.Error.ENOTCONN")
    return make_error(Errc::ble_no_system_bus, detail);
  if (name == "org.freedesktop.DBus.Error.UnknownObject" || name == "org.freedesktop.DBus.Error.UnknownInterface" ||
      name == "org.freedesktop.DBus.Error.UnknownMethod") {
    // The adapter object or the interface is not there: which one depends on the call.
    return make_error(fallback == Errc::ble_no_advertising ? Errc::ble_no_advertising : Errc::ble_no_adapter, detail);
  }
  return make_error(fallback, detail);
}

std::string version_from_modalias(const std::string& modalias) {
  // BlueZ's default DeviceID: usb:v1D6Bp0246dXXYY, version XX.YY in hex digits ("0542" = 5.66).
  const std::string m = lower(modalias);
  auto v = m.find("v1d6b");
  auto d = m.find('d', v == std::string::npos ? 0 : v + 5);
  if (v == std::string::npos || d == std::string::npos || d + 5 > m.size()) return {};
  unsigned value = 0;
  for (size_t i = d + 1; i < d + 5; ++i) {
    const char c = m[i];
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {};
    value = value * 16 + unsigned(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : c - 'a' + 10);
  }
  return std::to_string(value >> 8) + "." + std::to_string(value & 0xff);
}

Result<SystemInfo> inspect_system() {
  asio::io_context io;
  HG_TRY(auto bus, Bus::open(io));
  return inspect_on(*bus);
}

Result<AdapterInfo> choose_adapter(const SystemInfo& sys, const std::string& wanted, bool for_advertising) {
  if (sys.adapters.empty()) {
    if (sys.rfkill.hard) return make_error(Errc::ble_rfkill, "no adapter, and a bluetooth rfkill switch is hard-blocked");
    return make_error(Errc::ble_no_adapter, "BlueZ reports no org.bluez.Adapter1");
  }
  const AdapterInfo* pick = nullptr;
  if (!wanted.empty()) {
    for (const auto& a : sys.adapters)
      if (a.name == wanted || a.path == wanted) pick = &a;
    if (!pick) {
      std::string have;
      for (const auto& a : sys.adapters) have += (have.empty() ? "" : ", ") + a.name;
      return make_error(Errc::ble_no_adapter, "adapter " + wanted + " not found (present: " + have + ")");
    }
  } else {
    for (const auto& a : sys.adapters)
      if (a.powered && (!for_advertising || (a.has_advertising_manager && a.supported_instances != 0))) {
        pick = &a;
        break;
      }
    if (!pick)
      for (const auto& a : sys.adapters)
        if (a.powered) {
          pick = &a;
          break;
        }
    if (!pick) pick = &sys.adapters.front();
  }
  if (!pick->powered) {
    if (sys.rfkill.blocked())
      return make_error(Errc::ble_rfkill, pick->name + " is off and bluetooth is " + (sys.rfkill.hard ? "hard" : "soft") + "-blocked");
    return make_error(Errc::ble_adapter_off, pick->name + " is powered off");
  }
  if (for_advertising) {
    if (!pick->has_advertising_manager) return make_error(Errc::ble_no_advertising, pick->name + " has no org.bluez.LEAdvertisingManager1");
    if (pick->supported_instances == 0) {
      if (pick->active_instances > 0)  // real BlueZ counts down SupportedInstances as slots are taken
        return make_error(Errc::ble_advertising_busy, pick->name + " has no free advertising instance (" +
                                                          std::to_string(pick->active_instances) + " in use)");
      return make_error(Errc::ble_no_advertising, pick->name + " has no free advertising instance (SupportedInstances 0)");
    }
  }
  return *pick;
}

Result<AdapterInfo> probe(const std::string& adapter, bool for_advertising) {
  HG_TRY(auto sys, inspect_system());
  return choose_adapter(sys, adapter, for_advertising);
}

Result<std::unique_ptr<Scanner>> make_scanner(asio::io_context& io, const std::string& adapter) {
  HG_TRY(auto opened, open_adapter(io, adapter, false));
  try {
    return std::unique_ptr<Scanner>(std::make_unique<BluezScanner>(std::move(opened)));
  } catch (const std::exception& e) {
    return from_exception(e, Errc::ble_failed);
  }
}

Result<std::unique_ptr<Advertiser>> make_advertiser(asio::io_context& io, const std::string& adapter) {
  HG_TRY(auto opened, open_adapter(io, adapter, true));
  try {
    return std::unique_ptr<Advertiser>(std::make_unique<BluezAdvertiser>(std::move(opened)));
  } catch (const std::exception& e) {
    return from_exception(e, Errc::ble_failed);
  }
}

}  // namespace hg::ble::bluez
