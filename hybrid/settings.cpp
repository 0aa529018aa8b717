// SPDX-License-Identifier: Apache-2.0
#include "hybrid/settings.hpp"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "web/url.hpp"

namespace hg::hybrid {

namespace {

constexpr size_t kMaxConfigSize = 64 * 1024;

Error invalid(const std::string& where, const std::string& what) {
  return make_error(Errc::config_invalid, where + ": " + what);
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : nullptr;
}

Result<std::chrono::milliseconds> parse_seconds(const std::string& where, const std::string& key,
                                                const std::string& text) {
  try {
    size_t used = 0;
    const double s = std::stod(text, &used);
    if (used == text.size() && s > 0 && s <= 86400) return std::chrono::milliseconds(int64_t(s * 1000));
  } catch (const std::exception&) {
  }
  return invalid(where, (key.empty() ? "" : key + " ") + "must be a number of seconds from 0.001 to 86400");
}

Result<bool> parse_bool(const std::string& where, const std::string& key, const std::string& text) {
  if (text == "true" || text == "1" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "no") return false;
  return invalid(where, (key.empty() ? "" : key + " ") + "must be true or false");
}

// `check` on `value`, or config.invalid "WHERE: KEY: why".
Status checked(const std::string& where, const std::string& key, const Status& check) {
  if (check) return ok_status();
  return invalid(where, key.empty() ? check.error().detail : key + ": " + check.error().detail);
}

}  // namespace

Status check_tunnel_url(const std::string& url) {
  if (url.empty()) return ok_status();
  auto u = web::parse_url(url, web::UrlScheme::websocket);
  if (!u) return make_error(Errc::config_invalid, "'" + url + "' is not a tunnel server URL: " + u.error().detail);
  return ok_status();
}

Status check_ca_file(const std::string& path) {
  if (path.empty()) return ok_status();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return make_error(Errc::config_invalid, "the CA certificate file " + path + " does not exist or is not a regular file");
  std::ifstream in(path);
  if (!in) return make_error(Errc::config_invalid, "cannot read the CA certificate file " + path);
  return ok_status();
}

Status check_qr_url_file(const std::filesystem::path& path) {
  if (path.empty()) return ok_status();
  if (!path.has_filename()) return make_error(Errc::config_invalid, "the QR URL file " + path.string() + " names a folder");
  std::error_code ec;
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::is_directory(dir, ec))
    return make_error(Errc::config_invalid, "the folder of the QR URL file " + path.string() + " does not exist");
  if (std::filesystem::is_directory(path, ec))
    return make_error(Errc::config_invalid, "the QR URL file " + path.string() + " is a folder");
  return ok_status();
}

Result<ble::RadioKind> parse_radio(const std::string& name) {
  if (name == "auto") return ble::RadioKind::automatic;
  if (name == "bluez") return ble::RadioKind::bluez;
  if (name == "loopback") return ble::RadioKind::loopback;
  return make_error(Errc::config_invalid, "unknown radio '" + name + "'; use auto, bluez or loopback");
}

// The one table of the desktop settings (settings.hpp). Keep it in the order of docs/configuration.md.
namespace {
const Setting kSettings[] = {
    {"tunnel_url", "HYBRIDGATE_TUNNEL_URL", "hg_config_set_tunnel_url", SettingKind::url, "\"\" (the servers the phone names)",
     "base URL of the tunnel server for every tunnel domain: wss://host[:port] or ws://127.0.0.1:port"},
    {"ca_file", "HYBRIDGATE_CA_FILE", "hg_config_set_ca_file", SettingKind::path, "\"\"",
     "extra trusted CA certificate (PEM) for a wss:// tunnel server"},
    {"radio", "HYBRIDGATE_RADIO", "hg_config_set_radio", SettingKind::radio, "auto",
     "auto (BlueZ when an adapter is usable, else the loopback radio), bluez, loopback"},
    {"adapter", "HYBRIDGATE_ADAPTER", "hg_config_set_adapter", SettingKind::text, "\"\" (the first powered one)",
     "BlueZ adapter, e.g. hci0"},
    {"loopback_dir", "HYBRIDGATE_RADIO_DIR", "hg_config_set_loopback_dir", SettingKind::path,
     "$XDG_RUNTIME_DIR/hybridgate-radio", "the loopback radio's folder"},
    {"links_file", "HYBRIDGATE_LINKS_FILE", "hg_config_set_links_file", SettingKind::path,
     "$XDG_DATA_HOME/hybridgate/links.json", "remembered phones (0600)"},
    {"phone", "HYBRIDGATE_PHONE", "hg_config_set_phone", SettingKind::text, "\"\" (QR code)",
     "name of a remembered phone used when a ceremony names none (hybridgate links list)"},
    {"qr_url_file", "HYBRIDGATE_QR_URL_FILE", "hg_config_set_qr_url_file", SettingKind::path, "\"\"",
     "also write each QR code's FIDO:/ URL to this file (0600, replaced atomically)"},
    {"link_phone", "HYBRIDGATE_LINK_PHONE", "hg_config_set_link_phone", SettingKind::boolean, "false",
     "QR codes offer linking; a phone that agrees is remembered"},
    {"advert_timeout", "HYBRIDGATE_ADVERT_TIMEOUT", "hg_config_set_timeout(HG_TIMEOUT_ADVERT)", SettingKind::seconds, "120",
     "seconds from showing the QR code to the phone's advert"},
    {"connect_timeout", "HYBRIDGATE_CONNECT_TIMEOUT", "hg_config_set_timeout(HG_TIMEOUT_CONNECT)", SettingKind::seconds, "15",
     "seconds for connecting to the tunnel server"},
    {"handshake_timeout", "HYBRIDGATE_HANDSHAKE_TIMEOUT", "hg_config_set_timeout(HG_TIMEOUT_HANDSHAKE)",
     SettingKind::seconds, "15", "seconds for the secure-channel handshake"},
    {"response_timeout", "HYBRIDGATE_RESPONSE_TIMEOUT", "hg_config_set_timeout(HG_TIMEOUT_RESPONSE)",
     SettingKind::seconds, "180", "seconds the person has to answer on the phone"},
};
}  // namespace

