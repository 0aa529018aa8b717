// SPDX-License-Identifier: Apache-2.0
// hybridgate.hpp - a C++17 façade over libhybridgate's C ABI (hybridgate.h), header-only: RAII
// handles, std::function callbacks, exceptions carrying the stable error code. It exposes no
// internals (no Impl, no library-internal headers, no third-party types): what it shows is what
// hybridgate.h promises, so it keeps the C ABI's compatibility rules (docs/library.md,
// "Versioning"). Link with libhybridgate like a C program (pkg-config hybridgate, or
// hybridgate::hybridgate in CMake).
//
//     hybridgate::Desktop desktop(hybridgate::Config::desktop().load());
//     desktop.on_qr([](std::string_view url) { show_as_qr_code(url); });
//     hybridgate::Credential c = desktop.get(options_json, "https://example.com");
//     send_to_server(c.json);              // c.id, c.user_handle, c.sign_count for the caller
//
// Failures throw hybridgate::Error (code(): hg_errc, name(): "ctap.operation_denied", what():
// the sentence and detail). Objects are neither copyable nor movable (callbacks point at them);
// hold them in a std::unique_ptr to pass them around. Threads and secrets: as in hybridgate.h.
#ifndef HYBRIDGATE_HPP
#define HYBRIDGATE_HPP

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hybridgate/hybridgate.h"

namespace hybridgate {

using Bytes = std::vector<uint8_t>;

// A failed call: the stable code (a number to switch on and its name) and the sentence.
class Error : public std::runtime_error {
 public:
  explicit Error(const hg_error& e) : std::runtime_error(e.message), code_(hg_error_code(&e)), name_(e.code) {}
  hg_errc code() const noexcept { return code_; }
  const std::string& name() const noexcept { return name_; }

 private:
  hg_errc code_;
  std::string name_;
};

namespace detail {
inline void check(int rc, const hg_error& e) {
  if (rc != HG_OK) throw Error(e);
}
template <typename T>
T* check_ptr(T* p, const hg_error& e) {
  if (p == nullptr) throw Error(e);
  return p;
}
inline const char* c_str_or_null(std::string_view s, std::string& keep) {
  if (s.empty()) return nullptr;
  keep.assign(s);
  return keep.c_str();
}
struct Freed {
  void* p;
  ~Freed() { hg_free(p); }
};
}  // namespace detail

// Settings for one side (Config::desktop() or Config::phone()); setters return *this.
class Config {
 public:
  static Config desktop() { return Config(hg_config_new_desktop()); }
  static Config phone() { return Config(hg_config_new_phone()); }
  Config(Config&& o) noexcept : cfg_(o.cfg_) { o.cfg_ = nullptr; }
  Config& operator=(Config&&) = delete;
  Config(const Config&) = delete;
  ~Config() { hg_config_free(&cfg_); }

  // The person's configuration file and HYBRIDGATE_* variables (call first).
  Config& load() { return call(hg_config_load(cfg_, &err_)); }
  Config& tunnel_url(const std::string& v) { return call(hg_config_set_tunnel_url(cfg_, v.c_str(), &err_)); }
  Config& ca_file(const std::string& v) { return call(hg_config_set_ca_file(cfg_, v.c_str(), &err_)); }
  Config& radio(const std::string& v) { return call(hg_config_set_radio(cfg_, v.c_str(), &err_)); }
  Config& adapter(const std::string& v) { return call(hg_config_set_adapter(cfg_, v.c_str(), &err_)); }
  Config& loopback_dir(const std::string& v) { return call(hg_config_set_loopback_dir(cfg_, v.c_str(), &err_)); }
  Config& timeout(hg_timeout which, std::chrono::milliseconds ms) {
    return call(hg_config_set_timeout(cfg_, which, static_cast<uint32_t>(ms.count()), &err_));
  }
  // Desktop settings.
  Config& links_file(const std::string& v) { return call(hg_config_set_links_file(cfg_, v.c_str(), &err_)); }
  Config& link_phone(bool v) { return call(hg_config_set_link_phone(cfg_, v ? 1 : 0, &err_)); }
  Config& remembered_phone(const std::string& v) { return call(hg_config_set_phone(cfg_, v.c_str(), &err_)); }
  Config& qr_url_file(const std::string& v) { return call(hg_config_set_qr_url_file(cfg_, v.c_str(), &err_)); }
  // Phone settings.
  Config& domain_id(uint16_t v) { return call(hg_config_set_domain_id(cfg_, v, &err_)); }
  Config& link_state(const std::string& v) { return call(hg_config_set_link_state(cfg_, v.c_str(), &err_)); }
  Config& phone_name(const std::string& v) { return call(hg_config_set_phone_name(cfg_, v.c_str(), &err_)); }

