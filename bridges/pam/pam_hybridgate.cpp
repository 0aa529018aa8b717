// SPDX-License-Identifier: Apache-2.0
// pam_hybridgate.so: an `auth` module that signs a person in with a passkey on their phone, over
// the FIDO hybrid transport (the C ABI, libhybridgate.so.0): a QR code in the PAM conversation, or
// a remembered phone woken through the relay. The enrolment is `hybridgate pam enroll`; both share
// bridges/pam/pam_core (requests, checks, the authfile). docs/pam.md.
//
// Results: PAM_SUCCESS; PAM_AUTH_ERR for a refused, wrong or cloned credential and for an unsafe or
// corrupt authfile; PAM_AUTHINFO_UNAVAIL when no relay, radio or phone answers in time;
// PAM_USER_UNKNOWN (PAM_IGNORE with `nouserok`) for a user without an enrolment; PAM_SERVICE_ERR
// for an unknown or malformed option.
//
// Safe in long-lived processes (sshd, gdm): no global state, no exit(), no signal handlers; the
// one thread it starts (the attempt's deadline) is joined before it returns; the library runs the
// ceremony on the calling thread.
#include <pwd.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bridges/pam/pam_core.hpp"
#include "hybridgate/hybridgate.h"

namespace {

constexpr unsigned kDefaultTimeoutSeconds = 60;
constexpr unsigned kMaxTimeoutSeconds = 3600;

struct Options {
  std::string authfile;  // "" = ~USER/.config/hybridgate/pam_keys
  std::string rp_id{hgpam::kDefaultRpId};
  unsigned timeout = kDefaultTimeoutSeconds;
  // Desktop settings (docs/configuration.md), key=value as in the config file, applied in order
  // through hg_config_set: the module carries every setting the library has, under its own name.
  std::vector<std::pair<std::string, std::string>> settings;
  bool debug = false;
  bool nouserok = false;
  bool uv = false;
  bool dark_on_light = false;
};

// Parses the module arguments; nullopt (after logging) for an unknown or malformed one.
std::optional<Options> parse_options(pam_handle_t* pamh, int argc, const char** argv) {
  Options o;
  // A mistake in the options is logged, and with `debug` (wherever it stands in the line) told
  // to the person too, so that trying a configuration shows the typo, not only the system log.
  bool debug = false;
  for (int i = 0; i < argc; ++i) debug = debug || (argv[i] != nullptr && std::string_view(argv[i]) == "debug");
  auto refuse = [&](const std::string& why) -> std::optional<Options> {
    pam_syslog(pamh, LOG_ERR, "%s", why.c_str());
    if (debug) pam_info(pamh, "hybridgate debug: %s (PAM_SERVICE_ERR)", why.c_str());
    return std::nullopt;
  };
  for (int i = 0; i < argc; ++i) {
    const std::string_view a = argv[i] ? argv[i] : "";
    auto value = [&](std::string_view key) -> std::optional<std::string> {
      if (a.size() > key.size() && a.substr(0, key.size()) == key && a[key.size()] == '=')
        return std::string(a.substr(key.size() + 1));
      return std::nullopt;
    };
    if (a == "debug") {
      o.debug = true;
    } else if (a == "nouserok") {
      o.nouserok = true;
    } else if (a == "uv") {
      o.uv = true;
    } else if (a == "dark_on_light") {
      o.dark_on_light = true;
    } else if (auto authfile_v = value("authfile")) {
      o.authfile = *authfile_v;
    } else if (auto rp_id_v = value("rp_id")) {
      o.rp_id = *rp_id_v;
    } else if (auto links_v = value("links")) {  // the name before links_file; kept
      o.settings.emplace_back("links_file", *links_v);
    } else if (auto tv = value("timeout")) {
      unsigned t = 0;
      auto [end, ec] = std::from_chars(tv->data(), tv->data() + tv->size(), t);
      if (tv->empty() || ec != std::errc() || end != tv->data() + tv->size() || t < 1 || t > kMaxTimeoutSeconds) {
        return refuse("timeout= takes 1 to " + std::to_string(kMaxTimeoutSeconds) + " seconds");
      }
      o.timeout = t;
    } else if (const size_t eq = a.find('='); eq != std::string_view::npos && eq > 0) {
      // A desktop setting: checked now (a scratch configuration), so a mistake shows at once.
      const std::string key(a.substr(0, eq)), v(a.substr(eq + 1));
      hg_config* scratch = hg_config_new();
      hg_error err{};
      const bool ok = scratch != nullptr && hg_config_set(scratch, key.c_str(), v.c_str(), &err) == HG_OK;
      hg_config_free(&scratch);
      if (!ok) {
        if (std::strncmp(err.message, "unknown setting", 15) == 0)
          return refuse("unknown option '" + std::string(a.substr(0, 64)) + "'");
        return refuse(key + "=: " + err.message);
      }
      o.settings.emplace_back(key, v);
    } else {
      return refuse("unknown option '" + std::string(a.substr(0, 64)) + "'");
    }
  }
  if (!hgpam::valid_rp_id(o.rp_id)) {
    return refuse("rp_id= is empty or has spaces or control characters");
  }
  if (!o.authfile.empty() && o.authfile.front() != '/') {
    pam_syslog(pamh, LOG_ERR, "authfile= must be an absolute path");
    return std::nullopt;
  }
  return o;
}

// One authentication attempt: the PAM handle, the options, what to tell the person and the log.
class Attempt {
 public:
  Attempt(pam_handle_t* pamh, int flags, Options o) : pamh_(pamh), silent_(flags & PAM_SILENT), o_(std::move(o)) {}