std::span<const Setting> desktop_settings() { return kSettings; }

const Setting* find_setting(std::string_view key) {
  for (const Setting& s : kSettings)
    if (s.key == key) return &s;
  return nullptr;
}

Status apply_setting(DesktopConfig& config, const Setting& setting, const std::string& v, const std::string& where) {
  const std::string key(setting.key);
  auto fail = [&](const Status& st) { return checked(where, "", st); };
  if (key == "tunnel_url") {
    HG_CHECK(fail(check_tunnel_url(v)));
    config.tunnel_url = v;
  } else if (key == "ca_file") {
    HG_CHECK(fail(check_ca_file(v)));
    config.ca_file = v;
  } else if (key == "radio") {
    auto kind = parse_radio(v);
    if (!kind) return invalid(where, kind.error().detail);
    config.radio.kind = *kind;
  } else if (key == "adapter") {
    config.radio.adapter = v;
  } else if (key == "loopback_dir") {
    config.radio.loopback_dir = v;
  } else if (key == "links_file") {
    config.links_file = v;
  } else if (key == "phone") {
    config.phone = v;
  } else if (key == "qr_url_file") {
    HG_CHECK(fail(check_qr_url_file(v)));
    config.qr_url_file = v;
  } else if (key == "link_phone") {
    HG_TRY(config.link_phone, parse_bool(where, "", v));
  } else if (key == "advert_timeout") {
    HG_TRY(config.deadlines.advert, parse_seconds(where, "", v));
  } else if (key == "connect_timeout") {
    HG_TRY(config.deadlines.connect, parse_seconds(where, "", v));
  } else if (key == "handshake_timeout") {
    HG_TRY(config.deadlines.handshake, parse_seconds(where, "", v));
  } else if (key == "response_timeout") {
    HG_TRY(config.deadlines.response, parse_seconds(where, "", v));
  } else {
    return invalid(where, "is in the settings table but has no meaning here");  // a table row without code
  }
  return ok_status();
}

Result<std::filesystem::path> default_config_path() {
  if (const char* x = env("XDG_CONFIG_HOME"); x && x[0] == '/') return std::filesystem::path(x) / "hybridgate" / "config";
  if (const char* h = env("HOME")) return std::filesystem::path(h) / ".config" / "hybridgate" / "config";
  return make_error(Errc::config_invalid, "neither XDG_CONFIG_HOME nor HOME is set");
}

Status apply_config_file(DesktopConfig& config, const std::filesystem::path& file, bool required) {
  const std::string where = file.string();
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    if (required) return invalid(where, "no such file");
    return ok_status();
  }
  if (!std::filesystem::is_regular_file(file, ec)) return invalid(where, "not a regular file");
  if (std::filesystem::file_size(file, ec) > kMaxConfigSize) return invalid(where, "larger than 64 KiB");
  std::ifstream in(file);
  if (!in) return make_error(Errc::io, "cannot read " + where);
  std::stringstream text;
  text << in.rdbuf();

  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_config(text);
  } catch (const std::exception& e) {
    return invalid(where, std::string("cannot parse: ") + e.what());
  }
  const std::filesystem::path base = file.parent_path();
  auto path_value = [&](const std::string& v) {
    std::filesystem::path p(v);
    return p.is_relative() && !v.empty() ? base / p : p;
  };
  for (const auto& item : items) {
    if (!item.parents.empty()) return invalid(where, "sections are not used; unknown key '" + item.fullname() + "'");
    const std::string& key = item.name;
    if (item.inputs.size() != 1) return invalid(where, key + " takes one value");
    const Setting* setting = find_setting(key);
    if (setting == nullptr) return invalid(where, "unknown key '" + key + "'");
    std::string v = item.inputs.front();
    if (setting->kind == SettingKind::path) v = path_value(v).string();
    HG_CHECK(apply_setting(config, *setting, v, where + ": " + key));
  }
  return ok_status();
}

Status apply_config_environment(DesktopConfig& config) {
  for (const Setting& setting : desktop_settings()) {
    if (const char* v = env(std::string(setting.env).c_str())) HG_CHECK(apply_setting(config, setting, v, std::string(setting.env)));
  }
  return ok_status();
}

Result<DesktopConfig> load_desktop_config(DesktopConfig base) {
  DesktopConfig config = std::move(base);
  if (const char* named = env("HYBRIDGATE_CONFIG")) {
    HG_CHECK(apply_config_file(config, named, true));
  } else {
    HG_TRY(auto path, default_config_path());
    HG_CHECK(apply_config_file(config, path, false));
  }
  HG_CHECK(apply_config_environment(config));
  return config;
}

}  // namespace hg::hybrid
