// SPDX-License-Identifier: Apache-2.0
// hybridgate-pam-enroll (what `hybridgate pam enroll` runs): registers a passkey on the phone for
// pam_hybridgate.so and appends the user's credential ID, public key and counter to the authfile.
// Like the module, it uses libhybridgate's C ABI only (the raw-CTAP connection, the library's
// private-file writer) and hg_pam_core's request and answer checks. Output and exit statuses are
// the hybridgate CLI's: JSON on stdout ({"user", "authfile", ...} or {"error": {code, message}}),
// the error sentence on stderr, 0 / 1 / 2 (usage, config.invalid) / 130 (interrupted).
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "bridges/pam/pam_core.hpp"
#include "hybridgate/hybridgate.h"

namespace {

constexpr const char* kWho = "hybridgate pam enroll";
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;

struct Options {
  std::string user, authfile, rp_id{hgpam::kDefaultRpId};
  std::string tunnel_url, ca_file, radio, links, phone, qr_url_file;
  bool link_phone = false, no_terminal_qr = false, dark_on_light = false, quiet = false;
  double advert_timeout = 0, response_timeout = 0;
};

// ---- Ctrl-C / SIGTERM: a thread waits for the signal and cancels the ceremony (the tunnel closes
// and the phone learns at once); with no ceremony yet, the process exits 130.
std::atomic<bool> g_interrupted{false};
std::mutex g_desktop_mutex;
hg_desktop* g_desktop = nullptr;  // guarded by g_desktop_mutex: the desktop to cancel

// While alive, SIGINT/SIGTERM cancel `d` (connect and transact end with session.cancelled).
class CancelOnInterrupt {
 public:
  explicit CancelOnInterrupt(hg_desktop* d) {
    std::lock_guard lock(g_desktop_mutex);
    g_desktop = d;
    if (g_interrupted) hg_desktop_cancel(d);
  }
  ~CancelOnInterrupt() {
    std::lock_guard lock(g_desktop_mutex);
    g_desktop = nullptr;
  }
  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;
};

void start_signal_thread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int sig = 0;
    while (sigwait(&set, &sig) == 0) {
      g_interrupted = true;
      std::lock_guard lock(g_desktop_mutex);
      if (g_desktop != nullptr) {
        hg_desktop_cancel(g_desktop);
      } else {
        _exit(kExitInterrupted);
      }
    }
  }).detach();
}

// ---- the CLI's error output
int fail(const hgpam::Error& e) {
  const char* sentence = hg_errc_sentence(e.code);
  std::string message = sentence ? sentence : "";
  if (!e.detail.empty()) message += " (" + e.detail + ")";
  std::cerr << kWho << ": " << message << " [" << e.name() << "]\n";
  std::cout << nlohmann::json{{"error", {{"code", e.name()}, {"message", message}}}}.dump(2) << std::endl;
  if (e.code == HG_E_SESSION_CANCELLED && g_interrupted) return kExitInterrupted;
  if (e.code == HG_E_CONFIG_INVALID) return kExitUsage;
  return 1;
}
int fail(const hg_error& e) { return fail(hgpam::Error::from(e)); }

// A CLI11 validator from a hg_config setter: the library's own check, at parse time.
CLI::Validator setting_check(const char* name, int (*setter)(hg_config*, const char*, hg_error*)) {
  return CLI::Validator(
      [setter](std::string& value) -> std::string {
        std::unique_ptr<hg_config, void (*)(hg_config*)> cfg(hg_config_new_desktop(), [](hg_config* c) { hg_config_free(&c); });
        hg_error err{};
        if (setter(cfg.get(), value.c_str(), &err) == HG_OK) return {};
        return hgpam::Error::from(err).detail;
      },
      name);
}

struct Account {
  std::string name;
  std::filesystem::path home;
  uid_t uid = 0;
};

hgpam::Result<Account> account(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = name.empty() ? ::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &found)
                        : ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr)
    return hgpam::make_error(HG_E_INVALID_ARGUMENT, name.empty() ? "this user is not in the password database"
                                                                 : "no user '" + name + "' in the password database");
  return Account{pw.pw_name, pw.pw_dir ? pw.pw_dir : "", pw.pw_uid};
}

std::string host_name() {
  char h[256] = {};
  if (::gethostname(h, sizeof h - 1) != 0 || h[0] == '\0') return "localhost";
  return h;
}

