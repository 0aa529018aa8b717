// SPDX-License-Identifier: Apache-2.0
#include "bridges/key/key_device.hpp"

#include <utility>
#include <vector>

#include "proto/cbor.hpp"
#include "proto/ctap.hpp"

namespace hg::key {
namespace {

namespace st = ctap::status;
constexpr uint8_t kPinNotSet = 0x35;  // CTAP2_ERR_PIN_NOT_SET
constexpr std::string_view kSha256OfNothing = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

Millis now_ms() {
  return std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now().time_since_epoch());
}

// The CTAP status a failed ceremony answers the host with.
uint8_t status_for_ceremony_error(const Error& e) {
  switch (e.code) {
    case Errc::session_cancelled:
      return st::keepalive_cancel;
    case Errc::session_no_advert:
    case Errc::session_deadline:
      return st::user_action_timeout;
    default:
      return st::other;
  }
}

const cbor::Map* map_field(const cbor::Map& m, uint64_t key) {
  const cbor::Value* v = m.find(key);
  return v && v->is_map() ? &v->as_map() : nullptr;
}

// options[name] == false (present and false).
bool option_false(const cbor::Map& m, uint64_t options_key, std::string_view name) {
  const cbor::Map* o = map_field(m, options_key);
  if (!o) return false;
  const cbor::Value* v = o->find(name);
  return v && v->is_bool() && !v->as_bool();
}

}  // namespace

Bytes get_info_response() {
  cbor::Map options{{"rk", true}, {"up", true}, {"uv", true}, {"plat", false}};
  cbor::Map es256{{"alg", cbor::Value(int64_t{ctap::cose::alg_es256})}, {"type", "public-key"}};
  cbor::Map info{
      {1u, cbor::Array{cbor::Value("FIDO_2_0"), cbor::Value("FIDO_2_1")}},
      {3u, kAaguid},
      {4u, std::move(options)},
      {5u, uint64_t{kMaxMessage}},
      {7u, kMaxCredentialCountInList},
      {8u, kMaxCredentialIdLength},
      {9u, cbor::Array{cbor::Value("usb"), cbor::Value("hybrid")}},
      {10u, cbor::Array{cbor::Value(std::move(es256))}},
  };
  return ctap::encode_response(info);
}

class KeyDevice::Core final : public Backend {
 public:
  Core(hybrid::Desktop& desktop, Send send, KeyCallbacks cb, CtapHidConfig hid)
      : desktop_(desktop), send_(std::move(send)), cb_(std::move(cb)), hid_(*this, hid) {
    timer_ = std::thread([this] { keepalive_loop(); });
    worker_ = std::thread([this] { ceremony_loop(); });
  }

  ~Core() override {
    {
      std::lock_guard lk(m_);
      stop_ = true;
      if (job_ && job_->started) desktop_.cancel();
    }
    timer_cv_.notify_all();
    work_cv_.notify_all();
    timer_.join();
    worker_.join();
  }

  void receive(ByteView report) {
    std::lock_guard lk(m_);
    flush(hid_.receive(report, now_ms()));
    settle();
  }

  void host_gone() {
    std::lock_guard lk(m_);
    hid_.host_gone();
    settle();
  }

  bool decline() {
    std::lock_guard lk(m_);
    if (!job_ || job_->kind != Kind::phone) return false;
    if (!job_->started) {  // not yet with the phone: answered now
      ready_.emplace_back(job_->id, Bytes{st::operation_denied});
      job_.reset();
      settle();
      return true;
    }
    if (!job_->cancelled) log("the person declined the request in the window");
    job_->cancelled = true;
    job_->declined = true;
    desktop_.cancel();
    return true;
  }

  bool use_phone(const std::string& name) {
    std::lock_guard lk(m_);
    if (!job_ || job_->kind != Kind::phone || !job_->started || job_->cancelled || job_->connected) return false;
    log("the person chose the remembered phone '" + name + "'");
    job_->switch_to = name;
    desktop_.cancel();
    return true;
  }

  bool select() {
    std::lock_guard lk(m_);
    if (!job_ || (job_->kind != Kind::held_selection && job_->kind != Kind::held_dummy)) return false;
    log("this key was selected");
    ready_.emplace_back(job_->id, Bytes{job_->kind == Kind::held_selection ? st::ok : kPinNotSet});
    job_.reset();
    settle();
    return true;
  }

