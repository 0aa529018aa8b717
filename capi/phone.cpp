// SPDX-License-Identifier: Apache-2.0
// hg_phone_*: hg::hybrid::Phone over the software authenticator and a file credential store,
// with the person's consent asked through a C callback.
#include <array>
#include <ctime>
#include <mutex>
#include <string_view>

#include "capi/config.hpp"
#include "store/credential_store.hpp"
#include "proto/authenticator.hpp"

using hg::Errc;
using hg::capi::fail;
using hg::capi::guarded;

namespace {

std::string_view operation_name(hg::authenticator::Operation op) {
  switch (op) {
    case hg::authenticator::Operation::make_credential: return "make_credential";
    case hg::authenticator::Operation::get_assertion: return "get_assertion";
    case hg::authenticator::Operation::excluded: return "excluded";
    case hg::authenticator::Operation::selection: return "selection";
  }
  return "unknown";
}

// The C presence callback as the authenticator's UserPresence. No callback: refuse.
class CallbackPresence final : public hg::authenticator::UserPresence {
 public:
  bool confirm(const std::string& rp_id, const std::string& user_name, hg::authenticator::Operation op) override {
    const std::string name(operation_name(op));
    const bool yes = cb != nullptr && cb(user, name.c_str(), rp_id.c_str(), user_name.c_str()) != 0;
    hg::capi::log(HG_LOG_INFO, "phone " + name + " for " + rp_id + (yes ? ": approved" : ": refused"));
    return yes;
  }
  std::optional<hg::SecretBytes> ask_pin(const hg::authenticator::PinPrompt& p,
                                         const std::atomic<bool>& cancelled) override {
    if (pin_cb == nullptr || cancelled) return std::nullopt;
    const std::string name(operation_name(p.op));
    std::array<char, 256> buf{};
    const int ok = pin_cb(pin_user, name.c_str(), p.rp_id.c_str(), p.user_name.c_str(), static_cast<int>(p.retries),
                          p.again ? 1 : 0, buf.data(), buf.size());
    buf.back() = '\0';
    std::optional<hg::SecretBytes> out;
    if (ok != 0) out = hg::SecretBytes(hg::as_bytes(std::string_view(buf.data())));
    hg::secure_wipe(buf.data(), buf.size());
    return out;
  }
  hg_presence_cb* cb = nullptr;
  void* user = nullptr;
  hg_pin_cb* pin_cb = nullptr;
  void* pin_user = nullptr;
};

}  // namespace

struct hg_phone {
  std::unique_ptr<hg::store::FileCredentialStore> store;
  CallbackPresence presence;
  std::unique_ptr<hg::authenticator::SoftwareAuthenticator> authenticator;
  std::unique_ptr<hg::hybrid::Phone> impl;
  hg_stage_cb* stage = nullptr;
  void* user = nullptr;

  std::mutex mu;
  bool running = false;

  int begin(hg_error* err) {
    std::lock_guard lock(mu);
    if (running) return fail(err, Errc::invalid_argument, "a call is already running on this hg_phone");
    running = true;
    return HG_OK;
  }
  void end() {
    std::lock_guard lock(mu);
    running = false;
  }

  hg::hybrid::Events events() const {
    hg::hybrid::Events ev;
    hg_stage_cb* st = stage;
    void* u = user;
    ev.stage = [st, u](hg::hybrid::Stage s, const std::string& detail) {
      const std::string name(hg::hybrid::to_string(s));
      if (hg::capi::log_enabled(HG_LOG_DEBUG))
        hg::capi::log(HG_LOG_DEBUG, "phone stage " + name + (detail.empty() ? std::string() : " (" + detail + ")"));
      if (st != nullptr) st(u, name.c_str(), detail.c_str());
    };
    return ev;
  }
};

namespace {

int no_phone(hg_error* err) { return fail(err, Errc::invalid_argument, "the hg_phone is NULL"); }

// Runs one blocking Phone call between begin() and end().
template <typename F>
int run(hg_phone* p, hg_error* err, F&& call) {
  if (p->begin(err) != HG_OK) return HG_ERR;
  int rc;
  try {
    rc = call();
  } catch (...) {
    rc = fail(err, hg::capi::current_exception_error());
  }
  p->end();
  return rc;
}

}  // namespace