  const hg_config* handle() const noexcept { return cfg_; }

 private:
  explicit Config(hg_config* c) : cfg_(c) {
    if (cfg_ == nullptr) throw std::bad_alloc();
  }
  Config& call(int rc) {
    detail::check(rc, err_);
    return *this;
  }
  hg_config* cfg_;
  hg_error err_{};
};

// A PublicKeyCredential (toJSON form) and the fields a program needs from it.
struct Credential {
  std::string json;      // for the relying party
  Bytes id;              // rawId
  Bytes user_handle;     // sign-in only (empty when the phone sent none)
  Bytes auth_data;
  uint32_t sign_count = 0;
  bool is_create = false;

  static Credential from_json(const char* json) {
    hg_error err{};
    hg_result* r = nullptr;
    detail::check(hg_result_from_json(json, &r, &err), err);
    Credential c;
    const uint8_t* p = nullptr;
    size_t n = 0;
    c.json = hg_result_json(r);
    hg_result_credential_id(r, &p, &n);
    c.id.assign(p, p + n);
    hg_result_user_handle(r, &p, &n);
    c.user_handle.assign(p, p + n);
    hg_result_auth_data(r, &p, &n);
    c.auth_data.assign(p, p + n);
    c.sign_count = hg_result_sign_count(r);
    c.is_create = hg_result_is_create(r) != 0;
    hg_result_free(&r);
    return c;
  }
};

// navigator.credentials.create()/.get() with a phone (blocking; cancel() from any thread).
class Desktop {
 public:
  explicit Desktop(const Config& cfg) : d_(detail::check_ptr(hg_desktop_new(cfg.handle(), &err_), err_)) {
    hg_desktop_on_qr(d_, &Desktop::qr_tramp, this);
    hg_desktop_on_stage(d_, &Desktop::stage_tramp, this);
    hg_desktop_on_notice(d_, &Desktop::notice_tramp, this);
  }
  Desktop(const Desktop&) = delete;
  Desktop& operator=(const Desktop&) = delete;
  ~Desktop() { hg_desktop_free(&d_); }

  // Set while no ceremony runs; they run on the thread calling create/get.
  void on_qr(std::function<void(std::string_view fido_url)> f) { qr_ = std::move(f); }
  void on_stage(std::function<void(std::string_view stage, std::string_view detail)> f) { stage_ = std::move(f); }
  void on_notice(std::function<void(std::string_view sentence)> f) { notice_ = std::move(f); }

  // phone: "" = a QR code (or the configured remembered phone), else a remembered phone's name.
  Credential create(const std::string& options_json, const std::string& origin, std::string_view phone = {}) {
    return ceremony(true, options_json, origin, phone);
  }
  Credential get(const std::string& options_json, const std::string& origin, std::string_view phone = {}) {
    return ceremony(false, options_json, origin, phone);
  }
  void cancel() noexcept { hg_desktop_cancel(d_); }

  // The remembered phones as JSON (hg_desktop_phones); forget one by name.
  std::string phones_json() {
    hg_error err{};
    char* json = nullptr;
    detail::check(hg_desktop_phones(d_, &json, &err), err);
    detail::Freed f{json};
    return json;
  }
  bool forget(const std::string& name) {
    hg_error err{};
    int forgotten = 0;
    detail::check(hg_desktop_forget(d_, name.c_str(), &forgotten, &err), err);
    return forgotten != 0;
  }

  hg_desktop* handle() noexcept { return d_; }