  // ---- Backend (called by hid_ with m_ held)
  void submit(uint64_t id, uint32_t, ByteView request) override {
    Job job;
    job.id = id;
    job.kind = Kind::phone;
    job.request.assign(request.begin(), request.end());
    std::optional<Bytes> local = classify(job);
    if (local) {
      ready_.emplace_back(id, std::move(*local));
      return;
    }
    job_ = std::move(job);
    if (job_->kind == Kind::phone) work_cv_.notify_one();
  }

  void cancel(uint64_t id) override {
    if (!job_ || job_->id != id) return;
    if (job_->started) {
      if (!job_->cancelled) log("the host cancelled the request; ending the ceremony");
      job_->cancelled = true;
      desktop_.cancel();
      return;
    }
    ready_.emplace_back(id, Bytes{st::keepalive_cancel});  // held or not yet started
    job_.reset();
  }

 private:
  enum class Kind { phone, held_selection, held_dummy };
  struct Job {
    uint64_t id = 0;
    Kind kind = Kind::phone;
    Bytes request;
    bool started = false;
    bool cancelled = false;
    bool announced = false;  // its first keepalive was sent
    bool declined = false;   // the person's Cancel (decline())
    bool connected = false;  // the tunnel is open: too late to change phones
    PhoneRequest shown;      // what the window shows
    std::optional<std::string> switch_to;  // use_phone() asked for this phone
  };

  void log(const std::string& line) {
    if (cb_.log) cb_.log(line);
  }

  void flush(const std::vector<Report>& reports) {
    for (const Report& r : reports) send_(r);
  }

  // After a machine call: deliver the answers decided meanwhile, wake the keepalive thread (the
  // next deadline may have moved). m_ held.
  void settle() {
    while (!ready_.empty()) {
      auto [id, answer] = std::move(ready_.front());
      ready_.erase(ready_.begin());
      flush(hid_.complete(id, answer, now_ms()));
    }
    // A request that waits for the phone or the person: the host hears so at once.
    if (job_ && !job_->announced) {
      job_->announced = true;
      const Millis t = now_ms();
      hid_.set_status(job_->id, job_->kind == Kind::phone ? Keepalive::processing : Keepalive::upneeded, t);
      flush(hid_.tick(t));
    }
    timer_cv_.notify_all();
  }

