// SPDX-License-Identifier: Apache-2.0
// hg_config_*: setters over hg::hybrid::DesktopConfig and PhoneConfig (settings both sides share
// are set in both).
#include "capi/config.hpp"

#include "hybrid/settings.hpp"

#include <chrono>
#include <cstring>

using hg::Errc;
using hg::capi::fail;
using hg::capi::guarded;
using hg::capi::str_or_empty;

namespace {

constexpr uint32_t kMaxTimeoutMs = 86'400'000;  // one day

int no_config(hg_error* err) { return fail(err, Errc::invalid_argument, "the hg_config is NULL"); }

using Side = hg_config::Side;

}  // namespace

int hg::capi::check_side(const hg_config* cfg, Side setting_side, const char* setting, hg_error* err) {
  if (cfg->side == Side::both || cfg->side == setting_side) return HG_OK;
  const bool desktop_setting = setting_side == Side::desktop;
  return fail(err, Errc::invalid_argument,
              std::string(setting) + " is a " + (desktop_setting ? "desktop" : "phone") + " setting; this hg_config is for a " +
                  (desktop_setting ? "phone (hg_config_new_phone)" : "desktop (hg_config_new_desktop)"));
}

using hg::capi::check_side;

extern "C" {

hg_config* hg_config_new(void) {
  try {
    return new hg_config();
  } catch (...) {
    return nullptr;
  }
}

hg_config* hg_config_new_desktop(void) {
  hg_config* c = hg_config_new();
  if (c != nullptr) c->side = Side::desktop;
  return c;
}

hg_config* hg_config_new_phone(void) {
  hg_config* c = hg_config_new();
  if (c != nullptr) c->side = Side::phone;
  return c;
}

void hg_config_free(hg_config** cfg) {
  if (cfg == nullptr) return;
  delete *cfg;
  *cfg = nullptr;
}

int hg_config_set_tunnel_url(hg_config* cfg, const char* url, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    if (auto st = hg::hybrid::check_tunnel_url(str_or_empty(url)); !st)
      return fail(err, Errc::invalid_argument, st.error().detail);
    cfg->desktop.tunnel_url = str_or_empty(url);
    cfg->phone.tunnel_url = cfg->desktop.tunnel_url;
    return HG_OK;
  });
}

int hg_config_set_ca_file(hg_config* cfg, const char* path, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    if (auto st = hg::hybrid::check_ca_file(str_or_empty(path)); !st)
      return fail(err, Errc::invalid_argument, st.error().detail);
    cfg->desktop.ca_file = str_or_empty(path);
    cfg->phone.ca_file = cfg->desktop.ca_file;
    return HG_OK;
  });
}

int hg_config_set_radio(hg_config* cfg, const char* radio, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    if (radio == nullptr) return fail(err, Errc::invalid_argument, "the radio is NULL (auto, bluez or loopback)");
    hg::ble::RadioKind kind;
    if (std::strcmp(radio, "auto") == 0) {
      kind = hg::ble::RadioKind::automatic;
    } else if (std::strcmp(radio, "bluez") == 0) {
      kind = hg::ble::RadioKind::bluez;
    } else if (std::strcmp(radio, "loopback") == 0) {
      kind = hg::ble::RadioKind::loopback;
    } else {
      return fail(err, Errc::invalid_argument, "unknown radio; use auto, bluez or loopback");
    }
    cfg->desktop.radio.kind = kind;
    cfg->phone.radio.kind = kind;
    return HG_OK;
  });
}

int hg_config_set_adapter(hg_config* cfg, const char* adapter, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    cfg->desktop.radio.adapter = str_or_empty(adapter);
    cfg->phone.radio.adapter = cfg->desktop.radio.adapter;
    return HG_OK;
  });
}

int hg_config_set_loopback_dir(hg_config* cfg, const char* dir, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    cfg->desktop.radio.loopback_dir = str_or_empty(dir);
    cfg->phone.radio.loopback_dir = cfg->desktop.radio.loopback_dir;
    return HG_OK;
  });
}

