// SPDX-License-Identifier: Apache-2.0
// hg_desktop_*: hg::hybrid::Desktop behind a C handle, in a blocking form (the caller's thread
// runs the ceremony and its callbacks) and a non-blocking form (a worker thread runs it; its
// callbacks are queued and run by hg_desktop_dispatch on the application's thread, woken through
// an eventfd).
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "capi/config.hpp"

using hg::Errc;
using hg::capi::dup_string;
using hg::capi::fail;
using hg::capi::guarded;
using hg::capi::str_or_empty;

namespace {

enum class Kind { create, get };

// A callback the worker queued for hg_desktop_dispatch.
struct Event {
  enum Type { qr, stage, notice } type;
  std::string a, b;
};

}  // namespace

struct hg_desktop {
  std::unique_ptr<hg::hybrid::Desktop> impl;
  int efd = -1;

  // Set while idle (hg_desktop_set_callbacks), read by the thread running the ceremony.
  hg_qr_cb* qr = nullptr;
  hg_stage_cb* stage = nullptr;
  hg_notice_cb* notice = nullptr;
  void* qr_user = nullptr;
  void* stage_user = nullptr;
  void* notice_user = nullptr;

  std::mutex mu;
  // running: a ceremony is between its start and its end (blocking call or worker thread).
  // async: it was started by hg_desktop_start_*; finished: the worker has stored `result`.
  bool running = false;
  bool async = false;
  bool finished = false;
  std::deque<Event> events;
  std::optional<hg::Result<nlohmann::json>> result;
  std::thread worker;

  ~hg_desktop() {
    if (efd >= 0) ::close(efd);
  }

  void wake() const {
    const uint64_t one = 1;
    // An eventfd counter only overflows after 2^64-2 writes; EAGAIN cannot happen in practice.
    [[maybe_unused]] auto n = ::write(efd, &one, sizeof one);
  }

  void push(Event e) {
    {
      std::lock_guard lock(mu);
      events.push_back(std::move(e));
    }
    wake();
  }

  // The C++ callbacks for a ceremony: direct calls (blocking) or queued events (non-blocking).
  // Stages and notices also go to the log handler (never the QR code's URL: it holds the secret).
  hg::hybrid::DesktopCallbacks callbacks(bool queued) {
    hg::hybrid::DesktopCallbacks cb;
    if (queued) {
      cb.qr = [this](const std::string& url) { push({Event::qr, url, {}}); };
      cb.stage = [this](hg::hybrid::Stage s, const std::string& detail) {
        log_stage(s, detail);
        push({Event::stage, std::string(hg::hybrid::to_string(s)), detail});
      };
      cb.notice = [this](const std::string& sentence) {
        hg::capi::log(HG_LOG_WARNING, "notice: " + sentence);
        push({Event::notice, sentence, {}});
      };
      return cb;
    }
    hg_qr_cb* q = qr;
    hg_stage_cb* st = stage;
    hg_notice_cb* no = notice;
    void* qu = qr_user;
    void* su = stage_user;
    void* nu = notice_user;
    if (q) cb.qr = [q, qu](const std::string& url) { q(qu, url.c_str()); };
    cb.stage = [st, su](hg::hybrid::Stage s, const std::string& detail) {
      log_stage(s, detail);
      if (st == nullptr) return;
      const std::string name(hg::hybrid::to_string(s));
      st(su, name.c_str(), detail.c_str());
    };
    cb.notice = [no, nu](const std::string& sentence) {
      hg::capi::log(HG_LOG_WARNING, "notice: " + sentence);
      if (no) no(nu, sentence.c_str());
    };
    return cb;
  }

  static void log_stage(hg::hybrid::Stage s, const std::string& detail) {
    if (!hg::capi::log_enabled(HG_LOG_DEBUG)) return;
    std::string line = "desktop stage ";
    line += hg::hybrid::to_string(s);
    if (!detail.empty()) line += " (" + detail + ")";
    hg::capi::log(HG_LOG_DEBUG, line);
  }