 private:
  Credential ceremony(bool create, const std::string& options, const std::string& origin, std::string_view phone) {
    hg_error err{};
    char* json = nullptr;
    std::string keep;
    const char* ph = detail::c_str_or_null(phone, keep);
    pending_ = nullptr;
    const int rc = create ? hg_desktop_create(d_, options.c_str(), origin.c_str(), ph, &json, &err)
                          : hg_desktop_get(d_, options.c_str(), origin.c_str(), ph, &json, &err);
    if (pending_) {  // a callback threw: the ceremony was cancelled; its exception wins
      hg_free(json);
      std::rethrow_exception(pending_);
    }
    detail::check(rc, err);
    detail::Freed f{json};
    return Credential::from_json(json);
  }
  // An exception cannot cross the C library: a throwing callback cancels the ceremony, and
  // create/get rethrow it.
  template <typename F>
  void guarded(F&& f) noexcept {
    try {
      f();
    } catch (...) {
      pending_ = std::current_exception();
      hg_desktop_cancel(d_);
    }
  }
  static void qr_tramp(void* u, const char* url) {
    auto* self = static_cast<Desktop*>(u);
    if (self->qr_) self->guarded([&] { self->qr_(url); });
  }
  static void stage_tramp(void* u, const char* stage, const char* detail) {
    auto* self = static_cast<Desktop*>(u);
    if (self->stage_) self->guarded([&] { self->stage_(stage, detail); });
  }
  static void notice_tramp(void* u, const char* sentence) {
    auto* self = static_cast<Desktop*>(u);
    if (self->notice_) self->guarded([&] { self->notice_(sentence); });
  }

  hg_error err_{};
  hg_desktop* d_;
  std::function<void(std::string_view)> qr_;
  std::function<void(std::string_view, std::string_view)> stage_;
  std::function<void(std::string_view)> notice_;
  std::exception_ptr pending_;
};

// A software authenticator whose passkeys live in a file (hg_phone_*).
class Phone {
 public:
  Phone(const Config& cfg, const std::string& store_path)
      : p_(detail::check_ptr(hg_phone_new(cfg.handle(), store_path.c_str(), &err_), err_)) {
    hg_phone_on_presence(p_, &Phone::presence_tramp, this);
    hg_phone_on_stage(p_, &Phone::stage_tramp, this);
  }
  Phone(const Phone&) = delete;
  Phone& operator=(const Phone&) = delete;
  ~Phone() { hg_phone_free(&p_); }

  // Whether to go ahead: operation ("make_credential", "get_assertion", ...), rp_id, user name.
  // None set: every request is refused. Runs on a thread the library starts per request.
  void on_presence(std::function<bool(std::string_view, std::string_view, std::string_view)> f) { presence_ = std::move(f); }
  void on_stage(std::function<void(std::string_view, std::string_view)> f) { stage_ = std::move(f); }

  // Returns the number of requests served / wake-ups served.
  int serve_qr(const std::string& fido_url, bool link = false) {
    hg_error err{};
    int served = 0;
    detail::check(hg_phone_serve_qr(p_, fido_url.c_str(), link ? 1 : 0, &served, &err), err);
    return served;
  }
  int listen(int max_wakeups = 0) {
    hg_error err{};
    int n = 0;
    detail::check(hg_phone_listen(p_, max_wakeups, &n, &err), err);
    return n;
  }
  void unlink() {
    hg_error err{};
    detail::check(hg_phone_unlink(p_, &err), err);
  }
  void cancel() noexcept { hg_phone_cancel(p_); }

 private:
  static int presence_tramp(void* u, const char* op, const char* rp, const char* user) {
    auto* self = static_cast<Phone*>(u);
    try {
      return self->presence_ && self->presence_(op, rp, user) ? 1 : 0;
    } catch (...) {
      return 0;  // an exception cannot cross the C library: refuse
    }
  }
  static void stage_tramp(void* u, const char* stage, const char* detail) {
    auto* self = static_cast<Phone*>(u);
    try {
      if (self->stage_) self->stage_(stage, detail);
    } catch (...) {
      hg_phone_cancel(self->p_);  // an exception cannot cross the C library: end the call
    }
  }

  hg_error err_{};
  hg_phone* p_;
  std::function<bool(std::string_view, std::string_view, std::string_view)> presence_;
  std::function<void(std::string_view, std::string_view)> stage_;
};

}  // namespace hybridgate

#endif  // HYBRIDGATE_HPP