int hg_config_set_links_file(hg_config* cfg, const char* path, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    if (check_side(cfg, Side::desktop, "links_file", err) != HG_OK) return HG_ERR;
    cfg->desktop.links_file = str_or_empty(path);
    return HG_OK;
  });
}

int hg_config_set_link_phone(hg_config* cfg, int link_phone, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    if (check_side(cfg, Side::desktop, "link_phone", err) != HG_OK) return HG_ERR;
    cfg->desktop.link_phone = link_phone != 0;
    return HG_OK;
  });
}

int hg_config_set_timeout(hg_config* cfg, hg_timeout which, uint32_t milliseconds, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    if (milliseconds == 0 || milliseconds > kMaxTimeoutMs) {
      return fail(err, Errc::invalid_argument, "a timeout must be 1 to 86400000 milliseconds");
    }
    const std::chrono::milliseconds ms{milliseconds};
    if ((which == HG_TIMEOUT_ADVERT || which == HG_TIMEOUT_HANDSHAKE || which == HG_TIMEOUT_RESPONSE) &&
        check_side(cfg, Side::desktop, "this timeout", err) != HG_OK)
      return HG_ERR;
    if ((which == HG_TIMEOUT_DESKTOP || which == HG_TIMEOUT_IDLE) && check_side(cfg, Side::phone, "this timeout", err) != HG_OK)
      return HG_ERR;
    switch (which) {
      case HG_TIMEOUT_ADVERT: cfg->desktop.deadlines.advert = ms; return HG_OK;
      case HG_TIMEOUT_CONNECT:
        cfg->desktop.deadlines.connect = ms;
        cfg->phone.connect = ms;
        return HG_OK;
      case HG_TIMEOUT_HANDSHAKE: cfg->desktop.deadlines.handshake = ms; return HG_OK;
      case HG_TIMEOUT_RESPONSE: cfg->desktop.deadlines.response = ms; return HG_OK;
      case HG_TIMEOUT_DESKTOP: cfg->phone.desktop = ms; return HG_OK;
      case HG_TIMEOUT_IDLE: cfg->phone.idle = ms; return HG_OK;
    }
    return fail(err, Errc::invalid_argument, "unknown hg_timeout");
  });
}

int hg_config_set_phone(hg_config* cfg, const char* name, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    if (check_side(cfg, Side::desktop, "phone", err) != HG_OK) return HG_ERR;
    cfg->desktop.phone = str_or_empty(name);
    return HG_OK;
  });
}

int hg_config_set_qr_url_file(hg_config* cfg, const char* path, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    if (check_side(cfg, Side::desktop, "qr_url_file", err) != HG_OK) return HG_ERR;
    if (auto st = hg::hybrid::check_qr_url_file(str_or_empty(path)); !st)
      return fail(err, Errc::invalid_argument, st.error().detail);
    cfg->desktop.qr_url_file = str_or_empty(path);
    return HG_OK;
  });
}

int hg_config_load(hg_config* cfg, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    auto r = hg::hybrid::load_desktop_config(cfg->desktop);
    if (!r) return fail(err, r.error());
    hg::hybrid::DesktopConfig& loaded = *r;
    // Settings both sides share follow to the phone side, as the setters do.
    cfg->phone.tunnel_url = loaded.tunnel_url;
    cfg->phone.ca_file = loaded.ca_file;
    cfg->phone.radio.kind = loaded.radio.kind;
    cfg->phone.radio.adapter = loaded.radio.adapter;
    cfg->phone.radio.loopback_dir = loaded.radio.loopback_dir;
    cfg->phone.connect = loaded.deadlines.connect;
    cfg->desktop = std::move(loaded);
    return HG_OK;
  });
}