  void run_event(const Event& e) const {
    switch (e.type) {
      case Event::qr:
        if (qr) qr(qr_user, e.a.c_str());
        break;
      case Event::stage:
        if (stage) stage(stage_user, e.a.c_str(), e.b.c_str());
        break;
      case Event::notice:
        if (notice) notice(notice_user, e.a.c_str());
        break;
    }
  }

  // Marks a ceremony as running, or fails when one is.
  int begin(bool is_async, hg_error* err) {
    std::lock_guard lock(mu);
    if (running) return fail(err, Errc::invalid_argument, "a ceremony is already running on this hg_desktop");
    if (worker.joinable()) worker.join();  // a finished worker whose result was collected
    running = true;
    async = is_async;
    finished = false;
    result.reset();
    events.clear();
    return HG_OK;
  }

  // True while the C++ object is in use (phones/forget must wait).
  bool busy() {
    std::lock_guard lock(mu);
    return running && !finished;
  }
};

namespace {

int no_desktop(hg_error* err) { return fail(err, Errc::invalid_argument, "the hg_desktop is NULL"); }

int check_args(const char* options_json, const char* origin, hg_error* err) {
  if (options_json == nullptr) return fail(err, Errc::invalid_argument, "the options JSON is NULL");
  if (origin == nullptr) return fail(err, Errc::invalid_argument, "the origin is NULL");
  return HG_OK;
}

hg::Result<nlohmann::json> run_ceremony(hg_desktop* d, Kind kind, const std::string& options, const std::string& origin,
                                        const std::string& phone, const hg::hybrid::DesktopCallbacks& cb) {
  const char* what = kind == Kind::create ? "create" : "get";
  hg::capi::log(HG_LOG_INFO, std::string("desktop ") + what + " for " + origin + " started" +
                                 (phone.empty() ? std::string() : " (remembered phone '" + phone + "')"));
  hg::Result<nlohmann::json> r = hg::make_error(Errc::internal);
  try {
    r = kind == Kind::create ? d->impl->create(options, origin, cb, phone) : d->impl->get(options, origin, cb, phone);
  } catch (...) {
    r = hg::capi::current_exception_error();
  }
  hg::capi::log(HG_LOG_INFO, std::string("desktop ") + what + " ended: " + (r.ok() ? std::string("ok") : std::string(r.error().name())));
  return r;
}

// The credential to C: *out = JSON text (hg_free) or the error.
int deliver(hg::Result<nlohmann::json>&& r, char** out, hg_error* err) {
  if (!r.ok()) return fail(err, r.error());
  std::string text = r->dump();
  char* s = dup_string(text);
  if (s == nullptr) return fail(err, Errc::internal, "out of memory");
  *out = s;
  return HG_OK;
}

int blocking(hg_desktop* d, Kind kind, const char* options_json, const char* origin, const char* phone,
             char** credential, hg_error* err) {
  if (credential != nullptr) *credential = nullptr;
  if (d == nullptr) return no_desktop(err);
  if (credential == nullptr) return fail(err, Errc::invalid_argument, "the credential out-pointer is NULL");
  if (check_args(options_json, origin, err) != HG_OK) return HG_ERR;
  const std::string options(options_json), org(origin), ph = str_or_empty(phone);
  const auto cb = d->callbacks(false);
  if (d->begin(false, err) != HG_OK) return HG_ERR;
  auto r = run_ceremony(d, kind, options, org, ph, cb);
  {
    std::lock_guard lock(d->mu);
    d->running = false;
  }
  return deliver(std::move(r), credential, err);
}

int start(hg_desktop* d, Kind kind, const char* options_json, const char* origin, const char* phone, hg_error* err) {
  if (d == nullptr) return no_desktop(err);
  if (check_args(options_json, origin, err) != HG_OK) return HG_ERR;
  std::string options(options_json), org(origin), ph = str_or_empty(phone);
  auto cb = d->callbacks(true);
  if (d->begin(true, err) != HG_OK) return HG_ERR;
  try {
    d->worker = std::thread([d, kind, options = std::move(options), org = std::move(org), ph = std::move(ph),
                             cb = std::move(cb)] {
      auto r = run_ceremony(d, kind, options, org, ph, cb);
      {
        std::lock_guard lock(d->mu);
        d->result.emplace(std::move(r));
        d->finished = true;
      }
      d->wake();
    });
  } catch (...) {  // no thread
    std::lock_guard lock(d->mu);
    d->running = false;
    throw;
  }
  return HG_OK;
}

}  // namespace

