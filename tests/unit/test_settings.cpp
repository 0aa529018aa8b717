// SPDX-License-Identifier: Apache-2.0
// The shared desktop configuration: config file keys, relative paths, precedence of the
// environment, and refusals (unknown keys, bad values, a named file that is missing).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "hybrid/settings.hpp"

using namespace hg;
using namespace std::chrono_literals;

namespace {

std::filesystem::path tmp_dir() {
  const char* d = std::getenv("HG_TEST_TMP");
  auto p = std::filesystem::path(d ? d : "/tmp") / "settings-test";
  std::filesystem::create_directories(p);
  return p;
}

std::filesystem::path write(const std::string& name, const std::string& text) {
  auto p = tmp_dir() / name;
  std::ofstream(p) << text;
  return p;
}

// Clears the variables the loader reads, for the duration of a test.
struct CleanEnv {
  static void clear() {
    ::unsetenv("HYBRIDGATE_CONFIG");
    ::unsetenv("XDG_CONFIG_HOME");
    for (const auto& s : hybrid::desktop_settings()) ::unsetenv(std::string(s.env).c_str());
  }
  CleanEnv() { clear(); }
  ~CleanEnv() { clear(); }
  CleanEnv(const CleanEnv&) = delete;
  CleanEnv& operator=(const CleanEnv&) = delete;
};

}  // namespace

TEST_CASE("every key of the config file is read, relative paths are relative to the file") {
  CleanEnv env;
  write("ca.pem", "-----BEGIN CERTIFICATE-----\n");  // ca_file must exist (checked where it is set)
  auto file = write("all.toml",
                    "# a comment\n"
                    "tunnel_url = \"wss://relay.example.org\"\n"
                    "ca_file = \"ca.pem\"\n"
                    "radio = \"loopback\"\n"
                    "adapter = \"hci1\"\n"
                    "loopback_dir = \"/run/radio\"\n"
                    "links_file = \"/home/a/links.json\"\n"
                    "phone = \"Pixel 8\"\n"
                    "qr_url_file = \"qr.txt\"\n"
                    "link_phone = true\n"
                    "advert_timeout = 30\n"
                    "connect_timeout = 2.5\n"
                    "handshake_timeout = 7\n"
                    "response_timeout = 60\n");
  hybrid::DesktopConfig c;
  REQUIRE(hybrid::apply_config_file(c, file, true).ok());
  CHECK(c.tunnel_url == "wss://relay.example.org");
  CHECK(c.ca_file == (tmp_dir() / "ca.pem").string());
  CHECK(c.radio.kind == ble::RadioKind::loopback);
  CHECK(c.radio.adapter == "hci1");
  CHECK(c.radio.loopback_dir == "/run/radio");
  CHECK(c.links_file == "/home/a/links.json");
  CHECK(c.phone == "Pixel 8");
  CHECK(c.qr_url_file == tmp_dir() / "qr.txt");
  CHECK(c.link_phone);
  CHECK(c.deadlines.advert == 30s);
  CHECK(c.deadlines.connect == 2500ms);
  CHECK(c.deadlines.handshake == 7s);
  CHECK(c.deadlines.response == 60s);
}

TEST_CASE("mistakes in the config file are refused with config.invalid") {
  CleanEnv env;
  for (const std::string text : {"tunel_url = \"ws://x\"\n",       // misspelt key
                                 "radio = \"wifi\"\n",              // not a radio
                                 "link_phone = maybe\n",            // not a bool
                                 "advert_timeout = -1\n",           // not a duration
                                 "advert_timeout = 10 minutes\n",   // not a number
                                 "[desktop]\nphone = \"x\"\n",  // sections are not used
                                 "tunnel_url = \"https://relay.example.org\"\n",  // not ws:// or wss://
                                 "tunnel_url = \"relay.example.org:443\"\n",      // no scheme
                                 "tunnel_url = \"ws://relay:99999\"\n",           // port out of range
                                 "ca_file = \"no-such-ca.pem\"\n",                // does not exist
                                 "qr_url_file = \"/nonexistent-dir/qr\"\n"}) {    // no such folder
    INFO(text);
    hybrid::DesktopConfig c;
    auto st = hybrid::apply_config_file(c, write("bad.toml", text), true);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == Errc::config_invalid);
    CHECK(st.error().detail.find("bad.toml") != std::string::npos);  // names the file
    if (text[0] != '[') CHECK(st.error().detail.find(text.substr(0, text.find(' '))) != std::string::npos);  // the key
  }
}

TEST_CASE("a missing default file is no error, a missing named file is") {
  CleanEnv env;
  hybrid::DesktopConfig c;
  CHECK(hybrid::apply_config_file(c, tmp_dir() / "absent", false).ok());
  auto st = hybrid::apply_config_file(c, tmp_dir() / "absent", true);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == Errc::config_invalid);

  ::setenv("HYBRIDGATE_CONFIG", (tmp_dir() / "absent").c_str(), 1);
  auto r = hybrid::load_desktop_config();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::config_invalid);
}