extern "C" {

namespace {

// hg_phone_new and hg_phone_new_sealed: a sealed store needs `passphrase` (nullptr: refused with
// store.sealed, as FileCredentialStore::open does).
hg_phone* make_phone(const hg_config* cfg, const char* store_path, const hg::SecretBytes* passphrase,
                     hg_error* err) {
  try {
    if (store_path == nullptr || *store_path == '\0') {
      fail(err, Errc::invalid_argument, "the credential store path is empty");
      return nullptr;
    }
    if (cfg != nullptr && cfg->side == hg_config::Side::desktop) {
      fail(err, Errc::invalid_argument, "this hg_config is for a desktop (hg_config_new_desktop), not a phone");
      return nullptr;
    }
    auto p = std::make_unique<hg_phone>();
    auto store = hg::store::FileCredentialStore::open(store_path, passphrase);
    if (!store.ok()) {
      fail(err, store.error());
      return nullptr;
    }
    p->store = std::move(*store);
    hg::authenticator::Config ac;
    ac.now = [] { return static_cast<uint64_t>(std::time(nullptr)); };
    p->authenticator = std::make_unique<hg::authenticator::SoftwareAuthenticator>(*p->store, p->presence, ac);
    p->impl = std::make_unique<hg::hybrid::Phone>(cfg ? cfg->phone : hg::hybrid::PhoneConfig{}, *p->authenticator);
    return p.release();
  } catch (...) {
    fail(err, hg::capi::current_exception_error());
    return nullptr;
  }
}

}  // namespace

hg_phone* hg_phone_new(const hg_config* cfg, const char* store_path, hg_error* err) {
  return make_phone(cfg, store_path, nullptr, err);
}

hg_phone* hg_phone_new_sealed(const hg_config* cfg, const char* store_path, const char* passphrase,
                              size_t passphrase_len, hg_error* err) {
  try {
    if (passphrase == nullptr || passphrase_len == 0) {
      fail(err, Errc::invalid_argument, "the store's passphrase is empty");
      return nullptr;
    }
    const hg::SecretBytes pass(hg::ByteView(reinterpret_cast<const uint8_t*>(passphrase), passphrase_len));
    return make_phone(cfg, store_path, &pass, err);
  } catch (...) {
    fail(err, hg::capi::current_exception_error());
    return nullptr;
  }
}

void hg_phone_free(hg_phone** pp) {
  if (pp == nullptr || *pp == nullptr) return;
  hg_phone* p = *pp;
  *pp = nullptr;
  try {
    delete p;
  } catch (...) {
  }
}

void hg_phone_set_callbacks(hg_phone* p, hg_presence_cb* presence, hg_stage_cb* stage, void* user) {
  if (p == nullptr) return;
  p->presence.cb = presence;
  p->presence.user = user;
  p->stage = stage;
  p->user = user;
}

void hg_phone_on_presence(hg_phone* p, hg_presence_cb* cb, void* user) {
  if (p == nullptr) return;
  p->presence.cb = cb;
  p->presence.user = user;
}

void hg_phone_on_stage(hg_phone* p, hg_stage_cb* cb, void* user) {
  if (p == nullptr) return;
  p->stage = cb;
  p->user = user;
}

void hg_phone_set_verification_callback(hg_phone* p, hg_pin_cb* pin, void* user) {
  if (p == nullptr) return;
  p->presence.pin_cb = pin;
  p->presence.pin_user = user;
}

int hg_phone_set_pin(hg_phone* p, const char* new_pin, const char* current_pin, hg_error* err) {
  return guarded(err, [&] {
    if (p == nullptr) return no_phone(err);
    if (new_pin == nullptr) return fail(err, Errc::invalid_argument, "the new PIN is NULL");
    return run(p, err, [&] {
      std::optional<hg::ByteView> cur;
      if (current_pin != nullptr) cur = hg::as_bytes(std::string_view(current_pin));
      auto st = p->authenticator->set_pin(hg::as_bytes(std::string_view(new_pin)), cur);
      if (!st.ok()) return fail(err, st.error());
      return HG_OK;
    });
  });
}

int hg_phone_serve_qr(hg_phone* p, const char* fido_url, int link, int* requests_served, hg_error* err) {
  if (requests_served != nullptr) *requests_served = 0;
  return guarded(err, [&] {
    if (p == nullptr) return no_phone(err);
    if (fido_url == nullptr) return fail(err, Errc::invalid_argument, "the FIDO:/ URL is NULL");
    return run(p, err, [&] {
      auto r = p->impl->serve_qr(fido_url, link != 0, p->events());
      if (!r.ok()) return fail(err, r.error());
      if (requests_served != nullptr) *requests_served = r->requests_served;
      return HG_OK;
    });
  });
}

int hg_phone_listen(hg_phone* p, int max_wakeups, int* wakeups, hg_error* err) {
  if (wakeups != nullptr) *wakeups = 0;
  return guarded(err, [&] {
    if (p == nullptr) return no_phone(err);
    if (max_wakeups < 0) return fail(err, Errc::invalid_argument, "max_wakeups is negative");
    return run(p, err, [&] {
      auto r = p->impl->listen(max_wakeups, p->events());
      if (!r.ok()) return fail(err, r.error());
      if (wakeups != nullptr) *wakeups = r->wakeups;
      return HG_OK;
    });
  });
}

int hg_phone_unlink(hg_phone* p, hg_error* err) {
  return guarded(err, [&] {
    if (p == nullptr) return no_phone(err);
    return run(p, err, [&] {
      auto r = p->impl->unlink();
      if (!r.ok()) return fail(err, r.error());
      return HG_OK;
    });
  });
}

void hg_phone_cancel(hg_phone* p) {
  if (p == nullptr) return;
  try {
    std::lock_guard lock(p->mu);
    if (p->running) p->impl->cancel();
  } catch (...) {
  }
}

}  // extern "C"