extern "C" {

hg_desktop* hg_desktop_new(const hg_config* cfg, hg_error* err) {
  try {
    auto d = std::make_unique<hg_desktop>();
    d->efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->efd < 0) {
      fail(err, Errc::internal, std::string("eventfd: ") + std::strerror(errno));
      return nullptr;
    }
    if (cfg != nullptr && cfg->side == hg_config::Side::phone) {
      fail(err, Errc::invalid_argument, "this hg_config is for a phone (hg_config_new_phone), not a desktop");
      return nullptr;
    }
    d->impl = std::make_unique<hg::hybrid::Desktop>(cfg ? cfg->desktop : hg::hybrid::DesktopConfig{});
    return d.release();
  } catch (...) {
    fail(err, hg::capi::current_exception_error());
    return nullptr;
  }
}

void hg_desktop_free(hg_desktop** dp) {
  if (dp == nullptr || *dp == nullptr) return;
  hg_desktop* d = *dp;
  *dp = nullptr;
  try {
    hg_desktop_cancel(d);
    if (d->worker.joinable()) d->worker.join();
    delete d;
  } catch (...) {
    // join() or a destructor threw: nothing a C caller could do; the handle is gone either way.
  }
}

void hg_desktop_set_callbacks(hg_desktop* d, hg_qr_cb* qr, hg_stage_cb* stage, hg_notice_cb* notice, void* user) {
  if (d == nullptr) return;
  d->qr = qr;
  d->stage = stage;
  d->notice = notice;
  d->qr_user = d->stage_user = d->notice_user = user;
}

void hg_desktop_on_qr(hg_desktop* d, hg_qr_cb* cb, void* user) {
  if (d == nullptr) return;
  d->qr = cb;
  d->qr_user = user;
}

void hg_desktop_on_stage(hg_desktop* d, hg_stage_cb* cb, void* user) {
  if (d == nullptr) return;
  d->stage = cb;
  d->stage_user = user;
}

void hg_desktop_on_notice(hg_desktop* d, hg_notice_cb* cb, void* user) {
  if (d == nullptr) return;
  d->notice = cb;
  d->notice_user = user;
}

int hg_desktop_create(hg_desktop* d, const char* options_json, const char* origin, const char* phone,
                      char** credential, hg_error* err) {
  return guarded(err, [&] { return blocking(d, Kind::create, options_json, origin, phone, credential, err); });
}

int hg_desktop_get(hg_desktop* d, const char* options_json, const char* origin, const char* phone, char** credential,
                   hg_error* err) {
  return guarded(err, [&] { return blocking(d, Kind::get, options_json, origin, phone, credential, err); });
}

int hg_desktop_start_create(hg_desktop* d, const char* options_json, const char* origin, const char* phone,
                            hg_error* err) {
  return guarded(err, [&] { return start(d, Kind::create, options_json, origin, phone, err); });
}

int hg_desktop_start_get(hg_desktop* d, const char* options_json, const char* origin, const char* phone,
                         hg_error* err) {
  return guarded(err, [&] { return start(d, Kind::get, options_json, origin, phone, err); });
}

int hg_desktop_fd(const hg_desktop* d) { return d ? d->efd : -1; }

