// SPDX-License-Identifier: Apache-2.0
// `hybridgate doctor`: one command a person or a support desk runs when hybrid sign-in does not
// work. Each check prints pass / warn / fail (or skip) with the fix in one sentence; --json for
// machines. Exit code 1 when any check failed.
//
// Checks: system bus; BlueZ and its version; adapters (powered, discovering), rfkill; LE
// advertising (SupportedInstances); a passive scan listing caBLE adverts (and with --qr whether
// they decrypt for that QR code); DNS, TCP+TLS and WebSocket reach of the tunnel servers (the
// assigned domains or --tunnel-url) and one test tunnel through each (paired, one message,
// closed normally); clock sanity.
// Asio 1.74's scheduler trips g++ 12's -Wnull-dereference (see tunnel/server/session.hpp).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange without it

#include <openssl/rand.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include "ble/bluez.hpp"
#include "ble/loopback.hpp"
#include "ble/radio.hpp"
#include "commands.hpp"
#include "proto/derive.hpp"
#include "proto/domains.hpp"
#include "proto/eid.hpp"
#include "proto/qr_payload.hpp"
#include "tunnel/client/websocket.hpp"
#include "web/tls.hpp"
#include "web/url.hpp"

namespace hgcli {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

struct DoctorOptions {
  std::string adapter;
  std::string radio = "auto";
  std::string qr;
  std::vector<std::string> tunnel_urls;
  std::string ca_file;
  double scan_seconds = 5;
  bool no_network = false;
  bool json_out = false;
};

struct Check {
  std::string name;    // stable id: system_bus, bluez, adapter, rfkill, ...
  std::string status;  // pass | warn | fail | skip
  std::string message;
  std::string fix;     // one sentence; empty on pass
  std::string code;    // error code (ble.*, tunnel.*) when not pass
  json extra = json::object();
};

Check from_error(std::string name, const std::string& status, const hg::Error& e, const std::string& what) {
  Check c{std::move(name), status, what, std::string(e.sentence()), std::string(e.name()), json::object()};
  if (!e.detail.empty()) c.message += " (" + e.detail + ")";
  return c;
}

// --- Bluetooth -------------------------------------------------------------------------------

void bluetooth_checks(const DoctorOptions& o, std::vector<Check>& out, std::optional<hg::ble::bluez::SystemInfo>& sys_out) {
  const char* addr = std::getenv("DBUS_SYSTEM_BUS_ADDRESS");
  const std::string bus_name = addr && *addr ? addr : "unix:path=/run/dbus/system_bus_socket";
  auto sys = hg::ble::bluez::inspect_system();
  if (!sys) {
    const auto& e = sys.error();
    if (e.code == hg::Errc::ble_no_system_bus) {
      out.push_back(from_error("system_bus", "fail", e, "The system D-Bus at " + bus_name + " is not reachable."));
      out.push_back({"bluez", "skip", "Not checked: no system bus.", "", "", json::object()});
    } else {
      out.push_back({"system_bus", "pass", "The system D-Bus is reachable (" + bus_name + ").", "", "", json::object()});
      out.push_back(from_error("bluez", "fail", e, e.code == hg::Errc::ble_no_bluez ? "BlueZ (org.bluez) is not on the system bus." : "BlueZ could not be queried."));
    }
    for (const char* n : {"adapter", "le_advertising"}) out.push_back({n, "skip", "Not checked: BlueZ is not usable.", "", "", json::object()});
    auto rf = hg::ble::bluez::read_rfkill();
    if (rf.blocked())
      out.push_back(from_error("rfkill", "fail", hg::make_error(hg::Errc::ble_rfkill), std::string("Bluetooth is ") + (rf.hard ? "hard" : "soft") + "-blocked by rfkill."));
    else
      out.push_back({"rfkill", rf.present ? "pass" : "skip", rf.present ? "Bluetooth is not blocked by rfkill." : "No Bluetooth rfkill switch found.", "", "", json::object()});
    return;
  }
  out.push_back({"system_bus", "pass", "The system D-Bus is reachable (" + bus_name + ").", "", "", json::object()});
  {
    Check c{"bluez", "pass", "BlueZ is running", "", "", json::object()};
    c.message += sys->bluez_version.empty() ? " (version unknown)." : ", version " + sys->bluez_version + ".";
    c.extra["version"] = sys->bluez_version;
    c.extra["bus_name"] = sys->bluez_owner;
    out.push_back(std::move(c));
  }
  json adapters = json::array();
  for (const auto& a : sys->adapters)
    adapters.push_back({{"name", a.name}, {"address", a.address}, {"powered", a.powered}, {"discovering", a.discovering},
                        {"le_advertising", a.has_advertising_manager}, {"supported_instances", a.supported_instances}});
  auto chosen = hg::ble::bluez::choose_adapter(*sys, o.adapter, false);
  if (chosen) {
    Check c{"adapter", "pass", "Adapter " + chosen->name + " (" + chosen->address + ") is powered" + (chosen->discovering ? " and discovering." : "."), "", "", json::object()};
    c.extra["adapters"] = adapters;
    c.extra["chosen"] = chosen->name;
    out.push_back(std::move(c));
  } else {
    Check c = from_error("adapter", "fail", chosen.error(), sys->adapters.empty() ? "No Bluetooth adapter." : "No usable Bluetooth adapter.");
    c.extra["adapters"] = adapters;
    out.push_back(std::move(c));
  }
  if (sys->rfkill.blocked())
    out.push_back(from_error("rfkill", "fail", hg::make_error(hg::Errc::ble_rfkill), std::string("Bluetooth is ") + (sys->rfkill.hard ? "hard" : "soft") + "-blocked by rfkill."));
  else
    out.push_back({"rfkill", sys->rfkill.present ? "pass" : "skip", sys->rfkill.present ? "Bluetooth is not blocked by rfkill." : "No Bluetooth rfkill switch found.", "", "", json::object()});
  if (!chosen) {
    out.push_back({"le_advertising", "skip", "Not checked: no usable adapter.", "", "", json::object()});
  } else {
    auto adv = hg::ble::bluez::choose_adapter(*sys, chosen->name, true);
    if (adv) {
      Check c{"le_advertising", "pass", "Adapter " + adv->name + " can send LE adverts (" + std::to_string(adv->supported_instances) + " free instances): this machine can act as the phone side.", "", "", json::object()};
      c.extra["supported_instances"] = adv->supported_instances;
      out.push_back(std::move(c));
    } else {
      // Only the phone side advertises: a desktop works without it.
      out.push_back(from_error("le_advertising", "warn", adv.error(),
                               adv.error().code == hg::Errc::ble_advertising_busy
                                   ? "Every advertising slot of this adapter is in use by other programs; the desktop side still works, the phone side cannot advertise now."
                                   : "This adapter cannot send LE adverts; the desktop side still works, the phone side does not."));
    }
  }
  sys_out = std::move(sys).value();
}

void scan_check(const DoctorOptions& o, bool bluez_usable, std::vector<Check>& out) {
  if (o.scan_seconds <= 0) {
    out.push_back({"scan", "skip", "Scan skipped (--scan-seconds 0).", "", "", json::object()});
    return;
  }
  hg::ble::RadioOptions ro;
  ro.adapter = o.adapter;
  std::string radio_name;
  if (o.radio == "bluez" || (o.radio == "auto" && bluez_usable)) {
    ro.kind = hg::ble::RadioKind::bluez;
    radio_name = "bluez";
  } else if (o.radio == "loopback" || o.radio == "auto") {
    ro.kind = hg::ble::RadioKind::loopback;
    radio_name = "loopback";
  }
  std::optional<hg::EidKey> key;
  if (!o.qr.empty()) {
    auto p = hg::qr_payload::parse_url(o.qr);
    if (!p) {
      out.push_back(from_error("scan", "fail", p.error(), "The --qr URL is not a hybrid QR code."));
      return;
    }
    key = hg::derive_eid_key(p->secret);
  }
  asio::io_context io;
  auto sc = hg::ble::make_scanner(io, ro);
  if (!sc) {
    out.push_back(from_error("scan", "fail", sc.error(), "Could not start a " + radio_name + " scan."));
    if (key) hg::secure_wipe(*key);
    return;
  }
  json adverts = json::array();
  size_t matches = 0;
  std::set<std::string> devices;
  auto st = (*sc)->start([&](const hg::ble::Advert& a) {
    if (adverts.size() >= 64) return;  // bounded listing
    char u[8];
    std::snprintf(u, sizeof u, "%04x", unsigned(a.uuid));
    json j = {{"uuid", u}, {"device", a.device}, {"length", a.service_data.size()}, {"service_data", hg::hex_encode(a.service_data)}};
    devices.insert(a.device);
    if (key) {
      auto plain = hg::eid::decrypt(a.service_data, *key);
      j["matches_qr"] = plain.ok();
      if (plain) {
        ++matches;
        auto c = hg::eid::to_components(*plain);
        if (c) {
          j["routing_id"] = hg::hex_encode(c->routing_id);
          j["domain_id"] = c->domain_id;
        }
        hg::secure_wipe(*plain);
      } else {
        j["reason"] = plain.error().name();
      }
    }
    adverts.push_back(std::move(j));
  });
  if (!st) {
    out.push_back(from_error("scan", "fail", st.error(), "Could not start a " + radio_name + " scan."));
    if (key) hg::secure_wipe(*key);
    return;
  }
  io.run_for(std::chrono::milliseconds(int64_t(o.scan_seconds * 1000)));
  (*sc)->stop();
  if (key) hg::secure_wipe(*key);
  Check c{"scan", "pass", "", "", "", json::object()};
  c.extra["radio"] = radio_name;
  c.extra["adverts"] = adverts;
  char secs[32];
  std::snprintf(secs, sizeof secs, "%g", o.scan_seconds);
  const std::string where = " in a " + std::string(secs) + "-second " + radio_name + " scan";
  if (adverts.empty()) {
    c.status = "warn";
    c.message = "No caBLE adverts seen" + where + ".";
    c.fix = "On the phone, scan the QR code now, keep Bluetooth on and the phone within a few metres, then run doctor again.";
  } else if (key && matches == 0) {
    c.status = "warn";
    c.message = std::to_string(adverts.size()) + " caBLE advert(s) from " + std::to_string(devices.size()) + " device(s) seen" + where + ", none for this QR code.";
    c.fix = "Scan the QR code that is shown now (a new one is made for every attempt) and try again.";
  } else {
    c.message = std::to_string(adverts.size()) + " caBLE advert(s) from " + std::to_string(devices.size()) + " device(s) seen" + where +
                (key ? ", " + std::to_string(matches) + " for this QR code." : ".");
  }
  out.push_back(std::move(c));
}

// --- Network ---------------------------------------------------------------------------------

struct Target {
  std::string host, port, url;
  bool tls = true;
};

void network_checks(const DoctorOptions& o, std::vector<Check>& out) {
  std::vector<Target> targets;
  if (o.tunnel_urls.empty()) {
    for (uint16_t id = 0; id < hg::tunnel_domain::kNumAssigned; ++id) {
      auto n = hg::tunnel_domain::name(id);
      if (n) targets.push_back({*n, "443", "wss://" + *n + "/cable/new/", true});
    }
  } else {
    for (const auto& u : o.tunnel_urls) {
      auto p = hg::web::parse_url(u);
      if (!p) {
        out.push_back(from_error("tunnel", "fail", p.error(), "--tunnel-url " + u + " is not a ws:// or wss:// URL."));
        continue;
      }
      std::string base = u.substr(0, u.find('/', u.find("//") + 2));
      targets.push_back({p->host, p->port, base + "/cable/new/", p->tls});
    }
  }
  const auto timeout = std::chrono::seconds(8);
  for (const auto& t : targets) {
    const std::string hp = t.host + ":" + t.port;
    // DNS
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    boost::system::error_code ec;
    auto endpoints = resolver.resolve(t.host, t.port, ec);
    if (ec) {
      out.push_back(from_error("tunnel_dns:" + t.host, "fail", hg::make_error(hg::Errc::tunnel_unreachable, ec.message()), "Cannot resolve " + t.host + "."));
      out.push_back({"tunnel_tls:" + t.host, "skip", "Not checked: no address.", "", "", json::object()});
      out.push_back({"tunnel_websocket:" + t.host, "skip", "Not checked: no address.", "", "", json::object()});
      continue;
    }
    {
      Check c{"tunnel_dns:" + t.host, "pass", t.host + " resolves to " + std::to_string(std::distance(endpoints.begin(), endpoints.end())) + " address(es).", "", "", json::object()};
      json addrs = json::array();
      for (const auto& e : endpoints) addrs.push_back(e.endpoint().address().to_string());
      c.extra["addresses"] = addrs;
      out.push_back(std::move(c));
    }
    // TCP + TLS (with certificate and host-name verification: the client's own TLS set-up,
    // web/tls.hpp, so the doctor checks what a ceremony would do), bounded by a timer.
    {
      auto ctx = hg::web::make_client_tls(o.ca_file, hg::web::CaFile::adds_to_system_store, "The CA file");
      if (!ctx) {
        out.push_back(from_error("tunnel_tls:" + t.host, "fail", ctx.error(), "No TLS client can be set up."));
        out.push_back({"tunnel_websocket:" + t.host, "skip", "Not checked: no connection.", "", "", json::object()});
        continue;
      }
      asio::ssl::stream<asio::ip::tcp::socket> stream(io, **ctx);
      asio::steady_timer timer(io, timeout);
      std::string failure;
      bool done = false;
      timer.async_wait([&](const boost::system::error_code& e) {
        if (!e && !done) {
          failure = "timed out";
          boost::system::error_code ignore;
          stream.lowest_layer().close(ignore);
        }
      });
      asio::async_connect(stream.lowest_layer(), endpoints, [&](const boost::system::error_code& e, const asio::ip::tcp::endpoint&) {
        if (e) {
          if (failure.empty()) failure = "TCP connect: " + e.message();
          done = true;
          timer.cancel();
          return;
        }
        if (!t.tls) {
          done = true;
          timer.cancel();
          return;
        }
        if (auto st = hg::web::prepare_client_stream(stream, t.host); !st) {
          if (failure.empty()) failure = "TLS: " + st.error().detail;
          done = true;
          timer.cancel();
          return;
        }
        stream.async_handshake(asio::ssl::stream_base::client, [&](const boost::system::error_code& he) {
          if (he && failure.empty()) failure = "TLS handshake: " + he.message();
          done = true;
          timer.cancel();
        });
      });
      io.run();
      if (!failure.empty()) {
        out.push_back(from_error("tunnel_tls:" + t.host, "fail", hg::make_error(hg::Errc::tunnel_unreachable, failure),
                                 std::string(t.tls ? "No verified TLS connection to " : "No TCP connection to ") + hp + "."));
        out.push_back({"tunnel_websocket:" + t.host, "skip", "Not checked: no connection.", "", "", json::object()});
        continue;
      }
      out.push_back({"tunnel_tls:" + t.host, "pass", std::string(t.tls ? "Verified TLS connection to " : "TCP connection to ") + hp + ".", "", "", json::object()});
    }
    // The tunnel round trip a sign-in makes, on a random tunnel ID: the phone's upgrade on
    // /cable/new/<tunnel ID>, then the desktop's on /cable/connect/<routing ID>/<tunnel ID>, one
    // message phone -> desktop, and the desktop closes with 1000, which the relay passes on to the
    // phone. The relay sees a tunnel that paired and finished normally (outcome "closed"), not one
    // whose phone gave up waiting ("abandoned", which is what closing after the first upgrade was).
    {
      asio::io_context wio;
      std::array<uint8_t, 16> tid{};
      RAND_bytes(tid.data(), int(tid.size()));
      const std::string tid_hex = hg::hex_encode(tid, true);
      const std::string base = t.url.substr(0, t.url.size() - std::string_view("/cable/new/").size());
      hg::tunnel::ConnectOptions co;
      co.url = t.url + tid_hex;
      co.timeout = timeout;
      co.ca_file = o.ca_file;
      std::optional<hg::Result<std::unique_ptr<hg::tunnel::WebSocket>>> result;
      std::unique_ptr<hg::tunnel::WebSocket> phone, desktop;
      std::optional<hg::Error> relay_error;  // the round trip after the phone's upgrade
      bool relayed = false;
      std::string rid;
      asio::co_spawn(
          wio,
          [&]() -> asio::awaitable<void> {
            result.emplace(co_await hg::tunnel::connect(co));
            if (!result->ok()) co_return;
            phone = std::move(**result);
            const auto& r = phone->handshake().routing_id;
            if (!r) co_return;
            auto rid_bytes = hg::hex_decode_fixed<3>(*r);
            if (!rid_bytes) {
              relay_error = hg::make_error(hg::Errc::tunnel_protocol, "X-caBLE-Routing-ID is not 6 hex digits");
              co_return;
            }
            rid = hg::hex_encode(*rid_bytes, true);
            hg::tunnel::ConnectOptions dc = co;
            dc.url = base + hg::tunnel_domain::connect_path(*rid_bytes, tid);
            auto d = co_await hg::tunnel::connect(dc);
            if (!d) {
              relay_error = d.error();
              co_return;
            }
            desktop = std::move(d).value();
            static constexpr uint8_t kProbe[] = {'h', 'y', 'b', 'r', 'i', 'd', 'g', 'a', 't', 'e', ' ', 'd', 'o', 'c', 't', 'o', 'r'};
            if (auto w = co_await phone->write(hg::ByteView(kProbe, sizeof kProbe)); !w) {
              relay_error = w.error();
              co_return;
            }
            auto got = co_await desktop->read();
            if (!got) {
              relay_error = got.error();
              co_return;
            }
            if (!std::equal(got->begin(), got->end(), std::begin(kProbe), std::end(kProbe))) {
              relay_error = hg::make_error(hg::Errc::tunnel_protocol, "the desktop side received another message than the phone sent");
              co_return;
            }
            relayed = true;
            co_await desktop->close(1000);
            (void)co_await phone->read();  // the relay passes the desktop's 1000 on; this answers it
          },
          [&](std::exception_ptr ep) {
            if (ep && !result) result.emplace(hg::make_error(hg::Errc::internal, "exception in WebSocket connect"));
          });
      // Every step has its own deadline except the reads: bound the whole round trip.
      wio.run_for(2 * timeout + std::chrono::seconds(4));
      if (!wio.stopped()) {
        if (phone) phone->cancel();
        if (desktop) desktop->cancel();
        if (!relay_error && result && result->ok() && !relayed)
          relay_error = hg::make_error(hg::Errc::tunnel_unreachable, "no message through the tunnel in time");
        wio.run_for(std::chrono::seconds(2));
      }
      if (!result || (!result->ok() && !phone)) {
        hg::Error e = result ? result->error() : hg::make_error(hg::Errc::tunnel_unreachable, "no result");
        out.push_back(from_error("tunnel_websocket:" + t.host, "fail", e, "The WebSocket upgrade at " + hp + " failed."));
        out.push_back({"tunnel_relay:" + t.host, "skip", "Not checked: no WebSocket.", "", "", json::object()});
        continue;
      }
      Check c{"tunnel_websocket:" + t.host, "pass", "WebSocket upgrade at " + hp + " works (subprotocol fido.cable)", "", "", json::object()};
      const bool has_rid = phone && phone->handshake().routing_id;
      c.message += has_rid ? ", routing ID assigned." : ".";
      if (!has_rid) {
        c.status = "warn";
        c.fix = "The server did not assign a routing ID (X-caBLE-Routing-ID): it is not a caBLE tunnel server.";
        c.code = "tunnel.protocol";
      }
      out.push_back(std::move(c));
      if (!has_rid) {
        out.push_back({"tunnel_relay:" + t.host, "skip", "Not checked: no routing ID.", "", "", json::object()});
      } else if (relay_error) {
        out.push_back(from_error("tunnel_relay:" + t.host, "fail", *relay_error,
                                 "A test tunnel at " + hp + " (routing ID " + rid + ") did not pair or relay."));
      } else {
        out.push_back({"tunnel_relay:" + t.host, "pass",
                       "A test tunnel at " + hp + " paired (routing ID " + rid + ") and relayed a message.", "", "",
                       json::object()});
      }
    }
  }
}

void clock_check(std::vector<Check>& out) {
  const std::time_t now = std::time(nullptr);
  // Build date (__DATE__ "Mmm dd yyyy") as a lower bound.
  static const char* months = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const std::string d = __DATE__;
  std::tm b{};
  b.tm_mon = int((std::string(months).find(d.substr(0, 3))) / 3);
  b.tm_mday = std::atoi(d.substr(4, 2).c_str());
  b.tm_year = std::atoi(d.substr(7, 4).c_str()) - 1900;
  const std::time_t built = timegm(&b);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  Check c{"clock", "pass", std::string("The clock says ") + buf + ".", "", "", json::object()};
  c.extra["utc"] = buf;
  if (now + 86400 < built || utc.tm_year + 1900 >= 2100) {
    c.status = "fail";
    c.message = std::string("The clock says ") + buf + ", which cannot be right (this program was built later).";
    c.fix = "Set the date and time (enable NTP with 'timedatectl set-ntp true'); TLS to the tunnel server fails with a wrong clock.";
    c.code = "clock";
  }
  out.push_back(std::move(c));
}

int run_doctor(const DoctorOptions& o) {
  std::vector<Check> checks;
  std::optional<hg::ble::bluez::SystemInfo> sys;
  if (o.radio != "loopback") bluetooth_checks(o, checks, sys);
  bool bluez_usable = sys && hg::ble::bluez::choose_adapter(*sys, o.adapter, false).ok();
  scan_check(o, bluez_usable, checks);
  if (o.no_network) {
    checks.push_back({"tunnel", "skip", "Network checks skipped (--no-network).", "", "", json::object()});
  } else {
    network_checks(o, checks);
  }
  clock_check(checks);

  int fails = 0, warns = 0, passes = 0;
  for (const auto& c : checks) {
    if (c.status == "fail") ++fails;
    if (c.status == "warn") ++warns;
    if (c.status == "pass") ++passes;
  }
  if (o.json_out) {
    json arr = json::array();
    for (const auto& c : checks) {
      json j = {{"name", c.name}, {"status", c.status}, {"message", c.message}};
      if (!c.fix.empty()) j["fix"] = c.fix;
      if (!c.code.empty()) j["code"] = c.code;
      for (auto it = c.extra.begin(); it != c.extra.end(); ++it) j[it.key()] = it.value();
      arr.push_back(std::move(j));
    }
    print_json({{"checks", arr}, {"summary", {{"pass", passes}, {"warn", warns}, {"fail", fails}}}, {"ok", fails == 0}});
  } else {
    for (const auto& c : checks) {
      std::string tag = c.status == "pass" ? "PASS" : c.status == "warn" ? "WARN" : c.status == "fail" ? "FAIL" : "SKIP";
      std::cout << tag << "  " << c.name << ": " << c.message;
      if (!c.code.empty()) std::cout << " [" << c.code << "]";
      std::cout << "\n";
      if (!c.fix.empty()) std::cout << "      fix: " << c.fix << "\n";
      if (c.name == "scan" && c.extra.contains("adverts"))
        for (const auto& a : c.extra["adverts"]) {
          std::cout << "      advert " << a["uuid"].get<std::string>() << " from " << a["device"].get<std::string>() << ", "
                    << a["length"].get<size_t>() << " bytes";
          if (a.contains("matches_qr")) std::cout << (a["matches_qr"].get<bool>() ? ", matches the QR code" : ", not for this QR code");
          std::cout << "\n";
        }
    }
    std::cout << passes << " passed, " << warns << " warnings, " << fails << " failed.\n";
  }
  return fails ? 1 : 0;
}

}  // namespace