  // Decides what a request needs: an answer now (returned), held for select(), or the phone.
  std::optional<Bytes> classify(Job& job) {
    const uint8_t command = job.request[0];
    switch (command) {
      case uint8_t(ctap::Command::get_info):
        return get_info_response();
      case uint8_t(ctap::Command::selection):
        job.kind = Kind::held_selection;
        log("a host asks which key to use (authenticatorSelection); waiting for the person to choose this key");
        return std::nullopt;
      case uint8_t(ctap::Command::make_credential):
      case uint8_t(ctap::Command::get_assertion):
        break;
      case 0x08:  // authenticatorGetNextAssertion: the tunnel of the getAssertion is closed
        return Bytes{st::not_allowed};
      default:  // clientPin, reset, credentialManagement, ...: not offered in getInfo
        return Bytes{st::invalid_command};
    }
    auto frame = ctap::parse_request_frame(job.request);
    if (!frame) return Bytes{ctap::status_for_error(frame.error())};
    if (!frame->params) return Bytes{st::missing_parameter};
    cbor::Map& m = *frame->params;

    if (command == uint8_t(ctap::Command::get_assertion)) {
      if (const cbor::Value* rp = m.find(1u); rp && rp->is_text()) job.shown.rp_id = std::string(rp->as_text());
      if (option_false(m, 5, "up")) {
        log("a silent (up=false) getAssertion was answered 'no credentials' without asking the phone");
        return Bytes{st::no_credentials};
      }
      return std::nullopt;
    }
    // makeCredential
    const cbor::Map* rp = map_field(m, 2);
    const cbor::Value* rp_id = rp ? rp->find(std::string_view("id")) : nullptr;
    const cbor::Value* pin_auth = m.find(8u);
    const cbor::Value* cdh = m.find(1u);
    // Chromium's and Firefox's "touch to select" request names rp ".dummy"; libfido2's
    // (fido_dev_get_touch_begin) hashes an empty clientDataJSON, which no WebAuthn client does;
    // CTAP 2.1 hosts send an empty pinUvAuthParam.
    const bool dummy_rp = rp_id && rp_id->is_text() && rp_id->as_text() == ".dummy";
    const bool empty_client_data = cdh && cdh->is_bytes() && hex_encode(cdh->as_bytes()) == kSha256OfNothing;
    const bool empty_pin_auth = pin_auth && pin_auth->is_bytes() && pin_auth->as_bytes().empty();
    if (dummy_rp || empty_client_data || empty_pin_auth) {
      job.kind = Kind::held_dummy;
      log("a host asks which key to use (a \"touch\" makeCredential); waiting for the person to choose this key");
      return std::nullopt;
    }
    if (option_false(m, 7, "up")) return Bytes{st::invalid_option};
    job.shown.registration = true;
    if (rp_id && rp_id->is_text()) job.shown.rp_id = std::string(rp_id->as_text());
    if (const cbor::Map* user = map_field(m, 3)) {
      for (std::string_view key : {"name", "displayName"}) {
        const cbor::Value* v = user->find(key);
        if (v && v->is_text() && !v->as_text().empty()) {
          job.shown.account = std::string(v->as_text());
          break;
        }
      }
    }
    // CTAP 2.1 makes rp.name, user.name and user.displayName optional; phones that require them
    // (Chrome on Android) get the RP ID, and each user name for the other (libfido2's tools,
    // pamu2fcfg send no displayName).
    bool changed = false;
    if (rp && rp_id && rp_id->is_text() && !rp->find(std::string_view("name"))) {
      const std::string id = rp_id->as_text();
      for (auto& [k, v] : m.mutable_entries()) {
        if (k.is_unsigned() && k.as_unsigned() == 2 && v.is_map()) {
          v.as_map().set("name", id);
          changed = true;
          break;
        }
      }
    }
    for (auto& [k, v] : m.mutable_entries()) {
      if (!k.is_unsigned() || k.as_unsigned() != 3 || !v.is_map()) continue;
      cbor::Map& user = v.as_map();
      const cbor::Value* name = user.find(std::string_view("name"));
      const cbor::Value* display = user.find(std::string_view("displayName"));
      const std::string name_text = name && name->is_text() ? name->as_text() : std::string();
      const std::string display_text = display && display->is_text() ? display->as_text() : std::string();
      const bool has_name = name != nullptr, has_display = display != nullptr;  // set() may move entries
      if (!has_name) {
        user.set("name", display_text);
        changed = true;
      }
      if (!has_display) {
        user.set("displayName", name_text);
        changed = true;
      }
      break;
    }
    if (changed) job.request = ctap::encode_request(ctap::Command::make_credential, m);
    return std::nullopt;
  }

  void keepalive_loop() {
    std::unique_lock lk(m_);
    while (!stop_) {
      std::optional<Millis> wake = hid_.next_wakeup();
      if (!wake) {
        timer_cv_.wait(lk);
        continue;
      }
      const Millis t = now_ms();
      if (t < *wake) {
        timer_cv_.wait_until(lk, std::chrono::steady_clock::time_point(
                                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(*wake)));
        continue;
      }
      flush(hid_.tick(t));
    }
  }

  void ceremony_loop() {
    std::unique_lock lk(m_);
    for (;;) {
      work_cv_.wait(lk, [&] { return stop_ || (job_ && job_->kind == Kind::phone && !job_->started); });
      if (stop_) return;
      job_->started = true;
      const uint64_t id = job_->id;
      const Bytes request = job_->request;
      PhoneRequest shown = job_->shown;
      shown.phone = desktop_.config().phone;
      lk.unlock();
      if (cb_.request_started) cb_.request_started(shown);
      std::unique_ptr<hybrid::Connection> connection;
      std::string failure;
      Bytes answer = run_ceremony(id, request, connection, failure);
      lk.lock();
      RequestEnd end = RequestEnd::answered;
      if (job_ && job_->id == id) {
        if (job_->declined) {
          answer = Bytes{st::operation_denied};
          end = RequestEnd::declined;
        } else if (job_->cancelled) {
          end = RequestEnd::host_cancelled;
        } else if (!failure.empty()) {
          end = !answer.empty() && answer[0] == st::user_action_timeout ? RequestEnd::timed_out : RequestEnd::failed;
        }
        ready_.emplace_back(id, std::move(answer));
        job_.reset();
        settle();
      } else {
        end = RequestEnd::host_cancelled;
      }
      lk.unlock();
      if (cb_.request_ended) cb_.request_ended(end, end == RequestEnd::failed ? failure : std::string());
      lk.lock();
      // The host has its answer; now close the tunnel (the phone learns at once).
      lk.unlock();
      connection.reset();
      lk.lock();
    }
  }