TEST_CASE("the environment overrides the file, the file overrides the defaults") {
  CleanEnv env;
  auto dir = tmp_dir() / "xdg";
  std::filesystem::create_directories(dir / "hybridgate");
  std::ofstream(dir / "hybridgate" / "config") << "tunnel_url = \"ws://from-file\"\nphone = \"file phone\"\n"
                                                  "radio = \"bluez\"\n";
  ::setenv("XDG_CONFIG_HOME", dir.c_str(), 1);
  auto r = hybrid::load_desktop_config();
  REQUIRE(r.ok());
  CHECK(r->tunnel_url == "ws://from-file");
  CHECK(r->phone == "file phone");
  CHECK(r->radio.kind == ble::RadioKind::bluez);
  CHECK(r->deadlines.advert == 120s);  // untouched default

  ::setenv("HYBRIDGATE_TUNNEL_URL", "ws://from-env", 1);
  ::setenv("HYBRIDGATE_RADIO", "loopback", 1);
  ::setenv("HYBRIDGATE_PHONE", "env phone", 1);
  const std::string ca = write("env-ca.pem", "-----BEGIN CERTIFICATE-----\n").string();
  const std::string qr = (tmp_dir() / "qr").string();
  ::setenv("HYBRIDGATE_QR_URL_FILE", qr.c_str(), 1);
  ::setenv("HYBRIDGATE_CA_FILE", ca.c_str(), 1);
  r = hybrid::load_desktop_config();
  REQUIRE(r.ok());
  CHECK(r->tunnel_url == "ws://from-env");
  CHECK(r->radio.kind == ble::RadioKind::loopback);
  CHECK(r->phone == "env phone");
  CHECK(r->qr_url_file == qr);
  CHECK(r->ca_file == ca);

  // A bad value in the environment is refused naming the variable.
  for (const auto& [var, value] : {std::pair{"HYBRIDGATE_TUNNEL_URL", "http://relay"},
                                   std::pair{"HYBRIDGATE_CA_FILE", "/nonexistent/ca.pem"},
                                   std::pair{"HYBRIDGATE_QR_URL_FILE", "/nonexistent/qr"}}) {
    INFO(var);
    const std::string saved = std::getenv(var);
    ::setenv(var, value, 1);
    auto bad = hybrid::load_desktop_config();
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == Errc::config_invalid);
    CHECK(bad.error().detail.find(var) != std::string::npos);
    ::setenv(var, saved.c_str(), 1);
  }

  ::setenv("HYBRIDGATE_RADIO", "carrier-pigeon", 1);
  r = hybrid::load_desktop_config();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Errc::config_invalid);
}

namespace {

// A value of each kind of setting that differs from every default, and one that is not a value.
std::string good_value(const hybrid::Setting& s) {
  switch (s.kind) {
    case hybrid::SettingKind::url: return "ws://127.0.0.1:8099";
    case hybrid::SettingKind::path: return write("a-ca.pem", "not checked for PEM here\n").string();
    case hybrid::SettingKind::radio: return "loopback";
    case hybrid::SettingKind::boolean: return "true";
    case hybrid::SettingKind::seconds: return "7.5";
    case hybrid::SettingKind::text: return "hci9";
  }
  return {};
}
std::optional<std::string> bad_value(const hybrid::Setting& s) {
  switch (s.kind) {
    case hybrid::SettingKind::url: return "https://not-a-tunnel.example";
    case hybrid::SettingKind::radio: return "wifi";
    case hybrid::SettingKind::boolean: return "maybe";
    case hybrid::SettingKind::seconds: return "-1";
    default: return std::nullopt;  // text and paths: "" and any name are values (paths are checked where they must exist)
  }
}

std::string dump(const hybrid::DesktopConfig& c) {
  return c.tunnel_url + "|" + c.ca_file + "|" + std::to_string(int(c.radio.kind)) + "|" + c.radio.adapter + "|" +
         c.radio.loopback_dir + "|" + c.links_file.string() + "|" + c.phone + "|" + c.qr_url_file.string() + "|" +
         (c.link_phone ? "1" : "0") + "|" + std::to_string(c.deadlines.advert.count()) + "|" +
         std::to_string(c.deadlines.connect.count()) + "|" + std::to_string(c.deadlines.handshake.count()) + "|" +
         std::to_string(c.deadlines.response.count());
}

}  // namespace

TEST_CASE("every row of the settings table is read from the config file and from its variable") {
  CleanEnv clean;
  const std::string defaults = dump(hybrid::DesktopConfig{});
  for (const auto& s : hybrid::desktop_settings()) {
    INFO("setting " << s.key);
    const std::string v = good_value(s);
    hybrid::DesktopConfig from_file;
    REQUIRE(hybrid::apply_config_file(from_file, write("row.toml", std::string(s.key) + " = \"" + v + "\"\n"), true).ok());
    CHECK(dump(from_file) != defaults);

    REQUIRE(::setenv(std::string(s.env).c_str(), v.c_str(), 1) == 0);
    hybrid::DesktopConfig from_env;
    REQUIRE(hybrid::apply_config_environment(from_env).ok());
    CHECK(dump(from_env) == dump(from_file));
    ::unsetenv(std::string(s.env).c_str());

    if (auto bad = bad_value(s)) {
      hybrid::DesktopConfig c;
      auto st = hybrid::apply_config_file(c, write("row.toml", std::string(s.key) + " = \"" + *bad + "\"\n"), true);
      REQUIRE_FALSE(st.ok());
      CHECK(st.error().code == Errc::config_invalid);
      CHECK(st.error().detail.find(std::string(s.key)) != std::string::npos);
      REQUIRE(::setenv(std::string(s.env).c_str(), bad->c_str(), 1) == 0);
      auto se = hybrid::apply_config_environment(c);
      ::unsetenv(std::string(s.env).c_str());
      REQUIRE_FALSE(se.ok());
      CHECK(se.error().detail.find(std::string(s.env)) != std::string::npos);
    }
  }
}