int hg_config_set_domain_id(hg_config* cfg, uint16_t domain_id, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    if (check_side(cfg, Side::phone, "domain_id", err) != HG_OK) return HG_ERR;
    cfg->phone.domain_id = domain_id;
    return HG_OK;
  });
}

int hg_config_set_link_state(hg_config* cfg, const char* path, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    if (check_side(cfg, Side::phone, "link_state", err) != HG_OK) return HG_ERR;
    cfg->phone.link_state = str_or_empty(path);
    return HG_OK;
  });
}

int hg_config_set_phone_name(hg_config* cfg, const char* name, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    if (check_side(cfg, Side::phone, "phone_name", err) != HG_OK) return HG_ERR;
    cfg->phone.name = str_or_empty(name);
    return HG_OK;
  });
}

int hg_config_set(hg_config* cfg, const char* key, const char* value, hg_error* err) {
  return guarded(err, [&] {
    if (cfg == nullptr) return no_config(err);
    if (key == nullptr) return fail(err, Errc::invalid_argument, "the setting's key is NULL");
    const hg::hybrid::Setting* setting = hg::hybrid::find_setting(key);
    if (setting == nullptr)
      return fail(err, Errc::invalid_argument, "unknown setting '" + std::string(key).substr(0, 64) + "'");
    const std::string_view k(key);
    const bool shared = k == "tunnel_url" || k == "ca_file" || k == "radio" || k == "adapter" || k == "loopback_dir" ||
                        k == "connect_timeout";
    if (!shared && check_side(cfg, Side::desktop, key, err) != HG_OK) return HG_ERR;
    hg::hybrid::DesktopConfig d = cfg->desktop;
    if (auto st = hg::hybrid::apply_setting(d, *setting, str_or_empty(value), key); !st)
      return fail(err, Errc::invalid_argument, st.error().detail);
    cfg->desktop = std::move(d);
    // Settings both sides share follow to the phone side, as the setters do.
    if (k == "tunnel_url") cfg->phone.tunnel_url = cfg->desktop.tunnel_url;
    if (k == "ca_file") cfg->phone.ca_file = cfg->desktop.ca_file;
    if (k == "radio") cfg->phone.radio.kind = cfg->desktop.radio.kind;
    if (k == "adapter") cfg->phone.radio.adapter = cfg->desktop.radio.adapter;
    if (k == "loopback_dir") cfg->phone.radio.loopback_dir = cfg->desktop.radio.loopback_dir;
    if (k == "connect_timeout") cfg->phone.connect = cfg->desktop.deadlines.connect;
    return HG_OK;
  });
}

const char* hg_config_setting_key(size_t index) {
  const auto table = hg::hybrid::desktop_settings();
  return index < table.size() ? table[index].key.data() : nullptr;
}

int hg_config_get(const hg_config* cfg, const char* key, char** value, hg_error* err) {
  if (value != nullptr) *value = nullptr;
  return guarded(err, [&] {
    if (cfg == nullptr) return fail(err, Errc::invalid_argument, "the hg_config is NULL");
    if (key == nullptr || value == nullptr) return fail(err, Errc::invalid_argument, "the key or out-pointer is NULL");
    const std::string_view k(key);
    std::string v;
    if (k == "tunnel_url") v = cfg->desktop.tunnel_url;
    else if (k == "ca_file") v = cfg->desktop.ca_file;
    else if (k == "links_file") v = cfg->desktop.links_file.string();
    else if (k == "phone") v = cfg->desktop.phone;
    else if (k == "qr_url_file") v = cfg->desktop.qr_url_file.string();
    else if (k == "link_phone") v = cfg->desktop.link_phone ? "true" : "false";
    else return fail(err, Errc::invalid_argument, "hg_config_get knows no key '" + std::string(k) + "'");
    char* s = hg::capi::dup_string(v);
    if (s == nullptr) return fail(err, Errc::internal, "out of memory");
    *value = s;
    return HG_OK;
  });
}

}  // extern "C"