  std::optional<std::string> take_switch(uint64_t id) {
    std::lock_guard lk(m_);
    if (!job_ || job_->id != id || !job_->switch_to) return std::nullopt;
    std::optional<std::string> next = std::move(job_->switch_to);
    job_->switch_to.reset();
    return next;
  }

  bool cancelled(uint64_t id) {
    std::lock_guard lk(m_);
    return job_ && job_->id == id && job_->cancelled;
  }

  Bytes run_ceremony(uint64_t id, const Bytes& request, std::unique_ptr<hybrid::Connection>& connection,
                     std::string& failure) {
    const bool registration = request[0] == uint8_t(ctap::Command::make_credential);
    log(registration ? "a host asks to register a credential: asking the phone"
                     : "a host asks to sign in: asking the phone");
    hybrid::DesktopCallbacks dc;
    dc.qr = [this](const std::string& url) {
      const auto& file = desktop_.config().qr_url_file;
      log(file.empty() ? "scan the QR code with the phone"
                       : "scan the QR code with the phone (its FIDO:/ URL is in " + file.string() + ")");
      if (cb_.qr) cb_.qr(url);
    };
    dc.stage = [this, id](hybrid::Stage s, const std::string& detail) {
      if (s == hybrid::Stage::waiting_for_user) {
        std::lock_guard lk(m_);
        const Millis t = now_ms();
        hid_.set_status(id, Keepalive::upneeded, t);
        flush(hid_.tick(t));
        timer_cv_.notify_all();
      }
      log(std::string(hybrid::to_string(s)) + (detail.empty() ? "" : ": " + detail));
    };
    dc.notice = [this](const std::string& sentence) { log(sentence); };

    auto fail = [&](const Error& e) {
      log("the request failed: " + e.to_string());
      if (e.code != Errc::session_cancelled) failure = std::string(e.sentence());
      return Bytes{status_for_ceremony_error(e)};
    };
    const auto hint = registration ? qr_payload::RequestType::make_credential : qr_payload::RequestType::get_assertion;
    std::string phone;  // "" = the config's phone, else a QR code
    bool retried_stale = false;
    auto conn = desktop_.connect(hint, dc, phone);
    while (!conn && conn.error().code == Errc::session_cancelled && !cancelled(id)) {
      std::optional<std::string> next = take_switch(id);
      if (next) {  // the person picked a remembered phone in the window
        phone = *next;
      } else if (retried_stale) {
        break;
      } else {
        // A cancel of the previous request that arrived just after its Desktop call had
        // returned is still queued in the Desktop and ends this call at once: once more.
        retried_stale = true;
      }
      conn = desktop_.connect(hint, dc, phone);
    }
    if (!conn) return fail(conn.error());
    connection = std::move(*conn);
    {
      std::lock_guard lk(m_);
      if (job_ && job_->id == id) job_->connected = true;
    }
    if (cancelled(id)) return Bytes{st::keepalive_cancel};
    auto response = connection->transact(request);
    if (!response) return fail(response.error());
    if (response->empty()) return Bytes{st::other};
    log("the phone answered (status 0x" + hex_encode(ByteView(response->data(), 1)) + ")");
    return std::move(*response);
  }

  hybrid::Desktop& desktop_;
  Send send_;
  KeyCallbacks cb_;
  std::mutex m_;
  CtapHid hid_;
  std::optional<Job> job_;  // the request held or with the phone (CTAPHID: one at a time)
  std::vector<std::pair<uint64_t, Bytes>> ready_;
  bool stop_ = false;
  std::condition_variable timer_cv_, work_cv_;
  std::thread timer_, worker_;
};

KeyDevice::KeyDevice(hybrid::Desktop& desktop, Send send, KeyCallbacks callbacks, CtapHidConfig hid)
    : core_(std::make_unique<Core>(desktop, std::move(send), std::move(callbacks), hid)) {}
KeyDevice::~KeyDevice() = default;
void KeyDevice::receive(ByteView report) { core_->receive(report); }
void KeyDevice::host_gone() { core_->host_gone(); }
bool KeyDevice::select() { return core_->select(); }
bool KeyDevice::decline() { return core_->decline(); }
bool KeyDevice::use_phone(const std::string& name) { return core_->use_phone(name); }

}  // namespace hg::key