int hg_desktop_dispatch(hg_desktop* d, char** credential, hg_error* err) {
  if (credential != nullptr) *credential = nullptr;
  return guarded(err, [&] {
    if (d == nullptr) return no_desktop(err);
    if (credential == nullptr) return fail(err, Errc::invalid_argument, "the credential out-pointer is NULL");
    // Reset the eventfd before taking the queue: an event queued after this read wakes it again.
    uint64_t count = 0;
    [[maybe_unused]] auto n = ::read(d->efd, &count, sizeof count);
    std::deque<Event> events;
    bool done = false;
    {
      std::lock_guard lock(d->mu);
      if (!d->running || !d->async) {
        return fail(err, Errc::invalid_argument, "no ceremony was started with hg_desktop_start_create/get");
      }
      events.swap(d->events);
      done = d->finished;  // the worker queues every event before it finishes
    }
    for (const auto& e : events) d->run_event(e);
    if (!done) return HG_PENDING;
    std::optional<hg::Result<nlohmann::json>> r;
    {
      std::lock_guard lock(d->mu);
      r.swap(d->result);
      d->running = false;
    }
    if (d->worker.joinable()) d->worker.join();  // it has stored its result: returns at once
    return deliver(std::move(*r), credential, err);
  });
}

void hg_desktop_cancel(hg_desktop* d) {
  if (d == nullptr) return;
  try {
    std::lock_guard lock(d->mu);
    if (d->running && !d->finished) d->impl->cancel();
  } catch (...) {
    // std::mutex::lock can only throw on a broken system; cancel() is noexcept in practice.
  }
}

int hg_desktop_phones(hg_desktop* d, char** json, hg_error* err) {
  if (json != nullptr) *json = nullptr;
  return guarded(err, [&] {
    if (d == nullptr) return no_desktop(err);
    if (json == nullptr) return fail(err, Errc::invalid_argument, "the json out-pointer is NULL");
    if (d->busy()) return fail(err, Errc::invalid_argument, "a ceremony is running on this hg_desktop");
    auto phones = d->impl->phones();
    if (!phones.ok()) return fail(err, phones.error());
    auto arr = nlohmann::json::array();
    for (const auto& p : *phones) {
      arr.push_back({{"name", p.name},
                     {"domain_id", p.domain_id},
                     {"tunnel_url", p.tunnel_url},
                     {"created", p.created},
                     {"contact_tag", p.contact_tag}});
    }
    char* s = dup_string(arr.dump());
    if (s == nullptr) return fail(err, Errc::internal, "out of memory");
    *json = s;
    return HG_OK;
  });
}

int hg_desktop_forget(hg_desktop* d, const char* name, int* forgotten, hg_error* err) {
  if (forgotten != nullptr) *forgotten = 0;
  return guarded(err, [&] {
    if (d == nullptr) return no_desktop(err);
    if (name == nullptr) return fail(err, Errc::invalid_argument, "the phone name is NULL");
    if (d->busy()) return fail(err, Errc::invalid_argument, "a ceremony is running on this hg_desktop");
    auto r = d->impl->forget(name);
    if (!r.ok()) return fail(err, r.error());
    if (forgotten != nullptr) *forgotten = *r ? 1 : 0;
    return HG_OK;
  });
}

}  // extern "C"

// ------------------------------------------------------------------ raw CTAP: hg_connection

namespace {
std::string hex_byte(uint8_t b) {
  static constexpr char kHex[] = "0123456789abcdef";
  return {kHex[b >> 4], kHex[b & 15]};
}
}  // namespace

struct hg_connection {
  hg_desktop* desktop = nullptr;
  std::unique_ptr<hg::hybrid::Connection> impl;
};

