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
  return invalid(where, key + " must be a number of seconds from 0.001 to 86400");
}

Result<bool> parse_bool(const std::string& where, const std::string& key, const std::string& text) {
  if (text == "true" || text == "1" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "no") return false;
  return invalid(where, key + " must be true or false");
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
    const std::string& v = item.inputs.front();
    if (key == "tunnel_url") {
      HG_CHECK(checked(where, key, check_tunnel_url(v)));
      config.tunnel_url = v;
    } else if (key == "ca_file") {
      HG_CHECK(checked(where, key, check_ca_file(path_value(v).string())));
      config.ca_file = path_value(v).string();
    } else if (key == "radio") {
      auto kind = parse_radio(v);
      if (!kind) return invalid(where, kind.error().detail);
      config.radio.kind = *kind;
    } else if (key == "adapter") {
      config.radio.adapter = v;
    } else if (key == "loopback_dir") {
      config.radio.loopback_dir = path_value(v).string();
    } else if (key == "links_file") {
      config.links_file = path_value(v);
    } else if (key == "phone") {
      config.phone = v;
    } else if (key == "qr_url_file") {
      HG_CHECK(checked(where, key, check_qr_url_file(path_value(v))));
      config.qr_url_file = path_value(v);
    } else if (key == "link_phone") {
      HG_TRY(config.link_phone, parse_bool(where, key, v));
    } else if (key == "advert_timeout") {
      HG_TRY(config.deadlines.advert, parse_seconds(where, key, v));
    } else if (key == "connect_timeout") {
      HG_TRY(config.deadlines.connect, parse_seconds(where, key, v));
    } else if (key == "handshake_timeout") {
      HG_TRY(config.deadlines.handshake, parse_seconds(where, key, v));
    } else if (key == "response_timeout") {
      HG_TRY(config.deadlines.response, parse_seconds(where, key, v));
    } else {
      return invalid(where, "unknown key '" + key + "'");
    }
  }
  return ok_status();
}

Status apply_config_environment(DesktopConfig& config) {
  if (const char* v = env("HYBRIDGATE_TUNNEL_URL")) {
    HG_CHECK(checked("HYBRIDGATE_TUNNEL_URL", "", check_tunnel_url(v)));
    config.tunnel_url = v;
  }
  if (const char* v = env("HYBRIDGATE_CA_FILE")) {
    HG_CHECK(checked("HYBRIDGATE_CA_FILE", "", check_ca_file(v)));
    config.ca_file = v;
  }
  if (const char* v = env("HYBRIDGATE_RADIO")) {
    auto kind = parse_radio(v);
    if (!kind) return make_error(Errc::config_invalid, "HYBRIDGATE_RADIO: " + kind.error().detail);
    config.radio.kind = *kind;
  }
  if (const char* v = env("HYBRIDGATE_PHONE")) config.phone = v;
  if (const char* v = env("HYBRIDGATE_QR_URL_FILE")) {
    HG_CHECK(checked("HYBRIDGATE_QR_URL_FILE", "", check_qr_url_file(v)));
    config.qr_url_file = v;
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
