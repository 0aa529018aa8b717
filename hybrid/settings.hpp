// SPDX-License-Identifier: Apache-2.0
// The desktop configuration every desktop program shares (the CLI's register / sign-in / links,
// the OpenSSH provider, the PAM module, the Python package, the browser host):
//
//   1. the defaults of DesktopConfig;
//   2. the config file: $HYBRIDGATE_CONFIG if set (it must exist), else
//      $XDG_CONFIG_HOME/hybridgate/config (~/.config/hybridgate/config; optional);
//   3. the environment: one HYBRIDGATE_* variable per setting (desktop_settings() below);
//   4. whatever the program's own options say (command-line flags, PAM options) — applied by the
//      caller on top of the result.
//
// The config file is TOML (or INI) of `key = value` lines; '#' starts a comment:
//
//   tunnel_url = "wss://relay.example.org"
//   ca_file = "/etc/ssl/relay-ca.pem"
//   radio = "auto"              # auto | bluez | loopback
//   adapter = "hci0"
//   loopback_dir = "/run/user/1000/hybridgate-radio"
//   links_file = "/home/alice/.local/share/hybridgate/links.json"
//   phone = "Pixel 8"           # a remembered phone: ceremonies wake it instead of showing a QR code
//   qr_url_file = "/run/user/1000/hybridgate-qr"   # the FIDO:/ URL is written here (0600)
//   link_phone = true           # QR codes offer linking; a phone that agrees is remembered
//   advert_timeout = 120        # seconds; also connect_timeout, handshake_timeout, response_timeout
//
// An unknown key, a malformed line or an out-of-range value is an error (config.invalid), never
// silently ignored. Relative paths in the file are relative to the file's folder.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "hybrid/desktop.hpp"

namespace hg::hybrid {

// The one table of the desktop settings. Every front end carries every row under the row's names:
//   the config file's key            key                     (tunnel_url)
//   the environment                  env                     (HYBRIDGATE_TUNNEL_URL)
//   the C ABI                        c_setter                (hg_config_set_tunnel_url)
//   the CLI's flags                  "--" + key, '_' → '-'   (--tunnel-url)
//   the PAM module's arguments       key "=" value           (tunnel_url=wss://…)
//   the Python package's keywords    key                     (tunnel_url="wss://…")
//   docs/configuration.md's table    a row per key
// tests/settings/ checks each front end against this table, so a row added here and missing from
// any of them fails a test.
enum class SettingKind { text, path, url, radio, boolean, seconds };
struct Setting {
  std::string_view key;
  std::string_view env;
  std::string_view c_setter;
  SettingKind kind;
  std::string_view default_text;  // as docs/configuration.md says it
  std::string_view doc;           // one line
};
std::span<const Setting> desktop_settings();
const Setting* find_setting(std::string_view key);
// Checks `value` (its text form, as in the config file) and sets it; config.invalid
// "WHERE: why" when it is not a value of this setting. Paths are taken as they are.
Status apply_setting(DesktopConfig& config, const Setting& setting, const std::string& value, const std::string& where);

// The config file the loader reads when HYBRIDGATE_CONFIG is not set.
Result<std::filesystem::path> default_config_path();

// Steps 2–3 above, on top of `base` (step 1 when it is the default).
Result<DesktopConfig> load_desktop_config(DesktopConfig base = {});

// Step 2 alone, on top of `config`: the named file (required = false: a missing file is no error).
Status apply_config_file(DesktopConfig& config, const std::filesystem::path& file, bool required);
// Step 3 alone, on top of `config`.
Status apply_config_environment(DesktopConfig& config);

// The checks every place that sets a value runs (the C setters, the config file, the environment,
// the CLI's flags), so a bad value is refused where it is set, before any QR code is shown, not
// when the phone has scanned one. "" (unset) passes each. The error's detail is a sentence
// without the setting's name (the caller adds it: the key and file, the variable, the flag).
//   tunnel_url: a ws:// or wss:// URL (web/url.hpp's parser);
//   ca_file: an existing regular file;
//   qr_url_file: a path whose folder exists (the file itself is replaced atomically there).
Status check_tunnel_url(const std::string& url);
Status check_ca_file(const std::string& path);
Status check_qr_url_file(const std::filesystem::path& path);

// "auto" / "bluez" / "loopback" → the radio kind (config.invalid otherwise).
Result<ble::RadioKind> parse_radio(const std::string& name);

}  // namespace hg::hybrid