extern "C" {

hg_connection* hg_desktop_connect(hg_desktop* d, hg_request_hint hint, const char* phone, hg_error* err) {
  hg_connection* out = nullptr;
  guarded(err, [&] {
    if (d == nullptr) return no_desktop(err);
    if (hint != HG_HINT_MAKE_CREDENTIAL && hint != HG_HINT_GET_ASSERTION)
      return fail(err, Errc::invalid_argument, "unknown hg_request_hint");
    const auto request_type = hint == HG_HINT_MAKE_CREDENTIAL ? hg::qr_payload::RequestType::make_credential
                                                              : hg::qr_payload::RequestType::get_assertion;
    const std::string ph = str_or_empty(phone);
    const auto cb = d->callbacks(false);
    auto c = std::make_unique<hg_connection>();
    if (d->begin(false, err) != HG_OK) return HG_ERR;
    hg::Result<std::unique_ptr<hg::hybrid::Connection>> r = hg::make_error(Errc::internal);
    try {
      r = d->impl->connect(request_type, cb, ph);
    } catch (...) {
      r = hg::capi::current_exception_error();
    }
    if (!r.ok()) {
      std::lock_guard lock(d->mu);
      d->running = false;
      return fail(err, r.error());
    }
    // The desktop stays "running" (no other ceremony; hg_desktop_cancel reaches the connection)
    // until hg_connection_close.
    hg::capi::log(HG_LOG_INFO, "connection to the phone open (raw CTAP)");
    c->desktop = d;
    c->impl = std::move(*r);
    out = c.release();
    return HG_OK;
  });
  return out;
}

int hg_connection_get_info(const hg_connection* c, const uint8_t** info, size_t* info_len, hg_error* err) {
  if (info != nullptr) *info = nullptr;
  if (info_len != nullptr) *info_len = 0;
  return guarded(err, [&] {
    if (c == nullptr || !c->impl) return fail(err, Errc::invalid_argument, "the hg_connection is NULL");
    if (info == nullptr || info_len == nullptr) return fail(err, Errc::invalid_argument, "an out-pointer is NULL");
    auto view = c->impl->get_info();
    *info = view.data();
    *info_len = view.size();
    return HG_OK;
  });
}

int hg_connection_transact(hg_connection* c, const uint8_t* request, size_t request_len, uint8_t** response,
                           size_t* response_len, hg_error* err) {
  if (response != nullptr) *response = nullptr;
  if (response_len != nullptr) *response_len = 0;
  return guarded(err, [&] {
    if (c == nullptr || !c->impl) return fail(err, Errc::invalid_argument, "the hg_connection is NULL");
    if (response == nullptr || response_len == nullptr)
      return fail(err, Errc::invalid_argument, "an out-pointer is NULL");
    if (request == nullptr || request_len == 0)
      return fail(err, Errc::invalid_argument, "the request is empty (it starts with the CTAP2 command byte)");
    if (hg::capi::log_enabled(HG_LOG_DEBUG))
      hg::capi::log(HG_LOG_DEBUG, "ctap request command 0x" + hex_byte(request[0]) + ", " + std::to_string(request_len) + " bytes");
    auto r = c->impl->transact(hg::ByteView(request, request_len));
    if (!r.ok()) return fail(err, r.error());
    if (hg::capi::log_enabled(HG_LOG_DEBUG))
      hg::capi::log(HG_LOG_DEBUG, "ctap answer status 0x" + (r->empty() ? std::string("??") : hex_byte((*r)[0])) + ", " +
                                      std::to_string(r->size()) + " bytes");
    auto* buf = static_cast<uint8_t*>(std::malloc(r->empty() ? 1 : r->size()));
    if (buf == nullptr) return fail(err, Errc::internal, "out of memory");
    std::memcpy(buf, r->data(), r->size());
    *response = buf;
    *response_len = r->size();
    return HG_OK;
  });
}

void hg_connection_close(hg_connection** cp) {
  if (cp == nullptr || *cp == nullptr) return;
  hg_connection* c = *cp;
  *cp = nullptr;
  try {
    c->impl.reset();  // closes the tunnel
    std::lock_guard lock(c->desktop->mu);
    c->desktop->running = false;
  } catch (...) {
    // A destructor or a mutex threw: nothing a C caller could do; the handle is gone either way.
  }
  delete c;
}

}  // extern "C"