void add_doctor(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<DoctorOptions>();
  auto* cmd = app.add_subcommand("doctor", "Diagnose Bluetooth, the tunnel servers and the clock (pass/warn/fail with fixes)");
  cmd->add_option("--adapter", o->adapter, "BlueZ adapter to check (default: the first powered one)");
  cmd->add_option("--radio", o->radio, "Radio to scan with: auto, bluez or loopback")->check(CLI::IsMember({"auto", "bluez", "loopback"}));
  cmd->add_option("--qr", o->qr, "A FIDO:/ QR code: report whether the adverts seen answer it");
  cmd->add_option("--tunnel-url", o->tunnel_urls, "Tunnel server to check instead of the assigned domains (wss://host[:port])");
  cmd->add_option("--ca-file", o->ca_file, "Extra trusted CA (PEM) for the tunnel server");
  cmd->add_option("--scan-seconds", o->scan_seconds, "Length of the passive scan (0 skips it)")->check(CLI::Range(0.0, 60.0));
  cmd->add_flag("--no-network", o->no_network, "Skip the DNS/TLS/WebSocket checks");
  cmd->add_flag("--json", o->json_out, "Machine-readable output");
  cmd->callback([&exit_code, o] { exit_code = run_doctor(*o); });
}

}  // namespace hgcli