struct Ui {
  const Options* o;
};

void on_qr(void* user, const char* url) {
  const Options& o = *static_cast<Ui*>(user)->o;
  if (o.no_terminal_qr) return;
  hg_error err{};
  char* text = nullptr;
  if (hg_qr_terminal(url, o.dark_on_light ? 1 : 0, &text, &err) != HG_OK) return;
  std::cerr << text << "Scan this QR code with your phone to enrol it for signing in to this computer.\n";
  hg_free(text);
}

void on_stage(void* user, const char* stage, const char*) {
  if (!static_cast<Ui*>(user)->o->quiet) std::cerr << kWho << ": " << stage << "\n";
}

void on_notice(void* user, const char* sentence) {
  if (!static_cast<Ui*>(user)->o->quiet) std::cerr << kWho << ": " << sentence << "\n";
}

int enroll(const Options& o) {
  auto acct = account(o.user);
  if (!acct) return fail(acct.error());
  if (!hgpam::valid_user_name(acct->name))
    return fail(hgpam::make_error(HG_E_INVALID_ARGUMENT, "the user name cannot be in an authfile"));
  if (!hgpam::valid_rp_id(o.rp_id)) return fail(hgpam::make_error(HG_E_INVALID_ARGUMENT, "--rp-id is empty or has spaces"));
  std::filesystem::path authfile = o.authfile;
  if (authfile.empty()) {
    if (acct->uid != ::geteuid())
      return fail(hgpam::make_error(HG_E_INVALID_ARGUMENT, "run this as " + acct->name +
                                                               " to write their own authfile, or give --authfile "
                                                               "(a system-wide file)"));
    if (acct->home.empty() || !acct->home.is_absolute())
      return fail(hgpam::make_error(HG_E_INVALID_ARGUMENT, acct->name + " has no home directory; give --authfile"));
    authfile = acct->home / hgpam::kUserAuthfile;
  }
  auto existing = hgpam::read_authfile(authfile, std::nullopt);
  if (!existing) return fail(existing.error());
  const auto mine = hgpam::credentials_of(*existing, acct->name);

  // The person's configuration (file, environment), then this command's options.
  hg_error err{};
  std::unique_ptr<hg_config, void (*)(hg_config*)> cfg(hg_config_new_desktop(), [](hg_config* c) { hg_config_free(&c); });
  if (!cfg) return fail(hgpam::make_error(HG_E_INTERNAL, "out of memory"));
  if (hg_config_load(cfg.get(), &err) != HG_OK) return fail(err);
  auto set = [&](int (*setter)(hg_config*, const char*, hg_error*), const std::string& v) {
    return v.empty() || setter(cfg.get(), v.c_str(), &err) == HG_OK;
  };
  auto ms = [](double s) { return static_cast<uint32_t>(s * 1000); };
  if (!set(hg_config_set_tunnel_url, o.tunnel_url) || !set(hg_config_set_ca_file, o.ca_file) ||
      !set(hg_config_set_radio, o.radio) || !set(hg_config_set_links_file, o.links) ||
      !set(hg_config_set_phone, o.phone) || !set(hg_config_set_qr_url_file, o.qr_url_file) ||
      (o.link_phone && hg_config_set_link_phone(cfg.get(), 1, &err) != HG_OK) ||
      (o.advert_timeout > 0 && hg_config_set_timeout(cfg.get(), HG_TIMEOUT_ADVERT, ms(o.advert_timeout), &err) != HG_OK) ||
      (o.response_timeout > 0 &&
       hg_config_set_timeout(cfg.get(), HG_TIMEOUT_RESPONSE, ms(o.response_timeout), &err) != HG_OK))
    return fail(err);

  std::unique_ptr<hg_desktop, void (*)(hg_desktop*)> desktop(hg_desktop_new(cfg.get(), &err),
                                                             [](hg_desktop* d) { hg_desktop_free(&d); });
  if (!desktop) return fail(err);
  Ui ui{&o};
  hg_desktop_on_qr(desktop.get(), on_qr, &ui);
  hg_desktop_on_stage(desktop.get(), on_stage, &ui);
  hg_desktop_on_notice(desktop.get(), on_notice, &ui);

  const auto challenge = hgpam::fresh_challenge();
  const auto random = hgpam::fresh_challenge();
  const hgpam::Bytes user_id(random.begin(), random.begin() + 16);
  const std::string label = acct->name + "@" + host_name();
  const hgpam::Bytes request = hgpam::make_credential_request(o.rp_id, challenge, user_id, label, label, mine);

  uint8_t* response = nullptr;
  size_t response_len = 0;
  int rc = HG_ERR;
  {
    CancelOnInterrupt on_interrupt(desktop.get());  // Ctrl-C ends the connect or the transact
    hg_connection* conn =
        hg_desktop_connect(desktop.get(), HG_HINT_MAKE_CREDENTIAL, o.phone.empty() ? nullptr : o.phone.c_str(), &err);
    if (conn == nullptr) return fail(err);
    rc = hg_connection_transact(conn, request.data(), request.size(), &response, &response_len, &err);
    hg_connection_close(&conn);  // the tunnel closes; a phone that offered to be remembered is stored
  }
  if (rc != HG_OK) return fail(err);
  std::unique_ptr<uint8_t, decltype(&hg_free)> owned(response, hg_free);
  auto cred = hgpam::parse_make_credential_response(hgpam::ByteView(response, response_len), o.rp_id, acct->name);
  if (!cred) return fail(cred.error());
  if (auto a = hgpam::append_credential(authfile, *cred, std::nullopt); !a) return fail(a.error());
  std::cout << nlohmann::json{{"user", acct->name},
                              {"authfile", authfile.string()},
                              {"rp_id", o.rp_id},
                              {"credential_id", hgpam::base64url_encode(cred->id)},
                              {"counter", cred->counter},
                              {"flags", cred->flags}}
                   .dump(2)
            << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  start_signal_thread();
  Options o;
  CLI::App e{"Register a passkey on the phone and add it to the PAM authfile", "hybridgate pam enroll"};
  e.add_option("--user", o.user, "The account to enrol (default: the user running this)");
  e.add_option("--authfile", o.authfile,
               "The authfile (default: ~USER/.config/hybridgate/pam_keys; a system-wide file for "
               "pam_hybridgate's authfile= option)");
  e.add_option("--rp-id", o.rp_id, "The CTAP rpId (default pam:hybridgate; the module's rp_id= must match)");
  e.add_flag("--link-phone", o.link_phone, "Offer the phone to be remembered, so sign-ins need no QR code");
  e.add_option("--links", o.links, "Links file (default: $XDG_DATA_HOME/hybridgate/links.json)");
  e.add_option("--phone", o.phone, "Enrol through this remembered phone (no QR code)");
  e.add_option("--tunnel-url", o.tunnel_url, "Use this tunnel server for every domain")
      ->check(setting_check("TUNNEL_URL", hg_config_set_tunnel_url));
  e.add_option("--ca-file", o.ca_file, "Extra trusted CA certificate (PEM) for a wss:// tunnel server")
      ->check(setting_check("CA_FILE", hg_config_set_ca_file));
  e.add_option("--radio", o.radio, "Radio: auto, bluez, loopback")->check(CLI::IsMember({"auto", "bluez", "loopback"}));
  e.add_option("--qr-url-file", o.qr_url_file, "Write the FIDO:/ URL to this file (mode 0600, atomically)")
      ->check(setting_check("QR_URL_FILE", hg_config_set_qr_url_file));
  e.add_flag("--no-terminal-qr", o.no_terminal_qr, "Do not draw the QR code on stderr");
  e.add_flag("--dark-on-light", o.dark_on_light, "Draw the QR code dark on light");
  e.add_option("--advert-timeout", o.advert_timeout, "Seconds to wait for the phone's advert (default 120)")
      ->check(CLI::PositiveNumber);
  e.add_option("--response-timeout", o.response_timeout, "Seconds the person has to answer (default 180)")
      ->check(CLI::PositiveNumber);
  e.add_flag("--quiet", o.quiet, "Do not print progress on stderr");
  try {
    e.parse(argc, argv);
  } catch (const CLI::ParseError& pe) {
    const int rc = e.exit(pe);  // prints help, the version, or the error and a hint
    return rc == 0 ? 0 : kExitUsage;
  }
  try {
    return enroll(o);
  } catch (const std::exception& ex) {
    return fail(hgpam::make_error(HG_E_INTERNAL, ex.what()));
  }
}