  int run();

 private:
  void debug(const std::string& s) {
    if (!o_.debug) return;
    pam_syslog(pamh_, LOG_DEBUG, "%s", s.c_str());
    pam_info(pamh_, "hybridgate debug: %s", s.c_str());
  }
  // A failure: logged (always), told to the person in debug mode, and its PAM result returned.
  int failed(int result, const std::string& why) {
    pam_syslog(pamh_, result == PAM_AUTHINFO_UNAVAIL ? LOG_NOTICE : LOG_ERR, "user %s: %s (%s)", user_.c_str(),
               why.c_str(), pam_strerror(pamh_, result));
    if (o_.debug) pam_info(pamh_, "hybridgate debug: %s", why.c_str());
    return result;
  }
  void tell(const char* sentence) {
    if (!silent_) pam_info(pamh_, "%s", sentence);
  }
  int no_enrolment(const std::string& why) {
    if (o_.nouserok) {
      debug(why + "; ignored (nouserok)");
      return PAM_IGNORE;
    }
    return failed(PAM_USER_UNKNOWN, why);
  }
  int authenticate(const std::vector<hgpam::Credential>& creds, hgpam::VerifiedAssertion& out);
  int file_access(const std::function<int()>& body);

  pam_handle_t* pamh_;
  bool silent_;
  Options o_;
  std::string user_;
  std::optional<passwd> pw_;
  std::vector<char> pw_buf_;
  std::filesystem::path authfile_;
  hgpam::FileOwner owner_;
  bool per_user_ = false;
};

// Runs `body` with the file-system identity of the target user when root reads or writes a file
// in that user's home (so the kernel applies the user's rights along the whole path: no symlinked
// directory leads root elsewhere), else as is.
int Attempt::file_access(const std::function<int()>& body) {
  if (!per_user_ || ::geteuid() != 0 || !pw_ || pw_->pw_uid == 0) return body();
  // PAM_MODUTIL_DEF_PRIVS, spelt out: its -1 initialisers are narrowing conversions in C++.
  gid_t groups[PAM_MODUTIL_NGROUPS];
  pam_modutil_privs privs{groups, PAM_MODUTIL_NGROUPS, 0, static_cast<gid_t>(-1), static_cast<uid_t>(-1), 0};
  if (pam_modutil_drop_priv(pamh_, &privs, &*pw_) != 0)
    return failed(PAM_AUTH_ERR, "cannot take the user's identity to read the authfile");
  const int r = body();
  if (pam_modutil_regain_priv(pamh_, &privs) != 0) {
    pam_syslog(pamh_, LOG_CRIT, "cannot regain privileges after reading the authfile");
    return PAM_SYSTEM_ERR;
  }
  return r;
}

// The PAM result for a library error: the phone's own answer (ctap.*) is a refusal; anything on
// the way to it (relay, radio, deadline, cancelled by our deadline) means "not available".
int result_for(const hg_error& err) {
  return std::strncmp(err.code, "ctap.", 5) == 0 ? PAM_AUTH_ERR : PAM_AUTHINFO_UNAVAIL;
}

// The attempt's deadline: cancels the desktop's ceremony when it passes. Joined by the destructor.
class Deadline {
 public:
  Deadline(hg_desktop* d, std::chrono::seconds limit) : thread_([this, d, limit] {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
      expired_ = true;
      hg_desktop_cancel(d);
    }
  }) {}
  ~Deadline() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  bool expired() {
    std::lock_guard lock(mu_);
    return expired_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool expired_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

struct QrContext {
  pam_handle_t* pamh;
  bool dark_on_light;
  bool shown = false;
};

void on_qr(void* user, const char* url) {
  auto* q = static_cast<QrContext*>(user);
  char* text = nullptr;
  hg_error err{};
  if (hg_qr_terminal(url, q->dark_on_light, &text, &err) == HG_OK) {
    // The drawing holds the ceremony's secret: it goes to the person only, never to the log.
    pam_info(q->pamh, "%s\nScan this QR code with your phone", text);
    q->shown = true;
  } else {
    pam_syslog(q->pamh, LOG_ERR, "cannot draw the QR code: %s", err.message);
  }
  hg_free(text);
}

int Attempt::authenticate(const std::vector<hgpam::Credential>& creds, hgpam::VerifiedAssertion& out) {
  hg_error err{};
  hg_config* cfg = hg_config_new();
  if (cfg == nullptr) return failed(PAM_BUF_ERR, "out of memory");
  struct CfgFree {
    hg_config*& c;
    ~CfgFree() { hg_config_free(&c); }
  } cfg_free{cfg};
  if (hg_config_load(cfg, &err) != HG_OK) return failed(PAM_AUTHINFO_UNAVAIL, std::string("configuration: ") + err.message);
  const uint32_t ms = o_.timeout * 1000u;
  if (hg_config_set_timeout(cfg, HG_TIMEOUT_ADVERT, ms, &err) != HG_OK ||
      hg_config_set_timeout(cfg, HG_TIMEOUT_RESPONSE, ms, &err) != HG_OK ||
      hg_config_set_timeout(cfg, HG_TIMEOUT_CONNECT, std::min<uint32_t>(ms, 15000), &err) != HG_OK ||
      hg_config_set_timeout(cfg, HG_TIMEOUT_HANDSHAKE, std::min<uint32_t>(ms, 15000), &err) != HG_OK)
    return failed(PAM_SERVICE_ERR, std::string("option: ") + err.message);
  for (const auto& [key, value] : o_.settings) {  // after timeout=, so advert_timeout= etc. win
    if (hg_config_set(cfg, key.c_str(), value.c_str(), &err) != HG_OK)
      return failed(PAM_SERVICE_ERR, "option " + key + "=: " + err.message);
  }

  hg_desktop* d = hg_desktop_new(cfg, &err);
  if (d == nullptr) return failed(PAM_AUTHINFO_UNAVAIL, std::string("cannot start: ") + err.message);
  struct DesktopFree {
    hg_desktop*& d;
    ~DesktopFree() { hg_desktop_free(&d); }
  } desktop_free{d};
  QrContext qr{pamh_, o_.dark_on_light};
  hg_desktop_set_callbacks(d, on_qr, nullptr, nullptr, &qr);

  const auto challenge = hgpam::fresh_challenge();
  const hgpam::Bytes request = hgpam::get_assertion_request(o_.rp_id, challenge, creds, o_.uv);
  uint8_t* response = nullptr;
  size_t response_len = 0;
  int transact = HG_ERR;
  bool expired = false;
  {
    Deadline deadline(d, std::chrono::seconds(o_.timeout));
    hg_connection* c = hg_desktop_connect(d, HG_HINT_GET_ASSERTION, nullptr, &err);
    if (c != nullptr) {
      debug(qr.shown ? "the phone scanned the QR code" : "connected to the remembered phone");
      tell("Confirm the sign-in on your phone.");
      transact = hg_connection_transact(c, request.data(), request.size(), &response, &response_len, &err);
      hg_connection_close(&c);
    }
    expired = deadline.expired();
  }
  struct ResponseFree {
    uint8_t*& p;
    ~ResponseFree() { hg_free(p); }
  } response_free{response};
  if (transact != HG_OK) {
    if (expired) return failed(PAM_AUTHINFO_UNAVAIL, "no phone answered within " + std::to_string(o_.timeout) + " s");
    return failed(result_for(err), std::string(err.code) + ": " + err.message);
  }
  auto verified = hgpam::verify_assertion({response, response_len}, o_.rp_id, challenge, creds, o_.uv);
  if (!verified) return failed(PAM_AUTH_ERR, verified.error().to_string());
  out = *verified;
  return PAM_SUCCESS;
}

int Attempt::run() {
  const char* user = nullptr;
  if (int r = pam_get_user(pamh_, &user, nullptr); r != PAM_SUCCESS || user == nullptr) {
    pam_syslog(pamh_, LOG_ERR, "cannot get the user name");
    return r == PAM_SUCCESS ? PAM_USER_UNKNOWN : r;
  }
  if (!hgpam::valid_user_name(user)) return failed(PAM_USER_UNKNOWN, "the user name cannot be in an authfile");
  user_ = user;

  // The user's entry in the password database (bounded buffer).
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  pw_buf_.resize(size > 0 && size < (1 << 20) ? size_t(size) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(user, &pw, pw_buf_.data(), pw_buf_.size(), &found) == 0 && found != nullptr) pw_ = pw;

  if (!o_.authfile.empty()) {
    authfile_ = o_.authfile;  // system-wide: owned by the effective user (root)
  } else {
    if (!pw_ || pw_->pw_dir == nullptr || pw_->pw_dir[0] != '/') return no_enrolment("no home directory");
    authfile_ = std::filesystem::path(pw_->pw_dir) / hgpam::kUserAuthfile;
    per_user_ = true;
    if (pw_->pw_uid != ::geteuid()) owner_ = pw_->pw_uid;
  }

  std::vector<hgpam::Credential> creds;
  int r = file_access([&] {
    auto all = hgpam::read_authfile(authfile_, owner_);
    if (!all) return failed(PAM_AUTH_ERR, "refusing the authfile: " + all.error().to_string());
    creds = hgpam::credentials_of(*all, user_);
    return PAM_SUCCESS;
  });
  if (r != PAM_SUCCESS) return r;
  if (creds.empty()) return no_enrolment("no enrolment in " + authfile_.string());
  if (creds.size() > hgpam::kMaxCredentialsPerUser) creds.resize(hgpam::kMaxCredentialsPerUser);
  debug(std::to_string(creds.size()) + " enrolled credential(s) in " + authfile_.string() + ", rp_id " + o_.rp_id);

  hgpam::VerifiedAssertion v;
  r = authenticate(creds, v);
  if (r != PAM_SUCCESS) return r;

  const auto& c = creds[v.index];
  r = file_access([&] {
    auto st = hgpam::store_counter(authfile_, user_, c.id, v.counter, owner_);
    if (!st) return failed(PAM_AUTH_ERR, "cannot store the new counter: " + st.error().to_string());
    return PAM_SUCCESS;
  });
  if (r != PAM_SUCCESS) return r;
  pam_syslog(pamh_, LOG_INFO, "user %s signed in with a phone (counter %u%s)", user_.c_str(), unsigned(v.counter),
             v.user_verified ? ", user verified" : "");
  return PAM_SUCCESS;
}

}  // namespace

// The module is built with hidden visibility; these two are its interface (pam.map lists them).
#define HG_PAM_EXPORT __attribute__((visibility("default")))

extern "C" {

PAM_EXTERN HG_PAM_EXPORT int pam_sm_authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  try {
    auto o = parse_options(pamh, argc, argv);
    if (!o) return PAM_SERVICE_ERR;
    Attempt a(pamh, flags, std::move(*o));
    return a.run();
  } catch (const std::bad_alloc&) {
    return PAM_BUF_ERR;
  } catch (...) {
    pam_syslog(pamh, LOG_ERR, "internal error");
    return PAM_SYSTEM_ERR;
  }
}

PAM_EXTERN HG_PAM_EXPORT int pam_sm_setcred(pam_handle_t*, int, int, const char**) { return PAM_SUCCESS; }

}  // extern "C"
